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
 * Steering (several threads): a port is polled by one thread, but a flow
 * must always be processed by the same thread whichever port it arrives
 * on, so that programs' mutable state (a connection entry, a NAT binding)
 * is only ever touched by one thread.  The receiving thread parses the
 * batch, hashes each packet's steering fields (steer.h; the fields are
 * chosen by state_steering() over the loaded programs and recomputed when
 * programs are loaded or unloaded), processes its own packets and copies
 * the others into a lock-free single-producer single-consumer ring per
 * (source, destination) thread pair.  Ring slots keep their packet buffer
 * forever (allocated the first time a slot is used), so steady state
 * allocates nothing; a full ring drops the packet and counts it
 * (steer_ring_full).  Heads and tails are published once per batch.  A
 * thread about to sleep announces it, and a producer that finds it
 * sleeping wakes it through its eventfd (at most once per batch), so
 * steered packets do not wait for the poll timeout.
 *
 * Output: with one thread a packet goes straight into the port's tx queue.
 * With several, a thread stages copies of its output packets (preallocated
 * buffers) and at the end of each batch transmits them port by port, taking
 * each port's spin lock once per batch rather than once per packet (ports
 * own one tx ring).  The polling thread takes the same lock around each
 * rx_batch call, since receiving may touch transmit state (AF_XDP reaps
 * completions there).  The lock guards the port, never the
 * configuration.
 *
 * Maps: dpl_create() calls bpf_maps_set_threads(N) before any program is
 * loaded, so with several threads map operations lock where the kernel's
 * semantics need it and per-CPU maps get a copy per thread; datapath
 * thread i runs programs as CPU i (bpf_set_cpu()), so no two threads share
 * a per-CPU slot. */
#include "dp_live.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <urcu-qsbr.h>

#include "bpf/bpf_api.h"
#include "bpf/maps.h"
#include "cli/config.h"
#include "core/clock.h"
#include "core/hash.h"
#include "core/log.h"
#include "dp.h"
#include "steer.h"
#include "flow/flow_parse.h"
#include "flow/flow_prog.h"
#include "flow/pipeline.h"
#include "pkt/pkt.h"
#include "port/port.h"
#include "state/state.h"
#include "state/state_io.h"

LOG_DEFINE_MODULE(dp_live);

#define NS_PER_SEC 1000000000ull
/* Ports a thread remembers to flush after a batch before flushing early. */
#define DPL_DIRTY_MAX 64
/* Slots of a steering ring (a power of two): room for 16 full batches. */
#define DPL_RING_SLOTS 512
/* Output packets a thread stages before it must transmit (several
 * threads); a flood to many ports flushes early. */
#define DPL_STAGE_MAX 128

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
    struct steer steer;          /* Which thread processes a packet. */
};

/* Packets steered from one thread to another: single producer (the
 * source thread), single consumer (the destination).  'head' and 'tail'
 * count packets ever pushed and consumed; each side's fields share a cache
 * line of their own. */
struct dpl_ring {
    _Alignas(64) uint64_t head; /* Published by the producer (release). */
    uint64_t prod_head;         /* Producer's next slot, not yet published. */
    uint64_t prod_tail;         /* Producer's last look at 'tail'. */
    uint64_t pushed;            /* Packets handed over (producer). */
    uint64_t drops;             /* Packets refused, ring full (producer). */
    _Alignas(64) uint64_t tail; /* Published by the consumer (release). */
    struct packet *slots[DPL_RING_SLOTS]; /* Buffers, made on first use. */
};

struct dpl_thread {
    struct dpl *dpl; /* Owner. */
    unsigned int id; /* Index in dpl->threads. */
    pthread_t tid;
    struct dpl_version *cur; /* Version of the batch being processed. */
    struct dpl_port *dirty[DPL_DIRTY_MAX]; /* Ports to flush. */
    unsigned int n_dirty;
    /* Output staged for transmission (several threads only). */
    struct packet *stage[DPL_STAGE_MAX];         /* Owned buffers. */
    struct dpl_port *stage_port[DPL_STAGE_MAX];  /* Where each goes. */
    unsigned int n_stage;
    int wake_fd;                /* eventfd: steered packets wait. */
    int sleeping;               /* Set while asleep in poll(). */
    /* Counters, written by the thread only (read racily on x86-64). */
    uint64_t rx_packets;        /* Received from its own ports. */
    uint64_t packets;           /* Run through its pipeline. */
    uint64_t batches;           /* Non-empty pipeline batches. */
    uint64_t from_others;       /* Steered to it by other threads. */
    uint64_t polls;             /* rx_batch calls. */
    uint64_t idle_polls;        /* rx_batch calls that returned nothing. */
    uint64_t sleeps;            /* Times it slept in poll(). */
    uint64_t busy_cycles;       /* Poll rounds that found work (TSC). */
    uint64_t idle_cycles;       /* Empty poll rounds and sleeps (TSC). */
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
    struct pipeline_stats base_pstats[DPL_MAX_THREADS]; /* Likewise. */
    size_t n_timed; /* Rules with an idle or hard timeout. */
    /* rings[src * n_threads + dst] (NULL when src == dst or 1 thread). */
    struct dpl_ring **rings;
    struct state_steering steering; /* For the loaded programs. */
    bool steering_stale; /* Programs changed since it was computed. */
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

static struct dpl_ring *
dpl_ring(const struct dpl *dpl, unsigned int src, unsigned int dst)
{
    return dpl->rings[src * dpl->n_threads + dst];
}

/* Makes 'dst' a copy of 'src' (bytes and parse results) in dst's own
 * buffer, which only grows for a frame larger than any before. */
static void
dpl_packet_copy(struct packet *dst, const struct packet *src)
{
    /* Everything from in_port up to pool_size, which says who owns the
     * packet's memory and so stays the destination's own. */
    _Static_assert(offsetof(struct packet, in_port) >
                       offsetof(struct packet, len),
                   "packet metadata must follow the buffer fields");
    _Static_assert(offsetof(struct packet, pool_size) + sizeof(uint32_t) +
                           8 > sizeof(struct packet),
                   "pool_size must be the last member");
    packet_set_data(dst, packet_data(src), src->len);
    memcpy(&dst->in_port, &src->in_port,
           offsetof(struct packet, pool_size) -
               offsetof(struct packet, in_port));
}

/* Transmits the staged output and flushes every port written since the
 * last flush, each port's lock taken once. */
static void
dpl_flush(struct dpl_thread *t)
{
    bool locked = t->dpl->n_threads > 1;

    for (unsigned int i = 0; i < t->n_dirty; i++) {
        struct dpl_port *dpp = t->dirty[i];

        if (locked) {
            pthread_spin_lock(&dpp->tx_lock);
        }
        for (unsigned int k = 0; k < t->n_stage; k++) {
            if (t->stage_port[k] == dpp) {
                port_tx(dpp->port, t->stage[k]);
            }
        }
        port_flush(dpp->port);
        if (locked) {
            pthread_spin_unlock(&dpp->tx_lock);
        }
        dpp->dirty[t->id] = 0;
    }
    t->n_dirty = 0;
    t->n_stage = 0;
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
    if (!dpp->dirty[t->id] && t->n_dirty == DPL_DIRTY_MAX) {
        dpl_flush(t);
    }
    if (t->dpl->n_threads > 1) {
        /* Several threads share the port: stage a copy, sent under the
         * port's lock once per batch. */
        if (t->n_stage == DPL_STAGE_MAX) {
            dpl_flush(t);
        }
        dpl_packet_copy(t->stage[t->n_stage], p);
        t->stage_port[t->n_stage++] = dpp;
    } else {
        port_tx(dpp->port, p);
    }
    if (!dpp->dirty[t->id]) {
        dpp->dirty[t->id] = 1;
        t->dirty[t->n_dirty++] = dpp;
    }
}

/* Runs parsed packets through the thread's pipeline and sends the
 * output. */
static void
dpl_run_batch(struct dpl_thread *t, struct dpl_version *v,
              struct packet_batch *b)
{
    t->cur = v;
    pipeline_process(v->pl[t->id], b, dpl_now());
    dpl_flush(t);
    t->packets += b->count;
    t->batches++;
}

/* Copies 'p' into the ring to another thread; the head is published by
 * dpl_ring_publish().  A full ring drops the packet. */
static void
dpl_ring_push(struct dpl_ring *r, const struct packet *p)
{
    struct packet **slot;

    if (r->prod_head - r->prod_tail == DPL_RING_SLOTS) {
        r->prod_tail = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);
        if (r->prod_head - r->prod_tail == DPL_RING_SLOTS) {
            r->drops++;
            return;
        }
    }
    slot = &r->slots[r->prod_head & (DPL_RING_SLOTS - 1)];
    if (!*slot) {
        /* Once per slot in the ring's life, never again. */
        *slot = packet_new(PACKET_DEFAULT_SIZE);
    }
    dpl_packet_copy(*slot, p);
    r->prod_head++;
    r->pushed++;
}

/* Publishes what was pushed to 'dst' and wakes it if it sleeps. */
static void
dpl_ring_publish(struct dpl *dpl, struct dpl_ring *r, unsigned int dst)
{
    struct dpl_thread *d = &dpl->threads[dst];

    __atomic_store_n(&r->head, r->prod_head, __ATOMIC_RELEASE);
    /* Pairs with the fence in dpl_sleep(): either the sleeper sees the
     * new head, or this sees it sleeping. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (__atomic_load_n(&d->sleeping, __ATOMIC_RELAXED)) {
        uint64_t one = 1;

        if (write(d->wake_fd, &one, sizeof one) < 0) {
            /* The counter is saturated: the thread is being woken. */
        }
    }
}

/* A batch received on 'in': parse it, keep this thread's packets and
 * steer the others. */
static void
dpl_rx(struct dpl_thread *t, struct dpl_version *v, struct dpl_port *in,
       struct packet_batch *b)
{
    struct dpl *dpl = t->dpl;
    unsigned int n = dpl->n_threads;
    struct packet_batch mine;
    uint64_t touched = 0;

    pkt_parse_batch(b);
    for (unsigned int i = 0; i < b->count; i++) {
        if (b->pkts[i]->parse_err != PKT_ERR_NONE) {
            in->parse_errors++;
        }
    }
    t->rx_packets += b->count;
    if (n == 1) {
        dpl_run_batch(t, v, b);
        return;
    }
    packet_batch_init(&mine);
    for (unsigned int i = 0; i < b->count; i++) {
        struct packet *p = b->pkts[i];
        unsigned int dst = steer_thread(&v->steer, &p->key, n);

        if (dst == t->id) {
            packet_batch_add(&mine, p);
        } else {
            dpl_ring_push(dpl_ring(dpl, t->id, dst), p);
            touched |= UINT64_C(1) << dst;
        }
    }
    while (touched) {
        unsigned int dst = (unsigned int)__builtin_ctzll(touched);

        touched &= touched - 1;
        dpl_ring_publish(dpl, dpl_ring(dpl, t->id, dst), dst);
    }
    if (mine.count) {
        dpl_run_batch(t, v, &mine);
    }
}

/* Processes the packets other threads steered to this one.  Returns how
 * many. */
static unsigned int
dpl_drain(struct dpl_thread *t, struct dpl_version *v)
{
    struct dpl *dpl = t->dpl;
    unsigned int total = 0;

    for (unsigned int src = 0; src < dpl->n_threads; src++) {
        struct dpl_ring *r;
        uint64_t head;

        if (src == t->id) {
            continue;
        }
        r = dpl_ring(dpl, src, t->id);
        head = __atomic_load_n(&r->head, __ATOMIC_ACQUIRE);
        while (head != r->tail) {
            struct packet_batch b;
            unsigned int k = (unsigned int)MIN(head - r->tail,
                                               (uint64_t)PACKET_BATCH_MAX);

            b.count = k;
            for (unsigned int i = 0; i < k; i++) {
                b.pkts[i] = r->slots[(r->tail + i) & (DPL_RING_SLOTS - 1)];
            }
            dpl_run_batch(t, v, &b);
            __atomic_store_n(&r->tail, r->tail + k, __ATOMIC_RELEASE);
            t->from_others += k;
            total += k;
        }
    }
    return total;
}

/* Whether another thread has steered packets to 't' that wait. */
static bool
dpl_rings_pending(const struct dpl_thread *t)
{
    const struct dpl *dpl = t->dpl;

    for (unsigned int src = 0; src < dpl->n_threads; src++) {
        const struct dpl_ring *r;

        if (src == t->id) {
            continue;
        }
        r = dpl_ring(dpl, src, t->id);
        if (__atomic_load_n(&r->head, __ATOMIC_ACQUIRE) != r->tail) {
            return true;
        }
    }
    return false;
}

/* Sleeps until one of the thread's ports has frames, another thread
 * steers packets to it, or a short timeout, RCU-offline so that grace
 * periods do not wait for it. */
static void
dpl_sleep(struct dpl_thread *t)
{
    struct dpl_version *v = rcu_dereference(t->dpl->version);
    struct pollfd fds[256];
    int timeout = DPL_IDLE_SLEEP_MS;
    nfds_t n = 0;

    if (t->wake_fd >= 0) {
        fds[n++] = (struct pollfd){.fd = t->wake_fd, .events = POLLIN};
    }
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
    __atomic_store_n(&t->sleeping, 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (t->dpl->n_threads > 1 && dpl_rings_pending(t)) {
        __atomic_store_n(&t->sleeping, 0, __ATOMIC_RELAXED);
        return;
    }
    t->sleeps++;
    rcu_thread_offline();
    poll(fds, n, timeout);
    rcu_thread_online();
    __atomic_store_n(&t->sleeping, 0, __ATOMIC_RELAXED);
    if (t->wake_fd >= 0 && (fds[0].revents & POLLIN)) {
        uint64_t count;

        if (read(t->wake_fd, &count, sizeof count) < 0) {
            /* Non-blocking: already drained. */
        }
    }
}

static void *
dpl_thread_main(void *aux)
{
    struct dpl_thread *t = aux;
    struct packet_batch b;
    unsigned int idle = 0;

    rcu_register_thread();
    /* Per-CPU maps: this thread is "CPU" t->id. */
    bpf_set_cpu(t->id);
    while (!uatomic_read(&t->dpl->stop)) {
        struct dpl_version *v = rcu_dereference(t->dpl->version);
        uint64_t start = clock_cycles();
        unsigned int got = 0;

        for (size_t i = 0; i < v->n_ports; i++) {
            struct dpl_port *dpp = v->ports[i];
            int n;

            if (dpp->thread != t->id || !dpp->can_rx) {
                continue;
            }
            if (t->dpl->n_threads > 1) {
                /* Receiving may touch the port's transmit state (AF_XDP
                 * reaps send completions and kicks the kernel), which
                 * other threads change under this lock. */
                pthread_spin_lock(&dpp->tx_lock);
                n = port_rx_batch(dpp->port, &b);
                pthread_spin_unlock(&dpp->tx_lock);
            } else {
                n = port_rx_batch(dpp->port, &b);
            }
            t->polls++;
            if (n > 0) {
                got += (unsigned int)n;
                dpl_rx(t, v, dpp, &b);
            } else {
                t->idle_polls++;
            }
        }
        if (t->dpl->n_threads > 1) {
            got += dpl_drain(t, v);
        }
        rcu_quiescent_state();
        if (got) {
            idle = 0;
        } else if (++idle >= DPL_IDLE_POLLS) {
            dpl_sleep(t);
            idle = 0;
        }
        if (got) {
            t->busy_cycles += clock_cycles() - start;
        } else {
            t->idle_cycles += clock_cycles() - start;
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
 * 'into_base' is false) or 'base' counters.  The threads' pipelines share
 * their rules, and a dump of one folds every thread's counters. */
static void
dpl_count_version(struct dpl *dpl, const struct dpl_version *v, bool into_base,
                  uint64_t now)
{
    json_t *rules = dpl_rules_json(v->pl[0], now);

    for (size_t i = 0; i < json_array_size(rules); i++) {
        json_t *r = json_array_get(rules, i);
        char *key = dpl_rule_key(r);
        struct dpl_rec *rec = dpl_rec_find(dpl, key, false, now);
        uint64_t n =
            (uint64_t)json_integer_value(json_object_get(r, "n_packets"));
        uint64_t bytes =
            (uint64_t)json_integer_value(json_object_get(r, "n_bytes"));

        if (rec && n) {
            /* The version's rules were created with it, so a hit rule's
             * idle age dates its last hit. */
            uint64_t age =
                (uint64_t)json_integer_value(json_object_get(r, "idle_age")) *
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
    steer_init(&v->steer, &dpl->steering);
    /* One copy of the rules, shared by the threads' pipelines (each has
     * its own cache and counters). */
    v->pl[0] = dpl_new_pipeline(dpl->shadow, dpl->ports, dpl->n_ports);
    error = dpl_add_rules(v->pl[0], rules, false, now);
    for (unsigned int t = 0; t < dpl->n_threads; t++) {
        if (t) {
            v->pl[t] = pipeline_create_sibling(v->pl[0]);
        }
        pipeline_set_output(v->pl[t], dpl_output, &dpl->threads[t]);
    }
    if (error) {
        dpl_version_free(dpl, v);
        return error;
    }
    *vp = v;
    return NULL;
}

/* Chooses the steering fields for the shadow's programs: the coarsest
 * field set shared by all their updateable state. */
static void
dpl_update_steering(struct dpl *dpl)
{
    struct flow_progs *progs = dp_progs(dpl->shadow);
    size_t n = flow_progs_list(progs, NULL, 0);
    const struct bpf_prog **list = xcalloc(n ? n : 1, sizeof *list);
    struct state_steering spec;
    char *error = NULL;

    flow_progs_list(progs, list, n);
    if (state_steering(list, n, &spec, &error) < 0) {
        /* Without an analysis no field set is known to be safe. */
        memset(&spec, 0, sizeof spec);
        spec.single = true;
        snprintf(spec.reason, sizeof spec.reason,
                 "state analysis failed (%s): one thread processes all",
                 error ? error : "no reason given");
        LOG_WARN("steering: %s", spec.reason);
    }
    free(error);
    free(list);
    dpl->steering = spec;
    dpl->steering_stale = false;
}

static void
dpl_pstats_add(struct pipeline_stats *sum, const struct pipeline_stats *s)
{
    sum->packets += s->packets;
    sum->batches += s->batches;
    sum->emc_hits += s->emc_hits;
    sum->megaflow_hits += s->megaflow_hits;
    sum->cls_lookups += s->cls_lookups;
    sum->invalidations += s->invalidations;
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
    char *error;
    size_t i;

    if (dpl->steering_stale) {
        dpl_update_steering(dpl);
    }
    error = dpl_version_build(dpl, rules, now, &v);

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
            struct pipeline_stats ps;

            pipeline_get_stats(old->pl[t], &ps);
            dpl_pstats_add(&dpl->base_pstats[t], &ps);
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
        struct dpl_thread *th = &dpl->threads[t];

        th->dpl = dpl;
        th->id = t;
        th->wake_fd = -1;
        if (dpl->n_threads > 1) {
            th->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
            if (th->wake_fd < 0) {
                /* Then a sleeping thread notices steered packets at its
                 * poll timeout only. */
                LOG_WARN("thread %u: eventfd: %s", t, strerror(errno));
            }
            for (unsigned int k = 0; k < DPL_STAGE_MAX; k++) {
                th->stage[k] = packet_new(PACKET_DEFAULT_SIZE);
            }
        }
    }
    dpl->rings = xcalloc((size_t)dpl->n_threads * dpl->n_threads,
                         sizeof *dpl->rings);
    for (unsigned int src = 0; src < dpl->n_threads; src++) {
        for (unsigned int dst = 0; dst < dpl->n_threads; dst++) {
            if (src != dst) {
                dpl->rings[src * dpl->n_threads + dst] =
                    xzalloc(sizeof(struct dpl_ring));
            }
        }
    }
    /* Before any program is loaded: map locking on with several threads,
     * and per-CPU maps with a copy per thread (docs/maps.md). */
    bpf_maps_set_threads(dpl->n_threads);
    dpl->shadow = dp_create();
    dpl->steering_stale = true;
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
    for (size_t i = 0; i < (size_t)dpl->n_threads * dpl->n_threads; i++) {
        struct dpl_ring *r = dpl->rings[i];

        for (size_t k = 0; r && k < DPL_RING_SLOTS; k++) {
            packet_destroy(r->slots[k]);
        }
        free(r);
    }
    free(dpl->rings);
    for (unsigned int t = 0; t < dpl->n_threads; t++) {
        struct dpl_thread *th = &dpl->threads[t];

        for (unsigned int k = 0; k < DPL_STAGE_MAX; k++) {
            packet_destroy(th->stage[k]);
        }
        if (th->wake_fd >= 0) {
            close(th->wake_fd);
        }
    }
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
    uint32_t number = 0; /* Set by dpl_parse_port_number(). */
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
    uint32_t number = 0; /* Set by dpl_parse_port_number(). */
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

/* The steering in use, for `stats`. */
static void
dpl_stats_steering(const struct dpl *dpl, json_t *j, struct ds *out)
{
    const struct steer *s = &dpl->version->steer;
    char fields[256], used[256];
    json_t *js = json_object();

    state_dims_format(s->spec.fields, fields, sizeof fields);
    state_dims_format(s->used, used, sizeof used);
    json_object_set_new(js, "fields", json_string(fields));
    json_object_set_new(js, "hashed", json_string(used));
    json_object_set_new(js, "symmetric", json_boolean(s->spec.symmetric));
    json_object_set_new(js, "single", json_boolean(s->spec.single));
    json_object_set_new(js, "reason", json_string(s->spec.reason));
    json_object_set_new(j, "steering", js);
    if (s->spec.single) {
        ds_put_format(out, "steering: single thread (%s)\n", s->spec.reason);
    } else {
        ds_put_format(out, "steering: %s%s (%s)%s%s\n",
                      fields[0] ? fields : "(none)",
                      s->spec.symmetric ? ", symmetric" : "", s->spec.reason,
                      strcmp(fields, used) ? "; hashed: " : "",
                      strcmp(fields, used) ? (used[0] ? used : "(none)")
                                           : "");
    }
}

static double
dpl_ratio(uint64_t a, uint64_t b)
{
    return b ? (double)a / (double)b : 0;
}

static void
dpl_cmd_stats(struct dpl *dpl, bool json, struct ds *out)
{
    uint64_t drops[PIPELINE_N_DROPS], d[PIPELINE_N_DROPS];
    uint64_t ring_drops = 0;
    json_t *j = json_object(), *threads = json_array(), *jd = json_object();
    double cpns = clock_cycles_per_ns();

    memcpy(drops, dpl->base_drops, sizeof drops);
    for (unsigned int t = 0; t < dpl->n_threads; t++) {
        pipeline_drop_counts(dpl->version->pl[t], d);
        for (size_t k = 0; k < PIPELINE_N_DROPS; k++) {
            drops[k] += d[k];
        }
    }
    dpl_stats_steering(dpl, j, out);
    for (unsigned int t = 0; t < dpl->n_threads; t++) {
        const struct dpl_thread *th = &dpl->threads[t];
        struct pipeline_stats ps = dpl->base_pstats[t], cur;
        uint64_t handed = 0, t_drops = 0;
        json_t *jt = json_object();
        size_t n_ports = 0;

        pipeline_get_stats(dpl->version->pl[t], &cur);
        dpl_pstats_add(&ps, &cur);
        ps.cache_entries = cur.cache_entries;
        for (unsigned int dst = 0; dst < dpl->n_threads; dst++) {
            if (dst != t) {
                handed += dpl_ring(dpl, t, dst)->pushed;
                t_drops += dpl_ring(dpl, t, dst)->drops;
            }
        }
        ring_drops += t_drops;
        for (size_t i = 0; i < dpl->n_ports; i++) {
            n_ports += dpl->ports[i]->thread == t;
        }

        uint64_t all = th->busy_cycles + th->idle_cycles;
        double avg = dpl_ratio(th->packets, th->batches);
        /* Per packet it handled: received on its ports or taken over
         * from another thread (steering work counts, as in pmd-stats). */
        double cpp = dpl_ratio(th->busy_cycles,
                               th->rx_packets + th->from_others);
        double busy = 100 * dpl_ratio(th->busy_cycles, all);
        uint64_t lookups = ps.emc_hits + ps.megaflow_hits + ps.cls_lookups;
        double emc = 100 * dpl_ratio(ps.emc_hits, lookups);
        double mega = 100 * dpl_ratio(ps.megaflow_hits, lookups);

        json_object_set_new(jt, "thread", json_integer(t));
        json_object_set_new(jt, "ports", json_integer((json_int_t)n_ports));
        json_object_set_new(jt, "rx_packets", json_integer(th->rx_packets));
        json_object_set_new(jt, "packets", json_integer(th->packets));
        json_object_set_new(jt, "batches", json_integer(th->batches));
        json_object_set_new(jt, "avg_batch", json_real(avg));
        json_object_set_new(jt, "cycles_per_packet", json_real(cpp));
        json_object_set_new(jt, "ns_per_packet",
                            json_real(cpns > 0 ? cpp / cpns : 0));
        json_object_set_new(jt, "busy_cycles", json_integer(th->busy_cycles));
        json_object_set_new(jt, "idle_cycles", json_integer(th->idle_cycles));
        json_object_set_new(jt, "busy_pct", json_real(busy));
        json_object_set_new(jt, "emc_hits", json_integer(ps.emc_hits));
        json_object_set_new(jt, "megaflow_hits",
                            json_integer(ps.megaflow_hits));
        json_object_set_new(jt, "misses", json_integer(ps.cls_lookups));
        json_object_set_new(jt, "emc_hit_pct", json_real(emc));
        json_object_set_new(jt, "megaflow_hit_pct", json_real(mega));
        json_object_set_new(jt, "cache_entries",
                            json_integer(ps.cache_entries));
        json_object_set_new(jt, "handed_off", json_integer(handed));
        json_object_set_new(jt, "from_others", json_integer(th->from_others));
        json_object_set_new(jt, "ring_drops", json_integer(t_drops));
        json_object_set_new(jt, "polls", json_integer(th->polls));
        json_object_set_new(jt, "idle_polls", json_integer(th->idle_polls));
        json_object_set_new(jt, "sleeps", json_integer(th->sleeps));
        json_array_append_new(threads, jt);
        ds_put_format(out,
                      "thread %u: ports=%zu\n"
                      "    packets received: %" PRIu64
                      "  processed: %" PRIu64 "\n"
                      "    emc hits: %" PRIu64 " (%.1f%%)  megaflow hits: "
                      "%" PRIu64 " (%.1f%%)  misses: %" PRIu64 "\n"
                      "    avg batch: %.1f  cycles/packet: %.0f"
                      "  busy: %.1f%%  idle: %.1f%%\n"
                      "    handed off: %" PRIu64 "  from others: %" PRIu64
                      "  ring drops: %" PRIu64 "\n"
                      "    polls: %" PRIu64 "  idle polls: %" PRIu64
                      "  sleeps: %" PRIu64 "\n",
                      t, n_ports, th->rx_packets, th->packets, ps.emc_hits,
                      emc, ps.megaflow_hits, mega, ps.cls_lookups, avg, cpp,
                      busy, all ? 100 - busy : 0, handed, th->from_others,
                      t_drops, th->polls, th->idle_polls, th->sleeps);
    }
    ds_put_cstr(out, "drops:");
    for (size_t k = 0; k < PIPELINE_N_DROPS; k++) {
        json_object_set_new(jd, pipeline_drop_name(k),
                            json_integer((json_int_t)drops[k]));
        ds_put_format(out, " %s=%" PRIu64, pipeline_drop_name(k), drops[k]);
    }
    /* Not a pipeline verdict: the packet never reached a pipeline. */
    json_object_set_new(jd, "steer_ring_full",
                        json_integer((json_int_t)ring_drops));
    ds_put_format(out, " steer_ring_full=%" PRIu64, ring_drops);
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
        dpl->steering_stale = true;
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
    } else if (dpl_is(c, "map update") || dpl_is(c, "map delete")) {
        return dpl_exec_config(dpl, c, argc, argv);
    } else if (dpl_is(c, "prog load") || dpl_is(c, "prog unload") ||
               !strncmp(c, "nf ", 3) || dpl_is(c, "nf")) {
        /* Network-function commands ("nf p0f load", "nf nat", ...) load
         * programs and fill their maps: the configuration commands do
         * that.  The program set may change, so may the steering; it is
         * recomputed and published at once. */
        char *error = dpl_exec_config(dpl, c, argc, argv);

        if (!error) {
            dpl->steering_stale = true;
            error = dpl_publish(dpl, NULL, NULL);
        }
        return error;
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
    } else if (dpl_is(c, "state export") || dpl_is(c, "state import")) {
        /* Export and import of a program's updateable state (issue 9);
         * maps are safe to use while the datapath runs. */
        char **args = xcalloc(argc + 2, sizeof *args);
        char *error;

        args[0] = (char *)(c + strlen("state "));
        for (size_t i = 0; i < argc; i++) {
            args[i + 1] = (char *)argv[i];
        }
        error = state_cmd(dp_progs(dpl->shadow), (int)argc + 1, args, json,
                          out);
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
