/* State analysis case: Port table keyed by destination MAC whose value is the
 * redirect target: configuration, output-impacting. */
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
} ports SEC(".maps");

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
    struct mac k;
    __builtin_memcpy(&k, eth->h_dest, 6);
    __u32 *port = bpf_map_lookup_elem(&ports, &k);
    if (!port) {
        return XDP_PASS;
    }
    return bpf_redirect(*port, 0);
}

char _license[] SEC("license") = "GPL";
