/* State analysis case: Implicit flow: half of the key is a constant chosen
 * under a branch on the TCP flags, the other half the source address, so
 * the flags are a dimension: multi-flow on nw_src and tcp_flags. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct k2 {
    __u32 addr;
    __u32 kind;
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 64);
    __type(key, struct k2);
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
    if ((void *)(ip + 1) > end || ip->protocol != IPPROTO_TCP) {
        return XDP_PASS;
    }
    struct tcphdr *th = (void *)(ip + 1);
    if ((void *)(th + 1) > end) {
        return XDP_PASS;
    }
    struct k2 k = { .addr = ip->saddr };
    if (((__u8 *)th)[13] & 0x02) {
        k.kind = 1;
    } else {
        k.kind = 2;
    }
    __u64 one = 1;
    bpf_map_update_elem(&m, &k, &one, BPF_ANY);
    return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
