/* The eBPF JIT: verified programs translated to native code (internal to
 * src/bpf; programs run through bpf_prog_run_xdp/raw in bpf_api.h, which
 * pick the JIT or the interpreter).
 *
 * A program is compiled once, after verification or lazily at its first
 * run, into an image of read+exec memory (written while read+write, then
 * mprotect()ed: never writable and executable at once).  The image belongs
 * to the program: bpf_jit_free() releases it, and the loader calls that
 * before freeing the program.
 *
 * Only x86-64 has a back end (jit_x86.c); elsewhere bpf_jit_compile()
 * returns -EOPNOTSUPP and programs run in the interpreter. */
#ifndef BPF_JIT_H
#define BPF_JIT_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bpf/bpf_int.h"

/* Why a JIT run stopped early.  Each ends the run with r0 = 0, as the
 * interpreter does; only the raw-mode ones are errors for the caller. */
enum bpf_jit_stop {
    BPF_JIT_STOP_NONE = 0,   /* Ran to its exit. */
    BPF_JIT_STOP_LD_PKT,     /* LD_ABS/LD_IND outside the packet. */
    BPF_JIT_STOP_CALL_DEPTH, /* More than BPF_MAX_CALL_DEPTH frames. */
    BPF_JIT_STOP_MEM_OOB,    /* Raw mode: access outside the memory
                              * and the stack. */
    BPF_JIT_STOP_BUDGET,     /* Raw mode: instruction budget spent. */
    BPF_JIT_STOP_HELPER,     /* Raw mode: a helper that takes pointers. */
};

/* A compiled program.  Immutable once published in prog->jit. */
struct bpf_jit_image {
    uint8_t *code;              /* mmap()ed, read+exec. */
    size_t size;                /* Bytes of code. */
    size_t map_size;            /* Bytes mapped (page multiple). */
    uint32_t body_off;          /* Offset of insn 0's code: where tail
                                 * calls into this program land. */
    uint32_t n_insns;           /* Instructions translated. */
    uint32_t *insn_off;         /* n_insns + 1 offsets into 'code': the
                                 * code of insn i is [insn_off[i],
                                 * insn_off[i + 1]) (for prog dump). */
    bool raw;                   /* Raw-mode guards compiled in. */
    bool leaf;                  /* No trampoline: 'code' is insn 0's
                                 * prologue and never stops early (see
                                 * find_leaf() in jit_x86.c). */
    bool needs_ctx;             /* Reads bpf_run_cur (LD_ABS/LD_IND,
                                 * tail calls, helpers other than map
                                 * operations it calls directly or
                                 * inline); a run of an image without
                                 * may leave it unset. */
    bool direct;                /* Leaf and !needs_ctx: 'code' may be
                                 * called as uint64_t f(uint64_t r1) by
                                 * a caller that does not set r2. */
    struct bpf_insn *insns;     /* Copy of what was translated (n_insns),
                                 * for bpf_jit_stale(). */
    struct bpf_jit_cost *costs; /* n_insns x86 instruction counts
                                 * (bpf_prog_jit_costs()). */
    uint32_t prologue;          /* Instructions run per entry, */
    uint32_t epilogue;          /* and per exit. */
};

/* Compiles 'prog' (prog->xlated when the verifier made it, else
 * prog->insns) and publishes the image in prog->jit.  A program that
 * already has an image is left alone.  Safe to call from several threads
 * at once.  Returns 0, -EOPNOTSUPP (no back end for this machine),
 * -EINVAL (an instruction the JIT cannot translate; the message in
 * '*errp', if errp is not NULL, names it) or -ENOMEM. */
int bpf_jit_compile(struct bpf_prog *, char **errp);

/* Releases prog->jit.  No-op when there is none.  No other thread may be
 * running the program. */
void bpf_jit_free(struct bpf_prog *);

/* Whether prog->jit was translated from other instructions than the
 * program has now.  Programs do not change once loaded; only tests that
 * edit instructions between runs need this (SLUICE_BPF_JIT=2). */
bool bpf_jit_stale(const struct bpf_prog *);

/* Runs the compiled image of 'prog' with r1 and r2 as given and returns
 * r0.  '*stop' (if not NULL) says whether the run ended early.  The caller
 * has set bpf_run_cur, as for the interpreter. */
uint64_t bpf_jit_run(const struct bpf_prog *, uint64_t r1, uint64_t r2,
                     enum bpf_jit_stop *stop);

/* The slots of an ARRAY or PERCPU_ARRAY map, for lookups the JIT emits
 * inline (defined in map_array.c): slot i is at values + i * stride, and
 * CPU c's copy of it a further c * cpu_stride bytes on (0 for a plain
 * array; a per-CPU region per CPU, a whole number of cache lines).  Stable
 * for the life of the map.  False for other map types. */
bool bpf_array_layout(const struct bpf_map *, uint8_t **values, size_t *stride,
                      size_t *cpu_stride);

/* A direct entry into an image with one pointer argument, for counting
 * its instructions (x86count_run() passes one): bpf_jit_enter(&args) runs
 * args.code (an image's code) with r1, r2 and 'stop' as bpf_jit_run()
 * does and returns r0, executing exactly BPF_JIT_ENTER_INSNS instructions
 * of its own before the image's first. */
struct bpf_jit_enter_args {
    const uint8_t *code; /* bpf_jit_image.code. */
    uint64_t r1, r2;
    int *stop; /* Where a stop reason is written. */
};
#define BPF_JIT_ENTER_INSNS 5
uint64_t bpf_jit_enter(const struct bpf_jit_enter_args *);

#endif
