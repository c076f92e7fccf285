/* The OpenFlow-style pipeline: FLOW_N_TABLES tables of rules, each looked up
 * with the classifier, and the action interpreter.
 *
 * A packet enters table 0.  The highest-priority matching rule (after its
 * filter program, if any, returned non-zero) runs its actions in order;
 * goto_table continues in a later table after the list, resubmit looks up
 * another table at once.  A table miss drops the packet (OpenFlow 1.3
 * default).  Output actions hand the packet, as it is at that moment, to the
 * pipeline's output callback, which copies what it keeps: the pipeline never
 * allocates per packet.
 *
 * Time is supplied by the caller (packet time offline, wall clock live) and
 * drives idle/hard timeouts through pipeline_expire(). */
#ifndef FLOW_PIPELINE_H
#define FLOW_PIPELINE_H 1

#include <stdbool.h>
#include <stdint.h>

#include "core/compiler.h"
#include "core/util.h"
#include "flow_parse.h"
#include "pkt/packet.h"

struct pipeline;

/* Why a packet was dropped: one X-macro list for enum, names and text. */
#define PIPELINE_DROPS(X)                                               \
    X(TABLE_MISS, "table_miss", "no rule matched")                      \
    X(ACTION_DROP, "action_drop", "rule's actions drop the packet")     \
    X(TTL_EXPIRED, "ttl_expired", "dec_ttl found TTL 0 or 1")           \
    X(NO_OUTPUT, "no_output", "actions ended without an output")        \
    X(BAD_PORT, "bad_port", "output to a port that does not exist")     \
    X(LOOP, "loop", "resubmit depth or goto chain too long")            \
    X(NO_HEADROOM, "no_headroom", "no room to push a header")           \
    X(PROG_DROP, "prog_drop", "action program returned XDP_DROP")       \
    X(PROG_ABORTED, "prog_aborted", "action program aborted")

enum pipeline_drop {
#define PIPELINE_DROP_ENUM_(ENUM, NAME, TEXT) PIPELINE_DROP_##ENUM,
    PIPELINE_DROPS(PIPELINE_DROP_ENUM_)
#undef PIPELINE_DROP_ENUM_
    PIPELINE_N_DROPS
};
const char *pipeline_drop_name(enum pipeline_drop);

/* Called for each packet an output action sends.  'p' is borrowed for the
 * duration of the call only; its bytes are the packet as rewritten so far. */
typedef void pipeline_output_cb(void *aux, uint32_t port,
                                const struct packet *p);

/* A program a rule can name (prog=NAME or actions=prog:NAME), as the
 * pipeline sees it.  'run' returns the program's return value (filter:
 * non-zero = match; action: an XDP verdict), may rewrite the packet and
 * move its edges (data_ofs, len) but does not re-parse it; an action
 * program that redirects stores the port in '*redirect_port'. */
struct pipeline_prog {
    const char *name;
    void *impl;
    uint64_t (*run)(void *impl, struct packet *p, uint32_t *redirect_port);
    unsigned int n_refs;     /* Rules naming it (kept by the pipeline), so
                              * a program in use is never unloaded. */
    bool may_modify;         /* It may store into the packet: the pipeline
                              * re-parses after it, and refuses it as a
                              * filter (a lookup's key must not change). */
};
/* Resolves a program name for the pipeline; NULL if not loaded. */
typedef struct pipeline_prog *pipeline_prog_lookup_cb(void *aux,
                                                      const char *name);

struct pipeline *pipeline_create(void);
/* Another pipeline over 'pl''s rules, ports and program resolver (one
 * copy, whichever pipeline changes them), with its own output callback,
 * flow cache and counters: one per datapath thread.  Rules and ports may
 * change only while none of the pipelines sharing them processes packets
 * (the live datapath builds a new set and publishes it); every pipeline's
 * cache is invalidated as a change requires.  Rule counters are each
 * pipeline's own and are folded on read: dumps and idle timeouts see the
 * sum over all of them.  Destroyed like any pipeline, in any order; the
 * rules go with the last one. */
struct pipeline *pipeline_create_sibling(struct pipeline *pl);
void pipeline_destroy(struct pipeline *);

void pipeline_set_output(struct pipeline *, pipeline_output_cb *, void *aux);
void pipeline_set_prog_lookup(struct pipeline *, pipeline_prog_lookup_cb *,
                              void *aux);
/* Ports that exist, for flood/all and output checks ('ports' copied). */
void pipeline_set_ports(struct pipeline *, const uint32_t *ports, size_t n);

/* Adds a rule ('spec' borrowed).  A rule with the same table, priority and
 * match replaces the old one's actions (OpenFlow add semantics, counters
 * reset).  'now_ns' starts its timeouts.  Returns NULL or an error (e.g. an
 * unknown program name). */
char *pipeline_add(struct pipeline *, const struct flow_spec *,
                   uint64_t now_ns) WARN_UNUSED_RESULT;
/* Deletes rules covered by 'spec''s match (non-strict, as ovs-ofctl
 * del-flows), restricted to spec->table if table_set, and to the cookie
 * under cookie_mask.  Returns how many were deleted. */
size_t pipeline_del(struct pipeline *, const struct flow_spec *);
/* Removes rules whose idle or hard timeout passed at 'now_ns'. */
size_t pipeline_expire(struct pipeline *, uint64_t now_ns);
size_t pipeline_n_rules(const struct pipeline *);

/* Runs a batch (parsed packets) through the pipeline at 'now_ns'. */
void pipeline_process(struct pipeline *, struct packet_batch *,
                      uint64_t now_ns);

/* Datapath counters of one pipeline (each datapath thread has its own),
 * for `sluice stats` (like ovs-appctl dpif-netdev/pmd-stats-show). */
struct pipeline_stats {
    uint64_t packets;        /* Packets processed. */
    uint64_t batches;        /* Non-empty pipeline_process() calls. */
    uint64_t emc_hits;       /* Exact-match cache hits. */
    uint64_t megaflow_hits;  /* Megaflow (wildcarded) cache hits. */
    uint64_t cls_lookups;    /* Packets that walked the tables (misses). */
    uint64_t cache_entries;  /* Entries in the caches now. */
    uint64_t invalidations;  /* Cache entries dropped by rule changes. */
};
void pipeline_get_stats(const struct pipeline *, struct pipeline_stats *);

/* Turns the datapath flow cache (docs/flowcache.md) on or off; it is on
 * unless the environment variable SLUICE_FLOW_CACHE is "0" when the
 * pipeline is created.  Packets give the same outputs, counters and drops
 * either way; turning it off frees the cached flows. */
void pipeline_set_cache(struct pipeline *, bool enable);
bool pipeline_cache_enabled(const struct pipeline *);

/* Prints every rule, table by table, priority descending, in canonical
 * ovs-ofctl form; with 'stats', each line is prefixed with ovs-ofctl
 * dump-flows' " cookie=0x0, duration=1.5s, table=0, n_packets=3,
 * n_bytes=180, idle_age=0, " fields (times relative to 'now_ns'). */
void pipeline_dump(const struct pipeline *, bool stats, uint64_t now_ns,
                   struct ds *);
/* Per-rule statistics as a JSON array text, and drop counters. */
void pipeline_dump_json(const struct pipeline *, uint64_t now_ns,
                        struct ds *);
void pipeline_drop_counts(const struct pipeline *,
                          uint64_t counts[PIPELINE_N_DROPS]);

/* Traces one parsed packet like ovs-appctl ofproto/trace: per table, the
 * matching rule (priority and text), programs run with their verdicts, the
 * actions executed, the packet after rewrites, and the final verdict.  The
 * packet is rewritten; rule counters are not touched; outputs are not sent
 * to the output callback.  Text or, with 'json', a JSON object. */
void pipeline_trace(struct pipeline *, struct packet *, uint64_t now_ns,
                    bool json, struct ds *);

#endif
