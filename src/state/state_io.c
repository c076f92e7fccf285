/* Export and import of updateable state (see state_io.h, docs/state.md).
 *
 * Which maps: those state_analyze() says the packet path updates; the rest
 * is configuration, set up by whoever loads the program, and never moves.
 * Which entries: with --match FLOW, an entry is left out only when its key,
 * read through the analysis's key layout, proves that no flow matching
 * FLOW can use it: every byte FLOW constrains that the key holds verbatim
 * (or as either member of a symmetric pair, in either order) must agree.
 * Bytes the key does not determine (a hash, a map value, a constant index
 * of a shared counter) cannot exclude an entry, so shared and unresolved
 * state is always exported: the export is a superset of what the matched
 * flows use, never a subset.
 *
 * The file is JSON lines: a header naming the format, its version, the
 * program, a BLAKE2b hash (libsodium crypto_generichash) of the object
 * file and every exported map's layout; one line per entry; an end line
 * with the count, so a truncated file is refused.  Import checks all of it
 * and parses every entry before it writes anything. */
#include "state/state_io.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpf/bpf_api.h"
#include "bpf/bpf_int.h"
#include "flow/flow_parse.h"
#include "flow/flow_prog.h"
#include "pkt/flow_key.h"
#include "state/state.h"

#define HASH_BYTES crypto_generichash_BYTES
#define MAX_PAIR_GROUPS 4            /* Orientations tried: 2^4. */

/* Where a packet field lives in struct flow_key, for --match. */
struct field_loc {
    int field;                       /* enum state_field. */
    size_t off;                      /* In struct flow_key. */
    size_t len;                      /* Bytes. */
};

/* Fields whose key-layout bytes are the same bytes, in the same order, as
 * in struct flow_key (network order; in_port host order, as the layout
 * numbers it).  VLAN, IPv6 label and TCP flags are held differently in
 * flows and packets: keys never exclude entries by them. */
static const struct field_loc field_locs[] = {
    { STATE_F_IN_PORT, offsetof(struct flow_key, in_port), 4 },
    { STATE_F_DL_DST, offsetof(struct flow_key, dl_dst), 6 },
    { STATE_F_DL_SRC, offsetof(struct flow_key, dl_src), 6 },
    { STATE_F_DL_TYPE, offsetof(struct flow_key, dl_type), 2 },
    { STATE_F_NW_TOS, offsetof(struct flow_key, nw_tos), 1 },
    { STATE_F_NW_TTL, offsetof(struct flow_key, nw_ttl), 1 },
    { STATE_F_NW_PROTO, offsetof(struct flow_key, nw_proto), 1 },
    { STATE_F_NW_SRC, offsetof(struct flow_key, nw_src), 4 },
    { STATE_F_NW_DST, offsetof(struct flow_key, nw_dst), 4 },
    { STATE_F_IPV6_SRC, offsetof(struct flow_key, ipv6_src), 16 },
    { STATE_F_IPV6_DST, offsetof(struct flow_key, ipv6_dst), 16 },
    { STATE_F_TP_SRC, offsetof(struct flow_key, tp_src), 2 },
    { STATE_F_TP_DST, offsetof(struct flow_key, tp_dst), 2 },
};

static const struct field_loc *
field_loc(int field)
{
    for (size_t i = 0; i < ARRAY_SIZE(field_locs); i++) {
        if (field_locs[i].field == field) {
            return &field_locs[i];
        }
    }
    return NULL;
}

static int
pair_dst_of(int src)
{
    switch (src) {
    case STATE_F_DL_SRC: return STATE_F_DL_DST;
    case STATE_F_NW_SRC: return STATE_F_NW_DST;
    case STATE_F_IPV6_SRC: return STATE_F_IPV6_DST;
    case STATE_F_TP_SRC: return STATE_F_TP_DST;
    default: return -1;
    }
}

/* Whether a flow matching 'm' may use the entry with key 'key' of a map
 * whose key layout is 'lay' (NULL: nothing known).  Pair groups are tried
 * in both orientations. */
static bool
entry_may_match(const struct match *m, const struct state_key_byte *lay,
                const uint8_t *key, uint32_t ks)
{
    uint16_t groups[MAX_PAIR_GROUPS];
    int n_groups = 0;

    if (!lay) {
        return true;
    }
    for (uint32_t i = 0; i < ks; i++) {
        if (lay[i].kind != STATE_KEY_PAIR) {
            continue;
        }
        int g;
        for (g = 0; g < n_groups && groups[g] != lay[i].group; g++) {
            continue;
        }
        if (g == n_groups) {
            if (n_groups == MAX_PAIR_GROUPS) {
                return true;        /* Too many to try: keep it. */
            }
            groups[n_groups++] = lay[i].group;
        }
    }
    for (unsigned int o = 0; o < (1u << n_groups); o++) {
        const uint8_t *mk = (const uint8_t *) &m->key;
        const uint8_t *mm = (const uint8_t *) &m->mask;
        bool ok = true;
        for (uint32_t i = 0; i < ks && ok; i++) {
            int field = lay[i].field;
            if (lay[i].kind == STATE_KEY_PAIR) {
                int g = 0;
                while (groups[g] != lay[i].group) {
                    g++;
                }
                if ((lay[i].member ^ (o >> g & 1)) != 0) {
                    field = pair_dst_of(field);
                }
            } else if (lay[i].kind != STATE_KEY_FIELD) {
                continue;
            }
            const struct field_loc *fl = field_loc(field);
            if (!fl || lay[i].byte >= fl->len) {
                continue;
            }
            size_t at = fl->off + lay[i].byte;
            ok = (key[i] & mm[at]) == mk[at];
        }
        if (ok) {
            return true;
        }
    }
    return false;
}

/* Reads 'path' whole and hashes it. */
static char *
hash_file(const char *path, uint8_t hash[HASH_BYTES])
{
    FILE *f = fopen(path, "rb");
    crypto_generichash_state st;
    uint8_t buf[65536];
    size_t n;

    if (!f) {
        return xasprintf("%s: %s", path, strerror(errno));
    }
    if (sodium_init() < 0) {
        fclose(f);
        return xstrdup("libsodium failed to initialise");
    }
    crypto_generichash_init(&st, NULL, 0, HASH_BYTES);
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        crypto_generichash_update(&st, buf, n);
    }
    bool bad = ferror(f);
    fclose(f);
    if (bad) {
        return xasprintf("%s: read error", path);
    }
    crypto_generichash_final(&st, hash, HASH_BYTES);
    return NULL;
}

static bool
is_array(uint32_t type)
{
    return type == BPF_MAP_TYPE_ARRAY || type == BPF_MAP_TYPE_PERCPU_ARRAY;
}

static bool
all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i]) {
            return false;
        }
    }
    return true;
}

/* The maps of 'prog' that are exported: updated by the packet path, and
 * not program arrays (which hold code, set up by the loader). */
static bool
exported(const struct bpf_map *map, const struct state_map_result *r)
{
    return r->updated && map->type != BPF_MAP_TYPE_PROG_ARRAY;
}

static uint32_t
map_n_cpus(struct bpf_map *map)
{
    size_t vs8 = (bpf_map_value_size(map) + 7) / 8 * 8;
    uint32_t t = bpf_map_type(map);
    bool percpu = t == BPF_MAP_TYPE_PERCPU_ARRAY
                  || t == BPF_MAP_TYPE_PERCPU_HASH
                  || t == BPF_MAP_TYPE_LRU_PERCPU_HASH;
    return percpu ? (uint32_t) (bpf_map_sys_value_size(map) / vs8) : 1;
}

static void
put_header(struct ds *out, const char *name, const char *path,
           const uint8_t hash[HASH_BYTES], const struct bpf_prog *prog,
           const struct state_result *res, const char *match_text)
{
    json_t *h = json_object();
    json_t *maps = json_array();
    char hex[2 * HASH_BYTES + 1];

    sodium_bin2hex(hex, sizeof hex, hash, HASH_BYTES);
    json_object_set_new(h, "format", json_string(STATE_FILE_FORMAT));
    json_object_set_new(h, "version", json_integer(STATE_FILE_VERSION));
    json_object_set_new(h, "program", json_string(name));
    json_object_set_new(h, "object", json_string(path));
    json_object_set_new(h, "object_hash", json_string(hex));
    json_object_set_new(h, "match", match_text ? json_string(match_text)
                                               : json_null());
    for (unsigned int i = 0; i < res->n_maps; i++) {
        struct bpf_map *map = prog->maps[i];
        const struct state_map_result *r = &res->maps[i];
        if (!exported(map, r)) {
            continue;
        }
        char dims[512];
        json_t *m = json_object();
        state_dims_format(r->dims, dims, sizeof dims);
        json_object_set_new(m, "name", json_string(map->name));
        json_object_set_new(m, "type", json_integer(map->type));
        json_object_set_new(m, "key_size", json_integer(map->key_size));
        json_object_set_new(m, "value_size",
                            json_integer(map->value_size));
        json_object_set_new(m, "max_entries",
                            json_integer(map->max_entries));
        json_object_set_new(m, "n_cpus", json_integer(map_n_cpus(map)));
        json_object_set_new(m, "class",
                            json_string(state_class_name(r->klass)));
        json_object_set_new(m, "dims", json_string(dims));
        if (map->type == BPF_MAP_TYPE_SLUICE_FLOWTABLE) {
            struct bpf_flowtable_stats fs;
            bpf_flowtable_get_stats(map, &fs);
            json_object_set_new(m, "capacity", json_integer(fs.capacity));
            json_object_set_new(m, "timeout_ns",
                                json_integer((json_int_t) fs.timeout_ns));
            json_object_set_new(m, "clock_ns",
                                json_integer((json_int_t) fs.clock_ns));
        }
        json_array_append_new(maps, m);
    }
    json_object_set_new(h, "maps", maps);
    char *text = json_dumps(h, JSON_COMPACT | JSON_PRESERVE_ORDER);
    ds_put_format(out, "%s\n", text);
    free(text);
    json_decref(h);
}

static void
put_entry(struct ds *out, const char *map, const uint8_t *key, size_t ks,
          const uint8_t *value, size_t vs, long long slot, uint64_t age_ns)
{
    ds_put_format(out, "{\"map\":\"%s\",", map);
    if (slot >= 0) {
        ds_put_format(out, "\"slot\":%lld,\"age_ns\":%" PRIu64 ",", slot,
                      age_ns);
    }
    ds_put_cstr(out, "\"key\":\"");
    ds_put_hex(out, key, ks);
    ds_put_cstr(out, "\",\"value\":\"");
    ds_put_hex(out, value, vs);
    ds_put_cstr(out, "\"}\n");
}

/* Writes the entries of one map that may be used by flows matching 'm'
 * (every entry when 'm' is NULL); adds their number to '*n'. */
static char *
export_map(struct bpf_map *map, const struct state_map_result *r,
           const struct match *m, struct ds *out, size_t *n)
{
    uint32_t ks = map->key_size;
    size_t vs = bpf_map_sys_value_size(map);
    uint8_t *key = xzalloc(ks + 4), *next = xzalloc(ks + 4);
    uint8_t *value = xzalloc(vs);
    char *err = NULL;

    if (map->type == BPF_MAP_TYPE_SLUICE_FLOWTABLE) {
        for (uint32_t slot = 0;; slot++) {
            int rc = bpf_flowtable_slot_key(map, slot, key, value);
            if (rc == -E2BIG) {
                break;
            }
            uint64_t age = 0;
            if (rc == 0) {
                rc = bpf_flowtable_slot_age(map, slot, &age);
            }
            if (rc == 0 && (!m || entry_may_match(m, r->key, key, ks))) {
                put_entry(out, map->name, key, ks, value, vs, slot, age);
                (*n)++;
            }
        }
    } else if (is_array(map->type)) {
        for (uint32_t i = 0; i < map->max_entries; i++) {
            memcpy(key, &i, sizeof i);
            if (bpf_map_lookup(map, key, value) == 0 && !all_zero(value, vs)
                && (!m || entry_may_match(m, r->key, key, ks))) {
                put_entry(out, map->name, key, ks, value, vs, -1, 0);
                (*n)++;
            }
        }
    } else {
        const void *prev = NULL;
        size_t seen = 0;
        int rc;
        while ((rc = bpf_map_next_key(map, prev, next)) == 0
               && seen++ <= map->max_entries) {
            memcpy(key, next, ks);
            prev = key;
            if (bpf_map_lookup(map, key, value) == 0
                && (!m || entry_may_match(m, r->key, key, ks))) {
                put_entry(out, map->name, key, ks, value, vs, -1, 0);
                (*n)++;
            }
        }
        if (rc && rc != -ENOENT) {
            err = xasprintf("map '%s' (type %u) cannot be listed: %s",
                            map->name, map->type, strerror(-rc));
        }
    }
    free(key);
    free(next);
    free(value);
    return err;
}

static char *
state_export(struct flow_progs *progs, const char *name,
             const char *match_text, struct ds *out)
{
    const char *path;
    const struct bpf_prog *prog = flow_progs_prog(progs, name, &path);
    struct flow_spec spec;
    struct state_result res;
    uint8_t hash[HASH_BYTES];
    char *err;

    if (!prog) {
        return xasprintf("no program named '%s' is loaded", name);
    }
    flow_spec_init(&spec);
    if (match_text) {
        int col = 0;
        err = flow_spec_parse(&spec, match_text, FLOW_PARSE_MATCH, &col);
        if (err) {
            char *msg = xasprintf("--match: column %d: %s", col, err);
            free(err);
            flow_spec_destroy(&spec);
            return msg;
        }
    }
    err = hash_file(path, hash);
    if (!err && state_analyze(prog, &res, &err) == 0) {
        struct ds body = DS_EMPTY_INITIALIZER;
        size_t n = 0;
        for (unsigned int i = 0; i < res.n_maps && !err; i++) {
            if (exported(prog->maps[i], &res.maps[i])) {
                err = export_map(prog->maps[i], &res.maps[i],
                                 match_text ? &spec.match : NULL, &body, &n);
            }
        }
        if (!err) {
            put_header(out, name, path, hash, prog, &res, match_text);
            ds_put_cstr(out, ds_cstr(&body));
            ds_put_format(out, "{\"end\":true,\"entries\":%zu}\n", n);
        }
        ds_destroy(&body);
        state_result_destroy(&res);
    }
    flow_spec_destroy(&spec);
    return err;
}

/* ---- Import. ---- */

struct imp_entry {
    struct bpf_map *map;
    long long slot;                  /* Flow tables; else -1. */
    uint64_t age_ns;                 /* Flow tables: idle age. */
    uint8_t *key, *value;            /* Owned. */
};

struct imp_map {
    struct bpf_map *map;
    uint32_t capacity;               /* Flow tables. */
    uint64_t timeout_ns;
};

static char *
check_int(json_t *obj, const char *map, const char *field, json_int_t want)
{
    json_t *v = json_object_get(obj, field);
    if (!json_is_integer(v)) {
        return xasprintf("header: map '%s' has no integer '%s'", map, field);
    }
    if (json_integer_value(v) != want) {
        return xasprintf("header: map '%s': %s is %lld in the file but %lld "
                         "in the loaded program", map, field,
                         (long long) json_integer_value(v),
                         (long long) want);
    }
    return NULL;
}

/* Checks the header against the loaded program; fills 'maps'. */
static char *
check_header(json_t *h, const char *name, const char *path,
             const struct bpf_prog *prog, struct imp_map **mapsp,
             size_t *n_mapsp)
{
    const char *format = json_string_value(json_object_get(h, "format"));
    json_t *version = json_object_get(h, "version");
    const char *pname = json_string_value(json_object_get(h, "program"));
    const char *fhash = json_string_value(json_object_get(h, "object_hash"));
    json_t *maps = json_object_get(h, "maps");
    uint8_t hash[HASH_BYTES];
    char hex[2 * HASH_BYTES + 1];

    if (!format || strcmp(format, STATE_FILE_FORMAT)) {
        return xasprintf("header: format is not \"%s\"", STATE_FILE_FORMAT);
    }
    if (!json_is_integer(version)
        || json_integer_value(version) != STATE_FILE_VERSION) {
        return xasprintf("header: version %lld is not supported (this "
                         "sluice reads version %d)",
                         json_is_integer(version)
                         ? (long long) json_integer_value(version) : -1LL,
                         STATE_FILE_VERSION);
    }
    if (!pname || strcmp(pname, name)) {
        return xasprintf("header: program is '%s' in the file, not '%s'",
                         pname ? pname : "(none)", name);
    }
    char *err = hash_file(path, hash);
    if (err) {
        return err;
    }
    sodium_bin2hex(hex, sizeof hex, hash, HASH_BYTES);
    if (!fhash || strcmp(fhash, hex)) {
        return xasprintf("header: object_hash differs: the file was exported "
                         "from another object file than %s (loaded as '%s')",
                         path, name);
    }
    if (!json_is_array(maps)) {
        return xstrdup("header: no 'maps' array");
    }
    size_t n = json_array_size(maps);
    struct imp_map *out = xcalloc(n + 1, sizeof *out);
    for (size_t i = 0; i < n; i++) {
        json_t *m = json_array_get(maps, i);
        const char *mname = json_string_value(json_object_get(m, "name"));
        struct bpf_map *map = NULL;
        for (uint32_t j = 0; mname && j < prog->n_maps; j++) {
            if (!strcmp(prog->maps[j]->name, mname)) {
                map = prog->maps[j];
            }
        }
        if (!map) {
            free(out);
            return xasprintf("header: map '%s' is not a map of program '%s'",
                             mname ? mname : "(none)", name);
        }
        out[i].map = map;
        err = check_int(m, mname, "type", map->type);
        err = err ? err : check_int(m, mname, "key_size", map->key_size);
        err = err ? err : check_int(m, mname, "value_size",
                                    map->value_size);
        err = err ? err : check_int(m, mname, "max_entries",
                                    map->max_entries);
        err = err ? err : check_int(m, mname, "n_cpus", map_n_cpus(map));
        if (!err && map->type == BPF_MAP_TYPE_SLUICE_FLOWTABLE) {
            json_t *cap = json_object_get(m, "capacity");
            json_t *to = json_object_get(m, "timeout_ns");
            if (!json_is_integer(cap) || !json_is_integer(to)
                || json_integer_value(cap) <= 0
                || json_integer_value(cap) > map->max_entries
                || json_integer_value(to) < 0) {
                err = xasprintf("header: map '%s': capacity and timeout_ns "
                                "must be integers within the map", mname);
            } else {
                out[i].capacity = (uint32_t) json_integer_value(cap);
                out[i].timeout_ns = (uint64_t) json_integer_value(to);
            }
        }
        if (err) {
            free(out);
            return err;
        }
    }
    *mapsp = out;
    *n_mapsp = n;
    return NULL;
}

static char *
parse_entry(json_t *e, size_t line, const struct imp_map *maps,
            size_t n_maps, struct imp_entry *out)
{
    const char *mname = json_string_value(json_object_get(e, "map"));
    const char *khex = json_string_value(json_object_get(e, "key"));
    const char *vhex = json_string_value(json_object_get(e, "value"));
    json_t *slot = json_object_get(e, "slot");
    struct bpf_map *map = NULL;
    size_t kl, vl;

    for (size_t i = 0; mname && i < n_maps; i++) {
        if (!strcmp(maps[i].map->name, mname)) {
            map = maps[i].map;
        }
    }
    if (!map || !khex || !vhex) {
        return xasprintf("line %zu: needs \"map\" (one of the header's), "
                         "\"key\" and \"value\"", line);
    }
    char *err = hex_to_bytes(khex, &out->key, &kl);
    if (err) {
        char *msg = xasprintf("line %zu: key: %s", line, err);
        free(err);
        return msg;
    }
    err = hex_to_bytes(vhex, &out->value, &vl);
    if (err) {
        char *msg = xasprintf("line %zu: value: %s", line, err);
        free(err);
        return msg;
    }
    out->map = map;
    if (kl != map->key_size || vl != bpf_map_sys_value_size(map)) {
        return xasprintf("line %zu: map '%s' needs a %u-byte key and a "
                         "%zu-byte value, not %zu and %zu", line, map->name,
                         map->key_size, bpf_map_sys_value_size(map), kl, vl);
    }
    out->slot = -1;
    if (map->type == BPF_MAP_TYPE_SLUICE_FLOWTABLE) {
        if (!json_is_integer(slot) || json_integer_value(slot) < 0) {
            return xasprintf("line %zu: flow-table entry without a slot",
                             line);
        }
        out->slot = json_integer_value(slot);
        json_t *age = json_object_get(e, "age_ns");
        if (!json_is_integer(age) || json_integer_value(age) < 0) {
            return xasprintf("line %zu: flow-table entry without a "
                             "non-negative \"age_ns\"", line);
        }
        out->age_ns = (uint64_t) json_integer_value(age);
    }
    return NULL;
}

static int
cmp_slot(const void *a_, const void *b_)
{
    const struct imp_entry *a = a_, *b = b_;
    return (a->slot > b->slot) - (a->slot < b->slot);
}

static int
cmp_key_ptr(const void *a_, const void *b_, void *ks_)
{
    const uint8_t *const *a = a_, *const *b = b_;
    return memcmp(*a, *b, *(const uint32_t *)ks_);
}

/* Whether 'key' is one of the 'n' sorted keys of 'sorted'. */
static bool
key_in_sorted(const uint8_t *const *sorted, size_t n, const uint8_t *key,
              uint32_t ks)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = memcmp(sorted[mid], key, ks);
        if (!c) {
            return true;
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return false;
}

/* Restores the entries of one flow table in their slots: the table is
 * emptied (configured with the exported capacity and timeout), then
 * filled in slot order, a placeholder key taking each slot no entry had
 * (an empty table hands out the lowest never-used slot), and the
 * placeholders are deleted at the end. */
static char *
import_flowtable(const struct imp_map *im, struct imp_entry *e, size_t n)
{
    struct bpf_map *map = im->map;
    uint32_t ks = map->key_size;
    uint8_t *ph = xzalloc(ks + 4);
    uint8_t *val = xzalloc(map->value_size + 8);
    uint8_t *holes = NULL;
    size_t n_holes = 0;
    uint32_t ph_seq = 0;
    char *err = NULL;

    qsort(e, n, sizeof *e, cmp_slot);
    /* The entries' keys, sorted, so that a placeholder is checked against
     * all of them in O(log n) rather than by a scan per hole. */
    const uint8_t **sorted = xmalloc((n ? n : 1) * sizeof *sorted);
    for (size_t i = 0; i < n; i++) {
        sorted[i] = e[i].key;
    }
    qsort_r(sorted, n, sizeof *sorted, cmp_key_ptr, &ks);
    int rc = bpf_flowtable_configure(map, im->capacity, im->timeout_ns);
    if (rc) {
        free(sorted);
        free(ph);
        free(val);
        return xasprintf("map '%s': cannot configure: %s", map->name,
                         strerror(-rc));
    }
    uint32_t next = 0;
    for (size_t i = 0; i < n && !err; i++) {
        if (i && e[i].slot == e[i - 1].slot) {
            err = xasprintf("map '%s': two entries for slot %lld",
                            map->name, e[i].slot);
            break;
        }
        while (!err && next < e[i].slot) {
            /* A key no entry has: 0xff bytes and a counter. */
            do {
                memset(ph, 0xff, ks);
                memcpy(ph, &ph_seq, ks < 4 ? ks : 4);
                ph_seq++;
            } while (key_in_sorted(sorted, n, ph, ks));
            rc = bpf_map_update(map, ph, val, BPF_NOEXIST);
            if (rc) {
                err = xasprintf("map '%s': cannot hold slot %u: %s",
                                map->name, next, strerror(-rc));
                break;
            }
            holes = xrealloc(holes, (n_holes + 1) * (ks + 4));
            memcpy(holes + n_holes * (ks + 4), ph, ks);
            n_holes++;
            next++;
        }
        if (err) {
            break;
        }
        rc = bpf_map_update(map, e[i].key, e[i].value, BPF_NOEXIST);
        if (!rc && bpf_map_lookup(map, e[i].key, val) == 0
            && memcmp(val, &next, 4)) {
            rc = -EBADSLT;
        }
        if (rc) {
            err = xasprintf("map '%s': cannot restore slot %lld: %s",
                            map->name, e[i].slot, strerror(-rc));
        }
        next++;
    }
    for (size_t i = 0; i < n_holes; i++) {
        bpf_map_delete(map, holes + i * (ks + 4));
    }
    if (!err && n) {
        /* Entries keep their idle ages, so they expire when they would
         * have in the exporting switch. */
        uint8_t *keys = xmalloc(n * ks);
        uint64_t *ages = xmalloc(n * sizeof *ages);
        for (size_t i = 0; i < n; i++) {
            memcpy(keys + i * ks, e[i].key, ks);
            ages[i] = e[i].age_ns;
        }
        rc = bpf_flowtable_restore_ages(map, keys, ages, n);
        if (rc) {
            err = xasprintf("map '%s': cannot restore entry ages: %s",
                            map->name, strerror(-rc));
        }
        free(keys);
        free(ages);
    }
    free(holes);
    free(sorted);
    free(ph);
    free(val);
    return err;
}

static char *
state_import(struct flow_progs *progs, const char *name, const char *file,
             bool json, struct ds *out)
{
    const char *path;
    const struct bpf_prog *prog = flow_progs_prog(progs, name, &path);
    FILE *f;
    char *line = NULL;
    size_t cap = 0, lineno = 0, n = 0, n_maps = 0;
    struct imp_entry *entries = NULL;
    struct imp_map *maps = NULL;
    bool ended = false;
    char *err = NULL;
    ssize_t len;

    if (!prog) {
        return xasprintf("no program named '%s' is loaded", name);
    }
    f = fopen(file, "r");
    if (!f) {
        return xasprintf("%s: %s", file, strerror(errno));
    }
    while (!err && (len = getline(&line, &cap, f)) >= 0) {
        json_error_t je;
        lineno++;
        json_t *j = json_loadb(line, len, 0, &je);
        if (!json_is_object(j)) {
            err = xasprintf("%s:%zu: not a JSON object%s%s", file, lineno,
                            j ? "" : ": ", j ? "" : je.text);
        } else if (ended) {
            err = xasprintf("%s:%zu: text after the end line", file, lineno);
        } else if (lineno == 1) {
            err = check_header(j, name, path, prog, &maps, &n_maps);
        } else if (json_object_get(j, "end")) {
            json_t *cnt = json_object_get(j, "entries");
            ended = true;
            if (!json_is_integer(cnt)
                || json_integer_value(cnt) != (json_int_t) n) {
                err = xasprintf("%s:%zu: the end line counts %lld entries, "
                                "the file has %zu", file, lineno,
                                json_is_integer(cnt)
                                ? (long long) json_integer_value(cnt) : -1LL,
                                n);
            }
        } else {
            entries = xrealloc(entries, (n + 1) * sizeof *entries);
            memset(&entries[n], 0, sizeof entries[n]);
            err = parse_entry(j, lineno, maps, n_maps, &entries[n]);
            n++;
        }
        json_decref(j);
    }
    free(line);
    fclose(f);
    if (!err && !lineno) {
        err = xasprintf("%s: empty file", file);
    } else if (!err && !ended) {
        err = xasprintf("%s: no end line: the file is truncated", file);
    }
    /* Everything parsed: now write. */
    for (size_t m = 0; m < n_maps && !err; m++) {
        struct bpf_map *map = maps[m].map;
        if (map->type == BPF_MAP_TYPE_SLUICE_FLOWTABLE) {
            /* Its entries, moved together to the front of a scratch
             * array (import_flowtable sorts them). */
            struct imp_entry *ft = xcalloc(n + 1, sizeof *ft);
            size_t k = 0;
            for (size_t i = 0; i < n; i++) {
                if (entries[i].map == map) {
                    ft[k++] = entries[i];
                }
            }
            err = import_flowtable(&maps[m], ft, k);
            free(ft);
            continue;
        }
        for (size_t i = 0; i < n && !err; i++) {
            if (entries[i].map != map) {
                continue;
            }
            int rc = bpf_map_update(map, entries[i].key, entries[i].value,
                                    BPF_ANY);
            if (rc) {
                err = xasprintf("map '%s': update failed: %s", map->name,
                                strerror(-rc));
            }
        }
    }
    if (!err) {
        if (json) {
            ds_put_format(out, "{\"program\":\"%s\",\"maps\":%zu,"
                          "\"entries\":%zu}", name, n_maps, n);
        } else {
            ds_put_format(out, "imported %zu entr%s into %zu map%s of %s\n",
                          n, n == 1 ? "y" : "ies", n_maps,
                          n_maps == 1 ? "" : "s", name);
        }
    }
    for (size_t i = 0; i < n; i++) {
        free(entries[i].key);
        free(entries[i].value);
    }
    free(entries);
    free(maps);
    return err;
}

char *
state_cmd(struct flow_progs *progs, int argc, char *const *argv, bool json,
          struct ds *out)
{
    static const char usage[] = "usage: state export NAME [--match FLOW] | "
                                "state import NAME FILE";

    if (argc < 2) {
        return xstrdup(usage);
    }
    if (!strcmp(argv[0], "export")) {
        if (argc == 2) {
            return state_export(progs, argv[1], NULL, out);
        }
        if (argc == 4 && !strcmp(argv[2], "--match")) {
            return state_export(progs, argv[1], argv[3], out);
        }
        return xstrdup(usage);
    }
    if (!strcmp(argv[0], "import") && argc == 3) {
        return state_import(progs, argv[1], argv[2], json, out);
    }
    return xstrdup(usage);
}
