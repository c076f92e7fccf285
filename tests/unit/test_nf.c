/* Tests for src/nf: p0f signature parsing into the p0f filter's map. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "nf/nf_p0f.h"

static uint8_t
layout_code(const struct p0f_key *k, unsigned int from_last)
{
    /* from_last = 0 is the last code added. */
    return (uint8_t)(k->layout[from_last / 8] >> (8 * (from_last % 8)));
}

static void
test_sig_linux(void **state)
{
    (void)state;
    struct p0f_key keys[4];
    struct p0f_variant var;
    char *err = NULL;
    int n = nf_p0f_parse_sig("*:64:0:*:mss*20,10:mss,sok,ts,nop,ws:df,id+:0",
                             7, keys, &var, &err);
    assert_null(err);
    assert_int_equal(n, 2);              /* IPv4 and IPv6, pclass 0. */
    assert_int_equal(keys[0].ver, 4);
    assert_int_equal(keys[1].ver, 6);
    assert_int_equal(keys[0].ittl, 64);
    assert_int_equal(keys[0].olen, 0);
    assert_int_equal(keys[0].pclass, 0);
    assert_int_equal(keys[0].quirks, P0F_Q_DF | P0F_Q_NZ_ID);
    /* IPv4-only quirks vanish from the IPv6 key, as p0f ignores them. */
    assert_int_equal(keys[1].quirks, 0);
    assert_int_equal(keys[0].layout_len, 5);
    assert_int_equal(layout_code(&keys[0], 0), P0F_OPT_WS);
    assert_int_equal(layout_code(&keys[0], 1), P0F_OPT_NOP);
    assert_int_equal(layout_code(&keys[0], 2), P0F_OPT_TS);
    assert_int_equal(layout_code(&keys[0], 3), P0F_OPT_SOK);
    assert_int_equal(layout_code(&keys[0], 4), P0F_OPT_MSS);
    assert_int_equal(var.mss, P0F_ANY_MSS);
    assert_int_equal(var.wsize_kind, P0F_WSIZE_MSS);
    assert_int_equal(var.wsize, 20);
    assert_int_equal(var.scale, 10);
    assert_int_equal(var.label, 7);
}

static void
test_sig_forms(void **state)
{
    (void)state;
    struct p0f_key keys[4];
    struct p0f_variant var;
    char *err = NULL;

    /* Fixed MSS, %N window, eol+n padding, both payload classes. */
    int n = nf_p0f_parse_sig("4:128-:4:1460:%8192,*:mss,nop,eol+3::*", 0,
                             keys, &var, &err);
    assert_null(err);
    assert_int_equal(n, 2);
    assert_int_equal(keys[0].pclass, 0);
    assert_int_equal(keys[1].pclass, 1);
    assert_int_equal(keys[0].ittl, 128);
    assert_int_equal(keys[0].olen, 4);
    assert_int_equal(var.mss, 1460);
    assert_int_equal(var.wsize_kind, P0F_WSIZE_MOD);
    assert_int_equal(var.wsize, 8192);
    assert_int_equal(var.scale, P0F_ANY_SCALE);
    assert_int_equal(keys[0].layout_len, 4);
    assert_int_equal(layout_code(&keys[0], 0), 3);     /* eol padding. */
    assert_int_equal(layout_code(&keys[0], 1), P0F_OPT_EOL);

    /* Odd TTLs fall into their class; mtu*N and fixed windows. */
    n = nf_p0f_parse_sig("6:60:0:*:mtu*4,0:mss::+", 0, keys, &var, &err);
    assert_null(err);
    assert_int_equal(n, 1);
    assert_int_equal(keys[0].ittl, 64);
    assert_int_equal(keys[0].pclass, 1);
    assert_int_equal(var.wsize_kind, P0F_WSIZE_MTU);
    n = nf_p0f_parse_sig("4:255:0:*:65535,*:::0", 0, keys, &var, &err);
    assert_null(err);
    assert_int_equal(var.wsize_kind, P0F_WSIZE_FIXED);
    assert_int_equal(var.wsize, 65535);
    assert_int_equal(keys[0].layout_len, 0);
}

static void
test_sig_errors(void **state)
{
    (void)state;
    static const struct {
        const char *sig;
        const char *msg;
    } cases[] = {
        { "4:64:0:*:mss*20,10:mss", "expected 8" },
        { "4:64:0:*:mss*20,10:mss::0:extra", "more than 8" },
        { "5:64:0:*:mss*20,10:mss::0", "bad IP version '5'" },
        { "4:abc:0:*:mss*20,10:mss::0", "bad initial TTL 'abc'" },
        { "4:64:41:*:mss*20,10:mss::0", "bad IP option length '41'" },
        { "4:64:0:x:mss*20,10:mss::0", "bad MSS 'x'" },
        { "4:64:0:*:mss*20:mss::0", "lacks ',scale'" },
        { "4:64:0:*:foo,10:mss::0", "bad window size 'foo'" },
        { "4:64:0:*:%0,10:mss::0", "bad window size '%0'" },
        { "4:64:0:*:mss*20,x:mss::0", "bad window scale 'x'" },
        { "4:64:0:*:mss*20,10:mss,bogus::0", "bad TCP option 'bogus'" },
        { "4:64:0:*:mss*20,10:mss:df,weird:0", "unknown quirk 'weird'" },
        { "4:64:0:*:mss*20,10:mss::2", "bad payload class '2'" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct p0f_key keys[4];
        struct p0f_variant var;
        char *err = NULL;
        int n = nf_p0f_parse_sig(cases[i].sig, 0, keys, &var, &err);
        assert_int_equal(n, -1);
        assert_non_null(err);
        if (!strstr(err, cases[i].msg)) {
            fail_msg("'%s': got '%s', want '%s'", cases[i].sig, err,
                     cases[i].msg);
        }
        free(err);
    }
}

static char *
write_temp(const char *text)
{
    char *path = strdup("/tmp/sluice-p0f-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static void
test_load_subset(void **state)
{
    (void)state;
    char *path = write_temp(
        "; comment\n"
        "[mtu]\n"
        "label = Ethernet\n"
        "sig   = 1500\n"
        "[tcp:request]\n"
        "label = s:unix:Linux:3.11 and newer\n"
        "sig   = *:64:0:*:mss*20,10:mss,sok,ts,nop,ws:df,id+:0\n"
        "sig   = *:64:0:*:mss*20,7:mss,sok,ts,nop,ws:df,id+:0\n"
        "label = s:win:Windows:7 or 8\n"
        "sys   = Windows\n"
        "sig   = *:128:0:*:8192,8:mss,nop,ws,nop,nop,sok:df,id+:0\n"
        "[tcp:response]\n"
        "label = s:unix:Linux:3.x\n"
        "sig   = *:64:0:*:mss*10,0:mss:df:0\n");
    struct nf_p0f_db db;

    char *err = nf_p0f_load(path, NULL, &db);
    assert_null(err);
    assert_int_equal(db.n_labels, 2);
    assert_int_equal(db.n_sigs, 3);
    /* Two Linux variants share their v4 key and their v6 key. */
    assert_int_equal(db.n_groups, 4);
    assert_int_equal(db.groups[0].sigs.n, 2);
    assert_string_equal(db.labels[1], "s:win:Windows:7 or 8");
    nf_p0f_db_destroy(&db);

    err = nf_p0f_load(path, "Windows", &db);
    assert_null(err);
    assert_int_equal(db.n_labels, 1);
    assert_int_equal(db.n_sigs, 1);
    assert_int_equal(db.n_groups, 2);
    nf_p0f_db_destroy(&db);
    unlink(path);
    free(path);
}

static void
test_load_errors(void **state)
{
    (void)state;
    struct nf_p0f_db db;
    char *err = nf_p0f_load("/nonexistent/p0f.fp", NULL, &db);
    assert_non_null(err);
    assert_non_null(strstr(err, "No such file"));
    free(err);

    char *path = write_temp("[tcp:request]\nlabel = x\nsig = 4:64:0\n");
    err = nf_p0f_load(path, NULL, &db);
    assert_non_null(err);
    char *want = NULL;
    assert_true(asprintf(&want, "%s:3: expected 8", path) > 0);
    assert_true(!strncmp(err, want, strlen(want)));
    free(want);
    free(err);
    unlink(path);
    free(path);
}

static void
test_system_p0f_fp(void **state)
{
    (void)state;
    const char *path = "/etc/p0f/p0f.fp";
    if (access(path, R_OK) != 0) {
        skip();
    }
    struct nf_p0f_db db;
    char *err = nf_p0f_load(path, NULL, &db);
    if (err) {
        fail_msg("%s", err);
    }
    assert_true(db.n_sigs > 50);
    assert_true(db.n_groups > 20);
    nf_p0f_db_destroy(&db);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sig_linux),
        cmocka_unit_test(test_sig_forms),
        cmocka_unit_test(test_sig_errors),
        cmocka_unit_test(test_load_subset),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_system_p0f_fp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
