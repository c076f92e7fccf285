/* The datapath flow cache: the pipeline's decisions, remembered per flow.
 *
 * What is cached
 * ==============
 *
 * A packet's walk through the pipeline is a sequence of table lookups
 * (table 0, then goto_table and resubmit targets) interleaved with actions.
 * The actions are cheap and must run on every packet anyway (they rewrite
 * it, send it, count it); the lookups are what costs.  So a cache entry
 * ("flow", struct fc_flow) records the lookups only, as an ordered list of
 * steps.  A step is one lookup: the table, the rules it asked in rank order
 * (those with filter programs, whose verdicts cannot be cached, and the
 * winner), whether the last one won, and the match the result is valid
 * for: the key at that lookup under the union of the masks the classifier
 * consulted (cls_lookup_below_wc()).  Replaying a flow means running the
 * pipeline's own action interpreter with each lookup answered from the next
 * step instead of the classifier, after checking that the packet's key at
 * that point lies in the step's match and re-running the step's filter
 * programs: a verdict different from the recorded one hands the lookup, and
 * everything after it, back to the classifier.  Because every answer a
 * replay gives is one the classifier would give, counters, idle times and
 * drop reasons are exactly those of an uncached walk.
 *
 * Recording stops (the flow keeps the steps so far; later lookups are
 * ordinary ones) at an action program, which may rewrite the packet into
 * anything, after FC_MAX_STEPS lookups, and at a lookup that asked more than
 * FC_MAX_CANDS rules.
 *
 * Two layers find a packet's flow, as in Open vSwitch's userspace datapath:
 *   - the megaflow layer: flows keyed by the first key under the union of
 *     all steps' masks, so one flow serves every packet that agrees on the
 *     bits the walk looked at.  It is a tuple space of its own (one hash
 *     table per distinct mask, the flows themselves the entries); a key is
 *     decided by the first subtable where it finds a flow, any flow whose
 *     match holds being a right answer, and the subtables are kept in
 *     order of hits so that the busy ones are probed first;
 *   - the exact-match cache (EMC): a direct-mapped, two-way table indexed by
 *     the packet hash the parser computed, holding full keys.  It is
 *     consulted only while megaflow lookups probe two subtables or more on
 *     average (measured over windows of 4,096 lookups): a megaflow hit in
 *     the first subtable costs a hash probe, no dearer than the EMC's and
 *     over a smaller table.
 *
 * Invalidation
 * ============
 *
 * A flow depends on the rules of the tables it looked up, nothing else
 * (ports and programs are consulted live by the actions and filters that
 * replay runs).  A rule removed (or replaced) changes the result only of
 * lookups that asked it, so fc_invalidate_rules() drops the flows that name
 * it.  A rule added to table T changes a step of T only if some key of the
 * step's match also matches the rule and the rule would rank above the
 * step's winner (or the step missed): fc_invalidate_add() drops exactly
 * those.  Dropped flows leave the megaflow layer at once; EMC slots notice
 * a dead flow on lookup, and dead flows are freed by a sweep of the EMC.
 *
 * The cache belongs to one pipeline and one thread, like the pipeline:
 * nothing here locks. */
#ifndef FLOW_FLOW_CACHE_H
#define FLOW_FLOW_CACHE_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "classifier.h"
#include "match.h"
#include "pkt/flow_key.h"

struct fc_subtable;

#define FC_MAX_STEPS 8     /* Lookups a flow records. */
#define FC_MAX_CANDS 4     /* Rules one recorded lookup may ask. */
#define FC_MAX_FLOWS 65536 /* Megaflows kept; more are not cached. */
#define FC_EMC_SIZE 8192   /* EMC slots (a power of two). */

/* The answer of one recorded lookup: what a replay reads. */
struct fc_hop {
    /* Rules asked, in rank order: those whose filter program ran, and the
     * winner. */
    const struct cls_rule *cands[FC_MAX_CANDS];
    uint8_t n_cands; /* Entries in 'cands'. */
    uint8_t table;   /* Table looked up. */
    bool hit;        /* cands[n_cands - 1] won; else a miss. */
};

/* One lookup of a recorded walk. */
struct fc_step {
    struct fc_hop hop;  /* Its answer. */
    struct match match; /* Keys for which the answer holds. */
};

/* A walk being recorded by the slow path. */
struct fc_record {
    size_t n_steps;                     /* Entries used in 'steps'. */
    bool stopped;                       /* Nothing more may be added. */
    struct fc_step steps[FC_MAX_STEPS]; /* Lookups, in walk order. */
};

/* A cached walk, and itself the megaflow layer's hash entry.  It starts on
 * a cache line; a megaflow hit reads the answer of the first lookup and
 * the masked key words the flow is found by, packed so that up to five of
 * them share the first two lines with the answer: a hit on a walk of one
 * lookup costs the bucket and those lines, as a classifier probe costs the
 * bucket and its entry. */
struct fc_flow {
    struct fc_hop hop0;    /* The first lookup's answer. */
    uint8_t n_steps;       /* Lookups recorded (1 to FC_MAX_STEPS). */
    bool dead;             /* Invalidated: never replay it. */
    uint32_t hash;         /* Hash of 'key' under its subtable. */
    struct fc_flow *hnext; /* Next in the megaflow bucket. */
    /* The first key's words under the megaflow mask, in the order of the
     * subtable's non-zero mask words. */
    uint64_t mwords[FLOW_KEY_WORDS];
    struct fc_subtable *subtable; /* Megaflow subtable holding it. */
    struct fc_flow *next;         /* In the cache's list of live flows, or
                                   * in its list of dead ones. */
    struct fc_flow *prev;         /* Previous live flow. */
    struct match match0;          /* Keys for which 'hop0' holds. */
    struct fc_step rest[];        /* Lookups 2 to n_steps. */
};

/* The answer and the match of lookup 'i' (0-based) of 'flow'. */
static inline const struct fc_hop *
fc_flow_hop(const struct fc_flow *flow, size_t i)
{
    return i ? &flow->rest[i - 1].hop : &flow->hop0;
}

static inline const struct match *
fc_flow_match(const struct fc_flow *flow, size_t i)
{
    return i ? &flow->rest[i - 1].match : &flow->match0;
}

/* Counters of one cache. */
struct fc_stats {
    uint64_t emc_hits;      /* Packets whose flow the EMC found. */
    uint64_t megaflow_hits; /* Packets whose flow the megaflow layer found. */
    uint64_t n_flows;       /* Live flows now. */
    uint64_t invalidations; /* Flows dropped by rule changes. */
};

struct flow_cache;

struct flow_cache *fc_create(void);
/* Frees the cache and its flows (not the rules they name).  NULL is a
 * no-op. */
void fc_destroy(struct flow_cache *);

/* Finds the flows of 'n' (<= 32) packets with keys 'keys' and parser hashes
 * 'hashes': the EMC first (when in use), then one megaflow batch lookup for
 * the rest.  out[i] is NULL on a miss.  Returns the number of hits. */
size_t fc_lookup_batch(struct flow_cache *, const struct flow_key *const *keys,
                       const uint32_t *hashes, size_t n,
                       struct fc_flow **out);

/* Adds a flow for a packet whose first key was 'key' (hash 'hash') and
 * whose walk 'rec' recorded.  Returns the flow, or NULL if nothing was
 * recorded or the cache is full. */
struct fc_flow *fc_insert(struct flow_cache *, const struct flow_key *key,
                          uint32_t hash, const struct fc_record *rec);

/* Drops 'flow' (a replay saw a filter change its verdict, so the recorded
 * walk is stale and the next packet should record a new one).  Safe while
 * other packets of the batch still hold 'flow': it is only freed by a later
 * fc_collect() or invalidation. */
void fc_kill(struct flow_cache *, struct fc_flow *flow);
/* Frees the flows fc_kill() dropped once enough of them wait.  Call only
 * where no packet holds a flow: before a batch. */
void fc_collect(struct flow_cache *);

/* Drops the flows that looked 'rule' (now in table 'table') up: see the top
 * of the file.  Returns how many. */
size_t fc_invalidate_add(struct flow_cache *, unsigned int table,
                         const struct cls_rule *rule);
/* Drops the flows that name any of the 'n' rules (about to be removed or
 * replaced).  Returns how many. */
size_t fc_invalidate_rules(struct flow_cache *,
                           const struct cls_rule *const *rules, size_t n);
/* Drops every flow. */
void fc_flush(struct flow_cache *);

void fc_get_stats(const struct flow_cache *, struct fc_stats *);

#endif
