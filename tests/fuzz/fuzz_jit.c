/* libFuzzer target: the JIT against the interpreter.
 *
 * The input drives a generator of XDP programs that the verifier has a good
 * chance to accept: a bounds check that makes 64 bytes of packet readable,
 * then random operations on four scalar registers (every ALU operation in
 * 32 and 64 bits, signed and unsigned division and modulo by values that
 * may be zero, byte swaps, sign extensions, the rotate idiom), packet and
 * stack loads and stores of every size (sign-extending too; on the stack
 * also through a copy of r10, next to the narrow stores the JIT merges),
 * atomics on the stack and on map values, forward conditional jumps of
 * both widths, hash-map lookups (null-checked, then read, written and
 * atomically updated), updates and deletes, an array map and a BPF-to-BPF
 * call.  The rest of the input is the packet and the initial map
 * contents.
 *
 * Every program the verifier accepts runs once in the interpreter and once
 * in the JIT from the same initial state; any difference in r0, in the
 * packet or in the contents of either map aborts.  Run it with
 *   fuzz_jit -max_total_time=120 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpf/bpf_api.h"
#include "bpf/bpf_int.h"
#include "bpf/jit.h"
#include "bpf/maps.h"
#include "core/log.h"
#include "core/util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define INSN(CODE, DST, SRC, OFF, IMM)                                         \
    ((struct bpf_insn){.code = (CODE),                                         \
                       .dst_reg = (DST),                                       \
                       .src_reg = (SRC),                                       \
                       .off = (OFF),                                           \
                       .imm = (IMM)})
#define MAX_INSNS 512
#define MAX_OPS 48
#define PKT_LEN 64   /* Bytes proven readable by the prologue. */
#define PKT_ROOM 256 /* Buffer around the packet. */
#define HASH_ENTRIES 8
#define ARRAY_ENTRIES 4
#define VALUE_SIZE 16
#define STACK_SLOTS 8 /* 8-byte slots at r10 - 8 .. r10 - 64. */
#define KEY_SLOT -72  /* Map keys are built here. */
#define VALUE_SLOT -96
#define ZERO_SLOT -104

/* Scalars live in r0, r7, r8, r9; r6 is the packet, r1..r5 temporaries. */
static const uint8_t scalars[] = {0, 7, 8, 9};

struct gen {
    const uint8_t *in;
    size_t len, pos;
    struct bpf_insn insns[MAX_INSNS];
    uint32_t n;
    bool overflow;
};

static uint32_t
take(struct gen *g, uint32_t bound)
{
    uint32_t v = 0;
    for (int i = 0; i < 4 && g->pos < g->len; i++) {
        v = v << 8 | g->in[g->pos++];
    }
    return bound ? v % bound : v;
}

static void
put(struct gen *g, struct bpf_insn insn)
{
    if (g->n >= MAX_INSNS) {
        g->overflow = true;
        return;
    }
    g->insns[g->n++] = insn;
}

static uint8_t
scalar(struct gen *g)
{
    return scalars[take(g, ARRAY_SIZE(scalars))];
}

static int32_t
interesting_imm(struct gen *g)
{
    static const int32_t imms[] = {0,  1,   -1,   2,         7,
                                   31, 32,  63,   64,        0x7fffffff,
                                   -8, 255, 1000, INT32_MIN, 0x1234567};
    if (take(g, 2)) {
        return imms[take(g, ARRAY_SIZE(imms))];
    }
    return (int32_t)take(g, 0);
}

static void
ld_map(struct gen *g, uint8_t reg, uint32_t idx)
{
    put(g, INSN(BPF_LD | BPF_DW | BPF_IMM, reg, BPF_PSEUDO_MAP_FD, 0,
                (int32_t)idx));
    put(g, INSN(0, 0, 0, 0, 0));
}

static const uint8_t sizes[] = {BPF_B, BPF_H, BPF_W, BPF_DW};

static int
size_of(uint8_t s)
{
    return s == BPF_B ? 1 : s == BPF_H ? 2 : s == BPF_W ? 4 : 8;
}

/* One random operation.  'depth' limits nesting of jumps. */
static void gen_op(struct gen *g, int depth);

static void
gen_alu(struct gen *g)
{
    static const uint8_t ops[] = {BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV, BPF_OR,
                                  BPF_AND, BPF_LSH, BPF_RSH, BPF_NEG, BPF_MOD,
                                  BPF_XOR, BPF_MOV, BPF_ARSH};
    uint8_t op = ops[take(g, ARRAY_SIZE(ops))];
    uint8_t cls = take(g, 2) ? BPF_ALU64 : BPF_ALU;
    uint8_t dst = scalar(g), src = scalar(g);
    int16_t off = 0;

    if ((op == BPF_DIV || op == BPF_MOD) && take(g, 2)) {
        off = 1;
    }
    if (op == BPF_MOV && take(g, 3) == 0) {
        static const int16_t w[] = {8, 16, 32};
        off = w[take(g, cls == BPF_ALU64 ? 3 : 2)];
        put(g, INSN(cls | op | BPF_X, dst, src, off, 0));
        return;
    }
    if (op == BPF_NEG) {
        put(g, INSN(cls | op | BPF_K, dst, 0, 0, 0));
        return;
    }
    if (op == BPF_LSH || op == BPF_RSH || op == BPF_ARSH) {
        if (take(g, 2)) {
            put(g, INSN(cls | op | BPF_K, dst, 0, 0,
                        (int32_t)take(g, cls == BPF_ALU64 ? 64 : 32)));
            return;
        }
    }
    if (take(g, 2)) {
        put(g, INSN(cls | op | BPF_X, dst, src, off, 0));
    } else {
        put(g, INSN(cls | op | BPF_K, dst, 0, off, interesting_imm(g)));
    }
}

static void
gen_swap(struct gen *g)
{
    static const int32_t widths[] = {16, 32, 64};
    uint8_t code = take(g, 3) == 0 ? (BPF_ALU64 | BPF_END | BPF_TO_LE)
                   : take(g, 2)    ? (BPF_ALU | BPF_END | BPF_TO_BE)
                                   : (BPF_ALU | BPF_END | BPF_TO_LE);
    put(g, INSN(code, scalar(g), 0, 0, widths[take(g, 3)]));
}

/* The rotate idiom the JIT recognises: d = x; d <<= k; s = x; s >>= W-k;
 * d |= s, sometimes with counts that do not add up. */
static void
gen_rotate(struct gen *g)
{
    uint8_t cls = take(g, 2) ? BPF_ALU64 : BPF_ALU;
    int32_t width = cls == BPF_ALU64 ? 64 : 32;
    uint8_t x = scalar(g), s = scalar(g), d = scalar(g);
    int32_t k = 1 + (int32_t)take(g, (uint32_t)width - 1);
    int32_t k2 = width - k - (take(g, 8) == 0);
    uint8_t first = take(g, 2) ? BPF_LSH : BPF_RSH;
    uint8_t second = first == BPF_LSH ? BPF_RSH : BPF_LSH;

    put(g, INSN(cls | BPF_MOV | BPF_X, s, x, 0, 0));
    put(g, INSN(cls | first | BPF_K, s, 0, 0, k));
    put(g, INSN(cls | BPF_MOV | BPF_X, d, x, 0, 0));
    put(g, INSN(cls | second | BPF_K, d, 0, 0, k2 > 0 ? k2 : 1));
    put(g, INSN(cls | BPF_OR | BPF_X, d, s, 0, 0));
}

static void
gen_packet(struct gen *g)
{
    uint8_t s = sizes[take(g, 4)];
    int16_t off = (int16_t)take(g, PKT_LEN - size_of(s) + 1);
    switch (take(g, 4)) {
    case 0:
        put(g, INSN(BPF_LDX | BPF_MEM | s, scalar(g), 6, off, 0));
        break;
    case 1:
        if (s != BPF_DW) {
            put(g, INSN(BPF_LDX | 0x80 | s, scalar(g), 6, off, 0));
            break;
        }
        /* fall through */
    case 2:
        put(g, INSN(BPF_STX | BPF_MEM | s, 6, scalar(g), off, 0));
        break;
    default:
        put(g, INSN(BPF_ST | BPF_MEM | s, 6, 0, off, interesting_imm(g)));
        break;
    }
}

static void
gen_stack(struct gen *g)
{
    int16_t slot = (int16_t)(-8 * (1 + (int)take(g, STACK_SLOTS)));
    uint8_t s = sizes[take(g, 4)];
    /* An offset in the slot aligned to the access size. */
    int16_t off = (int16_t)(slot + size_of(s) * (int)take(g, 8 / size_of(s)));
    switch (take(g, 8)) {
    case 0:
        /* Slots are all written by the prologue, so any read is
         * initialised. */
        put(g, INSN(BPF_LDX | BPF_MEM | s, scalar(g), 10, off, 0));
        break;
    case 1:
        put(g, INSN(BPF_STX | BPF_MEM | BPF_DW, 10, scalar(g), slot, 0));
        break;
    case 2:
        put(g,
            INSN(BPF_ST | BPF_MEM | BPF_DW, 10, 0, slot, interesting_imm(g)));
        break;
    case 3:
        /* Narrow stores, which the JIT merges when a run of them fills
         * a slot. */
        put(g, INSN(BPF_STX | BPF_MEM | s, 10, scalar(g), off, 0));
        break;
    case 4:
        put(g, INSN(BPF_ST | BPF_MEM | s, 10, 0, off, interesting_imm(g)));
        break;
    case 6: {
        /* A slot filled field by field, as programs build map keys (the
         * JIT writes it as one store), fields in any order, maybe with
         * another operation in between. */
        static const uint8_t splits[][4] = {
            {4, 4}, {2, 2, 4}, {4, 2, 2}, {1, 1, 2, 4}, {2, 2, 2, 2}, {2, 1, 1},
        };
        const uint8_t *sp = splits[take(g, ARRAY_SIZE(splits))];
        int16_t pos[4], n = 0, at = 0;
        uint8_t sz[4];
        for (; n < 4 && sp[n]; n++) {
            pos[n] = at;
            sz[n] = sp[n];
            at = (int16_t)(at + sp[n]);
        }
        int16_t base = at == 4 ? (int16_t)(slot + 4 * (int)take(g, 2)) : slot;
        uint32_t rot = take(g, (uint32_t)n), mid = take(g, (uint32_t)n + 2);
        for (int k = 0; k < n; k++) {
            int f = (k + (int)rot) % n;
            uint8_t fs = sz[f] == 1 ? BPF_B : sz[f] == 2 ? BPF_H : BPF_W;
            if (k == (int)mid) {
                gen_stack(g);
            }
            if (take(g, 4)) {
                put(g, INSN(BPF_STX | BPF_MEM | fs, 10, scalar(g),
                            base + pos[f], 0));
            } else {
                put(g, INSN(BPF_ST | BPF_MEM | fs, 10, 0, base + pos[f],
                            interesting_imm(g)));
            }
        }
        break;
    }
    case 5:
        /* The same through a copy of r10 (r5), which must keep merged
         * stores apart. */
        put(g, INSN(BPF_ALU64 | BPF_MOV | BPF_X, 5, 10, 0, 0));
        put(g, INSN(BPF_ALU64 | BPF_ADD | BPF_K, 5, 0, 0, slot));
        if (take(g, 2)) {
            put(g, INSN(BPF_LDX | BPF_MEM | s, scalar(g), 5, off - slot, 0));
        } else {
            put(g, INSN(BPF_STX | BPF_MEM | s, 5, scalar(g), off - slot, 0));
        }
        break;
    default: {
        static const int32_t aops[] = {
            BPF_ADD,  BPF_ADD | BPF_FETCH, BPF_OR,  BPF_OR | BPF_FETCH,
            BPF_AND,  BPF_AND | BPF_FETCH, BPF_XOR, BPF_XOR | BPF_FETCH,
            BPF_XCHG, BPF_CMPXCHG,
        };
        uint8_t src = scalar(g);
        int32_t aop = aops[take(g, ARRAY_SIZE(aops))];
        if (aop == BPF_CMPXCHG && src == 0) {
            src = 7;
        }
        put(g, INSN(BPF_STX | BPF_ATOMIC | (take(g, 2) ? BPF_DW : BPF_W), 10,
                    src, slot, aop));
        break;
    }
    }
}

/* key = scalar & 15 (so lookups both hit and miss), at KEY_SLOT. */
static void
gen_key(struct gen *g)
{
    put(g, INSN(BPF_ALU64 | BPF_MOV | BPF_X, 1, scalar(g), 0, 0));
    put(g, INSN(BPF_ALU64 | BPF_AND | BPF_K, 1, 0, 0, 15));
    put(g, INSN(BPF_STX | BPF_MEM | BPF_W, 10, 1, KEY_SLOT, 0));
}

static void
gen_map(struct gen *g)
{
    uint32_t map = take(g, 2); /* 0 hash, 1 array */
    switch (take(g, 3)) {
    case 0: {
        /* Lookup; on a hit read, write and atomically add to the value. */
        gen_key(g);
        ld_map(g, 1, map);
        put(g, INSN(BPF_ALU64 | BPF_MOV | BPF_X, 2, 10, 0, 0));
        put(g, INSN(BPF_ALU64 | BPF_ADD | BPF_K, 2, 0, 0, KEY_SLOT));
        put(g, INSN(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_map_lookup_elem));
        put(g, INSN(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 4, 0));
        uint8_t s = sizes[take(g, 4)];
        int16_t off = (int16_t)take(g, VALUE_SIZE - 8 + 1) & ~7;
        put(g, INSN(BPF_LDX | BPF_MEM | s, 7, 0, off, 0));
        put(g, INSN(BPF_STX | BPF_MEM | s, 0, 8, (int16_t)(8 - off), 0));
        put(g, INSN(BPF_ALU64 | BPF_MOV | BPF_K, 1, 0, 0, 3));
        put(g, INSN(BPF_STX | BPF_ATOMIC | BPF_DW, 0, 1, off,
                    take(g, 2) ? BPF_ADD : (BPF_XOR | BPF_FETCH)));
        put(g,
            INSN(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, (int32_t)take(g, 100)));
        break;
    }
    case 1:
        /* Update with a value built from two scalars. */
        gen_key(g);
        put(g, INSN(BPF_STX | BPF_MEM | BPF_DW, 10, scalar(g), VALUE_SLOT, 0));
        put(g,
            INSN(BPF_STX | BPF_MEM | BPF_DW, 10, scalar(g), VALUE_SLOT + 8, 0));
        ld_map(g, 1, map);
        put(g, INSN(BPF_ALU64 | BPF_MOV | BPF_X, 2, 10, 0, 0));
        put(g, INSN(BPF_ALU64 | BPF_ADD | BPF_K, 2, 0, 0, KEY_SLOT));
        put(g, INSN(BPF_ALU64 | BPF_MOV | BPF_X, 3, 10, 0, 0));
        put(g, INSN(BPF_ALU64 | BPF_ADD | BPF_K, 3, 0, 0, VALUE_SLOT));
        put(g, INSN(BPF_ALU64 | BPF_MOV | BPF_K, 4, 0, 0, (int32_t)take(g, 3)));
        put(g, INSN(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_map_update_elem));
        break;
    default:
        gen_key(g);
        ld_map(g, 1, 0);
        put(g, INSN(BPF_ALU64 | BPF_MOV | BPF_X, 2, 10, 0, 0));
        put(g, INSN(BPF_ALU64 | BPF_ADD | BPF_K, 2, 0, 0, KEY_SLOT));
        put(g, INSN(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_map_delete_elem));
        break;
    }
}

/* if (cond) skip the next few operations. */
static void
gen_jump(struct gen *g, int depth)
{
    static const uint8_t ops[] = {BPF_JEQ, BPF_JGT,  BPF_JGE,  BPF_JSET,
                                  BPF_JNE, BPF_JSGT, BPF_JSGE, BPF_JLT,
                                  BPF_JLE, BPF_JSLT, BPF_JSLE};
    uint8_t cls = take(g, 2) ? BPF_JMP : BPF_JMP32;
    uint8_t op = ops[take(g, ARRAY_SIZE(ops))];
    uint32_t at = g->n;
    if (take(g, 2)) {
        put(g, INSN(cls | op | BPF_X, scalar(g), scalar(g), 0, 0));
    } else {
        put(g, INSN(cls | op | BPF_K, scalar(g), 0, 0, interesting_imm(g)));
    }
    uint32_t n_ops = 1 + take(g, 3);
    for (uint32_t i = 0; i < n_ops && !g->overflow; i++) {
        gen_op(g, depth + 1);
    }
    if (!g->overflow) {
        g->insns[at].off = (int16_t)(g->n - at - 1);
    }
}

static void
gen_op(struct gen *g, int depth)
{
    switch (take(g, depth > 2 ? 6 : 8)) {
    case 0:
    case 1:
    case 2:
        gen_alu(g);
        break;
    case 3:
        if (take(g, 2)) {
            gen_swap(g);
        } else {
            gen_rotate(g);
        }
        break;
    case 4:
        gen_packet(g);
        break;
    case 5:
        gen_stack(g);
        break;
    case 6:
        gen_map(g);
        break;
    default:
        gen_jump(g, depth);
        break;
    }
}

/* The whole program; returns its length or 0. */
static uint32_t
gen_prog(struct gen *g)
{
    /* r6 = data; if (data + 64 > data_end) return 1; */
    put(g, INSN(BPF_LDX | BPF_MEM | BPF_W, 6, 1, 0, 0));
    put(g, INSN(BPF_LDX | BPF_MEM | BPF_W, 2, 1, 4, 0));
    put(g, INSN(BPF_ALU64 | BPF_MOV | BPF_X, 3, 6, 0, 0));
    put(g, INSN(BPF_ALU64 | BPF_ADD | BPF_K, 3, 0, 0, PKT_LEN));
    put(g, INSN(BPF_JMP | BPF_JLE | BPF_X, 3, 2, 2, 0));
    put(g, INSN(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 1));
    put(g, INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
    /* Scalars from the packet or constants; stack slots initialised. */
    for (size_t i = 0; i < ARRAY_SIZE(scalars); i++) {
        if (take(g, 2)) {
            put(g, INSN(BPF_LDX | BPF_MEM | BPF_DW, scalars[i], 6,
                        (int16_t)(8 * take(g, PKT_LEN / 8)), 0));
        } else {
            put(g, INSN(BPF_ALU64 | BPF_MOV | BPF_K, scalars[i], 0, 0,
                        interesting_imm(g)));
        }
    }
    for (int s = 1; s <= 13; s++) {
        put(g, INSN(BPF_STX | BPF_MEM | BPF_DW, 10, scalars[s % 4],
                    (int16_t)(-8 * s), 0));
    }
    uint32_t n_ops = 1 + take(g, MAX_OPS);
    bool call = take(g, 4) == 0;
    for (uint32_t i = 0; i < n_ops && !g->overflow; i++) {
        gen_op(g, 0);
    }
    uint32_t call_at = g->n;
    if (call) {
        /* r0 = f(r7, r8): a subprogram with its own stack. */
        put(g, INSN(BPF_ALU64 | BPF_MOV | BPF_X, 1, 7, 0, 0));
        put(g, INSN(BPF_ALU64 | BPF_MOV | BPF_X, 2, 8, 0, 0));
        put(g, INSN(BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_CALL, 0, 0));
        put(g, INSN(BPF_ALU64 | BPF_ADD | BPF_X, 0, 9, 0, 0));
    }
    /* r0 ^= r7 ^ r8 ^ r9, so that every scalar shows in the result. */
    for (int r = 7; r <= 9; r++) {
        put(g, INSN(BPF_ALU64 | BPF_XOR | BPF_X, 0, (uint8_t)r, 0, 0));
    }
    put(g, INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
    if (call) {
        g->insns[call_at + 2].imm = (int32_t)(g->n - (call_at + 2) - 1);
        put(g, INSN(BPF_STX | BPF_MEM | BPF_DW, 10, 1, -8, 0));
        put(g, INSN(BPF_ALU64 | BPF_MOV | BPF_X, 0, 2, 0, 0));
        put(g, INSN(BPF_ALU64 | BPF_MUL | BPF_K, 0, 0, 0, 31));
        put(g, INSN(BPF_LDX | BPF_MEM | BPF_DW, 1, 10, -8, 0));
        put(g, INSN(BPF_ALU64 | BPF_ADD | BPF_X, 0, 1, 0, 0));
        put(g, INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
    }
    return g->overflow ? 0 : g->n;
}

struct state {
    uint8_t buf[PKT_ROOM];
    uint64_t r0;
    uint8_t hash[HASH_ENTRIES * 2][4 + VALUE_SIZE]; /* Sorted dump. */
    size_t n_hash;
    uint8_t array[ARRAY_ENTRIES][VALUE_SIZE];
};

static int
cmp_entry(const void *a, const void *b)
{
    return memcmp(a, b, 4 + VALUE_SIZE);
}

static void
snapshot(struct bpf_map *hash, struct bpf_map *array, struct state *s)
{
    uint32_t key, next;
    const uint32_t *prev = NULL;

    s->n_hash = 0;
    while (s->n_hash < ARRAY_SIZE(s->hash) &&
           bpf_map_next_key(hash, prev, &next) == 0) {
        memcpy(s->hash[s->n_hash], &next, 4);
        if (bpf_map_lookup(hash, &next, s->hash[s->n_hash] + 4)) {
            abort();
        }
        s->n_hash++;
        key = next;
        prev = &key;
    }
    qsort(s->hash, s->n_hash, sizeof s->hash[0], cmp_entry);
    for (uint32_t i = 0; i < ARRAY_ENTRIES; i++) {
        if (bpf_map_lookup(array, &i, s->array[i])) {
            abort();
        }
    }
}

static void
reset_maps(struct bpf_map *hash, struct bpf_map *array, const uint8_t *init)
{
    uint32_t key;
    while (bpf_map_next_key(hash, NULL, &key) == 0) {
        bpf_map_delete(hash, &key);
    }
    for (uint32_t i = 0; i < HASH_ENTRIES / 2; i++) {
        key = init[i] & 15;
        bpf_map_update(hash, &key, init + 8 + i * VALUE_SIZE, BPF_ANY);
    }
    for (uint32_t i = 0; i < ARRAY_ENTRIES; i++) {
        bpf_map_update(array, &i, init + 100 + i * VALUE_SIZE, BPF_ANY);
    }
}

static struct bpf_map *
new_map(const char *name, uint32_t type, uint32_t max_entries)
{
    struct bpf_map *m = xzalloc(sizeof *m);
    snprintf(m->name, sizeof m->name, "%s", name);
    m->type = type;
    m->key_size = 4;
    m->value_size = VALUE_SIZE;
    m->max_entries = max_entries;
    m->map_flags = type == BPF_MAP_TYPE_HASH ? BPF_F_ZERO_SEED : 0;
    if (bpf_map_create_internal(m)) {
        abort();
    }
    return m;
}

/* How many generated programs the verifier accepted (printed at exit when
 * FUZZ_JIT_STATS is set, to keep the generator honest). */
static uint64_t n_generated, n_accepted;

static void
print_stats(void)
{
    fprintf(stderr, "fuzz_jit: %llu of %llu programs accepted and compared\n",
            (unsigned long long)n_accepted, (unsigned long long)n_generated);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    log_set_level_all(LOG_LEVEL_OFF);
    if (getenv("FUZZ_JIT_STATS")) {
        atexit(print_stats);
    }
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct bpf_map *hash, *array;
    uint8_t init[PKT_ROOM + 200];
    struct gen *g = xzalloc(sizeof *g);

    if (!hash) {
        hash = new_map("hash", BPF_MAP_TYPE_HASH, HASH_ENTRIES);
        array = new_map("array", BPF_MAP_TYPE_ARRAY, ARRAY_ENTRIES);
    }
    /* The tail of the input is the packet and the maps' contents. */
    memset(init, 0, sizeof init);
    size_t tail = MIN(size, sizeof init);
    memcpy(init, data + size - tail, tail);
    g->in = data;
    g->len = size - tail / 2;

    uint32_t n = gen_prog(g);
    struct bpf_map *maps[] = {hash, array};
    struct bpf_prog prog = {.name = "fuzz",
                            .kind = BPF_PROG_KIND_XDP,
                            .insns = g->insns,
                            .n_insns = n,
                            .maps = maps,
                            .n_maps = 2};
    struct bpf_verify_result res;
    memset(&res, 0, sizeof res);
    n_generated++;
    if (!n || bpf_prog_verify(&prog, &res) || !res.accepted) {
        bpf_verify_result_destroy(&res);
        free(prog.xlated);
        free(g);
        return 0;
    }

    n_accepted++;
    struct state *st = xzalloc(2 * sizeof *st);
    for (int mode = 0; mode < 2; mode++) {
        struct state *s = &st[mode];
        uint32_t pkt_len = PKT_LEN + (init[0] & 63);
        memcpy(s->buf, init + 200, sizeof s->buf - 200);
        struct bpf_xdp_buff xdp = {
            .data_hard_start = (uintptr_t)s->buf,
            .data = (uintptr_t)(s->buf + 64),
            .data_meta = (uintptr_t)(s->buf + 64),
            .data_end = (uintptr_t)(s->buf + 64 + pkt_len),
            .frame_end = (uintptr_t)(s->buf + sizeof s->buf),
        };
        reset_maps(hash, array, init);
        bpf_prog_set_exec_mode(&prog, mode ? BPF_EXEC_JIT : BPF_EXEC_INTERP);
        bpf_set_time_ns(1000);
        s->r0 = bpf_prog_run_xdp(&prog, &xdp);
        snapshot(hash, array, s);
    }
    if (!prog.jit) {
        abort(); /* Every verified program must translate. */
    }
    if (st[0].r0 != st[1].r0 || memcmp(st[0].buf, st[1].buf, PKT_ROOM) ||
        st[0].n_hash != st[1].n_hash ||
        memcmp(st[0].hash, st[1].hash, sizeof st[0].hash) ||
        memcmp(st[0].array, st[1].array, sizeof st[0].array)) {
        fprintf(stderr, "JIT and interpreter differ: r0 0x%llx vs 0x%llx\n",
                (unsigned long long)st[0].r0, (unsigned long long)st[1].r0);
        abort();
    }
    bpf_jit_free(&prog);
    bpf_verify_result_destroy(&res);
    free(prog.xlated);
    free(st);
    free(g);
    return 0;
}
