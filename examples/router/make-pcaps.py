#!/usr/bin/python3
"""Makes examples/router's input, in.pcap: traffic arriving on port 1.

Deterministic (fixed timestamps from 2024-01-01 00:00:00 UTC in
microseconds, fixed seed), so running it again gives the shipped bytes:
    /usr/bin/python3 examples/router/make-pcaps.py [OUTDIR]
"""

import os
import random
import sys

from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import ARP, Ether
from scapy.packet import Raw

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                os.pardir))
from pcaplib import T0_US, out_dir, write_pcap  # noqa: E402

ROUTER = "02:00:00:00:00:01"
HOST = ("192.168.1.10", "02:00:00:00:01:0a")

# One destination per interesting case of routes.txt.
DESTINATIONS = [
    "93.184.216.34",     # only the default route
    "10.1.2.3",          # the /8
    "10.20.1.1",         # the /16
    "10.20.30.7",        # the /24
    "10.20.30.40",       # the /32
    "10.20.30.41",       # the /32 but its last bit: the /24
    "192.168.7.7",       # back out of port 1
]


def packets(rng):
    ip, mac = HOST
    pkts = [Ether(src=mac, dst="ff:ff:ff:ff:ff:ff") /
            ARP(op=1, hwsrc=mac, psrc=ip, pdst="192.168.1.1")]
    for dst in DESTINATIONS:
        pkts.append(Ether(src=mac, dst=ROUTER) /
                    IP(src=ip, dst=dst, id=rng.randrange(65536)) /
                    UDP(sport=rng.randrange(32768, 61000), dport=53) /
                    Raw(b"q" * rng.randrange(1, 60)))
        pkts.append(Ether(src=mac, dst=ROUTER) /
                    IP(src=ip, dst=dst, id=rng.randrange(65536), flags="DF") /
                    TCP(sport=rng.randrange(32768, 61000), dport=443,
                        flags="S", seq=rng.randrange(2**32)))
    # TTL 1 (traceroute's first probe): dropped.
    pkts.append(Ether(src=mac, dst=ROUTER) /
                IP(src=ip, dst="93.184.216.34", ttl=1) / ICMP())
    return pkts


def main():
    out = out_dir(__file__)
    rng = random.Random(6)
    frames = [(T0_US + i * 1000, bytes(p))
              for i, p in enumerate(packets(rng))]
    write_pcap(os.path.join(out, "in.pcap"), frames)


if __name__ == "__main__":
    main()
