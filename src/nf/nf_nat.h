/* Control plane of the NAT (progs/nat.c): `nf nat NAME wan=PORT
 * ip=A.B.C.D [first_port=S] [capacity=N] [timeout=SEC]`.
 *
 * Writes the program's 'nat_cfg', configures its flow table 'nat_flows'
 * (capacity N, idle timeout T) and clears its slot array 'nat_slots'.
 * Reconfiguring forgets every flow.  Defaults: first_port 1024, capacity
 * min(65536 - S, 65536), timeout 300 s. */
#ifndef NF_NAT_H
#define NF_NAT_H 1

#include <stdint.h>

#include "core/compiler.h"

struct bpf_object;

#define NF_NAT_DEFAULT_FIRST_PORT 1024
#define NF_NAT_DEFAULT_TIMEOUT_NS (300ull * 1000000000ull)

struct nf_nat_params {
    uint32_t wan_port;   /* Sluice port number of the WAN side. */
    uint32_t ext_ip;     /* External IPv4 address, network order. */
    uint32_t first_port; /* S. */
    uint32_t capacity;   /* N, S + N <= 65536. */
    uint64_t timeout_ns; /* T, nanoseconds; 0 = flows never expire. */
};

/* Parses "SEC[.FRACTION]" (at most 9 fraction digits, at most 10^9 s)
 * into nanoseconds.  Returns NULL or an allocated reason. */
char *nf_parse_seconds(const char *s, uint64_t *ns) WARN_UNUSED_RESULT;
/* Parses a dotted-quad IPv4 address into network order. */
char *nf_parse_ipv4(const char *s, uint32_t *ip) WARN_UNUSED_RESULT;

struct bpf_map;
/* Finds map 'name' of a loaded program and checks its type and sizes
 * against this build ('prog_file' names the program in messages).
 * Returns NULL or a reason. */
char *nf_find_map(struct bpf_object *, const char *prog_file, const char *name,
                  uint32_t type, uint32_t key_size, uint32_t value_size,
                  struct bpf_map **) WARN_UNUSED_RESULT;

/* Parses the KEY=VALUE arguments of `nf nat`.  On error returns an
 * allocated reason and sets '*bad' to the index of the argument at
 * fault. */
char *nf_nat_parse(int argc, char *const *argv, struct nf_nat_params *,
                   int *bad) WARN_UNUSED_RESULT;

/* Applies 'params' to a loaded progs/nat.o.  Returns NULL or a reason. */
char *nf_nat_apply(struct bpf_object *,
                   const struct nf_nat_params *) WARN_UNUSED_RESULT;

#endif
