/* Instruction macros for the verifier's tests and fuzz target, in the
 * style of the kernel's include/linux/filter.h (BPF_MOV64_IMM, ...). */
#ifndef TEST_BPF_VERIFIER_H
#define TEST_BPF_VERIFIER_H 1

#include <linux/bpf.h>

/* A braced initializer: usable in constant arrays; for an assignment
 * write "(struct bpf_insn) MOV64_IMM(0, 1)". */
#define INSN(c, d, s, o, i)                                               \
    { .code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i) }
#define MOV64_IMM(d, i) INSN(BPF_ALU64 | BPF_MOV | BPF_K, d, 0, 0, i)
#define MOV32_IMM(d, i) INSN(BPF_ALU | BPF_MOV | BPF_K, d, 0, 0, i)
#define MOV64_REG(d, s) INSN(BPF_ALU64 | BPF_MOV | BPF_X, d, s, 0, 0)
#define MOV32_REG(d, s) INSN(BPF_ALU | BPF_MOV | BPF_X, d, s, 0, 0)
#define ALU64_IMM(op, d, i) INSN(BPF_ALU64 | BPF_##op | BPF_K, d, 0, 0, i)
#define ALU64_REG(op, d, s) INSN(BPF_ALU64 | BPF_##op | BPF_X, d, s, 0, 0)
#define ALU32_IMM(op, d, i) INSN(BPF_ALU | BPF_##op | BPF_K, d, 0, 0, i)
#define ALU32_REG(op, d, s) INSN(BPF_ALU | BPF_##op | BPF_X, d, s, 0, 0)
#define LDX(sz, d, s, o) INSN(BPF_LDX | BPF_MEM | BPF_##sz, d, s, o, 0)
#define STX(sz, d, s, o) INSN(BPF_STX | BPF_MEM | BPF_##sz, d, s, o, 0)
#define ST(sz, d, o, i) INSN(BPF_ST | BPF_MEM | BPF_##sz, d, 0, o, i)
#define ATOMIC(sz, d, s, o, op)                                           \
    INSN(BPF_STX | BPF_ATOMIC | BPF_##sz, d, s, o, op)
#define JMP_IMM(op, d, i, o) INSN(BPF_JMP | BPF_##op | BPF_K, d, 0, o, i)
#define JMP_REG(op, d, s, o) INSN(BPF_JMP | BPF_##op | BPF_X, d, s, o, 0)
#define JMP32_IMM(op, d, i, o) INSN(BPF_JMP32 | BPF_##op | BPF_K, d, 0, o, i)
#define JMP32_REG(op, d, s, o) INSN(BPF_JMP32 | BPF_##op | BPF_X, d, s, o, 0)
#define JA(o) INSN(BPF_JMP | BPF_JA, 0, 0, o, 0)
#define CALL(id) INSN(BPF_JMP | BPF_CALL, 0, 0, 0, id)
#define CALL_REL(o) INSN(BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_CALL, 0, o)
#define EXIT INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)
#define LD_IMM64(d, v)                                                    \
    INSN(BPF_LD | BPF_DW | BPF_IMM, d, 0, 0, (int32_t) (uint32_t) (v)),   \
    INSN(0, 0, 0, 0, (int32_t) ((uint64_t) (v) >> 32))
#define LD_MAP(d, m)                                                      \
    INSN(BPF_LD | BPF_DW | BPF_IMM, d, BPF_PSEUDO_MAP_FD, 0, m),          \
    INSN(0, 0, 0, 0, 0)
#define LD_MAP_VALUE(d, m, o)                                             \
    INSN(BPF_LD | BPF_DW | BPF_IMM, d, BPF_PSEUDO_MAP_VALUE, 0, m),       \
    INSN(0, 0, 0, 0, o)

/* r2 = data, r3 = data_end. */
#define PKT_LOAD LDX(W, 2, 1, 0), LDX(W, 3, 1, 4)
#define RET(v) MOV64_IMM(0, v), EXIT

#endif
