/* The match-field table: every field a flow can match on or set_field can
 * write, described once as data.
 *
 * A field is a window into struct flow_key: 'ofs' and 'n_bytes' locate the
 * bytes that hold it, and for a sub-field (dl_vlan is the VID bits of
 * vlan_tci, ip_dscp the upper six bits of nw_tos, ...) 'bits' says which bits
 * of those bytes belong to it.  A field's value is always handled in
 * "storage form": exactly the 'n_bytes' bytes as they sit in the key (network
 * byte order for all but in_port, which the key keeps in host order), with
 * the field already shifted into place and bits outside 'bits' zero.  With
 * that one convention a match is a masked copy into the key, a set_field is
 * a masked copy into the packet, and printing converts back.
 *
 * Several names can share storage: tp_src, tcp_src, udp_src and sctp_src all
 * live in flow_key.tp_src but have different prerequisites, exactly as in
 * Open vSwitch, so they are separate entries.  The first name is the one the
 * formatter prints; 'alias' is a second accepted spelling (eth_src for
 * dl_src). */
#ifndef FLOW_FIELD_H
#define FLOW_FIELD_H 1

#include <stdbool.h>
#include <stdint.h>

#include "core/compiler.h"
#include "core/util.h"
#include "match.h"
#include "pkt/flow_key.h"
#include "pkt/packet.h"

#define MF_FIELDS(X)                                                           \
    X(IN_PORT, "in_port", NULL)                                                \
    X(DL_SRC, "dl_src", "eth_src")                                             \
    X(DL_DST, "dl_dst", "eth_dst")                                             \
    X(DL_TYPE, "dl_type", "eth_type")                                          \
    X(VLAN_TCI, "vlan_tci", NULL)                                              \
    X(DL_VLAN, "dl_vlan", NULL)                                                \
    X(VLAN_VID, "vlan_vid", NULL)                                              \
    X(DL_VLAN_PCP, "dl_vlan_pcp", "vlan_pcp")                                  \
    X(NW_SRC, "nw_src", "ip_src")                                              \
    X(NW_DST, "nw_dst", "ip_dst")                                              \
    X(NW_PROTO, "nw_proto", "ip_proto")                                        \
    X(NW_TOS, "nw_tos", NULL)                                                  \
    X(IP_DSCP, "ip_dscp", NULL)                                                \
    X(NW_ECN, "nw_ecn", "ip_ecn")                                              \
    X(NW_TTL, "nw_ttl", NULL)                                                  \
    X(NW_FRAG, "nw_frag", "ip_frag")                                           \
    X(TP_SRC, "tp_src", NULL)                                                  \
    X(TP_DST, "tp_dst", NULL)                                                  \
    X(TCP_SRC, "tcp_src", NULL)                                                \
    X(TCP_DST, "tcp_dst", NULL)                                                \
    X(UDP_SRC, "udp_src", NULL)                                                \
    X(UDP_DST, "udp_dst", NULL)                                                \
    X(SCTP_SRC, "sctp_src", NULL)                                              \
    X(SCTP_DST, "sctp_dst", NULL)                                              \
    X(TCP_FLAGS, "tcp_flags", NULL)                                            \
    X(ICMP_TYPE, "icmp_type", "icmpv4_type")                                   \
    X(ICMP_CODE, "icmp_code", "icmpv4_code")                                   \
    X(ICMPV6_TYPE, "icmpv6_type", NULL)                                        \
    X(ICMPV6_CODE, "icmpv6_code", NULL)                                        \
    X(ARP_OP, "arp_op", NULL)                                                  \
    X(ARP_SPA, "arp_spa", NULL)                                                \
    X(ARP_TPA, "arp_tpa", NULL)                                                \
    X(ARP_SHA, "arp_sha", NULL)                                                \
    X(ARP_THA, "arp_tha", NULL)                                                \
    X(IPV6_SRC, "ipv6_src", NULL)                                              \
    X(IPV6_DST, "ipv6_dst", NULL)                                              \
    X(IPV6_LABEL, "ipv6_label", NULL)

enum mf_field_id {
#define MF_ENUM_(ENUM, NAME, ALIAS) MFF_##ENUM,
    MF_FIELDS(MF_ENUM_)
#undef MF_ENUM_
        MFF_N_IDS
};

/* Which masks a field accepts in a match. */
enum mf_maskable {
    MF_MASK_NONE, /* Exact match or wildcard only. */
    MF_MASK_ANY,  /* Any bitwise mask ("V/M"). */
};

/* What a match must already say for a field to make sense (OvS's
 * prerequisites).  "ip" means dl_type is exactly 0x0800, and so on. */
enum mf_prereq {
    MFP_NONE,
    MFP_IP_ANY,    /* ip or ipv6. */
    MFP_IP_OR_ARP, /* ip or arp (nw_src, nw_dst). */
    MFP_IPV4,      /* ip. */
    MFP_IPV6,      /* ipv6. */
    MFP_ARP,       /* arp. */
    MFP_L4,        /* ip/ipv6 and tcp, udp or sctp. */
    MFP_TCP,       /* ip/ipv6 and tcp. */
    MFP_UDP,       /* ip/ipv6 and udp. */
    MFP_SCTP,      /* ip/ipv6 and sctp. */
    MFP_ICMP_ANY,  /* icmp (ip, proto 1) or icmp6 (ipv6, proto 58). */
    MFP_ICMPV4,    /* icmp. */
    MFP_ICMPV6,    /* icmp6. */
};

/* How a field's value is written in flow syntax. */
enum mf_format {
    MF_FMT_DEC,       /* Decimal (hex with 0x also accepted). */
    MF_FMT_HEX,       /* Printed in hex, decimal accepted. */
    MF_FMT_MAC,       /* xx:xx:xx:xx:xx:xx. */
    MF_FMT_IPV4,      /* Dotted quad; CIDR or dotted mask. */
    MF_FMT_IPV6,      /* RFC 4291 text; prefix or address mask. */
    MF_FMT_FRAG,      /* no, yes, first, later, not_later. */
    MF_FMT_TCP_FLAGS, /* 0xNNN[/0xNNN] or +syn-ack style. */
    MF_FMT_VLAN,      /* dl_vlan: 0..4095, 0xffff = no tag. */
};

struct mf_field {
    enum mf_field_id id;
    const char *name;  /* Canonical name (printed). */
    const char *alias; /* Other accepted name, or NULL. */
    uint16_t ofs;      /* Byte offset in struct flow_key. */
    uint8_t n_bytes;   /* Bytes of storage (1..16). */
    uint8_t n_bits;    /* Bits of the field's own value. */
    uint32_t bits;     /* For fields of up to 4 bytes: the bits of
                        * the storage (read as a big-endian number,
                        * host order for in_port) that belong to the
                        * field; all ones for wider fields. */
    uint8_t shift;     /* Position of the value's low bit in
                        * 'bits'. */
    enum mf_maskable maskable;
    enum mf_prereq prereq;     /* To match on it. */
    enum mf_prereq set_prereq; /* To write it (nw_src: ip only). */
    enum mf_format format;
    bool writable;        /* set_field may write it. */
    const char *mod_name; /* Legacy action writing it ("mod_nw_src"),
                           * or NULL. */
};

/* Field lookup.  mf_from_name() accepts the name or the alias and returns
 * NULL for an unknown name; mf_from_id() returns NULL for an out-of-range
 * id. */
const struct mf_field *mf_from_name(const char *name);
const struct mf_field *mf_from_name_len(const char *name, size_t len);
const struct mf_field *mf_from_id(int id);

/* Reads a field out of a key into storage form ('value' gets n_bytes). */
void mf_get(const struct mf_field *, const struct flow_key *, uint8_t *value);
/* Reads a field's mask out of a match's mask (storage form). */
void mf_get_mask(const struct mf_field *, const struct match *, uint8_t *mask);
/* Sets a field in a match: bits of 'mask' (storage form, NULL = exact) that
 * belong to the field replace what the match had there.  The match stays
 * normalised (key & mask == key). */
void mf_set_match(const struct mf_field *, const uint8_t *value,
                  const uint8_t *mask, struct match *);
/* True if the field's bits are all wildcarded in 'match'. */
bool mf_is_wild(const struct mf_field *, const struct match *);
/* True if 'match' satisfies the field's (match) prerequisites, or the
 * prerequisite 'p'. */
bool mf_prereqs_ok(const struct mf_field *, const struct match *);
bool mf_prereq_ok(enum mf_prereq p, const struct match *);
/* Readable statement of a prerequisite, e.g. "a transport protocol (tcp,
 * udp, sctp)", for "tp_dst needs ..." messages. */
const char *mf_prereq_text(enum mf_prereq);

/* Parses 'text' as a value of 'mf', storing storage form in 'value'.  If
 * 'mask' is nonnull a "/MASK" suffix (or a prefix length) is allowed where
 * the field is maskable and the resulting mask goes to 'mask' (all field
 * bits when no mask was given); if 'mask' is NULL masks are rejected.
 * Returns NULL or an allocated message naming the expected form. */
char *mf_parse(const struct mf_field *, const char *text, uint8_t *value,
               uint8_t *mask) WARN_UNUSED_RESULT;
/* Appends the value (and mask, if 'mask' is nonnull and not exact) in the
 * field's canonical form, without the name. */
void mf_format(const struct mf_field *, const uint8_t *value,
               const uint8_t *mask, struct ds *);

/* Applies set_field 'value' (storage form) to 'p' through the rewrite
 * functions of pkt.h, which keep the packet bytes, its key and the
 * checksums consistent.  Returns 0, or -EINVAL when the packet lacks the
 * header (nothing changes then) or the field is not writable. */
int mf_set_packet(const struct mf_field *, const uint8_t *value,
                  struct packet *);

#endif
