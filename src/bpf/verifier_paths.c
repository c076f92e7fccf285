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
enum okind {
    O_NONE, O_PKT, O_PKT_L4, O_CTX, O_MAPVAL, O_CALL,
    O_PKT_LOOP,                 /* Packet, off a pointer widened at a loop
                                 * header: 'off' plus the loop's offset. */
};

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
    /* With a band (bpf_paths_limits.band): the lowest insns, mem and
     * x86_max of the paths coalesced into this variant, which keep the
     * largest as insns, mem, x86_max. */
    uint64_t insns_lo, mem_lo, x86_lo;
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
    /* Loop mode (see "Loops"). */
    uint32_t hdr_mark;          /* idx + 1 when the header at idx was
                                 * handled and not yet stepped. */
    uint32_t in_loop;           /* Loop + 1 whose body is walked, or 0. */
    uint64_t iter_sig;          /* Signature of the iteration so far. */
    struct lbase {              /* The path when it reached the header. */
        uint64_t insns, mem, x86_min, x86_max, sig;
        uint32_t loop_iters;
        int n_atoms;
    } base;
};

struct wloop {
    uint32_t header;            /* Its header instruction. */
    uint64_t *body;             /* Bit per instruction of its body. */
    uint16_t mod_regs;          /* Registers the body writes. */
    uint16_t live;              /* Registers live at the header. */
    uint64_t mod_slots;         /* Stack slots the body writes. */
};

struct wbody {                  /* A body path reported. */
    uint32_t loop;
    uint64_t sig;
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
    /* Loop mode. */
    struct wloop *loops;
    uint32_t n_loops;
    uint32_t *loop_at;          /* Per instruction: loop + 1 it heads. */
    struct wbody *bodies;       /* Body paths reported so far. */
    size_t n_bodies;
    struct bpf_path *rec;       /* Scratch record of a body path. */
    uint32_t *ord;              /* Per instruction: reverse post-order
                                 * number (loop mode), or NULL. */
    int32_t loop_off0;          /* Least offset of the O_PKT_LOOP fields
                                 * of the path being described. */
};

/* ---- State ------------------------------------------------------------- */

static struct pstate *
state_clone(const struct pstate *src)
{
    struct pstate *st = xmalloc(sizeof *st);
    *st = *src;
    st->hdr_mark = 0;           /* A fork goes elsewhere first. */
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
    case O_PKT_LOOP: {
        /* i: where the first such byte of the path is. */
        int32_t at = o->off - w->loop_off0;
        if (o->size == 1 && !at) {
            snprintf(base, sizeof base, "pkt[i]");
        } else if (o->size == 1) {
            snprintf(base, sizeof base, "pkt[i+%d]", at);
        } else {
            snprintf(base, sizeof base, "pkt[i+%d:i+%d]", at,
                     at + o->size);
        }
        break;
    }
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

/* Sets w->loop_off0 from the conditions of 'st' from atom 'first' on. */
static void
loop_off0_set(struct walker *w, const struct pstate *st, int first)
{
    w->loop_off0 = INT32_MAX;
    for (int i = first; i < st->n_atoms; i++) {
        if (st->atoms[i].o.kind == O_PKT_LOOP
            && st->atoms[i].o.off < w->loop_off0) {
            w->loop_off0 = st->atoms[i].o.off;
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
    loop_off0_set(w, st, 0);
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
    st->p.insns_lo = st->p.insns;
    st->p.mem_lo = st->p.mem;
    st->p.x86_lo = st->p.x86_max;
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
        rec.insns_lo += cv->insns_lo;
        rec.mem_lo += cv->mem_lo;
        rec.x86_lo += cv->x86_lo;
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
        if (w->n_loops && var && ptr.s.umax > 0xffff) {
            /* Off a pointer widened at a loop header: the field is at
             * the loop's offset, "i". */
            dst->o.kind = O_PKT_LOOP;
            dst->o.off = ptr.off + i->off;
            dst->o.size = (uint8_t)size;
            dst->o.raw = size > 1;
            return;
        }
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
    if (st->in_loop) {
        st->iter_sig = bpf_path_sig_step(st->iter_sig, idx, taken);
    }
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

/* Where instruction 'idx' comes in the walk's order: its index, or in
 * loop mode its reverse post-order number, which every edge but a loop's
 * back edge increases (so that paths which took different numbers of
 * backward jumps outside loops still meet). */
static uint32_t
insn_order(const struct walker *w, uint32_t idx)
{
    return w->ord && idx < w->n ? w->ord[idx] : idx;
}

static uint64_t
state_key(const struct walker *w, const struct pstate *st)
{
    return (uint64_t)st->epoch << 32 | insn_order(w, st->idx);
}

static void
heap_push(struct walker *w, struct pstate *st)
{
    if (w->n_stack == w->cap_stack) {
        w->cap_stack = w->cap_stack ? w->cap_stack * 2 : 64;
        w->stack = xrealloc(w->stack, w->cap_stack * sizeof *w->stack);
    }
    size_t i = w->n_stack++;
    uint64_t k = state_key(w, st);
    while (i && state_key(w, w->stack[(i - 1) / 2]) > k) {
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
    uint64_t k = state_key(w, last);
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) {
            break;
        }
        if (c + 1 < n
            && state_key(w, w->stack[c + 1]) < state_key(w, w->stack[c])) {
            c++;
        }
        if (state_key(w, w->stack[c]) >= k) {
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

/* Join mode (loop mode's merging): states whose registers and slots have
 * the same kinds, pointers and ids merge, their scalars joined. */
static uint64_t
shape_hash(uint64_t h, const struct preg *r)
{
    h = hash_mem(h, &r->kind, sizeof r->kind);
    h = hash_mem(h, &r->id, sizeof r->id);
    if (is_ptr(r)) {
        h = hash_mem(h, &r->off, sizeof r->off);
        h = hash_mem(h, &r->s, sizeof r->s);
        h = hash_mem(h, &r->map, sizeof r->map);
    }
    return h;
}

static bool
shape_equal(const struct preg *a, const struct preg *b)
{
    /* A call's result decides its outcome when tested: kept apart. */
    if ((a->o.kind == O_CALL || b->o.kind == O_CALL)
        && memcmp(&a->o, &b->o, sizeof a->o)) {
        return false;
    }
    return a->kind == b->kind && a->id == b->id
           && (!is_ptr(a)
               || (a->off == b->off && a->map == b->map
                   && a->frameno == b->frameno
                   && a->maybe_null == b->maybe_null
                   && !memcmp(&a->s, &b->s, sizeof a->s)));
}

/* 'a' becomes a value that covers both. */
static void
scalar_join(struct bpf_scalar *a, const struct bpf_scalar *b)
{
    uint64_t mask = a->var_off.mask | b->var_off.mask
                    | (a->var_off.value ^ b->var_off.value);
    a->var_off.mask = mask;
    a->var_off.value &= ~mask;
    a->smin = MIN(a->smin, b->smin);
    a->smax = MAX(a->smax, b->smax);
    a->umin = MIN(a->umin, b->umin);
    a->umax = MAX(a->umax, b->umax);
    a->s32_min = MIN(a->s32_min, b->s32_min);
    a->s32_max = MAX(a->s32_max, b->s32_max);
    a->u32_min = MIN(a->u32_min, b->u32_min);
    a->u32_max = MAX(a->u32_max, b->u32_max);
    bpf_scalar_sync(a);
}

static void
reg_join(struct preg *a, const struct preg *b)
{
    if (a->kind != K_SCALAR) {
        return;
    }
    scalar_join(&a->s, &b->s);
    if (memcmp(&a->o, &b->o, sizeof a->o)) {
        memset(&a->o, 0, sizeof a->o);
    }
}

/* Joins the values of 'b' into 'a' (states_equal in join mode). */
static void
state_join(struct pstate *a, const struct pstate *b)
{
    for (int f = 0; f <= a->cur; f++) {
        struct pframe *fa = a->frames[f];
        const struct pframe *fb = b->frames[f];
        for (int r = 0; r < P_REGS; r++) {
            reg_join(&fa->regs[r], &fb->regs[r]);
        }
        for (int k = 0; k < P_SLOTS; k++) {
            reg_join(&fa->slots[k].r, &fb->slots[k].r);
        }
    }
    scalar_join(&a->len, &b->len);
    for (int k = 0; k < a->n_pkt_ids; k++) {
        a->pkt_ids[k].proven = MIN(a->pkt_ids[k].proven,
                                   b->pkt_ids[k].proven);
        a->pkt_ids[k].refuted = MAX(a->pkt_ids[k].refuted,
                                    b->pkt_ids[k].refuted);
    }
}

/* Renames ids in order of first use and clears dead registers and slots,
 * so that equal states compare equal byte for byte (in join mode: equal
 * shapes hash equal); sets st->hash. */
static void
state_canon(struct pstate *st, bool join)
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
        if (!join) {
            h = hash_mem(h, fr, sizeof *fr);
            continue;
        }
        for (int r = 0; r < P_REGS; r++) {
            h = shape_hash(h, &fr->regs[r]);
        }
        for (int k = 0; k < P_SLOTS; k++) {
            h = hash_mem(h, &fr->slots[k].size, sizeof fr->slots[k].size);
            h = shape_hash(h, &fr->slots[k].r);
        }
    }
    for (int k = 0; k < st->n_pkt_ids; k++) {
        st->pkt_ids[k].id = canon_id(map, &n, st->pkt_ids[k].id);
    }
    for (uint32_t c = 0; c < st->p.n_calls; c++) {
        st->call_ids[c] = canon_id(map, &n, st->call_ids[c]);
    }
    for (int k = 0; k < st->n_pkt_ids; k++) {
        h = hash_mem(h, &st->pkt_ids[k].id, sizeof st->pkt_ids[k].id);
        if (!join) {
            h = hash_mem(h, &st->pkt_ids[k], sizeof st->pkt_ids[k]);
        }
    }
    h = hash_mem(h, st->call_ids, st->p.n_calls * sizeof st->call_ids[0]);
    h = hash_mem(h, st->p.calls, st->p.n_calls * sizeof st->p.calls[0]);
    if (!join) {
        h = hash_mem(h, &st->len, sizeof st->len);
    }
    h = hash_mem(h, &st->p.loops, sizeof st->p.loops);
    h = hash_mem(h, &st->iter_sig, sizeof st->iter_sig);
    st->hash = h ^ (join ? 0 : st->p.loop_iters) ^ (uint64_t)st->cur << 40
               ^ (uint64_t)st->in_loop << 48;
}

static bool
states_equal(const struct pstate *a, const struct pstate *b, bool join)
{
    if (a->hash != b->hash || a->idx != b->idx || a->epoch != b->epoch
        || a->cur != b->cur || a->n_pkt_ids != b->n_pkt_ids
        || a->p.n_calls != b->p.n_calls || a->p.helpers != b->p.helpers
        || (!join && a->p.loop_iters != b->p.loop_iters)
        || a->p.loops != b->p.loops || a->in_loop != b->in_loop
        || a->hdr_mark != b->hdr_mark
        || (a->in_loop
            && (a->iter_sig != b->iter_sig
                || a->p.insns - a->base.insns != b->p.insns - b->base.insns
                || a->p.mem - a->base.mem != b->p.mem - b->base.mem
                || a->p.x86_min - a->base.x86_min
                       != b->p.x86_min - b->base.x86_min
                || a->p.x86_max - a->base.x86_max
                       != b->p.x86_max - b->base.x86_max))
        || (!join && memcmp(&a->len, &b->len, sizeof a->len))
        || (!join && memcmp(a->pkt_ids, b->pkt_ids,
                            a->n_pkt_ids * sizeof a->pkt_ids[0]))
        || memcmp(a->call_ids, b->call_ids,
                  a->p.n_calls * sizeof a->call_ids[0])
        || memcmp(a->p.calls, b->p.calls,
                  a->p.n_calls * sizeof a->p.calls[0])) {
        return false;
    }
    for (int k = 0; join && k < a->n_pkt_ids; k++) {
        if (a->pkt_ids[k].id != b->pkt_ids[k].id) {
            return false;
        }
    }
    for (int f = 0; f <= a->cur; f++) {
        const struct pframe *fa = a->frames[f], *fb = b->frames[f];
        if (!join) {
            if (memcmp(fa, fb, sizeof *fa)) {
                return false;
            }
            continue;
        }
        if (fa->ret_idx != fb->ret_idx) {
            return false;
        }
        for (int r = 0; r < P_REGS; r++) {
            if (!shape_equal(&fa->regs[r], &fb->regs[r])) {
                return false;
            }
        }
        for (int k = 0; k < P_SLOTS; k++) {
            if (fa->slots[k].size != fb->slots[k].size
                || !shape_equal(&fa->slots[k].r, &fb->slots[k].r)) {
                return false;
            }
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

static int
cmp_cvar(const void *x, const void *y)
{
    const struct cvar *a = x, *b = y;
    int64_t d = (int64_t)(a->x86_lo - b->x86_lo);
    if (!d) {
        d = (int64_t)(a->insns_lo - b->insns_lo);
    }
    return d < 0 ? -1 : d > 0;
}

/* Whether 'hi' is within 'band' per mille above 'lo'. */
static bool
in_band(uint64_t lo, uint64_t hi, uint32_t band)
{
    return hi <= lo || (hi - lo) * 1000 <= lo * band;
}

/* Band mode: coalesces the variants of 'a' whose x86 totals (its running
 * totals plus their offsets) are within the band of each other (without
 * JIT costs, x86 totals are 0: all coalesce). */
static void
vars_band(struct pstate *a, uint32_t band)
{
    struct cvar *v = a->vars;
    uint32_t n = a->n_vars, k = 0;

    /* Offsets wrap: sort on the totals. */
    for (uint32_t i = 0; i < n; i++) {
        v[i].insns += a->p.insns;
        v[i].insns_lo += a->p.insns;
        v[i].mem += a->p.mem;
        v[i].mem_lo += a->p.mem;
        v[i].x86_min += a->p.x86_min;
        v[i].x86_max += a->p.x86_max;
        v[i].x86_lo += a->p.x86_max;
    }
    qsort(v, n, sizeof *v, cmp_cvar);
    for (uint32_t i = 0; i < n; i++) {
        struct cvar *g = k ? &v[k - 1] : NULL;
        if (g) {
            struct cvar m = *g;
            m.insns = MAX(m.insns, v[i].insns);
            m.mem = MAX(m.mem, v[i].mem);
            m.x86_max = MAX(m.x86_max, v[i].x86_max);
            m.x86_min = MIN(m.x86_min, v[i].x86_min);
            m.insns_lo = MIN(m.insns_lo, v[i].insns_lo);
            m.mem_lo = MIN(m.mem_lo, v[i].mem_lo);
            m.x86_lo = MIN(m.x86_lo, v[i].x86_lo);
            m.n += v[i].n;
            if (in_band(m.x86_lo, m.x86_max, band)) {
                *g = m;
                continue;
            }
        }
        v[k++] = v[i];
    }
    for (uint32_t i = 0; i < k; i++) {
        v[i].insns -= a->p.insns;
        v[i].insns_lo -= a->p.insns;
        v[i].mem -= a->p.mem;
        v[i].mem_lo -= a->p.mem;
        v[i].x86_min -= a->p.x86_min;
        v[i].x86_max -= a->p.x86_max;
        v[i].x86_lo -= a->p.x86_max;
    }
    a->n_vars = k;
}

/* Merges 'b' into 'a' (states_equal) and frees 'b'; 'band' as in
 * bpf_paths_limits. */
static void
state_merge(struct pstate *a, struct pstate *b, uint32_t band, bool join)
{
    if (join) {
        state_join(a, b);
    }
    static const struct cvar one = {0, 0, 0, 0, 1, 0, 0, 0};
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
        v.insns_lo += b->p.insns - a->p.insns;
        v.mem_lo += b->p.mem - a->p.mem;
        v.x86_lo += b->p.x86_max - a->p.x86_max;
        uint32_t k = 0;
        while (k < a->n_vars
               && (a->vars[k].insns != v.insns || a->vars[k].mem != v.mem
                   || a->vars[k].x86_min != v.x86_min
                   || a->vars[k].x86_max != v.x86_max
                   || a->vars[k].insns_lo != v.insns_lo
                   || a->vars[k].mem_lo != v.mem_lo
                   || a->vars[k].x86_lo != v.x86_lo)) {
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
    if (band && a->n_vars > 1) {
        vars_band(a, band);
    }
}

/* ---- Loops ------------------------------------------------------------- *
 *
 * Loop mode (verifier_paths.h).  The natural loops are found on the
 * instruction-level control-flow graph: dominators by the iterative
 * bit-set algorithm, a back edge u -> h where h dominates u, the body the
 * instructions that reach the source of one of h's back edges without
 * passing h.  A loop is decomposed when its body makes no call, stores
 * only through r10 and holds no other loop's header (it has no exit: an
 * exit cannot reach a back edge); other loops are unrolled as before.
 *
 * A state that reaches a header is widened: the registers and stack slots
 * the body writes become unknown (dead registers empty), which covers the
 * state at the start of every later iteration too, since what the body
 * does not write keeps its value.  A state back at its header ends there,
 * as one body path (reported once per loop and signature); in follow mode
 * the iteration is counted and the state starts again from the header,
 * its costs, signature and conditions reset to those of its arrival. */

#define LOOP_MAX_INSNS 8192     /* Larger programs: loops unrolled. */

static inline bool
bit_get(const uint64_t *b, uint32_t i)
{
    return b[i / 64] >> (i % 64) & 1;
}

static inline void
bit_set(uint64_t *b, uint32_t i)
{
    b[i / 64] |= 1ull << (i % 64);
}

/* Successors of instruction i; returns their number. */
static int
insn_succs(const struct bpf_insn *insns, uint32_t n, uint32_t i,
           uint32_t out[2])
{
    const struct bpf_insn *in = &insns[i];
    uint8_t cls = BPF_CLASS(in->code);
    int k = 0;

    if (cls == BPF_LD && BPF_MODE(in->code) == BPF_IMM) {
        if (i + 2 < n) {
            out[k++] = i + 2;
        }
        return k;
    }
    if (cls != BPF_JMP && cls != BPF_JMP32) {
        if (i + 1 < n) {
            out[k++] = i + 1;
        }
        return k;
    }
    uint8_t op = BPF_OP(in->code);
    if (op == BPF_EXIT) {
        return 0;
    }
    if (op != BPF_JA && i + 1 < n) {
        out[k++] = i + 1;
    }
    if (op == BPF_CALL) {
        return k;
    }
    int64_t d = op == BPF_JA && cls == BPF_JMP32 ? in->imm : in->off;
    int64_t t = (int64_t)i + 1 + d;
    if (t >= 0 && t < (int64_t)n && (k == 0 || (uint32_t)t != out[0])) {
        out[k++] = (uint32_t)t;
    }
    return k;
}

/* Registers instruction 'in' reads and writes ('def' only those it
 * surely writes, for liveness; 'mod' every one it may write). */
static void
insn_regs(const struct bpf_insn *in, uint16_t *use, uint16_t *def,
          uint16_t *mod)
{
    uint8_t cls = BPF_CLASS(in->code);
    uint16_t d = (uint16_t)(1u << in->dst_reg);
    uint16_t s = (uint16_t)(1u << in->src_reg);
    uint8_t op = BPF_OP(in->code);

    *use = *def = *mod = 0;
    switch (cls) {
    case BPF_ALU:
    case BPF_ALU64:
        *def = d;
        if (op != BPF_MOV) {
            *use |= d;
        }
        if (BPF_SRC(in->code) == BPF_X && op != BPF_END && op != BPF_NEG) {
            *use |= s;
        }
        break;
    case BPF_LDX:
        *def = d;
        *use = s;
        break;
    case BPF_ST:
        *use = d;
        break;
    case BPF_STX:
        *use = d | s;
        if (BPF_MODE(in->code) == BPF_ATOMIC) {
            *use |= 1;
            *mod = s | 1;
        }
        break;
    case BPF_LD:
        if (BPF_MODE(in->code) == BPF_IMM) {
            *def = d;
        } else {
            *use = 1u << BPF_REG_6
                   | (BPF_MODE(in->code) == BPF_IND ? s : 0);
            *def = 0x3f;
        }
        break;
    default:
        if (op == BPF_EXIT) {
            *use = 1;
        } else if (op == BPF_CALL) {
            *use = 0x3e;
            *def = 0x3f;
        } else if (op != BPF_JA) {
            *use = d | (BPF_SRC(in->code) == BPF_X ? s : 0);
        }
        break;
    }
    *mod |= *def;
}

/* Finds the loops to decompose (w->loops, w->loop_at). */
static void
loops_find(struct walker *w)
{
    uint32_t n = w->n;
    const struct bpf_insn *insns = w->insns;
    size_t nw = (n + 63) / 64;

    if (n > LOOP_MAX_INSNS || !n) {
        return;
    }
    /* Predecessors (compressed rows) and reachability. */
    uint32_t *npred = xcalloc(n + 1, sizeof *npred);
    uint32_t *pred_at = xcalloc(n + 1, sizeof *pred_at);
    uint32_t *preds = xcalloc(2 * n + 1, sizeof *preds);
    uint64_t *reach = xcalloc(nw, sizeof *reach);
    uint64_t *root = xcalloc(nw, sizeof *root);
    uint32_t *todo = xcalloc(n + 1, sizeof *todo);
    uint32_t nt = 0, sc[2];

    bit_set(root, 0);
    for (uint32_t i = 0; i < n; i++) {
        const struct bpf_insn *in = &insns[i];
        if (BPF_CLASS(in->code) == BPF_JMP && BPF_OP(in->code) == BPF_CALL
            && in->src_reg == BPF_PSEUDO_CALL) {
            int64_t t = (int64_t)i + 1 + in->imm;
            if (t >= 0 && t < (int64_t)n) {
                bit_set(root, (uint32_t)t);
            }
        }
    }
    for (uint32_t i = 0; i < n; i++) {
        if (bit_get(root, i)) {
            bit_set(reach, i);
            todo[nt++] = i;
        }
    }
    while (nt) {
        uint32_t i = todo[--nt];
        int k = insn_succs(insns, n, i, sc);
        for (int j = 0; j < k; j++) {
            npred[sc[j]]++;
            if (!bit_get(reach, sc[j])) {
                bit_set(reach, sc[j]);
                todo[nt++] = sc[j];
            }
        }
    }
    for (uint32_t i = 0; i < n; i++) {
        pred_at[i + 1] = pred_at[i] + npred[i];
        npred[i] = 0;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (!bit_get(reach, i)) {
            continue;
        }
        int k = insn_succs(insns, n, i, sc);
        for (int j = 0; j < k; j++) {
            preds[pred_at[sc[j]] + npred[sc[j]]++] = i;
        }
    }

    /* Dominators. */
    uint64_t *dom = xmalloc(n * nw * sizeof *dom);
    uint64_t *tmp = xmalloc(nw * sizeof *tmp);
    for (uint32_t i = 0; i < n; i++) {
        memset(&dom[i * nw], bit_get(root, i) ? 0 : 0xff,
               nw * sizeof *dom);
        if (bit_get(root, i)) {
            bit_set(&dom[i * nw], i);
        }
    }
    for (bool changed = true; changed;) {
        changed = false;
        for (uint32_t i = 0; i < n; i++) {
            if (!bit_get(reach, i) || bit_get(root, i)) {
                continue;
            }
            memset(tmp, 0xff, nw * sizeof *tmp);
            for (uint32_t q = pred_at[i]; q < pred_at[i + 1]; q++) {
                const uint64_t *pd = &dom[preds[q] * nw];
                for (size_t k = 0; k < nw; k++) {
                    tmp[k] &= pd[k];
                }
            }
            bit_set(tmp, i);
            if (memcmp(tmp, &dom[i * nw], nw * sizeof *tmp)) {
                memcpy(&dom[i * nw], tmp, nw * sizeof *tmp);
                changed = true;
            }
        }
    }

    /* Liveness of registers, for the widening. */
    uint16_t *live = xcalloc(n + 1, sizeof *live);
    for (bool changed = true; changed;) {
        changed = false;
        for (uint32_t i = n; i-- > 0;) {
            uint16_t use, def, mod, out = 0;
            int k = insn_succs(insns, n, i, sc);
            for (int j = 0; j < k; j++) {
                out |= live[sc[j]];
            }
            insn_regs(&insns[i], &use, &def, &mod);
            uint16_t in = (uint16_t)(use | (out & ~def));
            if (in != live[i]) {
                live[i] = in;
                changed = true;
            }
        }
    }

    /* Natural loops, one per header. */
    uint32_t *loop_at = xcalloc(n + 1, sizeof *loop_at);
    struct wloop *loops = NULL;
    uint32_t n_loops = 0;
    for (uint32_t u = 0; u < n; u++) {
        if (!bit_get(reach, u)) {
            continue;
        }
        int k = insn_succs(insns, n, u, sc);
        for (int j = 0; j < k; j++) {
            uint32_t h = sc[j];
            if (!bit_get(&dom[u * nw], h)) {
                continue;
            }
            if (!loop_at[h]) {
                loops = xrealloc(loops, (n_loops + 1) * sizeof *loops);
                memset(&loops[n_loops], 0, sizeof loops[n_loops]);
                loops[n_loops].header = h;
                loops[n_loops].body = xcalloc(nw, sizeof (uint64_t));
                bit_set(loops[n_loops].body, h);
                loop_at[h] = ++n_loops;
            }
            uint64_t *body = loops[loop_at[h] - 1].body;
            nt = 0;
            if (!bit_get(body, u)) {
                bit_set(body, u);
                todo[nt++] = u;
            }
            while (nt) {
                uint32_t x = todo[--nt];
                for (uint32_t q = pred_at[x]; q < pred_at[x + 1]; q++) {
                    if (!bit_get(body, preds[q])) {
                        bit_set(body, preds[q]);
                        todo[nt++] = preds[q];
                    }
                }
            }
        }
    }

    /* Which to decompose. */
    uint64_t *is_header = xcalloc(nw, sizeof *is_header);
    for (uint32_t l = 0; l < n_loops; l++) {
        bit_set(is_header, loops[l].header);
    }
    for (uint32_t l = 0; l < n_loops; l++) {
        struct wloop *L = &loops[l];
        bool ok = true;
        for (uint32_t i = 0; i < n && ok; i++) {
            if (!bit_get(L->body, i)) {
                continue;
            }
            const struct bpf_insn *in = &insns[i];
            uint8_t cls = BPF_CLASS(in->code);
            uint16_t use, def, mod;
            insn_regs(in, &use, &def, &mod);
            L->mod_regs |= mod;
            ok = !(bit_get(is_header, i) && i != L->header)
                 && !((cls == BPF_JMP || cls == BPF_JMP32)
                      && (BPF_OP(in->code) == BPF_CALL
                          || BPF_OP(in->code) == BPF_EXIT))
                 && !(cls == BPF_LD && BPF_MODE(in->code) != BPF_IMM);
            if (ok && (cls == BPF_ST || cls == BPF_STX)) {
                int size = size_bytes(in->code);
                ok = in->dst_reg == BPF_REG_10;
                for (int b = 0; ok && b < size; b++) {
                    int64_t a = (int64_t)in->off + b;
                    ok = a < 0 && a >= -BPF_STACK_SIZE;
                    if (ok) {
                        L->mod_slots |= 1ull << ((-a - 1) / 8);
                    }
                }
            }
        }
        L->mod_regs &= (uint16_t)~(1u << BPF_REG_10);
        L->live = live[L->header];
        if (!ok || w->n_loops == BPF_PATH_MAX_LOOPS) {
            free(L->body);
            loop_at[L->header] = 0;
            continue;
        }
        loop_at[L->header] = w->n_loops + 1;
        w->loops = xrealloc(w->loops, (w->n_loops + 1) * sizeof *w->loops);
        w->loops[w->n_loops++] = *L;
    }
    free(loops);
    free(is_header);
    if (w->n_loops) {
        /* Reverse post-order of a depth-first walk from the roots. */
        uint32_t *ord = xcalloc(n + 1, sizeof *ord);
        uint8_t *next = xcalloc(n + 1, 1);
        uint64_t *seen = xcalloc(nw, sizeof *seen);
        uint32_t left = n;
        for (uint32_t r = 0; r < n; r++) {
            if (!bit_get(root, r) || bit_get(seen, r)) {
                continue;
            }
            nt = 0;
            todo[nt++] = r;
            bit_set(seen, r);
            while (nt) {
                uint32_t x = todo[nt - 1];
                int k = insn_succs(insns, n, x, sc);
                if (next[x] < k) {
                    uint32_t y = sc[next[x]++];
                    if (!bit_get(seen, y)) {
                        bit_set(seen, y);
                        todo[nt++] = y;
                    }
                    continue;
                }
                ord[x] = --left;
                nt--;
            }
        }
        free(next);
        free(seen);
        w->ord = ord;
        w->loop_at = loop_at;
        w->rec = xmalloc(sizeof *w->rec);
    } else {
        free(loop_at);
    }
    free(live);
    free(dom);
    free(tmp);
    free(npred);
    free(pred_at);
    free(preds);
    free(reach);
    free(root);
    free(todo);
}

/* Forgets what the body of 'L' writes; false when a pointer it writes
 * cannot be widened (the loop is then unrolled from this state). */
static bool
loop_widen(struct walker *w, struct pstate *st, const struct wloop *L)
{
    struct pframe *fr = curf(st);

    for (int r = 0; r < P_REGS; r++) {
        const struct preg *q = &fr->regs[r];
        if ((L->mod_regs >> r & 1) && (L->live >> r & 1) && is_ptr(q)
            && q->kind != K_PKT) {
            return false;
        }
    }
    for (int k = 0; k < P_SLOTS; k++) {
        if ((L->mod_slots >> k & 1) && fr->slots[k].size
            && is_ptr(&fr->slots[k].r)) {
            return false;
        }
    }
    for (int r = 0; r < P_REGS; r++) {
        struct preg *q = &fr->regs[r];
        if (!(L->mod_regs >> r & 1)) {
            continue;
        }
        if (!(L->live >> r & 1)) {
            memset(q, 0, sizeof *q);
            q->kind = K_NONE;
        } else if (q->kind == K_PKT) {
            /* Any offset from the same base: the variable part. */
            bpf_scalar_unknown(&q->s);
            memset(&q->o, 0, sizeof q->o);
            q->id = ++w->id_gen;
        } else {
            reg_unknown(q);
        }
    }
    for (int k = 0; k < P_SLOTS; k++) {
        if (L->mod_slots >> k & 1) {
            memset(&fr->slots[k], 0, sizeof fr->slots[k]);
        }
    }
    return true;
}

/* Reports the body path 'st' just finished (once per signature).
 * Returns 1 (the state ends) or -ECANCELED. */
static int
loop_body_done(struct walker *w, struct pstate *st, uint32_t l)
{
    for (size_t k = 0; k < w->n_bodies; k++) {
        if (w->bodies[k].loop == l && w->bodies[k].sig == st->iter_sig) {
            return 1;
        }
    }
    w->bodies = xrealloc(w->bodies, (w->n_bodies + 1) * sizeof *w->bodies);
    w->bodies[w->n_bodies].loop = l;
    w->bodies[w->n_bodies++].sig = st->iter_sig;

    char *texts[P_MAX_ATOMS];
    const char *ptrs[P_MAX_ATOMS];
    uint32_t n = 0;
    loop_off0_set(w, st, st->base.n_atoms);
    for (int i = st->base.n_atoms; i < st->n_atoms; i++) {
        const struct atom *a = &st->atoms[i];
        bool implied = a->o.kind == O_CALL;
        for (int j = st->base.n_atoms; j < st->n_atoms && !implied; j++) {
            /* "x=5" says all "x!=6" would. */
            implied = a->op != BPF_JEQ && st->atoms[j].op == BPF_JEQ
                      && st->atoms[j].o2.kind == O_NONE
                      && a->o2.kind == O_NONE
                      && !memcmp(&st->atoms[j].o, &a->o, sizeof a->o);
        }
        if (implied || n == P_MAX_ATOMS) {
            continue;
        }
        char t[640];
        atom_text(w, st, &st->atoms[i], t, sizeof t);
        texts[n] = xstrdup(t);
        ptrs[n] = texts[n];
        n++;
    }
    struct bpf_path *rec = w->rec;
    memset(rec, 0, sizeof *rec);
    rec->body = true;
    rec->loop = l;
    rec->loop_header = w->loops[l].header;
    rec->sig = st->iter_sig;
    rec->insns = st->p.insns - st->base.insns;
    rec->mem = st->p.mem - st->base.mem;
    rec->x86_min = st->p.x86_min - st->base.x86_min;
    rec->x86_max = st->p.x86_max - st->base.x86_max;
    rec->loop_iters = st->p.loop_iters - st->base.loop_iters;
    rec->n_paths = 1;
    rec->conds = ptrs;
    rec->n_conds = n;
    rec->ret_max = UINT64_MAX;
    int rc = w->fn(rec, w->arg);
    for (uint32_t i = 0; i < n; i++) {
        free(texts[i]);
    }
    return rc ? -ECANCELED : 1;
}

/* 'st' is at st->idx (after a step, or taken from the queue): notes that
 * it left the body it was in, and handles a loop header.  Returns 0 to go
 * on, 1 when the state ended, <0 to stop. */
static int
loop_visit(struct walker *w, struct pstate *st)
{
    uint32_t h = st->idx;

    if (st->in_loop && (h >= w->n
                        || !bit_get(w->loops[st->in_loop - 1].body, h))) {
        st->in_loop = 0;        /* The exit. */
    }
    if (h >= w->n || !w->loop_at[h] || st->hdr_mark == h + 1) {
        return 0;
    }
    uint32_t l = w->loop_at[h] - 1;
    st->hdr_mark = h + 1;
    if (st->in_loop == l + 1) {
        /* Back at the header: one iteration done. */
        if (!w->trail) {
            return loop_body_done(w, st, l);
        }
        struct bpf_path *p = &st->p;
        uint32_t k = 0;
        while (k < p->n_iters
               && (p->iters[k].loop != l || p->iters[k].sig != st->iter_sig)) {
            k++;
        }
        if (k == BPF_PATH_MAX_ITERS) {
            w->err = xasprintf("more than %d distinct body paths of loops "
                               "on one path", BPF_PATH_MAX_ITERS);
            return -E2BIG;
        }
        if (k == p->n_iters) {
            p->iters[p->n_iters++] =
                (struct bpf_path_iter){l, st->iter_sig, 0};
        }
        p->iters[k].count++;
        p->insns = st->base.insns;
        p->mem = st->base.mem;
        p->x86_min = st->base.x86_min;
        p->x86_max = st->base.x86_max;
        p->sig = st->base.sig;
        p->loop_iters = st->base.loop_iters;
        if (st->n_atoms > st->base.n_atoms) {
            st->n_atoms = st->base.n_atoms;
        }
        st->iter_sig = BPF_PATH_SIG_INIT;
        loop_widen(w, st, &w->loops[l]);
        return 0;
    }
    if (st->in_loop || !loop_widen(w, st, &w->loops[l])) {
        return 0;               /* Unrolled. */
    }
    st->in_loop = l + 1;
    st->iter_sig = BPF_PATH_SIG_INIT;
    st->base = (struct lbase){st->p.insns, st->p.mem, st->p.x86_min,
                              st->p.x86_max, st->p.sig, st->p.loop_iters,
                              st->n_atoms};
    st->p.loops |= 1ull << l;
    return 0;
}

/* ---- Driver ------------------------------------------------------------ */

static int
push(struct walker *w, struct pstate *st)
{
    if (w->lim.merge) {
        if (insn_order(w, st->idx) <= insn_order(w, w->cur_idx)) {
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
    uint64_t k = state_key(w, st);
    size_t n = 0;

    w->ready = xrealloc(w->ready, (n + 1) * sizeof *w->ready);
    w->ready[n++] = st;
    while (w->n_stack && state_key(w, w->stack[0]) == k) {
        w->ready = xrealloc(w->ready, (n + 1) * sizeof *w->ready);
        w->ready[n++] = heap_pop(w);
    }
    if (n > 1) {
        for (size_t i = 0; i < n; i++) {
            state_canon(w->ready[i], w->n_loops > 0);
        }
        qsort(w->ready, n, sizeof *w->ready, cmp_hash);
        size_t kept = 0;
        for (size_t i = 0; i < n; i++) {
            struct pstate *o = w->ready[i];
            size_t j = kept;
            while (j > 0 && w->ready[j - 1]->hash == o->hash
                   && !states_equal(w->ready[j - 1], o, w->n_loops > 0)) {
                j--;
            }
            if (j > 0 && w->ready[j - 1]->hash == o->hash) {
                state_merge(w->ready[j - 1], o, w->lim.band,
                            w->n_loops > 0);
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
    if (limits->loops) {
        loops_find(&w);
    }

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
        uint64_t walked = 0;
        int v = w.n_loops ? loop_visit(&w, st) : 0;
        if (v < 0) {
            rc = v;
        }
        for (; !v;) {
            if (++w.steps > w.lim.max_steps) {
                w.err = xasprintf("more than %llu instructions walked",
                                  (unsigned long long)w.lim.max_steps);
                rc = -E2BIG;
                break;
            }
            if (++walked > P_MAX_PATH_INSNS) {
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
            st->hdr_mark = 0;
            if (w.n_loops && (s = loop_visit(&w, st)) != 0) {
                rc = s < 0 ? s : 0;
                break;
            }
            if (insn_order(&w, st->idx) <= insn_order(&w, w.cur_idx)) {
                st->epoch++;
            }
            if (w.lim.merge
                && (w.n_ready || (w.n_stack
                                  && state_key(&w, st)
                                         >= state_key(&w, w.stack[0])))) {
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
    for (uint32_t l = 0; l < w.n_loops; l++) {
        free(w.loops[l].body);
    }
    free(w.loops);
    free(w.loop_at);
    free(w.ord);
    free(w.bodies);
    free(w.rec);
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

uint32_t
bpf_prog_n_loops(const struct bpf_prog *prog)
{
    struct walker w;

    if (!prog->verified || !prog->xlated) {
        return 0;
    }
    memset(&w, 0, sizeof w);
    w.prog = prog;
    w.insns = prog->xlated;
    w.n = prog->n_xlated;
    loops_find(&w);
    for (uint32_t l = 0; l < w.n_loops; l++) {
        free(w.loops[l].body);
    }
    free(w.loops);
    free(w.loop_at);
    free(w.ord);
    free(w.rec);
    return w.n_loops;
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
                     const struct bpf_jit_cost *costs, bool loops,
                     const uint8_t *trail, uint32_t n,
                     int (*fn)(const struct bpf_path *, void *), void *arg,
                     char **errp)
{
    /* Branches off the trail die at their first outcome, so the walk is
     * about as long as the path; the step limit only guards a bug. */
    struct bpf_paths_limits lim = {UINT64_MAX, 100ull * P_MAX_PATH_INSNS,
                                   false, loops};
    struct follow f = {fn, arg, false};
    int rc = walk_paths(prog, costs, &lim, trail, n, follow_found, &f, errp);
    if (!rc && !f.seen) {
        *errp = xasprintf("no feasible path takes the %u outcomes given", n);
        rc = -ENOENT;
    }
    return rc;
}
