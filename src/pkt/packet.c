/* Packet buffers.
 *
 * A packet is a small header struct plus one buffer: headroom, frame,
 * tailroom.  The buffer is sized once when the packet is created (pools and
 * ports reuse packets, so allocation stays off the fast path) and only
 * packet_set_data() may grow it, because every other operation promises not
 * to move the frame: the eBPF runtime and the rewrite code keep pointers
 * into it across calls.
 *
 * packet_new() and packet_clone() put the buffer in the same allocation as
 * the struct, right after it: the datapath touches both for every packet
 * (parse reads the frame and writes the struct), and one block per packet
 * instead of two keeps a run of packets denser in memory, with no
 * allocator header between a struct and its frame.  A buffer that
 * packet_set_data() had to grow is allocated on its own. */
#include "packet.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

/* The buffer that packet_new() allocates with the struct. */
static uint8_t *
packet_inline_buf(const struct packet *p)
{
    return (uint8_t *)(uintptr_t)(p + 1);
}

/* A zeroed struct with room for 'size' bytes of buffer after it, which
 * becomes its buffer. */
static struct packet *
packet_alloc(uint32_t size)
{
    struct packet *p = xmalloc(sizeof *p + size);

    memset(p, 0, sizeof *p);
    p->size = size;
    p->base = packet_inline_buf(p);
    return p;
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
    memcpy(c->base, p->base, p->size);
    return c;
}

/* Frees 'p' and its buffer.  NULL is a no-op. */
void
packet_destroy(struct packet *p)
{
    if (p) {
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
