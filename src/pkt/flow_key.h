/* The flow key: what the parser extracts from a packet and what flow tables
 * match on.
 *
 * Fixed size, 8-byte aligned and zero-padded, so exact-match hashing and
 * masked compares run word by word over FLOW_KEY_WORDS uint64_t words with no
 * per-field code.  Every multi-byte field is in network byte order, as on the
 * wire, so parsing is a copy and masks apply without swapping.
 *
 * Field names follow Open vSwitch, and OvS's overloading is kept so that the
 * same words serve several protocols:
 *   - ARP: nw_src/nw_dst hold arp_spa/arp_tpa, nw_proto holds the low byte of
 *     arp_op (as OvS does), arp_sha/arp_tha the hardware addresses.
 *   - ICMP and ICMPv6: tp_src holds the type, tp_dst the code.
 *   - vlan_tci holds the outer 802.1Q/802.1ad tag with VLAN_CFI set when a
 *     tag is present (so a zero vlan_tci means "no tag"), vlan_tci2 the inner
 *     one of a double-tagged frame.  dl_type is the type after the tags.
 *   - nw_tos is the whole IPv4 TOS / IPv6 traffic-class byte: DSCP in the
 *     upper six bits, ECN in the lower two.
 *   - nw_frag: FLOW_NW_FRAG_ANY for any fragment, plus FLOW_NW_FRAG_LATER for
 *     fragments other than the first (which carry no L4 header).
 */
#ifndef PKT_FLOW_KEY_H
#define PKT_FLOW_KEY_H 1

#include <stddef.h>
#include <stdint.h>

typedef uint16_t be16;
typedef uint32_t be32;
typedef uint64_t be64;

#define VLAN_CFI 0x1000
#define VLAN_VID_MASK 0x0fff
#define VLAN_PCP_MASK 0xe000
#define VLAN_PCP_SHIFT 13

#define FLOW_NW_FRAG_ANY 0x01
#define FLOW_NW_FRAG_LATER 0x02

struct flow_key {
    _Alignas(8) uint32_t in_port; /* Ingress port number (host order). */
    be16 dl_type;            /* Ethertype after VLAN tags. */
    be16 vlan_tci;           /* Outer tag: PCP | CFI (=present) | VID. */
    uint8_t dl_dst[6];       /* Ethernet destination. */
    uint8_t dl_src[6];       /* Ethernet source. */
    be16 vlan_tci2;          /* Inner tag of a double-tagged frame. */
    be16 tp_src;             /* TCP/UDP/SCTP source port; ICMP type. */
    be16 tp_dst;             /* TCP/UDP/SCTP dest port; ICMP code. */
    be16 tcp_flags;          /* TCP flags (low 12 bits). */
    be32 nw_src;             /* IPv4 source; ARP SPA. */
    be32 nw_dst;             /* IPv4 destination; ARP TPA. */
    uint8_t nw_proto;        /* IP protocol / IPv6 next header; ARP op. */
    uint8_t nw_tos;          /* DSCP (6 bits) and ECN (2 bits). */
    uint8_t nw_ttl;          /* IPv4 TTL / IPv6 hop limit. */
    uint8_t nw_frag;         /* FLOW_NW_FRAG_* bits. */
    be32 ipv6_label;         /* IPv6 flow label (low 20 bits). */
    uint8_t arp_sha[6];      /* ARP sender hardware address. */
    uint8_t arp_tha[6];      /* ARP target hardware address. */
    uint8_t ipv6_src[16];    /* IPv6 source. */
    uint8_t ipv6_dst[16];    /* IPv6 destination. */
};

#define FLOW_KEY_WORDS (sizeof(struct flow_key) / sizeof(uint64_t))
_Static_assert(sizeof(struct flow_key) == 88, "flow_key layout changed");
_Static_assert(sizeof(struct flow_key) % 8 == 0, "flow_key not word-sized");
_Static_assert(offsetof(struct flow_key, ipv6_src) % 8 == 0,
               "ipv6_src not word-aligned");

/* Parse-error reasons: why the parser stopped before the end of the headers.
 * One X-macro list so the enum, the counter names and their text never drift
 * apart.  PKT_ERR_NONE is a fully valid parse. */
#define PKT_PARSE_ERRORS(X)                                                \
    X(NONE, "none", "parsed completely")                                   \
    X(ETH_SHORT, "eth_short", "frame shorter than an Ethernet header")     \
    X(VLAN_SHORT, "vlan_short", "VLAN tag truncated")                      \
    X(VLAN_TOO_MANY, "vlan_too_many", "more than two VLAN tags")           \
    X(ARP_SHORT, "arp_short", "ARP header truncated")                      \
    X(ARP_BAD, "arp_bad", "ARP not Ethernet/IPv4")                         \
    X(IP4_SHORT, "ip4_short", "IPv4 header truncated")                     \
    X(IP4_BAD_VERSION, "ip4_bad_version", "IPv4 version field is not 4")   \
    X(IP4_BAD_IHL, "ip4_bad_ihl", "IPv4 IHL below 5")                      \
    X(IP4_OPTS_SHORT, "ip4_opts_short", "IPv4 options beyond the frame")   \
    X(IP4_BAD_LEN, "ip4_bad_len",                                          \
      "IPv4 total length below header length or beyond the frame")         \
    X(IP6_SHORT, "ip6_short", "IPv6 header truncated")                     \
    X(IP6_BAD_VERSION, "ip6_bad_version", "IPv6 version field is not 6")   \
    X(IP6_BAD_LEN, "ip6_bad_len", "IPv6 payload length beyond the frame")  \
    X(IP6_EXT_SHORT, "ip6_ext_short", "IPv6 extension header truncated")   \
    X(IP6_EXT_TOO_MANY, "ip6_ext_too_many",                                \
      "too many IPv6 extension headers")                                   \
    X(TCP_SHORT, "tcp_short", "TCP header truncated")                      \
    X(TCP_BAD_OFF, "tcp_bad_off",                                          \
      "TCP data offset below 5 or beyond the packet")                      \
    X(UDP_SHORT, "udp_short", "UDP header truncated")                      \
    X(SCTP_SHORT, "sctp_short", "SCTP header truncated")                   \
    X(ICMP_SHORT, "icmp_short", "ICMP header truncated")                   \
    X(ICMP6_SHORT, "icmp6_short", "ICMPv6 header truncated")

enum pkt_parse_err {
#define PKT_ERR_ENUM_(ENUM, NAME, TEXT) PKT_ERR_##ENUM,
    PKT_PARSE_ERRORS(PKT_ERR_ENUM_)
#undef PKT_ERR_ENUM_
    PKT_N_PARSE_ERRORS
};

/* Short counter name ("ip4_bad_ihl") and readable text of a reason. */
const char *pkt_parse_err_name(enum pkt_parse_err);
const char *pkt_parse_err_text(enum pkt_parse_err);

#endif
