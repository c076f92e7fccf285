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
 *     r12 + 0    run state: the rsp to unwind to on abort, a leaf
 *                tail-call target's entry, tail-call count, where to
 *                report a stop, raw-mode memory bounds and instruction
 *                budget;
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
 * Leaf images: a program that makes no BPF-to-BPF call, no tail call and
 * no LD_ABS/LD_IND (outside raw mode) can never stop early, so it gets no
 * trampoline, stubs or run state: its code starts with insn 0, C calls it
 * as a plain function, its prologue saves only the callee-saved registers
 * it uses and sets up a stack frame only if it uses r10, and its exits
 * return to C (find_leaf()).  Most network functions are leaves; the
 * empty program is "mov eax, 2; ret".  A tail call into a leaf goes
 * through a stub (bpf_jit_tail_leaf) that calls it and then leaves the
 * replaced frame as its exit would.
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
 * does with direct calls).  Array and per-CPU array lookups, and
 * ktime_get_ns and get_smp_processor_id, are emitted inline (the kernel's
 * map_gen_lookup and inlined helpers), reading the run time's
 * thread-local state through %fs.
 *
 * Outside raw mode, analyses shorten the code: dead ALU results are not
 * emitted (register liveness), mov + add pairs become lea, a load
 * compared or masked and tested against a constant becomes one cmp or
 * test of memory, two byte loads shifted and ORed into a 16-bit field
 * become one 16-bit load (find_load_fusions()), and narrow stack stores
 * that fill a slot are merged into one store, which spares the helpers
 * that read map keys store-forwarding stalls (see "Merging narrow stack
 * stores" below).
 *
 * Code generation runs in passes: each pass emits every instruction using
 * the previous pass's offsets for jump distances, choosing 2-byte jumps
 * where they reach, until the offsets stop changing (the kernel's scheme).
 * Instruction counting is not done in JIT code: runs are counted by the
 * run time, executed instructions only by the interpreter.  What each
 * eBPF instruction costs in x86 instructions is known statically instead
 * (bpf_prog_jit_costs()): every emitter marks where its x86 instructions
 * start and how they pass control on, and the final pass's marks give
 * each translation's shortest and longest path. */
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
#define RS_LEAF 8    /* A leaf tail-call target's entry (jit_tail_target). */
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

/* A narrow stack store that is part of a merged group: its value is
 * collected in r11 and the group's last store writes the whole slot. */
#define MG_MEMBER 1 /* Collect this store's bytes. */
#define MG_FIRST 2  /* Start the group (r11 = 0). */
#define MG_LAST 4   /* Then store the slot. */
#define MG_REGS 8   /* Some member of the group stores a register. */
struct st_merge {
    uint8_t flags;  /* MG_*. */
    uint8_t pos;    /* Byte offset of this store in its slot. */
    uint8_t size;   /* (On the last) slot bytes: 4 or 8. */
    int16_t slot;   /* (On the last) slot offset from r10. */
    uint64_t konst; /* (On the last) the bytes of immediate members. */
};

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
    bool *is_func;        /* Function entry (insn 0, call targets). */
    bool *is_target;      /* Some jump or call lands here. */
    uint8_t *rot;         /* Rotate idiom (find_rotates()): 0, or ROT_COUNT +
                           * count for a shift emitted as a rotate, or
                           * ROT_SKIP for its OR. */
    struct st_merge *mg;  /* Stack stores merged (find_store_merges()). */
    bool *inl;            /* A helper call emitted inline. */
    uint8_t *fuse;        /* FUSE_* (find_dead(), find_fusions()). */
    int32_t tls_costs;    /* %fs offsets of bpf_map_costs, */
    int32_t tls_cpu;      /* bpf_cur_cpu, */
    int32_t tls_time;     /* bpf_time_ns */
    int32_t tls_time_set; /* and bpf_time_set. */
    bool main_called;     /* Insn 0 is also a call target. */
    bool leaf;            /* Leaf frame (find_leaf()). */
    bool needs_ctx;       /* Reads bpf_run_cur: LD_ABS/LD_IND, tail
                           * calls and helpers called as such (set by
                           * the emitters of this pass). */
    uint8_t leaf_saved[5]; /* Leaf: the callee-saved registers it uses, */
    int n_leaf_saved;      /* how many, */
    bool leaf_stack;       /* whether it has a stack (uses r10), */
    int32_t leaf_frame;    /* and bytes below them (stack, alignment). */
    uint32_t abort_off[BPF_JIT_STOP_HELPER + 1]; /* Stub per stop code. */
    uint32_t *block_cost;   /* Raw mode: instructions of the basic block
                             * starting here, or 0. */
    uint32_t call_end;      /* End of the trampoline's call. */
    struct x86_mark *marks; /* Every x86 instruction of this pass. */
    size_t n_marks, cap_marks;
    char *err;
};

/* ---- Byte emission ---- */

/* Where each x86 instruction starts and how control leaves it, recorded
 * as it is emitted, so that the cost of each eBPF instruction (the
 * instructions its translation executes, bpf_prog_jit_costs()) is counted
 * from the code itself rather than from a separate table. */
enum x86_flow {
    XF_SEQ,       /* Falls through (calls return). */
    XF_JCC_IN,    /* Conditional jump inside the instruction's code. */
    XF_JMP_IN,    /* Unconditional jump inside it. */
    XF_LOOP,      /* Conditional jump back (a retry loop): counted once. */
    XF_JCC_STOP,  /* Conditional jump to an abort stub. */
    XF_JMP_STOP,  /* Unconditional jump to an abort stub. */
    XF_LEAVE,     /* Leaves the instruction's code: a jump to another
                   * eBPF instruction, a RET or an indirect jump. */
    XF_CALL_FUNC, /* A BPF-to-BPF call: the callee's prologue follows. */
};

struct x86_mark {
    uint32_t off;    /* Start offset in the code. */
    uint8_t flow;    /* enum x86_flow. */
    uint32_t target; /* XF_JCC_IN/XF_JMP_IN: target offset; XF_CALL_FUNC:
                      * the callee's instruction. */
};

static void
mark(struct jit *j, enum x86_flow flow)
{
    if (j->n_marks == j->cap_marks) {
        size_t cap = j->cap_marks ? j->cap_marks * 2 : 1024;
        struct x86_mark *m = realloc(j->marks, cap * sizeof *m);
        if (!m) {
            j->oom = true;
            j->n_marks = 0;
            return;
        }
        j->marks = m;
        j->cap_marks = cap;
    }
    j->marks[j->n_marks++] =
        (struct x86_mark){.off = (uint32_t)j->len, .flow = (uint8_t)flow};
}

/* Changes how the instruction just emitted passes control on. */
static void
mark_last(struct jit *j, enum x86_flow flow, uint32_t target)
{
    if (j->n_marks) {
        j->marks[j->n_marks - 1].flow = (uint8_t)flow;
        j->marks[j->n_marks - 1].target = target;
    }
}

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

    mark(j, XF_SEQ);
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
    mark(j, XF_SEQ);
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
        mark(j, XF_SEQ);
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
    mark(j, XF_SEQ);
    if (r & 8) {
        emit(j, 0x41);
    }
    emit(j, (uint8_t)(0x50 + (r & 7)));
}

static void
emit_pop(struct jit *j, int r)
{
    mark(j, XF_SEQ);
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
    mark(j, XF_JCC_IN);
    emit(j, (uint8_t)(0x70 + cc));
    emit(j, 0);
    return j->len;
}

static size_t
emit_jmp8(struct jit *j)
{
    mark(j, XF_JMP_IN);
    emit(j, 0xeb);
    emit(j, 0);
    return j->len;
}

static void
patch8(struct jit *j, size_t after)
{
    if (j->oom) {
        return;
    }
    j->buf[after - 1] = (uint8_t)(j->len - after);
    for (size_t k = j->n_marks; k-- > 0;) {
        if (j->marks[k].off == after - 2) {
            j->marks[k].target = (uint32_t)j->len;
            break;
        }
    }
}

/* jcc rel32 (cc < 0: jmp) to an offset already emitted or known: the
 * abort stubs, or inside the trampoline. */
static void
emit_jcc32_to(struct jit *j, int cc, uint32_t target)
{
    mark(j, cc < 0 ? XF_JMP_STOP : XF_JCC_STOP);
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
    if (j->leaf) {
        /* Entered straight from C (see find_leaf()). */
        for (int k = 0; k < j->n_leaf_saved; k++) {
            emit_push(j, j->leaf_saved[k]);
        }
        if (j->leaf_stack) {
            emit_mov_rr(j, true, RBP, RSP); /* r10: top of the frame */
        }
        if (j->leaf_frame) {
            emit_alu_imm(j, true, 5, RSP, j->leaf_frame);
        }
        return;
    }
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
emit_ret(struct jit *j)
{
    mark(j, XF_LEAVE);
    emit(j, 0xc3);
}

static void
emit_epilogue(struct jit *j)
{
    if (j->leaf) {
        if (j->leaf_stack) {
            emit_mov_rr(j, true, RSP, RBP);
        } else if (j->leaf_frame) {
            emit_alu_imm(j, true, 0, RSP, j->leaf_frame);
        }
        for (int k = j->n_leaf_saved; k-- > 0;) {
            emit_pop(j, j->leaf_saved[k]);
        }
        emit_ret(j);
        return;
    }
    emit_pop(j, RBP);
    emit_pop(j, R15);
    emit_pop(j, R14);
    emit_pop(j, R13);
    emit_pop(j, RBX);
    emit_ret(j);
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
    mark(j, XF_SEQ);
    emit(j, 0xe8);
    emit32(j, 0);
    size_t call_end = j->len;
    uint32_t out = (uint32_t)j->len;
    RR(j, true, 0x81, 0, RSP); /* add rsp, TRAMP_FRAME */
    emit32(j, TRAMP_FRAME);
    emit_pop(j, RBP);
    emit_pop(j, R12);
    emit_ret(j);

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

    return bpf_interp_packet_load(off, (unsigned int)size, &v) ? v : UINT64_MAX;
}

/* Where a tail call to a leaf image jumps (assembly below): calls the
 * leaf at [r12 + RS_LEAF] (rsp is 16-byte aligned at the tail call, as
 * at any call), then does what the exit of the frame it replaces does. */
void bpf_jit_tail_leaf(void);

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
    if (img->leaf) {
        /* A leaf has no body to jump into with this frame: it is called
         * from a stub that then leaves the frame as its exit would. */
        rs[RS_LEAF / 8] = (uint64_t)(uintptr_t)img->code;
        return (uint64_t)(uintptr_t)bpf_jit_tail_leaf;
    }
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

/* ---- Merging narrow stack stores ----
 *
 * Programs build map keys and other records on the stack field by field
 * (clang emits one store per field) and then hand them to a helper that
 * reads them in 4- or 8-byte words.  A load that spans several earlier
 * stores cannot be served from the store buffer: the CPU waits until they
 * reach the cache, a dozen cycles or more per load, which costs a map
 * lookup more than its hashing.  So within a basic block, narrow stores
 * that together fill an aligned 8-byte (else 4-byte) stack slot are
 * collected in a register as they come and written as one store at the
 * last of them.  The slot's bytes are thus written later than the
 * program says; that is invisible only if nothing in between reads or
 * writes them, which is checked: direct r10 accesses by their offsets,
 * and accesses through any other register that may hold a stack address
 * (stack_flow()) are not allowed in between. */

#define STK_ALL 0x7ff /* Every register may hold a stack address. */

/* The registers that may hold a stack address on entry to each
 * instruction (bit r for BPF register r; r10 always does), by forward
 * data flow, into 'in' (n entries).  'escapes': stack addresses may have
 * been stored in memory, so 64-bit loads may produce one.  Returns whether
 * some 64-bit store writes a register that may hold a stack address
 * (then the caller runs it again with 'escapes'). */
static bool
stack_flow(const struct jit *j, uint16_t *in, bool escapes)
{
    bool changed = true, stored = false;

    memset(in, 0, j->n * sizeof *in);
    for (uint32_t i = 1; i < j->n; i++) {
        if (j->is_func[i]) {
            in[i] = STK_ALL; /* Arguments may point to the caller's. */
        }
    }
    if (j->main_called) {
        in[0] = STK_ALL;
    }
    for (int pass = 0; changed; pass++) {
        changed = false;
        if (pass == 64) {
            /* Not settling (it should within a few passes): give up
             * on merging altogether. */
            for (uint32_t i = 0; i < j->n; i++) {
                in[i] = STK_ALL;
            }
            return true;
        }
        for (uint32_t i = 0; i < j->n; i++) {
            const struct bpf_insn *insn = &j->insns[i];
            uint8_t cls = BPF_CLASS(insn->code), op = BPF_OP(insn->code);
            uint16_t st = in[i] | 1u << BPF_REG_10;
            uint16_t d = (uint16_t)(1u << (insn->dst_reg & 15));
            bool src_stk = (st >> (insn->src_reg & 15)) & 1;
            bool dw = BPF_SIZE(insn->code) == BPF_DW;
            int64_t t = -1;
            bool falls = true;

            switch (cls) {
            case BPF_ALU:
            case BPF_ALU64:
                if (op == BPF_MOV) {
                    st = (uint16_t)(st & ~d);
                }
                if (BPF_SRC(insn->code) == BPF_X && src_stk) {
                    st |= d;
                }
                break;
            case BPF_LDX:
                st = (uint16_t)(st & ~d);
                if (dw && escapes) {
                    st |= d;
                }
                break;
            case BPF_ST:
            case BPF_STX:
                if (cls == BPF_STX && dw && src_stk) {
                    stored = true;
                }
                if (cls == BPF_STX && BPF_MODE(insn->code) == BPF_ATOMIC &&
                    (insn->imm & BPF_FETCH)) {
                    int r =
                        insn->imm == BPF_CMPXCHG ? BPF_REG_0 : insn->src_reg;
                    st = (uint16_t)(st & ~(1u << (r & 15)));
                    if (dw && escapes) {
                        st |= (uint16_t)(1u << (r & 15));
                    }
                }
                break;
            case BPF_LD:
                if (insn->code == (BPF_LD | BPF_DW | BPF_IMM)) {
                    st = (uint16_t)(st & ~d);
                    if (i + 1 < j->n) {
                        if (in[i + 1] != (in[i + 1] | st)) {
                            in[i + 1] |= st;
                            changed = true;
                        }
                        i++;
                    }
                } else {
                    st &= (uint16_t)~0x3f; /* r0..r5 */
                }
                break;
            case BPF_JMP:
            case BPF_JMP32:
                if (op == BPF_EXIT && cls == BPF_JMP) {
                    falls = false;
                } else if (op == BPF_CALL && cls == BPF_JMP) {
                    st &= (uint16_t)~0x3f;
                    if (insn->src_reg == BPF_PSEUDO_CALL) {
                        st |= 1u << BPF_REG_0;
                    }
                } else {
                    if (op == BPF_JA) {
                        falls = false;
                        t = (int64_t)i + 1 +
                            (cls == BPF_JMP ? insn->off : insn->imm);
                    } else {
                        t = (int64_t)i + 1 + insn->off;
                    }
                }
                break;
            }
            st &= (uint16_t) ~(1u << BPF_REG_10);
            if (falls && i + 1 < j->n && (in[i + 1] | st) != in[i + 1]) {
                in[i + 1] |= st;
                changed = true;
            }
            if (t >= 0 && t < j->n && (in[t] | st) != in[t]) {
                in[t] |= st;
                changed = true;
            }
        }
    }
    return stored;
}

static bool
may_stack(const uint16_t *in, uint32_t i, uint8_t reg)
{
    return reg == BPF_REG_10 || ((in[i] >> (reg & 15)) & 1);
}

/* Instructions a merge window may contain: ones that use none of the
 * scratch registers the merge needs (r10, r11), cannot leave the block,
 * and access memory only by plain loads and stores. */
static bool
window_ok(const struct jit *j, uint32_t i)
{
    const struct bpf_insn *insn = &j->insns[i];
    uint8_t op = BPF_OP(insn->code);

    switch (BPF_CLASS(insn->code)) {
    case BPF_ALU:
    case BPF_ALU64:
        if (op == BPF_DIV || op == BPF_MOD) {
            return false;
        }
        return BPF_SRC(insn->code) == BPF_K ||
               (op != BPF_LSH && op != BPF_RSH && op != BPF_ARSH);
    case BPF_LDX:
        return BPF_MODE(insn->code) == BPF_MEM ||
               BPF_MODE(insn->code) == BPF_MEMSX;
    case BPF_ST:
    case BPF_STX:
        return BPF_MODE(insn->code) == BPF_MEM;
    case BPF_LD:
        return insn->code == (BPF_LD | BPF_DW | BPF_IMM);
    default:
        return false;
    }
}

static bool
is_stack_store(const struct bpf_insn *insn)
{
    uint8_t cls = BPF_CLASS(insn->code);
    return (cls == BPF_ST || cls == BPF_STX) &&
           BPF_MODE(insn->code) == BPF_MEM && insn->dst_reg == BPF_REG_10;
}

#define MAX_WINDOW_STORES 64

/* Tries the slot [slot, slot + size) in the window whose stack stores are
 * 'st' (indices, in order): records a group when narrow stores fill it
 * exactly and nothing between the first and the last touches it.  'busy'
 * marks instructions inside groups already made. */
static void
try_slot(struct jit *j, const uint16_t *in, const uint32_t *st, int n_st,
         int32_t slot, int size, bool *busy)
{
    uint32_t member[8];
    int n = 0;
    unsigned int bytes = 0;

    /* Members: the narrow stores inside the slot, each byte once. */
    for (int k = 0; k < n_st; k++) {
        const struct bpf_insn *insn = &j->insns[st[k]];
        int32_t lo = insn->off, hi = lo + size_bytes(insn->code);
        if (lo < slot || hi > slot + size || hi - lo >= size) {
            continue;
        }
        unsigned int mask = ((1u << (hi - lo)) - 1) << (lo - slot);
        if ((bytes & mask) || n == 8) {
            return;
        }
        bytes |= mask;
        member[n++] = st[k];
    }
    if (n < 2 || bytes != (1u << size) - 1) {
        return;
    }
    uint32_t first = member[0], last = member[n - 1];
    for (uint32_t k = first, m = 0; k <= last; k++) {
        const struct bpf_insn *insn = &j->insns[k];
        uint8_t cls = BPF_CLASS(insn->code);
        if (busy[k]) {
            return;
        }
        if (k == member[m]) {
            m++;
            continue;
        }
        /* Other stores to the slot in between (before or after the
         * group they are harmless: the order is kept). */
        if (is_stack_store(insn) && insn->off < slot + size &&
            insn->off + size_bytes(insn->code) > slot) {
            return;
        }
        if (cls == BPF_LDX) {
            int32_t lo = insn->off, hi = lo + size_bytes(insn->code);
            if (insn->src_reg == BPF_REG_10 ? hi > slot && lo < slot + size
                                            : may_stack(in, k, insn->src_reg)) {
                return;
            }
        }
        if ((cls == BPF_ST || cls == BPF_STX) && insn->dst_reg != BPF_REG_10 &&
            may_stack(in, k, insn->dst_reg)) {
            return;
        }
    }
    struct st_merge *last_mg = &j->mg[last];
    uint8_t regs = 0;
    for (int k = 0; k < n; k++) {
        if (BPF_CLASS(j->insns[member[k]].code) == BPF_STX) {
            regs = MG_REGS;
        }
    }
    for (int k = 0; k < n; k++) {
        const struct bpf_insn *insn = &j->insns[member[k]];
        struct st_merge *m = &j->mg[member[k]];
        m->flags = MG_MEMBER | regs;
        m->pos = (uint8_t)(insn->off - slot);
        if (BPF_CLASS(insn->code) == BPF_ST) {
            int bits = 8 * size_bytes(insn->code);
            uint64_t v = (uint64_t)(uint32_t)insn->imm & ((1ull << bits) - 1);
            last_mg->konst |= v << (8 * m->pos);
        }
    }
    j->mg[first].flags |= MG_FIRST;
    last_mg->flags |= MG_LAST;
    last_mg->size = (uint8_t)size;
    last_mg->slot = (int16_t)slot;
    for (uint32_t k = first; k <= last; k++) {
        busy[k] = true;
    }
}

/* Finds the groups of stack stores to merge (not in raw mode, whose
 * guards use the same scratch registers). */
static int
find_store_merges(struct jit *j)
{
    uint16_t *in = calloc(j->n, sizeof *in);
    bool *busy = calloc(j->n, sizeof *busy);
    uint32_t st[MAX_WINDOW_STORES];

    if (!in || !busy) {
        free(in);
        free(busy);
        return -ENOMEM;
    }
    if (stack_flow(j, in, false)) {
        stack_flow(j, in, true);
    }
    for (uint32_t s = 0; s < j->n;) {
        uint32_t e = s;
        int n_st = 0;
        while (e < j->n && window_ok(j, e) && (e == s || !j->is_target[e]) &&
               n_st < MAX_WINDOW_STORES) {
            if (is_stack_store(&j->insns[e])) {
                st[n_st++] = e;
            }
            e += j->insns[e].code == (BPF_LD | BPF_DW | BPF_IMM) ? 2 : 1;
        }
        for (int k = 0; k < n_st; k++) {
            const struct bpf_insn *insn = &j->insns[st[k]];
            int32_t slot8 = insn->off & ~7, slot4 = insn->off & ~3;
            if (size_bytes(insn->code) == 8 || j->mg[st[k]].flags) {
                continue;
            }
            try_slot(j, in, st, n_st, slot8, 8, busy);
            if (!j->mg[st[k]].flags) {
                try_slot(j, in, st, n_st, slot4, 4, busy);
            }
        }
        s = e > s ? e : s + 1;
    }
    free(in);
    free(busy);
    return 0;
}

/* A member of a merged group: its bytes go into r11 (r10 is the scratch
 * for shifting them into place), and the last member stores the slot.
 * A group of immediates only is one store of their bytes. */
static void
emit_merged_store(struct jit *j, uint32_t i)
{
    const struct bpf_insn *insn = &j->insns[i];
    const struct st_merge *m = &j->mg[i];

    if (!(m->flags & MG_REGS)) {
        if (!(m->flags & MG_LAST)) {
            return;
        }
        if (m->size == 4 || is_simm32((int64_t)m->konst)) {
            RM(j, m->size == 8, 0xc7, 0, RBP, m->slot);
            emit32(j, (uint32_t)m->konst);
        } else {
            emit_mov_imm64(j, R11, m->konst);
            RM(j, true, 0x89, R11, RBP, m->slot);
        }
        return;
    }
    bool stx = BPF_CLASS(insn->code) == BPF_STX;
    /* The first member's bytes at position 0 start r11 directly. */
    int tmp = (m->flags & MG_FIRST) && stx && !m->pos ? R11 : R10;
    if ((m->flags & MG_FIRST) && tmp != R11) {
        RR(j, false, 0x31, R11, R11); /* xor r11d, r11d */
    }
    if (stx) {
        int src = reg_map[insn->src_reg];
        switch (size_bytes(insn->code)) {
        case 1:
            emit_op(j, 0, false, 0x0fb6, tmp, src, false, 0, true);
            break;
        case 2:
            RR(j, false, 0x0fb7, tmp, src);
            break;
        default:
            emit_mov_rr(j, false, tmp, src);
            break;
        }
        if (m->pos) {
            RR(j, true, 0xc1, 4, R10); /* shl r10, 8 pos */
            emit(j, (uint8_t)(8 * m->pos));
        }
        if (tmp == R10) {
            RR(j, true, 0x09, R10, R11); /* or r11, r10 */
        }
    }
    if (!(m->flags & MG_LAST)) {
        return;
    }
    if (m->konst) {
        if (m->konst <= INT32_MAX) {
            emit_alu_imm(j, true, 1, R11, (int32_t)m->konst);
        } else {
            emit_mov_imm64(j, R10, m->konst);
            RR(j, true, 0x09, R10, R11);
        }
    }
    RM(j, m->size == 8, 0x89, R11, RBP, m->slot);
}

/* ---- Dead code and fused instructions ----
 *
 * Register liveness (backward data flow) finds ALU results and 64-bit
 * immediates that nothing reads before they are overwritten; they emit
 * nothing.  The main source is the rotate idiom, whose shifted copy
 * (s in find_rotates()) is dead once the OR became a rotate; compilers
 * leave a few more.  Only what the code as emitted reads counts: the OR
 * of a rotate is not emitted, so it reads nothing.  The verifier
 * guarantees that no path reads a register before writing it, so a
 * removed write is never observed. */

#define FUSE_LEA 1  /* mov a, b + add a, k: one lea a, [b + k]. */
#define FUSE_SKIP 2 /* The add of such a pair. */
#define FUSE_DEAD 3 /* Result never read: no code. */
#define FUSE_CMP 4  /* load x, [m] + if x op k: one cmp [m], k, */
#define FUSE_JCC 5  /* then the jump alone. */
#define FUSE_LD16 6 /* Two byte loads shifted and ORed into a 16-bit
                     * little-endian value: one movzx (the rest
                     * FUSE_SKIP), */
#define FUSE_CMP16 7 /* or, compared with a constant next, one cmp
                      * (then FUSE_JCC). */
#define FUSE_TEST 8  /* load x, [m] + x &= k + if x ==/!= 0: one test
                      * [m], k (FUSE_SKIP, FUSE_JCC). */

/* Registers insn i reads ('use') and writes ('def') as emitted, as
 * bitmasks of BPF registers. */
static void
insn_regs(const struct jit *j, uint32_t i, uint16_t *use, uint16_t *def)
{
    const struct bpf_insn *insn = &j->insns[i];
    uint8_t cls = BPF_CLASS(insn->code), op = BPF_OP(insn->code);
    uint16_t d = (uint16_t)(1u << (insn->dst_reg & 15));
    uint16_t sr = (uint16_t)(1u << (insn->src_reg & 15));
    bool x = BPF_SRC(insn->code) == BPF_X;

    *use = *def = 0;
    if (j->fuse[i] == FUSE_DEAD) {
        return;
    }
    switch (cls) {
    case BPF_ALU:
    case BPF_ALU64:
        if (j->rot[i] == ROT_SKIP) {
            return;
        }
        *def = d;
        if (op == BPF_MOV) {
            *use = x ? sr : 0;
        } else if (op == BPF_END || op == BPF_NEG || j->rot[i]) {
            *use = d;
        } else {
            *use = (uint16_t)(d | (x ? sr : 0));
        }
        return;
    case BPF_LDX:
        *use = sr;
        *def = d;
        return;
    case BPF_ST:
        *use = d;
        return;
    case BPF_STX:
        *use = (uint16_t)(d | sr);
        if (BPF_MODE(insn->code) == BPF_ATOMIC) {
            if (insn->imm == BPF_CMPXCHG) {
                *use |= 1u << BPF_REG_0;
                *def = 1u << BPF_REG_0;
            } else if (insn->imm & BPF_FETCH) {
                *def = sr;
            }
        }
        return;
    case BPF_LD:
        if (insn->code == (BPF_LD | BPF_DW | BPF_IMM)) {
            *def = d;
        } else {
            /* LD_ABS/IND: the packet through the context in r6; r1..r5
             * survive (the verifier forbids reading them after, but
             * unverified trusted programs may, and both modes keep
             * them). */
            *use = (uint16_t)(1u << BPF_REG_6 |
                              (BPF_MODE(insn->code) == BPF_IND ? sr : 0));
            *def = 1u << BPF_REG_0;
        }
        return;
    case BPF_JMP:
    case BPF_JMP32:
        if (op == BPF_EXIT) {
            *use = 1u << BPF_REG_0;
        } else if (op == BPF_CALL) {
            *use = 0x3e; /* r1..r5 */
            *def = 0x3f;
        } else if (op != BPF_JA) {
            *use = (uint16_t)(d | (x ? sr : 0));
        }
        return;
    }
}

/* Marks dead ALU results and immediates FUSE_DEAD; returns 1 if it found
 * any new, 0 if not (then 'in' holds the final liveness: the registers
 * live on entry to each instruction, n entries), -1 if the flow did not
 * settle (then it marks nothing). */
static int
find_dead(struct jit *j, uint16_t *in)
{
    bool changed = true, found = false;

    memset(in, 0, j->n * sizeof *in);
    for (int pass = 0; changed; pass++) {
        if (pass == 64) {
            return -1;
        }
        changed = false;
        for (uint32_t i = j->n; i-- > 0;) {
            const struct bpf_insn *insn = &j->insns[i];
            uint8_t cls = BPF_CLASS(insn->code), op = BPF_OP(insn->code);
            uint16_t out = 0, use, def;
            int64_t t = -1;
            bool falls = true;

            if (i > 0 && j->insns[i - 1].code == (BPF_LD | BPF_DW | BPF_IMM)) {
                /* Second half of an LD_IMM64: passes liveness through. */
                in[i] = i + 1 < j->n ? in[i + 1] : 0;
                continue;
            }
            if (cls == BPF_JMP || cls == BPF_JMP32) {
                if (op == BPF_EXIT && cls == BPF_JMP) {
                    falls = false;
                } else if (op == BPF_JA) {
                    falls = false;
                    t = (int64_t)i + 1 +
                        (cls == BPF_JMP ? insn->off : insn->imm);
                } else if (op != BPF_CALL) {
                    t = (int64_t)i + 1 + insn->off;
                }
            }
            bool imm64 = insn->code == (BPF_LD | BPF_DW | BPF_IMM);
            uint32_t next = i + (imm64 ? 2 : 1);
            if (falls && next < j->n) {
                out |= in[next];
            }
            if (t >= 0 && t < j->n) {
                out |= in[t];
            }
            insn_regs(j, i, &use, &def);
            uint16_t v = (uint16_t)(use | (out & ~def));
            if (v != in[i]) {
                in[i] = v;
                changed = true;
            }
        }
    }
    for (uint32_t i = 0; i < j->n; i++) {
        const struct bpf_insn *insn = &j->insns[i];
        uint8_t cls = BPF_CLASS(insn->code);
        bool imm64 = insn->code == (BPF_LD | BPF_DW | BPF_IMM);
        uint32_t next = i + (imm64 ? 2 : 1);
        uint16_t out = next < j->n ? in[next] : 0;
        uint16_t use, def;

        if ((cls != BPF_ALU && cls != BPF_ALU64 && !imm64) || j->rot[i] ||
            insn->dst_reg >= BPF_REG_10) {
            if (imm64) {
                i++;
            }
            continue;
        }
        insn_regs(j, i, &use, &def);
        if (def && !(out & def)) {
            j->fuse[i] = FUSE_DEAD;
            found = true;
        }
        if (imm64) {
            i++;
        }
    }
    return found;
}

/* A narrow load whose only use is the next instruction's comparison with
 * a constant (as in every protocol check) becomes a compare of memory,
 * when the loaded register is dead after the jump ('in': final
 * liveness).  Only unsigned and equality conditions, and constants that
 * fit the loaded width: comparing the zero-extended value is then the same
 * as comparing the bytes. */
static void
find_cmp_fusions(struct jit *j, const uint16_t *in)
{
    for (uint32_t i = 0; i + 1 < j->n; i++) {
        const struct bpf_insn *ld = &j->insns[i], *jc = &j->insns[i + 1];
        uint8_t op = BPF_OP(jc->code), cls = BPF_CLASS(jc->code);
        int size = size_bytes(ld->code);
        if (j->fuse[i] || j->fuse[i + 1] || j->is_target[i + 1] ||
            ld->code != (BPF_LDX | BPF_MEM | BPF_SIZE(ld->code)) || size == 8 ||
            (cls != BPF_JMP && cls != BPF_JMP32) ||
            BPF_SRC(jc->code) != BPF_K || jc->dst_reg != ld->dst_reg ||
            ld->src_reg > BPF_REG_10 || jc->imm < 0 ||
            (size < 4 && jc->imm >= 1 << (8 * size)) ||
            (op != BPF_JEQ && op != BPF_JNE && op != BPF_JGT && op != BPF_JGE &&
             op != BPF_JLT && op != BPF_JLE)) {
            continue;
        }
        int64_t t = (int64_t)i + 2 + jc->off;
        uint16_t out =
            (i + 2 < j->n ? in[i + 2] : 0) | (t >= 0 && t < j->n ? in[t] : 0);
        if ((out >> ld->dst_reg) & 1) {
            continue;
        }
        j->fuse[i] = FUSE_CMP;
        j->fuse[i + 1] = FUSE_JCC;
        i++;
    }
}

static bool
is_ldx_b(const struct bpf_insn *insn)
{
    return insn->code == (BPF_LDX | BPF_MEM | BPF_B);
}

static bool
is_alu_k(const struct bpf_insn *insn, uint8_t op)
{
    return insn->code == (BPF_ALU | op | BPF_K) ||
           insn->code == (BPF_ALU64 | op | BPF_K);
}

/* Whether 'reg' is read after the jump at insn i (either way). */
static bool
live_after_jump(const struct jit *j, const uint16_t *in, uint32_t i,
                uint8_t reg)
{
    int64_t t = (int64_t)i + 1 + j->insns[i].off;
    uint16_t out =
        (i + 1 < j->n ? in[i + 1] : 0) | (t >= 0 && t < j->n ? in[t] : 0);
    return (out >> reg) & 1;
}

/* Whether insn i is a conditional jump on 'reg' against a constant in
 * [0, max] that a compare of the zero-extended value in memory can
 * decide: equality or unsigned, 32 or 64 bits. */
static bool
is_cmp_k_jump(const struct jit *j, uint32_t i, uint8_t reg, int64_t max)
{
    const struct bpf_insn *jc = &j->insns[i];
    uint8_t op = BPF_OP(jc->code), cls = BPF_CLASS(jc->code);

    return (cls == BPF_JMP || cls == BPF_JMP32) &&
           BPF_SRC(jc->code) == BPF_K && jc->dst_reg == reg && jc->imm >= 0 &&
           jc->imm <= max &&
           (op == BPF_JEQ || op == BPF_JNE || op == BPF_JGT || op == BPF_JGE ||
            op == BPF_JLT || op == BPF_JLE);
}

/* Protocol fields read byte by byte, as clang writes an unaligned 16-bit
 * load for BPF:
 *     h = *(u8 *)(b + k + 1); h <<= 8; l = *(u8 *)(b + k); h |= l
 * (or both loads first) is the little-endian 16-bit value at b + k: one
 * movzx when l is dead after, and one compare of memory when a jump on h
 * against a constant follows and h is dead after it.  Likewise a load
 * masked with a constant and tested for zero (a flag test) becomes one
 * test of memory.  'in': final liveness. */
static void
find_load_fusions(struct jit *j, const uint16_t *in)
{
    for (uint32_t i = 0; i + 4 < j->n; i++) {
        const struct bpf_insn *a = &j->insns[i];
        bool free4 = true;
        for (uint32_t k = i; k < i + 4; k++) {
            free4 &= !j->fuse[k] && !j->rot[k] && (k == i || !j->is_target[k]);
        }
        if (!free4) {
            continue;
        }
        const struct bpf_insn *lo, *hi, *sh = NULL, *orr = &a[3];
        if (is_ldx_b(&a[0]) && is_alu_k(&a[1], BPF_LSH) &&
            a[1].dst_reg == a[0].dst_reg && is_ldx_b(&a[2])) {
            hi = &a[0], sh = &a[1], lo = &a[2]; /* hi, shift, lo, or */
        } else if (is_ldx_b(&a[0]) && is_ldx_b(&a[1]) &&
                   is_alu_k(&a[2], BPF_LSH) && a[2].dst_reg == a[1].dst_reg) {
            lo = &a[0], hi = &a[1], sh = &a[2]; /* lo, hi, shift, or */
        }
        if (sh && sh->imm == 8 && lo->src_reg == hi->src_reg &&
            lo->off < INT16_MAX && hi->off == lo->off + 1 &&
            lo->dst_reg != hi->dst_reg &&
            /* The second load's base is not the first load's result. */
            a[0].dst_reg != a[0 + (sh == &a[1] ? 2 : 1)].src_reg &&
            (orr->code == (BPF_ALU | BPF_OR | BPF_X) ||
             orr->code == (BPF_ALU64 | BPF_OR | BPF_X)) &&
            orr->dst_reg == hi->dst_reg && orr->src_reg == lo->dst_reg &&
            hi->dst_reg < BPF_REG_10 && !((in[i + 4] >> lo->dst_reg) & 1)) {
            bool cmp = !j->is_target[i + 4] &&
                       is_cmp_k_jump(j, i + 4, hi->dst_reg, UINT16_MAX) &&
                       !live_after_jump(j, in, i + 4, hi->dst_reg);
            j->fuse[i] = cmp ? FUSE_CMP16 : FUSE_LD16;
            j->fuse[i + 1] = j->fuse[i + 2] = j->fuse[i + 3] = FUSE_SKIP;
            if (cmp) {
                j->fuse[i + 4] = FUSE_JCC;
            }
            i += cmp ? 4 : 3;
            continue;
        }
        /* load, and, jump if (not) zero. */
        uint8_t op = BPF_OP(a[2].code);
        int size = size_bytes(a->code);
        if (a->code == (BPF_LDX | BPF_MEM | BPF_SIZE(a->code)) && size < 8 &&
            a->dst_reg < BPF_REG_10 && is_alu_k(&a[1], BPF_AND) &&
            a[1].dst_reg == a->dst_reg &&
            (BPF_CLASS(a[2].code) == BPF_JMP ||
             BPF_CLASS(a[2].code) == BPF_JMP32) &&
            (op == BPF_JEQ || op == BPF_JNE) && BPF_SRC(a[2].code) == BPF_K &&
            a[2].imm == 0 && a[2].dst_reg == a->dst_reg &&
            !live_after_jump(j, in, i + 2, a->dst_reg)) {
            j->fuse[i] = FUSE_TEST;
            j->fuse[i + 1] = FUSE_SKIP;
            j->fuse[i + 2] = FUSE_JCC;
            i += 2;
        }
    }
}

/* mov a, b followed by add a, k (pointer plus offset, as in every bounds
 * check) becomes lea a, [b + k], when nothing jumps between them. */
static void
find_fusions(struct jit *j)
{
    for (uint32_t i = 0; i + 1 < j->n; i++) {
        const struct bpf_insn *a = &j->insns[i], *b = &j->insns[i + 1];
        if (j->fuse[i] || j->fuse[i + 1] || j->rot[i] || j->rot[i + 1] ||
            j->is_target[i + 1] || !is_mov_x(a, BPF_ALU64) ||
            b->code != (BPF_ALU64 | BPF_ADD | BPF_K) ||
            b->dst_reg != a->dst_reg || a->src_reg == a->dst_reg ||
            a->dst_reg >= BPF_REG_10 || a->src_reg > BPF_REG_10) {
            continue;
        }
        j->fuse[i] = FUSE_LEA;
        j->fuse[i + 1] = FUSE_SKIP;
        i++;
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

    mark(j, XF_LEAVE);
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
        mark(j, XF_SEQ);
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
                mark(j, XF_SEQ);
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

/* op with the memory operand %fs:disp (thread-local storage). */
static void
emit_fs_op(struct jit *j, bool w, uint8_t op, int reg, int32_t disp)
{
    uint8_t rex = 0x40 | (w ? 8 : 0) | ((reg & 8) ? 4 : 0);

    mark(j, XF_SEQ);
    emit(j, 0x64);
    if (rex != 0x40) {
        emit(j, rex);
    }
    emit(j, op);
    emit(j, (uint8_t)((reg & 7) << 3 | 4)); /* SIB follows, */
    emit(j, 0x25);                          /* no base, no index */
    emit32(j, (uint32_t)disp);
}

/* The offset of a thread-local variable of the run time from the thread
 * pointer (%fs:0).  They use the initial-exec model (maps.h), so the
 * offset is the same in every thread.  INT32_MIN if out of reach. */
static int32_t
tls_offset(const void *var)
{
    uintptr_t tp;

    __asm__("mov %%fs:0, %0" : "=r"(tp));
    intptr_t off = (intptr_t)var - (intptr_t)tp;
    return off > INT32_MIN && off <= INT32_MAX ? (int32_t)off : INT32_MIN;
}

/* bpf_map_lookup_elem(map, key) on an array map, inline as the kernel's
 * map_gen_lookup does: r0 = values + index * stride, or NULL past the
 * end; for per-CPU arrays plus the thread's CPU's offset.  The map
 * operation itself still runs when map costs are being counted
 * (bpf_map_costs set: contracts see the same counts in both modes) and
 * for a CPU number past the map's copies (it wraps it). */
static void
emit_array_lookup(struct jit *j, const struct bpf_map *map, uint8_t *values,
                  size_t stride, size_t cpu_stride)
{
    bool percpu = map->type == BPF_MAP_TYPE_PERCPU_ARRAY;
    size_t slow_cpu = 0;

    emit_fs_op(j, true, 0x83, 7, j->tls_costs); /* cmp qword [costs], 0 */
    emit(j, 0);
    size_t slow = emit_jcc8(j, CC_NE);
    RM(j, false, 0x8b, RAX, RSI, 0); /* eax = index */
    emit_alu_imm(j, false, 7, RAX, (int32_t)map->max_entries);
    size_t null = emit_jcc8(j, CC_AE);
    if (percpu) {
        emit_fs_op(j, false, 0x8b, R11, j->tls_cpu); /* r11d = cpu */
        emit_alu_imm(j, false, 7, R11, (int32_t)map->n_cpus);
        slow_cpu = emit_jcc8(j, CC_AE);
        RR(j, true, 0x69, R11, R11); /* imul r11, r11, cpu_stride */
        emit32(j, (uint32_t)cpu_stride);
    }
    if (!(stride & (stride - 1))) {
        int k = __builtin_ctzll(stride);
        if (k) {
            RR(j, true, 0xc1, 4, RAX); /* shl rax, k */
            emit(j, (uint8_t)k);
        }
    } else {
        RR(j, true, 0x69, RAX, RAX); /* imul rax, rax, stride */
        emit32(j, (uint32_t)stride);
    }
    if (percpu) {
        RR(j, true, 0x01, R11, RAX);
    }
    emit_mov_imm64(j, R11, (uint64_t)(uintptr_t)values);
    RR(j, true, 0x01, R11, RAX);
    size_t done1 = emit_jmp8(j);
    patch8(j, null);
    RR(j, false, 0x31, RAX, RAX);
    size_t done2 = emit_jmp8(j);
    patch8(j, slow);
    if (percpu) {
        patch8(j, slow_cpu);
    }
    emit_call_abs(j, (const void *)map->ops->lookup);
    patch8(j, done1);
    patch8(j, done2);
}

static void
emit_helper_call(struct jit *j, uint32_t i, bpf_helper_fn *fn)
{
    int32_t id = j->insns[i].imm;
    struct bpf_map *map = NULL;
    const void *target = (const void *)fn;
    bool ret_int = false;
    uint8_t *values;
    size_t stride, cpu_stride;

    if (id == BPF_FUNC_map_lookup_elem || id == BPF_FUNC_map_update_elem ||
        id == BPF_FUNC_map_delete_elem) {
        map = const_map_r1(j, i);
    }
    if (map && id == BPF_FUNC_map_lookup_elem && !j->raw &&
        j->tls_costs != INT32_MIN && j->tls_cpu != INT32_MIN &&
        bpf_array_layout(map, &values, &stride, &cpu_stride) &&
        stride <= INT32_MAX && cpu_stride <= INT32_MAX) {
        emit_array_lookup(j, map, values, stride, cpu_stride);
        j->inl[i] = true;
        return;
    }
    if (id == BPF_FUNC_get_smp_processor_id && j->tls_cpu != INT32_MIN) {
        emit_fs_op(j, false, 0x8b, RAX, j->tls_cpu); /* eax = cpu */
        j->inl[i] = true;
        return;
    }
    if (id == BPF_FUNC_ktime_get_ns && j->tls_time != INT32_MIN &&
        j->tls_time_set != INT32_MIN) {
        /* The packet's time when the caller set one (the datapath does,
         * per batch), else the helper reads the clock. */
        emit_fs_op(j, false, 0x80, 7, j->tls_time_set); /* cmp byte, 0 */
        emit(j, 0);
        size_t clock = emit_jcc8(j, CC_E);
        emit_fs_op(j, true, 0x8b, RAX, j->tls_time);
        size_t done = emit_jmp8(j);
        patch8(j, clock);
        emit_call_abs(j, target);
        patch8(j, done);
        j->inl[i] = true;
        return;
    }
    if (!map || !map->ops) {
        /* The helper itself may read the run context; map operations
         * called directly, and the inline sequences above (whose
         * fallbacks are a map operation and the clock), do not. */
        j->needs_ctx = true;
    } else {
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

    j->needs_ctx = true;
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
    mark_last(j, XF_LEAVE, 0);
    patch8(j, cont);
}

/* LD_ABS / LD_IND: r0 = packet bytes, or end the run with r0 = 0. */
static void
emit_ld_pkt(struct jit *j, const struct bpf_insn *insn)
{
    static const int saved[] = {RDI, RSI, RDX, RCX, R8, R9};

    j->needs_ctx = true;
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
        mark(j, XF_LOOP);
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

/* cmp size [base + off], k (k in the zero-extended range of 'size'
 * bytes), with an 8-bit immediate when it fits. */
static void
emit_cmp_mem(struct jit *j, int size, int base, int32_t off, int32_t k)
{
    bool imm8 = size == 1 || k <= 127;

    emit_op(j, size == 2 ? 0x66 : 0, false,
            size == 1 ? 0x80
            : imm8    ? 0x83
                      : 0x81,
            7, base, true, off, false);
    if (imm8) {
        emit(j, (uint8_t)k);
    } else if (size == 2) {
        emit(j, (uint8_t)k);
        emit(j, (uint8_t)(k >> 8));
    } else {
        emit32(j, (uint32_t)k);
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
    switch (j->fuse[i]) {
    case FUSE_DEAD: {
        /* Translated, so that it fails as it would otherwise, then
         * dropped. */
        size_t len = j->len, n_marks = j->n_marks;
        j->fuse[i] = 0;
        int err = emit_insn(j, i);
        j->fuse[i] = FUSE_DEAD;
        if (!j->oom) {
            j->len = len;
            j->n_marks = n_marks;
        }
        return err;
    }
    case FUSE_SKIP:
        return 0;
    case FUSE_CMP:
        emit_cmp_mem(j, size_bytes(insn->code), src, insn->off, insn[1].imm);
        return 0;
    case FUSE_LD16:
    case FUSE_CMP16: {
        /* The lower byte's load names the 16-bit field; the OR's
         * destination gets it. */
        const struct bpf_insn *lo = is_ldx_b(&insn[1]) &&
                                            insn[1].off < insn[0].off
                                        ? &insn[1]
                                    : is_ldx_b(&insn[2]) ? &insn[2]
                                                         : &insn[0];
        if (j->fuse[i] == FUSE_CMP16) {
            emit_cmp_mem(j, 2, reg_map[lo->src_reg], lo->off, insn[4].imm);
        } else {
            RM(j, false, 0x0fb7, reg_map[insn[3].dst_reg],
               reg_map[lo->src_reg], lo->off); /* movzx r32, word */
        }
        return 0;
    }
    case FUSE_TEST: {
        /* test size [src + off], the mask's bits inside the load. */
        int size = size_bytes(insn->code);
        uint32_t k = (uint32_t)insn[1].imm;
        emit_op(j, size == 2 ? 0x66 : 0, false, size == 1 ? 0xf6 : 0xf7, 0,
                src, true, insn->off, false);
        if (size == 1) {
            emit(j, (uint8_t)k);
        } else if (size == 2) {
            emit(j, (uint8_t)k);
            emit(j, (uint8_t)(k >> 8));
        } else {
            emit32(j, k);
        }
        return 0;
    }
    case FUSE_LEA:
        RM(j, true, 0x8d, dst, src, insn[1].imm); /* lea */
        return 0;
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
        if (j->mg[i].flags) {
            emit_merged_store(j, i);
            return 0;
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
                mark(j, XF_SEQ);
                mark_last(j, XF_CALL_FUNC, (uint32_t)t);
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
        if (j->fuse[i] == FUSE_JCC) {
            /* The compare is the load's (FUSE_CMP). */
        } else if (op == BPF_JSET) {
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
    j->n_marks = 0;
    j->needs_ctx = false;
    size_t call_end = j->leaf ? 0 : emit_trampoline(j);
    j->call_end = (uint32_t)call_end;
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
    if (!j->leaf) {
        /* The trampoline's call to insn 0's prologue. */
        uint32_t rel = j->nfstart[0] - (uint32_t)call_end;
        memcpy(j->buf + call_end - 4, &rel, 4);
    }
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

/* Leaf frames.  A program that makes no BPF-to-BPF call, no tail call and
 * no LD_ABS/LD_IND, outside raw mode, can never stop early and needs no run
 * state, so it needs neither the trampoline nor r12: C calls its insn 0
 * directly, like any C function, and its exits return to C.  Its prologue
 * saves only the callee-saved registers it uses (BPF's r6..r9 it writes,
 * rbp when it has a stack) and carves its 512-byte frame from the machine
 * stack only when it uses r10; rsp is kept 16-byte aligned at its calls.
 * The empty program is then "mov eax, 2; ret", as in C. */
static void
find_leaf(struct jit *j)
{
    static const uint8_t saved_order[] = {BPF_REG_6, BPF_REG_7, BPF_REG_8,
                                          BPF_REG_9, BPF_REG_10};
    bool calls = false, leaf = !j->raw && !j->main_called;
    uint16_t regs = 0;

    for (uint32_t i = 0; i < j->n; i++) {
        const struct bpf_insn *insn = &j->insns[i];
        uint8_t cls = BPF_CLASS(insn->code);
        uint16_t use, def;

        insn_regs(j, i, &use, &def);
        regs |= use | def;
        if (insn->code == (BPF_LD | BPF_DW | BPF_IMM)) {
            i++;
            continue;
        }
        if (cls == BPF_LD) {
            leaf = false; /* LD_ABS/LD_IND: may stop the run. */
        } else if (insn->code == (BPF_JMP | BPF_CALL)) {
            calls = true;
            if (insn->src_reg == BPF_PSEUDO_CALL ||
                insn->imm == BPF_FUNC_tail_call) {
                leaf = false;
            }
        }
    }
    if (!leaf) {
        return;
    }
    j->leaf = true;
    for (size_t k = 0; k < ARRAY_SIZE(saved_order); k++) {
        if ((regs >> saved_order[k]) & 1) {
            j->leaf_saved[j->n_leaf_saved++] = reg_map[saved_order[k]];
        }
    }
    j->leaf_stack = (regs >> BPF_REG_10) & 1;
    /* Entered with rsp = 8 (mod 16) by the call from C. */
    int32_t below = j->leaf_stack ? BPF_STACK_SIZE : 0;
    if (calls && (8 + 8 * j->n_leaf_saved + below) % 16) {
        below += 8;
    }
    j->leaf_frame = below;
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

/* ---- Instruction costs (bpf_prog_jit_costs()) ---- */

/* The index of the first mark at or after code offset 'off'. */
static size_t
mark_at(const struct jit *j, uint32_t off)
{
    size_t lo = 0, hi = j->n_marks;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (j->marks[mid].off < off) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/* Instructions in [from, to): for straight code such as prologues. */
static uint32_t
marks_between(const struct jit *j, uint32_t from, uint32_t to)
{
    return (uint32_t)(mark_at(j, to) - mark_at(j, from));
}

static uint16_t
clamp16(uint32_t v)
{
    return v > UINT16_MAX ? UINT16_MAX : (uint16_t)v;
}

/* The shortest and longest path through the code of insn i, from its body
 * to where control leaves it, in instructions.  Jumps inside the code go
 * forward (a retry loop's back edge is taken zero times), so one pass in
 * code order settles every mark.  'lo' and 'hi' are scratch, one slot per
 * mark; UINT32_MAX in 'lo' means not reached. */
static struct bpf_jit_cost
insn_cost(const struct jit *j, uint32_t i, uint32_t *lo, uint32_t *hi)
{
    size_t a = mark_at(j, j->body[i]), b = mark_at(j, j->end[i]);
    uint32_t best = UINT32_MAX, worst = 0;

    if (a == b) {
        return (struct bpf_jit_cost){0};
    }
    for (size_t k = a; k < b; k++) {
        lo[k] = UINT32_MAX;
        hi[k] = 0;
    }
    lo[a] = hi[a] = 0;
    for (size_t k = a; k < b; k++) {
        const struct x86_mark *m = &j->marks[k];
        if (lo[k] == UINT32_MAX) {
            continue;
        }
        uint32_t w = 1;
        if (m->flow == XF_CALL_FUNC) {
            w += marks_between(j, j->fstart[m->target], j->body[m->target]);
        }
        uint32_t l = lo[k] + w, h = hi[k] + w;
        size_t next[2];
        int n_next = 0;
        bool leaves = false;
        switch (m->flow) {
        case XF_JCC_IN:
            next[n_next++] = mark_at(j, m->target);
            next[n_next++] = k + 1;
            break;
        case XF_JMP_IN:
            next[n_next++] = mark_at(j, m->target);
            break;
        case XF_JMP_STOP:
        case XF_LEAVE:
            leaves = true;
            break;
        default:
            next[n_next++] = k + 1;
            break;
        }
        for (int e = 0; e < n_next; e++) {
            if (next[e] >= b) {
                leaves = true;
                continue;
            }
            lo[next[e]] = l < lo[next[e]] ? l : lo[next[e]];
            hi[next[e]] = h > hi[next[e]] ? h : hi[next[e]];
        }
        if (leaves) {
            best = l < best ? l : best;
            worst = h > worst ? h : worst;
        }
    }
    if (best == UINT32_MAX) {
        best = worst;
    }
    return (struct bpf_jit_cost){.x86_min = clamp16(best),
                                 .x86_max = clamp16(worst)};
}

/* Fills img->costs, img->prologue and img->epilogue from the final pass's
 * marks.  The prologue is the trampoline up to its call plus insn 0's
 * prologue; the epilogue is the trampoline after the call.  A BPF-to-BPF
 * call's cost includes its callee's prologue (which only calls run). */
static int
jit_costs(const struct jit *j, struct bpf_jit_image *img)
{
    uint32_t *lo = malloc(j->n_marks * sizeof *lo + 1);
    uint32_t *hi = malloc(j->n_marks * sizeof *hi + 1);

    img->costs = calloc(j->n, sizeof *img->costs);
    if (!lo || !hi || !img->costs) {
        free(lo);
        free(hi);
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < j->n; i++) {
        img->costs[i] = insn_cost(j, i, lo, hi);
        img->costs[i].inlined = j->inl[i];
    }
    img->prologue = marks_between(j, 0, j->call_end) +
                    marks_between(j, j->fstart[0], j->body[0]);
    img->epilogue = 0;
    /* A leaf's exits return to C themselves: nothing runs after them. */
    for (size_t k = mark_at(j, j->call_end); !j->leaf && k < j->n_marks;
         k++) {
        img->epilogue++;
        if (j->marks[k].flow == XF_LEAVE) {
            break;
        }
    }
    free(lo);
    free(hi);
    return 0;
}

static pthread_mutex_t jit_lock = PTHREAD_MUTEX_INITIALIZER;

static void
image_free(struct bpf_jit_image *img)
{
    if (img) {
        munmap(img->code, img->map_size);
        free(img->costs);
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
    j.mg = calloc(n1, sizeof *j.mg);
    j.inl = calloc(n1, sizeof *j.inl);
    j.fuse = calloc(n1, sizeof *j.fuse);
    j.tls_costs = tls_offset(&bpf_map_costs);
    j.tls_cpu = tls_offset(&bpf_cur_cpu);
    j.tls_time = tls_offset(&bpf_time_ns);
    j.tls_time_set = tls_offset(&bpf_time_set);
    j.block_cost = calloc(n1, sizeof *j.block_cost);
    if (!offs || !flags || !j.rot || !j.mg || !j.inl || !j.fuse ||
        !j.block_cost) {
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
    } else {
        uint16_t *live = calloc(n1, sizeof *live);
        if (!live) {
            err = -ENOMEM;
            goto out;
        }
        /* Removing an instruction can make what fed it dead too. */
        int found = 1;
        for (int round = 0; round < 8 && found == 1; round++) {
            found = find_dead(&j, live);
        }
        find_fusions(&j);
        if (found == 0) {
            find_load_fusions(&j, live);
            find_cmp_fusions(&j, live);
        }
        free(live);
        err = find_store_merges(&j);
        if (err) {
            goto out;
        }
    }
    find_leaf(&j);
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
    img->leaf = j.leaf;
    img->needs_ctx = j.needs_ctx;
    img->direct = j.leaf && !j.needs_ctx;
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
    err = jit_costs(&j, img);
    if (err) {
        image_free(img);
        img = NULL;
        goto out;
    }

out:
    if (err && errp) {
        *errp = j.err ? j.err : xstrdup(strerror(-err));
        j.err = NULL;
    }
    free(j.err);
    free(j.buf);
    free(j.marks);
    free(offs);
    free(flags);
    free(j.rot);
    free(j.mg);
    free(j.inl);
    free(j.fuse);
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

const struct bpf_jit_cost *
bpf_prog_jit_costs(const struct bpf_prog *prog, uint32_t *prologue,
                   uint32_t *epilogue)
{
    const struct bpf_jit_image *img =
        __atomic_load_n(&prog->jit, __ATOMIC_ACQUIRE);

    if (!img) {
        return NULL;
    }
    if (prologue) {
        *prologue = img->prologue;
    }
    if (epilogue) {
        *epilogue = img->epilogue;
    }
    return img->costs;
}

/* bpf_jit_enter(): BPF_JIT_ENTER_INSNS instructions, then the image's
 * trampoline, which returns to the caller. */
_Static_assert(offsetof(struct bpf_jit_enter_args, code) == 0 &&
                   offsetof(struct bpf_jit_enter_args, r1) == 8 &&
                   offsetof(struct bpf_jit_enter_args, r2) == 16 &&
                   offsetof(struct bpf_jit_enter_args, stop) == 24,
               "bpf_jit_enter's operands");
__asm__(".text\n"
        ".globl bpf_jit_enter\n"
        ".type bpf_jit_enter, @function\n"
        "bpf_jit_enter:\n"
        "\tmovq 24(%rdi), %rdx\n"
        "\tmovq 16(%rdi), %rsi\n"
        "\tmovq (%rdi), %rax\n"
        "\tmovq 8(%rdi), %rdi\n"
        "\tjmp *%rax\n"
        ".size bpf_jit_enter, . - bpf_jit_enter\n");

_Static_assert(RS_LEAF == 8, "bpf_jit_tail_leaf's operand");
__asm__(".text\n"
        ".globl bpf_jit_tail_leaf\n"
        ".type bpf_jit_tail_leaf, @function\n"
        "bpf_jit_tail_leaf:\n"
        "\tcall *8(%r12)\n"
        "\tpopq %rbp\n"
        "\tpopq %r15\n"
        "\tpopq %r14\n"
        "\tpopq %r13\n"
        "\tpopq %rbx\n"
        "\tret\n"
        ".size bpf_jit_tail_leaf, . - bpf_jit_tail_leaf\n");

#else /* !__x86_64__ */

const struct bpf_jit_cost *
bpf_prog_jit_costs(const struct bpf_prog *prog, uint32_t *prologue,
                   uint32_t *epilogue)
{
    return NULL;
}

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
