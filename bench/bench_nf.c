/* Network-function benchmark: Mpps and ns/packet of each function of
 * progs/ in the offline pipeline, on the NF-SPECS workloads.
 *
 * Each function (a row of 'nf_fns' below) is loaded and verified with the
 * flow module's program registry, exactly as `prog load` does, configured
 * through its control plane (src/nf/), and named by one catch-all rule
 * `actions=prog:NAME`.  Packets then go through pkt_parse_batch() and
 * pipeline_process() in batches of 32, as a datapath thread drives them,
 * with the program JIT-compiled (the default; SLUICE_BPF_JIT=0 in the
 * environment gives the interpreter).  The workloads (NF-SPECS):
 *
 *   one      one flow repeated;
 *   u10k     uniform random over 10,000 flows;
 *   u1M      uniform random over 1,000,000 flows (more than the 65,536
 *            ports or connections the tables hold: the "fwd" column shows
 *            what the function did with the overflow);
 *   zipf10k  Zipf (s = 1.26) over 10,000 flows;
 *   churn    every packet a new flow, packets 16 us apart and a 1 s idle
 *            timeout: about 62,500 flows live, so the table stays nearly
 *            full and entries expire all the time.
 *
 * 1,000,000 packets per run, packet time advancing 1 us per packet (16 us
 * for churn) and on across runs.  Before every run the packets are rebuilt
 * (untimed), since the functions rewrite them.  One warm-up run, then 5;
 * the median is printed with min and max.  Times are the benchmark
 * thread's CPU time (CLOCK_THREAD_CPUTIME_ID), so that other processes on
 * a shared machine do not count (their cache pressure still does; pin
 * with taskset for steadier figures).  "fwd" is the share of packets
 * the pipeline sent out, so a broken function cannot pass for a fast one.
 * "prog" is the program's own ns per run (within ns/pkt; the rest is the
 * pipeline: parse, classifier, re-parse after the program, output).
 * "B/flow" is the state memory per flow entry, from the maps' layouts.
 * Figures are reported, never asserted.
 *
 * Adding a function: write its make_flow (what flow i's packets look like,
 * e.g. addressed to a VIP) and setup (its `nf ...` configuration through
 * src/nf), and add a row to 'nf_fns'.  Usage: bench_nf [FUNCTION...]
 * (default: all); the objects are found in $SLUICE_BUILD_ROOT/progs, else
 * beside this binary's build directory. */
#include <arpa/inet.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_clock.h"
#include "bench_rng.h"
#include "bpf/bpf_api.h"
#include "core/util.h"
#include "flow/flow_parse.h"
#include "flow/flow_prog.h"
#include "flow/pipeline.h"
#include "nf/nf_lb.h"
#include "nf/nf_nat.h"
#include "nf/nf_ports.h"
#include "nf/nf_route.h"
#include "pkt/pkt.h"

#define N_PACKETS 1000000
#define N_RUNS 5
#define T0_NS (1700000000ull * 1000000000ull)
#define GAP_NS 1000ull       /* Packet spacing, ns. */
#define CHURN_GAP_NS 16000ull
#define CHURN_TIMEOUT_NS 1000000000ull
#define LONG_TIMEOUT_NS (3600ull * 1000000000ull)
#define ZIPF_S 1.26

enum wl_kind { WL_ONE, WL_UNIFORM, WL_ZIPF, WL_CHURN };

struct workload {
    const char *name;
    enum wl_kind kind;
    uint32_t n_flows;  /* Distinct flows (churn: per run). */
};

static const struct workload workloads[] = {
    {"one", WL_ONE, 1},
    {"u10k", WL_UNIFORM, 10000},
    {"u1M", WL_UNIFORM, 1000000},
    {"zipf10k", WL_ZIPF, 10000},
    {"churn", WL_CHURN, N_PACKETS},
};

/* One benchmarked function. */
struct nf_fn {
    const char *name;      /* Program name in the rule. */
    const char *object;    /* progs/OBJECT.o */
    /* Fills the flow key of flow 'i' (its in_port is the packet's). */
    void (*make_flow)(struct flow_key *, uint32_t i);
    /* Configures the loaded program for a run whose entries idle
     * 'timeout_ns' expire.  Returns NULL or a reason. */
    char *(*setup)(struct bpf_object *, uint64_t timeout_ns);
    /* State bytes per flow entry. */
    size_t (*bytes_per_flow)(struct bpf_object *);
    /* Optional: fills 'vars' with up to 4 allocated "VAR=VALUE" .rodata
     * settings for `prog load` and returns how many. */
    size_t (*rodata)(uint64_t timeout_ns, char **vars);
    /* Optional: actions after prog:NAME in the rule, e.g. ",flood". */
    const char *more_actions;
};

/* --- NAT ------------------------------------------------------------- */

static void
base_flow(struct flow_key *k, uint32_t i, uint32_t dst, uint16_t dport)
{
    static const uint8_t src_mac[6] = {0x02, 0, 0, 0, 0, 0x01};
    static const uint8_t dst_mac[6] = {0x02, 0, 0, 0, 0, 0x02};

    memset(k, 0, sizeof *k);
    k->in_port = 1;
    memcpy(k->dl_src, src_mac, 6);
    memcpy(k->dl_dst, dst_mac, 6);
    k->dl_type = htons(0x0800);
    k->nw_src = htonl(0x0a000000u + i / 50000 * 65536 + i % 50000 / 250);
    k->nw_dst = htonl(dst);
    k->nw_proto = 6;
    k->nw_ttl = 64;
    k->tp_src = htons((uint16_t)(1024 + i % 50000));
    k->tp_dst = htons(dport);
    k->tcp_flags = htons(0x010);
}

static void
nat_make_flow(struct flow_key *k, uint32_t i)
{
    base_flow(k, i, 0xcb007109u, 80); /* 203.0.113.9:80 */
}

static char *
nat_setup(struct bpf_object *obj, uint64_t timeout_ns)
{
    struct nf_nat_params np = {
        .wan_port = 2,
        .ext_ip = htonl(0xc6336401u), /* 198.51.100.1 */
        .first_port = 0,
        .capacity = 65536,
        .timeout_ns = timeout_ns,
    };
    return nf_nat_apply(obj, &np);
}

static size_t
nat_bytes_per_flow(struct bpf_object *obj)
{
    struct bpf_flowtable_stats s;
    struct bpf_map *flows = bpf_object_find_map(obj, "nat_flows");
    struct bpf_map *slots = bpf_object_find_map(obj, "nat_slots");

    if (!flows || !slots || bpf_flowtable_get_stats(flows, &s)) {
        return 0;
    }
    return s.elem_bytes + bpf_map_value_size(slots);
}

/* --- Maglev load balancer -------------------------------------------- */

#define LB_VIP 0xc0000264u /* 192.0.2.100 */

static void
lb_make_flow(struct flow_key *k, uint32_t i)
{
    base_flow(k, i, LB_VIP, 80);
}

static char *
lb_setup(struct bpf_object *obj, uint64_t timeout_ns)
{
    struct lb_backend list[3];
    memset(list, 0, sizeof list);
    for (int i = 0; i < 3; i++) {
        snprintf(list[i].name, sizeof list[i].name, "backend-%d", i);
        list[i].ip = htonl(0x0a010000u + (uint32_t)i);
        list[i].port = 2 + (uint32_t)i;
        list[i].mac[0] = 0x02;
        list[i].mac[5] = (uint8_t)i;
        list[i].up = 1;
        list[i].weight = 1;
    }
    struct nf_lb_params lp = {
        .vip = htonl(LB_VIP),
        .vport = htons(80),
        .table_size = NF_LB_DEFAULT_TABLE,
        .capacity = LB_CONNS_MAX,
        .timeout_ns = timeout_ns,
    };
    return nf_lb_apply(obj, &lp, list, 3);
}

static size_t
lb_bytes_per_flow(struct bpf_object *obj)
{
    struct bpf_flowtable_stats s;
    struct bpf_map *conns = bpf_object_find_map(obj, "lb_conns");

    if (!conns || bpf_flowtable_get_stats(conns, &s)) {
        return 0;
    }
    return s.elem_bytes;
}

/* --- LPM router, MAC bridge, Vigor firewall, policer (nf-route) ------
 *
 * Router: UDP to destinations spread over a synthetic RouteViews-size
 * table of 1,000,000 prefixes (lengths as in the real table, mostly /24;
 * origin ports 2..4).  Bridge: flow i is station i (port 1 + i % 2)
 * talking to station i ^ 1, so with many flows destinations are learned
 * and unicast, while "one" (a single station whose peer never speaks) is
 * flooded to the 4 other ports.  Vigor firewall: even flows go LAN -> WAN,
 * odd flow i is the WAN's reply to flow i - 1.  Policer: WAN -> LAN to one
 * destination address per flow, R = 125 MB/s, B = 1.25 MB (entries expire
 * after B / R = 10 ms).  Tables hold 65,536 entries. */

/* Memory per route: resident-set growth while loading the table. */
static size_t router_route_bytes;

static size_t
rss_bytes(void)
{
    unsigned long size, resident;
    FILE *f = fopen("/proc/self/statm", "r");
    int n = f ? fscanf(f, "%lu %lu", &size, &resident) : 0;

    if (f) {
        fclose(f);
    }
    return n == 2 ? resident * (size_t)sysconf(_SC_PAGESIZE) : 0;
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

static void
udp_flow(struct flow_key *k, uint32_t in_port, uint32_t src, uint32_t dst)
{
    base_flow(k, 0, dst, 53);
    k->in_port = in_port;
    k->nw_src = htonl(src);
    k->nw_proto = 17;
    k->tp_src = htons(1000);
    k->tcp_flags = 0;
}

static void
router_make_flow(struct flow_key *k, uint32_t i)
{
    udp_flow(k, 1, 0xc6120001u, 0x01000000u + mix32(i) % 0xdf000000u);
}

static char *
router_setup(struct bpf_object *obj, uint64_t timeout_ns)
{
    static const uint8_t lens[] = {
        24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 23, 22, 22, 21, 20,
        19, 18, 17, 16, 16, 15, 14, 13, 12, 11, 10, 9, 8,
    };
    struct bpf_map *ports = bpf_object_find_map(obj, NF_PORTS_MAP);
    struct bpf_map *routes = bpf_object_find_map(obj, NF_ROUTE_MAP);
    struct nf_route_table t;
    uint32_t seed = 0x2545f491u;
    char *error = NULL;

    (void)timeout_ns;
    if (!ports || !routes) {
        return xstrdup("not progs/router.o");
    }
    for (uint32_t p = 2; p <= 4 && !error; p++) {
        struct nf_port_macs m = {{2, 0, 0, 0, 0, (uint8_t)p},
                                 {2, 0, 0, 0, 1, (uint8_t)p}};
        error = nf_ports_set(ports, p, &m);
    }
    t.n = 1000000;
    t.routes = xcalloc(t.n, sizeof *t.routes);
    for (uint32_t i = 0; i < t.n; i++) {
        struct nf_route *r = &t.routes[i];
        seed = mix32(seed + i);
        r->len = lens[seed % sizeof lens];
        r->addr = (0x01000000u + mix32(seed) % 0xdf000000u) &
                  (~0u << (32 - r->len));
        r->port = 2 + seed / 7 % 3;
        r->nexthop[0] = 2;
        r->nexthop[4] = 1;
        r->nexthop[5] = (uint8_t)r->port;
        r->line = i + 1;
    }
    size_t rss0 = rss_bytes();
    if (!error) {
        error = nf_route_fill_map(&t, routes);
    }
    router_route_bytes = (rss_bytes() - rss0) / t.n;
    nf_route_table_destroy(&t);
    return error;
}

static size_t
router_bytes_per_flow(struct bpf_object *obj)
{
    (void)obj;
    return router_route_bytes;
}

static void
bridge_make_flow(struct flow_key *k, uint32_t i)
{
    uint32_t s = htonl(i), d = htonl(i ^ 1);

    udp_flow(k, 1 + i % 2, 0xc6120001u, 0xc6120002u);
    memcpy(k->dl_src + 2, &s, 4);
    memcpy(k->dl_dst + 2, &d, 4);
}

static size_t
timeout_rodata(uint64_t timeout_ns, char **vars)
{
    vars[0] = xasprintf("timeout_ns=%" PRIu64, timeout_ns);
    return 1;
}

static size_t
vfw_rodata(uint64_t timeout_ns, char **vars)
{
    vars[0] = xasprintf("timeout_ns=%" PRIu64, timeout_ns);
    vars[1] = xstrdup("wan_port=2");
    return 2;
}

static size_t
policer_rodata(uint64_t timeout_ns, char **vars)
{
    (void)timeout_ns;
    vars[0] = xstrdup("lan_port=1");
    vars[1] = xstrdup("wan_port=2");
    vars[2] = xstrdup("rate_Bps=125000000");
    vars[3] = xstrdup("burst_B=1250000");
    return 4;
}

static void
vfw_make_flow(struct flow_key *k, uint32_t i)
{
    uint32_t c = i / 2;
    uint32_t lan = 0x0a000000u + (c & 0xffffff);
    uint32_t wan = 0xc6130000u + (c >> 24);
    uint16_t lport = (uint16_t)(1024 + c % 60000);

    if (i % 2) {
        udp_flow(k, 2, wan, lan);
        k->tp_src = htons(53);
        k->tp_dst = htons(lport);
    } else {
        udp_flow(k, 1, lan, wan);
        k->tp_src = htons(lport);
    }
}

static void
policer_make_flow(struct flow_key *k, uint32_t i)
{
    udp_flow(k, 2, 0xc6120001u, 0x0a000000u + i);
}

static char *
no_setup(struct bpf_object *obj, uint64_t timeout_ns)
{
    (void)obj;
    (void)timeout_ns;
    return NULL;
}

/* One entry of an nf_table.h table: its index hash element (16-byte
 * header, key and value padded to 8, a 4-byte bucket), node and slot. */
static size_t
table_bytes(struct bpf_object *obj, const char *prefix)
{
    char *names[3] = {xasprintf("%s_index", prefix),
                      xasprintf("%s_nodes", prefix),
                      xasprintf("%s_slots", prefix)};
    struct bpf_map *m[3];
    size_t bytes = 0;

    for (int i = 0; i < 3; i++) {
        m[i] = bpf_object_find_map(obj, names[i]);
        free(names[i]);
    }
    if (m[0] && m[1] && m[2]) {
        bytes = 16 + ROUND_UP(bpf_map_key_size(m[0]), 8) +
                ROUND_UP(bpf_map_value_size(m[0]), 8) + 4 +
                ROUND_UP(bpf_map_value_size(m[1]), 8) +
                ROUND_UP(bpf_map_value_size(m[2]), 8);
    }
    return bytes;
}

static size_t
bridge_bytes_per_flow(struct bpf_object *obj)
{
    return table_bytes(obj, "br");
}

static size_t
vfw_bytes_per_flow(struct bpf_object *obj)
{
    return table_bytes(obj, "fw");
}

static size_t
policer_bytes_per_flow(struct bpf_object *obj)
{
    return table_bytes(obj, "pol");
}

/* The functions benchmarked, in table order.  Other helpers add rows. */
static const struct nf_fn nf_fns[] = {
    {"nat", "nat", nat_make_flow, nat_setup, nat_bytes_per_flow},
    {"lb", "lb", lb_make_flow, lb_setup, lb_bytes_per_flow},
    {"router", "router", router_make_flow, router_setup,
     router_bytes_per_flow},
    {"bridge", "bridge", bridge_make_flow, no_setup, bridge_bytes_per_flow,
     timeout_rodata, ",flood"},
    {"vfw", "vfw", vfw_make_flow, no_setup, vfw_bytes_per_flow, vfw_rodata},
    {"policer", "policer", policer_make_flow, no_setup,
     policer_bytes_per_flow, policer_rodata},
};

/* --- driver ---------------------------------------------------------- */

struct bench {
    struct packet **pkts;   /* N_PACKETS buffers. */
    uint32_t *flow_of;      /* Flow index of each packet. */
    uint64_t outputs;       /* Packets the output callback saw. */
};

static uint64_t rng_state = BENCH_RNG_SEED;

static uint32_t
rng(void)
{
    return bench_rng(&rng_state);
}

/* Fills b->flow_of for 'wl' (fixed seed: every function sees the same
 * sequence). */
static void
make_sequence(struct bench *b, const struct workload *wl)
{
    double *cdf = NULL;

    rng_state = BENCH_RNG_SEED;
    if (wl->kind == WL_ZIPF) {
        double sum = 0;
        cdf = xcalloc(wl->n_flows, sizeof *cdf);
        for (uint32_t r = 0; r < wl->n_flows; r++) {
            sum += 1.0 / pow(r + 1, ZIPF_S);
            cdf[r] = sum;
        }
        for (uint32_t r = 0; r < wl->n_flows; r++) {
            cdf[r] /= sum;
        }
    }
    for (uint32_t i = 0; i < N_PACKETS; i++) {
        switch (wl->kind) {
        case WL_ONE:
            b->flow_of[i] = 0;
            break;
        case WL_UNIFORM:
            b->flow_of[i] = rng() % wl->n_flows;
            break;
        case WL_ZIPF: {
            double u = (rng() + 0.5) / 4294967296.0;
            uint32_t lo = 0, hi = wl->n_flows - 1;
            while (lo < hi) {
                uint32_t mid = (lo + hi) / 2;
                if (cdf[mid] < u) {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            b->flow_of[i] = lo;
            break;
        }
        case WL_CHURN:
            b->flow_of[i] = i;
            break;
        }
    }
    free(cdf);
}

/* Rebuilds every packet for run 'run' (untimed). */
static void
compose_run(struct bench *b, const struct nf_fn *fn,
            const struct workload *wl, uint32_t run, uint64_t gap)
{
    struct flow_key k;
    uint64_t base = T0_NS + (uint64_t)run * N_PACKETS * gap;
    /* Churn: fresh flows every run. */
    uint32_t shift = wl->kind == WL_CHURN ? run * N_PACKETS : 0;

    for (uint32_t i = 0; i < N_PACKETS; i++) {
        struct packet *p = b->pkts[i];
        fn->make_flow(&k, b->flow_of[i] + shift);
        pkt_compose(p, &k);
        p->ts_ns = base + i * gap;
    }
}

static void
bench_output(void *aux, uint32_t port, const struct packet *p)
{
    struct bench *b = aux;

    b->outputs += port != p->in_port && p->len > 0;
}

static uint64_t
run_once(struct bench *b, struct pipeline *pl)
{
    struct packet_batch batch;
    uint64_t t0 = bench_cpu_ns();

    for (uint32_t i = 0; i < N_PACKETS; i += PACKET_BATCH_MAX) {
        packet_batch_init(&batch);
        for (uint32_t j = i; j < N_PACKETS && j < i + PACKET_BATCH_MAX; j++) {
            packet_batch_add(&batch, b->pkts[j]);
        }
        pkt_parse_batch(&batch);
        pipeline_process(pl, &batch, b->pkts[i]->ts_ns);
    }
    return bench_cpu_ns() - t0;
}

static int
cmp_u64(const void *a_, const void *b_)
{
    uint64_t a = *(const uint64_t *)a_, b = *(const uint64_t *)b_;

    return a < b ? -1 : a > b;
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

/* The program's own mean run time over every run, warm-up included
 * (`prog show`'s ns_per_run: TSC, so wall time), to set the function's
 * cost apart from the pipeline's parse, lookup and output. */
static double
prog_ns_per_run(const struct flow_progs *progs)
{
    struct ds ds = DS_EMPTY_INITIALIZER;
    const char *tag = "\"ns_per_run\":";
    double ns = 0;

    flow_progs_show(progs, true, &ds);
    const char *at = strstr(ds_cstr(&ds), tag);
    if (at) {
        ns = strtod(at + strlen(tag), NULL);
    }
    ds_destroy(&ds);
    return ns;
}

static int
bench_one(struct bench *b, const struct nf_fn *fn, const struct workload *wl,
          const char *dir)
{
    static const uint32_t ports[] = {1, 2, 3, 4, 5};
    bool churn = wl->kind == WL_CHURN;
    uint64_t gap = churn ? CHURN_GAP_NS : GAP_NS;
    struct flow_progs *progs = flow_progs_create();
    char *path = xasprintf("%s/%s.o", dir, fn->object);
    char *vars[4];
    size_t n_vars = fn->rodata ? fn->rodata(churn ? CHURN_TIMEOUT_NS
                                                  : LONG_TIMEOUT_NS, vars)
                               : 0;
    char *error = flow_progs_load(progs, fn->name, path, NULL, vars, n_vars);

    for (size_t i = 0; i < n_vars; i++) {
        free(vars[i]);
    }
    struct pipeline *pl = NULL;
    uint64_t t[N_RUNS], fwd = 0;
    int rc = 1;

    if (!error) {
        error = fn->setup(flow_progs_object(progs, fn->name),
                          churn ? CHURN_TIMEOUT_NS : LONG_TIMEOUT_NS);
    }
    if (!error) {
        struct flow_spec spec;
        int col = 0;
        char *rule = xasprintf("actions=prog:%s%s", fn->name,
                               fn->more_actions ? fn->more_actions : "");
        pl = pipeline_create();
        pipeline_set_ports(pl, ports, 5);
        pipeline_set_output(pl, bench_output, b);
        pipeline_set_prog_lookup(pl, flow_progs_lookup, progs);
        error = flow_spec_parse(&spec, rule, FLOW_PARSE_ADD, &col);
        if (!error) {
            error = pipeline_add(pl, &spec, T0_NS);
            flow_spec_destroy(&spec);
        }
        free(rule);
    }
    if (error) {
        fprintf(stderr, "bench_nf: %s: %s\n", fn->name, error);
        goto out;
    }
    make_sequence(b, wl);
    for (uint32_t r = 0; r <= N_RUNS; r++) {
        compose_run(b, fn, wl, r, gap);
        b->outputs = 0;
        uint64_t ns = run_once(b, pl);
        if (r) {
            t[r - 1] = ns;
            fwd += b->outputs;
        }
    }
    qsort(t, N_RUNS, sizeof t[0], cmp_u64);
    double med = (double)t[N_RUNS / 2] / N_PACKETS;
    printf("%-8s %-8s %8u %8.2f %8.1f   %6.1f .. %6.1f %7.1f %6.1f%% "
           "%7zu\n",
           fn->name, wl->name, wl->n_flows, 1000.0 / med, med,
           (double)t[0] / N_PACKETS, (double)t[N_RUNS - 1] / N_PACKETS,
           prog_ns_per_run(progs),
           100.0 * (double)fwd / ((double)N_RUNS * N_PACKETS),
           fn->bytes_per_flow(flow_progs_object(progs, fn->name)));
    fflush(stdout);
    rc = 0;
out:
    free(error);
    free(path);
    pipeline_destroy(pl);
    flow_progs_destroy(progs);
    return rc;
}

int
main(int argc, char **argv)
{
    struct bench b;
    char *dir = progs_dir();
    int rc = 0;

    b.pkts = xcalloc(N_PACKETS, sizeof *b.pkts);
    b.flow_of = xcalloc(N_PACKETS, sizeof *b.flow_of);
    for (uint32_t i = 0; i < N_PACKETS; i++) {
        b.pkts[i] = packet_new(128);
    }
    printf("%d packets per run, median of %d runs (after one warm-up), "
           "%s\n\n",
           N_PACKETS, N_RUNS,
           getenv("SLUICE_BPF_JIT") && !strcmp(getenv("SLUICE_BPF_JIT"), "0")
               ? "interpreter" : "JIT");
    printf("%-8s %-8s %8s %8s %8s   %14s %7s %7s %7s\n", "function",
           "workload", "flows", "Mpps", "ns/pkt", "min .. max", "prog",
           "fwd", "B/flow");
    for (size_t f = 0; f < ARRAY_SIZE(nf_fns); f++) {
        bool chosen = argc < 2;
        for (int a = 1; a < argc; a++) {
            chosen |= !strcmp(argv[a], nf_fns[f].name);
        }
        if (!chosen) {
            continue;
        }
        for (size_t w = 0; w < ARRAY_SIZE(workloads); w++) {
            rc |= bench_one(&b, &nf_fns[f], &workloads[w], dir);
        }
    }
    for (uint32_t i = 0; i < N_PACKETS; i++) {
        packet_destroy(b.pkts[i]);
    }
    free(b.pkts);
    free(b.flow_of);
    free(dir);
    return rc;
}
