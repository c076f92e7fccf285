/* Map layouts shared by the forwarding network functions (router, bridge,
 * firewall, policer) and their control-plane loaders in src/nf/.
 *
 * Included by eBPF programs (after <linux/bpf.h>) and by host C code
 * (after <stdint.h> and <linux/types.h>), so it uses only __u8/__u32 types
 * and fixed layouts with explicit padding. */
#ifndef PROGS_NF_L23_H
#define PROGS_NF_L23_H 1

#include <linux/types.h>

/* MAC rewrite convention (NF-SPECS): a frame leaving port P gets source MAC
 * := P's own MAC and destination MAC := P's next hop.  Programs that
 * rewrite keep this per-port table in a hash map named "nf_ports" (key: the
 * __u32 sluice port number), filled by `nf port NAME PORT MAC NEXTHOP`. */
#define NF_PORTS_MAX 4096

struct nf_port_macs {
    __u8 mac[6];                /* The port's own MAC. */
    __u8 nexthop[6];            /* Its next hop's MAC. */
};

/* LPM router routes: an LPM trie named "rt_routes".  The key is the
 * kernel's struct bpf_lpm_trie_key layout for IPv4. */
#define RT_ROUTES_MAX (1u << 21)

struct rt_key {
    __u32 prefixlen;            /* 0..32. */
    __u8 addr[4];               /* Network byte order. */
};

struct rt_route {
    __u32 port;                 /* Output sluice port. */
    __u8 nexthop[6];            /* Destination MAC of forwarded frames. */
    __u8 pad[2];
};

/* MAC bridge static entries: a hash map named "br_static". */
#define BR_STATIC_MAX 4096
#define BR_STATIC_DROP 0u       /* 'out_port' value meaning drop (port 0
                                 * is not a valid sluice port). */

struct br_static_key {
    __u8 mac[6];                /* Destination MAC. */
    __u8 pad[2];
    __u32 in_port;              /* Input sluice port. */
};

struct br_static_val {
    __u32 out_port;             /* Output port or BR_STATIC_DROP. */
};

#endif
