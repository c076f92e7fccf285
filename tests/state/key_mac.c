/* State analysis case: MAC learning with the packet itself as key pointer: learn the
 * source, forward on the destination: multi-flow on dl_src, dl_dst,
 * output-impacting. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct mac {
    __u8 a[6];
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 64);
    __type(key, struct mac);
    __type(value, __u32);
} macs SEC(".maps");

SEC("xdp")
int
prog(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > end) {
        return XDP_DROP;
    }
    __u32 in = ctx->ingress_ifindex;
    bpf_map_update_elem(&macs, eth->h_source, &in, BPF_ANY);
    __u32 *out = bpf_map_lookup_elem(&macs, eth->h_dest);
    if (!out) {
        return XDP_PASS;
    }
    return bpf_redirect(*out, 0);
}

char _license[] SEC("license") = "GPL";
