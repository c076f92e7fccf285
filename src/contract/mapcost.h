/* Contracts of the eBPF helpers: what one helper call costs, in x86
 * instructions and memory accesses, as a function of the performance-
 * critical variables (PCVs) of the map it works on.
 *
 * Structure and numbers come from two different places.  Which PCVs a
 * helper's cost depends on, and that it depends on them linearly, is read
 * from the implementation (src/bpf/map_*.c, helpers.c): a hash lookup hashes
 * the key once, then loops over its bucket's chain, so its cost is
 * base + a * chain elements visited + b * full-key compares.  The numbers
 * base, a, b are the x86 instructions of the code this very binary was
 * compiled to, measured by single-stepping (contract/x86count.h) a scratch
 * copy of the map (same type, key and value sizes) at calibration points:
 * 0, 1, 2, ... chain elements built from colliding keys under a fixed hash
 * seed, 0 and 1 evictions, 0 .. budget expiries, and so on.  The bound at a
 * PCV vector is the maximum over the calibration runs, extended linearly:
 * the coefficients are fitted (least squares, rounded up, raised to the
 * slope of the cheapest runs over long spans), the base of each outcome is
 * the largest remainder.  docs/contracts.md explains how a tenant reads
 * the result.
 *
 * Observation: contract_mapcost_probe() returns, for a helper call about
 * to be made with given arguments, its outcome and the PCVs it will take,
 * by walking the map read-only (bpf_*_probe() in the map files).  Called
 * just before the call, its answer pairs with a measurement of the call. */
#ifndef CONTRACT_MAPCOST_H
#define CONTRACT_MAPCOST_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bpf_map;

/* Performance-critical variables of one helper call.  Each op's contract
 * names the ones it uses (contract_mapcost_pcv_used()). */
enum contract_pcv {
    CONTRACT_PCV_CHAIN,   /* Hash, LRU, flow table: chain elements visited
                           * looking for the key.  LPM: trie nodes visited. */
    CONTRACT_PCV_CMPS,    /* Full-key compares (the stored 32-bit hash
                           * matched).  LPM: key-data bytes compared, summed
                           * over the nodes visited. */
    CONTRACT_PCV_EVICTED, /* LRU update: entries evicted (0 or 1). */
    CONTRACT_PCV_EXPIRED, /* Flow table: entries expired in the call
                           * (<= BPF_FLOWTABLE_EXPIRE_BUDGET + 1). */
    CONTRACT_PCV_UNLINK,  /* Chain elements walked to unlink the evicted
                           * (LRU) or expired (flow table) entries from their
                           * buckets, summed over them. */
    CONTRACT_PCV_WORDS,   /* csum_diff: whole 8-byte words summed,
                           * from_size / 8 + to_size / 8.  ringbuf_output:
                           * whole 8-byte words copied (memory accesses
                           * only; COPY is the x86 cost). */
    CONTRACT_PCV_PARTS,   /* csum_diff: non-empty operands (0..2), each a
                           * csum_partial() call. */
    CONTRACT_PCV_DIFFS,   /* LPM: prefix compares that stopped at a
                           * differing byte (and located the bit). */
    CONTRACT_PCV_TAIL,    /* csum_diff: bytes after the whole words,
                           * from_size % 8 + to_size % 8 (0..14), copied
                           * one by one.  ringbuf_output: size % 8. */
    CONTRACT_PCV_SCANS,   /* LPM: prefix compares that read a key byte (all
                           * but those against a /0 node or key). */
    CONTRACT_PCV_OFF,     /* LPM: 1 if the key's path left the trie at a
                           * node without the child for its next bit, or
                           * the trie was empty. */
    CONTRACT_PCV_IM,      /* LPM update, delete: 1 if the walk stopped at an
                           * intermediate node of exactly the key's
                           * length (a prefix the trie holds no entry
                           * for); 0 for an insert, which then adds no
                           * node (NODES tells it apart). */
    CONTRACT_PCV_NODES,   /* LPM: nodes an insert adds or a delete frees
                           * (0..2). */
    CONTRACT_PCV_JOINS,   /* LPM: intermediate nodes among them (0 or 1):
                           * an insert that splits a path, a delete that
                           * merges one. */
    CONTRACT_PCV_FRESH,   /* LPM insert: nodes taken from the trie's
                           * never-used pool rather than its free list. */
    CONTRACT_PCV_COPY,    /* ringbuf_output: x86 instructions of the C
                           * library's memcpy of the record, measured by
                           * the probe on a scratch copy of the same
                           * length and alignment (memcpy's cost is a step
                           * function of the length, not linear). */
    CONTRACT_PCV_N
};

/* Outcome classes: a helper call's path through the helper depends on its
 * outcome and on the PCVs, nothing else. */
enum contract_outcome {
    CONTRACT_OUT_OK,       /* Helpers with one outcome; ringbuf/queue ops
                            * that succeeded; adjust_head/tail accepted. */
    CONTRACT_OUT_HIT,      /* Lookup or redirect_map found the key. */
    CONTRACT_OUT_MISS,     /* Lookup or redirect_map did not. */
    CONTRACT_OUT_INSERTED, /* Update added a new entry. */
    CONTRACT_OUT_REPLACED, /* Update overwrote an existing entry. */
    CONTRACT_OUT_EXISTS,   /* Update with BPF_NOEXIST of a present key. */
    CONTRACT_OUT_NOENT,    /* Update with BPF_EXIST or delete of an absent
                            * key; pop/peek of an empty queue. */
    CONTRACT_OUT_FULL,     /* Update, push, reserve or output refused:
                            * no room. */
    CONTRACT_OUT_DELETED,  /* Delete removed the entry. */
    CONTRACT_OUT_INVALID,  /* Rejected arguments (bad flags, sizes). */
    CONTRACT_OUT_N
};

/* constant + sum(coef[i] * pcv[i]). */
struct contract_linear {
    uint64_t base;                 /* Instructions (or accesses). */
    uint64_t coef[CONTRACT_PCV_N]; /* Per unit of each PCV. */
};

/* The contract of one (helper, map, outcome). */
struct contract_op_cost {
    struct contract_linear x86;       /* x86 instructions, from the helper's
                                       * first instruction to its RET. */
    struct contract_linear mem;       /* Memory accesses to the map's
                                       * storage: bucket heads, element
                                       * headers and keys, values copied
                                       * (per 8 bytes), list links. */
    uint64_t pcv_max[CONTRACT_PCV_N]; /* Largest value each PCV can take in
                                       * one call on this map (0 = unused,
                                       * UINT64_MAX = bounded only by the
                                       * call's arguments, e.g. WORDS). */
};

/* The observed (or predicted) PCVs and outcome of one call. */
struct contract_pcvs {
    enum contract_outcome outcome;
    uint64_t pcv[CONTRACT_PCV_N];
};

const char *contract_pcv_name(enum contract_pcv);
const char *contract_outcome_name(enum contract_outcome);

/* The outcomes helper 'helper_id' can have on 'map' (NULL for helpers
 * without a map argument); fills up to 'n' and returns how many there
 * are, 0 for a helper sluice does not implement. */
size_t contract_mapcost_outcomes(int32_t helper_id, const struct bpf_map *map,
                                 enum contract_outcome *out, size_t n);

/* The contract of helper 'helper_id' with outcome 'outcome' on maps shaped
 * like 'map' (type, key and value sizes, CPUs; NULL for helpers without a
 * map).  Calibrates on first use for that shape (about a second per
 * helper and shape, single-stepped; results are cached for the process
 * in a table keyed by helper and shape, behind a mutex).  Returns
 * 0, -ENOENT for an outcome the op does not have, -EOPNOTSUPP for an
 * unknown helper or map type, or -ENOMEM. */
int contract_mapcost_get(int32_t helper_id, const struct bpf_map *map,
                         enum contract_outcome outcome,
                         struct contract_op_cost *out);

/* Evaluates a linear form at 'pcvs'. */
uint64_t contract_linear_eval(const struct contract_linear *,
                              const uint64_t pcv[CONTRACT_PCV_N]);

/* Predicts, without side effects, the outcome and PCVs of calling helper
 * 'helper_id' with arguments 'args' (r1..r5 as the program passes them:
 * map pointers, key and value pointers, flags, sizes) now, on this thread
 * (per-CPU maps use bpf_cur_cpu, flow tables the clock the call would
 * see).  Returns 0, -EOPNOTSUPP, or -ENOMEM (ringbuf_output: no room for
 * the scratch copy that measures COPY). */
int contract_mapcost_probe(int32_t helper_id, const uint64_t args[5],
                           struct contract_pcvs *out);

/* Measures one real call: probes it, runs bpf_helper_func(helper_id) on
 * 'args' single-stepped and returns its x86 instructions (the call's side
 * effects happen).  '*pcvs' (if not NULL) gets the probe; '*ret' (if not
 * NULL) the helper's return value. */
uint64_t contract_mapcost_measure(int32_t helper_id, const uint64_t args[5],
                                  struct contract_pcvs *pcvs, uint64_t *ret);

/* One measured call of contract_mapcost_exercise(). */
typedef void contract_mapcost_sample_fn(void *arg,
                                        const struct contract_pcvs *pcvs,
                                        uint64_t x86, uint64_t ret);

/* Makes 'n' random calls of helper 'helper_id' on a scratch map shaped
 * like 'shape' (NULL for helpers without a map), between random updates
 * and deletes that fill and drain it, with keys that collide in a few
 * buckets (fixed hash seed), packet times that make flow-table entries
 * expire in bursts, and nested LPM prefixes; 'cb' gets each measured call.
 * The calibration is this with a fixed 'seed'; tests use other seeds.
 * Returns 0, -EOPNOTSUPP or -ENOMEM. */
int contract_mapcost_exercise(int32_t helper_id, const struct bpf_map *shape,
                              uint64_t seed, size_t n,
                              contract_mapcost_sample_fn *cb, void *arg);

#endif /* CONTRACT_MAPCOST_H */
