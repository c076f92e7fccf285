/* Tests of the eBPF assembler and disassembler, and the data-driven
 * instruction-set conformance suite.
 *
 * 1. Encodings: hand-checked text -> bytes pairs for every instruction
 *    class, following RFC 9669 (opcode, registers, offset, immediate).
 * 2. Round trip: for every one of the 256 opcodes and many field values
 *    (valid or not), disassemble, assemble the text and compare the bytes.
 * 3. Errors: malformed lines give "line N, column C: ..." messages.
 * 4. Conformance: tests/bpf/isa/NAME.data holds a program as text, the
 *    memory r1 points to and the expected r0; each is assembled, verified
 *    in raw mode and run in the interpreter and in the JIT (where this
 *    machine has one). */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bpf/asm.h"
#include "bpf/bpf_api.h"
#include "bpf/bpf_int.h"
#include "bpf/disasm.h"
#include "core/util.h"

static struct bpf_insn
mk(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm)
{
    struct bpf_insn insn;
    memset(&insn, 0, sizeof insn);
    insn.code = code;
    insn.dst_reg = dst;
    insn.src_reg = src;
    insn.off = off;
    insn.imm = imm;
    return insn;
}

static bool
insn_eq(const struct bpf_insn *a, const struct bpf_insn *b)
{
    return !memcmp(a, b, sizeof *a);
}

static void
print_insn(const char *what, const struct bpf_insn *i)
{
    print_error("%s: code 0x%02x dst %u src %u off %d imm %d\n", what, i->code,
                i->dst_reg, i->src_reg, i->off, i->imm);
}

struct enc_case {
    const char *text;
    struct bpf_insn insn[2];
    size_t n;
};

#define E1(TEXT, CODE, DST, SRC, OFF, IMM)                                     \
    {                                                                          \
        TEXT, {{CODE, DST, SRC, OFF, IMM}}, 1                                  \
    }

static const struct enc_case enc_cases[] = {
    E1("r0 = *(u32 *)(r1 +4)", 0x61, 0, 1, 4, 0),
    E1("r3 = *(u8 *)(r10 -1)", 0x71, 3, 10, -1, 0),
    E1("r3 = *(u16 *)(r2 +0)", 0x69, 3, 2, 0, 0),
    E1("r3 = *(u64 *)(r2 +8)", 0x79, 3, 2, 8, 0),
    E1("r0 = *(s8 *)(r1 +0)", 0x91, 0, 1, 0, 0),
    E1("r0 = *(s16 *)(r1 +2)", 0x89, 0, 1, 2, 0),
    E1("r0 = *(s32 *)(r1 +4)", 0x81, 0, 1, 4, 0),
    E1("*(u8 *)(r10 -8) = r1", 0x73, 10, 1, -8, 0),
    E1("*(u16 *)(r10 -8) = r1", 0x6b, 10, 1, -8, 0),
    E1("*(u32 *)(r10 -8) = r1", 0x63, 10, 1, -8, 0),
    E1("*(u64 *)(r10 -8) = r1", 0x7b, 10, 1, -8, 0),
    E1("*(u32 *)(r10 -4) = 5", 0x62, 10, 0, -4, 5),
    E1("*(u64 *)(r1 +0) = -1", 0x7a, 1, 0, 0, -1),
    E1("*(u8 *)(r1 +0) = 1", 0x72, 1, 0, 0, 1),
    E1("*(u16 *)(r1 +0) = 1", 0x6a, 1, 0, 0, 1),
    E1("r1 += r2", 0x0f, 1, 2, 0, 0),
    E1("r1 += -1", 0x07, 1, 0, 0, -1),
    E1("w1 += w2", 0x0c, 1, 2, 0, 0),
    E1("w1 -= 3", 0x14, 1, 0, 0, 3),
    E1("r1 *= r2", 0x2f, 1, 2, 0, 0),
    E1("r1 /= 7", 0x37, 1, 0, 0, 7),
    E1("r1 s/= r2", 0x3f, 1, 2, 1, 0),
    E1("w1 s/= -2", 0x34, 1, 0, 1, -2),
    E1("r1 |= r2", 0x4f, 1, 2, 0, 0),
    E1("r1 &= 0xff", 0x57, 1, 0, 0, 255),
    E1("r1 <<= 3", 0x67, 1, 0, 0, 3),
    E1("r1 >>= r2", 0x7f, 1, 2, 0, 0),
    E1("r1 = -r1", 0x87, 1, 0, 0, 0),
    E1("w1 = -w1", 0x84, 1, 0, 0, 0),
    E1("r1 %= r2", 0x9f, 1, 2, 0, 0),
    E1("r1 s%= r2", 0x9f, 1, 2, 1, 0),
    E1("w1 s%= 3", 0x94, 1, 0, 1, 3),
    E1("r1 ^= r2", 0xaf, 1, 2, 0, 0),
    E1("r1 = r2", 0xbf, 1, 2, 0, 0),
    E1("w1 = w2", 0xbc, 1, 2, 0, 0),
    E1("r1 = 5", 0xb7, 1, 0, 0, 5),
    E1("w1 = 0xffffffff", 0xb4, 1, 0, 0, -1),
    E1("r1 s>>= 4", 0xc7, 1, 0, 0, 4),
    E1("w1 s>>= w2", 0xcc, 1, 2, 0, 0),
    E1("r1 = (s8)r2", 0xbf, 1, 2, 8, 0),
    E1("r1 = (s16)r2", 0xbf, 1, 2, 16, 0),
    E1("r1 = (s32)r2", 0xbf, 1, 2, 32, 0),
    E1("w1 = (s8)w2", 0xbc, 1, 2, 8, 0),
    E1("w1 = (s16)w2", 0xbc, 1, 2, 16, 0),
    E1("r1 = le16 r1", 0xd4, 1, 0, 0, 16),
    E1("r1 = le64 r1", 0xd4, 1, 0, 0, 64),
    E1("r1 = be32 r1", 0xdc, 1, 0, 0, 32),
    E1("r1 = bswap16 r1", 0xd7, 1, 0, 0, 16),
    E1("r1 = bswap64 r1", 0xd7, 1, 0, 0, 64),
    E1("goto +5", 0x05, 0, 0, 5, 0),
    E1("goto -1", 0x05, 0, 0, -1, 0),
    E1("gotol +100000", 0x06, 0, 0, 0, 100000),
    E1("if r2 > r3 goto +5", 0x2d, 2, 3, 5, 0),
    E1("if r2 == 0 goto +1", 0x15, 2, 0, 1, 0),
    E1("if r2 != r3 goto +1", 0x5d, 2, 3, 1, 0),
    E1("if r2 >= 4 goto +1", 0x35, 2, 0, 1, 4),
    E1("if r2 & 4 goto +1", 0x45, 2, 0, 1, 4),
    E1("if r2 s> r3 goto +1", 0x6d, 2, 3, 1, 0),
    E1("if r2 s>= -1 goto +1", 0x75, 2, 0, 1, -1),
    E1("if r2 < r3 goto +1", 0xad, 2, 3, 1, 0),
    E1("if r2 <= 9 goto +1", 0xb5, 2, 0, 1, 9),
    E1("if r2 s< r3 goto +1", 0xcd, 2, 3, 1, 0),
    E1("if r2 s<= 0 goto +1", 0xd5, 2, 0, 1, 0),
    E1("if w2 > w3 goto +5", 0x2e, 2, 3, 5, 0),
    E1("if w2 == 7 goto -2", 0x16, 2, 0, -2, 7),
    E1("call bpf_map_lookup_elem#1", 0x85, 0, 0, 0, 1),
    E1("call bpf_ktime_get_ns", 0x85, 0, 0, 0, 5),
    E1("call 12", 0x85, 0, 0, 0, 12),
    E1("call pc+3", 0x85, 0, 1, 0, 3),
    E1("exit", 0x95, 0, 0, 0, 0),
    E1("lock *(u32 *)(r1 +0) += r2", 0xc3, 1, 2, 0, BPF_ADD),
    E1("lock *(u64 *)(r1 +8) |= r2", 0xdb, 1, 2, 8, BPF_OR),
    E1("lock *(u64 *)(r1 +8) &= r2", 0xdb, 1, 2, 8, BPF_AND),
    E1("lock *(u64 *)(r1 +8) ^= r2", 0xdb, 1, 2, 8, BPF_XOR),
    E1("r2 = atomic64_fetch_add((u64 *)(r1 +0), r2)", 0xdb, 1, 2, 0, 0x01),
    E1("r2 = atomic_fetch_or((u32 *)(r1 +0), r2)", 0xc3, 1, 2, 0, 0x41),
    E1("r2 = atomic64_fetch_and((u64 *)(r1 +0), r2)", 0xdb, 1, 2, 0, 0x51),
    E1("r2 = atomic64_fetch_xor((u64 *)(r1 +0), r2)", 0xdb, 1, 2, 0, 0xa1),
    E1("r2 = atomic64_xchg((u64 *)(r1 +0), r2)", 0xdb, 1, 2, 0, 0xe1),
    E1("r0 = atomic_cmpxchg((u32 *)(r1 +0), r0, r2)", 0xc3, 1, 2, 0, 0xf1),
    E1("r0 = *(u8 *)skb[3]", 0x30, 0, 0, 0, 3),
    E1("r0 = *(u16 *)skb[12]", 0x28, 0, 0, 0, 12),
    E1("r0 = *(u32 *)skb[0]", 0x20, 0, 0, 0, 0),
    E1("r0 = *(u8 *)skb[r2 +1]", 0x50, 0, 2, 0, 1),
    E1("r0 = *(u16 *)skb[r2 -1]", 0x48, 0, 2, 0, -1),
    E1("r0 = *(u32 *)skb[r2 +0]", 0x40, 0, 2, 0, 0),
    E1(".insn 0xff, 1, 2, -3, 4", 0xff, 1, 2, -3, 4),
    {"r1 = 0x1122334455667788 ll",
     {{0x18, 1, 0, 0, 0x55667788}, {0, 0, 0, 0, 0x11223344}},
     2},
    {"r1 = 0x100000000", {{0x18, 1, 0, 0, 0}, {0, 0, 0, 0, 1}}, 2},
    {"r1 = map[id:3]",
     {{0x18, 1, BPF_PSEUDO_MAP_FD, 0, 3}, {0, 0, 0, 0, 0}},
     2},
    {"r1 = map[id:2][0]+16",
     {{0x18, 1, BPF_PSEUDO_MAP_VALUE, 0, 2}, {0, 0, 0, 0, 16}},
     2},
    {"r1 = func pc+4", {{0x18, 1, BPF_PSEUDO_FUNC, 0, 4}, {0, 0, 0, 0, 0}}, 2},
};

static void
test_encodings(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(enc_cases); i++) {
        const struct enc_case *c = &enc_cases[i];
        struct bpf_insn *insns;
        size_t n;
        char *err = bpf_asm(c->text, NULL, 0, &insns, &n);
        if (err) {
            fail_msg("'%s': %s", c->text, err);
        }
        if (n != c->n) {
            fail_msg("'%s': %zu instructions, expected %zu", c->text, n, c->n);
        }
        for (size_t k = 0; k < n; k++) {
            if (!insn_eq(&insns[k], &c->insn[k])) {
                print_insn("got", &insns[k]);
                print_insn("expected", &c->insn[k]);
                fail_msg("'%s': wrong encoding", c->text);
            }
        }
        /* The disassembler prints the canonical text back. */
        struct ds out = DS_EMPTY_INITIALIZER;
        bpf_disasm_insns(insns, n, NULL, 0, false, &out);
        struct bpf_insn *insns2;
        size_t n2;
        err = bpf_asm(ds_cstr(&out), NULL, 0, &insns2, &n2);
        if (err || n2 != n || memcmp(insns, insns2, n * sizeof *insns)) {
            fail_msg("'%s' -> '%s' does not assemble back: %s", c->text,
                     ds_cstr(&out), err ? err : "different bytes");
        }
        free(insns2);
        ds_destroy(&out);
        free(insns);
    }
}

/* Expected disassembly of a few instructions, in the kernel's notation. */
static void
test_disasm_text(void **state)
{
    static const struct {
        struct bpf_insn insn[2];
        const char *text;
    } cases[] = {
        {{{0x61, 0, 1, 4, 0}}, "r0 = *(u32 *)(r1 +4)"},
        {{{0x2d, 2, 3, 5, 0}}, "if r2 > r3 goto +5"},
        {{{0x85, 0, 0, 0, 1}}, "call bpf_map_lookup_elem#1"},
        {{{0x85, 0, 0, 0, 99999}}, "call unknown#99999"},
        {{{0xbc, 1, 2, 8, 0}}, "w1 = (s8)w2"},
        {{{0xd7, 3, 0, 0, 32}}, "r3 = bswap32 r3"},
        {{{0x06, 0, 0, 0, -7}}, "gotol -7"},
        {{{0xdb, 1, 2, 0, 0xf1}},
         "r0 = atomic64_cmpxchg((u64 *)(r1 +0), r0, r2)"},
        {{{0x95, 0, 0, 0, 1}}, ".insn 0x95, 0, 0, 0, 1"},
        {{{0x07, 11, 0, 0, 1}}, ".insn 0x07, 11, 0, 0, 1"},
        /* A sign-extending move from no register (found by fuzz_elf). */
        {{{0xbf, 2, 14, 16, 0}}, ".insn 0xbf, 2, 14, 16, 0"},
        {{{0x18, 1, BPF_PSEUDO_MAP_FD, 0, 0}, {0, 0, 0, 0, 0}},
         "r1 = map[id:conns]"},
    };
    struct bpf_map map;
    memset(&map, 0, sizeof map);
    snprintf(map.name, sizeof map.name, "conns");
    struct bpf_map *maps[] = {&map};

    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct ds out = DS_EMPTY_INITIALIZER;
        size_t n = cases[i].insn[0].code == 0x18 ? 2 : 1;
        bpf_disasm_insn(cases[i].insn, n, 0, maps, 1, &out);
        assert_string_equal(ds_cstr(&out), cases[i].text);
        ds_destroy(&out);
    }

    /* With the map list, names assemble back to the index. */
    struct bpf_insn *insns;
    size_t n;
    char *err = bpf_asm("r1 = map[id:conns]", maps, 1, &insns, &n);
    assert_null(err);
    assert_int_equal(n, 2);
    assert_int_equal(insns[0].imm, 0);
    free(insns);
}

/* xorshift64*: deterministic field values for the round trip. */
static uint64_t
rnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1DULL;
}

static void
round_trip(const struct bpf_insn *insns, size_t n)
{
    struct ds out = DS_EMPTY_INITIALIZER;
    bpf_disasm_insns(insns, n, NULL, 0, false, &out);
    struct bpf_insn *back;
    size_t n_back;
    char *err = bpf_asm(ds_cstr(&out), NULL, 0, &back, &n_back);
    if (err) {
        fail_msg("'%s' does not assemble: %s", ds_cstr(&out), err);
    }
    if (n_back != n || memcmp(back, insns, n * sizeof *insns)) {
        for (size_t i = 0; i < n; i++) {
            print_insn("original", &insns[i]);
        }
        for (size_t i = 0; i < n_back; i++) {
            print_insn("assembled", &back[i]);
        }
        fail_msg("round trip of '%s' changed the bytes", ds_cstr(&out));
    }
    free(back);
    ds_destroy(&out);
}

static void
test_round_trip_all_opcodes(void **state)
{
    static const int32_t imms[] = {
        0,
        1,
        -1,
        8,
        16,
        32,
        64,
        0x7fffffff,
        INT32_MIN,
        BPF_ADD,
        BPF_ADD | BPF_FETCH,
        BPF_OR,
        BPF_AND | BPF_FETCH,
        BPF_XOR,
        BPF_XCHG,
        BPF_CMPXCHG,
        0x12345678,
    };
    static const int16_t offs[] = {0, 1, -1, 8, 16, 32, 0x7fff, -0x8000};
    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    size_t checked = 0;

    (void)state;
    for (unsigned int code = 0; code < 256; code++) {
        for (size_t i = 0; i < ARRAY_SIZE(imms); i++) {
            for (size_t o = 0; o < ARRAY_SIZE(offs); o++) {
                uint64_t r = rnd(&seed);
                struct bpf_insn insns[2] = {
                    mk(code, r % 12, (r >> 8) % 12, offs[o], imms[i]),
                    mk(0, 0, 0, 0, (int32_t)(r >> 32)),
                };
                /* Vary the second slot so LD_IMM64 forms and raw second
                 * halves are both covered. */
                if (r & 0x10000) {
                    insns[1].code = (uint8_t)(r >> 20);
                }
                if ((r & 0x60000) == 0) {
                    insns[0].src_reg = (r >> 24) % 7;
                }
                round_trip(insns, 2);
                round_trip(insns, 1);
                checked++;
            }
        }
    }
    for (int i = 0; i < 100000; i++) {
        uint64_t r = rnd(&seed), r2 = rnd(&seed);
        struct bpf_insn insns[2] = {
            mk((uint8_t)r, (r >> 8) & 15, (r >> 12) & 15, (int16_t)(r >> 16),
               (int32_t)(r >> 32)),
            mk((uint8_t)r2 & (r2 & 0x100 ? 0xff : 0), 0, 0, 0,
               (int32_t)(r2 >> 32)),
        };
        round_trip(insns, 2);
        checked++;
    }
    assert_true(checked > 100000);
}

static void
test_labels_and_comments(void **state)
{
    static const char *text = "; a comment line\n"
                              "start:  r0 = 0          // trailing comment\n"
                              "        r1 = 10\n"
                              "loop:\n"
                              "   3: (0f) r0 += r1\n"
                              "        r1 -= 1\n"
                              "        if r1 != 0 goto loop\n"
                              "        gotol end\n"
                              "        r0 = 99\n"
                              "end:    exit\n";
    struct bpf_insn *insns;
    size_t n;
    char *err = bpf_asm(text, NULL, 0, &insns, &n);

    (void)state;
    assert_null(err);
    assert_int_equal(n, 8);
    assert_int_equal(insns[4].code, BPF_JMP | BPF_JNE | BPF_K);
    assert_int_equal(insns[4].off, -3);
    assert_int_equal(insns[5].code, BPF_JMP32 | BPF_JA);
    assert_int_equal(insns[5].imm, 1);
    free(insns);
}

static void
test_errors(void **state)
{
    static const struct {
        const char *text;
        const char *msg;
    } cases[] = {
        {"r0 = 1\nr11 = 2\n", "line 2, column 1"},
        {"r0 += \n", "line 1, column 7: expected register or number"},
        {"foo\n", "line 1, column 1: expected instruction"},
        {"if r1 > r2 goto nowhere\nexit\n", "undefined label 'nowhere'"},
        {"call bpf_no_such_helper\n", "unknown helper name"},
        {"r0 = *(u24 *)(r1 +0)\n", "unknown access size"},
        {"w1 = 0x100000000\n", "32-bit immediate out of range"},
        {"r1 = le17 r1\n", "byte swap width"},
        {"r1 = (s32)r2\nw1 = (s32)w2\n", "line 2"},
        {"goto +40000\n", "number out of range"},
        {"x: exit\nx: exit\n", "duplicate label"},
        {"r1 = map[id:foo]\n", "unknown map name"},
        {"r2 = atomic64_fetch_add((u64 *)(r1 +0), r3)\n",
         "must be the source register"},
        {"r1 = *(u8 *)skb[0]\n", "packet loads"},
        {"r1 = r2 r3\n", "line 1, column 9: expected end of line"},
        {"w1 += r2\n", "mixed rN and wN"},
    };

    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct bpf_insn *insns = NULL;
        size_t n;
        char *err = bpf_asm(cases[i].text, NULL, 0, &insns, &n);
        if (!err) {
            fail_msg("'%s' assembled without error", cases[i].text);
        }
        if (!strstr(err, cases[i].msg)) {
            fail_msg("'%s': message '%s' lacks '%s'", cases[i].text, err,
                     cases[i].msg);
        }
        assert_null(insns);
        free(err);
    }
}

/* One conformance case file: "-- asm", "-- mem", "-- result" sections. */
struct isa_case {
    char *asm_text;
    char *mem_hex;
    uint64_t result;
    bool has_result;
};

static char *
read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        return NULL;
    }
    struct ds ds = DS_EMPTY_INITIALIZER;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        ds_put_buf(&ds, buf, n);
    }
    fclose(f);
    ds_put_cstr(&ds, "");
    return ds_steal_cstr(&ds);
}

static bool
parse_isa_case(char *text, struct isa_case *c)
{
    struct ds sect[3] = {DS_EMPTY_INITIALIZER, DS_EMPTY_INITIALIZER,
                         DS_EMPTY_INITIALIZER};
    int cur = -1;
    char *save = NULL;

    memset(c, 0, sizeof *c);
    for (char *line = strtok_r(text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        if (!strncmp(line, "-- ", 3)) {
            cur = !strcmp(line + 3, "asm")      ? 0
                  : !strcmp(line + 3, "mem")    ? 1
                  : !strcmp(line + 3, "result") ? 2
                                                : -2;
            if (cur == -2) {
                return false;
            }
            continue;
        }
        if (cur < 0 || line[0] == '#') {
            continue;
        }
        ds_put_cstr(&sect[cur], line);
        ds_put_char(&sect[cur], '\n');
    }
    c->asm_text = ds_steal_cstr(&sect[0]);
    c->mem_hex = ds_steal_cstr(&sect[1]);
    char *res = ds_steal_cstr(&sect[2]);
    if (res) {
        char *end;
        c->result = strtoull(res, &end, 0);
        c->has_result = end != res;
    }
    free(res);
    return c->asm_text && c->has_result;
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
test_conformance(void **state)
{
    const char *root = getenv("SLUICE_SOURCE_ROOT");
    char *dir = xasprintf("%s/tests/bpf/isa", root ? root : ".");
    DIR *d = opendir(dir);
    char **names = NULL;
    size_t n_names = 0, failed = 0;

    (void)state;
    if (!d) {
        fail_msg("cannot open %s: %s", dir, strerror(errno));
    }
    for (struct dirent *e; (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (len > 5 && !strcmp(e->d_name + len - 5, ".data")) {
            names = xrealloc(names, (n_names + 1) * sizeof *names);
            names[n_names++] = xstrdup(e->d_name);
        }
    }
    closedir(d);
    qsort(names, n_names, sizeof *names, cmp_str);
    assert_true(n_names >= 100);

    for (size_t i = 0; i < n_names; i++) {
        char *path = xasprintf("%s/%s", dir, names[i]);
        char *text = read_file(path);
        struct isa_case c;
        struct bpf_insn *insns = NULL;
        size_t n;
        uint8_t *mem = NULL;
        size_t mem_len = 0;
        char *err = NULL;

        if (!text || !parse_isa_case(text, &c)) {
            print_error("%s: malformed case file\n", names[i]);
            failed++;
            goto next;
        }
        err = bpf_asm(c.asm_text, NULL, 0, &insns, &n);
        if (!err && c.mem_hex) {
            err = hex_to_bytes(c.mem_hex, &mem, &mem_len);
        }
        if (err) {
            print_error("%s: %s\n", names[i], err);
            failed++;
            free(err);
            goto next_case;
        }
        struct bpf_object *obj;
        if (bpf_prog_from_insns(insns, n, true, &obj, &err)) {
            print_error("%s: %s\n", names[i], err);
            free(err);
            failed++;
            goto next_case;
        }
        struct bpf_prog *prog = bpf_object_prog(obj, 0);
        struct bpf_verify_result res;
        memset(&res, 0, sizeof res);
        bpf_prog_verify(prog, &res);
        if (!res.accepted) {
            print_error("%s: rejected at %" PRIu32 ": %s\n", names[i],
                        res.insn_idx, res.log ? res.log : "");
            failed++;
        } else {
            /* The interpreter, then the JIT where this machine has one.
             * Each engine gets a fresh copy of the memory. */
            static const enum bpf_exec_mode modes[] = {BPF_EXEC_INTERP,
                                                       BPF_EXEC_JIT};
            for (size_t m = 0; m < ARRAY_SIZE(modes); m++) {
                uint8_t *copy = xmalloc(mem_len ? mem_len : 1);
                memcpy(copy, mem ? mem : copy, mem_len);
                bpf_prog_set_exec_mode(prog, modes[m]);
                char *jerr = NULL;
                int jrc =
                    modes[m] == BPF_EXEC_JIT ? bpf_prog_jit(prog, &jerr) : 0;
                free(jerr);
                if (jrc == -EOPNOTSUPP) {
                    free(copy);
                    continue;
                }
                uint64_t r0 = bpf_prog_run_raw(prog, copy, mem_len);
                if (jrc || r0 != c.result) {
                    print_error("%s (%s): r0 = 0x%" PRIx64
                                ", expected 0x%" PRIx64 "%s\n",
                                names[i], m ? "jit" : "interpreter", r0,
                                c.result, jrc ? " (JIT refused it)" : "");
                    failed++;
                }
                free(copy);
            }
        }
        bpf_verify_result_destroy(&res);
        bpf_object_close(obj);
    next_case:
        free(c.asm_text);
        free(c.mem_hex);
        free(insns);
        free(mem);
    next:
        free(text);
        free(path);
        free(names[i]);
    }
    free(names);
    free(dir);
    if (failed) {
        fail_msg("%zu failed runs in %zu conformance cases", failed, n_names);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encodings),
        cmocka_unit_test(test_disasm_text),
        cmocka_unit_test(test_round_trip_all_opcodes),
        cmocka_unit_test(test_labels_and_comments),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_conformance),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
