/* MAC learning bridge (NF-SPECS "MAC learning bridge"), an action program.
 *
 * Learned stations live in an expiring table (nf_table.h): 'br_index'
 * maps a MAC to a slot, 'br_slots' holds the slot's MAC and port, and
 * 'br_nodes' their age order.  Static entries, keyed by (destination MAC,
 * input port), are in 'br_static' (`nf bridge static`).  Configuration in
 * .rodata: 'timeout_ns' (idle timeout T) and 'capacity' (N, at most
 * 65,536).  Per frame:
 *   1. learn the source MAC: unknown with room -> insert (MAC -> input
 *      port); known and live -> refresh only, so a station that moved is
 *      re-learned only once its entry has expired; full -> learn nothing;
 *   2. static entry for (destination, input port): drop if its output is
 *      "drop" or the input port, else send there;
 *   3. learned destination: on the input port -> drop (filter); else
 *      unicast there with bpf_redirect();
 *   4. unknown destination, broadcast, multicast: XDP_PASS.
 *
 * Flooding pattern: an action program cannot name "every port but the
 * input" itself, so rule 4 returns XDP_PASS and the flow's next action
 * floods: `flow add actions=prog:br,flood`.  Unicast and drop verdicts end
 * the action list, so 'flood' only runs for frames the bridge did not
 * place. */
#include "nf_common.h"
#include "nf_l23.h"
#include "nf_table.h"

const volatile __u64 timeout_ns = 300ull * 1000000000ull;
const volatile __u32 capacity = NF_TBL_MAX;

enum br_stat {
    BR_STAT_LEARNED,            /* New stations inserted. */
    BR_STAT_RELEARNED,          /* Expired entries learned again. */
    BR_STAT_FULL,               /* Sources not learned: table full. */
    BR_STAT_STATIC,             /* Frames placed by a static entry. */
    BR_STAT_UNICAST,            /* Frames sent to a learned port. */
    BR_STAT_FILTERED,           /* Dropped: destination on input port. */
    BR_STAT_FLOODED,            /* Unknown, broadcast or multicast. */
    BR_STAT_RUNT,               /* Shorter than an Ethernet header. */
    BR_N_STATS,
};

/* A MAC in a key: six bytes and zero padding. */
struct br_mac {
    __u8 mac[6];
    __u8 pad[2];
};

struct br_station {
    struct br_mac mac;          /* The key, to unindex on reuse. */
    __u32 port;                 /* Where the station was seen. */
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, NF_TBL_MAX);
    __type(key, struct br_mac);
    __type(value, __u32);
} br_index SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, NF_TBL_MAX + 1);
    __type(key, __u32);
    __type(value, struct br_station);
} br_slots SEC(".maps");

NF_TBL_NODES(br_nodes);

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, BR_STATIC_MAX);
    __type(key, struct br_static_key);
    __type(value, struct br_static_val);
} br_static SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, BR_N_STATS);
    __type(key, __u32);
    __type(value, __u64);
} br_stats SEC(".maps");

static __always_inline void
br_learn(const __u8 *src, __u32 in_port, __u64 now)
{
    struct br_mac key = {};
    __builtin_memcpy(key.mac, src, 6);

    __u32 *idx = bpf_map_lookup_elem(&br_index, &key);
    if (idx) {
        __u32 slot = *idx;
        struct nf_tbl_node *n = bpf_map_lookup_elem(&br_nodes, &slot);
        struct br_station *st = bpf_map_lookup_elem(&br_slots, &slot);
        if (!n || !st) {
            return;
        }
        if (nf_tbl_expired(n, now, timeout_ns)) {
            st->port = in_port;
            nf_count(&br_stats, BR_STAT_RELEARNED);
        }
        nf_tbl_touch(&br_nodes, slot, now);
        return;
    }

    __u32 slot = 0;
    int r = nf_tbl_alloc(&br_nodes, capacity, now, timeout_ns, &slot);
    if (r == NF_TBL_FULL) {
        nf_count(&br_stats, BR_STAT_FULL);
        return;
    }
    struct br_station *st = bpf_map_lookup_elem(&br_slots, &slot);
    if (!st) {
        return;
    }
    if (r == NF_TBL_REUSED) {
        bpf_map_delete_elem(&br_index, &st->mac);
    }
    st->mac = key;
    st->port = in_port;
    bpf_map_update_elem(&br_index, &key, &slot, BPF_ANY);
    nf_count(&br_stats, BR_STAT_LEARNED);
}

SEC("xdp")
int bridge(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    __u32 in_port = ctx->ingress_ifindex;
    __u64 now = bpf_ktime_get_ns();

    if ((void *)(eth + 1) > data_end) {
        nf_count(&br_stats, BR_STAT_RUNT);
        return XDP_DROP;
    }
    br_learn(eth->h_source, in_port, now);

    struct br_static_key sk = { .in_port = in_port };
    __builtin_memcpy(sk.mac, eth->h_dest, 6);
    struct br_static_val *sv = bpf_map_lookup_elem(&br_static, &sk);
    if (sv) {
        nf_count(&br_stats, BR_STAT_STATIC);
        if (sv->out_port == BR_STATIC_DROP || sv->out_port == in_port) {
            return XDP_DROP;
        }
        return bpf_redirect(sv->out_port, 0);
    }

    struct br_mac dst = {};
    __builtin_memcpy(dst.mac, eth->h_dest, 6);
    __u32 *idx = (eth->h_dest[0] & 1) ? 0
                                      : bpf_map_lookup_elem(&br_index, &dst);
    if (idx) {
        __u32 slot = *idx;
        struct br_station *st = bpf_map_lookup_elem(&br_slots, &slot);
        if (st && nf_tbl_live(&br_nodes, slot, now, timeout_ns)) {
            if (st->port == in_port) {
                nf_count(&br_stats, BR_STAT_FILTERED);
                return XDP_DROP;
            }
            nf_count(&br_stats, BR_STAT_UNICAST);
            return bpf_redirect(st->port, 0);
        }
    }
    nf_count(&br_stats, BR_STAT_FLOODED);
    return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
