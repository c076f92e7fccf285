/* Unit tests of the eBPF maps (src/bpf/map_*.c): every type's semantics and
 * errno as the kernel defines them, through both the program view
 * (map->ops) and the control-plane view (bpf_map_lookup() and friends). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

/* With libbpf present, the same operations also run on kernel maps and
 * every result is compared (skipped where the bpf() syscall is refused). */
#if __has_include(<bpf/bpf.h>) && __has_include(<bpf/libbpf.h>)
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#define HAVE_KERNEL_DIFF 1
#endif

#include "bpf/bpf_api.h"
#include "bpf/jit.h"
#include "bpf/maps.h"
#include "core/log.h"

static struct bpf_map *
map_try(uint32_t type, uint32_t key_size, uint32_t value_size,
        uint32_t max_entries, uint32_t flags, int *err)
{
    struct bpf_map *m = calloc(1, sizeof *m);
    strcpy(m->name, "test");
    m->type = type;
    m->key_size = key_size;
    m->value_size = value_size;
    m->max_entries = max_entries;
    m->map_flags = flags;
    *err = bpf_map_create_internal(m);
    return m;
}

static struct bpf_map *
map_new(uint32_t type, uint32_t key_size, uint32_t value_size,
        uint32_t max_entries, uint32_t flags)
{
    int err;
    struct bpf_map *m =
        map_try(type, key_size, value_size, max_entries, flags, &err);
    assert_int_equal(err, 0);
    return m;
}

static struct bpf_map *
percpu_new(uint32_t type, uint32_t key_size, uint32_t value_size,
           uint32_t max_entries, uint32_t n_cpus)
{
    struct bpf_map *m = calloc(1, sizeof *m);
    strcpy(m->name, "pcpu");
    m->type = type;
    m->key_size = key_size;
    m->value_size = value_size;
    m->max_entries = max_entries;
    m->n_cpus = n_cpus;
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
create_err(uint32_t type, uint32_t ks, uint32_t vs, uint32_t max,
           uint32_t flags)
{
    int err;
    struct bpf_map *m = map_try(type, ks, vs, max, flags, &err);
    map_del(m);
    return err;
}

/* ---- Hash ---- */

static void
test_hash_basic(void **state)
{
    struct bpf_map *m = map_new(BPF_MAP_TYPE_HASH, 4, 8, 16, 0);
    uint32_t k = 7;
    uint64_t v = 100, out;

    assert_null(m->ops->lookup(m, &k));
    assert_int_equal(bpf_map_lookup(m, &k, &out), -ENOENT);
    assert_int_equal(m->ops->update(m, &k, &v, BPF_EXIST), -ENOENT);
    assert_int_equal(m->ops->update(m, &k, &v, BPF_NOEXIST), 0);
    assert_int_equal(m->ops->update(m, &k, &v, BPF_NOEXIST), -EEXIST);
    assert_int_equal(m->ops->update(m, &k, &v, BPF_EXIST + 1), -EINVAL);
    assert_int_equal(m->ops->update(m, &k, &v, BPF_F_LOCK), -EINVAL);
    uint64_t *p = m->ops->lookup(m, &k);
    assert_non_null(p);
    assert_int_equal(*p, 100);
    v = 200;
    assert_int_equal(m->ops->update(m, &k, &v, BPF_EXIST), 0);
    /* In-place update: the pointer stays valid and sees the new value. */
    assert_ptr_equal(m->ops->lookup(m, &k), p);
    assert_int_equal(*p, 200);
    assert_int_equal(bpf_map_lookup(m, &k, &out), 0);
    assert_int_equal(out, 200);
    assert_int_equal(m->ops->delete (m, &k), 0);
    assert_int_equal(m->ops->delete (m, &k), -ENOENT);
    assert_null(m->ops->lookup(m, &k));
    map_del(m);
}

static void
test_hash_full_e2big(void **state)
{
    struct bpf_map *m = map_new(BPF_MAP_TYPE_HASH, 4, 4, 8, 0);
    for (uint32_t k = 0; k < 8; k++) {
        assert_int_equal(bpf_map_update(m, &k, &k, BPF_ANY), 0);
    }
    uint32_t k = 8, v = 1;
    assert_int_equal(bpf_map_update(m, &k, &v, BPF_ANY), -E2BIG);
    assert_int_equal(bpf_map_update(m, &k, &v, BPF_NOEXIST), -E2BIG);
    /* Replacing an existing key still works when full. */
    k = 3;
    assert_int_equal(bpf_map_update(m, &k, &v, BPF_ANY), 0);
    assert_int_equal(bpf_map_delete(m, &k), 0);
    k = 8;
    assert_int_equal(bpf_map_update(m, &k, &v, BPF_ANY), 0);
    map_del(m);
}

static void
test_hash_pointer_stability(void **state)
{
    struct bpf_map *m = map_new(BPF_MAP_TYPE_HASH, 8, 16, 1000, 0);
    uint64_t key = 42, val[2] = {1, 2};
    assert_int_equal(m->ops->update(m, &key, val, BPF_ANY), 0);
    uint64_t *p = m->ops->lookup(m, &key);
    for (uint64_t k = 1000; k < 1999; k++) {
        assert_int_equal(m->ops->update(m, &k, val, BPF_ANY), 0);
    }
    for (uint64_t k = 1000; k < 1500; k++) {
        assert_int_equal(m->ops->delete (m, &k), 0);
    }
    assert_ptr_equal(m->ops->lookup(m, &key), p);
    assert_int_equal(p[1], 2);
    map_del(m);
}

static void
test_hash_iterate(void **state)
{
    struct bpf_map *m = map_new(BPF_MAP_TYPE_HASH, 4, 4, 100, 0);
    uint8_t seen[100] = {0};
    uint32_t k, next;

    assert_int_equal(bpf_map_next_key(m, NULL, &next), -ENOENT);
    for (k = 0; k < 100; k += 2) {
        assert_int_equal(bpf_map_update(m, &k, &k, BPF_ANY), 0);
    }
    int n = 0;
    int err = bpf_map_next_key(m, NULL, &next);
    while (!err) {
        assert_true(next < 100 && next % 2 == 0);
        assert_int_equal(seen[next], 0);
        seen[next] = 1;
        n++;
        k = next;
        err = bpf_map_next_key(m, &k, &next);
    }
    assert_int_equal(err, -ENOENT);
    assert_int_equal(n, 50);
    /* A key that is not there gives the first key, as in the kernel. */
    k = 1;
    uint32_t first;
    assert_int_equal(bpf_map_next_key(m, NULL, &first), 0);
    assert_int_equal(bpf_map_next_key(m, &k, &next), 0);
    assert_int_equal(next, first);
    map_del(m);
}

static void
test_hash_create_errors(void **state)
{
    assert_int_equal(create_err(BPF_MAP_TYPE_HASH, 0, 4, 4, 0), -EINVAL);
    assert_int_equal(create_err(BPF_MAP_TYPE_HASH, 4, 0, 4, 0), -EINVAL);
    assert_int_equal(create_err(BPF_MAP_TYPE_HASH, 4, 4, 0, 0), -EINVAL);
    assert_int_equal(create_err(BPF_MAP_TYPE_HASH, 4, 4u << 20, 4, 0), -E2BIG);
    assert_int_equal(create_err(BPF_MAP_TYPE_HASH, 4, 4, 4, 1u << 20), -EINVAL);
    assert_int_equal(
        create_err(BPF_MAP_TYPE_HASH, 4, 4, 4, BPF_F_NO_COMMON_LRU), -EINVAL);
    assert_int_equal(
        create_err(BPF_MAP_TYPE_LRU_HASH, 4, 4, 4, BPF_F_NO_PREALLOC),
        -EOPNOTSUPP);
    assert_int_equal(create_err(BPF_MAP_TYPE_PERCPU_HASH, 4, 40000, 4, 0),
                     -E2BIG);
    assert_int_equal(create_err(BPF_MAP_TYPE_ARRAY, 4, 4, 4, BPF_F_ZERO_SEED),
                     -EINVAL);
    assert_int_equal(create_err(BPF_MAP_TYPE_DEVMAP, 4, 4, 4, 0), -EOPNOTSUPP);
    assert_int_equal(create_err(BPF_MAP_TYPE_HASH, 4, 4, 4, BPF_F_NO_PREALLOC),
                     0);
}

static void
test_hash_seed(void **state)
{
    struct bpf_map *a = map_new(BPF_MAP_TYPE_HASH, 4, 4, 4, 0);
    struct bpf_map *b = map_new(BPF_MAP_TYPE_HASH, 4, 4, 4, 0);
    struct bpf_map *c = map_new(BPF_MAP_TYPE_HASH, 4, 4, 4, 0);
    struct bpf_map *z = map_new(BPF_MAP_TYPE_HASH, 4, 4, 4, BPF_F_ZERO_SEED);
    /* Three random 32-bit seeds all equal: probability 2^-64. */
    assert_false(a->hash_seed == b->hash_seed && b->hash_seed == c->hash_seed);
    assert_int_equal(z->hash_seed, 0);
    map_del(a);
    map_del(b);
    map_del(c);
    map_del(z);
}

static void
test_percpu_hash(void **state)
{
    struct bpf_map *m = percpu_new(BPF_MAP_TYPE_PERCPU_HASH, 4, 4, 8, 4);
    uint32_t k = 1, v = 11;
    uint64_t all[4];

    assert_int_equal(m->n_cpus, 4);
    assert_int_equal(bpf_map_sys_value_size(m), 32);
    bpf_set_cpu(2);
    assert_int_equal(m->ops->update(m, &k, &v, BPF_ANY), 0);
    assert_int_equal(*(uint32_t *)m->ops->lookup(m, &k), 11);
    bpf_set_cpu(1);
    assert_int_equal(*(uint32_t *)m->ops->lookup(m, &k), 0);
    v = 22;
    assert_int_equal(m->ops->update(m, &k, &v, BPF_EXIST), 0);
    assert_int_equal(bpf_map_lookup(m, &k, all), 0);
    assert_int_equal((uint32_t)all[0], 0);
    assert_int_equal((uint32_t)all[1], 22);
    assert_int_equal((uint32_t)all[2], 11);
    assert_int_equal((uint32_t)all[3], 0);
    /* The control plane writes every copy. */
    for (int c = 0; c < 4; c++) {
        all[c] = 100 + (uint64_t)c;
    }
    assert_int_equal(bpf_map_update(m, &k, all, BPF_ANY), 0);
    for (uint32_t c = 0; c < 4; c++) {
        bpf_set_cpu(c);
        assert_int_equal(*(uint32_t *)m->ops->lookup(m, &k), 100 + c);
    }
    /* CPU numbers beyond n_cpus wrap around. */
    bpf_set_cpu(6);
    assert_int_equal(*(uint32_t *)m->ops->lookup(m, &k), 102);
    bpf_set_cpu(0);
    map_del(m);
}

/* ---- LRU ---- */

static void
test_lru_eviction_order(void **state)
{
    struct bpf_map *m = map_new(BPF_MAP_TYPE_LRU_HASH, 4, 4, 4, 0);
    uint32_t k, v = 0;

    for (k = 1; k <= 4; k++) {
        assert_int_equal(m->ops->update(m, &k, &k, BPF_NOEXIST), 0);
    }
    /* A program's lookup makes key 1 the most recent: 2 is now oldest. */
    k = 1;
    assert_non_null(m->ops->lookup(m, &k));
    k = 5;
    assert_int_equal(m->ops->update(m, &k, &k, BPF_ANY), 0);
    k = 2;
    assert_null(m->ops->lookup(m, &k));
    for (uint32_t i = 1; i <= 5; i++) {
        if (i != 2) {
            assert_int_equal(bpf_map_lookup(m, &i, &v), 0);
            assert_int_equal(v, i);
        }
    }
    /* Order now (oldest first): 3 4 1 5.  The control plane's lookup
     * above did not touch anything; an update does. */
    k = 3;
    assert_int_equal(m->ops->update(m, &k, &k, BPF_EXIST), 0);
    k = 6;
    assert_int_equal(m->ops->update(m, &k, &k, BPF_ANY), 0);
    k = 4;
    assert_int_equal(bpf_map_lookup(m, &k, &v), -ENOENT);
    k = 7;
    assert_int_equal(m->ops->update(m, &k, &k, BPF_ANY), 0);
    k = 1;
    assert_int_equal(bpf_map_lookup(m, &k, &v), -ENOENT);
    /* Never -E2BIG; BPF_EXIST on a missing key is still -ENOENT. */
    k = 99;
    assert_int_equal(m->ops->update(m, &k, &k, BPF_EXIST), -ENOENT);
    /* A deleted element frees a slot: no eviction for the next insert. */
    k = 3;
    assert_int_equal(m->ops->delete (m, &k), 0);
    k = 8;
    assert_int_equal(m->ops->update(m, &k, &k, BPF_ANY), 0);
    uint32_t keys[] = {5, 6, 7, 8};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(bpf_map_lookup(m, &keys[i], &v), 0);
    }
    map_del(m);
}

static void
test_lru_percpu(void **state)
{
    struct bpf_map *m = percpu_new(BPF_MAP_TYPE_LRU_PERCPU_HASH, 4, 8, 2, 2);
    uint32_t k;
    uint64_t v = 5, all[2];

    bpf_set_cpu(1);
    for (k = 0; k < 3; k++) {
        assert_int_equal(m->ops->update(m, &k, &v, BPF_ANY), 0);
    }
    k = 0;
    assert_int_equal(bpf_map_lookup(m, &k, all), -ENOENT);
    k = 2;
    assert_int_equal(bpf_map_lookup(m, &k, all), 0);
    assert_int_equal(all[0], 0);
    assert_int_equal(all[1], 5);
    bpf_set_cpu(0);
    map_del(m);
}

/* ---- Arrays ---- */

static void
test_array(void **state)
{
    struct bpf_map *m = map_new(BPF_MAP_TYPE_ARRAY, 4, 12, 3, 0);
    uint32_t k = 1, next;
    uint8_t v[12], out[12];

    memset(v, 0xab, sizeof v);
    uint8_t *p = m->ops->lookup(m, &k);
    assert_non_null(p);
    assert_int_equal(p[0], 0);
    assert_int_equal(bpf_map_update(m, &k, v, BPF_ANY), 0);
    assert_int_equal(bpf_map_update(m, &k, v, BPF_EXIST), 0);
    assert_int_equal(bpf_map_update(m, &k, v, BPF_NOEXIST), -EEXIST);
    assert_int_equal(bpf_map_update(m, &k, v, 3), -EINVAL);
    assert_ptr_equal(m->ops->lookup(m, &k), p);
    assert_int_equal(p[11], 0xab);
    assert_int_equal(bpf_map_lookup(m, &k, out), 0);
    assert_memory_equal(out, v, 12);
    k = 3;
    assert_null(m->ops->lookup(m, &k));
    assert_int_equal(bpf_map_lookup(m, &k, out), -ENOENT);
    assert_int_equal(bpf_map_update(m, &k, v, BPF_ANY), -E2BIG);
    assert_int_equal(bpf_map_delete(m, &k), -EINVAL);
    k = 0;
    assert_int_equal(bpf_map_delete(m, &k), -EINVAL);
    /* Iteration: 0, 1, 2, then -ENOENT; out of range restarts at 0. */
    assert_int_equal(bpf_map_next_key(m, NULL, &next), 0);
    assert_int_equal(next, 0);
    k = 1;
    assert_int_equal(bpf_map_next_key(m, &k, &next), 0);
    assert_int_equal(next, 2);
    k = 2;
    assert_int_equal(bpf_map_next_key(m, &k, &next), -ENOENT);
    k = 77;
    assert_int_equal(bpf_map_next_key(m, &k, &next), 0);
    assert_int_equal(next, 0);
    map_del(m);

    assert_int_equal(create_err(BPF_MAP_TYPE_ARRAY, 8, 4, 4, 0), -EINVAL);
    assert_int_equal(create_err(BPF_MAP_TYPE_ARRAY, 4, 0, 4, 0), -EINVAL);
    assert_int_equal(create_err(BPF_MAP_TYPE_ARRAY, 4, 4, 0, 0), -EINVAL);
    assert_int_equal(create_err(BPF_MAP_TYPE_ARRAY, 4, 4, 4, BPF_F_NO_PREALLOC),
                     -EINVAL);
    assert_int_equal(create_err(BPF_MAP_TYPE_ARRAY, 4, 4, 4,
                                BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG),
                     -EINVAL);
    assert_int_equal(
        create_err(BPF_MAP_TYPE_PERCPU_ARRAY, 4, 4, 4, BPF_F_MMAPABLE),
        -EINVAL);
    assert_int_equal(create_err(BPF_MAP_TYPE_ARRAY, 4, 4, 1,
                                BPF_F_MMAPABLE | BPF_F_RDONLY_PROG),
                     0);
}

static void
test_array_rdonly_flags(void **state)
{
    struct bpf_map *m = map_new(BPF_MAP_TYPE_ARRAY, 4, 4, 1, BPF_F_RDONLY);
    uint32_t k = 0, v = 1;
    assert_int_equal(bpf_map_update(m, &k, &v, BPF_ANY), -EPERM);
    assert_int_equal(bpf_map_lookup(m, &k, &v), 0);
    map_del(m);
    m = map_new(BPF_MAP_TYPE_ARRAY, 4, 4, 1, BPF_F_WRONLY);
    assert_int_equal(bpf_map_lookup(m, &k, &v), -EPERM);
    assert_int_equal(bpf_map_update(m, &k, &v, BPF_ANY), 0);
    map_del(m);
}

static void
test_percpu_array(void **state)
{
    struct bpf_map *m = percpu_new(BPF_MAP_TYPE_PERCPU_ARRAY, 4, 4, 2, 3);
    uint32_t k = 1, v;
    uint64_t all[3] = {7, 8, 9};

    for (uint32_t c = 0; c < 3; c++) {
        bpf_set_cpu(c);
        v = 10 * c;
        assert_int_equal(m->ops->update(m, &k, &v, BPF_ANY), 0);
    }
    bpf_set_cpu(1);
    assert_int_equal(*(uint32_t *)m->ops->lookup(m, &k), 10);
    uint64_t got[3];
    assert_int_equal(bpf_map_lookup(m, &k, got), 0);
    assert_int_equal((uint32_t)got[0], 0);
    assert_int_equal((uint32_t)got[1], 10);
    assert_int_equal((uint32_t)got[2], 20);
    assert_int_equal(bpf_map_update(m, &k, all, BPF_ANY), 0);
    bpf_set_cpu(2);
    assert_int_equal(*(uint32_t *)m->ops->lookup(m, &k), 9);

    /* Each CPU's copies live in a region of their own, whole cache lines
     * apart, so that threads counting in one index never share a line. */
    uint8_t *values;
    size_t stride, cpu_stride;
    assert_true(bpf_array_layout(m, &values, &stride, &cpu_stride));
    assert_int_equal(stride, 8);
    assert_int_equal(cpu_stride % 64, 0);
    assert_true(cpu_stride >= 64);
    assert_int_equal((uintptr_t)values % 64, 0);
    for (uint32_t c = 0; c < 3; c++) {
        bpf_set_cpu(c);
        assert_ptr_equal(m->ops->lookup(m, &k),
                         values + c * cpu_stride + k * stride);
    }
    bpf_set_cpu(0);
    map_del(m);
}

static void
test_prog_array(void **state)
{
    struct bpf_map *m = map_new(BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 4, 0);
    struct bpf_prog p0 = {.name = "p0", .kind = BPF_PROG_KIND_XDP};
    struct bpf_prog p1 = {.name = "p1", .kind = BPF_PROG_KIND_XDP};
    struct bpf_prog raw = {.name = "raw", .kind = BPF_PROG_KIND_RAW};
    struct bpf_prog *table[] = {&p0, &p1, &raw};
    uint32_t k = 2, v = 1, out;

    assert_null(bpf_prog_array_get(m, 2));
    assert_int_equal(bpf_prog_array_set(m, 4, &p0), -E2BIG);
    assert_int_equal(bpf_prog_array_set(m, 0, &p0), 0);
    assert_int_equal(bpf_prog_array_set(m, 1, &raw), -EINVAL);
    assert_ptr_equal(bpf_prog_array_get(m, 0), &p0);
    assert_null(bpf_prog_array_get(m, 9));
    /* Control plane: programs by index in the bound table. */
    assert_int_equal(bpf_map_update(m, &k, &v, BPF_ANY), -EBADF);
    bpf_prog_array_bind(m, table, 3);
    assert_int_equal(bpf_map_update(m, &k, &v, BPF_NOEXIST), -EINVAL);
    assert_int_equal(bpf_map_update(m, &k, &v, BPF_ANY), 0);
    assert_ptr_equal(bpf_prog_array_get(m, 2), &p1);
    assert_int_equal(bpf_map_lookup(m, &k, &out), 0);
    assert_int_equal(out, 1);
    v = 7;
    assert_int_equal(bpf_map_update(m, &k, &v, BPF_ANY), -EBADF);
    k = 4;
    assert_int_equal(bpf_map_update(m, &k, &v, BPF_ANY), -E2BIG);
    k = 2;
    assert_null(m->ops->lookup(m, &k));
    assert_int_equal(bpf_map_delete(m, &k), 0);
    assert_int_equal(bpf_map_delete(m, &k), -ENOENT);
    assert_int_equal(bpf_map_lookup(m, &k, &out), -ENOENT);
    map_del(m);
    assert_int_equal(create_err(BPF_MAP_TYPE_PROG_ARRAY, 4, 8, 4, 0), -EINVAL);
}

/* ---- LPM trie ---- */

struct lpm4 {
    uint32_t prefixlen;
    uint8_t addr[4];
};

static struct lpm4
lpm4(uint32_t plen, uint32_t addr_host)
{
    struct lpm4 k = {plen,
                     {(uint8_t)(addr_host >> 24), (uint8_t)(addr_host >> 16),
                      (uint8_t)(addr_host >> 8), (uint8_t)addr_host}};
    return k;
}

static uint32_t
mask_of(uint32_t plen)
{
    return plen ? ~0u << (32 - plen) : 0;
}

static void
test_lpm_create(void **state)
{
    assert_int_equal(create_err(BPF_MAP_TYPE_LPM_TRIE, 8, 4, 16, 0), -EINVAL);
    assert_int_equal(
        create_err(BPF_MAP_TYPE_LPM_TRIE, 4, 4, 16, BPF_F_NO_PREALLOC),
        -EINVAL);
    assert_int_equal(
        create_err(BPF_MAP_TYPE_LPM_TRIE, 261, 4, 16, BPF_F_NO_PREALLOC),
        -EINVAL);
    assert_int_equal(
        create_err(BPF_MAP_TYPE_LPM_TRIE, 8, 0, 16, BPF_F_NO_PREALLOC),
        -EINVAL);
    assert_int_equal(
        create_err(BPF_MAP_TYPE_LPM_TRIE, 20, 4, 16, BPF_F_NO_PREALLOC), 0);
}

static void
test_lpm_all_lengths(void **state)
{
    struct bpf_map *m =
        map_new(BPF_MAP_TYPE_LPM_TRIE, 8, 4, 64, BPF_F_NO_PREALLOC);
    const uint32_t addr = 0xc0a80a05; /* 192.168.10.5 */

    /* Every prefix of the same address, /0 to /32, inserted out of order. */
    for (uint32_t i = 0; i <= 32; i++) {
        uint32_t plen = (i * 7) % 33;
        struct lpm4 k = lpm4(plen, addr & mask_of(plen));
        assert_int_equal(m->ops->update(m, &k, &plen, BPF_NOEXIST), 0);
    }
    struct lpm4 k = lpm4(32, addr);
    uint32_t *v = m->ops->lookup(m, &k);
    assert_non_null(v);
    assert_int_equal(*v, 32);
    /* An address that differs first at bit b matches the /b entry. */
    for (uint32_t b = 0; b < 32; b++) {
        k = lpm4(32, addr ^ (1u << (31 - b)));
        v = m->ops->lookup(m, &k);
        assert_non_null(v);
        assert_int_equal(*v, b);
    }
    /* Deleting the longest prefixes one by one falls back each time. */
    for (uint32_t plen = 32; plen > 0; plen--) {
        struct lpm4 d = lpm4(plen, addr & mask_of(plen));
        assert_int_equal(m->ops->delete (m, &d), 0);
        assert_int_equal(m->ops->delete (m, &d), -ENOENT);
        k = lpm4(32, addr);
        v = m->ops->lookup(m, &k);
        assert_non_null(v);
        assert_int_equal(*v, plen - 1);
    }
    map_del(m);
}

static void
test_lpm_overlap_and_errors(void **state)
{
    struct bpf_map *m =
        map_new(BPF_MAP_TYPE_LPM_TRIE, 8, 4, 4, BPF_F_NO_PREALLOC);
    struct lpm4 k16 = lpm4(16, 0xc0a80000), k24a = lpm4(24, 0xc0a80000);
    struct lpm4 k24b = lpm4(24, 0xc0a80100), k24c = lpm4(24, 0xc0a88000);
    uint32_t v16 = 16, va = 1, vb = 2, vc = 3, out;

    assert_int_equal(bpf_map_update(m, &k24a, &va, BPF_ANY), 0);
    assert_int_equal(bpf_map_update(m, &k24b, &vb, BPF_ANY), 0);
    assert_int_equal(bpf_map_update(m, &k16, &v16, BPF_ANY), 0);
    assert_int_equal(bpf_map_update(m, &k24c, &vc, BPF_ANY), 0);
    struct lpm4 q = lpm4(32, 0xc0a80177);
    assert_int_equal(bpf_map_lookup(m, &q, &out), 0);
    assert_int_equal(out, 2);
    q = lpm4(32, 0xc0a80277);
    assert_int_equal(bpf_map_lookup(m, &q, &out), 0);
    assert_int_equal(out, 16);
    q = lpm4(32, 0xc0a90000);
    assert_int_equal(bpf_map_lookup(m, &q, &out), -ENOENT);
    /* A lookup with a shorter prefix length matches only up to it. */
    q = lpm4(20, 0xc0a80100);
    assert_int_equal(bpf_map_lookup(m, &q, &out), 0);
    assert_int_equal(out, 16);

    /* Post-order iteration: the kernel's documented order. */
    struct lpm4 it, prev;
    const struct lpm4 order[] = {k24a, k24b, k24c, k16};
    assert_int_equal(bpf_map_next_key(m, NULL, &it), 0);
    for (size_t i = 0; i < 4; i++) {
        assert_memory_equal(&it, &order[i], sizeof it);
        prev = it;
        int err = bpf_map_next_key(m, &prev, &it);
        assert_int_equal(err, i < 3 ? 0 : -ENOENT);
    }

    /* A key that is not stored restarts at the first key. */
    struct lpm4 missing = lpm4(24, 0x0a000000);
    assert_int_equal(bpf_map_next_key(m, &missing, &it), 0);
    assert_memory_equal(&it, &order[0], sizeof it);

    /* Flags (kernel >= 6.13), full, bad prefix length. */
    assert_int_equal(bpf_map_update(m, &k16, &va, BPF_NOEXIST), -EEXIST);
    assert_int_equal(bpf_map_update(m, &k16, &va, BPF_EXIST), 0);
    struct lpm4 k8 = lpm4(8, 0x0a000000);
    assert_int_equal(bpf_map_update(m, &k8, &va, BPF_EXIST), -ENOENT);
    assert_int_equal(bpf_map_update(m, &k8, &va, BPF_ANY), -ENOSPC);
    assert_int_equal(bpf_map_update(m, &k8, &va, 7), -EINVAL);
    struct lpm4 bad = lpm4(33, 0);
    assert_int_equal(bpf_map_update(m, &bad, &va, BPF_ANY), -EINVAL);
    assert_int_equal(bpf_map_delete(m, &bad), -EINVAL);
    /* Deleting the covering /16 keeps the /24s. */
    assert_int_equal(bpf_map_delete(m, &k16), 0);
    q = lpm4(32, 0xc0a80277);
    assert_int_equal(bpf_map_lookup(m, &q, &out), -ENOENT);
    q = lpm4(32, 0xc0a88001);
    assert_int_equal(bpf_map_lookup(m, &q, &out), 0);
    assert_int_equal(out, 3);
    assert_int_equal(bpf_map_update(m, &k8, &va, BPF_ANY), 0);
    map_del(m);
}

/* An intermediate node that becomes a real entry takes the key's bytes
 * (found by the map fuzzer: /0 was reported as 2.0.0.0/0). */
static void
test_lpm_intermediate_becomes_real(void **state)
{
    struct bpf_map *m =
        map_new(BPF_MAP_TYPE_LPM_TRIE, 8, 4, 4, BPF_F_NO_PREALLOC);
    struct lpm4 a = lpm4(11, 0x02000000), b = lpm4(25, 0x80c18080);
    struct lpm4 root = lpm4(0, 0), it;
    uint32_t v = 1;

    assert_int_equal(bpf_map_update(m, &a, &v, BPF_ANY), 0);
    assert_int_equal(bpf_map_update(m, &b, &v, BPF_ANY), 0);
    assert_int_equal(bpf_map_update(m, &root, &v, BPF_NOEXIST), 0);
    assert_int_equal(bpf_map_next_key(m, &b, &it), 0);
    assert_memory_equal(&it, &root, sizeof it);
    map_del(m);
}

/* IPv6 keys: 16 data bytes, prefixes up to /128. */
static void
test_lpm_ipv6(void **state)
{
    struct bpf_map *m =
        map_new(BPF_MAP_TYPE_LPM_TRIE, 20, 4, 8, BPF_F_NO_PREALLOC);
    struct {
        uint32_t prefixlen;
        uint8_t addr[16];
    } k = {32, {0x20, 0x01, 0x0d, 0xb8}};
    uint32_t v = 32, out;

    assert_int_equal(bpf_map_update(m, &k, &v, BPF_ANY), 0);
    k.prefixlen = 128;
    k.addr[15] = 1;
    v = 128;
    assert_int_equal(bpf_map_update(m, &k, &v, BPF_ANY), 0);
    assert_int_equal(bpf_map_lookup(m, &k, &out), 0);
    assert_int_equal(out, 128);
    k.addr[15] = 2;
    assert_int_equal(bpf_map_lookup(m, &k, &out), 0);
    assert_int_equal(out, 32);
    k.addr[3] = 0xb9;
    assert_int_equal(bpf_map_lookup(m, &k, &out), -ENOENT);
    k.prefixlen = 129;
    assert_int_equal(bpf_map_update(m, &k, &v, BPF_ANY), -EINVAL);
    map_del(m);
}

/* Random prefixes and addresses against a linear scan. */
static void
test_lpm_random_vs_linear(void **state)
{
    enum { N = 300, Q = 3000 };
    struct bpf_map *m =
        map_new(BPF_MAP_TYPE_LPM_TRIE, 8, 4, N, BPF_F_NO_PREALLOC);
    uint32_t addrs[N], plens[N];
    bool live[N];
    unsigned int seed = 12345;

    for (int i = 0; i < N; i++) {
        /* Few distinct high bits, so prefixes overlap a lot. */
        plens[i] = (uint32_t)rand_r(&seed) % 33;
        addrs[i] = ((uint32_t)rand_r(&seed) & 0xf0f0ffff) & mask_of(plens[i]);
        struct lpm4 k = lpm4(plens[i], addrs[i]);
        uint32_t v = (uint32_t)i;
        live[i] = m->ops->update(m, &k, &v, BPF_NOEXIST) == 0;
    }
    for (int round = 0; round < 2; round++) {
        for (int q = 0; q < Q; q++) {
            uint32_t a = (uint32_t)rand_r(&seed) & 0xf0f0ffff;
            int best = -1;
            for (int i = 0; i < N; i++) {
                if (live[i] && (a & mask_of(plens[i])) == addrs[i] &&
                    (best < 0 || plens[i] > plens[best])) {
                    best = i;
                }
            }
            struct lpm4 k = lpm4(32, a);
            uint32_t *v = m->ops->lookup(m, &k);
            if (best < 0) {
                assert_null(v);
            } else {
                assert_non_null(v);
                assert_int_equal(plens[*v], plens[best]);
                assert_int_equal(addrs[*v], addrs[best]);
            }
        }
        /* Second round after deleting every other live prefix. */
        for (int i = 0; i < N; i += 2) {
            if (live[i]) {
                struct lpm4 k = lpm4(plens[i], addrs[i]);
                assert_int_equal(m->ops->delete (m, &k), 0);
                live[i] = false;
            }
        }
    }
    map_del(m);
}

/* ---- Ring buffer ---- */

struct consumed {
    int n;
    size_t sizes[64];
    uint8_t first[64];
};

static int
consume_cb(void *arg, const void *data, size_t size)
{
    struct consumed *c = arg;
    c->sizes[c->n] = size;
    c->first[c->n] = size ? *(const uint8_t *)data : 0;
    c->n++;
    return 0;
}

static void
test_ringbuf(void **state)
{
    uint32_t page = (uint32_t)sysconf(_SC_PAGESIZE);
    assert_int_equal(create_err(BPF_MAP_TYPE_RINGBUF, 0, 0, page * 3, 0),
                     -EINVAL);
    assert_int_equal(create_err(BPF_MAP_TYPE_RINGBUF, 4, 0, page, 0), -EINVAL);
    assert_int_equal(create_err(BPF_MAP_TYPE_RINGBUF, 0, 0, 64, 0), -EINVAL);

    struct bpf_map *m = map_new(BPF_MAP_TYPE_RINGBUF, 0, 0, page, 0);
    struct consumed c = {0};

    assert_int_equal(bpf_ringbuf_query(m, BPF_RB_RING_SIZE), page);
    uint8_t *r1 = bpf_ringbuf_reserve(m, 10, 0);
    uint8_t *r2 = bpf_ringbuf_reserve(m, 3, 0);
    assert_non_null(r1);
    assert_non_null(r2);
    assert_null(bpf_ringbuf_reserve(m, 8, 1));
    /* Record = 8-byte header + data, padded to 8: round_up(8 + 10, 8). */
    assert_int_equal(r2 - r1, 24);
    assert_int_equal(bpf_ringbuf_query(m, BPF_RB_AVAIL_DATA), 40);
    r1[0] = 0xa1;
    r2[0] = 0xb2;
    /* r1 still busy: nothing can be consumed even though r2 is done. */
    bpf_ringbuf_commit(r2, 0, false);
    assert_int_equal(bpf_ringbuf_consume(m, consume_cb, &c), 0);
    bpf_ringbuf_commit(r1, 0, false);
    assert_int_equal(bpf_ringbuf_consume(m, consume_cb, &c), 2);
    assert_int_equal(c.sizes[0], 10);
    assert_int_equal(c.first[0], 0xa1);
    assert_int_equal(c.sizes[1], 3);
    assert_int_equal(bpf_ringbuf_query(m, BPF_RB_AVAIL_DATA), 0);
    assert_int_equal(bpf_ringbuf_query(m, BPF_RB_CONS_POS), 40);

    /* Discarded records are skipped. */
    uint8_t *d = bpf_ringbuf_reserve(m, 16, 0);
    bpf_ringbuf_commit(d, BPF_RB_NO_WAKEUP, true);
    uint8_t payload[5] = {0xc3, 1, 2, 3, 4};
    assert_int_equal(bpf_ringbuf_output(m, payload, 5, 0), 0);
    assert_int_equal(bpf_ringbuf_output(m, payload, 5, 4), -EINVAL);
    c.n = 0;
    assert_int_equal(bpf_ringbuf_consume(m, consume_cb, &c), 1);
    assert_int_equal(c.first[0], 0xc3);

    /* Full: the producer may run at most size - 1 bytes ahead. */
    assert_null(bpf_ringbuf_reserve(m, page - 8, 0));
    assert_int_equal(bpf_ringbuf_output(m, payload, page, 0), -EAGAIN);
    void *big = bpf_ringbuf_reserve(m, page - 16, 0);
    assert_non_null(big);
    assert_null(bpf_ringbuf_reserve(m, 1, 0));
    bpf_ringbuf_commit(big, 0, true);
    c.n = 0;
    assert_int_equal(bpf_ringbuf_consume(m, consume_cb, &c), 0);

    /* Wraparound: records straddling the end are contiguous in memory. */
    for (int i = 0; i < 40; i++) {
        size_t len = 200 + (size_t)i * 13;
        uint8_t *r = bpf_ringbuf_reserve(m, len, 0);
        assert_non_null(r);
        memset(r, (int)i, len);
        bpf_ringbuf_commit(r, 0, false);
        c.n = 0;
        assert_int_equal(bpf_ringbuf_consume(m, consume_cb, &c), 1);
        assert_int_equal(c.sizes[0], len);
        assert_int_equal(c.first[0], (uint8_t)i);
    }
    assert_true(bpf_ringbuf_query(m, BPF_RB_PROD_POS) > 2 * page);
    assert_int_equal(bpf_ringbuf_query(m, BPF_RB_PROD_POS),
                     bpf_ringbuf_query(m, BPF_RB_CONS_POS));
    assert_int_equal(bpf_ringbuf_query(m, 99), 0);
    uint32_t key = 0;
    assert_int_equal(bpf_map_lookup(m, &key, payload), -EOPNOTSUPP);
    map_del(m);
}

/* ---- Queue and stack ---- */

/* bpf_map_key_equal_atomic(), the lock-free readers' key compare: every
 * size from 1 to 40 bytes, against a stored copy padded with zeroes to 8
 * bytes, equal as a whole and unequal when any one byte differs; the
 * caller's key sits at the very end of a heap block, so that a read past
 * its size is caught by the sanitizers and valgrind. */
static void
test_key_equal_atomic(void **state)
{
    (void)state;
    for (uint32_t size = 1; size <= 40; size++) {
        uint64_t stored[5] = {0};
        uint8_t *key = malloc(size);
        assert_non_null(key);
        for (uint32_t i = 0; i < size; i++) {
            key[i] = (uint8_t)(0x11 * (i + 1) + size);
        }
        memcpy(stored, key, size);
        assert_true(bpf_map_key_equal_atomic(stored, key, size));
        for (uint32_t i = 0; i < size; i++) {
            key[i] ^= 0x80;
            assert_false(bpf_map_key_equal_atomic(stored, key, size));
            key[i] ^= 0x80;
        }
        /* A stored key with a non-zero pad is never equal: the pad is
         * part of the stored word. */
        if (size % 8) {
            ((uint8_t *)stored)[size] = 1;
            assert_false(bpf_map_key_equal_atomic(stored, key, size));
        }
        free(key);
    }
}

static void
test_queue_stack(void **state)
{
    assert_int_equal(create_err(BPF_MAP_TYPE_QUEUE, 4, 4, 4, 0), -EINVAL);
    assert_int_equal(create_err(BPF_MAP_TYPE_STACK, 0, 0, 4, 0), -EINVAL);
    assert_int_equal(create_err(BPF_MAP_TYPE_QUEUE, 0, 4, 0, 0), -EINVAL);

    struct bpf_map *q = map_new(BPF_MAP_TYPE_QUEUE, 0, 4, 3, 0);
    struct bpf_map *s = map_new(BPF_MAP_TYPE_STACK, 0, 4, 3, 0);
    uint32_t v, out;

    assert_int_equal(q->ops->pop(q, &out), -ENOENT);
    assert_int_equal(s->ops->peek(s, &out), -ENOENT);
    for (v = 1; v <= 3; v++) {
        assert_int_equal(q->ops->push(q, &v, BPF_ANY), 0);
        assert_int_equal(s->ops->push(s, &v, BPF_ANY), 0);
    }
    v = 4;
    assert_int_equal(q->ops->push(q, &v, BPF_ANY), -E2BIG);
    assert_int_equal(q->ops->push(q, &v, BPF_NOEXIST), -EINVAL);
    assert_int_equal(q->ops->push(q, &v, 4), -EINVAL);
    assert_int_equal(q->ops->peek(q, &out), 0);
    assert_int_equal(out, 1);
    assert_int_equal(s->ops->peek(s, &out), 0);
    assert_int_equal(out, 3);
    /* BPF_EXIST on a full map drops the oldest value. */
    assert_int_equal(q->ops->push(q, &v, BPF_EXIST), 0);
    assert_int_equal(s->ops->push(s, &v, BPF_EXIST), 0);
    uint32_t q_order[] = {2, 3, 4}, s_order[] = {4, 3, 2};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(q->ops->pop(q, &out), 0);
        assert_int_equal(out, q_order[i]);
        assert_int_equal(s->ops->pop(s, &out), 0);
        assert_int_equal(out, s_order[i]);
    }
    assert_int_equal(q->ops->pop(q, &out), -ENOENT);
    assert_int_equal(s->ops->pop(s, &out), -ENOENT);

    /* Control plane: update pushes, lookup peeks, lookup_and_delete
     * pops; keyed operations are invalid. */
    v = 9;
    assert_int_equal(bpf_map_update(q, NULL, &v, BPF_ANY), 0);
    v = 10;
    assert_int_equal(bpf_map_update(q, NULL, &v, BPF_ANY), 0);
    assert_int_equal(bpf_map_lookup(q, NULL, &out), 0);
    assert_int_equal(out, 9);
    assert_int_equal(bpf_map_lookup_and_delete(q, NULL, &out), 0);
    assert_int_equal(out, 9);
    assert_int_equal(bpf_map_lookup_and_delete(q, NULL, &out), 0);
    assert_int_equal(out, 10);
    assert_int_equal(bpf_map_lookup(q, NULL, &out), -ENOENT);
    assert_int_equal(bpf_map_delete(q, NULL), -EINVAL);
    assert_int_equal(bpf_map_next_key(q, NULL, &out), -EINVAL);
    map_del(q);
    map_del(s);
}

/* ---- Cost counters ---- */

static void
test_costs(void **state)
{
    struct bpf_map *m = map_new(BPF_MAP_TYPE_HASH, 4, 4, 64, 0);
    struct bpf_map_costs costs = {0};
    uint32_t k = 5;

    assert_int_equal(m->ops->update(m, &k, &k, BPF_ANY), 0);
    bpf_map_costs = &costs;
    assert_non_null(m->ops->lookup(m, &k));
    bpf_map_costs = NULL;
    assert_int_equal(costs.ops, 1);
    assert_int_equal(costs.key_cmps, 1);
    assert_true(costs.visits >= 2); /* Bucket plus the element. */
    k = 6;
    assert_null(m->ops->lookup(m, &k));
    assert_int_equal(costs.ops, 1); /* Not counted while disabled. */
    map_del(m);
}

#ifdef HAVE_KERNEL_DIFF
/* ---- Differential tests against the running kernel ---- */

static int
kernel_map(uint32_t type, uint32_t ks, uint32_t vs, uint32_t max,
           uint32_t flags)
{
    LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = flags);
    return bpf_map_create(type, "sluice_test", ks, vs, max, &opts);
}

static bool
kernel_maps_usable(void)
{
    int fd = kernel_map(BPF_MAP_TYPE_ARRAY, 4, 4, 1, 0);
    if (fd < 0) {
        return false;
    }
    close(fd);
    return true;
}

/* Creation errno for valid and invalid attributes, kernel vs sluice. */
static void
test_kernel_create_errno(void **state)
{
    if (!kernel_maps_usable()) {
        skip();
    }
    uint32_t page = (uint32_t)sysconf(_SC_PAGESIZE);
    const struct {
        uint32_t type, ks, vs, max, flags;
    } cases[] = {
        {BPF_MAP_TYPE_HASH, 4, 8, 16, 0},
        {BPF_MAP_TYPE_HASH, 0, 8, 16, 0},
        {BPF_MAP_TYPE_HASH, 4, 0, 16, 0},
        {BPF_MAP_TYPE_HASH, 4, 8, 0, 0},
        {BPF_MAP_TYPE_HASH, 513, 8, 16, 0},
        {BPF_MAP_TYPE_HASH, 4, 8, 16, BPF_F_NO_PREALLOC},
        {BPF_MAP_TYPE_HASH, 4, 8, 16, BPF_F_NO_COMMON_LRU},
        {BPF_MAP_TYPE_HASH, 4, 8, 16, BPF_F_MMAPABLE},
        {BPF_MAP_TYPE_HASH, 4, 8, 16, BPF_F_RDONLY | BPF_F_WRONLY},
        {BPF_MAP_TYPE_PERCPU_HASH, 4, 40000, 16, 0},
        {BPF_MAP_TYPE_LRU_HASH, 4, 8, 16, BPF_F_NO_COMMON_LRU},
        {BPF_MAP_TYPE_ARRAY, 4, 8, 16, 0},
        {BPF_MAP_TYPE_ARRAY, 8, 8, 16, 0},
        {BPF_MAP_TYPE_ARRAY, 4, 0, 16, 0},
        {BPF_MAP_TYPE_ARRAY, 4, 8, 0, 0},
        {BPF_MAP_TYPE_ARRAY, 4, 8, 16, BPF_F_NO_PREALLOC},
        {BPF_MAP_TYPE_ARRAY, 4, 8, 16, BPF_F_MMAPABLE},
        {BPF_MAP_TYPE_ARRAY, 4, 8, 16, BPF_F_ZERO_SEED},
        {BPF_MAP_TYPE_PERCPU_ARRAY, 4, 8, 16, BPF_F_MMAPABLE},
        {BPF_MAP_TYPE_PERCPU_ARRAY, 4, 40000, 16, 0},
        {BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 16, 0},
        {BPF_MAP_TYPE_PROG_ARRAY, 4, 8, 16, 0},
        {BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 16, BPF_F_RDONLY_PROG},
        {BPF_MAP_TYPE_LPM_TRIE, 8, 4, 16, BPF_F_NO_PREALLOC},
        {BPF_MAP_TYPE_LPM_TRIE, 8, 4, 16, 0},
        {BPF_MAP_TYPE_LPM_TRIE, 4, 4, 16, BPF_F_NO_PREALLOC},
        {BPF_MAP_TYPE_LPM_TRIE, 261, 4, 16, BPF_F_NO_PREALLOC},
        {BPF_MAP_TYPE_LPM_TRIE, 8, 0, 16, BPF_F_NO_PREALLOC},
        {BPF_MAP_TYPE_LPM_TRIE, 8, 4, 0, BPF_F_NO_PREALLOC},
        {BPF_MAP_TYPE_RINGBUF, 0, 0, page, 0},
        {BPF_MAP_TYPE_RINGBUF, 0, 0, page * 3, 0},
        {BPF_MAP_TYPE_RINGBUF, 4, 0, page, 0},
        {BPF_MAP_TYPE_RINGBUF, 0, 0, 64, 0},
        {BPF_MAP_TYPE_RINGBUF, 0, 0, page, BPF_F_NO_PREALLOC},
        {BPF_MAP_TYPE_QUEUE, 0, 4, 16, 0},
        {BPF_MAP_TYPE_QUEUE, 4, 4, 16, 0},
        {BPF_MAP_TYPE_STACK, 0, 0, 16, 0},
        {BPF_MAP_TYPE_STACK, 0, 4, 0, 0},
        {BPF_MAP_TYPE_STACK, 0, 4, 16, BPF_F_NO_PREALLOC},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        int kfd = kernel_map(cases[i].type, cases[i].ks, cases[i].vs,
                             cases[i].max, cases[i].flags);
        int kerr = kfd < 0 ? kfd : 0;
        if (kfd >= 0) {
            close(kfd);
        }
        int ours = create_err(cases[i].type, cases[i].ks, cases[i].vs,
                              cases[i].max, cases[i].flags);
        if (kerr != ours) {
            fail_msg("create case %zu (type %u): kernel %d, sluice %d", i,
                     cases[i].type, kerr, ours);
        }
    }
}

/* Runs the same random operations on a kernel map and on ours: every
 * return code, every value read and (for deterministic layouts) every
 * get_next_key result must agree. */
static void
kernel_diff_run(uint32_t type, uint32_t ks, uint32_t vs, uint32_t max,
                uint32_t flags, bool ordered_keys, unsigned int seed)
{
    int fd = kernel_map(type, ks, vs, max, flags);
    assert_true(fd >= 0);
    struct bpf_map *m = calloc(1, sizeof *m);
    strcpy(m->name, "diff");
    m->type = type;
    m->key_size = ks;
    m->value_size = vs;
    m->max_entries = max;
    m->map_flags = flags;
    m->n_cpus = (uint32_t)libbpf_num_possible_cpus();
    assert_int_equal(bpf_map_create_internal(m), 0);
    size_t vbytes = bpf_map_sys_value_size(m);
    uint8_t key[16], kv[4096], ov[4096], knext[16], onext[16];

    for (int step = 0; step < 3000; step++) {
        /* Few distinct keys so that updates, hits and misses all occur. */
        memset(key, 0, sizeof key);
        uint32_t r = (uint32_t)rand_r(&seed);
        if (type == BPF_MAP_TYPE_LPM_TRIE) {
            uint32_t plen = r % 33, addr = (r >> 8) & 0xff0f0000;
            addr &= plen ? ~0u << (32 - plen) : 0;
            memcpy(key, &plen, 4);
            key[4] = (uint8_t)(addr >> 24);
            key[5] = (uint8_t)(addr >> 16);
            key[6] = (uint8_t)(addr >> 8);
            key[7] = (uint8_t)addr;
        } else if (ks) {
            uint32_t k = (r >> 4) % (max + max / 2 + 2);
            memcpy(key, &k, 4);
        }
        const void *kp = ks ? key : NULL;
        int op = (int)(r % 5);
        int kret, oret;
        memset(kv, 0, sizeof kv);
        memset(ov, 0, sizeof ov);
        for (size_t b = 0; b < vbytes; b++) {
            kv[b] = (uint8_t)rand_r(&seed);
        }
        switch (op) {
        case 0: {
            uint64_t fl = (uint64_t)(r >> 12) % 5; /* 3, 4: invalid. */
            if (fl == 3) {
                fl = BPF_ANY;
            }
            kret = type == BPF_MAP_TYPE_QUEUE || type == BPF_MAP_TYPE_STACK
                       ? bpf_map_update_elem(fd, NULL, kv, fl)
                       : bpf_map_update_elem(fd, kp, kv, fl);
            oret = bpf_map_update(m, kp, kv, fl);
            break;
        }
        case 1:
            kret = bpf_map_lookup_elem(fd, kp, kv);
            oret = bpf_map_lookup(m, kp, ov);
            if (!kret && !oret) {
                assert_memory_equal(kv, ov, vbytes);
            }
            break;
        case 2:
            if (type == BPF_MAP_TYPE_QUEUE || type == BPF_MAP_TYPE_STACK) {
                kret = bpf_map_lookup_and_delete_elem(fd, NULL, kv);
                oret = bpf_map_lookup_and_delete(m, NULL, ov);
                if (!kret && !oret) {
                    assert_memory_equal(kv, ov, vbytes);
                }
            } else {
                kret = bpf_map_delete_elem(fd, kp);
                oret = bpf_map_delete(m, kp);
            }
            break;
        default:
            if (type == BPF_MAP_TYPE_QUEUE || type == BPF_MAP_TYPE_STACK) {
                kret = bpf_map_lookup_elem(fd, NULL, kv);
                oret = bpf_map_lookup(m, NULL, ov);
                if (!kret && !oret) {
                    assert_memory_equal(kv, ov, vbytes);
                }
                break;
            }
            /* From a given key, the answer depends on the iteration
             * order, which only ordered types share with the kernel. */
            if (!ordered_keys) {
                op = 4;
            }
            kret = bpf_map_get_next_key(fd, op == 3 ? kp : NULL, knext);
            oret = bpf_map_next_key(m, op == 3 ? kp : NULL, onext);
            if (ordered_keys && !kret && !oret) {
                assert_memory_equal(knext, onext, ks);
            }
            break;
        }
        if (kret != oret) {
            fail_msg("type %u step %d op %d: kernel %d, sluice %d", type, step,
                     op, kret, oret);
        }
    }
    close(fd);
    map_del(m);
}

static void
test_kernel_diff_ops(void **state)
{
    if (!kernel_maps_usable()) {
        skip();
    }
    /* Hash iteration order depends on the hash function, so only the
     * first key's return code is compared there.  LRU maps are left out:
     * the kernel evicts early and approximately (per-CPU free lists). */
    kernel_diff_run(BPF_MAP_TYPE_HASH, 4, 12, 16, 0, false, 1);
    kernel_diff_run(BPF_MAP_TYPE_PERCPU_HASH, 4, 4, 8, 0, false, 2);
    kernel_diff_run(BPF_MAP_TYPE_ARRAY, 4, 12, 16, 0, true, 3);
    kernel_diff_run(BPF_MAP_TYPE_PERCPU_ARRAY, 4, 4, 8, 0, true, 4);
    kernel_diff_run(BPF_MAP_TYPE_LPM_TRIE, 8, 4, 24, BPF_F_NO_PREALLOC, true,
                    5);
    kernel_diff_run(BPF_MAP_TYPE_QUEUE, 0, 8, 6, 0, false, 6);
    kernel_diff_run(BPF_MAP_TYPE_STACK, 0, 8, 6, 0, false, 7);
}
#endif

/* Maps created for several threads keep every element on cache lines of
 * its own (inserts from two threads interleave in the element array, and
 * neighbours would bounce a shared line on each write); for one thread
 * they stay packed.  Checked on the value pointers a program gets. */
static void
test_elems_own_lines(void **state)
{
    (void)state;
    for (uint32_t threads = 1; threads <= 2; threads++) {
        bpf_maps_set_threads(threads);
        struct bpf_map *m = map_new(BPF_MAP_TYPE_HASH, 4, 8, 64, 0);
        uintptr_t v[8];
        for (uint32_t k = 0; k < 8; k++) {
            uint64_t val = k;
            assert_int_equal(m->ops->update(m, &k, &val, BPF_NOEXIST), 0);
            v[k] = (uintptr_t)m->ops->lookup(m, &k);
            assert_true(v[k] != 0);
        }
        uintptr_t min_gap = UINTPTR_MAX;
        for (uint32_t a = 0; a < 8; a++) {
            for (uint32_t b = a + 1; b < 8; b++) {
                uintptr_t gap = v[a] > v[b] ? v[a] - v[b] : v[b] - v[a];
                min_gap = gap < min_gap ? gap : min_gap;
                if (threads > 1) {
                    /* Same offset in a line, whole lines apart. */
                    assert_int_equal(gap % 64, 0);
                }
            }
        }
        if (threads > 1) {
            assert_true(min_gap >= 64);
        } else {
            assert_true(min_gap < 64); /* 24-byte header + 8 + 8. */
        }
        map_del(m);
    }
    bpf_maps_set_threads(1);
}

int
main(void)
{
    /* Creation errors are logged by design; keep the output readable. */
    log_set_level_all(LOG_LEVEL_ERR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_basic),
        cmocka_unit_test(test_hash_full_e2big),
        cmocka_unit_test(test_hash_pointer_stability),
        cmocka_unit_test(test_hash_iterate),
        cmocka_unit_test(test_hash_create_errors),
        cmocka_unit_test(test_hash_seed),
        cmocka_unit_test(test_percpu_hash),
        cmocka_unit_test(test_lru_eviction_order),
        cmocka_unit_test(test_lru_percpu),
        cmocka_unit_test(test_array),
        cmocka_unit_test(test_array_rdonly_flags),
        cmocka_unit_test(test_percpu_array),
        cmocka_unit_test(test_prog_array),
        cmocka_unit_test(test_lpm_create),
        cmocka_unit_test(test_lpm_all_lengths),
        cmocka_unit_test(test_lpm_overlap_and_errors),
        cmocka_unit_test(test_lpm_intermediate_becomes_real),
        cmocka_unit_test(test_lpm_ipv6),
        cmocka_unit_test(test_lpm_random_vs_linear),
        cmocka_unit_test(test_ringbuf),
        cmocka_unit_test(test_queue_stack),
        cmocka_unit_test(test_key_equal_atomic),
        cmocka_unit_test(test_elems_own_lines),
        cmocka_unit_test(test_costs),
#ifdef HAVE_KERNEL_DIFF
        cmocka_unit_test(test_kernel_create_errno),
        cmocka_unit_test(test_kernel_diff_ops),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
