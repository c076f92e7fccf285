/* Tests of class descriptions (src/contract/describe.c): conditions as
 * the path walk (src/bpf/verifier_paths.c) writes them, and calls with
 * their outcomes, against the words expected.  Map names and types come
 * from a program whose maps are set up here like the loader's; BTF names
 * from the real progs/nat.o of the build tree. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <linux/bpf.h>

#include "bpf/bpf_api.h"
#include "bpf/bpf_int.h"
#include "bpf/verifier_paths.h"
#include "contract/contract.h"
#include "contract/describe.h"
#include "core/util.h"

/* Maps of the test program, by index. */
enum {
    M_CFG,                       /* "nat_cfg": one-element array. */
    M_CONNS,                     /* "fw_conns": hash named like a flow
                                  * table. */
    M_STATS,                     /* "fw_stats": per-CPU array. */
    M_ROUTES,                    /* "routes": LPM trie. */
    M_JUMPS,                     /* "jumps": program array. */
    M_MACS,                      /* "br_index": plain hash. */
    M_N
};

static struct bpf_map maps[M_N];
static struct bpf_map *map_ptrs[M_N];
static struct bpf_prog prog;

static void
setup_prog(void)
{
    static const struct {
        const char *name;
        enum bpf_map_type type;
        uint32_t value_size, max_entries;
    } defs[M_N] = {
        {"nat_cfg", BPF_MAP_TYPE_ARRAY, 16, 1},
        {"fw_conns", BPF_MAP_TYPE_HASH, 16, 1024},
        {"fw_stats", BPF_MAP_TYPE_PERCPU_ARRAY, 8, 8},
        {"routes", BPF_MAP_TYPE_LPM_TRIE, 4, 64},
        {"jumps", BPF_MAP_TYPE_PROG_ARRAY, 4, 4},
        {"br_index", BPF_MAP_TYPE_HASH, 4, 64},
    };
    memset(&prog, 0, sizeof prog);
    for (int i = 0; i < M_N; i++) {
        memset(&maps[i], 0, sizeof maps[i]);
        snprintf(maps[i].name, sizeof maps[i].name, "%s", defs[i].name);
        maps[i].type = defs[i].type;
        maps[i].key_size = 4;
        maps[i].value_size = defs[i].value_size;
        maps[i].max_entries = defs[i].max_entries;
        map_ptrs[i] = &maps[i];
    }
    prog.maps = map_ptrs;
    prog.n_maps = M_N;
}

/* Words of conditions 'list' ("a|b|c") and calls 'calls'. */
static char *
words(const struct bpf_prog *p, const char *list,
      const struct contract_call *calls, uint32_t n_calls)
{
    char *copy = strdup(list);
    char *conds[64];
    uint32_t n = 0;
    for (char *save = NULL, *t = strtok_r(copy, "|", &save); t && n < 64;
         t = strtok_r(NULL, "|", &save)) {
        conds[n++] = t;
    }
    char *w = contract_describe_class(p, conds, n, calls, n_calls);
    free(copy);
    return w;
}

/* Whether the words of 'list' are 'want'; prints the difference. */
static bool
same(const struct bpf_prog *p, const char *list, const char *want)
{
    char *got = words(p, list, NULL, 0);
    bool ok = !strcmp(got, want);
    if (!ok) {
        print_error("conditions '%s': got '%s', want '%s'\n", list, got,
                    want);
    }
    free(got);
    return ok;
}

static void
check(const struct bpf_prog *p, const char *list, const char *want)
{
    if (!same(p, list, want)) {
        fail();
    }
}

/* ---- Conditions ------------------------------------------------------- */

static const struct {
    const char *conds;
    const char *words;
} cond_cases[] = {
    /* Nothing known. */
    {"any packet", "any packet"},
    {"", "any packet"},
    /* Lengths: passing every check says nothing; failing one says which. */
    {"len<=13", "shorter than 14 bytes"},
    {"len 14..33|dl_type=0x800", "IPv4, shorter than 34 bytes"},
    {"len=60", "exactly 60 bytes"},
    {"len>=14|dl_type!=0x800", "not IPv4"},
    {"len>=34|dl_type=0x800", "IPv4"},
    {"len>=42|dl_type=0x800", "IPv4, at least 42 bytes"},
    {"len>=42|dl_type=0x800|nw_proto=17", "IPv4 UDP"},
    {"len>=66|vlan_tpid=0x8100|dl_type=0x86dd|ip_frag[0]=6", "VLAN IPv6 TCP"},
    {"len>=20|dl_type!=0x800", "not IPv4, at least 20 bytes"},
    {"len>=14|dl_type!=0x8100|dl_type!=0x88a8|dl_type!=0x800|"
     "dl_type!=0x86dd",
     "not IPv4/IPv6"},
    {"dl_type=0x806", "ARP"},
    {"dl_type=0x88cc", "LLDP"},
    {"dl_type=0x1234", "EtherType 0x1234"},
    {"dl_type!=0x1234", "not 0x1234"},
    /* VLAN tags. */
    {"len>=62|vlan_tpid=0x8100|vlan_tpid2=0x8100|dl_type=0x800|"
     "ip_vhl&0xf0=64|ip_vhl&0xf>=5|ip_frag&0x1fff=0|nw_proto=6|in_port!=1",
     "VLAN+VLAN IPv4 TCP, not from port 1"},
    {"vlan_tpid=0x88a8|dl_type=0x86dd", "S-VLAN IPv6"},
    {"vlan_tpid=0x88a8|vlan_tpid2=0x8100|dl_type=0x800",
     "S-VLAN+VLAN IPv4"},
    {"vlan_tci&0xfff=100|dl_type=0x800", "IPv4, VLAN 100"},
    /* IPv4 header checks. */
    {"dl_type=0x800|ip_vhl&0xf0!=64", "IPv4, IP version not 4"},
    {"dl_type=0x800|ip_vhl&0xf<5", "IPv4, bad IP header length"},
    {"dl_type=0x800|ip_vhl&0xf=5", "IPv4, no IP options"},
    {"dl_type=0x800|ip_vhl&0xf>5", "IPv4, IP options"},
    {"dl_type=0x800|ip_vhl>>4=4", "IPv4"},
    {"ip_vhl>>4=4", "IP version 4"},
    {"dl_type=0x800|ip_frag&0x1fff!=0", "IPv4 fragment"},
    {"dl_type=0x800|ip_frag&0x3fff!=0|nw_proto=17", "IPv4 fragment UDP"},
    {"dl_type=0x800|ip_frag has bits 0x1fff", "IPv4 fragment"},
    {"dl_type=0x800|ip_frag[0]&0x40!=0", "IPv4, don't fragment"},
    {"dl_type=0x800|nw_ttl<=1", "IPv4, TTL expiring"},
    {"dl_type=0x800|nw_ttl>1", "IPv4"},
    {"dl_type=0x800|nw_ttl>7", "IPv4, nw_ttl>7"},
    /* Protocols. */
    {"dl_type=0x800|nw_proto=17", "IPv4 UDP"},
    {"dl_type=0x800|nw_proto=1", "IPv4 ICMP"},
    {"dl_type=0x800|nw_proto=99", "IPv4 protocol 99"},
    {"dl_type=0x800|nw_proto!=6|nw_proto!=17", "IPv4 not TCP/UDP"},
    {"dl_type=0x800|nw_proto=1|l4[0:1]=8", "IPv4 ICMP, echo request"},
    {"dl_type=0x800|nw_proto=1|l4[0:1]=42", "IPv4 ICMP, ICMP type 42"},
    /* TCP flags and header length. */
    {"dl_type=0x800|nw_proto=6|tcp_flags&0x12=2", "IPv4 TCP SYN"},
    {"dl_type=0x800|nw_proto=6|tcp_flags&0x12=18", "IPv4 TCP SYN+ACK"},
    {"dl_type=0x800|nw_proto=6|tcp_flags&0x12=16",
     "IPv4 TCP ACK without SYN"},
    {"dl_type=0x800|nw_proto=6|tcp_flags&0x2=0", "IPv4 TCP not SYN"},
    {"dl_type=0x800|nw_proto=6|tcp_flags&0x2=0|tcp_flags&0x4=0",
     "IPv4 TCP no SYN/RST"},
    {"dl_type=0x800|nw_proto=6|tcp_flags&0x4!=0", "IPv4 TCP RST"},
    {"dl_type=0x800|nw_proto=6|tcp_flags has bits 0x1", "IPv4 TCP FIN"},
    {"dl_type=0x800|nw_proto=6|tcp_flags&0x12!=2",
     "IPv4 TCP, not SYN without ACK"},
    {"dl_type=0x800|nw_proto=6|tcp_off&0xf0>=0x50", "IPv4 TCP"},
    {"dl_type=0x800|nw_proto=6|tcp_off>>4<5",
     "IPv4 TCP, bad TCP header length"},
    {"dl_type=0x800|nw_proto=6|tcp_off_flags&0xf000>0x5000",
     "IPv4 TCP, TCP options"},
    /* IPv6: the walk's IPv4 names read at IPv6 offsets. */
    {"dl_type=0x86dd|ip_frag[0]=6|l4[33:34]&0x12=2|"
     "l4[32:34]&0xf000>=0x5000",
     "IPv6 TCP SYN"},
    {"dl_type=0x86dd|ip_frag[0]=17|l4[22:24]=53",
     "IPv6 UDP, dst port 53"},
    {"dl_type=0x86dd|ip_frag[0]=58|l4[20:21]=135",
     "IPv6 ICMPv6, neighbour solicitation"},
    {"dl_type=0x86dd|pkt[21:22]<=1", "IPv6, hop limit expiring"},
    {"dl_type=0x86dd|nw_ttl=3", "IPv6, ip6_src[0:1]=3"},
    {"vlan_tpid=0x8100|dl_type=0x86dd|pkt[24:25]=6", "VLAN IPv6 TCP"},
    /* Ports and addresses. */
    {"dl_type=0x800|nw_proto=17|tp_dst=53", "IPv4 UDP, dst port 53"},
    {"dl_type=0x800|nw_proto=17|tp_src!=53", "IPv4 UDP, src port not 53"},
    {"dl_type=0x800|nw_proto=6|tp_dst<1024", "IPv4 TCP, dst port < 1024"},
    {"dl_type=0x800|nw_dst=0xa000001", "IPv4, to 10.0.0.1"},
    {"dl_type=0x800|nw_src!=0xc0a80001", "IPv4, not from 192.168.0.1"},
    {"dl_type=0x800|nw_src&0xffffff00=0xc0a80100",
     "IPv4, from 192.168.1.0/24"},
    {"dl_type=0x800|nw_src&0xff00ff00=0xc0a80100",
     "IPv4, nw_src&0xff00ff00=0xc0a80100"},
    {"dl_type=0x800|nw_proto=17|l4[6:8]=0", "IPv4 UDP, udp_csum=0"},
    /* MAC group bit. */
    {"pkt[0:1]&0x1!=0", "multicast dst MAC"},
    {"pkt[0:1]&0x1=0", "unicast dst MAC"},
    /* The ingress port, against constants and map fields without BTF. */
    {"in_port=2", "from port 2"},
    {"in_port!=2", "not from port 2"},
    {"in_port=nat_cfg+8", "ingress = nat_cfg+8"},
    {"in_port!=nat_cfg+0", "ingress != nat_cfg+0"},
    {"br_index+0=in_port", "ingress = br_index+0"},
    {"dl_type=0x800|nw_dst=nat_cfg+4", "IPv4, dst IP = nat_cfg+4"},
    /* The packet first, then the maps' contents. */
    {"fw_conns+8!=3|in_port=2|len 14..33", "from port 2, "
     "shorter than 34 bytes, fw_conns+8!=3"},
    {"br_index+0=in_port|fw_conns+8=1", "ingress = br_index+0, fw_conns+8=1"},
    /* Kept as written. */
    {"fw_conns+8!=3", "fw_conns+8!=3"},
    {"fw_conns+0<ktime_get_ns#1", "fw_conns+0<now"},
    {"fw_conns+0 s< -5", "fw_conns+0 s< -5"},
    {"(fw_conns+4>>8)&0xff=3", "(fw_conns+4>>8)&0xff=3"},
    {"nw_src(before adjust)=0x1020304", "nw_src(before adjust)=0x1020304"},
    {"ctx_field=3", "ctx_field=3"},
    {"something odd", "something odd"},
    {"a==b", "a==b"},
};

static void
test_conditions(void **state)
{
    (void)state;
    setup_prog();
    size_t bad = 0;
    for (size_t i = 0; i < sizeof cond_cases / sizeof cond_cases[0]; i++) {
        bad += !same(&prog, cond_cases[i].conds, cond_cases[i].words);
    }
    assert_int_equal(bad, 0);
}

/* Text that is not of the walk's forms is kept as it is. */
static void
test_malformed(void **state)
{
    static const char *const odd[] = {
        "(", ">>", "(x>>", "(x>>3)&0x", "(x>>3)&0xzz=1", "x>>=1", "=",
        "!=", "x=", "=5", "len", "len>=", "len 5..", "len>=5x",
        "pkt[5:2]=1", "l4[-1:3]=1", "x&0x=1", "nat_cfg+=1",
        "nat_cfg+99999999999999999999=1", "in_port=", "dl_type=0x",
        "(before adjust)=1",
    };
    (void)state;
    setup_prog();
    size_t bad = 0;
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        bad += !same(&prog, odd[i], odd[i]);
    }
    assert_int_equal(bad, 0);
}

/* Without a program, map offsets stay as written. */
static void
test_no_prog(void **state)
{
    (void)state;
    check(NULL, "in_port=nat_cfg+8|dl_type=0x800",
          "IPv4, ingress = nat_cfg+8");
}

/* ---- Calls ------------------------------------------------------------ */

static struct contract_call
call(int32_t helper, int32_t map, uint8_t path_outcome, uint32_t outcomes)
{
    struct contract_call c;
    memset(&c, 0, sizeof c);
    c.helper = helper;
    c.map = map;
    c.path_outcome = path_outcome;
    c.outcomes = outcomes;
    c.has_cost = outcomes != 0;
    return c;
}

#define OUT(o) (1u << CONTRACT_OUT_##o)

static void
check_calls(const struct bpf_prog *p, const char *conds,
            const struct contract_call *calls, uint32_t n, const char *want)
{
    char *got = words(p, conds, calls, n);
    if (strcmp(got, want)) {
        fail_msg("got '%s', want '%s'", got, want);
    }
    free(got);
}

static void
test_calls(void **state)
{
    (void)state;
    setup_prog();
    struct contract_call c[6];

    /* A flow table: lookup miss, insert refused. */
    c[0] = call(BPF_FUNC_map_lookup_elem, M_STATS, BPF_PATH_HIT, OUT(HIT));
    c[1] = call(BPF_FUNC_map_lookup_elem, M_CONNS, BPF_PATH_MISS, OUT(MISS));
    c[2] = call(BPF_FUNC_map_update_elem, M_CONNS, BPF_PATH_FAIL, OUT(FULL));
    check_calls(&prog, "dl_type=0x800|nw_proto=6|in_port=1", c, 3,
                "IPv4 TCP, from port 1, flow unknown, fw_conns full");
    c[1] = call(BPF_FUNC_map_lookup_elem, M_CONNS, BPF_PATH_HIT, OUT(HIT));
    c[2] = call(BPF_FUNC_map_update_elem, M_CONNS, BPF_PATH_OK,
                OUT(INSERTED) | OUT(REPLACED));
    check_calls(&prog, "", c, 3, "flow known, new flow or flow updated");
    c[2] = call(BPF_FUNC_map_delete_elem, M_CONNS, BPF_PATH_ANY,
                OUT(NOENT));
    check_calls(&prog, "", c + 2, 1, "fw_conns nothing to delete");
    c[2] = call(BPF_FUNC_map_delete_elem, M_CONNS, BPF_PATH_ANY,
                OUT(DELETED));
    check_calls(&prog, "", c + 2, 1, "flow deleted");

    /* Arrays: a hit is the normal case, a miss an index out of range, an
     * overwrite normal. */
    c[0] = call(BPF_FUNC_map_lookup_elem, M_STATS, BPF_PATH_MISS, OUT(MISS));
    c[1] = call(BPF_FUNC_map_update_elem, M_CFG, BPF_PATH_ANY,
                OUT(REPLACED));
    check_calls(&prog, "", c, 2, "fw_stats miss");
    c[1] = call(BPF_FUNC_map_update_elem, M_CFG, BPF_PATH_ANY,
                OUT(INVALID));
    check_calls(&prog, "", c + 1, 1, "nat_cfg update rejected");

    /* Plain hashes, LPM tries, program arrays. */
    c[0] = call(BPF_FUNC_map_lookup_elem, M_MACS, BPF_PATH_HIT, OUT(HIT));
    c[1] = call(BPF_FUNC_map_lookup_elem, M_ROUTES, BPF_PATH_MISS,
                OUT(MISS));
    c[2] = call(BPF_FUNC_tail_call, M_JUMPS, BPF_PATH_TAKEN, 0);
    check_calls(&prog, "", c, 3,
                "br_index hit, no route, tail call via jumps");
    c[0] = call(BPF_FUNC_map_update_elem, M_MACS, BPF_PATH_OK,
                OUT(INSERTED));
    c[1] = call(BPF_FUNC_map_lookup_elem, M_ROUTES, BPF_PATH_HIT, OUT(HIT));
    c[2] = call(BPF_FUNC_tail_call, M_JUMPS, BPF_PATH_NOT_TAKEN, 0);
    check_calls(&prog, "", c, 3,
                "br_index insert, route found, no tail call via jumps");

    /* Untested results say nothing; tested ones say what was tested. */
    c[0] = call(BPF_FUNC_ktime_get_ns, -1, BPF_PATH_ANY, OUT(OK));
    c[1] = call(BPF_FUNC_ktime_get_ns, -1, BPF_PATH_TESTED, OUT(OK));
    snprintf(c[1].cond, sizeof c[1].cond, ">fw_conns+0,<=fw_stats+0");
    c[2] = call(BPF_FUNC_redirect, -1, BPF_PATH_ANY, OUT(INVALID));
    c[3] = call(BPF_FUNC_redirect, -1, BPF_PATH_ANY, OUT(OK));
    check_calls(&prog, "", c, 4,
                "now > fw_conns+0 and now <= fw_stats+0, redirect invalid");
    c[0] = call(BPF_FUNC_map_update_elem, M_MACS, BPF_PATH_FAIL, 0);
    c[1] = call(BPF_FUNC_csum_diff, -1, BPF_PATH_TESTED, 0);
    snprintf(c[1].cond, sizeof c[1].cond, " s< 0");
    check_calls(&prog, "", c, 2,
                "br_index update failed, csum_diff() s< 0");
    /* Tests of two entries' fields at one offset read the same. */
    c[0] = call(BPF_FUNC_ktime_get_ns, -1, BPF_PATH_TESTED, OUT(OK));
    snprintf(c[0].cond, sizeof c[0].cond, ">br_index+0,>br_index+0");
    check_calls(&prog, "", c, 1, "now > br_index+0");

    /* The same phrase twice is said once. */
    c[0] = call(BPF_FUNC_map_lookup_elem, M_MACS, BPF_PATH_MISS, OUT(MISS));
    c[1] = c[0];
    check_calls(&prog, "", c, 2, "br_index miss");
}

/* Two flow tables: the words say which one. */
static void
test_two_flow_tables(void **state)
{
    (void)state;
    setup_prog();
    snprintf(maps[M_MACS].name, sizeof maps[M_MACS].name, "lb_sessions");
    struct contract_call c[2] = {
        call(BPF_FUNC_map_lookup_elem, M_CONNS, BPF_PATH_MISS, OUT(MISS)),
        call(BPF_FUNC_map_lookup_elem, M_MACS, BPF_PATH_HIT, OUT(HIT)),
    };
    check_calls(&prog, "", c, 2,
                "flow unknown (fw_conns), flow known (lb_sessions)");
    /* By type: an LRU hash holds flows whatever its name. */
    setup_prog();
    maps[M_MACS].type = BPF_MAP_TYPE_LRU_HASH;
    c[0] = call(BPF_FUNC_map_update_elem, M_MACS, BPF_PATH_FAIL, OUT(FULL));
    check_calls(&prog, "", c, 1, "br_index full");
    c[0] = call(BPF_FUNC_map_lookup_elem, M_MACS, BPF_PATH_MISS, OUT(MISS));
    check_calls(&prog, "", c, 1, "flow unknown (br_index)");
}

/* ---- BTF names ---------------------------------------------------------- */

static char *
built_object(const char *name)
{
    const char *root = getenv("SLUICE_BUILD_ROOT");
    return root ? xasprintf("%s/progs/%s", root, name) : NULL;
}

static void
test_btf_names(void **state)
{
    (void)state;
    char *path = built_object("nat.o");
    char *err = NULL;
    struct bpf_object *obj = NULL;
    if (!path) {
        skip();
    }
    assert_int_equal(bpf_object_open(path, NULL, &obj, &err), 0);
    struct bpf_prog *nat = bpf_object_prog(obj, 0);
    assert_non_null(nat);

    /* Before the BTF is read: offsets. */
    assert_int_equal(contract_describe_use_btf(NULL, &err), 0);
    check(nat, "in_port!=nat_cfg+0", "ingress != nat_cfg+0");
    assert_int_equal(contract_describe_use_btf(path, &err), 0);
    assert_null(err);
    /* A configuration field compared with the ingress port or an address
     * is said by its name; other fields are named in place. */
    check(nat, "in_port=nat_cfg+0", "from WAN port");
    check(nat, "in_port!=nat_cfg+0", "not from WAN port");
    check(nat,
          "dl_type=0x800|nw_proto=17|in_port=nat_cfg+0|nw_dst=nat_cfg+4",
          "IPv4 UDP, from WAN port, to external IP");
    check(nat, "nat_cfg+12=0", "nat_cfg.capacity=0");
    check(nat, "nat_cfg+13=0", "nat_cfg.capacity+1=0");
    check(nat, "nat_slots+12!=0", "nat_slots.proto!=0");
    check(nat, "nat_flows+0<nat_cfg+12", "nat_flows.slot<nat_cfg.capacity");
    /* A scalar value has no field names. */
    check(nat, "nat_stats+0=1", "nat_stats+0=1");
    /* nat_flows is a flow table by type. */
    int32_t flows = -1;
    for (uint32_t i = 0; i < nat->n_maps; i++) {
        if (!strcmp(nat->maps[i]->name, "nat_flows")) {
            flows = (int32_t)i;
        }
    }
    assert_true(flows >= 0);
    struct contract_call c[2] = {
        call(BPF_FUNC_map_lookup_elem, flows, BPF_PATH_MISS, OUT(MISS)),
        call(BPF_FUNC_map_update_elem, flows, BPF_PATH_FAIL, OUT(FULL)),
    };
    check_calls(nat, "dl_type=0x800|nw_proto=6|in_port!=nat_cfg+0", c, 2,
                "IPv4 TCP, not from WAN port, flow unknown, nat_flows full");

    /* Names are per object: forgetting them brings offsets back. */
    assert_int_equal(contract_describe_use_btf(NULL, &err), 0);
    check(nat, "in_port=nat_cfg+0", "ingress = nat_cfg+0");
    bpf_object_close(obj);
    free(path);
}

static void
test_btf_errors(void **state)
{
    (void)state;
    char *err = NULL;
    assert_int_equal(contract_describe_use_btf("/nonexistent/x.o", &err),
                     -ENOENT);
    assert_non_null(strstr(err, "/nonexistent/x.o"));
    free(err);

    char tmp[] = "/tmp/test_describe_XXXXXX";
    int fd = mkstemp(tmp);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "not an object", 13), 13);
    close(fd);
    assert_int_equal(contract_describe_use_btf(tmp, &err), -EINVAL);
    assert_non_null(strstr(err, "not an ELF object"));
    free(err);
    unlink(tmp);
    /* A failed read leaves no names behind. */
    setup_prog();
    check(&prog, "in_port=nat_cfg+0", "ingress = nat_cfg+0");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conditions),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_no_prog),
        cmocka_unit_test(test_calls),
        cmocka_unit_test(test_two_flow_tables),
        cmocka_unit_test(test_btf_names),
        cmocka_unit_test(test_btf_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
