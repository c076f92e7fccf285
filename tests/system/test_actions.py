"""Header rewrites, dec_ttl and VLAN actions.

The expected packets are computed here with scapy: the test copies the
input, edits the fields the actions should change and clears every checksum
so that scapy recomputes them from scratch.  sluice updates checksums
incrementally (RFC 1624), so a byte-exact comparison checks both."""

import pytest
from scapy.layers.inet import IP, TCP, UDP, ICMP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, Dot1Q, Ether
from scapy.packet import NoPayload

from packets import (PAYLOAD, arp, eth, icmp4, icmp6, shorthand, tcp4, tcp6,
                     udp4, udp6)
from sluicetest import assert_frames, frozen, stamp


def expect(pkt, *edits):
    """Copy of 'pkt' with edits (LAYER, FIELD, VALUE) applied and all
    checksums recomputed by scapy."""
    q = pkt.copy()
    for layer, field, value in edits:
        setattr(q[layer], field, value)
    lay = q
    while not isinstance(lay, NoPayload):
        for f in ("chksum", "cksum"):
            if f in lay.fields:
                setattr(lay, f, None)
        lay = lay.payload
    return frozen(q)


def forward(sw, pkts, actions):
    """Sends 'pkts' through rules PROTO,actions=ACTIONS,output:2, with
    PROTO the shorthand of each packet (rewrites need it in the match, as
    in OvS), and returns what ran."""
    sw.port(1, rx=stamp(pkts)).port(2)
    for proto in sorted({shorthand(p) for p in pkts}):
        sw.flow("%s,actions=%s,output:2" % (proto, actions))
    return sw.run()


REWRITES = [
    ("mod_dl_src", tcp4(), "mod_dl_src:00:11:22:33:44:55",
     [(Ether, "src", "00:11:22:33:44:55")]),
    ("mod_dl_dst", arp(), "mod_dl_dst:00:11:22:33:44:66",
     [(Ether, "dst", "00:11:22:33:44:66")]),
    ("mod_nw_src_tcp", tcp4(), "mod_nw_src:192.0.2.77",
     [(IP, "src", "192.0.2.77")]),
    ("mod_nw_dst_udp", udp4(), "mod_nw_dst:198.51.100.200",
     [(IP, "dst", "198.51.100.200")]),
    ("mod_nw_src_icmp", icmp4(), "mod_nw_src:10.255.0.1",
     [(IP, "src", "10.255.0.1")]),
    ("mod_nw_tos_keeps_ecn", tcp4(tos=0x03), "mod_nw_tos:184",
     [(IP, "tos", 0xbb)]),
    ("mod_tp_src_tcp", tcp4(), "mod_tp_src:40000", [(TCP, "sport", 40000)]),
    ("mod_tp_dst_tcp", tcp4(), "mod_tp_dst:8080", [(TCP, "dport", 8080)]),
    ("mod_tp_src_udp", udp4(), "mod_tp_src:1", [(UDP, "sport", 1)]),
    ("mod_tp_dst_udp", udp4(), "mod_tp_dst:65535", [(UDP, "dport", 65535)]),
    ("nat_four_fields", tcp4(),
     "mod_nw_src:172.16.0.1,mod_nw_dst:172.16.0.2,mod_tp_src:1,"
     "mod_tp_dst:2",
     [(IP, "src", "172.16.0.1"), (IP, "dst", "172.16.0.2"),
      (TCP, "sport", 1), (TCP, "dport", 2)]),
    ("ip_options", frozen(eth() / IP(src="10.0.0.1", dst="10.0.0.2",
                                     options=b"\x94\x04\x00\x00") /
                          TCP(sport=1, dport=2) / PAYLOAD),
     "mod_nw_dst:10.1.1.1,mod_tp_dst:3",
     [(IP, "dst", "10.1.1.1"), (TCP, "dport", 3)]),
    ("set_field_nw_dst", tcp4(), "set_field:10.9.9.9->nw_dst",
     [(IP, "dst", "10.9.9.9")]),
    ("set_field_tp_dst", udp4(), "set_field:443->tp_dst",
     [(UDP, "dport", 443)]),
    ("set_field_eth_src", tcp4(), "set_field:02:00:00:00:00:01->eth_src",
     [(Ether, "src", "02:00:00:00:00:01")]),
    ("set_field_nw_ttl", tcp4(), "set_field:9->nw_ttl", [(IP, "ttl", 9)]),
    ("set_field_ip_dscp", udp4(tos=0x01), "set_field:46->ip_dscp",
     [(IP, "tos", 0xb9)]),
    ("set_field_ipv6_src_tcp", tcp6(), "set_field:2001:db8::99->ipv6_src",
     [(IPv6, "src", "2001:db8::99")]),
    ("set_field_ipv6_dst_udp", udp6(), "set_field:fd00::1->ipv6_dst",
     [(IPv6, "dst", "fd00::1")]),
    ("set_field_ipv6_dst_icmp6", icmp6(), "set_field:fd00::2->ipv6_dst",
     [(IPv6, "dst", "fd00::2")]),
    ("set_field_ipv6_label", tcp6(), "set_field:0x54321->ipv6_label",
     [(IPv6, "fl", 0x54321)]),
    ("mod_tp_dst_tcp6", tcp6(), "mod_tp_dst:8443", [(TCP, "dport", 8443)]),
    ("set_field_icmp_type", icmp4(), "set_field:0->icmp_type",
     [(ICMP, "type", 0)]),
    ("set_field_arp_op", arp(), "set_field:2->arp_op", [(ARP, "op", 2)]),
    ("set_field_arp_spa_tpa", arp(),
     "set_field:10.0.0.9->arp_spa,set_field:10.0.0.10->arp_tpa",
     [(ARP, "psrc", "10.0.0.9"), (ARP, "pdst", "10.0.0.10")]),
    ("set_field_arp_sha_tha", arp(),
     "set_field:00:00:00:00:00:33->arp_sha,"
     "set_field:00:00:00:00:00:44->arp_tha",
     [(ARP, "hwsrc", "00:00:00:00:00:33"),
      (ARP, "hwdst", "00:00:00:00:00:44")]),
]


@pytest.mark.parametrize("pkt,actions,edits", [c[1:] for c in REWRITES],
                         ids=[c[0] for c in REWRITES])
def test_rewrite(sw, pkt, actions, edits):
    r = forward(sw, [pkt], actions)
    assert_frames(r.out[2], stamp([expect(pkt, *edits)]))


def test_rewrite_of_padded_frame_keeps_padding(sw):
    # A 60-byte frame: UDP inside IPv4 whose total length ends before the
    # Ethernet padding.  Checksums cover the IP datagram only.
    pkt = frozen(Ether(bytes(eth() / IP(src="10.0.0.1", dst="10.0.0.2") /
                             UDP(sport=1, dport=2)) + b"\xee" * 18))
    assert len(pkt) == 60
    r = forward(sw, [pkt], "mod_tp_dst:7,mod_nw_src:10.0.0.5")
    assert_frames(r.out[2], stamp([expect(pkt, (UDP, "dport", 7),
                                          (IP, "src", "10.0.0.5"))]))


@pytest.mark.parametrize("actions,edits", [
    ("mod_nw_dst:10.7.7.7", [(IP, "dst", "10.7.7.7")]),
    ("mod_tp_dst:99", [(UDP, "dport", 99)]),
])
def test_udp_zero_checksum_stays_zero(sw, actions, edits):
    # A UDP checksum of zero means "none" over IPv4: a rewrite must leave it
    # alone rather than turn it into a wrong non-zero value.
    pkt = frozen(eth() / IP(src="10.0.0.1", dst="10.0.0.2") /
                 UDP(sport=1, dport=2, chksum=0) / PAYLOAD)
    r = forward(sw, [pkt], actions)
    q = pkt.copy()
    for layer, field, value in edits:
        setattr(q[layer], field, value)
    q[IP].chksum = None
    assert_frames(r.out[2], stamp([frozen(q)]))


def test_dec_ttl(sw):
    pkts = [tcp4(ttl=64), tcp4(ttl=2), tcp4(ttl=1), tcp4(ttl=0),
            tcp6(hlim=64), tcp6(hlim=1)]
    r = forward(sw, pkts, "dec_ttl")
    ts = [t for t, _ in stamp(pkts)]
    want = [(ts[0], bytes(expect(pkts[0], (IP, "ttl", 63)))),
            (ts[1], bytes(expect(pkts[1], (IP, "ttl", 1)))),
            (ts[4], bytes(expect(pkts[4], (IPv6, "hlim", 63))))]
    assert_frames(r.out[2], want)
    assert r.stats["drops"].get("ttl_expired") == 3


def arp_tagged(vid):
    plain = arp()
    return frozen(Ether(src=plain.src, dst=plain.dst) / Dot1Q(vlan=vid) /
                  plain[ARP])


VLAN_CASES = [
    ("push_vlan", tcp4(), "push_vlan:0x8100,mod_vlan_vid:10",
     tcp4(l2=eth(vlan=10))),
    ("push_vlan_with_pcp", udp4(),
     "push_vlan:0x8100,mod_vlan_vid:11,mod_vlan_pcp:6",
     udp4(l2=eth(vlan=11, pcp=6))),
    ("mod_vlan_vid_pushes_when_untagged", tcp4(), "mod_vlan_vid:20",
     tcp4(l2=eth(vlan=20))),
    ("mod_vlan_vid_keeps_pcp", tcp4(l2=eth(vlan=10, pcp=3)),
     "mod_vlan_vid:4094", tcp4(l2=eth(vlan=4094, pcp=3))),
    ("mod_vlan_pcp_keeps_vid", tcp4(l2=eth(vlan=10, pcp=3)),
     "mod_vlan_pcp:7", tcp4(l2=eth(vlan=10, pcp=7))),
    ("strip_vlan", tcp4(l2=eth(vlan=10, pcp=2)), "strip_vlan", tcp4()),
    ("pop_vlan_arp", arp_tagged(9), "pop_vlan", arp()),
    ("pop_vlan_outer_of_two", tcp4(l2=eth(vlan=30, vlan2=40)), "pop_vlan",
     tcp4(l2=eth(vlan=40))),
    ("push_vlan_qinq", tcp4(l2=eth(vlan=10)),
     "push_vlan:0x88a8,mod_vlan_vid:100", tcp4(l2=eth(vlan=100, vlan2=10))),
    ("push_then_rewrite_l3", udp4(),
     "push_vlan:0x8100,mod_vlan_vid:5,mod_nw_dst:10.0.0.99",
     expect(udp4(l2=eth(vlan=5)), (IP, "dst", "10.0.0.99"))),
]


@pytest.mark.parametrize("pkt,actions,want", [c[1:] for c in VLAN_CASES],
                         ids=[c[0] for c in VLAN_CASES])
def test_vlan(sw, pkt, actions, want):
    r = forward(sw, [pkt], actions)
    assert_frames(r.out[2], stamp([want]))


def test_rewritten_vlan_is_matched_by_next_table(sw):
    pkts = stamp([tcp4(), tcp4(l2=eth(vlan=3))])
    sw.port(1, rx=pkts).port(2).port(3)
    sw.flow("table=0,vlan_tci=0,actions=mod_vlan_vid:77,goto_table:1",
            "table=0,priority=1,actions=strip_vlan,goto_table:1",
            "table=1,dl_vlan=77,actions=output:2",
            "table=1,vlan_tci=0,actions=output:3")
    r = sw.run()
    assert_frames(r.out[2], stamp([tcp4(l2=eth(vlan=77))]))
    assert_frames(r.out[3], [(pkts[1][0], bytes(tcp4()))])
