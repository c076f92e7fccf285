/* Software checksum completion and GSO segmentation (see offload.h).
 *
 * Headers are located by a small parser of its own rather than
 * pkt_parse(): a super-frame is up to 64 KiB, far past what struct packet
 * offsets describe, and only the offsets of the IP and L4 headers matter
 * here.  Every segment's L4 checksum is computed from scratch (pseudo
 * header + header + payload) with an eight-bytes-at-a-time sum, since the
 * super-frame's own checksum field covers the whole frame and cannot be
 * adjusted per segment. */
#include "offload.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include <linux/virtio_net.h>

#include "core/compiler.h"
#include "pkt/pkt.h"

#ifndef VIRTIO_NET_HDR_GSO_UDP_L4
#define VIRTIO_NET_HDR_GSO_UDP_L4 5 /* Older uapi headers lack it. */
#endif

#define ETH_HLEN_ 14
#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_IPV6 0x86dd
#define ETHERTYPE_VLAN 0x8100
#define ETHERTYPE_QINQ 0x88a8
#define IPPROTO_TCP_ 6
#define IPPROTO_UDP_ 17
#define TCP_FLAG_FIN 0x01
#define TCP_FLAG_PSH 0x08
#define TCP_FLAG_CWR 0x80

_Static_assert(sizeof(struct virtio_net_hdr) == OFFLOAD_VNET_HDR_LEN,
               "virtio_net_hdr size");

int
offload_meta_from_vnet(const void *vnet_hdr, struct offload_meta *meta)
{
    struct virtio_net_hdr h;

    memcpy(&h, vnet_hdr, sizeof h);
    meta->needs_csum = (h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) != 0;
    meta->csum_start = h.csum_start;
    meta->csum_offset = h.csum_offset;
    meta->gso_size = h.gso_size;
    switch (h.gso_type & ~VIRTIO_NET_HDR_GSO_ECN) {
    case VIRTIO_NET_HDR_GSO_NONE:
        meta->gso = OFFLOAD_GSO_NONE;
        return 0;
    case VIRTIO_NET_HDR_GSO_TCPV4:
        meta->gso = OFFLOAD_GSO_TCPV4;
        return 0;
    case VIRTIO_NET_HDR_GSO_TCPV6:
        meta->gso = OFFLOAD_GSO_TCPV6;
        return 0;
    case VIRTIO_NET_HDR_GSO_UDP_L4:
        meta->gso = OFFLOAD_GSO_UDP;
        return 0;
    default:
        /* UFO (IP fragmentation of UDP) is obsolete and never produced
         * by current kernels. */
        meta->gso = OFFLOAD_GSO_NONE;
        return -EPROTONOSUPPORT;
    }
}

void
offload_vnet_hdr_none(void *vnet_hdr)
{
    memset(vnet_hdr, 0, OFFLOAD_VNET_HDR_LEN);
}

uint32_t
offload_csum_add(const void *data_, uint32_t len, uint32_t sum)
{
    const uint8_t *data = data_;
    uint64_t acc = 0;
    uint32_t folded;

    /* Summing native-order words and swapping the folded result gives
     * the big-endian sum (RFC 1071, "byte order independence"). */
    while (len >= 8) {
        uint64_t w;

        memcpy(&w, data, 8);
        acc += w & 0xffffffff;
        acc += w >> 32;
        data += 8;
        len -= 8;
    }
    while (len >= 2) {
        uint16_t w;

        memcpy(&w, data, 2);
        acc += w;
        data += 2;
        len -= 2;
    }
    if (len) {
        uint16_t w = 0;

        memcpy(&w, data, 1);
        acc += w;
    }
    while (acc >> 16) {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    folded = ntohs((uint16_t)acc);
    acc = (uint64_t)sum + folded;
    while (acc >> 32) {
        acc = (acc & 0xffffffff) + (acc >> 32);
    }
    return (uint32_t)acc;
}

int
offload_csum_complete(uint8_t *frame, uint32_t len, uint32_t csum_start,
                      uint32_t csum_offset)
{
    uint32_t field = csum_start + csum_offset;
    uint16_t csum;

    if (csum_start >= len || field + 2 > len) {
        return -EINVAL;
    }
    /* As the kernel's skb_checksum_help(): a zero result is sent as
     * 0xffff, which means the same and keeps UDP's "no checksum" free. */
    csum = csum_fold(offload_csum_add(frame + csum_start, len - csum_start, 0));
    if (!csum) {
        csum = 0xffff;
    }
    csum = htons(csum);
    memcpy(frame + field, &csum, 2);
    return 0;
}

static uint16_t
get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static void
put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* Finds the IP and L4 headers of s->frame, for TCP if s->tcp, for UDP if
 * not, or for either (setting s->tcp) if 'any'.  Returns 0 or -EINVAL. */
static int
seg_parse(struct offload_seg *s, bool any)
{
    const uint8_t *f = s->frame;
    uint32_t ofs = ETH_HLEN_;
    uint16_t type;
    uint8_t proto;

    if (s->len < ETH_HLEN_) {
        return -EINVAL;
    }
    type = get16(f + 12);
    for (int i = 0; i < 2 && (type == ETHERTYPE_VLAN || type == ETHERTYPE_QINQ);
         i++) {
        if (s->len < ofs + 4) {
            return -EINVAL;
        }
        type = get16(f + ofs + 2);
        ofs += 4;
    }
    s->l3_ofs = ofs;
    if (type == ETHERTYPE_IPV4) {
        uint32_t ihl;

        if (s->len < ofs + 20 || (f[ofs] >> 4) != 4) {
            return -EINVAL;
        }
        ihl = (f[ofs] & 0xf) * 4u;
        /* A fragment cannot be segmented. */
        if (ihl < 20 || s->len < ofs + ihl || (get16(f + ofs + 6) & 0x3fff)) {
            return -EINVAL;
        }
        s->ipv6 = false;
        proto = f[ofs + 9];
        ofs += ihl;
    } else if (type == ETHERTYPE_IPV6) {
        if (s->len < ofs + 40 || (f[ofs] >> 4) != 6) {
            return -EINVAL;
        }
        s->ipv6 = true;
        proto = f[ofs + 6];
        ofs += 40;
        /* Hop-by-hop, routing and destination options may precede L4. */
        while (proto == 0 || proto == 43 || proto == 60) {
            if (s->len < ofs + 8) {
                return -EINVAL;
            }
            proto = f[ofs];
            ofs += (f[ofs + 1] + 1u) * 8;
        }
    } else {
        return -EINVAL;
    }
    s->l4_ofs = ofs;
    if (any) {
        s->tcp = proto == IPPROTO_TCP_;
    }
    if (proto == IPPROTO_TCP_ && s->tcp) {
        uint32_t thl;

        if (s->len < ofs + 20) {
            return -EINVAL;
        }
        thl = (f[ofs + 12] >> 4) * 4u;
        if (thl < 20 || s->len < ofs + thl) {
            return -EINVAL;
        }
        s->hdr_len = ofs + thl;
    } else if (proto == IPPROTO_UDP_ && !s->tcp) {
        if (s->len < ofs + 8) {
            return -EINVAL;
        }
        s->hdr_len = ofs + 8;
    } else {
        return -EINVAL;
    }
    return 0;
}

int
offload_seg_init(struct offload_seg *s, const uint8_t *frame, uint32_t len,
                 const struct offload_meta *meta)
{
    memset(s, 0, sizeof *s);
    s->frame = frame;
    s->len = len;
    s->mss = meta->gso_size;
    switch (meta->gso) {
    case OFFLOAD_GSO_TCPV4:
    case OFFLOAD_GSO_TCPV6:
        s->tcp = true;
        break;
    case OFFLOAD_GSO_UDP:
        s->tcp = false;
        break;
    case OFFLOAD_GSO_NONE:
    default:
        return -EINVAL;
    }
    if (!s->mss || seg_parse(s, false)) {
        return -EINVAL;
    }
    if ((meta->gso == OFFLOAD_GSO_TCPV4 && s->ipv6) ||
        (meta->gso == OFFLOAD_GSO_TCPV6 && !s->ipv6)) {
        return -EINVAL;
    }
    return 0;
}

void
offload_seg_set_vlan(struct offload_seg *s, uint16_t tpid, uint16_t tci)
{
    s->vlan = true;
    s->vlan_tpid = tpid;
    s->vlan_tci = tci;
}

int
offload_vlan_insert(struct packet *p, uint16_t tpid, uint16_t tci)
{
    uint8_t *d;

    if (p->len < 12) {
        return -EINVAL;
    }
    d = packet_push(p, 4);
    if (!d) {
        return -ENOSPC;
    }
    memmove(d, d + 4, 12);
    put16(d + 12, tpid);
    put16(d + 14, tci);
    return 0;
}

uint32_t
offload_seg_count(const struct offload_seg *s)
{
    uint32_t payload = s->len - s->hdr_len;

    return payload ? (payload + s->mss - 1) / s->mss : 1;
}

/* Sum of the pseudo-header of a segment whose L4 part is 'l4_len' bytes. */
static uint32_t
pseudo_sum(const struct offload_seg *s, const uint8_t *hdr, uint32_t l4_len)
{
    const uint8_t *ip = hdr + s->l3_ofs;
    uint32_t sum;

    if (s->ipv6) {
        sum = offload_csum_add(ip + 8, 32, 0);
    } else {
        sum = offload_csum_add(ip + 12, 8, 0);
    }
    sum += s->tcp ? IPPROTO_TCP_ : IPPROTO_UDP_;
    sum += l4_len & 0xffff;
    sum += l4_len >> 16;
    return sum;
}

bool
offload_seg_next(struct offload_seg *s, struct packet *out)
{
    uint32_t payload = s->len - s->hdr_len;
    uint32_t n, seg_len, l4_len, sum, shift = s->vlan ? 4 : 0;
    uint16_t csum;
    bool last;
    uint8_t *d, *ip, *l4;

    if (s->index >= offload_seg_count(s)) {
        return false;
    }
    n = MIN(s->mss, payload - s->pos);
    last = s->pos + n >= payload;
    seg_len = s->hdr_len + n;

    /* Grow the buffer (only if too small), then lay out the segment. */
    if ((uint64_t)PACKET_HEADROOM + seg_len > out->size) {
        packet_set_data(out, s->frame, seg_len);
    }
    packet_set_data(out, s->frame, s->hdr_len);
    if (shift) {
        offload_vlan_insert(out, s->vlan_tpid, s->vlan_tci);
    }
    d = packet_data(out);
    memcpy(d + s->hdr_len + shift, s->frame + s->hdr_len + s->pos, n);
    out->len = seg_len + shift;
    out->orig_len = (uint16_t)MIN(out->len, UINT16_MAX);

    /* From here on 'd' is the segment without the inserted tag. */
    d += shift;
    ip = d + s->l3_ofs;
    l4 = d + s->l4_ofs;
    l4_len = seg_len - s->l4_ofs;
    if (s->ipv6) {
        put16(ip + 4, (uint16_t)(seg_len - s->l3_ofs - 40));
    } else {
        uint16_t ip_csum;

        put16(ip + 2, (uint16_t)(seg_len - s->l3_ofs));
        put16(ip + 4, (uint16_t)(get16(ip + 4) + s->index));
        put16(ip + 10, 0);
        ip_csum = csum_fold(offload_csum_add(ip, (ip[0] & 0xfu) * 4, 0));
        put16(ip + 10, ip_csum);
    }
    if (s->tcp) {
        uint32_t seq = (uint32_t)get16(l4 + 4) << 16 | get16(l4 + 6);

        seq += s->pos;
        put16(l4 + 4, (uint16_t)(seq >> 16));
        put16(l4 + 6, (uint16_t)seq);
        if (!last) {
            l4[13] &= (uint8_t) ~(TCP_FLAG_FIN | TCP_FLAG_PSH);
        }
        if (s->index) {
            l4[13] &= (uint8_t)~TCP_FLAG_CWR;
        }
        put16(l4 + 16, 0);
    } else {
        put16(l4 + 4, (uint16_t)l4_len);
        put16(l4 + 6, 0);
    }
    sum = pseudo_sum(s, d, l4_len);
    csum = csum_fold(offload_csum_add(l4, l4_len, sum));
    if (!s->tcp && !csum) {
        csum = 0xffff; /* UDP: zero would mean "no checksum". */
    }
    put16(l4 + (s->tcp ? 16 : 6), csum);
    s->pos += n;
    s->index++;
    return true;
}

int
offload_csum_fix_partial(uint8_t *frame, uint32_t len)
{
    struct offload_seg s = {.frame = frame, .len = len};
    uint32_t l4_len, field, pseudo;
    uint16_t stored, partial;

    if (seg_parse(&s, true)) {
        return 0;
    }
    field = s.l4_ofs + (s.tcp ? 16 : 6);
    stored = get16(frame + field);
    if (!s.tcp && !stored && !s.ipv6) {
        return 0; /* UDP over IPv4 without a checksum. */
    }
    /* The IP length, not the frame length: Ethernet pads short frames. */
    if (s.ipv6) {
        l4_len = get16(frame + s.l3_ofs + 4) + 40 + s.l3_ofs;
    } else {
        l4_len = get16(frame + s.l3_ofs + 2) + s.l3_ofs;
    }
    if (l4_len > len || l4_len < s.hdr_len) {
        return 0;
    }
    l4_len -= s.l4_ofs;
    pseudo = pseudo_sum(&s, frame, l4_len);
    partial = (uint16_t)~csum_fold(pseudo);
    if (stored != partial ||
        !csum_fold(offload_csum_add(frame + s.l4_ofs, l4_len, pseudo))) {
        return 0;
    }
    offload_csum_complete(frame, s.l4_ofs + l4_len, s.l4_ofs, field - s.l4_ofs);
    return 1;
}
