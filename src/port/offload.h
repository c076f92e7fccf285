/* Offloads done in software: checksum completion and GSO segmentation.
 *
 * Between network namespaces the kernel skips work it expects hardware to
 * do later: a TCP sender over veth hands out frames whose L4 checksum holds
 * only the pseudo-header sum ("checksum partial"), and with TSO/GSO on (the
 * default) one frame carries up to 64 KiB of TCP payload, a "super-frame"
 * that must be cut into MSS-sized segments before any real link sees it.
 * Live ports learn this from the kernel's virtio_net_hdr (AF_PACKET with
 * PACKET_VNET_HDR, TAP with IFF_VNET_HDR) and call in here, so the
 * pipeline only ever sees ordinary, correct, MTU-sized frames, and TCP
 * between namespaces works with default offloads.
 *
 * Segmentation is an iterator: a super-frame may yield more segments than
 * a batch holds, so the port keeps the iterator and the source frame
 * across rx_batch() calls and writes each segment straight into its own
 * receive packet (no allocation per segment).  Each segment gets the
 * original headers with the IPv4 total length / IPv6 payload length, IPv4
 * id (+1 per segment) and header checksum, TCP sequence number and flags
 * (FIN and PSH only on the last segment, CWR only on the first) or UDP
 * length fixed, and a fully computed L4 checksum. */
#ifndef PORT_OFFLOAD_H
#define PORT_OFFLOAD_H 1

#include <stdbool.h>
#include <stdint.h>

#include "pkt/packet.h"

/* Kinds of segmentation a frame may ask for. */
enum offload_gso {
    OFFLOAD_GSO_NONE,  /* An ordinary frame. */
    OFFLOAD_GSO_TCPV4, /* TCP over IPv4. */
    OFFLOAD_GSO_TCPV6, /* TCP over IPv6. */
    OFFLOAD_GSO_UDP,   /* UDP (GSO_UDP_L4) over IPv4 or IPv6. */
};

/* What the kernel says about one frame (a decoded virtio_net_hdr). */
struct offload_meta {
    bool needs_csum;      /* L4 checksum holds only the pseudo-header. */
    enum offload_gso gso; /* Segmentation to do. */
    uint16_t gso_size;    /* L4 payload bytes per segment. */
    uint16_t csum_start;  /* Checksummed region start, bytes from frame. */
    uint16_t csum_offset; /* Checksum field, bytes from csum_start. */
};

/* Size of the virtio_net_hdr that TAP and AF_PACKET prepend, in bytes. */
#define OFFLOAD_VNET_HDR_LEN 10

/* Decodes the OFFLOAD_VNET_HDR_LEN bytes at 'vnet_hdr' (host byte order,
 * as the kernel writes them for TAP and AF_PACKET) into '*meta'.  Returns 0,
 * or -EPROTONOSUPPORT for a GSO type that cannot be segmented here. */
int offload_meta_from_vnet(const void *vnet_hdr, struct offload_meta *meta);

/* Writes a virtio_net_hdr meaning "nothing to do" (an ordinary frame). */
void offload_vnet_hdr_none(void *vnet_hdr);

/* Completes the checksum of a "checksum partial" frame: sums
 * frame[csum_start, len) (whose checksum field holds the pseudo-header sum)
 * and stores the result at csum_start + csum_offset.  Returns 0, or -EINVAL
 * if the field lies outside the frame. */
int offload_csum_complete(uint8_t *frame, uint32_t len, uint32_t csum_start,
                          uint32_t csum_offset);

/* For frames that come without offload metadata (AF_XDP): if 'frame' is
 * TCP or UDP over IPv4/IPv6 whose checksum field holds exactly the folded
 * pseudo-header sum of a checksum-partial frame and the checksum does not
 * verify, completes it and returns 1; otherwise changes nothing and
 * returns 0.  A frame with a wrong checksum of any other value stays wrong
 * (the receiver drops it, as it should); only a damaged frame whose field
 * happens to equal its pseudo-header sum (one in 65536) would be mended.
 * Costs a pseudo-header sum per frame, a full sum only for partial ones. */
int offload_csum_fix_partial(uint8_t *frame, uint32_t len);

/* Ones' complement sum of 'len' bytes at 'data' added to 'sum', with the
 * same meaning as csum_partial() (big-endian 16-bit words, chainable at
 * even offsets) but summing eight bytes at a time. */
uint32_t offload_csum_add(const void *data, uint32_t len, uint32_t sum);

/* Iterator over the segments of one super-frame. */
struct offload_seg {
    const uint8_t *frame; /* Super-frame (borrowed). */
    uint32_t len;         /* Its length, in bytes. */
    uint32_t l3_ofs;      /* IP header, bytes from frame start. */
    uint32_t l4_ofs;      /* TCP/UDP header, bytes from frame start. */
    uint32_t hdr_len;     /* All headers, bytes from frame start. */
    bool ipv6;            /* IPv6 (else IPv4). */
    bool tcp;             /* TCP (else UDP). */
    uint32_t mss;         /* Payload bytes per segment. */
    uint32_t pos;         /* Payload bytes already emitted. */
    bool vlan;            /* Insert a VLAN tag into every segment. */
    uint16_t vlan_tpid;   /* Its TPID, host order. */
    uint16_t vlan_tci;    /* Its TCI, host order. */
    uint32_t index;       /* Segments already emitted. */
};

/* Prepares to cut the 'len' bytes at 'frame' (borrowed until the last
 * segment is taken) as 'meta' asks ('meta->gso' is not OFFLOAD_GSO_NONE;
 * ordinary frames need at most offload_csum_complete()).  A frame with no
 * more than one segment of payload yields one segment.  Returns 0, or
 * -EINVAL if the headers are not Ethernet (up to two VLAN tags) + IPv4 or
 * IPv6 (extension headers allowed) + TCP/UDP matching the GSO type, or if
 * gso_size is 0. */
int offload_seg_init(struct offload_seg *, const uint8_t *frame, uint32_t len,
                     const struct offload_meta *meta);

/* Makes every segment carry an outer VLAN tag ('tpid', 'tci') inserted
 * after the MAC addresses: for a super-frame whose tag the kernel had
 * moved into metadata (VLAN acceleration on AF_PACKET). */
void offload_seg_set_vlan(struct offload_seg *, uint16_t tpid, uint16_t tci);

/* Inserts an outer VLAN tag ('tpid', 'tci') after the MAC addresses of
 * 'p', using 4 bytes of its headroom.  Returns 0, or -ENOSPC without
 * headroom or -EINVAL for a frame shorter than two MAC addresses. */
int offload_vlan_insert(struct packet *p, uint16_t tpid, uint16_t tci);

/* Number of segments the iterator yields in all. */
uint32_t offload_seg_count(const struct offload_seg *);

/* Writes the next segment into 'out' (replacing its data, growing it only
 * if it is too small, resetting its parse state).  Returns true, or false
 * when every segment has been taken. */
bool offload_seg_next(struct offload_seg *, struct packet *out);

#endif
