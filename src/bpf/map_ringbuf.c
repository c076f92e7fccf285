/* Ring buffer: BPF_MAP_TYPE_RINGBUF, with the kernel's record format.
 *
 * max_entries is the data size in bytes: a power of two and a multiple of
 * the page size; key_size and value_size must be 0.  Records are an 8-byte
 * header (u32 length with a busy bit (31) and a discard bit (30), u32 page
 * offset of the header from the ring's control page) followed by the data,
 * padded to 8 bytes.  The producer position only grows; a reservation fails
 * when it would put the producer more than size - 1 bytes ahead of the
 * consumer, as in the kernel.
 *
 * Layout: one memfd mapped as [control page][data][data again], so that a
 * record crossing the end of the ring is contiguous in memory, exactly the
 * kernel's double mapping; the control page holds struct ringbuf, which is
 * how bpf_ringbuf_submit() finds the ring from a record pointer (header
 * address rounded down to its page, minus the page offset).
 *
 * Costs: reserve, submit, discard and output are O(1) plus the copy;
 * consume visits each record once.  No operation allocates.
 *
 * Concurrency (bpf_maps_concurrent): producers on several threads reserve
 * under one per-map spin lock, as the kernel's do; the header's busy bit,
 * cleared with a release store by submit or discard, tells the consumer
 * whether a record is complete, so records are committed in any order and
 * consumed in reservation order.  There is one consumer at a time (the
 * control thread), which publishes its position with a release store. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bpf/maps.h"

#define RB_BUSY_BIT (1u << 31)
#define RB_DISCARD_BIT (1u << 30)
#define RB_HDR_SIZE 8
#define RB_MAX_RECORD (UINT32_MAX / 4)
/* Largest data area, in pages: the kernel keeps page offsets in 24 bits
 * and reserves three pages for its control pages. */
#define RB_MAX_DATA ((1ull << 24) - 3)

struct ringbuf {
    uint64_t mask;     /* Data size - 1. */
    uint64_t cons_pos; /* Consumer position, bytes. */
    uint64_t prod_pos; /* Producer position, bytes. */
    uint8_t *data;     /* Data start (after the control page),
                        * mapped twice in a row. */
    size_t map_len;    /* Whole mapping, bytes. */
    size_t page_size;
    uint32_t lock; /* Producers' spin lock when
                    * bpf_maps_concurrent. */
};

struct rb_hdr {
    uint32_t len;    /* Data bytes | busy | discard bits. */
    uint32_t pg_off; /* Pages from the control page. */
};

static int
ringbuf_alloc(struct bpf_map *map)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    uint64_t size = map->max_entries;

    if (map->map_flags & ~(uint32_t)BPF_F_NUMA_NODE) {
        return bpf_map_invalid(map,
                               "unsupported map_flags 0x%x for a ring "
                               "buffer",
                               map->map_flags);
    }
    if (map->key_size || map->value_size || !size || (size & (size - 1)) ||
        size % page) {
        return bpf_map_invalid(map,
                               "a ring buffer needs key_size and "
                               "value_size 0 and max_entries a power "
                               "of 2 multiple of %zu",
                               page);
    }
    if (size / page > RB_MAX_DATA) {
        return -E2BIG;
    }

    int fd = memfd_create("sluice-ringbuf", MFD_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    size_t len = page + 2 * size;
    uint8_t *base = MAP_FAILED;
    int err = 0;
    if (ftruncate(fd, (off_t)(page + size)) < 0) {
        err = -errno;
        goto out;
    }
    base = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED ||
        mmap(base, page + size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
             fd, 0) == MAP_FAILED ||
        mmap(base + page + size, size, PROT_READ | PROT_WRITE,
             MAP_SHARED | MAP_FIXED, fd, (off_t)page) == MAP_FAILED) {
        err = -ENOMEM;
        if (base != MAP_FAILED) {
            munmap(base, len);
        }
        goto out;
    }
    struct ringbuf *rb = (struct ringbuf *)(void *)base;
    rb->mask = size - 1;
    rb->data = base + page;
    rb->map_len = len;
    rb->page_size = page;
    map->priv = rb;
out:
    close(fd);
    return err;
}

static void
ringbuf_free(struct bpf_map *map)
{
    struct ringbuf *rb = map->priv;
    munmap(rb, rb->map_len);
}

void *
bpf_ringbuf_reserve(struct bpf_map *map, uint64_t size, uint64_t flags)
{
    struct ringbuf *rb = map->priv;

    BPF_MAP_COST_OP();
    if (flags || size > RB_MAX_RECORD) {
        return NULL;
    }
    uint64_t len = ROUND_UP(size + RB_HDR_SIZE, 8);
    bool conc = bpf_maps_concurrent;
    if (conc) {
        bpf_mlock_acquire(&rb->lock);
    }
    uint64_t prod = rb->prod_pos;
    uint64_t new_prod = prod + len;
    if (new_prod - __atomic_load_n(&rb->cons_pos, __ATOMIC_ACQUIRE) >
        rb->mask) {
        if (conc) {
            bpf_mlock_release(&rb->lock);
        }
        return NULL;
    }
    struct rb_hdr *hdr =
        (struct rb_hdr *)(void *)(rb->data + (prod & rb->mask));
    __atomic_store_n(&hdr->len, (uint32_t)size | RB_BUSY_BIT, __ATOMIC_RELAXED);
    hdr->pg_off = (uint32_t)(((uint8_t *)hdr - (uint8_t *)rb) / rb->page_size);
    /* The busy header is in place before the consumer can see the new
     * producer position. */
    __atomic_store_n(&rb->prod_pos, new_prod, __ATOMIC_RELEASE);
    if (conc) {
        bpf_mlock_release(&rb->lock);
    }
    return hdr + 1;
}

void
bpf_ringbuf_commit(void *data, uint64_t flags, bool discard)
{
    struct rb_hdr *hdr = (struct rb_hdr *)data - 1;
    uint32_t len = hdr->len & ~RB_BUSY_BIT;
    /* Wakeup flags matter only to a consumer waiting in poll(), which
     * sluice's synchronous consumer never does. */
    (void)flags;
    __atomic_store_n(&hdr->len, discard ? len | RB_DISCARD_BIT : len,
                     __ATOMIC_RELEASE);
}

int
bpf_ringbuf_output(struct bpf_map *map, const void *data, uint64_t size,
                   uint64_t flags)
{
    if (flags & ~(uint64_t)(BPF_RB_NO_WAKEUP | BPF_RB_FORCE_WAKEUP)) {
        return -EINVAL;
    }
    void *rec = bpf_ringbuf_reserve(map, size, 0);
    if (!rec) {
        return -EAGAIN;
    }
    memcpy(rec, data, size);
    bpf_ringbuf_commit(rec, flags, false);
    return 0;
}

/* Both positions are loaded whatever 'flags' asks, and the answer picked
 * from a table: one path, so every query costs the same (its contract
 * is one constant, not one per flag). */
uint64_t
bpf_ringbuf_query(struct bpf_map *map, uint64_t flags)
{
    const struct ringbuf *rb = map->priv;
    uint64_t prod = __atomic_load_n(&rb->prod_pos, __ATOMIC_ACQUIRE);
    uint64_t cons = __atomic_load_n(&rb->cons_pos, __ATOMIC_ACQUIRE);
    const uint64_t answer[] = {
        [BPF_RB_AVAIL_DATA] = prod - cons,
        [BPF_RB_RING_SIZE] = rb->mask + 1,
        [BPF_RB_CONS_POS] = cons,
        [BPF_RB_PROD_POS] = prod,
    };
    return flags < sizeof answer / sizeof answer[0] ? answer[flags] : 0;
}

/* Read-only: whether bpf_ringbuf_reserve(map, size, 0) would find room
 * now, for performance contracts; the same test as the reservation's, on
 * relaxed loads of the positions.  '*data' gets where the record's data
 * would start (the copy's destination, whose alignment matters to
 * memcpy). */
bool
bpf_ringbuf_probe(const struct bpf_map *map, uint64_t size, void **data)
{
    const struct ringbuf *rb = map->priv;
    uint64_t prod = __atomic_load_n(&rb->prod_pos, __ATOMIC_RELAXED);
    uint64_t cons = __atomic_load_n(&rb->cons_pos, __ATOMIC_RELAXED);

    *data = rb->data + (prod & rb->mask) + RB_HDR_SIZE;
    return size <= RB_MAX_RECORD &&
           prod + ROUND_UP(size + RB_HDR_SIZE, 8) - cons <= rb->mask;
}

int
bpf_ringbuf_consume(struct bpf_map *map, bpf_ringbuf_cb *cb, void *arg)
{
    if (map->type != BPF_MAP_TYPE_RINGBUF || !map->priv) {
        return -EINVAL;
    }
    struct ringbuf *rb = map->priv;
    int n = 0;

    uint64_t cons = rb->cons_pos;
    while (cons < __atomic_load_n(&rb->prod_pos, __ATOMIC_ACQUIRE)) {
        const struct rb_hdr *hdr =
            (const struct rb_hdr *)(const void *)(rb->data + (cons & rb->mask));
        uint32_t len = __atomic_load_n(&hdr->len, __ATOMIC_ACQUIRE);
        if (len & RB_BUSY_BIT) {
            break;
        }
        uint32_t size = len & ~RB_DISCARD_BIT;
        /* The record's bytes are read before its space is given back:
         * 'cb' runs first, the release store of the position after. */
        cons += ROUND_UP((uint64_t)size + RB_HDR_SIZE, 8);
        int ret = 0;
        if (!(len & RB_DISCARD_BIT)) {
            n++;
            ret = cb(arg, hdr + 1, size);
        }
        __atomic_store_n(&rb->cons_pos, cons, __ATOMIC_RELEASE);
        if (ret < 0) {
            return ret;
        }
        if (ret) {
            break;
        }
    }
    return n;
}

static void *
ringbuf_lookup(struct bpf_map *map, const void *key)
{
    return NULL;
}

static int
ringbuf_update(struct bpf_map *map, const void *key, const void *value,
               uint64_t flags)
{
    return -EOPNOTSUPP;
}

static int
ringbuf_delete(struct bpf_map *map, const void *key)
{
    return -EOPNOTSUPP;
}

static int
ringbuf_get_next_key(struct bpf_map *map, const void *key, void *next_key)
{
    return -EOPNOTSUPP;
}

const struct bpf_map_ops bpf_ringbuf_ops = {
    .alloc = ringbuf_alloc,
    .free = ringbuf_free,
    .lookup = ringbuf_lookup,
    .update = ringbuf_update,
    .delete = ringbuf_delete,
    .get_next_key = ringbuf_get_next_key,
};
