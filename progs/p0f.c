/* p0f SYN signature filter (Oko's filter program).
 *
 * Matches TCP SYNs (SYN without ACK) whose p0f v3 signature is in the
 * 'p0f_sigs' map, filled from a p0f.fp file by `sluice nf p0f`.  Used, e.g.,
 * to steer or drop connections from given operating systems:
 *   flow add tcp,tcp_flags=+syn-ack,prog=p0f,actions=drop
 * Anything that is not a TCP SYN over IPv4/IPv6 never matches.
 *
 * The signature is computed as p0f does (see p0f.h for the key layout):
 * IP version; initial TTL class (the smallest of 32, 64, 128, 255 not below
 * the observed TTL); IPv4 option length; the TCP option layout; MSS, window
 * size and window scale; quirks; whether the SYN carries payload.  Matching
 * is exact (p0f's fuzzy fallback is not applied). */
#include <linux/ipv6.h>

#include "nf_common.h"
#include "p0f.h"

#define P0F_ETH_P_IPV6 0x86dd
/* Options walked per SYN.  Real stacks send at most 8 (Windows: mss, nop,
 * ws, nop, nop, sok); more is reported as the 'bad' quirk.  The bound keeps
 * verification (ours and the kernel's) fast. */
#define P0F_MAX_OPTS 12

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 4096);
    __type(key, struct p0f_key);
    __type(value, struct p0f_sigs);
} p0f_sigs SEC(".maps");

/* Label index of the last match, per CPU, for tracing and tests. */
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u32);
} p0f_last_label SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 3);
    __type(key, __u32);
    __type(value, __u64);
} p0f_stats SEC(".maps");   /* 0: SYNs seen, 1: matched, 2: bad options. */

static __always_inline __u8
p0f_ttl_class(__u8 ttl)
{
    if (ttl <= 32) {
        return 32;
    }
    if (ttl <= 64) {
        return 64;
    }
    if (ttl <= 128) {
        return 128;
    }
    return 255;
}

struct p0f_opts {
    __u32 mss;               /* 0 if absent. */
    __u32 scale;             /* 0 if absent (as p0f reports it). */
};

/* Walks the 'optlen' bytes of TCP options at 'base' into the key's layout
 * and quirks.  Offsets are kept as integers (not pointer differences) so
 * every access is base + bounded offset, checked against data_end. */
static __always_inline void
p0f_parse_opts(__u8 *base, __u32 optlen, void *data_end, struct p0f_key *key,
               struct p0f_opts *o)
{
    __u32 n = 0;
    __u32 off = 0;

    o->mss = 0;
    o->scale = 0;
    for (int i = 0; i < P0F_MAX_OPTS; i++) {
        if (off >= optlen || off >= 40) {
            break;
        }
        __u8 *opt = base + off;
        if (opt + 1 > (__u8 *)data_end) {
            break;
        }
        __u8 kind = *opt;
        if (n >= P0F_MAX_LAYOUT - 1 || i == P0F_MAX_OPTS - 1) {
            key->quirks |= P0F_Q_OPT_BAD;
            break;
        }
        if (kind == P0F_OPT_EOL) {
            /* EOL ends the list; note how many padding bytes follow and
             * whether any of them is non-zero. */
            p0f_layout_add(key->layout, P0F_OPT_EOL);
            p0f_layout_add(key->layout, optlen - off - 1);
            n += 2;
            for (int j = 0; j < 40; j++) {
                off++;
                if (off >= optlen || off >= 40) {
                    break;
                }
                __u8 *padp = base + off;
                if (padp + 1 > (__u8 *)data_end) {
                    break;
                }
                if (*padp) {
                    key->quirks |= P0F_Q_OPT_EOL_NZ;
                }
            }
            break;
        }
        if (kind == P0F_OPT_NOP) {
            p0f_layout_add(key->layout, P0F_OPT_NOP);
            n++;
            off++;
            continue;
        }
        if (off + 2 > optlen || opt + 2 > (__u8 *)data_end) {
            key->quirks |= P0F_Q_OPT_BAD;
            break;
        }
        __u8 len = opt[1];
        if (len < 2 || off + len > optlen) {
            key->quirks |= P0F_Q_OPT_BAD;
            break;
        }
        p0f_layout_add(key->layout, kind);
        n++;
        if (kind == P0F_OPT_MSS) {
            if (len != 4 || opt + 4 > (__u8 *)data_end) {
                key->quirks |= P0F_Q_OPT_BAD;
                break;
            }
            o->mss = (__u32)opt[2] << 8 | opt[3];
        } else if (kind == P0F_OPT_WS) {
            if (len != 3 || opt + 3 > (__u8 *)data_end) {
                key->quirks |= P0F_Q_OPT_BAD;
                break;
            }
            o->scale = opt[2];
            if (opt[2] > 14) {
                key->quirks |= P0F_Q_OPT_EXWS;
            }
        } else if (kind == P0F_OPT_SOK) {
            if (len != 2) {
                key->quirks |= P0F_Q_OPT_BAD;
                break;
            }
        } else if (kind == P0F_OPT_TS) {
            if (len != 10 || opt + 10 > (__u8 *)data_end) {
                key->quirks |= P0F_Q_OPT_BAD;
                break;
            }
            if (!(opt[2] | opt[3] | opt[4] | opt[5])) {
                key->quirks |= P0F_Q_OPT_ZERO_TS1;
            }
            if (opt[6] | opt[7] | opt[8] | opt[9]) {
                key->quirks |= P0F_Q_OPT_NZ_TS2;
            }
        }
        off += len;
    }
    key->layout_len = n;
}

static __always_inline int
p0f_variant_ok(const struct p0f_variant *v, __u32 mss, __u32 win,
               __u32 scale, __u32 mtu_extra)
{
    if (v->mss != P0F_ANY_MSS && v->mss != mss) {
        return 0;
    }
    if (v->scale != P0F_ANY_SCALE && v->scale != scale) {
        return 0;
    }
    switch (v->wsize_kind) {
    case P0F_WSIZE_ANY:
        return 1;
    case P0F_WSIZE_FIXED:
        return win == v->wsize;
    case P0F_WSIZE_MSS:
        return mss && win == mss * v->wsize;
    case P0F_WSIZE_MTU:
        return mss && win == (mss + mtu_extra) * v->wsize;
    case P0F_WSIZE_MOD:
        return v->wsize && win % v->wsize == 0;
    }
    return 0;
}

SEC("xdp")
int p0f(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    struct p0f_key key = {};
    struct tcphdr *th;
    __u32 payload, mtu_extra;

    if ((void *)(eth + 1) > data_end) {
        return 0;
    }
    if (eth->h_proto == bpf_htons(ETH_P_IP)) {
        struct iphdr *ip = (void *)(eth + 1);
        if ((void *)(ip + 1) > data_end || ip->version != 4 || ip->ihl < 5
            || ip->protocol != IPPROTO_TCP
            || (ip->frag_off & bpf_htons(0x1fff))) {
            return 0;
        }
        __u32 ihl = ip->ihl * 4;
        th = (void *)ip + ihl;
        if ((void *)(th + 1) > data_end) {
            return 0;
        }
        __u32 tot = bpf_ntohs(ip->tot_len);
        key.ver = 4;
        key.ittl = p0f_ttl_class(ip->ttl);
        key.olen = ihl - 20;
        if (ip->frag_off & bpf_htons(0x4000)) {
            key.quirks |= P0F_Q_DF;
            if (ip->id) {
                key.quirks |= P0F_Q_NZ_ID;
            }
        } else if (!ip->id) {
            key.quirks |= P0F_Q_ZERO_ID;
        }
        if (ip->frag_off & bpf_htons(0x8000)) {
            key.quirks |= P0F_Q_NZ_MBZ;
        }
        if (ip->tos & 3) {
            key.quirks |= P0F_Q_ECN;
        }
        payload = tot > ihl + th->doff * 4 ? tot - ihl - th->doff * 4 : 0;
        mtu_extra = 40;
    } else if (eth->h_proto == bpf_htons(P0F_ETH_P_IPV6)) {
        struct ipv6hdr *ip6 = (void *)(eth + 1);
        if ((void *)(ip6 + 1) > data_end || ip6->nexthdr != IPPROTO_TCP) {
            return 0;
        }
        th = (void *)(ip6 + 1);
        if ((void *)(th + 1) > data_end) {
            return 0;
        }
        __u32 plen = bpf_ntohs(ip6->payload_len);
        key.ver = 6;
        key.ittl = p0f_ttl_class(ip6->hop_limit);
        if (ip6->flow_lbl[0] & 0x0f || ip6->flow_lbl[1] || ip6->flow_lbl[2]) {
            key.quirks |= P0F_Q_FLOW;
        }
        if (ip6->flow_lbl[0] & 0x30) {
            key.quirks |= P0F_Q_ECN;
        }
        payload = plen > th->doff * 4 ? plen - th->doff * 4 : 0;
        mtu_extra = 60;
    } else {
        return 0;
    }

    __u8 flags = ((__u8 *)th)[13];
    if ((flags & (TCP_FLAG_SYN_ | TCP_FLAG_ACK_)) != TCP_FLAG_SYN_) {
        return 0;
    }
    nf_count(&p0f_stats, 0);
    if (th->doff < 5) {
        return 0;
    }
    if (!th->seq) {
        key.quirks |= P0F_Q_ZERO_SEQ;
    }
    if (th->ack_seq) {
        key.quirks |= P0F_Q_NZ_ACK;
    }
    if (th->urg_ptr) {
        key.quirks |= P0F_Q_NZ_URG;
    }
    if (flags & TCP_FLAG_URG_) {
        key.quirks |= P0F_Q_URG;
    }
    if (flags & TCP_FLAG_PSH_) {
        key.quirks |= P0F_Q_PUSH;
    }
    key.pclass = payload > 0;

    struct p0f_opts o;
    p0f_parse_opts((__u8 *)(th + 1), th->doff * 4 - 20, data_end, &key, &o);
    if (key.quirks & P0F_Q_OPT_BAD) {
        nf_count(&p0f_stats, 2);
    }

    struct p0f_sigs *sigs = bpf_map_lookup_elem(&p0f_sigs, &key);
    if (!sigs) {
        return 0;
    }
    __u32 win = bpf_ntohs(th->window);
    for (int i = 0; i < P0F_MAX_VARIANTS; i++) {
        if (i >= sigs->n) {
            break;
        }
        if (p0f_variant_ok(&sigs->v[i], o.mss, win, o.scale, mtu_extra)) {
            __u32 zero = 0;
            __u32 *last = bpf_map_lookup_elem(&p0f_last_label, &zero);
            if (last) {
                *last = sigs->v[i].label;
            }
            nf_count(&p0f_stats, 1);
            return 1;
        }
    }
    return 0;
}

char _license[] SEC("license") = "GPL";
