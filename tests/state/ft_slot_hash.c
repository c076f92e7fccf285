/* State analysis case: as ft_slot_owned, but 'flows' is a
 * hash map: its values' 'slot' is whatever the program stored (zero), no
 * slot the map hands to one entry: a single thread. */
#define FLOWS_TYPE BPF_MAP_TYPE_HASH
#define SLOT_OF(v) ((v)->slot)
#define IN_WRITE 0
#define SLOT_STORE 0
#define WRITE_OLD 0
#include "ft_slot.h"
