/* State analysis case: Key copied out of a queue by a helper (map_pop_elem): it does
 * not depend on the packet, so the counter is all-flows. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct {
    __uint(type, BPF_MAP_TYPE_QUEUE);
    __uint(max_entries, 16);
    __type(value, __u32);
} q SEC(".maps");

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
    __u32 k;
    if (bpf_map_pop_elem(&q, &k)) {
        return XDP_PASS;
    }
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
