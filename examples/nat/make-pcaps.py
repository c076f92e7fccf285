#!/usr/bin/python3
"""Makes the NAT example's input pcaps: lan.pcap (port 1) and wan.pcap
(port 2).  Deterministic (fixed timestamps from 2024-01-01 00:00:00 UTC,
in microseconds), so running it again gives the bytes checked in:
    /usr/bin/python3 examples/nat/make-pcaps.py [OUTDIR]

The story (nat.conf: external address 198.51.100.1, ports 40000-40003,
idle timeout 30 s):
  t=0..3   four LAN flows open and take ports 40000..40003 in order: a web
           fetch (TCP), a DNS query (UDP), an NTP query, an SSH session;
  t=0.5..  the servers answer to those ports and are let in;
  t=4      a fifth flow finds every port taken: dropped (port exhaustion);
  t=5      spoofed: another host sends to the web flow's port: dropped;
  t=6      unsolicited: a scan of port 40010 (out of range) and of port
           22 (below the range): dropped; ICMP echo from the LAN: dropped;
  t=40     the web, DNS and NTP flows have been idle > 30 s and expire,
           oldest first; a new LAN flow takes the most recently freed
           port (NTP's 40002); a late DNS answer to 40001 is dropped;
  t=41     the SSH session, refreshed at t=30, is still open: its reply
           passes.
"""

import os
import sys

from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import Ether

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                os.pardir))
from pcaplib import T0_US, out_dir, write_pcap  # noqa: E402

LAN_GW = "02:00:00:00:00:01"       # The NAT's MAC on the LAN (port 1).
WAN_GW = "02:00:00:00:00:02"       # Its MAC on the WAN (port 2).
UPSTREAM = "02:00:00:00:00:fe"     # The WAN next hop.
HOST = ("10.0.0.2", "02:00:00:00:01:02")
HOST2 = ("10.0.0.3", "02:00:00:00:01:03")
EXT = "198.51.100.1"
WEB, DNS, NTP, SSH = "203.0.113.80", "192.0.2.53", "192.0.2.123", \
    "203.0.113.22"


def at(t):
    return T0_US + int(round(t * 10**6))


def lan(host, dst, l4, t, payload=b""):
    return (at(t), bytes(Ether(src=host[1], dst=LAN_GW) /
                         IP(src=host[0], dst=dst) / l4 / payload))


def wan(src, dport, l4, t, payload=b""):
    l4.dport = dport
    return (at(t), bytes(Ether(src=UPSTREAM, dst=WAN_GW) /
                         IP(src=src, dst=EXT) / l4 / payload))


def main():
    out = out_dir(__file__)
    lan_frames = [
        lan(HOST, WEB, TCP(sport=51000, dport=80, flags="S"), 0.0),
        lan(HOST, DNS, UDP(sport=53000, dport=53), 1.0, b"query"),
        lan(HOST2, NTP, UDP(sport=123, dport=123), 2.0, b"ntp?"),
        lan(HOST2, SSH, TCP(sport=52000, dport=22, flags="S"), 3.0),
        lan(HOST, WEB, TCP(sport=51001, dport=80, flags="S"), 4.0),
        lan(HOST, WEB, ICMP(), 6.5),
        lan(HOST2, SSH, TCP(sport=52000, dport=22, flags="PA"), 30.0,
            b"ls\n"),
        lan(HOST, "192.0.2.99", UDP(sport=54000, dport=9), 40.0, b"new"),
    ]
    wan_frames = [
        wan(WEB, 40000, TCP(sport=80, flags="SA"), 0.5),
        wan(DNS, 40001, UDP(sport=53), 1.5, b"answer"),
        wan(NTP, 40002, UDP(sport=123), 2.5, b"time"),
        wan(SSH, 40003, TCP(sport=22, flags="SA"), 3.5),
        wan("203.0.113.66", 40000, TCP(sport=80, flags="A"), 5.0,
            b"spoof"),
        wan("203.0.113.66", 40010, TCP(sport=999, flags="S"), 6.0),
        wan("203.0.113.66", 22, TCP(sport=999, flags="S"), 6.1),
        wan(DNS, 40001, UDP(sport=53), 40.5, b"late"),
        wan(SSH, 40003, TCP(sport=22, flags="PA"), 41.0, b"files\n"),
    ]
    for name, frames in (("lan.pcap", lan_frames), ("wan.pcap", wan_frames)):
        write_pcap(os.path.join(out, name),
                   sorted(frames, key=lambda x: x[0]))


if __name__ == "__main__":
    main()
