/* NAT with one external IPv4 address and port translation (NF-SPECS "NAT",
 * after Vigor's VigNAT).
 *
 * LAN flows (5-tuple plus LAN port) live in 'nat_flows', an expiring flow
 * table whose slot i is the external port S + i: a new flow takes the most
 * recently freed slot, a full table drops (live flows are never evicted),
 * and flows idle longer than the timeout disappear and free their port.
 * After each insert the program writes slot -> key into 'nat_slots'; a WAN
 * packet to port S + i reads that key, checks the remote end against the
 * packet's source, and looks the key up again, which both proves the flow
 * still owns slot i and refreshes it.  WAN packets never create state.
 *
 * Rewrites update the IPv4 and TCP/UDP checksums incrementally and the MACs
 * per the output port (nf_rewrite.h).  Configuration: `sluice nf nat NAME
 * wan=PORT ip=A.B.C.D first_port=S capacity=N timeout=SEC`; until then every
 * packet is dropped. */
#include "nat.h"
#include "nf_common.h"
#include "nf_ports.h"
#include "nf_rewrite.h"
#include "sluice_maps.h"

struct {
    __uint(type, BPF_MAP_TYPE_SLUICE_FLOWTABLE);
    __uint(max_entries, NAT_MAX_FLOWS);
    __type(key, struct nat_flow_key);
    __type(value, struct nat_flow_value);
} nat_flows SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, NAT_MAX_FLOWS);
    __type(key, __u32);
    __type(value, struct nat_flow_key);
} nat_slots SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct nat_config);
} nat_cfg SEC(".maps");

/* Per-CPU: each datapath thread counts into its own copy (a plain array
 * counted with `*v += 1` would lose increments between threads and force
 * the datapath onto one thread); readers sum the copies. */
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, NAT_N_STATS);
    __type(key, __u32);
    __type(value, __u64);
} nat_stats SEC(".maps");

/* TCP and UDP keep their ports in the same place. */
struct nat_ports {
    __u16 src;
    __u16 dst;
};

static __always_inline int
drop(__u32 stat)
{
    nf_count(&nat_stats, stat);
    return XDP_DROP;
}

/* Rule 2/3: LAN -> WAN. */
static __always_inline int
nat_out(struct xdp_md *ctx, struct nat_config *cfg, struct nf_pkt *p)
{
    struct iphdr *ip = p->ip4;
    struct nat_ports *pp = p->l4;
    struct nat_flow_key key = {
        .int_ip = ip->saddr,
        .rem_ip = ip->daddr,
        .int_port = pp->src,
        .rem_port = pp->dst,
        .proto = p->nw_proto,
        .lan_port = ctx->ingress_ifindex,
    };
    struct nat_flow_value *v = bpf_map_lookup_elem(&nat_flows, &key);
    if (!v) {
        struct nat_flow_value nv = {0};
        if (bpf_map_update_elem(&nat_flows, &key, &nv, BPF_NOEXIST)) {
            return drop(NAT_STAT_DROP_FULL);
        }
        v = bpf_map_lookup_elem(&nat_flows, &key);
        if (!v) {
            return drop(NAT_STAT_DROP_FULL);
        }
        __u32 slot = v->slot;
        bpf_map_update_elem(&nat_slots, &slot, &key, BPF_ANY);
        nf_count(&nat_stats, NAT_STAT_NEW);
    }
    __u32 slot = v->slot;
    if (slot >= cfg->capacity) {
        return drop(NAT_STAT_DROP_FULL);
    }
    __u32 ext_ip = cfg->ext_ip;
    __u16 ext_port = bpf_htons((__u16)(cfg->first_port + slot));
    __u16 *l4sum = nf_l4_csum(pp, p->nw_proto);
    if (l4sum) {
        nf_csum_replace4(l4sum, ip->saddr, ext_ip);
        nf_csum_replace2(l4sum, pp->src, ext_port);
        nf_l4_csum_fix(l4sum, p->nw_proto);
    }
    nf_csum_replace4(&ip->check, ip->saddr, ext_ip);
    ip->saddr = ext_ip;
    pp->src = ext_port;
    nf_mac_rewrite(&nf_ports, p->eth, cfg->wan_port);
    nf_count(&nat_stats, NAT_STAT_OUT);
    return bpf_redirect(cfg->wan_port, 0);
}

/* Rules 5/6: WAN -> LAN. */
static __always_inline int
nat_in(struct nat_config *cfg, struct nf_pkt *p)
{
    struct iphdr *ip = p->ip4;
    struct nat_ports *pp = p->l4;
    if (ip->daddr != cfg->ext_ip) {
        return drop(NAT_STAT_DROP_UNKNOWN);
    }
    __u32 slot = (__u32)bpf_ntohs(pp->dst) - cfg->first_port;
    if (slot >= cfg->capacity) {
        return drop(NAT_STAT_DROP_UNKNOWN);
    }
    struct nat_flow_key *k = bpf_map_lookup_elem(&nat_slots, &slot);
    if (!k || !k->proto) {
        return drop(NAT_STAT_DROP_UNKNOWN);
    }
    struct nat_flow_key key = *k;
    if (key.rem_ip != ip->saddr || key.rem_port != pp->src ||
        key.proto != p->nw_proto) {
        return drop(NAT_STAT_DROP_SPOOFED);
    }
    struct nat_flow_value *v = bpf_map_lookup_elem(&nat_flows, &key);
    if (!v || v->slot != slot) {
        return drop(NAT_STAT_DROP_UNKNOWN);
    }
    __u16 *l4sum = nf_l4_csum(pp, p->nw_proto);
    if (l4sum) {
        nf_csum_replace4(l4sum, ip->daddr, key.int_ip);
        nf_csum_replace2(l4sum, pp->dst, key.int_port);
        nf_l4_csum_fix(l4sum, p->nw_proto);
    }
    nf_csum_replace4(&ip->check, ip->daddr, key.int_ip);
    ip->daddr = key.int_ip;
    pp->dst = key.int_port;
    nf_mac_rewrite(&nf_ports, p->eth, key.lan_port);
    nf_count(&nat_stats, NAT_STAT_IN);
    return bpf_redirect(key.lan_port, 0);
}

SEC("xdp")
int
nat(struct xdp_md *ctx)
{
    __u32 zero = 0;
    struct nat_config *cfg = bpf_map_lookup_elem(&nat_cfg, &zero);
    if (!cfg || !cfg->capacity) {
        return drop(NAT_STAT_DROP_UNCONFIGURED);
    }
    struct nf_pkt p;
    /* Rule 1 (and 8: ICMP is not translated). */
    if (nf_parse(ctx, &p) || !p.ip4 || !p.l4 ||
        (p.nw_proto != IPPROTO_TCP && p.nw_proto != IPPROTO_UDP)) {
        return drop(NAT_STAT_DROP_PROTO);
    }
    if (ctx->ingress_ifindex == cfg->wan_port) {
        return nat_in(cfg, &p);
    }
    return nat_out(ctx, cfg, &p);
}

char LICENSE[] SEC("license") = "GPL";
