/* Route files -> entries of the LPM router's trie (progs/router.c).
 *
 * Two formats:
 *  - route files: one route per line, "PREFIX/LEN PORT NEXTHOP_MAC", e.g.
 *    "10.1.0.0/16 3 02:00:00:00:00:33"; '#' starts a comment; blank lines
 *    are ignored.  Host bits set beyond LEN are an error (a typo more
 *    often than intent), as is the same prefix twice.
 *  - RouteViews prefix-to-AS files (pfx2as, CAIDA's "routeviews-prefix2as"
 *    format): "PREFIX<ws>LEN<ws>ASN" where ASN may be a multi-origin list
 *    "A_B" or an AS set "A,B".  Such files carry no ports, so each prefix
 *    is mapped by its first origin AS onto the ports configured with
 *    `nf port`: with ports P[0] < P[1] < ... < P[n-1], a prefix of origin
 *    AS A goes out of P[A mod n] to that port's next hop.  The rule is
 *    deterministic, spreads a real table over all ports and keeps a
 *    given AS on one port.  Host bits are masked (real files are clean)
 *    and a repeated prefix keeps its last line.
 * Errors name "FILE:LINE: reason". */
#ifndef NF_ROUTE_H
#define NF_ROUTE_H 1

#include <stddef.h>
#include <stdint.h>

#include "core/compiler.h"
#include "nf_ports.h"

struct bpf_map;

/* Name of the router's trie. */
#define NF_ROUTE_MAP "rt_routes"

struct nf_route {
    uint32_t addr;              /* Prefix, host byte order, host bits 0. */
    uint8_t len;                /* Prefix length 0..32. */
    uint32_t port;              /* Output sluice port. */
    uint8_t nexthop[6];         /* Next-hop MAC. */
    uint32_t line;              /* Source line, for messages. */
};

struct nf_route_table {
    struct nf_route *routes;    /* Owned. */
    size_t n;
};

/* Parses one route-file line (no comment, not blank) into '*r'.  Returns
 * NULL or an allocated reason without the file and line. */
char *nf_route_parse_line(const char *line, struct nf_route *r)
    WARN_UNUSED_RESULT;
/* Reads a route file. */
char *nf_route_load(const char *path, struct nf_route_table *)
    WARN_UNUSED_RESULT;
/* Reads a pfx2as file, mapping origin ASes onto 'ports' (n_ports > 0,
 * sorted by port) as described above. */
char *nf_route_load_pfx2as(const char *path,
                           const struct nf_port_entry *ports, size_t n_ports,
                           struct nf_route_table *) WARN_UNUSED_RESULT;
void nf_route_table_destroy(struct nf_route_table *);

/* Writes every route into 'map' (the router's "rt_routes" trie), after
 * checking its type and layout.  Replaces routes with the same prefix.
 * Returns NULL or an allocated reason. */
char *nf_route_fill_map(const struct nf_route_table *, struct bpf_map *)
    WARN_UNUSED_RESULT;

#endif
