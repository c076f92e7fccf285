/* Unit tests for configuration files (src/cli/config.c) and the offline
 * engine they drive (src/dp): LINE:COLUMN errors for many bad lines,
 * comments and blank lines, relative paths resolved against the config's
 * directory, port numbers and duplicates, and end-to-end runs checking
 * the timestamp-ordered merge of several inputs, per-port statistics,
 * parse-error counting and packet-time rule timeouts. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <pcap/pcap.h>

#include "cli/config.h"
#include "core/util.h"
#include "dp/dp.h"
#include "flow/pipeline.h"
#include "pkt/pkt.h"

static char tmpdir[] = "/tmp/sluice-test-config-XXXXXX";

static int
setup_dir(void **state)
{
    char *sub;
    int ret;

    if (!mkdtemp(tmpdir)) {
        return -1;
    }
    sub = xasprintf("%s/sub", tmpdir);
    ret = mkdir(sub, 0700);
    free(sub);
    return ret;
}

static int
teardown_dir(void **state)
{
    char *cmd = xasprintf("rm -rf '%s'", tmpdir);
    int ret = system(cmd);

    free(cmd);
    return ret;
}

/* Writes 'text' to tmpdir/NAME and returns the path. */
static char *
write_text(const char *name, const char *text)
{
    char *path = xasprintf("%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

/* A minimal IPv4/UDP frame from 10.0.0.SRC to 10.0.0.2. */
static size_t
make_udp(uint8_t *buf, uint8_t src)
{
    static const uint8_t tmpl[42] = {
        0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x01, 0x08, 0x00, 0x45, 0x00, 0x00, 0x1c, 0x00, 0x00, 0x00, 0x00,
        0x40, 0x11, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00, 0x00,
        0x02, 0x04, 0x00, 0x00, 0x35, 0x00, 0x08, 0x00, 0x00,
    };

    memcpy(buf, tmpl, sizeof tmpl);
    buf[29] = src;
    memset(buf + sizeof tmpl, 0, 60 - sizeof tmpl);
    return 60;
}

/* Writes a microsecond capture of UDP frames; frame i has source
 * 10.0.0.srcs[i] and time ts_us[i].  'bad' frames are cut to 20 bytes (an
 * IPv4 header cut short). */
static void
write_udp_capture(const char *name, const uint8_t *srcs, const uint64_t *ts_us,
                  size_t n, const bool *bad)
{
    char *path = xasprintf("%s/%s", tmpdir, name);
    pcap_t *dead = pcap_open_dead(DLT_EN10MB, 65535);
    pcap_dumper_t *d = pcap_dump_open(dead, path);

    assert_non_null(d);
    for (size_t i = 0; i < n; i++) {
        uint8_t frame[64];
        struct pcap_pkthdr h;

        h.len = h.caplen = (uint32_t)make_udp(frame, srcs[i]);
        if (bad && bad[i]) {
            h.len = h.caplen = 20;
        }
        h.ts.tv_sec = (time_t)(ts_us[i] / 1000000);
        h.ts.tv_usec = (suseconds_t)(ts_us[i] % 1000000);
        pcap_dump((u_char *)d, &h, frame);
    }
    pcap_dump_close(d);
    pcap_close(dead);
    free(path);
}

/* Reads the source-address byte and the time of every packet of a
 * capture. */
static size_t
read_udp_capture(const char *name, uint8_t *srcs, uint64_t *ts_us, size_t max)
{
    char *path = xasprintf("%s/%s", tmpdir, name);
    char errbuf[PCAP_ERRBUF_SIZE];
    pcap_t *p = pcap_open_offline(path, errbuf);
    struct pcap_pkthdr *h;
    const u_char *data;
    size_t n = 0;

    assert_non_null(p);
    while (pcap_next_ex(p, &h, &data) == 1) {
        assert_true(n < max);
        srcs[n] = h->caplen > 29 ? data[29] : 0;
        ts_us[n] = (uint64_t)h->ts.tv_sec * 1000000 + h->ts.tv_usec;
        n++;
    }
    pcap_close(p);
    free(path);
    return n;
}

/* config_exec_line() on a fresh datapath must fail at 'col' with a message
 * containing 'needle'.  'setup' lines run first and must succeed. */
static void
assert_line_error(const char *setup, const char *line, int col,
                  const char *needle)
{
    struct dp *dp = dp_create();
    int err_col = 0;
    char *error;

    if (setup) {
        error = config_exec_line(dp, setup, tmpdir, 0, 0, &err_col);
        if (error) {
            fail_msg("setup '%s' failed: %s", setup, error);
        }
    }
    error = config_exec_line(dp, line, tmpdir, 0, 0, &err_col);
    if (!error) {
        fail_msg("'%s' accepted", line);
    }
    if (err_col != col || !strstr(error, needle)) {
        fail_msg("'%s': got column %d '%s', want column %d with '%s'", line,
                 err_col, error, col, needle);
    }
    free(error);
    dp_destroy(dp);
}

static void
test_bad_lines(void **state)
{
    assert_line_error(NULL, "frob", 1, "unknown command 'frob'");
    assert_line_error(NULL, "   frob x", 4, "unknown command 'frob'");
    assert_line_error(NULL, "port", 1, "incomplete command 'port'");
    assert_line_error(NULL, "port  show", 7, "unknown command 'port show'");
    assert_line_error(NULL, "flow mod x", 6, "unknown command 'flow mod'");

    assert_line_error(NULL, "port add", 9, "needs N TYPE:ARGS");
    assert_line_error(NULL, "port add 1", 11, "needs N TYPE:ARGS");
    assert_line_error(NULL, "port add x pcap:rx=a", 10, "bad port number");
    assert_line_error(NULL, "port add 1x pcap:rx=a", 10,
                      "bad port number '1x'");
    assert_line_error(NULL, "port add -1 pcap:rx=a", 10, "bad port number");
    assert_line_error(NULL, "port add 0 pcap:rx=a", 10, "out of range");
    assert_line_error(NULL, "port add 65280 pcap:rx=a", 10, "out of range");
    assert_line_error(NULL, "port add 99999999999999999999 pcap:rx=a", 10,
                      "out of range");
    assert_line_error(NULL, "port add 1 pcap:rx=a extra", 22,
                      "unexpected argument 'extra'");
    assert_line_error(NULL, "port add 1 tun:x", 12, "unknown port type");
    assert_line_error(NULL, "port add 1 pcap:rx=a,frob=b", 22,
                      "unknown pcap port option 'frob'");
    assert_line_error(NULL, "port add 1 pcap:", 17, "rx=FILE");
    assert_line_error("port add 3 pcap:rx=a", "port add 3 pcap:rx=b", 10,
                      "port 3 already exists");
    /* Files shared between ports, however spelled. */
    assert_line_error("port add 1 pcap:rx=a.pcap", "port add 2 pcap:tx=a.pcap",
                      12, "a.pcap' is the input of port 1");
    assert_line_error("port add 1 pcap:tx=o.pcap",
                      "port add 2 pcap:tx=./o.pcap", 12,
                      "o.pcap' is already written by port 1");
    assert_line_error("port add 1 pcap:tx=sub/../o.pcap",
                      "port add 2 pcap:rx=o.pcap", 12,
                      "o.pcap' is written by port 1");
    assert_line_error(NULL, "port add 2 pcap:rx=o.pcap,tx=./o.pcap", 12,
                      "is both read and written");

    assert_line_error(NULL, "flow add", 9, "needs FLOW");
    /* The column points into the flow: flow text starts at 10. */
    assert_line_error(NULL, "flow add in_port=1,nw_srx=1,actions=drop", 20,
                      "nw_srx");
    assert_line_error(NULL, "flow add   in_port=1,nw_srx=1,actions=drop", 22,
                      "nw_srx");
    assert_line_error(NULL, "flow add in_port=1,actions=outptu:2", 28,
                      "outptu");
    assert_line_error(NULL, "flow add tcp,nw_dst=10.0.0.300,actions=drop", 21,
                      "10.0.0.300");
    assert_line_error(NULL, "flow del nw_srx=1", 10, "nw_srx");
}

static void
test_flow_column_matches_parser(void **state)
{
    /* Whatever column the flow parser reports, the config adds the offset
     * of the flow in the line. */
    static const char *const flows[] = {
        "priority=1,tp_dst=80,actions=drop",  "table=300,actions=drop",
        "in_port=1,ip,nw_ttl=x,actions=drop", "udp,tp_src=99999,actions=drop",
        "in_port=1,actions=mod_nw_dst:1.2.3",
    };

    for (size_t i = 0; i < ARRAY_SIZE(flows); i++) {
        struct flow_spec spec;
        int parse_col = 0;
        char *expect =
            flow_spec_parse(&spec, flows[i], FLOW_PARSE_ADD, &parse_col);
        char *line = xasprintf("  flow add  %s   # comment", flows[i]);
        struct dp *dp = dp_create();
        int col = 0;
        char *error;

        flow_spec_destroy(&spec);
        assert_non_null(expect);
        error = config_exec_line(dp, line, NULL, 0, 0, &col);
        assert_non_null(error);
        assert_string_equal(error, expect);
        assert_int_equal(col, 13 + parse_col - 1);
        free(error);
        free(expect);
        free(line);
        dp_destroy(dp);
    }
}

/* config_load() on 'text' must fail with exactly 'want' after the path. */
static void
assert_load_error(const char *text, const char *want)
{
    char *path = write_text("bad.conf", text);
    struct dp *dp = dp_create();
    char *error = config_load(dp, path, CONFIG_OPEN_PORTS);
    char *full = xasprintf("%s:%s", path, want);

    assert_non_null(error);
    assert_string_equal(error, full);
    free(full);
    free(error);
    free(path);
    dp_destroy(dp);
}

static void
test_load_errors(void **state)
{
    assert_load_error("# header\n\nflow add actions=drop\nfrob\n",
                      "4:1: unknown command 'frob'");
    assert_load_error("port add 1 pcap:tx=o1.pcap\n"
                      "  # indented comment\n"
                      "port add 1 pcap:tx=o2.pcap\n",
                      "3:10: port 1 already exists");
    /* A flow error is reported at its own line even though flows run
     * after every port is open. */
    assert_load_error("flow add actions=drop\n"
                      "flow add in_port=1,nw_srx=1,actions=drop\n"
                      "port add 1 pcap:tx=o1.pcap\n",
                      "2:20: unknown field 'nw_srx'");
    {
        /* Failed loads above named o1.pcap and o2.pcap as outputs: neither
         * was created, and an existing file is left alone. */
        char *o1 = xasprintf("%s/o1.pcap", tmpdir);
        char *keep = write_text("o2.pcap", "keep");
        size_t n;
        char buf[8];
        FILE *f;

        assert_int_equal(access(o1, F_OK), -1);
        assert_load_error("port add 2 pcap:tx=o2.pcap\n"
                          "flow add actions=outptu:2\n",
                          "2:18: unknown action 'outptu'");
        f = fopen(keep, "r");
        n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        assert_int_equal(n, 4);
        assert_memory_equal(buf, "keep", 4);
        free(o1);
        free(keep);
    }
    {
        char *path =
            write_text("missing.conf", "port add 1 pcap:rx=missing.pcap\n");
        char *want = xasprintf("%s:1:12: %s/missing.pcap: ", path, tmpdir);
        struct dp *dp = dp_create();
        char *error = config_load(dp, path, CONFIG_OPEN_PORTS);

        assert_non_null(error);
        assert_memory_equal(error, want, strlen(want));
        free(error);
        free(want);
        free(path);
        dp_destroy(dp);
    }
    {
        char *path = write_text("nul.conf", "");
        FILE *f = fopen(path, "w");
        struct dp *dp = dp_create();
        char *error;

        fwrite("port add 1 pc\0ap:rx=x\n", 1, 22, f);
        fclose(f);
        error = config_load(dp, path, 0);
        assert_non_null(error);
        assert_non_null(strstr(error, ":1:14: NUL byte"));
        free(error);
        dp_destroy(dp);
        free(path);
    }
    {
        struct dp *dp = dp_create();
        char *error = config_load(dp, "/nonexistent/x.conf", 0);

        assert_non_null(error);
        assert_non_null(strstr(error, "/nonexistent/x.conf: "));
        free(error);
        dp_destroy(dp);
    }
}

static void
test_comments_and_blanks(void **state)
{
    char *path =
        write_text("ok.conf", "# A configuration with every kind of filler.\n"
                              "\n"
                              "   \t \n"
                              "port add 1 pcap:tx=c1.pcap   # trailing\n"
                              "port add 2 pcap:tx=c2.pcap\r\n"
                              "flow add priority=10,in_port=1,actions="
                              "output:2 # why\n"
                              "flow add priority=20, in_port=2, "
                              "actions=output:1\n"
                              "flow add priority=5,actions=drop\n"
                              "flow del in_port=1\n"
                              "flow add table=1,actions=drop");
    struct dp *dp = dp_create();
    char *error = config_load(dp, path, 0);
    struct ds dump = DS_EMPTY_INITIALIZER;

    assert_null(error);
    assert_int_equal(dp_n_ports(dp), 2);
    assert_int_equal(dp_port_number(dp, 0), 1);
    assert_string_equal(dp_port_spec(dp, 1), "pcap:tx=c2.pcap");
    /* flow del is non-strict: it removed the in_port=1 rule only. */
    assert_int_equal(pipeline_n_rules(dp_pipeline(dp)), 3);
    pipeline_dump(dp_pipeline(dp), false, 0, &dump);
    assert_non_null(strstr(ds_cstr(&dump), "priority=20"));
    assert_non_null(strstr(ds_cstr(&dump), "priority=5 "));
    assert_null(strstr(ds_cstr(&dump), "priority=10"));
    ds_destroy(&dump);
    dp_destroy(dp);

    /* Without CONFIG_OPEN_PORTS no file was created. */
    {
        char *c1 = xasprintf("%s/c1.pcap", tmpdir);

        assert_int_equal(access(c1, F_OK), -1);
        free(c1);
    }
    dp = dp_create();
    error = config_load(dp, path, 0);
    assert_null(error);
    error = config_exec_line(dp, "flow del", NULL, 0, 0, &(int){0});
    assert_null(error);
    assert_int_equal(pipeline_n_rules(dp_pipeline(dp)), 0);
    dp_destroy(dp);
    free(path);
}

static void
test_relative_paths(void **state)
{
    static const uint8_t srcs[2] = {1, 2};
    static const uint64_t ts[2] = {10, 20};
    char *path = write_text("sub/rel.conf", "port add 1 pcap:rx=in.pcap\n"
                                            "port add 2 pcap:tx=../out.pcap\n"
                                            "flow add actions=output:2\n");
    char *cwd = getcwd(NULL, 0);
    struct dp *dp = dp_create();
    char *error;
    char *base;
    uint8_t got[4];
    uint64_t got_ts[4];

    write_udp_capture("sub/in.pcap", srcs, ts, 2, NULL);
    /* Run from elsewhere: paths follow the config, not the cwd. */
    assert_int_equal(chdir("/"), 0);
    error = config_load(dp, path, CONFIG_OPEN_PORTS);
    assert_null(error);
    assert_int_equal(dp_run(dp), 0);
    dp_destroy(dp);
    assert_int_equal(chdir(cwd), 0);
    free(cwd);
    assert_int_equal(read_udp_capture("out.pcap", got, got_ts, 4), 2);
    assert_int_equal(got[1], 2);

    base = config_base_dir("a/b/c.conf");
    assert_string_equal(base, "a/b");
    free(base);
    base = config_base_dir("c.conf");
    assert_string_equal(base, ".");
    free(base);
    base = config_base_dir("/c.conf");
    assert_string_equal(base, "/");
    free(base);
    free(path);
}

static void
test_run_merge_and_stats(void **state)
{
    /* Two inputs interleaved in time, with ties, more than a batch each:
     * the output holds them in timestamp order, ties to the lower port. */
    enum { N = 50 };
    uint8_t s1[N], s2[N], got[2 * N];
    uint64_t t1[N], t2[N], got_ts[2 * N];
    bool bad2[N] = {false};
    char *path;
    struct dp *dp;
    struct port_stats st;
    char *error;
    size_t n;

    for (int i = 0; i < N; i++) {
        s1[i] = 1;
        s2[i] = 2;
        t1[i] = 1000000 + (uint64_t)i * 20; /* 0, 20, 40, ... */
        t2[i] = 1000000 + (uint64_t)i * 30; /* 0, 30, 60, ... */
    }
    bad2[5] = bad2[6] = true;
    write_udp_capture("m1.pcap", s1, t1, N, NULL);
    write_udp_capture("m2.pcap", s2, t2, N, bad2);
    path = write_text("merge.conf", "port add 2 pcap:rx=m2.pcap\n"
                                    "port add 1 pcap:rx=m1.pcap\n"
                                    "port add 3 pcap:tx=merged.pcap\n"
                                    "flow add in_port=1,actions=output:3\n"
                                    "flow add in_port=2,actions=output:3\n");
    dp = dp_create();
    error = config_load(dp, path, CONFIG_OPEN_PORTS);
    assert_null(error);
    assert_true(dp_start_time(dp) == 1000000000ull);
    assert_int_equal(dp_run(dp), 0);

    n = read_udp_capture("merged.pcap", got, got_ts, 2 * N);
    assert_int_equal(n, 2 * N);
    for (size_t i = 1; i < n; i++) {
        assert_true(got_ts[i - 1] <= got_ts[i]);
        if (got_ts[i - 1] == got_ts[i] && got[i - 1] && got[i]) {
            assert_true(got[i - 1] <= got[i]);
        }
    }
    assert_int_equal(got[0], 1);
    assert_true(dp_now(dp) == (1000000 + 49 * 30) * 1000ull);

    /* Ports are listed by number whatever the order they were added. */
    assert_int_equal(dp_port_number(dp, 0), 1);
    dp_port_stats(dp, 0, &st);
    assert_int_equal(st.rx_packets, N);
    assert_int_equal(st.rx_bytes, N * 60);
    dp_port_stats(dp, 1, &st);
    assert_int_equal(st.rx_packets, N);
    assert_int_equal(st.rx_bytes, (N - 2) * 60 + 2 * 20);
    dp_port_stats(dp, 2, &st);
    assert_int_equal(st.tx_packets, 2 * N);
    assert_int_equal(dp_port_parse_errors(dp, 0)[PKT_ERR_IP4_SHORT], 0);
    assert_int_equal(dp_port_parse_errors(dp, 1)[PKT_ERR_IP4_SHORT], 2);
    dp_destroy(dp);
    free(path);
}

static void
test_run_timeouts_in_packet_time(void **state)
{
    /* Packets at t0, t0+0.5 s, t0+1.5 s and t0+2.5 s (t0 far from the
     * epoch).  A hard_timeout=2 rule, started at the first packet's time,
     * forwards the first three packets only; the catch-all rule below it
     * then drops. */
    static const uint8_t srcs[4] = {1, 2, 3, 4};
    static const uint64_t ts[4] = {
        1700000000000000ull,
        1700000000500000ull,
        1700000001500000ull,
        1700000002500000ull,
    };
    char *path;
    struct dp *dp;
    char *error;
    uint8_t got[4];
    uint64_t got_ts[4];
    uint64_t drops[PIPELINE_N_DROPS];

    write_udp_capture("t.pcap", srcs, ts, 4, NULL);
    path = write_text("timeout.conf", "port add 1 pcap:rx=t.pcap\n"
                                      "port add 2 pcap:tx=t-out.pcap\n"
                                      "flow add priority=100,hard_timeout=2,"
                                      "actions=output:2\n"
                                      "flow add priority=1,actions=drop\n");
    dp = dp_create();
    error = config_load(dp, path, CONFIG_OPEN_PORTS);
    assert_null(error);
    assert_int_equal(pipeline_n_rules(dp_pipeline(dp)), 2);
    assert_int_equal(dp_run(dp), 0);
    assert_int_equal(pipeline_n_rules(dp_pipeline(dp)), 1);
    pipeline_drop_counts(dp_pipeline(dp), drops);
    assert_int_equal(drops[PIPELINE_DROP_ACTION_DROP], 1);
    dp_destroy(dp);
    assert_int_equal(read_udp_capture("t-out.pcap", got, got_ts, 4), 3);
    assert_int_equal(got[2], 3);
    /* Output timestamps are the input's. */
    assert_true(got_ts[1] == ts[1]);
    free(path);
}

static void
test_run_nsec_output(void **state)
{
    /* One microsecond and one nanosecond input: the output is written at
     * nanosecond precision and keeps every timestamp exactly. */
    static const uint8_t srcs[2] = {1, 1};
    static const uint64_t ts_us[2] = {3000000, 3000002};
    char *ns_path = xasprintf("%s/ns.pcap", tmpdir);
    char *out_path = xasprintf("%s/ns-out.pcap", tmpdir);
    pcap_t *dead = pcap_open_dead_with_tstamp_precision(
        DLT_EN10MB, 65535, PCAP_TSTAMP_PRECISION_NANO);
    pcap_dumper_t *d = pcap_dump_open(dead, ns_path);
    char errbuf[PCAP_ERRBUF_SIZE];
    struct pcap_pkthdr h, *hp;
    const u_char *data;
    uint8_t frame[64];
    uint64_t got[3];
    char *path;
    struct dp *dp;
    char *error;
    pcap_t *p;
    int n = 0;

    h.len = h.caplen = (uint32_t)make_udp(frame, 2);
    h.ts.tv_sec = 3;
    h.ts.tv_usec = 1001; /* Nanoseconds: 3.000001001 s. */
    pcap_dump((u_char *)d, &h, frame);
    pcap_dump_close(d);
    pcap_close(dead);
    write_udp_capture("us.pcap", srcs, ts_us, 2, NULL);

    path = write_text("ns.conf", "port add 1 pcap:rx=us.pcap\n"
                                 "port add 2 pcap:rx=ns.pcap\n"
                                 "port add 3 pcap:tx=ns-out.pcap\n"
                                 "flow add actions=output:3\n");
    dp = dp_create();
    error = config_load(dp, path, CONFIG_OPEN_PORTS);
    assert_null(error);
    assert_int_equal(dp_run(dp), 0);
    dp_destroy(dp);

    p = pcap_open_offline_with_tstamp_precision(
        out_path, PCAP_TSTAMP_PRECISION_NANO, errbuf);
    assert_non_null(p);
    while (n < 3 && pcap_next_ex(p, &hp, &data) == 1) {
        got[n++] = (uint64_t)hp->ts.tv_sec * 1000000000ull + hp->ts.tv_usec;
    }
    pcap_close(p);
    assert_int_equal(n, 3);
    assert_true(got[0] == 3000000000ull);
    assert_true(got[1] == 3000001001ull);
    assert_true(got[2] == 3000002000ull);
    free(path);
    free(ns_path);
    free(out_path);
}

static void
test_prog_commands(void **state)
{
    /* Errors point at the offending argument. */
    assert_line_error(NULL, "prog load fw", 13, "needs NAME FILE.o");
    assert_line_error(NULL, "prog load fw nothere.o", 14, "nothere.o");
    assert_line_error(NULL, "prog load fw x.o xdp junk", 22,
                      "expected rodata.VAR=VALUE, got 'junk'");
    assert_line_error(NULL, "prog load fw x.o rodata.x", 18,
                      "expected rodata.VAR=VALUE, got 'rodata.x'");
    assert_line_error(NULL, "prog load fw x.o s rodata.=1", 20,
                      "expected rodata.VAR=VALUE");
    assert_line_error(NULL, "prog load fw x.o s rodata.v=", 20,
                      "expected rodata.VAR=VALUE");
    assert_line_error(NULL, "prog unload fw", 13, "fw");
    assert_line_error(NULL, "map update fw m 00 00", 12, "fw");
    assert_line_error(NULL, "map delete fw m", 16, "needs NAME MAP KEY_HEX");
    assert_line_error(NULL, "flow add prog=nope,actions=drop", 10, "nope");
}

/* Writes one UDP frame 10.0.0.SRC:SPORT -> 10.0.0.DST:DPORT per entry of
 * 'f' (src, dst, sport, dport) at times 1 s, 2 s, ... */
static void
write_udp_flows(const char *name, const uint8_t (*f)[4], size_t n)
{
    char *path = xasprintf("%s/%s", tmpdir, name);
    pcap_t *dead = pcap_open_dead(DLT_EN10MB, 65535);
    pcap_dumper_t *d = pcap_dump_open(dead, path);

    assert_non_null(d);
    for (size_t i = 0; i < n; i++) {
        uint8_t frame[64];
        struct pcap_pkthdr h;

        h.len = h.caplen = (uint32_t)make_udp(frame, f[i][0]);
        frame[33] = f[i][1];
        frame[34] = 0;
        frame[35] = f[i][2];
        frame[36] = 0;
        frame[37] = f[i][3];
        h.ts.tv_sec = (time_t)(i + 1);
        h.ts.tv_usec = 0;
        pcap_dump((u_char *)d, &h, frame);
    }
    pcap_dump_close(d);
    pcap_close(dead);
    free(path);
}

static void
test_prog_firewall_run(void **state)
{
    /* The firewall from progs/ as a filter: a reply to a flow opened from
     * port 1 passes, unsolicited traffic from port 2 does not. */
    const char *build = getenv("SLUICE_BUILD_ROOT");
    /* Inside 10.0.0.1:10 -> 10.0.0.2:20 opens the flow. */
    static const uint8_t inside[1][4] = {{1, 2, 10, 20}};
    /* Its reply, then a stranger (10.0.0.3) and a wrong port. */
    static const uint8_t outside[3][4] = {
        {2, 1, 20, 10},
        {3, 1, 20, 10},
        {2, 1, 21, 10},
    };
    uint8_t got[4];
    uint64_t got_ts[4];
    char *text, *path, *error;
    struct dp *dp;

    if (!build) {
        skip();
    }
    write_udp_flows("fw-in.pcap", inside, 1);
    write_udp_flows("fw-out.pcap", outside, 3);
    text = xasprintf("port add 1 pcap:rx=fw-in.pcap,tx=fw-o1.pcap\n"
                     "port add 2 pcap:rx=fw-out.pcap,tx=fw-o2.pcap\n"
                     "prog load fw %s/progs/firewall.o xdp\n"
                     "flow add in_port=1,prog=fw,actions=output:2\n"
                     "flow add in_port=2,prog=fw,actions=output:1\n",
                     build);
    path = write_text("fw.conf", text);
    dp = dp_create();
    error = config_load(dp, path, CONFIG_OPEN_PORTS);
    assert_null(error);
    assert_int_equal(dp_run(dp), 0);
    dp_destroy(dp);
    assert_int_equal(read_udp_capture("fw-o2.pcap", got, got_ts, 4), 1);
    assert_int_equal(read_udp_capture("fw-o1.pcap", got, got_ts, 4), 1);
    assert_int_equal(got[0], 2);
    free(text);
    free(path);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_lines),
        cmocka_unit_test(test_flow_column_matches_parser),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_comments_and_blanks),
        cmocka_unit_test(test_relative_paths),
        cmocka_unit_test(test_run_merge_and_stats),
        cmocka_unit_test(test_run_timeouts_in_packet_time),
        cmocka_unit_test(test_run_nsec_output),
        cmocka_unit_test(test_prog_commands),
        cmocka_unit_test(test_prog_firewall_run),
    };
    return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
