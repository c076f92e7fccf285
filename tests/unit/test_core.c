/* Unit tests for src/core: the ds string buffer, hex_to_bytes, log levels,
 * log output and the rate limiter, and the hash functions (word/byte
 * agreement, alignment independence, seeding, avalanche, spread). */
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

#include "core/hash.h"
#include "core/log.h"
#include "core/util.h"

LOG_DEFINE_MODULE(coretest);

static void
test_ds_basic(void **state)
{
    struct ds s = DS_EMPTY_INITIALIZER;

    assert_string_equal(ds_cstr(&s), "");
    ds_put_cstr(&s, "abc");
    ds_put_char(&s, '-');
    ds_put_format(&s, "%d/%s", 42, "x");
    ds_put_buf(&s, "yz\0q", 2);
    assert_string_equal(ds_cstr(&s), "abc-42/xyz");
    assert_int_equal(s.len, 10);

    ds_chomp(&s, 'z');
    assert_string_equal(ds_cstr(&s), "abc-42/xy");
    ds_chomp(&s, 'q');
    assert_string_equal(ds_cstr(&s), "abc-42/xy");

    ds_clear(&s);
    assert_int_equal(s.len, 0);
    assert_string_equal(ds_cstr(&s), "");
    ds_destroy(&s);
}

static void
test_ds_growth(void **state)
{
    struct ds s = DS_EMPTY_INITIALIZER;
    char *stolen;

    /* Many appends and one format larger than any small initial buffer. */
    for (int i = 0; i < 1000; i++) {
        ds_put_format(&s, "%04d", i);
    }
    assert_int_equal(s.len, 4000);
    assert_memory_equal(s.buf + 3996, "0999", 4);
    ds_put_format(&s, "%5000s", "end");
    assert_int_equal(s.len, 9000);
    assert_string_equal(s.buf + 8997, "end");

    stolen = ds_steal_cstr(&s);
    assert_int_equal(strlen(stolen), 9000);
    assert_int_equal(s.len, 0);
    assert_string_equal(ds_cstr(&s), "");
    free(stolen);
    ds_destroy(&s);
}

static void
test_ds_hex(void **state)
{
    static const uint8_t bytes[] = {0x00, 0x0f, 0xa0, 0xff};
    struct ds s = DS_EMPTY_INITIALIZER;

    ds_put_hex(&s, bytes, sizeof bytes);
    assert_string_equal(ds_cstr(&s), "000fa0ff");
    ds_destroy(&s);
}

static void
test_hex_to_bytes(void **state)
{
    uint8_t *out;
    size_t len;
    char *error;

    error = hex_to_bytes("0a:0B cc\tDD", &out, &len);
    assert_null(error);
    assert_int_equal(len, 4);
    assert_memory_equal(out, "\x0a\x0b\xcc\xdd", 4);
    free(out);

    error = hex_to_bytes("0x0102", &out, &len);
    assert_null(error);
    assert_int_equal(len, 2);
    assert_memory_equal(out, "\x01\x02", 2);
    free(out);

    error = hex_to_bytes("", &out, &len);
    assert_null(error);
    assert_int_equal(len, 0);
    free(out);
}

static void
test_hex_to_bytes_errors(void **state)
{
    uint8_t *out = NULL;
    size_t len = 0;
    char *error;

    error = hex_to_bytes("abc", &out, &len);
    assert_non_null(error);
    assert_non_null(strstr(error, "odd"));
    free(error);

    error = hex_to_bytes("01 0g", &out, &len);
    assert_non_null(error);
    assert_non_null(strstr(error, "column 5"));
    assert_non_null(strstr(error, "'g'"));
    free(error);

    error = hex_to_bytes("-1", &out, &len);
    assert_non_null(error);
    assert_non_null(strstr(error, "column 1"));
    free(error);
    assert_null(out);
}

static void
test_log_levels(void **state)
{
    assert_int_equal(log_level_from_string("off"), LOG_LEVEL_OFF);
    assert_int_equal(log_level_from_string("err"), LOG_LEVEL_ERR);
    assert_int_equal(log_level_from_string("warn"), LOG_LEVEL_WARN);
    assert_int_equal(log_level_from_string("info"), LOG_LEVEL_INFO);
    assert_int_equal(log_level_from_string("dbg"), LOG_LEVEL_DBG);
    assert_int_equal(log_level_from_string("debug"), LOG_LEVEL_DBG);
    assert_int_equal(log_level_from_string("loud"), -1);
    assert_int_equal(log_level_from_string(""), -1);

    assert_int_equal(log_set_level("no_such_module", LOG_LEVEL_DBG), -ENOENT);
    assert_int_equal(log_set_level("coretest", LOG_LEVEL_INFO), 0);
    assert_int_equal(log_module_.level, LOG_LEVEL_INFO);
    log_set_level_all(LOG_LEVEL_ERR);
    assert_int_equal(log_module_.level, LOG_LEVEL_ERR);
    log_set_level("coretest", LOG_LEVEL_WARN);
}

/* Runs the log macros with output going to a pipe; returns what arrived. */
static char *
capture_log(enum log_level level)
{
    char buf[4096];
    int fds[2];
    ssize_t n;

    assert_int_equal(pipe(fds), 0);
    log_set_stream_fd(fds[1]);
    log_set_level("coretest", level);
    LOG_ERR("e %d", 1);
    LOG_WARN("w %s", "two");
    LOG_INFO("i");
    LOG_DBG("d");
    log_set_stream_fd(2);
    close(fds[1]);
    n = read(fds[0], buf, sizeof buf - 1);
    close(fds[0]);
    assert_true(n >= 0);
    buf[n] = '\0';
    return xstrdup(buf);
}

static void
test_log_output(void **state)
{
    char *out;

    out = capture_log(LOG_LEVEL_WARN);
    assert_string_equal(out, "sluice|coretest|ERR: e 1\n"
                             "sluice|coretest|WARN: w two\n");
    free(out);

    out = capture_log(LOG_LEVEL_DBG);
    assert_string_equal(out, "sluice|coretest|ERR: e 1\n"
                             "sluice|coretest|WARN: w two\n"
                             "sluice|coretest|INFO: i\n"
                             "sluice|coretest|DBG: d\n");
    free(out);

    out = capture_log(LOG_LEVEL_OFF);
    assert_string_equal(out, "");
    free(out);
    log_set_level("coretest", LOG_LEVEL_WARN);
}

static void
test_log_long_message(void **state)
{
    char big[3000];
    char buf[4096];
    int fds[2];
    ssize_t n;

    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(pipe(fds), 0);
    log_set_stream_fd(fds[1]);
    LOG_ERR("%s", big);
    log_set_stream_fd(2);
    close(fds[1]);
    n = read(fds[0], buf, sizeof buf);
    close(fds[0]);
    /* Truncated to the line buffer, still one newline-terminated line. */
    assert_true(n > 100 && n < (ssize_t)sizeof big);
    assert_int_equal(buf[n - 1], '\n');
    assert_null(memchr(buf, '\n', (size_t)n - 1));
}

static void
test_log_rate_limit(void **state)
{
    struct log_rl rl = LOG_RL_INIT(5, 20);
    int allowed = 0;

    /* A burst: exactly 'burst' messages pass, the rest are counted. */
    for (int i = 0; i < 100; i++) {
        allowed += log_rl_allow(&rl);
    }
    assert_int_equal(allowed, 20);
    assert_int_equal(rl.dropped, 80);

    /* After 0.5 s at 5/s, two more tokens (and not many more). */
    usleep(500 * 1000);
    allowed = 0;
    for (int i = 0; i < 100; i++) {
        allowed += log_rl_allow(&rl);
    }
    assert_in_range(allowed, 2, 4);
}

static void
test_hash_words_match_bytes(void **state)
{
    uint64_t words[11];

    for (size_t i = 0; i < ARRAY_SIZE(words); i++) {
        words[i] = 0x0123456789abcdefull * (i + 1);
    }
    /* hash_words64 feeds the same 32-bit halves, in the same order, as
     * hash_bytes on a little-endian machine. */
    for (size_t n = 0; n <= ARRAY_SIZE(words); n++) {
        assert_int_equal(hash_words64(words, n, 7),
                         hash_bytes(words, n * 8, 7));
    }
}

static void
test_hash_bytes_properties(void **state)
{
    uint8_t buf[64 + 8];
    uint32_t h;

    for (size_t i = 0; i < sizeof buf; i++) {
        buf[i] = (uint8_t)(i * 37 + 11);
    }
    h = hash_bytes(buf, 64, 0);
    assert_int_equal(h, hash_bytes(buf, 64, 0));
    assert_int_not_equal(h, hash_bytes(buf, 64, 1));
    assert_int_not_equal(h, hash_bytes(buf, 63, 0));

    /* Alignment does not matter, and every tail length is read. */
    for (size_t n = 0; n <= 13; n++) {
        uint8_t copy[32];

        memcpy(copy + 3, buf, n);
        assert_int_equal(hash_bytes(buf, n, 5), hash_bytes(copy + 3, n, 5));
        if (n) {
            uint32_t before = hash_bytes(buf, n, 5);

            buf[n - 1] ^= 0x80;
            assert_int_not_equal(before, hash_bytes(buf, n, 5));
            buf[n - 1] ^= 0x80;
        }
    }
    /* Zero bytes still count: lengths differ, hashes differ. */
    memset(buf, 0, sizeof buf);
    assert_int_not_equal(hash_bytes(buf, 4, 0), hash_bytes(buf, 8, 0));
}

static void
test_hash_avalanche(void **state)
{
    /* Flipping one input bit flips about half of the output bits. */
    uint64_t total = 0;
    int samples = 0;

    for (uint32_t x = 1; x < 2000; x += 7) {
        uint64_t key[2] = {x * 0x9e3779b97f4a7c15ull, x};
        uint32_t h = hash_words64(key, 2, 0);

        for (int bit = 0; bit < 128; bit++) {
            uint64_t k2[2] = {key[0], key[1]};

            k2[bit / 64] ^= 1ull << (bit % 64);
            total += __builtin_popcount(h ^ hash_words64(k2, 2, 0));
            samples++;
        }
    }
    assert_in_range(total * 100 / samples, 1500, 1700);
}

static void
test_hash_spread(void **state)
{
    /* Sequential keys spread evenly over 1024 buckets. */
    enum { N_BUCKETS = 1024, N_KEYS = 64 * N_BUCKETS };
    static unsigned int buckets[N_BUCKETS];
    unsigned int max = 0, min = UINT32_MAX;

    for (uint32_t i = 0; i < N_KEYS; i++) {
        buckets[hash_bytes(&i, sizeof i, 0) % N_BUCKETS]++;
    }
    for (int i = 0; i < N_BUCKETS; i++) {
        max = MAX(max, buckets[i]);
        min = MIN(min, buckets[i]);
    }
    /* Mean 64, standard deviation 8: +-5 sigma. */
    assert_in_range(max, 64, 104);
    assert_in_range(min, 24, 64);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ds_basic),
        cmocka_unit_test(test_ds_growth),
        cmocka_unit_test(test_ds_hex),
        cmocka_unit_test(test_hex_to_bytes),
        cmocka_unit_test(test_hex_to_bytes_errors),
        cmocka_unit_test(test_log_levels),
        cmocka_unit_test(test_log_output),
        cmocka_unit_test(test_log_long_message),
        cmocka_unit_test(test_log_rate_limit),
        cmocka_unit_test(test_hash_words_match_bytes),
        cmocka_unit_test(test_hash_bytes_properties),
        cmocka_unit_test(test_hash_avalanche),
        cmocka_unit_test(test_hash_spread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
