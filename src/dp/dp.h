/* The datapath: ports plus one pipeline, and the offline engine that runs
 * pcap inputs through them.
 *
 * Offline, every receiving port is read to its end and the packets of all
 * of them are merged in timestamp order (ties: lower port number first), so
 * a run is deterministic whatever the batch boundaries.  Packets travel in
 * batches of up to PACKET_BATCH_MAX: parsed together, run through the
 * pipeline together with 'now' = the packet time, and the outputs are
 * queued per port and flushed once per batch.  A batch never straddles a
 * second boundary of packet time; when time crosses one, rule timeouts are
 * expired first, so idle/hard timeouts are exact to the second in packet
 * time.
 *
 * A port may also be declared without being opened (the spec was checked
 * but no file is touched): `sluice flow dump` and `sluice trace` need the
 * port numbers of a configuration, not its files. */
#ifndef DP_DP_H
#define DP_DP_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/compiler.h"
#include "pkt/flow_key.h"
#include "port/port.h"

struct dp;
struct flow_progs;
struct pipeline;

struct dp *dp_create(void);
/* Closes every port and frees the pipeline.  NULL is a no-op. */
void dp_destroy(struct dp *);

/* The pipeline, owned by the datapath. */
struct pipeline *dp_pipeline(struct dp *);
/* The loaded eBPF programs, owned by the datapath; the pipeline resolves
 * prog=NAME and actions=prog:NAME through them. */
struct flow_progs *dp_progs(struct dp *);
/* Makes 'pl' the datapath's pipeline (taken) and returns the old one, which
 * the caller destroys.  The live switch rebuilds its rule table this way
 * (to drop expired rules or modify actions) without touching the loaded
 * programs the rules use.  The datapath's output callback and program
 * lookup are installed on 'pl'; its port list is the caller's to set. */
struct pipeline *dp_replace_pipeline(struct dp *, struct pipeline *pl);

/* Adds port 'number' with 'spec' (copied); 'port' is taken, or NULL to
 * only declare the port.  Returns 0, or -EEXIST if the number is in use
 * (with a message in '*errp'), -ERANGE if it is out of range. */
int dp_port_add(struct dp *, uint32_t number, const char *spec,
                struct port *port, char **errp);
size_t dp_n_ports(const struct dp *);
/* Port number, spec, opened port (or NULL) of the idx'th port in ascending
 * number order. */
uint32_t dp_port_number(const struct dp *, size_t idx);
const char *dp_port_spec(const struct dp *, size_t idx);
bool dp_port_exists(const struct dp *, uint32_t number);

/* Counters of the idx'th port: the port's own, and packets whose parse
 * stopped early, by reason (index enum pkt_parse_err). */
void dp_port_stats(const struct dp *, size_t idx, struct port_stats *);
const uint64_t *dp_port_parse_errors(const struct dp *, size_t idx);

/* Packet time of the earliest packet any receiving port will deliver
 * (peeks; 0 if there is none).  Rules added before a run are started at
 * this time so their timeouts run in packet time. */
uint64_t dp_start_time(struct dp *);
/* Packet time now: the newest timestamp processed, else dp_start_time(). */
uint64_t dp_now(struct dp *);

/* Processes every packet of every receiving port to the end, then flushes
 * and closes the ports (their counters stay readable).  Returns 0 or a
 * negative errno (after an I/O error, which is also counted). */
int dp_run(struct dp *);

#endif
