/* Verifier case (accept): XDP parsing Ethernet, VLAN, IPv4 (with options)
 * and TCP/UDP with bounds checks in both orientations, a per-flow counter
 * in a hash map (lookup, null check, atomic add, else insert) and a
 * BPF-to-BPF call. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct flow {
    __u32 saddr, daddr;
    __u16 sport, dport;
    __u32 proto;
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 1024);
    __type(key, struct flow);
    __type(value, __u64);
} counts SEC(".maps");

static __attribute__((noinline)) int
count_flow(struct flow *f)
{
    __u64 *v = bpf_map_lookup_elem(&counts, f);
    if (v) {
        __sync_fetch_and_add(v, 1);
        return 1;
    }
    __u64 one = 1;
    bpf_map_update_elem(&counts, f, &one, BPF_NOEXIST);
    return 0;
}

SEC("xdp")
int xdp_parse(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    struct flow f = {};

    if ((void *)(eth + 1) > data_end) {
        return XDP_DROP;
    }
    __u16 proto = eth->h_proto;
    void *l3 = eth + 1;
    if (proto == bpf_htons(ETH_P_8021Q)) {
        if (data_end < l3 + 4) {
            return XDP_DROP;
        }
        proto = *(__u16 *)(l3 + 2);
        l3 += 4;
    }
    if (proto != bpf_htons(ETH_P_IP)) {
        return XDP_PASS;
    }
    struct iphdr *ip = l3;
    if ((void *)(ip + 1) > data_end) {
        return XDP_DROP;
    }
    __u32 ihl = ip->ihl * 4;
    if (ihl < sizeof(*ip)) {
        return XDP_DROP;
    }
    void *l4 = (void *)ip + ihl;
    f.saddr = ip->saddr;
    f.daddr = ip->daddr;
    f.proto = ip->protocol;
    if (ip->protocol == IPPROTO_TCP) {
        struct tcphdr *th = l4;
        if ((void *)(th + 1) > data_end) {
            return XDP_DROP;
        }
        f.sport = th->source;
        f.dport = th->dest;
    } else if (ip->protocol == IPPROTO_UDP) {
        struct udphdr *uh = l4;
        if (data_end >= (void *)(uh + 1)) {
            f.sport = uh->source;
            f.dport = uh->dest;
        }
    }
    return count_flow(&f) ? XDP_PASS : XDP_TX;
}

char _license[] SEC("license") = "GPL";
