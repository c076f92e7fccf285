/* LPM router (NF-SPECS "LPM router"), an action program.
 *
 * Routes live in the LPM trie 'rt_routes' (prefix/length -> output port and
 * next-hop MAC), filled by `nf route load NAME FILE [--pfx2as]`; the
 * router's own MAC per port is in 'nf_ports' (`nf port`).  Per packet:
 *   1. non-IPv4: XDP_PASS (the flow's next action runs) or, with
 *      rodata.pass_non_ip=0, drop; IPv4 with TTL <= 1: drop;
 *   2. longest-prefix match on the destination; no route: drop and count;
 *   3. decrement TTL, update the IPv4 checksum incrementally (RFC 1624),
 *      source MAC := the output port's MAC, destination MAC := the route's
 *      next hop, and bpf_redirect() to the route's port.
 * A route whose port has no `nf port` entry cannot rewrite the source MAC:
 * such packets are dropped and counted. */
#include "nf_common.h"
#include "nf_l23.h"
#include "nf_ports.h"

/* 1: non-IPv4 frames continue the pipeline; 0: they are dropped. */
const volatile __u32 pass_non_ip = 1;

enum rt_stat {
    RT_STAT_FORWARDED,          /* Routed out of a port. */
    RT_STAT_NON_IP,             /* Not IPv4 (passed or dropped). */
    RT_STAT_BAD_IP,             /* IPv4 ethertype, malformed header. */
    RT_STAT_TTL,                /* TTL <= 1: dropped. */
    RT_STAT_NO_ROUTE,           /* No matching prefix: dropped. */
    RT_STAT_NO_PORT,            /* Route's port has no MAC: dropped. */
    RT_N_STATS,
};

struct {
    __uint(type, BPF_MAP_TYPE_LPM_TRIE);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __uint(max_entries, RT_ROUTES_MAX);
    __type(key, struct rt_key);
    __type(value, struct rt_route);
} rt_routes SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, RT_N_STATS);
    __type(key, __u32);
    __type(value, __u64);
} rt_stats SEC(".maps");

SEC("xdp")
int router(struct xdp_md *ctx)
{
    struct nf_pkt p;

    if (nf_parse(ctx, &p) < 0 || p.l3_proto != ETH_P_IP) {
        nf_count(&rt_stats, RT_STAT_NON_IP);
        return pass_non_ip ? XDP_PASS : XDP_DROP;
    }
    struct iphdr *ip = p.ip4;
    if (!ip) {
        nf_count(&rt_stats, RT_STAT_BAD_IP);
        return XDP_DROP;
    }
    if (ip->ttl <= 1) {
        nf_count(&rt_stats, RT_STAT_TTL);
        return XDP_DROP;
    }

    struct rt_key key = { .prefixlen = 32 };
    __builtin_memcpy(key.addr, &ip->daddr, 4);
    struct rt_route *r = bpf_map_lookup_elem(&rt_routes, &key);
    if (!r) {
        nf_count(&rt_stats, RT_STAT_NO_ROUTE);
        return XDP_DROP;
    }
    __u32 port = r->port;
    struct nf_port_macs *pm = bpf_map_lookup_elem(&nf_ports, &port);
    if (!pm) {
        nf_count(&rt_stats, RT_STAT_NO_PORT);
        return XDP_DROP;
    }

    /* TTL shares a 16-bit checksum word with the protocol field. */
    __u16 *word = (__u16 *)&ip->ttl;
    __u16 old = *word;
    ip->ttl--;
    __u32 sum = (__u16)~ip->check + (__u16)~old + *word;
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    ip->check = (__u16)~sum;

    __builtin_memcpy(p.eth->h_source, pm->mac, 6);
    __builtin_memcpy(p.eth->h_dest, r->nexthop, 6);
    nf_count(&rt_stats, RT_STAT_FORWARDED);
    return bpf_redirect(port, 0);
}

char _license[] SEC("license") = "GPL";
