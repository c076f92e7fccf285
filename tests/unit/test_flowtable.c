/* Unit tests of sluice's expiring flow table (src/bpf/map_flowtable.c,
 * BPF_MAP_TYPE_SLUICE_FLOWTABLE): slot allocation (most recently freed
 * first), the full state, expiry exactly at and past the timeout, lazy
 * expiry bursts with bounded work, lock-free refreshes with several
 * threads (the same outcome as with one), and the control-plane views.
 *
 * A program's operations are simulated by calling map->ops with a run
 * context set (as the interpreter does) and the packet time set with
 * bpf_set_time_ns(); control-plane operations run without one. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../progs/sluice_maps.h"
#include "bpf/bpf_api.h"
#include "bpf/helpers.h"
#include "bpf/maps.h"

#define SEC 1000000000ull
#define T0 (1000 * SEC)

_Static_assert(BPF_MAP_TYPE_SLUICE_FLOWTABLE == 0x5100,
               "programs and the runtime agree on the type number");

struct val {
    uint32_t slot; /* Filled by the map. */
    uint32_t data;
};

static struct bpf_run_ctx run_ctx;

static struct bpf_map *
ft_try(uint32_t key_size, uint32_t value_size, uint32_t max_entries,
       uint32_t flags, int *err)
{
    struct bpf_map *m = calloc(1, sizeof *m);
    strcpy(m->name, "ft");
    m->type = BPF_MAP_TYPE_SLUICE_FLOWTABLE;
    m->key_size = key_size;
    m->value_size = value_size;
    m->max_entries = max_entries;
    m->map_flags = flags;
    *err = bpf_map_create_internal(m);
    return m;
}

static struct bpf_map *
ft_new(uint32_t max_entries, uint32_t capacity, uint64_t timeout_ns)
{
    int err;
    struct bpf_map *m = ft_try(4, sizeof(struct val), max_entries, 0, &err);
    assert_int_equal(err, 0);
    assert_int_equal(bpf_flowtable_configure(m, capacity, timeout_ns), 0);
    return m;
}

static void
ft_del(struct bpf_map *m)
{
    bpf_map_free_internal(m);
    free(m);
}

/* A program's lookup at packet time 't': the entry's slot, or -1. */
static int64_t
p_lookup(struct bpf_map *m, uint32_t key, uint64_t t)
{
    bpf_set_time_ns(t);
    bpf_run_cur = &run_ctx;
    struct val *v = m->ops->lookup(m, &key);
    bpf_run_cur = NULL;
    return v ? (int64_t)v->slot : -1;
}

/* A program's insert (BPF_NOEXIST) at 't': the new slot, or the errno. */
static int64_t
p_insert(struct bpf_map *m, uint32_t key, uint64_t t)
{
    struct val v = {.slot = 0xdeadbeef, .data = key * 7};
    bpf_set_time_ns(t);
    bpf_run_cur = &run_ctx;
    int err = m->ops->update(m, &key, &v, BPF_NOEXIST);
    bpf_run_cur = NULL;
    if (err) {
        return err;
    }
    return p_lookup(m, key, t);
}

static int
p_delete(struct bpf_map *m, uint32_t key, uint64_t t)
{
    bpf_set_time_ns(t);
    bpf_run_cur = &run_ctx;
    int err = m->ops->delete (m, &key);
    bpf_run_cur = NULL;
    return err;
}

static struct bpf_flowtable_stats
stats_of(struct bpf_map *m)
{
    struct bpf_flowtable_stats s;
    assert_int_equal(bpf_flowtable_get_stats(m, &s), 0);
    return s;
}

static void
test_create_checks(void **state)
{
    int err;
    (void)state;
    ft_del(ft_try(4, 3, 8, 0, &err));
    assert_int_equal(err, -EINVAL); /* No room for the slot. */
    ft_del(ft_try(0, 8, 8, 0, &err));
    assert_int_equal(err, -EINVAL);
    ft_del(ft_try(4, 8, 0, 0, &err));
    assert_int_equal(err, -EINVAL);
    ft_del(ft_try(4, 8, 8, BPF_F_NO_PREALLOC, &err));
    assert_int_equal(err, -EINVAL);
    ft_del(ft_try(4, 8, 1u << 30, 0, &err));
    assert_int_equal(err, -E2BIG);
    struct bpf_map *m = ft_try(4, 8, 8, BPF_F_ZERO_SEED, &err);
    assert_int_equal(err, 0);
    assert_int_equal(bpf_flowtable_configure(m, 9, SEC), -E2BIG);
    assert_int_equal(bpf_flowtable_configure(m, 0, SEC), -E2BIG);
    assert_int_equal(bpf_flowtable_configure(m, 8, SEC), 0);
    ft_del(m);

    /* The flow-table calls refuse other map types. */
    struct bpf_map *a = calloc(1, sizeof *a);
    a->type = BPF_MAP_TYPE_ARRAY;
    a->key_size = 4;
    a->value_size = 8;
    a->max_entries = 2;
    assert_int_equal(bpf_map_create_internal(a), 0);
    assert_int_equal(bpf_flowtable_configure(a, 1, 0), -EINVAL);
    assert_int_equal(bpf_flowtable_slot_key(a, 0, NULL, NULL), -EINVAL);
    ft_del(a);
}

static void
test_slots_in_order_and_value_header(void **state)
{
    (void)state;
    struct bpf_map *m = ft_new(16, 16, 0);
    for (uint32_t k = 0; k < 16; k++) {
        assert_int_equal(p_insert(m, 100 + k, T0), k);
    }
    /* The map overwrote the slot the caller stored; the rest is the
     * caller's. */
    struct val v;
    uint32_t key = 105;
    assert_int_equal(bpf_map_lookup(m, &key, &v), 0);
    assert_int_equal(v.slot, 5);
    assert_int_equal(v.data, 105 * 7);
    /* Reverse lookup: slot -> key. */
    uint32_t back;
    assert_int_equal(bpf_flowtable_slot_key(m, 9, &back, &v), 0);
    assert_int_equal(back, 109);
    assert_int_equal(v.slot, 9);
    assert_int_equal(bpf_flowtable_slot_key(m, 16, &back, NULL), -E2BIG);
    /* BPF_NOEXIST on a live key; BPF_EXIST on a missing one. */
    assert_int_equal(p_insert(m, 100, T0), -EEXIST);
    struct val nv = {0};
    key = 7;
    assert_int_equal(bpf_map_update(m, &key, &nv, BPF_EXIST), -ENOENT);
    assert_int_equal(bpf_map_update(m, &key, &nv, 7), -EINVAL);
    ft_del(m);
}

static void
test_full_never_evicts(void **state)
{
    (void)state;
    struct bpf_map *m = ft_new(8, 4, 10 * SEC);
    for (uint32_t k = 0; k < 4; k++) {
        assert_int_equal(p_insert(m, k, T0 + k), k);
    }
    assert_int_equal(p_insert(m, 99, T0 + 5), -E2BIG);
    /* Even the oldest entry, idle exactly the timeout, is live. */
    assert_int_equal(p_insert(m, 99, T0 + 10 * SEC), -E2BIG);
    assert_int_equal(stats_of(m).full, 2);
    for (uint32_t k = 0; k < 4; k++) {
        assert_int_equal(p_lookup(m, k, T0 + 10 * SEC), k);
    }
    /* Updating a live key while full works and keeps its slot. */
    struct val v = {.data = 1};
    uint32_t key = 2;
    bpf_run_cur = &run_ctx;
    assert_int_equal(m->ops->update(m, &key, &v, BPF_ANY), 0);
    bpf_run_cur = NULL;
    assert_int_equal(p_lookup(m, 2, T0 + 10 * SEC), 2);
    assert_int_equal(stats_of(m).live, 4);
    ft_del(m);
}

static void
test_most_recently_freed_first(void **state)
{
    (void)state;
    struct bpf_map *m = ft_new(16, 16, 0);
    for (uint32_t k = 0; k < 6; k++) {
        assert_int_equal(p_insert(m, k, T0), k);
    }
    assert_int_equal(p_delete(m, 1, T0), 0);
    assert_int_equal(p_delete(m, 4, T0), 0);
    assert_int_equal(p_delete(m, 3, T0), 0);
    assert_int_equal(p_delete(m, 3, T0), -ENOENT);
    assert_int_equal(p_insert(m, 50, T0), 3);
    assert_int_equal(p_insert(m, 51, T0), 4);
    assert_int_equal(p_insert(m, 52, T0), 1);
    assert_int_equal(p_insert(m, 53, T0), 6); /* Then never-used ones. */
    assert_int_equal(p_lookup(m, 1, T0), -1);
    ft_del(m);
}

/* Control-plane insert (state import): no program runs. */
static void
c_insert(struct bpf_map *m, uint32_t key)
{
    struct val v = {.slot = 0, .data = key};
    assert_int_equal(m->ops->update(m, &key, &v, BPF_NOEXIST), 0);
}

/* Restored ages decide expiry and the age order, both in a table whose
 * clock runs and in a fresh one, where they are anchored at the first
 * packet time. */
static void
test_restore_ages(void **state)
{
    (void)state;
    const uint64_t t = 30 * SEC;
    for (int fresh = 0; fresh < 2; fresh++) {
        struct bpf_map *m = ft_new(8, 8, t);
        uint64_t now = T0;
        if (!fresh) {
            /* Start the clock with an entry that is then deleted. */
            assert_int_equal(p_insert(m, 99, now), 0);
            assert_int_equal(p_delete(m, 99, now), 0);
        }
        c_insert(m, 1);
        c_insert(m, 2);
        c_insert(m, 3);
        uint32_t keys[2] = {1, 2};
        uint64_t ages[2] = {25 * SEC, 5 * SEC};
        assert_int_equal(bpf_flowtable_restore_ages(m, keys, ages, 2), 0);
        uint64_t age;
        assert_int_equal(bpf_flowtable_slot_age(m, 0, &age), 0);
        assert_int_equal(age, 25 * SEC);
        assert_int_equal(bpf_flowtable_slot_age(m, 2, &age), 0);
        assert_int_equal(age, 0);
        /* Nothing expires before the clock moves, however long ago. */
        assert_int_equal(stats_of(m).live, 3);
        if (fresh) {
            /* Another time line: the first packet time anchors. */
            now = T0 + 1000 * SEC;
            assert_int_equal(p_lookup(m, 3, now), 2);
        }
        /* 6 s later key 1 is 31 s idle: gone; key 2 (11 s) holds. */
        assert_int_equal(p_lookup(m, 1, now + 6 * SEC), -1);
        assert_int_equal(p_lookup(m, 2, now + 6 * SEC), 1);
        /* Key 1 was the oldest: the age order was rebuilt, so one
         * expiry found it first. */
        assert_int_equal(stats_of(m).expired, 1);
        uint32_t missing = 7;
        assert_int_equal(bpf_flowtable_restore_ages(m, &missing, ages, 1),
                         -ENOENT);
        ft_del(m);
    }
}

/* With several datapath threads a program's lookup refreshes without
 * the lock and without moving the entry in the age order; the expiry
 * scan requeues a refreshed entry it meets at the tail.  The slots, the
 * survivors and the expiries must be those of one thread, where every
 * refresh moves the entry. */
static void
test_lazy_refresh_same_outcome(void **state)
{
    (void)state;
    const uint64_t t = 30 * SEC;
    for (int threads = 1; threads <= 2; threads++) {
        bpf_maps_set_threads((uint32_t)threads);
        struct bpf_map *m = ft_new(8, 4, t);
        for (uint32_t k = 1; k <= 4; k++) {
            assert_int_equal(p_insert(m, k, T0), k - 1);
        }
        /* Key 1, the oldest queued, is used half a timeout later. */
        assert_int_equal(p_lookup(m, 1, T0 + t / 2), 0);
        /* Full; past the timeout keys 2-4 have expired, key 1 has not:
         * the scan keeps key 1 and frees 2, 3, 4; the newest freed slot
         * (key 4's) goes to key 5. */
        assert_int_equal(p_insert(m, 5, T0 + t + 1), 3);
        struct bpf_flowtable_stats st = stats_of(m);
        assert_int_equal(st.expired, 3);
        assert_int_equal(st.entries, 2);
        assert_int_equal(p_lookup(m, 1, T0 + t + 2), 0);
        assert_int_equal(p_lookup(m, 2, T0 + t + 2), -1);
        /* An older packet time moves neither the clock nor the entry's
         * time back. */
        assert_int_equal(p_lookup(m, 1, T0 + 10), 0);
        uint64_t age;
        assert_int_equal(bpf_flowtable_slot_age(m, 0, &age), 0);
        assert_int_equal(age, 0);
        /* Key 1 expires a timeout after its last use, not its insert. */
        assert_int_equal(p_lookup(m, 1, T0 + 2 * t + 2), 0);
        assert_int_equal(p_lookup(m, 1, T0 + 3 * t + 3), -1);
        ft_del(m);
    }
    bpf_maps_set_threads(1);
}

static void
test_exactly_at_timeout_survives(void **state)
{
    (void)state;
    const uint64_t t = 30 * SEC;
    struct bpf_map *m = ft_new(8, 8, t);
    assert_int_equal(p_insert(m, 1, T0), 0);
    assert_int_equal(p_insert(m, 2, T0), 1);
    /* Idle exactly T: survives, and the lookup refreshes it. */
    assert_int_equal(p_lookup(m, 1, T0 + t), 0);
    assert_int_equal(p_lookup(m, 1, T0 + 2 * t), 0);
    /* Key 2 has been idle 2T: gone (and was never refreshed). */
    assert_int_equal(p_lookup(m, 2, T0 + 2 * t), -1);
    /* One nanosecond past T: gone. */
    assert_int_equal(p_lookup(m, 1, T0 + 3 * t + 1), -1);
    assert_int_equal(stats_of(m).expired, 2);
    assert_int_equal(stats_of(m).entries, 0);
    ft_del(m);
}

static void
test_lone_entry_refreshed(void **state)
{
    (void)state;
    /* The only entry is both newest and oldest: refreshing it must move
     * its expiry too, whatever other operations run meanwhile. */
    const uint64_t t = 10 * SEC;
    struct bpf_map *m = ft_new(8, 8, t);
    assert_int_equal(p_insert(m, 1, T0), 0);
    for (uint64_t k = 1; k <= 5; k++) {
        assert_int_equal(p_lookup(m, 1, T0 + k * t), 0);
        assert_int_equal(p_lookup(m, 99, T0 + k * t + t / 2), -1);
    }
    assert_int_equal(stats_of(m).expired, 0);
    ft_del(m);
}

static void
test_expired_slots_reused(void **state)
{
    (void)state;
    const uint64_t t = 10 * SEC;
    struct bpf_map *m = ft_new(8, 4, t);
    /* Fill at different times: slot k used at T0 + k s. */
    for (uint32_t k = 0; k < 4; k++) {
        assert_int_equal(p_insert(m, k, T0 + k * SEC), k);
    }
    /* At T0 + 11.5 s, slots 0 (idle 11.5 s) and 1 (10.5 s) have expired,
     * 2 (9.5 s) and 3 have not.  Expiry frees oldest first, so slot 1 is
     * the most recently freed and is taken first. */
    uint64_t now = T0 + 11 * SEC + SEC / 2;
    assert_int_equal(p_insert(m, 10, now), 1);
    assert_int_equal(p_insert(m, 11, now), 0);
    assert_int_equal(p_insert(m, 12, now), -E2BIG);
    assert_int_equal(p_lookup(m, 0, now), -1);
    assert_int_equal(p_lookup(m, 2, now), 2);
    assert_int_equal(p_lookup(m, 3, now), 3);
    /* The reverse view follows the reuse. */
    uint32_t key;
    assert_int_equal(bpf_flowtable_slot_key(m, 1, &key, NULL), 0);
    assert_int_equal(key, 10);
    ft_del(m);
}

static void
test_full_of_expired_reclaims(void **state)
{
    (void)state;
    /* When every entry expired but no operation ran in between, an insert
     * into the full table still finds a slot. */
    const uint64_t t = SEC;
    struct bpf_map *m = ft_new(64, 64, t);
    for (uint32_t k = 0; k < 64; k++) {
        assert_int_equal(p_insert(m, k, T0), k);
    }
    for (uint32_t k = 0; k < 64; k++) {
        int64_t slot = p_insert(m, 1000 + k, T0 + 5 * t);
        assert_true(slot >= 0 && slot < 64);
    }
    assert_int_equal(stats_of(m).live, 64);
    assert_int_equal(stats_of(m).expired, 64);
    ft_del(m);
}

static void
test_expiry_burst_is_bounded(void **state)
{
    (void)state;
    const uint64_t t = SEC;
    struct bpf_map *m = ft_new(1024, 1024, t);
    for (uint32_t k = 0; k < 1000; k++) {
        assert_int_equal(p_insert(m, k, T0), k);
    }
    struct bpf_map_costs costs = {0};
    bpf_map_costs = &costs;
    /* One lookup of an absent key after all 1000 expired does bounded
     * work. */
    assert_int_equal(p_lookup(m, 5000, T0 + 2 * t), -1);
    assert_int_equal(costs.expired, BPF_FLOWTABLE_EXPIRE_BUDGET);
    assert_int_equal(stats_of(m).entries, 1000 - BPF_FLOWTABLE_EXPIRE_BUDGET);
    /* Yet every expired entry is absent already, and meeting one removes
     * it on the spot (one more expiry). */
    assert_int_equal(stats_of(m).live, 0);
    memset(&costs, 0, sizeof costs);
    assert_int_equal(p_lookup(m, 999, T0 + 2 * t), -1);
    assert_int_equal(costs.expired, BPF_FLOWTABLE_EXPIRE_BUDGET + 1);
    assert_int_equal(costs.ops, 1);
    bpf_map_costs = NULL;
    /* The burst drains at the bounded rate. */
    uint32_t before = stats_of(m).entries;
    for (int i = 0; i < 10; i++) {
        p_lookup(m, 5000, T0 + 2 * t);
    }
    assert_int_equal(stats_of(m).entries,
                     before - 10 * BPF_FLOWTABLE_EXPIRE_BUDGET);
    ft_del(m);
}

static void
test_control_plane_does_not_refresh(void **state)
{
    (void)state;
    const uint64_t t = 10 * SEC;
    struct bpf_map *m = ft_new(8, 8, t);
    assert_int_equal(p_insert(m, 1, T0), 0);
    assert_int_equal(p_insert(m, 2, T0 + 8 * SEC), 1);
    /* The map's clock is T0 + 8 s; control-plane reads see both and touch
     * neither, whatever the thread's time. */
    bpf_set_time_ns(T0 + 100 * t);
    struct val v;
    uint32_t key = 1;
    assert_int_equal(bpf_map_lookup(m, &key, &v), 0);
    assert_int_equal(stats_of(m).clock_ns, T0 + 8 * SEC);
    /* Key 1 expires at its own time: not refreshed by the read above. */
    assert_int_equal(p_lookup(m, 2, T0 + 10 * SEC + 1), 1);
    assert_int_equal(bpf_map_lookup(m, &key, &v), -ENOENT);
    ft_del(m);
}

static void
test_clock_never_goes_back(void **state)
{
    (void)state;
    const uint64_t t = 10 * SEC;
    struct bpf_map *m = ft_new(8, 8, t);
    assert_int_equal(p_insert(m, 1, T0 + 5 * SEC), 0);
    /* A late packet stamped earlier counts at the map's clock. */
    assert_int_equal(p_insert(m, 2, T0), 1);
    assert_int_equal(p_lookup(m, 2, T0 + 15 * SEC), 1);
    assert_int_equal(p_lookup(m, 1, T0 + 15 * SEC + 1), -1);
    ft_del(m);
}

static void
test_next_key_skips_expired(void **state)
{
    (void)state;
    const uint64_t t = 10 * SEC;
    struct bpf_map *m = ft_new(8, 8, t);
    for (uint32_t k = 0; k < 4; k++) {
        assert_int_equal(p_insert(m, 10 + k, T0), k);
    }
    assert_int_equal(p_lookup(m, 11, T0 + 5 * SEC), 1);
    assert_int_equal(p_lookup(m, 13, T0 + 6 * SEC), 3);
    /* Advance the clock past 10's and 12's timeout without touching. */
    assert_int_equal(p_lookup(m, 99, T0 + 11 * SEC), -1);
    uint32_t k, seen[8];
    int n = 0;
    for (int err = bpf_map_next_key(m, NULL, &k); !err;
         err = bpf_map_next_key(m, &k, &k)) {
        seen[n++] = k;
        assert_true(n < 8);
    }
    assert_int_equal(n, 2);
    assert_int_equal(seen[0], 11);
    assert_int_equal(seen[1], 13);
    assert_int_equal(bpf_flowtable_slot_key(m, 0, &k, NULL), -ENOENT);
    assert_int_equal(bpf_flowtable_slot_key(m, 5, &k, NULL), -ENOENT);
    ft_del(m);
}

static void
test_configure_empties(void **state)
{
    (void)state;
    struct bpf_map *m = ft_new(8, 8, 0);
    assert_int_equal(p_insert(m, 1, T0), 0);
    assert_int_equal(p_insert(m, 2, T0), 1);
    assert_int_equal(bpf_flowtable_configure(m, 2, SEC), 0);
    assert_int_equal(p_lookup(m, 1, T0), -1);
    assert_int_equal(p_insert(m, 3, T0), 0);
    assert_int_equal(p_insert(m, 4, T0), 1);
    assert_int_equal(p_insert(m, 5, T0), -E2BIG); /* Capacity 2 of 8. */
    struct bpf_flowtable_stats s = stats_of(m);
    assert_int_equal(s.capacity, 2);
    assert_int_equal(s.timeout_ns, SEC);
    assert_true(s.elem_bytes >= 32 + 8 + 8);
    ft_del(m);

    /* Created for several threads, an element takes whole cache lines
     * (elem_bytes counts its bucket word too). */
    bpf_maps_set_threads(2);
    m = ft_new(8, 8, 0);
    s = stats_of(m);
    assert_int_equal((s.elem_bytes - sizeof(uint32_t)) % 64, 0);
    ft_del(m);
    bpf_maps_set_threads(1);
}

/* A reference model of the same rules, driven with random operations. */
#define REF_N 32
struct ref {
    int64_t key[REF_N]; /* -1 = free. */
    uint64_t time[REF_N];
    uint32_t bumped; /* Slots ever used. */
};

static void
test_random_against_model(void **state)
{
    (void)state;
    const uint64_t t = 50;
    struct bpf_map *m = ft_new(REF_N, REF_N, t);
    struct ref r = {.bumped = 0};
    uint64_t now = T0;
    srand(7);
    for (int i = 0; i < REF_N; i++) {
        r.key[i] = -1;
    }
    for (int step = 0; step < 20000; step++) {
        now += (uint64_t)(rand() % 8);
        uint32_t key = (uint32_t)(rand() % 64);
        int op = rand() % 3;
        int found = -1;
        for (int i = 0; i < REF_N; i++) {
            if (r.key[i] == key && now - r.time[i] <= t) {
                found = i;
            }
        }
        if (op == 0) {
            int64_t got = p_lookup(m, key, now);
            assert_int_equal(got, found);
            if (found >= 0) {
                r.time[found] = now;
            }
        } else if (op == 1) {
            int64_t got = p_insert(m, key, now);
            if (found >= 0) {
                assert_int_equal(got, -EEXIST);
                continue;
            }
            /* Room exists when a slot was never used, was deleted, or
             * holds an expired entry. */
            bool any_free = r.bumped < REF_N;
            for (uint32_t i = 0; i < r.bumped && !any_free; i++) {
                any_free = r.key[i] < 0 || now - r.time[i] > t;
            }
            if (!any_free) {
                assert_int_equal(got, -E2BIG);
                continue;
            }
            assert_true(got >= 0 && got < REF_N);
            /* Whatever slot the map chose must be free or expired in the
             * model, and live entries keep theirs. */
            assert_true(r.key[got] < 0 || now - r.time[got] > t);
            r.key[got] = key;
            r.time[got] = now;
            if ((uint32_t)got >= r.bumped) {
                r.bumped = (uint32_t)got + 1;
            }
        } else {
            int err = p_delete(m, key, now);
            assert_int_equal(err, found >= 0 ? 0 : -ENOENT);
            if (found >= 0) {
                r.key[found] = -1;
            }
        }
        uint32_t live = 0;
        for (int i = 0; i < REF_N; i++) {
            live += r.key[i] >= 0 && now - r.time[i] <= t;
        }
        assert_int_equal(stats_of(m).live, live);
    }
    ft_del(m);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_checks),
        cmocka_unit_test(test_slots_in_order_and_value_header),
        cmocka_unit_test(test_full_never_evicts),
        cmocka_unit_test(test_most_recently_freed_first),
        cmocka_unit_test(test_exactly_at_timeout_survives),
        cmocka_unit_test(test_restore_ages),
        cmocka_unit_test(test_lazy_refresh_same_outcome),
        cmocka_unit_test(test_lone_entry_refreshed),
        cmocka_unit_test(test_expired_slots_reused),
        cmocka_unit_test(test_full_of_expired_reclaims),
        cmocka_unit_test(test_expiry_burst_is_bounded),
        cmocka_unit_test(test_control_plane_does_not_refresh),
        cmocka_unit_test(test_clock_never_goes_back),
        cmocka_unit_test(test_next_key_skips_expired),
        cmocka_unit_test(test_configure_empties),
        cmocka_unit_test(test_random_against_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
