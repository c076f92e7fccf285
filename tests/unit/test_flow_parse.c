/* Unit tests of the ovs-ofctl flow syntax: the field table, every match
 * field with and without masks, shorthands, prerequisites, every action,
 * each class of error with its column, and the round trip
 * parse(format(parse(text))) == parse(text) on randomly generated flows. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>

#include "flow/field.h"
#include "flow/flow_parse.h"
#include "pkt/pkt.h"

/* Parses 'text' (which must succeed) and returns its canonical form. */
static char *
canon(const char *text, enum flow_parse_mode mode)
{
    struct flow_spec spec;
    struct ds ds = DS_EMPTY_INITIALIZER;
    int col = 0;
    char *err = flow_spec_parse(&spec, text, mode, &col);

    if (err) {
        fail_msg("'%s' failed at column %d: %s", text, col, err);
    }
    flow_spec_format(&spec, &ds);
    flow_spec_destroy(&spec);
    return ds_steal_cstr(&ds);
}

static void
assert_canon(const char *text, enum flow_parse_mode mode, const char *want)
{
    char *got = canon(text, mode);

    if (strcmp(got, want)) {
        fail_msg("'%s'\n  printed '%s'\n  wanted  '%s'", text, got, want);
    }
    free(got);
}

/* Parses and returns the match only (MATCH mode). */
static struct match
parse_match(const char *text)
{
    struct flow_spec spec;
    struct match m;
    int col = 0;
    char *err = flow_spec_parse(&spec, text, FLOW_PARSE_MATCH, &col);

    if (err) {
        fail_msg("'%s' failed at column %d: %s", text, col, err);
    }
    m = spec.match;
    flow_spec_destroy(&spec);
    return m;
}

/* ---- Field table. ---- */

static void
test_field_table(void **state)
{
    (void)state;
    for (int i = 0; i < MFF_N_IDS; i++) {
        const struct mf_field *mf = mf_from_id(i);

        assert_non_null(mf);
        assert_int_equal(mf->id, i);
        assert_non_null(mf->name);
        assert_ptr_equal(mf_from_name(mf->name), mf);
        if (mf->alias) {
            assert_ptr_equal(mf_from_name(mf->alias), mf);
        }
        assert_true(mf->ofs + mf->n_bytes <= sizeof(struct flow_key));
        assert_true(mf->n_bytes >= 1 && mf->n_bytes <= 16);
        assert_true(mf->bits != 0);
        assert_true(mf->n_bits <= 8 * mf->n_bytes);
        for (int j = 0; j < i; j++) {
            assert_string_not_equal(mf->name, mf_from_id(j)->name);
        }
    }
    assert_null(mf_from_id(-1));
    assert_null(mf_from_id(MFF_N_IDS));
    assert_null(mf_from_name("nw_srx"));
    assert_ptr_equal(mf_from_name("eth_src"), mf_from_id(MFF_DL_SRC));
    assert_ptr_equal(mf_from_name("ip_proto"), mf_from_id(MFF_NW_PROTO));
    assert_ptr_equal(mf_from_name("ip_ecn"), mf_from_id(MFF_NW_ECN));
    assert_int_equal(mf_from_id(MFF_DL_VLAN)->bits, VLAN_VID_MASK);
    assert_int_equal(mf_from_id(MFF_IP_DSCP)->bits, 0xfc);
}

/* ---- Match fields. ---- */

struct canon_case {
    const char *in;
    const char *out;
};

static void
run_canon_cases(const struct canon_case *cases, size_t n,
                enum flow_parse_mode mode)
{
    for (size_t i = 0; i < n; i++) {
        assert_canon(cases[i].in, mode, cases[i].out);
    }
}

static void
test_match_fields(void **state)
{
    static const struct canon_case cases[] = {
        {"", "priority=32768"},
        {"in_port=7", "priority=32768,in_port=7"},
        {"in_port:7", "priority=32768,in_port=7"},
        {"dl_src=00:11:22:33:44:55", "priority=32768,"
                                     "dl_src=00:11:22:33:44:55"},
        {"eth_src=00:11:22:33:44:55/ff:ff:ff:00:00:00",
         "priority=32768,"
         "dl_src=00:11:22:00:00:00/ff:ff:ff:00:00:00"},
        {"eth_dst=01:00:00:00:00:00/01:00:00:00:00:00",
         "priority=32768,"
         "dl_dst=01:00:00:00:00:00/01:00:00:00:00:00"},
        {"dl_type=0x88cc", "priority=32768,dl_type=0x88cc"},
        {"eth_type=2048", "priority=32768,ip"},
        {"dl_vlan=10", "priority=32768,dl_vlan=10"},
        {"dl_vlan=0xffff", "priority=32768,vlan_tci=0x0000"},
        {"dl_vlan_pcp=5", "priority=32768,dl_vlan_pcp=5"},
        {"dl_vlan=10,dl_vlan_pcp=5", "priority=32768,dl_vlan=10,"
                                     "dl_vlan_pcp=5"},
        {"vlan_tci=0x1000/0x1000", "priority=32768,"
                                   "vlan_tci=0x1000/0x1000"},
        {"vlan_vid=0x1005", "priority=32768,dl_vlan=5"},
        {"vlan_vid=0", "priority=32768,vlan_tci=0x0000/0x1fff"},
        {"vlan_vid=4096/4096", "priority=32768,vlan_tci=0x1000/0x1000"},
        {"vlan_tci=0xa00a", "priority=32768,vlan_tci=0xa00a"},
        {"vlan_tci=0xb00a", "priority=32768,dl_vlan=10,dl_vlan_pcp=5"},
        {"ip,nw_src=10.0.0.1", "priority=32768,ip,nw_src=10.0.0.1"},
        {"ip,nw_src=10.0.0.7/24", "priority=32768,ip,nw_src=10.0.0.0/24"},
        {"ip,nw_dst=10.1.0.0/255.255.0.0", "priority=32768,ip,"
                                           "nw_dst=10.1.0.0/16"},
        {"ip,nw_dst=10.0.0.1/255.0.255.0", "priority=32768,ip,"
                                           "nw_dst=10.0.0.0/255.0.255.0"},
        {"ip,ip_src=1.2.3.4/32", "priority=32768,ip,nw_src=1.2.3.4"},
        {"ip,nw_src=1.2.3.4/0", "priority=32768,ip"},
        {"ip,nw_proto=47", "priority=32768,ip,nw_proto=47"},
        {"ipv6,ip_proto=6", "priority=32768,tcp6"},
        {"ip,nw_tos=184", "priority=32768,ip,nw_tos=184"},
        {"ip,ip_dscp=46", "priority=32768,ip,nw_tos=184"},
        {"ip,nw_ecn=3", "priority=32768,ip,nw_ecn=3"},
        {"ip,ip_ecn=1,nw_tos=8", "priority=32768,ip,nw_tos=8,nw_ecn=1"},
        {"ip,nw_ttl=64", "priority=32768,ip,nw_ttl=64"},
        {"ip,nw_frag=no", "priority=32768,ip,nw_frag=no"},
        {"ip,nw_frag=yes", "priority=32768,ip,nw_frag=yes"},
        {"ip,nw_frag=first", "priority=32768,ip,nw_frag=first"},
        {"ip,ip_frag=later", "priority=32768,ip,nw_frag=later"},
        {"ipv6,nw_frag=not_later", "priority=32768,ipv6,"
                                   "nw_frag=not_later"},
        {"tcp,tp_src=80", "priority=32768,tcp,tp_src=80"},
        {"tcp,tp_dst=0x50/0xfff0", "priority=32768,tcp,"
                                   "tp_dst=0x50/0xfff0"},
        {"udp,udp_src=53", "priority=32768,udp,tp_src=53"},
        {"sctp,sctp_dst=9", "priority=32768,sctp,tp_dst=9"},
        {"tcp6,tcp_dst=443", "priority=32768,tcp6,tp_dst=443"},
        {"tcp,tcp_flags=+syn-ack", "priority=32768,tcp,"
                                   "tcp_flags=+syn-ack"},
        {"tcp,tcp_flags=0x012", "priority=32768,tcp,tcp_flags=0x012"},
        {"tcp,tcp_flags=0x002/0x012", "priority=32768,tcp,"
                                      "tcp_flags=+syn-ack"},
        {"tcp,tcp_flags=-fin+[800]", "priority=32768,tcp,"
                                     "tcp_flags=-fin+[800]"},
        {"icmp,icmp_type=8,icmp_code=0", "priority=32768,icmp,"
                                         "icmp_type=8,icmp_code=0"},
        {"icmp6,icmpv6_type=135", "priority=32768,icmp6,icmp_type=135"},
        {"icmp6,icmp_type=136,icmpv6_code=0", "priority=32768,icmp6,"
                                              "icmp_type=136,icmp_code=0"},
        {"arp,arp_op=2", "priority=32768,arp,arp_op=2"},
        {"arp,arp_spa=10.0.0.1,arp_tpa=10.0.0.0/8",
         "priority=32768,arp,"
         "arp_spa=10.0.0.1,arp_tpa=10.0.0.0/8"},
        {"arp,nw_src=10.0.0.1", "priority=32768,arp,arp_spa=10.0.0.1"},
        {"arp,arp_sha=00:00:00:00:00:01,arp_tha=00:00:00:00:00:02/"
         "ff:ff:ff:ff:ff:00",
         "priority=32768,arp,"
         "arp_sha=00:00:00:00:00:01,arp_tha=00:00:00:00:00:00/"
         "ff:ff:ff:ff:ff:00"},
        {"ipv6,ipv6_src=2001:db8::1", "priority=32768,ipv6,"
                                      "ipv6_src=2001:db8::1"},
        {"ipv6,ipv6_dst=2001:db8::77/32", "priority=32768,ipv6,"
                                          "ipv6_dst=2001:db8::/32"},
        {"ipv6,ipv6_dst=2001:db8::1/ffff::ffff", "priority=32768,ipv6,"
                                                 "ipv6_dst=2001::1/ffff::ffff"},
        {"ipv6,ipv6_label=0x12345", "priority=32768,ipv6,"
                                    "ipv6_label=0x12345"},
        {"ipv6,ipv6_label=0x12345/0xf0000", "priority=32768,ipv6,"
                                            "ipv6_label=0x10000/0xf0000"},
        {"ipv6,ipv6_label=5", "priority=32768,ipv6,ipv6_label=0x00005"},
        {"dl_type=1", "priority=32768,dl_type=0x0001"},
        /* Order of the input does not matter; printing follows OvS. */
        {"tp_dst=80 nw_dst=10.0.0.1 tcp in_port=3",
         "priority=32768,tcp,"
         "in_port=3,nw_dst=10.0.0.1,tp_dst=80"},
        /* The same value twice is fine. */
        {"tcp,nw_proto=6,tp_dst=80,tcp_dst=80", "priority=32768,tcp,"
                                                "tp_dst=80"},
        {"table=3,priority=7,cookie=0x10/0xff,prog=acl_1,ip",
         "table=3,priority=7,cookie=0x10/0xff,ip,prog=acl_1"},
        {"cookie=5", "priority=32768,cookie=0x5/0xffffffffffffffff"},
    };

    (void)state;
    run_canon_cases(cases, ARRAY_SIZE(cases), FLOW_PARSE_MATCH);
}

static void
test_match_bits(void **state)
{
    struct match m;

    (void)state;
    m = parse_match("dl_vlan=10");
    assert_int_equal(ntohs(m.key.vlan_tci), VLAN_CFI | 10);
    assert_int_equal(ntohs(m.mask.vlan_tci), VLAN_CFI | VLAN_VID_MASK);

    m = parse_match("dl_vlan=0xffff");
    assert_int_equal(m.key.vlan_tci, 0);
    assert_int_equal(m.mask.vlan_tci, 0xffff);

    m = parse_match("dl_vlan_pcp=3");
    assert_int_equal(ntohs(m.key.vlan_tci), VLAN_CFI | 3 << 13);
    assert_int_equal(ntohs(m.mask.vlan_tci), VLAN_CFI | VLAN_PCP_MASK);

    m = parse_match("ip,ip_dscp=10,nw_ecn=2");
    assert_int_equal(m.key.nw_tos, 10 << 2 | 2);
    assert_int_equal(m.mask.nw_tos, 0xff);

    m = parse_match("ip,nw_src=10.1.2.3/16");
    assert_int_equal(ntohl(m.key.nw_src), 0x0a010000);
    assert_int_equal(ntohl(m.mask.nw_src), 0xffff0000);

    m = parse_match("in_port=70000");
    assert_int_equal(m.key.in_port, 70000);
    assert_int_equal(m.mask.in_port, 0xffffffff);

    m = parse_match("tcp,tcp_flags=+syn-ack");
    assert_int_equal(ntohs(m.key.tcp_flags), 0x002);
    assert_int_equal(ntohs(m.mask.tcp_flags), 0x012);

    m = parse_match("icmp,icmp_type=3,icmp_code=4");
    assert_int_equal(ntohs(m.key.tp_src), 3);
    assert_int_equal(ntohs(m.key.tp_dst), 4);
    assert_int_equal(ntohs(m.mask.tp_src), 0xff);

    m = parse_match("ipv6,ipv6_label=0xabcde");
    assert_int_equal(ntohl(m.key.ipv6_label), 0xabcde);
    assert_int_equal(ntohl(m.mask.ipv6_label), 0xfffff);

    m = parse_match("ip,nw_frag=first");
    assert_int_equal(m.key.nw_frag, FLOW_NW_FRAG_ANY);
    assert_int_equal(m.mask.nw_frag, FLOW_NW_FRAG_ANY | FLOW_NW_FRAG_LATER);

    /* The key is always stored pre-masked. */
    m = parse_match("dl_dst=ff:ff:ff:ff:ff:ff/01:00:00:00:00:00");
    assert_int_equal(m.key.dl_dst[0], 1);
    assert_int_equal(m.key.dl_dst[1], 0);
}

static void
test_shorthands(void **state)
{
    static const struct {
        const char *name;
        uint16_t dl_type;
        int nw_proto;
    } cases[] = {
        {"ip", 0x0800, -1},   {"ipv6", 0x86dd, -1},   {"arp", 0x0806, -1},
        {"icmp", 0x0800, 1},  {"icmp6", 0x86dd, 58},  {"tcp", 0x0800, 6},
        {"udp", 0x0800, 17},  {"sctp", 0x0800, 132},  {"tcp6", 0x86dd, 6},
        {"udp6", 0x86dd, 17}, {"sctp6", 0x86dd, 132},
    };

    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct match m = parse_match(cases[i].name);
        char want[64];

        assert_int_equal(ntohs(m.key.dl_type), cases[i].dl_type);
        assert_int_equal(m.mask.dl_type, 0xffff);
        if (cases[i].nw_proto < 0) {
            assert_int_equal(m.mask.nw_proto, 0);
        } else {
            assert_int_equal(m.key.nw_proto, cases[i].nw_proto);
            assert_int_equal(m.mask.nw_proto, 0xff);
        }
        snprintf(want, sizeof want, "priority=32768,%s", cases[i].name);
        assert_canon(cases[i].name, FLOW_PARSE_MATCH, want);
    }
}

/* ---- Actions. ---- */

static void
test_actions(void **state)
{
    static const struct canon_case cases[] = {
        {"actions=", "priority=32768 actions=drop"},
        {"actions=drop", "priority=32768 actions=drop"},
        {"actions=output:2", "priority=32768 actions=output:2"},
        {"actions=2,3", "priority=32768 actions=output:2,output:3"},
        {"actions=output=4 5", "priority=32768 actions=output:4,output:5"},
        {"actions=in_port,FLOOD,all", "priority=32768 "
                                      "actions=IN_PORT,FLOOD,ALL"},
        {"actions=mod_dl_src:00:00:00:00:00:01,mod_dl_dst:00:00:00:00:00:02",
         "priority=32768 actions=mod_dl_src:00:00:00:00:00:01,"
         "mod_dl_dst:00:00:00:00:00:02"},
        {"ip,actions=mod_nw_src:1.2.3.4,mod_nw_dst:5.6.7.8",
         "priority=32768,ip actions=mod_nw_src:1.2.3.4,"
         "mod_nw_dst:5.6.7.8"},
        {"ip,actions=mod_nw_tos:184", "priority=32768,ip "
                                      "actions=mod_nw_tos:184"},
        {"udp,actions=mod_tp_src:1,mod_tp_dst:2",
         "priority=32768,udp "
         "actions=mod_tp_src:1,mod_tp_dst:2"},
        {"ipv6,actions=dec_ttl", "priority=32768,ipv6 actions=dec_ttl"},
        {"actions=push_vlan:0x8100,push_vlan:0x88a8,push_vlan:33024",
         "priority=32768 actions=push_vlan:0x8100,push_vlan:0x88a8,"
         "push_vlan:0x8100"},
        {"actions=mod_vlan_vid:100,mod_vlan_pcp:7",
         "priority=32768 "
         "actions=mod_vlan_vid:100,mod_vlan_pcp:7"},
        {"actions=strip_vlan,pop_vlan", "priority=32768 "
                                        "actions=pop_vlan,pop_vlan"},
        {"tcp,actions=set_field:10.0.0.1->nw_dst,set_field:8080->tcp_dst",
         "priority=32768,tcp actions=set_field:10.0.0.1->nw_dst,"
         "set_field:8080->tcp_dst"},
        {"ipv6,actions=set_field:2001:db8::1->ipv6_src,"
         "set_field:0x12345->ipv6_label,set_field:7->nw_ttl",
         "priority=32768,ipv6 actions=set_field:2001:db8::1->ipv6_src,"
         "set_field:0x12345->ipv6_label,set_field:7->nw_ttl"},
        {"arp,actions=set_field:2->arp_op,set_field:1.1.1.1->arp_spa,"
         "set_field:00:00:00:00:00:09->arp_tha",
         "priority=32768,arp actions=set_field:2->arp_op,"
         "set_field:1.1.1.1->arp_spa,set_field:00:00:00:00:00:09->arp_tha"},
        {"icmp,actions=set_field:0->icmp_type,set_field:3->icmp_code",
         "priority=32768,icmp actions=set_field:0->icmp_type,"
         "set_field:3->icmp_code"},
        {"ip,actions=set_field:46->ip_dscp,set_field:1->ip_ecn",
         "priority=32768,ip actions=set_field:46->ip_dscp,"
         "set_field:1->nw_ecn"},
        {"actions=set_field:4101->vlan_vid,set_field:5->dl_vlan,"
         "set_field:0x1005->vlan_tci",
         "priority=32768 actions=set_field:4101->vlan_vid,"
         "set_field:5->dl_vlan,set_field:0x1005->vlan_tci"},
        {"actions=resubmit(,2),resubmit:3,resubmit(4,5),resubmit(6,)",
         "priority=32768 actions=resubmit(,2),resubmit:3,resubmit(4,5),"
         "resubmit:6"},
        {"actions=resubmit(in_port,1)", "priority=32768 "
                                        "actions=resubmit(,1)"},
        {"table=1,actions=goto_table:2", "table=1,priority=32768 "
                                         "actions=goto_table:2"},
        {"actions=output:1,goto_table:254", "priority=32768 "
                                            "actions=output:1,goto_table:254"},
        {"actions=note:01.ab.FF,note:0102,note:",
         "priority=32768 "
         "actions=note:01.ab.ff,note:01.02,note:"},
        {"actions=prog:nat-v4.1", "priority=32768 actions=prog:nat-v4.1"},
        {"idle_timeout=10,hard_timeout=20,cookie=0xabc actions=drop",
         "priority=32768,cookie=0xabc,idle_timeout=10,hard_timeout=20 "
         "actions=drop"},
        {"table=0, priority=100,tcp,in_port=1 actions=output:2",
         "table=0,priority=100,tcp,in_port=1 actions=output:2"},
        {"table=0,priority=100,in_port=1,tcp,nw_dst=10.0.0.0/24,tp_dst=80,"
         "actions=mod_nw_dst:10.0.1.5,output:2",
         "table=0,priority=100,tcp,in_port=1,nw_dst=10.0.0.0/24,tp_dst=80 "
         "actions=mod_nw_dst:10.0.1.5,output:2"},
    };

    (void)state;
    run_canon_cases(cases, ARRAY_SIZE(cases), FLOW_PARSE_ADD);
}

static void
test_action_values(void **state)
{
    struct flow_spec spec;
    const struct action *a;
    int col = 0;
    char *err;

    (void)state;
    err = flow_spec_parse(&spec,
                          "tcp,actions=mod_nw_tos:32,mod_vlan_pcp:5,"
                          "mod_tp_dst:80,resubmit(,9),note:aa,prog:x",
                          FLOW_PARSE_ADD, &col);
    assert_null(err);
    assert_int_equal(spec.actions.n, 6);
    a = &spec.actions.acts[0];
    assert_int_equal(a->type, ACTION_SET_FIELD);
    assert_int_equal(a->set.field, MFF_NW_TOS);
    assert_int_equal(a->set.value[0], 32);
    a = &spec.actions.acts[1];
    assert_int_equal(a->set.field, MFF_DL_VLAN_PCP);
    assert_int_equal(a->set.value[0] << 8 | a->set.value[1], 5 << 13);
    a = &spec.actions.acts[2];
    assert_int_equal(a->set.field, MFF_TP_DST);
    assert_int_equal(a->set.value[0] << 8 | a->set.value[1], 80);
    a = &spec.actions.acts[3];
    assert_int_equal(a->type, ACTION_RESUBMIT);
    assert_int_equal(a->resubmit.in_port, PORT_IN_PORT);
    assert_int_equal(a->resubmit.table, 9);
    assert_false(a->resubmit.same_table);
    a = &spec.actions.acts[4];
    assert_int_equal(a->note.len, 1);
    assert_int_equal(a->note.data[0], 0xaa);
    assert_string_equal(spec.actions.acts[5].prog.name, "x");

    /* Clones are deep and equal. */
    {
        struct flow_spec copy;

        flow_spec_clone(&copy, &spec);
        assert_true(flow_spec_equal(&copy, &spec));
        assert_ptr_not_equal(copy.actions.acts, spec.actions.acts);
        flow_spec_destroy(&copy);
    }
    flow_spec_destroy(&spec);
    flow_spec_destroy(&spec); /* Safe twice. */
}

/* ---- Errors. ---- */

struct error_case {
    enum flow_parse_mode mode;
    const char *text;
    int col;
    const char *msg; /* Must appear in the message. */
};

static void
test_errors(void **state)
{
    static const struct error_case cases[] = {
        /* Unknown field. */
        {FLOW_PARSE_MATCH, "ip,nw_srx=1.2.3.4", 4, "unknown field 'nw_srx'"},
        {FLOW_PARSE_MATCH, "table=0,priority=100,nw_srx=1", 22,
         "unknown field 'nw_srx'"},
        {FLOW_PARSE_MATCH, "=5", 1, "expected a field name"},
        /* Bad values, with the expected form. */
        {FLOW_PARSE_MATCH, "ip,nw_src=10.0.0.256", 11,
         "expected an IPv4 address"},
        {FLOW_PARSE_MATCH, "ip,nw_src=10.0.0", 11, "bad value"},
        {FLOW_PARSE_MATCH, "in_port=x", 9, "expected a number"},
        {FLOW_PARSE_MATCH, "in_port=4294967296", 9, "bad value"},
        {FLOW_PARSE_MATCH, "dl_src=00:11:22:33:44", 8,
         "expected an Ethernet address"},
        {FLOW_PARSE_MATCH, "dl_vlan=4096", 9, "out of range"},
        {FLOW_PARSE_MATCH, "dl_vlan_pcp=8", 13, "out of range"},
        {FLOW_PARSE_MATCH, "ip,nw_tos=33", 11, "bits outside the field"},
        {FLOW_PARSE_MATCH, "ip,nw_ecn=4", 11, "out of range"},
        {FLOW_PARSE_MATCH, "ip,nw_frag=maybe", 12, "no, yes, first"},
        {FLOW_PARSE_MATCH, "tcp,tcp_flags=+syn+syn", 15, "each once"},
        {FLOW_PARSE_MATCH, "tcp,tcp_flags=+bogus", 15, "bad value"},
        {FLOW_PARSE_MATCH, "tcp,tp_dst=65536", 12, "out of range"},
        {FLOW_PARSE_MATCH, "ipv6,ipv6_src=2001:db8:::1", 15,
         "expected an IPv6 address"},
        {FLOW_PARSE_MATCH, "ipv6,ipv6_label=0x100000", 17, "out of range"},
        {FLOW_PARSE_MATCH, "table=255", 7, "expected a number 0..254"},
        {FLOW_PARSE_MATCH, "priority=65536", 10, "bad value"},
        {FLOW_PARSE_MATCH, "cookie=zz", 8, "cookie: bad value"},
        {FLOW_PARSE_MATCH, "prog=a/b", 6, "bad program name"},
        {FLOW_PARSE_MATCH, "in_port=", 9, "missing value"},
        {FLOW_PARSE_MATCH, "in_port", 1, "needs a value"},
        {FLOW_PARSE_MATCH, "tcp=1", 1, "takes no value"},
        {FLOW_PARSE_MATCH, "priority=010", 10, "bad value"},
        /* Bad masks. */
        {FLOW_PARSE_MATCH, "ip,nw_src=10.0.0.0/33", 11, "bad mask"},
        {FLOW_PARSE_MATCH, "ip,nw_src=10.0.0.0/255.0.0.300", 11, "bad mask"},
        {FLOW_PARSE_MATCH, "in_port=1/1", 9, "cannot be masked"},
        {FLOW_PARSE_MATCH, "ip,nw_ttl=1/0xff", 11, "cannot be masked"},
        {FLOW_PARSE_MATCH, "dl_type=0x800/0xff00", 9, "cannot be masked"},
        {FLOW_PARSE_MATCH, "dl_src=00:11:22:33:44:55/zz", 8, "bad mask"},
        /* Missing prerequisites, at the field's column. */
        {FLOW_PARSE_MATCH, "tp_dst=80", 1,
         "tp_dst needs a transport protocol (tcp, udp, sctp)"},
        {FLOW_PARSE_MATCH, "ip,tp_dst=80", 4, "tp_dst needs"},
        {FLOW_PARSE_MATCH, "udp,tcp_dst=80", 5, "tcp_dst needs tcp"},
        {FLOW_PARSE_MATCH, "nw_src=1.2.3.4", 1, "nw_src needs ip or arp"},
        {FLOW_PARSE_MATCH, "ipv6,nw_src=1.2.3.4", 6, "needs ip or arp"},
        {FLOW_PARSE_MATCH, "ip,ipv6_src=::1", 4, "ipv6_src needs ipv6"},
        {FLOW_PARSE_MATCH, "tcp,icmp_type=3", 5,
         "icmp_type needs icmp or icmp6"},
        {FLOW_PARSE_MATCH, "icmp,icmpv6_type=3", 6, "icmpv6_type needs icmp6"},
        {FLOW_PARSE_MATCH, "ip,arp_op=1", 4, "arp_op needs arp"},
        {FLOW_PARSE_MATCH, "ip,arp_sha=00:00:00:00:00:01", 4,
         "arp_sha needs arp"},
        {FLOW_PARSE_MATCH, "udp,tcp_flags=+syn", 5, "tcp_flags needs tcp"},
        {FLOW_PARSE_MATCH, "arp,nw_ttl=3", 5, "nw_ttl needs ip or ipv6"},
        {FLOW_PARSE_MATCH, "nw_tos=4", 1, "nw_tos needs ip or ipv6"},
        {FLOW_PARSE_MATCH, "nw_frag=yes", 1, "nw_frag needs"},
        {FLOW_PARSE_MATCH, "nw_ttl=1,tp_dst=2,nw_src=1.2.3.4", 1,
         "nw_ttl needs"},
        {FLOW_PARSE_MATCH, "ipv6,tp_dst=2,nw_src=1.2.3.4", 6, "tp_dst needs"},
        {FLOW_PARSE_MATCH, "nw_proto=6", 1, "nw_proto needs ip or ipv6"},
        {FLOW_PARSE_MATCH, "dl_type=0x0801,nw_proto=6", 16, "needs"},
        /* Conflicting values. */
        {FLOW_PARSE_MATCH, "tcp,nw_proto=17", 5,
         "conflicting values for "
         "nw_proto: 17, but already 6"},
        {FLOW_PARSE_MATCH, "ip,ipv6", 4, "conflicting values for dl_type"},
        {FLOW_PARSE_MATCH, "in_port=1,in_port=2", 11, "conflicting"},
        {FLOW_PARSE_MATCH, "ip,nw_tos=32,ip_dscp=9", 14, "conflicting"},
        {FLOW_PARSE_MATCH, "dl_vlan=0xffff,dl_vlan=5", 16, "conflicting"},
        {FLOW_PARSE_MATCH, "dl_vlan=0xffff,dl_vlan_pcp=5", 16, "no VLAN tag"},
        {FLOW_PARSE_MATCH, "ip,nw_src=1.0.0.0/8,nw_src=1.0.0.0/16", 21,
         "conflicting"},
        {FLOW_PARSE_MATCH, "table=1,table=2", 15,
         "conflicting values for "
         "table"},
        {FLOW_PARSE_MATCH, "prog=a,prog=b", 13, "conflicting"},
        /* Mode restrictions. */
        {FLOW_PARSE_MATCH, "in_port=1,actions=drop", 11,
         "actions are not allowed"},
        {FLOW_PARSE_MATCH, "idle_timeout=5", 1, "not allowed when matching"},
        {FLOW_PARSE_ADD, "in_port=1", 10, "missing actions="},
        {FLOW_PARSE_ADD, "cookie=1/1,actions=drop", 8, "cookie mask"},
        /* Unknown actions and bad action arguments. */
        {FLOW_PARSE_ADD, "actions=outptu:1", 9, "unknown action 'outptu'"},
        {FLOW_PARSE_ADD, "in_port=1,actions=output:2,flud", 28,
         "unknown action 'flud'"},
        {FLOW_PARSE_ADD, "actions=output:x", 16, "bad port 'x'"},
        {FLOW_PARSE_ADD, "actions=output", 9, "needs an argument"},
        {FLOW_PARSE_ADD, "actions=flood:1", 9, "takes no argument"},
        {FLOW_PARSE_ADD, "actions=mod_dl_src:zz", 20,
         "expected an Ethernet address"},
        {FLOW_PARSE_ADD, "actions=mod_vlan_vid:4096", 22, "out of range"},
        {FLOW_PARSE_ADD, "actions=mod_vlan_pcp:8", 22, "out of range"},
        {FLOW_PARSE_ADD, "ip,actions=mod_nw_tos:33", 23,
         "bits outside the field"},
        {FLOW_PARSE_ADD, "actions=push_vlan:0x0800", 19,
         "expected 0x8100 or 0x88a8"},
        {FLOW_PARSE_ADD, "actions=set_field:1", 19, "VALUE->FIELD"},
        {FLOW_PARSE_ADD, "actions=set_field:1->nw_srx", 22,
         "unknown field 'nw_srx'"},
        {FLOW_PARSE_ADD, "tcp,actions=set_field:1->tcp_flags", 23,
         "cannot be written"},
        {FLOW_PARSE_ADD, "ip,actions=set_field:1.2.3.4/8->nw_src", 22,
         "masks are not allowed"},
        {FLOW_PARSE_ADD, "actions=resubmit(,)", 18, "needs a port or"},
        {FLOW_PARSE_ADD, "actions=resubmit(1,255)", 20, "bad table"},
        {FLOW_PARSE_ADD, "actions=resubmit(,1", 17, "missing ')'"},
        {FLOW_PARSE_ADD, "actions=resubmit(,1)x", 21, "trailing garbage"},
        {FLOW_PARSE_ADD, "actions=note:abc", 14, "bad hex"},
        {FLOW_PARSE_ADD, "actions=note:ab.", 14, "trailing '.'"},
        {FLOW_PARSE_ADD, "actions=prog:", 14, "bad program name"},
        {FLOW_PARSE_ADD, "actions=drop,output:1", 9,
         "drop must be the only action"},
        {FLOW_PARSE_ADD, "actions=drop:1", 9, "takes no argument"},
        {FLOW_PARSE_ADD, "actions=goto_table:2,output:1", 9,
         "goto_table must be the last action"},
        {FLOW_PARSE_ADD, "table=3,actions=goto_table:3", 28,
         "must go to a table after"},
        {FLOW_PARSE_ADD, "actions=goto_table:255", 20, "bad table"},
        /* Action prerequisites. */
        {FLOW_PARSE_ADD, "actions=mod_nw_dst:1.2.3.4", 20,
         "mod_nw_dst needs ip in the match"},
        {FLOW_PARSE_ADD, "ipv6,actions=mod_nw_src:1.2.3.4", 25,
         "mod_nw_src needs ip"},
        {FLOW_PARSE_ADD, "ip,actions=mod_tp_dst:80", 23,
         "mod_tp_dst needs a transport protocol"},
        {FLOW_PARSE_ADD, "actions=mod_nw_tos:4", 20, "needs ip or ipv6"},
        {FLOW_PARSE_ADD, "arp,actions=dec_ttl", 13, "dec_ttl needs ip or ipv6"},
        {FLOW_PARSE_ADD, "udp,actions=set_field:1->tcp_src", 23,
         "tcp_src needs tcp"},
        {FLOW_PARSE_ADD, "ip,actions=set_field:::1->ipv6_dst", 22,
         "needs ipv6"},
        {FLOW_PARSE_ADD, "ip,actions=set_field:1->arp_op", 22, "needs arp"},
    };

    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct flow_spec spec;
        int col = -1;
        char *err = flow_spec_parse(&spec, cases[i].text, cases[i].mode, &col);

        if (!err) {
            fail_msg("'%s' parsed but should fail", cases[i].text);
        }
        if (!strstr(err, cases[i].msg) || col != cases[i].col) {
            fail_msg("'%s': got column %d '%s', wanted column %d '%s'",
                     cases[i].text, col, err, cases[i].col, cases[i].msg);
        }
        /* On error the spec is empty. */
        assert_int_equal(spec.actions.n, 0);
        assert_null(spec.prog_name);
        flow_spec_destroy(&spec);
        free(err);
    }
}

/* ---- Random round trip. ---- */

static unsigned int
rnd(unsigned int *seed, unsigned int n)
{
    *seed = *seed * 1103515245u + 12345u;
    return (*seed >> 8) % n;
}

static void
put_rnd_mac(unsigned int *seed, struct ds *ds)
{
    for (int i = 0; i < 6; i++) {
        ds_put_format(ds, "%s%02x", i ? ":" : "", rnd(seed, 256));
    }
}

static void
put_rnd_ip4(unsigned int *seed, struct ds *ds)
{
    ds_put_format(ds, "%u.%u.%u.%u", rnd(seed, 256), rnd(seed, 256),
                  rnd(seed, 256), rnd(seed, 256));
}

static void
put_rnd_ip6(unsigned int *seed, struct ds *ds)
{
    for (int i = 0; i < 8; i++) {
        ds_put_format(ds, "%s%x", i ? ":" : "",
                      rnd(seed, 3) ? rnd(seed, 65536) : 0);
    }
}

/* Appends a random valid flow: a protocol, fields it allows (with random
 * masks), and in ADD mode random actions whose prerequisites hold. */
static void
gen_flow(unsigned int *seed, bool add, struct ds *ds)
{
    static const char *const protos[] = {
        "",     "ip",   "ipv6",  "arp",  "tcp",  "udp",
        "sctp", "icmp", "icmp6", "tcp6", "udp6", "sctp6",
    };
    const char *proto = protos[rnd(seed, ARRAY_SIZE(protos))];
    bool ip4 = !strcmp(proto, "ip") || !strcmp(proto, "tcp") ||
               !strcmp(proto, "udp") || !strcmp(proto, "sctp") ||
               !strcmp(proto, "icmp");
    bool ip6 = !strncmp(proto, "ipv6", 4) || !strcmp(proto, "tcp6") ||
               !strcmp(proto, "udp6") || !strcmp(proto, "sctp6") ||
               !strcmp(proto, "icmp6");
    bool arp = !strcmp(proto, "arp");
    bool l4 = !strncmp(proto, "tcp", 3) || !strncmp(proto, "udp", 3) ||
              !strncmp(proto, "sctp", 4);
    bool tcp = !strncmp(proto, "tcp", 3);
    bool icmp = !strncmp(proto, "icmp", 4);
    int table = rnd(seed, 4) ? 0 : (int)rnd(seed, 200);
    char sep = rnd(seed, 2) ? ',' : ' ';

    if (table || rnd(seed, 2)) {
        ds_put_format(ds, "table=%d%c", table, sep);
    }
    if (rnd(seed, 2)) {
        ds_put_format(ds, "priority=%u%c", rnd(seed, 65536), sep);
    }
    if (rnd(seed, 4) == 0) {
        ds_put_format(ds, add ? "cookie=0x%x%c" : "cookie=0x%x/0xff%c",
                      rnd(seed, 1u << 30), sep);
    }
    if (add && rnd(seed, 4) == 0) {
        ds_put_format(ds, "idle_timeout=%u,hard_timeout=%u,", rnd(seed, 65536),
                      rnd(seed, 65536));
    }
    if (*proto) {
        ds_put_format(ds, "%s,", proto);
    }
    if (rnd(seed, 2)) {
        ds_put_format(ds, "in_port=%u,", rnd(seed, 100000));
    }
    if (rnd(seed, 3) == 0) {
        ds_put_cstr(ds, rnd(seed, 2) ? "dl_src=" : "eth_dst=");
        put_rnd_mac(seed, ds);
        if (rnd(seed, 2)) {
            ds_put_char(ds, '/');
            put_rnd_mac(seed, ds);
        }
        ds_put_char(ds, ',');
    }
    switch (rnd(seed, 7)) {
    case 0:
        ds_put_format(ds, "dl_vlan=%u,", rnd(seed, 4096));
        break;
    case 1:
        ds_put_format(ds, "dl_vlan_pcp=%u,", rnd(seed, 8));
        break;
    case 2:
        ds_put_format(ds, "vlan_tci=0x%x/0x%x,", rnd(seed, 65536),
                      rnd(seed, 65536));
        break;
    case 3:
        ds_put_cstr(ds, "dl_vlan=0xffff,");
        break;
    case 4:
        ds_put_format(ds, "vlan_vid=0x%x/0x%x,", rnd(seed, 0x2000),
                      rnd(seed, 0x2000));
        break;
    default:
        break;
    }
    if (!*proto && rnd(seed, 3) == 0) {
        ds_put_format(ds, "dl_type=0x%x,", 0x8800 + rnd(seed, 256));
    }
    if ((ip4 || arp) && rnd(seed, 2)) {
        ds_put_cstr(ds, arp && rnd(seed, 2) ? "arp_spa=" : "nw_src=");
        put_rnd_ip4(seed, ds);
        if (rnd(seed, 2)) {
            ds_put_format(ds, "/%u", rnd(seed, 33));
        } else if (rnd(seed, 2)) {
            ds_put_char(ds, '/');
            put_rnd_ip4(seed, ds);
        }
        ds_put_char(ds, ',');
    }
    if ((ip4 || arp) && rnd(seed, 2)) {
        ds_put_cstr(ds, arp ? "arp_tpa=" : "ip_dst=");
        put_rnd_ip4(seed, ds);
        ds_put_format(ds, "/%u,", rnd(seed, 33));
    }
    if (arp) {
        if (rnd(seed, 2)) {
            ds_put_format(ds, "arp_op=%u,", rnd(seed, 256));
        }
        if (rnd(seed, 2)) {
            ds_put_cstr(ds, "arp_sha=");
            put_rnd_mac(seed, ds);
            ds_put_char(ds, ',');
        }
        if (rnd(seed, 2)) {
            ds_put_cstr(ds, "arp_tha=");
            put_rnd_mac(seed, ds);
            ds_put_cstr(ds, "/ff:ff:ff:00:00:00,");
        }
    }
    if (ip6) {
        if (rnd(seed, 2)) {
            ds_put_cstr(ds, "ipv6_src=");
            put_rnd_ip6(seed, ds);
            ds_put_format(ds, "/%u,", rnd(seed, 129));
        }
        if (rnd(seed, 2)) {
            ds_put_cstr(ds, "ipv6_dst=");
            put_rnd_ip6(seed, ds);
            ds_put_char(ds, ',');
        }
        if (rnd(seed, 2)) {
            ds_put_format(ds, "ipv6_label=0x%x/0x%x,", rnd(seed, 1 << 20),
                          rnd(seed, 1 << 20));
        }
    }
    if (ip4 || ip6) {
        if (!strcmp(proto, "ip") && rnd(seed, 3) == 0) {
            ds_put_format(ds, "nw_proto=%u,", rnd(seed, 256));
        }
        if (rnd(seed, 3) == 0) {
            ds_put_format(ds, "ip_dscp=%u,", rnd(seed, 64));
        }
        if (rnd(seed, 3) == 0) {
            ds_put_format(ds, "nw_ecn=%u,", rnd(seed, 4));
        }
        if (rnd(seed, 3) == 0) {
            ds_put_format(ds, "nw_ttl=%u,", rnd(seed, 256));
        }
        if (rnd(seed, 3) == 0) {
            static const char *const frags[] = {
                "no", "yes", "first", "later", "not_later",
            };

            ds_put_format(ds, "nw_frag=%s,", frags[rnd(seed, 5)]);
        }
    }
    if (l4) {
        if (rnd(seed, 2)) {
            ds_put_format(ds, "tp_src=%u,", rnd(seed, 65536));
        }
        if (rnd(seed, 2)) {
            ds_put_format(ds, "tp_dst=0x%x/0x%x,", rnd(seed, 65536),
                          rnd(seed, 65536));
        }
    }
    if (tcp && rnd(seed, 2)) {
        ds_put_format(ds, "tcp_flags=0x%x/0x%x,", rnd(seed, 4096),
                      rnd(seed, 4096));
    }
    if (icmp && rnd(seed, 2)) {
        ds_put_format(ds, "icmp_type=%u,icmp_code=%u,", rnd(seed, 256),
                      rnd(seed, 256));
    }
    if (rnd(seed, 5) == 0) {
        ds_put_format(ds, "prog=p%u,", rnd(seed, 100));
    }
    if (!add) {
        return;
    }

    ds_put_cstr(ds, "actions=");
    for (unsigned int n = rnd(seed, 6), i = 0; i < n; i++) {
        switch (rnd(seed, 14)) {
        case 0:
            ds_put_format(ds, "output:%u,", rnd(seed, 1000));
            break;
        case 1:
            ds_put_cstr(ds, rnd(seed, 2) ? "in_port," : "flood,all,");
            break;
        case 2:
            ds_put_cstr(ds, "mod_dl_src:");
            put_rnd_mac(seed, ds);
            ds_put_char(ds, ',');
            break;
        case 3:
            if (ip4) {
                ds_put_cstr(ds, "mod_nw_dst:");
                put_rnd_ip4(seed, ds);
                ds_put_char(ds, ',');
            }
            break;
        case 4:
            if (ip4 || ip6) {
                ds_put_format(ds, "mod_nw_tos:%u,dec_ttl,", rnd(seed, 64) * 4);
            }
            break;
        case 5:
            if (l4) {
                ds_put_format(ds, "mod_tp_src:%u,", rnd(seed, 65536));
            }
            break;
        case 6:
            ds_put_format(ds,
                          "push_vlan:0x8100,mod_vlan_vid:%u,"
                          "mod_vlan_pcp:%u,",
                          rnd(seed, 4096), rnd(seed, 8));
            break;
        case 7:
            ds_put_cstr(ds, rnd(seed, 2) ? "strip_vlan," : "pop_vlan,");
            break;
        case 8:
            if (ip6) {
                ds_put_cstr(ds, "set_field:");
                put_rnd_ip6(seed, ds);
                ds_put_cstr(ds, "->ipv6_dst,");
            }
            break;
        case 9:
            ds_put_format(ds, "resubmit(,%u),resubmit:%u,", rnd(seed, 255),
                          rnd(seed, 100));
            break;
        case 10:
            ds_put_format(ds, "note:%02x.%02x,", rnd(seed, 256),
                          rnd(seed, 256));
            break;
        case 11:
            ds_put_format(ds, "prog:q%u,", rnd(seed, 10));
            break;
        case 12:
            if (arp) {
                ds_put_format(ds, "set_field:%u->arp_op,", rnd(seed, 256));
            }
            break;
        default:
            if (icmp) {
                ds_put_format(ds, "set_field:%u->icmp_type,", rnd(seed, 256));
            }
            break;
        }
    }
    if (table < 254 && rnd(seed, 4) == 0) {
        ds_put_format(ds, "goto_table:%u", table + 1 + rnd(seed, 254 - table));
    }
}

static void
round_trip_one(const char *text, enum flow_parse_mode mode)
{
    struct flow_spec a, b;
    struct ds t1 = DS_EMPTY_INITIALIZER, t2 = DS_EMPTY_INITIALIZER;
    int col = 0;
    char *err = flow_spec_parse(&a, text, mode, &col);

    if (err) {
        fail_msg("generated '%s' failed at %d: %s", text, col, err);
    }
    flow_spec_format(&a, &t1);
    err = flow_spec_parse(&b, ds_cstr(&t1), mode, &col);
    if (err) {
        fail_msg("'%s' printed as '%s' which fails at %d: %s", text,
                 ds_cstr(&t1), col, err);
    }
    if (!flow_spec_equal(&a, &b)) {
        fail_msg("'%s' printed as '%s' parses differently", text, ds_cstr(&t1));
    }
    flow_spec_format(&b, &t2);
    assert_string_equal(ds_cstr(&t1), ds_cstr(&t2));
    flow_spec_destroy(&a);
    flow_spec_destroy(&b);
    ds_destroy(&t1);
    ds_destroy(&t2);
}

static void
test_round_trip_random(void **state)
{
    unsigned int seed = 12345;

    (void)state;
    for (int i = 0; i < 2000; i++) {
        struct ds ds = DS_EMPTY_INITIALIZER;
        bool add = i % 2;

        gen_flow(&seed, add, &ds);
        round_trip_one(ds_cstr(&ds), add ? FLOW_PARSE_ADD : FLOW_PARSE_MATCH);
        ds_destroy(&ds);
    }
}

/* flow_spec_equal must see every attribute, or the round trip proves
 * nothing. */
static void
test_spec_equal_sensitive(void **state)
{
    static const char *const texts[] = {
        "tcp,tp_dst=80 actions=output:1",
        "tcp,tp_dst=81 actions=output:1",
        "tcp,tp_dst=80 actions=output:2",
        "table=0,tcp,tp_dst=80 actions=output:1",
        "priority=1,tcp,tp_dst=80 actions=output:1",
        "cookie=1,tcp,tp_dst=80 actions=output:1",
        "idle_timeout=1,tcp,tp_dst=80 actions=output:1",
        "hard_timeout=1,tcp,tp_dst=80 actions=output:1",
        "prog=x,tcp,tp_dst=80 actions=output:1",
        "tcp,tp_dst=80 actions=mod_tp_dst:1",
        "tcp,tp_dst=80 actions=set_field:1->tp_dst",
        "tcp,tp_dst=80 actions=note:01",
        "tcp,tp_dst=80 actions=note:02",
        "tcp,tp_dst=80 actions=prog:y",
    };
    struct flow_spec specs[ARRAY_SIZE(texts)];

    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(texts); i++) {
        int col;

        assert_null(flow_spec_parse(&specs[i], texts[i], FLOW_PARSE_ADD, &col));
    }
    for (size_t i = 0; i < ARRAY_SIZE(texts); i++) {
        for (size_t j = 0; j < ARRAY_SIZE(texts); j++) {
            assert_int_equal(flow_spec_equal(&specs[i], &specs[j]), i == j);
        }
    }
    for (size_t i = 0; i < ARRAY_SIZE(texts); i++) {
        flow_spec_destroy(&specs[i]);
    }
}

/* ---- Packet descriptions. ---- */

static void
test_flow_key(void **state)
{
    static const struct canon_case cases[] = {
        {"in_port=1,tcp,nw_src=10.0.0.1,tp_dst=80",
         "tcp,in_port=1,nw_src=10.0.0.1,tp_dst=80"},
        {"udp6,ipv6_src=2001:db8::1,udp_src=53,nw_ttl=9",
         "udp6,ipv6_src=2001:db8::1,nw_ttl=9,tp_src=53"},
        {"arp,arp_op=1,arp_spa=1.2.3.4,arp_sha=00:00:00:00:00:01",
         "arp,arp_spa=1.2.3.4,arp_op=1,arp_sha=00:00:00:00:00:01"},
        {"dl_vlan=5,dl_vlan_pcp=2,ip", "ip,dl_vlan=5,dl_vlan_pcp=2"},
        {"ip", "ip"},
        {"ip,nw_frag=later,nw_tos=8,nw_ecn=2",
         "ip,nw_tos=8,nw_ecn=2,nw_frag=later"},
        {"tcp,tcp_flags=0x012", "tcp,tcp_flags=0x012"},
        {"icmp,icmp_type=8", "icmp,icmp_type=8"},
        {"", ""},
    };
    static const struct {
        const char *text;
        int col;
        const char *msg;
    } errors[] = {
        {"ip,nw_src=10.0.0.0/8", 11, "masks are not allowed"},
        {"priority=5", 1, "not allowed in a packet description"},
        {"tcp,actions=drop", 5, "actions are not allowed"},
        {"tp_dst=80", 1, "needs a transport protocol"},
        {"ip,nw_frag=no", 12, "masked value"},
        {"tcp,tcp_flags=+syn", 15, "masked value"},
    };

    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct flow_key k1, k2;
        struct ds ds = DS_EMPTY_INITIALIZER;
        int col = 0;
        char *err = flow_key_parse(&k1, cases[i].in, &col);

        if (err) {
            fail_msg("'%s': %d: %s", cases[i].in, col, err);
        }
        flow_key_format(&k1, &ds);
        assert_string_equal(ds.buf ? ds.buf : "", cases[i].out);
        assert_null(flow_key_parse(&k2, ds.buf ? ds.buf : "", &col));
        assert_memory_equal(&k1, &k2, sizeof k1);
        ds_destroy(&ds);
    }
    for (size_t i = 0; i < ARRAY_SIZE(errors); i++) {
        struct flow_key k;
        int col = 0;
        char *err = flow_key_parse(&k, errors[i].text, &col);

        assert_non_null(err);
        if (!strstr(err, errors[i].msg) || col != errors[i].col) {
            fail_msg("'%s': got %d '%s'", errors[i].text, col, err);
        }
        free(err);
    }
}

/* Random keys in flow syntax (no masks) survive format and parse. */
static void
test_flow_key_random(void **state)
{
    unsigned int seed = 777;

    (void)state;
    for (int i = 0; i < 500; i++) {
        struct ds in = DS_EMPTY_INITIALIZER, out = DS_EMPTY_INITIALIZER;
        struct flow_key k1, k2;
        int col = 0;
        char *err;

        gen_flow(&seed, false, &in);
        /* Packet descriptions take no masks or rule attributes: turn the
         * generated match into one by dropping what a key cannot hold. */
        {
            struct flow_spec spec;

            assert_null(
                flow_spec_parse(&spec, ds_cstr(&in), FLOW_PARSE_MATCH, &col));
            flow_key_format(&spec.match.key, &out);
            flow_spec_destroy(&spec);
        }
        err = flow_key_parse(&k1, out.buf ? out.buf : "", &col);
        if (err) {
            fail_msg("'%s' -> '%s': %d: %s", ds_cstr(&in), out.buf, col, err);
        }
        ds_clear(&in);
        flow_key_format(&k1, &in);
        assert_string_equal(in.buf ? in.buf : "", out.buf ? out.buf : "");
        assert_null(flow_key_parse(&k2, in.buf ? in.buf : "", &col));
        assert_memory_equal(&k1, &k2, sizeof k1);
        ds_destroy(&in);
        ds_destroy(&out);
    }
}

/* ---- set_field on packets. ---- */

static void
test_set_packet(void **state)
{
    struct packet *p = packet_new(PACKET_DEFAULT_SIZE);
    struct flow_key key;
    uint8_t v[16];
    int col;

    (void)state;
    assert_null(flow_key_parse(&key,
                               "in_port=1,tcp,nw_src=10.0.0.1,"
                               "nw_dst=10.0.0.2,tp_src=1000,tp_dst=80,"
                               "nw_ttl=64,nw_tos=4",
                               &col));
    pkt_compose(p, &key);
    p->in_port = 1;
    pkt_parse(p);
    assert_int_equal(ntohs(p->key.tp_dst), 80);

    assert_null(mf_parse(mf_from_id(MFF_NW_DST), "192.168.1.1", v, NULL));
    assert_int_equal(mf_set_packet(mf_from_id(MFF_NW_DST), v, p), 0);
    assert_null(mf_parse(mf_from_id(MFF_TCP_DST), "8080", v, NULL));
    assert_int_equal(mf_set_packet(mf_from_id(MFF_TCP_DST), v, p), 0);
    assert_null(mf_parse(mf_from_id(MFF_IP_DSCP), "46", v, NULL));
    assert_int_equal(mf_set_packet(mf_from_id(MFF_IP_DSCP), v, p), 0);
    assert_null(mf_parse(mf_from_id(MFF_DL_VLAN), "7", v, NULL));
    assert_int_equal(mf_set_packet(mf_from_id(MFF_DL_VLAN), v, p), 0);

    /* The rewrites reach the bytes: parse again from scratch. */
    pkt_parse(p);
    assert_int_equal(ntohl(p->key.nw_dst), 0xc0a80101);
    assert_int_equal(ntohs(p->key.tp_dst), 8080);
    assert_int_equal(p->key.nw_tos, 46 << 2 | 0);
    assert_int_equal(ntohs(p->key.vlan_tci) & VLAN_VID_MASK, 7);

    /* vlan_vid without OFPVID_PRESENT removes the tag. */
    assert_null(mf_parse(mf_from_id(MFF_VLAN_VID), "0", v, NULL));
    assert_int_equal(mf_set_packet(mf_from_id(MFF_VLAN_VID), v, p), 0);
    pkt_parse(p);
    assert_int_equal(p->key.vlan_tci, 0);
    assert_int_equal(ntohl(p->key.nw_dst), 0xc0a80101);

    /* ARP fields on a TCP packet: refused, nothing changes. */
    assert_null(mf_parse(mf_from_id(MFF_ARP_OP), "2", v, NULL));
    assert_int_equal(mf_set_packet(mf_from_id(MFF_ARP_OP), v, p), -EINVAL);
    /* Read-only fields are refused too. */
    assert_int_equal(mf_set_packet(mf_from_id(MFF_NW_PROTO), v, p), -EINVAL);
    packet_destroy(p);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_field_table),
        cmocka_unit_test(test_match_fields),
        cmocka_unit_test(test_match_bits),
        cmocka_unit_test(test_shorthands),
        cmocka_unit_test(test_actions),
        cmocka_unit_test(test_action_values),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_round_trip_random),
        cmocka_unit_test(test_spec_equal_sensitive),
        cmocka_unit_test(test_flow_key),
        cmocka_unit_test(test_flow_key_random),
        cmocka_unit_test(test_set_packet),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
