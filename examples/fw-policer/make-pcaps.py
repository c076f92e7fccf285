#!/usr/bin/python3
"""Makes examples/fw-policer's inputs: lan.pcap (port 1) and wan.pcap
(port 2).

Deterministic (fixed timestamps from 2024-01-01 00:00:00 UTC in
microseconds, fixed seed), so running it again gives the shipped bytes:
    /usr/bin/python3 examples/fw-policer/make-pcaps.py [OUTDIR]
"""

import os
import random
import sys

from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Raw

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                os.pardir))
from pcaplib import T0_US, out_dir, write_pcap  # noqa: E402

LAN_MAC = "02:00:00:00:00:01"
WAN_MAC = "02:00:00:00:00:fe"
HOSTS = ["10.0.0.%d" % i for i in (2, 3, 4)]
SERVER = "203.0.113.80"
RESOLVER = "9.9.9.9"
SCANNER = "198.51.100.66"


def out(src, dst, l4, payload=b""):
    return Ether(src=LAN_MAC, dst=WAN_MAC) / IP(src=src, dst=dst) / l4 / \
        Raw(payload)


def into(src, dst, l4, payload=b""):
    return Ether(src=WAN_MAC, dst=LAN_MAC) / IP(src=src, dst=dst) / l4 / \
        Raw(payload)


def events(rng):
    """(microseconds after T0, port, frame), port 1 = LAN, 2 = WAN."""
    ev = []
    h_dl, h_dns, h_idle = HOSTS
    # A download: 3 SYN/ACK packets, then 40 full-size segments every
    # 10 ms (150 kB/s, twelve times the policed rate): the policer passes
    # the burst allowance and then about one in twelve.
    sport = 40000
    ev.append((0, 1, out(h_dl, SERVER, TCP(sport=sport, dport=80,
                                           flags="S"))))
    ev.append((5_000, 2, into(SERVER, h_dl, TCP(sport=80, dport=sport,
                                                flags="SA"))))
    ev.append((6_000, 1, out(h_dl, SERVER, TCP(sport=sport, dport=80,
                                               flags="A"),
                             b"GET / HTTP/1.1\r\n\r\n")))
    for i in range(40):
        ev.append((10_000 + i * 10_000, 2,
                   into(SERVER, h_dl, TCP(sport=80, dport=sport, flags="A"),
                        bytes(rng.randrange(256) for _ in range(1446)))))
    # DNS: query and answer pass; a forged answer from elsewhere does not.
    q = rng.randrange(32768, 61000)
    ev.append((20_500, 1, out(h_dns, RESOLVER, UDP(sport=q, dport=53),
                              b"query")))
    ev.append((30_500, 2, into(RESOLVER, h_dns, UDP(sport=53, dport=q),
                               b"answer")))
    ev.append((31_500, 2, into("9.9.9.10", h_dns, UDP(sport=53, dport=q),
                               b"forged")))
    # A scan from the WAN: no flow, dropped by the firewall; ICMP and
    # anything not TCP/UDP is dropped in both directions.
    for port in (22, 23, 80, 443, 3389):
        ev.append((40_500 + port, 2, into(SCANNER, h_idle,
                                          TCP(sport=4444, dport=port,
                                              flags="S"))))
    ev.append((50_500, 1, out(h_idle, RESOLVER, ICMP())))
    # The DNS flow idles for more than 60 s: a late answer is refused.
    ev.append((61_030_600, 2, into(RESOLVER, h_dns, UDP(sport=53, dport=q),
                                   b"late answer")))
    return ev


def main():
    folder = out_dir(__file__)
    rng = random.Random(66)
    per_port = {1: [], 2: []}
    for t, port, pkt in sorted(events(rng), key=lambda e: e[0]):
        per_port[port].append((T0_US + t, bytes(pkt)))
    write_pcap(os.path.join(folder, "lan.pcap"), per_port[1])
    write_pcap(os.path.join(folder, "wan.pcap"), per_port[2])


if __name__ == "__main__":
    main()
