"""Truncated and inconsistent headers: never read past the end, still
forwarded by rules on the fields that were valid, counted by reason."""

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6, IPv6ExtHdrHopByHop
from scapy.layers.l2 import Dot1Q, Ether
from scapy.packet import Raw

from packets import MAC_A, MAC_B, PAYLOAD, eth
from sluicetest import assert_frames, nonzero, stamp


def raw_eth(l3, type=0x0800):
    return bytes(Ether(src=MAC_A, dst=MAC_B, type=type)) + bytes(l3)


def good_ip():
    return IP(src="10.0.0.1", dst="10.0.0.2")


def cut_l4(l4, keep, src="10.0.0.1"):
    """An IPv4 packet whose total length is right but which holds only the
    first 'keep' bytes of the L4 header 'l4'."""
    ip = IP(src=src, dst="10.0.0.2", proto=l4.overload_fields[IP]["proto"],
            len=20 + keep)
    return bytes(ip) + bytes(ip / l4)[20:20 + keep]


# (reason, frame bytes, dl_type of the frame or None if there is none).
BROKEN = [
    ("eth_short", bytes(Ether(src=MAC_A, dst=MAC_B))[:10], None),
    ("vlan_short", bytes(Ether(src=MAC_A, dst=MAC_B, type=0x8100)) +
     b"\x00", None),
    ("ip4_short", raw_eth(bytes(good_ip())[:12]), 0x0800),
    ("ip4_bad_version", raw_eth(b"\x65" + bytes(good_ip() / TCP())[1:]),
     0x0800),
    ("ip4_bad_ihl", raw_eth(bytes(IP(ihl=4, src="10.0.0.1",
                                     dst="10.0.0.2") / TCP())), 0x0800),
    ("ip4_opts_short", raw_eth(bytes(IP(ihl=15, src="10.0.0.1",
                                        dst="10.0.0.2"))[:20] +
                               b"\x01" * 8), 0x0800),
    ("ip4_bad_len", raw_eth(bytes(IP(len=1000, src="10.0.0.1",
                                     dst="10.0.0.2") / UDP())), 0x0800),
    ("ip4_bad_len_below_header", raw_eth(bytes(IP(len=12, src="10.0.0.1",
                                                  dst="10.0.0.2") /
                                               UDP())), 0x0800),
    ("tcp_short", raw_eth(cut_l4(TCP(), 10)), 0x0800),
    ("tcp_bad_off", raw_eth(bytes(good_ip() / TCP(dataofs=15) /
                                  Raw(b"x" * 8))), 0x0800),
    ("tcp_bad_off", raw_eth(bytes(good_ip() / TCP(dataofs=3))), 0x0800),
    ("udp_short", raw_eth(cut_l4(UDP(), 4)), 0x0800),
    ("icmp_short", raw_eth(bytes(IP(src="10.0.0.1", dst="10.0.0.2",
                                    proto=1, len=22)) + b"\x08\x00"),
     0x0800),
    ("ip6_short", raw_eth(bytes(IPv6())[:30], 0x86dd), 0x86dd),
    ("ip6_bad_version", raw_eth(b"\x45" + bytes(IPv6() / UDP())[1:],
                                0x86dd), 0x86dd),
    ("ip6_bad_len", raw_eth(bytes(IPv6(plen=500) / UDP() / PAYLOAD),
                            0x86dd), 0x86dd),
    ("ip6_ext_short", raw_eth(bytes(IPv6(nh=0, plen=4)) + b"\x11\x00\x00"
                              b"\x00", 0x86dd), 0x86dd),
]
IDS = ["%s_%d" % (b[0], i) for i, b in enumerate(BROKEN)]


def reason_name(reason):
    return reason.replace("_below_header", "")


@pytest.mark.parametrize("reason,frame,dl_type", BROKEN, ids=IDS)
def test_broken_packet_forwarded_by_l2_rule(sw, reason, frame, dl_type):
    # The frame goes out unchanged through a rule on L2 fields only, and a
    # well-formed packet after it is unaffected.
    good = bytes(eth() / good_ip() / UDP(sport=1, dport=2) / PAYLOAD)
    pkts = stamp([frame, good])
    sw.port(1, rx=pkts).port(2).port(3)
    if dl_type is None:
        sw.flow("priority=50,in_port=1,actions=output:2")
    else:
        sw.flow("priority=50,dl_src=%s,dl_type=0x%04x,actions=output:2" %
                (MAC_A, dl_type))
    sw.flow("priority=60,udp,tp_dst=2,actions=output:3")
    r = sw.run()
    assert_frames(r.out[2], pkts[:1], "broken packet (port 2)")
    assert_frames(r.out[3], pkts[1:], "good packet (port 3)")
    name = reason_name(reason)
    assert nonzero(r.stats["parse_errors"]) == {name: 1}
    assert nonzero(r.port_stats(1)["parse_errors"]) == {name: 1}


def test_partial_parse_keeps_valid_l3_fields(sw):
    # The IPv4 header is fine, the TCP header is cut short: nw_src still
    # matches, a rule on tp_dst does not.
    frame = raw_eth(cut_l4(TCP(dport=80), 6, src="10.5.5.5"))
    pkts = stamp([frame])
    sw.port(1, rx=pkts).port(2).port(3)
    sw.flow("priority=70,tcp,tp_dst=80,actions=output:3",
            "priority=60,ip,nw_src=10.5.5.5,actions=output:2")
    r = sw.run()
    assert_frames(r.out[2], pkts)
    assert r.out[3] == []
    assert nonzero(r.stats["parse_errors"]) == {"tcp_short": 1}


def test_extension_headers_and_vlan_parse_cleanly(sw):
    # Hop-by-hop options before UDP, behind a VLAN tag: tp_dst is found and
    # no parse error is counted.
    frame = bytes(Ether(src=MAC_A, dst=MAC_B) / Dot1Q(vlan=4) /
                  IPv6(src="2001:db8::1", dst="2001:db8::2") /
                  IPv6ExtHdrHopByHop() / UDP(sport=9, dport=4789) / PAYLOAD)
    pkts = stamp([frame])
    sw.port(1, rx=pkts).port(2)
    sw.flow("udp6,dl_vlan=4,tp_dst=4789,actions=output:2")
    r = sw.run()
    assert_frames(r.out[2], pkts)
    assert nonzero(r.stats["parse_errors"]) == {}
