"""The NAT (progs/nat.c, NF-SPECS "NAT"): one test per numbered rule.

LAN ports 1 and 3, WAN port 2.  Each test feeds crafted pcaps through
`sluice run`, with the NAT configured by `nf nat` and the port MACs by
`nf port`, and compares every output frame with the frame computed here:
addresses, ports and MACs rewritten and checksums recomputed by scapy (so
the program's incremental updates must agree with a full computation).
Timestamps cross the idle timeout on both sides."""

import json
import os

import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, Ether

from sluicetest import T0_NS, assert_frames, build_root

SEC = 10**9
EXT = "198.51.100.1"
S = 1000                      # first_port
LAN_MAC = {1: ("02:00:00:00:01:01", "02:00:00:00:01:fe"),
           3: ("02:00:00:00:03:01", "02:00:00:00:03:fe")}
WAN_MAC = ("02:00:00:00:02:01", "02:00:00:00:02:fe")
HOST_A = "10.0.0.5"
HOST_B = "10.0.0.6"
REMOTE = "203.0.113.9"


def nat_obj():
    import os
    path = os.path.join(build_root(), "progs", "nat.o")
    if not os.path.exists(path):
        pytest.fail("%s not built (build sluice first)" % path)
    return path


def eth():
    return Ether(src="02:00:00:00:aa:01", dst="02:00:00:00:aa:02")


def tcp(src, dst, sport, dport, flags="A", payload=b"x"):
    return bytes(eth() / IP(src=src, dst=dst, id=7) /
                 TCP(sport=sport, dport=dport, flags=flags) / payload)


def udp(src, dst, sport, dport, payload=b"q", chksum=None):
    u = UDP(sport=sport, dport=dport)
    if chksum is not None:
        u.chksum = chksum
    return bytes(eth() / IP(src=src, dst=dst, id=9) / u / payload)


def rewrite(frame, macs, src=None, sport=None, dst=None, dport=None):
    """The frame after translation, checksums computed from scratch (a UDP
    checksum of 0, "none", stays 0)."""
    p = Ether(frame)
    p.src, p.dst = macs
    l4 = p[TCP] if TCP in p else p[UDP]
    if src:
        p[IP].src = src
    if dst:
        p[IP].dst = dst
    if sport is not None:
        l4.sport = sport
    if dport is not None:
        l4.dport = dport
    del p[IP].chksum
    if l4.chksum != 0 or TCP in p:
        del l4.chksum
    return bytes(p)


def out(frame, slot):
    return rewrite(frame, WAN_MAC, src=EXT, sport=S + slot)


def back(frame, lan_port, host, hport):
    return rewrite(frame, LAN_MAC[lan_port], dst=host, dport=hport)


def run_nat(sw, events, capacity=3, timeout="10", lan_ports=(1, 3)):
    """events: (t_seconds, port, frame).  Returns (result, the frames each
    port received with their timestamps, by input index)."""
    events = sorted(events, key=lambda e: e[0])
    ports = {p: [] for p in (2,) + tuple(lan_ports)}
    for t, port, data in events:
        ports[port].append((T0_NS + int(round(t * SEC)), data))
    for p in sorted(ports):
        sw.port(p, rx=ports[p])
    sw.line("prog load nat " + nat_obj(),
            "nf nat nat wan=2 ip=%s first_port=%d capacity=%d timeout=%s" %
            (EXT, S, capacity, timeout),
            "nf port nat 2 %s %s" % WAN_MAC)
    for p in lan_ports:
        sw.line("nf port nat %d %s %s" % ((p,) + LAN_MAC[p]))
    sw.flow(*("in_port=%d,actions=prog:nat" % p for p in sorted(ports)))
    return sw.run(), ports


def at(ports, port, i):
    return ports[port][i][0]


def test_rule1_non_ip_and_non_tcp_udp_dropped(sw):
    """Rule 1 (and 8 for ICMP): nothing but IPv4 TCP/UDP is forwarded, in
    either direction, and nothing opens a flow."""
    lan = [
        bytes(eth() / ARP(psrc=HOST_A, pdst="10.0.0.1")),
        bytes(eth() / IPv6(src="fd00::5", dst="fd00::9") / UDP(sport=1,
                                                               dport=2)),
        bytes(eth() / IP(src=HOST_A, dst=REMOTE) / ICMP()),
        bytes(eth() / IP(src=HOST_A, dst=REMOTE, proto=47) / b"gre!"),
        # A later fragment has no L4 header to translate.
        bytes(eth() / IP(src=HOST_A, dst=REMOTE, proto=17, frag=10) /
              b"fragment"),
        # Truncated TCP header.
        bytes(eth() / IP(src=HOST_A, dst=REMOTE, proto=6) / b"\x00\x50"),
        tcp(HOST_A, REMOTE, 5555, 80, "S"),   # The only one translated.
    ]
    wan = [bytes(eth() / IP(src=REMOTE, dst=EXT) / ICMP(type=0)),
           bytes(eth() / IP(src=REMOTE, dst=EXT) / ICMP(type=3, code=3) /
                 IP(src=EXT, dst=REMOTE) / UDP(sport=S, dport=53))]
    events = [(i * 0.1, 1, f) for i, f in enumerate(lan)]
    events += [(1 + i * 0.1, 2, f) for i, f in enumerate(wan)]
    res, ports = run_nat(sw, events, lan_ports=(1,))
    # The TCP SYN took slot 0: the drops opened nothing.
    assert_frames(res.out[2], [(at(ports, 1, 6), out(lan[6], 0))], "WAN")
    assert_frames(res.out[1], [], "LAN")


def test_rules2_3_translate_and_allocate(sw):
    """Rules 2 and 3: a new LAN flow gets the next port, a known one keeps
    its port (refresh); the LAN port is part of the flow key; TCP and UDP
    checksums (including UDP without a checksum) are right."""
    a = tcp(HOST_A, REMOTE, 5555, 80, "S")
    b = udp(HOST_B, REMOTE, 4000, 53)
    a2 = tcp(HOST_A, REMOTE, 5555, 80, "A", b"data")
    b0 = udp(HOST_B, REMOTE, 4000, 53, chksum=0)
    a_on_3 = tcp(HOST_A, REMOTE, 5555, 80, "S")
    events = [(0.0, 1, a), (0.1, 1, b), (0.2, 1, a2), (0.3, 1, b0),
              (0.4, 3, a_on_3)]
    res, ports = run_nat(sw, events)
    want = [(at(ports, 1, 0), out(a, 0)), (at(ports, 1, 1), out(b, 1)),
            (at(ports, 1, 2), out(a2, 0)), (at(ports, 1, 3), out(b0, 1)),
            (at(ports, 3, 0), out(a_on_3, 2))]
    assert_frames(res.out[2], want, "WAN")
    assert Ether(res.out[2][3][1])[UDP].chksum == 0


def test_rule4_port_exhaustion_drops_never_evicts(sw):
    """Rule 4: with every port taken by a live flow, new flows are dropped
    and the live ones keep working in both directions."""
    flows = [tcp(HOST_A, REMOTE, 6000 + i, 80, "S") for i in range(4)]
    events = [(i * 1.0, 1, f) for i, f in enumerate(flows)]
    # At t = 9 the oldest flow has been idle 9 s < 10 s: all live.
    late = tcp(HOST_B, REMOTE, 7000, 443, "S")
    events.append((9.0, 1, late))
    replies = [tcp(REMOTE, EXT, 80, S + i, "SA") for i in range(3)]
    events += [(9.5 + i * 0.1, 2, r) for i, r in enumerate(replies)]
    res, ports = run_nat(sw, events)
    want_wan = [(at(ports, 1, i), out(flows[i], i)) for i in range(3)]
    assert_frames(res.out[2], want_wan, "WAN")
    want_lan = [(at(ports, 2, i), back(replies[i], 1, HOST_A, 6000 + i))
                for i in range(3)]
    assert_frames(res.out[1], want_lan, "LAN")


def test_rule5_wan_port_out_of_range_or_unallocated(sw):
    """Rule 5: a WAN packet to a port below S, at or past S + N, to a slot
    never allocated, or to another address is dropped and creates
    nothing."""
    a = tcp(HOST_A, REMOTE, 5555, 80, "S")
    wan = [tcp(REMOTE, EXT, 80, S - 1, "SA"),      # Below S.
           tcp(REMOTE, EXT, 80, S + 3, "SA"),      # S + N.
           tcp(REMOTE, EXT, 80, 65535, "SA"),
           tcp(REMOTE, EXT, 80, S + 1, "SA"),      # Never allocated.
           tcp(REMOTE, "198.51.100.2", 80, S, "SA"),  # Not our address.
           tcp(REMOTE, EXT, 80, S, "SA")]          # The real reply.
    events = [(0.0, 2, wan[3]), (0.5, 1, a)]
    events += [(1 + i * 0.1, 2, f) for i, f in enumerate(wan)]
    res, ports = run_nat(sw, events)
    # The early WAN packet did not take slot 0: the LAN flow got it.
    assert_frames(res.out[2], [(at(ports, 1, 0), out(a, 0))], "WAN")
    assert_frames(res.out[1], [(at(ports, 2, 6), back(wan[5], 1, HOST_A,
                                                      5555))], "LAN")


def test_rule6_spoofed_wan_packets(sw):
    """Rule 6: the remote (IP, port, protocol) must be the flow's; otherwise
    drop.  A genuine reply goes to the flow's LAN port with the internal
    address and port restored."""
    a = tcp(HOST_A, REMOTE, 5555, 80, "S")
    b = udp(HOST_B, REMOTE, 4000, 53)
    wan = [tcp("203.0.113.10", EXT, 80, S, "SA"),   # Other remote IP.
           tcp(REMOTE, EXT, 81, S, "SA"),           # Other remote port.
           udp(REMOTE, EXT, 80, S),                  # Other protocol.
           tcp(REMOTE, EXT, 80, S, "SA"),           # Genuine, to port 1.
           udp(REMOTE, EXT, 53, S + 1)]             # Genuine, to port 3.
    events = [(0.0, 1, a), (0.1, 3, b)]
    events += [(1 + i * 0.1, 2, f) for i, f in enumerate(wan)]
    res, ports = run_nat(sw, events)
    assert_frames(res.out[1], [(at(ports, 2, 3), back(wan[3], 1, HOST_A,
                                                      5555))], "LAN 1")
    assert_frames(res.out[3], [(at(ports, 2, 4), back(wan[4], 3, HOST_B,
                                                      4000))], "LAN 3")


def test_rule7_expiry_exactly_at_timeout_and_reuse(sw):
    """Rule 7: a flow idle exactly T survives (and a WAN packet refreshes
    it); idle longer than T it is gone, WAN packets to its port are
    dropped, and its port goes to the next new flow (most recently freed
    first)."""
    a = tcp(HOST_A, REMOTE, 5555, 80, "S")
    b = tcp(HOST_B, REMOTE, 6666, 80, "S")
    ra = tcp(REMOTE, EXT, 80, S, "A", b"r")
    rb = tcp(REMOTE, EXT, 80, S + 1, "A", b"r")
    c = tcp(HOST_B, REMOTE, 7777, 80, "S")
    rc = tcp(REMOTE, EXT, 80, S + 1, "A", b"c")
    events = [
        (0.0, 1, a),        # Slot 0.
        (1.0, 1, b),        # Slot 1.
        (10.0, 2, ra),      # a idle exactly 10 s: passes, refreshes a.
        (11.5, 2, rb),      # b idle 10.5 s: expired, dropped.
        (12.0, 1, c),       # New flow: takes b's freed port S + 1.
        (12.5, 2, rb),      # rb's remote matches c's remote 80: c's now.
        (20.0, 2, ra),      # a idle exactly 10 s again: passes.
        (30.5, 2, ra),      # a idle 10.5 s: dropped.
    ]
    res, ports = run_nat(sw, events)
    assert_frames(res.out[2], [(at(ports, 1, 0), out(a, 0)),
                               (at(ports, 1, 1), out(b, 1)),
                               (at(ports, 1, 2), out(c, 1))], "WAN")
    assert_frames(res.out[1], [
        (at(ports, 2, 0), back(ra, 1, HOST_A, 5555)),
        (at(ports, 2, 2), back(rb, 1, HOST_B, 7777)),
        (at(ports, 2, 3), back(ra, 1, HOST_A, 5555))], "LAN")


def test_rule7_churn_reuses_all_ports(sw):
    """Rule 7 under churn: waves of flows fill the table; each wave comes
    after the previous one expired and gets the same ports back."""
    events = []
    frames = []
    for wave in range(3):
        for i in range(3):
            f = udp(HOST_A, REMOTE, 10000 + wave * 10 + i, 53)
            events.append((wave * 11.0 + i * 0.1, 1, f))
            frames.append((wave, i, f))
    res, ports = run_nat(sw, events)
    got_ports = [Ether(f)[UDP].sport for _, f in res.out[2]]
    assert len(got_ports) == 9
    for wave in range(3):
        assert sorted(got_ports[wave * 3:wave * 3 + 3]) == [S, S + 1, S + 2]


def test_rule8_fin_rst_keep_state(sw):
    """Rule 8: FIN and RST are translated and do not remove the flow."""
    a = tcp(HOST_A, REMOTE, 5555, 80, "FA")
    r = tcp(HOST_A, REMOTE, 5555, 80, "R")
    reply = tcp(REMOTE, EXT, 80, S, "A", b"late")
    events = [(0.0, 1, a), (0.1, 1, r), (1.0, 2, reply)]
    res, ports = run_nat(sw, events)
    assert_frames(res.out[2], [(at(ports, 1, 0), out(a, 0)),
                               (at(ports, 1, 1), out(r, 0))], "WAN")
    assert_frames(res.out[1], [(at(ports, 2, 0), back(reply, 1, HOST_A,
                                                      5555))], "LAN")


def test_unconfigured_nat_drops(sw):
    """Before `nf nat` the program drops everything."""
    sw.port(1, rx=[(T0_NS, tcp(HOST_A, REMOTE, 1, 2))]).port(2)
    sw.line("prog load nat " + nat_obj())
    sw.flow("in_port=1,actions=prog:nat")
    res = sw.run()
    assert res.out[2] == []


@pytest.mark.parametrize("args,needle", [
    ("wan=2", "missing ip="),
    ("wan=2 ip=1.2.3", "bad IPv4 address"),
    ("wan=2 ip=1.2.3.4 first_port=65000 capacity=1000", "exceed 65536"),
    ("wan=2 ip=1.2.3.4 capacity=70000", "out of range"),
    ("wan=2 ip=1.2.3.4 timeout=soon", "bad time"),
    ("wan=2 ip=1.2.3.4 color=blue", "unknown key 'color'"),
])
def test_nf_nat_bad_arguments(sw, args, needle):
    sw.port(1, rx=[(T0_NS, tcp(HOST_A, REMOTE, 1, 2))])
    sw.line("prog load nat " + nat_obj(), "nf nat nat " + args)
    res = sw.run(check=False)
    assert res.proc.returncode != 0
    assert needle in res.proc.stderr, res.proc.stderr


def test_nf_nat_needs_the_nat_program(sw):
    import os
    sw.port(1, rx=[(T0_NS, tcp(HOST_A, REMOTE, 1, 2))])
    fw = os.path.join(build_root(), "progs", "firewall.o")
    sw.line("prog load fw " + fw, "nf nat fw wan=2 ip=1.2.3.4")
    res = sw.run(check=False)
    assert res.proc.returncode != 0
    assert "no map 'nat_cfg'" in res.proc.stderr, res.proc.stderr


def run_example(tmp_path, name, conf):
    """Copies examples/NAME to 'tmp_path', points it at the build under
    test and runs it; returns (directory, result)."""
    import shutil
    from sluicetest import ROOT, run_sluice
    src = os.path.join(ROOT, "examples", name)
    dst = os.path.join(str(tmp_path), name)
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("out-*"))
    path = os.path.join(dst, conf)
    with open(path) as f:
        text = f.read()
    assert "../../build/progs/" in text
    with open(path, "w") as f:
        f.write(text.replace("../../build/progs/",
                             os.path.join(build_root(), "progs") + "/"))
    proc = run_sluice(["run", path], cwd=dst)
    assert proc.returncode == 0, proc.stderr
    return dst, proc


@pytest.mark.parametrize("example,pcaps", [("nat", ("lan.pcap", "wan.pcap")),
                                            ("lb", ("clients.pcap",))])
def test_example_pcaps_are_reproducible(tmp_path, example, pcaps):
    """make-pcaps.py gives the bytes checked in."""
    import subprocess
    import sys
    from sluicetest import ROOT
    script = os.path.join(ROOT, "examples", example, "make-pcaps.py")
    subprocess.run([sys.executable, script, str(tmp_path)], check=True)
    for name in pcaps:
        with open(os.path.join(ROOT, "examples", example, name), "rb") as f:
            want = f.read()
        with open(os.path.join(str(tmp_path), name), "rb") as f:
            assert f.read() == want, name


def test_example_nat(tmp_path):
    """examples/nat/nat.conf plays the story of its make-pcaps.py."""
    from sluicetest import pcap_read
    dst, _ = run_example(tmp_path, "nat", "nat.conf")
    wan_out = [Ether(d) for _, d in pcap_read(os.path.join(dst,
                                                           "out-wan.pcap"))]
    lan_out = [Ether(d) for _, d in pcap_read(os.path.join(dst,
                                                           "out-lan.pcap"))]
    # Four flows on 40000..40003, the SSH data, then the new flow on NTP's
    # freed port 40002; the fifth flow and the ICMP echo were dropped.
    assert [p[IP].src for p in wan_out] == ["198.51.100.1"] * 6
    sports = [(p[TCP] if TCP in p else p[UDP]).sport for p in wan_out]
    assert sports == [40000, 40001, 40002, 40003, 40003, 40002]
    assert all(p.src == "02:00:00:00:00:02" and p.dst == "02:00:00:00:00:fe"
               for p in wan_out)
    # Four answers and the late SSH reply; spoofed, scans and the late DNS
    # answer were dropped.
    dsts = [(p[IP].dst, (p[TCP] if TCP in p else p[UDP]).dport)
            for p in lan_out]
    assert dsts == [("10.0.0.2", 51000), ("10.0.0.2", 53000),
                    ("10.0.0.3", 123), ("10.0.0.3", 52000),
                    ("10.0.0.3", 52000)]
    for p in wan_out + lan_out:
        q = Ether(bytes(p))
        del q[IP].chksum
        l4 = q[TCP] if TCP in q else q[UDP]
        del l4.chksum
        assert bytes(Ether(bytes(q))) == bytes(p), "checksums"


@pytest.mark.parametrize("prog", ["nat", "lb"])
def test_kernel_verifier_accepts(prog, tmp_path):
    """The kernel's verifier accepts the programs too, built with their
    flow tables as kernel hash maps (-DSLUICE_FT_AS_HASH: the kernel has
    no BPF_MAP_TYPE_SLUICE_FLOWTABLE).  Root with bpftool only."""
    import shutil
    import subprocess
    from sluicetest import ROOT
    if os.geteuid() != 0 or not shutil.which("bpftool") or \
            not shutil.which("clang") or not os.path.isdir("/sys/fs/bpf"):
        pytest.skip("needs root, clang, bpftool and /sys/fs/bpf")
    progs = os.path.join(ROOT, "progs")
    multiarch = subprocess.run(["cc", "-print-multiarch"], text=True,
                               capture_output=True).stdout.strip()
    obj = str(tmp_path / (prog + ".o"))
    subprocess.run(["clang", "-O2", "-g", "-target", "bpf", "-mcpu=v3",
                    "-I" + progs, "-I/usr/include/" + multiarch,
                    "-DSLUICE_FT_AS_HASH", "-c",
                    os.path.join(progs, prog + ".c"), "-o", obj], check=True)
    pin = "/sys/fs/bpf/sluice_test_%s_%d" % (prog, os.getpid())
    r = subprocess.run(["bpftool", "prog", "load", obj, pin],
                       capture_output=True, text=True)
    if os.path.exists(pin):
        os.unlink(pin)
    if r.returncode != 0 and "Operation not permitted" in r.stderr:
        pytest.skip("bpf() refused here: " + r.stderr.strip()[-200:])
    assert r.returncode == 0, r.stderr


def test_live_tcp_through_the_nat(request, tmp_path):
    """Real TCP from a LAN namespace through `sluice switch` running the
    NAT (afpacket ports, the hosts' default offloads) to a WAN namespace,
    which only ever sees the external address; a connection from the WAN
    side is refused.  The NAT drops ARP (rule 1), so the hosts get static
    neighbour entries for the NAT's MACs."""
    from test_switch import Net, in_ns, sh
    lan_mac, wan_mac = "02:00:00:00:00:01", "02:00:00:00:00:02"
    h1_mac, h2_mac = "02:00:00:00:10:01", "02:00:00:00:10:02"
    ext = "10.201.0.99"
    net = Net("afpacket", request, tmp_path, [
        "prog load nat " + nat_obj(),
        "nf nat nat wan=2 ip=%s first_port=20000 capacity=100 timeout=60" %
        ext,
        "nf port nat 1 %s %s" % (lan_mac, h1_mac),
        "nf port nat 2 %s %s" % (wan_mac, h2_mac),
        "flow add actions=prog:nat"])
    for h, mac in ((net.h1, h1_mac), (net.h2, h2_mac)):
        sh("ip", "-n", h, "link", "set", net.host_if[h], "address", mac)
    in_ns(net.h1, "ip", "neigh", "replace", "10.201.0.2", "lladdr", lan_mac,
          "dev", net.host_if[net.h1], "nud", "permanent")
    in_ns(net.h2, "ip", "neigh", "replace", ext, "lladdr", wan_mac,
          "dev", net.host_if[net.h2], "nud", "permanent")
    in_ns(net.h2, "ip", "neigh", "replace", "10.201.0.1", "lladdr",
          wan_mac, "dev", net.host_if[net.h2], "nud", "permanent")
    assert net.transfer(net.h1, net.h2, 2000000, port=5601)
    assert net.transfer(net.h1, net.h2, 300000, port=5602)
    # WAN traffic never creates state: h2 cannot reach h1.
    assert not net.transfer(net.h2, net.h1, 1000, port=5603)
    flows = json.loads(net.cli("map", "dump", "nat", "nat_flows",
                               "-j").stdout)
    assert len(flows) >= 2
    net.stop()
