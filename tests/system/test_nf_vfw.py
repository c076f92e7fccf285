"""The Vigor-variant stateful firewall (progs/vfw.c) in `sluice run`:
NF-SPECS "Stateful firewall (Vigor variant)", rules 1-3, including the
full table and idle expiry with packet times on and just past the
timeout.  Ports 1 and 2 are LAN ports, port 3 is the WAN."""

import os

import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import ARP, Ether

from sluicetest import T0_NS, assert_frames, build_root

SEC = 10**9
PORTS = (1, 2, 3)
WAN = 3
H1 = "10.0.0.1"          # On LAN port 1.
H2 = "10.0.0.2"          # On LAN port 2.
R = "198.18.5.5"         # Remote, behind the WAN.


def prog_obj(name):
    path = os.path.join(build_root(), "progs", name + ".o")
    if not os.path.exists(path):
        pytest.fail("%s not built (build sluice first)" % path)
    return path


def eth():
    return Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")


def udp(src, dst, sport, dport, tag=b""):
    return eth() / IP(src=src, dst=dst) / UDP(sport=sport, dport=dport) / tag


def tcp(src, dst, sport, dport, flags="A", tag=b""):
    return eth() / IP(src=src, dst=dst) / TCP(sport=sport, dport=dport,
                                              flags=flags) / tag


class Run:
    def __init__(self, events):
        self.frames = []
        self.rx = {p: [] for p in PORTS}
        for i, (t, port, pkt) in enumerate(events):
            ts = T0_NS + int(round(t * SEC))
            # A per-event tag keeps equal packets apart in the outputs.
            data = bytes(pkt) + b"#%d" % i
            self.frames.append((ts, data))
            self.rx[port].append((ts, data))

    def expect(self, placement):
        out = {p: [] for p in PORTS}
        for i, o in placement.items():
            out[o].append(self.frames[i])
        for p in PORTS:
            out[p].sort()
        return out


def firewall(sw, run, timeout_s=10, capacity=None):
    for p in PORTS:
        sw.port(p, rx=run.rx[p], nsec=True)
    args = ["rodata.wan_port=%d" % WAN,
            "rodata.timeout_ns=%d" % (timeout_s * SEC)]
    if capacity is not None:
        args.append("rodata.capacity=%d" % capacity)
    sw.line("prog load fw %s %s" % (prog_obj("vfw"), " ".join(args)))
    sw.flow("actions=prog:fw")
    res = sw.run()
    return res


def check(res, expected):
    for p in PORTS:
        assert_frames(res.out[p], expected[p], "port %d" % p)


def test_rule1_non_tcp_udp_dropped_both_ways(sw):
    events = [
        (0.0, 1, eth() / ARP(pdst=R)),                          # 0
        (0.1, 1, eth() / IP(src=H1, dst=R) / ICMP()),           # 1
        (0.2, 1, eth() / IP(src=H1, dst=R, proto=47) / b"gre"),  # 2
        (0.3, 1, eth() / IP(src=H1, dst=R, frag=100, proto=17) /
         b"later fragment"),                                     # 3
        (0.4, 3, eth() / IP(src=R, dst=H1) / ICMP(type=0)),     # 4
        (0.5, 1, udp(H1, R, 1000, 53)),                         # 5 passes
        (0.6, 3, eth() / IP(src=R, dst=H1) / ICMP(type=3)),     # 6 no state
        (0.7, 1, eth() / b"\x08\x00\x45"),                      # 7 runt
    ]
    run = Run(events)
    res = firewall(sw, run)
    check(res, run.expect({5: WAN}))


def test_rules_2_3_flows_per_lan_port_and_spoofed_replies(sw):
    events = [
        (0.0, 3, udp(R, H1, 53, 1000)),           # 0 unsolicited: drop
        (1.0, 1, udp(H1, R, 1000, 53)),           # 1 new: to WAN
        (1.1, 2, tcp(H2, R, 2000, 80, "S")),      # 2 new: to WAN
        (1.2, 3, udp(R, H1, 53, 1000)),           # 3 reply: LAN port 1
        (1.3, 3, tcp(R, H2, 80, 2000, "SA")),     # 4 reply: LAN port 2
        (1.4, 3, udp(R, H1, 54, 1000)),           # 5 other remote port
        (1.5, 3, udp("198.18.5.6", H1, 53, 1000)),  # 6 other remote IP
        (1.6, 3, tcp(R, H1, 53, 1000)),           # 7 other protocol
        (1.7, 3, udp(R, H1, 53, 1001)),           # 8 other LAN port
        (1.8, 1, udp(H1, R, 1000, 53)),           # 9 known: refresh
        (1.9, 2, udp(H1, R, 1000, 53)),           # 10 known, from port 2:
                                                  #    refresh (port kept)
        (2.0, 3, udp(R, H1, 53, 1000)),           # 11 still to port 1
    ]
    run = Run(events)
    res = firewall(sw, run)
    check(res, run.expect({1: WAN, 2: WAN, 3: 1, 4: 2, 9: WAN, 10: WAN,
                           11: 1}))


def test_idle_expiry_refresh_by_either_side(sw):
    events = [
        (0.0, 1, udp(H1, R, 1000, 53)),           # 0 new
        (10.0, 3, udp(R, H1, 53, 1000)),          # 1 idle exactly 10 s:
                                                  #   passes, refreshes
        (20.0, 3, udp(R, H1, 53, 1000)),          # 2 again exactly 10 s
        (30.000000001, 3, udp(R, H1, 53, 1000)),  # 3 10 s + 1 ns: expired
        (31.0, 2, udp(H1, R, 1000, 53)),          # 4 re-created from port 2
        (32.0, 3, udp(R, H1, 53, 1000)),          # 5 now to port 2
        (40.0, 2, udp(H1, R, 1000, 53)),          # 6 LAN side refreshes
        (49.0, 3, udp(R, H1, 53, 1000)),          # 7 9 s after: passes
    ]
    run = Run(events)
    res = firewall(sw, run)
    check(res, run.expect({0: WAN, 1: 1, 2: 1, 4: WAN, 5: 2, 6: WAN, 7: 2}))


def test_full_table_still_forwards_outbound_without_state(sw):
    events = [
        (0.0, 1, udp(H1, R, 1, 53)),              # 0 flow a (1 of 2)
        (1.0, 1, udp(H1, R, 2, 53)),              # 1 flow b (2 of 2)
        (2.0, 1, udp(H1, R, 3, 53)),              # 2 flow c: full, still
                                                  #   forwarded, no entry
        (2.5, 3, udp(R, H1, 53, 3)),              # 3 reply to c: drop
        (3.0, 3, udp(R, H1, 53, 1)),              # 4 reply to a: passes
        (8.0, 1, udp(H1, R, 2, 53)),              # 5 b refreshed
        (13.5, 1, udp(H1, R, 3, 53)),             # 6 a (3.0) expired: c
                                                  #   takes its slot
        (14.0, 3, udp(R, H1, 53, 3)),             # 7 reply to c: passes
        (14.5, 3, udp(R, H1, 53, 1)),             # 8 reply to a: drop
        (15.0, 1, udp(H1, R, 4, 53)),             # 9 flow d: full (b, c)
        (15.5, 3, udp(R, H1, 53, 4)),             # 10 reply to d: drop
        (16.0, 3, udp(R, H1, 53, 2)),             # 11 b (8.0) live
    ]
    run = Run(events)
    res = firewall(sw, run, capacity=2)
    check(res, run.expect({0: WAN, 1: WAN, 2: WAN, 4: 1, 5: WAN, 6: WAN,
                           7: 1, 9: WAN, 11: 1}))
