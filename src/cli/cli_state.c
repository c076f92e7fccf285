/* `sluice state FILE.o [--section S] [-j]`: the state analysis report.
 *
 * Each program of the object is verified first (the analysis assumes a
 * program the verifier accepted: bounded stack accesses, checked packet
 * reads, known helpers) and then analysed by src/state; one line per map
 * says how the packet path uses it, which fields index it, its class and
 * whether the answer is exact. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpf/bpf_api.h"
#include "bpf/bpf_int.h"
#include "cli/cli.h"
#include "core/util.h"
#include "state/state.h"

static json_t *
map_json(const struct state_map_result *m)
{
    json_t *dims = json_array();

    for (int f = 0; f < STATE_N_FIELDS; f++) {
        if (m->dims >> f & 1) {
            json_array_append_new(dims, json_string(state_field_name(f)));
        }
    }
    json_t *o = json_pack("{s:s, s:b, s:b, s:b, s:o, s:s, s:b, s:b}",
                          "map", m->name, "used", m->used, "read", m->read,
                          "updateable", m->updated, "dims", dims,
                          "class", state_class_name(m->klass),
                          "output_impacting", m->output,
                          "exact", !m->approx);
    if (m->approx) {
        json_object_set_new(o, "reason", json_string(m->reason));
    }
    return o;
}

static void
map_text(const struct state_map_result *m, struct ds *out)
{
    char dims[512];

    state_dims_format(m->dims, dims, sizeof dims);
    ds_put_format(out, "  %s: %s, %s, %s; dims [%s]; output-impacting %s; "
                  "%s", m->name, state_class_name(m->klass),
                  m->read ? "read" : "not read",
                  m->updated ? "updateable" : "not updated", dims,
                  m->output ? "yes" : "no",
                  m->approx ? "over-approximated: " : "exact");
    if (m->approx) {
        ds_put_cstr(out, m->reason);
    }
    ds_put_char(out, '\n');
}

int
cli_cmd_state(int argc, char **argv)
{
    static const struct option opts[] = {
        {"section", required_argument, NULL, 's'},
        {"json", no_argument, NULL, 'j'},
        {NULL, 0, NULL, 0},
    };
    const char *section = NULL;
    bool json = false;
    int c;

    opterr = 0;
    while ((c = getopt_long(argc, argv, "s:j", opts, NULL)) != -1) {
        if (c == 's') {
            section = optarg;
        } else if (c == 'j') {
            json = true;
        } else {
            return cli_bad_option(argv);
        }
    }
    if (optind != argc - 1) {
        return cli_usage_error("expected one object file");
    }

    struct bpf_object *obj = cli_open_object(argv[optind]);
    if (!obj) {
        return 1;
    }
    struct ds out = DS_EMPTY_INITIALIZER;
    json_t *doc = json_array();
    size_t shown = 0;
    int rc = 0;
    for (size_t i = 0; i < bpf_object_n_progs(obj) && !rc; i++) {
        struct bpf_prog *prog = bpf_object_prog(obj, i);
        if (section && strcmp(section, prog->section)
            && strcmp(section, prog->name)) {
            continue;
        }
        struct bpf_verify_result vr;
        bpf_prog_verify(prog, &vr);
        bool ok = vr.accepted;
        bpf_verify_result_destroy(&vr);
        if (!ok) {
            rc = cli_error("%s: program %s rejected by the verifier "
                           "(see `sluice prog check`)", argv[optind],
                           prog->name);
            break;
        }
        struct state_result res;
        char *err = NULL;
        if (state_analyze(prog, &res, &err)) {
            rc = cli_error("%s: %s", argv[optind], err);
            free(err);
            break;
        }
        if (json) {
            json_t *maps = json_array();
            for (unsigned int m = 0; m < res.n_maps; m++) {
                json_array_append_new(maps, map_json(&res.maps[m]));
            }
            json_array_append_new(doc, json_pack(
                "{s:s, s:s, s:i, s:o}", "section", prog->section,
                "program", prog->name, "packet_shapes",
                (json_int_t) res.n_hypotheses, "maps", maps));
        } else {
            ds_put_format(&out, "%s%s: %s (%u packet shapes)\n",
                          shown ? "\n" : "", prog->section, prog->name,
                          res.n_hypotheses);
            for (unsigned int m = 0; m < res.n_maps; m++) {
                map_text(&res.maps[m], &out);
            }
            if (!res.n_maps) {
                ds_put_cstr(&out, "  (no maps)\n");
            }
        }
        state_result_destroy(&res);
        shown++;
    }
    if (rc) {
        /* The reason is printed. */
    } else if (!shown) {
        rc = cli_error("%s: no program section '%s'", argv[optind], section);
    } else if (json) {
        json_dumpf(doc, stdout, JSON_INDENT(2));
        putchar('\n');
    } else {
        fputs(ds_cstr(&out), stdout);
    }
    json_decref(doc);
    ds_destroy(&out);
    bpf_object_close(obj);
    return rc;
}
