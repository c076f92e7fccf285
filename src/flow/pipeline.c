/* The pipeline: tables of rules, the action interpreter and the tracer.
 *
 * Each of the FLOW_N_TABLES tables is a classifier (classifier.h) holding
 * struct pl_rule, which owns a copy of the flow_spec it was added from (the
 * match, actions, cookie and timeouts, so dumping prints exactly what was
 * added) plus its counters and resolved programs.
 *
 * A packet is translated by one recursive walk, the same code for the fast
 * path and for `sluice trace`: pl_run_table() looks a table up (running
 * filter programs in rank order through cls_lookup_filtered's scheme) and
 * pl_execute() interprets the rule's actions; resubmit recurses into
 * pl_run_table(), goto_table loops in it after the action list.  When a
 * trace is attached to the context every step also records what it did, for
 * the text and JSON renderings; without one, the trace branches are the only
 * cost, and they are marked unlikely.
 *
 * Semantics, following OpenFlow and Open vSwitch where they speak:
 *   - output:N to the packet's own ingress port is skipped (the in_port
 *     action sends it back); flood and all mean every known port but the
 *     ingress; an output to an unknown port is lost and noted as BAD_PORT.
 *   - resubmit looks another table up at once and returns to the next
 *     action; a miss there is not a drop.  Depth is limited to 64 and the
 *     total per packet to 4096 (LOOP).  goto_table runs after the list and
 *     may only move to a later table (checked at add time).
 *   - A filter program (prog=NAME) runs only when the rule's other fields
 *     match and only if the rule would win; it should not rewrite the
 *     packet (its key is not re-parsed).  An action program's XDP_PASS
 *     continues the list with the packet re-parsed; every other verdict
 *     ends the translation (TX and REDIRECT after sending the packet).
 *
 * The flow cache (flow_cache.h, docs/flowcache.md) sits in front of the
 * classifier: pl_lookup() answers a lookup from the flow being replayed
 * (pl_replay_lookup(): the recorded rules, filter programs re-run), from
 * the classifier while recording a new flow (pl_recorded_lookup(), which
 * also collects the masks consulted), or from the classifier alone.  The
 * actions always run for real, so a cached walk differs from an uncached
 * one only in where its lookups' answers come from.
 *
 * The commonest walk, one rule without a filter program whose actions are
 * a single output to an ordinary port (a cached flow of one lookup, or the
 * table-0 winner without a cache), skips the interpreter: runs of packets
 * with that rule are sent and counted directly (pl_fast_output()), with
 * the outcomes the interpreter would give.
 *
 * Accounting: a packet that leaves by no port is counted under exactly one
 * drop reason, the first that occurred (an explicit drop, TTL expiry, a
 * program verdict, a loop, a table miss, a bad port), or NO_OUTPUT when the
 * actions simply ended.  Rule counters of a batch are gathered in a small
 * array and added to the rules once per batch. */
#include "pipeline.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "classifier.h"
#include "field.h"
#include "flow_cache.h"
#include "pkt/pkt.h"

/* OvS's limits on recursion through resubmit: depth, and total resubmits
 * per packet (which bounds a rule that resubmits to itself twice). */
#define PL_MAX_DEPTH 64
#define PL_MAX_RESUBMITS 4096

#define NS_PER_SEC UINT64_C(1000000000)

/* XDP verdicts of action programs (kernel numbering). */
enum pl_xdp {
    PL_XDP_ABORTED = 0,
    PL_XDP_DROP = 1,
    PL_XDP_PASS = 2,
    PL_XDP_TX = 3,
    PL_XDP_REDIRECT = 4,
};

/* The members a packet's walk reads and writes come first, so that they
 * share one cache line (the rule starts on one: _Alignas below): a hit
 * costs one miss on the rule, not one per member. */
struct pl_rule {
    _Alignas(64) struct pipeline_prog *filter; /* Resolved prog=NAME, or
                                                * NULL. */
    struct action_list actions; /* spec.actions (a view, not owned). */
    uint32_t out_port;          /* If the actions are just output:N to an
                                 * ordinary port, N (pl_fast_output());
                                 * else PORT_NONE. */
    uint32_t id;                /* Index of its counters (pl_tables). */
    uint64_t created_ns;        /* Time added, caller's clock (ns). */
    struct cls_rule cr;         /* In its table's classifier. */
    struct flow_spec spec;      /* What was added (owned copy). */
};

/* A rule's counters in one pipeline.  They live apart from the rule, in
 * an array per pipeline indexed by rule id, because the rule is shared by
 * the sibling pipelines of other threads (see struct pl_tables): a counter
 * in the rule would bounce its line between the cores on every batch. */
struct pl_ctr {
    uint64_t n_packets; /* Packets that hit the rule. */
    uint64_t n_bytes;   /* Their bytes at lookup time. */
    uint64_t used_ns;   /* Last hit, or 0 if never. */
    uint64_t pad_;      /* Two counters per cache line, none across. */
};

/* What sibling pipelines share (pipeline_create_sibling()): the rules,
 * the port list and the program resolver, read-only while any of them
 * processes packets.  One copy of a large table serves every thread, so
 * the threads' lookups share the last-level cache instead of competing
 * with a copy each. */
struct pl_tables {
    struct classifier *tables[FLOW_N_TABLES]; /* One per table. */
    size_t n_rules;                           /* Over all tables. */
    size_t n_timed;                           /* Rules with a timeout. */
    pipeline_prog_lookup_cb *prog_lookup;     /* Resolves program names. */
    void *prog_aux;                           /* Its argument. */
    uint32_t *ports;                          /* Existing ports (owned). */
    size_t n_ports;                           /* Entries in 'ports'. */
    struct pipeline **users;                  /* Pipelines sharing it. */
    size_t n_users;
    /* Rule ids: every id below 'n_ids' is a rule's or in 'free_ids';
     * every user's counter array covers 'n_ids' entries. */
    uint32_t n_ids;
    uint32_t *free_ids;
    size_t n_free_ids;
    size_t free_ids_cap;
};

struct pipeline {
    struct pl_tables *tab;            /* Rules, shared with siblings. */
    pipeline_output_cb *output;       /* Output callback. */
    void *output_aux;                 /* Its argument. */
    struct pl_ctr *ctr;               /* Rule counters, by rule id. */
    size_t n_ctr;                     /* Entries allocated in 'ctr'. */
    uint64_t drops[PIPELINE_N_DROPS]; /* Packets, per reason. */
    struct pipeline_stats stats;      /* Datapath counters. */
    struct flow_cache *cache;         /* Flow cache, or NULL when
                                       * disabled. */
};

/* Per-batch rule counters, added to the rules at the end of the batch.
 * An entry is found through a small open-addressed table keyed by the
 * rule's address: a batch of 32 packets of 32 different rules searched a
 * list of up to 32 entries per packet, about 90 instructions a packet. */
#define PL_ACC_MAX 64
#define PL_ACC_SLOTS 128 /* A power of 2, twice PL_ACC_MAX. */
struct pl_acc {
    struct pl_ctr *ctr;           /* The pipeline's rule counters. */
    size_t n;                     /* Entries used. */
    uint8_t slot[PL_ACC_SLOTS];   /* Entry index + 1, or 0 if free. */
    struct {
        struct pl_rule *rule; /* Rule hit. */
        uint64_t packets;     /* Hits in this batch. */
        uint64_t bytes;       /* Their bytes. */
    } e[PL_ACC_MAX];
};

struct pl_trace;

/* The state of one packet's translation. */
struct pl_ctx {
    struct pipeline *pl;
    struct packet *p;         /* Packet, rewritten in place. */
    uint64_t now_ns;          /* Caller's clock (ns). */
    int depth;                /* Resubmit nesting. */
    unsigned int n_resubmits; /* Resubmits so far. */
    bool output_any;          /* Some port got the packet. */
    bool stop;                /* Translation ended (drop, loop). */
    int reason;               /* First drop reason, or -1. */
    struct pl_acc *acc;       /* Batch counters; NULL in a trace. */
    struct pl_trace *trace;   /* Recording, or NULL. */
    struct fc_flow *replay;   /* Cached walk answering lookups, or NULL. */
    size_t replay_pos;        /* Next step of 'replay'. */
    bool diverged;            /* A filter contradicted 'replay'. */
    struct fc_record *rec;    /* Walk being recorded for the cache, or
                               * NULL. */
    const struct flow_key *cand_wc; /* Masks behind the 'candidate' of
                                     * table 0 (batch lookup), when
                                     * recording. */
};

/* What a trace records. */
struct pl_trace {
    struct ds text;            /* Table-by-table text. */
    json_t *tables;            /* JSON array of visited tables. */
    json_t *cur;               /* Entry of the rule executing. */
    json_t *outputs;           /* Ports the packet went to. */
    struct ds dp;              /* Datapath actions. */
    struct flow_key committed; /* Key as of the last output. */
};

const char *
pipeline_drop_name(enum pipeline_drop d)
{
    static const char *const names[] = {
#define PIPELINE_DROP_NAME_(ENUM, NAME, TEXT) NAME,
        PIPELINE_DROPS(PIPELINE_DROP_NAME_)
#undef PIPELINE_DROP_NAME_
    };
    return (unsigned int)d < ARRAY_SIZE(names) ? names[d] : "unknown";
}

static const char *
pipeline_drop_text(enum pipeline_drop d)
{
    static const char *const texts[] = {
#define PIPELINE_DROP_TEXT_(ENUM, NAME, TEXT) TEXT,
        PIPELINE_DROPS(PIPELINE_DROP_TEXT_)
#undef PIPELINE_DROP_TEXT_
    };
    return (unsigned int)d < ARRAY_SIZE(texts) ? texts[d] : "unknown";
}

/* ---- Rules and tables. ---- */

/* A pipeline over 'tab', with its own counters and cache. */
static struct pipeline *
pl_new(struct pl_tables *tab)
{
    struct pipeline *pl = xzalloc_lines(sizeof *pl);

    pl->tab = tab;
    pl->n_ctr = MAX(tab->n_ids, 16u);
    pl->ctr = xzalloc_lines(pl->n_ctr * sizeof *pl->ctr);
    tab->users = xrealloc(tab->users, (tab->n_users + 1) * sizeof *tab->users);
    tab->users[tab->n_users++] = pl;
    /* SLUICE_FLOW_CACHE=0 turns the cache off for every pipeline of the
     * process, to compare against or to rule the cache out. */
    const char *env = getenv("SLUICE_FLOW_CACHE");
    if (!env || strcmp(env, "0")) {
        pl->cache = fc_create();
    }
    return pl;
}

struct pipeline *
pipeline_create(void)
{
    struct pl_tables *tab = xzalloc(sizeof *tab);

    for (size_t t = 0; t < FLOW_N_TABLES; t++) {
        tab->tables[t] = cls_create();
    }
    return pl_new(tab);
}

struct pipeline *
pipeline_create_sibling(struct pipeline *pl)
{
    return pl_new(pl->tab);
}

void
pipeline_set_cache(struct pipeline *pl, bool enable)
{
    if (enable && !pl->cache) {
        pl->cache = fc_create();
    } else if (!enable && pl->cache) {
        struct fc_stats fs;

        /* Keep the counters the cache gathered. */
        fc_get_stats(pl->cache, &fs);
        pl->stats.emc_hits += fs.emc_hits;
        pl->stats.megaflow_hits += fs.megaflow_hits;
        pl->stats.invalidations += fs.invalidations;
        fc_destroy(pl->cache);
        pl->cache = NULL;
    }
}

bool
pipeline_cache_enabled(const struct pipeline *pl)
{
    return pl->cache != NULL;
}

/* A zeroed rule, on a cache line of its own (see struct pl_rule). */
static struct pl_rule *
pl_rule_alloc(void)
{
    struct pl_rule *rule;

    if (posix_memalign((void **)&rule, _Alignof(struct pl_rule),
                       sizeof *rule)) {
        abort(); /* Out of memory, as the x*() allocators do. */
    }
    memset(rule, 0, sizeof *rule);
    return rule;
}

/* Frees 'rule' and drops its references to programs (taken by
 * pl_resolve_prog()), so that a program no rule names can be unloaded. */
static void
pl_rule_free(struct pl_rule *rule)
{
    if (rule->filter) {
        rule->filter->n_refs--;
    }
    for (size_t i = 0; i < rule->spec.actions.n; i++) {
        struct action *a = &rule->spec.actions.acts[i];
        if (a->type == ACTION_PROG && a->prog.prog) {
            ((struct pipeline_prog *)a->prog.prog)->n_refs--;
        }
    }
    flow_spec_destroy(&rule->spec);
    free(rule);
}

static bool
pl_rule_timed(const struct pl_rule *rule)
{
    return rule->spec.idle_timeout || rule->spec.hard_timeout;
}

static struct pl_rule *
pl_rule_cast(const struct cls_rule *cr)
{
    return CONTAINER_OF(cr, struct pl_rule, cr);
}

static void
pl_tables_destroy(struct pl_tables *tab)
{
    for (size_t t = 0; t < FLOW_N_TABLES; t++) {
        size_t n;
        struct cls_rule **rules = cls_rules(tab->tables[t], &n);
        for (size_t i = 0; i < n; i++) {
            cls_remove(tab->tables[t], rules[i]);
            pl_rule_free(pl_rule_cast(rules[i]));
        }
        free(rules);
        cls_destroy(tab->tables[t]);
    }
    free(tab->ports);
    free(tab->users);
    free(tab->free_ids);
    free(tab);
}

void
pipeline_destroy(struct pipeline *pl)
{
    if (!pl) {
        return;
    }
    struct pl_tables *tab = pl->tab;
    for (size_t i = 0; i < tab->n_users; i++) {
        if (tab->users[i] == pl) {
            tab->users[i] = tab->users[--tab->n_users];
            break;
        }
    }
    if (!tab->n_users) {
        pl_tables_destroy(tab);
    }
    fc_destroy(pl->cache);
    free(pl->ctr);
    free(pl);
}

/* An id for a new rule, with zeroed counters in every pipeline sharing
 * 'tab' (an id freed by a removed rule keeps that rule's counts until
 * reused). */
static uint32_t
pl_id_alloc(struct pl_tables *tab)
{
    uint32_t id = tab->n_free_ids ? tab->free_ids[--tab->n_free_ids]
                                  : tab->n_ids++;

    for (size_t u = 0; u < tab->n_users; u++) {
        struct pipeline *pl = tab->users[u];

        if (id >= pl->n_ctr) {
            size_t n = MAX(pl->n_ctr * 2, (size_t)tab->n_ids);
            struct pl_ctr *ctr = xzalloc_lines(n * sizeof *ctr);

            memcpy(ctr, pl->ctr, pl->n_ctr * sizeof *ctr);
            free(pl->ctr);
            pl->ctr = ctr;
            pl->n_ctr = n;
        }
        memset(&pl->ctr[id], 0, sizeof pl->ctr[id]);
    }
    return id;
}

static void
pl_id_free(struct pl_tables *tab, uint32_t id)
{
    if (tab->n_free_ids == tab->free_ids_cap) {
        tab->free_ids_cap = MAX(tab->free_ids_cap * 2, 16);
        tab->free_ids = xrealloc(tab->free_ids,
                                 tab->free_ids_cap * sizeof *tab->free_ids);
    }
    tab->free_ids[tab->n_free_ids++] = id;
}

void
pipeline_set_output(struct pipeline *pl, pipeline_output_cb *cb, void *aux)
{
    pl->output = cb;
    pl->output_aux = aux;
}

void
pipeline_set_prog_lookup(struct pipeline *pl, pipeline_prog_lookup_cb *cb,
                         void *aux)
{
    pl->tab->prog_lookup = cb;
    pl->tab->prog_aux = aux;
}

void
pipeline_set_ports(struct pipeline *pl, const uint32_t *ports, size_t n)
{
    struct pl_tables *tab = pl->tab;

    free(tab->ports);
    tab->ports = n ? xmalloc(n * sizeof *ports) : NULL;
    if (n) {
        memcpy(tab->ports, ports, n * sizeof *ports);
    }
    tab->n_ports = n;
}

static bool
pl_port_exists(const struct pipeline *pl, uint32_t port)
{
    for (size_t i = 0; i < pl->tab->n_ports; i++) {
        if (pl->tab->ports[i] == port) {
            return true;
        }
    }
    return false;
}

static char *
pl_resolve_prog(struct pipeline *pl, const char *name,
                struct pipeline_prog **out)
{
    const struct pl_tables *tab = pl->tab;

    *out = tab->prog_lookup ? tab->prog_lookup(tab->prog_aux, name) : NULL;
    if (!*out) {
        return xasprintf("no program named '%s' is loaded", name);
    }
    (*out)->n_refs++;
    return NULL;
}

char *
pipeline_add(struct pipeline *pl, const struct flow_spec *spec, uint64_t now_ns)
{
    struct pl_rule *rule = pl_rule_alloc();
    char *error = NULL;

    if (spec->table >= FLOW_N_TABLES) {
        free(rule);
        return xasprintf("table %u out of range (0 to %d)",
                         (unsigned int)spec->table, FLOW_N_TABLES - 1);
    }
    flow_spec_clone(&rule->spec, spec);
    match_normalize(&rule->spec.match);
    if (rule->spec.prog_name) {
        error = pl_resolve_prog(pl, rule->spec.prog_name, &rule->filter);
        if (!error && rule->filter->may_modify) {
            error = xasprintf("program '%s' may write the packet, so it "
                              "cannot be a filter (prog=%s); use it as an "
                              "action (actions=prog:%s)",
                              rule->spec.prog_name, rule->spec.prog_name,
                              rule->spec.prog_name);
        }
    }
    for (size_t i = 0; !error && i < rule->spec.actions.n; i++) {
        struct action *a = &rule->spec.actions.acts[i];
        if (a->type == ACTION_PROG) {
            struct pipeline_prog *prog;
            error = pl_resolve_prog(pl, a->prog.name, &prog);
            a->prog.prog = prog;
        } else if (a->type == ACTION_GOTO_TABLE && a->table <= spec->table) {
            /* OpenFlow only lets goto_table move forward, which is also
             * what keeps goto chains finite. */
            error =
                xasprintf("goto_table:%u must name a table after %u",
                          (unsigned int)a->table, (unsigned int)spec->table);
        } else if ((a->type == ACTION_GOTO_TABLE &&
                    a->table >= FLOW_N_TABLES) ||
                   (a->type == ACTION_RESUBMIT && !a->resubmit.same_table &&
                    a->resubmit.table >= FLOW_N_TABLES)) {
            error = xasprintf("%s to table %u out of range (0 to %d)",
                              action_type_name(a->type),
                              (unsigned int)(a->type == ACTION_GOTO_TABLE
                                                 ? a->table
                                                 : a->resubmit.table),
                              FLOW_N_TABLES - 1);
        }
    }
    if (error) {
        pl_rule_free(rule);
        return error;
    }

    rule->actions = rule->spec.actions;
    rule->out_port = PORT_NONE;
    if (rule->actions.n == 1 && rule->actions.acts[0].type == ACTION_OUTPUT &&
        rule->actions.acts[0].port <= PORT_MAX) {
        rule->out_port = rule->actions.acts[0].port;
    }
    rule->cr.match = rule->spec.match;
    rule->cr.priority = rule->spec.priority;
    rule->created_ns = now_ns;

    struct pl_tables *tab = pl->tab;
    struct classifier *cls = tab->tables[spec->table];
    struct cls_rule *old =
        cls_find_exact(cls, &rule->cr.match, rule->cr.priority);
    for (size_t u = 0; u < tab->n_users; u++) {
        struct flow_cache *cache = tab->users[u]->cache;

        if (!cache) {
            continue;
        }
        /* The cached walks this rule may change go before it can be
         * matched: the very next packet takes the classifier. */
        if (old) {
            const struct cls_rule *gone = old;
            fc_invalidate_rules(cache, &gone, 1);
        }
        fc_invalidate_add(cache, spec->table, &rule->cr);
    }
    /* A replaced rule's counters start again (OpenFlow add). */
    rule->id = pl_id_alloc(tab);
    if (old) {
        cls_replace(cls, old, &rule->cr);
        tab->n_timed -= pl_rule_timed(pl_rule_cast(old));
        pl_id_free(tab, pl_rule_cast(old)->id);
        pl_rule_free(pl_rule_cast(old));
    } else {
        cls_insert(cls, &rule->cr);
        tab->n_rules++;
    }
    tab->n_timed += pl_rule_timed(rule);
    return NULL;
}

/* Removes and frees every rule of table 't' covered by 'wide' for which
 * 'pick' is true. */
static size_t
pl_remove_if(struct pipeline *pl, size_t t, const struct match *wide,
             bool (*pick)(const struct pl_rule *, const void *),
             const void *aux)
{
    struct pl_tables *tab = pl->tab;
    struct classifier *cls = tab->tables[t];
    size_t n, n_removed = 0;

    if (!cls_count(cls)) {
        return 0;
    }
    struct cls_rule **rules = cls_rules_covered(cls, wide, &n);
    for (size_t i = 0; i < n; i++) {
        struct pl_rule *rule = pl_rule_cast(rules[i]);
        if (pick(rule, aux)) {
            cls_remove(cls, &rule->cr);
            rules[n_removed++] = &rule->cr;
        }
    }
    /* Cached walks that asked a removed rule go before the rules are
     * freed; no other walk can change (see flow_cache.h). */
    for (size_t u = 0; u < tab->n_users; u++) {
        if (tab->users[u]->cache) {
            fc_invalidate_rules(tab->users[u]->cache,
                                (const struct cls_rule *const *)rules,
                                n_removed);
        }
    }
    for (size_t i = 0; i < n_removed; i++) {
        struct pl_rule *rule = pl_rule_cast(rules[i]);
        tab->n_timed -= pl_rule_timed(rule);
        pl_id_free(tab, rule->id);
        pl_rule_free(rule);
    }
    free(rules);
    tab->n_rules -= n_removed;
    return n_removed;
}

static bool
pl_del_pick(const struct pl_rule *rule, const void *spec_)
{
    const struct flow_spec *spec = spec_;

    if ((rule->spec.cookie ^ spec->cookie) & spec->cookie_mask) {
        return false;
    }
    return !spec->prog_name || (rule->spec.prog_name &&
                                !strcmp(spec->prog_name, rule->spec.prog_name));
}

size_t
pipeline_del(struct pipeline *pl, const struct flow_spec *spec)
{
    size_t n = 0;

    for (size_t t = 0; t < FLOW_N_TABLES; t++) {
        if (!spec->table_set || t == spec->table) {
            n += pl_remove_if(pl, t, &spec->match, pl_del_pick, spec);
        }
    }
    return n;
}

/* 'rule''s counters folded over every pipeline sharing 'tab': packets and
 * bytes summed, last use the latest (its creation if never hit). */
static struct pl_ctr
pl_rule_counts(const struct pl_tables *tab, const struct pl_rule *rule)
{
    struct pl_ctr sum = {0, 0, rule->created_ns, 0};

    for (size_t u = 0; u < tab->n_users; u++) {
        const struct pl_ctr *c = &tab->users[u]->ctr[rule->id];

        sum.n_packets += c->n_packets;
        sum.n_bytes += c->n_bytes;
        sum.used_ns = MAX(sum.used_ns, c->used_ns);
    }
    return sum;
}

struct pl_expire_aux {
    const struct pl_tables *tab;
    uint64_t now_ns;
};

static bool
pl_expire_pick(const struct pl_rule *rule, const void *aux_)
{
    const struct pl_expire_aux *aux = aux_;
    const struct flow_spec *s = &rule->spec;

    if (s->hard_timeout &&
        aux->now_ns >= rule->created_ns + s->hard_timeout * NS_PER_SEC) {
        return true;
    }
    return s->idle_timeout &&
           aux->now_ns >= pl_rule_counts(aux->tab, rule).used_ns +
                              s->idle_timeout * NS_PER_SEC;
}

size_t
pipeline_expire(struct pipeline *pl, uint64_t now_ns)
{
    struct pl_expire_aux aux = {pl->tab, now_ns};
    struct match all;
    size_t n = 0;

    if (!pl->tab->n_timed) {
        return 0; /* Called every second: skip the walk when it is moot. */
    }
    match_init_catchall(&all);
    for (size_t t = 0; t < FLOW_N_TABLES; t++) {
        n += pl_remove_if(pl, t, &all, pl_expire_pick, &aux);
    }
    return n;
}

size_t
pipeline_n_rules(const struct pipeline *pl)
{
    return pl->tab->n_rules;
}

void
pipeline_drop_counts(const struct pipeline *pl,
                     uint64_t counts[PIPELINE_N_DROPS])
{
    memcpy(counts, pl->drops, sizeof pl->drops);
}

void
pipeline_get_stats(const struct pipeline *pl, struct pipeline_stats *stats)
{
    *stats = pl->stats;
    if (pl->cache) {
        struct fc_stats fs;

        fc_get_stats(pl->cache, &fs);
        stats->emc_hits += fs.emc_hits;
        stats->megaflow_hits += fs.megaflow_hits;
        stats->cache_entries = fs.n_flows;
        stats->invalidations += fs.invalidations;
    }
}

/* ---- Trace recording helpers. ---- */

static void
pl_trace_indent(const struct pl_ctx *ctx, int extra)
{
    for (int i = 0; i < ctx->depth * 4 + extra; i++) {
        ds_put_char(&ctx->trace->text, ' ');
    }
}

/* Appends one line "    TEXT" under the executing rule, and the same text
 * to its JSON "actions" list. */
static void PRINTF_FORMAT(2, 3)
    pl_trace_note(struct pl_ctx *ctx, const char *fmt, ...)
{
    va_list args;

    va_start(args, fmt);
    char *s = xvasprintf(fmt, args);
    va_end(args);

    pl_trace_indent(ctx, 4);
    ds_put_cstr(&ctx->trace->text, s);
    ds_put_char(&ctx->trace->text, '\n');
    if (ctx->trace->cur) {
        json_array_append_new(json_object_get(ctx->trace->cur, "actions"),
                              json_string(s));
    }
    free(s);
}

static char *
pl_action_text(const struct action *a)
{
    struct action_list one = {(struct action *)a, 1};
    struct ds ds = DS_EMPTY_INITIALIZER;

    action_list_format(&one, &ds);
    return ds_steal_cstr(&ds);
}

/* Starts the record of a table visit; 'rule' NULL is a miss. */
static void
pl_trace_table(struct pl_ctx *ctx, unsigned int table,
               const struct pl_rule *rule, bool rejected)
{
    struct pl_trace *tr = ctx->trace;
    json_t *entry = json_object();

    json_object_set_new(entry, "table", json_integer(table));
    json_object_set_new(entry, "depth", json_integer(ctx->depth));
    pl_trace_indent(ctx, 0);
    if (!rule) {
        ds_put_format(&tr->text, "%2u. No match.\n", table);
        json_object_set_new(entry, "miss", json_true());
        json_array_append_new(tr->tables, entry);
        tr->cur = NULL;
        return;
    }

    struct ds match = DS_EMPTY_INITIALIZER;
    flow_match_format(&rule->spec.match, rule->spec.prog_name, &match);
    ds_put_format(&tr->text, "%2u. priority %u, cookie 0x%" PRIx64 "\n", table,
                  (unsigned int)rule->spec.priority, rule->spec.cookie);
    pl_trace_indent(ctx, 4);
    ds_put_format(&tr->text, "%s\n", match.len ? ds_cstr(&match) : "(any)");

    char cookie[24];
    snprintf(cookie, sizeof cookie, "0x%" PRIx64, rule->spec.cookie);
    json_object_set_new(entry, "priority", json_integer(rule->spec.priority));
    json_object_set_new(entry, "cookie", json_string(cookie));
    json_object_set_new(entry, "rule",
                        json_string(match.len ? ds_cstr(&match) : ""));
    json_object_set_new(entry, "actions", json_array());
    json_object_set_new(entry, "progs", json_array());
    if (rejected) {
        json_object_set_new(entry, "rejected", json_true());
    }
    json_array_append_new(tr->tables, entry);
    tr->cur = entry;
    ds_destroy(&match);
}

static void
pl_trace_prog(struct pl_ctx *ctx, const struct pipeline_prog *prog,
              const char *kind, uint64_t r0, const char *result)
{
    json_t *j = json_object();

    json_object_set_new(j, "name", json_string(prog->name));
    json_object_set_new(j, "kind", json_string(kind));
    json_object_set_new(j, "r0", json_integer((json_int_t)r0));
    json_object_set_new(j, "result", json_string(result));
    json_array_append_new(json_object_get(ctx->trace->cur, "progs"), j);
    pl_trace_indent(ctx, 4);
    ds_put_format(&ctx->trace->text, "prog %s -> %s (r0=%" PRIu64 ")\n",
                  prog->name, result, r0);
}

static void
put_mac(struct ds *ds, const uint8_t m[6])
{
    ds_put_format(ds, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3],
                  m[4], m[5]);
}

static void
put_ip4(struct ds *ds, be32 a)
{
    char buf[INET_ADDRSTRLEN];
    ds_put_cstr(ds, inet_ntop(AF_INET, &a, buf, sizeof buf));
}

static void
put_ip6(struct ds *ds, const uint8_t a[16])
{
    char buf[INET6_ADDRSTRLEN];
    ds_put_cstr(ds, inet_ntop(AF_INET6, a, buf, sizeof buf));
}

/* Builds "set(NAME(f=v,...))" for one header group: 'sep' tracks whether a
 * field was already written. */
struct pl_set {
    struct ds *ds;
    const char *name;
    bool open;
};

static void
pl_set_field(struct pl_set *s, const char *field)
{
    if (!s->open) {
        if (s->ds->len) {
            ds_put_char(s->ds, ',');
        }
        ds_put_format(s->ds, "set(%s(", s->name);
        s->open = true;
    } else {
        ds_put_char(s->ds, ',');
    }
    ds_put_format(s->ds, "%s=", field);
}

static void
pl_set_close(struct pl_set *s)
{
    if (s->open) {
        ds_put_cstr(s->ds, "))");
    }
}

/* Each pl_set_* writes one field of the group when 'changed' says it differs
 * between the old and new key, so the caller lists fields one a line. */
static void
pl_set_mac(struct pl_set *s, bool changed, const char *field,
           const uint8_t m[6])
{
    if (changed) {
        pl_set_field(s, field);
        put_mac(s->ds, m);
    }
}

static void
pl_set_ip4(struct pl_set *s, bool changed, const char *field, be32 a)
{
    if (changed) {
        pl_set_field(s, field);
        put_ip4(s->ds, a);
    }
}

static void
pl_set_ip6(struct pl_set *s, bool changed, const char *field,
           const uint8_t a[16])
{
    if (changed) {
        pl_set_field(s, field);
        put_ip6(s->ds, a);
    }
}

static void
pl_set_uint(struct pl_set *s, bool changed, const char *field, unsigned int v)
{
    if (changed) {
        pl_set_field(s, field);
        ds_put_format(s->ds, "%u", v);
    }
}

static void
pl_set_hex(struct pl_set *s, bool changed, const char *field, unsigned int v)
{
    if (changed) {
        pl_set_field(s, field);
        ds_put_format(s->ds, "0x%x", v);
    }
}

#define KEY_CHANGED(F) (memcmp(&old->F, &new->F, sizeof old->F) != 0)

/* Appends to 'ds' the OvS-style datapath actions that turn a packet with
 * key 'old' into one with key 'new'. */
static void
pl_put_commit(struct ds *ds, const struct flow_key *old,
              const struct flow_key *new)
{
    struct pl_set s = {ds, "eth", false};

    pl_set_mac(&s, KEY_CHANGED(dl_src), "src", new->dl_src);
    pl_set_mac(&s, KEY_CHANGED(dl_dst), "dst", new->dl_dst);
    pl_set_close(&s);

    if (KEY_CHANGED(vlan_tci)) {
        uint16_t tci = ntohs(new->vlan_tci);
        if (ds->len) {
            ds_put_char(ds, ',');
        }
        if (!new->vlan_tci) {
            ds_put_cstr(ds, "pop_vlan");
        } else if (!old->vlan_tci || KEY_CHANGED(vlan_tci2)) {
            ds_put_format(ds, "push_vlan(vid=%u,pcp=%u)", tci & VLAN_VID_MASK,
                          tci >> VLAN_PCP_SHIFT);
        } else {
            ds_put_format(ds, "set(vlan(vid=%u,pcp=%u))", tci & VLAN_VID_MASK,
                          tci >> VLAN_PCP_SHIFT);
        }
    }

    uint16_t dl_type = ntohs(new->dl_type);
    if (dl_type == 0x0800) {
        s = (struct pl_set){ds, "ipv4", false};
        pl_set_ip4(&s, KEY_CHANGED(nw_src), "src", new->nw_src);
        pl_set_ip4(&s, KEY_CHANGED(nw_dst), "dst", new->nw_dst);
        pl_set_hex(&s, KEY_CHANGED(nw_tos), "tos", new->nw_tos);
        pl_set_uint(&s, KEY_CHANGED(nw_ttl), "ttl", new->nw_ttl);
        pl_set_close(&s);
    } else if (dl_type == 0x86dd) {
        s = (struct pl_set){ds, "ipv6", false};
        pl_set_ip6(&s, KEY_CHANGED(ipv6_src), "src", new->ipv6_src);
        pl_set_ip6(&s, KEY_CHANGED(ipv6_dst), "dst", new->ipv6_dst);
        pl_set_hex(&s, KEY_CHANGED(ipv6_label), "label",
                   (unsigned int)ntohl(new->ipv6_label));
        pl_set_hex(&s, KEY_CHANGED(nw_tos), "tclass", new->nw_tos);
        pl_set_uint(&s, KEY_CHANGED(nw_ttl), "hlimit", new->nw_ttl);
        pl_set_close(&s);
    } else if (dl_type == 0x0806) {
        s = (struct pl_set){ds, "arp", false};
        pl_set_ip4(&s, KEY_CHANGED(nw_src), "sip", new->nw_src);
        pl_set_ip4(&s, KEY_CHANGED(nw_dst), "tip", new->nw_dst);
        pl_set_uint(&s, KEY_CHANGED(nw_proto), "op", new->nw_proto);
        pl_set_mac(&s, KEY_CHANGED(arp_sha), "sha", new->arp_sha);
        pl_set_mac(&s, KEY_CHANGED(arp_tha), "tha", new->arp_tha);
        pl_set_close(&s);
        return;
    }

    static const struct {
        uint8_t proto;
        const char *name, *src, *dst;
    } l4[] = {
        {6, "tcp", "src", "dst"},       {17, "udp", "src", "dst"},
        {132, "sctp", "src", "dst"},    {1, "icmp", "type", "code"},
        {58, "icmpv6", "type", "code"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(l4); i++) {
        if (new->nw_proto != l4[i].proto) {
            continue;
        }
        s = (struct pl_set){ds, l4[i].name, false};
        pl_set_uint(&s, KEY_CHANGED(tp_src), l4[i].src, ntohs(new->tp_src));
        pl_set_uint(&s, KEY_CHANGED(tp_dst), l4[i].dst, ntohs(new->tp_dst));
        pl_set_close(&s);
    }
}

#undef KEY_CHANGED

/* ---- Action execution. ---- */

static void
pl_drop(struct pl_ctx *ctx, enum pipeline_drop reason)
{
    if (ctx->reason < 0) {
        ctx->reason = (int)reason;
    }
}

/* Sends the packet, as it is now, out of 'port'. */
static void
pl_output(struct pl_ctx *ctx, uint32_t port)
{
    struct pipeline *pl = ctx->pl;

    if (!pl_port_exists(pl, port)) {
        pl_drop(ctx, PIPELINE_DROP_BAD_PORT);
        if (unlikely(ctx->trace)) {
            pl_trace_note(ctx, "-> port %" PRIu32 " does not exist", port);
        }
        return;
    }
    ctx->output_any = true;
    if (unlikely(ctx->trace)) {
        struct pl_trace *tr = ctx->trace;
        pl_put_commit(&tr->dp, &tr->committed, &ctx->p->key);
        tr->committed = ctx->p->key;
        if (tr->dp.len) {
            ds_put_char(&tr->dp, ',');
        }
        ds_put_format(&tr->dp, "%" PRIu32, port);
        json_array_append_new(tr->outputs, json_integer(port));
        return;
    }
    if (pl->output) {
        pl->output(pl->output_aux, port, ctx->p);
    }
}

/* Every existing port but the packet's current input port. */
static void
pl_flood(struct pl_ctx *ctx)
{
    const struct pl_tables *tab = ctx->pl->tab;

    for (size_t i = 0; i < tab->n_ports; i++) {
        if (tab->ports[i] != ctx->p->key.in_port) {
            pl_output(ctx, tab->ports[i]);
        }
    }
}

/* The action OUTPUT, which also carries the reserved port numbers. */
static void
pl_do_output(struct pl_ctx *ctx, uint32_t port)
{
    if (port == PORT_IN_PORT) {
        pl_output(ctx, ctx->p->key.in_port);
    } else if (port == PORT_FLOOD || port == PORT_ALL) {
        pl_flood(ctx);
    } else if (port == ctx->p->key.in_port) {
        /* As OpenFlow and OvS: output:N to the ingress port is ignored;
         * the in_port action is the way to send a packet back. */
        if (unlikely(ctx->trace)) {
            pl_trace_note(ctx, "-> skipping output to input port");
        }
    } else {
        pl_output(ctx, port);
    }
}

/* Action programs may rewrite the packet arbitrarily: parse it again so
 * that later actions and lookups see the result.  The ingress port in the
 * key is pipeline state (resubmit may change it), so it is kept. */
static void
pl_reparse(struct packet *p)
{
    uint32_t in_port = p->key.in_port;

    pkt_parse(p);
    p->key.in_port = in_port;
}

static const char *
pl_xdp_name(uint64_t v)
{
    static const char *const names[] = {
        "XDP_ABORTED", "XDP_DROP", "XDP_PASS", "XDP_TX", "XDP_REDIRECT",
    };
    return v < ARRAY_SIZE(names) ? names[v] : "unknown verdict (aborted)";
}

static void
pl_do_prog(struct pl_ctx *ctx, const struct pipeline_prog *prog)
{
    uint32_t redirect = PORT_NONE;
    uint32_t ofs = ctx->p->data_ofs, len = ctx->p->len;
    uint64_t v = prog->run(prog->impl, ctx->p, &redirect);

    /* The packet may now be anything: the cached part of the walk ends
     * here, and later lookups use the classifier. */
    ctx->replay = NULL;
    if (ctx->rec) {
        ctx->rec->stopped = true;
    }

    if (prog->may_modify || ctx->p->data_ofs != ofs || ctx->p->len != len) {
        pl_reparse(ctx->p);
    }
    if (unlikely(ctx->trace)) {
        pl_trace_prog(ctx, prog, "action", v, pl_xdp_name(v));
    }
    switch (v) {
    case PL_XDP_PASS:
        return;
    case PL_XDP_DROP:
        pl_drop(ctx, PIPELINE_DROP_PROG_DROP);
        break;
    case PL_XDP_TX:
        /* Straight back out of the port the packet came in on. */
        if (unlikely(ctx->trace)) {
            pl_trace_note(ctx, "-> output:%" PRIu32, ctx->p->in_port);
        }
        pl_output(ctx, ctx->p->in_port);
        break;
    case PL_XDP_REDIRECT:
        if (unlikely(ctx->trace)) {
            pl_trace_note(ctx, "-> output:%" PRIu32, redirect);
        }
        pl_output(ctx, redirect);
        break;
    default:
        pl_drop(ctx, PIPELINE_DROP_PROG_ABORTED);
        break;
    }
    /* Every verdict but XDP_PASS is final, as in XDP. */
    ctx->stop = true;
}

static void pl_run_table(struct pl_ctx *, unsigned int table,
                         const struct cls_rule *candidate);

static void
pl_do_resubmit(struct pl_ctx *ctx, const struct action *a, unsigned int table)
{
    if (ctx->depth >= PL_MAX_DEPTH || ++ctx->n_resubmits > PL_MAX_RESUBMITS) {
        pl_drop(ctx, PIPELINE_DROP_LOOP);
        ctx->stop = true;
        if (unlikely(ctx->trace)) {
            pl_trace_note(ctx, "-> too many resubmits, dropping (loop)");
        }
        return;
    }

    uint32_t saved_in_port = ctx->p->key.in_port;
    unsigned int target = a->resubmit.same_table ? table : a->resubmit.table;
    json_t *saved_cur = ctx->trace ? ctx->trace->cur : NULL;

    if (a->resubmit.in_port != PORT_IN_PORT) {
        ctx->p->key.in_port = a->resubmit.in_port;
    }
    ctx->depth++;
    pl_run_table(ctx, target, NULL);
    ctx->depth--;
    ctx->p->key.in_port = saved_in_port;
    if (unlikely(ctx->trace)) {
        ctx->trace->cur = saved_cur;
    }
}

/* Runs 'rule''s actions; returns the goto_table target or -1. */
static int
pl_execute(struct pl_ctx *ctx, const struct pl_rule *rule, unsigned int table)
{
    const struct action_list *acts = &rule->actions;
    int next_table = -1;

    if (!acts->n) {
        pl_drop(ctx, PIPELINE_DROP_ACTION_DROP);
        if (unlikely(ctx->trace)) {
            pl_trace_note(ctx, "drop");
        }
        return -1;
    }
    for (size_t i = 0; i < acts->n && !ctx->stop; i++) {
        const struct action *a = &acts->acts[i];

        if (unlikely(ctx->trace)) {
            char *text = pl_action_text(a);
            pl_trace_note(ctx, "%s", text);
            free(text);
        }
        switch (a->type) {
        case ACTION_OUTPUT:
            pl_do_output(ctx, a->port);
            break;
        case ACTION_IN_PORT:
            pl_output(ctx, ctx->p->key.in_port);
            break;
        case ACTION_FLOOD:
        case ACTION_ALL:
            pl_flood(ctx);
            break;
        case ACTION_DROP:
            pl_drop(ctx, PIPELINE_DROP_ACTION_DROP);
            ctx->stop = true;
            break;
        case ACTION_SET_FIELD: {
            const struct mf_field *mf = mf_from_id(a->set.field);
            if (mf && mf_set_packet(mf, a->set.value, ctx->p) &&
                unlikely(ctx->trace)) {
                pl_trace_note(ctx, "-> packet lacks the header, skipped");
            }
            break;
        }
        case ACTION_DEC_TTL: {
            int r = pkt_dec_ttl(ctx->p);
            if (r == 1) {
                pl_drop(ctx, PIPELINE_DROP_TTL_EXPIRED);
                ctx->stop = true;
                if (unlikely(ctx->trace)) {
                    pl_trace_note(ctx, "-> TTL expired, dropping");
                }
            } else if (r < 0 && unlikely(ctx->trace)) {
                pl_trace_note(ctx, "-> not IP, skipped");
            }
            break;
        }
        case ACTION_PUSH_VLAN: {
            /* The new tag copies VID and PCP of the current outer tag, or
             * is zero, as in OvS. */
            be16 tci = ctx->p->key.vlan_tci & htons(~VLAN_CFI & 0xffff);
            int r = pkt_push_vlan(ctx->p, a->tpid, tci);
            if (r == -ENOSPC) {
                pl_drop(ctx, PIPELINE_DROP_NO_HEADROOM);
                ctx->stop = true;
            } else if (r && unlikely(ctx->trace)) {
                pl_trace_note(ctx, "-> cannot push a tag here, skipped");
            }
            break;
        }
        case ACTION_POP_VLAN:
            if (pkt_pop_vlan(ctx->p) && unlikely(ctx->trace)) {
                pl_trace_note(ctx, "-> no VLAN tag, skipped");
            }
            break;
        case ACTION_RESUBMIT:
            pl_do_resubmit(ctx, a, table);
            break;
        case ACTION_GOTO_TABLE:
            next_table = a->table;
            break;
        case ACTION_NOTE:
            break;
        case ACTION_PROG:
            pl_do_prog(ctx, a->prog.prog);
            break;
        case ACTION_N_TYPES:
            break;
        }
    }
    return ctx->stop ? -1 : next_table;
}

/* Runs a filter program: does the rule really match? */
static bool
pl_filter(const struct cls_rule *cr, void *ctx_)
{
    struct pl_ctx *ctx = ctx_;
    const struct pl_rule *rule = pl_rule_cast(cr);

    if (!rule->filter) {
        return true;
    }
    uint32_t redirect = PORT_NONE;
    uint64_t r0 = rule->filter->run(rule->filter->impl, ctx->p, &redirect);
    return r0 != 0;
}

/* Like pl_filter(), recording the rule and the verdict in the trace. */
static bool
pl_filter_traced(const struct cls_rule *cr, void *ctx_)
{
    struct pl_ctx *ctx = ctx_;
    const struct pl_rule *rule = pl_rule_cast(cr);

    if (!rule->filter) {
        return true;
    }
    uint32_t redirect = PORT_NONE;
    uint64_t r0 = rule->filter->run(rule->filter->impl, ctx->p, &redirect);
    json_t *saved = ctx->trace->cur;
    pl_trace_table(ctx, (unsigned int)rule->spec.table, rule, !r0);
    pl_trace_prog(ctx, rule->filter, "filter", r0, r0 ? "match" : "no match");
    if (!r0) {
        pl_trace_indent(ctx, 4);
        ds_put_cstr(&ctx->trace->text, "-> trying the next rule\n");
        ctx->trace->cur = saved;
    }
    return r0 != 0;
}

/* Counts 'packets' hits of 'rule' by packets of 'bytes' bytes in all in
 * the batch counters 'acc'. */
static inline void
pl_acc_add(struct pl_acc *acc, struct pl_rule *rule, uint64_t packets,
           uint64_t bytes, uint64_t now_ns)
{
    uintptr_t a = (uintptr_t)rule;
    size_t s = (a >> 6 ^ a >> 13) & (PL_ACC_SLOTS - 1);
    size_t i;

    while ((i = acc->slot[s]) && acc->e[i - 1].rule != rule) {
        s = (s + 1) & (PL_ACC_SLOTS - 1);
    }
    if (!i) {
        if (acc->n == PL_ACC_MAX) {
            struct pl_ctr *c = &acc->ctr[rule->id];

            c->n_packets += packets;
            c->n_bytes += bytes;
            c->used_ns = MAX(c->used_ns, now_ns);
            return;
        }
        i = ++acc->n;
        acc->slot[s] = (uint8_t)i;
        acc->e[i - 1].rule = rule;
        acc->e[i - 1].packets = 0;
        acc->e[i - 1].bytes = 0;
    }
    acc->e[i - 1].packets += packets;
    acc->e[i - 1].bytes += bytes;
}

static void
pl_acc_init(struct pl_acc *acc, struct pipeline *pl)
{
    acc->ctr = pl->ctr;
    acc->n = 0;
    memset(acc->slot, 0, sizeof acc->slot);
}

static void
pl_account(struct pl_ctx *ctx, struct pl_rule *rule)
{
    if (ctx->acc) { /* Traces leave counters alone. */
        pl_acc_add(ctx->acc, rule, 1, ctx->p->len, ctx->now_ns);
    }
}

/* Adds the batch's counts to the rules.  The accumulator is spent:
 * pl_acc_init() it again before another batch (its one caller ends with
 * the batch, so it does not clear the slot table twice per batch). */
static void
pl_acc_flush(const struct pl_acc *acc, uint64_t now_ns)
{
    for (size_t i = 0; i < acc->n; i++) {
        struct pl_ctr *c = &acc->ctr[acc->e[i].rule->id];

        c->n_packets += acc->e[i].packets;
        c->n_bytes += acc->e[i].bytes;
        c->used_ns = MAX(c->used_ns, now_ns);
    }
}

/* Answers a lookup of 'table' from the next step of the flow being
 * replayed: returns true and the answer in '*out' if the step applies (same
 * table, the key in its match), re-running its filter programs in order.  A
 * verdict other than the recorded one makes the walk continue exactly as
 * the classifier would from that rule, with the replay over. */
static bool
pl_replay_lookup(struct pl_ctx *ctx, unsigned int table,
                 const struct cls_rule **out)
{
    const struct fc_flow *flow = ctx->replay;

    if (ctx->replay_pos >= flow->n_steps) {
        ctx->replay = NULL;
        return false;
    }
    /* The first step's match was checked by the cache lookup itself. */
    const struct fc_hop *st = fc_flow_hop(flow, ctx->replay_pos);
    if (st->table != table ||
        (ctx->replay_pos &&
         !match_matches(fc_flow_match(flow, ctx->replay_pos), &ctx->p->key))) {
        ctx->replay = NULL;
        return false;
    }
    ctx->replay_pos++;
    for (size_t c = 0; c < st->n_cands; c++) {
        const struct cls_rule *cr = st->cands[c];
        bool expect = st->hit && c + 1 == st->n_cands;

        if (pl_filter(cr, ctx) != expect) {
            const struct classifier *cls = ctx->pl->tab->tables[table];

            ctx->replay = NULL;
            ctx->diverged = true;
            if (expect) {
                /* The recorded winner refused: the classifier goes on
                 * below it. */
                do {
                    cr = cls_lookup_below(cls, &ctx->p->key, cr);
                } while (cr && !pl_filter(cr, ctx));
            }
            *out = cr;
            return true;
        }
    }
    *out = st->hit ? st->cands[st->n_cands - 1] : NULL;
    return true;
}

/* A classifier lookup that also records, in the next step of ctx->rec,
 * the rules asked and the masks consulted. */
static const struct cls_rule *
pl_recorded_lookup(struct pl_ctx *ctx, unsigned int table,
                   const struct cls_rule *candidate)
{
    const struct classifier *cls = ctx->pl->tab->tables[table];
    const struct flow_key *key = &ctx->p->key;
    struct fc_record *rec = ctx->rec;
    struct fc_hop *st = &rec->steps[rec->n_steps].hop;
    struct match *match = &rec->steps[rec->n_steps].match;
    struct flow_key *wc = &match->mask;
    const struct cls_rule *cr;
    size_t n = 0;

    if (candidate) {
        *wc = *ctx->cand_wc;
        cr = candidate;
    } else {
        memset(wc, 0, sizeof *wc);
        cr = cls_lookup_below_wc(cls, key, NULL, wc);
    }
    for (; cr; cr = cls_lookup_below_wc(cls, key, cr, wc)) {
        if (n == FC_MAX_CANDS) {
            rec->stopped = true; /* Too many to replay: not recorded. */
        } else {
            st->cands[n++] = cr;
        }
        if (pl_filter(cr, ctx)) {
            break;
        }
    }
    if (!rec->stopped) {
        st->n_cands = (uint8_t)n;
        st->table = (uint8_t)table;
        st->hit = cr != NULL;
        match->key = *key;
        match_normalize(match);
        rec->n_steps++;
        rec->stopped = rec->n_steps == FC_MAX_STEPS;
    }
    return cr;
}

/* The winner of 'table' for the packet: from the flow being replayed, or
 * the classifier (recording the lookup if the walk is being recorded).
 * 'candidate', if nonnull, is the unfiltered winner a batch lookup found. */
static const struct cls_rule *
pl_lookup(struct pl_ctx *ctx, unsigned int table,
          const struct cls_rule *candidate)
{
    const struct classifier *cls = ctx->pl->tab->tables[table];
    cls_pred_cb *pred = unlikely(ctx->trace) ? pl_filter_traced : pl_filter;
    const struct cls_rule *cr;

    if (ctx->replay && pl_replay_lookup(ctx, table, &cr)) {
        return cr;
    }
    if (ctx->rec && !ctx->rec->stopped) {
        return pl_recorded_lookup(ctx, table, candidate);
    }
    cr = candidate ? candidate : cls_lookup(cls, &ctx->p->key);
    while (cr && !pred(cr, ctx)) {
        cr = cls_lookup_below(cls, &ctx->p->key, cr);
    }
    return cr;
}

/* Looks 'table' up and runs the winner's actions, then follows goto_table.
 * 'candidate', if nonnull, is the unfiltered winner of table 'table' found
 * by a batch lookup. */
static void
pl_run_table(struct pl_ctx *ctx, unsigned int table,
             const struct cls_rule *candidate)
{
    for (;;) {
        const struct cls_rule *cr = pl_lookup(ctx, table, candidate);
        candidate = NULL;

        if (!cr) {
            if (unlikely(ctx->trace)) {
                pl_trace_table(ctx, table, NULL, false);
            }
            /* A miss in a resubmit just returns to the caller's actions,
             * as in OvS; elsewhere it ends the pipeline. */
            if (ctx->depth == 0) {
                pl_drop(ctx, PIPELINE_DROP_TABLE_MISS);
            }
            return;
        }

        struct pl_rule *rule = pl_rule_cast(cr);
        if (unlikely(ctx->trace) && !rule->filter) {
            pl_trace_table(ctx, table, rule, false);
        }
        pl_account(ctx, rule);

        int next = pl_execute(ctx, rule, table);
        if (next < 0 || ctx->stop) {
            return;
        }
        table = (unsigned int)next;
    }
}

static void
pl_ctx_init(struct pl_ctx *ctx, struct pipeline *pl, struct packet *p,
            uint64_t now_ns, struct pl_acc *acc, struct pl_trace *trace)
{
    ctx->pl = pl;
    ctx->p = p;
    ctx->now_ns = now_ns;
    ctx->depth = 0;
    ctx->n_resubmits = 0;
    ctx->output_any = false;
    ctx->stop = false;
    ctx->reason = -1;
    ctx->acc = acc;
    ctx->trace = trace;
    ctx->replay = NULL;
    ctx->replay_pos = 0;
    ctx->diverged = false;
    ctx->rec = NULL;
    ctx->cand_wc = NULL;
}

/* The drop reason of a finished translation, or -1 if the packet left. */
static int
pl_ctx_verdict(const struct pl_ctx *ctx)
{
    if (ctx->output_any) {
        return -1;
    }
    return ctx->reason >= 0 ? ctx->reason : PIPELINE_DROP_NO_OUTPUT;
}

/* Starts loading the line of the rule 'cr' that its hit reads (struct
 * pl_rule), so that a batch's rule misses overlap. */
static inline void
pl_prefetch_rule(const struct cls_rule *cr)
{
    if (cr) {
        __builtin_prefetch(pl_rule_cast(cr), 1);
    }
}

/* Starts loading a rule's action list, once its own line has arrived. */
static inline void
pl_prefetch_actions(const struct cls_rule *cr)
{
    if (cr) {
        __builtin_prefetch(pl_rule_cast(cr)->actions.acts);
    }
}

/* The rule a recorded lookup ended in, or NULL. */
static inline const struct cls_rule *
pl_hop_winner(const struct fc_hop *hop)
{
    return hop->hit ? hop->cands[hop->n_cands - 1] : NULL;
}

/* Prefetches what the batch's walks will read, in waves so that each
 * wave's loads depend only on lines the previous wave requested: the
 * winners of the first lookups and the later steps of the cached flows,
 * then the later steps' winners and the first winners' action lists, then
 * the later winners' action lists.  'first' holds each packet's first
 * winner (from its flow or from the batch lookup).  Without this a walk
 * of several lookups waits for each of those lines in turn.  Only the
 * 'nh' packets 'heads' are visited: a packet with the walk of the one
 * before it (a busy flow, or one flow for the whole batch) needs nothing
 * more. */
static void
pl_prefetch_walks(struct fc_flow *const *flows,
                  const struct cls_rule *const *first, const uint8_t *heads,
                  size_t nh)
{
    for (size_t h = 0; h < nh; h++) {
        size_t i = heads[h];

        pl_prefetch_rule(first[i]);
        for (size_t s = 1; flows[i] && s < flows[i]->n_steps; s++) {
            const char *step = (const char *)&flows[i]->rest[s - 1];
            for (size_t ofs = 0; ofs < sizeof(struct fc_step); ofs += 64) {
                __builtin_prefetch(step + ofs);
            }
        }
    }
    for (size_t h = 0; h < nh; h++) {
        size_t i = heads[h];

        pl_prefetch_actions(first[i]);
        for (size_t s = 1; flows[i] && s < flows[i]->n_steps; s++) {
            pl_prefetch_rule(pl_hop_winner(fc_flow_hop(flows[i], s)));
        }
    }
    for (size_t h = 0; h < nh; h++) {
        size_t i = heads[h];

        for (size_t s = 1; flows[i] && s < flows[i]->n_steps; s++) {
            pl_prefetch_actions(pl_hop_winner(fc_flow_hop(flows[i], s)));
        }
    }
}

/* Counts the end of one packet's walk under its drop reason, if any. */
static void
pl_finish(struct pl_ctx *ctx)
{
    int verdict = pl_ctx_verdict(ctx);

    if (verdict >= 0) {
        ctx->pl->drops[verdict]++;
    }
}

/* Packets whose whole walk is known to be one rule without a filter
 * program whose actions are a single output to an ordinary port
 * (rule->out_port; the walk is a cached flow of one lookup, or the winner of
 * table 0 found without a cache) skip the interpreter: consecutive packets
 * of such a rule form a run, which checks the port once and counts the
 * rule once.  The outcomes are pl_run_table()'s and pl_execute()'s: an
 * output to the ingress port is skipped (NO_OUTPUT), one to an unknown port
 * is BAD_PORT. */
struct pl_fast_run {
    struct pl_rule *rule; /* Rule of the run, or NULL for none. */
    bool port_ok;         /* Its port exists. */
    uint64_t packets;     /* Packets of the run so far. */
    uint64_t bytes;       /* Their bytes. */
};

/* The rule of 'cr' if it qualifies for a fast run (see above), else
 * NULL. */
static inline struct pl_rule *
pl_fast_rule(const struct cls_rule *cr)
{
    struct pl_rule *rule = cr ? pl_rule_cast(cr) : NULL;

    return rule && !rule->filter && rule->out_port != PORT_NONE ? rule : NULL;
}

/* Ends the current run, counting it into 'acc', and starts one of 'rule'
 * (a fast rule or NULL). */
static void
pl_fast_switch(struct pipeline *pl, struct pl_fast_run *run,
               struct pl_rule *rule, uint64_t now_ns, struct pl_acc *acc)
{
    if (run->packets) {
        pl_acc_add(acc, run->rule, run->packets, run->bytes, now_ns);
    }
    run->rule = rule;
    run->port_ok = rule && pl_port_exists(pl, rule->out_port);
    run->packets = 0;
    run->bytes = 0;
}

/* Sends 'p' the way run->rule says. */
static inline void
pl_fast_output_one(struct pipeline *pl, struct pl_fast_run *run,
                   const struct packet *p)
{
    uint32_t port = run->rule->out_port;

    run->packets++;
    run->bytes += p->len;
    if (port == p->key.in_port) {
        pl->drops[PIPELINE_DROP_NO_OUTPUT]++;
    } else if (!run->port_ok) {
        pl->drops[PIPELINE_DROP_BAD_PORT]++;
    } else if (pl->output) {
        pl->output(pl->output_aux, port, p);
    }
}

/* Sends the 'n' packets 'pkts' (a run of one flow) the way run->rule
 * says, reading the rule, its port's check and the output callback once.
 * Not inlined: inside the batch loop its registers were spilled and
 * reloaded around every run, which cost runs of one packet more than the
 * loop saves. */
static void NOINLINE
pl_fast_output_run(struct pipeline *pl, struct pl_fast_run *run,
                   struct packet *const *pkts, size_t n)
{
    uint32_t port = run->rule->out_port;
    pipeline_output_cb *output = run->port_ok ? pl->output : NULL;
    void *aux = pl->output_aux;
    uint64_t bytes = 0, looped = 0;

    for (size_t i = 0; i < n; i++) {
        const struct packet *p = pkts[i];

        bytes += p->len;
        if (port == p->key.in_port) {
            looped++;
        } else if (output) {
            output(aux, port, p);
        }
    }
    run->packets += n;
    run->bytes += bytes;
    pl->drops[PIPELINE_DROP_NO_OUTPUT] += looped;
    if (!run->port_ok) {
        pl->drops[PIPELINE_DROP_BAD_PORT] += n - looped;
    }
}

/* Sends the 'n' packets 'pkts' (a run of one flow) the way run->rule
 * says. */
static inline void
pl_fast_output(struct pipeline *pl, struct pl_fast_run *run,
               struct packet *const *pkts, size_t n)
{
    if (n == 1) {
        pl_fast_output_one(pl, run, pkts[0]);
    } else {
        pl_fast_output_run(pl, run, pkts, n);
    }
}

/* The batch without a cache: one classifier batch lookup of table 0, then
 * each packet's walk. */
static void
pl_process_uncached(struct pipeline *pl, struct packet **pkts, size_t n,
                    uint64_t now_ns, struct pl_acc *acc)
{
    const struct flow_key *keys[PACKET_BATCH_MAX];
    const struct cls_rule *hits[PACKET_BATCH_MAX];
    struct pl_fast_run run = {.rule = NULL};
    struct pl_ctx ctx;

    for (size_t i = 0; i < n; i++) {
        keys[i] = &pkts[i]->key;
    }
    cls_lookup_batch(pl->tab->tables[0], keys, n, hits);
    pl->stats.cls_lookups += n;
    for (size_t i = 0; i < n; i++) {
        pl_prefetch_rule(hits[i]);
    }
    for (size_t i = 0; i < n; i++) {
        pl_prefetch_actions(hits[i]);
    }
    for (size_t i = 0; i < n; i++) {
        if (!i || hits[i] != hits[i - 1]) {
            pl_fast_switch(pl, &run, pl_fast_rule(hits[i]), now_ns, acc);
        }
        if (run.rule) {
            size_t end = i + 1; /* The rest of the run, all at once. */

            while (end < n && hits[end] == hits[i]) {
                end++;
            }
            pl_fast_output(pl, &run, &pkts[i], end - i);
            i = end - 1;
            continue;
        }
        pl_ctx_init(&ctx, pl, pkts[i], now_ns, acc, NULL);
        pl_run_table(&ctx, 0, hits[i]);
        pl_finish(&ctx);
    }
    pl_fast_switch(pl, &run, NULL, now_ns, acc);
}

/* True if 'flow' recorded a walk of one lookup that took a rule without a
 * filter program at once. */
static inline bool
pl_flow_is_one_rule(const struct fc_flow *flow)
{
    const struct fc_hop *hop = &flow->hop0;

    return flow->n_steps == 1 && hop->n_cands == 1 && hop->hit &&
           !pl_rule_cast(hop->cands[0])->filter;
}

/* The batch through the cache: every packet's flow is looked for in the
 * EMC and the megaflow layer together, the misses are looked up in table 0
 * together (un-wildcarding as they go), then the walks run in arrival
 * order, replaying a flow where one was found and recording a new one
 * where none was. */
static void
pl_process_cached(struct pipeline *pl, struct packet **pkts, size_t n,
                  uint64_t now_ns, struct pl_acc *acc)
{
    const struct flow_key *keys[PACKET_BATCH_MAX];
    uint32_t hashes[PACKET_BATCH_MAX];
    struct fc_flow *flows[PACKET_BATCH_MAX];
    uint8_t heads[PACKET_BATCH_MAX]; /* Packets that start a new walk. */
    const struct flow_key *mkeys[PACKET_BATCH_MAX];
    const struct cls_rule *mhits[PACKET_BATCH_MAX];
    const struct cls_rule *first[PACKET_BATCH_MAX];
    struct flow_key wcs[PACKET_BATCH_MAX];
    struct fc_record rec;
    struct pl_fast_run run = {.rule = NULL};
    struct pl_ctx ctx;
    size_t nm = 0, nh = 0;
    bool inserted = false;

    fc_collect(pl->cache);
    for (size_t i = 0; i < n; i++) {
        keys[i] = &pkts[i]->key;
        hashes[i] = pkts[i]->hash;
    }
    if (fc_lookup_batch(pl->cache, keys, hashes, n, flows) < n) {
        for (size_t i = 0; i < n; i++) {
            if (!flows[i]) {
                memset(&wcs[nm], 0, sizeof wcs[nm]);
                mkeys[nm++] = keys[i];
            }
        }
    }
    if (nm) {
        cls_lookup_batch_wc(pl->tab->tables[0], mkeys, nm, mhits, wcs);
    }
    for (size_t i = 0, m = 0; i < n; i++) {
        if (i && flows[i] && flows[i] == flows[i - 1]) {
            first[i] = first[i - 1]; /* A run of one flow: one walk. */
            continue;
        }
        first[i] = flows[i] ? pl_hop_winner(&flows[i]->hop0) : mhits[m++];
        heads[nh] = (uint8_t)i;
        nh += !i || flows[i] != flows[i - 1] || first[i] != first[i - 1];
    }
    pl_prefetch_walks(flows, first, heads, nh);

    for (size_t i = 0, m = 0; i < n; i++) {
        struct packet *p = pkts[i];

        if (!i || flows[i] != flows[i - 1]) {
            pl_fast_switch(pl, &run,
                           flows[i] && pl_flow_is_one_rule(flows[i])
                               ? pl_fast_rule(flows[i]->hop0.cands[0])
                               : NULL,
                           now_ns, acc);
        }
        if (run.rule) {
            size_t end = i + 1; /* The rest of the run, all at once. */

            while (end < n && flows[end] == flows[i]) {
                end++;
            }
            pl_fast_output(pl, &run, &pkts[i], end - i);
            i = end - 1;
            continue;
        }
        pl_ctx_init(&ctx, pl, p, now_ns, acc, NULL);
        if (!flows[i] && inserted) {
            /* An earlier packet of this batch may have just cached this
             * one's flow. */
            fc_lookup_batch(pl->cache, &keys[i], &hashes[i], 1, &flows[i]);
            m += flows[i] != NULL;
        }
        if (flows[i] && pl_flow_is_one_rule(flows[i])) {
            /* The whole recorded walk is one rule with no program to
             * re-run: it is the candidate, as from a batch lookup. */
            pl_run_table(&ctx, 0, flows[i]->hop0.cands[0]);
        } else if (flows[i]) {
            ctx.replay = flows[i];
            pl_run_table(&ctx, 0, NULL);
            if (ctx.diverged) {
                fc_kill(pl->cache, flows[i]);
            }
        } else {
            struct flow_key key0 = p->key;

            rec.n_steps = 0;
            rec.stopped = false;
            ctx.rec = &rec;
            ctx.cand_wc = &wcs[m];
            pl_run_table(&ctx, 0, mhits[m++]);
            pl->stats.cls_lookups++;
            inserted |= fc_insert(pl->cache, &key0, hashes[i], &rec) != NULL;
        }
        pl_finish(&ctx);
    }
    pl_fast_switch(pl, &run, NULL, now_ns, acc);
}

void
pipeline_process(struct pipeline *pl, struct packet_batch *batch,
                 uint64_t now_ns)
{
    struct pl_acc acc;
    size_t n = MIN(batch->count, PACKET_BATCH_MAX);

    if (!n) {
        return;
    }
    pl->stats.packets += n;
    pl->stats.batches++;
    pl_acc_init(&acc, pl);
    if (pl->cache) {
        pl_process_cached(pl, batch->pkts, n, now_ns, &acc);
    } else {
        pl_process_uncached(pl, batch->pkts, n, now_ns, &acc);
    }
    pl_acc_flush(&acc, now_ns);
}

/* ---- Dumps. ---- */

static void
pl_put_duration(struct ds *ds, uint64_t from_ns, uint64_t now_ns)
{
    uint64_t d = now_ns > from_ns ? now_ns - from_ns : 0;

    ds_put_format(ds, "%" PRIu64 ".%03us", d / NS_PER_SEC,
                  (unsigned int)(d % NS_PER_SEC / 1000000));
}

static uint64_t
pl_age_sec(uint64_t from_ns, uint64_t now_ns)
{
    return now_ns > from_ns ? (now_ns - from_ns) / NS_PER_SEC : 0;
}

/* Calls 'cb' for every rule, table by table, in rank order. */
static void
pl_for_each_rule(const struct pipeline *pl,
                 void (*cb)(const struct pl_rule *, void *), void *aux)
{
    for (size_t t = 0; t < FLOW_N_TABLES; t++) {
        size_t n;

        if (!cls_count(pl->tab->tables[t])) {
            continue;
        }
        struct cls_rule **rules = cls_rules(pl->tab->tables[t], &n);
        for (size_t i = 0; i < n; i++) {
            cb(pl_rule_cast(rules[i]), aux);
        }
        free(rules);
    }
}

struct pl_dump_aux {
    const struct pl_tables *tab;
    struct ds *ds;
    bool stats;
    uint64_t now_ns;
    json_t *array;
};

static void
pl_dump_rule(const struct pl_rule *rule, void *aux_)
{
    struct pl_dump_aux *aux = aux_;
    const struct flow_spec *s = &rule->spec;
    struct ds *ds = aux->ds;

    if (!aux->stats) {
        flow_spec_format(s, ds);
        ds_put_char(ds, '\n');
        return;
    }
    struct pl_ctr c = pl_rule_counts(aux->tab, rule);

    ds_put_format(ds, " cookie=0x%" PRIx64 ", duration=", s->cookie);
    pl_put_duration(ds, rule->created_ns, aux->now_ns);
    ds_put_format(ds,
                  ", table=%u, n_packets=%" PRIu64 ", n_bytes=%" PRIu64 ", ",
                  (unsigned int)s->table, c.n_packets, c.n_bytes);
    if (s->idle_timeout) {
        ds_put_format(ds, "idle_timeout=%u, ", (unsigned int)s->idle_timeout);
    }
    if (s->hard_timeout) {
        ds_put_format(ds, "hard_timeout=%u, ", (unsigned int)s->hard_timeout);
    }
    ds_put_format(ds, "idle_age=%" PRIu64 ", priority=%u",
                  pl_age_sec(c.used_ns, aux->now_ns),
                  (unsigned int)s->priority);
    struct ds match = DS_EMPTY_INITIALIZER;
    flow_match_format(&s->match, s->prog_name, &match);
    if (match.len) {
        ds_put_format(ds, ",%s", ds_cstr(&match));
    }
    ds_destroy(&match);
    ds_put_cstr(ds, " actions=");
    action_list_format(&s->actions, ds);
    ds_put_char(ds, '\n');
}

void
pipeline_dump(const struct pipeline *pl, bool stats, uint64_t now_ns,
              struct ds *ds)
{
    struct pl_dump_aux aux = {pl->tab, ds, stats, now_ns, NULL};

    pl_for_each_rule(pl, pl_dump_rule, &aux);
}

static void
pl_dump_rule_json(const struct pl_rule *rule, void *aux_)
{
    struct pl_dump_aux *aux = aux_;
    const struct flow_spec *s = &rule->spec;
    json_t *j = json_object();
    struct ds ds = DS_EMPTY_INITIALIZER;
    char cookie[24];
    uint64_t d =
        aux->now_ns > rule->created_ns ? aux->now_ns - rule->created_ns : 0;
    struct pl_ctr c = pl_rule_counts(aux->tab, rule);

    snprintf(cookie, sizeof cookie, "0x%" PRIx64, s->cookie);
    json_object_set_new(j, "table", json_integer(s->table));
    json_object_set_new(j, "priority", json_integer(s->priority));
    json_object_set_new(j, "cookie", json_string(cookie));
    json_object_set_new(j, "duration", json_real((double)d / 1e9));
    json_object_set_new(j, "n_packets", json_integer((json_int_t)c.n_packets));
    json_object_set_new(j, "n_bytes", json_integer((json_int_t)c.n_bytes));
    json_object_set_new(j, "idle_timeout", json_integer(s->idle_timeout));
    json_object_set_new(j, "hard_timeout", json_integer(s->hard_timeout));
    json_object_set_new(
        j, "idle_age",
        json_integer((json_int_t)pl_age_sec(c.used_ns, aux->now_ns)));
    flow_match_format(&s->match, s->prog_name, &ds);
    json_object_set_new(j, "match", json_string(ds.len ? ds_cstr(&ds) : ""));
    ds_clear(&ds);
    action_list_format(&s->actions, &ds);
    json_object_set_new(j, "actions", json_string(ds_cstr(&ds)));
    ds_clear(&ds);
    flow_spec_format(s, &ds);
    json_object_set_new(j, "flow", json_string(ds_cstr(&ds)));
    ds_destroy(&ds);
    json_array_append_new(aux->array, j);
}

static void
pl_put_json(struct ds *ds, json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);

    ds_put_cstr(ds, s);
    free(s);
    json_decref(j);
}

void
pipeline_dump_json(const struct pipeline *pl, uint64_t now_ns, struct ds *ds)
{
    struct pl_dump_aux aux = {pl->tab, ds, true, now_ns, json_array()};

    pl_for_each_rule(pl, pl_dump_rule_json, &aux);
    pl_put_json(ds, aux.array);
}

/* ---- Trace. ---- */

void
pipeline_trace(struct pipeline *pl, struct packet *p, uint64_t now_ns,
               bool json, struct ds *out)
{
    struct pl_trace tr;
    struct pl_ctx ctx;
    struct ds flow = DS_EMPTY_INITIALIZER;

    ds_init(&tr.text);
    ds_init(&tr.dp);
    tr.tables = json_array();
    tr.outputs = json_array();
    tr.cur = NULL;
    tr.committed = p->key;

    flow_key_format(&p->key, &flow);
    ds_put_format(&tr.text,
                  "Flow: %s\n\nbridge(\"sluice\")\n"
                  "----------------\n",
                  flow.len ? ds_cstr(&flow) : "");

    pl_ctx_init(&ctx, pl, p, now_ns, NULL, &tr);
    pl_run_table(&ctx, 0, NULL);
    int verdict = pl_ctx_verdict(&ctx);

    struct ds final = DS_EMPTY_INITIALIZER;
    flow_key_format(&p->key, &final);
    ds_put_format(&tr.text, "\nFinal flow: %s\n",
                  final.len ? ds_cstr(&final) : "");
    if (verdict >= 0) {
        /* Rewrites after the last output change nothing on the wire. */
        ds_put_format(&tr.text, "Datapath actions: drop (%s: %s)\n",
                      pipeline_drop_name(verdict), pipeline_drop_text(verdict));
    } else {
        ds_put_format(&tr.text, "Datapath actions: %s\n", ds_cstr(&tr.dp));
    }

    if (json) {
        json_t *j = json_object();
        json_object_set_new(j, "flow",
                            json_string(flow.len ? ds_cstr(&flow) : ""));
        json_object_set_new(j, "tables", tr.tables);
        json_object_set_new(j, "final_flow",
                            json_string(final.len ? ds_cstr(&final) : ""));
        json_object_set_new(j, "outputs", tr.outputs);
        json_object_set_new(
            j, "datapath_actions",
            json_string(verdict >= 0 ? "drop" : ds_cstr(&tr.dp)));
        json_object_set_new(j, "verdict",
                            json_string(verdict >= 0 ? "drop" : "output"));
        json_object_set_new(j, "drop_reason",
                            verdict >= 0
                                ? json_string(pipeline_drop_name(verdict))
                                : json_null());
        pl_put_json(out, j);
    } else {
        ds_put_buf(out, tr.text.buf, tr.text.len);
        json_decref(tr.tables);
        json_decref(tr.outputs);
    }
    ds_destroy(&tr.text);
    ds_destroy(&tr.dp);
    ds_destroy(&flow);
    ds_destroy(&final);
}
