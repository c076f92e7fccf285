#!/usr/bin/python3
"""Makes examples/bridge's inputs p1.pcap .. p4.pcap (what the stations on
ports 1-4 send).

Deterministic (fixed timestamps from 2024-01-01 00:00:00 UTC in
microseconds), so running it again gives the shipped bytes:
    /usr/bin/python3 examples/bridge/make-pcaps.py [OUTDIR]
"""

import os
import sys

from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import ARP, Ether, LLC, STP
from scapy.packet import Raw

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                os.pardir))
from pcaplib import T0_US, out_dir, write_pcap  # noqa: E402

BCAST = "ff:ff:ff:ff:ff:ff"
H = {n: ("10.9.0.%d" % n, "02:00:00:00:00:%02x" % n) for n in (1, 2, 3, 4)}
MGMT = ("10.9.0.99", "02:00:00:00:00:99")       # On port 4.


def arp_request(src, target_ip):
    return Ether(src=src[1], dst=BCAST) / ARP(op=1, hwsrc=src[1],
                                               psrc=src[0], pdst=target_ip)


def arp_reply(src, dst):
    return Ether(src=src[1], dst=dst[1]) / ARP(op=2, hwsrc=src[1],
                                                psrc=src[0], hwdst=dst[1],
                                                pdst=dst[0])


def data(src, dst, text):
    return Ether(src=src[1], dst=dst[1]) / IP(src=src[0], dst=dst[0]) / \
        UDP(sport=5000, dport=5000) / Raw(text.encode())


def events():
    """(seconds after T0, port, frame)."""
    h1, h2, h3, h4 = H[1], H[2], H[3], H[4]
    ghost = ("10.9.0.50", "02:00:00:00:00:50")   # Never seen: flooded.
    return [
        (0.0, 1, arp_request(h1, h2[0])),        # flood
        (0.1, 2, arp_reply(h2, h1)),             # unicast to 1
        (0.2, 1, data(h1, h2, "hello h2")),      # unicast to 2
        (0.3, 3, arp_request(h3, h1[0])),        # flood
        (0.4, 1, arp_reply(h1, h3)),             # unicast to 3
        (0.5, 3, data(h3, ghost, "anyone?")),    # unknown: flood
        (0.6, 4, Ether(src=h4[1], dst="01:00:5e:00:00:fb") /
         IP(src=h4[0], dst="224.0.0.251") / UDP(sport=5353, dport=5353)),
        (0.7, 2, Ether(src=h2[1], dst="01:80:c2:00:00:00") / LLC() /
         STP()),                                 # BPDU: dropped
        (1.0, 4, data(MGMT, h3, "mgmt hello")),  # learned 99 @4; to 3
        (1.1, 3, data(h3, MGMT, "to mgmt")),     # static: 3 -> 4
        (1.2, 1, data(h1, MGMT, "to mgmt")),     # static: dropped
        (2.0, 2, data(h2, h1, "from h2")),       # unicast to 1
        # h2 moves to port 4 and speaks at once: its entry (last use 2.0)
        # is live, so it stays on port 2 ...
        (10.0, 4, data(h2, h1, "h2 on port 4, too early")),
        (11.0, 1, data(h1, h2, "where is h2?")),  # still to port 2
        # ... until it has been idle for more than 300 s.
        (320.0, 4, data(h2, h1, "h2 back after 310 s")),
        (321.0, 1, data(h1, h2, "found you")),   # now to port 4
        (322.0, 3, data(h3, h1, "h3 again")),    # h3 re-learned; to 1
        (323.0, 1, data(h1, h3, "hi h3")),       # unicast to 3
    ]


def main():
    out = out_dir(__file__)
    per_port = {p: [] for p in (1, 2, 3, 4)}
    for t, port, pkt in events():
        per_port[port].append((T0_US + int(round(t * 10**6)), bytes(pkt)))
    for p, frames in per_port.items():
        write_pcap(os.path.join(out, "p%d.pcap" % p), frames)


if __name__ == "__main__":
    main()
