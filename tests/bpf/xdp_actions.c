/* Unmodified XDP programs in the style of xdp-tutorial and kernel samples,
 * built against libbpf's headers only, for the action-program system tests
 * (tests/system/test_action_progs.py).  Nothing here knows about sluice. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

/* <linux/icmp.h> drags in libc headers; the four bytes we need: */
struct icmphdr {
    __u8 type;
    __u8 code;
    __sum16 checksum;
    __be32 rest;
};
#define ICMP_ECHOREPLY 0
#define ICMP_ECHO 8

struct vlan_hdr {
    __be16 tci;
    __be16 proto;
};

/* Bounces ICMP echo requests back as replies: swaps MACs and IPs, turns
 * the type into an echo reply, fixes the ICMP checksum with
 * bpf_csum_diff, returns XDP_TX.  Everything else passes. */
SEC("xdp")
int xdp_icmp_echo(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    struct iphdr *ip = data + sizeof(*eth);
    struct icmphdr *icmp;

    if ((void *)(ip + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP)
        || ip->ihl != 5 || ip->protocol != IPPROTO_ICMP) {
        return XDP_PASS;
    }
    icmp = (void *)(ip + 1);
    if ((void *)(icmp + 1) > data_end || icmp->type != ICMP_ECHO) {
        return XDP_PASS;
    }

    unsigned char mac[ETH_ALEN];
    __builtin_memcpy(mac, eth->h_dest, ETH_ALEN);
    __builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
    __builtin_memcpy(eth->h_source, mac, ETH_ALEN);
    __be32 addr = ip->saddr;
    ip->saddr = ip->daddr;
    ip->daddr = addr;

    struct icmphdr old = *icmp;
    icmp->type = ICMP_ECHOREPLY;
    __u32 sum = bpf_csum_diff((__be32 *)&old, 4, (__be32 *)icmp, 4,
                              ~((__u32)icmp->checksum) & 0xffff);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    icmp->checksum = ~sum;
    return XDP_TX;
}

/* Removes an outer 802.1Q tag by moving the MAC addresses up and shrinking
 * the head with bpf_xdp_adjust_head. */
SEC("xdp")
int xdp_vlan_pop(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    struct vlan_hdr *vh = data + sizeof(*eth);

    if ((void *)(vh + 1) > data_end || eth->h_proto != bpf_htons(0x8100)) {
        return XDP_PASS;
    }
    struct ethhdr copy;
    __builtin_memcpy(&copy, eth, sizeof copy);
    copy.h_proto = vh->proto;
    if (bpf_xdp_adjust_head(ctx, (int)sizeof(*vh))) {
        return XDP_ABORTED;
    }
    data = (void *)(long)ctx->data;
    data_end = (void *)(long)ctx->data_end;
    eth = data;
    if ((void *)(eth + 1) > data_end) {
        return XDP_ABORTED;
    }
    __builtin_memcpy(eth, &copy, sizeof copy);
    return XDP_PASS;
}

/* Cuts every frame down to at most 64 bytes with bpf_xdp_adjust_tail. */
SEC("xdp")
int xdp_trim64(struct xdp_md *ctx)
{
    int len = ctx->data_end - ctx->data;
    if (len > 64 && bpf_xdp_adjust_tail(ctx, 64 - len)) {
        return XDP_ABORTED;
    }
    return XDP_PASS;
}

/* Sends UDP to the port in the egress table (index 0) with bpf_redirect,
 * drops TCP, aborts on anything that is not IPv4. */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u32);
} egress SEC(".maps");

SEC("xdp")
int xdp_steer(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    struct iphdr *ip = data + sizeof(*eth);
    __u32 zero = 0;

    if ((void *)(ip + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP)) {
        return XDP_ABORTED;
    }
    if (ip->protocol == IPPROTO_TCP) {
        return XDP_DROP;
    }
    __u32 *port = bpf_map_lookup_elem(&egress, &zero);
    if (!port || ip->protocol != IPPROTO_UDP) {
        return XDP_PASS;
    }
    return bpf_redirect(*port, 0);
}

char _license[] SEC("license") = "GPL";
