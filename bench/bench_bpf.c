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
 * Each figure is the median of 5 runs; a run times 40 chunks of RUNS / 40
 * calls and keeps the fastest chunk, so that a chunk in which another
 * process took the CPU does not count (the machines this runs on are
 * shared).  The kernel's figure is the 'duration' BPF_PROG_TEST_RUN reports
 * (whole nanoseconds; the kernel stops its clock while it yields the CPU)
 * for 'repeat' = RUNS / 40, taken the same way.  The empty program gives each
 * column's fixed per-call cost; "net" is a figure minus it.
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
#define CHUNKS 40 /* A run is the best of this many timed chunks. */
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

typedef int c_prog_fn(void *data, void *data_end);

static int
c_empty(void *data, void *data_end)
{
    return 2;
}

static int
c_parse(void *data, void *data_end)
{
    return micro_filter(data, data_end);
}

static int
c_hash(void *data, void *data_end)
{
    return micro_hash_prog(data, data_end);
}

static int
c_map(void *data, void *data_end)
{
    return micro_map_prog(data, data_end);
}

struct bench_case {
    const char *name;
    const char *file;    /* Object, relative to the progs directory. */
    const char *section; /* Program section. */
    c_prog_fn *c;        /* Plain-C version, or NULL. */
};

static const struct bench_case cases[] = {
    {"empty", "micro_progs.o", "xdp/empty", c_empty},
    {"parse", "micro_progs.o", "xdp/parse", c_parse},
    {"hash", "micro_progs.o", "xdp/hash", c_hash},
    {"map", "micro_progs.o", "xdp/map", c_map},
    {"firewall", "firewall.o", "xdp", NULL},
    {"ratelimit", "ratelimit.o", "xdp", NULL},
    {"p0f", "p0f.o", "xdp", NULL},
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

/* ns per run of 'prog' in sluice, in the current exec mode. */
static double
bench_sluice(struct bpf_prog *prog, uint64_t runs)
{
    struct pkt_buf p;
    double v[REPEATS];
    volatile uint64_t sink = 0;

    pkt_reset(&p);
    uint64_t chunk = (runs / CHUNKS + BATCH - 1) / BATCH * BATCH;
    for (int r = 0; r < REPEATS; r++) {
        v[r] = 1e30;
        for (int c = 0; c < CHUNKS; c++) {
            uint64_t t0 = now_ns();
            for (uint64_t i = 0; i < chunk; i += BATCH) {
                bpf_set_time_ns(now_ns());
                for (int k = 0; k < BATCH; k++) {
                    sink += bpf_prog_run_xdp(prog, &p.xdp);
                }
            }
            double ns = (double)(now_ns() - t0) / (double)chunk;
            v[r] = ns < v[r] ? ns : v[r];
        }
    }
    (void)sink;
    return median(v);
}

static double
bench_c(c_prog_fn *fn, uint64_t runs)
{
    c_prog_fn *volatile call = fn; /* Called like a program, not inlined. */
    struct pkt_buf p;
    double v[REPEATS];
    volatile uint64_t sink = 0;

    pkt_reset(&p);
    uint64_t chunk = runs / CHUNKS;
    for (int r = 0; r < REPEATS; r++) {
        v[r] = 1e30;
        for (int c = 0; c < CHUNKS; c++) {
            uint64_t t0 = now_ns();
            for (uint64_t i = 0; i < chunk; i++) {
                sink += (uint64_t)call((void *)(uintptr_t)p.xdp.data,
                                       (void *)(uintptr_t)p.xdp.data_end);
            }
            double ns = (double)(now_ns() - t0) / (double)chunk;
            v[r] = ns < v[r] ? ns : v[r];
        }
    }
    (void)sink;
    return median(v);
}

#ifdef HAVE_LIBBPF
static int
libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list args)
{
    return 0;
}

/* ns per run in the kernel's JIT (BPF_PROG_TEST_RUN), or a negative errno
 * with '*why' set. */
static double
bench_kernel(const char *path, const char *section, uint64_t runs,
             const char **why)
{
    struct bpf_object *obj = bpf_object__open_file(path, NULL);
    struct bpf_program *prog, *found = NULL;
    double v[REPEATS];
    int err;

    if (!obj) {
        *why = "libbpf cannot open the object";
        return -errno;
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
        return -ENOENT;
    }
    err = bpf_object__load(obj);
    if (err) {
        bpf_object__close(obj);
        *why = err == -EPERM ? "not permitted (run as root)"
                             : "the kernel refused to load it";
        return err;
    }
    uint8_t out[2048];
    struct xdp_md md = {.ingress_ifindex = 1, .data_end = sizeof syn_packet};
    uint64_t chunk = runs / CHUNKS;
    for (int r = 0; r < REPEATS; r++) {
        v[r] = 1e30;
        for (int c = 0; c < CHUNKS; c++) {
            LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = syn_packet,
                        .data_size_in = sizeof syn_packet, .data_out = out,
                        .data_size_out = sizeof out, .ctx_in = &md,
                        .ctx_size_in = sizeof md, .repeat = (int)chunk);
            err = bpf_prog_test_run_opts(bpf_program__fd(found), &opts);
            double ns = (double)opts.duration;
            if (err) {
                bpf_object__close(obj);
                *why = "BPF_PROG_TEST_RUN failed";
                return err;
            }
            if (getenv("BENCH_DEBUG")) {
                fprintf(stderr, "kernel %s: retval %u duration %u\n", section,
                        opts.retval, opts.duration);
            }
            v[r] = ns < v[r] ? ns : v[r];
        }
    }
    bpf_object__close(obj);
    return median(v);
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
    if (runs < BATCH) {
        runs = BATCH;
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
    const char *kernel_note = NULL;
    bool have_kernel = false;

#ifdef HAVE_LIBBPF
    libbpf_set_print(libbpf_quiet);
#else
    kernel_note = "built without libbpf";
#endif
    for (size_t c = 0; c < ARRAY_SIZE(cases); c++) {
        const struct bench_case *bc = &cases[c];
        const char *sub = !strncmp(bc->file, "micro", 5) ? "bench" : "progs";
        char *path = xasprintf("%s/%s/%s", root, sub, bc->file);
        struct bpf_load_opts lo = {.fixed_seed = true};
        struct bpf_object *obj;
        char *err = NULL;

        for (int m = 0; m < N_MODES; m++) {
            fig[c][m] = -1;
        }
        if (bpf_object_open(path, &lo, &obj, &err)) {
            fprintf(stderr, "%s: %s\n", path, err);
            return 1;
        }
        struct bpf_prog *prog = bpf_object_find_prog(obj, bc->section);
        struct bpf_verify_result res;
        memset(&res, 0, sizeof res);
        if (!prog || bpf_prog_verify(prog, &res) || !res.accepted) {
            /* Reported in the table as a row of dashes. */
            fprintf(stderr, "%s: %s: not found or rejected: %s\n", path,
                    bc->section, res.log ? res.log : "");
            bpf_verify_result_destroy(&res);
            bpf_object_close(obj);
            free(path);
            continue;
        }
        bpf_verify_result_destroy(&res);

        bpf_prog_set_exec_mode(prog, BPF_EXEC_JIT);
        fig[c][MODE_JIT] = bench_sluice(prog, runs);
        if (!prog->jit) {
            fprintf(stderr, "%s: the JIT did not compile it\n", bc->name);
            return 1;
        }
        bpf_prog_set_exec_mode(prog, BPF_EXEC_INTERP);
        fig[c][MODE_INTERP] = bench_sluice(prog, runs / 10);
        if (bc->c) {
            fig[c][MODE_C] = bench_c(bc->c, runs);
        }
#ifdef HAVE_LIBBPF
        if (!kernel_note) {
            const char *why = NULL;
            double k = bench_kernel(path, bc->section, runs, &why);
            if (k < 0) {
                kernel_note = why;
            } else {
                fig[c][MODE_KERNEL] = k;
                have_kernel = true;
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
        bool fixed = c == 0;
        printf("%-10s", fixed ? "empty" : cases[c].name);
        double net[N_MODES];
        for (int m = 0; m < N_MODES; m++) {
            if (fig[c][m] < 0 || fig[0][m] < 0) {
                printf(" %12s", "-");
                net[m] = -1;
                continue;
            }
            net[m] = fixed ? fig[c][m] : fig[c][m] - fig[0][m];
            if (net[m] < 0) {
                net[m] = 0;
            }
            printf(" %12.1f", net[m]);
        }
        if (fixed) {
            printf("   (fixed per-call cost)\n");
            continue;
        }
        if (net[MODE_KERNEL] > 0) {
            printf("   %9.2fx", net[MODE_JIT] / net[MODE_KERNEL]);
        } else {
            printf("   %10s", "-");
        }
        if (net[MODE_C] > 0) {
            printf("  %5.2fx", net[MODE_JIT] / net[MODE_C]);
        }
        printf("\n");
    }
    printf("\nRows below 'empty' are net: the figure minus the empty "
           "program's in the same column.\n");
    if (!have_kernel) {
        printf("kernel JIT: skipped (%s)\n",
               kernel_note ? kernel_note : "unavailable");
    } else if (kernel_note) {
        printf("kernel JIT: partly skipped (%s)\n", kernel_note);
    }
    printf("plain C: the micro programs only (progs/ objects have no "
           "C twin).\n");
    bpf_map_free_internal(&flows);
    free(root);
    return 0;
}
