"""Oko's three filter programs (progs/) in flows: exactly which packets match.

Each test loads a program with `prog load`, names it in flows with
prog=NAME, feeds crafted pcaps through `sluice run` and checks, packet by
packet, what came out of each port.  Timestamps are chosen to cross the
programs' timeouts (packet time drives bpf_ktime_get_ns offline)."""

import os

import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import ARP, Ether

from sluicetest import ROOT, T0_NS, assert_frames

SEC = 10**9
INSIDE = "10.0.0.1"
OUTSIDE = "192.0.2.9"


def prog_obj(name):
    build = os.environ.get("SLUICE_BUILD_ROOT", os.path.join(ROOT, "build"))
    path = os.path.join(build, "progs", name + ".o")
    if not os.path.exists(path):
        pytest.fail("%s not built (build sluice first)" % path)
    return path


def eth():
    return Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")


def tcp(src, dst, sport, dport, flags, payload=b""):
    return bytes(eth() / IP(src=src, dst=dst) /
                 TCP(sport=sport, dport=dport, flags=flags) / payload)


def udp(src, dst, sport, dport):
    return bytes(eth() / IP(src=src, dst=dst) / UDP(sport=sport, dport=dport)
                 / b"q")


def split(events):
    """events: list of (t_seconds, port, bytes) -> per-port stamped lists."""
    ports = {1: [], 2: []}
    for t, port, data in events:
        ports[port].append((T0_NS + int(round(t * SEC)), data))
    return ports


def firewall_switch(sw, events):
    ports = split(events)
    sw.port(1, rx=ports[1]).port(2, rx=ports[2])
    sw.line("prog load fw " + prog_obj("firewall"))
    sw.flow("in_port=1,prog=fw,actions=output:2",
            "in_port=2,prog=fw,actions=output:1")
    return ports


def test_firewall_tcp_handshake_and_teardown(sw):
    c = (INSIDE, OUTSIDE, 1000, 80)
    r = (OUTSIDE, INSIDE, 80, 1000)
    events = [
        (0.0, 2, tcp(*r, "S")),          # 0 unsolicited SYN: refused
        (1.0, 1, tcp(*c, "S")),          # 1 inside SYN opens
        (1.1, 2, tcp(*r, "A")),          # 2 data before SYN-ACK: refused
        (1.2, 2, tcp(*r, "SA")),         # 3 SYN-ACK: passes
        (1.3, 1, tcp(*c, "A")),          # 4 ACK: established
        (1.4, 2, tcp(*r, "PA", b"hi")),  # 5 data: passes
        (1.5, 2, tcp(OUTSIDE, INSIDE, 81, 1000, "A")),  # 6 other port
        (1.6, 2, tcp(*r, "S")),          # 7 SYN on established: refused
        (2.0, 1, tcp(*c, "FA")),         # 8 inside FIN
        (2.1, 2, tcp(*r, "FA")),         # 9 outside FIN: passes
        (2.2, 1, tcp(*c, "A")),          # 10 last ACK
        (3.0, 2, tcp(*r, "R")),          # 11 RST: passes, removes
        (3.1, 2, tcp(*r, "A")),          # 12 after RST: refused
    ]
    ports = firewall_switch(sw, events)
    res = sw.run()
    # Every inside packet goes out; outside ones only when valid.
    assert_frames(res.out[2], ports[1], "to outside")
    # Port 2's packets in order: 0 SYN, 1 early ACK, 2 SYN-ACK, 3 data,
    # 4 other port, 5 SYN, 6 FIN, 7 RST, 8 after RST.
    want = [ports[2][i] for i in (2, 3, 6, 7)]
    assert_frames(res.out[1], want, "to inside")


def test_firewall_udp_and_timeouts(sw):
    u = (INSIDE, OUTSIDE, 2000, 53)
    ur = (OUTSIDE, INSIDE, 53, 2000)
    c = (INSIDE, OUTSIDE, 1001, 443)
    cr = (OUTSIDE, INSIDE, 443, 1001)
    d = (INSIDE, OUTSIDE, 1002, 443)
    dr = (OUTSIDE, INSIDE, 443, 1002)
    events = [
        (0.0, 2, udp(*ur)),              # p2[0] before inside: refused
        (1.0, 1, udp(*u)),               # opens the UDP flow
        (2.0, 2, udp(*ur)),              # p2[1] reply: passes
        (32.0, 2, udp(*ur)),             # p2[2] idle 30 s exactly: passes
        (62.5, 2, udp(*ur)),             # p2[3] idle 30.5 s: expired
        (100.0, 1, tcp(*c, "S")),
        (100.1, 2, tcp(*cr, "SA")),      # p2[4]
        (100.2, 1, tcp(*c, "A")),        # established at t=100.2
        (3700.2, 2, tcp(*cr, "A")),      # p2[5] idle exactly 1 h: passes
        (200.0, 1, tcp(*d, "S")),
        (200.1, 2, tcp(*dr, "SA")),      # p2[6]
        (200.2, 1, tcp(*d, "A")),
        (3800.3, 2, tcp(*dr, "A")),      # p2[7] idle 1 h + 0.1 s: expired
        (4000.0, 1, tcp(INSIDE, OUTSIDE, 1003, 80, "S")),
        (4031.0, 2, tcp(OUTSIDE, INSIDE, 80, 1003, "SA")),  # p2[8] SYN
                                         # state idle 31 s > 30 s: expired
    ]
    events.sort(key=lambda e: e[0])
    ports = firewall_switch(sw, events)
    res = sw.run()
    assert_frames(res.out[2], ports[1], "to outside")
    p2 = ports[2]
    by_time = {ts: data for ts, data in p2}
    want_times = [T0_NS + int(round(t * SEC)) for t in (2.0, 32.0, 100.1, 3700.2,
                                                 200.1)]
    want = sorted((ts, by_time[ts]) for ts in want_times)
    assert_frames(res.out[1], want, "to inside")


def test_firewall_non_ip_never_matches(sw):
    arp = bytes(Ether(dst="ff:ff:ff:ff:ff:ff") / ARP(pdst=INSIDE))
    icmp = bytes(eth() / IP(src=OUTSIDE, dst=INSIDE) / ICMP())
    ports = split([(0.0, 2, arp), (0.1, 2, icmp)])
    sw.port(1).port(2, rx=ports[2])
    sw.line("prog load fw " + prog_obj("firewall"))
    sw.flow("priority=10,in_port=2,prog=fw,actions=output:1",
            "priority=1,in_port=2,arp,actions=output:1")
    res = sw.run()
    # ARP falls through to the lower rule; ICMP matches neither.
    assert_frames(res.out[1], ports[2][:1], "to inside")


def test_ratelimit_token_bucket(sw):
    a, b = "10.0.0.5", "10.0.0.6"
    events = []
    t = 0.0
    for i in range(5):                   # a: 3 pass (burst), 2 limited
        events.append((t, 1, udp(a, OUTSIDE, 1, i + 1)))
        t += 0.01
    events.append((0.045, 1, udp(b, OUTSIDE, 1, 9)))   # b: own bucket
    # At t=0.5 a has refilled 4.6 tokens, capped at the burst of 3.
    for i in range(4):
        events.append((0.5 + i * 0.001, 1, udp(a, OUTSIDE, 2, i + 1)))
    # After 0.1 s one token (rate 10/s) is back.
    events.append((0.6035, 1, udp(a, OUTSIDE, 3, 1)))
    events.append((0.6036, 1, udp(a, OUTSIDE, 3, 2)))
    arp = bytes(Ether(dst="ff:ff:ff:ff:ff:ff") / ARP(pdst=INSIDE))
    events.append((0.7, 1, arp))         # non-IP: never limited
    ports = split(events)
    sw.port(1, rx=ports[1]).port(2)
    sw.line("prog load rl %s rodata.rate_pps=10 rodata.burst=3"
            % prog_obj("ratelimit"))
    sw.flow("priority=100,prog=rl,actions=drop",
            "priority=1,actions=output:2")
    res = sw.run()
    p1 = ports[1]
    keep = [0, 1, 2, 5, 6, 7, 8, 10, 12]
    assert_frames(res.out[2], [p1[i] for i in keep], "forwarded")
    assert res.stats["drops"].get("action_drop") == 4


def syn(ttl, window, options, df=True, ip_id=1234, flags="S", src=OUTSIDE):
    ip = IP(src=src, dst=INSIDE, ttl=ttl, id=ip_id,
            flags="DF" if df else 0)
    return bytes(eth() / ip / TCP(sport=40000, dport=80, flags=flags,
                                  window=window, seq=1, options=options))


LINUX_OPTS = [("MSS", 1460), ("SAckOK", b""), ("Timestamp", (12345, 0)),
              ("NOP", None), ("WScale", 7)]
WIN_OPTS = [("MSS", 1460), ("NOP", None), ("WScale", 8), ("NOP", None),
            ("NOP", None), ("SAckOK", b"")]


def test_p0f_matches_linux_syns(sw):
    fp = "/etc/p0f/p0f.fp"
    if not os.path.exists(fp):
        pytest.skip("p0f signature file %s not installed (Debian package "
                    "p0f; scripts/setup installs it)" % fp)
    pkts = [
        syn(64, 1460 * 20, LINUX_OPTS),            # 0 Linux 3.11+: match
        syn(57, 1460 * 20, LINUX_OPTS),            # 1 7 hops away: match
        syn(128, 8192, WIN_OPTS),                  # 2 Windows: no match
        syn(64, 1460 * 20, LINUX_OPTS, flags="SA"),  # 3 SYN-ACK: never
        syn(128, 1460 * 20, LINUX_OPTS),           # 4 TTL class 128: no
        syn(64, 1460 * 20, LINUX_OPTS, ip_id=0),   # 5 DF, id 0: quirk
                                                   #   differs: no match
        bytes(eth() / IP(src=OUTSIDE, dst=INSIDE) / UDP()),  # 6 not TCP
    ]
    sw.port(1, rx=pkts).port(2)
    sw.line("prog load p0f " + prog_obj("p0f"),
            "nf p0f load p0f %s Linux" % fp)
    sw.flow("priority=100,tcp,prog=p0f,actions=drop",
            "priority=1,actions=output:2")
    res = sw.run()
    from sluicetest import stamp
    stamped = stamp(pkts)
    assert_frames(res.out[2], [stamped[i] for i in (2, 3, 4, 5, 6)],
                  "forwarded")
    assert res.stats["drops"].get("action_drop") == 2


def test_offline_prog_show_and_map_dump(sw):
    """`prog show CONFIG` and `map dump|lookup CONFIG ...` process the
    inputs, then show the state the traffic left behind."""
    import json as jsonlib
    from sluicetest import run_sluice
    c = (INSIDE, OUTSIDE, 1000, 80)
    r = (OUTSIDE, INSIDE, 80, 1000)
    events = [(1.0, 1, tcp(*c, "S")), (1.1, 2, tcp(*r, "SA")),
              (1.2, 1, tcp(*c, "A")), (1.3, 2, tcp(*r, "S"))]
    firewall_switch(sw, events)
    conf = sw.write()

    p = run_sluice(["prog", "show", conf, "-j"], cwd=sw.dir)
    assert p.returncode == 0, p.stderr
    progs = jsonlib.loads(p.stdout)
    assert [x["name"] for x in progs] == ["fw"]
    assert progs[0]["runs"] == 4
    assert progs[0]["matches"] == 3        # the second SYN-ACK is refused
    assert progs[0]["insns_executed"] >= 0
    # Run times are sampled, the first run always: 1 to 4 of 4 timed.
    assert 1 <= progs[0]["timed_runs"] <= 4
    assert progs[0]["ns_per_run"] > 0

    p = run_sluice(["map", "dump", conf, "fw", "fw_conns", "-j"], cwd=sw.dir)
    assert p.returncode == 0, p.stderr
    entries = jsonlib.loads(p.stdout)
    assert len(entries) == 1
    # Key: inside 10.0.0.1, outside 192.0.2.9, ports 1000 and 80, TCP.
    key = entries[0]["key"]
    assert key == "0a000001c0000209" "03e8" "0050" "06000000"
    # Value: last seen at t=1.2 s, state ESTABLISHED (3).
    value = bytes.fromhex(entries[0]["value"])
    assert int.from_bytes(value[0:8], "little") == T0_NS + 1_200_000_000
    assert int.from_bytes(value[8:12], "little") == 3

    p = run_sluice(["map", "lookup", conf, "fw", "fw_conns", key], cwd=sw.dir)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("key: " + key)
    p = run_sluice(["map", "lookup", conf, "fw", "fw_conns", "00" * 16],
                   cwd=sw.dir)
    assert p.returncode == 1
    assert "No such file or directory" in p.stderr or "ENOENT" in p.stderr \
        or "not found" in p.stderr.lower(), p.stderr
    p = run_sluice(["map", "dump", conf, "fw", "nosuch"], cwd=sw.dir)
    assert p.returncode == 1
    assert "has no map 'nosuch' (maps: " in p.stderr
