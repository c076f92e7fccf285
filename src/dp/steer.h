/* Flow steering: which datapath thread processes a packet.
 *
 * The live switch runs N datapath threads that share the loaded programs'
 * maps.  If two threads handled packets that touch the same entry of
 * mutable state (a firewall's connection, a NAT binding), they would race
 * on it.  So packets are steered by a hash of exactly the packet fields
 * that index all updateable state (state_steering(), src/state): packets
 * that can meet the same entry have equal values of those fields, hence
 * the same hash, hence the same thread.  Hashing a subset of the fields is
 * always safe too (coarser), so fields the flow key does not carry (packet
 * length, payload bytes) are simply left out.
 *
 * A symmetric spec hashes each source/destination pair (dl, nw/arp_spa-tpa,
 * ipv6, tp) as an unordered pair: it mixes a ^ b and a + b, so both
 * directions of a connection land on one thread.  A pair is then used only
 * when both of its fields are in the spec, since hashing one side alone
 * would not be symmetric.
 *
 * steer_init() turns the spec into a short list of masked 64-bit loads
 * from the flow key; steer_hash() is then a loop over that list with no
 * per-field branches (the 5-tuple is 3 loads). */
#ifndef DP_STEER_H
#define DP_STEER_H 1

#include <stdbool.h>
#include <stdint.h>

#include "pkt/flow_key.h"
#include "state/state.h"

/* At most one load per flow-key word, plus the pair words. */
#define STEER_MAX_WORDS FLOW_KEY_WORDS
#define STEER_MAX_PAIRS 5

struct steer_pair {
    uint16_t ofs_a; /* Source side's load, bytes into key. */
    uint16_t ofs_b; /* Destination side's load. */
    uint64_t mask;  /* Bits of the 64-bit loads that count. */
};

struct steer {
    struct state_steering spec;        /* What it was built from (copied). */
    uint64_t used;                     /* Spec fields actually hashed (bits of
                                        * enum state_field). */
    uint64_t sym;                      /* ~0 when symmetric, else 0. */
    uint32_t hash_mask;                /* 0 when steering to one thread. */
    unsigned int n_words;              /* Entries in 'word_idx'/'word_mask'. */
    uint8_t word_idx[STEER_MAX_WORDS]; /* Flow-key words hashed. */
    uint64_t word_mask[STEER_MAX_WORDS]; /* Their masks. */
    unsigned int n_pairs;                /* Entries in 'pairs'. */
    struct steer_pair pairs[STEER_MAX_PAIRS];
};

/* Builds the hash for 'spec' (copied into 's').  A 'single' spec, or one
 * whose fields the flow key does not carry at all, steers everything to
 * thread 0. */
void steer_init(struct steer *s, const struct state_steering *spec);

/* The default with no programs: the symmetric 5-tuple. */
void steer_default_spec(struct state_steering *spec);

/* Hash of the steering fields of 'key'; 0 for a single-thread spec. */
static inline uint32_t
steer_hash(const struct steer *s, const struct flow_key *key)
{
    const uint8_t *b = (const uint8_t *)key;
    uint64_t h = 0x9e3779b97f4a7c15ull;

    for (unsigned int i = 0; i < s->n_words; i++) {
        uint64_t w;

        __builtin_memcpy(&w, b + s->word_idx[i] * 8u, 8);
        h = (h ^ (w & s->word_mask[i])) * 0xff51afd7ed558ccdull;
        h ^= h >> 29;
    }
    for (unsigned int i = 0; i < s->n_pairs; i++) {
        const struct steer_pair *p = &s->pairs[i];
        uint64_t x, y;

        __builtin_memcpy(&x, b + p->ofs_a, 8);
        __builtin_memcpy(&y, b + p->ofs_b, 8);
        x &= p->mask;
        y &= p->mask;
        /* Symmetric: (a ^ b, a + b); otherwise (a, b). */
        h = (h ^ (x ^ (y & s->sym))) * 0xff51afd7ed558ccdull;
        h ^= h >> 29;
        h = (h ^ (y + (x & s->sym))) * 0xc4ceb9fe1a85ec53ull;
        h ^= h >> 29;
    }
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return (uint32_t)h & s->hash_mask;
}

/* The thread (0..n_threads-1) of a packet with 'key'. */
static inline unsigned int
steer_thread(const struct steer *s, const struct flow_key *key,
             unsigned int n_threads)
{
    return (unsigned int)(((uint64_t)steer_hash(s, key) * n_threads) >> 32);
}

#endif
