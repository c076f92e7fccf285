/* Benchmark of eBPF program execution: ns per run of each progs/ program
 * and of four micro programs (bench/progs/micro_progs.c: empty; parse
 * Ethernet/IPv4/TCP and compare a few fields; hash the 5-tuple; one hash-map
 * lookup plus update keyed by the 5-tuple) in
 *   - sluice's JIT and sluice's interpreter, through bpf_prog_run_xdp() as
 *     the datapath calls it (statistics on, timing off);
 *   - the kernel's JIT, through BPF_PROG_TEST_RUN with 'repeat' (libbpf;
 *     root only, skipped with a note otherwise);
 *   - the same logic as plain C (bench/progs/micro.h compiled natively, the
 *     map through sluice's hash map operations), for the micro programs.
 * sluice and plain C are measured by the same loop (chunk_calls()): batches
 * of 32 calls, the clock set once per batch as the datapath does, each
 * call an indirect call through a volatile pointer with the same
 * arguments (bpf_prog_run_xdp() itself for sluice, a C twin of the same
 * type otherwise) and the same data: like its program, a C twin reads the
 * packet's bounds from the XDP buffer it is passed, not from registers
 * set up outside the loop.
 * The empty program gives each column's fixed per-call cost, and a
 * program's "net" figure is its time minus the empty program's, measured
 * side by side: a run times CHUNKS chunks of RUNS / CHUNKS calls of the
 * program, each followed by a chunk of the empty program the same way,
 * and takes the fastest chunk of each (a chunk in which another process
 * took the CPU does not count: the machines this runs on are shared).
 * Pairing the chunks keeps clock-speed changes between the two out of the
 * difference, which for the small programs is a nanosecond or two of a
 * fixed cost several times larger.  Each figure is the median of 5 runs.
 * A net figure is a marginal cost: an out-of-order CPU overlaps some of a
 * small program's instructions with the fixed cost's own work (sluice's
 * run wrapper, the loop), so a few-nanosecond net figure can lie below
 * what the program's instructions take alone, and more so in a column
 * with more fixed work to overlap; compare such rows by their x86
 * instruction counts too (sluice contract, x86count).
 * The kernel's figure is the 'duration' BPF_PROG_TEST_RUN reports for
 * 'repeat' = RUNS / KERNEL_CHUNKS (the kernel stops its clock while it
 * yields the CPU), taken the same way with fewer, longer chunks: each
 * system call costs milliseconds of setup on a VM.  It comes in whole
 * nanoseconds, so the kernel's net figures are +-1 ns; wall-clock time around
 * the system call is no substitute (on a VM it costs milliseconds per call).
 *
 * The packet is an Ethernet/IPv4/TCP SYN with MSS, SACK, timestamp and
 * window-scale options from 10.1.2.3:40000 to 192.0.2.1:80, received on
 * port 1 (the firewall's inside port; the kernel sees ifindex 1, lo).
 * Programs that read the clock get, as in the datapath, a timestamp set
 * once per batch of 32 packets (bpf_set_time_ns()).
 *
 * Usage: bench_bpf [-n RUNS] [PROGS_DIR]  (default: the build's progs/). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef HAVE_LIBBPF
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#endif

#include "bpf/bpf_api.h"
#include "bpf/bpf_int.h"
#include "bpf/maps.h"
#include "core/log.h"
#include "core/util.h"

/* The plain-C versions of the micro programs, on sluice's hash map. */
static struct bpf_map *c_flows;
#define MICRO_LOOKUP(K) ((__u64 *)c_flows->ops->lookup(c_flows, (K)))
#define MICRO_UPDATE(K, V) c_flows->ops->update(c_flows, (K), (V), BPF_ANY)
#include "../bench/progs/micro.h"

#define REPEATS 5
#define CHUNKS 100       /* A run is the best of this many timed chunks, */
#define KERNEL_CHUNKS 20 /* or of this many for the kernel. */
#define BATCH 32

static const uint8_t syn_packet[] = {
    /* Ethernet */
    0x02,
    0x00,
    0x00,
    0x00,
    0x00,
    0x02,
    0x02,
    0x00,
    0x00,
    0x00,
    0x00,
    0x01,
    0x08,
    0x00,
    /* IPv4: 60 bytes, TTL 64, TCP, 10.1.2.3 -> 192.0.2.1 */
    0x45,
    0x00,
    0x00,
    0x3c,
    0x12,
    0x34,
    0x40,
    0x00,
    0x40,
    0x06,
    0x00,
    0x00,
    10,
    1,
    2,
    3,
    192,
    0,
    2,
    1,
    /* TCP: 40000 -> 80, SYN, window 64240, 20 bytes of options */
    0x9c,
    0x40,
    0x00,
    0x50,
    0x00,
    0x00,
    0x00,
    0x01,
    0x00,
    0x00,
    0x00,
    0x00,
    0xa0,
    0x02,
    0xfa,
    0xf0,
    0x00,
    0x00,
    0x00,
    0x00,
    0x02,
    0x04,
    0x05,
    0xb4,
    0x04,
    0x02,
    0x08,
    0x0a,
    0x00,
    0x01,
    0x02,
    0x03,
    0x00,
    0x00,
    0x00,
    0x00,
    0x01,
    0x03,
    0x03,
    0x07,
};

/* How the timing loop calls a program: bpf_prog_run_xdp(), or a plain-C
 * twin of the same type (which has no program to run). */
typedef uint64_t run_fn(const struct bpf_prog *, struct bpf_xdp_buff *);

#define C_DATA(X) ((void *)(uintptr_t)(X)->data)
#define C_DATA_END(X) ((void *)(uintptr_t)(X)->data_end)

static uint64_t
c_empty(const struct bpf_prog *none, struct bpf_xdp_buff *xdp)
{
    return 2;
}

static uint64_t
c_parse(const struct bpf_prog *none, struct bpf_xdp_buff *xdp)
{
    return (uint64_t)micro_filter(C_DATA(xdp), C_DATA_END(xdp));
}

static uint64_t
c_hash(const struct bpf_prog *none, struct bpf_xdp_buff *xdp)
{
    return (uint64_t)micro_hash_prog(C_DATA(xdp), C_DATA_END(xdp));
}

static uint64_t
c_map(const struct bpf_prog *none, struct bpf_xdp_buff *xdp)
{
    return (uint64_t)micro_map_prog(C_DATA(xdp), C_DATA_END(xdp));
}

struct bench_case {
    const char *name;
    const char *file;    /* Object, relative to the progs directory. */
    const char *section; /* Program section. */
    run_fn *c;           /* Plain-C version, or NULL. */
};

static const struct bench_case cases[] = {
    {"empty", "micro_progs.o", "xdp/empty", c_empty},
    {"parse", "micro_progs.o", "xdp/parse", c_parse},
    {"hash", "micro_progs.o", "xdp/hash", c_hash},
    {"map", "micro_progs.o", "xdp/map", c_map},
    {"firewall", "firewall.o", "xdp", NULL},
    {"ratelimit", "ratelimit.o", "xdp", NULL},
    {"p0f", "p0f.o", "xdp", NULL},
    {"bridge", "bridge.o", "xdp", NULL},
    {"router", "router.o", "xdp", NULL},
    {"nat", "nat.o", "xdp", NULL},
    {"lb", "lb.o", "xdp", NULL},
    {"policer", "policer.o", "xdp", NULL},
    {"vfw", "vfw.o", "xdp", NULL},
};

#define N_MODES 4
enum { MODE_JIT, MODE_INTERP, MODE_KERNEL, MODE_C };
static const char *const mode_names[N_MODES] = {"sluice JIT", "interpreter",
                                                "kernel JIT", "plain C"};

static uint64_t
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double
median(double v[REPEATS])
{
    qsort(v, REPEATS, sizeof v[0], cmp_double);
    return v[REPEATS / 2];
}

/* Packet buffer with head and tail room, like a datapath buffer. */
struct pkt_buf {
    uint8_t buf[2048];
    struct bpf_xdp_buff xdp;
};

static void
pkt_reset(struct pkt_buf *p)
{
    memcpy(p->buf + 256, syn_packet, sizeof syn_packet);
    p->xdp = (struct bpf_xdp_buff){
        .data_hard_start = (uintptr_t)p->buf,
        .data_meta = (uintptr_t)(p->buf + 256),
        .data = (uintptr_t)(p->buf + 256),
        .data_end = (uintptr_t)(p->buf + 256 + sizeof syn_packet),
        .frame_end = (uintptr_t)(p->buf + sizeof p->buf),
        .ingress_ifindex = 1,
    };
}

/* One way of running a program, timed a chunk at a time. */
struct runner {
    /* ns per call over 'n' calls (a multiple of BATCH), or < 0 on error. */
    double (*chunk)(const struct runner *, uint64_t n);
    struct bpf_prog *prog; /* sluice modes (NULL for plain C). */
    struct pkt_buf *pkt;
    run_fn *call; /* sluice and plain C: what the loop calls. */
    int fd;       /* Kernel: the loaded program. */
};

/* sluice and plain C: call(prog, xdp) as the datapath calls
 * bpf_prog_run_xdp(), in batches with the clock set once per batch; the
 * pointer is volatile so that the call is never inlined. */
static double
chunk_calls(const struct runner *r, uint64_t n)
{
    run_fn *volatile call = r->call;
    const struct bpf_prog *prog = r->prog;
    struct bpf_xdp_buff *xdp = &r->pkt->xdp;
    volatile uint64_t sink = 0;
    uint64_t t0 = now_ns();
    for (uint64_t i = 0; i < n; i += BATCH) {
        bpf_set_time_ns(now_ns());
        for (int k = 0; k < BATCH; k++) {
            sink += call(prog, xdp);
        }
    }
    (void)sink;
    return (double)(now_ns() - t0) / (double)n;
}

#ifdef HAVE_LIBBPF
static double
chunk_kernel(const struct runner *r, uint64_t n)
{
    uint8_t out[2048];
    struct xdp_md md = {.ingress_ifindex = 1, .data_end = sizeof syn_packet};
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = syn_packet,
                .data_size_in = sizeof syn_packet, .data_out = out,
                .data_size_out = sizeof out, .ctx_in = &md,
                .ctx_size_in = sizeof md, .repeat = (int)n);
    if (bpf_prog_test_run_opts(r->fd, &opts)) {
        return -1;
    }
    if (getenv("BENCH_DEBUG")) {
        fprintf(stderr, "kernel fd %d: retval %u duration %u\n", r->fd,
                opts.retval, opts.duration);
    }
    return (double)opts.duration;
}
#endif

/* Net ns per call of 'prog' (its time minus the empty program's, in
 * 'chunks' pairs of chunks as the header says) and the empty program's own
 * time, each the median of REPEATS runs.  Returns false if a chunk
 * failed. */
static bool
measure(const struct runner *prog, const struct runner *empty, uint64_t runs,
        int chunks, double *net, double *fixed)
{
    double v_net[REPEATS], v_fixed[REPEATS];
    uint64_t chunk = (runs / (uint64_t)chunks + BATCH - 1) / BATCH * BATCH;

    for (int r = 0; r < REPEATS; r++) {
        double best = 1e30, best_empty = 1e30;
        for (int c = 0; c < chunks; c++) {
            double a = prog->chunk(prog, chunk);
            double b = empty->chunk(empty, chunk);
            if (a < 0 || b < 0) {
                return false;
            }
            best = a < best ? a : best;
            best_empty = b < best_empty ? b : best_empty;
        }
        v_net[r] = best - best_empty > 0 ? best - best_empty : 0;
        v_fixed[r] = best_empty;
    }
    *net = median(v_net);
    *fixed = median(v_fixed);
    return true;
}

#ifdef HAVE_LIBBPF
static int
libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list args)
{
    return 0;
}

/* Loads the program of 'section' in 'path' into the kernel: its libbpf
 * object (close it when done) and '*fd', or NULL with '*why' set. */
static struct bpf_object *
kernel_load(const char *path, const char *section, int *fd, const char **why)
{
    struct bpf_object *obj = bpf_object__open_file(path, NULL);
    struct bpf_program *prog, *found = NULL;

    if (!obj) {
        *why = "libbpf cannot open the object";
        return NULL;
    }
    bpf_object__for_each_program(prog, obj)
    {
        bool match = !strcmp(bpf_program__section_name(prog), section);
        bpf_program__set_autoload(prog, match);
        /* libbpf 1.1 knows "xdp" but not "xdp/NAME" sections. */
        bpf_program__set_type(prog, BPF_PROG_TYPE_XDP);
        if (match) {
            found = prog;
        }
    }
    if (!found) {
        bpf_object__close(obj);
        *why = "section not found by libbpf";
        return NULL;
    }
    int err = bpf_object__load(obj);
    if (err) {
        bpf_object__close(obj);
        *why = err == -EPERM ? "not permitted (run as root)"
                             : "the kernel refused to load it";
        return NULL;
    }
    *fd = bpf_program__fd(found);
    return obj;
}
#endif

static char *
default_progs_dir(void)
{
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
        return xstrdup("progs");
    }
    exe[n] = '\0';
    /* BUILD/bench/bench_bpf -> BUILD */
    return xasprintf("%s/..", dirname(exe));
}

/* The micro programs' object holds the empty program every column is
 * paired with; each case opens its own object. */
static struct bpf_object *
open_verified(const char *path, const char *section, struct bpf_prog **progp)
{
    struct bpf_load_opts lo = {.fixed_seed = true};
    struct bpf_object *obj;
    struct bpf_verify_result res;
    char *err = NULL;

    if (bpf_object_open(path, &lo, &obj, &err)) {
        fprintf(stderr, "%s: %s\n", path, err);
        free(err);
        return NULL;
    }
    struct bpf_prog *prog = bpf_object_find_prog(obj, section);
    memset(&res, 0, sizeof res);
    if (!prog || bpf_prog_verify(prog, &res) || !res.accepted) {
        fprintf(stderr, "%s: %s: not found or rejected: %s\n", path, section,
                res.log ? res.log : "");
        bpf_verify_result_destroy(&res);
        bpf_object_close(obj);
        return NULL;
    }
    bpf_verify_result_destroy(&res);
    *progp = prog;
    return obj;
}

int
main(int argc, char *argv[])
{
    uint64_t runs = 1000000;
    int opt;

    while ((opt = getopt(argc, argv, "n:h")) != -1) {
        if (opt == 'n') {
            runs = strtoull(optarg, NULL, 0);
        } else {
            fprintf(stderr, "usage: %s [-n RUNS] [BUILD_DIR]\n", argv[0]);
            return opt == 'h' ? 0 : 2;
        }
    }
    if (runs < BATCH * CHUNKS) {
        runs = BATCH * CHUNKS;
    }
    char *root = optind < argc ? xstrdup(argv[optind]) : default_progs_dir();
    log_set_level_all(LOG_LEVEL_ERR);

    struct bpf_map flows = {.name = "c_flows",
                            .type = BPF_MAP_TYPE_HASH,
                            .key_size = sizeof(struct micro_tuple),
                            .value_size = 8,
                            .max_entries = 1024};
    if (bpf_map_create_internal(&flows)) {
        fprintf(stderr, "cannot create the plain-C map\n");
        return 1;
    }
    c_flows = &flows;

    double fig[ARRAY_SIZE(cases)][N_MODES];
    double fixed[N_MODES] = {-1, -1, -1, -1};
    const char *kernel_note = NULL; /* Why the kernel column is off. */
    const char *kernel_skip[ARRAY_SIZE(cases)] = {0}; /* Why a row's is. */
    bool have_kernel = false;
    struct pkt_buf pkt;
    pkt_reset(&pkt);

    /* The empty program, in each column. */
    char *micro = xasprintf("%s/bench/micro_progs.o", root);
    struct bpf_prog *empty_prog;
    struct bpf_object *empty_obj =
        open_verified(micro, cases[0].section, &empty_prog);
    if (!empty_obj) {
        return 1;
    }
    struct bpf_prog *empty_interp = NULL;
    struct bpf_object *empty_interp_obj =
        open_verified(micro, cases[0].section, &empty_interp);
    if (!empty_interp_obj) {
        return 1;
    }
    bpf_prog_set_exec_mode(empty_prog, BPF_EXEC_JIT);
    bpf_prog_set_exec_mode(empty_interp, BPF_EXEC_INTERP);
    struct runner empty[N_MODES] = {
        [MODE_JIT] = {.chunk = chunk_calls,
                      .prog = empty_prog,
                      .pkt = &pkt,
                      .call = bpf_prog_run_xdp},
        [MODE_INTERP] = {.chunk = chunk_calls,
                         .prog = empty_interp,
                         .pkt = &pkt,
                         .call = bpf_prog_run_xdp},
        [MODE_C] = {.chunk = chunk_calls, .pkt = &pkt, .call = c_empty},
    };
#ifdef HAVE_LIBBPF
    libbpf_set_print(libbpf_quiet);
    struct bpf_object *k_empty_obj = kernel_load(
        micro, cases[0].section, &empty[MODE_KERNEL].fd, &kernel_note);
    empty[MODE_KERNEL].chunk = chunk_kernel;
#else
    kernel_note = "built without libbpf";
#endif

    for (size_t c = 0; c < ARRAY_SIZE(cases); c++) {
        const struct bench_case *bc = &cases[c];
        const char *sub = !strncmp(bc->file, "micro", 5) ? "bench" : "progs";
        char *path = xasprintf("%s/%s/%s", root, sub, bc->file);
        struct bpf_prog *prog;
        double dummy;

        for (int m = 0; m < N_MODES; m++) {
            fig[c][m] = -1;
        }
        struct bpf_object *obj = open_verified(path, bc->section, &prog);
        if (!obj) {
            /* Reported in the table as a row of dashes. */
            free(path);
            continue;
        }
        struct runner r = {.chunk = chunk_calls,
                           .prog = prog,
                           .pkt = &pkt,
                           .call = bpf_prog_run_xdp};
        bpf_prog_set_exec_mode(prog, BPF_EXEC_JIT);
        measure(&r, &empty[MODE_JIT], runs, CHUNKS, &fig[c][MODE_JIT],
                c == 0 ? &fixed[MODE_JIT] : &dummy);
        if (!prog->jit || !empty_prog->jit) {
            fprintf(stderr, "%s: the JIT did not compile it\n", bc->name);
            return 1;
        }
        bpf_prog_set_exec_mode(prog, BPF_EXEC_INTERP);
        measure(&r, &empty[MODE_INTERP], runs / 10, CHUNKS,
                &fig[c][MODE_INTERP], c == 0 ? &fixed[MODE_INTERP] : &dummy);
        if (bc->c) {
            struct runner rc = {.chunk = chunk_calls,
                                .pkt = &pkt,
                                .call = bc->c};
            measure(&rc, &empty[MODE_C], runs, CHUNKS, &fig[c][MODE_C],
                    c == 0 ? &fixed[MODE_C] : &dummy);
        }
#ifdef HAVE_LIBBPF
        if (!kernel_note) {
            const char *why = NULL;
            struct runner rk = {.chunk = chunk_kernel};
            struct bpf_object *kobj =
                kernel_load(path, bc->section, &rk.fd, &why);
            /* A program the kernel refuses (sluice's own map types)
             * has no kernel figure; a refusal to run any stops them. */
            if (!kobj) {
                kernel_skip[c] = why;
                if (!strcmp(why, "not permitted (run as root)")) {
                    kernel_note = why;
                }
            } else if (!measure(&rk, &empty[MODE_KERNEL], runs, KERNEL_CHUNKS,
                                &fig[c][MODE_KERNEL],
                                c == 0 ? &fixed[MODE_KERNEL] : &dummy)) {
                kernel_skip[c] = "BPF_PROG_TEST_RUN failed";
                fig[c][MODE_KERNEL] = -1;
            } else {
                have_kernel = true;
            }
            if (kobj) {
                bpf_object__close(kobj);
            }
        }
#endif
        bpf_object_close(obj);
        free(path);
    }

    printf("ns per run, median of %d runs of %" PRIu64 " (interpreter: %" PRIu64
           ")\n\n",
           REPEATS, runs, runs / 10);
    printf("%-10s", "program");
    for (int m = 0; m < N_MODES; m++) {
        printf(" %12s", mode_names[m]);
    }
    printf("   JIT/kernel  JIT/C\n");
    for (size_t c = 0; c < ARRAY_SIZE(cases); c++) {
        bool is_empty = c == 0;
        printf("%-10s", cases[c].name);
        double net[N_MODES];
        for (int m = 0; m < N_MODES; m++) {
            net[m] = is_empty ? fixed[m] : fig[c][m];
            if (net[m] < 0) {
                printf(" %12s", "-");
                continue;
            }
            printf(" %12.1f", net[m]);
        }
        if (is_empty) {
            printf("   (fixed per-call cost)\n");
            continue;
        }
        if (net[MODE_KERNEL] > 0 && net[MODE_JIT] >= 0) {
            printf("   %9.2fx", net[MODE_JIT] / net[MODE_KERNEL]);
        } else {
            printf("   %10s", "-");
        }
        if (net[MODE_C] > 0 && net[MODE_JIT] >= 0) {
            printf("  %5.2fx", net[MODE_JIT] / net[MODE_C]);
        }
        printf("\n");
    }
    printf("\nRows below 'empty' are net: the figure minus the empty "
           "program's in the same column,\nmeasured in alternating "
           "chunks.\n");
    if (!have_kernel) {
        printf("kernel JIT: skipped (%s)\n",
               kernel_note ? kernel_note : "unavailable");
    }
    for (size_t c = 0; c < ARRAY_SIZE(cases); c++) {
        if (kernel_skip[c] && have_kernel) {
            printf("kernel JIT: no figure for %s (%s)\n", cases[c].name,
                   kernel_skip[c]);
        }
    }
    printf("plain C: the micro programs only (progs/ objects have no "
           "C twin).\n");
#ifdef HAVE_LIBBPF
    if (k_empty_obj) {
        bpf_object__close(k_empty_obj);
    }
#endif
    bpf_object_close(empty_obj);
    bpf_object_close(empty_interp_obj);
    bpf_map_free_internal(&flows);
    free(micro);
    free(root);
    return 0;
}
