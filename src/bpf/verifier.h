/* The eBPF verifier: reason codes, helper prototypes and the internal API
 * shared by verifier*.c and helper_protos.c.
 *
 * bpf_prog_verify() (declared in bpf_api.h) walks every path of a program over
 * an abstract state (see the comment at the top of verifier.c) and either
 * accepts it -- filling prog->xlated, prog->max_stack and prog->verified --
 * or rejects it naming one instruction and one reason code from the list
 * below.  Tests match on the code; people read the message and the log.
 *
 * Two modes, chosen by prog->kind:
 *   - BPF_PROG_KIND_XDP: the full abstract interpretation.  Accepted
 *     programs never touch memory outside the packet, their stack, their
 *     map values, ringbuf records or the context, and always terminate.
 *     The interpreter runs them WITHOUT run-time checks.
 *   - BPF_PROG_KIND_RAW ("conformance" mode, for `sluice bpf exec` and
 *     instruction-set test suites): r1 points to memory whose length (r2)
 *     is known only at run time, so only structural validity is checked:
 *     opcodes, registers, reserved fields, jump targets, LD_IMM64 pairs,
 *     call targets and that the last instruction cannot fall off the end.
 *     Loops are allowed.  This is the ONLY mode in which the interpreter
 *     must bounds-check every memory access against the raw memory and the
 *     stack, and stop after an instruction budget, at run time. */
#ifndef BPF_VERIFIER_H
#define BPF_VERIFIER_H 1

#include <stdbool.h>
#include <stdint.h>

#include "bpf/bpf_int.h"

/* Reason codes: X(NAME, readable text).  BPF_VERR_OK must stay first. */
#define BPF_VERR_LIST(X)                                                  \
    X(OK, "accepted")                                                     \
    X(EMPTY, "program has no instructions")                               \
    X(TOO_LARGE, "program has more than 1000000 instructions")            \
    X(BAD_OPCODE, "unknown opcode")                                       \
    X(BAD_REG, "invalid register number")                                 \
    X(WRITE_R10, "frame pointer r10 is read-only")                        \
    X(RESERVED_FIELD, "reserved field is non-zero")                       \
    X(BAD_LDIMM64, "malformed LD_IMM64")                                  \
    X(BAD_MAP_REF, "invalid map reference")                               \
    X(JMP_OUT_OF_RANGE, "jump out of the program")                        \
    X(JMP_INTO_LDIMM64, "jump into the middle of LD_IMM64")               \
    X(FALL_OFF_END, "control flows past the last instruction")            \
    X(UNREACHABLE, "unreachable instruction")                             \
    X(BAD_CALL, "bad BPF-to-BPF call target")                             \
    X(CALL_DEPTH, "call stack deeper than 8 frames")                      \
    X(UNINIT_REG, "read of uninitialised register")                       \
    X(UNINIT_STACK, "read of uninitialised stack")                        \
    X(STACK_OOB, "stack access outside [-512, 0)")                        \
    X(STACK_MISALIGNED, "misaligned stack access")                        \
    X(PARTIAL_PTR, "partial access to a spilled pointer")                 \
    X(STACK_VAR_OFF, "stack access with an unbounded variable offset")    \
    X(PKT_NO_BOUNDS, "packet access without a dominating bounds check")   \
    X(PKT_OOB, "packet access at a negative offset")                      \
    X(NULL_DEREF, "dereference of a possibly-null pointer")               \
    X(MAP_VALUE_OOB, "map value access out of bounds")                    \
    X(MEM_OOB, "memory access out of bounds")                             \
    X(CTX_BAD_ACCESS, "ctx access at bad offset or size")                 \
    X(CTX_WRITE, "write to a read-only ctx field")                        \
    X(RDONLY_WRITE, "write to read-only memory")                          \
    X(BAD_DEREF, "dereference of a non-pointer or of a map/end pointer")  \
    X(BAD_SHIFT, "shift by a constant out of range")                     \
    X(PTR_ARITH_PROHIBITED, "prohibited pointer arithmetic")              \
    X(PTR_ARITH_UNBOUNDED, "pointer arithmetic with an unbounded scalar") \
    X(PTR_ARITH_OOB, "pointer arithmetic leaves its region")              \
    X(PTR_CMP, "comparison of incompatible pointers")                     \
    X(PTR_LEAK_MAP, "pointer leaked into a map")                          \
    X(PTR_LEAK_CTX, "pointer leaked into ctx")                            \
    X(PTR_LEAK_MEM, "pointer leaked into packet or ringbuf memory")       \
    X(PTR_LEAK_RETURN, "r0 at exit must be a scalar")                     \
    X(ATOMIC_BAD, "atomic operation on a prohibited operand")             \
    X(HELPER_UNKNOWN, "unknown helper")                                   \
    X(HELPER_ARG_TYPE, "helper argument of the wrong type")               \
    X(HELPER_ARG_SIZE, "helper memory argument of the wrong size")        \
    X(HELPER_MAP_TYPE, "helper not allowed for this map type")            \
    X(REF_LEAK, "unreleased ringbuf reservation at exit")                 \
    X(LD_ABS_CTX, "LD_ABS/LD_IND need the ctx in r6")                     \
    X(LOOP_UNBOUNDED, "infinite loop detected")                           \
    X(TOO_COMPLEX, "program too complex")                                 \
    X(NOMEM, "out of memory")

enum bpf_verr {
#define BPF_VERR_ENUM(NAME, TEXT) BPF_VERR_##NAME,
    BPF_VERR_LIST(BPF_VERR_ENUM)
#undef BPF_VERR_ENUM
    BPF_VERR_N
};

/* "PKT_NO_BOUNDS" for BPF_VERR_PKT_NO_BOUNDS; "?" when out of range. */
const char *bpf_verr_name(int reason);
/* The readable text of a reason code. */
const char *bpf_verr_text(int reason);
/* Parses "PKT_NO_BOUNDS" back; -1 if unknown. */
int bpf_verr_from_name(const char *name);

/* Processed-instruction budget, like the kernel's BPF_COMPLEXITY_LIMIT. */
#define BPF_VERIFY_INSN_LIMIT 1000000

/* Helper prototypes (helper_protos.c), with the kernel's meaning. */
enum bpf_arg_type {
    BPF_ARG_NONE,                /* Unused argument. */
    BPF_ARG_ANYTHING,            /* Any initialised scalar. */
    BPF_ARG_CONST_MAP_PTR,       /* A map from LD_IMM64. */
    BPF_ARG_PTR_TO_MAP_KEY,      /* key_size initialised readable bytes. */
    BPF_ARG_PTR_TO_MAP_VALUE,    /* value_size initialised readable bytes. */
    BPF_ARG_PTR_TO_UNINIT_MAP_VALUE, /* value_size writable bytes. */
    BPF_ARG_PTR_TO_MEM,          /* Readable memory; size in next arg. */
    BPF_ARG_PTR_TO_MEM_OR_NULL,  /* Same, or the constant 0. */
    BPF_ARG_CONST_SIZE,          /* Bounded size > 0 of the previous arg. */
    BPF_ARG_CONST_SIZE_OR_ZERO,  /* Bounded size >= 0. */
    BPF_ARG_CONST_ALLOC_SIZE_OR_ZERO, /* Constant allocation size. */
    BPF_ARG_PTR_TO_CTX,          /* The ctx pointer, offset 0. */
    BPF_ARG_PTR_TO_ALLOC_MEM,    /* A reservation to release (ringbuf). */
};

enum bpf_ret_type {
    BPF_RET_INTEGER,                   /* Unknown scalar. */
    BPF_RET_VOID,                      /* r0 becomes unreadable. */
    BPF_RET_PTR_TO_MAP_VALUE_OR_NULL,  /* Value of the map argument. */
    BPF_RET_PTR_TO_MEM_OR_NULL,        /* Reservation of the size arg. */
};

struct bpf_helper_proto {
    int32_t id;                        /* Kernel helper ID. */
    enum bpf_ret_type ret;
    enum bpf_arg_type args[5];         /* r1..r5. */
    bool pkt_changing;                 /* Invalidates packet pointers. */
    bool releases_ref;                 /* Frees the ALLOC_MEM argument. */
};

/* Returns the prototype of helper 'id', or NULL if sluice does not have
 * it. */
const struct bpf_helper_proto *bpf_helper_proto(int32_t id);
/* Whether helper 'id' may take a map of 'map_type' as its CONST_MAP_PTR
 * argument, and whether that map type may be used with helper 'id' (the
 * kernel's check_map_func_compatibility, both directions). */
bool bpf_helper_map_compatible(int32_t id, uint32_t map_type);

/* The scalar domain (verifier_scalar.c): known bits ("tnum": bits set in
 * 'mask' are unknown, the others equal 'value') plus signed and unsigned
 * 64- and 32-bit ranges, kept consistent with one another by
 * bpf_scalar_sync() as the kernel's reg_bounds_sync() does. */
struct bpf_tnum {
    uint64_t value;                    /* Known bits. */
    uint64_t mask;                     /* 1 = unknown bit. */
};

struct bpf_scalar {
    struct bpf_tnum var_off;
    int64_t smin, smax;                /* Signed 64-bit range. */
    uint64_t umin, umax;               /* Unsigned 64-bit range. */
    int32_t s32_min, s32_max;          /* Signed range of the low word. */
    uint32_t u32_min, u32_max;         /* Unsigned range of the low word. */
};

void bpf_scalar_unknown(struct bpf_scalar *);
void bpf_scalar_const(struct bpf_scalar *, uint64_t);
bool bpf_scalar_is_const(const struct bpf_scalar *);
/* Tightens all bounds from each other; returns false if they are
 * contradictory (no value satisfies them). */
bool bpf_scalar_sync(struct bpf_scalar *);
/* Zero-extends the low word (the result of any 32-bit operation). */
void bpf_scalar_zext32(struct bpf_scalar *);
/* dst = dst OP src for an ALU opcode (BPF_OP bits); 'alu32' for the ALU
 * class; 'off' is the instruction's offset (1 = signed div/mod). */
void bpf_scalar_alu(struct bpf_scalar *dst, const struct bpf_scalar *src,
                    uint8_t op, bool alu32, int16_t off);
/* Sign-extends the low 8, 16 or 32 bits ('bits') into 64 bits. */
void bpf_scalar_sext(struct bpf_scalar *, unsigned int bits);
/* Byte swap of width 'bits' (16/32/64): to big endian if 'swap' (on this
 * little-endian host) else a truncation. */
void bpf_scalar_bswap(struct bpf_scalar *, unsigned int bits, bool swap);
/* Outcome of "a OP b" for a conditional jump opcode: 1 always, 0 never,
 * -1 unknown. */
int bpf_scalar_branch(const struct bpf_scalar *a, const struct bpf_scalar *b,
                      uint8_t op, bool is32);
/* Narrows 'a' and 'b' assuming "a OP b" holds (op may be a negated
 * condition: see bpf_jmp_negate); returns false if it cannot hold. */
bool bpf_scalar_refine(struct bpf_scalar *a, struct bpf_scalar *b,
                       uint8_t op, bool is32);
/* The opcode of the negated condition, for the fall-through branch;
 * BPF_JSET negates to the private code BPF_VERIFIER_JNSET. */
#define BPF_VERIFIER_JNSET 0xf0
uint8_t bpf_jmp_negate(uint8_t op);
/* Whether every value of 'cur' is a value of 'old'. */
bool bpf_scalar_within(const struct bpf_scalar *old,
                       const struct bpf_scalar *cur);

#endif
