/* Expiring flow table with slot allocation: BPF_MAP_TYPE_SLUICE_FLOWTABLE.
 *
 * A sluice map type (number 0x5100, far from the kernel's), for what no
 * kernel map offers: Vigor's NAT and load balancer keep flows in a hash map
 * whose entries own an index ("slot") in [0, capacity) handed out by a
 * double chain allocator, and expire after an idle timeout.  This type is
 * that map plus that allocator (docs/maps.md):
 *
 *  - key -> value, key_size and value_size as usual, value_size >= 4.  The
 *    first four bytes of every value are the entry's slot (a u32 in host
 *    order), written by the map on insert and on every lookup; whatever a
 *    program or the control plane stores there is overwritten.
 *  - An insert takes the most recently freed slot, or when none was ever
 *    freed the lowest never-used one.  A full table (capacity live entries)
 *    answers -E2BIG: a live entry is never evicted.
 *  - Time is the packet time (bpf_ktime_get_ns) while a program runs; the
 *    map keeps the latest time it saw as its clock, which never goes back,
 *    and control-plane operations use that clock.  A program's lookup or
 *    update sets the entry's time to the clock (refresh); control-plane
 *    operations refresh nothing.
 *  - An entry idle for longer than the timeout (clock - time > timeout) is
 *    absent for every operation; one idle for exactly the timeout survives.
 *    Timeout 0 means entries never expire.  Expired entries are removed
 *    lazily, oldest first: every operation removes up to
 *    BPF_FLOWTABLE_EXPIRE_BUDGET of them, an operation that meets an expired
 *    entry (its key, or the oldest entry when the table is full) removes
 *    it, so the work per operation is bounded and counted (visits and
 *    'expired' in struct bpf_map_costs).
 *  - The capacity (<= max_entries) and timeout are set by the control plane
 *    with bpf_flowtable_configure() (the `nf nat` and `nf lb` commands do),
 *    which empties the table; a new map has capacity max_entries and
 *    timeout 0.
 *  - Programs find the entry of a slot through a companion array they fill
 *    after an insert (slot -> key, as Vigor's NAT keeps a vector beside its
 *    map): the key read back from the array is looked up again, which
 *    proves the slot still belongs to it.  The control plane has
 *    bpf_flowtable_slot_key().
 *
 * Layout: element i is slot i, so slots and elements are the same array of
 * 'max_entries' elements (a 32-byte header, the key padded to 8 bytes, the
 * value padded to 8 bytes).  Keys hash (per-map seed, as the hash maps)
 * into a power-of-two bucket array of chains.  Live elements sit on one
 * doubly linked age list, most recently used first; since the clock never
 * goes back, the list is sorted by time and its tail is the oldest entry,
 * the first to expire.  Freed slots form a LIFO stack through the chain
 * link, which gives "most recently freed first".  Nothing allocates after
 * creation.
 *
 * Costs: lookup, update and delete are those of the hash maps (one hash,
 * one bucket, the chain) plus up to BPF_FLOWTABLE_EXPIRE_BUDGET + 1 expiries,
 * each a chain unlink and two list updates.
 *
 * Concurrency (bpf_maps_concurrent; docs/maps.md): every operation, the
 * programs' lookups included, runs under one per-map spin lock, since each
 * of them may refresh an entry (moving it in the age list), advance the
 * clock or expire entries.  The lock covers the map's own work, not the
 * program's use of the value afterwards, and as in the hash maps a slot
 * freed while a program holds its value pointer can be reused at once. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bpf/bpf_api.h"
#include "bpf/helpers.h"
#include "bpf/maps.h"
#include "core/hash.h"
#include "core/util.h"

#define FT_CREATE_FLAGS                                                        \
    (BPF_F_RDONLY | BPF_F_WRONLY | BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG |     \
     BPF_F_ZERO_SEED)
#define FT_MAX_ENTRIES (1u << 26)
#define FT_VALUE_SIZE_MAX 65536
#define FT_KEY_SIZE_MAX 512
#define FT_NONE UINT32_MAX /* No element (age list ends, in_use). */

struct ft_elem {
    uint32_t next;   /* Chain or free-stack link: index + 1, 0 = end. */
    uint32_t hash;   /* Full hash of the key. */
    uint32_t older;  /* Age list: next older element, or FT_NONE. */
    uint32_t newer;  /* Age list: next newer element, or FT_NONE. */
    uint64_t time;   /* Last use, ns of the map's clock. */
    uint32_t in_use; /* 1 while the element holds an entry. */
    uint32_t pad;
    uint64_t key[]; /* Key, then value, each padded to 8 bytes. */
};

struct flowtable {
    uint32_t *buckets;    /* n_buckets chain heads (index + 1). */
    uint32_t mask;        /* n_buckets - 1. */
    uint8_t *elems;       /* max_entries elements = slots. */
    size_t elem_size;     /* Bytes per element. */
    size_t key_stride;    /* round_up(key_size, 8). */
    uint32_t capacity;    /* Slots in use at most (<= max_entries). */
    uint32_t count;       /* Entries held, live or not yet removed. */
    uint32_t free_top;    /* Freed slots stack (index + 1). */
    uint32_t n_bumped;    /* Slots ever handed out since configured. */
    uint32_t newest;      /* Age list head, FT_NONE when empty. */
    uint32_t oldest;      /* Age list tail. */
    uint64_t oldest_time; /* Its last use (spares a cache miss per
                           * operation when nothing has expired). */
    uint64_t timeout_ns;  /* Idle timeout, 0 = never. */
    uint64_t clock_ns;    /* Latest time seen by a program. */
    /* Idle ages (ns) restored into a table whose clock has not started:
     * per slot, applied when the first program run sets the clock (see
     * bpf_flowtable_restore_ages()); NULL otherwise. */
    uint64_t *pending_ages;
    uint32_t n_pending;   /* Entries in 'pending_ages'. */
    struct bpf_flowtable_stats stats;
    uint32_t lock; /* Spin lock of every operation when
                    * bpf_maps_concurrent. */
};

static void
ft_lock(struct flowtable *ft)
{
    if (bpf_maps_concurrent) {
        bpf_mlock_acquire(&ft->lock);
    }
}

static void
ft_unlock(struct flowtable *ft)
{
    if (bpf_maps_concurrent) {
        bpf_mlock_release(&ft->lock);
    }
}

static struct ft_elem *
ft_elem_at(const struct flowtable *ft, uint32_t idx)
{
    return (struct ft_elem *)(void *)(ft->elems + (size_t)idx * ft->elem_size);
}

static uint32_t
ft_idx(const struct flowtable *ft, const struct ft_elem *e)
{
    return (uint32_t)(((const uint8_t *)e - ft->elems) / ft->elem_size);
}

static uint8_t *
ft_value(const struct flowtable *ft, struct ft_elem *e)
{
    return (uint8_t *)e->key + ft->key_stride;
}

static void
ft_reset(struct bpf_map *map)
{
    struct flowtable *ft = map->priv;
    memset(ft->buckets, 0, ((size_t)ft->mask + 1) * sizeof *ft->buckets);
    for (uint32_t i = 0; i < ft->n_bumped; i++) {
        ft_elem_at(ft, i)->in_use = 0;
    }
    ft->count = 0;
    ft->free_top = 0;
    ft->n_bumped = 0;
    ft->newest = ft->oldest = FT_NONE;
    free(ft->pending_ages);
    ft->pending_ages = NULL;
}

static int
ft_alloc(struct bpf_map *map)
{
    if (!bpf_map_access_flags_ok(map->map_flags)) {
        return bpf_map_invalid(map, "contradictory access flags");
    }
    if (map->map_flags & ~FT_CREATE_FLAGS) {
        return bpf_map_invalid(map, "unknown map_flags 0x%x for a flow table",
                               map->map_flags & ~FT_CREATE_FLAGS);
    }
    if (!map->max_entries || !map->key_size) {
        return bpf_map_invalid(map, "max_entries and key_size must be "
                                    "non-zero");
    }
    if (map->value_size < sizeof(uint32_t)) {
        return bpf_map_invalid(map, "a flow table's value starts with its "
                                    "u32 slot: value_size must be >= 4");
    }
    if (map->max_entries > FT_MAX_ENTRIES ||
        map->value_size > FT_VALUE_SIZE_MAX ||
        map->key_size > FT_KEY_SIZE_MAX) {
        return -E2BIG;
    }
    struct flowtable *ft = calloc(1, sizeof *ft);
    if (!ft) {
        return -ENOMEM;
    }
    uint32_t n_buckets = 1;
    while (n_buckets < map->max_entries) {
        n_buckets <<= 1;
    }
    ft->mask = n_buckets - 1;
    ft->key_stride = ROUND_UP(map->key_size, 8);
    ft->elem_size =
        sizeof(struct ft_elem) + ft->key_stride + ROUND_UP(map->value_size, 8);
    ft->buckets = calloc(n_buckets, sizeof *ft->buckets);
    ft->elems = calloc(map->max_entries, ft->elem_size);
    if (!ft->buckets || !ft->elems) {
        free(ft->buckets);
        free(ft->elems);
        free(ft);
        return -ENOMEM;
    }
    ft->capacity = map->max_entries;
    ft->newest = ft->oldest = FT_NONE;
    map->priv = ft;
    return 0;
}

static void
ft_free(struct bpf_map *map)
{
    struct flowtable *ft = map->priv;
    free(ft->buckets);
    free(ft->elems);
    free(ft->pending_ages);
    free(ft);
}

static void ft_anchor_ages(struct flowtable *, uint64_t now);

/* The map's clock: advanced to the packet time while a program runs, left
 * alone by the control plane. */
static uint64_t
ft_clock(struct flowtable *ft)
{
    if (bpf_run_cur) {
        uint64_t t;
        if (bpf_time_set) {
            t = bpf_time_ns;
        } else {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            t = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
        }
        if (t > ft->clock_ns) {
            ft->clock_ns = t;
            if (unlikely(ft->pending_ages != NULL)) {
                ft_anchor_ages(ft, t);
            }
        }
    }
    return ft->clock_ns;
}

static bool
ft_expired(const struct flowtable *ft, const struct ft_elem *e, uint64_t now)
{
    return ft->timeout_ns && now - e->time > ft->timeout_ns;
}

static void
ft_age_unlink(struct flowtable *ft, struct ft_elem *e)
{
    if (e->newer != FT_NONE) {
        ft_elem_at(ft, e->newer)->older = e->older;
    } else {
        ft->newest = e->older;
    }
    if (e->older != FT_NONE) {
        ft_elem_at(ft, e->older)->newer = e->newer;
    } else {
        ft->oldest = e->newer;
        if (e->newer != FT_NONE) {
            ft->oldest_time = ft_elem_at(ft, e->newer)->time;
        }
    }
}

static void
ft_age_push(struct flowtable *ft, struct ft_elem *e)
{
    uint32_t idx = ft_idx(ft, e);
    e->newer = FT_NONE;
    e->older = ft->newest;
    if (ft->newest != FT_NONE) {
        ft_elem_at(ft, ft->newest)->newer = idx;
    } else {
        ft->oldest = idx;
        ft->oldest_time = e->time;
    }
    ft->newest = idx;
}

/* Finds 'key' (hash 'hash'); '*linkp' gets the link pointing to it. */
static struct ft_elem *
ft_find(const struct bpf_map *map, const void *key, uint32_t hash,
        uint32_t **linkp)
{
    struct flowtable *ft = map->priv;
    uint32_t *link = &ft->buckets[hash & ft->mask];
    uint64_t visits = 1, cmps = 0;
    struct ft_elem *found = NULL;

    while (*link) {
        struct ft_elem *e = ft_elem_at(ft, *link - 1);
        visits++;
        if (e->hash == hash) {
            cmps++;
            if (!memcmp(e->key, key, map->key_size)) {
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

/* Removes 'e' from its chain (found from its bucket unless 'link' is
 * given) and from the age list, and pushes its slot on the free stack. */
static void
ft_remove(struct flowtable *ft, struct ft_elem *e, uint32_t *link)
{
    uint32_t idx1 = ft_idx(ft, e) + 1;
    if (!link) {
        link = &ft->buckets[e->hash & ft->mask];
        while (*link != idx1) {
            link = &ft_elem_at(ft, *link - 1)->next;
        }
    }
    *link = e->next;
    ft_age_unlink(ft, e);
    e->in_use = 0;
    e->next = ft->free_top;
    ft->free_top = idx1;
    ft->count--;
}

static void
ft_count_expiry(struct flowtable *ft)
{
    ft->stats.expired++;
    struct bpf_map_costs *c = bpf_map_costs;
    if (unlikely(c != NULL)) {
        c->visits++;
        c->expired++;
    }
}

/* Removes up to 'budget' expired entries, oldest first. */
static void
ft_expire(struct flowtable *ft, uint64_t now, unsigned int budget)
{
    while (budget-- && ft->oldest != FT_NONE && ft->timeout_ns &&
           now - ft->oldest_time > ft->timeout_ns) {
        struct ft_elem *e = ft_elem_at(ft, ft->oldest);
        ft_remove(ft, e, NULL);
        ft_count_expiry(ft);
    }
}

/* Finds the live entry of 'key', removing it if it has expired. */
static struct ft_elem *
ft_find_live(struct bpf_map *map, const void *key, uint64_t now,
             uint32_t **linkp)
{
    struct flowtable *ft = map->priv;
    uint32_t *link;
    struct ft_elem *e = ft_find(
        map, key, hash_bytes(key, map->key_size, map->hash_seed), &link);
    if (e && ft_expired(ft, e, now)) {
        ft_remove(ft, e, link);
        ft_count_expiry(ft);
        return NULL;
    }
    if (linkp) {
        *linkp = link;
    }
    return e;
}

static void
ft_touch(struct flowtable *ft, struct ft_elem *e, uint64_t now)
{
    uint32_t idx = ft_idx(ft, e);
    e->time = now;
    if (ft->newest != idx) {
        ft_age_unlink(ft, e);
        ft_age_push(ft, e);
    } else if (ft->oldest == idx) {
        ft->oldest_time = now;
    }
}

static void *
ft_lookup_locked(struct bpf_map *map, const void *key)
{
    struct flowtable *ft = map->priv;
    BPF_MAP_COST_OP();
    uint64_t now = ft_clock(ft);
    ft_expire(ft, now, BPF_FLOWTABLE_EXPIRE_BUDGET);
    struct ft_elem *e = ft_find_live(map, key, now, NULL);
    if (!e) {
        return NULL;
    }
    if (bpf_run_cur) {
        ft_touch(ft, e, now);
    }
    uint8_t *v = ft_value(ft, e);
    uint32_t slot = ft_idx(ft, e), old;
    memcpy(&old, v, sizeof old);
    if (old != slot) {
        /* Written only when changed: the line stays clean, and a program
         * on another thread reading the slot sees no write. */
        memcpy(v, &slot, sizeof slot);
    }
    return v;
}

static void *
ft_lookup(struct bpf_map *map, const void *key)
{
    struct flowtable *ft = map->priv;
    ft_lock(ft);
    void *v = ft_lookup_locked(map, key);
    ft_unlock(ft);
    return v;
}

/* A free slot: the most recently freed, else the lowest never used, else
 * the oldest entry's if it has expired.  NULL when full. */
static struct ft_elem *
ft_take_slot(struct flowtable *ft, uint64_t now)
{
    if (!ft->free_top && ft->n_bumped >= ft->capacity) {
        ft_expire(ft, now, 1);
    }
    if (ft->free_top) {
        struct ft_elem *e = ft_elem_at(ft, ft->free_top - 1);
        ft->free_top = e->next;
        return e;
    }
    if (ft->n_bumped < ft->capacity) {
        return ft_elem_at(ft, ft->n_bumped++);
    }
    return NULL;
}

static int
ft_update_locked(struct bpf_map *map, const void *key, const void *value,
                 uint64_t flags)
{
    struct flowtable *ft = map->priv;
    BPF_MAP_COST_OP();
    if (flags > BPF_EXIST) {
        return -EINVAL;
    }
    uint64_t now = ft_clock(ft);
    ft_expire(ft, now, BPF_FLOWTABLE_EXPIRE_BUDGET);
    struct ft_elem *e = ft_find_live(map, key, now, NULL);
    if (e && flags == BPF_NOEXIST) {
        return -EEXIST;
    }
    if (!e && flags == BPF_EXIST) {
        return -ENOENT;
    }
    if (!e) {
        e = ft_take_slot(ft, now);
        if (!e) {
            ft->stats.full++;
            return -E2BIG;
        }
        e->hash = hash_bytes(key, map->key_size, map->hash_seed);
        memcpy(e->key, key, map->key_size);
        uint32_t *bucket = &ft->buckets[e->hash & ft->mask];
        e->next = *bucket;
        *bucket = ft_idx(ft, e) + 1;
        e->in_use = 1;
        e->time = now;
        ft_age_push(ft, e);
        ft->count++;
        ft->stats.inserted++;
    } else if (bpf_run_cur) {
        ft_touch(ft, e, now);
    }
    uint8_t *v = ft_value(ft, e);
    uint32_t slot = ft_idx(ft, e);
    memcpy(v, value, map->value_size);
    memcpy(v, &slot, sizeof slot);
    return 0;
}

static int
ft_update(struct bpf_map *map, const void *key, const void *value,
          uint64_t flags)
{
    struct flowtable *ft = map->priv;
    ft_lock(ft);
    int err = ft_update_locked(map, key, value, flags);
    ft_unlock(ft);
    return err;
}

static int
ft_delete_locked(struct bpf_map *map, const void *key)
{
    struct flowtable *ft = map->priv;
    uint32_t *link;
    BPF_MAP_COST_OP();
    uint64_t now = ft_clock(ft);
    ft_expire(ft, now, BPF_FLOWTABLE_EXPIRE_BUDGET);
    struct ft_elem *e = ft_find_live(map, key, now, &link);
    if (!e) {
        return -ENOENT;
    }
    ft_remove(ft, e, link);
    return 0;
}

static int
ft_delete(struct bpf_map *map, const void *key)
{
    struct flowtable *ft = map->priv;
    ft_lock(ft);
    int err = ft_delete_locked(map, key);
    ft_unlock(ft);
    return err;
}

/* Keys in slot order, live entries only. */
static int
ft_get_next_key_locked(struct bpf_map *map, const void *key, void *next_key)
{
    struct flowtable *ft = map->priv;
    uint32_t slot = 0;
    BPF_MAP_COST_OP();
    if (key) {
        struct ft_elem *e = ft_find(
            map, key, hash_bytes(key, map->key_size, map->hash_seed), NULL);
        if (e) {
            slot = ft_idx(ft, e) + 1;
        }
    }
    for (; slot < ft->n_bumped; slot++) {
        struct ft_elem *e = ft_elem_at(ft, slot);
        BPF_MAP_COST(1, 0);
        if (e->in_use && !ft_expired(ft, e, ft->clock_ns)) {
            memcpy(next_key, e->key, map->key_size);
            return 0;
        }
    }
    return -ENOENT;
}

static int
ft_get_next_key(struct bpf_map *map, const void *key, void *next_key)
{
    struct flowtable *ft = map->priv;
    ft_lock(ft);
    int err = ft_get_next_key_locked(map, key, next_key);
    ft_unlock(ft);
    return err;
}

const struct bpf_map_ops bpf_flowtable_ops = {
    .alloc = ft_alloc,
    .free = ft_free,
    .lookup = ft_lookup,
    .update = ft_update,
    .delete = ft_delete,
    .get_next_key = ft_get_next_key,
};

int
bpf_flowtable_configure(struct bpf_map *map, uint32_t capacity,
                        uint64_t timeout_ns)
{
    if (map->type != BPF_MAP_TYPE_SLUICE_FLOWTABLE) {
        return -EINVAL;
    }
    struct flowtable *ft = map->priv;
    if (!capacity || capacity > map->max_entries) {
        return -E2BIG;
    }
    ft_lock(ft);
    ft_reset(map);
    ft->capacity = capacity;
    ft->timeout_ns = timeout_ns;
    ft_unlock(ft);
    return 0;
}

/* The live entry in 'slot' ('*ep'), for the slot calls below; called
 * with the table locked.  Returns 0, -E2BIG (slot >= capacity) or -ENOENT
 * (free or expired). */
static int
ft_live_slot(struct flowtable *ft, uint32_t slot, struct ft_elem **ep)
{
    if (slot >= ft->capacity) {
        return -E2BIG;
    }
    if (slot >= ft->n_bumped) {
        return -ENOENT;
    }
    struct ft_elem *e = ft_elem_at(ft, slot);
    if (!e->in_use || ft_expired(ft, e, ft->clock_ns)) {
        return -ENOENT;
    }
    *ep = e;
    return 0;
}

int
bpf_flowtable_slot_key(struct bpf_map *map, uint32_t slot, void *key,
                       void *value)
{
    if (map->type != BPF_MAP_TYPE_SLUICE_FLOWTABLE) {
        return -EINVAL;
    }
    struct flowtable *ft = map->priv;
    struct ft_elem *e;
    ft_lock(ft);
    int err = ft_live_slot(ft, slot, &e);
    if (!err && key) {
        memcpy(key, e->key, map->key_size);
    }
    if (!err && value) {
        memcpy(value, ft_value(ft, e), map->value_size);
    }
    ft_unlock(ft);
    return err;
}

int
bpf_flowtable_slot_age(struct bpf_map *map, uint32_t slot, uint64_t *age_ns)
{
    if (map->type != BPF_MAP_TYPE_SLUICE_FLOWTABLE) {
        return -EINVAL;
    }
    struct flowtable *ft = map->priv;
    struct ft_elem *e;
    ft_lock(ft);
    int err = ft_live_slot(ft, slot, &e);
    if (!err && ft->pending_ages) {
        *age_ns = slot < ft->n_pending ? ft->pending_ages[slot] : 0;
    } else if (!err) {
        *age_ns = ft->clock_ns > e->time ? ft->clock_ns - e->time : 0;
    }
    ft_unlock(ft);
    return err;
}

/* Rebuilds the age list in the order of 'order' (element indices, oldest
 * first). */
static void
ft_relink(struct flowtable *ft, const uint32_t *order, size_t n)
{
    ft->newest = ft->oldest = FT_NONE;
    for (size_t i = 0; i < n; i++) {
        ft_age_push(ft, ft_elem_at(ft, order[i]));
    }
}

/* Applies pending ages once the clock reads 'now': each entry's last use
 * becomes now - age (0 if that would be negative).  The age list is
 * already ordered oldest first, so only the times change. */
static void
ft_anchor_ages(struct flowtable *ft, uint64_t now)
{
    for (uint32_t i = ft->oldest; i != FT_NONE; i = ft_elem_at(ft, i)->newer) {
        uint64_t age = i < ft->n_pending ? ft->pending_ages[i] : 0;
        ft_elem_at(ft, i)->time = now > age ? now - age : 0;
    }
    if (ft->oldest != FT_NONE) {
        ft->oldest_time = ft_elem_at(ft, ft->oldest)->time;
    }
    free(ft->pending_ages);
    ft->pending_ages = NULL;
}

struct ft_age_rank {
    uint64_t age;
    uint32_t idx;
};

static int
ft_age_rank_cmp(const void *a_, const void *b_)
{
    const struct ft_age_rank *a = a_, *b = b_;
    if (a->age != b->age) {
        return a->age > b->age ? -1 : 1; /* Oldest first. */
    }
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

int
bpf_flowtable_restore_ages(struct bpf_map *map, const void *keys,
                           const uint64_t *ages, size_t n)
{
    if (map->type != BPF_MAP_TYPE_SLUICE_FLOWTABLE) {
        return -EINVAL;
    }
    struct flowtable *ft = map->priv;
    int err = 0;
    ft_lock(ft);
    /* Every held entry, with age 0 unless 'keys' names it. */
    struct ft_age_rank *rank = xcalloc(ft->count ? ft->count : 1,
                                       sizeof *rank);
    uint32_t n_slots = ft->n_bumped;
    uint64_t *slot_age = xcalloc(n_slots ? n_slots : 1, sizeof *slot_age);
    size_t n_rank = 0;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *key = (const uint8_t *)keys + i * map->key_size;
        struct ft_elem *e = ft_find(
            map, key, hash_bytes(key, map->key_size, map->hash_seed), NULL);
        if (!e) {
            err = -ENOENT;
            break;
        }
        slot_age[ft_idx(ft, e)] = ages[i];
    }
    for (uint32_t i = ft->oldest; !err && i != FT_NONE;
         i = ft_elem_at(ft, i)->newer) {
        rank[n_rank++] = (struct ft_age_rank){slot_age[i], i};
    }
    if (!err) {
        qsort(rank, n_rank, sizeof *rank, ft_age_rank_cmp);
        uint32_t *order = xmalloc((n_rank ? n_rank : 1) * sizeof *order);
        for (size_t i = 0; i < n_rank; i++) {
            order[i] = rank[i].idx;
        }
        if (ft->clock_ns) {
            /* The clock runs: anchor now. */
            for (size_t i = 0; i < n_rank; i++) {
                uint64_t age = rank[i].age;
                ft_elem_at(ft, order[i])->time =
                    ft->clock_ns > age ? ft->clock_ns - age : 0;
            }
            ft_relink(ft, order, n_rank);
        } else {
            /* No program has run: every time is 0, so nothing expires
             * until the first run sets the clock and anchors the ages. */
            ft_relink(ft, order, n_rank);
            free(ft->pending_ages);
            ft->pending_ages = slot_age;
            ft->n_pending = n_slots;
            slot_age = NULL;
        }
        free(order);
    }
    free(slot_age);
    free(rank);
    ft_unlock(ft);
    return err;
}

int
bpf_flowtable_get_stats(const struct bpf_map *map,
                        struct bpf_flowtable_stats *stats)
{
    if (map->type != BPF_MAP_TYPE_SLUICE_FLOWTABLE) {
        return -EINVAL;
    }
    struct flowtable *ft = map->priv;
    ft_lock(ft);
    *stats = ft->stats;
    stats->entries = ft->count;
    stats->live = 0;
    for (uint32_t i = ft->oldest; i != FT_NONE; i = ft_elem_at(ft, i)->newer) {
        if (!ft_expired(ft, ft_elem_at(ft, i), ft->clock_ns)) {
            stats->live++;
        }
    }
    stats->capacity = ft->capacity;
    stats->timeout_ns = ft->timeout_ns;
    stats->clock_ns = ft->clock_ns;
    stats->elem_bytes = ft->elem_size + sizeof(uint32_t);
    ft_unlock(ft);
    return 0;
}

/* What the probe below has removed so far (expired entries). */
struct ft_probe_gone {
    uint32_t idx[BPF_FLOWTABLE_EXPIRE_BUDGET + 2]; /* Element indices. */
    uint32_t n;
};

static bool
ft_probe_is_gone(const struct ft_probe_gone *g, uint32_t idx)
{
    for (uint32_t i = 0; i < g->n; i++) {
        if (g->idx[i] == idx) {
            return true;
        }
    }
    return false;
}

/* Elements ft_remove() walks past to unlink element 'idx' from its chain,
 * those removed earlier in the same operation being unlinked already. */
static uint32_t
ft_probe_unlink(const struct flowtable *ft, const struct ft_probe_gone *g,
                uint32_t idx)
{
    uint32_t n = 0;
    for (uint32_t i = ft->buckets[ft_elem_at(ft, idx)->hash & ft->mask];
         i != idx + 1; i = ft_elem_at(ft, i - 1)->next) {
        n += !ft_probe_is_gone(g, i - 1);
    }
    return n;
}

/* The age list's oldest element not yet removed, or FT_NONE. */
static uint32_t
ft_probe_oldest(const struct flowtable *ft, const struct ft_probe_gone *g)
{
    uint32_t i = ft->oldest;
    while (i != FT_NONE && ft_probe_is_gone(g, i)) {
        i = ft_elem_at(ft, i)->newer;
    }
    return i;
}

/* Removes (in the probe's books) the oldest entry if it has expired. */
static bool
ft_probe_expire_one(const struct flowtable *ft, struct ft_probe_gone *g,
                    uint64_t now, struct bpf_map_probe *p)
{
    uint32_t i = ft_probe_oldest(ft, g);
    if (i == FT_NONE || !ft_expired(ft, ft_elem_at(ft, i), now)) {
        return false;
    }
    p->unlink += ft_probe_unlink(ft, g, i);
    p->expired++;
    g->idx[g->n++] = i;
    return true;
}

/* Read-only mirror of ft_clock(), ft_expire(), ft_find_live() and
 * ft_take_slot() for cost contracts (bpf_int.h).  Keep it in step. */
void
bpf_flowtable_probe(const struct bpf_map *map, int op, const void *key,
                    struct bpf_map_probe *p)
{
    const struct flowtable *ft = map->priv;
    struct ft_probe_gone g = {.n = 0};
    uint64_t now = ft->clock_ns;

    memset(p, 0, sizeof *p);
    if (bpf_run_cur) {
        uint64_t t;
        if (bpf_time_set) {
            t = bpf_time_ns;
        } else {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            t = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
        }
        now = t > now ? t : now;
    }
    for (unsigned int b = 0; b < BPF_FLOWTABLE_EXPIRE_BUDGET; b++) {
        if (!ft_probe_expire_one(ft, &g, now, p)) {
            break;
        }
    }
    uint32_t hash = hash_bytes(key, map->key_size, map->hash_seed);
    for (uint32_t i = ft->buckets[hash & ft->mask]; i;
         i = ft_elem_at(ft, i - 1)->next) {
        const struct ft_elem *e = ft_elem_at(ft, i - 1);
        if (ft_probe_is_gone(&g, i - 1)) {
            continue;
        }
        p->chain++;
        if (e->hash == hash) {
            p->cmps++;
            if (!memcmp(e->key, key, map->key_size)) {
                p->found = true;
                if (ft_expired(ft, e, now)) {
                    p->found = false;
                    p->expired++;
                    g.idx[g.n++] = i - 1;
                }
                break;
            }
        }
    }
    if (op != BPF_MAP_UPDATE_ELEM || p->found || ft->free_top || g.n ||
        ft->n_bumped < ft->capacity) {
        return;
    }
    p->full = !ft_probe_expire_one(ft, &g, now, p);
}
