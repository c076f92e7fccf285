/* Argument and return prototypes of the helpers sluice implements.
 *
 * The verifier checks every helper call against one line of the table
 * below, as the kernel checks calls against each helper's struct
 * bpf_func_proto: each argument register must hold a value of the stated
 * kind (a map from LD_IMM64, a pointer to 'key_size' initialised bytes, a
 * bounded size, ...), and r0 afterwards holds the stated kind of result.
 * Which map types a helper accepts -- and which helpers a map type
 * accepts -- follows the kernel's check_map_func_compatibility(). */
#include "bpf/verifier.h"

#include <linux/bpf.h>

#include "core/compiler.h"

#define A_ANY BPF_ARG_ANYTHING
#define A_MAP BPF_ARG_CONST_MAP_PTR
#define A_KEY BPF_ARG_PTR_TO_MAP_KEY
#define A_VAL BPF_ARG_PTR_TO_MAP_VALUE
#define A_UVAL BPF_ARG_PTR_TO_UNINIT_MAP_VALUE
#define A_MEM BPF_ARG_PTR_TO_MEM
#define A_MEMN BPF_ARG_PTR_TO_MEM_OR_NULL
#define A_SZ BPF_ARG_CONST_SIZE
#define A_SZ0 BPF_ARG_CONST_SIZE_OR_ZERO
#define A_ASZ BPF_ARG_CONST_ALLOC_SIZE_OR_ZERO
#define A_CTX BPF_ARG_PTR_TO_CTX
#define A_AMEM BPF_ARG_PTR_TO_ALLOC_MEM

static const struct bpf_helper_proto protos[] = {
    { BPF_FUNC_map_lookup_elem, BPF_RET_PTR_TO_MAP_VALUE_OR_NULL,
      { A_MAP, A_KEY }, false, false },
    { BPF_FUNC_map_update_elem, BPF_RET_INTEGER,
      { A_MAP, A_KEY, A_VAL, A_ANY }, false, false },
    { BPF_FUNC_map_delete_elem, BPF_RET_INTEGER,
      { A_MAP, A_KEY }, false, false },
    { BPF_FUNC_ktime_get_ns, BPF_RET_INTEGER, { 0 }, false, false },
    { BPF_FUNC_trace_printk, BPF_RET_INTEGER,
      { A_MEM, A_SZ }, false, false },
    { BPF_FUNC_get_prandom_u32, BPF_RET_INTEGER, { 0 }, false, false },
    { BPF_FUNC_get_smp_processor_id, BPF_RET_INTEGER, { 0 }, false, false },
    { BPF_FUNC_tail_call, BPF_RET_INTEGER,
      { A_CTX, A_MAP, A_ANY }, false, false },
    { BPF_FUNC_redirect, BPF_RET_INTEGER, { A_ANY, A_ANY }, false, false },
    { BPF_FUNC_csum_diff, BPF_RET_INTEGER,
      { A_MEMN, A_SZ0, A_MEMN, A_SZ0, A_ANY }, false, false },
    { BPF_FUNC_get_numa_node_id, BPF_RET_INTEGER, { 0 }, false, false },
    { BPF_FUNC_xdp_adjust_head, BPF_RET_INTEGER,
      { A_CTX, A_ANY }, true, false },
    { BPF_FUNC_redirect_map, BPF_RET_INTEGER,
      { A_MAP, A_ANY, A_ANY }, false, false },
    { BPF_FUNC_xdp_adjust_meta, BPF_RET_INTEGER,
      { A_CTX, A_ANY }, true, false },
    { BPF_FUNC_xdp_adjust_tail, BPF_RET_INTEGER,
      { A_CTX, A_ANY }, true, false },
    { BPF_FUNC_map_push_elem, BPF_RET_INTEGER,
      { A_MAP, A_VAL, A_ANY }, false, false },
    { BPF_FUNC_map_pop_elem, BPF_RET_INTEGER,
      { A_MAP, A_UVAL }, false, false },
    { BPF_FUNC_map_peek_elem, BPF_RET_INTEGER,
      { A_MAP, A_UVAL }, false, false },
    { BPF_FUNC_jiffies64, BPF_RET_INTEGER, { 0 }, false, false },
    { BPF_FUNC_ringbuf_output, BPF_RET_INTEGER,
      { A_MAP, A_MEM, A_SZ0, A_ANY }, false, false },
    { BPF_FUNC_ringbuf_reserve, BPF_RET_PTR_TO_MEM_OR_NULL,
      { A_MAP, A_ASZ, A_ANY }, false, false },
    { BPF_FUNC_ringbuf_submit, BPF_RET_VOID,
      { A_AMEM, A_ANY }, false, true },
    { BPF_FUNC_ringbuf_discard, BPF_RET_VOID,
      { A_AMEM, A_ANY }, false, true },
    { BPF_FUNC_ringbuf_query, BPF_RET_INTEGER,
      { A_MAP, A_ANY }, false, false },
};

const struct bpf_helper_proto *
bpf_helper_proto(int32_t id)
{
    for (size_t i = 0; i < ARRAY_SIZE(protos); i++) {
        if (protos[i].id == id) {
            return &protos[i];
        }
    }
    return NULL;
}

/* Map types that only a few helpers may use, and those helpers. */
static bool
map_type_allows(uint32_t type, int32_t id)
{
    switch (type) {
    case BPF_MAP_TYPE_PROG_ARRAY:
        return id == BPF_FUNC_tail_call;
    case BPF_MAP_TYPE_RINGBUF:
        return id == BPF_FUNC_ringbuf_output
               || id == BPF_FUNC_ringbuf_reserve
               || id == BPF_FUNC_ringbuf_query;
    case BPF_MAP_TYPE_QUEUE:
    case BPF_MAP_TYPE_STACK:
        return id == BPF_FUNC_map_push_elem || id == BPF_FUNC_map_pop_elem
               || id == BPF_FUNC_map_peek_elem;
    case BPF_MAP_TYPE_DEVMAP:
    case BPF_MAP_TYPE_DEVMAP_HASH:
    case BPF_MAP_TYPE_CPUMAP:
    case BPF_MAP_TYPE_XSKMAP:
        return id == BPF_FUNC_redirect_map
               || id == BPF_FUNC_map_lookup_elem;
    default:
        return true;
    }
}

/* Helpers that only a few map types may be given. */
static bool
helper_allows(int32_t id, uint32_t type)
{
    switch (id) {
    case BPF_FUNC_tail_call:
        return type == BPF_MAP_TYPE_PROG_ARRAY;
    case BPF_FUNC_ringbuf_output:
    case BPF_FUNC_ringbuf_reserve:
    case BPF_FUNC_ringbuf_query:
        return type == BPF_MAP_TYPE_RINGBUF;
    case BPF_FUNC_map_push_elem:
    case BPF_FUNC_map_pop_elem:
    case BPF_FUNC_map_peek_elem:
        return type == BPF_MAP_TYPE_QUEUE || type == BPF_MAP_TYPE_STACK;
    case BPF_FUNC_redirect_map:
        return type == BPF_MAP_TYPE_DEVMAP
               || type == BPF_MAP_TYPE_DEVMAP_HASH
               || type == BPF_MAP_TYPE_CPUMAP
               || type == BPF_MAP_TYPE_XSKMAP;
    default:
        return true;
    }
}

bool
bpf_helper_map_compatible(int32_t id, uint32_t map_type)
{
    return map_type_allows(map_type, id) && helper_allows(id, map_type);
}
