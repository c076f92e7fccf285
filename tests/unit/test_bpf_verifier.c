/* Verifier tests: small annotated programs, each with its expected verdict
 * and reason code (the kernel's test_verifier.c style), generated families
 * of programs around each boundary (ctx offsets, stack offsets, packet
 * bounds in every comparison orientation, map value bounds), a soundness
 * check of the scalar domain against concrete arithmetic, the ctx rewrite,
 * and -- when clang is there -- real C programs compiled with
 * clang -target bpf and loaded by the loader.
 *
 * Every program runs against the same set of maps (test_maps below). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#if __has_include(<bpf/libbpf.h>)
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#define HAVE_LIBBPF 1
#endif

#include "bpf/bpf_api.h"
#include "bpf/bpf_int.h"
#include "bpf/verifier.h"
#include "core/util.h"
#include "test_bpf_verifier.h"

/* Map indexes used by LD_MAP in the cases. */
enum {
    M_HASH,          /* key 4, value 8. */
    M_ARRAY,         /* key 4, value 16, one entry (global data). */
    M_PROGS,         /* prog array. */
    M_RINGBUF,
    M_RODATA,        /* read-only array, value 16. */
    M_QUEUE,         /* value 8. */
    M_BIG,           /* hash, key 8, value 48. */
    M_DEVMAP,
    N_MAPS
};

static struct bpf_map test_maps[N_MAPS];
static struct bpf_map *test_map_ptrs[N_MAPS];

static void
init_maps(void)
{
    static const struct {
        const char *name;
        uint32_t type, key, value, max;
        bool ro;
    } defs[N_MAPS] = {
        { "hash", BPF_MAP_TYPE_HASH, 4, 8, 16, false },
        { "array", BPF_MAP_TYPE_ARRAY, 4, 16, 1, false },
        { "progs", BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 4, false },
        { "events", BPF_MAP_TYPE_RINGBUF, 0, 0, 4096, false },
        { ".rodata", BPF_MAP_TYPE_ARRAY, 4, 16, 1, true },
        { "queue", BPF_MAP_TYPE_QUEUE, 0, 8, 16, false },
        { "big", BPF_MAP_TYPE_HASH, 8, 48, 16, false },
        { "devs", BPF_MAP_TYPE_DEVMAP, 4, 4, 8, false },
    };
    for (int i = 0; i < N_MAPS; i++) {
        struct bpf_map *m = &test_maps[i];
        snprintf(m->name, sizeof m->name, "%s", defs[i].name);
        m->type = defs[i].type;
        m->key_size = defs[i].key;
        m->value_size = defs[i].value;
        m->max_entries = defs[i].max;
        m->read_only = defs[i].ro;
        test_map_ptrs[i] = m;
    }
}

struct vcase {
    const char *name;
    int expect;                    /* enum bpf_verr. */
    int at;                        /* Expected failing insn, or -1. */
    bool raw;                      /* BPF_PROG_KIND_RAW. */
    const struct bpf_insn *insns;
    size_t n;
};

#define PROG(...)                                                         \
    (const struct bpf_insn[]) { __VA_ARGS__ },                            \
    sizeof((const struct bpf_insn[]) { __VA_ARGS__ })                     \
        / sizeof(struct bpf_insn)
#define ACC(name, ...) { name, BPF_VERR_OK, -1, false, PROG(__VA_ARGS__) }
#define REJ(name, code, ...)                                              \
    { name, BPF_VERR_##code, -1, false, PROG(__VA_ARGS__) }
#define REJAT(name, code, at, ...)                                        \
    { name, BPF_VERR_##code, at, false, PROG(__VA_ARGS__) }
#define RAWACC(name, ...) { name, BPF_VERR_OK, -1, true, PROG(__VA_ARGS__) }
#define RAWREJ(name, code, ...)                                           \
    { name, BPF_VERR_##code, -1, true, PROG(__VA_ARGS__) }

/* r0 = map_lookup_elem(map M, &(u32 0 at fp-4)). */
#define LOOKUP(M)                                                         \
    ST(W, 10, -4, 0), MOV64_REG(2, 10), ALU64_IMM(ADD, 2, -4),            \
    LD_MAP(1, M), CALL(BPF_FUNC_map_lookup_elem)

static const struct vcase cases[] = {
    /* ---- Basics ---- */
    ACC("return 0", RET(0)),
    ACC("return any scalar", LDX(W, 0, 1, 12), EXIT),
    REJAT("r0 uninitialised at exit", UNINIT_REG, 0, EXIT),
    REJ("return ctx pointer", PTR_LEAK_RETURN, MOV64_REG(0, 1), EXIT),
    REJ("return stack pointer", PTR_LEAK_RETURN, MOV64_REG(0, 10), EXIT),
    REJ("return packet pointer", PTR_LEAK_RETURN, LDX(W, 0, 1, 0), EXIT),
    REJ("return map pointer", PTR_LEAK_RETURN, LD_MAP(0, M_HASH), EXIT),
    REJ("return map value or null", PTR_LEAK_RETURN, LOOKUP(M_HASH), EXIT),
    REJ("empty program", EMPTY, ),
    REJAT("read uninit r2", UNINIT_REG, 0, MOV64_REG(0, 2), EXIT),
    REJAT("add uninit r5", UNINIT_REG, 1, MOV64_IMM(0, 1),
          ALU64_REG(ADD, 0, 5), EXIT),
    REJ("r6 uninit in compare", UNINIT_REG, JMP_IMM(JEQ, 6, 0, 0), RET(0)),
    ACC("r1-r5 clobbered but r0 fine", CALL(BPF_FUNC_ktime_get_ns), EXIT),
    REJ("r1 clobbered by helper", UNINIT_REG, CALL(BPF_FUNC_ktime_get_ns),
        MOV64_REG(0, 1), EXIT),
    ACC("callee-saved r6 survives helper", MOV64_IMM(6, 3),
        CALL(BPF_FUNC_ktime_get_ns), MOV64_REG(0, 6), EXIT),
    ACC("ld_imm64 constant", LD_IMM64(0, 0x123456789abcdefULL), EXIT),
    ACC("32-bit alu zero-extends", MOV64_IMM(0, -1), ALU32_IMM(ADD, 0, 1),
        EXIT),
    ACC("division by zero is run-time semantics", MOV64_IMM(0, 5),
        MOV64_IMM(2, 0), ALU64_REG(DIV, 0, 2), EXIT),
    ACC("modulo by zero imm", MOV64_IMM(0, 5), ALU64_IMM(MOD, 0, 0), EXIT),
    ACC("signed division", MOV64_IMM(0, -7),
        INSN(BPF_ALU64 | BPF_DIV | BPF_K, 0, 0, 1, 2), EXIT),
    ACC("movsx", MOV64_IMM(2, 0xff),
        INSN(BPF_ALU64 | BPF_MOV | BPF_X, 0, 2, 8, 0), EXIT),
    ACC("bswap", MOV64_IMM(0, 0x1234),
        INSN(BPF_ALU64 | BPF_END | BPF_K, 0, 0, 0, 16), EXIT),
    ACC("be16", LDX(W, 0, 1, 12),
        INSN(BPF_ALU | BPF_END | BPF_TO_BE, 0, 0, 0, 16), EXIT),
    ACC("neg", MOV64_IMM(0, 3), ALU64_IMM(NEG, 0, 0), EXIT),
    ACC("jmp32 ja", LDX(W, 0, 1, 12), JMP_IMM(JEQ, 0, 0, 1),
        INSN(BPF_JMP32 | BPF_JA, 0, 0, 0, 1), MOV64_IMM(0, 1), EXIT),

    /* ---- Structural ---- */
    REJAT("unknown opcode 0xff", BAD_OPCODE, 0, INSN(0xff, 0, 0, 0, 0),
          RET(0)),
    REJ("unknown alu op 0xe0", BAD_OPCODE,
        INSN(BPF_ALU64 | 0xe0 | BPF_K, 0, 0, 0, 0), EXIT),
    REJ("unknown jmp op 0xe0", BAD_OPCODE,
        INSN(BPF_JMP | 0xe0 | BPF_K, 0, 0, 0, 0), RET(0)),
    REJ("jmp32 call", BAD_OPCODE, INSN(BPF_JMP32 | BPF_CALL, 0, 0, 0, 5),
        RET(0)),
    REJ("ldx mode abs", BAD_OPCODE, INSN(BPF_LDX | BPF_ABS | BPF_W, 0, 1, 0, 0),
        EXIT),
    REJ("st mode atomic", BAD_OPCODE,
        INSN(BPF_ST | BPF_ATOMIC | BPF_W, 10, 0, -8, 0), RET(0)),
    REJ("atomic byte size", BAD_OPCODE, MOV64_IMM(1, 1), ST(DW, 10, -8, 0),
        ATOMIC(B, 10, 1, -8, BPF_ADD), RET(0)),
    REJ("atomic unknown op", BAD_OPCODE, MOV64_IMM(1, 1), ST(DW, 10, -8, 0),
        ATOMIC(DW, 10, 1, -8, 0x20), RET(0)),
    REJ("ld_abs dw", BAD_OPCODE, MOV64_REG(6, 1),
        INSN(BPF_LD | BPF_ABS | BPF_DW, 0, 0, 0, 0), EXIT),
    REJAT("dst r11", BAD_REG, 0, MOV64_IMM(11, 0), RET(0)),
    REJ("src r12", BAD_REG, MOV64_REG(0, 12), EXIT),
    REJ("ldx dst r15", BAD_REG, LDX(W, 15, 1, 0), RET(0)),
    REJAT("write r10", WRITE_R10, 0, MOV64_IMM(10, 0), RET(0)),
    REJ("add to r10", WRITE_R10, ALU64_IMM(ADD, 10, -8), RET(0)),
    REJ("load into r10", WRITE_R10, LDX(W, 10, 1, 0), RET(0)),
    REJ("ld_imm64 into r10", WRITE_R10, LD_IMM64(10, 1), RET(0)),
    REJ("imm with X source", RESERVED_FIELD,
        INSN(BPF_ALU64 | BPF_ADD | BPF_X, 0, 1, 0, 5), RET(0)),
    REJ("src with K source", RESERVED_FIELD,
        INSN(BPF_ALU64 | BPF_ADD | BPF_K, 0, 1, 0, 5), RET(0)),
    REJ("alu offset", RESERVED_FIELD,
        INSN(BPF_ALU64 | BPF_ADD | BPF_K, 0, 0, 3, 5), RET(0)),
    REJ("ldx imm", RESERVED_FIELD, INSN(BPF_LDX | BPF_MEM | BPF_W, 0, 1, 0, 1),
        EXIT),
    REJ("exit with imm", RESERVED_FIELD, MOV64_IMM(0, 0),
        INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 1)),
    REJ("ja with imm", RESERVED_FIELD, INSN(BPF_JMP | BPF_JA, 0, 0, 0, 1),
        RET(0)),
    REJ("call with offset", RESERVED_FIELD,
        INSN(BPF_JMP | BPF_CALL, 0, 0, 1, BPF_FUNC_ktime_get_ns), RET(0)),
    REJ("bswap width 8", RESERVED_FIELD, MOV64_IMM(0, 0),
        INSN(BPF_ALU | BPF_END | BPF_TO_BE, 0, 0, 0, 8), EXIT),
    REJ("movsx off 32 in alu32", RESERVED_FIELD, MOV64_IMM(2, 1),
        INSN(BPF_ALU | BPF_MOV | BPF_X, 0, 2, 32, 0), EXIT),
    REJ("shift by 64", BAD_SHIFT, MOV64_IMM(0, 1), ALU64_IMM(LSH, 0, 64), EXIT),
    REJ("shift32 by 32", BAD_SHIFT, MOV64_IMM(0, 1), ALU32_IMM(RSH, 0, 32),
        EXIT),
    REJ("negative arsh", BAD_SHIFT, MOV64_IMM(0, 1), ALU64_IMM(ARSH, 0, -1),
        EXIT),
    REJAT("jump past the end", JMP_OUT_OF_RANGE, 0, JA(5), RET(0)),
    REJ("jump before start", JMP_OUT_OF_RANGE, JA(-2), RET(0)),
    REJ("cond jump out", JMP_OUT_OF_RANGE, MOV64_IMM(0, 0),
        JMP_IMM(JEQ, 0, 0, 10), EXIT),
    REJAT("jump into ld_imm64", JMP_INTO_LDIMM64, 0, JA(1), LD_IMM64(0, 1),
          EXIT),
    REJ("incomplete ld_imm64", BAD_LDIMM64, MOV64_IMM(0, 0),
        INSN(BPF_LD | BPF_DW | BPF_IMM, 0, 0, 0, 1)),
    REJ("ld_imm64 second half code", BAD_LDIMM64,
        INSN(BPF_LD | BPF_DW | BPF_IMM, 0, 0, 0, 1), INSN(7, 0, 0, 0, 0),
        EXIT),
    REJ("ld_imm64 bad pseudo", BAD_LDIMM64,
        INSN(BPF_LD | BPF_DW | BPF_IMM, 0, 3, 0, 1), INSN(0, 0, 0, 0, 0),
        RET(0)),
    REJ("map index out of range", BAD_MAP_REF, LD_MAP(1, 99), RET(0)),
    REJ("map value offset out of range", BAD_MAP_REF,
        LD_MAP_VALUE(1, M_ARRAY, 16), RET(0)),
    REJ("direct value of a hash", BAD_MAP_REF, LD_MAP_VALUE(1, M_HASH, 0),
        RET(0)),
    REJAT("falls off the end", FALL_OFF_END, 0, MOV64_IMM(0, 0)),
    REJ("cond jump at the end", FALL_OFF_END, MOV64_IMM(0, 0),
        JMP_IMM(JEQ, 0, 0, -2)),
    REJAT("unreachable insn", UNREACHABLE, 2, RET(0), RET(1)),
    REJ("unreachable after ja", UNREACHABLE, JA(1), MOV64_IMM(0, 2), RET(0)),
    REJAT("unknown helper", HELPER_UNKNOWN, 1, MOV64_IMM(0, 0), CALL(77),
          EXIT),
    REJ("unknown helper 9999", HELPER_UNKNOWN, CALL(9999), EXIT),
    REJ("unsupported helper skb_store_bytes", HELPER_UNKNOWN,
        CALL(BPF_FUNC_skb_store_bytes), EXIT),
    REJ("call target out of range", BAD_CALL, CALL_REL(10), EXIT),
    REJ("call into ld_imm64", BAD_CALL, CALL_REL(2), EXIT, LD_IMM64(0, 1),
        EXIT),
    REJ("jump out of a function", JMP_OUT_OF_RANGE, CALL_REL(1), EXIT,
        MOV64_IMM(0, 0), JA(-4), EXIT),
    REJ("falls into the next function", FALL_OFF_END, CALL_REL(1),
        MOV64_IMM(0, 0), RET(1)),

    /* ---- Raw (conformance) mode: structure only ---- */
    RAWACC("raw loads through r1", LDX(DW, 0, 1, 0), EXIT),
    RAWACC("raw unbounded loop allowed", MOV64_IMM(0, 0), ALU64_IMM(ADD, 0, 1),
           JA(-2)),
    RAWACC("raw shift by 40 masked at run time", MOV64_IMM(0, 1),
           ALU32_IMM(LSH, 0, 40), EXIT),
    RAWACC("raw unreachable code tolerated", RET(0), RET(1)),
    RAWREJ("raw bad opcode", BAD_OPCODE, INSN(0xf7, 0, 0, 0, 0), EXIT),
    RAWREJ("raw jump out", JMP_OUT_OF_RANGE, JA(3), EXIT),
    RAWREJ("raw r10 write", WRITE_R10, MOV64_IMM(10, 1), EXIT),
    RAWREJ("raw falls off", FALL_OFF_END, MOV64_IMM(0, 1)),
    RAWREJ("raw unknown helper", HELPER_UNKNOWN, CALL(1234), EXIT),

    /* ---- Stack ---- */
    ACC("stack store and load", ST(DW, 10, -8, 7), LDX(DW, 0, 10, -8), EXIT),
    ACC("stack at -512", ST(DW, 10, -512, 7), LDX(DW, 0, 10, -512), EXIT),
    REJAT("stack at -520", STACK_OOB, 0, ST(DW, 10, -520, 7), RET(0)),
    REJ("stack at 0", STACK_OOB, ST(DW, 10, 0, 7), RET(0)),
    REJ("stack crosses fp", STACK_OOB, ST(DW, 10, -4, 7), RET(0)),
    REJ("stack positive", STACK_OOB, ST(W, 10, 8, 7), RET(0)),
    REJ("stack -513 byte", STACK_OOB, ST(B, 10, -513, 7), RET(0)),
    ACC("stack byte at -1", ST(B, 10, -1, 7), LDX(B, 0, 10, -1), EXIT),
    REJ("misaligned u64", STACK_MISALIGNED, ST(DW, 10, -12, 7), RET(0)),
    REJ("misaligned u32", STACK_MISALIGNED, ST(W, 10, -6, 7), RET(0)),
    REJ("misaligned u16", STACK_MISALIGNED, ST(H, 10, -3, 7), RET(0)),
    REJAT("uninit stack read", UNINIT_STACK, 0, LDX(DW, 0, 10, -8), EXIT),
    REJ("partially init read", UNINIT_STACK, ST(W, 10, -8, 1),
        LDX(DW, 0, 10, -8), EXIT),
    ACC("two halves make a u64", ST(W, 10, -8, 1), ST(W, 10, -4, 2),
        LDX(DW, 0, 10, -8), EXIT),
    ACC("spill and fill ctx", STX(DW, 10, 1, -16), LDX(DW, 2, 10, -16),
        LDX(W, 0, 2, 12), EXIT),
    REJ("partial fill of spilled pointer", PARTIAL_PTR, STX(DW, 10, 1, -16),
        LDX(W, 0, 10, -16), EXIT),
    REJ("spilled ctx then overwritten", BAD_DEREF, STX(DW, 10, 1, -16),
        ST(W, 10, -16, 0), LDX(DW, 2, 10, -16), LDX(W, 0, 2, 12), EXIT),
    ACC("spill scalar keeps bounds", MOV64_IMM(6, 4), STX(DW, 10, 6, -16),
        LOOKUP(M_ARRAY), JMP_IMM(JEQ, 0, 0, 4), LDX(DW, 6, 10, -16),
        ALU64_REG(ADD, 0, 6), LDX(W, 0, 0, 0), EXIT, RET(0)),
    ACC("stack pointer arithmetic", MOV64_REG(2, 10), ALU64_IMM(ADD, 2, -16),
        ST(DW, 2, 8, 1), LDX(DW, 0, 10, -8), EXIT),
    REJ("stack pointer leaves frame", PTR_ARITH_OOB, MOV64_REG(2, 10),
        ALU64_IMM(ADD, 2, -600), RET(0)),
    REJ("stack pointer above frame", PTR_ARITH_OOB, MOV64_REG(2, 10),
        ALU64_IMM(ADD, 2, 8), RET(0)),
    ACC("variable stack offset write then read of init range",
        ST(DW, 10, -8, 0), ST(DW, 10, -16, 0), LDX(W, 3, 1, 12),
        ALU64_IMM(AND, 3, 8), MOV64_REG(2, 10), ALU64_IMM(ADD, 2, -16),
        ALU64_REG(ADD, 2, 3), LDX(DW, 0, 2, 0), EXIT),
    REJ("variable stack read of uninit", UNINIT_STACK, ST(DW, 10, -8, 0),
        LDX(W, 3, 1, 12), ALU64_IMM(AND, 3, 8), MOV64_REG(2, 10),
        ALU64_IMM(ADD, 2, -16), ALU64_REG(ADD, 2, 3), LDX(DW, 0, 2, 0), EXIT),
    REJ("unbounded stack offset", PTR_ARITH_UNBOUNDED, LDX(W, 3, 1, 12),
        MOV64_REG(2, 10), ALU64_REG(ADD, 2, 3), RET(0)),
    ACC("atomic add on stack", ST(DW, 10, -8, 0), MOV64_IMM(1, 1),
        ATOMIC(DW, 10, 1, -8, BPF_ADD), LDX(DW, 0, 10, -8), EXIT),
    ACC("atomic fetch add", ST(DW, 10, -8, 0), MOV64_IMM(1, 1),
        ATOMIC(DW, 10, 1, -8, BPF_ADD | BPF_FETCH), MOV64_REG(0, 1), EXIT),
    ACC("cmpxchg", ST(DW, 10, -8, 0), MOV64_IMM(1, 1), MOV64_IMM(0, 0),
        ATOMIC(DW, 10, 1, -8, BPF_CMPXCHG), EXIT),
    REJ("atomic on uninit stack", UNINIT_STACK, MOV64_IMM(1, 1),
        ATOMIC(DW, 10, 1, -8, BPF_ADD), RET(0)),
    REJ("atomic on ctx", ATOMIC_BAD, MOV64_IMM(2, 1),
        ATOMIC(W, 1, 2, 0, BPF_ADD), RET(0)),
    REJ("atomic on packet", ATOMIC_BAD, PKT_LOAD, MOV64_IMM(4, 1),
        ATOMIC(W, 2, 4, 0, BPF_ADD), RET(0)),
    REJ("atomic xchg of a pointer into map", PTR_LEAK_MAP, LOOKUP(M_HASH),
        JMP_IMM(JEQ, 0, 0, 1), ATOMIC(DW, 0, 10, 0, BPF_XCHG), RET(0)),

    /* ---- ctx ---- */
    REJ("ctx write data", CTX_WRITE, ST(W, 1, 0, 0), RET(0)),
    REJ("ctx write ingress", CTX_WRITE, ST(W, 1, 12, 0), RET(0)),
    REJ("ctx write egress", CTX_WRITE, MOV64_IMM(2, 1), STX(W, 1, 2, 20),
        RET(0)),
    REJ("ctx store pointer", PTR_LEAK_CTX, STX(W, 1, 10, 16), RET(0)),
    REJ("ctx variable offset", CTX_BAD_ACCESS, LDX(W, 2, 1, 12),
        ALU64_IMM(AND, 2, 4), ALU64_REG(ADD, 1, 2), LDX(W, 0, 1, 0), EXIT),
    ACC("ctx constant offset pointer", ALU64_IMM(ADD, 1, 12), LDX(W, 0, 1, 4),
        EXIT),
    REJ("ctx negative offset", CTX_BAD_ACCESS, LDX(W, 0, 1, -4), EXIT),
    REJ("helper gets ctx+4", HELPER_ARG_TYPE, ALU64_IMM(ADD, 1, 4),
        MOV64_IMM(2, 0), CALL(BPF_FUNC_xdp_adjust_head), EXIT),

    /* ---- Packet ---- */
    ACC("parse ethernet", PKT_LOAD, MOV64_REG(4, 2), ALU64_IMM(ADD, 4, 14),
        JMP_REG(JGT, 4, 3, 2), LDX(H, 0, 2, 12), EXIT, RET(1)),
    REJAT("no bounds check", PKT_NO_BOUNDS, 2, PKT_LOAD, LDX(B, 0, 2, 0),
          EXIT),
    REJ("bounds check one short", PKT_NO_BOUNDS, PKT_LOAD, MOV64_REG(4, 2),
        ALU64_IMM(ADD, 4, 13), JMP_REG(JGT, 4, 3, 2), LDX(H, 0, 2, 12), EXIT,
        RET(1)),
    REJ("access in the failing branch", PKT_NO_BOUNDS, PKT_LOAD,
        MOV64_REG(4, 2), ALU64_IMM(ADD, 4, 14), JMP_REG(JGT, 4, 3, 2),
        RET(1), LDX(H, 0, 2, 12), EXIT),
    REJ("negative packet offset", PKT_OOB, PKT_LOAD, MOV64_REG(4, 2),
        ALU64_IMM(ADD, 4, 14), JMP_REG(JGT, 4, 3, 2), LDX(B, 0, 2, -1), EXIT,
        RET(1)),
    ACC("check on copy applies to original", PKT_LOAD, MOV64_REG(4, 2),
        MOV64_REG(5, 2), ALU64_IMM(ADD, 4, 20), JMP_REG(JGT, 4, 3, 2),
        LDX(W, 0, 5, 16), EXIT, RET(1)),
    ACC("check survives spill of packet pointer", PKT_LOAD,
        STX(DW, 10, 2, -8), MOV64_REG(4, 2), ALU64_IMM(ADD, 4, 8),
        JMP_REG(JGT, 4, 3, 3), LDX(DW, 5, 10, -8), LDX(DW, 0, 5, 0), EXIT,
        RET(1)),
    ACC("packet write", PKT_LOAD, MOV64_REG(4, 2), ALU64_IMM(ADD, 4, 6),
        JMP_REG(JGT, 4, 3, 3), ST(H, 2, 4, 0x1234), RET(3), RET(1)),
    REJ("store pointer into packet", PTR_LEAK_MEM, PKT_LOAD, MOV64_REG(4, 2),
        ALU64_IMM(ADD, 4, 8), JMP_REG(JGT, 4, 3, 3), STX(DW, 2, 10, 0),
        RET(0), RET(1)),
    REJ("deref data_end", BAD_DEREF, PKT_LOAD, LDX(B, 0, 3, 0), EXIT),
    REJ("arith on data_end", PTR_ARITH_PROHIBITED, PKT_LOAD,
        ALU64_IMM(ADD, 3, -4), RET(0)),
    ACC("variable offset after check", PKT_LOAD, MOV64_REG(4, 2),
        ALU64_IMM(ADD, 4, 1), JMP_REG(JGT, 4, 3, 7), LDX(B, 5, 2, 0),
        ALU64_IMM(AND, 5, 0x3c), ALU64_REG(ADD, 2, 5), MOV64_REG(4, 2),
        ALU64_IMM(ADD, 4, 4), JMP_REG(JGT, 4, 3, 1), LDX(W, 0, 2, 0),
        RET(1)),
    REJ("unbounded packet offset", PTR_ARITH_UNBOUNDED, PKT_LOAD,
        LDX(W, 5, 1, 12), ALU64_IMM(LSH, 5, 32), ALU64_REG(ADD, 2, 5),
        RET(0)),
    REJ("range lost after adding variable", PKT_NO_BOUNDS, PKT_LOAD,
        MOV64_REG(4, 2), ALU64_IMM(ADD, 4, 8), JMP_REG(JGT, 4, 3, 5),
        LDX(B, 5, 2, 0), ALU64_IMM(AND, 5, 3), ALU64_REG(ADD, 2, 5),
        LDX(B, 0, 2, 0), EXIT, RET(1)),
    ACC("packet length by subtraction", PKT_LOAD, ALU64_REG(SUB, 3, 2),
        MOV64_REG(0, 3), EXIT),
    REJ("packet pointer plus pointer", PTR_ARITH_PROHIBITED, PKT_LOAD,
        ALU64_REG(ADD, 2, 3), RET(0)),
    REJ("32-bit add on packet pointer", PTR_ARITH_PROHIBITED, PKT_LOAD,
        ALU32_IMM(ADD, 2, 4), RET(0)),
    REJ("packet range lost after adjust_head", BAD_DEREF, PKT_LOAD,
        MOV64_REG(4, 2), ALU64_IMM(ADD, 4, 8), JMP_REG(JGT, 4, 3, 5),
        MOV64_REG(6, 2), MOV64_IMM(2, 4), CALL(BPF_FUNC_xdp_adjust_head),
        LDX(B, 0, 6, 0), EXIT, RET(1)),
    ACC("data_meta checked against data", LDX(W, 2, 1, 8), LDX(W, 3, 1, 0),
        MOV64_REG(4, 2), ALU64_IMM(ADD, 4, 4), JMP_REG(JGT, 4, 3, 2),
        LDX(W, 0, 2, 0), EXIT, RET(2)),
    REJ("data_meta unchecked", PKT_NO_BOUNDS, LDX(W, 2, 1, 8),
        LDX(W, 0, 2, 0), EXIT),
    REJ("compare packet with scalar", PTR_CMP, PKT_LOAD,
        JMP_IMM(JGT, 2, 100, 0), RET(0)),
    REJ("jmp32 on packet pointers", PTR_CMP, PKT_LOAD,
        JMP32_REG(JGT, 2, 3, 0), RET(0)),
    REJ("compare stack with ctx", PTR_CMP, JMP_REG(JEQ, 10, 1, 0), RET(0)),
    REJ("ld_abs without ctx in r6", LD_ABS_CTX, MOV64_IMM(6, 0),
        INSN(BPF_LD | BPF_ABS | BPF_B, 0, 0, 0, 12), EXIT),
    ACC("ld_abs with ctx in r6", MOV64_REG(6, 1),
        INSN(BPF_LD | BPF_ABS | BPF_H, 0, 0, 0, 12), EXIT),

    /* ---- Maps and null checks ---- */
    ACC("lookup and null check", LOOKUP(M_HASH), JMP_IMM(JEQ, 0, 0, 2),
        LDX(DW, 0, 0, 0), EXIT, RET(0)),
    REJAT("lookup without null check", NULL_DEREF, 6, LOOKUP(M_HASH),
          LDX(DW, 0, 0, 0), EXIT),
    ACC("null check with jne", LOOKUP(M_HASH), JMP_IMM(JNE, 0, 0, 2), RET(0),
        LDX(DW, 0, 0, 0), EXIT),
    REJ("deref in the null branch", BAD_DEREF, LOOKUP(M_HASH),
        JMP_IMM(JNE, 0, 0, 2), LDX(DW, 0, 0, 0), EXIT, RET(0)),
    ACC("null check on a copy applies", LOOKUP(M_HASH), MOV64_REG(6, 0),
        JMP_IMM(JEQ, 0, 0, 2), LDX(DW, 0, 6, 0), EXIT, RET(0)),
    ACC("null check survives spill", LOOKUP(M_HASH), STX(DW, 10, 0, -16),
        JMP_IMM(JEQ, 0, 0, 3), LDX(DW, 1, 10, -16), LDX(DW, 0, 1, 0), EXIT,
        RET(0)),
    REJ("arith on map value or null", PTR_ARITH_PROHIBITED, LOOKUP(M_HASH),
        ALU64_IMM(ADD, 0, 4), RET(0)),
    REJ("map value read past the end", MAP_VALUE_OOB, LOOKUP(M_HASH),
        JMP_IMM(JEQ, 0, 0, 2), LDX(DW, 0, 0, 4), EXIT, RET(0)),
    REJ("map value negative offset", MAP_VALUE_OOB, LOOKUP(M_HASH),
        JMP_IMM(JEQ, 0, 0, 2), LDX(B, 0, 0, -1), EXIT, RET(0)),
    ACC("map value write", LOOKUP(M_HASH), JMP_IMM(JEQ, 0, 0, 1),
        ST(DW, 0, 0, 5), RET(0)),
    REJ("store pointer into map value", PTR_LEAK_MAP, LOOKUP(M_HASH),
        JMP_IMM(JEQ, 0, 0, 1), STX(DW, 0, 10, 0), RET(0)),
    REJ("store map value pointer into itself", PTR_LEAK_MAP, LOOKUP(M_HASH),
        JMP_IMM(JEQ, 0, 0, 1), STX(DW, 0, 0, 0), RET(0)),
    ACC("bounded index into array value", LOOKUP(M_ARRAY),
        JMP_IMM(JEQ, 0, 0, 5), LDX(W, 1, 0, 0), JMP_IMM(JGT, 1, 12, 3),
        ALU64_REG(ADD, 0, 1), LDX(W, 0, 0, 0), EXIT, RET(0)),
    REJ("index bound off by one", MAP_VALUE_OOB, LOOKUP(M_ARRAY),
        JMP_IMM(JEQ, 0, 0, 5), LDX(W, 1, 0, 0), JMP_IMM(JGT, 1, 13, 3),
        ALU64_REG(ADD, 0, 1), LDX(W, 0, 0, 0), EXIT, RET(0)),
    REJ("unbounded index into map value", PTR_ARITH_UNBOUNDED,
        LOOKUP(M_ARRAY), JMP_IMM(JEQ, 0, 0, 2), LDX(DW, 1, 0, 0),
        ALU64_REG(ADD, 0, 1), RET(0)),
    REJ("write to rodata", RDONLY_WRITE, LD_MAP_VALUE(1, M_RODATA, 0),
        ST(W, 1, 0, 1), RET(0)),
    ACC("read rodata", LD_MAP_VALUE(1, M_RODATA, 4), LDX(W, 0, 1, 0), EXIT),
    REJ("read rodata past end", MAP_VALUE_OOB, LD_MAP_VALUE(1, M_RODATA, 12),
        LDX(DW, 0, 1, 0), EXIT),
    ACC("global data read and write", LD_MAP_VALUE(1, M_ARRAY, 8),
        ST(DW, 1, 0, 9), LDX(DW, 0, 1, 0), EXIT),
    REJ("write through map pointer", RDONLY_WRITE, LD_MAP(1, M_HASH),
        ST(W, 1, 0, 1), RET(0)),
    REJ("read through map pointer", BAD_DEREF, LD_MAP(1, M_HASH),
        LDX(W, 0, 1, 0), EXIT),
    REJ("arith on map pointer", PTR_ARITH_PROHIBITED, LD_MAP(1, M_HASH),
        ALU64_IMM(ADD, 1, 8), RET(0)),
    ACC("update with stack key and value", ST(W, 10, -4, 1),
        ST(DW, 10, -16, 2), LD_MAP(1, M_HASH), MOV64_REG(2, 10),
        ALU64_IMM(ADD, 2, -4), MOV64_REG(3, 10), ALU64_IMM(ADD, 3, -16),
        MOV64_IMM(4, BPF_ANY), CALL(BPF_FUNC_map_update_elem), EXIT),
    REJ("update with uninit value", UNINIT_STACK, ST(W, 10, -4, 1),
        LD_MAP(1, M_HASH), MOV64_REG(2, 10), ALU64_IMM(ADD, 2, -4),
        MOV64_REG(3, 10), ALU64_IMM(ADD, 3, -16), MOV64_IMM(4, BPF_ANY),
        CALL(BPF_FUNC_map_update_elem), EXIT),
    REJ("update with partially init value", UNINIT_STACK, ST(W, 10, -4, 1),
        ST(W, 10, -16, 2), LD_MAP(1, M_HASH), MOV64_REG(2, 10),
        ALU64_IMM(ADD, 2, -4), MOV64_REG(3, 10), ALU64_IMM(ADD, 3, -16),
        MOV64_IMM(4, BPF_ANY), CALL(BPF_FUNC_map_update_elem), EXIT),
    REJ("update leaks a pointer into the map", PTR_LEAK_MAP,
        ST(W, 10, -4, 1), STX(DW, 10, 1, -16), LD_MAP(1, M_HASH),
        MOV64_REG(2, 10), ALU64_IMM(ADD, 2, -4), MOV64_REG(3, 10),
        ALU64_IMM(ADD, 3, -16), MOV64_IMM(4, BPF_ANY),
        CALL(BPF_FUNC_map_update_elem), EXIT),
    REJ("key too close to fp", HELPER_ARG_SIZE, ST(B, 10, -1, 1),
        LD_MAP(1, M_BIG), MOV64_REG(2, 10), ALU64_IMM(ADD, 2, -1),
        CALL(BPF_FUNC_map_lookup_elem), RET(0)),
    REJ("uninit key", UNINIT_STACK, LD_MAP(1, M_HASH), MOV64_REG(2, 10),
        ALU64_IMM(ADD, 2, -4), CALL(BPF_FUNC_map_lookup_elem), RET(0)),
    REJ("key is a scalar", HELPER_ARG_TYPE, LD_MAP(1, M_HASH),
        MOV64_IMM(2, 0), CALL(BPF_FUNC_map_lookup_elem), RET(0)),
    REJ("map arg is a scalar", HELPER_ARG_TYPE, MOV64_IMM(1, 0),
        MOV64_REG(2, 10), CALL(BPF_FUNC_map_lookup_elem), RET(0)),
    REJ("map arg is ctx", HELPER_ARG_TYPE, ST(W, 10, -4, 0), MOV64_REG(2, 10),
        ALU64_IMM(ADD, 2, -4), CALL(BPF_FUNC_map_lookup_elem), RET(0)),
    REJ("lookup key r2 uninit", UNINIT_REG, LD_MAP(1, M_HASH),
        CALL(BPF_FUNC_map_lookup_elem), RET(0)),
    ACC("key in packet", PKT_LOAD, MOV64_REG(4, 2), ALU64_IMM(ADD, 4, 4),
        JMP_REG(JGT, 4, 3, 3), LD_MAP(1, M_HASH),
        CALL(BPF_FUNC_map_lookup_elem), RET(0)),
    REJ("key in packet unchecked", HELPER_ARG_SIZE, PKT_LOAD,
        MOV64_REG(4, 2), ALU64_IMM(ADD, 4, 3), JMP_REG(JGT, 4, 3, 3),
        LD_MAP(1, M_HASH), CALL(BPF_FUNC_map_lookup_elem), RET(0)),
    ACC("key in map value", LOOKUP(M_ARRAY), JMP_IMM(JEQ, 0, 0, 4),
        MOV64_REG(2, 0), LD_MAP(1, M_HASH), CALL(BPF_FUNC_map_lookup_elem),
        RET(0)),
    ACC("delete", ST(W, 10, -4, 1), LD_MAP(1, M_HASH), MOV64_REG(2, 10),
        ALU64_IMM(ADD, 2, -4), CALL(BPF_FUNC_map_delete_elem), EXIT),
    ACC("queue push and pop", ST(DW, 10, -8, 1), LD_MAP(1, M_QUEUE),
        MOV64_REG(2, 10), ALU64_IMM(ADD, 2, -8), MOV64_IMM(3, 0),
        CALL(BPF_FUNC_map_push_elem), LD_MAP(1, M_QUEUE), MOV64_REG(2, 10),
        ALU64_IMM(ADD, 2, -16), CALL(BPF_FUNC_map_pop_elem),
        LDX(DW, 0, 10, -16), EXIT),
    REJ("pop on a hash map", HELPER_MAP_TYPE, LD_MAP(1, M_HASH),
        MOV64_REG(2, 10), ALU64_IMM(ADD, 2, -8), CALL(BPF_FUNC_map_pop_elem),
        EXIT),
    REJ("lookup on a queue", HELPER_MAP_TYPE, LOOKUP(M_QUEUE), RET(0)),
    REJ("lookup on prog array", HELPER_MAP_TYPE, LOOKUP(M_PROGS), RET(0)),
    REJ("lookup on ringbuf", HELPER_MAP_TYPE, LOOKUP(M_RINGBUF), RET(0)),
    ACC("tail call", LD_MAP(2, M_PROGS), MOV64_IMM(3, 0),
        CALL(BPF_FUNC_tail_call), RET(2)),
    REJ("tail call on hash", HELPER_MAP_TYPE, LD_MAP(2, M_HASH),
        MOV64_IMM(3, 0), CALL(BPF_FUNC_tail_call), RET(2)),
    REJ("tail call ctx not r1", HELPER_ARG_TYPE, MOV64_REG(1, 10),
        LD_MAP(2, M_PROGS), MOV64_IMM(3, 0), CALL(BPF_FUNC_tail_call),
        RET(2)),
    ACC("redirect_map on devmap", LD_MAP(1, M_DEVMAP), MOV64_IMM(2, 0),
        MOV64_IMM(3, 0), CALL(BPF_FUNC_redirect_map), EXIT),
    REJ("redirect_map on array", HELPER_MAP_TYPE, LD_MAP(1, M_ARRAY),
        MOV64_IMM(2, 0), MOV64_IMM(3, 0), CALL(BPF_FUNC_redirect_map), EXIT),
    ACC("redirect", MOV64_IMM(1, 2), MOV64_IMM(2, 0),
        CALL(BPF_FUNC_redirect), EXIT),
    REJ("redirect with pointer", HELPER_ARG_TYPE, MOV64_REG(1, 10),
        MOV64_IMM(2, 0), CALL(BPF_FUNC_redirect), EXIT),

    /* ---- Memory + size helpers ---- */
    ACC("csum_diff on stack", ST(DW, 10, -8, 0), MOV64_IMM(1, 0),
        MOV64_IMM(2, 0), MOV64_REG(3, 10), ALU64_IMM(ADD, 3, -8),
        MOV64_IMM(4, 8), MOV64_IMM(5, 0), CALL(BPF_FUNC_csum_diff), EXIT),
    REJ("csum_diff size too big", HELPER_ARG_SIZE, ST(DW, 10, -8, 0),
        MOV64_IMM(1, 0), MOV64_IMM(2, 0), MOV64_REG(3, 10),
        ALU64_IMM(ADD, 3, -8), MOV64_IMM(4, 16), MOV64_IMM(5, 0),
        CALL(BPF_FUNC_csum_diff), EXIT),
    REJ("csum_diff null with size", HELPER_ARG_SIZE, MOV64_IMM(1, 0),
        MOV64_IMM(2, 4), MOV64_IMM(3, 0), MOV64_IMM(4, 0), MOV64_IMM(5, 0),
        CALL(BPF_FUNC_csum_diff), EXIT),
    REJ("csum_diff unbounded size", HELPER_ARG_SIZE, MOV64_REG(6, 1),
        ST(DW, 10, -8, 0), MOV64_IMM(1, 0), MOV64_IMM(2, 0),
        MOV64_REG(3, 10), ALU64_IMM(ADD, 3, -8), LDX(W, 4, 6, 12),
        MOV64_IMM(5, 0),
        CALL(BPF_FUNC_csum_diff), EXIT),
    ACC("csum_diff over packet", PKT_LOAD, MOV64_REG(4, 2),
        ALU64_IMM(ADD, 4, 20), JMP_REG(JGT, 4, 3, 6), MOV64_REG(1, 2),
        MOV64_IMM(2, 20), MOV64_IMM(3, 0), MOV64_IMM(4, 0), MOV64_IMM(5, 0),
        CALL(BPF_FUNC_csum_diff), RET(0)),
    REJ("csum_diff over packet too long", HELPER_ARG_SIZE, PKT_LOAD,
        MOV64_REG(4, 2), ALU64_IMM(ADD, 4, 20), JMP_REG(JGT, 4, 3, 6),
        MOV64_REG(1, 2), MOV64_IMM(2, 24), MOV64_IMM(3, 0), MOV64_IMM(4, 0),
        MOV64_IMM(5, 0), CALL(BPF_FUNC_csum_diff), RET(0)),
    ACC("trace_printk", ST(DW, 10, -8, 0x7825), MOV64_REG(1, 10),
        ALU64_IMM(ADD, 1, -8), MOV64_IMM(2, 8), MOV64_IMM(3, 1),
        CALL(BPF_FUNC_trace_printk), EXIT),
    REJ("trace_printk size zero", HELPER_ARG_SIZE, ST(DW, 10, -8, 0),
        MOV64_REG(1, 10), ALU64_IMM(ADD, 1, -8), MOV64_IMM(2, 0),
        MOV64_IMM(3, 1), CALL(BPF_FUNC_trace_printk), EXIT),
    REJ("trace_printk negative size", HELPER_ARG_SIZE, ST(DW, 10, -8, 0),
        MOV64_REG(1, 10), ALU64_IMM(ADD, 1, -8), MOV64_IMM(2, -1),
        MOV64_IMM(3, 1), CALL(BPF_FUNC_trace_printk), EXIT),
    REJ("trace_printk fmt from ctx", HELPER_ARG_TYPE, MOV64_IMM(2, 4),
        MOV64_IMM(3, 1), CALL(BPF_FUNC_trace_printk), EXIT),
    ACC("ringbuf output", ST(DW, 10, -8, 1), LD_MAP(1, M_RINGBUF),
        MOV64_REG(2, 10), ALU64_IMM(ADD, 2, -8), MOV64_IMM(3, 8),
        MOV64_IMM(4, 0), CALL(BPF_FUNC_ringbuf_output), EXIT),
    REJ("ringbuf output leaks pointer", PTR_LEAK_MAP, STX(DW, 10, 1, -8),
        LD_MAP(1, M_RINGBUF), MOV64_REG(2, 10), ALU64_IMM(ADD, 2, -8),
        MOV64_IMM(3, 8), MOV64_IMM(4, 0), CALL(BPF_FUNC_ringbuf_output),
        EXIT),
    ACC("ringbuf reserve submit", LD_MAP(1, M_RINGBUF), MOV64_IMM(2, 16),
        MOV64_IMM(3, 0), CALL(BPF_FUNC_ringbuf_reserve),
        JMP_IMM(JEQ, 0, 0, 6), ST(DW, 0, 8, 1), MOV64_REG(1, 0),
        MOV64_IMM(2, 0), CALL(BPF_FUNC_ringbuf_submit), RET(0), RET(0)),
    ACC("ringbuf reserve discard", LD_MAP(1, M_RINGBUF), MOV64_IMM(2, 16),
        MOV64_IMM(3, 0), CALL(BPF_FUNC_ringbuf_reserve),
        JMP_IMM(JEQ, 0, 0, 5), MOV64_REG(1, 0), MOV64_IMM(2, 0),
        CALL(BPF_FUNC_ringbuf_discard), RET(0), RET(0)),
    REJ("ringbuf record leaked", REF_LEAK, LD_MAP(1, M_RINGBUF),
        MOV64_IMM(2, 16), MOV64_IMM(3, 0), CALL(BPF_FUNC_ringbuf_reserve),
        JMP_IMM(JEQ, 0, 0, 1), ST(DW, 0, 0, 1), RET(0)),
    REJ("ringbuf record without null check", NULL_DEREF,
        LD_MAP(1, M_RINGBUF), MOV64_IMM(2, 16), MOV64_IMM(3, 0),
        CALL(BPF_FUNC_ringbuf_reserve), ST(DW, 0, 0, 1), RET(0)),
    REJ("ringbuf record written past end", MEM_OOB, LD_MAP(1, M_RINGBUF),
        MOV64_IMM(2, 16), MOV64_IMM(3, 0), CALL(BPF_FUNC_ringbuf_reserve),
        JMP_IMM(JEQ, 0, 0, 6), ST(DW, 0, 12, 1), MOV64_REG(1, 0),
        MOV64_IMM(2, 0), CALL(BPF_FUNC_ringbuf_submit), RET(0), RET(0)),
    REJ("ringbuf record used after submit", BAD_DEREF, LD_MAP(1, M_RINGBUF),
        MOV64_IMM(2, 16), MOV64_IMM(3, 0), CALL(BPF_FUNC_ringbuf_reserve),
        JMP_IMM(JEQ, 0, 0, 7), MOV64_REG(6, 0), MOV64_REG(1, 0),
        MOV64_IMM(2, 0), CALL(BPF_FUNC_ringbuf_submit), ST(DW, 6, 0, 1),
        RET(0), RET(0)),
    REJ("ringbuf reserve variable size", HELPER_ARG_SIZE,
        LDX(W, 2, 1, 12), LD_MAP(1, M_RINGBUF), MOV64_IMM(3, 0),
        CALL(BPF_FUNC_ringbuf_reserve), RET(0)),
    REJ("submit a stack pointer", HELPER_ARG_TYPE, MOV64_REG(1, 10),
        MOV64_IMM(2, 0), CALL(BPF_FUNC_ringbuf_submit), RET(0)),
    REJ("store pointer into ringbuf record", PTR_LEAK_MEM,
        LD_MAP(1, M_RINGBUF), MOV64_IMM(2, 16), MOV64_IMM(3, 0),
        CALL(BPF_FUNC_ringbuf_reserve), JMP_IMM(JEQ, 0, 0, 6),
        STX(DW, 0, 10, 0), MOV64_REG(1, 0), MOV64_IMM(2, 0),
        CALL(BPF_FUNC_ringbuf_submit), RET(0), RET(0)),
    REJ("tail call holding a record", REF_LEAK, MOV64_REG(6, 1),
        LD_MAP(1, M_RINGBUF), MOV64_IMM(2, 16), MOV64_IMM(3, 0),
        CALL(BPF_FUNC_ringbuf_reserve), JMP_IMM(JEQ, 0, 0, 9),
        MOV64_REG(7, 0), MOV64_REG(1, 6), LD_MAP(2, M_PROGS),
        MOV64_IMM(3, 0), CALL(BPF_FUNC_tail_call), MOV64_REG(1, 7),
        MOV64_IMM(2, 0), CALL(BPF_FUNC_ringbuf_discard), RET(0)),
    ACC("adjust_head then recheck", MOV64_REG(6, 1), MOV64_IMM(2, -4),
        CALL(BPF_FUNC_xdp_adjust_head), LDX(W, 2, 6, 0), LDX(W, 3, 6, 4),
        MOV64_REG(4, 2), ALU64_IMM(ADD, 4, 4), JMP_REG(JGT, 4, 3, 3),
        ST(W, 2, 0, 0), RET(2), RET(1)),
    ACC("prandom result is u32", CALL(BPF_FUNC_get_prandom_u32),
        JMP_IMM(JGT, 0, 0x7fffffff, 0), EXIT),

    /* ---- Pointer ALU ---- */
    REJ("pointer multiply", PTR_ARITH_PROHIBITED, MOV64_REG(2, 10),
        ALU64_IMM(MUL, 2, 2), RET(0)),
    REJ("pointer and", PTR_ARITH_PROHIBITED, MOV64_REG(2, 10),
        ALU64_IMM(AND, 2, -8), RET(0)),
    REJ("pointer or", PTR_ARITH_PROHIBITED, MOV64_REG(2, 1),
        ALU64_IMM(OR, 2, 1), RET(0)),
    REJ("pointer xor", PTR_ARITH_PROHIBITED, MOV64_REG(2, 1),
        ALU64_IMM(XOR, 2, 1), RET(0)),
    REJ("pointer lsh", PTR_ARITH_PROHIBITED, MOV64_REG(2, 1),
        ALU64_IMM(LSH, 2, 1), RET(0)),
    REJ("pointer rsh", PTR_ARITH_PROHIBITED, MOV64_REG(2, 1),
        ALU64_IMM(RSH, 2, 1), RET(0)),
    REJ("pointer arsh", PTR_ARITH_PROHIBITED, MOV64_REG(2, 1),
        ALU64_IMM(ARSH, 2, 1), RET(0)),
    REJ("pointer div", PTR_ARITH_PROHIBITED, MOV64_REG(2, 1),
        ALU64_IMM(DIV, 2, 2), RET(0)),
    REJ("pointer mod", PTR_ARITH_PROHIBITED, MOV64_REG(2, 1),
        ALU64_IMM(MOD, 2, 2), RET(0)),
    REJ("pointer neg", PTR_ARITH_PROHIBITED, MOV64_REG(2, 1),
        ALU64_IMM(NEG, 2, 0), RET(0)),
    REJ("pointer bswap", PTR_ARITH_PROHIBITED, MOV64_REG(2, 1),
        INSN(BPF_ALU | BPF_END | BPF_TO_BE, 2, 0, 0, 32), RET(0)),
    REJ("32-bit move of pointer", PTR_ARITH_PROHIBITED, MOV32_REG(2, 1),
        RET(0)),
    REJ("32-bit add to pointer", PTR_ARITH_PROHIBITED, MOV64_REG(2, 10),
        ALU32_IMM(ADD, 2, -8), RET(0)),
    REJ("scalar minus pointer", PTR_ARITH_PROHIBITED, MOV64_IMM(2, 0),
        ALU64_REG(SUB, 2, 10), RET(0)),
    REJ("pointer plus pointer", PTR_ARITH_PROHIBITED, MOV64_REG(2, 10),
        ALU64_REG(ADD, 2, 1), RET(0)),
    REJ("sign-extending move of pointer", PTR_ARITH_PROHIBITED,
        INSN(BPF_ALU64 | BPF_MOV | BPF_X, 2, 1, 32, 0), RET(0)),
    ACC("scalar plus pointer", MOV64_IMM(2, -8), ALU64_REG(ADD, 2, 10),
        ST(DW, 2, 0, 1), RET(0)),
    /* A difference of pointers into one region is a length; across
     * regions it would leak the distance between two addresses. */
    REJ("pointer minus pointer of other regions", PTR_ARITH_PROHIBITED,
        MOV64_REG(0, 10), ALU64_REG(SUB, 0, 1), EXIT),
    ACC("stack pointer minus stack pointer", MOV64_REG(0, 10),
        MOV64_REG(2, 10), ALU64_IMM(ADD, 2, -16), ALU64_REG(SUB, 0, 2),
        EXIT),
    ACC("32-bit packet length from data_end - data (clang's idiom)",
        LDX(W, 2, 1, 0), LDX(W, 3, 1, 4), ALU32_REG(SUB, 3, 2),
        MOV64_REG(0, 3), EXIT),
    REJ("32-bit difference of stack and ctx", PTR_ARITH_PROHIBITED,
        MOV64_REG(0, 10), ALU32_REG(SUB, 0, 1), EXIT),
    REJ("deref scalar", BAD_DEREF, MOV64_IMM(2, 0x1000), LDX(W, 0, 2, 0),
        EXIT),
    REJ("store through scalar", BAD_DEREF, MOV64_IMM(2, 0x1000),
        ST(W, 2, 0, 0), RET(0)),

    /* ---- Branches and dead code ---- */
    ACC("dead branch skipped", MOV64_IMM(2, 5), JMP_IMM(JEQ, 2, 5, 2),
        LDX(DW, 0, 10, -8), EXIT, RET(0)),
    ACC("dead branch with jgt", MOV64_IMM(2, 5), JMP_IMM(JGT, 2, 4, 2),
        LDX(DW, 0, 10, -8), EXIT, RET(0)),
    REJ("live branch checked", UNINIT_STACK, MOV64_IMM(2, 5),
        JMP_IMM(JGT, 2, 5, 2), LDX(DW, 0, 10, -8), EXIT, RET(0)),
    ACC("range makes branch dead", LDX(W, 2, 1, 12), ALU64_IMM(AND, 2, 0xff),
        JMP_IMM(JLE, 2, 255, 2), LDX(DW, 0, 10, -8), EXIT, RET(0)),
    ACC("jmp32 range", LDX(W, 2, 1, 12), ALU64_IMM(RSH, 2, 4),
        JMP32_IMM(JLT, 2, 0x10000000, 2), LDX(DW, 0, 10, -8), EXIT, RET(0)),
    ACC("signed range dead branch", LDX(W, 2, 1, 12), JMP_IMM(JSGE, 2, 0, 2),
        LDX(DW, 0, 10, -8), EXIT, RET(0)),
    ACC("jset dead branch", MOV64_IMM(2, 4), JMP_IMM(JSET, 2, 3, 2), RET(0),
        LDX(DW, 0, 10, -8), EXIT),
    ACC("equal scalars share bounds", LOOKUP(M_ARRAY), JMP_IMM(JEQ, 0, 0, 6),
        LDX(W, 6, 0, 0), MOV64_REG(7, 6), JMP_IMM(JGT, 6, 12, 3),
        ALU64_REG(ADD, 0, 7), LDX(W, 0, 0, 0), EXIT, RET(0)),
    ACC("reg-reg compare bounds", LOOKUP(M_ARRAY), JMP_IMM(JEQ, 0, 0, 6),
        LDX(W, 6, 0, 0), MOV64_IMM(7, 12), JMP_REG(JGT, 6, 7, 3),
        ALU64_REG(ADD, 0, 6), LDX(W, 0, 0, 0), EXIT, RET(0)),

    /* ---- Pruning must not hide a bad path ---- */
    REJ("join: shorter packet range on the second path", PKT_NO_BOUNDS,
        PKT_LOAD, LDX(W, 5, 1, 12), MOV64_REG(4, 2), JMP_IMM(JEQ, 5, 0, 2),
        ALU64_IMM(ADD, 4, 14), JA(1), ALU64_IMM(ADD, 4, 4),
        JMP_REG(JGT, 4, 3, 2), LDX(B, 0, 2, 10), EXIT, RET(1)),
    REJ("join: shorter packet range on the first path", PKT_NO_BOUNDS,
        PKT_LOAD, LDX(W, 5, 1, 12), MOV64_REG(4, 2), JMP_IMM(JEQ, 5, 0, 2),
        ALU64_IMM(ADD, 4, 4), JA(1), ALU64_IMM(ADD, 4, 14),
        JMP_REG(JGT, 4, 3, 2), LDX(B, 0, 2, 10), EXIT, RET(1)),
    ACC("join: both packet ranges long enough", PKT_LOAD, LDX(W, 5, 1, 12),
        MOV64_REG(4, 2), JMP_IMM(JEQ, 5, 0, 2), ALU64_IMM(ADD, 4, 14), JA(1),
        ALU64_IMM(ADD, 4, 11), JMP_REG(JGT, 4, 3, 2), LDX(B, 0, 2, 10), EXIT,
        RET(1)),
    REJ("join: offset precise only after the join", PTR_ARITH_OOB,
        LDX(W, 6, 1, 12), MOV64_IMM(7, 0), JMP_IMM(JEQ, 6, 0, 1),
        MOV64_IMM(7, 100), MOV64_IMM(8, 0), LOOKUP(M_ARRAY),
        JMP_IMM(JEQ, 0, 0, 3), ALU64_REG(ADD, 0, 7), LDX(B, 0, 0, 0), EXIT,
        RET(0)),
    REJ("join: offset precise through a spill", MAP_VALUE_OOB,
        LDX(W, 6, 1, 12), MOV64_IMM(7, 4), JMP_IMM(JEQ, 6, 0, 1),
        MOV64_IMM(7, 16), STX(DW, 10, 7, -16), LOOKUP(M_ARRAY),
        JMP_IMM(JEQ, 0, 0, 4), LDX(DW, 7, 10, -16), ALU64_REG(ADD, 0, 7),
        LDX(B, 0, 0, 0), EXIT, RET(0)),
    REJ("join: decided branch on a constant", UNINIT_STACK, LDX(W, 6, 1, 12),
        MOV64_IMM(7, 1), JMP_IMM(JEQ, 6, 0, 1), MOV64_IMM(7, 2),
        MOV64_IMM(8, 0), JMP_IMM(JEQ, 7, 1, 2), LDX(DW, 0, 10, -8), EXIT,
        RET(0)),
    REJ("join: null check on only one path", NULL_DEREF, LDX(W, 6, 1, 12),
        LOOKUP(M_HASH), JMP_IMM(JEQ, 6, 0, 1), JMP_IMM(JEQ, 0, 0, 2),
        LDX(DW, 0, 0, 0), EXIT, RET(0)),

    /* ---- Loops ---- */
    ACC("bounded loop of 10", MOV64_IMM(0, 0), MOV64_IMM(1, 0),
        ALU64_IMM(ADD, 0, 3), ALU64_IMM(ADD, 1, 1), JMP_IMM(JLT, 1, 10, -3),
        EXIT),
    ACC("bounded loop of 1000", MOV64_IMM(0, 0), MOV64_IMM(1, 0),
        ALU64_REG(ADD, 0, 1), ALU64_IMM(ADD, 1, 1),
        JMP_IMM(JLT, 1, 1000, -3), EXIT),
    ACC("down-counting loop", MOV64_IMM(1, 16), MOV64_IMM(0, 0),
        ALU64_IMM(ADD, 0, 1), ALU64_IMM(SUB, 1, 1), JMP_IMM(JNE, 1, 0, -3),
        EXIT),
    ACC("loop bounded by unknown but capped scalar", LDX(W, 2, 1, 12),
        ALU64_IMM(AND, 2, 7), MOV64_IMM(0, 0), ALU64_IMM(ADD, 0, 1),
        JMP_REG(JLT, 0, 2, -2), EXIT),
    REJ("infinite loop", LOOP_UNBOUNDED, MOV64_IMM(0, 0), JA(-1)),
    REJ("infinite loop with body", LOOP_UNBOUNDED, MOV64_IMM(0, 0),
        ALU64_IMM(AND, 0, 1), JA(-2)),
    REJ("loop on unknown counter", TOO_COMPLEX, LDX(W, 1, 1, 12),
        MOV64_IMM(0, 0), ALU64_IMM(SUB, 1, 1), JMP_IMM(JNE, 1, 0, -2), EXIT),
    REJ("loop without progress", LOOP_UNBOUNDED, MOV64_IMM(1, 0),
        MOV64_IMM(0, 0), ALU64_IMM(ADD, 1, 0), JMP_IMM(JLT, 1, 10, -2),
        EXIT),
    REJ("loop too long to unroll", TOO_COMPLEX, MOV64_IMM(0, 0),
        MOV64_IMM(1, 0), ALU64_IMM(ADD, 1, 1), ALU64_IMM(ADD, 0, 1),
        ALU64_IMM(ADD, 0, 1), JMP_IMM(JLT, 1, 1000000, -4), EXIT),

    /* ---- BPF-to-BPF calls ---- */
    ACC("call a function", MOV64_IMM(1, 3), CALL_REL(1), EXIT,
        MOV64_REG(0, 1), ALU64_IMM(ADD, 0, 1), EXIT),
    ACC("callee uses caller stack", ST(DW, 10, -8, 5), MOV64_REG(1, 10),
        ALU64_IMM(ADD, 1, -8), CALL_REL(1), EXIT, LDX(DW, 0, 1, 0), EXIT),
    ACC("callee writes caller stack", MOV64_REG(1, 10), ALU64_IMM(ADD, 1, -8),
        CALL_REL(2), LDX(DW, 0, 10, -8), EXIT, ST(DW, 1, 0, 3), RET(0)),
    REJ("caller-saved clobbered by call", UNINIT_REG, MOV64_IMM(1, 3),
        MOV64_IMM(2, 4), CALL_REL(2), MOV64_REG(0, 2), EXIT, RET(0)),
    ACC("callee-saved kept across call", MOV64_IMM(6, 3), CALL_REL(2),
        MOV64_REG(0, 6), EXIT, RET(0)),
    REJ("callee reads uninit arg", UNINIT_REG, CALL_REL(1), EXIT,
        MOV64_REG(0, 3), EXIT),
    REJ("callee returns its stack", PTR_LEAK_RETURN, CALL_REL(1), EXIT,
        MOV64_REG(0, 10), EXIT),
    REJ("callee own stack uninit", UNINIT_STACK, ST(DW, 10, -8, 1),
        CALL_REL(1), EXIT, LDX(DW, 0, 10, -8), EXIT),
    REJ("recursion too deep", CALL_DEPTH, CALL_REL(1), EXIT, CALL_REL(-1),
        EXIT),
    ACC("callee passes ctx to helper", CALL_REL(1), EXIT, MOV64_IMM(2, 0),
        CALL(BPF_FUNC_xdp_adjust_tail), RET(0)),
    ACC("callee returns map value to check", CALL_REL(5),
        JMP_IMM(JEQ, 0, 0, 2), LDX(DW, 0, 0, 0), EXIT, RET(0),
        LOOKUP(M_HASH), EXIT),
    ACC("seven nested calls", CALL_REL(1), EXIT, CALL_REL(1), EXIT,
        CALL_REL(1), EXIT, CALL_REL(1), EXIT, CALL_REL(1), EXIT,
        CALL_REL(1), EXIT, CALL_REL(1), EXIT, RET(7)),
    REJ("eight nested calls", CALL_DEPTH, CALL_REL(1), EXIT, CALL_REL(1),
        EXIT, CALL_REL(1), EXIT, CALL_REL(1), EXIT, CALL_REL(1), EXIT,
        CALL_REL(1), EXIT, CALL_REL(1), EXIT, CALL_REL(1), EXIT, RET(7)),
    REJ("callee pkt access unchecked", PKT_NO_BOUNDS, PKT_LOAD,
        MOV64_REG(1, 2), CALL_REL(1), EXIT, LDX(B, 0, 1, 0), EXIT),
    ACC("callee pkt access checked by caller", PKT_LOAD, MOV64_REG(4, 2),
        ALU64_IMM(ADD, 4, 2), JMP_REG(JGT, 4, 3, 3), MOV64_REG(1, 2),
        CALL_REL(3), EXIT, RET(1), LDX(H, 0, 1, 0), EXIT),
};

static void
run_prog(const struct bpf_insn *insns, size_t n, bool raw,
         struct bpf_prog *prog, struct bpf_verify_result *res)
{
    memset(prog, 0, sizeof *prog);
    prog->kind = raw ? BPF_PROG_KIND_RAW : BPF_PROG_KIND_XDP;
    prog->insns = xmalloc(sizeof *insns * (n ? n : 1));
    memcpy(prog->insns, insns, sizeof *insns * n);
    prog->n_insns = n;
    prog->maps = test_map_ptrs;
    prog->n_maps = N_MAPS;
    bpf_prog_verify(prog, res);
}

static void
prog_free(struct bpf_prog *prog)
{
    free(prog->insns);
    free(prog->xlated);
}

static int n_accept, n_reject, n_failed;

/* Runs one case; prints and counts a mismatch. */
static void
check_case(const char *name, int expect, int at, bool raw,
           const struct bpf_insn *insns, size_t n)
{
    struct bpf_prog prog;
    struct bpf_verify_result res;
    run_prog(insns, n, raw, &prog, &res);
    bool ok = res.reason == expect && (at < 0 || (uint32_t) at == res.insn_idx);
    if (expect == BPF_VERR_OK) {
        ok &= res.accepted && prog.verified && prog.xlated;
        n_accept++;
    } else {
        ok &= !res.accepted && !prog.verified;
        n_reject++;
    }
    if (!ok) {
        n_failed++;
        fprintf(stderr, "FAIL %s: expected %s%s, got %s (%s)\n", name,
                bpf_verr_name(expect), at >= 0 ? " at insn" : "",
                bpf_verr_name(res.reason), res.log ? res.log : "");
    }
    bpf_verify_result_destroy(&res);
    prog_free(&prog);
}

#ifdef HAVE_LIBBPF
/* The kernel's verdict on one case (maps recreated in the kernel with the
 * same types): 1 accepted, 0 rejected, -1 unknown. */
static int
kernel_case_verdict(const struct bpf_insn *insns, size_t n)
{
    static int fds[N_MAPS];
    static int ready;          /* 0 untried, 1 ok, -1 unavailable. */
    if (!ready) {
        ready = geteuid() == 0 ? 1 : -1;
        for (int i = 0; i < N_MAPS && ready > 0; i++) {
            const struct bpf_map *m = &test_maps[i];
            LIBBPF_OPTS(bpf_map_create_opts, o);
            if (m->read_only) {
                o.map_flags = BPF_F_RDONLY_PROG;
            }
            fds[i] = bpf_map_create(m->type, m->name, m->key_size,
                                    m->value_size, m->max_entries, &o);
            if (fds[i] < 0) {
                ready = -1;
            }
        }
    }
    if (ready < 0 || !n) {
        return -1;
    }
    struct bpf_insn *p = xmalloc(n * sizeof *p);
    memcpy(p, insns, n * sizeof *p);
    for (size_t k = 0; k < n; k++) {
        if (p[k].code == (BPF_LD | BPF_IMM | BPF_DW)
            && (p[k].src_reg == BPF_PSEUDO_MAP_FD
                || p[k].src_reg == BPF_PSEUDO_MAP_VALUE)
            && p[k].imm >= 0 && p[k].imm < N_MAPS) {
            p[k].imm = fds[p[k].imm];
        }
    }
    int fd = bpf_prog_load(BPF_PROG_TYPE_XDP, NULL, "GPL", p, n, NULL);
    free(p);
    if (fd >= 0) {
        close(fd);
        return 1;
    }
    return 0;
}
#else
static int
kernel_case_verdict(const struct bpf_insn *insns, size_t n)
{
    (void) insns;
    (void) n;
    return -1;
}
#endif

/* Runs the annotated cases; as root, also through the kernel verifier,
 * reporting (not failing on) disagreements: some are deliberate (see the
 * report at the end). */
static void
test_cases(void **state)
{
    (void) state;
    int n_kernel = 0, n_disagree = 0;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        const struct vcase *c = &cases[i];
        check_case(c->name, c->expect, c->at, c->raw, c->insns, c->n);
        int k = c->raw ? -1 : kernel_case_verdict(c->insns, c->n);
        if (k < 0) {
            continue;
        }
        n_kernel++;
        if (k != (c->expect == BPF_VERR_OK)) {
            n_disagree++;
            fprintf(stderr, "kernel disagrees on '%s': kernel %s, sluice "
                    "%s\n", c->name, k ? "accepts" : "rejects",
                    bpf_verr_name(c->expect));
        }
    }
    if (n_kernel) {
        fprintf(stderr, "kernel verifier: %d of %d cases disagree\n",
                n_disagree, n_kernel);
    }
}

/* A growable program for the generated families. */
struct pb {
    struct bpf_insn insns[64];
    size_t n;
};

static void
emit(struct pb *p, size_t n, const struct bpf_insn *insns)
{
    assert_true(p->n + n <= ARRAY_SIZE(p->insns));
    memcpy(&p->insns[p->n], insns, n * sizeof *insns);
    p->n += n;
}

#define E(p, ...)                                                         \
    emit(p, sizeof((struct bpf_insn[]) { __VA_ARGS__ })                   \
                / sizeof(struct bpf_insn),                                \
         (struct bpf_insn[]) { __VA_ARGS__ })

/* ctx reads: only aligned 4-byte reads of the six xdp_md fields. */
static void
test_ctx_family(void **state)
{
    (void) state;
    static const uint8_t sizes[] = { BPF_B, BPF_H, BPF_W, BPF_DW };
    static const int bytes[] = { 1, 2, 4, 8 };
    for (int off = -4; off <= 28; off += 2) {
        for (int s = 0; s < 4; s++) {
            struct pb p = { .n = 0 };
            E(&p, INSN(BPF_LDX | BPF_MEM | sizes[s], 0, 1, off, 0));
            /* Pointers loaded from ctx cannot be returned: drop them. */
            E(&p, MOV64_IMM(0, 0), EXIT);
            bool ok = bytes[s] == 4 && off >= 0 && off < 24 && !(off % 4);
            char name[64];
            snprintf(name, sizeof name, "ctx read off %d size %d", off,
                     bytes[s]);
            check_case(name, ok ? BPF_VERR_OK : BPF_VERR_CTX_BAD_ACCESS, 0,
                       false, p.insns, p.n);
        }
    }
}

/* Stack stores at every offset near the frame's edges, each size. */
static void
test_stack_family(void **state)
{
    (void) state;
    static const uint8_t sizes[] = { BPF_B, BPF_H, BPF_W, BPF_DW };
    static const int bytes[] = { 1, 2, 4, 8 };
    static const int offs[] = { -520, -516, -513, -512, -510, -508, -504,
                                -12, -9, -8, -6, -4, -2, -1, 0, 4 };
    for (size_t o = 0; o < ARRAY_SIZE(offs); o++) {
        for (int s = 0; s < 4; s++) {
            struct pb p = { .n = 0 };
            int off = offs[o];
            E(&p, INSN(BPF_ST | BPF_MEM | sizes[s], 10, 0, off, 7));
            E(&p, INSN(BPF_LDX | BPF_MEM | sizes[s], 0, 10, off, 0), EXIT);
            int expect = BPF_VERR_OK;
            if (off < -512 || off + bytes[s] > 0) {
                expect = BPF_VERR_STACK_OOB;
            } else if (off % bytes[s]) {
                expect = BPF_VERR_STACK_MISALIGNED;
            }
            char name[64];
            snprintf(name, sizeof name, "stack fp%+d size %d", off,
                     bytes[s]);
            check_case(name, expect, 0, false, p.insns, p.n);
        }
    }
}

/* A bounds check "data + n" in each of eight orientations, then an access
 * of 'size' at 'off' on the proven side (and on the wrong side). */
static void
test_pkt_family(void **state)
{
    (void) state;
    /* op, data register is dst (1) or src (0), proven on taken branch. */
    static const struct {
        uint8_t op;
        bool data_dst;
        bool taken_ok;
        const char *text;
    } orient[] = {
        { BPF_JGT, true, false, "data+n > end" },
        { BPF_JGE, true, false, "data+n >= end" },
        { BPF_JLT, true, true, "data+n < end" },
        { BPF_JLE, true, true, "data+n <= end" },
        { BPF_JGT, false, true, "end > data+n" },
        { BPF_JGE, false, true, "end >= data+n" },
        { BPF_JLT, false, false, "end < data+n" },
        { BPF_JLE, false, false, "end <= data+n" },
    };
    static const struct { int n, off, size; } acc[] = {
        { 14, 12, 2 }, { 14, 13, 2 }, { 34, 30, 4 }, { 34, 31, 4 },
        { 8, 0, 8 }, { 8, 1, 8 },
    };
    static const uint8_t sz[] = { [1] = BPF_B, [2] = BPF_H, [4] = BPF_W,
                                  [8] = BPF_DW };
    for (size_t o = 0; o < ARRAY_SIZE(orient); o++) {
        for (size_t a = 0; a < ARRAY_SIZE(acc); a++) {
            for (int wrong = 0; wrong < 2; wrong++) {
                struct pb p = { .n = 0 };
                E(&p, PKT_LOAD, MOV64_REG(4, 2),
                  ALU64_IMM(ADD, 4, acc[a].n));
                struct bpf_insn j = JMP_REG(JEQ, 4, 3, 3);
                if (!orient[o].data_dst) {
                    j.dst_reg = 3;
                    j.src_reg = 4;
                }
                j.code = BPF_JMP | orient[o].op | BPF_X;
                bool access_on_taken = orient[o].taken_ok != wrong;
                struct bpf_insn ld = INSN(BPF_LDX | BPF_MEM
                                          | sz[acc[a].size], 0, 2,
                                          acc[a].off, 0);
                j.off = 2;
                if (access_on_taken) {
                    E(&p, j, MOV64_IMM(0, 1), EXIT, ld, EXIT);
                } else {
                    E(&p, j, ld, EXIT, MOV64_IMM(0, 1), EXIT);
                }
                bool fits = acc[a].off + acc[a].size <= acc[a].n;
                int expect = !wrong && fits ? BPF_VERR_OK
                                            : BPF_VERR_PKT_NO_BOUNDS;
                char name[96];
                snprintf(name, sizeof name, "%s n=%d access %d+%d%s",
                         orient[o].text, acc[a].n, acc[a].off, acc[a].size,
                         wrong ? " (wrong branch)" : "");
                check_case(name, expect, -1, false, p.insns, p.n);
            }
        }
    }
}

/* Index bounds into a 16-byte map value checked with each comparison. */
static void
test_map_bounds_family(void **state)
{
    (void) state;
    static const struct {
        uint8_t op;
        int32_t k;
        bool bad_on_taken;     /* Taken branch = out of range. */
        int max_ok;            /* Largest index reaching the access. */
    } tests[] = {
        { BPF_JGT, 12, true, 12 }, { BPF_JGT, 13, true, 13 },
        { BPF_JGE, 13, true, 12 }, { BPF_JGE, 14, true, 13 },
        { BPF_JLT, 13, false, 12 }, { BPF_JLT, 14, false, 13 },
        { BPF_JLE, 12, false, 12 }, { BPF_JLE, 13, false, 13 },
        { BPF_JSGT, 12, true, 12 }, { BPF_JSLE, 12, false, 12 },
        { BPF_JSLT, 13, false, 12 }, { BPF_JSGE, 13, true, 12 },
        { BPF_JSGT, 20, true, 20 },
    };
    for (size_t t = 0; t < ARRAY_SIZE(tests); t++) {
        for (int is32 = 0; is32 < 2; is32++) {
            struct pb p = { .n = 0 };
            uint8_t cls = is32 ? BPF_JMP32 : BPF_JMP;
            E(&p, LOOKUP(M_ARRAY));
            size_t null_check = p.n;
            E(&p, JMP_IMM(JEQ, 0, 0, 0), LDX(W, 1, 0, 0));
            /* A signed check alone allows negatives: rule them out. */
            struct bpf_insn neg = JMP_IMM(JSLT, 1, 0, 0);
            neg.code = cls | BPF_JSLT | BPF_K;
            size_t neg_check = p.n;
            E(&p, neg);
            struct bpf_insn j = JMP_IMM(JEQ, 1, tests[t].k, 0);
            j.code = cls | tests[t].op | BPF_K;
            if (tests[t].bad_on_taken) {
                j.off = 3;
                E(&p, j, ALU64_REG(ADD, 0, 1), LDX(W, 0, 0, 0), EXIT);
            } else {
                j.off = 1;
                E(&p, j, JA(3), ALU64_REG(ADD, 0, 1), LDX(W, 0, 0, 0),
                  EXIT);
            }
            size_t out = p.n;
            E(&p, RET(0));
            p.insns[null_check].off = (int16_t) (out - null_check - 1);
            p.insns[neg_check].off = (int16_t) (out - neg_check - 1);
            /* 4-byte load at [idx, idx+4) of 16 bytes: idx <= 12. */
            int expect = tests[t].max_ok <= 12 ? BPF_VERR_OK
                         : tests[t].max_ok <= 16 ? BPF_VERR_MAP_VALUE_OOB
                                                 : BPF_VERR_PTR_ARITH_OOB;
            char name[64];
            snprintf(name, sizeof name, "map index op 0x%02x k %d%s",
                     tests[t].op, tests[t].k, is32 ? " jmp32" : "");
            check_case(name, expect, -1, false, p.insns, p.n);
        }
    }
}

/* Every prohibited ALU op on each pointer kind. */
static void
test_ptr_alu_family(void **state)
{
    (void) state;
    static const uint8_t ops[] = { BPF_MUL, BPF_DIV, BPF_OR, BPF_AND,
                                   BPF_LSH, BPF_RSH, BPF_MOD, BPF_XOR,
                                   BPF_ARSH };
    /* How to get a pointer of each kind into r2. */
    static const struct bpf_insn srcs[][2] = {
        { MOV64_REG(2, 1), JA(0) },
        { MOV64_REG(2, 10), JA(0) },
        { LDX(W, 2, 1, 0), JA(0) },
        { LDX(W, 2, 1, 4), JA(0) },
    };
    for (size_t s = 0; s < ARRAY_SIZE(srcs); s++) {
        for (size_t o = 0; o < ARRAY_SIZE(ops); o++) {
            struct pb p = { .n = 0 };
            E(&p, srcs[s][0]);
            struct bpf_insn a = ALU64_IMM(ADD, 2, 1);
            a.code = BPF_ALU64 | ops[o] | BPF_K;
            E(&p, a, RET(0));
            char name[64];
            snprintf(name, sizeof name, "pointer kind %zu op 0x%02x", s,
                     ops[o]);
            check_case(name, BPF_VERR_PTR_ARITH_PROHIBITED, 1, false,
                       p.insns, p.n);
        }
    }
}

/* The counts the issue asks for. */
static void
test_counts(void **state)
{
    (void) state;
    fprintf(stderr, "verifier cases: %d accept, %d reject, %d failed\n",
            n_accept, n_reject, n_failed);
    assert_int_equal(n_failed, 0);
    assert_true(n_accept >= 150);
    assert_true(n_reject >= 150);
}

/* ---- Scalar domain soundness against concrete arithmetic ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t
rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* A random scalar: constant, small range, masked, or unknown. */
static void
rnd_scalar(struct bpf_scalar *s)
{
    switch (rnd() % 5) {
    case 0:
        bpf_scalar_const(s, rnd() % 3 ? rnd() % 64 : rnd());
        break;
    case 1: {
        bpf_scalar_unknown(s);
        uint64_t a = rnd() % 1000, b = a + rnd() % 1000;
        s->umin = a;
        s->umax = b;
        break;
    }
    case 2: {
        bpf_scalar_unknown(s);
        s->var_off.mask = rnd() & rnd();
        s->var_off.value = rnd() & ~s->var_off.mask;
        break;
    }
    case 3: {
        bpf_scalar_unknown(s);
        int64_t a = (int64_t) (rnd() % 2000) - 1000;
        s->smin = a;
        s->smax = a + (int64_t) (rnd() % 500);
        break;
    }
    default:
        bpf_scalar_unknown(s);
        break;
    }
    assert_true(bpf_scalar_sync(s));
}

static bool
contains(const struct bpf_scalar *s, uint64_t v)
{
    return (v & ~s->var_off.mask) == s->var_off.value && v >= s->umin
           && v <= s->umax && (int64_t) v >= s->smin
           && (int64_t) v <= s->smax && (uint32_t) v >= s->u32_min
           && (uint32_t) v <= s->u32_max && (int32_t) v >= s->s32_min
           && (int32_t) v <= s->s32_max;
}

/* A random member of 's' (by rejection sampling around its bounds). */
static bool
sample(const struct bpf_scalar *s, uint64_t *v)
{
    for (int tries = 0; tries < 200; tries++) {
        uint64_t c;
        switch (rnd() % 4) {
        case 0:
            c = s->umin + rnd() % (s->umax - s->umin + 1 ? s->umax - s->umin + 1
                                                       : UINT64_MAX);
            break;
        case 1:
            c = (uint64_t) (s->smin + (int64_t) (rnd() % 2000));
            break;
        case 2:
            c = s->var_off.value | (rnd() & s->var_off.mask);
            break;
        default:
            c = rnd() % 2 ? s->umin : s->umax;
            break;
        }
        if (contains(s, c)) {
            *v = c;
            return true;
        }
    }
    return false;
}

static uint64_t
concrete_alu(uint64_t a, uint64_t b, uint8_t op, bool alu32, int16_t off)
{
    if (alu32) {
        uint32_t x = (uint32_t) a, y = (uint32_t) b;
        switch (op) {
        case BPF_ADD: return (uint32_t) (x + y);
        case BPF_SUB: return (uint32_t) (x - y);
        case BPF_MUL: return (uint32_t) (x * y);
        case BPF_AND: return x & y;
        case BPF_OR: return x | y;
        case BPF_XOR: return x ^ y;
        case BPF_LSH: return (uint32_t) (x << (y & 31));
        case BPF_RSH: return x >> (y & 31);
        case BPF_ARSH: return (uint32_t) ((int32_t) x >> (y & 31));
        case BPF_DIV:
            if (off) {
                return !y ? 0 : (uint32_t) ((int32_t) y == -1
                                            ? -(int64_t) (int32_t) x
                                            : (int32_t) x / (int32_t) y);
            }
            return y ? x / y : 0;
        case BPF_MOD:
            if (off) {
                return !y ? x : (uint32_t) ((int32_t) y == -1
                                            ? 0 : (int32_t) x % (int32_t) y);
            }
            return y ? x % y : x;
        }
        return 0;
    }
    switch (op) {
    case BPF_ADD: return a + b;
    case BPF_SUB: return a - b;
    case BPF_MUL: return a * b;
    case BPF_AND: return a & b;
    case BPF_OR: return a | b;
    case BPF_XOR: return a ^ b;
    case BPF_LSH: return a << (b & 63);
    case BPF_RSH: return a >> (b & 63);
    case BPF_ARSH: return (uint64_t) ((int64_t) a >> (b & 63));
    case BPF_DIV:
        if (off) {
            return !b ? 0 : ((int64_t) b == -1 ? (uint64_t) 0 - a
                                               : (uint64_t) ((int64_t) a
                                                             / (int64_t) b));
        }
        return b ? a / b : 0;
    case BPF_MOD:
        if (off) {
            return !b ? a : ((int64_t) b == -1 ? 0
                                               : (uint64_t) ((int64_t) a
                                                             % (int64_t) b));
        }
        return b ? a % b : a;
    }
    return 0;
}

static void
test_scalar_alu_sound(void **state)
{
    (void) state;
    static const uint8_t ops[] = { BPF_ADD, BPF_SUB, BPF_MUL, BPF_AND,
                                   BPF_OR, BPF_XOR, BPF_LSH, BPF_RSH,
                                   BPF_ARSH, BPF_DIV, BPF_MOD };
    int checked = 0;
    for (int iter = 0; iter < 20000; iter++) {
        struct bpf_scalar a, b;
        rnd_scalar(&a);
        rnd_scalar(&b);
        uint8_t op = ops[rnd() % ARRAY_SIZE(ops)];
        bool alu32 = rnd() % 2;
        int16_t off = (op == BPF_DIV || op == BPF_MOD) && rnd() % 2;
        struct bpf_scalar r = a;
        bpf_scalar_alu(&r, &b, op, alu32, off);
        for (int k = 0; k < 8; k++) {
            uint64_t x, y;
            if (!sample(&a, &x) || !sample(&b, &y)) {
                continue;
            }
            uint64_t z = concrete_alu(x, y, op, alu32, off);
            if (!contains(&r, z)) {
                fail_msg("op 0x%02x%s off %d: %#llx, %#llx -> %#llx not in "
                         "result [%#llx, %#llx] tnum %#llx/%#llx",
                         op, alu32 ? " (32)" : "", off,
                         (unsigned long long) x, (unsigned long long) y,
                         (unsigned long long) z,
                         (unsigned long long) r.umin,
                         (unsigned long long) r.umax,
                         (unsigned long long) r.var_off.value,
                         (unsigned long long) r.var_off.mask);
            }
            checked++;
        }
    }
    assert_true(checked > 50000);
}

static bool
concrete_cond(uint64_t a, uint64_t b, uint8_t op, bool is32)
{
    if (is32) {
        a = (uint32_t) a;
        b = (uint32_t) b;
    }
    int64_t sa = is32 ? (int32_t) a : (int64_t) a;
    int64_t sb = is32 ? (int32_t) b : (int64_t) b;
    switch (op) {
    case BPF_JEQ: return a == b;
    case BPF_JNE: return a != b;
    case BPF_JGT: return a > b;
    case BPF_JGE: return a >= b;
    case BPF_JLT: return a < b;
    case BPF_JLE: return a <= b;
    case BPF_JSGT: return sa > sb;
    case BPF_JSGE: return sa >= sb;
    case BPF_JSLT: return sa < sb;
    case BPF_JSLE: return sa <= sb;
    case BPF_JSET: return (a & b) != 0;
    default: return (a & b) == 0;
    }
}

/* Refinement keeps every pair of values for which the condition holds,
 * and a decided branch is decided correctly. */
static void
test_scalar_branch_sound(void **state)
{
    (void) state;
    static const uint8_t ops[] = { BPF_JEQ, BPF_JNE, BPF_JGT, BPF_JGE,
                                   BPF_JLT, BPF_JLE, BPF_JSGT, BPF_JSGE,
                                   BPF_JSLT, BPF_JSLE, BPF_JSET,
                                   BPF_VERIFIER_JNSET };
    int checked = 0;
    for (int iter = 0; iter < 20000; iter++) {
        struct bpf_scalar a, b;
        rnd_scalar(&a);
        rnd_scalar(&b);
        uint8_t op = ops[rnd() % ARRAY_SIZE(ops)];
        bool is32 = rnd() % 2;
        int decided = bpf_scalar_branch(&a, &b, op, is32);
        struct bpf_scalar ra = a, rb = b;
        bool feasible = bpf_scalar_refine(&ra, &rb, op, is32);
        for (int k = 0; k < 8; k++) {
            uint64_t x, y;
            if (!sample(&a, &x) || !sample(&b, &y)) {
                continue;
            }
            bool holds = concrete_cond(x, y, op, is32);
            if (decided >= 0) {
                assert_int_equal(decided, holds);
            }
            if (holds) {
                assert_true(feasible);
                assert_true(contains(&ra, x));
                assert_true(contains(&rb, y));
            }
            checked++;
        }
    }
    assert_true(checked > 50000);
}

/* ---- ctx rewrite and verifier outputs ---- */

static void
test_xlated(void **state)
{
    (void) state;
    static const struct bpf_insn prog_insns[] = {
        LDX(W, 2, 1, 0), LDX(W, 3, 1, 4), LDX(W, 4, 1, 8),
        LDX(W, 5, 1, 12), LDX(W, 6, 1, 16), MOV64_REG(7, 1),
        ALU64_IMM(ADD, 7, 20), LDX(W, 0, 7, 0), ST(DW, 10, -24, 0),
        EXIT,
    };
    struct bpf_prog prog;
    struct bpf_verify_result res;
    run_prog(prog_insns, ARRAY_SIZE(prog_insns), false, &prog, &res);
    assert_true(res.accepted);
    assert_int_equal(prog.n_xlated, ARRAY_SIZE(prog_insns));
    const struct bpf_insn *x = prog.xlated;
    assert_int_equal(x[0].code, BPF_LDX | BPF_MEM | BPF_DW);
    assert_int_equal(x[0].off, offsetof(struct bpf_xdp_buff, data));
    assert_int_equal(x[1].code, BPF_LDX | BPF_MEM | BPF_DW);
    assert_int_equal(x[1].off, offsetof(struct bpf_xdp_buff, data_end));
    assert_int_equal(x[2].off, offsetof(struct bpf_xdp_buff, data_meta));
    assert_int_equal(x[3].code, BPF_LDX | BPF_MEM | BPF_W);
    assert_int_equal(x[3].off,
                     offsetof(struct bpf_xdp_buff, ingress_ifindex));
    assert_int_equal(x[4].off,
                     offsetof(struct bpf_xdp_buff, rx_queue_index));
    /* Base pointer ctx + 20: the new offset is relative to it. */
    assert_int_equal(x[7].off,
                     offsetof(struct bpf_xdp_buff, egress_ifindex) - 20);
    assert_int_equal(x[8].code, prog_insns[8].code);
    assert_int_equal(prog.max_stack, 24);
    assert_true(res.insns_processed >= ARRAY_SIZE(prog_insns));
    bpf_verify_result_destroy(&res);
    prog_free(&prog);
}

static void
test_reason_names(void **state)
{
    (void) state;
    for (int i = 0; i < BPF_VERR_N; i++) {
        assert_int_equal(bpf_verr_from_name(bpf_verr_name(i)), i);
        assert_true(strlen(bpf_verr_text(i)) > 3);
    }
    assert_int_equal(bpf_verr_from_name("NOPE"), -1);
    struct bpf_prog prog;
    struct bpf_verify_result res;
    static const struct bpf_insn p[] = { MOV64_IMM(0, 0), CALL(77), EXIT };
    run_prog(p, ARRAY_SIZE(p), false, &prog, &res);
    assert_non_null(strstr(res.log, "unknown helper 77 at insn 1"));
    bpf_verify_result_destroy(&res);
    prog_free(&prog);
}

/* Many diamonds in a row: without pruning this is 2^40 paths. */
static void
test_pruning_speed(void **state)
{
    (void) state;
    enum { N_DIAMONDS = 400 };
    size_t n = 0;
    struct bpf_insn *p = xcalloc(N_DIAMONDS * 5 + 8, sizeof *p);
    p[n++] = (struct bpf_insn) MOV64_IMM(7, 0);
    for (int d = 0; d < N_DIAMONDS; d++) {
        p[n++] = (struct bpf_insn) LDX(W, 6, 1, 12 + 4 * (d % 3));
        p[n++] = (struct bpf_insn) JMP_IMM(JSET, 6, 1 << (d % 31), 2);
        p[n++] = (struct bpf_insn) MOV64_IMM(0, d);
        p[n++] = (struct bpf_insn) JA(1);
        p[n++] = (struct bpf_insn) MOV64_IMM(0, -d);
    }
    p[n++] = (struct bpf_insn) MOV64_REG(0, 7);
    p[n++] = (struct bpf_insn) EXIT;
    struct bpf_prog prog;
    struct bpf_verify_result res;
    run_prog(p, n, false, &prog, &res);
    fprintf(stderr, "%zu insns with %d diamonds: %s, %llu processed, "
            "%llu states, %.3f ms\n", n, N_DIAMONDS,
            res.accepted ? "accepted" : res.log,
            (unsigned long long) res.insns_processed,
            (unsigned long long) res.states, res.time_ns / 1e6);
    assert_true(res.accepted);
    assert_true(res.insns_processed < 20 * n);
    bpf_verify_result_destroy(&res);
    prog_free(&prog);
    free(p);
}

/* ---- Real objects: progs/, clang-built cases, loader test objects ---- */

#ifdef HAVE_LIBBPF
static int
silent_print(enum libbpf_print_level level, const char *fmt, va_list args)
{
    (void) level;
    (void) fmt;
    (void) args;
    return 0;
}

/* The kernel's verdict on every program of 'path': 1 all loaded, 0 some
 * rejected, -1 unknown (not root, no BPF). */
static int
kernel_verdict(const char *path)
{
    if (geteuid() != 0) {
        return -1;
    }
    libbpf_set_print(silent_print);
    struct bpf_object *obj = bpf_object__open_file(path, NULL);
    if (!obj) {
        return -1;
    }
    int rc = bpf_object__load(obj);
    bpf_object__close(obj);
    return rc ? 0 : 1;
}
#else
static int
kernel_verdict(const char *path)
{
    (void) path;
    return -1;
}
#endif

static void
test_objects(void **state)
{
    (void) state;
    static const struct {
        const char *path;          /* Under SLUICE_BUILD_ROOT. */
        int expect;                /* For every program. */
    } objs[] = {
        { "progs/firewall.o", BPF_VERR_OK },
        { "progs/p0f.o", BPF_VERR_OK },
        { "progs/ratelimit.o", BPF_VERR_OK },
        { "src/bpf/vcase_xdp_parse.o", BPF_VERR_OK },
        { "src/bpf/vcase_xdp_ipv6_ext.o", BPF_VERR_OK },
        { "src/bpf/vcase_xdp_loops.o", BPF_VERR_OK },
        { "src/bpf/vcase_xdp_reject_unchecked.o", BPF_VERR_PKT_NO_BOUNDS },
        { "src/bpf/vcase_xdp_reject_null.o", BPF_VERR_NULL_DEREF },
        { "src/bpf/loader_legacy.o", BPF_VERR_OK },
    };
    const char *root = getenv("SLUICE_BUILD_ROOT");
    if (!root) {
        skip();
    }
    int n_checked = 0, n_disagree = 0;
    for (size_t i = 0; i < ARRAY_SIZE(objs); i++) {
        char *path = xasprintf("%s/%s", root, objs[i].path);
        if (access(path, R_OK)) {
            fprintf(stderr, "%s: not built (no clang?), skipped\n", path);
            free(path);
            continue;
        }
        struct bpf_object *obj;
        char *err = NULL;
        if (bpf_object_open(path, NULL, &obj, &err)) {
            fail_msg("%s: %s", path, err);
        }
        bool all_ok = true;
        for (size_t k = 0; k < bpf_object_n_progs(obj); k++) {
            struct bpf_prog *prog = bpf_object_prog(obj, k);
            struct bpf_verify_result res;
            bpf_prog_verify(prog, &res);
            fprintf(stderr, "%s %s: %s, %llu processed, %llu states, "
                    "%.3f ms\n", objs[i].path, bpf_prog_section(prog),
                    res.accepted ? "accepted" : res.log,
                    (unsigned long long) res.insns_processed,
                    (unsigned long long) res.states, res.time_ns / 1e6);
            if (res.reason != objs[i].expect) {
                n_failed++;
                fprintf(stderr, "FAIL %s: expected %s\n", objs[i].path,
                        bpf_verr_name(objs[i].expect));
            }
            all_ok &= res.accepted;
            bpf_verify_result_destroy(&res);
            n_checked++;
        }
        bpf_object_close(obj);
        int kernel = kernel_verdict(path);
        if (kernel >= 0 && kernel != all_ok) {
            n_disagree++;
            fprintf(stderr, "DISAGREEMENT %s: kernel %s, sluice %s\n",
                    objs[i].path, kernel ? "accepts" : "rejects",
                    all_ok ? "accepts" : "rejects");
        } else if (kernel >= 0) {
            fprintf(stderr, "%s: the kernel agrees\n", objs[i].path);
        }
        free(path);
    }
    fprintf(stderr, "objects: %d programs checked, %d kernel "
            "disagreements\n", n_checked, n_disagree);
    assert_int_equal(n_failed, 0);
}

int
main(void)
{
    init_maps();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_ctx_family),
        cmocka_unit_test(test_stack_family),
        cmocka_unit_test(test_pkt_family),
        cmocka_unit_test(test_map_bounds_family),
        cmocka_unit_test(test_ptr_alu_family),
        cmocka_unit_test(test_counts),
        cmocka_unit_test(test_scalar_alu_sound),
        cmocka_unit_test(test_scalar_branch_sound),
        cmocka_unit_test(test_xlated),
        cmocka_unit_test(test_reason_names),
        cmocka_unit_test(test_pruning_speed),
        cmocka_unit_test(test_objects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
