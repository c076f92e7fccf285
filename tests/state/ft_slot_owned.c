/* State analysis case: the slot a flow table gave the flow
 * (0x5100, BPF_MAP_TYPE_SLUICE_FLOWTABLE) indexes 'slots', written only on
 * the outbound path: the writers of slots[i] are the flow owning slot i,
 * so steering by the 4-tuple of 'flows' is sound and the inbound path,
 * which only reads, may run on any thread. */
#define FLOWS_TYPE 0x5100
#define SLOT_OF(v) ((v)->slot)
#define IN_WRITE 0
#define SLOT_STORE 0
#define WRITE_OLD 0
#include "ft_slot.h"
