/* Worst-case traffic for a network function, in the spirit of CASTAN:
 * packets that drive its most expensive map work with the largest PCVs
 * that can be constructed.
 *
 * The expensive part of sluice's functions is the hash chain walk of their
 * flow tables (contract/mapcost.h): each chain element visited costs a
 * fixed number of instructions, and with a hash seed fixed for testing
 * (bpf_load_opts.fixed_seed, seed 0) the bucket of every key is known in
 * advance.  contract_worst_build():
 *
 *  1. runs the program (interpreter, maps back to their configuration
 *     each time) on candidate packets: Ethernet/IPv4 and IPv6 with UDP,
 *     TCP SYN, TCP ACK and ICMP, with the program's own branch constants
 *     and the words of its small configuration arrays (a VIP and its
 *     port) as destination ports and addresses, on a few input ports, and
 *     keeps the candidate that inserts a key into a hash-type map (hash,
 *     LRU, flow table) at the highest eBPF cost: the most expensive class
 *     that creates state;
 *  2. learns which packet bytes the program copies into that key, by
 *     mutating each packet byte and watching the key it inserts;
 *  3. brute-forces values of those bytes whose keys fall into the same
 *     bucket as the first (hash_bytes() with the map's seed);
 *  4. checks the sequence by running it: every packet must insert its key
 *     and find one more element in its chain than the packet before;
 *  5. emits the inserts, then lookups of the deepest key (the first one
 *     inserted: chains are pushed at the head) for the remaining packets,
 *     so each of those walks the whole chain.
 *
 * Two refinements drive the PCVs the chain walk does not:
 *
 *  - Expiry bursts.  When that map is an expiring flow table
 *    (BPF_MAP_TYPE_SLUICE_FLOWTABLE with an idle timeout, set up by the
 *    caller), step 5 is replaced: the colliding flows are inserted until
 *    the table holds min(capacity, n / 2) live entries, then the next
 *    packet comes one timeout later, so that every entry has expired and
 *    each flow-table call of the packets that follow removes the most
 *    entries one call can (BPF_FLOWTABLE_EXPIRE_BUDGET, plus its own key
 *    when it is among them), each unlinked by a walk of the long chain
 *    (PCVs map.expired and map.unlink); new colliding flows refill the
 *    table meanwhile, and the cycle repeats.
 *  - Longest prefixes.  A program that inserts nothing but looks packet
 *    bytes up in an LPM trie holding entries (a router after
 *    `nf route load`) gets, instead of its costliest packet repeated,
 *    that packet with the key bytes rewritten to the address whose lookup
 *    costs most by the trie's lookup contract (contract/mapcost.h): among
 *    each stored prefix with host bits all 0 and all 1, the one walking
 *    the deepest path (map.chain, map.cmps, map.diffs).
 *  - Loops.  A program that does neither, and whose costliest packet is
 *    TCP, gets that packet with the up to 40 option bytes after its
 *    header that make its loops (PCVs loop@H.k, such as p0f's option
 *    walk and EOL-padding scan) run longest: strings of option atoms
 *    (EOL, NOP, and each branch constant as an option kind with each as
 *    its length) grown byte length by byte length, keeping per length the
 *    costliest by eBPF instructions, then the costliest of those by x86
 *    instructions through the JIT.
 *
 * PCVs are observed as `contract check` observes them: the packets are
 * chosen by runs of the counting interpreter whose helper calls are
 * probed (contract_mapcost_probe()) just before they happen; the x86
 * figures come from a replay of the finished trace through the JIT,
 * single-stepped, on emptied maps.
 *
 * The pcap drives the worst case only on a switch whose maps use the same
 * seed (tests and `contract check` open objects with the fixed seed) and
 * the same configuration. */
#ifndef CONTRACT_WORST_H
#define CONTRACT_WORST_H 1

#include <stddef.h>
#include <stdint.h>

#include "contract/mapcost.h"

struct bpf_object;
struct bpf_prog;

#define CONTRACT_WORST_PKT_MAX 128 /* Bytes per generated packet. */

struct contract_worst_opts {
    size_t n_packets;  /* Packets to generate (>= 2). */
    uint64_t rng_seed; /* Brute-force search seed. */
};

struct contract_worst_pkt {
    uint8_t data[CONTRACT_WORST_PKT_MAX];
    uint32_t len;     /* Bytes. */
    uint64_t time_ns; /* Timestamp, ns from the first packet. */
};

/* How the packets drive the cost up. */
enum contract_worst_method {
    CONTRACT_WORST_REPEAT,  /* The costliest candidate, repeated. */
    CONTRACT_WORST_COLLIDE, /* Keys colliding in one bucket. */
    CONTRACT_WORST_EXPIRE,  /* Colliding keys and expiry bursts. */
    CONTRACT_WORST_LPM,     /* The deepest path of an LPM trie. */
    CONTRACT_WORST_LOOPS,   /* TCP options that run loops longest. */
};
const char *contract_worst_method_name(enum contract_worst_method);

struct contract_worst {
    struct contract_worst_pkt *pkts; /* 'n' packets (owned). */
    size_t n;
    uint32_t in_port;      /* Port the packets must arrive on. */
    enum contract_worst_method method;
    char map[64];          /* Map whose PCVs they grow, or "". */
    uint32_t bucket;       /* Its bucket. */
    size_t n_collide;      /* Keys inserted into that bucket. */
    size_t key_bytes_free; /* Key bytes the packets control. */
    uint64_t x86_first;    /* x86 instructions (JIT, single-stepped)
                            * of the first packet, */
    uint64_t x86_last;     /* of the last (longest chain), */
    uint64_t x86_sum;      /* and of all of them. */
    /* PCVs of the helper calls on 'map' over the trace, as probed. */
    uint64_t pcv_max[CONTRACT_PCV_N]; /* Largest in one call. */
    uint64_t pcv_sum[CONTRACT_PCV_N]; /* Summed over the calls. */
    uint64_t map_calls;                /* Calls on 'map'. */
    uint64_t timeout_ns;   /* EXPIRE: the flow table's idle timeout, */
    size_t n_bursts;       /* and the times the trace waits it out. */
    uint8_t lpm_key[CONTRACT_WORST_PKT_MAX]; /* LPM: the key looked up, */
    uint32_t lpm_key_len;                    /* key_size bytes. */
    uint32_t opt_len;      /* LOOPS: TCP option bytes (before padding) */
    uint32_t opt_off;      /* at this offset of each packet. */
    /* The candidate packet the worst case grew from, and the offsets of
     * its bytes that the program copies into the map key (LPM: into the
     * key's address bytes): a uniform workload of the same class
     * randomises those bytes. */
    uint8_t base[CONTRACT_WORST_PKT_MAX];
    uint32_t base_len;
    uint32_t free_off[CONTRACT_WORST_PKT_MAX];
};

/* Builds worst-case packets for verified XDP program 'prog' of 'obj'
 * (opened with a fixed hash seed and configured as the packets will find
 * it: its hash-type maps are used as scratch and left with the entries
 * they had, flow tables are emptied, keeping their capacity and timeout;
 * arrays and LPM tries are read only).  When no candidate inserts into a
 * hash-type map, the result is the deepest LPM lookup, the loop-driving
 * options or the most expensive single candidate, repeated ('map'
 * empty).  Returns
 * 0, or a negative errno with '*errp' allocated. */
int contract_worst_build(struct bpf_object *obj, struct bpf_prog *prog,
                         const struct contract_worst_opts *,
                         struct contract_worst *out, char **errp);
void contract_worst_free(struct contract_worst *);

/* Fills 'pkts' (n) with the uniform workload of the same class: the base
 * packet with its key bytes (free_off, key_bytes_free of them) drawn
 * uniformly at random from 'seed', 1 us apart (IPv4 header checksums
 * recomputed). */
void contract_worst_uniform(const struct contract_worst *, uint64_t seed,
                            struct contract_worst_pkt *pkts, size_t n);

/* Runs 'pkts' (n, arriving on 'in_port' at their times, relative to a
 * start after every time 'obj' has seen) through the JIT code of 'prog',
 * single-stepped, from maps in the state contract_worst_build() starts
 * its runs from, and leaves them in that state.  Returns the x86
 * instructions of all of them; each one's into 'x86' (n) when not NULL.  Returns 0 when out of memory. */
uint64_t contract_worst_x86(struct bpf_object *obj, struct bpf_prog *prog,
                            const struct contract_worst_pkt *pkts, size_t n,
                            uint32_t in_port, uint64_t *x86);

/* Writes the packets to a classic pcap file (microsecond timestamps,
 * Ethernet link type).  Returns 0 or -errno. */
int contract_worst_write_pcap(const struct contract_worst *, const char *path);

#endif /* CONTRACT_WORST_H */
