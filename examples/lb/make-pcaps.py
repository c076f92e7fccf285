#!/usr/bin/python3
"""Makes the load-balancer example's input pcap, clients.pcap (port 1).
Deterministic (fixed timestamps from 2024-01-01 00:00:00 UTC, in
microseconds, fixed seed), so running it again gives the bytes checked in:
    /usr/bin/python3 examples/lb/make-pcaps.py [OUTDIR]

40 clients each open a TCP connection to the VIP 192.0.2.100:80 (SYN,
request, ACK, FIN over a few seconds), a few also query the VIP's UDP
port 80, and some traffic is not for the VIP at all (DNS to another
server, ARP, ICMP echo to the VIP): the balancer passes that on.
"""

import os
import random
import sys

from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import ARP, Ether

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                os.pardir))
from pcaplib import T0_US, out_dir, write_pcap  # noqa: E402

VIP = "192.0.2.100"
GW = "02:00:00:00:00:01"            # The balancer's MAC on port 1.


def main():
    out = out_dir(__file__)
    rng = random.Random(6)
    frames = []
    for c in range(40):
        ip = "198.18.%d.%d" % (c // 200, c % 200 + 10)
        mac = "02:00:00:01:00:%02x" % c
        sport = rng.randrange(32768, 61000)
        start = rng.randrange(0, 5 * 10**6)
        for k, (flags, data) in enumerate([("S", b""),
                                           ("PA", b"GET / HTTP/1.0\r\n\r\n"),
                                           ("A", b""), ("FA", b"")]):
            pkt = (Ether(src=mac, dst=GW) / IP(src=ip, dst=VIP) /
                   TCP(sport=sport, dport=80, flags=flags, seq=1000 + k) /
                   data)
            frames.append((T0_US + start + k * 200000 + c, bytes(pkt)))
        if c % 8 == 0:
            pkt = (Ether(src=mac, dst=GW) / IP(src=ip, dst=VIP) /
                   UDP(sport=sport, dport=80) / b"ping")
            frames.append((T0_US + start + 900000 + c, bytes(pkt)))
    other = [
        Ether(src="02:00:00:01:00:00", dst=GW) /
        IP(src="198.18.0.10", dst="192.0.2.53") / UDP(sport=5353, dport=53) /
        b"dns",
        Ether(src="02:00:00:01:00:01", dst="ff:ff:ff:ff:ff:ff") /
        ARP(psrc="198.18.0.11", pdst=VIP),
        Ether(src="02:00:00:01:00:02", dst=GW) /
        IP(src="198.18.0.12", dst=VIP) / ICMP(),
    ]
    for i, pkt in enumerate(other):
        frames.append((T0_US + 6 * 10**6 + i * 1000, bytes(pkt)))
    write_pcap(os.path.join(out, "clients.pcap"),
               sorted(frames, key=lambda x: x[0]))


if __name__ == "__main__":
    main()
