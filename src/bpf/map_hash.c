/* Hash maps: BPF_MAP_TYPE_HASH, PERCPU_HASH, LRU_HASH, LRU_PERCPU_HASH.
 *
 * Layout: a power-of-two array of buckets (n_buckets = max_entries rounded
 * up, as the kernel does), each holding the index + 1 of the first element
 * of its chain (0 = empty), and a preallocated array of max_entries
 * elements.  An element is a 16-byte header (chain link, full 32-bit hash,
 * LRU links), the key padded to 8 bytes, then the value padded to 8 bytes,
 * or for per-CPU types n_cpus such values side by side.  Never-used
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
 * recently used).  A program's lookup or update moves the element to the
 * head (two link updates, no allocation); the control plane's lookup does
 * not, as in the kernel.  When the map is full an insert evicts the tail,
 * the least recently used element, instead of failing with -E2BIG.  The
 * kernel approximates this order with reference bits and active/inactive
 * lists; sluice keeps the exact order the kernel approximates.
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
    uint32_t next;     /* Chain (or free list) link: index+1. */
    uint32_t hash;     /* Full hash of the key. */
    uint32_t lru_prev; /* LRU list links: element index, or */
    uint32_t lru_next; /* max_entries for the list head. */
    uint64_t key[];    /* Key, then value(s), 8-aligned. */
};

struct htab {
    uint32_t *buckets;   /* n_buckets chain heads (index+1). */
    uint32_t mask;       /* n_buckets - 1. */
    uint8_t *elems;      /* (max_entries + 1) elements; the last
                          * is the LRU list head. */
    size_t elem_size;    /* Bytes per element. */
    size_t key_stride;   /* round_up(key_size, 8). */
    size_t value_stride; /* round_up(value_size, 8). */
    uint32_t count;      /* Elements in use. */
    uint32_t free_list;  /* Released elements (index+1). */
    uint32_t n_bumped;   /* Elements ever handed out. */
    bool lru;
    bool percpu;
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
    h->lru = lru;
    h->percpu = percpu;
    h->key_stride = ROUND_UP(map->key_size, 8);
    h->value_stride = ROUND_UP(map->value_size, 8);
    h->elem_size = sizeof(struct htab_elem) + h->key_stride +
                   h->value_stride * (percpu ? map->n_cpus : 1);
    h->buckets = calloc(n_buckets, sizeof *h->buckets);
    h->elems = calloc((size_t)map->max_entries + 1, h->elem_size);
    if (!h->buckets || !h->elems) {
        free(h->buckets);
        free(h->elems);
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

/* Finds 'key' with hash 'hash'; '*linkp' (if not NULL) gets the chain link
 * that points to it, for unlinking. */
static struct htab_elem *
htab_find(const struct bpf_map *map, const void *key, uint32_t hash,
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

static void
lru_touch(struct htab *h, const struct bpf_map *map, struct htab_elem *e)
{
    if (elem_at(h, map->max_entries)->lru_next != elem_idx(h, e)) {
        lru_unlink(h, e);
        lru_push_head(h, map, e);
    }
}

/* Unlinks 'e' from its bucket chain (walking from the bucket head). */
static void
chain_unlink(struct htab *h, struct htab_elem *e)
{
    uint32_t idx1 = elem_idx(h, e) + 1;
    uint32_t *link = &h->buckets[e->hash & h->mask];
    while (*link != idx1) {
        link = &elem_at(h, *link - 1)->next;
    }
    *link = e->next;
}

static void
elem_release(struct htab *h, struct htab_elem *e)
{
    if (h->lru) {
        lru_unlink(h, e);
    }
    e->next = h->free_list;
    h->free_list = elem_idx(h, e) + 1;
    h->count--;
}

/* Takes an unused element, or for LRU maps evicts the least recently used
 * one.  NULL when a plain hash map is full. */
static struct htab_elem *
elem_get(struct bpf_map *map)
{
    struct htab *h = map->priv;
    struct htab_elem *e;

    if (h->free_list) {
        e = elem_at(h, h->free_list - 1);
        h->free_list = e->next;
    } else if (h->n_bumped < map->max_entries) {
        e = elem_at(h, h->n_bumped++);
    } else if (h->lru) {
        e = elem_at(h, elem_at(h, map->max_entries)->lru_prev);
        chain_unlink(h, e);
        lru_unlink(h, e);
        h->count--;
    } else {
        return NULL;
    }
    h->count++;
    return e;
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

/* Update for programs ('all_cpus' false: per-CPU types write the current
 * CPU's copy, and a new element's other copies are zeroed) and for the
 * control plane ('all_cpus' true: 'value' holds every copy). */
int
bpf_htab_update(struct bpf_map *map, const void *key, const void *value,
                uint64_t flags, bool all_cpus)
{
    struct htab *h = map->priv;
    BPF_MAP_COST_OP();

    if (flags > BPF_EXIST) {
        return -EINVAL;
    }
    uint32_t hash = htab_hash(map, key);
    struct htab_elem *e = htab_find(map, key, hash, NULL);
    if (e && flags == BPF_NOEXIST) {
        return -EEXIST;
    }
    if (!e && flags == BPF_EXIST) {
        return -ENOENT;
    }

    bool fresh = !e;
    if (fresh) {
        e = elem_get(map);
        if (!e) {
            return -E2BIG;
        }
        e->hash = hash;
        memcpy(e->key, key, map->key_size);
        uint32_t *bucket = &h->buckets[hash & h->mask];
        e->next = *bucket;
        *bucket = elem_idx(h, e) + 1;
        if (h->lru) {
            lru_push_head(h, map, e);
        }
    } else if (h->lru) {
        lru_touch(h, map, e);
    }

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
    return 0;
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
    uint32_t *link;
    BPF_MAP_COST_OP();
    struct htab_elem *e = htab_find(map, key, htab_hash(map, key), &link);
    if (!e) {
        return -ENOENT;
    }
    *link = e->next;
    elem_release(h, e);
    return 0;
}

static int
htab_get_next_key(struct bpf_map *map, const void *key, void *next_key)
{
    struct htab *h = map->priv;
    uint32_t bucket = 0;
    struct htab_elem *e = NULL;

    BPF_MAP_COST_OP();
    if (key) {
        e = htab_find(map, key, htab_hash(map, key), NULL);
    }
    if (e) {
        if (e->next) {
            memcpy(next_key, elem_at(h, e->next - 1)->key, map->key_size);
            return 0;
        }
        bucket = (e->hash & h->mask) + 1;
    }
    /* The key is gone or was the last of its chain: first element of the
     * next non-empty bucket (or of the whole table). */
    for (; bucket <= h->mask; bucket++) {
        BPF_MAP_COST(1, 0);
        if (h->buckets[bucket]) {
            memcpy(next_key, elem_at(h, h->buckets[bucket] - 1)->key,
                   map->key_size);
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
