/* Performance contracts of eBPF programs (issue 8): input classes and
 * per-class bounds, and checking them against measured runs.
 *
 * contract_build() enumerates every feasible path of a verified XDP
 * program (bpf/verifier_paths.h) and groups them into input classes: paths
 * with the same helper calls, the same outcomes of those calls and the
 * same eBPF costs.  The outcome of a map call is refined to the outcomes
 * of its map contract (contract/mapcost.h: a hash update that returned 0
 * either INSERTED or REPLACED), so a class is (path group, outcome per
 * call).  For each class the bounds are
 *   eBPF instructions   exact (a constant: the path's length);
 *   helper calls        exact;
 *   memory accesses     the program's own loads/stores/atomics (exact)
 *                       + each call's map-storage accesses per mapcost;
 *   x86 instructions    the JIT code of the path (per-instruction costs of
 *                       bpf_prog_jit_costs(), longest internal path) +
 *                       prologue + epilogue + the entry wrapper (a
 *                       constant measured once) + each helper's x86
 *                       contract per mapcost;
 * each constant + sum(coef * PCV), with PCVs named MAP.pcv (e.g.
 * "conns.chain"; "#k" added when a class calls the same map twice).
 * Loops are unrolled by the enumeration, so each iteration count is a
 * class of its own (its "loop iterations" are shown) -- unless that makes
 * more paths than the limits allow (p0f's TCP-option parser): then the
 * enumeration runs again in loop mode (bpf/verifier_paths.h), a class is
 * a path's prefix and exit, and its bounds add, per loop it enters, one
 * term per loop PCV "loop@H.k": the iterations whose body path has the
 * k-th cost of the loop at instruction H, times that cost (exact).
 *
 * contract_measure() runs one packet twice: through the counting
 * interpreter on one copy of the program (instructions, accesses, calls,
 * the path signature, and the PCVs each call has, probed just before it),
 * and through the JIT, single-stepped (contract/x86count.h), on a second
 * copy of the object kept in the same state; contract_check_packet()
 * finds the packet's class and compares.  In loop mode the run's recorded
 * jump outcomes are followed through the same abstract walk
 * (bpf_prog_path_follow()) to find its prefix and exit and count its
 * iterations per loop PCV.  When a limit stopped even that enumeration, a
 * run on a path not enumerated is not left without a class: its path is
 * followed and its classes are added, as exact as the enumerated ones
 * (marked 'traced'). */
#ifndef CONTRACT_CONTRACT_H
#define CONTRACT_CONTRACT_H 1

#include <stdbool.h>
#include <stdint.h>

#include "contract/mapcost.h"
#include "core/util.h"

struct bpf_prog;
struct bpf_xdp_buff;

/* Metrics, in the order they are printed. */
enum contract_metric {
    CONTRACT_M_INSNS,     /* eBPF instructions executed. */
    CONTRACT_M_MEM,       /* eBPF-visible memory accesses. */
    CONTRACT_M_HELPERS,   /* Helper calls. */
    CONTRACT_M_X86,       /* x86-64 instructions. */
    CONTRACT_M_N
};
const char *contract_metric_name(enum contract_metric);

/* One helper call of a class. */
struct contract_call {
    int32_t helper;              /* Helper ID. */
    int32_t map;                 /* prog->maps index, or -1. */
    uint8_t path_outcome;        /* enum bpf_path_outcome
                                  * (bpf/verifier_paths.h). */
    char cond[40];               /* Test made on its result, if any. */
    uint32_t outcomes;           /* Bit (1 << enum contract_outcome) per
                                  * outcome of the map contract this class
                                  * covers: outcomes of equal cost share a
                                  * class; 0 without a contract. */
    bool has_cost;               /* A map contract exists for it. */
    bool inlined;                /* The JIT emitted it inline. */
    struct contract_op_cost cost; /* Coefficient-wise maximum over the
                                   * outcomes covered. */
    char pcv_prefix[72];         /* "conns" or "conns#2". */
};

/* Measurement gaps of a class on one metric. */
struct contract_gap {
    uint64_t max_abs;            /* Largest bound - measured. */
    double max_pct;              /* Largest relative gap, percent. */
    double sum_abs, sum_pct;     /* For the means. */
};

/* Loop mode (bpf/verifier_paths.h): a PCV of a loop, the number of its
 * iterations that followed body paths of one cost. */
struct contract_loop_pcv {
    uint32_t loop;               /* Loop number (bpf_path.loop). */
    uint32_t header;             /* Its header instruction. */
    uint64_t insns, mem;         /* eBPF cost of one such iteration. */
    uint64_t x86;                /* Its JIT code, x86 instructions. */
    uint32_t n_bodies;           /* Body paths of this cost. */
    char name[32];               /* "loop@186.3". */
    char *desc;                  /* Conditions of its body paths. */
};
#define CONTRACT_MAX_LOOP_PCVS 128
/* Loop mode: paths with the same calls share a class when their x86
 * costs outside loops are within CONTRACT_LOOP_BAND per mille of each
 * other (the bound is the largest); the enumeration coalesces merged
 * paths within CONTRACT_WALK_BAND, so that classes are whole bands. */
#define CONTRACT_LOOP_BAND 40
#define CONTRACT_WALK_BAND 25

/* A body path of a loop and its PCV. */
struct contract_body {
    uint32_t loop;
    uint64_t sig;                /* Its signature from the header. */
    uint64_t insns, mem, x86;
    uint32_t pcv;                /* Index in contract_prog.lpcvs. */
    char *desc;                  /* Its conditions, or NULL. */
};

struct contract_class {
    uint32_t group;              /* Path group (same paths, outcomes split). */
    char *desc;                  /* Conditions all its paths share. */
    char *words;                 /* The same in words (describe.h). */
    uint64_t n_paths;            /* Paths in the group. */
    uint64_t insns;              /* eBPF instructions (exact). */
    uint64_t mem;                /* Program's own accesses (exact). */
    uint64_t helpers;            /* Helper calls (exact). */
    uint64_t x86_code;           /* JIT code of the path plus prologue,
                                  * epilogue and entry wrapper. */
    uint64_t ret_min, ret_max;   /* Return value range. */
    bool traced;                 /* Added by contract_check_packet() from
                                  * a measured run's path, which the
                                  * enumeration had not reached. */
    uint32_t loop_iters;         /* Backward jumps taken on its paths (a
                                  * loop's iterations; clang's block
                                  * layout adds a few outside loops). */
    uint64_t loops;              /* Loop mode: bit per loop its paths
                                  * enter; those loops' PCVs are in its
                                  * bounds. */
    uint32_t n_calls;
    struct contract_call *calls;
    /* Filled by contract_check_packet(). */
    uint64_t packets;
    struct contract_gap gap[CONTRACT_M_N];
};

struct contract_prog {
    const struct bpf_prog *prog;
    struct contract_class *classes;
    size_t n_classes;
    uint64_t n_paths;            /* Paths enumerated. */
    char *incomplete;            /* Why enumeration stopped early (then
                                  * packets on other paths have no class),
                                  * or NULL. */
    uint32_t x86_prologue;       /* From bpf_prog_jit_costs(). */
    uint32_t x86_epilogue;
    uint32_t x86_entry;          /* Entry wrapper, measured. */
    bool have_x86;               /* JIT costs available. */
    /* Path signature -> group, open addressing. */
    uint64_t *sig_keys;
    uint32_t *sig_vals;
    size_t sig_cap, n_sigs;
    /* Set when the plain enumeration hit a limit and the paths were
     * enumerated again in merge mode (verifier_paths.h): the records of
     * merged paths carry no signature, so a measured run whose signature
     * is unknown is followed and matched to its group by calls and costs
     * (group_keys, n_group_keys of them, conditions not kept). */
    bool merged;
    struct bpf_path *group_keys;
    uint32_t n_group_keys;
    /* Group -> first class and number of classes. */
    uint32_t *group_first, *group_n;
    uint32_t n_groups;
    size_t classes_cap;
    const struct bpf_jit_cost *costs; /* The JIT's, or NULL. */
    uint32_t max_split;
    /* The outcomes of the last measured run (contract_measure()), to
     * follow its path when the enumeration was incomplete. */
    uint8_t *trail;
    uint32_t trail_cap, trail_len;
    /* Set when the enumeration ran in loop mode (verifier_paths.h),
     * which it does when the plain one hits a limit: loops are not
     * unrolled, a class's bounds add coef * PCV per loop PCV, and each
     * measured run is followed (contract_measure()) to find its prefix
     * and exit (followed) and its iterations per PCV. */
    bool loop_mode;
    struct contract_loop_pcv *lpcvs;
    uint32_t n_lpcvs;
    struct contract_body *bodies;
    uint32_t n_bodies;
    struct bpf_path *followed;   /* The last run's path, or NULL with
                                  * follow_err. */
    char *follow_err;
};

struct contract_limits {
    uint64_t max_paths;          /* Paths enumerated at most. */
    uint64_t max_steps;          /* Abstract instructions at most. */
    uint32_t max_split;          /* Outcome combinations per group. */
    bool no_merge;               /* Do not walk again in merge mode when
                                  * a limit stops the plain walk. */
};
#define CONTRACT_DEFAULT_MAX_PATHS 200000
#define CONTRACT_DEFAULT_MAX_STEPS 50000000
#define CONTRACT_DEFAULT_MAX_SPLIT 64

/* Builds the contract of a verified XDP program; compiles it with the JIT
 * for the x86 costs (a program the JIT refuses gets eBPF bounds only).
 * Not thread-safe: the entry wrapper is measured once per process.
 * Returns 0 (and '*out') or a negative errno with '*errp'. */
int contract_build(struct bpf_prog *, const struct contract_limits *,
                   struct contract_prog **out, char **errp);
void contract_prog_free(struct contract_prog *);

/* The bound of class 'c' on metric 'm' in words: "812 + 31*conns.chain". */
void contract_bound_text(const struct contract_prog *,
                         const struct contract_class *, enum contract_metric,
                         struct ds *);
/* A call in words: "map_update_elem(conns) INSERTED". */
void contract_call_text(const struct contract_prog *,
                        const struct contract_call *, struct ds *);

/* One packet's measurement. */
#define CONTRACT_MAX_OBS 64   /* = BPF_PATH_MAX_CALLS. */
struct contract_measure {
    uint64_t ret;                /* r0 of the interpreter run. */
    uint64_t sig;                /* Path signature. */
    bool tail_taken;
    uint64_t value[CONTRACT_M_N]; /* Measured counts; the memory count
                                   * includes the helpers' accesses per
                                   * their contracts at the observed
                                   * PCVs. */
    bool have_x86;
    uint32_t n_calls;
    int32_t helpers[CONTRACT_MAX_OBS];
    const struct bpf_map *maps[CONTRACT_MAX_OBS]; /* Map argument of each
                                                   * call, or NULL. */
    struct contract_pcvs pcvs[CONTRACT_MAX_OBS];
    bool probed[CONTRACT_MAX_OBS];
    uint64_t loop_counts[CONTRACT_MAX_LOOP_PCVS]; /* Loop mode:
                                                   * iterations per loop
                                                   * PCV. */
};

/* Runs 'interp' (counting interpreter) on 'ctx_i' and, when 'jit' is not
 * NULL, 'jit' (single-stepped JIT) on 'ctx_j': two copies of one program
 * in two objects in the same state, each with its own copy of the packet.
 * Sets the clock to 'time_ns' for both.  Returns 0, or -EIO with '*errp'
 * when the two runs disagree (return value or packet). */
int contract_measure(struct contract_prog *, struct bpf_prog *interp,
                     struct bpf_xdp_buff *ctx_i, struct bpf_prog *jit,
                     struct bpf_xdp_buff *ctx_j, uint64_t time_ns,
                     struct contract_measure *, char **errp);

/* Finds the class of measurement 'm' (the last one contract_measure()
 * made) and adds its gaps to the class.  When the enumeration was
 * incomplete and the run's path is not among the enumerated ones, the
 * path is followed (bpf_prog_path_follow()) and its classes added, marked
 * 'traced'.  Returns the class index, or -1 with '*errp' (no class: a
 * bug, or a path too long to follow); if some metric exceeds its bound,
 * sets '*violation' to an allocated "metric: measured N > bound B". */
long contract_check_packet(struct contract_prog *,
                           const struct contract_measure *m,
                           char **violation, char **errp);

/* The bound of class 'c' on metric 'm' at the PCVs observed in 'obs'. */
uint64_t contract_bound_at(const struct contract_prog *,
                           const struct contract_class *,
                           enum contract_metric,
                           const struct contract_measure *obs);

#endif
