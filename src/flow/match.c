/* Matches: a pre-masked key and its mask, compared word by word.
 *
 * Every function treats struct flow_key as FLOW_KEY_WORDS 64-bit words, so
 * no code here knows about individual fields: adding a field to the key
 * needs no change in this file. */
#include "match.h"

#include <string.h>

static inline match_word *
match_words_rw_(struct flow_key *k)
{
    return (match_word *)(void *)k;
}

void
match_init_catchall(struct match *m)
{
    memset(m, 0, sizeof *m);
}

void
match_normalize(struct match *m)
{
    match_word *k = match_words_rw_(&m->key);
    const match_word *mask = match_key_words(&m->mask);

    for (size_t i = 0; i < FLOW_KEY_WORDS; i++) {
        k[i] &= mask[i];
    }
}

bool
match_matches(const struct match *m, const struct flow_key *key)
{
    const match_word *mk = match_key_words(&m->key);
    const match_word *mask = match_key_words(&m->mask);
    const match_word *k = match_key_words(key);
    uint64_t diff = 0;

    for (size_t i = 0; i < FLOW_KEY_WORDS; i++) {
        diff |= (k[i] & mask[i]) ^ mk[i];
    }
    return diff == 0;
}

bool
match_equal(const struct match *a, const struct match *b)
{
    return !memcmp(&a->mask, &b->mask, sizeof a->mask) &&
           !memcmp(&a->key, &b->key, sizeof a->key);
}

bool
match_covers(const struct match *wide, const struct match *narrow)
{
    const match_word *wk = match_key_words(&wide->key);
    const match_word *wm = match_key_words(&wide->mask);
    const match_word *nk = match_key_words(&narrow->key);
    const match_word *nm = match_key_words(&narrow->mask);

    for (size_t i = 0; i < FLOW_KEY_WORDS; i++) {
        /* Wide may only care about bits narrow also fixes, and on those
         * bits the two must agree. */
        if ((wm[i] & ~nm[i]) || ((nk[i] & wm[i]) ^ wk[i])) {
            return false;
        }
    }
    return true;
}
