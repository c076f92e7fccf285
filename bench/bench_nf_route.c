/* Network-function benchmark, part 2 (helper nf-route): the LPM router,
 * MAC bridge, Vigor-variant firewall and policer in the offline pipeline.
 *
 * Each function runs as an action program (`actions=prog:NAME`, plus
 * `flood` for the bridge) loaded from BUILD/progs the way `prog load` does,
 * in the default execution mode (the JIT unless SLUICE_BPF_JIT=0), on
 * NF-SPECS's workloads of 1,000,000 packets made with pkt_compose() and
 * fed through pkt_parse_batch() and pipeline_process() in batches of 32:
 *
 *   1 flow       one flow repeated (the bridge: one conversation, two
 *                stations taking turns, so that its destination is known);
 *   uniform 10k  flows drawn uniformly from 10,000;
 *   uniform 1M   ... from 1,000,000 (more than a table's 65,536: the
 *                stateful functions spend time in their "full" path);
 *   zipf 10k     Zipf with s = 1.26 over 10,000 flows;
 *   churn        every packet a new flow with an idle timeout of 1 ms of
 *                packet time: the tables fill, then live on reusing
 *                expired slots.
 *
 * Packets are 100 ns of packet time apart (10 Mpps), so timeouts are
 * crossed as they would be at that rate.  What a packet is per function:
 * the router routes UDP to a destination spread over a synthetic
 * RouteViews-size table (1,000,000 prefixes, lengths distributed as in
 * the real table: mostly /24); the bridge forwards between stations on
 * ports 1 and 2, station k talking to station k ^ 1; the firewall sees a
 * flow's packets outbound or (at random, half of them) as the reply from
 * the WAN; the policer sees WAN -> LAN packets per destination address at
 * R = 125 MB/s, B = 1.25 MB (B = 125 kB, so B/R = 1 ms, for churn).
 *
 * Every (function, workload) gets a freshly loaded program, one warm-up
 * pass and 5 timed passes (timestamps move on between passes, packets are
 * rebuilt outside the timing); the median is printed with min and max,
 * and "out/pkt" (frames sent per packet: below 1 for drops, above 1 for
 * floods) shows that the path measured is the intended one.  Memory per
 * entry is what one entry occupies in sluice's map layouts (hash element
 * with header and bucket, plus the table's node and slot arrays); for the
 * router it is the growth of the resident set while loading the 1M
 * prefixes, divided by their number.  Figures are reported, never
 * asserted. */
#include <arpa/inet.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bpf/bpf_api.h"
#include "core/util.h"
#include "flow/flow_parse.h"
#include "flow/flow_prog.h"
#include "flow/pipeline.h"
#include "nf/nf_ports.h"
#include "nf/nf_route.h"
#include "pkt/pkt.h"

#define N_PACKETS 1000000
#define N_RUNS 5
#define STEP_NS 100ull
#define T0_NS (1700000000ull * 1000000000ull)
#define N_ROUTES 1000000
#define ZIPF_S 1.26

enum nf_fn { FN_ROUTER, FN_BRIDGE, FN_VFW, FN_POLICER, N_FNS };
enum workload { WL_ONE, WL_U10K, WL_U1M, WL_ZIPF, WL_CHURN, N_WLS };

static const char *const fn_names[N_FNS] = {
    "router", "bridge", "vfw", "policer",
};
static const char *const wl_names[N_WLS] = {
    "1 flow", "uniform 10k", "uniform 1M", "zipf 10k", "churn",
};

struct bench {
    struct packet **pkts;   /* N_PACKETS packet buffers. */
    uint32_t *flow;         /* Flow of each packet of the workload. */
    uint8_t *bit;           /* A random bit per packet (direction). */
    uint64_t t_next;        /* Packet time of the next pass's start. */
    uint64_t outputs;       /* Frames the output callback saw. */
};

/* A small fixed-seed generator (xorshift64*), so every run of the
 * benchmark uses the same packets. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t
rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 0x2545f4914f6cdd1dull) >> 32);
}

/* Spreads flow numbers over the address space (a bijection on 32 bits). */
static uint32_t
mix32(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    x *= 0x846ca68bu;
    x ^= x >> 16;
    return x;
}

static uint64_t
mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static size_t
rss_bytes(void)
{
    unsigned long size, resident;
    FILE *f = fopen("/proc/self/statm", "r");

    if (!f || fscanf(f, "%lu %lu", &size, &resident) != 2) {
        if (f) {
            fclose(f);
        }
        return 0;
    }
    fclose(f);
    return resident * (size_t)sysconf(_SC_PAGESIZE);
}

static void
make_workload(struct bench *b, enum workload wl)
{
    double *cdf = NULL;

    if (wl == WL_ZIPF) {
        cdf = xmalloc(10000 * sizeof *cdf);
        double sum = 0;
        for (int k = 0; k < 10000; k++) {
            sum += 1.0 / pow(k + 1, ZIPF_S);
            cdf[k] = sum;
        }
        for (int k = 0; k < 10000; k++) {
            cdf[k] /= sum;
        }
    }
    for (uint32_t i = 0; i < N_PACKETS; i++) {
        switch (wl) {
        case WL_ONE:
            b->flow[i] = 0;
            break;
        case WL_U10K:
            b->flow[i] = rng() % 10000;
            break;
        case WL_U1M:
            b->flow[i] = rng() % 1000000;
            break;
        case WL_ZIPF: {
            double u = rng() / 4294967296.0;
            uint32_t lo = 0, hi = 9999;
            while (lo < hi) {
                uint32_t mid = (lo + hi) / 2;
                if (cdf[mid] < u) {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            b->flow[i] = lo;
            break;
        }
        default:
            b->flow[i] = i;
            break;
        }
        b->bit[i] = rng() & 1;
    }
    free(cdf);
}

/* The packet of flow 'f' for function 'fn'; 'i' is its index and 'pass'
 * the pass number (churn flows stay new across passes). */
static void
make_key(enum nf_fn fn, enum workload wl, const struct bench *b, uint32_t i,
         uint32_t pass, struct flow_key *k)
{
    uint32_t f = b->flow[i];

    if (wl == WL_CHURN) {
        f += pass * N_PACKETS;
    }
    memset(k, 0, sizeof *k);
    k->in_port = 1;
    k->dl_type = htons(0x0800);
    memcpy(k->dl_src, "\x02\x00\x00\x00\x00\x01", 6);
    memcpy(k->dl_dst, "\x02\x00\x00\x00\x00\x02", 6);
    k->nw_proto = 17;
    k->nw_ttl = 64;
    k->nw_src = htonl(0xc6120001u);
    k->tp_src = htons(1000);
    k->tp_dst = htons(53);

    switch (fn) {
    case FN_ROUTER:
        k->nw_dst = htonl(0x01000000u + mix32(f) % 0xdf000000u);
        break;
    case FN_BRIDGE: {
        uint32_t s = wl == WL_ONE ? (i & 1) : f;
        uint32_t d = s ^ 1;
        k->in_port = 1 + (s & 1);
        memcpy(k->dl_src, "\x02\x00", 2);
        memcpy(k->dl_dst, "\x02\x00", 2);
        s = htonl(s);
        d = htonl(d);
        memcpy(k->dl_src + 2, &s, 4);
        memcpy(k->dl_dst + 2, &d, 4);
        k->nw_dst = htonl(0xc6120002u);
        break;
    }
    case FN_VFW: {
        be32 lan = htonl(0x0a000000u + (f & 0xffffff));
        be32 wan = htonl(0xc6130000u + (f >> 24));
        be16 lp = htons((uint16_t)(1024 + f % 60000));
        if (b->bit[i]) {
            k->in_port = 2;
            k->nw_src = wan;
            k->nw_dst = lan;
            k->tp_src = htons(53);
            k->tp_dst = lp;
        } else {
            k->nw_src = lan;
            k->nw_dst = wan;
            k->tp_src = lp;
        }
        break;
    }
    default:
        k->in_port = 2;
        k->nw_dst = htonl(0x0a000000u + f);
        break;
    }
}

static void
build_packets(struct bench *b, enum nf_fn fn, enum workload wl,
              uint32_t pass)
{
    for (uint32_t i = 0; i < N_PACKETS; i++) {
        struct flow_key k;

        make_key(fn, wl, b, i, pass, &k);
        pkt_compose(b->pkts[i], &k);
        b->pkts[i]->ts_ns = b->t_next + i * STEP_NS;
    }
    b->t_next += N_PACKETS * STEP_NS;
}

static void
bench_output(void *aux, uint32_t port, const struct packet *p)
{
    struct bench *b = aux;

    b->outputs += port != 0 && p->len > 0;
}

static void
die(const char *what, char *error)
{
    fprintf(stderr, "bench_nf_route: %s: %s\n", what, error);
    exit(1);
}

static void
add_rule(struct pipeline *pl, const char *text)
{
    struct flow_spec spec;
    int col = 0;
    char *err = flow_spec_parse(&spec, text, FLOW_PARSE_ADD, &col);

    if (!err) {
        err = pipeline_add(pl, &spec, 0);
    }
    if (err) {
        die(text, err);
    }
    flow_spec_destroy(&spec);
}

/* A synthetic RouteViews-size table: N_ROUTES prefixes, ~60% /24, the rest
 * /8../23 as in the real table, origin ASes mapped onto ports 2..4 as
 * `nf route load --pfx2as` does. */
static void
make_routes(struct nf_route_table *t, const struct nf_port_entry *ports)
{
    static const uint8_t lens[] = {
        24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 23, 22, 22, 21, 20,
        19, 18, 17, 16, 16, 15, 14, 13, 12, 11, 10, 9, 8,
    };
    t->routes = xcalloc(N_ROUTES, sizeof *t->routes);
    t->n = N_ROUTES;
    for (uint32_t i = 0; i < N_ROUTES; i++) {
        struct nf_route *r = &t->routes[i];
        uint8_t len = lens[rng() % sizeof lens];
        const struct nf_port_entry *p = &ports[rng() % 3];

        r->len = len;
        r->addr = (0x01000000u + rng() % 0xdf000000u) & (~0u << (32 - len));
        r->port = p->port;
        memcpy(r->nexthop, p->macs.nexthop, 6);
        r->line = i + 1;
    }
}

static struct bpf_map *
find_map(struct flow_progs *progs, const char *name)
{
    struct bpf_map *m = bpf_object_find_map(flow_progs_object(progs, "nf"),
                                            name);
    if (!m) {
        die(name, xstrdup("map not found"));
    }
    return m;
}

/* Bytes one entry of an nf_table.h table occupies: its index hash element
 * (16-byte header, key and value padded to 8, a 4-byte bucket), its node
 * and its slot. */
static double
table_entry_bytes(struct flow_progs *progs, const char *index,
                  const char *nodes, const char *slots)
{
    struct bpf_map *h = find_map(progs, index);
    struct bpf_map *n = find_map(progs, nodes);
    struct bpf_map *s = find_map(progs, slots);

    return 16.0 + ROUND_UP(bpf_map_key_size(h), 8) +
           ROUND_UP(bpf_map_value_size(h), 8) + 4 +
           ROUND_UP(bpf_map_value_size(n), 8) +
           ROUND_UP(bpf_map_value_size(s), 8);
}

static int
cmp_u64(const void *a_, const void *b_)
{
    uint64_t a = *(const uint64_t *)a_, b = *(const uint64_t *)b_;

    return a < b ? -1 : a > b;
}

static uint64_t
run_pass(struct bench *b, struct pipeline *pl)
{
    struct packet_batch batch;
    uint64_t t0 = mono_ns();

    for (uint32_t i = 0; i < N_PACKETS; i += PACKET_BATCH_MAX) {
        packet_batch_init(&batch);
        for (uint32_t j = i; j < N_PACKETS && j < i + PACKET_BATCH_MAX; j++) {
            packet_batch_add(&batch, b->pkts[j]);
        }
        pkt_parse_batch(&batch);
        pipeline_process(pl, &batch, b->pkts[i]->ts_ns);
    }
    return mono_ns() - t0;
}

/* Loads function 'fn' configured for workload 'wl'; returns its pipeline
 * and sets '*mem' to the memory per entry. */
static struct pipeline *
setup(struct bench *b, const char *build, enum nf_fn fn, enum workload wl,
      struct flow_progs *progs, double *mem)
{
    static const uint32_t ports[] = {1, 2, 3, 4};
    static const struct nf_port_entry route_ports[3] = {
        {2, {{2, 0, 0, 0, 0, 2}, {2, 0, 0, 0, 1, 2}}},
        {3, {{2, 0, 0, 0, 0, 3}, {2, 0, 0, 0, 1, 3}}},
        {4, {{2, 0, 0, 0, 0, 4}, {2, 0, 0, 0, 1, 4}}},
    };
    bool churn = wl == WL_CHURN;
    char *rodata[4];
    size_t n_rodata = 0;

    switch (fn) {
    case FN_ROUTER:
        break;
    case FN_BRIDGE:
        rodata[n_rodata++] = xasprintf("timeout_ns=%llu", churn ? 1000000ull
                                       : 60000000000ull);
        break;
    case FN_VFW:
        rodata[n_rodata++] = xstrdup("wan_port=2");
        rodata[n_rodata++] = xasprintf("timeout_ns=%llu", churn ? 1000000ull
                                       : 60000000000ull);
        break;
    default:
        rodata[n_rodata++] = xstrdup("lan_port=1");
        rodata[n_rodata++] = xstrdup("wan_port=2");
        rodata[n_rodata++] = xstrdup("rate_Bps=125000000");
        rodata[n_rodata++] = xasprintf("burst_B=%u", churn ? 125000
                                       : 1250000);
        break;
    }
    char *path = xasprintf("%s/progs/%s.o", build, fn_names[fn]);
    char *err = flow_progs_load(progs, "nf", path, NULL, rodata, n_rodata);
    if (err) {
        die(path, err);
    }
    free(path);
    for (size_t i = 0; i < n_rodata; i++) {
        free(rodata[i]);
    }

    struct pipeline *pl = pipeline_create();
    pipeline_set_ports(pl, ports, 4);
    pipeline_set_output(pl, bench_output, b);
    pipeline_set_prog_lookup(pl, flow_progs_lookup, progs);
    add_rule(pl, fn == FN_BRIDGE ? "actions=prog:nf,flood"
                                 : "actions=prog:nf");

    switch (fn) {
    case FN_ROUTER: {
        struct bpf_map *pm = find_map(progs, NF_PORTS_MAP);
        for (int i = 0; i < 3; i++) {
            err = nf_ports_set(pm, route_ports[i].port,
                               &route_ports[i].macs);
            if (err) {
                die("nf_ports", err);
            }
        }
        struct nf_route_table t;
        make_routes(&t, route_ports);
        size_t rss0 = rss_bytes();
        uint64_t t0 = mono_ns();
        err = nf_route_fill_map(&t, find_map(progs, NF_ROUTE_MAP));
        if (err) {
            die("routes", err);
        }
        if (wl == WL_ONE) {
            fprintf(stderr, "router: %zu routes loaded in %.2f s\n", t.n,
                    (mono_ns() - t0) / 1e9);
        }
        *mem = (double)(rss_bytes() - rss0) / (double)t.n;
        nf_route_table_destroy(&t);
        break;
    }
    case FN_BRIDGE:
        *mem = table_entry_bytes(progs, "br_index", "br_nodes", "br_slots");
        break;
    case FN_VFW:
        *mem = table_entry_bytes(progs, "fw_index", "fw_nodes", "fw_slots");
        break;
    default:
        *mem = table_entry_bytes(progs, "pol_index", "pol_nodes",
                                 "pol_slots");
        break;
    }
    return pl;
}

static void
bench_one(struct bench *b, const char *build, enum nf_fn fn,
          enum workload wl)
{
    struct flow_progs *progs = flow_progs_create();
    double mem = 0;
    struct pipeline *pl = setup(b, build, fn, wl, progs, &mem);
    uint64_t t[N_RUNS];
    uint64_t outputs = 0;

    build_packets(b, fn, wl, 0);
    run_pass(b, pl);                     /* Warm-up. */
    for (int r = 0; r < N_RUNS; r++) {
        build_packets(b, fn, wl, (uint32_t)r + 1);
        b->outputs = 0;
        t[r] = run_pass(b, pl);
        outputs += b->outputs;
    }
    qsort(t, N_RUNS, sizeof t[0], cmp_u64);
    double med = (double)t[N_RUNS / 2] / N_PACKETS;
    printf("%-8s %-12s %7.2f %8.1f   %6.1f .. %6.1f %8.2f %9.1f\n",
           fn_names[fn], wl_names[wl], 1000.0 / med, med,
           (double)t[0] / N_PACKETS, (double)t[N_RUNS - 1] / N_PACKETS,
           (double)outputs / N_RUNS / N_PACKETS, mem);
    pipeline_destroy(pl);
    flow_progs_destroy(progs);
}

int
main(int argc, char *argv[])
{
    const char *build = argc > 1 ? argv[1] : "build";
    struct bench b;

    if (argc > 2) {
        fprintf(stderr, "usage: bench_nf_route [BUILD_DIR]\n");
        return 2;
    }
    b.pkts = xcalloc(N_PACKETS, sizeof *b.pkts);
    for (uint32_t i = 0; i < N_PACKETS; i++) {
        b.pkts[i] = packet_new(128);
    }
    b.flow = xcalloc(N_PACKETS, sizeof *b.flow);
    b.bit = xcalloc(N_PACKETS, sizeof *b.bit);
    b.t_next = T0_NS;

    printf("# %d packets per pass, median of %d passes, execution: %s\n",
           N_PACKETS, N_RUNS,
           bpf_default_exec_mode() == BPF_EXEC_INTERP ? "interpreter"
                                                      : "JIT");
    printf("%-8s %-12s %7s %8s   %16s %8s %9s\n", "function", "workload",
           "Mpps", "ns/pkt", "min .. max ns", "out/pkt", "B/entry");
    for (int wl = 0; wl < N_WLS; wl++) {
        make_workload(&b, (enum workload)wl);
        for (int fn = 0; fn < N_FNS; fn++) {
            bench_one(&b, build, (enum nf_fn)fn, (enum workload)wl);
        }
    }
    for (uint32_t i = 0; i < N_PACKETS; i++) {
        packet_destroy(b.pkts[i]);
    }
    free(b.pkts);
    free(b.flow);
    free(b.bit);
    return 0;
}
