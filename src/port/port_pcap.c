/* pcap file ports: "pcap:rx=IN.pcap,tx=OUT.pcap" (either side optional).
 *
 * Input is read with libpcap at nanosecond precision, so every timestamp
 * is kept exactly whatever the file's own precision.  Output is written at
 * nanosecond precision when any input of the switch has it and at
 * microsecond precision otherwise (the datapath says which through
 * set_tx_nsec), so a microsecond capture round-trips byte for byte.  Since
 * the precision is only known once every port is open, and since a bad
 * configuration must not clobber existing files, open only checks that the
 * output can be written; the file is created, and its header written, when
 * traffic starts (set_tx_nsec) or at the first packet.  A port closed
 * before that leaves no file behind.
 *
 * Only Ethernet (DLT_EN10MB) captures are accepted.  A record whose capture
 * length is shorter than its wire length is passed on with the bytes that
 * were captured; the wire length is kept in packet->orig_len and written
 * back on output.
 *
 * The port owns PACKET_BATCH_MAX packets for receive and as many for its
 * transmit queue, allocated at open and reused: no allocation per packet
 * (a buffer grows only when a larger frame than ever before arrives). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pcap/pcap.h>

#include "core/log.h"
#include "core/util.h"
#include "port_int.h"

/* Static names use the prefix pport_ (libpcap owns pcap_*). */
LOG_DEFINE_MODULE(port_pcap);

#define PCAP_SNAPLEN 65535
#define PPORT_FILE_BUFFER (256 * 1024) /* Output buffer, in bytes. */

/* Native timestamp precision from a pcap file's magic number. */
#define PCAP_MAGIC_USEC 0xa1b2c3d4
#define PCAP_MAGIC_NSEC 0xa1b23c4d
#define PCAPNG_MAGIC 0x0a0d0d0a

struct pport {
    struct port up;                           /* Generic part. */
    pcap_t *rx;                               /* Input, or NULL. */
    char *rx_path;                            /* Input path (for errors). */
    bool rx_nsec;                             /* Input has ns timestamps. */
    bool rx_eof;                              /* Input fully read. */
    struct packet *rx_pkts[PACKET_BATCH_MAX]; /* Receive buffers, */
    struct packet_pool *rx_pool;              /* from this pool. */

    char *tx_path;            /* Output path, or NULL. */
    FILE *tx_file;            /* Output once started. */
    bool tx_failed;           /* Output broken (no start or a failed write). */
    bool tx_nsec;             /* Write ns timestamps. */
    pcap_t *tx_dead;          /* Dead handle for dumping. */
    pcap_dumper_t *tx_dumper; /* NULL until the header. */
    unsigned int tx_count;    /* Packets in 'tx_pkts'. */
    struct packet *tx_pkts[PACKET_BATCH_MAX]; /* Transmit queue, */
    struct packet_pool *tx_pool;              /* from this pool. */
};

static struct pport *
pport_cast(const struct port *port)
{
    return CONTAINER_OF(port, struct pport, up);
}

/* The parsed ARGS of a spec. */
struct pport_args {
    char *rx; /* rx= value or NULL (owned). */
    char *tx; /* tx= value or NULL (owned). */
};

static void
pport_args_destroy(struct pport_args *a)
{
    free(a->rx);
    free(a->tx);
}

/* Parses "rx=FILE,tx=FILE" into 'a'.  Returns NULL or an error with
 * '*err_col' (1-based in 'args'). */
static char *
pport_args_parse(const char *args, struct pport_args *a, int *err_col)
{
    const char *p = args;

    a->rx = a->tx = NULL;
    *err_col = 1;
    if (!*p) {
        return xstrdup("pcap port needs rx=FILE and/or tx=FILE");
    }
    for (;;) {
        size_t len = strcspn(p, ",");
        const char *eq = memchr(p, '=', len);
        char **slot;

        *err_col = (int)(p - args) + 1;
        if (!eq) {
            return xasprintf("expected rx=FILE or tx=FILE, got '%.*s'",
                             (int)len, p);
        }
        if (eq - p == 2 && !strncmp(p, "rx", 2)) {
            slot = &a->rx;
        } else if (eq - p == 2 && !strncmp(p, "tx", 2)) {
            slot = &a->tx;
        } else {
            return xasprintf("unknown pcap port option '%.*s' (rx, tx)",
                             (int)(eq - p), p);
        }
        if (*slot) {
            return xasprintf("%.2s given twice", p);
        }
        if (eq + 1 == p + len) {
            *err_col = (int)(eq + 1 - args) + 1;
            return xasprintf("%.2s= needs a file name", p);
        }
        *slot = xasprintf("%.*s", (int)(p + len - (eq + 1)), eq + 1);
        p += len;
        if (!*p) {
            break;
        }
        p++;
        if (!*p) {
            *err_col = (int)(p - args) + 1;
            return xstrdup("trailing ','");
        }
    }
    return NULL;
}

static char *
pport_check(const char *args, int *err_col)
{
    struct pport_args a;
    char *error = pport_args_parse(args, &a, err_col);

    if (!error && a.rx && a.tx && !strcmp(a.rx, a.tx)) {
        *err_col = 1;
        error = xstrdup("rx and tx must be different files");
    }
    pport_args_destroy(&a);
    return error;
}

static char *
pport_file(const char *args, const char *base_dir, bool tx)
{
    struct pport_args a;
    char *error;
    char *path = NULL;
    int col;

    error = pport_args_parse(args, &a, &col);
    if (!error && (tx ? a.tx : a.rx)) {
        path = port_resolve_path(base_dir, tx ? a.tx : a.rx);
    }
    free(error);
    pport_args_destroy(&a);
    return path;
}

/* Reads the magic number of 'path' to learn its native precision.  Files
 * that are not plain pcap (pcapng) count as nanosecond: writing ns loses
 * nothing. */
static bool
pport_file_is_nsec(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint32_t magic = 0;
    bool nsec = false;

    if (f) {
        if (fread(&magic, sizeof magic, 1, f) == 1) {
            nsec = magic != PCAP_MAGIC_USEC &&
                   magic != __builtin_bswap32(PCAP_MAGIC_USEC);
        }
        fclose(f);
    }
    return nsec;
}

static void
pport_free(struct pport *pp)
{
    packet_pool_destroy(pp->rx_pool);
    packet_pool_destroy(pp->tx_pool);
    if (pp->rx) {
        pcap_close(pp->rx);
    }
    if (pp->tx_dumper) {
        pcap_dump_close(pp->tx_dumper);
    } else if (pp->tx_file) {
        fclose(pp->tx_file);
    }
    if (pp->tx_dead) {
        pcap_close(pp->tx_dead);
    }
    free(pp->rx_path);
    free(pp->tx_path);
    free(pp);
}

static int
pport_open_rx(struct pport *pp, char **errp)
{
    char errbuf[PCAP_ERRBUF_SIZE];
    int dlt;

    errbuf[0] = '\0';
    pp->rx = pcap_open_offline_with_tstamp_precision(
        pp->rx_path, PCAP_TSTAMP_PRECISION_NANO, errbuf);
    if (!pp->rx) {
        /* libpcap names the file in some messages but not in others. */
        *errp = strstr(errbuf, pp->rx_path)
                    ? xstrdup(errbuf)
                    : xasprintf("%s: %s", pp->rx_path, errbuf);
        return -EINVAL;
    }
    dlt = pcap_datalink(pp->rx);
    if (dlt != DLT_EN10MB) {
        const char *name = pcap_datalink_val_to_name(dlt);

        *errp = xasprintf("%s: link type %d (%s) is not Ethernet; only "
                          "Ethernet captures are supported",
                          pp->rx_path, dlt, name ? name : "unknown");
        return -EPROTONOSUPPORT;
    }
    pp->rx_nsec = pport_file_is_nsec(pp->rx_path);
    return port_ring_create(pp->rx_path, &pp->rx_pool, pp->rx_pkts, errp);
}

/* Checks that the output can be created (or overwritten) without
 * touching it. */
static int
pport_open_tx(struct pport *pp, char **errp)
{
    struct stat st;
    int err = 0;

    if (!stat(pp->tx_path, &st)) {
        if (S_ISDIR(st.st_mode)) {
            err = EISDIR;
        } else if (access(pp->tx_path, W_OK)) {
            err = errno;
        }
    } else if (errno != ENOENT) {
        err = errno;
    } else {
        char *dir = xstrdup(pp->tx_path);
        char *slash = strrchr(dir, '/');

        if (slash == dir) {
            slash[1] = '\0';
        } else if (slash) {
            *slash = '\0';
        } else {
            strcpy(dir, ".");
        }
        if (access(dir, W_OK | X_OK)) {
            err = errno;
        }
        free(dir);
    }
    if (err) {
        *errp = xasprintf("%s: %s", pp->tx_path, strerror(err));
        return -err;
    }
    return port_ring_create(pp->tx_path, &pp->tx_pool, pp->tx_pkts, errp);
}

static int
pport_open(const char *args, const char *base_dir, struct port **portp,
           char **errp)
{
    struct pport *pp;
    struct pport_args a;
    int err = 0;
    int col;

    *errp = pport_args_parse(args, &a, &col);
    if (*errp) {
        pport_args_destroy(&a);
        return -EINVAL;
    }
    pp = xzalloc(sizeof *pp);
    pp->rx_path = a.rx ? port_resolve_path(base_dir, a.rx) : NULL;
    pp->tx_path = a.tx ? port_resolve_path(base_dir, a.tx) : NULL;
    pport_args_destroy(&a);

    if (pp->rx_path && pp->tx_path && !strcmp(pp->rx_path, pp->tx_path)) {
        *errp = xstrdup("rx and tx must be different files");
        err = -EINVAL;
    }
    if (!err && pp->rx_path) {
        err = pport_open_rx(pp, errp);
    }
    if (!err && pp->tx_path) {
        err = pport_open_tx(pp, errp);
    }
    if (err) {
        pport_free(pp);
        return err;
    }
    *portp = &pp->up;
    return 0;
}

static bool
pport_can_rx(const struct port *port)
{
    return pport_cast(port)->rx != NULL;
}

static bool
pport_can_tx(const struct port *port)
{
    return pport_cast(port)->tx_path != NULL;
}

static int
pport_rx_batch(struct port *port, struct packet_batch *b)
{
    struct pport *pp = pport_cast(port);

    while (!pp->rx_eof && b->count < PACKET_BATCH_MAX) {
        struct packet *p = pp->rx_pkts[b->count];
        struct pcap_pkthdr *hdr;
        const u_char *data;
        int ret = pcap_next_ex(pp->rx, &hdr, &data);

        if (ret == 1) {
            packet_set_data(p, data, hdr->caplen);
            p->in_port = port->number;
            p->ts_ns = (uint64_t)hdr->ts.tv_sec * 1000000000ull +
                       (uint64_t)hdr->ts.tv_usec;
            /* orig_len tells a truncated capture apart: the wire length
             * when bytes are missing, 0 when the frame is complete. */
            p->orig_len = hdr->len > hdr->caplen
                              ? (uint16_t)MIN(hdr->len, UINT16_MAX)
                              : 0;
            port->stats.rx_packets++;
            port->stats.rx_bytes += hdr->caplen;
            packet_batch_add(b, p);
        } else if (ret == PCAP_ERROR_BREAK) {
            pp->rx_eof = true;
        } else {
            /* A damaged record (e.g. a file cut short): what came before
             * it is delivered, the rest of the file is lost. */
            LOG_WARN("%s: %s; stopped reading after %llu packets", pp->rx_path,
                     pcap_geterr(pp->rx),
                     (unsigned long long)port->stats.rx_packets);
            port->stats.errors++;
            pp->rx_eof = true;
        }
    }
    return (int)b->count;
}

/* Writes the pcap header now that the precision is settled. */
static int
pport_start_dump(struct pport *pp)
{
    if (pp->tx_failed) {
        return -EIO;
    }
    if (!pp->tx_file) {
        pp->tx_file = fopen(pp->tx_path, "wb");
        if (!pp->tx_file) {
            int err = errno;

            LOG_ERR("%s: %s", pp->tx_path, strerror(err));
            pp->tx_failed = true;
            return -err;
        }
        setvbuf(pp->tx_file, NULL, _IOFBF, PPORT_FILE_BUFFER);
    }
    if (!pp->tx_dead) {
        pp->tx_dead = pcap_open_dead_with_tstamp_precision(
            DLT_EN10MB, PCAP_SNAPLEN,
            pp->tx_nsec ? PCAP_TSTAMP_PRECISION_NANO
                        : PCAP_TSTAMP_PRECISION_MICRO);
    }
    if (!pp->tx_dead) {
        return -ENOMEM;
    }
    pp->tx_dumper = pcap_dump_fopen(pp->tx_dead, pp->tx_file);
    if (!pp->tx_dumper) {
        LOG_ERR("%s: %s", pp->tx_path, pcap_geterr(pp->tx_dead));
        pp->tx_failed = true;
        return -EIO;
    }
    return 0;
}

/* Marks the output broken after a failed write: logged once, and from
 * now on every packet is counted as an error instead of written. */
static void
pport_tx_broken(struct pport *pp, int err)
{
    if (!pp->tx_failed) {
        LOG_ERR("%s: write error: %s; dropping further output", pp->tx_path,
                strerror(err));
        pp->tx_failed = true;
    }
}

/* Hands the transmit queue to the file's buffer, which the C library
 * writes out in PPORT_FILE_BUFFER chunks (a write per chunk, not per
 * batch). */
static int
pport_write_queue(struct port *port)
{
    struct pport *pp = pport_cast(port);
    unsigned int n = pp->tx_count;

    pp->tx_count = 0;
    if (!pp->tx_dumper && pport_start_dump(pp)) {
        port->stats.errors += n;
        return -EIO;
    }
    if (pp->tx_failed) {
        port->stats.errors += n;
        return -EIO;
    }
    errno = 0;
    for (unsigned int i = 0; i < n; i++) {
        const struct packet *p = pp->tx_pkts[i];
        struct pcap_pkthdr hdr;
        uint64_t frac = p->ts_ns % 1000000000ull;

        hdr.ts.tv_sec = (time_t)(p->ts_ns / 1000000000ull);
        hdr.ts.tv_usec = (suseconds_t)(pp->tx_nsec ? frac : frac / 1000);
        hdr.caplen = MIN(p->len, PCAP_SNAPLEN);
        hdr.len = MAX(p->len, p->orig_len);
        pcap_dump((u_char *)pp->tx_dumper, &hdr, packet_data(p));
        port->stats.tx_packets++;
        port->stats.tx_bytes += p->len;
    }
    if (ferror(pp->tx_file)) {
        /* This batch (at least) did not reach the file. */
        pport_tx_broken(pp, errno ? errno : EIO);
        port->stats.tx_packets -= n;
        for (unsigned int i = 0; i < n; i++) {
            port->stats.tx_bytes -= pp->tx_pkts[i]->len;
        }
        port->stats.errors += n;
        return -EIO;
    }
    return 0;
}

static int
pport_flush(struct port *port)
{
    struct pport *pp = pport_cast(port);

    if (!pp->tx_path || (!pp->tx_dumper && !pp->tx_count)) {
        return 0;
    }
    return pport_write_queue(port);
}

static int
pport_tx(struct port *port, const struct packet *p)
{
    struct pport *pp = pport_cast(port);
    struct packet *q;

    if (pp->tx_count == PACKET_BATCH_MAX) {
        pport_write_queue(port);
    }
    q = pp->tx_pkts[pp->tx_count++];
    packet_set_data(q, packet_data(p), p->len);
    q->ts_ns = p->ts_ns;
    q->orig_len = p->orig_len;
    return 0;
}

static void
pport_set_tx_nsec(struct port *port, bool nsec)
{
    struct pport *pp = pport_cast(port);

    if (pp->tx_path && !pp->tx_dumper) {
        pp->tx_nsec = nsec;
        if (pport_start_dump(pp)) {
            port->stats.errors++;
        }
    }
}

static bool
pport_rx_nsec(const struct port *port)
{
    return pport_cast(port)->rx_nsec;
}

static int
pport_close_port(struct port *port)
{
    struct pport *pp = pport_cast(port);
    int err = pport_flush(port);

    if (!err && pp->tx_dumper && pcap_dump_flush(pp->tx_dumper)) {
        err = -errno;
        pport_tx_broken(pp, errno);
    }
    if (!err && pp->tx_failed) {
        err = -EIO;
    }
    pport_free(pp);
    return err;
}

const struct port_class port_pcap_class = {
    .type = "pcap",
    .check = pport_check,
    .open = pport_open,
    .rx_batch = pport_rx_batch,
    .tx = pport_tx,
    .can_rx = pport_can_rx,
    .can_tx = pport_can_tx,
    .flush = pport_flush,
    .set_tx_nsec = pport_set_tx_nsec,
    .rx_nsec = pport_rx_nsec,
    .file = pport_file,
    .close = pport_close_port,
};
