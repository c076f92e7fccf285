/* State analysis case: as ft_slot_owned, but the inbound path
 * also writes slots[slot] with the slot of an entry it found through a key
 * read from 'slots': the writer is not the flow the packet's fields name,
 * so steering must use a single thread. */
#define FLOWS_TYPE 0x5100
#define SLOT_OF(v) ((v)->slot)
#define IN_WRITE 1
#define SLOT_STORE 0
#define WRITE_OLD 0
#include "ft_slot.h"
