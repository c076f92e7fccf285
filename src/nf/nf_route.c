/* Route files and RouteViews pfx2as files -> the router's LPM trie; see
 * nf_route.h.
 *
 * Both readers parse the whole file into an array first and only then
 * touch the map, so a bad line leaves the router's routes unchanged.
 * Duplicates are found by sorting a copy by (length, prefix, line). */
#include "nf_route.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <linux/bpf.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpf/bpf_api.h"
#include "core/util.h"

#define NF_ROUTE_MAX_FIELDS 4

/* Splits 'line' in place at whitespace, ending at a '#' comment.  Returns
 * the number of fields (at most NF_ROUTE_MAX_FIELDS + 1, meaning "too
 * many"). */
static int
split_fields(char *line, char *fields[NF_ROUTE_MAX_FIELDS + 1])
{
    char *hash = strchr(line, '#');
    if (hash) {
        *hash = '\0';
    }
    int n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(line, " \t\r\n", &save); tok;
         tok = strtok_r(NULL, " \t\r\n", &save)) {
        fields[n++] = tok;
        if (n > NF_ROUTE_MAX_FIELDS) {
            break;
        }
    }
    return n;
}

static char *
parse_addr(const char *s, uint32_t *addr)
{
    struct in_addr in;

    if (inet_pton(AF_INET, s, &in) != 1) {
        return xasprintf("bad IPv4 address '%s'", s);
    }
    *addr = ntohl(in.s_addr);
    return NULL;
}

static char *
parse_len(const char *s, uint8_t *len)
{
    char *end;

    if (!isdigit((unsigned char)*s)) {
        return xasprintf("bad prefix length '%s'", s);
    }
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (*end || errno || v > 32) {
        return xasprintf("bad prefix length '%s' (expected 0..32)", s);
    }
    *len = (uint8_t)v;
    return NULL;
}

static uint32_t
prefix_mask(uint8_t len)
{
    return len ? ~0u << (32 - len) : 0;
}

static char *
format_prefix(uint32_t addr, uint8_t len)
{
    return xasprintf("%u.%u.%u.%u/%u", addr >> 24, (addr >> 16) & 0xff,
                     (addr >> 8) & 0xff, addr & 0xff, len);
}

/* Parses fields[0..2] of a route-file line. */
static char *
parse_route_fields(char **fields, int n, struct nf_route *r)
{
    if (n != 3) {
        return xasprintf("expected 'PREFIX/LEN PORT NEXTHOP_MAC', got %s%d "
                         "field%s", n > 3 ? "more than " : "", n > 3 ? 3 : n,
                         n == 1 ? "" : "s");
    }
    char *slash = strchr(fields[0], '/');
    if (!slash) {
        return xasprintf("expected PREFIX/LEN, got '%s'", fields[0]);
    }
    *slash = '\0';
    char *error = parse_addr(fields[0], &r->addr);
    if (!error) {
        error = parse_len(slash + 1, &r->len);
    }
    *slash = '/';
    if (!error && (r->addr & ~prefix_mask(r->len))) {
        char *net = format_prefix(r->addr & prefix_mask(r->len), r->len);
        error = xasprintf("'%s' has host bits set (did you mean %s?)",
                          fields[0], net);
        free(net);
    }
    if (!error) {
        error = nf_parse_port(fields[1], &r->port);
    }
    if (!error) {
        error = nf_parse_mac(fields[2], r->nexthop);
    }
    return error;
}

char *
nf_route_parse_line(const char *line, struct nf_route *r)
{
    char *copy = xstrdup(line);
    char *fields[NF_ROUTE_MAX_FIELDS + 1];
    int n = split_fields(copy, fields);
    char *error = parse_route_fields(fields, n, r);
    free(copy);
    return error;
}

/* Parses the first field of a pfx2as origin: "A", "A_B..." or "A,B...". */
static char *
parse_asn(const char *s, uint32_t *asn)
{
    char *end;

    if (!isdigit((unsigned char)*s)) {
        return xasprintf("bad origin AS '%s'", s);
    }
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || v > UINT32_MAX || (*end && *end != '_' && *end != ',')) {
        return xasprintf("bad origin AS '%s'", s);
    }
    *asn = (uint32_t)v;
    return NULL;
}

struct pfx2as_ctx {
    const struct nf_port_entry *ports;
    size_t n_ports;
};

static char *
parse_pfx2as_fields(char **fields, int n, const struct pfx2as_ctx *ctx,
                    struct nf_route *r)
{
    uint32_t asn = 0;

    if (n != 3) {
        return xasprintf("expected 'PREFIX LEN ASN', got %s%d field%s",
                         n > 3 ? "more than " : "", n > 3 ? 3 : n,
                         n == 1 ? "" : "s");
    }
    char *error = parse_addr(fields[0], &r->addr);
    if (!error) {
        error = parse_len(fields[1], &r->len);
    }
    if (!error) {
        error = parse_asn(fields[2], &asn);
    }
    if (error) {
        return error;
    }
    r->addr &= prefix_mask(r->len);
    const struct nf_port_entry *p = &ctx->ports[asn % ctx->n_ports];
    r->port = p->port;
    memcpy(r->nexthop, p->macs.nexthop, 6);
    return NULL;
}

static int
cmp_route(const void *a_, const void *b_)
{
    const struct nf_route *a = a_;
    const struct nf_route *b = b_;

    if (a->len != b->len) {
        return a->len < b->len ? -1 : 1;
    }
    if (a->addr != b->addr) {
        return a->addr < b->addr ? -1 : 1;
    }
    return a->line < b->line ? -1 : a->line > b->line;
}

/* Sorts the table; with 'last_wins' drops all but the last line of each
 * prefix, else reports the first repeated prefix. */
static char *
dedup(const char *path, struct nf_route_table *t, bool last_wins)
{
    if (t->n < 2) {
        return NULL;
    }
    qsort(t->routes, t->n, sizeof *t->routes, cmp_route);
    size_t out = 0;
    for (size_t i = 0; i < t->n; i++) {
        struct nf_route *r = &t->routes[i];
        if (out && t->routes[out - 1].len == r->len &&
            t->routes[out - 1].addr == r->addr) {
            if (!last_wins) {
                char *pfx = format_prefix(r->addr, r->len);
                char *e = xasprintf("%s:%u: prefix %s already routed on "
                                    "line %u", path, r->line, pfx,
                                    t->routes[out - 1].line);
                free(pfx);
                return e;
            }
            t->routes[out - 1] = *r;
        } else {
            t->routes[out++] = *r;
        }
    }
    t->n = out;
    return NULL;
}

typedef char *parse_fields_fn(char **fields, int n, const void *aux,
                              struct nf_route *);

static char *
route_fields_adapter(char **fields, int n, const void *aux,
                     struct nf_route *r)
{
    (void)aux;
    return parse_route_fields(fields, n, r);
}

static char *
pfx2as_fields_adapter(char **fields, int n, const void *aux,
                      struct nf_route *r)
{
    return parse_pfx2as_fields(fields, n, aux, r);
}

static char *
read_routes(const char *path, parse_fields_fn *parse, const void *aux,
            bool last_wins, struct nf_route_table *t)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        return xasprintf("%s: %s", path, strerror(errno));
    }

    size_t cap = 0;
    char *line = NULL;
    size_t line_cap = 0;
    uint32_t lineno = 0;
    char *error = NULL;

    t->routes = NULL;
    t->n = 0;
    while (!error && getline(&line, &line_cap, f) >= 0) {
        char *fields[NF_ROUTE_MAX_FIELDS + 1];
        struct nf_route r;

        lineno++;
        int n = split_fields(line, fields);
        if (!n) {
            continue;
        }
        char *msg = parse(fields, n, aux, &r);
        if (msg) {
            error = xasprintf("%s:%u: %s", path, lineno, msg);
            free(msg);
            break;
        }
        r.line = lineno;
        if (t->n == cap) {
            cap = cap ? cap * 2 : 1024;
            t->routes = xrealloc(t->routes, cap * sizeof *t->routes);
        }
        t->routes[t->n++] = r;
    }
    if (!error && ferror(f)) {
        error = xasprintf("%s: read error: %s", path, strerror(errno));
    }
    free(line);
    fclose(f);
    if (!error) {
        error = dedup(path, t, last_wins);
    }
    if (error) {
        nf_route_table_destroy(t);
    }
    return error;
}

char *
nf_route_load(const char *path, struct nf_route_table *t)
{
    return read_routes(path, route_fields_adapter, NULL, false, t);
}

char *
nf_route_load_pfx2as(const char *path, const struct nf_port_entry *ports,
                     size_t n_ports, struct nf_route_table *t)
{
    if (!n_ports) {
        t->routes = NULL;
        t->n = 0;
        return xasprintf("%s: a pfx2as file names no ports: configure the "
                         "router's ports with 'nf port' first", path);
    }
    struct pfx2as_ctx ctx = { .ports = ports, .n_ports = n_ports };
    return read_routes(path, pfx2as_fields_adapter, &ctx, true, t);
}

void
nf_route_table_destroy(struct nf_route_table *t)
{
    free(t->routes);
    t->routes = NULL;
    t->n = 0;
}

char *
nf_route_fill_map(const struct nf_route_table *t, struct bpf_map *map)
{
    if (bpf_map_type(map) != BPF_MAP_TYPE_LPM_TRIE ||
        bpf_map_key_size(map) != sizeof(struct rt_key) ||
        bpf_map_value_size(map) != sizeof(struct rt_route)) {
        return xasprintf("map '%s' is not the router's IPv4 LPM trie of "
                         "this build (key %u, value %u bytes)",
                         bpf_map_name(map), bpf_map_key_size(map),
                         bpf_map_value_size(map));
    }
    for (size_t i = 0; i < t->n; i++) {
        const struct nf_route *r = &t->routes[i];
        struct rt_key key = { .prefixlen = r->len };
        struct rt_route val = { .port = r->port };
        uint32_t be = htonl(r->addr);

        memcpy(key.addr, &be, 4);
        memcpy(val.nexthop, r->nexthop, 6);
        int rc = bpf_map_update(map, &key, &val, BPF_ANY);
        if (rc < 0) {
            char *pfx = format_prefix(r->addr, r->len);
            char *e = xasprintf("line %u: cannot add route %s: %s%s", r->line,
                                pfx, strerror(-rc),
                                rc == -ENOSPC ? " (the trie is full)" : "");
            free(pfx);
            return e;
        }
    }
    return NULL;
}
