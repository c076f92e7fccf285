/* State analysis case: Counter per VLAN tag behind an 802.1Q header: multi-flow on
 * dl_vlan. */
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
    __type(key, __u16);
    __type(value, __u64);
} m SEC(".maps");

SEC("xdp")
int
prog(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    if ((void *)(eth + 1) + 4 > end || eth->h_proto != bpf_htons(0x8100)) {
        return XDP_PASS;
    }
    __u16 k = *(__u16 *)(eth + 1) & bpf_htons(0x0fff);
    __u64 *v = bpf_map_lookup_elem(&m, &k);
    if (v) {
        __sync_fetch_and_add(v, 1);
    } else {
        __u64 one = 1;
        bpf_map_update_elem(&m, &k, &one, BPF_ANY);
    }
    return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
