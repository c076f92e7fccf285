/* Configuration commands and the file loader; see config.h.
 *
 * A line is split into whitespace-separated tokens, each remembering its
 * column.  The leading tokens select an entry of 'config_cmds' (longest
 * match of its words); the rest are its arguments.  A command whose
 * argument is free text (a flow, which may contain spaces after commas)
 * takes the rest of the line as one argument (so its words must not be the
 * start of a longer command's).
 *
 * Adding a command (e.g. "prog load NAME FILE.o [SECTION] [rodata...]"):
 * write a handler with the config_cmd_fn signature and add one table line
 * with its words, argument counts and usage.  Handlers report errors as an
 * allocated message plus an absolute column, normally an argument's 'col'
 * plus the offset a lower-level parser reported.
 *
 * Ports are opened while the file is read ('early' commands); everything
 * else is queued and run once all ports are open, at the packet time of
 * the first input packet, because rule timeouts count packet time. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "dp/dp.h"
#include "flow/flow_parse.h"
#include "flow/flow_prog.h"
#include "flow/pipeline.h"
#include "nf/nf_bridge.h"
#include "nf/nf_lb.h"
#include "nf/nf_nat.h"
#include "nf/nf_p0f.h"
#include "nf/nf_ports.h"
#include "nf/nf_route.h"
#include "bpf/bpf_api.h"
#include "port/port.h"

/* Maximum tokens in one line (words plus arguments), and of words in a
 * command name. */
#define CONFIG_MAX_TOKENS 64
#define CONFIG_MAX_WORDS 3

struct config_arg {
    char *text; /* NUL-terminated copy (owned by the line). */
    int col;    /* 1-based column in the line. */
};

struct config_ctx {
    struct dp *dp;        /* Where commands apply. */
    const char *base_dir; /* For relative paths, or NULL. */
    unsigned int flags;   /* enum config_flags. */
    uint64_t now_ns;      /* Time for new rules. */
};

/* Runs a command.  'args' are the arguments after the command words; 'end_col'
 * is the column just past the line's last token (where a missing argument
 * would go).  Returns NULL or an error with '*err_col' set. */
typedef char *config_cmd_fn(struct config_ctx *, const struct config_arg *args,
                            int n_args, int end_col, int *err_col);

struct config_cmd {
    const char *words;  /* Command words, e.g. "port add". */
    config_cmd_fn *run; /* Handler. */
    int min_args;       /* Fewest arguments. */
    int max_args;       /* Most arguments, -1 for no limit. */
    bool rest;          /* Arguments are the rest of the line, one. */
    bool early;         /* Runs while reading (ports). */
    const char *usage;  /* Arguments, for messages. */
};

static config_cmd_fn config_port_add;
static config_cmd_fn config_flow_add;
static config_cmd_fn config_flow_del;
static config_cmd_fn config_prog_load;
static config_cmd_fn config_prog_unload;
static config_cmd_fn config_map_update;
static config_cmd_fn config_map_delete;
static config_cmd_fn config_nf_p0f_load;
static config_cmd_fn config_nf_route_load;
static config_cmd_fn config_nf_bridge_static;
static config_cmd_fn config_nf_port;
static config_cmd_fn config_nf_nat;
static config_cmd_fn config_nf_lb_backends;
static config_cmd_fn config_nf_lb_down;
static config_cmd_fn config_nf_lb_up;

static const struct config_cmd config_cmds[] = {
    {"port add", config_port_add, 2, 2, false, true, "N TYPE:ARGS"},
    {"flow add", config_flow_add, 1, 1, true, false, "FLOW"},
    {"flow del", config_flow_del, 0, 1, true, false, "[MATCH]"},
    {"prog load", config_prog_load, 2, -1, false, false,
     "NAME FILE.o [SECTION] [rodata.VAR=VALUE ...]"},
    {"prog unload", config_prog_unload, 1, 1, false, false, "NAME"},
    {"map update", config_map_update, 4, 5, false, false,
     "NAME MAP KEY_HEX VALUE_HEX [any|noexist|exist]"},
    {"map delete", config_map_delete, 3, 3, false, false, "NAME MAP KEY_HEX"},
    {"nf p0f load", config_nf_p0f_load, 2, 3, false, false,
     "NAME P0F_FILE [LABEL_SUBSTRING]"},
    {"nf route load", config_nf_route_load, 2, 3, false, false,
     "NAME ROUTE_FILE [--pfx2as]"},
    {"nf bridge static", config_nf_bridge_static, 4, 4, false, false,
     "NAME MAC IN_PORT OUT_PORT|drop"},
    {"nf port", config_nf_port, 4, 4, false, false,
     "NAME PORT MAC NEXTHOP_MAC"},
    {"nf nat", config_nf_nat, 1, 6, false, false,
     "NAME wan=PORT ip=A.B.C.D [first_port=S] [capacity=N] [timeout=SEC]"},
    {"nf lb backends", config_nf_lb_backends, 2, 6, false, false,
     "NAME FILE vip=IP:PORT [table=M] [capacity=N] [timeout=SEC]"},
    {"nf lb down", config_nf_lb_down, 2, 2, false, false, "NAME BACKEND"},
    {"nf lb up", config_nf_lb_up, 2, 2, false, false, "NAME BACKEND"},
};

/* A port must not write a file that another port (or itself) reads or
 * writes: the output would destroy the input or mix two streams. */
static char *
check_file_conflicts(struct config_ctx *ctx, const char *spec)
{
    char *rx = port_spec_file(spec, ctx->base_dir, false);
    char *tx = port_spec_file(spec, ctx->base_dir, true);
    char *error = NULL;

    if (rx && tx && port_same_file(rx, tx)) {
        error = xasprintf("'%s' is both read and written", tx);
    }
    for (size_t i = 0; !error && i < dp_n_ports(ctx->dp); i++) {
        const char *other = dp_port_spec(ctx->dp, i);
        char *orx = port_spec_file(other, ctx->base_dir, false);
        char *otx = port_spec_file(other, ctx->base_dir, true);
        uint32_t n = dp_port_number(ctx->dp, i);

        if (tx && orx && port_same_file(tx, orx)) {
            error = xasprintf("'%s' is the input of port %u", tx, n);
        } else if (tx && otx && port_same_file(tx, otx)) {
            error = xasprintf("'%s' is already written by port %u", tx, n);
        } else if (rx && otx && port_same_file(rx, otx)) {
            error = xasprintf("'%s' is written by port %u", rx, n);
        }
        free(orx);
        free(otx);
    }
    free(rx);
    free(tx);
    return error;
}

static char *
config_port_add(struct config_ctx *ctx, const struct config_arg *args,
                int n_args, int end_col, int *err_col)
{
    struct port *port = NULL;
    uint32_t number = 0;
    char *error;
    int col;
    int err;

    error = nf_parse_port(args[0].text, &number);
    if (error) {
        *err_col = args[0].col;
        return error;
    }
    if (dp_port_exists(ctx->dp, number)) {
        *err_col = args[0].col;
        return xasprintf("port %u already exists", number);
    }
    error = port_spec_check(args[1].text, &col);
    if (error) {
        *err_col = args[1].col + col - 1;
        return error;
    }
    error = check_file_conflicts(ctx, args[1].text);
    if (error) {
        *err_col = args[1].col;
        return error;
    }
    if (ctx->flags & CONFIG_OPEN_PORTS) {
        err = port_open(number, args[1].text, ctx->base_dir, &port, &error);
        if (err) {
            *err_col = args[1].col;
            return error;
        }
    }
    err = dp_port_add(ctx->dp, number, args[1].text, port, &error);
    if (err) {
        port_close(port);
        *err_col = args[0].col;
        return error;
    }
    return NULL;
}

static char *
config_flow_add(struct config_ctx *ctx, const struct config_arg *args,
                int n_args, int end_col, int *err_col)
{
    struct flow_spec spec;
    char *error;
    int col = 1;

    error = flow_spec_parse(&spec, args[0].text, FLOW_PARSE_ADD, &col);
    if (error) {
        *err_col = args[0].col + col - 1;
        flow_spec_destroy(&spec);
        return error;
    }
    error = pipeline_add(dp_pipeline(ctx->dp), &spec, ctx->now_ns);
    if (error) {
        *err_col = args[0].col;
    }
    flow_spec_destroy(&spec);
    return error;
}

static char *
config_flow_del(struct config_ctx *ctx, const struct config_arg *args,
                int n_args, int end_col, int *err_col)
{
    struct flow_spec spec;
    char *error;
    int col = 1;

    error = flow_spec_parse(&spec, n_args ? args[0].text : "", FLOW_PARSE_MATCH,
                            &col);
    if (error) {
        *err_col = (n_args ? args[0].col : end_col) + col - 1;
        flow_spec_destroy(&spec);
        return error;
    }
    pipeline_del(dp_pipeline(ctx->dp), &spec);
    flow_spec_destroy(&spec);
    return NULL;
}

#define RODATA_PREFIX "rodata."

static char *
config_prog_load(struct config_ctx *ctx, const struct config_arg *args,
                 int n_args, int end_col, int *err_col)
{
    struct flow_progs *progs = dp_progs(ctx->dp);
    const char *section = NULL;
    char **rodata = xcalloc((size_t)n_args, sizeof *rodata);
    size_t n_rodata = 0;
    char *error = NULL;
    char *path;

    if (flow_progs_lookup(progs, args[0].text)) {
        *err_col = args[0].col;
        free(rodata);
        return xasprintf("a program named '%s' is already loaded",
                         args[0].text);
    }
    for (int i = 2; i < n_args; i++) {
        const char *a = args[i].text;

        if (!strncmp(a, RODATA_PREFIX, strlen(RODATA_PREFIX))) {
            const char *var = a + strlen(RODATA_PREFIX);
            const char *eq = strchr(var, '=');

            if (!eq || eq == var || !eq[1]) {
                *err_col = args[i].col;
                free(rodata);
                return xasprintf("expected rodata.VAR=VALUE, got '%s'", a);
            }
            rodata[n_rodata++] = (char *)var;
        } else if (i == 2) {
            section = a;
        } else {
            *err_col = args[i].col;
            free(rodata);
            return xasprintf("expected rodata.VAR=VALUE, got '%s'", a);
        }
    }
    /* Object files, like pcaps, are found relative to the config. */
    path = port_resolve_path(ctx->base_dir, args[1].text);
    error =
        flow_progs_load(progs, args[0].text, path, section, rodata, n_rodata);
    if (error) {
        *err_col = args[1].col;
    }
    free(path);
    free(rodata);
    return error;
}

static char *
config_prog_unload(struct config_ctx *ctx, const struct config_arg *args,
                   int n_args, int end_col, int *err_col)
{
    char *error = flow_progs_unload(dp_progs(ctx->dp), args[0].text);

    if (error) {
        *err_col = args[0].col;
    }
    return error;
}

/* Runs "map VERB ARGS..." through the program registry. */
static char *
config_map_cmd(struct config_ctx *ctx, const char *verb,
               const struct config_arg *args, int n_args, int *err_col)
{
    char *argv[6];
    struct ds out = DS_EMPTY_INITIALIZER;
    char *error;

    argv[0] = (char *)verb;
    for (int i = 0; i < n_args; i++) {
        argv[i + 1] = args[i].text;
    }
    error =
        flow_progs_map_cmd(dp_progs(ctx->dp), n_args + 1, argv, false, &out);
    if (error) {
        *err_col = args[0].col;
    }
    ds_destroy(&out);
    return error;
}

static char *
config_map_update(struct config_ctx *ctx, const struct config_arg *args,
                  int n_args, int end_col, int *err_col)
{
    return config_map_cmd(ctx, "update", args, n_args, err_col);
}

static char *
config_map_delete(struct config_ctx *ctx, const struct config_arg *args,
                  int n_args, int end_col, int *err_col)
{
    return config_map_cmd(ctx, "delete", args, n_args, err_col);
}

/* "nf p0f load NAME FILE [LABEL]": fills the p0f program NAME's signature
 * map from the [tcp:request] section of a p0f.fp file, keeping only labels
 * that contain LABEL when given. */
static char *
config_nf_p0f_load(struct config_ctx *ctx, const struct config_arg *args,
                   int n_args, int end_col, int *err_col)
{
    struct bpf_object *obj = flow_progs_object(dp_progs(ctx->dp),
                                               args[0].text);
    if (!obj) {
        *err_col = args[0].col;
        return xasprintf("no program named '%s' is loaded", args[0].text);
    }
    struct bpf_map *map = bpf_object_find_map(obj, "p0f_sigs");
    if (!map) {
        *err_col = args[0].col;
        return xasprintf("program '%s' has no map 'p0f_sigs' (is it "
                         "progs/p0f.o?)", args[0].text);
    }

    char *path = port_resolve_path(ctx->base_dir, args[1].text);
    const char *label = n_args > 2 ? args[2].text : NULL;
    struct nf_p0f_db db;
    char *error = nf_p0f_load(path, label, &db);
    if (!error) {
        if (!db.n_sigs) {
            error = xasprintf("%s: no TCP SYN signature%s%s%s", path,
                              label ? " with a label containing '" : "",
                              label ? label : "", label ? "'" : "");
        } else {
            error = nf_p0f_fill_map(&db, map);
        }
        nf_p0f_db_destroy(&db);
    }
    if (error) {
        *err_col = args[1].col;
    }
    free(path);
    return error;
}

/* The map 'map_name' of loaded program 'prog' (argument 'arg'), or NULL
 * with '*error' and '*err_col' set; 'what' names the program expected. */
static struct bpf_map *
nf_prog_map(struct config_ctx *ctx, const struct config_arg *arg,
            const char *map_name, const char *what, char **error,
            int *err_col)
{
    struct bpf_object *obj = flow_progs_object(dp_progs(ctx->dp), arg->text);
    struct bpf_map *map = obj ? bpf_object_find_map(obj, map_name) : NULL;

    if (!obj) {
        *error = xasprintf("no program named '%s' is loaded", arg->text);
    } else if (!map) {
        *error = xasprintf("program '%s' has no map '%s' (is it %s?)",
                           arg->text, map_name, what);
    }
    if (!map) {
        *err_col = arg->col;
    }
    return map;
}

/* "nf route load NAME FILE [--pfx2as]": adds the routes of a route file
 * (or of a RouteViews pfx2as file, mapped onto the ports set with
 * 'nf port') to the router NAME. */
static char *
config_nf_route_load(struct config_ctx *ctx, const struct config_arg *args,
                     int n_args, int end_col, int *err_col)
{
    char *error = NULL;
    struct bpf_map *map = nf_prog_map(ctx, &args[0], NF_ROUTE_MAP,
                                      "progs/router.o", &error, err_col);
    if (!map) {
        return error;
    }
    bool pfx2as = n_args > 2;
    if (pfx2as && strcmp(args[2].text, "--pfx2as")) {
        *err_col = args[2].col;
        return xasprintf("expected '--pfx2as', got '%s'", args[2].text);
    }

    struct nf_port_entry *ports = NULL;
    size_t n_ports = 0;
    if (pfx2as) {
        struct bpf_map *pm = nf_prog_map(ctx, &args[0], NF_PORTS_MAP,
                                         "progs/router.o", &error, err_col);
        if (!pm) {
            return error;
        }
        error = nf_ports_list(pm, &ports, &n_ports);
        if (error) {
            *err_col = args[0].col;
            return error;
        }
    }

    char *path = port_resolve_path(ctx->base_dir, args[1].text);
    struct nf_route_table t;
    error = pfx2as ? nf_route_load_pfx2as(path, ports, n_ports, &t)
                   : nf_route_load(path, &t);
    if (!error) {
        char *e = nf_route_fill_map(&t, map);
        if (e) {
            error = xasprintf("%s:%s", path, e);
            free(e);
        }
        nf_route_table_destroy(&t);
    }
    if (error) {
        *err_col = args[1].col;
    }
    free(ports);
    free(path);
    return error;
}

/* "nf bridge static NAME MAC IN_PORT OUT_PORT|drop": a static entry of
 * the bridge NAME. */
static char *
config_nf_bridge_static(struct config_ctx *ctx,
                        const struct config_arg *args, int n_args,
                        int end_col, int *err_col)
{
    char *error = NULL;
    struct bpf_map *map = nf_prog_map(ctx, &args[0], NF_BRIDGE_STATIC_MAP,
                                      "progs/bridge.o", &error, err_col);
    uint8_t mac[6];
    uint32_t in_port, out;

    if (!map) {
        return error;
    }
    if ((error = nf_parse_mac(args[1].text, mac))) {
        *err_col = args[1].col;
    } else if ((error = nf_parse_port(args[2].text, &in_port))) {
        *err_col = args[2].col;
    } else if ((error = nf_bridge_parse_out(args[3].text, &out)) ||
               (error = nf_bridge_static_set(map, mac, in_port, out))) {
        *err_col = args[3].col;
    }
    return error;
}

/* "nf port NAME PORT MAC NEXTHOP_MAC": the MAC of port PORT and of its
 * next hop, for the MAC rewrites of program NAME. */
static char *
config_nf_port(struct config_ctx *ctx, const struct config_arg *args,
               int n_args, int end_col, int *err_col)
{
    char *error = NULL;
    struct bpf_map *map = nf_prog_map(ctx, &args[0], NF_PORTS_MAP,
                                      "a program with a port MAC table",
                                      &error, err_col);
    struct nf_port_macs macs;
    uint32_t port;

    if (!map) {
        return error;
    }
    if ((error = nf_parse_port(args[1].text, &port))) {
        *err_col = args[1].col;
    } else if ((error = nf_parse_mac(args[2].text, macs.mac))) {
        *err_col = args[2].col;
    } else if ((error = nf_parse_mac(args[3].text, macs.nexthop))) {
        *err_col = args[3].col;
    } else if ((error = nf_ports_set(map, port, &macs))) {
        *err_col = args[0].col;
    }
    return error;
}

/* The object of loaded program 'arg' (NF commands), or NULL with an
 * error. */
static struct bpf_object *
nf_prog_object(struct config_ctx *ctx, const struct config_arg *arg,
               char **error, int *err_col)
{
    struct bpf_object *obj = flow_progs_object(dp_progs(ctx->dp), arg->text);
    if (!obj) {
        *err_col = arg->col;
        *error = xasprintf("no program named '%s' is loaded", arg->text);
    }
    return obj;
}

/* "nf nat NAME wan=PORT ip=A.B.C.D [first_port=S] [capacity=N]
 * [timeout=SEC]": configures the NAT program NAME (nf/nf_nat.h). */
static char *
config_nf_nat(struct config_ctx *ctx, const struct config_arg *args,
              int n_args, int end_col, int *err_col)
{
    char *error = NULL;
    struct bpf_object *obj = nf_prog_object(ctx, &args[0], &error, err_col);
    char *argv[CONFIG_MAX_TOKENS];
    struct nf_nat_params np;
    int bad = 0;

    if (!obj) {
        return error;
    }
    for (int i = 1; i < n_args; i++) {
        argv[i - 1] = args[i].text;
    }
    error = nf_nat_parse(n_args - 1, argv, &np, &bad);
    if (error) {
        *err_col = bad + 1 < n_args ? args[bad + 1].col : end_col;
        return error;
    }
    error = nf_nat_apply(obj, &np);
    if (error) {
        *err_col = args[0].col;
    }
    return error;
}

/* "nf lb backends NAME FILE vip=IP:PORT [table=M] [capacity=N]
 * [timeout=SEC]": loads a backends file into the load balancer NAME and
 * builds its Maglev table (nf/nf_lb.h). */
static char *
config_nf_lb_backends(struct config_ctx *ctx, const struct config_arg *args,
                      int n_args, int end_col, int *err_col)
{
    char *error = NULL;
    struct bpf_object *obj = nf_prog_object(ctx, &args[0], &error, err_col);
    char *argv[CONFIG_MAX_TOKENS];
    struct nf_lb_params lp;
    struct lb_backend *list;
    size_t n;
    int bad = 0;

    if (!obj) {
        return error;
    }
    for (int i = 2; i < n_args; i++) {
        argv[i - 2] = args[i].text;
    }
    error = nf_lb_parse(n_args - 2, argv, &lp, &bad);
    if (error) {
        *err_col = bad + 2 < n_args ? args[bad + 2].col : end_col;
        return error;
    }
    char *path = port_resolve_path(ctx->base_dir, args[1].text);
    error = nf_lb_parse_backends(path, &list, &n);
    free(path);
    if (error) {
        *err_col = args[1].col;
        return error;
    }
    error = nf_lb_apply(obj, &lp, list, n);
    if (error) {
        *err_col = args[0].col;
    }
    free(list);
    return error;
}

static char *
config_nf_lb_health(struct config_ctx *ctx, const struct config_arg *args,
                    bool up, int *err_col)
{
    char *error = NULL;
    struct bpf_object *obj = nf_prog_object(ctx, &args[0], &error, err_col);

    if (!obj) {
        return error;
    }
    error = nf_lb_set_up(obj, args[1].text, up);
    if (error) {
        *err_col = args[1].col;
    }
    return error;
}

/* "nf lb down NAME BACKEND": takes a backend out of the Maglev table; only
 * its connections move. */
static char *
config_nf_lb_down(struct config_ctx *ctx, const struct config_arg *args,
                  int n_args, int end_col, int *err_col)
{
    return config_nf_lb_health(ctx, args, false, err_col);
}

/* "nf lb up NAME BACKEND": puts a backend back into the table. */
static char *
config_nf_lb_up(struct config_ctx *ctx, const struct config_arg *args,
                int n_args, int end_col, int *err_col)
{
    return config_nf_lb_health(ctx, args, true, err_col);
}

/* A line split into tokens, with its command. */
struct config_line {
    struct config_arg toks[CONFIG_MAX_TOKENS]; /* Words, then args. */
    int n_toks;
    const struct config_cmd *cmd; /* NULL for a blank line. */
    int n_words;                  /* Leading tokens that are command words. */
    int end_col;                  /* Column after the last token. */
};

static void
config_line_destroy(struct config_line *l)
{
    for (int i = 0; i < l->n_toks; i++) {
        free(l->toks[i].text);
    }
    l->n_toks = 0;
}

/* How many leading tokens of 'l' equal c's words (0: not all). */
static int
match_words(const struct config_cmd *c, const struct config_line *l)
{
    const char *w = c->words;
    int n = 0;

    while (*w) {
        size_t len = strcspn(w, " ");

        if (n >= l->n_toks || strlen(l->toks[n].text) != len ||
            strncmp(l->toks[n].text, w, len)) {
            return 0;
        }
        n++;
        w += len;
        w += strspn(w, " ");
    }
    return n;
}

static void
add_token(struct config_line *l, const char *line, const char *start,
          size_t len)
{
    struct config_arg *t = &l->toks[l->n_toks++];

    t->text = xasprintf("%.*s", (int)len, start);
    t->col = (int)(start - line) + 1;
}

/* Splits 'line' and finds its command.  Returns NULL (l->cmd NULL for a
 * blank or comment line) or an error with '*err_col'. */
static char *
config_line_parse(struct config_line *l, const char *line, int *err_col)
{
    size_t len = strcspn(line, "#\r\n");
    const char *p = line;
    const char *end = line + len;
    int best = 0;

    memset(l, 0, sizeof *l);
    /* Trailing whitespace is not part of any argument. */
    while (end > line && isspace((unsigned char)end[-1])) {
        end--;
    }
    for (;;) {
        size_t n;

        while (p < end && isspace((unsigned char)*p)) {
            p++;
        }
        if (p >= end) {
            break;
        }
        /* Once the command is known, a free-text argument is the rest of
         * the line. */
        if (l->cmd && l->cmd->rest && l->n_toks >= l->n_words) {
            add_token(l, line, p, end - p);
            break;
        }
        if (l->n_toks == CONFIG_MAX_TOKENS) {
            *err_col = (int)(p - line) + 1;
            return xasprintf("more than %d arguments", CONFIG_MAX_TOKENS);
        }
        for (n = 0; p + n < end && !isspace((unsigned char)p[n]); n++) {
            continue;
        }
        add_token(l, line, p, n);
        p += n;

        /* Longest match: "map" and "map dump" could both exist. */
        if (l->n_toks <= CONFIG_MAX_WORDS) {
            for (size_t i = 0; i < ARRAY_SIZE(config_cmds); i++) {
                int m = match_words(&config_cmds[i], l);

                if (m > best) {
                    best = m;
                    l->cmd = &config_cmds[i];
                    l->n_words = m;
                }
            }
        }
    }
    l->end_col = (int)(end - line) + 2;
    if (!l->n_toks) {
        return NULL;
    }
    if (!l->cmd) {
        bool group = false;

        for (size_t i = 0; i < ARRAY_SIZE(config_cmds); i++) {
            size_t wlen = strlen(l->toks[0].text);

            if (!strncmp(config_cmds[i].words, l->toks[0].text, wlen) &&
                config_cmds[i].words[wlen] == ' ') {
                group = true;
            }
        }
        if (group && l->n_toks > 1) {
            *err_col = l->toks[1].col;
            return xasprintf("unknown command '%s %s'", l->toks[0].text,
                             l->toks[1].text);
        }
        *err_col = l->toks[0].col;
        return xasprintf(group ? "incomplete command '%s'"
                               : "unknown command '%s'",
                         l->toks[0].text);
    }
    return NULL;
}

/* Checks the argument count of a parsed line. */
static char *
config_line_check_args(const struct config_line *l, int *err_col)
{
    int n_args = l->n_toks - l->n_words;
    const struct config_cmd *c = l->cmd;

    if (n_args < c->min_args) {
        *err_col = l->end_col - 1;
        return xasprintf("'%s' needs %s", c->words, c->usage);
    }
    if (c->max_args >= 0 && n_args > c->max_args) {
        *err_col = l->toks[l->n_words + c->max_args].col;
        return xasprintf("unexpected argument '%s' (usage: %s %s)",
                         l->toks[l->n_words + c->max_args].text, c->words,
                         c->usage);
    }
    return NULL;
}

static char *
config_line_run(struct config_ctx *ctx, const struct config_line *l,
                int *err_col)
{
    return l->cmd->run(ctx, &l->toks[l->n_words], l->n_toks - l->n_words,
                       l->end_col, err_col);
}

char *
config_exec_line(struct dp *dp, const char *line, const char *base_dir,
                 unsigned int flags, uint64_t now_ns, int *err_col)
{
    struct config_ctx ctx = {dp, base_dir, flags, now_ns};
    struct config_line l;
    char *error;

    *err_col = 1;
    error = config_line_parse(&l, line, err_col);
    if (!error && l.cmd) {
        error = config_line_check_args(&l, err_col);
        if (!error) {
            error = config_line_run(&ctx, &l, err_col);
        }
    }
    config_line_destroy(&l);
    return error;
}

char *
config_base_dir(const char *config_path)
{
    const char *slash = strrchr(config_path, '/');

    if (!slash) {
        return xstrdup(".");
    }
    if (slash == config_path) {
        return xstrdup("/");
    }
    return xasprintf("%.*s", (int)(slash - config_path), config_path);
}

/* A command waiting for the ports to be open: kept as text (a parsed
 * line is much larger than most lines, and configs may hold 100k flows). */
struct config_deferred {
    char *text;  /* The line (owned). */
    int line_no; /* 1-based line number. */
};

static char *
config_error_at(const char *path, int line_no, int col, char *error)
{
    char *msg = xasprintf("%s:%d:%d: %s", path, line_no, col, error);

    free(error);
    return msg;
}

char *
config_load(struct dp *dp, const char *path, unsigned int flags)
{
    struct config_deferred *deferred = NULL;
    size_t n_deferred = 0;
    size_t cap_deferred = 0;
    char *base_dir = config_base_dir(path);
    struct config_ctx ctx = {dp, base_dir, flags, 0};
    char *error = NULL;
    char *buf = NULL;
    size_t buf_size = 0;
    int line_no = 0;
    int err_col = 1;
    ssize_t n;
    FILE *f;

    f = fopen(path, "r");
    if (!f) {
        free(base_dir);
        return xasprintf("%s: %s", path, strerror(errno));
    }
    while (!error && (n = getline(&buf, &buf_size, f)) >= 0) {
        struct config_line l;

        line_no++;
        if ((size_t)n != strlen(buf)) {
            error = config_error_at(path, line_no, (int)strlen(buf) + 1,
                                    xstrdup("NUL byte in line"));
            break;
        }
        error = config_line_parse(&l, buf, &err_col);
        if (!error && l.cmd) {
            error = config_line_check_args(&l, &err_col);
        }
        if (!error && l.cmd && l.cmd->early) {
            error = config_line_run(&ctx, &l, &err_col);
        } else if (!error && l.cmd) {
            if (n_deferred == cap_deferred) {
                cap_deferred = cap_deferred ? 2 * cap_deferred : 64;
                deferred = xrealloc(deferred, cap_deferred * sizeof *deferred);
            }
            deferred[n_deferred].text = xstrdup(buf);
            deferred[n_deferred].line_no = line_no;
            n_deferred++;
        }
        config_line_destroy(&l);
        if (error) {
            error = config_error_at(path, line_no, err_col, error);
        }
    }
    if (!error && ferror(f)) {
        error = xasprintf("%s: read error: %s", path, strerror(errno));
    }
    fclose(f);
    free(buf);

    if (!error) {
        ctx.now_ns = flags & CONFIG_OPEN_PORTS ? dp_start_time(dp) : 0;
    }
    for (size_t i = 0; i < n_deferred; i++) {
        if (!error) {
            error = config_exec_line(dp, deferred[i].text, base_dir, flags,
                                     ctx.now_ns, &err_col);
            if (error) {
                error =
                    config_error_at(path, deferred[i].line_no, err_col, error);
            }
        }
        free(deferred[i].text);
    }
    free(deferred);
    free(base_dir);
    return error;
}
