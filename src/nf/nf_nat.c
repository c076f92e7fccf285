/* Control plane of the NAT; see nf_nat.h.  Everything goes through the
 * control-plane map calls of bpf_api.h, so the same code configures a
 * program offline or inside a running switch. */
#include "nf_nat.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <linux/bpf.h>
#include <stdlib.h>
#include <string.h>

#include "bpf/bpf_api.h"
#include "core/util.h"
#include "nat.h" /* progs/nat.h */
#include "nf_ports.h"

char *
nf_parse_seconds(const char *s, uint64_t *ns)
{
    const char *p = s;
    uint64_t sec = 0, frac = 0, scale = 1000000000ull;

    if (!isdigit((unsigned char)*p)) {
        return xasprintf("bad time '%s': expected seconds", s);
    }
    while (isdigit((unsigned char)*p)) {
        sec = sec * 10 + (uint64_t)(*p++ - '0');
        if (sec > 1000000000ull) {
            return xasprintf("time '%s' is too long", s);
        }
    }
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p)) {
            return xasprintf("bad time '%s': expected digits after '.'", s);
        }
        while (isdigit((unsigned char)*p)) {
            if (scale == 1) {
                return xasprintf("time '%s' has more than 9 decimals", s);
            }
            scale /= 10;
            frac += (uint64_t)(*p++ - '0') * scale;
        }
    }
    if (*p) {
        return xasprintf("bad time '%s': unexpected '%c'", s, *p);
    }
    *ns = sec * 1000000000ull + frac;
    return NULL;
}

char *
nf_parse_ipv4(const char *s, uint32_t *ip)
{
    struct in_addr a;
    if (inet_pton(AF_INET, s, &a) != 1) {
        return xasprintf("bad IPv4 address '%s'", s);
    }
    *ip = a.s_addr;
    return NULL;
}

/* Parses a decimal in [lo, hi]. */
static char *
parse_uint(const char *key, const char *s, uint64_t lo, uint64_t hi,
           uint64_t *v)
{
    char *end;
    if (!isdigit((unsigned char)*s)) {
        return xasprintf("%s: '%s' is not a number", key, s);
    }
    errno = 0;
    unsigned long long x = strtoull(s, &end, 10);
    if (*end || errno) {
        return xasprintf("%s: '%s' is not a number", key, s);
    }
    if (x < lo || x > hi) {
        return xasprintf("%s: %s is out of range %llu..%llu", key, s,
                         (unsigned long long)lo, (unsigned long long)hi);
    }
    *v = x;
    return NULL;
}

char *
nf_nat_parse(int argc, char *const *argv, struct nf_nat_params *np, int *bad)
{
    bool have_wan = false, have_ip = false, have_cap = false;
    char *error = NULL;
    uint64_t v;

    np->first_port = NF_NAT_DEFAULT_FIRST_PORT;
    np->timeout_ns = NF_NAT_DEFAULT_TIMEOUT_NS;
    np->capacity = 0;
    for (int i = 0; i < argc && !error; i++) {
        const char *a = argv[i];
        const char *eq = strchr(a, '=');
        *bad = i;
        if (!eq) {
            return xasprintf("expected KEY=VALUE, got '%s'", a);
        }
        size_t klen = (size_t)(eq - a);
        const char *val = eq + 1;
        if (klen == 3 && !strncmp(a, "wan", 3)) {
            error = nf_parse_port(val, &np->wan_port);
            have_wan = true;
        } else if (klen == 2 && !strncmp(a, "ip", 2)) {
            error = nf_parse_ipv4(val, &np->ext_ip);
            have_ip = true;
        } else if (klen == 10 && !strncmp(a, "first_port", 10)) {
            error = parse_uint("first_port", val, 1, 65535, &v);
            np->first_port = (uint32_t)v;
        } else if (klen == 8 && !strncmp(a, "capacity", 8)) {
            error = parse_uint("capacity", val, 1, NAT_MAX_FLOWS, &v);
            np->capacity = (uint32_t)v;
            have_cap = true;
        } else if (klen == 7 && !strncmp(a, "timeout", 7)) {
            error = nf_parse_seconds(val, &np->timeout_ns);
        } else {
            return xasprintf("unknown key '%.*s' (expected wan, ip, "
                             "first_port, capacity or timeout)",
                             (int)klen, a);
        }
    }
    if (error) {
        return error;
    }
    *bad = argc;
    if (!have_wan || !have_ip) {
        return xasprintf("missing %s", !have_wan ? "wan=PORT" : "ip=A.B.C.D");
    }
    if (!have_cap) {
        np->capacity = 65536 - np->first_port;
    } else if ((uint64_t)np->first_port + np->capacity > 65536) {
        return xasprintf("first_port %u + capacity %u exceed 65536",
                         np->first_port, np->capacity);
    }
    return NULL;
}

char *
nf_find_map(struct bpf_object *obj, const char *prog_file, const char *name,
            uint32_t type, uint32_t key_size, uint32_t value_size,
            struct bpf_map **mapp)
{
    struct bpf_map *map = bpf_object_find_map(obj, name);
    if (!map) {
        return xasprintf("the program has no map '%s' (is it progs/%s?)", name,
                         prog_file);
    }
    if (bpf_map_type(map) != type || bpf_map_key_size(map) != key_size ||
        bpf_map_value_size(map) != value_size) {
        return xasprintf("map '%s' does not have this build's layout "
                         "(type %u, key %u, value %u bytes)",
                         name, bpf_map_type(map), bpf_map_key_size(map),
                         bpf_map_value_size(map));
    }
    *mapp = map;
    return NULL;
}

char *
nf_nat_apply(struct bpf_object *obj, const struct nf_nat_params *np)
{
    struct bpf_map *cfg_map, *flows, *slots;
    char *error;

    error = nf_find_map(obj, "nat.o", "nat_cfg", BPF_MAP_TYPE_ARRAY, 4,
                        sizeof(struct nat_config), &cfg_map);
    if (!error) {
        error = nf_find_map(
            obj, "nat.o", "nat_flows", BPF_MAP_TYPE_SLUICE_FLOWTABLE,
            sizeof(struct nat_flow_key), sizeof(struct nat_flow_value), &flows);
    }
    if (!error) {
        error = nf_find_map(obj, "nat.o", "nat_slots", BPF_MAP_TYPE_ARRAY, 4,
                            sizeof(struct nat_flow_key), &slots);
    }
    if (error) {
        return error;
    }
    if (np->capacity > bpf_map_max_entries(flows) ||
        np->capacity > bpf_map_max_entries(slots)) {
        return xasprintf("capacity %u exceeds the program's tables (%u)",
                         np->capacity, bpf_map_max_entries(flows));
    }
    int err = bpf_flowtable_configure(flows, np->capacity, np->timeout_ns);
    if (err) {
        return xasprintf("cannot configure 'nat_flows': %s", strerror(-err));
    }
    struct nat_flow_key none = {0};
    for (uint32_t i = 0; i < bpf_map_max_entries(slots); i++) {
        err = bpf_map_update(slots, &i, &none, BPF_ANY);
        if (err) {
            return xasprintf("cannot clear 'nat_slots': %s", strerror(-err));
        }
    }
    struct nat_config cfg = {
        .wan_port = np->wan_port,
        .ext_ip = np->ext_ip,
        .first_port = np->first_port,
        .capacity = np->capacity,
    };
    uint32_t zero = 0;
    err = bpf_map_update(cfg_map, &zero, &cfg, BPF_ANY);
    if (err) {
        return xasprintf("cannot write 'nat_cfg': %s", strerror(-err));
    }
    return NULL;
}
