/* Sluice's own map types, for programs.
 *
 * BPF_MAP_TYPE_SLUICE_FLOWTABLE (0x5100, far from the kernel's numbers) is
 * an expiring flow table with slot allocation, the map + double chain of
 * Vigor's NAT and load balancer (src/bpf/map_flowtable.c, docs/maps.md):
 *  - key -> value; the value starts with a __u32 slot in [0, capacity),
 *    written by the map on insert and lookup (struct sluice_ft_value_hdr);
 *  - an insert takes the most recently freed slot; a full table answers
 *    -E2BIG (bpf_map_update_elem) and never evicts a live entry;
 *  - a program's lookup or update refreshes the entry to the packet time;
 *    an entry idle longer than the map's timeout is absent (exactly at the
 *    timeout it survives); its slot is freed lazily, oldest first;
 *  - capacity and timeout are set by the control plane (bpf_flowtable_
 *    configure(), used by `sluice nf nat` and `sluice nf lb`).
 * To find the entry of a slot, keep a companion ARRAY slot -> key, written
 * after each insert, and look the key up again: if the entry's slot still
 * equals the index, the slot belongs to that key.
 *
 * The kernel has no such map: programs using it run in sluice only.  To
 * let the kernel's verifier check such a program all the same, build it
 * with -DSLUICE_FT_AS_HASH: the flow tables become plain hash maps (same
 * key, value and helper calls; without slots or expiry, so only for
 * verification, as tests/unit/test_bpf_kernel.c style checks do). */
#ifndef PROGS_SLUICE_MAPS_H
#define PROGS_SLUICE_MAPS_H 1

#include <linux/bpf.h>
#include <linux/types.h>

#ifdef SLUICE_FT_AS_HASH
#define BPF_MAP_TYPE_SLUICE_FLOWTABLE BPF_MAP_TYPE_HASH
#else
#define BPF_MAP_TYPE_SLUICE_FLOWTABLE 0x5100
#endif

/* First bytes of every flow-table value. */
struct sluice_ft_value_hdr {
    __u32 slot; /* Entry's slot, filled by the map. */
};

#endif
