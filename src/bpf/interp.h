/* The interpreter and the run-time bookkeeping around it (internal to
 * src/bpf; the public entry points are bpf_prog_run_xdp/raw in bpf_api.h). */
#ifndef BPF_INTERP_H
#define BPF_INTERP_H 1

#include <stdbool.h>
#include <stdint.h>

#include "bpf/bpf_int.h"

/* Runs 'prog' (prog->xlated if the verifier made it, else prog->insns)
 * with r1 and r2 as given and returns r0.  Adds the instructions executed
 * (all programs of a tail-call chain) to '*n_insns'.  Trusts the program:
 * the caller runs only verified programs.  A run that cannot continue
 * (unknown opcode, call depth beyond BPF_MAX_CALL_DEPTH, LD_ABS/LD_IND out
 * of the packet) returns 0, as the kernel does. */
uint64_t bpf_interp_run(const struct bpf_prog *, uint64_t r1, uint64_t r2,
                        uint64_t *n_insns);
/* The same for raw ("conformance" mode) programs, which the verifier
 * checked only structurally: every memory access must stay inside the raw
 * memory (bpf_run_cur->mem) or the stack, only helpers without pointer
 * arguments may be called, and at most INTERP_RAW_BUDGET instructions run.
 * A run that breaks a rule returns 0 and stores the reason in '*errorp'
 * (NULL otherwise). */
#define INTERP_RAW_BUDGET (64ull * 1000 * 1000)
uint64_t bpf_interp_run_raw(const struct bpf_prog *, uint64_t r1, uint64_t r2,
                            uint64_t *n_insns, const char **errorp);
/* LD_ABS/LD_IND, for the interpreter and the JIT alike: stores in '*out'
 * the 'size' (1, 2 or 4) bytes at 'off' in network order, read from the XDP
 * packet as it is now (after any adjust helper) or, in raw runs, the
 * memory.  Returns false when they are not all inside it. */
bool bpf_interp_packet_load(int64_t off, unsigned int size, uint64_t *out);
/* Whether a raw program may call helper 'id', in the interpreter and the
 * JIT alike: only helpers without pointer arguments, which could reach
 * memory the raw checks do not cover (bpf_tail_call takes a map: not
 * allowed either). */
bool bpf_interp_raw_helper_ok(int32_t id);

/* Counters of one run, for performance contracts (src/contract). */
struct bpf_interp_counts {
    uint64_t insns;              /* Instructions executed. */
    uint64_t mem;                /* Program loads, stores, atomics and
                                  * LD_ABS/LD_IND (helpers' own accesses
                                  * are not counted). */
    uint64_t helpers;            /* Helper calls, tail calls included. */
    uint64_t sig;                /* Path signature (verifier_paths.h). */
    bool tail_taken;             /* A tail call was taken (the signature
                                  * then covers the target's jumps too). */
    /* Optional: each outcome in order (0/1 jump not taken/taken, 2 LD_ABS
     * or LD_IND outside the packet; tail calls 0/1), as
     * bpf_prog_path_follow() takes them.  'trail_len' counts all of them,
     * also those beyond 'trail_cap'. */
    uint8_t *trail;
    uint32_t trail_cap;
    uint32_t trail_len;
    /* Called before each helper call (not tail calls) with its ID and
     * r1..r5, or NULL. */
    void (*on_call)(void *arg, int32_t helper, const uint64_t args[5]);
    void *arg;
};
/* Runs a verified XDP program in a counting copy of the interpreter
 * (sets bpf_run_cur itself; no statistics, never the JIT).  Resets the
 * counters of '*cnt' (not on_call/arg/trail/trail_cap) and returns r0. */
uint64_t bpf_interp_run_xdp_counted(const struct bpf_prog *,
                                    struct bpf_xdp_buff *,
                                    struct bpf_interp_counts *);

/* Per-program statistics are kept per thread, keyed by the program, so
 * that datapath threads never share a counter.  The loader calls
 * bpf_prog_stats_forget() before freeing a program, so that a later
 * program at the same address starts from zero. */
void bpf_prog_stats_forget(const struct bpf_prog *);
/* Measures run time (clock_gettime around each run, ~40 ns) into
 * bpf_prog_stats.ns; off by default, like kernel.bpf_stats_enabled. */
void bpf_prog_stats_set_timing(bool on);

#endif
