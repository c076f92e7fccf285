/* Stateful firewall filter program (Oko's connection tracker).
 *
 * Used as a filter: `flow add in_port=1,prog=fw,actions=output:2` and
 * `flow add in_port=2,prog=fw,actions=output:1`.  The port facing the
 * protected network is the .rodata constant 'inside_port'.
 *
 * Packets from the inside always match; they open and advance connections.
 * Packets from the outside match only when they belong to a connection that
 * was opened from the inside and are valid for its state: a SYN-ACK only
 * after the inside's SYN, anything else only once established (or while it
 * is closing).  Connections are keyed by the 5-tuple seen from the inside
 * (inside address and port first), so both directions find one entry.
 *
 * TCP states follow the handshake and teardown:
 *   SYN_SENT    inside sent SYN             outside may send SYN-ACK
 *   SYN_RECV    outside answered SYN-ACK    inside's ACK establishes
 *   ESTABLISHED                             any segment in both ways
 *   FIN_WAIT    one side sent FIN           still open both ways
 *   CLOSING     both sides sent FIN         final ACKs pass
 * A RST from either side removes the connection (the RST itself passes when
 * it comes from a tracked peer).  UDP opens on the first inside->outside
 * datagram.  Entries idle longer than their timeout (established TCP:
 * 'est_timeout_ns', everything else 'other_timeout_ns') are treated as
 * absent and their slot reused.  A full table means a new connection is not
 * tracked: its inside packets still pass, its replies do not (counted). */
#include "nf_common.h"

enum fw_state {
    FW_SYN_SENT = 1,
    FW_SYN_RECV,
    FW_ESTABLISHED,
    FW_FIN_WAIT,
    FW_CLOSING,
    FW_UDP,
};

/* Statistics slots in 'fw_stats'. */
enum fw_stat {
    FW_STAT_INSIDE,          /* Inside packets seen. */
    FW_STAT_OUTSIDE_OK,      /* Outside packets that matched. */
    FW_STAT_OUTSIDE_DENIED,  /* Outside packets refused. */
    FW_STAT_NEW,             /* Connections opened. */
    FW_STAT_FULL,            /* Connections not tracked: table full. */
    FW_STAT_EXPIRED,         /* Lookups that found an expired entry. */
    FW_STAT_NOT_IP,          /* Non-IPv4 or non-TCP/UDP packets. */
    FW_N_STATS,
};

struct fw_key {
    __be32 in_addr;          /* Inside host. */
    __be32 out_addr;         /* Outside host. */
    __be16 in_port;          /* Inside transport port. */
    __be16 out_port;         /* Outside transport port. */
    __u8 proto;              /* IPPROTO_TCP or IPPROTO_UDP. */
    __u8 pad[3];
};

struct fw_conn {
    __u64 last_seen_ns;      /* Packet time of the last valid packet. */
    __u32 state;             /* enum fw_state. */
    __u32 fin_from;          /* Bit 0: inside sent FIN; bit 1: outside. */
};

const volatile __u32 inside_port = 1;
const volatile __u64 est_timeout_ns = 3600ull * 1000000000ull;
const volatile __u64 other_timeout_ns = 30ull * 1000000000ull;
/* Non-IP / non-TCP/UDP traffic: match (1) or not (0). */
const volatile __u32 pass_non_ip = 0;

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 65536);
    __type(key, struct fw_key);
    __type(value, struct fw_conn);
} fw_conns SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, FW_N_STATS);
    __type(key, __u32);
    __type(value, __u64);
} fw_stats SEC(".maps");

static __always_inline int
fw_expired(const struct fw_conn *c, __u64 now)
{
    __u64 timeout = c->state == FW_ESTABLISHED ? est_timeout_ns
                                                : other_timeout_ns;
    return now > c->last_seen_ns && now - c->last_seen_ns > timeout;
}

static __always_inline int
fw_inside(struct fw_key *key, struct fw_conn *c, __u8 flags, __u64 now)
{
    nf_count(&fw_stats, FW_STAT_INSIDE);
    if (c && fw_expired(c, now)) {
        nf_count(&fw_stats, FW_STAT_EXPIRED);
        bpf_map_delete_elem(&fw_conns, key);
        c = NULL;
    }
    if (key->proto == IPPROTO_UDP) {
        if (c) {
            c->last_seen_ns = now;
            return 1;
        }
        struct fw_conn n = { .last_seen_ns = now, .state = FW_UDP };
        if (bpf_map_update_elem(&fw_conns, key, &n, BPF_NOEXIST) == 0) {
            nf_count(&fw_stats, FW_STAT_NEW);
        } else {
            nf_count(&fw_stats, FW_STAT_FULL);
        }
        return 1;
    }

    if (flags & TCP_FLAG_RST_) {
        if (c) {
            bpf_map_delete_elem(&fw_conns, key);
        }
        return 1;
    }
    if (!c) {
        /* Only a SYN (without ACK) opens a connection. */
        if ((flags & (TCP_FLAG_SYN_ | TCP_FLAG_ACK_)) == TCP_FLAG_SYN_) {
            struct fw_conn n = { .last_seen_ns = now, .state = FW_SYN_SENT };
            if (bpf_map_update_elem(&fw_conns, key, &n, BPF_NOEXIST) == 0) {
                nf_count(&fw_stats, FW_STAT_NEW);
            } else {
                nf_count(&fw_stats, FW_STAT_FULL);
            }
        }
        return 1;
    }
    c->last_seen_ns = now;
    if (c->state == FW_SYN_RECV && (flags & TCP_FLAG_ACK_)
        && !(flags & TCP_FLAG_SYN_)) {
        c->state = FW_ESTABLISHED;
    }
    if (flags & TCP_FLAG_FIN_) {
        c->fin_from |= 1;
        c->state = c->fin_from == 3 ? FW_CLOSING : FW_FIN_WAIT;
    }
    return 1;
}

static __always_inline int
fw_outside(struct fw_key *key, struct fw_conn *c, __u8 flags, __u64 now)
{
    if (!c) {
        return 0;
    }
    if (fw_expired(c, now)) {
        nf_count(&fw_stats, FW_STAT_EXPIRED);
        bpf_map_delete_elem(&fw_conns, key);
        return 0;
    }
    if (key->proto == IPPROTO_UDP) {
        c->last_seen_ns = now;
        return 1;
    }
    if (flags & TCP_FLAG_RST_) {
        /* A RST during the handshake must answer our SYN; either way the
         * connection is gone. */
        bpf_map_delete_elem(&fw_conns, key);
        return 1;
    }
    switch (c->state) {
    case FW_SYN_SENT:
    case FW_SYN_RECV:
        /* Only the SYN-ACK (or its retransmission) is valid now. */
        if ((flags & (TCP_FLAG_SYN_ | TCP_FLAG_ACK_))
            != (TCP_FLAG_SYN_ | TCP_FLAG_ACK_)) {
            return 0;
        }
        c->state = FW_SYN_RECV;
        c->last_seen_ns = now;
        return 1;
    case FW_ESTABLISHED:
    case FW_FIN_WAIT:
    case FW_CLOSING:
        if (flags & TCP_FLAG_SYN_) {
            return 0;
        }
        c->last_seen_ns = now;
        if (flags & TCP_FLAG_FIN_) {
            c->fin_from |= 2;
            c->state = c->fin_from == 3 ? FW_CLOSING : FW_FIN_WAIT;
        }
        return 1;
    default:
        return 0;
    }
}

SEC("xdp")
int firewall(struct xdp_md *ctx)
{
    struct nf_pkt p;

    if (nf_parse(ctx, &p) < 0 || !p.ip4 || !p.l4) {
        nf_count(&fw_stats, FW_STAT_NOT_IP);
        return pass_non_ip;
    }

    int inside = ctx->ingress_ifindex == inside_port;
    struct fw_key key = {};
    __u8 flags = 0;
    __be16 sport, dport;

    if (p.nw_proto == IPPROTO_TCP) {
        struct tcphdr *th = p.l4;
        sport = th->source;
        dport = th->dest;
        flags = ((__u8 *)th)[13];
    } else {
        struct udphdr *uh = p.l4;
        sport = uh->source;
        dport = uh->dest;
    }
    key.proto = p.nw_proto;
    if (inside) {
        key.in_addr = p.ip4->saddr;
        key.out_addr = p.ip4->daddr;
        key.in_port = sport;
        key.out_port = dport;
    } else {
        key.in_addr = p.ip4->daddr;
        key.out_addr = p.ip4->saddr;
        key.in_port = dport;
        key.out_port = sport;
    }

    __u64 now = bpf_ktime_get_ns();
    struct fw_conn *c = bpf_map_lookup_elem(&fw_conns, &key);
    if (inside) {
        return fw_inside(&key, c, flags, now);
    }
    int ok = fw_outside(&key, c, flags, now);
    nf_count(&fw_stats, ok ? FW_STAT_OUTSIDE_OK : FW_STAT_OUTSIDE_DENIED);
    return ok;
}

char _license[] SEC("license") = "GPL";
