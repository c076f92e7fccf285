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
 * themselves (threads would disagree); once a second, if any rule has a
 * timeout, the control thread reads each rule's last hit from the
 * threads' pipelines (their idle ages) and removes rules whose idle or
 * hard timeout passed, by rebuilding.
 *
 * Programs: the versions share the shadow's loaded programs (struct
 * flow_progs), so program state (maps) survives every rebuild.  A program
 * is unloaded only when no rule of any live version uses it.
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
    uint32_t number;                /* Port number. */
    char *spec;                     /* Spec it was opened with (owned). */
    struct port *port;              /* Open port (owned). */
    unsigned int thread;            /* Datapath thread that polls it. */
    bool can_rx;                    /* Whether it receives at all. */
    pthread_spinlock_t tx_lock;     /* Serializes tx with several threads. */
    uint64_t parse_errors;          /* Packets whose parse stopped early. */
    uint8_t dirty[DPL_MAX_THREADS]; /* Thread queued output since flush. */
};

/* What the datapath threads read; immutable once published, except for
 * counters. */
struct dpl_version {
    struct pipeline *pl[DPL_MAX_THREADS]; /* One per thread. */
    struct dpl_port **ports;              /* Sorted by number. */
    size_t n_ports;
    struct dpl_port **by_number; /* Index by number, or NULL. */
    uint32_t n_by_number;        /* Entries in 'by_number'. */
};

struct dpl_thread {
    struct dpl *dpl; /* Owner. */
    unsigned int id; /* Index in dpl->threads. */
    pthread_t tid;
    struct dpl_version *cur; /* Version of the batch being processed. */
    struct dpl_port *dirty[DPL_DIRTY_MAX]; /* Ports to flush. */
    unsigned int n_dirty;
    /* Counters, written by the thread only (read racily on x86-64). */
    uint64_t packets;           /* Packets processed. */
    uint64_t batches;           /* Non-empty batches. */
    uint64_t polls;             /* rx_batch calls. */
    uint64_t idle_polls;        /* rx_batch calls that returned nothing. */
    uint64_t sleeps;            /* Times it slept in poll(). */
    uint64_t busy_ns;           /* Time spent processing batches (ns). */
} __attribute__((aligned(64))); /* No false sharing between threads. */

/* Control-thread record of a rule, keyed by table, priority and match. */
struct dpl_rec {
    struct dpl_rec *next;  /* Hash chain. */
    char *key;             /* "TABLE/PRIORITY/MATCH" (owned). */
    uint64_t base_packets; /* Counted by retired versions. */
    uint64_t base_bytes;
    uint64_t cur_packets; /* Current version (scratch of dpl_collect). */
    uint64_t cur_bytes;
    uint64_t used_ns; /* Wall clock when it last matched. */
    bool mark;        /* Scratch. */
};

#define DPL_REC_BUCKETS 4096

struct dpl {
    unsigned int n_threads;
    struct dpl_thread threads[DPL_MAX_THREADS];
    bool started; /* Threads running. */
    int stop;     /* Set to end the threads. */

    struct dpl_version *version; /* Published (RCU). */
    struct dp *shadow;           /* Rules and programs (control thread). */
    struct dpl_port **ports;     /* Open ports, sorted by number. */
    size_t n_ports;
    struct dpl_port **retired; /* Ports to close after a grace period. */
    size_t n_retired;
    struct dpl_rec *recs[DPL_REC_BUCKETS]; /* Rule records. */
    uint64_t base_drops[PIPELINE_N_DROPS]; /* From retired versions. */
    size_t n_timed; /* Rules with an idle or hard timeout. */
};

static void dpl_port_free(struct dpl_port *);

static uint64_t
dpl_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

/* ---- Datapath threads. ---- */

static void
dpl_port_tx(struct dpl_thread *t, struct dpl_port *dpp, const struct packet *p)
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
dpl_process(struct dpl_thread *t, struct dpl_version *v, struct dpl_port *in,
            struct packet_batch *b)
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
    return xasprintf("%d/%d/%s",
                     (int)json_integer_value(json_object_get(rule, "table")),
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
dpl_count_version(struct dpl *dpl, const struct dpl_version *v, bool into_base,
                  uint64_t now)
{
    for (unsigned int t = 0; t < dpl->n_threads; t++) {
        json_t *rules = dpl_rules_json(v->pl[t], now);
        size_t i;

        for (i = 0; i < json_array_size(rules); i++) {
            json_t *r = json_array_get(rules, i);
            char *key = dpl_rule_key(r);
            struct dpl_rec *rec = dpl_rec_find(dpl, key, false, now);
            uint64_t n =
                (uint64_t)json_integer_value(json_object_get(r, "n_packets"));
            uint64_t bytes =
                (uint64_t)json_integer_value(json_object_get(r, "n_bytes"));

            if (rec && n) {
                /* The thread's rule was created when the version was, so
                 * a hit rule's idle age dates its last hit. */
                uint64_t age = (uint64_t)json_integer_value(
                                   json_object_get(r, "idle_age")) *
                               NS_PER_SEC;
                uint64_t used = now > age ? now - age : 0;

                rec->used_ns = MAX(rec->used_ns, used);
            }
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

/* Refreshes every record's 'cur' counters and last use from the published
 * version. */
static void
dpl_collect(struct dpl *dpl, uint64_t now)
{
    for (size_t b = 0; b < DPL_REC_BUCKETS; b++) {
        for (struct dpl_rec *r = dpl->recs[b]; r; r = r->next) {
            r->cur_packets = r->cur_bytes = 0;
        }
    }
    dpl_count_version(dpl, dpl->version, false, now);
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

    for (i = 0; i < json_array_size(rules); i++) {
        json_t *r = json_array_get(rules, i);
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

/* Builds a version of the shadow's rules 'rules' and the current port
 * list. */
static char *
dpl_version_build(struct dpl *dpl, const json_t *rules, uint64_t now,
                  struct dpl_version **vp)
{
    struct dpl_version *v = xzalloc(sizeof *v);
    char *error = NULL;

    v->n_ports = dpl->n_ports;
    v->ports = xcalloc(v->n_ports ? v->n_ports : 1, sizeof *v->ports);
    if (v->n_ports) {
        memcpy(v->ports, dpl->ports, v->n_ports * sizeof *v->ports);
    }
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
    json_t *rules = dpl_rules_json(dp_pipeline(dpl->shadow), now);
    char *error = dpl_version_build(dpl, rules, now, &v);
    size_t i;

    if (error) {
        json_decref(rules);
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
        dpl_port_free(dpl->retired[k]);
    }
    dpl->n_retired = 0;

    /* Records follow the shadow's rules. */
    dpl->n_timed = 0;
    for (i = 0; i < json_array_size(rules); i++) {
        json_t *r = json_array_get(rules, i);
        char *key = dpl_rule_key(r);
        struct dpl_rec *rec = dpl_rec_find(dpl, key, true, now);

        dpl->n_timed +=
            json_integer_value(json_object_get(r, "idle_timeout")) ||
            json_integer_value(json_object_get(r, "hard_timeout"));

        if (reset && json_object_get(reset, key)) {
            rec->base_packets = rec->base_bytes = 0;
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
    /* An empty table cannot fail to build. */
    error = dpl_publish(dpl, NULL, NULL);
    free(error);
    return dpl;
}

int
dpl_start(struct dpl *dpl, char **errp)
{
    for (unsigned int t = 0; t < dpl->n_threads; t++) {
        int err = pthread_create(&dpl->threads[t].tid, NULL, dpl_thread_main,
                                 &dpl->threads[t]);

        if (err) {
            *errp = xasprintf("cannot start datapath thread %u: %s", t,
                              strerror(err));
            uatomic_set(&dpl->stop, 1);
            for (unsigned int k = 0; k < t; k++) {
                pthread_join(dpl->threads[k].tid, NULL);
            }
            return -err;
        }
    }
    dpl->started = true;
    return 0;
}

static void
dpl_port_free(struct dpl_port *dpp)
{
    int err = port_close(dpp->port);

    if (err) {
        LOG_WARN("port %u: close: %s", dpp->number, strerror(-err));
    }
    pthread_spin_destroy(&dpp->tx_lock);
    free(dpp->spec);
    free(dpp);
}

void
dpl_destroy(struct dpl *dpl)
{
    if (!dpl) {
        return;
    }
    if (dpl->started) {
        uatomic_set(&dpl->stop, 1);
        for (unsigned int t = 0; t < dpl->n_threads; t++) {
            pthread_join(dpl->threads[t].tid, NULL);
        }
    }
    dpl_version_free(dpl, dpl->version);
    for (size_t i = 0; i < dpl->n_ports; i++) {
        dpl_port_free(dpl->ports[i]);
    }
    for (size_t i = 0; i < dpl->n_retired; i++) {
        dpl_port_free(dpl->retired[i]);
    }
    free(dpl->ports);
    free(dpl->retired);
    dp_destroy(dpl->shadow);
    for (size_t b = 0; b < DPL_REC_BUCKETS; b++) {
        while (dpl->recs[b]) {
            struct dpl_rec *r = dpl->recs[b];

            dpl->recs[b] = r->next;
            free(r->key);
            free(r);
        }
    }
    free(dpl);
}

/* ---- Ports. ---- */

static struct dpl_port *
dpl_port_find(const struct dpl *dpl, uint32_t number, size_t *idx)
{
    for (size_t i = 0; i < dpl->n_ports; i++) {
        if (dpl->ports[i]->number == number) {
            if (idx) {
                *idx = i;
            }
            return dpl->ports[i];
        }
    }
    return NULL;
}

/* Opens a port; the thread polling it is the one with the fewest of the
 * ports 'others' (the port set it will join). */
static char *
dpl_port_open(struct dpl *dpl, uint32_t number, const char *spec,
              const char *base_dir, struct dpl_port *const *others,
              size_t n_others, struct dpl_port **dppp)
{
    unsigned int load[DPL_MAX_THREADS] = {0};
    struct dpl_port *dpp;
    struct port *port;
    char *error = NULL;
    int err = port_open(number, spec, base_dir, &port, &error);

    if (err) {
        return error ? error : xasprintf("%s: %s", spec, strerror(-err));
    }
    dpp = xzalloc(sizeof *dpp);
    dpp->number = number;
    dpp->spec = xstrdup(spec);
    dpp->port = port;
    dpp->can_rx = port_can_rx(port);
    pthread_spin_init(&dpp->tx_lock, PTHREAD_PROCESS_PRIVATE);
    for (size_t i = 0; i < n_others; i++) {
        if (others[i]) {
            load[others[i]->thread]++;
        }
    }
    for (unsigned int t = 1; t < dpl->n_threads; t++) {
        if (load[t] < load[dpp->thread]) {
            dpp->thread = t;
        }
    }
    *dppp = dpp;
    return NULL;
}

static void
dpl_ports_insert(struct dpl *dpl, struct dpl_port *dpp)
{
    size_t pos = 0;

    while (pos < dpl->n_ports && dpl->ports[pos]->number < dpp->number) {
        pos++;
    }
    dpl->ports = xrealloc(dpl->ports, (dpl->n_ports + 1) * sizeof *dpl->ports);
    memmove(&dpl->ports[pos + 1], &dpl->ports[pos],
            (dpl->n_ports - pos) * sizeof *dpl->ports);
    dpl->ports[pos] = dpp;
    dpl->n_ports++;
}

static void
dpl_ports_retire(struct dpl *dpl, size_t idx)
{
    dpl->retired =
        xrealloc(dpl->retired, (dpl->n_retired + 1) * sizeof *dpl->retired);
    dpl->retired[dpl->n_retired++] = dpl->ports[idx];
    memmove(&dpl->ports[idx], &dpl->ports[idx + 1],
            (dpl->n_ports - idx - 1) * sizeof *dpl->ports);
    dpl->n_ports--;
}

/* The shadow pipeline's idea of which ports exist (flood, output checks). */
static void
dpl_shadow_set_ports(struct dpl *dpl)
{
    uint32_t *numbers;

    dpl_port_numbers(dpl->ports, dpl->n_ports, &numbers);
    pipeline_set_ports(dp_pipeline(dpl->shadow), numbers, dpl->n_ports);
    free(numbers);
}

static char *
dpl_parse_port_number(const char *s, uint32_t *number)
{
    unsigned long v;
    char *end;

    errno = 0;
    v = strtoul(s, &end, 10);
    if (!s[0] || s[0] == '-' || s[0] == '+' || *end || errno ||
        v < PORT_NUMBER_MIN || v > PORT_NUMBER_MAX) {
        return xasprintf("bad port number '%s' (expected %d..%d)", s,
                         PORT_NUMBER_MIN, PORT_NUMBER_MAX);
    }
    *number = (uint32_t)v;
    return NULL;
}

static char *
dpl_cmd_port_add(struct dpl *dpl, size_t argc, const char *const *argv)
{
    struct dpl_port *dpp;
    uint32_t number;
    char *error;
    int col;

    if (argc != 2) {
        return xstrdup("usage: port add N TYPE:ARGS");
    }
    error = dpl_parse_port_number(argv[0], &number);
    if (error) {
        return error;
    }
    if (dpl_port_find(dpl, number, NULL)) {
        return xasprintf("port %u already exists", number);
    }
    error = port_spec_check(argv[1], &col);
    if (error) {
        char *msg = xasprintf("'%s' column %d: %s", argv[1], col, error);

        free(error);
        return msg;
    }
    for (size_t i = 0; i < dpl->n_ports; i++) {
        if (!strcmp(dpl->ports[i]->spec, argv[1])) {
            return xasprintf("'%s' is already port %u", argv[1],
                             dpl->ports[i]->number);
        }
    }
    error = dpl_port_open(dpl, number, argv[1], NULL, dpl->ports, dpl->n_ports,
                          &dpp);
    if (error) {
        return error;
    }
    dpl_ports_insert(dpl, dpp);
    dpl_shadow_set_ports(dpl);
    return dpl_publish(dpl, NULL, NULL);
}

static char *
dpl_cmd_port_del(struct dpl *dpl, size_t argc, const char *const *argv)
{
    uint32_t number;
    char *error;
    size_t idx;

    if (argc != 1) {
        return xstrdup("usage: port del N");
    }
    error = dpl_parse_port_number(argv[0], &number);
    if (error) {
        return error;
    }
    if (!dpl_port_find(dpl, number, &idx)) {
        return xasprintf("no port %u", number);
    }
    dpl_ports_retire(dpl, idx);
    dpl_shadow_set_ports(dpl);
    return dpl_publish(dpl, NULL, NULL);
}

static void
dpl_cmd_port_show(struct dpl *dpl, bool json, struct ds *out)
{
    json_t *arr = json_array();

    for (size_t i = 0; i < dpl->n_ports; i++) {
        const struct dpl_port *dpp = dpl->ports[i];
        struct port_stats s = dpp->port->stats;

        if (json) {
            json_t *j = json_object();

            json_object_set_new(j, "port", json_integer(dpp->number));
            json_object_set_new(j, "spec", json_string(dpp->spec));
            json_object_set_new(j, "thread", json_integer(dpp->thread));
            json_object_set_new(j, "rx_packets", json_integer(s.rx_packets));
            json_object_set_new(j, "rx_bytes", json_integer(s.rx_bytes));
            json_object_set_new(j, "tx_packets", json_integer(s.tx_packets));
            json_object_set_new(j, "tx_bytes", json_integer(s.tx_bytes));
            json_object_set_new(j, "drops", json_integer(s.drops));
            json_object_set_new(j, "errors", json_integer(s.errors));
            json_object_set_new(j, "parse_errors",
                                json_integer(dpp->parse_errors));
            json_array_append_new(arr, j);
        } else {
            ds_put_format(out,
                          "port %u: %s (thread %u)\n"
                          "    rx: packets=%" PRIu64 " bytes=%" PRIu64
                          " parse_errors=%" PRIu64 "\n"
                          "    tx: packets=%" PRIu64 " bytes=%" PRIu64 "\n"
                          "    drops=%" PRIu64 " errors=%" PRIu64 "\n",
                          dpp->number, dpp->spec, dpp->thread, s.rx_packets,
                          s.rx_bytes, dpp->parse_errors, s.tx_packets,
                          s.tx_bytes, s.drops, s.errors);
        }
    }
    if (json) {
        char *text = json_dumps(arr, JSON_COMPACT | JSON_PRESERVE_ORDER);

        ds_put_cstr(out, text);
        free(text);
    }
    json_decref(arr);
}

/* ---- Flows and other configuration commands. ---- */

/* "COMMAND ARG ARG..." as one configuration line. */
static char *
dpl_join(const char *command, size_t argc, const char *const *argv)
{
    struct ds s = DS_EMPTY_INITIALIZER;

    ds_put_cstr(&s, command);
    for (size_t i = 0; i < argc; i++) {
        ds_put_format(&s, " %s", argv[i]);
    }
    return ds_steal_cstr(&s);
}

/* Runs a configuration command on the shadow.  Errors name the column
 * within the arguments. */
static char *
dpl_exec_config(struct dpl *dpl, const char *command, size_t argc,
                const char *const *argv)
{
    char *line = dpl_join(command, argc, argv);
    int col = 1;
    char *error = config_exec_line(dpl->shadow, line, NULL, 0, dpl_now(), &col);

    if (error) {
        int arg_col = col - (int)strlen(command) - 1;
        char *msg = arg_col >= 1 ? xasprintf("column %d: %s", arg_col, error)
                                 : xstrdup(error);

        free(error);
        error = msg;
    }
    free(line);
    return error;
}

/* The record key of a flow given as text (for "flow add"). */
static char *
dpl_spec_key(const struct flow_spec *spec)
{
    struct ds m = DS_EMPTY_INITIALIZER;
    char *key;

    flow_match_format(&spec->match, spec->prog_name, &m);
    key = xasprintf("%u/%u/%s", (unsigned int)spec->table,
                    (unsigned int)spec->priority, m.len ? ds_cstr(&m) : "");
    ds_destroy(&m);
    return key;
}

static char *
dpl_cmd_flow_add(struct dpl *dpl, size_t argc, const char *const *argv)
{
    char *text = dpl_join("", argc, argv);
    struct flow_spec spec;
    json_t *reset;
    char *error;
    int col = 1;

    if (!argc) {
        free(text);
        return xstrdup("usage: flow add FLOW");
    }
    error = flow_spec_parse(&spec, text + 1, FLOW_PARSE_ADD, &col);
    free(text);
    if (error) {
        char *msg = xasprintf("column %d: %s", col, error);

        flow_spec_destroy(&spec);
        free(error);
        return msg;
    }
    error = dpl_exec_config(dpl, "flow add", argc, argv);
    if (error) {
        flow_spec_destroy(&spec);
        return error;
    }
    /* OpenFlow add replaces a rule with the same match: new counters. */
    reset = json_object();
    text = dpl_spec_key(&spec);
    json_object_set_new(reset, text, json_true());
    free(text);
    flow_spec_destroy(&spec);
    error = dpl_publish(dpl, reset, NULL);
    json_decref(reset);
    return error;
}

static char *
dpl_cmd_flow_del(struct dpl *dpl, size_t argc, const char *const *argv)
{
    char *error = dpl_exec_config(dpl, "flow del", argc, argv);

    return error ? error : dpl_publish(dpl, NULL, NULL);
}

/* OpenFlow modify, non-strict: every rule that "flow del MATCH" would
 * delete gets the new actions and keeps its counters and age.  The rules
 * concerned are found by deleting from a scratch copy of the table, so
 * the covering rule is exactly pipeline_del()'s. */
static char *
dpl_cmd_flow_mod(struct dpl *dpl, size_t argc, const char *const *argv)
{
    char *text = dpl_join("", argc, argv);
    uint64_t now = dpl_now();
    json_t *rules = NULL, *left = NULL, *kept = NULL, *out = NULL;
    struct pipeline *scratch = NULL;
    struct flow_spec mod;
    struct ds acts = DS_EMPTY_INITIALIZER;
    char *error;
    size_t i, n_mod = 0;
    int col = 1;

    if (!argc) {
        free(text);
        return xstrdup("usage: flow mod FLOW");
    }
    error = flow_spec_parse(&mod, text + 1, FLOW_PARSE_ADD, &col);
    free(text);
    if (error) {
        char *msg = xasprintf("column %d: %s", col, error);

        flow_spec_destroy(&mod);
        free(error);
        return msg;
    }
    rules = dpl_rules_json(dp_pipeline(dpl->shadow), now);
    scratch = dpl_new_pipeline(dpl->shadow, dpl->ports, dpl->n_ports);
    error = dpl_add_rules(scratch, rules, true, now);
    if (error) {
        goto out;
    }
    pipeline_del(scratch, &mod);
    left = dpl_rules_json(scratch, now);
    kept = json_object();
    for (i = 0; i < json_array_size(left); i++) {
        json_t *r = json_array_get(left, i);
        json_object_set_new(kept, json_string_value(json_object_get(r, "flow")),
                            json_true());
    }
    /* The new rule list: covered rules get the new actions. */
    out = json_array();
    for (i = 0; i < json_array_size(rules); i++) {
        json_t *r = json_array_get(rules, i);
        const char *flow = json_string_value(json_object_get(r, "flow"));
        json_t *copy = json_deep_copy(r);
        struct flow_spec spec;

        if (!json_object_get(kept, flow)) {
            struct action_list tmp;
            int c = 1;

            error = flow_spec_parse(&spec, flow, FLOW_PARSE_ADD, &c);
            if (error) {
                flow_spec_destroy(&spec);
                json_decref(copy);
                goto out;
            }
            tmp = spec.actions;
            spec.actions = mod.actions;
            mod.actions = tmp;
            ds_clear(&acts);
            flow_spec_format(&spec, &acts);
            json_object_set_new(copy, "flow", json_string(ds_cstr(&acts)));
            tmp = spec.actions;
            spec.actions = mod.actions;
            mod.actions = tmp;
            flow_spec_destroy(&spec);
            n_mod++;
        }
        json_array_append_new(out, copy);
    }
    if (n_mod) {
        /* Check the whole new table before touching the shadow. */
        pipeline_destroy(scratch);
        scratch = dpl_new_pipeline(dpl->shadow, dpl->ports, dpl->n_ports);
        error = dpl_add_rules(scratch, out, true, now);
        if (!error) {
            error = dpl_shadow_set_rules(dpl, out);
        }
        if (!error) {
            error = dpl_publish(dpl, NULL, NULL);
        }
    }
out:
    pipeline_destroy(scratch);
    flow_spec_destroy(&mod);
    ds_destroy(&acts);
    json_decref(rules);
    json_decref(left);
    json_decref(kept);
    json_decref(out);
    return error;
}

static void
dpl_put_json(struct ds *out, json_t *j)
{
    char *text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);

    ds_put_cstr(out, text);
    free(text);
    json_decref(j);
}

static char *
dpl_cmd_flow_dump(struct dpl *dpl, size_t argc, const char *const *argv,
                  bool json, struct ds *out)
{
    uint64_t now = dpl_now();
    bool stats = true;
    json_t *rules;
    size_t i;

    for (i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--no-stats")) {
            stats = false;
        } else {
            return xasprintf("unexpected argument '%s' (usage: flow dump "
                             "[--no-stats])",
                             argv[i]);
        }
    }
    dpl_collect(dpl, now);
    rules = dpl_rules_json(dp_pipeline(dpl->shadow), now);
    for (i = 0; i < json_array_size(rules); i++) {
        json_t *r = json_array_get(rules, i);
        char *key = dpl_rule_key(r);
        struct dpl_rec *rec = dpl_rec_find(dpl, key, false, now);
        uint64_t packets = rec ? rec->base_packets + rec->cur_packets : 0;
        uint64_t bytes = rec ? rec->base_bytes + rec->cur_bytes : 0;
        uint64_t used = rec ? rec->used_ns : now;
        uint64_t age = now > used ? (now - used) / NS_PER_SEC : 0;
        uint64_t d = (uint64_t)llround(
            json_number_value(json_object_get(r, "duration")) * 1e9);
        int idle = (int)json_integer_value(json_object_get(r, "idle_timeout"));
        int hard = (int)json_integer_value(json_object_get(r, "hard_timeout"));
        const char *match = json_string_value(json_object_get(r, "match"));

        free(key);
        if (json) {
            json_object_set_new(r, "n_packets",
                                json_integer((json_int_t)packets));
            json_object_set_new(r, "n_bytes", json_integer((json_int_t)bytes));
            json_object_set_new(r, "idle_age", json_integer((json_int_t)age));
            continue;
        }
        if (!stats) {
            ds_put_format(out, "%s\n",
                          json_string_value(json_object_get(r, "flow")));
            continue;
        }
        ds_put_format(out,
                      " cookie=%s, duration=%" PRIu64 ".%03us, table=%d, "
                      "n_packets=%" PRIu64 ", n_bytes=%" PRIu64 ", ",
                      json_string_value(json_object_get(r, "cookie")),
                      (uint64_t)(d / NS_PER_SEC),
                      (unsigned int)(d % NS_PER_SEC / 1000000),
                      (int)json_integer_value(json_object_get(r, "table")),
                      packets, bytes);
        if (idle) {
            ds_put_format(out, "idle_timeout=%d, ", idle);
        }
        if (hard) {
            ds_put_format(out, "hard_timeout=%d, ", hard);
        }
        ds_put_format(out, "idle_age=%" PRIu64 ", priority=%d%s%s actions=%s\n",
                      age,
                      (int)json_integer_value(json_object_get(r, "priority")),
                      match[0] ? "," : "", match,
                      json_string_value(json_object_get(r, "actions")));
    }
    if (json) {
        dpl_put_json(out, rules);
    } else {
        json_decref(rules);
    }
    return NULL;
}

static char *
dpl_cmd_trace(struct dpl *dpl, size_t argc, const char *const *argv, bool json,
              struct ds *out)
{
    struct flow_key key;
    struct packet *p;
    char *error;
    int col = 1;

    if (argc != 1) {
        return xstrdup("usage: trace PACKET (flow syntax, e.g. "
                       "in_port=1,tcp,nw_dst=10.0.0.2,tp_dst=80)");
    }
    error = flow_key_parse(&key, argv[0], &col);
    if (error) {
        char *msg = xasprintf("PACKET column %d: %s", col, error);

        free(error);
        return msg;
    }
    p = packet_new(PACKET_DEFAULT_SIZE);
    pkt_compose(p, &key);
    p->in_port = key.in_port;
    pkt_parse(p);
    pipeline_trace(dp_pipeline(dpl->shadow), p, dpl_now(), json, out);
    packet_destroy(p);
    return NULL;
}

static void
dpl_cmd_stats(struct dpl *dpl, bool json, struct ds *out)
{
    uint64_t drops[PIPELINE_N_DROPS], d[PIPELINE_N_DROPS];
    json_t *j = json_object(), *threads = json_array(), *jd = json_object();

    memcpy(drops, dpl->base_drops, sizeof drops);
    for (unsigned int t = 0; t < dpl->n_threads; t++) {
        pipeline_drop_counts(dpl->version->pl[t], d);
        for (size_t k = 0; k < PIPELINE_N_DROPS; k++) {
            drops[k] += d[k];
        }
    }
    for (unsigned int t = 0; t < dpl->n_threads; t++) {
        const struct dpl_thread *th = &dpl->threads[t];
        json_t *jt = json_object();
        double avg = th->batches ? (double)th->packets / th->batches : 0;
        double ns = th->packets ? (double)th->busy_ns / th->packets : 0;
        size_t n_ports = 0;

        for (size_t i = 0; i < dpl->n_ports; i++) {
            n_ports += dpl->ports[i]->thread == t;
        }
        json_object_set_new(jt, "thread", json_integer(t));
        json_object_set_new(jt, "ports", json_integer((json_int_t)n_ports));
        json_object_set_new(jt, "packets", json_integer(th->packets));
        json_object_set_new(jt, "batches", json_integer(th->batches));
        json_object_set_new(jt, "avg_batch", json_real(avg));
        json_object_set_new(jt, "ns_per_packet", json_real(ns));
        json_object_set_new(jt, "polls", json_integer(th->polls));
        json_object_set_new(jt, "idle_polls", json_integer(th->idle_polls));
        json_object_set_new(jt, "sleeps", json_integer(th->sleeps));
        json_array_append_new(threads, jt);
        ds_put_format(out,
                      "thread %u: ports=%zu packets=%" PRIu64
                      " batches=%" PRIu64 " avg_batch=%.1f ns/packet=%.0f "
                      "polls=%" PRIu64 " idle_polls=%" PRIu64 " sleeps=%" PRIu64
                      "\n",
                      t, n_ports, th->packets, th->batches, avg, ns, th->polls,
                      th->idle_polls, th->sleeps);
    }
    ds_put_cstr(out, "drops:");
    for (size_t k = 0; k < PIPELINE_N_DROPS; k++) {
        json_object_set_new(jd, pipeline_drop_name(k),
                            json_integer((json_int_t)drops[k]));
        ds_put_format(out, " %s=%" PRIu64, pipeline_drop_name(k), drops[k]);
    }
    ds_put_format(out, "\nrules=%zu ports=%zu\n",
                  pipeline_n_rules(dp_pipeline(dpl->shadow)), dpl->n_ports);
    json_object_set_new(j, "threads", threads);
    json_object_set_new(j, "drops", jd);
    json_object_set_new(
        j, "rules",
        json_integer((json_int_t)pipeline_n_rules(dp_pipeline(dpl->shadow))));
    json_object_set_new(j, "ports", json_integer((json_int_t)dpl->n_ports));
    if (json) {
        ds_clear(out);
        dpl_put_json(out, j);
    } else {
        json_decref(j);
    }
}

/* ---- Configuration files. ---- */

char *
dpl_load_config(struct dpl *dpl, const char *path)
{
    struct dp *nd = dp_create();
    char *error = config_load(nd, path, 0);
    char *base_dir = config_base_dir(path);
    size_t n = dp_n_ports(nd);
    struct dpl_port **list;
    json_t *old_rules, *new_rules, *ages, *reset;
    uint64_t now = dpl_now();
    size_t i;

    if (error) {
        free(base_dir);
        dp_destroy(nd);
        return error;
    }
    /* Ports: keep those whose spec did not change, open the new ones
     * (relative file names, for pcap ports, against the config's
     * directory). */
    list = xcalloc(n ? n : 1, sizeof *list);
    for (i = 0; i < n && !error; i++) {
        uint32_t number = dp_port_number(nd, i);
        const char *spec = dp_port_spec(nd, i);
        struct dpl_port *old = dpl_port_find(dpl, number, NULL);

        if (old && !strcmp(old->spec, spec)) {
            list[i] = old;
        } else {
            char *e =
                dpl_port_open(dpl, number, spec, base_dir, list, i, &list[i]);

            if (e) {
                error = xasprintf("%s: port %u: %s", path, number, e);
                free(e);
            }
        }
    }
    if (error) {
        for (size_t k = 0; k < i; k++) {
            /* Close what was opened for this load, not the kept ports. */
            if (list[k] &&
                list[k] != dpl_port_find(dpl, list[k]->number, NULL)) {
                dpl_port_free(list[k]);
            }
        }
        free(list);
        free(base_dir);
        dp_destroy(nd);
        return error;
    }
    free(base_dir);
    for (size_t k = 0; k < dpl->n_ports; k++) {
        bool kept = false;

        for (i = 0; i < n; i++) {
            kept |= list[i] == dpl->ports[k];
        }
        if (!kept) {
            dpl->retired = xrealloc(dpl->retired, (dpl->n_retired + 1) *
                                                      sizeof *dpl->retired);
            dpl->retired[dpl->n_retired++] = dpl->ports[k];
        }
    }
    free(dpl->ports);
    dpl->ports = list;
    dpl->n_ports = n;

    /* Rules: an unchanged flow keeps its age and counters. */
    old_rules = dpl_rules_json(dp_pipeline(dpl->shadow), now);
    ages = json_object();
    for (i = 0; i < json_array_size(old_rules); i++) {
        json_t *r = json_array_get(old_rules, i);
        json_object_set(ages, json_string_value(json_object_get(r, "flow")),
                        json_object_get(r, "duration"));
    }
    new_rules = dpl_rules_json(dp_pipeline(nd), now);
    reset = json_object();
    for (i = 0; i < json_array_size(new_rules); i++) {
        json_t *r = json_array_get(new_rules, i);
        json_t *age = json_object_get(
            ages, json_string_value(json_object_get(r, "flow")));

        if (age) {
            json_object_set(r, "duration", age);
        } else {
            char *key = dpl_rule_key(r);

            json_object_set_new(r, "duration", json_real(0));
            json_object_set_new(reset, key, json_true());
            free(key);
        }
    }
    {
        struct dp *old_shadow = dpl->shadow;

        dpl->shadow = nd;
        error = dpl_shadow_set_rules(dpl, new_rules);
        if (!error) {
            error = dpl_publish(dpl, reset, old_shadow);
        }
    }
    json_decref(old_rules);
    json_decref(new_rules);
    json_decref(ages);
    json_decref(reset);
    return error;
}

/* ---- Timeouts. ---- */

void
dpl_tick(struct dpl *dpl)
{
    uint64_t now = dpl_now();
    json_t *rules, *left;
    size_t i, expired = 0;

    if (!dpl->n_timed) {
        return;
    }
    dpl_collect(dpl, now);
    rules = dpl_rules_json(dp_pipeline(dpl->shadow), now);
    left = json_array();
    for (i = 0; i < json_array_size(rules); i++) {
        json_t *r = json_array_get(rules, i);
        uint64_t idle =
            (uint64_t)json_integer_value(json_object_get(r, "idle_timeout")) *
            NS_PER_SEC;
        uint64_t hard =
            (uint64_t)json_integer_value(json_object_get(r, "hard_timeout")) *
            NS_PER_SEC;
        uint64_t d = (uint64_t)llround(
            json_number_value(json_object_get(r, "duration")) * 1e9);
        char *key = dpl_rule_key(r);
        struct dpl_rec *rec = dpl_rec_find(dpl, key, false, now);

        free(key);
        if ((hard && d >= hard) ||
            (idle && rec && now - MIN(now, rec->used_ns) >= idle)) {
            expired++;
        } else {
            json_array_append(left, r);
        }
    }
    if (expired) {
        char *error = dpl_shadow_set_rules(dpl, left);

        if (!error) {
            error = dpl_publish(dpl, NULL, NULL);
        }
        if (error) {
            LOG_ERR("expiring rules: %s", error);
            free(error);
        } else {
            LOG_INFO("%zu rules expired", expired);
        }
    }
    json_decref(rules);
    json_decref(left);
}

/* ---- Dispatcher. ---- */

static bool
dpl_is(const char *command, const char *words)
{
    return !strcmp(command, words);
}

char *
dpl_command(struct dpl *dpl, const char *c, size_t argc,
            const char *const *argv, bool json, struct ds *out)
{
    if (dpl_is(c, "port add")) {
        return dpl_cmd_port_add(dpl, argc, argv);
    } else if (dpl_is(c, "port del")) {
        return dpl_cmd_port_del(dpl, argc, argv);
    } else if (dpl_is(c, "port show")) {
        if (argc) {
            return xasprintf("unexpected argument '%s'", argv[0]);
        }
        dpl_cmd_port_show(dpl, json, out);
        return NULL;
    } else if (dpl_is(c, "flow add")) {
        return dpl_cmd_flow_add(dpl, argc, argv);
    } else if (dpl_is(c, "flow del")) {
        return dpl_cmd_flow_del(dpl, argc, argv);
    } else if (dpl_is(c, "flow mod")) {
        return dpl_cmd_flow_mod(dpl, argc, argv);
    } else if (dpl_is(c, "flow dump")) {
        return dpl_cmd_flow_dump(dpl, argc, argv, json, out);
    } else if (dpl_is(c, "prog load") || dpl_is(c, "prog unload") ||
               dpl_is(c, "map update") || dpl_is(c, "map delete") ||
               !strncmp(c, "nf ", 3) || dpl_is(c, "nf")) {
        /* Network-function commands ("nf p0f load", "nf nat", ...) fill
         * programs' maps: the configuration commands do that. */
        return dpl_exec_config(dpl, c, argc, argv);
    } else if (dpl_is(c, "prog show")) {
        if (argc) {
            return xasprintf("unexpected argument '%s'", argv[0]);
        }
        flow_progs_show(dp_progs(dpl->shadow), json, out);
        return NULL;
    } else if (dpl_is(c, "map dump") || dpl_is(c, "map lookup")) {
        char **args = xcalloc(argc + 2, sizeof *args);
        char *error;

        args[0] = (char *)(c + strlen("map "));
        for (size_t i = 0; i < argc; i++) {
            args[i + 1] = (char *)argv[i];
        }
        error = flow_progs_map_cmd(dp_progs(dpl->shadow), (int)argc + 1, args,
                                   json, out);
        free(args);
        return error;
    } else if (dpl_is(c, "trace")) {
        return dpl_cmd_trace(dpl, argc, argv, json, out);
    } else if (dpl_is(c, "stats")) {
        if (argc) {
            return xasprintf("unexpected argument '%s'", argv[0]);
        }
        dpl_cmd_stats(dpl, json, out);
        return NULL;
    }
    return xasprintf("unknown command '%s'", c);
}
