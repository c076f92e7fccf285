/* Pipeline benchmark: parse + classify + actions, packets per second.
 *
 * The workload is the one issue 2 names: an in-memory array of 1,000,000
 * packets (minimal TCP/IPv4 frames made by pkt_compose(), each in its own
 * buffer, so the run touches as much memory as a real receive path would;
 * the buffers come from one huge-page packet pool, see bench_pkts.h)
 * spread over 10,000 flows in a fixed pseudo-random order.  The packets go
 * through pkt_parse_batch() and pipeline_process() in batches of 32, the
 * way a datapath thread drives them, against four rule sets:
 *
 *   - 1 rule: a catch-all, so the cost is the parse plus one lookup;
 *   - 1,000 rules over ten mask shapes (prefixes of several lengths, ports,
 *     MACs, TOS, in_port), narrower shapes at higher priorities, about
 *     half of them derived from real flows so that lookups end in many
 *     different rules and subtables;
 *   - 100,000 exact 5-tuple rules, 10,000 of which match the flows;
 *   - 3 tables, three lookups per packet: the 1,000 mixed rules, then an
 *     exact rule per flow, then a few rules (docs/flowcache.md: the kind of
 *     walk the flow cache is for).
 *
 * A "parse only" row gives the parser's share; the "hit" column counts the
 * rules that matched at least one packet.  The pipelines run with their
 * flow cache (the default), then again without it; the last columns give
 * the share of packets found by the exact-match cache, by the megaflow
 * layer and walked through the tables, and the flows cached at the end
 * (pipeline_get_stats()).  Every scenario is run once to warm up and then
 * 5 times; the median is printed (min and max beside it).  Times are the
 * thread's CPU time (bench_clock.h), so other processes on a shared
 * machine do not count, though they still disturb its caches.  Every rule set
 * sends each packet out of port 2 exactly once: the benchmark checks that
 * count, so a broken pipeline cannot pass for a fast one.  Figures are
 * reported, never asserted.
 *
 * Arguments, if any, pick scenarios: a scenario runs if its name contains
 * one of them ("bench_pipeline '1 rule'" runs the two one-rule rows), so
 * that a profile or an A/B comparison need not build every rule set. */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_clock.h"
#include "bench_pkts.h"
#include "bench_rng.h"
#include "core/util.h"
#include "flow/flow_parse.h"
#include "flow/pipeline.h"
#include "pkt/pkt.h"

#define N_PACKETS 1000000
#define N_FLOWS 10000
#define N_RUNS 5
#define N_MIXED_RULES 1000
#define N_EXACT_RULES 100000
#define EXACT_STRIDE (N_EXACT_RULES / N_FLOWS) /* Rule i*10 = flow i. */

struct bench {
    struct bench_pkts mem;  /* The packets' memory (bench_pkts.h). */
    struct packet **pkts;   /* N_PACKETS packets, in arrival order. */
    struct flow_key *flows; /* N_FLOWS keys the packets are made of. */
    uint64_t outputs;       /* Packets the output callback saw. */
    int argc;               /* Command line, for bench_picked(). */
    char **argv;
};

static uint64_t rng_state = BENCH_RNG_SEED;
static uint64_t rng_after_init; /* rng_state once the packets are made. */

static uint32_t
rng(void)
{
    return bench_rng(&rng_state);
}

/* Flow i: TCP from 10.0.0.0 + 10*i, port 1024 + i % 50000, to
 * 192.168.0.1:80 (the stride spreads the flows over the exact-match
 * rules' address space). */
static void
make_flow(struct flow_key *k, uint32_t i)
{
    static const uint8_t src_mac[6] = {0x02, 0, 0, 0, 0, 0x01};
    static const uint8_t dst_mac[6] = {0x02, 0, 0, 0, 0, 0x02};

    memset(k, 0, sizeof *k);
    k->in_port = 1;
    memcpy(k->dl_src, src_mac, 6);
    memcpy(k->dl_dst, dst_mac, 6);
    k->dl_type = htons(0x0800);
    k->nw_src = htonl(0x0a000000u + i * EXACT_STRIDE);
    k->nw_dst = htonl(0xc0a80001u);
    k->nw_proto = 6;
    k->nw_ttl = 64;
    k->tp_src = htons((uint16_t)(1024 + i % 50000));
    k->tp_dst = htons(80);
    k->tcp_flags = htons(0x010);
}

static void
bench_init(struct bench *b)
{
    b->flows = xcalloc(N_FLOWS, sizeof *b->flows);
    for (uint32_t i = 0; i < N_FLOWS; i++) {
        make_flow(&b->flows[i], i);
    }
    bench_pkts_init(&b->mem, N_PACKETS, 128);
    b->pkts = b->mem.pkts;
    for (uint32_t i = 0; i < N_PACKETS; i++) {
        struct packet *p = b->pkts[i];

        pkt_compose(p, &b->flows[rng() % N_FLOWS]);
        p->in_port = 1;
    }
    b->outputs = 0;
    rng_after_init = rng_state;
}

static void
bench_output(void *aux, uint32_t port, const struct packet *p)
{
    struct bench *b = aux;

    b->outputs += port == 2 && p->len > 0;
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
        fprintf(stderr, "bench_pipeline: rule '%s': column %d: %s\n", text, col,
                err);
        exit(1);
    }
    flow_spec_destroy(&spec);
}

static char *
ip_str(be32 addr, char buf[16])
{
    uint32_t a = ntohl(addr);

    snprintf(buf, 16, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255,
             a & 255);
    return buf;
}

/* Significant address and port bits of each mask shape of
 * add_mixed_rule(): as in real rule sets, narrower rules get higher
 * priorities, so that packets end in many different rules. */
static const unsigned int shape_bits[10] = {
    8, 16, 56, 32, 36, 40, 12, 48, 48, 34,
};

/* One rule of mask shape 'shape' (0..9).  With 'real', the values come from
 * flow 'f' so that the rule can match; otherwise from addresses and ports no
 * flow uses.  (The MAC and UDP shapes never match the TCP flows: they only
 * add subtables to search.) */
static void
add_mixed_rule(struct pipeline *pl, int shape, bool real,
               const struct flow_key *f, const char *actions)
{
    unsigned int prio = shape_bits[shape] * 1000 + rng() % 1000;
    char a[16], d[16];
    be32 src = real ? f->nw_src : htonl(0x0b000000u | (rng() & 0xffffff));
    be32 dst = real ? f->nw_dst : htonl(0xac100000u | (rng() & 0xfffff));
    unsigned int sport = real ? ntohs(f->tp_src) : 60000 + rng() % 5000;
    unsigned int dport = real ? 80 : 1 + rng() % 79;
    char *text;

    switch (shape) {
    case 0:
        text = xasprintf("priority=%u,ip,nw_src=%s/8", prio, ip_str(src, a));
        break;
    case 1:
        text = xasprintf("priority=%u,ip,nw_src=%s/16", prio, ip_str(src, a));
        break;
    case 2:
        text = xasprintf("priority=%u,ip,nw_src=%s/24,nw_dst=%s", prio,
                         ip_str(src, a), ip_str(dst, d));
        break;
    case 3:
        text = xasprintf("priority=%u,tcp,tp_dst=%u,tp_src=%u", prio, dport,
                         sport);
        break;
    case 4:
        text = xasprintf("priority=%u,tcp,nw_src=%s/20,tp_dst=%u", prio,
                         ip_str(src, a), dport);
        break;
    case 5:
        text = xasprintf("priority=%u,tcp,nw_dst=%s,tp_src=0x%x/0xff00", prio,
                         ip_str(dst, d), sport & 0xff00);
        break;
    case 6:
        text = xasprintf("priority=%u,in_port=%u,ip,nw_src=%s/12", prio,
                         real ? 1 : 3 + rng() % 100, ip_str(src, a));
        break;
    case 7: {
        unsigned int hi = 1 + rng() % 255;

        text = xasprintf("priority=%u,dl_src=02:00:00:00:%02x:%02x", prio, hi,
                         rng() % 256);
        break;
    }
    case 8:
        text = xasprintf("priority=%u,udp,nw_src=%s,tp_dst=%u", prio,
                         ip_str(src, a), dport);
        break;
    default:
        text = xasprintf("priority=%u,tcp,nw_src=%s/28,nw_tos=%u", prio,
                         ip_str(src, a), real ? 0 : 4 * (1 + rng() % 63));
        break;
    }
    char *rule = xasprintf("%s,actions=%s", text, actions);
    add_rule(pl, rule);
    free(rule);
    free(text);
}

enum scenario {
    SC_PARSE_ONLY,
    SC_ONE_RULE,
    SC_MIXED,
    SC_EXACT,
    SC_TABLES,
};

/* The 1,000 mixed-mask rules of add_mixed_rule(), with 'actions'. */
static void
add_mixed_rules(struct bench *b, struct pipeline *pl, const char *actions)
{
    for (int i = 0; i < N_MIXED_RULES; i++) {
        /* Separate statements: the order of rng() calls must not depend
         * on the compiler's order of evaluating arguments. */
        bool real = rng() & 1;
        const struct flow_key *f = &b->flows[rng() % N_FLOWS];

        add_mixed_rule(pl, i % 10, real, f, actions);
    }
}

static struct pipeline *
build_pipeline(struct bench *b, enum scenario sc, bool cache)
{
    static const uint32_t ports[] = {1, 2};
    struct pipeline *pl = pipeline_create();
    char a[16];

    /* Every scenario draws its rules from the same random sequence, so
     * that a row with and one without the cache run the same rules. */
    rng_state = rng_after_init;
    pipeline_set_cache(pl, cache);
    pipeline_set_ports(pl, ports, 2);
    pipeline_set_output(pl, bench_output, b);
    if (sc == SC_TABLES) {
        /* Three lookups per packet: the mixed rules classify, table 1
         * holds an exact rule per flow (as a per-flow policy table
         * would), table 2 a few rules on fields of the first tables. */
        add_rule(pl, "priority=0,actions=goto_table:1");
        add_mixed_rules(b, pl, "goto_table:1");
        add_rule(pl, "table=1,priority=0,actions=goto_table:2");
        for (uint32_t i = 0; i < N_FLOWS; i++) {
            char *rule = xasprintf(
                "table=1,priority=100,in_port=1,tcp,nw_src=%s,"
                "tp_src=%u,actions=goto_table:2",
                ip_str(b->flows[i].nw_src, a), ntohs(b->flows[i].tp_src));
            add_rule(pl, rule);
            free(rule);
        }
        add_rule(pl, "table=2,priority=0,actions=output:2");
        add_rule(pl, "table=2,priority=10,ip,nw_tos=4,actions=drop");
        add_rule(pl, "table=2,priority=10,udp,actions=drop");
        return pl;
    }
    add_rule(pl, "priority=0,actions=output:2");
    if (sc == SC_MIXED) {
        add_mixed_rules(b, pl, "output:2");
    } else if (sc == SC_EXACT) {
        for (uint32_t i = 0; i < N_EXACT_RULES; i++) {
            /* Rule i carries flow i / EXACT_STRIDE when i is a multiple
             * of the stride; the others differ in tp_src. */
            uint32_t f = i / EXACT_STRIDE;
            unsigned int sport = i % EXACT_STRIDE ? 60001 : 1024 + f % 50000;
            char *rule = xasprintf(
                "priority=100,in_port=1,tcp,nw_src=%s,nw_dst=192.168.0.1,"
                "tp_src=%u,tp_dst=80,actions=output:2",
                ip_str(htonl(0x0a000000u + i), a), sport);
            add_rule(pl, rule);
            free(rule);
        }
    }
    return pl;
}

/* Runs every packet once; returns the elapsed nanoseconds. */
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
        if (pl) {
            pipeline_process(pl, &batch, 1000000000ull);
        }
    }
    return bench_cpu_ns() - t0;
}

/* How many rules matched at least one packet (from the statistics dump),
 * to show that a scenario spreads its packets over many rules. */
static size_t
rules_hit(const struct pipeline *pl)
{
    struct ds ds = DS_EMPTY_INITIALIZER;
    size_t n = 0;

    pipeline_dump(pl, true, 1000000000ull, &ds);
    for (const char *s = ds_cstr(&ds); (s = strstr(s, "n_packets="));) {
        s += strlen("n_packets=");
        n += *s != '0';
    }
    ds_destroy(&ds);
    return n;
}

static int
cmp_u64(const void *a_, const void *b_)
{
    uint64_t a = *(const uint64_t *)a_, b = *(const uint64_t *)b_;

    return a < b ? -1 : a > b;
}

/* True if the command line picks the scenario 'name' (see the top). */
static bool
bench_picked(int argc, char **argv, const char *name)
{
    for (int i = 1; i < argc; i++) {
        if (strstr(name, argv[i])) {
            return true;
        }
    }
    return argc < 2;
}

static int
bench_scenario(struct bench *b, enum scenario sc, bool cache, const char *name)
{
    if (!bench_picked(b->argc, b->argv, name)) {
        return 0;
    }

    struct pipeline *pl =
        sc == SC_PARSE_ONLY ? NULL : build_pipeline(b, sc, cache);
    size_t n_rules = pl ? pipeline_n_rules(pl) : 0;
    uint64_t t[N_RUNS];

    run_once(b, pl); /* Warm-up: caches, page faults. */
    for (int r = 0; r < N_RUNS; r++) {
        b->outputs = 0;
        t[r] = run_once(b, pl);
        if (pl && b->outputs != N_PACKETS) {
            fprintf(stderr,
                    "bench_pipeline: %s: %" PRIu64 " packets "
                    "output, expected %d\n",
                    name, b->outputs, N_PACKETS);
            pipeline_destroy(pl);
            return 1;
        }
    }
    qsort(t, N_RUNS, sizeof t[0], cmp_u64);
    double med = (double)t[N_RUNS / 2] / N_PACKETS;
    printf("%-28s %7zu %7zu %8.2f %8.1f   %6.1f .. %6.1f", name, n_rules,
           pl ? rules_hit(pl) : 0, 1e3 / med, med, (double)t[0] / N_PACKETS,
           (double)t[N_RUNS - 1] / N_PACKETS);
    if (pl) {
        struct pipeline_stats st;
        double all;

        pipeline_get_stats(pl, &st);
        all = st.packets ? (double)st.packets : 1;
        printf("  %5.1f %5.1f %5.1f %6" PRIu64, 100.0 * st.emc_hits / all,
               100.0 * st.megaflow_hits / all, 100.0 * st.cls_lookups / all,
               st.cache_entries);
    }
    printf("\n");
    fflush(stdout);
    pipeline_destroy(pl);
    return 0;
}

int
main(int argc, char **argv)
{
    struct bench b;
    int err = 0;

    bench_init(&b);
    b.argc = argc;
    b.argv = argv;
    printf("sluice pipeline benchmark: %d packets (%u-byte TCP/IPv4) over "
           "%d flows,\nbatches of %d, one thread; median of %d runs "
           "after a warm-up run.\nPackets: %s.\n\n",
           N_PACKETS, b.pkts[0]->len, N_FLOWS, PACKET_BATCH_MAX, N_RUNS,
           bench_pkts_source(&b.mem));
    printf("%-28s %7s %7s %8s %8s   %-16s %5s %5s %5s %6s\n", "scenario",
           "rules", "hit", "Mpps", "ns/pkt", "ns/pkt min .. max", "emc%",
           "mega%", "miss%", "flows");
    err |= bench_scenario(&b, SC_PARSE_ONLY, true, "parse only (no pipeline)");
    err |= bench_scenario(&b, SC_ONE_RULE, true, "1 rule");
    err |= bench_scenario(&b, SC_MIXED, true, "1,000 rules, mixed masks");
    err |= bench_scenario(&b, SC_EXACT, true, "100,000 exact-match rules");
    err |= bench_scenario(&b, SC_TABLES, true, "3 tables (mixed, exact, 3)");
    printf("\nThe same without the flow cache (pipeline_set_cache(false)):"
           "\n");
    err |= bench_scenario(&b, SC_ONE_RULE, false, "1 rule, no cache");
    err |= bench_scenario(&b, SC_MIXED, false, "1,000 mixed, no cache");
    err |= bench_scenario(&b, SC_EXACT, false, "100,000 exact, no cache");
    err |= bench_scenario(&b, SC_TABLES, false, "3 tables, no cache");

    bench_pkts_destroy(&b.mem);
    free(b.flows);
    return err;
}
