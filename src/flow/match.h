/* A match: a flow key plus a mask of the same layout.  A packet key K
 * matches when (K & mask) == (match.key & mask) word by word; match.key is
 * always stored pre-masked (key & mask == key) so compares are one AND and
 * one XOR per word. */
#ifndef FLOW_MATCH_H
#define FLOW_MATCH_H 1

#include <stdbool.h>
#include <stdint.h>

#include "pkt/flow_key.h"

struct match {
    struct flow_key key;    /* Values, already ANDed with 'mask'. */
    struct flow_key mask;   /* 1 bits are significant. */
};

/* A key's 64-bit words, read through a type that may alias its narrower
 * fields.  struct flow_key only guarantees the 4-byte alignment of its
 * members, so the words are declared 4-byte aligned (x86-64 and arm64
 * load them at full speed anyway). */
typedef uint64_t __attribute__((may_alias, aligned(4))) match_word;

static inline const match_word *
match_key_words(const struct flow_key *k)
{
    return (const match_word *)(const void *)k;
}

void match_init_catchall(struct match *);
/* Re-applies the mask to the key (after editing either). */
void match_normalize(struct match *);
bool match_matches(const struct match *, const struct flow_key *);
bool match_equal(const struct match *, const struct match *);
/* True if every packet 'narrow' matches is matched by 'wide' (wide's mask
 * bits are a subset of narrow's and they agree on them): the non-strict
 * selection rule of ovs-ofctl del-flows. */
bool match_covers(const struct match *wide, const struct match *narrow);

#endif
