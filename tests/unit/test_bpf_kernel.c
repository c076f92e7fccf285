/* Differential tests: the progs/ network functions run in sluice's eBPF
 * runtime and in the kernel (BPF_PROG_TEST_RUN through libbpf) on the same
 * packet sequences; return values, output packets and the set of map keys
 * must agree.  Needs root and a kernel with BPF; otherwise every test skips
 * and says why.
 *
 * Times differ between the two (sluice's helpers see the clock set with
 * bpf_set_time_ns(), left unset here so both read CLOCK_MONOTONIC), so the
 * sequences stay far from every timeout and map values holding timestamps
 * are compared by key only. */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <net/if.h>
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

/* The kernel checks that a test run's ingress_ifindex names a real device
 * (and reads 0 as the loopback device), so the two sides of the firewall
 * are two existing interfaces: lo (ifindex 1, the programs' default
 * 'inside_port') and the first other one found. */
#define INSIDE_IF 1
#define OUTSIDE_MARK 0      /* In test_pkt.ingress: "the outside device". */
static uint32_t outside_if;

struct test_pkt {
    uint32_t ingress;            /* ingress_ifindex. */
    uint8_t data[128];
    uint32_t len;
};

static uint16_t
ip_csum(const uint8_t *p, size_t n)
{
    uint32_t sum = 0;
    for (size_t i = 0; i + 1 < n; i += 2) {
        sum += (uint32_t)p[i] << 8 | p[i + 1];
    }
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return (uint16_t)~sum;
}

/* Ethernet + IPv4 + TCP (flags, optional raw options) or UDP. */
static void
build(struct test_pkt *t, uint32_t ingress, uint8_t proto, const char *src,
      const char *dst, uint16_t sport, uint16_t dport, uint8_t flags,
      const uint8_t *opts, size_t optlen)
{
    uint8_t *p = t->data;
    memset(t, 0, sizeof *t);
    t->ingress = ingress;
    memcpy(p, "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00", 14);
    uint8_t *ip = p + 14;
    size_t l4len = proto == IPPROTO_TCP ? 20 + optlen : 8;
    ip[0] = 0x45;
    ip[2] = (uint8_t)((20 + l4len) >> 8);
    ip[3] = (uint8_t)(20 + l4len);
    ip[4] = 0x12;
    ip[6] = 0x40;                          /* DF. */
    ip[8] = 64;
    ip[9] = proto;
    inet_pton(AF_INET, src, ip + 12);
    inet_pton(AF_INET, dst, ip + 16);
    uint16_t c = ip_csum(ip, 20);
    ip[10] = (uint8_t)(c >> 8);
    ip[11] = (uint8_t)c;
    uint8_t *l4 = ip + 20;
    l4[0] = (uint8_t)(sport >> 8);
    l4[1] = (uint8_t)sport;
    l4[2] = (uint8_t)(dport >> 8);
    l4[3] = (uint8_t)dport;
    if (proto == IPPROTO_TCP) {
        l4[7] = 1;                         /* seq = 1. */
        l4[12] = (uint8_t)((20 + optlen) / 4 << 4);
        l4[13] = flags;
        l4[14] = 0xfa;                     /* window 64240. */
        l4[15] = 0xf0;
        memcpy(l4 + 20, opts, optlen);
    } else {
        l4[5] = 8;
    }
    t->len = (uint32_t)(14 + 20 + l4len);
}

#define SYN 0x02
#define ACK 0x10
#define FIN 0x01
#define RST 0x04

static bool
have_kernel_bpf(void)
{
    if (geteuid() != 0) {
        printf("SKIP: kernel differential tests need root\n");
        return false;
    }
    struct if_nameindex *ifs = if_nameindex();
    for (struct if_nameindex *i = ifs; i && i->if_index; i++) {
        if (i->if_index != INSIDE_IF) {
            outside_if = i->if_index;
            break;
        }
    }
    if_freenameindex(ifs);
    if (!outside_if) {
        printf("SKIP: need a network device besides lo for the kernel's "
               "ingress_ifindex\n");
        return false;
    }
    return true;
}

static char *
obj_path(const char *name)
{
    const char *root = getenv("SLUICE_BUILD_ROOT");
    char *path = NULL;
    if (asprintf(&path, "%s/progs/%s.o", root ? root : ".", name) < 0) {
        abort();
    }
    return path;
}

/* Collects the sorted keys of every map of both sides and compares them. */
static void
compare_map_keys(struct bpf_object *sl, struct bpf_object *kobj)
{
    struct bpf_map *km;
    bpf_object__for_each_map(km, kobj)
    {
        const char *name = bpf_map__name(km);
        if (name[0] == '.' || strstr(name, ".rodata") || strstr(name, ".bss")
            || strstr(name, ".data")) {
            continue;
        }
        struct bpf_map *sm = bpf_object_find_map(sl, name);
        if (!sm) {
            fail_msg("map '%s' exists in the kernel but not in sluice", name);
        }
        uint32_t type = bpf_map_type(sm);
        if (type != BPF_MAP_TYPE_HASH && type != BPF_MAP_TYPE_LRU_HASH) {
            continue;     /* Arrays have all keys on both sides. */
        }
        size_t ks = bpf_map_key_size(sm);
        int fd = bpf_map__fd(km);
        size_t n_k = 0, n_s = 0;
        uint8_t *key = calloc(1, ks), *next = calloc(1, ks);
        void *prev = NULL;
        while (bpf_map_get_next_key(fd, prev, next) == 0) {
            n_k++;
            uint8_t *v = malloc(bpf_map_value_size(sm) * 256 + 64);
            if (bpf_map_lookup(sm, next, v) != 0) {
                fail_msg("map '%s': key present in the kernel, absent in "
                         "sluice", name);
            }
            free(v);
            memcpy(key, next, ks);
            prev = key;
        }
        prev = NULL;
        while (bpf_map_next_key(sm, prev, next) == 0) {
            n_s++;
            memcpy(key, next, ks);
            prev = key;
        }
        assert_int_equal(n_k, n_s);
        free(key);
        free(next);
    }
}

static void
run_both(const char *name, const struct test_pkt *pkts, size_t n,
         const uint32_t *expect)
{
    if (!have_kernel_bpf()) {
        skip();
    }
    char *path = obj_path(name);

    struct bpf_object *kobj = bpf_object__open_file(path, NULL);
    if (!kobj || libbpf_get_error(kobj)) {
        fail_msg("libbpf cannot open %s", path);
    }
    if (bpf_object__load(kobj)) {
        printf("SKIP: the kernel refused to load %s: %s\n", path,
               strerror(errno));
        bpf_object__close(kobj);
        free(path);
        skip();
    }
    struct bpf_program *kprog = bpf_object__next_program(kobj, NULL);
    int kfd = bpf_program__fd(kprog);

    struct bpf_object *sobj = NULL;
    char *err = NULL;
    if (bpf_object_open(path, NULL, &sobj, &err) < 0) {
        fail_msg("sluice cannot open %s: %s", path, err);
    }
    struct bpf_prog *sprog = bpf_object_prog(sobj, 0);
    struct bpf_verify_result res;
    bpf_prog_verify(sprog, &res);
    if (!res.accepted) {
        fail_msg("sluice rejects %s at insn %u: %s", path, res.insn_idx,
                 res.log);
    }
    bpf_verify_result_destroy(&res);

    for (size_t i = 0; i < n; i++) {
        uint8_t kout[256], sbuf[512];
        uint32_t ingress = pkts[i].ingress == OUTSIDE_MARK ? outside_if
                                                            : pkts[i].ingress;
        struct xdp_md kctx = { .data = 0, .data_end = pkts[i].len,
                               .ingress_ifindex = ingress };
        LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = pkts[i].data,
                    .data_size_in = pkts[i].len, .data_out = kout,
                    .data_size_out = sizeof kout, .ctx_in = &kctx,
                    .ctx_size_in = sizeof kctx);
        int rc = bpf_prog_test_run_opts(kfd, &opts);
        if (rc) {
            fail_msg("BPF_PROG_TEST_RUN packet %zu: %s", i, strerror(errno));
        }

        memcpy(sbuf + 256, pkts[i].data, pkts[i].len);
        struct bpf_xdp_buff ctx = {
            .data = (uintptr_t)(sbuf + 256),
            .data_end = (uintptr_t)(sbuf + 256 + pkts[i].len),
            .data_meta = (uintptr_t)(sbuf + 256),
            .data_hard_start = (uintptr_t)sbuf,
            .frame_end = (uintptr_t)(sbuf + sizeof sbuf),
            .ingress_ifindex = ingress,
        };
        uint64_t r0 = bpf_prog_run_xdp(sprog, &ctx);
        if (r0 != opts.retval) {
            fail_msg("%s packet %zu: sluice returned %llu, kernel %u", name,
                     i, (unsigned long long)r0, opts.retval);
        }
        if (expect && r0 != expect[i]) {
            fail_msg("%s packet %zu: both returned %llu, expected %u", name,
                     i, (unsigned long long)r0, expect[i]);
        }
        uint32_t slen = (uint32_t)(ctx.data_end - ctx.data);
        assert_int_equal(slen, opts.data_size_out);
        assert_memory_equal((void *)(uintptr_t)ctx.data, kout, slen);
    }
    compare_map_keys(sobj, kobj);
    bpf_object_close(sobj);
    bpf_object__close(kobj);
    free(path);
}

static void
test_firewall(void **state)
{
    (void)state;
    struct test_pkt p[12];
    const char *in = "10.0.0.1", *out = "192.0.2.9";
    size_t n = 0;
    /* Unsolicited outside SYN: refused. */
    build(&p[n++], OUTSIDE_MARK, IPPROTO_TCP, out, in, 80, 1000, SYN, NULL, 0);
    /* Handshake from the inside. */
    build(&p[n++], INSIDE_IF, IPPROTO_TCP, in, out, 1000, 80, SYN, NULL, 0);
    /* Outside data before the SYN-ACK: refused. */
    build(&p[n++], OUTSIDE_MARK, IPPROTO_TCP, out, in, 80, 1000, ACK, NULL, 0);
    build(&p[n++], OUTSIDE_MARK, IPPROTO_TCP, out, in, 80, 1000, SYN | ACK, NULL, 0);
    build(&p[n++], INSIDE_IF, IPPROTO_TCP, in, out, 1000, 80, ACK, NULL, 0);
    build(&p[n++], OUTSIDE_MARK, IPPROTO_TCP, out, in, 80, 1000, ACK, NULL, 0);
    /* Another port is a different connection. */
    build(&p[n++], OUTSIDE_MARK, IPPROTO_TCP, out, in, 81, 1000, ACK, NULL, 0);
    /* UDP opens on the inside packet only. */
    build(&p[n++], OUTSIDE_MARK, IPPROTO_UDP, out, in, 53, 2000, 0, NULL, 0);
    build(&p[n++], INSIDE_IF, IPPROTO_UDP, in, out, 2000, 53, 0, NULL, 0);
    build(&p[n++], OUTSIDE_MARK, IPPROTO_UDP, out, in, 53, 2000, 0, NULL, 0);
    /* RST from outside closes; the next outside segment is refused. */
    build(&p[n++], OUTSIDE_MARK, IPPROTO_TCP, out, in, 80, 1000, RST, NULL, 0);
    build(&p[n++], OUTSIDE_MARK, IPPROTO_TCP, out, in, 80, 1000, ACK, NULL, 0);
    static const uint32_t expect[] = { 0, 1, 0, 1, 1, 1, 0, 0, 1, 1, 1, 0 };
    run_both("firewall", p, n, expect);
}

static void
test_ratelimit(void **state)
{
    (void)state;
    struct test_pkt p[24];
    uint32_t expect[24];
    size_t n = 0;
    /* Default burst 10: a source's first 10 packets pass (0), then it is
     * limited (1); another source is independent. */
    for (int i = 0; i < 14; i++) {
        expect[n] = i >= 10;
        build(&p[n++], INSIDE_IF, IPPROTO_UDP, "10.0.0.5", "10.0.0.6", 1, 2, 0, NULL,
              0);
    }
    for (int i = 0; i < 3; i++) {
        expect[n] = 0;
        build(&p[n++], INSIDE_IF, IPPROTO_UDP, "10.0.0.7", "10.0.0.6", 1, 2, 0, NULL,
              0);
    }
    run_both("ratelimit", p, n, expect);
}

static void
test_p0f_nomatch(void **state)
{
    (void)state;
    /* An empty signature map matches nothing; the option walk must agree
     * on every layout, including malformed ones. */
    static const uint8_t linux_opts[] = { 2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0,
                                          0, 1, 0, 0, 0, 0, 1, 3, 3, 7 };
    static const uint8_t bad_opts[] = { 2, 4, 5, 0xb4, 3, 9, 1, 1 };
    static const uint8_t eol_opts[] = { 2, 4, 5, 0xb4, 0, 0, 1, 0 };
    struct test_pkt p[5];
    size_t n = 0;
    build(&p[n++], INSIDE_IF, IPPROTO_TCP, "10.0.0.1", "10.0.0.2", 1, 2, SYN,
          linux_opts, sizeof linux_opts);
    build(&p[n++], INSIDE_IF, IPPROTO_TCP, "10.0.0.1", "10.0.0.2", 1, 2, SYN,
          bad_opts, sizeof bad_opts);
    build(&p[n++], INSIDE_IF, IPPROTO_TCP, "10.0.0.1", "10.0.0.2", 1, 2, SYN,
          eol_opts, sizeof eol_opts);
    build(&p[n++], INSIDE_IF, IPPROTO_TCP, "10.0.0.1", "10.0.0.2", 1, 2, SYN | ACK,
          linux_opts, sizeof linux_opts);
    build(&p[n++], INSIDE_IF, IPPROTO_UDP, "10.0.0.1", "10.0.0.2", 1, 2, 0, NULL, 0);
    static const uint32_t expect[] = { 0, 0, 0, 0, 0 };
    run_both("p0f", p, n, expect);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_firewall),
        cmocka_unit_test(test_ratelimit),
        cmocka_unit_test(test_p0f_nomatch),
    };
    libbpf_set_print(NULL);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
