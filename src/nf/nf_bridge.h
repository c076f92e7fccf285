/* Static entries of the MAC learning bridge (progs/bridge.c).
 *
 * `nf bridge static NAME MAC IN_PORT OUT_PORT|drop` says what to do with
 * frames to MAC arriving on IN_PORT: send them out of OUT_PORT, or drop
 * them ("drop", or OUT_PORT equal to IN_PORT, which the bridge filters).
 * Entries live in the program's hash map "br_static" (progs/nf_l23.h). */
#ifndef NF_BRIDGE_H
#define NF_BRIDGE_H 1

#include <stdint.h>

#include "core/compiler.h"

struct bpf_map;

#define NF_BRIDGE_STATIC_MAP "br_static"

/* Parses "drop" or a port number into '*out' (BR_STATIC_DROP for drop).
 * Returns NULL or an allocated reason. */
char *nf_bridge_parse_out(const char *s, uint32_t *out) WARN_UNUSED_RESULT;
/* Adds or replaces the entry (mac, in_port) -> out in 'map'.  Returns NULL
 * or an allocated reason. */
char *nf_bridge_static_set(struct bpf_map *, const uint8_t mac[6],
                           uint32_t in_port, uint32_t out)
    WARN_UNUSED_RESULT;

#endif
