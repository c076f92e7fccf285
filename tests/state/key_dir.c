/* State analysis case: Symmetric key by direction, as the firewall does:
 * the inside address and port first, chosen by the ingress port.  The key
 * holds each address/port pair in either order: per-flow, and steering by
 * the symmetric 4-tuple keeps both directions on one thread. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct kd {
    __u32 in_addr, out_addr;
    __u16 in_port, out_port;
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 64);
    __type(key, struct kd);
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
    struct kd k;
    if (ctx->ingress_ifindex == 1) {
        k.in_addr = ip->saddr;
        k.out_addr = ip->daddr;
        k.in_port = th->source;
        k.out_port = th->dest;
    } else {
        k.in_addr = ip->daddr;
        k.out_addr = ip->saddr;
        k.in_port = th->dest;
        k.out_port = th->source;
    }
    __u64 one = 1;
    bpf_map_update_elem(&m, &k, &one, BPF_ANY);
    return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
