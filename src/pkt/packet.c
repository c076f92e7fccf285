/* Packet buffers.
 *
 * A packet is a small header struct plus one buffer: headroom, frame,
 * tailroom.  The buffer is sized once when the packet is created (pools and
 * ports reuse packets, so allocation stays off the fast path) and only
 * packet_set_data() may grow it, because every other operation promises not
 * to move the frame: the eBPF runtime and the rewrite code keep pointers
 * into it across calls.
 *
 * packet_new(), packet_clone() and packet pools put the buffer in the same
 * allocation as the struct, right after it (from the next cache line, see
 * PACKET_STRUCT_SPAN): the datapath touches both for every packet
 * (parse reads the frame and writes the struct), and one block per packet
 * instead of two keeps a run of packets denser in memory, with no
 * allocator header between a struct and its frame.  A buffer that
 * packet_set_data() had to grow is allocated on its own. */
#include "packet.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "core/util.h"

/* The buffer that packet_new() and pools allocate with the struct. */
static uint8_t *
packet_inline_buf(const struct packet *p)
{
    return (uint8_t *)(uintptr_t)p + PACKET_STRUCT_SPAN;
}

/* Makes the zeroed struct at 'mem', with room for 'size' bytes of buffer
 * after it, which becomes its buffer. */
static struct packet *
packet_init_at(void *mem, uint32_t size)
{
    struct packet *p = mem;

    memset(p, 0, sizeof *p);
    p->size = size;
    p->base = packet_inline_buf(p);
    return p;
}

static struct packet *
packet_alloc(uint32_t size)
{
    return packet_init_at(xmalloc(PACKET_STRUCT_SPAN + size), size);
}

/* Frees p's buffer unless it lives in p's own allocation. */
static void
packet_free_buf(struct packet *p)
{
    if (p->base != packet_inline_buf(p)) {
        free(p->base);
    }
}

/* Forgets everything pkt_parse() computed: the bytes changed. */
static void
packet_reset_parse(struct packet *p)
{
    p->hash = 0;
    p->l3_ofs = PACKET_OFS_NONE;
    p->l4_ofs = PACKET_OFS_NONE;
    p->l7_ofs = PACKET_OFS_NONE;
    p->vlan_ofs = PACKET_OFS_NONE;
    p->parse_err = 0;
    p->n_vlans = 0;
    memset(&p->key, 0, sizeof p->key);
}

/* Returns a new, empty packet with PACKET_HEADROOM bytes of headroom and
 * room for 'frame_size' bytes of frame.  in_port and ts_ns start at 0. */
struct packet *
packet_new(uint32_t frame_size)
{
    struct packet *p = packet_alloc(PACKET_HEADROOM + frame_size);

    p->data_ofs = PACKET_HEADROOM;
    p->len = 0;
    packet_reset_parse(p);
    return p;
}

/* Copies 'len' bytes from 'data' into 'p' after a fresh PACKET_HEADROOM,
 * growing the buffer if it is too small.  The parse results are reset and
 * orig_len becomes 'len' (saturated at UINT16_MAX); in_port and ts_ns are
 * left as they are, because the port that receives the frame sets them. */
void
packet_set_data(struct packet *p, const void *data, uint32_t len)
{
    /* 'data' may point into p's own buffer (re-basing a frame after
     * pulls), so copy before freeing and allow overlap. */
    if ((uint64_t)PACKET_HEADROOM + len > p->size) {
        uint8_t *buf = xmalloc(PACKET_HEADROOM + len);

        memcpy(buf + PACKET_HEADROOM, data, len);
        packet_free_buf(p);
        p->base = buf;
        p->size = PACKET_HEADROOM + len;
    } else if (len) {
        memmove(p->base + PACKET_HEADROOM, data, len);
    }
    p->data_ofs = PACKET_HEADROOM;
    p->len = len;
    p->orig_len = len > UINT16_MAX ? UINT16_MAX : (uint16_t)len;
    packet_reset_parse(p);
}

/* Returns a deep copy of 'p': same buffer size, headroom, bytes and
 * metadata.  The caller frees it with packet_destroy(). */
struct packet *
packet_clone(const struct packet *p)
{
    struct packet *c = packet_alloc(p->size);
    uint8_t *base = c->base;

    *c = *p;
    c->base = base;
    c->pool_size = 0;
    memcpy(c->base, p->base, p->size);
    return c;
}

/* Frees 'p' and its buffer.  NULL is a no-op.  A pooled packet belongs to
 * its pool: only a buffer that packet_set_data() grew is freed, and the
 * packet gets its inline buffer back. */
void
packet_destroy(struct packet *p)
{
    if (p && p->pool_size) {
        packet_free_buf(p);
        p->base = packet_inline_buf(p);
        p->size = p->pool_size;
        p->data_ofs = PACKET_HEADROOM;
        p->len = 0;
        packet_reset_parse(p);
    } else if (p) {
        packet_free_buf(p);
        free(p);
    }
}

/* The four functions below move only 'data_ofs' and 'len'.  They do not
 * adjust the parsed header offsets: a caller that changes the headers
 * (pkt_push_vlan(), an eBPF program) knows how they moved and fixes or
 * re-parses them. */

uint8_t *
packet_push(struct packet *p, uint32_t n)
{
    if (n > p->data_ofs) {
        return NULL;
    }
    p->data_ofs -= n;
    p->len += n;
    return packet_data(p);
}

int
packet_pull(struct packet *p, uint32_t n)
{
    if (n > p->len) {
        return -EINVAL;
    }
    p->data_ofs += n;
    p->len -= n;
    return 0;
}

int
packet_put_tail(struct packet *p, uint32_t n)
{
    if (n > packet_tailroom(p)) {
        return -ENOSPC;
    }
    p->len += n;
    return 0;
}

int
packet_trim_tail(struct packet *p, uint32_t n)
{
    if (n > p->len) {
        return -EINVAL;
    }
    p->len -= n;
    return 0;
}

/* Huge page size that the pool's mapping is aligned to, so that the
 * kernel can back it with transparent huge pages from its first byte. */
#define PACKET_POOL_ALIGN (2u << 20)

struct packet_pool {
    uint8_t *mem;      /* 'n' slots of 'stride' bytes. */
    size_t map_size;   /* Bytes mapped at 'mem'. */
    size_t n;          /* Packets. */
    size_t stride;     /* Bytes per packet: struct span + buffer. */
};

struct packet_pool *
packet_pool_create(size_t n, uint32_t frame_size)
{
    size_t buf = (size_t)PACKET_HEADROOM + frame_size;
    size_t stride = ROUND_UP(PACKET_STRUCT_SPAN + buf, 64);
    struct packet_pool *pool;
    size_t map_size;
    uint8_t *raw, *mem;

    if (!n || buf > UINT32_MAX || n > (SIZE_MAX - PACKET_POOL_ALIGN) / stride) {
        errno = EINVAL;
        return NULL;
    }
    if (n * stride < PACKET_POOL_ALIGN) {
        /* A port's ring of a few dozen packets: a huge page would only
         * waste memory, since its packets stay in the cache anyway. */
        map_size = ROUND_UP(n * stride, 4096);
        mem = mmap(NULL, map_size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (mem == MAP_FAILED) {
            return NULL;
        }
    } else {
        /* Map one huge page more than needed and trim both ends, so that
         * the pool starts on a huge page boundary whatever address mmap
         * picks. */
        map_size = ROUND_UP(n * stride, PACKET_POOL_ALIGN);
        raw = mmap(NULL, map_size + PACKET_POOL_ALIGN, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (raw == MAP_FAILED) {
            return NULL;
        }
        mem = (uint8_t *)ROUND_UP((uintptr_t)raw, PACKET_POOL_ALIGN);
        if (mem > raw) {
            munmap(raw, (size_t)(mem - raw));
        }
        munmap(mem + map_size, PACKET_POOL_ALIGN - (size_t)(mem - raw));
        /* Best effort: without transparent huge pages the pool works the
         * same, with more TLB misses. */
        madvise(mem, map_size, MADV_HUGEPAGE);
    }

    pool = xzalloc(sizeof *pool);
    pool->mem = mem;
    pool->map_size = map_size;
    pool->n = n;
    pool->stride = stride;
    for (size_t i = 0; i < n; i++) {
        struct packet *p = packet_init_at(mem + i * stride, (uint32_t)buf);

        p->pool_size = (uint32_t)buf;
        p->data_ofs = PACKET_HEADROOM;
        packet_reset_parse(p);
    }
    return pool;
}

struct packet_pool *
packet_pool_create_array(size_t n, uint32_t frame_size, struct packet **pkts)
{
    struct packet_pool *pool = packet_pool_create(n, frame_size);

    for (size_t i = 0; pool && i < n; i++) {
        pkts[i] = packet_pool_get(pool, i);
    }
    return pool;
}

struct packet *
packet_pool_get(const struct packet_pool *pool, size_t i)
{
    return i < pool->n ? (struct packet *)(pool->mem + i * pool->stride)
                       : NULL;
}

size_t
packet_pool_count(const struct packet_pool *pool)
{
    return pool->n;
}

void
packet_pool_destroy(struct packet_pool *pool)
{
    if (pool) {
        for (size_t i = 0; i < pool->n; i++) {
            packet_free_buf(packet_pool_get(pool, i));
        }
        munmap(pool->mem, pool->map_size);
        free(pool);
    }
}
