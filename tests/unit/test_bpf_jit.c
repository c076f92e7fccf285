/* Tests of the x86-64 JIT (src/bpf/jit_x86.c), with the interpreter as the
 * reference implementation: every program here runs in both, and r0, the
 * memory it wrote and every register it left are compared.
 *
 *  - Each ALU, jump, load/store and atomic operation with every pair of
 *    destination and source registers (the x86 encodings of rax, rcx, rdx,
 *    rbp and r12..r15 each have special cases) and a set of edge values.
 *  - The data-driven instruction-set suite (tests/bpf/isa/) replayed in
 *    both modes, through the verifier, against the expected results.
 *  - Frames, tail calls (also into a leaf image), LD_ABS aborts, raw-mode
 *    guards and budget, code memory protection, and the run-time dispatch
 *    (exec modes).
 *  - Fused loads (16-bit fields read byte by byte, flag tests) and merged
 *    stack stores: same results, fewer x86 instructions.
 *  - The cost tables (bpf_prog_jit_costs()) against instruction counts
 *    measured by single-stepping the code (contract/x86count.h).
 *
 * Raw-instruction programs are marked verified by hand, as in
 * test_bpf_interp.c: they test translation, not verdicts. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bpf/asm.h"
#include "bpf/bpf_api.h"
#include "bpf/bpf_int.h"
#include "bpf/helpers.h"
#include "bpf/interp.h"
#include "bpf/jit.h"
#include "bpf/maps.h"
#include "contract/x86count.h"
#include "core/log.h"
#include "core/util.h"

#define INSN(CODE, DST, SRC, OFF, IMM)                                         \
    ((struct bpf_insn){.code = (CODE),                                         \
                       .dst_reg = (DST),                                       \
                       .src_reg = (SRC),                                       \
                       .off = (OFF),                                           \
                       .imm = (IMM)})
#define LD64_LO(D, V) INSN(BPF_LD | BPF_DW | BPF_IMM, D, 0, 0, (int32_t)(V))
#define LD64_HI(V) INSN(0, 0, 0, 0, (int32_t)((uint64_t)(V) >> 32))
#define MOV64_K(D, I) INSN(BPF_ALU64 | BPF_MOV | BPF_K, D, 0, 0, I)
#define MOV64_X(D, S) INSN(BPF_ALU64 | BPF_MOV | BPF_X, D, S, 0, 0)
#define ADD64_K(D, I) INSN(BPF_ALU64 | BPF_ADD | BPF_K, D, 0, 0, I)
#define ADD64_X(D, S) INSN(BPF_ALU64 | BPF_ADD | BPF_X, D, S, 0, 0)
#define STX_DW(D, S, OFF) INSN(BPF_STX | BPF_MEM | BPF_DW, D, S, OFF, 0)
#define LDX_DW(D, S, OFF) INSN(BPF_LDX | BPF_MEM | BPF_DW, D, S, OFF, 0)
#define STX_W(D, S, OFF) INSN(BPF_STX | BPF_MEM | BPF_W, D, S, OFF, 0)
#define STX_H(D, S, OFF) INSN(BPF_STX | BPF_MEM | BPF_H, D, S, OFF, 0)
#define STX_B(D, S, OFF) INSN(BPF_STX | BPF_MEM | BPF_B, D, S, OFF, 0)
#define LDX_W(D, S, OFF) INSN(BPF_LDX | BPF_MEM | BPF_W, D, S, OFF, 0)
#define CALL(ID) INSN(BPF_JMP | BPF_CALL, 0, 0, 0, ID)
#define CALL_LOCAL(REL) INSN(BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_CALL, 0, REL)
#define EXIT INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)
#define MAX_TEST_INSNS 64
#define MEM_SIZE 128

static const uint64_t values[] = {
    0,
    1,
    2,
    7,
    0x7f,
    0x80,
    0xff,
    0x8000,
    0xffff,
    0x7fffffff,
    0x80000000,
    0xffffffff,
    0x100000000ull,
    0x123456789abcdef0ull,
    0x7fffffffffffffffull,
    0x8000000000000000ull,
    0xfffffffffffffff9ull,
    0xffffffffffffffffull,
};

static const int32_t imms[] = {
    0, 1, -1, 3, 31, 32, 63, 64, 127, -128, 0x7fffffff, INT32_MIN, -7, 0x12345};

struct test_prog {
    struct bpf_insn insns[MAX_TEST_INSNS];
    size_t n;
};

static void
add(struct test_prog *tp, struct bpf_insn insn)
{
    assert_true(tp->n < MAX_TEST_INSNS);
    tp->insns[tp->n++] = insn;
}

static void
add_ld64(struct test_prog *tp, int reg, uint64_t v)
{
    add(tp, LD64_LO(reg, v));
    add(tp, LD64_HI(v));
}

/* Program prefix: r1 (the memory) is parked on the stack, every register
 * r0..r9 gets a distinct value (the ones named in 'init' get theirs). */
static void
prefix(struct test_prog *tp, const uint64_t init[10])
{
    add(tp, STX_DW(10, 1, -8));
    for (int r = 0; r < 10; r++) {
        add_ld64(tp, r, init[r]);
    }
}

/* Program suffix: every register r0..r9 stored at mem[0..80), then
 * r0 = r0 of the operation. */
static void
suffix(struct test_prog *tp)
{
    add(tp, STX_DW(10, 0, -16));
    add(tp, LDX_DW(0, 10, -8));
    for (int r = 1; r < 10; r++) {
        add(tp, STX_DW(0, r, 8 * r));
    }
    add(tp, LDX_DW(1, 10, -16));
    add(tp, STX_DW(0, 1, 0));
    add(tp, MOV64_X(0, 1));
    add(tp, EXIT);
}

static struct bpf_prog
prog_of(const struct bpf_insn *insns, size_t n, enum bpf_prog_kind kind)
{
    struct bpf_prog p = {.name = "jit-test",
                         .kind = kind,
                         .insns = (struct bpf_insn *)insns,
                         .n_insns = (uint32_t)n,
                         .verified = true,
                         .trusted = true};
    return p;
}

/* Runs 'prog' in the interpreter and in the JIT on copies of 'mem' and
 * fails on any difference in r0 or the memory. */
static uint64_t
run_both_kind(const struct bpf_insn *insns, size_t n, const void *mem,
              size_t len, enum bpf_prog_kind kind)
{
    struct bpf_prog p = prog_of(insns, n, kind);
    uint8_t m_int[MEM_SIZE], m_jit[MEM_SIZE];
    uint64_t count = 0;
    enum bpf_jit_stop stop;
    char *err = NULL;

    /* Both runs use the same buffer, so that pointers into it that a
     * program stores compare equal. */
    assert_true(len <= MEM_SIZE);
    memset(m_jit, 0, sizeof m_jit);
    memcpy(m_jit, mem, len);

    /* Raw programs run checked in both (guards, helper rule, budget). */
    const char *int_error = NULL;
    p.trusted = kind != BPF_PROG_KIND_RAW;
    struct bpf_run_ctx ctx = {.mem = m_jit, .mem_len = len, .prog = &p};
    bpf_run_cur = &ctx;
    uint64_t r_int =
        p.trusted
            ? bpf_interp_run(&p, (uintptr_t)m_jit, len, &count)
            : bpf_interp_run_raw(&p, (uintptr_t)m_jit, len, &count, &int_error);
    memcpy(m_int, m_jit, sizeof m_int);
    memset(m_jit, 0, sizeof m_jit);
    memcpy(m_jit, mem, len);

    int rc = bpf_jit_compile(&p, &err);
    if (rc) {
        fail_msg("JIT failed: %s", err);
    }
    uint64_t r_jit = bpf_jit_run(&p, (uintptr_t)m_jit, len, &stop);
    bpf_run_cur = NULL;
    bpf_jit_free(&p);

    if (r_int != r_jit || memcmp(m_int, m_jit, sizeof m_int) ||
        (int_error != NULL) != (stop >= BPF_JIT_STOP_MEM_OOB)) {
        for (size_t i = 0; i < n; i++) {
            print_error("  %02zu: code %02x dst %u src %u off %d imm %d\n", i,
                        insns[i].code, insns[i].dst_reg, insns[i].src_reg,
                        insns[i].off, insns[i].imm);
        }
        for (size_t i = 0; i < MEM_SIZE / 8; i++) {
            uint64_t a, b;
            memcpy(&a, m_int + 8 * i, 8);
            memcpy(&b, m_jit + 8 * i, 8);
            if (a != b) {
                print_error("  mem[%zu]: interp 0x%" PRIx64 " jit 0x%" PRIx64
                            "\n",
                            8 * i, a, b);
            }
        }
        fail_msg("%s: r0 interp 0x%" PRIx64 " jit 0x%" PRIx64
                 " (interp error %s, jit stop %d)",
                 kind == BPF_PROG_KIND_RAW ? "raw" : "direct", r_int, r_jit,
                 int_error ? int_error : "none", stop);
    }
    return r_jit;
}

/* Both kinds: raw (guarded accesses) and XDP (direct accesses; r1 is the
 * memory instead of a context, which these programs never read as one). */
static uint64_t
run_both(const struct test_prog *tp, const void *mem, size_t len)
{
    uint64_t r = run_both_kind(tp->insns, tp->n, mem, len, BPF_PROG_KIND_RAW);
    assert_int_equal(
        run_both_kind(tp->insns, tp->n, mem, len, BPF_PROG_KIND_XDP), r);
    return r;
}

static void
init_regs(uint64_t init[10], unsigned int seed)
{
    for (int r = 0; r < 10; r++) {
        init[r] = 0x1111111111111111ull * (uint64_t)(r + 1) + seed;
    }
}

/* ---- ALU ---- */

static void
test_alu_all_registers(void **state)
{
    static const uint8_t ops[] = {BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV,
                                  BPF_OR,  BPF_AND, BPF_LSH, BPF_RSH,
                                  BPF_MOD, BPF_XOR, BPF_MOV, BPF_ARSH};
    uint8_t zero[MEM_SIZE] = {0};
    size_t runs = 0;

    for (size_t o = 0; o < ARRAY_SIZE(ops); o++) {
        for (int cls = 0; cls < 2; cls++) {
            uint8_t c = cls ? BPF_ALU64 : BPF_ALU;
            for (int sgn = 0; sgn < 2; sgn++) {
                if (sgn && ops[o] != BPF_DIV && ops[o] != BPF_MOD) {
                    continue;
                }
                for (int dst = 0; dst < 10; dst++) {
                    for (int src = 0; src < 10; src++) {
                        for (size_t v = 0; v < ARRAY_SIZE(values); v += 3) {
                            struct test_prog tp = {.n = 0};
                            uint64_t init[10];
                            init_regs(init, (unsigned int)v);
                            init[dst] = values[v];
                            if (src != dst) {
                                init[src] =
                                    values[(v * 7 + 5) % ARRAY_SIZE(values)];
                            }
                            prefix(&tp, init);
                            add(&tp, INSN(c | ops[o] | BPF_X, dst, src,
                                          (int16_t)sgn, 0));
                            suffix(&tp);
                            run_both(&tp, zero, 96);
                            runs++;
                        }
                    }
                    for (size_t k = 0; k < ARRAY_SIZE(imms); k++) {
                        struct test_prog tp = {.n = 0};
                        uint64_t init[10];
                        init_regs(init, (unsigned int)k);
                        init[dst] = values[(k * 5) % ARRAY_SIZE(values)];
                        prefix(&tp, init);
                        add(&tp, INSN(c | ops[o] | BPF_K, dst, 0, (int16_t)sgn,
                                      imms[k]));
                        suffix(&tp);
                        run_both(&tp, zero, 96);
                        runs++;
                    }
                }
            }
        }
    }
    assert_true(runs > 10000);
}

static void
test_neg_swap_movsx(void **state)
{
    uint8_t zero[MEM_SIZE] = {0};
    struct bpf_insn ops[] = {
        INSN(BPF_ALU64 | BPF_NEG, 0, 0, 0, 0),
        INSN(BPF_ALU | BPF_NEG, 0, 0, 0, 0),
        INSN(BPF_ALU | BPF_END | BPF_TO_BE, 0, 0, 0, 16),
        INSN(BPF_ALU | BPF_END | BPF_TO_BE, 0, 0, 0, 32),
        INSN(BPF_ALU | BPF_END | BPF_TO_BE, 0, 0, 0, 64),
        INSN(BPF_ALU | BPF_END | BPF_TO_LE, 0, 0, 0, 16),
        INSN(BPF_ALU | BPF_END | BPF_TO_LE, 0, 0, 0, 32),
        INSN(BPF_ALU | BPF_END | BPF_TO_LE, 0, 0, 0, 64),
        INSN(BPF_ALU64 | BPF_END | BPF_TO_LE, 0, 0, 0, 16),
        INSN(BPF_ALU64 | BPF_END | BPF_TO_LE, 0, 0, 0, 32),
        INSN(BPF_ALU64 | BPF_END | BPF_TO_LE, 0, 0, 0, 64),
        INSN(BPF_ALU64 | BPF_MOV | BPF_X, 0, 0, 8, 0),
        INSN(BPF_ALU64 | BPF_MOV | BPF_X, 0, 0, 16, 0),
        INSN(BPF_ALU64 | BPF_MOV | BPF_X, 0, 0, 32, 0),
        INSN(BPF_ALU | BPF_MOV | BPF_X, 0, 0, 8, 0),
        INSN(BPF_ALU | BPF_MOV | BPF_X, 0, 0, 16, 0),
    };
    for (size_t o = 0; o < ARRAY_SIZE(ops); o++) {
        for (int dst = 0; dst < 10; dst++) {
            for (int src = 0; src < 10; src++) {
                bool uses_src = BPF_OP(ops[o].code) == BPF_MOV;
                if (!uses_src && src) {
                    continue;
                }
                for (size_t v = 0; v < ARRAY_SIZE(values); v++) {
                    struct test_prog tp = {.n = 0};
                    uint64_t init[10];
                    init_regs(init, (unsigned int)v);
                    init[uses_src ? src : dst] = values[v] ^ 0x5a5a00;
                    prefix(&tp, init);
                    struct bpf_insn insn = ops[o];
                    insn.dst_reg = (uint8_t)dst;
                    insn.src_reg = uses_src ? (uint8_t)src : 0;
                    add(&tp, insn);
                    suffix(&tp);
                    run_both(&tp, zero, 96);
                }
            }
        }
    }
}

/* The rotate idiom (mov, shift, mov, shift, or) that the JIT turns into
 * a rotate, in both orders and widths and for every count, and two
 * near-misses that must stay as they are. */
static void
test_rotate_idiom(void **state)
{
    uint8_t zero[MEM_SIZE] = {0};

    for (int c = 0; c < 2; c++) {
        uint8_t cls = c ? BPF_ALU64 : BPF_ALU;
        int width = c ? 64 : 32;
        for (int k = 1; k < width; k++) {
            for (int order = 0; order < 4; order++) {
                struct test_prog tp = {.n = 0};
                uint64_t init[10];
                init_regs(init, (unsigned int)k);
                init[3] = 0x8123456789abcdefull;
                prefix(&tp, init);
                uint8_t first = order & 1 ? BPF_LSH : BPF_RSH;
                uint8_t second = first == BPF_LSH ? BPF_RSH : BPF_LSH;
                int k1 = first == BPF_LSH ? k : width - k;
                add(&tp, INSN(cls | BPF_MOV | BPF_X, 4, 3, 0, 0));
                add(&tp, INSN(cls | first | BPF_K, 4, 0, 0, k1));
                add(&tp, INSN(cls | BPF_MOV | BPF_X, 5, 3, 0, 0));
                /* order 2, 3: counts that do not add up to the width. */
                add(&tp, INSN(cls | second | BPF_K, 5, 0, 0,
                              width - k1 - (order >= 2)));
                add(&tp, INSN(cls | BPF_OR | BPF_X, 5, 4, 0, 0));
                suffix(&tp);
                run_both(&tp, zero, 96);
            }
        }
    }
}

/* ---- Jumps ---- */

static void
test_jumps_all_conditions(void **state)
{
    static const uint8_t ops[] = {BPF_JEQ, BPF_JGT,  BPF_JGE,  BPF_JSET,
                                  BPF_JNE, BPF_JSGT, BPF_JSGE, BPF_JLT,
                                  BPF_JLE, BPF_JSLT, BPF_JSLE};
    uint8_t zero[MEM_SIZE] = {0};

    for (size_t o = 0; o < ARRAY_SIZE(ops); o++) {
        for (int cls = 0; cls < 2; cls++) {
            uint8_t c = cls ? BPF_JMP : BPF_JMP32;
            for (int dst = 0; dst < 10; dst++) {
                for (size_t a = 0; a < ARRAY_SIZE(values); a += 2) {
                    for (size_t b = 0; b < ARRAY_SIZE(values); b += 3) {
                        int src = (dst + 3) % 10;
                        struct test_prog tp = {.n = 0};
                        uint64_t init[10];
                        init_regs(init, 0);
                        init[dst] = values[a];
                        init[src] = values[b];
                        prefix(&tp, init);
                        add(&tp, INSN(c | ops[o] | BPF_X, dst, src, 1, 0));
                        add(&tp, MOV64_K(dst, 77));
                        suffix(&tp);
                        run_both(&tp, zero, 96);

                        tp.n = 0;
                        prefix(&tp, init);
                        add(&tp, INSN(c | ops[o] | BPF_K, dst, 0, 1,
                                      (int32_t)values[b]));
                        add(&tp, MOV64_K(dst, 77));
                        suffix(&tp);
                        run_both(&tp, zero, 96);
                    }
                }
            }
        }
    }
}

/* Long jumps (rel32) and short ones, forward and backward, and a loop. */
static void
test_jump_distances(void **state)
{
    struct bpf_insn p[600];
    size_t n = 0;
    uint8_t zero[MEM_SIZE] = {0};

    p[n++] = MOV64_K(0, 0);
    p[n++] = MOV64_K(2, 50);
    /* loop: r0 += 3 ... (long body), r2 -= 1, if r2 != 0 goto loop */
    size_t loop = n;
    for (int i = 0; i < 200; i++) {
        p[n++] = ADD64_K(0, 3);
    }
    p[n++] = ADD64_K(2, -1);
    p[n] = INSN(BPF_JMP | BPF_JNE | BPF_K, 2, 0,
                (int16_t)((int64_t)loop - (int64_t)n - 1), 0);
    n++;
    /* forward long jump over 300 instructions */
    p[n++] = INSN(BPF_JMP | BPF_JA, 0, 0, 300, 0);
    for (int i = 0; i < 300; i++) {
        p[n++] = ADD64_K(0, 1000);
    }
    p[n++] = INSN(BPF_JMP32 | BPF_JA, 0, 0, 0, 1); /* gotol +1 */
    p[n++] = ADD64_K(0, 5);
    p[n++] = EXIT;
    assert_int_equal(run_both_kind(p, n, zero, 8, BPF_PROG_KIND_RAW),
                     50 * 200 * 3);
    assert_int_equal(run_both_kind(p, n, zero, 8, BPF_PROG_KIND_XDP),
                     50 * 200 * 3);
}

/* ---- Memory ---- */

static void
test_loads_stores_all_registers(void **state)
{
    static const uint8_t sizes[] = {BPF_B, BPF_H, BPF_W, BPF_DW};
    uint8_t mem[MEM_SIZE];

    for (size_t i = 0; i < sizeof mem; i++) {
        mem[i] = (uint8_t)(0x80 + i * 37);
    }
    for (size_t s = 0; s < ARRAY_SIZE(sizes); s++) {
        for (int base = 0; base < 10; base++) {
            for (int reg = 0; reg < 10; reg++) {
                for (int kind = 0; kind < 5; kind++) {
                    /* kind: 0 ldx, 1 ldsx, 2 stx, 3 st, 4 stack round
                     * trip. */
                    if (kind == 1 && sizes[s] == BPF_DW) {
                        continue;
                    }
                    struct test_prog tp = {.n = 0};
                    uint64_t init[10];
                    init_regs(init, (unsigned int)(s + base));
                    prefix(&tp, init);
                    /* base = memory + 96 (offsets reach back), */
                    add(&tp, LDX_DW(base, 10, -8));
                    add(&tp, ADD64_K(base, 96));
                    int16_t off = (int16_t)(-7 - 3 * (int)s);
                    switch (kind) {
                    case 0:
                        add(&tp, INSN(BPF_LDX | BPF_MEM | sizes[s], reg, base,
                                      off, 0));
                        break;
                    case 1:
                        add(&tp,
                            INSN(BPF_LDX | 0x80 | sizes[s], reg, base, off, 0));
                        break;
                    case 2:
                        add(&tp, INSN(BPF_STX | BPF_MEM | sizes[s], base, reg,
                                      off, 0));
                        break;
                    case 3:
                        add(&tp, INSN(BPF_ST | BPF_MEM | sizes[s], base, 0, off,
                                      (int32_t)0x89abcdef));
                        break;
                    default:
                        if (reg == base) {
                            continue;
                        }
                        add(&tp, INSN(BPF_STX | BPF_MEM | sizes[s], 10, reg,
                                      -40, 0));
                        add(&tp, INSN(BPF_LDX | BPF_MEM | sizes[s], base, 10,
                                      -40, 0));
                        break;
                    }
                    suffix(&tp);
                    run_both(&tp, mem, sizeof mem);
                }
            }
        }
    }
}

static void
test_atomics_all_registers(void **state)
{
    static const int32_t ops[] = {
        BPF_ADD,  BPF_ADD | BPF_FETCH, BPF_OR,  BPF_OR | BPF_FETCH,
        BPF_AND,  BPF_AND | BPF_FETCH, BPF_XOR, BPF_XOR | BPF_FETCH,
        BPF_XCHG, BPF_CMPXCHG,
    };
    uint8_t mem[MEM_SIZE];

    for (size_t i = 0; i < sizeof mem; i++) {
        mem[i] = (uint8_t)(0x31 + i * 11);
    }
    for (size_t o = 0; o < ARRAY_SIZE(ops); o++) {
        for (int w = 0; w < 2; w++) {
            for (int base = 0; base < 10; base++) {
                for (int src = 0; src < 10; src++) {
                    for (int eq = 0; eq < 2; eq++) {
                        struct test_prog tp = {.n = 0};
                        uint64_t init[10];
                        init_regs(init, (unsigned int)(o * 3 + w));
                        prefix(&tp, init);
                        add(&tp, LDX_DW(base, 10, -8));
                        add(&tp, ADD64_K(base, 88));
                        if (eq && base != 0) {
                            /* cmpxchg that succeeds: r0 = the value. */
                            add(&tp,
                                INSN(BPF_LDX | BPF_MEM | (w ? BPF_DW : BPF_W),
                                     0, base, -8, 0));
                        }
                        if (src == base) {
                            /* Keep the address; the source is the same
                             * register. */
                        }
                        add(&tp,
                            INSN(BPF_STX | BPF_ATOMIC | (w ? BPF_DW : BPF_W),
                                 base, src, -8, ops[o]));
                        suffix(&tp);
                        run_both(&tp, mem, sizeof mem);
                    }
                }
            }
        }
    }
}

/* ---- Calls, frames, tail calls, packet loads ---- */

/* main: r6 = 5, stack[-8] = 100; call f(r1 = &stack[-8]); r0 += r6;
 * f: r6 = 1000 (callee's own r6), *r1 += 11 via its pointer, r0 = its
 * own stack round trip + *r1, calls g, which recurses once.  Run by
 * test_local_calls_and_stack and costed by test_costs_along_path. */
static const struct bpf_insn calls_prog[] = {
    MOV64_K(6, 5),
    INSN(BPF_ST | BPF_MEM | BPF_DW, 10, 0, -8, 100),
    MOV64_X(1, 10),
    ADD64_K(1, -8),
    CALL_LOCAL(5),
    ADD64_K(0, 0),
    INSN(BPF_ALU64 | BPF_ADD | BPF_X, 0, 6, 0, 0),
    LDX_DW(2, 10, -8),
    INSN(BPF_ALU64 | BPF_ADD | BPF_X, 0, 2, 0, 0),
    EXIT,
    /* f (insn 10) */
    MOV64_K(6, 1000),
    LDX_DW(2, 1, 0),
    ADD64_K(2, 11),
    STX_DW(1, 2, 0),
    INSN(BPF_ST | BPF_MEM | BPF_DW, 10, 0, -8, 3),
    MOV64_K(1, 2),
    CALL_LOCAL(3),
    LDX_DW(3, 10, -8),
    INSN(BPF_ALU64 | BPF_ADD | BPF_X, 0, 3, 0, 0),
    EXIT,
    /* g (insn 20): r0 = r1 ? g(r1 - 1) + 10 : 1 */
    MOV64_K(0, 1),
    INSN(BPF_JMP | BPF_JEQ | BPF_K, 1, 0, 4, 0),
    ADD64_K(1, -1),
    CALL_LOCAL(-4),
    ADD64_K(0, 10),
    INSN(BPF_ALU64 | BPF_MOV | BPF_X, 6, 0, 0, 0),
    EXIT,
};

static void
test_local_calls_and_stack(void **state)
{
    uint8_t zero[8] = {0};
    /* g(2) = 21; f: 21 + 3 = 24; main: 24 + 5 + 111 = 140 */
    assert_int_equal(run_both_kind(calls_prog, ARRAY_SIZE(calls_prog), zero,
                                   8, BPF_PROG_KIND_RAW),
                     140);
    assert_int_equal(run_both_kind(calls_prog, ARRAY_SIZE(calls_prog), zero,
                                   8, BPF_PROG_KIND_XDP),
                     140);
}

/* Unbounded recursion stops at BPF_MAX_CALL_DEPTH frames with r0 = 0. */
static void
test_call_depth_stop(void **state)
{
    const struct bpf_insn p[] = {
        MOV64_K(0, 1),
        CALL_LOCAL(-2),
        EXIT,
    };
    uint8_t zero[8] = {0};
    struct bpf_prog prog = prog_of(p, ARRAY_SIZE(p), BPF_PROG_KIND_XDP);
    enum bpf_jit_stop stop;

    assert_int_equal(bpf_jit_compile(&prog, NULL), 0);
    assert_int_equal(bpf_jit_run(&prog, (uintptr_t)zero, 8, &stop), 0);
    assert_int_equal(stop, BPF_JIT_STOP_CALL_DEPTH);
    bpf_jit_free(&prog);
    assert_int_equal(
        run_both_kind(p, ARRAY_SIZE(p), zero, 8, BPF_PROG_KIND_XDP), 0);
}

static void
test_ld_abs_ind(void **state)
{
    uint8_t mem[MEM_SIZE];
    for (size_t i = 0; i < sizeof mem; i++) {
        mem[i] = (uint8_t)(i * 13 + 1);
    }
    for (int size = 0; size < 3; size++) {
        uint8_t sz = size == 0 ? BPF_B : size == 1 ? BPF_H : BPF_W;
        for (int32_t off = -2; off < MEM_SIZE + 2; off += 5) {
            for (int reg = 0; reg < 10; reg++) {
                struct test_prog tp = {.n = 0};
                uint64_t init[10];
                init_regs(init, 1);
                init[reg] = 0xffffffff00000000ull | 5;
                prefix(&tp, init);
                add(&tp, INSN(BPF_LD | BPF_ABS | sz, 0, 0, 0, off));
                add(&tp, INSN(BPF_LD | BPF_IND | sz, 0, reg, 0, off - 5));
                suffix(&tp);
                run_both(&tp, mem, sizeof mem);
            }
        }
    }
    /* An out-of-range load inside a subprogram ends the whole run. */
    const struct bpf_insn p[] = {
        CALL_LOCAL(2), MOV64_K(0, 9),
        EXIT,          INSN(BPF_LD | BPF_ABS | BPF_W, 0, 0, 0, MEM_SIZE - 2),
        EXIT,
    };
    assert_int_equal(
        run_both_kind(p, ARRAY_SIZE(p), mem, sizeof mem, BPF_PROG_KIND_RAW), 0);
}

static void
test_helpers_and_tail_calls(void **state)
{
    struct bpf_map progs_map = {.name = "progs",
                                .type = BPF_MAP_TYPE_PROG_ARRAY,
                                .key_size = 4,
                                .value_size = 4,
                                .max_entries = 2};
    struct bpf_map hash = {.name = "h",
                           .type = BPF_MAP_TYPE_HASH,
                           .key_size = 4,
                           .value_size = 8,
                           .max_entries = 4};
    assert_int_equal(bpf_map_create_internal(&progs_map), 0);
    assert_int_equal(bpf_map_create_internal(&hash), 0);
    struct bpf_map *maps[] = {&progs_map, &hash};

    /* A program that counts its runs in hash[0] and tail-calls itself:
     * 1 + 33 runs, then the failed tail call falls through. */
    const struct bpf_insn p[] = {
        STX_DW(10, 1, -16),
        INSN(BPF_ST | BPF_MEM | BPF_W, 10, 0, -4, 0),
        INSN(BPF_LD | BPF_DW | BPF_IMM, 1, BPF_PSEUDO_MAP_FD, 0, 1),
        INSN(0, 0, 0, 0, 0),
        MOV64_X(2, 10),
        ADD64_K(2, -4),
        CALL(BPF_FUNC_map_lookup_elem),
        INSN(BPF_JMP | BPF_JNE | BPF_K, 0, 0, 10, 0),
        /* Missing: insert 1. */
        INSN(BPF_ST | BPF_MEM | BPF_DW, 10, 0, -24, 1),
        INSN(BPF_LD | BPF_DW | BPF_IMM, 1, BPF_PSEUDO_MAP_FD, 0, 1),
        INSN(0, 0, 0, 0, 0),
        MOV64_X(2, 10),
        ADD64_K(2, -4),
        MOV64_X(3, 10),
        ADD64_K(3, -24),
        MOV64_K(4, BPF_ANY),
        CALL(BPF_FUNC_map_update_elem),
        INSN(BPF_JMP | BPF_JA, 0, 0, 2, 0),
        /* Present: add 1 atomically. */
        MOV64_K(1, 1),
        INSN(BPF_STX | BPF_ATOMIC | BPF_DW, 0, 1, 0, BPF_ADD),
        /* Tail call slot 0. */
        LDX_DW(1, 10, -16),
        INSN(BPF_LD | BPF_DW | BPF_IMM, 2, BPF_PSEUDO_MAP_FD, 0, 0),
        INSN(0, 0, 0, 0, 0),
        MOV64_K(3, 0),
        CALL(BPF_FUNC_tail_call),
        MOV64_K(0, 3),
        EXIT,
    };
    struct bpf_prog prog = prog_of(p, ARRAY_SIZE(p), BPF_PROG_KIND_XDP);
    prog.maps = maps;
    prog.n_maps = 2;
    assert_int_equal(bpf_prog_array_set(&progs_map, 0, &prog), 0);

    uint8_t pkt[64] = {0};
    struct bpf_xdp_buff xdp = {.data = (uintptr_t)pkt,
                               .data_end = (uintptr_t)(pkt + sizeof pkt)};
    uint32_t key = 0;
    uint64_t runs;
    for (int mode = 0; mode < 2; mode++) {
        bpf_map_delete(&hash, &key);
        bpf_prog_set_exec_mode(&prog, mode ? BPF_EXEC_JIT : BPF_EXEC_INTERP);
        assert_int_equal(bpf_prog_run_xdp(&prog, &xdp), 3);
        assert_int_equal(bpf_map_lookup(&hash, &key, &runs), 0);
        assert_int_equal(runs, 1 + BPF_MAX_TAIL_CALLS);
    }
    assert_non_null(prog.jit);
    bpf_jit_free(&prog);
    assert_null(prog.jit);
    bpf_map_free_internal(&progs_map);
    bpf_map_free_internal(&hash);
}

/* A leaf image (no trampoline, find_leaf()) as a tail-call target: it is
 * entered through a stub that then leaves the frame it replaces, so the
 * registers of the BPF caller of that frame, and its stack, survive.  The
 * leaf itself uses r6..r9 and its own stack, and also runs on its own. */
static void
test_tail_call_to_leaf(void **state)
{
    struct bpf_map progs_map = {.name = "progs",
                                .type = BPF_MAP_TYPE_PROG_ARRAY,
                                .key_size = 4,
                                .value_size = 4,
                                .max_entries = 1};
    assert_int_equal(bpf_map_create_internal(&progs_map), 0);
    struct bpf_map *maps[] = {&progs_map};
    const struct bpf_insn leaf[] = {
        MOV64_K(6, 1000),     MOV64_K(7, 2000),  MOV64_K(8, 3000),
        MOV64_K(9, 4000),     STX_DW(10, 9, -16), LDX_DW(0, 10, -16),
        ADD64_X(0, 6),        ADD64_X(0, 7),      ADD64_X(0, 8),
        EXIT,
    };
    const struct bpf_insn caller[] = {
        MOV64_K(6, 0x66),
        MOV64_K(7, 0x77),
        MOV64_K(8, 0x88),
        MOV64_K(9, 0x99),
        STX_DW(10, 6, -8),
        CALL_LOCAL(7),
        ADD64_X(0, 6),
        ADD64_X(0, 7),
        ADD64_X(0, 8),
        ADD64_X(0, 9),
        LDX_DW(1, 10, -8),
        ADD64_X(0, 1),
        EXIT,
        /* The subprogram: other r6..r9, then the tail call. */
        MOV64_K(6, 1),
        MOV64_K(7, 2),
        MOV64_K(8, 3),
        MOV64_K(9, 4),
        INSN(BPF_LD | BPF_DW | BPF_IMM, 2, BPF_PSEUDO_MAP_FD, 0, 0),
        INSN(0, 0, 0, 0, 0),
        MOV64_K(3, 0),
        CALL(BPF_FUNC_tail_call),
        MOV64_K(0, 5),
        EXIT,
    };
    struct bpf_prog target = prog_of(leaf, ARRAY_SIZE(leaf), BPF_PROG_KIND_XDP);
    struct bpf_prog prog = prog_of(caller, ARRAY_SIZE(caller),
                                   BPF_PROG_KIND_XDP);
    prog.maps = maps;
    prog.n_maps = 1;
    assert_int_equal(bpf_prog_array_set(&progs_map, 0, &target), 0);

    uint8_t pkt[64] = {0};
    struct bpf_xdp_buff xdp = {.data = (uintptr_t)pkt,
                               .data_end = (uintptr_t)(pkt + sizeof pkt)};
    uint64_t want = 10000 + 0x66 + 0x77 + 0x88 + 0x99 + 0x66;
    for (int mode = 0; mode < 2; mode++) {
        enum bpf_exec_mode m = mode ? BPF_EXEC_JIT : BPF_EXEC_INTERP;
        bpf_prog_set_exec_mode(&prog, m);
        bpf_prog_set_exec_mode(&target, m);
        assert_int_equal(bpf_prog_run_xdp(&prog, &xdp), want);
        assert_int_equal(bpf_prog_run_xdp(&target, &xdp), 10000);
    }
    assert_non_null(prog.jit);
    assert_non_null(target.jit);
    assert_false(prog.jit->leaf);
    assert_true(target.jit->leaf);
    bpf_jit_free(&prog);
    bpf_jit_free(&target);
    bpf_map_free_internal(&progs_map);
}

/* ---- Raw-mode guards ---- */

/* Runs an unchecked-by-the-verifier raw program through the run time in
 * both modes; both must agree on r0 and on the run error.  Returns the
 * error (NULL if none). */
static const char *
raw_run_both(const struct bpf_insn *insns, size_t n, uint8_t *mem, size_t len)
{
    const char *err[2];
    uint64_t r0[2];

    for (int mode = 0; mode < 2; mode++) {
        struct bpf_prog prog = prog_of(insns, n, BPF_PROG_KIND_RAW);
        prog.trusted = false;
        bpf_prog_set_exec_mode(&prog, mode ? BPF_EXEC_JIT : BPF_EXEC_INTERP);
        r0[mode] = bpf_prog_run_raw(&prog, mem, len);
        err[mode] = bpf_last_run_error();
        assert_true(!mode || prog.jit);
        bpf_jit_free(&prog);
    }
    assert_int_equal(r0[0], r0[1]);
    if (err[0] || err[1]) {
        assert_non_null(err[0]);
        assert_non_null(err[1]);
        assert_string_equal(err[0], err[1]);
    }
    return err[0];
}

static void
test_raw_guards(void **state)
{
    uint8_t mem[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    bpf_set_time_ns(123456789); /* ktime_get_ns gives both the same. */
    struct {
        struct bpf_insn insn;
        bool ok;
    } cases[] = {
        {INSN(BPF_LDX | BPF_MEM | BPF_DW, 0, 1, 8, 0), true},
        {INSN(BPF_LDX | BPF_MEM | BPF_DW, 0, 1, 9, 0), false},
        {INSN(BPF_LDX | BPF_MEM | BPF_B, 0, 1, 15, 0), true},
        {INSN(BPF_LDX | BPF_MEM | BPF_B, 0, 1, 16, 0), false},
        {INSN(BPF_LDX | BPF_MEM | BPF_B, 0, 1, -1, 0), false},
        {INSN(BPF_STX | BPF_MEM | BPF_W, 1, 1, 13, 0), false},
        {INSN(BPF_LDX | BPF_MEM | BPF_DW, 0, 10, -8, 0), true},
        {INSN(BPF_LDX | BPF_MEM | BPF_DW, 0, 10, -512, 0), true},
        {INSN(BPF_LDX | BPF_MEM | BPF_DW, 0, 10, 0, 0), false},
        {INSN(BPF_LDX | BPF_MEM | BPF_B, 0, 10, -1, 0), true},
        {INSN(BPF_LDX | BPF_MEM | BPF_DW, 0, 10, -4, 0), false},
        {INSN(BPF_LDX | BPF_MEM | BPF_DW, 0, 10, -520, 0), false},
        {INSN(BPF_STX | BPF_ATOMIC | BPF_DW, 1, 2, 12, BPF_ADD), false},
        {INSN(BPF_STX | BPF_ATOMIC | BPF_DW, 1, 2, 8, BPF_OR | BPF_FETCH),
         true},
        {INSN(BPF_ST | BPF_MEM | BPF_H, 1, 0, 15, 7), false},
        {CALL(BPF_FUNC_ktime_get_ns), true},
        {CALL(BPF_FUNC_map_lookup_elem), false},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct bpf_insn p[] = {INSN(BPF_ST | BPF_MEM | BPF_DW, 10, 0, -8, 0),
                               INSN(BPF_ST | BPF_MEM | BPF_DW, 10, 0, -512, 0),
                               MOV64_K(0, 0),
                               MOV64_K(2, 1),
                               cases[i].insn,
                               EXIT};
        const char *err = raw_run_both(p, ARRAY_SIZE(p), mem, sizeof mem);
        if (cases[i].ok) {
            assert_null(err);
        } else {
            assert_non_null(err);
        }
    }
    /* bpf_tail_call takes a map: not allowed either.  (JIT only: the
     * interpreter's checked mode performs tail calls on whatever r2
     * holds.) */
    const struct bpf_insn tail[] = {MOV64_K(2, 1), MOV64_K(3, 0),
                                    CALL(BPF_FUNC_tail_call), EXIT};
    struct bpf_prog tp = prog_of(tail, ARRAY_SIZE(tail), BPF_PROG_KIND_RAW);
    enum bpf_jit_stop stop;
    tp.trusted = false;
    assert_int_equal(bpf_jit_compile(&tp, NULL), 0);
    assert_int_equal(bpf_jit_run(&tp, (uintptr_t)mem, sizeof mem, &stop), 0);
    assert_int_equal(stop, BPF_JIT_STOP_HELPER);
    bpf_jit_free(&tp);

    /* A callee may use its caller's frame, not the frame above its own. */
    const struct bpf_insn frames[] = {
        INSN(BPF_ST | BPF_MEM | BPF_DW, 10, 0, -8, 42),
        MOV64_X(1, 10),
        CALL_LOCAL(1),
        EXIT,
        LDX_DW(0, 1, -8), /* caller's slot */
        LDX_DW(2, 10, 0), /* past the callee's own frame */
        EXIT,
    };
    assert_string_equal(raw_run_both(frames, ARRAY_SIZE(frames), mem, 16),
                        "memory access out of bounds");
    /* An endless loop spends the budget, a long finite one does not. */
    const struct bpf_insn loop[] = {MOV64_K(0, 1),
                                    INSN(BPF_JMP | BPF_JA, 0, 0, -1, 0), EXIT};
    assert_non_null(
        strstr(raw_run_both(loop, ARRAY_SIZE(loop), mem, 16), "budget"));
    const struct bpf_insn count[] = {
        MOV64_K(0, 0),
        LD64_LO(1, 10000000),
        LD64_HI(10000000),
        ADD64_K(0, 3),
        ADD64_K(1, -1),
        INSN(BPF_JMP | BPF_JNE | BPF_K, 1, 0, -3, 0),
        EXIT,
    };
    assert_null(raw_run_both(count, ARRAY_SIZE(count), mem, 16));
}

/* ---- Code memory ---- */

static void
test_code_memory_never_writable(void **state)
{
    const struct bpf_insn p[] = {MOV64_K(0, 42), EXIT};
    struct bpf_prog prog = prog_of(p, ARRAY_SIZE(p), BPF_PROG_KIND_XDP);
    assert_int_equal(bpf_jit_compile(&prog, NULL), 0);
    uintptr_t code = (uintptr_t)prog.jit->code;
    assert_true(prog.jit->size > 0);
    assert_true(prog.jit->insn_off[2] == prog.jit->size);

    FILE *f = fopen("/proc/self/maps", "r");
    assert_non_null(f);
    char line[512];
    bool found = false;
    while (fgets(line, sizeof line, f)) {
        uintptr_t lo, hi;
        char perms[5];
        if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " %4s", &lo, &hi, perms) ==
                3 &&
            code >= lo && code < hi) {
            found = true;
            assert_string_equal(perms, "r-xp");
        }
    }
    fclose(f);
    assert_true(found);
    bpf_jit_free(&prog);
    bpf_jit_free(&prog); /* No image: no-op. */
}

/* Programs the JIT cannot translate say why and keep running in the
 * interpreter. */
static void
test_untranslatable(void **state)
{
    const struct bpf_insn p[] = {INSN(0xff, 0, 0, 0, 0), EXIT};
    struct bpf_prog prog = prog_of(p, ARRAY_SIZE(p), BPF_PROG_KIND_RAW);
    char *err = NULL;
    assert_int_equal(bpf_jit_compile(&prog, &err), -EINVAL);
    assert_non_null(strstr(err, "insn 0"));
    free(err);
    assert_null(prog.jit);
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ---- The progs/ objects in both modes ---- */

/* A TCP/IPv4 packet 'a' -> 'b' with 'flags' (MSS and window-scale options
 * on SYNs), or UDP when 'flags' is 0. */
static size_t
make_packet(uint8_t *p, uint32_t a, uint32_t b, uint16_t sport, uint16_t dport,
            uint8_t flags)
{
    static const uint8_t eth[14] = {2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 0};
    size_t l4 = flags ? 20 + 8 : 8;
    size_t len = 14 + 20 + l4;
    memset(p, 0, len);
    memcpy(p, eth, 14);
    uint8_t *ip = p + 14, *th = ip + 20;
    ip[0] = 0x45;
    ip[2] = (uint8_t)((20 + l4) >> 8);
    ip[3] = (uint8_t)(20 + l4);
    ip[8] = 64;
    ip[9] = flags ? 6 : 17;
    for (int i = 0; i < 4; i++) {
        ip[12 + i] = (uint8_t)(a >> (24 - 8 * i));
        ip[16 + i] = (uint8_t)(b >> (24 - 8 * i));
    }
    th[0] = (uint8_t)(sport >> 8);
    th[1] = (uint8_t)sport;
    th[2] = (uint8_t)(dport >> 8);
    th[3] = (uint8_t)dport;
    if (flags) {
        th[12] = 0x70; /* 28-byte header */
        th[13] = flags;
        th[14] = 0xfa;
        static const uint8_t opts[8] = {2, 4, 5, 0xb4, 1, 3, 3, 7};
        memcpy(th + 20, opts, sizeof opts);
    } else {
        th[5] = 8;
    }
    return len;
}

/* Every map of 'obj' as text: keys and values in hex, keys sorted. */
static char *
dump_maps(struct bpf_object *obj)
{
    struct ds out;
    ds_init(&out);
    for (size_t m = 0; m < bpf_object_n_maps(obj); m++) {
        struct bpf_map *map = bpf_object_map(obj, m);
        uint32_t type = bpf_map_type(map);
        if (type == BPF_MAP_TYPE_PROG_ARRAY || type == BPF_MAP_TYPE_RINGBUF) {
            continue;
        }
        uint8_t key[512], next[512], value[4096];
        bool first = true;
        size_t n_lines = 0;
        char **lines = NULL;
        while (bpf_map_next_key(map, first ? NULL : key, next) == 0) {
            first = false;
            memcpy(key, next, bpf_map_key_size(map));
            if (bpf_map_lookup(map, key, value)) {
                continue;
            }
            struct ds line;
            ds_init(&line);
            ds_put_hex(&line, key, bpf_map_key_size(map));
            ds_put_char(&line, ' ');
            ds_put_hex(&line, value, bpf_map_value_size(map));
            lines = xrealloc(lines, (n_lines + 1) * sizeof *lines);
            lines[n_lines++] = ds_steal_cstr(&line);
        }
        qsort(lines, n_lines, sizeof *lines, cmp_str);
        ds_put_format(&out, "%s:\n", bpf_map_name(map));
        for (size_t i = 0; i < n_lines; i++) {
            ds_put_format(&out, "  %s\n", lines[i]);
            free(lines[i]);
        }
        free(lines);
    }
    return ds_steal_cstr(&out);
}

static void
test_progs_objects_both_modes(void **state)
{
    const char *build = getenv("SLUICE_BUILD_ROOT");
    static const char *const names[] = {"firewall", "ratelimit", "p0f"};
    size_t ran = 0;

    for (size_t o = 0; o < ARRAY_SIZE(names); o++) {
        char *path = xasprintf("%s/progs/%s.o", build ? build : ".", names[o]);
        struct bpf_object *obj[2];
        struct bpf_prog *prog[2];
        struct bpf_load_opts lo = {.fixed_seed = true};
        char *err = NULL;
        bool ok = true;
        for (int mode = 0; mode < 2; mode++) {
            assert_int_equal(bpf_object_open(path, &lo, &obj[mode], &err), 0);
            prog[mode] = bpf_object_prog(obj[mode], 0);
            struct bpf_verify_result res;
            memset(&res, 0, sizeof res);
            bpf_prog_verify(prog[mode], &res);
            ok &= res.accepted;
            bpf_verify_result_destroy(&res);
            bpf_prog_set_exec_mode(prog[mode],
                                   mode ? BPF_EXEC_JIT : BPF_EXEC_INTERP);
        }
        if (!ok) {
            /* The verifier's own tests report programs it rejects. */
            print_message("%s: not accepted by the verifier, skipped\n",
                          names[o]);
        }
        /* Connections from the inside (port 1) and the outside (port 2),
         * TCP handshakes and teardowns, UDP, 600 packets over 60 s. */
        for (int k = 0; ok && k < 600; k++) {
            uint8_t buf[2][512] = {{0}};
            uint32_t inside = 0x0a000001 + (uint32_t)(k % 7);
            uint32_t outside = 0xc0000201 + (uint32_t)(k % 3);
            static const uint8_t seq[] = {0x02, 0x12, 0x10, 0x18,
                                          0x11, 0x10, 0x04, 0};
            uint8_t flags = seq[(k / 7) % ARRAY_SIZE(seq)];
            bool in = k % 2 == 0;
            uint16_t port = (uint16_t)(40000 + k % 5);
            for (int mode = 0; mode < 2; mode++) {
                size_t len = in ? make_packet(buf[mode] + 256, inside, outside,
                                              port, 80, flags)
                                : make_packet(buf[mode] + 256, outside, inside,
                                              80, port, flags);
                struct bpf_xdp_buff xdp = {
                    .data_hard_start = (uintptr_t)buf[mode],
                    .data_meta = (uintptr_t)(buf[mode] + 256),
                    .data = (uintptr_t)(buf[mode] + 256),
                    .data_end = (uintptr_t)(buf[mode] + 256 + len),
                    .frame_end = (uintptr_t)(buf[mode] + sizeof buf[mode]),
                    .ingress_ifindex = in ? 1 : 2,
                };
                bpf_set_time_ns(1000000000ull + (uint64_t)k * 100000000ull);
                uint64_t r0 = bpf_prog_run_xdp(prog[mode], &xdp);
                memcpy(buf[mode], &r0, sizeof r0);
            }
            assert_memory_equal(buf[0], buf[1], sizeof buf[0]);
        }
        if (ok) {
            assert_non_null(prog[1]->jit);
            char *maps[2] = {dump_maps(obj[0]), dump_maps(obj[1])};
            assert_string_equal(maps[0], maps[1]);
            free(maps[0]);
            free(maps[1]);
            ran++;
        }
        bpf_object_close(obj[0]);
        bpf_object_close(obj[1]);
        free(path);
    }
    assert_true(ran >= 1);
}

/* ---- The instruction-set suite in both modes ---- */

static char *
read_text(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        return NULL;
    }
    struct ds ds;
    ds_init(&ds);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        ds_put_buf(&ds, buf, n);
    }
    fclose(f);
    return ds_steal_cstr(&ds);
}

/* The sections of a case file: "-- asm", "-- mem" (optional), "-- result".
 * Returns pointers into 'text' (modified). */
static bool
split_case(char *text, char **asm_text, char **mem_hex, char **result)
{
    *asm_text = *mem_hex = *result = NULL;
    char **cur = NULL;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (!strncmp(line, "-- ", 3)) {
            cur = !strcmp(line + 3, "asm")      ? asm_text
                  : !strcmp(line + 3, "mem")    ? mem_hex
                  : !strcmp(line + 3, "result") ? result
                                                : NULL;
            continue;
        }
        if (cur) {
            if (!*cur) {
                *cur = xstrdup(line);
            } else {
                char *s = xasprintf("%s\n%s", *cur, line);
                free(*cur);
                *cur = s;
            }
        }
    }
    return *asm_text && *result;
}

static void
test_isa_suite_both_modes(void **state)
{
    const char *root = getenv("SLUICE_SOURCE_ROOT");
    char *dir = xasprintf("%s/tests/bpf/isa", root ? root : ".");
    DIR *d = opendir(dir);
    size_t n_cases = 0, failed = 0, jited = 0;

    if (!d) {
        fail_msg("cannot open %s", dir);
    }
    for (struct dirent *e; (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (len <= 5 || strcmp(e->d_name + len - 5, ".data")) {
            continue;
        }
        char *path = xasprintf("%s/%s", dir, e->d_name);
        char *text = read_text(path);
        char *asm_text, *mem_hex, *result;
        assert_non_null(text);
        assert_true(split_case(text, &asm_text, &mem_hex, &result));
        uint64_t expect = strtoull(result, NULL, 0);
        struct bpf_insn *insns;
        size_t n;
        uint8_t *mem = NULL;
        size_t mem_len = 0;
        char *err = bpf_asm(asm_text, NULL, 0, &insns, &n);
        if (!err && mem_hex) {
            for (char *c = mem_hex; *c; c++) {
                if (*c == '\n') {
                    *c = ' ';
                }
            }
            err = hex_to_bytes(mem_hex, &mem, &mem_len);
        }
        assert_null(err);

        uint64_t r0[2];
        for (int mode = 0; mode < 2; mode++) {
            struct bpf_object *obj;
            assert_int_equal(bpf_prog_from_insns(insns, n, true, &obj, &err),
                             0);
            struct bpf_prog *prog = bpf_object_prog(obj, 0);
            struct bpf_verify_result res;
            memset(&res, 0, sizeof res);
            assert_int_equal(bpf_prog_verify(prog, &res), 0);
            assert_true(res.accepted);
            bpf_prog_set_exec_mode(prog, mode ? BPF_EXEC_JIT : BPF_EXEC_INTERP);
            uint8_t copy[512] = {0};
            assert_true(mem_len <= sizeof copy);
            memcpy(copy, mem, mem_len);
            r0[mode] = bpf_prog_run_raw(prog, copy, mem_len);
            if (mode) {
                jited += prog->jit != NULL;
            }
            bpf_verify_result_destroy(&res);
            bpf_object_close(obj);
        }
        if (r0[0] != expect || r0[1] != expect) {
            print_error("%s: interp 0x%" PRIx64 " jit 0x%" PRIx64
                        " expected 0x%" PRIx64 "\n",
                        e->d_name, r0[0], r0[1], expect);
            failed++;
        }
        n_cases++;
        free(insns);
        free(mem);
        free(asm_text);
        free(mem_hex);
        free(result);
        free(text);
        free(path);
    }
    closedir(d);
    free(dir);
    assert_true(n_cases >= 100);
    assert_int_equal(jited, n_cases);
    assert_int_equal(failed, 0);
}

/* Array and per-CPU array lookups are emitted inline: the value's address
 * for every index (NULL past the end), each CPU's copy, a CPU number past
 * the copies (wrapped by the map operation), and the map cost counters,
 * all as in the interpreter. */
static void
test_inline_array_lookups(void **state)
{
    struct bpf_map arr = {.name = "a",
                          .type = BPF_MAP_TYPE_ARRAY,
                          .key_size = 4,
                          .value_size = 12,
                          .max_entries = 5};
    struct bpf_map pcpu = {.name = "p",
                           .type = BPF_MAP_TYPE_PERCPU_ARRAY,
                           .key_size = 4,
                           .value_size = 8,
                           .max_entries = 3,
                           .n_cpus = 3};
    assert_int_equal(bpf_map_create_internal(&arr), 0);
    assert_int_equal(bpf_map_create_internal(&pcpu), 0);
    struct bpf_map *maps[] = {&arr, &pcpu};

    /* r0 = (a[key] ? a[key] - &a[0] : 0xffff) << 16 | p[key] ? ++*p[key]
     * : 0xffff, the key being the packet's first byte. */
    const struct bpf_insn p[] = {
        LDX_DW(6, 1, 0),
        INSN(BPF_LDX | BPF_MEM | BPF_B, 6, 6, 0, 0),
        STX_W(10, 6, -4),
        INSN(BPF_LD | BPF_DW | BPF_IMM, 1, BPF_PSEUDO_MAP_FD, 0, 0),
        INSN(0, 0, 0, 0, 0),
        MOV64_X(2, 10),
        ADD64_K(2, -4),
        CALL(BPF_FUNC_map_lookup_elem),
        MOV64_K(7, 0xffff),
        INSN(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 2, 0),
        MOV64_X(7, 0),
        INSN(BPF_ALU64 | BPF_SUB | BPF_X, 7, 8, 0, 0),
        INSN(BPF_ALU64 | BPF_LSH | BPF_K, 7, 0, 0, 16),
        INSN(BPF_LD | BPF_DW | BPF_IMM, 1, BPF_PSEUDO_MAP_FD, 0, 1),
        INSN(0, 0, 0, 0, 0),
        MOV64_X(2, 10),
        ADD64_K(2, -4),
        CALL(BPF_FUNC_map_lookup_elem),
        MOV64_K(1, 0xffff),
        INSN(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 3, 0),
        LDX_DW(1, 0, 0),
        ADD64_K(1, 1),
        STX_DW(0, 1, 0),
        INSN(BPF_ALU64 | BPF_OR | BPF_X, 7, 1, 0, 0),
        MOV64_X(0, 7),
        EXIT,
    };
    struct bpf_prog prog = prog_of(p, ARRAY_SIZE(p), BPF_PROG_KIND_XDP);
    prog.maps = maps;
    prog.n_maps = 2;

    /* r8 = &a[0] first, from the map's own lookup. */
    uint32_t zero = 0;
    uintptr_t base = (uintptr_t)arr.ops->lookup(&arr, &zero);
    struct bpf_insn fixed[ARRAY_SIZE(p) + 2];
    fixed[0] = LD64_LO(8, base);
    fixed[1] = LD64_HI(base);
    memcpy(fixed + 2, p, sizeof p);
    prog.insns = fixed;
    prog.n_insns = ARRAY_SIZE(fixed);

    uint8_t pkt[64] = {0};
    struct bpf_xdp_buff xdp = {.data = (uintptr_t)pkt,
                               .data_end = (uintptr_t)(pkt + sizeof pkt)};
    struct bpf_map_costs costs[2];
    for (uint32_t key = 0; key < 7; key++) {
        for (uint32_t cpu = 0; cpu < 5; cpu++) {
            uint64_t r[2];
            pkt[0] = (uint8_t)key;
            for (int mode = 0; mode < 2; mode++) {
                memset(&costs[mode], 0, sizeof costs[mode]);
                bpf_map_costs = key == 2 ? &costs[mode] : NULL;
                bpf_set_cpu(cpu);
                bpf_prog_set_exec_mode(&prog,
                                       mode ? BPF_EXEC_JIT : BPF_EXEC_INTERP);
                r[mode] = bpf_prog_run_xdp(&prog, &xdp);
                bpf_map_costs = NULL;
            }
            /* Both runs incremented p[key] on this CPU: one apart. */
            uint64_t expect_p = key < 3 ? (r[0] & 0xffff) + 1 : 0xffff;
            assert_int_equal(r[1] & 0xffff, expect_p);
            assert_int_equal(r[1] >> 16, r[0] >> 16);
            assert_int_equal(r[0] >> 16, key < 5 ? key * 16 : 0xffff);
            assert_memory_equal(&costs[0], &costs[1], sizeof costs[0]);
            if (key == 2) {
                assert_int_equal(costs[1].ops, 2);
            }
        }
    }
    const struct bpf_jit_cost *c = bpf_prog_jit_costs(&prog, NULL, NULL);
    assert_non_null(c);
    assert_true(c[2 + 7].inlined && c[2 + 17].inlined);
    assert_false(c[2 + 8].inlined);
    bpf_jit_free(&prog);
    bpf_map_free_internal(&arr);
    bpf_map_free_internal(&pcpu);
}

/* bpf_ktime_get_ns and bpf_get_smp_processor_id, emitted inline, read
 * the thread's packet time and CPU as the helpers do. */
static void
test_inline_time_and_cpu(void **state)
{
    const struct bpf_insn p[] = {
        CALL(BPF_FUNC_ktime_get_ns),
        MOV64_X(6, 0),
        CALL(BPF_FUNC_get_smp_processor_id),
        INSN(BPF_ALU64 | BPF_LSH | BPF_K, 0, 0, 0, 40),
        INSN(BPF_ALU64 | BPF_XOR | BPF_X, 0, 6, 0, 0),
        EXIT,
    };
    struct bpf_prog prog = prog_of(p, ARRAY_SIZE(p), BPF_PROG_KIND_XDP);
    uint8_t pkt[64] = {0};
    struct bpf_xdp_buff xdp = {.data = (uintptr_t)pkt,
                               .data_end = (uintptr_t)(pkt + sizeof pkt)};

    for (uint32_t cpu = 0; cpu < 300; cpu += 37) {
        uint64_t t = 0x123456789ull * (cpu + 1);
        bpf_set_time_ns(t);
        bpf_set_cpu(cpu);
        for (int mode = 0; mode < 2; mode++) {
            bpf_prog_set_exec_mode(&prog,
                                   mode ? BPF_EXEC_JIT : BPF_EXEC_INTERP);
            assert_int_equal(bpf_prog_run_xdp(&prog, &xdp),
                             (uint64_t)cpu << 40 ^ t);
        }
    }
    const struct bpf_jit_cost *c = bpf_prog_jit_costs(&prog, NULL, NULL);
    assert_true(c[0].inlined && c[2].inlined && !c[1].inlined);
    bpf_set_cpu(0);
    bpf_jit_free(&prog);
}

/* A narrow load compared with a constant right after, its register dead
 * then, is one compare of memory: every width, unsigned and equality
 * condition and boundary constant against the interpreter, and the
 * cases that must keep the load (register read later, signed
 * condition, constant wider than the load). */
static void
test_load_compare_fusion(void **state)
{
    static const uint8_t sizes[] = {BPF_B, BPF_H, BPF_W};
    static const uint8_t ops[] = {BPF_JEQ, BPF_JNE, BPF_JGT, BPF_JGE,
                                  BPF_JLT, BPF_JLE, BPF_JSGT};
    static const int32_t ks[] = {0,      1,       0x7f,       0x80,
                                 0xff,   0x100,   0x7fff,     0x8000,
                                 0xffff, 0x10000, 0x7fffffff, -1};
    uint8_t mem[MEM_SIZE];

    for (size_t i = 0; i < sizeof mem; i++) {
        mem[i] = (uint8_t)(0x7f + i * 0x3b);
    }
    for (size_t z = 0; z < ARRAY_SIZE(sizes); z++) {
        int bytes = z == 0 ? 1 : z == 1 ? 2 : 4;
        for (size_t o = 0; o < ARRAY_SIZE(ops); o++) {
            for (size_t k = 0; k < ARRAY_SIZE(ks); k++) {
                for (int keep = 0; keep < 2; keep++) {
                    for (int cls = 0; cls < 2; cls++) {
                        uint8_t jcls = cls ? BPF_JMP32 : BPF_JMP;
                        /* mem[8] holds a value equal to the constant
                         * where it fits, so that == is taken too. */
                        memcpy(mem + 8, &ks[k], (size_t)bytes);
                        const struct bpf_insn p[] = {
                            MOV64_K(0, 1),
                            MOV64_K(3, 5),
                            INSN(BPF_LDX | BPF_MEM | sizes[z], 3, 1,
                                 (int16_t)(8 + 4 * (k & 1)), 0),
                            INSN(jcls | ops[o] | BPF_K, 3, 0, 1, ks[k]),
                            MOV64_K(0, 2),
                            /* keep: r3 is read after the jump. */
                            keep ? INSN(BPF_ALU64 | BPF_ADD | BPF_X, 0, 3, 0, 0)
                                 : MOV64_K(3, 0),
                            EXIT,
                        };
                        struct bpf_prog pr =
                            prog_of(p, ARRAY_SIZE(p), BPF_PROG_KIND_XDP);
                        char *err = NULL;
                        run_both_kind(p, ARRAY_SIZE(p), mem, 64,
                                      BPF_PROG_KIND_XDP);
                        assert_int_equal(bpf_jit_compile(&pr, &err), 0);
                        const struct bpf_jit_cost *c =
                            bpf_prog_jit_costs(&pr, NULL, NULL);
                        bool fits = ks[k] >= 0 &&
                                    (bytes == 4 || ks[k] < 1 << (8 * bytes));
                        bool fused = !keep && fits && ops[o] != BPF_JSGT;
                        if (fused != (c[3].x86_max == 1)) {
                            fail_msg("size %d op 0x%x k %d keep %d: jump "
                                     "cost %u",
                                     bytes, ops[o], ks[k], keep, c[3].x86_max);
                        }
                        bpf_jit_free(&pr);
                    }
                }
            }
        }
    }
}

/* ---- Merged stack stores ---- */

/* Runs 'insns' (XDP kind: direct accesses, where stores merge) in both
 * modes, and returns the x86 instructions of insn 'probe' (a store: 1
 * when written as itself, more when its bytes are collected for a merged
 * store). */
static unsigned int
merge_probe(const struct test_prog *tp, uint32_t probe)
{
    uint8_t mem[MEM_SIZE] = {0};
    struct bpf_prog p = prog_of(tp->insns, tp->n, BPF_PROG_KIND_XDP);
    char *err = NULL;

    run_both_kind(tp->insns, tp->n, mem, 96, BPF_PROG_KIND_XDP);
    run_both_kind(tp->insns, tp->n, mem, 96, BPF_PROG_KIND_RAW);
    if (bpf_jit_compile(&p, &err)) {
        fail_msg("JIT failed: %s", err);
    }
    unsigned int n = bpf_prog_jit_costs(&p, NULL, NULL)[probe].x86_max;
    bpf_jit_free(&p);
    return n;
}

/* Narrow stores that fill an 8- or 4-byte stack slot are written as one
 * (r0 then reads the slot back); any access in between that may touch the
 * slot, directly or through a copy of r10 (also one spilled and
 * reloaded), keeps them apart.  Every byte register is a source. */
static void
test_merged_stack_stores(void **state)
{
    for (int src = 0; src < 10; src++) {
        for (int shape = 0; shape < 8; shape++) {
            struct test_prog tp = {.n = 0};
            uint64_t init[10];
            int other = src == 3 ? 4 : 3;
            uint32_t probe;
            init_regs(init, (unsigned int)(src * 8 + shape));
            prefix(&tp, init);
            add(&tp, MOV64_X(6, 10));
            add(&tp, ADD64_K(6, -32));
            if (src == 6) {
                /* r6 is the alias here: use r7 as the value. */
                add(&tp, MOV64_X(6, 7));
                add(&tp, MOV64_X(7, 10));
                add(&tp, ADD64_K(7, -32));
            }
            int alias = src == 6 ? 7 : 6;
            switch (shape) {
            case 0: /* Two words: merged. */
                add(&tp, STX_W(10, src, -32));
                probe = (uint32_t)tp.n;
                add(&tp, STX_W(10, other, -28));
                break;
            case 1: /* Halves, a byte pair and an immediate: merged. */
                add(&tp, STX_H(10, src, -32));
                add(&tp, STX_B(10, other, -30));
                add(&tp, INSN(BPF_ST | BPF_MEM | BPF_B, 10, 0, -29, 0x9a));
                probe = (uint32_t)tp.n;
                add(&tp, STX_W(10, src, -28));
                break;
            case 2: /* A store through the alias in between. */
                add(&tp, STX_W(10, src, -32));
                add(&tp, STX_B(alias, other, 1));
                probe = (uint32_t)tp.n;
                add(&tp, STX_W(10, other, -28));
                break;
            case 3: /* A load through the alias in between. */
                add(&tp, STX_W(10, src, -32));
                add(&tp, LDX_W(8, alias, 0));
                probe = (uint32_t)tp.n;
                add(&tp, STX_W(10, other, -28));
                add(&tp, INSN(BPF_ALU64 | BPF_ADD | BPF_X, 0, 8, 0, 0));
                break;
            case 4: /* A direct load of the slot in between. */
                add(&tp, STX_H(10, src, -32));
                add(&tp, INSN(BPF_LDX | BPF_MEM | BPF_H, 8, 10, -32, 0));
                add(&tp, STX_H(10, other, -30));
                probe = (uint32_t)tp.n;
                add(&tp, STX_W(10, other, -28));
                add(&tp, INSN(BPF_ALU64 | BPF_ADD | BPF_X, 0, 8, 0, 0));
                break;
            case 5: /* The alias spilled and reloaded, then used. */
                add(&tp, STX_DW(10, alias, -48));
                add(&tp, STX_W(10, src, -32));
                add(&tp, LDX_DW(9, 10, -48));
                add(&tp, STX_B(9, other, 6));
                probe = (uint32_t)tp.n;
                add(&tp, STX_W(10, other, -28));
                break;
            case 6: /* A jump lands in between. */
                add(&tp, STX_W(10, src, -32));
                add(&tp, INSN(BPF_JMP | BPF_JA, 0, 0, 0, 0));
                probe = (uint32_t)tp.n;
                add(&tp, STX_W(10, other, -28));
                break;
            default: /* A 4-byte slot of bytes; the rest stays. */
                add(&tp, STX_DW(10, other, -32));
                add(&tp, STX_B(10, src, -28));
                add(&tp, STX_B(10, other, -27));
                add(&tp, STX_B(10, src, -26));
                probe = (uint32_t)tp.n;
                add(&tp, STX_B(10, other, -25));
                break;
            }
            add(&tp, LDX_DW(0, 10, -32));
            /* The suffix stores the registers: stack addresses as offsets
             * from r10 (the two modes' stacks lie at different places). */
            add(&tp, INSN(BPF_ALU64 | BPF_SUB | BPF_X, alias, 10, 0, 0));
            if (shape == 5) {
                add(&tp, INSN(BPF_ALU64 | BPF_SUB | BPF_X, 9, 10, 0, 0));
            }
            suffix(&tp);
            unsigned int cost = merge_probe(&tp, probe);
            bool merged = shape <= 1 || shape == 7;
            if (merged != (cost > 1)) {
                fail_msg("shape %d src r%d: store cost %u", shape, src, cost);
            }
        }
    }
}

/* The x86 instructions of insn i..i+n-1 of 'insns' (XDP, compiled). */
static unsigned int
jit_cost_of(const struct bpf_insn *insns, size_t len, uint32_t i, uint32_t n)
{
    struct bpf_prog p = prog_of(insns, len, BPF_PROG_KIND_XDP);
    char *err = NULL;
    unsigned int sum = 0;

    if (bpf_jit_compile(&p, &err)) {
        fail_msg("JIT failed: %s", err);
    }
    for (uint32_t k = i; k < i + n; k++) {
        sum += bpf_prog_jit_costs(&p, NULL, NULL)[k].x86_max;
    }
    bpf_jit_free(&p);
    return sum;
}

/* Byte loads combined into a 16-bit load (either order), compared with a
 * constant in memory when the value dies at the jump, and a load masked
 * and tested for zero as one test of memory: the same results as the
 * interpreter on many packets, and one x86 instruction for the group;
 * not fused when a register the fused code would not set is read later. */
static void
test_load_fusions(void **state)
{
    uint8_t mem[MEM_SIZE];
    uint32_t seed = 12345;

    for (int round = 0; round < 64; round++) {
        for (size_t b = 0; b < sizeof mem; b++) {
            seed = seed * 1103515245 + 12345;
            mem[b] = (uint8_t)(seed >> 16);
        }
        if (round & 1) {
            mem[12] = 0x08, mem[13] = 0x00; /* Make the compares match. */
            mem[5] = 0x00;
        }
        int32_t k = round & 2 ? 0x0008 : 0x86dd;
        uint8_t jop = round & 4 ? BPF_JNE : BPF_JGT;
        uint8_t alu = round & 8 ? BPF_ALU : BPF_ALU64;
        /* High byte first; the value returned. */
        const struct bpf_insn ld_hi_first[] = {
            MOV64_K(0, 0),
            INSN(BPF_LDX | BPF_MEM | BPF_B, 4, 1, 13, 0),
            INSN(alu | BPF_LSH | BPF_K, 4, 0, 0, 8),
            INSN(BPF_LDX | BPF_MEM | BPF_B, 5, 1, 12, 0),
            INSN(alu | BPF_OR | BPF_X, 4, 5, 0, 0),
            MOV64_X(0, 4),
            EXIT,
        };
        /* Low byte first, the load's base overwritten by the high byte
         * (allowed: it is read before), then compared. */
        const struct bpf_insn cmp_lo_first[] = {
            MOV64_K(0, 0),
            MOV64_X(3, 1),
            INSN(BPF_LDX | BPF_MEM | BPF_B, 5, 3, 12, 0),
            INSN(BPF_LDX | BPF_MEM | BPF_B, 3, 3, 13, 0),
            INSN(alu | BPF_LSH | BPF_K, 3, 0, 0, 8),
            INSN(alu | BPF_OR | BPF_X, 3, 5, 0, 0),
            INSN(BPF_JMP32 | jop | BPF_K, 3, 0, 1, k),
            MOV64_K(0, 1),
            EXIT,
        };
        /* The low byte's register read later: no fusion. */
        const struct bpf_insn lo_live[] = {
            MOV64_K(0, 0),
            INSN(BPF_LDX | BPF_MEM | BPF_B, 4, 1, 13, 0),
            INSN(alu | BPF_LSH | BPF_K, 4, 0, 0, 8),
            INSN(BPF_LDX | BPF_MEM | BPF_B, 5, 1, 12, 0),
            INSN(alu | BPF_OR | BPF_X, 4, 5, 0, 0),
            INSN(BPF_JMP | jop | BPF_K, 4, 0, 1, k),
            MOV64_K(0, 1),
            INSN(BPF_ALU64 | BPF_ADD | BPF_X, 0, 5, 0, 0),
            EXIT,
        };
        run_both_kind(ld_hi_first, ARRAY_SIZE(ld_hi_first), mem, sizeof mem,
                      BPF_PROG_KIND_XDP);
        run_both_kind(cmp_lo_first, ARRAY_SIZE(cmp_lo_first), mem,
                      sizeof mem, BPF_PROG_KIND_XDP);
        run_both_kind(lo_live, ARRAY_SIZE(lo_live), mem, sizeof mem,
                      BPF_PROG_KIND_XDP);
        if (round < 16) {
            assert_int_equal(
                jit_cost_of(ld_hi_first, ARRAY_SIZE(ld_hi_first), 1, 4), 1);
            assert_int_equal(
                jit_cost_of(cmp_lo_first, ARRAY_SIZE(cmp_lo_first), 2, 5), 2);
            assert_int_equal(jit_cost_of(lo_live, ARRAY_SIZE(lo_live), 1, 4),
                             4);
        }

        /* Flag tests of every load size, masks with bits beyond the load
         * and negative (sign-extended in 64 bits). */
        static const int32_t masks[] = {0x02, 0x180, -1, 0x10000, 0};
        static const uint8_t sizes[] = {BPF_B, BPF_H, BPF_W};
        for (size_t m = 0; m < ARRAY_SIZE(masks); m++) {
            for (size_t z = 0; z < ARRAY_SIZE(sizes); z++) {
                const struct bpf_insn test[] = {
                    MOV64_K(0, 0),
                    INSN(BPF_LDX | BPF_MEM | sizes[z], 2, 1, 5, 0),
                    INSN(alu | BPF_AND | BPF_K, 2, 0, 0, masks[m]),
                    INSN((round & 16 ? BPF_JMP : BPF_JMP32) |
                             (round & 32 ? BPF_JEQ : BPF_JNE) | BPF_K,
                         2, 0, 1, 0),
                    MOV64_K(0, 1),
                    EXIT,
                };
                run_both_kind(test, ARRAY_SIZE(test), mem, sizeof mem,
                              BPF_PROG_KIND_XDP);
                if (round < 2) {
                    assert_int_equal(
                        jit_cost_of(test, ARRAY_SIZE(test), 1, 3), 2);
                }
            }
        }
    }
}

/* ---- Instruction costs (bpf_prog_jit_costs()) ---- */

/* Runs 'p' (compiled) single-stepped on 'mem' and returns the x86
 * instructions its image executed. */
static uint64_t
measured_run(const struct bpf_prog *p, uint8_t *mem, size_t len)
{
    int stop = BPF_JIT_STOP_NONE;
    struct bpf_jit_enter_args args = {
        .code = p->jit->code, .r1 = (uintptr_t)mem, .r2 = len, .stop = &stop};

    uint64_t n =
        x86count_run((void (*)(void *))(uintptr_t)bpf_jit_enter, &args);
    assert_int_equal(stop, BPF_JIT_STOP_NONE);
    assert_true(n > BPF_JIT_ENTER_INSNS);
    return n - BPF_JIT_ENTER_INSNS;
}

/* Checks the costs of 'insns' against a measured run: the prologue, the
 * epilogue and the cost of each instruction on the executed 'path' (every
 * instruction in order when 'path' is NULL) must add up to the count, or
 * bracket it when a translation branches inside ('exact': none does on
 * this path).  Returns the count. */
static uint64_t
check_costs(const struct bpf_insn *insns, size_t n, enum bpf_prog_kind kind,
            bool trusted, const uint32_t *path, size_t path_len, bool exact)
{
    struct bpf_prog p = prog_of(insns, n, kind);
    uint8_t mem[MEM_SIZE] = {0};
    uint32_t prologue = 0, epilogue = 0;
    char *err = NULL;

    p.trusted = trusted;
    assert_null(bpf_prog_jit_costs(&p, &prologue, &epilogue));
    if (bpf_jit_compile(&p, &err)) {
        fail_msg("JIT failed: %s", err);
    }
    const struct bpf_jit_cost *c = bpf_prog_jit_costs(&p, &prologue, &epilogue);
    assert_non_null(c);
    /* A leaf image's exits return to C: nothing runs after them. */
    if (p.jit->leaf) {
        assert_int_equal(epilogue, 0);
    } else {
        assert_true(prologue > 0 && epilogue > 0);
    }
    uint64_t lo = prologue + epilogue, hi = lo;
    size_t steps = path ? path_len : n;
    for (size_t k = 0; k < steps; k++) {
        uint32_t i = path ? path[k] : (uint32_t)k;
        assert_true(i < n);
        assert_true(c[i].x86_min <= c[i].x86_max);
        assert_false(c[i].inlined);
        lo += c[i].x86_min;
        hi += c[i].x86_max;
    }
    assert_true(!exact || lo == hi);
    uint64_t got = measured_run(&p, mem, sizeof mem);
    if (got < lo || got > hi) {
        fail_msg("measured %" PRIu64 " x86 instructions, costs say %" PRIu64
                 "..%" PRIu64,
                 got, lo, hi);
    }
    bpf_jit_free(&p);
    return got;
}

/* Straight-line programs whose translations never branch: the costs add
 * up exactly.  With a register divisor and with raw-mode guards, the
 * translation branches inside and the costs bracket the count. */
static void
test_costs_match_measured(void **state)
{
    struct test_prog tp = {.n = 0};
    uint64_t init[10];

    init_regs(init, 3);
    prefix(&tp, init);
    add(&tp, INSN(BPF_ALU64 | BPF_ADD | BPF_X, 0, 1, 0, 0));
    add(&tp, INSN(BPF_ALU | BPF_SUB | BPF_K, 2, 0, 0, 1000));
    add(&tp, INSN(BPF_ALU64 | BPF_MUL | BPF_K, 3, 0, 0, 0x12345));
    add(&tp, INSN(BPF_ALU64 | BPF_LSH | BPF_X, 5, 4, 0, 0));
    add(&tp, INSN(BPF_ALU64 | BPF_ARSH | BPF_K, 6, 0, 0, 7));
    add(&tp, INSN(BPF_ALU | BPF_END | BPF_TO_BE, 7, 0, 0, 16));
    add(&tp, INSN(BPF_ALU | BPF_END | BPF_TO_BE, 8, 0, 0, 64));
    add(&tp, INSN(BPF_ALU64 | BPF_NEG, 9, 0, 0, 0));
    add(&tp, INSN(BPF_ALU64 | BPF_DIV | BPF_K, 3, 0, 0, 7));
    add(&tp, INSN(BPF_ALU | BPF_MOD | BPF_K, 2, 0, 0, 10));
    add(&tp, INSN(BPF_ALU64 | BPF_MOV | BPF_X, 4, 3, 0, 0));
    add(&tp, INSN(BPF_ALU64 | BPF_RSH | BPF_K, 4, 0, 0, 13));
    add(&tp, INSN(BPF_ALU64 | BPF_MOV | BPF_X, 5, 3, 0, 0));
    add(&tp, INSN(BPF_ALU64 | BPF_LSH | BPF_K, 5, 0, 0, 51));
    add(&tp, INSN(BPF_ALU64 | BPF_OR | BPF_X, 5, 4, 0, 0));
    add(&tp, INSN(BPF_STX | BPF_ATOMIC | BPF_DW, 10, 6, -24, BPF_ADD));
    suffix(&tp);
    uint64_t direct =
        check_costs(tp.insns, tp.n, BPF_PROG_KIND_XDP, true, NULL, 0, true);
    uint64_t guarded =
        check_costs(tp.insns, tp.n, BPF_PROG_KIND_RAW, false, NULL, 0, false);
    assert_true(guarded > direct);

    /* A register divisor: zero, -1 and a plain one take different paths
     * through the division's checks. */
    for (int d = 0; d < 3; d++) {
        tp.n = 0;
        init_regs(init, 5);
        init[2] = d == 0 ? 0 : d == 1 ? UINT64_MAX : 12345;
        prefix(&tp, init);
        add(&tp, INSN(BPF_ALU64 | BPF_DIV | BPF_X, 3, 2, 1, 0));
        add(&tp, INSN(BPF_ALU | BPF_MOD | BPF_X, 4, 2, 0, 0));
        suffix(&tp);
        check_costs(tp.insns, tp.n, BPF_PROG_KIND_XDP, true, NULL, 0, false);
    }
}

/* Jumps, a loop and BPF-to-BPF calls (calls_prog), summed along the path
 * the run takes. */
static void
test_costs_along_path(void **state)
{
    static const uint32_t calls_path[] = {
        0,  1,  2,  3,  4,  10, 11, 12, 13, 14, 15, 16, 20,
        21, 22, 23, 20, 21, 22, 23, 20, 21, 26, 24, 25, 26,
        24, 25, 26, 17, 18, 19, 5,  6,  7,  8,  9};
    /* r0 = sum of 1..3 in a loop. */
    const struct bpf_insn loop[] = {
        MOV64_K(0, 0),
        MOV64_K(1, 3),
        INSN(BPF_ALU64 | BPF_ADD | BPF_X, 0, 1, 0, 0),
        ADD64_K(1, -1),
        INSN(BPF_JMP | BPF_JNE | BPF_K, 1, 0, -3, 0),
        INSN(BPF_JMP | BPF_JA, 0, 0, 1, 0),
        MOV64_K(0, 99),
        EXIT,
    };
    static const uint32_t loop_path[] = {0, 1, 2, 3, 4, 2, 3, 4, 2, 3, 4, 5, 7};

    check_costs(calls_prog, ARRAY_SIZE(calls_prog), BPF_PROG_KIND_XDP, true,
                calls_path, ARRAY_SIZE(calls_path), true);
    check_costs(loop, ARRAY_SIZE(loop), BPF_PROG_KIND_XDP, true, loop_path,
                ARRAY_SIZE(loop_path), true);
}

int
main(void)
{
    log_set_level_all(LOG_LEVEL_ERR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alu_all_registers),
        cmocka_unit_test(test_neg_swap_movsx),
        cmocka_unit_test(test_rotate_idiom),
        cmocka_unit_test(test_jumps_all_conditions),
        cmocka_unit_test(test_jump_distances),
        cmocka_unit_test(test_loads_stores_all_registers),
        cmocka_unit_test(test_atomics_all_registers),
        cmocka_unit_test(test_local_calls_and_stack),
        cmocka_unit_test(test_call_depth_stop),
        cmocka_unit_test(test_ld_abs_ind),
        cmocka_unit_test(test_helpers_and_tail_calls),
        cmocka_unit_test(test_tail_call_to_leaf),
        cmocka_unit_test(test_raw_guards),
        cmocka_unit_test(test_code_memory_never_writable),
        cmocka_unit_test(test_untranslatable),
        cmocka_unit_test(test_progs_objects_both_modes),
        cmocka_unit_test(test_isa_suite_both_modes),
        cmocka_unit_test(test_inline_array_lookups),
        cmocka_unit_test(test_inline_time_and_cpu),
        cmocka_unit_test(test_load_compare_fusion),
        cmocka_unit_test(test_merged_stack_stores),
        cmocka_unit_test(test_load_fusions),
        cmocka_unit_test(test_costs_match_measured),
        cmocka_unit_test(test_costs_along_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
