/* libFuzzer target for the eBPF object loader.
 *
 * Feeds arbitrary bytes to bpf_object_open_mem(); whatever loads is then
 * disassembled and the text assembled back, which must give the same
 * bytes.  Seeds in tests/fuzz/corpus/elf/: tests/bpf/loader_basic.c and
 * loader_tail.c built with -g, then `llvm-strip --strip-debug` (BTF kept,
 * DWARF dropped), and tests/bpf/loader_legacy.c built without -g.  For
 * longer runs add the build's objects (BUILD/src/bpf/loader_*.o and
 * BUILD/progs/NAME.o):
 *   fuzz_elf -max_len=65536 CORPUS tests/fuzz/corpus/elf BUILD/progs */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bpf/asm.h"
#include "bpf/bpf_api.h"
#include "bpf/bpf_int.h"
#include "bpf/disasm.h"
#include "core/log.h"
#include "core/util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* Broken map definitions each log a warning; keep the output quiet. */
    log_set_level_all(LOG_LEVEL_OFF);
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct bpf_load_opts opts = {.fixed_seed = true};
    struct bpf_object *obj;
    char *err = NULL;

    if (bpf_object_open_mem(data, size, "fuzz.o", &opts, &obj, &err)) {
        if (!err) {
            abort(); /* Every failure must explain itself. */
        }
        free(err);
        return 0;
    }
    for (size_t i = 0; i < bpf_object_n_progs(obj); i++) {
        struct bpf_prog *prog = bpf_object_prog(obj, i);
        struct ds text = DS_EMPTY_INITIALIZER;
        struct bpf_insn *insns;
        size_t n;

        bpf_disasm_insns(prog->insns, prog->n_insns, prog->maps, prog->n_maps,
                         false, &text);
        char *aerr =
            bpf_asm(ds_cstr(&text), prog->maps, prog->n_maps, &insns, &n);
        if (aerr || n != prog->n_insns ||
            memcmp(insns, prog->insns, n * sizeof *insns)) {
            abort(); /* The round trip must be exact. */
        }
        free(insns);
        ds_destroy(&text);
    }
    bpf_object_close(obj);
    return 0;
}
