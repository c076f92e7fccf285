/* Unit tests for src/port/offload.c: checksum completion and GSO
 * segmentation of crafted super-frames, checked against a reference built
 * here independently (headers patched field by field, checksums computed
 * from scratch with pkt's csum_partial()), for IPv4 with and without
 * options, IPv6 with an extension header, VLAN tags, TCP options,
 * FIN/PSH/CWR placement, odd sizes, UDP segmentation, recognising the
 * checksum-partial form in frames without metadata, and bad input. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <linux/virtio_net.h>

#include "core/util.h"
#include "pkt/pkt.h"
#include "port/offload.h"

/* How to build one test frame. */
struct frame_spec {
    bool ipv6;         /* IPv6 (else IPv4). */
    bool tcp;          /* TCP (else UDP). */
    int n_vlans;       /* VLAN tags, 0..2. */
    int ip_opt_len;    /* IPv4 option bytes (multiple of 4). */
    bool ipv6_ext;     /* An 8-byte destination options header. */
    int tcp_opt_len;   /* TCP option bytes (multiple of 4). */
    uint8_t tcp_flags; /* TCP flags of the super-frame. */
    uint32_t payload;  /* Payload bytes. */
};

/* Offsets of a built frame. */
struct frame_layout {
    uint32_t l3, l4, hdr, len; /* IP, L4, payload start, total. */
};

static void
put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static uint16_t
get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t
get32(const uint8_t *p)
{
    return (uint32_t)get16(p) << 16 | get16(p + 2);
}

/* Pseudo-header sum (not folded) for an L4 part of 'l4_len' bytes. */
static uint32_t
ref_pseudo(const uint8_t *f, const struct frame_layout *l, bool ipv6, bool tcp,
           uint32_t l4_len)
{
    uint8_t ph[40];
    size_t n;

    memset(ph, 0, sizeof ph);
    if (ipv6) {
        memcpy(ph, f + l->l3 + 8, 32);
        ph[32] = (uint8_t)(l4_len >> 24);
        ph[33] = (uint8_t)(l4_len >> 16);
        ph[34] = (uint8_t)(l4_len >> 8);
        ph[35] = (uint8_t)l4_len;
        ph[39] = tcp ? 6 : 17;
        n = 40;
    } else {
        memcpy(ph, f + l->l3 + 12, 8);
        ph[9] = tcp ? 6 : 17;
        put16(ph + 10, (uint16_t)l4_len);
        n = 12;
    }
    return csum_partial(ph, n, 0);
}

/* Builds a frame per 's' into 'f' with correct checksums everywhere. */
static void
build_frame(uint8_t *f, const struct frame_spec *s, struct frame_layout *l,
            unsigned int seed)
{
    uint32_t ofs = 12;
    uint32_t l4_hlen;

    srand(seed);
    for (int i = 0; i < 12; i++) {
        f[i] = (uint8_t)(0x10 + i);
    }
    for (int i = 0; i < s->n_vlans; i++) {
        put16(f + ofs, i == 0 && s->n_vlans == 2 ? 0x88a8 : 0x8100);
        put16(f + ofs + 2, (uint16_t)(100 + i));
        ofs += 4;
    }
    put16(f + ofs, s->ipv6 ? 0x86dd : 0x0800);
    ofs += 2;
    l->l3 = ofs;
    if (s->ipv6) {
        uint8_t nh = s->tcp ? 6 : 17;

        memset(f + ofs, 0, 40);
        f[ofs] = 0x60;
        f[ofs + 6] = s->ipv6_ext ? 60 : nh;
        f[ofs + 7] = 64;
        for (int i = 0; i < 32; i++) {
            f[ofs + 8 + i] = (uint8_t)(0xa0 + i);
        }
        ofs += 40;
        if (s->ipv6_ext) {
            memset(f + ofs, 0, 8);
            f[ofs] = nh;
            f[ofs + 2] = 1; /* PadN option filling the header. */
            f[ofs + 3] = 4;
            ofs += 8;
        }
    } else {
        uint32_t ihl = 20 + (uint32_t)s->ip_opt_len;

        memset(f + ofs, 0, ihl);
        f[ofs] = (uint8_t)(0x40 | ihl / 4);
        put16(f + ofs + 4, 0xfffe); /* The id wraps during the test. */
        put16(f + ofs + 6, 0x4000); /* DF. */
        f[ofs + 8] = 64;
        f[ofs + 9] = s->tcp ? 6 : 17;
        memcpy(f + ofs + 12, "\x0a\xc8\x01\x01\x0a\xc8\x02\x02", 8);
        for (int i = 20; i < (int)ihl; i++) {
            f[ofs + i] = 1; /* NOP options. */
        }
        ofs += ihl;
    }
    l->l4 = ofs;
    if (s->tcp) {
        l4_hlen = 20 + (uint32_t)s->tcp_opt_len;
        memset(f + ofs, 0, l4_hlen);
        put16(f + ofs, 40000);
        put16(f + ofs + 2, 5001);
        put16(f + ofs + 4, 0xffff); /* Sequence wraps during the test. */
        put16(f + ofs + 6, 0xf000);
        put16(f + ofs + 8, 0x1234);
        f[ofs + 12] = (uint8_t)(l4_hlen / 4 << 4);
        f[ofs + 13] = s->tcp_flags;
        put16(f + ofs + 14, 501);
        for (uint32_t i = 20; i < l4_hlen; i++) {
            f[ofs + i] = 1;
        }
    } else {
        l4_hlen = 8;
        put16(f + ofs, 40000);
        put16(f + ofs + 2, 5001);
        put16(f + ofs + 6, 0);
    }
    l->hdr = ofs + l4_hlen;
    l->len = l->hdr + s->payload;
    for (uint32_t i = 0; i < s->payload; i++) {
        f[l->hdr + i] = (uint8_t)rand();
    }
    /* Lengths and checksums of the whole frame. */
    if (s->ipv6) {
        put16(f + l->l3 + 4, (uint16_t)(l->len - l->l3 - 40));
    } else {
        put16(f + l->l3 + 2, (uint16_t)(l->len - l->l3));
        put16(f + l->l3 + 10,
              csum_fold(csum_partial(f + l->l3, l->l4 - l->l3, 0)));
    }
    if (!s->tcp) {
        put16(f + l->l4 + 4, (uint16_t)(l->len - l->l4));
    }
    {
        uint32_t sum = ref_pseudo(f, l, s->ipv6, s->tcp, l->len - l->l4);
        uint16_t c = csum_fold(csum_partial(f + l->l4, l->len - l->l4, sum));

        put16(f + l->l4 + (s->tcp ? 16 : 6), s->tcp || c ? c : 0xffff);
    }
}

/* Turns the full checksum of a built frame into the "partial" form the
 * kernel hands out: the field holds the folded pseudo-header sum. */
static void
make_partial(uint8_t *f, const struct frame_layout *l, bool ipv6, bool tcp)
{
    uint32_t sum = ref_pseudo(f, l, ipv6, tcp, l->len - l->l4);

    put16(f + l->l4 + (tcp ? 16 : 6), (uint16_t)~csum_fold(sum));
}

static void
test_csum_add_matches_reference(void **state)
{
    uint8_t buf[300];

    srand(7);
    for (size_t i = 0; i < sizeof buf; i++) {
        buf[i] = (uint8_t)rand();
    }
    for (uint32_t ofs = 0; ofs < 9; ofs++) {
        for (uint32_t len = 0; len + ofs <= sizeof buf; len += 7) {
            assert_int_equal(csum_fold(offload_csum_add(buf + ofs, len, 0)),
                             csum_fold(csum_partial(buf + ofs, len, 0)));
            assert_int_equal(
                csum_fold(offload_csum_add(buf + ofs, len, 0x1fffe)),
                csum_fold(csum_partial(buf + ofs, len, 0x1fffe)));
        }
    }
    memset(buf, 0xff, sizeof buf);
    assert_int_equal(csum_fold(offload_csum_add(buf, 298, 0)),
                     csum_fold(csum_partial(buf, 298, 0)));
}

static void
check_completion(const struct frame_spec *s)
{
    uint8_t f[4000], want[4000];
    struct frame_layout l;
    uint32_t field;

    build_frame(f, s, &l, s->payload);
    memcpy(want, f, l.len);
    make_partial(f, &l, s->ipv6, s->tcp);
    field = l.l4 + (s->tcp ? 16 : 6);
    assert_memory_not_equal(f + field, want + field, 2);
    assert_int_equal(offload_csum_complete(f, l.len, l.l4, field - l.l4), 0);
    assert_memory_equal(f, want, l.len);
}

static void
test_csum_complete(void **state)
{
    struct frame_spec s = {.tcp = true, .tcp_flags = 0x18};

    for (uint32_t payload = 0; payload < 1500; payload += 97) {
        s.payload = payload;
        s.ipv6 = false;
        s.tcp = true;
        check_completion(&s);
        s.ipv6 = true;
        check_completion(&s);
        s.tcp = false;
        check_completion(&s);
        s.ipv6 = false;
        check_completion(&s);
    }
}

static void
test_csum_complete_bad_offsets(void **state)
{
    uint8_t f[64] = {0};

    assert_int_equal(offload_csum_complete(f, 64, 64, 0), -EINVAL);
    assert_int_equal(offload_csum_complete(f, 64, 50, 13), -EINVAL);
    assert_int_equal(offload_csum_complete(f, 64, 50, 12), 0);
}

static void
check_fix_partial(const struct frame_spec *s)
{
    uint8_t f[2000], want[2000];
    struct frame_layout l;
    uint32_t field;

    build_frame(f, s, &l, s->payload + 1);
    field = l.l4 + (s->tcp ? 16 : 6);
    /* Ethernet padding after the IP packet must not be summed. */
    memset(f + l.len, 0xee, 8);
    memcpy(want, f, l.len + 8);

    /* A correct checksum is left alone. */
    assert_int_equal(offload_csum_fix_partial(f, l.len + 8), 0);
    assert_memory_equal(f, want, l.len + 8);

    /* The partial form is completed. */
    make_partial(f, &l, s->ipv6, s->tcp);
    assert_int_equal(offload_csum_fix_partial(f, l.len + 8), 1);
    assert_memory_equal(f, want, l.len + 8);

    /* Any other wrong value stays wrong. */
    f[field] ^= 0x5a;
    assert_int_equal(offload_csum_fix_partial(f, l.len + 8), 0);
    assert_int_not_equal(f[field], want[field]);

    /* A frame cut short of its IP length is not touched. */
    make_partial(f, &l, s->ipv6, s->tcp);
    memcpy(want, f, l.len);
    assert_int_equal(offload_csum_fix_partial(f, l.len - 1), 0);
    assert_memory_equal(f, want, l.len);
}

static void
test_csum_fix_partial(void **state)
{
    struct frame_spec s = {.tcp = true, .tcp_flags = 0x12};
    uint8_t f[200];
    struct frame_layout l;

    for (uint32_t payload = 1; payload < 1400; payload += 211) {
        s.payload = payload;
        s.ipv6 = false;
        s.tcp = true;
        check_fix_partial(&s);
        s.n_vlans = 1;
        s.ipv6 = true;
        check_fix_partial(&s);
        s.ipv6_ext = true;
        s.tcp = false;
        check_fix_partial(&s);
        s.ipv6 = false;
        s.n_vlans = 0;
        check_fix_partial(&s);
    }

    /* UDP over IPv4 without a checksum stays without. */
    s = (struct frame_spec){.payload = 50};
    build_frame(f, &s, &l, 3);
    put16(f + l.l4 + 6, 0);
    assert_int_equal(offload_csum_fix_partial(f, l.len), 0);
    assert_int_equal(get16(f + l.l4 + 6), 0);
}

/* Segments the frame built from 's' with 'mss' and checks every segment
 * against a reference patched here field by field. */
static void
check_segmentation_ex(const struct frame_spec *s, uint16_t mss, bool accel)
{
    static uint8_t f[70000], src[70000];
    struct offload_meta meta = {
        .needs_csum = true,
        .gso = !s->tcp   ? OFFLOAD_GSO_UDP
               : s->ipv6 ? OFFLOAD_GSO_TCPV6
                         : OFFLOAD_GSO_TCPV4,
        .gso_size = mss,
    };
    struct packet *p = packet_new(64); /* Small: must grow. */
    struct frame_layout l;
    struct offload_seg seg;
    uint32_t n_want, pos = 0, i = 0;

    build_frame(f, s, &l, s->payload ^ mss);
    make_partial(f, &l, s->ipv6, s->tcp);
    meta.csum_start = (uint16_t)l.l4;
    meta.csum_offset = s->tcp ? 16 : 6;
    n_want = s->payload ? (s->payload + mss - 1) / mss : 1;

    if (accel) {
        /* The kernel hands the frame over without its outer tag, which
         * comes as metadata; segments must carry it again. */
        assert_true(s->n_vlans > 0);
        memcpy(src, f, 12);
        memcpy(src + 12, f + 16, l.len - 16);
        assert_int_equal(offload_seg_init(&seg, src, l.len - 4, &meta), 0);
        offload_seg_set_vlan(&seg, get16(f + 12), get16(f + 14));
    } else {
        assert_int_equal(offload_seg_init(&seg, f, l.len, &meta), 0);
    }
    assert_int_equal(offload_seg_count(&seg), n_want);
    while (offload_seg_next(&seg, p)) {
        uint32_t n = MIN(mss, s->payload - pos);
        bool last = i == n_want - 1;
        uint8_t *d = packet_data(p);
        static uint8_t want[70000];
        uint32_t sum, l4_len = l.hdr - l.l4 + n;
        uint16_t c;

        assert_true(i < n_want);
        assert_int_equal(p->len, l.hdr + n);
        assert_int_equal(p->l3_ofs, PACKET_OFS_NONE);

        memcpy(want, f, l.hdr);
        memcpy(want + l.hdr, f + l.hdr + pos, n);
        if (s->ipv6) {
            put16(want + l.l3 + 4, (uint16_t)(l.hdr + n - l.l3 - 40));
        } else {
            put16(want + l.l3 + 2, (uint16_t)(l.hdr + n - l.l3));
            put16(want + l.l3 + 4, (uint16_t)(0xfffe + i));
            put16(want + l.l3 + 10, 0);
            put16(want + l.l3 + 10,
                  csum_fold(csum_partial(want + l.l3, l.l4 - l.l3, 0)));
        }
        if (s->tcp) {
            uint32_t seq = get32(f + l.l4 + 4) + pos;
            uint8_t flags = s->tcp_flags;

            put16(want + l.l4 + 4, (uint16_t)(seq >> 16));
            put16(want + l.l4 + 6, (uint16_t)seq);
            if (!last) {
                flags &= (uint8_t)~0x09; /* FIN, PSH. */
            }
            if (i) {
                flags &= (uint8_t)~0x80; /* CWR. */
            }
            want[l.l4 + 13] = flags;
            put16(want + l.l4 + 16, 0);
        } else {
            put16(want + l.l4 + 4, (uint16_t)l4_len);
            put16(want + l.l4 + 6, 0);
        }
        sum = ref_pseudo(want, &l, s->ipv6, s->tcp, l4_len);
        c = csum_fold(csum_partial(want + l.l4, l4_len, sum));
        put16(want + l.l4 + (s->tcp ? 16 : 6), s->tcp || c ? c : 0xffff);
        assert_memory_equal(d, want, p->len);

        /* And the result verifies as a whole. */
        sum = ref_pseudo(d, &l, s->ipv6, s->tcp, l4_len);
        assert_int_equal(csum_fold(csum_partial(d + l.l4, l4_len, sum)), 0);
        pos += n;
        i++;
    }
    assert_int_equal(i, n_want);
    assert_int_equal(pos, s->payload);
    assert_false(offload_seg_next(&seg, p));
    packet_destroy(p);
}

static void
check_segmentation(const struct frame_spec *s, uint16_t mss)
{
    check_segmentation_ex(s, mss, false);
    if (s->n_vlans) {
        check_segmentation_ex(s, mss, true);
    }
}

static void
test_vlan_insert(void **state)
{
    static const uint8_t frame[14] = {1, 2, 3,  4,  5,  6,    7,
                                      8, 9, 10, 11, 12, 0x08, 0x00};
    static const uint8_t want[18] = {1,    2,    3,    4,    5,    6,
                                     7,    8,    9,    10,   11,   12,
                                     0x88, 0xa8, 0x20, 0x64, 0x08, 0x00};
    struct packet *p = packet_new(64);

    packet_set_data(p, frame, sizeof frame);
    assert_int_equal(offload_vlan_insert(p, 0x88a8, 0x2064), 0);
    assert_int_equal(p->len, sizeof want);
    assert_memory_equal(packet_data(p), want, sizeof want);

    packet_set_data(p, frame, 11);
    assert_int_equal(offload_vlan_insert(p, 0x8100, 1), -EINVAL);
    packet_set_data(p, frame, sizeof frame);
    p->data_ofs = 2; /* Not enough headroom. */
    assert_int_equal(offload_vlan_insert(p, 0x8100, 1), -ENOSPC);
    packet_destroy(p);
}

static void
test_segment_tcpv4(void **state)
{
    struct frame_spec s = {
        .tcp = true, .tcp_flags = 0x19 | 0x80, .payload = 65000};

    check_segmentation(&s, 1448);
    s.ip_opt_len = 12;
    s.tcp_opt_len = 12;
    check_segmentation(&s, 1436);
    s.n_vlans = 2;
    s.payload = 4097; /* Odd: a short, odd last segment. */
    check_segmentation(&s, 1000);
    s.payload = 999; /* Less than one segment. */
    check_segmentation(&s, 1000);
    s.payload = 3000; /* Exactly three. */
    check_segmentation(&s, 1000);
    s.payload = 3001;
    check_segmentation(&s, 1001); /* Odd MSS. */
    s.n_vlans = 1;
    s.tcp_flags = 0x10;
    s.payload = 0; /* A bare header still yields one segment. */
    check_segmentation(&s, 1448);
}

static void
test_segment_tcpv6(void **state)
{
    struct frame_spec s = {
        .ipv6 = true, .tcp = true, .tcp_flags = 0x18, .payload = 64000};

    check_segmentation(&s, 1428);
    s.ipv6_ext = true;
    s.tcp_opt_len = 12;
    s.tcp_flags = 0x99;
    check_segmentation(&s, 1408);
    s.n_vlans = 1;
    s.payload = 7777;
    check_segmentation(&s, 333);
}

static void
test_segment_udp(void **state)
{
    struct frame_spec s = {.payload = 20000};

    check_segmentation(&s, 1472);
    s.ipv6 = true;
    s.payload = 9001;
    check_segmentation(&s, 1000);
}

static void
test_segment_bad_input(void **state)
{
    uint8_t f[3000];
    struct frame_spec s = {.tcp = true, .payload = 2000};
    struct offload_meta meta = {.gso = OFFLOAD_GSO_TCPV4, .gso_size = 1000};
    struct frame_layout l;
    struct offload_seg seg;

    build_frame(f, &s, &l, 1);
    assert_int_equal(offload_seg_init(&seg, f, l.len, &meta), 0);

    /* Wrong GSO type for the IP version, or for the L4 protocol. */
    meta.gso = OFFLOAD_GSO_TCPV6;
    assert_int_equal(offload_seg_init(&seg, f, l.len, &meta), -EINVAL);
    meta.gso = OFFLOAD_GSO_UDP;
    assert_int_equal(offload_seg_init(&seg, f, l.len, &meta), -EINVAL);
    meta.gso = OFFLOAD_GSO_NONE;
    assert_int_equal(offload_seg_init(&seg, f, l.len, &meta), -EINVAL);
    meta.gso = OFFLOAD_GSO_TCPV4;

    /* No MSS. */
    meta.gso_size = 0;
    assert_int_equal(offload_seg_init(&seg, f, l.len, &meta), -EINVAL);
    meta.gso_size = 1000;

    /* Truncated anywhere in the headers. */
    for (uint32_t len = 0; len < l.hdr; len++) {
        assert_int_equal(offload_seg_init(&seg, f, len, &meta), -EINVAL);
    }
    assert_int_equal(offload_seg_init(&seg, f, l.hdr, &meta), 0);

    /* A fragment, a bad IHL, a TCP data offset past the end, not IP. */
    put16(f + l.l3 + 6, 0x2000);
    assert_int_equal(offload_seg_init(&seg, f, l.len, &meta), -EINVAL);
    put16(f + l.l3 + 6, 0x4000);
    f[l.l3] = 0x44;
    assert_int_equal(offload_seg_init(&seg, f, l.len, &meta), -EINVAL);
    f[l.l3] = 0x45;
    f[l.l4 + 12] = 0xf0;
    assert_int_equal(offload_seg_init(&seg, f, l.hdr + 10, &meta), -EINVAL);
    f[l.l4 + 12] = 0x50;
    put16(f + 12, 0x0806);
    assert_int_equal(offload_seg_init(&seg, f, l.len, &meta), -EINVAL);
}

static void
test_meta_from_vnet(void **state)
{
    struct virtio_net_hdr h = {
        .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
        .gso_type = VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN,
        .hdr_len = 66,
        .gso_size = 1448,
        .csum_start = 34,
        .csum_offset = 16,
    };
    struct offload_meta m;

    assert_int_equal(offload_meta_from_vnet(&h, &m), 0);
    assert_true(m.needs_csum);
    assert_int_equal(m.gso, OFFLOAD_GSO_TCPV4);
    assert_int_equal(m.gso_size, 1448);
    assert_int_equal(m.csum_start, 34);
    assert_int_equal(m.csum_offset, 16);

    h.gso_type = VIRTIO_NET_HDR_GSO_TCPV6;
    assert_int_equal(offload_meta_from_vnet(&h, &m), 0);
    assert_int_equal(m.gso, OFFLOAD_GSO_TCPV6);
    h.gso_type = 5; /* GSO_UDP_L4. */
    assert_int_equal(offload_meta_from_vnet(&h, &m), 0);
    assert_int_equal(m.gso, OFFLOAD_GSO_UDP);
    h.gso_type = VIRTIO_NET_HDR_GSO_UDP; /* UFO: not supported. */
    assert_int_equal(offload_meta_from_vnet(&h, &m), -EPROTONOSUPPORT);

    offload_vnet_hdr_none(&h);
    assert_int_equal(offload_meta_from_vnet(&h, &m), 0);
    assert_false(m.needs_csum);
    assert_int_equal(m.gso, OFFLOAD_GSO_NONE);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csum_add_matches_reference),
        cmocka_unit_test(test_csum_complete),
        cmocka_unit_test(test_csum_complete_bad_offsets),
        cmocka_unit_test(test_csum_fix_partial),
        cmocka_unit_test(test_vlan_insert),
        cmocka_unit_test(test_segment_tcpv4),
        cmocka_unit_test(test_segment_tcpv6),
        cmocka_unit_test(test_segment_udp),
        cmocka_unit_test(test_segment_bad_input),
        cmocka_unit_test(test_meta_from_vnet),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
