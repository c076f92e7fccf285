/* Unit tests for the live datapath (src/dp/dp_live.c) with pcap ports, so
 * they need no privileges: a datapath thread reads the input capture
 * while the tests change the configuration through dpl_command(), as the
 * control socket would.  Checks counters surviving rebuilds, flow mod and
 * add semantics, bad commands changing nothing, reload diffs, and with two
 * threads flow steering and its recomputation when programs change. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/util.h"
#include "dp/dp_live.h"
#include "flow/flow_parse.h"
#include "pkt/packet.h"
#include "pkt/pkt.h"

static char dir[] = "/tmp/sluice-dpl-test-XXXXXX";

static void
put32(FILE *f, uint32_t v)
{
    fwrite(&v, 4, 1, f);
}

/* Writes a pcap of 'n' frames; frame i is the flow text texts(i, aux). */
static void
write_frames(const char *path, int n, const char *(*texts)(int, void *),
             void *aux)
{
    FILE *f = fopen(path, "wb");
    uint16_t v[2] = {2, 4};

    assert_non_null(f);
    put32(f, 0xa1b2c3d4);
    fwrite(v, 2, 2, f);
    put32(f, 0);
    put32(f, 0);
    put32(f, 65535);
    put32(f, 1);
    for (int i = 0; i < n; i++) {
        struct packet *p = packet_new(PACKET_DEFAULT_SIZE);
        struct flow_key key;
        int col = 1;
        char *error = flow_key_parse(&key, texts(i, aux), &col);

        assert_null(error);
        pkt_compose(p, &key);
        put32(f, 1700000000u + (uint32_t)i);
        put32(f, 0);
        put32(f, p->len);
        put32(f, p->len);
        fwrite(p->base + p->data_ofs, 1, p->len, f);
        packet_destroy(p);
    }
    assert_int_equal(fclose(f), 0);
}

static const char *
udp_tcp_text(int i, void *aux)
{
    int n_udp = *(int *)aux;

    return i < n_udp ? "udp,nw_src=10.0.0.1,nw_dst=10.0.0.2,tp_dst=53"
                     : "tcp,nw_src=10.0.0.1,nw_dst=10.0.0.2,tp_dst=80";
}

/* Writes a pcap with 'n_udp' UDP and 'n_tcp' TCP frames. */
static void
write_pcap(const char *path, int n_udp, int n_tcp)
{
    write_frames(path, n_udp + n_tcp, udp_tcp_text, &n_udp);
}

static void
write_config(const char *name, const char *text)
{
    char *path = xasprintf("%s/%s", dir, name);
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
    free(path);
}

/* Runs a command that must succeed; returns its output as JSON (json) or
 * NULL. */
static json_t *
run(struct dpl *dpl, const char *cmd, const char *arg, bool json)
{
    struct ds out = DS_EMPTY_INITIALIZER;
    const char *argv[1] = {arg};
    char *error = dpl_command(dpl, cmd, arg ? 1 : 0, argv, json, &out);
    json_t *j = NULL;

    if (error) {
        fail_msg("%s %s: %s", cmd, arg ? arg : "", error);
    }
    if (json) {
        j = json_loads(ds_cstr(&out), 0, NULL);
        assert_non_null(j);
    }
    ds_destroy(&out);
    return j;
}

static char *
run_text(struct dpl *dpl, const char *cmd, const char *arg)
{
    struct ds out = DS_EMPTY_INITIALIZER;
    const char *argv[1] = {arg};
    char *error = dpl_command(dpl, cmd, arg ? 1 : 0, argv, false, &out);

    assert_null(error);
    return ds_steal_cstr(&out);
}

static void
expect_error(struct dpl *dpl, const char *cmd, size_t argc,
             const char *const *argv, const char *want)
{
    struct ds out = DS_EMPTY_INITIALIZER;
    char *error = dpl_command(dpl, cmd, argc, argv, false, &out);

    assert_non_null(error);
    if (!strstr(error, want)) {
        fail_msg("%s: got '%s', want '%s'", cmd, error, want);
    }
    free(error);
    ds_destroy(&out);
}

/* n_packets of the flow whose match is 'match', or -1. */
static long long
flow_packets(struct dpl *dpl, const char *match, const char **actions)
{
    json_t *flows = run(dpl, "flow dump", NULL, true);
    long long n = -1;
    size_t i;
    json_t *f;

    json_array_foreach(flows, i, f)
    {
        if (!strcmp(json_string_value(json_object_get(f, "match")), match)) {
            n = json_integer_value(json_object_get(f, "n_packets"));
            if (actions) {
                static char buf[256];

                snprintf(buf, sizeof buf, "%s",
                         json_string_value(json_object_get(f, "actions")));
                *actions = buf;
            }
        }
    }
    json_decref(flows);
    return n;
}

static long long
port_rx(struct dpl *dpl, int port)
{
    json_t *ports = run(dpl, "port show", NULL, true);
    long long n = -1;
    size_t i;
    json_t *p;

    json_array_foreach(ports, i, p)
    {
        if (json_integer_value(json_object_get(p, "port")) == port) {
            n = json_integer_value(json_object_get(p, "rx_packets"));
        }
    }
    json_decref(ports);
    return n;
}

static void
test_live_changes(void **state)
{
    const char *config = "port add 1 pcap:rx=in.pcap\n"
                         "port add 2 pcap:tx=out.pcap\n"
                         "flow add in_port=1,udp,actions=output:2\n"
                         "flow add in_port=1,tcp,actions=drop\n";
    struct dpl *dpl = dpl_create(1);
    char *path, *before, *after, *error;
    const char *actions;
    json_t *stats;

    assert_non_null(mkdtemp(dir));
    path = xasprintf("%s/in.pcap", dir);
    write_pcap(path, 10, 5);
    free(path);
    write_config("a.conf", config);
    path = xasprintf("%s/a.conf", dir);
    error = dpl_load_config(dpl, path);
    if (error) {
        fail_msg("%s", error);
    }
    assert_int_equal(dpl_start(dpl, &error), 0);
    for (int i = 0; i < 500 && port_rx(dpl, 1) < 15; i++) {
        usleep(10000);
    }
    assert_int_equal(port_rx(dpl, 1), 15);
    assert_int_equal(flow_packets(dpl, "udp,in_port=1", NULL), 10);
    assert_int_equal(flow_packets(dpl, "tcp,in_port=1", NULL), 5);

    /* Modify keeps counters; add of the same match resets them. */
    run(dpl, "flow mod", "in_port=1,udp,actions=drop", false);
    assert_int_equal(flow_packets(dpl, "udp,in_port=1", &actions), 10);
    assert_string_equal(actions, "drop");
    run(dpl, "flow add", "in_port=1,tcp,actions=output:2", false);
    assert_int_equal(flow_packets(dpl, "tcp,in_port=1", NULL), 0);

    /* Bad commands fail with their reason and change nothing. */
    before = run_text(dpl, "flow dump", "--no-stats");
    {
        const char *a1[] = {"in_port=1,actions=frob"};
        const char *a2[] = {"3", "bogus:x"};
        const char *a3[] = {"9"};
        const char *a4[] = {"in_port=1,prog=nope,actions=drop"};
        const char *a5[] = {"1", "pcap:rx=in.pcap"};

        expect_error(dpl, "flow add", 1, a1,
                     "column 19: unknown action 'frob'");
        expect_error(dpl, "port add", 2, a2, "unknown port type");
        expect_error(dpl, "port del", 1, a3, "no port 9");
        expect_error(dpl, "flow add", 1, a4, "nope");
        expect_error(dpl, "flow mod", 1, a1, "unknown action");
        expect_error(dpl, "port add", 2, a5, "already exists");
        expect_error(dpl, "flow frob", 0, NULL, "unknown command");
        expect_error(dpl, "nf", 1, a3, "unknown command 'nf 9'");
        expect_error(dpl, "map update", 1, a3, "needs");
        expect_error(dpl, "flow dump", 1, a3, "unexpected argument");
    }
    after = run_text(dpl, "flow dump", "--no-stats");
    assert_string_equal(before, after);
    free(before);
    free(after);
    assert_int_equal(flow_packets(dpl, "udp,in_port=1", NULL), 10);

    /* Reload: an unchanged flow keeps its counters, an unchanged port
     * stays open (it does not read its input again). */
    write_config("a.conf", "port add 1 pcap:rx=in.pcap\n"
                           "port add 2 pcap:tx=out.pcap\n"
                           "flow add in_port=1,udp,actions=drop\n"
                           "flow add priority=7,arp,actions=drop\n");
    error = dpl_load_config(dpl, path);
    if (error) {
        fail_msg("%s", error);
    }
    usleep(100000);
    assert_int_equal(flow_packets(dpl, "udp,in_port=1", NULL), 10);
    assert_int_equal(flow_packets(dpl, "arp", NULL), 0);
    assert_int_equal(flow_packets(dpl, "tcp,in_port=1", NULL), -1);
    assert_int_equal(port_rx(dpl, 1), 15);

    /* A bad reload changes nothing. */
    write_config("a.conf", "port add 1 pcap:rx=in.pcap\n"
                           "flow add in_port=1,actions=frob\n");
    error = dpl_load_config(dpl, path);
    assert_non_null(error);
    assert_non_null(strstr(error, "a.conf:2:"));
    free(error);
    assert_int_equal(flow_packets(dpl, "arp", NULL), 0);

    stats = run(dpl, "stats", NULL, true);
    assert_int_equal(
        json_integer_value(json_object_get(
            json_array_get(json_object_get(stats, "threads"), 0), "packets")),
        15);
    json_decref(stats);

    /* Port del takes effect; flows stay. */
    run(dpl, "port del", "2", false);
    assert_int_equal(port_rx(dpl, 2), -1);
    dpl_destroy(dpl);

    free(path);
    path = xasprintf("rm -rf %s", dir);
    assert_int_equal(system(path), 0);
    free(path);
}

/* Frame i of 64 UDP flows repeated; '*aux' true: the reply direction. */
static const char *
flow_text(int i, void *aux)
{
    static char buf[128];
    int flow = i % 64;

    if (*(bool *)aux) {
        snprintf(buf, sizeof buf,
                 "udp,nw_src=10.1.0.2,nw_dst=10.1.%d.1,tp_src=53,tp_dst=%d",
                 flow, 2000 + flow);
    } else {
        snprintf(buf, sizeof buf,
                 "udp,nw_src=10.1.%d.1,nw_dst=10.1.0.2,tp_src=%d,tp_dst=53",
                 flow, 2000 + flow);
    }
    return buf;
}

static long long
thread_sum(json_t *stats, const char *field)
{
    json_t *threads = json_object_get(stats, "threads");
    long long sum = 0;
    size_t i;
    json_t *t;

    json_array_foreach(threads, i, t)
    {
        sum += json_integer_value(json_object_get(t, field));
    }
    return sum;
}

static char *
steering_reason(struct dpl *dpl)
{
    json_t *stats = run(dpl, "stats", NULL, true);
    char *reason = xstrdup(json_string_value(json_object_get(
        json_object_get(stats, "steering"), "reason")));

    json_decref(stats);
    return reason;
}

/* Two threads, the two directions of 64 flows arriving on ports polled by
 * different threads: every packet is processed once, both threads work,
 * packets cross between them, and loading a program recomputes the
 * steering. */
static void
test_two_threads(void **state)
{
    char tdir[] = "/tmp/sluice-dpl-test2-XXXXXX";
    struct dpl *dpl = dpl_create(2);
    const char *root = getenv("SLUICE_BUILD_ROOT");
    char *path, *error, *reason, *fw;
    bool rev = false;
    json_t *stats, *steering;
    FILE *f;

    (void)state;
    assert_non_null(root);
    assert_non_null(mkdtemp(tdir));
    path = xasprintf("%s/a.pcap", tdir);
    write_frames(path, 640, flow_text, &rev);
    free(path);
    rev = true;
    path = xasprintf("%s/b.pcap", tdir);
    write_frames(path, 640, flow_text, &rev);
    free(path);
    path = xasprintf("%s/t.conf", tdir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("port add 1 pcap:rx=a.pcap\n"
          "port add 2 pcap:rx=b.pcap\n"
          "port add 3 pcap:tx=out.pcap\n"
          "flow add actions=output:3\n",
          f);
    assert_int_equal(fclose(f), 0);
    error = dpl_load_config(dpl, path);
    free(path);
    if (error) {
        fail_msg("%s", error);
    }
    assert_int_equal(dpl_start(dpl, &error), 0);
    for (int i = 0; i < 500; i++) {
        stats = run(dpl, "stats", NULL, true);
        bool done = thread_sum(stats, "rx_packets") == 1280 &&
                    thread_sum(stats, "packets") +
                            thread_sum(stats, "ring_drops") ==
                        1280;

        json_decref(stats);
        if (done) {
            break;
        }
        usleep(10000);
    }
    stats = run(dpl, "stats", NULL, true);
    assert_int_equal(thread_sum(stats, "rx_packets"), 1280);
    assert_int_equal(
        thread_sum(stats, "packets") + thread_sum(stats, "ring_drops"), 1280);
    assert_int_equal(thread_sum(stats, "handed_off"),
                     thread_sum(stats, "from_others") +
                         thread_sum(stats, "ring_drops"));
    assert_true(thread_sum(stats, "handed_off") > 0);
    for (size_t t = 0; t < 2; t++) {
        json_t *jt = json_array_get(json_object_get(stats, "threads"), t);

        assert_int_equal(json_integer_value(json_object_get(jt, "rx_packets")),
                         640);
        assert_true(json_integer_value(json_object_get(jt, "packets")) > 0);
    }
    steering = json_object_get(stats, "steering");
    assert_true(json_is_true(json_object_get(steering, "symmetric")));
    assert_true(json_is_false(json_object_get(steering, "single")));
    json_decref(stats);

    /* Programs change the steering; unloading restores it. */
    reason = steering_reason(dpl);
    fw = xasprintf("%s/progs/firewall.o", root);
    {
        const char *load[] = {"fw", fw};
        const char *unload[] = {"fw"};
        struct ds out = DS_EMPTY_INITIALIZER;
        char *now;

        error = dpl_command(dpl, "prog load", 2, load, false, &out);
        if (error) {
            fail_msg("prog load: %s", error);
        }
        now = steering_reason(dpl);
        assert_string_not_equal(now, reason);
        free(now);
        /* State export is dispatched to the program's state (issue 9). */
        {
            const char *exp[] = {"fw"};
            const char *bad[] = {"nope"};

            ds_clear(&out);
            error = dpl_command(dpl, "state export", 1, exp, false, &out);
            if (error) {
                fail_msg("state export: %s", error);
            }
            assert_non_null(strstr(ds_cstr(&out), "sluice-state"));
            expect_error(dpl, "state export", 1, bad, "nope");
        }
        error = dpl_command(dpl, "prog unload", 1, unload, false, &out);
        assert_null(error);
        now = steering_reason(dpl);
        assert_string_equal(now, reason);
        free(now);
        ds_destroy(&out);
    }
    free(fw);
    free(reason);
    dpl_destroy(dpl);
    path = xasprintf("rm -rf %s", tdir);
    assert_int_equal(system(path), 0);
    free(path);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_live_changes),
        cmocka_unit_test(test_two_threads),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
