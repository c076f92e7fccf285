/* Unit tests for src/port: spec checking with columns, the pcap port's
 * read/write round trip (byte-exact for microsecond and nanosecond
 * captures, timestamps kept), truncated records, batch boundaries, large
 * frames, and bad inputs (missing file, not a capture, non-Ethernet link
 * type, a capture cut short, an unwritable output).
 *
 * Captures are written here with libpcap itself, an independent writer. */
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

#include "core/log.h"
#include "core/util.h"
#include "port/port.h"

static char tmpdir[] = "/tmp/sluice-test-port-XXXXXX";

static int
setup_dir(void **state)
{
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int
teardown_dir(void **state)
{
    char *cmd = xasprintf("rm -rf '%s'", tmpdir);
    int ret = system(cmd);

    free(cmd);
    return ret;
}

static char *
tmp_path(const char *name)
{
    return xasprintf("%s/%s", tmpdir, name);
}

/* One record of a capture written by write_capture(). */
struct rec {
    uint64_t ts_ns;  /* Timestamp. */
    uint32_t caplen; /* Bytes stored. */
    uint32_t len;    /* Wire length. */
};

/* Fills a frame with a recognisable pattern derived from 'seed'. */
static void
fill_frame(uint8_t *buf, size_t len, unsigned int seed)
{
    for (size_t i = 0; i < len; i++) {
        buf[i] = (uint8_t)(seed * 31 + i * 7);
    }
}

/* Writes 'n' records with libpcap at the given precision and link type. */
static void
write_capture(const char *path, const struct rec *recs, size_t n, bool nsec,
              int dlt)
{
    pcap_t *dead = pcap_open_dead_with_tstamp_precision(
        dlt, 65535,
        nsec ? PCAP_TSTAMP_PRECISION_NANO : PCAP_TSTAMP_PRECISION_MICRO);
    pcap_dumper_t *d;
    static uint8_t frame[16384];

    assert_non_null(dead);
    d = pcap_dump_open(dead, path);
    assert_non_null(d);
    for (size_t i = 0; i < n; i++) {
        struct pcap_pkthdr h;
        uint64_t frac = recs[i].ts_ns % 1000000000ull;

        h.ts.tv_sec = (time_t)(recs[i].ts_ns / 1000000000ull);
        h.ts.tv_usec = (suseconds_t)(nsec ? frac : frac / 1000);
        h.caplen = recs[i].caplen;
        h.len = recs[i].len;
        fill_frame(frame, recs[i].caplen, (unsigned int)i);
        pcap_dump((u_char *)d, &h, frame);
    }
    pcap_dump_close(d);
    pcap_close(dead);
}

static uint8_t *
read_file(const char *path, size_t *sizep)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    long size;

    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = xmalloc(size ? (size_t)size : 1);
    assert_int_equal(fread(buf, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    *sizep = (size_t)size;
    return buf;
}

/* Opens "pcap:rx=IN,tx=OUT" in tmpdir, forwards every packet, closes, and
 * checks what was received against 'recs'. */
static void
forward_all(const char *in, const char *out, const struct rec *recs, size_t n,
            bool tx_nsec)
{
    char *spec = xasprintf("pcap:rx=%s,tx=%s", in, out);
    struct packet_batch b;
    struct port *port;
    char *error = NULL;
    size_t seen = 0;
    int ret;

    assert_int_equal(port_open(7, spec, tmpdir, &port, &error), 0);
    assert_null(error);
    assert_true(port_can_rx(port));
    assert_true(port_can_tx(port));
    port_set_tx_nsec(port, tx_nsec);
    while ((ret = port_rx_batch(port, &b)) > 0) {
        assert_int_equal(ret, b.count);
        assert_true(b.count <= PACKET_BATCH_MAX);
        for (unsigned int i = 0; i < b.count; i++) {
            const struct packet *p = b.pkts[i];
            uint8_t expect[16384];

            assert_true(seen < n);
            assert_int_equal(p->in_port, 7);
            assert_int_equal(p->len, recs[seen].caplen);
            assert_true(p->ts_ns == recs[seen].ts_ns);
            assert_int_equal(p->orig_len, recs[seen].len > recs[seen].caplen
                                              ? recs[seen].len
                                              : 0);
            fill_frame(expect, p->len, (unsigned int)seen);
            assert_memory_equal(packet_data(p), expect, p->len);
            assert_int_equal(port_tx(port, p), 0);
            seen++;
        }
        assert_int_equal(port_flush(port), 0);
    }
    assert_int_equal(ret, 0);
    assert_int_equal(seen, n);
    assert_int_equal(port->stats.rx_packets, n);
    assert_int_equal(port->stats.errors, 0);
    port_close(port);
    free(spec);
}

static void
assert_files_equal(const char *a, const char *b)
{
    size_t na, nb;
    uint8_t *da = read_file(a, &na);
    uint8_t *db = read_file(b, &nb);

    assert_int_equal(na, nb);
    assert_memory_equal(da, db, na);
    free(da);
    free(db);
}

static void
test_roundtrip_usec(void **state)
{
    struct rec recs[100];
    char *in = tmp_path("usec.pcap"), *out = tmp_path("usec-out.pcap");

    for (size_t i = 0; i < ARRAY_SIZE(recs); i++) {
        recs[i].ts_ns = 1700000000ull * 1000000000ull + i * 1234567000ull;
        recs[i].caplen = recs[i].len = (uint32_t)(60 + i * 13);
    }
    write_capture(in, recs, ARRAY_SIZE(recs), false, DLT_EN10MB);

    /* A microsecond input says so, and round-trips byte for byte. */
    {
        struct port *port;
        char *error;

        assert_int_equal(
            port_open(1, "pcap:rx=usec.pcap", tmpdir, &port, &error), 0);
        assert_false(port_rx_nsec(port));
        assert_false(port_can_tx(port));
        port_close(port);
    }
    forward_all("usec.pcap", "usec-out.pcap", recs, ARRAY_SIZE(recs), false);
    assert_files_equal(in, out);
    free(in);
    free(out);
}

static void
test_roundtrip_nsec(void **state)
{
    struct rec recs[70];
    char *in = tmp_path("nsec.pcap"), *out = tmp_path("nsec-out.pcap");

    for (size_t i = 0; i < ARRAY_SIZE(recs); i++) {
        recs[i].ts_ns = 1700000000ull * 1000000000ull + i * 123456789ull + 1;
        recs[i].caplen = recs[i].len = 64;
    }
    write_capture(in, recs, ARRAY_SIZE(recs), true, DLT_EN10MB);
    {
        struct port *port;
        char *error;

        assert_int_equal(
            port_open(1, "pcap:rx=nsec.pcap", tmpdir, &port, &error), 0);
        assert_true(port_rx_nsec(port));
        port_close(port);
    }
    forward_all("nsec.pcap", "nsec-out.pcap", recs, ARRAY_SIZE(recs), true);
    assert_files_equal(in, out);
    free(in);
    free(out);
}

/* Reads every packet of 'spec' into 'recs' (up to 'max'); returns the
 * count. */
static size_t
read_back(const char *spec, struct rec *recs, size_t max, uint8_t *first)
{
    struct packet_batch b;
    struct port *port;
    char *error = NULL;
    size_t n = 0;

    assert_int_equal(port_open(1, spec, tmpdir, &port, &error), 0);
    while (port_rx_batch(port, &b) > 0) {
        for (unsigned int i = 0; i < b.count && n < max; i++, n++) {
            recs[n].ts_ns = b.pkts[i]->ts_ns;
            recs[n].caplen = b.pkts[i]->len;
            recs[n].len = b.pkts[i]->orig_len;
            if (n == 0 && first) {
                memcpy(first, packet_data(b.pkts[i]), b.pkts[i]->len);
            }
        }
    }
    port_close(port);
    return n;
}

static void
test_nsec_to_usec_output(void **state)
{
    /* Written at microsecond precision, the sub-microsecond part is cut
     * and the output is a microsecond capture. */
    struct rec recs[3] = {
        {5000000123ull, 60, 60},
        {5000001999ull, 60, 60},
        {6999999999ull, 60, 60},
    };
    struct rec back[3];
    struct port *port;
    char *in = tmp_path("ns2us.pcap");

    write_capture(in, recs, 3, true, DLT_EN10MB);
    forward_all("ns2us.pcap", "ns2us-out.pcap", recs, 3, false);
    assert_int_equal(read_back("pcap:rx=ns2us-out.pcap", back, 3, NULL), 3);
    assert_true(back[0].ts_ns == 5000000000ull);
    assert_true(back[1].ts_ns == 5000001000ull);
    assert_true(back[2].ts_ns == 6999999000ull);
    {
        char *error;

        assert_int_equal(
            port_open(1, "pcap:rx=ns2us-out.pcap", tmpdir, &port, &error), 0);
        assert_false(port_rx_nsec(port));
        port_close(port);
    }
    free(in);
}

static void
test_truncated_records(void **state)
{
    struct rec recs[4] = {
        {1000, 40, 100},  /* Truncated. */
        {2000, 60, 60},   /* Complete. */
        {3000, 14, 1514}, /* Only the Ethernet header. */
        {4000, 0, 70},    /* Nothing captured at all. */
    };
    struct rec back[4];
    char *in = tmp_path("trunc.pcap"), *out = tmp_path("trunc-out.pcap");

    write_capture(in, recs, 4, false, DLT_EN10MB);
    forward_all("trunc.pcap", "trunc-out.pcap", recs, 4, false);
    /* Captured bytes and wire lengths are written back as they were. */
    assert_files_equal(in, out);
    assert_int_equal(read_back("pcap:rx=trunc-out.pcap", back, 4, NULL), 4);
    assert_int_equal(back[0].caplen, 40);
    assert_int_equal(back[0].len, 100);
    assert_int_equal(back[1].len, 0);
    assert_int_equal(back[2].len, 1514);
    assert_int_equal(back[3].caplen, 0);
    free(in);
    free(out);
}

static void
test_large_frames(void **state)
{
    /* Jumbo frames grow the reused buffers; a small one after them still
     * reads right. */
    struct rec recs[5] = {
        {1000, 60, 60}, {2000, 9018, 9018}, {3000, 16000, 16000},
        {4000, 61, 61}, {5000, 2048, 2048},
    };
    char *in = tmp_path("jumbo.pcap"), *out = tmp_path("jumbo-out.pcap");

    write_capture(in, recs, 5, false, DLT_EN10MB);
    forward_all("jumbo.pcap", "jumbo-out.pcap", recs, 5, false);
    assert_files_equal(in, out);
    free(in);
    free(out);
}

static void
test_empty_capture(void **state)
{
    struct packet_batch b;
    struct port *port;
    char *error;
    char *out = tmp_path("empty-out.pcap");
    struct rec none[1];
    size_t size;
    uint8_t *data;

    {
        char *in = tmp_path("empty.pcap");

        write_capture(in, NULL, 0, false, DLT_EN10MB);
        free(in);
    }
    /* Opened and closed before traffic starts: no file is created (a bad
     * configuration must not clobber outputs). */
    assert_int_equal(port_open(3, "pcap:rx=empty.pcap,tx=empty-out.pcap",
                               tmpdir, &port, &error),
                     0);
    port_close(port);
    assert_int_equal(access(out, F_OK), -1);

    assert_int_equal(port_open(3, "pcap:rx=empty.pcap,tx=empty-out.pcap",
                               tmpdir, &port, &error),
                     0);
    port_set_tx_nsec(port, false);
    assert_int_equal(port_rx_batch(port, &b), 0);
    assert_int_equal(b.count, 0);
    assert_int_equal(port_rx_batch(port, &b), 0);
    port_close(port);

    /* An output that got nothing is a valid capture with no packets. */
    data = read_file(out, &size);
    assert_int_equal(size, 24);
    free(data);
    assert_int_equal(read_back("pcap:rx=empty-out.pcap", none, 1, NULL), 0);
    free(out);
}

static void
test_tx_only_and_rx_only(void **state)
{
    struct port *port;
    struct packet *p = packet_new(100);
    char *error;
    struct rec back[2];
    uint8_t first[64];

    packet_set_data(p,
                    "\x01\x02\x03\x04\x05\x06\x0a\x0b\x0c\x0d\x0e\x0f"
                    "\x08\x00",
                    14);
    p->ts_ns = 42000;

    assert_int_equal(port_open(2, "pcap:tx=txonly.pcap", tmpdir, &port, &error),
                     0);
    assert_false(port_can_rx(port));
    assert_true(port_can_tx(port));
    {
        struct packet_batch b;

        assert_int_equal(port_rx_batch(port, &b), 0);
        assert_int_equal(b.count, 0);
    }
    assert_int_equal(port_tx(port, p), 0);
    assert_int_equal(port_tx(port, p), 0);
    assert_int_equal(port_flush(port), 0);
    assert_int_equal(port->stats.tx_packets, 2);
    assert_int_equal(port->stats.tx_bytes, 28);
    port_close(port);
    assert_int_equal(read_back("pcap:rx=txonly.pcap", back, 2, first), 2);
    assert_true(back[0].ts_ns == 42000);
    assert_int_equal(back[0].caplen, 14);
    assert_memory_equal(first, packet_data(p), 14);

    /* A port without tx= counts what it is asked to send as dropped. */
    assert_int_equal(port_open(2, "pcap:rx=txonly.pcap", tmpdir, &port, &error),
                     0);
    assert_int_equal(port_tx(port, p), -EOPNOTSUPP);
    assert_int_equal(port->stats.drops, 1);
    assert_int_equal(port->stats.tx_packets, 0);
    port_close(port);
    packet_destroy(p);
}

static void
test_write_errors(void **state)
{
    /* /dev/full accepts the open and fails every write with ENOSPC. */
    struct packet *p = packet_new(2048);
    uint8_t frame[1500];
    struct port *port;
    char *error;
    int err = 0;

    fill_frame(frame, sizeof frame, 1);
    packet_set_data(p, frame, sizeof frame);
    log_set_level("port_pcap", LOG_LEVEL_OFF);

    /* A small output fails when it is finally written, at close. */
    assert_int_equal(port_open(1, "pcap:tx=/dev/full", tmpdir, &port, &error),
                     0);
    port_set_tx_nsec(port, false);
    assert_int_equal(port_tx(port, p), 0);
    assert_int_equal(port_flush(port), 0);
    assert_int_equal(port_close(port), -ENOSPC);

    /* A large one fails while running, and counts errors. */
    assert_int_equal(port_open(1, "pcap:tx=/dev/full", tmpdir, &port, &error),
                     0);
    port_set_tx_nsec(port, false);
    for (int i = 0; i < 1000 && !err; i++) {
        assert_int_equal(port_tx(port, p), 0);
        err = port_flush(port);
    }
    assert_int_equal(err, -EIO);
    assert_true(port->stats.errors > 0);
    assert_int_not_equal(port_close(port), 0);
    log_set_level("port_pcap", LOG_LEVEL_WARN);
    packet_destroy(p);
}

/* port_open() must fail with a message containing 'needle'. */
static void
assert_open_fails(const char *spec, const char *needle)
{
    struct port *port = (struct port *)1;
    char *error = NULL;

    assert_true(port_open(1, spec, tmpdir, &port, &error) < 0);
    assert_null(port);
    assert_non_null(error);
    if (!strstr(error, needle)) {
        fail_msg("'%s': error '%s' lacks '%s'", spec, error, needle);
    }
    free(error);
}

static void
test_bad_files(void **state)
{
    char *garbage = tmp_path("garbage.pcap");
    char *cut = tmp_path("cut.pcap");
    FILE *f;
    struct rec recs[3] = {{1, 60, 60}, {2, 60, 60}, {3, 60, 60}};
    struct packet_batch b;
    struct port *port;
    char *error;
    size_t size;
    uint8_t *data;
    int log_pipe[2];
    char log_buf[1024];
    ssize_t n;

    assert_open_fails("pcap:rx=missing.pcap", "missing.pcap");

    f = fopen(garbage, "wb");
    fputs("this is not a capture file at all", f);
    fclose(f);
    assert_open_fails("pcap:rx=garbage.pcap", "garbage.pcap");

    f = fopen(garbage, "wb");
    fclose(f);
    assert_open_fails("pcap:rx=garbage.pcap", "garbage.pcap");

    {
        char *raw = tmp_path("raw.pcap");

        write_capture(raw, recs, 1, false, DLT_RAW);
        free(raw);
    }
    assert_open_fails("pcap:rx=raw.pcap", "not Ethernet");

    assert_open_fails("pcap:tx=no-such-dir/out.pcap", "no-such-dir");
    assert_open_fails("pcap:tx=.", "Is a directory");
    assert_open_fails("pcap:rx=a.pcap,tx=a.pcap", "different");

    /* A capture cut inside its last record: the whole records come
     * through, then one error. */
    write_capture(cut, recs, 3, false, DLT_EN10MB);
    data = read_file(cut, &size);
    f = fopen(cut, "wb");
    fwrite(data, 1, size - 30, f);
    fclose(f);
    free(data);
    assert_int_equal(port_open(1, "pcap:rx=cut.pcap", tmpdir, &port, &error),
                     0);
    /* The damage is logged once, naming the file. */
    assert_int_equal(pipe(log_pipe), 0);
    log_set_stream_fd(log_pipe[1]);
    assert_int_equal(port_rx_batch(port, &b), 2);
    assert_int_equal(port_rx_batch(port, &b), 0);
    log_set_stream_fd(2);
    close(log_pipe[1]);
    n = read(log_pipe[0], log_buf, sizeof log_buf - 1);
    close(log_pipe[0]);
    assert_true(n > 0);
    log_buf[n] = '\0';
    assert_non_null(strstr(log_buf, "cut.pcap"));
    assert_non_null(strstr(log_buf, "after 2 packets"));
    assert_ptr_equal(strchr(log_buf, '\n'), log_buf + n - 1);
    assert_int_equal(port->stats.rx_packets, 2);
    assert_int_equal(port->stats.errors, 1);
    port_close(port);
    free(garbage);
    free(cut);
}

/* port_spec_check() must fail at 'col' with a message containing
 * 'needle'. */
static void
assert_spec_error(const char *spec, int col, const char *needle)
{
    int err_col = 0;
    char *error = port_spec_check(spec, &err_col);

    if (!error) {
        fail_msg("'%s' accepted", spec);
    }
    if (!strstr(error, needle) || err_col != col) {
        fail_msg("'%s': got %d: '%s', want %d: ...%s...", spec, err_col, error,
                 col, needle);
    }
    free(error);
}

static void
test_spec_check(void **state)
{
    int col;

    assert_null(port_spec_check("pcap:rx=a.pcap", &col));
    assert_null(port_spec_check("pcap:tx=b.pcap", &col));
    assert_null(port_spec_check("pcap:tx=b.pcap,rx=a.pcap", &col));

    assert_spec_error("afunix:x", 1, "unknown port type 'afunix'");
    assert_spec_error("pcap", 5, "pcap:ARGS");
    assert_spec_error("pcap:", 6, "rx=FILE");
    assert_spec_error("pcap:rx", 6, "expected rx=FILE");
    assert_spec_error("pcap:rx=", 9, "needs a file name");
    assert_spec_error("pcap:rx=a,tx=", 14, "needs a file name");
    assert_spec_error("pcap:rx=a,bogus=1", 11,
                      "unknown pcap port option "
                      "'bogus'");
    assert_spec_error("pcap:rx=a,rx=b", 11, "rx given twice");
    assert_spec_error("pcap:rx=a,", 11, "trailing ','");
    assert_spec_error("pcap:rx=a,,tx=b", 11, "expected rx=FILE");
    assert_spec_error("pcap:rx=a,tx=a", 6, "different");
}

static void
test_open_numbers_and_paths(void **state)
{
    struct port *port;
    char *error;
    char *s;

    assert_open_fails("pcap:rx=x", "");
    assert_true(port_open(0, "pcap:tx=n.pcap", tmpdir, &port, &error) < 0);
    assert_non_null(strstr(error, "out of range"));
    free(error);
    assert_true(port_open(PORT_NUMBER_MAX + 1, "pcap:tx=n.pcap", tmpdir, &port,
                          &error) < 0);
    free(error);
    assert_int_equal(
        port_open(PORT_NUMBER_MAX, "pcap:tx=n.pcap", tmpdir, &port, &error), 0);
    assert_int_equal(port->number, PORT_NUMBER_MAX);
    assert_string_equal(port->spec, "pcap:tx=n.pcap");
    port_close(port);
    port_close(NULL);

    s = port_resolve_path("/base", "rel/x.pcap");
    assert_string_equal(s, "/base/rel/x.pcap");
    free(s);
    s = port_resolve_path("/base", "/abs.pcap");
    assert_string_equal(s, "/abs.pcap");
    free(s);
    s = port_resolve_path(NULL, "x.pcap");
    assert_string_equal(s, "x.pcap");
    free(s);

    s = port_spec_file("pcap:tx=o.pcap,rx=i.pcap", "/d", false);
    assert_string_equal(s, "/d/i.pcap");
    free(s);
    s = port_spec_file("pcap:tx=o.pcap,rx=i.pcap", "/d", true);
    assert_string_equal(s, "/d/o.pcap");
    free(s);
    assert_null(port_spec_file("pcap:tx=o.pcap", "/d", false));
    assert_null(port_spec_file("pcap:rx=i.pcap", "/d", true));
    assert_null(port_spec_file("nosuch:rx=i.pcap", "/d", false));

    /* Same file through different spellings, existing or not. */
    {
        char *a = tmp_path("same.pcap");
        char *b =
            xasprintf("%s/../%s/./same.pcap", tmpdir, strrchr(tmpdir, '/') + 1);
        FILE *f;

        /* Not yet created, then existing. */
        assert_true(port_same_file(a, b));
        assert_false(port_same_file(a, "/tmp/other.pcap"));
        f = fopen(a, "w");
        fclose(f);
        assert_true(port_same_file(a, b));
        assert_false(port_same_file(a, "/tmp/other.pcap"));
        free(a);
        free(b);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_usec),
        cmocka_unit_test(test_roundtrip_nsec),
        cmocka_unit_test(test_nsec_to_usec_output),
        cmocka_unit_test(test_truncated_records),
        cmocka_unit_test(test_large_frames),
        cmocka_unit_test(test_empty_capture),
        cmocka_unit_test(test_tx_only_and_rx_only),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_write_errors),
        cmocka_unit_test(test_spec_check),
        cmocka_unit_test(test_open_numbers_and_paths),
    };
    return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
