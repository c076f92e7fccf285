/* The live datapath; see dp_live.h.
 *
 * Why versions swapped under RCU (liburcu QSBR) rather than versioned
 * rules: the pipeline (src/flow) is a single-threaded structure, so a
 * datapath thread must never see it change under it.  Every change
 * (flow add/del/mod, port add/del, a reload, an expired timeout) is first
 * applied to the control thread's "shadow" datapath, which validates it
 * (a failure changes nothing), and then a complete new struct dpl_version
 * is built: one private pipeline per datapath thread plus the port set.
 * It is published with rcu_assign_pointer(); datapath threads pick it up
 * at their next batch.  After synchronize_rcu() no thread uses the old
 * version any more: its rule counters are folded into the control
 * thread's per-rule base counters (so counters survive rebuilds), and it
 * is freed.  QSBR makes the read side free: a datapath thread announces a
 * quiescent state once per poll round and goes "offline" while it sleeps
 * in poll(), so grace periods end quickly even when idle.
 *
 * Per-thread pipelines also mean rule counters and drop counters are
 * per-thread and folded on read, as the multi-core work (issue 7) needs;
 * a rebuild costs O(rules x threads), which that work can replace with
 * versioned rules inside the classifier.
 *
 * Timeouts use the wall clock.  The datapath pipelines never expire rules
 * themselves (threads would disagree); once a second the control thread
 * reads each rule's counters, notes when they last moved (its idle age)
 * and removes rules whose idle or hard timeout passed, by rebuilding.
 *
 * Idle threads: after DPL_IDLE_POLLS empty polls of all its ports a thread
 * goes RCU-offline and sleeps in poll() on its ports' descriptors (at most
 * DPL_IDLE_SLEEP_MS), so an idle switch uses no CPU.
 *
 * Output: with one thread a packet goes straight into the port's tx queue;
 * with several, transmission on a port is serialized by a per-port spin
 * lock (ports own one tx ring).  The lock guards the port, never the
 * configuration. */
#include "dp_live.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <urcu-qsbr.h>

#include "cli/config.h"
#include "core/hash.h"
#include "core/log.h"
#include "dp.h"
#include "flow/flow_parse.h"
#include "flow/flow_prog.h"
#include "flow/pipeline.h"
#include "pkt/pkt.h"
#include "port/port.h"

LOG_DEFINE_MODULE(dp_live);

#define NS_PER_SEC 1000000000ull
/* Ports a thread remembers to flush after a batch before flushing early. */
#define DPL_DIRTY_MAX 64

struct dpl_port {
    uint32_t number;          /* Port number. */
    char *spec;               /* Spec it was opened with (owned). */
    struct port *port;        /* Open port (owned). */
    unsigned int thread;      /* Datapath thread that polls it. */
    bool can_rx;              /* Whether it receives at all. */
    pthread_spinlock_t tx_lock;    /* Serializes tx with several threads. */
    uint64_t parse_errors;         /* Packets whose parse stopped early. */
    uint8_t dirty[DPL_MAX_THREADS]; /* Thread queued output since flush. */
};

/* What the datapath threads read; immutable once published, except for
 * counters. */
struct dpl_version {
    struct pipeline *pl[DPL_MAX_THREADS]; /* One per thread. */
    struct dpl_port **ports;              /* Sorted by number. */
    size_t n_ports;
    struct dpl_port **by_number;          /* Index by number, or NULL. */
    uint32_t n_by_number;                 /* Entries in 'by_number'. */
};

struct dpl_thread {
    struct dpl *dpl;          /* Owner. */
    unsigned int id;          /* Index in dpl->threads. */
    pthread_t tid;
    struct dpl_version *cur;  /* Version of the batch being processed. */
    struct dpl_port *dirty[DPL_DIRTY_MAX]; /* Ports to flush. */
    unsigned int n_dirty;
    /* Counters, written by the thread only (read racily on x86-64). */
    uint64_t packets;     /* Packets processed. */
    uint64_t batches;     /* Non-empty batches. */
    uint64_t polls;       /* rx_batch calls. */
    uint64_t idle_polls;  /* rx_batch calls that returned nothing. */
    uint64_t sleeps;      /* Times it slept in poll(). */
    uint64_t busy_ns;     /* Time spent processing batches (ns). */
};

/* Control-thread record of a rule, keyed by table, priority and match. */
struct dpl_rec {
    struct dpl_rec *next; /* Hash chain. */
    char *key;            /* "TABLE/PRIORITY/MATCH" (owned). */
    uint64_t base_packets; /* Counted by retired versions. */
    uint64_t base_bytes;
    uint64_t cur_packets;  /* Current version (scratch of dpl_collect). */
    uint64_t cur_bytes;
    uint64_t last_total;   /* Packets at the last collect. */
    uint64_t used_ns;      /* Wall clock when it last matched. */
    bool mark;             /* Scratch. */
};

#define DPL_REC_BUCKETS 4096

struct dpl {
    unsigned int n_threads;
    struct dpl_thread threads[DPL_MAX_THREADS];
    bool started;                 /* Threads running. */
    int stop;                     /* Set to end the threads. */

    struct dpl_version *version;  /* Published (RCU). */
    struct dp *shadow;            /* Rules and programs (control thread). */
    struct dpl_port **ports;      /* Open ports, sorted by number. */
    size_t n_ports;
    struct dpl_port **retired;    /* Ports to close after a grace period. */
    size_t n_retired;
    struct dpl_rec *recs[DPL_REC_BUCKETS];  /* Rule records. */
    uint64_t base_drops[PIPELINE_N_DROPS];  /* From retired versions. */
};

static uint64_t
dpl_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

/* ---- Datapath threads. ---- */

static void
dpl_port_tx(struct dpl_thread *t, struct dpl_port *dpp,
            const struct packet *p)
{
    if (t->dpl->n_threads > 1) {
        pthread_spin_lock(&dpp->tx_lock);
        port_tx(dpp->port, p);
        pthread_spin_unlock(&dpp->tx_lock);
    } else {
        port_tx(dpp->port, p);
    }
}

static void
dpl_port_flush(struct dpl_thread *t, struct dpl_port *dpp)
{
    if (t->dpl->n_threads > 1) {
        pthread_spin_lock(&dpp->tx_lock);
        port_flush(dpp->port);
        pthread_spin_unlock(&dpp->tx_lock);
    } else {
        port_flush(dpp->port);
    }
    dpp->dirty[t->id] = 0;
}

static void
dpl_flush_dirty(struct dpl_thread *t)
{
    for (unsigned int i = 0; i < t->n_dirty; i++) {
        dpl_port_flush(t, t->dirty[i]);
    }
    t->n_dirty = 0;
}

/* Pipeline output callback; 'aux' is the thread. */
static void
dpl_output(void *aux, uint32_t number, const struct packet *p)
{
    struct dpl_thread *t = aux;
    struct dpl_version *v = t->cur;
    struct dpl_port *dpp;

    if (number >= v->n_by_number || !(dpp = v->by_number[number])) {
        return;
    }
    dpl_port_tx(t, dpp, p);
    if (!dpp->dirty[t->id]) {
        if (t->n_dirty == DPL_DIRTY_MAX) {
            dpl_flush_dirty(t);
        }
        dpp->dirty[t->id] = 1;
        t->dirty[t->n_dirty++] = dpp;
    }
}

static void
dpl_process(struct dpl_thread *t, struct dpl_version *v,
            struct dpl_port *in, struct packet_batch *b)
{
    uint64_t now = dpl_now();

    pkt_parse_batch(b);
    for (unsigned int i = 0; i < b->count; i++) {
        if (b->pkts[i]->parse_err != PKT_ERR_NONE) {
            in->parse_errors++;
        }
    }
    t->cur = v;
    pipeline_process(v->pl[t->id], b, now);
    dpl_flush_dirty(t);
    t->packets += b->count;
    t->batches++;
    t->busy_ns += dpl_now() - now;
}

/* Sleeps until one of the thread's ports has frames (or a short timeout),
 * RCU-offline so that grace periods do not wait for it. */
static void
dpl_sleep(struct dpl_thread *t)
{
    struct dpl_version *v = rcu_dereference(t->dpl->version);
    struct pollfd fds[256];
    int timeout = DPL_IDLE_SLEEP_MS;
    nfds_t n = 0;

    for (size_t i = 0; i < v->n_ports && n < ARRAY_SIZE(fds); i++) {
        struct dpl_port *dpp = v->ports[i];
        int fd;

        if (dpp->thread != t->id || !dpp->can_rx) {
            continue;
        }
        fd = port_fd(dpp->port);
        if (fd < 0) {
            /* Nothing to wait on: back off briefly instead. */
            timeout = 1;
            continue;
        }
        fds[n++] = (struct pollfd){.fd = fd, .events = POLLIN};
    }
    t->sleeps++;
    rcu_thread_offline();
    poll(fds, n, timeout);
    rcu_thread_online();
}

static void *
dpl_thread_main(void *aux)
{
    struct dpl_thread *t = aux;
    struct packet_batch b;
    unsigned int idle = 0;

    rcu_register_thread();
    while (!uatomic_read(&t->dpl->stop)) {
        struct dpl_version *v = rcu_dereference(t->dpl->version);
        unsigned int got = 0;

        for (size_t i = 0; i < v->n_ports; i++) {
            struct dpl_port *dpp = v->ports[i];
            int n;

            if (dpp->thread != t->id || !dpp->can_rx) {
                continue;
            }
            n = port_rx_batch(dpp->port, &b);
            t->polls++;
            if (n > 0) {
                got += (unsigned int)n;
                dpl_process(t, v, dpp, &b);
            } else {
                t->idle_polls++;
            }
        }
        rcu_quiescent_state();
        if (got) {
            idle = 0;
        } else if (++idle >= DPL_IDLE_POLLS) {
            dpl_sleep(t);
            idle = 0;
        }
    }
    rcu_unregister_thread();
    return NULL;
}

/* ---- Rule records. ---- */

static char *
dpl_rule_key(const json_t *rule)
{
    return xasprintf(
        "%d/%d/%s", (int)json_integer_value(json_object_get(rule, "table")),
        (int)json_integer_value(json_object_get(rule, "priority")),
        json_string_value(json_object_get(rule, "match")));
}

static struct dpl_rec *
dpl_rec_find(struct dpl *dpl, const char *key, bool create, uint64_t now)
{
    uint32_t h = hash_bytes(key, strlen(key), 0) % DPL_REC_BUCKETS;
    struct dpl_rec *r;

    for (r = dpl->recs[h]; r; r = r->next) {
        if (!strcmp(r->key, key)) {
            return r;
        }
    }
    if (!create) {
        return NULL;
    }
    r = xzalloc(sizeof *r);
    r->key = xstrdup(key);
    r->used_ns = now;
    r->next = dpl->recs[h];
    dpl->recs[h] = r;
    return r;
}

/* The rules of 'pl' as a JSON array (pipeline_dump_json). */
static json_t *
dpl_rules_json(const struct pipeline *pl, uint64_t now)
{
    struct ds s = DS_EMPTY_INITIALIZER;
    json_t *j;

    pipeline_dump_json(pl, now, &s);
    j = json_loads(ds_cstr(&s), 0, NULL);
    ds_destroy(&s);
    return j ? j : json_array();
}

/* Adds the rule counters of 'v''s pipelines to the records' 'cur' (when
 * 'into_base' is false) or 'base' counters. */
static void
dpl_count_version(struct dpl *dpl, const struct dpl_version *v,
                  bool into_base, uint64_t now)
{
    for (unsigned int t = 0; t < dpl->n_threads; t++) {
        json_t *rules = dpl_rules_json(v->pl[t], now);
        size_t i;
        json_t *r;

        json_array_foreach (rules, i, r) {
            char *key = dpl_rule_key(r);
            struct dpl_rec *rec = dpl_rec_find(dpl, key, false, now);
            uint64_t n = (uint64_t)json_integer_value(
                json_object_get(r, "n_packets"));
            uint64_t bytes =
                (uint64_t)json_integer_value(json_object_get(r, "n_bytes"));

            if (rec && into_base) {
                rec->base_packets += n;
                rec->base_bytes += bytes;
            } else if (rec) {
                rec->cur_packets += n;
                rec->cur_bytes += bytes;
            }
            free(key);
        }
        json_decref(rules);
    }
}

/* Refreshes every record's 'cur' counters from the published version and
 * notes which rules matched since the last call. */
static void
dpl_collect(struct dpl *dpl, uint64_t now)
{
    for (size_t b = 0; b < DPL_REC_BUCKETS; b++) {
        for (struct dpl_rec *r = dpl->recs[b]; r; r = r->next) {
            r->cur_packets = r->cur_bytes = 0;
        }
    }
    dpl_count_version(dpl, dpl->version, false, now);
    for (size_t b = 0; b < DPL_REC_BUCKETS; b++) {
        for (struct dpl_rec *r = dpl->recs[b]; r; r = r->next) {
            uint64_t total = r->base_packets + r->cur_packets;

            if (total != r->last_total) {
                r->last_total = total;
                r->used_ns = now;
            }
        }
    }
}

/* Drops the records of rules that no longer exist ('mark' false). */
static void
dpl_prune_recs(struct dpl *dpl)
{
    for (size_t b = 0; b < DPL_REC_BUCKETS; b++) {
        struct dpl_rec **prev = &dpl->recs[b];

        while (*prev) {
            struct dpl_rec *r = *prev;

            if (!r->mark) {
                *prev = r->next;
                free(r->key);
                free(r);
            } else {
                r->mark = false;
                prev = &r->next;
            }
        }
    }
}

/* ---- Versions. ---- */

static void
dpl_port_numbers(struct dpl_port **ports, size_t n, uint32_t **numbersp)
{
    uint32_t *numbers = xcalloc(n ? n : 1, sizeof *numbers);

    for (size_t i = 0; i < n; i++) {
        numbers[i] = ports[i]->number;
    }
    *numbersp = numbers;
}

/* Re-adds the rules 'rules' (JSON from pipeline_dump_json) to 'pl'.
 * 'keep_time': start each at now - its duration (so a rebuilt shadow keeps
 * ages and hard timeouts); otherwise at 'now'. */
static char *
dpl_add_rules(struct pipeline *pl, const json_t *rules, bool keep_time,
              uint64_t now)
{
    size_t i;
    json_t *r;

    json_array_foreach (rules, i, r) {
        const char *text = json_string_value(json_object_get(r, "flow"));
        double d = json_number_value(json_object_get(r, "duration"));
        uint64_t ago = (uint64_t)llround(d * 1e9);
        struct flow_spec spec;
        int col = 1;
        char *error = flow_spec_parse(&spec, text, FLOW_PARSE_ADD, &col);

        if (!error) {
            error = pipeline_add(pl, &spec,
                                 keep_time && ago < now ? now - ago : now);
        }
        flow_spec_destroy(&spec);
        if (error) {
            char *msg = xasprintf("re-adding '%s': %s", text, error);

            free(error);
            return msg;
        }
    }
    return NULL;
}

/* A new pipeline for 'shadow''s programs and the ports 'ports'. */
static struct pipeline *
dpl_new_pipeline(struct dp *shadow, struct dpl_port **ports, size_t n)
{
    struct pipeline *pl = pipeline_create();
    uint32_t *numbers;

    pipeline_set_prog_lookup(pl, flow_progs_lookup, dp_progs(shadow));
    dpl_port_numbers(ports, n, &numbers);
    pipeline_set_ports(pl, numbers, n);
    free(numbers);
    return pl;
}

static void
dpl_version_free(struct dpl *dpl, struct dpl_version *v)
{
    if (!v) {
        return;
    }
    for (unsigned int t = 0; t < dpl->n_threads; t++) {
        pipeline_destroy(v->pl[t]);
    }
    free(v->ports);
    free(v->by_number);
    free(v);
}

/* Builds a version of the shadow's rules and the current port list. */
static char *
dpl_version_build(struct dpl *dpl, struct dpl_version **vp)
{
    struct dpl_version *v = xzalloc(sizeof *v);
    uint64_t now = dpl_now();
    json_t *rules = dpl_rules_json(dp_pipeline(dpl->shadow), now);
    char *error = NULL;

    v->n_ports = dpl->n_ports;
    v->ports = xcalloc(v->n_ports ? v->n_ports : 1, sizeof *v->ports);
    memcpy(v->ports, dpl->ports, v->n_ports * sizeof *v->ports);
    v->n_by_number = v->n_ports ? v->ports[v->n_ports - 1]->number + 1 : 1;
    v->by_number = xcalloc(v->n_by_number, sizeof *v->by_number);
    for (size_t i = 0; i < v->n_ports; i++) {
        v->by_number[v->ports[i]->number] = v->ports[i];
    }
    for (unsigned int t = 0; t < dpl->n_threads; t++) {
        v->pl[t] = dpl_new_pipeline(dpl->shadow, dpl->ports, dpl->n_ports);
        pipeline_set_output(v->pl[t], dpl_output, &dpl->threads[t]);
        if (!error) {
            error = dpl_add_rules(v->pl[t], rules, false, now);
        }
    }
    json_decref(rules);
    if (error) {
        dpl_version_free(dpl, v);
        return error;
    }
    *vp = v;
    return NULL;
}

/* Publishes a version built from the shadow.  Records of rules whose key
 * is in 'reset' (a JSON object used as a set, or NULL) start from zero.
 * 'old_shadow', if any, is destroyed once no thread can use it. */
static char *
dpl_publish(struct dpl *dpl, const json_t *reset, struct dp *old_shadow)
{
    struct dpl_version *v, *old;
    uint64_t drops[PIPELINE_N_DROPS];
    uint64_t now = dpl_now();
    char *error = dpl_version_build(dpl, &v);
    json_t *rules;
    size_t i;
    json_t *r;

    if (error) {
        return error;
    }
    old = dpl->version;
    rcu_assign_pointer(dpl->version, v);
    synchronize_rcu();

    /* 'old' is quiet now: keep its counts. */
    if (old) {
        dpl_count_version(dpl, old, true, now);
        for (unsigned int t = 0; t < dpl->n_threads; t++) {
            pipeline_drop_counts(old->pl[t], drops);
            for (size_t d = 0; d < PIPELINE_N_DROPS; d++) {
                dpl->base_drops[d] += drops[d];
            }
        }
    }
    dpl_version_free(dpl, old);
    dp_destroy(old_shadow);
    for (size_t k = 0; k < dpl->n_retired; k++) {
        struct dpl_port *dpp = dpl->retired[k];

        port_close(dpp->port);
        pthread_spin_destroy(&dpp->tx_lock);
        free(dpp->spec);
        free(dpp);
    }
    dpl->n_retired = 0;

    /* Records follow the shadow's rules. */
    rules = dpl_rules_json(dp_pipeline(dpl->shadow), now);
    json_array_foreach (rules, i, r) {
        char *key = dpl_rule_key(r);
        struct dpl_rec *rec = dpl_rec_find(dpl, key, true, now);

        if (reset && json_object_get(reset, key)) {
            rec->base_packets = rec->base_bytes = rec->last_total = 0;
            rec->used_ns = now;
        }
        rec->mark = true;
        free(key);
    }
    json_decref(rules);
    dpl_prune_recs(dpl);
    return NULL;
}

/* Replaces the shadow's rules by 'rules' (JSON), keeping their ages. */
static char *
dpl_shadow_set_rules(struct dpl *dpl, const json_t *rules)
{
    struct pipeline *pl =
        dpl_new_pipeline(dpl->shadow, dpl->ports, dpl->n_ports);
    char *error;

    /* Program lookup must be in place before the rules are added. */
    pipeline_destroy(dp_replace_pipeline(dpl->shadow, pl));
    error = dpl_add_rules(pl, rules, true, dpl_now());
    return error;
}

/* ---- Lifetime. ---- */

struct dpl *
dpl_create(unsigned int n_threads)
{
    struct dpl *dpl = xzalloc(sizeof *dpl);
    char *error;

    dpl->n_threads = MAX(1u, MIN(n_threads, DPL_MAX_THREADS));
    for (unsigned int t = 0; t < dpl->n_threads; t++) {
        dpl->threads[t].dpl = dpl;
        dpl->threads[t].id = t;
    }
    dpl->shadow = dp_create();
    error = dpl_publish(dpl, NULL, NULL);
    /* An empty table cannot fail to build. */
    ovs_ignore_error_(error);
    return dpl;
}
