/* Helper contracts: structure from the code, numbers from measurement.
 * See mapcost.h for the idea; docs/contracts.md for the reader's view.
 *
 * Which PCVs each helper uses (read from src/bpf):
 *  - hash, per-CPU hash, LRU (map_hash.c): one hash of the key, one bucket,
 *    then per chain element a header check (CHAIN) and, when the stored
 *    32-bit hash matches, a full-key compare (CMPS).  An LRU insert into a
 *    full map evicts the tail (EVICTED), unlinking it from its chain by a
 *    walk from the bucket head (UNLINK).
 *  - flow table (map_flowtable.c): the same chain walk, plus up to
 *    BPF_FLOWTABLE_EXPIRE_BUDGET + 1 expiries (EXPIRED), each unlinked by a
 *    walk of its chain (UNLINK).
 *  - LPM trie (map_lpm.c): per node on the path one visit (CHAIN) and a
 *    byte-wise prefix compare (CMPS counts the bytes, SCANS the compares
 *    that read any, DIFFS those that stopped at a differing byte); where
 *    the walk ended (OFF the trie, at an intermediate node: IM); what an
 *    insert or delete changes (NODES added or freed, JOINS intermediate
 *    ones among them, FRESH nodes from the never-used pool).  Exact: every
 *    branch of map_lpm.c's walks and restructuring is one of these.
 *  - arrays, redirect, time, random, CPU: constant per outcome.
 *  - csum_diff: a loop over 8-byte words (WORDS), per non-empty operand a
 *    call (PARTS), and a byte loop over the rest of each operand (TAIL).
 *  - queue and stack (map_queue.c): push, pop and peek visit one slot and
 *    copy value_size bytes (fixed per shape): constant per outcome (push
 *    ok, full, replaced = the oldest value dropped by BPF_EXIST, invalid;
 *    pop and peek ok or noent).
 *  - ring buffer (map_ringbuf.c): reserve, submit, discard and query are
 *    constant per outcome; output copies its 'size' bytes with the C
 *    library's memcpy, whose instructions are a step function of the
 *    length (one path up to 128 bytes, others up to 256, 512, a vector
 *    loop, then REP MOVSB counted per byte): not linear in any size
 *    variable, so its PCV is that memcpy's own count (COPY), which the
 *    probe measures on a scratch copy of the same length and alignment.
 *    WORDS and TAIL describe the bytes for the memory model only.
 * Everything else in those functions either has a fixed size per map shape
 * (hashing key_size bytes, copying value_size bytes, zeroing the per-CPU
 * copies) or is a branch that is not a PCV (an LRU element already at the
 * head): the former is part of the
 * calibrated constant, the latter is covered because the constant is the
 * largest remainder over all calibration runs.
 *
 * Calibration (mc_calibrate): contract_mapcost_exercise() with fixed seeds
 * produces 800 measured calls per helper and shape, over four scratch maps
 * that each start empty.  A least-squares fit (per outcome when it had
 * enough calls, else over all outcomes of the op: a constant per outcome,
 * one coefficient per PCV that varies) gives the coefficients, rounded up
 * to whole instructions (the true costs are integers: instructions per
 * loop iteration) and raised to the slope of the cheapest runs over long
 * PCV spans (mc_span_slopes); the constant of each outcome is the largest
 * remainder, so the bound is at least every calibration measurement and
 * exact where the code is exactly linear. */
#include "contract/mapcost.h"

#include <errno.h>
#include <linux/bpf.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bpf/bpf_api.h"
#include "bpf/helpers.h"
#include "bpf/maps.h"
#include "contract/x86count.h"
#include "core/hash.h"

#define MC_SEED 0x5eed5eedu /* Hash seed of scratch maps. */
#define MC_CAL_SEED 0x6361  /* Exercise seed of the calibration. */
#define MC_CAL_CALLS 800    /* Measured calls per calibration. */
#define MC_CAL_WORLDS 4     /* Scratch maps they are spread over. */
#define MC_SPAN_MIN 8       /* Shortest PCV span for a slope. */
#define MC_OWN_FIT 50       /* Runs for an outcome's own fit. */
#define MC_OWN_FIT_LPM 20   /* The same for LPM tries, whose costs are
                             * exactly linear in their PCVs. */
#define MC_ENTRIES 32       /* Scratch hash maps and flow tables. */
#define MC_LPM_ENTRIES 64   /* Scratch LPM tries. */
#define MC_FT_TIMEOUT 1000  /* Scratch flow-table timeout, ns. */
#define MC_CACHE_MAX 256    /* Calibrated (helper, shape) pairs. */
#define MC_COLLIDE_PAIRS 8  /* Full 32-bit hash collisions per pool. */

static const char *const pcv_names[CONTRACT_PCV_N] = {
    [CONTRACT_PCV_CHAIN] = "chain",     [CONTRACT_PCV_CMPS] = "cmps",
    [CONTRACT_PCV_EVICTED] = "evicted", [CONTRACT_PCV_EXPIRED] = "expired",
    [CONTRACT_PCV_UNLINK] = "unlink",   [CONTRACT_PCV_WORDS] = "words",
    [CONTRACT_PCV_PARTS] = "parts",     [CONTRACT_PCV_TAIL] = "tail",
    [CONTRACT_PCV_DIFFS] = "diffs",     [CONTRACT_PCV_SCANS] = "scans",
    [CONTRACT_PCV_OFF] = "off",         [CONTRACT_PCV_IM] = "im",
    [CONTRACT_PCV_NODES] = "nodes",     [CONTRACT_PCV_JOINS] = "joins",
    [CONTRACT_PCV_FRESH] = "fresh",     [CONTRACT_PCV_COPY] = "copy",
};

static const char *const outcome_names[CONTRACT_OUT_N] = {
    [CONTRACT_OUT_OK] = "ok",
    [CONTRACT_OUT_HIT] = "hit",
    [CONTRACT_OUT_MISS] = "miss",
    [CONTRACT_OUT_INSERTED] = "inserted",
    [CONTRACT_OUT_REPLACED] = "replaced",
    [CONTRACT_OUT_EXISTS] = "exists",
    [CONTRACT_OUT_NOENT] = "noent",
    [CONTRACT_OUT_FULL] = "full",
    [CONTRACT_OUT_DELETED] = "deleted",
    [CONTRACT_OUT_INVALID] = "invalid",
};

const char *
contract_pcv_name(enum contract_pcv pcv)
{
    return pcv < CONTRACT_PCV_N ? pcv_names[pcv] : "?";
}

const char *
contract_outcome_name(enum contract_outcome o)
{
    return o < CONTRACT_OUT_N ? outcome_names[o] : "?";
}

uint64_t
contract_linear_eval(const struct contract_linear *l,
                     const uint64_t pcv[CONTRACT_PCV_N])
{
    uint64_t sum = l->base;
    for (int i = 0; i < CONTRACT_PCV_N; i++) {
        sum += l->coef[i] * pcv[i];
    }
    return sum;
}

/* ---- Which helpers and maps, and their outcomes. ---- */

enum mc_family {
    MC_NONE,
    MC_HASH,  /* The four hash types. */
    MC_FT,    /* SLUICE_FLOWTABLE. */
    MC_LPM,   /* LPM_TRIE. */
    MC_ARRAY, /* ARRAY, PERCPU_ARRAY. */
    MC_QUEUE, /* QUEUE, STACK. */
    MC_RB,    /* RINGBUF. */
};

static enum mc_family
mc_family(const struct bpf_map *map)
{
    if (!map) {
        return MC_NONE;
    }
    switch ((uint32_t)map->type) {
    case BPF_MAP_TYPE_HASH:
    case BPF_MAP_TYPE_PERCPU_HASH:
    case BPF_MAP_TYPE_LRU_HASH:
    case BPF_MAP_TYPE_LRU_PERCPU_HASH:
        return MC_HASH;
    case BPF_MAP_TYPE_SLUICE_FLOWTABLE:
        return MC_FT;
    case BPF_MAP_TYPE_LPM_TRIE:
        return MC_LPM;
    case BPF_MAP_TYPE_ARRAY:
    case BPF_MAP_TYPE_PERCPU_ARRAY:
        return MC_ARRAY;
    case BPF_MAP_TYPE_QUEUE:
    case BPF_MAP_TYPE_STACK:
        return MC_QUEUE;
    case BPF_MAP_TYPE_RINGBUF:
        return MC_RB;
    default:
        return MC_NONE;
    }
}

static bool
mc_is_lru(const struct bpf_map *map)
{
    return map->type == BPF_MAP_TYPE_LRU_HASH ||
           map->type == BPF_MAP_TYPE_LRU_PERCPU_HASH;
}

/* Maps with lookup, update and delete by key. */
static bool
mc_keyed(enum mc_family fam)
{
    return fam == MC_HASH || fam == MC_FT || fam == MC_LPM || fam == MC_ARRAY;
}

/* Helpers whose cost does not depend on a map and that have a contract
 * (ringbuf submit and discard take a record, not the map). */
static bool
mc_plain_helper(int32_t id)
{
    switch (id) {
    case BPF_FUNC_ktime_get_ns:
    case BPF_FUNC_jiffies64:
    case BPF_FUNC_get_prandom_u32:
    case BPF_FUNC_get_smp_processor_id:
    case BPF_FUNC_get_numa_node_id:
    case BPF_FUNC_redirect:
    case BPF_FUNC_csum_diff:
    case BPF_FUNC_tail_call:
    case BPF_FUNC_ringbuf_submit:
    case BPF_FUNC_ringbuf_discard:
        return true;
    default:
        return false;
    }
}

size_t
contract_mapcost_outcomes(int32_t id, const struct bpf_map *map,
                          enum contract_outcome *out, size_t n)
{
    static const enum contract_outcome lookup[] = {CONTRACT_OUT_HIT,
                                                   CONTRACT_OUT_MISS};
    static const enum contract_outcome update[] = {
        CONTRACT_OUT_INSERTED, CONTRACT_OUT_REPLACED, CONTRACT_OUT_EXISTS,
        CONTRACT_OUT_NOENT,    CONTRACT_OUT_FULL,     CONTRACT_OUT_INVALID};
    static const enum contract_outcome aupdate[] = {
        CONTRACT_OUT_REPLACED, CONTRACT_OUT_EXISTS, CONTRACT_OUT_FULL,
        CONTRACT_OUT_INVALID};
    static const enum contract_outcome del[] = {CONTRACT_OUT_DELETED,
                                                CONTRACT_OUT_NOENT};
    static const enum contract_outcome adel[] = {CONTRACT_OUT_INVALID};
    static const enum contract_outcome ok[] = {CONTRACT_OUT_OK};
    static const enum contract_outcome okinv[] = {CONTRACT_OUT_OK,
                                                  CONTRACT_OUT_INVALID};
    static const enum contract_outcome push[] = {
        CONTRACT_OUT_OK, CONTRACT_OUT_FULL, CONTRACT_OUT_REPLACED,
        CONTRACT_OUT_INVALID};
    static const enum contract_outcome take[] = {CONTRACT_OUT_OK,
                                                 CONTRACT_OUT_NOENT};
    static const enum contract_outcome reserve[] = {
        CONTRACT_OUT_OK, CONTRACT_OUT_FULL, CONTRACT_OUT_INVALID};
    const enum contract_outcome *list = NULL;
    size_t len = 0;
    enum mc_family fam = mc_family(map);

#define MC_LIST(A) (list = (A), len = sizeof(A) / sizeof((A)[0]))
    switch (id) {
    case BPF_FUNC_map_lookup_elem:
        if (mc_keyed(fam)) {
            MC_LIST(lookup);
        }
        break;
    case BPF_FUNC_map_update_elem:
        if (fam == MC_ARRAY) {
            MC_LIST(aupdate);
        } else if (mc_keyed(fam)) {
            MC_LIST(update);
        }
        break;
    case BPF_FUNC_map_delete_elem:
        if (fam == MC_ARRAY) {
            MC_LIST(adel);
        } else if (mc_keyed(fam)) {
            MC_LIST(del);
        }
        break;
    case BPF_FUNC_map_push_elem:
        if (fam == MC_QUEUE) {
            MC_LIST(push);
        }
        break;
    case BPF_FUNC_map_pop_elem:
    case BPF_FUNC_map_peek_elem:
        if (fam == MC_QUEUE) {
            MC_LIST(take);
        }
        break;
    case BPF_FUNC_ringbuf_output:
    case BPF_FUNC_ringbuf_reserve:
        if (fam == MC_RB) {
            MC_LIST(reserve);
        }
        break;
    case BPF_FUNC_ringbuf_query:
        if (fam == MC_RB) {
            MC_LIST(ok);
        }
        break;
    case BPF_FUNC_redirect_map:
        if (map && map->key_size == 4 && map->value_size == 4 &&
            (map->type == BPF_MAP_TYPE_ARRAY ||
             map->type == BPF_MAP_TYPE_HASH)) {
            MC_LIST(lookup);
        } else if (map) {
            /* Other maps: the helper answers the fallback action. */
            static const enum contract_outcome miss[] = {CONTRACT_OUT_MISS};
            MC_LIST(miss);
        }
        break;
    case BPF_FUNC_redirect:
        MC_LIST(okinv);
        break;
    default:
        if (mc_plain_helper(id)) {
            MC_LIST(ok);
        }
        break;
    }
#undef MC_LIST
    for (size_t i = 0; i < len && i < n; i++) {
        out[i] = list[i];
    }
    return len;
}

/* ---- Observation. ---- */

/* 'change': the call inserts (update) or removes (delete) an entry, so
 * the probe's description of that change applies. */
static void
mc_copy_probe(const struct bpf_map_probe *p, const struct bpf_lpm_walk *w,
              struct contract_pcvs *out, bool change)
{
    out->pcv[CONTRACT_PCV_CHAIN] = p->chain;
    out->pcv[CONTRACT_PCV_CMPS] = p->cmps;
    out->pcv[CONTRACT_PCV_DIFFS] = p->diffs;
    out->pcv[CONTRACT_PCV_EXPIRED] = p->expired;
    out->pcv[CONTRACT_PCV_UNLINK] = p->unlink;
    out->pcv[CONTRACT_PCV_EVICTED] = change ? p->evicted : 0;
    out->pcv[CONTRACT_PCV_SCANS] = w->scans;
    out->pcv[CONTRACT_PCV_OFF] = w->off;
    out->pcv[CONTRACT_PCV_NODES] = change ? w->nodes : 0;
    out->pcv[CONTRACT_PCV_JOINS] = change ? w->joins : 0;
    out->pcv[CONTRACT_PCV_FRESH] = change ? w->fresh : 0;
    /* An insert at an intermediate node is the one that adds no node:
     * 'nodes' already tells it apart (and 'im' would be a linear
     * combination of the others, which the fit cannot separate). */
    out->pcv[CONTRACT_PCV_IM] = change ? 0 : w->im;
}

/* Runs the map's own probe; 'op' as in bpf_int.h.  'w' gets an LPM
 * trie's walk, zeros for other maps. */
static int
mc_probe_map(const struct bpf_map *map, int op, const void *key,
             struct bpf_map_probe *p, struct bpf_lpm_walk *w)
{
    memset(w, 0, sizeof *w);
    switch (mc_family(map)) {
    case MC_HASH:
        bpf_htab_probe(map, op, key, p);
        return 0;
    case MC_FT:
        bpf_flowtable_probe(map, op, key, p);
        return 0;
    case MC_LPM:
        bpf_lpm_probe_walk(map, op, key, p, w);
        return 0;
    case MC_ARRAY: {
        uint32_t index;
        memcpy(&index, key, sizeof index);
        memset(p, 0, sizeof *p);
        p->found = index < map->max_entries;
        p->full = !p->found;
        return 0;
    }
    default:
        return -EOPNOTSUPP;
    }
}

static bool
mc_lpm_key_bad(const struct bpf_map *map, const void *key)
{
    uint32_t prefixlen;
    memcpy(&prefixlen, key, sizeof prefixlen);
    return prefixlen > (map->key_size - 4) * 8;
}

static int
mc_probe_update(const struct bpf_map *map, const void *key, uint64_t flags,
                struct contract_pcvs *out)
{
    struct bpf_map_probe p;
    struct bpf_lpm_walk w;
    enum mc_family fam = mc_family(map);

    if (flags > BPF_EXIST || (fam == MC_LPM && mc_lpm_key_bad(map, key))) {
        out->outcome = CONTRACT_OUT_INVALID;
        return 0;
    }
    if (fam == MC_ARRAY) {
        mc_probe_map(map, BPF_MAP_LOOKUP_ELEM, key, &p, &w);
        out->outcome = !p.found               ? CONTRACT_OUT_FULL
                       : flags == BPF_NOEXIST ? CONTRACT_OUT_EXISTS
                                              : CONTRACT_OUT_REPLACED;
        return 0;
    }
    /* BPF_EXIST never inserts: a hash map's walk is then a lookup's (an
     * LPM update's walk is an exact match whatever the flags). */
    int op = flags == BPF_EXIST && fam != MC_LPM ? BPF_MAP_LOOKUP_ELEM
                                                 : BPF_MAP_UPDATE_ELEM;
    int err = mc_probe_map(map, op, key, &p, &w);
    if (err) {
        return err;
    }
    bool insert = false;
    if (p.found) {
        out->outcome =
            flags == BPF_NOEXIST ? CONTRACT_OUT_EXISTS : CONTRACT_OUT_REPLACED;
    } else if (flags == BPF_EXIST) {
        out->outcome = CONTRACT_OUT_NOENT;
    } else if (p.full) {
        out->outcome = CONTRACT_OUT_FULL;
    } else {
        out->outcome = CONTRACT_OUT_INSERTED;
        insert = true;
    }
    mc_copy_probe(&p, &w, out, insert);
    return 0;
}

struct mc_copy {
    void *dst;
    const void *src;
    size_t n;
};

static void
mc_copy_run(void *arg)
{
    struct mc_copy *c = arg;
    memcpy(c->dst, c->src, c->n);
}

/* The x86 instructions of memcpy(dst, src, n), plus the few of the call
 * around it, without writing 'dst': the same copy into a scratch buffer
 * at the same address modulo the page size (memcpy's paths depend on the
 * length, on alignment and on the distance between source and
 * destination modulo a page).  Returns 0 or -ENOMEM. */
static int
mc_copy_cost(const void *dst, const void *src, size_t n, uint64_t *count)
{
    const size_t page = 4096;
    uint8_t *buf = malloc(n + 2 * page);
    if (!buf) {
        return -ENOMEM;
    }
    uintptr_t want = (uintptr_t)dst % page;
    uint8_t *at = buf + (want + page - (uintptr_t)buf % page) % page;
    struct mc_copy c = {.dst = at, .src = src, .n = n};
    *count = x86count_run(mc_copy_run, &c);
    free(buf);
    return 0;
}

/* Queue, stack and ring-buffer helpers (arguments as in helpers.c). */
static int
mc_probe_stream(int32_t id, const struct bpf_map *map, const uint64_t a[5],
                struct contract_pcvs *out)
{
    struct bpf_map_probe p;
    enum mc_family fam = mc_family(map);
    void *data;

    out->outcome = CONTRACT_OUT_OK;
    switch (id) {
    case BPF_FUNC_map_push_elem:
    case BPF_FUNC_map_pop_elem:
    case BPF_FUNC_map_peek_elem:
        if (fam != MC_QUEUE) {
            return -EOPNOTSUPP;
        }
        bpf_queue_probe(map, &p);
        if (id != BPF_FUNC_map_push_elem) {
            out->outcome = p.found ? CONTRACT_OUT_OK : CONTRACT_OUT_NOENT;
        } else if ((a[2] & BPF_NOEXIST) || a[2] > BPF_EXIST) {
            out->outcome = CONTRACT_OUT_INVALID;
        } else if (p.full) {
            out->outcome = a[2] == BPF_EXIST ? CONTRACT_OUT_REPLACED
                                             : CONTRACT_OUT_FULL;
        }
        return 0;
    case BPF_FUNC_ringbuf_output:
        if (fam != MC_RB) {
            return -EOPNOTSUPP;
        }
        if (a[3] & ~(uint64_t)(BPF_RB_NO_WAKEUP | BPF_RB_FORCE_WAKEUP)) {
            out->outcome = CONTRACT_OUT_INVALID;
            return 0;
        }
        if (!bpf_ringbuf_probe(map, a[2], &data)) {
            out->outcome = CONTRACT_OUT_FULL;
            return 0;
        }
        out->pcv[CONTRACT_PCV_WORDS] = a[2] / 8;
        out->pcv[CONTRACT_PCV_TAIL] = a[2] % 8;
        return mc_copy_cost(data, (const void *)(uintptr_t)a[1], a[2],
                            &out->pcv[CONTRACT_PCV_COPY]);
    case BPF_FUNC_ringbuf_reserve:
        if (fam != MC_RB) {
            return -EOPNOTSUPP;
        }
        /* Flags or a size above the largest record: refused before the
         * ring is looked at. */
        out->outcome = a[2] || a[1] > UINT32_MAX / 4 ? CONTRACT_OUT_INVALID
                       : !bpf_ringbuf_probe(map, a[1], &data)
                           ? CONTRACT_OUT_FULL
                           : CONTRACT_OUT_OK;
        return 0;
    default: /* BPF_FUNC_ringbuf_query */
        return fam == MC_RB ? 0 : -EOPNOTSUPP;
    }
}

int
contract_mapcost_probe(int32_t id, const uint64_t a[5],
                       struct contract_pcvs *out)
{
    const struct bpf_map *map = (const struct bpf_map *)(uintptr_t)a[0];
    const void *key = (const void *)(uintptr_t)a[1];
    struct bpf_map_probe p;
    struct bpf_lpm_walk w;
    int err;

    memset(out, 0, sizeof *out);
    switch (id) {
    case BPF_FUNC_map_lookup_elem:
        err = mc_probe_map(map, BPF_MAP_LOOKUP_ELEM, key, &p, &w);
        if (err) {
            return err;
        }
        out->outcome = p.found ? CONTRACT_OUT_HIT : CONTRACT_OUT_MISS;
        mc_copy_probe(&p, &w, out, false);
        return 0;
    case BPF_FUNC_map_update_elem:
        return mc_probe_update(map, key, a[3], out);
    case BPF_FUNC_map_delete_elem:
        if (mc_family(map) == MC_ARRAY) {
            out->outcome = CONTRACT_OUT_INVALID;
            return 0;
        }
        if (mc_family(map) == MC_LPM && mc_lpm_key_bad(map, key)) {
            out->outcome = CONTRACT_OUT_INVALID;
            return 0;
        }
        err = mc_probe_map(map, BPF_MAP_DELETE_ELEM, key, &p, &w);
        if (err) {
            return err;
        }
        out->outcome = p.found ? CONTRACT_OUT_DELETED : CONTRACT_OUT_NOENT;
        mc_copy_probe(&p, &w, out, p.found);
        return 0;
    case BPF_FUNC_redirect_map: {
        uint32_t k = (uint32_t)a[1];
        out->outcome = CONTRACT_OUT_MISS;
        if ((a[2] & ~3ull) || !bpf_run_cur || !bpf_run_cur->xdp ||
            map->key_size != 4 || map->value_size != 4 ||
            (map->type != BPF_MAP_TYPE_ARRAY &&
             map->type != BPF_MAP_TYPE_HASH)) {
            return 0;
        }
        err = mc_probe_map(map, BPF_MAP_LOOKUP_ELEM, &k, &p, &w);
        if (err) {
            return err;
        }
        out->outcome = p.found ? CONTRACT_OUT_HIT : CONTRACT_OUT_MISS;
        mc_copy_probe(&p, &w, out, false);
        return 0;
    }
    case BPF_FUNC_redirect:
        out->outcome = a[1] || !bpf_run_cur || !bpf_run_cur->xdp
                           ? CONTRACT_OUT_INVALID
                           : CONTRACT_OUT_OK;
        return 0;
    case BPF_FUNC_map_push_elem:
    case BPF_FUNC_map_pop_elem:
    case BPF_FUNC_map_peek_elem:
    case BPF_FUNC_ringbuf_output:
    case BPF_FUNC_ringbuf_reserve:
    case BPF_FUNC_ringbuf_query:
        return mc_probe_stream(id, map, a, out);
    case BPF_FUNC_csum_diff:
        out->outcome = CONTRACT_OUT_OK;
        out->pcv[CONTRACT_PCV_WORDS] = a[1] / 8 + a[3] / 8;
        out->pcv[CONTRACT_PCV_PARTS] = (a[1] != 0) + (a[3] != 0);
        out->pcv[CONTRACT_PCV_TAIL] = a[1] % 8 + a[3] % 8;
        return 0;
    default:
        if (!mc_plain_helper(id)) {
            return -EOPNOTSUPP;
        }
        out->outcome = CONTRACT_OUT_OK;
        return 0;
    }
}

/* ---- Measurement. ---- */

struct mc_call {
    bpf_helper_fn *fn;
    uint64_t a[5];
    uint64_t ret;
};

static void
mc_invoke(void *arg)
{
    struct mc_call *c = arg;
    c->ret = c->fn(c->a[0], c->a[1], c->a[2], c->a[3], c->a[4]);
}

/* A helper that is one RET: measures mc_invoke's own instructions. */
__attribute__((naked)) static uint64_t
mc_ret(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
    __asm__ volatile("ret");
}

static pthread_once_t mc_once = PTHREAD_ONCE_INIT;
static uint64_t mc_invoke_overhead; /* Instructions of mc_invoke less the
                                     * helper's. */

static void
mc_init(void)
{
    struct mc_call c = {.fn = mc_ret};
    uint64_t best = UINT64_MAX;
    for (int i = 0; i < 8; i++) {
        uint64_t n = x86count_run(mc_invoke, &c);
        best = n < best ? n : best;
    }
    mc_invoke_overhead = best - 1;
}

uint64_t
contract_mapcost_measure(int32_t id, const uint64_t a[5],
                         struct contract_pcvs *pcvs, uint64_t *ret)
{
    struct contract_pcvs local;
    struct mc_call c;

    pthread_once(&mc_once, mc_init);
    contract_mapcost_probe(id, a, pcvs ? pcvs : &local);
    c.fn = bpf_helper_func(id);
    if (!c.fn) {
        /* bpf_tail_call: performed by the interpreter or JIT code. */
        if (ret) {
            *ret = 0;
        }
        return 0;
    }
    memcpy(c.a, a, sizeof c.a);
    uint64_t n = x86count_run(mc_invoke, &c);
    if (ret) {
        *ret = c.ret;
    }
    return n > mc_invoke_overhead ? n - mc_invoke_overhead : 0;
}

/* ---- The exerciser: random calls on a scratch map. ---- */

struct mc_rng {
    uint64_t s;
};

static uint64_t
mc_next(struct mc_rng *r)
{
    /* splitmix64. */
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t
mc_below(struct mc_rng *r, uint64_t n)
{
    return n ? mc_next(r) % n : 0;
}

static void
mc_fill(struct mc_rng *r, uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        p[i] = (uint8_t)mc_next(r);
    }
}

struct mc_world {
    struct bpf_map map; /* The scratch map. */
    enum mc_family fam;
    uint8_t *keys; /* n_keys keys of map.key_size bytes. */
    size_t n_keys;
    uint8_t *value; /* One value (per-CPU: one copy). */
    struct mc_rng rng;
    uint8_t words[1024];     /* csum_diff input. */
    struct bpf_xdp_buff xdp; /* Context for the redirect helpers. */
    uint8_t frame[256];
    struct bpf_run_ctx run;
    bool draining; /* Queue churn: popping until empty, not pushing
                    * until full. */
};

struct mc_hash_rec {
    uint32_t hash;
    uint32_t idx;
};

static int
mc_hash_rec_cmp(const void *a_, const void *b_)
{
    const struct mc_hash_rec *a = a_, *b = b_;
    return a->hash < b->hash ? -1 : a->hash > b->hash;
}

/* Appends up to MC_COLLIDE_PAIRS pairs of different keys with the same
 * full 32-bit hash (a birthday search), so that calls make more than one
 * full-key compare.  Returns the keys added. */
static size_t
mc_add_collisions(struct mc_world *w, uint8_t *out, size_t room)
{
    const size_t n = 1u << 19;
    size_t ks = w->map.key_size, added = 0;
    if (ks < 4 || room < 2) {
        return 0;
    }
    struct mc_hash_rec *rec = malloc(n * sizeof *rec);
    uint8_t *cand = malloc(n * ks);
    if (!rec || !cand) {
        free(rec);
        free(cand);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        mc_fill(&w->rng, cand + i * ks, ks);
        rec[i].hash = hash_bytes(cand + i * ks, ks, w->map.hash_seed);
        rec[i].idx = (uint32_t)i;
    }
    qsort(rec, n, sizeof *rec, mc_hash_rec_cmp);
    for (size_t i = 1;
         i < n && added + 2 <= room && added < 2 * MC_COLLIDE_PAIRS; i++) {
        const uint8_t *a = cand + (size_t)rec[i - 1].idx * ks;
        const uint8_t *b = cand + (size_t)rec[i].idx * ks;
        if (rec[i].hash == rec[i - 1].hash && memcmp(a, b, ks)) {
            memcpy(out + added * ks, a, ks);
            memcpy(out + (added + 1) * ks, b, ks);
            added += 2;
        }
    }
    free(rec);
    free(cand);
    return added;
}

/* Keys for a hash map or flow table: half of them in two buckets (long
 * chains), the rest anywhere, plus full-hash collisions. */
static void
mc_hash_keys(struct mc_world *w)
{
    size_t ks = w->map.key_size;
    uint32_t mask = MC_ENTRIES - 1; /* n_buckets of the scratch maps. */
    size_t i = 0;
    while (i < w->n_keys / 2) {
        uint8_t *k = w->keys + i * ks;
        mc_fill(&w->rng, k, ks);
        if ((hash_bytes(k, ks, w->map.hash_seed) & mask) < 2 || ks < 2) {
            i++;
        }
    }
    size_t extra = mc_add_collisions(w, w->keys + i * ks, w->n_keys - i);
    for (i += extra; i < w->n_keys; i++) {
        mc_fill(&w->rng, w->keys + i * ks, ks);
    }
}

/* LPM keys: prefixes of a few base addresses, so that the trie is deep
 * and lookups walk long paths.  Half of them have lengths and branch
 * points from one small set that holds the full length: a key of length
 * L then often meets an intermediate node made at bit L by two longer
 * keys (updates and deletes that stop at one, inserts that make it real),
 * and deleting a leaf often merges its intermediate parent away.  The
 * first key is a /0: a root that compares no byte, present at some calls
 * and not at others (mc_churn toggles it; the bases all start with a 0
 * bit, so no intermediate /0 root stands in for it). */
static void
mc_lpm_keys(struct mc_world *w)
{
    size_t ks = w->map.key_size, data = ks - 4;
    uint32_t maxlen = (uint32_t)data * 8;
    uint8_t base[4][256];
    uint32_t lens[8] = {maxlen};
    for (int b = 0; b < 4; b++) {
        mc_fill(&w->rng, base[b], data);
        base[b][0] &= 0x7f;
    }
    for (int l = 1; l < 8; l++) {
        lens[l] = 1 + (uint32_t)mc_below(&w->rng, maxlen - 1);
    }
    for (size_t i = 0; i < w->n_keys; i++) {
        uint8_t *k = w->keys + i * ks;
        bool set = i % 2 == 0;
        uint32_t len = set ? lens[mc_below(&w->rng, 8)]
                           : (uint32_t)mc_below(&w->rng, maxlen + 1);
        len = i == 0 ? 0 : len;
        memcpy(k, &len, 4);
        memcpy(k + 4, base[mc_below(&w->rng, 4)], data);
        /* Half the time flip one bit: from the set (a branch point
         * anywhere), or else at or after the prefix's length. */
        uint32_t bit = lens[mc_below(&w->rng, 8)];
        if (set && bit < maxlen && mc_below(&w->rng, 2)) {
            k[4 + bit / 8] ^= (uint8_t)(0x80 >> (bit % 8));
        } else if (!set && len < maxlen && mc_below(&w->rng, 2)) {
            bit = len + (uint32_t)mc_below(&w->rng, maxlen - len);
            k[4 + bit / 8] ^= (uint8_t)(0x80 >> (bit % 8));
        }
    }
}

static void
mc_array_keys(struct mc_world *w)
{
    for (size_t i = 0; i < w->n_keys; i++) {
        /* A few out of range. */
        uint32_t idx = (uint32_t)mc_below(&w->rng, w->map.max_entries + 2);
        memcpy(w->keys + i * w->map.key_size, &idx, 4);
    }
}

static void
mc_world_free(struct mc_world *w)
{
    if (w->fam != MC_NONE) {
        bpf_map_free_internal(&w->map);
    }
    free(w->keys);
    free(w->value);
    free(w);
}

static struct mc_world *
mc_world_new(const struct bpf_map *shape, uint64_t seed, int *err)
{
    struct mc_world *w = calloc(1, sizeof *w);
    if (!w) {
        *err = -ENOMEM;
        return NULL;
    }
    w->rng.s = seed;
    w->fam = mc_family(shape);
    w->xdp.data = w->xdp.data_hard_start = (uint64_t)(uintptr_t)w->frame;
    w->xdp.data_meta = w->xdp.data;
    w->xdp.data_end = w->xdp.frame_end =
        (uint64_t)(uintptr_t)(w->frame + sizeof w->frame);
    w->run.xdp = &w->xdp;
    mc_fill(&w->rng, w->words, sizeof w->words);
    if (w->fam == MC_NONE) {
        return w;
    }
    snprintf(w->map.name, sizeof w->map.name, "contract-calibration");
    w->map.type = shape->type;
    w->map.key_size = shape->key_size;
    w->map.value_size = shape->value_size;
    w->map.n_cpus = shape->n_cpus;
    w->map.map_flags = shape->map_flags & (BPF_F_NO_PREALLOC | BPF_F_ZERO_SEED);
    /* A ring buffer's size is in bytes: one page, a few dozen records.
     * A short queue is often empty and often full. */
    w->map.max_entries = w->fam == MC_LPM     ? MC_LPM_ENTRIES
                         : w->fam == MC_ARRAY ? MC_ENTRIES / 2
                         : w->fam == MC_RB    ? (uint32_t)sysconf(_SC_PAGESIZE)
                         : w->fam == MC_QUEUE ? MC_ENTRIES / 4
                                              : MC_ENTRIES;
    *err = bpf_map_create_internal(&w->map);
    if (*err) {
        w->fam = MC_NONE;
        mc_world_free(w);
        return NULL;
    }
    w->map.hash_seed = MC_SEED;
    if (w->fam == MC_FT) {
        bpf_flowtable_configure(&w->map, MC_ENTRIES, MC_FT_TIMEOUT);
    }
    /* Queues and ring buffers have no keys (key_size 0): one dummy byte. */
    w->n_keys = w->fam == MC_LPM ? 2 * MC_LPM_ENTRIES : 3 * MC_ENTRIES;
    w->keys = calloc(w->n_keys, shape->key_size ? shape->key_size : 1);
    w->value = calloc(1, shape->value_size ? shape->value_size : 1);
    if (!w->keys || !w->value) {
        mc_world_free(w);
        *err = -ENOMEM;
        return NULL;
    }
    if (w->fam == MC_LPM) {
        mc_lpm_keys(w);
    } else if (w->fam == MC_ARRAY) {
        mc_array_keys(w);
    } else if (mc_keyed(w->fam)) {
        mc_hash_keys(w);
    }
    return w;
}

/* A ring-buffer consumer that drops the records. */
static int
mc_drop(void *arg, const void *data, size_t size)
{
    (void)arg;
    (void)data;
    (void)size;
    return 0;
}

/* The arguments of one random call of helper 'id'. */
static void
mc_args(struct mc_world *w, int32_t id, uint64_t a[5])
{
    uint64_t map = (uint64_t)(uintptr_t)&w->map;
    const uint8_t *key = w->keys + mc_below(&w->rng, w->n_keys) *
                                       (w->map.key_size ? w->map.key_size : 1);
    uint64_t r = mc_below(&w->rng, 100);

    memset(a, 0, 5 * sizeof *a);
    switch (id) {
    case BPF_FUNC_map_lookup_elem:
    case BPF_FUNC_map_delete_elem:
        a[0] = map;
        a[1] = (uint64_t)(uintptr_t)key;
        break;
    case BPF_FUNC_map_update_elem:
        a[0] = map;
        a[1] = (uint64_t)(uintptr_t)key;
        mc_fill(&w->rng, w->value, w->map.value_size);
        a[2] = (uint64_t)(uintptr_t)w->value;
        a[3] = r < 70 ? BPF_ANY : r < 84 ? BPF_NOEXIST : r < 98 ? BPF_EXIST : 4;
        break;
    case BPF_FUNC_redirect_map: {
        uint32_t k;
        memcpy(&k, key, 4);
        a[0] = map;
        a[1] = k;
        a[2] = r % 4;
        break;
    }
    case BPF_FUNC_redirect:
        a[0] = r;
        a[1] = r < 90 ? 0 : 1;
        break;
    case BPF_FUNC_map_push_elem:
        /* BPF_ANY or BPF_EXIST (drops the oldest when full),
         * a few bad flags. */
        a[0] = map;
        mc_fill(&w->rng, w->value, w->map.value_size);
        a[1] = (uint64_t)(uintptr_t)w->value;
        a[2] = r < 50 ? BPF_ANY : r < 97 ? BPF_EXIST : BPF_NOEXIST;
        break;
    case BPF_FUNC_map_pop_elem:
    case BPF_FUNC_map_peek_elem:
        a[0] = map;
        a[1] = (uint64_t)(uintptr_t)w->value;
        break;
    case BPF_FUNC_ringbuf_output:
        /* Records of 0 to 512 bytes, a few with bad flags. */
        a[0] = map;
        a[1] = (uint64_t)(uintptr_t)w->words;
        a[2] = mc_below(&w->rng, 513);
        a[3] = r < 97 ? r % 3 : 4;
        break;
    case BPF_FUNC_ringbuf_reserve:
        a[0] = map;
        a[1] = r < 97 ? mc_below(&w->rng, 513) : (uint64_t)UINT32_MAX;
        a[2] = r < 95 ? 0 : 1;
        break;
    case BPF_FUNC_ringbuf_query:
        a[0] = map;
        a[1] = r % 5;
        break;
    case BPF_FUNC_ringbuf_submit:
    case BPF_FUNC_ringbuf_discard: {
        /* A record to commit (the ring is drained when full). */
        void *rec = bpf_ringbuf_reserve(&w->map, mc_below(&w->rng, 129), 0);
        if (!rec) {
            bpf_ringbuf_consume(&w->map, mc_drop, NULL);
            rec = bpf_ringbuf_reserve(&w->map, mc_below(&w->rng, 129), 0);
        }
        a[0] = (uint64_t)(uintptr_t)rec;
        a[1] = r % 3;
        break;
    }
    case BPF_FUNC_csum_diff:
        a[0] = (uint64_t)(uintptr_t)w->words;
        a[1] = mc_below(&w->rng, 9) ? mc_below(&w->rng, 513) : 0;
        a[2] = (uint64_t)(uintptr_t)(w->words + 512);
        a[3] = mc_below(&w->rng, 9) ? mc_below(&w->rng, 513) : 0;
        a[4] = mc_next(&w->rng);
        break;
    default:
        break;
    }
}

/* An unmeasured update or delete that changes the map's state. */
static void
mc_churn(struct mc_world *w)
{
    if (w->fam == MC_QUEUE) {
        /* The queue fills and drains in turns: mostly pushes until a
         * push finds it full, then mostly pops until one finds it
         * empty. */
        bool pop = mc_below(&w->rng, 5) ? w->draining : !w->draining;
        int err = pop ? w->map.ops->pop(&w->map, w->value)
                      : w->map.ops->push(&w->map, w->value, BPF_ANY);
        if (err) {
            w->draining = !pop;
        }
        return;
    }
    if (w->fam == MC_RB) {
        /* Records written, and now and then all consumed. */
        if (mc_below(&w->rng, 6)) {
            bpf_ringbuf_output(&w->map, w->words, mc_below(&w->rng, 513), 0);
        } else {
            bpf_ringbuf_consume(&w->map, mc_drop, NULL);
        }
        return;
    }
    if (w->fam == MC_NONE || w->fam == MC_ARRAY) {
        return;
    }
    const uint8_t *key =
        w->keys + mc_below(&w->rng, w->n_keys) * w->map.key_size;
    if (w->fam == MC_LPM && !mc_below(&w->rng, 32)) {
        /* The /0 key, in or out half the time (an insert may find the
         * trie full). */
        key = w->keys;
        if (mc_below(&w->rng, 2)) {
            w->map.ops->delete (&w->map, key);
            return;
        }
    }
    if (mc_below(&w->rng, 10) < 7) {
        mc_fill(&w->rng, w->value, w->map.value_size);
        w->map.ops->update(&w->map, key, w->value, BPF_ANY);
    } else {
        w->map.ops->delete (&w->map, key);
    }
}

/* A record a measured bpf_ringbuf_reserve() returned is submitted, so
 * that the consumer can pass it. */
static void
mc_commit(int32_t id, uint64_t ret)
{
    if (id == BPF_FUNC_ringbuf_reserve && ret) {
        bpf_ringbuf_commit((void *)(uintptr_t)ret, 0, false);
    }
}

int
contract_mapcost_exercise(int32_t id, const struct bpf_map *shape,
                          uint64_t seed, size_t n,
                          contract_mapcost_sample_fn *cb, void *arg)
{
    enum contract_outcome outs[CONTRACT_OUT_N];
    if (!contract_mapcost_outcomes(id, shape, outs, CONTRACT_OUT_N) ||
        id == BPF_FUNC_tail_call) {
        return -EOPNOTSUPP;
    }
    /* Submit and discard take a record, not a map: reserve them from a
     * scratch ring buffer. */
    struct bpf_map rb_shape = {.type = BPF_MAP_TYPE_RINGBUF};
    if (id == BPF_FUNC_ringbuf_submit || id == BPF_FUNC_ringbuf_discard) {
        shape = &rb_shape;
    }
    int err = 0;
    struct mc_world *w = mc_world_new(shape, seed, &err);
    if (!w) {
        return err;
    }
    /* Calls run as from a program, at packet times set by the caller. */
    struct bpf_run_ctx *saved_run = bpf_run_cur;
    bool saved_set = bpf_time_set;
    uint64_t saved_time = bpf_time_ns;
    uint32_t saved_cpu = bpf_cur_cpu;
    uint64_t now = 1000000;
    bpf_run_cur = &w->run;
    bpf_time_set = true;
    bpf_cur_cpu = shape && shape->n_cpus ? shape->n_cpus - 1 : 0;

    /* Warm up: the first call of a library function through the PLT
     * runs the dynamic linker. */
    for (int i = 0; i < 4; i++) {
        uint64_t a[5];
        uint64_t ret;
        mc_args(w, id, a);
        bpf_time_ns = now;
        contract_mapcost_measure(id, a, NULL, &ret);
        mc_commit(id, ret);
        mc_churn(w);
    }
    for (size_t done = 0; done < n;) {
        /* Packet times: mostly small steps, sometimes a jump past the
         * timeout so that many flow-table entries expire at once. */
        now +=
            mc_below(&w->rng, 64) ? mc_below(&w->rng, 60) : 2 * MC_FT_TIMEOUT;
        bpf_time_ns = now;
        if (mc_below(&w->rng, 2)) {
            mc_churn(w);
            continue;
        }
        uint64_t a[5], ret;
        struct contract_pcvs pcvs;
        mc_args(w, id, a);
        uint64_t x86 = contract_mapcost_measure(id, a, &pcvs, &ret);
        mc_commit(id, ret);
        cb(arg, &pcvs, x86, ret);
        done++;
    }
    bpf_run_cur = saved_run;
    bpf_time_set = saved_set;
    bpf_time_ns = saved_time;
    bpf_cur_cpu = saved_cpu;
    mc_world_free(w);
    return 0;
}

/* ---- Fitting. ---- */

struct mc_sample {
    uint64_t pcv[CONTRACT_PCV_N];
    uint64_t x86;
};

struct mc_samples {
    struct mc_sample *s[CONTRACT_OUT_N];
    size_t n[CONTRACT_OUT_N];
    size_t cap[CONTRACT_OUT_N];
    bool oom;
};

static void
mc_collect(void *arg, const struct contract_pcvs *pcvs, uint64_t x86,
           uint64_t ret)
{
    struct mc_samples *ss = arg;
    enum contract_outcome o = pcvs->outcome;
    (void)ret;
    if (ss->n[o] == ss->cap[o]) {
        size_t cap = ss->cap[o] ? 2 * ss->cap[o] : 64;
        struct mc_sample *s = realloc(ss->s[o], cap * sizeof *s);
        if (!s) {
            ss->oom = true;
            return;
        }
        ss->s[o] = s;
        ss->cap[o] = cap;
    }
    struct mc_sample *s = &ss->s[o][ss->n[o]++];
    memcpy(s->pcv, pcvs->pcv, sizeof s->pcv);
    s->x86 = x86;
}

static double
mc_abs(double x)
{
    return x < 0 ? -x : x;
}

/* Solves the k x k system m * x = v in place (Gaussian elimination with
 * partial pivoting).  Returns -1, or the column found to be a linear
 * combination of the ones before it. */
static int
mc_solve(double m[][CONTRACT_OUT_N + CONTRACT_PCV_N], double *v, int k,
         double *x)
{
    for (int c = 0; c < k; c++) {
        int p = c;
        for (int r = c + 1; r < k; r++) {
            if (mc_abs(m[r][c]) > mc_abs(m[p][c])) {
                p = r;
            }
        }
        if (mc_abs(m[p][c]) < 1e-9) {
            return c;
        }
        for (int j = 0; j < k; j++) {
            double t = m[c][j];
            m[c][j] = m[p][j];
            m[p][j] = t;
        }
        double t = v[c];
        v[c] = v[p];
        v[p] = t;
        for (int r = c + 1; r < k; r++) {
            double f = m[r][c] / m[c][c];
            for (int j = c; j < k; j++) {
                m[r][j] -= f * m[c][j];
            }
            v[r] -= f * v[c];
        }
    }
    for (int r = k - 1; r >= 0; r--) {
        double s = v[r];
        for (int j = r + 1; j < k; j++) {
            s -= m[r][j] * x[j];
        }
        x[r] = s / m[r][r];
    }
    return -1;
}

/* Whole instructions per unit, rounded up unless the fit is already
 * integral: the true costs are whole instructions per loop iteration, and
 * a coefficient rounded down would fall behind far beyond the calibrated
 * range.  (A loop whose iterations cost 30 or 31 instructions, a branch
 * inside it that is not a PCV, fits about 30.5 and gets 31.) */
static uint64_t
mc_whole(double x)
{
    double f = x - 0.02;
    uint64_t whole = f <= 0 ? 0 : (uint64_t)f;
    return f > (double)whole ? whole + 1 : whole;
}

/* Least-squares fit over the samples of all outcomes of one op at once:
 * one constant per outcome, one coefficient per PCV that varies (the loops
 * that the PCVs count are the same code whatever the outcome).  'coef'
 * gets the coefficients; 'varied' which PCVs varied. */
static void
mc_fit(struct mc_samples *ss, uint64_t coef[CONTRACT_PCV_N],
       bool varied[CONTRACT_PCV_N])
{
    enum { MAXK = CONTRACT_OUT_N + CONTRACT_PCV_N };
    int col_out[CONTRACT_OUT_N], col_pcv[CONTRACT_PCV_N], k = 0;
    const struct mc_sample *first = NULL;

    memset(coef, 0, CONTRACT_PCV_N * sizeof *coef);
    for (int o = 0; o < CONTRACT_OUT_N; o++) {
        col_out[o] = ss->n[o] ? k++ : -1;
        if (ss->n[o] && !first) {
            first = &ss->s[o][0];
        }
    }
    for (int i = 0; i < CONTRACT_PCV_N; i++) {
        varied[i] = false;
        for (int o = 0; o < CONTRACT_OUT_N && !varied[i]; o++) {
            for (size_t j = 0; j < ss->n[o] && !varied[i]; j++) {
                varied[i] = ss->s[o][j].pcv[i] != first->pcv[i];
            }
        }
    }
    int n_out = k;
    for (;;) {
        k = n_out;
        for (int i = 0; i < CONTRACT_PCV_N; i++) {
            col_pcv[i] = varied[i] ? k++ : -1;
        }
        double m[MAXK][MAXK] = {{0}}, v[MAXK] = {0}, x[MAXK] = {0};
        for (int o = 0; o < CONTRACT_OUT_N; o++) {
            for (size_t j = 0; j < ss->n[o]; j++) {
                double row[MAXK] = {0};
                row[col_out[o]] = 1;
                for (int i = 0; i < CONTRACT_PCV_N; i++) {
                    if (col_pcv[i] >= 0) {
                        row[col_pcv[i]] = (double)ss->s[o][j].pcv[i];
                    }
                }
                for (int r = 0; r < k; r++) {
                    for (int c = 0; c < k; c++) {
                        m[r][c] += row[r] * row[c];
                    }
                    v[r] += row[r] * (double)ss->s[o][j].x86;
                }
            }
        }
        int bad = mc_solve(m, v, k, x);
        if (bad < 0) {
            for (int i = 0; i < CONTRACT_PCV_N; i++) {
                if (col_pcv[i] >= 0) {
                    coef[i] = mc_whole(x[col_pcv[i]]);
                }
            }
            break;
        }
        /* A PCV that the outcomes already determine (full-key compares
         * when no two keys shared a full hash): fit without it. */
        for (int i = 0; i < CONTRACT_PCV_N; i++) {
            if (col_pcv[i] == bad) {
                varied[i] = false;
            }
        }
        if (bad < n_out) {
            break;
        }
    }
}

/* Raises 'coef[i]' to the slope seen over long spans of PCV i: among
 * samples of one outcome whose other PCVs are equal, between the cheapest
 * run at the lowest and the cheapest at the highest value of PCV i (the
 * cheapest runs take no extra non-PCV branch, so their slope is the loop's
 * own).  Least squares can underestimate a coefficient when a cost that
 * is not a PCV (an LRU touch) correlates with it, and the bound must hold
 * far beyond the calibrated range. */
static void
mc_span_slopes(const struct mc_sample *s, size_t n,
               const uint64_t pcv_max[CONTRACT_PCV_N],
               uint64_t coef[CONTRACT_PCV_N])
{
    for (int i = 0; i < CONTRACT_PCV_N; i++) {
        /* PCVs with a small range (expiries: at most budget + 1) have no
         * long spans: half their range will do. */
        uint64_t span_min =
            pcv_max[i] / 2 < MC_SPAN_MIN ? pcv_max[i] / 2 : MC_SPAN_MIN;
        span_min = span_min < 2 ? 2 : span_min;
        for (size_t a = 0; a < n; a++) {
            uint64_t lo = UINT64_MAX, hi = 0;
            uint64_t lo_min = UINT64_MAX, hi_min = UINT64_MAX;
            for (size_t b = 0; b < n; b++) {
                bool same = true;
                for (int k = 0; k < CONTRACT_PCV_N && same; k++) {
                    same = k == i || s[b].pcv[k] == s[a].pcv[k];
                }
                if (!same) {
                    continue;
                }
                uint64_t v = s[b].pcv[i], x = s[b].x86;
                if (v < lo) {
                    lo = v;
                    lo_min = x;
                } else if (v == lo && x < lo_min) {
                    lo_min = x;
                }
                if (v > hi || hi_min == UINT64_MAX) {
                    hi = v;
                    hi_min = x;
                } else if (v == hi && x < hi_min) {
                    hi_min = x;
                }
            }
            if (hi < lo + span_min || hi_min <= lo_min) {
                continue;
            }
            /* Rounded down: a non-PCV cost at the high end only would
             * otherwise add a whole instruction per unit. */
            uint64_t c = (hi_min - lo_min) / (hi - lo);
            coef[i] = c > coef[i] ? c : coef[i];
        }
    }
}

/* The constant: the largest remainder over the samples. */
static void
mc_fix_base(const struct mc_sample *s, size_t n, struct contract_linear *l)
{
    l->base = 0;
    for (size_t j = 0; j < n; j++) {
        uint64_t rest = l->base;
        l->base = 0;
        uint64_t lin = contract_linear_eval(l, s[j].pcv);
        l->base = rest;
        if (s[j].x86 > lin && s[j].x86 - lin > l->base) {
            l->base = s[j].x86 - lin;
        }
    }
}

/* PCVs each map family's ops use, and their largest values per call. */
static void
mc_pcv_max(int32_t id, const struct bpf_map *map, uint64_t max[CONTRACT_PCV_N])
{
    memset(max, 0, CONTRACT_PCV_N * sizeof *max);
    if (id == BPF_FUNC_csum_diff) {
        max[CONTRACT_PCV_WORDS] = UINT64_MAX;
        max[CONTRACT_PCV_PARTS] = 2;
        max[CONTRACT_PCV_TAIL] = 14;
        return;
    }
    if (!map) {
        return;
    }
    if (id == BPF_FUNC_ringbuf_output) {
        /* The largest record that fits: size + header, rounded up to
         * 8 bytes, at most max_entries - 1.  COPY grows with it. */
        max[CONTRACT_PCV_WORDS] = (map->max_entries - 16) / 8;
        max[CONTRACT_PCV_TAIL] = 7;
        max[CONTRACT_PCV_COPY] = UINT64_MAX;
        return;
    }
    switch (mc_family(map)) {
    case MC_HASH:
        max[CONTRACT_PCV_CHAIN] = map->max_entries;
        max[CONTRACT_PCV_CMPS] = map->max_entries;
        if (mc_is_lru(map) && id == BPF_FUNC_map_update_elem) {
            max[CONTRACT_PCV_EVICTED] = 1;
            max[CONTRACT_PCV_UNLINK] = map->max_entries - 1;
        }
        break;
    case MC_FT:
        max[CONTRACT_PCV_CHAIN] = map->max_entries;
        max[CONTRACT_PCV_CMPS] = map->max_entries;
        max[CONTRACT_PCV_EXPIRED] = BPF_FLOWTABLE_EXPIRE_BUDGET + 1;
        max[CONTRACT_PCV_UNLINK] =
            (uint64_t)(BPF_FLOWTABLE_EXPIRE_BUDGET + 1) * map->max_entries;
        break;
    case MC_LPM: {
        uint64_t bits = (uint64_t)(map->key_size - 4) * 8;
        max[CONTRACT_PCV_CHAIN] = bits + 1;
        max[CONTRACT_PCV_CMPS] = (bits + 1) * (map->key_size - 4);
        max[CONTRACT_PCV_DIFFS] = bits + 1;
        max[CONTRACT_PCV_SCANS] = bits + 1;
        max[CONTRACT_PCV_OFF] = 1;
        if (id == BPF_FUNC_map_update_elem || id == BPF_FUNC_map_delete_elem) {
            max[CONTRACT_PCV_IM] = 1;
            max[CONTRACT_PCV_NODES] = 2;
            max[CONTRACT_PCV_JOINS] = 1;
        }
        if (id == BPF_FUNC_map_update_elem) {
            max[CONTRACT_PCV_FRESH] = 2;
        }
        break;
    }
    default:
        break;
    }
}

/* Whether PCV 'pcv' can be non-zero in a call of 'id' on 'map' with
 * outcome 'o' (the probe makes the others 0): an LPM insert has no 'im',
 * a lookup or a replace changes no node, and so on.  Its coefficient is
 * then 0 rather than one fitted for other outcomes. */
static bool
mc_pcv_possible(int32_t id, const struct bpf_map *map, enum contract_outcome o,
                int pcv)
{
    if (id == BPF_FUNC_ringbuf_output) {
        /* WORDS and TAIL are for the memory model: COPY is the copy's
         * whole x86 cost. */
        return pcv == CONTRACT_PCV_COPY && o == CONTRACT_OUT_OK;
    }
    if (!map || mc_family(map) != MC_LPM) {
        return true;
    }
    switch (pcv) {
    case CONTRACT_PCV_CHAIN:
    case CONTRACT_PCV_CMPS:
    case CONTRACT_PCV_DIFFS:
    case CONTRACT_PCV_SCANS:
        return o != CONTRACT_OUT_INVALID;
    case CONTRACT_PCV_OFF:
        return o == CONTRACT_OUT_HIT || o == CONTRACT_OUT_MISS ||
               o == CONTRACT_OUT_INSERTED || o == CONTRACT_OUT_NOENT ||
               o == CONTRACT_OUT_FULL;
    case CONTRACT_PCV_IM:
        return o == CONTRACT_OUT_NOENT || o == CONTRACT_OUT_FULL;
    case CONTRACT_PCV_NODES:
    case CONTRACT_PCV_JOINS:
        return o == CONTRACT_OUT_INSERTED || o == CONTRACT_OUT_DELETED;
    case CONTRACT_PCV_FRESH:
        return o == CONTRACT_OUT_INSERTED && id == BPF_FUNC_map_update_elem;
    default:
        return false;
    }
}

/* Memory accesses to the map's storage (a model, see docs/contracts.md):
 * the bucket head, per chain element its header, per compare the key's
 * 8-byte words, per eviction or expiry the list and chain links, the value
 * copied by an update in 8-byte words. */
static void
mc_mem_model(int32_t id, const struct bpf_map *map, enum contract_outcome o,
             struct contract_linear *mem)
{
    memset(mem, 0, sizeof *mem);
    if (!map || mc_family(map) == MC_NONE) {
        /* csum_diff: its two operands; ringbuf submit, discard: the
         * record header. */
        mem->base = id == BPF_FUNC_csum_diff           ? 2
                    : id == BPF_FUNC_ringbuf_submit ||
                              id == BPF_FUNC_ringbuf_discard
                        ? 1
                        : 0;
        mem->coef[CONTRACT_PCV_WORDS] = 1;
        mem->coef[CONTRACT_PCV_PARTS] = 1;
        mem->coef[CONTRACT_PCV_TAIL] = 1;
        return;
    }
    uint64_t kw = (map->key_size + 7) / 8, vw = (map->value_size + 7) / 8;
    if (mc_family(map) == MC_QUEUE) {
        /* Head and tail; the value copied, on success. */
        mem->base = 2 + (o == CONTRACT_OUT_OK || o == CONTRACT_OUT_REPLACED
                             ? vw
                             : 0);
        return;
    }
    if (mc_family(map) == MC_RB) {
        /* Producer and consumer positions; a reservation writes the
         * record header and the producer position; output copies the
         * data in 8-byte words and bytes, and commits the header. */
        bool ok = o == CONTRACT_OUT_OK && id != BPF_FUNC_ringbuf_query;
        mem->base = 2 + (ok ? 3 : 0) +
                    (ok && id == BPF_FUNC_ringbuf_output ? 2 : 0);
        mem->coef[CONTRACT_PCV_WORDS] = 1;
        mem->coef[CONTRACT_PCV_TAIL] = 1;
        return;
    }
    mem->base = 1;
    mem->coef[CONTRACT_PCV_CHAIN] = 1;
    mem->coef[CONTRACT_PCV_CMPS] = mc_family(map) == MC_LPM ? 1 : kw;
    mem->coef[CONTRACT_PCV_EVICTED] = 6;
    mem->coef[CONTRACT_PCV_EXPIRED] = 6;
    mem->coef[CONTRACT_PCV_UNLINK] = 1;
    /* LPM: a node added or freed writes its header (children, length,
     * flags) and, added, its key bytes. */
    mem->coef[CONTRACT_PCV_NODES] = 4 + kw;
    if (id == BPF_FUNC_map_update_elem &&
        (o == CONTRACT_OUT_INSERTED || o == CONTRACT_OUT_REPLACED)) {
        mem->base += 6 + kw + vw * (map->n_cpus ? map->n_cpus : 1);
    }
    if (o == CONTRACT_OUT_DELETED) {
        mem->base += 6;
    }
}

/* ---- The cache of calibrated contracts. ---- */

struct mc_entry {
    int32_t id;
    uint32_t type, key_size, value_size, n_cpus, map_flags;
    bool has_map;
    bool has[CONTRACT_OUT_N]; /* Outcome seen in calibration. */
    struct contract_linear x86[CONTRACT_OUT_N];
};

static pthread_mutex_t mc_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mc_entry *mc_cache[MC_CACHE_MAX];
static size_t mc_n_cache;

static bool
mc_entry_match(const struct mc_entry *e, int32_t id, const struct bpf_map *map)
{
    if (e->id != id || e->has_map != (map != NULL)) {
        return false;
    }
    return !map ||
           (e->type == map->type && e->key_size == map->key_size &&
            e->value_size == map->value_size && e->n_cpus == map->n_cpus &&
            e->map_flags == (map->map_flags & BPF_F_NO_PREALLOC));
}

/* An outcome's own fit drops a PCV that varies in its runs but is a
 * linear combination of others there (an LPM trie with a /0 root in every
 * run: compares that read bytes = nodes - 1); its cost then goes into the
 * others' coefficients, and adding the overall fit's coefficient for it
 * back would count it twice.  Returns a copy of the runs with that share
 * (by the overall fit's coefficient) taken out and the PCV set to 0, to
 * fit the others on, or NULL when no PCV was dropped so (or no memory:
 * then the first fit stands, larger, still above every run). */
static struct mc_sample *
mc_own_adjust(const struct mc_sample *s, size_t n, const bool own[],
              const uint64_t coef[CONTRACT_PCV_N])
{
    bool dep[CONTRACT_PCV_N] = {false}, any = false;
    for (int i = 0; i < CONTRACT_PCV_N; i++) {
        for (size_t j = 1; j < n && !own[i] && !dep[i]; j++) {
            dep[i] = s[j].pcv[i] != s[0].pcv[i];
        }
        any |= dep[i];
    }
    struct mc_sample *adj = any ? malloc(n * sizeof *adj) : NULL;
    for (size_t j = 0; adj && j < n; j++) {
        adj[j] = s[j];
        for (int i = 0; i < CONTRACT_PCV_N; i++) {
            if (dep[i]) {
                uint64_t share = coef[i] * s[j].pcv[i];
                adj[j].x86 = adj[j].x86 > share ? adj[j].x86 - share : 0;
                adj[j].pcv[i] = 0;
            }
        }
    }
    return adj;
}

/* Calibrates helper 'id' on maps shaped like 'map' into 'e'. */
static int
mc_calibrate(int32_t id, const struct bpf_map *map, struct mc_entry *e)
{
    struct mc_samples ss;
    memset(&ss, 0, sizeof ss);
    /* Several worlds, each starting empty, so that paths taken only while
     * a map fills (fresh elements before the free list) are measured as
     * often as the steady state.  csum_diff's tails and the LPM trie's
     * insert and delete cases need many combinations; the other helpers
     * without a map are constant. */
    size_t calls =
        id == BPF_FUNC_csum_diff || (map && map->type == BPF_MAP_TYPE_LPM_TRIE)
            ? 3 * MC_CAL_CALLS
        : map ? MC_CAL_CALLS
              : MC_CAL_CALLS / 4;
    int err = 0;
    for (int w = 0; w < MC_CAL_WORLDS && !err; w++) {
        err = contract_mapcost_exercise(id, map, MC_CAL_SEED + w,
                                        calls / MC_CAL_WORLDS, mc_collect, &ss);
    }
    if (!err && ss.oom) {
        err = -ENOMEM;
    }
    uint64_t coef[CONTRACT_PCV_N], max[CONTRACT_PCV_N];
    bool varied[CONTRACT_PCV_N];
    if (!err) {
        mc_pcv_max(id, map, max);
        mc_fit(&ss, coef, varied);
    }
    bool own[CONTRACT_OUT_N][CONTRACT_PCV_N];
    memset(own, 0, sizeof own);
    for (int o = 0; o < CONTRACT_OUT_N && !err; o++) {
        e->has[o] = ss.n[o] > 0;
        if (!e->has[o]) {
            continue;
        }
        /* An outcome with enough runs gets its own fit (an LPM miss
         * stops at other places in a node than a hit does); the others
         * the fit over all outcomes. */
        uint64_t *c = e->x86[o].coef;
        memcpy(c, coef, sizeof coef);
        if (ss.n[o] >= (mc_family(map) == MC_LPM ? MC_OWN_FIT_LPM
                                                  : MC_OWN_FIT)) {
            struct mc_samples one;
            memset(&one, 0, sizeof one);
            one.s[o] = ss.s[o];
            one.n[o] = ss.n[o];
            mc_fit(&one, c, own[o]);
            struct mc_sample *adj = mc_own_adjust(ss.s[o], ss.n[o], own[o],
                                                  coef);
            if (adj) {
                one.s[o] = adj;
                mc_fit(&one, c, own[o]);
                free(adj);
            }
            for (int i = 0; i < CONTRACT_PCV_N; i++) {
                if (!own[o][i]) {
                    c[i] = coef[i];
                }
            }
        }
    }
    for (int o = 0; o < CONTRACT_OUT_N && !err; o++) {
        if (!e->has[o]) {
            continue;
        }
        uint64_t *c = e->x86[o].coef;
        /* Where an LPM walk ended (off the trie, at an intermediate node)
         * costs differently per outcome, as each outcome's checks follow
         * the walk's end: an outcome whose own runs did not vary it gets
         * the largest cost another outcome's own fit found, not the
         * compromise of the fit over all outcomes. */
        static const int per_outcome[] = {CONTRACT_PCV_OFF, CONTRACT_PCV_IM};
        for (size_t k = 0; k < sizeof per_outcome / sizeof per_outcome[0];
             k++) {
            int i = per_outcome[k];
            for (int q = 0; q < CONTRACT_OUT_N && !own[o][i]; q++) {
                if (own[q][i] && e->x86[q].coef[i] > c[i]) {
                    c[i] = e->x86[q].coef[i];
                }
            }
        }
        mc_span_slopes(ss.s[o], ss.n[o], max, c);
        /* A PCV the op uses that the calibration could not vary gets the
         * largest coefficient fitted: a guess on the safe side. */
        uint64_t top = 0;
        for (int i = 0; i < CONTRACT_PCV_N; i++) {
            top = c[i] > top ? c[i] : top;
        }
        for (int i = 0; i < CONTRACT_PCV_N; i++) {
            if (!varied[i] && max[i]) {
                c[i] = top;
            }
            if (!mc_pcv_possible(id, map, (enum contract_outcome)o, i)) {
                c[i] = 0;
            }
        }
        mc_fix_base(ss.s[o], ss.n[o], &e->x86[o]);
    }
    for (int o = 0; o < CONTRACT_OUT_N; o++) {
        free(ss.s[o]);
    }
    return err;
}

/* An outcome the calibration never produced (a full plain hash map, say)
 * gets the contract of the op's most expensive calibrated outcome at the
 * same PCVs: its path is a prefix of an insert's. */
static void
mc_fallback(const struct mc_entry *e, struct contract_linear *out)
{
    memset(out, 0, sizeof *out);
    for (int o = 0; o < CONTRACT_OUT_N; o++) {
        if (!e->has[o]) {
            continue;
        }
        if (e->x86[o].base > out->base) {
            out->base = e->x86[o].base;
        }
        for (int p = 0; p < CONTRACT_PCV_N; p++) {
            if (e->x86[o].coef[p] > out->coef[p]) {
                out->coef[p] = e->x86[o].coef[p];
            }
        }
    }
}

int
contract_mapcost_get(int32_t id, const struct bpf_map *map,
                     enum contract_outcome outcome,
                     struct contract_op_cost *out)
{
    enum contract_outcome outs[CONTRACT_OUT_N];
    size_t n_outs = contract_mapcost_outcomes(id, map, outs, CONTRACT_OUT_N);
    bool known = false;
    if (!n_outs) {
        return -EOPNOTSUPP;
    }
    for (size_t i = 0; i < n_outs; i++) {
        known |= outs[i] == outcome;
    }
    if (!known) {
        return -ENOENT;
    }
    memset(out, 0, sizeof *out);
    mc_pcv_max(id, map, out->pcv_max);
    mc_mem_model(id, map, outcome, &out->mem);
    if (id == BPF_FUNC_tail_call) {
        return 0;
    }

    pthread_mutex_lock(&mc_lock);
    struct mc_entry *e = NULL;
    for (size_t i = 0; i < mc_n_cache && !e; i++) {
        if (mc_entry_match(mc_cache[i], id, map)) {
            e = mc_cache[i];
        }
    }
    int err = 0;
    if (!e) {
        e = calloc(1, sizeof *e);
        err = e ? 0 : -ENOMEM;
        if (e) {
            e->id = id;
            e->has_map = map != NULL;
            if (map) {
                e->type = map->type;
                e->key_size = map->key_size;
                e->value_size = map->value_size;
                e->n_cpus = map->n_cpus;
                e->map_flags = map->map_flags & BPF_F_NO_PREALLOC;
            }
            err = mc_calibrate(id, map, e);
        }
        if (!err && mc_n_cache < MC_CACHE_MAX) {
            mc_cache[mc_n_cache++] = e;
        } else if (!err) {
            /* The cache is full: use this result once. */
            if (e->has[outcome]) {
                out->x86 = e->x86[outcome];
            } else {
                mc_fallback(e, &out->x86);
            }
            free(e);
            pthread_mutex_unlock(&mc_lock);
            return 0;
        } else {
            free(e);
            e = NULL;
        }
    }
    if (e) {
        if (e->has[outcome]) {
            out->x86 = e->x86[outcome];
        } else {
            mc_fallback(e, &out->x86);
        }
    }
    pthread_mutex_unlock(&mc_lock);
    return err;
}
