/* Header rewrites of the NAT and the load balancer: incremental Internet
 * checksum updates (RFC 1624: HC' = ~(~HC + ~m + m')) for rewritten IPv4
 * addresses and TCP/UDP ports, and the output MAC rewrite convention.
 * Checksum values are in network order as they sit in the packet; the
 * one's-complement sum does not depend on byte order as long as old and
 * new agree.  Include after nf_common.h. */
#ifndef PROGS_NF_REWRITE_H
#define PROGS_NF_REWRITE_H 1

#include "nf_l23.h"

static __always_inline void
nf_csum_replace2(__u16 *sum, __u16 old, __u16 new)
{
    __u32 c = (__u16) ~*sum;
    c += (__u16)~old;
    c += new;
    c = (c & 0xffff) + (c >> 16);
    c = (c & 0xffff) + (c >> 16);
    *sum = (__u16)~c;
}

static __always_inline void
nf_csum_replace4(__u16 *sum, __u32 old, __u32 new)
{
    nf_csum_replace2(sum, (__u16)(old >> 16), (__u16)(new >> 16));
    nf_csum_replace2(sum, (__u16)old, (__u16) new);
}

/* L4 checksum field of a TCP or UDP header (NULL for a UDP datagram sent
 * without a checksum, which stays without one). */
static __always_inline __u16 *
nf_l4_csum(void *l4, __u8 proto)
{
    if (proto == 6) {
        return (__u16 *)((__u8 *)l4 + 16);
    }
    __u16 *u = (__u16 *)((__u8 *)l4 + 6);
    return *u ? u : 0;
}

/* After updating a UDP checksum, a result of 0 must be sent as 0xffff
 * (RFC 768: 0 means "no checksum"). */
static __always_inline void
nf_l4_csum_fix(__u16 *sum, __u8 proto)
{
    if (proto == 17 && *sum == 0) {
        *sum = 0xffff;
    }
}

/* NF-SPECS MAC rewrite for a frame leaving 'port': source := the port's
 * own MAC, destination := its next hop, from 'ports', the program's
 * "nf_ports" map (nf_l23.h, filled by `nf port`).  A port without an entry
 * keeps the frame's MACs. */
static __always_inline void
nf_mac_rewrite(void *ports, struct ethhdr *eth, __u32 port)
{
    struct nf_port_macs *m = bpf_map_lookup_elem(ports, &port);
    if (m) {
        __builtin_memcpy(eth->h_source, m->mac, 6);
        __builtin_memcpy(eth->h_dest, m->nexthop, 6);
    }
}

#endif
