/* Tests for the helper contracts (src/contract/mapcost.c): for every map
 * type and op, thousands of random calls (other seeds than the
 * calibration's), each single-stepped: the measured x86 instructions never
 * exceed the contract at the probed PCVs and the mean gap per outcome class
 * is at most 5%; the probe's outcome matches the helper's return value and
 * its PCVs match the maps' own cost counters. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bpf/bpf_api.h"
#include "bpf/helpers.h"
#include "bpf/maps.h"
#include "contract/mapcost.h"
#include "core/hash.h"

#define CALLS 300    /* Measured calls per helper and shape. */
#define MIN_CLASS 20 /* Samples before a class's mean gap counts. */
#define MAX_MEAN_GAP 0.05

struct shape {
    const char *what;
    uint32_t type, key_size, value_size, flags, n_cpus;
};

static const struct shape shapes[] = {
    {"hash u32->u64", BPF_MAP_TYPE_HASH, 4, 8, 0, 0},
    {"hash 13B->24B", BPF_MAP_TYPE_HASH, 13, 24, 0, 0},
    {"hash u32->u32", BPF_MAP_TYPE_HASH, 4, 4, 0, 0},
    {"percpu hash", BPF_MAP_TYPE_PERCPU_HASH, 8, 16, 0, 4},
    {"lru hash", BPF_MAP_TYPE_LRU_HASH, 16, 8, 0, 0},
    {"lru percpu hash", BPF_MAP_TYPE_LRU_PERCPU_HASH, 8, 8, 0, 2},
    {"flow table", BPF_MAP_TYPE_SLUICE_FLOWTABLE, 16, 16, 0, 0},
    {"lpm ipv4", BPF_MAP_TYPE_LPM_TRIE, 8, 4, BPF_F_NO_PREALLOC, 0},
    {"lpm ipv6", BPF_MAP_TYPE_LPM_TRIE, 20, 8, BPF_F_NO_PREALLOC, 0},
    {"array", BPF_MAP_TYPE_ARRAY, 4, 4, 0, 0},
    {"percpu array", BPF_MAP_TYPE_PERCPU_ARRAY, 4, 24, 0, 3},
};

static void
shape_map(const struct shape *s, struct bpf_map *m)
{
    memset(m, 0, sizeof *m);
    m->type = s->type;
    m->key_size = s->key_size;
    m->value_size = s->value_size;
    m->map_flags = s->flags;
    m->n_cpus = s->n_cpus;
    m->max_entries = 1024;
}

/* Does the helper's return value say what the probe predicted? */
static bool
outcome_agrees(int32_t id, enum contract_outcome o, uint64_t ret)
{
    int64_t r = (int64_t)ret;
    switch (id) {
    case BPF_FUNC_map_lookup_elem:
        return (o == CONTRACT_OUT_HIT) == (ret != 0);
    case BPF_FUNC_map_update_elem:
        switch (o) {
        case CONTRACT_OUT_INSERTED:
        case CONTRACT_OUT_REPLACED:
            return r == 0;
        case CONTRACT_OUT_EXISTS:
            return r == -EEXIST;
        case CONTRACT_OUT_NOENT:
            return r == -ENOENT;
        case CONTRACT_OUT_FULL:
            return r == -E2BIG || r == -ENOSPC;
        case CONTRACT_OUT_INVALID:
            return r == -EINVAL;
        default:
            return false;
        }
    case BPF_FUNC_map_delete_elem:
        return o == CONTRACT_OUT_DELETED ? r == 0
               : o == CONTRACT_OUT_NOENT ? r == -ENOENT
                                         : r == -EINVAL;
    case BPF_FUNC_redirect_map:
        return (o == CONTRACT_OUT_HIT) == (ret == XDP_REDIRECT);
    case BPF_FUNC_map_push_elem:
        return o == CONTRACT_OUT_OK || o == CONTRACT_OUT_REPLACED ? r == 0
               : o == CONTRACT_OUT_FULL                           ? r == -E2BIG
               : o == CONTRACT_OUT_INVALID                        ? r == -EINVAL
                                                                  : false;
    case BPF_FUNC_map_pop_elem:
    case BPF_FUNC_map_peek_elem:
        return o == CONTRACT_OUT_OK ? r == 0
               : o == CONTRACT_OUT_NOENT ? r == -ENOENT
                                         : false;
    case BPF_FUNC_ringbuf_output:
        return o == CONTRACT_OUT_OK        ? r == 0
               : o == CONTRACT_OUT_FULL    ? r == -EAGAIN
               : o == CONTRACT_OUT_INVALID ? r == -EINVAL
                                           : false;
    case BPF_FUNC_ringbuf_reserve:
        return (o == CONTRACT_OUT_OK) == (ret != 0);
    default:
        return true;
    }
}

struct check {
    int32_t id;
    const struct bpf_map *shape;
    const char *what;
    double gap_sum[CONTRACT_OUT_N];
    double gap_max[CONTRACT_OUT_N];
    size_t n[CONTRACT_OUT_N];
    size_t over;     /* Calls above their bound. */
    size_t disagree; /* Outcome predicted wrongly. */
};

static void
check_sample(void *arg, const struct contract_pcvs *p, uint64_t x86,
             uint64_t ret)
{
    struct check *c = arg;
    struct contract_op_cost cost;
    assert_int_equal(contract_mapcost_get(c->id, c->shape, p->outcome, &cost),
                     0);
    uint64_t bound = contract_linear_eval(&cost.x86, p->pcv);
    for (int i = 0; i < CONTRACT_PCV_N; i++) {
        assert_true(p->pcv[i] <= cost.pcv_max[i] || !cost.x86.coef[i]);
    }
    if (x86 > bound) {
        c->over++;
        fprintf(stderr, "%s helper %d %s: measured %llu > bound %llu (",
                c->what, c->id, contract_outcome_name(p->outcome),
                (unsigned long long)x86, (unsigned long long)bound);
        for (int i = 0; i < CONTRACT_PCV_N; i++) {
            fprintf(stderr, "%s%s %llu", i ? " " : "",
                    contract_pcv_name((enum contract_pcv)i),
                    (unsigned long long)p->pcv[i]);
        }
        fprintf(stderr, ")\n");
    }
    if (!outcome_agrees(c->id, p->outcome, ret)) {
        c->disagree++;
        fprintf(stderr, "%s helper %d: predicted %s, returned %lld\n", c->what,
                c->id, contract_outcome_name(p->outcome), (long long)ret);
    }
    if (x86) {
        double gap = (double)(bound - x86) / (double)x86;
        c->gap_sum[p->outcome] += gap;
        if (gap > c->gap_max[p->outcome]) {
            c->gap_max[p->outcome] = gap;
        }
    }
    c->n[p->outcome]++;
}

static struct check
check_helper(int32_t id, const struct bpf_map *shape, const char *what,
             uint64_t seed)
{
    struct check c = {.id = id, .shape = shape, .what = what};
    assert_int_equal(
        contract_mapcost_exercise(id, shape, seed, CALLS, check_sample, &c), 0);
    assert_int_equal(c.over, 0);
    assert_int_equal(c.disagree, 0);
    for (int o = 0; o < CONTRACT_OUT_N; o++) {
        if (c.n[o] < MIN_CLASS) {
            continue;
        }
        double mean = c.gap_sum[o] / (double)c.n[o];
        printf("  %-16s %-16s %-9s n=%4zu mean gap %5.2f%% max %5.2f%%\n",
               what, bpf_helper_name(id), contract_outcome_name(o), c.n[o],
               100 * mean, 100 * c.gap_max[o]);
        assert_true(mean <= MAX_MEAN_GAP);
    }
    return c;
}

static void
test_map_contracts_hold(void **state)
{
    (void)state;
    static const int32_t ops[] = {BPF_FUNC_map_lookup_elem,
                                  BPF_FUNC_map_update_elem,
                                  BPF_FUNC_map_delete_elem};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        struct bpf_map m;
        shape_map(&shapes[s], &m);
        for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++) {
            if ((shapes[s].type == BPF_MAP_TYPE_ARRAY ||
                 shapes[s].type == BPF_MAP_TYPE_PERCPU_ARRAY) &&
                ops[o] == BPF_FUNC_map_delete_elem) {
                /* Arrays: deletes fail. */
                continue;
            }
            check_helper(ops[o], &m, shapes[s].what, 1000 + s * 7 + o);
        }
    }
}

static void
test_other_helper_contracts_hold(void **state)
{
    (void)state;
    struct bpf_map m;
    shape_map(&shapes[2], &m); /* hash u32 -> u32 */
    check_helper(BPF_FUNC_redirect_map, &m, "hash redirect", 77);
    shape_map(&shapes[9], &m); /* array u32 -> u32 */
    check_helper(BPF_FUNC_redirect_map, &m, "array redirect", 78);
    static const int32_t plain[] = {
        BPF_FUNC_ktime_get_ns,     BPF_FUNC_jiffies64,
        BPF_FUNC_get_prandom_u32,  BPF_FUNC_get_smp_processor_id,
        BPF_FUNC_get_numa_node_id, BPF_FUNC_redirect,
        BPF_FUNC_csum_diff};
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
        check_helper(plain[i], NULL, "no map", 90 + i);
    }
}

/* Queue, stack and ring-buffer helpers: every outcome each can have
 * occurs, often enough for its mean gap to count, within its bound. */
static void
check_every_outcome(int32_t id, const struct bpf_map *shape, const char *what,
                    uint64_t seed)
{
    enum contract_outcome outs[CONTRACT_OUT_N];
    size_t n = contract_mapcost_outcomes(id, shape, outs, CONTRACT_OUT_N);
    assert_true(n > 0);
    struct check c = check_helper(id, shape, what, seed);
    for (size_t i = 0; i < n; i++) {
        if (c.n[outs[i]] < (outs[i] == CONTRACT_OUT_INVALID ? 1 : MIN_CLASS)) {
            fail_msg("%s helper %d: outcome %s seen %zu times", what, id,
                     contract_outcome_name(outs[i]), c.n[outs[i]]);
        }
    }
}

static int
drop_record(void *arg, const void *data, size_t size)
{
    (void)arg;
    (void)data;
    (void)size;
    return 0;
}

static void
test_stream_contracts_hold(void **state)
{
    (void)state;
    static const struct shape qs[] = {
        {"queue 8B", BPF_MAP_TYPE_QUEUE, 0, 8, 0, 0},
        {"stack 64B", BPF_MAP_TYPE_STACK, 0, 64, 0, 0},
        {"queue 4B", BPF_MAP_TYPE_QUEUE, 0, 4, 0, 0},
    };
    static const int32_t qops[] = {BPF_FUNC_map_push_elem,
                                   BPF_FUNC_map_pop_elem,
                                   BPF_FUNC_map_peek_elem};
    struct bpf_map m;
    for (size_t s = 0; s < sizeof qs / sizeof qs[0]; s++) {
        shape_map(&qs[s], &m);
        for (size_t o = 0; o < sizeof qops / sizeof qops[0]; o++) {
            check_every_outcome(qops[o], &m, qs[s].what, 500 + s * 5 + o);
        }
    }
    static const struct shape rb = {"ringbuf", BPF_MAP_TYPE_RINGBUF, 0, 0,
                                    0, 0};
    static const int32_t rops[] = {BPF_FUNC_ringbuf_output,
                                   BPF_FUNC_ringbuf_reserve,
                                   BPF_FUNC_ringbuf_query};
    shape_map(&rb, &m);
    m.max_entries = 1u << 16;
    for (size_t o = 0; o < sizeof rops / sizeof rops[0]; o++) {
        check_every_outcome(rops[o], &m, "ringbuf", 600 + o);
    }
    check_every_outcome(BPF_FUNC_ringbuf_submit, NULL, "ringbuf", 610);
    check_every_outcome(BPF_FUNC_ringbuf_discard, NULL, "ringbuf", 611);
    /* Records far larger than the exerciser's, up to the C library's
     * REP MOVSB copies: COPY keeps the bound exact. */
    static const uint64_t sizes[] = {0, 1, 100, 700, 2100, 5000, 20000};
    static uint8_t src[20000];
    struct bpf_map big;
    shape_map(&rb, &big);
    big.max_entries = 1u << 16;
    snprintf(big.name, sizeof big.name, "bigrecords");
    assert_int_equal(bpf_map_create_internal(&big), 0);
    for (size_t i = 0; i < 3 * sizeof sizes / sizeof sizes[0]; i++) {
        uint64_t a[5] = {(uintptr_t)&big, (uintptr_t)src + i % 3,
                         sizes[i % (sizeof sizes / sizeof sizes[0])], 0, 0};
        struct contract_pcvs p;
        struct contract_op_cost cost;
        uint64_t ret;
        uint64_t x86 =
            contract_mapcost_measure(BPF_FUNC_ringbuf_output, a, &p, &ret);
        assert_true(outcome_agrees(BPF_FUNC_ringbuf_output, p.outcome, ret));
        assert_int_equal(contract_mapcost_get(BPF_FUNC_ringbuf_output, &big,
                                              p.outcome, &cost),
                         0);
        uint64_t bound = contract_linear_eval(&cost.x86, p.pcv);
        if (x86 > bound || (double)(bound - x86) > 0.05 * (double)x86) {
            fail_msg("ringbuf_output of %llu bytes (%s): measured %llu, "
                     "bound %llu (copy %llu)",
                     (unsigned long long)a[2],
                     contract_outcome_name(p.outcome),
                     (unsigned long long)x86, (unsigned long long)bound,
                     (unsigned long long)p.pcv[CONTRACT_PCV_COPY]);
        }
        if (p.outcome == CONTRACT_OUT_FULL) {
            bpf_ringbuf_consume(&big, drop_record, NULL);
        }
    }
    bpf_map_free_internal(&big);
    /* Lookups by key are not queue operations. */
    enum contract_outcome outs[CONTRACT_OUT_N];
    shape_map(&qs[0], &m);
    assert_int_equal(contract_mapcost_outcomes(BPF_FUNC_map_lookup_elem, &m,
                                               outs, CONTRACT_OUT_N),
                     0);
    struct contract_op_cost cost;
    assert_int_equal(contract_mapcost_get(BPF_FUNC_map_pop_elem, &m,
                                          CONTRACT_OUT_FULL, &cost),
                     -ENOENT);
}

/* Chains far longer than any the calibration saw: the linear extension
 * must still bound them. */
static void
test_long_chains_extrapolate(void **state)
{
    (void)state;
    struct bpf_map m;
    memset(&m, 0, sizeof m);
    snprintf(m.name, sizeof m.name, "long");
    m.type = BPF_MAP_TYPE_HASH;
    m.key_size = 8;
    m.value_size = 8;
    m.max_entries = 256;
    m.map_flags = BPF_F_ZERO_SEED;
    assert_int_equal(bpf_map_create_internal(&m), 0);
    uint64_t keys[120], value = 1, rng = 12345;
    size_t n = 0;
    while (n < 120) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        uint64_t k = rng >> 11;
        if ((hash_bytes(&k, 8, m.hash_seed) & 255) == 7) {
            keys[n++] = k;
        }
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t a[5] = {(uintptr_t)&m, (uintptr_t)&keys[i], (uintptr_t)&value,
                         BPF_ANY, 0};
        struct contract_pcvs p;
        struct contract_op_cost cost;
        uint64_t ret;
        uint64_t x86 =
            contract_mapcost_measure(BPF_FUNC_map_update_elem, a, &p, &ret);
        assert_int_equal(ret, 0);
        assert_int_equal(p.outcome, CONTRACT_OUT_INSERTED);
        assert_int_equal(p.pcv[CONTRACT_PCV_CHAIN], i);
        assert_int_equal(contract_mapcost_get(BPF_FUNC_map_update_elem, &m,
                                              p.outcome, &cost),
                         0);
        assert_true(x86 <= contract_linear_eval(&cost.x86, p.pcv));
        if (i % 8 != 7) {
            continue;
        }
        /* The miss that walks the whole chain. */
        uint64_t absent = keys[i] ^ 1;
        uint64_t b[5] = {(uintptr_t)&m, (uintptr_t)&absent, 0, 0, 0};
        x86 = contract_mapcost_measure(BPF_FUNC_map_lookup_elem, b, &p, &ret);
        assert_int_equal(contract_mapcost_get(BPF_FUNC_map_lookup_elem, &m,
                                              p.outcome, &cost),
                         0);
        assert_true(x86 <= contract_linear_eval(&cost.x86, p.pcv));
    }
    bpf_map_free_internal(&m);
}

/* ---- Adversarial LPM tries. ---- */

struct lpm_adv {
    struct bpf_map m;
    uint32_t data;                        /* Key data bytes. */
    uint8_t addr[16];                     /* The address nested around. */
    uint8_t value[8];
    double gap_sum[3][CONTRACT_OUT_N];    /* Per op (lookup, update,
                                           * delete) and outcome. */
    size_t n[3][CONTRACT_OUT_N];
    size_t seen[CONTRACT_PCV_N];          /* Calls with each PCV > 0. */
    size_t max_chain;
};

/* One measured call on the trie: it must stay within its contract, and
 * the probe must predict its outcome. */
static void
lpm_call(struct lpm_adv *a, int op, uint32_t len, const uint8_t *data,
         uint64_t flags)
{
    static const int32_t ids[3] = {BPF_FUNC_map_lookup_elem,
                                   BPF_FUNC_map_update_elem,
                                   BPF_FUNC_map_delete_elem};
    uint8_t key[20];
    memcpy(key, &len, 4);
    memcpy(key + 4, data, a->data);
    uint64_t args[5] = {(uintptr_t)&a->m, (uintptr_t)key,
                        (uintptr_t)a->value, flags, 0};
    struct contract_pcvs p;
    struct contract_op_cost cost;
    uint64_t ret;
    uint64_t x86 = contract_mapcost_measure(ids[op], args, &p, &ret);
    if (!outcome_agrees(ids[op], p.outcome, ret)) {
        fail_msg("lpm %u bytes op %d /%u: predicted %s, returned %lld",
                 a->data, op, len, contract_outcome_name(p.outcome),
                 (long long)ret);
    }
    assert_int_equal(contract_mapcost_get(ids[op], &a->m, p.outcome, &cost),
                     0);
    uint64_t bound = contract_linear_eval(&cost.x86, p.pcv);
    if (x86 > bound) {
        fail_msg("lpm %u bytes op %d /%u %s: measured %llu > bound %llu "
                 "(chain %llu cmps %llu diffs %llu scans %llu off %llu im "
                 "%llu nodes %llu joins %llu fresh %llu)",
                 a->data, op, len, contract_outcome_name(p.outcome),
                 (unsigned long long)x86, (unsigned long long)bound,
                 (unsigned long long)p.pcv[CONTRACT_PCV_CHAIN],
                 (unsigned long long)p.pcv[CONTRACT_PCV_CMPS],
                 (unsigned long long)p.pcv[CONTRACT_PCV_DIFFS],
                 (unsigned long long)p.pcv[CONTRACT_PCV_SCANS],
                 (unsigned long long)p.pcv[CONTRACT_PCV_OFF],
                 (unsigned long long)p.pcv[CONTRACT_PCV_IM],
                 (unsigned long long)p.pcv[CONTRACT_PCV_NODES],
                 (unsigned long long)p.pcv[CONTRACT_PCV_JOINS],
                 (unsigned long long)p.pcv[CONTRACT_PCV_FRESH]);
    }
    for (int i = 0; i < CONTRACT_PCV_N; i++) {
        assert_true(p.pcv[i] <= cost.pcv_max[i] || !cost.x86.coef[i]);
        a->seen[i] += p.pcv[i] > 0;
    }
    if (p.pcv[CONTRACT_PCV_CHAIN] > a->max_chain) {
        a->max_chain = p.pcv[CONTRACT_PCV_CHAIN];
    }
    a->gap_sum[op][p.outcome] += (double)(bound - x86) / (double)x86;
    a->n[op][p.outcome]++;
}

static void
flip(uint8_t *data, uint32_t bit)
{
    data[bit / 8] ^= (uint8_t)(0x80 >> (bit % 8));
}

/* Every prefix length of one address (paths of max_prefixlen + 1 nodes,
 * far beyond the calibration's), /0 and full-length keys, intermediate
 * nodes made, made real, stopped at and merged away, a full trie and an
 * empty one.  Calls that only probe (lookups, refused updates) are made at
 * every 'stride'-th length or bit and at the ends: single-stepping walks
 * of a 129-node IPv6 path at every depth would take minutes, and the
 * depths in between add no new branch. */
static void
lpm_adversarial(uint32_t key_size, uint32_t value_size, uint64_t seed,
                uint32_t stride)
{
    struct lpm_adv a;
    memset(&a, 0, sizeof a);
    a.data = key_size - 4;
    uint32_t max = a.data * 8;
    for (uint32_t i = 0; i < a.data; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        a.addr[i] = (uint8_t)(seed >> 33);
    }
    a.m.type = BPF_MAP_TYPE_LPM_TRIE;
    a.m.key_size = key_size;
    a.m.value_size = value_size;
    a.m.map_flags = BPF_F_NO_PREALLOC;
    a.m.max_entries = 2 * max + 4;
    snprintf(a.m.name, sizeof a.m.name, "adversarial");
    assert_int_equal(bpf_map_create_internal(&a.m), 0);
    uint8_t d[16];

    /* An empty trie. */
    lpm_call(&a, 0, max, a.addr, 0);
    lpm_call(&a, 2, 0, a.addr, 0);
    lpm_call(&a, 1, 7, a.addr, BPF_EXIST);
    /* Nested prefixes, shortest first (each a leaf below the last), with
     * lookups down the whole path and off it at every depth. */
    for (uint32_t len = 0; len <= max; len++) {
        lpm_call(&a, 1, len, a.addr, BPF_NOEXIST);
        if (len % stride && len + 2 < max) {
            continue;
        }
        lpm_call(&a, 1, len, a.addr, len % 2 ? BPF_NOEXIST : BPF_EXIST);
        lpm_call(&a, 0, max, a.addr, 0);
        memcpy(d, a.addr, a.data);
        flip(d, len < max ? len : 0);
        lpm_call(&a, 0, max, d, 0);
        lpm_call(&a, 1, max, d, BPF_EXIST);
        lpm_call(&a, 0, len, d, 0);
    }
    /* Siblings at every bit: each hangs off the nested path. */
    for (uint32_t bit = 0; bit < max; bit++) {
        memcpy(d, a.addr, a.data);
        flip(d, bit);
        lpm_call(&a, 1, max, d, BPF_ANY);
        if (bit % stride == 0 || bit + 2 >= max) {
            lpm_call(&a, 0, max, d, 0);
        }
    }
    /* Deletes of the nested prefixes, odd lengths first (nodes with one
     * or two children), then the rest from the longest (leaves). */
    for (uint32_t len = 1; len <= max; len += 2) {
        lpm_call(&a, 2, len, a.addr, 0);
        if (len % (2 * stride) == 1 || len + 2 >= max) {
            lpm_call(&a, 2, len, a.addr, 0);
            lpm_call(&a, 0, max, a.addr, 0);
        }
    }
    for (uint32_t len = max + 1; len-- > 0;) {
        lpm_call(&a, 2, len - len % 2, a.addr, 0);
        if (len % stride == 0 || len + 2 >= max) {
            lpm_call(&a, 0, max, a.addr, 0);
        }
    }
    /* Now only the siblings: full-length keys joined by intermediate
     * nodes at every bit.  Make some of those real, stop at them, and
     * delete leaves so that their intermediate parents merge away. */
    for (uint32_t bit = 0; bit < max; bit += 3) {
        memcpy(d, a.addr, a.data);
        flip(d, bit);
        lpm_call(&a, 1, bit, d, BPF_EXIST);
        lpm_call(&a, 2, bit, d, 0);
        lpm_call(&a, 1, bit, d, BPF_ANY);
        lpm_call(&a, 0, max, d, 0);
        lpm_call(&a, 2, bit, d, 0);
    }
    for (uint32_t bit = max; bit-- > 0;) {
        memcpy(d, a.addr, a.data);
        flip(d, bit);
        lpm_call(&a, 2, max, d, 0);
        if (bit % stride == 0 || bit + 2 >= max) {
            lpm_call(&a, 0, max, d, 0);
        }
    }
    /* A full trie: inserts refused at every kind of stop (random
     * prefixes, and the nested ones again). */
    for (uint32_t i = 0; a.n[1][CONTRACT_OUT_FULL] < 3 * max / stride; i++) {
        assert_true(i < 100 * max);
        for (uint32_t j = 0; j < a.data; j++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            d[j] = (uint8_t)(seed >> 33);
        }
        lpm_call(&a, 1, (uint32_t)(seed >> 40) % (max + 1),
                 i % 3 ? d : a.addr, BPF_ANY);
    }

    assert_true(a.max_chain >= max + 1);
    for (int i = 0; i < CONTRACT_PCV_N; i++) {
        if (i == CONTRACT_PCV_CHAIN || i == CONTRACT_PCV_CMPS ||
            i >= CONTRACT_PCV_DIFFS) {
            /* Every LPM PCV (TAIL is csum_diff's, COPY ringbuf_output's)
             * took a non-zero value. */
            assert_true(i == CONTRACT_PCV_TAIL || i == CONTRACT_PCV_COPY ||
                        a.seen[i] > 0);
        }
    }
    for (int op = 0; op < 3; op++) {
        for (int o = 0; o < CONTRACT_OUT_N; o++) {
            if (!a.n[op][o]) {
                continue;
            }
            double mean = a.gap_sum[op][o] / (double)a.n[op][o];
            printf("  lpm %2u bytes op %d %-9s n=%4zu mean gap %5.2f%%\n",
                   a.data, op, contract_outcome_name(o), a.n[op][o],
                   100 * mean);
            if (a.n[op][o] >= MIN_CLASS) {
                assert_true(mean <= MAX_MEAN_GAP);
            }
        }
    }
    bpf_map_free_internal(&a.m);
}

static void
test_lpm_adversarial(void **state)
{
    (void)state;
    lpm_adversarial(8, 4, 5, 1);
    lpm_adversarial(20, 8, 6, 4);
}

/* The probe's PCVs are the ones the maps count themselves (struct
 * bpf_map_costs): chain visits (plus the bucket), key compares, expiries. */
static void
test_probe_matches_counters(void **state)
{
    (void)state;
    static const size_t which[] = {0, 1, 4, 6, 7, 8};
    struct bpf_xdp_buff xdp;
    struct bpf_run_ctx run = {.xdp = &xdp};
    memset(&xdp, 0, sizeof xdp);
    bpf_run_cur = &run;
    bpf_time_set = true;
    for (size_t w = 0; w < sizeof which / sizeof which[0]; w++) {
        const struct shape *s = &shapes[which[w]];
        struct bpf_map m;
        shape_map(s, &m);
        m.max_entries = 16;
        snprintf(m.name, sizeof m.name, "probe");
        assert_int_equal(bpf_map_create_internal(&m), 0);
        if (s->type == BPF_MAP_TYPE_SLUICE_FLOWTABLE) {
            assert_int_equal(bpf_flowtable_configure(&m, 16, 500), 0);
        }
        uint8_t keys[40][20], value[32] = {0};
        uint64_t rng = 99 + w;
        for (int i = 0; i < 40; i++) {
            for (uint32_t b = 0; b < s->key_size; b++) {
                rng = rng * 6364136223846793005ull + 1442695040888963407ull;
                keys[i][b] = (uint8_t)(rng >> 33);
            }
            if (s->type == BPF_MAP_TYPE_LPM_TRIE) {
                uint32_t len = keys[i][0] % ((s->key_size - 4) * 8 + 1);
                memcpy(keys[i], &len, 4);
                keys[i][4] = 10; /* Shared first byte: a deeper trie. */
            }
        }
        bpf_time_ns = 1000;
        for (int step = 0; step < 3000; step++) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            uint32_t r = (uint32_t)(rng >> 33);
            int32_t id = r % 3 == 0   ? BPF_FUNC_map_lookup_elem
                         : r % 3 == 1 ? BPF_FUNC_map_update_elem
                                      : BPF_FUNC_map_delete_elem;
            bpf_time_ns += (r >> 8) % 97 ? (r >> 4) % 40 : 2000;
            uint64_t a[5] = {(uintptr_t)&m, (uintptr_t)keys[(r >> 12) % 40],
                             (uintptr_t)value, (r >> 20) % 3, 0};
            struct contract_pcvs p;
            struct bpf_map_costs costs = {0};
            assert_int_equal(contract_mapcost_probe(id, a, &p), 0);
            bpf_map_costs = &costs;
            uint64_t ret = bpf_helper_func(id)(a[0], a[1], a[2], a[3], a[4]);
            bpf_map_costs = NULL;
            if (!outcome_agrees(id, p.outcome, ret)) {
                fail_msg("%s step %d helper %d: predicted %s, returned %lld",
                         s->what, step, id, contract_outcome_name(p.outcome),
                         (long long)ret);
            }
            if (p.outcome == CONTRACT_OUT_INVALID) {
                continue;
            }
            if (s->type == BPF_MAP_TYPE_LPM_TRIE) {
                assert_int_equal(costs.visits, p.pcv[CONTRACT_PCV_CHAIN]);
                continue;
            }
            assert_int_equal(costs.key_cmps, p.pcv[CONTRACT_PCV_CMPS]);
            assert_int_equal(costs.expired, p.pcv[CONTRACT_PCV_EXPIRED]);
            assert_int_equal(costs.visits, 1 + p.pcv[CONTRACT_PCV_CHAIN] +
                                               p.pcv[CONTRACT_PCV_EXPIRED]);
        }
        bpf_map_free_internal(&m);
    }
    bpf_run_cur = NULL;
    bpf_time_set = false;
}

static void
test_outcome_lists(void **state)
{
    (void)state;
    struct bpf_map m;
    enum contract_outcome outs[CONTRACT_OUT_N];
    struct contract_op_cost cost;
    shape_map(&shapes[9], &m);
    assert_int_equal(contract_mapcost_outcomes(BPF_FUNC_map_delete_elem, &m,
                                               outs, CONTRACT_OUT_N),
                     1);
    assert_int_equal(outs[0], CONTRACT_OUT_INVALID);
    assert_int_equal(contract_mapcost_get(BPF_FUNC_map_lookup_elem, &m,
                                          CONTRACT_OUT_INSERTED, &cost),
                     -ENOENT);
    assert_int_equal(contract_mapcost_get(BPF_FUNC_trace_printk, NULL,
                                          CONTRACT_OUT_OK, &cost),
                     -EOPNOTSUPP);
    shape_map(&shapes[4], &m);
    assert_int_equal(contract_mapcost_get(BPF_FUNC_map_update_elem, &m,
                                          CONTRACT_OUT_INSERTED, &cost),
                     0);
    assert_int_equal(cost.pcv_max[CONTRACT_PCV_EVICTED], 1);
    assert_true(cost.x86.coef[CONTRACT_PCV_CHAIN] > 0);
    assert_true(cost.x86.coef[CONTRACT_PCV_EVICTED] > 0);
}

/* An argument runs only the tests whose names match it (a cmocka
 * pattern such as "test_stream*"); "others" runs the tests other than
 * the two long ones, which meson runs as tests of their own, in
 * parallel (src/contract/meson.build). */
int
main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "others")) {
        const struct CMUnitTest others[] = {
            cmocka_unit_test(test_outcome_lists),
            cmocka_unit_test(test_probe_matches_counters),
            cmocka_unit_test(test_long_chains_extrapolate),
            cmocka_unit_test(test_other_helper_contracts_hold),
            cmocka_unit_test(test_stream_contracts_hold),
        };
        return cmocka_run_group_tests(others, NULL, NULL);
    }
    if (argc > 1) {
        cmocka_set_test_filter(argv[1]);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outcome_lists),
        cmocka_unit_test(test_probe_matches_counters),
        cmocka_unit_test(test_long_chains_extrapolate),
        cmocka_unit_test(test_other_helper_contracts_hold),
        cmocka_unit_test(test_stream_contracts_hold),
        cmocka_unit_test(test_map_contracts_hold),
        cmocka_unit_test(test_lpm_adversarial),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
