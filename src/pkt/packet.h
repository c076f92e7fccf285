/* Packet buffers and batches.
 *
 * A packet owns one contiguous buffer: PACKET_HEADROOM bytes of headroom
 * (so VLAN pushes and eBPF xdp_adjust_head can grow the front without a
 * copy), then the frame, then tailroom.  The flow key, the header offsets
 * and the key's hash are filled once by pkt_parse() and reused by every
 * later stage; a rewrite keeps them up to date.
 *
 * Packets travel in batches of up to PACKET_BATCH_MAX (32).  A batch does
 * not own its packets' memory: the port or pool that filled it does. */
#ifndef PKT_PACKET_H
#define PKT_PACKET_H 1

#include <stdbool.h>
#include <stdint.h>

#include "flow_key.h"

#define PACKET_HEADROOM 256
#define PACKET_BATCH_MAX 32
#define PACKET_DEFAULT_SIZE 2048       /* Default room for the frame. */

/* Header offset value meaning "this layer is absent". */
#define PACKET_OFS_NONE UINT16_MAX

struct packet {
    uint8_t *base;               /* Start of the buffer (owned). */
    uint32_t size;               /* Bytes allocated at 'base'. */
    uint32_t data_ofs;           /* Frame start, from 'base'. */
    uint32_t len;                /* Frame length, in bytes. */
    uint32_t in_port;            /* Ingress port number. */
    uint64_t ts_ns;              /* Timestamp, ns since the Unix epoch. */
    uint32_t hash;               /* Hash of 'key' (valid after parsing). */
    uint16_t l3_ofs;             /* From frame start, or PACKET_OFS_NONE. */
    uint16_t l4_ofs;             /* From frame start, or PACKET_OFS_NONE. */
    uint16_t l7_ofs;             /* Payload after L4, or PACKET_OFS_NONE. */
    uint16_t vlan_ofs;           /* Outer VLAN tag's TPID, or NONE. */
    uint8_t parse_err;           /* enum pkt_parse_err. */
    uint8_t n_vlans;             /* VLAN tags found (0..2). */
    uint16_t orig_len;           /* Wire length if the capture truncated. */
    struct flow_key key;         /* Parsed fields. */
};

struct packet_batch {
    unsigned int count;                        /* Packets in 'pkts'. */
    struct packet *pkts[PACKET_BATCH_MAX];     /* Borrowed pointers. */
};

static inline uint8_t *
packet_data(const struct packet *p)
{
    return p->base + p->data_ofs;
}

static inline uint32_t
packet_headroom(const struct packet *p)
{
    return p->data_ofs;
}

static inline uint32_t
packet_tailroom(const struct packet *p)
{
    return p->size - p->data_ofs - p->len;
}

static inline void
packet_batch_init(struct packet_batch *b)
{
    b->count = 0;
}

static inline void
packet_batch_add(struct packet_batch *b, struct packet *p)
{
    b->pkts[b->count++] = p;
}

/* Allocates a packet with room for 'frame_size' bytes of frame plus
 * headroom, empty (len 0).  Free with packet_destroy(). */
struct packet *packet_new(uint32_t frame_size);
/* Makes 'p' hold a copy of the 'len' bytes at 'data', growing the buffer if
 * needed; metadata is reset (not parsed). */
void packet_set_data(struct packet *p, const void *data, uint32_t len);
/* Returns a deep copy (data and metadata) of 'p'. */
struct packet *packet_clone(const struct packet *p);
void packet_destroy(struct packet *p);

/* Adds 'n' bytes at the front (returns a pointer to them) or NULL if the
 * headroom is short; removes 'n' bytes from the front; same at the tail.
 * These never move the frame and never invalidate 'base'. */
uint8_t *packet_push(struct packet *p, uint32_t n);
int packet_pull(struct packet *p, uint32_t n);
int packet_put_tail(struct packet *p, uint32_t n);
int packet_trim_tail(struct packet *p, uint32_t n);

#endif
