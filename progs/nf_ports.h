/* The "nf_ports" map of the programs that rewrite MACs on output (NF-SPECS
 * MAC rewrite convention, nf_l23.h): one definition, so that every such
 * program shows `nf port` the same layout.  Include after nf_common.h. */
#ifndef PROGS_NF_PORTS_H
#define PROGS_NF_PORTS_H 1

#include "nf_l23.h"

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, NF_PORTS_MAX);
    __type(key, __u32);
    __type(value, struct nf_port_macs);
} nf_ports SEC(".maps");

#endif
