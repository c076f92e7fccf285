/* The offline datapath engine; see dp.h for the model.
 *
 * Merging: each receiving port keeps the batch its last rx_batch() gave
 * and a read position in it.  The next packet is the oldest head among
 * the ports.  A port's buffers are reused by its next rx_batch(), so a port
 * whose batch ran dry is refilled only after the batch being built (which
 * may still point into those buffers) has been processed. */
#include "dp.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "flow/flow_prog.h"
#include "flow/pipeline.h"
#include "pkt/pkt.h"

LOG_DEFINE_MODULE(dp);

#define NS_PER_SEC 1000000000ull

struct dp_port {
    uint32_t number;         /* Port number. */
    char *spec;              /* Spec text (owned). */
    struct port *port;       /* Opened port or NULL (owned). */
    struct port_stats stats; /* Final counters once 'port' closed. */
    uint64_t parse_errors[PKT_N_PARSE_ERRORS]; /* Packets, by reason. */

    struct packet_batch rxq; /* Last batch received. */
    unsigned int rx_pos;     /* Next packet of 'rxq' to take. */
    bool rx_eof;             /* No more input. */
    bool tx_dirty;           /* Packets queued since the last flush. */
};

struct dp {
    struct pipeline *pipeline; /* The tables (owned). */
    struct flow_progs *progs;  /* Loaded programs (owned). */
    struct dp_port *ports;     /* Sorted by number. */
    size_t n_ports;
    /* Index into 'ports' by port number, or -1; rebuilt on port add. */
    int32_t *by_number;
    bool started;      /* Inputs primed (rx buffers filled). */
    uint64_t start_ns; /* First packet time (once started). */
    uint64_t now_ns;   /* Newest packet time processed. */
    bool seen_packet;  /* 'now_ns' is valid. */
    int io_error;      /* First I/O error seen, or 0. */
};

static void dp_output(void *aux, uint32_t port, const struct packet *p);

struct dp *
dp_create(void)
{
    struct dp *dp = xzalloc(sizeof *dp);

    dp->pipeline = pipeline_create();
    dp->progs = flow_progs_create();
    pipeline_set_prog_lookup(dp->pipeline, flow_progs_lookup, dp->progs);
    dp->by_number = xmalloc((PORT_NUMBER_MAX + 1) * sizeof *dp->by_number);
    memset(dp->by_number, 0xff, (PORT_NUMBER_MAX + 1) * sizeof *dp->by_number);
    pipeline_set_output(dp->pipeline, dp_output, dp);
    return dp;
}

void
dp_destroy(struct dp *dp)
{
    if (!dp) {
        return;
    }
    for (size_t i = 0; i < dp->n_ports; i++) {
        port_close(dp->ports[i].port);
        free(dp->ports[i].spec);
    }
    free(dp->ports);
    free(dp->by_number);
    /* Rules first: they use the programs. */
    pipeline_destroy(dp->pipeline);
    flow_progs_destroy(dp->progs);
    free(dp);
}

struct pipeline *
dp_pipeline(struct dp *dp)
{
    return dp->pipeline;
}

struct flow_progs *
dp_progs(struct dp *dp)
{
    return dp->progs;
}

struct pipeline *
dp_replace_pipeline(struct dp *dp, struct pipeline *pl)
{
    struct pipeline *old = dp->pipeline;

    pipeline_set_prog_lookup(pl, flow_progs_lookup, dp->progs);
    pipeline_set_output(pl, dp_output, dp);
    dp->pipeline = pl;
    return old;
}

static void
dp_reindex(struct dp *dp)
{
    uint32_t *numbers = xcalloc(dp->n_ports ? dp->n_ports : 1, sizeof *numbers);

    /* Ports are only ever added, so every number in use is overwritten
     * and the others stay -1. */
    for (size_t i = 0; i < dp->n_ports; i++) {
        dp->by_number[dp->ports[i].number] = (int32_t)i;
        numbers[i] = dp->ports[i].number;
    }
    pipeline_set_ports(dp->pipeline, numbers, dp->n_ports);
    free(numbers);
}

int
dp_port_add(struct dp *dp, uint32_t number, const char *spec, struct port *port,
            char **errp)
{
    struct dp_port *dpp;
    size_t pos;

    if (number < PORT_NUMBER_MIN || number > PORT_NUMBER_MAX) {
        *errp = xasprintf("port number %u out of range %d..%d", number,
                          PORT_NUMBER_MIN, PORT_NUMBER_MAX);
        return -ERANGE;
    }
    if (dp->by_number[number] >= 0) {
        *errp = xasprintf("port %u already exists", number);
        return -EEXIST;
    }
    for (pos = 0; pos < dp->n_ports; pos++) {
        if (dp->ports[pos].number > number) {
            break;
        }
    }
    dp->ports = xrealloc(dp->ports, (dp->n_ports + 1) * sizeof *dp->ports);
    memmove(&dp->ports[pos + 1], &dp->ports[pos],
            (dp->n_ports - pos) * sizeof *dp->ports);
    dp->n_ports++;

    dpp = &dp->ports[pos];
    memset(dpp, 0, sizeof *dpp);
    dpp->number = number;
    dpp->spec = xstrdup(spec);
    dpp->port = port;
    dpp->rx_eof = !port || !port_can_rx(port);
    dp_reindex(dp);
    return 0;
}

size_t
dp_n_ports(const struct dp *dp)
{
    return dp->n_ports;
}

uint32_t
dp_port_number(const struct dp *dp, size_t idx)
{
    return dp->ports[idx].number;
}

const char *
dp_port_spec(const struct dp *dp, size_t idx)
{
    return dp->ports[idx].spec;
}

bool
dp_port_exists(const struct dp *dp, uint32_t number)
{
    return number <= PORT_NUMBER_MAX && dp->by_number[number] >= 0;
}

void
dp_port_stats(const struct dp *dp, size_t idx, struct port_stats *stats)
{
    const struct dp_port *dpp = &dp->ports[idx];

    *stats = dpp->port ? dpp->port->stats : dpp->stats;
}

const uint64_t *
dp_port_parse_errors(const struct dp *dp, size_t idx)
{
    return dp->ports[idx].parse_errors;
}

/* Receives the next batch of 'dpp' once its previous one is used up. */
static void
dp_refill(struct dp *dp, struct dp_port *dpp)
{
    int n;

    if (dpp->rx_eof || dpp->rx_pos < dpp->rxq.count) {
        return;
    }
    dpp->rx_pos = 0;
    n = port_rx_batch(dpp->port, &dpp->rxq);
    if (n < 0) {
        LOG_WARN("port %u: receive failed: %s", dpp->number, strerror(-n));
        if (!dp->io_error) {
            dp->io_error = n;
        }
        dpp->rxq.count = 0;
    }
    if (n <= 0) {
        dpp->rx_eof = true;
    }
}

/* Fills every input's first batch (reading only: outputs are not touched
 * before dp_run(), so a configuration that fails later clobbers nothing). */
static void
dp_prime(struct dp *dp)
{
    if (dp->started) {
        return;
    }
    dp->started = true;
    for (size_t i = 0; i < dp->n_ports; i++) {
        if (dp->ports[i].port) {
            dp_refill(dp, &dp->ports[i]);
        }
    }
    dp->start_ns = UINT64_MAX;
    for (size_t i = 0; i < dp->n_ports; i++) {
        struct dp_port *dpp = &dp->ports[i];

        if (dpp->rx_pos < dpp->rxq.count) {
            dp->start_ns = MIN(dp->start_ns, dpp->rxq.pkts[dpp->rx_pos]->ts_ns);
        }
    }
    if (dp->start_ns == UINT64_MAX) {
        dp->start_ns = 0;
    }
}

uint64_t
dp_start_time(struct dp *dp)
{
    dp_prime(dp);
    return dp->start_ns;
}

uint64_t
dp_now(struct dp *dp)
{
    return dp->seen_packet ? dp->now_ns : dp_start_time(dp);
}

/* Output callback of the pipeline: queues a copy on the port. */
static void
dp_output(void *aux, uint32_t number, const struct packet *p)
{
    struct dp *dp = aux;
    struct dp_port *dpp;

    if (number > PORT_NUMBER_MAX || dp->by_number[number] < 0) {
        /* The pipeline checks ports itself; this is a safety net. */
        return;
    }
    dpp = &dp->ports[dp->by_number[number]];
    if (!dpp->port) {
        return;
    }
    port_tx(dpp->port, p);
    dpp->tx_dirty = true;
}

/* Parses, counts and runs one batch, then flushes the outputs it used. */
static void
dp_process(struct dp *dp, struct packet_batch *b)
{
    uint64_t now = dp->now_ns;

    if (!b->count) {
        return;
    }
    pkt_parse_batch(b);
    for (unsigned int i = 0; i < b->count; i++) {
        const struct packet *p = b->pkts[i];

        if (p->parse_err != PKT_ERR_NONE) {
            int32_t idx = dp->by_number[p->in_port];

            dp->ports[idx].parse_errors[p->parse_err]++;
        }
        now = MAX(now, p->ts_ns);
    }
    dp->now_ns = now;
    dp->seen_packet = true;
    pipeline_process(dp->pipeline, b, now);
    packet_batch_init(b);

    for (size_t i = 0; i < dp->n_ports; i++) {
        struct dp_port *dpp = &dp->ports[i];

        if (dpp->tx_dirty) {
            int err = port_flush(dpp->port);

            if (err && !dp->io_error) {
                dp->io_error = err;
            }
            dpp->tx_dirty = false;
        }
    }
}

/* The port whose next packet is oldest (ties: lowest number), or NULL when
 * every input is at its end. */
static struct dp_port *
dp_next_port(struct dp *dp)
{
    struct dp_port *best = NULL;
    uint64_t best_ts = 0;

    for (size_t i = 0; i < dp->n_ports; i++) {
        struct dp_port *dpp = &dp->ports[i];

        if (dpp->rx_pos < dpp->rxq.count) {
            uint64_t ts = dpp->rxq.pkts[dpp->rx_pos]->ts_ns;

            if (!best || ts < best_ts) {
                best = dpp;
                best_ts = ts;
            }
        }
    }
    return best;
}

int
dp_run(struct dp *dp)
{
    struct packet_batch batch;
    uint64_t batch_sec = 0;
    uint64_t expired_sec;
    bool nsec = false;

    dp_prime(dp);
    /* Outputs start now, at nanosecond precision if any input has it. */
    for (size_t i = 0; i < dp->n_ports; i++) {
        if (dp->ports[i].port && port_rx_nsec(dp->ports[i].port)) {
            nsec = true;
        }
    }
    for (size_t i = 0; i < dp->n_ports; i++) {
        if (dp->ports[i].port) {
            port_set_tx_nsec(dp->ports[i].port, nsec);
        }
    }
    packet_batch_init(&batch);
    expired_sec = dp->start_ns / NS_PER_SEC;
    for (;;) {
        struct dp_port *dpp = dp_next_port(dp);
        struct packet *p;
        uint64_t sec;

        if (!dpp) {
            break;
        }
        p = dpp->rxq.pkts[dpp->rx_pos];
        sec = p->ts_ns / NS_PER_SEC;
        if (batch.count &&
            (batch.count == PACKET_BATCH_MAX || sec != batch_sec)) {
            dp_process(dp, &batch);
        }
        if (sec > expired_sec) {
            /* Packet time crossed a second: timeouts first. */
            size_t n = pipeline_expire(dp->pipeline, p->ts_ns);

            if (n) {
                LOG_DBG("%zu rules expired at %llu.%09llu", n,
                        (unsigned long long)sec,
                        (unsigned long long)(p->ts_ns % NS_PER_SEC));
            }
            expired_sec = sec;
        }
        if (!batch.count) {
            batch_sec = sec;
        }
        packet_batch_add(&batch, p);
        dpp->rx_pos++;

        if (dpp->rx_pos == dpp->rxq.count) {
            /* Its buffers are about to be reused: finish the batch. */
            dp_process(dp, &batch);
            dp_refill(dp, dpp);
        }
    }
    dp_process(dp, &batch);

    for (size_t i = 0; i < dp->n_ports; i++) {
        struct dp_port *dpp = &dp->ports[i];

        if (dpp->port) {
            int err = port_flush(dpp->port);

            if (err && !dp->io_error) {
                dp->io_error = err;
            }
            dpp->stats = dpp->port->stats;
            /* The port counted what it failed to write. */
            err = port_close(dpp->port);
            if (err && !dp->io_error) {
                dp->io_error = err;
            }
            dpp->port = NULL;
        }
    }
    return dp->io_error;
}
