/* sluice's eBPF runtime: the public API.
 *
 * A self-contained library (it knows nothing of flows or ports): load an ELF
 * object built with `clang -O2 -g -target bpf`, verify its programs, run
 * them in the interpreter (or the JIT once it lands), and read or write
 * their maps.  Map types, flags, helper IDs and the XDP context are the
 * kernel's, so objects built against libbpf's bpf_helpers.h run unchanged.
 *
 * Ownership: a struct bpf_object owns its programs and maps; programs and
 * maps are borrowed from it and live until bpf_object_close().
 * Errors: functions return 0 or a negative errno and, where a message helps,
 * fill '*errp' with an allocated message naming the section, symbol or
 * instruction and the reason (the caller frees it). */
#ifndef BPF_BPF_API_H
#define BPF_BPF_API_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/compiler.h"

struct bpf_object;
struct bpf_prog;
struct bpf_map;

/* A value for a .rodata variable, set at load time ("rodata.VAR=VALUE"). */
struct bpf_rodata_set {
    const char *var;         /* Variable name in .rodata. */
    const void *value;       /* Bytes to store (host order). */
    size_t size;             /* Must equal the variable's size; 0 means
                              * 'value' is an int64_t/uint64_t stored at the
                              * variable's own size (1, 2, 4 or 8 bytes),
                              * which it must fit, signed or unsigned. */
};

struct bpf_load_opts {
    const struct bpf_rodata_set *rodata;   /* Optional. */
    size_t n_rodata;
    bool fixed_seed;         /* Hash maps get seed 0 (reproducible tests). */
};

/* Opens and relocates an object from a file or memory.  Does not verify. */
int bpf_object_open(const char *path, const struct bpf_load_opts *,
                    struct bpf_object **objp, char **errp);
int bpf_object_open_mem(const void *data, size_t size, const char *name,
                        const struct bpf_load_opts *,
                        struct bpf_object **objp, char **errp);
void bpf_object_close(struct bpf_object *);

size_t bpf_object_n_progs(const struct bpf_object *);
struct bpf_prog *bpf_object_prog(const struct bpf_object *, size_t idx);
/* Finds a program by section name ("xdp", "xdp/fw") or function name. */
struct bpf_prog *bpf_object_find_prog(const struct bpf_object *,
                                      const char *section_or_name);
size_t bpf_object_n_maps(const struct bpf_object *);
struct bpf_map *bpf_object_map(const struct bpf_object *, size_t idx);
struct bpf_map *bpf_object_find_map(const struct bpf_object *,
                                    const char *name);

const char *bpf_prog_name(const struct bpf_prog *);
const char *bpf_prog_section(const struct bpf_prog *);
size_t bpf_prog_n_insns(const struct bpf_prog *);
/* After verification: whether some path of the program may store into the
 * packet (directly or through a helper).  Moving the packet's edges with
 * the adjust helpers is seen in the context instead. */
bool bpf_prog_writes_packet(const struct bpf_prog *);

/* Builds a program from raw instructions (8 bytes each, host order), as
 * `sluice bpf exec` and the assembler produce.  'raw_ctx': r1 = memory,
 * r2 = its length, instead of an XDP context. */
int bpf_prog_from_insns(const void *insns, size_t n_insns, bool raw_ctx,
                        struct bpf_object **objp, char **errp);

/* Verification result: reason codes are listed in verifier.h. */
struct bpf_verify_result {
    bool accepted;
    int reason;              /* enum bpf_verr (0 = accepted). */
    uint32_t insn_idx;       /* Failing instruction. */
    uint64_t insns_processed;
    uint64_t states;         /* States explored/stored. */
    uint64_t time_ns;        /* Verification time. */
    char *log;               /* Readable log (owned; free with
                              * bpf_verify_result_destroy). */
};
int bpf_prog_verify(struct bpf_prog *, struct bpf_verify_result *);
void bpf_verify_result_destroy(struct bpf_verify_result *);

/* What r1 points to when an XDP program runs (callers fill it from their
 * packet buffer).  The verifier checks accesses
 * against struct xdp_md (u32 fields) and rewrites them into loads of these
 * 64-bit fields, as the kernel does for struct xdp_buff. */
struct bpf_xdp_buff {
    uint64_t data;                   /* uint8_t *: packet start. */
    uint64_t data_end;               /* uint8_t *: one past the end. */
    uint64_t data_meta;              /* uint8_t *: metadata start. */
    uint64_t data_hard_start;        /* uint8_t *: buffer start. */
    uint64_t frame_end;              /* uint8_t *: buffer end (tail room). */
    uint32_t ingress_ifindex;        /* sluice port number. */
    uint32_t rx_queue_index;
    uint32_t egress_ifindex;
    uint32_t redirect_port;          /* Set by bpf_redirect(). */
    uint64_t redirect_flags;
};

/* Runs a verified XDP program on a packet described by 'ctx'.  Returns r0.
 * The program may move ctx->data/data_end (adjust helpers) and set
 * ctx->redirect_port. */
uint64_t bpf_prog_run_xdp(const struct bpf_prog *, struct bpf_xdp_buff *ctx);
/* Runs a verified raw program on 'mem' of 'len' bytes. */
uint64_t bpf_prog_run_raw(const struct bpf_prog *, void *mem, size_t len);

/* Execution mode (added with the JIT).  Programs run as native code by
 * default, compiled at their first run; SLUICE_BPF_JIT=0 in the
 * environment makes the interpreter the default.  The global default and a
 * per-program choice can be changed at any time; a program the JIT cannot
 * translate runs in the interpreter.  The JIT does not count executed
 * instructions (bpf_prog_stats.insns stays 0 for its runs). */
enum bpf_exec_mode {
    BPF_EXEC_DEFAULT,        /* Per program: follow the global default. */
    BPF_EXEC_JIT,
    BPF_EXEC_INTERP,
};
void bpf_set_default_exec_mode(enum bpf_exec_mode);
enum bpf_exec_mode bpf_default_exec_mode(void);
void bpf_prog_set_exec_mode(struct bpf_prog *, enum bpf_exec_mode);
/* Compiles 'prog' now instead of at its first run (for `prog dump
 * --jited`).  Returns 0 or a negative errno with the reason in '*errp'. */
int bpf_prog_jit(struct bpf_prog *, char **errp);
/* The native code of 'prog' once compiled: its bytes, and for each of its
 * 'n' instructions the offset where its code starts ('offs' has n + 1
 * entries, the last one being 'size').  Returns false before compilation. */
bool bpf_prog_jited(const struct bpf_prog *, const uint8_t **code,
                    size_t *size, const uint32_t **offs, size_t *n);
/* What the JIT's code costs, per eBPF instruction, for performance
 * contracts (issue 8): the x86-64 instructions the translation of
 * instruction i executes on its shortest and longest internal path (equal
 * unless the translation branches inside, e.g. a division's zero check or
 * a tail call's limit checks).  A jump's count includes the jump; a helper
 * call's covers its call sequence (argument moves, CALL, result moves) but
 * not the helper, unless 'inlined' says the JIT emitted the whole
 * operation inline (e.g. an array-map lookup).  The second slot of an
 * LD_IMM64 is zero.  '*prologue' and '*epilogue' get the instructions run
 * once per entry and per exit.  NULL before compilation. */
struct bpf_jit_cost {
    uint16_t x86_min;        /* Instructions, shortest internal path. */
    uint16_t x86_max;        /* Instructions, longest internal path. */
    bool inlined;            /* A helper call emitted inline. */
};
const struct bpf_jit_cost *bpf_prog_jit_costs(const struct bpf_prog *,
                                              uint32_t *prologue,
                                              uint32_t *epilogue);
/* Why the last run on this thread ended in a run-time error, or NULL: raw
 * programs in the JIT stop (r0 = 0) on a memory access outside their
 * memory and stack, or when they spend their instruction budget. */
const char *bpf_last_run_error(void);

/* The clock and CPU seen by helpers (ktime_get_ns, jiffies64,
 * get_smp_processor_id) on this thread.  Offline, the caller sets the
 * packet's timestamp before each run; when unset, CLOCK_MONOTONIC. */
void bpf_set_time_ns(uint64_t ns);
void bpf_set_cpu(uint32_t cpu);
/* This thread's CPU number as set by bpf_set_cpu() (0 by default). */
uint32_t bpf_get_cpu(void);

/* Per-program run statistics. */
struct bpf_prog_stats {
    uint64_t runs;
    uint64_t insns;          /* Instructions executed (interpreter). */
    uint64_t ns;             /* Total run time when timing is on. */
};
void bpf_prog_get_stats(const struct bpf_prog *, struct bpf_prog_stats *);

/* Map access from the control plane (syscall-like semantics). */
const char *bpf_map_name(const struct bpf_map *);
uint32_t bpf_map_type(const struct bpf_map *);
uint32_t bpf_map_key_size(const struct bpf_map *);
uint32_t bpf_map_value_size(const struct bpf_map *);
uint32_t bpf_map_max_entries(const struct bpf_map *);
/* Bytes of the 'value' buffer that lookup/update use: value_size, or for
 * per-CPU maps every CPU's copy, each rounded up to 8 bytes (as the
 * syscall does). */
size_t bpf_map_sys_value_size(const struct bpf_map *);
int bpf_map_lookup(struct bpf_map *, const void *key, void *value);
int bpf_map_update(struct bpf_map *, const void *key, const void *value,
                   uint64_t flags);
int bpf_map_delete(struct bpf_map *, const void *key);
int bpf_map_next_key(struct bpf_map *, const void *key, void *next_key);

/* Sluice's own map type: the expiring flow table with slot allocation
 * (map_flowtable.c, docs/maps.md).  Programs use the same number from
 * progs/sluice_maps.h.  Values start with the entry's u32 slot. */
#define BPF_MAP_TYPE_SLUICE_FLOWTABLE 0x5100
/* Expired entries removed by one flow-table operation besides the one it
 * meets (its key, or the oldest when full): the bound on its work. */
#define BPF_FLOWTABLE_EXPIRE_BUDGET 4

struct bpf_flowtable_stats {
    uint64_t inserted;     /* Entries ever inserted. */
    uint64_t expired;      /* Entries removed for idleness. */
    uint64_t full;         /* Inserts refused with -E2BIG. */
    uint32_t entries;      /* Entries held (live or awaiting removal). */
    uint32_t live;         /* Entries not expired at the map's clock. */
    uint32_t capacity;     /* Slots usable. */
    uint64_t timeout_ns;   /* Idle timeout, 0 = never. */
    uint64_t clock_ns;     /* Latest packet time a program saw. */
    size_t elem_bytes;     /* Memory per slot: element plus bucket. */
};

/* Sets the capacity (1..max_entries slots) and idle timeout of a flow
 * table and empties it.  Returns 0, -EINVAL (not a flow table) or -E2BIG
 * (capacity 0 or above max_entries). */
int bpf_flowtable_configure(struct bpf_map *, uint32_t capacity,
                            uint64_t timeout_ns);
/* Control-plane reverse lookup: copies the key and value (either may be
 * NULL) of the live entry in 'slot'.  Returns 0, -ENOENT (free or
 * expired), -E2BIG (slot >= capacity) or -EINVAL (not a flow table). */
int bpf_flowtable_slot_key(struct bpf_map *, uint32_t slot, void *key,
                           void *value);
int bpf_flowtable_get_stats(const struct bpf_map *,
                            struct bpf_flowtable_stats *);
/* State export/import (src/state): the idle age (ns since its last use, at
 * the table's clock) of the live entry in 'slot'; 0, -ENOENT, -E2BIG or
 * -EINVAL as bpf_flowtable_slot_key(). */
int bpf_flowtable_slot_age(struct bpf_map *, uint32_t slot, uint64_t *age_ns);
/* Gives the entries of 'keys' (n keys of key_size bytes, packed) the idle
 * ages 'ages' (other entries: age 0) and reorders the table's age list to
 * match, so imported entries expire when they would have in the exporting
 * switch.  A table whose clock has started anchors the ages at it; a fresh
 * one (no program has run on it yet) anchors them at the first packet
 * time a program brings, since only that time is comparable with the
 * packets to come.  Returns 0, -ENOENT (a key is not in the table) or
 * -EINVAL (not a flow table). */
int bpf_flowtable_restore_ages(struct bpf_map *, const void *keys,
                               const uint64_t *ages, size_t n);

#endif
