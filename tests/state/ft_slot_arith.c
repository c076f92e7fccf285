/* State analysis case: as ft_slot_owned, but 'slots' is written at
 * the slot plus one, which no flow-table entry owns: a single thread. */
#define FLOWS_TYPE 0x5100
#define SLOT_OF(v) ((v)->slot + 1)
#define IN_WRITE 0
#define SLOT_STORE 0
#define WRITE_OLD 0
#include "ft_slot.h"
