/* Tests of performance contracts (src/contract/contract.c) and the path
 * enumeration under them (src/bpf/verifier_paths.c), on small hand-written
 * XDP programs whose paths and costs are counted by hand here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bpf/asm.h"
#include "bpf/bpf_api.h"
#include "bpf/bpf_int.h"
#include "bpf/interp.h"
#include "contract/contract.h"

/* A verified XDP program assembled from 'text' (its object in '*objp'). */
static struct bpf_prog *
load(const char *text, struct bpf_object **objp)
{
    struct bpf_insn *insns = NULL;
    size_t n = 0;
    char *err = bpf_asm(text, NULL, 0, &insns, &n);
    if (err) {
        fail_msg("asm: %s", err);
    }
    assert_int_equal(bpf_prog_from_insns(insns, n, false, objp, &err), 0);
    free(insns);
    struct bpf_prog *prog = bpf_object_prog(*objp, 0);
    struct bpf_verify_result vr;
    if (bpf_prog_verify(prog, &vr)) {
        fail_msg("verifier: %s", vr.log);
    }
    bpf_verify_result_destroy(&vr);
    return prog;
}

static struct contract_prog *
build(struct bpf_prog *prog)
{
    struct contract_prog *cp = NULL;
    char *err = NULL;
    if (contract_build(prog, NULL, &cp, &err)) {
        fail_msg("contract: %s", err);
    }
    assert_null(cp->incomplete);
    return cp;
}

/* The class whose eBPF instruction count is 'insns', which must be
 * unique. */
static const struct contract_class *
class_by_insns(const struct contract_prog *cp, uint64_t insns)
{
    const struct contract_class *found = NULL;
    for (size_t i = 0; i < cp->n_classes; i++) {
        if (cp->classes[i].insns == insns) {
            assert_null(found);
            found = &cp->classes[i];
        }
    }
    assert_non_null(found);
    return found;
}

static void
ctx_for(struct bpf_xdp_buff *ctx, uint8_t *frame, const uint8_t *pkt,
        size_t len)
{
    memset(frame, 0, 2048);
    memcpy(frame + 256, pkt, len);
    memset(ctx, 0, sizeof *ctx);
    ctx->data = (uintptr_t)(frame + 256);
    ctx->data_end = ctx->data + len;
    ctx->data_meta = ctx->data;
    ctx->data_hard_start = (uintptr_t)frame;
    ctx->frame_end = (uintptr_t)(frame + 2048);
    ctx->ingress_ifindex = 1;
}

/* Runs 'pkt' through both programs, then contract_check_packet(): the
 * class it falls in ('*m' gets the measurement), failing on no class or a
 * measurement above its bound. */
static const struct contract_class *
measure_run(struct contract_prog *cp, struct bpf_prog *pi, struct bpf_prog *pj,
            const uint8_t *pkt, size_t len, struct contract_measure *m)
{
    static uint8_t fi[2048], fj[2048];
    struct bpf_xdp_buff ci, cj;
    char *err = NULL, *violation = NULL;

    ctx_for(&ci, fi, pkt, len);
    ctx_for(&cj, fj, pkt, len);
    assert_int_equal(contract_measure(cp, pi, &ci, pj, &cj, 1000, m, &err),
                     0);
    long k = contract_check_packet(cp, m, &violation, &err);
    if (k < 0) {
        fail_msg("no class: %s", err);
    }
    if (violation) {
        fail_msg("violation: %s", violation);
    }
    return &cp->classes[k];
}

/* Measures 'pkt' on two copies of 'text' and checks it against 'cp':
 * returns the class found, after asserting zero eBPF gaps and an x86
 * measurement within its bound. */
static const struct contract_class *
measure(struct contract_prog *cp, struct bpf_prog *pi, struct bpf_prog *pj,
        const uint8_t *pkt, size_t len)
{
    struct contract_measure m;
    const struct contract_class *c = measure_run(cp, pi, pj, pkt, len, &m);
    assert_int_equal(m.value[CONTRACT_M_INSNS], c->insns);
    assert_int_equal(m.value[CONTRACT_M_HELPERS], c->helpers);
    assert_int_equal(m.value[CONTRACT_M_MEM],
                     contract_bound_at(cp, c, CONTRACT_M_MEM, &m));
    assert_true(m.have_x86);
    uint64_t xb = contract_bound_at(cp, c, CONTRACT_M_X86, &m);
    assert_true(m.value[CONTRACT_M_X86] <= xb);
    return c;
}

/* Three paths: short packet, IPv4, other; each its own class with exact
 * costs and conditions in words. */
static const char *const ethertype_prog =
    "r2 = *(u32 *)(r1 + 0)\n"
    "r3 = *(u32 *)(r1 + 4)\n"
    "r0 = 0\n"
    "r4 = r2\n"
    "r4 += 14\n"
    "if r4 > r3 goto out\n"
    "r5 = *(u16 *)(r2 + 12)\n"
    "if r5 != 8 goto out\n"
    "r0 = 2\n"
    "out:\n"
    "exit\n";

static void
test_ethertype_classes(void **state)
{
    (void)state;
    struct bpf_object *oi, *oj;
    struct bpf_prog *pi = load(ethertype_prog, &oi);
    struct bpf_prog *pj = load(ethertype_prog, &oj);
    struct contract_prog *cp = build(pj);

    assert_int_equal(cp->n_paths, 3);
    assert_int_equal(cp->n_classes, 3);
    const struct contract_class *shrt = class_by_insns(cp, 7);
    const struct contract_class *other = class_by_insns(cp, 9);
    const struct contract_class *ipv4 = class_by_insns(cp, 10);
    assert_int_equal(shrt->mem, 2);
    assert_int_equal(other->mem, 3);
    assert_int_equal(ipv4->mem, 3);
    assert_int_equal(ipv4->helpers, 0);
    assert_string_equal(shrt->desc, "len<=13");
    assert_string_equal(other->desc, "len>=14, dl_type!=0x800");
    assert_string_equal(ipv4->desc, "len>=14, dl_type=0x800");
    assert_int_equal(ipv4->ret_min, 2);
    assert_int_equal(ipv4->ret_max, 2);
    assert_int_equal(shrt->ret_max, 0);
    assert_true(cp->have_x86);
    assert_true(ipv4->x86_code > other->x86_code);

    uint8_t pkt[60] = {0};
    pkt[12] = 0x08;
    assert_ptr_equal(measure(cp, pi, pj, pkt, 60), ipv4);
    pkt[12] = 0x86;
    pkt[13] = 0xdd;
    assert_ptr_equal(measure(cp, pi, pj, pkt, 60), other);
    assert_ptr_equal(measure(cp, pi, pj, pkt, 10), shrt);
    assert_int_equal(ipv4->packets, 1);
    assert_int_equal(ipv4->gap[CONTRACT_M_INSNS].max_abs, 0);
    assert_int_equal(ipv4->gap[CONTRACT_M_MEM].max_abs, 0);
    /* The JIT code has no internal branches here: the x86 bound is
     * exact too. */
    assert_int_equal(ipv4->gap[CONTRACT_M_X86].max_abs, 0);
    contract_prog_free(cp);
    bpf_object_close(oi);
    bpf_object_close(oj);
}

/* A measurement above its class's bound is reported as a violation
 * naming the metric (the bound lowered by hand here). */
static void
test_violation_reported(void **state)
{
    (void)state;
    struct bpf_object *oi, *oj;
    struct bpf_prog *pi = load(ethertype_prog, &oi);
    struct bpf_prog *pj = load(ethertype_prog, &oj);
    struct contract_prog *cp = build(pj);
    static uint8_t fi[2048], fj[2048];
    uint8_t pkt[60] = {0};
    struct bpf_xdp_buff ci, cj;
    struct contract_measure m;
    char *err = NULL, *violation = NULL;

    for (size_t i = 0; i < cp->n_classes; i++) {
        cp->classes[i].insns--;
    }
    ctx_for(&ci, fi, pkt, sizeof pkt);
    ctx_for(&cj, fj, pkt, sizeof pkt);
    assert_int_equal(contract_measure(cp, pi, &ci, pj, &cj, 0, &m, &err), 0);
    assert_true(contract_check_packet(cp, &m, &violation, &err) >= 0);
    assert_non_null(violation);
    assert_non_null(strstr(violation, "ebpf_insns: measured 9 > bound 8"));
    free(violation);
    contract_prog_free(cp);
    bpf_object_close(oi);
    bpf_object_close(oj);
}

/* A branch the abstract state decides is not a path. */
static void
test_infeasible_branch_dropped(void **state)
{
    (void)state;
    struct bpf_object *o;
    struct bpf_prog *p = load("r0 = 1\n"
                              "r2 = 5\n"
                              "if r2 > 10 goto bad\n"
                              "exit\n"
                              "bad:\n"
                              "r0 = 7\n"
                              "exit\n",
                              &o);
    struct contract_prog *cp = build(p);
    assert_int_equal(cp->n_paths, 1);
    assert_int_equal(cp->n_classes, 1);
    assert_int_equal(cp->classes[0].insns, 4);
    assert_int_equal(cp->classes[0].ret_min, 1);
    assert_int_equal(cp->classes[0].ret_max, 1);
    assert_string_equal(cp->classes[0].desc, "any packet");
    contract_prog_free(cp);
    bpf_object_close(o);
}

/* A loop over the packet's bytes: one path per iteration count and exit
 * reason, each exact, with its iterations counted. */
static const char *const loop_prog =
    "r2 = *(u32 *)(r1 + 0)\n"
    "r3 = *(u32 *)(r1 + 4)\n"
    "r0 = 0\n"
    "loop:\n"
    "r4 = r2\n"
    "r4 += 1\n"
    "if r4 > r3 goto out\n"
    "r5 = *(u8 *)(r2 + 0)\n"
    "if r5 == 0 goto out\n"
    "r0 += 1\n"
    "r2 += 1\n"
    "if r0 < 4 goto loop\n"
    "out:\n"
    "exit\n";

static void
test_loop_iterations(void **state)
{
    (void)state;
    struct bpf_object *oi, *oj;
    struct bpf_prog *pi = load(loop_prog, &oi);
    struct bpf_prog *pj = load(loop_prog, &oj);
    struct contract_prog *cp = build(pj);

    /* k = 0..3 bytes read then "short" or "zero byte", or 4 bytes read. */
    assert_int_equal(cp->n_paths, 9);
    /* k non-zero bytes then a zero: 3 + 8k + 5 + 1 instructions. */
    for (uint64_t k = 0; k < 4; k++) {
        const struct contract_class *c = class_by_insns(cp, 9 + 8 * k);
        assert_int_equal(c->mem, 2 + k + 1);
        assert_int_equal(c->loop_iters, k);
    }
    uint8_t pkt[8] = {1, 1, 0, 1, 1, 1, 1, 1};
    const struct contract_class *c = measure(cp, pi, pj, pkt, 8);
    assert_int_equal(c->insns, 9 + 16);
    c = measure(cp, pi, pj, pkt, 2);
    assert_int_equal(c->loop_iters, 2);
    c = measure(cp, pi, pj, (const uint8_t *)"\x01\x01\x01\x01\x01", 5);
    assert_int_equal(c->loop_iters, 3);
    assert_int_equal(c->insns, 3 + 4 * 8 + 1);
    contract_prog_free(cp);
    bpf_object_close(oi);
    bpf_object_close(oj);
}

/* With the enumeration cut short, a measured run on a path it did not
 * reach gets that path's exact class by following the run's outcomes. */
static void
test_incomplete_follows_trail(void **state)
{
    (void)state;
    struct bpf_object *oi, *oj;
    struct bpf_prog *pi = load(loop_prog, &oi);
    struct bpf_prog *pj = load(loop_prog, &oj);
    struct contract_limits lim = {2, 1000000, 64, true};
    struct contract_prog *cp = NULL;
    char *err = NULL;

    assert_int_equal(contract_build(pj, &lim, &cp, &err), 0);
    assert_non_null(cp->incomplete);
    size_t before = cp->n_classes;
    /* The walk goes deepest first: a zero first byte is not reached. */
    const struct contract_class *c = measure(
        cp, pi, pj, (const uint8_t *)"\x00\x01", 2);
    assert_true(c->traced);
    assert_int_equal(c->insns, 9);
    assert_int_equal(c->loop_iters, 0);
    assert_int_equal(cp->n_classes, before + 1);
    /* The same path again finds the class added. */
    assert_ptr_equal(measure(cp, pi, pj, (const uint8_t *)"\x00\x07\x07",
                             3),
                     c);
    assert_int_equal(cp->n_classes, before + 1);
    contract_prog_free(cp);
    bpf_object_close(oi);
    bpf_object_close(oj);
}

/* Measures 'pkt' in loop mode: asserts that the eBPF bounds at the
 * iterations counted are exact and x86 within its bound; returns the
 * class, the iterations of loop PCV 0 in '*iters'. */
static const struct contract_class *
measure_loop(struct contract_prog *cp, struct bpf_prog *pi,
             struct bpf_prog *pj, const uint8_t *pkt, size_t len,
             uint64_t *iters)
{
    struct contract_measure m;
    const struct contract_class *c = measure_run(cp, pi, pj, pkt, len, &m);
    for (int metric = 0; metric < CONTRACT_M_X86; metric++) {
        assert_int_equal(m.value[metric],
                         contract_bound_at(cp, c, metric, &m));
    }
    assert_true(m.value[CONTRACT_M_X86]
                <= contract_bound_at(cp, c, CONTRACT_M_X86, &m));
    *iters = m.loop_counts[0];
    return c;
}

/* Loop mode: with the plain enumeration cut short (9 paths, 4 at most),
 * loop_prog's loop is not unrolled.  Its one body path (8 instructions,
 * 1 access) is the PCV loop@3.1, the classes are its exits (short packet:
 * 7 instructions outside iterations, zero byte: 9, four bytes read: 12),
 * and a measured run counts its iterations: the bounds are exact. */
static void
test_loop_mode(void **state)
{
    (void)state;
    struct bpf_object *oi, *oj;
    struct bpf_prog *pi = load(loop_prog, &oi);
    struct bpf_prog *pj = load(loop_prog, &oj);
    struct contract_limits lim = {4, 1000000, 64, false};
    struct contract_prog *cp = NULL;
    char *err = NULL;
    uint64_t iters;

    if (contract_build(pj, &lim, &cp, &err)) {
        fail_msg("contract: %s", err);
    }
    assert_null(cp->incomplete);
    assert_true(cp->loop_mode);
    assert_int_equal(cp->n_lpcvs, 1);
    assert_string_equal(cp->lpcvs[0].name, "loop@3.1");
    assert_int_equal(cp->lpcvs[0].insns, 8);
    assert_int_equal(cp->lpcvs[0].mem, 1);
    assert_int_equal(cp->lpcvs[0].n_bodies, 1);
    assert_int_equal(cp->n_classes, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(class_by_insns(cp, (uint64_t[]){7, 9, 12}[i])->loops,
                         1);
    }
    struct ds s;
    ds_init(&s);
    contract_bound_text(cp, class_by_insns(cp, 9), CONTRACT_M_INSNS, &s);
    assert_string_equal(ds_cstr(&s), "9 + 8*loop@3.1");
    ds_destroy(&s);

    uint8_t pkt[8] = {1, 1, 0, 1, 1, 1, 1, 1};
    const struct contract_class *c = measure_loop(cp, pi, pj, pkt, 8, &iters);
    assert_int_equal(c->insns, 9);
    assert_int_equal(iters, 2);
    c = measure_loop(cp, pi, pj, pkt, 2, &iters);
    assert_int_equal(c->insns, 7);
    assert_int_equal(iters, 2);
    c = measure_loop(cp, pi, pj, pkt + 3, 5, &iters);
    assert_int_equal(c->insns, 12);
    assert_int_equal(iters, 3);
    c = measure_loop(cp, pi, pj, pkt + 2, 1, &iters);
    assert_int_equal(c->insns, 9);
    assert_int_equal(iters, 0);
    contract_prog_free(cp);
    bpf_object_close(oi);
    bpf_object_close(oj);
}

/* Three diamonds whose arms differ only in cost: 9 paths that the plain
 * walk cannot list within 6, but that merge into 5 records (the short
 * packet, and 1, 3, 3, 1 paths with 0..3 extra instructions), each cost
 * exact, and a measured run still finds its class. */
static const char *const diamond_prog =
    "r2 = *(u32 *)(r1 + 0)\n"
    "r3 = *(u32 *)(r1 + 4)\n"
    "r0 = 0\n"
    "r4 = r2\n"
    "r4 += 3\n"
    "if r4 > r3 goto out\n"
    "r5 = *(u8 *)(r2 + 0)\n"
    "if r5 == 1 goto a\n"
    "r0 += 0\n"
    "a:\n"
    "r5 = *(u8 *)(r2 + 1)\n"
    "if r5 == 1 goto b\n"
    "r0 += 0\n"
    "b:\n"
    "r5 = *(u8 *)(r2 + 2)\n"
    "if r5 == 1 goto out\n"
    "r0 += 0\n"
    "out:\n"
    "exit\n";

static void
test_merged_paths(void **state)
{
    (void)state;
    struct bpf_object *oi, *oj;
    struct bpf_prog *pi = load(diamond_prog, &oi);
    struct bpf_prog *pj = load(diamond_prog, &oj);
    struct contract_limits lim = {6, 1000000, 64, false};
    struct contract_prog *cp = NULL;
    char *err = NULL;

    if (contract_build(pj, &lim, &cp, &err)) {
        fail_msg("contract: %s", err);
    }
    assert_null(cp->incomplete);
    assert_true(cp->merged);
    assert_int_equal(cp->n_paths, 9);
    assert_int_equal(cp->n_classes, 5);
    static const uint64_t counts[4] = {1, 3, 3, 1};
    for (int extra = 0; extra < 4; extra++) {
        const struct contract_class *c = class_by_insns(cp, 13 + extra);
        assert_non_null(c);
        assert_int_equal(c->n_paths, counts[extra]);
    }
    const struct contract_class *c = measure(
        cp, pi, pj, (const uint8_t *)"\x01\x00\x01", 3);
    assert_false(c->traced);
    assert_int_equal(c->insns, 14);
    c = measure(cp, pi, pj, (const uint8_t *)"\x00\x00\x00", 3);
    assert_int_equal(c->insns, 16);
    contract_prog_free(cp);
    bpf_object_close(oi);
    bpf_object_close(oj);
}

/* A helper call: counted, and its x86 contract (mapcost) keeps the x86
 * bound above the measurement. */
static const char *const helper_prog =
    "call ktime_get_ns\n"
    "if r0 == 0 goto z\n"
    "r0 = 2\n"
    "exit\n"
    "z:\n"
    "r0 = 1\n"
    "exit\n";

static void
test_helper_call(void **state)
{
    (void)state;
    struct bpf_object *oi, *oj;
    struct bpf_prog *pi = load(helper_prog, &oi);
    struct bpf_prog *pj = load(helper_prog, &oj);
    struct contract_prog *cp = build(pj);

    assert_int_equal(cp->n_paths, 2);
    for (size_t i = 0; i < cp->n_classes; i++) {
        assert_int_equal(cp->classes[i].helpers, 1);
        assert_int_equal(cp->classes[i].n_calls, 1);
        assert_int_equal(cp->classes[i].calls[0].helper,
                         BPF_FUNC_ktime_get_ns);
        assert_true(cp->classes[i].calls[0].has_cost);
    }
    uint8_t pkt[20] = {0};
    const struct contract_class *c = measure(cp, pi, pj, pkt, 20);
    assert_int_equal(c->insns, 4);
    assert_int_equal(c->ret_min, 2);
    contract_prog_free(cp);
    bpf_object_close(oi);
    bpf_object_close(oj);
}

/* The counting interpreter agrees with the plain one and counts. */
static void
test_counting_interpreter(void **state)
{
    (void)state;
    struct bpf_object *o;
    struct bpf_prog *p = load(ethertype_prog, &o);
    static uint8_t frame[2048];
    uint8_t pkt[60] = {0};
    struct bpf_xdp_buff ctx;
    struct bpf_interp_counts cnt;

    pkt[12] = 0x08;
    ctx_for(&ctx, frame, pkt, sizeof pkt);
    memset(&cnt, 0, sizeof cnt);
    assert_int_equal(bpf_interp_run_xdp_counted(p, &ctx, &cnt), 2);
    assert_int_equal(cnt.insns, 10);
    assert_int_equal(cnt.mem, 3);
    assert_int_equal(cnt.helpers, 0);
    uint64_t sig = cnt.sig;
    pkt[13] = 1;
    ctx_for(&ctx, frame, pkt, sizeof pkt);
    assert_int_equal(bpf_interp_run_xdp_counted(p, &ctx, &cnt), 0);
    assert_int_equal(cnt.insns, 9);
    assert_true(cnt.sig != sig);
    bpf_object_close(o);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ethertype_classes),
        cmocka_unit_test(test_infeasible_branch_dropped),
        cmocka_unit_test(test_violation_reported),
        cmocka_unit_test(test_loop_iterations),
        cmocka_unit_test(test_incomplete_follows_trail),
        cmocka_unit_test(test_loop_mode),
        cmocka_unit_test(test_merged_paths),
        cmocka_unit_test(test_helper_call),
        cmocka_unit_test(test_counting_interpreter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
