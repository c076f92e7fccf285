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

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "bpf/bpf_api.h"
#include "bpf/bpf_int.h"
#include "core/util.h"
#include "flow/flow_prog.h"
#include "state/state.h"
#include "state/state_io.h"

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
     * protocol included.  The protocol reaches the hash as a constant the
     * program stores on its TCP or UDP path (6 or 17), an implicit flow
     * found by comparing the TCP and UDP shapes. */
    {P("lb"), "lb_cfg", true, false, CFG, "", true, true},
    {P("lb"), "lb_stats", true, true, ALL, "", false, true},
    {P("lb"), "lb_conns", true, true, PER,
     "nw_proto,nw_src,nw_dst,tp_src,tp_dst", true, true},
    {P("lb"), "lb_backends", true, false, CFG,
     "nw_src,nw_dst,tp_src,tp_dst", true, false},
    {P("lb"), "lb_table", true, false, CFG,
     "nw_proto,nw_src,nw_dst,tp_src,tp_dst", true, true},
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
    /* Implicit flows: values chosen under branches on packet fields. */
    {S("impl_flags"), "m", false, true, MULTI, "nw_src,tcp_flags", false,
     true},
    {S("impl_only"), "m", false, true, ALL, "", false, true},
    {S("impl_proto"), "m", false, true, MULTI, "nw_proto,nw_src", false,
     true},
    {S("key_dir"), "m", false, true, PER, "nw_src,nw_dst,tp_src,tp_dst",
     false, true},
    {S("stats_atomic"), "stats", true, true, ALL, "", false, true},
    {S("stats_plain"), "stats", true, true, ALL, "", false, true},
    /* Owned slots (ft_slot.h): flows by the 4-tuple, and slots by the
     * slot of a flow's entry, i.e. per flow; the inbound direction finds
     * both through a key kept in 'slots' (a union over the map). */
    {S("ft_slot_owned"), "flows", true, true, PER,
     "nw_src,nw_dst,tp_src,tp_dst", true, false},
    {S("ft_slot_owned"), "slots", true, true, PER,
     "nw_src,nw_dst,tp_src,tp_dst", true, false},
    {S("ft_slot_foreign"), "flows", true, true, PER,
     "nw_src,nw_dst,tp_src,tp_dst", true, false},
    {S("ft_slot_foreign"), "slots", true, true, PER,
     "nw_src,nw_dst,tp_src,tp_dst", true, false},
    {S("ft_slot_arith"), "flows", true, true, PER,
     "nw_src,nw_dst,tp_src,tp_dst", true, false},
    {S("ft_slot_arith"), "slots", true, true, PER,
     "nw_src,nw_dst,tp_src,tp_dst", true, false},
    {S("ft_slot_store"), "flows", true, true, PER,
     "nw_src,nw_dst,tp_src,tp_dst", true, false},
    {S("ft_slot_store"), "slots", true, true, PER,
     "nw_src,nw_dst,tp_src,tp_dst", true, false},
    {S("ft_slot_hash"), "flows", true, true, PER,
     "nw_src,nw_dst,tp_src,tp_dst", true, false},
    {S("ft_slot_hash"), "slots", true, true, PER,
     "nw_src,nw_dst,tp_src,tp_dst", true, false},
    {S("ft_slot_old"), "flows", true, true, PER,
     "nw_src,nw_dst,tp_src,tp_dst", true, false},
    {S("ft_slot_old"), "slots", true, true, PER,
     "nw_src,nw_dst,tp_src,tp_dst", true, false},
    {S("ft_slot_old"), "old_slots", false, true, PER,
     "nw_src,nw_dst,tp_src,tp_dst", false, false},
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

    struct bpf_object *obj = NULL;
    struct bpf_prog *prog;
    struct state_result res;

    for (size_t i = 0; i < ARRAY_SIZE(labels); i++) {
        const struct label *l = &labels[i];
        const struct state_map_result *m = NULL;

        /* Rows of one object are adjacent: analyse it once. */
        if (!i || strcmp(l->obj, labels[i - 1].obj)) {
            if (obj) {
                state_result_destroy(&res);
                bpf_object_close(obj);
            }
            res = analyse(l->obj, &obj, &prog);
        }

        for (unsigned int j = 0; j < res.n_maps; j++) {
            if (!strcmp(res.maps[j].name, l->map)) {
                m = &res.maps[j];
            }
        }
        if (!m) {
            fail_msg("%s: no map %s", l->obj, l->map);
        }
        uint64_t want = parse_dims(l->dims);
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
    }
    state_result_destroy(&res);
    bpf_object_close(obj);
    print_message("%zu labelled maps\n", ARRAY_SIZE(labels));
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

static const struct state_map_result *
find_map(const struct state_result *res, const char *name)
{
    for (unsigned int j = 0; j < res->n_maps; j++) {
        if (!strcmp(res->maps[j].name, name)) {
            return &res->maps[j];
        }
    }
    fail_msg("no map %s", name);
    return NULL;
}

/* Key layouts: which key byte holds which packet byte. */
static void
test_layout(void **state)
{
    (void) state;
    struct bpf_object *obj;
    struct bpf_prog *prog;

    /* The rate limiter's key is the source address, verbatim. */
    struct state_result res = analyse(P("ratelimit"), &obj, &prog);
    const struct state_map_result *m = find_map(&res, "rl_buckets");
    assert_int_equal(m->key_size, 4);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(m->key[i].kind, STATE_KEY_FIELD);
        assert_int_equal(m->key[i].field, STATE_F_NW_SRC);
        assert_int_equal(m->key[i].byte, i);
    }
    state_result_destroy(&res);
    bpf_object_close(obj);

    /* The firewall's: inside address first, so each address byte is
     * either member of the pair, the two addresses of one group with
     * different members; the same for the ports; zero padding. */
    res = analyse(P("firewall"), &obj, &prog);
    m = find_map(&res, "fw_conns");
    assert_int_equal(m->key_size, 16);
    for (int i = 0; i < 4; i++) {
        const struct state_key_byte *in = &m->key[i], *out = &m->key[4 + i];
        assert_int_equal(in->kind, STATE_KEY_PAIR);
        assert_int_equal(out->kind, STATE_KEY_PAIR);
        assert_int_equal(in->field, STATE_F_NW_SRC);
        assert_int_equal(in->byte, i);
        assert_int_equal(out->byte, i);
        assert_int_equal(in->group, out->group);
        assert_int_not_equal(in->member, out->member);
    }
    for (int i = 0; i < 2; i++) {
        assert_int_equal(m->key[8 + i].kind, STATE_KEY_PAIR);
        assert_int_equal(m->key[8 + i].field, STATE_F_TP_SRC);
        assert_int_not_equal(m->key[8 + i].member, m->key[10 + i].member);
    }
    /* The protocol byte is 6 on TCP paths, 17 on UDP ones. */
    assert_int_equal(m->key[12].kind, STATE_KEY_UNKNOWN);
    for (int i = 13; i < 16; i++) {
        assert_int_equal(m->key[i].kind, STATE_KEY_CONST);
        assert_int_equal(m->key[i].value, 0);
    }
    state_result_destroy(&res);
    bpf_object_close(obj);

    /* A key computed from the fields names none of its bytes. */
    res = analyse(S("key_arith"), &obj, &prog);
    m = find_map(&res, "m");
    for (uint32_t i = 0; i < m->key_size; i++) {
        assert_int_not_equal(m->key[i].kind, STATE_KEY_FIELD);
    }
    state_result_destroy(&res);
    bpf_object_close(obj);
}

/* state_steering() over the objects named (NULL-terminated). */
static struct state_steering
steer(const char *first, ...)
{
    struct bpf_object *objs[8];
    const struct bpf_prog *progs[8];
    struct state_steering st;
    size_t n = 0;
    va_list args;
    char *err = NULL;

    va_start(args, first);
    for (const char *o = first; o; o = va_arg(args, const char *)) {
        struct bpf_prog *prog;
        struct state_result res = analyse(o, &objs[n], &prog);
        state_result_destroy(&res);
        progs[n++] = prog;
    }
    va_end(args);
    if (state_steering(progs, n, &st, &err)) {
        fail_msg("steering: %s", err);
    }
    for (size_t i = 0; i < n; i++) {
        bpf_object_close(objs[i]);
    }
    return st;
}

static void
test_steering(void **state)
{
    (void) state;
    struct state_steering st;

    /* The firewall: both directions of a connection share its entry. */
    st = steer(P("firewall"), NULL);
    assert_false(st.single);
    assert_true(st.symmetric);
    assert_int_equal(st.fields, parse_dims("nw_src,nw_dst,tp_src,tp_dst"));

    /* The rate limiter: one bucket per source address. */
    st = steer(P("ratelimit"), NULL);
    assert_false(st.single);
    assert_false(st.symmetric);
    assert_int_equal(st.fields, parse_dims("nw_src"));

    /* Both: a bucket joins every flow of a source, a connection both
     * directions, so A->B, B->A and A->C chain every host that talks:
     * no field set keeps both kinds of entry on one thread. */
    st = steer(P("firewall"), P("ratelimit"), NULL);
    assert_true(st.single);
    assert_int_equal(st.fields, 0);
    assert_non_null(strstr(st.reason, "share no field"));

    /* The NAT: flows are created (written) only by the LAN direction,
     * under its 4-tuple; nat_slots is written under the slot the flow
     * table gave that flow; the WAN direction only reads and refreshes
     * (commutes), so it may run on any thread.  Counters are per-CPU. */
    st = steer(P("nat"), NULL);
    assert_false(st.single);
    assert_false(st.symmetric);
    assert_int_equal(st.fields, parse_dims("nw_src,nw_dst,tp_src,tp_dst"));
    assert_non_null(strstr(st.reason, "nat_slots"));
    /* With the firewall: both hold the 4-tuple, the firewall unordered. */
    st = steer(P("nat"), P("firewall"), NULL);
    assert_false(st.single);
    assert_true(st.symmetric);
    assert_int_equal(st.fields, parse_dims("nw_src,nw_dst,tp_src,tp_dst"));

    /* The load balancer: lb_conns is written under the 5-tuple (a flow
     * table keyed by the client's connection); its counters are per-CPU
     * and its tables configuration. */
    st = steer(P("lb"), NULL);
    assert_false(st.single);
    assert_false(st.symmetric);
    assert_int_equal(st.fields, parse_dims("nw_src,nw_dst,tp_src,tp_dst"));

    /* Owned slots in miniature, and what breaks the ownership: a slot of
     * an entry found through a key from a map, a slot plus one, a program
     * store into a value's slot, a hash map (no slot owned by one
     * entry), a slot not read right after an update of its key. */
    st = steer(S("ft_slot_owned"), NULL);
    assert_false(st.single);
    assert_int_equal(st.fields, parse_dims("nw_src,nw_dst,tp_src,tp_dst"));
    st = steer(S("ft_slot_foreign"), NULL);
    assert_true(st.single);
    assert_non_null(strstr(st.reason, "slots"));
    st = steer(S("ft_slot_arith"), NULL);
    assert_true(st.single);
    st = steer(S("ft_slot_store"), NULL);
    assert_true(st.single);
    st = steer(S("ft_slot_hash"), NULL);
    assert_true(st.single);
    /* A slot read after a lookup alone: the entry may expire meanwhile. */
    st = steer(S("ft_slot_old"), NULL);
    assert_true(st.single);

    /* Counters: per-CPU, or only added to atomically and never read,
     * they constrain nothing; added to with a load and a store they do. */
    st = steer(S("stats_only"), NULL);
    assert_false(st.single);
    st = steer(S("stats_atomic"), NULL);
    assert_false(st.single);
    assert_int_equal(st.fields,
                     parse_dims("nw_proto,nw_src,nw_dst,tp_src,tp_dst"));
    st = steer(S("stats_plain"), NULL);
    assert_true(st.single);
    assert_non_null(strstr(st.reason, "stats"));

    /* A key chosen by the path alone is shared by every flow. */
    st = steer(S("impl_only"), NULL);
    assert_true(st.single);

    /* The per-flow key of key_dir is symmetric but built with four
     * separate branches on one condition, which the analysis does not
     * correlate: only the sound fallback. */
    st = steer(S("key_dir"), NULL);
    assert_true(st.single);

    /* No program: the symmetric 5-tuple. */
    assert_int_equal(state_steering(NULL, 0, &st, NULL), 0);
    assert_false(st.single);
    assert_true(st.symmetric);
}

/* Who writes: the NAT's writes and owned slots, as steering sees them. */
static void
test_writers(void **state)
{
    (void) state;
    struct bpf_object *obj;
    struct bpf_prog *prog;
    struct state_result res = analyse(P("nat"), &obj, &prog);

    /* nat_flows: written by the LAN insert only (the WAN lookup, keyed by
     * a key from nat_slots, only refreshes), under the LAN 4-tuple. */
    const struct state_map_result *m = find_map(&res, "nat_flows");
    assert_true(m->writers_known);
    assert_non_null(m->write_key);
    assert_null(m->owner_key);
    assert_int_equal(m->write_key[0].kind, STATE_KEY_FIELD);
    assert_int_equal(m->write_key[0].field, STATE_F_NW_SRC);
    /* Every access's layout: the WAN lookup's key is a map value. */
    assert_int_equal(m->key[0].kind, STATE_KEY_UNKNOWN);

    /* nat_slots: written only under a slot nat_flows owns. */
    m = find_map(&res, "nat_slots");
    assert_true(m->writers_known);
    assert_null(m->write_key);
    assert_non_null(m->owner_key);
    assert_string_equal(m->owner, "nat_flows");
    assert_int_equal(m->owner_key_size, sizeof(struct {
        uint32_t a, b; uint16_t c, d; uint8_t e, f[3]; uint32_t g; }));
    for (int i = 0; i < 4; i++) {
        assert_int_equal(m->owner_key[i].kind, STATE_KEY_FIELD);
        assert_int_equal(m->owner_key[i].field, STATE_F_NW_SRC);
        assert_int_equal(m->owner_key[i].byte, i);
    }
    /* Per-CPU counters are no shared writes. */
    m = find_map(&res, "nat_stats");
    assert_true(m->updated);
    state_result_destroy(&res);
    bpf_object_close(obj);

    /* A tail call hides the callee's writes: nothing is attributed. */
    res = analyse(S("tail"), &obj, &prog);
    for (unsigned int j = 0; j < res.n_maps; j++) {
        assert_false(res.maps[j].writers_known);
    }
    state_result_destroy(&res);
    bpf_object_close(obj);
}

/* The bytes report over every function in progs/. */
static void
test_bytes(void **state)
{
    (void) state;
    static const struct {
        const char *obj;
        bool owns;                  /* Has per- or multi-flow state. */
    } progs[] = {
        {P("firewall"), true}, {P("ratelimit"), true}, {P("p0f"), false},
        {P("nat"), true}, {P("lb"), true}, {P("router"), false},
        {P("bridge"), true}, {P("vfw"), true}, {P("policer"), true},
    };

    for (size_t i = 0; i < ARRAY_SIZE(progs); i++) {
        struct bpf_object *obj;
        struct bpf_prog *prog;
        struct state_result res = analyse(progs[i].obj, &obj, &prog);
        struct state_bytes b;
        uint64_t naive = 0;

        state_bytes(prog, &res, &b);
        for (unsigned int m = 0; m < res.n_maps; m++) {
            const struct bpf_map *map = prog->maps[m];
            uint64_t vs = map->value_size;
            if (map->type == BPF_MAP_TYPE_PERCPU_ARRAY) {
                vs = (vs + 7) / 8 * 8 * map->n_cpus;
            }
            naive += (uint64_t) map->max_entries * (map->key_size + vs);
        }
        assert_int_equal(b.naive, naive);
        assert_true(b.flow + b.shared <= b.naive);
        assert_int_equal(b.flow > 0, progs[i].owns);
        if (!strcmp(progs[i].obj, P("firewall"))) {
            /* fw_conns: a 16-byte key and a 16-byte value; the shared
             * part is the per-CPU counters, every CPU's copy. */
            const struct bpf_map *st = prog->maps[1];
            assert_string_equal(st->name, "fw_stats");
            assert_int_equal(b.flow, 32);
            assert_int_equal(b.shared,
                             st->max_entries * (4 + 8 * st->n_cpus));
        }
        state_result_destroy(&res);
        bpf_object_close(obj);
    }
}

/* ---- Export and import (state_cmd). ---- */

static char *
obj_path(const char *obj)
{
    const char *root = getenv("SLUICE_BUILD_ROOT");
    return xasprintf("%s/%s", root ? root : ".", obj);
}

static struct flow_progs *
progs_with(const char *name, const char *obj)
{
    struct flow_progs *progs = flow_progs_create();
    char *path = obj_path(obj);
    char *err = flow_progs_load(progs, name, path, NULL, NULL, 0);
    if (err) {
        fail_msg("%s: %s", path, err);
    }
    free(path);
    return progs;
}

static struct bpf_map *
prog_map(struct flow_progs *progs, const char *prog, const char *map)
{
    struct bpf_map *m = bpf_object_find_map(flow_progs_object(progs, prog),
                                            map);
    assert_non_null(m);
    return m;
}

/* Runs state_cmd with words 'a' (NULL-terminated); returns its error. */
static char *
cmd(struct flow_progs *progs, struct ds *out, const char *a0, ...)
{
    char *argv[8];
    int argc = 0;
    va_list args;

    va_start(args, a0);
    for (const char *a = a0; a && argc < 8; a = va_arg(args, const char *)) {
        argv[argc++] = (char *) a;
    }
    va_end(args);
    ds_clear(out);
    return state_cmd(progs, argc, argv, false, out);
}

static char *
write_tmp(const char *text)
{
    char *path = xstrdup("/tmp/test_state_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

struct fw_key_ {
    uint32_t in_addr, out_addr;
    uint16_t in_port, out_port;
    uint8_t proto, pad[3];
};

static void
fw_add(struct bpf_map *m, uint32_t in, uint32_t out, uint16_t ip,
       uint16_t op)
{
    struct fw_key_ k = { htonl(in), htonl(out), htons(ip), htons(op), 6,
                         { 0 } };
    uint64_t v[2] = { 123456789, 3 };
    assert_int_equal(bpf_map_update(m, &k, v, BPF_ANY), 0);
}

static size_t
count_lines(const char *text, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle)) {
        n++;
    }
    return n;
}

static void
test_export_import(void **state)
{
    (void) state;
    struct ds out = DS_EMPTY_INITIALIZER;
    struct flow_progs *a = progs_with("fw", P("firewall"));
    struct bpf_map *conns = prog_map(a, "fw", "fw_conns");
    char *err;

    fw_add(conns, 0x0a000001, 0xc0000209, 1000, 80);
    fw_add(conns, 0x0a000002, 0xc000020a, 2000, 443);
    /* A per-CPU counter: every CPU's copy travels. */
    struct bpf_map *stats = prog_map(a, "fw", "fw_stats");
    size_t svs = bpf_map_sys_value_size(stats);
    uint8_t *sv = xzalloc(svs);
    uint32_t idx = 3;
    memset(sv, 0, svs);
    sv[0] = 7;
    assert_int_equal(bpf_map_update(stats, &idx, sv, BPF_ANY), 0);

    assert_null(err = cmd(a, &out, "export", "fw", NULL));
    char *text = xstrdup(ds_cstr(&out));
    assert_non_null(strstr(text, "\"format\":\"sluice-state\""));
    assert_non_null(strstr(text, "\"version\":1"));
    assert_non_null(strstr(text, "\"object_hash\":\""));
    /* Configuration is not exported; updated maps are. */
    assert_null(strstr(text, "\"name\":\".rodata\""));
    assert_int_equal(count_lines(text, "\"map\":\"fw_conns\""), 2);
    assert_int_equal(count_lines(text, "\"map\":\"fw_stats\""), 1);
    assert_non_null(strstr(text, "{\"end\":true,\"entries\":3}"));
    char *file = write_tmp(text);

    /* --match reads keys through the layout: the firewall keys by the
     * inside address first, so the outside host matches as either
     * member; counters (constant keys) always travel. */
    assert_null(err = cmd(a, &out, "export", "fw", "--match",
                          "ip,nw_src=192.0.2.9", NULL));
    assert_int_equal(count_lines(ds_cstr(&out), "\"map\":\"fw_conns\""), 1);
    assert_int_equal(count_lines(ds_cstr(&out), "\"map\":\"fw_stats\""), 1);
    assert_null(err = cmd(a, &out, "export", "fw", "--match",
                          "tcp,nw_dst=10.0.0.2,tp_src=443", NULL));
    assert_int_equal(count_lines(ds_cstr(&out), "\"map\":\"fw_conns\""), 1);
    assert_null(err = cmd(a, &out, "export", "fw", "--match",
                          "ip,nw_src=198.51.100.1", NULL));
    assert_int_equal(count_lines(ds_cstr(&out), "\"map\":\"fw_conns\""), 0);
    err = cmd(a, &out, "export", "fw", "--match", "nw_srcx=1", NULL);
    assert_non_null(err);
    assert_non_null(strstr(err, "--match"));
    free(err);

    /* Into a fresh registry: the same entries. */
    struct flow_progs *b = progs_with("fw", P("firewall"));
    assert_null(err = cmd(b, &out, "import", "fw", file, NULL));
    assert_non_null(strstr(ds_cstr(&out), "imported 3 entries"));
    struct fw_key_ k = { htonl(0x0a000002), htonl(0xc000020a), htons(2000),
                         htons(443), 6, { 0 } };
    uint64_t v[2];
    assert_int_equal(bpf_map_lookup(prog_map(b, "fw", "fw_conns"), &k, v),
                     0);
    assert_int_equal(v[0], 123456789);
    memset(sv, 0, svs);
    assert_int_equal(bpf_map_lookup(prog_map(b, "fw", "fw_stats"), &idx, sv),
                     0);
    assert_int_equal(sv[0], 7);

    /* Refusals, each naming what differs. */
    struct flow_progs *c = progs_with("fw", P("ratelimit"));
    err = cmd(c, &out, "import", "fw", file, NULL);
    assert_non_null(err);
    assert_non_null(strstr(err, "object_hash"));
    free(err);
    err = cmd(b, &out, "import", "other", file, NULL);
    assert_non_null(strstr(err, "no program named 'other'"));
    free(err);
    struct flow_progs *d = progs_with("fw2", P("firewall"));
    err = cmd(d, &out, "import", "fw2", file, NULL);
    assert_non_null(strstr(err, "program is 'fw'"));
    free(err);

    char *bad = xstrdup(text);
    char *ver = strstr(bad, "\"version\":1");
    ver[10] = '9';
    char *file2 = write_tmp(bad);
    err = cmd(b, &out, "import", "fw", file2, NULL);
    assert_non_null(strstr(err, "version 9 is not supported"));
    free(err);
    unlink(file2);
    free(file2);

    /* Truncated: no end line. */
    strcpy(bad, text);
    *strstr(bad, "{\"end\"") = '\0';
    file2 = write_tmp(bad);
    err = cmd(b, &out, "import", "fw", file2, NULL);
    assert_non_null(strstr(err, "truncated"));
    free(err);
    unlink(file2);
    free(file2);

    /* A key of the wrong size. */
    strcpy(bad, text);
    char *kp = strstr(strstr(bad, "\"map\":\"fw_conns\""), "\"key\":\"");
    memmove(kp + 7, kp + 9, strlen(kp + 9) + 1);
    file2 = write_tmp(bad);
    err = cmd(b, &out, "import", "fw", file2, NULL);
    assert_non_null(strstr(err, "needs a 16-byte key"));
    free(err);
    unlink(file2);
    free(file2);
    free(bad);

    err = cmd(b, &out, "import", "fw", "/nonexistent/file", NULL);
    assert_non_null(strstr(err, "/nonexistent/file"));
    free(err);
    err = cmd(b, &out, "frobnicate", "fw", NULL);
    assert_non_null(strstr(err, "usage"));
    free(err);

    unlink(file);
    free(file);
    free(text);
    free(sv);
    flow_progs_destroy(a);
    flow_progs_destroy(b);
    flow_progs_destroy(c);
    flow_progs_destroy(d);
    ds_destroy(&out);
}

/* The NAT's flow table: entries come back in their slots (a slot is the
 * external port), holes included. */
static void
test_export_flowtable(void **state)
{
    (void) state;
    struct ds out = DS_EMPTY_INITIALIZER;
    struct flow_progs *a = progs_with("nat", P("nat"));
    struct bpf_map *flows = prog_map(a, "nat", "nat_flows");
    uint8_t key[20], val[8], got[20];
    char *err;

    assert_int_equal(bpf_flowtable_configure(flows, 16, 0), 0);
    for (int i = 0; i < 4; i++) {
        memset(key, 0, sizeof key);
        key[0] = 10;
        key[3] = (uint8_t) (i + 1);
        key[12] = 6;
        memset(val, 0, sizeof val);
        assert_int_equal(bpf_map_update(flows, key, val, BPF_NOEXIST), 0);
    }
    /* Free slots 1 and 2: the restored table must keep 0 and 3. */
    key[3] = 2;
    assert_int_equal(bpf_map_delete(flows, key), 0);
    key[3] = 3;
    assert_int_equal(bpf_map_delete(flows, key), 0);

    assert_null(err = cmd(a, &out, "export", "nat", NULL));
    assert_non_null(strstr(ds_cstr(&out), "\"slot\":3,"));
    assert_non_null(strstr(ds_cstr(&out), "\"capacity\":16"));
    char *file = write_tmp(ds_cstr(&out));

    struct flow_progs *b = progs_with("nat", P("nat"));
    struct bpf_map *flows2 = prog_map(b, "nat", "nat_flows");
    assert_null(err = cmd(b, &out, "import", "nat", file, NULL));
    assert_int_equal(bpf_flowtable_slot_key(flows2, 0, got, NULL), 0);
    assert_int_equal(got[3], 1);
    assert_int_equal(bpf_flowtable_slot_key(flows2, 1, got, NULL), -ENOENT);
    assert_int_equal(bpf_flowtable_slot_key(flows2, 2, got, NULL), -ENOENT);
    assert_int_equal(bpf_flowtable_slot_key(flows2, 3, got, NULL), 0);
    assert_int_equal(got[3], 4);
    struct bpf_flowtable_stats fs;
    bpf_flowtable_get_stats(flows2, &fs);
    assert_int_equal(fs.capacity, 16);
    assert_int_equal(fs.live, 2);

    unlink(file);
    free(file);
    flow_progs_destroy(a);
    flow_progs_destroy(b);
    ds_destroy(&out);
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
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_steering),
        cmocka_unit_test(test_writers),
        cmocka_unit_test(test_bytes),
        cmocka_unit_test(test_export_import),
        cmocka_unit_test(test_export_flowtable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
