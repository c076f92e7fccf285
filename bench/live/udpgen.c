/* A minimal UDP load generator and sink for bench/live/run.
 *
 *   udpgen send ADDR PORT SECONDS   sends 18-byte UDP payloads (64-byte
 *                                   Ethernet frames with FCS) to ADDR:PORT
 *                                   as fast as sendmmsg() allows; prints
 *                                   the packets sent
 *   udpgen recv PORT SECONDS        counts datagrams arriving on PORT until
 *                                   1 s passes without one (or SECONDS
 *                                   overall); prints "PACKETS SECONDS PPS"
 *                                   measured from the first to the last
 *
 * Debian has no small packet blaster that runs without configuration, and
 * iperf3's UDP mode is limited by its pacing, hence this tool. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BURST 64
#define PAYLOAD 18

static double
now_sec(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
do_send(const char *addr, int port, double secs)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
    struct mmsghdr msgs[BURST];
    struct iovec iov[BURST];
    char payload[PAYLOAD] = "sluice-bench";
    unsigned long long sent = 0;
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    double end;

    if (inet_pton(AF_INET, addr, &sin.sin_addr) != 1) {
        fprintf(stderr, "udpgen: bad address %s\n", addr);
        return 1;
    }
    if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof sin)) {
        perror("udpgen: socket");
        return 1;
    }
    memset(msgs, 0, sizeof msgs);
    for (int i = 0; i < BURST; i++) {
        iov[i].iov_base = payload;
        iov[i].iov_len = PAYLOAD;
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    end = now_sec() + secs;
    while (now_sec() < end) {
        int n = sendmmsg(fd, msgs, BURST, 0);

        if (n > 0) {
            sent += (unsigned long long)n;
        } else if (errno != ENOBUFS && errno != EAGAIN &&
                   errno != ECONNREFUSED) {
            perror("udpgen: sendmmsg");
            return 1;
        }
    }
    printf("%llu\n", sent);
    return 0;
}

static int
do_recv(int port, double secs)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
    struct mmsghdr msgs[BURST];
    struct iovec iov[BURST];
    char bufs[BURST][64];
    unsigned long long n = 0;
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    int rcvbuf = 16 << 20;
    double first = 0, last = 0, end = now_sec() + secs;

    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof sin)) {
        perror("udpgen: bind");
        return 1;
    }
    memset(msgs, 0, sizeof msgs);
    for (int i = 0; i < BURST; i++) {
        iov[i].iov_base = bufs[i];
        iov[i].iov_len = sizeof bufs[i];
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    printf("listening\n");
    fflush(stdout);
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        double t = now_sec();
        int got;

        if (t > end || (first && t - last > 1.0)) {
            break;
        }
        if (poll(&pfd, 1, 100) <= 0) {
            continue;
        }
        got = recvmmsg(fd, msgs, BURST, MSG_DONTWAIT, NULL);
        if (got > 0) {
            last = now_sec();
            if (!first) {
                first = last;
            }
            n += (unsigned long long)got;
        }
    }
    printf("%llu %.3f %.0f\n", n, last - first,
           last > first ? n / (last - first) : 0.0);
    return 0;
}

int
main(int argc, char **argv)
{
    if (argc == 5 && !strcmp(argv[1], "send")) {
        return do_send(argv[2], atoi(argv[3]), atof(argv[4]));
    }
    if (argc == 4 && !strcmp(argv[1], "recv")) {
        return do_recv(atoi(argv[2]), atof(argv[3]));
    }
    fprintf(stderr, "usage: udpgen send ADDR PORT SECONDS | "
                    "udpgen recv PORT SECONDS\n");
    return 2;
}
