/* Datapath benchmark (issue 7): offline in-memory Mpps on 1 and 2 threads.
 *
 * Five cases, each with 1, 10,000 and 1,000,000 flows:
 *
 *   (a) L2 forward: one rule, in_port=1,actions=output:2;
 *   (b) 1,000 rules over ten mask shapes (prefixes, ports, MACs, TOS,
 *       in_port), about half derived from the flows, plus a catch-all;
 *   (c) 100,000 exact 5-tuple rules (up to 100,000 of them match flows),
 *       plus a catch-all;
 *   (d) the stateful firewall filter (progs/firewall.c) as in
 *       tests/system/test_filter_progs.py: in_port=1,prog=fw,actions=
 *       output:2 and in_port=2,prog=fw,actions=output:1, UDP flows with
 *       packets going out (port 1, opening connections) or coming back
 *       (port 2, passing only for known connections) at random;
 *   (e) NAT (progs/nat.c) configured as in bench/bench_nf.c: TCP from the
 *       inside, actions=prog:nat.
 *
 * 1,000,000 packets per run (each in its own buffer, from one huge-page
 * packet pool: bench_pkts.h), flows drawn
 * uniformly with a fixed seed.  A thread drives its packets the way a
 * datapath thread does: pkt_parse_batch() and pipeline_process() in
 * batches of 32.  With 2 threads the packets are first spread over two
 * per-thread arrays by the live switch's steering hash (src/dp/steer.h),
 * the way RSS would, using the fields state_steering() chooses for the
 * loaded programs; each thread then has its own pipeline with the same
 * rules over the SAME loaded programs (shared maps; thread i runs as
 * "CPU" i for per-CPU maps), and the threads run concurrently, pinned to
 * different CPUs.  Times are each thread's own CPU time
 * (CLOCK_THREAD_CPUTIME_ID), so that other processes on a shared machine
 * do not count (their cache pressure and the other thread's memory
 * traffic still do).  Every case and thread count starts from freshly
 * loaded programs; one warm-up run, then N_RUNS.  Mpps is all packets
 * over the slowest thread's median time (each thread's median over the
 * runs), the aggregate rate when each thread has a core of its own.  The
 * 1- and 2-thread set-ups of a case are loaded side by side and their runs
 * alternate, so that "x", the 2-thread/1-thread ratio, compares the same
 * stretch of time.  Packets are rebuilt before every run (untimed),
 * since NAT rewrites them.  "fwd" is the share of packets the pipeline
 * sent out (1-thread run), so a broken case cannot pass for a fast one;
 * "t0%" is the share of packets steered to thread 0.  Figures are
 * reported, never asserted.
 *
 * Usage: bench_dp [a|b|c|d|e ...] (default: all).  Program objects are
 * found in $SLUICE_BUILD_ROOT/progs, else beside this binary's build
 * directory. */
#include <arpa/inet.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_clock.h"
#include "bench_pkts.h"
#include "bench_rng.h"
#include "bpf/bpf_api.h"
#include "bpf/maps.h"
#include "core/util.h"
#include "dp/steer.h"
#include "flow/flow_parse.h"
#include "flow/flow_prog.h"
#include "flow/pipeline.h"
#include "nf/nf_nat.h"
#include "pkt/pkt.h"
#include "state/state.h"

#define N_PACKETS 1000000
#define N_RUNS 7
#define MAX_THREADS 2
#define N_MIXED_RULES 1000
#define N_EXACT_RULES 100000
#define T0_NS (1700000000ull * 1000000000ull)
#define GAP_NS 1000ull /* Packet spacing, ns. */
#define LONG_TIMEOUT_NS (3600ull * 1000000000ull)

enum bench_case { CASE_L2, CASE_MIXED, CASE_EXACT, CASE_FW, CASE_NAT };

static const char *const case_names[] = {
    "(a) 1 rule L2 forward",
    "(b) 1,000 mixed-mask rules",
    "(c) 100,000 exact rules",
    "(d) firewall filter",
    "(e) NAT",
};

static const uint32_t flow_counts[] = {1, 10000, 1000000};

/* One thread's share of a run.  Aligned to a cache line: the threads'
 * workers sit side by side in an array and each thread counts its outputs
 * in its own, packet by packet, so sharing a line would bounce it between
 * the cores on every packet. */
struct worker {
    _Alignas(64) struct pipeline *pl; /* Own pipeline: rules shared with
                                       * the other threads' (unless
                                       * BENCH_TABLES=copy), own cache and
                                       * counters; shared programs. */
    uint32_t first;      /* Its packets: pkts[first .. first + n). */
    uint32_t n;
    unsigned int cpu;         /* CPU to pin to. */
    unsigned int id;          /* Thread index (bpf_set_cpu()). */
    uint64_t outputs;         /* Packets its pipeline sent out. */
    uint64_t ns;              /* CPU time of its run. */
    struct packet **pkts;     /* All packets (borrowed). */
    pthread_barrier_t *start; /* Released when every thread is ready. */
};

struct bench {
    struct bench_pkts mem; /* The packets' memory (bench_pkts.h). */
    struct packet **pkts; /* N_PACKETS buffers: mem.pkts. */
    uint32_t *flow_of;    /* Flow of each packet. */
    uint8_t *reply;       /* Firewall: packet comes from outside. */
    char *progs_dir;
};

static uint64_t rng_state = BENCH_RNG_SEED;

static uint32_t
rng(void)
{
    return bench_rng(&rng_state);
}

/* Flow i: from 10.0.0.0 + i (so a million flows stay distinct), port
 * 1024 + i % 50000, to 192.168.0.1:80, TCP (UDP for the firewall, whose
 * table tracks UDP from the first datagram). */
static void
make_flow(struct flow_key *k, enum bench_case c, uint32_t i)
{
    static const uint8_t src_mac[6] = {0x02, 0, 0, 0, 0, 0x01};
    static const uint8_t dst_mac[6] = {0x02, 0, 0, 0, 0, 0x02};

    memset(k, 0, sizeof *k);
    k->in_port = 1;
    memcpy(k->dl_src, src_mac, 6);
    memcpy(k->dl_dst, dst_mac, 6);
    k->dl_type = htons(0x0800);
    k->nw_src = htonl(0x0a000000u + i);
    k->nw_dst = htonl(c == CASE_NAT ? 0xcb007109u : 0xc0a80001u);
    k->nw_proto = c == CASE_FW ? 17 : 6;
    k->nw_ttl = 64;
    k->tp_src = htons((uint16_t)(1024 + i % 50000));
    k->tp_dst = htons(80);
    k->tcp_flags = c == CASE_FW ? 0 : htons(0x010);
}

/* The same flow seen from the outside (firewall replies). */
static void
reverse_flow(struct flow_key *k)
{
    uint8_t mac[6];
    be32 a = k->nw_src;
    be16 p = k->tp_src;

    memcpy(mac, k->dl_src, 6);
    memcpy(k->dl_src, k->dl_dst, 6);
    memcpy(k->dl_dst, mac, 6);
    k->nw_src = k->nw_dst;
    k->nw_dst = a;
    k->tp_src = k->tp_dst;
    k->tp_dst = p;
    k->in_port = 2;
}

static char *
ip_str(be32 addr, char buf[16])
{
    uint32_t a = ntohl(addr);

    snprintf(buf, 16, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255,
             a & 255);
    return buf;
}

static char *
add_rule(struct pipeline *pl, const char *text)
{
    struct flow_spec spec;
    int col = 0;
    char *err = flow_spec_parse(&spec, text, FLOW_PARSE_ADD, &col);

    if (!err) {
        err = pipeline_add(pl, &spec, T0_NS);
    }
    flow_spec_destroy(&spec);
    if (err) {
        char *msg = xasprintf("rule '%s': %s", text, err);

        free(err);
        return msg;
    }
    return NULL;
}

/* Rule text 'i' of case (b): shape i % 10, narrower shapes at higher
 * priorities; with 'real' its values come from flow 'f'. */
static char *
mixed_rule(unsigned int i, bool real, const struct flow_key *f)
{
    static const unsigned int bits[10] = {8,  16, 56, 32, 36,
                                          40, 12, 48, 48, 34};
    unsigned int shape = i % 10;
    unsigned int prio = bits[shape] * 1000 + rng() % 1000;
    be32 src = real ? f->nw_src : htonl(0x0b000000u | (rng() & 0xffffff));
    be32 dst = real ? f->nw_dst : htonl(0xac100000u | (rng() & 0xfffff));
    unsigned int sport = real ? ntohs(f->tp_src) : 60000 + rng() % 5000;
    unsigned int dport = real ? 80 : 1 + rng() % 79;
    char a[16], d[16];

    ip_str(src, a);
    ip_str(dst, d);
    switch (shape) {
    case 0:
        return xasprintf("priority=%u,ip,nw_src=%s/8", prio, a);
    case 1:
        return xasprintf("priority=%u,ip,nw_src=%s/16", prio, a);
    case 2:
        return xasprintf("priority=%u,ip,nw_src=%s/24,nw_dst=%s", prio, a, d);
    case 3:
        return xasprintf("priority=%u,tcp,tp_dst=%u,tp_src=%u", prio, dport,
                         sport);
    case 4:
        return xasprintf("priority=%u,tcp,nw_src=%s/20,tp_dst=%u", prio, a,
                         dport);
    case 5:
        return xasprintf("priority=%u,tcp,nw_dst=%s,tp_src=0x%x/0xff00", prio,
                         d, sport & 0xff00);
    case 6:
        return xasprintf("priority=%u,in_port=%u,ip,nw_src=%s/12", prio,
                         real ? 1 : 3 + rng() % 100, a);
    case 7:
        return xasprintf("priority=%u,dl_src=02:00:00:00:%02x:%02x", prio,
                         1 + rng() % 255, rng() % 256);
    case 8:
        return xasprintf("priority=%u,udp,nw_src=%s,tp_dst=%u", prio, a, dport);
    default:
        return xasprintf("priority=%u,tcp,nw_src=%s/28,nw_tos=%u", prio, a,
                         real ? 0 : 4 * (1 + rng() % 63));
    }
}

/* The rule texts of case 'c' for 'n_flows' flows (NULL-terminated). */
static char **
case_rules(enum bench_case c, uint32_t n_flows)
{
    size_t n = c == CASE_EXACT ? N_EXACT_RULES + 1 : N_MIXED_RULES + 2;
    char **rules = xcalloc(n + 1, sizeof *rules);
    size_t k = 0;
    char a[16];

    rng_state = BENCH_RNG_SEED ^ 0x5eed;
    switch (c) {
    case CASE_L2:
        rules[k++] = xstrdup("in_port=1,actions=output:2");
        break;
    case CASE_MIXED:
        rules[k++] = xstrdup("priority=0,actions=output:2");
        for (unsigned int i = 0; i < N_MIXED_RULES; i++) {
            bool real = rng() & 1;
            struct flow_key f;
            char *text;

            make_flow(&f, c, rng() % n_flows);
            text = mixed_rule(i, real, &f);
            rules[k++] = xasprintf("%s,actions=output:2", text);
            free(text);
        }
        break;
    case CASE_EXACT: {
        /* Rule j matches flow j * stride while there are flows left. */
        uint32_t stride = MAX(1u, n_flows / N_EXACT_RULES);

        rules[k++] = xstrdup("priority=0,actions=output:2");
        for (uint32_t j = 0; j < N_EXACT_RULES; j++) {
            uint64_t fi = (uint64_t)j * stride;
            struct flow_key f;

            make_flow(&f, c, (uint32_t)fi);
            rules[k++] = xasprintf(
                "priority=100,in_port=1,tcp,nw_src=%s,nw_dst=192.168.0.1,"
                "tp_src=%u,tp_dst=80,actions=output:2",
                ip_str(f.nw_src, a),
                fi < n_flows ? (unsigned int)ntohs(f.tp_src) : 60001u);
        }
        break;
    }
    case CASE_FW:
        rules[k++] = xstrdup("in_port=1,prog=fw,actions=output:2");
        rules[k++] = xstrdup("in_port=2,prog=fw,actions=output:1");
        break;
    case CASE_NAT:
        rules[k++] = xstrdup("actions=prog:nat");
        break;
    }
    return rules;
}

static void
free_rules(char **rules)
{
    for (size_t i = 0; rules[i]; i++) {
        free(rules[i]);
    }
    free(rules);
}

static char *
load_programs(struct bench *b, enum bench_case c, struct flow_progs *progs)
{
    char *path, *error = NULL;

    if (c == CASE_FW) {
        path = xasprintf("%s/firewall.o", b->progs_dir);
        error = flow_progs_load(progs, "fw", path, NULL, NULL, 0);
    } else if (c == CASE_NAT) {
        struct nf_nat_params np = {
            .wan_port = 2,
            .ext_ip = htonl(0xc6336401u), /* 198.51.100.1 */
            .first_port = 0,
            .capacity = 65536,
            .timeout_ns = LONG_TIMEOUT_NS,
        };

        path = xasprintf("%s/nat.o", b->progs_dir);
        error = flow_progs_load(progs, "nat", path, NULL, NULL, 0);
        if (!error) {
            error = nf_nat_apply(flow_progs_object(progs, "nat"), &np);
        }
    } else {
        return NULL;
    }
    free(path);
    return error;
}

static void
bench_output(void *aux, uint32_t port, const struct packet *p)
{
    struct worker *w = aux;

    w->outputs += port != p->in_port && p->len > 0;
}

/* One thread count's set-up for a case and flow count: freshly loaded
 * programs, a pipeline per thread (siblings sharing one copy of the rules,
 * as the live switch's; with BENCH_TABLES=copy in the environment, a copy
 * per thread, as before, for comparison), the packets' steering. */
struct setup {
    unsigned int n_threads;
    struct flow_progs *progs;
    struct worker w[MAX_THREADS];
    /* Arrival index of the packet in each buffer: buffers are grouped by
     * thread (thread 0's first), so that the threads' packets live in
     * separate memory, as with a receive ring per thread. */
    uint32_t *order;
    uint32_t n_of[MAX_THREADS]; /* Packets of each thread. */
    struct steer steer;
    uint64_t ns[MAX_THREADS][N_RUNS]; /* Each thread's CPU time per run. */
    /* BENCH_SOLO=1: the same, each thread run alone (bench_solo()). */
    uint64_t solo_ns[MAX_THREADS][N_RUNS];
    uint64_t outputs;           /* Over the timed runs. */
};

/* BENCH_SOLO=1: after each timed run with several threads, the run again
 * with each thread alone, one after the other, on the same packets (built
 * afresh) and CPUs.  A thread's time together over its time alone is what
 * the threads cost each other (shared lines, the shared cache, memory
 * bandwidth, the host's other tenants at that moment); a thread slower
 * than the other alone is an uneven split of the work. */
static bool
env_is(const char *name, const char *value)
{
    const char *v = getenv(name);

    return v && !strcmp(v, value);
}

static bool
bench_solo(void)
{
    return env_is("BENCH_SOLO", "1");
}

/* Makes 'p' arrival 'i' of case 'c' in run 'run'. */
static void
compose(struct bench *b, enum bench_case c, uint32_t run, uint32_t i,
        struct packet *p)
{
    struct flow_key k;

    make_flow(&k, c, b->flow_of[i]);
    if (b->reply[i]) {
        reverse_flow(&k);
    }
    pkt_compose(p, &k);
    p->in_port = k.in_port;
    p->ts_ns = T0_NS + ((uint64_t)run * N_PACKETS + i) * GAP_NS;
}

/* Spreads the arrivals over the set-up's threads by the steering hash, as
 * RSS would, keeping arrival order within each thread. */
static void
steer_packets(struct bench *b, enum bench_case c, struct setup *s)
{
    uint8_t *thread_of = xmalloc(N_PACKETS);
    struct packet *p = packet_new(128);
    uint32_t at[MAX_THREADS];

    memset(s->n_of, 0, sizeof s->n_of);
    for (uint32_t i = 0; i < N_PACKETS; i++) {
        compose(b, c, 0, i, p);
        pkt_parse(p);
        thread_of[i] = (uint8_t)steer_thread(&s->steer, &p->key, s->n_threads);
        s->n_of[thread_of[i]]++;
    }
    at[0] = 0;
    for (unsigned int t = 1; t < MAX_THREADS; t++) {
        at[t] = at[t - 1] + s->n_of[t - 1];
    }
    for (uint32_t i = 0; i < N_PACKETS; i++) {
        s->order[at[thread_of[i]]++] = i;
    }
    packet_destroy(p);
    free(thread_of);
}

static void
pin_to_cpu(unsigned int cpu)
{
    cpu_set_t set;

    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    /* Best effort: unpinned threads still run, only less steadily. */
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

static void *
worker_main(void *aux)
{
    struct worker *w = aux;
    uint64_t t0;

    pin_to_cpu(w->cpu);
    bpf_set_cpu(w->id);
    pthread_barrier_wait(w->start);
    t0 = bench_cpu_ns();
    for (uint32_t i = 0; i < w->n; i += PACKET_BATCH_MAX) {
        struct packet_batch batch;

        packet_batch_init(&batch);
        for (uint32_t j = i; j < w->n && j < i + PACKET_BATCH_MAX; j++) {
            packet_batch_add(&batch, w->pkts[w->first + j]);
        }
        pkt_parse_batch(&batch);
        pipeline_process(w->pl, &batch, batch.pkts[0]->ts_ns);
    }
    w->ns = bench_cpu_ns() - t0;
    return NULL;
}

static int
cmp_u64(const void *a_, const void *b_)
{
    uint64_t a = *(const uint64_t *)a_, b = *(const uint64_t *)b_;

    return a < b ? -1 : a > b;
}

static void
setup_destroy(struct setup *s)
{
    for (unsigned int t = 0; t < s->n_threads; t++) {
        pipeline_destroy(s->w[t].pl);
    }
    flow_progs_destroy(s->progs);
    free(s->order);
}

/* BENCH_TABLES=copy: each thread's pipeline with its own copy of the
 * rules. */
static bool
tables_copied(void)
{
    return env_is("BENCH_TABLES", "copy");
}

/* Sets 's' up for case 'c' with 'n_flows' flows (b->flow_of and b->reply
 * drawn) on 'n_threads' threads.  Returns NULL or an error (then 's' is
 * destroyed). */
static char *
setup_init(struct setup *s, struct bench *b, enum bench_case c,
           uint32_t n_flows, unsigned int n_threads)
{
    static const uint32_t ports[] = {1, 2};
    char **rules = case_rules(c, n_flows);
    const struct bpf_prog *list[4];
    struct state_steering spec;
    unsigned int ncpu = (unsigned int)sysconf(_SC_NPROCESSORS_ONLN);
    size_t n_progs;
    char *error;

    memset(s, 0, sizeof *s);
    s->n_threads = n_threads;
    s->progs = flow_progs_create();
    s->order = xcalloc(N_PACKETS, sizeof *s->order);
    /* As the live switch does before loading: map locking only with
     * several threads, a per-CPU copy per thread. */
    bpf_maps_set_threads(n_threads);
    error = load_programs(b, c, s->progs);
    if (!error) {
        n_progs = flow_progs_list(s->progs, list, ARRAY_SIZE(list));
        if (state_steering(list, n_progs, &spec, &error) < 0) {
            char *msg = xasprintf("steering: %s", error ? error : "failed");

            free(error);
            error = msg;
        } else {
            steer_init(&s->steer, &spec);
        }
    }
    for (unsigned int t = 0; t < n_threads && !error; t++) {
        struct worker *w = &s->w[t];

        if (t && !tables_copied()) {
            w->pl = pipeline_create_sibling(s->w[0].pl);
        } else {
            w->pl = pipeline_create();
            pipeline_set_ports(w->pl, ports, 2);
            pipeline_set_prog_lookup(w->pl, flow_progs_lookup, s->progs);
            for (size_t i = 0; rules[i] && !error; i++) {
                error = add_rule(w->pl, rules[i]);
            }
        }
        pipeline_set_output(w->pl, bench_output, w);
        w->id = t;
        /* From the last CPU down, like bench/run's pinning. */
        w->cpu = ncpu > t ? ncpu - 1 - t : 0;
        w->pkts = b->pkts;
    }
    free_rules(rules);
    if (error) {
        setup_destroy(s);
        return error;
    }
    steer_packets(b, c, s);
    return NULL;
}

/* Builds run 'r''s packets (untimed) and runs 's''s threads on them,
 * together or ('solo') one after the other; each worker's 'ns' and
 * 'outputs' get its run's. */
static void
setup_run_threads(struct setup *s, struct bench *b, enum bench_case c,
                  uint32_t r, bool solo)
{
    pthread_t tid[MAX_THREADS];
    pthread_barrier_t start;

    for (uint32_t k = 0; k < N_PACKETS; k++) {
        compose(b, c, r, s->order[k], b->pkts[k]);
    }
    pthread_barrier_init(&start, NULL, solo ? 1 : s->n_threads);
    for (unsigned int t = 0; t < s->n_threads; t++) {
        struct worker *w = &s->w[t];

        w->first = t ? s->w[t - 1].first + s->w[t - 1].n : 0;
        w->n = s->n_of[t];
        w->outputs = 0;
        w->start = &start;
        pthread_create(&tid[t], NULL, worker_main, w);
        if (solo) {
            pthread_join(tid[t], NULL);
        }
    }
    for (unsigned int t = 0; t < s->n_threads && !solo; t++) {
        pthread_join(tid[t], NULL);
    }
    pthread_barrier_destroy(&start);
}

/* Run 'r' of set-up 's' (run 0 is the warm-up): builds the packets in its
 * threads' order (untimed), runs the threads concurrently and records each
 * one's CPU time (and, with BENCH_SOLO=1, each one's time alone). */
static void
setup_run(struct setup *s, struct bench *b, enum bench_case c, uint32_t r)
{
    /* The map code's locking follows the thread count (the set-ups of
     * one case are loaded side by side and run in turn). */
    bpf_maps_set_threads(s->n_threads);
    setup_run_threads(s, b, c, r, false);
    for (unsigned int t = 0; t < s->n_threads && r; t++) {
        s->ns[t][r - 1] = s->w[t].ns;
        s->outputs += s->w[t].outputs;
    }
    if (r && s->n_threads > 1 && bench_solo()) {
        setup_run_threads(s, b, c, r, true);
        for (unsigned int t = 0; t < s->n_threads; t++) {
            s->solo_ns[t][r - 1] = s->w[t].ns;
        }
    }
}

static uint64_t
median_ns(const uint64_t runs[N_RUNS])
{
    uint64_t ns[N_RUNS];

    memcpy(ns, runs, sizeof ns);
    qsort(ns, N_RUNS, sizeof ns[0], cmp_u64);
    return ns[N_RUNS / 2];
}

/* The slowest of 'n' threads' median times ('ns[t]': thread t's runs).
 * Each thread's time is its median over the timed runs first, so that a
 * burst of interference on one CPU in one run (which, taking the slowest
 * thread of every run, would count against every run it touches) weighs
 * no more than it does with one thread; an uneven split still counts in
 * full, since the thread with more work has the longer time. */
static uint64_t
slowest_median_ns(const uint64_t ns[][N_RUNS], unsigned int n)
{
    uint64_t slowest = 0;

    for (unsigned int t = 0; t < n; t++) {
        slowest = MAX(slowest, median_ns(ns[t]));
    }
    return slowest;
}

/* A set-up's Mpps: all packets over the slowest thread's median time. */
static double
setup_mpps(const struct setup *s)
{
    return N_PACKETS / (double)slowest_median_ns(s->ns, s->n_threads) * 1e3;
}

/* BENCH_SOLO=1's line under a row: each thread's median time alone and
 * together, and the ratio. */
static void
print_solo(const struct setup *s)
{
    printf("%-28s %8s  ", "", "solo");
    for (unsigned int t = 0; t < s->n_threads; t++) {
        uint64_t alone = median_ns(s->solo_ns[t]);
        uint64_t together = median_ns(s->ns[t]);

        printf("%sT%u %.1f ms alone, %.1f together (x%.2f)", t ? "; " : "", t,
               alone / 1e6, together / 1e6,
               alone ? (double)together / (double)alone : 0.0);
    }
    printf("\n");
}

/* Case 'c' with 'n_flows' flows on 1 and on MAX_THREADS threads: both
 * set-ups are loaded side by side and their runs alternate, so that the
 * two medians come from the same stretch of time (on a noisy host, two
 * medians taken seconds apart can differ by more than the effect
 * measured).  Returns NULL or an error. */
static char *
bench_case_flows(struct bench *b, enum bench_case c, uint32_t n_flows,
                 struct setup s[MAX_THREADS])
{
    char *error = NULL;
    unsigned int n;

    rng_state = BENCH_RNG_SEED;
    for (uint32_t i = 0; i < N_PACKETS; i++) {
        b->flow_of[i] = n_flows > 1 ? rng() % n_flows : 0;
        b->reply[i] = c == CASE_FW && (rng() & 1);
    }
    for (n = 0; n < MAX_THREADS && !error; n++) {
        error = setup_init(&s[n], b, c, n_flows, n + 1);
    }
    if (error) {
        while (--n > 0) {
            setup_destroy(&s[n - 1]);
        }
        return error;
    }
    for (uint32_t r = 0; r <= N_RUNS; r++) {
        for (n = 0; n < MAX_THREADS; n++) {
            setup_run(&s[n], b, c, r);
        }
    }
    return NULL;
}

/* ---- Host check. ----
 *
 * How much this host's two CPUs slow each other down at the moment, for
 * threads that share nothing: each thread read-modify-writes random words
 * of a private 4 MiB array (past its L2, within the L3), on the CPUs the
 * datapath rows use, with the rows' method (1- and 2-thread runs
 * alternating, per-thread medians).  Code without shared data would scale
 * 2x on separate cores; this loop, all cache misses, is more sensitive to
 * a shared physical core or to the other tenants' memory traffic than the
 * datapath is, so its x is not a ceiling, but its drops mark the windows
 * where the rows' x drops for the host's reasons (measured: host rows at
 * 1.14-1.18 with (a) at 1.37-1.72; at 1.53-1.66 with (a) at 1.95-2.06).
 * Printed before and after the cases. */
#define HOST_WORDS (UINT32_C(1) << 19)
#define HOST_OPS UINT32_C(2000000)

struct host_worker {
    _Alignas(64) uint64_t *mem; /* HOST_WORDS words, its own. */
    unsigned int cpu;
    uint64_t ns;
    pthread_barrier_t *start;
};

static void *
host_main(void *aux)
{
    struct host_worker *w = aux;
    uint64_t x = 0x9e3779b97f4a7c15ull ^ w->cpu;

    pin_to_cpu(w->cpu);
    pthread_barrier_wait(w->start);
    uint64_t t0 = bench_cpu_ns();
    for (uint32_t i = 0; i < HOST_OPS; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        w->mem[x & (HOST_WORDS - 1)] += i;
    }
    w->ns = bench_cpu_ns() - t0;
    return NULL;
}

static void
host_check(const char *when)
{
    unsigned int ncpu = (unsigned int)sysconf(_SC_NPROCESSORS_ONLN);
    struct host_worker w[MAX_THREADS];
    uint64_t ns[MAX_THREADS][MAX_THREADS][N_RUNS]; /* [n - 1][thread][run] */
    double mops[MAX_THREADS];

    for (unsigned int t = 0; t < MAX_THREADS; t++) {
        w[t].mem = xzalloc_lines(HOST_WORDS * sizeof *w[t].mem);
        w[t].cpu = ncpu > t ? ncpu - 1 - t : 0;
    }
    for (uint32_t r = 0; r <= N_RUNS; r++) {
        for (unsigned int n = 1; n <= MAX_THREADS; n++) {
            pthread_t tid[MAX_THREADS];
            pthread_barrier_t start;

            pthread_barrier_init(&start, NULL, n);
            for (unsigned int t = 0; t < n; t++) {
                w[t].start = &start;
                pthread_create(&tid[t], NULL, host_main, &w[t]);
            }
            for (unsigned int t = 0; t < n; t++) {
                pthread_join(tid[t], NULL);
                if (r) {
                    ns[n - 1][t][r - 1] = w[t].ns;
                }
            }
            pthread_barrier_destroy(&start);
        }
    }
    for (unsigned int n = 1; n <= MAX_THREADS; n++) {
        mops[n - 1] = n * (double)HOST_OPS /
                      (double)slowest_median_ns(ns[n - 1], n) * 1e3;
    }
    printf("%-28s %8s %9.2f %9.2f %9.2f %6.2f   (Mops, not Mpps)\n", when,
           "-", mops[0], mops[1], mops[1] / 2, mops[1] / mops[0]);
    for (unsigned int t = 0; t < MAX_THREADS; t++) {
        free(w[t].mem);
    }
}

static char *
progs_dir(void)
{
    const char *root = getenv("SLUICE_BUILD_ROOT");
    char exe[PATH_MAX];
    ssize_t n;

    if (root) {
        return xasprintf("%s/progs", root);
    }
    n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
        return xstrdup("progs");
    }
    exe[n] = '\0';
    return xasprintf("%s/../progs", dirname(exe));
}

int
main(int argc, char **argv)
{
    struct bench b;
    int rc = 0;

    memset(&b, 0, sizeof b);
    b.progs_dir = progs_dir();
    bench_pkts_init(&b.mem, N_PACKETS, 128);
    b.pkts = b.mem.pkts;
    b.flow_of = xcalloc(N_PACKETS, sizeof *b.flow_of);
    b.reply = xcalloc(N_PACKETS, sizeof *b.reply);
    printf("sluice datapath benchmark: %d packets per run, batches of %d, "
           "%d runs after a warm-up,\n1- and 2-thread runs alternating; "
           "2 threads: packets steered by flow hash,\none pipeline per "
           "thread (%s) over shared programs,\nthreads pinned to CPUs; "
           "Mpps = all packets / the slowest thread's median time.\n"
           "Packets: %s.\n(host) rows, before and after: two threads that "
           "share no data (random writes to a private\n4 MiB array each): "
           "how much the host's CPUs slow each other down then.\n\n",
           N_PACKETS, PACKET_BATCH_MAX, N_RUNS,
           tables_copied() ? "a copy of the rules each, BENCH_TABLES=copy"
                           : "one copy of the rules shared",
           bench_pkts_source(&b.mem));
    printf("%-28s %8s %9s %9s %9s %6s %5s %5s  %s\n", "case", "flows",
           "1T Mpps", "2T Mpps", "2T/core", "x", "fwd%", "t0%", "steering");
    host_check("(host) nothing shared");
    for (size_t c = 0; c < ARRAY_SIZE(case_names); c++) {
        bool chosen = argc < 2;

        for (int a = 1; a < argc; a++) {
            chosen |= argv[a][0] == (char)('a' + c) && !argv[a][1];
        }
        if (!chosen) {
            continue;
        }
        for (size_t f = 0; f < ARRAY_SIZE(flow_counts); f++) {
            struct setup s[MAX_THREADS];
            const struct steer *steer = &s[MAX_THREADS - 1].steer;
            char fields[200];
            char *error = bench_case_flows(&b, c, flow_counts[f], s);

            if (error) {
                fprintf(stderr, "bench_dp: %s, %u flows: %s\n", case_names[c],
                        flow_counts[f], error);
                free(error);
                rc = 1;
                continue;
            }
            if (steer->spec.single) {
                snprintf(fields, sizeof fields, "single thread");
            } else {
                state_dims_format(steer->used, fields, sizeof fields);
                if (steer->spec.symmetric) {
                    strncat(fields, " (sym)",
                            sizeof fields - strlen(fields) - 1);
                }
            }
            double mpps1 = setup_mpps(&s[0]), mpps2 = setup_mpps(&s[1]);

            printf("%-28s %8u %9.2f %9.2f %9.2f %6.2f %5.1f %5.1f  %s\n",
                   case_names[c], flow_counts[f], mpps1, mpps2, mpps2 / 2,
                   mpps2 / mpps1,
                   100 * (double)s[0].outputs / ((double)N_RUNS * N_PACKETS),
                   100 * (double)s[1].n_of[0] / N_PACKETS, fields);
            if (bench_solo()) {
                print_solo(&s[1]);
            }
            fflush(stdout);
            for (unsigned int n = 0; n < MAX_THREADS; n++) {
                setup_destroy(&s[n]);
            }
        }
    }
    host_check("(host) nothing shared");
    bench_pkts_destroy(&b.mem);
    free(b.flow_of);
    free(b.reply);
    free(b.progs_dir);
    return rc;
}
