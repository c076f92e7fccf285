/* Run-time entry points of bpf_api.h: running programs, the thread's clock and
 * CPU, per-program statistics, and control-plane map access.
 *
 * Statistics: each thread keeps its own table of per-program counters,
 * keyed by the program pointer (open addressing, found in one or two
 * probes), so datapath threads never write a shared cache line.  The
 * owning thread updates its table without a lock; the lock of a table is
 * taken only when it grows or is read by bpf_prog_get_stats() or cleared by
 * bpf_prog_stats_forget().  A table is created on a thread's first run and
 * grows at most a few times, when that thread first runs a new program:
 * never per packet.  Tables outlive their thread, so the counts of a
 * finished thread still add up.  Each thread also remembers the slot of
 * the program it ran last, so that the runs of a batch (one program over
 * many packets) count without a probe.
 *
 * Running: bpf_prog_run_xdp() takes a short path when the program's JIT
 * image is ready and nothing else is asked of the run (no timing, slot
 * remembered): it counts the run, sets the run context only for images
 * that read it (jit.h: needs_ctx), and calls the image; a leaf image is
 * entered as a plain C function.  Everything else goes through run(),
 * which also compiles programs at their first run. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bpf/bpf_api.h"
#include "bpf/bpf_log.h"
#include "bpf/helpers.h"
#include "bpf/interp.h"
#include "bpf/jit.h"
#include "bpf/maps.h"

#define STATS_FORGOTTEN ((const struct bpf_prog *)1)

struct stats_slot {
    const struct bpf_prog *prog; /* NULL = empty, STATS_FORGOTTEN =
                                  * freed program. */
    struct bpf_prog_stats s;
    bool warned; /* "Not verified" already logged. */
};

struct stats_table {
    pthread_mutex_t lock; /* Growth and foreign readers. */
    struct stats_slot *slots;
    uint32_t mask;            /* Slots - 1 (power of 2). */
    uint32_t used;            /* Slots not empty. */
    struct stats_table *next; /* All tables, for readers. */
};

static pthread_mutex_t tables_lock = PTHREAD_MUTEX_INITIALIZER;
static struct stats_table *tables;
static BPF_TLS struct stats_table *my_stats;
/* The slot this thread used last; no_slot (a program never matches it)
 * until its first run.  Points into my_stats->slots, so it is moved when
 * they are; a slot of a forgotten program no longer matches. */
static struct stats_slot no_slot;
static BPF_TLS struct stats_slot *last_slot = &no_slot;

/* What sends every run through run(): timing on, or SLUICE_BPF_JIT=2
 * (images rechecked against their program at each run). */
#define SLOW_TIMING 1
#define SLOW_RECHECK 2
static uint8_t slow_runs;

void
bpf_prog_stats_set_timing(bool on)
{
    if (on) {
        __atomic_fetch_or(&slow_runs, SLOW_TIMING, __ATOMIC_RELAXED);
    } else {
        __atomic_fetch_and(&slow_runs, (uint8_t)~SLOW_TIMING,
                           __ATOMIC_RELAXED);
    }
}

static uint32_t
ptr_hash(const struct bpf_prog *prog)
{
    uint64_t x = (uint64_t)(uintptr_t)prog;
    return (uint32_t)((x * 0x9e3779b97f4a7c15ull) >> 32);
}

static struct stats_slot *
table_probe(struct stats_slot *slots, uint32_t mask,
            const struct bpf_prog *prog)
{
    for (uint32_t i = ptr_hash(prog);; i++) {
        struct stats_slot *s = &slots[i & mask];
        if (s->prog == prog || !s->prog) {
            return s;
        }
    }
}

/* The slot of 'prog' in this thread's table, created if need be.  NULL
 * only if memory runs out (the run then goes uncounted). */
static struct stats_slot *
stats_slot(const struct bpf_prog *prog)
{
    struct stats_table *t = my_stats;

    if (likely(t != NULL)) {
        struct stats_slot *s = table_probe(t->slots, t->mask, prog);
        if (likely(s->prog == prog)) {
            last_slot = s;
            return s;
        }
    } else {
        t = calloc(1, sizeof *t);
        if (!t) {
            return NULL;
        }
        pthread_mutex_init(&t->lock, NULL);
        t->mask = 15;
        t->slots = calloc(t->mask + 1, sizeof *t->slots);
        if (!t->slots) {
            free(t);
            return NULL;
        }
        pthread_mutex_lock(&tables_lock);
        t->next = tables;
        tables = t;
        pthread_mutex_unlock(&tables_lock);
        my_stats = t;
    }

    /* New program on this thread: keep the load at most 1/2. */
    pthread_mutex_lock(&t->lock);
    if ((t->used + 1) * 2 > t->mask + 1) {
        uint32_t mask = t->mask * 2 + 1;
        struct stats_slot *slots = calloc(mask + 1, sizeof *slots);
        if (!slots) {
            pthread_mutex_unlock(&t->lock);
            return NULL;
        }
        uint32_t used = 0;
        for (uint32_t i = 0; i <= t->mask; i++) {
            const struct stats_slot *old = &t->slots[i];
            if (old->prog && old->prog != STATS_FORGOTTEN) {
                *table_probe(slots, mask, old->prog) = *old;
                used++;
            }
        }
        free(t->slots);
        last_slot = &no_slot;
        t->slots = slots;
        t->mask = mask;
        t->used = used;
    }
    struct stats_slot *s = table_probe(t->slots, t->mask, prog);
    s->prog = prog;
    t->used++;
    pthread_mutex_unlock(&t->lock);
    last_slot = s;
    return s;
}

void
bpf_prog_get_stats(const struct bpf_prog *prog, struct bpf_prog_stats *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&tables_lock);
    for (struct stats_table *t = tables; t; t = t->next) {
        pthread_mutex_lock(&t->lock);
        struct stats_slot *s = table_probe(t->slots, t->mask, prog);
        if (s->prog == prog) {
            out->runs += __atomic_load_n(&s->s.runs, __ATOMIC_RELAXED);
            out->insns += __atomic_load_n(&s->s.insns, __ATOMIC_RELAXED);
            out->ns += __atomic_load_n(&s->s.ns, __ATOMIC_RELAXED);
        }
        pthread_mutex_unlock(&t->lock);
    }
    pthread_mutex_unlock(&tables_lock);
}

void
bpf_prog_stats_forget(const struct bpf_prog *prog)
{
    pthread_mutex_lock(&tables_lock);
    for (struct stats_table *t = tables; t; t = t->next) {
        pthread_mutex_lock(&t->lock);
        struct stats_slot *s = table_probe(t->slots, t->mask, prog);
        if (s->prog == prog) {
            /* Keeps the probe chain intact; dropped at the next growth. */
            memset(s, 0, sizeof *s);
            s->prog = STATS_FORGOTTEN;
        }
        pthread_mutex_unlock(&t->lock);
    }
    pthread_mutex_unlock(&tables_lock);
}

static uint64_t
mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- Execution mode (JIT or interpreter) ---- */

static int default_mode = -1; /* enum bpf_exec_mode; -1 = not read yet. */
static BPF_TLS const char *run_error; /* Why this thread's last run
                                       * stopped, or NULL. */

const char *
bpf_last_run_error(void)
{
    return run_error;
}

void
bpf_set_default_exec_mode(enum bpf_exec_mode mode)
{
    __atomic_store_n(&default_mode,
                     mode == BPF_EXEC_INTERP ? BPF_EXEC_INTERP : BPF_EXEC_JIT,
                     __ATOMIC_RELAXED);
}

enum bpf_exec_mode
bpf_default_exec_mode(void)
{
    int mode = __atomic_load_n(&default_mode, __ATOMIC_RELAXED);
    if (unlikely(mode < 0)) {
        const char *env = getenv("SLUICE_BPF_JIT");
        mode = env && !strcmp(env, "0") ? BPF_EXEC_INTERP : BPF_EXEC_JIT;
        if (env && !strcmp(env, "2")) {
            /* Recompile programs whose instructions changed (tests). */
            __atomic_fetch_or(&slow_runs, SLOW_RECHECK, __ATOMIC_RELAXED);
        }
        __atomic_store_n(&default_mode, mode, __ATOMIC_RELAXED);
    }
    return (enum bpf_exec_mode)mode;
}

void
bpf_prog_set_exec_mode(struct bpf_prog *prog, enum bpf_exec_mode mode)
{
    prog->exec_mode = (uint8_t)mode;
}

int
bpf_prog_jit(struct bpf_prog *prog, char **errp)
{
    int err = bpf_jit_compile(prog, errp);
    if (err) {
        prog->jit_failed = true;
    }
    return err;
}

bool
bpf_prog_jited(const struct bpf_prog *prog, const uint8_t **code,
               size_t *size, const uint32_t **offs, size_t *n)
{
    const struct bpf_jit_image *img = __atomic_load_n(&prog->jit,
                                                      __ATOMIC_ACQUIRE);
    if (!img) {
        return false;
    }
    *code = img->code;
    *size = img->size;
    *offs = img->insn_off;
    *n = img->n_insns;
    return true;
}

/* Whether this run goes to the JIT.  The first JIT run compiles the
 * program (once, whatever the number of threads); a program that does
 * not translate runs in the interpreter from then on. */
static bool
use_jit(const struct bpf_prog *prog)
{
    enum bpf_exec_mode mode = prog->exec_mode
                                  ? (enum bpf_exec_mode)prog->exec_mode
                                  : bpf_default_exec_mode();
    if (mode != BPF_EXEC_JIT) {
        return false;
    }
    if (unlikely(__atomic_load_n(&slow_runs, __ATOMIC_RELAXED) &
                 SLOW_RECHECK) &&
        bpf_jit_stale(prog)) {
        bpf_jit_free((struct bpf_prog *)prog);
    }
    if (likely(__atomic_load_n(&prog->jit, __ATOMIC_ACQUIRE) != NULL)) {
        return true;
    }
    if (prog->jit_failed) {
        return false;
    }
    char *err = NULL;
    if (bpf_prog_jit((struct bpf_prog *)prog, &err)) {
        LOG_WARN("program '%s' runs in the interpreter: %s", prog->name,
                 err ? err : "the JIT failed");
        free(err);
        return false;
    }
    return true;
}

static uint64_t
run(const struct bpf_prog *prog, enum bpf_prog_kind kind,
    struct bpf_run_ctx *ctx, uint64_t r1, uint64_t r2)
{
    struct stats_slot *s = stats_slot(prog);

    if (unlikely(!prog->verified || prog->kind != kind)) {
        if (!s || !s->warned) {
            LOG_WARN("program '%s' not run: %s", prog->name,
                     !prog->verified ? "it was not verified"
                                     : "wrong program kind for this run");
            if (s) {
                s->warned = true;
            }
        }
        return 0;
    }

    struct bpf_run_ctx *saved = bpf_run_cur;
    uint64_t insns = 0, start = 0;
    bool timed = __atomic_load_n(&slow_runs, __ATOMIC_RELAXED) & SLOW_TIMING;

    ctx->prog = prog;
    bpf_run_cur = ctx;
    if (timed) {
        start = mono_ns();
    }
    uint64_t ret;
    run_error = NULL;
    if (use_jit(prog)) {
        enum bpf_jit_stop stop;
        ret = bpf_jit_run(prog, r1, r2, &stop);
        if (unlikely(stop >= BPF_JIT_STOP_MEM_OOB)) {
            /* The interpreter's words for the same stops. */
            run_error = stop == BPF_JIT_STOP_MEM_OOB
                            ? "memory access out of bounds"
                        : stop == BPF_JIT_STOP_BUDGET
                            ? "instruction budget spent (endless loop?)"
                            : "helper not allowed in raw mode (only helpers "
                              "without pointer arguments are)";
            LOG_WARN_RL("program '%s' stopped: %s", prog->name, run_error);
        }
    } else if (kind == BPF_PROG_KIND_RAW && !prog->trusted) {
        ret = bpf_interp_run_raw(prog, r1, r2, &insns, &run_error);
        if (unlikely(run_error)) {
            LOG_WARN_RL("program '%s' stopped: %s", prog->name, run_error);
        }
    } else {
        ret = bpf_interp_run(prog, r1, r2, &insns);
    }
    if (unlikely(run_error != NULL)) {
        /* The next run takes run() again, which clears it. */
        last_slot = &no_slot;
    }
    if (s) {
        if (timed) {
            s->s.ns += mono_ns() - start;
        }
        s->s.runs++;
        s->s.insns += insns;
    }
    bpf_run_cur = saved;
    return ret;
}

/* The JIT image that runs 'prog' as 'kind' now, or NULL when run() must
 * decide (not compiled yet, interpreter asked for, not runnable as
 * 'kind', timing on or images rechecked).  A default mode not read yet is
 * not BPF_EXEC_JIT, so run() reads it. */
static inline const struct bpf_jit_image *
jit_ready(const struct bpf_prog *prog, enum bpf_prog_kind kind)
{
    const struct bpf_jit_image *img =
        __atomic_load_n(&prog->jit, __ATOMIC_ACQUIRE);
    int mode = prog->exec_mode ? prog->exec_mode
                               : __atomic_load_n(&default_mode,
                                                 __ATOMIC_RELAXED);

    if (likely(img != NULL && mode == BPF_EXEC_JIT && prog->verified &&
               prog->kind == kind &&
               !__atomic_load_n(&slow_runs, __ATOMIC_RELAXED))) {
        return img;
    }
    return NULL;
}

static __attribute__((noinline)) uint64_t
run_xdp_slow(const struct bpf_prog *prog, struct bpf_xdp_buff *xdp)
{
    struct bpf_run_ctx ctx = {.xdp = xdp};
    return run(prog, BPF_PROG_KIND_XDP, &ctx, (uint64_t)(uintptr_t)xdp, 0);
}

/* The run context of this thread's outermost runs on the short path: a
 * run inside another (none today: no helper runs a program) takes one on
 * its stack.  'mem' and 'mem_len' stay 0, as XDP runs want them. */
static BPF_TLS struct bpf_run_ctx xdp_ctx;

/* An image that reads the run context, entered as bpf_jit_run() does.
 * XDP runs have no run-time errors: the stops they can make (LD_ABS or
 * LD_IND outside the packet, call depth) end them with r0 = 0 and are not
 * reported, so the stop reason is not looked at. */
static __attribute__((noinline)) uint64_t
run_xdp_full(const struct bpf_prog *prog, const struct bpf_jit_image *img,
             struct bpf_xdp_buff *xdp)
{
    struct bpf_run_ctx ctx = {.xdp = xdp, .prog = prog};
    struct bpf_run_ctx *saved = bpf_run_cur;
    int stop;

    bpf_run_cur = &ctx;
    uint64_t ret = ((uint64_t(*)(uint64_t, uint64_t, int *))(uintptr_t)
                        img->code)((uint64_t)(uintptr_t)xdp, 0, &stop);
    bpf_run_cur = saved;
    return ret;
}

/* A leaf image that reads the run context, in the outermost run: the
 * context is this thread's xdp_ctx, and the leaf (which never stops) is
 * called without a place for a stop reason. */
static __attribute__((noinline)) uint64_t
run_xdp_ctx(const struct bpf_prog *prog, const struct bpf_jit_image *img,
            struct bpf_xdp_buff *xdp)
{
    if (likely(bpf_run_cur == NULL && img->leaf)) {
        xdp_ctx.xdp = xdp;
        xdp_ctx.prog = prog;
        bpf_run_cur = &xdp_ctx;
        uint64_t ret = ((uint64_t(*)(struct bpf_xdp_buff *))(uintptr_t)
                            img->code)(xdp);
        bpf_run_cur = NULL;
        return ret;
    }
    return run_xdp_full(prog, img, xdp);
}

/* The datapath's call, once per packet.  The short path does what run()
 * does for a compiled program, less what the image does not need: the
 * run is counted in the slot remembered from the last run (which, being
 * a run of the same program without error, left run_error NULL: run()
 * forgets the slot after a run that sets it), and an image that reads
 * neither the run context nor a stop pointer is called as the C function
 * uint64_t f(struct bpf_xdp_buff *) (a verified XDP program never reads
 * r2 before writing it). */
uint64_t
bpf_prog_run_xdp(const struct bpf_prog *prog, struct bpf_xdp_buff *xdp)
{
    const struct bpf_jit_image *img = jit_ready(prog, BPF_PROG_KIND_XDP);
    struct stats_slot *s = last_slot;

    if (likely(img != NULL && s->prog == prog)) {
        s->s.runs++;
        if (likely(img->direct)) {
            uint64_t (*fn)(struct bpf_xdp_buff *) =
                (uint64_t(*)(struct bpf_xdp_buff *))(uintptr_t)img->code;
            return fn(xdp);
        }
        return run_xdp_ctx(prog, img, xdp);
    }
    return run_xdp_slow(prog, xdp);
}

uint64_t
bpf_prog_run_raw(const struct bpf_prog *prog, void *mem, size_t len)
{
    struct bpf_run_ctx ctx = {.mem = mem, .mem_len = len};
    return run(prog, BPF_PROG_KIND_RAW, &ctx, (uint64_t)(uintptr_t)mem, len);
}

void
bpf_set_time_ns(uint64_t ns)
{
    bpf_time_ns = ns;
    bpf_time_set = true;
}

void
bpf_set_cpu(uint32_t cpu)
{
    bpf_cur_cpu = cpu;
}

uint32_t
bpf_get_cpu(void)
{
    return bpf_cur_cpu;
}

const char *
bpf_map_name(const struct bpf_map *map)
{
    return map->name;
}

uint32_t
bpf_map_type(const struct bpf_map *map)
{
    return map->type;
}

uint32_t
bpf_map_key_size(const struct bpf_map *map)
{
    return map->key_size;
}

uint32_t
bpf_map_value_size(const struct bpf_map *map)
{
    return map->value_size;
}

uint32_t
bpf_map_max_entries(const struct bpf_map *map)
{
    return map->max_entries;
}

/* The control plane's view, like the BPF syscall: per-CPU values come and
 * go as all copies at once (see bpf_map_sys_value_size()), queues and
 * stacks peek on lookup and push on update, program arrays take and give
 * program indices, and BPF_F_RDONLY / BPF_F_WRONLY maps refuse writes /
 * reads with -EPERM. */
int
bpf_map_lookup(struct bpf_map *map, const void *key, void *value)
{
    const void *v;

    if (map->map_flags & BPF_F_WRONLY) {
        return -EPERM;
    }
    switch (map->type) {
    case BPF_MAP_TYPE_HASH:
    case BPF_MAP_TYPE_LRU_HASH:
    case BPF_MAP_TYPE_PERCPU_HASH:
    case BPF_MAP_TYPE_LRU_PERCPU_HASH:
        v = bpf_htab_sys_lookup(map, key);
        break;
    case BPF_MAP_TYPE_ARRAY:
    case BPF_MAP_TYPE_PERCPU_ARRAY:
        return bpf_array_sys_read(map, key, value);
    case BPF_MAP_TYPE_PROG_ARRAY:
        return bpf_prog_array_sys_lookup(map, key, value);
    case BPF_MAP_TYPE_QUEUE:
    case BPF_MAP_TYPE_STACK:
        return map->ops->peek(map, value);
    case BPF_MAP_TYPE_RINGBUF:
        return -EOPNOTSUPP;
    default:
        v = map->ops->lookup(map, key);
        break;
    }
    if (!v) {
        return -ENOENT;
    }
    memcpy(value, v, bpf_map_sys_value_size(map));
    return 0;
}

int
bpf_map_update(struct bpf_map *map, const void *key, const void *value,
               uint64_t flags)
{
    if (map->map_flags & BPF_F_RDONLY) {
        return -EPERM;
    }
    switch (map->type) {
    case BPF_MAP_TYPE_PERCPU_HASH:
    case BPF_MAP_TYPE_LRU_PERCPU_HASH:
        return bpf_htab_update(map, key, value, flags, true);
    case BPF_MAP_TYPE_PERCPU_ARRAY:
        return bpf_array_update(map, key, value, flags, true);
    case BPF_MAP_TYPE_QUEUE:
    case BPF_MAP_TYPE_STACK:
        return map->ops->push(map, value, flags);
    default:
        return map->ops->update(map, key, value, flags);
    }
}

int
bpf_map_delete(struct bpf_map *map, const void *key)
{
    if (map->map_flags & BPF_F_RDONLY) {
        return -EPERM;
    }
    return map->ops->delete (map, key);
}

int
bpf_map_next_key(struct bpf_map *map, const void *key, void *next_key)
{
    if (map->map_flags & BPF_F_WRONLY) {
        return -EPERM;
    }
    return map->ops->get_next_key(map, key, next_key);
}

int
bpf_map_lookup_and_delete(struct bpf_map *map, const void *key, void *value)
{
    if (map->map_flags & (BPF_F_RDONLY | BPF_F_WRONLY)) {
        return -EPERM;
    }
    switch (map->type) {
    case BPF_MAP_TYPE_QUEUE:
    case BPF_MAP_TYPE_STACK:
        return map->ops->pop(map, value);
    case BPF_MAP_TYPE_HASH:
    case BPF_MAP_TYPE_LRU_HASH:
    case BPF_MAP_TYPE_PERCPU_HASH:
    case BPF_MAP_TYPE_LRU_PERCPU_HASH: {
        int err = bpf_map_lookup(map, key, value);
        return err ? err : map->ops->delete (map, key);
    }
    default:
        return -EOPNOTSUPP;
    }
}
