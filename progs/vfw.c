/* Stateful firewall, Vigor variant (NF-SPECS "Stateful firewall (Vigor
 * variant)"), an action program.
 *
 * The WAN port is rodata 'wan_port'; every other port is a LAN port.
 * Flows are keyed by their LAN -> WAN 5-tuple in an expiring table
 * (nf_table.h: 'fw_index', 'fw_slots', 'fw_nodes') of rodata 'capacity'
 * entries with idle timeout 'timeout_ns'.  Per packet:
 *   1. non-IPv4, or IPv4 that is neither TCP nor UDP (including non-first
 *      fragments, which carry no ports): drop;
 *   2. LAN -> WAN: known flow -> refresh; unknown with room -> insert,
 *      remembering the LAN port; forward to the WAN port in every case,
 *      even when the table is full (no entry is made then);
 *   3. WAN -> LAN: the reversed 5-tuple is a live flow -> refresh and
 *      forward to its LAN port; otherwise drop.
 * No header is rewritten.
 *
 * Chaining: with rodata.pass_accepted=1 an accepted packet returns XDP_PASS
 * instead of being sent, so the flow's next action places it, e.g. a
 * policer: `flow add in_port=2,actions=prog:fw,prog:pol` (see
 * examples/fw-policer).  Refused packets are dropped either way. */
#include "nf_common.h"
#include "nf_table.h"

const volatile __u32 wan_port = 2;
const volatile __u64 timeout_ns = 60ull * 1000000000ull;
const volatile __u32 capacity = NF_TBL_MAX;
/* 1: accepted packets continue the flow's actions instead of being sent. */
const volatile __u32 pass_accepted = 0;

enum vfw_stat {
    VFW_STAT_BAD,               /* Rule 1 drops. */
    VFW_STAT_OUT_NEW,           /* LAN -> WAN, flow inserted. */
    VFW_STAT_OUT_KNOWN,         /* LAN -> WAN, flow refreshed. */
    VFW_STAT_OUT_FULL,          /* LAN -> WAN, forwarded untracked. */
    VFW_STAT_IN_PASSED,         /* WAN -> LAN of a live flow. */
    VFW_STAT_IN_DROPPED,        /* WAN -> LAN, unknown or expired. */
    VFW_N_STATS,
};

/* A flow as seen leaving the LAN. */
struct vfw_key {
    __be32 lan_ip;
    __be32 wan_ip;
    __be16 lan_port;            /* L4 ports, network order. */
    __be16 wan_l4_port;
    __u8 proto;
    __u8 pad[3];
};

struct vfw_flow {
    struct vfw_key key;         /* To unindex on reuse. */
    __u32 lan_port;             /* Sluice port the flow came from. */
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, NF_TBL_MAX);
    __type(key, struct vfw_key);
    __type(value, __u32);
} fw_index SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, NF_TBL_MAX + 1);
    __type(key, __u32);
    __type(value, struct vfw_flow);
} fw_slots SEC(".maps");

NF_TBL_NODES(fw_nodes);

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, VFW_N_STATS);
    __type(key, __u32);
    __type(value, __u64);
} fw_stats SEC(".maps");

static __always_inline int
vfw_accept(__u32 port)
{
    return pass_accepted ? XDP_PASS : bpf_redirect(port, 0);
}

static __always_inline int
vfw_outbound(struct vfw_key *key, __u32 in_port, __u64 now)
{
    __u32 *idx = bpf_map_lookup_elem(&fw_index, key);
    if (idx) {
        __u32 slot = *idx;
        struct vfw_flow *f = bpf_map_lookup_elem(&fw_slots, &slot);
        if (f && !nf_tbl_live(&fw_nodes, slot, now, timeout_ns)) {
            /* Expired: the flow starts afresh from this LAN port. */
            f->lan_port = in_port;
        }
        nf_tbl_touch(&fw_nodes, slot, now);
        nf_count(&fw_stats, VFW_STAT_OUT_KNOWN);
        return vfw_accept(wan_port);
    }

    __u32 slot = 0;
    int r = nf_tbl_alloc(&fw_nodes, capacity, now, timeout_ns, &slot);
    struct vfw_flow *f = bpf_map_lookup_elem(&fw_slots, &slot);
    if (r == NF_TBL_FULL || !f) {
        nf_count(&fw_stats, VFW_STAT_OUT_FULL);
        return vfw_accept(wan_port);
    }
    if (r == NF_TBL_REUSED) {
        bpf_map_delete_elem(&fw_index, &f->key);
    }
    f->key = *key;
    f->lan_port = in_port;
    bpf_map_update_elem(&fw_index, key, &slot, BPF_ANY);
    nf_count(&fw_stats, VFW_STAT_OUT_NEW);
    return vfw_accept(wan_port);
}

SEC("xdp")
int vfw(struct xdp_md *ctx)
{
    struct nf_pkt p;

    if (nf_parse(ctx, &p) < 0 || !p.ip4 || !p.l4 ||
        (p.nw_proto != IPPROTO_TCP && p.nw_proto != IPPROTO_UDP)) {
        nf_count(&fw_stats, VFW_STAT_BAD);
        return XDP_DROP;
    }
    /* TCP and UDP both start with the two ports. */
    struct udphdr *l4 = p.l4;
    __u32 in_port = ctx->ingress_ifindex;
    __u64 now = bpf_ktime_get_ns();
    struct vfw_key key = { .proto = p.nw_proto };

    if (in_port != wan_port) {
        key.lan_ip = p.ip4->saddr;
        key.wan_ip = p.ip4->daddr;
        key.lan_port = l4->source;
        key.wan_l4_port = l4->dest;
        return vfw_outbound(&key, in_port, now);
    }

    key.lan_ip = p.ip4->daddr;
    key.wan_ip = p.ip4->saddr;
    key.lan_port = l4->dest;
    key.wan_l4_port = l4->source;
    __u32 *idx = bpf_map_lookup_elem(&fw_index, &key);
    if (idx) {
        __u32 slot = *idx;
        struct vfw_flow *f = bpf_map_lookup_elem(&fw_slots, &slot);
        if (f && nf_tbl_live(&fw_nodes, slot, now, timeout_ns)) {
            nf_tbl_touch(&fw_nodes, slot, now);
            nf_count(&fw_stats, VFW_STAT_IN_PASSED);
            return vfw_accept(f->lan_port);
        }
    }
    nf_count(&fw_stats, VFW_STAT_IN_DROPPED);
    return XDP_DROP;
}

char _license[] SEC("license") = "GPL";
