/* Contract benchmark (issue 8): per function of progs/, the cost per packet
 * of the worst-case traffic `sluice contract worst` builds against the
 * uniform workload of the same class.
 *
 * For each function the object is opened with hash seed 0 and verified,
 * and contract_worst_build() (src/contract/worst.h) makes N packets: keys
 * all in one bucket of the function's flow table, inserted one by one,
 * then lookups of the deepest.  The uniform workload is the same packet
 * with the same key bytes drawn uniformly at random (N distinct flows
 * spread over the buckets).  Each workload then runs from empty maps:
 *
 *   x86/pkt  x86 instructions per packet of the JIT code plus helpers,
 *            single-stepped (contract/x86count.h), mean over the N packets;
 *   ns/pkt   CPU time per packet (CLOCK_THREAD_CPUTIME_ID) of the JIT
 *            code, the N packets run on fresh maps 'REPS' times, median of
 *            the repetitions (maps are emptied between repetitions,
 *            untimed).
 *
 * Figures are reported, never asserted.  Functions that insert nothing
 * from their packets without configuration (nat, lb need `nf` setup)
 * show the same traffic in both columns.  Usage: bench_contract
 * [FUNCTION...] (default: all); objects from $SLUICE_BUILD_ROOT/progs,
 * else beside this binary's build directory. */
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

#define N_PKTS 256
#define REPS 41
#define HEADROOM 256

static const char *const fns[] = {"firewall", "vfw",       "bridge",
                                  "router",   "nat",       "lb",
                                  "policer",  "ratelimit", "p0f"};

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
open_prog(const char *path, struct bpf_prog **progp)
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
 * maps (the object is reopened for every pass). */
static int
measure(const char *path, const struct contract_worst_pkt *pkts, size_t n,
        uint32_t in_port, double *x86, double *ns)
{
    static uint8_t buf[HEADROOM + CONTRACT_WORST_PKT_MAX + 64];
    struct bpf_xdp_buff x;
    struct bpf_prog *prog;
    double times[REPS];
    uint64_t sum = 0;

    for (int rep = -1; rep < REPS; rep++) {
        struct bpf_object *obj = open_prog(path, &prog);
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

    printf("%-10s %-12s %6s %10s %10s %10s %10s\n", "function", "map", "keys",
           "uni x86", "worst x86", "uni ns", "worst ns");
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
        struct bpf_object *obj = open_prog(path, &prog);
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
        if (!measure(path, uni, w.n, w.in_port, &ux86, &uns) &&
            !measure(path, w.pkts, w.n, w.in_port, &wx86, &wns)) {
            printf("%-10s %-12s %6zu %10.1f %10.1f %10.1f %10.1f\n", fns[f],
                   w.map[0] ? w.map : "-", w.n_collide, ux86, wx86, uns, wns);
        }
        contract_worst_free(&w);
        free(path);
    }
    free(dir);
    return 0;
}
