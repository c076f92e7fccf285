/* Internal types shared by the files of src/bpf (loader, maps, helpers,
 * verifier, interpreter, disassembler).  Not for use outside src/bpf: the
 * public API is bpf_api.h.
 *
 * Instruction encoding, opcodes, map types, map flags and helper IDs are the
 * kernel's own, from <linux/bpf.h> (uapi), so programs built against
 * libbpf's bpf_helpers.h mean the same thing here as in the kernel. */
#ifndef BPF_BPF_INT_H
#define BPF_BPF_INT_H 1

#include <linux/bpf.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bpf/bpf_api.h"

#define BPF_MAX_INSNS 1000000         /* Per program, after relocation. */
#define BPF_STACK_SIZE 512            /* Bytes per frame, like the kernel. */
#define BPF_MAX_CALL_DEPTH 8          /* BPF-to-BPF frames, like the kernel. */
#define BPF_MAX_TAIL_CALLS 33         /* Like the kernel (MAX_TAIL_CALL_CNT). */
#define BPF_MAX_MAPS 64               /* Maps one program may use. */
#define BPF_NAME_LEN 64               /* Our names; the kernel's are 16. */

struct bpf_map;
struct bpf_jit_image;

/* Operations of one map type.  Semantics and errno values are the kernel's:
 * lookup returns a pointer to the value (stable until the element is
 * deleted) or NULL; update honours BPF_ANY/BPF_NOEXIST/BPF_EXIST and returns
 * 0, -EEXIST, -ENOENT, -E2BIG (full) or -EINVAL; delete returns 0 or
 * -ENOENT (-EINVAL for arrays). */
struct bpf_map_ops {
    int (*alloc)(struct bpf_map *);
    void (*free)(struct bpf_map *);
    void *(*lookup)(struct bpf_map *, const void *key);
    int (*update)(struct bpf_map *, const void *key, const void *value,
                  uint64_t flags);
    int (*delete)(struct bpf_map *, const void *key);
    /* NULL key = first key; -ENOENT after the last. */
    int (*get_next_key)(struct bpf_map *, const void *key, void *next_key);
    int (*push)(struct bpf_map *, const void *value, uint64_t flags);
    int (*pop)(struct bpf_map *, void *value);
    int (*peek)(struct bpf_map *, void *value);
};

struct bpf_map {
    char name[BPF_NAME_LEN];     /* From the ELF symbol, e.g. "conns". */
    enum bpf_map_type type;          /* Kernel map type number. */
    uint32_t key_size;               /* Bytes. */
    uint32_t value_size;             /* Bytes (per CPU for per-CPU maps). */
    uint32_t max_entries;            /* Capacity. */
    uint32_t map_flags;              /* BPF_F_* (BPF_F_NO_PREALLOC, ...). */
    uint32_t n_cpus;                 /* Per-CPU copies (per-CPU types). */
    uint32_t hash_seed;              /* Per-map random seed (hash types). */
    bool read_only;                  /* .rodata after load: programs can't
                                      * write it. */
    const struct bpf_map_ops *ops;
    void *priv;                      /* Type-specific storage (owned). */
    /* Global-data maps (.data/.rodata/.bss): single-entry arrays whose
     * value is the section image. */
    const char *section;             /* ".rodata" etc., or NULL. */
};

/* Program types sluice runs. */
enum bpf_prog_kind {
    BPF_PROG_KIND_XDP,               /* ctx = struct xdp_md. */
    BPF_PROG_KIND_RAW,               /* ctx = raw memory (r1 = mem, r2 =
                                      * len), for `sluice bpf exec`. */
};

/* A program as loaded: relocated bytecode plus the maps it references.
 * LD_IMM64 with src_reg BPF_PSEUDO_MAP_FD keeps imm = index into 'maps';
 * BPF_PSEUDO_MAP_VALUE keeps imm = index and the next insn's imm = offset.
 * BPF-to-BPF calls (src_reg BPF_PSEUDO_CALL) keep imm = relative target. */
struct bpf_prog {
    char name[BPF_NAME_LEN];     /* Function name. */
    char section[BPF_NAME_LEN];  /* ELF section, e.g. "xdp". */
    enum bpf_prog_kind kind;
    struct bpf_insn *insns;          /* Owned. */
    uint32_t n_insns;
    struct bpf_map **maps;           /* Borrowed from the object. */
    uint32_t n_maps;
    bool verified;                   /* Only verified programs run. */
    bool trusted;                    /* Unit tests only: a raw program
                                      * built by hand in C and vouched for
                                      * runs without raw-mode run-time
                                      * checks (so it may use maps). */
    /* Filled by the verifier for the runtime (owned arrays or NULL). */
    struct bpf_insn *xlated;         /* Insns with ctx accesses rewritten
                                      * for struct bpf_xdp_buff. */
    uint32_t n_xlated;
    uint32_t max_stack;              /* Deepest stack use, bytes. */
    bool writes_packet;              /* Verifier: some path may store into
                                      * the packet (a caller must re-parse
                                      * after a run). */
    /* JIT (jit.h; helper "jit"): native code made at the first run. */
    struct bpf_jit_image *jit;       /* Owned, or NULL. */
    uint8_t exec_mode;               /* enum bpf_exec_mode (0 = default). */
    bool jit_failed;                 /* Not translatable: interpreter. */
};


/* Read-only cost probes for performance contracts (src/contract/mapcost.c):
 * what an operation on 'key' would do now, found by walking the map without
 * changing it.  'op' is BPF_MAP_LOOKUP_ELEM, BPF_MAP_UPDATE_ELEM or
 * BPF_MAP_DELETE_ELEM.  'evicted', 'expired' by a full table and 'full'
 * describe what an insert of the key would do (the caller knows from
 * 'found' and the flags whether the update inserts). */
struct bpf_map_probe {
    uint32_t chain;   /* Chain elements (LPM: trie nodes) visited. */
    uint32_t cmps;    /* Full-key compares (LPM: data bytes compared). */
    uint32_t diffs;   /* LPM: compares that stopped at a differing byte. */
    uint32_t evicted; /* LRU entries an insert evicts. */
    uint32_t expired; /* Flow-table entries the op removes for idleness. */
    uint32_t unlink;  /* Chain elements walked to unlink those. */
    bool found;       /* The key is present (and live). */
    bool full;        /* An insert finds no room. */
};
void bpf_htab_probe(const struct bpf_map *, int op, const void *key,
                    struct bpf_map_probe *);
void bpf_flowtable_probe(const struct bpf_map *, int op, const void *key,
                         struct bpf_map_probe *);
void bpf_lpm_probe(const struct bpf_map *, int op, const void *key,
                   struct bpf_map_probe *);
/* Queue and stack maps: 'found' = a pop or peek gets a value, 'full' = a
 * push finds no room (and drops the oldest value with BPF_EXIST). */
void bpf_queue_probe(const struct bpf_map *, struct bpf_map_probe *);
/* Ring buffer: whether a reservation of 'size' data bytes (by
 * bpf_ringbuf_reserve or _output) finds room now; '*data' gets where the
 * record's data would start. */
bool bpf_ringbuf_probe(const struct bpf_map *, uint64_t size, void **data);

/* What else an LPM-trie operation does, beyond bpf_map_probe (for exact
 * LPM contracts; map_lpm.c says what each costs).  'nodes', 'joins' and
 * 'fresh' describe the change an insert (update of an absent key) or a
 * delete of a present key would make. */
struct bpf_lpm_walk {
    uint32_t scans; /* Prefix compares that read a key byte (a compare
                     * against a /0 node or key reads none). */
    uint32_t off;   /* 1: the path left the trie at a node without the
                     * child the key's next bit names, or the trie was
                     * empty. */
    uint32_t im;    /* 1: update, delete: the walk stopped at an
                     * intermediate node of exactly the key's length. */
    uint32_t nodes; /* Nodes the insert adds or the delete frees (0..2). */
    uint32_t joins; /* Intermediate nodes among them (0 or 1). */
    uint32_t fresh; /* Nodes the insert takes from the never-used part
                     * of the pool rather than the free list (0..2). */
};
void bpf_lpm_probe_walk(const struct bpf_map *, int op, const void *key,
                        struct bpf_map_probe *, struct bpf_lpm_walk *);

#endif
