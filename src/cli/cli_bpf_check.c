/* `sluice prog check FILE.o [-j]`: runs the verifier on every program of
 * an object and reports, per program section, the verdict, the instruction
 * count, the instructions processed, the states stored and the time taken;
 * on rejection the reason code, the message and the disassembled
 * instructions around the culprit.  Exit status 0 only if every program is
 * accepted, so it fits in a build or CI step. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpf/bpf_api.h"
#include "bpf/bpf_int.h"
#include "bpf/disasm.h"
#include "bpf/verifier.h"
#include "cli.h"
#include "core/util.h"

/* Instructions shown before and after the rejected one. */
#define CONTEXT_INSNS 3

/* Calls 'fn' for each instruction within CONTEXT_INSNS slots of 'culprit'
 * with its index and text, walking from the start so that LD_IMM64 pairs
 * stay whole. */
static void
context_lines(const struct bpf_prog *prog, uint32_t culprit,
              void (*fn)(void *aux, uint32_t idx, const char *text),
              void *aux)
{
    struct ds text = DS_EMPTY_INITIALIZER;
    uint32_t lo = culprit > CONTEXT_INSNS ? culprit - CONTEXT_INSNS : 0;
    uint32_t hi = culprit + CONTEXT_INSNS;
    for (uint32_t idx = 0; idx < prog->n_insns && idx <= hi;) {
        ds_clear(&text);
        unsigned int slots = bpf_disasm_insn(prog->insns, prog->n_insns, idx,
                                             prog->maps, prog->n_maps, &text);
        if (idx + slots > lo) {
            fn(aux, idx, ds_cstr(&text));
        }
        idx += slots ? slots : 1;
    }
    ds_destroy(&text);
}

struct text_ctx {
    uint32_t culprit;
};

static void
print_line(void *aux, uint32_t idx, const char *text)
{
    const struct text_ctx *c = aux;
    printf("    %s%5u: %s\n", idx == c->culprit ? ">" : " ", idx, text);
}

static void
json_line(void *aux, uint32_t idx, const char *text)
{
    json_array_append_new(aux, json_pack("{s:I, s:s}", "insn",
                                         (json_int_t) idx, "text", text));
}

int
cli_cmd_prog_check(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "json", no_argument, NULL, 'j' },
        { NULL, 0, NULL, 0 },
    };
    bool json = false;
    int c;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "j", longopts, NULL)) != -1) {
        if (c == 'j') {
            json = true;
        } else {
            return cli_bad_option(argv);
        }
    }
    if (optind + 1 != argc) {
        return cli_usage_error("expected one object file");
    }
    const char *path = argv[optind];
    struct bpf_object *obj = cli_open_object(path);
    if (!obj) {
        return 1;
    }

    json_t *jprogs = json_array();
    bool all_ok = bpf_object_n_progs(obj) > 0;
    if (!all_ok && !json) {
        printf("%s: no programs\n", path);
    }
    for (size_t i = 0; i < bpf_object_n_progs(obj); i++) {
        struct bpf_prog *prog = bpf_object_prog(obj, i);
        struct bpf_verify_result res;
        bpf_prog_verify(prog, &res);
        all_ok &= res.accepted;
        if (json) {
            json_t *jp = json_pack(
                "{s:s, s:s, s:b, s:I, s:I, s:I, s:I}",
                "section", bpf_prog_section(prog), "name", bpf_prog_name(prog),
                "accepted", res.accepted,
                "insns", (json_int_t) bpf_prog_n_insns(prog),
                "insns_processed", (json_int_t) res.insns_processed,
                "states", (json_int_t) res.states,
                "time_ns", (json_int_t) res.time_ns);
            if (!res.accepted) {
                json_t *ctx = json_array();
                context_lines(prog, res.insn_idx, json_line, ctx);
                json_object_set_new(jp, "reason",
                                    json_string(bpf_verr_name(res.reason)));
                json_object_set_new(jp, "insn",
                                    json_integer(res.insn_idx));
                json_object_set_new(jp, "message",
                                    json_string(res.log ? res.log : ""));
                json_object_set_new(jp, "context", ctx);
            }
            json_array_append_new(jprogs, jp);
        } else {
            printf("%s (%s): %s, %zu insns, %llu processed, %llu states, "
                   "%.3f ms\n", bpf_prog_section(prog), bpf_prog_name(prog),
                   res.accepted ? "accepted" : "rejected",
                   bpf_prog_n_insns(prog),
                   (unsigned long long) res.insns_processed,
                   (unsigned long long) res.states, res.time_ns / 1e6);
            if (!res.accepted) {
                struct text_ctx tc = { res.insn_idx };
                printf("  %s: %s\n", bpf_verr_name(res.reason),
                       res.log ? res.log : "");
                context_lines(prog, res.insn_idx, print_line, &tc);
            }
        }
        bpf_verify_result_destroy(&res);
    }
    if (json) {
        json_t *doc = json_pack("{s:s, s:b, s:o}", "file", path, "accepted",
                                all_ok, "progs", jprogs);
        char *s = json_dumps(doc, JSON_INDENT(2));
        printf("%s\n", s);
        free(s);
        json_decref(doc);
    } else {
        json_decref(jprogs);
    }
    bpf_object_close(obj);
    return all_ok ? 0 : 1;
}
