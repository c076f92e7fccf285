/* Maglev load balancer (NF-SPECS, after Maglev, NSDI 2016, and Vigor's
 * VigLB).
 *
 * The control plane (src/nf/nf_lb.c) builds Maglev's lookup table of M
 * slots over the healthy backends and loads it into 'lb_table'.  A packet
 * to the VIP whose flow is in 'lb_conns' keeps its backend while that
 * backend is up (affinity); otherwise, and for a new flow, the backend is
 * lb_table[hash(5-tuple) mod M] and is recorded in 'lb_conns'.  A full
 * connection table still forwards: the lookup table alone keeps most
 * packets of a flow together.  Forwarding rewrites the destination IP
 * (checksums updated incrementally) and MAC (the backend's; the source MAC
 * is the output port's when configured, nf_rewrite.h) and sends the frame
 * out the backend's port.  A backend's reply to a recorded connection (from
 * its address and the VIP's port to the client) gets the VIP back as its
 * source and is sent to the client's port, so clients talk to the VIP
 * only; everything else continues the pipeline (XDP_PASS). */
#include "lb.h"
#include "nf_common.h"
#include "nf_ports.h"
#include "nf_rewrite.h"
#include "sluice_maps.h"

struct {
    __uint(type, BPF_MAP_TYPE_SLUICE_FLOWTABLE);
    __uint(max_entries, LB_CONNS_MAX);
    __type(key, struct lb_flow_key);
    __type(value, struct lb_flow_value);
} lb_conns SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, LB_TABLE_MAX);
    __type(key, __u32);
    __type(value, __u32);
} lb_table SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, LB_BACKENDS_MAX);
    __type(key, __u32);
    __type(value, struct lb_backend);
} lb_backends SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct lb_config);
} lb_cfg SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, LB_N_STATS);
    __type(key, __u32);
    __type(value, __u64);
} lb_stats SEC(".maps");

struct lb_ports {
    __u16 src;
    __u16 dst;
};

/* The healthy backend of lookup-table slot hash mod M, or NULL. */
static __always_inline struct lb_backend *
lb_pick(const struct lb_config *cfg, const struct lb_flow_key *key,
        __u32 *index)
{
    __u32 m = cfg->table_size;
    if (!m) {
        return 0;
    }
    __u32 slot = lb_flow_hash(key) % m;
    __u32 *b = bpf_map_lookup_elem(&lb_table, &slot);
    if (!b) {
        return 0;
    }
    __u32 idx = *b;
    struct lb_backend *be = bpf_map_lookup_elem(&lb_backends, &idx);
    if (!be || !be->up) {
        return 0;
    }
    *index = idx;
    return be;
}

/* A packet not to the VIP: a backend's reply to a recorded connection
 * leaves with the VIP as source, towards the client; anything else
 * continues the pipeline. */
static __always_inline int
lb_reply(const struct lb_config *cfg, struct nf_pkt *p)
{
    struct iphdr *ip = p->ip4;
    struct lb_ports *pp = p->l4;
    struct lb_flow_key key = {
        .src_ip = ip->daddr,
        .dst_ip = cfg->vip,
        .src_port = pp->dst,
        .dst_port = pp->src,
        .proto = p->nw_proto,
    };
    struct lb_flow_value *v = 0;
    if (pp->src == cfg->vport) {
        v = bpf_map_lookup_elem(&lb_conns, &key);
    }
    if (!v) {
        nf_count(&lb_stats, LB_STAT_PASS);
        return XDP_PASS;
    }
    __u32 idx = v->backend;
    struct lb_backend *be = bpf_map_lookup_elem(&lb_backends, &idx);
    if (!be || be->ip != ip->saddr) {
        nf_count(&lb_stats, LB_STAT_PASS);
        return XDP_PASS;
    }
    __u32 vip = cfg->vip;
    __u32 out_port = v->client_port;
    __u16 *l4sum = nf_l4_csum(pp, p->nw_proto);
    if (l4sum) {
        nf_csum_replace4(l4sum, ip->saddr, vip);
        nf_l4_csum_fix(l4sum, p->nw_proto);
    }
    nf_csum_replace4(&ip->check, ip->saddr, vip);
    ip->saddr = vip;
    nf_mac_rewrite(&nf_ports, p->eth, out_port);
    nf_count(&lb_stats, LB_STAT_REPLY);
    return bpf_redirect(out_port, 0);
}

SEC("xdp")
int
lb(struct xdp_md *ctx)
{
    __u32 zero = 0;
    struct lb_config *cfg = bpf_map_lookup_elem(&lb_cfg, &zero);
    struct nf_pkt p;
    if (!cfg || nf_parse(ctx, &p) || !p.ip4 || !p.l4 ||
        (p.nw_proto != IPPROTO_TCP && p.nw_proto != IPPROTO_UDP)) {
        nf_count(&lb_stats, LB_STAT_PASS);
        return XDP_PASS;
    }
    struct iphdr *ip = p.ip4;
    struct lb_ports *pp = p.l4;
    if (!cfg->table_size) {
        nf_count(&lb_stats, LB_STAT_PASS);
        return XDP_PASS;
    }
    if (ip->daddr != cfg->vip || pp->dst != cfg->vport) {
        return lb_reply(cfg, &p);
    }
    struct lb_flow_key key = {
        .src_ip = ip->saddr,
        .dst_ip = ip->daddr,
        .src_port = pp->src,
        .dst_port = pp->dst,
        .proto = p.nw_proto,
    };
    struct lb_backend *be = 0;
    __u32 idx = 0;
    struct lb_flow_value *v = bpf_map_lookup_elem(&lb_conns, &key);
    if (v) {
        idx = v->backend;
        be = bpf_map_lookup_elem(&lb_backends, &idx);
        if (be && be->up) {
            nf_count(&lb_stats, LB_STAT_KNOWN);
        } else {
            /* Its backend went down: only such flows move. */
            be = lb_pick(cfg, &key, &idx);
            if (!be) {
                nf_count(&lb_stats, LB_STAT_NO_BACKEND);
                return XDP_DROP;
            }
            v->backend = idx;
            v->client_port = ctx->ingress_ifindex;
            nf_count(&lb_stats, LB_STAT_MOVED);
        }
    } else {
        be = lb_pick(cfg, &key, &idx);
        if (!be) {
            nf_count(&lb_stats, LB_STAT_NO_BACKEND);
            return XDP_DROP;
        }
        struct lb_flow_value nv = {
            .backend = idx,
            .client_port = ctx->ingress_ifindex,
        };
        if (bpf_map_update_elem(&lb_conns, &key, &nv, BPF_NOEXIST)) {
            nf_count(&lb_stats, LB_STAT_FULL);
        } else {
            nf_count(&lb_stats, LB_STAT_NEW);
        }
    }
    __u32 new_ip = be->ip;
    __u32 out_port = be->port;
    __u16 *l4sum = nf_l4_csum(pp, p.nw_proto);
    if (l4sum) {
        nf_csum_replace4(l4sum, ip->daddr, new_ip);
        nf_l4_csum_fix(l4sum, p.nw_proto);
    }
    nf_csum_replace4(&ip->check, ip->daddr, new_ip);
    ip->daddr = new_ip;
    nf_mac_rewrite(&nf_ports, p.eth, out_port);
    __builtin_memcpy(p.eth->h_dest, be->mac, 6);
    return bpf_redirect(out_port, 0);
}

char LICENSE[] SEC("license") = "GPL";
