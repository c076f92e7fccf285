/* `sluice contract FILE.o` and `sluice contract check FILE.o --pcap F`:
 * performance contracts (src/contract/contract.h, docs/contracts.md).
 *
 * `contract` prints each program's input classes with their bounds.
 * `contract check` loads the object twice with zero hash seeds (so that
 * both copies lay out their tables identically), applies the same setup to
 * both, and runs every packet of the traces through the counting
 * interpreter on one copy and the single-stepped JIT on the other, both at
 * the packet's timestamp; each packet's measurement is compared with the
 * bound of its class.  A measurement above its bound fails the command. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpf/bpf_api.h"
#include "cli.h"
#include "contract/contract.h"
#include "contract/describe.h"
#include "core/util.h"
#include "nf/nf_bridge.h"
#include "nf/nf_lb.h"
#include "nf/nf_nat.h"
#include "nf/nf_p0f.h"
#include "nf/nf_ports.h"
#include "nf/nf_route.h"

#define CT_HEADROOM 256          /* XDP headroom before the packet. */
#define CT_FRAME 4096            /* Bytes per XDP frame. */
#define CT_MAX_ARGS 64           /* --rodata / --setup / --pcap each. */
#define CT_SETUP_WORDS 16

/* ---- Loading ----------------------------------------------------------- */

struct ct_opts {
    const char *section;
    const char *rodata[CT_MAX_ARGS];
    size_t n_rodata;
    const char *setup[CT_MAX_ARGS];
    size_t n_setup;
    const char *pcaps[CT_MAX_ARGS];
    size_t n_pcaps;
    size_t pcap_group[CT_MAX_ARGS]; /* Workload of each --pcap. */
    const char *groups[CT_MAX_ARGS]; /* Workload names. */
    size_t n_groups;
    uint64_t max_paths;
    bool json;
    bool no_x86;
};

static char *
parse_rodata(const char *assign, struct bpf_rodata_set *set, uint64_t *value)
{
    const char *eq = strchr(assign, '=');
    char *end;

    if (!strncmp(assign, "rodata.", 7)) {
        assign += 7;
    }
    if (!eq || eq == assign || !eq[1]) {
        return xasprintf("'%s' is not VAR=VALUE", assign);
    }
    errno = 0;
    *value = eq[1] == '-' ? (uint64_t)strtoll(eq + 1, &end, 0)
                          : strtoull(eq + 1, &end, 0);
    if (errno || *end) {
        return xasprintf("'%s': value is not an integer", assign);
    }
    set->var = xasprintf("%.*s", (int)(eq - assign), assign);
    set->value = value;
    set->size = 0;
    return NULL;
}

static int
split_words(char *line, char **w, int max)
{
    int n = 0;
    for (char *t = strtok(line, " \t"); t && n < max; t = strtok(NULL, " \t")) {
        w[n++] = t;
    }
    return n;
}

static char *
hex_bytes(const char *hex, uint8_t *out, size_t want)
{
    size_t n = strlen(hex);
    if (n != want * 2) {
        return xasprintf("'%s' is %zu hex digits, %zu needed", hex, n,
                         want * 2);
    }
    for (size_t i = 0; i < want; i++) {
        unsigned int b;
        if (sscanf(hex + 2 * i, "%2x", &b) != 1) {
            return xasprintf("'%s' is not hex", hex);
        }
        out[i] = (uint8_t)b;
    }
    return NULL;
}

static char *
find_map(struct bpf_object *obj, const char *name, struct bpf_map **map)
{
    *map = bpf_object_find_map(obj, name);
    return *map ? NULL : xasprintf("the program has no map '%s'", name);
}

/* One --setup line, the `nf` and `map update` commands of configuration
 * files without the program name (cli.h: `contract worst` uses it too). */
char *
cli_contract_setup(struct bpf_object *obj, const char *text)
{
    char *line = xstrdup(text);
    char *w[CT_SETUP_WORDS];
    int n = split_words(line, w, CT_SETUP_WORDS);
    char *error = NULL;
    struct bpf_map *map = NULL;

    if (n >= 2 && !strcmp(w[0], "nf") && !strcmp(w[1], "nat")) {
        struct nf_nat_params np;
        int bad = 0;
        error = nf_nat_parse(n - 2, w + 2, &np, &bad);
        if (!error) {
            error = nf_nat_apply(obj, &np);
        }
    } else if (n == 5 && !strcmp(w[0], "nf") && !strcmp(w[1], "port")) {
        struct nf_port_macs macs;
        uint32_t port;
        if (!(error = find_map(obj, NF_PORTS_MAP, &map))
            && !(error = nf_parse_port(w[2], &port))
            && !(error = nf_parse_mac(w[3], macs.mac))
            && !(error = nf_parse_mac(w[4], macs.nexthop))) {
            error = nf_ports_set(map, port, &macs);
        }
    } else if (n == 4 && !strcmp(w[0], "nf") && !strcmp(w[1], "route")
               && !strcmp(w[2], "load")) {
        struct nf_route_table t;
        if (!(error = find_map(obj, NF_ROUTE_MAP, &map))
            && !(error = nf_route_load(w[3], &t))) {
            error = nf_route_fill_map(&t, map);
            nf_route_table_destroy(&t);
        }
    } else if (n == 6 && !strcmp(w[0], "nf") && !strcmp(w[1], "bridge")
               && !strcmp(w[2], "static")) {
        uint8_t mac[6];
        uint32_t in_port, out;
        if (!(error = find_map(obj, NF_BRIDGE_STATIC_MAP, &map))
            && !(error = nf_parse_mac(w[3], mac))
            && !(error = nf_parse_port(w[4], &in_port))
            && !(error = nf_bridge_parse_out(w[5], &out))) {
            error = nf_bridge_static_set(map, mac, in_port, out);
        }
    } else if ((n == 4 || n == 5) && !strcmp(w[0], "nf")
               && !strcmp(w[1], "p0f") && !strcmp(w[2], "load")) {
        struct nf_p0f_db db;
        if (!(error = find_map(obj, "p0f_sigs", &map))
            && !(error = nf_p0f_load(w[3], n == 5 ? w[4] : NULL, &db))) {
            error = nf_p0f_fill_map(&db, map);
            nf_p0f_db_destroy(&db);
        }
    } else if (n >= 5 && !strcmp(w[0], "nf") && !strcmp(w[1], "lb")
               && !strcmp(w[2], "backends")) {
        struct nf_lb_params lp;
        struct lb_backend *list = NULL;
        size_t nb = 0;
        int bad = 0;
        if (!(error = nf_lb_parse(n - 4, w + 4, &lp, &bad))
            && !(error = nf_lb_parse_backends(w[3], &list, &nb))) {
            error = nf_lb_apply(obj, &lp, list, nb);
        }
        free(list);
    } else if (n == 5 && !strcmp(w[0], "map") && !strcmp(w[1], "update")) {
        if (!(error = find_map(obj, w[2], &map))) {
            size_t ks = bpf_map_key_size(map);
            size_t vs = bpf_map_sys_value_size(map);
            uint8_t *k = xzalloc(ks + 1), *v = xzalloc(vs + 1);
            if (!(error = hex_bytes(w[3], k, ks))
                && !(error = hex_bytes(w[4], v, vs))) {
                int rc = bpf_map_update(map, k, v, 0);
                if (rc) {
                    error = xasprintf("map update: %s", strerror(-rc));
                }
            }
            free(k);
            free(v);
        }
    } else {
        error = xasprintf("unknown setup command (nf nat|port|route load|"
                          "bridge static|p0f load|lb backends ..., "
                          "map update MAP KEY_HEX VALUE_HEX)");
    }
    if (error) {
        char *e = xasprintf("--setup '%s': %s", text, error);
        free(error);
        error = e;
    }
    free(line);
    return error;
}

/* Opens, verifies and sets up one copy; returns its program. */
static struct bpf_prog *
load_copy(const char *path, const struct ct_opts *o,
          struct bpf_object **objp)
{
    struct bpf_rodata_set sets[CT_MAX_ARGS];
    uint64_t values[CT_MAX_ARGS];
    struct bpf_load_opts lo = {.fixed_seed = true};
    char *err = NULL;
    struct bpf_prog *prog = NULL;

    *objp = NULL;
    for (size_t i = 0; i < o->n_rodata; i++) {
        err = parse_rodata(o->rodata[i], &sets[i], &values[i]);
        if (err) {
            cli_error("%s", err);
            free(err);
            for (size_t j = 0; j < i; j++) {
                free((char *)sets[j].var);
            }
            return NULL;
        }
    }
    lo.rodata = sets;
    lo.n_rodata = o->n_rodata;
    int rc = bpf_object_open(path, &lo, objp, &err);
    for (size_t i = 0; i < o->n_rodata; i++) {
        free((char *)sets[i].var);
    }
    if (rc) {
        /* The loader's messages start with the file name. */
        if (err) {
            cli_error("%s", err);
        } else {
            cli_error("%s: %s", path, strerror(-rc));
        }
        free(err);
        return NULL;
    }
    prog = o->section ? bpf_object_find_prog(*objp, o->section)
                      : bpf_object_prog(*objp, 0);
    if (!prog) {
        cli_error("%s: no program section '%s'", path,
                  o->section ? o->section : "");
        return NULL;
    }
    struct bpf_verify_result vr;
    rc = bpf_prog_verify(prog, &vr);
    if (rc) {
        cli_error("%s: %s rejected: %s", path, bpf_prog_name(prog),
                  vr.log ? vr.log : "");
        bpf_verify_result_destroy(&vr);
        return NULL;
    }
    bpf_verify_result_destroy(&vr);
    for (size_t i = 0; i < o->n_setup; i++) {
        err = cli_contract_setup(*objp, o->setup[i]);
        if (err) {
            cli_error("%s", err);
            free(err);
            return NULL;
        }
    }
    return prog;
}

/* ---- Printing ---------------------------------------------------------- */

static const char *const metric_labels[CONTRACT_M_N] = {
    "eBPF instructions", "memory accesses", "helper calls",
    "x86 instructions",
};

static void
print_ret(struct ds *s, const struct contract_class *c)
{
    if (c->ret_min == c->ret_max) {
        ds_put_format(s, "returns %llu", (unsigned long long)c->ret_min);
    } else if (c->ret_max - c->ret_min < 16) {
        ds_put_format(s, "returns %llu..%llu",
                      (unsigned long long)c->ret_min,
                      (unsigned long long)c->ret_max);
    } else {
        ds_put_cstr(s, "returns any");
    }
}

static json_t *
class_json(const struct contract_prog *cp, const struct contract_class *c,
           size_t idx)
{
    json_t *o = json_object();
    struct ds s;
    ds_init(&s);
    json_object_set_new(o, "class", json_integer((json_int_t)idx + 1));
    json_object_set_new(o, "description", json_string(c->desc));
    json_object_set_new(o, "words",
                        json_string(c->words ? c->words : c->desc));
    json_object_set_new(o, "paths", json_integer((json_int_t)c->n_paths));
    json_object_set_new(o, "traced", json_boolean(c->traced));
    json_object_set_new(o, "backward_jumps",
                        json_integer(c->loop_iters));
    json_object_set_new(o, "ret_min", json_integer((json_int_t)c->ret_min));
    json_object_set_new(o, "ret_max",
                        json_integer((json_int_t)(c->ret_max > INT64_MAX
                                                      ? INT64_MAX
                                                      : c->ret_max)));
    json_t *calls = json_array();
    for (uint32_t i = 0; i < c->n_calls; i++) {
        ds_clear(&s);
        contract_call_text(cp, &c->calls[i], &s);
        json_array_append_new(calls, json_string(ds_cstr(&s)));
    }
    json_object_set_new(o, "calls", calls);
    json_t *b = json_object();
    for (int m = 0; m < CONTRACT_M_N; m++) {
        ds_clear(&s);
        contract_bound_text(cp, c, (enum contract_metric)m, &s);
        json_object_set_new(b, contract_metric_name((enum contract_metric)m),
                            json_string(ds_cstr(&s)));
    }
    json_object_set_new(o, "bounds", b);
    ds_destroy(&s);
    return o;
}

/* Loop mode: the loop PCVs of 'cp' (an empty array without). */
static json_t *
lpcvs_json(const struct contract_prog *cp)
{
    json_t *a = json_array();
    for (uint32_t i = 0; i < cp->n_lpcvs; i++) {
        const struct contract_loop_pcv *v = &cp->lpcvs[i];
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(v->name));
        json_object_set_new(o, "header", json_integer(v->header));
        json_object_set_new(o, "ebpf_insns",
                            json_integer((json_int_t)v->insns));
        json_object_set_new(o, "mem_accesses",
                            json_integer((json_int_t)v->mem));
        json_object_set_new(o, "x86_insns", json_integer((json_int_t)v->x86));
        json_object_set_new(o, "body_paths", json_integer(v->n_bodies));
        json_object_set_new(o, "conditions",
                            json_string(v->desc ? v->desc : ""));
        json_array_append_new(a, o);
    }
    return a;
}

/* Loop mode: what each loop PCV counts. */
static void
print_lpcvs(const struct contract_prog *cp, FILE *f)
{
    if (!cp->n_lpcvs) {
        return;
    }
    fprintf(f, "  loops (not unrolled): each PCV loop@H.k counts the "
               "iterations of the loop at\n  instruction H whose body "
               "path has the k-th cost:\n");
    for (uint32_t i = 0; i < cp->n_lpcvs; i++) {
        const struct contract_loop_pcv *v = &cp->lpcvs[i];
        fprintf(f, "    %-12s %3llu eBPF insns, %2llu accesses, %3llu x86 "
                   "per iteration (%u body path%s)%s%s\n",
                v->name, (unsigned long long)v->insns,
                (unsigned long long)v->mem, (unsigned long long)v->x86,
                v->n_bodies, v->n_bodies == 1 ? "" : "s",
                v->desc ? ": " : "", v->desc ? v->desc : "");
    }
}

static void
print_contract(const struct contract_prog *cp, FILE *f)
{
    struct ds s;
    ds_init(&s);
    fprintf(f, "program %s (section %s): %llu paths, %zu classes\n",
            bpf_prog_name(cp->prog), bpf_prog_section(cp->prog),
            (unsigned long long)cp->n_paths, cp->n_classes);
    if (cp->have_x86) {
        fprintf(f, "  x86 per run: prologue %u + epilogue %u + entry %u\n",
                cp->x86_prologue, cp->x86_epilogue, cp->x86_entry);
    } else {
        fprintf(f, "  x86: no JIT code (interpreter only)\n");
    }
    if (cp->incomplete) {
        fprintf(f, "  INCOMPLETE: enumeration stopped: %s; the classes "
                   "below cover the paths enumerated, not all\n",
                cp->incomplete);
    }
    print_lpcvs(cp, f);
    for (size_t i = 0; i < cp->n_classes; i++) {
        const struct contract_class *c = &cp->classes[i];
        ds_clear(&s);
        print_ret(&s, c);
        fprintf(f, "class %zu: %s\n  conditions: %s\n  %llu path%s, %s",
                i + 1, c->words ? c->words : c->desc, c->desc,
                (unsigned long long)c->n_paths, c->n_paths == 1 ? "" : "s",
                ds_cstr(&s));
        if (c->loop_iters) {
            fprintf(f, ", %u backward jump%s (loop iterations)",
                    c->loop_iters, c->loop_iters == 1 ? "" : "s");
        }
        fputc('\n', f);
        for (uint32_t k = 0; k < c->n_calls; k++) {
            ds_clear(&s);
            contract_call_text(cp, &c->calls[k], &s);
            fprintf(f, "  call %u: %s\n", k + 1, ds_cstr(&s));
        }
        for (int m = 0; m < CONTRACT_M_N; m++) {
            ds_clear(&s);
            contract_bound_text(cp, c, (enum contract_metric)m, &s);
            fprintf(f, "  %-18s <= %s\n", metric_labels[m], ds_cstr(&s));
        }
    }
    ds_destroy(&s);
}

static int
parse_common(int argc, char **argv, struct ct_opts *o, bool check)
{
    static const struct option opts[] = {
        {"section", required_argument, NULL, 's'},
        {"json", no_argument, NULL, 'j'},
        {"rodata", required_argument, NULL, 'r'},
        {"setup", required_argument, NULL, 'S'},
        {"pcap", required_argument, NULL, 'p'},
        {"max-paths", required_argument, NULL, 'm'},
        {"no-x86", no_argument, NULL, 'X'},
        {"workload", required_argument, NULL, 'w'},
        {NULL, 0, NULL, 0},
    };
    int c;
    char *end;

    memset(o, 0, sizeof *o);
    o->max_paths = CONTRACT_DEFAULT_MAX_PATHS;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "s:jr:S:p:m:", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            o->section = optarg;
            break;
        case 'j':
            o->json = true;
            break;
        case 'r':
        case 'S':
        case 'p': {
            const char **list = c == 'r' ? o->rodata
                                : c == 'S' ? o->setup : o->pcaps;
            size_t *n = c == 'r' ? &o->n_rodata
                        : c == 'S' ? &o->n_setup : &o->n_pcaps;
            if (c != 'r' && !check) {
                return cli_usage_error("--%s is for 'contract check'",
                                       c == 'S' ? "setup" : "pcap");
            }
            if (*n == CT_MAX_ARGS) {
                return cli_usage_error("too many --%s options",
                                       c == 'r' ? "rodata"
                                       : c == 'S' ? "setup" : "pcap");
            }
            if (c == 'p') {
                if (!o->n_groups) {
                    o->groups[o->n_groups++] = "trace";
                }
                o->pcap_group[*n] = o->n_groups - 1;
            }
            list[(*n)++] = optarg;
            break;
        }
        case 'w':
            if (!check) {
                return cli_usage_error("--workload is for 'contract check'");
            }
            if (o->n_groups == CT_MAX_ARGS) {
                return cli_usage_error("too many --workload options");
            }
            o->groups[o->n_groups++] = optarg;
            break;
        case 'm':
            errno = 0;
            o->max_paths = strtoull(optarg, &end, 10);
            if (errno || *end || !o->max_paths || optarg[0] == '-') {
                return cli_usage_error("bad --max-paths '%s'", optarg);
            }
            break;
        case 'X':
            o->no_x86 = true;
            break;
        default:
            return cli_bad_option(argv);
        }
    }
    if (optind != argc - 1) {
        return cli_usage_error("expected one object file");
    }
    if (check && !o->n_pcaps) {
        return cli_usage_error("give at least one --pcap FILE[@PORT]");
    }
    return 0;
}

static int
contract_show(int argc, char **argv)
{
    struct ct_opts o;
    int rc = parse_common(argc, argv, &o, false);
    if (rc) {
        return rc;
    }
    const char *path = argv[optind];
    struct bpf_object *obj = NULL;
    struct bpf_prog *only = load_copy(path, &o, &obj);
    if (!only) {
        bpf_object_close(obj);
        return 1;
    }
    /* Map value fields get their BTF names in the words; an object
     * without readable BTF keeps offsets ("nat_cfg+0"). */
    char *name_err = NULL;
    contract_describe_use_btf(path, &name_err);
    free(name_err);
    json_t *arr = o.json ? json_array() : NULL;
    size_t n = o.section ? 1 : bpf_object_n_progs(obj);
    rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        struct bpf_prog *prog = o.section ? only : bpf_object_prog(obj, i);
        if (prog != only) {
            struct bpf_verify_result vr;
            int v = bpf_prog_verify(prog, &vr);
            bpf_verify_result_destroy(&vr);
            if (v) {
                rc = cli_error("%s: %s rejected by the verifier", path,
                               bpf_prog_name(prog));
                break;
            }
        }
        struct contract_limits lim = {o.max_paths,
                                      CONTRACT_DEFAULT_MAX_STEPS,
                                      CONTRACT_DEFAULT_MAX_SPLIT};
        struct contract_prog *cp = NULL;
        char *err = NULL;
        if (contract_build(prog, &lim, &cp, &err)) {
            rc = cli_error("%s: %s: %s", path, bpf_prog_name(prog), err);
            free(err);
            break;
        }
        if (arr) {
            json_t *po = json_object();
            json_object_set_new(po, "program",
                                json_string(bpf_prog_name(prog)));
            json_object_set_new(po, "section",
                                json_string(bpf_prog_section(prog)));
            json_object_set_new(po, "paths",
                                json_integer((json_int_t)cp->n_paths));
            json_object_set_new(po, "complete",
                                json_boolean(!cp->incomplete));
            if (cp->incomplete) {
                json_object_set_new(po, "incomplete",
                                    json_string(cp->incomplete));
            }
            json_object_set_new(po, "x86_prologue",
                                json_integer(cp->x86_prologue));
            json_object_set_new(po, "x86_epilogue",
                                json_integer(cp->x86_epilogue));
            json_object_set_new(po, "x86_entry", json_integer(cp->x86_entry));
            json_object_set_new(po, "loop_pcvs", lpcvs_json(cp));
            json_t *cls = json_array();
            for (size_t k = 0; k < cp->n_classes; k++) {
                json_array_append_new(cls,
                                      class_json(cp, &cp->classes[k], k));
            }
            json_object_set_new(po, "classes", cls);
            json_array_append_new(arr, po);
        } else {
            print_contract(cp, stdout);
        }
        contract_prog_free(cp);
    }
    if (arr) {
        if (!rc) {
            json_dumpf(arr, stdout, JSON_INDENT(2));
            fputc('\n', stdout);
        }
        json_decref(arr);
    }
    bpf_object_close(obj);
    return rc;
}

/* ---- Checking ---------------------------------------------------------- */

struct ct_packet {
    uint8_t *data;
    uint32_t len;
    uint64_t ts_ns;
    uint32_t port;
    size_t seq;                  /* Order of reading, for a stable sort. */
};

static int
packet_cmp(const void *a, const void *b)
{
    const struct ct_packet *x = a, *y = b;
    if (x->ts_ns != y->ts_ns) {
        return x->ts_ns < y->ts_ns ? -1 : 1;
    }
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static char *
read_pcaps(const struct ct_opts *o, size_t group, struct ct_packet **out,
           size_t *n_out)
{
    struct ct_packet *v = NULL;
    size_t n = 0, cap = 0;

    for (size_t i = 0; i < o->n_pcaps; i++) {
        if (o->pcap_group[i] != group) {
            continue;
        }
        char *path = xstrdup(o->pcaps[i]);
        uint32_t port = 1;
        char *at = strrchr(path, '@');
        if (at) {
            char *end;
            errno = 0;
            unsigned long p = strtoul(at + 1, &end, 10);
            if (errno || *end || !at[1] || p > UINT32_MAX) {
                char *e = xasprintf("--pcap '%s': bad port after '@'",
                                    o->pcaps[i]);
                free(path);
                free(v);
                return e;
            }
            port = (uint32_t)p;
            *at = '\0';
        }
        char errbuf[PCAP_ERRBUF_SIZE];
        pcap_t *pc = pcap_open_offline_with_tstamp_precision(
            path, PCAP_TSTAMP_PRECISION_NANO, errbuf);
        if (!pc) {
            /* libpcap names the file in some messages, not all. */
            char *e = strstr(errbuf, path) ? xasprintf("%s", errbuf)
                                           : xasprintf("%s: %s", path,
                                                       errbuf);
            free(path);
            for (size_t k = 0; k < n; k++) {
                free(v[k].data);
            }
            free(v);
            return e;
        }
        struct pcap_pkthdr *h;
        const u_char *bytes;
        int r;
        while ((r = pcap_next_ex(pc, &h, &bytes)) == 1) {
            if (h->caplen > CT_FRAME - 2 * CT_HEADROOM) {
                continue;
            }
            if (n == cap) {
                cap = cap ? cap * 2 : 256;
                v = xrealloc(v, cap * sizeof *v);
            }
            v[n].data = xmalloc(h->caplen + 1);
            memcpy(v[n].data, bytes, h->caplen);
            v[n].len = h->caplen;
            v[n].ts_ns = (uint64_t)h->ts.tv_sec * 1000000000ull
                         + (uint64_t)h->ts.tv_usec;
            v[n].port = port;
            v[n].seq = n;
            n++;
        }
        pcap_close(pc);
        free(path);
    }
    qsort(v, n, sizeof *v, packet_cmp);
    *out = v;
    *n_out = n;
    return NULL;
}

static void
fill_ctx(struct bpf_xdp_buff *ctx, uint8_t *frame, const struct ct_packet *p)
{
    memset(frame, 0, CT_FRAME);
    memcpy(frame + CT_HEADROOM, p->data, p->len);
    memset(ctx, 0, sizeof *ctx);
    ctx->data = (uintptr_t)(frame + CT_HEADROOM);
    ctx->data_end = ctx->data + p->len;
    ctx->data_meta = ctx->data;
    ctx->data_hard_start = (uintptr_t)frame;
    ctx->frame_end = (uintptr_t)(frame + CT_FRAME);
    ctx->ingress_ifindex = p->port;
    ctx->redirect_port = UINT32_MAX;
}

/* Runs one workload on fresh copies of the program; adds its packets'
 * gaps to 'cp' and counts its packets, failures and packets without a
 * class.  Returns 0, or 1 when it could not run. */
static int
run_workload(const char *path, const struct ct_opts *o, size_t group,
             struct contract_prog *cp, size_t *n_pkts, size_t *failures,
             size_t *unclassified)
{
    struct bpf_object *obj_i = NULL, *obj_j = NULL;
    struct bpf_prog *prog_i = load_copy(path, o, &obj_i);
    struct bpf_prog *prog_j = prog_i && !o->no_x86
                                  ? load_copy(path, o, &obj_j)
                                  : NULL;
    struct ct_packet *pkts = NULL;
    char *err = NULL;
    int rc = 0;

    *n_pkts = *failures = *unclassified = 0;
    if (!prog_i || (!o->no_x86 && !prog_j)) {
        rc = 1;
        goto out;
    }
    if ((err = read_pcaps(o, group, &pkts, n_pkts))) {
        rc = cli_error("%s", err);
        goto out;
    }
    if (prog_j && bpf_prog_jit(prog_j, &err)) {
        rc = cli_error("%s: the JIT cannot take %s: %s (use --no-x86)", path,
                       bpf_prog_name(prog_j), err);
        goto out;
    }

    uint8_t *frame_i = xmalloc(CT_FRAME), *frame_j = xmalloc(CT_FRAME);
    for (size_t k = 0; k < *n_pkts; k++) {
        struct bpf_xdp_buff ci, cj;
        struct contract_measure m;
        char *violation = NULL;
        fill_ctx(&ci, frame_i, &pkts[k]);
        fill_ctx(&cj, frame_j, &pkts[k]);
        if (contract_measure(cp, prog_i, &ci, prog_j, &cj, pkts[k].ts_ns, &m,
                             &err)) {
            cli_error("%s: packet %zu: %s", o->groups[group], k, err);
            free(err);
            err = NULL;
            (*failures)++;
            break;
        }
        long ci_idx = contract_check_packet(cp, &m, &violation, &err);
        if (ci_idx < 0) {
            cli_error("%s: packet %zu: no class: %s", o->groups[group], k,
                      err);
            free(err);
            err = NULL;
            (*unclassified)++;
            if (!cp->incomplete) {
                (*failures)++;
            }
            continue;
        }
        if (violation) {
            cli_error("%s: packet %zu: class %ld: %s", o->groups[group], k,
                      ci_idx + 1, violation);
            free(violation);
            (*failures)++;
        }
    }
    free(frame_i);
    free(frame_j);

out:
    free(err);
    for (size_t k = 0; pkts && k < *n_pkts; k++) {
        free(pkts[k].data);
    }
    free(pkts);
    bpf_object_close(obj_i);
    bpf_object_close(obj_j);
    return rc;
}

static int
contract_check(int argc, char **argv)
{
    struct ct_opts o;
    int rc = parse_common(argc, argv, &o, true);
    if (rc) {
        return rc;
    }
    const char *path = argv[optind];
    struct bpf_object *obj = NULL;
    struct bpf_prog *prog = load_copy(path, &o, &obj);
    struct contract_prog *cp = NULL;
    char *err = NULL;
    size_t total = 0, failures = 0, unclassified = 0;
    json_t *wl = json_array();

    if (!prog) {
        rc = 1;
        goto out;
    }
    if (!o.section && bpf_object_n_progs(obj) > 1) {
        rc = cli_usage_error("%s has %zu programs: choose one with "
                             "--section",
                             path, bpf_object_n_progs(obj));
        goto out;
    }
    /* Unreadable traces are reported before the (slow) contract. */
    for (size_t g = 0; g < o.n_groups; g++) {
        struct ct_packet *pkts = NULL;
        size_t n = 0;
        if ((err = read_pcaps(&o, g, &pkts, &n))) {
            rc = cli_error("%s", err);
            goto out;
        }
        for (size_t k = 0; k < n; k++) {
            free(pkts[k].data);
        }
        free(pkts);
    }
    struct contract_limits lim = {o.max_paths, CONTRACT_DEFAULT_MAX_STEPS,
                                  CONTRACT_DEFAULT_MAX_SPLIT};
    /* Map value fields get their BTF names in the words; an object
     * without readable BTF keeps offsets ("nat_cfg+0"). */
    char *name_err = NULL;
    contract_describe_use_btf(path, &name_err);
    free(name_err);
    /* The contract comes from a copy of its own; each workload runs on
     * two fresh copies (same bytecode, so the same JIT code). */
    if (contract_build(prog, &lim, &cp, &err)) {
        rc = cli_error("%s: %s", path, err);
        goto out;
    }
    if (!o.no_x86 && !cp->have_x86) {
        rc = cli_error("%s: the JIT cannot take %s (use --no-x86)", path,
                       bpf_prog_name(prog));
        goto out;
    }
    for (size_t g = 0; g < o.n_groups; g++) {
        size_t n = 0, f = 0, u = 0;
        if (run_workload(path, &o, g, cp, &n, &f, &u)) {
            rc = 1;
            goto out;
        }
        total += n;
        failures += f;
        unclassified += u;
        json_t *w = json_object();
        json_object_set_new(w, "name", json_string(o.groups[g]));
        json_object_set_new(w, "packets", json_integer((json_int_t)n));
        json_object_set_new(w, "failures", json_integer((json_int_t)f));
        json_object_set_new(w, "unclassified", json_integer((json_int_t)u));
        json_array_append_new(wl, w);
    }

    if (o.json) {
        json_t *res = json_object();
        json_object_set_new(res, "program",
                            json_string(bpf_prog_name(cp->prog)));
        json_object_set_new(res, "packets", json_integer((json_int_t)total));
        json_object_set_new(res, "failures",
                            json_integer((json_int_t)failures));
        json_object_set_new(res, "unclassified",
                            json_integer((json_int_t)unclassified));
        json_object_set_new(res, "complete", json_boolean(!cp->incomplete));
        json_object_set_new(res, "loop_pcvs", lpcvs_json(cp));
        json_object_set_new(res, "workloads", json_incref(wl));
        json_t *cls = json_array();
        for (size_t i = 0; i < cp->n_classes; i++) {
            const struct contract_class *c = &cp->classes[i];
            if (!c->packets) {
                continue;
            }
            json_t *co = class_json(cp, c, i);
            json_object_set_new(co, "packets",
                                json_integer((json_int_t)c->packets));
            json_t *gaps = json_object();
            for (int mm = 0; mm < CONTRACT_M_N; mm++) {
                const struct contract_gap *g = &c->gap[mm];
                json_t *go = json_object();
                json_object_set_new(go, "max",
                                    json_integer((json_int_t)g->max_abs));
                json_object_set_new(go, "mean",
                                    json_real(g->sum_abs
                                              / (double)c->packets));
                json_object_set_new(go, "max_pct", json_real(g->max_pct));
                json_object_set_new(go, "mean_pct",
                                    json_real(g->sum_pct
                                              / (double)c->packets));
                json_object_set_new(
                    gaps, contract_metric_name((enum contract_metric)mm), go);
            }
            json_object_set_new(co, "gaps", gaps);
            json_array_append_new(cls, co);
        }
        json_object_set_new(res, "classes", cls);
        json_dumpf(res, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
        json_decref(res);
    } else {
        size_t seen = 0;
        for (size_t i = 0; i < cp->n_classes; i++) {
            seen += cp->classes[i].packets > 0;
        }
        printf("program %s: %zu packets, %zu classes seen, %zu failures%s\n",
               bpf_prog_name(cp->prog), total, seen, failures,
               cp->incomplete ? " (enumeration incomplete)" : "");
        printf("%-6s %8s  %-12s %10s %10s %8s %8s\n", "class", "packets",
               "metric", "max gap", "mean gap", "max %", "mean %");
        for (size_t i = 0; i < cp->n_classes; i++) {
            const struct contract_class *c = &cp->classes[i];
            if (!c->packets) {
                continue;
            }
            for (int mm = 0; mm < CONTRACT_M_N; mm++) {
                const struct contract_gap *g = &c->gap[mm];
                if (mm == CONTRACT_M_X86 && o.no_x86) {
                    continue;
                }
                printf("%-6zu %8llu  %-12s %10llu %10.1f %7.2f%% %7.2f%%\n",
                       i + 1, (unsigned long long)c->packets,
                       contract_metric_name((enum contract_metric)mm),
                       (unsigned long long)g->max_abs,
                       g->sum_abs / (double)c->packets, g->max_pct,
                       g->sum_pct / (double)c->packets);
            }
            printf("       %s%s\n", c->traced ? "(traced) " : "", c->desc);
        }
    }
    rc = failures ? 1 : 0;

out:
    free(err);
    json_decref(wl);
    contract_prog_free(cp);
    bpf_object_close(obj);
    return rc;
}

int
cli_cmd_contract(int argc, char **argv)
{
    if (!strcmp(argv[0], "contract check")) {
        return contract_check(argc, argv);
    }
    return contract_show(argc, argv);
}
