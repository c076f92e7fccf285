/* Assembler: text to eBPF bytecode, the inverse of disasm.c.
 *
 * A hand-written recursive-descent parser over one line at a time.  Each
 * instruction form is tried in turn from the same starting point; parsing
 * primitives record the furthest column any form reached and what it
 * expected there, so that a line no form accepts gets a precise message
 * ("line 4, column 12: expected register") instead of a generic one.
 * Labels are resolved in a second pass once every line has been read. */
#include "bpf/asm.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpf/disasm.h"
#include "core/util.h"

#define ASM_NAME_LEN 64

struct asm_label {
    char name[ASM_NAME_LEN]; /* Label text. */
    size_t idx;              /* Instruction index it marks. */
};

/* A jump whose target is a label, patched after the last line. */
struct asm_fixup {
    char name[ASM_NAME_LEN]; /* Label referred to. */
    size_t idx;              /* Instruction to patch. */
    bool wide;               /* gotol: offset goes in imm, not off. */
    size_t line;             /* For the error message. */
    size_t col;
};

struct asm_state {
    const char *line;   /* Start of the current line (copy). */
    const char *p;      /* Cursor within 'line'. */
    size_t lineno;      /* 1-based. */
    const char *far;    /* Furthest position a form reached. */
    const char *expect; /* What was expected at 'far'. */
    char *err;          /* Semantic error, overrides 'expect'. */

    struct bpf_insn *insns;
    size_t n, cap;
    struct asm_label *labels;
    size_t n_labels, cap_labels;
    struct asm_fixup *fixups;
    size_t n_fixups, cap_fixups;

    struct bpf_map *const *maps;
    size_t n_maps;
};

static bool
is_ident_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '.';
}

static void
skip_ws(struct asm_state *st)
{
    while (*st->p == ' ' || *st->p == '\t' || *st->p == '\r') {
        st->p++;
    }
}

static bool
fail(struct asm_state *st, const char *what)
{
    if (st->p > st->far) {
        st->far = st->p;
        st->expect = what;
    }
    return false;
}

/* Names both alternatives when a register and a number both failed at
 * the furthest position. */
static bool
fail_operand(struct asm_state *st)
{
    skip_ws(st);
    if (st->far == st->p) {
        st->expect = "register or number";
    }
    return false;
}

/* Reports a semantic error at the cursor (first one wins). */
static bool
sem_error(struct asm_state *st, const char *msg)
{
    if (!st->err) {
        st->err = xasprintf("line %zu, column %zu: %s", st->lineno,
                            (size_t)(st->p - st->line) + 1, msg);
    }
    return false;
}

static bool
lit(struct asm_state *st, const char *s)
{
    skip_ws(st);
    size_t len = strlen(s);
    if (strncmp(st->p, s, len)) {
        return fail(st, s);
    }
    st->p += len;
    return true;
}

/* Like lit() for a keyword: it must not run into an identifier. */
static bool
word(struct asm_state *st, const char *s)
{
    const char *save = st->p;
    if (!lit(st, s) || is_ident_char(*st->p)) {
        st->p = save;
        return fail(st, s);
    }
    return true;
}

static bool
ident(struct asm_state *st, char *buf, size_t size)
{
    skip_ws(st);
    size_t len = 0;
    if (!isalpha((unsigned char)*st->p) && *st->p != '_' && *st->p != '.') {
        return fail(st, "name");
    }
    while (is_ident_char(st->p[len])) {
        len++;
    }
    if (len >= size) {
        return sem_error(st, "name too long");
    }
    memcpy(buf, st->p, len);
    buf[len] = '\0';
    st->p += len;
    return true;
}

/* Parses "rN" or "wN" (N <= 10). */
static bool
reg(struct asm_state *st, uint8_t *r, bool *w)
{
    skip_ws(st);
    const char *s = st->p;
    if ((*s != 'r' && *s != 'w') || !isdigit((unsigned char)s[1])) {
        return fail(st, "register");
    }
    unsigned int v = s[1] - '0';
    size_t len = 2;
    if (isdigit((unsigned char)s[2])) {
        v = v * 10 + (s[2] - '0');
        len = 3;
    }
    if (is_ident_char(s[len]) || v > 10) {
        return fail(st, "register r0..r10");
    }
    *r = v;
    *w = *s == 'w';
    st->p += len;
    return true;
}

/* Parses a signed decimal or hex number into [min, max]. */
static bool
num(struct asm_state *st, int64_t min, uint64_t max, int64_t *out)
{
    skip_ws(st);
    const char *s = st->p;
    bool neg = false;
    if (*s == '+' || *s == '-') {
        neg = *s == '-';
        s++;
        while (*s == ' ') {
            s++;
        }
    }
    if (!isdigit((unsigned char)*s)) {
        return fail(st, "number");
    }
    int base = 10;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
        if (!isxdigit((unsigned char)*s)) {
            return fail(st, "hex digits");
        }
    }
    uint64_t mag = 0;
    for (; isxdigit((unsigned char)*s); s++) {
        unsigned int d =
            isdigit((unsigned char)*s)
                ? (unsigned int)(*s - '0')
                : (unsigned int)(tolower((unsigned char)*s) - 'a' + 10);
        if (d >= (unsigned int)base) {
            break;
        }
        if (mag > (UINT64_MAX - d) / base) {
            st->p = s;
            return sem_error(st, "number out of range");
        }
        mag = mag * base + d;
    }
    if (neg ? mag > (uint64_t) - (min + 1) + 1 : mag > max) {
        return sem_error(st, "number out of range");
    }
    *out = neg ? (int64_t)(0 - mag) : (int64_t)mag;
    st->p = s;
    return true;
}

static bool
imm32(struct asm_state *st, int32_t *out)
{
    int64_t v;
    if (!num(st, INT32_MIN, UINT32_MAX, &v)) {
        return false;
    }
    *out = (int32_t)(uint32_t)v;
    return true;
}

static bool
eol(struct asm_state *st)
{
    skip_ws(st);
    return *st->p ? fail(st, "end of line") : true;
}

static void
emit(struct asm_state *st, uint8_t code, uint8_t dst, uint8_t src, int16_t off,
     int32_t imm)
{
    if (st->n == st->cap) {
        st->cap = st->cap ? st->cap * 2 : 64;
        st->insns = xrealloc(st->insns, st->cap * sizeof *st->insns);
    }
    struct bpf_insn *insn = &st->insns[st->n++];
    memset(insn, 0, sizeof *insn);
    insn->code = code;
    insn->dst_reg = dst;
    insn->src_reg = src;
    insn->off = off;
    insn->imm = imm;
}

/* Parses a jump target: "+N", "-N", "pc+N" or a label. */
static bool
target(struct asm_state *st, bool wide, int32_t *rel)
{
    int64_t v;
    skip_ws(st);
    if (!strncmp(st->p, "pc", 2) && !is_ident_char(st->p[2])) {
        st->p += 2;
    }
    skip_ws(st);
    if (*st->p == '+' || *st->p == '-' || isdigit((unsigned char)*st->p)) {
        if (!num(st, wide ? INT32_MIN : INT16_MIN, wide ? INT32_MAX : INT16_MAX,
                 &v)) {
            return false;
        }
        *rel = (int32_t)v;
        return true;
    }
    struct asm_fixup fx;
    memset(&fx, 0, sizeof fx);
    fx.col = (size_t)(st->p - st->line) + 1;
    if (!ident(st, fx.name, sizeof fx.name)) {
        return fail(st, "jump offset or label");
    }
    fx.idx = st->n; /* The instruction about to be emitted. */
    fx.wide = wide;
    fx.line = st->lineno;
    if (st->n_fixups == st->cap_fixups) {
        st->cap_fixups = st->cap_fixups ? st->cap_fixups * 2 : 16;
        st->fixups = xrealloc(st->fixups, st->cap_fixups * sizeof *st->fixups);
    }
    st->fixups[st->n_fixups++] = fx;
    *rel = 0;
    return true;
}

static bool
size_code(const char *s, uint8_t *size, bool *sign)
{
    static const struct {
        const char *name;
        uint8_t size;
        bool sign;
    } sizes[] = {
        {"u8", BPF_B, false},   {"u16", BPF_H, false}, {"u32", BPF_W, false},
        {"u64", BPF_DW, false}, {"s8", BPF_B, true},   {"s16", BPF_H, true},
        {"s32", BPF_W, true},
    };
    for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
        if (!strcmp(s, sizes[i].name)) {
            *size = sizes[i].size;
            *sign = sizes[i].sign;
            return true;
        }
    }
    return false;
}

/* Parses "*(SIZE *)" into 'size'/'sign'. */
static bool
mem_type(struct asm_state *st, uint8_t *size, bool *sign)
{
    char name[8];
    if (!lit(st, "*(") || !ident(st, name, sizeof name)) {
        return false;
    }
    if (!size_code(name, size, sign)) {
        st->p -= strlen(name);
        return sem_error(st, "unknown access size (u8/u16/u32/u64/s8/s16/"
                             "s32)");
    }
    return lit(st, "*)");
}

/* Parses "(rN +OFF)". */
static bool
mem_addr(struct asm_state *st, uint8_t *r, int16_t *off)
{
    bool w;
    int64_t v = 0;
    if (!lit(st, "(") || !reg(st, r, &w)) {
        return false;
    }
    if (w) {
        return sem_error(st, "address register must be rN");
    }
    skip_ws(st);
    if (*st->p != ')' && !num(st, INT16_MIN, INT16_MAX, &v)) {
        return false;
    }
    *off = (int16_t)v;
    return lit(st, ")");
}

static const struct {
    const char *s;
    uint8_t op;
    int16_t off;
} alu_ops[] = {
    /* Longest first, so that "s>>=" is not read as "s" ... */
    {"s>>=", BPF_ARSH, 0}, {"<<=", BPF_LSH, 0}, {">>=", BPF_RSH, 0},
    {"s/=", BPF_DIV, 1},   {"s%=", BPF_MOD, 1}, {"+=", BPF_ADD, 0},
    {"-=", BPF_SUB, 0},    {"*=", BPF_MUL, 0},  {"/=", BPF_DIV, 0},
    {"|=", BPF_OR, 0},     {"&=", BPF_AND, 0},  {"%=", BPF_MOD, 0},
    {"^=", BPF_XOR, 0},
};

static const struct {
    const char *s;
    uint8_t op;
} jmp_ops[] = {
    {"s>=", BPF_JSGE}, {"s<=", BPF_JSLE}, {"s>", BPF_JSGT}, {"s<", BPF_JSLT},
    {"==", BPF_JEQ},   {"!=", BPF_JNE},   {">=", BPF_JGE},  {"<=", BPF_JLE},
    {">", BPF_JGT},    {"<", BPF_JLT},    {"&", BPF_JSET},
};

static bool
parse_call(struct asm_state *st)
{
    int64_t v;
    char name[ASM_NAME_LEN];

    skip_ws(st);
    if (!strncmp(st->p, "pc", 2) && !is_ident_char(st->p[2])) {
        st->p += 2;
        if (!num(st, INT32_MIN, INT32_MAX, &v)) {
            return false;
        }
        emit(st, BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_CALL, 0, (int32_t)v);
        return eol(st);
    }
    if (isdigit((unsigned char)*st->p) || *st->p == '-') {
        if (!num(st, INT32_MIN, INT32_MAX, &v)) {
            return false;
        }
    } else {
        const char *start = st->p;
        if (!ident(st, name, sizeof name)) {
            return false;
        }
        skip_ws(st);
        if (*st->p != '#' && strncmp(name, "bpf_", 4) &&
            bpf_disasm_helper_id(name) < 0) {
            /* A local function by label: "call my_func". */
            int32_t rel;
            st->p = start;
            if (!target(st, true, &rel)) {
                return false;
            }
            emit(st, BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_CALL, 0, rel);
            return eol(st);
        }
        if (*st->p == '#') {
            st->p++;
            if (!num(st, INT32_MIN, INT32_MAX, &v)) {
                return false;
            }
        } else {
            v = bpf_disasm_helper_id(name);
            if (v < 0) {
                return sem_error(st, "unknown helper name");
            }
        }
    }
    emit(st, BPF_JMP | BPF_CALL, 0, 0, 0, (int32_t)v);
    return eol(st);
}

static bool
parse_if(struct asm_state *st)
{
    uint8_t dst, src = 0, op = 0;
    bool w, w2;
    int32_t imm = 0, rel;
    bool is_x;

    if (!reg(st, &dst, &w)) {
        return false;
    }
    skip_ws(st);
    size_t i;
    for (i = 0; i < ARRAY_SIZE(jmp_ops); i++) {
        size_t len = strlen(jmp_ops[i].s);
        if (!strncmp(st->p, jmp_ops[i].s, len)) {
            op = jmp_ops[i].op;
            st->p += len;
            break;
        }
    }
    if (i == ARRAY_SIZE(jmp_ops)) {
        return fail(st, "comparison operator");
    }
    const char *save = st->p;
    is_x = reg(st, &src, &w2);
    if (is_x && w2 != w) {
        return sem_error(st, "mixed rN and wN operands");
    }
    if (!is_x) {
        st->p = save;
        if (!imm32(st, &imm)) {
            st->p = save;
            return st->err ? false : fail_operand(st);
        }
    }
    if (!word(st, "goto")) {
        return false;
    }
    if (!target(st, false, &rel)) {
        return false;
    }
    emit(st, (w ? BPF_JMP32 : BPF_JMP) | op | (is_x ? BPF_X : BPF_K), dst, src,
         (int16_t)rel, imm);
    return eol(st);
}

/* "lock *(u32 *)(r1 +0) += r2" */
static bool
parse_lock(struct asm_state *st)
{
    uint8_t size, dst, src;
    bool sign, w;
    int16_t off;
    int32_t op;

    if (!mem_type(st, &size, &sign) || !mem_addr(st, &dst, &off)) {
        return false;
    }
    if (sign || (size != BPF_W && size != BPF_DW)) {
        return sem_error(st, "atomic operations are u32 or u64 only");
    }
    if (lit(st, "+=")) {
        op = BPF_ADD;
    } else if (lit(st, "|=")) {
        op = BPF_OR;
    } else if (lit(st, "&=")) {
        op = BPF_AND;
    } else if (lit(st, "^=")) {
        op = BPF_XOR;
    } else {
        return fail(st, "atomic operator (+= |= &= ^=)");
    }
    if (!reg(st, &src, &w)) {
        return false;
    }
    emit(st, BPF_STX | BPF_ATOMIC | size, dst, src, off, op);
    return eol(st);
}

/* "*(u32 *)(r1 +0) = r2" or "= IMM". */
static bool
parse_store(struct asm_state *st)
{
    uint8_t size, dst, src;
    bool sign, w;
    int16_t off;
    int32_t imm;

    if (!mem_type(st, &size, &sign) || !mem_addr(st, &dst, &off)) {
        return false;
    }
    if (sign) {
        return sem_error(st, "stores take u8/u16/u32/u64");
    }
    if (!lit(st, "=")) {
        return false;
    }
    const char *save = st->p;
    if (reg(st, &src, &w)) {
        emit(st, BPF_STX | BPF_MEM | size, dst, src, off, 0);
        return eol(st);
    }
    st->p = save;
    if (!imm32(st, &imm)) {
        return false;
    }
    emit(st, BPF_ST | BPF_MEM | size, dst, 0, off, imm);
    return eol(st);
}

static bool
parse_raw(struct asm_state *st)
{
    int64_t code, dst, src, off;
    int32_t imm;
    if (!num(st, 0, 255, &code) || !lit(st, ",") || !num(st, 0, 15, &dst) ||
        !lit(st, ",") || !num(st, 0, 15, &src) || !lit(st, ",") ||
        !num(st, INT16_MIN, UINT16_MAX, &off) || !lit(st, ",") ||
        !imm32(st, &imm)) {
        return false;
    }
    emit(st, code, dst, src, (int16_t)(uint16_t)off, imm);
    return eol(st);
}

/* "rD = atomic[64]_fetch_OP((SIZE *)(rA +OFF), rS)" and xchg/cmpxchg; the
 * name has been read into 'name'. */
static bool
parse_atomic_rhs(struct asm_state *st, uint8_t lhs, const char *name)
{
    const char *s = name + strlen("atomic");
    bool is64 = !strncmp(s, "64", 2);
    int32_t op;
    uint8_t size, dst, src, r0;
    bool sign, w;
    int16_t off;

    if (is64) {
        s += 2;
    }
    if (!strcmp(s, "_xchg")) {
        op = BPF_XCHG;
    } else if (!strcmp(s, "_cmpxchg")) {
        op = BPF_CMPXCHG;
    } else if (!strcmp(s, "_fetch_add")) {
        op = BPF_ADD | BPF_FETCH;
    } else if (!strcmp(s, "_fetch_or")) {
        op = BPF_OR | BPF_FETCH;
    } else if (!strcmp(s, "_fetch_and")) {
        op = BPF_AND | BPF_FETCH;
    } else if (!strcmp(s, "_fetch_xor")) {
        op = BPF_XOR | BPF_FETCH;
    } else {
        return sem_error(st, "unknown atomic operation");
    }
    char tname[8];
    if (!lit(st, "(") || !lit(st, "(") || !ident(st, tname, sizeof tname)) {
        return false;
    }
    if (!size_code(tname, &size, &sign)) {
        return sem_error(st, "unknown access size");
    }
    if (sign || size != (is64 ? BPF_DW : BPF_W)) {
        return sem_error(st, is64 ? "atomic64 operations take u64"
                                  : "atomic operations take u32");
    }
    if (!lit(st, "*)") || !mem_addr(st, &dst, &off) || !lit(st, ",")) {
        return false;
    }
    if (op == BPF_CMPXCHG) {
        if (!reg(st, &r0, &w) || !lit(st, ",")) {
            return false;
        }
        if (r0 != 0 || lhs != 0) {
            return sem_error(st, "cmpxchg compares with and returns r0");
        }
    }
    if (!reg(st, &src, &w) || !lit(st, ")")) {
        return false;
    }
    if (op != BPF_CMPXCHG && src != lhs) {
        return sem_error(st, "fetch/xchg result register must be the "
                             "source register");
    }
    emit(st, BPF_STX | BPF_ATOMIC | size, dst, src, off, op);
    return eol(st);
}

static bool
find_map(struct asm_state *st, const char *name, int32_t *idx)
{
    for (size_t i = 0; st->maps && i < st->n_maps; i++) {
        if (!strcmp(st->maps[i]->name, name)) {
            *idx = (int32_t)i;
            return true;
        }
    }
    return sem_error(st, "unknown map name");
}

/* "rD = map[id:X]" or "rD = map[id:X][0]+OFF"; "map" has been read. */
static bool
parse_map_rhs(struct asm_state *st, uint8_t dst)
{
    int32_t idx;
    int64_t v;
    if (!lit(st, "[id:")) {
        return false;
    }
    skip_ws(st);
    if (isdigit((unsigned char)*st->p)) {
        if (!num(st, 0, INT32_MAX, &v)) {
            return false;
        }
        idx = (int32_t)v;
    } else {
        char name[BPF_NAME_LEN];
        size_t len = strcspn(st->p, "]");
        if (!len || len >= sizeof name || !st->p[len]) {
            return fail(st, "map index or name");
        }
        memcpy(name, st->p, len);
        name[len] = '\0';
        if (!find_map(st, name, &idx)) {
            return false;
        }
        st->p += len;
    }
    if (!lit(st, "]")) {
        return false;
    }
    skip_ws(st);
    if (*st->p == '[') {
        if (!lit(st, "[0]") || !lit(st, "+") || !num(st, 0, UINT32_MAX, &v)) {
            return false;
        }
        emit(st, BPF_LD | BPF_IMM | BPF_DW, dst, BPF_PSEUDO_MAP_VALUE, 0, idx);
        emit(st, 0, 0, 0, 0, (int32_t)(uint32_t)v);
        return eol(st);
    }
    emit(st, BPF_LD | BPF_IMM | BPF_DW, dst, BPF_PSEUDO_MAP_FD, 0, idx);
    emit(st, 0, 0, 0, 0, 0);
    return eol(st);
}

/* "r0 = *(u32 *)skb[4]" or "skb[rN +4]"; "*(SIZE *)" has been read. */
static bool
parse_skb_rhs(struct asm_state *st, uint8_t dst, uint8_t size, bool sign)
{
    uint8_t src;
    bool w;
    int32_t imm = 0;

    if (dst != 0 || sign || size == BPF_DW) {
        return sem_error(st, "packet loads are r0 = *(u8|u16|u32 *)skb[...]");
    }
    const char *save = st->p;
    if (reg(st, &src, &w)) {
        skip_ws(st);
        if (*st->p != ']' && !imm32(st, &imm)) {
            return false;
        }
        if (!lit(st, "]")) {
            return false;
        }
        emit(st, BPF_LD | BPF_IND | size, 0, src, 0, imm);
        return eol(st);
    }
    st->p = save;
    if (!imm32(st, &imm) || !lit(st, "]")) {
        return false;
    }
    emit(st, BPF_LD | BPF_ABS | size, 0, 0, 0, imm);
    return eol(st);
}

/* Everything after "rD =" (or "wD ="). */
static bool
parse_assign(struct asm_state *st, uint8_t dst, bool w)
{
    uint8_t cls = w ? BPF_ALU : BPF_ALU64;
    uint8_t src, size;
    bool w2, sign;
    int16_t off;
    char name[ASM_NAME_LEN];
    const char *save = st->p;

    skip_ws(st);
    if (!strncmp(st->p, "*(", 2)) {
        if (!mem_type(st, &size, &sign)) {
            return false;
        }
        if (w) {
            return sem_error(st, "loads write rN");
        }
        if (lit(st, "skb[")) {
            return parse_skb_rhs(st, dst, size, sign);
        }
        if (!mem_addr(st, &src, &off)) {
            return false;
        }
        emit(st, BPF_LDX | (sign ? BPF_MEMSX : BPF_MEM) | size, dst, src, off,
             0);
        return eol(st);
    }
    if (*st->p == '(') {
        /* Sign-extending move "(s8)rS". */
        int64_t bits;
        st->p++;
        skip_ws(st);
        if (*st->p != 's') {
            return fail(st, "s8, s16 or s32");
        }
        st->p++;
        if (!num(st, 8, 32, &bits) || !lit(st, ")") || !reg(st, &src, &w2)) {
            return false;
        }
        if (bits != 8 && bits != 16 && (bits != 32 || w)) {
            return sem_error(st, "sign extension from s8, s16 or (64-bit) "
                                 "s32");
        }
        if (w2 != w) {
            return sem_error(st, "mixed rN and wN operands");
        }
        emit(st, cls | BPF_MOV | BPF_X, dst, src, (int16_t)bits, 0);
        return eol(st);
    }
    if (*st->p == '-' && (st->p[1] == 'r' || st->p[1] == 'w')) {
        st->p++;
        if (!reg(st, &src, &w2)) {
            return false;
        }
        if (src != dst || w2 != w) {
            return sem_error(st, "negation is rD = -rD");
        }
        emit(st, cls | BPF_NEG | BPF_K, dst, 0, 0, 0);
        return eol(st);
    }
    if (isalpha((unsigned char)*st->p) && !reg(st, &src, &w2)) {
        st->p = save;
        if (!ident(st, name, sizeof name)) {
            return false;
        }
        if (!strncmp(name, "atomic", 6)) {
            if (w) {
                return sem_error(st, "atomic results are rN");
            }
            return parse_atomic_rhs(st, dst, name);
        }
        if (!strcmp(name, "map")) {
            return parse_map_rhs(st, dst);
        }
        if (!strcmp(name, "func")) {
            int64_t rel;
            if (!lit(st, "pc") || !num(st, INT32_MIN, INT32_MAX, &rel)) {
                return false;
            }
            emit(st, BPF_LD | BPF_IMM | BPF_DW, dst, BPF_PSEUDO_FUNC, 0,
                 (int32_t)rel);
            emit(st, 0, 0, 0, 0, 0);
            return eol(st);
        }
        uint8_t code;
        const char *bits;
        if (!strncmp(name, "le", 2)) {
            code = BPF_ALU | BPF_END | BPF_TO_LE;
            bits = name + 2;
        } else if (!strncmp(name, "be", 2)) {
            code = BPF_ALU | BPF_END | BPF_TO_BE;
            bits = name + 2;
        } else if (!strncmp(name, "bswap", 5)) {
            code = BPF_ALU64 | BPF_END | BPF_TO_LE;
            bits = name + 5;
        } else {
            return sem_error(st, "unknown operand");
        }
        int32_t nbits = atoi(bits);
        if ((nbits != 16 && nbits != 32 && nbits != 64) ||
            strspn(bits, "0123456789") != strlen(bits)) {
            return sem_error(st, "byte swap width must be 16, 32 or 64");
        }
        if (!reg(st, &src, &w2)) {
            return false;
        }
        if (src != dst || w || w2) {
            return sem_error(st, "byte swaps are rD = OPn rD");
        }
        emit(st, code, dst, 0, 0, nbits);
        return eol(st);
    }
    st->p = save;
    if (reg(st, &src, &w2)) {
        if (w2 != w) {
            return sem_error(st, "mixed rN and wN operands");
        }
        emit(st, cls | BPF_MOV | BPF_X, dst, src, 0, 0);
        return eol(st);
    }
    st->p = save;
    int64_t v;
    if (!num(st, INT64_MIN, UINT64_MAX, &v)) {
        return false;
    }
    bool ll = word(st, "ll");
    if (w) {
        if (ll || v < INT32_MIN || (v > (int64_t)UINT32_MAX)) {
            return sem_error(st, "32-bit immediate out of range");
        }
        emit(st, cls | BPF_MOV | BPF_K, dst, 0, 0, (int32_t)(uint32_t)v);
    } else if (ll || v < INT32_MIN || v > INT32_MAX) {
        emit(st, BPF_LD | BPF_IMM | BPF_DW, dst, 0, 0, (int32_t)(uint32_t)v);
        emit(st, 0, 0, 0, 0, (int32_t)(uint32_t)((uint64_t)v >> 32));
    } else {
        emit(st, cls | BPF_MOV | BPF_K, dst, 0, 0, (int32_t)v);
    }
    return eol(st);
}

static bool
parse_alu(struct asm_state *st)
{
    uint8_t dst, src;
    bool w, w2;
    int32_t imm;

    if (!reg(st, &dst, &w)) {
        return false;
    }
    skip_ws(st);
    for (size_t i = 0; i < ARRAY_SIZE(alu_ops); i++) {
        size_t len = strlen(alu_ops[i].s);
        if (strncmp(st->p, alu_ops[i].s, len)) {
            continue;
        }
        st->p += len;
        uint8_t cls = w ? BPF_ALU : BPF_ALU64;
        const char *save = st->p;
        if (reg(st, &src, &w2)) {
            if (w2 != w) {
                return sem_error(st, "mixed rN and wN operands");
            }
            emit(st, cls | alu_ops[i].op | BPF_X, dst, src, alu_ops[i].off, 0);
            return eol(st);
        }
        st->p = save;
        if (!imm32(st, &imm)) {
            st->p = save;
            return st->err ? false : fail_operand(st);
        }
        emit(st, cls | alu_ops[i].op | BPF_K, dst, 0, alu_ops[i].off, imm);
        return eol(st);
    }
    if (*st->p == '=' && st->p[1] != '=') {
        st->p++;
        return parse_assign(st, dst, w);
    }
    return fail(st, "assignment operator");
}

static bool
parse_insn(struct asm_state *st)
{
    const char *start = st->p;
    size_t n0 = st->n, nf0 = st->n_fixups;

#define TRY(EXPR)                                                              \
    do {                                                                       \
        st->p = start;                                                         \
        st->n = n0;                                                            \
        st->n_fixups = nf0;                                                    \
        if ((EXPR)) {                                                          \
            return true;                                                       \
        }                                                                      \
        if (st->err) {                                                         \
            return false;                                                      \
        }                                                                      \
    } while (0)

    TRY(word(st, "exit") &&
        (emit(st, BPF_JMP | BPF_EXIT, 0, 0, 0, 0), eol(st)));
    TRY(word(st, "call") && parse_call(st));
    int32_t rel;
    TRY(word(st, "gotol") && target(st, true, &rel) &&
        (emit(st, BPF_JMP32 | BPF_JA, 0, 0, 0, rel), eol(st)));
    TRY(word(st, "goto") && target(st, false, &rel) &&
        (emit(st, BPF_JMP | BPF_JA, 0, 0, (int16_t)rel, 0), eol(st)));
    TRY(word(st, "if") && parse_if(st));
    TRY(word(st, "lock") && parse_lock(st));
    TRY(parse_store(st));
    TRY(lit(st, ".insn") && parse_raw(st));
    TRY(parse_alu(st));
#undef TRY
    st->n = n0;
    st->n_fixups = nf0;
    return false;
}

static bool
add_label(struct asm_state *st, const char *name)
{
    for (size_t i = 0; i < st->n_labels; i++) {
        if (!strcmp(st->labels[i].name, name)) {
            return sem_error(st, "duplicate label");
        }
    }
    if (st->n_labels == st->cap_labels) {
        st->cap_labels = st->cap_labels ? st->cap_labels * 2 : 16;
        st->labels = xrealloc(st->labels, st->cap_labels * sizeof *st->labels);
    }
    struct asm_label *l = &st->labels[st->n_labels++];
    snprintf(l->name, sizeof l->name, "%s", name);
    l->idx = st->n;
    return true;
}

/* Parses one line (comments already removed). */
static bool
parse_line(struct asm_state *st)
{
    skip_ws(st);
    /* Index prefix "12:" and opcode prefix "(b7)" as in verifier logs. */
    const char *q = st->p;
    while (isdigit((unsigned char)*q)) {
        q++;
    }
    if (q != st->p && *q == ':') {
        st->p = q + 1;
        skip_ws(st);
    }
    if (st->p[0] == '(' && isxdigit((unsigned char)st->p[1]) &&
        isxdigit((unsigned char)st->p[2]) && st->p[3] == ')') {
        st->p += 4;
        skip_ws(st);
    }
    /* Labels. */
    q = st->p;
    while ((isalpha((unsigned char)*q) || *q == '_') ||
           (q != st->p && is_ident_char(*q))) {
        q++;
    }
    if (q != st->p) {
        const char *c = q;
        while (*c == ' ' || *c == '\t') {
            c++;
        }
        if (*c == ':') {
            char name[ASM_NAME_LEN];
            if ((size_t)(q - st->p) >= sizeof name) {
                return sem_error(st, "label too long");
            }
            memcpy(name, st->p, q - st->p);
            name[q - st->p] = '\0';
            if (!add_label(st, name)) {
                return false;
            }
            st->p = c + 1;
            skip_ws(st);
        }
    }
    if (!*st->p) {
        return true;
    }
    st->far = st->p;
    st->expect = "instruction";
    return parse_insn(st);
}

static char *
resolve_fixups(struct asm_state *st)
{
    for (size_t i = 0; i < st->n_fixups; i++) {
        const struct asm_fixup *fx = &st->fixups[i];
        size_t j;
        for (j = 0; j < st->n_labels; j++) {
            if (!strcmp(st->labels[j].name, fx->name)) {
                break;
            }
        }
        if (j == st->n_labels) {
            return xasprintf("line %zu, column %zu: undefined label '%s'",
                             fx->line, fx->col, fx->name);
        }
        int64_t rel = (int64_t)st->labels[j].idx - (int64_t)fx->idx - 1;
        if (fx->wide) {
            st->insns[fx->idx].imm = (int32_t)rel;
        } else if (rel < INT16_MIN || rel > INT16_MAX) {
            return xasprintf("line %zu, column %zu: label '%s' is out of "
                             "range of a 16-bit jump (use gotol)",
                             fx->line, fx->col, fx->name);
        } else {
            st->insns[fx->idx].off = (int16_t)rel;
        }
    }
    return NULL;
}

char *
bpf_asm(const char *text, struct bpf_map *const *maps, size_t n_maps,
        struct bpf_insn **insnsp, size_t *np)
{
    struct asm_state st;
    char *err = NULL;

    memset(&st, 0, sizeof st);
    st.maps = maps;
    st.n_maps = n_maps;
    *insnsp = NULL;
    *np = 0;

    const char *s = text;
    while (*s && !err) {
        size_t len = strcspn(s, "\n");
        char *line = xmalloc(len + 1);
        memcpy(line, s, len);
        line[len] = '\0';
        s += len + (s[len] == '\n');
        st.lineno++;

        /* Strip comments. */
        char *c = strchr(line, ';');
        if (c) {
            *c = '\0';
        }
        c = strstr(line, "//");
        if (c) {
            *c = '\0';
        }
        st.line = st.p = st.far = line;
        st.expect = NULL;
        if (!parse_line(&st)) {
            if (st.err) {
                err = st.err;
                st.err = NULL;
            } else {
                err = xasprintf("line %zu, column %zu: expected %s", st.lineno,
                                (size_t)(st.far - line) + 1,
                                st.expect ? st.expect : "instruction");
            }
        }
        free(line);
    }
    if (!err) {
        err = resolve_fixups(&st);
    }
    if (!err && st.n > BPF_MAX_INSNS) {
        err = xasprintf("program has %zu instructions (limit %d)", st.n,
                        BPF_MAX_INSNS);
    }
    free(st.labels);
    free(st.fixups);
    if (err) {
        free(st.insns);
        return err;
    }
    *insnsp = st.insns;
    *np = st.n;
    return NULL;
}
