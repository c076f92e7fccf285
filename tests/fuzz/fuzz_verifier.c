/* libFuzzer target: the verifier's soundness.
 *
 * The input drives a generator of XDP programs made to sit near the
 * verifier's boundaries rather than safely inside them: packet bounds
 * checks with random lengths in random orientations followed by loads and
 * stores at random offsets, stack accesses around [-512, 0), map lookups
 * with and without null checks followed by accesses at random offsets,
 * pointer arithmetic with random scalars, spills and fills of pointers,
 * counted loops (sometimes counted by an unknown value), forward jumps,
 * BPF-to-BPF calls, helper calls, and now and then a completely random
 * instruction.  The tail of the input is the packets and map contents.
 *
 * Every program the verifier accepts runs in the interpreter on three
 * packets of different lengths.  Under AddressSanitizer an out-of-bounds
 * access is a crash, and a loop the verifier wrongly proved bounded is a
 * libFuzzer timeout: either is a verifier bug.  Run it with
 *   fuzz_verifier -max_total_time=120 -timeout=10
 * FUZZ_VERIFIER_STATS=1 prints how many programs were accepted. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpf/bpf_api.h"
#include "bpf/bpf_int.h"
#include "bpf/maps.h"
#include "bpf/verifier.h"
#include "core/log.h"
#include "core/util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define I(CODE, DST, SRC, OFF, IMM)                                       \
    ((struct bpf_insn) { .code = (CODE), .dst_reg = (DST),                \
                         .src_reg = (SRC), .off = (OFF), .imm = (IMM) })
#define MAX_INSNS 400
#define MAX_OPS 40
#define MAX_FIXUPS 64
#define VALUE_SIZE 16

struct gen {
    const uint8_t *in;
    size_t len, pos;
    struct bpf_insn insns[MAX_INSNS];
    uint32_t n;
    uint32_t fix_at[MAX_FIXUPS];    /* Jumps to resolve ... */
    uint32_t fix_op[MAX_FIXUPS];    /* ... to the start of this op. */
    uint32_t n_fix;
    uint32_t op_start[MAX_OPS + 2];
    bool calls_sub;                 /* The subprogram is called. */
};

static uint32_t
byte(struct gen *g)
{
    return g->pos < g->len ? g->in[g->pos++] : 0;
}

static void
emit(struct gen *g, struct bpf_insn insn)
{
    if (g->n < MAX_INSNS) {
        g->insns[g->n++] = insn;
    }
}

/* A forward jump to the start of op 'op' (resolved at the end). */
static void
emit_fwd(struct gen *g, struct bpf_insn insn, uint32_t op)
{
    if (g->n_fix < MAX_FIXUPS && g->n < MAX_INSNS) {
        g->fix_at[g->n_fix] = g->n;
        g->fix_op[g->n_fix++] = op;
    }
    emit(g, insn);
}

static const uint8_t sizes[] = { BPF_B, BPF_H, BPF_W, BPF_DW };
static const uint8_t alu_ops[] = { BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV,
                                   BPF_OR, BPF_AND, BPF_LSH, BPF_RSH,
                                   BPF_NEG, BPF_MOD, BPF_XOR, BPF_MOV,
                                   BPF_ARSH };
static const uint8_t jmp_ops[] = { BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET,
                                   BPF_JNE, BPF_JSGT, BPF_JSGE, BPF_JLT,
                                   BPF_JLE, BPF_JSLT, BPF_JSLE };
static const int32_t helpers[] = {
    BPF_FUNC_map_lookup_elem, BPF_FUNC_map_update_elem,
    BPF_FUNC_map_delete_elem, BPF_FUNC_ktime_get_ns,
    BPF_FUNC_get_prandom_u32, BPF_FUNC_csum_diff,
    BPF_FUNC_xdp_adjust_head, BPF_FUNC_xdp_adjust_tail,
    BPF_FUNC_redirect, BPF_FUNC_jiffies64,
};

/* Scalar working registers; r6 = ctx, r7 = data, r8 = data_end. */
static uint8_t
sreg(struct gen *g)
{
    static const uint8_t regs[] = { 0, 1, 2, 3, 4, 5, 9 };
    return regs[byte(g) % sizeof regs];
}

/* r1-r5 and r9 get scalars: constants or the ingress port. */
static void
init_scratch(struct gen *g)
{
    static const uint8_t regs[] = { 1, 2, 3, 4, 5, 9 };
    for (size_t i = 0; i < sizeof regs; i++) {
        if (byte(g) & 1) {
            emit(g, I(BPF_LDX | BPF_MEM | BPF_W, regs[i], 6, 12, 0));
        } else {
            emit(g, I(BPF_ALU64 | BPF_MOV | BPF_K, regs[i], 0, 0,
                      (int8_t) byte(g)));
        }
    }
}

static void
gen_op(struct gen *g, uint32_t op, uint32_t n_ops)
{
    uint32_t kind = byte(g) % 16;
    uint8_t r = sreg(g);
    uint8_t sz = sizes[byte(g) % 4];
    int16_t off = (int16_t) ((int8_t) byte(g));
    switch (kind) {
    case 0:
    case 1: {
        uint8_t aop = alu_ops[byte(g) % sizeof alu_ops];
        bool x = byte(g) & 1;
        uint8_t cls = byte(g) & 1 ? BPF_ALU64 : BPF_ALU;
        int32_t imm = (int8_t) byte(g);
        if (aop == BPF_LSH || aop == BPF_RSH || aop == BPF_ARSH) {
            imm &= cls == BPF_ALU64 ? 63 : 31;
        }
        emit(g, I(cls | aop | (x && aop != BPF_NEG ? BPF_X : BPF_K), r,
                  x && aop != BPF_NEG ? sreg(g) : 0, 0,
                  x || aop == BPF_NEG ? 0 : imm));
        break;
    }
    case 2:
        /* Bounds check: r2 = data + n; compare with data_end in one of
         * four orientations, skipping to a later op when out of bounds. */
        emit(g, I(BPF_ALU64 | BPF_MOV | BPF_X, 2, 7, 0, 0));
        emit(g, I(BPF_ALU64 | BPF_ADD | BPF_K, 2, 0, 0, byte(g) % 80));
        switch (byte(g) % 4) {
        case 0:
            emit_fwd(g, I(BPF_JMP | BPF_JGT | BPF_X, 2, 8, 0, 0), n_ops);
            break;
        case 1:
            emit_fwd(g, I(BPF_JMP | BPF_JLT | BPF_X, 8, 2, 0, 0), n_ops);
            break;
        case 2:
            emit_fwd(g, I(BPF_JMP | BPF_JGE | BPF_X, 2, 8, 0, 0), n_ops);
            break;
        default:
            emit_fwd(g, I(BPF_JMP | BPF_JLE | BPF_X, 8, 2, 0, 0), n_ops);
            break;
        }
        /* An access near the proven length, sometimes past it. */
        emit(g, I((byte(g) & 1 ? BPF_LDX : BPF_STX) | BPF_MEM | sz,
                  byte(g) & 1 ? 7 : r, byte(g) & 1 ? 7 : r,
                  (int16_t) (byte(g) % 84) - 2, 0));
        /* A load leaves r7 alone; a store's base must be r7. */
        {
            struct bpf_insn *a = &g->insns[g->n - 1];
            if (BPF_CLASS(a->code) == BPF_LDX) {
                a->dst_reg = r;
                a->src_reg = 7;
            } else {
                a->dst_reg = 7;
                a->src_reg = r;
            }
        }
        break;
    case 3:
        emit(g, I(BPF_LDX | BPF_MEM | sz, r, 7, off % 70, 0));
        break;
    case 4:
        emit(g, I(BPF_STX | BPF_MEM | sz, 7, sreg(g), off % 70, 0));
        break;
    case 5:
        emit(g, I(BPF_ST | BPF_MEM | sz, 10, 0, -(int16_t) (byte(g) * 2 + 1)
                  + (int16_t) (byte(g) % 8), (int8_t) byte(g)));
        break;
    case 6:
        emit(g, I(BPF_LDX | BPF_MEM | sz, r, 10,
                  -(int16_t) (byte(g) * 2 + 1) + (int16_t) (byte(g) % 8), 0));
        break;
    case 7: {
        /* Map lookup with the key at fp-8, maybe null-checked, then an
         * access at a random offset of the value. */
        uint32_t m = byte(g) & 1;
        emit(g, I(BPF_ST | BPF_MEM | BPF_W, 10, 0, -8, byte(g) % 6));
        emit(g, I(BPF_ALU64 | BPF_MOV | BPF_X, 2, 10, 0, 0));
        emit(g, I(BPF_ALU64 | BPF_ADD | BPF_K, 2, 0, 0, -8));
        emit(g, I(BPF_LD | BPF_IMM | BPF_DW, 1, BPF_PSEUDO_MAP_FD, 0, m));
        emit(g, I(0, 0, 0, 0, 0));
        emit(g, I(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_map_lookup_elem));
        if (byte(g) % 8) {
            emit_fwd(g, I(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 0, 0), n_ops);
        }
        if (byte(g) & 1) {
            emit(g, I(BPF_STX | BPF_MEM | sz, 0, sreg(g), off % 20, 0));
        } else {
            emit(g, I(BPF_LDX | BPF_MEM | sz, 9, 0, off % 20, 0));
        }
        emit(g, I(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0));
        break;
    }
    case 8: {
        uint8_t jop = jmp_ops[byte(g) % sizeof jmp_ops];
        uint8_t cls = byte(g) & 1 ? BPF_JMP : BPF_JMP32;
        uint32_t to = op + 1 + byte(g) % 3;
        if (byte(g) & 1) {
            emit_fwd(g, I(cls | jop | BPF_X, r, sreg(g), 0, 0),
                     to < n_ops ? to : n_ops);
        } else {
            emit_fwd(g, I(cls | jop | BPF_K, r, 0, 0, (int8_t) byte(g)),
                     to < n_ops ? to : n_ops);
        }
        break;
    }
    case 9: {
        /* A counted loop: r9 = 0; body; r9 += step; if r9 < k goto body.
         * Sometimes the bound is an unknown register. */
        uint32_t k = byte(g) % 24;
        uint32_t step = 1 + byte(g) % 3;
        if (byte(g) % 64 == 0) {
            step = 0;           /* Never ends: must be rejected. */
        }
        emit(g, I(BPF_ALU64 | BPF_MOV | BPF_K, 9, 0, 0, 0));
        emit(g, I(BPF_ALU64 | BPF_ADD | BPF_K, 0, 0, 0, 3));
        emit(g, I(BPF_ALU64 | BPF_ADD | BPF_K, 9, 0, 0, step));
        if (byte(g) % 32) {
            emit(g, I(BPF_JMP | BPF_JLT | BPF_K, 9, 0, -3, k));
        } else {
            emit(g, I(BPF_JMP | BPF_JLT | BPF_X, 9, r, -3, 0));
        }
        break;
    }
    case 10:
        /* Pointer arithmetic with a scalar, then an access. */
        emit(g, I(BPF_ALU64 | BPF_MOV | BPF_X, 2, byte(g) & 1 ? 7 : 10, 0, 0));
        emit(g, I(BPF_ALU64 | (byte(g) & 1 ? BPF_ADD : BPF_SUB) | BPF_X, 2, r,
                  0, 0));
        emit(g, I(BPF_LDX | BPF_MEM | sz, 3, 2, off, 0));
        break;
    case 11:
        /* Spill and fill a pointer, maybe partially overwritten. */
        emit(g, I(BPF_STX | BPF_MEM | BPF_DW, 10, byte(g) & 1 ? 7 : 8, -16,
                  0));
        if (byte(g) % 4 == 0) {
            emit(g, I(BPF_ST | BPF_MEM | BPF_B, 10, 0, -16 + byte(g) % 8, 0));
        }
        emit(g, I(BPF_LDX | BPF_MEM | BPF_DW, 7, 10, -16, 0));
        break;
    case 12: {
        /* A helper with arguments from the working registers. */
        int32_t id = helpers[byte(g) % ARRAY_SIZE(helpers)];
        for (uint8_t a = 1; a <= 5; a++) {
            uint32_t how = byte(g) % 4;
            if (how == 0) {
                emit(g, I(BPF_ALU64 | BPF_MOV | BPF_X, a, 6, 0, 0));
            } else if (how == 1) {
                emit(g, I(BPF_ALU64 | BPF_MOV | BPF_X, a, 10, 0, 0));
                emit(g, I(BPF_ALU64 | BPF_ADD | BPF_K, a, 0, 0,
                          -(int32_t) (byte(g) % 64)));
            } else if (how == 2) {
                emit(g, I(BPF_ALU64 | BPF_MOV | BPF_X, a, 7, 0, 0));
            } else {
                emit(g, I(BPF_ALU64 | BPF_MOV | BPF_K, a, 0, 0,
                          byte(g) % 40));
            }
        }
        emit(g, I(BPF_JMP | BPF_CALL, 0, 0, 0, id));
        /* Packet pointers may be stale now: reload them. */
        emit(g, I(BPF_LDX | BPF_MEM | BPF_W, 7, 6, 0, 0));
        emit(g, I(BPF_LDX | BPF_MEM | BPF_W, 8, 6, 4, 0));
        init_scratch(g);
        break;
    }
    case 13: {
        /* A completely random instruction. */
        struct bpf_insn x;
        uint8_t raw[8];
        for (int b = 0; b < 8; b++) {
            raw[b] = (uint8_t) byte(g);
        }
        memcpy(&x, raw, sizeof x);
        emit(g, x);
        break;
    }
    case 14:
        emit(g, I(BPF_STX | BPF_ATOMIC | (byte(g) & 1 ? BPF_DW : BPF_W), 10,
                  sreg(g), -8 * (int16_t) (1 + byte(g) % 4),
                  byte(g) & 1 ? BPF_ADD : BPF_ADD | BPF_FETCH));
        break;
    default:
        /* A call of the subprogram at the end, with r1 pointing into
         * the stack or the packet. */
        if (byte(g) & 1) {
            emit(g, I(BPF_ALU64 | BPF_MOV | BPF_X, 1, 7, 0, 0));
            emit(g, I(BPF_ALU64 | BPF_ADD | BPF_K, 1, 0, 0, byte(g) % 8));
        } else {
            emit(g, I(BPF_ST | BPF_MEM | BPF_DW, 10, 0, -24, 1));
            emit(g, I(BPF_ALU64 | BPF_MOV | BPF_X, 1, 10, 0, 0));
            emit(g, I(BPF_ALU64 | BPF_ADD | BPF_K, 1, 0, 0,
                      -(int32_t) (byte(g) % 40)));
        }
        /* UINT32_MAX: the subprogram. */
        emit_fwd(g, I(BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_CALL, 0, 0),
                 UINT32_MAX);
        g->calls_sub = true;
        init_scratch(g);
        break;
    }
}

/* Returns the number of instructions, 0 if the program did not fit. */
static uint32_t
gen_prog(struct gen *g)
{
    uint32_t n_ops = 1 + byte(g) % MAX_OPS;
    emit(g, I(BPF_ALU64 | BPF_MOV | BPF_X, 6, 1, 0, 0));
    emit(g, I(BPF_LDX | BPF_MEM | BPF_W, 7, 6, 0, 0));
    emit(g, I(BPF_LDX | BPF_MEM | BPF_W, 8, 6, 4, 0));
    emit(g, I(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0));
    init_scratch(g);
    for (uint32_t op = 0; op < n_ops; op++) {
        g->op_start[op] = g->n;
        gen_op(g, op, n_ops);
    }
    g->op_start[n_ops] = g->n;
    emit(g, I(BPF_ALU64 | BPF_AND | BPF_K, 0, 0, 0, 3));
    emit(g, I(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
    /* The subprogram: reads a byte through r1 if it is a checked packet
     * pointer or the stack, as the verifier decides. */
    uint32_t sub = g->n;
    if (g->calls_sub) {
        emit(g, I(BPF_LDX | BPF_MEM | BPF_B, 0, 1, 0, 0));
        emit(g, I(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
    }
    if (g->n >= MAX_INSNS) {
        return 0;
    }
    for (uint32_t f = 0; f < g->n_fix; f++) {
        struct bpf_insn *j = &g->insns[g->fix_at[f]];
        uint32_t to = g->fix_op[f] == UINT32_MAX ? sub
                                                 : g->op_start[g->fix_op[f]];
        int32_t rel = (int32_t) to - (int32_t) g->fix_at[f] - 1;
        if (BPF_OP(j->code) == BPF_CALL) {
            j->imm = rel;
        } else {
            j->off = (int16_t) rel;
        }
    }
    return g->n;
}

static struct bpf_map *
new_map(const char *name, uint32_t type)
{
    struct bpf_map *m = xzalloc(sizeof *m);
    snprintf(m->name, sizeof m->name, "%s", name);
    m->type = type;
    m->key_size = 4;
    m->value_size = VALUE_SIZE;
    m->max_entries = 8;
    m->map_flags = type == BPF_MAP_TYPE_HASH ? BPF_F_ZERO_SEED : 0;
    if (bpf_map_create_internal(m)) {
        abort();
    }
    return m;
}

static uint64_t n_generated, n_accepted;

static void
print_stats(void)
{
    fprintf(stderr, "fuzz_verifier: %llu of %llu programs accepted and run\n",
            (unsigned long long) n_accepted,
            (unsigned long long) n_generated);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    log_set_level_all(LOG_LEVEL_OFF);
    if (getenv("FUZZ_VERIFIER_STATS")) {
        atexit(print_stats);
    }
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct bpf_map *hash, *array;
    struct gen *g = xzalloc(sizeof *g);
    if (!hash) {
        hash = new_map("hash", BPF_MAP_TYPE_HASH);
        array = new_map("array", BPF_MAP_TYPE_ARRAY);
    }
    /* The last quarter of the input is packet and map contents. */
    size_t tail = size / 4;
    g->in = data;
    g->len = size - tail;
    uint32_t n = gen_prog(g);
    struct bpf_map *maps[] = { hash, array };
    struct bpf_prog prog = { .name = "fuzz", .kind = BPF_PROG_KIND_XDP,
                             .insns = g->insns, .n_insns = n, .maps = maps,
                             .n_maps = 2 };
    struct bpf_verify_result res;
    memset(&res, 0, sizeof res);
    n_generated++;
    if (n && !bpf_prog_verify(&prog, &res) && res.accepted) {
        n_accepted++;
        /* The interpreter: the JIT has its own target (fuzz_jit). */
        bpf_prog_set_exec_mode(&prog, BPF_EXEC_INTERP);
        uint8_t value[VALUE_SIZE];
        for (uint32_t k = 0; k < 4; k++) {
            memset(value, (int) k, sizeof value);
            bpf_map_update(hash, &k, value, BPF_ANY);
            bpf_map_update(array, &k, value, BPF_ANY);
        }
        /* Packets of 0, a few and many bytes in a tight buffer, so that
         * ASan sees any access outside [data, data_end). */
        static const uint32_t lens[] = { 0, 14, 90 };
        for (size_t p = 0; p < ARRAY_SIZE(lens); p++) {
            uint32_t len = lens[p];
            uint32_t head = 256;
            uint8_t *buf = xmalloc(head + len);
            memset(buf, 0xa5, head + len);
            for (uint32_t b = 0; b < len && b < tail; b++) {
                buf[head + b] = data[size - tail + b];
            }
            struct bpf_xdp_buff xdp = {
                .data_hard_start = (uintptr_t) buf,
                .data = (uintptr_t) (buf + head),
                .data_meta = (uintptr_t) (buf + head),
                .data_end = (uintptr_t) (buf + head + len),
                .frame_end = (uintptr_t) (buf + head + len),
            };
            bpf_set_time_ns(1000);
            (void) bpf_prog_run_xdp(&prog, &xdp);
            free(buf);
        }
    }
    bpf_verify_result_destroy(&res);
    free(prog.xlated);
    free(g);
    return 0;
}
