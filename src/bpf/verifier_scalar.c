/* The verifier's scalar domain: what is known about an integer register.
 *
 * A scalar is described five ways at once, each catching what the others
 * miss: known bits ("tnum", from the kernel's tnum.c: AND with 0xff makes
 * the upper 56 bits known zero even when nothing else is known), and
 * signed and unsigned ranges of the full 64 bits and of the low 32 bits.
 * Every operation computes each description soundly on its own and then
 * bpf_scalar_sync() lets them tighten one another -- the low word's range
 * from the 64-bit range when the upper halves agree, signed from unsigned
 * when the range does not cross the sign boundary, known bits from the
 * unsigned range, and back -- as the kernel's reg_bounds_sync() does.  A
 * contradiction (an empty range) means the path is infeasible, which is
 * how a branch whose condition cannot hold is found dead.
 *
 * 32-bit ALU operations are computed on the 64-bit domain from the
 * zero- (or, for signed operations, sign-) extended low words and then
 * truncated: exact for known bits and sound, if coarser, for ranges. */
#include "bpf/verifier.h"

#include <linux/bpf.h>

#define U32_MAXV 0xffffffffULL

static uint64_t
umin64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

static uint64_t
umax64(uint64_t a, uint64_t b)
{
    return a > b ? a : b;
}

static int64_t
smin64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

static int64_t
smax64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

/* Known-bits arithmetic, after the kernel's kernel/bpf/tnum.c. */
static struct bpf_tnum
tn_const(uint64_t v)
{
    return (struct bpf_tnum) { v, 0 };
}

static struct bpf_tnum
tn_unknown(void)
{
    return (struct bpf_tnum) { 0, UINT64_MAX };
}

static struct bpf_tnum
tn_range(uint64_t min, uint64_t max)
{
    uint64_t chi = min ^ max;
    if (!chi) {
        return tn_const(min);
    }
    int bits = 64 - __builtin_clzll(chi);
    if (bits > 63) {
        return tn_unknown();
    }
    uint64_t delta = (1ULL << bits) - 1;
    return (struct bpf_tnum) { min & ~delta, delta };
}

static struct bpf_tnum
tn_add(struct bpf_tnum a, struct bpf_tnum b)
{
    uint64_t sm = a.mask + b.mask;
    uint64_t sv = a.value + b.value;
    uint64_t sigma = sm + sv;
    uint64_t chi = sigma ^ sv;
    uint64_t mu = chi | a.mask | b.mask;
    return (struct bpf_tnum) { sv & ~mu, mu };
}

static struct bpf_tnum
tn_sub(struct bpf_tnum a, struct bpf_tnum b)
{
    uint64_t dv = a.value - b.value;
    uint64_t alpha = dv + a.mask;
    uint64_t beta = dv - b.mask;
    uint64_t chi = alpha ^ beta;
    uint64_t mu = chi | a.mask | b.mask;
    return (struct bpf_tnum) { dv & ~mu, mu };
}

static struct bpf_tnum
tn_and(struct bpf_tnum a, struct bpf_tnum b)
{
    uint64_t alpha = a.value | a.mask;
    uint64_t beta = b.value | b.mask;
    uint64_t v = a.value & b.value;
    return (struct bpf_tnum) { v, alpha & beta & ~v };
}

static struct bpf_tnum
tn_or(struct bpf_tnum a, struct bpf_tnum b)
{
    uint64_t v = a.value | b.value;
    uint64_t mu = a.mask | b.mask;
    return (struct bpf_tnum) { v, mu & ~v };
}

static struct bpf_tnum
tn_xor(struct bpf_tnum a, struct bpf_tnum b)
{
    uint64_t v = a.value ^ b.value;
    uint64_t mu = a.mask | b.mask;
    return (struct bpf_tnum) { v & ~mu, mu };
}

static struct bpf_tnum
tn_mul(struct bpf_tnum a, struct bpf_tnum b)
{
    uint64_t acc_v = a.value * b.value;
    struct bpf_tnum acc_m = { 0, 0 };
    while (a.value || a.mask) {
        if (a.value & 1) {
            acc_m = tn_add(acc_m, (struct bpf_tnum) { 0, b.mask });
        } else if (a.mask & 1) {
            acc_m = tn_add(acc_m, (struct bpf_tnum) { 0, b.value | b.mask });
        }
        a.value >>= 1;
        a.mask >>= 1;
        b.value <<= 1;
        b.mask <<= 1;
    }
    return tn_add(tn_const(acc_v), acc_m);
}

/* Intersection; false if the known bits contradict. */
static bool
tn_intersect(struct bpf_tnum *a, struct bpf_tnum b)
{
    if ((a->value ^ b.value) & ~a->mask & ~b.mask) {
        return false;
    }
    uint64_t v = a->value | b.value;
    uint64_t mu = a->mask & b.mask;
    a->value = v & ~mu;
    a->mask = mu;
    return true;
}

static struct bpf_tnum
tn_low32(struct bpf_tnum a)
{
    return (struct bpf_tnum) { a.value & U32_MAXV, a.mask & U32_MAXV };
}

void
bpf_scalar_unknown(struct bpf_scalar *s)
{
    s->var_off = tn_unknown();
    s->smin = INT64_MIN;
    s->smax = INT64_MAX;
    s->umin = 0;
    s->umax = UINT64_MAX;
    s->s32_min = INT32_MIN;
    s->s32_max = INT32_MAX;
    s->u32_min = 0;
    s->u32_max = UINT32_MAX;
}

void
bpf_scalar_const(struct bpf_scalar *s, uint64_t v)
{
    s->var_off = tn_const(v);
    s->smin = s->smax = (int64_t) v;
    s->umin = s->umax = v;
    s->s32_min = s->s32_max = (int32_t) v;
    s->u32_min = s->u32_max = (uint32_t) v;
}

bool
bpf_scalar_is_const(const struct bpf_scalar *s)
{
    return !s->var_off.mask;
}

static bool
sync_once(struct bpf_scalar *s)
{
    struct bpf_tnum t = s->var_off;

    /* Ranges from known bits. */
    s->umin = umax64(s->umin, t.value);
    s->umax = umin64(s->umax, t.value | t.mask);
    s->smin = smax64(s->smin, (int64_t) (t.value | (t.mask & (1ULL << 63))));
    s->smax = smin64(s->smax,
                     (int64_t) (t.value | (t.mask & ~(1ULL << 63))));
    struct bpf_tnum t32 = tn_low32(t);
    s->u32_min = umax64(s->u32_min, t32.value);
    s->u32_max = umin64(s->u32_max, t32.value | t32.mask);
    s->s32_min = smax64(s->s32_min,
                        (int32_t) (uint32_t) (t32.value
                                              | (t32.mask & 0x80000000u)));
    s->s32_max = smin64(s->s32_max,
                        (int32_t) (uint32_t) (t32.value
                                              | (t32.mask & 0x7fffffffu)));

    /* The low word from the 64-bit ranges when the upper halves agree. */
    if ((s->umin >> 32) == (s->umax >> 32)) {
        s->u32_min = umax64(s->u32_min, (uint32_t) s->umin);
        s->u32_max = umin64(s->u32_max, (uint32_t) s->umax);
        if ((int32_t) s->umin <= (int32_t) s->umax) {
            s->s32_min = smax64(s->s32_min, (int32_t) s->umin);
            s->s32_max = smin64(s->s32_max, (int32_t) s->umax);
        }
    }
    if (((uint64_t) s->smin >> 32) == ((uint64_t) s->smax >> 32)) {
        s->u32_min = umax64(s->u32_min, (uint32_t) s->smin);
        s->u32_max = umin64(s->u32_max, (uint32_t) s->smax);
        if ((int32_t) s->smin <= (int32_t) s->smax) {
            s->s32_min = smax64(s->s32_min, (int32_t) s->smin);
            s->s32_max = smin64(s->s32_max, (int32_t) s->smax);
        }
    }
    /* Signed and unsigned low-word ranges from each other. */
    if ((int32_t) s->u32_min <= (int32_t) s->u32_max) {
        s->s32_min = smax64(s->s32_min, (int32_t) s->u32_min);
        s->s32_max = smin64(s->s32_max, (int32_t) s->u32_max);
    }
    if ((uint32_t) s->s32_min <= (uint32_t) s->s32_max) {
        s->u32_min = umax64(s->u32_min, (uint32_t) s->s32_min);
        s->u32_max = umin64(s->u32_max, (uint32_t) s->s32_max);
    }
    /* The 64-bit ranges from the low word when the upper halves agree. */
    if ((s->umin >> 32) == (s->umax >> 32)) {
        uint64_t hi = s->umin & ~U32_MAXV;
        s->umin = umax64(s->umin, hi | s->u32_min);
        s->umax = umin64(s->umax, hi | s->u32_max);
    }
    if (((uint64_t) s->smin >> 32) == ((uint64_t) s->smax >> 32)) {
        uint64_t hi = (uint64_t) s->smin & ~U32_MAXV;
        s->smin = smax64(s->smin, (int64_t) (hi | s->u32_min));
        s->smax = smin64(s->smax, (int64_t) (hi | s->u32_max));
    }
    /* Signed and unsigned 64-bit ranges from each other. */
    if ((int64_t) s->umin <= (int64_t) s->umax) {
        s->smin = smax64(s->smin, (int64_t) s->umin);
        s->smax = smin64(s->smax, (int64_t) s->umax);
    }
    if ((uint64_t) s->smin <= (uint64_t) s->smax) {
        s->umin = umax64(s->umin, (uint64_t) s->smin);
        s->umax = umin64(s->umax, (uint64_t) s->smax);
    }
    if (s->umin > s->umax || s->smin > s->smax || s->u32_min > s->u32_max
        || s->s32_min > s->s32_max) {
        return false;
    }
    /* Known bits from the ranges. */
    if (!tn_intersect(&s->var_off, tn_range(s->umin, s->umax))) {
        return false;
    }
    struct bpf_tnum r32 = tn_range(s->u32_min, s->u32_max);
    r32.mask |= ~U32_MAXV;
    return tn_intersect(&s->var_off, r32);
}

bool
bpf_scalar_sync(struct bpf_scalar *s)
{
    for (int i = 0; i < 3; i++) {
        if (!sync_once(s)) {
            return false;
        }
    }
    return true;
}

void
bpf_scalar_zext32(struct bpf_scalar *s)
{
    bpf_scalar_sync(s);
    s->var_off = tn_low32(s->var_off);
    s->umin = s->u32_min;
    s->umax = s->u32_max;
    s->smin = (int64_t) s->umin;
    s->smax = (int64_t) s->umax;
    bpf_scalar_sync(s);
}

/* A scalar holding the low word of 's', sign- or zero-extended. */
static void
low_word(struct bpf_scalar *out, const struct bpf_scalar *s, bool sign)
{
    bpf_scalar_unknown(out);
    out->u32_min = s->u32_min;
    out->u32_max = s->u32_max;
    out->s32_min = s->s32_min;
    out->s32_max = s->s32_max;
    out->var_off = tn_low32(s->var_off);
    if (sign) {
        if (s->var_off.mask & 0x80000000u) {
            out->var_off.mask |= ~U32_MAXV;
        } else if (s->var_off.value & 0x80000000u) {
            out->var_off.value |= ~U32_MAXV;
        }
        out->smin = s->s32_min;
        out->smax = s->s32_max;
    } else {
        out->umin = s->u32_min;
        out->umax = s->u32_max;
    }
    bpf_scalar_sync(out);
}

void
bpf_scalar_sext(struct bpf_scalar *s, unsigned int bits)
{
    if (bpf_scalar_is_const(s)) {
        uint64_t v = s->var_off.value;
        int64_t r = bits == 8 ? (int8_t) v
                    : bits == 16 ? (int16_t) v : (int32_t) v;
        bpf_scalar_const(s, (uint64_t) r);
        return;
    }
    uint64_t lowmask = bits == 64 ? UINT64_MAX : (1ULL << bits) - 1;
    uint64_t sign = 1ULL << (bits - 1);
    struct bpf_tnum t = s->var_off;
    bool known_pos = !(t.mask & sign) && !(t.value & sign)
                     && !(t.mask & ~lowmask) && !(t.value & ~lowmask);
    if (known_pos) {
        /* Already a small non-negative value: unchanged. */
        return;
    }
    bpf_scalar_unknown(s);
    s->smin = -(int64_t) sign;
    s->smax = (int64_t) sign - 1;
    if (!(t.mask & sign)) {
        if (t.value & sign) {
            s->var_off.value = (t.value & lowmask) | ~lowmask;
            s->var_off.mask = t.mask & lowmask;
        } else {
            s->var_off.value = t.value & lowmask;
            s->var_off.mask = t.mask & lowmask;
        }
    }
    bpf_scalar_sync(s);
}

void
bpf_scalar_bswap(struct bpf_scalar *s, unsigned int bits, bool swap)
{
    uint64_t lowmask = bits == 64 ? UINT64_MAX : (1ULL << bits) - 1;
    if (bpf_scalar_is_const(s)) {
        uint64_t v = s->var_off.value;
        if (swap) {
            v = bits == 16 ? __builtin_bswap16((uint16_t) v)
                : bits == 32 ? __builtin_bswap32((uint32_t) v)
                : __builtin_bswap64(v);
        }
        bpf_scalar_const(s, v & lowmask);
        return;
    }
    if (!swap) {
        struct bpf_scalar m;
        bpf_scalar_const(&m, lowmask);
        bpf_scalar_alu(s, &m, BPF_AND, false, 0);
        return;
    }
    bpf_scalar_unknown(s);
    s->var_off.mask = lowmask;
    bpf_scalar_sync(s);
}

static bool
add_overflows(int64_t a, int64_t b, int64_t *r)
{
    return __builtin_add_overflow(a, b, r);
}

static void
alu64(struct bpf_scalar *d, const struct bpf_scalar *s, uint8_t op,
      int16_t off)
{
    struct bpf_scalar r;
    bpf_scalar_unknown(&r);
    bool dc = bpf_scalar_is_const(d), sc = bpf_scalar_is_const(s);
    uint64_t dv = d->var_off.value, sv = s->var_off.value;

    switch (op) {
    case BPF_ADD: {
        int64_t a, b;
        if (!add_overflows(d->smin, s->smin, &a)
            && !add_overflows(d->smax, s->smax, &b)) {
            r.smin = a;
            r.smax = b;
        }
        if (d->umax + s->umax >= d->umax && d->umin + s->umin >= d->umin) {
            r.umin = d->umin + s->umin;
            r.umax = d->umax + s->umax;
        }
        r.var_off = tn_add(d->var_off, s->var_off);
        break;
    }
    case BPF_SUB: {
        int64_t a, b;
        if (!__builtin_sub_overflow(d->smin, s->smax, &a)
            && !__builtin_sub_overflow(d->smax, s->smin, &b)) {
            r.smin = a;
            r.smax = b;
        }
        if (d->umin >= s->umax) {
            r.umin = d->umin - s->umax;
            r.umax = d->umax - s->umin;
        }
        r.var_off = tn_sub(d->var_off, s->var_off);
        break;
    }
    case BPF_MUL:
        if (d->umax <= U32_MAXV && s->umax <= U32_MAXV) {
            r.umin = d->umin * s->umin;
            r.umax = d->umax * s->umax;
        }
        r.var_off = tn_mul(d->var_off, s->var_off);
        break;
    case BPF_AND:
        r.var_off = tn_and(d->var_off, s->var_off);
        r.umax = umin64(d->umax, s->umax);
        if (d->smin >= 0 || s->smin >= 0) {
            r.smin = 0;
            r.smax = (int64_t) umin64(d->smin >= 0 ? (uint64_t) d->smax
                                                   : UINT64_MAX,
                                      s->smin >= 0 ? (uint64_t) s->smax
                                                   : UINT64_MAX);
        }
        break;
    case BPF_OR:
        r.var_off = tn_or(d->var_off, s->var_off);
        r.umin = umax64(d->umin, s->umin);
        break;
    case BPF_XOR:
        r.var_off = tn_xor(d->var_off, s->var_off);
        break;
    case BPF_LSH:
        if (sc && sv < 64) {
            if (d->umax <= (UINT64_MAX >> sv)) {
                r.umin = d->umin << sv;
                r.umax = d->umax << sv;
            }
            r.var_off = (struct bpf_tnum) { d->var_off.value << sv,
                                            d->var_off.mask << sv };
        }
        break;
    case BPF_RSH:
        if (sc && sv < 64) {
            r.umin = d->umin >> sv;
            r.umax = d->umax >> sv;
            r.var_off = (struct bpf_tnum) { d->var_off.value >> sv,
                                            d->var_off.mask >> sv };
        }
        break;
    case BPF_ARSH:
        if (sc && sv < 64) {
            r.smin = d->smin >> sv;
            r.smax = d->smax >> sv;
            r.var_off = (struct bpf_tnum) {
                (uint64_t) ((int64_t) d->var_off.value >> sv),
                (uint64_t) ((int64_t) d->var_off.mask >> sv) };
        }
        break;
    case BPF_DIV:
    case BPF_MOD:
        if (dc && sc) {
            uint64_t v;
            if (off == 1) {
                int64_t a = (int64_t) dv, b = (int64_t) sv;
                if (op == BPF_DIV) {
                    v = !b ? 0 : (b == -1 ? (uint64_t) 0 - (uint64_t) a
                                          : (uint64_t) (a / b));
                } else {
                    v = !b ? (uint64_t) a : (b == -1 ? 0 : (uint64_t) (a % b));
                }
            } else if (op == BPF_DIV) {
                v = sv ? dv / sv : 0;
            } else {
                v = sv ? dv % sv : dv;
            }
            bpf_scalar_const(&r, v);
        } else if (off != 1 && s->umin > 0) {
            if (op == BPF_DIV) {
                r.umin = d->umin / s->umax;
                r.umax = d->umax / s->umin;
            } else {
                r.umax = umin64(d->umax, s->umax - 1);
            }
        } else if (off != 1 && op == BPF_MOD) {
            /* The divisor may be zero, leaving dst unchanged. */
            r.umax = d->umax;
        }
        break;
    default:
        break;
    }
    *d = r;
    if (!bpf_scalar_sync(d)) {
        bpf_scalar_unknown(d);
    }
}

void
bpf_scalar_alu(struct bpf_scalar *dst, const struct bpf_scalar *src,
               uint8_t op, bool alu32, int16_t off)
{
    if (!alu32) {
        alu64(dst, src, op, off);
        return;
    }
    bool sign = op == BPF_ARSH || ((op == BPF_DIV || op == BPF_MOD)
                                   && off == 1);
    struct bpf_scalar d, s;
    low_word(&d, dst, sign);
    low_word(&s, src, sign);
    if ((op == BPF_LSH || op == BPF_RSH || op == BPF_ARSH)
        && (!bpf_scalar_is_const(&s) || s.var_off.value >= 32)) {
        /* Shift counts of 32 or more are masked at run time. */
        bpf_scalar_unknown(&d);
    } else {
        alu64(&d, &s, op, off);
    }
    *dst = d;
    bpf_scalar_zext32(dst);
}

uint8_t
bpf_jmp_negate(uint8_t op)
{
    switch (op) {
    case BPF_JEQ: return BPF_JNE;
    case BPF_JNE: return BPF_JEQ;
    case BPF_JGT: return BPF_JLE;
    case BPF_JLE: return BPF_JGT;
    case BPF_JGE: return BPF_JLT;
    case BPF_JLT: return BPF_JGE;
    case BPF_JSGT: return BPF_JSLE;
    case BPF_JSLE: return BPF_JSGT;
    case BPF_JSGE: return BPF_JSLT;
    case BPF_JSLT: return BPF_JSGE;
    case BPF_JSET: return BPF_VERIFIER_JNSET;
    default: return BPF_JSET;
    }
}

/* One width's view of a scalar for comparisons. */
struct view {
    uint64_t umin, umax;
    int64_t smin, smax;
    uint64_t value, mask;              /* Known bits of this width. */
};

static struct view
get_view(const struct bpf_scalar *s, bool is32)
{
    struct view v;
    if (is32) {
        v.umin = s->u32_min;
        v.umax = s->u32_max;
        v.smin = s->s32_min;
        v.smax = s->s32_max;
        v.value = s->var_off.value & U32_MAXV;
        v.mask = s->var_off.mask & U32_MAXV;
    } else {
        v.umin = s->umin;
        v.umax = s->umax;
        v.smin = s->smin;
        v.smax = s->smax;
        v.value = s->var_off.value;
        v.mask = s->var_off.mask;
    }
    return v;
}

static void
put_view(struct bpf_scalar *s, const struct view *v, bool is32)
{
    if (is32) {
        s->u32_min = v->umin;
        s->u32_max = v->umax;
        s->s32_min = v->smin;
        s->s32_max = v->smax;
        s->var_off.value = (s->var_off.value & ~U32_MAXV) | v->value;
        s->var_off.mask = (s->var_off.mask & ~U32_MAXV) | v->mask;
    } else {
        s->umin = v->umin;
        s->umax = v->umax;
        s->smin = v->smin;
        s->smax = v->smax;
        s->var_off.value = v->value;
        s->var_off.mask = v->mask;
    }
}

int
bpf_scalar_branch(const struct bpf_scalar *sa, const struct bpf_scalar *sb,
                  uint8_t op, bool is32)
{
    struct view a = get_view(sa, is32), b = get_view(sb, is32);
    switch (op) {
    case BPF_JEQ:
    case BPF_JNE: {
        int eq = -1;
        if (!a.mask && !b.mask) {
            eq = a.value == b.value;
        } else if (a.umin > b.umax || a.umax < b.umin || a.smin > b.smax
                   || a.smax < b.smin
                   || ((a.value ^ b.value) & ~a.mask & ~b.mask)) {
            eq = 0;
        }
        return eq < 0 ? -1 : (op == BPF_JEQ ? eq : !eq);
    }
    case BPF_JGT:
        return a.umin > b.umax ? 1 : a.umax <= b.umin ? 0 : -1;
    case BPF_JGE:
        return a.umin >= b.umax ? 1 : a.umax < b.umin ? 0 : -1;
    case BPF_JLT:
        return a.umax < b.umin ? 1 : a.umin >= b.umax ? 0 : -1;
    case BPF_JLE:
        return a.umax <= b.umin ? 1 : a.umin > b.umax ? 0 : -1;
    case BPF_JSGT:
        return a.smin > b.smax ? 1 : a.smax <= b.smin ? 0 : -1;
    case BPF_JSGE:
        return a.smin >= b.smax ? 1 : a.smax < b.smin ? 0 : -1;
    case BPF_JSLT:
        return a.smax < b.smin ? 1 : a.smin >= b.smax ? 0 : -1;
    case BPF_JSLE:
        return a.smax <= b.smin ? 1 : a.smin > b.smax ? 0 : -1;
    case BPF_JSET:
    case BPF_VERIFIER_JNSET: {
        int set = -1;
        if (a.value & b.value) {
            set = 1;
        } else if (!((a.value | a.mask) & (b.value | b.mask))) {
            set = 0;
        }
        return set < 0 ? -1 : (op == BPF_JSET ? set : !set);
    }
    default:
        return -1;
    }
}

/* a > b (strict) or a >= b, unsigned or signed, on views. */
static bool
refine_gt(struct view *a, struct view *b, bool strict, bool sign,
          bool is32)
{
    if (sign) {
        int64_t lo = is32 ? INT32_MIN : INT64_MIN;
        int64_t hi = is32 ? INT32_MAX : INT64_MAX;
        if (strict && (b->smin == hi || a->smax == lo)) {
            return false;
        }
        a->smin = smax64(a->smin, b->smin + strict);
        b->smax = smin64(b->smax, a->smax - strict);
        return a->smin <= a->smax && b->smin <= b->smax;
    }
    uint64_t hi = is32 ? U32_MAXV : UINT64_MAX;
    if (strict && (b->umin == hi || a->umax == 0)) {
        return false;
    }
    a->umin = umax64(a->umin, b->umin + strict);
    b->umax = umin64(b->umax, a->umax - strict);
    return a->umin <= a->umax && b->umin <= b->umax;
}

static void
refine_ne(struct view *a, const struct view *b, bool is32)
{
    if (b->mask) {
        return;
    }
    uint64_t c = b->value;
    int64_t sc = is32 ? (int32_t) c : (int64_t) c;
    if (a->umin == c && a->umin < a->umax) {
        a->umin++;
    } else if (a->umax == c && a->umin < a->umax) {
        a->umax--;
    }
    if (a->smin == sc && a->smin < a->smax) {
        a->smin++;
    } else if (a->smax == sc && a->smin < a->smax) {
        a->smax--;
    }
}

bool
bpf_scalar_refine(struct bpf_scalar *sa, struct bpf_scalar *sb, uint8_t op,
                  bool is32)
{
    struct view a = get_view(sa, is32), b = get_view(sb, is32);
    bool ok = true;
    switch (op) {
    case BPF_JEQ: {
        a.umin = b.umin = umax64(a.umin, b.umin);
        a.umax = b.umax = umin64(a.umax, b.umax);
        a.smin = b.smin = smax64(a.smin, b.smin);
        a.smax = b.smax = smin64(a.smax, b.smax);
        struct bpf_tnum t = { a.value, a.mask };
        ok = tn_intersect(&t, (struct bpf_tnum) { b.value, b.mask });
        a.value = b.value = t.value;
        a.mask = b.mask = t.mask;
        break;
    }
    case BPF_JNE:
        if (!a.mask && !b.mask && a.value == b.value) {
            return false;
        }
        refine_ne(&a, &b, is32);
        refine_ne(&b, &a, is32);
        break;
    case BPF_JGT:
        ok = refine_gt(&a, &b, true, false, is32);
        break;
    case BPF_JGE:
        ok = refine_gt(&a, &b, false, false, is32);
        break;
    case BPF_JLT:
        ok = refine_gt(&b, &a, true, false, is32);
        break;
    case BPF_JLE:
        ok = refine_gt(&b, &a, false, false, is32);
        break;
    case BPF_JSGT:
        ok = refine_gt(&a, &b, true, true, is32);
        break;
    case BPF_JSGE:
        ok = refine_gt(&a, &b, false, true, is32);
        break;
    case BPF_JSLT:
        ok = refine_gt(&b, &a, true, true, is32);
        break;
    case BPF_JSLE:
        ok = refine_gt(&b, &a, false, true, is32);
        break;
    case BPF_JSET:
        if (!b.mask && b.value && !(b.value & (b.value - 1))) {
            /* A single bit tested: it is set. */
            if (!(a.mask & b.value) && !(a.value & b.value)) {
                return false;
            }
            a.value |= b.value;
            a.mask &= ~b.value;
        } else if (!((a.value | a.mask) & (b.value | b.mask))) {
            return false;
        }
        break;
    case BPF_VERIFIER_JNSET:
        if (!b.mask) {
            if (a.value & b.value) {
                return false;
            }
            a.mask &= ~b.value;
        } else if (a.value & b.value) {
            return false;
        }
        break;
    default:
        break;
    }
    if (!ok) {
        return false;
    }
    put_view(sa, &a, is32);
    put_view(sb, &b, is32);
    return bpf_scalar_sync(sa) && bpf_scalar_sync(sb);
}

bool
bpf_scalar_within(const struct bpf_scalar *old, const struct bpf_scalar *cur)
{
    if (cur->var_off.mask & ~old->var_off.mask) {
        return false;
    }
    if ((cur->var_off.value & ~old->var_off.mask) != old->var_off.value) {
        return false;
    }
    return old->smin <= cur->smin && cur->smax <= old->smax
           && old->umin <= cur->umin && cur->umax <= old->umax
           && old->s32_min <= cur->s32_min && cur->s32_max <= old->s32_max
           && old->u32_min <= cur->u32_min && cur->u32_max <= old->u32_max;
}
