#include "flow_prog.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <linux/bpf.h>

#include "bpf/bpf_api.h"
#include "core/clock.h"
#include "core/compiler.h"
#include "core/log.h"

LOG_DEFINE_MODULE(prog);

struct flow_prog {
    struct pipeline_prog pp;     /* What the pipeline calls; pp.impl = this. */
    char *name;                  /* Registry name (owned). */
    char *path;                  /* Object file (owned). */
    struct bpf_object *obj;      /* Owned. */
    struct bpf_prog *prog;       /* Borrowed from 'obj'. */
    /* Counters per datapath thread (slot = the thread's bpf CPU number
     * modulo FLOW_PROG_SLOTS), each in its own cache line, so threads
     * running one program neither race nor share a line; summed on read. */
    struct flow_prog_counters *counters;
    struct flow_prog *next;      /* Registry list. */
};

#define FLOW_PROG_SLOTS 64

/* Runs are timed by sampling: about one in FLOW_PROG_TIME_EVERY, at
 * random intervals (so that the sample does not lock onto a position in
 * the batches), the first run of each slot always.  A read of the
 * time-stamp counter takes 15 to 20 ns in this project's VMs (back to
 * back), and timing every run took two: bench_dp's firewall and NAT cases
 * ran 1 to 10% faster on one thread without them (paired medians).  ns/run
 * is then the timed runs' mean, and the total time that mean times the
 * runs. */
#define FLOW_PROG_TIME_EVERY 32

struct flow_prog_counters {
    uint64_t runs;               /* Runs through the pipeline. */
    uint64_t matches;            /* Runs that returned non-zero. */
    uint64_t cycles;             /* Time the timed runs took, TSC cycles. */
    uint64_t timed;              /* Runs timed. */
    uint32_t countdown;          /* Untimed runs before the next timed. */
    uint32_t rng;                /* xorshift32 state (0: not seeded). */
} __attribute__((aligned(64)));

/* Untimed runs to leave before the next timed one: uniform in
 * [0, 2 * FLOW_PROG_TIME_EVERY - 2], mean FLOW_PROG_TIME_EVERY - 1. */
static uint32_t
flow_prog_next_countdown(struct flow_prog_counters *c)
{
    uint32_t x = c->rng ? c->rng : 0x9e3779b9u;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c->rng = x;
    return x % (2 * FLOW_PROG_TIME_EVERY - 1);
}

struct flow_progs {
    struct flow_prog *head;      /* Loaded programs, newest first. */
};

struct flow_progs *
flow_progs_create(void)
{
    return xzalloc(sizeof(struct flow_progs));
}

static void
flow_prog_free(struct flow_prog *fp)
{
    if (fp) {
        bpf_object_close(fp->obj);
        free(fp->name);
        free(fp->path);
        free(fp->counters);
        free(fp);
    }
}

void
flow_progs_destroy(struct flow_progs *progs)
{
    if (!progs) {
        return;
    }
    for (struct flow_prog *fp = progs->head, *next; fp; fp = next) {
        next = fp->next;
        flow_prog_free(fp);
    }
    free(progs);
}

static struct flow_prog *
flow_progs_find(const struct flow_progs *progs, const char *name)
{
    for (struct flow_prog *fp = progs->head; fp; fp = fp->next) {
        if (!strcmp(fp->name, name)) {
            return fp;
        }
    }
    return NULL;
}

/* Runs the program on 'p' as XDP: the context spans the packet's buffer so
 * that bpf_xdp_adjust_head/tail can move the frame's edges within it. */
static uint64_t
flow_prog_run(void *impl, struct packet *p, uint32_t *redirect_port)
{
    struct flow_prog *fp = impl;
    uint8_t *data = packet_data(p);
    struct bpf_xdp_buff ctx = {
        .data = (uintptr_t)data,
        .data_end = (uintptr_t)(data + p->len),
        .data_meta = (uintptr_t)data,
        .data_hard_start = (uintptr_t)p->base,
        .frame_end = (uintptr_t)(p->base + p->size),
        .ingress_ifindex = p->in_port,
        .redirect_port = UINT32_MAX,
    };

    bpf_set_time_ns(p->ts_ns);
    struct flow_prog_counters *c =
        &fp->counters[bpf_get_cpu() % FLOW_PROG_SLOTS];
    uint64_t ret;
    if (likely(c->countdown)) {
        c->countdown--;
        ret = bpf_prog_run_xdp(fp->prog, &ctx);
    } else {
        uint64_t t0 = clock_cycles();
        ret = bpf_prog_run_xdp(fp->prog, &ctx);
        c->cycles += clock_cycles() - t0;
        c->timed++;
        c->countdown = flow_prog_next_countdown(c);
    }
    c->runs++;
    c->matches += ret != 0;

    uint8_t *new_data = (uint8_t *)(uintptr_t)ctx.data;
    uint32_t new_len = (uint32_t)(ctx.data_end - ctx.data);
    if (new_data != data || new_len != p->len) {
        p->data_ofs = (uint32_t)(new_data - p->base);
        p->len = new_len;
    }
    if (redirect_port) {
        *redirect_port = ctx.redirect_port;
    }
    return ret;
}

/* Parses one "VAR=VALUE" .rodata assignment: VALUE is an integer (decimal
 * or 0x hex, negative allowed), stored in '*value'; the loader writes it
 * at the variable's own size and checks that it fits. */
static char *
parse_rodata(const char *assign, struct bpf_rodata_set *set, uint64_t *value)
{
    const char *eq = strchr(assign, '=');
    if (!eq || eq == assign || !eq[1]) {
        return xasprintf("'%s' is not rodata.VAR=VALUE", assign);
    }
    char *var = xmalloc((size_t)(eq - assign) + 1);
    memcpy(var, assign, (size_t)(eq - assign));
    var[eq - assign] = '\0';

    char *end;
    errno = 0;
    if (eq[1] == '-') {
        *value = (uint64_t)strtoll(eq + 1, &end, 0);
    } else {
        *value = strtoull(eq + 1, &end, 0);
    }
    if (*end || errno) {
        char *msg = xasprintf("rodata.%s: '%s' is not an integer", var,
                              eq + 1);
        free(var);
        return msg;
    }
    set->var = var;
    set->value = value;
    set->size = 0;       /* Integer: stored at the variable's own size. */
    return NULL;
}

char *
flow_progs_load(struct flow_progs *progs, const char *name, const char *path,
                const char *section, char *const *rodata, size_t n_rodata)
{
    if (flow_progs_find(progs, name)) {
        return xasprintf("a program named '%s' is already loaded", name);
    }

    struct bpf_rodata_set *sets = xcalloc(n_rodata, sizeof *sets);
    uint64_t *values = xcalloc(n_rodata, sizeof *values);
    char *err = NULL;
    size_t n_sets = 0;
    for (; n_sets < n_rodata; n_sets++) {
        err = parse_rodata(rodata[n_sets], &sets[n_sets], &values[n_sets]);
        if (err) {
            break;
        }
    }

    struct bpf_object *obj = NULL;
    struct bpf_prog *prog = NULL;
    if (!err) {
        struct bpf_load_opts opts = { .rodata = sets, .n_rodata = n_sets };
        char *load_err = NULL;
        int rc = bpf_object_open(path, &opts, &obj, &load_err);
        if (rc < 0) {
            /* The loader's messages already name the file. */
            err = load_err ? load_err
                           : xasprintf("%s: %s", path, strerror(-rc));
        }
    }
    if (!err) {
        if (section) {
            prog = bpf_object_find_prog(obj, section);
            if (!prog) {
                err = xasprintf("%s: no program in section or named '%s'",
                                path, section);
            }
        } else if (bpf_object_n_progs(obj) == 0) {
            err = xasprintf("%s: object has no programs", path);
        } else {
            prog = bpf_object_prog(obj, 0);
        }
    }
    if (!err) {
        struct bpf_verify_result res;
        bpf_prog_verify(prog, &res);
        if (!res.accepted) {
            err = xasprintf("%s: program '%s' rejected by the verifier at "
                            "instruction %u: %s", path, bpf_prog_name(prog),
                            res.insn_idx, res.log ? res.log : "(no log)");
        }
        bpf_verify_result_destroy(&res);
    }
    for (size_t i = 0; i < n_sets; i++) {
        free((char *)sets[i].var);
    }
    free(sets);
    free(values);
    if (err) {
        bpf_object_close(obj);
        return err;
    }

    struct flow_prog *fp = xzalloc(sizeof *fp);
    fp->name = xstrdup(name);
    fp->path = xstrdup(path);
    fp->obj = obj;
    fp->prog = prog;
    fp->counters = xzalloc_aligned(64, FLOW_PROG_SLOTS * sizeof *fp->counters);
    fp->pp.may_modify = bpf_prog_writes_packet(prog);
    fp->pp.name = fp->name;
    fp->pp.impl = fp;
    fp->pp.run = flow_prog_run;
    fp->next = progs->head;
    progs->head = fp;
    LOG_INFO("loaded '%s' from %s (%s, %zu instructions)", name, path,
             bpf_prog_section(prog), bpf_prog_n_insns(prog));
    return NULL;
}

char *
flow_progs_unload(struct flow_progs *progs, const char *name)
{
    for (struct flow_prog **pp = &progs->head; *pp; pp = &(*pp)->next) {
        struct flow_prog *fp = *pp;
        if (!strcmp(fp->name, name)) {
            if (fp->pp.n_refs) {
                return xasprintf("program '%s' is used by %u flow%s", name,
                                 fp->pp.n_refs, fp->pp.n_refs == 1 ? "" : "s");
            }
            *pp = fp->next;
            flow_prog_free(fp);
            return NULL;
        }
    }
    return xasprintf("no program named '%s' is loaded", name);
}

struct pipeline_prog *
flow_progs_lookup(void *aux, const char *name)
{
    struct flow_prog *fp = flow_progs_find(aux, name);
    return fp ? &fp->pp : NULL;
}

struct bpf_object *
flow_progs_object(const struct flow_progs *progs, const char *name)
{
    struct flow_prog *fp = flow_progs_find(progs, name);
    return fp ? fp->obj : NULL;
}

const struct bpf_prog *
flow_progs_prog(const struct flow_progs *progs, const char *name,
                const char **path)
{
    struct flow_prog *fp = flow_progs_find(progs, name);
    if (fp && path) {
        *path = fp->path;
    }
    return fp ? fp->prog : NULL;
}

size_t
flow_progs_list(const struct flow_progs *progs, const struct bpf_prog **out,
                size_t max)
{
    size_t n = 0;

    for (const struct flow_prog *fp = progs->head; fp; fp = fp->next) {
        if (n < max) {
            out[n] = fp->prog;
        }
        n++;
    }
    return n;
}

void
flow_progs_show(const struct flow_progs *progs, bool json, struct ds *out)
{
    /* Oldest first, in load order. */
    size_t n = 0;
    for (struct flow_prog *fp = progs->head; fp; fp = fp->next) {
        n++;
    }
    struct flow_prog **v = xcalloc(n, sizeof *v);
    size_t i = n;
    for (struct flow_prog *fp = progs->head; fp; fp = fp->next) {
        v[--i] = fp;
    }

    json_t *arr = json ? json_array() : NULL;
    for (i = 0; i < n; i++) {
        struct flow_prog *fp = v[i];
        struct bpf_prog_stats st;
        bpf_prog_get_stats(fp->prog, &st);
        struct flow_prog_counters sum = {0};
        for (size_t k = 0; k < FLOW_PROG_SLOTS; k++) {
            sum.runs += fp->counters[k].runs;
            sum.matches += fp->counters[k].matches;
            sum.cycles += fp->counters[k].cycles;
            sum.timed += fp->counters[k].timed;
        }
        /* The timed runs' mean, scaled to all runs. */
        double ns_per_run =
            sum.timed ? (double)clock_cycles_to_ns(sum.cycles) /
                            (double)sum.timed
                      : 0.0;
        uint64_t ns = (uint64_t)(ns_per_run * (double)sum.runs);
        if (json) {
            json_array_append_new(
                arr,
                json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, "
                          "s:f, s:I}",
                          "name", fp->name, "file", fp->path, "section",
                          bpf_prog_section(fp->prog), "function",
                          bpf_prog_name(fp->prog), "insns",
                          (json_int_t)bpf_prog_n_insns(fp->prog), "runs",
                          (json_int_t)sum.runs, "matches",
                          (json_int_t)sum.matches, "insns_executed",
                          (json_int_t)st.insns, "ns", (json_int_t)ns,
                          "ns_per_run", ns_per_run, "timed_runs",
                          (json_int_t)sum.timed));
        } else {
            ds_put_format(out,
                          "%s: %s section %s (%s), %zu insns\n"
                          "    runs %" PRIu64 ", matches %" PRIu64
                          ", insns executed %" PRIu64
                          ", %.1f ns/run (%" PRIu64 " runs timed)\n",
                          fp->name, fp->path, bpf_prog_section(fp->prog),
                          bpf_prog_name(fp->prog), bpf_prog_n_insns(fp->prog),
                          sum.runs, sum.matches, st.insns, ns_per_run,
                          sum.timed);
        }
    }
    if (json) {
        char *text = json_dumps(arr, JSON_COMPACT);
        ds_put_cstr(out, text);
        free(text);
        json_decref(arr);
    }
    free(v);
}

/* Parses hex 'text' that must be exactly 'size' bytes long. */
static char *
parse_sized_hex(const char *what, const char *text, size_t size,
                const char *map_name, uint8_t **out)
{
    size_t len;
    char *err = hex_to_bytes(text, out, &len);
    if (err) {
        char *msg = xasprintf("%s '%s': %s", what, text, err);
        free(err);
        return msg;
    }
    if (len != size) {
        free(*out);
        *out = NULL;
        return xasprintf("%s is %zu bytes, map '%s' needs %zu", what, len,
                         map_name, size);
    }
    return NULL;
}

static void
put_entry(struct ds *out, bool json, bool first, const uint8_t *key,
          size_t key_size, const uint8_t *value, size_t value_size)
{
    if (json) {
        ds_put_format(out, "%s{\"key\":\"", first ? "" : ",");
        ds_put_hex(out, key, key_size);
        ds_put_cstr(out, "\",\"value\":\"");
        ds_put_hex(out, value, value_size);
        ds_put_cstr(out, "\"}");
    } else {
        ds_put_cstr(out, "key: ");
        ds_put_hex(out, key, key_size);
        ds_put_cstr(out, "  value: ");
        ds_put_hex(out, value, value_size);
        ds_put_char(out, '\n');
    }
}

static char *
map_dump(struct bpf_map *map, bool json, struct ds *out)
{
    size_t ks = bpf_map_key_size(map);
    size_t vs = bpf_map_sys_value_size(map);
    uint8_t *key = xzalloc(ks), *next = xzalloc(ks), *value = xzalloc(vs);
    size_t n = 0;
    const void *prev = NULL;

    if (json) {
        ds_put_char(out, '[');
    }
    while (bpf_map_next_key(map, prev, next) == 0) {
        memcpy(key, next, ks);
        prev = key;
        if (bpf_map_lookup(map, key, value) == 0) {
            put_entry(out, json, n == 0, key, ks, value, vs);
            n++;
        }
        if (n > bpf_map_max_entries(map)) {
            break;      /* Defensive: never loop on a changing map. */
        }
    }
    if (json) {
        ds_put_char(out, ']');
    } else {
        ds_put_format(out, "Found %zu element%s\n", n, n == 1 ? "" : "s");
    }
    free(key);
    free(next);
    free(value);
    return NULL;
}

char *
flow_progs_map_cmd(struct flow_progs *progs, int argc, char *const *argv,
                   bool json, struct ds *out)
{
    static const char usage[] =
        "usage: map dump NAME MAP | map lookup NAME MAP KEY_HEX | "
        "map update NAME MAP KEY_HEX VALUE_HEX [any|noexist|exist] | "
        "map delete NAME MAP KEY_HEX";
    if (argc < 3) {
        return xstrdup(usage);
    }
    const char *verb = argv[0];
    struct flow_prog *fp = flow_progs_find(progs, argv[1]);
    if (!fp) {
        return xasprintf("no program named '%s' is loaded", argv[1]);
    }
    struct bpf_map *map = bpf_object_find_map(fp->obj, argv[2]);
    if (!map) {
        struct ds names = DS_EMPTY_INITIALIZER;
        for (size_t i = 0; i < bpf_object_n_maps(fp->obj); i++) {
            ds_put_format(&names, "%s%s", i ? ", " : "",
                          bpf_map_name(bpf_object_map(fp->obj, i)));
        }
        char *msg = xasprintf("program '%s' has no map '%s' (maps: %s)",
                              argv[1], argv[2], ds_cstr(&names));
        ds_destroy(&names);
        return msg;
    }
    const char *mname = bpf_map_name(map);
    size_t ks = bpf_map_key_size(map);
    size_t vs = bpf_map_sys_value_size(map);

    if (!strcmp(verb, "dump") && argc == 3) {
        return map_dump(map, json, out);
    }
    if (argc < 4) {
        return xstrdup(usage);
    }
    uint8_t *key = NULL, *value = NULL;
    char *err = parse_sized_hex("key", argv[3], ks, mname, &key);
    if (err) {
        return err;
    }
    int rc = 0;
    if (!strcmp(verb, "lookup") && argc == 4) {
        value = xzalloc(vs);
        rc = bpf_map_lookup(map, key, value);
        if (rc == 0) {
            if (json) {
                put_entry(out, true, true, key, ks, value, vs);
            } else {
                put_entry(out, false, true, key, ks, value, vs);
            }
        }
    } else if (!strcmp(verb, "delete") && argc == 4) {
        rc = bpf_map_delete(map, key);
    } else if (!strcmp(verb, "update") && (argc == 5 || argc == 6)) {
        uint64_t flags = BPF_ANY;
        if (argc == 6) {
            if (!strcmp(argv[5], "noexist")) {
                flags = BPF_NOEXIST;
            } else if (!strcmp(argv[5], "exist")) {
                flags = BPF_EXIST;
            } else if (strcmp(argv[5], "any")) {
                free(key);
                return xasprintf("bad update flag '%s' (any, noexist, "
                                 "exist)", argv[5]);
            }
        }
        err = parse_sized_hex("value", argv[4], vs, mname, &value);
        if (!err) {
            rc = bpf_map_update(map, key, value, flags);
        }
    } else {
        err = xstrdup(usage);
    }
    if (!err && rc < 0) {
        err = xasprintf("map '%s' %s: %s", mname, verb, strerror(-rc));
    }
    free(key);
    free(value);
    return err;
}
