/* Queue and stack maps: BPF_MAP_TYPE_QUEUE (FIFO) and BPF_MAP_TYPE_STACK
 * (LIFO), used through push/pop/peek.
 *
 * Layout: a circular array of max_entries + 1 values (one slot always
 * free, so head == tail means empty), head = next slot to write, tail =
 * oldest value.  key_size must be 0.  Push, pop and peek are O(1): one slot
 * visited, one copy, no key compare.  A push on a full map fails with
 * -E2BIG unless BPF_EXIST is given, which drops the oldest value first (for
 * both types, as in the kernel).  Pop and peek of an empty map give
 * -ENOENT.  Lookup, update, delete and get_next_key by key are not
 * defined for these types (-EINVAL); the control plane peeks with a lookup,
 * pushes with an update and pops with bpf_map_pop().
 *
 * Concurrency (bpf_maps_concurrent): push, pop and peek run under one
 * per-map spin lock, as the kernel's take its raw spin lock; the copy in or
 * out is made under it, so a popped value is never torn. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bpf/maps.h"

#define QUEUE_CREATE_FLAGS                                                     \
    (BPF_F_NUMA_NODE | BPF_F_RDONLY | BPF_F_WRONLY | BPF_F_RDONLY_PROG |       \
     BPF_F_WRONLY_PROG)

struct queue {
    uint32_t head;   /* Next slot to write. */
    uint32_t tail;   /* Oldest value. */
    uint32_t size;   /* max_entries + 1 slots. */
    uint8_t *values; /* size * value_size bytes. */
    uint32_t lock;   /* Spin lock when bpf_maps_concurrent. */
};

static int
queue_alloc(struct bpf_map *map)
{
    if (!bpf_map_access_flags_ok(map->map_flags)) {
        return bpf_map_invalid(map, "contradictory access flags");
    }
    if (!map->max_entries || map->key_size || !map->value_size ||
        (map->map_flags & ~QUEUE_CREATE_FLAGS)) {
        return bpf_map_invalid(map, "a queue or stack needs key_size 0, "
                                    "non-zero value_size and max_entries");
    }
    if (map->value_size > (4u << 20) || map->max_entries >= (1u << 30)) {
        return -E2BIG;
    }
    struct queue *q = calloc(1, sizeof *q);
    if (!q) {
        return -ENOMEM;
    }
    q->size = map->max_entries + 1;
    q->values = calloc(q->size, map->value_size);
    if (!q->values) {
        free(q);
        return -ENOMEM;
    }
    map->priv = q;
    return 0;
}

static void
queue_free(struct bpf_map *map)
{
    struct queue *q = map->priv;
    free(q->values);
    free(q);
}

static void
queue_lock(struct queue *q)
{
    if (bpf_maps_concurrent) {
        bpf_mlock_acquire(&q->lock);
    }
}

static void
queue_unlock(struct queue *q)
{
    if (bpf_maps_concurrent) {
        bpf_mlock_release(&q->lock);
    }
}

static int
queue_push(struct bpf_map *map, const void *value, uint64_t flags)
{
    struct queue *q = map->priv;

    BPF_MAP_COST_OP();
    BPF_MAP_COST(1, 0);
    if ((flags & BPF_NOEXIST) || flags > BPF_EXIST) {
        return -EINVAL;
    }
    queue_lock(q);
    if ((q->head + 1) % q->size == q->tail) {
        if (!(flags & BPF_EXIST)) {
            queue_unlock(q);
            return -E2BIG;
        }
        q->tail = (q->tail + 1) % q->size;
    }
    memcpy(q->values + (size_t)q->head * map->value_size, value,
           map->value_size);
    q->head = (q->head + 1) % q->size;
    queue_unlock(q);
    return 0;
}

static int
queue_take(struct bpf_map *map, void *value, bool delete)
{
    struct queue *q = map->priv;

    BPF_MAP_COST_OP();
    BPF_MAP_COST(1, 0);
    queue_lock(q);
    if (q->head == q->tail) {
        queue_unlock(q);
        return -ENOENT;
    }
    uint32_t slot;
    if (map->type == BPF_MAP_TYPE_QUEUE) {
        slot = q->tail;
        if (delete) {
            q->tail = (q->tail + 1) % q->size;
        }
    } else {
        slot = (q->head + q->size - 1) % q->size;
        if (delete) {
            q->head = slot;
        }
    }
    memcpy(value, q->values + (size_t)slot * map->value_size, map->value_size);
    queue_unlock(q);
    return 0;
}

static int
queue_pop(struct bpf_map *map, void *value)
{
    return queue_take(map, value, true);
}

static int
queue_peek(struct bpf_map *map, void *value)
{
    return queue_take(map, value, false);
}

static void *
queue_lookup(struct bpf_map *map, const void *key)
{
    return NULL;
}

static int
queue_update(struct bpf_map *map, const void *key, const void *value,
             uint64_t flags)
{
    return -EINVAL;
}

static int
queue_delete(struct bpf_map *map, const void *key)
{
    return -EINVAL;
}

static int
queue_get_next_key(struct bpf_map *map, const void *key, void *next_key)
{
    return -EINVAL;
}

/* Read-only: whether a pop or peek finds a value ('found') and a push
 * finds no room ('full'), for performance contracts.  The positions are
 * read with relaxed loads and without the lock: exact when no other
 * thread pushes or pops meanwhile (as the contract assumes). */
void
bpf_queue_probe(const struct bpf_map *map, struct bpf_map_probe *p)
{
    const struct queue *q = map->priv;
    uint32_t head = __atomic_load_n(&q->head, __ATOMIC_RELAXED);
    uint32_t tail = __atomic_load_n(&q->tail, __ATOMIC_RELAXED);

    memset(p, 0, sizeof *p);
    p->found = head != tail;
    p->full = (head + 1) % q->size == tail;
}

const struct bpf_map_ops bpf_queue_ops = {
    .alloc = queue_alloc,
    .free = queue_free,
    .lookup = queue_lookup,
    .update = queue_update,
    .delete = queue_delete,
    .get_next_key = queue_get_next_key,
    .push = queue_push,
    .pop = queue_pop,
    .peek = queue_peek,
};
