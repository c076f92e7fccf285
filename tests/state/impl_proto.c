/* State analysis case: Implicit flow through the packet shape: the
 * protocol number reaches the key as a constant the TCP path and the UDP
 * path each store, then mixed arithmetically with the source address:
 * multi-flow on nw_src and nw_proto. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 64);
    __type(key, __u32);
    __type(value, __u64);
} m SEC(".maps");

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
    if ((void *)(ip + 1) > end) {
        return XDP_PASS;
    }
    __u32 tag;
    if (ip->protocol == IPPROTO_TCP) {
        tag = 0x6000;
    } else if (ip->protocol == IPPROTO_UDP) {
        tag = 0x1100;
    } else {
        return XDP_PASS;
    }
    __u32 k = (ip->saddr * 2654435761u) ^ tag;
    __u64 one = 1;
    bpf_map_update_elem(&m, &k, &one, BPF_ANY);
    return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
