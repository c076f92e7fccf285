/* Tests for src/nf's router, port and bridge loaders: route-file and pfx2as
 * parsing, their errors, and the maps of the real progs/router.o and
 * progs/bridge.o, including one routed packet whose checksum is checked
 * against a full recomputation. */
#include <arpa/inet.h>
#include <linux/bpf.h>
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
#include "nf/nf_bridge.h"
#include "nf/nf_ports.h"
#include "nf/nf_route.h"

/* Writes 'text' to a new temporary file and returns its path. */
static char *
write_tmp(const char *text)
{
    char *path = strdup("/tmp/test_nf_route.XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static void
assert_error_contains(char *error, const char *want)
{
    assert_non_null(error);
    if (!strstr(error, want)) {
        fail_msg("error '%s' lacks '%s'", error, want);
    }
    free(error);
}

static void
test_parse_line(void **state)
{
    (void)state;
    struct nf_route r;
    static const uint8_t mac[6] = { 0x02, 0, 0, 0, 0, 0x33 };

    assert_null(nf_route_parse_line("10.1.0.0/16 3 02:00:00:00:00:33", &r));
    assert_int_equal(r.addr, 0x0a010000);
    assert_int_equal(r.len, 16);
    assert_int_equal(r.port, 3);
    assert_memory_equal(r.nexthop, mac, 6);

    assert_null(nf_route_parse_line("  0.0.0.0/0\t7 2-0-0-0-0-33 # dflt",
                                    &r));
    assert_int_equal(r.len, 0);
    assert_int_equal(r.port, 7);
    assert_memory_equal(r.nexthop, mac, 6);

    assert_null(nf_route_parse_line("192.0.2.1/32 65279 ff:ff:ff:ff:ff:ff",
                                    &r));
    assert_int_equal(r.addr, 0xc0000201);
    assert_int_equal(r.len, 32);
}

static void
test_parse_errors(void **state)
{
    (void)state;
    static const struct {
        const char *line;
        const char *msg;
    } cases[] = {
        { "10.1.0.0 3 02:00:00:00:00:33", "expected PREFIX/LEN" },
        { "10.1.0.0/16 3", "got 2 fields" },
        { "10.1.0.0/16 3 02:00:00:00:00:33 x", "more than 3 fields" },
        { "10.1.0.1/16 3 02:00:00:00:00:33", "did you mean 10.1.0.0/16" },
        { "10.1.0.0/33 3 02:00:00:00:00:33", "bad prefix length '33'" },
        { "10.1.0.0/x 3 02:00:00:00:00:33", "bad prefix length 'x'" },
        { "10.1.0/16 3 02:00:00:00:00:33", "bad IPv4 address '10.1.0'" },
        { "300.1.0.0/16 3 02:00:00:00:00:33", "bad IPv4 address" },
        { "10.1.0.0/16 0 02:00:00:00:00:33", "out of range 1..65279" },
        { "10.1.0.0/16 p3 02:00:00:00:00:33", "bad port number 'p3'" },
        { "10.1.0.0/16 3 02:00:00:00:00", "expected ':' at character 15" },
        { "10.1.0.0/16 3 02:00:00:00:00:33:44", "trailing characters" },
        { "10.1.0.0/16 3 02:00:g0:00:00:33", "hex digit at character 7" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct nf_route r;
        assert_error_contains(nf_route_parse_line(cases[i].line, &r),
                              cases[i].msg);
    }
}

static void
test_load_file(void **state)
{
    (void)state;
    char *path = write_tmp("# routes\n"
                           "\n"
                           "10.0.0.0/8 1 02:00:00:00:00:11\n"
                           "10.1.0.0/16 2 02:00:00:00:00:22  # more\n"
                           "10.1.2.3/32 3 02:00:00:00:00:33\r\n");
    struct nf_route_table t;

    assert_null(nf_route_load(path, &t));
    assert_int_equal(t.n, 3);
    /* Sorted by length: the /8 first, the /32 (from line 5) last. */
    assert_int_equal(t.routes[0].len, 8);
    assert_int_equal(t.routes[0].line, 3);
    assert_int_equal(t.routes[2].addr, 0x0a010203);
    assert_int_equal(t.routes[2].line, 5);
    nf_route_table_destroy(&t);
    unlink(path);
    free(path);

    path = write_tmp("10.0.0.0/8 1 02:00:00:00:00:11\n"
                     "10.0.0.0/9 1 02:00:00:00:00:11\n"
                     "10.0.0.0/8 2 02:00:00:00:00:11\n");
    char *error = nf_route_load(path, &t);
    char *want = NULL;
    assert_true(asprintf(&want, "%s:3: prefix 10.0.0.0/8 already routed on "
                         "line 1", path) > 0);
    assert_error_contains(error, want);
    free(want);
    unlink(path);
    free(path);

    path = write_tmp("10.0.0.0/8 1 02:00:00:00:00:11\n\n"
                     "10.0.0.0/8 1 02:00:00:00:00\n");
    assert_true(asprintf(&want, "%s:3: bad MAC", path) > 0);
    assert_error_contains(nf_route_load(path, &t), want);
    free(want);
    unlink(path);
    free(path);

    assert_error_contains(nf_route_load("/nonexistent/routes", &t),
                          "/nonexistent/routes: No such file");
}

static const struct nf_port_entry test_ports[3] = {
    { 2, { { 2, 0, 0, 0, 0, 2 }, { 2, 0, 0, 0, 1, 2 } } },
    { 5, { { 2, 0, 0, 0, 0, 5 }, { 2, 0, 0, 0, 1, 5 } } },
    { 9, { { 2, 0, 0, 0, 0, 9 }, { 2, 0, 0, 0, 1, 9 } } },
};

static void
test_pfx2as(void **state)
{
    (void)state;
    char *path = write_tmp("1.0.0.0\t24\t13335\n"       /* 13335 % 3 = 0 */
                           "1.0.4.0\t22\t7_8\n"         /* 7 % 3 = 1 */
                           "1.0.16.9\t20\t11,12\n"      /* 11 % 3 = 2 */
                           "1.0.0.0\t24\t4\n");         /* Replaces line 1. */
    struct nf_route_table t;

    assert_null(nf_route_load_pfx2as(path, test_ports, 3, &t));
    assert_int_equal(t.n, 3);
    /* Sorted: /20, /22, /24. */
    assert_int_equal(t.routes[0].addr, 0x01001000);   /* Host bits masked. */
    assert_int_equal(t.routes[0].port, 9);
    assert_memory_equal(t.routes[0].nexthop, test_ports[2].macs.nexthop, 6);
    assert_int_equal(t.routes[1].port, 5);
    assert_int_equal(t.routes[2].port, 5);             /* AS 4: 4 % 3 = 1. */
    assert_int_equal(t.routes[2].line, 4);
    nf_route_table_destroy(&t);

    assert_error_contains(nf_route_load_pfx2as(path, NULL, 0, &t),
                          "configure the router's ports with 'nf port'");
    unlink(path);
    free(path);

    path = write_tmp("1.0.0.0\t24\t13335\n1.0.0.0\t24\tAS5\n");
    assert_error_contains(nf_route_load_pfx2as(path, test_ports, 3, &t),
                          ":2: bad origin AS 'AS5'");
    unlink(path);
    free(path);
}

static struct bpf_object *
open_prog(const char *name)
{
    const char *root = getenv("SLUICE_BUILD_ROOT");
    char *path = NULL;
    struct bpf_object *obj = NULL;
    char *err = NULL;

    assert_true(asprintf(&path, "%s/progs/%s.o", root ? root : ".",
                         name) > 0);
    int rc = bpf_object_open(path, NULL, &obj, &err);
    if (rc < 0) {
        fail_msg("%s: %s", path, err ? err : "open failed");
    }
    free(path);
    return obj;
}

/* One's-complement sum of 'len' bytes, as RFC 791 defines the header
 * checksum: computed from scratch, independently of the program. */
static uint16_t
ip_checksum(const uint8_t *p, size_t len)
{
    uint32_t sum = 0;
    for (size_t i = 0; i + 1 < len; i += 2) {
        sum += (uint32_t)(p[i] << 8 | p[i + 1]);
    }
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return (uint16_t)~sum;
}

/* Routes 'dst' with TTL 'ttl' through 'prog'; returns the verdict and
 * leaves the frame in 'frame' (60 bytes). */
static uint64_t
route_one(struct bpf_prog *prog, uint32_t dst, uint8_t ttl, uint8_t *frame,
          uint32_t *redirect)
{
    memset(frame, 0, 60);
    memcpy(frame, "\x02\x00\x00\x00\xaa\xaa\x02\x00\x00\x00\xbb\xbb\x08\x00",
           14);
    uint8_t *ip = frame + 14;
    ip[0] = 0x45;
    ip[3] = 46;                        /* Total length. */
    ip[8] = ttl;
    ip[9] = 17;
    memcpy(ip + 12, "\xc6\x12\x00\x01", 4);
    uint32_t be = htonl(dst);
    memcpy(ip + 16, &be, 4);
    uint16_t c = ip_checksum(ip, 20);
    ip[10] = (uint8_t)(c >> 8);
    ip[11] = (uint8_t)c;

    struct bpf_xdp_buff ctx = {
        .data = (uintptr_t)frame,
        .data_end = (uintptr_t)(frame + 60),
        .data_meta = (uintptr_t)frame,
        .data_hard_start = (uintptr_t)frame,
        .frame_end = (uintptr_t)(frame + 60),
        .ingress_ifindex = 1,
    };
    uint64_t verdict = bpf_prog_run_xdp(prog, &ctx);
    *redirect = ctx.redirect_port;
    return verdict;
}

static void
test_router_map_and_program(void **state)
{
    (void)state;
    struct bpf_object *obj = open_prog("router");
    struct bpf_map *routes = bpf_object_find_map(obj, NF_ROUTE_MAP);
    struct bpf_map *ports = bpf_object_find_map(obj, NF_PORTS_MAP);
    struct bpf_prog *prog = bpf_object_find_prog(obj, "router");
    struct bpf_verify_result vr;

    assert_non_null(routes);
    assert_non_null(ports);
    assert_non_null(prog);
    assert_int_equal(bpf_prog_verify(prog, &vr), 0);
    bpf_verify_result_destroy(&vr);

    /* Ports: set in any order, listed sorted. */
    assert_null(nf_ports_set(ports, 9, &test_ports[2].macs));
    assert_null(nf_ports_set(ports, 2, &test_ports[0].macs));
    assert_null(nf_ports_set(ports, 5, &test_ports[1].macs));
    struct nf_port_entry *list;
    size_t n;
    assert_null(nf_ports_list(ports, &list, &n));
    assert_int_equal(n, 3);
    assert_memory_equal(list, test_ports, sizeof test_ports);
    free(list);

    char *path = write_tmp("10.0.0.0/8 2 02:00:00:00:08:08\n"
                           "10.1.0.0/16 5 02:00:00:00:16:16\n"
                           "10.1.2.0/24 9 02:00:00:00:24:24\n"
                           "10.1.2.3/32 2 02:00:00:00:32:32\n");
    struct nf_route_table t;
    assert_null(nf_route_load(path, &t));
    assert_null(nf_route_fill_map(&t, routes));
    nf_route_table_destroy(&t);
    unlink(path);
    free(path);

    static const struct {
        uint32_t dst;
        uint32_t port;
        uint8_t nh;                    /* Last byte of the next hop. */
    } cases[] = {
        { 0x0a090909, 2, 0x08 },       /* Only the /8. */
        { 0x0a010909, 5, 0x16 },       /* The /16. */
        { 0x0a010209, 9, 0x24 },       /* The /24. */
        { 0x0a010203, 2, 0x32 },       /* The /32. */
        { 0x0a010202, 9, 0x24 },       /* The /32 but the last bit. */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t frame[60];
        uint32_t redirect = 0;
        uint64_t v = route_one(prog, cases[i].dst, 64, frame, &redirect);
        assert_int_equal(v, XDP_REDIRECT);
        assert_int_equal(redirect, cases[i].port);
        assert_int_equal(frame[5], cases[i].nh);
        /* Source MAC := the output port's MAC. */
        assert_int_equal(frame[11], cases[i].port);
        assert_int_equal(frame[14 + 8], 63);
        assert_int_equal(ip_checksum(frame + 14, 20), 0);
    }

    uint8_t frame[60];
    uint32_t redirect;
    /* No route; TTL 1; TTL 0. */
    assert_int_equal(route_one(prog, 0x0b000001, 64, frame, &redirect),
                     XDP_DROP);
    assert_int_equal(route_one(prog, 0x0a010203, 1, frame, &redirect),
                     XDP_DROP);
    assert_int_equal(route_one(prog, 0x0a010203, 0, frame, &redirect),
                     XDP_DROP);
    /* The checksum's carry: TTL 2 -> 1 must still verify. */
    assert_int_equal(route_one(prog, 0x0a010203, 2, frame, &redirect),
                     XDP_REDIRECT);
    assert_int_equal(ip_checksum(frame + 14, 20), 0);

    /* The wrong map is refused by layout. */
    assert_error_contains(nf_route_fill_map(&t, ports),
                          "not the router's IPv4 LPM trie");
    assert_error_contains(nf_ports_set(routes, 1, &test_ports[0].macs),
                          "is not a hash of port");
    bpf_object_close(obj);
}

static void
test_bridge_static(void **state)
{
    (void)state;
    struct bpf_object *obj = open_prog("bridge");
    struct bpf_map *map = bpf_object_find_map(obj, NF_BRIDGE_STATIC_MAP);
    uint8_t mac[6];
    uint32_t out;

    assert_non_null(map);
    assert_null(nf_parse_mac("02:00:00:00:00:0a", mac));
    assert_null(nf_bridge_parse_out("drop", &out));
    assert_int_equal(out, BR_STATIC_DROP);
    assert_null(nf_bridge_static_set(map, mac, 1, out));
    assert_null(nf_bridge_parse_out("3", &out));
    assert_null(nf_bridge_static_set(map, mac, 2, out));
    assert_error_contains(nf_bridge_parse_out("flood", &out),
                          "expected a port number or 'drop'");

    struct br_static_key key = { .in_port = 2 };
    struct br_static_val val;
    memcpy(key.mac, mac, 6);
    assert_int_equal(bpf_map_lookup(map, &key, &val), 0);
    assert_int_equal(val.out_port, 3);
    key.in_port = 1;
    assert_int_equal(bpf_map_lookup(map, &key, &val), 0);
    assert_int_equal(val.out_port, BR_STATIC_DROP);
    bpf_object_close(obj);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_line),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_pfx2as),
        cmocka_unit_test(test_router_map_and_program),
        cmocka_unit_test(test_bridge_static),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
