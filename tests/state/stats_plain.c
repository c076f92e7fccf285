/* State analysis case: A global packet counter in a plain array updated by
 * a load and a store: all-flows, and two threads would lose increments,
 * so steering must use a single thread. */
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
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u64);
} stats SEC(".maps");

SEC("xdp")
int
prog(struct xdp_md *ctx)
{
    __u32 zero = 0;
    __u64 *v = bpf_map_lookup_elem(&stats, &zero);
    if (v) {
        *v += 1;
    }
    return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
