/* Contract benchmark (issue 8): per function of progs/, the cost per packet
 * of the worst-case traffic `sluice contract worst` builds against the
 * uniform workload of the same class.
 *
 * For each function the object is opened with hash seed 0, verified and
 * configured (nat, lb and router as tests/system/test_contract_worst.py
 * configures them: a 64-flow table with a 1 s timeout, the example
 * backends, the example routes), and contract_worst_build()
 * (src/contract/worst.h) makes N packets: keys all in one bucket of the
 * function's flow table, inserted one by one, then lookups of the deepest
 * ("collide"); for the expiring tables of nat and lb, fills of the table
 * with such keys separated by waits of the timeout, so that single calls
 * expire several entries ("collide+expire"); for the router, packets to
 * the deepest prefix of its trie ("lpm"); for p0f (signatures from
 * /etc/p0f/p0f.fp when installed), SYNs whose TCP options run its loops
 * longest ("loops"); for the others, the costliest packet repeated
 * ("repeat").  The uniform workload is the same packet
 * with the same key bytes drawn uniformly at random (N distinct flows
 * spread over the buckets, or N random destinations).  Each workload then
 * runs from empty, freshly configured maps:
 *
 *   x86/pkt  x86 instructions per packet of the JIT code plus helpers,
 *            single-stepped (contract/x86count.h), mean over the N packets;
 *   ns/pkt   CPU time per packet (CLOCK_THREAD_CPUTIME_ID) of the JIT
 *            code, the N packets run on fresh maps 'REPS' times, median of
 *            the repetitions (maps are emptied between repetitions,
 *            untimed).
 *
 * Figures are reported, never asserted; the PCVs column gives the largest
 * of each PCV in one call on the trace's map (as `sluice contract worst`
 * prints them).  Usage: bench_contract [FUNCTION...] (default: all);
 * objects from $SLUICE_BUILD_ROOT/progs, else beside this binary's build
 * directory. */
#include <libgen.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_clock.h"
#include "bpf/bpf_api.h"
#include "contract/worst.h"
#include "contract/x86count.h"
#include "core/util.h"
#include "nf/nf_lb.h"
#include "nf/nf_nat.h"
#include "nf/nf_p0f.h"
#include "nf/nf_ports.h"
#include "nf/nf_route.h"

#define N_PKTS 256
#define REPS 41
#define HEADROOM 256

static const char *const fns[] = {"firewall", "vfw",       "bridge",
                                  "router",   "nat",       "lb",
                                  "policer",  "ratelimit", "p0f"};

#define P0F_FP "/etc/p0f/p0f.fp" /* p0f's signatures, when installed. */

/* The configuration of the functions that need one, as the tests give it:
 * examples/router/routes.txt, examples/lb/backends.txt, ports 1..4. */
static const char *const routes[] = {
    "0.0.0.0/0 2 02:00:00:00:02:fe",     "10.0.0.0/8 3 02:00:00:00:03:01",
    "10.20.0.0/16 4 02:00:00:00:04:01",  "10.20.30.0/24 3 02:00:00:00:03:02",
    "10.20.30.40/32 4 02:00:00:00:04:02", "192.168.0.0/16 1 02:00:00:00:01:01",
};
static const struct lb_backend backends[] = {
    {.name = "web-1", .ip = 0x0b00010a, .port = 2,
     .mac = {2, 0, 0, 0, 0x0b, 1}, .up = 1, .weight = 1},
    {.name = "web-2", .ip = 0x0c00010a, .port = 3,
     .mac = {2, 0, 0, 0, 0x0b, 2}, .up = 1, .weight = 1},
    {.name = "web-3", .ip = 0x0d00010a, .port = 4,
     .mac = {2, 0, 0, 0, 0x0b, 3}, .up = 1, .weight = 2},
};

static char *
setup_ports(struct bpf_object *obj)
{
    struct bpf_map *m = bpf_object_find_map(obj, NF_PORTS_MAP);
    char *err = m ? NULL : xstrdup("no port map");
    for (uint32_t p = 1; p <= 4 && !err; p++) {
        struct nf_port_macs macs = {{2, 0, 0, 0, 0, (uint8_t)p},
                                    {2, 0, 0, 0, (uint8_t)p, 1}};
        err = nf_ports_set(m, p, &macs);
    }
    return err;
}

/* Configures function 'fn' in 'obj'; returns NULL or an error. */
static char *
setup(const char *fn, struct bpf_object *obj)
{
    char *err = NULL;
    if (!strcmp(fn, "nat")) {
        char *args[] = {"wan=2", "ip=198.51.100.1", "first_port=1000",
                        "capacity=64", "timeout=1"};
        struct nf_nat_params np;
        int bad;
        if (!(err = nf_nat_parse(5, args, &np, &bad))) {
            err = nf_nat_apply(obj, &np);
        }
    } else if (!strcmp(fn, "lb")) {
        char *args[] = {"vip=192.0.2.100:80", "table=251", "capacity=64",
                        "timeout=1"};
        struct nf_lb_params lp;
        int bad;
        if (!(err = nf_lb_parse(4, args, &lp, &bad))) {
            err = nf_lb_apply(obj, &lp, backends,
                              sizeof backends / sizeof backends[0]);
        }
    } else if (!strcmp(fn, "router")) {
        struct nf_route r[sizeof routes / sizeof routes[0]];
        struct nf_route_table t = {r, sizeof routes / sizeof routes[0]};
        struct bpf_map *m = bpf_object_find_map(obj, NF_ROUTE_MAP);
        err = m ? NULL : xstrdup("no route map");
        for (size_t i = 0; i < t.n && !err; i++) {
            err = nf_route_parse_line(routes[i], &r[i]);
        }
        if (!err) {
            err = nf_route_fill_map(&t, m);
        }
    } else if (!strcmp(fn, "p0f")) {
        /* The signatures of the Debian package, as the system tests load
         * them; without the file, p0f runs with an empty table. */
        struct bpf_map *m = bpf_object_find_map(obj, "p0f_sigs");
        struct nf_p0f_db db;
        if (!m || access(P0F_FP, R_OK)) {
            return NULL;
        }
        if (!(err = nf_p0f_load(P0F_FP, NULL, &db))) {
            err = nf_p0f_fill_map(&db, m);
            nf_p0f_db_destroy(&db);
        }
        return err;
    } else {
        return NULL;
    }
    return err ? err : setup_ports(obj);
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

struct run_arg {
    const struct bpf_prog *prog;
    struct bpf_xdp_buff *x;
};

static void
run_one(void *arg)
{
    struct run_arg *a = arg;
    bpf_prog_run_xdp(a->prog, a->x);
}

static void
ctx_for(struct bpf_xdp_buff *x, uint8_t *buf, size_t size,
        const struct contract_worst_pkt *p, uint32_t in_port)
{
    memcpy(buf + HEADROOM, p->data, p->len);
    memset(x, 0, sizeof *x);
    x->data_hard_start = (uint64_t)(uintptr_t)buf;
    x->data = x->data_meta = (uint64_t)(uintptr_t)(buf + HEADROOM);
    x->data_end = x->data + p->len;
    x->frame_end = (uint64_t)(uintptr_t)(buf + size);
    x->ingress_ifindex = in_port;
}

static struct bpf_object *
open_prog(const char *fn, const char *path, struct bpf_prog **progp)
{
    struct bpf_load_opts lo = {.fixed_seed = true};
    struct bpf_object *obj;
    struct bpf_verify_result vr;
    char *err = NULL;

    if (bpf_object_open(path, &lo, &obj, &err)) {
        fprintf(stderr, "%s: %s\n", path, err ? err : "cannot open");
        free(err);
        return NULL;
    }
    *progp = bpf_object_prog(obj, 0);
    if (!*progp || bpf_prog_verify(*progp, &vr)) {
        fprintf(stderr, "%s: not verified\n", path);
        if (*progp) {
            bpf_verify_result_destroy(&vr);
        }
        bpf_object_close(obj);
        return NULL;
    }
    bpf_verify_result_destroy(&vr);
    if ((err = setup(fn, obj))) {
        fprintf(stderr, "%s: setup: %s\n", path, err);
        free(err);
        bpf_object_close(obj);
        return NULL;
    }
    if (bpf_prog_jit(*progp, &err)) {
        /* Runs in the interpreter then; the figures say so by size. */
        fprintf(stderr, "%s: no JIT: %s\n", path, err ? err : "");
        free(err);
    }
    return obj;
}

static int
cmp_double(const void *a_, const void *b_)
{
    double a = *(const double *)a_, b = *(const double *)b_;
    return a < b ? -1 : a > b;
}

/* Mean x86 instructions and median ns per packet of 'pkts' from empty
 * maps (the object is reopened and configured for every pass). */
static int
measure(const char *fn, const char *path,
        const struct contract_worst_pkt *pkts, size_t n, uint32_t in_port,
        double *x86, double *ns)
{
    static uint8_t buf[HEADROOM + CONTRACT_WORST_PKT_MAX + 64];
    struct bpf_xdp_buff x;
    struct bpf_prog *prog;
    double times[REPS];
    uint64_t sum = 0;

    for (int rep = -1; rep < REPS; rep++) {
        struct bpf_object *obj = open_prog(fn, path, &prog);
        if (!obj) {
            return -1;
        }
        /* Warm-up run of the first packet on a throwaway object is the
         * JIT compile in open_prog; time the passes. */
        uint64_t t0 = bench_cpu_ns();
        for (size_t i = 0; i < n; i++) {
            ctx_for(&x, buf, sizeof buf, &pkts[i], in_port);
            bpf_set_time_ns(1000000 + pkts[i].time_ns);
            if (rep < 0) {
                struct run_arg a = {prog, &x};
                sum += x86count_run(run_one, &a);
            } else {
                bpf_prog_run_xdp(prog, &x);
            }
        }
        uint64_t t1 = bench_cpu_ns();
        if (rep >= 0) {
            times[rep] = (double)(t1 - t0) / (double)n;
        }
        bpf_object_close(obj);
    }
    qsort(times, REPS, sizeof times[0], cmp_double);
    *x86 = (double)sum / (double)n;
    *ns = times[REPS / 2];
    return 0;
}

int
main(int argc, char **argv)
{
    char *dir = progs_dir();
    static struct contract_worst_pkt uni[N_PKTS];

    printf("%-10s %-14s %-12s %10s %10s %10s %10s  %s\n", "function",
           "method", "map", "uni x86", "worst x86", "uni ns", "worst ns",
           "PCVs");
    for (size_t f = 0; f < sizeof fns / sizeof fns[0]; f++) {
        bool chosen = argc < 2;
        for (int a = 1; a < argc; a++) {
            chosen |= !strcmp(argv[a], fns[f]);
        }
        if (!chosen) {
            continue;
        }
        char *path = xasprintf("%s/%s.o", dir, fns[f]);
        struct bpf_prog *prog;
        struct bpf_object *obj = open_prog(fns[f], path, &prog);
        if (!obj) {
            free(path);
            continue;
        }
        struct contract_worst w;
        struct contract_worst_opts wo = {.n_packets = N_PKTS, .rng_seed = 1};
        char *err = NULL;
        if (contract_worst_build(obj, prog, &wo, &w, &err)) {
            fprintf(stderr, "%s: %s\n", fns[f], err);
            free(err);
            bpf_object_close(obj);
            free(path);
            continue;
        }
        bpf_object_close(obj);
        contract_worst_uniform(&w, 7, uni, w.n);
        double ux86, uns, wx86, wns;
        if (!measure(fns[f], path, uni, w.n, w.in_port, &ux86, &uns) &&
            !measure(fns[f], path, w.pkts, w.n, w.in_port, &wx86, &wns)) {
            printf("%-10s %-14s %-12s %10.1f %10.1f %10.1f %10.1f ", fns[f],
                   contract_worst_method_name(w.method),
                   w.map[0] ? w.map : "-", ux86, wx86, uns, wns);
            for (int i = 0; i < CONTRACT_PCV_N; i++) {
                if (w.pcv_max[i]) {
                    printf(" %s=%llu", contract_pcv_name((enum contract_pcv)i),
                           (unsigned long long)w.pcv_max[i]);
                }
            }
            printf("\n");
        }
        contract_worst_free(&w);
        free(path);
    }
    free(dir);
    return 0;
}
