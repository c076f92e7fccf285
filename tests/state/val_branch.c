/* State analysis case: Limit read from an array and compared to decide the verdict
 * (an implicit flow): configuration, output-impacting. */
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
    __type(value, __u64);
} limits SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u64);
} seen SEC(".maps");

SEC("xdp")
int
prog(struct xdp_md *ctx)
{
    __u32 zero = 0;
    __u64 *lim = bpf_map_lookup_elem(&limits, &zero);
    __u64 *n = bpf_map_lookup_elem(&seen, &zero);
    if (!lim || !n) {
        return XDP_PASS;
    }
    __u64 c = __sync_fetch_and_add(n, 1);
    int verdict = XDP_PASS;
    if (c > *lim) {
        verdict = XDP_DROP;
    }
    return verdict;
}

char _license[] SEC("license") = "GPL";
