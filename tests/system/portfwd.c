/* portfwd: a test-only two-port forwarder for tests/system.
 *
 *   portfwd [--timeout SECONDS] SPEC1 SPEC2
 *
 * Opens SPEC1 as port 1 and SPEC2 as port 2 through the port registry,
 * prints "ready" once both are open, then forwards every frame received on
 * one port out of the other, in batches, until SIGTERM/SIGINT or the
 * timeout (default 60 s).  On exit it closes both ports (releasing rings,
 * XDP programs, promiscuous mode) and prints each port's counters as
 *   port N rx_packets=.. rx_bytes=.. tx_packets=.. tx_bytes=.. drops=..
 *   errors=..
 * so the tests can check that traffic really went through the ports.
 * When a round finds nothing to forward it waits in poll() on the ports'
 * descriptors (port_fd()), at most 5 ms so that copy-mode AF_XDP sends
 * still in flight get kicked again. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/util.h"
#include "port/port.h"

static volatile sig_atomic_t stop;

static void
on_signal(int sig)
{
    stop = sig;
}

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Moves one batch from 'in' to 'out'.  Returns packets moved or -errno. */
static int
forward(struct port *in, struct port *out)
{
    struct packet_batch b;
    int n = port_rx_batch(in, &b);

    if (n <= 0) {
        return n;
    }
    for (unsigned int i = 0; i < b.count; i++) {
        port_tx(out, b.pkts[i]);
    }
    port_flush(out);
    return n;
}

static void
print_stats(const struct port *p)
{
    const struct port_stats *s = &p->stats;

    printf("port %u rx_packets=%llu rx_bytes=%llu tx_packets=%llu "
           "tx_bytes=%llu drops=%llu errors=%llu\n",
           p->number, (unsigned long long)s->rx_packets,
           (unsigned long long)s->rx_bytes, (unsigned long long)s->tx_packets,
           (unsigned long long)s->tx_bytes, (unsigned long long)s->drops,
           (unsigned long long)s->errors);
}

int
main(int argc, char *argv[])
{
    struct port *ports[2] = {NULL, NULL};
    double timeout = 60, deadline;
    struct sigaction sa;
    int argi = 1;
    int status = 0;
    int col;

    if (argc > 2 && !strcmp(argv[1], "--timeout")) {
        timeout = atof(argv[2]);
        argi = 3;
    }
    if (argc - argi != 2 || timeout <= 0) {
        fprintf(stderr, "usage: portfwd [--timeout SECONDS] SPEC1 SPEC2\n");
        return 2;
    }
    for (int i = 0; i < 2; i++) {
        char *error = port_spec_check(argv[argi + i], &col);

        if (error) {
            fprintf(stderr, "portfwd: %s: column %d: %s\n", argv[argi + i], col,
                    error);
            free(error);
            return 1;
        }
    }
    for (int i = 0; i < 2; i++) {
        char *error = NULL;
        int err =
            port_open((uint32_t)i + 1, argv[argi + i], NULL, &ports[i], &error);

        if (err) {
            fprintf(stderr, "portfwd: %s\n", error);
            free(error);
            port_close(ports[0]);
            return 1;
        }
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    printf("ready\n");
    fflush(stdout);

    deadline = now_s() + timeout;
    while (!stop && now_s() < deadline) {
        int a = forward(ports[0], ports[1]);
        int b = forward(ports[1], ports[0]);

        if (a < 0 || b < 0) {
            fprintf(stderr, "portfwd: receive failed: %s\n",
                    strerror(-(a < 0 ? a : b)));
            status = 1;
            break;
        }
        if (a < PACKET_BATCH_MAX && b < PACKET_BATCH_MAX) {
            struct pollfd pfds[2];
            nfds_t n = 0;

            for (int i = 0; i < 2; i++) {
                if (port_fd(ports[i]) >= 0) {
                    pfds[n].fd = port_fd(ports[i]);
                    pfds[n++].events = POLLIN;
                }
            }
            poll(pfds, n, n ? 5 : 1);
        }
    }
    for (int i = 0; i < 2; i++) {
        print_stats(ports[i]);
        if (port_close(ports[i])) {
            status = 1;
        }
    }
    return status;
}
