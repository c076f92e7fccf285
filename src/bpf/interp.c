/* The eBPF interpreter: RFC 9669 as clang emits it for -mcpu=v1 to v4.
 *
 * Dispatch is a computed goto through a 256-entry table indexed by the
 * opcode byte (a "threaded" interpreter, like the kernel's
 * ___bpf_prog_run): each handler ends by jumping straight to the handler
 * of the next instruction, so there is no central switch to mispredict.
 * Opcodes whose meaning depends on another field (signed division and
 * modulo with offset 1, sign-extending moves with offset 8/16/32, local
 * calls versus helper calls) test that field inside the handler.
 *
 * Frames: BPF-to-BPF calls push a frame (return instruction, program,
 * callee-saved r6..r9, frame pointer r10) and give the callee its own
 * 512-byte stack; at most BPF_MAX_CALL_DEPTH frames, all carved from one
 * array on the C stack (4 KiB).  A tail call replaces the running frame's
 * program and keeps its stack, as the kernel does; an exit from a frame
 * reached by tail call returns to that frame's caller.
 *
 * Semantics the kernel defines where the ISA leaves a choice: shift counts
 * are masked (63 or 31); division by zero gives 0; modulo by zero leaves
 * the destination unchanged (32-bit: its upper half cleared); signed
 * INT_MIN / -1 gives INT_MIN and INT_MIN % -1 gives 0; 32-bit results are
 * zero-extended.  LD_ABS/LD_IND read the packet (XDP) or memory (raw runs)
 * in network byte order and end the program with r0 = 0 when the access is
 * outside it. */
#include "bpf/interp.h"

#include <endian.h>
#include <string.h>

#include "bpf/bpf_log.h"
#include "bpf/helpers.h"
#include "bpf/maps.h"

#ifndef BPF_MEMSX
#define BPF_MEMSX 0x80 /* Sign-extending load (v4). */
#endif

struct frame {
    const struct bpf_insn *ret;  /* Instruction to resume at. */
    const struct bpf_prog *prog; /* Program of the caller. */
    uint64_t saved[5];           /* Caller's r6..r10. */
};

static const struct bpf_insn *
prog_code(const struct bpf_prog *prog)
{
    return prog->xlated ? prog->xlated : prog->insns;
}

static uint64_t
ld_u64(uint64_t addr)
{
    uint64_t v;
    memcpy(&v, (const void *)(uintptr_t)addr, 8);
    return v;
}

static uint32_t
ld_u32(uint64_t addr)
{
    uint32_t v;
    memcpy(&v, (const void *)(uintptr_t)addr, 4);
    return v;
}

static uint16_t
ld_u16(uint64_t addr)
{
    uint16_t v;
    memcpy(&v, (const void *)(uintptr_t)addr, 2);
    return v;
}

static uint8_t
ld_u8(uint64_t addr)
{
    return *(const uint8_t *)(uintptr_t)addr;
}

static void
st_u64(uint64_t addr, uint64_t v)
{
    memcpy((void *)(uintptr_t)addr, &v, 8);
}

static void
st_u32(uint64_t addr, uint32_t v)
{
    memcpy((void *)(uintptr_t)addr, &v, 4);
}

static void
st_u16(uint64_t addr, uint16_t v)
{
    memcpy((void *)(uintptr_t)addr, &v, 2);
}

static void
st_u8(uint64_t addr, uint8_t v)
{
    *(uint8_t *)(uintptr_t)addr = v;
}

/* LD_ABS/LD_IND source: the XDP packet as it is now (after any adjust
 * helper), or the raw memory. */
static bool
packet_load(int64_t off, unsigned int size, uint64_t *out)
{
    const struct bpf_run_ctx *run = bpf_run_cur;
    const uint8_t *data;
    uint64_t len;

    if (!run) {
        return false;
    }
    if (run->xdp) {
        data = (const uint8_t *)(uintptr_t)run->xdp->data;
        len = run->xdp->data_end - run->xdp->data;
    } else {
        data = run->mem;
        len = run->mem_len;
    }
    if (off < 0 || (uint64_t)off + size > len) {
        return false;
    }
    data += off;
    switch (size) {
    case 1:
        *out = data[0];
        break;
    case 2:
        *out = (uint64_t)data[0] << 8 | data[1];
        break;
    default:
        *out = (uint64_t)data[0] << 24 | (uint64_t)data[1] << 16 |
               (uint64_t)data[2] << 8 | data[3];
        break;
    }
    return true;
}

static bool
ld_imm64_known(uint8_t src_reg)
{
    return src_reg == 0 || src_reg == BPF_PSEUDO_MAP_FD ||
           src_reg == BPF_PSEUDO_MAP_IDX || src_reg == BPF_PSEUDO_MAP_VALUE ||
           src_reg == BPF_PSEUDO_MAP_IDX_VALUE;
}

/* Value of a LD_IMM64 pair. */
static uint64_t
ld_imm64(const struct bpf_prog *prog, const struct bpf_insn *insn)
{
    uint32_t lo = (uint32_t)insn[0].imm, hi = (uint32_t)insn[1].imm;
    struct bpf_map *map;
    uint32_t zero = 0;

    switch (insn[0].src_reg) {
    case BPF_PSEUDO_MAP_FD:
    case BPF_PSEUDO_MAP_IDX:
        return (uint64_t)(uintptr_t)prog->maps[lo];
    case BPF_PSEUDO_MAP_VALUE:
    case BPF_PSEUDO_MAP_IDX_VALUE:
        map = prog->maps[lo];
        return (uint64_t)(uintptr_t)map->ops->lookup(map, &zero) + hi;
    default:
        return (uint64_t)hi << 32 | lo;
    }
}

uint64_t
bpf_interp_run(const struct bpf_prog *prog, uint64_t r1, uint64_t r2,
               uint64_t *n_insns)
{
    /* The table starts with every opcode invalid and then names the valid
     * ones, which overrides those entries on purpose. */
    /* clang-format off */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Woverride-init"
    static const void *const jt[256] = {
        [0 ... 255] = &&bad_opcode,
#define ALU_OPS(CLS, P)                                                      \
    [CLS | BPF_ADD | BPF_K] = &&P##_add_k,                                   \
    [CLS | BPF_ADD | BPF_X] = &&P##_add_x,                                   \
    [CLS | BPF_SUB | BPF_K] = &&P##_sub_k,                                   \
    [CLS | BPF_SUB | BPF_X] = &&P##_sub_x,                                   \
    [CLS | BPF_MUL | BPF_K] = &&P##_mul_k,                                   \
    [CLS | BPF_MUL | BPF_X] = &&P##_mul_x,                                   \
    [CLS | BPF_DIV | BPF_K] = &&P##_div_k,                                   \
    [CLS | BPF_DIV | BPF_X] = &&P##_div_x,                                   \
    [CLS | BPF_OR | BPF_K] = &&P##_or_k,                                     \
    [CLS | BPF_OR | BPF_X] = &&P##_or_x,                                     \
    [CLS | BPF_AND | BPF_K] = &&P##_and_k,                                   \
    [CLS | BPF_AND | BPF_X] = &&P##_and_x,                                   \
    [CLS | BPF_LSH | BPF_K] = &&P##_lsh_k,                                   \
    [CLS | BPF_LSH | BPF_X] = &&P##_lsh_x,                                   \
    [CLS | BPF_RSH | BPF_K] = &&P##_rsh_k,                                   \
    [CLS | BPF_RSH | BPF_X] = &&P##_rsh_x,                                   \
    [CLS | BPF_NEG | BPF_K] = &&P##_neg,                                     \
    [CLS | BPF_MOD | BPF_K] = &&P##_mod_k,                                   \
    [CLS | BPF_MOD | BPF_X] = &&P##_mod_x,                                   \
    [CLS | BPF_XOR | BPF_K] = &&P##_xor_k,                                   \
    [CLS | BPF_XOR | BPF_X] = &&P##_xor_x,                                   \
    [CLS | BPF_MOV | BPF_K] = &&P##_mov_k,                                   \
    [CLS | BPF_MOV | BPF_X] = &&P##_mov_x,                                   \
    [CLS | BPF_ARSH | BPF_K] = &&P##_arsh_k,                                 \
    [CLS | BPF_ARSH | BPF_X] = &&P##_arsh_x
        ALU_OPS(BPF_ALU64, alu64),
        ALU_OPS(BPF_ALU, alu32),
#undef ALU_OPS
        [BPF_ALU | BPF_END | BPF_TO_LE] = &&end_le,
        [BPF_ALU | BPF_END | BPF_TO_BE] = &&end_be,
        [BPF_ALU64 | BPF_END | BPF_TO_LE] = &&bswap,
#define JMP_OPS(CLS, P)                                                      \
    [CLS | BPF_JEQ | BPF_K] = &&P##_jeq_k,                                   \
    [CLS | BPF_JEQ | BPF_X] = &&P##_jeq_x,                                   \
    [CLS | BPF_JGT | BPF_K] = &&P##_jgt_k,                                   \
    [CLS | BPF_JGT | BPF_X] = &&P##_jgt_x,                                   \
    [CLS | BPF_JGE | BPF_K] = &&P##_jge_k,                                   \
    [CLS | BPF_JGE | BPF_X] = &&P##_jge_x,                                   \
    [CLS | BPF_JSET | BPF_K] = &&P##_jset_k,                                 \
    [CLS | BPF_JSET | BPF_X] = &&P##_jset_x,                                 \
    [CLS | BPF_JNE | BPF_K] = &&P##_jne_k,                                   \
    [CLS | BPF_JNE | BPF_X] = &&P##_jne_x,                                   \
    [CLS | BPF_JSGT | BPF_K] = &&P##_jsgt_k,                                 \
    [CLS | BPF_JSGT | BPF_X] = &&P##_jsgt_x,                                 \
    [CLS | BPF_JSGE | BPF_K] = &&P##_jsge_k,                                 \
    [CLS | BPF_JSGE | BPF_X] = &&P##_jsge_x,                                 \
    [CLS | BPF_JLT | BPF_K] = &&P##_jlt_k,                                   \
    [CLS | BPF_JLT | BPF_X] = &&P##_jlt_x,                                   \
    [CLS | BPF_JLE | BPF_K] = &&P##_jle_k,                                   \
    [CLS | BPF_JLE | BPF_X] = &&P##_jle_x,                                   \
    [CLS | BPF_JSLT | BPF_K] = &&P##_jslt_k,                                 \
    [CLS | BPF_JSLT | BPF_X] = &&P##_jslt_x,                                 \
    [CLS | BPF_JSLE | BPF_K] = &&P##_jsle_k,                                 \
    [CLS | BPF_JSLE | BPF_X] = &&P##_jsle_x
        JMP_OPS(BPF_JMP, j64),
        JMP_OPS(BPF_JMP32, j32),
#undef JMP_OPS
        [BPF_JMP | BPF_JA] = &&ja,
        [BPF_JMP32 | BPF_JA] = &&gotol,
        [BPF_JMP | BPF_CALL] = &&call,
        [BPF_JMP | BPF_EXIT] = &&exit,
        [BPF_LD | BPF_DW | BPF_IMM] = &&ld_imm64,
        [BPF_LD | BPF_ABS | BPF_W] = &&ld_abs_w,
        [BPF_LD | BPF_ABS | BPF_H] = &&ld_abs_h,
        [BPF_LD | BPF_ABS | BPF_B] = &&ld_abs_b,
        [BPF_LD | BPF_IND | BPF_W] = &&ld_ind_w,
        [BPF_LD | BPF_IND | BPF_H] = &&ld_ind_h,
        [BPF_LD | BPF_IND | BPF_B] = &&ld_ind_b,
        [BPF_LDX | BPF_MEM | BPF_B] = &&ldx_b,
        [BPF_LDX | BPF_MEM | BPF_H] = &&ldx_h,
        [BPF_LDX | BPF_MEM | BPF_W] = &&ldx_w,
        [BPF_LDX | BPF_MEM | BPF_DW] = &&ldx_dw,
        [BPF_LDX | BPF_MEMSX | BPF_B] = &&ldsx_b,
        [BPF_LDX | BPF_MEMSX | BPF_H] = &&ldsx_h,
        [BPF_LDX | BPF_MEMSX | BPF_W] = &&ldsx_w,
        [BPF_ST | BPF_MEM | BPF_B] = &&st_b,
        [BPF_ST | BPF_MEM | BPF_H] = &&st_h,
        [BPF_ST | BPF_MEM | BPF_W] = &&st_w,
        [BPF_ST | BPF_MEM | BPF_DW] = &&st_dw,
        [BPF_STX | BPF_MEM | BPF_B] = &&stx_b,
        [BPF_STX | BPF_MEM | BPF_H] = &&stx_h,
        [BPF_STX | BPF_MEM | BPF_W] = &&stx_w,
        [BPF_STX | BPF_MEM | BPF_DW] = &&stx_dw,
        [BPF_STX | BPF_ATOMIC | BPF_W] = &&atomic_w,
        [BPF_STX | BPF_ATOMIC | BPF_DW] = &&atomic_dw,
    };
#pragma GCC diagnostic pop
    /* clang-format on */
    uint64_t regs[MAX_BPF_REG];
    uint8_t stack[BPF_MAX_CALL_DEPTH * BPF_STACK_SIZE]
        __attribute__((aligned(16)));
    struct frame frames[BPF_MAX_CALL_DEPTH];
    unsigned int depth = 0; /* Frames below the running one. */
    unsigned int tail_calls = 0;
    uint64_t count = 0;
    const struct bpf_insn *insn = prog_code(prog);
    uint64_t ret = 0;

    regs[BPF_REG_1] = r1;
    regs[BPF_REG_2] = r2;
    regs[BPF_REG_10] = (uint64_t)(uintptr_t)(stack + BPF_STACK_SIZE);

#define DST regs[insn->dst_reg]
#define SRC regs[insn->src_reg]
#define IMM ((uint64_t)(int64_t)insn->imm)
#define U32(x) ((uint32_t)(x))
#define S32(x) ((int32_t)(x))
#define S64(x) ((int64_t)(x))
#define DISPATCH()                                                             \
    do {                                                                       \
        count++;                                                               \
        goto *jt[insn->code];                                                  \
    } while (0)
#define CONT                                                                   \
    do {                                                                       \
        insn++;                                                                \
        DISPATCH();                                                            \
    } while (0)

    DISPATCH();

    /* ALU64 and ALU32 operations that need no special case. */
    /* clang-format off */
#define ALU(OP, EXPR)                                                        \
    alu64_##OP##_k : DST = DST EXPR IMM;                                     \
    CONT;                                                                    \
    alu64_##OP##_x : DST = DST EXPR SRC;                                     \
    CONT;                                                                    \
    alu32_##OP##_k : DST = U32(U32(DST) EXPR U32(IMM));                      \
    CONT;                                                                    \
    alu32_##OP##_x : DST = U32(U32(DST) EXPR U32(SRC));                      \
    CONT;
    ALU(add, +)
    ALU(sub, -)
    ALU(mul, *)
    ALU(or, |)
    ALU(and, &)
    ALU(xor, ^)
#undef ALU
    /* clang-format on */

alu64_lsh_k:
    DST <<= IMM & 63;
    CONT;
alu64_lsh_x:
    DST <<= SRC & 63;
    CONT;
alu32_lsh_k:
    DST = U32(U32(DST) << (IMM & 31));
    CONT;
alu32_lsh_x:
    DST = U32(U32(DST) << (SRC & 31));
    CONT;
alu64_rsh_k:
    DST >>= IMM & 63;
    CONT;
alu64_rsh_x:
    DST >>= SRC & 63;
    CONT;
alu32_rsh_k:
    DST = U32(DST) >> (IMM & 31);
    CONT;
alu32_rsh_x:
    DST = U32(DST) >> (SRC & 31);
    CONT;
alu64_arsh_k:
    DST = (uint64_t)(S64(DST) >> (IMM & 63));
    CONT;
alu64_arsh_x:
    DST = (uint64_t)(S64(DST) >> (SRC & 63));
    CONT;
alu32_arsh_k:
    DST = U32(S32(DST) >> (IMM & 31));
    CONT;
alu32_arsh_x:
    DST = U32(S32(DST) >> (SRC & 31));
    CONT;
alu64_neg:
    DST = -DST;
    CONT;
alu32_neg:
    DST = U32(-U32(DST));
    CONT;
alu64_mov_k:
    DST = IMM;
    CONT;
alu32_mov_k:
    DST = U32(IMM);
    CONT;
alu64_mov_x:
    switch (insn->off) {
    case 8:
        DST = (uint64_t)(int64_t)(int8_t)SRC;
        break;
    case 16:
        DST = (uint64_t)(int64_t)(int16_t)SRC;
        break;
    case 32:
        DST = (uint64_t)(int64_t)(int32_t)SRC;
        break;
    default:
        DST = SRC;
        break;
    }
    CONT;
alu32_mov_x:
    switch (insn->off) {
    case 8:
        DST = U32((int32_t)(int8_t)SRC);
        break;
    case 16:
        DST = U32((int32_t)(int16_t)SRC);
        break;
    default:
        DST = U32(SRC);
        break;
    }
    CONT;

    /* Division and modulo: unsigned, or signed when off == 1. */
    {
        uint64_t divisor;
    alu64_div_k:
        divisor = IMM;
        goto alu64_div;
    alu64_div_x:
        divisor = SRC;
    alu64_div:
        if (!divisor) {
            DST = 0;
        } else if (insn->off != 1) {
            DST /= divisor;
        } else if (S64(divisor) == -1) {
            DST = -DST;
        } else {
            DST = (uint64_t)(S64(DST) / S64(divisor));
        }
        CONT;
    alu64_mod_k:
        divisor = IMM;
        goto alu64_mod;
    alu64_mod_x:
        divisor = SRC;
    alu64_mod:
        if (!divisor) {
            /* Destination unchanged. */
        } else if (insn->off != 1) {
            DST %= divisor;
        } else if (S64(divisor) == -1) {
            DST = 0;
        } else {
            DST = (uint64_t)(S64(DST) % S64(divisor));
        }
        CONT;
    alu32_div_k:
        divisor = U32(IMM);
        goto alu32_div;
    alu32_div_x:
        divisor = U32(SRC);
    alu32_div:
        if (!divisor) {
            DST = 0;
        } else if (insn->off != 1) {
            DST = U32(DST) / U32(divisor);
        } else if (S32(divisor) == -1) {
            DST = U32(-U32(DST));
        } else {
            DST = U32(S32(DST) / S32(divisor));
        }
        CONT;
    alu32_mod_k:
        divisor = U32(IMM);
        goto alu32_mod;
    alu32_mod_x:
        divisor = U32(SRC);
    alu32_mod:
        if (!divisor) {
            DST = U32(DST);
        } else if (insn->off != 1) {
            DST = U32(DST) % U32(divisor);
        } else if (S32(divisor) == -1) {
            DST = 0;
        } else {
            DST = U32(S32(DST) % S32(divisor));
        }
        CONT;
    }

end_le:
    switch (insn->imm) {
    case 16:
        DST = (uint16_t)le16toh((uint16_t)DST);
        break;
    case 32:
        DST = le32toh(U32(DST));
        break;
    case 64:
        DST = le64toh(DST);
        break;
    default:
        goto bad_opcode;
    }
    CONT;
end_be:
    switch (insn->imm) {
    case 16:
        DST = (uint16_t)be16toh((uint16_t)DST);
        break;
    case 32:
        DST = be32toh(U32(DST));
        break;
    case 64:
        DST = be64toh(DST);
        break;
    default:
        goto bad_opcode;
    }
    CONT;
bswap:
    switch (insn->imm) {
    case 16:
        DST = __builtin_bswap16((uint16_t)DST);
        break;
    case 32:
        DST = __builtin_bswap32(U32(DST));
        break;
    case 64:
        DST = __builtin_bswap64(DST);
        break;
    default:
        goto bad_opcode;
    }
    CONT;

    /* Conditional jumps: 64-bit compare the registers (the immediate
     * sign-extended), 32-bit compare their low halves. */
    /* clang-format off */
#define JMP(OP, T64, T32, EXPR)                                              \
    j64_##OP##_k : if ((T64)DST EXPR (T64)IMM) { insn += insn->off; }        \
    CONT;                                                                    \
    j64_##OP##_x : if ((T64)DST EXPR (T64)SRC) { insn += insn->off; }        \
    CONT;                                                                    \
    j32_##OP##_k : if ((T32)DST EXPR (T32)IMM) { insn += insn->off; }        \
    CONT;                                                                    \
    j32_##OP##_x : if ((T32)DST EXPR (T32)SRC) { insn += insn->off; }        \
    CONT;
    JMP(jeq, uint64_t, uint32_t, ==)
    JMP(jne, uint64_t, uint32_t, !=)
    JMP(jgt, uint64_t, uint32_t, >)
    JMP(jge, uint64_t, uint32_t, >=)
    JMP(jlt, uint64_t, uint32_t, <)
    JMP(jle, uint64_t, uint32_t, <=)
    JMP(jsgt, int64_t, int32_t, >)
    JMP(jsge, int64_t, int32_t, >=)
    JMP(jslt, int64_t, int32_t, <)
    JMP(jsle, int64_t, int32_t, <=)
#undef JMP
    /* clang-format on */
j64_jset_k:
    if (DST & IMM) {
        insn += insn->off;
    }
    CONT;
j64_jset_x:
    if (DST & SRC) {
        insn += insn->off;
    }
    CONT;
j32_jset_k:
    if (U32(DST) & U32(IMM)) {
        insn += insn->off;
    }
    CONT;
j32_jset_x:
    if (U32(DST) & U32(SRC)) {
        insn += insn->off;
    }
    CONT;
ja:
    insn += insn->off;
    CONT;
gotol:
    insn += insn->imm;
    CONT;

ld_imm64:
    if (unlikely(!ld_imm64_known(insn->src_reg))) {
        /* BTF object addresses and function pointers (src_reg 3 and 4)
         * have no meaning here; the verifier rejects them. */
        goto bad_opcode;
    }
    DST = ld_imm64(prog, insn);
    insn += 2;
    DISPATCH();

    /* Legacy packet loads: r0 = the bytes in network order. */
    {
        int64_t off;
        unsigned int size;
    ld_abs_w:
        size = 4;
        off = insn->imm;
        goto ld_packet;
    ld_abs_h:
        size = 2;
        off = insn->imm;
        goto ld_packet;
    ld_abs_b:
        size = 1;
        off = insn->imm;
        goto ld_packet;
    ld_ind_w:
        size = 4;
        off = S32(U32(SRC) + U32(insn->imm));
        goto ld_packet;
    ld_ind_h:
        size = 2;
        off = S32(U32(SRC) + U32(insn->imm));
        goto ld_packet;
    ld_ind_b:
        size = 1;
        off = S32(U32(SRC) + U32(insn->imm));
    ld_packet:
        if (!packet_load(off, size, &regs[BPF_REG_0])) {
            ret = 0;
            goto out;
        }
        CONT;
    }

ldx_b:
    DST = ld_u8(SRC + (uint64_t)(int64_t)insn->off);
    CONT;
ldx_h:
    DST = ld_u16(SRC + (uint64_t)(int64_t)insn->off);
    CONT;
ldx_w:
    DST = ld_u32(SRC + (uint64_t)(int64_t)insn->off);
    CONT;
ldx_dw:
    DST = ld_u64(SRC + (uint64_t)(int64_t)insn->off);
    CONT;
ldsx_b:
    DST = (uint64_t)(int64_t)(int8_t)ld_u8(SRC + (uint64_t)(int64_t)insn->off);
    CONT;
ldsx_h:
    DST =
        (uint64_t)(int64_t)(int16_t)ld_u16(SRC + (uint64_t)(int64_t)insn->off);
    CONT;
ldsx_w:
    DST =
        (uint64_t)(int64_t)(int32_t)ld_u32(SRC + (uint64_t)(int64_t)insn->off);
    CONT;
st_b:
    st_u8(DST + (uint64_t)(int64_t)insn->off, (uint8_t)IMM);
    CONT;
st_h:
    st_u16(DST + (uint64_t)(int64_t)insn->off, (uint16_t)IMM);
    CONT;
st_w:
    st_u32(DST + (uint64_t)(int64_t)insn->off, U32(IMM));
    CONT;
st_dw:
    st_u64(DST + (uint64_t)(int64_t)insn->off, IMM);
    CONT;
stx_b:
    st_u8(DST + (uint64_t)(int64_t)insn->off, (uint8_t)SRC);
    CONT;
stx_h:
    st_u16(DST + (uint64_t)(int64_t)insn->off, (uint16_t)SRC);
    CONT;
stx_w:
    st_u32(DST + (uint64_t)(int64_t)insn->off, U32(SRC));
    CONT;
stx_dw:
    st_u64(DST + (uint64_t)(int64_t)insn->off, SRC);
    CONT;

atomic_w : {
    uint32_t *p = (uint32_t *)(uintptr_t)(DST + (uint64_t)(int64_t)insn->off);
    uint32_t v = U32(SRC), old;
    switch (insn->imm) {
    case BPF_ADD:
    case BPF_ADD | BPF_FETCH:
        old = __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST);
        break;
    case BPF_OR:
    case BPF_OR | BPF_FETCH:
        old = __atomic_fetch_or(p, v, __ATOMIC_SEQ_CST);
        break;
    case BPF_AND:
    case BPF_AND | BPF_FETCH:
        old = __atomic_fetch_and(p, v, __ATOMIC_SEQ_CST);
        break;
    case BPF_XOR:
    case BPF_XOR | BPF_FETCH:
        old = __atomic_fetch_xor(p, v, __ATOMIC_SEQ_CST);
        break;
    case BPF_XCHG:
        old = __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST);
        break;
    case BPF_CMPXCHG:
        old = U32(regs[BPF_REG_0]);
        __atomic_compare_exchange_n(p, &old, v, false, __ATOMIC_SEQ_CST,
                                    __ATOMIC_SEQ_CST);
        regs[BPF_REG_0] = old;
        CONT;
    default:
        goto bad_opcode;
    }
    if (insn->imm & BPF_FETCH) {
        SRC = old;
    }
    CONT;
}
atomic_dw : {
    uint64_t *p = (uint64_t *)(uintptr_t)(DST + (uint64_t)(int64_t)insn->off);
    uint64_t v = SRC, old;
    switch (insn->imm) {
    case BPF_ADD:
    case BPF_ADD | BPF_FETCH:
        old = __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST);
        break;
    case BPF_OR:
    case BPF_OR | BPF_FETCH:
        old = __atomic_fetch_or(p, v, __ATOMIC_SEQ_CST);
        break;
    case BPF_AND:
    case BPF_AND | BPF_FETCH:
        old = __atomic_fetch_and(p, v, __ATOMIC_SEQ_CST);
        break;
    case BPF_XOR:
    case BPF_XOR | BPF_FETCH:
        old = __atomic_fetch_xor(p, v, __ATOMIC_SEQ_CST);
        break;
    case BPF_XCHG:
        old = __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST);
        break;
    case BPF_CMPXCHG:
        old = regs[BPF_REG_0];
        __atomic_compare_exchange_n(p, &old, v, false, __ATOMIC_SEQ_CST,
                                    __ATOMIC_SEQ_CST);
        regs[BPF_REG_0] = old;
        CONT;
    default:
        goto bad_opcode;
    }
    if (insn->imm & BPF_FETCH) {
        SRC = old;
    }
    CONT;
}

call:
    if (insn->src_reg == BPF_PSEUDO_CALL) {
        if (depth + 1 >= BPF_MAX_CALL_DEPTH) {
            LOG_WARN_RL("%s: call depth beyond %d at insn %td", prog->name,
                        BPF_MAX_CALL_DEPTH, insn - prog_code(prog));
            ret = 0;
            goto out;
        }
        struct frame *f = &frames[depth++];
        f->ret = insn + 1;
        f->prog = prog;
        memcpy(f->saved, &regs[BPF_REG_6], sizeof f->saved);
        regs[BPF_REG_10] =
            (uint64_t)(uintptr_t)(stack + (depth + 1) * BPF_STACK_SIZE);
        insn += insn->imm + 1;
        DISPATCH();
    }
    if (insn->src_reg == 0 && insn->imm == BPF_FUNC_tail_call) {
        struct bpf_map *map = (struct bpf_map *)(uintptr_t)regs[BPF_REG_2];
        uint64_t index = U32(regs[BPF_REG_3]);
        const struct bpf_prog *target;
        if (map->type != BPF_MAP_TYPE_PROG_ARRAY || index >= map->max_entries ||
            tail_calls >= BPF_MAX_TAIL_CALLS ||
            !(target = bpf_prog_array_get(map, (uint32_t)index)) ||
            !target->verified || target->kind != prog->kind) {
            CONT;
        }
        tail_calls++;
        prog = target;
        insn = prog_code(prog);
        DISPATCH();
    }
    if (insn->src_reg == 0) {
        bpf_helper_fn *fn = bpf_helper_func(insn->imm);
        if (unlikely(!fn)) {
            LOG_WARN_RL("%s: unknown helper %d at insn %td", prog->name,
                        insn->imm, insn - prog_code(prog));
            ret = 0;
            goto out;
        }
        regs[BPF_REG_0] = fn(regs[BPF_REG_1], regs[BPF_REG_2], regs[BPF_REG_3],
                             regs[BPF_REG_4], regs[BPF_REG_5]);
        CONT;
    }
    goto bad_opcode;

exit:
    if (depth == 0) {
        ret = regs[BPF_REG_0];
        goto out;
    }
    {
        struct frame *f = &frames[--depth];
        memcpy(&regs[BPF_REG_6], f->saved, sizeof f->saved);
        prog = f->prog;
        insn = f->ret;
    }
    DISPATCH();

bad_opcode:
    LOG_WARN_RL("%s: invalid instruction 0x%02x at insn %td", prog->name,
                insn->code, insn - prog_code(prog));
    ret = 0;
out:
    *n_insns += count;
    return ret;
#undef DST
#undef SRC
#undef IMM
#undef U32
#undef S32
#undef S64
#undef DISPATCH
#undef CONT
}
