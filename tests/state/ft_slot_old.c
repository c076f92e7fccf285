/* State analysis case: as ft_slot_owned, but the outbound path also
 * deletes old_slots[slot] for a flow it found by a lookup alone.  That
 * slot comes from an entry nothing on the path has just inserted or
 * refreshed, which may expire and hand its slot to another flow on
 * another thread between the lookup and the write: the rule asks for a
 * lookup right after an update of the same key, so steering must use a
 * single thread. */
#define FLOWS_TYPE 0x5100
#define SLOT_OF(v) ((v)->slot)
#define IN_WRITE 0
#define SLOT_STORE 0
#define WRITE_OLD 1
#include "ft_slot.h"
