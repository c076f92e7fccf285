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
 * 'max_entries' elements (a 40-byte header, the key padded to 8 bytes, the
 * value padded to 8 bytes).  Keys hash (per-map seed, as the hash maps)
 * into a power-of-two bucket array of chains.  Live elements sit on one
 * doubly linked age list, most recently used first; since the clock never
 * goes back, the list is sorted by the time each entry was queued, and its
 * tail is the oldest entry, the first to expire (with several threads, see
 * below).  Freed slots form a LIFO stack through the age-list link, which
 * gives "most recently freed first".  Nothing allocates after creation.
 *
 * Costs: lookup, update and delete are those of the hash maps (one hash,
 * one bucket, the chain) plus up to BPF_FLOWTABLE_EXPIRE_BUDGET + 1 expiries,
 * each a chain unlink and two list updates.
 *
 * Concurrency (bpf_maps_concurrent; docs/maps.md): programs' lookups take
 * no lock, so that threads sharing a NAT do not bounce a lock or a list
 * on every packet.  They walk the chain as a seqlock, as the hash maps do
 * (ft_find_shared(): an element's 'seq' is odd while its key is rewritten,
 * a freed element keeps its chain link, a changed 'seq' or a hash of
 * another bucket restarts the walk), advance the clock with a
 * compare-and-swap (it only moves forward) and refresh the entry with an
 * atomic store of its time, which also only moves forward: refreshes from
 * several threads commute (the state analysis relies on it, docs/state.md).
 * The age list is then kept lazily: a refreshed entry stays where it was
 * queued ('qtime', its time when queued, the list's order), and the expiry
 * scan, meeting it at the tail, re-reads its time and requeues it at the
 * head instead of removing it.  With one thread every refresh moves the
 * entry as before, so the order, the slots reused and the costs are exact
 * (bpf_flowtable_probe() predicts them).  Everything else (inserts,
 * deletes, expiry, the control plane) runs under one per-map spin lock:
 * each of them changes the age list or the slot allocator every entry
 * shares, so per-bucket locks would only add a second lock.  A lookup that
 * meets an expired entry reports it absent and leaves its removal to the
 * scan, which it runs only when the oldest entry may have expired and the
 * lock is free.  An insert into a full table fails without the lock when
 * nothing there can have expired (ft_full_shared()), and full-table drops
 * are counted per CPU, so that a full NAT does not serialise its threads.
 * The shared clock is written only when a packet time passes it by
 * FT_CLOCK_SLACK_NS (each operation still uses its own later time), so
 * threads do not bounce its line on every packet; the control plane's
 * view of ages lags by as much.  Under concurrent refreshes the tail is
 * only roughly the oldest, so a full table may reclaim an expired entry's
 * slot up to one timeout late; no lookup ever finds an expired entry, but
 * a thread whose packet times trail another's by up to FT_CLOCK_SLACK_NS
 * may still see an entry that the other would find expired.  The lock covers
 * the map's own work, not the program's use of the value afterwards, and
 * as in the hash maps a slot freed while a program holds its value pointer
 * can be reused at once. */
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
/* With several threads, the shared clock is only written when a packet
 * time passes it by this much (ns), so that threads do not bounce its
 * cache line on every packet; each operation still uses its own packet
 * time when later. */
#define FT_CLOCK_SLACK_NS 1000000ull
#define FT_LINE 64         /* Cache line (bytes). */
#define FT_FULL_STRIPES 16 /* Counters of full-table drops, by CPU. */

struct ft_elem {
    uint32_t next;   /* Chain link: index + 1, 0 = end.  Kept when the
                      * element is freed, so that a lock-free reader
                      * standing on it walks on down its old chain. */
    uint32_t hash;   /* Full hash of the key. */
    uint32_t older;  /* Age list: next older element, or FT_NONE; for a
                      * free element the free stack link (index + 1). */
    uint32_t newer;  /* Age list: next newer element, or FT_NONE. */
    uint64_t time;   /* Last use, ns of the map's clock (atomic: lock-free
                      * lookups refresh it). */
    uint64_t qtime;  /* 'time' when queued at its age-list place (<= time;
                      * the list's order). */
    uint32_t in_use; /* 1 while the element holds an entry. */
    uint32_t seq;    /* Odd while the key is being (re)written. */
    uint64_t key[];  /* Key, then value, each padded to 8 bytes. */
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
    uint64_t oldest_time; /* Its 'qtime' (atomic: lock-free lookups test
                           * it to skip the expiry scan). */
    uint64_t timeout_ns;  /* Idle timeout, 0 = never. */
    /* Latest time seen by a program (atomic; with several threads within
     * FT_CLOCK_SLACK_NS of it), on a line of its own. */
    uint64_t clock_ns __attribute__((aligned(FT_LINE)));
    /* Full-table drops per CPU (bpf_cur_cpu mod FT_FULL_STRIPES, atomic),
     * a line each, summed into stats.full. */
    struct {
        uint64_t n __attribute__((aligned(FT_LINE)));
    } full[FT_FULL_STRIPES];
    /* Idle ages (ns) restored into a table whose clock has not started:
     * per slot, applied when the first program run sets the clock (see
     * bpf_flowtable_restore_ages()); NULL otherwise. */
    uint64_t *pending_ages;
    uint32_t n_pending;   /* Entries in 'pending_ages'. */
    struct bpf_flowtable_stats stats;
    uint32_t lock; /* Spin lock of every operation but the programs'
                    * lookups, when bpf_maps_concurrent. */
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

static uint64_t
ft_time(const struct ft_elem *e)
{
    return __atomic_load_n(&e->time, __ATOMIC_RELAXED);
}

static void
ft_set_oldest_time(struct flowtable *ft, uint64_t t)
{
    __atomic_store_n(&ft->oldest_time, t, __ATOMIC_RELAXED);
}

static void
ft_reset(struct bpf_map *map)
{
    struct flowtable *ft = map->priv;
    for (uint32_t b = 0; b <= ft->mask; b++) {
        __atomic_store_n(&ft->buckets[b], 0, __ATOMIC_RELEASE);
    }
    for (uint32_t i = 0; i < ft->n_bumped; i++) {
        ft_elem_at(ft, i)->in_use = 0;
    }
    ft->count = 0;
    __atomic_store_n(&ft->free_top, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&ft->n_bumped, 0, __ATOMIC_RELAXED);
    ft->newest = ft->oldest = FT_NONE;
    free(ft->pending_ages);
    __atomic_store_n(&ft->pending_ages, NULL, __ATOMIC_RELEASE);
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
    struct flowtable *ft = aligned_alloc(FT_LINE, ROUND_UP(sizeof *ft,
                                                           FT_LINE));
    if (!ft) {
        return -ENOMEM;
    }
    memset(ft, 0, sizeof *ft);
    uint32_t n_buckets = 1;
    while (n_buckets < map->max_entries) {
        n_buckets <<= 1;
    }
    ft->mask = n_buckets - 1;
    ft->key_stride = ROUND_UP(map->key_size, 8);
    ft->elem_size = bpf_map_elem_stride(sizeof(struct ft_elem) +
                                        ft->key_stride +
                                        ROUND_UP(map->value_size, 8));
    ft->buckets = calloc(n_buckets, sizeof *ft->buckets);
    ft->elems = bpf_map_elems_alloc(map->max_entries, ft->elem_size);
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

/* The packet time while a program runs. */
static uint64_t
ft_packet_time(void)
{
    if (bpf_time_set) {
        return bpf_time_ns;
    }
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ft_clock_advance() with other threads about: the shared clock moves
 * by compare-and-swap, and only by FT_CLOCK_SLACK_NS or more. */
static uint64_t
ft_clock_advance_shared(struct flowtable *ft, uint64_t cur, uint64_t t,
                        bool *advanced)
{
    if (t - cur < FT_CLOCK_SLACK_NS && cur) {
        return t;
    }
    while (t > cur) {
        if (__atomic_compare_exchange_n(&ft->clock_ns, &cur, t, true,
                                        __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
            *advanced = true;
            return t;
        }
    }
    return cur;
}

/* Advances the clock to the packet time while a program runs (it never
 * goes back, whichever thread gets there first); returns the time the
 * operation uses and sets '*advanced' if this call moved the clock. */
static uint64_t
ft_clock_advance(struct flowtable *ft, bool *advanced)
{
    uint64_t cur = __atomic_load_n(&ft->clock_ns, __ATOMIC_RELAXED);
    *advanced = false;
    if (!bpf_run_cur) {
        return cur;
    }
    uint64_t t = ft_packet_time();
    if (unlikely(bpf_maps_concurrent)) {
        return t > cur ? ft_clock_advance_shared(ft, cur, t, advanced) : cur;
    }
    /* One thread: the same instructions whether the clock moves or not
     * (cost contracts count them). */
    uint64_t now = t > cur ? t : cur;
    *advanced = now != cur;
    __atomic_store_n(&ft->clock_ns, now, __ATOMIC_RELAXED);
    return now;
}

/* The map's clock, for operations under the lock: advanced to the packet
 * time while a program runs, left alone by the control plane. */
static uint64_t
ft_clock(struct flowtable *ft)
{
    bool advanced;
    uint64_t now = ft_clock_advance(ft, &advanced);
    if (unlikely(ft->pending_ages != NULL) && advanced) {
        ft_anchor_ages(ft, now);
    }
    return now;
}

/* Whether an entry last used at 't' has expired at 'now' (a concurrent
 * refresh may have stored a time after 'now'). */
static bool
ft_expired_at(const struct flowtable *ft, uint64_t t, uint64_t now)
{
    return ft->timeout_ns && now - t > ft->timeout_ns && now > t;
}

static bool
ft_expired(const struct flowtable *ft, const struct ft_elem *e, uint64_t now)
{
    return ft_expired_at(ft, ft_time(e), now);
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
            ft_set_oldest_time(ft, ft_elem_at(ft, e->newer)->qtime);
        }
    }
}

/* Queues 'e' as the newest entry, at its time. */
static void
ft_age_push(struct flowtable *ft, struct ft_elem *e)
{
    uint32_t idx = ft_idx(ft, e);
    e->qtime = ft_time(e);
    e->newer = FT_NONE;
    e->older = ft->newest;
    if (ft->newest != FT_NONE) {
        ft_elem_at(ft, ft->newest)->newer = idx;
    } else {
        ft->oldest = idx;
        ft_set_oldest_time(ft, e->qtime);
    }
    ft->newest = idx;
}

/* Finds 'key' (hash 'hash') under the lock (or with one thread); '*linkp'
 * gets the link pointing to it. */
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

/* ft_find() for lock-free lookups, a seqlock walk as htab_find_shared()
 * (map_hash.c): a match is a key that was in this bucket's chain during
 * the call, a miss a key absent at some moment of it. */
static struct ft_elem *
ft_find_shared(const struct bpf_map *map, const void *key, uint32_t hash)
{
    struct flowtable *ft = map->priv;
    uint32_t bucket = hash & ft->mask;
    uint64_t visits, cmps;
    struct ft_elem *found;
    uint32_t x;

restart:
    visits = 1;
    cmps = 0;
    found = NULL;
    x = __atomic_load_n(&ft->buckets[bucket], __ATOMIC_ACQUIRE);
    while (x) {
        struct ft_elem *e = ft_elem_at(ft, x - 1);
        uint32_t seq = __atomic_load_n(&e->seq, __ATOMIC_ACQUIRE);
        uint32_t e_hash = __atomic_load_n(&e->hash, __ATOMIC_ACQUIRE);
        bool match = false;
        visits++;
        if (e_hash == hash) {
            cmps++;
            match = bpf_map_key_equal_atomic(e->key, key, map->key_size);
        }
        uint32_t next = __atomic_load_n(&e->next, __ATOMIC_ACQUIRE);
        if (unlikely((seq & 1) || (e_hash & ft->mask) != bucket ||
                     __atomic_load_n(&e->seq, __ATOMIC_RELAXED) != seq)) {
            goto restart;
        }
        if (match) {
            found = e;
            break;
        }
        x = next;
    }
    BPF_MAP_COST(visits, cmps);
    return found;
}

/* Removes 'e' from its chain (found from its bucket unless 'link' is
 * given) and from the age list, and pushes its slot on the free stack.
 * Its chain link stays for lock-free readers standing on it. */
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
    __atomic_store_n(link, e->next, __ATOMIC_RELEASE);
    ft_age_unlink(ft, e);
    e->in_use = 0;
    e->older = ft->free_top;
    __atomic_store_n(&ft->free_top, idx1, __ATOMIC_RELAXED);
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

/* Whether the oldest queued entry may have expired (it has if it was not
 * refreshed since it was queued). */
static bool
ft_tail_due(const struct flowtable *ft, uint64_t now)
{
    uint64_t q = __atomic_load_n(&ft->oldest_time, __ATOMIC_RELAXED);
    return ft_expired_at(ft, q, now);
}

/* Removes up to 'budget' expired entries, oldest first.  An entry at the
 * tail that a lock-free lookup refreshed is requeued at the head instead;
 * it does not come back in this scan (queued at its time, it is not due),
 * so the scan ends. */
static void
ft_expire(struct flowtable *ft, uint64_t now, unsigned int budget)
{
    while (budget && ft->oldest != FT_NONE && ft_tail_due(ft, now)) {
        struct ft_elem *e = ft_elem_at(ft, ft->oldest);
        uint64_t t = ft_time(e);
        if (unlikely(t != e->qtime) && !ft_expired_at(ft, t, now)) {
            /* Refreshed since queued (never with one thread). */
            ft_age_unlink(ft, e);
            ft_age_push(ft, e);
            continue;
        }
        ft_remove(ft, e, NULL);
        ft_count_expiry(ft);
        budget--;
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

/* A refresh under the lock: the entry becomes the newest. */
static void
ft_touch(struct flowtable *ft, struct ft_elem *e, uint64_t now)
{
    uint32_t idx = ft_idx(ft, e);
    if (now > ft_time(e)) {
        __atomic_store_n(&e->time, now, __ATOMIC_RELAXED);
    }
    if (ft->newest != idx) {
        ft_age_unlink(ft, e);
        ft_age_push(ft, e);
    } else {
        e->qtime = ft_time(e);
        if (ft->oldest == idx) {
            ft_set_oldest_time(ft, e->qtime);
        }
    }
}

/* The value of 'e', its slot header rewritten if something changed it
 * (written only then: the line stays clean, and a program on another
 * thread reading the slot sees no write). */
static void *
ft_value_slot(struct flowtable *ft, struct ft_elem *e)
{
    uint8_t *v = ft_value(ft, e);
    uint32_t *slotp = (uint32_t *)(void *)v;
    uint32_t slot = ft_idx(ft, e);
    if (__atomic_load_n(slotp, __ATOMIC_RELAXED) != slot) {
        __atomic_store_n(slotp, slot, __ATOMIC_RELAXED);
    }
    return v;
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
    return ft_value_slot(ft, e);
}

/* A program's lookup with other threads about: no lock (see the top). */
static void *
ft_lookup_shared(struct bpf_map *map, const void *key)
{
    struct flowtable *ft = map->priv;
    bool advanced;
    BPF_MAP_COST_OP();
    uint64_t now = ft_clock_advance(ft, &advanced);
    if (ft_tail_due(ft, now) && bpf_mlock_try(&ft->lock)) {
        ft_expire(ft, now, BPF_FLOWTABLE_EXPIRE_BUDGET);
        bpf_mlock_release(&ft->lock);
    }
    struct ft_elem *e = ft_find_shared(
        map, key, hash_bytes(key, map->key_size, map->hash_seed));
    if (!e) {
        return NULL;
    }
    uint64_t t = ft_time(e);
    if (ft_expired_at(ft, t, now)) {
        return NULL;
    }
    while (now > t && !__atomic_compare_exchange_n(&e->time, &t, now, true,
                                                   __ATOMIC_RELAXED,
                                                   __ATOMIC_RELAXED)) {
        continue;
    }
    return ft_value_slot(ft, e);
}

static void *
ft_lookup(struct bpf_map *map, const void *key)
{
    struct flowtable *ft = map->priv;
    if (bpf_maps_concurrent && bpf_run_cur &&
        !__atomic_load_n(&ft->pending_ages, __ATOMIC_ACQUIRE)) {
        return ft_lookup_shared(map, key);
    }
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
        __atomic_store_n(&ft->free_top, e->older, __ATOMIC_RELAXED);
        return e;
    }
    if (ft->n_bumped < ft->capacity) {
        __atomic_store_n(&ft->n_bumped, ft->n_bumped + 1, __ATOMIC_RELAXED);
        return ft_elem_at(ft, ft->n_bumped - 1);
    }
    return NULL;
}

/* Writes hash and key into 'e' (on no chain) and links it into its
 * bucket: 'seq' is odd meanwhile, so that a lock-free reader still
 * standing on the element from its previous life restarts. */
static void
ft_publish(struct bpf_map *map, struct ft_elem *e, const void *key,
           uint32_t hash)
{
    struct flowtable *ft = map->priv;
    uint32_t seq = e->seq;
    /* The release stores below order the odd 'seq' before them. */
    __atomic_store_n(&e->seq, seq + 1, __ATOMIC_RELAXED);
    __atomic_store_n(&e->hash, hash, __ATOMIC_RELEASE);
    for (uint32_t off = 0; off < map->key_size; off += 8) {
        uint64_t w = 0;
        memcpy(&w, (const uint8_t *)key + off, MIN(8u, map->key_size - off));
        __atomic_store_n(&e->key[off / 8], w, __ATOMIC_RELEASE);
    }
    __atomic_store_n(&e->seq, seq + 2, __ATOMIC_RELEASE);
    uint32_t *bucket = &ft->buckets[hash & ft->mask];
    __atomic_store_n(&e->next, *bucket, __ATOMIC_RELEASE);
    __atomic_store_n(bucket, ft_idx(ft, e) + 1, __ATOMIC_RELEASE);
}

/* Copies 'value' into 'e', its slot header being the entry's (stored
 * atomically: lock-free lookups check it, ft_value_slot()). */
static void
ft_write_value(struct bpf_map *map, struct ft_elem *e, const void *value)
{
    struct flowtable *ft = map->priv;
    uint8_t *v = ft_value(ft, e);
    memcpy(v + sizeof(uint32_t), (const uint8_t *)value + sizeof(uint32_t),
           map->value_size - sizeof(uint32_t));
    __atomic_store_n((uint32_t *)(void *)v, ft_idx(ft, e), __ATOMIC_RELAXED);
}

static void
ft_count_full(struct flowtable *ft)
{
    __atomic_fetch_add(&ft->full[bpf_cur_cpu % FT_FULL_STRIPES].n, 1,
                       __ATOMIC_RELAXED);
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
            ft_count_full(ft);
            return -E2BIG;
        }
        /* The value first: a lock-free reader finding the new key finds
         * it whole. */
        ft_write_value(map, e, value);
        e->in_use = 1;
        __atomic_store_n(&e->time, now, __ATOMIC_RELAXED);
        ft_publish(map, e, key, hash_bytes(key, map->key_size,
                                           map->hash_seed));
        ft_age_push(ft, e);
        ft->count++;
        ft->stats.inserted++;
        return 0;
    }
    if (bpf_run_cur) {
        ft_touch(ft, e, now);
    }
    ft_write_value(map, e, value);
    return 0;
}

/* With other threads about, whether a program's insert of 'key' must
 * fail for a full table, found without the lock: no slot freed or never
 * used, the oldest queued entry not due, the key absent (an expired entry
 * of it would free a slot).  So a full NAT does not serialise its threads
 * on every packet of the flows it cannot take. */
static bool
ft_full_shared(struct bpf_map *map, const void *key)
{
    struct flowtable *ft = map->priv;
    bool advanced;
    if (__atomic_load_n(&ft->pending_ages, __ATOMIC_ACQUIRE) ||
        __atomic_load_n(&ft->free_top, __ATOMIC_RELAXED) ||
        __atomic_load_n(&ft->n_bumped, __ATOMIC_RELAXED) < ft->capacity) {
        return false;
    }
    uint64_t now = ft_clock_advance(ft, &advanced);
    return !ft_tail_due(ft, now) &&
           !ft_find_shared(map, key,
                           hash_bytes(key, map->key_size, map->hash_seed));
}

static int
ft_update(struct bpf_map *map, const void *key, const void *value,
          uint64_t flags)
{
    struct flowtable *ft = map->priv;
    if (bpf_maps_concurrent && bpf_run_cur && flags != BPF_EXIST &&
        flags <= BPF_EXIST && ft_full_shared(map, key)) {
        BPF_MAP_COST_OP();
        ft_count_full(ft);
        return -E2BIG;
    }
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
    uint64_t clock = __atomic_load_n(&ft->clock_ns, __ATOMIC_RELAXED);
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
        if (e->in_use && !ft_expired(ft, e, clock)) {
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
    if (!e->in_use ||
        ft_expired(ft, e, __atomic_load_n(&ft->clock_ns, __ATOMIC_RELAXED))) {
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
        uint64_t clock = __atomic_load_n(&ft->clock_ns, __ATOMIC_RELAXED);
        uint64_t t = ft_time(e);
        *age_ns = clock > t ? clock - t : 0;
    }
    ft_unlock(ft);
    return err;
}

/* Rebuilds the age list in the order of 'order' (element indices, oldest
 * first; their times in that order). */
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
        struct ft_elem *e = ft_elem_at(ft, i);
        uint64_t age = i < ft->n_pending ? ft->pending_ages[i] : 0;
        e->qtime = now > age ? now - age : 0;
        __atomic_store_n(&e->time, e->qtime, __ATOMIC_RELAXED);
    }
    if (ft->oldest != FT_NONE) {
        ft_set_oldest_time(ft, ft_elem_at(ft, ft->oldest)->qtime);
    }
    free(ft->pending_ages);
    __atomic_store_n(&ft->pending_ages, NULL, __ATOMIC_RELEASE);
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
        uint64_t clock = __atomic_load_n(&ft->clock_ns, __ATOMIC_RELAXED);
        if (clock) {
            /* The clock runs: anchor now. */
            for (size_t i = 0; i < n_rank; i++) {
                uint64_t age = rank[i].age;
                __atomic_store_n(&ft_elem_at(ft, order[i])->time,
                                 clock > age ? clock - age : 0,
                                 __ATOMIC_RELAXED);
            }
            ft_relink(ft, order, n_rank);
        } else {
            /* No program has run: every time is 0, so nothing expires
             * until the first run sets the clock and anchors the ages. */
            ft_relink(ft, order, n_rank);
            free(ft->pending_ages);
            ft->n_pending = n_slots;
            __atomic_store_n(&ft->pending_ages, slot_age, __ATOMIC_RELEASE);
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
    for (int i = 0; i < FT_FULL_STRIPES; i++) {
        stats->full += __atomic_load_n(&ft->full[i].n, __ATOMIC_RELAXED);
    }
    stats->entries = ft->count;
    stats->live = 0;
    uint64_t clock = __atomic_load_n(&ft->clock_ns, __ATOMIC_RELAXED);
    for (uint32_t i = ft->oldest; i != FT_NONE; i = ft_elem_at(ft, i)->newer) {
        if (!ft_expired(ft, ft_elem_at(ft, i), clock)) {
            stats->live++;
        }
    }
    stats->capacity = ft->capacity;
    stats->timeout_ns = ft->timeout_ns;
    stats->clock_ns = clock;
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

/* The entry ft_expire() removes next, or FT_NONE: from the oldest
 * queued, past those removed already and those a lock-free lookup
 * refreshed (requeued, they do not come back in the scan), until one not
 * due. */
static uint32_t
ft_probe_next_expiry(const struct flowtable *ft,
                     const struct ft_probe_gone *g, uint64_t now)
{
    for (uint32_t i = ft->oldest; i != FT_NONE;
         i = ft_elem_at(ft, i)->newer) {
        const struct ft_elem *e = ft_elem_at(ft, i);
        if (ft_probe_is_gone(g, i)) {
            continue;
        }
        if (!ft_expired_at(ft, e->qtime, now)) {
            return FT_NONE;
        }
        if (ft_expired(ft, e, now)) {
            return i;
        }
    }
    return FT_NONE;
}

/* Removes (in the probe's books) the oldest entry if it has expired. */
static bool
ft_probe_expire_one(const struct flowtable *ft, struct ft_probe_gone *g,
                    uint64_t now, struct bpf_map_probe *p)
{
    uint32_t i = ft_probe_next_expiry(ft, g, now);
    if (i == FT_NONE) {
        return false;
    }
    p->unlink += ft_probe_unlink(ft, g, i);
    p->expired++;
    g->idx[g->n++] = i;
    return true;
}

/* Read-only mirror of ft_clock(), ft_expire(), ft_find_live() and
 * ft_take_slot() for cost contracts (bpf_int.h), of the operations under
 * the lock (with one thread, every operation).  Keep it in step. */
void
bpf_flowtable_probe(const struct bpf_map *map, int op, const void *key,
                    struct bpf_map_probe *p)
{
    const struct flowtable *ft = map->priv;
    struct ft_probe_gone g = {.n = 0};
    uint64_t now = __atomic_load_n(&ft->clock_ns, __ATOMIC_RELAXED);

    memset(p, 0, sizeof *p);
    if (bpf_run_cur) {
        uint64_t t = ft_packet_time();
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
