/* State analysis case: Verdict table keyed by protocol, value returned: configuration,
 * output-impacting, multi-flow dimension nw_proto. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 64);
    __type(key, __u8);
    __type(value, __u32);
} verdicts SEC(".maps");

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
    __u8 k = ip->protocol;
    __u32 *v = bpf_map_lookup_elem(&verdicts, &k);
    return v ? *v : XDP_PASS;
}

char _license[] SEC("license") = "GPL";
