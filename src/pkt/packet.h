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
#include <stddef.h>
#include <stdint.h>

#include "flow_key.h"

#define PACKET_HEADROOM 256
#define PACKET_BATCH_MAX 32
#define PACKET_DEFAULT_SIZE 2048       /* Default room for the frame. */

/* Header offset value meaning "this layer is absent". */
#define PACKET_OFS_NONE UINT16_MAX

/* The layout serves the parse, which is bound by memory when packets are
 * cold: everything the parse writes and the datapath reads per packet (the
 * fields up to 'key', and the key) fills exactly 128 bytes, so a packet
 * that starts on a cache line (every packet of a packet_pool) costs two
 * lines of struct.  ts_ns, read only by programs that ask for the time,
 * and pool_size follow. */
struct packet {
    uint8_t *base;               /* Start of the buffer (owned). */
    uint32_t size;               /* Bytes allocated at 'base'. */
    uint32_t data_ofs;           /* Frame start, from 'base'. */
    uint32_t len;                /* Frame length, in bytes. */
    uint32_t in_port;            /* Ingress port number. */
    uint32_t hash;               /* Hash of 'key' (valid after parsing). */
    uint16_t l3_ofs;             /* From frame start, or PACKET_OFS_NONE. */
    uint16_t l4_ofs;             /* From frame start, or PACKET_OFS_NONE. */
    uint16_t l7_ofs;             /* Payload after L4, or PACKET_OFS_NONE. */
    uint16_t vlan_ofs;           /* Outer VLAN tag's TPID, or NONE. */
    uint8_t parse_err;           /* enum pkt_parse_err. */
    uint8_t n_vlans;             /* VLAN tags found (0..2). */
    uint16_t orig_len;           /* Wire length if the capture truncated. */
    struct flow_key key;         /* Parsed fields. */
    uint64_t ts_ns;              /* Timestamp, ns since the Unix epoch. */
    uint32_t pool_size;          /* In a packet_pool: its inline buffer's
                                  * size; 0 otherwise. */
};

_Static_assert(offsetof(struct packet, key) + sizeof(struct flow_key) == 128,
               "struct packet: the parsed fields must fill two cache lines");

/* Bytes from a packet to its inline buffer: the struct rounded up to whole
 * cache lines, so that in a packet_pool the headroom, and so the frame,
 * starts on a line too (an Ethernet + IPv4 + TCP header then takes one). */
#define PACKET_STRUCT_SPAN ((sizeof(struct packet) + 63) / 64 * 64)

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

/* A pool: 'n' packets made at once, each with PACKET_HEADROOM bytes of
 * headroom and room for 'frame_size' bytes of frame, in one mapping that
 * the kernel may back with huge pages (as a DPDK mempool or an AF_XDP
 * UMEM is).  A datapath that keeps many packets in flight then pays one
 * TLB entry per 2 MiB of them instead of one per 4 KiB, which matters most
 * in a virtual machine, where a TLB miss walks two levels of page tables.
 * Every packet starts on a cache line.  The pool owns its packets:
 * packet_destroy() on one only frees a buffer that packet_set_data() grew
 * and empties the packet (it stays usable), and packet_pool_destroy()
 * frees everything.
 * Returns NULL, with errno set, if the memory cannot be mapped. */
struct packet_pool;
struct packet_pool *packet_pool_create(size_t n, uint32_t frame_size);
/* packet_pool_create(), also storing the packets in 'pkts[0..n-1]', as a
 * port's receive or transmit ring wants them. */
struct packet_pool *packet_pool_create_array(size_t n, uint32_t frame_size,
                                             struct packet **pkts);
struct packet *packet_pool_get(const struct packet_pool *, size_t i);
size_t packet_pool_count(const struct packet_pool *);
void packet_pool_destroy(struct packet_pool *);

/* Adds 'n' bytes at the front (returns a pointer to them) or NULL if the
 * headroom is short; removes 'n' bytes from the front; same at the tail.
 * These never move the frame and never invalidate 'base'. */
uint8_t *packet_push(struct packet *p, uint32_t n);
int packet_pull(struct packet *p, uint32_t n);
int packet_put_tail(struct packet *p, uint32_t n);
int packet_trim_tail(struct packet *p, uint32_t n);

#endif
