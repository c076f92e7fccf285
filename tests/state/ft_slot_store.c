/* State analysis case: as ft_slot_owned, but the program stores
 * into the slot field of a value, so a value's slot need not be the one
 * the flow table gave: a single thread. */
#define FLOWS_TYPE 0x5100
#define SLOT_OF(v) ((v)->slot)
#define IN_WRITE 0
#define SLOT_STORE 1
#define WRITE_OLD 0
#include "ft_slot.h"
