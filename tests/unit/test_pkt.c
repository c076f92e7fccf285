/* Unit tests for the pkt module: packet buffers, checksums, the parser
 * (one test per parse-error reason, VLANs, options, fragments, IPv6
 * extension headers, truncation at every length), the rewrites (checked
 * against full checksum recomputation and a fresh parse on random
 * packets) and frame composition (byte-exact against frames built by
 * scapy, and compose -> parse round trips on random keys).
 *
 * The reference frames below were generated with scapy and are zero-padded
 * to the 60-byte Ethernet minimum, as pkt_compose() pads. */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/compiler.h"
#include "pkt/packet.h"
#include "pkt/pkt.h"
#include "pkt/pkt_int.h"

static const uint8_t ref_tcp4[] =
    "\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\x08\x00\x45\x2a"
    "\x00\x28\x00\x00\x00\x00\x40\x06\x66\xa4\x0a\x00\x00\x01\x0a\x00"
    "\x00\x02\x04\xd2\x00\x50\x00\x00\x00\x00\x00\x00\x00\x00\x50\x12"
    "\xff\xff\x96\xae\x00\x00\x00\x00\x00\x00\x00\x00";
static const uint8_t ref_udp6[] =
    "\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\x86\xdd\x6b\x81"
    "\x23\x45\x00\x08\x11\x11\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00"
    "\x00\x00\x00\x00\x00\x01\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00"
    "\x00\x00\x00\x00\x00\x02\x00\x35\x14\xe9\x00\x08\x8f\x4b";
static const uint8_t ref_icmp4[] =
    "\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\x08\x00\x45\x00"
    "\x00\x1c\x00\x00\x00\x00\x01\x01\x36\x8e\xc0\xa8\x01\x01\xc0\xa8"
    "\x01\x02\x08\x00\xf7\xff\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
    "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00";
static const uint8_t ref_icmp6[] =
    "\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\x86\xdd\x60\x00"
    "\x00\x00\x00\x08\x3a\xff\xfe\x80\x00\x00\x00\x00\x00\x00\x00\x00"
    "\x00\x00\x00\x00\x00\x01\xff\x02\x00\x00\x00\x00\x00\x00\x00\x00"
    "\x00\x00\x00\x00\x00\x01\x80\x00\x82\x37\x00\x00\x00\x00";
static const uint8_t ref_arp[] =
    "\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\x08\x06\x00\x01"
    "\x08\x00\x06\x04\x00\x02\x66\x77\x88\x99\xaa\xbb\x0a\x01\x01\x01"
    "\x00\x11\x22\x33\x44\x55\x0a\x01\x01\x02\x00\x00\x00\x00\x00\x00"
    "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00";
static const uint8_t ref_sctp4[] =
    "\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\x08\x00\x45\x00"
    "\x00\x20\x00\x00\x00\x00\x40\x84\x66\x58\x0a\x00\x00\x01\x0a\x00"
    "\x00\x02\x13\x88\x17\x70\x00\x00\x00\x00\x11\xa6\xa8\x92\x00\x00"
    "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00";
static const uint8_t ref_qinq[] =
    "\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\x88\xa8\xa0\x64"
    "\x81\x00\x60\xc8\x08\x00\x45\x00\x00\x1c\x00\x00\x00\x00\x40\x11"
    "\x6a\xbe\x01\x02\x03\x04\x05\x06\x07\x08\x00\x01\x00\x02\x00\x08"
    "\xef\xc7\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00";
static const uint8_t ref_frag4_first[] =
    "\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\x08\x00\x45\x00"
    "\x00\x1c\x00\x00\x20\x00\x40\x11\x46\xcf\x0a\x00\x00\x01\x0a\x00"
    "\x00\x02\x00\x07\x00\x09\x00\x08\xeb\xcb\x00\x00\x00\x00\x00\x00"
    "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00";
static const uint8_t ref_frag6_later[] =
    "\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\x86\xdd\x60\x00"
    "\x00\x00\x00\x08\x2c\x40\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00"
    "\x00\x00\x00\x00\x00\x01\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00"
    "\x00\x00\x00\x00\x00\x02\x06\x00\x00\x08\x00\x00\x00\x00";

#define REF(name)                                                              \
    {                                                                          \
#name, name, sizeof name - 1                                           \
    }

struct ref_frame {
    const char *name;    /* Variable name, for messages. */
    const uint8_t *data; /* Frame bytes. */
    size_t len;          /* Frame length, bytes. */
};

static const struct ref_frame ref_frames[] = {
    REF(ref_tcp4),  REF(ref_udp6),        REF(ref_icmp4),
    REF(ref_icmp6), REF(ref_arp),         REF(ref_sctp4),
    REF(ref_qinq),  REF(ref_frag4_first), REF(ref_frag6_later),
};

/* xorshift64*: a small seeded PRNG so random tests replay exactly. */
static uint64_t rng_state;

static void
rng_seed(uint64_t seed)
{
    rng_state = seed ? seed : 1;
}

static uint32_t
rng_u32(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 0x2545f4914f6cdd1dULL) >> 32);
}

static void
rng_bytes(void *p_, size_t n)
{
    uint8_t *p = p_;
    for (size_t i = 0; i < n; i++) {
        p[i] = (uint8_t)rng_u32();
    }
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

/* A packet holding a copy of 'len' bytes, parsed.  The buffer is exactly
 * PACKET_HEADROOM + len bytes (packet_set_data() grows a zero-room packet
 * to fit), so AddressSanitizer flags any read past the frame. */
static struct packet *
packet_from(const void *data, size_t len, uint32_t in_port)
{
    struct packet *p = packet_new(0);

    packet_set_data(p, data, (uint32_t)len);
    p->in_port = in_port;
    pkt_parse(p);
    return p;
}

/* ---- Full checksum recomputation: the oracle for the rewrites. ---- */

static bool
is_ip4(const struct packet *p)
{
    return p->key.dl_type == htons(0x0800) && p->l3_ofs != PACKET_OFS_NONE;
}

static bool
is_ip6(const struct packet *p)
{
    return p->key.dl_type == htons(0x86dd) && p->l3_ofs != PACKET_OFS_NONE;
}

/* Bytes from l4_ofs to the end of the L3 payload. */
static uint32_t
l4_len(const struct packet *p)
{
    const uint8_t *l3 = packet_data(p) + p->l3_ofs;
    uint32_t end =
        is_ip4(p) ? p->l3_ofs + get16(l3 + 2) : p->l3_ofs + 40u + get16(l3 + 4);
    return end - p->l4_ofs;
}

static uint16_t
ip4_expected_csum(const struct packet *p)
{
    uint8_t hdr[60];
    const uint8_t *l3 = packet_data(p) + p->l3_ofs;
    size_t ihl = (size_t)(l3[0] & 0x0f) * 4;

    memcpy(hdr, l3, ihl);
    put16(hdr + 10, 0);
    return csum_fold(csum_partial(hdr, ihl, 0));
}

/* Offset of the L4 checksum field, or -1 if the protocol has none we
 * check. */
static int
l4_csum_field(const struct packet *p)
{
    if (p->l4_ofs == PACKET_OFS_NONE) {
        return -1;
    }
    switch (p->key.nw_proto) {
    case 6:
        return 16;
    case 17:
        return 6;
    case 1:
    case 58:
        return 2;
    case 132:
        return 8;
    default:
        return -1;
    }
}

/* The L4 checksum computed from scratch (host order; the SCTP CRC as the
 * 32-bit value stored little-endian on the wire). */
static uint32_t
l4_expected_csum(const struct packet *p)
{
    uint8_t seg[2048];
    const uint8_t *l3 = packet_data(p) + p->l3_ofs;
    uint32_t len = l4_len(p);
    int field = l4_csum_field(p);
    uint32_t sum = 0;
    uint16_t csum;

    if (field < 0 || len > sizeof seg) {
        fail_msg("no L4 checksum to recompute");
        return 0;
    }
    memcpy(seg, packet_data(p) + p->l4_ofs, len);
    if (p->key.nw_proto == 132) {
        memset(seg + field, 0, 4);
        return pkt_crc32c(seg, len);
    }
    put16(seg + field, 0);
    if (p->key.nw_proto != 1) {
        if (is_ip4(p)) {
            sum = csum_partial(l3 + 12, 8, 0);
        } else {
            sum = csum_partial(l3 + 8, 32, 0);
        }
        sum += p->key.nw_proto + len;
    }
    csum = csum_fold(csum_partial(seg, len, sum));
    if (p->key.nw_proto == 17 && !csum) {
        csum = 0xffff;
    }
    return csum;
}

/* Whether 'csum' is a valid checksum for data summing to 'sum': the data
 * plus the checksum must fold to 0.  (Where the data sums to
 * one's-complement -0 both 0x0000 and 0xffff are valid; where it sums to
 * +0, which only all-zero data does, only 0xffff is.) */
static bool
csum_verifies(uint32_t sum, uint16_t csum)
{
    return csum_fold(sum + csum) == 0;
}

/* Sum of the L4 segment of 'p' and its pseudo-header, checksum field
 * excluded (read as zero). */
static uint32_t
l4_data_sum(const struct packet *p)
{
    uint8_t seg[2048];
    const uint8_t *l3 = packet_data(p) + p->l3_ofs;
    uint32_t len = l4_len(p);
    int field = l4_csum_field(p);
    uint32_t sum = 0;

    if (field < 0) {
        fail_msg("no L4 checksum to sum");
        return 0;
    }
    memcpy(seg, packet_data(p) + p->l4_ofs, len);
    put16(seg + field, 0);
    if (p->key.nw_proto != 1) {
        sum = is_ip4(p) ? csum_partial(l3 + 12, 8, 0)
                        : csum_partial(l3 + 8, 32, 0);
        sum += p->key.nw_proto + len;
    }
    return csum_partial(seg, len, sum);
}

static uint32_t
ip4_data_sum(const struct packet *p)
{
    uint8_t hdr[60];
    const uint8_t *l3 = packet_data(p) + p->l3_ofs;
    size_t ihl = (size_t)(l3[0] & 0x0f) * 4;

    memcpy(hdr, l3, ihl);
    put16(hdr + 10, 0);
    return csum_partial(hdr, ihl, 0);
}

/* Writes correct checksums into every header of 'p'. */
static void
fix_csums(struct packet *p)
{
    uint8_t *d = packet_data(p);
    int field = l4_csum_field(p);

    if (field >= 0) {
        uint8_t *l4 = d + p->l4_ofs;
        uint32_t c = l4_expected_csum(p);

        if (p->key.nw_proto == 132) {
            uint32_t le = htole32(c);
            memcpy(l4 + field, &le, 4);
        } else {
            put16(l4 + field, (uint16_t)c);
        }
    }
    if (is_ip4(p)) {
        put16(d + p->l3_ofs + 10, ip4_expected_csum(p));
    }
}

/* Asserts that every checksum of 'p' equals a full recomputation, or is
 * the other valid form of one's-complement zero; a UDP checksum of 0
 * passes only if 'udp_zero' says it was 0 before. */
static void
assert_csums(const struct packet *p, bool udp_zero)
{
    const uint8_t *d = packet_data(p);
    int field = l4_csum_field(p);

    if (is_ip4(p)) {
        uint16_t have = get16(d + p->l3_ofs + 10);
        if (have != ip4_expected_csum(p)) {
            assert_true(csum_verifies(ip4_data_sum(p), have));
        }
    }
    if (field < 0) {
        return;
    }
    if (p->key.nw_proto == 132) {
        uint32_t le;
        memcpy(&le, d + p->l4_ofs + field, 4);
        assert_int_equal(le32toh(le), l4_expected_csum(p));
    } else if (udp_zero) {
        assert_int_equal(get16(d + p->l4_ofs + field), 0);
    } else {
        uint16_t have = get16(d + p->l4_ofs + field);
        uint16_t want = (uint16_t)l4_expected_csum(p);
        if (have != want && !csum_verifies(l4_data_sum(p), have)) {
            fail_msg("L4 checksum %#06x, recomputed %#06x (proto %u)", have,
                     want, p->key.nw_proto);
        }
        if (p->key.nw_proto == 17) {
            assert_int_not_equal(have, 0);
        }
    }
}

/* Asserts that two parses give the same key, hash, result and offsets;
 * 'what' names the second in a key mismatch. */
static void
assert_same_parse(const struct packet *p, const struct packet *q,
                  const char *what)
{
    if (memcmp(&q->key, &p->key, sizeof p->key)) {
        fail_msg("key differs from %s (len %u)", what, (unsigned int)p->len);
    }
    assert_int_equal(q->hash, p->hash);
    assert_int_equal(q->parse_err, p->parse_err);
    assert_int_equal(q->l3_ofs, p->l3_ofs);
    assert_int_equal(q->l4_ofs, p->l4_ofs);
    assert_int_equal(q->l7_ofs, p->l7_ofs);
    assert_int_equal(q->vlan_ofs, p->vlan_ofs);
    assert_int_equal(q->n_vlans, p->n_vlans);
}

/* Asserts that p's key, offsets and hash are what a fresh parse of its
 * bytes gives. */
static void
assert_parse_consistent(const struct packet *p)
{
    struct packet *q = packet_from(packet_data(p), p->len, p->in_port);

    assert_same_parse(p, q, "a fresh parse");
    packet_destroy(q);
}

/* ---- Random keys and packets. ---- */

/* A random key holding only fields pkt_compose() can carry. */
static void
random_key(struct flow_key *k)
{
    static const uint16_t types[] = {0x0800, 0x0800, 0x86dd,
                                     0x86dd, 0x0806, 0x88cc};
    static const uint8_t protos4[] = {6, 17, 132, 1, 47};
    static const uint8_t protos6[] = {6, 17, 132, 58, 47};
    uint16_t type = types[rng_u32() % 6];

    memset(k, 0, sizeof *k);
    k->in_port = rng_u32() % 1000;
    rng_bytes(k->dl_dst, 6);
    rng_bytes(k->dl_src, 6);
    k->dl_type = htons(type);
    switch (rng_u32() % 3) {
    case 2:
        k->vlan_tci2 = htons((uint16_t)(rng_u32() | 0x1000));
        /* fall through */
    case 1:
        k->vlan_tci = htons((uint16_t)(rng_u32() | 0x1000));
        break;
    default:
        break;
    }
    if (type == 0x0806) {
        k->nw_proto = (uint8_t)rng_u32();
        k->nw_src = rng_u32();
        k->nw_dst = rng_u32();
        rng_bytes(k->arp_sha, 6);
        rng_bytes(k->arp_tha, 6);
        return;
    }
    if (type != 0x0800 && type != 0x86dd) {
        return;
    }
    k->nw_tos = (uint8_t)rng_u32();
    k->nw_ttl = (uint8_t)rng_u32();
    if (type == 0x0800) {
        k->nw_proto = protos4[rng_u32() % 5];
        k->nw_src = rng_u32();
        k->nw_dst = rng_u32();
    } else {
        k->nw_proto = protos6[rng_u32() % 5];
        rng_bytes(k->ipv6_src, 16);
        rng_bytes(k->ipv6_dst, 16);
        k->ipv6_label = htonl(rng_u32() & 0xfffff);
    }
    switch (rng_u32() % 6) {
    case 0:
        k->nw_frag = FLOW_NW_FRAG_ANY;
        break;
    case 1:
        k->nw_frag = FLOW_NW_FRAG_ANY | FLOW_NW_FRAG_LATER;
        return;
    default:
        break;
    }
    switch (k->nw_proto) {
    case 6:
        k->tcp_flags = htons(rng_u32() & 0x0fff);
        /* fall through */
    case 17:
    case 132:
        k->tp_src = (be16)rng_u32();
        k->tp_dst = (be16)rng_u32();
        break;
    case 1:
    case 58:
        k->tp_src = htons(rng_u32() & 0xff);
        k->tp_dst = htons(rng_u32() & 0xff);
        break;
    default:
        break;
    }
}

/* Appends 'n' random payload bytes to the IP packet 'p' (dropping the
 * Ethernet padding first), fixes the length fields and checksums, and
 * re-parses it. */
static void
add_payload(struct packet *p, uint32_t n)
{
    uint8_t *d;
    uint32_t end;

    if (!is_ip4(p) && !is_ip6(p)) {
        return;
    }
    d = packet_data(p);
    end = is_ip4(p) ? p->l3_ofs + get16(d + p->l3_ofs + 2)
                    : p->l3_ofs + 40u + get16(d + p->l3_ofs + 4);
    assert_int_equal(packet_trim_tail(p, p->len - end), 0);
    assert_int_equal(packet_put_tail(p, n), 0);
    rng_bytes(d + end, n);
    if (is_ip4(p)) {
        put16(d + p->l3_ofs + 2, (uint16_t)(get16(d + p->l3_ofs + 2) + n));
    } else {
        put16(d + p->l3_ofs + 4, (uint16_t)(get16(d + p->l3_ofs + 4) + n));
    }
    if (p->key.nw_proto == 17 && p->l4_ofs != PACKET_OFS_NONE) {
        put16(d + p->l4_ofs + 4, (uint16_t)(get16(d + p->l4_ofs + 4) + n));
    }
    fix_csums(p);
    pkt_parse(p);
}

/* Inserts 'n' 4-byte words of NOP options into the IPv4 header of 'p'
 * (checksums are fixed later by add_payload()). */
static void
add_ip4_options(struct packet *p, uint32_t n)
{
    uint8_t *d = packet_data(p);
    uint8_t *opts = d + p->l3_ofs + 20;
    uint32_t tail = p->len - (p->l3_ofs + 20);

    assert_int_equal(packet_put_tail(p, 4 * n), 0);
    memmove(opts + 4 * n, opts, tail);
    memset(opts, 1, 4 * n);
    d[p->l3_ofs] = (uint8_t)(0x40 | (5 + n));
    put16(d + p->l3_ofs + 2, (uint16_t)(get16(d + p->l3_ofs + 2) + 4 * n));
    pkt_parse(p);
}

static struct packet *
random_packet(void)
{
    struct packet *p = packet_new(PACKET_DEFAULT_SIZE);
    struct flow_key k;

    random_key(&k);
    pkt_compose(p, &k);
    assert_int_equal(p->parse_err, PKT_ERR_NONE);
    if (is_ip4(p) && rng_u32() % 3 == 0) {
        add_ip4_options(p, 1 + rng_u32() % 10);
        assert_int_equal(p->parse_err, PKT_ERR_NONE);
    }
    add_payload(p, rng_u32() % 300);
    assert_int_equal(p->parse_err, PKT_ERR_NONE);
    return p;
}

/* ---- Packet buffers. ---- */

static void
test_packet_buffer(void **state)
{
    struct packet *p = packet_new(64);
    struct packet *c;
    uint8_t frame[100];
    uint8_t *front;

    (void)state;
    for (size_t i = 0; i < sizeof frame; i++) {
        frame[i] = (uint8_t)i;
    }
    assert_int_equal(p->len, 0);
    assert_int_equal(packet_headroom(p), PACKET_HEADROOM);
    assert_int_equal(packet_tailroom(p), 64);

    /* set_data grows the buffer when the frame does not fit. */
    p->in_port = 7;
    packet_set_data(p, frame, sizeof frame);
    assert_int_equal(p->len, sizeof frame);
    assert_int_equal(p->orig_len, sizeof frame);
    assert_int_equal(p->in_port, 7);
    assert_int_equal(packet_headroom(p), PACKET_HEADROOM);
    assert_memory_equal(packet_data(p), frame, sizeof frame);
    assert_int_equal(p->l3_ofs, PACKET_OFS_NONE);

    front = packet_push(p, 4);
    assert_non_null(front);
    assert_ptr_equal(front, packet_data(p));
    assert_int_equal(p->len, sizeof frame + 4);
    assert_null(packet_push(p, PACKET_HEADROOM));
    assert_int_equal(packet_pull(p, 4), 0);
    assert_memory_equal(packet_data(p), frame, sizeof frame);
    assert_int_equal(packet_pull(p, sizeof frame + 1), -EINVAL);
    assert_int_equal(packet_put_tail(p, 1), -ENOSPC);
    assert_int_equal(packet_trim_tail(p, 10), 0);
    assert_int_equal(p->len, sizeof frame - 10);
    assert_int_equal(packet_put_tail(p, 10), 0);
    assert_int_equal(packet_trim_tail(p, sizeof frame + 1), -EINVAL);

    c = packet_clone(p);
    assert_ptr_not_equal(c->base, p->base);
    assert_int_equal(c->len, p->len);
    assert_int_equal(c->in_port, 7);
    assert_memory_equal(packet_data(c), frame, sizeof frame);
    packet_destroy(c);

    /* Re-basing a pulled frame from the packet's own buffer. */
    assert_int_equal(packet_pull(p, 10), 0);
    packet_set_data(p, packet_data(p), p->len);
    assert_int_equal(packet_headroom(p), PACKET_HEADROOM);
    assert_memory_equal(packet_data(p), frame + 10, sizeof frame - 10);
    packet_destroy(p);
    packet_destroy(NULL);
}

/* A pool's packets: line-aligned, each with its own headroom and frame
 * room, parsed like any other; a grown buffer is freed by
 * packet_destroy() (which empties the packet and gives it its inline
 * buffer back) or by the pool; clones are ordinary packets.  Both mapping
 * paths are taken: a port-sized pool and one of several huge pages. */
static void
check_pool(size_t n, uint32_t frame_size)
{
    struct packet_pool *pool = packet_pool_create(n, frame_size);
    uint8_t big[PACKET_DEFAULT_SIZE + 100];
    struct flow_key k;
    struct packet *p, *c;

    assert_non_null(pool);
    assert_int_equal(packet_pool_count(pool), n);
    assert_null(packet_pool_get(pool, n));
    for (size_t i = 0; i < n; i++) {
        p = packet_pool_get(pool, i);
        assert_int_equal((uintptr_t)p % 64, 0);
        assert_int_equal((uintptr_t)packet_data(p) % 64, 0);
        assert_int_equal(p->len, 0);
        assert_int_equal(packet_headroom(p), PACKET_HEADROOM);
        assert_int_equal(packet_tailroom(p), frame_size);
        assert_int_equal(p->l3_ofs, PACKET_OFS_NONE);
        if (i) {
            /* Neighbours do not overlap. */
            assert_true((uint8_t *)p >=
                        packet_data(packet_pool_get(pool, i - 1)) + frame_size);
        }
    }

    /* The last packet: composed, parsed, cloned. */
    p = packet_pool_get(pool, n - 1);
    memset(&k, 0, sizeof k);
    k.in_port = 3;
    k.dl_type = htons(ETH_TYPE_IP);
    k.nw_proto = IPPROTO_UDP;
    k.nw_src = htonl(0x0a000001);
    k.nw_dst = htonl(0x0a000002);
    k.nw_ttl = 64;
    k.tp_src = htons(1000);
    k.tp_dst = htons(53);
    pkt_compose(p, &k);
    assert_int_equal(p->parse_err, PKT_ERR_NONE);
    assert_int_equal(p->key.tp_dst, htons(53));
    assert_ptr_equal(p->base, (uint8_t *)p + PACKET_STRUCT_SPAN);
    c = packet_clone(p);
    assert_int_equal(c->pool_size, 0);
    assert_memory_equal(packet_data(c), packet_data(p), p->len);
    packet_destroy(c);

    /* Growing past the pool's room: a separate buffer, freed (and the
     * inline one restored) by packet_destroy(). */
    memset(big, 0xab, sizeof big);
    packet_set_data(p, big, sizeof big);
    assert_ptr_not_equal(p->base, (uint8_t *)p + PACKET_STRUCT_SPAN);
    assert_memory_equal(packet_data(p), big, sizeof big);
    packet_destroy(p);
    assert_ptr_equal(p->base, (uint8_t *)p + PACKET_STRUCT_SPAN);
    assert_int_equal(p->len, 0);
    assert_int_equal(packet_tailroom(p), frame_size);

    /* And once more, left for the pool to free. */
    packet_set_data(packet_pool_get(pool, 0), big, sizeof big);
    packet_pool_destroy(pool);
    packet_pool_destroy(NULL);
}

static void
test_packet_pool(void **state)
{
    (void)state;
    check_pool(PACKET_BATCH_MAX, PACKET_DEFAULT_SIZE);
    check_pool(20000, 128);
    assert_null(packet_pool_create(0, 64));
    assert_int_equal(errno, EINVAL);
    assert_null(packet_pool_create(SIZE_MAX / 64, 64));
    assert_int_equal(errno, EINVAL);
}

/* ---- Checksums. ---- */

static void
test_csum_vectors(void **state)
{
    /* RFC 1071 section 3's example: the sum is 0xddf2. */
    static const uint8_t rfc1071[] = {0x00, 0x01, 0xf2, 0x03,
                                      0xf4, 0xf5, 0xf6, 0xf7};
    uint32_t sum;

    (void)state;
    sum = csum_partial(rfc1071, sizeof rfc1071, 0);
    assert_int_equal(csum_fold(sum), (uint16_t)~0xddf2);
    /* An odd trailing byte counts as the high byte of a word. */
    assert_int_equal(csum_partial("\x12", 1, 0), 0x1200);
    /* Chaining pieces gives the same sum as one pass. */
    assert_int_equal(
        csum_fold(csum_partial(rfc1071 + 4, 4, csum_partial(rfc1071, 4, 0))),
        csum_fold(sum));
    /* The standard CRC32c check value. */
    assert_int_equal(pkt_crc32c("123456789", 9), 0xe3069283);
}

static void
test_csum_update_random(void **state)
{
    (void)state;
    rng_seed(11);
    for (int i = 0; i < 1000; i++) {
        uint8_t buf[64];
        size_t n = 8 + rng_u32() % 56;
        size_t at = (rng_u32() % (n - 4)) & ~(size_t)1;
        uint16_t before, after;
        be16 old16, new16;
        be32 old32, new32;

        rng_bytes(buf, n);
        before = htons(csum_fold(csum_partial(buf, n, 0)));
        if (i & 1) {
            memcpy(&old16, buf + at, 2);
            new16 = (be16)rng_u32();
            memcpy(buf + at, &new16, 2);
            after = csum_update16(before, old16, new16);
        } else {
            memcpy(&old32, buf + at, 4);
            new32 = rng_u32();
            memcpy(buf + at, &new32, 4);
            after = csum_update32(before, old32, new32);
        }
        assert_true(csum_verifies(csum_partial(buf, n, 0), ntohs(after)));
    }
}

static void
test_err_names(void **state)
{
    (void)state;
    assert_string_equal(pkt_parse_err_name(PKT_ERR_NONE), "none");
    assert_string_equal(pkt_parse_err_name(PKT_ERR_IP4_BAD_IHL), "ip4_bad_ihl");
    assert_string_equal(pkt_parse_err_text(PKT_ERR_TCP_BAD_OFF),
                        "TCP data offset below 5 or beyond the packet");
    assert_string_equal(pkt_parse_err_name(PKT_N_PARSE_ERRORS), "unknown");
    for (int i = 0; i < PKT_N_PARSE_ERRORS; i++) {
        assert_non_null(pkt_parse_err_name(i));
        assert_non_null(pkt_parse_err_text(i));
        for (int j = 0; j < i; j++) {
            assert_string_not_equal(pkt_parse_err_name(i),
                                    pkt_parse_err_name(j));
        }
    }
}

/* ---- Parsing the reference frames. ---- */

static void
assert_mac(const uint8_t *mac, const char *text)
{
    unsigned int b[6];
    uint8_t want[6];

    assert_int_equal(sscanf(text, "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2],
                            &b[3], &b[4], &b[5]),
                     6);
    for (int i = 0; i < 6; i++) {
        want[i] = (uint8_t)b[i];
    }
    assert_memory_equal(mac, want, 6);
}

static void
assert_ip6(const uint8_t *addr, const char *text)
{
    uint8_t want[16];

    assert_int_equal(inet_pton(AF_INET6, text, want), 1);
    assert_memory_equal(addr, want, 16);
}

static be32
ip4(const char *text)
{
    struct in_addr a;

    assert_int_equal(inet_pton(AF_INET, text, &a), 1);
    return a.s_addr;
}

static void
test_parse_tcp4(void **state)
{
    struct packet *p = packet_from(ref_tcp4, sizeof ref_tcp4 - 1, 3);
    const struct flow_key *k = &p->key;

    (void)state;
    assert_int_equal(p->parse_err, PKT_ERR_NONE);
    assert_int_equal(k->in_port, 3);
    assert_mac(k->dl_dst, "00:11:22:33:44:55");
    assert_mac(k->dl_src, "66:77:88:99:aa:bb");
    assert_int_equal(k->dl_type, htons(0x0800));
    assert_int_equal(k->vlan_tci, 0);
    assert_int_equal(k->nw_src, ip4("10.0.0.1"));
    assert_int_equal(k->nw_dst, ip4("10.0.0.2"));
    assert_int_equal(k->nw_proto, 6);
    assert_int_equal(k->nw_tos, 0x2a);
    assert_int_equal(k->nw_ttl, 64);
    assert_int_equal(k->nw_frag, 0);
    assert_int_equal(k->tp_src, htons(1234));
    assert_int_equal(k->tp_dst, htons(80));
    assert_int_equal(k->tcp_flags, htons(0x012));
    assert_int_equal(p->l3_ofs, 14);
    assert_int_equal(p->l4_ofs, 34);
    assert_int_equal(p->l7_ofs, 54);
    assert_int_equal(p->vlan_ofs, PACKET_OFS_NONE);
    assert_int_equal(p->n_vlans, 0);
    assert_int_equal(p->hash, pkt_key_hash(k));
    packet_destroy(p);
}

static void
test_parse_udp6(void **state)
{
    struct packet *p = packet_from(ref_udp6, sizeof ref_udp6 - 1, 1);
    const struct flow_key *k = &p->key;

    (void)state;
    assert_int_equal(p->parse_err, PKT_ERR_NONE);
    assert_int_equal(k->dl_type, htons(0x86dd));
    assert_ip6(k->ipv6_src, "2001:db8::1");
    assert_ip6(k->ipv6_dst, "2001:db8::2");
    assert_int_equal(k->nw_tos, 0xb8);
    assert_int_equal(k->ipv6_label, htonl(0x12345));
    assert_int_equal(k->nw_ttl, 17);
    assert_int_equal(k->nw_proto, 17);
    assert_int_equal(k->tp_src, htons(53));
    assert_int_equal(k->tp_dst, htons(5353));
    assert_int_equal(p->l4_ofs, 54);
    assert_int_equal(p->l7_ofs, 62);
    packet_destroy(p);
}

static void
test_parse_icmp_arp_sctp(void **state)
{
    struct packet *p;

    (void)state;
    p = packet_from(ref_icmp4, sizeof ref_icmp4 - 1, 1);
    assert_int_equal(p->parse_err, PKT_ERR_NONE);
    assert_int_equal(p->key.nw_proto, 1);
    assert_int_equal(p->key.tp_src, htons(8));
    assert_int_equal(p->key.tp_dst, htons(0));
    assert_int_equal(p->l7_ofs, 42);
    packet_destroy(p);

    p = packet_from(ref_icmp6, sizeof ref_icmp6 - 1, 1);
    assert_int_equal(p->parse_err, PKT_ERR_NONE);
    assert_int_equal(p->key.nw_proto, 58);
    assert_int_equal(p->key.tp_src, htons(128));
    assert_int_equal(p->key.tp_dst, htons(0));
    assert_ip6(p->key.ipv6_dst, "ff02::1");
    packet_destroy(p);

    p = packet_from(ref_arp, sizeof ref_arp - 1, 1);
    assert_int_equal(p->parse_err, PKT_ERR_NONE);
    assert_int_equal(p->key.dl_type, htons(0x0806));
    assert_int_equal(p->key.nw_proto, 2);
    assert_int_equal(p->key.nw_src, ip4("10.1.1.1"));
    assert_int_equal(p->key.nw_dst, ip4("10.1.1.2"));
    assert_mac(p->key.arp_sha, "66:77:88:99:aa:bb");
    assert_mac(p->key.arp_tha, "00:11:22:33:44:55");
    assert_int_equal(p->l3_ofs, 14);
    assert_int_equal(p->l4_ofs, PACKET_OFS_NONE);
    packet_destroy(p);

    p = packet_from(ref_sctp4, sizeof ref_sctp4 - 1, 1);
    assert_int_equal(p->parse_err, PKT_ERR_NONE);
    assert_int_equal(p->key.nw_proto, 132);
    assert_int_equal(p->key.tp_src, htons(5000));
    assert_int_equal(p->key.tp_dst, htons(6000));
    assert_int_equal(p->l7_ofs, 46);
    packet_destroy(p);
}

static void
test_parse_arp_big_opcode(void **state)
{
    uint8_t f[sizeof ref_arp - 1];
    struct packet *p;

    (void)state;
    /* Only a one-byte opcode fits nw_proto; OvS then leaves it 0. */
    memcpy(f, ref_arp, sizeof f);
    put16(f + 20, 0x0102);
    p = packet_from(f, sizeof f, 1);
    assert_int_equal(p->parse_err, PKT_ERR_NONE);
    assert_int_equal(p->key.nw_proto, 0);
    assert_int_equal(p->key.nw_src, ip4("10.1.1.1"));
    packet_destroy(p);
}

static void
test_parse_vlan(void **state)
{
    uint8_t f[sizeof ref_tcp4 - 1 + 4];
    struct packet *p;

    (void)state;
    p = packet_from(ref_qinq, sizeof ref_qinq - 1, 1);
    assert_int_equal(p->parse_err, PKT_ERR_NONE);
    assert_int_equal(p->n_vlans, 2);
    assert_int_equal(p->vlan_ofs, 12);
    assert_int_equal(p->key.vlan_tci, htons(0x1000 | 5 << 13 | 100));
    assert_int_equal(p->key.vlan_tci2, htons(0x1000 | 3 << 13 | 200));
    assert_int_equal(p->key.dl_type, htons(0x0800));
    assert_int_equal(p->key.nw_proto, 17);
    assert_int_equal(p->key.tp_dst, htons(2));
    assert_int_equal(p->l3_ofs, 22);
    assert_int_equal(p->l4_ofs, 42);
    packet_destroy(p);

    /* One 802.1Q tag with VID 0 and PCP 0 is still "present" (CFI). */
    memcpy(f, ref_tcp4, 12);
    put16(f + 12, 0x8100);
    put16(f + 14, 0x0000);
    memcpy(f + 16, ref_tcp4 + 12, sizeof ref_tcp4 - 1 - 12);
    p = packet_from(f, sizeof f, 1);
    assert_int_equal(p->parse_err, PKT_ERR_NONE);
    assert_int_equal(p->n_vlans, 1);
    assert_int_equal(p->key.vlan_tci, htons(0x1000));
    assert_int_equal(p->key.vlan_tci2, 0);
    assert_int_equal(p->key.tp_dst, htons(80));
    packet_destroy(p);
}

static void
test_parse_llc(void **state)
{
    uint8_t f[60];
    struct packet *p;

    (void)state;
    memcpy(f, ref_tcp4, sizeof f);
    put16(f + 12, 46); /* An 802.3 length. */
    p = packet_from(f, sizeof f, 1);
    assert_int_equal(p->parse_err, PKT_ERR_NONE);
    assert_int_equal(p->key.dl_type, htons(0x05ff));
    assert_int_equal(p->l3_ofs, PACKET_OFS_NONE);
    packet_destroy(p);
}

static void
test_parse_ip4_options(void **state)
{
    /* ref_tcp4 with 8 bytes of options (NOP NOP, then a 6-byte
     * record-route-like option) inserted after the IPv4 header. */
    uint8_t f[sizeof ref_tcp4 - 1 + 8];
    struct packet *p;

    (void)state;
    memcpy(f, ref_tcp4, 34);
    memcpy(f + 34, "\x01\x01\x07\x06\x04\x0a\x00\x00", 8);
    memcpy(f + 42, ref_tcp4 + 34, sizeof ref_tcp4 - 1 - 34);
    f[14] = 0x47;
    put16(f + 16, (uint16_t)(get16(f + 16) + 8));
    p = packet_from(f, sizeof f, 1);
    assert_int_equal(p->parse_err, PKT_ERR_NONE);
    assert_int_equal(p->l4_ofs, 42);
    assert_int_equal(p->l7_ofs, 62);
    assert_int_equal(p->key.tp_src, htons(1234));
    assert_int_equal(p->key.tp_dst, htons(80));
    packet_destroy(p);
}

static void
test_parse_ip4_padding(void **state)
{
    /* ref_frag4_first without MF: UDP in a 28-byte datagram padded to 60.
     * The padding is not part of the datagram, so a TCP header whose data
     * offset reaches into the padding is invalid. */
    uint8_t f[60];
    struct packet *p;

    (void)state;
    memcpy(f, ref_frag4_first, sizeof f);
    put16(f + 20, 0);
    p = packet_from(f, sizeof f, 1);
    assert_int_equal(p->parse_err, PKT_ERR_NONE);
    assert_int_equal(p->key.nw_frag, 0);
    assert_int_equal(p->key.tp_dst, htons(9));
    packet_destroy(p);

    memcpy(f, ref_tcp4, sizeof f);
    put16(f + 16, 20 + 20); /* 6 bytes of padding follow. */
    f[46] = 0x60;           /* 24-byte TCP header. */
    p = packet_from(f, sizeof f, 1);
    assert_int_equal(p->parse_err, PKT_ERR_TCP_BAD_OFF);
    assert_int_equal(p->key.nw_src, ip4("10.0.0.1"));
    assert_int_equal(p->key.tp_src, 0);
    packet_destroy(p);
}

static void
test_parse_ip4_fragments(void **state)
{
    uint8_t f[60];
    struct packet *p;

    (void)state;
    /* First fragment: MF, offset 0, carries the ports. */
    p = packet_from(ref_frag4_first, sizeof ref_frag4_first - 1, 1);
    assert_int_equal(p->parse_err, PKT_ERR_NONE);
    assert_int_equal(p->key.nw_frag, FLOW_NW_FRAG_ANY);
    assert_int_equal(p->key.tp_src, htons(7));
    assert_int_equal(p->key.tp_dst, htons(9));
    assert_int_equal(p->l4_ofs, 34);
    packet_destroy(p);

    /* Later fragment: the bytes after the header look like UDP but are
     * payload, so no L4 fields and no L4 offset. */
    memcpy(f, ref_frag4_first, sizeof f);
    put16(f + 20, 0x2000 | 185);
    p = packet_from(f, sizeof f, 1);
    assert_int_equal(p->parse_err, PKT_ERR_NONE);
    assert_int_equal(p->key.nw_frag, FLOW_NW_FRAG_ANY | FLOW_NW_FRAG_LATER);
    assert_int_equal(p->key.nw_proto, 17);
    assert_int_equal(p->key.tp_src, 0);
    assert_int_equal(p->key.tp_dst, 0);
    assert_int_equal(p->l3_ofs, 14);
    assert_int_equal(p->l4_ofs, PACKET_OFS_NONE);
    assert_int_equal(p->l7_ofs, PACKET_OFS_NONE);
    packet_destroy(p);

    /* The last fragment (no MF, offset != 0) is a later fragment too. */
    put16(f + 20, 185);
    p = packet_from(f, sizeof f, 1);
    assert_int_equal(p->key.nw_frag, FLOW_NW_FRAG_ANY | FLOW_NW_FRAG_LATER);
    packet_destroy(p);

    /* DF alone is not a fragment. */
    put16(f + 20, 0x4000);
    p = packet_from(f, sizeof f, 1);
    assert_int_equal(p->key.nw_frag, 0);
    assert_int_equal(p->key.tp_src, htons(7));
    packet_destroy(p);
}

/* ---- IPv6 extension headers. ---- */

#define EXT_HBH "\x00\x00\x01\x04\x00\x00\x00\x00"
#define EXT_ROUTING "\x00\x00\x00\x00\x00\x00\x00\x00"
#define EXT_FRAG_FIRST "\x00\x00\x00\x01\x12\x34\x56\x78"
#define EXT_DST "\x00\x00\x01\x04\x00\x00\x00\x00"
#define EXT_AH                                                                 \
    "\x00\x02\x00\x00\x00\x00\x01\x00\x00\x00\x00\x01\xaa\xbb\xcc\xdd"

struct ext {
    uint8_t type;      /* Next-header value naming this header. */
    const char *bytes; /* Its bytes; the first is patched. */
    size_t len;        /* Its length, bytes. */
};

/* Builds ref_udp6 with the extension headers 'exts' between the IPv6
 * header and UDP; returns the frame length. */
static size_t
build_ip6_ext(uint8_t *f, const struct ext *exts, size_t n)
{
    size_t ofs = 54;
    uint8_t *nh = f + 20;

    memcpy(f, ref_udp6, 54);
    for (size_t i = 0; i < n; i++) {
        *nh = exts[i].type;
        memcpy(f + ofs, exts[i].bytes, exts[i].len);
        nh = f + ofs;
        ofs += exts[i].len;
    }
    *nh = 17;
    memcpy(f + ofs, ref_udp6 + 54, 8);
    ofs += 8;
    put16(f + 18, (uint16_t)(ofs - 54));
    return ofs;
}

static void
test_parse_ip6_ext(void **state)
{
    static const struct ext all[] = {
        {0, EXT_HBH, 8},         {60, EXT_DST, 8}, {43, EXT_ROUTING, 8},
        {44, EXT_FRAG_FIRST, 8}, {51, EXT_AH, 16}, {60, EXT_DST, 8},
    };
    uint8_t f[256];
    size_t len;
    struct packet *p;

    (void)state;
    /* Each kind alone, then all of them in a chain. */
    for (size_t i = 0; i <= ARRAY_SIZE(all); i++) {
        size_t n = i < ARRAY_SIZE(all) ? 1 : ARRAY_SIZE(all);
        const struct ext *e = i < ARRAY_SIZE(all) ? &all[i] : all;
        size_t ext_len = 0;

        for (size_t j = 0; j < n; j++) {
            ext_len += e[j].len;
        }
        len = build_ip6_ext(f, e, n);
        p = packet_from(f, len, 1);
        assert_int_equal(p->parse_err, PKT_ERR_NONE);
        assert_int_equal(p->key.nw_proto, 17);
        assert_int_equal(p->key.tp_src, htons(53));
        assert_int_equal(p->key.tp_dst, htons(5353));
        assert_int_equal(p->l4_ofs, 54 + ext_len);
        bool frag = false;
        for (size_t j = 0; j < n; j++) {
            frag |= e[j].type == 44;
        }
        assert_int_equal(p->key.nw_frag, frag ? FLOW_NW_FRAG_ANY : 0);
        packet_destroy(p);
    }

    /* A later fragment stops at the fragment header. */
    p = packet_from(ref_frag6_later, sizeof ref_frag6_later - 1, 1);
    assert_int_equal(p->parse_err, PKT_ERR_NONE);
    assert_int_equal(p->key.nw_frag, FLOW_NW_FRAG_ANY | FLOW_NW_FRAG_LATER);
    assert_int_equal(p->key.nw_proto, 6);
    assert_int_equal(p->l4_ofs, PACKET_OFS_NONE);
    assert_int_equal(p->key.tp_src, 0);
    packet_destroy(p);
}

static void
test_parse_ip6_ext_limit(void **state)
{
    struct ext dst[9];
    uint8_t f[256];
    struct packet *p;

    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(dst); i++) {
        dst[i] = (struct ext){60, EXT_DST, 8};
    }
    p = packet_from(f, build_ip6_ext(f, dst, 8), 1);
    assert_int_equal(p->parse_err, PKT_ERR_NONE);
    assert_int_equal(p->key.tp_dst, htons(5353));
    packet_destroy(p);

    p = packet_from(f, build_ip6_ext(f, dst, 9), 1);
    assert_int_equal(p->parse_err, PKT_ERR_IP6_EXT_TOO_MANY);
    assert_int_equal(p->key.tp_dst, 0);
    assert_int_equal(p->l4_ofs, PACKET_OFS_NONE);
    assert_ip6(p->key.ipv6_src, "2001:db8::1");
    packet_destroy(p);
}

/* ---- One test per parse-error reason. ---- */

static uint8_t ext9_frame[256];
static size_t ext9_len;

struct err_case {
    enum pkt_parse_err err; /* Expected reason. */
    const uint8_t *base;    /* Valid frame to break. */
    size_t base_len;        /* Its length, bytes. */
    size_t len;             /* Truncate to this length; 0 keeps. */
    uint16_t ofs[2];        /* Where to patch (0 = no patch). */
    uint16_t val[2];        /* Big-endian 16-bit values to write. */
    uint16_t dl_type;       /* Expected dl_type (host order). */
    bool l3;                /* L3 fields expected in the key. */
    char name[40];          /* Test name, filled in main(). */
};

#define ERR_CASE(ERR, BASE, LEN, O1, V1, O2, V2, TYPE, L3)                     \
    {                                                                          \
        PKT_ERR_##ERR, BASE, sizeof BASE - 1, LEN, {O1, O2}, {V1, V2}, TYPE,   \
            L3, ""                                                             \
    }

static struct err_case err_cases[] = {
    ERR_CASE(ETH_SHORT, ref_tcp4, 13, 0, 0, 0, 0, 0, false),
    ERR_CASE(VLAN_SHORT, ref_tcp4, 16, 12, 0x8100, 0, 0, 0x8100, false),
    ERR_CASE(VLAN_SHORT, ref_qinq, 20, 0, 0, 0, 0, 0x8100, false),
    ERR_CASE(VLAN_TOO_MANY, ref_qinq, 0, 20, 0x8100, 0, 0, 0x8100, false),
    ERR_CASE(ARP_SHORT, ref_arp, 41, 0, 0, 0, 0, 0x0806, false),
    ERR_CASE(ARP_BAD, ref_arp, 0, 18, 0x0804, 0, 0, 0x0806, false),
    ERR_CASE(ARP_BAD, ref_arp, 0, 16, 0x86dd, 0, 0, 0x0806, false),
    ERR_CASE(IP4_SHORT, ref_tcp4, 33, 0, 0, 0, 0, 0x0800, false),
    ERR_CASE(IP4_BAD_VERSION, ref_tcp4, 0, 14, 0x652a, 0, 0, 0x0800, false),
    ERR_CASE(IP4_BAD_IHL, ref_tcp4, 0, 14, 0x442a, 0, 0, 0x0800, false),
    ERR_CASE(IP4_OPTS_SHORT, ref_tcp4, 0, 14, 0x4f2a, 0, 0, 0x0800, false),
    ERR_CASE(IP4_BAD_LEN, ref_tcp4, 0, 16, 0xffff, 0, 0, 0x0800, false),
    ERR_CASE(IP4_BAD_LEN, ref_tcp4, 0, 16, 0x0013, 0, 0, 0x0800, false),
    ERR_CASE(IP4_BAD_LEN, ref_tcp4, 50, 0, 0, 0, 0, 0x0800, false),
    ERR_CASE(IP6_SHORT, ref_udp6, 53, 0, 0, 0, 0, 0x86dd, false),
    ERR_CASE(IP6_BAD_VERSION, ref_udp6, 0, 14, 0x4b81, 0, 0, 0x86dd, false),
    ERR_CASE(IP6_BAD_LEN, ref_udp6, 0, 18, 0x0009, 0, 0, 0x86dd, false),
    ERR_CASE(IP6_EXT_SHORT, ref_udp6, 0, 20, 0x0011, 0, 0, 0x86dd, true),
    ERR_CASE(IP6_EXT_SHORT, ref_udp6, 0, 20, 0x2c11, 18, 0x0004, 0x86dd, true),
    {PKT_ERR_IP6_EXT_TOO_MANY,
     ext9_frame,
     0,
     0,
     {0, 0},
     {0, 0},
     0x86dd,
     true,
     ""},
    ERR_CASE(TCP_SHORT, ref_tcp4, 0, 16, 0x0027, 0, 0, 0x0800, true),
    ERR_CASE(TCP_BAD_OFF, ref_tcp4, 0, 46, 0x4012, 0, 0, 0x0800, true),
    ERR_CASE(TCP_BAD_OFF, ref_tcp4, 0, 46, 0xf012, 0, 0, 0x0800, true),
    ERR_CASE(UDP_SHORT, ref_udp6, 0, 18, 0x0007, 0, 0, 0x86dd, true),
    ERR_CASE(SCTP_SHORT, ref_sctp4, 0, 16, 0x001f, 0, 0, 0x0800, true),
    ERR_CASE(ICMP_SHORT, ref_icmp4, 0, 16, 0x001b, 0, 0, 0x0800, true),
    ERR_CASE(ICMP6_SHORT, ref_icmp6, 0, 18, 0x0003, 0, 0, 0x86dd, true),
};

static void
test_parse_error_case(void **state)
{
    const struct err_case *c = *state;
    size_t len = c->len ? c->len : c->base_len;
    uint8_t f[256];
    struct packet *p;
    static const uint8_t zero16[16];

    memcpy(f, c->base, c->base_len);
    for (int i = 0; i < 2; i++) {
        if (c->ofs[i]) {
            put16(f + c->ofs[i], c->val[i]);
        }
    }
    p = packet_from(f, len, 9);
    if (p->parse_err != c->err) {
        fail_msg("got %s, want %s", pkt_parse_err_name(p->parse_err),
                 pkt_parse_err_name(c->err));
    }
    assert_int_equal(p->key.in_port, 9);
    assert_int_equal(p->key.dl_type, htons(c->dl_type));
    if (len >= 14) {
        assert_memory_equal(p->key.dl_dst, f, 6);
        assert_memory_equal(p->key.dl_src, f + 6, 6);
    }
    if (c->l3) {
        assert_int_not_equal(p->l3_ofs, PACKET_OFS_NONE);
        if (c->dl_type == 0x0800) {
            assert_memory_equal(&p->key.nw_src, f + p->l3_ofs + 12, 4);
            assert_int_equal(p->key.nw_ttl, f[p->l3_ofs + 8]);
        } else {
            assert_memory_equal(p->key.ipv6_src, f + p->l3_ofs + 8, 16);
        }
    } else {
        assert_int_equal(p->l3_ofs, PACKET_OFS_NONE);
        assert_int_equal(p->key.nw_src, 0);
        assert_int_equal(p->key.nw_proto, 0);
        assert_memory_equal(p->key.ipv6_src, zero16, 16);
    }
    assert_int_equal(p->l4_ofs, PACKET_OFS_NONE);
    assert_int_equal(p->l7_ofs, PACKET_OFS_NONE);
    assert_int_equal(p->key.tp_src, 0);
    assert_int_equal(p->key.tp_dst, 0);
    assert_int_equal(p->hash, pkt_key_hash(&p->key));
    packet_destroy(p);
}

/* ---- Truncation at every length, into exactly-sized buffers. ---- */

static void
check_truncations(const uint8_t *frame, size_t full)
{
    struct packet *whole = packet_from(frame, full, 1);

    for (size_t len = 0; len <= full; len++) {
        uint8_t *copy = malloc(len ? len : 1);
        struct packet *p;

        memcpy(copy, frame, len);
        p = packet_from(copy, len, 1);
        free(copy);
        assert_true(p->parse_err < PKT_N_PARSE_ERRORS);
        if (len < 14) {
            assert_int_equal(p->parse_err, PKT_ERR_ETH_SHORT);
        } else {
            assert_memory_equal(p->key.dl_src, whole->key.dl_src, 6);
        }
        if (p->l7_ofs != PACKET_OFS_NONE) {
            assert_true(p->l7_ofs <= len);
            assert_true(p->l4_ofs < p->l7_ofs);
        }
        if (p->l3_ofs != PACKET_OFS_NONE) {
            assert_true(p->l3_ofs < len);
        }
        packet_destroy(p);
    }
    packet_destroy(whole);
}

static void
test_parse_truncated(void **state)
{
    uint8_t f[256];

    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(ref_frames); i++) {
        check_truncations(ref_frames[i].data, ref_frames[i].len);
    }
    check_truncations(ext9_frame, ext9_len);
    {
        static const struct ext all[] = {
            {0, EXT_HBH, 8},  {43, EXT_ROUTING, 8}, {44, EXT_FRAG_FIRST, 8},
            {51, EXT_AH, 16}, {60, EXT_DST, 8},
        };
        check_truncations(f, build_ip6_ext(f, all, ARRAY_SIZE(all)));
    }
    rng_seed(5);
    for (int i = 0; i < 200; i++) {
        struct packet *p = random_packet();
        check_truncations(packet_data(p), p->len);
        packet_destroy(p);
    }
}

/* ---- The parser's fast path against its general path. ---- */

/* Parses 'len' bytes of 'frame' with pkt_parse() (fast path first) and
 * with pkt_parse_general(); everything they report must be equal.  Returns
 * whether the result is the fast path's shape (untagged IPv4 without
 * options, TCP or UDP parsed), so that callers can prove they reached it. */
static bool
check_fast_vs_general(const uint8_t *frame, size_t len)
{
    struct packet *p = packet_new(0), *q = packet_new(0);
    bool fast_shape;

    packet_set_data(p, frame, (uint32_t)len);
    packet_set_data(q, frame, (uint32_t)len);
    p->in_port = q->in_port = 7;
    pkt_parse(p);
    pkt_parse_general(q);
    assert_same_parse(p, q, "the general parse");
    fast_shape = q->parse_err == PKT_ERR_NONE && q->n_vlans == 0 &&
                 q->l3_ofs == 14 && q->l4_ofs == 34 &&
                 (q->key.nw_proto == 6 || q->key.nw_proto == 17) &&
                 q->key.dl_type == htons(0x0800);
    packet_destroy(p);
    packet_destroy(q);
    return fast_shape;
}

/* Every header byte of 'frame' set to values that flip the fast path's
 * tests (type, version/IHL, fragment bits, lengths, protocol, TCP data
 * offset), each at every length from 40 bytes to the whole frame. */
static unsigned int
check_fast_mutations(const uint8_t *frame, size_t full)
{
    static const uint8_t values[] = {0x00, 0x01, 0x05, 0x06, 0x08, 0x11,
                                     0x14, 0x1f, 0x20, 0x28, 0x3f, 0x40,
                                     0x44, 0x45, 0x46, 0x4f, 0x50, 0x55,
                                     0x60, 0x81, 0xf0, 0xff};
    uint8_t f[512];
    unsigned int n_fast = 0;

    assert_true(full <= sizeof f);
    for (size_t pos = 12; pos < MIN(full, (size_t)54); pos++) {
        for (size_t v = 0; v < ARRAY_SIZE(values); v++) {
            memcpy(f, frame, full);
            f[pos] = values[v];
            for (size_t len = 40; len <= full; len++) {
                n_fast += check_fast_vs_general(f, len);
            }
        }
    }
    return n_fast;
}

static void
test_parse_fast_path(void **state)
{
    unsigned int n_fast = 0, n_udp_fast = 0;

    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(ref_frames); i++) {
        n_fast += check_fast_mutations(ref_frames[i].data, ref_frames[i].len);
    }
    rng_seed(17);
    for (int i = 0; i < 60; i++) {
        struct packet *p = random_packet();

        if (p->len <= 512) {
            unsigned int n = check_fast_mutations(packet_data(p), p->len);

            n_fast += n;
            n_udp_fast += p->key.nw_proto == 17 ? n : 0;
        }
        packet_destroy(p);
    }
    /* The mutations must have reached the fast path's shape often, for TCP
     * and for UDP, or this test proves nothing. */
    print_message("fast-path shape reached %u times (UDP %u)\n", n_fast,
                  n_udp_fast);
    assert_true(n_fast > 1000);
    assert_true(n_udp_fast > 100);
}

/* ---- Rewrites on random packets. ---- */

enum op {
    OP_DL_SRC,
    OP_DL_DST,
    OP_NW_SRC,
    OP_NW_DST,
    OP_IPV6_SRC,
    OP_IPV6_DST,
    OP_NW_TOS,
    OP_NW_TTL,
    OP_TP_SRC,
    OP_TP_DST,
    OP_DEC_TTL,
    OP_PUSH_VLAN,
    OP_POP_VLAN,
    OP_VLAN_VID,
    OP_VLAN_PCP,
    OP_ARP_OP,
    OP_ARP_SPA,
    OP_ARP_TPA,
    OP_ARP_SHA,
    OP_ARP_THA,
    OP_ICMP_TYPE,
    OP_ICMP_CODE,
    OP_IPV6_LABEL,
    N_OPS
};

static bool
l4_is(const struct packet *p, uint8_t proto)
{
    return p->key.nw_proto == proto && p->l4_ofs != PACKET_OFS_NONE;
}

/* Whether 'op' must succeed on 'p' (else it must return -EINVAL). */
static bool
op_applies(const struct packet *p, enum op op)
{
    switch (op) {
    case OP_DL_SRC:
    case OP_DL_DST:
    case OP_PUSH_VLAN:
    case OP_VLAN_VID:
    case OP_VLAN_PCP:
        return true;
    case OP_NW_SRC:
    case OP_NW_DST:
        return is_ip4(p);
    case OP_IPV6_SRC:
    case OP_IPV6_DST:
    case OP_IPV6_LABEL:
        return is_ip6(p);
    case OP_NW_TOS:
    case OP_NW_TTL:
    case OP_DEC_TTL:
        return is_ip4(p) || is_ip6(p);
    case OP_TP_SRC:
    case OP_TP_DST:
        return l4_is(p, 6) || l4_is(p, 17) || l4_is(p, 132);
    case OP_POP_VLAN:
        return p->n_vlans > 0;
    case OP_ARP_OP:
    case OP_ARP_SPA:
    case OP_ARP_TPA:
    case OP_ARP_SHA:
    case OP_ARP_THA:
        return p->key.dl_type == htons(0x0806);
    case OP_ICMP_TYPE:
    case OP_ICMP_CODE:
        return (is_ip4(p) && l4_is(p, 1)) || (is_ip6(p) && l4_is(p, 58));
    default:
        return false;
    }
}

/* Applies 'op' with a random value to 'p' and the expected change to
 * 'want'.  Returns the setter's result. */
static int
apply_op(struct packet *p, enum op op, struct flow_key *want)
{
    uint8_t mac[6], a6[16];
    uint32_t v = rng_u32();
    int rc;

    rng_bytes(mac, 6);
    rng_bytes(a6, 16);
    switch (op) {
    case OP_DL_SRC:
        memcpy(want->dl_src, mac, 6);
        return pkt_set_dl_src(p, mac);
    case OP_DL_DST:
        memcpy(want->dl_dst, mac, 6);
        return pkt_set_dl_dst(p, mac);
    case OP_NW_SRC:
        want->nw_src = v;
        return pkt_set_nw_src(p, v);
    case OP_NW_DST:
        want->nw_dst = v;
        return pkt_set_nw_dst(p, v);
    case OP_IPV6_SRC:
        memcpy(want->ipv6_src, a6, 16);
        return pkt_set_ipv6_src(p, a6);
    case OP_IPV6_DST:
        memcpy(want->ipv6_dst, a6, 16);
        return pkt_set_ipv6_dst(p, a6);
    case OP_NW_TOS:
        want->nw_tos = (uint8_t)v;
        return pkt_set_nw_tos(p, (uint8_t)v);
    case OP_NW_TTL:
        want->nw_ttl = (uint8_t)v;
        return pkt_set_nw_ttl(p, (uint8_t)v);
    case OP_TP_SRC:
        want->tp_src = (be16)v;
        return pkt_set_tp_src(p, (be16)v);
    case OP_TP_DST:
        want->tp_dst = (be16)v;
        return pkt_set_tp_dst(p, (be16)v);
    case OP_DEC_TTL:
        rc = pkt_dec_ttl(p);
        if (rc == 0) {
            want->nw_ttl--;
        }
        return rc;
    case OP_PUSH_VLAN:
        want->vlan_tci2 = want->vlan_tci;
        want->vlan_tci = htons((uint16_t)v | VLAN_CFI);
        return pkt_push_vlan(p, htons(v & 0x10000 ? 0x88a8 : 0x8100),
                             htons((uint16_t)v));
    case OP_POP_VLAN:
        want->vlan_tci = want->vlan_tci2;
        want->vlan_tci2 = 0;
        return pkt_pop_vlan(p);
    case OP_VLAN_VID:
        if (!(want->vlan_tci & htons(VLAN_CFI))) {
            want->vlan_tci2 = 0;
            want->vlan_tci = htons(VLAN_CFI);
        }
        want->vlan_tci = htons((ntohs(want->vlan_tci) & ~VLAN_VID_MASK) |
                               (v & VLAN_VID_MASK));
        return pkt_set_vlan_vid(p, (uint16_t)(v & VLAN_VID_MASK));
    case OP_VLAN_PCP:
        if (!(want->vlan_tci & htons(VLAN_CFI))) {
            want->vlan_tci2 = 0;
            want->vlan_tci = htons(VLAN_CFI);
        }
        want->vlan_tci = htons((ntohs(want->vlan_tci) & ~VLAN_PCP_MASK) |
                               (v & 7) << VLAN_PCP_SHIFT);
        return pkt_set_vlan_pcp(p, (uint8_t)(v & 7));
    case OP_ARP_OP:
        /* Half the time an opcode too big for nw_proto. */
        v = v & 1 ? v & 0xffff : v & 0xff;
        want->nw_proto = v <= 0xff ? (uint8_t)v : 0;
        return pkt_set_arp_op(p, (uint16_t)v);
    case OP_ARP_SPA:
        want->nw_src = v;
        return pkt_set_arp_spa(p, v);
    case OP_ARP_TPA:
        want->nw_dst = v;
        return pkt_set_arp_tpa(p, v);
    case OP_ARP_SHA:
        memcpy(want->arp_sha, mac, 6);
        return pkt_set_arp_sha(p, mac);
    case OP_ARP_THA:
        memcpy(want->arp_tha, mac, 6);
        return pkt_set_arp_tha(p, mac);
    case OP_ICMP_TYPE:
        want->tp_src = htons(v & 0xff);
        return pkt_set_icmp_type(p, (uint8_t)v);
    case OP_ICMP_CODE:
        want->tp_dst = htons(v & 0xff);
        return pkt_set_icmp_code(p, (uint8_t)v);
    case OP_IPV6_LABEL:
        want->ipv6_label = htonl(v & 0xfffff);
        return pkt_set_ipv6_label(p, v);
    default:
        fail();
    }
    return -1;
}

static void
test_rewrite_random(void **state)
{
    int counts[N_OPS][2];

    (void)state;
    memset(counts, 0, sizeof counts);
    rng_seed(42);
    for (int i = 0; i < 300 * N_OPS; i++) {
        enum op op = (enum op)(i % N_OPS);
        struct packet *p = random_packet();
        struct packet *before;
        struct flow_key want;
        bool udp_zero = false;
        int rc;

        /* A quarter of UDP-over-IPv4 packets carry no checksum. */
        if (is_ip4(p) && l4_is(p, 17) && rng_u32() % 4 == 0) {
            put16(packet_data(p) + p->l4_ofs + 6, 0);
            udp_zero = true;
        }
        before = packet_clone(p);
        want = p->key;
        rc = apply_op(p, op, &want);
        if (!op_applies(before, op)) {
            assert_int_equal(rc, -EINVAL);
            assert_int_equal(p->len, before->len);
            assert_memory_equal(packet_data(p), packet_data(before), p->len);
            assert_memory_equal(&p->key, &before->key, sizeof p->key);
        } else if (op == OP_DEC_TTL && before->key.nw_ttl <= 1) {
            assert_int_equal(rc, 1);
            assert_memory_equal(packet_data(p), packet_data(before), p->len);
        } else {
            assert_int_equal(rc, 0);
            assert_csums(p, udp_zero);
            assert_parse_consistent(p);
            /* A third tag is beyond what the key holds: the re-parse
             * (checked above) is then the whole truth. */
            if (!(op == OP_PUSH_VLAN && before->n_vlans == 2) &&
                memcmp(&p->key, &want, sizeof want)) {
                fail_msg("op %d: key is not the expected one", op);
            }
            counts[op][1]++;
        }
        counts[op][0]++;
        packet_destroy(before);
        packet_destroy(p);
    }
    /* Every rewrite really ran: the protocol-specific ones apply to a
     * fraction of the random packets, but still to dozens. */
    for (int op = 0; op < N_OPS; op++) {
        assert_true(counts[op][1] >= 20);
    }
}

static void
test_rewrite_udp_zero_csum(void **state)
{
    uint8_t f[60];
    struct packet *p;

    (void)state;
    memcpy(f, ref_qinq, sizeof f);
    put16(f + 48, 0); /* UDP checksum: none. */
    p = packet_from(f, sizeof f, 1);
    assert_int_equal(pkt_set_nw_src(p, ip4("9.9.9.9")), 0);
    assert_int_equal(pkt_set_tp_dst(p, htons(4242)), 0);
    assert_int_equal(get16(packet_data(p) + p->l4_ofs + 6), 0);
    assert_csums(p, true);
    packet_destroy(p);
}

static void
test_rewrite_udp_csum_never_zero(void **state)
{
    /* Every destination port once: some of them make the one's-complement
     * sum come out as zero, which UDP must send as 0xffff. */
    struct packet *p = packet_from(ref_udp6, sizeof ref_udp6 - 1, 1);

    (void)state;
    for (uint32_t port = 0; port <= 0xffff; port++) {
        assert_int_equal(pkt_set_tp_dst(p, htons((uint16_t)port)), 0);
        assert_int_not_equal(get16(packet_data(p) + p->l4_ofs + 6), 0);
        assert_true(csum_verifies(l4_data_sum(p),
                                  get16(packet_data(p) + p->l4_ofs + 6)));
    }
    packet_destroy(p);
}

static void
test_rewrite_icmp_all_zero(void **state)
{
    /* An echo reply with identifier and sequence 0 is all zero but for its
     * checksum, which must then be 0xffff, not 0x0000. */
    struct packet *p = packet_from(ref_icmp4, sizeof ref_icmp4 - 1, 1);

    (void)state;
    assert_int_equal(pkt_set_icmp_type(p, 0), 0);
    assert_int_equal(get16(packet_data(p) + p->l4_ofs + 2), 0xffff);
    assert_csums(p, false);
    assert_int_equal(pkt_set_icmp_code(p, 3), 0);
    assert_csums(p, false);
    packet_destroy(p);
}

static void
test_rewrite_sctp_keeps_bad_crc(void **state)
{
    uint8_t f[60];
    struct packet *p;
    uint32_t le;

    (void)state;
    memcpy(f, ref_sctp4, sizeof f);
    f[43] ^= 0x5a; /* Corrupt the CRC. */
    p = packet_from(f, sizeof f, 1);
    assert_int_equal(pkt_set_tp_src(p, htons(1)), 0);
    memcpy(&le, packet_data(p) + 42, 4);
    assert_int_equal(le32toh(le) ^ (0x5au << 8), l4_expected_csum(p));
    packet_destroy(p);
}

static void
test_rewrite_ip6_routing_header(void **state)
{
    /* RH0 with one address and segments left 1: the pseudo-header holds
     * the final destination, so changing the current destination must not
     * touch the UDP checksum; with segments left 0 it must. */
    static const char rh[] = "\x00\x02\x00\x01\x00\x00\x00\x00"
                             "\x20\x01\x0d\xb8\x00\x00\x00\x00"
                             "\x00\x00\x00\x00\x00\x00\x00\x09";
    struct ext e = {43, rh, 24};
    uint8_t f[256], addr[16];
    size_t len = build_ip6_ext(f, &e, 1);
    struct packet *p;
    uint16_t csum;

    (void)state;
    assert_int_equal(inet_pton(AF_INET6, "2001:db8::77", addr), 1);
    p = packet_from(f, len, 1);
    assert_int_equal(p->parse_err, PKT_ERR_NONE);
    csum = get16(packet_data(p) + p->l4_ofs + 6);
    assert_int_equal(pkt_set_ipv6_dst(p, addr), 0);
    assert_int_equal(get16(packet_data(p) + p->l4_ofs + 6), csum);
    packet_destroy(p);

    f[54 + 3] = 0;
    p = packet_from(f, len, 1);
    fix_csums(p);
    assert_int_equal(pkt_set_ipv6_dst(p, addr), 0);
    assert_csums(p, false);
    packet_destroy(p);
}

static void
test_rewrite_vlan(void **state)
{
    struct packet *p;
    uint8_t *d;

    (void)state;
    /* mod_vlan_vid on an untagged frame pushes an 802.1Q tag. */
    p = packet_from(ref_tcp4, sizeof ref_tcp4 - 1, 1);
    assert_int_equal(pkt_pop_vlan(p), -EINVAL);
    assert_int_equal(pkt_set_vlan_vid(p, 42), 0);
    d = packet_data(p);
    assert_int_equal(get16(d + 12), 0x8100);
    assert_int_equal(get16(d + 14), 42);
    assert_int_equal(p->key.vlan_tci, htons(VLAN_CFI | 42));
    assert_int_equal(p->l4_ofs, 38);
    assert_parse_consistent(p);
    assert_int_equal(pkt_set_vlan_pcp(p, 6), 0);
    assert_int_equal(get16(packet_data(p) + 14), 6 << 13 | 42);
    assert_int_equal(pkt_pop_vlan(p), 0);
    assert_int_equal(p->len, sizeof ref_tcp4 - 1);
    assert_memory_equal(packet_data(p), ref_tcp4, p->len);
    assert_parse_consistent(p);
    packet_destroy(p);

    /* Popping the outer tag of a triple-tagged frame re-parses it. */
    {
        uint8_t f[64];
        memcpy(f, ref_qinq, 20);
        put16(f + 20, 0x8100);
        put16(f + 22, 7);
        memcpy(f + 24, ref_qinq + 20, 40);
        p = packet_from(f, sizeof f, 1);
        assert_int_equal(p->parse_err, PKT_ERR_VLAN_TOO_MANY);
        assert_int_equal(pkt_pop_vlan(p), 0);
        assert_int_equal(p->parse_err, PKT_ERR_NONE);
        assert_int_equal(p->key.vlan_tci, htons(VLAN_CFI | 3 << 13 | 200));
        assert_int_equal(p->key.vlan_tci2, htons(VLAN_CFI | 7));
        assert_int_equal(p->key.tp_dst, htons(2));
        packet_destroy(p);
    }
}

static void
test_rewrite_no_headroom(void **state)
{
    struct packet *p = packet_new(128);
    size_t len = sizeof ref_tcp4 - 1;
    uint8_t *front;

    (void)state;
    /* Move the frame to 2 bytes from the buffer start. */
    front = packet_push(p, PACKET_HEADROOM - 2);
    assert_non_null(front);
    memcpy(front, ref_tcp4, len);
    assert_int_equal(packet_trim_tail(p, p->len - len), 0);
    pkt_parse(p);
    assert_int_equal(p->parse_err, PKT_ERR_NONE);
    assert_int_equal(pkt_push_vlan(p, htons(0x8100), htons(5)), -ENOSPC);
    assert_int_equal(pkt_set_vlan_vid(p, 5), -ENOSPC);
    assert_memory_equal(packet_data(p), ref_tcp4, len);
    assert_int_equal(pkt_push_vlan(p, htons(0x0800), htons(5)), -EINVAL);
    packet_destroy(p);
}

static void
test_dec_ttl(void **state)
{
    struct packet *p;

    (void)state;
    p = packet_from(ref_icmp4, sizeof ref_icmp4 - 1, 1);
    assert_int_equal(p->key.nw_ttl, 1);
    assert_int_equal(pkt_dec_ttl(p), 1);
    assert_int_equal(p->key.nw_ttl, 1);
    assert_int_equal(pkt_set_nw_ttl(p, 0), 0);
    assert_int_equal(pkt_dec_ttl(p), 1);
    assert_int_equal(pkt_set_nw_ttl(p, 2), 0);
    assert_int_equal(pkt_dec_ttl(p), 0);
    assert_int_equal(p->key.nw_ttl, 1);
    assert_int_equal(packet_data(p)[22], 1);
    assert_csums(p, false);
    packet_destroy(p);

    p = packet_from(ref_udp6, sizeof ref_udp6 - 1, 1);
    assert_int_equal(pkt_dec_ttl(p), 0);
    assert_int_equal(packet_data(p)[21], 16);
    packet_destroy(p);

    p = packet_from(ref_arp, sizeof ref_arp - 1, 1);
    assert_int_equal(pkt_dec_ttl(p), -EINVAL);
    assert_int_equal(pkt_set_nw_src(p, 1), -EINVAL);
    assert_int_equal(pkt_set_tp_src(p, 1), -EINVAL);
    packet_destroy(p);
}

/* ---- Composition. ---- */

static void
test_compose_matches_scapy(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(ref_frames); i++) {
        const struct ref_frame *r = &ref_frames[i];
        struct packet *p = packet_from(r->data, r->len, 4);
        struct packet *q = packet_new(PACKET_DEFAULT_SIZE);

        assert_int_equal(p->parse_err, PKT_ERR_NONE);
        pkt_compose(q, &p->key);
        if (q->len != r->len || memcmp(packet_data(q), r->data, r->len)) {
            fail_msg("composed %s differs from scapy's", r->name);
        }
        assert_int_equal(q->in_port, 4);
        assert_memory_equal(&q->key, &p->key, sizeof q->key);
        packet_destroy(p);
        packet_destroy(q);
    }
}

static void
test_compose_round_trip(void **state)
{
    struct packet *p = packet_new(64);

    (void)state;
    rng_seed(7);
    for (int i = 0; i < 2000; i++) {
        struct flow_key k;

        random_key(&k);
        pkt_compose(p, &k);
        assert_int_equal(p->parse_err, PKT_ERR_NONE);
        assert_true(p->len >= 60);
        if (memcmp(&p->key, &k, sizeof k)) {
            fail_msg("round trip %d changed the key", i);
        }
        assert_int_equal(p->hash, pkt_key_hash(&k));
        assert_csums(p, false);
    }
    packet_destroy(p);
}

static void
test_parse_batch(void **state)
{
    struct packet_batch b;
    struct packet *pkts[PACKET_BATCH_MAX];

    (void)state;
    packet_batch_init(&b);
    for (size_t i = 0; i < PACKET_BATCH_MAX; i++) {
        const struct ref_frame *r = &ref_frames[i % ARRAY_SIZE(ref_frames)];
        pkts[i] = packet_new(0);
        packet_set_data(pkts[i], r->data, (uint32_t)r->len);
        pkts[i]->in_port = (uint32_t)i;
        packet_batch_add(&b, pkts[i]);
    }
    pkt_parse_batch(&b);
    for (size_t i = 0; i < PACKET_BATCH_MAX; i++) {
        assert_int_equal(pkts[i]->parse_err, PKT_ERR_NONE);
        assert_int_equal(pkts[i]->key.in_port, i);
        assert_parse_consistent(pkts[i]);
        packet_destroy(pkts[i]);
    }
}

int
main(void)
{
    static const struct CMUnitTest fixed[] = {
        cmocka_unit_test(test_packet_buffer),
        cmocka_unit_test(test_packet_pool),
        cmocka_unit_test(test_csum_vectors),
        cmocka_unit_test(test_csum_update_random),
        cmocka_unit_test(test_err_names),
        cmocka_unit_test(test_parse_tcp4),
        cmocka_unit_test(test_parse_udp6),
        cmocka_unit_test(test_parse_icmp_arp_sctp),
        cmocka_unit_test(test_parse_arp_big_opcode),
        cmocka_unit_test(test_parse_vlan),
        cmocka_unit_test(test_parse_llc),
        cmocka_unit_test(test_parse_ip4_options),
        cmocka_unit_test(test_parse_ip4_padding),
        cmocka_unit_test(test_parse_ip4_fragments),
        cmocka_unit_test(test_parse_ip6_ext),
        cmocka_unit_test(test_parse_ip6_ext_limit),
        cmocka_unit_test(test_parse_truncated),
        cmocka_unit_test(test_parse_fast_path),
        cmocka_unit_test(test_parse_batch),
        cmocka_unit_test(test_rewrite_random),
        cmocka_unit_test(test_rewrite_udp_zero_csum),
        cmocka_unit_test(test_rewrite_udp_csum_never_zero),
        cmocka_unit_test(test_rewrite_icmp_all_zero),
        cmocka_unit_test(test_rewrite_sctp_keeps_bad_crc),
        cmocka_unit_test(test_rewrite_ip6_routing_header),
        cmocka_unit_test(test_rewrite_vlan),
        cmocka_unit_test(test_rewrite_no_headroom),
        cmocka_unit_test(test_dec_ttl),
        cmocka_unit_test(test_compose_matches_scapy),
        cmocka_unit_test(test_compose_round_trip),
    };
    struct CMUnitTest tests[ARRAY_SIZE(fixed) + ARRAY_SIZE(err_cases)];
    int covered[PKT_N_PARSE_ERRORS] = {[PKT_ERR_NONE] = 1};
    struct ext dst[9];
    size_t n = 0;

    for (size_t i = 0; i < ARRAY_SIZE(dst); i++) {
        dst[i] = (struct ext){60, EXT_DST, 8};
    }
    ext9_len = build_ip6_ext(ext9_frame, dst, ARRAY_SIZE(dst));

    for (size_t i = 0; i < ARRAY_SIZE(fixed); i++) {
        tests[n++] = fixed[i];
    }
    for (size_t i = 0; i < ARRAY_SIZE(err_cases); i++) {
        struct err_case *c = &err_cases[i];

        if (c->base == ext9_frame) {
            c->base_len = ext9_len;
        }
        if (covered[c->err]++) {
            snprintf(c->name, sizeof c->name, "parse_err_%s_%d",
                     pkt_parse_err_name(c->err), covered[c->err]);
        } else {
            snprintf(c->name, sizeof c->name, "parse_err_%s",
                     pkt_parse_err_name(c->err));
        }
        tests[n++] =
            (struct CMUnitTest){c->name, test_parse_error_case, NULL, NULL, c};
    }
    for (int i = 0; i < PKT_N_PARSE_ERRORS; i++) {
        if (!covered[i]) {
            fprintf(stderr, "no test for parse error %s\n",
                    pkt_parse_err_name(i));
            return 1;
        }
    }
    return _cmocka_run_group_tests("pkt", tests, n, NULL, NULL);
}
