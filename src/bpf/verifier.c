/* The eBPF verifier: abstract interpretation of every path of a program.
 *
 * THE ABSTRACT DOMAIN.  At each instruction the verifier holds an abstract
 * state: for every frame of the BPF-to-BPF call stack, what each register
 * r0-r10 and each 8-byte slot of that frame's 512-byte stack may hold.  A
 * register is one of
 *   NOT_INIT          never written (reading it is an error);
 *   SCALAR            an integer, described by struct bpf_scalar: known bits
 *                     plus signed/unsigned 64- and 32-bit ranges
 *                     (verifier_scalar.c);
 *   PTR_TO_CTX        the struct xdp_md argument, plus a constant offset;
 *   PTR_TO_PACKET     packet data + fixed offset 'off' + a bounded variable
 *                     part; 'range' bytes past (data + variable part) are
 *                     proven to lie before data_end.  Copies made with the
 *                     same variable part share an 'id', so a bounds check
 *                     on one copy extends the range of all of them;
 *   PTR_TO_PACKET_END data_end, only good for comparisons;
 *   PTR_TO_PACKET_META data_meta, whose 'range' is proven against data;
 *   PTR_TO_STACK      frame number + offset (fixed and variable parts);
 *   PTR_TO_MAP_VALUE  a value of map 'map' (+ offset); the OR_NULL variant
 *                     ('maybe_null') comes from map_lookup_elem and becomes
 *                     a plain pointer -- in every register sharing its
 *                     'id' -- on the branch where it is compared != 0;
 *   CONST_PTR_TO_MAP  a map from LD_IMM64, only good as a helper argument;
 *   PTR_TO_MEM        a ringbuf record of 'range' bytes (OR_NULL from
 *                     ringbuf_reserve), which holds a reference that must
 *                     be released by submit or discard before exit.
 * A stack slot marks each of its 8 bytes INVALID (never written), MISC
 * (some scalar bytes), ZERO (known zero) or SPILL (the slot holds a whole
 * spilled register, kept with its full abstract value so a pointer
 * survives a spill and fill).
 *
 * THE WALK.  A structural pass checks every instruction's encoding, jump
 * targets and call targets, and a depth-first CFG pass finds unreachable
 * code and the "prune points" (jump targets, fall-through after a
 * conditional jump, returns from calls).  Then the walk interprets the
 * program from instruction 0, one path at a time; at a conditional jump
 * whose outcome the scalar domain cannot decide it pushes a copy of the
 * state for the other branch, each branch refined by what the comparison
 * proves (ranges, null checks, packet bounds).  A branch that cannot be
 * taken is never walked, so dead code after a decided comparison is fine.
 *
 * PRUNING.  At a prune point the current state is compared with the states
 * already seen there.  If it is contained in one whose exploration has
 * completed ('branches' == 0) -- every register and slot that was read
 * later (liveness, below) holds a subset of the values it held then, with
 * packet ranges at least as long and the same pointer kinds and
 * identities -- then everything after it was already proven safe and the
 * path stops.  If it is exactly equal to a state still being explored (an
 * ancestor on the current path), the program loops forever: rejected.
 * Otherwise the state is stored.  Loops are thus unrolled by the walk until
 * they exit; a loop whose bound the domain cannot see runs into the
 * 1,000,000 processed-instruction budget and is "too complex".
 *
 * LIVENESS.  Each stored state remembers which registers and slots were
 * read before being written by any path below it (kernel's REG_LIVE_READ):
 * a read marks the parent chain of stored states until one where the
 * location had been written.  Only read locations take part in the
 * containment test, which is what makes pruning effective.
 *
 * AFTER ACCEPTANCE ctx loads are rewritten from struct xdp_md's u32 fields
 * to struct bpf_xdp_buff's fields (kernel's convert_ctx_accesses), giving
 * prog->xlated, which the interpreter runs. */
#include "bpf/verifier.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bpf/bpf_api.h"
#include "core/util.h"

#ifndef BPF_MEMSX
#define BPF_MEMSX 0x80          /* Sign-extending load mode (RFC 9669). */
#endif

#define MAX_REGS 11
#define N_SLOTS (BPF_STACK_SIZE / 8)
#define MAX_VAR_OFF (1 << 29)   /* Kernel's BPF_MAX_VAR_OFF. */
#define MAX_PACKET_OFF 0xffff   /* Kernel's MAX_PACKET_OFF. */
#define MAX_REFS 16             /* Simultaneous ringbuf reservations. */
#define MAX_STATES_PER_INSN 4096 /* Stored states per prune point. */
#define MAX_OPEN_PER_INSN 64    /* Unfinished stored states per insn. */
#define MAX_SEGMENT 256         /* Insns between checkpoints once a prune
                                 * point has its fill of states. */

enum rtype {
    T_NOT_INIT,
    T_SCALAR,
    T_CTX,
    T_PKT,
    T_PKT_END,
    T_PKT_META,
    T_STACK,
    T_MAP_VALUE,
    T_MAP_PTR,
    T_MEM,
};

static const char *const rtype_names[] = {
    "uninitialised", "scalar", "ctx", "pkt", "pkt_end", "pkt_meta",
    "fp", "map_value", "map_ptr", "mem",
};

#define LIVE_READ 1             /* Read below this stored state. */
#define LIVE_WRITTEN 2          /* Written since the last stored state. */

struct vreg {
    struct bpf_scalar s;        /* Value (scalar) or variable offset. */
    uint8_t type;               /* enum rtype. */
    bool maybe_null;            /* OR_NULL variant of map value / mem. */
    uint8_t frameno;            /* T_STACK: frame the pointer points to. */
    uint8_t live;               /* LIVE_* flags. */
    bool precise;               /* Stored scalar whose exact range matters
                                 * below (see mark_precise()). */
    int32_t off;                /* Fixed offset of a pointer, bytes. */
    uint32_t id;                /* Packet/null/equal-scalar identity. */
    uint32_t ref_obj_id;        /* Reference held (ringbuf record). */
    uint32_t range;             /* T_PKT/META: proven bytes; T_MEM: size. */
    int32_t map;                /* Map index (map ptr / value). */
};

enum slot_kind { S_INVALID, S_MISC, S_ZERO, S_SPILL };

struct vslot {
    uint8_t kind[8];            /* enum slot_kind per byte (byte 0 = the
                                 * lowest address). */
    uint8_t live;               /* LIVE_* flags of the slot. */
    struct vreg spill;          /* Valid when every byte is S_SPILL. */
};

struct vframe {
    struct vreg regs[MAX_REGS];
    struct vslot stack[N_SLOTS];        /* stack[i] covers [-8(i+1), -8i). */
    int32_t callsite;           /* Call insn in the caller, -1 for main. */
};

struct vsl;

/* One executed instruction, for precision backtracking. */
struct hent {
    uint32_t idx;               /* Instruction index. */
    uint8_t frame;              /* Frame it ran in. */
    uint8_t sframe;             /* Frame of the stack slot (if spi >= 0). */
    int8_t spi;                 /* Whole stack slot spilled or filled, or
                                 * -1. */
};

struct vstate {
    struct vframe *frames[BPF_MAX_CALL_DEPTH];
    int curframe;               /* Index of the innermost frame. */
    uint32_t refs[MAX_REFS];    /* Held reference ids. */
    int n_refs;
    uint32_t insn_idx;          /* Next instruction to run. */
    struct vsl *parent;         /* Last stored state on this path. */
    struct hent *hist;          /* Instructions run since 'parent'. */
    uint32_t n_hist, cap_hist;
};

/* A stored state at a prune point. */
struct vsl {
    struct vsl *next;           /* Same instruction. */
    struct vsl *parent;         /* Stored ancestor. */
    uint32_t branches;          /* Paths below still being explored. */
    uint32_t hits, misses;      /* Pruning successes and failures. */
    uint64_t fingerprint;       /* state_fingerprint() of 'st'. */
    struct vstate st;
};

/* Per-instruction facts. */
struct insn_aux {
    bool prune;                 /* Prune point. */
    bool ldimm_hi;              /* Second half of an LD_IMM64. */
    int8_t ctx_field;           /* -1, or offsetof(xdp_md) of a ctx load. */
    int32_t ctx_base_off;       /* Base pointer's fixed offset. */
    uint8_t ptr_kind;           /* 0 unset, 1 ctx, 2 other memory. */
};

struct env {
    struct bpf_prog *prog;
    bool writes_packet;         /* Some path stores into the packet. */
    const struct bpf_insn *insns;
    uint32_t n;
    bool raw;
    struct insn_aux *aux;
    int32_t *subprog_of;        /* Start index of each insn's subprog. */
    struct vsl **explored;      /* Per insn. */
    struct vsl *unlisted;       /* Checkpoints not used for pruning. */
    uint32_t *n_explored;       /* Per insn. */
    struct vstate *cur;
    struct vstate *stack;       /* Pending branches. */
    size_t n_stack, cap_stack;
    uint32_t id_gen;
    uint64_t processed;
    uint64_t n_states;
    uint32_t max_stack;         /* Bytes. */
    int8_t hist_spi;            /* Slot of the current insn's spill/fill. */
    uint8_t hist_sframe;
    int err;                    /* enum bpf_verr. */
    uint32_t err_insn;
    char *msg;
};

/* ---- Errors ------------------------------------------------------------ */

static const char *const verr_names[] = {
#define BPF_VERR_NAME(NAME, TEXT) #NAME,
    BPF_VERR_LIST(BPF_VERR_NAME)
#undef BPF_VERR_NAME
};

static const char *const verr_texts[] = {
#define BPF_VERR_TEXT(NAME, TEXT) TEXT,
    BPF_VERR_LIST(BPF_VERR_TEXT)
#undef BPF_VERR_TEXT
};

const char *
bpf_verr_name(int reason)
{
    return reason >= 0 && reason < BPF_VERR_N ? verr_names[reason] : "?";
}

const char *
bpf_verr_text(int reason)
{
    return reason >= 0 && reason < BPF_VERR_N ? verr_texts[reason] : "?";
}

int
bpf_verr_from_name(const char *name)
{
    for (int i = 0; i < BPF_VERR_N; i++) {
        if (!strcmp(name, verr_names[i])) {
            return i;
        }
    }
    return -1;
}

/* Records the first error: 'code' at instruction 'idx', with details. */
static int PRINTF_FORMAT(4, 5)
verr(struct env *env, int code, uint32_t idx, const char *fmt, ...)
{
    if (env->err) {
        return -EINVAL;
    }
    env->err = code;
    env->err_insn = idx;
    char *detail = NULL;
    if (fmt) {
        va_list args;
        va_start(args, fmt);
        detail = xvasprintf(fmt, args);
        va_end(args);
    }
    env->msg = xasprintf("%s at insn %u%s%s", bpf_verr_text(code), idx,
                         detail ? ": " : "", detail ? detail : "");
    free(detail);
    return -EINVAL;
}

/* ---- Structural checks ------------------------------------------------- */

static bool
is_ldimm64(const struct bpf_insn *i)
{
    return i->code == (BPF_LD | BPF_IMM | BPF_DW);
}

/* Jump target of a jump instruction at 'idx'. */
static int64_t
jmp_target(const struct bpf_insn *i, uint32_t idx)
{
    if (BPF_CLASS(i->code) == BPF_JMP32 && BPF_OP(i->code) == BPF_JA) {
        return (int64_t) idx + i->imm + 1;
    }
    return (int64_t) idx + i->off + 1;
}

static bool
is_pseudo_call(const struct bpf_insn *i)
{
    return i->code == (BPF_JMP | BPF_CALL) && i->src_reg == BPF_PSEUDO_CALL;
}

static int
check_alu_encoding(struct env *env, const struct bpf_insn *i, uint32_t idx)
{
    uint8_t op = BPF_OP(i->code);
    bool x = BPF_SRC(i->code) == BPF_X;
    bool alu64 = BPF_CLASS(i->code) == BPF_ALU64;

    if (op > BPF_END) {
        return verr(env, BPF_VERR_BAD_OPCODE, idx, "opcode 0x%02x", i->code);
    }
    if (op == BPF_END) {
        if (i->src_reg || i->off || (alu64 && x)
            || (i->imm != 16 && i->imm != 32 && i->imm != 64)) {
            return verr(env, BPF_VERR_RESERVED_FIELD, idx,
                        "byte swap needs imm 16/32/64");
        }
        return 0;
    }
    if (op == BPF_NEG) {
        if (x || i->src_reg || i->off || i->imm) {
            return verr(env, BPF_VERR_RESERVED_FIELD, idx, "neg");
        }
        return 0;
    }
    if (x ? i->imm != 0 : i->src_reg != 0) {
        return verr(env, BPF_VERR_RESERVED_FIELD, idx,
                    x ? "imm must be 0" : "src_reg must be 0");
    }
    if (i->off) {
        bool ok = false;
        if ((op == BPF_DIV || op == BPF_MOD) && i->off == 1) {
            ok = true;
        } else if (op == BPF_MOV && x
                   && (i->off == 8 || i->off == 16
                       || (alu64 && i->off == 32))) {
            ok = true;
        }
        if (!ok) {
            return verr(env, BPF_VERR_RESERVED_FIELD, idx,
                        "offset must be 0");
        }
    }
    if (!env->raw && !x
        && (op == BPF_LSH || op == BPF_RSH || op == BPF_ARSH)
        && (i->imm < 0 || i->imm >= (alu64 ? 64 : 32))) {
        return verr(env, BPF_VERR_BAD_SHIFT, idx, "shift by %d", i->imm);
    }
    return 0;
}

static int
check_insn_encoding(struct env *env, uint32_t idx)
{
    const struct bpf_insn *i = &env->insns[idx];
    uint8_t cls = BPF_CLASS(i->code);
    uint8_t size = BPF_SIZE(i->code);
    uint8_t mode = BPF_MODE(i->code);

    if (i->dst_reg >= MAX_REGS || i->src_reg >= MAX_REGS) {
        return verr(env, BPF_VERR_BAD_REG, idx, "r%u",
                    i->dst_reg >= MAX_REGS ? i->dst_reg : i->src_reg);
    }
    switch (cls) {
    case BPF_LD:
        if (is_ldimm64(i)) {
            if (idx + 1 >= env->n) {
                return verr(env, BPF_VERR_BAD_LDIMM64, idx,
                            "second half missing");
            }
            const struct bpf_insn *h = &env->insns[idx + 1];
            if (h->code || h->dst_reg || h->src_reg || h->off || i->off) {
                return verr(env, BPF_VERR_BAD_LDIMM64, idx,
                            "reserved fields of the second half");
            }
            if (i->src_reg == BPF_PSEUDO_MAP_FD
                || i->src_reg == BPF_PSEUDO_MAP_VALUE) {
                if (i->imm < 0 || (uint32_t) i->imm >= env->prog->n_maps) {
                    return verr(env, BPF_VERR_BAD_MAP_REF, idx,
                                "map index %d of %u", i->imm,
                                env->prog->n_maps);
                }
            } else if (i->src_reg) {
                return verr(env, BPF_VERR_BAD_LDIMM64, idx,
                            "unsupported pseudo source %u", i->src_reg);
            }
            if (i->dst_reg == BPF_REG_10) {
                return verr(env, BPF_VERR_WRITE_R10, idx, NULL);
            }
            return 0;
        }
        if ((mode == BPF_ABS || mode == BPF_IND) && size != BPF_DW) {
            if (i->dst_reg || i->off || (mode == BPF_ABS && i->src_reg)) {
                return verr(env, BPF_VERR_RESERVED_FIELD, idx,
                            "LD_ABS/LD_IND fields");
            }
            return 0;
        }
        return verr(env, BPF_VERR_BAD_OPCODE, idx, "opcode 0x%02x", i->code);
    case BPF_LDX:
        if (mode != BPF_MEM && !(mode == BPF_MEMSX && size != BPF_DW)) {
            return verr(env, BPF_VERR_BAD_OPCODE, idx, "opcode 0x%02x",
                        i->code);
        }
        if (i->imm) {
            return verr(env, BPF_VERR_RESERVED_FIELD, idx, "imm must be 0");
        }
        if (i->dst_reg == BPF_REG_10) {
            return verr(env, BPF_VERR_WRITE_R10, idx, NULL);
        }
        return 0;
    case BPF_ST:
        if (mode != BPF_MEM) {
            return verr(env, BPF_VERR_BAD_OPCODE, idx, "opcode 0x%02x",
                        i->code);
        }
        if (i->src_reg) {
            return verr(env, BPF_VERR_RESERVED_FIELD, idx,
                        "src_reg must be 0");
        }
        return 0;
    case BPF_STX:
        if (mode == BPF_ATOMIC) {
            int32_t op = i->imm;
            bool ok = (size == BPF_W || size == BPF_DW)
                      && (op == BPF_ADD || op == BPF_AND || op == BPF_OR
                          || op == BPF_XOR || op == (BPF_ADD | BPF_FETCH)
                          || op == (BPF_AND | BPF_FETCH)
                          || op == (BPF_OR | BPF_FETCH)
                          || op == (BPF_XOR | BPF_FETCH) || op == BPF_XCHG
                          || op == BPF_CMPXCHG);
            if (!ok) {
                return verr(env, BPF_VERR_BAD_OPCODE, idx,
                            "atomic op 0x%x size %u", (unsigned) op, size);
            }
            return 0;
        }
        if (mode != BPF_MEM) {
            return verr(env, BPF_VERR_BAD_OPCODE, idx, "opcode 0x%02x",
                        i->code);
        }
        if (i->imm) {
            return verr(env, BPF_VERR_RESERVED_FIELD, idx, "imm must be 0");
        }
        return 0;
    case BPF_ALU:
    case BPF_ALU64:
        if (i->dst_reg == BPF_REG_10) {
            return verr(env, BPF_VERR_WRITE_R10, idx, NULL);
        }
        return check_alu_encoding(env, i, idx);
    case BPF_JMP:
    case BPF_JMP32: {
        uint8_t op = BPF_OP(i->code);
        if (op == BPF_JA) {
            if (BPF_SRC(i->code) || i->src_reg || i->dst_reg
                || (cls == BPF_JMP ? i->imm != 0 : i->off != 0)) {
                return verr(env, BPF_VERR_RESERVED_FIELD, idx, "ja");
            }
        } else if (op == BPF_CALL || op == BPF_EXIT) {
            if (cls == BPF_JMP32) {
                return verr(env, BPF_VERR_BAD_OPCODE, idx, "opcode 0x%02x",
                            i->code);
            }
            if (BPF_SRC(i->code) || i->dst_reg || i->off
                || (op == BPF_EXIT && (i->src_reg || i->imm))
                || (op == BPF_CALL && i->src_reg != 0
                    && i->src_reg != BPF_PSEUDO_CALL)) {
                return verr(env, BPF_VERR_RESERVED_FIELD, idx,
                            "call/exit fields");
            }
            if (op == BPF_CALL && !i->src_reg && !bpf_helper_proto(i->imm)) {
                return verr(env, BPF_VERR_HELPER_UNKNOWN, idx,
                            "unknown helper %d at insn %u", i->imm, idx);
            }
        } else if (op > BPF_JSLE) {
            return verr(env, BPF_VERR_BAD_OPCODE, idx, "opcode 0x%02x",
                        i->code);
        } else if (BPF_SRC(i->code) == BPF_X ? i->imm != 0
                                             : i->src_reg != 0) {
            return verr(env, BPF_VERR_RESERVED_FIELD, idx,
                        "conditional jump fields");
        }
        return 0;
    }
    default:
        return verr(env, BPF_VERR_BAD_OPCODE, idx, "opcode 0x%02x", i->code);
    }
}

/* Encoding, jump targets, subprograms, reachability and prune points. */
static int
check_structure(struct env *env)
{
    uint32_t n = env->n;
    for (uint32_t idx = 0; idx < n; idx++) {
        if (env->aux[idx].ldimm_hi) {
            continue;
        }
        if (check_insn_encoding(env, idx)) {
            return -EINVAL;
        }
        if (is_ldimm64(&env->insns[idx])) {
            env->aux[idx + 1].ldimm_hi = true;
        }
    }
    /* Subprogram starts: 0 and every BPF-to-BPF call target. */
    bool *start = xcalloc(n + 1, sizeof *start);
    start[0] = true;
    for (uint32_t idx = 0; idx < n; idx++) {
        const struct bpf_insn *i = &env->insns[idx];
        if (env->aux[idx].ldimm_hi) {
            continue;
        }
        uint8_t cls = BPF_CLASS(i->code);
        if (is_pseudo_call(i)) {
            int64_t t = (int64_t) idx + i->imm + 1;
            if (t < 0 || t >= n || env->aux[t].ldimm_hi) {
                free(start);
                return verr(env, BPF_VERR_BAD_CALL, idx, "target %lld",
                            (long long) t);
            }
            start[t] = true;
            env->aux[t].prune = true;
            if (idx + 1 < n) {
                env->aux[idx + 1].prune = true;
            }
        } else if ((cls == BPF_JMP || cls == BPF_JMP32)
                   && BPF_OP(i->code) != BPF_CALL
                   && BPF_OP(i->code) != BPF_EXIT) {
            int64_t t = jmp_target(i, idx);
            if (t < 0 || t >= n) {
                free(start);
                return verr(env, BPF_VERR_JMP_OUT_OF_RANGE, idx,
                            "target %lld", (long long) t);
            }
            if (env->aux[t].ldimm_hi) {
                free(start);
                return verr(env, BPF_VERR_JMP_INTO_LDIMM64, idx,
                            "target %lld", (long long) t);
            }
            env->aux[t].prune = true;
            if (BPF_OP(i->code) != BPF_JA && idx + 1 < n) {
                env->aux[idx + 1].prune = true;
            }
        }
    }
    int32_t cur_start = 0;
    for (uint32_t idx = 0; idx < n; idx++) {
        if (start[idx]) {
            cur_start = idx;
        }
        env->subprog_of[idx] = cur_start;
    }
    free(start);
    /* Jumps stay inside their subprogram; nothing falls into the next. */
    for (uint32_t idx = 0; idx < n; idx++) {
        const struct bpf_insn *i = &env->insns[idx];
        uint8_t cls = BPF_CLASS(i->code);
        if (env->aux[idx].ldimm_hi) {
            continue;
        }
        uint32_t next = idx + (is_ldimm64(i) ? 2 : 1);
        bool falls = !((cls == BPF_JMP || cls == BPF_JMP32)
                       && (BPF_OP(i->code) == BPF_EXIT
                           || BPF_OP(i->code) == BPF_JA));
        if ((cls == BPF_JMP || cls == BPF_JMP32)
            && BPF_OP(i->code) != BPF_CALL && BPF_OP(i->code) != BPF_EXIT) {
            int64_t t = jmp_target(i, idx);
            if (env->subprog_of[t] != env->subprog_of[idx]) {
                return verr(env, BPF_VERR_JMP_OUT_OF_RANGE, idx,
                            "jump to insn %lld leaves the function",
                            (long long) t);
            }
        }
        if (falls && (next >= n
                      || env->subprog_of[next] != env->subprog_of[idx])) {
            return verr(env, BPF_VERR_FALL_OFF_END, idx, NULL);
        }
    }
    /* Depth-first reachability from insn 0. */
    uint32_t *work = xmalloc(sizeof *work * (n + 1));
    bool *reached = xcalloc(n, sizeof *reached);
    size_t top = 0;
    work[top++] = 0;
    reached[0] = true;
    while (top) {
        uint32_t idx = work[--top];
        const struct bpf_insn *i = &env->insns[idx];
        uint8_t cls = BPF_CLASS(i->code);
        int64_t succ[2];
        int ns = 0;
        bool jmp = cls == BPF_JMP || cls == BPF_JMP32;
        if (jmp && BPF_OP(i->code) == BPF_EXIT) {
            ns = 0;
        } else if (jmp && BPF_OP(i->code) == BPF_JA) {
            succ[ns++] = jmp_target(i, idx);
        } else if (jmp && BPF_OP(i->code) == BPF_CALL) {
            succ[ns++] = idx + 1;
            if (is_pseudo_call(i)) {
                succ[ns++] = (int64_t) idx + i->imm + 1;
            }
        } else if (jmp) {
            succ[ns++] = idx + 1;
            succ[ns++] = jmp_target(i, idx);
        } else {
            succ[ns++] = idx + (is_ldimm64(i) ? 2 : 1);
        }
        for (int k = 0; k < ns; k++) {
            if (succ[k] < n && !reached[succ[k]]) {
                reached[succ[k]] = true;
                work[top++] = succ[k];
            }
        }
    }
    int rc = 0;
    if (!env->raw) {
        for (uint32_t idx = 0; idx < n; idx++) {
            if (!reached[idx] && !env->aux[idx].ldimm_hi) {
                rc = verr(env, BPF_VERR_UNREACHABLE, idx, NULL);
                break;
            }
        }
    }
    free(work);
    free(reached);
    return rc;
}

/* ---- States ------------------------------------------------------------ */

/* Forgets all about 'r' but its liveness and gives it 'type'. */
static void
mark_reset(struct vreg *r, enum rtype type)
{
    uint8_t live = r->live;
    memset(r, 0, sizeof *r);
    r->type = type;
    r->live = live;
    bpf_scalar_unknown(&r->s);
}

static void
mark_not_init(struct vreg *r)
{
    mark_reset(r, T_NOT_INIT);
}

static void
mark_unknown(struct vreg *r)
{
    mark_reset(r, T_SCALAR);
}

static void
mark_const(struct vreg *r, uint64_t v)
{
    mark_unknown(r);
    bpf_scalar_const(&r->s, v);
}

/* A pointer of 'type' with offset 0 and no variable part. */
static void
mark_ptr(struct vreg *r, enum rtype type)
{
    mark_unknown(r);
    r->type = type;
    bpf_scalar_const(&r->s, 0);
}

static bool
is_ptr(const struct vreg *r)
{
    return r->type != T_NOT_INIT && r->type != T_SCALAR;
}

/* Whether two pointers point into one region, so their difference is a
 * length rather than an address: the packet (with its end and metadata),
 * one stack frame, or one map's value. */
static bool
same_region(const struct vreg *a, const struct vreg *b)
{
    bool a_pkt = a->type == T_PKT || a->type == T_PKT_END
                 || a->type == T_PKT_META;
    bool b_pkt = b->type == T_PKT || b->type == T_PKT_END
                 || b->type == T_PKT_META;
    if (a_pkt || b_pkt) {
        return a_pkt && b_pkt;
    }
    if (a->type != b->type || a->maybe_null || b->maybe_null) {
        return false;
    }
    switch (a->type) {
    case T_STACK:
        return a->frameno == b->frameno;
    case T_MAP_VALUE:
        return a->map == b->map;
    default:
        return false;
    }
}

static struct vframe *
frame_new(int32_t callsite)
{
    struct vframe *f = xzalloc(sizeof *f);
    for (int r = 0; r < MAX_REGS; r++) {
        mark_not_init(&f->regs[r]);
    }
    f->callsite = callsite;
    return f;
}

static void
state_copy(struct vstate *dst, const struct vstate *src)
{
    *dst = *src;
    for (int f = 0; f <= src->curframe; f++) {
        dst->frames[f] = xmalloc(sizeof *dst->frames[f]);
        memcpy(dst->frames[f], src->frames[f], sizeof *dst->frames[f]);
    }
    for (int f = src->curframe + 1; f < BPF_MAX_CALL_DEPTH; f++) {
        dst->frames[f] = NULL;
    }
    dst->hist = NULL;
    dst->cap_hist = dst->n_hist = src->n_hist;
    if (src->n_hist) {
        dst->hist = xmalloc(src->n_hist * sizeof *dst->hist);
        memcpy(dst->hist, src->hist, src->n_hist * sizeof *dst->hist);
    }
}

static void
state_free(struct vstate *st)
{
    for (int f = 0; f < BPF_MAX_CALL_DEPTH; f++) {
        free(st->frames[f]);
        st->frames[f] = NULL;
    }
    free(st->hist);
    st->hist = NULL;
    st->n_hist = st->cap_hist = 0;
}

static struct vframe *
curf(struct env *env)
{
    return env->cur->frames[env->cur->curframe];
}

/* Calls 'fn' on every register and spilled register of 'st'. */
#define FOR_EACH_REG(st, r, BODY)                                         \
    for (int f_ = 0; f_ <= (st)->curframe; f_++) {                        \
        struct vframe *fr_ = (st)->frames[f_];                            \
        for (int i_ = 0; i_ < MAX_REGS; i_++) {                           \
            struct vreg *r = &fr_->regs[i_];                              \
            BODY                                                          \
        }                                                                 \
        for (int i_ = 0; i_ < N_SLOTS; i_++) {                            \
            if (fr_->stack[i_].kind[0] == S_SPILL) {                      \
                struct vreg *r = &fr_->stack[i_].spill;                   \
                BODY                                                      \
            }                                                             \
        }                                                                 \
    }

/* Number of leading bytes of 'slot' holding its spilled register. */
static int
spill_len(const struct vslot *slot)
{
    int n = 0;
    while (n < 8 && slot->kind[n] == S_SPILL) {
        n++;
    }
    return n;
}

/* Forgets the register spilled in 'slot'; its bytes stay initialised. */
static void
unspill(struct vslot *slot)
{
    for (int b = 0; b < 8; b++) {
        if (slot->kind[b] == S_SPILL) {
            slot->kind[b] = S_MISC;
        }
    }
}

/* ---- Liveness ---------------------------------------------------------- */

/* The liveness flags of register 'idx' (or, when 'slot', stack slot 'idx')
 * of frame 'frame' in 'st'. */
static uint8_t *
live_flags(const struct vstate *st, int frame, bool slot, int idx)
{
    return slot ? &st->frames[frame]->stack[idx].live
                : &st->frames[frame]->regs[idx].live;
}

/* Propagates a read of a register or stack slot up the parent states until
 * one wrote it (or already knows it is read), so that pruning compares it. */
static void
mark_read(struct env *env, int frame, bool slot, int idx)
{
    struct vstate *cur = env->cur;
    if (*live_flags(cur, frame, slot, idx) & LIVE_WRITTEN) {
        return;
    }
    for (struct vsl *p = cur->parent; p; p = p->parent) {
        if (p->st.curframe < frame) {
            break;
        }
        uint8_t *live = live_flags(&p->st, frame, slot, idx);
        if (*live & LIVE_READ) {
            break;
        }
        *live |= LIVE_READ;
        if (*live & LIVE_WRITTEN) {
            break;
        }
    }
}

static void
mark_reg_read(struct env *env, int frame, int regno)
{
    mark_read(env, frame, false, regno);
}

static void
mark_slot_read(struct env *env, int frame, int spi)
{
    mark_read(env, frame, true, spi);
}

static void
clear_written(struct vstate *st)
{
    for (int f = 0; f <= st->curframe; f++) {
        for (int r = 0; r < MAX_REGS; r++) {
            st->frames[f]->regs[r].live = 0;
        }
        for (int s = 0; s < N_SLOTS; s++) {
            st->frames[f]->stack[s].live = 0;
        }
    }
}

/* Reads register 'regno' of the current frame: must be initialised. */
static int
read_reg(struct env *env, int regno, uint32_t idx)
{
    struct vreg *r = &curf(env)->regs[regno];
    if (r->type == T_NOT_INIT) {
        return verr(env, BPF_VERR_UNINIT_REG, idx, "r%d !read_ok", regno);
    }
    mark_reg_read(env, env->cur->curframe, regno);
    return 0;
}

static struct vreg *
write_reg(struct env *env, int regno)
{
    struct vreg *r = &curf(env)->regs[regno];
    r->live |= LIVE_WRITTEN;
    return r;
}

/* ---- Pruning ----------------------------------------------------------- */

struct idmap {
    uint32_t old[64], cur[64];
    int n;
};

/* Old id 'o' must always correspond to current id 'c': values linked in
 * the old state must be linked in the current one.  Linking more values
 * than the old state did only gives the current state more knowledge, so
 * the map need not be one-to-one -- except for references ('bijective'),
 * which must be released one by one. */
static bool
check_ids_map(struct idmap *m, uint32_t o, uint32_t c, bool bijective)
{
    if (!o) {
        return true;
    }
    if (!c) {
        return false;
    }
    for (int i = 0; i < m->n; i++) {
        if (m->old[i] == o) {
            return m->cur[i] == c;
        }
        if (bijective && m->cur[i] == c) {
            return false;
        }
    }
    if (m->n == 64) {
        return false;
    }
    m->old[m->n] = o;
    m->cur[m->n++] = c;
    return true;
}

static bool
check_ids(struct idmap *m, uint32_t o, uint32_t c)
{
    return check_ids_map(m, o, c, false);
}

static bool
regsafe(const struct vreg *o, const struct vreg *c, struct idmap *m)
{
    if (o->type == T_NOT_INIT) {
        return true;
    }
    if (o->type != c->type) {
        return false;
    }
    switch (o->type) {
    case T_SCALAR:
        if (o->id && !check_ids(m, o->id, c->id)) {
            return false;
        }
        /* Nothing below depended on the exact value: any scalar will do. */
        return !o->precise || bpf_scalar_within(&o->s, &c->s);
    case T_PKT:
    case T_PKT_META:
        /* Id 0 is a group too (fresh pointers): shift it. */
        return o->off == c->off && o->range <= c->range
               && check_ids(m, o->id + 1, c->id + 1)
               && bpf_scalar_within(&o->s, &c->s);
    case T_MAP_VALUE:
    case T_MEM:
        return o->maybe_null == c->maybe_null && o->map == c->map
               && o->off == c->off && o->range == c->range
               && (!o->maybe_null || check_ids(m, o->id, c->id))
               && check_ids_map(m, o->ref_obj_id, c->ref_obj_id, true)
               && (o->ref_obj_id || !c->ref_obj_id)
               && bpf_scalar_within(&o->s, &c->s);
    case T_STACK:
        return o->frameno == c->frameno && o->off == c->off
               && bpf_scalar_within(&o->s, &c->s);
    case T_CTX:
        return o->off == c->off && bpf_scalar_within(&o->s, &c->s);
    case T_MAP_PTR:
        return o->map == c->map;
    default:
        return true;
    }
}

static bool
scalar_is_unknown(const struct bpf_scalar *s)
{
    struct bpf_scalar u;
    bpf_scalar_unknown(&u);
    return !memcmp(s, &u, sizeof u);
}

static bool
stacksafe(const struct vframe *o, const struct vframe *c, struct idmap *m)
{
    for (int s = 0; s < N_SLOTS; s++) {
        const struct vslot *os = &o->stack[s], *cs = &c->stack[s];
        if (!(os->live & LIVE_READ)) {
            continue;
        }
        int olen = spill_len(os), start = 0;
        if (olen) {
            if (olen == spill_len(cs) && regsafe(&os->spill, &cs->spill, m)) {
                start = olen;
            } else if (os->spill.type != T_SCALAR || os->spill.id
                       || (os->spill.precise
                           && !scalar_is_unknown(&os->spill.s))) {
                return false;
            }
            /* Else an imprecise spilled scalar: as good as any
             * initialised bytes. */
        }
        for (int b = start; b < 8; b++) {
            uint8_t ok = os->kind[b], ck = cs->kind[b];
            if (ok == S_INVALID) {
                continue;
            }
            if (ok == S_MISC || ok == S_SPILL) {
                if (ck == S_INVALID) {
                    return false;
                }
                if (ck == S_SPILL && cs->spill.type != T_SCALAR) {
                    return false;
                }
                continue;
            }
            if (ok == S_ZERO && ck != S_ZERO) {
                return false;
            }
        }
    }
    return true;
}

static bool
states_safe(const struct vstate *o, const struct vstate *c)
{
    struct idmap m = { .n = 0 };
    if (o->curframe != c->curframe || o->n_refs != c->n_refs) {
        return false;
    }
    for (int i = 0; i < o->n_refs; i++) {
        if (!check_ids_map(&m, o->refs[i], c->refs[i], true)) {
            return false;
        }
    }
    for (int f = 0; f <= o->curframe; f++) {
        const struct vframe *of = o->frames[f], *cf = c->frames[f];
        if (of->callsite != cf->callsite) {
            return false;
        }
        for (int r = 0; r < MAX_REGS; r++) {
            if ((of->regs[r].live & LIVE_READ)
                && !regsafe(&of->regs[r], &cf->regs[r], &m)) {
                return false;
            }
        }
        if (!stacksafe(of, cf, &m)) {
            return false;
        }
    }
    return true;
}

static bool
reg_equal(const struct vreg *a, const struct vreg *b)
{
    if (a->type != b->type) {
        return false;
    }
    if (a->type == T_NOT_INIT) {
        return true;
    }
    return a->maybe_null == b->maybe_null && a->frameno == b->frameno
           && a->off == b->off && a->range == b->range && a->map == b->map
           && !memcmp(&a->s, &b->s, sizeof a->s);
}

/* Exact equality (ids aside): the walk came back to where it was. */
static bool
states_equal_exact(const struct vstate *o, const struct vstate *c)
{
    if (o->curframe != c->curframe || o->n_refs != c->n_refs) {
        return false;
    }
    for (int f = 0; f <= o->curframe; f++) {
        const struct vframe *of = o->frames[f], *cf = c->frames[f];
        if (of->callsite != cf->callsite) {
            return false;
        }
        for (int r = 0; r < MAX_REGS; r++) {
            if (!reg_equal(&of->regs[r], &cf->regs[r])) {
                return false;
            }
        }
        for (int s = 0; s < N_SLOTS; s++) {
            const struct vslot *os = &of->stack[s], *cs = &cf->stack[s];
            if (memcmp(os->kind, cs->kind, 8)) {
                return false;
            }
            if (os->kind[0] == S_SPILL && !reg_equal(&os->spill, &cs->spill)) {
                return false;
            }
        }
    }
    return true;
}

/* A hash of what states_equal_exact() compares in the innermost frame's
 * registers, so most comparisons with states on the current path (loop
 * detection) are one integer compare. */
static uint64_t
state_fingerprint(const struct vstate *st)
{
    const struct vframe *fr = st->frames[st->curframe];
    uint64_t h = 1469598103934665603ULL ^ (uint64_t) st->curframe;
    for (int r = 0; r < MAX_REGS; r++) {
        const struct vreg *v = &fr->regs[r];
        uint64_t x = v->type;
        if (v->type != T_NOT_INIT) {
            x = x * 31 + (uint64_t) v->off;
            x = x * 31 + v->s.umin;
            x = x * 31 + v->s.umax;
            x = x * 31 + (uint64_t) v->s.smin;
            x = x * 31 + v->s.var_off.mask;
            x = x * 31 + v->s.var_off.value;
            x = x * 31 + v->range;
        }
        h = (h ^ x) * 1099511628211ULL;
    }
    return h;
}

/* A path ended: its stored ancestors may now be complete. */
static void
update_branch_counts(struct vsl *p)
{
    while (p) {
        if (--p->branches) {
            break;
        }
        p = p->parent;
    }
}

/* Marks in 'cur' what was read after the old state 'o'. */
static void
propagate_liveness(struct env *env, const struct vstate *o)
{
    for (int f = 0; f <= o->curframe; f++) {
        for (int r = 0; r < MAX_REGS; r++) {
            if (o->frames[f]->regs[r].live & LIVE_READ) {
                mark_reg_read(env, f, r);
            }
        }
        for (int s = 0; s < N_SLOTS; s++) {
            if (o->frames[f]->stack[s].live & LIVE_READ) {
                mark_slot_read(env, f, s);
            }
        }
    }
}

/* ---- Precision ---------------------------------------------------------
 *
 * A scalar in a stored state is "precise" when some path below it used
 * its exact range: as a pointer offset, a helper's size, or in a branch the
 * walk decided from it.  Only precise scalars are compared by range when
 * pruning; an imprecise one matches any scalar.  A use marks the register
 * precise in the stored states above it by walking the recorded
 * instructions backwards (the kernel's mark_chain_precision): a MOV moves
 * the demand to its source, a fill to its stack slot, a spill back to the
 * spilled register, an ALU op with a register source adds that source. */

struct bt {
    uint16_t regs[BPF_MAX_CALL_DEPTH];  /* Demanded registers per frame. */
    uint64_t slots[BPF_MAX_CALL_DEPTH]; /* Demanded stack slots. */
};

static bool
bt_empty(const struct bt *b)
{
    for (int f = 0; f < BPF_MAX_CALL_DEPTH; f++) {
        if (b->regs[f] || b->slots[f]) {
            return false;
        }
    }
    return true;
}

/* Undoes one instruction: which values before it the demanded values
 * after it came from. */
static void
backtrack_insn(struct env *env, const struct hent *h, struct bt *b)
{
    const struct bpf_insn *i = &env->insns[h->idx];
    int f = h->frame;
    uint16_t *regs = &b->regs[f];
    uint8_t cls = BPF_CLASS(i->code), op = BPF_OP(i->code);
    uint16_t dbit = (uint16_t) (1u << i->dst_reg);
    uint16_t sbit = (uint16_t) (1u << i->src_reg);
    bool x = BPF_SRC(i->code) == BPF_X;
    uint64_t slot = h->spi >= 0 ? 1ULL << h->spi : 0;

    switch (cls) {
    case BPF_ALU:
    case BPF_ALU64:
        if (!(*regs & dbit)) {
            return;
        }
        if (op == BPF_MOV) {
            *regs &= (uint16_t) ~dbit;
            if (x) {
                *regs |= sbit;
            }
        } else if (x && op != BPF_END && op != BPF_NEG) {
            *regs |= sbit;
        }
        return;
    case BPF_LDX:
        if (*regs & dbit) {
            *regs &= (uint16_t) ~dbit;
            b->slots[h->sframe] |= slot;
        }
        return;
    case BPF_ST:
        b->slots[h->sframe] &= ~slot;
        return;
    case BPF_STX:
        if (BPF_MODE(i->code) == BPF_ATOMIC) {
            b->slots[h->sframe] &= ~slot;
            if (i->imm == BPF_CMPXCHG) {
                *regs &= (uint16_t) ~1u;
            } else if (i->imm & BPF_FETCH) {
                *regs &= (uint16_t) ~sbit;
            }
        } else if (b->slots[h->sframe] & slot) {
            b->slots[h->sframe] &= ~slot;
            *regs |= sbit;
        }
        return;
    case BPF_LD:
        *regs &= (uint16_t) ~(is_ldimm64(i) ? dbit : 0x3fu);
        return;
    default:
        break;
    }
    if (op == BPF_CALL) {
        if (i->src_reg == BPF_PSEUDO_CALL && f + 1 < BPF_MAX_CALL_DEPTH) {
            /* Arguments came from the caller's r1-r5. */
            *regs |= b->regs[f + 1] & 0x3eu;
            b->regs[f + 1] = 0;
            b->slots[f + 1] = 0;
        } else {
            *regs &= (uint16_t) ~0x3fu;
        }
    } else if (op == BPF_EXIT) {
        if (f > 0) {
            /* The caller's r0 is the callee's. */
            if (b->regs[f - 1] & 1u) {
                *regs |= 1u;
            }
            b->regs[f - 1] &= (uint16_t) ~0x3fu;
        }
    } else if (op != BPF_JA && x && (*regs & (dbit | sbit))) {
        /* Each side's range came from the other's. */
        *regs |= dbit | sbit;
    }
}

/* Marks the demanded values precise in every stored state above 'st'. */
static void
mark_precise_bt(struct env *env, struct bt *b)
{
    const struct vstate *st = env->cur;
    const struct hent *hist = st->hist;
    uint32_t n = st->n_hist;
    struct vsl *p = st->parent;
    for (;;) {
        while (n--) {
            backtrack_insn(env, &hist[n], b);
            if (bt_empty(b)) {
                return;
            }
        }
        if (!p) {
            return;
        }
        for (int f = 0; f < BPF_MAX_CALL_DEPTH; f++) {
            if (f > p->st.curframe) {
                b->regs[f] = 0;
                b->slots[f] = 0;
                continue;
            }
            struct vframe *fr = p->st.frames[f];
            for (int r = 0; r < MAX_REGS; r++) {
                if (!(b->regs[f] & (1u << r))) {
                    continue;
                }
                struct vreg *v = &fr->regs[r];
                if (v->type != T_SCALAR || v->precise) {
                    b->regs[f] &= (uint16_t) ~(1u << r);
                } else {
                    v->precise = true;
                }
            }
            for (int sp = 0; sp < N_SLOTS; sp++) {
                if (!(b->slots[f] & (1ULL << sp))) {
                    continue;
                }
                struct vslot *sl = &fr->stack[sp];
                if (sl->kind[0] != S_SPILL || sl->spill.type != T_SCALAR
                    || sl->spill.precise) {
                    b->slots[f] &= ~(1ULL << sp);
                } else {
                    sl->spill.precise = true;
                }
            }
        }
        if (bt_empty(b)) {
            return;
        }
        hist = p->st.hist;
        n = p->st.n_hist;
        p = p->parent;
    }
}

/* The exact ranges of registers 'r1' and 'r2' (current frame; -1 for
 * none) matter. */
static void
mark_precise2(struct env *env, int r1, int r2)
{
    struct bt b;
    memset(&b, 0, sizeof b);
    uint16_t *regs = &b.regs[env->cur->curframe];
    if (r1 >= 0 && curf(env)->regs[r1].type == T_SCALAR) {
        *regs |= (uint16_t) (1u << r1);
    }
    if (r2 >= 0 && curf(env)->regs[r2].type == T_SCALAR) {
        *regs |= (uint16_t) (1u << r2);
    }
    if (*regs) {
        mark_precise_bt(env, &b);
    }
}

static void
mark_precise(struct env *env, int regno)
{
    mark_precise2(env, regno, -1);
}

/* The current path was pruned by 'o': what was precise below 'o' is
 * precise below the current state too. */
static void
propagate_precision(struct env *env, const struct vstate *o)
{
    struct bt b;
    memset(&b, 0, sizeof b);
    for (int f = 0; f <= o->curframe; f++) {
        for (int r = 0; r < MAX_REGS; r++) {
            const struct vreg *v = &o->frames[f]->regs[r];
            if (v->type == T_SCALAR && v->precise) {
                b.regs[f] |= (uint16_t) (1u << r);
            }
        }
        for (int sp = 0; sp < N_SLOTS; sp++) {
            const struct vslot *sl = &o->frames[f]->stack[sp];
            if (sl->kind[0] == S_SPILL && sl->spill.type == T_SCALAR
                && sl->spill.precise) {
                b.slots[f] |= 1ULL << sp;
            }
        }
    }
    if (!bt_empty(&b)) {
        mark_precise_bt(env, &b);
    }
}

/* Returns 1 to prune the current path, 0 to go on, <0 on rejection. */
static int
is_state_visited(struct env *env, uint32_t idx)
{
    struct vstate *cur = env->cur;
    struct vsl **link = &env->explored[idx];
    uint64_t fp = state_fingerprint(cur);
    int n_open = 0;
    while (*link) {
        struct vsl *sl = *link;
        if (sl->branches) {
            n_open++;
            if (sl->fingerprint == fp && states_equal_exact(&sl->st, cur)) {
                return verr(env, BPF_VERR_LOOP_UNBOUNDED, idx,
                            "the state at insn %u repeats", idx);
            }
            link = &sl->next;
            continue;
        }
        if (states_safe(&sl->st, cur)) {
            sl->hits++;
            propagate_liveness(env, &sl->st);
            propagate_precision(env, &sl->st);
            return 1;
        }
        /* A complete state that keeps failing to prune is dropped, like
         * the kernel's miss_cnt heuristic: nothing follows pointers to
         * complete states. */
        if (++sl->misses > sl->hits * 16 + 16) {
            *link = sl->next;
            env->n_explored[idx]--;
            state_free(&sl->st);
            free(sl);
            continue;
        }
        link = &sl->next;
    }
    /* Many states still open here means a loop being unrolled: its
     * iterations differ and will not prune one another, so store fewer. */
    bool listed = env->n_explored[idx] < MAX_STATES_PER_INSN
                  && n_open < MAX_OPEN_PER_INSN;
    if (!listed && cur->n_hist < MAX_SEGMENT) {
        return 0;
    }
    /* A checkpoint that is not listed is never compared against: it only
     * bounds the instruction history that precision backtracking walks. */
    struct vsl *sl = xzalloc(sizeof *sl);
    state_copy(&sl->st, cur);
    for (int f = 0; f <= sl->st.curframe; f++) {
        for (int r = 0; r < MAX_REGS; r++) {
            sl->st.frames[f]->regs[r].live &= LIVE_WRITTEN;
        }
        for (int s = 0; s < N_SLOTS; s++) {
            sl->st.frames[f]->stack[s].live &= LIVE_WRITTEN;
        }
    }
    sl->parent = cur->parent;
    sl->st.parent = cur->parent;
    sl->branches = 1;
    sl->fingerprint = fp;
    if (listed) {
        sl->next = env->explored[idx];
        env->explored[idx] = sl;
        env->n_explored[idx]++;
    } else {
        sl->next = env->unlisted;
        env->unlisted = sl;
    }
    env->n_states++;
    cur->parent = sl;
    cur->n_hist = 0;
    clear_written(cur);
    return 0;
}

/* Queues a copy of the current state to continue at 'idx'. */
static struct vstate *
push_state(struct env *env, uint32_t idx)
{
    if (env->n_stack == env->cap_stack) {
        env->cap_stack = env->cap_stack ? env->cap_stack * 2 : 16;
        env->stack = xrealloc(env->stack, env->cap_stack * sizeof *env->stack);
    }
    struct vstate *st = &env->stack[env->n_stack++];
    state_copy(st, env->cur);
    st->insn_idx = idx;
    if (st->parent) {
        st->parent->branches++;
    }
    return st;
}

/* ---- Memory access ----------------------------------------------------- */

static int
stack_depth_note(struct env *env, int64_t lowest)
{
    if (-lowest > (int64_t) env->max_stack) {
        env->max_stack = (uint32_t) -lowest;
    }
    return 0;
}

/* A scalar read of 'size' bytes: zero-extended unknown. */
static void
mark_loaded(struct vreg *dst, int size, bool sext)
{
    mark_unknown(dst);
    if (size < 8) {
        dst->s.umax = (1ULL << (size * 8)) - 1;
        dst->s.var_off.mask = dst->s.umax;
        bpf_scalar_sync(&dst->s);
        if (sext) {
            bpf_scalar_sext(&dst->s, size * 8);
        }
    }
}

static bool
reg_known_zero(const struct vreg *r)
{
    return r->type == T_SCALAR && bpf_scalar_is_const(&r->s)
           && r->s.var_off.value == 0;
}

/* Stack write at a fixed offset 'off' (negative) in frame 'fr'.  A whole
 * register stored at the start of a slot is spilled: 8-byte stores keep
 * any register, narrower stores keep a scalar (like the kernel's
 * save_register_state()), so counters kept in u32 stack variables keep
 * their bounds. */
static void
stack_write_fixed(struct vframe *fr, int64_t off, int size,
                  const struct vreg *val)
{
    int spi = (int) ((-off - 1) / 8);
    struct vslot *slot = &fr->stack[spi];
    int first = (int) (off + 8 * (spi + 1));
    if (size == 8) {
        slot->live |= LIVE_WRITTEN;
    }
    bool zero = val && reg_known_zero(val);
    if (val && first == 0
        && (size == 8 || (val->type == T_SCALAR && !zero))) {
        uint8_t old[8];
        memcpy(old, slot->kind, 8);
        for (int b = 0; b < 8; b++) {
            slot->kind[b] = b < size ? S_SPILL
                            : old[b] == S_INVALID ? S_INVALID : S_MISC;
        }
        slot->spill = *val;
        slot->spill.live = 0;
        return;
    }
    unspill(slot);
    for (int b = first; b < first + size; b++) {
        slot->kind[b] = zero ? S_ZERO : S_MISC;
    }
}

/* Stack read at fixed offset; fills 'dst' (may be NULL for helper reads). */
static int
stack_read_fixed(struct env *env, int frameno, int64_t off, int size,
                 struct vreg *dst, bool sext, uint32_t idx)
{
    struct vframe *fr = env->cur->frames[frameno];
    int spi = (int) ((-off - 1) / 8);
    struct vslot *slot = &fr->stack[spi];
    mark_slot_read(env, frameno, spi);
    int first = (int) (off + 8 * (spi + 1));
    if (slot->kind[0] == S_SPILL && first == 0 && spill_len(slot) == size) {
        if (dst) {
            uint8_t live = dst->live;
            *dst = slot->spill;
            dst->live = live;
            dst->precise = false;
            if (sext && size < 8) {
                dst->id = 0;
                bpf_scalar_sext(&dst->s, size * 8);
            }
        }
        return 0;
    }
    if (slot->kind[0] == S_SPILL && first < spill_len(slot)) {
        for (int b = first; b < first + size; b++) {
            if (slot->kind[b] == S_INVALID) {
                return verr(env, BPF_VERR_UNINIT_STACK, idx,
                            "fp%+lld size %d", (long long) off, size);
            }
        }
        if (slot->spill.type != T_SCALAR) {
            return verr(env, BPF_VERR_PARTIAL_PTR, idx,
                        "%d-byte read of a spilled %s at fp%+lld", size,
                        rtype_names[slot->spill.type], (long long) off);
        }
        if (dst) {
            if (reg_known_zero(&slot->spill)) {
                mark_const(dst, 0);
            } else {
                mark_loaded(dst, size, sext);
            }
        }
        return 0;
    }
    bool zero = true;
    for (int b = first; b < first + size; b++) {
        if (slot->kind[b] == S_INVALID) {
            return verr(env, BPF_VERR_UNINIT_STACK, idx,
                        "fp%+lld size %d", (long long) off, size);
        }
        zero &= slot->kind[b] == S_ZERO;
    }
    if (dst) {
        if (zero) {
            mark_const(dst, 0);
        } else {
            mark_loaded(dst, size, sext);
        }
    }
    return 0;
}

/* Checks a stack access through pointer 'ptr' + 'off' of 'size' bytes.
 * 'val' is the stored value (write) or NULL; 'dst' gets the loaded value
 * (read) or is NULL.  For helper memory arguments 'size' may exceed 8
 * ('helper'), in which case alignment is not required. */
static int
check_stack_access(struct env *env, const struct vreg *ptr, int32_t off,
                   int size, bool write, const struct vreg *val,
                   struct vreg *dst, bool sext, bool helper, uint32_t idx)
{
    int frameno = ptr->frameno;
    struct vframe *fr = env->cur->frames[frameno];
    bool fixed = bpf_scalar_is_const(&ptr->s);
    int64_t base = (int64_t) ptr->off + off;

    if (!fixed && (ptr->s.smin < -MAX_VAR_OFF || ptr->s.smax > MAX_VAR_OFF)) {
        return verr(env, BPF_VERR_STACK_VAR_OFF, idx, NULL);
    }
    int64_t lo = base + (fixed ? (int64_t) ptr->s.var_off.value
                               : ptr->s.smin);
    int64_t hi = base + (fixed ? (int64_t) ptr->s.var_off.value
                               : ptr->s.smax) + size;
    if (lo < -BPF_STACK_SIZE || hi > 0 || size <= 0) {
        return verr(env, BPF_VERR_STACK_OOB, idx,
                    "access [%lld, %lld) of fp", (long long) lo,
                    (long long) hi);
    }
    if (!helper) {
        uint64_t a = (uint64_t) base + ptr->s.var_off.value;
        if ((a | ptr->s.var_off.mask) & (uint64_t) (size - 1)) {
            return verr(env, BPF_VERR_STACK_MISALIGNED, idx,
                        "%d-byte access at fp%+lld", size, (long long) lo);
        }
    }
    stack_depth_note(env, lo);
    if (fixed && !helper) {
        if (!(lo % 8)) {
            env->hist_spi = (int8_t) ((-lo - 1) / 8);
            env->hist_sframe = (uint8_t) frameno;
        }
        if (write) {
            stack_write_fixed(fr, lo, size, val);
            return 0;
        }
        return stack_read_fixed(env, frameno, lo, size, dst, sext, idx);
    }
    /* Variable offset, or a helper's multi-slot access: byte by byte. */
    for (int64_t a = lo; a < hi; a++) {
        int spi = (int) ((-a - 1) / 8);
        int b = (int) (a + 8 * (spi + 1));
        struct vslot *slot = &fr->stack[spi];
        if (write) {
            if (fixed) {
                if (size >= 8 && b == 0 && a + 8 <= hi) {
                    slot->live |= LIVE_WRITTEN;
                }
                unspill(slot);
                slot->kind[b] = S_MISC;
            } else if (slot->kind[b] != S_INVALID) {
                unspill(slot);
                slot->kind[b] = S_MISC;
            }
            continue;
        }
        mark_slot_read(env, frameno, spi);
        if (slot->kind[b] == S_INVALID) {
            return verr(env, BPF_VERR_UNINIT_STACK, idx,
                        "fp%+lld (access [%lld, %lld))", (long long) a,
                        (long long) lo, (long long) hi);
        }
    }
    if (dst) {
        mark_loaded(dst, size, sext);
    }
    return 0;
}

/* Offsets of struct xdp_md's fields and where they live in bpf_xdp_buff. */
struct ctx_field {
    int32_t md_off;
    enum rtype type;            /* Type loaded (T_SCALAR for u32s). */
    int16_t buff_off;
    uint8_t buff_size;          /* BPF_DW or BPF_W. */
};

static const struct ctx_field ctx_fields[] = {
    { 0, T_PKT, offsetof(struct bpf_xdp_buff, data), BPF_DW },
    { 4, T_PKT_END, offsetof(struct bpf_xdp_buff, data_end), BPF_DW },
    { 8, T_PKT_META, offsetof(struct bpf_xdp_buff, data_meta), BPF_DW },
    { 12, T_SCALAR, offsetof(struct bpf_xdp_buff, ingress_ifindex), BPF_W },
    { 16, T_SCALAR, offsetof(struct bpf_xdp_buff, rx_queue_index), BPF_W },
    { 20, T_SCALAR, offsetof(struct bpf_xdp_buff, egress_ifindex), BPF_W },
};

static int
note_ptr_kind(struct env *env, uint32_t idx, bool ctx)
{
    struct insn_aux *a = &env->aux[idx];
    uint8_t k = ctx ? 1 : 2;
    if (a->ptr_kind && a->ptr_kind != k) {
        return verr(env, BPF_VERR_CTX_BAD_ACCESS, idx,
                    "same insn used with ctx and other pointers");
    }
    a->ptr_kind = k;
    return 0;
}

static int
check_ctx_access(struct env *env, const struct vreg *ptr, int32_t off,
                 int size, bool write, const struct vreg *val,
                 struct vreg *dst, uint32_t idx)
{
    if (!bpf_scalar_is_const(&ptr->s) || ptr->s.var_off.value) {
        return verr(env, BPF_VERR_CTX_BAD_ACCESS, idx,
                    "variable ctx offset");
    }
    int64_t o = (int64_t) ptr->off + off;
    if (write) {
        if (val && is_ptr(val)) {
            return verr(env, BPF_VERR_PTR_LEAK_CTX, idx, "storing %s",
                        rtype_names[val->type]);
        }
        return verr(env, BPF_VERR_CTX_WRITE, idx, "ctx%+lld size %d",
                    (long long) o, size);
    }
    const struct ctx_field *cf = NULL;
    for (size_t i = 0; i < ARRAY_SIZE(ctx_fields); i++) {
        if (ctx_fields[i].md_off == o) {
            cf = &ctx_fields[i];
        }
    }
    if (!cf || size != 4) {
        return verr(env, BPF_VERR_CTX_BAD_ACCESS, idx, "ctx%+lld size %d",
                    (long long) o, size);
    }
    struct insn_aux *a = &env->aux[idx];
    if (a->ctx_field >= 0
        && (a->ctx_field != o || a->ctx_base_off != ptr->off)) {
        return verr(env, BPF_VERR_CTX_BAD_ACCESS, idx,
                    "same insn reads different ctx fields");
    }
    a->ctx_field = (int8_t) o;
    a->ctx_base_off = ptr->off;
    if (cf->type == T_SCALAR) {
        mark_loaded(dst, 4, false);
    } else {
        mark_ptr(dst, cf->type);
    }
    return 0;
}

/* Bounds of [ptr + off, ptr + off + size) within [0, limit). */
static int
check_region(struct env *env, const struct vreg *ptr, int32_t off, int size,
             uint64_t limit, int code, uint32_t idx)
{
    int64_t lo = (int64_t) ptr->off + off + ptr->s.smin;
    if (ptr->s.smin < -MAX_VAR_OFF || ptr->s.umax > MAX_VAR_OFF) {
        return verr(env, code, idx, "unbounded variable offset");
    }
    int64_t hi = (int64_t) ptr->off + off + (int64_t) ptr->s.umax + size;
    if (ptr->s.smin < 0 || lo < 0 || hi > (int64_t) limit) {
        return verr(env, code, idx, "access [%lld, %lld) of %llu bytes",
                    (long long) lo, (long long) hi,
                    (unsigned long long) limit);
    }
    return 0;
}

/* The memory access of a load, store or atomic through register 'regno'
 * + 'off'.  'val' is the stored value; 'dst' receives the loaded one. */
static int
check_mem_access(struct env *env, int regno, int32_t off, int size,
                 bool write, const struct vreg *val, struct vreg *dst,
                 bool sext, uint32_t idx)
{
    const struct vreg *ptr = &curf(env)->regs[regno];
    if (ptr->type == T_CTX) {
        if (note_ptr_kind(env, idx, true)) {
            return -EINVAL;
        }
        return check_ctx_access(env, ptr, off, size, write, val, dst, idx);
    }
    if (note_ptr_kind(env, idx, false)) {
        return -EINVAL;
    }
    if (ptr->maybe_null) {
        return verr(env, BPF_VERR_NULL_DEREF, idx, "r%d is %s_or_null",
                    regno, rtype_names[ptr->type]);
    }
    switch (ptr->type) {
    case T_STACK:
        return check_stack_access(env, ptr, off, size, write, val, dst, sext,
                                  false, idx);
    case T_PKT:
    case T_PKT_META: {
        env->writes_packet |= write;
        if (write && val && is_ptr(val)) {
            return verr(env, BPF_VERR_PTR_LEAK_MEM, idx, "storing %s",
                        rtype_names[val->type]);
        }
        int64_t o = (int64_t) ptr->off + off;
        if (ptr->s.smin < 0 || o < 0) {
            return verr(env, BPF_VERR_PKT_OOB, idx, "offset %lld",
                        (long long) o);
        }
        if (o + size > (int64_t) ptr->range) {
            return verr(env, BPF_VERR_PKT_NO_BOUNDS, idx,
                        "r%d: access [%lld, %lld) but only %u bytes proven",
                        regno, (long long) o, (long long) (o + size),
                        ptr->range);
        }
        break;
    }
    case T_MAP_VALUE: {
        struct bpf_map *map = env->prog->maps[ptr->map];
        if (write && map->read_only) {
            return verr(env, BPF_VERR_RDONLY_WRITE, idx, "map '%s'",
                        map->name);
        }
        if (write && val && is_ptr(val)) {
            return verr(env, BPF_VERR_PTR_LEAK_MAP, idx, "storing %s",
                        rtype_names[val->type]);
        }
        if (check_region(env, ptr, off, size, map->value_size,
                         BPF_VERR_MAP_VALUE_OOB, idx)) {
            return -EINVAL;
        }
        break;
    }
    case T_MEM:
        if (write && val && is_ptr(val)) {
            return verr(env, BPF_VERR_PTR_LEAK_MEM, idx, "storing %s",
                        rtype_names[val->type]);
        }
        if (check_region(env, ptr, off, size, ptr->range, BPF_VERR_MEM_OOB,
                         idx)) {
            return -EINVAL;
        }
        break;
    case T_MAP_PTR:
        if (write) {
            return verr(env, BPF_VERR_RDONLY_WRITE, idx, "map pointer r%d",
                        regno);
        }
        return verr(env, BPF_VERR_BAD_DEREF, idx, "r%d is %s", regno,
                    rtype_names[ptr->type]);
    default:
        return verr(env, BPF_VERR_BAD_DEREF, idx, "r%d is %s", regno,
                    rtype_names[ptr->type]);
    }
    if (dst) {
        mark_loaded(dst, size, sext);
    }
    return 0;
}

/* ---- ALU --------------------------------------------------------------- */

static void
clear_scalar_id(struct vreg *r)
{
    if (r->type == T_SCALAR) {
        r->id = 0;
    }
}

static int
ptr_arith(struct env *env, struct vreg *dst, const struct vreg *ptr,
          const struct vreg *sc, int sc_regno, uint8_t op, uint32_t idx)
{
    if (sc_regno >= 0) {
        mark_precise(env, sc_regno);
    }
    if (ptr->maybe_null) {
        return verr(env, BPF_VERR_PTR_ARITH_PROHIBITED, idx,
                    "arithmetic on %s_or_null", rtype_names[ptr->type]);
    }
    if (ptr->type == T_PKT_END || ptr->type == T_MAP_PTR) {
        return verr(env, BPF_VERR_PTR_ARITH_PROHIBITED, idx,
                    "arithmetic on %s", rtype_names[ptr->type]);
    }
    struct vreg res = *ptr;
    if (bpf_scalar_is_const(&sc->s)) {
        int64_t c = (int64_t) sc->s.var_off.value;
        int64_t no = op == BPF_ADD ? (int64_t) ptr->off + c
                                   : (int64_t) ptr->off - c;
        if (c <= -MAX_VAR_OFF || c >= MAX_VAR_OFF || no <= -MAX_VAR_OFF
            || no >= MAX_VAR_OFF) {
            return verr(env, BPF_VERR_PTR_ARITH_OOB, idx,
                        "offset %lld out of bounds", (long long) no);
        }
        res.off = (int32_t) no;
    } else {
        if (sc->s.smin <= -MAX_VAR_OFF || sc->s.smax >= MAX_VAR_OFF) {
            return verr(env, BPF_VERR_PTR_ARITH_UNBOUNDED, idx,
                        "%s pointer plus scalar in [%lld, %lld]",
                        rtype_names[ptr->type], (long long) sc->s.smin,
                        (long long) sc->s.smax);
        }
        bpf_scalar_alu(&res.s, &sc->s, op, false, 0);
        if (res.s.smin <= -MAX_VAR_OFF || res.s.smax >= MAX_VAR_OFF) {
            return verr(env, BPF_VERR_PTR_ARITH_UNBOUNDED, idx,
                        "variable offset grows unbounded");
        }
        if (ptr->type == T_PKT || ptr->type == T_PKT_META) {
            res.id = ++env->id_gen;
            res.range = 0;
        }
    }
    /* Pointers into the stack and map values must stay in their region. */
    int64_t lo = (int64_t) res.off + res.s.smin;
    int64_t hi = (int64_t) res.off + res.s.smax;
    if (res.type == T_STACK && (lo < -BPF_STACK_SIZE || hi > 0)) {
        return verr(env, BPF_VERR_PTR_ARITH_OOB, idx,
                    "stack pointer to fp[%lld, %lld]", (long long) lo,
                    (long long) hi);
    }
    if (res.type == T_MAP_VALUE
        && (lo < 0 || hi > env->prog->maps[res.map]->value_size)) {
        return verr(env, BPF_VERR_PTR_ARITH_OOB, idx,
                    "map value pointer to [%lld, %lld] of %u bytes",
                    (long long) lo, (long long) hi,
                    env->prog->maps[res.map]->value_size);
    }
    uint8_t live = dst->live;
    *dst = res;
    dst->live = live;
    return 0;
}

static int
do_alu(struct env *env, const struct bpf_insn *i, uint32_t idx)
{
    uint8_t op = BPF_OP(i->code);
    bool alu32 = BPF_CLASS(i->code) == BPF_ALU;
    /* For BPF_END the source bit selects the byte order instead. */
    bool x = BPF_SRC(i->code) == BPF_X && op != BPF_END;
    struct vframe *fr = curf(env);
    struct vreg src;

    if (x) {
        if (read_reg(env, i->src_reg, idx)) {
            return -EINVAL;
        }
        src = fr->regs[i->src_reg];
    } else {
        mark_const(&src, alu32 ? (uint32_t) i->imm
                               : (uint64_t) (int64_t) i->imm);
    }
    if (op == BPF_MOV) {
        struct vreg *dst = write_reg(env, i->dst_reg);
        uint8_t live = dst->live;
        if (!x) {
            mark_const(dst, src.s.var_off.value);
        } else if (is_ptr(&src)) {
            if (alu32 || i->off) {
                return verr(env, BPF_VERR_PTR_ARITH_PROHIBITED, idx,
                            "32-bit or sign-extending move of a pointer");
            }
            *dst = src;
        } else if (i->off) {
            *dst = src;
            dst->id = 0;
            bpf_scalar_sext(&dst->s, i->off);
            if (alu32) {
                bpf_scalar_zext32(&dst->s);
            }
        } else if (alu32) {
            *dst = src;
            dst->id = 0;
            bpf_scalar_zext32(&dst->s);
        } else {
            struct vreg *s = &fr->regs[i->src_reg];
            if (!s->id && !bpf_scalar_is_const(&s->s)) {
                s->id = ++env->id_gen;
            }
            *dst = *s;
        }
        dst->live = live;
        return 0;
    }
    if (read_reg(env, i->dst_reg, idx)) {
        return -EINVAL;
    }
    struct vreg *dst = write_reg(env, i->dst_reg);
    if (op == BPF_NEG || op == BPF_END) {
        if (is_ptr(dst)) {
            return verr(env, BPF_VERR_PTR_ARITH_PROHIBITED, idx,
                        "%s of a pointer", op == BPF_NEG ? "neg" : "bswap");
        }
        dst->id = 0;
        if (op == BPF_NEG) {
            struct bpf_scalar z;
            bpf_scalar_const(&z, 0);
            bpf_scalar_alu(&z, &dst->s, BPF_SUB, alu32, 0);
            dst->s = z;
        } else {
            bool swap = !alu32 || BPF_SRC(i->code) == BPF_TO_BE;
            bpf_scalar_bswap(&dst->s, i->imm, swap);
        }
        return 0;
    }
    if (is_ptr(dst) || is_ptr(&src)) {
        /* The difference of two pointers into the same region is a length,
         * not an address: `int len = ctx->data_end - ctx->data` compiles to
         * a 32-bit subtraction in most XDP programs.  Anything else mixing
         * pointers and 32-bit arithmetic would expose address bits. */
        if (op == BPF_SUB && is_ptr(dst) && is_ptr(&src)
            && same_region(dst, &src)) {
            mark_unknown(dst);
            if (alu32) {
                struct bpf_scalar zero;
                bpf_scalar_const(&zero, 0);
                bpf_scalar_alu(&dst->s, &zero, BPF_ADD, true, 0);
            }
            return 0;
        }
        if (alu32) {
            return verr(env, BPF_VERR_PTR_ARITH_PROHIBITED, idx,
                        "32-bit arithmetic on a pointer");
        }
        if (is_ptr(dst) && is_ptr(&src)) {
            return verr(env, BPF_VERR_PTR_ARITH_PROHIBITED, idx,
                        op == BPF_SUB
                            ? "difference of pointers to different regions"
                            : "pointer %s pointer",
                        op == BPF_ADD ? "+" : "op");
        }
        if (op == BPF_ADD) {
            struct vreg d = *dst;
            return is_ptr(&d)
                   ? ptr_arith(env, dst, &d, &src, x ? i->src_reg : -1, op,
                               idx)
                   : ptr_arith(env, dst, &src, &d, i->dst_reg, op, idx);
        }
        if (op == BPF_SUB && is_ptr(dst)) {
            struct vreg d = *dst;
            return ptr_arith(env, dst, &d, &src, x ? i->src_reg : -1, op,
                             idx);
        }
        return verr(env, BPF_VERR_PTR_ARITH_PROHIBITED, idx,
                    "operator 0x%02x on a pointer", op);
    }
    clear_scalar_id(dst);
    bpf_scalar_alu(&dst->s, &src.s, op, alu32, i->off);
    return 0;
}

/* ---- Branches ---------------------------------------------------------- */

/* Gives the refined bounds of 'r' to every scalar sharing its id. */
static void
propagate_equal_scalars(struct vstate *st, const struct vreg *r)
{
    if (r->type != T_SCALAR || !r->id) {
        return;
    }
    struct vreg copy = *r;
    FOR_EACH_REG(st, q, {
        if (q->type == T_SCALAR && q->id == copy.id) {
            q->s = copy.s;
        }
    })
}

static void
mark_pkt_range(struct vstate *st, const struct vreg *p)
{
    if (p->off < 0 || p->off > MAX_PACKET_OFF
        || p->s.umax + p->off > MAX_PACKET_OFF || p->s.smin < 0) {
        return;
    }
    uint32_t new_range = (uint32_t) p->off;
    enum rtype type = p->type;
    uint32_t id = p->id;
    struct bpf_scalar var = p->s;
    FOR_EACH_REG(st, q, {
        if (q->type == type && q->id == id
            && !memcmp(&q->s, &var, sizeof var) && q->range < new_range) {
            q->range = new_range;
        }
    })
}

static void
mark_null(struct vstate *st, uint32_t id, bool is_null)
{
    /* A null ringbuf reservation holds nothing to release. */
    for (int i = 0; is_null && i < st->n_refs; i++) {
        if (st->refs[i] == id) {
            st->refs[i] = st->refs[--st->n_refs];
            break;
        }
    }
    FOR_EACH_REG(st, q, {
        if ((q->type == T_MAP_VALUE || q->type == T_MEM) && q->maybe_null
            && q->id == id) {
            if (is_null) {
                uint8_t live = q->live;
                mark_const(q, 0);
                q->live = live;
            } else {
                q->maybe_null = false;
            }
        }
    })
}

/* Packet range refinement for "a OP b" holding (a, b: registers of the
 * state 'st').  'a_is_ptr': a is the packet pointer being checked. */
static void
pkt_refine(struct vstate *st, const struct vreg *a, const struct vreg *b,
           uint8_t op)
{
    /* Is a the "data + N" side and b the end side? */
    bool a_data = (a->type == T_PKT && b->type == T_PKT_END)
                  || (a->type == T_PKT_META && b->type == T_PKT);
    bool b_data = (b->type == T_PKT && a->type == T_PKT_END)
                  || (b->type == T_PKT_META && a->type == T_PKT);
    if (a_data && (op == BPF_JLE || op == BPF_JLT)) {
        mark_pkt_range(st, a);
    } else if (b_data && (op == BPF_JGE || op == BPF_JGT)) {
        mark_pkt_range(st, b);
    }
}

static int
do_cond_jmp(struct env *env, const struct bpf_insn *i, uint32_t idx)
{
    uint8_t op = BPF_OP(i->code);
    bool is32 = BPF_CLASS(i->code) == BPF_JMP32;
    bool x = BPF_SRC(i->code) == BPF_X;
    uint32_t target = (uint32_t) jmp_target(i, idx);
    struct vframe *fr = curf(env);

    if (read_reg(env, i->dst_reg, idx)
        || (x && read_reg(env, i->src_reg, idx))) {
        return -EINVAL;
    }
    struct vreg kreg;
    mark_const(&kreg, is32 ? (uint32_t) i->imm : (uint64_t) (int64_t) i->imm);
    struct vreg *a = &fr->regs[i->dst_reg];
    struct vreg *b = x ? &fr->regs[i->src_reg] : &kreg;
    int taken = -1;

    if (is_ptr(a) || is_ptr(b)) {
        if (is32) {
            return verr(env, BPF_VERR_PTR_CMP, idx,
                        "32-bit comparison of a pointer");
        }
        const struct vreg *p = is_ptr(a) ? a : b;
        const struct vreg *o = is_ptr(a) ? b : a;
        if (!is_ptr(o)) {
            if (!reg_known_zero(o) || (op != BPF_JEQ && op != BPF_JNE)) {
                return verr(env, BPF_VERR_PTR_CMP, idx,
                            "%s compared with a scalar",
                            rtype_names[p->type]);
            }
            if (p->maybe_null) {
                /* Null check: both branches, each knowing the answer. */
                uint32_t id = p->id;
                struct vstate *other = push_state(env, target);
                mark_null(other, id, op == BPF_JEQ);
                mark_null(env->cur, id, op != BPF_JEQ);
                env->cur->insn_idx = idx + 1;
                return 0;
            }
            taken = op == BPF_JNE;
        } else {
            bool pkt_pair = ((a->type == T_PKT || a->type == T_PKT_META
                              || a->type == T_PKT_END)
                             && (b->type == T_PKT || b->type == T_PKT_META
                                 || b->type == T_PKT_END));
            if (!pkt_pair && a->type != b->type) {
                return verr(env, BPF_VERR_PTR_CMP, idx, "%s vs %s",
                            rtype_names[a->type], rtype_names[b->type]);
            }
            struct vreg ac = *a, bc = *b;
            struct vstate *other = push_state(env, target);
            pkt_refine(other, &ac, &bc, op);
            pkt_refine(env->cur, &ac, &bc, bpf_jmp_negate(op));
            env->cur->insn_idx = idx + 1;
            return 0;
        }
    } else {
        taken = bpf_scalar_branch(&a->s, &b->s, op, is32);
    }
    if (taken >= 0) {
        /* The walk follows one way because of these values. */
        mark_precise2(env, i->dst_reg, x ? i->src_reg : -1);
    }
    if (taken == 1) {
        env->cur->insn_idx = target;
        return 0;
    }
    if (taken == 0) {
        env->cur->insn_idx = idx + 1;
        return 0;
    }
    /* Both ways: refine each branch with what the comparison proves. */
    struct vreg at = *a, bt = *b;
    bool t_ok = bpf_scalar_refine(&at.s, &bt.s, op, is32);
    struct vreg af = *a, bf = *b;
    bool f_ok = bpf_scalar_refine(&af.s, &bf.s, bpf_jmp_negate(op), is32);
    if (!t_ok || !f_ok) {
        mark_precise2(env, i->dst_reg, x ? i->src_reg : -1);
    }
    if (t_ok && f_ok) {
        struct vstate *other = push_state(env, target);
        struct vframe *ofr = other->frames[other->curframe];
        ofr->regs[i->dst_reg].s = at.s;
        propagate_equal_scalars(other, &ofr->regs[i->dst_reg]);
        if (x) {
            ofr->regs[i->src_reg].s = bt.s;
            propagate_equal_scalars(other, &ofr->regs[i->src_reg]);
        }
    }
    if (!f_ok) {
        if (!t_ok) {
            return 1;           /* Neither branch possible: dead path. */
        }
        a->s = at.s;
        propagate_equal_scalars(env->cur, a);
        if (x) {
            b->s = bt.s;
            propagate_equal_scalars(env->cur, b);
        }
        env->cur->insn_idx = target;
        return 0;
    }
    a->s = af.s;
    propagate_equal_scalars(env->cur, a);
    if (x) {
        b->s = bf.s;
        propagate_equal_scalars(env->cur, b);
    }
    env->cur->insn_idx = idx + 1;
    return 0;
}

/* ---- Calls ------------------------------------------------------------- */

/* Checks that [ptr, ptr + size) is readable (or writable) memory.  'size'
 * is a scalar range; the largest possible size is checked. */
static int
check_helper_mem(struct env *env, int regno, uint64_t size, bool write,
                 bool no_ptrs, uint32_t idx)
{
    const struct vreg *p = &curf(env)->regs[regno];
    if (p->maybe_null) {
        return verr(env, BPF_VERR_NULL_DEREF, idx,
                    "helper argument r%d is %s_or_null", regno,
                    rtype_names[p->type]);
    }
    if (!size) {
        return 0;
    }
    if (size > BPF_MAX_INSNS) {
        return verr(env, BPF_VERR_HELPER_ARG_SIZE, idx, "size %llu",
                    (unsigned long long) size);
    }
    switch (p->type) {
    case T_STACK: {
        int rc = check_stack_access(env, p, 0, (int) size, write, NULL, NULL,
                                    false, true, idx);
        if (rc) {
            if (env->err == BPF_VERR_STACK_OOB) {
                env->err = BPF_VERR_HELPER_ARG_SIZE;
            }
            return rc;
        }
        if (no_ptrs && bpf_scalar_is_const(&p->s)) {
            struct vframe *fr = env->cur->frames[p->frameno];
            int64_t lo = (int64_t) p->off + (int64_t) p->s.var_off.value;
            for (int64_t a = lo; a < lo + (int64_t) size; a++) {
                struct vslot *s = &fr->stack[(-a - 1) / 8];
                if (s->kind[0] == S_SPILL && is_ptr(&s->spill)) {
                    return verr(env, BPF_VERR_PTR_LEAK_MAP, idx,
                                "r%d points to a spilled %s", regno,
                                rtype_names[s->spill.type]);
                }
            }
        }
        return 0;
    }
    case T_PKT:
    case T_PKT_META:
    case T_MAP_VALUE:
    case T_MEM: {
        int rc = check_mem_access(env, regno, 0, 1, write, NULL, NULL,
                                  false, idx);
        if (!rc && size > 1) {
            /* The last byte, through a pointer moved by size - 1. */
            struct vreg q = *p;
            q.off += (int32_t) (size - 1);
            struct vreg saved = curf(env)->regs[regno];
            curf(env)->regs[regno] = q;
            rc = check_mem_access(env, regno, 0, 1, write, NULL, NULL,
                                  false, idx);
            curf(env)->regs[regno] = saved;
        }
        if (rc && (env->err == BPF_VERR_PKT_NO_BOUNDS
                   || env->err == BPF_VERR_MAP_VALUE_OOB
                   || env->err == BPF_VERR_MEM_OOB)) {
            env->err = BPF_VERR_HELPER_ARG_SIZE;
        }
        return rc;
    }
    default:
        return verr(env, BPF_VERR_HELPER_ARG_TYPE, idx,
                    "r%d is %s, expected a pointer to memory", regno,
                    rtype_names[p->type]);
    }
}

static int
release_ref(struct env *env, uint32_t ref)
{
    struct vstate *st = env->cur;
    for (int i = 0; i < st->n_refs; i++) {
        if (st->refs[i] == ref) {
            st->refs[i] = st->refs[--st->n_refs];
            FOR_EACH_REG(st, q, {
                if (q->ref_obj_id == ref) {
                    uint8_t live = q->live;
                    mark_unknown(q);
                    q->live = live;
                }
            })
            return 0;
        }
    }
    return -1;
}

static int
do_helper_call(struct env *env, const struct bpf_insn *i, uint32_t idx)
{
    const struct bpf_helper_proto *proto = bpf_helper_proto(i->imm);
    struct vframe *fr = curf(env);
    const struct bpf_map *map = NULL;
    int32_t map_idx = -1;
    uint64_t alloc_size = 0;
    uint32_t release = 0;

    if (!proto) {
        return verr(env, BPF_VERR_HELPER_UNKNOWN, idx,
                    "unknown helper %d at insn %u", i->imm, idx);
    }
    for (int a = 0; a < 5 && proto->args[a] != BPF_ARG_NONE; a++) {
        int regno = a + 1;
        enum bpf_arg_type t = proto->args[a];
        if (read_reg(env, regno, idx)) {
            return -EINVAL;
        }
        struct vreg *r = &fr->regs[regno];
        switch (t) {
        case BPF_ARG_ANYTHING:
            if (is_ptr(r)) {
                return verr(env, BPF_VERR_HELPER_ARG_TYPE, idx,
                            "r%d is %s, expected a scalar", regno,
                            rtype_names[r->type]);
            }
            break;
        case BPF_ARG_CONST_MAP_PTR:
            if (r->type != T_MAP_PTR) {
                return verr(env, BPF_VERR_HELPER_ARG_TYPE, idx,
                            "r%d is %s, expected a map", regno,
                            rtype_names[r->type]);
            }
            map_idx = r->map;
            map = env->prog->maps[map_idx];
            if (!bpf_helper_map_compatible(i->imm, map->type)) {
                return verr(env, BPF_VERR_HELPER_MAP_TYPE, idx,
                            "helper %d with map '%s' of type %u", i->imm,
                            map->name, map->type);
            }
            break;
        case BPF_ARG_PTR_TO_MAP_KEY:
        case BPF_ARG_PTR_TO_MAP_VALUE:
        case BPF_ARG_PTR_TO_UNINIT_MAP_VALUE:
            if (!map) {
                return verr(env, BPF_VERR_HELPER_ARG_TYPE, idx, "no map");
            }
            if (r->type == T_SCALAR) {
                return verr(env, BPF_VERR_HELPER_ARG_TYPE, idx,
                            "r%d is a scalar, expected a pointer", regno);
            }
            if (check_helper_mem(env, regno,
                                 t == BPF_ARG_PTR_TO_MAP_KEY
                                     ? map->key_size : map->value_size,
                                 t == BPF_ARG_PTR_TO_UNINIT_MAP_VALUE,
                                 t == BPF_ARG_PTR_TO_MAP_VALUE, idx)) {
                return -EINVAL;
            }
            break;
        case BPF_ARG_PTR_TO_MEM:
        case BPF_ARG_PTR_TO_MEM_OR_NULL: {
            struct vreg *sz = &fr->regs[regno + 1];
            if (read_reg(env, regno + 1, idx)) {
                return -EINVAL;
            }
            mark_precise(env, regno + 1);
            if (is_ptr(sz) || sz->s.smin < 0) {
                return verr(env, BPF_VERR_HELPER_ARG_SIZE, idx,
                            "r%d: size must be a non-negative scalar",
                            regno + 1);
            }
            bool or_zero = proto->args[a + 1] == BPF_ARG_CONST_SIZE_OR_ZERO;
            if (!or_zero && sz->s.umin == 0) {
                return verr(env, BPF_VERR_HELPER_ARG_SIZE, idx,
                            "r%d: size may be zero", regno + 1);
            }
            if (t == BPF_ARG_PTR_TO_MEM_OR_NULL && reg_known_zero(r)) {
                if (sz->s.umax != 0) {
                    return verr(env, BPF_VERR_HELPER_ARG_SIZE, idx,
                                "r%d is NULL but the size is not 0", regno);
                }
                break;
            }
            if (r->type == T_SCALAR) {
                return verr(env, BPF_VERR_HELPER_ARG_TYPE, idx,
                            "r%d is a scalar, expected a pointer", regno);
            }
            if (check_helper_mem(env, regno, sz->s.umax, false,
                                 i->imm == BPF_FUNC_ringbuf_output, idx)) {
                return -EINVAL;
            }
            break;
        }
        case BPF_ARG_CONST_SIZE:
        case BPF_ARG_CONST_SIZE_OR_ZERO:
            break;      /* Checked with the memory argument. */
        case BPF_ARG_CONST_ALLOC_SIZE_OR_ZERO:
            if (r->type != T_SCALAR || !bpf_scalar_is_const(&r->s)
                || r->s.var_off.value > UINT32_MAX) {
                return verr(env, BPF_VERR_HELPER_ARG_SIZE, idx,
                            "r%d: allocation size must be a constant",
                            regno);
            }
            alloc_size = r->s.var_off.value;
            mark_precise(env, regno);
            break;
        case BPF_ARG_PTR_TO_CTX:
            if (r->type != T_CTX || r->off
                || !bpf_scalar_is_const(&r->s) || r->s.var_off.value) {
                return verr(env, BPF_VERR_HELPER_ARG_TYPE, idx,
                            "r%d is %s, expected ctx", regno,
                            rtype_names[r->type]);
            }
            break;
        case BPF_ARG_PTR_TO_ALLOC_MEM:
            if (r->type != T_MEM || r->maybe_null || !r->ref_obj_id
                || r->off || !bpf_scalar_is_const(&r->s)
                || r->s.var_off.value) {
                return verr(env, BPF_VERR_HELPER_ARG_TYPE, idx,
                            "r%d is not a ringbuf record", regno);
            }
            release = r->ref_obj_id;
            break;
        case BPF_ARG_NONE:
            break;
        }
    }
    if (i->imm == BPF_FUNC_tail_call) {
        /* The target's stores are not seen from here. */
        env->writes_packet = true;
    }
    if (i->imm == BPF_FUNC_tail_call && env->cur->n_refs) {
        return verr(env, BPF_VERR_REF_LEAK, idx,
                    "tail call with a ringbuf reservation held");
    }
    if (release && release_ref(env, release)) {
        return verr(env, BPF_VERR_HELPER_ARG_TYPE, idx,
                    "record already released");
    }
    /* The kernel's calling convention: r1-r5 are clobbered. */
    for (int r = 1; r <= 5; r++) {
        mark_not_init(write_reg(env, r));
    }
    if (proto->pkt_changing) {
        FOR_EACH_REG(env->cur, q, {
            if (q->type == T_PKT || q->type == T_PKT_END
                || q->type == T_PKT_META) {
                uint8_t live = q->live;
                mark_unknown(q);
                q->live = live;
            }
        })
    }
    struct vreg *r0 = write_reg(env, BPF_REG_0);
    uint8_t live = r0->live;
    switch (proto->ret) {
    case BPF_RET_INTEGER:
        mark_unknown(r0);
        if (i->imm == BPF_FUNC_get_prandom_u32
            || i->imm == BPF_FUNC_get_smp_processor_id
            || i->imm == BPF_FUNC_get_numa_node_id) {
            mark_loaded(r0, 4, false);
        }
        break;
    case BPF_RET_VOID:
        mark_not_init(r0);
        break;
    case BPF_RET_PTR_TO_MAP_VALUE_OR_NULL:
        mark_ptr(r0, T_MAP_VALUE);
        r0->map = map_idx;
        r0->maybe_null = true;
        r0->id = ++env->id_gen;
        break;
    case BPF_RET_PTR_TO_MEM_OR_NULL:
        if (env->cur->n_refs == MAX_REFS) {
            return verr(env, BPF_VERR_TOO_COMPLEX, idx,
                        "too many ringbuf reservations held");
        }
        mark_ptr(r0, T_MEM);
        r0->maybe_null = true;
        r0->range = (uint32_t) alloc_size;
        r0->id = ++env->id_gen;
        r0->ref_obj_id = r0->id;
        env->cur->refs[env->cur->n_refs++] = r0->id;
        break;
    }
    r0->live = live;
    env->cur->insn_idx = idx + 1;
    return 0;
}

static int
do_pseudo_call(struct env *env, const struct bpf_insn *i, uint32_t idx)
{
    struct vstate *st = env->cur;
    if (st->curframe + 1 >= BPF_MAX_CALL_DEPTH) {
        return verr(env, BPF_VERR_CALL_DEPTH, idx, NULL);
    }
    struct vframe *caller = curf(env);
    struct vframe *callee = frame_new((int32_t) idx);
    for (int r = 1; r <= 5; r++) {
        mark_reg_read(env, st->curframe, r);
        callee->regs[r] = caller->regs[r];
    }
    st->curframe++;
    st->frames[st->curframe] = callee;
    mark_ptr(&callee->regs[BPF_REG_10], T_STACK);
    callee->regs[BPF_REG_10].frameno = (uint8_t) st->curframe;
    for (int r = 0; r < MAX_REGS; r++) {
        callee->regs[r].live = LIVE_WRITTEN;
    }
    for (int s = 0; s < N_SLOTS; s++) {
        callee->stack[s].live = LIVE_WRITTEN;
    }
    st->insn_idx = (uint32_t) ((int64_t) idx + i->imm + 1);
    return 0;
}

/* Returns 1 when the path ends (exit of the main program). */
static int
do_exit(struct env *env, uint32_t idx)
{
    struct vstate *st = env->cur;
    if (read_reg(env, BPF_REG_0, idx)) {
        return -EINVAL;
    }
    struct vreg *r0 = &curf(env)->regs[BPF_REG_0];
    if (st->curframe == 0) {
        if (r0->type != T_SCALAR) {
            return verr(env, BPF_VERR_PTR_LEAK_RETURN, idx,
                        "r0 is %s", rtype_names[r0->type]);
        }
        if (st->n_refs) {
            return verr(env, BPF_VERR_REF_LEAK, idx, "%d held", st->n_refs);
        }
        return 1;
    }
    if (r0->type == T_STACK && r0->frameno == st->curframe) {
        return verr(env, BPF_VERR_PTR_LEAK_RETURN, idx,
                    "returning a pointer to the callee's stack");
    }
    struct vreg ret = *r0;
    struct vframe *callee = st->frames[st->curframe];
    int32_t callsite = callee->callsite;
    free(callee);
    st->frames[st->curframe] = NULL;
    st->curframe--;
    /* Stack pointers into the dead frame become unusable. */
    int dead = st->curframe + 1;
    FOR_EACH_REG(st, q, {
        if (q->type == T_STACK && q->frameno >= dead) {
            uint8_t live = q->live;
            mark_unknown(q);
            q->live = live;
        }
    })
    for (int r = 1; r <= 5; r++) {
        mark_not_init(write_reg(env, r));
    }
    struct vreg *d = write_reg(env, BPF_REG_0);
    uint8_t live = d->live;
    *d = ret;
    d->live = live;
    st->insn_idx = (uint32_t) callsite + 1;
    return 0;
}

/* ---- Loads, stores, atomics -------------------------------------------- */

static const int size_bytes[4] = { 4, 2, 1, 8 };   /* BPF_W, H, B, DW. */

static int
do_ldx(struct env *env, const struct bpf_insn *i, uint32_t idx)
{
    int size = size_bytes[BPF_SIZE(i->code) >> 3];
    if (read_reg(env, i->src_reg, idx)) {
        return -EINVAL;
    }
    struct vreg val;
    mark_unknown(&val);
    if (check_mem_access(env, i->src_reg, i->off, size, false, NULL, &val,
                         BPF_MODE(i->code) == BPF_MEMSX, idx)) {
        return -EINVAL;
    }
    struct vreg *dst = write_reg(env, i->dst_reg);
    uint8_t live = dst->live;
    *dst = val;
    dst->live = live;
    return 0;
}

static int
do_store(struct env *env, const struct bpf_insn *i, uint32_t idx)
{
    int size = size_bytes[BPF_SIZE(i->code) >> 3];
    struct vreg val;
    if (read_reg(env, i->dst_reg, idx)) {
        return -EINVAL;
    }
    if (BPF_CLASS(i->code) == BPF_ST) {
        mark_const(&val, (uint64_t) (int64_t) i->imm);
    } else {
        if (read_reg(env, i->src_reg, idx)) {
            return -EINVAL;
        }
        val = curf(env)->regs[i->src_reg];
        if (size < 8 && val.type == T_SCALAR) {
            struct bpf_scalar m;
            bpf_scalar_const(&m, (1ULL << (size * 8)) - 1);
            bpf_scalar_alu(&val.s, &m, BPF_AND, false, 0);
            val.id = 0;
        }
    }
    return check_mem_access(env, i->dst_reg, i->off, size, true, &val, NULL,
                            false, idx);
}

static int
do_atomic(struct env *env, const struct bpf_insn *i, uint32_t idx)
{
    int size = BPF_SIZE(i->code) == BPF_DW ? 8 : 4;
    if (read_reg(env, i->dst_reg, idx) || read_reg(env, i->src_reg, idx)) {
        return -EINVAL;
    }
    struct vframe *fr = curf(env);
    const struct vreg *base = &fr->regs[i->dst_reg];
    if ((base->type != T_STACK && base->type != T_MAP_VALUE)
        || base->maybe_null) {
        if (base->maybe_null) {
            return verr(env, BPF_VERR_NULL_DEREF, idx, "atomic on r%d",
                        i->dst_reg);
        }
        return verr(env, BPF_VERR_ATOMIC_BAD, idx, "atomic on %s",
                    rtype_names[base->type]);
    }
    if (is_ptr(&fr->regs[i->src_reg])) {
        return verr(env, base->type == T_MAP_VALUE ? BPF_VERR_PTR_LEAK_MAP
                                                   : BPF_VERR_ATOMIC_BAD,
                    idx, "atomic operand r%d is a pointer", i->src_reg);
    }
    if (i->imm == BPF_CMPXCHG) {
        if (read_reg(env, BPF_REG_0, idx)) {
            return -EINVAL;
        }
        if (is_ptr(&fr->regs[BPF_REG_0])) {
            return verr(env, BPF_VERR_ATOMIC_BAD, idx, "r0 is a pointer");
        }
    }
    if (base->type == T_STACK && bpf_scalar_is_const(&base->s)) {
        /* The old value must be an initialised scalar. */
        int64_t o = (int64_t) base->off + (int64_t) base->s.var_off.value
                    + i->off;
        if (o >= -BPF_STACK_SIZE && o + size <= 0 && !(o % size)) {
            struct vslot *s = &fr->stack[(-o - 1) / 8];
            if (s->kind[0] == S_SPILL && is_ptr(&s->spill)) {
                return verr(env, BPF_VERR_ATOMIC_BAD, idx,
                            "atomic on a spilled pointer");
            }
        }
    }
    struct vreg old;
    mark_unknown(&old);
    if (check_mem_access(env, i->dst_reg, i->off, size, false, NULL, &old,
                         false, idx)) {
        return -EINVAL;
    }
    struct vreg val;
    mark_unknown(&val);
    if (check_mem_access(env, i->dst_reg, i->off, size, true, &val, NULL,
                         false, idx)) {
        return -EINVAL;
    }
    if (i->imm == BPF_CMPXCHG) {
        struct vreg *r0 = write_reg(env, BPF_REG_0);
        uint8_t live = r0->live;
        mark_loaded(r0, size, false);
        r0->live = live;
    } else if (i->imm & BPF_FETCH) {
        struct vreg *s = write_reg(env, i->src_reg);
        uint8_t live = s->live;
        mark_loaded(s, size, false);
        s->live = live;
    }
    return 0;
}

static int
do_ld(struct env *env, const struct bpf_insn *i, uint32_t idx)
{
    if (is_ldimm64(i)) {
        const struct bpf_insn *h = &env->insns[idx + 1];
        struct vreg *dst = write_reg(env, i->dst_reg);
        uint8_t live = dst->live;
        if (i->src_reg == BPF_PSEUDO_MAP_FD) {
            mark_ptr(dst, T_MAP_PTR);
            dst->map = i->imm;
        } else if (i->src_reg == BPF_PSEUDO_MAP_VALUE) {
            const struct bpf_map *m = env->prog->maps[i->imm];
            /* Direct value access: single-entry arrays (global data),
             * like the kernel's array_map_direct_value_addr(). */
            if (m->type != BPF_MAP_TYPE_ARRAY || m->max_entries != 1
                || h->imm < 0
                || (uint32_t) h->imm >= m->value_size) {
                return verr(env, BPF_VERR_BAD_MAP_REF, idx,
                            "direct value offset %d in map '%s'", h->imm,
                            m->name);
            }
            mark_ptr(dst, T_MAP_VALUE);
            dst->map = i->imm;
            dst->off = h->imm;
        } else {
            mark_const(dst, (uint32_t) i->imm
                                | ((uint64_t) (uint32_t) h->imm << 32));
        }
        dst->live = live;
        env->cur->insn_idx = idx + 2;
        return 0;
    }
    /* LD_ABS / LD_IND: packet loads through the ctx held in r6. */
    if (read_reg(env, BPF_REG_6, idx)) {
        return -EINVAL;
    }
    if (curf(env)->regs[BPF_REG_6].type != T_CTX) {
        return verr(env, BPF_VERR_LD_ABS_CTX, idx, "r6 is %s",
                    rtype_names[curf(env)->regs[BPF_REG_6].type]);
    }
    if (BPF_MODE(i->code) == BPF_IND) {
        if (read_reg(env, i->src_reg, idx)) {
            return -EINVAL;
        }
        if (is_ptr(&curf(env)->regs[i->src_reg])) {
            return verr(env, BPF_VERR_PTR_ARITH_PROHIBITED, idx,
                        "LD_IND offset is a pointer");
        }
    }
    for (int r = 1; r <= 5; r++) {
        mark_not_init(write_reg(env, r));
    }
    struct vreg *r0 = write_reg(env, BPF_REG_0);
    uint8_t live = r0->live;
    mark_loaded(r0, size_bytes[BPF_SIZE(i->code) >> 3], false);
    r0->live = live;
    env->cur->insn_idx = idx + 1;
    return 0;
}

/* Runs one instruction.  Returns 0 to go on, 1 when the path ends, <0 on
 * rejection. */
static int
do_insn(struct env *env)
{
    uint32_t idx = env->cur->insn_idx;
    const struct bpf_insn *i = &env->insns[idx];
    uint8_t cls = BPF_CLASS(i->code);
    int rc;

    env->cur->insn_idx = idx + 1;
    switch (cls) {
    case BPF_ALU:
    case BPF_ALU64:
        return do_alu(env, i, idx);
    case BPF_LDX:
        return do_ldx(env, i, idx);
    case BPF_ST:
        return do_store(env, i, idx);
    case BPF_STX:
        if (BPF_MODE(i->code) == BPF_ATOMIC) {
            return do_atomic(env, i, idx);
        }
        return do_store(env, i, idx);
    case BPF_LD:
        return do_ld(env, i, idx);
    default:
        break;
    }
    switch (BPF_OP(i->code)) {
    case BPF_JA:
        env->cur->insn_idx = (uint32_t) jmp_target(i, idx);
        return 0;
    case BPF_EXIT:
        return do_exit(env, idx);
    case BPF_CALL:
        if (i->src_reg == BPF_PSEUDO_CALL) {
            return do_pseudo_call(env, i, idx);
        }
        return do_helper_call(env, i, idx);
    default:
        rc = do_cond_jmp(env, i, idx);
        return rc;
    }
}

/* ---- Driver ------------------------------------------------------------ */

static void
init_state(struct env *env)
{
    struct vstate *st = xzalloc(sizeof *st);
    st->frames[0] = frame_new(-1);
    mark_ptr(&st->frames[0]->regs[BPF_REG_1], T_CTX);
    mark_ptr(&st->frames[0]->regs[BPF_REG_10], T_STACK);
    st->insn_idx = 0;
    env->cur = st;
}

static int
walk(struct env *env)
{
    init_state(env);
    for (;;) {
        uint32_t idx = env->cur->insn_idx;
        int rc = 0;
        if (++env->processed > BPF_VERIFY_INSN_LIMIT) {
            return verr(env, BPF_VERR_TOO_COMPLEX, idx,
                        "more than %d instructions processed",
                        BPF_VERIFY_INSN_LIMIT);
        }
        if (env->aux[idx].prune) {
            rc = is_state_visited(env, idx);
        }
        if (!rc) {
            struct hent h = { idx, (uint8_t) env->cur->curframe, 0, -1 };
            env->hist_spi = -1;
            rc = do_insn(env);
            if (rc == 0) {
                h.spi = env->hist_spi;
                h.sframe = env->hist_sframe;
                struct vstate *st = env->cur;
                if (st->n_hist == st->cap_hist) {
                    st->cap_hist = st->cap_hist ? 2 * st->cap_hist : 32;
                    st->hist = xrealloc(st->hist,
                                        st->cap_hist * sizeof *st->hist);
                }
                st->hist[st->n_hist++] = h;
            }
        }
        if (rc < 0) {
            return rc;
        }
        if (rc == 0) {
            continue;
        }
        /* This path ended (exit, pruned or infeasible): take the next. */
        update_branch_counts(env->cur->parent);
        state_free(env->cur);
        if (!env->n_stack) {
            return 0;
        }
        *env->cur = env->stack[--env->n_stack];
    }
}

/* Rewrites ctx loads for struct bpf_xdp_buff (kernel's
 * convert_ctx_accesses). */
static void
make_xlated(struct env *env)
{
    struct bpf_prog *prog = env->prog;
    free(prog->xlated);
    prog->xlated = xmalloc(sizeof *prog->xlated * env->n);
    memcpy(prog->xlated, env->insns, sizeof *prog->xlated * env->n);
    prog->n_xlated = env->n;
    for (uint32_t idx = 0; idx < env->n; idx++) {
        const struct insn_aux *a = &env->aux[idx];
        if (a->ptr_kind != 1 || a->ctx_field < 0) {
            continue;
        }
        for (size_t f = 0; f < ARRAY_SIZE(ctx_fields); f++) {
            if (ctx_fields[f].md_off != a->ctx_field) {
                continue;
            }
            struct bpf_insn *x = &prog->xlated[idx];
            x->code = BPF_LDX | BPF_MEM | ctx_fields[f].buff_size;
            x->off = (int16_t) (ctx_fields[f].buff_off - a->ctx_base_off);
        }
    }
}

static void
vsl_free_list(struct vsl *sl)
{
    while (sl) {
        struct vsl *next = sl->next;
        state_free(&sl->st);
        free(sl);
        sl = next;
    }
}

static void
env_free(struct env *env)
{
    vsl_free_list(env->unlisted);
    if (env->explored) {
        for (uint32_t idx = 0; idx < env->n; idx++) {
            vsl_free_list(env->explored[idx]);
        }
    }
    for (size_t s = 0; s < env->n_stack; s++) {
        state_free(&env->stack[s]);
    }
    if (env->cur) {
        state_free(env->cur);
        free(env->cur);
    }
    free(env->stack);
    free(env->explored);
    free(env->n_explored);
    free(env->aux);
    free(env->subprog_of);
}

static uint64_t
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
}

int
bpf_prog_verify(struct bpf_prog *prog, struct bpf_verify_result *res)
{
    struct env env;
    uint64_t t0 = now_ns();

    memset(res, 0, sizeof *res);
    memset(&env, 0, sizeof env);
    env.prog = prog;
    env.insns = prog->insns;
    env.n = prog->n_insns;
    env.raw = prog->kind == BPF_PROG_KIND_RAW;
    prog->verified = false;

    if (!env.n) {
        verr(&env, BPF_VERR_EMPTY, 0, NULL);
    } else if (env.n > BPF_MAX_INSNS) {
        verr(&env, BPF_VERR_TOO_LARGE, 0, "%u instructions", env.n);
    } else {
        env.aux = xcalloc(env.n + 1, sizeof *env.aux);
        for (uint32_t k = 0; k <= env.n; k++) {
            env.aux[k].ctx_field = -1;
        }
        env.subprog_of = xcalloc(env.n + 1, sizeof *env.subprog_of);
        if (!check_structure(&env) && !env.raw) {
            env.explored = xcalloc(env.n, sizeof *env.explored);
            env.n_explored = xcalloc(env.n, sizeof *env.n_explored);
            walk(&env);
        }
    }

    res->accepted = !env.err;
    res->reason = env.err;
    res->insn_idx = env.err_insn;
    res->insns_processed = env.processed;
    res->states = env.n_states;
    if (env.err) {
        res->log = env.msg;
    } else {
        res->log = xasprintf("accepted: %u insns, %llu processed, "
                             "%llu states", env.n,
                             (unsigned long long) env.processed,
                             (unsigned long long) env.n_states);
        if (env.raw) {
            free(prog->xlated);
            prog->xlated = xmalloc(sizeof *prog->xlated * env.n);
            memcpy(prog->xlated, env.insns, sizeof *prog->xlated * env.n);
            prog->n_xlated = env.n;
            prog->max_stack = BPF_STACK_SIZE;
        } else {
            make_xlated(&env);
            prog->max_stack = (env.max_stack + 7) & ~7u;
        }
        prog->writes_packet = env.writes_packet;
        prog->verified = true;
    }
    env_free(&env);
    res->time_ns = now_ns() - t0;
    return env.err ? -EINVAL : 0;
}

void
bpf_verify_result_destroy(struct bpf_verify_result *res)
{
    if (res) {
        free(res->log);
        res->log = NULL;
    }
}
