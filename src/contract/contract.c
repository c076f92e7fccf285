/* Input classes, bounds and their check; see contract.h. */
#include "contract/contract.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpf/bpf_api.h"
#include "bpf/bpf_int.h"
#include "bpf/helpers.h"
#include "bpf/interp.h"
#include "bpf/jit.h"
#include "bpf/verifier.h"
#include "bpf/verifier_paths.h"
#include "contract/describe.h"
#include "contract/x86count.h"
#include "core/hash.h"

static const char *const metric_names[] = {
    "ebpf_insns", "mem_accesses", "helper_calls", "x86_insns",
};

const char *
contract_metric_name(enum contract_metric m)
{
    return m < CONTRACT_M_N ? metric_names[m] : "?";
}

/* ---- Grouping paths ---------------------------------------------------- */

static char *join_conds(char **conds, uint32_t n);

/* Loop mode: the cost range of one record of a group. */
struct band {
    uint64_t insns_lo, insns, mem_lo, mem, x86_lo, x86_max, x86_min;
    uint64_t n_paths, loops;
    uint64_t ret_min, ret_max;
    uint32_t loop_iters;
};

/* A group under construction: paths with equal calls and costs (in loop
 * mode: equal calls, their records' costs in 'bands'). */
struct group {
    struct bpf_path key;         /* First path (conds not kept). */
    char **conds;                /* Conditions common to all its paths. */
    uint32_t n_conds;
    uint64_t n_paths;
    uint64_t hash;
    struct band *bands;
    size_t n_bands;
};

struct builder {
    bool by_calls;               /* Group by calls only (loop mode). */
    struct contract_prog *cp;
    struct group *groups;
    size_t n_groups, cap_groups;
    uint32_t *gtab;              /* Group hash table: index + 1. */
    size_t gcap;
};

static uint64_t
mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    return h;
}

static uint64_t
group_hash(const struct bpf_path *p, bool by_calls)
{
    uint64_t h = by_calls ? mix(p->helpers, 1)
                          : mix(mix(mix(p->insns, p->mem), p->helpers),
                                mix(p->x86_max, p->x86_min));
    for (uint32_t c = 0; c < p->n_calls; c++) {
        h = mix(h, (uint64_t)(uint32_t)p->calls[c].helper << 32
                       | (uint32_t)p->calls[c].map);
        h = mix(h, p->calls[c].outcome);
        h = mix(h, hash_bytes(p->calls[c].cond, strlen(p->calls[c].cond), 0));
    }
    return by_calls ? h : mix(mix(h, p->loop_iters), p->loops);
}

/* Whether 'a' and 'b' have the same calls and outcomes (and, unless
 * 'by_calls', the same costs). */
static bool
group_equal(const struct bpf_path *a, const struct bpf_path *b,
            bool by_calls)
{
    if (a->helpers != b->helpers || a->n_calls != b->n_calls) {
        return false;
    }
    if (!by_calls
        && (a->insns != b->insns || a->mem != b->mem
            || a->x86_max != b->x86_max || a->x86_min != b->x86_min
            || a->loop_iters != b->loop_iters || a->loops != b->loops)) {
        return false;
    }
    for (uint32_t c = 0; c < a->n_calls; c++) {
        const struct bpf_path_call *x = &a->calls[c], *y = &b->calls[c];
        if (x->helper != y->helper || x->map != y->map
            || x->outcome != y->outcome || strcmp(x->cond, y->cond)) {
            return false;
        }
    }
    return true;
}

static void
sig_insert(struct contract_prog *cp, uint64_t sig, uint32_t group)
{
    if ((cp->n_sigs + 1) * 2 > cp->sig_cap) {
        size_t ncap = cp->sig_cap ? cp->sig_cap * 2 : 1024;
        uint64_t *nk = xcalloc(ncap, sizeof *nk);
        uint32_t *nv = xcalloc(ncap, sizeof *nv);
        for (size_t i = 0; i < cp->sig_cap; i++) {
            if (cp->sig_vals[i]) {
                size_t j = cp->sig_keys[i] & (ncap - 1);
                while (nv[j]) {
                    j = (j + 1) & (ncap - 1);
                }
                nk[j] = cp->sig_keys[i];
                nv[j] = cp->sig_vals[i];
            }
        }
        free(cp->sig_keys);
        free(cp->sig_vals);
        cp->sig_keys = nk;
        cp->sig_vals = nv;
        cp->sig_cap = ncap;
    }
    size_t j = sig & (cp->sig_cap - 1);
    while (cp->sig_vals[j]) {
        if (cp->sig_keys[j] == sig) {
            return;              /* A repeated signature: same path. */
        }
        j = (j + 1) & (cp->sig_cap - 1);
    }
    cp->sig_keys[j] = sig;
    cp->sig_vals[j] = group + 1;
    cp->n_sigs++;
}

/* Files 'sig' under 'group', replacing an earlier filing. */
static void
sig_insert_force(struct contract_prog *cp, uint64_t sig, uint32_t group)
{
    size_t j = sig & (cp->sig_cap - 1);
    while (cp->sig_vals[j]) {
        if (cp->sig_keys[j] == sig) {
            cp->sig_vals[j] = group + 1;
            return;
        }
        j = (j + 1) & (cp->sig_cap - 1);
    }
    sig_insert(cp, sig, group);
}

static long
sig_find(const struct contract_prog *cp, uint64_t sig)
{
    if (!cp->sig_cap) {
        return -1;
    }
    size_t j = sig & (cp->sig_cap - 1);
    while (cp->sig_vals[j]) {
        if (cp->sig_keys[j] == sig) {
            return (long)cp->sig_vals[j] - 1;
        }
        j = (j + 1) & (cp->sig_cap - 1);
    }
    return -1;
}

static void
gtab_grow(struct builder *b)
{
    size_t ncap = b->gcap ? b->gcap * 2 : 256;
    uint32_t *nt = xcalloc(ncap, sizeof *nt);
    for (size_t g = 0; g < b->n_groups; g++) {
        size_t j = b->groups[g].hash & (ncap - 1);
        while (nt[j]) {
            j = (j + 1) & (ncap - 1);
        }
        nt[j] = (uint32_t)g + 1;
    }
    free(b->gtab);
    b->gtab = nt;
    b->gcap = ncap;
}

/* Loop mode: files a body path of a loop (each is reported once). */
static void
add_body(struct contract_prog *cp, const struct bpf_path *p)
{
    cp->bodies = xrealloc(cp->bodies,
                          (cp->n_bodies + 1) * sizeof *cp->bodies);
    struct contract_body *bd = &cp->bodies[cp->n_bodies++];
    memset(bd, 0, sizeof *bd);
    bd->loop = p->loop;
    bd->sig = p->sig;
    bd->insns = p->insns;
    bd->mem = p->mem;
    bd->x86 = p->x86_max;
    bd->pcv = p->loop_header;    /* Until lpcvs_build(): the header. */
    if (p->n_conds) {
        bd->desc = join_conds((char **)p->conds, p->n_conds);
    }
}

static int
on_path(const struct bpf_path *p, void *arg)
{
    struct builder *b = arg;
    if (p->body) {
        add_body(b->cp, p);
        return 0;
    }
    uint64_t h = group_hash(p, b->by_calls);

    if ((b->n_groups + 1) * 2 > b->gcap) {
        gtab_grow(b);
    }
    size_t j = h & (b->gcap - 1);
    struct group *g = NULL;
    while (b->gtab[j]) {
        struct group *cand = &b->groups[b->gtab[j] - 1];
        if (cand->hash == h && group_equal(&cand->key, p, b->by_calls)) {
            g = cand;
            break;
        }
        j = (j + 1) & (b->gcap - 1);
    }
    if (!g) {
        if (b->n_groups == b->cap_groups) {
            b->cap_groups = b->cap_groups ? b->cap_groups * 2 : 64;
            b->groups = xrealloc(b->groups,
                                 b->cap_groups * sizeof *b->groups);
        }
        g = &b->groups[b->n_groups];
        memset(g, 0, sizeof *g);
        g->key = *p;
        g->key.conds = NULL;
        g->key.n_conds = 0;
        g->hash = h;
        g->conds = xcalloc(p->n_conds + 1, sizeof *g->conds);
        for (uint32_t i = 0; i < p->n_conds; i++) {
            g->conds[i] = xstrdup(p->conds[i]);
        }
        g->n_conds = p->n_conds;
        b->gtab[j] = (uint32_t)b->n_groups + 1;
        b->n_groups++;
    } else {
        /* Keep the conditions every path of the group has. */
        uint32_t k = 0;
        for (uint32_t i = 0; i < g->n_conds; i++) {
            bool found = false;
            for (uint32_t q = 0; q < p->n_conds && !found; q++) {
                found = !strcmp(g->conds[i], p->conds[q]);
            }
            if (found) {
                g->conds[k++] = g->conds[i];
            } else {
                free(g->conds[i]);
            }
        }
        g->n_conds = k;
        if (p->ret_min < g->key.ret_min) {
            g->key.ret_min = p->ret_min;
        }
        if (p->ret_max > g->key.ret_max) {
            g->key.ret_max = p->ret_max;
        }
    }
    g->n_paths += p->n_paths;
    if (b->by_calls) {
        g->bands = xrealloc(g->bands, (g->n_bands + 1) * sizeof *g->bands);
        g->bands[g->n_bands++] = (struct band){
            p->insns_lo, p->insns, p->mem_lo, p->mem, p->x86_lo,
            p->x86_max, p->x86_min, p->n_paths, p->loops, p->ret_min,
            p->ret_max, p->loop_iters};
    }
    if (p->sig) {
        /* Merged records (merge mode) have no signature. */
        sig_insert(b->cp, p->sig, (uint32_t)(g - b->groups));
    }
    b->cp->n_paths += p->n_paths;
    return 0;
}

/* ---- Outcomes ---------------------------------------------------------- */

/* Whether a map-contract outcome agrees with what the path knows of the
 * call's result. */
static bool
outcome_compatible(uint8_t path_outcome, enum contract_outcome o)
{
    switch (path_outcome) {
    case BPF_PATH_HIT:
        return o == CONTRACT_OUT_HIT || o == CONTRACT_OUT_OK;
    case BPF_PATH_MISS:
        return o == CONTRACT_OUT_MISS || o == CONTRACT_OUT_NOENT
               || o == CONTRACT_OUT_FULL || o == CONTRACT_OUT_INVALID;
    case BPF_PATH_OK:
        return o == CONTRACT_OUT_OK || o == CONTRACT_OUT_INSERTED
               || o == CONTRACT_OUT_REPLACED || o == CONTRACT_OUT_DELETED
               || o == CONTRACT_OUT_HIT;
    case BPF_PATH_FAIL:
        return o != CONTRACT_OUT_INSERTED && o != CONTRACT_OUT_REPLACED
               && o != CONTRACT_OUT_DELETED;
    default:
        return true;
    }
}

/* The options for one call: outcomes grouped by equal cost. */
struct call_opts {
    uint32_t sets[CONTRACT_OUT_N];
    struct contract_op_cost costs[CONTRACT_OUT_N];
    size_t n;
};

static const struct bpf_map *
call_map(const struct bpf_prog *prog, int32_t map)
{
    return map >= 0 ? prog->maps[map] : NULL;
}

static void
call_options(const struct bpf_prog *prog, const struct bpf_path_call *pc,
             struct call_opts *co)
{
    enum contract_outcome all[CONTRACT_OUT_N];
    const struct bpf_map *map = call_map(prog, pc->map);
    size_t n = contract_mapcost_outcomes(pc->helper, map, all,
                                         CONTRACT_OUT_N);
    co->n = 0;
    if (n > CONTRACT_OUT_N) {
        n = CONTRACT_OUT_N;
    }
    /* Outcomes the path allows; if it allows none (a test the map
     * contract does not foresee), all of them, to stay sound. */
    for (int pass = 0; pass < 2 && !co->n; pass++) {
        for (size_t i = 0; i < n; i++) {
            if (pass == 0 && !outcome_compatible(pc->outcome, all[i])) {
                continue;
            }
            struct contract_op_cost c;
            if (contract_mapcost_get(pc->helper, map, all[i], &c)) {
                continue;
            }
            size_t k = 0;
            while (k < co->n && memcmp(&co->costs[k], &c, sizeof c)) {
                k++;
            }
            if (k == co->n) {
                co->costs[co->n++] = c;
            }
            co->sets[k] |= 1u << all[i];
        }
    }
}

static void
linear_max(struct contract_linear *d, const struct contract_linear *s)
{
    if (s->base > d->base) {
        d->base = s->base;
    }
    for (int i = 0; i < CONTRACT_PCV_N; i++) {
        if (s->coef[i] > d->coef[i]) {
            d->coef[i] = s->coef[i];
        }
    }
}

static void
cost_max(struct contract_op_cost *d, const struct contract_op_cost *s)
{
    linear_max(&d->x86, &s->x86);
    linear_max(&d->mem, &s->mem);
    for (int i = 0; i < CONTRACT_PCV_N; i++) {
        if (s->pcv_max[i] > d->pcv_max[i]) {
            d->pcv_max[i] = s->pcv_max[i];
        }
    }
}

static char *
join_conds(char **conds, uint32_t n)
{
    struct ds s;
    ds_init(&s);
    for (uint32_t i = 0; i < n; i++) {
        ds_put_format(&s, "%s%s", i ? ", " : "", conds[i]);
    }
    if (!n) {
        ds_put_cstr(&s, "any packet");
    }
    char *r = xstrdup(ds_cstr(&s));
    ds_destroy(&s);
    return r;
}

/* Turns group 'g' into classes, one per combination of call outcomes (or
 * one with merged outcomes when there are too many combinations). */
static void
expand_group(struct contract_prog *cp, const struct bpf_jit_cost *costs,
             const struct group *g, uint32_t gi, uint32_t max_split)
{
    size_t *cap = &cp->classes_cap;
    const struct bpf_path *p = &g->key;
    struct call_opts *opts = xcalloc(p->n_calls + 1, sizeof *opts);
    uint64_t combos = 1;

    for (uint32_t c = 0; c < p->n_calls; c++) {
        call_options(cp->prog, &p->calls[c], &opts[c]);
        if (opts[c].n > 1) {
            combos *= opts[c].n;
        }
        if (combos > max_split) {
            combos = max_split + 1;
        }
    }
    bool split = combos <= max_split;
    uint64_t n_classes = split ? combos : 1;
    char *desc = join_conds(g->conds, g->n_conds);

    cp->group_first[gi] = (uint32_t)cp->n_classes;
    cp->group_n[gi] = (uint32_t)n_classes;
    for (uint64_t k = 0; k < n_classes; k++) {
        if (cp->n_classes == *cap) {
            *cap = *cap ? *cap * 2 : 64;
            cp->classes = xrealloc(cp->classes, *cap * sizeof *cp->classes);
        }
        struct contract_class *cl = &cp->classes[cp->n_classes++];
        memset(cl, 0, sizeof *cl);
        cl->group = gi;
        cl->desc = xstrdup(desc);
        cl->n_paths = g->n_paths;
        cl->insns = p->insns;
        cl->mem = p->mem;
        cl->helpers = p->helpers;
        cl->x86_code = p->x86_max + cp->x86_prologue + cp->x86_epilogue
                       + cp->x86_entry;
        cl->ret_min = p->ret_min;
        cl->ret_max = p->ret_max;
        cl->loop_iters = p->loop_iters;
        cl->loops = p->loops;
        cl->n_calls = p->n_calls;
        cl->calls = xcalloc(p->n_calls + 1, sizeof *cl->calls);
        uint64_t rest = k;
        for (uint32_t c = 0; c < p->n_calls; c++) {
            struct contract_call *cc = &cl->calls[c];
            const struct bpf_path_call *pc = &p->calls[c];
            cc->helper = pc->helper;
            cc->map = pc->map;
            cc->path_outcome = pc->outcome;
            memcpy(cc->cond, pc->cond, sizeof cc->cond);
            cc->inlined = costs && costs[pc->insn].inlined;
            const struct call_opts *co = &opts[c];
            cc->has_cost = co->n > 0;
            if (co->n && split) {
                size_t pick = co->n > 1 ? rest % co->n : 0;
                if (co->n > 1) {
                    rest /= co->n;
                }
                cc->outcomes = co->sets[pick];
                cc->cost = co->costs[pick];
            } else if (co->n) {
                cc->outcomes = co->sets[0];
                cc->cost = co->costs[0];
                for (size_t i = 1; i < co->n; i++) {
                    cost_max(&cc->cost, &co->costs[i]);
                    cc->outcomes |= co->sets[i];
                }
            }
            /* PCV names: the map's name, with the call number when the
             * class calls the same map again. */
            const struct bpf_map *map = call_map(cp->prog, pc->map);
            const char *base = map ? map->name : bpf_helper_name(pc->helper);
            bool repeated = false;
            for (uint32_t o = 0; o < p->n_calls; o++) {
                repeated |= o != c && p->calls[o].map == pc->map
                            && (pc->map >= 0
                                || p->calls[o].helper == pc->helper);
            }
            if (repeated) {
                snprintf(cc->pcv_prefix, sizeof cc->pcv_prefix, "%.60s#%u",
                         base, c + 1);
            } else {
                snprintf(cc->pcv_prefix, sizeof cc->pcv_prefix, "%.60s",
                         base);
            }
        }
        cl->words = contract_describe_class(cp->prog, g->conds, g->n_conds,
                                            cl->calls, cl->n_calls);
    }
    free(desc);
    free(opts);
}

/* The x86 instructions the runtime's entry wrapper adds around the JIT
 * code (bpf_jit_enter: its own instructions before and after the image),
 * measured once on a two-instruction program. */
static uint32_t entry_cost;
static bool entry_measured;

static void
run_jit_entry(void *arg)
{
    bpf_jit_enter(arg);
}

static int
measure_entry(char **errp)
{
    static const struct bpf_insn prog2[] = {
        {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0, .imm = 2},
        {.code = BPF_JMP | BPF_EXIT},
    };
    struct bpf_object *obj = NULL;
    struct bpf_verify_result vr;
    int rc;

    if (entry_measured) {
        return 0;
    }
    rc = bpf_prog_from_insns(prog2, 2, false, &obj, errp);
    if (rc) {
        return rc;
    }
    struct bpf_prog *prog = bpf_object_prog(obj, 0);
    rc = bpf_prog_verify(prog, &vr);
    bpf_verify_result_destroy(&vr);
    if (!rc) {
        rc = bpf_prog_jit(prog, errp);
    }
    if (!rc) {
        uint32_t pro = 0, epi = 0;
        const struct bpf_jit_cost *c = bpf_prog_jit_costs(prog, &pro, &epi);
        struct bpf_xdp_buff ctx;
        uint8_t pkt[64] = {0};
        memset(&ctx, 0, sizeof ctx);
        ctx.data = (uintptr_t)pkt;
        ctx.data_end = (uintptr_t)(pkt + sizeof pkt);
        int stop = 0;
        struct bpf_jit_enter_args a = {prog->jit->code, (uintptr_t)&ctx, 0,
                                       &stop};
        struct bpf_run_ctx rctx = {.xdp = &ctx, .prog = prog};
        struct bpf_run_ctx *saved = bpf_run_cur;
        bpf_run_cur = &rctx;
        uint64_t best = UINT64_MAX;
        for (int i = 0; i < 5; i++) {
            uint64_t n = x86count_run(run_jit_entry, &a);
            best = n < best ? n : best;
        }
        bpf_run_cur = saved;
        uint64_t code = pro + epi + c[0].x86_max + c[1].x86_max;
        entry_cost = best > code ? (uint32_t)(best - code) : 0;
        entry_measured = true;
    }
    bpf_object_close(obj);
    return rc;
}

static int
cmp_body(const void *x, const void *y)
{
    const struct contract_body *a = x, *b = y;
    if (a->loop != b->loop) {
        return a->loop < b->loop ? -1 : 1;
    }
    if (a->insns != b->insns) {
        return a->insns < b->insns ? -1 : 1;
    }
    if (a->mem != b->mem) {
        return a->mem < b->mem ? -1 : 1;
    }
    if (a->x86 != b->x86) {
        return a->x86 < b->x86 ? -1 : 1;
    }
    return a->sig < b->sig ? -1 : a->sig > b->sig;
}

/* Loop mode: one PCV per loop and cost of its body paths, numbered by
 * cost; returns 0 or -E2BIG (more than CONTRACT_MAX_LOOP_PCVS). */
static int
lpcvs_build(struct contract_prog *cp)
{
    if (cp->n_bodies) {
        qsort(cp->bodies, cp->n_bodies, sizeof *cp->bodies, cmp_body);
    }
    uint32_t k = 0;
    for (uint32_t i = 0; i < cp->n_bodies; i++) {
        struct contract_body *bd = &cp->bodies[i];
        struct contract_loop_pcv *v = k ? &cp->lpcvs[k - 1] : NULL;
        uint32_t header = bd->pcv;
        if (!v || v->loop != bd->loop || v->insns != bd->insns
            || v->mem != bd->mem || v->x86 != bd->x86) {
            if (k == CONTRACT_MAX_LOOP_PCVS) {
                return -E2BIG;
            }
            cp->lpcvs = xrealloc(cp->lpcvs, (k + 1) * sizeof *cp->lpcvs);
            v = &cp->lpcvs[k++];
            memset(v, 0, sizeof *v);
            v->loop = bd->loop;
            v->header = header;
            v->insns = bd->insns;
            v->mem = bd->mem;
            v->x86 = bd->x86;
            uint32_t nth = 1;
            for (uint32_t j = 0; j + 1 < k; j++) {
                nth += cp->lpcvs[j].loop == bd->loop;
            }
            snprintf(v->name, sizeof v->name, "loop@%u.%u", header, nth);
        }
        v->n_bodies++;
        bd->pcv = k - 1;
        if (bd->desc && !v->desc) {
            v->desc = xstrdup(bd->desc);
        } else if (bd->desc && strlen(v->desc) < 200) {
            char *d = xasprintf("%s | %s", v->desc, bd->desc);
            free(v->desc);
            v->desc = d;
        }
    }
    cp->n_lpcvs = k;
    return 0;
}

static int
cmp_band(const void *x, const void *y)
{
    const struct band *a = x, *b = y;
    if (a->x86_lo != b->x86_lo) {
        return a->x86_lo < b->x86_lo ? -1 : 1;
    }
    return a->insns_lo < b->insns_lo ? -1 : a->insns_lo > b->insns_lo;
}

/* Whether 'hi' + 'extra' is within the band above 'lo' + 'extra'. */
static bool
in_band(uint64_t lo, uint64_t hi, uint64_t extra)
{
    return hi <= lo || (hi - lo) * 1000 <= (lo + extra) * CONTRACT_LOOP_BAND;
}

/* The x86 instructions every path of a group adds to its JIT code: the
 * entry, prologue and epilogue, and the constant of each call's cheapest
 * outcome. */
static uint64_t
group_x86_extra(const struct contract_prog *cp, const struct bpf_path *p)
{
    uint64_t extra = cp->x86_prologue + cp->x86_epilogue + cp->x86_entry;
    for (uint32_t c = 0; c < p->n_calls; c++) {
        struct call_opts co;
        call_options(cp->prog, &p->calls[c], &co);
        uint64_t least = 0;
        for (size_t k = 0; k < co.n; k++) {
            if (!k || co.costs[k].x86.base < least) {
                least = co.costs[k].x86.base;
            }
        }
        extra += least;
    }
    return extra;
}

/* Loop mode: splits each group (paths with the same calls) into classes
 * whose x86 constants (JIT code, entry and the calls' least constants)
 * are within CONTRACT_LOOP_BAND of each other, the records sorted by x86
 * cost; the group key then has the largest costs and the least in
 * insns_lo, mem_lo, x86_lo.  (Banding eBPF instructions as well splits
 * p0f's classes some 60 times over: costs that are close in x86
 * instructions are not in eBPF instructions.) */
static void
groups_band(struct builder *b)
{
    struct group *out = NULL;
    size_t n_out = 0;

    for (size_t gi = 0; gi < b->n_groups; gi++) {
        struct group *g = &b->groups[gi];
        uint64_t extra = group_x86_extra(b->cp, &g->key);
        qsort(g->bands, g->n_bands, sizeof *g->bands, cmp_band);
        for (size_t i = 0; i < g->n_bands;) {
            struct band m = g->bands[i++];
            while (i < g->n_bands) {
                const struct band *n = &g->bands[i];
                struct band t = m;
                t.insns_lo = MIN(t.insns_lo, n->insns_lo);
                t.insns = MAX(t.insns, n->insns);
                t.mem_lo = MIN(t.mem_lo, n->mem_lo);
                t.mem = MAX(t.mem, n->mem);
                t.x86_lo = MIN(t.x86_lo, n->x86_lo);
                t.x86_max = MAX(t.x86_max, n->x86_max);
                t.x86_min = MIN(t.x86_min, n->x86_min);
                t.n_paths += n->n_paths;
                t.loops |= n->loops;
                t.ret_min = MIN(t.ret_min, n->ret_min);
                t.ret_max = MAX(t.ret_max, n->ret_max);
                t.loop_iters = MAX(t.loop_iters, n->loop_iters);
                if (!in_band(t.x86_lo, t.x86_max, extra)) {
                    break;
                }
                m = t;
                i++;
            }
            out = xrealloc(out, (n_out + 1) * sizeof *out);
            struct group *o = &out[n_out++];
            *o = *g;
            o->bands = NULL;
            o->n_bands = 0;
            o->key.insns_lo = m.insns_lo;
            o->key.insns = m.insns;
            o->key.mem_lo = m.mem_lo;
            o->key.mem = m.mem;
            o->key.x86_lo = m.x86_lo;
            o->key.x86_max = m.x86_max;
            o->key.x86_min = m.x86_min;
            o->key.loops = m.loops;
            o->key.ret_min = m.ret_min;
            o->key.ret_max = m.ret_max;
            o->key.loop_iters = m.loop_iters;
            o->n_paths = m.n_paths;
            o->conds = xcalloc(g->n_conds + 1, sizeof *o->conds);
            for (uint32_t c = 0; c < g->n_conds; c++) {
                o->conds[c] = xstrdup(g->conds[c]);
            }
        }
    }
    for (size_t gi = 0; gi < b->n_groups; gi++) {
        for (uint32_t i = 0; i < b->groups[gi].n_conds; i++) {
            free(b->groups[gi].conds[i]);
        }
        free(b->groups[gi].conds);
        free(b->groups[gi].bands);
    }
    free(b->groups);
    b->groups = out;
    b->n_groups = b->cap_groups = n_out;
}

static void
builder_free(struct builder *b)
{
    for (size_t g = 0; g < b->n_groups; g++) {
        for (uint32_t i = 0; i < b->groups[g].n_conds; i++) {
            free(b->groups[g].conds[i]);
        }
        free(b->groups[g].conds);
        free(b->groups[g].bands);
    }
    free(b->groups);
    free(b->gtab);
}

int
contract_build(struct bpf_prog *prog, const struct contract_limits *lim,
               struct contract_prog **out, char **errp)
{
    struct contract_limits dl = {CONTRACT_DEFAULT_MAX_PATHS,
                                 CONTRACT_DEFAULT_MAX_STEPS,
                                 CONTRACT_DEFAULT_MAX_SPLIT};
    struct contract_prog *cp = xzalloc(sizeof *cp);
    const struct bpf_jit_cost *costs = NULL;
    struct builder b;
    char *err = NULL;

    *out = NULL;
    *errp = NULL;
    if (!lim) {
        lim = &dl;
    }
    cp->prog = prog;
    if (!bpf_prog_jit(prog, &err)) {
        costs = bpf_prog_jit_costs(prog, &cp->x86_prologue,
                                   &cp->x86_epilogue);
    }
    free(err);
    err = NULL;
    if (costs && !measure_entry(&err)) {
        cp->have_x86 = true;
        cp->x86_entry = entry_cost;
    } else {
        costs = NULL;
        free(err);
    }

    memset(&b, 0, sizeof b);
    b.cp = cp;
    struct bpf_paths_limits pl = {lim->max_paths, lim->max_steps, false};
    int rc = bpf_prog_paths(prog, costs, &pl, on_path, &b, &err);
    if (rc == -E2BIG && !lim->no_merge) {
        /* Too many paths one by one: walk again merging the paths that
         * meet in equal states, which keeps every cost exact (but in loop
         * mode). */
        builder_free(&b);
        free(cp->sig_keys);
        free(cp->sig_vals);
        cp->sig_keys = NULL;
        cp->sig_vals = NULL;
        cp->sig_cap = cp->n_sigs = 0;
        cp->n_paths = 0;
        free(err);
        err = NULL;
        memset(&b, 0, sizeof b);
        b.cp = cp;
        pl.merge = true;
        cp->merged = true;
        if (bpf_prog_n_loops(prog)) {
            /* Loops are then not unrolled: their iterations become PCVs
             * (loop mode), and paths with the same calls whose other
             * costs are close share a class. */
            b.by_calls = true;
            pl.loops = true;
            pl.band = CONTRACT_WALK_BAND;
            cp->loop_mode = true;
        }
        rc = bpf_prog_paths(prog, costs, &pl, on_path, &b, &err);
        if (rc >= 0 && lpcvs_build(cp)) {
            err = xasprintf("loops with more than %d body path costs",
                            CONTRACT_MAX_LOOP_PCVS);
            rc = -E2BIG;
        }
    }
    if (rc < 0 && rc != -E2BIG) {
        *errp = err;
        builder_free(&b);
        contract_prog_free(cp);
        return rc;
    }
    if (b.by_calls) {
        groups_band(&b);
    }
    if (rc == -E2BIG) {
        cp->incomplete = err;
    }
    cp->n_groups = (uint32_t)b.n_groups;
    cp->group_first = xcalloc(b.n_groups + 1, sizeof *cp->group_first);
    cp->group_n = xcalloc(b.n_groups + 1, sizeof *cp->group_n);
    cp->costs = costs;
    cp->max_split = lim->max_split;
    cp->trail_cap = 1u << 16;
    cp->trail = xmalloc(cp->trail_cap);
    if (cp->merged) {
        cp->group_keys = xcalloc(b.n_groups + 1, sizeof *cp->group_keys);
        cp->n_group_keys = (uint32_t)b.n_groups;
    }
    for (size_t g = 0; g < b.n_groups; g++) {
        if (cp->merged) {
            cp->group_keys[g] = b.groups[g].key;
        }
        expand_group(cp, costs, &b.groups[g], (uint32_t)g, lim->max_split);
        for (uint32_t i = 0; i < b.groups[g].n_conds; i++) {
            free(b.groups[g].conds[i]);
        }
        free(b.groups[g].conds);
    }
    free(b.groups);
    free(b.gtab);
    *out = cp;
    return 0;
}

void
contract_prog_free(struct contract_prog *cp)
{
    if (!cp) {
        return;
    }
    for (size_t i = 0; i < cp->n_classes; i++) {
        free(cp->classes[i].desc);
        free(cp->classes[i].words);
        free(cp->classes[i].calls);
    }
    free(cp->classes);
    free(cp->incomplete);
    free(cp->sig_keys);
    free(cp->sig_vals);
    free(cp->group_keys);
    free(cp->group_first);
    free(cp->group_n);
    free(cp->trail);
    for (uint32_t i = 0; i < cp->n_lpcvs; i++) {
        free(cp->lpcvs[i].desc);
    }
    free(cp->lpcvs);
    for (uint32_t i = 0; i < cp->n_bodies; i++) {
        free(cp->bodies[i].desc);
    }
    free(cp->bodies);
    free(cp->followed);
    free(cp->follow_err);
    free(cp);
}

/* ---- Words ------------------------------------------------------------- */

static const char *
path_outcome_name(uint8_t o)
{
    static const char *const names[] = {
        "", "hit", "miss", "=0", "!=0", "tested", "taken", "not taken",
    };
    return o < ARRAY_SIZE(names) ? names[o] : "?";
}

void
contract_call_text(const struct contract_prog *cp,
                   const struct contract_call *cc, struct ds *s)
{
    const struct bpf_map *map = call_map(cp->prog, cc->map);
    ds_put_format(s, "%s(%s)", bpf_helper_name(cc->helper),
                  map ? map->name : "");
    /* What the program tested, then the map-contract outcomes covered
     * (omitted for helpers with the one outcome OK). */
    if (cc->path_outcome == BPF_PATH_TESTED) {
        ds_put_format(s, " %s", cc->cond);
    } else if (cc->path_outcome != BPF_PATH_ANY) {
        ds_put_format(s, " %s", path_outcome_name(cc->path_outcome));
    }
    bool same = (cc->path_outcome == BPF_PATH_HIT
                 && cc->outcomes == 1u << CONTRACT_OUT_HIT)
                || (cc->path_outcome == BPF_PATH_MISS
                    && cc->outcomes == 1u << CONTRACT_OUT_MISS);
    if (!cc->has_cost) {
        ds_put_cstr(s, " [no contract]");
    } else if (cc->outcomes != 1u << CONTRACT_OUT_OK && !same) {
        const char *sep = " [";
        for (int o = 0; o < CONTRACT_OUT_N; o++) {
            if (cc->outcomes & (1u << o)) {
                ds_put_format(s, "%s%s", sep,
                              contract_outcome_name((enum contract_outcome)o));
                sep = "|";
            }
        }
        ds_put_cstr(s, "]");
    }
}

/* Whether the helper part of metric 'm' is in the bound. */
static const struct contract_linear *
call_linear(const struct contract_call *cc, enum contract_metric m)
{
    if (!cc->has_cost) {
        return NULL;
    }
    if (m == CONTRACT_M_MEM) {
        return &cc->cost.mem;
    }
    if (m == CONTRACT_M_X86 && !cc->inlined) {
        return &cc->cost.x86;
    }
    return NULL;
}

static uint64_t
class_constant(const struct contract_prog *cp, const struct contract_class *c,
               enum contract_metric m)
{
    switch (m) {
    case CONTRACT_M_INSNS:
        return c->insns;
    case CONTRACT_M_MEM:
        return c->mem;
    case CONTRACT_M_HELPERS:
        return c->helpers;
    default:
        return cp->have_x86 ? c->x86_code : 0;
    }
}

/* Coefficient of loop PCV 'v' in the bound of class 'c' on 'm'. */
static uint64_t
lpcv_coef(const struct contract_prog *cp, const struct contract_loop_pcv *v,
          const struct contract_class *c, enum contract_metric m)
{
    if (!(c->loops >> v->loop & 1)) {
        return 0;
    }
    switch (m) {
    case CONTRACT_M_INSNS:
        return v->insns;
    case CONTRACT_M_MEM:
        return v->mem;
    case CONTRACT_M_X86:
        return cp->have_x86 ? v->x86 : 0;
    default:
        return 0;               /* A body path makes no calls. */
    }
}

void
contract_bound_text(const struct contract_prog *cp,
                    const struct contract_class *c, enum contract_metric m,
                    struct ds *s)
{
    uint64_t k = class_constant(cp, c, m);
    struct ds terms;
    ds_init(&terms);
    for (uint32_t i = 0; i < c->n_calls; i++) {
        const struct contract_linear *l = call_linear(&c->calls[i], m);
        if (!l) {
            continue;
        }
        k += l->base;
        for (int v = 0; v < CONTRACT_PCV_N; v++) {
            if (l->coef[v] && c->calls[i].cost.pcv_max[v]) {
                ds_put_format(&terms, " + %llu*%s.%s",
                              (unsigned long long)l->coef[v],
                              c->calls[i].pcv_prefix,
                              contract_pcv_name((enum contract_pcv)v));
            }
        }
    }
    for (uint32_t v = 0; v < cp->n_lpcvs; v++) {
        uint64_t coef = lpcv_coef(cp, &cp->lpcvs[v], c, m);
        if (coef) {
            ds_put_format(&terms, " + %llu*%s", (unsigned long long)coef,
                          cp->lpcvs[v].name);
        }
    }
    if (m == CONTRACT_M_X86 && !cp->have_x86) {
        ds_put_cstr(s, "n/a");
    } else {
        ds_put_format(s, "%llu%s", (unsigned long long)k, ds_cstr(&terms));
    }
    ds_destroy(&terms);
}

/* ---- Measuring --------------------------------------------------------- */

static void
probe_call(void *arg, int32_t helper, const uint64_t args[5])
{
    struct contract_measure *m = arg;
    if (m->n_calls >= CONTRACT_MAX_OBS) {
        return;
    }
    uint32_t k = m->n_calls++;
    const struct bpf_helper_proto *proto = bpf_helper_proto(helper);
    m->helpers[k] = helper;
    m->maps[k] = proto && proto->args[0] == BPF_ARG_CONST_MAP_PTR
                     ? (const struct bpf_map *)(uintptr_t)args[0]
                     : NULL;
    memset(&m->pcvs[k], 0, sizeof m->pcvs[k]);
    m->probed[k] = !contract_mapcost_probe(helper, args, &m->pcvs[k]);
}

uint64_t
contract_bound_at(const struct contract_prog *cp,
                  const struct contract_class *c, enum contract_metric m,
                  const struct contract_measure *obs)
{
    uint64_t b = class_constant(cp, c, m);
    for (uint32_t i = 0; i < c->n_calls && i < obs->n_calls; i++) {
        const struct contract_linear *l = call_linear(&c->calls[i], m);
        if (l) {
            b += contract_linear_eval(l, obs->pcvs[i].pcv);
        }
    }
    for (uint32_t v = 0; v < cp->n_lpcvs; v++) {
        b += lpcv_coef(cp, &cp->lpcvs[v], c, m) * obs->loop_counts[v];
    }
    return b;
}

static int
copy_path(const struct bpf_path *p, void *arg)
{
    struct bpf_path *copy = arg;
    *copy = *p;
    copy->conds = NULL;
    copy->n_conds = 0;
    return 0;
}

/* Loop mode: follows the last run's path into cp->followed (its prefix
 * and exit) and counts its iterations per loop PCV into 'm', or sets
 * cp->follow_err. */
static void
follow_loops(struct contract_prog *cp, struct contract_measure *m)
{
    char *err = NULL;

    free(cp->follow_err);
    cp->follow_err = NULL;
    if (!cp->followed) {
        cp->followed = xmalloc(sizeof *cp->followed);
    }
    if (cp->trail_len > cp->trail_cap) {
        cp->follow_err = xasprintf("its path has more than %u branches",
                                   cp->trail_cap);
        return;
    }
    if (bpf_prog_path_follow(cp->prog, cp->costs, true, cp->trail,
                             cp->trail_len, copy_path, cp->followed, &err)) {
        cp->follow_err = xasprintf("its path cannot be followed: %s",
                                   err ? err : "no path");
        free(err);
        return;
    }
    const struct bpf_path *p = cp->followed;
    for (uint32_t k = 0; k < p->n_iters; k++) {
        const struct bpf_path_iter *it = &p->iters[k];
        uint32_t i = 0;
        while (i < cp->n_bodies
               && (cp->bodies[i].loop != it->loop
                   || cp->bodies[i].sig != it->sig)) {
            i++;
        }
        if (i == cp->n_bodies) {
            cp->follow_err = xasprintf("an iteration of the loop at "
                                       "instruction %u took a body path "
                                       "not enumerated",
                                       cp->n_lpcvs ? cp->lpcvs[0].header
                                                   : 0);
            return;
        }
        m->loop_counts[cp->bodies[i].pcv] += it->count;
    }
}

int
contract_measure(struct contract_prog *cp, struct bpf_prog *interp,
                 struct bpf_xdp_buff *ctx_i, struct bpf_prog *jit,
                 struct bpf_xdp_buff *ctx_j, uint64_t time_ns,
                 struct contract_measure *m, char **errp)
{
    struct bpf_interp_counts cnt;

    *errp = NULL;
    memset(m, 0, sizeof *m);
    memset(&cnt, 0, sizeof cnt);
    cnt.on_call = probe_call;
    cnt.arg = m;
    cnt.trail = cp->trail;
    cnt.trail_cap = cp->trail_cap;
    bpf_set_time_ns(time_ns);
    m->ret = bpf_interp_run_xdp_counted(interp, ctx_i, &cnt);
    m->sig = cnt.sig;
    m->tail_taken = cnt.tail_taken;
    cp->trail_len = cnt.trail_len;
    m->value[CONTRACT_M_INSNS] = cnt.insns;
    m->value[CONTRACT_M_HELPERS] = cnt.helpers;
    /* Helpers' own accesses: their contracts at the observed PCVs and
     * outcome (an interpreter does not see inside a C helper). */
    uint64_t mem = cnt.mem;
    for (uint32_t k = 0; k < m->n_calls; k++) {
        struct contract_op_cost c;
        if (!m->probed[k]) {
            continue;
        }
        if (!contract_mapcost_get(m->helpers[k], m->maps[k],
                                  m->pcvs[k].outcome, &c)) {
            mem += contract_linear_eval(&c.mem, m->pcvs[k].pcv);
        }
    }
    m->value[CONTRACT_M_MEM] = mem;
    if (cp->loop_mode) {
        follow_loops(cp, m);
    }

    if (jit && cp->have_x86 && jit->jit) {
        int stop = 0;
        struct bpf_jit_enter_args a = {jit->jit->code, (uintptr_t)ctx_j, 0,
                                       &stop};
        struct bpf_run_ctx rctx = {.xdp = ctx_j, .prog = jit};
        struct bpf_run_ctx *saved = bpf_run_cur;
        bpf_set_time_ns(time_ns);
        bpf_run_cur = &rctx;
        m->value[CONTRACT_M_X86] = x86count_run(run_jit_entry, &a);
        bpf_run_cur = saved;
        m->have_x86 = true;
        /* bpf_jit_enter returned r0 into a register we did not keep: the
         * JIT run is compared through its packet and context. */
        uint64_t li = ctx_i->data_end - ctx_i->data;
        uint64_t lj = ctx_j->data_end - ctx_j->data;
        if (li != lj
            || memcmp((void *)(uintptr_t)ctx_i->data,
                      (void *)(uintptr_t)ctx_j->data, li)
            || ctx_i->redirect_port != ctx_j->redirect_port) {
            *errp = xasprintf("the JIT and the interpreter left different "
                              "packets or redirect ports");
            return -EIO;
        }
    }
    return 0;
}

/* Follows the last measured run's path and adds its group and classes;
 * returns the group, or -1 with '*errp'. */
static long
add_traced(struct contract_prog *cp, char **errp)
{
    struct builder b;
    char *err = NULL;

    memset(&b, 0, sizeof b);
    b.cp = cp;
    int rc = bpf_prog_path_follow(cp->prog, cp->costs, cp->loop_mode,
                                  cp->trail, cp->trail_len, on_path, &b,
                                  &err);
    if (rc || b.n_groups != 1) {
        *errp = xasprintf("its path cannot be followed: %s",
                          err ? err : "no path");
        free(err);
        rc = -1;
    } else {
        uint32_t gi = cp->n_groups++;
        cp->group_first = xrealloc(cp->group_first,
                                   cp->n_groups * sizeof *cp->group_first);
        cp->group_n = xrealloc(cp->group_n,
                               cp->n_groups * sizeof *cp->group_n);
        /* on_path() filed the path's signature under group 0 of the
         * temporary builder: move it to its real index. */
        sig_insert_force(cp, b.groups[0].key.sig, gi);
        if (cp->loop_mode) {
            cp->group_keys = xrealloc(cp->group_keys,
                                      cp->n_groups * sizeof *cp->group_keys);
            cp->group_keys[gi] = b.groups[0].key;
            cp->n_group_keys = cp->n_groups;
        }
        size_t first = cp->n_classes;
        expand_group(cp, cp->costs, &b.groups[0], gi, cp->max_split);
        for (size_t k = first; k < cp->n_classes; k++) {
            cp->classes[k].traced = true;
        }
        rc = (int)gi;
    }
    for (size_t g = 0; g < b.n_groups; g++) {
        for (uint32_t i = 0; i < b.groups[g].n_conds; i++) {
            free(b.groups[g].conds[i]);
        }
        free(b.groups[g].conds);
    }
    free(b.groups);
    free(b.gtab);
    return rc;
}

/* Merge mode: follows the last measured run's path and finds the group
 * of its calls and costs among the enumerated ones (its signature is then
 * filed for the next run on it); -1 if none has them. */
static long
find_merged(struct contract_prog *cp)
{
    struct bpf_path *p = xzalloc(sizeof *p);
    char *err = NULL;
    long gi = -1;

    int rc = bpf_prog_path_follow(cp->prog, cp->costs, false, cp->trail,
                                  cp->trail_len, copy_path, p, &err);
    free(err);
    for (uint32_t g = 0; !rc && g < cp->n_group_keys && gi < 0; g++) {
        if (group_equal(&cp->group_keys[g], p, false)) {
            gi = g;
        }
    }
    if (gi >= 0) {
        sig_insert(cp, p->sig, (uint32_t)gi);
    }
    free(p);
    return gi;
}

long
contract_check_packet(struct contract_prog *cp,
                      const struct contract_measure *m, char **violation,
                      char **errp)
{
    *violation = NULL;
    *errp = NULL;
    long gi = -1;
    if (cp->loop_mode) {
        /* The run's prefix and exit, followed by contract_measure(). */
        if (cp->follow_err) {
            *errp = xstrdup(cp->follow_err);
            return -1;
        }
        const struct bpf_path *p = cp->followed;
        for (uint32_t g = 0; g < cp->n_group_keys && gi < 0; g++) {
            const struct bpf_path *k = &cp->group_keys[g];
            if (group_equal(k, p, true) && !(p->loops & ~k->loops)
                && k->insns_lo <= p->insns && p->insns <= k->insns
                && k->mem_lo <= p->mem && p->mem <= k->mem
                && k->x86_lo <= p->x86_max && p->x86_max <= k->x86_max) {
                gi = g;
            }
        }
    } else {
        gi = sig_find(cp, m->sig);
    }
    if (gi < 0 && cp->merged && !cp->loop_mode
        && cp->trail_len <= cp->trail_cap) {
        gi = find_merged(cp);
    }
    if (gi < 0 && cp->incomplete && cp->trail_len <= cp->trail_cap) {
        gi = add_traced(cp, errp);
        if (gi < 0) {
            return -1;
        }
    }
    if (gi < 0) {
        *errp = xasprintf(cp->incomplete
                              ? "its path was not enumerated (%s)"
                              : "its path is not among the enumerated "
                                "ones%s",
                          cp->incomplete ? cp->incomplete : "");
        return -1;
    }
    long found = -1;
    for (uint32_t k = 0; k < cp->group_n[gi] && found < 0; k++) {
        uint32_t ci = cp->group_first[gi] + k;
        const struct contract_class *c = &cp->classes[ci];
        bool ok = c->n_calls == m->n_calls;
        for (uint32_t i = 0; ok && i < c->n_calls; i++) {
            const struct contract_call *cc = &c->calls[i];
            ok = cc->helper == m->helpers[i];
            if (ok && cc->has_cost && m->probed[i]) {
                ok = (cc->outcomes >> m->pcvs[i].outcome) & 1;
            }
        }
        if (ok) {
            found = (long)ci;
        }
    }
    if (found < 0) {
        struct ds s;
        ds_init(&s);
        for (uint32_t i = 0; i < m->n_calls; i++) {
            ds_put_format(&s, "%s%s=%s", i ? ", " : "",
                          bpf_helper_name(m->helpers[i]),
                          m->probed[i]
                              ? contract_outcome_name(m->pcvs[i].outcome)
                              : "?");
        }
        *errp = xasprintf("no class of path group %ld has the observed "
                          "calls (%s)", gi, ds_cstr(&s));
        ds_destroy(&s);
        return -1;
    }
    struct contract_class *c = &cp->classes[found];
    c->packets++;
    for (int k = 0; k < CONTRACT_M_N; k++) {
        if (k == CONTRACT_M_X86 && !m->have_x86) {
            continue;
        }
        uint64_t bound = contract_bound_at(cp, c, (enum contract_metric)k, m);
        uint64_t meas = m->value[k];
        if (meas > bound && !*violation) {
            *violation = xasprintf("%s: measured %llu > bound %llu",
                                   metric_names[k],
                                   (unsigned long long)meas,
                                   (unsigned long long)bound);
        }
        uint64_t gap = bound >= meas ? bound - meas : 0;
        double pct = meas ? 100.0 * (double)gap / (double)meas : 0.0;
        struct contract_gap *g = &c->gap[k];
        if (gap > g->max_abs) {
            g->max_abs = gap;
        }
        if (pct > g->max_pct) {
            g->max_pct = pct;
        }
        g->sum_abs += (double)gap;
        g->sum_pct += pct;
    }
    return found;
}
