/* Header rewrites: one field changes in the bytes and in the flow key
 * together, and every checksum covering it is patched incrementally
 * (RFC 1624) instead of recomputed, so a rewrite costs the same for a
 * 64-byte and a 9000-byte packet.
 *
 * Each setter first checks that the header it touches was found by
 * pkt_parse() (the offsets are set only for complete headers, see
 * parse.c) and still lies inside the frame; otherwise it returns -EINVAL
 * and changes nothing.  Checksum rules follow the protocols and Open
 * vSwitch: a UDP checksum of 0 means "none" and stays 0, a computed 0 is
 * sent as 0xffff; ICMP has no pseudo-header but ICMPv6 does; SCTP's CRC32c
 * is recomputed, preserving a checksum that was already wrong; an IPv6
 * destination change leaves the L4 checksum alone while a routing header
 * still has segments left, because the pseudo-header then holds the final
 * destination, not the current one. */
#include <endian.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "core/compiler.h"
#include "pkt.h"
#include "pkt_int.h"

static void
rehash(struct packet *p)
{
    p->hash = pkt_key_hash(&p->key);
}

/* Returns the header at 'ofs' if it is set and 'len' bytes fit in the
 * frame, else NULL. */
static uint8_t *
header_at(struct packet *p, uint16_t ofs, uint32_t len)
{
    if (ofs == PACKET_OFS_NONE || (uint32_t)ofs + len > p->len) {
        return NULL;
    }
    return packet_data(p) + ofs;
}

static uint8_t *
ip4_header(struct packet *p)
{
    return p->key.dl_type == htons(ETH_TYPE_IP)
               ? header_at(p, p->l3_ofs, IP_HEADER_LEN)
               : NULL;
}

static uint8_t *
ip6_header(struct packet *p)
{
    return p->key.dl_type == htons(ETH_TYPE_IPV6)
               ? header_at(p, p->l3_ofs, IPV6_HEADER_LEN)
               : NULL;
}

static uint8_t *
arp_header(struct packet *p)
{
    return p->key.dl_type == htons(ETH_TYPE_ARP)
               ? header_at(p, p->l3_ofs, ARP_ETH_IP_LEN)
               : NULL;
}

/* The TCP, UDP or ICMPv6 checksum field, i.e. a checksum that covers the
 * IP pseudo-header, or NULL. */
static uint8_t *
l4_pseudo_csum(struct packet *p)
{
    switch (p->key.nw_proto) {
    case IPPROTO_TCP_: {
        uint8_t *tcp = header_at(p, p->l4_ofs, TCP_HEADER_LEN);
        return tcp ? tcp + 16 : NULL;
    }
    case IPPROTO_UDP_: {
        uint8_t *udp = header_at(p, p->l4_ofs, UDP_HEADER_LEN);
        return udp ? udp + 6 : NULL;
    }
    case IPPROTO_ICMPV6_:
        if (p->key.dl_type == htons(ETH_TYPE_IPV6)) {
            uint8_t *icmp6 = header_at(p, p->l4_ofs, ICMP6_HEADER_LEN);
            return icmp6 ? icmp6 + 2 : NULL;
        }
        return NULL;
    default:
        return NULL;
    }
}

/* Stores 'csum' computed by an update into the L4 checksum field 'field',
 * or leaves a UDP "no checksum" 0 alone. */
static void
l4_csum_store(struct packet *p, uint8_t *field, uint16_t csum)
{
    if (p->key.nw_proto == IPPROTO_UDP_ && !csum) {
        csum = 0xffff;
    }
    put_be16(field, csum);
}

static bool
l4_csum_absent(const struct packet *p, const uint8_t *field)
{
    return p->key.nw_proto == IPPROTO_UDP_ && !get_be16(field);
}

/* Patches the pseudo-header checksum for a 32-bit word of an address
 * going from 'old' to 'new_'. */
static void
l4_csum_update32(struct packet *p, be32 old, be32 new_)
{
    uint8_t *field = l4_pseudo_csum(p);

    if (field && !l4_csum_absent(p, field)) {
        l4_csum_store(p, field, csum_update32(get_be16(field), old, new_));
    }
}

int
pkt_set_dl_src(struct packet *p, const uint8_t mac[6])
{
    uint8_t *eth = header_at(p, 0, ETH_HEADER_LEN);

    if (!eth) {
        return -EINVAL;
    }
    memcpy(eth + ETH_ADDR_LEN, mac, ETH_ADDR_LEN);
    memcpy(p->key.dl_src, mac, ETH_ADDR_LEN);
    rehash(p);
    return 0;
}

int
pkt_set_dl_dst(struct packet *p, const uint8_t mac[6])
{
    uint8_t *eth = header_at(p, 0, ETH_HEADER_LEN);

    if (!eth) {
        return -EINVAL;
    }
    memcpy(eth, mac, ETH_ADDR_LEN);
    memcpy(p->key.dl_dst, mac, ETH_ADDR_LEN);
    rehash(p);
    return 0;
}

/* Sets the IPv4 address at byte 'ofs' of the header (12 or 16). */
static int
set_ip4_addr(struct packet *p, unsigned int ofs, be32 addr, be32 *key_field)
{
    uint8_t *ip = ip4_header(p);
    be32 old;

    if (!ip) {
        return -EINVAL;
    }
    old = get_be32(ip + ofs);
    put_be32(ip + ofs, addr);
    put_be16(ip + 10, csum_update32(get_be16(ip + 10), old, addr));
    l4_csum_update32(p, old, addr);
    *key_field = addr;
    rehash(p);
    return 0;
}

int
pkt_set_nw_src(struct packet *p, be32 addr)
{
    return set_ip4_addr(p, 12, addr, &p->key.nw_src);
}

int
pkt_set_nw_dst(struct packet *p, be32 addr)
{
    return set_ip4_addr(p, 16, addr, &p->key.nw_dst);
}

/* Whether a routing header of the IPv6 packet at 'ip6' still has segments
 * to visit. */
static bool
ip6_rh_active(const struct packet *p, const uint8_t *ip6)
{
    uint32_t size = IPV6_HEADER_LEN + get_u16(ip6 + 4);
    struct ip6_chain chain;

    size = MIN(size, p->len - p->l3_ofs);
    pkt_ip6_walk(ip6, size, &chain);
    return chain.rh_active;
}

static int
set_ip6_addr(struct packet *p, unsigned int ofs, const uint8_t addr[16],
             uint8_t *key_field)
{
    uint8_t *ip6 = ip6_header(p);
    bool update_l4;

    if (!ip6) {
        return -EINVAL;
    }
    update_l4 = ofs == 8 || !ip6_rh_active(p, ip6);
    for (unsigned int i = 0; i < 16; i += 4) {
        be32 old = get_be32(ip6 + ofs + i);
        be32 new_ = get_be32(addr + i);

        put_be32(ip6 + ofs + i, new_);
        if (update_l4) {
            l4_csum_update32(p, old, new_);
        }
    }
    memcpy(key_field, addr, 16);
    rehash(p);
    return 0;
}

int
pkt_set_ipv6_src(struct packet *p, const uint8_t addr[16])
{
    return set_ip6_addr(p, 8, addr, p->key.ipv6_src);
}

int
pkt_set_ipv6_dst(struct packet *p, const uint8_t addr[16])
{
    return set_ip6_addr(p, 24, addr, p->key.ipv6_dst);
}

/* Rewrites the 16-bit word at 'word' of an IPv4 header 'ip' and patches
 * the header checksum. */
static void
ip4_set_word(uint8_t *ip, uint8_t *word, be16 new_)
{
    be16 old = get_be16(word);

    put_be16(word, new_);
    put_be16(ip + 10, csum_update16(get_be16(ip + 10), old, new_));
}

int
pkt_set_nw_tos(struct packet *p, uint8_t tos)
{
    uint8_t *ip = ip4_header(p);

    if (ip) {
        ip4_set_word(ip, ip, htons((uint16_t)(ip[0] << 8 | tos)));
    } else if ((ip = ip6_header(p)) != NULL) {
        /* Version (4 bits), traffic class (8), flow label (20). */
        ip[0] = (uint8_t)((ip[0] & 0xf0) | tos >> 4);
        ip[1] = (uint8_t)((ip[1] & 0x0f) | (tos & 0x0f) << 4);
    } else {
        return -EINVAL;
    }
    p->key.nw_tos = tos;
    rehash(p);
    return 0;
}

int
pkt_set_nw_ttl(struct packet *p, uint8_t ttl)
{
    uint8_t *ip = ip4_header(p);

    if (ip) {
        ip4_set_word(ip, ip + 8, htons((uint16_t)(ttl << 8 | ip[9])));
    } else if ((ip = ip6_header(p)) != NULL) {
        ip[7] = ttl;
    } else {
        return -EINVAL;
    }
    p->key.nw_ttl = ttl;
    rehash(p);
    return 0;
}

int
pkt_dec_ttl(struct packet *p)
{
    uint8_t *ip = ip4_header(p);
    uint8_t ttl;

    if (ip) {
        ttl = ip[8];
    } else if ((ip = ip6_header(p)) != NULL) {
        ttl = ip[7];
    } else {
        return -EINVAL;
    }
    if (ttl <= 1) {
        return 1;
    }
    return pkt_set_nw_ttl(p, (uint8_t)(ttl - 1));
}

/* Sets the TCP/UDP/SCTP port at byte 'ofs' (0 or 2) of the L4 header. */
static int
set_tp_port(struct packet *p, unsigned int ofs, be16 port, be16 *key_field)
{
    uint8_t *l4;
    be16 old;

    switch (p->key.nw_proto) {
    case IPPROTO_TCP_:
        l4 = header_at(p, p->l4_ofs, TCP_HEADER_LEN);
        if (!l4) {
            return -EINVAL;
        }
        old = get_be16(l4 + ofs);
        put_be16(l4 + ofs, port);
        put_be16(l4 + 16, csum_update16(get_be16(l4 + 16), old, port));
        break;
    case IPPROTO_UDP_:
        l4 = header_at(p, p->l4_ofs, UDP_HEADER_LEN);
        if (!l4) {
            return -EINVAL;
        }
        old = get_be16(l4 + ofs);
        put_be16(l4 + ofs, port);
        if (!l4_csum_absent(p, l4 + 6)) {
            l4_csum_store(p, l4 + 6,
                          csum_update16(get_be16(l4 + 6), old, port));
        }
        break;
    case IPPROTO_SCTP_: {
        uint32_t len, stored, old_good, new_good;

        l4 = header_at(p, p->l4_ofs, SCTP_HEADER_LEN);
        if (!l4) {
            return -EINVAL;
        }
        /* CRC32c has no incremental form worth having: recompute, but
         * carry over any error the old checksum had (as OvS does). */
        len = pkt_l4_size(p);
        stored = get_be32(l4 + 8);
        put_be32(l4 + 8, 0);
        old_good = htole32(pkt_crc32c(l4, len));
        put_be16(l4 + ofs, port);
        new_good = htole32(pkt_crc32c(l4, len));
        put_be32(l4 + 8, stored ^ old_good ^ new_good);
        break;
    }
    default:
        return -EINVAL;
    }
    *key_field = port;
    rehash(p);
    return 0;
}

int
pkt_set_tp_src(struct packet *p, be16 port)
{
    return set_tp_port(p, 0, port, &p->key.tp_src);
}

int
pkt_set_tp_dst(struct packet *p, be16 port)
{
    return set_tp_port(p, 2, port, &p->key.tp_dst);
}

/* Fixes the offsets after 'delta' bytes (+4 or -4) were inserted or removed
 * in front of L3. */
static void
shift_offsets(struct packet *p, int delta)
{
    uint16_t *ofs[] = {&p->l3_ofs, &p->l4_ofs, &p->l7_ofs};

    for (size_t i = 0; i < sizeof ofs / sizeof ofs[0]; i++) {
        if (*ofs[i] != PACKET_OFS_NONE) {
            *ofs[i] = (uint16_t)(*ofs[i] + delta);
        }
    }
}

/* Whether the parse stopped inside the tag stack: a push or pop then
 * changes what the parser would find beyond it, so the packet is
 * re-parsed instead of patched. */
static bool
parse_stopped_in_tags(const struct packet *p)
{
    return p->parse_err == PKT_ERR_VLAN_SHORT ||
           p->parse_err == PKT_ERR_VLAN_TOO_MANY;
}

int
pkt_push_vlan(struct packet *p, be16 tpid, be16 tci)
{
    uint8_t *eth;

    if (tpid != htons(ETH_TYPE_VLAN) && tpid != htons(ETH_TYPE_VLAN_8021AD)) {
        return -EINVAL;
    }
    if (!header_at(p, 0, ETH_HEADER_LEN)) {
        return -EINVAL;
    }
    eth = packet_push(p, VLAN_HEADER_LEN);
    if (!eth) {
        return -ENOSPC;
    }
    memmove(eth, eth + VLAN_HEADER_LEN, 2 * ETH_ADDR_LEN);
    put_be16(eth + 12, tpid);
    put_be16(eth + 14, tci & htons((uint16_t)~VLAN_CFI));

    if (p->n_vlans == 2 || parse_stopped_in_tags(p)) {
        pkt_parse(p);
        return 0;
    }
    shift_offsets(p, VLAN_HEADER_LEN);
    p->vlan_ofs = 2 * ETH_ADDR_LEN;
    p->n_vlans++;
    p->key.vlan_tci2 = p->key.vlan_tci;
    p->key.vlan_tci = tci | htons(VLAN_CFI);
    rehash(p);
    return 0;
}

int
pkt_pop_vlan(struct packet *p)
{
    uint8_t *eth;

    if (!p->n_vlans || !header_at(p, 0, ETH_HEADER_LEN + VLAN_HEADER_LEN)) {
        return -EINVAL;
    }
    eth = packet_data(p);
    memmove(eth + VLAN_HEADER_LEN, eth, 2 * ETH_ADDR_LEN);
    packet_pull(p, VLAN_HEADER_LEN);

    if (parse_stopped_in_tags(p)) {
        pkt_parse(p);
        return 0;
    }
    shift_offsets(p, -VLAN_HEADER_LEN);
    p->n_vlans--;
    p->vlan_ofs = p->n_vlans ? 2 * ETH_ADDR_LEN : PACKET_OFS_NONE;
    p->key.vlan_tci = p->key.vlan_tci2;
    p->key.vlan_tci2 = 0;
    rehash(p);
    return 0;
}

/* Replaces the bits 'mask' of the outer TCI with 'bits', pushing an 802.1Q
 * tag first if the frame has none. */
static int
set_outer_tci(struct packet *p, uint16_t mask, uint16_t bits)
{
    uint8_t *tag;
    uint16_t tci;

    if (!p->n_vlans) {
        return pkt_push_vlan(p, htons(ETH_TYPE_VLAN), htons(bits));
    }
    tag = header_at(p, p->vlan_ofs, VLAN_HEADER_LEN);
    if (!tag) {
        return -EINVAL;
    }
    tci = (uint16_t)((get_u16(tag + 2) & ~mask) | bits);
    put_be16(tag + 2, htons(tci));
    p->key.vlan_tci = htons(tci | VLAN_CFI);
    rehash(p);
    return 0;
}

int
pkt_set_vlan_vid(struct packet *p, uint16_t vid)
{
    return set_outer_tci(p, VLAN_VID_MASK, vid & VLAN_VID_MASK);
}

int
pkt_set_vlan_pcp(struct packet *p, uint8_t pcp)
{
    return set_outer_tci(p, VLAN_PCP_MASK,
                         (uint16_t)((pcp & 7) << VLAN_PCP_SHIFT));
}

int
pkt_set_arp_op(struct packet *p, uint16_t op)
{
    uint8_t *arp = arp_header(p);

    if (!arp) {
        return -EINVAL;
    }
    put_be16(arp + 6, htons(op));
    p->key.nw_proto = op <= 0xff ? (uint8_t)op : 0;
    rehash(p);
    return 0;
}

static int
set_arp_field(struct packet *p, unsigned int ofs, const void *value, size_t len,
              void *key_field)
{
    uint8_t *arp = arp_header(p);

    if (!arp) {
        return -EINVAL;
    }
    memcpy(arp + ofs, value, len);
    memcpy(key_field, value, len);
    rehash(p);
    return 0;
}

int
pkt_set_arp_spa(struct packet *p, be32 addr)
{
    return set_arp_field(p, 14, &addr, 4, &p->key.nw_src);
}

int
pkt_set_arp_tpa(struct packet *p, be32 addr)
{
    return set_arp_field(p, 24, &addr, 4, &p->key.nw_dst);
}

int
pkt_set_arp_sha(struct packet *p, const uint8_t mac[6])
{
    return set_arp_field(p, 8, mac, ETH_ADDR_LEN, p->key.arp_sha);
}

int
pkt_set_arp_tha(struct packet *p, const uint8_t mac[6])
{
    return set_arp_field(p, 18, mac, ETH_ADDR_LEN, p->key.arp_tha);
}

/* Whether the ICMPv4 message at 'icmp' is all zero apart from its
 * checksum.  RFC 1624's update cannot tell one's-complement +0 from -0: it
 * yields 0x0000 where the message sums to +0, and that happens only for an
 * all-zero message, whose right checksum is 0xffff.  (ICMPv6, TCP and UDP
 * cover a pseudo-header with a non-zero protocol, so they never sum to +0.)
 * Called only when the update gave 0, so the scan is off the common path. */
static bool
icmp_all_zero(const struct packet *p, const uint8_t *icmp)
{
    uint32_t len = pkt_l4_size(p);

    if (p->key.nw_proto != IPPROTO_ICMP_) {
        return false;
    }
    for (uint32_t i = 0; i < len; i++) {
        if (icmp[i] && i != 2 && i != 3) {
            return false;
        }
    }
    return true;
}

/* Sets byte 'ofs' (0 = type, 1 = code) of an ICMP or ICMPv6 header. */
static int
set_icmp_byte(struct packet *p, unsigned int ofs, uint8_t value,
              be16 *key_field)
{
    uint8_t *icmp = NULL;
    uint16_t csum;
    be16 old;

    if (p->key.nw_proto == IPPROTO_ICMP_ && ip4_header(p)) {
        icmp = header_at(p, p->l4_ofs, ICMP_HEADER_LEN);
    } else if (p->key.nw_proto == IPPROTO_ICMPV6_ && ip6_header(p)) {
        icmp = header_at(p, p->l4_ofs, ICMP6_HEADER_LEN);
    }
    if (!icmp) {
        return -EINVAL;
    }
    old = get_be16(icmp);
    icmp[ofs] = value;
    csum = csum_update16(get_be16(icmp + 2), old, get_be16(icmp));
    if (!csum && icmp_all_zero(p, icmp)) {
        csum = 0xffff;
    }
    put_be16(icmp + 2, csum);
    *key_field = htons(value);
    rehash(p);
    return 0;
}

int
pkt_set_icmp_type(struct packet *p, uint8_t type)
{
    return set_icmp_byte(p, 0, type, &p->key.tp_src);
}

int
pkt_set_icmp_code(struct packet *p, uint8_t code)
{
    return set_icmp_byte(p, 1, code, &p->key.tp_dst);
}

int
pkt_set_ipv6_label(struct packet *p, uint32_t label)
{
    uint8_t *ip6 = ip6_header(p);
    be32 word;

    if (!ip6) {
        return -EINVAL;
    }
    label &= IPV6_LABEL_MASK;
    word = get_be32(ip6) & htonl(~(uint32_t)IPV6_LABEL_MASK);
    put_be32(ip6, word | htonl(label));
    p->key.ipv6_label = htonl(label);
    rehash(p);
    return 0;
}
