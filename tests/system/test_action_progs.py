"""Unmodified XDP programs as action programs (actions=prog:NAME).

The programs in tests/bpf/xdp_actions.c are written the way xdp-tutorial
and the kernel samples write them, against libbpf's headers only.  Each
test checks the XDP verdict semantics in a flow: XDP_PASS continues with
the next action, XDP_TX sends out the ingress port, XDP_REDIRECT sends to
the bpf_redirect() port, XDP_DROP and XDP_ABORTED drop (counted apart), and
packet rewrites, head and tail adjustments reach the output."""

import os

import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import ARP, Dot1Q, Ether
from scapy.packet import Raw

from sluicetest import ROOT, assert_frames, stamp

MAC_A = "02:00:00:00:00:0a"
MAC_B = "02:00:00:00:00:0b"


def xdp_obj():
    build = os.environ.get("SLUICE_BUILD_ROOT", os.path.join(ROOT, "build"))
    path = os.path.join(build, "progs", "test_xdp_actions.o")
    if not os.path.exists(path):
        pytest.fail("%s not built (build sluice first)" % path)
    return path


def icmp_echo(seq):
    return bytes(Ether(src=MAC_A, dst=MAC_B) /
                 IP(src="10.0.0.1", dst="10.0.0.2") /
                 ICMP(type=8, id=7, seq=seq) / Raw(b"ping-payload"))


def udp(dport=53):
    return bytes(Ether(src=MAC_A, dst=MAC_B) /
                 IP(src="10.0.0.1", dst="10.0.0.2") /
                 UDP(sport=5000, dport=dport) / Raw(b"x" * 100))


def tcp():
    return bytes(Ether(src=MAC_A, dst=MAC_B) /
                 IP(src="10.0.0.1", dst="10.0.0.2") /
                 TCP(sport=1, dport=2, flags="S"))


def arp():
    return bytes(Ether(src=MAC_A, dst="ff:ff:ff:ff:ff:ff") /
                 ARP(psrc="10.0.0.1", pdst="10.0.0.2"))


def test_xdp_tx_echo_reply_and_pass(sw):
    pkts = stamp([icmp_echo(1), udp(), icmp_echo(2)])
    sw.port(1, rx=pkts).port(2)
    sw.line("prog load echo %s xdp_icmp_echo" % xdp_obj())
    sw.flow("in_port=1,actions=prog:echo,output:2")
    res = sw.run()

    def reply(data):
        p = Ether(data)
        r = (Ether(src=p.dst, dst=p.src) /
             IP(src=p[IP].dst, dst=p[IP].src, id=p[IP].id, ttl=p[IP].ttl) /
             ICMP(type=0, id=p[ICMP].id, seq=p[ICMP].seq) /
             p[ICMP].payload)
        return bytes(r)

    # Echo requests come back out of port 1 as replies (XDP_TX), with a
    # checksum scapy computes from scratch; UDP passes on to output:2.
    assert_frames(res.out[1], [(pkts[0][0], reply(pkts[0][1])),
                               (pkts[2][0], reply(pkts[2][1]))], "port 1")
    assert_frames(res.out[2], pkts[1:2], "port 2")


def test_xdp_adjust_head_pops_vlan(sw):
    tagged = bytes(Ether(src=MAC_A, dst=MAC_B) / Dot1Q(vlan=42) /
                   IP(src="10.0.0.1", dst="10.0.0.2") / UDP() / Raw(b"v"))
    plain = udp()
    pkts = stamp([tagged, plain])
    sw.port(1, rx=pkts).port(2)
    sw.line("prog load vpop %s xdp_vlan_pop" % xdp_obj())
    # The rule after the program sees the re-parsed packet: no tag left.
    sw.flow("table=0,in_port=1,actions=prog:vpop,goto_table:1",
            "table=1,dl_vlan=0xffff,actions=output:2")
    res = sw.run()
    untagged = bytes(Ether(src=MAC_A, dst=MAC_B) /
                     IP(src="10.0.0.1", dst="10.0.0.2") / UDP() / Raw(b"v"))
    assert_frames(res.out[2], [(pkts[0][0], untagged), pkts[1]])


def test_xdp_adjust_tail_trims(sw):
    pkts = stamp([udp(), tcp()])
    sw.port(1, rx=pkts).port(2)
    sw.line("prog load trim %s xdp_trim64" % xdp_obj())
    sw.flow("in_port=1,actions=prog:trim,output:2")
    res = sw.run()
    assert_frames(res.out[2], [(pkts[0][0], pkts[0][1][:64]),
                               (pkts[1][0], pkts[1][1][:64])])


def test_xdp_redirect_drop_aborted(sw):
    pkts = stamp([udp(), tcp(), arp(), icmp_echo(1)])
    sw.port(1, rx=pkts).port(2).port(3)
    sw.line("prog load steer %s xdp_steer" % xdp_obj(),
            "map update steer egress 00000000 03000000")
    sw.flow("in_port=1,actions=prog:steer,output:2")
    res = sw.run()
    assert_frames(res.out[3], pkts[0:1], "redirected")   # UDP
    assert_frames(res.out[2], pkts[3:4], "passed")       # ICMP
    assert res.stats["drops"].get("prog_drop") == 1      # TCP
    assert res.stats["drops"].get("prog_aborted") == 1   # ARP
