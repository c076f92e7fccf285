/* eBPF helper functions, by the kernel's helper IDs (enum bpf_func_id in
 * <linux/bpf.h>), and the per-thread run state they read.
 *
 * BPF_HELPER_LIST is the one list of the helpers sluice implements; the
 * verifier's prototype table (helper_protos.c) must know exactly these IDs,
 * and a unit test checks both directions.  Each helper is a C function of
 * five u64 arguments returning u64, the calling convention of r1..r5 -> r0,
 * so the interpreter (and later the JIT) calls it directly.
 *
 * bpf_tail_call is in the list but has no C function: it replaces the
 * running program, so the interpreter performs it (bpf_helper_func()
 * returns NULL for it). */
#ifndef BPF_HELPERS_H
#define BPF_HELPERS_H 1

#include <linux/bpf.h>
#include <stdbool.h>
#include <stdint.h>

#include "bpf/bpf_int.h"
#include "bpf/maps.h"

#define BPF_HELPER_LIST(X)                                                     \
    X(map_lookup_elem)                                                         \
    X(map_update_elem)                                                         \
    X(map_delete_elem)                                                         \
    X(ktime_get_ns)                                                            \
    X(trace_printk)                                                            \
    X(get_prandom_u32)                                                         \
    X(get_smp_processor_id)                                                    \
    X(tail_call)                                                               \
    X(redirect)                                                                \
    X(csum_diff)                                                               \
    X(get_numa_node_id)                                                        \
    X(xdp_adjust_head)                                                         \
    X(redirect_map)                                                            \
    X(xdp_adjust_meta)                                                         \
    X(xdp_adjust_tail)                                                         \
    X(map_push_elem)                                                           \
    X(map_pop_elem)                                                            \
    X(map_peek_elem)                                                           \
    X(jiffies64)                                                               \
    X(ringbuf_output)                                                          \
    X(ringbuf_reserve)                                                         \
    X(ringbuf_submit)                                                          \
    X(ringbuf_discard)                                                         \
    X(ringbuf_query)

typedef uint64_t bpf_helper_fn(uint64_t r1, uint64_t r2, uint64_t r3,
                               uint64_t r4, uint64_t r5);

/* The function of helper 'id', or NULL if it is unknown or is
 * bpf_tail_call. */
bpf_helper_fn *bpf_helper_func(int32_t id);
/* "map_lookup_elem", ..., or NULL if sluice does not implement 'id'. */
const char *bpf_helper_name(int32_t id);
bool bpf_helper_known(int32_t id);
/* The implemented IDs in list order; returns how many (at most 'n' are
 * stored). */
size_t bpf_helper_ids(int32_t *ids, size_t n);

/* What the running program works on, set by bpf_prog_run_xdp/raw for the
 * length of one run on this thread. */
struct bpf_run_ctx {
    struct bpf_xdp_buff *xdp;    /* XDP runs; NULL for raw runs. */
    uint8_t *mem;                /* Raw runs: the memory, */
    size_t mem_len;              /* and its length in bytes. */
    const struct bpf_prog *prog; /* Program being run (first one of a
                                  * tail-call chain). */
};
extern BPF_TLS struct bpf_run_ctx *bpf_run_cur;

/* Clock seen by ktime_get_ns and jiffies64 on this thread: the value set
 * with bpf_set_time_ns(), or CLOCK_MONOTONIC while none is set. */
extern BPF_TLS uint64_t bpf_time_ns;
extern BPF_TLS bool bpf_time_set;

/* Jiffies tick: Debian's kernels use CONFIG_HZ=250. */
#define BPF_JIFFIES_HZ 250

/* Room the kernel keeps at the start of an XDP buffer for struct
 * xdp_frame (40 bytes on 64-bit), which bpf_xdp_adjust_head and
 * bpf_xdp_adjust_meta cannot grow into. */
#define BPF_XDP_FRAME_SIZE 40
/* Largest XDP metadata: skb_shared_info.meta_len is a u8, so 255 bytes
 * (252 once 4-aligned), as current kernels check; older ones allowed 32. */
#define BPF_XDP_META_MAX 255

#endif
