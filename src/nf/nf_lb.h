/* Control plane of the Maglev load balancer (progs/lb.c).
 *
 * The lookup table is built as in Maglev (Eisenbud et al., NSDI 2016,
 * section 3.4): backend i has offset = h1(name) mod M and skip =
 * h2(name) mod (M - 1) + 1, so its preference list is (offset + j * skip)
 * mod M, a permutation of 0..M-1 since M is prime.  Backends take turns,
 * each claiming the next slot of its list that is still free, until all M
 * slots are taken; a backend of weight w takes w turns per round.  With
 * equal weights every backend owns floor(M/N) or ceil(M/N) slots, and
 * removing one backend moves its slots plus a few others.
 *
 * Commands:
 *   nf lb backends NAME FILE vip=IP:PORT [table=M] [capacity=N]
 *                  [timeout=SEC]
 *     FILE lines: NAME IP MAC PORT [WEIGHT] ('#' starts a comment).
 *     Loads the backends (all up), builds and loads the table (M prime,
 *     default 65537), configures the connection table (capacity default
 *     65536, timeout default 60 s) and the VIP.
 *   nf lb down NAME BACKEND / nf lb up NAME BACKEND
 *     Marks a backend down or up and rebuilds the table over the healthy
 *     ones; connections stay on healthy backends. */
#ifndef NF_LB_H
#define NF_LB_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/compiler.h"
#include "lb.h" /* progs/lb.h */

struct bpf_object;

#define NF_LB_DEFAULT_TABLE 65537
#define NF_LB_DEFAULT_TIMEOUT_NS (60ull * 1000000000ull)
#define NF_LB_WEIGHT_MAX 1000

/* Builds the Maglev table of 'm' slots (m prime, >= 2) for the 'n'
 * backends named 'names' with 'weights' (>= 1), skipping those whose 'up'
 * is false ('up' NULL = all up).  table[slot] = backend index, or
 * LB_NO_BACKEND everywhere when none is up.  Returns 0 or -EINVAL (m not
 * prime, a weight 0). */
int nf_lb_maglev(const char *const *names, const uint32_t *weights,
                 const bool *up, size_t n, uint32_t m, uint32_t *table);
bool nf_lb_is_prime(uint32_t);

/* Parses a backends file into an allocated array of lb_backend (up, in
 * file order).  Returns NULL or "FILE:LINE: reason". */
char *nf_lb_parse_backends(const char *path, struct lb_backend **out,
                           size_t *n) WARN_UNUSED_RESULT;

struct nf_lb_params {
    uint32_t vip;        /* Network order. */
    uint16_t vport;      /* Network order. */
    uint32_t table_size; /* M. */
    uint32_t capacity;   /* Connection-table capacity. */
    uint64_t timeout_ns; /* Connection idle timeout. */
};

/* Parses the KEY=VALUE arguments after FILE; '*bad' = index at fault. */
char *nf_lb_parse(int argc, char *const *argv, struct nf_lb_params *,
                  int *bad) WARN_UNUSED_RESULT;
/* Loads backends, table, connection table and VIP into progs/lb.o. */
char *nf_lb_apply(struct bpf_object *, const struct nf_lb_params *,
                  const struct lb_backend *, size_t n) WARN_UNUSED_RESULT;
/* Marks backend 'name' up or down and reloads the table. */
char *nf_lb_set_up(struct bpf_object *, const char *name,
                   bool up) WARN_UNUSED_RESULT;

#endif
