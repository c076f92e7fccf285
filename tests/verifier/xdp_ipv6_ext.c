/* Verifier case (accept): IPv6 extension headers walked by a bounded
 * loop (at most 6), each step checked against data_end, then the L4 port
 * compared against a .rodata setting and a per-CPU array counter. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

const volatile __u16 blocked_port = 23;

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 4);
    __type(key, __u32);
    __type(value, __u64);
} stats SEC(".maps");

struct ext {
    __u8 next;
    __u8 len;
};

SEC("xdp")
int xdp_ipv6(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IPV6)) {
        return XDP_PASS;
    }
    struct ipv6hdr *ip6 = (void *)(eth + 1);
    if ((void *)(ip6 + 1) > data_end) {
        return XDP_DROP;
    }
    __u8 next = ip6->nexthdr;
    void *p = ip6 + 1;
#pragma unroll
    for (int i = 0; i < 6; i++) {
        if (next != IPPROTO_HOPOPTS && next != IPPROTO_ROUTING
            && next != IPPROTO_DSTOPTS && next != IPPROTO_FRAGMENT) {
            break;
        }
        struct ext *e = p;
        if ((void *)(e + 1) > data_end) {
            return XDP_DROP;
        }
        next = e->next;
        p += next == IPPROTO_FRAGMENT ? 8 : (e->len + 1) * 8;
    }
    __u32 key = 0;
    if (next == IPPROTO_TCP || next == IPPROTO_UDP) {
        __u16 *ports = p;
        if ((void *)(ports + 2) > data_end) {
            return XDP_DROP;
        }
        if (ports[1] == bpf_htons(blocked_port)) {
            key = 1;
        }
    }
    __u64 *c = bpf_map_lookup_elem(&stats, &key);
    if (c) {
        *c += 1;
    }
    return key ? XDP_DROP : XDP_PASS;
}

char _license[] SEC("license") = "GPL";
