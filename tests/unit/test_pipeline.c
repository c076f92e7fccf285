/* Unit tests for the pipeline: rules written in ovs-ofctl syntax, packets
 * composed from flow descriptions (or edited as raw bytes), run end to end
 * through pipeline_process(), with the outputs captured by a real output
 * callback and checked byte by byte (checksums recomputed here, by an
 * independent RFC 1071 implementation).  Filter and action programs are C
 * functions behind struct pipeline_prog, the same interface the eBPF
 * runtime implements. */
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
#include <jansson.h>

#include "core/util.h"
#include "flow/flow_parse.h"
#include "flow/flow_prog.h"
#include "flow/pipeline.h"
#include "pkt/pkt.h"

#define SEC UINT64_C(1000000000)

/* ---- Outputs. ---- */

struct out_rec {
    uint32_t port;     /* Output port. */
    uint32_t len;      /* Frame bytes. */
    uint8_t data[512]; /* Frame copy. */
};

struct outs {
    size_t n; /* Records used. */
    struct out_rec r[128];
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

/* ---- Programs. ---- */

enum test_prog_kind {
    TP_HTTP_FILTER, /* Filter: TCP destination port 80 (read raw). */
    TP_VERDICT,     /* Action: returns 'verdict', maybe redirects. */
    TP_SET_TTL,     /* Action: writes IPv4 TTL 9 in the bytes. */
};

struct test_prog {
    struct pipeline_prog pp;
    enum test_prog_kind kind;
    uint64_t verdict;  /* TP_VERDICT's return value. */
    uint32_t redirect; /* Port for XDP_REDIRECT. */
    unsigned int runs; /* Times run. */
};

static uint16_t
rfc1071(const uint8_t *data, size_t len, uint32_t sum)
{
    for (size_t i = 0; i + 1 < len; i += 2) {
        sum += (uint32_t)(data[i] << 8 | data[i + 1]);
    }
    if (len & 1) {
        sum += (uint32_t)data[len - 1] << 8;
    }
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return (uint16_t)sum;
}

static uint64_t
test_prog_run(void *impl, struct packet *p, uint32_t *redirect_port)
{
    struct test_prog *tp = impl;
    uint8_t *d = packet_data(p);

    tp->runs++;
    switch (tp->kind) {
    case TP_HTTP_FILTER:
        if (p->l4_ofs == PACKET_OFS_NONE || p->key.nw_proto != 6 ||
            p->l4_ofs + 4u > p->len) {
            return 0;
        }
        return (d[p->l4_ofs + 2] << 8 | d[p->l4_ofs + 3]) == 80;
    case TP_VERDICT:
        *redirect_port = tp->redirect;
        return tp->verdict;
    case TP_SET_TTL: {
        uint8_t *ip = d + p->l3_ofs;
        ip[8] = 9;
        ip[10] = ip[11] = 0;
        uint16_t c = (uint16_t)~rfc1071(ip, (ip[0] & 0xf) * 4u, 0);
        ip[10] = (uint8_t)(c >> 8);
        ip[11] = (uint8_t)c;
        return 2;
    }
    }
    return 0;
}

#define N_PROGS 7
static struct test_prog progs[N_PROGS];

static void
progs_init(void)
{
    static const struct {
        const char *name;
        enum test_prog_kind kind;
        uint64_t verdict;
        uint32_t redirect;
    } defs[N_PROGS] = {
        {"http", TP_HTTP_FILTER, 0, 0}, {"aborted", TP_VERDICT, 0, 0},
        {"dropper", TP_VERDICT, 1, 0},  {"pass", TP_VERDICT, 2, 0},
        {"tx", TP_VERDICT, 3, 0},       {"redir", TP_VERDICT, 4, 3},
        {"settl", TP_SET_TTL, 0, 0},
    };
    for (size_t i = 0; i < N_PROGS; i++) {
        progs[i].pp.name = defs[i].name;
        progs[i].pp.impl = &progs[i];
        progs[i].pp.run = test_prog_run;
        /* As the verifier would report it: only settl stores into the
         * packet, so only it makes the pipeline re-parse. */
        progs[i].pp.may_modify = defs[i].kind == TP_SET_TTL;
        progs[i].pp.n_refs = 0;
        progs[i].kind = defs[i].kind;
        progs[i].verdict = defs[i].verdict;
        progs[i].redirect = defs[i].redirect;
        progs[i].runs = 0;
    }
}

static struct test_prog *
prog_by_name(const char *name)
{
    for (size_t i = 0; i < N_PROGS; i++) {
        if (!strcmp(progs[i].pp.name, name)) {
            return &progs[i];
        }
    }
    return NULL;
}

static struct pipeline_prog *
lookup_prog(void *aux, const char *name)
{
    struct test_prog *tp = prog_by_name(name);
    return tp ? &tp->pp : NULL;
}

/* ---- Fixture. ---- */

struct fx {
    struct pipeline *pl;
    struct outs outs;
};

static int
fx_setup(void **state)
{
    static const uint32_t ports[] = {1, 2, 3, 4};
    struct fx *fx = xzalloc(sizeof *fx);

    progs_init();
    fx->pl = pipeline_create();
    pipeline_set_output(fx->pl, record_output, &fx->outs);
    pipeline_set_prog_lookup(fx->pl, lookup_prog, NULL);
    pipeline_set_ports(fx->pl, ports, ARRAY_SIZE(ports));
    *state = fx;
    return 0;
}

static int
fx_teardown(void **state)
{
    struct fx *fx = *state;

    pipeline_destroy(fx->pl);
    free(fx);
    return 0;
}

static struct flow_spec *
parse_spec(const char *text, enum flow_parse_mode mode)
{
    struct flow_spec *spec = xmalloc(sizeof *spec);
    int col = 0;
    char *err = flow_spec_parse(spec, text, mode, &col);

    if (err) {
        fail_msg("'%s': column %d: %s", text, col, err);
    }
    return spec;
}

static void
free_spec(struct flow_spec *spec)
{
    flow_spec_destroy(spec);
    free(spec);
}

static void
add_at(struct fx *fx, const char *text, uint64_t now)
{
    struct flow_spec *spec = parse_spec(text, FLOW_PARSE_ADD);
    char *err = pipeline_add(fx->pl, spec, now);

    if (err) {
        fail_msg("adding '%s': %s", text, err);
    }
    free_spec(spec);
}

static void
add(struct fx *fx, const char *text)
{
    add_at(fx, text, 0);
}

static size_t
del(struct fx *fx, const char *text)
{
    struct flow_spec *spec = parse_spec(text, FLOW_PARSE_MATCH);
    size_t n = pipeline_del(fx->pl, spec);

    free_spec(spec);
    return n;
}

/* A well-formed frame carrying the fields of the flow description. */
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
    assert_int_equal(p->parse_err, PKT_ERR_NONE);
    return p;
}

/* Runs packets (one batch) at 'now' and frees them. */
static void
run_at(struct fx *fx, uint64_t now, struct packet **pkts, size_t n)
{
    struct packet_batch b;

    packet_batch_init(&b);
    for (size_t i = 0; i < n; i++) {
        packet_batch_add(&b, pkts[i]);
    }
    pipeline_process(fx->pl, &b, now);
    for (size_t i = 0; i < n; i++) {
        packet_destroy(pkts[i]);
    }
}

static void
run1_at(struct fx *fx, const char *desc, uint64_t now)
{
    struct packet *p = mkpkt(desc);
    run_at(fx, now, &p, 1);
}

static void
run1(struct fx *fx, const char *desc)
{
    run1_at(fx, desc, 0);
}

static uint64_t
drops(struct fx *fx, enum pipeline_drop d)
{
    uint64_t c[PIPELINE_N_DROPS];

    pipeline_drop_counts(fx->pl, c);
    return c[d];
}

static uint64_t
total_drops(struct fx *fx)
{
    uint64_t c[PIPELINE_N_DROPS], sum = 0;

    pipeline_drop_counts(fx->pl, c);
    for (size_t i = 0; i < PIPELINE_N_DROPS; i++) {
        sum += c[i];
    }
    return sum;
}

/* Parses an output frame back into a packet (caller destroys). */
static struct packet *
reparse(const struct out_rec *r)
{
    struct packet *p = packet_new(PACKET_DEFAULT_SIZE);

    packet_set_data(p, r->data, r->len);
    p->in_port = 0;
    pkt_parse(p);
    return p;
}

/* Verifies the IPv4 header checksum and the TCP/UDP checksum of a frame,
 * independently of the pkt module's checksum code. */
static void
assert_checksums_ok(const struct out_rec *r)
{
    struct packet *p = reparse(r);
    const uint8_t *d = packet_data(p);

    assert_int_not_equal(p->l3_ofs, PACKET_OFS_NONE);
    const uint8_t *ip = d + p->l3_ofs;
    size_t ihl = (ip[0] & 0xf) * 4u;
    assert_int_equal(rfc1071(ip, ihl, 0), 0xffff);

    if (p->l4_ofs != PACKET_OFS_NONE &&
        (p->key.nw_proto == 6 || p->key.nw_proto == 17)) {
        size_t l4_len = (size_t)(ip[2] << 8 | ip[3]) - ihl;
        uint32_t sum = 0;
        sum += (uint32_t)(ip[12] << 8 | ip[13]) + (ip[14] << 8 | ip[15]);
        sum += (uint32_t)(ip[16] << 8 | ip[17]) + (ip[18] << 8 | ip[19]);
        sum += p->key.nw_proto;
        sum += (uint32_t)l4_len;
        assert_int_equal(rfc1071(d + p->l4_ofs, l4_len, sum), 0xffff);
    }
    packet_destroy(p);
}

static void
assert_ports(const struct outs *o, const uint32_t *ports, size_t n)
{
    assert_int_equal(o->n, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(o->r[i].port, ports[i]);
    }
}

/* ---- Tests. ---- */

static void
test_priorities_and_counters(void **state)
{
    struct fx *fx = *state;

    add(fx, "priority=100,ip,actions=output:2");
    add(fx, "priority=200,tcp,tp_dst=80,actions=output:3");
    add(fx, "priority=50,actions=output:4");
    assert_int_equal(pipeline_n_rules(fx->pl), 3);

    struct packet *arp = mkpkt("in_port=1,arp,arp_spa=10.0.0.1,"
                               "arp_tpa=10.0.0.2");
    uint32_t len_arp = arp->len;
    run1(fx, "in_port=1,tcp,nw_src=10.0.0.1,nw_dst=10.0.0.2,tp_dst=80");
    run1(fx, "in_port=1,tcp,nw_src=10.0.0.1,nw_dst=10.0.0.2,tp_dst=22");
    run_at(fx, 0, &arp, 1);
    static const uint32_t want[] = {3, 2, 4};
    assert_ports(&fx->outs, want, 3);
    assert_int_equal(total_drops(fx), 0);

    /* A batch of 32: counters added once per rule per batch. */
    struct packet *pkts[32];
    for (size_t i = 0; i < 32; i++) {
        pkts[i] = mkpkt(i % 2 ? "in_port=1,tcp,tp_dst=80"
                              : "in_port=1,udp,tp_dst=53");
    }
    uint32_t len_tcp = pkts[1]->len, len_udp = pkts[0]->len;
    run_at(fx, 2 * SEC, pkts, 32);
    assert_int_equal(fx->outs.n, 35);

    struct ds ds = DS_EMPTY_INITIALIZER;
    pipeline_dump(fx->pl, true, 3 * SEC, &ds);
    char *want_dump =
        xasprintf(" cookie=0x0, duration=3.000s, table=0, n_packets=17, "
                  "n_bytes=%u, idle_age=1, priority=200,tcp,tp_dst=80 "
                  "actions=output:3\n"
                  " cookie=0x0, duration=3.000s, table=0, n_packets=17, "
                  "n_bytes=%u, idle_age=1, priority=100,ip actions=output:2\n"
                  " cookie=0x0, duration=3.000s, table=0, n_packets=1, "
                  "n_bytes=%u, idle_age=3, priority=50 actions=output:4\n",
                  len_tcp * 17, len_udp * 16 + len_tcp, len_arp);
    assert_string_equal(ds_cstr(&ds), want_dump);
    free(want_dump);
    ds_destroy(&ds);
}

/* More rules hit in one batch than the batch counters hold (32 packets,
 * each through three tables with rules of its own: 96 rules), twice, and
 * runs of one flow: every rule counts every packet exactly once. */
static void
test_batch_counters_many_rules(void **state)
{
    struct fx *fx = *state;
    struct packet *pkts[32];
    char *text;

    for (unsigned int t = 0; t < 3; t++) {
        for (unsigned int i = 0; i < 32; i++) {
            text = xasprintf("table=%u,priority=10,udp,tp_src=%u,actions=%s", t,
                             1000 + i, t < 2 ? (t ? "goto_table:2"
                                                  : "goto_table:1")
                                             : "output:2");
            add(fx, text);
            free(text);
        }
    }
    for (unsigned int round = 0; round < 2; round++) {
        for (unsigned int i = 0; i < 32; i++) {
            text = xasprintf("in_port=1,udp,tp_src=%u,tp_dst=53", 1000 + i);
            pkts[i] = mkpkt(text);
            free(text);
        }
        run_at(fx, (1 + round) * SEC, pkts, 32);
    }
    /* And a batch of runs: 8 flows, 4 packets each in a row. */
    for (unsigned int i = 0; i < 32; i++) {
        text = xasprintf("in_port=1,udp,tp_src=%u,tp_dst=53", 1000 + i / 4);
        pkts[i] = mkpkt(text);
        free(text);
    }
    run_at(fx, 3 * SEC, pkts, 32);
    assert_int_equal(fx->outs.n, 96);
    assert_int_equal(total_drops(fx), 0);

    struct ds ds = DS_EMPTY_INITIALIZER;
    size_t twos = 0, sixes = 0;
    pipeline_dump(fx->pl, true, 3 * SEC, &ds);
    for (const char *s = ds_cstr(&ds); (s = strstr(s, "n_packets="));) {
        s += strlen("n_packets=");
        twos += !strncmp(s, "2,", 2);
        sixes += !strncmp(s, "6,", 2);
    }
    /* Flows 0..7 got 2 + 4 packets in each table, the others 2. */
    assert_int_equal(sixes, 3 * 8);
    assert_int_equal(twos, 3 * 24);
    ds_destroy(&ds);
}

static void
test_goto_and_resubmit(void **state)
{
    struct fx *fx = *state;

    add(fx, "table=0,priority=10,ip,actions=mod_nw_tos:32,goto_table:5");
    add(fx, "table=5,priority=10,ip,nw_tos=32,"
            "actions=resubmit(,7),output:3,resubmit(,9),output:1");
    add(fx, "table=7,priority=10,actions=output:4");

    run1(fx, "in_port=2,udp,nw_src=1.2.3.4,nw_dst=5.6.7.8,tp_dst=9");
    /* Table 9 misses: inside a resubmit that is not a drop. */
    static const uint32_t want[] = {4, 3, 1};
    assert_ports(&fx->outs, want, 3);
    assert_int_equal(total_drops(fx), 0);
    assert_checksums_ok(&fx->outs.r[0]);

    /* resubmit with a new in_port: the lookup sees it, later actions see
     * the old one again. */
    fx->outs.n = 0;
    add(fx, "table=0,priority=20,in_port=1,actions=resubmit(3,8),in_port");
    add(fx, "table=8,priority=10,in_port=3,actions=output:2");
    run1(fx, "in_port=1,arp");
    static const uint32_t want2[] = {2, 1};
    assert_ports(&fx->outs, want2, 2);

    /* goto_table to a missing table: a table miss drop. */
    fx->outs.n = 0;
    add(fx, "table=0,priority=30,in_port=4,actions=goto_table:100");
    run1(fx, "in_port=4,arp");
    assert_int_equal(fx->outs.n, 0);
    assert_int_equal(drops(fx, PIPELINE_DROP_TABLE_MISS), 1);

    /* goto_table must move forward. */
    struct flow_spec *spec =
        parse_spec("table=3,actions=goto_table:4", FLOW_PARSE_ADD);
    spec->actions.acts[0].table = 2;
    char *err = pipeline_add(fx->pl, spec, 0);
    assert_non_null(err);
    assert_string_equal(err, "goto_table:2 must name a table after 3");
    free(err);
    free_spec(spec);
}

static void
test_loops(void **state)
{
    struct fx *fx = *state;

    /* Resubmitting to its own table forever: the depth limit stops it. */
    add(fx, "priority=10,in_port=1,actions=resubmit(,0)");
    run1(fx, "in_port=1,ip");
    assert_int_equal(drops(fx, PIPELINE_DROP_LOOP), 1);
    assert_int_equal(total_drops(fx), 1);

    /* Two resubmits per level would be 2^64 lookups without the total
     * limit; the packet still outputs once before the loop is cut. */
    add(fx, "priority=10,in_port=2,actions=output:3,resubmit(,1)");
    add(fx, "table=1,priority=10,actions=resubmit(,1),resubmit(,1)");
    run1(fx, "in_port=2,ip");
    assert_int_equal(fx->outs.n, 1);
    assert_int_equal(drops(fx, PIPELINE_DROP_LOOP), 1);

    /* A chain of 64 resubmits is allowed, 65 is not. */
    struct ds ds = DS_EMPTY_INITIALIZER;
    for (int t = 10; t < 10 + 64; t++) {
        ds_clear(&ds);
        ds_put_format(&ds, "table=%d,actions=resubmit(,%d)", t, t + 1);
        add(fx, ds_cstr(&ds));
    }
    add(fx, "table=74,actions=output:1");
    add(fx, "priority=10,in_port=3,actions=resubmit(,11)");
    add(fx, "priority=10,in_port=4,actions=resubmit(,10)");
    fx->outs.n = 0;
    run1(fx, "in_port=3,ip");
    assert_int_equal(fx->outs.n, 1);
    run1(fx, "in_port=4,ip");
    assert_int_equal(fx->outs.n, 1);
    assert_int_equal(drops(fx, PIPELINE_DROP_LOOP), 2);
    ds_destroy(&ds);
}

static void
test_set_field_checksums(void **state)
{
    struct fx *fx = *state;

    add(fx, "priority=10,tcp,actions=mod_nw_dst:10.0.1.5,mod_tp_dst:8080,"
            "mod_dl_src:02:00:00:00:00:aa,set_field:192.168.7.7->nw_src,"
            "mod_nw_tos:32,output:2");
    add(fx, "priority=10,udp,actions=mod_tp_src:5353,"
            "set_field:10.9.8.7->nw_dst,output:3");

    run1(fx, "in_port=1,tcp,dl_src=02:00:00:00:00:01,nw_src=10.0.0.1,"
             "nw_dst=10.0.0.2,tp_src=40000,tp_dst=80,nw_ttl=64");
    run1(fx, "in_port=1,udp,nw_src=10.0.0.1,nw_dst=10.0.0.2,tp_src=1000,"
             "tp_dst=53,nw_ttl=64");
    assert_int_equal(fx->outs.n, 2);

    struct packet *p = reparse(&fx->outs.r[0]);
    assert_int_equal(p->key.nw_dst, htonl(0x0a000105));
    assert_int_equal(p->key.nw_src, htonl(0xc0a80707));
    assert_int_equal(p->key.tp_dst, htons(8080));
    assert_int_equal(p->key.tp_src, htons(40000));
    assert_int_equal(p->key.nw_tos, 0x20);
    assert_int_equal(p->key.dl_src[5], 0xaa);
    packet_destroy(p);
    assert_checksums_ok(&fx->outs.r[0]);

    p = reparse(&fx->outs.r[1]);
    assert_int_equal(p->key.tp_src, htons(5353));
    assert_int_equal(p->key.nw_dst, htonl(0x0a090807));
    packet_destroy(p);
    assert_checksums_ok(&fx->outs.r[1]);
}

static void
test_dec_ttl(void **state)
{
    struct fx *fx = *state;

    add(fx, "priority=10,ip,actions=dec_ttl,output:2");
    run1(fx, "in_port=1,udp,nw_ttl=64,tp_dst=7");
    run1(fx, "in_port=1,udp,nw_ttl=1,tp_dst=7");
    run1(fx, "in_port=1,udp,nw_ttl=0,tp_dst=7");
    assert_int_equal(fx->outs.n, 1);
    assert_int_equal(drops(fx, PIPELINE_DROP_TTL_EXPIRED), 2);

    struct packet *p = reparse(&fx->outs.r[0]);
    assert_int_equal(p->key.nw_ttl, 63);
    packet_destroy(p);
    assert_checksums_ok(&fx->outs.r[0]);
}

static void
test_vlan(void **state)
{
    struct fx *fx = *state;

    add(fx, "priority=10,in_port=1,actions=push_vlan:0x8100,"
            "mod_vlan_vid:10,mod_vlan_pcp:5,output:2");
    add(fx, "priority=10,in_port=2,dl_vlan=20,actions=pop_vlan,output:3");
    add(fx, "priority=10,in_port=3,actions=mod_vlan_vid:7,output:4");

    run1(fx, "in_port=1,udp,nw_src=1.1.1.1,tp_dst=9");
    run1(fx, "in_port=2,dl_vlan=20,udp,nw_src=1.1.1.1,tp_dst=9");
    run1(fx, "in_port=3,tcp,tp_dst=9");
    assert_int_equal(fx->outs.n, 3);

    const struct out_rec *r = &fx->outs.r[0];
    assert_int_equal(r->data[12], 0x81);
    assert_int_equal(r->data[13], 0x00);
    assert_int_equal((r->data[14] << 8 | r->data[15]), (5 << 13) | 10);
    assert_int_equal(r->data[16], 0x08);
    assert_int_equal(r->data[17], 0x00);
    assert_checksums_ok(r);

    r = &fx->outs.r[1];
    assert_int_equal(r->data[12], 0x08);
    assert_int_equal(r->data[13], 0x00);
    struct packet *p = reparse(r);
    assert_int_equal(p->key.vlan_tci, 0);
    assert_int_equal(p->key.nw_src, htonl(0x01010101));
    packet_destroy(p);

    /* mod_vlan_vid on an untagged packet pushes a tag, as in OvS. */
    p = reparse(&fx->outs.r[2]);
    assert_int_equal(ntohs(p->key.vlan_tci) & VLAN_VID_MASK, 7);
    assert_int_equal(p->key.nw_proto, 6);
    packet_destroy(p);
}

static void
test_flood_all_in_port(void **state)
{
    struct fx *fx = *state;

    add(fx, "priority=10,in_port=2,actions=flood");
    add(fx, "priority=10,in_port=3,actions=all");
    add(fx, "priority=10,in_port=4,actions=output:4,in_port,output:9");

    run1(fx, "in_port=2,arp");
    static const uint32_t want[] = {1, 3, 4};
    assert_ports(&fx->outs, want, 3);
    fx->outs.n = 0;
    run1(fx, "in_port=3,arp");
    static const uint32_t want2[] = {1, 2, 4};
    assert_ports(&fx->outs, want2, 3);

    /* output:4 to the ingress is skipped, in_port sends it back, output:9
     * (no such port) is lost but the packet did leave. */
    fx->outs.n = 0;
    run1(fx, "in_port=4,arp");
    static const uint32_t want3[] = {4};
    assert_ports(&fx->outs, want3, 1);
    assert_int_equal(total_drops(fx), 0);

    add(fx, "priority=10,in_port=1,actions=output:9");
    run1(fx, "in_port=1,arp");
    assert_int_equal(drops(fx, PIPELINE_DROP_BAD_PORT), 1);
}

static void
test_timeouts(void **state)
{
    struct fx *fx = *state;

    add_at(fx, "priority=10,in_port=1,idle_timeout=10,actions=output:2",
           100 * SEC);
    add_at(fx, "priority=10,in_port=2,hard_timeout=10,actions=output:3",
           100 * SEC);
    add_at(fx,
           "priority=10,in_port=3,idle_timeout=5,hard_timeout=20,"
           "actions=output:4",
           100 * SEC);

    assert_int_equal(pipeline_expire(fx->pl, 105 * SEC), 1); /* in_port=3 */
    run1_at(fx, "in_port=1,arp", 106 * SEC);
    run1_at(fx, "in_port=2,arp", 106 * SEC);
    assert_int_equal(pipeline_expire(fx->pl, 109 * SEC), 0);
    /* The hard timeout ignores the hit; the idle one restarted at 106. */
    assert_int_equal(pipeline_expire(fx->pl, 110 * SEC), 1);
    assert_int_equal(pipeline_n_rules(fx->pl), 1);
    assert_int_equal(pipeline_expire(fx->pl, 115 * SEC), 0);
    assert_int_equal(pipeline_expire(fx->pl, 116 * SEC), 1);
    assert_int_equal(pipeline_n_rules(fx->pl), 0);

    /* Replacing a timed rule by an untimed one stops its expiry. */
    add_at(fx, "priority=10,in_port=1,hard_timeout=1,actions=output:2",
           200 * SEC);
    add_at(fx, "priority=10,in_port=1,actions=output:3", 200 * SEC);
    assert_int_equal(pipeline_expire(fx->pl, 300 * SEC), 0);
    assert_int_equal(pipeline_n_rules(fx->pl), 1);
}

static void
test_del_and_cookies(void **state)
{
    struct fx *fx = *state;

    add(fx, "cookie=0x11,priority=10,tcp,tp_dst=80,actions=output:2");
    add(fx, "cookie=0x12,priority=20,tcp,tp_dst=80,actions=output:2");
    add(fx, "cookie=0x21,priority=10,udp,actions=output:2");
    add(fx, "table=1,cookie=0x11,priority=10,tcp,actions=output:2");
    add(fx, "table=1,cookie=0x11,priority=10,ip,actions=output:2");

    /* Cookie under mask, any table. */
    assert_int_equal(del(fx, "cookie=0x30/0xf0"), 0);
    assert_int_equal(del(fx, "cookie=0x11/0xff,tcp"), 2);
    assert_int_equal(pipeline_n_rules(fx->pl), 3);
    /* Non-strict: "ip" covers tcp/udp, restricted to a table. */
    assert_int_equal(del(fx, "table=0,ip"), 2);
    assert_int_equal(pipeline_n_rules(fx->pl), 1);
    /* A narrower match does not delete a wider rule. */
    assert_int_equal(del(fx, "tcp"), 0);
    assert_int_equal(del(fx, ""), 1);
    assert_int_equal(pipeline_n_rules(fx->pl), 0);
}

static void
test_replace_on_add(void **state)
{
    struct fx *fx = *state;

    add(fx, "priority=10,in_port=1,actions=output:2");
    run1(fx, "in_port=1,arp");
    add_at(fx, "priority=10,in_port=1,actions=output:3", 5 * SEC);
    add(fx, "priority=11,in_port=2,actions=output:4");
    assert_int_equal(pipeline_n_rules(fx->pl), 2);

    struct ds ds = DS_EMPTY_INITIALIZER;
    pipeline_dump(fx->pl, true, 5 * SEC, &ds);
    assert_non_null(strstr(ds_cstr(&ds),
                           " cookie=0x0, duration=0.000s, table=0, "
                           "n_packets=0, n_bytes=0, idle_age=0, "
                           "priority=10,in_port=1 actions=output:3\n"));
    ds_destroy(&ds);

    fx->outs.n = 0;
    run1(fx, "in_port=1,arp");
    static const uint32_t want[] = {3};
    assert_ports(&fx->outs, want, 1);
}

static void
test_filter_programs(void **state)
{
    struct fx *fx = *state;
    struct test_prog *http = prog_by_name("http");

    add(fx, "priority=200,in_port=1,ip,prog=http,actions=output:2");
    add(fx, "priority=100,in_port=1,ip,actions=output:3");

    run1(fx, "in_port=1,tcp,tp_dst=80");
    run1(fx, "in_port=1,tcp,tp_dst=22");
    /* The filter runs only when the other fields match. */
    run1(fx, "in_port=2,tcp,tp_dst=80");
    static const uint32_t want[] = {2, 3};
    assert_ports(&fx->outs, want, 2);
    assert_int_equal(http->runs, 2);
    assert_int_equal(drops(fx, PIPELINE_DROP_TABLE_MISS), 1);

    /* In one batch (table 0 looked up for all 32 at once) each packet
     * still gets its own filter verdict. */
    struct packet *pkts[32];
    for (size_t i = 0; i < 32; i++) {
        pkts[i] = mkpkt(i % 3 ? "in_port=1,tcp,tp_dst=22"
                              : "in_port=1,tcp,tp_dst=80");
    }
    fx->outs.n = 0;
    run_at(fx, 0, pkts, 32);
    assert_int_equal(fx->outs.n, 32);
    for (size_t i = 0; i < 32; i++) {
        assert_int_equal(fx->outs.r[i].port, i % 3 ? 3 : 2);
    }
    assert_int_equal(http->runs, 34);

    /* Unknown program names fail at add time. */
    struct flow_spec *spec =
        parse_spec("priority=1,prog=nosuch,actions=output:2", FLOW_PARSE_ADD);
    char *err = pipeline_add(fx->pl, spec, 0);
    assert_non_null(err);
    assert_string_equal(err, "no program named 'nosuch' is loaded");
    free(err);
    free_spec(spec);
    spec = parse_spec("priority=1,actions=prog:nosuch2", FLOW_PARSE_ADD);
    err = pipeline_add(fx->pl, spec, 0);
    assert_non_null(err);
    assert_string_equal(err, "no program named 'nosuch2' is loaded");
    free(err);
    free_spec(spec);

    /* A program that may write the packet cannot be a filter (the key of
     * a lookup in progress must not change), but it can be an action; a
     * refused rule holds no reference to the program. */
    struct test_prog *settl = prog_by_name("settl");
    spec = parse_spec("priority=1,prog=settl,actions=output:2",
                      FLOW_PARSE_ADD);
    err = pipeline_add(fx->pl, spec, 0);
    assert_non_null(err);
    assert_non_null(strstr(err, "cannot be a filter"));
    free(err);
    free_spec(spec);
    assert_int_equal(settl->pp.n_refs, 0);
    assert_int_equal(http->pp.n_refs, 1);
    assert_int_equal(pipeline_n_rules(fx->pl), 2);
}

static void
test_action_programs(void **state)
{
    struct fx *fx = *state;

    add(fx, "priority=10,in_port=1,tcp,tp_dst=1,actions=prog:pass,output:2");
    add(fx, "priority=10,in_port=1,tcp,tp_dst=2,actions=prog:dropper,"
            "output:2");
    add(fx, "priority=10,in_port=1,tcp,tp_dst=3,actions=prog:tx,output:2");
    add(fx, "priority=10,in_port=1,tcp,tp_dst=4,actions=prog:redir,"
            "output:2");
    add(fx, "priority=10,in_port=1,tcp,tp_dst=5,actions=prog:aborted");
    add(fx, "priority=10,in_port=1,tcp,tp_dst=6,actions=prog:settl,"
            "goto_table:1");
    add(fx, "table=1,priority=10,ip,nw_ttl=9,actions=output:4");

    for (int port = 1; port <= 6; port++) {
        char desc[64];
        snprintf(desc, sizeof desc, "in_port=1,tcp,nw_ttl=64,tp_dst=%d", port);
        run1(fx, desc);
    }
    /* pass -> 2; dropper -> none; tx -> 1; redir -> 3; aborted -> none;
     * settl rewrites the TTL, which table 1 then matches -> 4. */
    static const uint32_t want[] = {2, 1, 3, 4};
    assert_ports(&fx->outs, want, 4);
    assert_int_equal(drops(fx, PIPELINE_DROP_PROG_DROP), 1);
    assert_int_equal(drops(fx, PIPELINE_DROP_PROG_ABORTED), 1);
    assert_checksums_ok(&fx->outs.r[3]);

    /* A verdict outside XDP's range counts as aborted. */
    prog_by_name("pass")->verdict = 77;
    run1(fx, "in_port=1,tcp,tp_dst=1");
    assert_int_equal(drops(fx, PIPELINE_DROP_PROG_ABORTED), 2);
    assert_int_equal(fx->outs.n, 4);
}

static void
test_drop_reasons(void **state)
{
    struct fx *fx = *state;

    add(fx, "priority=10,in_port=1,actions=drop");
    add(fx, "priority=10,in_port=2,actions=");
    add(fx, "priority=10,in_port=3,ip,actions=mod_nw_src:1.2.3.4");
    add(fx, "priority=10,in_port=4,actions=note:01.02");
    /* A miss inside a resubmit is not a table-miss drop: the rule's
     * actions just ended without an output. */
    add(fx, "priority=10,in_port=6,actions=resubmit(,9)");

    run1(fx, "in_port=1,ip");
    run1(fx, "in_port=2,ip");
    run1(fx, "in_port=3,ip");
    run1(fx, "in_port=4,ip");
    run1(fx, "in_port=5,ip");
    run1(fx, "in_port=6,ip");
    assert_int_equal(drops(fx, PIPELINE_DROP_ACTION_DROP), 2);
    assert_int_equal(drops(fx, PIPELINE_DROP_NO_OUTPUT), 3);
    assert_int_equal(drops(fx, PIPELINE_DROP_TABLE_MISS), 1);
    assert_int_equal(total_drops(fx), 6);
    assert_int_equal(fx->outs.n, 0);
    assert_string_equal(pipeline_drop_name(PIPELINE_DROP_NO_OUTPUT),
                        "no_output");
}

static void
test_dump_round_trip(void **state)
{
    struct fx *fx = *state;
    static const char *const flows[] = {
        "table=0,priority=100,cookie=0x5,in_port=1,tcp,nw_dst=10.0.0.0/24,"
        "tp_dst=80,actions=mod_nw_dst:10.0.1.5,output:2",
        "table=0,priority=32768,udp,actions=drop",
        "table=3,priority=7,idle_timeout=30,hard_timeout=60,arp,"
        "actions=flood",
        "table=0,priority=1,ip,prog=http,actions=prog:pass,goto_table:3",
    };

    for (size_t i = 0; i < ARRAY_SIZE(flows); i++) {
        add(fx, flows[i]);
    }
    struct ds ds = DS_EMPTY_INITIALIZER;
    pipeline_dump(fx->pl, false, 0, &ds);

    /* Adding what was dumped to a new pipeline dumps the same text. */
    struct fx fx2;
    memset(&fx2, 0, sizeof fx2);
    fx2.pl = pipeline_create();
    pipeline_set_prog_lookup(fx2.pl, lookup_prog, NULL);
    char *text = xstrdup(ds_cstr(&ds));
    size_t n_lines = 0;
    for (char *save, *line = strtok_r(text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        add(&fx2, line);
        n_lines++;
    }
    assert_int_equal(n_lines, ARRAY_SIZE(flows));
    struct ds ds2 = DS_EMPTY_INITIALIZER;
    pipeline_dump(fx2.pl, false, 0, &ds2);
    assert_string_equal(ds_cstr(&ds), ds_cstr(&ds2));
    /* Table 0 by priority, then table 3. */
    assert_true(strstr(ds_cstr(&ds), "priority=32768") <
                strstr(ds_cstr(&ds), "priority=100,"));
    assert_true(strstr(ds_cstr(&ds), "priority=1,") <
                strstr(ds_cstr(&ds), "table=3"));
    free(text);
    ds_destroy(&ds);
    ds_destroy(&ds2);
    pipeline_destroy(fx2.pl);

    /* JSON stats. */
    run1_at(fx, "in_port=1,tcp,nw_dst=10.0.0.9,tp_dst=80", 2 * SEC);
    ds_init(&ds);
    pipeline_dump_json(fx->pl, 4 * SEC, &ds);
    json_error_t jerr;
    json_t *j = json_loads(ds_cstr(&ds), 0, &jerr);
    assert_non_null(j);
    assert_true(json_is_array(j));
    assert_int_equal(json_array_size(j), 4);
    json_t *r0 = json_array_get(j, 1);
    assert_int_equal(json_integer_value(json_object_get(r0, "priority")), 100);
    assert_string_equal(json_string_value(json_object_get(r0, "cookie")),
                        "0x5");
    assert_int_equal(json_integer_value(json_object_get(r0, "n_packets")), 1);
    assert_int_equal(json_integer_value(json_object_get(r0, "idle_age")), 2);
    assert_string_equal(json_string_value(json_object_get(r0, "actions")),
                        "mod_nw_dst:10.0.1.5,output:2");
    json_t *r3 = json_array_get(j, 3);
    assert_int_equal(json_integer_value(json_object_get(r3, "table")), 3);
    assert_int_equal(json_integer_value(json_object_get(r3, "hard_timeout")),
                     60);
    json_decref(j);
    ds_destroy(&ds);
}

static void
test_trace_text(void **state)
{
    struct fx *fx = *state;
    struct test_prog *http = prog_by_name("http");

    add(fx, "table=0,priority=200,in_port=1,tcp,prog=http,"
            "actions=output:4");
    add(fx, "table=0,priority=100,in_port=1,tcp,nw_dst=10.0.0.0/24,"
            "tp_dst=22,actions=mod_nw_dst:10.0.1.5,dec_ttl,goto_table:1");
    add(fx, "table=1,priority=5,tcp,actions=resubmit(,2),output:2");
    add(fx, "table=2,priority=5,tcp,actions=mod_tp_dst:2222");

    struct packet *p = mkpkt("in_port=1,tcp,nw_src=10.0.0.1,"
                             "nw_dst=10.0.0.7,nw_ttl=64,tp_dst=22");
    struct ds ds = DS_EMPTY_INITIALIZER;
    pipeline_trace(fx->pl, p, 0, false, &ds);
    const char *t = ds_cstr(&ds);

    assert_true(!strncmp(t, "Flow: ", 6));
    assert_non_null(strstr(t, "bridge(\"sluice\")\n----------------\n"));
    assert_non_null(strstr(t, " 0. priority 200, cookie 0x0\n"
                              "    tcp,in_port=1,prog=http\n"
                              "    prog http -> no match (r0=0)\n"));
    assert_non_null(strstr(t, " 0. priority 100, cookie 0x0\n"
                              "    tcp,in_port=1,nw_dst=10.0.0.0/24,"
                              "tp_dst=22\n"
                              "    mod_nw_dst:10.0.1.5\n"
                              "    dec_ttl\n"
                              "    goto_table:1\n"
                              " 1. priority 5, cookie 0x0\n"));
    assert_non_null(strstr(t, "    resubmit(,2)\n"
                              "     2. priority 5, cookie 0x0\n"
                              "        tcp\n"
                              "        mod_tp_dst:2222\n"
                              "    output:2\n"));
    assert_non_null(strstr(t, "\nFinal flow: "));
    assert_non_null(strstr(t, "nw_dst=10.0.1.5"));
    assert_non_null(strstr(t, "\nDatapath actions: "
                              "set(ipv4(dst=10.0.1.5,ttl=63)),"
                              "set(tcp(dst=2222)),2\n"));
    /* The packet was rewritten; counters and outputs were not touched. */
    assert_int_equal(p->key.tp_dst, htons(2222));
    assert_int_equal(fx->outs.n, 0);
    assert_int_equal(http->runs, 1);
    ds_clear(&ds);
    pipeline_dump(fx->pl, true, 0, &ds);
    assert_null(strstr(ds_cstr(&ds), "n_packets=1"));

    /* A miss. */
    packet_destroy(p);
    p = mkpkt("in_port=3,arp");
    ds_clear(&ds);
    pipeline_trace(fx->pl, p, 0, false, &ds);
    assert_non_null(strstr(ds_cstr(&ds), " 0. No match.\n"));
    assert_non_null(strstr(ds_cstr(&ds), "Datapath actions: drop "
                                         "(table_miss: no rule matched)\n"));
    assert_int_equal(total_drops(fx), 0);
    packet_destroy(p);
    ds_destroy(&ds);
}

static void
test_trace_json(void **state)
{
    struct fx *fx = *state;

    add(fx, "priority=200,in_port=1,tcp,prog=http,actions=prog:redir");
    add(fx, "priority=100,in_port=1,tcp,actions=dec_ttl,output:2");

    struct packet *p = mkpkt("in_port=1,tcp,nw_ttl=9,tp_dst=80");
    struct ds ds = DS_EMPTY_INITIALIZER;
    pipeline_trace(fx->pl, p, 0, true, &ds);
    json_error_t jerr;
    json_t *j = json_loads(ds_cstr(&ds), 0, &jerr);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "verdict")),
                        "output");
    assert_true(json_is_null(json_object_get(j, "drop_reason")));
    json_t *outputs = json_object_get(j, "outputs");
    assert_int_equal(json_array_size(outputs), 1);
    assert_int_equal(json_integer_value(json_array_get(outputs, 0)), 3);
    json_t *tables = json_object_get(j, "tables");
    assert_int_equal(json_array_size(tables), 1);
    json_t *t0 = json_array_get(tables, 0);
    assert_int_equal(json_integer_value(json_object_get(t0, "priority")), 200);
    assert_string_equal(json_string_value(json_object_get(t0, "rule")),
                        "tcp,in_port=1,prog=http");
    json_t *pr = json_object_get(t0, "progs");
    assert_int_equal(json_array_size(pr), 2);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(pr, 0), "kind")),
        "filter");
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(pr, 1), "result")),
        "XDP_REDIRECT");
    json_decref(j);
    packet_destroy(p);

    /* TTL expiry: a drop with its reason; rejected filter listed. */
    p = mkpkt("in_port=1,tcp,nw_ttl=1,tp_dst=22");
    ds_clear(&ds);
    pipeline_trace(fx->pl, p, 0, true, &ds);
    j = json_loads(ds_cstr(&ds), 0, &jerr);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "verdict")),
                        "drop");
    assert_string_equal(json_string_value(json_object_get(j, "drop_reason")),
                        "ttl_expired");
    tables = json_object_get(j, "tables");
    assert_int_equal(json_array_size(tables), 2);
    assert_true(
        json_is_true(json_object_get(json_array_get(tables, 0), "rejected")));
    json_t *acts = json_object_get(json_array_get(tables, 1), "actions");
    assert_string_equal(json_string_value(json_array_get(acts, 0)), "dec_ttl");
    assert_int_equal(json_array_size(json_object_get(j, "outputs")), 0);
    json_decref(j);
    packet_destroy(p);
    ds_destroy(&ds);
}

/* A loaded eBPF filter program's counters (flow_prog.c): every run and
 * match counted, and run times sampled, about one run in 32 at random
 * intervals and the first run always, with ns/run their mean. */
static void
count_output(void *aux, uint32_t port, const struct packet *p)
{
    (void)port;
    (void)p;
    ++*(uint64_t *)aux;
}

static void
test_prog_run_sampling(void **state)
{
    struct fx *fx = *state;
    const char *root = getenv("SLUICE_BUILD_ROOT");
    char *path = xasprintf("%s/progs/firewall.o", root ? root : ".");
    struct flow_progs *fprogs = flow_progs_create();
    char *err = flow_progs_load(fprogs, "fw", path, NULL, NULL, 0);
    enum { N_BATCHES = 200 };
    uint64_t n_out = 0;

    if (err) {
        fail_msg("%s: %s", path, err);
    }
    free(path);
    pipeline_set_prog_lookup(fx->pl, flow_progs_lookup, fprogs);
    /* Thousands of packets: counted, not recorded. */
    pipeline_set_output(fx->pl, count_output, &n_out);
    add(fx, "in_port=1,prog=fw,actions=output:2");

    /* One run: timed. */
    run1(fx, "in_port=1,udp,nw_src=10.0.0.1,nw_dst=192.0.2.1,tp_src=1,"
             "tp_dst=53");
    struct ds out;
    ds_init(&out);
    flow_progs_show(fprogs, true, &out);
    json_t *j = json_loads(ds_cstr(&out), 0, NULL);
    assert_non_null(j);
    json_t *fw = json_array_get(j, 0);
    assert_int_equal(json_integer_value(json_object_get(fw, "runs")), 1);
    assert_int_equal(json_integer_value(json_object_get(fw, "timed_runs")), 1);
    assert_true(json_real_value(json_object_get(fw, "ns_per_run")) > 0);
    json_decref(j);

    /* 32 packets a batch, of 32 flows: the sample must not follow the
     * batch position, and stays near one run in 32. */
    for (int b = 0; b < N_BATCHES; b++) {
        struct packet *pkts[32];
        for (int i = 0; i < 32; i++) {
            char desc[128];
            snprintf(desc, sizeof desc,
                     "in_port=1,udp,nw_src=10.0.0.%d,nw_dst=192.0.2.1,"
                     "tp_src=%d,tp_dst=53", 1 + i, 1000 + b);
            pkts[i] = mkpkt(desc);
        }
        run_at(fx, 0, pkts, 32);
    }
    ds_clear(&out);
    flow_progs_show(fprogs, true, &out);
    j = json_loads(ds_cstr(&out), 0, NULL);
    assert_non_null(j);
    fw = json_array_get(j, 0);
    uint64_t runs = (uint64_t)json_integer_value(json_object_get(fw, "runs"));
    uint64_t timed =
        (uint64_t)json_integer_value(json_object_get(fw, "timed_runs"));
    double per_run = json_real_value(json_object_get(fw, "ns_per_run"));
    uint64_t ns = (uint64_t)json_integer_value(json_object_get(fw, "ns"));
    assert_int_equal(runs, 1 + 32 * N_BATCHES);
    assert_int_equal(
        json_integer_value(json_object_get(fw, "matches")), (json_int_t)runs);
    /* 6,401 runs at 1 in 32: 200 expected; far outside 100..400 only if
     * the sampling is broken. */
    assert_in_range(timed, 100, 400);
    assert_int_equal(n_out, runs);
    assert_true(per_run > 0);
    assert_in_range(ns, (uint64_t)(per_run * (double)runs) - 1,
                    (uint64_t)(per_run * (double)runs) + 1);
    json_decref(j);
    ds_destroy(&out);
    pipeline_destroy(fx->pl);
    fx->pl = NULL;
    flow_progs_destroy(fprogs);
}

/* n_packets of the rule with cookie 'cookie' in 'pl''s JSON dump, or -1. */
static long long
rule_packets(const struct pipeline *pl, uint64_t cookie, uint64_t now)
{
    struct ds ds = DS_EMPTY_INITIALIZER;
    char want[24];
    long long n = -1;

    snprintf(want, sizeof want, "0x%" PRIx64, cookie);
    pipeline_dump_json(pl, now, &ds);
    json_t *j = json_loads(ds_cstr(&ds), 0, NULL);
    assert_non_null(j);
    for (size_t i = 0; i < json_array_size(j); i++) {
        json_t *r = json_array_get(j, i);
        if (!strcmp(json_string_value(json_object_get(r, "cookie")), want)) {
            n = json_integer_value(json_object_get(r, "n_packets"));
        }
    }
    json_decref(j);
    ds_destroy(&ds);
    return n;
}

/* Sibling pipelines (one per datapath thread) share one copy of the rules
 * and keep their own outputs, caches and counters: a change made through
 * either takes effect on the other's very next packet, dumps and idle
 * timeouts fold both threads' counters, a reused rule id starts from zero,
 * and either may be destroyed first. */
static void
test_siblings(void **state)
{
    struct fx *fx = *state;
    struct fx *fx2 = xzalloc(sizeof *fx2); /* The sibling's view. */
    struct pipeline_stats st;

    add_at(fx, "cookie=0x1,priority=10,in_port=1,actions=output:2", 100 * SEC);
    add_at(fx, "cookie=0x2,priority=10,in_port=2,idle_timeout=10,"
               "actions=output:3",
           100 * SEC);
    struct pipeline *sib = pipeline_create_sibling(fx->pl);
    fx2->pl = sib;
    pipeline_set_output(sib, record_output, &fx2->outs);
    assert_int_equal(pipeline_n_rules(sib), 2);

    /* Each runs the shared rules into its own output and counters. */
    run1_at(fx, "in_port=1,udp,tp_src=7", 101 * SEC);
    struct packet *p2[2] = {mkpkt("in_port=1,udp,tp_src=7"),
                            mkpkt("in_port=1,udp,tp_src=8")};
    run_at(fx2, 101 * SEC, p2, 2);
    static const uint32_t two[] = {2, 2};
    assert_ports(&fx->outs, two, 1);
    assert_ports(&fx2->outs, two, 2);
    pipeline_get_stats(fx->pl, &st);
    assert_int_equal(st.packets, 1);
    pipeline_get_stats(sib, &st);
    assert_int_equal(st.packets, 2);
    assert_int_equal(rule_packets(fx->pl, 1, 101 * SEC), 3);
    assert_int_equal(rule_packets(sib, 1, 101 * SEC), 3);

    /* A rule added through one pipeline wins on the other's next packet,
     * although the other had cached the flow; deleted, it is gone. */
    add_at(fx, "cookie=0x3,priority=20,in_port=1,actions=output:4", 102 * SEC);
    fx2->outs.n = 0;
    run1_at(fx2, "in_port=1,udp,tp_src=7", 102 * SEC);
    static const uint32_t to4[] = {4};
    assert_ports(&fx2->outs, to4, 1);
    assert_int_equal(rule_packets(fx->pl, 3, 102 * SEC), 1);
    assert_int_equal(rule_packets(fx->pl, 1, 102 * SEC), 3);
    assert_int_equal(del(fx2, "cookie=0x3/0xffffffffffffffff"), 1);
    fx->outs.n = 0;
    run1_at(fx, "in_port=1,udp,tp_src=7", 103 * SEC);
    static const uint32_t to2[] = {2};
    assert_ports(&fx->outs, to2, 1);

    /* The freed id's counters (one hit, on the sibling) do not leak into
     * the rule that reuses it. */
    add_at(fx, "cookie=0x4,priority=20,in_port=3,actions=output:1", 103 * SEC);
    assert_int_equal(rule_packets(fx->pl, 4, 103 * SEC), 0);
    assert_int_equal(rule_packets(sib, 4, 103 * SEC), 0);

    /* Idle timeout: a hit on either thread restarts it. */
    run1_at(fx2, "in_port=2,arp", 108 * SEC);
    assert_int_equal(pipeline_expire(fx->pl, 111 * SEC), 0);
    assert_int_equal(pipeline_expire(fx->pl, 118 * SEC), 1);
    assert_int_equal(pipeline_n_rules(sib), 2);

    /* Ports set through one are the other's too: output:4 is now to a
     * port that does not exist. */
    static const uint32_t ports3[] = {1, 2, 3};
    pipeline_set_ports(sib, ports3, ARRAY_SIZE(ports3));
    add_at(fx, "cookie=0x5,priority=30,in_port=1,actions=output:4", 120 * SEC);
    run1_at(fx, "in_port=1,arp", 120 * SEC);
    assert_int_equal(drops(fx, PIPELINE_DROP_BAD_PORT), 1);

    /* The first pipeline goes first; the sibling keeps the rules. */
    pipeline_destroy(fx->pl);
    fx->pl = sib; /* Destroyed by the teardown. */
    fx2->outs.n = 0;
    run1_at(fx2, "in_port=3,arp", 121 * SEC);
    static const uint32_t to1[] = {1};
    assert_ports(&fx2->outs, to1, 1);
    assert_int_equal(rule_packets(sib, 4, 121 * SEC), 1);
    free(fx2);
}

int
main(void)
{
#define T(NAME) cmocka_unit_test_setup_teardown(NAME, fx_setup, fx_teardown)
    const struct CMUnitTest tests[] = {
        T(test_priorities_and_counters),
        T(test_batch_counters_many_rules),
        T(test_goto_and_resubmit),
        T(test_loops),
        T(test_set_field_checksums),
        T(test_dec_ttl),
        T(test_vlan),
        T(test_flood_all_in_port),
        T(test_timeouts),
        T(test_del_and_cookies),
        T(test_replace_on_add),
        T(test_filter_programs),
        T(test_action_programs),
        T(test_drop_reasons),
        T(test_dump_round_trip),
        T(test_trace_text),
        T(test_trace_json),
        T(test_prog_run_sampling),
        T(test_siblings),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
