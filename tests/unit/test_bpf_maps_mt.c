/* Concurrency tests of the eBPF maps (docs/maps.md, "Concurrency"): several
 * threads, each with its own CPU number as a datapath thread has, use one
 * map through the program view (map->ops) while the control thread dumps
 * it, and the invariants the locking promises are checked:
 *  - disjoint keys: no update is lost, every lookup finds its own key;
 *  - shared buckets: a key that stays in the map is found by every lookup,
 *    with its own value, however the keys around it churn;
 *  - a full flow table whose lock-free lookups refresh some entries while
 *    the expiry scans reclaim the others' slots for new keys;
 *  - per-CPU values: each thread's copy holds exactly its own counts;
 *  - queues, stacks and ring buffers: every value or record comes out
 *    exactly once (ring buffers: in each producer's order);
 *  - BPF_ATOMIC instructions are atomic in the interpreter and the JIT;
 *  - the firewall program run on two threads over disjoint flows leaves the
 *    same maps as on one thread.
 * Also meant to be run under ThreadSanitizer (-Db_sanitize=thread). */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../progs/sluice_maps.h"
#include "bpf/asm.h"
#include "bpf/bpf_api.h"
#include "bpf/bpf_int.h"
#include "bpf/helpers.h"
#include "bpf/jit.h"
#include "bpf/maps.h"
#include "core/util.h"

#define N_THREADS 4

/* ---- Threads ---- */

struct worker {
    int id;                      /* Thread index = CPU number. */
    void (*fn)(struct worker *); /* Body. */
    void *arg;                   /* Test's shared state. */
    unsigned long errors;        /* Invariant violations seen. */
    char first_error[160];       /* The first one, for the report. */
};

static int workers_running;

static void worker_error(struct worker *w, const char *fmt, ...)
    PRINTF_FORMAT(2, 3);

static void
worker_error(struct worker *w, const char *fmt, ...)
{
    if (!w->errors++) {
        va_list args;
        va_start(args, fmt);
        vsnprintf(w->first_error, sizeof w->first_error, fmt, args);
        va_end(args);
    }
}

static void *
worker_main(void *w_)
{
    struct worker *w = w_;
    bpf_set_cpu((uint32_t)w->id);
    w->fn(w);
    __atomic_fetch_sub(&workers_running, 1, __ATOMIC_RELEASE);
    return NULL;
}

/* Runs 'fn' on n threads (CPU 0..n-1) while 'control' (may be NULL) runs
 * on this thread, over and over with 'ctl_arg', until they are done;
 * fails on any worker's error. */
static void
run_workers(int n, void (*fn)(struct worker *), void *arg,
            void (*control)(void *), void *ctl_arg)
{
    struct worker w[N_THREADS];
    pthread_t tid[N_THREADS];

    assert_true(n <= N_THREADS);
    __atomic_store_n(&workers_running, n, __ATOMIC_RELEASE);
    for (int i = 0; i < n; i++) {
        w[i] = (struct worker){.id = i, .fn = fn, .arg = arg};
        assert_int_equal(pthread_create(&tid[i], NULL, worker_main, &w[i]), 0);
    }
    while (control && __atomic_load_n(&workers_running, __ATOMIC_ACQUIRE)) {
        control(ctl_arg);
    }
    for (int i = 0; i < n; i++) {
        pthread_join(tid[i], NULL);
    }
    for (int i = 0; i < n; i++) {
        if (w[i].errors) {
            fail_msg("thread %d: %lu errors, first: %s", i, w[i].errors,
                     w[i].first_error);
        }
    }
}

static uint64_t
rng_next(uint64_t *s)
{
    /* xorshift64*: enough for picking keys and operations. */
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545f4914f6cdd1dull;
}

static struct bpf_map *
map_new(uint32_t type, uint32_t key_size, uint32_t value_size,
        uint32_t max_entries, uint32_t flags)
{
    struct bpf_map *m = calloc(1, sizeof *m);
    strcpy(m->name, "mt");
    m->type = type;
    m->key_size = key_size;
    m->value_size = value_size;
    m->max_entries = max_entries;
    m->map_flags = flags;
    assert_int_equal(bpf_map_create_internal(m), 0);
    return m;
}

static void
map_del(struct bpf_map *m)
{
    bpf_map_free_internal(m);
    free(m);
}

static int
setup(void **state)
{
    bpf_maps_set_threads(N_THREADS);
    return 0;
}

static int
teardown(void **state)
{
    bpf_maps_set_threads(1);
    return 0;
}

/* ---- Keys and values of the hash-like maps ---- */

/* 12-byte keys (two words to compare), whose 'check' field proves that a
 * key read back from the map is one that was stored whole. */
struct mt_key {
    uint32_t owner; /* Thread, or N_THREADS for shared keys. */
    uint32_t idx;
    uint32_t check; /* key_check(owner, idx). */
};

/* Values echo their key; flow tables' values start with the slot. */
struct mt_value {
    uint32_t slot; /* Flow tables: written by the map. */
    uint32_t owner;
    uint32_t idx;
    uint32_t pad;
    uint64_t count; /* Disjoint test: increments by the owner. */
};

static uint32_t
key_check(uint32_t owner, uint32_t idx)
{
    return (owner * 0x9e3779b9u) ^ (idx * 0x85ebca6bu) ^ 0x5a5a5a5au;
}

static struct mt_key
make_key(uint32_t owner, uint32_t idx)
{
    return (struct mt_key){owner, idx, key_check(owner, idx)};
}

static bool
value_echoes(const struct mt_value *v, const struct mt_key *k)
{
    return v->owner == k->owner && v->idx == k->idx;
}

/* The control plane's copy of a value while programs write it: a data
 * race by design, as with the kernel's syscall without BPF_F_LOCK (the
 * copy may be torn).  ThreadSanitizer is told so, for this function
 * only; races in the maps' own structures stay reported. */
const char *__tsan_default_suppressions(void);

const char *
__tsan_default_suppressions(void)
{
    return "race:control_read_value\n";
}

static __attribute__((noinline)) int
control_read_value(struct bpf_map *map, const void *key, void *value)
{
    return bpf_map_lookup(map, key, value);
}

/* The control thread's dump: every key read back is whole, and there are
 * never more of them than the map holds. */
static void
control_dump(void *arg)
{
    struct bpf_map *map = arg;
    struct mt_key key, next;
    uint8_t value[sizeof(struct mt_value) * 64];
    uint32_t n = 0;
    bool first = true;

    while (bpf_map_next_key(map, first ? NULL : &key, &next) == 0) {
        first = false;
        assert_int_equal(next.check, key_check(next.owner, next.idx));
        assert_true(next.owner <= N_THREADS);
        /* The value may belong to a key deleted and reused meanwhile (the
         * kernel's semantics), so only the call is checked. */
        int err = control_read_value(map, &next, value);
        assert_true(err == 0 || err == -ENOENT);
        key = next;
        if (++n > map->max_entries * 4) {
            /* Keys deleted under the dump restart it from the first
             * bucket (as in the kernel): bounded, not a failure. */
            break;
        }
    }
}

/* ---- Hash maps and flow tables, disjoint keys ---- */

#define DJ_KEYS 300
#define DJ_ROUNDS 30

struct dj_state {
    struct bpf_map *map;
    uint64_t expect[N_THREADS][DJ_KEYS]; /* Count per key, ~0 = absent. */
};

static void
dj_worker(struct worker *w)
{
    struct dj_state *s = w->arg;
    struct bpf_map *map = s->map;
    uint32_t me = (uint32_t)w->id;
    struct bpf_run_ctx ctx = {0};

    /* A run context and packet time, as while a program runs (the flow
     * table refreshes entries only then). */
    bpf_run_cur = &ctx;
    bpf_set_time_ns(1000000000ull);
    for (uint32_t i = 0; i < DJ_KEYS; i++) {
        s->expect[me][i] = ~0ull;
    }
    for (uint32_t r = 0; r < DJ_ROUNDS; r++) {
        for (uint32_t i = 0; i < DJ_KEYS; i++) {
            struct mt_key k = make_key(me, i);
            uint64_t *exp = &s->expect[me][i];
            if ((r % 4 == 3) && i % 3 == 0) {
                int err = map->ops->delete (map, &k);
                if (err != (*exp == ~0ull ? -ENOENT : 0)) {
                    worker_error(w, "delete %u: %d", i, err);
                }
                *exp = ~0ull;
                continue;
            }
            struct mt_value *v = map->ops->lookup(map, &k);
            if ((v != NULL) != (*exp != ~0ull)) {
                worker_error(w, "key %u: lookup %s", i,
                             v ? "found a deleted key" : "lost the key");
                continue;
            }
            if (!v) {
                struct mt_value nv = {.owner = me, .idx = i};
                int err = map->ops->update(map, &k, &nv, BPF_NOEXIST);
                if (err) {
                    worker_error(w, "insert %u: %d", i, err);
                    continue;
                }
                *exp = 0;
                v = map->ops->lookup(map, &k);
                if (!v) {
                    worker_error(w, "key %u: not found after insert", i);
                    continue;
                }
            }
            if (!value_echoes(v, &k) || v->count != *exp) {
                worker_error(w, "key %u: value of %u/%u, count %llu not %llu",
                             i, v->owner, v->idx, (unsigned long long)v->count,
                             (unsigned long long)*exp);
                continue;
            }
            v->count++;
            (*exp)++;
            if (r % 5 == 4) {
                /* An update of an existing key copies in place. */
                struct mt_value nv = *v;
                int err = map->ops->update(map, &k, &nv, BPF_EXIST);
                if (err) {
                    worker_error(w, "update %u: %d", i, err);
                }
            }
        }
    }
    bpf_run_cur = NULL;
}

static void
disjoint_check(struct dj_state *s)
{
    uint32_t present = 0;
    for (uint32_t t = 0; t < N_THREADS; t++) {
        for (uint32_t i = 0; i < DJ_KEYS; i++) {
            struct mt_key k = make_key(t, i);
            struct mt_value v;
            int err = bpf_map_lookup(s->map, &k, &v);
            if (s->expect[t][i] == ~0ull) {
                assert_int_equal(err, -ENOENT);
                continue;
            }
            assert_int_equal(err, 0);
            assert_true(value_echoes(&v, &k));
            assert_int_equal(v.count, s->expect[t][i]);
            present++;
        }
    }
    uint32_t dumped = 0;
    struct mt_key key, next;
    bool first = true;
    while (bpf_map_next_key(s->map, first ? NULL : &key, &next) == 0) {
        first = false;
        key = next;
        dumped++;
    }
    assert_int_equal(dumped, present);
}

static void
disjoint_one(uint32_t type)
{
    struct dj_state *s = calloc(1, sizeof *s);
    /* Room for every key plus one element in flight per thread: no LRU
     * eviction. */
    uint32_t max = N_THREADS * DJ_KEYS + N_THREADS;
    s->map =
        map_new(type, sizeof(struct mt_key), sizeof(struct mt_value), max, 0);
    run_workers(N_THREADS, dj_worker, s, control_dump, s->map);
    disjoint_check(s);
    map_del(s->map);
    free(s);
}

static void
test_hash_disjoint(void **state)
{
    disjoint_one(BPF_MAP_TYPE_HASH);
    disjoint_one(BPF_MAP_TYPE_LRU_HASH);
    disjoint_one(BPF_MAP_TYPE_SLUICE_FLOWTABLE);
}

/* ---- Shared buckets: stable keys among churning ones ---- */

#define SC_STABLE 16
#define SC_CHURN 32
#define SC_OPS 40000

static void
sc_worker(struct worker *w)
{
    struct bpf_map *map = w->arg;
    uint64_t rng = 0x1234567ull * (uint64_t)(w->id + 1);
    struct bpf_run_ctx ctx = {0};

    bpf_run_cur = &ctx;
    bpf_set_time_ns(1000000000ull);
    for (int n = 0; n < SC_OPS; n++) {
        uint64_t r = rng_next(&rng);
        if (r & 1) {
            /* A stable key is always there, with its own value. */
            struct mt_key k =
                make_key(N_THREADS, (uint32_t)(r >> 8) % SC_STABLE);
            struct mt_value *v = map->ops->lookup(map, &k);
            if (!v) {
                worker_error(w, "stable key %u missed", k.idx);
            } else if (!value_echoes(v, &k)) {
                worker_error(w, "stable key %u: value of %u/%u", k.idx,
                             v->owner, v->idx);
            }
            continue;
        }
        struct mt_key k =
            make_key(N_THREADS, SC_STABLE + (uint32_t)(r >> 8) % SC_CHURN);
        struct mt_value nv = {.owner = k.owner, .idx = k.idx};
        int err;
        switch ((r >> 4) % 4) {
        case 0:
            err = map->ops->update(map, &k, &nv, BPF_NOEXIST);
            if (err && err != -EEXIST) {
                worker_error(w, "insert: %d", err);
            }
            break;
        case 1:
            err = map->ops->update(map, &k, &nv, BPF_ANY);
            if (err) {
                worker_error(w, "update: %d", err);
            }
            break;
        case 2:
            err = map->ops->delete (map, &k);
            if (err && err != -ENOENT) {
                worker_error(w, "delete: %d", err);
            }
            break;
        default:
            /* The value may already belong to a reused element; only
             * the lookup itself is exercised. */
            map->ops->lookup(map, &k);
            break;
        }
    }
    bpf_run_cur = NULL;
}

static void
shared_one(uint32_t type)
{
    /* Few buckets, so that stable keys share chains with churning ones;
     * room for all keys plus one element in flight per thread. */
    uint32_t max = SC_STABLE + SC_CHURN + N_THREADS;
    struct bpf_map *map =
        map_new(type, sizeof(struct mt_key), sizeof(struct mt_value), max, 0);
    for (uint32_t i = 0; i < SC_STABLE; i++) {
        struct mt_key k = make_key(N_THREADS, i);
        struct mt_value v = {.owner = N_THREADS, .idx = i};
        assert_int_equal(bpf_map_update(map, &k, &v, BPF_NOEXIST), 0);
    }
    run_workers(N_THREADS, sc_worker, map, control_dump, map);

    /* Quiet again: what the dump sees is what lookups see, whole. */
    uint32_t present = 0, dumped = 0;
    for (uint32_t i = 0; i < SC_STABLE + SC_CHURN; i++) {
        struct mt_key k = make_key(N_THREADS, i);
        struct mt_value v;
        int err = bpf_map_lookup(map, &k, &v);
        if (i < SC_STABLE) {
            assert_int_equal(err, 0);
        }
        if (!err) {
            assert_true(value_echoes(&v, &k));
            present++;
        }
    }
    struct mt_key key, next;
    bool first = true;
    while (bpf_map_next_key(map, first ? NULL : &key, &next) == 0) {
        first = false;
        key = next;
        dumped++;
    }
    assert_int_equal(dumped, present);
    if (type == BPF_MAP_TYPE_SLUICE_FLOWTABLE) {
        struct bpf_flowtable_stats st;
        assert_int_equal(bpf_flowtable_get_stats(map, &st), 0);
        assert_int_equal(st.entries, present);
        assert_int_equal(st.live, present);
    }
    map_del(map);
}

static void
test_hash_shared_buckets(void **state)
{
    shared_one(BPF_MAP_TYPE_HASH);
    shared_one(BPF_MAP_TYPE_LRU_HASH);
    shared_one(BPF_MAP_TYPE_SLUICE_FLOWTABLE);
}

/* A flow table as a NAT shares it: lookups take no lock and refresh the
 * entry with an atomic store, the age order is kept lazily.  'Hot' keys
 * are looked up by every thread, 'cold' ones never again, and the table
 * is full: after a timeout each thread inserts keys of its own, which
 * only fit in the slots of expired cold keys, so the expiry scans must
 * requeue the refreshed hot keys and reclaim the cold ones while other
 * threads read.  Hot keys keep their slots throughout. */
#define FTM_HOT 64
#define FTM_COLD 64
#define FTM_OWN (FTM_COLD / N_THREADS)  /* Keys per thread. */
#define FTM_OPS 20000
#define FTM_STEP 200ull                 /* ns of packet time per op. */
#define FTM_TIMEOUT 1000000ull          /* 1 ms. */
#define FTM_T0 1000000000ull
#define FTM_COLD_IDX 1000               /* Shared keys from here: cold. */

struct ftm {
    struct bpf_map *map;
    uint32_t hot_slot[FTM_HOT];
};

static void
ftm_worker(struct worker *w)
{
    struct ftm *f = w->arg;
    struct bpf_map *map = f->map;
    uint64_t rng = 0xabcdefull * (uint64_t)(w->id + 1);
    struct bpf_run_ctx ctx = {0};
    uint32_t n_own = 0;

    bpf_run_cur = &ctx;
    for (int n = 0; n < FTM_OPS; n++) {
        uint64_t r = rng_next(&rng);
        bpf_set_time_ns(FTM_T0 + (uint64_t)n * FTM_STEP);
        if (n >= FTM_OPS / 2 && n_own < FTM_OWN) {
            /* Two timeouts on: the cold keys' slots are free to take. */
            struct mt_key k = make_key((uint32_t)w->id, n_own);
            struct mt_value nv = {.owner = k.owner, .idx = k.idx};
            int err = map->ops->update(map, &k, &nv, BPF_NOEXIST);
            if (err) {
                worker_error(w, "own key %u: insert %d", n_own, err);
            }
            n_own++;
            continue;
        }
        if ((r & 1) && n_own) {
            /* A key of some thread that has inserted it: whole if found;
             * the owner's own is always there. */
            uint32_t owner = (uint32_t)(r >> 8) % N_THREADS;
            uint32_t idx = (uint32_t)(r >> 16) % n_own;
            struct mt_key k = make_key(owner, idx);
            struct mt_value *v = map->ops->lookup(map, &k);
            if (v && !value_echoes(v, &k)) {
                worker_error(w, "key %u/%u: value of %u/%u", owner, idx,
                             v->owner, v->idx);
            } else if (!v && owner == (uint32_t)w->id) {
                worker_error(w, "own key %u missed", idx);
            }
            continue;
        }
        uint32_t i = (uint32_t)(r >> 8) % FTM_HOT;
        struct mt_key k = make_key(N_THREADS, i);
        struct mt_value *v = map->ops->lookup(map, &k);
        if (!v) {
            worker_error(w, "hot key %u missed", i);
        } else if (!value_echoes(v, &k) || v->slot != f->hot_slot[i]) {
            worker_error(w, "hot key %u: value of %u/%u in slot %u, not %u",
                         i, v->owner, v->idx, v->slot, f->hot_slot[i]);
        }
    }
    bpf_run_cur = NULL;
}

static void
test_flowtable_shared(void **state)
{
    struct ftm f;
    struct bpf_run_ctx ctx = {0};

    f.map = map_new(BPF_MAP_TYPE_SLUICE_FLOWTABLE, sizeof(struct mt_key),
                    sizeof(struct mt_value), FTM_HOT + FTM_COLD, 0);
    assert_int_equal(
        bpf_flowtable_configure(f.map, FTM_HOT + FTM_COLD, FTM_TIMEOUT), 0);
    bpf_run_cur = &ctx;
    bpf_set_time_ns(FTM_T0);
    for (uint32_t i = 0; i < FTM_HOT + FTM_COLD; i++) {
        /* Hot and cold interleaved in the age order. */
        bool hot = i % 2 == 0;
        struct mt_key k =
            make_key(N_THREADS, (hot ? 0 : FTM_COLD_IDX) + i / 2);
        struct mt_value v = {.owner = k.owner, .idx = k.idx};
        assert_int_equal(f.map->ops->update(f.map, &k, &v, BPF_NOEXIST), 0);
        struct mt_value *p = f.map->ops->lookup(f.map, &k);
        assert_non_null(p);
        if (hot) {
            f.hot_slot[i / 2] = p->slot;
        }
    }
    bpf_run_cur = NULL;
    run_workers(N_THREADS, ftm_worker, &f, control_dump, f.map);

    struct bpf_flowtable_stats st;
    assert_int_equal(bpf_flowtable_get_stats(f.map, &st), 0);
    assert_int_equal(st.full, 0);
    assert_int_equal(st.entries, FTM_HOT + FTM_COLD);
    assert_int_equal(st.live, FTM_HOT + FTM_COLD);
    assert_true(st.expired >= FTM_COLD);
    for (uint32_t i = 0; i < FTM_HOT; i++) {
        struct mt_key k = make_key(N_THREADS, i), got;
        assert_int_equal(bpf_flowtable_slot_key(f.map, f.hot_slot[i], &got,
                                                NULL), 0);
        assert_memory_equal(&got, &k, sizeof k);
    }
    for (uint32_t i = 0; i < FTM_COLD / 2; i++) {
        struct mt_key k = make_key(N_THREADS, FTM_COLD_IDX + i);
        struct mt_value v;
        assert_int_equal(bpf_map_lookup(f.map, &k, &v), -ENOENT);
    }
    for (uint32_t t = 0; t < N_THREADS; t++) {
        for (uint32_t i = 0; i < FTM_OWN; i++) {
            struct mt_key k = make_key(t, i);
            struct mt_value v;
            assert_int_equal(bpf_map_lookup(f.map, &k, &v), 0);
            assert_true(value_echoes(&v, &k));
        }
    }
    map_del(f.map);
}

/* An LRU map too small for its keys: every insert of a new key evicts,
 * from several threads at once, and the map stays whole. */
static void
lru_full_worker(struct worker *w)
{
    struct bpf_map *map = w->arg;
    uint64_t rng = 0x9876543ull * (uint64_t)(w->id + 1);
    for (int n = 0; n < SC_OPS; n++) {
        uint64_t r = rng_next(&rng);
        struct mt_key k = make_key(N_THREADS, (uint32_t)(r >> 8) % 256);
        struct mt_value nv = {.owner = k.owner, .idx = k.idx};
        if (r & 1) {
            map->ops->lookup(map, &k);
        } else if (map->ops->update(map, &k, &nv, BPF_ANY)) {
            worker_error(w, "LRU insert failed");
        }
    }
}

static void
test_lru_evicting(void **state)
{
    struct bpf_map *map = map_new(BPF_MAP_TYPE_LRU_HASH, sizeof(struct mt_key),
                                  sizeof(struct mt_value), 64, 0);
    run_workers(N_THREADS, lru_full_worker, map, control_dump, map);
    uint32_t dumped = 0, present = 0;
    for (uint32_t i = 0; i < 256; i++) {
        struct mt_key k = make_key(N_THREADS, i);
        struct mt_value v;
        if (!bpf_map_lookup(map, &k, &v)) {
            assert_true(value_echoes(&v, &k));
            present++;
        }
    }
    struct mt_key key, next;
    bool first = true;
    while (bpf_map_next_key(map, first ? NULL : &key, &next) == 0) {
        first = false;
        key = next;
        dumped++;
    }
    assert_int_equal(dumped, present);
    assert_true(present <= 64);
    assert_true(present >= 64 - N_THREADS);
    map_del(map);
}

/* ---- Per-CPU maps: each thread counts in its own copy ---- */

#define PC_KEYS 64
#define PC_ROUNDS 2000

static void
pc_worker(struct worker *w)
{
    struct bpf_map *map = w->arg;
    for (uint32_t r = 0; r < PC_ROUNDS; r++) {
        for (uint32_t i = 0; i < PC_KEYS; i++) {
            uint64_t *v = map->ops->lookup(map, &i);
            if (!v) {
                worker_error(w, "per-CPU key %u missed", i);
                return;
            }
            if (r % 100 == 99) {
                /* A program's update writes only its own copy. */
                uint64_t nv = *v + 1;
                if (map->ops->update(map, &i, &nv, BPF_EXIST)) {
                    worker_error(w, "per-CPU update failed");
                }
            } else {
                (*v)++;
            }
        }
    }
}

static void
pc_control(void *arg)
{
    struct bpf_map *map = arg;
    uint64_t all[64];
    uint32_t key = (uint32_t)rand() % PC_KEYS;
    assert_true(map->n_cpus <= 64);
    assert_int_equal(control_read_value(map, &key, all), 0);
}

static void
percpu_one(uint32_t type)
{
    struct bpf_map *map = map_new(type, 4, 8, PC_KEYS, 0);
    assert_true(map->n_cpus >= N_THREADS);
    uint64_t zero[64] = {0};
    if (type != BPF_MAP_TYPE_PERCPU_ARRAY) {
        for (uint32_t i = 0; i < PC_KEYS; i++) {
            assert_int_equal(bpf_map_update(map, &i, zero, BPF_NOEXIST), 0);
        }
    }
    run_workers(N_THREADS, pc_worker, map, pc_control, map);
    for (uint32_t i = 0; i < PC_KEYS; i++) {
        uint64_t all[64], sum = 0;
        assert_int_equal(bpf_map_lookup(map, &i, all), 0);
        for (uint32_t c = 0; c < map->n_cpus; c++) {
            assert_int_equal(all[c], c < N_THREADS ? PC_ROUNDS : 0);
            sum += all[c];
        }
        assert_int_equal(sum, (uint64_t)N_THREADS * PC_ROUNDS);
    }
    map_del(map);
}

static void
test_percpu_exact(void **state)
{
    percpu_one(BPF_MAP_TYPE_PERCPU_HASH);
    percpu_one(BPF_MAP_TYPE_LRU_PERCPU_HASH);
    percpu_one(BPF_MAP_TYPE_PERCPU_ARRAY);
}

/* ---- LPM trie: stable /16s under churning /24s ---- */

struct lpm4 {
    uint32_t prefixlen;
    uint8_t addr[4];
};

struct lpm_val {
    uint32_t prefixlen;
    uint8_t addr[4];
};

#define LPM_OPS 20000

static struct lpm4
lpm_key(uint32_t len, uint8_t a, uint8_t b, uint8_t c)
{
    return (struct lpm4){len, {10, a, b, c}};
}

static void
lpm_worker(struct worker *w)
{
    struct bpf_map *map = w->arg;
    uint64_t rng = 0xabcdefull * (uint64_t)(w->id + 1);
    for (int n = 0; n < LPM_OPS; n++) {
        uint64_t r = rng_next(&rng);
        uint8_t net = (uint8_t)((r >> 8) % 8), sub = (uint8_t)((r >> 16) % 16);
        if (w->id < N_THREADS / 2) {
            /* Writers, as the control plane: /24s come and go. */
            struct lpm4 k = lpm_key(24, net, sub, 0);
            struct lpm_val v = {24, {10, net, sub, 0}};
            if (r & 1) {
                bpf_map_update(map, &k, &v, BPF_ANY);
            } else {
                bpf_map_delete(map, &k);
            }
            continue;
        }
        /* Readers, as programs: an address outside every /24 matches its
         * /16; one inside may match either. */
        bool inside = r & 1;
        struct lpm4 k = lpm_key(32, net, inside ? sub : 200, 5);
        const struct lpm_val *v = map->ops->lookup(map, &k);
        if (!v) {
            worker_error(w, "10.%u.%u.5 matched nothing", net, k.addr[2]);
        } else if (!inside && (v->prefixlen != 16 || v->addr[1] != net)) {
            worker_error(w, "10.%u.200.5 matched /%u", net, v->prefixlen);
        }
    }
}

static void
test_lpm_concurrent(void **state)
{
    struct bpf_map *map =
        map_new(BPF_MAP_TYPE_LPM_TRIE, sizeof(struct lpm4),
                sizeof(struct lpm_val), 256, BPF_F_NO_PREALLOC);
    for (uint8_t net = 0; net < 8; net++) {
        struct lpm4 k = lpm_key(16, net, 0, 0);
        struct lpm_val v = {16, {10, net, 0, 0}};
        assert_int_equal(bpf_map_update(map, &k, &v, BPF_NOEXIST), 0);
    }
    run_workers(N_THREADS, lpm_worker, map, NULL, NULL);
    /* Quiet: every key dumped is found with its own value. */
    struct lpm4 key, next;
    bool first = true;
    uint32_t n = 0;
    while (bpf_map_next_key(map, first ? NULL : &key, &next) == 0) {
        struct lpm_val v;
        first = false;
        key = next;
        assert_int_equal(bpf_map_lookup(map, &key, &v), 0);
        assert_int_equal(v.prefixlen, key.prefixlen);
        assert_memory_equal(v.addr, key.addr, 4);
        n++;
    }
    assert_true(n >= 8 && n <= 8 + 8 * 16);
    map_del(map);
}

/* ---- Queues and stacks: every value out exactly once ---- */

#define QS_PER_THREAD 20000

struct qs_state {
    struct bpf_map *map;
    uint8_t seen[N_THREADS * QS_PER_THREAD]; /* Times popped. */
};

static void
qs_take(struct worker *w, struct qs_state *s, uint32_t v)
{
    if (v >= N_THREADS * QS_PER_THREAD) {
        worker_error(w, "popped a value never pushed: %u", v);
    } else if (__atomic_fetch_add(&s->seen[v], 1, __ATOMIC_RELAXED)) {
        worker_error(w, "value %u popped twice", v);
    }
}

static void
qs_worker(struct worker *w)
{
    struct qs_state *s = w->arg;
    for (uint32_t i = 0; i < QS_PER_THREAD; i++) {
        uint32_t v = (uint32_t)w->id * QS_PER_THREAD + i;
        while (s->map->ops->push(s->map, &v, 0) == -E2BIG) {
            uint32_t out;
            if (!s->map->ops->pop(s->map, &out)) {
                qs_take(w, s, out);
            }
        }
        if (i % 2) {
            uint32_t out;
            if (!s->map->ops->pop(s->map, &out)) {
                qs_take(w, s, out);
            }
        }
    }
}

static void
queue_one(uint32_t type)
{
    struct qs_state *s = calloc(1, sizeof *s);
    s->map = map_new(type, 0, 4, 64, 0);
    run_workers(N_THREADS, qs_worker, s, NULL, NULL);
    uint32_t out;
    struct worker self = {.id = -1};
    while (bpf_map_lookup_and_delete(s->map, NULL, &out) == 0) {
        qs_take(&self, s, out);
    }
    assert_int_equal(self.errors, 0);
    for (uint32_t v = 0; v < N_THREADS * QS_PER_THREAD; v++) {
        assert_int_equal(s->seen[v], 1);
    }
    map_del(s->map);
    free(s);
}

static void
test_queue_stack(void **state)
{
    queue_one(BPF_MAP_TYPE_QUEUE);
    queue_one(BPF_MAP_TYPE_STACK);
}

/* ---- Ring buffer: producers on every thread, one consumer ---- */

#define RB_PER_THREAD 20000

struct rb_state {
    struct bpf_map *map;
    uint32_t next[N_THREADS]; /* Next record expected from each. */
    uint32_t bad;             /* Records out of order or torn. */
};

static void
rb_worker(struct worker *w)
{
    struct rb_state *s = w->arg;
    for (uint32_t i = 0; i < RB_PER_THREAD; i++) {
        uint32_t rec[4] = {(uint32_t)w->id, i, ~i, (uint32_t)w->id ^ i};
        if (i % 2) {
            while (bpf_ringbuf_output(s->map, rec, sizeof rec, 0) == -EAGAIN) {
                sched_yield();
            }
            continue;
        }
        uint32_t *p;
        while (!(p = bpf_ringbuf_reserve(s->map, sizeof rec, 0))) {
            sched_yield();
        }
        memcpy(p, rec, sizeof rec);
        bpf_ringbuf_commit(p, 0, false);
    }
}

static int
rb_record(void *arg, const void *data, size_t size)
{
    struct rb_state *s = arg;
    uint32_t rec[4];
    if (size != sizeof rec) {
        s->bad++;
        return 0;
    }
    memcpy(rec, data, sizeof rec);
    if (rec[0] >= N_THREADS || rec[1] != s->next[rec[0]] || rec[2] != ~rec[1] ||
        rec[3] != (rec[0] ^ rec[1])) {
        s->bad++;
        return 0;
    }
    s->next[rec[0]]++;
    return 0;
}

static void
rb_control(void *arg)
{
    struct rb_state *s = arg;
    assert_true(bpf_ringbuf_consume(s->map, rb_record, s) >= 0);
}

static void
test_ringbuf_producers(void **state)
{
    struct rb_state s = {0};
    s.map = map_new(BPF_MAP_TYPE_RINGBUF, 0, 0, 4096, 0);
    run_workers(N_THREADS, rb_worker, &s, rb_control, &s);
    rb_control(&s);
    assert_int_equal(s.bad, 0);
    for (int t = 0; t < N_THREADS; t++) {
        assert_int_equal(s.next[t], RB_PER_THREAD);
    }
    assert_int_equal(bpf_ringbuf_query(s.map, BPF_RB_AVAIL_DATA), 0);
    map_del(s.map);
}

/* ---- BPF_ATOMIC instructions on shared memory ---- */

#define AT_RUNS 20000

static const char atomic_prog[] =
    "r2 = 1\n"
    "lock *(u64 *)(r1 +0) += r2\n"
    "r3 = 1\n"
    "r3 = atomic64_fetch_add((u64 *)(r1 +8), r3)\n"
    "r4 = 1\n"
    "lock *(u32 *)(r1 +16) += r4\n"
    "r5 = 3\n"
    "lock *(u64 *)(r1 +24) ^= r5\n"
    "r5 = 5\n"
    "r5 = atomic64_fetch_xor((u64 *)(r1 +32), r5)\n"
    "r0 = 0\n"
    "loop:\n"
    "r3 = r0\n"
    "r2 = r0\n"
    "r2 += 1\n"
    "r0 = atomic64_cmpxchg((u64 *)(r1 +40), r0, r2)\n"
    "if r0 != r3 goto loop\n"
    "r2 = 1\n"
    "r2 = atomic64_xchg((u64 *)(r1 +48), r2)\n"
    "r0 = 0\n"
    "exit\n";

struct at_state {
    struct bpf_prog *prog;
    uint64_t mem[8];
};

static void
at_worker(struct worker *w)
{
    struct at_state *s = w->arg;
    for (int i = 0; i < AT_RUNS; i++) {
        bpf_prog_run_raw(s->prog, s->mem, sizeof s->mem);
    }
}

static void
test_atomic_insns(void **state)
{
    struct bpf_insn *insns;
    size_t n;
    char *err = bpf_asm(atomic_prog, NULL, 0, &insns, &n);
    if (err) {
        fail_msg("%s", err);
    }
    for (int mode = 0; mode < 2; mode++) {
        struct bpf_prog prog = {.name = "atomics",
                                .kind = BPF_PROG_KIND_RAW,
                                .insns = insns,
                                .n_insns = (uint32_t)n,
                                .verified = true,
                                .trusted = true};
        bpf_prog_set_exec_mode(&prog, mode ? BPF_EXEC_JIT : BPF_EXEC_INTERP);
        struct at_state *s = calloc(1, sizeof *s);
        s->prog = &prog;
        /* Compiled (JIT) before the threads start. */
        uint64_t scratch[8] = {0};
        bpf_prog_run_raw(&prog, scratch, sizeof scratch);
        run_workers(N_THREADS, at_worker, s, NULL, NULL);
        uint64_t total = (uint64_t)N_THREADS * AT_RUNS;
        assert_int_equal(s->mem[0], total);
        assert_int_equal(s->mem[1], total);
        assert_int_equal((uint32_t)s->mem[2], (uint32_t)total);
        assert_int_equal(s->mem[3], total % 2 ? 3 : 0);
        assert_int_equal(s->mem[4], total % 2 ? 5 : 0);
        assert_int_equal(s->mem[5], total);
        assert_int_equal(s->mem[6], 1);
        if (prog.jit) {
            bpf_jit_free(&prog);
        }
        free(s);
    }
    free(insns);
}

/* ---- The firewall on two threads ---- */

#define FW_FLOWS 64
#define FW_PKTS 8 /* Per flow: handshake, data, teardown. */

static size_t
make_tcp(uint8_t *p, uint32_t a, uint32_t b, uint16_t sport, uint16_t dport,
         uint8_t flags)
{
    static const uint8_t eth[14] = {2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 0};
    size_t len = 14 + 20 + 20;
    memset(p, 0, len);
    memcpy(p, eth, 14);
    uint8_t *ip = p + 14, *th = ip + 20;
    ip[0] = 0x45;
    ip[3] = 40;
    ip[8] = 64;
    ip[9] = 6;
    for (int i = 0; i < 4; i++) {
        ip[12 + i] = (uint8_t)(a >> (24 - 8 * i));
        ip[16 + i] = (uint8_t)(b >> (24 - 8 * i));
    }
    th[0] = (uint8_t)(sport >> 8);
    th[1] = (uint8_t)sport;
    th[2] = (uint8_t)(dport >> 8);
    th[3] = (uint8_t)dport;
    th[12] = 0x50;
    th[13] = flags;
    th[14] = 0xfa;
    return len;
}

/* Packet 'k' of flow 'f': inside SYN, outside SYN-ACK, inside ACK, data
 * both ways, FINs; flows whose number is a multiple of 5 stop half-way, so
 * that the table ends with connections in several states.  The packet's
 * time depends only on (f, k), so any interleaving of flows gives the same
 * entries. */
static uint64_t
fw_run(struct bpf_prog *prog, uint32_t f, uint32_t k)
{
    static const uint8_t flags[FW_PKTS] = {0x02, 0x12, 0x10, 0x18,
                                           0x18, 0x11, 0x11, 0x10};
    static const bool from_inside[FW_PKTS] = {true,  false, true,  true,
                                              false, true,  false, true};
    uint8_t buf[512] = {0};
    uint32_t in = 0x0a000001 + f, out = 0xc0000201 + f % 7;
    uint16_t port = (uint16_t)(30000 + f);
    if (f % 5 == 0 && k >= 4) {
        return 0;
    }
    size_t len = from_inside[k]
                     ? make_tcp(buf + 256, in, out, port, 443, flags[k])
                     : make_tcp(buf + 256, out, in, 443, port, flags[k]);
    struct bpf_xdp_buff xdp = {
        .data_hard_start = (uintptr_t)buf,
        .data_meta = (uintptr_t)(buf + 256),
        .data = (uintptr_t)(buf + 256),
        .data_end = (uintptr_t)(buf + 256 + len),
        .frame_end = (uintptr_t)(buf + sizeof buf),
        .ingress_ifindex = from_inside[k] ? 1 : 2,
    };
    bpf_set_time_ns(1000000000ull + f * 1000ull + k);
    return bpf_prog_run_xdp(prog, &xdp);
}

struct fw_state {
    struct bpf_prog *prog;
    int n_threads;
    uint64_t verdicts[FW_FLOWS][FW_PKTS];
};

static void
fw_worker(struct worker *w)
{
    struct fw_state *s = w->arg;
    /* Flows interleaved packet by packet, as a datapath thread sees
     * them. */
    for (uint32_t k = 0; k < FW_PKTS; k++) {
        for (uint32_t f = (uint32_t)w->id; f < FW_FLOWS;
             f += (uint32_t)s->n_threads) {
            s->verdicts[f][k] = fw_run(s->prog, f, k);
        }
    }
}

/* A map's contents as sorted "key value" lines; per-CPU values summed
 * over the CPUs (u64 counters). */
static char *
fw_dump(struct bpf_map *map)
{
    uint8_t key[64], next[64], value[4096];
    size_t cap = 1 << 16, len = 0;
    char *out = calloc(1, cap);
    char **lines = NULL;
    size_t n = 0;
    bool first = true;

    while (bpf_map_next_key(map, first ? NULL : key, next) == 0) {
        first = false;
        memcpy(key, next, map->key_size);
        assert_int_equal(bpf_map_lookup(map, key, value), 0);
        char line[1024];
        size_t l = 0;
        for (uint32_t i = 0; i < map->key_size; i++) {
            l += (size_t)snprintf(line + l, sizeof line - l, "%02x", key[i]);
        }
        line[l++] = ' ';
        if (bpf_map_type_is_percpu(map->type)) {
            uint64_t sum = 0;
            for (uint32_t c = 0; c < map->n_cpus; c++) {
                uint64_t v;
                memcpy(&v, value + c * 8, 8);
                sum += v;
            }
            l += (size_t)snprintf(line + l, sizeof line - l, "%llu",
                                  (unsigned long long)sum);
        } else {
            for (uint32_t i = 0; i < map->value_size && l + 3 < sizeof line;
                 i++) {
                l += (size_t)snprintf(line + l, sizeof line - l, "%02x",
                                      value[i]);
            }
        }
        lines = realloc(lines, (n + 1) * sizeof *lines);
        lines[n++] = strdup(line);
    }
    for (size_t i = 0; i < n; i++) {
        for (size_t j = i + 1; j < n; j++) {
            if (strcmp(lines[j], lines[i]) < 0) {
                char *t = lines[i];
                lines[i] = lines[j];
                lines[j] = t;
            }
        }
    }
    len += (size_t)snprintf(out + len, cap - len, "%s:\n", map->name);
    for (size_t i = 0; i < n; i++) {
        len += (size_t)snprintf(out + len, cap - len, "  %s\n", lines[i]);
        free(lines[i]);
    }
    free(lines);
    return out;
}

static void
test_firewall_two_threads(void **state)
{
    const char *build = getenv("SLUICE_BUILD_ROOT");
    char path[4096];
    snprintf(path, sizeof path, "%s/progs/firewall.o", build ? build : ".");

    for (int mode = 0; mode < 2; mode++) {
        struct bpf_object *obj[2];
        struct fw_state *s[2];
        for (int o = 0; o < 2; o++) {
            struct bpf_load_opts lo = {.fixed_seed = true};
            char *err = NULL;
            if (bpf_object_open(path, &lo, &obj[o], &err)) {
                fail_msg("%s: %s", path, err ? err : "cannot open");
            }
            struct bpf_prog *prog = bpf_object_prog(obj[o], 0);
            struct bpf_verify_result res;
            memset(&res, 0, sizeof res);
            bpf_prog_verify(prog, &res);
            assert_true(res.accepted);
            bpf_verify_result_destroy(&res);
            bpf_prog_set_exec_mode(prog, mode ? BPF_EXEC_JIT : BPF_EXEC_INTERP);
            s[o] = calloc(1, sizeof *s[o]);
            s[o]->prog = prog;
            s[o]->n_threads = o + 1;
            /* A first run (non-IP, counted alike in both) compiles it. */
            uint8_t buf[128] = {0};
            struct bpf_xdp_buff xdp = {
                .data_hard_start = (uintptr_t)buf,
                .data_meta = (uintptr_t)(buf + 64),
                .data = (uintptr_t)(buf + 64),
                .data_end = (uintptr_t)(buf + 64 + 60),
                .frame_end = (uintptr_t)(buf + sizeof buf),
                .ingress_ifindex = 1,
            };
            bpf_set_cpu(0);
            bpf_prog_run_xdp(prog, &xdp);
        }
        run_workers(1, fw_worker, s[0], NULL, NULL);
        run_workers(2, fw_worker, s[1], NULL, NULL);
        assert_memory_equal(s[0]->verdicts, s[1]->verdicts,
                            sizeof s[0]->verdicts);
        for (size_t m = 0; m < bpf_object_n_maps(obj[0]); m++) {
            struct bpf_map *a = bpf_object_map(obj[0], m);
            struct bpf_map *b = bpf_object_map(obj[1], m);
            if (a->type != BPF_MAP_TYPE_HASH &&
                a->type != BPF_MAP_TYPE_PERCPU_ARRAY) {
                continue;
            }
            char *da = fw_dump(a), *db = fw_dump(b);
            assert_string_equal(da, db);
            free(da);
            free(db);
        }
        /* The conns map is not trivially empty: the test means something. */
        struct bpf_map *conns = bpf_object_find_map(obj[1], "fw_conns");
        assert_non_null(conns);
        uint8_t k0[64];
        assert_int_equal(bpf_map_next_key(conns, NULL, k0), 0);
        for (int o = 0; o < 2; o++) {
            bpf_object_close(obj[o]);
            free(s[o]);
        }
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_disjoint),
        cmocka_unit_test(test_hash_shared_buckets),
        cmocka_unit_test(test_flowtable_shared),
        cmocka_unit_test(test_lru_evicting),
        cmocka_unit_test(test_percpu_exact),
        cmocka_unit_test(test_lpm_concurrent),
        cmocka_unit_test(test_queue_stack),
        cmocka_unit_test(test_ringbuf_producers),
        cmocka_unit_test(test_atomic_insns),
        cmocka_unit_test(test_firewall_two_threads),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
