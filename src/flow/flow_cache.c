/* The datapath flow cache; the design is explained in flow_cache.h.
 *
 * Memory: a flow is allocated when the slow path records a walk (a cache
 * miss, never a hit) and freed by a sweep after it died.  The EMC is one
 * array of FC_EMC_SIZE slots allocated with the cache; a slot names its
 * flow by pointer, so a dead flow stays allocated until fc_sweep() has
 * cleared every slot naming it.  Sweeps run where no packet holds a flow:
 * before a batch (fc_collect()) and at the end of an invalidation. */
#include "flow_cache.h"

#include <stdlib.h>
#include <string.h>

#include "core/compiler.h"
#include "core/hash.h"
#include "core/util.h"

/* Dead flows that trigger a sweep at the next batch. */
#define FC_SWEEP_AT 1024

/* Words that may alias the key's narrower fields (match.h). */
typedef match_word fc_word;

struct fc_emc_slot {
    struct flow_key key;  /* Full key of the packet that filled it. */
    struct fc_flow *flow; /* Its flow, or NULL if the slot is free. */
    uint32_t hash;        /* Parser hash of 'key'. */
};

/* A megaflow subtable: the flows of one mask, hashed by masked key. */
struct fc_subtable {
    struct flow_key mask;          /* Mask of every flow here. */
    uint8_t words[FLOW_KEY_WORDS]; /* Indexes of the non-zero mask words. */
    size_t n_words;                /* Entries used in 'words'. */
    struct fc_flow **buckets;      /* Bucket chains. */
    size_t bucket_mask;            /* Bucket count minus one. */
    size_t n_flows;                /* Flows here. */
    uint64_t hits;                 /* Lookups it decided, for ordering. */
    /* Run detection in fc_megaflow_lookup(): compares in this window,
     * those that found a run, and whether every key is compared. */
    uint32_t run_tried;
    uint32_t run_found;
    bool runs_on;
};

#define FC_MIN_BUCKETS 8
#define FC_MAX_SUBTABLES 1024 /* Masks kept; flows of more are not cached. */

struct flow_cache {
    struct fc_subtable **subtables; /* Megaflow layer, busiest first. */
    size_t n_subtables;             /* Entries used in 'subtables'. */
    struct fc_flow *live;           /* Live flows, most recent first. */
    struct fc_flow *dead;           /* Dead flows awaiting a sweep. */
    size_t n_dead;                  /* Entries in 'dead'. */
    struct fc_emc_slot *emc;        /* FC_EMC_SIZE slots. */
    bool emc_used;                  /* Some slot may be non-free. */
    bool emc_on;           /* The EMC is consulted (fc_emc_wanted()). */
    uint32_t win_keys;     /* Megaflow lookups in this window. */
    uint32_t win_probes;   /* Subtables they probed. */
    struct fc_stats stats; /* Counters. */
};

static const fc_word *
fc_words(const struct flow_key *k)
{
    return (const fc_word *)(const void *)k;
}

/* The subtable hash of the classifier (subtable_hash() in classifier.c,
 * which says why each keeps its own copy). */
static inline uint32_t
fc_subtable_hash(const struct fc_subtable *st, const struct flow_key *key)
{
    const fc_word *k = fc_words(key);
    const fc_word *m = fc_words(&st->mask);
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

/* The flow of 'st' whose masked key equals 'key' under st's mask. */
static inline struct fc_flow *
fc_subtable_find(const struct fc_subtable *st, const struct flow_key *key,
                 uint32_t hash)
{
    const fc_word *k = fc_words(key);
    const fc_word *m = fc_words(&st->mask);

    for (struct fc_flow *f = st->buckets[hash & st->bucket_mask]; f;
         f = f->hnext) {
        if (f->hash != hash) {
            continue;
        }
        uint64_t diff = 0;
        for (size_t i = 0; i < st->n_words; i++) {
            size_t w = st->words[i];
            diff |= (k[w] & m[w]) ^ f->mwords[i];
        }
        if (!diff) {
            return f;
        }
    }
    return NULL;
}

/* True if 'a' and 'b' are equal under st's mask. */
static inline bool
fc_masked_equal(const struct fc_subtable *st, const struct flow_key *a,
                const struct flow_key *b)
{
    const fc_word *ka = fc_words(a);
    const fc_word *kb = fc_words(b);
    const fc_word *m = fc_words(&st->mask);
    uint64_t diff = 0;

    for (size_t i = 0; i < st->n_words; i++) {
        size_t w = st->words[i];
        diff |= (ka[w] ^ kb[w]) & m[w];
    }
    return !diff;
}

static struct fc_subtable *
fc_subtable_get(struct flow_cache *fc, const struct flow_key *mask)
{
    for (size_t i = 0; i < fc->n_subtables; i++) {
        if (!memcmp(&fc->subtables[i]->mask, mask, sizeof *mask)) {
            return fc->subtables[i];
        }
    }
    if (fc->n_subtables == FC_MAX_SUBTABLES) {
        return NULL;
    }

    struct fc_subtable *st = xzalloc_lines(sizeof *st);
    const fc_word *m = fc_words(mask);

    st->mask = *mask;
    st->runs_on = true;
    for (size_t w = 0; w < FLOW_KEY_WORDS; w++) {
        if (m[w]) {
            st->words[st->n_words++] = (uint8_t)w;
        }
    }
    st->bucket_mask = FC_MIN_BUCKETS - 1;
    st->buckets = xcalloc(FC_MIN_BUCKETS, sizeof *st->buckets);
    fc->subtables =
        xrealloc(fc->subtables, (fc->n_subtables + 1) * sizeof *fc->subtables);
    fc->subtables[fc->n_subtables++] = st;
    return st;
}

static void
fc_subtable_grow(struct fc_subtable *st)
{
    size_t n = (st->bucket_mask + 1) * 2;
    struct fc_flow **buckets = xcalloc(n, sizeof *buckets);

    for (size_t b = 0; b <= st->bucket_mask; b++) {
        struct fc_flow *f = st->buckets[b];
        while (f) {
            struct fc_flow *next = f->hnext;
            f->hnext = buckets[f->hash & (n - 1)];
            buckets[f->hash & (n - 1)] = f;
            f = next;
        }
    }
    free(st->buckets);
    st->buckets = buckets;
    st->bucket_mask = n - 1;
}

/* Files 'flow', found by the keys that equal 'key' under st's mask. */
static void
fc_subtable_insert(struct fc_subtable *st, struct fc_flow *flow,
                   const struct flow_key *key)
{
    const fc_word *k = fc_words(key);
    const fc_word *m = fc_words(&st->mask);

    if (st->n_flows > st->bucket_mask) {
        fc_subtable_grow(st);
    }
    for (size_t i = 0; i < st->n_words; i++) {
        flow->mwords[i] = k[st->words[i]] & m[st->words[i]];
    }
    flow->subtable = st;
    flow->hash = fc_subtable_hash(st, key);
    flow->hnext = st->buckets[flow->hash & st->bucket_mask];
    st->buckets[flow->hash & st->bucket_mask] = flow;
    st->n_flows++;
}

/* Takes 'flow' out of its subtable, freeing the subtable if it empties. */
static void
fc_subtable_remove(struct flow_cache *fc, struct fc_flow *flow)
{
    struct fc_subtable *st = flow->subtable;
    struct fc_flow **pos = &st->buckets[flow->hash & st->bucket_mask];

    while (*pos != flow) {
        pos = &(*pos)->hnext;
    }
    *pos = flow->hnext;
    flow->subtable = NULL;
    if (--st->n_flows) {
        return;
    }
    for (size_t i = 0; i < fc->n_subtables; i++) {
        if (fc->subtables[i] == st) {
            memmove(&fc->subtables[i], &fc->subtables[i + 1],
                    (fc->n_subtables - i - 1) * sizeof *fc->subtables);
            fc->n_subtables--;
            break;
        }
    }
    free(st->buckets);
    free(st);
}

struct flow_cache *
fc_create(void)
{
    struct flow_cache *fc = xzalloc_lines(sizeof *fc);

    fc->emc = xcalloc(FC_EMC_SIZE, sizeof *fc->emc);
    return fc;
}

static void
fc_free_list(struct fc_flow *flow)
{
    while (flow) {
        struct fc_flow *next = flow->next;
        free(flow);
        flow = next;
    }
}

void
fc_destroy(struct flow_cache *fc)
{
    if (!fc) {
        return;
    }
    fc_free_list(fc->live);
    fc_free_list(fc->dead);
    for (size_t i = 0; i < fc->n_subtables; i++) {
        free(fc->subtables[i]->buckets);
        free(fc->subtables[i]);
    }
    free(fc->subtables);
    free(fc->emc);
    free(fc);
}

/* Clears the EMC slots that name dead flows, then frees those flows. */
static void
fc_sweep(struct flow_cache *fc)
{
    if (!fc->dead) {
        return;
    }
    if (fc->emc_used) {
        for (size_t i = 0; i < FC_EMC_SIZE; i++) {
            if (fc->emc[i].flow && fc->emc[i].flow->dead) {
                fc->emc[i].flow = NULL;
            }
        }
    }
    fc_free_list(fc->dead);
    fc->dead = NULL;
    fc->n_dead = 0;
}

void
fc_collect(struct flow_cache *fc)
{
    if (fc->n_dead >= FC_SWEEP_AT) {
        fc_sweep(fc);
    }
}

void
fc_kill(struct flow_cache *fc, struct fc_flow *flow)
{
    if (flow->dead) {
        return;
    }
    flow->dead = true;
    fc_subtable_remove(fc, flow);
    if (flow->prev) {
        flow->prev->next = flow->next;
    } else {
        fc->live = flow->next;
    }
    if (flow->next) {
        flow->next->prev = flow->prev;
    }
    flow->prev = NULL;
    flow->next = fc->dead;
    fc->dead = flow;
    fc->n_dead++;
    fc->stats.n_flows--;
}

/* Megaflow lookups over which the EMC decision is taken. */
#define FC_EMC_WINDOW 4096

/* The EMC earns its keep only when a megaflow lookup probes several masks
 * before it finds a flow: a hit costs the EMC two lines for its slot and
 * then the flow, a first-subtable megaflow hit the bucket and the flow.
 * So it is consulted while the last FC_EMC_WINDOW megaflow lookups probed
 * two subtables or more on average (see flow_cache.h). */
static bool
fc_emc_wanted(const struct flow_cache *fc)
{
    return fc->emc_on && fc->n_subtables >= 2;
}

/* Counts a megaflow lookup of 'n_keys' keys that probed 'n_probes'
 * subtables in all, and decides the EMC's use at the end of a window. */
static void
fc_emc_account(struct flow_cache *fc, uint32_t n_keys, uint32_t n_probes)
{
    fc->win_keys += n_keys;
    fc->win_probes += n_probes;
    if (fc->win_keys >= FC_EMC_WINDOW) {
        fc->emc_on = fc->win_probes >= 2 * fc->win_keys;
        fc->win_keys = 0;
        fc->win_probes = 0;
    }
}

static size_t
fc_emc_index(uint32_t hash, int way)
{
    return (way ? hash >> 16 : hash) & (FC_EMC_SIZE - 1);
}

static bool
fc_emc_slot_matches(const struct fc_emc_slot *s, const struct flow_key *key,
                    uint32_t hash)
{
    if (!s->flow || s->hash != hash) {
        return false;
    }
    const fc_word *a = fc_words(&s->key);
    const fc_word *b = fc_words(key);
    uint64_t diff = 0;

    for (size_t w = 0; w < FLOW_KEY_WORDS; w++) {
        diff |= a[w] ^ b[w];
    }
    return !diff;
}

static struct fc_flow *
fc_emc_find(struct flow_cache *fc, const struct flow_key *key, uint32_t hash)
{
    for (int way = 0; way < 2; way++) {
        struct fc_emc_slot *s = &fc->emc[fc_emc_index(hash, way)];
        if (fc_emc_slot_matches(s, key, hash)) {
            if (s->flow->dead) {
                s->flow = NULL;
                return NULL;
            }
            return s->flow;
        }
    }
    return NULL;
}

static void
fc_emc_insert(struct flow_cache *fc, const struct flow_key *key, uint32_t hash,
              struct fc_flow *flow)
{
    struct fc_emc_slot *s0 = &fc->emc[fc_emc_index(hash, 0)];
    struct fc_emc_slot *s1 = &fc->emc[fc_emc_index(hash, 1)];
    struct fc_emc_slot *s;

    /* A free or dead slot first; else evict the way a hash bit picks, so
     * that two keys fighting over a slot do not always evict each other. */
    if (!s0->flow || s0->flow->dead || fc_emc_slot_matches(s0, key, hash)) {
        s = s0;
    } else if (!s1->flow || s1->flow->dead) {
        s = s1;
    } else {
        s = hash & (1u << 31) ? s1 : s0;
    }
    s->key = *key;
    s->hash = hash;
    s->flow = flow;
    fc->emc_used = true;
}

/* Run detection (fc_megaflow_lookup()): compares per decision, and the
 * share of them that must find a run (one in FC_RUN_SHARE) for every key
 * to be compared.  A compare that fails costs a few instructions per mask
 * word; one that succeeds saves a hash and a probe, ten times that. */
#define FC_RUN_WINDOW 1024
#define FC_RUN_SHARE 8

/* Looks 'n' keys up in the megaflow layer, subtable by subtable: every
 * undecided key is hashed and its bucket prefetched before any is probed.
 * A subtable that decided more keys than the one before it moves up one
 * place.  'key_hashes' are the parser's hashes of the whole keys. */
static void
fc_megaflow_lookup(struct flow_cache *fc, const struct flow_key *const *keys,
                   const uint32_t *key_hashes, size_t n, struct fc_flow **out)
{
    uint32_t hashes[32];
    uint32_t pending = n == 32 ? UINT32_MAX : (UINT32_C(1) << n) - 1;
    uint32_t n_probes = 0;

    for (size_t i = 0; i < n; i++) {
        out[i] = NULL;
    }
    for (size_t s = 0; s < fc->n_subtables && pending; s++) {
        struct fc_subtable *st = fc->subtables[s];

        n_probes += (uint32_t)__builtin_popcount(pending);
        if (!st->n_words) {
            /* A catch-all mask: every key has the same masked key, so one
             * probe answers the whole batch (a flow of one catch-all rule
             * serves every packet this way). */
            struct fc_flow *f =
                fc_subtable_find(st, keys[__builtin_ctz(pending)], 0);
            if (f) {
                for (uint32_t left = pending; left; left &= left - 1) {
                    out[__builtin_ctz(left)] = f;
                }
                st->hits += (uint32_t)__builtin_popcount(pending);
                pending = 0;
            }
        }
        /* A key equal under this mask to the key probed before it (the
         * next packet of a busy flow, or every packet of one port under
         * an in_port-only mask) joins that key's run and takes its answer,
         * without a hash or a probe of its own: comparing the masked
         * words of two keys already in L1 costs less than hashing one.
         * Each run is probed once, by its first key.  Where different
         * flows rarely agree under the mask (an exact-match one), the
         * words are compared only when the parser's hashes of the whole
         * keys agree (the same flow again), and for one key in eight, to
         * notice when runs come back. */
        uint32_t tried = 0, found = 0;
        uint8_t run_head[32];
        uint32_t run_keys[32]; /* Bitmap of the keys of each run. */
        uint32_t decided = 0;
        size_t nr = 0;
        for (uint32_t left = pending; left; left &= left - 1) {
            size_t i = (size_t)__builtin_ctz(left);
            size_t h = nr ? run_head[nr - 1] : 0;
            if (nr && (st->runs_on || key_hashes[i] == key_hashes[h] ||
                       !(i & 7))) {
                tried++;
                if (fc_masked_equal(st, keys[i], keys[h])) {
                    found++;
                    run_keys[nr - 1] |= UINT32_C(1) << i;
                    continue;
                }
            }
            run_head[nr] = (uint8_t)i;
            run_keys[nr++] = UINT32_C(1) << i;
            hashes[i] = fc_subtable_hash(st, keys[i]);
            __builtin_prefetch(&st->buckets[hashes[i] & st->bucket_mask]);
        }
        for (size_t r = 0; r < nr; r++) {
            size_t i = run_head[r];
            struct fc_flow *f = fc_subtable_find(st, keys[i], hashes[i]);

            if (f) {
                __builtin_prefetch(f);
                decided |= run_keys[r];
                for (uint32_t k = run_keys[r]; k; k &= k - 1) {
                    out[__builtin_ctz(k)] = f;
                }
            }
        }
        pending &= ~decided;
        st->hits += (uint32_t)__builtin_popcount(decided);
        st->run_tried += tried;
        st->run_found += found;
        if (st->run_tried >= FC_RUN_WINDOW) {
            st->runs_on = st->run_found * FC_RUN_SHARE >= st->run_tried;
            st->run_tried = 0;
            st->run_found = 0;
        }
        if (s && st->hits > fc->subtables[s - 1]->hits) {
            fc->subtables[s] = fc->subtables[s - 1];
            fc->subtables[s - 1] = st;
        }
    }
    fc_emc_account(fc, (uint32_t)n, n_probes);
}

size_t
fc_lookup_batch(struct flow_cache *fc, const struct flow_key *const *keys,
                const uint32_t *hashes, size_t n, struct fc_flow **out)
{
    const struct flow_key *mkeys[32];
    uint32_t mhashes[32];
    struct fc_flow *found[32];
    size_t idx[32];
    size_t nm = 0, hits = 0;

    n = MIN(n, 32);
    if (!fc_emc_wanted(fc)) {
        /* Straight to the megaflow layer, with nothing to gather. */
        if (!fc->stats.n_flows) {
            memset(out, 0, n * sizeof *out);
            return 0;
        }
        fc_megaflow_lookup(fc, keys, hashes, n, out);
        for (size_t i = 0; i < n; i++) {
            hits += out[i] != NULL;
        }
        fc->stats.megaflow_hits += hits;
        return hits;
    }
    for (size_t i = 0; i < n; i++) {
        out[i] = fc_emc_find(fc, keys[i], hashes[i]);
        if (out[i]) {
            __builtin_prefetch(out[i]);
            fc->stats.emc_hits++;
        } else {
            mkeys[nm] = keys[i];
            mhashes[nm] = hashes[i];
            idx[nm++] = i;
        }
    }
    hits = n - nm;
    if (!nm || !fc->stats.n_flows) {
        return hits;
    }
    fc_megaflow_lookup(fc, mkeys, mhashes, nm, found);
    for (size_t j = 0; j < nm; j++) {
        if (found[j]) {
            size_t i = idx[j];
            out[i] = found[j];
            fc->stats.megaflow_hits++;
            fc_emc_insert(fc, keys[i], hashes[i], out[i]);
            hits++;
        }
    }
    return hits;
}

struct fc_flow *
fc_insert(struct flow_cache *fc, const struct flow_key *key, uint32_t hash,
          const struct fc_record *rec)
{
    if (!rec->n_steps || fc->stats.n_flows >= FC_MAX_FLOWS) {
        return NULL;
    }

    size_t size =
        sizeof(struct fc_flow) + (rec->n_steps - 1) * sizeof(struct fc_step);
    struct flow_key mask;
    fc_word *m = (fc_word *)(void *)&mask;
    struct fc_flow *flow;

    /* The megaflow fixes every bit any lookup of the walk depended on.
     * Bits a later lookup read may have been rewritten by then, so fixing
     * them in the first key can only make the flow narrower, never wrong:
     * each later step checks its own match on replay. */
    memset(&mask, 0, sizeof mask);
    for (size_t s = 0; s < rec->n_steps; s++) {
        const fc_word *sm = fc_words(&rec->steps[s].match.mask);
        for (size_t w = 0; w < FLOW_KEY_WORDS; w++) {
            m[w] |= sm[w];
        }
    }
    struct fc_subtable *st = fc_subtable_get(fc, &mask);
    if (!st) {
        return NULL;
    }

    if (posix_memalign((void **)&flow, 64, size)) {
        abort(); /* Out of memory, as the x*() allocators do. */
    }
    memset(flow, 0, size);
    flow->n_steps = (uint8_t)rec->n_steps;
    flow->hop0 = rec->steps[0].hop;
    flow->match0 = rec->steps[0].match;
    memcpy(flow->rest, rec->steps + 1,
           (rec->n_steps - 1) * sizeof flow->rest[0]);
    fc_subtable_insert(st, flow, key);

    flow->next = fc->live;
    if (fc->live) {
        fc->live->prev = flow;
    }
    fc->live = flow;
    fc->stats.n_flows++;
    if (fc_emc_wanted(fc)) {
        fc_emc_insert(fc, key, hash, flow);
    }
    return flow;
}

/* True if some key matches both 'a' and 'b'. */
static bool
fc_matches_intersect(const struct match *a, const struct match *b)
{
    const fc_word *ak = fc_words(&a->key);
    const fc_word *am = fc_words(&a->mask);
    const fc_word *bk = fc_words(&b->key);
    const fc_word *bm = fc_words(&b->mask);
    uint64_t diff = 0;

    for (size_t w = 0; w < FLOW_KEY_WORDS; w++) {
        diff |= (ak[w] ^ bk[w]) & am[w] & bm[w];
    }
    return !diff;
}

/* True if adding 'rule' to the step's table may change the step's answer:
 * some key of the step's match also matches 'rule', and 'rule' would be
 * asked before the winner.  A new rule ranks below every rule of its
 * priority (cls_insert()), so one of the winner's priority would not be;
 * a replacement keeps its predecessor's rank, and the predecessor's own
 * flows are dropped by fc_invalidate_rules(). */
static bool
fc_step_affected_by_add(const struct fc_hop *hop, const struct match *match,
                        const struct cls_rule *rule)
{
    if (!fc_matches_intersect(match, &rule->match)) {
        return false;
    }
    return !hop->hit || rule->priority > hop->cands[hop->n_cands - 1]->priority;
}

size_t
fc_invalidate_add(struct flow_cache *fc, unsigned int table,
                  const struct cls_rule *rule)
{
    size_t n = 0;

    for (struct fc_flow *f = fc->live, *next; f; f = next) {
        next = f->next;
        for (size_t s = 0; s < f->n_steps; s++) {
            const struct fc_hop *hop = fc_flow_hop(f, s);
            if (hop->table == table &&
                fc_step_affected_by_add(hop, fc_flow_match(f, s), rule)) {
                fc_kill(fc, f);
                n++;
                break;
            }
        }
    }
    fc->stats.invalidations += n;
    fc_sweep(fc);
    return n;
}

static int
fc_ptr_cmp(const void *a_, const void *b_)
{
    uintptr_t a = (uintptr_t) * (const void *const *)a_;
    uintptr_t b = (uintptr_t) * (const void *const *)b_;

    return a < b ? -1 : a > b;
}

/* True if the sorted array 'rules' of 'n' holds 'r'. */
static bool
fc_rules_hold(const struct cls_rule *const *rules, size_t n,
              const struct cls_rule *r)
{
    if (n == 1) {
        return rules[0] == r;
    }
    return bsearch(&r, rules, n, sizeof *rules, fc_ptr_cmp) != NULL;
}

static bool
fc_flow_names_any(const struct fc_flow *f, const struct cls_rule *const *rules,
                  size_t n)
{
    for (size_t s = 0; s < f->n_steps; s++) {
        const struct fc_hop *hop = fc_flow_hop(f, s);
        for (size_t c = 0; c < hop->n_cands; c++) {
            if (fc_rules_hold(rules, n, hop->cands[c])) {
                return true;
            }
        }
    }
    return false;
}

size_t
fc_invalidate_rules(struct flow_cache *fc, const struct cls_rule *const *rules_,
                    size_t n_rules)
{
    size_t n = 0;

    if (!n_rules || !fc->live) {
        return 0;
    }
    const struct cls_rule **rules = xmalloc(n_rules * sizeof *rules);
    memcpy(rules, rules_, n_rules * sizeof *rules);
    qsort(rules, n_rules, sizeof *rules, fc_ptr_cmp);
    for (struct fc_flow *f = fc->live, *next; f; f = next) {
        next = f->next;
        if (fc_flow_names_any(f, rules, n_rules)) {
            fc_kill(fc, f);
            n++;
        }
    }
    free(rules);
    fc->stats.invalidations += n;
    fc_sweep(fc);
    return n;
}

void
fc_flush(struct flow_cache *fc)
{
    while (fc->live) {
        fc_kill(fc, fc->live);
    }
    fc_sweep(fc);
}

void
fc_get_stats(const struct flow_cache *fc, struct fc_stats *stats)
{
    *stats = fc->stats;
}
