"""Packets the system tests send, built with scapy.

Every builder returns a "frozen" packet (built and parsed back) so that
lengths and checksums are ordinary field values: a test copies it, edits
the fields a rule should rewrite, clears the checksums and lets scapy
compute the expected packet independently of sluice's incremental
updates."""

from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import ICMPv6EchoRequest, IPv6
from scapy.layers.l2 import ARP, Dot1AD, Dot1Q, Ether
from scapy.layers.sctp import SCTP
from scapy.packet import Raw

from sluicetest import frozen

MAC_A = "00:00:00:00:00:0a"
MAC_B = "00:00:00:00:00:0b"
PAYLOAD = Raw(b"sluice-payload-0123456789")


def eth(src=MAC_A, dst=MAC_B, vlan=None, pcp=0, vlan2=None):
    """Ethernet header, optionally with an 802.1Q tag, or two tags (outer
    802.1ad 'vlan', inner 802.1Q 'vlan2')."""
    e = Ether(src=src, dst=dst)
    if vlan is not None and vlan2 is not None:
        return e / Dot1AD(vlan=vlan, prio=pcp) / Dot1Q(vlan=vlan2)
    if vlan is not None:
        return e / Dot1Q(vlan=vlan, prio=pcp)
    return e


def tcp4(src="10.0.0.1", dst="10.0.0.2", sport=1234, dport=80, flags="S",
         ttl=64, tos=0, l2=None, **ip):
    return frozen((l2 or eth()) / IP(src=src, dst=dst, ttl=ttl, tos=tos,
                                     **ip) /
                  TCP(sport=sport, dport=dport, flags=flags) / PAYLOAD)


def udp4(src="10.0.0.1", dst="10.0.0.2", sport=5000, dport=53, ttl=64,
         tos=0, l2=None, **ip):
    return frozen((l2 or eth()) / IP(src=src, dst=dst, ttl=ttl, tos=tos,
                                     **ip) /
                  UDP(sport=sport, dport=dport) / PAYLOAD)


def sctp4(src="10.0.0.1", dst="10.0.0.2", sport=7000, dport=7001):
    return frozen(eth() / IP(src=src, dst=dst) /
                  SCTP(sport=sport, dport=dport) / PAYLOAD)


def icmp4(src="10.0.0.1", dst="10.0.0.2", type=8, code=0, ttl=64):
    return frozen(eth() / IP(src=src, dst=dst, ttl=ttl) /
                  ICMP(type=type, code=code) / PAYLOAD)


def tcp6(src="2001:db8::1", dst="2001:db8::2", sport=1234, dport=80,
         hlim=64, fl=0, tc=0, l2=None):
    return frozen((l2 or eth()) / IPv6(src=src, dst=dst, hlim=hlim, fl=fl,
                                       tc=tc) /
                  TCP(sport=sport, dport=dport, flags="S") / PAYLOAD)


def udp6(src="2001:db8::1", dst="2001:db8::2", sport=5000, dport=53):
    return frozen(eth() / IPv6(src=src, dst=dst) /
                  UDP(sport=sport, dport=dport) / PAYLOAD)


def icmp6(src="2001:db8::1", dst="2001:db8::2"):
    return frozen(eth() / IPv6(src=src, dst=dst) /
                  ICMPv6EchoRequest(id=1, seq=1) / PAYLOAD)


def arp(op=1, psrc="10.0.0.1", pdst="10.0.0.2", hwsrc=MAC_A,
        hwdst="00:00:00:00:00:00"):
    return frozen(Ether(src=MAC_A, dst="ff:ff:ff:ff:ff:ff") /
                  ARP(op=op, psrc=psrc, pdst=pdst, hwsrc=hwsrc,
                      hwdst=hwdst))


def shorthand(pkt):
    """The ovs-ofctl protocol shorthand that matches scapy packet 'pkt'
    ("tcp", "udp6", "arp", ...), as rewrite actions need in the match."""
    from scapy.layers.inet import ICMP as ICMP4
    from scapy.layers.inet6 import _ICMPv6
    if ARP in pkt:
        return "arp"
    v6 = IPv6 in pkt
    if TCP in pkt:
        return "tcp6" if v6 else "tcp"
    if UDP in pkt:
        return "udp6" if v6 else "udp"
    if ICMP4 in pkt:
        return "icmp"
    if _ICMPv6 in pkt:
        return "icmp6"
    return "ipv6" if v6 else "ip"
