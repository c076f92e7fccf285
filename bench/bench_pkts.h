/* The benchmarks' packet memory: 'n' packets, each in its own buffer with
 * room for 'frame_size' bytes of frame, from one packet_pool (huge pages,
 * as a DPDK mempool or an AF_XDP UMEM would be), so that a run over a
 * million cold packets measures the datapath rather than the page walks
 * of a 4 KiB mapping.  With BENCH_MALLOC=1 in the environment every packet
 * is a packet_new() of its own instead, as the benchmarks did before
 * pools, for comparisons with older figures. */
#ifndef BENCH_BENCH_PKTS_H
#define BENCH_BENCH_PKTS_H 1

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "pkt/packet.h"

struct bench_pkts {
    struct packet **pkts;      /* 'n' packets, in allocation order. */
    size_t n;
    struct packet_pool *pool;  /* NULL with BENCH_MALLOC=1. */
};

/* Where the packets come from, for the benchmarks' headers. */
static inline const char *
bench_pkts_source(const struct bench_pkts *bp)
{
    return bp->pool ? "one packet pool (huge pages where the kernel allows)"
                    : "packet_new() each (BENCH_MALLOC=1)";
}

static inline void
bench_pkts_init(struct bench_pkts *bp, size_t n, uint32_t frame_size)
{
    const char *m = getenv("BENCH_MALLOC");

    bp->n = n;
    bp->pkts = xcalloc(n, sizeof *bp->pkts);
    bp->pool = NULL;
    if (m && !strcmp(m, "1")) {
        for (size_t i = 0; i < n; i++) {
            bp->pkts[i] = packet_new(frame_size);
        }
        return;
    }
    bp->pool = packet_pool_create_array(n, frame_size, bp->pkts);
    if (!bp->pool) {
        perror("bench: packet pool");
        exit(1);
    }
}

static inline void
bench_pkts_destroy(struct bench_pkts *bp)
{
    for (size_t i = 0; i < bp->n && !bp->pool; i++) {
        packet_destroy(bp->pkts[i]);
    }
    packet_pool_destroy(bp->pool);
    free(bp->pkts);
}

#endif
