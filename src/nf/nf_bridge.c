/* Static entries of the MAC learning bridge; see nf_bridge.h.  They are
 * written through bpf_api.h's map calls, offline or in a running switch. */
#include "nf_bridge.h"

#include <errno.h>
#include <linux/bpf.h>
#include <linux/types.h>
#include <stdlib.h>
#include <string.h>

#include "bpf/bpf_api.h"
#include "core/util.h"
#include "nf_l23.h" /* progs/nf_l23.h */
#include "nf_ports.h"

char *
nf_bridge_parse_out(const char *s, uint32_t *out)
{
    if (!strcmp(s, "drop")) {
        *out = BR_STATIC_DROP;
        return NULL;
    }
    char *error = nf_parse_port(s, out);
    if (error) {
        char *e = xasprintf("%s (expected a port number or 'drop')", error);
        free(error);
        return e;
    }
    return NULL;
}

char *
nf_bridge_static_set(struct bpf_map *map, const uint8_t mac[6],
                     uint32_t in_port, uint32_t out)
{
    if (bpf_map_type(map) != BPF_MAP_TYPE_HASH ||
        bpf_map_key_size(map) != sizeof(struct br_static_key) ||
        bpf_map_value_size(map) != sizeof(struct br_static_val)) {
        return xasprintf("map '%s' is not the bridge's static table of this "
                         "build (key %u, value %u bytes)", bpf_map_name(map),
                         bpf_map_key_size(map), bpf_map_value_size(map));
    }
    struct br_static_key key = { .in_port = in_port };
    struct br_static_val val = { .out_port = out };

    memcpy(key.mac, mac, 6);
    int rc = bpf_map_update(map, &key, &val, BPF_ANY);
    if (rc < 0) {
        return xasprintf("cannot add static entry: %s%s", strerror(-rc),
                         rc == -E2BIG ? " (static table full)" : "");
    }
    return NULL;
}
