#!/usr/bin/python3
"""Makes the quick start's input pcaps: lan.pcap and wan.pcap.

Deterministic: fixed timestamps (from 2024-01-01 00:00:00 UTC, in
microseconds) and a fixed random seed, so running it again gives the same
bytes as the files checked in.  Run with Debian's python (scapy):
    /usr/bin/python3 examples/make-pcaps.py [OUTDIR]
"""

import os
import random

from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import ICMPv6EchoRequest, IPv6
from scapy.layers.l2 import ARP, Ether
from scapy.layers.dns import DNS, DNSQR
from scapy.packet import Raw

from pcaplib import T0_US, out_dir, write_pcap

GW_LAN = "02:00:00:00:00:01"           # The switch's router MACs.
GW_WAN = "02:00:00:00:00:02"
UPSTREAM = "02:00:00:00:00:fe"         # The WAN next hop.
HOSTS = [("10.0.0.%d" % i, "02:00:00:00:01:%02x" % i) for i in range(2, 6)]


def lan_packets(rng):
    """What the LAN hosts send (port 1)."""
    pkts = []
    for ip, mac in HOSTS:
        # Who has the gateway?  (flooded)
        pkts.append(Ether(src=mac, dst="ff:ff:ff:ff:ff:ff") /
                    ARP(op=1, hwsrc=mac, psrc=ip, pdst="10.0.0.1"))
        # HTTPS to a public server: routed to the WAN.
        sport = rng.randrange(32768, 61000)
        for flags in ("S", "A", "PA"):
            pkts.append(Ether(src=mac, dst=GW_LAN) /
                        IP(src=ip, dst="93.184.216.34", id=rng.randrange(
                            65536)) /
                        TCP(sport=sport, dport=443, flags=flags,
                            seq=rng.randrange(2**32)) /
                        Raw(b"\x16\x03\x01" * (4 if flags == "PA" else 0)))
        # A DNS query.
        pkts.append(Ether(src=mac, dst=GW_LAN) /
                    IP(src=ip, dst="9.9.9.9", id=rng.randrange(65536)) /
                    UDP(sport=rng.randrange(32768, 61000), dport=53) /
                    DNS(id=rng.randrange(65536), rd=1,
                        qd=DNSQR(qname="example.org")))
    ip, mac = HOSTS[1]
    # Telnet out: dropped by policy.
    pkts.append(Ether(src=mac, dst=GW_LAN) /
                IP(src=ip, dst="198.51.100.7") /
                TCP(sport=40000, dport=23, flags="S"))
    # A traceroute probe with TTL 1: dec_ttl drops it.
    pkts.append(Ether(src=mac, dst=GW_LAN) /
                IP(src=ip, dst="93.184.216.34", ttl=1) /
                ICMP(id=7, seq=1) / Raw(b"probe"))
    # IPv6: no rule for it, so a table miss.
    pkts.append(Ether(src=mac, dst=GW_LAN) /
                IPv6(src="fe80::1", dst="ff02::1") /
                ICMPv6EchoRequest(id=1, seq=1))
    # A frame cut short in its TCP header: counted as tcp_short, and still
    # routed by the IPv4 rule, which needs nothing beyond the IP header.
    cut = bytes(Ether(src=mac, dst=GW_LAN) /
                IP(src=ip, dst="93.184.216.34", len=30, proto=6) /
                Raw(b"\x9c\x40\x01\xbb\x00\x00\x00\x00\x00\x00"))
    pkts.append(cut)
    return pkts


def wan_packets(rng):
    """What arrives from upstream (port 2)."""
    pkts = []
    for ip, mac in HOSTS:
        # Replies to the LAN hosts: routed back in.
        pkts.append(Ether(src=UPSTREAM, dst=GW_WAN) /
                    IP(src="93.184.216.34", dst=ip, ttl=52) /
                    TCP(sport=443, dport=rng.randrange(32768, 61000),
                        flags="SA", seq=rng.randrange(2**32)))
    for i in range(6):
        # Web requests to the public address: DNAT to the server on the
        # VLAN 100 trunk.
        pkts.append(Ether(src=UPSTREAM, dst=GW_WAN) /
                    IP(src="198.51.100.%d" % (20 + i), dst="203.0.113.10",
                       ttl=57) /
                    TCP(sport=rng.randrange(1024, 65535), dport=80,
                        flags="S", seq=rng.randrange(2**32)))
    # Telnet in: dropped.
    pkts.append(Ether(src=UPSTREAM, dst=GW_WAN) /
                IP(src="198.51.100.66", dst=HOSTS[0][0]) /
                TCP(sport=5555, dport=23, flags="S"))
    # The upstream router asks for our WAN address.
    pkts.append(Ether(src=UPSTREAM, dst="ff:ff:ff:ff:ff:ff") /
                ARP(op=1, hwsrc=UPSTREAM, psrc="192.0.2.1",
                    pdst="192.0.2.2"))
    return pkts


def stamp(pkts, rng, start_us):
    """Timestamps from 'start_us', 0.1 to 20 ms apart."""
    frames = []
    t = start_us
    for p in pkts:
        t += rng.randrange(100, 20000)
        frames.append((t, bytes(p)))
    return frames


def main():
    out = out_dir(__file__)
    rng = random.Random(2024)
    write_pcap(os.path.join(out, "lan.pcap"),
               stamp(lan_packets(rng), rng, T0_US))
    write_pcap(os.path.join(out, "wan.pcap"),
               stamp(wan_packets(rng), rng, T0_US + 5000))


if __name__ == "__main__":
    main()
