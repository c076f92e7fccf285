/* The eBPF JIT for x86-64 (System V ABI).
 *
 * Register map (the kernel's, so that helper calls need no shuffling: BPF
 * r1..r5 are already the C argument registers and r0 the return register,
 * and BPF's callee-saved r6..r9 and frame pointer r10 live in x86's
 * callee-saved registers, so they survive helper calls for free):
 *
 *     BPF   r0  r1  r2  r3  r4  r5  r6  r7  r8  r9  r10
 *     x86   rax rdi rsi rdx rcx r8  rbx r13 r14 r15 rbp
 *
 *     r9, r10, r11  scratch (never live across BPF instructions)
 *     r12           the run state of the current run (below)
 *
 * Image layout: a trampoline (entry from C), the abort stubs, then the
 * program, each function (insn 0 and every BPF-to-BPF call target) opening
 * with a prologue.  The trampoline saves r12 and rbp (insn 0's prologue
 * saves C's other callee-saved registers) and carves from the machine
 * stack, keeping rsp 16-byte aligned at every call the program makes:
 *
 *     r12 + 0    run state: the rsp to unwind to on abort, tail-call
 *                count, where to report a stop, raw-mode memory bounds
 *                and instruction budget;
 *     r12 + 64   the BPF stack: BPF_MAX_CALL_DEPTH frames of 512 bytes,
 *                frame d at [64 + 512 d, 64 + 512 (d + 1)), as in the
 *                interpreter (so stack pointers passed to callees work).
 *
 * A function's prologue pushes the caller's r6..r10 (BPF's callee-saved
 * registers; for insn 0's function, mostly C's) and moves r10 up one frame,
 * stopping the run if that is past the last frame; its exit pops them and
 * returns.  The program's main function is entered with a near call from
 * the trampoline, so insn 0 is a function like any other.
 * A tail call jumps to the target image's first instruction past its
 * prologue, keeping the running frame (its stack and its return address),
 * exactly as the interpreter replaces the running frame's program; the
 * target's exit then returns to that frame's caller.  Tail-call targets are
 * found by a small C routine (count, bounds, program kind), since they are
 * rare next to the cost of the jump.
 *
 * What the verifier proved is not checked again: packet, stack, map value
 * and ctx accesses are plain loads and stores.  Raw ("conformance")
 * programs are checked only structurally, so in them, as in the
 * interpreter's checked mode, every memory access is guarded against
 * [mem, mem + len) and the stack frames in use, only helpers without
 * pointer arguments may be called, and each basic block entered is charged
 * its instructions against the interpreter's budget; a failure stops the
 * run with r0 = 0 and a stop reason for the caller.  (Raw programs marked
 * trusted, built by hand in unit tests, are not checked, as in the
 * interpreter.)  Run-time checks the interpreter makes in every mode
 * are kept too: the call depth (the verifier also bounds it) and
 * LD_ABS/LD_IND outside the packet, which the kernel defines as ending the
 * program with r0 = 0.
 *
 * Division and modulo follow the kernel: x / 0 = 0, x % 0 = x (its low half
 * for 32 bits), INT_MIN / -1 = INT_MIN, INT_MIN % -1 = 0, tested before
 * the x86 divide (which would trap on both).
 *
 * Helper calls are calls to the helper's C function (through r11: the
 * image is usually too far from the binary for a rel32 call); calls to
 * map_lookup_elem, map_update_elem and map_delete_elem whose map is a
 * constant loaded earlier in the same basic block call the map type's
 * operation directly, skipping the helper's indirection (what the kernel
 * does with map_gen_lookup and direct calls).
 *
 * Code generation runs in passes: each pass emits every instruction using
 * the previous pass's offsets for jump distances, choosing 2-byte jumps
 * where they reach, until the offsets stop changing (the kernel's scheme).
 * Instruction counting is not done in JIT code: runs are counted by the
 * run time, executed instructions only by the interpreter. */
#include "bpf/jit.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bpf/helpers.h"
#include "bpf/interp.h"
#include "bpf/maps.h"
#include "core/util.h"

#if defined(__x86_64__)

#ifndef BPF_MEMSX
#define BPF_MEMSX 0x80
#endif

enum x86_reg {
    RAX,
    RCX,
    RDX,
    RBX,
    RSP,
    RBP,
    RSI,
    RDI,
    R8,
    R9,
    R10,
    R11,
    R12,
    R13,
    R14,
    R15,
};

static const uint8_t reg_map[MAX_BPF_REG] = {
    [BPF_REG_0] = RAX, [BPF_REG_1] = RDI, [BPF_REG_2] = RSI,  [BPF_REG_3] = RDX,
    [BPF_REG_4] = RCX, [BPF_REG_5] = R8,  [BPF_REG_6] = RBX,  [BPF_REG_7] = R13,
    [BPF_REG_8] = R14, [BPF_REG_9] = R15, [BPF_REG_10] = RBP,
};

/* Run state, at r12. */
#define RS_RSP 0     /* Where insn 0's prologue saved C's registers. */
#define RS_TAIL 16   /* Tail calls taken. */
#define RS_STOP 24   /* int *: where a stop reason is written. */
#define RS_MEM 32    /* Raw mode: memory start, */
#define RS_MEMLEN 40 /* its length, */
#define RS_STK 48    /* the BPF stack's start, */
#define RS_BUDGET 56 /* and the budget left. */
#define RS_SIZE 64
#define STACK_AREA (BPF_MAX_CALL_DEPTH * BPF_STACK_SIZE)
/* Trampoline frame: run state + BPF stack + 8, so that after its two
 * pushes rsp is 16-aligned at every call the program makes. */
#define TRAMP_FRAME (RS_SIZE + STACK_AREA + 8)
_Static_assert(TRAMP_FRAME % 16 == 8, "trampoline frame alignment");
/* Bytes pushed by a function's call and prologue. */
#define FUNC_PUSHED (8 + 5 * 8)

#define MAX_PASSES 20

struct jit {
    const struct bpf_prog *prog;
    const struct bpf_insn *insns;
    uint32_t n;
    bool raw;
    bool long_jumps; /* Every jump rel32 (convergence fallback). */
    uint8_t *buf;    /* Code of this pass (growing). */
    size_t len, cap; /* Bytes used and allocated. */
    bool oom;
    /* Offsets of the previous pass (input) and of this one (output). */
    uint32_t *body, *end, *fstart;
    uint32_t *nbody, *nend, *nfstart;
    bool *is_func;    /* Function entry (insn 0, call targets). */
    bool *is_target;  /* Some jump or call lands here. */
    uint8_t *rot;     /* Rotate idiom (find_rotates()): 0, or ROT_COUNT +
                       * count for a shift emitted as a rotate, or
                       * ROT_SKIP for its OR. */
    bool main_called; /* Insn 0 is also a call target. */
    uint32_t abort_off[BPF_JIT_STOP_HELPER + 1]; /* Stub per stop code. */
    uint32_t *block_cost; /* Raw mode: instructions of the basic block
                           * starting here, or 0. */
    char *err;
};

/* ---- Byte emission ---- */

static void
emit(struct jit *j, uint8_t b)
{
    if (j->len == j->cap) {
        size_t cap = j->cap ? j->cap * 2 : 4096;
        uint8_t *p = realloc(j->buf, cap);
        if (!p) {
            j->oom = true;
            j->len = 0;
            return;
        }
        j->buf = p;
        j->cap = cap;
    }
    j->buf[j->len++] = b;
}

static void
emit32(struct jit *j, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        emit(j, (uint8_t)(v >> (8 * i)));
    }
}

static void
emit64(struct jit *j, uint64_t v)
{
    emit32(j, (uint32_t)v);
    emit32(j, (uint32_t)(v >> 32));
}

static bool
is_imm8(int64_t v)
{
    return v >= -128 && v <= 127;
}

static bool
is_simm32(int64_t v)
{
    return v >= INT32_MIN && v <= INT32_MAX;
}

/* One instruction of the form [prefix] [REX] opcode ModRM [SIB] [disp]:
 * 'reg' is the ModRM reg field (a register or an opcode extension), 'rm'
 * a register (mem = false) or the base of [rm + disp] (mem = true).
 * 'byte_regs': the instruction names 8-bit registers, which need a REX
 * prefix to mean sil/dil/spl/bpl rather than dh/bh/ah/ch. */
static void
emit_op(struct jit *j, uint8_t pfx, bool w, uint32_t op, int reg, int rm,
        bool mem, int32_t disp, bool byte_regs)
{
    uint8_t rex = 0x40 | (w ? 8 : 0) | ((reg & 8) ? 4 : 0) | ((rm & 8) ? 1 : 0);

    if (pfx) {
        emit(j, pfx);
    }
    if (rex != 0x40 ||
        (byte_regs && ((reg >= 4 && reg < 8) || (!mem && rm >= 4 && rm < 8)))) {
        emit(j, rex);
    }
    if (op > 0xffff) {
        emit(j, (uint8_t)(op >> 16));
    }
    if (op > 0xff) {
        emit(j, (uint8_t)(op >> 8));
    }
    emit(j, (uint8_t)op);
    if (!mem) {
        emit(j, (uint8_t)(0xc0 | (reg & 7) << 3 | (rm & 7)));
        return;
    }
    int mod = disp == 0 && (rm & 7) != RBP ? 0 : is_imm8(disp) ? 1 : 2;
    emit(j, (uint8_t)(mod << 6 | (reg & 7) << 3 | (rm & 7)));
    if ((rm & 7) == RSP) {
        emit(j, 0x24);
    }
    if (mod == 1) {
        emit(j, (uint8_t)disp);
    } else if (mod == 2) {
        emit32(j, (uint32_t)disp);
    }
}

#define RR(J, W, OP, REG, RM) emit_op(J, 0, W, OP, REG, RM, false, 0, false)
#define RM(J, W, OP, REG, BASE, DISP)                                          \
    emit_op(J, 0, W, OP, REG, BASE, true, DISP, false)

static void
emit_mov_rr(struct jit *j, bool w, int dst, int src)
{
    RR(j, w, 0x89, src, dst);
}

/* dst = imm, zero-extended from 32 bits. */
static void
emit_mov_imm32(struct jit *j, int dst, uint32_t imm)
{
    if (imm == 0) {
        RR(j, false, 0x31, dst, dst); /* xor r32, r32 */
        return;
    }
    if (dst & 8) {
        emit(j, 0x41);
    }
    emit(j, (uint8_t)(0xb8 + (dst & 7)));
    emit32(j, imm);
}

static void
emit_mov_imm64(struct jit *j, int dst, uint64_t imm)
{
    if (imm <= UINT32_MAX) {
        emit_mov_imm32(j, dst, (uint32_t)imm);
    } else if (is_simm32((int64_t)imm)) {
        RR(j, true, 0xc7, 0, dst);
        emit32(j, (uint32_t)imm);
    } else {
        emit(j, (dst & 8) ? 0x49 : 0x48);
        emit(j, (uint8_t)(0xb8 + (dst & 7)));
        emit64(j, imm);
    }
}

/* Group-1 ALU with an immediate: ext 0 add, 1 or, 4 and, 5 sub, 6 xor,
 * 7 cmp.  The immediate is sign-extended to the operand size, which is
 * what BPF specifies for 64-bit operations. */
static void
emit_alu_imm(struct jit *j, bool w, int ext, int dst, int32_t imm)
{
    if (is_imm8(imm)) {
        RR(j, w, 0x83, ext, dst);
        emit(j, (uint8_t)imm);
    } else {
        RR(j, w, 0x81, ext, dst);
        emit32(j, (uint32_t)imm);
    }
}

static void
emit_alu_imm_mem(struct jit *j, bool w, int ext, int base, int32_t disp,
                 int32_t imm)
{
    if (is_imm8(imm)) {
        RM(j, w, 0x83, ext, base, disp);
        emit(j, (uint8_t)imm);
    } else {
        RM(j, w, 0x81, ext, base, disp);
        emit32(j, (uint32_t)imm);
    }
}

static void
emit_push(struct jit *j, int r)
{
    if (r & 8) {
        emit(j, 0x41);
    }
    emit(j, (uint8_t)(0x50 + (r & 7)));
}

static void
emit_pop(struct jit *j, int r)
{
    if (r & 8) {
        emit(j, 0x41);
    }
    emit(j, (uint8_t)(0x58 + (r & 7)));
}

/* call to an absolute address (helpers, run-time routines). */
static void
emit_call_abs(struct jit *j, const void *fn)
{
    emit_mov_imm64(j, R11, (uint64_t)(uintptr_t)fn);
    RR(j, false, 0xff, 2, R11); /* call r11 */
}

/* Short forward jcc whose target is patched later with patch8(). */
static size_t
emit_jcc8(struct jit *j, int cc)
{
    emit(j, (uint8_t)(0x70 + cc));
    emit(j, 0);
    return j->len;
}

static size_t
emit_jmp8(struct jit *j)
{
    emit(j, 0xeb);
    emit(j, 0);
    return j->len;
}

static void
patch8(struct jit *j, size_t after)
{
    if (!j->oom) {
        j->buf[after - 1] = (uint8_t)(j->len - after);
    }
}

/* jcc rel32 (cc < 0: jmp) to an offset already emitted or known. */
static void
emit_jcc32_to(struct jit *j, int cc, uint32_t target)
{
    if (cc < 0) {
        emit(j, 0xe9);
    } else {
        emit(j, 0x0f);
        emit(j, (uint8_t)(0x80 + cc));
    }
    emit32(j, (uint32_t)((int64_t)target - (int64_t)(j->len + 4)));
}

enum {
    CC_B = 2,
    CC_AE = 3,
    CC_E = 4,
    CC_NE = 5,
    CC_BE = 6,
    CC_A = 7,
    CC_L = 0xc,
    CC_GE = 0xd,
    CC_LE = 0xe,
    CC_G = 0xf
};

/* ---- Pieces of the frame ---- */

/* Saves the caller's r6..r10 and moves r10 up one frame.  The call depth
 * needs no counter: r10 says which frame runs, and a callee whose frame
 * would lie past the last one stops the run (insn 0's function, entered
 * from the trampoline, is frame 0 unless something calls it). */
static void
emit_prologue(struct jit *j, bool main)
{
    emit_push(j, RBX);
    emit_push(j, R13);
    emit_push(j, R14);
    emit_push(j, R15);
    emit_push(j, RBP);
    emit_alu_imm(j, true, 0, RBP, BPF_STACK_SIZE);
    if (!main) {
        RM(j, true, 0x8d, R11, R12, RS_SIZE + STACK_AREA);
        RR(j, true, 0x39, R11, RBP); /* cmp rbp, r11 */
        emit_jcc32_to(j, CC_A, j->abort_off[BPF_JIT_STOP_CALL_DEPTH]);
    }
}

static void
emit_epilogue(struct jit *j)
{
    emit_pop(j, RBP);
    emit_pop(j, R15);
    emit_pop(j, R14);
    emit_pop(j, R13);
    emit_pop(j, RBX);
    emit(j, 0xc3);
}

/* Entry from C: uint64_t code(uint64_t r1, uint64_t r2, int *stop).  C's
 * callee-saved registers are r12 and rbp, saved here, and the ones insn
 * 0's prologue saves as BPF's r6..r9.  The call to insn 0 is patched once
 * the offsets are known, so this returns where its rel32 ends. */
static size_t
emit_trampoline(struct jit *j)
{
    emit_push(j, R12);
    emit_push(j, RBP);
    RR(j, true, 0x81, 5, RSP); /* sub rsp, TRAMP_FRAME */
    emit32(j, TRAMP_FRAME);
    emit_mov_rr(j, true, R12, RSP);
    RM(j, true, 0x8d, R9, RSP, -FUNC_PUSHED); /* lea r9, [rsp - pushed] */
    RM(j, true, 0x89, R9, R12, RS_RSP);
    RM(j, true, 0xc7, 0, R12, RS_TAIL);
    emit32(j, 0);
    RM(j, true, 0x89, RDX, R12, RS_STOP);
    if (j->raw) {
        RM(j, true, 0x89, RDI, R12, RS_MEM);
        RM(j, true, 0x89, RSI, R12, RS_MEMLEN);
        RM(j, true, 0x8d, R9, R12, RS_SIZE);
        RM(j, true, 0x89, R9, R12, RS_STK);
        RM(j, true, 0xc7, 0, R12, RS_BUDGET);
        emit32(j, (uint32_t)INTERP_RAW_BUDGET);
    }
    RM(j, true, 0x8d, RBP, R12, RS_SIZE); /* r10 below frame 0 */
    emit(j, 0xe8);
    emit32(j, 0);
    size_t call_end = j->len;
    uint32_t out = (uint32_t)j->len;
    RR(j, true, 0x81, 0, RSP); /* add rsp, TRAMP_FRAME */
    emit32(j, TRAMP_FRAME);
    emit_pop(j, RBP);
    emit_pop(j, R12);
    emit(j, 0xc3);

    /* Abort stubs: r9d = stop code, then unwind to insn 0's saved
     * registers, restore them and leave through the trampoline. */
    uint32_t common = (uint32_t)j->len;
    RM(j, true, 0x8b, R11, R12, RS_STOP);
    RM(j, false, 0x89, R9, R11, 0);
    RM(j, true, 0x8b, RSP, R12, RS_RSP);
    RR(j, false, 0x31, RAX, RAX);
    emit_pop(j, RBP);
    emit_pop(j, R15);
    emit_pop(j, R14);
    emit_pop(j, R13);
    emit_pop(j, RBX);
    emit_alu_imm(j, true, 0, RSP, 8); /* the return address */
    emit_jcc32_to(j, -1, out);
    for (int code = BPF_JIT_STOP_LD_PKT; code <= BPF_JIT_STOP_HELPER; code++) {
        j->abort_off[code] = (uint32_t)j->len;
        emit_mov_imm32(j, R9, (uint32_t)code);
        emit_jcc32_to(j, -1, common);
    }
    return call_end;
}

/* Raw mode: r11 = base + off, checked to lie with 'size' bytes inside the
 * memory or the stack frames in use ([stack, r10), what the interpreter
 * allows); the access then uses [r11]. */
static void
emit_guard(struct jit *j, int base, int16_t off, int size)
{
    RM(j, true, 0x8d, R11, base, off); /* lea r11, [base + off] */
    emit_mov_rr(j, true, R9, R11);
    RM(j, true, 0x2b, R9, R12, RS_MEM); /* sub r9, [mem] */
    emit_alu_imm(j, true, 0, R9, size);
    size_t skip = emit_jcc8(j, 2);         /* jc: wrapped, outside */
    RM(j, true, 0x3b, R9, R12, RS_MEMLEN); /* cmp r9, [len] */
    size_t ok_mem = emit_jcc8(j, CC_BE);
    patch8(j, skip);
    emit_mov_rr(j, true, R9, R11);
    emit_alu_imm(j, true, 0, R9, size);
    size_t fail1 = emit_jcc8(j, 2); /* jc */
    RR(j, true, 0x39, RBP, R9);     /* cmp r9, rbp */
    size_t fail2 = emit_jcc8(j, CC_A);
    RM(j, true, 0x3b, R11, R12, RS_STK); /* cmp r11, [stack] */
    size_t ok_stack = emit_jcc8(j, CC_AE);
    patch8(j, fail1);
    patch8(j, fail2);
    emit_jcc32_to(j, -1, j->abort_off[BPF_JIT_STOP_MEM_OOB]);
    patch8(j, ok_mem);
    patch8(j, ok_stack);
}

/* The base and displacement of a memory operand [reg + off]. */
static void
mem_operand(struct jit *j, int bpf_reg, int16_t off, int size, int *base,
            int32_t *disp)
{
    if (j->raw) {
        emit_guard(j, reg_map[bpf_reg], off, size);
        *base = R11;
        *disp = 0;
    } else {
        *base = reg_map[bpf_reg];
        *disp = off;
    }
}

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

/* ---- Run-time routines called from JIT code ---- */

/* LD_ABS/LD_IND: the bytes at 'off' in network order, or UINT64_MAX when
 * they are not all inside the packet (raw runs: the memory). */
static uint64_t
jit_ld_pkt(int64_t off, uint64_t size)
{
    uint64_t v;

    return bpf_interp_packet_load(off, (unsigned int)size, &v) ? v
                                                               : UINT64_MAX;
}

/* bpf_tail_call(ctx, map, index): where to jump, or 0 to continue after
 * the call, with the interpreter's conditions. */
static uint64_t
jit_tail_target(struct bpf_map *map, uint64_t index, uint64_t *rs)
{
    const struct bpf_run_ctx *run = bpf_run_cur;
    const struct bpf_prog *target;

    index = (uint32_t)index;
    if (!run || map->type != BPF_MAP_TYPE_PROG_ARRAY ||
        index >= map->max_entries || rs[RS_TAIL / 8] >= BPF_MAX_TAIL_CALLS) {
        return 0;
    }
    target = bpf_prog_array_get(map, (uint32_t)index);
    if (!target || !target->verified || target->kind != run->prog->kind) {
        return 0;
    }
    const struct bpf_jit_image *img =
        __atomic_load_n(&target->jit, __ATOMIC_ACQUIRE);
    if (!img) {
        /* Programs put in a program array after their chain started
         * running are compiled here, once. */
        if (bpf_jit_compile((struct bpf_prog *)target, NULL)) {
            return 0;
        }
        img = __atomic_load_n(&target->jit, __ATOMIC_ACQUIRE);
    }
    rs[RS_TAIL / 8]++;
    return (uint64_t)(uintptr_t)(img->code + img->body_off);
}

/* ---- Instructions ---- */

/* BPF has no rotate; clang writes rol(x, k) as
 *     s = x; s >>= W - k; d = x; d <<= k; d |= s
 * (either shift first).  The second shift and the OR become one rotate of
 * d, which shortens the dependency chains of hash functions; s is still
 * computed, in case it is used later. */
#define ROT_SKIP 1
#define ROT_COUNT 2

static bool
is_mov_x(const struct bpf_insn *insn, uint8_t cls)
{
    return insn->code == (cls | BPF_MOV | BPF_X) && insn->off == 0;
}

static bool
is_shift_k(const struct bpf_insn *insn, uint8_t cls, uint8_t reg)
{
    uint8_t op = BPF_OP(insn->code);
    return (insn->code == (cls | op | BPF_K)) &&
           (op == BPF_LSH || op == BPF_RSH) && insn->dst_reg == reg;
}

static void
find_rotates(struct jit *j)
{
    for (uint32_t i = 0; i + 5 <= j->n; i++) {
        const struct bpf_insn *w = &j->insns[i];
        for (int c = 0; c < 2; c++) {
            uint8_t cls = c ? BPF_ALU64 : BPF_ALU;
            int32_t width = c ? 64 : 32;
            if (!is_mov_x(&w[0], cls) || !is_mov_x(&w[2], cls) ||
                w[0].src_reg != w[2].src_reg ||
                !is_shift_k(&w[1], cls, w[0].dst_reg) ||
                !is_shift_k(&w[3], cls, w[2].dst_reg) ||
                BPF_OP(w[1].code) == BPF_OP(w[3].code) || w[1].imm <= 0 ||
                w[3].imm <= 0 || w[1].imm + w[3].imm != width ||
                w[4].code != (cls | BPF_OR | BPF_X) ||
                w[4].dst_reg != w[2].dst_reg || w[4].src_reg != w[0].dst_reg) {
                continue;
            }
            uint8_t x = w[0].src_reg, s = w[0].dst_reg, d = w[2].dst_reg;
            if (s == x || d == x || s == d || x >= MAX_BPF_REG ||
                s >= BPF_REG_10 || d >= BPF_REG_10) {
                continue;
            }
            bool entered = false;
            for (uint32_t k = 1; k < 5; k++) {
                entered |= j->is_target[i + k];
            }
            if (entered) {
                continue;
            }
            int32_t left =
                BPF_OP(w[3].code) == BPF_LSH ? w[3].imm : width - w[3].imm;
            j->rot[i + 3] = (uint8_t)(ROT_COUNT + left);
            j->rot[i + 4] = ROT_SKIP;
            i += 4;
            break;
        }
    }
}

static void
jit_error(struct jit *j, uint32_t idx, const char *what)
{
    if (!j->err) {
        j->err = xasprintf("insn %u (code 0x%02x): %s", idx, j->insns[idx].code,
                           what);
    }
}

/* Emits a conditional (cc >= 0) or unconditional jump from the end of
 * insn 'i' to the body of insn 't', short when the previous pass says it
 * reaches. */
static void
emit_branch(struct jit *j, uint32_t i, uint32_t t, int cc)
{
    int64_t disp = (int64_t)j->body[t] - (int64_t)j->end[i];

    if (!j->long_jumps && is_imm8(disp)) {
        emit(j, cc < 0 ? 0xeb : (uint8_t)(0x70 + cc));
        emit(j, (uint8_t)disp);
        return;
    }
    /* Distances come from the previous pass; they are exact once the
     * offsets stop changing, which the pass loop waits for. */
    if (cc < 0) {
        emit(j, 0xe9);
    } else {
        emit(j, 0x0f);
        emit(j, (uint8_t)(0x80 + cc));
    }
    emit32(j, (uint32_t)disp);
}

static int
jmp_cc(uint8_t op)
{
    switch (op) {
    case BPF_JEQ:
        return CC_E;
    case BPF_JNE:
    case BPF_JSET:
        return CC_NE;
    case BPF_JGT:
        return CC_A;
    case BPF_JGE:
        return CC_AE;
    case BPF_JLT:
        return CC_B;
    case BPF_JLE:
        return CC_BE;
    case BPF_JSGT:
        return CC_G;
    case BPF_JSGE:
        return CC_GE;
    case BPF_JSLT:
        return CC_L;
    case BPF_JSLE:
        return CC_LE;
    default:
        return -1;
    }
}

/* Division and modulo (unsigned, or signed when off == 1), with the
 * kernel's answers for a zero divisor and for INT_MIN / -1. */
static void
emit_divmod(struct jit *j, const struct bpf_insn *insn)
{
    bool w = BPF_CLASS(insn->code) == BPF_ALU64;
    bool mod = BPF_OP(insn->code) == BPF_MOD;
    bool sgn = insn->off == 1;
    int dst = reg_map[insn->dst_reg];
    size_t zero = 0, minus1 = 0, done1 = 0, done2 = 0;
    bool check = true;

    if (BPF_SRC(insn->code) == BPF_X) {
        emit_mov_rr(j, w, R11, reg_map[insn->src_reg]);
    } else {
        int64_t d = w ? (int64_t)insn->imm : (int64_t)(uint32_t)insn->imm;
        if (d == 0) {
            /* Known zero divisor. */
            if (!mod) {
                emit_mov_imm32(j, dst, 0);
            } else if (!w) {
                emit_mov_rr(j, false, dst, dst);
            }
            return;
        }
        check = sgn && insn->imm == -1;
        emit_mov_imm64(j, R11,
                       w ? (uint64_t)(int64_t)insn->imm : (uint32_t)insn->imm);
    }
    if (check) {
        RR(j, w, 0x85, R11, R11); /* test r11, r11 */
        zero = emit_jcc8(j, CC_E);
        if (sgn) {
            emit_alu_imm(j, w, 7, R11, -1);
            minus1 = emit_jcc8(j, CC_E);
        }
    }
    emit_mov_rr(j, true, R10, RAX);
    emit_mov_rr(j, true, R9, RDX);
    emit_mov_rr(j, true, RAX, dst);
    if (sgn) {
        if (w) {
            emit(j, 0x48);
        }
        emit(j, 0x99);          /* cqo / cdq */
        RR(j, w, 0xf7, 7, R11); /* idiv r11 */
    } else {
        RR(j, false, 0x31, RDX, RDX);
        RR(j, w, 0xf7, 6, R11); /* div r11 */
    }
    emit_mov_rr(j, w, R11, mod ? RDX : RAX);
    emit_mov_rr(j, true, RAX, R10);
    emit_mov_rr(j, true, RDX, R9);
    emit_mov_rr(j, w, dst, R11);
    if (!check) {
        return;
    }
    done1 = emit_jmp8(j);
    patch8(j, zero);
    if (!mod) {
        emit_mov_imm32(j, dst, 0);
    } else if (!w) {
        emit_mov_rr(j, false, dst, dst);
    }
    if (sgn) {
        done2 = emit_jmp8(j);
        patch8(j, minus1);
        if (!mod) {
            RR(j, w, 0xf7, 3, dst); /* neg */
        } else {
            emit_mov_imm32(j, dst, 0);
        }
        patch8(j, done2);
    }
    patch8(j, done1);
}

/* Shift by register: the count must be in cl, which is BPF r4. */
static void
emit_shift_x(struct jit *j, bool w, int ext, int dst, int src)
{
    if (src == RCX) {
        RR(j, w, 0xd3, ext, dst);
        return;
    }
    emit_mov_rr(j, true, R11, RCX);
    emit_mov_rr(j, true, RCX, src);
    RR(j, w, 0xd3, ext, dst == RCX ? R11 : dst);
    emit_mov_rr(j, true, RCX, R11);
}

static int
emit_alu(struct jit *j, uint32_t i, const struct bpf_insn *insn)
{
    bool w = BPF_CLASS(insn->code) == BPF_ALU64;
    bool x = BPF_SRC(insn->code) == BPF_X;
    int dst = reg_map[insn->dst_reg], src = reg_map[insn->src_reg];
    int32_t imm = insn->imm;
    static const struct {
        uint8_t op_rr; /* op r/m, r */
        uint8_t ext;   /* 0x81 /ext */
    } group1[16] = {
        [BPF_ADD >> 4] = {0x01, 0}, [BPF_OR >> 4] = {0x09, 1},
        [BPF_AND >> 4] = {0x21, 4}, [BPF_SUB >> 4] = {0x29, 5},
        [BPF_XOR >> 4] = {0x31, 6},
    };

    if (j->rot[i] == ROT_SKIP) {
        return 0;
    }
    if (j->rot[i]) {
        RR(j, w, 0xc1, 0, dst); /* rol */
        emit(j, (uint8_t)(j->rot[i] - ROT_COUNT));
        return 0;
    }
    switch (BPF_OP(insn->code)) {
    case BPF_ADD:
    case BPF_OR:
    case BPF_AND:
    case BPF_SUB:
    case BPF_XOR:
        if (x) {
            RR(j, w, group1[BPF_OP(insn->code) >> 4].op_rr, src, dst);
        } else {
            emit_alu_imm(j, w, group1[BPF_OP(insn->code) >> 4].ext, dst, imm);
        }
        return 0;
    case BPF_MUL:
        if (x) {
            RR(j, w, 0x0faf, dst, src);
        } else if (is_imm8(imm)) {
            RR(j, w, 0x6b, dst, dst);
            emit(j, (uint8_t)imm);
        } else {
            RR(j, w, 0x69, dst, dst);
            emit32(j, (uint32_t)imm);
        }
        return 0;
    case BPF_DIV:
    case BPF_MOD:
        if (insn->off != 0 && insn->off != 1) {
            jit_error(j, i, "bad division offset");
            return -EINVAL;
        }
        emit_divmod(j, insn);
        return 0;
    case BPF_LSH:
    case BPF_RSH:
    case BPF_ARSH: {
        int ext = BPF_OP(insn->code) == BPF_LSH   ? 4
                  : BPF_OP(insn->code) == BPF_RSH ? 5
                                                  : 7;
        if (x) {
            emit_shift_x(j, w, ext, dst, src);
        } else if (imm & (w ? 63 : 31)) {
            RR(j, w, 0xc1, ext, dst);
            emit(j, (uint8_t)(imm & (w ? 63 : 31)));
        } else if (!w) {
            emit_mov_rr(j, false, dst, dst);
        }
        return 0;
    }
    case BPF_NEG:
        RR(j, w, 0xf7, 3, dst);
        return 0;
    case BPF_MOV:
        if (!x) {
            if (w) {
                emit_mov_imm64(j, dst, (uint64_t)(int64_t)imm);
            } else {
                emit_mov_imm32(j, dst, (uint32_t)imm);
            }
            return 0;
        }
        switch (insn->off) {
        case 0:
            if (dst != src || !w) {
                emit_mov_rr(j, w, dst, src);
            }
            return 0;
        case 8:
            emit_op(j, 0, w, 0x0fbe, dst, src, false, 0, true);
            return 0;
        case 16:
            RR(j, w, 0x0fbf, dst, src);
            return 0;
        case 32:
            if (w) {
                RR(j, true, 0x63, dst, src);
                return 0;
            }
            break;
        }
        jit_error(j, i, "bad move offset");
        return -EINVAL;
    case BPF_END:
        if (insn->imm != 16 && insn->imm != 32 && insn->imm != 64) {
            jit_error(j, i, "bad byte-swap width");
            return -EINVAL;
        }
        if (w && BPF_SRC(insn->code) != BPF_TO_LE) {
            jit_error(j, i, "bad byte-swap opcode");
            return -EINVAL;
        }
        if (w || BPF_SRC(insn->code) == BPF_TO_BE) {
            /* Swap (hosts are little-endian). */
            if (insn->imm == 16) {
                emit_op(j, 0x66, false, 0xc1, 0, dst, false, 0, false);
                emit(j, 8); /* rol r16, 8 */
                RR(j, false, 0x0fb7, dst, dst);
            } else {
                /* bswap r32/r64: [REX] 0f c8+r. */
                uint8_t rex = 0x40 | (insn->imm == 64 ? 8 : 0) | (dst >> 3);
                if (rex != 0x40) {
                    emit(j, rex);
                }
                emit(j, 0x0f);
                emit(j, (uint8_t)(0xc8 + (dst & 7)));
            }
        } else if (insn->imm == 16) {
            RR(j, false, 0x0fb7, dst, dst);
        } else if (insn->imm == 32) {
            emit_mov_rr(j, false, dst, dst);
        }
        return 0;
    default:
        jit_error(j, i, "unknown ALU operation");
        return -EINVAL;
    }
}

/* The map a helper call's r1 holds when an LD_IMM64 of a map earlier in
 * the same basic block set it and nothing since changed it, else NULL. */
static struct bpf_map *
const_map_r1(const struct jit *j, uint32_t call)
{
    for (uint32_t k = call; k-- > 0;) {
        const struct bpf_insn *insn = &j->insns[k];
        uint8_t cls = BPF_CLASS(insn->code);

        if (j->is_target[k + 1]) {
            return NULL;
        }
        if (k > 0 && j->insns[k - 1].code == (BPF_LD | BPF_DW | BPF_IMM)) {
            /* Second half of an LD_IMM64: look at the pair. */
            const struct bpf_insn *ld = &j->insns[k - 1];
            if (ld->dst_reg != BPF_REG_1) {
                k--;
                continue;
            }
            if ((ld->src_reg == BPF_PSEUDO_MAP_FD ||
                 ld->src_reg == BPF_PSEUDO_MAP_IDX) &&
                (uint32_t)ld->imm < j->prog->n_maps && !j->is_target[k]) {
                return j->prog->maps[(uint32_t)ld->imm];
            }
            return NULL;
        }
        if (((cls == BPF_ALU || cls == BPF_ALU64 || cls == BPF_LDX ||
              cls == BPF_LD) &&
             insn->dst_reg == BPF_REG_1) ||
            cls == BPF_JMP || cls == BPF_JMP32 ||
            (cls == BPF_STX && BPF_MODE(insn->code) == BPF_ATOMIC)) {
            return NULL;
        }
    }
    return NULL;
}

static void
emit_helper_call(struct jit *j, uint32_t i, bpf_helper_fn *fn)
{
    int32_t id = j->insns[i].imm;
    struct bpf_map *map = NULL;
    const void *target = (const void *)fn;
    bool ret_int = false;

    if (id == BPF_FUNC_map_lookup_elem || id == BPF_FUNC_map_update_elem ||
        id == BPF_FUNC_map_delete_elem) {
        map = const_map_r1(j, i);
    }
    if (map && map->ops) {
        if (id == BPF_FUNC_map_lookup_elem) {
            target = (const void *)map->ops->lookup;
        } else if (id == BPF_FUNC_map_update_elem) {
            target = (const void *)map->ops->update;
            ret_int = true;
        } else {
            target = (const void *)map->ops->delete;
            ret_int = true;
        }
    }
    emit_call_abs(j, target);
    if (ret_int) {
        RR(j, true, 0x63, RAX, RAX); /* movsxd rax, eax */
    }
}

/* bpf_tail_call(r1 = ctx, r2 = map, r3 = index). */
static void
emit_tail_call(struct jit *j)
{
    static const int saved[] = {RAX, RDI, RSI, RDX, RCX, R8};

    for (size_t k = 0; k < ARRAY_SIZE(saved); k++) {
        emit_push(j, saved[k]);
    }
    emit_mov_rr(j, true, RDI, RSI);
    emit_mov_rr(j, true, RSI, RDX);
    emit_mov_rr(j, true, RDX, R12);
    emit_call_abs(j, (const void *)jit_tail_target);
    emit_mov_rr(j, true, R11, RAX);
    for (size_t k = ARRAY_SIZE(saved); k-- > 0;) {
        emit_pop(j, saved[k]);
    }
    RR(j, true, 0x85, R11, R11);
    size_t cont = emit_jcc8(j, CC_E);
    RR(j, false, 0xff, 4, R11); /* jmp r11 */
    patch8(j, cont);
}

/* LD_ABS / LD_IND: r0 = packet bytes, or end the run with r0 = 0. */
static void
emit_ld_pkt(struct jit *j, const struct bpf_insn *insn)
{
    static const int saved[] = {RDI, RSI, RDX, RCX, R8, R9};

    if (BPF_MODE(insn->code) == BPF_IND) {
        emit_mov_rr(j, false, R11, reg_map[insn->src_reg]);
        emit_alu_imm(j, false, 0, R11, insn->imm);
        RR(j, true, 0x63, R11, R11); /* movsxd r11, r11d */
    } else {
        emit_mov_imm64(j, R11, (uint64_t)(int64_t)insn->imm);
    }
    for (size_t k = 0; k < ARRAY_SIZE(saved); k++) {
        emit_push(j, saved[k]);
    }
    emit_mov_rr(j, true, RDI, R11);
    emit_mov_imm32(j, RSI, (uint32_t)size_bytes(insn->code));
    emit_call_abs(j, (const void *)jit_ld_pkt);
    for (size_t k = ARRAY_SIZE(saved); k-- > 0;) {
        emit_pop(j, saved[k]);
    }
    emit_alu_imm(j, true, 7, RAX, -1);
    emit_jcc32_to(j, CC_E, j->abort_off[BPF_JIT_STOP_LD_PKT]);
}

static int
emit_atomic(struct jit *j, uint32_t i, const struct bpf_insn *insn)
{
    bool w = BPF_SIZE(insn->code) == BPF_DW;
    int src = reg_map[insn->src_reg];
    int base;
    int32_t disp;
    static const uint8_t op_rr[16] = {
        [BPF_ADD >> 4] = 0x01,
        [BPF_OR >> 4] = 0x09,
        [BPF_AND >> 4] = 0x21,
        [BPF_XOR >> 4] = 0x31,
    };

    if (!w && BPF_SIZE(insn->code) != BPF_W) {
        jit_error(j, i, "bad atomic size");
        return -EINVAL;
    }
    switch (insn->imm) {
    case BPF_ADD:
    case BPF_OR:
    case BPF_AND:
    case BPF_XOR:
        mem_operand(j, insn->dst_reg, insn->off, w ? 8 : 4, &base, &disp);
        emit_op(j, 0xf0, w, op_rr[insn->imm >> 4], src, base, true, disp,
                false);
        return 0;
    case BPF_ADD | BPF_FETCH:
        mem_operand(j, insn->dst_reg, insn->off, w ? 8 : 4, &base, &disp);
        emit_op(j, 0xf0, w, 0x0fc1, src, base, true, disp, false); /* xadd */
        return 0;
    case BPF_XCHG:
        mem_operand(j, insn->dst_reg, insn->off, w ? 8 : 4, &base, &disp);
        RM(j, w, 0x87, src, base, disp);
        return 0;
    case BPF_CMPXCHG:
        mem_operand(j, insn->dst_reg, insn->off, w ? 8 : 4, &base, &disp);
        emit_op(j, 0xf0, w, 0x0fb1, src, base, true, disp, false);
        if (!w) {
            emit_mov_rr(j, false, RAX, RAX);
        }
        return 0;
    case BPF_OR | BPF_FETCH:
    case BPF_AND | BPF_FETCH:
    case BPF_XOR | BPF_FETCH: {
        /* A compare-exchange loop: rax holds the old value. */
        int operand = src == RAX ? R10 : src;
        emit_mov_rr(j, true, R10, RAX);
        if (j->raw) {
            emit_guard(j, reg_map[insn->dst_reg], insn->off, w ? 8 : 4);
        } else {
            RM(j, true, 0x8d, R11, reg_map[insn->dst_reg], insn->off);
        }
        RM(j, w, 0x8b, RAX, R11, 0);
        size_t loop = j->len;
        emit_mov_rr(j, w, R9, RAX);
        RR(j, w, op_rr[(insn->imm & ~BPF_FETCH) >> 4], operand, R9);
        emit_op(j, 0xf0, w, 0x0fb1, R9, R11, true, 0, false);
        emit(j, 0x75); /* jne loop */
        emit(j, (uint8_t)((int64_t)loop - (int64_t)(j->len + 1)));
        emit_mov_rr(j, w, src, RAX);
        if (src != RAX) {
            emit_mov_rr(j, true, RAX, R10);
        }
        return 0;
    }
    default:
        jit_error(j, i, "unknown atomic operation");
        return -EINVAL;
    }
}

static int
emit_insn(struct jit *j, uint32_t i)
{
    const struct bpf_insn *insn = &j->insns[i];
    uint8_t cls = BPF_CLASS(insn->code);
    int dst = reg_map[insn->dst_reg], src = reg_map[insn->src_reg];
    int base;
    int32_t disp;

    if (insn->dst_reg >= MAX_BPF_REG || insn->src_reg >= MAX_BPF_REG) {
        jit_error(j, i, "bad register");
        return -EINVAL;
    }
    switch (cls) {
    case BPF_ALU:
    case BPF_ALU64:
        return emit_alu(j, i, insn);

    case BPF_LDX: {
        static const uint32_t ld[4] = {[BPF_W >> 3] = 0x8b,
                                       [BPF_H >> 3] = 0x0fb7,
                                       [BPF_B >> 3] = 0x0fb6,
                                       [BPF_DW >> 3] = 0x8b};
        static const uint32_t ldsx[4] = {
            [BPF_W >> 3] = 0x63, [BPF_H >> 3] = 0x0fbf, [BPF_B >> 3] = 0x0fbe};
        int size = size_bytes(insn->code);
        if (BPF_MODE(insn->code) != BPF_MEM &&
            (BPF_MODE(insn->code) != BPF_MEMSX || size == 8)) {
            jit_error(j, i, "bad load mode");
            return -EINVAL;
        }
        mem_operand(j, insn->src_reg, insn->off, size, &base, &disp);
        if (BPF_MODE(insn->code) == BPF_MEMSX) {
            RM(j, true, ldsx[BPF_SIZE(insn->code) >> 3], dst, base, disp);
        } else {
            RM(j, size == 8, ld[BPF_SIZE(insn->code) >> 3], dst, base, disp);
        }
        return 0;
    }

    case BPF_ST:
    case BPF_STX: {
        int size = size_bytes(insn->code);
        if (cls == BPF_STX && BPF_MODE(insn->code) == BPF_ATOMIC) {
            return emit_atomic(j, i, insn);
        }
        if (BPF_MODE(insn->code) != BPF_MEM) {
            jit_error(j, i, "bad store mode");
            return -EINVAL;
        }
        mem_operand(j, insn->dst_reg, insn->off, size, &base, &disp);
        uint8_t pfx = size == 2 ? 0x66 : 0;
        if (cls == BPF_STX) {
            emit_op(j, pfx, size == 8, size == 1 ? 0x88 : 0x89, src, base, true,
                    disp, size == 1);
        } else {
            emit_op(j, pfx, size == 8, size == 1 ? 0xc6 : 0xc7, 0, base, true,
                    disp, false);
            if (size == 1) {
                emit(j, (uint8_t)insn->imm);
            } else if (size == 2) {
                emit(j, (uint8_t)insn->imm);
                emit(j, (uint8_t)(insn->imm >> 8));
            } else {
                emit32(j, (uint32_t)insn->imm);
            }
        }
        return 0;
    }

    case BPF_LD:
        if (insn->code == (BPF_LD | BPF_DW | BPF_IMM)) {
            uint64_t v;
            if (i + 1 >= j->n) {
                jit_error(j, i, "truncated LD_IMM64");
                return -EINVAL;
            }
            uint32_t lo = (uint32_t)insn->imm, hi = (uint32_t)insn[1].imm;
            switch (insn->src_reg) {
            case 0:
                v = (uint64_t)hi << 32 | lo;
                break;
            case BPF_PSEUDO_MAP_FD:
            case BPF_PSEUDO_MAP_IDX:
            case BPF_PSEUDO_MAP_VALUE:
            case BPF_PSEUDO_MAP_IDX_VALUE: {
                if (lo >= j->prog->n_maps) {
                    jit_error(j, i, "map index out of range");
                    return -EINVAL;
                }
                struct bpf_map *map = j->prog->maps[lo];
                if (insn->src_reg == BPF_PSEUDO_MAP_FD ||
                    insn->src_reg == BPF_PSEUDO_MAP_IDX) {
                    v = (uint64_t)(uintptr_t)map;
                } else {
                    /* Global data: the single value never moves. */
                    uint32_t zero = 0;
                    void *value = map->ops->lookup(map, &zero);
                    if (!value) {
                        jit_error(j, i, "map value address unavailable");
                        return -EINVAL;
                    }
                    v = (uint64_t)(uintptr_t)value + hi;
                }
                break;
            }
            default:
                jit_error(j, i, "unsupported LD_IMM64 source");
                return -EINVAL;
            }
            emit_mov_imm64(j, dst, v);
            return 0;
        }
        if ((BPF_MODE(insn->code) == BPF_ABS ||
             BPF_MODE(insn->code) == BPF_IND) &&
            BPF_SIZE(insn->code) != BPF_DW) {
            emit_ld_pkt(j, insn);
            return 0;
        }
        jit_error(j, i, "bad LD instruction");
        return -EINVAL;

    case BPF_JMP:
    case BPF_JMP32: {
        bool w = cls == BPF_JMP;
        uint8_t op = BPF_OP(insn->code);
        int64_t t;
        if (op == BPF_CALL && cls == BPF_JMP) {
            if (insn->src_reg == BPF_PSEUDO_CALL) {
                t = (int64_t)i + insn->imm + 1;
                if (t < 0 || t >= j->n) {
                    jit_error(j, i, "call out of the program");
                    return -EINVAL;
                }
                emit(j, 0xe8);
                emit32(j, (uint32_t)((int64_t)j->fstart[t] -
                                     (int64_t)(j->len + 4)));
                return 0;
            }
            if (insn->src_reg != 0) {
                jit_error(j, i, "unsupported call kind");
                return -EINVAL;
            }
            if (j->raw && !bpf_interp_raw_helper_ok(insn->imm)) {
                emit_jcc32_to(j, -1, j->abort_off[BPF_JIT_STOP_HELPER]);
                return 0;
            }
            if (insn->imm == BPF_FUNC_tail_call) {
                emit_tail_call(j);
                return 0;
            }
            bpf_helper_fn *fn = bpf_helper_func(insn->imm);
            if (!fn) {
                jit_error(j, i, "unknown helper");
                return -EINVAL;
            }
            emit_helper_call(j, i, fn);
            return 0;
        }
        if (op == BPF_EXIT && cls == BPF_JMP) {
            emit_epilogue(j);
            return 0;
        }
        if (op == BPF_JA) {
            t = (int64_t)i + 1 + (cls == BPF_JMP ? insn->off : insn->imm);
        } else {
            t = (int64_t)i + 1 + insn->off;
        }
        if (t < 0 || t >= j->n) {
            jit_error(j, i, "jump out of the program");
            return -EINVAL;
        }
        int cc = op == BPF_JA ? -1 : jmp_cc(op);
        if (op != BPF_JA && cc < 0) {
            jit_error(j, i, "unknown jump operation");
            return -EINVAL;
        }
        if (op == BPF_JSET) {
            if (BPF_SRC(insn->code) == BPF_X) {
                RR(j, w, 0x85, src, dst);
            } else {
                RR(j, w, 0xf7, 0, dst);
                emit32(j, (uint32_t)insn->imm);
            }
        } else if (op != BPF_JA) {
            if (BPF_SRC(insn->code) == BPF_X) {
                RR(j, w, 0x39, src, dst);
            } else if (insn->imm == 0) {
                RR(j, w, 0x85, dst, dst);
            } else {
                emit_alu_imm(j, w, 7, dst, insn->imm);
            }
        }
        if (op == BPF_JA && t == i + 1) {
            return 0;
        }
        emit_branch(j, i, (uint32_t)t, cc);
        return 0;
    }
    default:
        jit_error(j, i, "unknown instruction class");
        return -EINVAL;
    }
}

/* One pass over the program.  Returns 0 or -EINVAL/-ENOMEM. */
static int
jit_pass(struct jit *j)
{
    j->len = 0;
    size_t call_end = emit_trampoline(j);
    for (uint32_t i = 0; i < j->n; i++) {
        if (j->is_func[i]) {
            j->nfstart[i] = (uint32_t)j->len;
            emit_prologue(j, i == 0 && !j->main_called);
        } else {
            j->nfstart[i] = (uint32_t)j->len;
        }
        j->nbody[i] = (uint32_t)j->len;
        if (j->raw && j->block_cost[i]) {
            emit_alu_imm_mem(j, true, 5, R12, RS_BUDGET,
                             (int32_t)j->block_cost[i]);
            emit_jcc32_to(j, CC_B, j->abort_off[BPF_JIT_STOP_BUDGET]);
        }
        int err = emit_insn(j, i);
        if (err) {
            return err;
        }
        if (j->insns[i].code == (BPF_LD | BPF_DW | BPF_IMM)) {
            /* The second half has no code of its own. */
            j->nend[i] = (uint32_t)j->len;
            i++;
            j->nfstart[i] = j->nbody[i] = (uint32_t)j->len;
        }
        j->nend[i] = (uint32_t)j->len;
        if (j->oom) {
            return -ENOMEM;
        }
    }
    if (j->oom) {
        return -ENOMEM;
    }
    /* The trampoline's call to insn 0's prologue. */
    uint32_t rel = j->nfstart[0] - (uint32_t)call_end;
    memcpy(j->buf + call_end - 4, &rel, 4);
    return 0;
}

/* Function entries and jump targets, for prologues and for the constant
 * map analysis. */
static int
jit_scan(struct jit *j)
{
    j->is_func[0] = true;
    for (uint32_t i = 0; i < j->n; i++) {
        const struct bpf_insn *insn = &j->insns[i];
        uint8_t cls = BPF_CLASS(insn->code);
        int64_t t;

        if (insn->code == (BPF_LD | BPF_DW | BPF_IMM)) {
            i++;
            continue;
        }
        if (cls != BPF_JMP && cls != BPF_JMP32) {
            continue;
        }
        uint8_t op = BPF_OP(insn->code);
        if (op == BPF_EXIT) {
            continue;
        }
        if (op == BPF_CALL) {
            if (insn->src_reg != BPF_PSEUDO_CALL) {
                continue;
            }
            t = (int64_t)i + insn->imm + 1;
        } else if (op == BPF_JA && cls == BPF_JMP32) {
            t = (int64_t)i + insn->imm + 1;
        } else {
            t = (int64_t)i + insn->off + 1;
        }
        if (t < 0 || t >= j->n) {
            jit_error(j, i, "jump or call out of the program");
            return -EINVAL;
        }
        j->is_target[t] = true;
        if (op == BPF_CALL) {
            j->is_func[t] = true;
            j->main_called |= t == 0;
        }
    }
    return 0;
}

/* Raw mode: the number of instructions (LD_IMM64 counts one, as in the
 * interpreter) of each basic block, at its first instruction.  A block is
 * charged against the interpreter's budget (INTERP_RAW_BUDGET) when it is
 * entered, so a run that would exceed the budget stops at the start of the
 * block in which the interpreter would stop. */
static void
block_costs(struct jit *j)
{
    uint32_t leader = 0;
    for (uint32_t i = 0; i < j->n; i++) {
        const struct bpf_insn *insn = &j->insns[i];
        uint8_t cls = BPF_CLASS(insn->code);
        if (i > 0 && j->is_target[i]) {
            leader = i;
        }
        j->block_cost[leader]++;
        if (insn->code == (BPF_LD | BPF_DW | BPF_IMM)) {
            i++;
        }
        if (cls == BPF_JMP || cls == BPF_JMP32) {
            leader = i + 1;
        }
    }
}

static pthread_mutex_t jit_lock = PTHREAD_MUTEX_INITIALIZER;

static void
image_free(struct bpf_jit_image *img)
{
    if (img) {
        munmap(img->code, img->map_size);
        free(img->insn_off);
        free(img->insns);
        free(img);
    }
}

/* Compiles 'prog' into a new image. */
static int
jit_build(const struct bpf_prog *prog, struct bpf_jit_image **imgp, char **errp)
{
    struct jit j = {
        .prog = prog,
        .insns = prog->xlated ? prog->xlated : prog->insns,
        .n = prog->xlated ? prog->n_xlated : prog->n_insns,
        /* Raw programs marked trusted (built by hand in unit tests, which
         * may give them maps) run unchecked, as in the interpreter. */
        .raw = prog->kind == BPF_PROG_KIND_RAW && !prog->trusted,
    };
    struct bpf_jit_image *img = NULL;
    int err = -ENOMEM;

    if (!j.n || !j.insns) {
        if (errp) {
            *errp = xstrdup("program has no instructions");
        }
        return -EINVAL;
    }
    size_t n1 = (size_t)j.n + 1;
    uint32_t *offs = calloc(6 * n1, sizeof *offs);
    bool *flags = calloc(2 * n1, sizeof *flags);
    j.rot = calloc(n1, sizeof *j.rot);
    j.block_cost = calloc(n1, sizeof *j.block_cost);
    if (!offs || !flags || !j.rot || !j.block_cost) {
        goto out;
    }
    j.body = offs;
    j.end = offs + n1;
    j.fstart = offs + 2 * n1;
    j.nbody = offs + 3 * n1;
    j.nend = offs + 4 * n1;
    j.nfstart = offs + 5 * n1;
    j.is_func = flags;
    j.is_target = flags + n1;
    err = jit_scan(&j);
    if (err) {
        goto out;
    }
    find_rotates(&j);
    if (j.raw) {
        block_costs(&j);
    }
    /* First guess: 64 bytes per instruction, so that every jump starts
     * long and only shrinks. */
    for (uint32_t i = 0; i < j.n; i++) {
        j.body[i] = j.fstart[i] = 64 * i + 256;
        j.end[i] = 64 * (i + 1) + 256;
    }
    bool converged = false;
    for (int pass = 0; pass < 2 * MAX_PASSES && !converged; pass++) {
        if (pass == MAX_PASSES) {
            /* Not settling: every jump long converges in two passes. */
            j.long_jumps = true;
        }
        err = jit_pass(&j);
        if (err) {
            goto out;
        }
        converged = !memcmp(j.body, j.nbody, 3 * n1 * sizeof *offs);
        memcpy(j.body, j.nbody, 3 * n1 * sizeof *offs);
    }
    if (!converged) {
        err = -EINVAL;
        jit_error(&j, 0, "code size does not converge");
        goto out;
    }

    img = calloc(1, sizeof *img);
    if (!img) {
        err = -ENOMEM;
        goto out;
    }
    long page = sysconf(_SC_PAGESIZE);
    img->size = j.len;
    img->map_size = (j.len + (size_t)page - 1) / (size_t)page * (size_t)page;
    img->code = mmap(NULL, img->map_size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (img->code == MAP_FAILED) {
        free(img);
        img = NULL;
        err = -ENOMEM;
        goto out;
    }
    memset(img->code, 0xcc, img->map_size); /* int3 past the end */
    memcpy(img->code, j.buf, j.len);
    if (mprotect(img->code, img->map_size, PROT_READ | PROT_EXEC)) {
        err = -errno;
        munmap(img->code, img->map_size);
        free(img);
        img = NULL;
        goto out;
    }
    img->body_off = j.body[0];
    img->n_insns = j.n;
    img->raw = j.raw;
    img->insn_off = malloc(n1 * sizeof *img->insn_off);
    img->insns = malloc(j.n * sizeof *img->insns);
    if (!img->insn_off || !img->insns) {
        image_free(img);
        img = NULL;
        err = -ENOMEM;
        goto out;
    }
    for (uint32_t i = 0; i < j.n; i++) {
        img->insn_off[i] = j.fstart[i];
    }
    img->insn_off[j.n] = (uint32_t)j.len;
    memcpy(img->insns, j.insns, j.n * sizeof *img->insns);
    err = 0;

out:
    if (err && errp) {
        *errp = j.err ? j.err : xstrdup(strerror(-err));
        j.err = NULL;
    }
    free(j.err);
    free(j.buf);
    free(offs);
    free(flags);
    free(j.rot);
    free(j.block_cost);
    *imgp = img;
    return err;
}

int
bpf_jit_compile(struct bpf_prog *prog, char **errp)
{
    struct bpf_jit_image *img;
    int err = 0;

    pthread_mutex_lock(&jit_lock);
    if (!prog->jit) {
        err = jit_build(prog, &img, errp);
        if (!err) {
            __atomic_store_n(&prog->jit, img, __ATOMIC_RELEASE);
        }
    }
    pthread_mutex_unlock(&jit_lock);
    return err;
}

void
bpf_jit_free(struct bpf_prog *prog)
{
    pthread_mutex_lock(&jit_lock);
    image_free(prog->jit);
    prog->jit = NULL;
    pthread_mutex_unlock(&jit_lock);
}

bool
bpf_jit_stale(const struct bpf_prog *prog)
{
    const struct bpf_jit_image *img = prog->jit;
    const struct bpf_insn *insns = prog->xlated ? prog->xlated : prog->insns;
    uint32_t n = prog->xlated ? prog->n_xlated : prog->n_insns;

    return img &&
           (img->n_insns != n || memcmp(img->insns, insns, n * sizeof *insns));
}

uint64_t
bpf_jit_run(const struct bpf_prog *prog, uint64_t r1, uint64_t r2,
            enum bpf_jit_stop *stop)
{
    const struct bpf_jit_image *img =
        __atomic_load_n(&prog->jit, __ATOMIC_ACQUIRE);
    uint64_t (*fn)(uint64_t, uint64_t, int *);
    int code = BPF_JIT_STOP_NONE;

    fn = (uint64_t(*)(uint64_t, uint64_t, int *))(uintptr_t)img->code;
    uint64_t r0 = fn(r1, r2, &code);
    if (stop) {
        *stop = (enum bpf_jit_stop)code;
    }
    return r0;
}

#else /* !__x86_64__ */

bool
bpf_jit_stale(const struct bpf_prog *prog)
{
    return false;
}

int
bpf_jit_compile(struct bpf_prog *prog, char **errp)
{
    if (errp) {
        *errp = xstrdup("no JIT for this machine");
    }
    return -EOPNOTSUPP;
}

void
bpf_jit_free(struct bpf_prog *prog)
{
}

uint64_t
bpf_jit_run(const struct bpf_prog *prog, uint64_t r1, uint64_t r2,
            enum bpf_jit_stop *stop)
{
    if (stop) {
        *stop = BPF_JIT_STOP_NONE;
    }
    return 0;
}

#endif
