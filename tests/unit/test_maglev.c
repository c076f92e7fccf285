/* Unit tests of the Maglev lookup table (src/nf/nf_lb.c) and the load
 * balancer's configuration parsers: every slot filled, balance within one
 * slot for equal weights, proportional shares for weights, minimal
 * disruption when a backend is removed, and the backends-file errors.
 * Then progs/lb.o itself, loaded and verified, runs packets in-process
 * with backends going down and up between them: placement by
 * table[hash mod M], connection affinity, only the dead backend's flows
 * moving, a full connection table still forwarding, and pass-through. */
#include <arpa/inet.h>
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

#include "bpf/bpf_api.h"
#include "bpf/bpf_int.h"
#include "nf/nf_lb.h"
#include "nf/nf_nat.h"

#define M_BIG 65537
#define NAMES_MAX 16

static const char *names[NAMES_MAX] = {
    "web-a", "web-b", "web-c", "web-d", "web-e", "web-f", "web-g", "web-h",
    "db-1",  "db-2",  "db-3",  "db-4",  "x",     "y",     "z",     "w"};

static void
count_owned(const uint32_t *table, uint32_t m, size_t n, uint32_t *owned)
{
    memset(owned, 0, n * sizeof *owned);
    for (uint32_t s = 0; s < m; s++) {
        assert_true(table[s] < n);
        owned[table[s]]++;
    }
}

static void
test_primes(void **state)
{
    (void)state;
    assert_true(nf_lb_is_prime(2));
    assert_true(nf_lb_is_prime(251));
    assert_true(nf_lb_is_prime(65537));
    assert_false(nf_lb_is_prime(0));
    assert_false(nf_lb_is_prime(1));
    assert_false(nf_lb_is_prime(65536));
    assert_false(nf_lb_is_prime(65535));
    uint32_t w[1] = {1}, t[4];
    assert_int_equal(nf_lb_maglev(names, w, NULL, 1, 4, t), -EINVAL);
    uint32_t w0[1] = {0};
    assert_int_equal(nf_lb_maglev(names, w0, NULL, 1, 5, t), -EINVAL);
}

static void
test_every_slot_balanced(void **state)
{
    (void)state;
    uint32_t *table = malloc(M_BIG * sizeof *table);
    uint32_t w[NAMES_MAX], owned[NAMES_MAX];
    for (int i = 0; i < NAMES_MAX; i++) {
        w[i] = 1;
    }
    for (size_t n = 1; n <= NAMES_MAX; n++) {
        const uint32_t ms[] = {M_BIG, 251, 17};
        for (size_t j = 0; j < 3; j++) {
            uint32_t m = ms[j];
            if (m < n) {
                continue;
            }
            assert_int_equal(nf_lb_maglev(names, w, NULL, n, m, table), 0);
            count_owned(table, m, n, owned);
            for (size_t i = 0; i < n; i++) {
                assert_true(owned[i] == m / n || owned[i] == (m + n - 1) / n);
            }
        }
    }
    free(table);
}

static void
test_weights(void **state)
{
    (void)state;
    uint32_t *table = malloc(M_BIG * sizeof *table);
    uint32_t w[3] = {1, 2, 5}, owned[3];
    assert_int_equal(nf_lb_maglev(names, w, NULL, 3, M_BIG, table), 0);
    count_owned(table, M_BIG, 3, owned);
    /* Shares within one round (8 slots) of M * w / 8. */
    for (int i = 0; i < 3; i++) {
        double want = (double)M_BIG * w[i] / 8;
        assert_true(owned[i] >= want - 8 && owned[i] <= want + 8);
    }
    free(table);
}

static void
test_removal_moves_few(void **state)
{
    (void)state;
    uint32_t *before = malloc(M_BIG * sizeof *before);
    uint32_t *after = malloc(M_BIG * sizeof *after);
    uint32_t w[NAMES_MAX];
    bool up[NAMES_MAX];
    for (int i = 0; i < NAMES_MAX; i++) {
        w[i] = 1;
        up[i] = true;
    }
    for (size_t n = 3; n <= 10; n++) {
        assert_int_equal(nf_lb_maglev(names, w, up, n, M_BIG, before), 0);
        for (size_t gone = 0; gone < n; gone++) {
            up[gone] = false;
            assert_int_equal(nf_lb_maglev(names, w, up, n, M_BIG, after), 0);
            up[gone] = true;
            uint32_t changed = 0, owned_gone = 0;
            for (uint32_t s = 0; s < M_BIG; s++) {
                assert_true(after[s] != gone);
                owned_gone += before[s] == gone;
                changed += before[s] != after[s];
            }
            /* All of its slots move, plus a small fraction more: Maglev
             * reports a few percent of the table for small N. */
            assert_true(changed >= owned_gone);
            assert_true(changed <= owned_gone + M_BIG / 20);
        }
    }
    /* No backend up: every slot says so. */
    for (size_t i = 0; i < 3; i++) {
        up[i] = false;
    }
    assert_int_equal(nf_lb_maglev(names, w, up, 3, 17, after), 0);
    for (uint32_t s = 0; s < 17; s++) {
        assert_int_equal(after[s], LB_NO_BACKEND);
    }
    free(before);
    free(after);
}

static char *
write_file(const char *text)
{
    char *path = strdup("/tmp/test_maglev_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

static void
expect_backends_error(const char *text, const char *needle)
{
    char *path = write_file(text);
    struct lb_backend *list = NULL;
    size_t n = 0;
    char *error = nf_lb_parse_backends(path, &list, &n);
    assert_non_null(error);
    if (!strstr(error, needle)) {
        fail_msg("'%s' lacks '%s'", error, needle);
    }
    free(error);
    unlink(path);
    free(path);
}

static void
test_backends_file(void **state)
{
    (void)state;
    char *path = write_file("# backends\n"
                            "a 10.0.0.1 02:00:00:00:00:0a 2\n"
                            "\n"
                            "b 10.0.0.2 02:00:00:00:00:0b 3 4  # heavy\n");
    struct lb_backend *list = NULL;
    size_t n = 0;
    char *error = nf_lb_parse_backends(path, &list, &n);
    assert_null(error);
    assert_int_equal(n, 2);
    assert_string_equal(list[1].name, "b");
    assert_int_equal(list[1].ip, htonl(0x0a000002));
    assert_int_equal(list[1].mac[5], 0x0b);
    assert_int_equal(list[1].port, 3);
    assert_int_equal(list[1].weight, 4);
    assert_int_equal(list[0].weight, 1);
    assert_int_equal(list[0].up, 1);
    free(list);
    unlink(path);
    free(path);

    expect_backends_error("a 10.0.0.1 02:00:00:00:00:0a\n", ":1: expected");
    expect_backends_error("\na 10.0.0.300 02:00:00:00:00:0a 2\n",
                          ":2: bad IPv4");
    expect_backends_error("a 10.0.0.1 02:00:00:00:0a 2\n", ":1: bad MAC");
    expect_backends_error("a 10.0.0.1 02:00:00:00:00:0a 0\n", ":1: port");
    expect_backends_error("a 10.0.0.1 02:00:00:00:00:0a 2 0\n", ":1: weight");
    expect_backends_error("a 10.0.0.1 02:00:00:00:00:0a 2\n"
                          "a 10.0.0.2 02:00:00:00:00:0b 2\n",
                          ":2: backend 'a' listed twice");
    expect_backends_error("# nothing\n", "no backends");
    expect_backends_error("a b c d e f g\n", ":1: expected");
}

static void
test_params(void **state)
{
    (void)state;
    struct nf_lb_params lp;
    int bad = -1;
    char *ok[] = {"vip=192.0.2.1:80", "table=251", "timeout=1.5"};
    assert_null(nf_lb_parse(3, ok, &lp, &bad));
    assert_int_equal(lp.table_size, 251);
    assert_int_equal(lp.vport, htons(80));
    assert_int_equal(lp.timeout_ns, 1500000000ull);
    char *notprime[] = {"vip=192.0.2.1:80", "table=250"};
    char *error = nf_lb_parse(2, notprime, &lp, &bad);
    assert_non_null(error);
    assert_int_equal(bad, 1);
    free(error);
    char *novip[] = {"table=251"};
    error = nf_lb_parse(1, novip, &lp, &bad);
    assert_non_null(error);
    free(error);

    struct nf_nat_params np;
    char *nat[] = {"wan=2", "ip=198.51.100.1", "first_port=60000",
                   "capacity=5536", "timeout=30"};
    assert_null(nf_nat_parse(5, nat, &np, &bad));
    assert_int_equal(np.capacity, 5536);
    assert_int_equal(np.timeout_ns, 30000000000ull);
    char *over[] = {"wan=2", "ip=198.51.100.1", "first_port=60000",
                    "capacity=5537"};
    error = nf_nat_parse(4, over, &np, &bad);
    assert_non_null(error);
    assert_non_null(strstr(error, "exceed 65536"));
    free(error);
    char *unknown[] = {"wan=2", "mtu=1500"};
    error = nf_nat_parse(2, unknown, &np, &bad);
    assert_non_null(error);
    assert_int_equal(bad, 1);
    free(error);
    uint64_t ns;
    error = nf_parse_seconds("1.0000000001", &ns);
    assert_non_null(error);
    free(error);
}

/* --- progs/lb.o in-process ------------------------------------------- */

#define LB_M 251
#define VIP 0xc0000264u /* 192.0.2.100 */
#define N_FLOWS 400

struct lb_run {
    struct bpf_object *obj;
    struct bpf_prog *prog;
    struct bpf_map *table;
    uint8_t frame[128];
};

static const char *lb_names[3] = {"alpha", "bravo", "charlie"};

static uint16_t
csum_fold(uint32_t sum)
{
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return (uint16_t)~sum;
}

static uint32_t
csum_add(uint32_t sum, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i + 1 < n; i += 2) {
        sum += (uint32_t)(p[i] << 8 | p[i + 1]);
    }
    return sum;
}

/* Builds Ethernet + IPv4 + TCP (54 bytes) with correct checksums. */
static size_t
build_tcp(uint8_t *f, uint32_t src, uint32_t dst, uint16_t sport,
          uint16_t dport, uint8_t proto)
{
    memset(f, 0, 54);
    f[12] = 0x08;
    uint8_t *ip = f + 14, *tcp = f + 34;
    ip[0] = 0x45;
    ip[3] = 40;
    ip[8] = 64;
    ip[9] = proto;
    uint32_t s = htonl(src), d = htonl(dst);
    memcpy(ip + 12, &s, 4);
    memcpy(ip + 16, &d, 4);
    uint16_t c = htons(csum_fold(csum_add(0, ip, 20)));
    memcpy(ip + 10, &c, 2);
    tcp[0] = (uint8_t)(sport >> 8);
    tcp[1] = (uint8_t)sport;
    tcp[2] = (uint8_t)(dport >> 8);
    tcp[3] = (uint8_t)dport;
    tcp[12] = 0x50;
    tcp[13] = 0x10;
    uint8_t pseudo[12];
    memcpy(pseudo, ip + 12, 8);
    pseudo[8] = 0;
    pseudo[9] = 6;
    pseudo[10] = 0;
    pseudo[11] = 20;
    c = htons(csum_fold(csum_add(csum_add(0, pseudo, 12), tcp, 20)));
    memcpy(tcp + 16, &c, 2);
    return 54;
}

static bool
checksums_ok(const uint8_t *f)
{
    const uint8_t *ip = f + 14, *tcp = f + 34;
    uint8_t pseudo[12];
    memcpy(pseudo, ip + 12, 8);
    pseudo[8] = 0;
    pseudo[9] = 6;
    pseudo[10] = 0;
    pseudo[11] = 20;
    return csum_fold(csum_add(0, ip, 20)) == 0 &&
           csum_fold(csum_add(csum_add(0, pseudo, 12), tcp, 20)) == 0;
}

static struct lb_run *
lb_open(uint32_t capacity)
{
    struct lb_run *r = calloc(1, sizeof *r);
    const char *root = getenv("SLUICE_BUILD_ROOT");
    char path[4096];
    char *err = NULL;
    snprintf(path, sizeof path, "%s/progs/lb.o", root ? root : ".");
    if (bpf_object_open(path, NULL, &r->obj, &err)) {
        fail_msg("%s: %s", path, err);
    }
    r->prog = bpf_object_find_prog(r->obj, "xdp");
    assert_non_null(r->prog);
    struct bpf_verify_result vr;
    assert_int_equal(bpf_prog_verify(r->prog, &vr), 0);
    assert_true(vr.accepted);
    bpf_verify_result_destroy(&vr);
    struct lb_backend list[3];
    memset(list, 0, sizeof list);
    for (int i = 0; i < 3; i++) {
        strcpy(list[i].name, lb_names[i]);
        list[i].ip = htonl(0x0a000101u + (uint32_t)i);
        list[i].port = 2 + (uint32_t)i;
        list[i].mac[5] = (uint8_t)(0xa0 + i);
        list[i].up = 1;
        list[i].weight = 1;
    }
    struct nf_lb_params lp = {
        .vip = htonl(VIP),
        .vport = htons(80),
        .table_size = LB_M,
        .capacity = capacity,
        .timeout_ns = 60ull * 1000000000ull,
    };
    assert_null(nf_lb_apply(r->obj, &lp, list, 3));
    r->table = bpf_object_find_map(r->obj, "lb_table");
    return r;
}

/* Runs flow 'i' (client 10.9.x.y:1000+i -> VIP:80) at 't' seconds.
 * Returns the backend index it went to, -1 for XDP_PASS, -2 for drop. */
static int
lb_send(struct lb_run *r, uint32_t client, uint16_t sport, uint32_t dst,
        uint16_t dport, uint8_t proto, uint64_t t)
{
    size_t len = build_tcp(r->frame, client, dst, sport, dport, proto);
    struct bpf_xdp_buff ctx = {
        .data = (uintptr_t)r->frame,
        .data_end = (uintptr_t)(r->frame + len),
        .data_meta = (uintptr_t)r->frame,
        .data_hard_start = (uintptr_t)r->frame,
        .frame_end = (uintptr_t)(r->frame + sizeof r->frame),
        .ingress_ifindex = 1,
    };
    bpf_set_time_ns(t * 1000000000ull);
    uint64_t rc = bpf_prog_run_xdp(r->prog, &ctx);
    if (rc == XDP_PASS) {
        return -1;
    }
    if (rc != XDP_REDIRECT) {
        return -2;
    }
    int b = (int)ctx.redirect_port - 2;
    assert_true(b >= 0 && b < 3);
    uint32_t ip;
    memcpy(&ip, r->frame + 30, 4);
    assert_int_equal(ntohl(ip), 0x0a000101u + (uint32_t)b);
    assert_int_equal(r->frame[5], 0xa0 + b);
    assert_true(checksums_ok(r->frame));
    return b;
}

static int
flow_send(struct lb_run *r, int i, uint64_t t)
{
    return lb_send(r, 0x0a090000u + (uint32_t)i, (uint16_t)(1000 + i), VIP, 80,
                   6, t);
}

/* What the lookup table says for flow 'i' now. */
static int
table_says(struct lb_run *r, int i)
{
    struct lb_flow_key k = {
        .src_ip = htonl(0x0a090000u + (uint32_t)i),
        .dst_ip = htonl(VIP),
        .src_port = htons((uint16_t)(1000 + i)),
        .dst_port = htons(80),
        .proto = 6,
    };
    uint32_t slot = lb_flow_hash(&k) % LB_M, b;
    assert_int_equal(bpf_map_lookup(r->table, &slot, &b), 0);
    return (int)b;
}

static void
lb_close(struct lb_run *r)
{
    bpf_object_close(r->obj);
    free(r);
}

static void
test_lb_prog_down_and_up(void **state)
{
    (void)state;
    struct lb_run *r = lb_open(1000);
    int first[N_FLOWS], used[3] = {0};
    for (int i = 0; i < N_FLOWS; i++) {
        first[i] = flow_send(r, i, 1);
        assert_int_equal(first[i], table_says(r, i));
        used[first[i]]++;
    }
    for (int b = 0; b < 3; b++) {
        assert_true(used[b] > N_FLOWS / 6);
    }
    /* Affinity: the same flows stay put. */
    for (int i = 0; i < N_FLOWS; i++) {
        assert_int_equal(flow_send(r, i, 2), first[i]);
    }
    /* Bravo goes down: only its flows move; the others keep their
     * backend even where the rebuilt table now says otherwise. */
    assert_null(nf_lb_set_up(r->obj, "bravo", false));
    int second[N_FLOWS], kept_against_table = 0;
    for (int i = 0; i < N_FLOWS; i++) {
        int now_table = table_says(r, i);
        assert_int_not_equal(now_table, 1);
        second[i] = flow_send(r, i, 3);
        if (first[i] == 1) {
            assert_int_equal(second[i], now_table);
        } else {
            assert_int_equal(second[i], first[i]);
            kept_against_table += now_table != first[i];
        }
    }
    /* Maglev moves few other slots, but some: the connection table is
     * what keeps those flows in place. */
    assert_true(kept_against_table > 0);
    /* New flows never go to the dead backend. */
    for (int i = N_FLOWS; i < 2 * N_FLOWS; i++) {
        assert_int_not_equal(flow_send(r, i, 4), 1);
    }
    /* Bravo comes back: established flows stay where they are. */
    assert_null(nf_lb_set_up(r->obj, "bravo", true));
    for (int i = 0; i < N_FLOWS; i++) {
        assert_int_equal(flow_send(r, i, 5), second[i]);
    }
    /* After the idle timeout flows are placed by the table again. */
    for (int i = 0; i < N_FLOWS; i++) {
        assert_int_equal(flow_send(r, i, 5 + 61), table_says(r, i));
    }
    char *error = nf_lb_set_up(r->obj, "delta", false);
    assert_non_null(error);
    free(error);
    /* Every backend down: packets to the VIP are dropped. */
    for (int b = 0; b < 3; b++) {
        assert_null(nf_lb_set_up(r->obj, lb_names[b], false));
    }
    assert_int_equal(flow_send(r, 2 * N_FLOWS + 1, 70), -2);
    lb_close(r);
}

static void
test_lb_prog_full_and_pass(void **state)
{
    (void)state;
    struct lb_run *r = lb_open(10);
    /* A full connection table still forwards by the lookup table. */
    for (int i = 0; i < 50; i++) {
        assert_int_equal(flow_send(r, i, 1), table_says(r, i));
    }
    /* lb_stats is per CPU: the control plane reads every copy. */
    uint32_t idx = LB_STAT_FULL;
    struct bpf_map *stats = bpf_object_find_map(r->obj, "lb_stats");
    uint64_t *copies = calloc(stats->n_cpus, sizeof *copies);
    uint64_t full = 0;
    assert_int_equal(bpf_map_lookup(stats, &idx, copies), 0);
    for (uint32_t c = 0; c < stats->n_cpus; c++) {
        full += copies[c];
    }
    free(copies);
    assert_int_equal(full, 40);
    /* A backend's reply to a recorded connection (flow 3 is in the table)
     * leaves from the VIP towards the client's port; a reply from another
     * address, or to a connection not recorded, continues the pipeline. */
    int b3 = table_says(r, 3);
    size_t len = build_tcp(r->frame, 0x0a000101u + (uint32_t)b3, 0x0a090003u,
                           80, 1003, 6);
    struct bpf_xdp_buff ctx = {
        .data = (uintptr_t)r->frame,
        .data_end = (uintptr_t)(r->frame + len),
        .data_meta = (uintptr_t)r->frame,
        .data_hard_start = (uintptr_t)r->frame,
        .frame_end = (uintptr_t)(r->frame + sizeof r->frame),
        .ingress_ifindex = 2 + (uint32_t)b3,
    };
    assert_int_equal(bpf_prog_run_xdp(r->prog, &ctx), XDP_REDIRECT);
    assert_int_equal(ctx.redirect_port, 1);
    uint32_t src;
    memcpy(&src, r->frame + 26, 4);
    assert_int_equal(ntohl(src), VIP);
    assert_true(checksums_ok(r->frame));
    assert_int_equal(lb_send(r, 0x0a000101u + (uint32_t)(b3 + 1) % 3, 80,
                             0x0a090003u, 1003, 6, 2),
                     -1);
    assert_int_equal(lb_send(r, 0x0a000101u + (uint32_t)b3, 80,
                             0x0a090000u + 45, 1045, 6, 2),
                     -1);
    /* Not to the VIP, not its port, not TCP/UDP: continue the pipeline. */
    assert_int_equal(lb_send(r, 1, 2, VIP + 1, 80, 6, 2), -1);
    assert_int_equal(lb_send(r, 1, 2, VIP, 81, 6, 2), -1);
    assert_int_equal(lb_send(r, 1, 2, VIP, 80, 1, 2), -1);
    lb_close(r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_primes),
        cmocka_unit_test(test_every_slot_balanced),
        cmocka_unit_test(test_weights),
        cmocka_unit_test(test_removal_moves_few),
        cmocka_unit_test(test_backends_file),
        cmocka_unit_test(test_params),
        cmocka_unit_test(test_lb_prog_down_and_up),
        cmocka_unit_test(test_lb_prog_full_and_pass),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
