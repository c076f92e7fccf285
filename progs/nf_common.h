/* Shared helpers for sluice's network-function programs.
 *
 * Every program parses with the same bounded, verifier-friendly code:
 * Ethernet, up to two VLAN tags, IPv4 (with options) and TCP/UDP, never
 * reading past data_end.  Programs include this after <bpf/bpf_helpers.h>. */
#ifndef PROGS_NF_COMMON_H
#define PROGS_NF_COMMON_H 1

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define NF_ETH_P_8021Q 0x8100
#define NF_ETH_P_8021AD 0x88a8

/* TCP flag bits of byte 13 of the TCP header. */
#define TCP_FLAG_FIN_ 0x01
#define TCP_FLAG_SYN_ 0x02
#define TCP_FLAG_RST_ 0x04
#define TCP_FLAG_PSH_ 0x08
#define TCP_FLAG_ACK_ 0x10
#define TCP_FLAG_URG_ 0x20
#define TCP_FLAG_ECE_ 0x40
#define TCP_FLAG_CWR_ 0x80

struct nf_vlan_hdr {
    __be16 tci;
    __be16 proto;
};

/* Parsed view of a packet: pointers are into the packet, already checked
 * against data_end for the header they point to. */
struct nf_pkt {
    void *data_end;
    struct ethhdr *eth;
    struct iphdr *ip4;        /* NULL if not IPv4. */
    void *l4;                 /* TCP/UDP header, or NULL. */
    __u16 l3_proto;           /* Ethertype after VLAN tags (host order). */
    __u8 nw_proto;            /* IPPROTO_* when ip4 is set. */
    __u8 is_frag_later;       /* Non-first IPv4 fragment: no L4. */
};

/* Parses Ethernet/VLAN/IPv4 and the TCP or UDP header.  Returns 0 when the
 * headers up to L3 were valid (fields of absent layers are NULL), -1 when the
 * frame is too short for an Ethernet header. */
static __always_inline int
nf_parse(struct xdp_md *ctx, struct nf_pkt *p)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;

    p->data_end = data_end;
    p->eth = NULL;
    p->ip4 = NULL;
    p->l4 = NULL;
    p->nw_proto = 0;
    p->is_frag_later = 0;
    if ((void *)(eth + 1) > data_end) {
        return -1;
    }
    p->eth = eth;

    void *cur = eth + 1;
    __u16 proto = bpf_ntohs(eth->h_proto);
#pragma unroll
    for (int i = 0; i < 2; i++) {
        if (proto != NF_ETH_P_8021Q && proto != NF_ETH_P_8021AD) {
            break;
        }
        struct nf_vlan_hdr *vh = cur;
        if ((void *)(vh + 1) > data_end) {
            return 0;
        }
        proto = bpf_ntohs(vh->proto);
        cur = vh + 1;
    }
    p->l3_proto = proto;
    if (proto != ETH_P_IP) {
        return 0;
    }

    struct iphdr *ip = cur;
    if ((void *)(ip + 1) > data_end || ip->version != 4 || ip->ihl < 5) {
        return 0;
    }
    __u32 ihl = ip->ihl * 4;
    if ((void *)ip + ihl > data_end) {
        return 0;
    }
    p->ip4 = ip;
    p->nw_proto = ip->protocol;
    if (ip->frag_off & bpf_htons(0x1fff)) {
        p->is_frag_later = 1;
        return 0;
    }

    void *l4 = (void *)ip + ihl;
    if (ip->protocol == IPPROTO_TCP) {
        struct tcphdr *th = l4;
        if ((void *)(th + 1) <= data_end) {
            p->l4 = th;
        }
    } else if (ip->protocol == IPPROTO_UDP) {
        struct udphdr *uh = l4;
        if ((void *)(uh + 1) <= data_end) {
            p->l4 = uh;
        }
    }
    return 0;
}

/* A bumped counter slot in a per-CPU array of statistics. */
static __always_inline void
nf_count(void *map, __u32 idx)
{
    __u64 *v = bpf_map_lookup_elem(map, &idx);
    if (v) {
        *v += 1;
    }
}

/* Token bucket refill (policer, rate limiter): '*tokens' (in 1e-9 units of
 * what 'rate' counts per second, at most 'cap') grows by the packet time
 * elapsed since '*last_ns'.  A packet older than the last refill
 * (reordering) refills nothing; capping the elapsed time at the time to
 * fill the bucket keeps the product from overflowing. */
static __always_inline void
nf_bucket_refill(__u64 *tokens, __u64 *last_ns, __u64 now, __u64 rate,
                 __u64 cap)
{
    if (now > *last_ns) {
        __u64 elapsed = now - *last_ns;
        __u64 fill_ns = rate ? cap / rate + 1 : 0;
        if (elapsed > fill_ns) {
            elapsed = fill_ns;
        }
        __u64 sum = *tokens + elapsed * rate;
        *tokens = sum > cap ? cap : sum;
        *last_ns = now;
    }
}

#endif
