/* Tests of the ELF object loader (src/bpf/object.c, btf.c).
 *
 * The objects are built from tests/bpf/NAME.c by the build with clang
 * (-O2 -g -target bpf -mcpu=v3; loader_basic also at v1 and v2) and found
 * under SLUICE_BUILD_ROOT/src/bpf.  Checked: program sections and the
 * splitting of a section into several programs, BTF-defined and legacy
 * maps, global data maps (string literals included) and their initial
 * images, .rodata overrides at load time, map and global-data relocations,
 * BPF-to-BPF calls and function addresses, program arrays filled from
 * static initialisers (and tail calls through them), extern symbols,
 * running loaded programs through the verifier and interpreter, the
 * disassembly round trip of every loaded program, and that truncated,
 * corrupted or malformed files give errors naming the section, never
 * crashes. */
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
#include <elf.h>

#include "bpf/asm.h"
#include "bpf/bpf_api.h"
#include "bpf/bpf_int.h"
#include "bpf/disasm.h"
#include "bpf/maps.h"
#include "core/log.h"
#include "core/util.h"

static char *
obj_path(const char *name)
{
    const char *root = getenv("SLUICE_BUILD_ROOT");
    return xasprintf("%s/src/bpf/%s.o", root ? root : ".", name);
}

static uint8_t *
read_obj(const char *name, size_t *size)
{
    char *path = obj_path(name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fail_msg("cannot open %s: %s", path, strerror(errno));
    }
    free(path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = xmalloc(len > 0 ? (size_t)len : 1);
    assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *size = (size_t)len;
    return buf;
}

static struct bpf_object *
open_obj(const char *name, const struct bpf_load_opts *opts)
{
    char *path = obj_path(name);
    struct bpf_object *obj;
    char *err;
    int rc = bpf_object_open(path, opts, &obj, &err);
    if (rc) {
        fail_msg("%s: rc %d: %s", path, rc, err);
    }
    assert_null(err);
    free(path);
    return obj;
}

/* Finds the first LD_IMM64 of 'prog' referring to map 'name' with pseudo
 * source 'src'; returns its index or -1. */
static int
find_map_ref(const struct bpf_prog *prog, const char *name, uint8_t src,
             int32_t *off)
{
    for (uint32_t i = 0; i + 1 < prog->n_insns; i++) {
        const struct bpf_insn *insn = &prog->insns[i];
        if (insn->code != (BPF_LD | BPF_IMM | BPF_DW)) {
            continue;
        }
        if (insn->src_reg == src && insn->imm >= 0 &&
            (uint32_t)insn->imm < prog->n_maps &&
            !strcmp(prog->maps[insn->imm]->name, name)) {
            if (off) {
                *off = insn[1].imm;
            }
            return (int)i;
        }
        i++;
    }
    return -1;
}

static void
test_sections(void **state)
{
    struct bpf_object *obj = open_obj("loader_basic", NULL);
    static const struct {
        const char *name, *section;
    } expect[] = {
        {"xdp_main", "xdp"},      {"xdp_second", "xdp/second"},
        {"xdp_one", "xdp.frags"}, {"xdp_two", "xdp.frags"},
        {"xdp_loop", "xdp/loop"},
    };

    (void)state;
    assert_int_equal(bpf_object_n_progs(obj), ARRAY_SIZE(expect));
    for (size_t i = 0; i < ARRAY_SIZE(expect); i++) {
        struct bpf_prog *prog = bpf_object_find_prog(obj, expect[i].name);
        assert_non_null(prog);
        assert_string_equal(bpf_prog_name(prog), expect[i].name);
        assert_string_equal(bpf_prog_section(prog), expect[i].section);
        assert_int_equal(prog->kind, BPF_PROG_KIND_XDP);
        assert_true(bpf_prog_n_insns(prog) > 2);
    }
    assert_string_equal(bpf_prog_name(bpf_object_find_prog(obj, "xdp/second")),
                        "xdp_second");
    assert_null(bpf_object_find_prog(obj, "nope"));
    assert_null(bpf_object_prog(obj, 99));
    /* .text functions are not programs of their own. */
    assert_null(bpf_object_find_prog(obj, "global_helper"));
    bpf_object_close(obj);
}

static void
test_btf_maps(void **state)
{
    struct bpf_object *obj = open_obj("loader_basic", NULL);
    static const struct {
        const char *name;
        uint32_t type, key, value, max;
    } expect[] = {
        {"conns", BPF_MAP_TYPE_HASH, 4, 24, 1024},
        {"stats", BPF_MAP_TYPE_ARRAY, 4, 16, 4},
        {"counters", BPF_MAP_TYPE_PERCPU_ARRAY, 4, 40, 2},
        {".rodata", BPF_MAP_TYPE_ARRAY, 4, 5, 1},
        {".data", BPF_MAP_TYPE_ARRAY, 4, 8, 1},
        {".bss", BPF_MAP_TYPE_ARRAY, 4, 4, 1},
    };

    (void)state;
    assert_int_equal(bpf_object_n_maps(obj), ARRAY_SIZE(expect));
    for (size_t i = 0; i < ARRAY_SIZE(expect); i++) {
        struct bpf_map *map = bpf_object_find_map(obj, expect[i].name);
        if (!map) {
            fail_msg("no map '%s'", expect[i].name);
        }
        assert_ptr_equal(map, bpf_object_map(obj, i));
        assert_int_equal(map->type, expect[i].type);
        assert_int_equal(map->key_size, expect[i].key);
        assert_int_equal(map->value_size, expect[i].value);
        assert_int_equal(map->max_entries, expect[i].max);
        assert_non_null(map->ops);
    }
    assert_true(bpf_object_find_map(obj, ".rodata")->read_only);
    assert_false(bpf_object_find_map(obj, ".data")->read_only);
    assert_string_equal(bpf_object_find_map(obj, ".bss")->section, ".bss");
    assert_null(bpf_object_find_map(obj, "conns")->section);
    bpf_object_close(obj);
}

static void
test_global_data(void **state)
{
    struct bpf_object *obj = open_obj("loader_basic", NULL);
    uint32_t key = 0;
    uint8_t ro[5], data[8], bss[4];
    uint64_t total;

    (void)state;
    assert_int_equal(
        bpf_map_lookup(bpf_object_find_map(obj, ".rodata"), &key, ro), 0);
    uint32_t threshold;
    memcpy(&threshold, ro, 4);
    assert_int_equal(threshold, 7);
    assert_int_equal(ro[4], 1);
    assert_int_equal(
        bpf_map_lookup(bpf_object_find_map(obj, ".data"), &key, data), 0);
    memcpy(&total, data, 8);
    assert_int_equal(total, 42);
    memset(bss, 0xff, sizeof bss);
    assert_int_equal(
        bpf_map_lookup(bpf_object_find_map(obj, ".bss"), &key, bss), 0);
    assert_int_equal(bss[0] | bss[1] | bss[2] | bss[3], 0);

    /* Relocations: map references and global-data offsets. */
    struct bpf_prog *prog = bpf_object_find_prog(obj, "xdp_main");
    int32_t off = -1;
    assert_true(find_map_ref(prog, "conns", BPF_PSEUDO_MAP_FD, NULL) >= 0);
    assert_true(find_map_ref(prog, ".bss", BPF_PSEUDO_MAP_VALUE, &off) >= 0);
    assert_int_equal(off, 0);
    assert_true(find_map_ref(prog, ".rodata", BPF_PSEUDO_MAP_VALUE, &off) >= 0);
    assert_int_equal(off, 4); /* 'mode' follows the u32 'threshold'. */
    assert_true(find_map_ref(prog, ".data", BPF_PSEUDO_MAP_VALUE, &off) >= 0);
    assert_int_equal(off, 0);
    /* Each program lists only the maps it uses. */
    prog = bpf_object_find_prog(obj, "xdp_one");
    assert_int_equal(prog->n_maps, 1);
    assert_string_equal(prog->maps[0]->name, "counters");
    bpf_object_close(obj);
}

/* Returns the number of functions (exits) reachable by calls and checks
 * that every BPF_PSEUDO_CALL/BPF_PSEUDO_FUNC targets an instruction inside
 * the program that follows an exit (the start of an appended function). */
static void
check_calls(const struct bpf_prog *prog, unsigned int *n_calls,
            unsigned int *n_funcs)
{
    *n_calls = *n_funcs = 0;
    for (uint32_t i = 0; i < prog->n_insns; i++) {
        const struct bpf_insn *insn = &prog->insns[i];
        bool call = insn->code == (BPF_JMP | BPF_CALL) &&
                    insn->src_reg == BPF_PSEUDO_CALL;
        bool func = insn->code == (BPF_LD | BPF_IMM | BPF_DW) &&
                    insn->src_reg == BPF_PSEUDO_FUNC;
        if (call || func) {
            int64_t t = (int64_t)i + insn->imm + 1;
            if (t <= 0 || t >= prog->n_insns) {
                fail_msg("%s: insn %u targets %" PRId64 " outside [0, %u)",
                         prog->name, i, t, prog->n_insns);
            }
            assert_int_equal(prog->insns[t - 1].code, BPF_JMP | BPF_EXIT);
            *n_calls += call;
            *n_funcs += func;
        }
    }
}

static void
test_calls(void **state)
{
    struct bpf_object *obj = open_obj("loader_basic", NULL);
    unsigned int calls, funcs, exits = 0;

    (void)state;
    /* xdp_main -> global_helper (global, .text) -> twice (static, called
     * within .text without a relocation). */
    struct bpf_prog *prog = bpf_object_find_prog(obj, "xdp_main");
    check_calls(prog, &calls, &funcs);
    assert_int_equal(calls, 2);
    for (uint32_t i = 0; i < prog->n_insns; i++) {
        exits += prog->insns[i].code == (BPF_JMP | BPF_EXIT);
    }
    assert_int_equal(exits, 3); /* Main and two functions, each once. */

    /* xdp_second calls the static function through the section symbol. */
    check_calls(bpf_object_find_prog(obj, "xdp_second"), &calls, &funcs);
    assert_int_equal(calls, 1);
    check_calls(bpf_object_find_prog(obj, "xdp_two"), &calls, &funcs);
    assert_int_equal(calls, 2);
    /* bpf_loop's callback is passed by address. */
    check_calls(bpf_object_find_prog(obj, "xdp_loop"), &calls, &funcs);
    assert_int_equal(calls, 0);
    assert_int_equal(funcs, 1);
    bpf_object_close(obj);
}

/* Verifies 'name' of 'obj' and runs it on a 64-byte packet received on
 * queue 'rxq'; returns r0. */
static uint64_t
run_prog(struct bpf_object *obj, const char *name, uint32_t rxq)
{
    struct bpf_prog *prog = bpf_object_find_prog(obj, name);
    struct bpf_verify_result res;
    memset(&res, 0, sizeof res);
    bpf_prog_verify(prog, &res);
    if (!res.accepted) {
        fail_msg("%s rejected at %u: %s", name, res.insn_idx,
                 res.log ? res.log : "");
    }
    bpf_verify_result_destroy(&res);

    uint8_t frame[512];
    memset(frame, 0, sizeof frame);
    struct bpf_xdp_buff ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.data_hard_start = (uintptr_t)frame;
    ctx.data = ctx.data_meta = (uintptr_t)frame + 256;
    ctx.data_end = ctx.data + 64;
    ctx.frame_end = (uintptr_t)frame + sizeof frame;
    ctx.ingress_ifindex = 1;
    ctx.rx_queue_index = rxq;
    return bpf_prog_run_xdp(prog, &ctx);
}

static uint64_t
run_main(struct bpf_object *obj)
{
    return run_prog(obj, "xdp_main", 0);
}

/* Runs xdp_main of 'name' with and without .rodata overrides. */
static void
run_and_rodata(const char *name)
{
    uint32_t key = 0, seen = 0;
    uint64_t total = 0;

    /* threshold = 7: global_helper(0) = 0 * 2 + 7 + 1 <= 100 -> PASS. */
    struct bpf_object *obj = open_obj(name, NULL);
    assert_int_equal(run_main(obj), XDP_PASS);
    assert_int_equal(
        bpf_map_lookup(bpf_object_find_map(obj, ".bss"), &key, &seen), 0);
    assert_int_equal(seen, 1);
    assert_int_equal(
        bpf_map_lookup(bpf_object_find_map(obj, ".data"), &key, &total), 0);
    assert_int_equal(total, 43);
    bpf_object_close(obj);

    /* threshold = 200 set at load time -> DROP; mode = 5 adds 5. */
    uint32_t threshold = 200;
    uint8_t mode = 5;
    struct bpf_rodata_set sets[] = {
        {"threshold", &threshold, sizeof threshold},
        {"mode", &mode, sizeof mode},
    };
    struct bpf_load_opts opts = {.rodata = sets, .n_rodata = 2};
    obj = open_obj(name, &opts);
    assert_int_equal(run_main(obj), XDP_DROP);
    assert_int_equal(
        bpf_map_lookup(bpf_object_find_map(obj, ".data"), &key, &total), 0);
    assert_int_equal(total, 47);
    bpf_object_close(obj);
}

static void
test_run_and_rodata(void **state)
{
    (void)state;
    /* The same source built for -mcpu=v3, v2 and v1. */
    run_and_rodata("loader_basic");
    run_and_rodata("loader_basic_v2");
    run_and_rodata("loader_basic_v1");
}

/* Disassembling each relocated program (map names included) and assembling
 * the text back gives the same instructions. */
static void
test_disasm_round_trip(void **state)
{
    static const char *const objs[] = {
        "loader_basic",  "loader_basic_v1", "loader_basic_v2",
        "loader_legacy", "loader_tail",
    };

    (void)state;
    for (size_t o = 0; o < ARRAY_SIZE(objs); o++) {
        struct bpf_object *obj = open_obj(objs[o], NULL);
        for (size_t i = 0; i < bpf_object_n_progs(obj); i++) {
            struct bpf_prog *prog = bpf_object_prog(obj, i);
            struct ds text = DS_EMPTY_INITIALIZER;
            struct bpf_insn *insns;
            size_t n;
            bpf_disasm_insns(prog->insns, prog->n_insns, prog->maps,
                             prog->n_maps, true, &text);
            assert_null(strstr(ds_cstr(&text), ".insn"));
            char *err =
                bpf_asm(ds_cstr(&text), prog->maps, prog->n_maps, &insns, &n);
            if (err) {
                fail_msg("%s/%s: %s", objs[o], prog->name, err);
            }
            assert_int_equal(n, prog->n_insns);
            assert_memory_equal(insns, prog->insns, n * sizeof *insns);
            free(insns);
            ds_destroy(&text);
        }
        bpf_object_close(obj);
    }
}

/* A program array filled from __array(values, ...) at load time. */
static void
test_prog_array(void **state)
{
    struct bpf_object *obj = open_obj("loader_tail", NULL);
    struct bpf_map *table = bpf_object_find_map(obj, "jump_table");

    (void)state;
    assert_non_null(table);
    assert_int_equal(table->type, BPF_MAP_TYPE_PROG_ARRAY);
    assert_int_equal(table->max_entries, 4);
    assert_null(bpf_prog_array_get(table, 0));
    assert_ptr_equal(bpf_prog_array_get(table, 1),
                     bpf_object_find_prog(obj, "tail_one"));
    assert_null(bpf_prog_array_get(table, 2));
    assert_ptr_equal(bpf_prog_array_get(table, 3),
                     bpf_object_find_prog(obj, "tail_two"));

    /* The control plane names programs by their index in the object. */
    uint32_t key = 1, value;
    assert_int_equal(bpf_map_lookup(table, &key, &value), 0);
    assert_ptr_equal(bpf_object_prog(obj, value),
                     bpf_object_find_prog(obj, "tail_one"));

    /* Tail calls through the table: slot 1 -> TX, 3 -> DROP, and an empty
     * slot falls through to PASS. */
    run_prog(obj, "tail_one", 0);
    run_prog(obj, "tail_two", 0);
    assert_int_equal(run_prog(obj, "entry", 1), XDP_TX);
    assert_int_equal(run_prog(obj, "entry", 3), XDP_DROP);
    assert_int_equal(run_prog(obj, "entry", 2), XDP_PASS);
    bpf_object_close(obj);
}

static void
test_rodata_errors(void **state)
{
    char *path = obj_path("loader_basic");
    struct bpf_object *obj;
    char *err;
    uint64_t v = 1;

    (void)state;
    struct bpf_rodata_set unknown = {"no_such_var", &v, 4};
    struct bpf_load_opts opts = {.rodata = &unknown, .n_rodata = 1};
    assert_int_equal(bpf_object_open(path, &opts, &obj, &err), -ENOENT);
    assert_null(obj);
    assert_non_null(strstr(err, "'no_such_var'"));
    free(err);

    struct bpf_rodata_set wrong = {"threshold", &v, 8};
    opts.rodata = &wrong;
    assert_int_equal(bpf_object_open(path, &opts, &obj, &err), -EINVAL);
    assert_non_null(strstr(err, "'threshold' is 4 bytes"));
    free(err);

    /* .data is not .rodata: its variables are not settable. */
    struct bpf_rodata_set data = {"total", &v, 8};
    opts.rodata = &data;
    assert_int_equal(bpf_object_open(path, &opts, &obj, &err), -ENOENT);
    free(err);
    free(path);
}

static void
test_legacy_maps(void **state)
{
    struct bpf_object *obj = open_obj("loader_legacy", NULL);

    (void)state;
    assert_int_equal(bpf_object_n_maps(obj), 3);
    struct bpf_map *h = bpf_object_find_map(obj, "legacy_hash");
    struct bpf_map *a = bpf_object_find_map(obj, "legacy_array");
    assert_non_null(h);
    assert_non_null(a);
    assert_int_equal(h->type, BPF_MAP_TYPE_HASH);
    assert_int_equal(h->key_size, 8);
    assert_int_equal(h->value_size, 4);
    assert_int_equal(h->max_entries, 16);
    assert_int_equal(a->type, BPF_MAP_TYPE_ARRAY);
    assert_int_equal(a->value_size, 32);
    assert_int_equal(a->max_entries, 8);
    assert_non_null(bpf_object_find_prog(obj, "socket"));
    assert_non_null(bpf_object_find_prog(obj, "classifier"));
    struct bpf_prog *prog = bpf_object_find_prog(obj, "sock_prog");
    assert_true(find_map_ref(prog, "legacy_hash", BPF_PSEUDO_MAP_FD, NULL) >=
                0);

    /* String literals: ".rodata.str1.1" is a read-only global-data map,
     * referenced as section symbol + offset. */
    struct bpf_map *str = bpf_object_find_map(obj, ".rodata.str1.1");
    assert_non_null(str);
    assert_true(str->read_only);
    assert_string_equal(str->section, ".rodata");
    char image[64];
    uint32_t key = 0;
    assert_true(str->value_size <= sizeof image);
    assert_int_equal(bpf_map_lookup(str, &key, image), 0);
    int offs[2], n_offs = 0;
    for (uint32_t i = 0; i + 1 < prog->n_insns; i++) {
        const struct bpf_insn *insn = &prog->insns[i];
        if (insn->code == (BPF_LD | BPF_IMM | BPF_DW)) {
            if (insn->src_reg == BPF_PSEUDO_MAP_VALUE &&
                prog->maps[insn->imm] == str && n_offs < 2) {
                offs[n_offs++] = insn[1].imm;
            }
            i++;
        }
    }
    assert_int_equal(n_offs, 2);
    assert_true(offs[0] >= 0 && (uint32_t)offs[0] < str->value_size);
    assert_true(offs[1] >= 0 && (uint32_t)offs[1] < str->value_size);
    assert_string_equal(image + offs[0], "no key %d\n");
    assert_string_equal(image + offs[1], "miss\n");
    bpf_object_close(obj);
}

static void
test_extern(void **state)
{
    char *path = obj_path("loader_extern");
    struct bpf_object *obj;
    char *err;

    (void)state;
    assert_int_equal(bpf_object_open(path, NULL, &obj, &err), -ENOTSUP);
    assert_null(obj);
    assert_non_null(strstr(err, "section 'xdp'"));
    assert_non_null(strstr(err, "'LINUX_KERNEL_VERSION'"));
    free(err);
    free(path);
}

static void
expect_error(const uint8_t *data, size_t size, int rc_expected, const char *msg)
{
    struct bpf_object *obj;
    char *err = NULL;
    int rc = bpf_object_open_mem(data, size, "t.o", NULL, &obj, &err);
    if (rc >= 0) {
        fail_msg("accepted (expected '%s')", msg);
    }
    if (rc_expected) {
        assert_int_equal(rc, rc_expected);
    }
    assert_null(obj);
    if (!err || !strstr(err, msg)) {
        fail_msg("message '%s' lacks '%s'", err ? err : "(none)", msg);
    }
    free(err);
}

static void
test_bad_headers(void **state)
{
    size_t size;
    uint8_t *buf = read_obj("loader_basic", &size);

    (void)state;
    expect_error(buf, 0, -EINVAL, "not an ELF file");
    expect_error((const uint8_t *)"hello world, not elf", 20, -EINVAL,
                 "not an ELF file");
    uint8_t *copy = xmalloc(size);
    memcpy(copy, buf, size);
    copy[18] = 62; /* e_machine = EM_X86_64. */
    copy[19] = 0;
    expect_error(copy, size, -ENOTSUP, "is not BPF");
    memcpy(copy, buf, size);
    copy[4] = 1; /* ELFCLASS32. */
    expect_error(copy, size, -ENOTSUP, "not 64-bit");
    memcpy(copy, buf, size);
    copy[5] = 2; /* Big-endian. */
    expect_error(copy, size, -ENOTSUP, "big-endian");
    free(copy);
    free(buf);
}

/* Returns the section header of section 'name' in an ELF64 image. */
static Elf64_Shdr *
find_shdr(uint8_t *image, const char *name)
{
    Elf64_Ehdr *eh = (Elf64_Ehdr *)(void *)image;
    Elf64_Shdr *sh = (Elf64_Shdr *)(void *)(image + eh->e_shoff);
    const char *strs = (const char *)image + sh[eh->e_shstrndx].sh_offset;
    for (unsigned int i = 0; i < eh->e_shnum; i++) {
        if (!strcmp(strs + sh[i].sh_name, name)) {
            return &sh[i];
        }
    }
    fail_msg("no section '%s'", name);
    return NULL;
}

static void
test_bad_structures(void **state)
{
    size_t size;
    uint8_t *buf = read_obj("loader_basic", &size);
    uint8_t *copy = xmalloc(size);
    Elf64_Rel *rel;

    (void)state;
    /* A relocation naming a symbol past the symbol table. */
    memcpy(copy, buf, size);
    rel = (Elf64_Rel *)(void *)(copy + find_shdr(copy, ".relxdp")->sh_offset);
    rel->r_info = ELF64_R_INFO(0xfffff, ELF64_R_TYPE(rel->r_info));
    expect_error(copy, size, -EINVAL,
                 "section '.relxdp': relocation 0 has bad symbol index");

    /* A map reference redirected to a symbol in a section that holds
     * neither maps nor data nor code. */
    memcpy(copy, buf, size);
    Elf64_Shdr *symtab = find_shdr(copy, ".symtab");
    Elf64_Sym *syms = (Elf64_Sym *)(void *)(copy + symtab->sh_offset);
    const char *names =
        (const char *)copy +
        ((Elf64_Shdr *)(void *)(copy + ((Elf64_Ehdr *)(void *)copy)
                                           ->e_shoff))[symtab->sh_link]
            .sh_offset;
    size_t license = 0;
    for (size_t i = 1; i < symtab->sh_size / sizeof *syms; i++) {
        if (!strcmp(names + syms[i].st_name, "LICENSE")) {
            license = i;
        }
    }
    assert_true(license > 0);
    rel = (Elf64_Rel *)(void *)(copy + find_shdr(copy, ".relxdp")->sh_offset);
    rel->r_info = ELF64_R_INFO(license, ELF64_R_TYPE(rel->r_info));
    expect_error(copy, size, -ENOTSUP,
                 "refers to symbol 'LICENSE' in unsupported section 'license'");

    /* A relocation outside its section. */
    memcpy(copy, buf, size);
    rel = (Elf64_Rel *)(void *)(copy + find_shdr(copy, ".relxdp")->sh_offset);
    rel->r_offset = 1u << 20;
    expect_error(copy, size, -EINVAL, "outside section 'xdp'");

    /* A relocation type the loader does not know. */
    memcpy(copy, buf, size);
    rel = (Elf64_Rel *)(void *)(copy + find_shdr(copy, ".relxdp")->sh_offset);
    rel->r_info = ELF64_R_INFO(ELF64_R_SYM(rel->r_info), 7);
    expect_error(copy, size, -ENOTSUP, "unsupported type 7");

    /* A relocation on an instruction that takes none. */
    memcpy(copy, buf, size);
    rel = (Elf64_Rel *)(void *)(copy + find_shdr(copy, ".relxdp")->sh_offset);
    rel->r_offset = 0; /* xdp_main's first insn is "r6 = r1". */
    expect_error(copy, size, -ENOTSUP, "which takes no relocation");

    /* A code section whose size is not whole instructions. */
    memcpy(copy, buf, size);
    find_shdr(copy, "xdp")->sh_size -= 4;
    expect_error(copy, size, -EINVAL, "section 'xdp': size");

    /* Section contents beyond the end of the file. */
    memcpy(copy, buf, size);
    find_shdr(copy, ".maps")->sh_offset = size;
    expect_error(copy, size, -EINVAL, "section '.maps'");

    /* Broken BTF. */
    memcpy(copy, buf, size);
    copy[find_shdr(copy, ".BTF")->sh_offset] ^= 0xff;
    expect_error(copy, size, -EINVAL, "section '.BTF': bad magic");
    memcpy(copy, buf, size);
    Elf64_Shdr *btf = find_shdr(copy, ".BTF");
    btf->sh_size = 30; /* Cuts the type section. */
    expect_error(copy, size, -EINVAL, "section '.BTF'");

    /* A map the BTF does not describe: rename the 'conns' symbol's BTF
     * variable by breaking the DATASEC name. */
    memcpy(copy, buf, size);
    btf = find_shdr(copy, ".BTF");
    uint8_t *b = copy + btf->sh_offset;
    for (size_t i = 0; i + 5 < btf->sh_size; i++) {
        if (!memcmp(b + i, ".maps", 6)) {
            b[i + 1] = 'X';
        }
    }
    expect_error(copy, size, -EINVAL, "no DATASEC '.maps'");
    free(copy);
    free(buf);
}

static void
test_truncated(void **state)
{
    static const char *const objs[] = {"loader_basic", "loader_legacy",
                                       "loader_tail"};

    (void)state;
    for (size_t o = 0; o < ARRAY_SIZE(objs); o++) {
        size_t size;
        uint8_t *buf = read_obj(objs[o], &size);
        /* The section table sits at the end: every cut loses some of it. */
        for (size_t len = 0; len < size; len++) {
            uint8_t *copy = xmalloc(len ? len : 1);
            memcpy(copy, buf, len);
            struct bpf_object *obj;
            char *err = NULL;
            int rc = bpf_object_open_mem(copy, len, "t.o", NULL, &obj, &err);
            if (rc >= 0 || !err || !err[0]) {
                fail_msg("%s cut to %zu bytes: rc %d", objs[o], len, rc);
            }
            free(err);
            free(copy);
        }
        free(buf);
    }
}

static uint64_t
rnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1DULL;
}

static void
test_corrupted(void **state)
{
    static const char *const objs[] = {"loader_basic", "loader_legacy",
                                       "loader_tail"};
    uint64_t seed = 12345;
    size_t n_err = 0, n_ok = 0;

    (void)state;
    /* Corrupted map definitions are refused with a warning each. */
    log_set_level("bpf", LOG_LEVEL_OFF);
    for (size_t o = 0; o < ARRAY_SIZE(objs); o++) {
        size_t size;
        uint8_t *buf = read_obj(objs[o], &size);
        uint8_t *copy = xmalloc(size);
        for (int iter = 0; iter < 5000; iter++) {
            memcpy(copy, buf, size);
            int flips = 1 + (int)(rnd(&seed) % 4);
            for (int f = 0; f < flips; f++) {
                uint64_t r = rnd(&seed);
                /* Half the time aim at the first 64 bytes or at the
                 * section table, where damage matters most. */
                size_t pos = (r & 1)   ? (r >> 8) % size
                             : (r & 2) ? (r >> 8) % 64
                                       : size - 1 - (r >> 8) % MIN(size, 1024);
                copy[pos] ^= (uint8_t)(1u << ((r >> 4) & 7));
            }
            struct bpf_object *obj;
            char *err = NULL;
            int rc = bpf_object_open_mem(copy, size, "t.o", NULL, &obj, &err);
            if (rc == 0) {
                assert_non_null(obj);
                assert_null(err);
                bpf_object_close(obj);
                n_ok++;
            } else {
                assert_true(rc < 0);
                assert_null(obj);
                assert_non_null(err);
                assert_true(strlen(err) > 5);
                free(err);
                n_err++;
            }
        }
        free(copy);
        free(buf);
    }
    log_set_level("bpf", LOG_LEVEL_WARN);
    /* Both outcomes occur: flips in debug info are harmless. */
    assert_true(n_err > 100);
    assert_true(n_ok > 100);
}

static void
test_raw_insns(void **state)
{
    struct bpf_insn insns[2];
    struct bpf_object *obj;
    char *err;

    (void)state;
    memset(insns, 0, sizeof insns);
    insns[0].code = BPF_ALU64 | BPF_MOV | BPF_K;
    insns[0].imm = 3;
    insns[1].code = BPF_JMP | BPF_EXIT;
    assert_int_equal(bpf_prog_from_insns(insns, 2, true, &obj, &err), 0);
    struct bpf_prog *prog = bpf_object_prog(obj, 0);
    assert_int_equal(bpf_prog_n_insns(prog), 2);
    assert_int_equal(prog->kind, BPF_PROG_KIND_RAW);
    assert_memory_equal(prog->insns, insns, sizeof insns);
    assert_int_equal(bpf_object_n_maps(obj), 0);
    bpf_object_close(obj);

    assert_int_equal(bpf_prog_from_insns(insns, 0, true, &obj, &err), -EINVAL);
    assert_null(obj);
    assert_non_null(err);
    free(err);
    bpf_object_close(NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sections),
        cmocka_unit_test(test_btf_maps),
        cmocka_unit_test(test_global_data),
        cmocka_unit_test(test_calls),
        cmocka_unit_test(test_run_and_rodata),
        cmocka_unit_test(test_disasm_round_trip),
        cmocka_unit_test(test_prog_array),
        cmocka_unit_test(test_rodata_errors),
        cmocka_unit_test(test_legacy_maps),
        cmocka_unit_test(test_extern),
        cmocka_unit_test(test_bad_headers),
        cmocka_unit_test(test_bad_structures),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_corrupted),
        cmocka_unit_test(test_raw_insns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
