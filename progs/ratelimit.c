/* Per-source token-bucket rate limiter (Oko's filter program).
 *
 * Used as a filter on a drop rule: `flow add ip,prog=rl,actions=drop` in
 * front of the forwarding rules.  Each IPv4 source address has a bucket of
 * at most 'burst' tokens refilled at 'rate_pps' tokens per second of packet
 * time; a packet takes one token.  The program matches (so the rule's drop
 * applies) when the source has no token left.  New sources start with a
 * full bucket.  When the table is full a new source is matched
 * (conservative) and the event counted.  Non-IPv4 packets never match.
 *
 * Tokens are kept in fixed point, in units of 1e-9 token (a token is
 * NS_PER_S units), so refill is elapsed_ns * rate_pps with no division. */
#include "nf_common.h"

#define NS_PER_S 1000000000ull

const volatile __u64 rate_pps = 100;
const volatile __u64 burst = 10;

enum rl_stat {
    RL_STAT_PASSED,          /* Packets that had a token. */
    RL_STAT_LIMITED,         /* Packets matched: no token. */
    RL_STAT_NEW,             /* Sources added. */
    RL_STAT_FULL,            /* New sources refused: table full. */
    RL_N_STATS,
};

struct rl_bucket {
    __u64 tokens;            /* In 1e-9 token units. */
    __u64 last_ns;           /* Packet time of the last refill. */
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 65536);
    __type(key, __be32);
    __type(value, struct rl_bucket);
} rl_buckets SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, RL_N_STATS);
    __type(key, __u32);
    __type(value, __u64);
} rl_stats SEC(".maps");

SEC("xdp")
int ratelimit(struct xdp_md *ctx)
{
    struct nf_pkt p;

    if (nf_parse(ctx, &p) < 0 || !p.ip4) {
        return 0;
    }

    __be32 src = p.ip4->saddr;
    __u64 now = bpf_ktime_get_ns();
    __u64 cap = burst * NS_PER_S;
    struct rl_bucket *b = bpf_map_lookup_elem(&rl_buckets, &src);

    if (!b) {
        struct rl_bucket n = { .tokens = cap - NS_PER_S, .last_ns = now };
        if (burst == 0) {
            nf_count(&rl_stats, RL_STAT_LIMITED);
            return 1;
        }
        if (bpf_map_update_elem(&rl_buckets, &src, &n, BPF_NOEXIST) != 0) {
            nf_count(&rl_stats, RL_STAT_FULL);
            return 1;
        }
        nf_count(&rl_stats, RL_STAT_NEW);
        nf_count(&rl_stats, RL_STAT_PASSED);
        return 0;
    }

    nf_bucket_refill(&b->tokens, &b->last_ns, now, rate_pps, cap);
    if (b->tokens >= NS_PER_S) {
        b->tokens -= NS_PER_S;
        nf_count(&rl_stats, RL_STAT_PASSED);
        return 0;
    }
    nf_count(&rl_stats, RL_STAT_LIMITED);
    return 1;
}

char _license[] SEC("license") = "GPL";
