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
import struct
import sys

from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import ARP, Ether

T0_US = 1_704_067_200 * 10**6
VIP = "192.0.2.100"
GW = "02:00:00:00:00:01"            # The balancer's MAC on port 1.


def write_pcap(path, frames):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for ts, data in sorted(frames, key=lambda x: x[0]):
            sec, usec = divmod(ts, 10**6)
            f.write(struct.pack("<IIII", sec, usec, len(data), len(data)))
            f.write(data)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(
        os.path.abspath(__file__))
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
    write_pcap(os.path.join(out, "clients.pcap"), frames)


if __name__ == "__main__":
    main()
