/* State analysis case: Array read with a constant key, never written, deciding the
 * verdict: configuration, output-impacting. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u32);
} cfg SEC(".maps");

SEC("xdp")
int
prog(struct xdp_md *ctx)
{
    __u32 zero = 0;
    __u32 *v = bpf_map_lookup_elem(&cfg, &zero);
    if (v && *v) {
        return XDP_DROP;
    }
    return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
