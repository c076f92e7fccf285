/* Tuple space search classifier; the design is explained in classifier.h.
 *
 * Layout: the classifier keeps an array of subtables sorted by their
 * maximum rule priority, highest first.  A subtable records which words of
 * its mask are non-zero, so hashing and comparing a key touch only those
 * words (a mask on in_port and nw_dst reads two of eleven words).  Its hash
 * table is an array of bucket chains, a power of two in size, doubled when
 * the load passes one entry per bucket. */
#include "classifier.h"

#include <stdlib.h>
#include <string.h>

#include "core/compiler.h"
#include "core/hash.h"
#include "core/util.h"

/* Words that may alias the key's narrower fields (match.h). */
typedef match_word cls_word;

#define CLS_MIN_BUCKETS 8

struct cls_entry {
    struct flow_key key;           /* Masked key shared by 'rules'. */
    uint32_t hash;                 /* Hash of 'key' under the subtable. */
    struct cls_entry *hnext;       /* Next in the same bucket. */
    struct cls_rule *rules;        /* Rules with this match, rank order. */
    struct cls_subtable *subtable; /* Owner. */
};

struct cls_subtable {
    struct flow_key mask;          /* Mask shared by every rule here. */
    uint8_t words[FLOW_KEY_WORDS]; /* Indexes of the mask's non-zero words. */
    size_t n_words;                /* Entries used in 'words'. */
    struct cls_entry **buckets;    /* Bucket chains. */
    size_t bucket_mask;            /* Bucket count minus one. */
    size_t n_entries;              /* Distinct masked keys. */
    size_t n_rules;                /* Rules in all entries. */
    unsigned int max_priority;     /* Highest rule priority here. */
    size_t n_max;                  /* Rules at 'max_priority'. */
    size_t index;                  /* Position in the classifier's array. */
};

struct classifier {
    struct cls_subtable **subtables; /* Sorted by max_priority, descending. */
    size_t n_subtables;              /* Entries used in 'subtables'. */
    size_t cap;                      /* Entries allocated. */
    size_t n_rules;                  /* Rules inserted. */
    uint64_t next_seq;               /* Rank tie-break of the next insert. */
};

static inline const cls_word *
cls_words_(const struct flow_key *k)
{
    return (const cls_word *)(const void *)k;
}

/* Hashes the key's words under the subtable's mask.  Each word gets its
 * own multiply, and the products are combined by addition after a
 * rotation by the word's position, so the multiplies of a key's words
 * overlap instead of forming one chain (a lookup hashes the key once per
 * subtable it probes, so this is most of a miss's cost); the 64-bit
 * Murmur3 finaliser then mixes the sum.  The flow cache's subtables hash
 * the same way (fc_subtable_hash()); each keeps its own copy of the loop,
 * inlined into its lookup, because a shared inline changed the register
 * allocation around it and cost the flow cache's fast path two
 * instructions a packet. */
static inline uint32_t
subtable_hash(const struct cls_subtable *st, const struct flow_key *key)
{
    const cls_word *k = cls_words_(key);
    const cls_word *m = cls_words_(&st->mask);
    uint64_t hash = 0x5e7c1a55u;

    if (!st->n_words) {
        return 0; /* A catch-all mask: every key is the same masked key. */
    }
    for (size_t i = 0; i < st->n_words; i++) {
        size_t w = st->words[i];
        uint64_t x = ((k[w] & m[w]) ^ (w << 56)) * UINT64_C(0x9e3779b97f4a7c15);
        hash += (x << (w * 5 % 64)) | (x >> (64 - w * 5 % 64) % 64);
    }
    return hash_finish64(hash);
}

/* Finds the entry for 'key' (masked here), whose hash is 'hash'. */
static inline struct cls_entry *
subtable_find(const struct cls_subtable *st, const struct flow_key *key,
              uint32_t hash)
{
    const cls_word *k = cls_words_(key);
    const cls_word *m = cls_words_(&st->mask);

    for (struct cls_entry *e = st->buckets[hash & st->bucket_mask]; e;
         e = e->hnext) {
        if (e->hash != hash) {
            continue;
        }
        const cls_word *ek = cls_words_(&e->key);
        uint64_t diff = 0;
        for (size_t i = 0; i < st->n_words; i++) {
            size_t w = st->words[i];
            diff |= (k[w] & m[w]) ^ ek[w];
        }
        if (!diff) {
            return e;
        }
    }
    return NULL;
}

struct classifier *
cls_create(void)
{
    return xzalloc(sizeof(struct classifier));
}

static void
subtable_destroy(struct cls_subtable *st)
{
    for (size_t b = 0; b <= st->bucket_mask; b++) {
        struct cls_entry *e = st->buckets[b];
        while (e) {
            struct cls_entry *next = e->hnext;
            free(e);
            e = next;
        }
    }
    free(st->buckets);
    free(st);
}

void
cls_destroy(struct classifier *cls)
{
    if (!cls) {
        return;
    }
    for (size_t i = 0; i < cls->n_subtables; i++) {
        subtable_destroy(cls->subtables[i]);
    }
    free(cls->subtables);
    free(cls);
}

/* Moves subtable 'st' to its place in the priority order after its maximum
 * changed, shifting its neighbours. */
static void
cls_resort(struct classifier *cls, struct cls_subtable *st)
{
    size_t i = st->index;

    while (i > 0 && cls->subtables[i - 1]->max_priority < st->max_priority) {
        cls->subtables[i] = cls->subtables[i - 1];
        cls->subtables[i]->index = i;
        i--;
    }
    while (i + 1 < cls->n_subtables &&
           cls->subtables[i + 1]->max_priority > st->max_priority) {
        cls->subtables[i] = cls->subtables[i + 1];
        cls->subtables[i]->index = i;
        i++;
    }
    cls->subtables[i] = st;
    st->index = i;
}

static struct cls_subtable *
cls_find_subtable(const struct classifier *cls, const struct flow_key *mask)
{
    for (size_t i = 0; i < cls->n_subtables; i++) {
        struct cls_subtable *st = cls->subtables[i];
        if (!memcmp(&st->mask, mask, sizeof *mask)) {
            return st;
        }
    }
    return NULL;
}

static struct cls_subtable *
cls_create_subtable(struct classifier *cls, const struct flow_key *mask,
                    unsigned int priority)
{
    struct cls_subtable *st = xzalloc(sizeof *st);
    const cls_word *m = cls_words_(mask);

    st->mask = *mask;
    for (size_t w = 0; w < FLOW_KEY_WORDS; w++) {
        if (m[w]) {
            st->words[st->n_words++] = (uint8_t)w;
        }
    }
    st->bucket_mask = CLS_MIN_BUCKETS - 1;
    st->buckets = xcalloc(CLS_MIN_BUCKETS, sizeof *st->buckets);
    st->max_priority = priority;

    if (cls->n_subtables == cls->cap) {
        cls->cap = cls->cap ? cls->cap * 2 : 8;
        cls->subtables =
            xrealloc(cls->subtables, cls->cap * sizeof *cls->subtables);
    }
    st->index = cls->n_subtables;
    cls->subtables[cls->n_subtables++] = st;
    cls_resort(cls, st);
    return st;
}

static void
subtable_grow(struct cls_subtable *st)
{
    size_t n = (st->bucket_mask + 1) * 2;
    struct cls_entry **buckets = xcalloc(n, sizeof *buckets);

    for (size_t b = 0; b <= st->bucket_mask; b++) {
        struct cls_entry *e = st->buckets[b];
        while (e) {
            struct cls_entry *next = e->hnext;
            e->hnext = buckets[e->hash & (n - 1)];
            buckets[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    free(st->buckets);
    st->buckets = buckets;
    st->bucket_mask = n - 1;
}

void
cls_insert(struct classifier *cls, struct cls_rule *rule)
{
    struct cls_subtable *st = cls_find_subtable(cls, &rule->match.mask);

    rule->seq = cls->next_seq++;
    if (!st) {
        st = cls_create_subtable(cls, &rule->match.mask, rule->priority);
    }

    uint32_t hash = subtable_hash(st, &rule->match.key);
    struct cls_entry *e = subtable_find(st, &rule->match.key, hash);
    if (!e) {
        if (st->n_entries > st->bucket_mask) {
            subtable_grow(st);
        }
        e = xzalloc(sizeof *e);
        e->key = rule->match.key;
        e->hash = hash;
        e->subtable = st;
        e->hnext = st->buckets[hash & st->bucket_mask];
        st->buckets[hash & st->bucket_mask] = e;
        st->n_entries++;
    }

    /* The new rule is the newest, so it goes after every rule of the same
     * or higher priority. */
    struct cls_rule **pos = &e->rules;
    while (*pos && (*pos)->priority >= rule->priority) {
        pos = &(*pos)->next;
    }
    rule->next = *pos;
    *pos = rule;
    rule->entry = e;

    if (st->n_rules == 0 || rule->priority > st->max_priority) {
        st->max_priority = rule->priority;
        st->n_max = 1;
        cls_resort(cls, st);
    } else if (rule->priority == st->max_priority) {
        st->n_max++;
    }
    st->n_rules++;
    cls->n_rules++;
}

/* Recomputes a subtable's maximum priority and how many rules have it,
 * after the last rule at the old maximum left.  Each entry's first rule is
 * its highest. */
static void
subtable_rescan_max(struct cls_subtable *st)
{
    unsigned int max = 0;
    size_t n_max = 0;

    for (size_t b = 0; b <= st->bucket_mask; b++) {
        for (struct cls_entry *e = st->buckets[b]; e; e = e->hnext) {
            if (e->rules->priority > max || n_max == 0) {
                max = e->rules->priority;
                n_max = 0;
            }
            if (e->rules->priority == max) {
                for (const struct cls_rule *r = e->rules;
                     r && r->priority == max; r = r->next) {
                    n_max++;
                }
            }
        }
    }
    st->max_priority = max;
    st->n_max = n_max;
}

void
cls_remove(struct classifier *cls, struct cls_rule *rule)
{
    struct cls_entry *e = rule->entry;
    struct cls_subtable *st = e->subtable;
    struct cls_rule **pos = &e->rules;

    while (*pos != rule) {
        pos = &(*pos)->next;
    }
    *pos = rule->next;
    rule->next = NULL;
    rule->entry = NULL;
    cls->n_rules--;
    st->n_rules--;

    if (!e->rules) {
        struct cls_entry **ep = &st->buckets[e->hash & st->bucket_mask];
        while (*ep != e) {
            ep = &(*ep)->hnext;
        }
        *ep = e->hnext;
        free(e);
        st->n_entries--;
    }

    if (st->n_rules == 0) {
        for (size_t i = st->index; i + 1 < cls->n_subtables; i++) {
            cls->subtables[i] = cls->subtables[i + 1];
            cls->subtables[i]->index = i;
        }
        cls->n_subtables--;
        subtable_destroy(st);
    } else if (rule->priority == st->max_priority && --st->n_max == 0) {
        subtable_rescan_max(st);
        cls_resort(cls, st);
    }
}

void
cls_replace(struct classifier *cls, struct cls_rule *old, struct cls_rule *new_)
{
    struct cls_rule **pos = &old->entry->rules;

    while (*pos != old) {
        pos = &(*pos)->next;
    }
    new_->seq = old->seq;
    new_->entry = old->entry;
    new_->next = old->next;
    *pos = new_;
    old->next = NULL;
    old->entry = NULL;
}

/* ORs the mask of 'st' into 'wc', word by word over the mask's non-zero
 * words. */
static inline void
subtable_unwildcard(const struct cls_subtable *st, struct flow_key *wc)
{
    cls_word *w = (cls_word *)(void *)wc;
    const cls_word *m = cls_words_(&st->mask);

    for (size_t i = 0; i < st->n_words; i++) {
        w[st->words[i]] |= m[st->words[i]];
    }
}

/* The body of every single-key lookup; 'n_probes', if nonnull, counts the
 * subtables probed (the compiler drops the count where it is NULL), and
 * 'wc', if nonnull, gets the masks of the probed subtables ORed in. */
static inline const struct cls_rule *
cls_lookup__(const struct classifier *cls, const struct flow_key *key,
             const struct cls_rule *bound, size_t *n_probes,
             struct flow_key *wc)
{
    const struct cls_rule *best = NULL;

    for (size_t i = 0; i < cls->n_subtables; i++) {
        const struct cls_subtable *st = cls->subtables[i];

        if (best && st->max_priority < best->priority) {
            break; /* Nothing from here on can beat 'best'. */
        }
        if (n_probes) {
            (*n_probes)++;
        }
        if (wc) {
            subtable_unwildcard(st, wc);
        }
        const struct cls_entry *e =
            subtable_find(st, key, subtable_hash(st, key));
        if (!e) {
            continue;
        }
        const struct cls_rule *r = e->rules;
        if (bound) {
            while (r && !cls_rule_beats(bound, r)) {
                r = r->next;
            }
        }
        if (r && (!best || cls_rule_beats(r, best))) {
            best = r;
        }
    }
    return best;
}

const struct cls_rule *
cls_lookup_below(const struct classifier *cls, const struct flow_key *key,
                 const struct cls_rule *bound)
{
    return cls_lookup__(cls, key, bound, NULL, NULL);
}

const struct cls_rule *
cls_lookup_below_wc(const struct classifier *cls, const struct flow_key *key,
                    const struct cls_rule *bound, struct flow_key *wc)
{
    return cls_lookup__(cls, key, bound, NULL, wc);
}

const struct cls_rule *
cls_lookup_probes(const struct classifier *cls, const struct flow_key *key,
                  size_t *n_probes)
{
    *n_probes = 0;
    return cls_lookup__(cls, key, NULL, n_probes, NULL);
}

const struct cls_rule *
cls_lookup(const struct classifier *cls, const struct flow_key *key)
{
    return cls_lookup__(cls, key, NULL, NULL, NULL);
}

const struct cls_rule *
cls_lookup_filtered(const struct classifier *cls, const struct flow_key *key,
                    cls_pred_cb *pred, void *aux)
{
    const struct cls_rule *r = cls_lookup_below(cls, key, NULL);

    while (r && !pred(r, aux)) {
        r = cls_lookup_below(cls, key, r);
    }
    return r;
}

/* The body of the batch lookups.  'wcs', if nonnull, gets per key the
 * masks of the subtables it probed. */
static inline void
cls_lookup_batch__(const struct classifier *cls,
                   const struct flow_key *const *keys, size_t n,
                   const struct cls_rule **out, struct flow_key *wcs)
{
    uint32_t hashes[32];
    uint32_t pending;

    n = MIN(n, 32);
    pending = n == 32 ? UINT32_MAX : (UINT32_C(1) << n) - 1;
    for (size_t i = 0; i < n; i++) {
        out[i] = NULL;
    }

    for (size_t s = 0; s < cls->n_subtables && pending; s++) {
        const struct cls_subtable *st = cls->subtables[s];

        /* Hash every undecided key first and prefetch its bucket, so the
         * probes below find the chains in cache. */
        for (uint32_t left = pending; left; left &= left - 1) {
            size_t i = (size_t)__builtin_ctz(left);
            if (out[i] && st->max_priority < out[i]->priority) {
                pending &= ~(UINT32_C(1) << i);
                continue;
            }
            if (wcs) {
                subtable_unwildcard(st, &wcs[i]);
            }
            hashes[i] = subtable_hash(st, keys[i]);
            __builtin_prefetch(&st->buckets[hashes[i] & st->bucket_mask]);
        }
        for (uint32_t left = pending; left; left &= left - 1) {
            size_t i = (size_t)__builtin_ctz(left);
            const struct cls_entry *e = subtable_find(st, keys[i], hashes[i]);
            if (e && (!out[i] || cls_rule_beats(e->rules, out[i]))) {
                out[i] = e->rules;
            }
        }
    }
}

void
cls_lookup_batch(const struct classifier *cls,
                 const struct flow_key *const *keys, size_t n,
                 const struct cls_rule **out)
{
    cls_lookup_batch__(cls, keys, n, out, NULL);
}

void
cls_lookup_batch_wc(const struct classifier *cls,
                    const struct flow_key *const *keys, size_t n,
                    const struct cls_rule **out, struct flow_key *wcs)
{
    cls_lookup_batch__(cls, keys, n, out, wcs);
}

struct cls_rule *
cls_find_exact(const struct classifier *cls, const struct match *match,
               unsigned int priority)
{
    struct cls_subtable *st = cls_find_subtable(cls, &match->mask);

    if (!st) {
        return NULL;
    }
    struct cls_entry *e =
        subtable_find(st, &match->key, subtable_hash(st, &match->key));
    for (struct cls_rule *r = e ? e->rules : NULL; r; r = r->next) {
        if (r->priority == priority) {
            return r;
        }
    }
    return NULL;
}

size_t
cls_count(const struct classifier *cls)
{
    return cls->n_rules;
}

size_t
cls_n_subtables(const struct classifier *cls)
{
    return cls->n_subtables;
}

static int
cls_rank_cmp(const void *a_, const void *b_)
{
    const struct cls_rule *a = *(const struct cls_rule *const *)a_;
    const struct cls_rule *b = *(const struct cls_rule *const *)b_;

    return cls_rule_beats(a, b) ? -1 : cls_rule_beats(b, a) ? 1 : 0;
}

struct cls_rule **
cls_rules(const struct classifier *cls, size_t *n)
{
    struct cls_rule **rules = xmalloc((cls->n_rules + 1) * sizeof *rules);
    size_t k = 0;

    for (size_t i = 0; i < cls->n_subtables; i++) {
        const struct cls_subtable *st = cls->subtables[i];
        for (size_t b = 0; b <= st->bucket_mask; b++) {
            for (struct cls_entry *e = st->buckets[b]; e; e = e->hnext) {
                for (struct cls_rule *r = e->rules; r; r = r->next) {
                    rules[k++] = r;
                }
            }
        }
    }
    qsort(rules, k, sizeof *rules, cls_rank_cmp);
    *n = k;
    return rules;
}

/* True if every bit set in 'a' is set in 'b'. */
static bool
mask_subset(const struct flow_key *a, const struct flow_key *b)
{
    const cls_word *aw = cls_words_(a);
    const cls_word *bw = cls_words_(b);

    for (size_t w = 0; w < FLOW_KEY_WORDS; w++) {
        if (aw[w] & ~bw[w]) {
            return false;
        }
    }
    return true;
}

static size_t
entry_append_rules(const struct cls_entry *e, struct cls_rule **rules, size_t k)
{
    for (struct cls_rule *r = e->rules; r; r = r->next) {
        rules[k++] = r;
    }
    return k;
}

struct cls_rule **
cls_rules_covered(const struct classifier *cls, const struct match *wide,
                  size_t *n)
{
    struct cls_rule **rules = xmalloc((cls->n_rules + 1) * sizeof *rules);
    const cls_word *wk = cls_words_(&wide->key);
    const cls_word *wm = cls_words_(&wide->mask);
    size_t k = 0;

    for (size_t i = 0; i < cls->n_subtables; i++) {
        const struct cls_subtable *st = cls->subtables[i];

        /* A subtable ignoring a bit 'wide' fixes holds no covered rule;
         * one with exactly wide's mask holds them in a single entry. */
        if (!mask_subset(&wide->mask, &st->mask)) {
            continue;
        }
        if (!memcmp(&wide->mask, &st->mask, sizeof st->mask)) {
            const struct cls_entry *e =
                subtable_find(st, &wide->key, subtable_hash(st, &wide->key));
            if (e) {
                k = entry_append_rules(e, rules, k);
            }
            continue;
        }
        for (size_t b = 0; b <= st->bucket_mask; b++) {
            for (struct cls_entry *e = st->buckets[b]; e; e = e->hnext) {
                const cls_word *ek = cls_words_(&e->key);
                uint64_t diff = 0;
                for (size_t w = 0; w < FLOW_KEY_WORDS; w++) {
                    diff |= (ek[w] & wm[w]) ^ wk[w];
                }
                if (!diff) {
                    k = entry_append_rules(e, rules, k);
                }
            }
        }
    }
    *n = k;
    return rules;
}
