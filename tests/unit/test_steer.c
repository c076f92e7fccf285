/* Unit tests for flow steering (src/dp/steer.c): symmetric specs put both
 * directions of a flow on one thread, flows spread evenly, a single spec
 * sends everything to thread 0, and fields outside the spec never change
 * the thread while fields inside it do. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "dp/steer.h"

#define BIT(F) (UINT64_C(1) << (F))

static uint64_t rng_state = 0x243f6a8885a308d3ull;

static uint64_t
rng(void)
{
    /* xorshift64*: reproducible, no libc state. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

/* A random IPv4 TCP/UDP flow key, or IPv6 when 'v6'. */
static void
random_key(struct flow_key *k, bool v6)
{
    uint64_t r = rng();

    memset(k, 0, sizeof *k);
    k->in_port = 1 + (uint32_t)(r & 3);
    k->dl_type = v6 ? 0xdd86 : 0x0008;
    k->nw_proto = r & 4 ? 6 : 17;
    k->tp_src = (be16)rng();
    k->tp_dst = (be16)rng();
    for (int i = 0; i < 6; i++) {
        k->dl_src[i] = (uint8_t)rng();
        k->dl_dst[i] = (uint8_t)rng();
    }
    if (v6) {
        for (int i = 0; i < 16; i++) {
            k->ipv6_src[i] = (uint8_t)rng();
            k->ipv6_dst[i] = (uint8_t)rng();
        }
    } else {
        k->nw_src = (be32)rng();
        k->nw_dst = (be32)rng();
    }
    k->nw_ttl = 64;
}

static void
reverse_key(struct flow_key *r, const struct flow_key *k)
{
    *r = *k;
    r->tp_src = k->tp_dst;
    r->tp_dst = k->tp_src;
    r->nw_src = k->nw_dst;
    r->nw_dst = k->nw_src;
    memcpy(r->dl_src, k->dl_dst, 6);
    memcpy(r->dl_dst, k->dl_src, 6);
    memcpy(r->ipv6_src, k->ipv6_dst, 16);
    memcpy(r->ipv6_dst, k->ipv6_src, 16);
    /* The reply arrives on another port. */
    r->in_port = k->in_port + 1;
}

static void
make(struct steer *s, uint64_t fields, bool symmetric, bool single)
{
    struct state_steering spec = {
        .fields = fields, .symmetric = symmetric, .single = single};

    steer_init(s, &spec);
}

static void
test_symmetric(void **state)
{
    struct state_steering spec;
    struct steer s;

    (void)state;
    steer_default_spec(&spec);
    assert_true(spec.symmetric);
    assert_false(spec.single);
    steer_init(&s, &spec);
    for (int i = 0; i < 10000; i++) {
        struct flow_key k, r;

        random_key(&k, i & 1);
        reverse_key(&r, &k);
        assert_int_equal(steer_hash(&s, &k), steer_hash(&s, &r));
        for (unsigned int n = 2; n <= 8; n++) {
            assert_int_equal(steer_thread(&s, &k, n), steer_thread(&s, &r, n));
        }
    }
    /* MAC pairs too. */
    make(&s, BIT(STATE_F_DL_SRC) | BIT(STATE_F_DL_DST), true, false);
    for (int i = 0; i < 1000; i++) {
        struct flow_key k, r;

        random_key(&k, false);
        reverse_key(&r, &k);
        assert_int_equal(steer_hash(&s, &k), steer_hash(&s, &r));
    }
}

/* Directional specs tell the directions apart (almost always). */
static void
test_directional(void **state)
{
    struct steer s;
    int same = 0;

    (void)state;
    make(&s,
         BIT(STATE_F_NW_SRC) | BIT(STATE_F_NW_DST) | BIT(STATE_F_TP_SRC) |
             BIT(STATE_F_TP_DST) | BIT(STATE_F_NW_PROTO),
         false, false);
    for (int i = 0; i < 10000; i++) {
        struct flow_key k, r;

        random_key(&k, false);
        reverse_key(&r, &k);
        same += steer_hash(&s, &k) == steer_hash(&s, &r);
    }
    assert_true(same < 10);
}

static void
check_even(const struct steer *s, unsigned int n_threads, bool v6)
{
    unsigned int count[8] = {0};
    const int n = 80000;

    for (int i = 0; i < n; i++) {
        struct flow_key k;

        random_key(&k, v6);
        count[steer_thread(s, &k, n_threads)]++;
    }
    for (unsigned int t = 0; t < n_threads; t++) {
        double share = (double)count[t] * n_threads / n;

        if (share < 0.95 || share > 1.05) {
            fail_msg("%u threads: thread %u got %u of %d", n_threads, t,
                     count[t], n);
        }
    }
}

static void
test_distribution(void **state)
{
    struct state_steering spec;
    struct steer s;

    (void)state;
    steer_default_spec(&spec);
    steer_init(&s, &spec);
    for (unsigned int n = 2; n <= 8; n++) {
        check_even(&s, n, false);
        check_even(&s, n, true);
    }
    /* A single field (multi-flow state keyed by source address). */
    make(&s, BIT(STATE_F_NW_SRC), false, false);
    check_even(&s, 2, false);
    check_even(&s, 7, false);
    /* Only the ports differ: still spreads. */
    make(&s, BIT(STATE_F_TP_SRC) | BIT(STATE_F_TP_DST), true, false);
    check_even(&s, 4, false);
}

static void
test_single(void **state)
{
    struct steer s;

    (void)state;
    make(&s, 0, false, true);
    for (int i = 0; i < 1000; i++) {
        struct flow_key k;

        random_key(&k, i & 1);
        assert_int_equal(steer_thread(&s, &k, 4), 0);
        assert_int_equal(steer_hash(&s, &k), 0);
    }
    /* 'single' wins over any fields given with it. */
    make(&s, BIT(STATE_F_NW_SRC), true, true);
    for (int i = 0; i < 100; i++) {
        struct flow_key k;

        random_key(&k, false);
        assert_int_equal(steer_thread(&s, &k, 8), 0);
    }
    /* Only fields the flow key does not carry: nothing to hash, one
     * thread. */
    make(&s, BIT(STATE_F_PAYLOAD) | BIT(STATE_F_PKT_LEN), false, false);
    assert_int_equal(s.used, 0);
    for (int i = 0; i < 100; i++) {
        struct flow_key k;

        random_key(&k, false);
        assert_int_equal(steer_thread(&s, &k, 8), 0);
    }
}

/* Changing a field outside the spec never moves a packet; changing one
 * inside it does (for most values). */
static void
test_fields(void **state)
{
    struct state_steering spec;
    struct steer s;
    int moved_in = 0;

    (void)state;
    steer_default_spec(&spec);
    steer_init(&s, &spec);
    for (int i = 0; i < 2000; i++) {
        struct flow_key k, m;
        uint32_t h;

        random_key(&k, false);
        h = steer_hash(&s, &k);
        m = k;
        m.in_port ^= 7;
        m.nw_ttl ^= 0x55;
        m.nw_tos ^= 0xfc;
        m.tcp_flags ^= 0x12;
        m.vlan_tci ^= 0x1005;
        m.dl_src[3] ^= 0xff;
        m.dl_dst[0] ^= 0x1;
        m.ipv6_label ^= 0x12345;
        m.arp_sha[2] ^= 1;
        assert_int_equal(steer_hash(&s, &m), h);

        m = k;
        m.tp_src ^= (be16)(1 + i);
        moved_in += steer_hash(&s, &m) != h;
        m = k;
        m.nw_dst ^= (be32)(1 + i);
        moved_in += steer_hash(&s, &m) != h;
        m = k;
        m.nw_proto ^= 0x17;
        moved_in += steer_hash(&s, &m) != h;
    }
    assert_true(moved_in > 3 * 2000 - 10);

    /* Source address only: the destination does not matter. */
    make(&s, BIT(STATE_F_NW_SRC), false, false);
    for (int i = 0; i < 1000; i++) {
        struct flow_key k, m;

        random_key(&k, false);
        m = k;
        m.nw_dst ^= 0xffffffff;
        m.tp_src ^= 0x1234;
        assert_int_equal(steer_hash(&s, &m), steer_hash(&s, &k));
    }
    /* Symmetric with one side of a pair only: that pair is left out (no
     * symmetric hash exists for it), so it must not matter. */
    make(&s, BIT(STATE_F_NW_SRC) | BIT(STATE_F_NW_PROTO), true, false);
    assert_int_equal(s.used, BIT(STATE_F_NW_PROTO));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_symmetric),
        cmocka_unit_test(test_directional),
        cmocka_unit_test(test_distribution),
        cmocka_unit_test(test_single),
        cmocka_unit_test(test_fields),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
