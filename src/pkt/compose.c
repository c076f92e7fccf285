/* Frame composition: the inverse of the parser, for `sluice trace` and for
 * tests.  pkt_compose() writes the shortest well-formed frame that carries
 * every field of a flow key the wire format can hold (Ethernet, up to two
 * tags, ARP / IPv4 / IPv6 with a fragment header when nw_frag says so,
 * TCP / UDP / SCTP / ICMP / ICMPv6), with every checksum correct, padded
 * to the Ethernet minimum.  Parsing the result gives back the key for all
 * such fields; the unit tests check that round trip. */
#include <endian.h>
#include <string.h>

#include "pkt.h"
#include "pkt_int.h"

/* Big enough for Ethernet, two tags, IPv6, a fragment header and TCP. */
#define COMPOSE_MAX 128

/* Sum of the IPv4 or IPv6 pseudo-header for 'l4_len' bytes of 'proto'. */
static uint32_t
pseudo_sum(const struct flow_key *k, bool ipv6, uint8_t proto, uint32_t l4_len)
{
    uint32_t sum;

    if (ipv6) {
        sum = csum_partial(k->ipv6_src, 16, 0);
        sum = csum_partial(k->ipv6_dst, 16, sum);
    } else {
        sum = csum_partial(&k->nw_src, 4, 0);
        sum = csum_partial(&k->nw_dst, 4, sum);
    }
    return sum + proto + l4_len;
}

/* Writes the L4 header for 'k' at 'l4'; returns its length, 0 for a
 * protocol without one. */
static uint32_t
compose_l4(uint8_t *l4, const struct flow_key *k, bool ipv6)
{
    uint32_t len;
    uint16_t csum;

    switch (k->nw_proto) {
    case IPPROTO_TCP_: {
        uint16_t flags = ntohs(k->tcp_flags) & TCP_FLAGS_MASK;

        len = TCP_HEADER_LEN;
        memset(l4, 0, len);
        put_be16(l4, k->tp_src);
        put_be16(l4 + 2, k->tp_dst);
        l4[12] = (uint8_t)(5 << 4 | flags >> 8);
        l4[13] = (uint8_t)flags;
        put_be16(l4 + 14, htons(0xffff));
        csum = csum_fold(
            csum_partial(l4, len, pseudo_sum(k, ipv6, k->nw_proto, len)));
        put_be16(l4 + 16, htons(csum));
        return len;
    }
    case IPPROTO_UDP_:
        len = UDP_HEADER_LEN;
        memset(l4, 0, len);
        put_be16(l4, k->tp_src);
        put_be16(l4 + 2, k->tp_dst);
        put_be16(l4 + 4, htons((uint16_t)len));
        csum = csum_fold(
            csum_partial(l4, len, pseudo_sum(k, ipv6, k->nw_proto, len)));
        put_be16(l4 + 6, htons(csum ? csum : 0xffff));
        return len;
    case IPPROTO_SCTP_:
        len = SCTP_HEADER_LEN;
        memset(l4, 0, len);
        put_be16(l4, k->tp_src);
        put_be16(l4 + 2, k->tp_dst);
        put_be32(l4 + 8, htole32(pkt_crc32c(l4, len)));
        return len;
    case IPPROTO_ICMP_:
    case IPPROTO_ICMPV6_:
        if ((k->nw_proto == IPPROTO_ICMPV6_) != ipv6) {
            return 0;
        }
        /* Both get 8 bytes: the 4-byte header plus the 4 bytes every
         * message type starts its body with (identifier, unused...). */
        len = ICMP_HEADER_LEN;
        memset(l4, 0, len);
        l4[0] = (uint8_t)ntohs(k->tp_src);
        l4[1] = (uint8_t)ntohs(k->tp_dst);
        csum = csum_fold(csum_partial(
            l4, len, ipv6 ? pseudo_sum(k, true, k->nw_proto, len) : 0));
        put_be16(l4 + 2, htons(csum));
        return len;
    default:
        return 0;
    }
}

static uint32_t
compose_ip4(uint8_t *ip, const struct flow_key *k)
{
    uint16_t frag_off = 0;
    uint32_t len = IP_HEADER_LEN;
    uint16_t csum;

    memset(ip, 0, IP_HEADER_LEN);
    ip[0] = 0x45;
    ip[1] = k->nw_tos;
    if (k->nw_frag & FLOW_NW_FRAG_LATER) {
        frag_off = 1; /* 8 bytes in: not the first fragment. */
    } else if (k->nw_frag & FLOW_NW_FRAG_ANY) {
        frag_off = IP_MF; /* The first of several fragments. */
    }
    put_be16(ip + 6, htons(frag_off));
    ip[8] = k->nw_ttl;
    ip[9] = k->nw_proto;
    put_be32(ip + 12, k->nw_src);
    put_be32(ip + 16, k->nw_dst);
    if (!(k->nw_frag & FLOW_NW_FRAG_LATER)) {
        len += compose_l4(ip + IP_HEADER_LEN, k, false);
    }
    put_be16(ip + 2, htons((uint16_t)len));
    csum = csum_fold(csum_partial(ip, IP_HEADER_LEN, 0));
    put_be16(ip + 10, htons(csum));
    return len;
}

static uint32_t
compose_ip6(uint8_t *ip6, const struct flow_key *k)
{
    uint32_t len = IPV6_HEADER_LEN;
    uint32_t vtf;

    vtf = 6u << 28 | (uint32_t)k->nw_tos << 20 |
          (ntohl(k->ipv6_label) & IPV6_LABEL_MASK);
    put_be32(ip6, htonl(vtf));
    ip6[6] = k->nw_proto;
    ip6[7] = k->nw_ttl;
    memcpy(ip6 + 8, k->ipv6_src, 16);
    memcpy(ip6 + 24, k->ipv6_dst, 16);
    if (k->nw_frag & (FLOW_NW_FRAG_ANY | FLOW_NW_FRAG_LATER)) {
        uint8_t *frag = ip6 + len;

        memset(frag, 0, IPV6_FRAG_HEADER_LEN);
        ip6[6] = IPPROTO_FRAGMENT_;
        frag[0] = k->nw_proto;
        /* Offset 1 (8 bytes) for a later fragment, else offset 0 with the
         * more-fragments bit. */
        frag[3] = k->nw_frag & FLOW_NW_FRAG_LATER ? 1 << 3 : 1;
        len += IPV6_FRAG_HEADER_LEN;
    }
    if (!(k->nw_frag & FLOW_NW_FRAG_LATER)) {
        len += compose_l4(ip6 + len, k, true);
    }
    put_be16(ip6 + 4, htons((uint16_t)(len - IPV6_HEADER_LEN)));
    return len;
}

static uint32_t
compose_arp(uint8_t *arp, const struct flow_key *k)
{
    put_be16(arp, htons(1));
    put_be16(arp + 2, htons(ETH_TYPE_IP));
    arp[4] = ETH_ADDR_LEN;
    arp[5] = 4;
    put_be16(arp + 6, htons(k->nw_proto));
    memcpy(arp + 8, k->arp_sha, ETH_ADDR_LEN);
    put_be32(arp + 14, k->nw_src);
    memcpy(arp + 18, k->arp_tha, ETH_ADDR_LEN);
    put_be32(arp + 24, k->nw_dst);
    return ARP_ETH_IP_LEN;
}

/* Writes the frame into 'p' (growing its buffer if needed), sets
 * p->in_port from the key and parses the result, so 'p' is ready for the
 * pipeline. */
void
pkt_compose(struct packet *p, const struct flow_key *k)
{
    uint8_t buf[COMPOSE_MAX];
    uint32_t n = 2 * ETH_ADDR_LEN;

    memset(buf, 0, sizeof buf);
    memcpy(buf, k->dl_dst, ETH_ADDR_LEN);
    memcpy(buf + ETH_ADDR_LEN, k->dl_src, ETH_ADDR_LEN);
    if (k->vlan_tci & htons(VLAN_CFI)) {
        /* Double tagging is conventionally 802.1ad outside 802.1Q. */
        bool qinq = k->vlan_tci2 & htons(VLAN_CFI);

        put_be16(buf + n, htons(qinq ? ETH_TYPE_VLAN_8021AD : ETH_TYPE_VLAN));
        put_be16(buf + n + 2, k->vlan_tci & htons((uint16_t)~VLAN_CFI));
        n += VLAN_HEADER_LEN;
        if (qinq) {
            put_be16(buf + n, htons(ETH_TYPE_VLAN));
            put_be16(buf + n + 2, k->vlan_tci2 & htons((uint16_t)~VLAN_CFI));
            n += VLAN_HEADER_LEN;
        }
    }
    put_be16(buf + n, k->dl_type);
    n += 2;

    switch (ntohs(k->dl_type)) {
    case ETH_TYPE_IP:
        n += compose_ip4(buf + n, k);
        break;
    case ETH_TYPE_IPV6:
        n += compose_ip6(buf + n, k);
        break;
    case ETH_TYPE_ARP:
        n += compose_arp(buf + n, k);
        break;
    default:
        break;
    }
    if (n < ETH_MIN_FRAME) {
        n = ETH_MIN_FRAME; /* The buffer is zeroed: zero padding. */
    }
    packet_set_data(p, buf, n);
    p->in_port = k->in_port;
    pkt_parse(p);
}
