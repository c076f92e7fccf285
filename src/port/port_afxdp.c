/* AF_XDP ports: "afxdp:IFNAME[,queue=Q]".
 *
 * One XSK socket on receive queue Q (default 0) of IFNAME, created with
 * libxdp's xsk API, which also loads and attaches its default XDP program
 * (redirect every frame of the queue to the socket) and detaches it when
 * the last socket on the interface goes away.  The kernel picks the mode:
 * zero-copy where the driver supports it, copy mode otherwise (veth).
 * The socket is bound with XDP_USE_NEED_WAKEUP, so a system call is made
 * only when the kernel asks for one.
 *
 * The UMEM (shared packet memory) holds AFX_NUM_FRAMES frames of
 * AFX_FRAME_SIZE bytes.  The first half is for receive: all of it starts on
 * the fill ring; rx_batch() copies each received frame into one of the
 * port's own packets and gives the frame straight back to the fill ring,
 * so receive buffers never leak whatever the pipeline does with its
 * packets.  The second half is for transmit: free frames wait on a stack;
 * tx copies into one and writes a descriptor to the TX ring, flush submits
 * the descriptors and kicks the kernel, and frames come back through the
 * completion ring, reaped on every flush and rx_batch.
 *
 * XDP sees frames before the kernel does any offload work, and AF_XDP
 * passes on no offload metadata: a TCP frame from a veth peer with
 * checksum offload on (the default) reaches us with only its pseudo-header
 * sum in the checksum field.  offload_csum_fix_partial() recognises that
 * form and completes the checksum, so TCP between namespaces works without
 * touching the peers' offload settings.  (Super-frames do not arise: the
 * kernel stops a veth peer from sending GSO frames while an XDP program is
 * attached.)
 *
 * The interface is put in promiscuous mode through a PACKET_MR_PROMISC
 * membership of an AF_PACKET socket with protocol 0 (it never receives):
 * the kernel drops the membership with the socket, restoring the
 * interface's earlier state on close. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_link.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bpf/libbpf.h>
#include <xdp/libxdp.h>
#include <xdp/xsk.h>

#include "core/log.h"
#include "core/util.h"
#include "offload.h"
#include "port_live.h"

LOG_DEFINE_MODULE(port_afxdp);

#define AFX_FRAME_SIZE XSK_UMEM__DEFAULT_FRAME_SIZE /* Bytes per frame. */
#define AFX_NUM_FRAMES 8192                         /* Frames in the UMEM. */
#define AFX_RX_FRAMES (AFX_NUM_FRAMES / 2)          /* Of which receive. */
#define AFX_RING_SIZE 4096                          /* Descriptors/ring. */
#define AFX_QUEUE_MAX 65535

struct afx {
    struct port up;           /* Generic part. */
    char ifname[IF_NAMESIZE]; /* Interface name. */
    uint32_t queue;           /* Receive queue. */
    int promisc_fd;           /* Holds the promiscuous membership. */

    void *umem_area;           /* Frame memory. */
    struct xsk_umem *umem;     /* The UMEM. */
    struct xsk_socket *xsk;    /* The socket. */
    struct xsk_ring_prod fill; /* Frames the kernel may receive into. */
    struct xsk_ring_cons comp; /* Frames the kernel has sent. */
    struct xsk_ring_cons rx;   /* Received frames. */
    struct xsk_ring_prod tx;   /* Frames to send. */

    uint64_t tx_free[AFX_NUM_FRAMES - AFX_RX_FRAMES]; /* Free tx frames. */
    uint32_t tx_n_free;      /* Entries in 'tx_free'. */
    uint32_t tx_pending;     /* Descriptors written, not submitted. */
    uint32_t tx_outstanding; /* Submitted, not completed. */

    struct packet *rx_pkts[PACKET_BATCH_MAX]; /* Receive buffers, */
    struct packet_pool *rx_pool;              /* from this pool. */
};

static struct afx *
afx_cast(const struct port *port)
{
    return CONTAINER_OF(port, struct afx, up);
}

/* The parsed ARGS of a spec. */
struct afx_args {
    char ifname[IF_NAMESIZE]; /* Interface. */
    uint32_t queue;           /* Receive queue. */
};

static char *
afx_args_parse(const char *args, struct afx_args *a, int *err_col)
{
    size_t len = strcspn(args, ",");
    const char *p;
    char *error;

    memset(a, 0, sizeof *a);
    error = port_ifname_check(args, len, err_col);
    if (error) {
        return error;
    }
    memcpy(a->ifname, args, len);
    p = args + len;
    while (*p) {
        const char *opt = ++p;
        size_t olen = strcspn(opt, ",");
        unsigned long q = 0;
        const char *v;

        *err_col = (int)(opt - args) + 1;
        if (!olen) {
            return xstrdup(*opt ? "empty option" : "trailing ','");
        }
        if (olen < 6 || strncmp(opt, "queue=", 6)) {
            return xasprintf("unknown afxdp port option '%.*s' (queue=Q)",
                             (int)strcspn(opt, ",="), opt);
        }
        v = opt + 6;
        *err_col = (int)(v - args) + 1;
        if (v == opt + olen) {
            return xstrdup("queue= needs a number");
        }
        for (const char *c = v; c < opt + olen; c++) {
            if (*c < '0' || *c > '9') {
                *err_col = (int)(c - args) + 1;
                return xasprintf("queue: expected a decimal number, got "
                                 "'%.*s'",
                                 (int)(opt + olen - v), v);
            }
            q = q * 10 + (unsigned long)(*c - '0');
            if (q > AFX_QUEUE_MAX) {
                return xasprintf("queue %.*s out of range 0..%d",
                                 (int)(opt + olen - v), v, AFX_QUEUE_MAX);
            }
        }
        a->queue = (uint32_t)q;
        p = opt + olen;
    }
    return NULL;
}

static char *
afx_check(const char *args, int *err_col)
{
    struct afx_args a;

    return afx_args_parse(args, &a, err_col);
}

static int
afx_lib_vlog(const char *fmt, va_list args)
{
    if (log_module_.level >= LOG_LEVEL_DBG) {
        char *msg = xvasprintf(fmt, args);

        LOG_DBG("%s", msg);
        free(msg);
    }
    return 0;
}

static int
afx_bpf_print(enum libbpf_print_level level, const char *fmt, va_list args)
{
    return afx_lib_vlog(fmt, args);
}

static int
afx_xdp_print(enum libxdp_print_level level, const char *fmt, va_list args)
{
    return afx_lib_vlog(fmt, args);
}

static void
afx_free(struct afx *xp)
{
    packet_pool_destroy(xp->rx_pool);
    if (xp->xsk) {
        libbpf_print_fn_t old_bpf_print = libbpf_set_print(afx_bpf_print);
        libxdp_print_fn_t old_xdp_print = libxdp_set_print(afx_xdp_print);

        xsk_socket__delete(xp->xsk);
        libbpf_set_print(old_bpf_print);
        libxdp_set_print(old_xdp_print);
    }
    if (xp->umem) {
        xsk_umem__delete(xp->umem);
    }
    if (xp->umem_area) {
        munmap(xp->umem_area, (size_t)AFX_NUM_FRAMES * AFX_FRAME_SIZE);
    }
    if (xp->promisc_fd >= 0) {
        close(xp->promisc_fd);
    }
    free(xp);
}

static int
afx_promisc(struct afx *xp, char **errp)
{
    struct packet_mreq mreq = {
        .mr_ifindex = (int)if_nametoindex(xp->ifname),
        .mr_type = PACKET_MR_PROMISC,
    };
    int err;

    xp->promisc_fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (xp->promisc_fd < 0 ||
        setsockopt(xp->promisc_fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mreq,
                   sizeof mreq) < 0) {
        err = -errno;
        *errp = xasprintf("afxdp:%s: promiscuous mode: %s", xp->ifname,
                          strerror(errno));
        return err;
    }
    return 0;
}

static int
afx_open(const char *args, const char *base_dir, struct port **portp,
         char **errp)
{
    struct xsk_umem_config ucfg = {
        .fill_size = AFX_RING_SIZE,
        .comp_size = AFX_RING_SIZE,
        .frame_size = AFX_FRAME_SIZE,
        .frame_headroom = 0,
    };
    struct xsk_socket_config scfg = {
        .rx_size = AFX_RING_SIZE,
        .tx_size = AFX_RING_SIZE,
        .bind_flags = XDP_USE_NEED_WAKEUP,
    };
    size_t area_size = (size_t)AFX_NUM_FRAMES * AFX_FRAME_SIZE;
    struct afx *xp = xzalloc(sizeof *xp);
    libbpf_print_fn_t old_bpf_print;
    libxdp_print_fn_t old_xdp_print;
    struct afx_args a;
    uint32_t idx;
    int col, err;
    char *error, *what;

    xp->promisc_fd = -1;
    error = afx_args_parse(args, &a, &col);
    if (error) {
        *errp = error;
        afx_free(xp);
        return -EINVAL;
    }
    memcpy(xp->ifname, a.ifname, sizeof xp->ifname);
    xp->queue = a.queue;
    if (!if_nametoindex(xp->ifname)) {
        *errp = xasprintf("afxdp:%s: no such interface", xp->ifname);
        afx_free(xp);
        return -ENODEV;
    }
    xp->umem_area = mmap(NULL, area_size, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (xp->umem_area == MAP_FAILED) {
        xp->umem_area = NULL;
        *errp = xasprintf("afxdp:%s: cannot map %zu bytes of UMEM", xp->ifname,
                          area_size);
        afx_free(xp);
        return -ENOMEM;
    }
    err = xsk_umem__create(&xp->umem, xp->umem_area, area_size, &xp->fill,
                           &xp->comp, &ucfg);
    if (err) {
        xp->umem = NULL;
        *errp = xasprintf("afxdp:%s: cannot create UMEM: %s", xp->ifname,
                          strerror(-err));
        afx_free(xp);
        return err;
    }
    /* libbpf and libxdp chatter on stderr while loading the default
     * program (unknown ELF sections, no bpffs inside `ip netns exec`);
     * route that to our debug log for the duration. */
    old_bpf_print = libbpf_set_print(afx_bpf_print);
    old_xdp_print = libxdp_set_print(afx_xdp_print);
    err = xsk_socket__create(&xp->xsk, xp->ifname, xp->queue, xp->umem, &xp->rx,
                             &xp->tx, &scfg);
    libbpf_set_print(old_bpf_print);
    libxdp_set_print(old_xdp_print);
    if (err) {
        xp->xsk = NULL;
        *errp = xasprintf("afxdp:%s: cannot create XSK socket on queue %u: "
                          "%s",
                          xp->ifname, xp->queue, strerror(-err));
        afx_free(xp);
        return err;
    }
    err = afx_promisc(xp, errp);
    if (err) {
        afx_free(xp);
        return err;
    }

    /* Hand every receive frame to the kernel. */
    if (xsk_ring_prod__reserve(&xp->fill, AFX_RX_FRAMES, &idx) !=
        AFX_RX_FRAMES) {
        *errp = xasprintf("afxdp:%s: fill ring too small", xp->ifname);
        afx_free(xp);
        return -ENOSPC;
    }
    for (uint32_t i = 0; i < AFX_RX_FRAMES; i++) {
        *xsk_ring_prod__fill_addr(&xp->fill, idx + i) =
            (uint64_t)i * AFX_FRAME_SIZE;
    }
    xsk_ring_prod__submit(&xp->fill, AFX_RX_FRAMES);
    for (uint32_t i = AFX_RX_FRAMES; i < AFX_NUM_FRAMES; i++) {
        xp->tx_free[xp->tx_n_free++] = (uint64_t)i * AFX_FRAME_SIZE;
    }
    what = xasprintf("afxdp:%s", xp->ifname);
    err = port_ring_create(what, &xp->rx_pool, xp->rx_pkts, errp);
    free(what);
    if (err) {
        afx_free(xp);
        return err;
    }
    *portp = &xp->up;
    return 0;
}

/* Takes back transmit frames the kernel has finished with. */
static void
afx_reap_completions(struct afx *xp)
{
    uint32_t idx;
    uint32_t n;

    if (!xp->tx_outstanding) {
        return;
    }
    n = xsk_ring_cons__peek(&xp->comp, AFX_RING_SIZE, &idx);
    for (uint32_t i = 0; i < n; i++) {
        xp->tx_free[xp->tx_n_free++] =
            *xsk_ring_cons__comp_addr(&xp->comp, idx + i);
    }
    xsk_ring_cons__release(&xp->comp, n);
    xp->tx_outstanding -= n;
}

static void
afx_kick_tx(struct afx *xp)
{
    if (xsk_ring_prod__needs_wakeup(&xp->tx)) {
        sendto(xsk_socket__fd(xp->xsk), NULL, 0, MSG_DONTWAIT, NULL, 0);
    }
}

static int
afx_rx_batch(struct port *port, struct packet_batch *b)
{
    struct afx *xp = afx_cast(port);
    uint32_t idx_rx, idx_fill;
    uint64_t ts;
    uint32_t n;

    afx_reap_completions(xp);
    /* Copy mode sends only when kicked; keep unfinished sends moving. */
    if (xp->tx_outstanding) {
        afx_kick_tx(xp);
    }
    n = xsk_ring_cons__peek(&xp->rx, PACKET_BATCH_MAX, &idx_rx);
    if (!n) {
        if (xsk_ring_prod__needs_wakeup(&xp->fill)) {
            recvfrom(xsk_socket__fd(xp->xsk), NULL, 0, MSG_DONTWAIT, NULL,
                     NULL);
        }
        return 0;
    }
    port_clock_ns(&ts);
    /* The fill ring has room for every receive frame, so this succeeds;
     * should it not, the frames stay on the rx ring for the next call. */
    if (xsk_ring_prod__reserve(&xp->fill, n, &idx_fill) != n) {
        xsk_ring_cons__cancel(&xp->rx, n);
        return 0;
    }
    for (uint32_t i = 0; i < n; i++) {
        const struct xdp_desc *d = xsk_ring_cons__rx_desc(&xp->rx, idx_rx + i);
        uint64_t addr = xsk_umem__extract_addr(d->addr);
        struct packet *p = xp->rx_pkts[i];

        packet_set_data(
            p,
            xsk_umem__get_data(xp->umem_area,
                               xsk_umem__add_offset_to_addr(d->addr)),
            d->len);
        offload_csum_fix_partial(packet_data(p), p->len);
        p->in_port = port->number;
        p->ts_ns = ts;
        port->stats.rx_bytes += d->len;
        packet_batch_add(b, p);
        /* Frames are handed back whole: align to the frame start. */
        *xsk_ring_prod__fill_addr(&xp->fill, idx_fill + i) =
            addr - addr % AFX_FRAME_SIZE;
    }
    xsk_ring_prod__submit(&xp->fill, n);
    xsk_ring_cons__release(&xp->rx, n);
    port->stats.rx_packets += n;
    return (int)n;
}

static int
afx_tx(struct port *port, const struct packet *p)
{
    struct afx *xp = afx_cast(port);
    struct xdp_desc *d;
    uint32_t idx;
    uint64_t addr;

    if (p->len > AFX_FRAME_SIZE) {
        port->stats.errors++;
        return -EMSGSIZE;
    }
    if (!xp->tx_n_free) {
        afx_reap_completions(xp);
    }
    if (!xp->tx_n_free || xsk_ring_prod__reserve(&xp->tx, 1, &idx) != 1) {
        port->stats.drops++;
        return -ENOBUFS;
    }
    addr = xp->tx_free[--xp->tx_n_free];
    memcpy(xsk_umem__get_data(xp->umem_area, addr), packet_data(p), p->len);
    d = xsk_ring_prod__tx_desc(&xp->tx, idx);
    d->addr = addr;
    d->len = p->len;
    d->options = 0;
    xp->tx_pending++;
    port->stats.tx_packets++;
    port->stats.tx_bytes += p->len;
    return 0;
}

static int
afx_flush(struct port *port)
{
    struct afx *xp = afx_cast(port);

    if (xp->tx_pending) {
        xsk_ring_prod__submit(&xp->tx, xp->tx_pending);
        xp->tx_outstanding += xp->tx_pending;
        xp->tx_pending = 0;
    }
    if (xp->tx_outstanding) {
        afx_kick_tx(xp);
        afx_reap_completions(xp);
    }
    return 0;
}

static bool
afx_true(const struct port *port)
{
    return true;
}

static bool
afx_rx_nsec(const struct port *port)
{
    return true;
}

static int
afx_fd(const struct port *port)
{
    return xsk_socket__fd(afx_cast(port)->xsk);
}

static int
afx_close(struct port *port)
{
    struct afx *xp = afx_cast(port);

    afx_flush(port);
    /* Give the kernel a moment to send what it accepted. */
    for (int i = 0; i < 100 && xp->tx_outstanding; i++) {
        afx_kick_tx(xp);
        poll(NULL, 0, 1);
        afx_reap_completions(xp);
    }
    afx_free(xp);
    return 0;
}

const struct port_class port_afxdp_class = {
    .type = "afxdp",
    .check = afx_check,
    .open = afx_open,
    .rx_batch = afx_rx_batch,
    .tx = afx_tx,
    .can_rx = afx_true,
    .can_tx = afx_true,
    .flush = afx_flush,
    .rx_nsec = afx_rx_nsec,
    .fd = afx_fd,
    .close = afx_close,
};
