/* Path enumeration of a verified program, for performance contracts
 * (issue 8; the consumer is src/contract/).
 *
 * bpf_prog_paths() walks every feasible path of a verified XDP program
 * from its entry, one at a time and without pruning, over an abstract
 * state built from the verifier's scalar domain (verifier_scalar.c: known
 * bits plus ranges) and pointer kinds, so a branch the domain proves
 * impossible is never followed.  The packet length is an abstract scalar
 * refined by every bounds check, so "packet shorter than 34 bytes" is a
 * path of its own; read-only .rodata is read with its real contents (a
 * contract is per loaded configuration); an array-map lookup with a
 * constant in-range key cannot miss.  Loops are unrolled by the walk:
 * every iteration count is a path of its own.
 *
 * For each complete path the callback gets its exact costs (eBPF
 * instructions, memory accesses, helper calls, the JIT's x86 instructions
 * per bpf_prog_jit_costs() when given), the helper calls with their
 * outcomes, the packet conditions in words, and a signature (a hash of
 * every conditional jump's outcome in order) that the counting interpreter
 * (interp.h: bpf_interp_run_counted) computes the same way, so that a
 * measured run can be matched to its path.
 *
 * Merge mode keeps the count of reported records small for programs whose
 * paths multiply (unrolled option parsers): paths that reach the same
 * instruction in equal abstract states have the same continuations, so
 * they are walked once, carrying the distinct cost totals of their
 * prefixes with a count each.  The costs reported stay exact; only the
 * per-path signatures are lost (a measured run is then matched by
 * following its trail, bpf_prog_path_follow()). */
#ifndef BPF_VERIFIER_PATHS_H
#define BPF_VERIFIER_PATHS_H 1

#include <stdbool.h>
#include <stdint.h>

#include "bpf/bpf_int.h"

#define BPF_PATH_MAX_CALLS 64   /* Helper calls recorded per path. */

/* Outcome of one helper call on a path. */
enum bpf_path_outcome {
    BPF_PATH_ANY,               /* Not tested by the program. */
    BPF_PATH_HIT,               /* Lookup returned an element. */
    BPF_PATH_MISS,              /* Lookup returned NULL. */
    BPF_PATH_OK,                /* Integer result known to be 0. */
    BPF_PATH_FAIL,              /* Integer result known to be non-zero. */
    BPF_PATH_TESTED,            /* Integer result in some other range. */
    BPF_PATH_TAKEN,             /* Tail call taken (the path ends). */
    BPF_PATH_NOT_TAKEN,         /* Tail call not taken. */
};

struct bpf_path_call {
    uint32_t insn;              /* Index of the CALL instruction. */
    int32_t helper;             /* Helper ID. */
    int32_t map;                /* Index in prog->maps of its map
                                 * argument, or -1. */
    uint8_t outcome;            /* enum bpf_path_outcome. */
    char cond[40];              /* For BPF_PATH_TESTED: e.g. "<0". */
};

struct bpf_path {
    uint64_t sig;               /* Jump-outcome signature (see top). */
    uint64_t insns;             /* eBPF instructions executed. */
    uint64_t mem;               /* Loads, stores, atomics, LD_ABS/IND. */
    uint64_t helpers;           /* Helper calls (tail calls included). */
    uint64_t x86_min, x86_max;  /* JIT code of the executed instructions
                                 * (helper bodies, prologue and epilogue
                                 * excluded); 0 without costs. */
    uint32_t n_calls;
    struct bpf_path_call calls[BPF_PATH_MAX_CALLS];
    uint32_t n_conds;           /* Conditions on packet, context and map
                                 * fields, e.g. "nw_proto=6". */
    const char *const *conds;
    uint64_t ret_min, ret_max;  /* r0 at exit (unsigned). */
    uint32_t loop_iters;        /* Backward jumps taken. */
    uint64_t n_paths;           /* Paths this record stands for: 1, or
                                 * in merge mode (see bpf_paths_limits)
                                 * the number of paths with these exact
                                 * costs, calls and exit state; then 'sig'
                                 * is 0 and 'conds' are the conditions
                                 * common to all of them. */
};

/* Limits of one enumeration. */
struct bpf_paths_limits {
    uint64_t max_paths;         /* Stop after this many paths. */
    uint64_t max_steps;         /* Abstract instructions in all. */
    bool merge;                 /* Merge paths that reach an instruction
                                 * in equal abstract states (see
                                 * verifier_paths.c); max_paths then
                                 * counts records. */
};

/* Calls fn(path, arg) for every feasible path of the verified XDP program
 * 'prog' (x86 costs from 'costs', n_xlated entries, or NULL).  A non-zero
 * return from fn stops the walk: then 1 is returned.  Returns 0 when
 * every path was walked, -E2BIG when a limit stopped it (then '*errp'
 * says which), -EINVAL for a program that is not a verified XDP
 * program. */
int bpf_prog_paths(const struct bpf_prog *prog,
                   const struct bpf_jit_cost *costs,
                   const struct bpf_paths_limits *limits,
                   int (*fn)(const struct bpf_path *, void *), void *arg,
                   char **errp);

/* Follow mode: walks only the path whose conditional outcomes, in order,
 * are trail[0..n) (as the counting interpreter records them: 0/1 jump not
 * taken/taken, 2 an LD_ABS/LD_IND outside the packet, 0/1 tail call not
 * taken/taken), and reports it to fn.  This is how a measured run on a
 * path that the full enumeration did not reach (a limit stopped it) gets
 * its exact costs.  Returns 0, -ENOENT when no feasible path has these
 * outcomes (with '*errp'), or as bpf_prog_paths(). */
int bpf_prog_path_follow(const struct bpf_prog *prog,
                         const struct bpf_jit_cost *costs,
                         const uint8_t *trail, uint32_t n,
                         int (*fn)(const struct bpf_path *, void *),
                         void *arg, char **errp);

/* The signature step shared with the counting interpreter: 'h' extended
 * with the outcome 'taken' (0 or 1; 2 = an LD_ABS/LD_IND out of the
 * packet) of the conditional jump at 'idx'. */
static inline uint64_t
bpf_path_sig_step(uint64_t h, uint32_t idx, unsigned int taken)
{
    h ^= (uint64_t)idx * 4 + taken + 1;
    return h * 0x100000001b3ull;
}
#define BPF_PATH_SIG_INIT 0xcbf29ce484222325ull

#endif
