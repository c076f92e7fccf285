/* `sluice state FILE.o [--section S] [--bytes] [-j]`: the state analysis
 * report.
 *
 * Each program of the object is verified first (the analysis assumes a
 * program the verifier accepted: bounded stack accesses, checked packet
 * reads, known helpers) and then analysed by src/state; one line per map
 * says how the packet path uses it, which fields index it, its class,
 * whether the answer is exact and how its key is laid out.  --bytes adds
 * the bytes report (state_bytes()): a naive copy of every map against the
 * export of one flow's updateable state. */
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

/* The key layout in words: per byte "field[i]", "field|partner[i]/g",
 * "=0xNN" or "?". */
static void
layout_text(const struct state_map_result *m, struct ds *out)
{
    static const char *const partner[STATE_N_FIELDS] = {
        [STATE_F_DL_SRC] = "dl_dst", [STATE_F_NW_SRC] = "nw_dst",
        [STATE_F_IPV6_SRC] = "ipv6_dst", [STATE_F_TP_SRC] = "tp_dst",
    };

    for (uint32_t i = 0; i < m->key_size; i++) {
        const struct state_key_byte *k = &m->key[i];
        ds_put_char(out, i ? ' ' : '[');
        switch (k->kind) {
        case STATE_KEY_FIELD:
            ds_put_format(out, "%s[%u]", state_field_name(k->field),
                          k->byte);
            break;
        case STATE_KEY_PAIR:
            ds_put_format(out, "%s|%s[%u]/%u%c", state_field_name(k->field),
                          partner[k->field] ? partner[k->field] : "?",
                          k->byte, k->group, k->member ? 'b' : 'a');
            break;
        case STATE_KEY_CONST:
            ds_put_format(out, "=0x%02x", k->value);
            break;
        default:
            ds_put_char(out, '?');
        }
    }
    ds_put_char(out, ']');
}

static json_t *
layout_json(const struct state_map_result *m)
{
    json_t *a = json_array();

    for (uint32_t i = 0; m->key && i < m->key_size; i++) {
        const struct state_key_byte *k = &m->key[i];
        json_t *o;
        switch (k->kind) {
        case STATE_KEY_FIELD:
            o = json_pack("{s:s, s:i}", "field", state_field_name(k->field),
                          "byte", k->byte);
            break;
        case STATE_KEY_PAIR:
            o = json_pack("{s:s, s:i, s:i, s:i}", "pair",
                          state_field_name(k->field), "byte", k->byte,
                          "group", k->group, "member", k->member);
            break;
        case STATE_KEY_CONST:
            o = json_pack("{s:i}", "const", k->value);
            break;
        default:
            o = json_null();
        }
        json_array_append_new(a, o);
    }
    return a;
}

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
    json_object_set_new(o, "key", layout_json(m));
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
    if (m->key) {
        ds_put_cstr(out, "\n    key ");
        layout_text(m, out);
    }
    ds_put_char(out, '\n');
}

static double
ratio(const struct state_bytes *b)
{
    uint64_t e = b->flow + b->shared;
    return e ? (double) b->naive / (double) e : 0.0;
}

static void
bytes_text(const struct bpf_prog *prog, const struct state_result *res,
           struct ds *out)
{
    struct state_bytes b;

    state_bytes(prog, res, &b);
    ds_put_format(out, "  bytes for one flow: naive copy of all maps %llu; "
                  "export %llu (the flow's own %llu + shared %llu); "
                  "ratio %.1f\n", (unsigned long long) b.naive,
                  (unsigned long long) (b.flow + b.shared),
                  (unsigned long long) b.flow,
                  (unsigned long long) b.shared, ratio(&b));
}

static json_t *
bytes_json(const struct bpf_prog *prog, const struct state_result *res)
{
    struct state_bytes b;

    state_bytes(prog, res, &b);
    return json_pack("{s:I, s:I, s:I, s:I, s:f}", "naive",
                     (json_int_t) b.naive, "flow", (json_int_t) b.flow,
                     "shared", (json_int_t) b.shared, "export",
                     (json_int_t) (b.flow + b.shared), "ratio", ratio(&b));
}

int
cli_cmd_state(int argc, char **argv)
{
    static const struct option opts[] = {
        {"section", required_argument, NULL, 's'},
        {"json", no_argument, NULL, 'j'},
        {"bytes", no_argument, NULL, 'b'},
        {NULL, 0, NULL, 0},
    };
    const char *section = NULL;
    bool json = false, bytes = false;
    int c;

    opterr = 0;
    while ((c = getopt_long(argc, argv, "s:j", opts, NULL)) != -1) {
        if (c == 's') {
            section = optarg;
        } else if (c == 'j') {
            json = true;
        } else if (c == 'b') {
            bytes = true;
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
            json_t *p = json_pack(
                "{s:s, s:s, s:i, s:o}", "section", prog->section,
                "program", prog->name, "packet_shapes",
                (json_int_t) res.n_hypotheses, "maps", maps);
            if (bytes) {
                json_object_set_new(p, "bytes", bytes_json(prog, &res));
            }
            json_array_append_new(doc, p);
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
            if (bytes) {
                bytes_text(prog, &res, &out);
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

/* `sluice state export NAME [--match FLOW] [-j] [--ctl S]`: a control
 * socket command (cli_cmd_ctl) whose --match option belongs to the
 * switch's state_cmd(), not to the client: it is moved after "--" so the
 * client's option parser passes it on as arguments. */
int cli_cmd_state_export(int argc, char **argv);

int
cli_cmd_state_export(int argc, char **argv)
{
    char **args = xcalloc(argc + 3, sizeof *args);
    const char *match = NULL;
    int n = 0;

    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--match")) {
            if (i + 1 == argc) {
                free(args);
                return cli_usage_error("--match needs a FLOW");
            }
            match = argv[++i];
        } else if (!strncmp(argv[i], "--match=", 8)) {
            match = argv[i] + 8;
        } else {
            args[n++] = argv[i];
        }
    }
    if (match) {
        args[n++] = (char *) "--";
        args[n++] = (char *) "--match";
        args[n++] = (char *) match;
    }
    int rc = cli_cmd_ctl(n, args);
    free(args);
    return rc;
}
