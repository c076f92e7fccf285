/* The match-field table and the per-field value code (see field.h).
 *
 * Everything here works on "storage form": the bytes of the field as they
 * sit in struct flow_key.  Fields of up to four bytes are converted to a
 * host-order integer ("raw") to apply 'bits' and 'shift'; wider fields (MAC
 * and IPv6 addresses) are plain byte strings with every bit significant. */
#include "field.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pkt/pkt.h"

#define FK_OFS(MEMBER) offsetof(struct flow_key, MEMBER)
#define FK_SIZE(MEMBER) sizeof(((struct flow_key *)0)->MEMBER)

/* One table row.  NAME/ALIAS come from MF_FIELDS so names live in one
 * place. */
#define F_(ID, MEMBER, NBITS, BITS, SHIFT, MASKABLE, PREREQ, SETPRE, FMT, WR,  \
           MOD)                                                                \
    [MFF_##ID] = {MFF_##ID,                                                    \
                  NULL,                                                        \
                  NULL,                                                        \
                  FK_OFS(MEMBER),                                              \
                  FK_SIZE(MEMBER),                                             \
                  NBITS,                                                       \
                  BITS,                                                        \
                  SHIFT,                                                       \
                  MF_MASK_##MASKABLE,                                          \
                  MFP_##PREREQ,                                                \
                  MFP_##SETPRE,                                                \
                  MF_FMT_##FMT,                                                \
                  WR,                                                          \
                  MOD}

static struct mf_field mf_table[MFF_N_IDS] = {
    F_(IN_PORT, in_port, 32, 0xffffffff, 0, NONE, NONE, NONE, DEC, false, NULL),
    F_(DL_SRC, dl_src, 48, 0xffffffff, 0, ANY, NONE, NONE, MAC, true,
       "mod_dl_src"),
    F_(DL_DST, dl_dst, 48, 0xffffffff, 0, ANY, NONE, NONE, MAC, true,
       "mod_dl_dst"),
    F_(DL_TYPE, dl_type, 16, 0xffff, 0, NONE, NONE, NONE, HEX, false, NULL),
    F_(VLAN_TCI, vlan_tci, 16, 0xffff, 0, ANY, NONE, NONE, HEX, true, NULL),
    F_(DL_VLAN, vlan_tci, 12, VLAN_VID_MASK, 0, NONE, NONE, NONE, VLAN, true,
       "mod_vlan_vid"),
    /* OpenFlow 1.2+'s vlan_vid: the VID plus OFPVID_PRESENT (0x1000), which
     * is where VLAN_CFI sits, so "vlan_vid=0x1005" is a tagged VID 5 and
     * "vlan_vid=0" an untagged packet. */
    F_(VLAN_VID, vlan_tci, 13, VLAN_CFI | VLAN_VID_MASK, 0, ANY, NONE, NONE,
       DEC, true, NULL),
    F_(DL_VLAN_PCP, vlan_tci, 3, VLAN_PCP_MASK, VLAN_PCP_SHIFT, NONE, NONE,
       NONE, DEC, true, "mod_vlan_pcp"),
    F_(NW_SRC, nw_src, 32, 0xffffffff, 0, ANY, IP_OR_ARP, IPV4, IPV4, true,
       "mod_nw_src"),
    F_(NW_DST, nw_dst, 32, 0xffffffff, 0, ANY, IP_OR_ARP, IPV4, IPV4, true,
       "mod_nw_dst"),
    F_(NW_PROTO, nw_proto, 8, 0xff, 0, NONE, IP_ANY, IP_ANY, DEC, false, NULL),
    F_(NW_TOS, nw_tos, 8, 0xfc, 0, NONE, IP_ANY, IP_ANY, DEC, true,
       "mod_nw_tos"),
    F_(IP_DSCP, nw_tos, 6, 0xfc, 2, NONE, IP_ANY, IP_ANY, DEC, true, NULL),
    F_(NW_ECN, nw_tos, 2, 0x03, 0, NONE, IP_ANY, IP_ANY, DEC, true, NULL),
    F_(NW_TTL, nw_ttl, 8, 0xff, 0, NONE, IP_ANY, IP_ANY, DEC, true, NULL),
    F_(NW_FRAG, nw_frag, 2, 0x03, 0, ANY, IP_ANY, IP_ANY, FRAG, false, NULL),
    F_(TP_SRC, tp_src, 16, 0xffff, 0, ANY, L4, L4, DEC, true, "mod_tp_src"),
    F_(TP_DST, tp_dst, 16, 0xffff, 0, ANY, L4, L4, DEC, true, "mod_tp_dst"),
    F_(TCP_SRC, tp_src, 16, 0xffff, 0, ANY, TCP, TCP, DEC, true, NULL),
    F_(TCP_DST, tp_dst, 16, 0xffff, 0, ANY, TCP, TCP, DEC, true, NULL),
    F_(UDP_SRC, tp_src, 16, 0xffff, 0, ANY, UDP, UDP, DEC, true, NULL),
    F_(UDP_DST, tp_dst, 16, 0xffff, 0, ANY, UDP, UDP, DEC, true, NULL),
    F_(SCTP_SRC, tp_src, 16, 0xffff, 0, ANY, SCTP, SCTP, DEC, true, NULL),
    F_(SCTP_DST, tp_dst, 16, 0xffff, 0, ANY, SCTP, SCTP, DEC, true, NULL),
    F_(TCP_FLAGS, tcp_flags, 12, 0x0fff, 0, ANY, TCP, TCP, TCP_FLAGS, false,
       NULL),
    F_(ICMP_TYPE, tp_src, 8, 0x00ff, 0, NONE, ICMP_ANY, ICMP_ANY, DEC, true,
       NULL),
    F_(ICMP_CODE, tp_dst, 8, 0x00ff, 0, NONE, ICMP_ANY, ICMP_ANY, DEC, true,
       NULL),
    F_(ICMPV6_TYPE, tp_src, 8, 0x00ff, 0, NONE, ICMPV6, ICMPV6, DEC, true,
       NULL),
    F_(ICMPV6_CODE, tp_dst, 8, 0x00ff, 0, NONE, ICMPV6, ICMPV6, DEC, true,
       NULL),
    F_(ARP_OP, nw_proto, 8, 0xff, 0, NONE, ARP, ARP, DEC, true, NULL),
    F_(ARP_SPA, nw_src, 32, 0xffffffff, 0, ANY, ARP, ARP, IPV4, true, NULL),
    F_(ARP_TPA, nw_dst, 32, 0xffffffff, 0, ANY, ARP, ARP, IPV4, true, NULL),
    F_(ARP_SHA, arp_sha, 48, 0xffffffff, 0, ANY, ARP, ARP, MAC, true, NULL),
    F_(ARP_THA, arp_tha, 48, 0xffffffff, 0, ANY, ARP, ARP, MAC, true, NULL),
    F_(IPV6_SRC, ipv6_src, 128, 0xffffffff, 0, ANY, IPV6, IPV6, IPV6, true,
       NULL),
    F_(IPV6_DST, ipv6_dst, 128, 0xffffffff, 0, ANY, IPV6, IPV6, IPV6, true,
       NULL),
    F_(IPV6_LABEL, ipv6_label, 20, 0x000fffff, 0, ANY, IPV6, IPV6, HEX, true,
       NULL),
};

static const char *const mf_names[MFF_N_IDS][2] = {
#define MF_NAME_(ENUM, NAME, ALIAS) [MFF_##ENUM] = {NAME, ALIAS},
    MF_FIELDS(MF_NAME_)
#undef MF_NAME_
};

/* Fills in the names from MF_FIELDS (so they are written once) before
 * main(), which keeps lookups free of locks; the table is otherwise
 * constant. */
__attribute__((constructor)) static void
mf_init(void)
{
    for (size_t i = 0; i < MFF_N_IDS; i++) {
        mf_table[i].name = mf_names[i][0];
        mf_table[i].alias = mf_names[i][1];
    }
}

const struct mf_field *
mf_from_id(int id)
{
    return id >= 0 && id < MFF_N_IDS ? &mf_table[id] : NULL;
}

const struct mf_field *
mf_from_name_len(const char *name, size_t len)
{
    for (size_t i = 0; i < MFF_N_IDS; i++) {
        const struct mf_field *mf = &mf_table[i];

        if ((strlen(mf->name) == len && !strncmp(mf->name, name, len)) ||
            (mf->alias && strlen(mf->alias) == len &&
             !strncmp(mf->alias, name, len))) {
            return mf;
        }
    }
    return NULL;
}

const struct mf_field *
mf_from_name(const char *name)
{
    return mf_from_name_len(name, strlen(name));
}

/* Storage bytes <-> host-order integer, for fields of up to four bytes.
 * in_port is the one field the key keeps in host order. */
static uint32_t
mf_raw_get(const struct mf_field *mf, const uint8_t *p)
{
    uint32_t v = 0;

    if (mf->id == MFF_IN_PORT) {
        memcpy(&v, p, 4);
        return v;
    }
    for (size_t i = 0; i < mf->n_bytes; i++) {
        v = (v << 8) | p[i];
    }
    return v;
}

static void
mf_raw_put(const struct mf_field *mf, uint32_t v, uint8_t *p)
{
    if (mf->id == MFF_IN_PORT) {
        memcpy(p, &v, 4);
        return;
    }
    for (size_t i = mf->n_bytes; i-- > 0;) {
        p[i] = v & 0xff;
        v >>= 8;
    }
}

static bool
mf_is_wide(const struct mf_field *mf)
{
    return mf->n_bytes > 4;
}

/* The field's bits in storage form ('out' gets n_bytes). */
static void
mf_bits(const struct mf_field *mf, uint8_t *out)
{
    if (mf_is_wide(mf)) {
        memset(out, 0xff, mf->n_bytes);
    } else {
        mf_raw_put(mf, mf->bits, out);
    }
}

void
mf_get(const struct mf_field *mf, const struct flow_key *key, uint8_t *value)
{
    const uint8_t *src = (const uint8_t *)key + mf->ofs;
    uint8_t bits[16];

    mf_bits(mf, bits);
    for (size_t i = 0; i < mf->n_bytes; i++) {
        value[i] = src[i] & bits[i];
    }
}

void
mf_get_mask(const struct mf_field *mf, const struct match *m, uint8_t *mask)
{
    mf_get(mf, &m->mask, mask);
}

/* dl_vlan and dl_vlan_pcp match only tagged packets: setting either also
 * requires the VLAN_CFI ("tag present") bit, as OvS does. */
static bool
mf_implies_cfi(const struct mf_field *mf)
{
    return mf->id == MFF_DL_VLAN || mf->id == MFF_DL_VLAN_PCP;
}

void
mf_set_match(const struct mf_field *mf, const uint8_t *value,
             const uint8_t *mask, struct match *m)
{
    uint8_t *k = (uint8_t *)&m->key + mf->ofs;
    uint8_t *w = (uint8_t *)&m->mask + mf->ofs;
    uint8_t bits[16];

    mf_bits(mf, bits);
    for (size_t i = 0; i < mf->n_bytes; i++) {
        uint8_t mk = (mask ? mask[i] : 0xff) & bits[i];

        w[i] = (w[i] & ~bits[i]) | mk;
        k[i] = (k[i] & ~bits[i]) | (value[i] & mk);
    }
    if (mf_implies_cfi(mf)) {
        m->key.vlan_tci |= htons(VLAN_CFI);
        m->mask.vlan_tci |= htons(VLAN_CFI);
    }
}

bool
mf_is_wild(const struct mf_field *mf, const struct match *m)
{
    uint8_t mask[16];

    mf_get_mask(mf, m, mask);
    for (size_t i = 0; i < mf->n_bytes; i++) {
        if (mask[i]) {
            return false;
        }
    }
    return true;
}

static bool
match_dl_type_is(const struct match *m, uint16_t type)
{
    return m->mask.dl_type == 0xffff && m->key.dl_type == htons(type);
}

static bool
match_proto_is(const struct match *m, uint8_t proto)
{
    return m->mask.nw_proto == 0xff && m->key.nw_proto == proto;
}

static bool
match_is_ip_any(const struct match *m)
{
    return match_dl_type_is(m, 0x0800) || match_dl_type_is(m, 0x86dd);
}

bool
mf_prereqs_ok(const struct mf_field *mf, const struct match *m)
{
    return mf_prereq_ok(mf->prereq, m);
}

bool
mf_prereq_ok(enum mf_prereq p, const struct match *m)
{
    switch (p) {
    case MFP_NONE:
        return true;
    case MFP_IP_ANY:
        return match_is_ip_any(m);
    case MFP_IP_OR_ARP:
        return match_dl_type_is(m, 0x0800) || match_dl_type_is(m, 0x0806);
    case MFP_IPV4:
        return match_dl_type_is(m, 0x0800);
    case MFP_IPV6:
        return match_dl_type_is(m, 0x86dd);
    case MFP_ARP:
        return match_dl_type_is(m, 0x0806);
    case MFP_L4:
        return match_is_ip_any(m) &&
               (match_proto_is(m, 6) || match_proto_is(m, 17) ||
                match_proto_is(m, 132));
    case MFP_TCP:
        return match_is_ip_any(m) && match_proto_is(m, 6);
    case MFP_UDP:
        return match_is_ip_any(m) && match_proto_is(m, 17);
    case MFP_SCTP:
        return match_is_ip_any(m) && match_proto_is(m, 132);
    case MFP_ICMP_ANY:
        return (match_dl_type_is(m, 0x0800) && match_proto_is(m, 1)) ||
               (match_dl_type_is(m, 0x86dd) && match_proto_is(m, 58));
    case MFP_ICMPV4:
        return match_dl_type_is(m, 0x0800) && match_proto_is(m, 1);
    case MFP_ICMPV6:
        return match_dl_type_is(m, 0x86dd) && match_proto_is(m, 58);
    }
    return false;
}

const char *
mf_prereq_text(enum mf_prereq p)
{
    switch (p) {
    case MFP_NONE:
        return "nothing";
    case MFP_IP_ANY:
        return "ip or ipv6";
    case MFP_IP_OR_ARP:
        return "ip or arp";
    case MFP_IPV4:
        return "ip";
    case MFP_IPV6:
        return "ipv6";
    case MFP_ARP:
        return "arp";
    case MFP_L4:
        return "a transport protocol (tcp, udp, sctp)";
    case MFP_TCP:
        return "tcp";
    case MFP_UDP:
        return "udp";
    case MFP_SCTP:
        return "sctp";
    case MFP_ICMP_ANY:
        return "icmp or icmp6";
    case MFP_ICMPV4:
        return "icmp";
    case MFP_ICMPV6:
        return "icmp6";
    }
    return "?";
}

/* ---- Parsing values. ---- */

/* Parses an unsigned number, decimal or 0x hex, that must use all of
 * [s, s + len) and be at most 'max'. */
static bool
parse_uint(const char *s, size_t len, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    size_t i = 0;
    int base = 10;

    if (len >= 3 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        i = 2;
    }
    if (i >= len) {
        return false;
    }
    for (; i < len; i++) {
        int d;

        if (isdigit((unsigned char)s[i])) {
            d = s[i] - '0';
        } else if (base == 16 && isxdigit((unsigned char)s[i])) {
            d = tolower((unsigned char)s[i]) - 'a' + 10;
        } else {
            return false;
        }
        if (v > (max - d) / base) {
            return false;
        }
        v = v * base + d;
    }
    *out = v;
    return true;
}

static bool
parse_mac(const char *s, size_t len, uint8_t mac[6])
{
    char buf[18];
    unsigned int b[6];
    int n = 0;

    if (len != 17) {
        return false;
    }
    memcpy(buf, s, len);
    buf[len] = '\0';
    for (int i = 0; i < 17; i++) {
        if (i % 3 == 2 ? buf[i] != ':' : !isxdigit((unsigned char)buf[i])) {
            return false;
        }
    }
    if (sscanf(buf, "%2x:%2x:%2x:%2x:%2x:%2x%n", &b[0], &b[1], &b[2], &b[3],
               &b[4], &b[5], &n) != 6 ||
        n != 17) {
        return false;
    }
    for (int i = 0; i < 6; i++) {
        mac[i] = b[i];
    }
    return true;
}

/* Strict dotted quad: four decimal parts 0..255, no leading '+'. */
static bool
parse_ipv4(const char *s, size_t len, uint8_t addr[4])
{
    size_t i = 0;

    for (int part = 0; part < 4; part++) {
        unsigned int v = 0;
        size_t start = i;

        while (i < len && isdigit((unsigned char)s[i]) && i - start < 3) {
            v = v * 10 + (s[i++] - '0');
        }
        if (i == start || v > 255) {
            return false;
        }
        addr[part] = v;
        if (part < 3) {
            if (i >= len || s[i] != '.') {
                return false;
            }
            i++;
        }
    }
    return i == len;
}

static bool
parse_ipv6(const char *s, size_t len, uint8_t addr[16])
{
    char buf[INET6_ADDRSTRLEN + 1];

    if (len == 0 || len >= sizeof buf) {
        return false;
    }
    memcpy(buf, s, len);
    buf[len] = '\0';
    return inet_pton(AF_INET6, buf, addr) == 1;
}

/* A prefix mask of 'plen' bits over 'n' bytes. */
static void
prefix_mask(int plen, uint8_t *mask, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int b = plen - (int)i * 8;

        mask[i] = b >= 8 ? 0xff : b <= 0 ? 0 : (uint8_t)(0xff << (8 - b));
    }
}

/* Returns the prefix length if 'mask' is a prefix mask, else -1. */
static int
mask_prefix_len(const uint8_t *mask, size_t n)
{
    int plen = 0;
    size_t i = 0;

    while (i < n && mask[i] == 0xff) {
        plen += 8;
        i++;
    }
    if (i < n) {
        uint8_t b = mask[i];

        while (b & 0x80) {
            plen++;
            b <<= 1;
        }
        if (b) {
            return -1;
        }
        for (i++; i < n; i++) {
            if (mask[i]) {
                return -1;
            }
        }
    }
    return plen;
}

static const char *const tcp_flag_names[12] = {
    "fin", "syn", "rst", "psh",   "ack",   "urg",
    "ece", "cwr", "ns",  "[200]", "[400]", "[800]",
};

/* "+syn-ack" style: each named flag must be set (+) or clear (-). */
static bool
parse_tcp_flags_named(const char *s, size_t len, uint32_t *v, uint32_t *m)
{
    size_t i = 0;

    *v = *m = 0;
    if (len == 0) {
        return false;
    }
    while (i < len) {
        char sign = s[i++];
        size_t start = i;
        int bit = -1;

        if (sign != '+' && sign != '-') {
            return false;
        }
        while (i < len && s[i] != '+' && s[i] != '-') {
            i++;
        }
        for (int b = 0; b < 12; b++) {
            if (strlen(tcp_flag_names[b]) == i - start &&
                !strncasecmp(tcp_flag_names[b], s + start, i - start)) {
                bit = b;
            }
        }
        if (bit < 0 || (*m & (1u << bit))) {
            return false;
        }
        *m |= 1u << bit;
        if (sign == '+') {
            *v |= 1u << bit;
        }
    }
    return true;
}

static const struct {
    const char *name;
    uint8_t value;
    uint8_t mask;
} frag_names[] = {
    {"no", 0, FLOW_NW_FRAG_ANY},
    {"yes", FLOW_NW_FRAG_ANY, FLOW_NW_FRAG_ANY},
    {"first", FLOW_NW_FRAG_ANY, FLOW_NW_FRAG_ANY | FLOW_NW_FRAG_LATER},
    {"later", FLOW_NW_FRAG_ANY | FLOW_NW_FRAG_LATER,
     FLOW_NW_FRAG_ANY | FLOW_NW_FRAG_LATER},
    {"not_later", 0, FLOW_NW_FRAG_LATER},
};

static const char *
mf_expected(const struct mf_field *mf)
{
    switch (mf->format) {
    case MF_FMT_DEC:
    case MF_FMT_HEX:
        return "a number";
    case MF_FMT_MAC:
        return "an Ethernet address xx:xx:xx:xx:xx:xx";
    case MF_FMT_IPV4:
        return "an IPv4 address a.b.c.d";
    case MF_FMT_IPV6:
        return "an IPv6 address";
    case MF_FMT_FRAG:
        return "no, yes, first, later or not_later";
    case MF_FMT_TCP_FLAGS:
        return "0xNNN[/0xNNN] or flags like +syn-ack";
    case MF_FMT_VLAN:
        return "a VLAN id 0..4095 or 0xffff for no tag";
    }
    return "a value";
}

/* Parses the part before or after '/' into storage form.  'is_mask' allows
 * the prefix-length form for CIDR-style formats. */
static char *
mf_parse_part(const struct mf_field *mf, const char *s, size_t len,
              bool is_mask, uint8_t *out)
{
    uint64_t v;

    memset(out, 0, mf->n_bytes);
    switch (mf->format) {
    case MF_FMT_MAC:
        if (parse_mac(s, len, out)) {
            return NULL;
        }
        break;
    case MF_FMT_IPV4:
    case MF_FMT_IPV6: {
        size_t n = mf->n_bytes;

        if (is_mask && parse_uint(s, len, n * 8, &v) &&
            !(len > 1 && s[0] == '0')) {
            prefix_mask(v, out, n);
            return NULL;
        }
        if (n == 4 ? parse_ipv4(s, len, out) : parse_ipv6(s, len, out)) {
            return NULL;
        }
        break;
    }
    case MF_FMT_DEC:
    case MF_FMT_HEX:
    case MF_FMT_VLAN:
    case MF_FMT_TCP_FLAGS:
    case MF_FMT_FRAG: {
        uint64_t max = mf->bits >> mf->shift;

        if (!parse_uint(s, len, UINT32_MAX, &v)) {
            break;
        }
        if (v > max) {
            return xasprintf("%s: value %.*s out of range (at most %" PRIu64
                             " / 0x%" PRIx64 ")",
                             mf->name, (int)len, s, max, max);
        }
        if (((uint32_t)v << mf->shift) & ~mf->bits) {
            return xasprintf("%s: value %.*s sets bits outside the field "
                             "(allowed bits: 0x%" PRIx32 ")",
                             mf->name, (int)len, s, mf->bits);
        }
        mf_raw_put(mf, (uint32_t)v << mf->shift, out);
        return NULL;
    }
    }
    return xasprintf(
        "%s: bad %s '%.*s' (expected %s)", mf->name, is_mask ? "mask" : "value",
        (int)len, s,
        is_mask && (mf->format == MF_FMT_IPV4 || mf->format == MF_FMT_IPV6)
            ? "a prefix length or an address mask"
            : mf_expected(mf));
}

char *
mf_parse(const struct mf_field *mf, const char *text, uint8_t *value,
         uint8_t *mask)
{
    size_t len = strlen(text);
    const char *slash = strchr(text, '/');
    uint8_t bits[16];
    char *err;

    mf_bits(mf, bits);
    if (mask) {
        memcpy(mask, bits, mf->n_bytes);
    }

    /* Symbolic forms first. */
    if (mf->format == MF_FMT_FRAG) {
        for (size_t i = 0; i < ARRAY_SIZE(frag_names); i++) {
            if (!strcmp(text, frag_names[i].name)) {
                if (!mask && frag_names[i].mask != 0x03) {
                    return xasprintf("%s: '%s' is a masked value, not "
                                     "allowed here",
                                     mf->name, text);
                }
                value[0] = frag_names[i].value;
                if (mask) {
                    mask[0] = frag_names[i].mask;
                }
                return NULL;
            }
        }
    } else if (mf->format == MF_FMT_TCP_FLAGS &&
               (text[0] == '+' || text[0] == '-')) {
        uint32_t v, m;

        if (!parse_tcp_flags_named(text, len, &v, &m)) {
            return xasprintf("%s: bad value '%s' (expected %s; flags are "
                             "fin syn rst psh ack urg ece cwr ns [200] "
                             "[400] [800], each once)",
                             mf->name, text, mf_expected(mf));
        }
        if (!mask && m != mf->bits) {
            return xasprintf("%s: '%s' is a masked value, not allowed here",
                             mf->name, text);
        }
        mf_raw_put(mf, v, value);
        if (mask) {
            mf_raw_put(mf, m, mask);
        }
        return NULL;
    }

    err = mf_parse_part(mf, text, slash ? (size_t)(slash - text) : len, false,
                        value);
    if (err) {
        return err;
    }
    if (slash) {
        const char *ms = slash + 1;
        size_t mlen = len - (ms - text);

        if (!mask) {
            return xasprintf("%s: masks are not allowed here", mf->name);
        }
        if (mf->maskable == MF_MASK_NONE) {
            return xasprintf("%s: this field cannot be masked", mf->name);
        }
        err = mf_parse_part(mf, ms, mlen, true, mask);
        if (err) {
            return err;
        }
        for (size_t i = 0; i < mf->n_bytes; i++) {
            value[i] &= mask[i];
        }
    }
    return NULL;
}

/* ---- Formatting values. ---- */

static void
format_mac(const uint8_t *m, struct ds *ds)
{
    ds_put_format(ds, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3],
                  m[4], m[5]);
}

static void
format_ip(const struct mf_field *mf, const uint8_t *a, struct ds *ds)
{
    char buf[INET6_ADDRSTRLEN];

    inet_ntop(mf->n_bytes == 4 ? AF_INET : AF_INET6, a, buf, sizeof buf);
    ds_put_cstr(ds, buf);
}

static void
format_tcp_flags(uint32_t v, uint32_t m, struct ds *ds)
{
    for (int b = 0; b < 12; b++) {
        if (m & (1u << b)) {
            ds_put_format(ds, "%c%s", v & (1u << b) ? '+' : '-',
                          tcp_flag_names[b]);
        }
    }
}

void
mf_format(const struct mf_field *mf, const uint8_t *value, const uint8_t *mask,
          struct ds *ds)
{
    uint8_t bits[16];
    bool exact = true;

    mf_bits(mf, bits);
    if (mask) {
        exact = !memcmp(mask, bits, mf->n_bytes);
    }
    switch (mf->format) {
    case MF_FMT_MAC:
        format_mac(value, ds);
        if (!exact) {
            ds_put_char(ds, '/');
            format_mac(mask, ds);
        }
        return;
    case MF_FMT_IPV4:
    case MF_FMT_IPV6: {
        format_ip(mf, value, ds);
        if (!exact) {
            int plen = mask_prefix_len(mask, mf->n_bytes);

            ds_put_char(ds, '/');
            if (plen >= 0) {
                ds_put_format(ds, "%d", plen);
            } else {
                format_ip(mf, mask, ds);
            }
        }
        return;
    }
    case MF_FMT_FRAG: {
        uint8_t m = mask ? mask[0] : 0x03;

        for (size_t i = 0; i < ARRAY_SIZE(frag_names); i++) {
            if (frag_names[i].value == value[0] && frag_names[i].mask == m) {
                ds_put_cstr(ds, frag_names[i].name);
                return;
            }
        }
        ds_put_format(ds, "0x%x", value[0]);
        if (!exact) {
            ds_put_format(ds, "/0x%x", m);
        }
        return;
    }
    case MF_FMT_TCP_FLAGS:
        if (!exact) {
            format_tcp_flags(mf_raw_get(mf, value), mf_raw_get(mf, mask), ds);
        } else {
            ds_put_format(ds, "0x%03" PRIx32, mf_raw_get(mf, value));
        }
        return;
    case MF_FMT_DEC:
    case MF_FMT_HEX:
    case MF_FMT_VLAN: {
        uint32_t v = mf_raw_get(mf, value) >> mf->shift;
        /* Hex fields print all their digits, as ovs-ofctl does
         * ("dl_type=0x0806", "ipv6_label=0x00001"). */
        int width = mf->format == MF_FMT_HEX ? (mf->n_bits + 3) / 4 : 0;

        if (exact && mf->format != MF_FMT_HEX) {
            ds_put_format(ds, "%" PRIu32, v);
        } else if (exact) {
            ds_put_format(ds, "0x%0*" PRIx32, width, v);
        } else {
            ds_put_format(ds, "0x%0*" PRIx32 "/0x%0*" PRIx32, width, v, width,
                          mf_raw_get(mf, mask) >> mf->shift);
        }
        return;
    }
    }
}

/* ---- Writing packets. ---- */

int
mf_set_packet(const struct mf_field *mf, const uint8_t *value, struct packet *p)
{
    uint32_t raw = mf_is_wide(mf) ? 0 : mf_raw_get(mf, value);
    be32 a32;

    switch (mf->id) {
    case MFF_DL_SRC:
        return pkt_set_dl_src(p, value);
    case MFF_DL_DST:
        return pkt_set_dl_dst(p, value);
    case MFF_VLAN_VID:
        if (!(raw & VLAN_CFI)) {
            return p->key.vlan_tci ? pkt_pop_vlan(p) : 0;
        }
        return pkt_set_vlan_vid(p, raw & VLAN_VID_MASK);
    case MFF_VLAN_TCI: {
        int error;

        if (!(raw & VLAN_CFI)) {
            return p->key.vlan_tci ? pkt_pop_vlan(p) : 0;
        }
        error = pkt_set_vlan_vid(p, raw & VLAN_VID_MASK);
        return error ? error
                     : pkt_set_vlan_pcp(p, (raw & VLAN_PCP_MASK) >>
                                               VLAN_PCP_SHIFT);
    }
    case MFF_DL_VLAN:
        return pkt_set_vlan_vid(p, raw & VLAN_VID_MASK);
    case MFF_DL_VLAN_PCP:
        return pkt_set_vlan_pcp(p, raw >> VLAN_PCP_SHIFT);
    case MFF_NW_SRC:
        memcpy(&a32, value, 4);
        return pkt_set_nw_src(p, a32);
    case MFF_NW_DST:
        memcpy(&a32, value, 4);
        return pkt_set_nw_dst(p, a32);
    case MFF_NW_TOS:
    case MFF_IP_DSCP:
    case MFF_NW_ECN:
        /* A sub-field of the TOS byte: keep the other bits. */
        return pkt_set_nw_tos(p, (p->key.nw_tos & ~mf->bits) | raw);
    case MFF_NW_TTL:
        return pkt_set_nw_ttl(p, raw);
    case MFF_TP_SRC:
    case MFF_TCP_SRC:
    case MFF_UDP_SRC:
    case MFF_SCTP_SRC:
        return pkt_set_tp_src(p, htons(raw));
    case MFF_TP_DST:
    case MFF_TCP_DST:
    case MFF_UDP_DST:
    case MFF_SCTP_DST:
        return pkt_set_tp_dst(p, htons(raw));
    case MFF_ICMP_TYPE:
    case MFF_ICMPV6_TYPE:
        return pkt_set_icmp_type(p, raw);
    case MFF_ICMP_CODE:
    case MFF_ICMPV6_CODE:
        return pkt_set_icmp_code(p, raw);
    case MFF_ARP_OP:
        return pkt_set_arp_op(p, raw);
    case MFF_ARP_SPA:
        memcpy(&a32, value, 4);
        return pkt_set_arp_spa(p, a32);
    case MFF_ARP_TPA:
        memcpy(&a32, value, 4);
        return pkt_set_arp_tpa(p, a32);
    case MFF_ARP_SHA:
        return pkt_set_arp_sha(p, value);
    case MFF_ARP_THA:
        return pkt_set_arp_tha(p, value);
    case MFF_IPV6_SRC:
        return pkt_set_ipv6_src(p, value);
    case MFF_IPV6_DST:
        return pkt_set_ipv6_dst(p, value);
    case MFF_IPV6_LABEL:
        return pkt_set_ipv6_label(p, raw);
    case MFF_IN_PORT:
    case MFF_DL_TYPE:
    case MFF_NW_PROTO:
    case MFF_NW_FRAG:
    case MFF_TCP_FLAGS:
    case MFF_N_IDS:
        break;
    }
    return -EINVAL;
}
