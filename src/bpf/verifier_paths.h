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
 * following its trail, bpf_prog_path_follow()).
 *
 * Loop mode does not unroll the natural loops of the control-flow graph
 * (a back edge to a header that dominates it) whose body makes no calls,
 * has no exit and stores only to the stack: a path through such a loop is
 * a prefix up to the header, iterations that each follow one of the
 * loop's body paths (header to back edge), and an exit (header to the end
 * of the program).  At the header the registers and stack slots the body
 * writes are forgotten (widened), so one walk of the body from there
 * covers every iteration; each body path is reported once, as a record
 * with 'body' set, and the paths as their prefix and exit only, with the
 * loop's bit in 'loops'.  A path's cost is then exactly its record's cost
 * plus, for each iteration, the cost of the body path it followed; follow
 * mode counts the iterations per body path ('iters'). */
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

/* Iterations of one body path of a loop (loop mode, follow mode). */
struct bpf_path_iter {
    uint32_t loop;              /* Loop number (see bpf_path.loop). */
    uint64_t sig;               /* Body path signature. */
    uint64_t count;             /* Iterations that followed it. */
};
#define BPF_PATH_MAX_ITERS 48   /* Distinct body paths counted per path. */
#define BPF_PATH_MAX_LOOPS 64   /* Loops decomposed per program. */

struct bpf_path {
    uint64_t sig;               /* Jump-outcome signature (see top); of a
                                 * body path: from its header, starting
                                 * at BPF_PATH_SIG_INIT. */
    uint64_t insns;             /* eBPF instructions executed. */
    uint64_t mem;               /* Loads, stores, atomics, LD_ABS/IND. */
    uint64_t helpers;           /* Helper calls (tail calls included). */
    uint64_t x86_min, x86_max;  /* JIT code of the executed instructions
                                 * (helper bodies, prologue and epilogue
                                 * excluded); 0 without costs. */
    uint64_t insns_lo;          /* Least insns, mem and x86_max of the */
    uint64_t mem_lo;            /* paths of the record: equal to them */
    uint64_t x86_lo;            /* but with a band (bpf_paths_limits). */
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
    /* Loop mode (see top). */
    bool body;                  /* This record is a body path of loop
                                 * 'loop': its costs are one iteration's,
                                 * header to back edge, and it has no
                                 * calls. */
    uint32_t loop;              /* Loop number, 0.. in header order. */
    uint32_t loop_header;       /* Its header instruction. */
    uint64_t loops;             /* Bit per loop the path entered: its
                                 * iterations are not in the costs. */
    uint32_t n_iters;           /* Follow mode: iterations per body path
                                 * (iterations past BPF_PATH_MAX_ITERS
                                 * distinct body paths fail the follow). */
    struct bpf_path_iter iters[BPF_PATH_MAX_ITERS];
};

/* Limits of one enumeration. */
struct bpf_paths_limits {
    uint64_t max_paths;         /* Stop after this many paths. */
    uint64_t max_steps;         /* Abstract instructions in all. */
    bool merge;                 /* Merge paths that reach an instruction
                                 * in equal abstract states (see
                                 * verifier_paths.c); max_paths then
                                 * counts records. */
    bool loops;                 /* Loop mode (see top). */
    uint32_t band;              /* Merge mode: 0, or coalesce merged
                                 * paths whose x86 instructions are
                                 * within this many per mille of each
                                 * other into one record with the largest
                                 * costs (insns_lo, mem_lo, x86_lo: the
                                 * smallest). */
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
 * its exact costs.  With 'loops', in loop mode: the path is reported as
 * its prefix and exit, with its iterations counted per body path.
 * Returns 0, -ENOENT when no feasible path has these
 * outcomes (with '*errp'), or as bpf_prog_paths(). */
int bpf_prog_path_follow(const struct bpf_prog *prog,
                         const struct bpf_jit_cost *costs, bool loops,
                         const uint8_t *trail, uint32_t n,
                         int (*fn)(const struct bpf_path *, void *),
                         void *arg, char **errp);

/* The number of loops loop mode does not unroll in 'prog' (0 for a
 * program that is not verified). */
uint32_t bpf_prog_n_loops(const struct bpf_prog *prog);

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
