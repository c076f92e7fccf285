/* Ports: where packets enter and leave the switch.
 *
 * A port is a numbered endpoint of one type (pcap files; the live types
 * afpacket, afxdp and tap, see port_live.h).  Every type implements the
 * same small interface, struct port_class, and is found by name in a
 * registry (port.c), so the datapath never knows which kind of port it
 * drives.  A port is named by a spec "TYPE:ARGS", e.g.
 * "pcap:rx=in.pcap,tx=out.pcap" or "afxdp:eth0,queue=1".
 *
 * Receive hands out a batch of packets that the port owns and reuses: they
 * stay valid, and may be rewritten in place, until the next rx_batch() on
 * the same port.  Transmit takes a borrowed packet and copies it (into the
 * port's own tx queue), so the caller may reuse its buffer at once; flush()
 * pushes the queue out.  Nothing on the rx/tx path allocates per packet.
 *
 * Errors follow the library convention: 0 or a negative errno, with an
 * allocated message in '*errp' where one helps (the caller frees it). */
#ifndef PORT_PORT_H
#define PORT_PORT_H 1

#include <stdbool.h>
#include <stdint.h>

#include "core/compiler.h"
#include "pkt/packet.h"

#define PORT_NUMBER_MIN 1
#define PORT_NUMBER_MAX 65279 /* OpenFlow's OFPP_MAX. */

struct port_stats {
    uint64_t rx_packets; /* Packets received. */
    uint64_t rx_bytes;   /* Bytes received (captured length). */
    uint64_t tx_packets; /* Packets transmitted. */
    uint64_t tx_bytes;   /* Bytes transmitted. */
    uint64_t drops;      /* Packets sent to a port that cannot send, or
                          * lost to a full ring or queue (live ports). */
    uint64_t errors;     /* Packets lost to I/O errors. */
};

struct port;

struct port_class {
    const char *type; /* Spec prefix, e.g. "pcap". */

    /* Checks the ARGS of a spec without touching any file or device.
     * Returns NULL or an allocated message, with '*err_col' set to the
     * 1-based column of ARGS where the problem starts. */
    char *(*check)(const char *args, int *err_col);

    /* Opens a port for 'args'.  Relative paths are resolved against
     * 'base_dir' (NULL: the current directory).  On success stores an
     * allocated port in '*portp'; number and name are set by port_open(). */
    int (*open)(const char *args, const char *base_dir, struct port **portp,
                char **errp);

    /* Receives up to PACKET_BATCH_MAX packets into 'b' (which it resets),
     * with in_port, ts_ns, len and orig_len set and unparsed.  Returns the
     * number received, 0 at the end of input (or none ready), or a negative
     * errno.  Called only if can_rx() is true. */
    int (*rx_batch)(struct port *, struct packet_batch *b);

    /* Queues a copy of 'p' for transmission.  Called only if can_tx() is
     * true. */
    int (*tx)(struct port *, const struct packet *p);

    /* Whether this port receives / transmits at all (a pcap port without
     * rx= never receives). */
    bool (*can_rx)(const struct port *);
    bool (*can_tx)(const struct port *);

    /* Sends everything queued by tx (a file port hands it to its buffer;
     * close writes the rest). */
    int (*flush)(struct port *);

    /* Optional: called when traffic starts, telling whether any input of
     * the switch has nanosecond timestamps (capture-writing ports pick
     * their precision and create their file only now). */
    void (*set_tx_nsec)(struct port *, bool nsec);

    /* Optional: true if received timestamps have nanosecond precision. */
    bool (*rx_nsec)(const struct port *);

    /* Optional (live ports): a file descriptor that poll() reports
     * readable (POLLIN) when the kernel has frames for rx_batch().  Only
     * meaningful once rx_batch() has returned fewer than PACKET_BATCH_MAX
     * packets: a full batch may leave frames (or segments of a super-frame)
     * behind without the descriptor becoming readable again. */
    int (*fd)(const struct port *);

    /* Optional: the file a spec's ARGS read from ('tx' false) or write to
     * ('tx' true), resolved against 'base_dir' (allocated), or NULL. */
    char *(*file)(const char *args, const char *base_dir, bool tx);

    /* Flushes, releases everything and frees the port.  Returns 0 or a
     * negative errno if the final flush failed. */
    int (*close)(struct port *);
};

struct port {
    const struct port_class *class; /* Type and operations. */
    uint32_t number;                /* Port number, PORT_NUMBER_MIN..MAX. */
    char *spec;                     /* The spec it was opened with (owned). */
    struct port_stats stats;        /* Counters, updated by the port type. */
};

/* Looks up the class for the TYPE of 'spec'; NULL if unknown. */
const struct port_class *port_class_find(const char *spec);

/* Checks 'spec' ("TYPE:ARGS") without opening anything.  Returns NULL or an
 * allocated message; '*err_col' is the 1-based column within 'spec'. */
char *port_spec_check(const char *spec, int *err_col) WARN_UNUSED_RESULT;

/* Opens the port 'spec' as 'number'.  Returns 0 and the port in '*portp',
 * or a negative errno and a message in '*errp'. */
int port_open(uint32_t number, const char *spec, const char *base_dir,
              struct port **portp, char **errp);
/* Flushes and frees 'port'.  Returns 0, or a negative errno if data
 * queued for transmission could not be written.  NULL is a no-op. */
int port_close(struct port *port);

int port_rx_batch(struct port *, struct packet_batch *);
/* Transmits a copy of 'p'; a port that cannot transmit counts a drop. */
int port_tx(struct port *, const struct packet *p);
int port_flush(struct port *);
bool port_can_rx(const struct port *);
bool port_can_tx(const struct port *);
bool port_rx_nsec(const struct port *);
/* The port's descriptor to poll() for receive readiness (see
 * port_class.fd), or -1 for ports that are always ready (files). */
int port_fd(const struct port *);
void port_set_tx_nsec(struct port *, bool nsec);

/* The file that a port opened with 'spec' would read ('tx' false) or
 * write ('tx' true), resolved against 'base_dir' (allocated), or NULL. */
char *port_spec_file(const char *spec, const char *base_dir, bool tx);
/* Whether two paths name the same file, or would once created (compares
 * the resolved directory and the name). */
bool port_same_file(const char *a, const char *b);

/* Resolves 'path' against 'base_dir' unless it is absolute or base_dir is
 * NULL.  Returns an allocated string. */
char *port_resolve_path(const char *base_dir, const char *path);

/* For port types: makes the PACKET_BATCH_MAX packets of a receive or
 * transmit ring, of PACKET_DEFAULT_SIZE bytes, from a new packet pool
 * (stored in '*poolp', freed with packet_pool_destroy()).  Returns 0, or
 * -ENOMEM with a message naming 'what' (the port) in '*errp'. */
int port_ring_create(const char *what, struct packet_pool **poolp,
                     struct packet **pkts, char **errp);

#endif
