/* Unit tests for the datapath flow cache (src/flow/flow_cache.c), through
 * the pipeline that uses it: hits and misses as pipeline_get_stats() counts
 * them, un-wildcarded megaflows, filter programs re-run on a hit, exact
 * invalidation (a rule change takes effect on the very next packet, and
 * changes a flow does not depend on leave it cached), and a randomized
 * differential test: random multi-table rule sets with goto_table,
 * resubmit, rewrites, filter and action programs, random packets and rule
 * changes interleaved, run through a pipeline with the cache and one
 * without, which must agree on every output byte, rule counter, idle age,
 * drop counter and program run. */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>

#include "core/util.h"
#include "flow/flow_parse.h"
#include "flow/pipeline.h"
#include "pkt/pkt.h"

#define SEC UINT64_C(1000000000)

/* ---- Outputs. ---- */

struct out_rec {
    uint32_t port;     /* Output port. */
    uint32_t len;      /* Frame bytes. */
    uint8_t data[128]; /* Frame copy (test frames are short). */
};

struct outs {
    size_t n;               /* Records used. */
    struct out_rec r[1024]; /* Outputs in order. */
};

static void
record_output(void *aux, uint32_t port, const struct packet *p)
{
    struct outs *o = aux;

    assert_true(o->n < ARRAY_SIZE(o->r));
    assert_true(p->len <= sizeof o->r[0].data);
    o->r[o->n].port = port;
    o->r[o->n].len = p->len;
    memcpy(o->r[o->n].data, packet_data(p), p->len);
    o->n++;
}

/* ---- Programs: one set per pipeline, so run counts can be compared. ---- */

enum tprog_kind {
    TK_FLAG,  /* Filter: returns the test's 'flag' (not in any key). */
    TK_ODD,   /* Filter: the low bit of the IPv4 ID (not in the key). */
    TK_HTTP,  /* Filter: TCP destination port 80, read from the bytes. */
    TK_SETTL, /* Action, may modify: IPv4 TTL := 9, returns XDP_PASS. */
    TK_PASS,  /* Action: XDP_PASS. */
    TK_DROP,  /* Action: XDP_DROP. */
};

struct tprog {
    struct pipeline_prog pp;
    enum tprog_kind kind;
    unsigned int runs; /* Times run. */
};

#define N_TPROGS 6
struct tprogs {
    struct tprog p[N_TPROGS];
};

static uint64_t flag; /* TK_FLAG's verdict. */

static uint64_t
tprog_run(void *impl, struct packet *p, uint32_t *redirect_port)
{
    struct tprog *tp = impl;
    uint8_t *d = packet_data(p);
    bool ip4 = p->l3_ofs != PACKET_OFS_NONE && p->key.dl_type == htons(0x0800);

    (void)redirect_port;
    tp->runs++;
    switch (tp->kind) {
    case TK_FLAG:
        return flag;
    case TK_ODD:
        return ip4 && p->l3_ofs + 6u <= p->len ? d[p->l3_ofs + 5] & 1 : 0;
    case TK_HTTP:
        if (p->l4_ofs == PACKET_OFS_NONE || p->key.nw_proto != 6 ||
            p->l4_ofs + 4u > p->len) {
            return 0;
        }
        return (d[p->l4_ofs + 2] << 8 | d[p->l4_ofs + 3]) == 80;
    case TK_SETTL:
        if (ip4) {
            d[p->l3_ofs + 8] = 9;
        }
        return 2;
    case TK_PASS:
        return 2;
    case TK_DROP:
        return 1;
    }
    return 0;
}

static void
tprogs_init(struct tprogs *t)
{
    static const char *const names[N_TPROGS] = {
        "flag", "odd", "http", "settl", "pass", "dropper",
    };
    for (size_t i = 0; i < N_TPROGS; i++) {
        memset(&t->p[i], 0, sizeof t->p[i]);
        t->p[i].pp.name = names[i];
        t->p[i].pp.impl = &t->p[i];
        t->p[i].pp.run = tprog_run;
        t->p[i].kind = (enum tprog_kind)i;
        t->p[i].pp.may_modify = i == TK_SETTL;
    }
}

static struct pipeline_prog *
tprogs_lookup(void *aux, const char *name)
{
    struct tprogs *t = aux;

    for (size_t i = 0; i < N_TPROGS; i++) {
        if (!strcmp(t->p[i].pp.name, name)) {
            return &t->p[i].pp;
        }
    }
    return NULL;
}

/* ---- Fixture: a pipeline with its outputs and programs. ---- */

struct side {
    struct pipeline *pl;
    struct outs outs;
    struct tprogs progs;
};

static void
side_init(struct side *s, bool cache)
{
    static const uint32_t ports[] = {1, 2, 3, 4};

    s->outs.n = 0;
    tprogs_init(&s->progs);
    s->pl = pipeline_create();
    pipeline_set_cache(s->pl, cache);
    assert_int_equal(pipeline_cache_enabled(s->pl), cache);
    pipeline_set_output(s->pl, record_output, &s->outs);
    pipeline_set_prog_lookup(s->pl, tprogs_lookup, &s->progs);
    pipeline_set_ports(s->pl, ports, ARRAY_SIZE(ports));
}

static int
fx_setup(void **state)
{
    struct side *s = xzalloc(sizeof *s);

    flag = 1;
    side_init(s, true);
    *state = s;
    return 0;
}

static int
fx_teardown(void **state)
{
    struct side *s = *state;

    pipeline_destroy(s->pl);
    free(s);
    return 0;
}

/* Adds 'text' at 'now'; returns the error (NULL on success). */
static char *
try_add(struct side *s, const char *text, uint64_t now)
{
    struct flow_spec spec;
    int col = 0;
    char *err = flow_spec_parse(&spec, text, FLOW_PARSE_ADD, &col);

    if (err) {
        fail_msg("'%s': column %d: %s", text, col, err);
    }
    err = pipeline_add(s->pl, &spec, now);
    flow_spec_destroy(&spec);
    return err;
}

static void
add(struct side *s, const char *text)
{
    char *err = try_add(s, text, 0);

    if (err) {
        fail_msg("adding '%s': %s", text, err);
    }
}

static size_t
del(struct side *s, const char *text)
{
    struct flow_spec spec;
    int col = 0;
    char *err = flow_spec_parse(&spec, text, FLOW_PARSE_MATCH, &col);

    if (err) {
        fail_msg("'%s': column %d: %s", text, col, err);
    }
    size_t n = pipeline_del(s->pl, &spec);
    flow_spec_destroy(&spec);
    return n;
}

static struct packet *
mkpkt(const char *desc)
{
    struct flow_key key;
    int col = 0;
    char *err = flow_key_parse(&key, desc, &col);

    if (err) {
        fail_msg("'%s': column %d: %s", desc, col, err);
    }
    struct packet *p = packet_new(PACKET_DEFAULT_SIZE);
    pkt_compose(p, &key);
    p->in_port = key.in_port;
    pkt_parse(p);
    return p;
}

/* Runs one packet and returns the port it went to (0 if none), checking
 * that it went to at most one. */
static uint32_t
run1(struct side *s, const char *desc)
{
    struct packet *p = mkpkt(desc);
    struct packet_batch b;

    s->outs.n = 0;
    packet_batch_init(&b);
    packet_batch_add(&b, p);
    pipeline_process(s->pl, &b, 0);
    packet_destroy(p);
    assert_true(s->outs.n <= 1);
    return s->outs.n ? s->outs.r[0].port : 0;
}

static struct pipeline_stats
stats(const struct side *s)
{
    struct pipeline_stats st;

    pipeline_get_stats(s->pl, &st);
    return st;
}

/* ---- Tests. ---- */

/* The second packet of a flow hits the cache; the counters add up. */
static void
test_hit_and_stats(void **state)
{
    struct side *s = *state;

    add(s, "priority=10,in_port=1,actions=output:2");
    assert_int_equal(run1(s, "in_port=1,tcp,tp_dst=80"), 2);
    struct pipeline_stats st = stats(s);
    assert_int_equal(st.packets, 1);
    assert_int_equal(st.batches, 1);
    assert_int_equal(st.cls_lookups, 1);
    assert_int_equal(st.cache_entries, 1);
    assert_int_equal(st.emc_hits + st.megaflow_hits, 0);

    assert_int_equal(run1(s, "in_port=1,tcp,tp_dst=80"), 2);
    st = stats(s);
    assert_int_equal(st.packets, 2);
    assert_int_equal(st.cls_lookups, 1);
    assert_int_equal(st.emc_hits + st.megaflow_hits, 1);

    /* A batch of 32 packets of one new flow: the first walks the table,
     * the other 31 find the flow it cached. */
    struct packet_batch b;
    struct packet *pkts[32];
    packet_batch_init(&b);
    for (size_t i = 0; i < 32; i++) {
        pkts[i] = mkpkt("in_port=2,udp");
        packet_batch_add(&b, pkts[i]);
    }
    add(s, "priority=10,in_port=2,actions=output:3");
    s->outs.n = 0;
    pipeline_process(s->pl, &b, 0);
    for (size_t i = 0; i < 32; i++) {
        packet_destroy(pkts[i]);
    }
    assert_int_equal(s->outs.n, 32);
    st = stats(s);
    assert_int_equal(st.packets, 34);
    assert_int_equal(st.batches, 3);
    assert_int_equal(st.cls_lookups, 2);
    assert_int_equal(st.cache_entries, 2);

    /* Turned off, the cache is gone; every packet walks the tables. */
    pipeline_set_cache(s->pl, false);
    assert_int_equal(run1(s, "in_port=1,tcp,tp_dst=80"), 2);
    st = stats(s);
    assert_int_equal(st.cls_lookups, 3);
    assert_int_equal(st.cache_entries, 0);
    assert_int_equal(st.emc_hits + st.megaflow_hits, 32);
}

/* A megaflow covers every packet agreeing on the bits the lookup read:
 * here in_port and nw_dst (the /24 rule is skipped by the early stop, the
 * catch-all as well), whatever their sources and ports. */
static void
test_megaflow_wildcards(void **state)
{
    struct side *s = *state;
    char desc[128];

    add(s, "priority=100,in_port=1,ip,nw_dst=10.0.0.1,actions=output:2");
    add(s, "priority=50,ip,nw_src=192.168.1.0/24,actions=output:4");
    add(s, "priority=0,actions=output:3");
    for (int i = 0; i < 20; i++) {
        snprintf(desc, sizeof desc,
                 "in_port=1,tcp,nw_src=172.16.0.%d,nw_dst=10.0.0.1,"
                 "tp_src=%d",
                 i, 1000 + i);
        assert_int_equal(run1(s, desc), 2);
    }
    struct pipeline_stats st = stats(s);
    assert_int_equal(st.cache_entries, 1);
    assert_int_equal(st.cls_lookups, 1);

    /* Another destination: the catch-all answers after every subtable was
     * probed, so the megaflow fixes nw_src too. */
    assert_int_equal(run1(s, "in_port=1,tcp,nw_src=172.16.0.1,nw_dst=10.0.0.2"),
                     3);
    assert_int_equal(
        run1(s, "in_port=1,tcp,nw_src=192.168.1.7,nw_dst=10.0.0.2"), 4);
    assert_int_equal(
        run1(s, "in_port=1,tcp,nw_src=172.16.0.1,nw_dst=10.0.0.2,tp_src=9"), 3);
    st = stats(s);
    assert_int_equal(st.cache_entries, 3);
    assert_int_equal(st.cls_lookups, 3);
}

/* Each kind of rule change takes effect on the very next packet. */
static void
test_change_next_packet(void **state)
{
    struct side *s = *state;
    const char *pkt = "in_port=1,tcp,nw_dst=10.0.0.1,tp_dst=80";

    add(s, "priority=10,in_port=1,actions=output:2");
    assert_int_equal(run1(s, pkt), 2);
    assert_int_equal(run1(s, pkt), 2);

    /* A better rule. */
    add(s, "priority=20,ip,nw_dst=10.0.0.1,actions=output:3");
    assert_int_equal(run1(s, pkt), 3);
    assert_int_equal(stats(s).invalidations, 1);

    /* Its actions replaced (same match and priority). */
    assert_int_equal(run1(s, pkt), 3);
    add(s, "priority=20,ip,nw_dst=10.0.0.1,actions=output:4");
    assert_int_equal(run1(s, pkt), 4);

    /* Deleted: back to the first rule. */
    assert_int_equal(run1(s, pkt), 4);
    assert_int_equal(del(s, "ip,nw_dst=10.0.0.1"), 1);
    assert_int_equal(run1(s, pkt), 2);

    /* A rule in a later table, reached by goto_table, then changed. */
    add(s, "priority=10,in_port=1,actions=goto_table:2");
    add(s, "table=2,priority=5,actions=output:3");
    assert_int_equal(run1(s, pkt), 3);
    assert_int_equal(run1(s, pkt), 3);
    add(s, "table=2,priority=6,tcp,tp_dst=80,actions=output:4");
    assert_int_equal(run1(s, pkt), 4);
    assert_int_equal(run1(s, pkt), 4);

    /* Expiry: a hard timeout removes the rule at its time. */
    char *err = try_add(s,
                        "table=2,priority=7,hard_timeout=5,tcp,"
                        "actions=output:2",
                        SEC);
    assert_null(err);
    assert_int_equal(run1(s, pkt), 2);
    assert_int_equal(run1(s, pkt), 2);
    assert_int_equal(pipeline_expire(s->pl, 6 * SEC), 1);
    assert_int_equal(run1(s, pkt), 4);

    /* Everything deleted: a table miss. */
    del(s, "");
    assert_int_equal(run1(s, pkt), 0);
    uint64_t c[PIPELINE_N_DROPS];
    pipeline_drop_counts(s->pl, c);
    assert_int_equal(c[PIPELINE_DROP_TABLE_MISS], 1);
}

/* A change no cached walk depends on leaves the flows cached. */
static void
test_unrelated_change_keeps_flows(void **state)
{
    struct side *s = *state;
    const char *a = "in_port=1,tcp,nw_dst=10.0.0.1";
    const char *b = "in_port=2,tcp,nw_dst=10.0.0.2";

    add(s, "priority=10,in_port=1,actions=output:2");
    add(s, "priority=10,in_port=2,actions=output:3");
    assert_int_equal(run1(s, a), 2);
    assert_int_equal(run1(s, b), 3);
    assert_int_equal(stats(s).cache_entries, 2);

    /* Matches neither flow's packets. */
    add(s, "priority=90,in_port=3,actions=output:1");
    /* Matches a's packets but ranks below the rule that answered. */
    add(s, "priority=5,ip,actions=output:4");
    /* Same priority as a's winner: added later, so it ranks below. */
    add(s, "priority=10,ip,nw_dst=10.0.0.1,actions=output:4");
    /* In a table neither flow visited. */
    add(s, "table=3,priority=90,actions=output:4");
    struct pipeline_stats st = stats(s);
    assert_int_equal(st.invalidations, 0);
    assert_int_equal(st.cache_entries, 2);
    uint64_t lookups = st.cls_lookups;
    assert_int_equal(run1(s, a), 2);
    assert_int_equal(run1(s, b), 3);
    assert_int_equal(stats(s).cls_lookups, lookups);

    /* Deleting a rule that answered neither drops nothing; deleting a's
     * winner drops exactly a's flow. */
    assert_int_equal(del(s, "in_port=3"), 1);
    assert_int_equal(stats(s).cache_entries, 2);
    assert_int_equal(del(s, "in_port=1"), 1);
    st = stats(s);
    assert_int_equal(st.invalidations, 1);
    assert_int_equal(st.cache_entries, 1);
    assert_int_equal(run1(s, a), 4);
    assert_int_equal(run1(s, b), 3);
}

/* Filter programs run again on every hit, once per packet and in rank
 * order; a different verdict hands the packet back to the classifier. */
static void
test_filter_replay(void **state)
{
    struct side *s = *state;
    struct tprog *fl = &s->progs.p[TK_FLAG];
    const char *pkt = "in_port=1,tcp";

    add(s, "priority=30,in_port=1,prog=flag,actions=output:2");
    add(s, "priority=20,in_port=1,prog=flag,actions=output:3");
    add(s, "priority=10,in_port=1,actions=output:4");

    flag = 1;
    assert_int_equal(run1(s, pkt), 2);
    assert_int_equal(run1(s, pkt), 2);
    assert_int_equal(fl->runs, 2);

    /* The cached winner now refuses: the next one is asked, as the
     * classifier would, and the program ran twice for this packet. */
    flag = 0;
    assert_int_equal(run1(s, pkt), 4);
    assert_int_equal(fl->runs, 4);
    /* The stale flow was dropped; the next packet records the new walk
     * (both filters refuse) and the one after replays it. */
    assert_int_equal(run1(s, pkt), 4);
    assert_int_equal(fl->runs, 6);
    uint64_t lookups = stats(s).cls_lookups;
    assert_int_equal(run1(s, pkt), 4);
    assert_int_equal(fl->runs, 8);
    assert_int_equal(stats(s).cls_lookups, lookups);

    /* A refused rule accepts again: it wins at once. */
    flag = 1;
    assert_int_equal(run1(s, pkt), 2);
    assert_int_equal(fl->runs, 9);

    /* Verdicts flipping on every packet drop a flow each time, in batches
     * where other packets still replay it; the dropped flows are freed
     * between batches (run under ASan to see that none is used after). */
    for (int i = 0; i < 3000; i++) {
        struct packet *pkts[3];
        struct packet_batch b;
        packet_batch_init(&b);
        for (size_t j = 0; j < 3; j++) {
            pkts[j] = mkpkt(pkt);
            packet_batch_add(&b, pkts[j]);
        }
        flag = i & 1;
        s->outs.n = 0;
        pipeline_process(s->pl, &b, 0);
        for (size_t j = 0; j < 3; j++) {
            packet_destroy(pkts[j]);
            assert_int_equal(s->outs.r[j].port, flag ? 2 : 4);
        }
    }
}

/* An action program that may rewrite the packet ends the cached part of
 * the walk; the lookups after it still see the rewritten packet. */
static void
test_action_program_stops_replay(void **state)
{
    struct side *s = *state;

    add(s, "priority=10,in_port=1,ip,actions=prog:settl,goto_table:1");
    add(s, "table=1,priority=10,ip,nw_ttl=9,actions=output:2");
    add(s, "table=1,priority=5,actions=output:3");
    for (int i = 0; i < 3; i++) {
        assert_int_equal(run1(s, "in_port=1,tcp,nw_ttl=64"), 2);
    }
    struct pipeline_stats st = stats(s);
    assert_int_equal(st.cls_lookups, 1);
    assert_int_equal(s->progs.p[TK_SETTL].runs, 3);
    /* A change in table 1 reaches the cached walk's uncached part at
     * once, and leaves its flow cached. */
    add(s, "table=1,priority=20,ip,nw_ttl=9,actions=output:4");
    assert_int_equal(run1(s, "in_port=1,tcp,nw_ttl=64"), 4);
    assert_int_equal(stats(s).cls_lookups, 1);
}

/* Runs a double-tagged packet of 'desc' whose inner VID is 'inner' and
 * returns the port it went to (0 if none). */
static uint32_t
run_qinq(struct side *s, const char *desc, unsigned int inner)
{
    struct flow_key key;
    struct packet_batch b;
    int col = 0;
    char *err = flow_key_parse(&key, desc, &col);

    if (err) {
        fail_msg("'%s': column %d: %s", desc, col, err);
    }
    key.vlan_tci2 = htons((uint16_t)(VLAN_CFI | inner));
    struct packet *p = packet_new(PACKET_DEFAULT_SIZE);
    pkt_compose(p, &key);
    p->in_port = key.in_port;
    pkt_parse(p);
    assert_int_equal(p->n_vlans, 2);
    s->outs.n = 0;
    packet_batch_init(&b);
    packet_batch_add(&b, p);
    pipeline_process(s->pl, &b, 0);
    packet_destroy(p);
    assert_true(s->outs.n <= 1);
    return s->outs.n ? s->outs.r[0].port : 0;
}

/* A later lookup's key may depend on bits the megaflow does not fix: after
 * pop_vlan, table 1 sees the inner tag, which the first key carries in
 * vlan_tci2 while the megaflow fixes vlan_tci.  Replay checks each later
 * lookup's own match, so the second packet, in the same megaflow, is not
 * given the first one's answer. */
static void
test_later_steps_checked(void **state)
{
    struct side *s = *state;

    add(s, "priority=10,in_port=1,actions=pop_vlan,resubmit(,1)");
    add(s, "table=1,priority=10,dl_vlan=20,actions=output:2");
    add(s, "table=1,priority=5,actions=output:3");
    assert_int_equal(run_qinq(s, "in_port=1,dl_vlan=10,tcp", 20), 2);
    assert_int_equal(run_qinq(s, "in_port=1,dl_vlan=10,tcp", 20), 2);
    assert_int_equal(stats(s).cls_lookups, 1);
    assert_int_equal(run_qinq(s, "in_port=1,dl_vlan=10,tcp", 30), 3);
    assert_int_equal(run_qinq(s, "in_port=1,dl_vlan=10,tcp", 20), 2);
}

/* ---- Differential test. ---- */

static uint32_t rng_state;

static uint32_t
rnd(uint32_t n)
{
    rng_state = rng_state * 1103515245u + 12345u;
    return (rng_state >> 8) % n;
}

static const char *
pick(const char *const *choices, size_t n)
{
    return choices[rnd((uint32_t)n)];
}
#define PICK(A) pick(A, ARRAY_SIZE(A))

/* Writes a random rule into 'buf'. */
static void
random_rule(char *buf, size_t size, bool timeouts)
{
    static const char *const in_ports[] = {"", "in_port=1,", "in_port=2,"};
    static const char *const vlans[] = {"", "", "dl_vlan=10,", "dl_vlan=20,",
                                        "vlan_tci=0/0x1000,"};
    static const char *const protos[] = {"", "ip,", "tcp,", "udp,"};
    static const char *const srcs[] = {
        "",
        "nw_src=10.0.0.1,",
        "nw_src=10.0.0.2,",
        "nw_src=10.0.0.0/30,",
    };
    static const char *const dsts[] = {"", "nw_dst=10.1.0.1,",
                                       "nw_dst=10.1.0.9,"};
    static const char *const tps[] = {"", "tp_dst=80,", "tp_dst=22,"};
    static const char *const filters[] = {"", "", "prog=odd,", "prog=http,"};
    unsigned int table = rnd(4);
    const char *proto = PICK(protos);
    bool ip = *proto != '\0';
    bool l4 = ip && proto[0] != 'i';
    int len = snprintf(buf, size, "table=%u,priority=%u,%s%s%s%s%s%s%s", table,
                       10 * (1 + rnd(5)), PICK(in_ports), PICK(vlans), proto,
                       ip ? PICK(srcs) : "", ip ? PICK(dsts) : "",
                       l4 ? PICK(tps) : "", PICK(filters));
    if (timeouts && rnd(4) == 0) {
        len += snprintf(buf + len, size - (size_t)len, "%s=%u,",
                        rnd(2) ? "idle_timeout" : "hard_timeout", 1 + rnd(3));
    }
    len += snprintf(buf + len, size - (size_t)len, "actions=");

    unsigned int n = rnd(4);
    if (n == 0) {
        snprintf(buf + len, size - (size_t)len, "drop");
        return;
    }
    for (unsigned int i = 0; i < n; i++) {
        const char *sep = i ? "," : "";
        switch (rnd(ip ? 11 : 4)) {
        case 0:
        case 1:
            len += snprintf(buf + len, size - (size_t)len, "%soutput:%u", sep,
                            1 + rnd(5));
            break;
        case 2:
            len += snprintf(buf + len, size - (size_t)len, "%sresubmit(%s,%u)",
                            sep, rnd(3) ? "" : "2", rnd(4));
            break;
        case 3:
            len += snprintf(buf + len, size - (size_t)len, "%sprog:%s", sep,
                            rnd(4) ? "pass" : "dropper");
            break;
        case 4:
            len += snprintf(buf + len, size - (size_t)len,
                            "%smod_nw_dst:10.1.0.%u", sep, rnd(2) ? 1 : 9);
            break;
        case 5:
            len += snprintf(buf + len, size - (size_t)len, "%sdec_ttl", sep);
            break;
        case 6:
            len += snprintf(buf + len, size - (size_t)len, "%sprog:settl", sep);
            break;
        case 7:
            len += snprintf(buf + len, size - (size_t)len, "%smod_nw_tos:%u",
                            sep, 4 * rnd(4));
            break;
        case 8:
            len += snprintf(buf + len, size - (size_t)len, "%sin_port", sep);
            break;
        case 9:
            len += snprintf(buf + len, size - (size_t)len, "%spop_vlan", sep);
            break;
        default:
            len += snprintf(buf + len, size - (size_t)len, "%spush_vlan:0x8100",
                            sep);
            break;
        }
    }
    if (table < 3 && rnd(3) == 0) {
        snprintf(buf + len, size - (size_t)len, ",goto_table:%u",
                 table + 1 + rnd(3 - table));
    }
}

/* A random packet of a small flow space, with a random IPv4 ID (which
 * only the 'odd' filter reads), untagged, tagged or double-tagged. */
static struct packet *
random_packet(void)
{
    static const char *const vlans[] = {"", "", "dl_vlan=10,", "dl_vlan=20,"};
    static const char *const protos[] = {"tcp", "udp", "icmp", "arp"};
    char desc[160];
    const char *proto = PICK(protos);

    if (!strcmp(proto, "arp")) {
        snprintf(desc, sizeof desc, "in_port=%u,%sarp", 1 + rnd(2),
                 PICK(vlans));
    } else {
        snprintf(desc, sizeof desc,
                 "in_port=%u,%s%s,nw_src=10.0.0.%u,nw_dst=10.1.0.%u,"
                 "nw_ttl=%u%s",
                 1 + rnd(2), PICK(vlans), proto, 1 + rnd(3), rnd(2) ? 1 : 9,
                 rnd(4) ? 64 : 1 + rnd(2),
                 !strcmp(proto, "icmp") ? ""
                 : rnd(2)               ? ",tp_dst=80"
                                        : ",tp_dst=22");
    }
    struct flow_key key;
    int col = 0;
    char *err = flow_key_parse(&key, desc, &col);
    if (err) {
        fail_msg("'%s': column %d: %s", desc, col, err);
    }
    if (key.vlan_tci && rnd(2)) {
        key.vlan_tci2 = htons((uint16_t)(VLAN_CFI | (rnd(2) ? 10 : 20)));
    }
    struct packet *p = packet_new(PACKET_DEFAULT_SIZE);
    pkt_compose(p, &key);
    p->in_port = key.in_port;
    pkt_parse(p);
    if (p->key.dl_type == htons(0x0800)) {
        packet_data(p)[p->l3_ofs + 5] = (uint8_t)rnd(256);
    }
    return p;
}

static void
assert_sides_agree(struct side *a, struct side *b, uint64_t now)
{
    assert_int_equal(a->outs.n, b->outs.n);
    for (size_t i = 0; i < a->outs.n; i++) {
        assert_int_equal(a->outs.r[i].port, b->outs.r[i].port);
        assert_int_equal(a->outs.r[i].len, b->outs.r[i].len);
        assert_memory_equal(a->outs.r[i].data, b->outs.r[i].data,
                            a->outs.r[i].len);
    }
    uint64_t da[PIPELINE_N_DROPS], db[PIPELINE_N_DROPS];
    pipeline_drop_counts(a->pl, da);
    pipeline_drop_counts(b->pl, db);
    assert_memory_equal(da, db, sizeof da);
    for (size_t i = 0; i < N_TPROGS; i++) {
        assert_int_equal(a->progs.p[i].runs, b->progs.p[i].runs);
    }
    struct ds sa = DS_EMPTY_INITIALIZER, sb = DS_EMPTY_INITIALIZER;
    pipeline_dump(a->pl, true, now, &sa);
    pipeline_dump(b->pl, true, now, &sb);
    assert_string_equal(ds_cstr(&sa), ds_cstr(&sb));
    ds_destroy(&sa);
    ds_destroy(&sb);
}

static void
test_differential(void **state)
{
    struct side *cached = *state;
    struct side *plain = xzalloc(sizeof *plain);
    struct pipeline_stats st;
    uint64_t now = 0;
    char buf[512];

    (void)state;
    side_init(plain, false);
    rng_state = 20261122;
    for (int round = 0; round < 2000; round++) {
        /* A few rule changes, the same on both sides. */
        for (unsigned int c = rnd(3); c; c--) {
            unsigned int what = rnd(8);
            if (round < 20 || what < 5) {
                random_rule(buf, sizeof buf, true);
                char *ea = try_add(cached, buf, now);
                char *eb = try_add(plain, buf, now);
                assert_true((ea == NULL) == (eb == NULL));
                free(ea);
                free(eb);
            } else if (what < 7) {
                static const char *const dels[] = {
                    "in_port=1", "table=1",           "ip,nw_dst=10.1.0.1",
                    "tcp",       "table=0,in_port=2", "ip,nw_src=10.0.0.0/30",
                };
                const char *d = PICK(dels);
                assert_int_equal(del(cached, d), del(plain, d));
            } else {
                now += SEC;
                assert_int_equal(pipeline_expire(cached->pl, now),
                                 pipeline_expire(plain->pl, now));
            }
        }
        flag = rnd(2);

        /* A batch of 1 to 32 packets, the same bytes on both sides. */
        struct packet_batch ba, bb;
        struct packet *pa[PACKET_BATCH_MAX], *pb[PACKET_BATCH_MAX];
        unsigned int n = 1 + rnd(PACKET_BATCH_MAX);
        packet_batch_init(&ba);
        packet_batch_init(&bb);
        for (unsigned int i = 0; i < n; i++) {
            pa[i] = random_packet();
            pb[i] = packet_clone(pa[i]);
            packet_batch_add(&ba, pa[i]);
            packet_batch_add(&bb, pb[i]);
        }
        cached->outs.n = plain->outs.n = 0;
        now += SEC / 4;
        pipeline_process(cached->pl, &ba, now);
        pipeline_process(plain->pl, &bb, now);
        for (unsigned int i = 0; i < n; i++) {
            packet_destroy(pa[i]);
            packet_destroy(pb[i]);
        }
        assert_sides_agree(cached, plain, now);
    }
    /* The test is only worth something if the cache was used: most
     * packets hit, and rule changes dropped flows. */
    pipeline_get_stats(cached->pl, &st);
    print_message("differential: %" PRIu64 " packets, %" PRIu64
                  " EMC hits, %" PRIu64 " megaflow hits, %" PRIu64
                  " walks, %" PRIu64 " invalidations\n",
                  st.packets, st.emc_hits, st.megaflow_hits, st.cls_lookups,
                  st.invalidations);
    assert_true(st.emc_hits + st.megaflow_hits > st.packets / 2);
    assert_true(st.invalidations > 0);
    pipeline_destroy(plain->pl);
    free(plain);
}

int
main(void)
{
#define T(NAME) cmocka_unit_test_setup_teardown(NAME, fx_setup, fx_teardown)
    const struct CMUnitTest tests[] = {
        T(test_hit_and_stats),       T(test_megaflow_wildcards),
        T(test_change_next_packet),  T(test_unrelated_change_keeps_flows),
        T(test_filter_replay),       T(test_action_program_stops_replay),
        T(test_later_steps_checked), T(test_differential),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
