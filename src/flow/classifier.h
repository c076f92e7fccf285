/* Classifier: finds the highest-priority rule whose match covers a flow key.
 *
 * Tuple space search
 * ==================
 *
 * Rules that share the same mask form a "subtable" (a tuple, in the
 * literature).  Within a subtable every rule's match is fully described by
 * its masked key, so a subtable is a hash table keyed by the masked key,
 * hashed over the mask's non-zero words of (key & mask).  Looking a packet
 * up in one subtable costs one masked hash and, on a hit, one compare,
 * however many rules the subtable holds.  A lookup visits subtables, not rules,
 * so its cost grows with the number of distinct masks (typically dozens), not
 * with the number of rules (up to hundreds of thousands).
 *
 * Each hash entry ("cls_entry") holds every rule with exactly that match, in
 * a list ordered by priority, highest first; rules of equal priority keep
 * their insertion order, so the earlier inserted one wins.  This tie rule is
 * part of the contract: the linear-scan reference in the unit test uses it.
 *
 * Ordering and the early stop
 * ===========================
 *
 * Each subtable remembers the highest priority among its rules.  Lookup
 * visits subtables in decreasing order of that maximum.  Once a match of
 * priority P is in hand, a subtable whose maximum is below P cannot hold a
 * better rule, and neither can any subtable after it: the lookup stops.  So
 * a high-priority exact rule is found after one hash probe even if a
 * thousand low-priority subtables follow.  Subtables whose maximum equals P
 * are still visited, since one of them may hold an earlier-inserted rule of
 * the same priority.
 *
 * Insert and remove keep the per-subtable maximum and the subtable order
 * current: a rule at a new maximum re-sorts its subtable forward; removing
 * the last rule at a subtable's maximum re-scans that subtable (the count of
 * rules at the maximum is tracked, so this happens once per maximum, not per
 * removal), and an empty subtable is freed.
 *
 * Rules with filter programs
 * ==========================
 *
 * A rule may carry a condition the classifier cannot see (a filter program:
 * Oko's prog=NAME, true when the program returns non-zero).  Such a rule
 * matches only if the condition holds; otherwise the next best rule is
 * taken.  cls_lookup_filtered() does this by repeated bounded lookups: find
 * the best rule, ask the caller's predicate, and if it says no, find the best
 * rule ranked strictly below the rejected one.  The predicate thus runs only
 * on rules that would win if it accepted them, in rank order, which is what
 * lets a program with side effects (maps) see exactly the packets it should.
 *
 * Concurrency and memory
 * ======================
 *
 * Lookups never allocate and never write to the classifier, so many readers
 * can run at once.  Writers (insert, remove, replace) must be serialised by
 * the caller and must not run concurrently with readers yet: publishing
 * versions through RCU is left to the datapath (see DESIGN.md).
 *
 * Rules are embedded in the caller's own structure (struct cls_rule as a
 * member, recovered with CONTAINER_OF); the classifier never owns them. */
#ifndef FLOW_CLASSIFIER_H
#define FLOW_CLASSIFIER_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "match.h"
#include "pkt/flow_key.h"

struct classifier;

/* A rule as the classifier sees it.  The caller fills 'match' (normalised)
 * and 'priority' before cls_insert() and must not change them while the
 * rule is inserted.  The remaining members are private. */
struct cls_rule {
    struct match match;      /* What the rule matches. */
    unsigned int priority;   /* Higher wins. */
    uint64_t seq;            /* Insertion order (tie-break), private. */
    struct cls_rule *next;   /* Next in its entry, lower rank; private. */
    struct cls_entry *entry; /* Entry holding it; private. */
};

/* True if 'a' ranks above 'b': higher priority, or equal priority and
 * inserted earlier. */
static inline bool
cls_rule_beats(const struct cls_rule *a, const struct cls_rule *b)
{
    return a->priority > b->priority ||
           (a->priority == b->priority && a->seq < b->seq);
}

struct classifier *cls_create(void);
/* Frees the classifier's own memory, not the rules it holds (the caller
 * owns them).  cls_destroy(NULL) is a no-op. */
void cls_destroy(struct classifier *);

/* Inserts 'rule' (borrowed until removed).  Equal matches and priorities
 * may coexist; the one inserted first ranks higher. */
void cls_insert(struct classifier *, struct cls_rule *rule);
/* Removes an inserted 'rule'. */
void cls_remove(struct classifier *, struct cls_rule *rule);
/* Puts 'new_' in place of the inserted 'old' (same match and priority
 * required), keeping its rank.  'old' is no longer referenced. */
void cls_replace(struct classifier *, struct cls_rule *old,
                 struct cls_rule *new_);

/* The highest-ranked rule matching 'key', or NULL. */
const struct cls_rule *cls_lookup(const struct classifier *,
                                  const struct flow_key *key);
/* The highest-ranked rule matching 'key' that ranks strictly below 'bound'
 * (any rule if 'bound' is NULL), or NULL. */
const struct cls_rule *cls_lookup_below(const struct classifier *,
                                        const struct flow_key *key,
                                        const struct cls_rule *bound);
/* cls_lookup(), also reporting in '*n_probes' how many subtables it
 * probed before the early stop (for tests and diagnostics). */
const struct cls_rule *cls_lookup_probes(const struct classifier *,
                                         const struct flow_key *key,
                                         size_t *n_probes);

/* Decides whether a candidate rule really matches (e.g. runs its filter
 * program).  Called in rank order until it returns true. */
typedef bool cls_pred_cb(const struct cls_rule *, void *aux);
/* The highest-ranked rule matching 'key' that 'pred' accepts, or NULL. */
const struct cls_rule *cls_lookup_filtered(const struct classifier *,
                                           const struct flow_key *key,
                                           cls_pred_cb *pred, void *aux);

/* Looks up 'n' keys at once (n <= 32): visits each subtable once for every
 * key still undecided, which keeps a subtable's mask and buckets hot across
 * the batch.  'out[i]' gets what cls_lookup(keys[i]) would return. */
void cls_lookup_batch(const struct classifier *,
                      const struct flow_key *const *keys, size_t n,
                      const struct cls_rule **out);

/* Un-wildcarding, for flow caches
 * ================================
 *
 * A cache that stores a lookup's result for every key agreeing with the
 * looked-up one on some bits must know which bits the result depended on.
 * A lookup depends exactly on the masks of the subtables it probed: two
 * keys equal under the union of those masks find the same entries there,
 * and the subtables the early stop skipped hold no rule that could win for
 * either key (their maximum priority is below the winner's).  The _wc
 * variants OR the mask of every subtable they probe into 'wc' (which the
 * caller zeroes before the first lookup of a key and keeps across the
 * cls_lookup_below_wc() calls of a filtered lookup). */
const struct cls_rule *cls_lookup_below_wc(const struct classifier *,
                                           const struct flow_key *key,
                                           const struct cls_rule *bound,
                                           struct flow_key *wc);
/* cls_lookup_batch(), ORing into wcs[i] the masks key i's lookup probed. */
void cls_lookup_batch_wc(const struct classifier *,
                         const struct flow_key *const *keys, size_t n,
                         const struct cls_rule **out, struct flow_key *wcs);

/* The inserted rule with exactly 'match' and 'priority' that ranks highest,
 * or NULL. */
struct cls_rule *cls_find_exact(const struct classifier *,
                                const struct match *match,
                                unsigned int priority);

size_t cls_count(const struct classifier *);
size_t cls_n_subtables(const struct classifier *);
/* Every rule, in rank order (highest first), as an allocated array the
 * caller frees; '*n' gets its length.  Safe to remove rules while walking
 * the array. */
struct cls_rule **cls_rules(const struct classifier *, size_t *n);

/* Every rule whose match 'wide' covers (match_covers()), in no particular
 * order, as an allocated array the caller frees.  Skips subtables that
 * cannot hold such rules and probes the one entry of a subtable with
 * exactly wide's mask, so deleting one exact rule among many is cheap. */
struct cls_rule **cls_rules_covered(const struct classifier *,
                                    const struct match *wide, size_t *n);

#endif
