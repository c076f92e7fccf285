/* Unit tests for the tuple space search classifier.
 *
 * The main test checks the classifier against a linear-scan reference that
 * applies the documented ranking (priority, then insertion order) to every
 * rule: random rule sets with thousands of rules over dozens of masks
 * (prefixes of nw_src/nw_dst, exact and masked transport ports, MACs),
 * overlapping priorities, packets drawn mostly from the rules' own keys so
 * that they hit, and random removals between rounds.  Single, batch and
 * filtered lookups are all compared, and the masks the _wc lookups report
 * are checked against the reference: a random key agreeing on them must
 * get the same answer.  Targeted tests pin down the early
 * stop, ties, catch-alls, replace and the rank-ordered predicate calls. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>

#include "core/util.h"
#include "flow/classifier.h"
#include "flow/match.h"

/* A key word; keys are only 4-byte aligned. */
typedef uint64_t __attribute__((may_alias, aligned(4))) key_word;

struct test_rule {
    struct cls_rule cr;
    int id;        /* Index in the reference array. */
    bool inserted; /* Currently in the classifier. */
    bool accept;   /* What the test predicate answers. */
};

static uint64_t rng_state;

static uint64_t
rng(void)
{
    /* xorshift64*: deterministic per seed, good enough for test data. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

static uint32_t
rng_below(uint32_t n)
{
    return (uint32_t)(rng() % n);
}

static be32
prefix_mask(int len)
{
    return htonl(len ? ~0u << (32 - len) : 0);
}

/* One mask shape of the random rule sets. */
struct shape {
    bool in_port, dl_dst, dl_type, nw_proto, tp_src, tp_dst_hi;
    int src_len, dst_len; /* Prefix lengths, 0 = wildcard. */
    be16 tp_dst_mask;
};

static void
random_shape(struct shape *s)
{
    static const int lens[] = {0, 8, 16, 20, 24, 28, 32};
    static const be16 port_masks[] = {0, 0xffff, 0xff00, 0xfff0};

    memset(s, 0, sizeof *s);
    s->in_port = rng_below(3) == 0;
    s->dl_dst = rng_below(6) == 0;
    s->dl_type = rng_below(4) != 0;
    s->nw_proto = s->dl_type && rng_below(2);
    s->src_len = s->dl_type ? lens[rng_below(ARRAY_SIZE(lens))] : 0;
    s->dst_len = s->dl_type ? lens[rng_below(ARRAY_SIZE(lens))] : 0;
    s->tp_src = s->nw_proto && rng_below(3) == 0;
    s->tp_dst_mask =
        s->nw_proto ? htons(port_masks[rng_below(ARRAY_SIZE(port_masks))]) : 0;
}

/* Values come from small pools so that rules overlap and packets hit. */
static void
random_key(struct flow_key *k)
{
    static const uint8_t protos[] = {6, 17, 1};

    memset(k, 0, sizeof *k);
    k->in_port = 1 + rng_below(4);
    k->dl_type = htons(rng_below(8) ? 0x0800 : 0x86dd);
    k->dl_dst[5] = (uint8_t)rng_below(4);
    k->nw_proto = protos[rng_below(3)];
    k->nw_src = htonl(0x0a000000u | (rng_below(4) << 16) | (rng_below(4) << 8) |
                      rng_below(8));
    k->nw_dst = htonl(0xc0a80000u | (rng_below(4) << 8) | rng_below(16));
    k->tp_src = htons((uint16_t)(1000 + rng_below(4)));
    k->tp_dst = htons(
        (uint16_t)(rng_below(2) ? 80 + rng_below(3) : 0x1200 + rng_below(40)));
    k->nw_ttl = (uint8_t)rng_below(256);
}

static void
shape_to_match(const struct shape *s, const struct flow_key *k, struct match *m)
{
    match_init_catchall(m);
    m->key = *k;
    if (s->in_port) {
        m->mask.in_port = UINT32_MAX;
    }
    if (s->dl_dst) {
        memset(m->mask.dl_dst, 0xff, 6);
    }
    if (s->dl_type) {
        m->mask.dl_type = 0xffff;
    }
    if (s->nw_proto) {
        m->mask.nw_proto = 0xff;
    }
    m->mask.nw_src = prefix_mask(s->src_len);
    m->mask.nw_dst = prefix_mask(s->dst_len);
    if (s->tp_src) {
        m->mask.tp_src = 0xffff;
    }
    m->mask.tp_dst = s->tp_dst_mask;
    match_normalize(m);
}

/* The reference: the rule the documented ranking picks, scanning all. */
static struct test_rule *
ref_lookup(struct test_rule *rules, size_t n, const struct flow_key *k,
           bool filtered, size_t *n_rank_above)
{
    struct test_rule *best = NULL;

    for (size_t i = 0; i < n; i++) {
        struct test_rule *r = &rules[i];
        if (!r->inserted || !match_matches(&r->cr.match, k) ||
            (filtered && !r->accept)) {
            continue;
        }
        if (!best || cls_rule_beats(&r->cr, &best->cr)) {
            best = r;
        }
    }
    if (n_rank_above) {
        /* Matching rules ranked above the answer, plus the answer: how many
         * predicate calls a rank-order search makes. */
        size_t above = 0;
        for (size_t i = 0; i < n; i++) {
            struct test_rule *r = &rules[i];
            if (r->inserted && match_matches(&r->cr.match, k) &&
                (!best || r == best || cls_rule_beats(&r->cr, &best->cr))) {
                above++;
            }
        }
        *n_rank_above = above;
    }
    return best;
}

struct pred_log {
    size_t calls;                /* Predicate calls so far. */
    const struct cls_rule *last; /* Last rule the predicate saw. */
    bool out_of_order;           /* A call ranked above the last. */
};

static bool
test_pred(const struct cls_rule *cr, void *aux)
{
    struct pred_log *log = aux;
    const struct test_rule *r = CONTAINER_OF(cr, struct test_rule, cr);

    if (log->last && !cls_rule_beats(log->last, cr)) {
        log->out_of_order = true;
    }
    log->last = cr;
    log->calls++;
    return r->accept;
}

/* A random key equal to 'k' on the bits 'wc' sets. */
static void
random_key_under(struct flow_key *out, const struct flow_key *k,
                 const struct flow_key *wc)
{
    key_word *ow = (key_word *)(void *)out;
    const key_word *kw = (const key_word *)(const void *)k;
    const key_word *ww = (const key_word *)(const void *)wc;

    random_key(out);
    for (size_t w = 0; w < FLOW_KEY_WORDS; w++) {
        ow[w] = (ow[w] & ~ww[w]) | (kw[w] & ww[w]);
    }
}

/* The un-wildcarding contract (classifier.h): every key that agrees with
 * 'k' on the masks a lookup reported gets the same answer, for plain
 * lookups (batch) and for filtered ones (a chain of _below_wc lookups). */
static void
check_wildcards(const struct classifier *cls, struct test_rule *rules, size_t n,
                const struct flow_key *k, const struct flow_key *wc,
                const struct cls_rule *got)
{
    struct flow_key other, fwc;

    random_key_under(&other, k, wc);
    struct test_rule *want = ref_lookup(rules, n, &other, false, NULL);
    assert_ptr_equal(want ? &want->cr : NULL, got);

    memset(&fwc, 0, sizeof fwc);
    const struct cls_rule *r = cls_lookup_below_wc(cls, k, NULL, &fwc);
    while (r && !CONTAINER_OF(r, struct test_rule, cr)->accept) {
        r = cls_lookup_below_wc(cls, k, r, &fwc);
    }
    random_key_under(&other, k, &fwc);
    want = ref_lookup(rules, n, &other, true, NULL);
    assert_ptr_equal(want ? &want->cr : NULL, r);
}

static void
check_packets(struct classifier *cls, struct test_rule *rules, size_t n,
              size_t n_pkts)
{
    struct flow_key keys[32];
    const struct flow_key *kp[32];
    const struct cls_rule *out[32];
    const struct cls_rule *out_wc[32];
    struct flow_key wcs[32];
    size_t n_hits = 0;

    for (size_t p = 0; p < n_pkts; p += 32) {
        for (size_t i = 0; i < 32; i++) {
            struct flow_key *k = &keys[i];
            random_key(k);
            if (rng_below(4) != 0) {
                /* Take a live rule's match and fill its wildcarded bits at
                 * random: such a packet matches at least that rule. */
                const struct test_rule *r = &rules[rng_below(n)];
                if (r->inserted) {
                    key_word *kw = (key_word *)(void *)k;
                    const key_word *mk =
                        (const key_word *)(const void *)&r->cr.match.key;
                    const key_word *mm =
                        (const key_word *)(const void *)&r->cr.match.mask;
                    for (size_t w = 0; w < FLOW_KEY_WORDS; w++) {
                        kw[w] = (kw[w] & ~mm[w]) | mk[w];
                    }
                }
            }
            kp[i] = k;
        }
        cls_lookup_batch(cls, kp, 32, out);
        memset(wcs, 0, sizeof wcs);
        cls_lookup_batch_wc(cls, kp, 32, out_wc, wcs);
        for (size_t i = 0; i < 32; i++) {
            assert_ptr_equal(out_wc[i], out[i]);
            check_wildcards(cls, rules, n, &keys[i], &wcs[i], out[i]);
            struct test_rule *want =
                ref_lookup(rules, n, &keys[i], false, NULL);
            const struct cls_rule *got = cls_lookup(cls, &keys[i]);
            assert_ptr_equal(got, want ? &want->cr : NULL);
            assert_ptr_equal(out[i], got);
            n_hits += got != NULL;

            size_t n_calls;
            struct test_rule *fwant =
                ref_lookup(rules, n, &keys[i], true, &n_calls);
            struct pred_log log = {0, NULL, false};
            const struct cls_rule *fgot =
                cls_lookup_filtered(cls, &keys[i], test_pred, &log);
            assert_ptr_equal(fgot, fwant ? &fwant->cr : NULL);
            assert_false(log.out_of_order);
            assert_int_equal(log.calls, n_calls);
        }
    }
    /* The packet bias must really produce hits, or the test is vacuous. */
    assert_true(n_hits > n_pkts / 2);
}

static int
ptr_cmp(const void *a_, const void *b_)
{
    uintptr_t a = (uintptr_t) * (void *const *)a_;
    uintptr_t b = (uintptr_t) * (void *const *)b_;

    return a < b ? -1 : a > b;
}

/* cls_rules_covered() against match_covers() on every rule, for wide
 * matches of every shape (including the shapes rules use, which take the
 * single-entry path) and a catch-all. */
static void
check_covered(struct classifier *cls, struct test_rule *rules, size_t n,
              const struct shape *shapes, size_t n_shapes)
{
    struct cls_rule **want = xmalloc((n + 1) * sizeof *want);
    size_t n_nonempty = 0;

    for (size_t s = 0; s <= n_shapes; s++) {
        struct match wide;
        if (s == n_shapes) {
            match_init_catchall(&wide);
        } else {
            /* Take a live rule's key so that something is covered. */
            const struct test_rule *r = &rules[rng_below(n)];
            shape_to_match(&shapes[s], &r->cr.match.key, &wide);
        }
        size_t n_want = 0, n_got;
        for (size_t i = 0; i < n; i++) {
            if (rules[i].inserted && match_covers(&wide, &rules[i].cr.match)) {
                want[n_want++] = &rules[i].cr;
            }
        }
        struct cls_rule **got = cls_rules_covered(cls, &wide, &n_got);
        assert_int_equal(n_got, n_want);
        qsort(got, n_got, sizeof *got, ptr_cmp);
        qsort(want, n_want, sizeof *want, ptr_cmp);
        assert_memory_equal(got, want, n_got * sizeof *got);
        n_nonempty += n_got > 0;
        free(got);
    }
    assert_true(n_nonempty > 1);
    free(want);
}

static void
run_random(uint64_t seed, size_t n_rules, size_t n_shapes)
{
    struct shape *shapes = xcalloc(n_shapes, sizeof *shapes);
    struct test_rule *rules = xcalloc(n_rules, sizeof *rules);
    struct classifier *cls = cls_create();

    rng_state = seed;
    for (size_t i = 0; i < n_shapes; i++) {
        random_shape(&shapes[i]);
    }
    for (size_t i = 0; i < n_rules; i++) {
        struct test_rule *r = &rules[i];
        struct flow_key k;
        random_key(&k);
        shape_to_match(&shapes[rng_below(n_shapes)], &k, &r->cr.match);
        /* Few distinct priorities, so ties across masks are common. */
        r->cr.priority = rng_below(4) == 0 ? 32768 : rng_below(40) * 100;
        r->id = (int)i;
        r->accept = rng_below(3) != 0;
        r->inserted = true;
        cls_insert(cls, &r->cr);
    }
    assert_int_equal(cls_count(cls), n_rules);
    assert_true(cls_n_subtables(cls) > n_shapes / 2);
    check_packets(cls, rules, n_rules, 2048);

    /* Remove rules in rounds and recheck: exercises the max-priority
     * rescans, subtable re-sorting and freeing of empty subtables. */
    size_t live = n_rules;
    for (int round = 0; round < 4; round++) {
        for (size_t i = 0; i < n_rules; i++) {
            if (rules[i].inserted && rng_below(3) == 0) {
                cls_remove(cls, &rules[i].cr);
                rules[i].inserted = false;
                live--;
            }
        }
        assert_int_equal(cls_count(cls), live);
        check_packets(cls, rules, n_rules, 1024);
        check_covered(cls, rules, n_rules, shapes, n_shapes);
    }

    /* Insert a few back: they rank after their equals (newer seq). */
    for (size_t i = 0; i < n_rules; i += 7) {
        if (!rules[i].inserted) {
            cls_insert(cls, &rules[i].cr);
            rules[i].inserted = true;
        }
    }
    check_packets(cls, rules, n_rules, 1024);

    size_t n_listed;
    struct cls_rule **all = cls_rules(cls, &n_listed);
    assert_int_equal(n_listed, cls_count(cls));
    for (size_t i = 1; i < n_listed; i++) {
        assert_true(cls_rule_beats(all[i - 1], all[i]));
    }
    free(all);

    for (size_t i = 0; i < n_rules; i++) {
        if (rules[i].inserted) {
            cls_remove(cls, &rules[i].cr);
        }
    }
    assert_int_equal(cls_count(cls), 0);
    assert_int_equal(cls_n_subtables(cls), 0);
    cls_destroy(cls);
    free(rules);
    free(shapes);
}

static void
test_random_small(void **state)
{
    run_random(0x1234567, 300, 12);
}

static void
test_random_large(void **state)
{
    run_random(0xdeadbeef, 4000, 48);
    run_random(0xfeedf00d, 3000, 64);
}

static void
exact_ip(struct test_rule *r, be32 src, be32 dst, int src_len, int dst_len,
         unsigned int priority)
{
    memset(r, 0, sizeof *r);
    match_init_catchall(&r->cr.match);
    r->cr.match.key.dl_type = htons(0x0800);
    r->cr.match.mask.dl_type = 0xffff;
    r->cr.match.key.nw_src = src;
    r->cr.match.mask.nw_src = prefix_mask(src_len);
    r->cr.match.key.nw_dst = dst;
    r->cr.match.mask.nw_dst = prefix_mask(dst_len);
    match_normalize(&r->cr.match);
    r->cr.priority = priority;
    r->accept = true;
}

static void
ip_key(struct flow_key *k, be32 src, be32 dst)
{
    memset(k, 0, sizeof *k);
    k->dl_type = htons(0x0800);
    k->nw_src = src;
    k->nw_dst = dst;
}

/* A lookup that already holds a priority-P match stops before subtables
 * whose maximum is below P: the probe count shows the stop, and the
 * predicate of a filtered lookup never sees the rules below its answer. */
static void
test_early_stop_and_order(void **state)
{
    struct classifier *cls = cls_create();
    struct test_rule hi, lo, mid;
    struct flow_key k;

    exact_ip(&lo, htonl(0x0a000000), 0, 8, 0, 10);
    exact_ip(&hi, htonl(0x0a000001), htonl(0x0a000002), 32, 32, 1000);
    exact_ip(&mid, 0, htonl(0x0a000000), 0, 24, 500);
    cls_insert(cls, &lo.cr);
    cls_insert(cls, &hi.cr);
    cls_insert(cls, &mid.cr);
    assert_int_equal(cls_n_subtables(cls), 3);

    ip_key(&k, htonl(0x0a000001), htonl(0x0a000002));
    assert_ptr_equal(cls_lookup(cls, &k), &hi.cr);
    size_t n_probes;
    assert_ptr_equal(cls_lookup_probes(cls, &k, &n_probes), &hi.cr);
    assert_int_equal(n_probes, 1);
    /* A packet only the lowest rule matches probes all three. */
    struct flow_key k_lo;
    ip_key(&k_lo, htonl(0x0a0000ff), htonl(0x0b000000));
    assert_ptr_equal(cls_lookup_probes(cls, &k_lo, &n_probes), &lo.cr);
    assert_int_equal(n_probes, 3);
    /* One that hits 'mid' (second subtable) stops before 'lo''s. */
    ip_key(&k_lo, htonl(0x0a0000ff), htonl(0x0a000005));
    assert_ptr_equal(cls_lookup_probes(cls, &k_lo, &n_probes), &mid.cr);
    assert_int_equal(n_probes, 2);
    struct pred_log log = {0, NULL, false};
    assert_ptr_equal(cls_lookup_filtered(cls, &k, test_pred, &log), &hi.cr);
    assert_int_equal(log.calls, 1);

    /* Rejecting the best falls back in rank order: hi, then mid. */
    hi.accept = false;
    memset(&log, 0, sizeof log);
    assert_ptr_equal(cls_lookup_filtered(cls, &k, test_pred, &log), &mid.cr);
    assert_int_equal(log.calls, 2);
    mid.accept = false;
    memset(&log, 0, sizeof log);
    assert_ptr_equal(cls_lookup_filtered(cls, &k, test_pred, &log), &lo.cr);
    assert_int_equal(log.calls, 3);
    lo.accept = false;
    memset(&log, 0, sizeof log);
    assert_null(cls_lookup_filtered(cls, &k, test_pred, &log));
    assert_int_equal(log.calls, 3);
    assert_false(log.out_of_order);

    /* Raising the low rule's subtable above the others reorders them: the
     * removal and re-insert at a higher priority must win at once. */
    cls_remove(cls, &lo.cr);
    lo.cr.priority = 2000;
    cls_insert(cls, &lo.cr);
    assert_ptr_equal(cls_lookup(cls, &k), &lo.cr);
    cls_remove(cls, &lo.cr);
    assert_ptr_equal(cls_lookup(cls, &k), &hi.cr);
    cls_remove(cls, &hi.cr);
    assert_ptr_equal(cls_lookup(cls, &k), &mid.cr);
    cls_remove(cls, &mid.cr);
    assert_null(cls_lookup(cls, &k));
    assert_int_equal(cls_n_subtables(cls), 0);
    cls_destroy(cls);
}

/* Removing a subtable's top rule lowers its maximum to the next rule's
 * priority (not below: that would end lookups before it), which moves it
 * behind subtables it no longer beats. */
static void
test_remove_updates_order(void **state)
{
    struct classifier *cls = cls_create();
    struct test_rule a1000, a300, a10, b500, c100;
    struct flow_key k;
    size_t n_probes;

    /* Subtable A: nw_src/32; B: nw_dst/32; C: nw_dst/8. */
    exact_ip(&a1000, htonl(0x01000001), 0, 32, 0, 1000);
    exact_ip(&a300, htonl(0x01000002), 0, 32, 0, 300);
    exact_ip(&a10, htonl(0x01000003), 0, 32, 0, 10);
    exact_ip(&b500, 0, htonl(0x02000001), 0, 32, 500);
    exact_ip(&c100, 0, htonl(0x03000000), 0, 8, 100);
    cls_insert(cls, &a300.cr);
    cls_insert(cls, &a1000.cr);
    cls_insert(cls, &a10.cr);
    cls_insert(cls, &b500.cr);
    cls_insert(cls, &c100.cr);

    /* Order A(1000), B(500), C(100): B's packet probes A first. */
    ip_key(&k, htonl(0x09000000), htonl(0x02000001));
    assert_ptr_equal(cls_lookup_probes(cls, &k, &n_probes), &b500.cr);
    assert_int_equal(n_probes, 2);

    /* Now B(500), A(300), C(100). */
    cls_remove(cls, &a1000.cr);
    assert_ptr_equal(cls_lookup_probes(cls, &k, &n_probes), &b500.cr);
    assert_int_equal(n_probes, 1);
    ip_key(&k, htonl(0x01000002), htonl(0x03000001));
    assert_ptr_equal(cls_lookup_probes(cls, &k, &n_probes), &a300.cr);
    assert_int_equal(n_probes, 2);

    /* And B(500), C(100), A(10). */
    cls_remove(cls, &a300.cr);
    assert_ptr_equal(cls_lookup(cls, &k), &c100.cr);
    ip_key(&k, htonl(0x01000003), htonl(0x03000001));
    assert_ptr_equal(cls_lookup_probes(cls, &k, &n_probes), &c100.cr);
    assert_int_equal(n_probes, 2);
    ip_key(&k, htonl(0x01000003), htonl(0x04000001));
    assert_ptr_equal(cls_lookup_probes(cls, &k, &n_probes), &a10.cr);
    assert_int_equal(n_probes, 3);

    cls_remove(cls, &a10.cr);
    cls_remove(cls, &b500.cr);
    cls_remove(cls, &c100.cr);
    cls_destroy(cls);
}

/* Equal priorities: the earlier-inserted rule wins, whether the two share a
 * match (same entry), only a mask (same subtable) or nothing. */
static void
test_equal_priorities(void **state)
{
    struct classifier *cls = cls_create();
    struct test_rule a, b, c, d;
    struct flow_key k;

    exact_ip(&a, 0, htonl(0x0a000000), 0, 8, 100);
    exact_ip(&b, htonl(0x0b000000), 0, 8, 0, 100);
    exact_ip(&c, 0, htonl(0x0a000000), 0, 8, 100); /* Same match as a. */
    exact_ip(&d, 0, htonl(0x0a000000), 0, 8, 200); /* Same, higher. */
    cls_insert(cls, &a.cr);
    cls_insert(cls, &b.cr);
    cls_insert(cls, &c.cr);

    ip_key(&k, htonl(0x0b000001), htonl(0x0a000001));
    assert_ptr_equal(cls_lookup(cls, &k), &a.cr);
    assert_ptr_equal(cls_lookup_below(cls, &k, &a.cr), &b.cr);
    assert_ptr_equal(cls_lookup_below(cls, &k, &b.cr), &c.cr);
    assert_null(cls_lookup_below(cls, &k, &c.cr));
    assert_ptr_equal(cls_find_exact(cls, &c.cr.match, 100), &a.cr);

    cls_remove(cls, &a.cr);
    assert_ptr_equal(cls_lookup(cls, &k), &b.cr);
    cls_insert(cls, &d.cr);
    assert_ptr_equal(cls_lookup(cls, &k), &d.cr);
    assert_ptr_equal(cls_find_exact(cls, &d.cr.match, 200), &d.cr);
    assert_null(cls_find_exact(cls, &d.cr.match, 300));

    /* Re-inserting 'a' makes it the newest: it now loses to 'b' and 'c'. */
    cls_remove(cls, &d.cr);
    cls_insert(cls, &a.cr);
    assert_ptr_equal(cls_lookup(cls, &k), &b.cr);
    assert_ptr_equal(cls_lookup_below(cls, &k, &b.cr), &c.cr);
    assert_ptr_equal(cls_lookup_below(cls, &k, &c.cr), &a.cr);

    /* Replace keeps the rank of the rule it replaces. */
    struct test_rule c2 = c;
    cls_replace(cls, &c.cr, &c2.cr);
    assert_ptr_equal(cls_lookup_below(cls, &k, &b.cr), &c2.cr);
    assert_ptr_equal(cls_lookup_below(cls, &k, &c2.cr), &a.cr);
    cls_remove(cls, &c2.cr);
    cls_remove(cls, &a.cr);
    cls_remove(cls, &b.cr);
    assert_int_equal(cls_count(cls), 0);
    cls_destroy(cls);
}

/* A catch-all (empty mask) matches every key, and loses to anything of
 * higher priority; with no rules at all, nothing matches. */
static void
test_catchall(void **state)
{
    struct classifier *cls = cls_create();
    struct test_rule any, ip;
    struct flow_key k;
    const struct cls_rule *out[3];

    ip_key(&k, htonl(1), htonl(2));
    assert_null(cls_lookup(cls, &k));

    memset(&any, 0, sizeof any);
    match_init_catchall(&any.cr.match);
    any.cr.priority = 0;
    cls_insert(cls, &any.cr);
    exact_ip(&ip, htonl(1), 0, 32, 0, 5);
    cls_insert(cls, &ip.cr);

    struct flow_key zero, other;
    memset(&zero, 0, sizeof zero);
    ip_key(&other, htonl(3), htonl(2));
    const struct flow_key *keys[3] = {&k, &zero, &other};
    cls_lookup_batch(cls, keys, 3, out);
    assert_ptr_equal(out[0], &ip.cr);
    assert_ptr_equal(out[1], &any.cr);
    assert_ptr_equal(out[2], &any.cr);
    assert_true(match_matches(&any.cr.match, &zero));

    cls_remove(cls, &ip.cr);
    assert_ptr_equal(cls_lookup(cls, &k), &any.cr);
    cls_remove(cls, &any.cr);
    assert_null(cls_lookup(cls, &k));
    cls_destroy(cls);
    cls_destroy(NULL);
}

/* Many exact-match rules in one subtable: the hash table grows and every
 * rule stays reachable. */
static void
test_many_exact(void **state)
{
    struct classifier *cls = cls_create();
    size_t n = 20000;
    struct test_rule *rules = xcalloc(n, sizeof *rules);
    struct flow_key k;

    for (size_t i = 0; i < n; i++) {
        exact_ip(&rules[i], htonl((uint32_t)i), htonl(7), 32, 32, 100);
        cls_insert(cls, &rules[i].cr);
    }
    assert_int_equal(cls_n_subtables(cls), 1);
    for (size_t i = 0; i < n; i++) {
        ip_key(&k, htonl((uint32_t)i), htonl(7));
        assert_ptr_equal(cls_lookup(cls, &k), &rules[i].cr);
    }
    ip_key(&k, htonl((uint32_t)n), htonl(7));
    assert_null(cls_lookup(cls, &k));
    for (size_t i = 0; i < n; i += 2) {
        cls_remove(cls, &rules[i].cr);
    }
    for (size_t i = 0; i < n; i++) {
        ip_key(&k, htonl((uint32_t)i), htonl(7));
        assert_ptr_equal(cls_lookup(cls, &k), i % 2 ? &rules[i].cr : NULL);
    }
    cls_destroy(cls);
    free(rules);
}

static void
test_match_functions(void **state)
{
    struct match wide, narrow;
    struct test_rule r;

    exact_ip(&r, 0, htonl(0x0a000000), 0, 8, 0);
    wide = r.cr.match;
    exact_ip(&r, htonl(0x01020304), htonl(0x0a010203), 32, 24, 0);
    narrow = r.cr.match;
    assert_true(match_covers(&wide, &narrow));
    assert_false(match_covers(&narrow, &wide));
    assert_true(match_covers(&wide, &wide));
    assert_true(match_equal(&wide, &wide));
    assert_false(match_equal(&wide, &narrow));

    exact_ip(&r, 0, htonl(0x0b000000), 0, 8, 0);
    assert_false(match_covers(&r.cr.match, &narrow));

    struct match any;
    match_init_catchall(&any);
    assert_true(match_covers(&any, &narrow));
    assert_false(match_covers(&narrow, &any));

    /* Normalising clears key bits outside the mask. */
    struct match m;
    match_init_catchall(&m);
    m.key.nw_src = htonl(0x0a0b0c0d);
    m.mask.nw_src = prefix_mask(16);
    match_normalize(&m);
    assert_int_equal(m.key.nw_src, htonl(0x0a0b0000));

    struct flow_key k;
    ip_key(&k, htonl(0x0a0bffff), 0);
    assert_true(match_matches(&m, &k));
    k.nw_src = htonl(0x0a0cffff);
    assert_false(match_matches(&m, &k));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match_functions),
        cmocka_unit_test(test_early_stop_and_order),
        cmocka_unit_test(test_remove_updates_order),
        cmocka_unit_test(test_equal_priorities),
        cmocka_unit_test(test_catchall),
        cmocka_unit_test(test_many_exact),
        cmocka_unit_test(test_random_small),
        cmocka_unit_test(test_random_large),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
