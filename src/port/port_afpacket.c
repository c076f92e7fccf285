/* AF_PACKET ports: "afpacket:IFNAME".
 *
 * Receive uses a TPACKET_V3 ring: the kernel fills blocks of frames in
 * memory shared with us and hands over a whole block at a time (or after
 * AFP_BLOCK_TIMEOUT_MS when traffic is light), so receiving costs no system
 * call; the port walks the frames of the current block, copies each into
 * one of its PACKET_BATCH_MAX receive packets and returns the block to the
 * kernel once every frame (and every segment) in it has been taken.
 *
 * Offloads: the receive socket asks for PACKET_VNET_HDR, so each frame comes
 * with a virtio_net_hdr.  A frame whose L4 checksum is only partial (the
 * kernel's CHECKSUM_PARTIAL, reported as TP_STATUS_CSUMNOTREADY) has it
 * completed in software; a GSO super-frame (TCP from a veth peer with TSO
 * on, up to 64 KiB) is cut into MSS-sized segments by offload.c, across
 * rx_batch() calls if it yields more than a batch.  The pipeline therefore
 * only sees ordinary frames with correct checksums, and TCP between
 * namespaces works with the kernel's default offloads.  Likewise a VLAN
 * tag that the kernel moved into the frame's metadata (VLAN acceleration,
 * TP_STATUS_VLAN_VALID; veth does this) is put back into the frame (into
 * every segment of a super-frame), since flows match on it.
 *
 * Transmit uses a second socket, bound to the interface with protocol 0 so
 * it never receives, with a TPACKET_V2 TX ring and PACKET_QDISC_BYPASS: tx
 * copies the frame into the next free ring slot and marks it
 * TP_STATUS_SEND_REQUEST; flush issues one send() for all of them.  A
 * separate socket keeps the receive ring free of the transmit ring's frame
 * format, and frames sent with the qdisc bypass are not looped back to our
 * own receive socket (PACKET_IGNORE_OUTGOING and a pkttype check make sure
 * of that when the bypass is unavailable).
 *
 * The interface is put in promiscuous mode through a PACKET_MR_PROMISC
 * membership of the receive socket: the kernel counts such memberships and
 * drops ours when the socket closes, so the interface's earlier state comes
 * back on close or even if the process dies. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "offload.h"
#include "pkt/pkt.h"
#include "port_live.h"

LOG_DEFINE_MODULE(port_afpacket);

#define AFP_BLOCK_SIZE (1u << 19) /* Receive block, in bytes. */
#define AFP_BLOCK_NR 16           /* Receive blocks. */
#define AFP_BLOCK_TIMEOUT_MS 1    /* Hand over a partial block after. */
#define AFP_RX_FRAME_SIZE 2048    /* Nominal V3 frame size, in bytes. */
#define AFP_TX_FRAME_NR 1024      /* Transmit ring slots. */

struct afp {
    struct port up;           /* Generic part. */
    char ifname[IF_NAMESIZE]; /* Interface name. */
    int ifindex;              /* Interface index. */
    int rx_fd;                /* TPACKET_V3 receive socket. */
    int tx_fd;                /* TPACKET_V2 transmit socket. */

    uint8_t *rx_ring;              /* Mapped receive blocks. */
    size_t rx_ring_size;           /* Bytes mapped at 'rx_ring'. */
    unsigned int rx_block;         /* Block being read, or next to wait for. */
    bool rx_in_block;              /* Reading 'rx_block' (owned by us). */
    uint32_t rx_left;              /* Frames not yet taken in 'rx_block'. */
    struct tpacket3_hdr *rx_frame; /* Next frame in 'rx_block'. */
    bool rx_in_seg;                /* Segmenting a super-frame. */
    struct offload_seg rx_seg;     /* Its iterator (frame in the ring). */
    uint64_t rx_seg_ts;            /* Its timestamp, ns. */
    struct packet *rx_pkts[PACKET_BATCH_MAX]; /* Receive buffers, */
    struct packet_pool *rx_pool;              /* from this pool. */
    struct log_rl rx_rl;                      /* Limits bad-frame warnings. */

    uint8_t *tx_ring;       /* Mapped transmit slots. */
    size_t tx_ring_size;    /* Bytes mapped at 'tx_ring'. */
    uint32_t tx_frame_size; /* Bytes per slot. */
    uint32_t tx_max_len;    /* Largest frame the link takes, bytes. */
    uint32_t tx_head;       /* Next slot to fill. */
    uint32_t tx_pending;    /* Slots filled since the last flush. */
};

static struct afp *
afp_cast(const struct port *port)
{
    return CONTAINER_OF(port, struct afp, up);
}

char *
port_ifname_check(const char *name, size_t len, int *err_col)
{
    *err_col = 1;
    if (!len) {
        return xstrdup("expected an interface name");
    }
    if (len >= IF_NAMESIZE) {
        *err_col = IF_NAMESIZE;
        return xasprintf("interface name '%.*s' longer than %d bytes", (int)len,
                         name, IF_NAMESIZE - 1);
    }
    if ((len == 1 && name[0] == '.') ||
        (len == 2 && name[0] == '.' && name[1] == '.')) {
        return xasprintf("'%.*s' is not an interface name", (int)len, name);
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];

        if (c == '/' || c == ':' || c == ',' || c <= ' ' || c == 0x7f) {
            *err_col = (int)i + 1;
            return xasprintf("character '%c' not allowed in an interface "
                             "name",
                             c > ' ' && c < 0x7f ? c : '?');
        }
    }
    return NULL;
}

void
port_clock_ns(uint64_t *ns)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    *ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static char *
afp_check(const char *args, int *err_col)
{
    return port_ifname_check(args, strlen(args), err_col);
}

static void
afp_free(struct afp *ap)
{
    packet_pool_destroy(ap->rx_pool);
    if (ap->rx_ring) {
        munmap(ap->rx_ring, ap->rx_ring_size);
    }
    if (ap->tx_ring) {
        munmap(ap->tx_ring, ap->tx_ring_size);
    }
    if (ap->rx_fd >= 0) {
        close(ap->rx_fd);
    }
    if (ap->tx_fd >= 0) {
        close(ap->tx_fd);
    }
    free(ap);
}

static int
afp_setopt(int fd, int opt, const void *val, socklen_t len, const char *what,
           const struct afp *ap, char **errp)
{
    if (setsockopt(fd, SOL_PACKET, opt, val, len) < 0) {
        int err = -errno;

        *errp =
            xasprintf("afpacket:%s: %s: %s", ap->ifname, what, strerror(errno));
        return err;
    }
    return 0;
}

static int
afp_bind(int fd, const struct afp *ap, uint16_t proto, char **errp)
{
    struct sockaddr_ll sll = {
        .sll_family = AF_PACKET,
        .sll_protocol = htons(proto),
        .sll_ifindex = ap->ifindex,
    };

    if (bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) {
        int err = -errno;

        *errp = xasprintf("afpacket:%s: bind: %s", ap->ifname, strerror(errno));
        return err;
    }
    return 0;
}

/* Sets up the receive socket and its ring. */
static int
afp_open_rx(struct afp *ap, char **errp)
{
    struct tpacket_req3 req = {
        .tp_block_size = AFP_BLOCK_SIZE,
        .tp_block_nr = AFP_BLOCK_NR,
        .tp_frame_size = AFP_RX_FRAME_SIZE,
        .tp_frame_nr = AFP_BLOCK_SIZE / AFP_RX_FRAME_SIZE * AFP_BLOCK_NR,
        .tp_retire_blk_tov = AFP_BLOCK_TIMEOUT_MS,
    };
    struct packet_mreq mreq = {
        .mr_ifindex = ap->ifindex,
        .mr_type = PACKET_MR_PROMISC,
    };
    int version = TPACKET_V3;
    int one = 1;
    int err;

    /* Protocol 0 until bound, so nothing from other interfaces queues up
     * before the bind. */
    ap->rx_fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (ap->rx_fd < 0) {
        err = -errno;
        *errp =
            xasprintf("afpacket:%s: socket: %s", ap->ifname, strerror(errno));
        return err;
    }
    err = afp_setopt(ap->rx_fd, PACKET_VERSION, &version, sizeof version,
                     "TPACKET_V3", ap, errp);
    if (!err) {
        err = afp_setopt(ap->rx_fd, PACKET_VNET_HDR, &one, sizeof one,
                         "PACKET_VNET_HDR", ap, errp);
    }
    if (err) {
        return err;
    }
    /* Older kernels lack it; the pkttype check in rx covers them. */
    setsockopt(ap->rx_fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one);
    err = afp_setopt(ap->rx_fd, PACKET_RX_RING, &req, sizeof req,
                     "PACKET_RX_RING", ap, errp);
    if (err) {
        return err;
    }
    ap->rx_ring_size = (size_t)AFP_BLOCK_SIZE * AFP_BLOCK_NR;
    ap->rx_ring = mmap(NULL, ap->rx_ring_size, PROT_READ | PROT_WRITE,
                       MAP_SHARED | MAP_LOCKED, ap->rx_fd, 0);
    if (ap->rx_ring == MAP_FAILED) {
        /* MAP_LOCKED fails under a small RLIMIT_MEMLOCK; plain works. */
        ap->rx_ring = mmap(NULL, ap->rx_ring_size, PROT_READ | PROT_WRITE,
                           MAP_SHARED, ap->rx_fd, 0);
    }
    if (ap->rx_ring == MAP_FAILED) {
        err = -errno;
        ap->rx_ring = NULL;
        *errp = xasprintf("afpacket:%s: mmap receive ring: %s", ap->ifname,
                          strerror(errno));
        return err;
    }
    err = afp_bind(ap->rx_fd, ap, ETH_P_ALL, errp);
    if (!err) {
        err = afp_setopt(ap->rx_fd, PACKET_ADD_MEMBERSHIP, &mreq, sizeof mreq,
                         "promiscuous mode", ap, errp);
    }
    return err;
}

/* Sets up the transmit socket and its ring, with slots big enough for the
 * interface's MTU. */
static int
afp_open_tx(struct afp *ap, char **errp)
{
    struct tpacket_req req;
    struct ifreq ifr;
    int version = TPACKET_V2;
    int one = 1;
    uint32_t mtu = 1500;
    int err;

    ap->tx_fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (ap->tx_fd < 0) {
        err = -errno;
        *errp =
            xasprintf("afpacket:%s: socket: %s", ap->ifname, strerror(errno));
        return err;
    }
    /* The pipeline parses Ethernet; an L3 device (tun, wireguard) would
     * hand over bare IP packets. */
    memset(&ifr, 0, sizeof ifr);
    memcpy(ifr.ifr_name, ap->ifname, sizeof ap->ifname);
    if (!ioctl(ap->tx_fd, SIOCGIFHWADDR, &ifr) &&
        ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER) {
        *errp = xasprintf("afpacket:%s: not an Ethernet interface (link "
                          "type %d)",
                          ap->ifname, ifr.ifr_hwaddr.sa_family);
        return -EPROTONOSUPPORT;
    }
    memset(&ifr, 0, sizeof ifr);
    memcpy(ifr.ifr_name, ap->ifname, sizeof ap->ifname);
    if (!ioctl(ap->tx_fd, SIOCGIFMTU, &ifr) && ifr.ifr_mtu > 0) {
        mtu = (uint32_t)ifr.ifr_mtu;
    }
    /* The kernel's limit: the MTU plus Ethernet and one VLAN tag. */
    ap->tx_max_len = mtu + 14 + 4;
    /* Room for the header, Ethernet with two VLAN tags, and the MTU, as a
     * power of two so that slots tile the page-sized (or larger) blocks
     * without gaps and slot i sits at i * tx_frame_size. */
    ap->tx_frame_size = 2048;
    while (ap->tx_frame_size < TPACKET2_HDRLEN + 14 + 8 + mtu) {
        ap->tx_frame_size *= 2;
    }
    req.tp_frame_size = ap->tx_frame_size;
    req.tp_frame_nr = AFP_TX_FRAME_NR;
    req.tp_block_size = MAX(ap->tx_frame_size, (uint32_t)getpagesize());
    req.tp_block_nr = AFP_TX_FRAME_NR / (req.tp_block_size / ap->tx_frame_size);
    err = afp_setopt(ap->tx_fd, PACKET_VERSION, &version, sizeof version,
                     "TPACKET_V2", ap, errp);
    if (err) {
        return err;
    }
    /* Without the bypass (older kernels) frames go through the qdisc. */
    setsockopt(ap->tx_fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one);
    /* A frame the kernel rejects must not stall the ring: with
     * PACKET_LOSS it is skipped instead of blocking every later slot. */
    err = afp_setopt(ap->tx_fd, PACKET_LOSS, &one, sizeof one, "PACKET_LOSS",
                     ap, errp);
    if (err) {
        return err;
    }
    err = afp_setopt(ap->tx_fd, PACKET_TX_RING, &req, sizeof req,
                     "PACKET_TX_RING", ap, errp);
    if (err) {
        return err;
    }
    ap->tx_ring_size = (size_t)req.tp_block_size * req.tp_block_nr;
    ap->tx_ring = mmap(NULL, ap->tx_ring_size, PROT_READ | PROT_WRITE,
                       MAP_SHARED, ap->tx_fd, 0);
    if (ap->tx_ring == MAP_FAILED) {
        err = -errno;
        ap->tx_ring = NULL;
        *errp = xasprintf("afpacket:%s: mmap transmit ring: %s", ap->ifname,
                          strerror(errno));
        return err;
    }
    return afp_bind(ap->tx_fd, ap, 0, errp);
}

static int
afp_open(const char *args, const char *base_dir, struct port **portp,
         char **errp)
{
    struct afp *ap = xzalloc(sizeof *ap);
    int err;

    ap->rx_fd = ap->tx_fd = -1;
    ap->rx_rl = (struct log_rl)LOG_RL_INIT(1, 5);
    snprintf(ap->ifname, sizeof ap->ifname, "%s", args);
    ap->ifindex = (int)if_nametoindex(ap->ifname);
    if (!ap->ifindex) {
        err = -errno;
        *errp = xasprintf("afpacket:%s: no such interface", ap->ifname);
        afp_free(ap);
        return err ? err : -ENODEV;
    }
    /* Transmit first: it checks the link type before anything else. */
    err = afp_open_tx(ap, errp);
    if (!err) {
        err = afp_open_rx(ap, errp);
    }
    if (!err) {
        char *what = xasprintf("afpacket:%s", ap->ifname);

        err = port_ring_create(what, &ap->rx_pool, ap->rx_pkts, errp);
        free(what);
    }
    if (err) {
        afp_free(ap);
        return err;
    }
    *portp = &ap->up;
    return 0;
}

static struct tpacket_block_desc *
afp_block(const struct afp *ap, unsigned int i)
{
    return (struct tpacket_block_desc *)(ap->rx_ring +
                                         (size_t)i * AFP_BLOCK_SIZE);
}

/* Gives the current block back to the kernel and moves to the next. */
static void
afp_release_block(struct afp *ap)
{
    struct tpacket_block_desc *bd = afp_block(ap, ap->rx_block);

    __atomic_store_n(&bd->hdr.bh1.block_status, TP_STATUS_KERNEL,
                     __ATOMIC_RELEASE);
    ap->rx_block = (ap->rx_block + 1) % AFP_BLOCK_NR;
    ap->rx_in_block = false;
}

/* Reads the kernel's drop counter (which resets it) after it said it lost
 * frames. */
static void
afp_count_losses(struct afp *ap)
{
    struct tpacket_stats_v3 st;
    socklen_t len = sizeof st;

    if (!getsockopt(ap->rx_fd, SOL_PACKET, PACKET_STATISTICS, &st, &len)) {
        ap->up.stats.drops += st.tp_drops;
    }
}

/* Turns one ring frame into packets: copies an ordinary frame into
 * 'b' (completing its checksum), or starts segmenting a super-frame. */
static void
afp_take_frame(struct afp *ap, struct tpacket3_hdr *h, struct packet_batch *b)
{
    const uint8_t *frame = (const uint8_t *)h + h->tp_mac;
    const struct sockaddr_ll *sll =
        (const struct sockaddr_ll *)((const uint8_t *)h +
                                     TPACKET_ALIGN(sizeof *h));
    uint64_t ts = (uint64_t)h->tp_sec * 1000000000u + h->tp_nsec;
    bool vlan = (h->tp_status & TP_STATUS_VLAN_VALID) != 0;
    uint16_t tpid =
        h->tp_status & TP_STATUS_VLAN_TPID_VALID ? h->hv1.tp_vlan_tpid : 0x8100;
    struct offload_meta meta;
    struct packet *p;

    if (sll->sll_pkttype == PACKET_OUTGOING) {
        return;
    }
    if (h->tp_status & TP_STATUS_LOSING) {
        afp_count_losses(ap);
    }
    if (h->tp_snaplen < h->tp_len ||
        offload_meta_from_vnet(frame - OFFLOAD_VNET_HDR_LEN, &meta)) {
        ap->up.stats.errors++;
        return;
    }
    if (meta.gso != OFFLOAD_GSO_NONE) {
        if (offload_seg_init(&ap->rx_seg, frame, h->tp_snaplen, &meta)) {
            if (log_rl_allow(&ap->rx_rl)) {
                LOG_WARN("afpacket:%s: dropped a GSO frame that cannot be "
                         "segmented",
                         ap->ifname);
            }
            ap->up.stats.errors++;
            return;
        }
        if (vlan) {
            offload_seg_set_vlan(&ap->rx_seg, tpid, h->hv1.tp_vlan_tci);
        }
        ap->rx_in_seg = true;
        ap->rx_seg_ts = ts;
        return;
    }
    p = ap->rx_pkts[b->count];
    packet_set_data(p, frame, h->tp_snaplen);
    if (meta.needs_csum &&
        offload_csum_complete(packet_data(p), p->len, meta.csum_start,
                              meta.csum_offset)) {
        ap->up.stats.errors++;
        return;
    }
    if (vlan && offload_vlan_insert(p, tpid, h->hv1.tp_vlan_tci)) {
        ap->up.stats.errors++;
        return;
    }
    p->in_port = ap->up.number;
    p->ts_ns = ts;
    ap->up.stats.rx_packets++;
    ap->up.stats.rx_bytes += p->len;
    packet_batch_add(b, p);
}

static int
afp_rx_batch(struct port *port, struct packet_batch *b)
{
    struct afp *ap = afp_cast(port);

    while (b->count < PACKET_BATCH_MAX) {
        struct tpacket3_hdr *h;

        if (ap->rx_in_seg) {
            struct packet *p = ap->rx_pkts[b->count];

            if (!offload_seg_next(&ap->rx_seg, p)) {
                ap->rx_in_seg = false;
                continue;
            }
            p->in_port = port->number;
            p->ts_ns = ap->rx_seg_ts;
            port->stats.rx_packets++;
            port->stats.rx_bytes += p->len;
            packet_batch_add(b, p);
            continue;
        }
        if (!ap->rx_in_block) {
            struct tpacket_block_desc *bd = afp_block(ap, ap->rx_block);

            if (!(__atomic_load_n(&bd->hdr.bh1.block_status, __ATOMIC_ACQUIRE) &
                  TP_STATUS_USER)) {
                break;
            }
            ap->rx_in_block = true;
            ap->rx_left = bd->hdr.bh1.num_pkts;
            ap->rx_frame =
                (struct tpacket3_hdr *)((uint8_t *)bd +
                                        bd->hdr.bh1.offset_to_first_pkt);
        }
        if (!ap->rx_left) {
            afp_release_block(ap);
            continue;
        }
        h = ap->rx_frame;
        ap->rx_frame =
            (struct tpacket3_hdr *)((uint8_t *)h + h->tp_next_offset);
        ap->rx_left--;
        afp_take_frame(ap, h, b);
    }
    return (int)b->count;
}

static struct tpacket2_hdr *
afp_tx_slot(const struct afp *ap, uint32_t i)
{
    return (struct tpacket2_hdr *)(ap->tx_ring + (size_t)i * ap->tx_frame_size);
}

static int
afp_tx(struct port *port, const struct packet *p)
{
    struct afp *ap = afp_cast(port);
    struct tpacket2_hdr *h = afp_tx_slot(ap, ap->tx_head);
    uint32_t data_ofs = TPACKET2_HDRLEN - sizeof(struct sockaddr_ll);

    if (p->len > ap->tx_max_len || p->len + data_ofs > ap->tx_frame_size) {
        port->stats.errors++;
        return -EMSGSIZE;
    }
    if (__atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE) !=
        TP_STATUS_AVAILABLE) {
        /* The ring is full of frames the kernel has not sent yet. */
        port->stats.drops++;
        return -ENOBUFS;
    }
    memcpy((uint8_t *)h + data_ofs, packet_data(p), p->len);
    h->tp_len = p->len;
    __atomic_store_n(&h->tp_status, TP_STATUS_SEND_REQUEST, __ATOMIC_RELEASE);
    ap->tx_head = (ap->tx_head + 1) % AFP_TX_FRAME_NR;
    ap->tx_pending++;
    port->stats.tx_packets++;
    port->stats.tx_bytes += p->len;
    return 0;
}

static int
afp_flush(struct port *port)
{
    struct afp *ap = afp_cast(port);

    if (!ap->tx_pending) {
        return 0;
    }
    ap->tx_pending = 0;
    if (send(ap->tx_fd, NULL, 0, MSG_DONTWAIT) < 0 && errno != EAGAIN &&
        errno != ENOBUFS) {
        int err = -errno;

        port->stats.errors++;
        return err;
    }
    return 0;
}

static bool
afp_true(const struct port *port)
{
    return true;
}

static int
afp_fd(const struct port *port)
{
    return afp_cast(port)->rx_fd;
}

static int
afp_close(struct port *port)
{
    struct afp *ap = afp_cast(port);
    int err = afp_flush(port);

    /* Let the kernel finish the frames it accepted before unmapping. */
    for (int i = 0; i < 100; i++) {
        bool busy = false;

        for (uint32_t j = 0; j < AFP_TX_FRAME_NR && !busy; j++) {
            uint32_t st = __atomic_load_n(&afp_tx_slot(ap, j)->tp_status,
                                          __ATOMIC_ACQUIRE);

            busy = st == TP_STATUS_SEND_REQUEST || st == TP_STATUS_SENDING;
        }
        if (!busy) {
            break;
        }
        poll(NULL, 0, 1);
    }
    afp_free(ap);
    return err;
}

const struct port_class port_afpacket_class = {
    .type = "afpacket",
    .check = afp_check,
    .open = afp_open,
    .rx_batch = afp_rx_batch,
    .tx = afp_tx,
    .can_rx = afp_true,
    .can_tx = afp_true,
    .flush = afp_flush,
    .rx_nsec = afp_true,
    .fd = afp_fd,
    .close = afp_close,
};
