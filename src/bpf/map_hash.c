/* Hash maps: BPF_MAP_TYPE_HASH, PERCPU_HASH, LRU_HASH, LRU_PERCPU_HASH.
 *
 * Layout: a power-of-two array of buckets (n_buckets = max_entries rounded
 * up, as the kernel does), each holding the index + 1 of the first element
 * of its chain (0 = empty), and a preallocated array of max_entries
 * elements.  An element is a 24-byte header (chain link, full 32-bit hash,
 * LRU links, sequence count, reference bit), the key padded to 8 bytes,
 * then the value padded to 8 bytes, or for per-CPU types n_cpus such
 * values side by side.  Never-used
 * elements are handed out by a bump index, released ones through a free
 * list, so creation touches no element memory and updates never allocate.
 * Element pointers are stable until the element is deleted (or, for LRU
 * maps, evicted); updates of an existing key copy the value in place.
 *
 * Costs (counted in struct bpf_map_costs when enabled): lookup, update and
 * delete hash the key once (hash_bytes with the per-map seed), visit one
 * bucket and walk its chain; each chain element visited costs one visit, and
 * a full key compare is made only when the stored 32-bit hash matches.  With
 * the load factor <= 1 the expected chain length is below 1.5.
 * get_next_key finds the key (one chain walk) and then scans buckets
 * forward: O(n_buckets) in the worst case.
 *
 * LRU types keep all elements on one doubly linked recency list (head = most
 * recently used).  With one datapath thread a program's lookup or update
 * moves the element to the head (two link updates, no allocation), so the
 * order is exact; with several, it only sets the element's reference bit,
 * like the kernel's LRU, and an eviction gives referenced elements a second
 * chance.  The control plane's lookup touches nothing, as in the kernel.
 * When the map is full an insert evicts the tail, the least recently used
 * element, instead of failing with -E2BIG.
 *
 * Concurrency (bpf_maps_concurrent; docs/maps.md): lookups take no lock
 * and never return an element holding another key (htab_find()); updates
 * and deletes take the bucket's striped spin lock, and the free list, bump
 * index, count and LRU list sit under one per-map lock taken after it.  As
 * in the kernel's preallocated maps, an element deleted or evicted while a
 * program holds a pointer to its value can be reused at once.
 *
 * BPF_F_NO_PREALLOC is accepted (hash and per-CPU hash) but elements are
 * still preallocated: the observable semantics are the same and the fast
 * path never calls malloc. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bpf/maps.h"
#include "core/hash.h"

#define HTAB_CREATE_FLAGS                                                      \
    (BPF_F_NO_PREALLOC | BPF_F_NO_COMMON_LRU | BPF_F_NUMA_NODE |               \
     BPF_F_RDONLY | BPF_F_WRONLY | BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG |     \
     BPF_F_ZERO_SEED)
/* Values must fit one kmalloc() together with the kernel's element
 * header: KMALLOC_MAX_SIZE (4 MiB) less the header.  Keys have no limit
 * of their own in current kernels (6.x). */
#define HTAB_VALUE_SIZE_MAX ((4u << 20) - 48)
#define PCPU_VALUE_SIZE_MAX 32768 /* PCPU_MIN_UNIT_SIZE. */
#define HTAB_MAX_ENTRIES (1u << 30)

struct htab_elem {
    uint32_t next;     /* Chain link: index+1, 0 = end.  Kept when the
                        * element is deleted, so that a lock-free reader
                        * standing on it walks on down its old chain. */
    uint32_t hash;     /* Full hash of the key. */
    uint32_t lru_prev; /* LRU list links: element index, or */
    uint32_t lru_next; /* max_entries for the list head; lru_next is
                        * the free-list link (index+1) of a free
                        * element. */
    uint32_t seq;      /* Odd while the key is being (re)written. */
    uint32_t ref;      /* LRU: looked up since it was last considered
                        * for eviction (set by concurrent lookups). */
    uint64_t key[];    /* Key, then value(s), 8-aligned. */
};

/* Bucket lock stripes: bucket b is guarded by locks[b & lock_mask]. */
#define HTAB_MAX_LOCKS 1024

struct htab {
    uint32_t *buckets;   /* n_buckets chain heads (index+1). */
    uint32_t mask;       /* n_buckets - 1. */
    uint8_t *elems;      /* (max_entries + 1) elements; the last
                          * is the LRU list head. */
    size_t elem_size;    /* Bytes per element. */
    size_t key_stride;   /* round_up(key_size, 8). */
    size_t value_stride; /* round_up(value_size, 8). */
    uint32_t *locks;     /* Bucket lock stripes. */
    uint32_t lock_mask;  /* Stripes - 1. */
    bool lru;
    bool percpu;
    /* Under 'lock' when bpf_maps_concurrent, on a cache line of their own
     * so that the lookups' reads of the fields above stay shared. */
    uint8_t pad_[64];
    uint32_t lock;      /* Free list, bump index, LRU list, count. */
    uint32_t count;     /* Elements in use. */
    uint32_t free_list; /* Released elements (index+1). */
    uint32_t n_bumped;  /* Elements ever handed out. */
};

static struct htab_elem *
elem_at(const struct htab *h, uint32_t idx)
{
    return (struct htab_elem *)(void *)(h->elems + (size_t)idx * h->elem_size);
}

static uint32_t
elem_idx(const struct htab *h, const struct htab_elem *e)
{
    return (uint32_t)(((const uint8_t *)e - h->elems) / h->elem_size);
}

static uint8_t *
elem_value(const struct htab *h, struct htab_elem *e)
{
    return (uint8_t *)e->key + h->key_stride;
}

static uint32_t
cpu_index(const struct bpf_map *map)
{
    return bpf_cur_cpu < map->n_cpus ? bpf_cur_cpu : bpf_cur_cpu % map->n_cpus;
}

static uint32_t *
bucket_lock(const struct htab *h, uint32_t hash)
{
    return &h->locks[hash & h->mask & h->lock_mask];
}

static int
htab_alloc(struct bpf_map *map)
{
    bool lru = map->type == BPF_MAP_TYPE_LRU_HASH ||
               map->type == BPF_MAP_TYPE_LRU_PERCPU_HASH;
    bool percpu = bpf_map_type_is_percpu(map->type);

    if (!bpf_map_access_flags_ok(map->map_flags)) {
        return bpf_map_invalid(map, "contradictory access flags");
    }
    if (map->map_flags & ~HTAB_CREATE_FLAGS) {
        return bpf_map_invalid(map, "unknown map_flags 0x%x for a hash map",
                               map->map_flags & ~HTAB_CREATE_FLAGS);
    }
    if (lru && (map->map_flags & BPF_F_NO_PREALLOC)) {
        /* The kernel answers ENOTSUPP (524), which has no userspace name. */
        return -EOPNOTSUPP;
    }
    if (!lru && (map->map_flags & BPF_F_NO_COMMON_LRU)) {
        return bpf_map_invalid(map, "BPF_F_NO_COMMON_LRU needs an LRU map");
    }
    if (!map->max_entries || !map->key_size || !map->value_size) {
        return bpf_map_invalid(map, "max_entries, key_size and value_size "
                                    "must be non-zero");
    }
    if (map->value_size >= HTAB_VALUE_SIZE_MAX ||
        (percpu && map->value_size > PCPU_VALUE_SIZE_MAX) ||
        map->max_entries > HTAB_MAX_ENTRIES) {
        return -E2BIG;
    }

    struct htab *h = calloc(1, sizeof *h);
    if (!h) {
        return -ENOMEM;
    }
    uint32_t n_buckets = 1;
    while (n_buckets < map->max_entries) {
        n_buckets <<= 1;
    }
    h->mask = n_buckets - 1;
    h->lock_mask = MIN(n_buckets, HTAB_MAX_LOCKS) - 1;
    h->lru = lru;
    h->percpu = percpu;
    h->key_stride = ROUND_UP(map->key_size, 8);
    h->value_stride = ROUND_UP(map->value_size, 8);
    h->elem_size = bpf_map_elem_stride(sizeof(struct htab_elem) +
                                       h->key_stride +
                                       h->value_stride *
                                           (percpu ? map->n_cpus : 1));
    h->buckets = calloc(n_buckets, sizeof *h->buckets);
    h->elems =
        bpf_map_elems_alloc((size_t)map->max_entries + 1, h->elem_size);
    h->locks = calloc((size_t)h->lock_mask + 1, sizeof *h->locks);
    if (!h->buckets || !h->elems || !h->locks) {
        free(h->buckets);
        free(h->elems);
        free(h->locks);
        free(h);
        return -ENOMEM;
    }
    struct htab_elem *head = elem_at(h, map->max_entries);
    head->lru_prev = head->lru_next = map->max_entries;
    map->priv = h;
    return 0;
}

static void
htab_free(struct bpf_map *map)
{
    struct htab *h = map->priv;
    free(h->buckets);
    free(h->elems);
    free(h->locks);
    free(h);
}

static uint32_t
htab_hash(const struct bpf_map *map, const void *key)
{
    return hash_bytes(key, map->key_size, map->hash_seed);
}

/* Key compare with the common 4- and 8-byte keys inlined. */
static bool
key_equal(const void *a, const void *b, uint32_t size)
{
    uint64_t x, y;
    uint32_t u, v;
    switch (size) {
    case 4:
        memcpy(&u, a, 4);
        memcpy(&v, b, 4);
        return u == v;
    case 8:
        memcpy(&x, a, 8);
        memcpy(&y, b, 8);
        return x == y;
    default:
        return !memcmp(a, b, size);
    }
}

/* htab_find() when concurrent; '*linkp' as there.
 *
 * Lookups call it without a lock while writers change chains and reuse
 * elements, so each element is read as a seqlock: its 'seq' before and
 * after reading its hash, key and link.  A changed or odd 'seq' (the
 * element was freed and is being reused), or a hash of another bucket (it
 * was reused there), means the walk may have left this bucket's chain, and
 * it restarts, the role of the kernel's nulls markers.  A deleted element
 * keeps its link, so a reader standing on it still reaches every element
 * that followed it.  A match is thus a key that was in this bucket's chain
 * during the call; a miss means the key was absent at some moment of it.
 * Under the bucket's lock nothing changes and no restart happens. */
static __attribute__((noinline)) struct htab_elem *
htab_find_shared(const struct bpf_map *map, const void *key, uint32_t hash,
                 uint32_t **linkp)
{
    struct htab *h = map->priv;
    uint32_t bucket = hash & h->mask;
    uint64_t visits, cmps;
    uint32_t *link;
    struct htab_elem *found;
    uint32_t x;

restart:
    visits = 1;
    cmps = 0;
    found = NULL;
    link = &h->buckets[bucket];
    x = __atomic_load_n(link, __ATOMIC_ACQUIRE);
    while (x) {
        struct htab_elem *e = elem_at(h, x - 1);
        uint32_t seq = __atomic_load_n(&e->seq, __ATOMIC_ACQUIRE);
        uint32_t e_hash = __atomic_load_n(&e->hash, __ATOMIC_ACQUIRE);
        bool match = false;
        visits++;
        if (e_hash == hash) {
            cmps++;
            match = bpf_map_key_equal_atomic(e->key, key, map->key_size);
        }
        uint32_t next = __atomic_load_n(&e->next, __ATOMIC_ACQUIRE);
        if (unlikely((seq & 1) || (e_hash & h->mask) != bucket ||
                     __atomic_load_n(&e->seq, __ATOMIC_RELAXED) != seq)) {
            goto restart;
        }
        if (match) {
            found = e;
            break;
        }
        link = &e->next;
        x = next;
    }
    BPF_MAP_COST(visits, cmps);
    if (linkp) {
        *linkp = link;
    }
    return found;
}

/* htab_find() with one thread: a plain walk.  (Inlined into the lookups,
 * it saves the call but costs the lock-free walk's callers more in saved
 * registers than it saves: single-stepped, 20 fewer instructions a lookup
 * alone, 15 more with several threads.) */
static struct htab_elem *
htab_find_alone(const struct bpf_map *map, const void *key, uint32_t hash,
                uint32_t **linkp)
{
    struct htab *h = map->priv;
    uint32_t *link = &h->buckets[hash & h->mask];
    uint64_t visits = 1, cmps = 0;
    struct htab_elem *found = NULL;

    while (*link) {
        struct htab_elem *e = elem_at(h, *link - 1);
        visits++;
        if (e->hash == hash) {
            cmps++;
            if (key_equal(e->key, key, map->key_size)) {
                found = e;
                break;
            }
        }
        link = &e->next;
    }
    BPF_MAP_COST(visits, cmps);
    if (linkp) {
        *linkp = link;
    }
    return found;
}

/* Finds 'key' with hash 'hash'; '*linkp' (if not NULL) gets the chain link
 * that points to it, for unlinking.  Inline, so that a lookup picks its
 * walk before either saves a register (as one function, its prologue ran
 * before the test: 20 instructions a lookup with several threads). */
static inline __attribute__((always_inline)) struct htab_elem *
htab_find(const struct bpf_map *map, const void *key, uint32_t hash,
          uint32_t **linkp)
{
    if (bpf_maps_concurrent) {
        return htab_find_shared(map, key, hash, linkp);
    }
    return htab_find_alone(map, key, hash, linkp);
}

static void
lru_unlink(struct htab *h, struct htab_elem *e)
{
    elem_at(h, e->lru_prev)->lru_next = e->lru_next;
    elem_at(h, e->lru_next)->lru_prev = e->lru_prev;
}

static void
lru_push_head(struct htab *h, const struct bpf_map *map, struct htab_elem *e)
{
    struct htab_elem *head = elem_at(h, map->max_entries);
    uint32_t idx = elem_idx(h, e);
    e->lru_prev = map->max_entries;
    e->lru_next = head->lru_next;
    elem_at(h, head->lru_next)->lru_prev = idx;
    head->lru_next = idx;
}

/* A program used 'e': alone, it moves to the head of the recency list
 * (exact LRU order); with concurrent threads it only sets its reference
 * bit, as the kernel's LRU does, so that lookups write no shared list and
 * take no lock. */
static inline __attribute__((always_inline)) void
lru_touch(struct htab *h, const struct bpf_map *map, struct htab_elem *e)
{
    if (bpf_maps_concurrent) {
        if (!__atomic_load_n(&e->ref, __ATOMIC_RELAXED)) {
            __atomic_store_n(&e->ref, 1, __ATOMIC_RELAXED);
        }
    } else if (elem_at(h, map->max_entries)->lru_next != elem_idx(h, e)) {
        lru_unlink(h, e);
        lru_push_head(h, map, e);
    }
}

/* Unlinks 'e' from its bucket chain (walking from the bucket head).  The
 * caller holds the bucket's lock when concurrent. */
static void
chain_unlink(struct htab *h, struct htab_elem *e)
{
    uint32_t idx1 = elem_idx(h, e) + 1;
    uint32_t *link = &h->buckets[e->hash & h->mask];
    while (*link != idx1) {
        link = &elem_at(h, *link - 1)->next;
    }
    __atomic_store_n(link, e->next, __ATOMIC_RELEASE);
}

static void
map_lock(struct htab *h)
{
    if (bpf_maps_concurrent) {
        bpf_mlock_acquire(&h->lock);
    }
}

static void
map_unlock(struct htab *h)
{
    if (bpf_maps_concurrent) {
        bpf_mlock_release(&h->lock);
    }
}

/* Returns an element that is on no chain and no list to the free list. */
static void
elem_put(struct htab *h, struct htab_elem *e)
{
    e->lru_next = h->free_list;
    h->free_list = elem_idx(h, e) + 1;
    h->count--;
}

/* The LRU victim: the tail of the recency list, except that an element
 * whose reference bit is set gets a second chance (bit cleared, moved to
 * the head).  Concurrent lookups may set bits again meanwhile, so after
 * max_entries second chances the tail goes regardless. */
static struct htab_elem *
lru_victim(struct htab *h, const struct bpf_map *map)
{
    for (uint32_t n = 0;; n++) {
        struct htab_elem *e =
            elem_at(h, elem_at(h, map->max_entries)->lru_prev);
        if (n == map->max_entries ||
            !__atomic_load_n(&e->ref, __ATOMIC_RELAXED)) {
            return e;
        }
        __atomic_store_n(&e->ref, 0, __ATOMIC_RELAXED);
        lru_unlink(h, e);
        lru_push_head(h, map, e);
    }
}

/* Takes an unused element, or for LRU maps evicts the least recently used
 * one.  NULL when a plain hash map is full.  When concurrent the caller
 * must hold no bucket lock: the map lock is taken first here and the
 * victim's bucket lock only tried, the reverse of the writers' order,
 * and a failed try starts again. */
static struct htab_elem *
elem_get(struct bpf_map *map)
{
    struct htab *h = map->priv;
    struct htab_elem *e;

    for (;;) {
        map_lock(h);
        if (h->free_list) {
            e = elem_at(h, h->free_list - 1);
            h->free_list = e->lru_next;
            break;
        }
        if (h->n_bumped < map->max_entries) {
            e = elem_at(h, h->n_bumped++);
            break;
        }
        if (!h->lru) {
            map_unlock(h);
            return NULL;
        }
        e = lru_victim(h, map);
        uint32_t *lock = bucket_lock(h, e->hash);
        if (!bpf_maps_concurrent || bpf_mlock_try(lock)) {
            chain_unlink(h, e);
            lru_unlink(h, e);
            if (bpf_maps_concurrent) {
                bpf_mlock_release(lock);
            }
            h->count--;
            break;
        }
        map_unlock(h);
        __builtin_ia32_pause();
    }
    h->count++;
    map_unlock(h);
    return e;
}

/* Writes hash and key into an element that is on no chain: 'seq' is odd
 * meanwhile, so that a reader still standing on the element from its
 * previous life ignores it. */
static void
elem_fill_key(const struct bpf_map *map, struct htab_elem *e, const void *key,
              uint32_t hash)
{
    uint32_t seq = e->seq;
    __atomic_store_n(&e->seq, seq + 1, __ATOMIC_RELAXED);
    __atomic_store_n(&e->hash, hash, __ATOMIC_RELEASE);
    for (uint32_t off = 0; off < map->key_size; off += 8) {
        uint64_t w = 0;
        memcpy(&w, (const uint8_t *)key + off, MIN(8u, map->key_size - off));
        __atomic_store_n(&e->key[off / 8], w, __ATOMIC_RELEASE);
    }
    __atomic_store_n(&e->ref, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&e->seq, seq + 2, __ATOMIC_RELEASE);
}

/* Puts a filled element at the head of its bucket's chain and of the LRU
 * list.  The caller holds the bucket's lock when concurrent. */
static void
elem_link(struct bpf_map *map, struct htab_elem *e)
{
    struct htab *h = map->priv;
    uint32_t *bucket = &h->buckets[e->hash & h->mask];
    __atomic_store_n(&e->next, *bucket, __ATOMIC_RELEASE);
    __atomic_store_n(bucket, elem_idx(h, e) + 1, __ATOMIC_RELEASE);
    if (h->lru) {
        map_lock(h);
        lru_push_head(h, map, e);
        map_unlock(h);
    }
}

static void *
htab_lookup(struct bpf_map *map, const void *key)
{
    struct htab *h = map->priv;
    BPF_MAP_COST_OP();
    struct htab_elem *e = htab_find(map, key, htab_hash(map, key), NULL);
    if (!e) {
        return NULL;
    }
    if (h->lru) {
        lru_touch(h, map, e);
    }
    uint8_t *v = elem_value(h, e);
    return h->percpu ? v + h->value_stride * cpu_index(map) : v;
}

/* Control-plane lookup: no LRU touch; per-CPU values start at copy 0. */
void *
bpf_htab_sys_lookup(struct bpf_map *map, const void *key)
{
    struct htab *h = map->priv;
    BPF_MAP_COST_OP();
    struct htab_elem *e = htab_find(map, key, htab_hash(map, key), NULL);
    return e ? elem_value(h, e) : NULL;
}

/* Copies 'value' into 'e' (see bpf_htab_update()). */
static inline __attribute__((always_inline)) void
value_store(const struct bpf_map *map, struct htab_elem *e, const void *value,
            bool fresh, bool all_cpus)
{
    struct htab *h = map->priv;
    uint8_t *v = elem_value(h, e);
    if (!h->percpu) {
        memcpy(v, value, map->value_size);
    } else if (all_cpus) {
        /* Like the kernel's copy_map_value_long(): each copy with its
         * padding to 8 bytes. */
        memcpy(v, value, h->value_stride * map->n_cpus);
    } else {
        uint32_t cpu = cpu_index(map);
        if (fresh) {
            memset(v, 0, h->value_stride * map->n_cpus);
        }
        memcpy(v + cpu * h->value_stride, value, map->value_size);
    }
}

/* Update for programs ('all_cpus' false: per-CPU types write the current
 * CPU's copy, and a new element's other copies are zeroed) and for the
 * control plane ('all_cpus' true: 'value' holds every copy).
 *
 * The bucket's lock (when concurrent) covers the search and the change.
 * A new key needs an element, which when concurrent is taken before the
 * lock (an LRU eviction takes another bucket's lock) and filled unseen;
 * the search is then made again under the lock, and if the key arrived
 * meanwhile the element goes back.  An existing key's value is copied in
 * place: a reader may see a mix of old and new bytes, as with the
 * kernel's per-CPU maps and in-place updates. */
int
bpf_htab_update(struct bpf_map *map, const void *key, const void *value,
                uint64_t flags, bool all_cpus)
{
    struct htab *h = map->priv;
    bool conc = bpf_maps_concurrent;
    struct htab_elem *fresh = NULL;
    int err = 0;
    BPF_MAP_COST_OP();

    if (flags > BPF_EXIST) {
        return -EINVAL;
    }
    uint32_t hash = htab_hash(map, key);
    uint32_t *lock = bucket_lock(h, hash);
    for (;;) {
        if (conc) {
            bpf_mlock_acquire(lock);
        }
        struct htab_elem *e = htab_find(map, key, hash, NULL);
        if (e) {
            if (flags == BPF_NOEXIST) {
                err = -EEXIST;
            } else {
                if (h->lru) {
                    lru_touch(h, map, e);
                }
                value_store(map, e, value, false, all_cpus);
            }
            break;
        }
        if (flags == BPF_EXIST) {
            err = -ENOENT;
            break;
        }
        if (!fresh) {
            if (conc) {
                bpf_mlock_release(lock);
            }
            fresh = elem_get(map);
            if (!fresh) {
                return -E2BIG;
            }
            elem_fill_key(map, fresh, key, hash);
            value_store(map, fresh, value, true, all_cpus);
            if (conc) {
                continue;
            }
        }
        elem_link(map, fresh);
        fresh = NULL;
        break;
    }
    if (conc) {
        bpf_mlock_release(lock);
    }
    if (fresh) {
        map_lock(h);
        elem_put(h, fresh);
        map_unlock(h);
    }
    return err;
}

static int
htab_update(struct bpf_map *map, const void *key, const void *value,
            uint64_t flags)
{
    return bpf_htab_update(map, key, value, flags, false);
}

static int
htab_delete(struct bpf_map *map, const void *key)
{
    struct htab *h = map->priv;
    bool conc = bpf_maps_concurrent;
    uint32_t *link;
    BPF_MAP_COST_OP();
    uint32_t hash = htab_hash(map, key);
    uint32_t *lock = bucket_lock(h, hash);
    if (conc) {
        bpf_mlock_acquire(lock);
    }
    struct htab_elem *e = htab_find(map, key, hash, &link);
    if (e) {
        __atomic_store_n(link, e->next, __ATOMIC_RELEASE);
        map_lock(h);
        if (h->lru) {
            lru_unlink(h, e);
        }
        elem_put(h, e);
        map_unlock(h);
    }
    if (conc) {
        bpf_mlock_release(lock);
    }
    return e ? 0 : -ENOENT;
}

/* Copies the key of the first element of 'bucket' (under its lock when
 * concurrent).  False if the bucket is empty. */
static bool
bucket_first_key(struct bpf_map *map, uint32_t bucket, void *next_key)
{
    struct htab *h = map->priv;
    uint32_t *head = &h->buckets[bucket];
    if (!__atomic_load_n(head, __ATOMIC_RELAXED)) {
        return false;
    }
    uint32_t *lock = &h->locks[bucket & h->lock_mask];
    if (bpf_maps_concurrent) {
        bpf_mlock_acquire(lock);
    }
    bool any = *head != 0;
    if (any) {
        memcpy(next_key, elem_at(h, *head - 1)->key, map->key_size);
    }
    if (bpf_maps_concurrent) {
        bpf_mlock_release(lock);
    }
    return any;
}

static int
htab_get_next_key(struct bpf_map *map, const void *key, void *next_key)
{
    struct htab *h = map->priv;
    uint32_t bucket = 0;

    BPF_MAP_COST_OP();
    if (key) {
        uint32_t hash = htab_hash(map, key);
        uint32_t *lock = bucket_lock(h, hash);
        if (bpf_maps_concurrent) {
            bpf_mlock_acquire(lock);
        }
        struct htab_elem *e = htab_find(map, key, hash, NULL);
        bool copied = e && e->next;
        if (copied) {
            memcpy(next_key, elem_at(h, e->next - 1)->key, map->key_size);
        }
        if (bpf_maps_concurrent) {
            bpf_mlock_release(lock);
        }
        if (copied) {
            return 0;
        }
        if (e) {
            bucket = (hash & h->mask) + 1;
        }
    }
    /* The key is gone or was the last of its chain: first element of the
     * next non-empty bucket (or of the whole table). */
    for (; bucket <= h->mask; bucket++) {
        BPF_MAP_COST(1, 0);
        if (bucket_first_key(map, bucket, next_key)) {
            return 0;
        }
    }
    return -ENOENT;
}

const struct bpf_map_ops bpf_htab_ops = {
    .alloc = htab_alloc,
    .free = htab_free,
    .lookup = htab_lookup,
    .update = htab_update,
    .delete = htab_delete,
    .get_next_key = htab_get_next_key,
};

/* Read-only mirror of htab_find() and elem_get() for cost contracts
 * (bpf_int.h): keep it in step with them. */
void
bpf_htab_probe(const struct bpf_map *map, int op, const void *key,
               struct bpf_map_probe *p)
{
    const struct htab *h = map->priv;
    uint32_t hash = htab_hash(map, key);

    memset(p, 0, sizeof *p);
    for (uint32_t i = h->buckets[hash & h->mask]; i;
         i = elem_at(h, i - 1)->next) {
        const struct htab_elem *e = elem_at(h, i - 1);
        p->chain++;
        if (e->hash == hash) {
            p->cmps++;
            if (key_equal(e->key, key, map->key_size)) {
                p->found = true;
                break;
            }
        }
    }
    if (op != BPF_MAP_UPDATE_ELEM || p->found || h->free_list ||
        h->n_bumped < map->max_entries) {
        return;
    }
    if (!h->lru) {
        p->full = true;
        return;
    }
    /* An insert evicts the recency list's tail, unlinking it from its
     * chain by a walk from the bucket head. */
    const struct htab_elem *tail =
        elem_at(h, elem_at(h, map->max_entries)->lru_prev);
    uint32_t idx1 = elem_idx(h, tail) + 1;
    p->evicted = 1;
    for (uint32_t i = h->buckets[tail->hash & h->mask]; i != idx1;
         i = elem_at(h, i - 1)->next) {
        p->unlink++;
    }
}
