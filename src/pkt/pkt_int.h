/* Private helpers shared by the pkt module's files: protocol numbers,
 * header sizes and unaligned big-endian accessors.  Not for other modules;
 * they use pkt.h and packet.h. */
#ifndef PKT_PKT_INT_H
#define PKT_PKT_INT_H 1

#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>

#include "flow_key.h"
#include "packet.h"

#define ETH_ADDR_LEN 6
#define ETH_HEADER_LEN 14
#define ETH_MIN_FRAME 60     /* Shortest frame without FCS, bytes. */
#define VLAN_HEADER_LEN 4    /* TCI plus the next type, bytes. */
#define ETH_TYPE_MIN 0x0600  /* Smaller values are 802.3 lengths. */
#define ETH_TYPE_NONE 0x05ff /* OvS's dl_type for 802.3/LLC frames. */
#define ETH_TYPE_IP 0x0800
#define ETH_TYPE_ARP 0x0806
#define ETH_TYPE_VLAN 0x8100
#define ETH_TYPE_VLAN_8021AD 0x88a8
#define ETH_TYPE_IPV6 0x86dd

#define ARP_ETH_IP_LEN 28 /* ARP for Ethernet/IPv4, bytes. */
#define IP_HEADER_LEN 20
#define IP_MF 0x2000            /* More-fragments flag (host order). */
#define IP_FRAG_OFF_MASK 0x1fff /* Offset in 8-byte units (host order). */
#define IPV6_HEADER_LEN 40
#define IPV6_FRAG_HEADER_LEN 8
#define IPV6_MAX_EXT_HDRS 8 /* Extension headers walked at most. */
#define IPV6_LABEL_MASK 0x000fffff

#define IPPROTO_HOPOPTS_ 0
#define IPPROTO_ICMP_ 1
#define IPPROTO_TCP_ 6
#define IPPROTO_UDP_ 17
#define IPPROTO_ROUTING_ 43
#define IPPROTO_FRAGMENT_ 44
#define IPPROTO_AH_ 51
#define IPPROTO_ICMPV6_ 58
#define IPPROTO_DSTOPTS_ 60
#define IPPROTO_SCTP_ 132

#define TCP_HEADER_LEN 20
#define UDP_HEADER_LEN 8
#define SCTP_HEADER_LEN 12
#define ICMP_HEADER_LEN 8  /* Type, code, checksum, 4 more (OvS). */
#define ICMP6_HEADER_LEN 4 /* Type, code, checksum. */
#define TCP_FLAGS_MASK 0x0fff

static inline uint16_t
get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static inline be16
get_be16(const uint8_t *p)
{
    be16 v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline be32
get_be32(const uint8_t *p)
{
    be32 v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void
put_be16(uint8_t *p, be16 v)
{
    memcpy(p, &v, sizeof v);
}

static inline void
put_be32(uint8_t *p, be32 v)
{
    memcpy(p, &v, sizeof v);
}

/* CRC32c of 'len' bytes (final XOR applied), as SCTP stores it when
 * written in little-endian byte order. */
uint32_t pkt_crc32c(const void *data, size_t len);

/* Result of walking an IPv6 header chain. */
struct ip6_chain {
    uint32_t l4_ofs;   /* Offset of the upper-layer header, from L3. */
    uint8_t proto;     /* Next-header value of the upper layer. */
    uint8_t frag;      /* FLOW_NW_FRAG_* bits. */
    uint8_t rh_active; /* A routing header with segments left > 0. */
};

/* Walks the extension headers of the IPv6 packet whose 'size' bytes
 * (header included, payload length already applied) start at 'ip6'.
 * Returns PKT_ERR_NONE or the reason the walk stopped; 'chain' holds what
 * was found up to there. */
enum pkt_parse_err pkt_ip6_walk(const uint8_t *ip6, uint32_t size,
                                struct ip6_chain *chain);

/* Bytes of L3 payload the IPv4/IPv6 header at 'p''s l3_ofs declares,
 * counted from l4_ofs; valid only when l4_ofs is set. */
uint32_t pkt_l4_size(const struct packet *p);

/* pkt_parse() without its fast path for the common frame: the reference
 * the fast path is tested against (test_pkt, fuzz_parse). */
void pkt_parse_general(struct packet *p);

#endif
