/* eBPF maps: creation, per-type operations and the control-plane extras.
 *
 * Every map type keeps the kernel's numbers and semantics (map type and flag
 * values from <linux/bpf.h>, errno values of the BPF syscall and helpers), so
 * a program built against libbpf sees the same behaviour here as in the
 * kernel.  The per-type layouts and their costs are described at the top of
 * each map_*.c file.
 *
 * Two views of a map:
 *  - the program view, through map->ops (lookup returns a pointer into the
 *    map, update copies one value): per-CPU types show the copy of the CPU
 *    set with bpf_set_cpu() on the running thread;
 *  - the control-plane view (bpf_map_lookup() and friends in bpf_api.h),
 *    which for per-CPU types reads and writes all copies at once, each
 *    rounded up to 8 bytes and concatenated in CPU order, like the syscall.
 *
 * Concurrency (docs/maps.md, "Concurrency"): with bpf_maps_set_threads()
 * given more than one thread, several datapath threads and the control
 * thread may use any map at once.  Lookups in the four hash types and in
 * LPM tries take no lock; hash writers take per-bucket (striped) spin
 * locks and a per-map lock for the free and LRU lists, LPM writers one
 * per-map lock, and every operation on a flow table, queue, stack or ring
 * buffer one per-map lock.  With one thread no lock is taken.  No
 * operation allocates memory after creation: hash, LRU and LPM nodes all
 * come from preallocated pools, and as in the kernel's preallocated maps
 * an element deleted (or evicted) while a program still holds a pointer
 * to its value may be reused at once. */
#ifndef BPF_MAPS_H
#define BPF_MAPS_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "bpf/bpf_int.h"
#include "core/compiler.h"
#include "core/hash.h"

struct bpf_prog;

/* Validates the attributes of 'map' (type, key_size, value_size,
 * max_entries, map_flags, n_cpus), fills map->ops and allocates the
 * type-specific storage in map->priv.  The hash seed is random (getrandom)
 * unless map_flags has BPF_F_ZERO_SEED, the kernel's flag for reproducible
 * tests, which gives seed 0.  map->n_cpus of 0 means the default (see
 * bpf_map_set_default_n_cpus()); it is set only for per-CPU types.
 * Returns 0, -EINVAL with the reason logged (module "bpf"), -E2BIG for
 * sizes that would overflow, -EOPNOTSUPP for a type sluice does not run
 * (and for LRU with BPF_F_NO_PREALLOC, where the kernel says ENOTSUPP), or
 * -ENOMEM. */
int bpf_map_create_internal(struct bpf_map *);

/* Frees the storage made by bpf_map_create_internal() (not 'map' itself,
 * which the object owns).  NULL or a map never created is a no-op. */
void bpf_map_free_internal(struct bpf_map *);

/* Number of per-CPU copies given to per-CPU maps created with n_cpus == 0:
 * the number of datapath threads.  Defaults to the online CPUs. */
void bpf_map_set_default_n_cpus(uint32_t n);
uint32_t bpf_map_default_n_cpus(void);

/* Datapath threading.  'n' threads will run programs, thread i having
 * called bpf_set_cpu(i).  Call it before the objects whose maps they share
 * are loaded, and while no program runs: n > 1 turns on the map locking
 * described above (n <= 1 turns it off) and raises the default number of
 * per-CPU copies (bpf_map_default_n_cpus()) to at least n, so that every
 * thread has a copy of its own in per-CPU maps created afterwards. */
void bpf_maps_set_threads(uint32_t n);

/* True when more than one thread may use maps at once (read by every map
 * operation; written only by bpf_maps_set_threads()). */
extern bool bpf_maps_concurrent;

/* The bytes per element of a map's element array, for elements of 'bytes'
 * bytes (header, key, value): 8-aligned, and while bpf_maps_concurrent a
 * whole number of cache lines, so that no two entries share a line.  Two
 * threads' entries side by side (inserts from several threads interleave
 * in the array) would bounce their line on every write of either, such as
 * a lookup's refresh of a flow's time; the kernel gets the same separation
 * from its per-CPU free lists.  Costs up to 56 bytes per element, and only
 * in maps created for several threads. */
size_t bpf_map_elem_stride(size_t bytes);
/* A zeroed array of 'n' elements of 'stride' bytes starting on a cache
 * line, freed with free(); NULL if out of memory. */
void *bpf_map_elems_alloc(size_t n, size_t stride);

/* A test-and-test-and-set spin lock for the map types' short critical
 * sections (a few hundred instructions at most, no system call inside):
 * the lock word is 0 when free.  Taken only when bpf_maps_concurrent. */
static inline void
bpf_mlock_acquire(uint32_t *lock)
{
    while (__atomic_exchange_n(lock, 1, __ATOMIC_ACQUIRE)) {
        while (__atomic_load_n(lock, __ATOMIC_RELAXED)) {
            __builtin_ia32_pause();
        }
    }
}

static inline bool
bpf_mlock_try(uint32_t *lock)
{
    return !__atomic_load_n(lock, __ATOMIC_RELAXED) &&
           !__atomic_exchange_n(lock, 1, __ATOMIC_ACQUIRE);
}

static inline void
bpf_mlock_release(uint32_t *lock)
{
    __atomic_store_n(lock, 0, __ATOMIC_RELEASE);
}

/* Thread-local state of the run time uses the initial-exec TLS model: one
 * %fs-relative load instead of a __tls_get_addr() call in the position-
 * independent static library.  src/bpf is never dlopen()ed. */
#define BPF_TLS __thread __attribute__((tls_model("initial-exec")))

/* The CPU index seen by programs on this thread (bpf_set_cpu()). */
extern BPF_TLS uint32_t bpf_cur_cpu;

bool bpf_map_type_is_percpu(uint32_t type);

/* Control-plane BPF_MAP_LOOKUP_AND_DELETE_ELEM: pops a queue or stack
 * ('key' ignored), or reads and deletes a hash element.  -EOPNOTSUPP for
 * other types. */
int bpf_map_lookup_and_delete(struct bpf_map *, const void *key, void *value);

/* Program arrays hold program pointers.  The loader fills slots from
 * static initialisers with bpf_prog_array_set(); the control plane
 * (bpf_map_update() with a u32 value) names programs by their index in
 * the table given with bpf_prog_array_bind() (the object's programs).
 * 'prog' NULL clears the slot.  Returns 0, -E2BIG (index out of range) or
 * -EINVAL (not a program array, or a program of another kind than the
 * first one stored). */
int bpf_prog_array_set(struct bpf_map *, uint32_t index,
                       const struct bpf_prog *prog);
/* Borrows 'progs' (n entries) for the life of the map. */
void bpf_prog_array_bind(struct bpf_map *, struct bpf_prog *const *progs,
                         size_t n);
/* Control-plane read of a slot: its program's index in the bound table
 * (u32), or -ENOENT for an empty slot or an unbound program. */
int bpf_prog_array_sys_lookup(struct bpf_map *, const void *key, void *value);
/* The program in slot 'index', or NULL (empty or out of range).  Used by
 * the interpreter's tail call. */
const struct bpf_prog *bpf_prog_array_get(const struct bpf_map *,
                                          uint32_t index);

/* Ring buffer (BPF_MAP_TYPE_RINGBUF): producer side for helpers, with the
 * kernel's record format (8-byte header: length with busy and discard bits,
 * page offset), and consumer side for the control plane. */
void *bpf_ringbuf_reserve(struct bpf_map *, uint64_t size, uint64_t flags);
/* 'data' must come from bpf_ringbuf_reserve() of any ring buffer. */
void bpf_ringbuf_commit(void *data, uint64_t flags, bool discard);
int bpf_ringbuf_output(struct bpf_map *, const void *data, uint64_t size,
                       uint64_t flags);
/* BPF_RB_AVAIL_DATA, BPF_RB_RING_SIZE, BPF_RB_CONS_POS, BPF_RB_PROD_POS;
 * 0 for anything else, as the kernel. */
uint64_t bpf_ringbuf_query(struct bpf_map *, uint64_t flags);

/* Consumes the committed records in order, calling 'cb' for each one that
 * was not discarded; stops at the first record still being written (busy),
 * or when 'cb' returns non-zero (that record counts as consumed).  Returns
 * the number of records passed to 'cb', or -EINVAL if 'map' is not a ring
 * buffer, or the negative value 'cb' returned. */
typedef int bpf_ringbuf_cb(void *arg, const void *data, size_t size);
int bpf_ringbuf_consume(struct bpf_map *, bpf_ringbuf_cb *cb, void *arg);

/* Optional cost counters for performance contracts: when 'bpf_map_costs'
 * points to a struct on this thread, every map operation adds the slots or
 * nodes it visited and the key compares it made.  NULL (the default) costs
 * one predictable branch per operation. */
struct bpf_map_costs {
    uint64_t ops;      /* Operations counted. */
    uint64_t visits;   /* Buckets, chain elements, trie nodes
                        * or array slots visited. */
    uint64_t key_cmps; /* Full key compares (memcmp). */
    uint64_t expired;  /* Flow-table entries removed for idleness. */
};
extern BPF_TLS struct bpf_map_costs *bpf_map_costs;

#define BPF_MAP_COST(VISITS, CMPS)                                             \
    do {                                                                       \
        struct bpf_map_costs *c_ = bpf_map_costs;                              \
        if (unlikely(c_ != NULL)) {                                            \
            c_->visits += (VISITS);                                            \
            c_->key_cmps += (CMPS);                                            \
        }                                                                      \
    } while (0)
#define BPF_MAP_COST_OP()                                                      \
    do {                                                                       \
        if (unlikely(bpf_map_costs != NULL)) {                                 \
            bpf_map_costs->ops++;                                              \
        }                                                                      \
    } while (0)

/* Per-type operations, defined in the map_*.c files (internal). */
extern const struct bpf_map_ops bpf_htab_ops;  /* All four hash types. */
extern const struct bpf_map_ops bpf_array_ops; /* ARRAY, PERCPU_ARRAY. */
extern const struct bpf_map_ops bpf_prog_array_ops;
extern const struct bpf_map_ops bpf_lpm_ops;
extern const struct bpf_map_ops bpf_ringbuf_ops;
extern const struct bpf_map_ops bpf_queue_ops; /* QUEUE and STACK. */
extern const struct bpf_map_ops bpf_flowtable_ops; /* SLUICE_FLOWTABLE. */

/* Control-plane variants (see the per-CPU view above): the hash lookup
 * does not touch the LRU order and returns copy 0 of per-CPU values;
 * 'all_cpus' updates take every copy from 'value'. */
void *bpf_htab_sys_lookup(struct bpf_map *, const void *key);
int bpf_htab_update(struct bpf_map *, const void *key, const void *value,
                    uint64_t flags, bool all_cpus);
/* Copies the value at 'key' (every CPU's copy, for the per-CPU type) into
 * 'value', bpf_map_sys_value_size() bytes; -ENOENT past the end. */
int bpf_array_sys_read(struct bpf_map *, const void *key, void *value);
int bpf_array_update(struct bpf_map *, const void *key, const void *value,
                     uint64_t flags, bool all_cpus);

/* The kernel's bpf_map_flags_access_ok(): not both read-only and
 * write-only, for programs or for the control plane. */
bool bpf_map_access_flags_ok(uint32_t flags);

/* Logs why a map cannot be created and returns -EINVAL. */
int bpf_map_invalid(const struct bpf_map *, const char *fmt, ...)
    PRINTF_FORMAT(2, 3);

/* Key compare for lock-free readers of the hash maps and the flow table:
 * the stored key (padded with zeroes to 8 bytes) is read word by word with
 * atomic loads, because a writer may rewrite it meanwhile (which the
 * element's sequence count then reports), and compared with the caller's 'size' bytes, whose last 1..7
 * are read as one zero-padded word (hash_tail_word()), never past their
 * end.  The differences are OR-ed rather than tested word by word: the
 * compare runs when the 32-bit hashes match, so the keys are almost always
 * equal.  (Before, each word went through a variable-length memcpy(), a
 * library call: about 30 of the firewall's 140 instructions per lookup,
 * single-stepped.  The locked paths keep memcmp(), which for these sizes
 * is shorter than this loop.) */
static inline bool
bpf_map_key_equal_atomic(const uint64_t *stored, const void *key,
                         uint32_t size)
{
    _Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
                   "stored keys are compared as little-endian words");
    const uint8_t *k = key;
    uint32_t full = size & ~7u;
    uint64_t diff = 0;
    for (uint32_t off = 0; off < full; off += 8) {
        uint64_t w;
        memcpy(&w, k + off, 8);
        diff |= __atomic_load_n(&stored[off / 8], __ATOMIC_ACQUIRE) ^ w;
    }
    if (size & 7) {
        diff |= __atomic_load_n(&stored[full / 8], __ATOMIC_ACQUIRE) ^
                hash_tail_word(k + full, size & 7);
    }
    return !diff;
}

#endif
