/* TAP ports: "tap:NAME".
 *
 * Opens /dev/net/tun with IFF_TAP | IFF_NO_PI | IFF_VNET_HDR and attaches
 * to the TAP device NAME, creating it if it does not exist (a device we
 * create lives as long as the port, and is brought up on open; an existing
 * persistent one is left as it was found, up or down, on close).
 *
 * Frames the kernel transmits on the device are what we receive, one
 * read() each; with TUNSETOFFLOAD the kernel may hand us checksum-partial
 * frames and TCP super-frames (it then skips segmenting them itself), which
 * offload.c completes and segments exactly as for afpacket.  A super-frame
 * is read into a port-owned 64 KiB buffer and its segments are handed out
 * across rx_batch() calls.  Frames we send carry a virtio_net_hdr saying
 * "nothing to do" and are written one write() each when flushed.
 *
 * A TAP device has no ring to share, so this port costs one system call
 * per frame each way; it is meant for VMs and tests, not for speed. */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "offload.h"
#include "port_live.h"

LOG_DEFINE_MODULE(port_tap);

#define TAP_MAX_FRAME (65536 + 14 + 8) /* Largest super-frame, in bytes. */

struct tap {
    struct port up;           /* Generic part. */
    char ifname[IF_NAMESIZE]; /* Device name. */
    int fd;                   /* /dev/net/tun file. */
    bool set_up;              /* We brought the device up. */

    uint8_t *rx_buf;           /* vnet header + frame being read. */
    bool rx_in_seg;            /* Segmenting the frame in 'rx_buf'. */
    struct offload_seg rx_seg; /* Its iterator. */
    uint64_t rx_seg_ts;        /* Its timestamp, ns. */
    struct packet *rx_pkts[PACKET_BATCH_MAX]; /* Receive buffers, */
    struct packet_pool *rx_pool;              /* from this pool. */
    struct log_rl rx_rl;                      /* Limits bad-frame warnings. */

    unsigned int tx_count;                    /* Frames in 'tx_pkts'. */
    struct packet *tx_pkts[PACKET_BATCH_MAX]; /* Transmit queue, */
    struct packet_pool *tx_pool;              /* from this pool. */
};

static struct tap *
tap_cast(const struct port *port)
{
    return CONTAINER_OF(port, struct tap, up);
}

static char *
tap_check(const char *args, int *err_col)
{
    return port_ifname_check(args, strlen(args), err_col);
}

static void
tap_free(struct tap *tp)
{
    packet_pool_destroy(tp->rx_pool);
    packet_pool_destroy(tp->tx_pool);
    if (tp->fd >= 0) {
        close(tp->fd);
    }
    free(tp->rx_buf);
    free(tp);
}

/* Brings the device up ('up') if it is down, or down if it is up.
 * Returns whether it changed anything. */
static bool
tap_set_up(const struct tap *tp, bool up)
{
    struct ifreq ifr;
    bool changed = false;
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    if (s < 0) {
        return false;
    }
    memset(&ifr, 0, sizeof ifr);
    memcpy(ifr.ifr_name, tp->ifname, sizeof tp->ifname);
    if (!ioctl(s, SIOCGIFFLAGS, &ifr) && !(ifr.ifr_flags & IFF_UP) == up) {
        ifr.ifr_flags =
            (short)(up ? ifr.ifr_flags | IFF_UP : ifr.ifr_flags & ~IFF_UP);
        changed = !ioctl(s, SIOCSIFFLAGS, &ifr);
    }
    close(s);
    return changed;
}

static int
tap_open(const char *args, const char *base_dir, struct port **portp,
         char **errp)
{
    struct tap *tp = xzalloc(sizeof *tp);
    unsigned int offloads = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
    int vnet_len = OFFLOAD_VNET_HDR_LEN;
    struct ifreq ifr;
    char *what;
    int err;

    snprintf(tp->ifname, sizeof tp->ifname, "%s", args);
    tp->rx_rl = (struct log_rl)LOG_RL_INIT(1, 5);
    tp->fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (tp->fd < 0) {
        err = -errno;
        *errp =
            xasprintf("tap:%s: /dev/net/tun: %s", tp->ifname, strerror(errno));
        tap_free(tp);
        return err;
    }
    memset(&ifr, 0, sizeof ifr);
    memcpy(ifr.ifr_name, tp->ifname, sizeof tp->ifname);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
    if (ioctl(tp->fd, TUNSETIFF, &ifr) < 0 ||
        ioctl(tp->fd, TUNSETVNETHDRSZ, &vnet_len) < 0) {
        err = -errno;
        *errp = xasprintf("tap:%s: cannot attach: %s%s", tp->ifname,
                          strerror(errno),
                          errno == EBUSY ? " (device in use, or a TUN)" : "");
        tap_free(tp);
        return err;
    }
    /* Offloads are an optimisation: without them the kernel segments and
     * checksums before handing frames over. */
    if (ioctl(tp->fd, TUNSETOFFLOAD, offloads) < 0) {
        LOG_INFO("tap:%s: no offloads: %s", tp->ifname, strerror(errno));
    }
    tp->set_up = tap_set_up(tp, true);
    tp->rx_buf = xmalloc(OFFLOAD_VNET_HDR_LEN + TAP_MAX_FRAME);
    what = xasprintf("tap:%s", tp->ifname);
    err = port_ring_create(what, &tp->rx_pool, tp->rx_pkts, errp);
    if (!err) {
        err = port_ring_create(what, &tp->tx_pool, tp->tx_pkts, errp);
    }
    free(what);
    if (err) {
        tap_free(tp);
        return err;
    }
    *portp = &tp->up;
    return 0;
}

/* Reads one frame.  Returns 1 if a packet was added to 'b' or segmenting
 * started, 0 if nothing is ready, or a negative errno. */
static int
tap_read_one(struct tap *tp, struct packet_batch *b, uint64_t ts)
{
    ssize_t n = read(tp->fd, tp->rx_buf, OFFLOAD_VNET_HDR_LEN + TAP_MAX_FRAME);
    const uint8_t *frame = tp->rx_buf + OFFLOAD_VNET_HDR_LEN;
    struct offload_meta meta;
    struct packet *p;
    uint32_t len;

    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) {
            return 0;
        }
        tp->up.stats.errors++;
        return -errno;
    }
    if (n <= OFFLOAD_VNET_HDR_LEN ||
        offload_meta_from_vnet(tp->rx_buf, &meta)) {
        tp->up.stats.errors++;
        return 1;
    }
    len = (uint32_t)n - OFFLOAD_VNET_HDR_LEN;
    if (meta.gso != OFFLOAD_GSO_NONE) {
        if (offload_seg_init(&tp->rx_seg, frame, len, &meta)) {
            if (log_rl_allow(&tp->rx_rl)) {
                LOG_WARN("tap:%s: dropped a GSO frame that cannot be "
                         "segmented",
                         tp->ifname);
            }
            tp->up.stats.errors++;
            return 1;
        }
        tp->rx_in_seg = true;
        tp->rx_seg_ts = ts;
        return 1;
    }
    p = tp->rx_pkts[b->count];
    packet_set_data(p, frame, len);
    if (meta.needs_csum &&
        offload_csum_complete(packet_data(p), len, meta.csum_start,
                              meta.csum_offset)) {
        tp->up.stats.errors++;
        return 1;
    }
    p->in_port = tp->up.number;
    p->ts_ns = ts;
    tp->up.stats.rx_packets++;
    tp->up.stats.rx_bytes += len;
    packet_batch_add(b, p);
    return 1;
}

static int
tap_rx_batch(struct port *port, struct packet_batch *b)
{
    struct tap *tp = tap_cast(port);
    uint64_t ts;

    port_clock_ns(&ts);
    while (b->count < PACKET_BATCH_MAX) {
        int n;

        if (tp->rx_in_seg) {
            struct packet *p = tp->rx_pkts[b->count];

            if (!offload_seg_next(&tp->rx_seg, p)) {
                tp->rx_in_seg = false;
                continue;
            }
            p->in_port = port->number;
            p->ts_ns = tp->rx_seg_ts;
            port->stats.rx_packets++;
            port->stats.rx_bytes += p->len;
            packet_batch_add(b, p);
            continue;
        }
        n = tap_read_one(tp, b, ts);
        if (n < 0) {
            return b->count ? (int)b->count : n;
        }
        if (!n) {
            break;
        }
    }
    return (int)b->count;
}

static int
tap_flush(struct port *port)
{
    struct tap *tp = tap_cast(port);
    uint8_t vnet[OFFLOAD_VNET_HDR_LEN];
    int err = 0;

    offload_vnet_hdr_none(vnet);
    for (unsigned int i = 0; i < tp->tx_count; i++) {
        struct packet *p = tp->tx_pkts[i];
        struct iovec iov[2] = {
            {vnet, sizeof vnet},
            {packet_data(p), p->len},
        };

        if (writev(tp->fd, iov, 2) < 0) {
            /* EIO: the device is down; the kernel drops such frames too. */
            if (errno == EIO || errno == EAGAIN) {
                port->stats.drops++;
            } else {
                port->stats.errors++;
                err = -errno;
            }
            continue;
        }
        port->stats.tx_packets++;
        port->stats.tx_bytes += p->len;
    }
    tp->tx_count = 0;
    return err;
}

static int
tap_tx(struct port *port, const struct packet *p)
{
    struct tap *tp = tap_cast(port);
    struct packet *q;

    if (tp->tx_count == PACKET_BATCH_MAX) {
        int err = tap_flush(port);

        if (err) {
            return err;
        }
    }
    q = tp->tx_pkts[tp->tx_count++];
    packet_set_data(q, packet_data(p), p->len);
    return 0;
}

static bool
tap_true(const struct port *port)
{
    return true;
}

static int
tap_fd(const struct port *port)
{
    return tap_cast(port)->fd;
}

static int
tap_close(struct port *port)
{
    struct tap *tp = tap_cast(port);
    int err = tap_flush(port);

    /* A device we created vanishes with the file; one that existed goes
     * back to the state we found it in. */
    if (tp->set_up) {
        tap_set_up(tp, false);
    }
    tap_free(tp);
    return err;
}

const struct port_class port_tap_class = {
    .type = "tap",
    .check = tap_check,
    .open = tap_open,
    .rx_batch = tap_rx_batch,
    .tx = tap_tx,
    .can_rx = tap_true,
    .can_tx = tap_true,
    .flush = tap_flush,
    .rx_nsec = tap_true,
    .fd = tap_fd,
    .close = tap_close,
};
