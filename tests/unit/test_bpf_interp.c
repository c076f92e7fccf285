/* Instruction-level tests of the interpreter (src/bpf/interp.c) and of the
 * helpers it calls (src/bpf/helpers.c), built from raw instructions.
 *
 * The verifier is developed in parallel, so these raw-instruction programs
 * are marked verified by hand (prog.verified = true) instead of going
 * through bpf_prog_verify(): they test the interpreter's semantics, not
 * the verifier's verdicts.  Nothing else may set that flag.  They are also
 * marked trusted, so raw programs that use maps run without the raw-mode
 * run-time checks (tested separately in test_raw_checks).  XDP programs
 * here address struct bpf_xdp_buff directly (64-bit data, data_end, ...),
 * as the verifier's rewritten instructions do. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

/* With libbpf present, helper programs also run in the kernel
 * (BPF_PROG_TEST_RUN) and the results are compared; skipped where the
 * bpf() syscall is refused. */
#if __has_include(<bpf/bpf.h>)
#include <bpf/bpf.h>
#define HAVE_KERNEL_DIFF 1
#endif

#include "bpf/bpf_api.h"
#include "bpf/bpf_int.h"
#include "bpf/helpers.h"
#include "bpf/interp.h"
#include "bpf/jit.h"
#include "bpf/maps.h"
#include "bpf/verifier.h"
#include "core/compiler.h"
#include "core/log.h"

#define INSN(CODE, DST, SRC, OFF, IMM)                                         \
    ((struct bpf_insn){.code = (CODE),                                         \
                       .dst_reg = (DST),                                       \
                       .src_reg = (SRC),                                       \
                       .off = (OFF),                                           \
                       .imm = (IMM)})
#define ALU64_K(OP, D, I) INSN(BPF_ALU64 | BPF_##OP | BPF_K, D, 0, 0, I)
#define ALU64_X(OP, D, S) INSN(BPF_ALU64 | BPF_##OP | BPF_X, D, S, 0, 0)
#define ALU32_K(OP, D, I) INSN(BPF_ALU | BPF_##OP | BPF_K, D, 0, 0, I)
#define ALU32_X(OP, D, S) INSN(BPF_ALU | BPF_##OP | BPF_X, D, S, 0, 0)
#define MOV64_K(D, I) ALU64_K(MOV, D, I)
#define MOV64_X(D, S) ALU64_X(MOV, D, S)
#define LD64(D, V)                                                             \
    INSN(BPF_LD | BPF_DW | BPF_IMM, D, 0, 0, (int32_t)(uint32_t)(V)),          \
        INSN(0, 0, 0, 0, (int32_t)(uint32_t)((uint64_t)(V) >> 32))
#define LD_MAP(D, IDX)                                                         \
    INSN(BPF_LD | BPF_DW | BPF_IMM, D, BPF_PSEUDO_MAP_FD, 0, IDX),             \
        INSN(0, 0, 0, 0, 0)
#define LD_MAP_VALUE(D, IDX, OFF)                                              \
    INSN(BPF_LD | BPF_DW | BPF_IMM, D, BPF_PSEUDO_MAP_VALUE, 0, IDX),          \
        INSN(0, 0, 0, 0, OFF)
#define JMP_K(OP, D, I, OFF) INSN(BPF_JMP | BPF_##OP | BPF_K, D, 0, OFF, I)
#define JMP_X(OP, D, S, OFF) INSN(BPF_JMP | BPF_##OP | BPF_X, D, S, OFF, 0)
#define JA(OFF) INSN(BPF_JMP | BPF_JA, 0, 0, OFF, 0)
#define LDX(SZ, D, S, OFF) INSN(BPF_LDX | BPF_MEM | BPF_##SZ, D, S, OFF, 0)
#define LDSX(SZ, D, S, OFF) INSN(BPF_LDX | 0x80 | BPF_##SZ, D, S, OFF, 0)
#define STX(SZ, D, S, OFF) INSN(BPF_STX | BPF_MEM | BPF_##SZ, D, S, OFF, 0)
#define ST(SZ, D, OFF, I) INSN(BPF_ST | BPF_MEM | BPF_##SZ, D, 0, OFF, I)
#define ATOMIC(SZ, OP, D, S, OFF)                                              \
    INSN(BPF_STX | BPF_ATOMIC | BPF_##SZ, D, S, OFF, OP)
#define CALL(ID) INSN(BPF_JMP | BPF_CALL, 0, 0, 0, ID)
#define CALL_LOCAL(REL) INSN(BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_CALL, 0, REL)
#define EXIT INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)
/* Hook for the JIT (helper "jit"): JIT runs count no instructions. */
#define INSNS(N) (bpf_default_exec_mode() == BPF_EXEC_INTERP ? (N) : 0)

static struct bpf_prog
prog_of(const struct bpf_insn *insns, size_t n, enum bpf_prog_kind kind)
{
    struct bpf_prog p = {.name = "test",
                         .kind = kind,
                         .insns = (struct bpf_insn *)insns,
                         .n_insns = (uint32_t)n,
                         .verified = true,
                         .trusted = true};
    return p;
}

static uint64_t
run_raw(const struct bpf_insn *insns, size_t n, void *mem, size_t len)
{
    struct bpf_prog p = prog_of(insns, n, BPF_PROG_KIND_RAW);
    return bpf_prog_run_raw(&p, mem, len);
}

#define RUN(...)                                                               \
    ({                                                                         \
        const struct bpf_insn p_[] = {__VA_ARGS__};                            \
        run_raw(p_, ARRAY_SIZE(p_), NULL, 0);                                  \
    })
#define RUN_MEM(MEM, LEN, ...)                                                 \
    ({                                                                         \
        const struct bpf_insn p_[] = {__VA_ARGS__};                            \
        run_raw(p_, ARRAY_SIZE(p_), MEM, LEN);                                 \
    })

/* ---- ALU ---- */

struct alu_case {
    uint8_t code;    /* Class | op | source. */
    int16_t off;     /* 1 = signed div/mod; movsx width. */
    uint64_t a;      /* r0 before. */
    uint64_t b;      /* r1 (X) or the immediate (K). */
    uint64_t expect; /* r0 after. */
};

#define A64X(OP) (BPF_ALU64 | BPF_##OP | BPF_X)
#define A64K(OP) (BPF_ALU64 | BPF_##OP | BPF_K)
#define A32X(OP) (BPF_ALU | BPF_##OP | BPF_X)
#define A32K(OP) (BPF_ALU | BPF_##OP | BPF_K)
#define NEG1 0xffffffffffffffffull
#define MIN64 0x8000000000000000ull

static const struct alu_case alu_cases[] = {
    {A64X(ADD), 0, NEG1, 2, 1},
    {A64K(ADD), 0, 1, (uint32_t)-1, 0},
    {A64X(SUB), 0, 0, 1, NEG1},
    {A64K(SUB), 0, 5, (uint32_t)-1, 6},
    {A64X(MUL), 0, 0x100000000ull, 3, 0x300000000ull},
    {A64K(MUL), 0, 7, (uint32_t)-2, (uint64_t)-14},
    {A64X(DIV), 0, 100, 7, 14},
    {A64X(DIV), 0, 100, 0, 0},
    /* The immediate is sign-extended: 0xfff...fe / 0xfff...ff = 0. */
    {A64K(DIV), 0, NEG1 - 1, (uint32_t)-1, 0},
    {A64K(DIV), 0, 100, 0, 0},
    {A64X(DIV), 1, (uint64_t)-100, 7, (uint64_t)-14},
    {A64X(DIV), 1, MIN64, NEG1, MIN64},
    {A64X(DIV), 1, 5, 0, 0},
    {A64K(DIV), 1, 100, (uint32_t)-7, (uint64_t)-14},
    {A64X(MOD), 0, 100, 7, 2},
    {A64X(MOD), 0, 100, 0, 100},
    {A64K(MOD), 0, 100, 0, 100},
    {A64X(MOD), 1, (uint64_t)-100, 7, (uint64_t)-2},
    {A64X(MOD), 1, 100, (uint64_t)-7, 2},
    {A64X(MOD), 1, MIN64, NEG1, 0},
    {A64X(MOD), 1, (uint64_t)-5, 0, (uint64_t)-5},
    {A64X(OR), 0, 0xf0, 0x0f, 0xff},
    {A64K(OR), 0, 0, (uint32_t)-2, NEG1 - 1},
    {A64X(AND), 0, 0xff0, 0x0ff, 0x0f0},
    {A64K(AND), 0, NEG1, 0x80000000u, 0xffffffff80000000ull},
    {A64X(XOR), 0, 0xff, 0x0f, 0xf0},
    {A64K(XOR), 0, 0, (uint32_t)-1, NEG1},
    {A64X(LSH), 0, 1, 63, MIN64},
    {A64X(LSH), 0, 1, 64, 1}, /* Count masked to 6 bits. */
    {A64K(LSH), 0, 3, 4, 48},
    {A64X(RSH), 0, MIN64, 63, 1},
    {A64K(RSH), 0, NEG1, 60, 15},
    {A64X(ARSH), 0, MIN64, 63, NEG1},
    {A64K(ARSH), 0, (uint64_t)-16, 2, (uint64_t)-4},
    {A64K(NEG), 0, 5, 0, (uint64_t)-5},
    {A64K(MOV), 0, 0, (uint32_t)-1, NEG1},
    {A64X(MOV), 0, 0, 0x123456789ull, 0x123456789ull},
    {A64X(MOV), 8, 0, 0x180, 0xffffffffffffff80ull},
    {A64X(MOV), 8, 0, 0x17f, 0x7f},
    {A64X(MOV), 16, 0, 0x18000, 0xffffffffffff8000ull},
    {A64X(MOV), 32, 0, 0x180000000ull, 0xffffffff80000000ull},
    {A32X(ADD), 0, 0xffffffff, 1, 0},
    {A32X(ADD), 0, 0x1234567800000000ull, 0, 0},
    {A32K(SUB), 0, 0, 1, 0xffffffff},
    {A32X(MUL), 0, 0x10000, 0x10000, 0},
    {A32K(MOV), 0, NEG1, (uint32_t)-1, 0xffffffff},
    {A32X(MOV), 0, 0, 0xffffffff12345678ull, 0x12345678},
    {A32X(MOV), 8, 0, 0x80, 0xffffff80},
    {A32X(MOV), 16, 0, 0xffff8000ull, 0xffff8000},
    {A32X(DIV), 0, 0xffffffff00000064ull, 7, 14},
    {A32X(DIV), 0, 100, 0, 0},
    {A32K(DIV), 0, 0xfffffffe, (uint32_t)-1, 0},
    {A32X(MOD), 0, 0xaaaaaaaabbbbbbbbull, 0, 0xbbbbbbbb},
    {A32K(MOD), 0, 0xaaaaaaaabbbbbbbbull, 0, 0xbbbbbbbb},
    {A32X(MOD), 0, 100, 7, 2},
    {A32X(DIV), 1, (uint32_t)-100, 7, 0xfffffff2},
    {A32X(DIV), 1, 0x80000000, 0xffffffff, 0x80000000},
    {A32X(MOD), 1, (uint32_t)-100, 7, 0xfffffffe},
    {A32X(MOD), 1, 0x80000000, 0xffffffff, 0},
    {A32K(MOD), 1, 0xffffffff0000000full, 0, 0x0000000f},
    {A32X(LSH), 0, 1, 31, 0x80000000},
    {A32X(LSH), 0, 1, 32, 1}, /* Count masked to 5 bits. */
    {A32X(RSH), 0, 0xffffffff80000000ull, 31, 1},
    {A32X(ARSH), 0, 0x80000000, 31, 0xffffffff},
    {A32K(ARSH), 0, 0xffffffff00000010ull, 2, 4},
    {A32K(NEG), 0, 5, 0, 0xfffffffb},
    {A32X(OR), 0, 0xffffffff00000001ull, 2, 3},
    {A32X(AND), 0, NEG1, 0xff, 0xff},
    {A32X(XOR), 0, NEG1, 0xf, 0xfffffff0},
};

static void
test_alu(void **state)
{
    for (size_t i = 0; i < ARRAY_SIZE(alu_cases); i++) {
        const struct alu_case *c = &alu_cases[i];
        bool k = !(c->code & BPF_X);
        struct bpf_insn p[] = {
            LD64(0, c->a),
            LD64(1, c->b),
            INSN(c->code, 0, k ? 0 : 1, c->off, k ? (int32_t)c->b : 0),
            EXIT,
        };
        uint64_t got = run_raw(p, ARRAY_SIZE(p), NULL, 0);
        if (got != c->expect) {
            fail_msg("alu case %zu (code 0x%02x off %d): got 0x%llx, "
                     "expected 0x%llx",
                     i, c->code, c->off, (unsigned long long)got,
                     (unsigned long long)c->expect);
        }
    }
}

static void
test_byte_swaps(void **state)
{
    static const struct {
        uint8_t code;
        int32_t width;
        uint64_t expect;
    } cases[] = {
        {BPF_ALU | BPF_END | BPF_TO_BE, 16, 0x8877},
        {BPF_ALU | BPF_END | BPF_TO_BE, 32, 0x88776655},
        {BPF_ALU | BPF_END | BPF_TO_BE, 64, 0x8877665544332211ull},
        {BPF_ALU | BPF_END | BPF_TO_LE, 16, 0x7788},
        {BPF_ALU | BPF_END | BPF_TO_LE, 32, 0x55667788},
        {BPF_ALU | BPF_END | BPF_TO_LE, 64, 0x1122334455667788ull},
        {BPF_ALU64 | BPF_END | BPF_TO_LE, 16, 0x8877},
        {BPF_ALU64 | BPF_END | BPF_TO_LE, 32, 0x88776655},
        {BPF_ALU64 | BPF_END | BPF_TO_LE, 64, 0x8877665544332211ull},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct bpf_insn p[] = {
            LD64(0, 0x1122334455667788ull),
            INSN(cases[i].code, 0, 0, 0, cases[i].width),
            EXIT,
        };
        assert_int_equal(run_raw(p, ARRAY_SIZE(p), NULL, 0), cases[i].expect);
    }
}

/* ---- Jumps ---- */

struct jmp_case {
    uint8_t cls; /* BPF_JMP or BPF_JMP32. */
    uint8_t op;
    uint64_t a, b; /* r1, and r2 or the immediate. */
    bool taken;
};

static const struct jmp_case jmp_cases[] = {
    {BPF_JMP, BPF_JEQ, 0x100000005ull, 5, false},
    {BPF_JMP32, BPF_JEQ, 0x100000005ull, 5, true},
    {BPF_JMP, BPF_JNE, 1, 1, false},
    {BPF_JMP, BPF_JNE, 1, 2, true},
    {BPF_JMP32, BPF_JNE, 0x100000000ull, 0, false},
    {BPF_JMP, BPF_JGT, NEG1, 1, true},
    {BPF_JMP, BPF_JSGT, NEG1, 1, false},
    {BPF_JMP32, BPF_JGT, 0x1ffffffffull, 0x2, true},
    {BPF_JMP32, BPF_JSGT, 0x1ffffffffull, 0x2, false},
    {BPF_JMP, BPF_JGE, 5, 5, true},
    {BPF_JMP, BPF_JGE, 4, 5, false},
    {BPF_JMP, BPF_JSGE, (uint64_t)-5, (uint64_t)-5, true},
    {BPF_JMP, BPF_JSGE, (uint64_t)-6, (uint64_t)-5, false},
    {BPF_JMP, BPF_JLT, 1, NEG1, true},
    {BPF_JMP, BPF_JSLT, 1, NEG1, false},
    {BPF_JMP32, BPF_JLT, 0x500000001ull, 2, true},
    {BPF_JMP, BPF_JLE, 3, 3, true},
    {BPF_JMP, BPF_JLE, 4, 3, false},
    {BPF_JMP, BPF_JSLE, (uint64_t)-3, 2, true},
    {BPF_JMP32, BPF_JSLE, 0x80000000, 0, true},
    {BPF_JMP32, BPF_JSLT, 0x7fffffff, 0, false},
    {BPF_JMP32, BPF_JSGE, 0xffffffff, 0, false},
    {BPF_JMP, BPF_JSET, 6, 2, true},
    {BPF_JMP, BPF_JSET, 4, 2, false},
    {BPF_JMP, BPF_JSET, 0x100000000ull, 0x100000000ull, true},
    {BPF_JMP32, BPF_JSET, 0x100000000ull, 0x100000000ull, false},
};

static void
test_jumps(void **state)
{
    for (size_t i = 0; i < ARRAY_SIZE(jmp_cases); i++) {
        const struct jmp_case *c = &jmp_cases[i];
        for (int k = 0; k < 2; k++) {
            /* The immediate form only where b fits in s32 as the 64-bit
             * value (sign extension) or as the 32-bit value. */
            bool imm_ok = (uint64_t)(int64_t)(int32_t)c->b == c->b ||
                          (c->cls == BPF_JMP32 && c->b <= 0xffffffff);
            if (k && !imm_ok) {
                continue;
            }
            struct bpf_insn p[] = {
                LD64(1, c->a),
                LD64(2, c->b),
                MOV64_K(0, 0),
                INSN(c->cls | c->op | (k ? BPF_K : BPF_X), 1, k ? 0 : 2, 1,
                     k ? (int32_t)c->b : 0),
                EXIT,
                MOV64_K(0, 1),
                EXIT,
            };
            if (run_raw(p, ARRAY_SIZE(p), NULL, 0) != c->taken) {
                fail_msg("jump case %zu (%s): expected %s", i,
                         k ? "imm" : "reg", c->taken ? "taken" : "not taken");
            }
        }
    }
    /* The 64-bit immediate is sign-extended: -1 equals all ones. */
    assert_int_equal(RUN(LD64(1, NEG1), MOV64_K(0, 0), JMP_K(JEQ, 1, -1, 1),
                         EXIT, MOV64_K(0, 1), EXIT),
                     1);
    assert_int_equal(RUN(LD64(1, 0xffffffff), MOV64_K(0, 0),
                         JMP_K(JLT, 1, -1, 1), EXIT, MOV64_K(0, 1), EXIT),
                     1);
}

static void
test_loops_and_gotol(void **state)
{
    /* r0 = 0; r1 = 10; do { r0 += 2; r1 -= 1; } while (r1 != 0) */
    assert_int_equal(RUN(MOV64_K(0, 0), MOV64_K(1, 10), ALU64_K(ADD, 0, 2),
                         ALU64_K(SUB, 1, 1), JMP_K(JNE, 1, 0, -3), EXIT),
                     20);
    /* JA forward skips; gotol (JMP32 | JA) takes its offset from imm. */
    assert_int_equal(RUN(MOV64_K(0, 1), JA(1), MOV64_K(0, 2), EXIT), 1);
    assert_int_equal(RUN(MOV64_K(0, 1), INSN(BPF_JMP32 | BPF_JA, 0, 0, 0, 2),
                         MOV64_K(0, 2), MOV64_K(0, 3), EXIT),
                     1);
}

/* ---- Memory ---- */

static void
test_loads_stores(void **state)
{
    uint8_t mem[32];
    for (int i = 0; i < 32; i++) {
        mem[i] = (uint8_t)(0x80 + i);
    }
    /* Loads are little-endian host loads at r1 + off. */
    assert_int_equal(RUN_MEM(mem, 32, LDX(B, 0, 1, 3), EXIT), 0x83);
    assert_int_equal(RUN_MEM(mem, 32, LDX(H, 0, 1, 2), EXIT), 0x8382);
    assert_int_equal(RUN_MEM(mem, 32, LDX(W, 0, 1, 4), EXIT), 0x87868584);
    assert_int_equal(RUN_MEM(mem, 32, LDX(DW, 0, 1, 8), EXIT),
                     0x8f8e8d8c8b8a8988ull);
    /* Unaligned and negative offsets. */
    assert_int_equal(RUN_MEM(mem, 32, MOV64_X(2, 1), ALU64_K(ADD, 2, 8),
                             LDX(W, 0, 2, -3), EXIT),
                     0x88878685);
    /* Sign-extending loads. */
    assert_int_equal(RUN_MEM(mem, 32, LDSX(B, 0, 1, 0), EXIT),
                     0xffffffffffffff80ull);
    assert_int_equal(RUN_MEM(mem, 32, LDSX(H, 0, 1, 0), EXIT),
                     0xffffffffffff8180ull);
    assert_int_equal(RUN_MEM(mem, 32, LDSX(W, 0, 1, 0), EXIT),
                     0xffffffff83828180ull);
    /* Stores of each size write exactly their bytes. */
    RUN_MEM(mem, 32, ST(B, 1, 0, 0x11), ST(H, 1, 2, 0x2233),
            ST(W, 1, 4, 0x44556677), ST(DW, 1, 8, -2), MOV64_K(0, 0), EXIT);
    assert_int_equal(mem[0], 0x11);
    assert_int_equal(mem[1], 0x81);
    assert_int_equal(mem[2], 0x33);
    assert_int_equal(mem[3], 0x22);
    assert_int_equal(mem[4], 0x77);
    assert_int_equal(mem[7], 0x44);
    for (int i = 8; i < 16; i++) {
        assert_int_equal(mem[i], i == 8 ? 0xfe : 0xff);
    }
    assert_int_equal(mem[16], 0x90);
    RUN_MEM(mem, 32, LD64(2, 0x0102030405060708ull), STX(DW, 1, 2, 16),
            STX(W, 1, 2, 24), STX(H, 1, 2, 28), STX(B, 1, 2, 30), MOV64_K(0, 0),
            EXIT);
    uint64_t dw;
    memcpy(&dw, mem + 16, 8);
    assert_int_equal(dw, 0x0102030405060708ull);
    assert_int_equal(mem[24], 0x08);
    assert_int_equal(mem[27], 0x05);
    assert_int_equal(mem[28], 0x08);
    assert_int_equal(mem[29], 0x07);
    assert_int_equal(mem[30], 0x08);
    assert_int_equal(mem[31], 0x9f);
    /* r2 = the memory length in raw runs. */
    assert_int_equal(RUN_MEM(mem, 32, MOV64_X(0, 2), EXIT), 32);
}

static void
test_stack(void **state)
{
    /* The stack is 512 bytes below r10; each frame has its own. */
    assert_int_equal(RUN(ST(DW, 10, -8, 77), ST(B, 10, -512, 5),
                         LDX(DW, 0, 10, -8), LDX(B, 1, 10, -512),
                         ALU64_X(ADD, 0, 1), EXIT),
                     82);
}

static void
test_atomics(void **state)
{
    uint64_t m[2];
    struct {
        int32_t op;
        uint64_t before, src, after, fetched;
    } cases[] = {
        {BPF_ADD, 10, 5, 15, 5},
        {BPF_ADD | BPF_FETCH, 10, 5, 15, 10},
        {BPF_OR, 0x0f, 0xf0, 0xff, 0xf0},
        {BPF_OR | BPF_FETCH, 0x0f, 0xf0, 0xff, 0x0f},
        {BPF_AND, 0xff, 0x0f, 0x0f, 0x0f},
        {BPF_AND | BPF_FETCH, 0xff, 0x0f, 0x0f, 0xff},
        {BPF_XOR, 0xff, 0x0f, 0xf0, 0x0f},
        {BPF_XOR | BPF_FETCH, 0xff, 0x0f, 0xf0, 0xff},
        {BPF_XCHG, 1, 2, 2, 1},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        /* 64-bit: r2 gets the old value only with BPF_FETCH. */
        m[0] = cases[i].before | 0x100000000ull;
        struct bpf_insn p[] = {
            LD64(2, cases[i].src | 0x100000000ull),
            ATOMIC(DW, cases[i].op, 1, 2, 0),
            MOV64_X(0, 2),
            EXIT,
        };
        uint64_t r2 = run_raw(p, ARRAY_SIZE(p), m, sizeof m);
        uint64_t hi = 0x100000000ull;
        uint64_t expect_mem =
            cases[i].op == BPF_AND || cases[i].op == (BPF_AND | BPF_FETCH)
                ? cases[i].after | hi
            : cases[i].op == BPF_ADD || cases[i].op == (BPF_ADD | BPF_FETCH)
                ? cases[i].after + 2 * hi
            : cases[i].op == BPF_XOR || cases[i].op == (BPF_XOR | BPF_FETCH)
                ? cases[i].after
                : cases[i].after | hi;
        assert_int_equal(m[0], expect_mem);
        assert_int_equal(r2, cases[i].fetched | hi);

        /* 32-bit: the neighbour word is untouched, fetched values are
         * zero-extended. */
        m[0] = 0xdddddddd00000000ull | cases[i].before;
        struct bpf_insn q[] = {
            LD64(2, 0xeeeeeeee00000000ull | cases[i].src),
            ATOMIC(W, cases[i].op, 1, 2, 0),
            MOV64_X(0, 2),
            EXIT,
        };
        r2 = run_raw(q, ARRAY_SIZE(q), m, sizeof m);
        assert_int_equal(m[0], 0xdddddddd00000000ull | cases[i].after);
        if (cases[i].op & BPF_FETCH) {
            assert_int_equal(r2, cases[i].before);
        } else {
            assert_int_equal(r2, 0xeeeeeeee00000000ull | cases[i].src);
        }
    }

    /* CMPXCHG: r0 = old value; store only when it equalled r0. */
    m[0] = 5;
    assert_int_equal(RUN_MEM(m, 16, MOV64_K(0, 5), MOV64_K(2, 9),
                             ATOMIC(DW, BPF_CMPXCHG, 1, 2, 0), EXIT),
                     5);
    assert_int_equal(m[0], 9);
    assert_int_equal(RUN_MEM(m, 16, MOV64_K(0, 5), MOV64_K(2, 7),
                             ATOMIC(DW, BPF_CMPXCHG, 1, 2, 0), EXIT),
                     9);
    assert_int_equal(m[0], 9);
    m[1] = 0x1111111122222222ull;
    assert_int_equal(RUN_MEM(m, 16, LD64(0, 0xffffffff22222222ull),
                             MOV64_K(2, 3), ATOMIC(W, BPF_CMPXCHG, 1, 2, 8),
                             EXIT),
                     0x22222222);
    assert_int_equal(m[1], 0x1111111100000003ull);
}

/* ---- LD_IMM64 and maps ---- */

static struct bpf_map *
map_new(uint32_t type, uint32_t key_size, uint32_t value_size,
        uint32_t max_entries, uint32_t flags)
{
    struct bpf_map *m = calloc(1, sizeof *m);
    strcpy(m->name, "m");
    m->type = type;
    m->key_size = key_size;
    m->value_size = value_size;
    m->max_entries = max_entries;
    m->map_flags = flags;
    assert_int_equal(bpf_map_create_internal(m), 0);
    return m;
}

static void
map_del(struct bpf_map *m)
{
    bpf_map_free_internal(m);
    free(m);
}

static uint64_t
run_with_maps(const struct bpf_insn *insns, size_t n, struct bpf_map **maps,
              uint32_t n_maps)
{
    struct bpf_prog p = prog_of(insns, n, BPF_PROG_KIND_RAW);
    p.maps = maps;
    p.n_maps = n_maps;
    return bpf_prog_run_raw(&p, NULL, 0);
}

static void
test_ld_imm64_maps(void **state)
{
    struct bpf_map *arr = map_new(BPF_MAP_TYPE_ARRAY, 4, 16, 1, 0);
    struct bpf_map *hash = map_new(BPF_MAP_TYPE_HASH, 4, 8, 8, 0);
    struct bpf_map *maps[] = {arr, hash};
    uint32_t zero = 0;
    uint8_t val[16] = {0};
    val[12] = 0x5a;
    assert_int_equal(bpf_map_update(arr, &zero, val, BPF_ANY), 0);

    assert_int_equal(RUN(LD64(0, 0x123456789abcdef0ull), EXIT),
                     0x123456789abcdef0ull);
    const struct bpf_insn p1[] = {LD_MAP(0, 1), EXIT};
    assert_int_equal(run_with_maps(p1, ARRAY_SIZE(p1), maps, 2),
                     (uint64_t)(uintptr_t)hash);
    /* A map value address: global data at value + offset. */
    const struct bpf_insn p2[] = {LD_MAP_VALUE(1, 0, 12), LDX(B, 0, 1, 0),
                                  ST(B, 1, 1, 0x77), EXIT};
    assert_int_equal(run_with_maps(p2, ARRAY_SIZE(p2), maps, 2), 0x5a);
    assert_int_equal(((uint8_t *)arr->ops->lookup(arr, &zero))[13], 0x77);

    /* Helpers on a hash map: update, lookup, delete, with the key and
     * value on the stack. */
    const struct bpf_insn p3[] = {
        ST(W, 10, -4, 7),      /* key = 7 */
        ST(DW, 10, -16, 1234), /* value = 1234 */
        LD_MAP(1, 1),
        MOV64_X(2, 10),
        ALU64_K(ADD, 2, -4),
        MOV64_X(3, 10),
        ALU64_K(ADD, 3, -16),
        MOV64_K(4, BPF_NOEXIST),
        CALL(BPF_FUNC_map_update_elem),
        JMP_K(JNE, 0, 0, 13), /* fail -> exit */
        LD_MAP(1, 1),
        MOV64_X(2, 10),
        ALU64_K(ADD, 2, -4),
        CALL(BPF_FUNC_map_lookup_elem),
        JMP_K(JEQ, 0, 0, 7),
        LDX(DW, 6, 0, 0), /* r6 = *value */
        LD_MAP(1, 1),
        MOV64_X(2, 10),
        ALU64_K(ADD, 2, -4),
        CALL(BPF_FUNC_map_delete_elem),
        ALU64_X(ADD, 0, 6), /* 0 + 1234 */
        EXIT,
    };
    assert_int_equal(run_with_maps(p3, ARRAY_SIZE(p3), maps, 2), 1234);
    uint32_t k7 = 7;
    uint64_t v;
    assert_int_equal(bpf_map_lookup(hash, &k7, &v), -ENOENT);
    /* Second insert with BPF_NOEXIST after a manual insert: -EEXIST. */
    v = 1;
    assert_int_equal(bpf_map_update(hash, &k7, &v, BPF_ANY), 0);
    assert_int_equal((int64_t)run_with_maps(p3, ARRAY_SIZE(p3), maps, 2),
                     -EEXIST);
    map_del(arr);
    map_del(hash);
}

/* ---- Calls ---- */

static void
test_local_calls(void **state)
{
    /* main: r6 = 7; r1 = 5; call f; r0 += r6; exit
     * f:    r6 = 100; r0 = r1 * 2; exit
     * r6 is restored for the caller: 10 + 7. */
    assert_int_equal(RUN(MOV64_K(6, 7), MOV64_K(1, 5), CALL_LOCAL(2),
                         ALU64_X(ADD, 0, 6), EXIT, MOV64_K(6, 100),
                         MOV64_X(0, 1), ALU64_K(MUL, 0, 2), EXIT),
                     17);
    /* Each frame has its own stack; the caller can pass a pointer to its
     * stack: main stores 40 at fp-8 and passes fp-8; f stores 2 at its own
     * fp-8 and returns *r1 + its fp-8. */
    assert_int_equal(RUN(ST(DW, 10, -8, 40), MOV64_X(1, 10),
                         ALU64_K(ADD, 1, -8), CALL_LOCAL(3), LDX(DW, 1, 10, -8),
                         ALU64_X(ADD, 0, 1), EXIT, ST(DW, 10, -8, 2),
                         LDX(DW, 0, 1, 0), LDX(DW, 2, 10, -8),
                         ALU64_X(ADD, 0, 2), EXIT),
                     82);
}

/* A function that recurses r1 times: f(n) = n == 0 ? 0 : f(n - 1) + 1. */
static uint64_t
recurse(int n)
{
    struct bpf_insn p[] = {
        MOV64_K(1, n),
        CALL_LOCAL(1),
        EXIT,
        MOV64_K(0, 0), /* f: */
        JMP_K(JEQ, 1, 0, 5),
        STX(DW, 10, 1, -8),
        ALU64_K(SUB, 1, 1),
        CALL_LOCAL(-5),
        ALU64_K(ADD, 0, 1),
        LDX(DW, 1, 10, -8),
        EXIT,
    };
    return run_raw(p, ARRAY_SIZE(p), NULL, 0);
}

static void
test_call_depth(void **state)
{
    /* main + f(6)..f(0) = 8 frames: allowed.  One more: the run stops
     * and returns 0. */
    assert_int_equal(recurse(6), 6);
    assert_int_equal(recurse(7), 0);
}

static void
test_helpers_basic(void **state)
{
    bpf_set_time_ns(4000000123ull);
    assert_int_equal(RUN(CALL(BPF_FUNC_ktime_get_ns), EXIT), 4000000123ull);
    assert_int_equal(RUN(CALL(BPF_FUNC_jiffies64), EXIT),
                     4000000123ull / (1000000000 / BPF_JIFFIES_HZ));
    bpf_set_cpu(3);
    assert_int_equal(RUN(CALL(BPF_FUNC_get_smp_processor_id), EXIT), 3);
    bpf_set_cpu(0);
    uint64_t a = RUN(CALL(BPF_FUNC_get_prandom_u32), EXIT);
    uint64_t b = RUN(CALL(BPF_FUNC_get_prandom_u32), EXIT);
    uint64_t c = RUN(CALL(BPF_FUNC_get_prandom_u32), EXIT);
    assert_true(a <= 0xffffffff && b <= 0xffffffff && c <= 0xffffffff);
    assert_false(a == b && b == c);
    assert_true(RUN(CALL(BPF_FUNC_get_numa_node_id), EXIT) < 1024);
    /* An unknown helper stops the run with 0. */
    assert_int_equal(RUN(MOV64_K(0, 9), CALL(9999), EXIT), 0);
}

static uint64_t
printk(const char *fmt, uint64_t a1, uint64_t a2, uint64_t a3)
{
    struct bpf_insn p[] = {
        MOV64_K(2, (int32_t)strlen(fmt) + 1),
        LD64(3, a1),
        LD64(4, a2),
        LD64(5, a3),
        CALL(BPF_FUNC_trace_printk),
        EXIT,
    };
    return run_raw(p, ARRAY_SIZE(p), (void *)fmt, strlen(fmt) + 1);
}

static void
test_trace_printk(void **state)
{
    /* The return value is the length of the formatted text. */
    assert_int_equal(printk("v=%d\n", (uint64_t)-5, 0, 0), 5);
    assert_int_equal(printk("%u", 0xffffffffffffffffull, 0, 0), 10);
    assert_int_equal(printk("%ld %lx", (uint64_t)-5, 255, 0), 5);
    assert_int_equal(printk("%llu", 0xffffffffffffffffull, 0, 0), 20);
    assert_int_equal(printk("%x %i %%", 0x1ffff, 0x80000000, 0),
                     strlen("1ffff -2147483648 %"));
    assert_int_equal(printk("%p", 0x1234, 0, 0), 16);
    assert_int_equal(printk("%s!", (uint64_t)(uintptr_t) "hello", 0, 0), 6);
    /* An unreadable string prints empty instead of faulting. */
    assert_int_equal(printk("[%s]", 8, 0, 0), 2);
    assert_int_equal((int64_t)printk("%d %d %d %d", 1, 2, 3), -EINVAL);
    assert_int_equal((int64_t)printk("%q", 1, 0, 0), -EINVAL);
    assert_int_equal((int64_t)printk("bad\x01", 1, 0, 0), -EINVAL);
}

/* The formatted text reaches the sluice log, module "bpf", at level info,
 * prefixed with the program name. */
static void
test_trace_printk_log(void **state)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    log_set_stream_fd(fds[1]);
    /* One module "bpf" for all of src/bpf: setting it by name works. */
    assert_int_equal(log_set_level("bpf", LOG_LEVEL_INFO), 0);
    assert_int_equal(
        printk("hello %d from %s\n", 5, (uint64_t)(uintptr_t) "xdp", 0),
        strlen("hello 5 from xdp\n"));
    log_set_level_all(LOG_LEVEL_ERR);
    log_set_stream_fd(2);
    close(fds[1]);
    char buf[256];
    ssize_t n = read(fds[0], buf, sizeof buf - 1);
    close(fds[0]);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_string_equal(buf, "sluice|bpf|INFO: test: hello 5 from xdp\n");
}

static void
test_trace_printk_unterminated(void **state)
{
    char fmt[4] = {'a', 'b', 'c', 'd'};
    struct bpf_insn p[] = {MOV64_K(2, 4), CALL(BPF_FUNC_trace_printk), EXIT};
    assert_int_equal((int64_t)run_raw(p, ARRAY_SIZE(p), fmt, 4), -EINVAL);
}

static uint64_t
csum_diff(const void *from, uint32_t from_size, const void *to,
          uint32_t to_size, uint32_t seed)
{
    uint8_t mem[64];
    memcpy(mem, from, from_size);
    memcpy(mem + 32, to, to_size);
    struct bpf_insn p[] = {
        MOV64_X(3, 1),
        ALU64_K(ADD, 3, 32),
        MOV64_K(2, (int32_t)from_size),
        MOV64_K(4, (int32_t)to_size),
        MOV64_K(5, (int32_t)seed),
        CALL(BPF_FUNC_csum_diff),
        EXIT,
    };
    return run_raw(p, ARRAY_SIZE(p), mem, sizeof mem);
}

static uint16_t
csum_fold(uint32_t sum)
{
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

static void
test_csum_diff(void **state)
{
    const uint8_t w[4] = {1, 2, 3, 4};
    /* Sums fold to 16 bits: 0x0403 + 0x0201; 0xfbfc + 0xfdfe + carry. */
    assert_int_equal(csum_diff(w, 0, w, 4, 0), 0x0604);
    assert_int_equal(csum_diff(w, 4, w, 0, 0), 0xf9fb);
    assert_int_equal(csum_diff(w, 4, w, 4, 0), 0xffff);
    assert_int_equal(csum_diff(w, 0, w, 0, 0x12345678), 0x68ac);
    /* Any size: a 3-byte tail counts as a zero-padded word. */
    assert_int_equal(csum_diff(w, 0, w, 3, 0), 0x0204);

    /* Incremental IPv4 checksum update with csum_diff, the way XDP NAT
     * programs do it, equals a full recomputation. */
    uint8_t ip[20] = {0x45, 0, 0,  0x54, 0x12, 0x34, 0x40, 0, 64, 6,
                      0,    0, 10, 0,    0,    1,    10,   0, 0,  2};
    uint32_t sum = 0;
    for (int i = 0; i < 20; i += 2) {
        sum += (uint32_t)(ip[i] << 8 | ip[i + 1]);
    }
    uint16_t check = csum_fold(sum);
    ip[10] = (uint8_t)(check >> 8);
    ip[11] = (uint8_t)check;

    uint8_t new_daddr[4] = {192, 168, 77, 9};
    uint16_t old_check_net;
    memcpy(&old_check_net, ip + 10, 2);
    uint32_t d =
        (uint32_t)csum_diff(ip + 16, 4, new_daddr, 4, (uint16_t)~old_check_net);
    uint16_t new_check_net = csum_fold(d);
    memcpy(ip + 16, new_daddr, 4);
    ip[10] = ip[11] = 0;
    sum = 0;
    for (int i = 0; i < 20; i += 2) {
        sum += (uint32_t)(ip[i] << 8 | ip[i + 1]);
    }
    uint16_t full = csum_fold(sum);
    uint16_t inc;
    memcpy(&inc, &new_check_net, 2);
    assert_int_equal((uint16_t)(inc << 8 | inc >> 8), full);
}

/* ---- XDP ---- */

#define HEADROOM 256
#define PKT_LEN 64
#define TAILROOM 64

struct xdp_env {
    uint8_t buf[HEADROOM + PKT_LEN + TAILROOM];
    struct bpf_xdp_buff ctx;
};

static void
xdp_init(struct xdp_env *e)
{
    for (size_t i = 0; i < sizeof e->buf; i++) {
        e->buf[i] = (uint8_t)i;
    }
    memset(&e->ctx, 0, sizeof e->ctx);
    e->ctx.data_hard_start = (uint64_t)(uintptr_t)e->buf;
    e->ctx.data = e->ctx.data_hard_start + HEADROOM;
    e->ctx.data_meta = e->ctx.data;
    e->ctx.data_end = e->ctx.data + PKT_LEN;
    e->ctx.frame_end = e->ctx.data_hard_start + sizeof e->buf;
    e->ctx.ingress_ifindex = 3;
}

static int64_t
xdp_helper(struct xdp_env *e, int32_t helper, int32_t arg)
{
    struct bpf_insn p[] = {
        MOV64_K(2, arg),
        CALL(helper),
        EXIT,
    };
    struct bpf_prog prog = prog_of(p, ARRAY_SIZE(p), BPF_PROG_KIND_XDP);
    return (int64_t)bpf_prog_run_xdp(&prog, &e->ctx);
}

static void
test_xdp_adjust_head(void **state)
{
    struct xdp_env e;
    xdp_init(&e);
    uint64_t data = e.ctx.data;

    assert_int_equal(xdp_helper(&e, BPF_FUNC_xdp_adjust_head, -14), 0);
    assert_int_equal(e.ctx.data, data - 14);
    assert_int_equal(e.ctx.data_meta, data - 14);
    /* Up to the 40 bytes kept for struct xdp_frame, not beyond. */
    int32_t room = (int32_t)(e.ctx.data - e.ctx.data_hard_start) - 40;
    assert_int_equal(xdp_helper(&e, BPF_FUNC_xdp_adjust_head, -room - 1),
                     -EINVAL);
    assert_int_equal(xdp_helper(&e, BPF_FUNC_xdp_adjust_head, -room), 0);
    assert_int_equal(e.ctx.data, e.ctx.data_hard_start + 40);
    /* At least ETH_HLEN bytes must stay. */
    xdp_init(&e);
    assert_int_equal(xdp_helper(&e, BPF_FUNC_xdp_adjust_head, PKT_LEN - 13),
                     -EINVAL);
    assert_int_equal(xdp_helper(&e, BPF_FUNC_xdp_adjust_head, PKT_LEN - 14), 0);
    assert_int_equal(e.ctx.data_end - e.ctx.data, 14);

    /* Metadata moves with the head. */
    xdp_init(&e);
    assert_int_equal(xdp_helper(&e, BPF_FUNC_xdp_adjust_meta, -8), 0);
    uint8_t meta[8];
    memcpy(meta, (void *)(uintptr_t)e.ctx.data_meta, 8);
    assert_int_equal(xdp_helper(&e, BPF_FUNC_xdp_adjust_head, -20), 0);
    assert_int_equal(e.ctx.data - e.ctx.data_meta, 8);
    assert_memory_equal((void *)(uintptr_t)e.ctx.data_meta, meta, 8);
    /* With metadata, the 40-byte frame room counts from the metadata. */
    room = (int32_t)(e.ctx.data_meta - e.ctx.data_hard_start) - 40;
    assert_int_equal(xdp_helper(&e, BPF_FUNC_xdp_adjust_head, -room - 1),
                     -EINVAL);
}

static void
test_xdp_adjust_meta_tail(void **state)
{
    struct xdp_env e;
    xdp_init(&e);
    assert_int_equal(xdp_helper(&e, BPF_FUNC_xdp_adjust_meta, -32), 0);
    /* The length must stay a multiple of 4. */
    assert_int_equal(xdp_helper(&e, BPF_FUNC_xdp_adjust_meta, -2), -EACCES);
    assert_int_equal(xdp_helper(&e, BPF_FUNC_xdp_adjust_meta, 30), -EACCES);
    assert_int_equal(xdp_helper(&e, BPF_FUNC_xdp_adjust_meta, 28), 0);
    assert_int_equal(e.ctx.data - e.ctx.data_meta, 4);
    assert_int_equal(xdp_helper(&e, BPF_FUNC_xdp_adjust_meta, 8), -EINVAL);
    assert_int_equal(xdp_helper(&e, BPF_FUNC_xdp_adjust_meta, 4), 0);
    assert_int_equal(e.ctx.data_meta, e.ctx.data);
    /* At most 255 bytes (skb_shared_info.meta_len is a u8). */
    e.ctx.data = e.ctx.data_meta = e.ctx.data_hard_start + 340;
    e.ctx.data_end = e.ctx.data + 40;
    assert_int_equal(xdp_helper(&e, BPF_FUNC_xdp_adjust_meta, -256), -EACCES);
    assert_int_equal(xdp_helper(&e, BPF_FUNC_xdp_adjust_meta, -252), 0);
    /* Metadata not supported (data_meta = data + 1, as in the kernel). */
    e.ctx.data_meta = e.ctx.data + 1;
    assert_int_equal(xdp_helper(&e, BPF_FUNC_xdp_adjust_meta, -4), -EOPNOTSUPP);
    /* Metadata cannot reach into the xdp_frame room. */
    xdp_init(&e);
    e.ctx.data = e.ctx.data_meta = e.ctx.data_hard_start + 48;
    assert_int_equal(xdp_helper(&e, BPF_FUNC_xdp_adjust_meta, -12), -EINVAL);
    assert_int_equal(xdp_helper(&e, BPF_FUNC_xdp_adjust_meta, -8), 0);

    /* Tail: grows into the tail room with zeroes, shrinks to ETH_HLEN. */
    xdp_init(&e);
    uint64_t end = e.ctx.data_end;
    assert_int_equal(xdp_helper(&e, BPF_FUNC_xdp_adjust_tail, 10), 0);
    assert_int_equal(e.ctx.data_end, end + 10);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(((uint8_t *)(uintptr_t)end)[i], 0);
    }
    assert_int_equal(
        xdp_helper(&e, BPF_FUNC_xdp_adjust_tail, TAILROOM - 10 + 1), -EINVAL);
    assert_int_equal(xdp_helper(&e, BPF_FUNC_xdp_adjust_tail, TAILROOM - 10),
                     0);
    assert_int_equal(e.ctx.data_end, e.ctx.frame_end);
    xdp_init(&e);
    assert_int_equal(xdp_helper(&e, BPF_FUNC_xdp_adjust_tail, -51), -EINVAL);
    assert_int_equal(xdp_helper(&e, BPF_FUNC_xdp_adjust_tail, -50), 0);
    assert_int_equal(e.ctx.data_end - e.ctx.data, 14);
}

static void
test_xdp_redirect(void **state)
{
    struct xdp_env e;
    xdp_init(&e);
    struct bpf_insn p[] = {MOV64_K(1, 9), MOV64_K(2, 0),
                           CALL(BPF_FUNC_redirect), EXIT};
    struct bpf_prog prog = prog_of(p, ARRAY_SIZE(p), BPF_PROG_KIND_XDP);
    assert_int_equal(bpf_prog_run_xdp(&prog, &e.ctx), XDP_REDIRECT);
    assert_int_equal(e.ctx.redirect_port, 9);
    p[1] = MOV64_K(2, 1);
    assert_int_equal(bpf_prog_run_xdp(&prog, &e.ctx), XDP_ABORTED);
    /* bpf_redirect outside an XDP run has no packet to redirect. */
    assert_int_equal(
        RUN(MOV64_K(1, 9), MOV64_K(2, 0), CALL(BPF_FUNC_redirect), EXIT),
        XDP_ABORTED);

    /* bpf_redirect_map on an array of port numbers. */
    struct bpf_map *ports = map_new(BPF_MAP_TYPE_ARRAY, 4, 4, 4, 0);
    struct bpf_map *maps[] = {ports};
    uint32_t k = 1, port = 12;
    assert_int_equal(bpf_map_update(ports, &k, &port, BPF_ANY), 0);
    struct bpf_insn q[] = {LD_MAP(1, 0), MOV64_K(2, 1), MOV64_K(3, 0),
                           CALL(BPF_FUNC_redirect_map), EXIT};
    struct bpf_prog qp = prog_of(q, ARRAY_SIZE(q), BPF_PROG_KIND_XDP);
    qp.maps = maps;
    qp.n_maps = 1;
    assert_int_equal(bpf_prog_run_xdp(&qp, &e.ctx), XDP_REDIRECT);
    assert_int_equal(e.ctx.redirect_port, 12);
    /* Missing key: the low bits of flags are the action. */
    q[2] = MOV64_K(2, 9);
    q[3] = MOV64_K(3, XDP_PASS);
    assert_int_equal(bpf_prog_run_xdp(&qp, &e.ctx), XDP_PASS);
    q[3] = MOV64_K(3, 8);
    assert_int_equal(bpf_prog_run_xdp(&qp, &e.ctx), XDP_ABORTED);
    map_del(ports);
}

static void
test_xdp_ctx_and_ld_abs(void **state)
{
    struct xdp_env e;
    xdp_init(&e);
    uint8_t *pkt = (uint8_t *)(uintptr_t)e.ctx.data;

    /* Reads through struct bpf_xdp_buff: data_end - data. */
    struct bpf_insn len[] = {
        LDX(DW, 2, 1, offsetof(struct bpf_xdp_buff, data)),
        LDX(DW, 0, 1, offsetof(struct bpf_xdp_buff, data_end)),
        ALU64_X(SUB, 0, 2),
        EXIT,
    };
    struct bpf_prog lp = prog_of(len, ARRAY_SIZE(len), BPF_PROG_KIND_XDP);
    assert_int_equal(bpf_prog_run_xdp(&lp, &e.ctx), PKT_LEN);

    /* LD_ABS / LD_IND read in network order; r6 holds the context. */
    struct bpf_insn abs[] = {
        MOV64_X(6, 1),
        INSN(BPF_LD | BPF_ABS | BPF_H, 0, 0, 0, 12),
        EXIT,
    };
    struct bpf_prog ap = prog_of(abs, ARRAY_SIZE(abs), BPF_PROG_KIND_XDP);
    assert_int_equal(bpf_prog_run_xdp(&ap, &e.ctx), pkt[12] << 8 | pkt[13]);
    abs[1] = INSN(BPF_LD | BPF_ABS | BPF_W, 0, 0, 0, 60);
    assert_int_equal(bpf_prog_run_xdp(&ap, &e.ctx), (uint32_t)pkt[60] << 24 |
                                                        pkt[61] << 16 |
                                                        pkt[62] << 8 | pkt[63]);
    abs[1] = INSN(BPF_LD | BPF_ABS | BPF_B, 0, 0, 0, 63);
    assert_int_equal(bpf_prog_run_xdp(&ap, &e.ctx), pkt[63]);
    /* Out of bounds: the program ends and returns 0. */
    struct bpf_insn oob[] = {
        MOV64_X(6, 1),
        MOV64_K(0, 7),
        INSN(BPF_LD | BPF_ABS | BPF_W, 0, 0, 0, 61),
        MOV64_K(0, 7),
        EXIT,
    };
    struct bpf_prog op = prog_of(oob, ARRAY_SIZE(oob), BPF_PROG_KIND_XDP);
    assert_int_equal(bpf_prog_run_xdp(&op, &e.ctx), 0);
    oob[2] = INSN(BPF_LD | BPF_ABS | BPF_W, 0, 0, 0, 60);
    assert_int_equal(bpf_prog_run_xdp(&op, &e.ctx), 7);
    struct bpf_insn ind[] = {
        MOV64_X(6, 1),
        MOV64_K(3, 10),
        INSN(BPF_LD | BPF_IND | BPF_H, 0, 3, 0, 4),
        EXIT,
    };
    struct bpf_prog ip = prog_of(ind, ARRAY_SIZE(ind), BPF_PROG_KIND_XDP);
    assert_int_equal(bpf_prog_run_xdp(&ip, &e.ctx), pkt[14] << 8 | pkt[15]);
    ind[1] = MOV64_K(3, -20);
    assert_int_equal(bpf_prog_run_xdp(&ip, &e.ctx), 0);

    /* Raw runs read LD_ABS from their memory. */
    uint8_t mem[4] = {0xde, 0xad, 0xbe, 0xef};
    assert_int_equal(
        RUN_MEM(mem, 4, INSN(BPF_LD | BPF_ABS | BPF_W, 0, 0, 0, 0), EXIT),
        0xdeadbeef);
}

/* ---- Tail calls ---- */

static void
test_tail_calls(void **state)
{
    struct bpf_map *progs = map_new(BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 4, 0);
    struct bpf_map *count = map_new(BPF_MAP_TYPE_ARRAY, 4, 8, 1, 0);
    struct bpf_map *maps[] = {progs, count};

    /* target: return 42 */
    const struct bpf_insn target_insns[] = {MOV64_K(0, 42), EXIT};
    struct bpf_prog target = prog_of(target_insns, 2, BPF_PROG_KIND_RAW);
    /* main: tail call slot r3; on failure return 7 */
    struct bpf_insn main_insns[] = {
        LD_MAP(2, 0),  MOV64_K(3, 0), CALL(BPF_FUNC_tail_call),
        MOV64_K(0, 7), EXIT,
    };
    struct bpf_prog main_prog =
        prog_of(main_insns, ARRAY_SIZE(main_insns), BPF_PROG_KIND_RAW);
    main_prog.maps = maps;
    main_prog.n_maps = 2;
    /* Empty slot: falls through. */
    assert_int_equal(bpf_prog_run_raw(&main_prog, NULL, 0), 7);
    assert_int_equal(bpf_prog_array_set(progs, 0, &target), 0);
    assert_int_equal(bpf_prog_run_raw(&main_prog, NULL, 0), 42);
    /* Index out of range: falls through. */
    main_insns[2] = MOV64_K(3, 4);
    assert_int_equal(bpf_prog_run_raw(&main_prog, NULL, 0), 7);
    /* An unverified target is never entered. */
    main_insns[2] = MOV64_K(3, 0);
    target.verified = false;
    assert_int_equal(bpf_prog_run_raw(&main_prog, NULL, 0), 7);
    target.verified = true;

    /* A program that tail-calls itself runs 1 + 33 times, then falls
     * through. */
    struct bpf_insn self_insns[] = {
        LD_MAP_VALUE(1, 1, 0), MOV64_K(2, 1), ATOMIC(DW, BPF_ADD, 1, 2, 0),
        LD_MAP(2, 0),          MOV64_K(3, 1), CALL(BPF_FUNC_tail_call),
        MOV64_K(0, 5),         EXIT,
    };
    struct bpf_prog self =
        prog_of(self_insns, ARRAY_SIZE(self_insns), BPF_PROG_KIND_RAW);
    self.maps = maps;
    self.n_maps = 2;
    assert_int_equal(bpf_prog_array_set(progs, 1, &self), 0);
    assert_int_equal(bpf_prog_run_raw(&self, NULL, 0), 5);
    uint32_t zero = 0;
    uint64_t n;
    assert_int_equal(bpf_map_lookup(count, &zero, &n), 0);
    assert_int_equal(n, 1 + BPF_MAX_TAIL_CALLS);
    map_del(progs);
    map_del(count);
}

/* ---- Run-time checks and statistics ---- */

static void
test_refuses_unverified_and_counts(void **state)
{
    const struct bpf_insn insns[] = {MOV64_K(0, 42), ALU64_K(ADD, 0, 1), EXIT};
    struct bpf_prog p = prog_of(insns, 3, BPF_PROG_KIND_RAW);
    struct bpf_prog_stats st;

    /* Earlier tests ran programs that lived on the stack and were never
     * forgotten; 'p' may sit at the same address, so start clean, as the
     * loader does for every program it frees. */
    bpf_prog_stats_forget(&p);
    p.verified = false;
    assert_int_equal(bpf_prog_run_raw(&p, NULL, 0), 0);
    assert_int_equal(bpf_prog_run_raw(&p, NULL, 0), 0);
    bpf_prog_get_stats(&p, &st);
    assert_int_equal(st.runs, 0);
    p.verified = true;
    /* A raw program run as XDP is refused too. */
    struct xdp_env e;
    xdp_init(&e);
    assert_int_equal(bpf_prog_run_xdp(&p, &e.ctx), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(bpf_prog_run_raw(&p, NULL, 0), 43);
    }
    bpf_prog_get_stats(&p, &st);
    assert_int_equal(st.runs, 3);
    assert_int_equal(st.insns, INSNS(9));
    assert_int_equal(st.ns, 0);
    bpf_prog_stats_set_timing(true);
    assert_int_equal(bpf_prog_run_raw(&p, NULL, 0), 43);
    bpf_prog_stats_set_timing(false);
    bpf_prog_get_stats(&p, &st);
    assert_int_equal(st.runs, 4);
    assert_true(st.ns > 0);
    bpf_prog_stats_forget(&p);
    bpf_prog_get_stats(&p, &st);
    assert_int_equal(st.runs, 0);

    /* The xlated instructions, when present, are what runs. */
    const struct bpf_insn xl[] = {MOV64_K(0, 9), EXIT};
    p.xlated = (struct bpf_insn *)xl;
    p.n_xlated = 2;
    assert_int_equal(bpf_prog_run_raw(&p, NULL, 0), 9);

    /* LD_IMM64 of a BTF object or a function pointer has no meaning
     * here: the run stops with 0. */
    assert_int_equal(
        RUN(MOV64_K(0, 1),
            INSN(BPF_LD | BPF_DW | BPF_IMM, 1, BPF_PSEUDO_FUNC, 0, 1),
            INSN(0, 0, 0, 0, 0), EXIT),
        0);
    /* An invalid opcode stops the run with 0. */
    assert_int_equal(RUN(MOV64_K(0, 1), INSN(0xff, 0, 0, 0, 0), EXIT), 0);
    assert_int_equal(RUN(MOV64_K(0, 1),
                         INSN(BPF_ALU | BPF_END | BPF_TO_BE, 0, 0, 0, 24),
                         EXIT),
                     0);
}

/* Many programs on one thread: the statistics table grows and keeps every
 * program's counts. */
static void
test_stats_many_programs(void **state)
{
    enum { N = 100 };
    const struct bpf_insn insns[] = {MOV64_K(0, 1), EXIT};
    struct bpf_prog *ps = calloc(N, sizeof *ps);
    for (int i = 0; i < N; i++) {
        ps[i] = prog_of(insns, 2, BPF_PROG_KIND_RAW);
        for (int r = 0; r <= i % 3; r++) {
            bpf_prog_run_raw(&ps[i], NULL, 0);
        }
    }
    for (int i = 0; i < N; i++) {
        struct bpf_prog_stats st;
        bpf_prog_get_stats(&ps[i], &st);
        assert_int_equal(st.runs, (uint64_t)(i % 3 + 1));
        assert_int_equal(st.insns, INSNS(2 * (uint64_t)(i % 3 + 1)));
        bpf_prog_stats_forget(&ps[i]);
    }
    free(ps);
}

/* Two threads run one program: each counts in its own table, and the
 * statistics add up both. */
static void *
run_many(void *prog)
{
    for (int i = 0; i < 1000; i++) {
        bpf_prog_run_raw(prog, NULL, 0);
    }
    return NULL;
}

static void
test_stats_threads(void **state)
{
    const struct bpf_insn insns[] = {MOV64_K(0, 1), ALU64_K(ADD, 0, 1), EXIT};
    struct bpf_prog *p = malloc(sizeof *p);
    *p = prog_of(insns, 3, BPF_PROG_KIND_RAW);
    pthread_t t[2];
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pthread_create(&t[i], NULL, run_many, p), 0);
    }
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
    }
    struct bpf_prog_stats st;
    bpf_prog_get_stats(p, &st);
    assert_int_equal(st.runs, 2000);
    assert_int_equal(st.insns, INSNS(6000));
    bpf_prog_stats_forget(p);
    free(p);
}

/* The helper list and the verifier's prototype table name the same IDs. */
static void
test_helper_list_matches_verifier(void **state)
{
    int32_t ids[64];
    size_t n = bpf_helper_ids(ids, ARRAY_SIZE(ids));
    assert_true(n <= ARRAY_SIZE(ids));
    for (size_t i = 0; i < n; i++) {
        assert_non_null(bpf_helper_name(ids[i]));
        if (!bpf_helper_proto(ids[i])) {
            fail_msg("helper %d (%s) has no verifier prototype", ids[i],
                     bpf_helper_name(ids[i]));
        }
        if (ids[i] == BPF_FUNC_tail_call) {
            assert_null(bpf_helper_func(ids[i]));
        } else {
            assert_non_null(bpf_helper_func(ids[i]));
        }
    }
    for (int32_t id = -1; id < 300; id++) {
        if (bpf_helper_proto(id) && !bpf_helper_known(id)) {
            fail_msg("verifier accepts helper %d, the runtime lacks it", id);
        }
    }
    assert_string_equal(bpf_helper_name(BPF_FUNC_map_lookup_elem),
                        "map_lookup_elem");
    assert_null(bpf_helper_name(9999));
    assert_null(bpf_helper_func(-3));
}

static void
test_queue_and_ringbuf_helpers(void **state)
{
    struct bpf_map *q = map_new(BPF_MAP_TYPE_STACK, 0, 8, 2, 0);
    struct bpf_map *rb = map_new(BPF_MAP_TYPE_RINGBUF, 0, 0, 4096, 0);
    struct bpf_map *maps[] = {q, rb};

    /* push 11, push 22, pop -> 22 (stack), peek -> 11; sum = 33. */
    const struct bpf_insn p[] = {
        ST(DW, 10, -8, 11),   LD_MAP(1, 0),
        MOV64_X(2, 10),       ALU64_K(ADD, 2, -8),
        MOV64_K(3, 0),        CALL(BPF_FUNC_map_push_elem),
        ST(DW, 10, -8, 22),   LD_MAP(1, 0),
        MOV64_X(2, 10),       ALU64_K(ADD, 2, -8),
        MOV64_K(3, 0),        CALL(BPF_FUNC_map_push_elem),
        LD_MAP(1, 0),         MOV64_X(2, 10),
        ALU64_K(ADD, 2, -16), CALL(BPF_FUNC_map_pop_elem),
        LD_MAP(1, 0),         MOV64_X(2, 10),
        ALU64_K(ADD, 2, -24), CALL(BPF_FUNC_map_peek_elem),
        LDX(DW, 0, 10, -16),  LDX(DW, 1, 10, -24),
        ALU64_X(ADD, 0, 1),   EXIT,
    };
    assert_int_equal(run_with_maps(p, ARRAY_SIZE(p), maps, 2), 33);

    /* reserve 8 bytes, write, submit; output 8 bytes; query avail. */
    const struct bpf_insn r[] = {
        LD_MAP(1, 1),
        MOV64_K(2, 8),
        MOV64_K(3, 0),
        CALL(BPF_FUNC_ringbuf_reserve),
        JMP_K(JEQ, 0, 0, 16),
        ST(DW, 0, 0, 0x55),
        MOV64_X(1, 0),
        MOV64_K(2, 0),
        CALL(BPF_FUNC_ringbuf_submit),
        ST(DW, 10, -8, 0x66),
        LD_MAP(1, 1),
        MOV64_X(2, 10),
        ALU64_K(ADD, 2, -8),
        MOV64_K(3, 8),
        MOV64_K(4, 0),
        CALL(BPF_FUNC_ringbuf_output),
        LD_MAP(1, 1),
        MOV64_K(2, BPF_RB_AVAIL_DATA),
        CALL(BPF_FUNC_ringbuf_query),
        EXIT,
    };
    assert_int_equal(run_with_maps(r, ARRAY_SIZE(r), maps, 2), 32);
    map_del(q);
    map_del(rb);
}

#ifdef HAVE_KERNEL_DIFF
/* ---- Differential tests against the kernel's helpers ---- */

/* The kernel's XDP test run: 256 bytes of head room, a 4096-byte frame
 * whose last 320 bytes (struct skb_shared_info) cannot be grown into. */
#define K_FRAME 4096
#define K_HEADROOM 256
#define K_SHINFO 320

struct kdiff {
    uint32_t kernel; /* Kernel retval (u32). */
    uint32_t ours;
    uint32_t kernel_len; /* Packet length after the run. */
    uint32_t ours_len;
};

/* Loads 'insns' into the kernel as an XDP program; -errno if refused. */
static int
kernel_prog(const struct bpf_insn *insns, size_t n)
{
    return bpf_prog_load(BPF_PROG_TYPE_XDP, "sluice_test", "GPL", insns, n,
                         NULL);
}

static bool
kernel_progs_usable(void)
{
    const struct bpf_insn p[] = {MOV64_K(0, XDP_PASS), EXIT};
    int fd = kernel_prog(p, ARRAY_SIZE(p));
    if (fd < 0) {
        return false;
    }
    close(fd);
    return true;
}

static struct kdiff
kernel_diff_xdp(const struct bpf_insn *insns, size_t n, uint32_t pkt_len)
{
    struct kdiff d = {0};
    uint8_t pkt[1024], out[K_FRAME];

    for (uint32_t i = 0; i < pkt_len; i++) {
        pkt[i] = (uint8_t)(i * 7);
    }
    int fd = kernel_prog(insns, n);
    assert_true(fd >= 0);
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = pkt,
                .data_size_in = pkt_len, .data_out = out,
                .data_size_out = sizeof out, .repeat = 1);
    assert_int_equal(bpf_prog_test_run_opts(fd, &opts), 0);
    close(fd);
    d.kernel = opts.retval;
    d.kernel_len = opts.data_size_out;

    static uint8_t buf[K_FRAME];
    memset(buf, 0, sizeof buf);
    memcpy(buf + K_HEADROOM, pkt, pkt_len);
    struct bpf_xdp_buff ctx = {0};
    ctx.data_hard_start = (uint64_t)(uintptr_t)buf;
    ctx.data = ctx.data_meta = ctx.data_hard_start + K_HEADROOM;
    ctx.data_end = ctx.data + pkt_len;
    ctx.frame_end = ctx.data_hard_start + K_FRAME - K_SHINFO;
    struct bpf_prog prog = prog_of(insns, n, BPF_PROG_KIND_XDP);
    d.ours = (uint32_t)bpf_prog_run_xdp(&prog, &ctx);
    /* The kernel's test run returns the metadata with the packet. */
    d.ours_len = (uint32_t)(ctx.data_end - ctx.data_meta);
    return d;
}

static void
expect_same(struct kdiff d, const char *what, int arg)
{
    if (d.kernel != d.ours || d.kernel_len != d.ours_len) {
        fail_msg("%s(%d): kernel r0 0x%x len %u, sluice r0 0x%x len %u", what,
                 arg, d.kernel, d.kernel_len, d.ours, d.ours_len);
    }
}

static void
test_kernel_xdp_adjust(void **state)
{
    if (!kernel_progs_usable()) {
        skip();
    }
    for (int delta = -300; delta <= 80; delta += 1) {
        struct bpf_insn head[] = {MOV64_K(2, delta),
                                  CALL(BPF_FUNC_xdp_adjust_head), EXIT};
        expect_same(kernel_diff_xdp(head, ARRAY_SIZE(head), 80),
                    "xdp_adjust_head", delta);
        struct bpf_insn meta[] = {MOV64_K(2, delta),
                                  CALL(BPF_FUNC_xdp_adjust_meta), EXIT};
        expect_same(kernel_diff_xdp(meta, ARRAY_SIZE(meta), 80),
                    "xdp_adjust_meta", delta);
        /* Metadata first, then the head: both move together. */
        struct bpf_insn both[] = {
            MOV64_X(6, 1),
            MOV64_K(2, -8),
            CALL(BPF_FUNC_xdp_adjust_meta),
            MOV64_X(7, 0),
            MOV64_X(1, 6),
            MOV64_K(2, delta),
            CALL(BPF_FUNC_xdp_adjust_head),
            ALU64_K(MUL, 7, 1000),
            ALU64_X(ADD, 0, 7),
            EXIT,
        };
        expect_same(kernel_diff_xdp(both, ARRAY_SIZE(both), 80),
                    "xdp_adjust_meta+head", delta);
    }
    for (int delta = -80; delta <= 3800; delta += delta < 100 ? 1 : 37) {
        struct bpf_insn tail[] = {MOV64_K(2, delta),
                                  CALL(BPF_FUNC_xdp_adjust_tail), EXIT};
        expect_same(kernel_diff_xdp(tail, ARRAY_SIZE(tail), 80),
                    "xdp_adjust_tail", delta);
    }
    /* The exact end of the tail room. */
    int room = K_FRAME - K_SHINFO - K_HEADROOM - 80;
    for (int delta = room - 2; delta <= room + 2; delta++) {
        struct bpf_insn tail[] = {MOV64_K(2, delta),
                                  CALL(BPF_FUNC_xdp_adjust_tail), EXIT};
        expect_same(kernel_diff_xdp(tail, ARRAY_SIZE(tail), 80),
                    "xdp_adjust_tail", delta);
    }
    for (int flags = 0; flags < 3; flags++) {
        struct bpf_insn redir[] = {MOV64_K(1, 3), MOV64_K(2, flags),
                                   CALL(BPF_FUNC_redirect), EXIT};
        expect_same(kernel_diff_xdp(redir, ARRAY_SIZE(redir), 80),
                    "redirect flags", flags);
    }
}

static void
test_kernel_csum_diff(void **state)
{
    if (!kernel_progs_usable()) {
        skip();
    }
    unsigned int seed = 99;
    for (int round = 0; round < 300; round++) {
        /* 16 random words at fp-64; from = fp-64, to = fp-32. */
        struct bpf_insn p[16 + 9];
        size_t n = 0;
        for (int w = 0; w < 16; w++) {
            uint32_t v = (uint32_t)rand_r(&seed) * 2654435761u;
            if (round % 5 == 0) {
                v = round % 2 ? 0xffffffff : 0;
            }
            p[n++] = ST(W, 10, (int16_t)(-64 + 4 * w), (int32_t)v);
        }
        int from = (round % 9) * 4, to = (round % 7) * 4;
        if (round % 11 == 3) {
            from += 2 + round % 3; /* Odd sizes are allowed. */
        }
        p[n++] = MOV64_X(1, 10);
        p[n++] = ALU64_K(ADD, 1, -64);
        p[n++] = MOV64_K(2, from);
        p[n++] = MOV64_X(3, 10);
        p[n++] = ALU64_K(ADD, 3, -32);
        p[n++] = MOV64_K(4, to);
        p[n++] = MOV64_K(5, (int32_t)((uint32_t)rand_r(&seed) * 40503u));
        p[n++] = CALL(BPF_FUNC_csum_diff);
        p[n++] = EXIT;
        expect_same(kernel_diff_xdp(p, n, 64), "csum_diff round", round);
    }
}
#endif

/* Raw programs that nobody vouched for (as `sluice bpf exec` builds them)
 * run with run-time checks in both engines: accesses outside the raw
 * memory and the stack, helpers with pointer arguments and endless loops
 * stop the run with a reason instead of touching memory. */
static uint64_t
run_untrusted(const struct bpf_insn *insns, size_t n, void *mem, size_t len,
              enum bpf_exec_mode mode)
{
    struct bpf_prog p = {.name = "raw",
                         .kind = BPF_PROG_KIND_RAW,
                         .insns = (struct bpf_insn *)insns,
                         .n_insns = (uint32_t)n,
                         .verified = true};
    bpf_prog_set_exec_mode(&p, mode);
    uint64_t r0 = bpf_prog_run_raw(&p, mem, len);
    bpf_jit_free(&p);
    return r0;
}

static void
test_raw_checks(void **state)
{
    (void)state;
    static const enum bpf_exec_mode modes[] = {BPF_EXEC_INTERP, BPF_EXEC_JIT};
    uint8_t mem[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    const struct bpf_insn in_bounds[] = {LDX(W, 0, 1, 4), EXIT};
    const struct bpf_insn load_past_end[] = {LDX(W, 0, 1, 5), EXIT};
    const struct bpf_insn store_below[] = {ST(B, 1, -1, 7), MOV64_K(0, 1),
                                           EXIT};
    const struct bpf_insn stack_ok[] = {ST(DW, 10, -8, 42), LDX(DW, 0, 10, -8),
                                        EXIT};
    const struct bpf_insn stack_above[] = {LDX(DW, 0, 10, 0), EXIT};
    const struct bpf_insn endless[] = {JA(-1), EXIT};
    const struct bpf_insn ptr_helper[] = {MOV64_K(2, 4), CALL(6), EXIT};
    /* A tail call with r2 = the raw memory, not a program array. */
    const struct bpf_insn tail_call[] = {MOV64_X(2, 1), MOV64_K(3, 0),
                                         CALL(BPF_FUNC_tail_call),
                                         MOV64_K(0, 7), EXIT};

    for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
        enum bpf_exec_mode mode = modes[m];
        assert_int_equal(run_untrusted(in_bounds, 2, mem, 8, mode),
                         0x08070605);
        assert_null(bpf_last_run_error());
        assert_int_equal(run_untrusted(stack_ok, 3, mem, 8, mode), 42);
        assert_null(bpf_last_run_error());

        assert_int_equal(run_untrusted(load_past_end, 2, mem, 8, mode), 0);
        assert_non_null(bpf_last_run_error());
        assert_non_null(strstr(bpf_last_run_error(), "out of bounds"));
        assert_int_equal(run_untrusted(store_below, 3, mem, 8, mode), 0);
        assert_non_null(bpf_last_run_error());
        assert_int_equal(mem[0], 1);
        assert_int_equal(run_untrusted(stack_above, 2, mem, 8, mode), 0);
        assert_non_null(bpf_last_run_error());
        assert_int_equal(run_untrusted(endless, 2, mem, 8, mode), 0);
        assert_non_null(strstr(bpf_last_run_error(), "budget"));
        /* trace_printk(r1 = the memory, r2 = 4): a pointer argument. */
        assert_int_equal(run_untrusted(ptr_helper, 3, mem, 8, mode), 0);
        assert_non_null(strstr(bpf_last_run_error(), "helper"));
        assert_int_equal(run_untrusted(tail_call, 5, mem, 8, mode), 0);
        assert_non_null(strstr(bpf_last_run_error(), "helper"));
    }
}

int
main(void)
{
    log_set_level_all(LOG_LEVEL_ERR);
    /* Hook for the JIT (helper "jit"): these tests run the interpreter
     * unless SLUICE_BPF_JIT says otherwise; the build runs them again with
     * SLUICE_BPF_JIT=2 (JIT, recompiling programs edited between runs). */
    if (!getenv("SLUICE_BPF_JIT")) {
        bpf_set_default_exec_mode(BPF_EXEC_INTERP);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alu),
        cmocka_unit_test(test_byte_swaps),
        cmocka_unit_test(test_jumps),
        cmocka_unit_test(test_loops_and_gotol),
        cmocka_unit_test(test_loads_stores),
        cmocka_unit_test(test_stack),
        cmocka_unit_test(test_atomics),
        cmocka_unit_test(test_ld_imm64_maps),
        cmocka_unit_test(test_local_calls),
        cmocka_unit_test(test_call_depth),
        cmocka_unit_test(test_helpers_basic),
        cmocka_unit_test(test_trace_printk),
        cmocka_unit_test(test_trace_printk_log),
        cmocka_unit_test(test_trace_printk_unterminated),
        cmocka_unit_test(test_csum_diff),
        cmocka_unit_test(test_xdp_adjust_head),
        cmocka_unit_test(test_xdp_adjust_meta_tail),
        cmocka_unit_test(test_xdp_redirect),
        cmocka_unit_test(test_xdp_ctx_and_ld_abs),
        cmocka_unit_test(test_tail_calls),
        cmocka_unit_test(test_refuses_unverified_and_counts),
        cmocka_unit_test(test_stats_many_programs),
        cmocka_unit_test(test_stats_threads),
        cmocka_unit_test(test_helper_list_matches_verifier),
        cmocka_unit_test(test_queue_and_ringbuf_helpers),
#ifdef HAVE_KERNEL_DIFF
        cmocka_unit_test(test_kernel_xdp_adjust),
        cmocka_unit_test(test_kernel_csum_diff),
        cmocka_unit_test(test_raw_checks),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
