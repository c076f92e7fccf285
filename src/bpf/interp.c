/* The eBPF interpreter: RFC 9669 as clang emits it for -mcpu=v1 to v4.
 *
 * Dispatch is a computed goto through a 256-entry table indexed by the
 * opcode byte (a "threaded" interpreter, like the kernel's
 * ___bpf_prog_run): each handler ends by jumping straight to the handler
 * of the next instruction, so there is no central switch to mispredict.
 * Opcodes whose meaning depends on another field (signed division and
 * modulo with offset 1, sign-extending moves with offset 8/16/32, local
 * calls versus helper calls) test that field inside the handler.
 *
 * Frames: BPF-to-BPF calls push a frame (return instruction, program,
 * callee-saved r6..r9, frame pointer r10) and give the callee its own
 * 512-byte stack; at most BPF_MAX_CALL_DEPTH frames, all carved from one
 * array on the C stack (4 KiB).  A tail call replaces the running frame's
 * program and keeps its stack, as the kernel does; an exit from a frame
 * reached by tail call returns to that frame's caller.
 *
 * Semantics the kernel defines where the ISA leaves a choice: shift counts
 * are masked (63 or 31); division by zero gives 0; modulo by zero leaves
 * the destination unchanged (32-bit: its upper half cleared); signed
 * INT_MIN / -1 gives INT_MIN and INT_MIN % -1 gives 0; 32-bit results are
 * zero-extended.  LD_ABS/LD_IND read the packet (XDP) or memory (raw runs)
 * in network byte order and end the program with r0 = 0 when the access is
 * outside it. */
#include "bpf/interp.h"

#include <endian.h>
#include <string.h>

#include "bpf/bpf_log.h"
#include "bpf/helpers.h"
#include "bpf/maps.h"
#include "bpf/verifier_paths.h"

#ifndef BPF_MEMSX
#define BPF_MEMSX 0x80 /* Sign-extending load (v4). */
#endif

struct frame {
    const struct bpf_insn *ret;  /* Instruction to resume at. */
    const struct bpf_prog *prog; /* Program of the caller. */
    uint64_t saved[5];           /* Caller's r6..r10. */
};

static const struct bpf_insn *
prog_code(const struct bpf_prog *prog)
{
    return prog->xlated ? prog->xlated : prog->insns;
}

static uint64_t
ld_u64(uint64_t addr)
{
    uint64_t v;
    memcpy(&v, (const void *)(uintptr_t)addr, 8);
    return v;
}

static uint32_t
ld_u32(uint64_t addr)
{
    uint32_t v;
    memcpy(&v, (const void *)(uintptr_t)addr, 4);
    return v;
}

static uint16_t
ld_u16(uint64_t addr)
{
    uint16_t v;
    memcpy(&v, (const void *)(uintptr_t)addr, 2);
    return v;
}

static uint8_t
ld_u8(uint64_t addr)
{
    return *(const uint8_t *)(uintptr_t)addr;
}

static void
st_u64(uint64_t addr, uint64_t v)
{
    memcpy((void *)(uintptr_t)addr, &v, 8);
}

static void
st_u32(uint64_t addr, uint32_t v)
{
    memcpy((void *)(uintptr_t)addr, &v, 4);
}

static void
st_u16(uint64_t addr, uint16_t v)
{
    memcpy((void *)(uintptr_t)addr, &v, 2);
}

static void
st_u8(uint64_t addr, uint8_t v)
{
    *(uint8_t *)(uintptr_t)addr = v;
}

bool
bpf_interp_packet_load(int64_t off, unsigned int size, uint64_t *out)
{
    const struct bpf_run_ctx *run = bpf_run_cur;
    const uint8_t *data;
    uint64_t len;

    if (!run) {
        return false;
    }
    if (run->xdp) {
        data = (const uint8_t *)(uintptr_t)run->xdp->data;
        len = run->xdp->data_end - run->xdp->data;
    } else {
        data = run->mem;
        len = run->mem_len;
    }
    if (off < 0 || (uint64_t)off + size > len) {
        return false;
    }
    data += off;
    switch (size) {
    case 1:
        *out = data[0];
        break;
    case 2:
        *out = (uint64_t)data[0] << 8 | data[1];
        break;
    default:
        *out = (uint64_t)data[0] << 24 | (uint64_t)data[1] << 16 |
               (uint64_t)data[2] << 8 | data[3];
        break;
    }
    return true;
}

static bool
ld_imm64_known(uint8_t src_reg)
{
    return src_reg == 0 || src_reg == BPF_PSEUDO_MAP_FD ||
           src_reg == BPF_PSEUDO_MAP_IDX || src_reg == BPF_PSEUDO_MAP_VALUE ||
           src_reg == BPF_PSEUDO_MAP_IDX_VALUE;
}

/* Value of a LD_IMM64 pair. */
static uint64_t
ld_imm64(const struct bpf_prog *prog, const struct bpf_insn *insn)
{
    uint32_t lo = (uint32_t)insn[0].imm, hi = (uint32_t)insn[1].imm;
    struct bpf_map *map;
    uint32_t zero = 0;

    switch (insn[0].src_reg) {
    case BPF_PSEUDO_MAP_FD:
    case BPF_PSEUDO_MAP_IDX:
        return (uint64_t)(uintptr_t)prog->maps[lo];
    case BPF_PSEUDO_MAP_VALUE:
    case BPF_PSEUDO_MAP_IDX_VALUE:
        map = prog->maps[lo];
        return (uint64_t)(uintptr_t)map->ops->lookup(map, &zero) + hi;
    default:
        return (uint64_t)hi << 32 | lo;
    }
}

uint64_t
bpf_interp_run(const struct bpf_prog *prog, uint64_t r1, uint64_t r2,
               uint64_t *n_insns)
#define INTERP_CHECKED 0
#include "interp_body.inc"
#undef INTERP_CHECKED


/* Raw runs: r1 = memory of r2 bytes known only now.  Every access must lie
 * in that memory or in the interpreter's own stack. */
static bool
raw_access_ok(uint64_t addr, unsigned int size, const uint8_t *stack,
              size_t stack_size)
{
    const struct bpf_run_ctx *run = bpf_run_cur;
    uint64_t mem = (uint64_t)(uintptr_t)run->mem;
    uint64_t st = (uint64_t)(uintptr_t)stack;

    if (run->mem && addr >= mem && addr - mem <= run->mem_len
        && size <= run->mem_len - (addr - mem)) {
        return true;
    }
    return addr >= st && addr - st <= stack_size
           && size <= stack_size - (addr - st);
}

bool
bpf_interp_raw_helper_ok(int32_t id)
{
    switch (id) {
    case BPF_FUNC_ktime_get_ns:
    case BPF_FUNC_get_prandom_u32:
    case BPF_FUNC_get_smp_processor_id:
    case BPF_FUNC_jiffies64:
    case BPF_FUNC_get_numa_node_id:
        return true;
    default:
        return false;
    }
}

static uint64_t
interp_run_checked_body(const struct bpf_prog *prog, uint64_t r1, uint64_t r2,
                        uint64_t *n_insns, const char **raw_errorp)
#define raw_error (*raw_errorp)
#define INTERP_CHECKED 1
#include "interp_body.inc"
#undef INTERP_CHECKED
#undef raw_error

uint64_t
bpf_interp_run_raw(const struct bpf_prog *prog, uint64_t r1, uint64_t r2,
                   uint64_t *n_insns, const char **errorp)
{
    *errorp = NULL;
    return interp_run_checked_body(prog, r1, r2, n_insns, errorp);
}

/* One conditional outcome of a counted run: the signature, and the trail
 * when the caller keeps one. */
static inline void
interp_note(struct bpf_interp_counts *cnt, uint32_t idx, unsigned int taken)
{
    cnt->sig = bpf_path_sig_step(cnt->sig, idx, taken);
    if (cnt->trail) {
        if (cnt->trail_len < cnt->trail_cap) {
            cnt->trail[cnt->trail_len] = (uint8_t)taken;
        }
        cnt->trail_len++;
    }
}

/* The counting variant, for performance contracts: a separate copy of the
 * body so that the plain interpreter above pays nothing for the counters. */
static uint64_t
interp_run_counted_body(const struct bpf_prog *prog, uint64_t r1, uint64_t r2,
                        uint64_t *n_insns, struct bpf_interp_counts *cnt)
#define INTERP_CHECKED 0
#define INTERP_COUNTING 1
#include "interp_body.inc"
#undef INTERP_COUNTING
#undef INTERP_CHECKED

uint64_t
bpf_interp_run_xdp_counted(const struct bpf_prog *prog,
                           struct bpf_xdp_buff *xdp,
                           struct bpf_interp_counts *cnt)
{
    struct bpf_run_ctx ctx = {.xdp = xdp, .prog = prog};
    struct bpf_run_ctx *saved = bpf_run_cur;

    cnt->insns = 0;
    cnt->mem = 0;
    cnt->helpers = 0;
    cnt->sig = BPF_PATH_SIG_INIT;
    cnt->tail_taken = false;
    cnt->trail_len = 0;
    bpf_run_cur = &ctx;
    uint64_t ret = interp_run_counted_body(prog, (uint64_t)(uintptr_t)xdp, 0,
                                           &cnt->insns, cnt);
    bpf_run_cur = saved;
    return ret;
}
