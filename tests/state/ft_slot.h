/* Common body of the owned-slot cases (ft_slot_*.c): a NAT in miniature.
 *
 * The outbound path (packets from port 1) keys flows by the 4-tuple in a
 * table 'flows', writes slot -> key into the array 'slots' after an
 * insert, and the inbound path finds the flow through the slot named by
 * its destination port.  The cases define before including this:
 *  FLOWS_TYPE   the type of 'flows' (the flow table, 0x5100, or another),
 *  SLOT_OF(v)   the 'slots' index written after the insert, from the
 *               value 'v' the lookup after the insert returned,
 *  IN_WRITE     1 if the inbound path also writes slots[slot of the entry
 *               it found through 'slots'], 0 if it only reads,
 *  SLOT_STORE   1 if the outbound path stores into the slot field of an
 *               existing flow's value,
 *  WRITE_OLD    1 if the outbound path also deletes old_slots[slot] for
 *               an existing flow (a write; a call clang does not merge
 *               with the insert path's), its slot read after a lookup
 *               alone (no insert or update of the key just before). */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct fkey {
    __u32 int_ip, rem_ip;
    __u16 int_port, rem_port;
};

struct fval {
    __u32 slot;                 /* Written by a flow table. */
    __u32 pad;
};

struct {
    __uint(type, FLOWS_TYPE);
    __uint(max_entries, 256);
    __type(key, struct fkey);
    __type(value, struct fval);
} flows SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 256);
    __type(key, __u32);
    __type(value, struct fkey);
} slots SEC(".maps");

#if WRITE_OLD
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 256);
    __type(key, __u32);
    __type(value, struct fkey);
} old_slots SEC(".maps");
#endif

SEC("xdp")
int
prog(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP)) {
        return XDP_DROP;
    }
    struct iphdr *ip = (void *)(eth + 1);
    if ((void *)(ip + 1) > end || ip->protocol != IPPROTO_TCP) {
        return XDP_DROP;
    }
    struct tcphdr *th = (void *)(ip + 1);
    if ((void *)(th + 1) > end) {
        return XDP_DROP;
    }
    if (ctx->ingress_ifindex == 1) {
        struct fkey k = { .int_ip = ip->saddr, .rem_ip = ip->daddr,
                          .int_port = th->source, .rem_port = th->dest };
        struct fval *v = bpf_map_lookup_elem(&flows, &k);
        if (!v) {
            struct fval nv = { 0 };
            if (bpf_map_update_elem(&flows, &k, &nv, BPF_NOEXIST)) {
                return XDP_DROP;
            }
            v = bpf_map_lookup_elem(&flows, &k);
            if (!v) {
                return XDP_DROP;
            }
            __u32 s = SLOT_OF(v);
            bpf_map_update_elem(&slots, &s, &k, BPF_ANY);
        } else if (SLOT_STORE) {
            v->slot = 0;
        }
#if WRITE_OLD
        else {
            __u32 s = v->slot;
            bpf_map_delete_elem(&old_slots, &s);
        }
#endif
        th->source = bpf_htons((__u16)(1024 + v->slot));
        return XDP_TX;
    }
    __u32 s = (__u32)bpf_ntohs(th->dest) - 1024;
    struct fkey *kp = bpf_map_lookup_elem(&slots, &s);
    if (!kp) {
        return XDP_DROP;
    }
    struct fkey k = *kp;
    struct fval *v = bpf_map_lookup_elem(&flows, &k);
    if (!v || v->slot != s) {
        return XDP_DROP;
    }
#if IN_WRITE
    __u32 s2 = v->slot;
    bpf_map_update_elem(&slots, &s2, &k, BPF_ANY);
#endif
    th->dest = k.int_port;
    return XDP_TX;
}

char _license[] SEC("license") = "GPL";
