/* Per-destination inbound policer (NF-SPECS "Policer"), an action program.
 *
 * Configuration in .rodata: 'lan_port', 'wan_port', rate 'rate_Bps' (R,
 * bytes per second), burst 'burst_B' (B, bytes) and 'capacity' (N, at most
 * 65,536).  Each LAN destination address has a token bucket of at most B
 * bytes, kept in an expiring table (nf_table.h: 'pol_index', 'pol_slots',
 * 'pol_nodes').  Per frame:
 *   1. non-IPv4 or malformed IPv4 (bad version or header length, total
 *      length shorter than the header or longer than the frame): drop.
 *      LAN -> WAN: forward to the WAN port unpoliced;
 *   2. WAN -> LAN, known destination: tokens := min(B, tokens + elapsed *
 *      R); if tokens >= frame length, subtract it and forward to the LAN
 *      port, else drop;
 *   3. unknown destination: frame longer than B, or table full: drop; else
 *      create the bucket with B - length tokens and forward;
 *   4. a bucket idle longer than B / R seconds is expired (it would be full
 *      again), so its slot can be reused; with R = 0 buckets never expire.
 * Frames arriving on any other port are dropped and counted.  The frame
 * length is the whole Ethernet frame as received.
 *
 * Tokens are kept in units of 1e-9 byte, so a refill is elapsed_ns * R
 * with no division; B must therefore stay below 2^64 / 1e9 bytes (about
 * 18 GB). */
#include "nf_common.h"
#include "nf_table.h"

#define NS_PER_S 1000000000ull

const volatile __u32 lan_port = 1;
const volatile __u32 wan_port = 2;
const volatile __u64 rate_Bps = 125000;      /* 1 Mbit/s. */
const volatile __u64 burst_B = 15000;
const volatile __u32 capacity = NF_TBL_MAX;

enum pol_stat {
    POL_STAT_BAD,               /* Rule 1 drops. */
    POL_STAT_OUTBOUND,          /* LAN -> WAN, unpoliced. */
    POL_STAT_PASSED,            /* WAN -> LAN within the rate. */
    POL_STAT_POLICED,           /* WAN -> LAN dropped: no tokens. */
    POL_STAT_NEW,               /* Buckets created. */
    POL_STAT_TOO_BIG,           /* New destination, frame longer than B. */
    POL_STAT_FULL,              /* New destination, table full. */
    POL_STAT_OTHER_PORT,        /* Neither LAN nor WAN port. */
    POL_N_STATS,
};

struct pol_bucket {
    __be32 dst;                 /* The key, to unindex on reuse. */
    __u32 pad;
    __u64 tokens;               /* In 1e-9 byte units. */
    __u64 last_ns;              /* Packet time of the last refill. */
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, NF_TBL_MAX);
    __type(key, __be32);
    __type(value, __u32);
} pol_index SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, NF_TBL_MAX + 1);
    __type(key, __u32);
    __type(value, struct pol_bucket);
} pol_slots SEC(".maps");

NF_TBL_NODES(pol_nodes);

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, POL_N_STATS);
    __type(key, __u32);
    __type(value, __u64);
} pol_stats SEC(".maps");

/* Idle time after which a bucket is full again: B / R seconds. */
static __always_inline __u64
pol_timeout_ns(void)
{
    return rate_Bps ? burst_B * NS_PER_S / rate_Bps : ~0ull;
}

/* Rule 3: a new bucket for 'dst', or a drop verdict. */
static __always_inline int
pol_new(__be32 dst, __u64 len, __u64 now)
{
    if (len > burst_B) {
        nf_count(&pol_stats, POL_STAT_TOO_BIG);
        return XDP_DROP;
    }
    __u32 slot = 0;
    int r = nf_tbl_alloc(&pol_nodes, capacity, now, pol_timeout_ns(), &slot);
    struct pol_bucket *b = bpf_map_lookup_elem(&pol_slots, &slot);
    if (r == NF_TBL_FULL || !b) {
        nf_count(&pol_stats, POL_STAT_FULL);
        return XDP_DROP;
    }
    if (r == NF_TBL_REUSED) {
        bpf_map_delete_elem(&pol_index, &b->dst);
    }
    b->dst = dst;
    b->tokens = (burst_B - len) * NS_PER_S;
    b->last_ns = now;
    bpf_map_update_elem(&pol_index, &dst, &slot, BPF_ANY);
    nf_count(&pol_stats, POL_STAT_NEW);
    nf_count(&pol_stats, POL_STAT_PASSED);
    return bpf_redirect(lan_port, 0);
}

SEC("xdp")
int policer(struct xdp_md *ctx)
{
    struct nf_pkt p;
    __u32 in_port = ctx->ingress_ifindex;

    if (nf_parse(ctx, &p) < 0 || !p.ip4) {
        nf_count(&pol_stats, POL_STAT_BAD);
        return XDP_DROP;
    }
    struct iphdr *ip = p.ip4;
    __u32 tot_len = bpf_ntohs(ip->tot_len);
    if (tot_len < ip->ihl * 4u || (void *)ip + tot_len > p.data_end) {
        nf_count(&pol_stats, POL_STAT_BAD);
        return XDP_DROP;
    }
    if (in_port == lan_port) {
        nf_count(&pol_stats, POL_STAT_OUTBOUND);
        return bpf_redirect(wan_port, 0);
    }
    if (in_port != wan_port) {
        nf_count(&pol_stats, POL_STAT_OTHER_PORT);
        return XDP_DROP;
    }

    __u64 len = (__u64)((char *)p.data_end - (char *)p.eth);
    __u64 now = bpf_ktime_get_ns();
    __be32 dst = ip->daddr;
    __u32 *idx = bpf_map_lookup_elem(&pol_index, &dst);
    if (!idx) {
        return pol_new(dst, len, now);
    }
    __u32 slot = *idx;
    struct pol_bucket *b = bpf_map_lookup_elem(&pol_slots, &slot);
    if (!b || !nf_tbl_live(&pol_nodes, slot, now, pol_timeout_ns())) {
        /* Expired (rule 4): as good as unknown, with its slot. */
        if (len > burst_B) {
            nf_count(&pol_stats, POL_STAT_TOO_BIG);
            return XDP_DROP;
        }
        if (b) {
            b->tokens = (burst_B - len) * NS_PER_S;
            b->last_ns = now;
            nf_tbl_touch(&pol_nodes, slot, now);
        }
        nf_count(&pol_stats, POL_STAT_NEW);
        nf_count(&pol_stats, POL_STAT_PASSED);
        return bpf_redirect(lan_port, 0);
    }

    nf_bucket_refill(&b->tokens, &b->last_ns, now, rate_Bps,
                     burst_B * NS_PER_S);
    nf_tbl_touch(&pol_nodes, slot, now);
    if (b->tokens >= len * NS_PER_S) {
        b->tokens -= len * NS_PER_S;
        nf_count(&pol_stats, POL_STAT_PASSED);
        return bpf_redirect(lan_port, 0);
    }
    nf_count(&pol_stats, POL_STAT_POLICED);
    return XDP_DROP;
}

char _license[] SEC("license") = "GPL";
