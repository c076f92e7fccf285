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
 *  1. runs the program (interpreter, empty maps each time) on candidate
 *     packets: Ethernet/IPv4 and IPv6 with UDP, TCP SYN, TCP ACK and ICMP,
 *     with the program's own branch constants as destination ports and
 *     addresses, on a few input ports, and keeps the candidate that
 *     inserts a key into a hash-type map (hash, LRU, flow table) at the
 *     highest eBPF cost: the most expensive class that creates state;
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
 * The pcap drives the worst case only on a switch whose maps use the same
 * seed (tests and `contract check` open objects with the fixed seed). */
#ifndef CONTRACT_WORST_H
#define CONTRACT_WORST_H 1

#include <stddef.h>
#include <stdint.h>

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

struct contract_worst {
    struct contract_worst_pkt *pkts; /* 'n' packets (owned). */
    size_t n;
    uint32_t in_port;      /* Port the packets must arrive on. */
    char map[64];          /* Map whose chain they lengthen, or "". */
    uint32_t bucket;       /* Its bucket. */
    size_t n_collide;      /* Keys inserted into that bucket. */
    size_t key_bytes_free; /* Key bytes the packets control. */
    uint64_t x86_first;    /* x86 instructions (JIT, single-stepped)
                            * of the first packet, */
    uint64_t x86_last;     /* of the last (longest chain), */
    uint64_t x86_sum;      /* and of all of them. */
    /* The candidate packet the worst case grew from, and the offsets of
     * its bytes that the program copies into the map key: a uniform
     * workload of the same class randomises those bytes. */
    uint8_t base[CONTRACT_WORST_PKT_MAX];
    uint32_t base_len;
    uint32_t free_off[CONTRACT_WORST_PKT_MAX];
};

/* Builds worst-case packets for verified XDP program 'prog' of 'obj'
 * (opened with a fixed hash seed; its maps are emptied and used as
 * scratch).  When no candidate inserts into a hash-type map, the result
 * is the most expensive single candidate repeated ('map' empty).  Returns
 * 0, or a negative errno with '*errp' allocated. */
int contract_worst_build(struct bpf_object *obj, struct bpf_prog *prog,
                         const struct contract_worst_opts *,
                         struct contract_worst *out, char **errp);
void contract_worst_free(struct contract_worst *);

/* Fills 'pkts' (n) with the uniform workload of the same class: the base
 * packet with its key bytes (free_off, key_bytes_free of them) drawn
 * uniformly at random from 'seed', 1 us apart. */
void contract_worst_uniform(const struct contract_worst *, uint64_t seed,
                            struct contract_worst_pkt *pkts, size_t n);

/* Writes the packets to a classic pcap file (microsecond timestamps,
 * Ethernet link type).  Returns 0 or -errno. */
int contract_worst_write_pcap(const struct contract_worst *, const char *path);

#endif /* CONTRACT_WORST_H */
