/* State analysis (src/state) against a hand-labelled table.
 *
 * Every map of every program in progs/ and of the small programs in
 * tests/state/ is labelled by hand from the program's source, following
 * the definitions: read by the packet path, updated (else
 * configuration), flowspace dimensions, class, output-impacting, and
 * whether a sound analysis can be exact.  For exact rows the dimensions
 * must match exactly; for over-approximated rows (the analysis says why)
 * they must include the labelled ones, and the class may only be coarser
 * (all-flows).  The objects are built by progs/meson.build and
 * src/state/meson.build under SLUICE_BUILD_ROOT. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpf/bpf_api.h"
#include "bpf/bpf_int.h"
#include "core/util.h"
#include "state/state.h"

#define CFG STATE_CLASS_CONFIG
#define PER STATE_CLASS_PER_FLOW
#define MULTI STATE_CLASS_MULTI_FLOW
#define ALL STATE_CLASS_ALL_FLOWS

struct label {
    const char *obj;            /* Relative to SLUICE_BUILD_ROOT. */
    const char *map;
    bool read, updated;
    enum state_class klass;
    const char *dims;           /* Comma-separated field names. */
    bool output;
    bool exact;
    const char *missed;         /* Known gap: labelled dimensions the
                                 * analysis misses today (see below). */
};

#define P(name) "progs/" name ".o"
#define S(name) "src/state/scase_" name ".o"

static const struct label labels[] = {
    /* progs/: the network functions. */
    {P("firewall"), ".rodata", true, false, CFG, "", true, true},
    {P("firewall"), "fw_stats", true, true, ALL, "", false, true},
    {P("firewall"), "fw_conns", true, true, PER,
     "nw_proto,nw_src,nw_dst,tp_src,tp_dst", true, true},
    {P("ratelimit"), ".rodata", true, false, CFG, "", true, true},
    {P("ratelimit"), "rl_buckets", true, true, MULTI, "nw_src", true, true},
    {P("ratelimit"), "rl_stats", true, true, ALL, "", false, true},
    /* p0f's signature key holds TCP options read at variable offsets. */
    {P("p0f"), "p0f_stats", true, true, ALL, "", false, true},
    {P("p0f"), "p0f_sigs", true, false, CFG, "nw_ttl,tp_other", true, false},
    {P("p0f"), "p0f_last_label", true, true, ALL, "", false, true},
    /* The NAT: flows by 5-tuple and LAN port; slots by external port,
     * written with the flow's slot; keys copied between the two. */
    {P("nat"), "nat_cfg", true, false, CFG, "", true, true},
    {P("nat"), "nat_stats", true, true, ALL, "", false, true},
    {P("nat"), "nat_slots", true, true, PER,
     "in_port,nw_src,nw_dst,tp_src,tp_dst", true, false},
    {P("nat"), "nat_flows", true, true, PER,
     "in_port,nw_proto,nw_src,nw_dst,tp_src,tp_dst", true, false},
    {P("nat"), "nf_ports", true, false, CFG, "in_port", true, false},
    /* The load balancer: lb_table is indexed by a hash of the 5-tuple,
     * protocol included.  KNOWN GAP: the protocol reaches the hash as a
     * constant the program stores on its TCP or UDP path (6 or 17) and
     * then mixes arithmetically; the analysis sees path-chosen constants
     * only when they land in key bytes unchanged, so it misses nw_proto
     * here.  The row checks exactly that miss, so fixing it shows up. */
    {P("lb"), "lb_cfg", true, false, CFG, "", true, true},
    {P("lb"), "lb_stats", true, true, ALL, "", false, true},
    {P("lb"), "lb_conns", true, true, PER,
     "nw_proto,nw_src,nw_dst,tp_src,tp_dst", true, true},
    {P("lb"), "lb_backends", true, false, CFG,
     "nw_src,nw_dst,tp_src,tp_dst", true, false},
    {P("lb"), "lb_table", true, false, CFG,
     "nw_proto,nw_src,nw_dst,tp_src,tp_dst", true, true, "nw_proto"},
    {P("lb"), "nf_ports", true, false, CFG, "in_port", true, false},
    {P("router"), "rt_stats", true, true, ALL, "", false, true},
    {P("router"), ".rodata", true, false, CFG, "", true, true},
    {P("router"), "rt_routes", true, false, CFG, "nw_dst", true, true},
    {P("router"), "nf_ports", true, false, CFG, "", true, false},
    /* Expiring tables (nf_table.h): the index by the table's key, slots
     * by the same key through the slot number, nodes shared (slot 0). */
    {P("bridge"), "br_stats", true, true, ALL, "", false, true},
    {P("bridge"), "br_index", true, true, MULTI, "dl_src,dl_dst", true,
     false},
    {P("bridge"), "br_nodes", true, true, ALL, "", true, false},
    {P("bridge"), "br_slots", true, true, MULTI, "dl_src,dl_dst", true,
     false},
    {P("bridge"), ".rodata", true, false, CFG, "", true, true},
    {P("bridge"), "br_static", true, false, CFG, "in_port,dl_dst", true,
     true},
    {P("vfw"), "fw_stats", true, true, ALL, "", false, true},
    {P("vfw"), ".rodata", true, false, CFG, "", true, true},
    {P("vfw"), "fw_index", true, true, PER,
     "nw_proto,nw_src,nw_dst,tp_src,tp_dst", true, false},
    {P("vfw"), "fw_slots", true, true, PER,
     "nw_proto,nw_src,nw_dst,tp_src,tp_dst", true, false},
    {P("vfw"), "fw_nodes", true, true, ALL, "", true, false},
    {P("policer"), "pol_stats", true, true, ALL, "", false, true},
    {P("policer"), ".rodata", true, false, CFG, "", true, true},
    {P("policer"), "pol_index", true, true, MULTI, "nw_dst", true, false},
    {P("policer"), "pol_slots", true, true, MULTI, "nw_dst", true, false},
    {P("policer"), "pol_nodes", true, true, ALL, "", true, false},

    /* tests/state/: one question each. */
    {S("key_5tuple"), "m", true, true, PER,
     "nw_src,nw_dst,tp_src,tp_dst", false, true},
    {S("key_sym"), "m", true, true, PER, "nw_src,nw_dst,tp_src,tp_dst",
     false, true},
    {S("key_src"), "m", true, true, MULTI, "nw_src", false, true},
    {S("key_const"), "m", true, true, ALL, "", false, true},
    {S("key_arith"), "m", true, true, MULTI, "nw_src,tp_dst", false, true},
    {S("key_memcpy"), "m", true, true, MULTI, "nw_src,nw_dst", false, true},
    {S("key_alias"), "m", true, true, MULTI, "nw_dst,tp_src", false, true},
    {S("cfg_only"), "cfg", true, false, CFG, "", true, true},
    {S("tail"), "m", true, true, ALL, "nw_src", true, false},
    {S("tail"), "jt", true, false, CFG, "", true, true},
    {S("val_redirect"), "ports", true, false, CFG, "dl_dst", true, true},
    {S("val_ret"), "verdicts", true, false, CFG, "nw_proto", true, true},
    {S("val_pktwrite"), "ttls", true, false, CFG, "nw_dst", true, true},
    {S("stats_only"), "stats", true, true, ALL, "", false, true},
    {S("key_port"), "m", true, true, MULTI, "tp_dst", false, true},
    {S("key_inport"), "m", true, true, MULTI, "in_port", false, true},
    {S("key_mac"), "macs", true, true, MULTI, "dl_src,dl_dst", true, true},
    {S("key_helper"), "q", true, true, ALL, "", false, true},
    {S("key_helper"), "m", true, true, ALL, "", false, true},
    {S("key_v6"), "m", true, true, PER,
     "nw_proto,ipv6_src,ipv6_dst,tp_src,tp_dst", false, true},
    {S("del_only"), "m", false, true, MULTI, "nw_src", false, true},
    {S("key_from_map"), "a", true, false, CFG, "nw_src", true, true},
    {S("key_from_map"), "b", true, true, MULTI, "nw_src", false, false},
    {S("key_vlan"), "m", true, true, MULTI, "dl_vlan", false, true},
    {S("val_branch"), "limits", true, false, CFG, "", true, true},
    {S("val_branch"), "seen", true, true, ALL, "", true, true},
};

static uint64_t
parse_dims(const char *s)
{
    uint64_t dims = 0;
    char *copy = xstrdup(s);
    char *save = NULL;

    for (char *tok = strtok_r(copy, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        int f;
        for (f = 0; f < STATE_N_FIELDS; f++) {
            if (!strcmp(tok, state_field_name(f))) {
                break;
            }
        }
        assert_true(f < STATE_N_FIELDS);
        dims |= UINT64_C(1) << f;
    }
    free(copy);
    return dims;
}

/* Analyses the first program of 'obj' (every object here has one). */
static struct state_result
analyse(const char *obj, struct bpf_object **objp, struct bpf_prog **progp)
{
    const char *root = getenv("SLUICE_BUILD_ROOT");
    char *path = xasprintf("%s/%s", root ? root : ".", obj);
    char *err = NULL;
    struct state_result res;

    if (bpf_object_open(path, NULL, objp, &err)) {
        fail_msg("%s: %s", path, err);
    }
    free(path);
    *progp = bpf_object_prog(*objp, 0);
    struct bpf_verify_result vr;
    assert_int_equal(bpf_prog_verify(*progp, &vr), 0);
    assert_true(vr.accepted);
    bpf_verify_result_destroy(&vr);
    if (state_analyze(*progp, &res, &err)) {
        fail_msg("%s: %s", obj, err);
    }
    return res;
}

static void
test_labels(void **state)
{
    (void) state;
    int mismatches = 0;
    int n_gaps = 0;

    for (size_t i = 0; i < ARRAY_SIZE(labels); i++) {
        const struct label *l = &labels[i];
        struct bpf_object *obj;
        struct bpf_prog *prog;
        struct state_result res = analyse(l->obj, &obj, &prog);
        const struct state_map_result *m = NULL;

        for (unsigned int j = 0; j < res.n_maps; j++) {
            if (!strcmp(res.maps[j].name, l->map)) {
                m = &res.maps[j];
            }
        }
        if (!m) {
            fail_msg("%s: no map %s", l->obj, l->map);
        }
        uint64_t want = parse_dims(l->dims);
        if (l->missed) {
            want &= ~parse_dims(l->missed);
            n_gaps++;
        }
        bool dims_ok = l->exact ? m->dims == want
                                : (m->dims & want) == want;
        bool class_ok = m->klass == l->klass
                        || (!l->exact && m->klass == ALL);
        if (m->read != l->read || m->updated != l->updated || !class_ok
            || !dims_ok || m->output != l->output || m->approx == l->exact) {
            char dims[512];
            state_dims_format(m->dims, dims, sizeof dims);
            print_message("MISMATCH %s %s: read %d updated %d class %s "
                          "dims [%s] output %d exact %d (%s)\n", l->obj,
                          l->map, m->read, m->updated,
                          state_class_name(m->klass), dims, m->output,
                          !m->approx, m->reason);
            mismatches++;
        }
        state_result_destroy(&res);
        bpf_object_close(obj);
    }
    print_message("%zu labelled maps, %d with a known gap\n",
                  ARRAY_SIZE(labels), n_gaps);
    assert_int_equal(mismatches, 0);
}

/* Every map of every labelled object is labelled (no map left out). */
static void
test_complete(void **state)
{
    (void) state;

    for (size_t i = 0; i < ARRAY_SIZE(labels); i++) {
        if (i && !strcmp(labels[i].obj, labels[i - 1].obj)) {
            continue;
        }
        struct bpf_object *obj;
        struct bpf_prog *prog;
        struct state_result res = analyse(labels[i].obj, &obj, &prog);
        for (unsigned int j = 0; j < res.n_maps; j++) {
            bool found = false;
            for (size_t k = 0; k < ARRAY_SIZE(labels); k++) {
                found |= !strcmp(labels[k].obj, labels[i].obj)
                         && !strcmp(labels[k].map, res.maps[j].name);
            }
            if (!found) {
                fail_msg("%s: map %s has no label", labels[i].obj,
                         res.maps[j].name);
            }
        }
        state_result_destroy(&res);
        bpf_object_close(obj);
    }
}

/* Programs state_analyze() refuses, with a message. */
static void
test_errors(void **state)
{
    (void) state;
    static const uint8_t exit_insn[] = { 0x95, 0, 0, 0, 0, 0, 0, 0 };
    struct bpf_object *obj;
    struct state_result res;
    char *err = NULL;

    assert_int_equal(bpf_prog_from_insns(exit_insn, 1, true, &obj, &err), 0);
    assert_int_not_equal(state_analyze(bpf_object_prog(obj, 0), &res, &err),
                         0);
    assert_non_null(strstr(err, "not an XDP program"));
    free(err);
    bpf_object_close(obj);

    /* An XDP program the verifier has not accepted (yet). */
    const char *root = getenv("SLUICE_BUILD_ROOT");
    char *path = xasprintf("%s/%s", root ? root : ".", S("key_src"));
    assert_int_equal(bpf_object_open(path, NULL, &obj, &err), 0);
    free(path);
    assert_int_equal(state_analyze(bpf_object_prog(obj, 0), &res, &err),
                     -EINVAL);
    assert_non_null(strstr(err, "not verified"));
    free(err);
    bpf_object_close(obj);
}

static void
test_names(void **state)
{
    (void) state;
    char buf[64];

    assert_string_equal(state_class_name(PER), "per-flow");
    assert_string_equal(state_class_name(CFG), "configuration");
    state_dims_format(parse_dims("tp_dst,nw_src"), buf, sizeof buf);
    assert_string_equal(buf, "nw_src,tp_dst");
    state_dims_format(parse_dims("nw_src,nw_dst"), buf, 8);
    assert_string_equal(buf, "nw_src");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_labels),
        cmocka_unit_test(test_complete),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
