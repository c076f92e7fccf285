/* Multi-core steering from the state analysis.
 *
 * Steering packets to datapath threads by a hash of a field set S is safe
 * when no entry of mutable state is written by two packets with different
 * S (threads may read what others write, as the kernel's CPUs do): for
 * every updated map, equal keys of its writes must imply equal S.  The
 * writes are the analysis's 'write_key' (a flow table's lookup only
 * refreshes a timestamp that moves forward atomically, which commutes),
 * and writes under a slot a flow table just gave the writing flow count
 * under that flow's key ('owner_key').  The key layout gives S directly:
 * S is recoverable from a key when every byte of every field of S appears
 * verbatim in it (or, for a symmetric hash, every byte of a
 * source/destination pair appears as one byte of each member, in either
 * order).  Dimensions alone are not enough: a key that is a hash of the
 * 5-tuple depends on it but two flows may share an entry.
 *
 * Maps that need no steering: configuration (never updated), per-CPU
 * arrays (each datapath thread has its own copy, bpf_map_default_n_cpus),
 * and maps updated only by atomic add/or/and/xor whose values never reach
 * the output (a global counter: concurrent atomic adds from several
 * threads give the same totals, and nothing the program does depends on
 * them).  Any other updated map whose key does not give the fields forces
 * a single thread. */
#include "state/state.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpf/bpf_int.h"
#include "core/compiler.h"
#include "core/util.h"

#define BIT(f) (UINT64_C(1) << (f))

/* The pairs a symmetric hash treats as unordered: source member first. */
static const int pairs[][2] = {
    { STATE_F_DL_SRC, STATE_F_DL_DST },
    { STATE_F_NW_SRC, STATE_F_NW_DST },
    { STATE_F_IPV6_SRC, STATE_F_IPV6_DST },
    { STATE_F_TP_SRC, STATE_F_TP_DST },
};

/* Width in bytes of a field as the key layout numbers it, or 0 for
 * fields steering never uses. */
static int
field_width(int f)
{
    switch (f) {
    case STATE_F_IN_PORT: return 4;
    case STATE_F_DL_DST: case STATE_F_DL_SRC: return 6;
    case STATE_F_DL_TYPE: return 2;
    case STATE_F_NW_TOS: case STATE_F_NW_TTL: case STATE_F_NW_PROTO:
        return 1;
    case STATE_F_NW_SRC: case STATE_F_NW_DST: return 4;
    case STATE_F_IPV6_SRC: case STATE_F_IPV6_DST: return 16;
    case STATE_F_TP_SRC: case STATE_F_TP_DST: return 2;
    default: return 0;
    }
}

/* A key layout: 'n' bytes at 'b' (NULL: nothing known). */
struct layout {
    const struct state_key_byte *b;
    uint32_t n;
};

static bool
key_has(struct layout m, int kind, int f, int byte)
{
    for (uint32_t i = 0; i < m.n; i++) {
        const struct state_key_byte *k = &m.b[i];
        if (k->kind == kind && k->field == f && k->byte == byte) {
            return true;
        }
    }
    return false;
}

/* Fields whose every byte the key holds verbatim. */
static uint64_t
key_ordered(struct layout m)
{
    uint64_t out = 0;

    for (int f = 0; f < STATE_N_FIELDS && m.b; f++) {
        int w = field_width(f);
        bool all = w > 0;
        for (int b = 0; b < w && all; b++) {
            all = key_has(m, STATE_KEY_FIELD, f, b);
        }
        if (all) {
            out |= BIT(f);
        }
    }
    return out;
}

/* Whether the key holds pair 'p' unordered: for each byte, two key bytes
 * of one group with different members, or both members verbatim. */
static bool
key_pair(struct layout m, int p, uint64_t ordered)
{
    int src = pairs[p][0], dst = pairs[p][1];
    int w = field_width(src);

    if (!m.b) {
        return false;
    }
    if ((ordered & BIT(src)) && (ordered & BIT(dst))) {
        return true;
    }
    for (int b = 0; b < w; b++) {
        bool found = false;
        for (uint32_t i = 0; i < m.n && !found; i++) {
            const struct state_key_byte *x = &m.b[i];
            if (x->kind != STATE_KEY_PAIR || x->field != src
                || x->byte != b) {
                continue;
            }
            for (uint32_t j = 0; j < m.n && !found; j++) {
                const struct state_key_byte *y = &m.b[j];
                found = y->kind == STATE_KEY_PAIR && y->field == src
                        && y->byte == b && y->group == x->group
                        && y->member != x->member;
            }
        }
        if (!found) {
            return false;
        }
    }
    return true;
}

static uint64_t
pair_bits(int p)
{
    return BIT(pairs[p][0]) | BIT(pairs[p][1]);
}

static uint64_t
all_pair_bits(void)
{
    uint64_t b = 0;

    for (size_t p = 0; p < ARRAY_SIZE(pairs); p++) {
        b |= pair_bits(p);
    }
    return b;
}

/* The fields layout 'l' gives in order ('*o') and with pairs unordered
 * ('*s'). */
static void
layout_fields(struct layout l, uint64_t *o, uint64_t *s)
{
    *o = key_ordered(l);
    *s = *o & ~all_pair_bits();
    for (size_t p = 0; p < ARRAY_SIZE(pairs); p++) {
        if (key_pair(l, p, *o)) {
            *s |= pair_bits(p);
        }
    }
}

/* The fields that name every writer of map 'm''s entries: those its
 * writes' keys hold, or, for writes under an owned slot, those of the
 * flow-table key owning the slot (a flow table gives each live slot to
 * one entry).  Without known writers, those every access's key holds. */
static void
map_fields(const struct state_map_result *m, uint64_t *o, uint64_t *s)
{
    uint64_t o2, s2;

    if (!m->writers_known) {
        layout_fields((struct layout) { m->key, m->key_size }, o, s);
        return;
    }
    *o = *s = ~UINT64_C(0);
    if (m->write_key) {
        layout_fields((struct layout) { m->write_key, m->key_size }, &o2,
                      &s2);
        *o &= o2;
        *s &= s2;
    }
    if (m->owner_key) {
        layout_fields((struct layout) { m->owner_key, m->owner_key_size },
                      &o2, &s2);
        *o &= o2;
        *s &= s2;
    }
}

/* Formats a reason, truncating (a reason is for people). */
static void PRINTF_FORMAT(2, 3)
reason_set(char reason[STATE_REASON_LEN], const char *fmt, ...)
{
    va_list args;

    va_start(args, fmt);
    vsnprintf(reason, STATE_REASON_LEN, fmt, args);
    va_end(args);
}

/* Counts fields, a pair counting as its two members. */
static int
n_fields(uint64_t f)
{
    return __builtin_popcountll(f);
}

int
state_steering(const struct bpf_prog *const *progs, size_t n_progs,
               struct state_steering *out, char **errp)
{
    const uint64_t five = BIT(STATE_F_NW_PROTO) | BIT(STATE_F_NW_SRC)
                          | BIT(STATE_F_NW_DST) | BIT(STATE_F_TP_SRC)
                          | BIT(STATE_F_TP_DST);
    /* Candidates: fields every constraining map gives in order, and
     * fields every one gives with pairs unordered. */
    uint64_t ordered = ~UINT64_C(0), sym = ~UINT64_C(0);
    unsigned int n_constraining = 0;
    char blame[96] = "";
    char owned[112] = "";
    bool reads_free = false;     /* Some map read under other keys. */
    char single_why[STATE_REASON_LEN] = "";

    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < n_progs; i++) {
        struct state_result res;
        const struct bpf_prog *prog = progs[i];
        if (state_analyze(prog, &res, errp)) {
            return -EINVAL;
        }
        for (unsigned int j = 0; j < res.n_maps; j++) {
            const struct state_map_result *m = &res.maps[j];
            const struct bpf_map *map = prog->maps[j];
            if (!m->updated || map->type == BPF_MAP_TYPE_PERCPU_ARRAY
                || (m->atomic_only && !m->output && !m->approx)) {
                continue;
            }
            uint64_t o, s;
            map_fields(m, &o, &s);
            if (m->writers_known && m->owner_key && !owned[0]) {
                snprintf(owned, sizeof owned, "; %.30s under slots of %.30s",
                         m->name, m->owner);
            }
            uint64_t ko, ks;
            layout_fields((struct layout) { m->key, m->key_size }, &ko, &ks);
            reads_free |= (ko | ks) != (o | s);
            if (!o && !s && !single_why[0] && m->writers_known) {
                reason_set(single_why,
                         "%s's map %s is written under a key that holds no "
                         "whole packet field nor a slot the writing flow "
                         "owns", prog->name, m->name);
            } else if (!o && !s && !single_why[0]) {
                reason_set(single_why,
                         "%s's map %s is updated under a key that does not "
                         "hold whole packet fields%s%s", prog->name,
                         m->name, m->approx ? ": " : "",
                         m->approx ? m->reason : "");
            }
            ordered &= o;
            sym &= s;
            n_constraining++;
            snprintf(blame, sizeof blame, "%.40s's %.40s", prog->name,
                     m->name);
        }
        state_result_destroy(&res);
    }
    if (!n_constraining) {
        out->fields = five;
        out->symmetric = true;
        reason_set(out->reason, "no program updates "
                 "shared state: the symmetric 5-tuple spreads load best");
        return 0;
    }
    if (single_why[0]) {
        out->single = true;
        reason_set(out->reason, "%s", single_why);
        return 0;
    }
    if (!ordered && !sym) {
        out->single = true;
        reason_set(out->reason, "the keys of the updated "
                 "maps share no field (last: %s): no steering keeps every "
                 "entry on one thread", blame);
        return 0;
    }
    /* The larger set spreads flows over more threads; a symmetric set
     * that is not larger is dropped for the simpler ordered hash. */
    char dims[256];
    if (n_fields(sym) > n_fields(ordered)) {
        out->fields = sym;
        out->symmetric = (sym & all_pair_bits()) != 0;
    } else {
        out->fields = ordered;
    }
    state_dims_format(out->fields, dims, sizeof dims);
    reason_set(out->reason, "every updated map's writes are keyed by "
             "%s%s (%u map%s)%s%s", dims,
             out->symmetric ? " with each pair in either order" : "",
             n_constraining, n_constraining == 1 ? "" : "s", owned,
             reads_free ? "; other accesses only read" : "");
    return 0;
}
