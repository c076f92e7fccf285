"""Every match field, with masks and CIDR prefixes where OvS allows them.

Each case installs `priority=100,MATCH,actions=output:2` above a catch-all
to port 3 and sends packets that must hit and packets that must miss: the
hits come out of port 2, the misses out of port 3, in order."""

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import ICMPv6EchoReply, IPv6, IPv6ExtHdrFragment
from scapy.packet import Raw

from packets import (MAC_A, MAC_B, PAYLOAD, arp, eth, icmp4, icmp6, sctp4,
                     tcp4, tcp6, udp4, udp6)
from sluicetest import assert_frames, frozen, stamp


def first_fragment(dport=53):
    return frozen(eth() / IP(src="10.0.0.1", dst="10.0.0.2", flags="MF",
                             frag=0) /
                  UDP(sport=5000, dport=dport) / PAYLOAD)


def later_fragment(dport=53):
    # The bytes where a UDP header would be say "port 53", but a later
    # fragment carries no L4 header: OvS leaves tp_src/tp_dst at zero.
    fake_udp = bytes(UDP(sport=5000, dport=dport) / PAYLOAD)
    return frozen(eth() / IP(src="10.0.0.1", dst="10.0.0.2", proto=17,
                             frag=10) / Raw(fake_udp))


def frag6(offset, m=1, dport=53):
    """An IPv6 fragment (fragment header) of a UDP datagram: the first
    fragment carries the UDP header, a later one only bytes."""
    udp = bytes(UDP(sport=5000, dport=dport) / PAYLOAD)
    hdr = IPv6ExtHdrFragment(nh=17, offset=offset, m=m, id=7)
    return frozen(eth() / IPv6(src="2001:db8::1", dst="2001:db8::2") / hdr /
                  Raw(udp))


def icmp6_reply():
    return frozen(eth() / IPv6(src="2001:db8::1", dst="2001:db8::2") /
                  ICMPv6EchoReply(id=1, seq=1) / PAYLOAD)


CASES = [
    # L2.
    ("dl_src", "dl_src=%s" % MAC_A, [tcp4()], [tcp4(l2=eth(src=MAC_B))]),
    ("eth_src", "eth_src=%s" % MAC_A, [tcp4()], [tcp4(l2=eth(src=MAC_B))]),
    ("dl_dst", "dl_dst=%s" % MAC_B, [tcp4()], [arp()]),
    ("eth_dst", "eth_dst=%s" % MAC_B, [tcp4()], [arp()]),
    ("dl_dst_multicast_mask", "dl_dst=01:00:00:00:00:00/01:00:00:00:00:00",
     [arp()], [tcp4()]),
    ("dl_src_mask", "dl_src=00:00:00:00:00:00/ff:ff:ff:ff:ff:f0",
     [tcp4(l2=eth(src="00:00:00:00:00:0f"))],
     [tcp4(l2=eth(src="00:00:00:00:00:10"))]),
    ("dl_type_arp", "dl_type=0x0806", [arp()], [tcp4()]),
    ("dl_type_ipv6", "dl_type=0x86dd", [tcp6()], [tcp4()]),
    ("dl_vlan", "dl_vlan=10", [tcp4(l2=eth(vlan=10))],
     [tcp4(l2=eth(vlan=11)), tcp4()]),
    ("dl_vlan_pcp", "dl_vlan_pcp=5", [tcp4(l2=eth(vlan=10, pcp=5))],
     [tcp4(l2=eth(vlan=10, pcp=4)), tcp4()]),
    ("vlan_tci_any_tag", "vlan_tci=0x1000/0x1000",
     [tcp4(l2=eth(vlan=10)), tcp4(l2=eth(vlan=0, pcp=3))], [tcp4()]),
    ("vlan_tci_untagged", "vlan_tci=0", [tcp4()], [tcp4(l2=eth(vlan=7))]),
    ("vlan_tci_vid_mask", "vlan_tci=0x1005/0x1fff",
     [tcp4(l2=eth(vlan=5, pcp=7))], [tcp4(l2=eth(vlan=6)), tcp4()]),
    ("dl_vlan_outer_of_two", "dl_vlan=30",
     [tcp4(l2=eth(vlan=30, vlan2=40))], [tcp4(l2=eth(vlan=40, vlan2=30))]),
    # IPv4.
    ("nw_src_exact", "ip,nw_src=10.0.0.1", [tcp4()], [tcp4(src="10.0.0.3")]),
    ("nw_src_cidr", "ip,nw_src=10.1.2.0/24",
     [tcp4(src="10.1.2.200"), udp4(src="10.1.2.1")],
     [tcp4(src="10.1.3.1")]),
    ("nw_dst_dotted_mask", "ip,nw_dst=192.168.0.0/255.255.0.0",
     [udp4(dst="192.168.44.1")], [udp4(dst="192.169.0.1")]),
    ("nw_src_noncontiguous_mask", "ip,nw_src=10.0.0.1/255.0.0.255",
     [tcp4(src="10.9.9.1")], [tcp4(src="10.9.9.2"), tcp4(src="11.9.9.1")]),
    ("nw_proto", "ip,nw_proto=17", [udp4()], [tcp4(), icmp4()]),
    ("nw_tos", "ip,nw_tos=40", [tcp4(tos=0x28), tcp4(tos=0x29)],
     [tcp4(tos=0x30)]),
    ("ip_dscp", "ip,ip_dscp=10", [tcp4(tos=0x2b)], [tcp4(tos=0x2c)]),
    ("nw_ecn", "ip,nw_ecn=3", [tcp4(tos=0x2b)], [tcp4(tos=0x2a)]),
    ("nw_ttl", "ip,nw_ttl=5", [tcp4(ttl=5)], [tcp4(ttl=6)]),
    ("nw_frag_yes", "ip,nw_frag=yes", [first_fragment(), later_fragment()],
     [udp4()]),
    ("nw_frag_no", "ip,nw_frag=no", [udp4()],
     [first_fragment(), later_fragment()]),
    ("nw_frag_first", "ip,nw_frag=first", [first_fragment()],
     [later_fragment(), udp4()]),
    ("nw_frag_later", "ip,nw_frag=later", [later_fragment()],
     [first_fragment(), udp4()]),
    ("nw_frag_not_later", "ip,nw_frag=not_later", [udp4(), first_fragment()],
     [later_fragment()]),
    ("tp_dst_first_fragment_only", "udp,tp_dst=53", [first_fragment(53)],
     [later_fragment(53)]),
    ("ipv6_frag_first_has_ports", "udp6,nw_frag=first,tp_dst=53",
     [frag6(0)], [frag6(100), udp6()]),
    ("ipv6_frag_later", "ipv6,nw_frag=later", [frag6(100)],
     [frag6(0), udp6()]),
    # L4.
    ("tp_src", "tcp,tp_src=1234", [tcp4()], [tcp4(sport=1235)]),
    ("tp_dst", "udp,tp_dst=53", [udp4()], [udp4(dport=54)]),
    ("tp_src_mask", "tcp,tp_src=0x0400/0xfc00",
     [tcp4(sport=1024), tcp4(sport=2047)], [tcp4(sport=2048)]),
    ("tp_dst_mask", "udp,tp_dst=0x1000/0xf000", [udp4(dport=0x1fff)],
     [udp4(dport=0x2000)]),
    ("sctp_ports", "sctp,tp_src=7000,tp_dst=7001", [sctp4()],
     [sctp4(dport=7002)]),
    ("tcp_dst", "tcp,tcp_dst=80", [tcp4()], [tcp4(dport=81)]),
    ("udp_src", "udp,udp_src=5000", [udp4()], [udp4(sport=5001)]),
    ("sctp_dst", "sctp,sctp_dst=7001", [sctp4()], [sctp4(dport=7000)]),
    ("tp_dst_behind_two_tags", "tcp,tp_dst=80",
     [tcp4(l2=eth(vlan=30, vlan2=40))], [tcp4(l2=eth(vlan=30, vlan2=40),
                                             dport=81)]),
    ("tcp_flags_mask", "tcp,tcp_flags=0x002/0x012", [tcp4(flags="S")],
     [tcp4(flags="SA")]),
    ("tcp_flags_names", "tcp,tcp_flags=+syn-ack", [tcp4(flags="S")],
     [tcp4(flags="SA"), tcp4(flags="A")]),
    ("icmp_type", "icmp,icmp_type=8", [icmp4()], [icmp4(type=0)]),
    ("icmp_code", "icmp,icmp_type=3,icmp_code=1", [icmp4(type=3, code=1)],
     [icmp4(type=3, code=0)]),
    ("icmp6_type", "icmp6,icmp_type=128", [icmp6()], [icmp6_reply()]),
    ("icmpv6_type", "icmp6,icmpv6_type=129", [icmp6_reply()], [icmp6()]),
    # ARP.
    ("arp_op", "arp,arp_op=2", [arp(op=2)], [arp(op=1)]),
    ("arp_spa", "arp,arp_spa=10.0.0.1", [arp()], [arp(psrc="10.0.0.5")]),
    ("arp_nw_src_overload", "arp,nw_src=10.0.0.1", [arp()],
     [arp(psrc="10.0.0.5"), tcp4()]),
    ("arp_tpa_cidr", "arp,arp_tpa=10.0.0.0/24", [arp()],
     [arp(pdst="10.0.1.2")]),
    ("arp_sha", "arp,arp_sha=%s" % MAC_A, [arp()],
     [arp(hwsrc="00:00:00:00:00:0c")]),
    ("arp_tha", "arp,arp_tha=00:00:00:00:00:0d",
     [arp(op=2, hwdst="00:00:00:00:00:0d")], [arp(op=2)]),
    # IPv6.
    ("ipv6_src_prefix", "ipv6,ipv6_src=2001:db8::/32",
     [tcp6(), tcp6(src="2001:db8:ffff::1")], [tcp6(src="2001:db9::1")]),
    ("ipv6_dst_exact", "ipv6,ipv6_dst=2001:db8::2", [tcp6()],
     [tcp6(dst="2001:db8::3")]),
    ("ipv6_dst_prefix_64", "ipv6,ipv6_dst=2001:db8:0:1::/64",
     [udp6(dst="2001:db8:0:1:ffff::9")], [udp6(dst="2001:db8:0:2::9")]),
    ("ipv6_label", "ipv6,ipv6_label=0x12345", [tcp6(fl=0x12345)],
     [tcp6(fl=0x12346), tcp6()]),
    ("tcp6_tp_dst", "tcp6,tp_dst=80", [tcp6()], [tcp6(dport=81), tcp4()]),
    # Shorthands.
    ("ip", "ip", [tcp4(), icmp4()], [tcp6(), arp()]),
    ("ipv6", "ipv6", [tcp6(), icmp6()], [tcp4(), arp()]),
    ("tcp", "tcp", [tcp4()], [udp4(), tcp6()]),
    ("udp", "udp", [udp4()], [tcp4(), udp6()]),
    ("sctp", "sctp", [sctp4()], [tcp4(), udp4()]),
    ("icmp", "icmp", [icmp4()], [icmp6(), tcp4()]),
    ("icmp6", "icmp6", [icmp6()], [icmp4(), tcp6()]),
    ("arp", "arp", [arp()], [tcp4()]),
    ("tcp6", "tcp6", [tcp6()], [tcp4(), udp6()]),
    ("udp6", "udp6", [udp6()], [udp4(), tcp6()]),
    # Several fields at once.
    ("five_tuple", "tcp,nw_src=10.0.0.0/8,nw_dst=10.0.0.2,tp_src=1234,"
     "tp_dst=80", [tcp4()],
     [tcp4(src="11.0.0.1"), tcp4(dst="10.0.0.3"), tcp4(sport=1),
      tcp4(dport=81), udp4(sport=1234, dport=80)]),
]


@pytest.mark.parametrize("match,hits,misses", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_match_field(sw, match, hits, misses):
    pkts = stamp(hits + misses)
    sw.port(1, rx=pkts).port(2).port(3)
    sw.flow("priority=100,%s,actions=output:2" % match,
            "priority=1,actions=output:3")
    r = sw.run()
    assert_frames(r.out[2], pkts[:len(hits)], "hits (port 2)")
    assert_frames(r.out[3], pkts[len(hits):], "misses (port 3)")


def test_in_port(sw):
    a = stamp([udp4()])
    b = stamp([udp4(src="10.0.0.7")], start_ns=a[0][0] + 1_000_000)
    sw.port(1, rx=a, tx=False).port(4, rx=b, tx=False).port(2).port(3)
    sw.flow("priority=100,in_port=4,actions=output:2",
            "priority=1,actions=output:3")
    r = sw.run()
    assert_frames(r.out[2], b, "from port 4")
    assert_frames(r.out[3], a, "from port 1")
