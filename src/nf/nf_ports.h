/* Per-port MAC addresses of the forwarding network functions.
 *
 * NF-SPECS's MAC rewrite convention: a frame leaving port P gets source
 * MAC := P's own MAC and destination MAC := P's configured next hop.
 * Programs that rewrite MACs keep the table in a hash map named "nf_ports"
 * (progs/nf_l23.h: __u32 port -> struct nf_port_macs); `nf port NAME PORT
 * MAC NEXTHOP_MAC` fills it through this module.  The router also reads
 * it back to map RouteViews origin ASes to ports (nf_route.h). */
#ifndef NF_PORTS_H
#define NF_PORTS_H 1

#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>

#include "core/compiler.h"
#include "nf_l23.h" /* progs/nf_l23.h */

struct bpf_map;

/* Name of the map every program using the convention declares. */
#define NF_PORTS_MAP "nf_ports"

struct nf_port_entry {
    uint32_t port;              /* Sluice port number. */
    struct nf_port_macs macs;   /* Its MAC and next hop's MAC. */
};

/* Parses "aa:bb:cc:dd:ee:ff" (hex digits, one or two per byte, ':' or
 * '-' separators).  Returns NULL or an allocated reason. */
char *nf_parse_mac(const char *s, uint8_t mac[6]) WARN_UNUSED_RESULT;
/* Parses a sluice port number (1..65279).  Returns NULL or a reason. */
char *nf_parse_port(const char *s, uint32_t *port) WARN_UNUSED_RESULT;

/* Checks that 'map' is an "nf_ports" map of this build's layout. */
char *nf_ports_check_map(struct bpf_map *) WARN_UNUSED_RESULT;
/* Sets port 'port''s MACs in 'map'.  Returns NULL or a reason. */
char *nf_ports_set(struct bpf_map *, uint32_t port,
                   const struct nf_port_macs *) WARN_UNUSED_RESULT;
/* Reads every entry of 'map', sorted by port, into an allocated '*out'
 * (NULL when empty).  Returns NULL or a reason. */
char *nf_ports_list(struct bpf_map *, struct nf_port_entry **out,
                    size_t *n) WARN_UNUSED_RESULT;

#endif
