/* Path enumeration over the verifier's abstract domain; see
 * verifier_paths.h.
 *
 * The program has already been verified, so this walk checks nothing: it
 * only keeps enough of the verifier's abstract state to decide branches.
 * A register is a scalar (struct bpf_scalar) or a pointer kind with a
 * fixed offset and a variable part; scalars copied with a 64-bit move
 * share an id so that a comparison refines every copy (the verifier's
 * equal-scalar propagation); map lookups share an id with their copies so
 * that a null check settles all of them.  Each stack slot holds a spilled
 * register of 1, 2, 4 or 8 bytes written at its start, or is unknown.
 *
 * Packet bounds.  The packet length L is a scalar per path.  A check of a
 * constant-offset pointer data + k against data_end decides or refines L;
 * a pointer with a variable part (data + 14 + ihl * 4) is checked against
 * the proven and refuted extents of its id (like the verifier's 'range'),
 * and refines L only through its range of values.
 *
 * Words.  A scalar loaded from the packet at a constant offset remembers
 * the field (named as flows name them, for an untagged IPv4 frame: dl_type
 * at 12, nw_proto at 23, tp_dst at 34 + 2; variable-offset L4 fields as
 * tp_src/tp_dst/tcp_flags relative to the L4 header), context fields
 * (in_port), map-value fields (MAP+OFF) and helper results likewise; a
 * comparison of such a scalar with a constant becomes a condition of the
 * path ("nw_proto=6", "tp_dst!=80"), or the outcome of the helper call. */
#include "bpf/verifier_paths.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpf/helpers.h"
#include "bpf/verifier.h"
#include "core/util.h"

#ifndef BPF_MEMSX
#define BPF_MEMSX 0x80
#endif

#define P_REGS 11
#define P_SLOTS (BPF_STACK_SIZE / 8)
#define P_MAX_ATOMS 48          /* Conditions kept per path. */
#define P_MAX_PKT_IDS 16        /* Variable-offset packet pointers. */
#define P_MAX_PATH_INSNS 200000 /* One path longer than this: give up. */

enum pkind {
    K_NONE, K_SCALAR, K_CTX, K_PKT, K_PKT_END, K_PKT_META, K_STACK,
    K_MAP_VALUE, K_MAP_PTR, K_MEM,
};

/* Where a scalar came from, for the words of a condition:
 * value = (FIELD >> shift) & mask, FIELD in host order if 'raw' (a
 * multi-byte packet load not yet byte-swapped). */
enum okind { O_NONE, O_PKT, O_PKT_L4, O_CTX, O_MAPVAL, O_CALL };

struct origin {
    uint8_t kind;               /* enum okind. */
    uint8_t size;               /* Bytes loaded. */
    bool raw;                   /* Network-order bytes read as host. */
    uint8_t shift;              /* Right shift applied. */
    uint8_t lshift;             /* Left shift applied (bits), pending an
                                 * OR with the bytes before it: clang
                                 * builds an unaligned u16 from two u8
                                 * loads that way. */
    bool stale;                 /* Read before an adjust helper. */
    int32_t off;                /* Packet/ctx/value offset; call index. */
    int32_t map;                /* O_MAPVAL: map index. */
    uint64_t mask;              /* 0 = none. */
};

struct preg {
    struct bpf_scalar s;        /* Value, or a pointer's variable part. */
    uint8_t kind;               /* enum pkind. */
    bool maybe_null;
    uint8_t frameno;            /* K_STACK: frame pointed to. */
    int32_t off;                /* Pointer fixed offset, bytes. */
    uint32_t id;                /* Equal-scalar / null / packet id. */
    int32_t map;                /* Map index. */
    struct origin o;
};

struct pslot {
    uint8_t size;               /* 0 = unknown, else bytes spilled. */
    struct preg r;
};

struct pframe {
    struct preg regs[P_REGS];
    struct pslot slots[P_SLOTS];
    uint32_t ret_idx;           /* Caller's next instruction. */
};

struct atom {
    struct origin o;
    struct origin o2;           /* Compared with this field instead of a
                                 * constant, if its kind is not O_NONE. */
    uint8_t op;                 /* Jump opcode that held (maybe negated). */
    bool is32;
    uint64_t k;                 /* Constant compared with. */
};

struct pkt_id {
    uint32_t id;
    int32_t proven;             /* Fixed offset proven inside, -1 none. */
    int32_t refuted;            /* Fixed offset proven beyond, or MAX. */
};

/* Merge mode: the cost totals of one group of merged prefixes, as an
 * offset from the state's running totals (modular arithmetic). */
struct cvar {
    uint64_t insns, mem, x86_min, x86_max;
    uint64_t n;                 /* Paths with these totals. */
};

struct pstate {
    struct pframe *frames[BPF_MAX_CALL_DEPTH];
    int cur;
    uint32_t idx;
    struct bpf_scalar len;      /* Packet length L. */
    struct pkt_id pkt_ids[P_MAX_PKT_IDS];
    int n_pkt_ids;
    /* Path so far. */
    struct bpf_path p;
    uint32_t call_ids[BPF_PATH_MAX_CALLS]; /* Null id / origin per call. */
    struct atom atoms[P_MAX_ATOMS];
    int n_atoms;
    uint32_t n_steps;           /* Outcomes taken (follow mode). */
    /* Merge mode. */
    uint32_t epoch;             /* Moves to a lower or equal index: with
                                 * idx, a key that grows at every step. */
    struct cvar *vars;          /* Cost variants, NULL = one, offset 0. */
    uint32_t n_vars;
    uint64_t hash;              /* Of the canonical state (merge_key). */
};

struct walker {
    const struct bpf_prog *prog;
    const struct bpf_insn *insns;
    uint32_t n;
    const struct bpf_jit_cost *costs;
    struct bpf_paths_limits lim;
    uint64_t steps, paths;
    uint32_t id_gen;
    struct pstate **stack;
    size_t n_stack, cap_stack;
    int (*fn)(const struct bpf_path *, void *);
    void *arg;
    char *err;
    int32_t l3;                 /* IPv4 header offset of the path being
                                 * described. */
    const uint8_t *trail;       /* Follow mode: the outcomes to take. */
    uint32_t trail_n;
    uint32_t cur_idx;           /* Instruction being stepped. */
    struct pstate **ready;      /* Merge mode: merged states of the
                                 * smallest key, walked first. */
    size_t n_ready;
};

/* ---- State ------------------------------------------------------------- */

static struct pstate *
state_clone(const struct pstate *src)
{
    struct pstate *st = xmalloc(sizeof *st);
    *st = *src;
    for (int f = 0; f <= src->cur; f++) {
        st->frames[f] = xmalloc(sizeof *st->frames[f]);
        *st->frames[f] = *src->frames[f];
    }
    if (src->vars) {
        st->vars = xmalloc(src->n_vars * sizeof *st->vars);
        memcpy(st->vars, src->vars, src->n_vars * sizeof *st->vars);
    }
    return st;
}

static void
state_free(struct pstate *st)
{
    if (st) {
        for (int f = 0; f <= st->cur; f++) {
            free(st->frames[f]);
        }
        free(st->vars);
        free(st);
    }
}

static void
reg_unknown(struct preg *r)
{
    memset(r, 0, sizeof *r);
    r->kind = K_SCALAR;
    bpf_scalar_unknown(&r->s);
}

static void
reg_const(struct preg *r, uint64_t v)
{
    memset(r, 0, sizeof *r);
    r->kind = K_SCALAR;
    bpf_scalar_const(&r->s, v);
}

static void
reg_ptr(struct preg *r, enum pkind kind)
{
    memset(r, 0, sizeof *r);
    r->kind = (uint8_t)kind;
    bpf_scalar_const(&r->s, 0);
}

static bool
is_ptr(const struct preg *r)
{
    return r->kind != K_SCALAR && r->kind != K_NONE;
}

#define EACH_REG(st, q, BODY)                                             \
    for (int f_ = 0; f_ <= (st)->cur; f_++) {                             \
        struct pframe *fr_ = (st)->frames[f_];                            \
        for (int i_ = 0; i_ < P_REGS; i_++) {                             \
            struct preg *q = &fr_->regs[i_];                              \
            BODY                                                          \
        }                                                                 \
        for (int i_ = 0; i_ < P_SLOTS; i_++) {                            \
            if (fr_->slots[i_].size) {                                    \
                struct preg *q = &fr_->slots[i_].r;                       \
                BODY                                                      \
            }                                                             \
        }                                                                 \
    }

static struct pframe *
curf(struct pstate *st)
{
    return st->frames[st->cur];
}

static void
propagate_scalar(struct pstate *st, const struct preg *r)
{
    if (r->kind != K_SCALAR || !r->id) {
        return;
    }
    struct preg c = *r;
    EACH_REG(st, q, {
        if (q->kind == K_SCALAR && q->id == c.id) {
            q->s = c.s;
        }
    })
}

static void
mark_null(struct pstate *st, uint32_t id, bool is_null)
{
    EACH_REG(st, q, {
        if ((q->kind == K_MAP_VALUE || q->kind == K_MEM) && q->maybe_null
            && q->id == id) {
            if (is_null) {
                reg_const(q, 0);
            } else {
                q->maybe_null = false;
            }
        }
    })
    for (uint32_t c = 0; c < st->p.n_calls; c++) {
        if (st->call_ids[c] == id
            && st->p.calls[c].outcome == BPF_PATH_ANY) {
            st->p.calls[c].outcome = is_null ? BPF_PATH_MISS : BPF_PATH_HIT;
        }
    }
}

static void
add_atom(struct pstate *st, const struct origin *o, const struct origin *o2,
         uint8_t op, bool is32, uint64_t k)
{
    if (o->kind == O_NONE || st->n_atoms == P_MAX_ATOMS) {
        return;
    }
    struct atom *a = &st->atoms[st->n_atoms++];
    a->o = *o;
    if (o2) {
        a->o2 = *o2;
    } else {
        memset(&a->o2, 0, sizeof a->o2);
    }
    a->op = op;
    a->is32 = is32;
    a->k = k;
}

/* ---- Words ------------------------------------------------------------- */

struct fname {
    int32_t off;
    uint8_t size;
    const char *name;
};

/* IPv4 fields, relative to the IPv4 header. */
static const struct fname ip_names[] = {
    {0, 1, "ip_vhl"}, {1, 1, "nw_tos"}, {2, 2, "ip_len"}, {4, 2, "ip_id"},
    {6, 2, "ip_frag"}, {6, 1, "ip_frag[0]"}, {8, 1, "nw_ttl"},
    {9, 1, "nw_proto"}, {10, 2, "ip_csum"}, {12, 4, "nw_src"},
    {16, 4, "nw_dst"},
};

/* TCP/UDP fields, relative to the L4 header. */
static const struct fname l4_names[] = {
    {0, 2, "tp_src"}, {2, 2, "tp_dst"}, {4, 4, "tcp_seq"},
    {8, 4, "tcp_ack"}, {12, 1, "tcp_off"}, {13, 1, "tcp_flags"},
    {12, 2, "tcp_off_flags"}, {14, 2, "tcp_win"}, {4, 2, "udp_len"},
};

static const char *
fname_find(const struct fname *t, size_t n, int32_t off, uint8_t size)
{
    for (size_t i = 0; i < n; i++) {
        if (t[i].off == off && t[i].size == size) {
            return t[i].name;
        }
    }
    return NULL;
}

/* Names packet bytes [off, off + size) of a frame whose IPv4 header
 * starts at 'l3' (14, or 18/22 behind one or two VLAN tags), assuming no
 * IPv4 options (variable-offset fields are shown at their smallest
 * offset). */
static void
pkt_field_name(int32_t off, uint8_t size, int32_t l3, char *buf,
               size_t len)
{
    const char *n = NULL;
    if (off == 0 && size == 6) {
        n = "dl_dst";
    } else if (off == 6 && size == 6) {
        n = "dl_src";
    } else if (off == l3 - 2 && size == 2) {
        n = "dl_type";
    } else if (off == 12 && size == 2) {
        n = "vlan_tpid";
    } else if (off == 16 && size == 2 && l3 >= 22) {
        n = "vlan_tpid2";
    } else if (off == l3 - 4 && size == 2) {
        n = "vlan_tci";
    } else if (off >= l3 && off < l3 + 20) {
        n = fname_find(ip_names, ARRAY_SIZE(ip_names), off - l3, size);
    } else if (off >= l3 + 20) {
        n = fname_find(l4_names, ARRAY_SIZE(l4_names), off - l3 - 20, size);
        if (!n) {
            snprintf(buf, len, "l4[%d:%d]", off - l3 - 20,
                     off - l3 - 20 + size);
            return;
        }
    }
    if (n) {
        snprintf(buf, len, "%s", n);
    } else {
        snprintf(buf, len, "pkt[%d:%d]", off, off + size);
    }
}

static uint64_t
net_value(const struct origin *o, uint64_t k)
{
    if (o->raw && !o->shift) {
        switch (o->size) {
        case 2:
            return __builtin_bswap16((uint16_t)k);
        case 4:
            return __builtin_bswap32((uint32_t)k);
        case 8:
            return __builtin_bswap64(k);
        default:
            break;
        }
    }
    return k;
}

static void
origin_name(const struct walker *w, const struct pstate *st,
            const struct origin *o, char *buf, size_t len)
{
    char base[96];

    switch (o->kind) {
    case O_PKT:
    case O_PKT_L4:
        pkt_field_name(o->off, o->size, w->l3, base, sizeof base);
        break;
    case O_CTX:
        snprintf(base, sizeof base, "%s",
                 o->off == (int32_t)offsetof(struct bpf_xdp_buff,
                                             ingress_ifindex)
                     ? "in_port"
                     : "ctx_field");
        break;
    case O_MAPVAL:
        snprintf(base, sizeof base, "%s+%d", w->prog->maps[o->map]->name,
                 o->off);
        break;
    case O_CALL:
        snprintf(base, sizeof base, "%s#%d",
                 bpf_helper_name(st->p.calls[o->off].helper), o->off + 1);
        break;
    default:
        snprintf(base, sizeof base, "?");
        break;
    }
    const char *stale = o->stale ? "(before adjust)" : "";
    if (o->shift && o->mask) {
        snprintf(buf, len, "(%s%s>>%u)&0x%llx", base, stale, o->shift,
                 (unsigned long long)o->mask);
    } else if (o->shift) {
        snprintf(buf, len, "%s%s>>%u", base, stale, o->shift);
    } else if (o->mask) {
        snprintf(buf, len, "%s%s&0x%llx", base, stale,
                 (unsigned long long)net_value(o, o->mask));
    } else {
        snprintf(buf, len, "%s%s", base, stale);
    }
}

/* The constant as the field's value: undoes the host-order read of
 * network-order bytes. */
static uint64_t
atom_value(const struct atom *a)
{
    return net_value(&a->o, a->k);
}

static const char *
op_text(uint8_t op)
{
    switch (op) {
    case BPF_JEQ:
        return "=";
    case BPF_JNE:
        return "!=";
    case BPF_JGT:
        return ">";
    case BPF_JGE:
        return ">=";
    case BPF_JLT:
        return "<";
    case BPF_JLE:
        return "<=";
    case BPF_JSGT:
        return " s> ";
    case BPF_JSGE:
        return " s>= ";
    case BPF_JSLT:
        return " s< ";
    case BPF_JSLE:
        return " s<= ";
    case BPF_JSET:
        return " has bits ";
    case BPF_VERIFIER_JNSET:
        return " has no bits ";
    default:
        return "?";
    }
}

static void
atom_text(const struct walker *w, const struct pstate *st,
          const struct atom *a, char *buf, size_t len)
{
    char name[256];
    origin_name(w, st, &a->o, name, sizeof name);
    if (a->o2.kind != O_NONE) {
        char other[256];
        origin_name(w, st, &a->o2, other, sizeof other);
        snprintf(buf, len, "%s%s%s", name, op_text(a->op), other);
        return;
    }
    uint64_t v = atom_value(a);
    bool signed_op = a->op == BPF_JSGT || a->op == BPF_JSGE
                     || a->op == BPF_JSLT || a->op == BPF_JSLE;
    if (signed_op) {
        snprintf(buf, len, "%s%s%lld", name, op_text(a->op),
                 a->is32 ? (long long)(int32_t)v : (long long)v);
    } else if (v > 255 && a->o.kind != O_CALL) {
        snprintf(buf, len, "%s%s0x%llx", name, op_text(a->op),
                 (unsigned long long)v);
    } else {
        snprintf(buf, len, "%s%s%llu", name, op_text(a->op),
                 (unsigned long long)v);
    }
}

/* Integer results of calls: the outcome from the tests made on them. */
static void
call_outcomes(const struct walker *w, struct pstate *st)
{
    for (uint32_t c = 0; c < st->p.n_calls; c++) {
        struct bpf_path_call *pc = &st->p.calls[c];
        if (pc->outcome != BPF_PATH_ANY) {
            continue;
        }
        bool zero = false, nonzero = false, other = false;
        size_t used = 0;
        for (int i = 0; i < st->n_atoms; i++) {
            const struct atom *a = &st->atoms[i];
            if (a->o.kind != O_CALL || a->o.off != (int32_t)c) {
                continue;
            }
            bool plain = !a->o.shift && !a->o.mask;
            if (plain && a->k == 0 && a->op == BPF_JEQ) {
                zero = true;
            } else if (plain && a->k == 0 && a->op == BPF_JNE) {
                nonzero = true;
            } else {
                other = true;
            }
            char t[640];
            atom_text(w, st, a, t, sizeof t);
            const char *cond = strchr(t, '#');
            cond = cond ? strpbrk(cond, "=!<> &") : t;
            if (cond && used + strlen(cond) + 2 < sizeof pc->cond) {
                used += (size_t)snprintf(pc->cond + used,
                                         sizeof pc->cond - used, "%s%s",
                                         used ? "," : "", cond);
            }
        }
        if (zero) {
            pc->outcome = BPF_PATH_OK;
        } else if (nonzero && !other) {
            pc->outcome = BPF_PATH_FAIL;
        } else if (nonzero || other) {
            pc->outcome = BPF_PATH_TESTED;
        }
    }
}

/* Reports a finished path. */
static int
path_done(struct walker *w, struct pstate *st, const struct preg *r0)
{
    char *texts[P_MAX_ATOMS + 1];
    const char *ptrs[P_MAX_ATOMS + 1];
    uint32_t n = 0;

    if (w->trail && st->n_steps != w->trail_n) {
        return 0;               /* Not the path followed. */
    }
    /* Where the IPv4 header is on this path: behind the VLAN tags its
     * conditions say it has. */
    w->l3 = 14;
    for (int i = 0; i < st->n_atoms; i++) {
        const struct atom *a = &st->atoms[i];
        uint64_t v = atom_value(a);
        if (a->o.kind == O_PKT && a->o.size == 2 && a->op == BPF_JEQ
            && !a->o.mask && !a->o.shift && (v == 0x8100 || v == 0x88a8)
            && a->o.off == w->l3 - 2 && w->l3 < 22) {
            w->l3 += 4;
            i = -1;             /* Look for an inner tag again. */
        }
    }
    call_outcomes(w, st);
    if (st->len.umin > 0 || st->len.umax < 0xffff) {
        if (st->len.umin == st->len.umax) {
            texts[n] = xasprintf("len=%llu",
                                 (unsigned long long)st->len.umin);
        } else if (st->len.umax >= 0xffff) {
            texts[n] = xasprintf("len>=%llu",
                                 (unsigned long long)st->len.umin);
        } else if (st->len.umin == 0) {
            texts[n] = xasprintf("len<=%llu",
                                 (unsigned long long)st->len.umax);
        } else {
            texts[n] = xasprintf("len %llu..%llu",
                                 (unsigned long long)st->len.umin,
                                 (unsigned long long)st->len.umax);
        }
        ptrs[n] = texts[n];
        n++;
    }
    for (int i = 0; i < st->n_atoms; i++) {
        const struct atom *a = &st->atoms[i];
        if (a->o.kind == O_CALL) {
            continue;
        }
        /* "x=5" says all "x!=6" would. */
        bool implied = false;
        for (int j = 0; j < st->n_atoms && a->op != BPF_JEQ && !implied;
             j++) {
            implied = st->atoms[j].op == BPF_JEQ
                      && st->atoms[j].o2.kind == O_NONE
                      && a->o2.kind == O_NONE
                      && !memcmp(&st->atoms[j].o, &a->o, sizeof a->o);
        }
        if (implied) {
            continue;
        }
        char t[640];
        atom_text(w, st, &st->atoms[i], t, sizeof t);
        bool dup = false;
        for (uint32_t j = 0; j < n && !dup; j++) {
            dup = !strcmp(texts[j], t);
        }
        if (!dup) {
            texts[n] = xstrdup(t);
            ptrs[n] = texts[n];
            n++;
        }
    }
    st->p.conds = ptrs;
    st->p.n_conds = n;
    if (r0 && r0->kind == K_SCALAR) {
        st->p.ret_min = r0->s.umin;
        st->p.ret_max = r0->s.umax;
    } else {
        st->p.ret_min = 0;
        st->p.ret_max = UINT64_MAX;
    }
    int rc = 0;
    if (!st->vars) {
        w->paths++;
        st->p.n_paths = 1;
        rc = w->fn(&st->p, w->arg);
    }
    for (uint32_t v = 0; st->vars && v < st->n_vars && !rc; v++) {
        /* One record per distinct cost total of the merged paths. */
        struct bpf_path rec = st->p;
        const struct cvar *cv = &st->vars[v];
        rec.insns += cv->insns;
        rec.mem += cv->mem;
        rec.x86_min += cv->x86_min;
        rec.x86_max += cv->x86_max;
        rec.n_paths = cv->n;
        rec.sig = 0;
        w->paths++;
        rc = w->fn(&rec, w->arg);
    }
    for (uint32_t i = 0; i < n; i++) {
        free(texts[i]);
    }
    st->p.conds = NULL;
    return rc;
}

/* ---- Stack ------------------------------------------------------------- */

static void
slots_forget(struct pframe *fr, int64_t lo, int64_t hi)
{
    /* Bytes [lo, hi) relative to the frame pointer (negative). */
    for (int64_t b = lo; b < hi; b++) {
        if (b >= 0 || b < -BPF_STACK_SIZE) {
            continue;
        }
        fr->slots[(-b - 1) / 8].size = 0;
    }
}

static void
stack_store(struct pstate *st, const struct preg *ptr, int32_t off,
            int size, const struct preg *val)
{
    struct pframe *fr = st->frames[ptr->frameno];
    if (!bpf_scalar_is_const(&ptr->s)) {
        slots_forget(fr, -BPF_STACK_SIZE, 0);
        return;
    }
    int64_t a = (int64_t)ptr->off + off + (int64_t)ptr->s.var_off.value;
    if (a >= 0 || a < -BPF_STACK_SIZE) {
        return;
    }
    slots_forget(fr, a, a + size);
    if ((-a) % 8 == 0 && val) {
        struct pslot *sl = &fr->slots[(-a - 1) / 8];
        sl->size = (uint8_t)size;
        sl->r = *val;
        if (size < 8 && val->kind == K_SCALAR) {
            /* The bytes stored are the low 'size' bytes. */
            struct bpf_scalar m;
            bpf_scalar_const(&m, size == 4 ? 0xffffffffull
                                 : size == 2 ? 0xffff : 0xff);
            bpf_scalar_alu(&sl->r.s, &m, BPF_AND, false, 0);
            if (memcmp(&sl->r.s, &val->s, sizeof val->s)) {
                sl->r.id = 0;
            }
        } else if (size < 8) {
            sl->size = 0;
        }
    }
}

static void
stack_load(struct pstate *st, const struct preg *ptr, int32_t off, int size,
           struct preg *dst)
{
    struct pframe *fr = st->frames[ptr->frameno];
    reg_unknown(dst);
    if (!bpf_scalar_is_const(&ptr->s)) {
        return;
    }
    int64_t a = (int64_t)ptr->off + off + (int64_t)ptr->s.var_off.value;
    if (a >= 0 || a < -BPF_STACK_SIZE || (-a) % 8) {
        return;
    }
    struct pslot *sl = &fr->slots[(-a - 1) / 8];
    if (!sl->size) {
        return;
    }
    if (sl->size == size) {
        *dst = sl->r;
        return;
    }
    if (sl->r.kind == K_SCALAR && bpf_scalar_is_const(&sl->r.s)
        && size < sl->size) {
        uint64_t v = sl->r.s.var_off.value;
        v &= size == 4 ? 0xffffffffull : size == 2 ? 0xffff : 0xff;
        reg_const(dst, v);
    }
}

/* ---- Instructions ------------------------------------------------------ */

static int
size_bytes(uint8_t code)
{
    switch (BPF_SIZE(code)) {
    case BPF_B:
        return 1;
    case BPF_H:
        return 2;
    case BPF_W:
        return 4;
    default:
        return 8;
    }
}

static void
clear_origin_on_alu(struct preg *dst, uint8_t op, bool x, uint64_t k)
{
    struct origin *o = &dst->o;
    if (o->kind == O_NONE) {
        return;
    }
    if (o->lshift) {
        memset(o, 0, sizeof *o);
        return;
    }
    if (!x && op == BPF_AND && !o->mask) {
        o->mask = k;
        return;
    }
    if (!x && op == BPF_AND) {
        o->mask &= k;
        return;
    }
    if (!x && op == BPF_RSH && !o->mask && !o->lshift && k < 64) {
        o->shift = (uint8_t)(o->shift + k);
        return;
    }
    if (!x && op == BPF_LSH && !o->mask && !o->shift && !o->lshift
        && (o->kind == O_PKT || o->kind == O_PKT_L4) && k == 8u * o->size
        && k <= 32) {
        o->lshift = (uint8_t)k;
        return;
    }
    memset(o, 0, sizeof *o);
}

static void
do_alu(struct walker *w, struct pstate *st, const struct bpf_insn *i)
{
    uint8_t op = BPF_OP(i->code);
    bool alu32 = BPF_CLASS(i->code) == BPF_ALU;
    bool x = BPF_SRC(i->code) == BPF_X && op != BPF_END;
    struct pframe *fr = curf(st);
    struct preg src;
    struct preg *dst = &fr->regs[i->dst_reg];

    if (x) {
        src = fr->regs[i->src_reg];
    } else {
        reg_const(&src, alu32 ? (uint32_t)i->imm : (uint64_t)(int64_t)i->imm);
    }
    if (op == BPF_MOV) {
        if (!x) {
            reg_const(dst, src.s.var_off.value);
        } else if (is_ptr(&src)) {
            *dst = src;
        } else if (i->off || alu32) {
            *dst = src;
            dst->id = 0;
            if (i->off) {
                bpf_scalar_sext(&dst->s, (unsigned int)i->off);
                memset(&dst->o, 0, sizeof dst->o);
            }
            if (alu32) {
                bpf_scalar_zext32(&dst->s);
                if (src.s.umax > 0xffffffffull) {
                    memset(&dst->o, 0, sizeof dst->o);
                }
            }
        } else {
            struct preg *s = &fr->regs[i->src_reg];
            if (!s->id && !bpf_scalar_is_const(&s->s)) {
                s->id = ++w->id_gen;
            }
            *dst = *s;
        }
        return;
    }
    if (op == BPF_NEG || op == BPF_END) {
        if (dst->kind != K_SCALAR) {
            reg_unknown(dst);
            return;
        }
        dst->id = 0;
        if (op == BPF_NEG) {
            struct bpf_scalar z;
            bpf_scalar_const(&z, 0);
            bpf_scalar_alu(&z, &dst->s, BPF_SUB, alu32, 0);
            dst->s = z;
            memset(&dst->o, 0, sizeof dst->o);
        } else {
            bool swap = !alu32 || BPF_SRC(i->code) == BPF_TO_BE;
            bpf_scalar_bswap(&dst->s, (unsigned int)i->imm, swap);
            if (swap && dst->o.raw && !dst->o.shift && !dst->o.mask
                && dst->o.size * 8 == i->imm) {
                dst->o.raw = false;
            } else if (swap) {
                memset(&dst->o, 0, sizeof dst->o);
            }
        }
        return;
    }
    if (is_ptr(dst) || is_ptr(&src)) {
        if (op == BPF_SUB && is_ptr(dst) && is_ptr(&src)) {
            reg_unknown(dst);
            if (alu32) {
                bpf_scalar_zext32(&dst->s);
            }
            return;
        }
        struct preg ptr = is_ptr(dst) ? *dst : src;
        struct preg sc = is_ptr(dst) ? src : *dst;
        if (sc.kind != K_SCALAR || alu32
            || (op != BPF_ADD && op != BPF_SUB)) {
            reg_unknown(dst);
            return;
        }
        if (bpf_scalar_is_const(&sc.s)) {
            int64_t c = (int64_t)sc.s.var_off.value;
            ptr.off = (int32_t)(op == BPF_ADD ? ptr.off + c : ptr.off - c);
        } else {
            bpf_scalar_alu(&ptr.s, &sc.s, op, false, 0);
            if (ptr.kind == K_PKT || ptr.kind == K_PKT_META) {
                ptr.id = ++w->id_gen;
            }
        }
        memset(&ptr.o, 0, sizeof ptr.o);
        *dst = ptr;
        return;
    }
    if (dst->kind != K_SCALAR) {
        reg_unknown(dst);
        return;
    }
    dst->id = 0;
    bpf_scalar_alu(&dst->s, &src.s, op, alu32, i->off);
    if (x && op == BPF_OR && dst->o.lshift && src.o.kind == dst->o.kind
        && !src.o.lshift && !src.o.shift && !src.o.mask
        && src.o.off + src.o.size == dst->o.off
        && src.o.size * 8 == dst->o.lshift && !src.o.raw
        && src.o.size == dst->o.size) {
        /* b[k] | b[k+1] << 8: the host-order load of b[k..k+1]. */
        dst->o.off = src.o.off;
        dst->o.size = (uint8_t)(src.o.size * 2);
        dst->o.lshift = 0;
        dst->o.raw = true;
        return;
    }
    clear_origin_on_alu(dst, op, x, src.s.var_off.value);
    if (alu32 && dst->o.kind != O_NONE && dst->o.size > 4) {
        memset(&dst->o, 0, sizeof dst->o);
    }
}

static void
mark_loaded(struct preg *dst, int size, bool sext)
{
    reg_unknown(dst);
    if (size < 8) {
        struct bpf_scalar m;
        bpf_scalar_const(&m, size == 4 ? 0xffffffffull
                             : size == 2 ? 0xffff : 0xff);
        bpf_scalar_alu(&dst->s, &m, BPF_AND, false, 0);
        if (sext) {
            bpf_scalar_sext(&dst->s, (unsigned int)size * 8);
        }
    }
}

static void
do_ldx(struct walker *w, struct pstate *st, const struct bpf_insn *i)
{
    struct pframe *fr = curf(st);
    struct preg ptr = fr->regs[i->src_reg];
    struct preg *dst = &fr->regs[i->dst_reg];
    int size = size_bytes(i->code);
    bool sext = BPF_MODE(i->code) == BPF_MEMSX;

    st->p.mem++;
    switch (ptr.kind) {
    case K_CTX: {
        int32_t off = ptr.off + i->off;
        if (off == offsetof(struct bpf_xdp_buff, data) && size == 8) {
            reg_ptr(dst, K_PKT);
        } else if (off == offsetof(struct bpf_xdp_buff, data_end)
                   && size == 8) {
            reg_ptr(dst, K_PKT_END);
        } else if (off == offsetof(struct bpf_xdp_buff, data_meta)
                   && size == 8) {
            reg_ptr(dst, K_PKT_META);
        } else {
            mark_loaded(dst, size, sext);
            dst->o.kind = O_CTX;
            dst->o.off = off;
            dst->o.size = (uint8_t)size;
        }
        return;
    }
    case K_STACK:
        stack_load(st, &ptr, i->off, size, dst);
        return;
    case K_PKT: {
        mark_loaded(dst, size, sext);
        if (sext) {
            return;
        }
        bool var = !bpf_scalar_is_const(&ptr.s);
        dst->o.kind = var ? O_PKT_L4 : O_PKT;
        dst->o.off = ptr.off + i->off + (int32_t)ptr.s.umin;
        dst->o.size = (uint8_t)size;
        dst->o.raw = size > 1;
        dst->o.stale = false;
        return;
    }
    case K_MAP_VALUE: {
        struct bpf_map *map = w->prog->maps[ptr.map];
        int64_t off = (int64_t)ptr.off + i->off;
        if (map->read_only && bpf_scalar_is_const(&ptr.s) && map->ops
            && map->ops->lookup) {
            /* Frozen .rodata: a contract is for this configuration. */
            uint32_t zero = 0;
            off += (int64_t)ptr.s.var_off.value;
            const uint8_t *v = map->ops->lookup(map, &zero);
            if (v && off >= 0 && off + size <= (int64_t)map->value_size) {
                uint64_t x = 0;
                memcpy(&x, v + off, (size_t)size);
                if (sext) {
                    reg_const(dst, x);
                    bpf_scalar_sext(&dst->s, (unsigned int)size * 8);
                    uint64_t sv = dst->s.var_off.value;
                    reg_const(dst, sv);
                } else {
                    reg_const(dst, x);
                }
                return;
            }
        }
        mark_loaded(dst, size, sext);
        if (bpf_scalar_is_const(&ptr.s) && !sext) {
            dst->o.kind = O_MAPVAL;
            dst->o.map = ptr.map;
            dst->o.off = (int32_t)(off + (int64_t)ptr.s.var_off.value);
            dst->o.size = (uint8_t)size;
        }
        return;
    }
    default:
        mark_loaded(dst, size, sext);
        return;
    }
}

static void
do_store(struct pstate *st, const struct bpf_insn *i)
{
    struct pframe *fr = curf(st);
    struct preg ptr = fr->regs[i->dst_reg];
    int size = size_bytes(i->code);
    struct preg val;

    st->p.mem++;
    if (BPF_CLASS(i->code) == BPF_ST) {
        reg_const(&val, (uint64_t)(int64_t)i->imm);
    } else {
        val = fr->regs[i->src_reg];
    }
    if (ptr.kind == K_STACK) {
        stack_store(st, &ptr, i->off, size, &val);
    }
}

static void
do_atomic(struct pstate *st, const struct bpf_insn *i)
{
    struct pframe *fr = curf(st);
    struct preg ptr = fr->regs[i->dst_reg];
    int size = size_bytes(i->code);

    st->p.mem++;
    if (ptr.kind == K_STACK) {
        stack_store(st, &ptr, i->off, size, NULL);
    }
    if (i->imm == BPF_CMPXCHG) {
        mark_loaded(&fr->regs[BPF_REG_0], size, false);
    } else if (i->imm & BPF_FETCH) {
        mark_loaded(&fr->regs[i->src_reg], size, false);
    }
}

static int push(struct walker *w, struct pstate *st);

/* Extends the signature of 'st' with an outcome.  In follow mode, returns
 * false when the trail went the other way: the state is then dropped. */
static bool
sig_take(struct walker *w, struct pstate *st, uint32_t idx,
         unsigned int taken)
{
    st->p.sig = bpf_path_sig_step(st->p.sig, idx, taken);
    if (!w->trail) {
        return true;
    }
    uint32_t k = st->n_steps++;
    return k < w->trail_n && w->trail[k] == taken;
}

/* Goes on with 'st' (the fall-through) and queues 'other' (the jump),
 * each only if it may be followed.  Returns 0, or 1 when 'st' ends. */
static int
fork_states(struct walker *w, struct pstate *st, bool st_ok,
            struct pstate *other, bool other_ok)
{
    if (other_ok) {
        push(w, other);
    } else {
        state_free(other);
    }
    return st_ok ? 0 : 1;
}

/* Packet pointer against packet end: 'p' is data + p->off + var. */
static struct pkt_id *
pkt_id_find(struct pstate *st, uint32_t id)
{
    for (int k = 0; k < st->n_pkt_ids; k++) {
        if (st->pkt_ids[k].id == id) {
            return &st->pkt_ids[k];
        }
    }
    if (st->n_pkt_ids == P_MAX_PKT_IDS) {
        return NULL;
    }
    struct pkt_id *e = &st->pkt_ids[st->n_pkt_ids++];
    e->id = id;
    e->proven = -1;
    e->refuted = INT32_MAX;
    return e;
}

/* Applies "p <= end" (inside = true) or "p > end" to 'st'.  Returns false
 * when it cannot hold. */
static bool
pkt_assume(struct pstate *st, const struct preg *p, bool inside)
{
    struct bpf_scalar pv = p->s, lv = st->len;
    struct bpf_scalar off;
    bpf_scalar_const(&off, (uint64_t)(int64_t)p->off);
    bpf_scalar_alu(&pv, &off, BPF_ADD, false, 0);
    if (p->id) {
        struct pkt_id *e = pkt_id_find(st, p->id);
        if (e) {
            if (inside && p->off >= e->refuted) {
                return false;
            }
            if (!inside && p->off <= e->proven) {
                return false;
            }
            if (inside && p->off > e->proven) {
                e->proven = p->off;
            }
            if (!inside && p->off < e->refuted) {
                e->refuted = p->off;
            }
        }
    }
    if (!bpf_scalar_refine(&pv, &lv, inside ? BPF_JLE : BPF_JGT, false)) {
        return false;
    }
    st->len = lv;
    return true;
}

/* Conditional jump.  Returns 0 to go on (st->idx set), 1 if dead. */
static int
do_cond_jmp(struct walker *w, struct pstate *st, const struct bpf_insn *i,
            uint32_t idx)
{
    uint8_t op = BPF_OP(i->code);
    bool is32 = BPF_CLASS(i->code) == BPF_JMP32;
    bool x = BPF_SRC(i->code) == BPF_X;
    uint32_t target = (uint32_t)((int64_t)idx + 1 + i->off);
    struct pframe *fr = curf(st);
    struct preg kreg;
    reg_const(&kreg, is32 ? (uint32_t)i->imm : (uint64_t)(int64_t)i->imm);
    struct preg *a = &fr->regs[i->dst_reg];
    struct preg *b = x ? &fr->regs[i->src_reg] : &kreg;

    /* Pointers. */
    if (is_ptr(a) || is_ptr(b)) {
        const struct preg *p = is_ptr(a) ? a : b;
        const struct preg *o = is_ptr(a) ? b : a;
        if (!is_ptr(o)) {
            bool eq = op == BPF_JEQ;
            if (p->maybe_null) {
                struct pstate *other = state_clone(st);
                uint32_t id = p->id;
                bool o_ok = sig_take(w, other, idx, 1);
                other->idx = target;
                mark_null(other, id, eq);
                mark_null(st, id, !eq);
                bool s_ok = sig_take(w, st, idx, 0);
                st->idx = idx + 1;
                return fork_states(w, st, s_ok, other, o_ok);
            }
            /* A non-null pointer compared with zero. */
            bool taken = op == BPF_JNE || op == BPF_JGT;
            st->idx = taken ? target : idx + 1;
            return sig_take(w, st, idx, taken) ? 0 : 1;
        }
        bool pkt_pair = (a->kind == K_PKT && b->kind == K_PKT_END)
                        || (a->kind == K_PKT_END && b->kind == K_PKT);
        struct pstate *other = state_clone(st);
        bool t_ok = sig_take(w, other, idx, 1);
        other->idx = target;
        bool f_ok = sig_take(w, st, idx, 0);
        st->idx = idx + 1;
        if (pkt_pair) {
            /* Normalise to "data + n > end" ('beyond') per op. */
            bool a_data = a->kind == K_PKT;
            const struct preg *pp = a_data ? a : b;
            /* For a_data: JGT/JGE mean beyond (JGE: data+n >= end means
             * n >= L, i.e. data+n-1 ... treated via off+1). */
            struct preg q = *pp;
            bool beyond_taken;
            switch (op) {
            case BPF_JGT:
                beyond_taken = a_data;
                if (!a_data) {
                    q.off++;    /* end > p: p + 1 <= end. */
                }
                break;
            case BPF_JLT:
                beyond_taken = !a_data;
                if (a_data) {
                    q.off++;    /* p < end: p + 1 <= end. */
                }
                break;
            case BPF_JGE:
                beyond_taken = a_data;
                if (a_data) {
                    q.off++;    /* p >= end: p + 1 > end. */
                }
                break;
            case BPF_JLE:
                beyond_taken = !a_data;
                if (!a_data) {
                    q.off++;    /* end <= p: p + 1 > end. */
                }
                break;
            default:
                beyond_taken = false;
                q.kind = K_NONE;
                break;
            }
            if (q.kind != K_NONE) {
                t_ok = t_ok && pkt_assume(other, &q, !beyond_taken);
                f_ok = f_ok && pkt_assume(st, &q, beyond_taken);
            }
        }
        if (!t_ok) {
            state_free(other);
            if (!f_ok) {
                return 1;
            }
            return 0;
        }
        if (!f_ok) {
            /* Only the jump is possible: continue as 'other'. */
            struct pstate tmp = *st;
            *st = *other;
            *other = tmp;
            state_free(other);
            return 0;
        }
        return push(w, other);
    }
    if (a->kind != K_SCALAR || b->kind != K_SCALAR) {
        /* Unreadable registers cannot reach here in a verified program;
         * take both ways. */
        struct pstate *other = state_clone(st);
        bool o_ok = sig_take(w, other, idx, 1);
        other->idx = target;
        bool s_ok = sig_take(w, st, idx, 0);
        st->idx = idx + 1;
        return fork_states(w, st, s_ok, other, o_ok);
    }
    int taken = bpf_scalar_branch(&a->s, &b->s, op, is32);
    if (taken == 1 || taken == 0) {
        st->idx = taken ? target : idx + 1;
        return sig_take(w, st, idx, (unsigned int)taken) ? 0 : 1;
    }
    struct preg at = *a, bt = *b, af = *a, bf = *b;
    bool t_ok = bpf_scalar_refine(&at.s, &bt.s, op, is32);
    uint8_t nop = bpf_jmp_negate(op);
    bool f_ok = bpf_scalar_refine(&af.s, &bf.s, nop, is32);
    const struct origin *ko = NULL, *ko2 = NULL;
    uint64_t kv = 0;
    struct origin aorig = a->o, borig = b->o;
    if (!x || bpf_scalar_is_const(&b->s)) {
        ko = &aorig;
        kv = b->s.var_off.value;
    } else if (a->o.kind != O_NONE && b->o.kind != O_NONE) {
        ko = &aorig;
        ko2 = &borig;
    }
    if (t_ok && f_ok) {
        struct pstate *other = state_clone(st);
        struct pframe *ofr = curf(other);
        ofr->regs[i->dst_reg].s = at.s;
        propagate_scalar(other, &ofr->regs[i->dst_reg]);
        if (x) {
            ofr->regs[i->src_reg].s = bt.s;
            propagate_scalar(other, &ofr->regs[i->src_reg]);
        }
        if (ko) {
            add_atom(other, ko, ko2, op, is32, kv);
        }
        bool o_ok = sig_take(w, other, idx, 1);
        other->idx = target;
        a->s = af.s;
        propagate_scalar(st, a);
        if (x) {
            b->s = bf.s;
            propagate_scalar(st, b);
        }
        if (ko) {
            add_atom(st, ko, ko2, nop, is32, kv);
        }
        bool s_ok = sig_take(w, st, idx, 0);
        st->idx = idx + 1;
        return fork_states(w, st, s_ok, other, o_ok);
    }
    if (!t_ok && !f_ok) {
        return 1;
    }
    /* Refinement alone decided it. */
    a->s = t_ok ? at.s : af.s;
    propagate_scalar(st, a);
    if (x) {
        b->s = t_ok ? bt.s : bf.s;
        propagate_scalar(st, b);
    }
    st->idx = t_ok ? target : idx + 1;
    return sig_take(w, st, idx, t_ok) ? 0 : 1;
}

/* Whether the key argument of an array lookup is a constant in range. */
static bool
array_hit_certain(struct pstate *st, const struct bpf_map *map)
{
    if (map->type != BPF_MAP_TYPE_ARRAY
        && map->type != BPF_MAP_TYPE_PERCPU_ARRAY) {
        return false;
    }
    struct preg *k = &curf(st)->regs[BPF_REG_2];
    if (k->kind != K_STACK) {
        return false;
    }
    struct preg v;
    stack_load(st, k, 0, 4, &v);
    return v.kind == K_SCALAR && bpf_scalar_is_const(&v.s)
           && v.s.var_off.value < map->max_entries;
}

static void
invalidate_pkt(struct pstate *st)
{
    EACH_REG(st, q, {
        if (q->kind == K_PKT || q->kind == K_PKT_END
            || q->kind == K_PKT_META) {
            q->kind = K_NONE;
        }
        if (q->kind == K_SCALAR
            && (q->o.kind == O_PKT || q->o.kind == O_PKT_L4)) {
            q->o.stale = true;
        }
    })
    bpf_scalar_unknown(&st->len);
    struct bpf_scalar m;
    bpf_scalar_const(&m, 0xffff);
    bpf_scalar_alu(&st->len, &m, BPF_AND, false, 0);
    st->n_pkt_ids = 0;
}

/* Helper call.  Returns 0 to go on, 1 if the path ended, <0 to stop. */
static int
do_helper(struct walker *w, struct pstate *st, const struct bpf_insn *i,
          uint32_t idx)
{
    struct pframe *fr = curf(st);
    const struct bpf_helper_proto *proto = bpf_helper_proto(i->imm);
    int32_t map = -1;

    st->p.helpers++;
    if (fr->regs[BPF_REG_1].kind == K_MAP_PTR) {
        map = fr->regs[BPF_REG_1].map;
    } else if (i->imm == BPF_FUNC_tail_call
               && fr->regs[BPF_REG_2].kind == K_MAP_PTR) {
        map = fr->regs[BPF_REG_2].map;
    }
    uint32_t c = st->p.n_calls;
    if (c == BPF_PATH_MAX_CALLS) {
        w->err = xasprintf("a path makes more than %d helper calls",
                           BPF_PATH_MAX_CALLS);
        return -E2BIG;
    }
    st->p.n_calls++;
    struct bpf_path_call *pc = &st->p.calls[c];
    memset(pc, 0, sizeof *pc);
    pc->insn = idx;
    pc->helper = i->imm;
    pc->map = map;
    st->call_ids[c] = 0;

    /* Memory the helper may write on the stack. */
    for (int a = 0; proto && a < 5; a++) {
        if (proto->args[a] == BPF_ARG_PTR_TO_UNINIT_MAP_VALUE
            || (proto->args[a] == BPF_ARG_PTR_TO_MEM && a + 1 < 5
                && i->imm != BPF_FUNC_map_update_elem
                && i->imm != BPF_FUNC_csum_diff)) {
            struct preg *p = &fr->regs[BPF_REG_1 + a];
            if (p->kind == K_STACK) {
                slots_forget(st->frames[p->frameno],
                             -BPF_STACK_SIZE, 0);
            }
        }
    }
    bool hit_certain = i->imm == BPF_FUNC_map_lookup_elem && map >= 0
                       && array_hit_certain(st, w->prog->maps[map]);
    if (proto && proto->pkt_changing) {
        invalidate_pkt(st);
    }
    for (int r = BPF_REG_1; r <= BPF_REG_5; r++) {
        fr->regs[r].kind = K_NONE;
    }
    struct preg *r0 = &fr->regs[BPF_REG_0];
    if (i->imm == BPF_FUNC_tail_call) {
        /* Taken: this program's contract ends here. */
        struct pstate *other = state_clone(st);
        other->p.calls[c].outcome = BPF_PATH_TAKEN;
        int rc = sig_take(w, other, idx, 1) ? path_done(w, other, NULL) : 0;
        state_free(other);
        if (rc) {
            return -ECANCELED;
        }
        pc->outcome = BPF_PATH_NOT_TAKEN;
        reg_unknown(r0);
        return sig_take(w, st, idx, 0) ? 0 : 1;
    }
    if (!proto || proto->ret == BPF_RET_INTEGER) {
        reg_unknown(r0);
        r0->o.kind = O_CALL;
        r0->o.off = (int32_t)c;
        r0->o.size = 8;
        if (i->imm == BPF_FUNC_redirect || i->imm == BPF_FUNC_redirect_map) {
            r0->o.kind = O_NONE;
        }
    } else if (proto->ret == BPF_RET_VOID) {
        r0->kind = K_NONE;
    } else {
        reg_ptr(r0, proto->ret == BPF_RET_PTR_TO_MAP_VALUE_OR_NULL
                        ? K_MAP_VALUE
                        : K_MEM);
        r0->map = map;
        r0->maybe_null = !hit_certain;
        r0->id = ++w->id_gen;
        st->call_ids[c] = r0->id;
        if (hit_certain) {
            pc->outcome = BPF_PATH_HIT;
        }
    }
    return 0;
}

static int
do_ld(struct walker *w, struct pstate *st, const struct bpf_insn *i,
      uint32_t idx)
{
    struct pframe *fr = curf(st);
    if (BPF_MODE(i->code) == BPF_IMM) {
        struct preg *dst = &fr->regs[i->dst_reg];
        uint32_t lo = (uint32_t)i[0].imm, hi = (uint32_t)i[1].imm;
        switch (i->src_reg) {
        case BPF_PSEUDO_MAP_FD:
        case BPF_PSEUDO_MAP_IDX:
            reg_ptr(dst, K_MAP_PTR);
            dst->map = (int32_t)lo;
            break;
        case BPF_PSEUDO_MAP_VALUE:
        case BPF_PSEUDO_MAP_IDX_VALUE:
            reg_ptr(dst, K_MAP_VALUE);
            dst->map = (int32_t)lo;
            dst->off = (int32_t)hi;
            break;
        default:
            reg_const(dst, (uint64_t)hi << 32 | lo);
            break;
        }
        st->idx = idx + 2;
        return 0;
    }
    /* LD_ABS / LD_IND: outside the packet the program ends with 0. */
    int size = size_bytes(i->code);
    st->p.mem++;
    struct pstate *oob = state_clone(st);
    struct preg zero;
    reg_const(&zero, 0);
    int rc = sig_take(w, oob, idx, 2) ? path_done(w, oob, &zero) : 0;
    state_free(oob);
    if (rc) {
        return -ECANCELED;
    }
    struct preg *r0 = &fr->regs[BPF_REG_0];
    mark_loaded(r0, size, false);
    if (BPF_MODE(i->code) == BPF_ABS) {
        r0->o.kind = O_PKT;
        r0->o.off = i->imm;
        r0->o.size = (uint8_t)size;
    }
    for (int r = BPF_REG_1; r <= BPF_REG_5; r++) {
        fr->regs[r].kind = K_NONE;
    }
    st->idx = idx + 1;
    return 0;
}

/* ---- Merging ----------------------------------------------------------- *
 *
 * In merge mode the pending states are kept in a heap ordered by (epoch,
 * idx), which grows at every step of every path (a move to a lower or
 * equal index bumps the epoch), so when a key is popped every state that
 * will ever have that key is already in the heap.  States popped with the
 * same key whose canonical forms are equal are merged: everything the
 * walk reads to decide branches and costs from here on (registers, stack
 * slots, packet length and range facts, calls so far with their outcomes
 * and result ids, the conditions that name call results or VLAN tags) is
 * equal, so both have exactly the same continuations.  What may differ is
 * the cost so far (kept as variants with counts, exact) and the other
 * conditions (only those common to both are kept). */

static uint64_t
state_key(const struct pstate *st)
{
    return (uint64_t)st->epoch << 32 | st->idx;
}

static void
heap_push(struct walker *w, struct pstate *st)
{
    if (w->n_stack == w->cap_stack) {
        w->cap_stack = w->cap_stack ? w->cap_stack * 2 : 64;
        w->stack = xrealloc(w->stack, w->cap_stack * sizeof *w->stack);
    }
    size_t i = w->n_stack++;
    uint64_t k = state_key(st);
    while (i && state_key(w->stack[(i - 1) / 2]) > k) {
        w->stack[i] = w->stack[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    w->stack[i] = st;
}

static struct pstate *
heap_pop(struct walker *w)
{
    struct pstate *top = w->stack[0];
    struct pstate *last = w->stack[--w->n_stack];
    size_t n = w->n_stack, i = 0;
    uint64_t k = state_key(last);
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) {
            break;
        }
        if (c + 1 < n && state_key(w->stack[c + 1]) < state_key(w->stack[c])) {
            c++;
        }
        if (state_key(w->stack[c]) >= k) {
            break;
        }
        w->stack[i] = w->stack[c];
        i = c;
    }
    if (n) {
        w->stack[i] = last;
    }
    return top;
}

static uint32_t
canon_id(uint32_t *map, uint32_t *n_map, uint32_t id)
{
    if (!id) {
        return 0;
    }
    for (uint32_t k = 0; k < *n_map; k++) {
        if (map[k] == id) {
            return k + 1;
        }
    }
    map[(*n_map)++] = id;
    return *n_map;
}

/* Whether an atom must be equal in merged states: a test of a call's
 * result decides its outcome, a VLAN tag test where the IPv4 header is. */
static bool
atom_is_key(const struct atom *a)
{
    uint64_t v = atom_value(a);
    return a->o.kind == O_CALL || a->o2.kind == O_CALL
           || (a->o.kind == O_PKT && a->o.size == 2 && !a->o.mask
               && !a->o.shift && (v == 0x8100 || v == 0x88a8));
}

static uint64_t
hash_mem(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        h = (h ^ b[i]) * 0x100000001b3ull;
    }
    return h;
}

/* Renames ids in order of first use and clears dead registers and slots,
 * so that equal states compare equal byte for byte; sets st->hash. */
static void
state_canon(struct pstate *st)
{
    uint32_t map[BPF_MAX_CALL_DEPTH * (P_REGS + P_SLOTS) + P_MAX_PKT_IDS
                 + BPF_PATH_MAX_CALLS];
    uint32_t n = 0;
    uint64_t h = BPF_PATH_SIG_INIT;

    for (int f = 0; f <= st->cur; f++) {
        struct pframe *fr = st->frames[f];
        for (int r = 0; r < P_REGS; r++) {
            if (fr->regs[r].kind == K_NONE) {
                memset(&fr->regs[r], 0, sizeof fr->regs[r]);
            }
            fr->regs[r].id = canon_id(map, &n, fr->regs[r].id);
        }
        for (int k = 0; k < P_SLOTS; k++) {
            if (!fr->slots[k].size) {
                memset(&fr->slots[k], 0, sizeof fr->slots[k]);
            }
            fr->slots[k].r.id = canon_id(map, &n, fr->slots[k].r.id);
        }
        h = hash_mem(h, fr, sizeof *fr);
    }
    for (int k = 0; k < st->n_pkt_ids; k++) {
        st->pkt_ids[k].id = canon_id(map, &n, st->pkt_ids[k].id);
    }
    for (uint32_t c = 0; c < st->p.n_calls; c++) {
        st->call_ids[c] = canon_id(map, &n, st->call_ids[c]);
    }
    h = hash_mem(h, st->pkt_ids, st->n_pkt_ids * sizeof st->pkt_ids[0]);
    h = hash_mem(h, st->call_ids, st->p.n_calls * sizeof st->call_ids[0]);
    h = hash_mem(h, st->p.calls, st->p.n_calls * sizeof st->p.calls[0]);
    h = hash_mem(h, &st->len, sizeof st->len);
    st->hash = h ^ st->p.loop_iters ^ (uint64_t)st->cur << 40;
}

static bool
states_equal(const struct pstate *a, const struct pstate *b)
{
    if (a->hash != b->hash || a->idx != b->idx || a->epoch != b->epoch
        || a->cur != b->cur || a->n_pkt_ids != b->n_pkt_ids
        || a->p.n_calls != b->p.n_calls || a->p.helpers != b->p.helpers
        || a->p.loop_iters != b->p.loop_iters
        || memcmp(&a->len, &b->len, sizeof a->len)
        || memcmp(a->pkt_ids, b->pkt_ids,
                  a->n_pkt_ids * sizeof a->pkt_ids[0])
        || memcmp(a->call_ids, b->call_ids,
                  a->p.n_calls * sizeof a->call_ids[0])
        || memcmp(a->p.calls, b->p.calls,
                  a->p.n_calls * sizeof a->p.calls[0])) {
        return false;
    }
    for (int f = 0; f <= a->cur; f++) {
        if (memcmp(a->frames[f], b->frames[f], sizeof *a->frames[f])) {
            return false;
        }
    }
    int i = 0, j = 0;
    for (;;) {
        while (i < a->n_atoms && !atom_is_key(&a->atoms[i])) {
            i++;
        }
        while (j < b->n_atoms && !atom_is_key(&b->atoms[j])) {
            j++;
        }
        if (i == a->n_atoms || j == b->n_atoms) {
            return i == a->n_atoms && j == b->n_atoms;
        }
        if (memcmp(&a->atoms[i++], &b->atoms[j++], sizeof a->atoms[0])) {
            return false;
        }
    }
}

/* Merges 'b' into 'a' (states_equal) and frees 'b'. */
static void
state_merge(struct pstate *a, struct pstate *b)
{
    static const struct cvar one = {0, 0, 0, 0, 1};
    const struct cvar *bv = b->vars ? b->vars : &one;
    uint32_t bn = b->vars ? b->n_vars : 1;

    if (!a->vars) {
        a->vars = xmalloc(sizeof *a->vars);
        a->vars[0] = one;
        a->n_vars = 1;
    }
    a->vars = xrealloc(a->vars, (a->n_vars + bn) * sizeof *a->vars);
    for (uint32_t j = 0; j < bn; j++) {
        struct cvar v = bv[j];
        v.insns += b->p.insns - a->p.insns;
        v.mem += b->p.mem - a->p.mem;
        v.x86_min += b->p.x86_min - a->p.x86_min;
        v.x86_max += b->p.x86_max - a->p.x86_max;
        uint32_t k = 0;
        while (k < a->n_vars
               && (a->vars[k].insns != v.insns || a->vars[k].mem != v.mem
                   || a->vars[k].x86_min != v.x86_min
                   || a->vars[k].x86_max != v.x86_max)) {
            k++;
        }
        if (k < a->n_vars) {
            a->vars[k].n += v.n;
        } else {
            a->vars[a->n_vars++] = v;
        }
    }
    /* Conditions: those both have. */
    int kept = 0;
    for (int i = 0; i < a->n_atoms; i++) {
        bool found = false;
        for (int j = 0; j < b->n_atoms && !found; j++) {
            found = !memcmp(&a->atoms[i], &b->atoms[j], sizeof a->atoms[0]);
        }
        if (found) {
            a->atoms[kept++] = a->atoms[i];
        }
    }
    a->n_atoms = kept;
    state_free(b);
}

/* ---- Driver ------------------------------------------------------------ */

static int
push(struct walker *w, struct pstate *st)
{
    if (w->lim.merge) {
        if (st->idx <= w->cur_idx) {
            st->epoch++;
        }
        heap_push(w, st);
        return 0;
    }
    if (w->n_stack == w->cap_stack) {
        w->cap_stack = w->cap_stack ? w->cap_stack * 2 : 64;
        w->stack = xrealloc(w->stack, w->cap_stack * sizeof *w->stack);
    }
    w->stack[w->n_stack++] = st;
    return 0;
}

static int
cmp_hash(const void *x, const void *y)
{
    const struct pstate *a = *(struct pstate *const *)x;
    const struct pstate *b = *(struct pstate *const *)y;
    return a->hash < b->hash ? -1 : a->hash > b->hash;
}

/* Merge mode: pops every state with the smallest key, merges the equal
 * ones and queues the rest on w->ready, which is walked before the heap
 * (each is canonicalised and compared once). */
static void
pop_merged(struct walker *w)
{
    struct pstate *st = heap_pop(w);
    uint64_t k = state_key(st);
    size_t n = 0;

    w->ready = xrealloc(w->ready, (n + 1) * sizeof *w->ready);
    w->ready[n++] = st;
    while (w->n_stack && state_key(w->stack[0]) == k) {
        w->ready = xrealloc(w->ready, (n + 1) * sizeof *w->ready);
        w->ready[n++] = heap_pop(w);
    }
    if (n > 1) {
        for (size_t i = 0; i < n; i++) {
            state_canon(w->ready[i]);
        }
        qsort(w->ready, n, sizeof *w->ready, cmp_hash);
        size_t kept = 0;
        for (size_t i = 0; i < n; i++) {
            struct pstate *o = w->ready[i];
            size_t j = kept;
            while (j > 0 && w->ready[j - 1]->hash == o->hash
                   && !states_equal(w->ready[j - 1], o)) {
                j--;
            }
            if (j > 0 && w->ready[j - 1]->hash == o->hash) {
                state_merge(w->ready[j - 1], o);
            } else {
                w->ready[kept++] = o;
            }
        }
        n = kept;
    }
    w->n_ready = n;
}

/* Runs one instruction of 'st'.  0: go on; 1: path ended; <0: stop. */
static int
step(struct walker *w, struct pstate *st)
{
    uint32_t idx = st->idx;
    if (idx >= w->n) {
        w->err = xasprintf("path runs past the last instruction (%u)", idx);
        return -EINVAL;
    }
    const struct bpf_insn *i = &w->insns[idx];
    uint8_t cls = BPF_CLASS(i->code);

    st->p.insns++;
    if (w->costs) {
        st->p.x86_min += w->costs[idx].x86_min;
        st->p.x86_max += w->costs[idx].x86_max;
    }
    st->idx = idx + 1;
    switch (cls) {
    case BPF_ALU:
    case BPF_ALU64:
        do_alu(w, st, i);
        return 0;
    case BPF_LDX:
        do_ldx(w, st, i);
        return 0;
    case BPF_ST:
        do_store(st, i);
        return 0;
    case BPF_STX:
        if (BPF_MODE(i->code) == BPF_ATOMIC) {
            do_atomic(st, i);
        } else {
            do_store(st, i);
        }
        return 0;
    case BPF_LD:
        return do_ld(w, st, i, idx);
    default:
        break;
    }
    switch (BPF_OP(i->code)) {
    case BPF_JA: {
        int64_t d = cls == BPF_JMP32 ? i->imm : i->off;
        if (d < 0) {
            st->p.loop_iters++;
        }
        st->idx = (uint32_t)((int64_t)idx + 1 + d);
        return 0;
    }
    case BPF_EXIT:
        if (st->cur == 0) {
            return path_done(w, st, &curf(st)->regs[BPF_REG_0]) ? -ECANCELED
                                                                 : 1;
        }
        {
            struct pframe *callee = curf(st);
            struct pframe *caller = st->frames[st->cur - 1];
            caller->regs[BPF_REG_0] = callee->regs[BPF_REG_0];
            st->idx = callee->ret_idx;
            free(callee);
            st->frames[st->cur--] = NULL;
        }
        return 0;
    case BPF_CALL:
        if (i->src_reg == BPF_PSEUDO_CALL) {
            if (st->cur + 1 >= BPF_MAX_CALL_DEPTH) {
                return 1;
            }
            struct pframe *caller = curf(st);
            struct pframe *callee = xzalloc(sizeof *callee);
            for (int r = BPF_REG_1; r <= BPF_REG_5; r++) {
                callee->regs[r] = caller->regs[r];
            }
            reg_ptr(&callee->regs[BPF_REG_10], K_STACK);
            callee->regs[BPF_REG_10].frameno = (uint8_t)(st->cur + 1);
            callee->ret_idx = idx + 1;
            st->frames[++st->cur] = callee;
            st->idx = (uint32_t)((int64_t)idx + 1 + i->imm);
            /* The caller's r0-r5 are not preserved. */
            for (int r = BPF_REG_0; r <= BPF_REG_5; r++) {
                caller->regs[r].kind = K_NONE;
            }
            return 0;
        }
        return do_helper(w, st, i, idx);
    default: {
        int rc = do_cond_jmp(w, st, i, idx);
        if (rc == 0 && st->idx <= idx) {
            st->p.loop_iters++;
        }
        return rc;
    }
    }
}

static int
walk_paths(const struct bpf_prog *prog, const struct bpf_jit_cost *costs,
           const struct bpf_paths_limits *limits, const uint8_t *trail,
           uint32_t trail_n, int (*fn)(const struct bpf_path *, void *),
           void *arg, char **errp)
{
    struct walker w;
    int rc = 0;

    *errp = NULL;
    if (!prog->verified || prog->kind != BPF_PROG_KIND_XDP || !prog->xlated) {
        *errp = xasprintf("program '%s' is not a verified XDP program",
                          prog->name);
        return -EINVAL;
    }
    memset(&w, 0, sizeof w);
    w.prog = prog;
    w.insns = prog->xlated;
    w.n = prog->n_xlated;
    w.costs = costs;
    w.lim = *limits;
    w.fn = fn;
    w.arg = arg;
    w.trail = trail;
    w.trail_n = trail_n;
    w.lim.merge = limits->merge && !trail;

    struct pstate *st = xzalloc(sizeof *st);
    st->frames[0] = xzalloc(sizeof *st->frames[0]);
    for (int r = 0; r < P_REGS; r++) {
        st->frames[0]->regs[r].kind = K_NONE;
    }
    reg_ptr(&st->frames[0]->regs[BPF_REG_1], K_CTX);
    reg_ptr(&st->frames[0]->regs[BPF_REG_10], K_STACK);
    bpf_scalar_unknown(&st->len);
    struct bpf_scalar m;
    bpf_scalar_const(&m, 0xffff);
    bpf_scalar_alu(&st->len, &m, BPF_AND, false, 0);
    st->p.sig = BPF_PATH_SIG_INIT;
    push(&w, st);

    while (w.n_stack || w.n_ready) {
        if (w.lim.merge && !w.n_ready) {
            pop_merged(&w);
        }
        st = w.lim.merge ? w.ready[--w.n_ready] : w.stack[--w.n_stack];
        uint64_t start = st->p.insns;
        for (;;) {
            if (++w.steps > w.lim.max_steps) {
                w.err = xasprintf("more than %llu instructions walked",
                                  (unsigned long long)w.lim.max_steps);
                rc = -E2BIG;
                break;
            }
            if (st->p.insns - start > P_MAX_PATH_INSNS) {
                w.err = xasprintf("a path longer than %d instructions "
                                  "(a loop the abstract domain cannot "
                                  "bound)", P_MAX_PATH_INSNS);
                rc = -E2BIG;
                break;
            }
            w.cur_idx = st->idx;
            int s = step(&w, st);
            if (s == 1) {
                break;
            }
            if (s < 0) {
                rc = s;
                break;
            }
            if (st->idx <= w.cur_idx) {
                st->epoch++;
            }
            if (w.lim.merge
                && (w.n_ready || (w.n_stack
                                  && state_key(st)
                                         >= state_key(w.stack[0])))) {
                /* Others may reach this key: meet them there. */
                heap_push(&w, st);
                st = NULL;
                break;
            }
        }
        state_free(st);
        if (rc) {
            break;
        }
        if (w.paths >= w.lim.max_paths && (w.n_stack || w.n_ready)) {
            w.err = xasprintf(w.lim.merge ? "more than %llu records of "
                                            "merged paths"
                                          : "more than %llu paths",
                              (unsigned long long)w.lim.max_paths);
            rc = -E2BIG;
            break;
        }
    }
    while (w.n_stack) {
        state_free(w.stack[--w.n_stack]);
    }
    while (w.n_ready) {
        state_free(w.ready[--w.n_ready]);
    }
    free(w.ready);
    free(w.stack);
    if (rc == -ECANCELED) {
        rc = 1;
    }
    if (rc < 0) {
        *errp = w.err ? w.err : xasprintf("path enumeration failed");
    } else {
        free(w.err);
    }
    return rc;
}

int
bpf_prog_paths(const struct bpf_prog *prog, const struct bpf_jit_cost *costs,
               const struct bpf_paths_limits *limits,
               int (*fn)(const struct bpf_path *, void *), void *arg,
               char **errp)
{
    return walk_paths(prog, costs, limits, NULL, 0, fn, arg, errp);
}

struct follow {
    int (*fn)(const struct bpf_path *, void *);
    void *arg;
    bool seen;                  /* The followed path was reported. */
};

static int
follow_found(const struct bpf_path *p, void *arg)
{
    struct follow *f = arg;
    f->seen = true;
    return f->fn(p, f->arg);
}

int
bpf_prog_path_follow(const struct bpf_prog *prog,
                     const struct bpf_jit_cost *costs, const uint8_t *trail,
                     uint32_t n, int (*fn)(const struct bpf_path *, void *),
                     void *arg, char **errp)
{
    /* Branches off the trail die at their first outcome, so the walk is
     * about as long as the path; the step limit only guards a bug. */
    struct bpf_paths_limits lim = {UINT64_MAX, 100ull * P_MAX_PATH_INSNS};
    struct follow f = {fn, arg, false};
    int rc = walk_paths(prog, costs, &lim, trail, n, follow_found, &f, errp);
    if (!rc && !f.seen) {
        *errp = xasprintf("no feasible path takes the %u outcomes given", n);
        rc = -ENOENT;
    }
    return rc;
}
