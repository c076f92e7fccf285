/* Control plane of the Maglev load balancer; see nf_lb.h.  The backends
 * map holds everything a rebuild needs (names, weights, health), so `nf lb
 * down` works on a running switch without other saved state. */
#include "nf_lb.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpf/bpf_api.h"
#include "core/hash.h"
#include "core/util.h"
#include "nf_nat.h"
#include "nf_ports.h"

/* Seeds of Maglev's two name hashes. */
#define LB_H1_SEED 0x5bd1e995u
#define LB_H2_SEED 0x27d4eb2fu

bool
nf_lb_is_prime(uint32_t m)
{
    if (m < 2) {
        return false;
    }
    for (uint32_t d = 2; (uint64_t)d * d <= m; d++) {
        if (m % d == 0) {
            return false;
        }
    }
    return true;
}

int
nf_lb_maglev(const char *const *names, const uint32_t *weights, const bool *up,
             size_t n, uint32_t m, uint32_t *table)
{
    if (!nf_lb_is_prime(m)) {
        return -EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        if (!weights[i]) {
            return -EINVAL;
        }
    }
    for (uint32_t s = 0; s < m; s++) {
        table[s] = LB_NO_BACKEND;
    }
    uint64_t *offset = xcalloc(n ? n : 1, sizeof *offset);
    uint64_t *skip = xcalloc(n ? n : 1, sizeof *skip);
    uint64_t *next = xcalloc(n ? n : 1, sizeof *next);
    size_t n_up = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(names[i]);
        offset[i] = hash_bytes(names[i], len, LB_H1_SEED) % m;
        skip[i] = hash_bytes(names[i], len, LB_H2_SEED) % (m - 1) + 1;
        n_up += !up || up[i];
    }
    uint32_t filled = 0;
    while (n_up && filled < m) {
        for (size_t i = 0; i < n && filled < m; i++) {
            if (up && !up[i]) {
                continue;
            }
            for (uint32_t turn = 0; turn < weights[i] && filled < m; turn++) {
                /* The next free slot of i's permutation; M is prime, so
                 * the permutation visits every slot within M steps. */
                uint32_t c;
                do {
                    c = (uint32_t)((offset[i] + next[i] * skip[i]) % m);
                    next[i]++;
                } while (table[c] != LB_NO_BACKEND);
                table[c] = (uint32_t)i;
                filled++;
            }
        }
    }
    free(offset);
    free(skip);
    free(next);
    return 0;
}

char *
nf_lb_parse_backends(const char *path, struct lb_backend **out, size_t *n)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        return xasprintf("%s: %s", path, strerror(errno));
    }
    struct lb_backend *list = NULL;
    size_t count = 0;
    char line[512];
    char *error = NULL;
    for (int lineno = 1; !error && fgets(line, sizeof line, f); lineno++) {
        size_t len = strlen(line);
        if (len == sizeof line - 1 && line[len - 1] != '\n' && !feof(f)) {
            error = xasprintf("%s:%d: line too long", path, lineno);
            break;
        }
        char *hash = strchr(line, '#');
        if (hash) {
            *hash = '\0';
        }
        char *tok[6];
        int nt = 0;
        for (char *save, *t = strtok_r(line, " \t\r\n", &save); t;
             t = strtok_r(NULL, " \t\r\n", &save)) {
            if (nt == 6) {
                nt++;
                break;
            }
            tok[nt++] = t;
        }
        if (!nt) {
            continue;
        }
        if (nt < 4 || nt > 5) {
            error = xasprintf("%s:%d: expected NAME IP MAC PORT [WEIGHT]", path,
                              lineno);
            break;
        }
        if (count == LB_BACKENDS_MAX) {
            error = xasprintf("%s:%d: more than %d backends", path, lineno,
                              LB_BACKENDS_MAX);
            break;
        }
        struct lb_backend b = {.up = 1, .weight = 1};
        char *why = NULL;
        if (strlen(tok[0]) >= LB_NAME_LEN) {
            why = xasprintf("backend name '%s' longer than %d characters",
                            tok[0], LB_NAME_LEN - 1);
        }
        for (size_t i = 0; !why && i < count; i++) {
            if (!strcmp(list[i].name, tok[0])) {
                why = xasprintf("backend '%s' listed twice", tok[0]);
            }
        }
        if (!why) {
            strcpy(b.name, tok[0]);
            why = nf_parse_ipv4(tok[1], &b.ip);
        }
        if (!why) {
            why = nf_parse_mac(tok[2], b.mac);
        }
        if (!why) {
            why = nf_parse_port(tok[3], &b.port);
        }
        if (!why && nt == 5) {
            char *end;
            errno = 0;
            unsigned long w = strtoul(tok[4], &end, 10);
            if (!isdigit((unsigned char)tok[4][0]) || *end || errno || !w ||
                w > NF_LB_WEIGHT_MAX) {
                why = xasprintf("weight '%s' is not in 1..%d", tok[4],
                                NF_LB_WEIGHT_MAX);
            }
            b.weight = (uint32_t)w;
        }
        if (why) {
            error = xasprintf("%s:%d: %s", path, lineno, why);
            free(why);
            break;
        }
        list = xrealloc(list, (count + 1) * sizeof *list);
        list[count++] = b;
    }
    fclose(f);
    if (!error && !count) {
        error = xasprintf("%s: no backends", path);
    }
    if (error) {
        free(list);
        return error;
    }
    *out = list;
    *n = count;
    return NULL;
}

char *
nf_lb_parse(int argc, char *const *argv, struct nf_lb_params *lp, int *bad)
{
    bool have_vip = false;
    char *error = NULL;

    lp->table_size = NF_LB_DEFAULT_TABLE;
    lp->capacity = LB_CONNS_MAX;
    lp->timeout_ns = NF_LB_DEFAULT_TIMEOUT_NS;
    for (int i = 0; i < argc && !error; i++) {
        const char *a = argv[i];
        const char *val = strchr(a, '=');
        *bad = i;
        if (!val) {
            return xasprintf("expected KEY=VALUE, got '%s'", a);
        }
        size_t klen = (size_t)(val - a);
        val++;
        char *end;
        unsigned long v;
        if (klen == 3 && !strncmp(a, "vip", 3)) {
            const char *colon = strrchr(val, ':');
            if (!colon) {
                return xasprintf("vip: expected IP:PORT, got '%s'", val);
            }
            char *ip = xasprintf("%.*s", (int)(colon - val), val);
            error = nf_parse_ipv4(ip, &lp->vip);
            free(ip);
            errno = 0;
            v = strtoul(colon + 1, &end, 10);
            if (!error && (!isdigit((unsigned char)colon[1]) || *end || errno ||
                           !v || v > 65535)) {
                error = xasprintf("vip: bad port '%s'", colon + 1);
            }
            lp->vport = htons((uint16_t)v);
            have_vip = true;
        } else if ((klen == 5 && !strncmp(a, "table", 5)) ||
                   (klen == 8 && !strncmp(a, "capacity", 8))) {
            bool table = klen == 5;
            errno = 0;
            v = strtoul(val, &end, 10);
            if (!isdigit((unsigned char)*val) || *end || errno) {
                error =
                    xasprintf("%.*s: '%s' is not a number", (int)klen, a, val);
            } else if (table &&
                       (v > LB_TABLE_MAX || !nf_lb_is_prime((uint32_t)v))) {
                error = xasprintf("table: %s is not a prime <= %d", val,
                                  LB_TABLE_MAX);
            } else if (!table && (!v || v > LB_CONNS_MAX)) {
                error = xasprintf("capacity: %s is out of range 1..%d", val,
                                  LB_CONNS_MAX);
            } else if (table) {
                lp->table_size = (uint32_t)v;
            } else {
                lp->capacity = (uint32_t)v;
            }
        } else if (klen == 7 && !strncmp(a, "timeout", 7)) {
            error = nf_parse_seconds(val, &lp->timeout_ns);
        } else {
            return xasprintf("unknown key '%.*s' (expected vip, table, "
                             "capacity or timeout)",
                             (int)klen, a);
        }
    }
    if (error) {
        return error;
    }
    if (!have_vip) {
        *bad = argc;
        return xstrdup("missing vip=IP:PORT");
    }
    return NULL;
}

struct lb_maps {
    struct bpf_map *cfg, *backends, *table, *conns;
};

static char *
lb_find_maps(struct bpf_object *obj, struct lb_maps *m)
{
    char *error = nf_find_map(obj, "lb.o", "lb_cfg", BPF_MAP_TYPE_ARRAY, 4,
                              sizeof(struct lb_config), &m->cfg);
    if (!error) {
        error = nf_find_map(obj, "lb.o", "lb_backends", BPF_MAP_TYPE_ARRAY, 4,
                            sizeof(struct lb_backend), &m->backends);
    }
    if (!error) {
        error = nf_find_map(obj, "lb.o", "lb_table", BPF_MAP_TYPE_ARRAY, 4, 4,
                            &m->table);
    }
    if (!error) {
        error =
            nf_find_map(obj, "lb.o", "lb_conns", BPF_MAP_TYPE_SLUICE_FLOWTABLE,
                        sizeof(struct lb_flow_key),
                        sizeof(struct lb_flow_value), &m->conns);
    }
    return error;
}

/* Builds the table over 'list' and writes it to the program. */
static char *
lb_load_table(const struct lb_maps *m, const struct lb_backend *list, size_t n,
              uint32_t table_size)
{
    if (table_size > bpf_map_max_entries(m->table)) {
        return xasprintf("table %u is larger than the program's %u", table_size,
                         bpf_map_max_entries(m->table));
    }
    const char **names = xcalloc(n, sizeof *names);
    uint32_t *weights = xcalloc(n, sizeof *weights);
    bool *up = xcalloc(n, sizeof *up);
    uint32_t *table = xcalloc(table_size, sizeof *table);
    for (size_t i = 0; i < n; i++) {
        names[i] = list[i].name;
        weights[i] = list[i].weight;
        up[i] = list[i].up;
    }
    char *error = NULL;
    int err = nf_lb_maglev(names, weights, up, n, table_size, table);
    if (err) {
        error = xasprintf("cannot build the Maglev table: %s", strerror(-err));
    }
    for (uint32_t s = 0; !error && s < table_size; s++) {
        err = bpf_map_update(m->table, &s, &table[s], BPF_ANY);
        if (err) {
            error = xasprintf("cannot write 'lb_table': %s", strerror(-err));
        }
    }
    free(names);
    free(weights);
    free(up);
    free(table);
    return error;
}

char *
nf_lb_apply(struct bpf_object *obj, const struct nf_lb_params *lp,
            const struct lb_backend *list, size_t n)
{
    struct lb_maps m;
    char *error = lb_find_maps(obj, &m);
    if (error) {
        return error;
    }
    if (n > bpf_map_max_entries(m.backends)) {
        return xasprintf("%zu backends, the program holds %u", n,
                         bpf_map_max_entries(m.backends));
    }
    if (lp->capacity > bpf_map_max_entries(m.conns)) {
        return xasprintf("capacity %u exceeds the program's %u", lp->capacity,
                         bpf_map_max_entries(m.conns));
    }
    /* Unconfigure first so that no packet sees a half-written state. */
    uint32_t zero = 0;
    struct lb_config cfg = {0};
    int err = bpf_map_update(m.cfg, &zero, &cfg, BPF_ANY);
    for (uint32_t i = 0; !err && i < bpf_map_max_entries(m.backends); i++) {
        struct lb_backend b = {0};
        if (i < n) {
            b = list[i];
        }
        err = bpf_map_update(m.backends, &i, &b, BPF_ANY);
    }
    if (err) {
        return xasprintf("cannot write the backends: %s", strerror(-err));
    }
    error = lb_load_table(&m, list, n, lp->table_size);
    if (error) {
        return error;
    }
    err = bpf_flowtable_configure(m.conns, lp->capacity, lp->timeout_ns);
    if (err) {
        return xasprintf("cannot configure 'lb_conns': %s", strerror(-err));
    }
    cfg = (struct lb_config){
        .vip = lp->vip,
        .vport = lp->vport,
        .table_size = lp->table_size,
        .n_backends = (uint32_t)n,
    };
    err = bpf_map_update(m.cfg, &zero, &cfg, BPF_ANY);
    if (err) {
        return xasprintf("cannot write 'lb_cfg': %s", strerror(-err));
    }
    return NULL;
}

char *
nf_lb_set_up(struct bpf_object *obj, const char *name, bool up)
{
    struct lb_maps m;
    char *error = lb_find_maps(obj, &m);
    if (error) {
        return error;
    }
    uint32_t zero = 0;
    struct lb_config cfg;
    int err = bpf_map_lookup(m.cfg, &zero, &cfg);
    if (err || !cfg.table_size) {
        return xstrdup("the load balancer has no backends yet (use "
                       "`nf lb backends` first)");
    }
    size_t n = cfg.n_backends;
    struct lb_backend *list = xcalloc(n ? n : 1, sizeof *list);
    size_t found = n;
    for (uint32_t i = 0; i < n; i++) {
        err = bpf_map_lookup(m.backends, &i, &list[i]);
        if (err) {
            free(list);
            return xasprintf("cannot read 'lb_backends': %s", strerror(-err));
        }
        if (!strncmp(list[i].name, name, LB_NAME_LEN)) {
            found = i;
        }
    }
    if (found == n) {
        free(list);
        return xasprintf("no backend named '%s'", name);
    }
    list[found].up = up;
    /* Table first: new flows stop going to a backend before it is marked
     * down, and connections on it move at their next packet. */
    error = lb_load_table(&m, list, n, cfg.table_size);
    if (!error) {
        uint32_t idx = (uint32_t)found;
        err = bpf_map_update(m.backends, &idx, &list[found], BPF_ANY);
        if (err) {
            error = xasprintf("cannot write 'lb_backends': %s", strerror(-err));
        }
    }
    free(list);
    return error;
}
