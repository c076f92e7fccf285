/* State analysis case: Second lookup keyed directly by a value of the first: the key
 * bytes are not traced through maps, so that map is over-approximated. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct k2 {
    __u32 a, b;
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 64);
    __type(key, __u32);
    __type(value, struct k2);
} a SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 64);
    __type(key, struct k2);
    __type(value, __u64);
} b SEC(".maps");

SEC("xdp")
int
prog(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP)) {
        return XDP_PASS;
    }
    struct iphdr *ip = (void *)(eth + 1);
    if ((void *)(ip + 1) > end || ip->protocol != IPPROTO_TCP) {
        return XDP_PASS;
    }
    struct tcphdr *th = (void *)(ip + 1);
    if ((void *)(th + 1) > end) {
        return XDP_PASS;
    }
    __u32 k = ip->saddr;
    struct k2 *va = bpf_map_lookup_elem(&a, &k);
    if (!va) {
        return XDP_DROP;
    }
    __u64 *v = bpf_map_lookup_elem(&b, va);
    if (v) {
        __sync_fetch_and_add(v, 1);
    }
    return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
