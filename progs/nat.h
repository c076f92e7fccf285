/* Layout shared by progs/nat.c and its control plane (src/nf/nf_nat.c).
 *
 * The NAT (NF-SPECS "NAT") keeps flows in an expiring flow table
 * ('nat_flows', sluice_maps.h) whose slot i is the external port S + i,
 * and a companion array 'nat_slots' slot -> flow key that a WAN packet
 * reads to find its flow.  Multi-byte fields marked "net" are in network
 * order, as in the packet. */
#ifndef PROGS_NAT_H
#define PROGS_NAT_H 1

#include <linux/types.h>

#define NAT_MAX_FLOWS 65536 /* Flow-table max_entries: capacity limit. */

struct nat_config {
    __u32 wan_port;   /* Sluice port number of the WAN side. */
    __u32 ext_ip;     /* External IPv4 address (net). */
    __u32 first_port; /* S: external port of slot 0 (host order). */
    __u32 capacity;   /* N: flows, S + N <= 65536; 0 = unconfigured. */
};

/* A flow as seen from the LAN. */
struct nat_flow_key {
    __u32 int_ip;   /* Internal host address (net). */
    __u32 rem_ip;   /* Remote address (net). */
    __u16 int_port; /* Internal port (net). */
    __u16 rem_port; /* Remote port (net). */
    __u8 proto;     /* IPPROTO_TCP or IPPROTO_UDP; 0 = never used. */
    __u8 pad[3];    /* Zero. */
    __u32 lan_port; /* Sluice port the flow came in on. */
};

struct nat_flow_value {
    __u32 slot; /* Filled by the flow table (sluice_ft_value_hdr). */
    __u32 pad;
};

/* Counters in 'nat_stats', a per-CPU array (one copy per datapath thread:
 * readers sum them), by index. */
enum nat_stat {
    NAT_STAT_OUT,               /* LAN -> WAN translated. */
    NAT_STAT_IN,                /* WAN -> LAN translated. */
    NAT_STAT_NEW,               /* Flows opened. */
    NAT_STAT_DROP_PROTO,        /* Rule 1: not IPv4 TCP/UDP (incl. ICMP). */
    NAT_STAT_DROP_FULL,         /* Rule 4: no free port. */
    NAT_STAT_DROP_UNKNOWN,      /* Rule 5: port out of range or unallocated,
                                 * or not to the external address. */
    NAT_STAT_DROP_SPOOFED,      /* Rule 6: remote differs from the flow's
                                 * (the last flow of that port, checked
                                 * before its liveness, so that a
                                 * spoofed packet never refreshes it). */
    NAT_STAT_DROP_UNCONFIGURED, /* No `nf nat` yet. */
    NAT_N_STATS,
};

#endif
