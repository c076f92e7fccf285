/* Per-port MAC table of the forwarding network functions; see nf_ports.h.
 *
 * Everything goes through the control-plane map calls of bpf_api.h, so the
 * same code fills a program offline or inside a running switch. */
#include "nf_ports.h"

#include <ctype.h>
#include <errno.h>
#include <linux/bpf.h>
#include <stdlib.h>
#include <string.h>

#include "bpf/bpf_api.h"
#include "core/util.h"
#include "port/port.h"

char *
nf_parse_mac(const char *s, uint8_t mac[6])
{
    const char *p = s;

    for (int i = 0; i < 6; i++) {
        unsigned int v = 0;
        int digits = 0;

        while (isxdigit((unsigned char)*p) && digits < 2) {
            char c = (char)tolower((unsigned char)*p++);
            v = v * 16 + (unsigned int)(isdigit((unsigned char)c)
                                        ? c - '0' : c - 'a' + 10);
            digits++;
        }
        if (!digits) {
            return xasprintf("bad MAC address '%s': expected a hex digit at "
                             "character %d", s, (int)(p - s) + 1);
        }
        mac[i] = (uint8_t)v;
        if (i < 5) {
            if (*p != ':' && *p != '-') {
                return xasprintf("bad MAC address '%s': expected ':' at "
                                 "character %d", s, (int)(p - s) + 1);
            }
            p++;
        }
    }
    if (*p) {
        return xasprintf("bad MAC address '%s': trailing characters at "
                         "character %d", s, (int)(p - s) + 1);
    }
    return NULL;
}

char *
nf_parse_port(const char *s, uint32_t *port)
{
    char *end;

    if (!isdigit((unsigned char)*s)) {
        return xasprintf("bad port number '%s'", s);
    }
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (*end) {
        return xasprintf("bad port number '%s'", s);
    }
    if (errno || v < PORT_NUMBER_MIN || v > PORT_NUMBER_MAX) {
        return xasprintf("port number %s out of range %d..%d", s,
                         PORT_NUMBER_MIN, PORT_NUMBER_MAX);
    }
    *port = (uint32_t)v;
    return NULL;
}

char *
nf_ports_check_map(struct bpf_map *map)
{
    if (bpf_map_type(map) != BPF_MAP_TYPE_HASH ||
        bpf_map_key_size(map) != sizeof(uint32_t) ||
        bpf_map_value_size(map) != sizeof(struct nf_port_macs)) {
        return xasprintf("map '%s' is not a hash of port -> (MAC, next-hop "
                         "MAC) of this build (key %u, value %u bytes)",
                         bpf_map_name(map), bpf_map_key_size(map),
                         bpf_map_value_size(map));
    }
    return NULL;
}

char *
nf_ports_set(struct bpf_map *map, uint32_t port,
             const struct nf_port_macs *macs)
{
    char *error = nf_ports_check_map(map);
    if (error) {
        return error;
    }
    int rc = bpf_map_update(map, &port, macs, BPF_ANY);
    if (rc < 0) {
        return xasprintf("cannot set port %u in map '%s': %s%s", port,
                         bpf_map_name(map), strerror(-rc),
                         rc == -E2BIG ? " (too many ports)" : "");
    }
    return NULL;
}

static int
cmp_port_entry(const void *a_, const void *b_)
{
    const struct nf_port_entry *a = a_;
    const struct nf_port_entry *b = b_;
    return a->port < b->port ? -1 : a->port > b->port;
}

char *
nf_ports_list(struct bpf_map *map, struct nf_port_entry **out, size_t *n)
{
    char *error = nf_ports_check_map(map);
    if (error) {
        return error;
    }

    struct nf_port_entry *list = NULL;
    size_t n_list = 0;
    uint32_t key, next;
    const void *prev = NULL;
    while (bpf_map_next_key(map, prev, &next) == 0) {
        list = xrealloc(list, (n_list + 1) * sizeof *list);
        list[n_list].port = next;
        if (bpf_map_lookup(map, &next, &list[n_list].macs) < 0) {
            free(list);
            return xasprintf("map '%s' changed while being read",
                             bpf_map_name(map));
        }
        n_list++;
        key = next;
        prev = &key;
    }
    if (n_list) {
        qsort(list, n_list, sizeof *list, cmp_port_entry);
    }
    *out = list;
    *n = n_list;
    return NULL;
}
