"""The Maglev load balancer (progs/lb.c, NF-SPECS "Maglev load balancer")
end to end: `nf lb backends` with a backends file, `nf lb down`, crafted
pcaps in, per-port pcaps out.

Clients on port 1; backends web-a, web-b, web-c on ports 2, 3, 4; the
flow continues to port 5 when the program passes (packets not to the VIP).
Which backend a flow lands on comes from the Maglev table; the tests check
what must hold whatever the table: each frame rewritten exactly for the
backend port it left by (destination IP and MAC, source MAC of the port,
checksums recomputed), every packet of a flow on one backend, all backends
used, a dead backend unused and only its flows moved.  The exact placement
(table[hash mod M]) and the connection-table affinity across `down`/`up`
are tested in-process in tests/unit/test_maglev.c."""

import json
import os

import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import ARP, Ether

from sluicetest import T0_NS, assert_frames, build_root

SEC = 10**9
VIP = "192.0.2.100"
BACKENDS = {2: ("web-a", "10.1.0.1", "02:00:00:00:0a:01"),
            3: ("web-b", "10.1.0.2", "02:00:00:00:0a:02"),
            4: ("web-c", "10.1.0.3", "02:00:00:00:0a:03")}
PORT_MAC = {2: "02:00:00:00:00:12", 3: "02:00:00:00:00:13",
            4: "02:00:00:00:00:14"}


def lb_obj():
    path = os.path.join(build_root(), "progs", "lb.o")
    if not os.path.exists(path):
        pytest.fail("%s not built (build sluice first)" % path)
    return path


def eth():
    return Ether(src="02:00:00:00:cc:01", dst="02:00:00:00:cc:02")


def client(i, dst=VIP, dport=80, proto="tcp", payload=b"get"):
    src = "10.9.%d.%d" % (i // 250, i % 250 + 1)
    l4 = (TCP(sport=20000 + i, dport=dport, flags="PA") if proto == "tcp"
          else UDP(sport=20000 + i, dport=dport))
    return bytes(eth() / IP(src=src, dst=dst, id=i) / l4 / payload)


def to_backend(frame, port):
    """'frame' as it must leave for the backend on 'port'."""
    p = Ether(frame)
    p.src = PORT_MAC[port]
    p.dst = BACKENDS[port][2]
    p[IP].dst = BACKENDS[port][1]
    del p[IP].chksum
    l4 = p[TCP] if TCP in p else p[UDP]
    del l4.chksum
    return bytes(p)


def run_lb(sw, frames, extra=(), args="table=251", step=0.01, check=True):
    rx = [(T0_NS + int(i * step * SEC), f) for i, f in enumerate(frames)]
    with open(sw.path("backends.txt"), "w") as f:
        f.write("# name ip mac port [weight]\n")
        for port in sorted(BACKENDS):
            f.write("%s %s %s %d\n" % (BACKENDS[port] + (port,)))
    sw.port(1, rx=rx)
    for port in (2, 3, 4, 5):
        sw.port(port)
    sw.line("prog load lb " + lb_obj(),
            "nf lb backends lb backends.txt vip=%s:80 %s" % (VIP, args))
    for port, mac in PORT_MAC.items():
        sw.line("nf port lb %d %s 02:00:00:00:ff:ff" % (port, mac))
    sw.line(*extra)
    sw.flow("in_port=1,actions=prog:lb,output:5")
    return sw.run(check=check), rx


def placement(res, rx):
    """Maps each input frame index to the backend port it left by, checking
    the rewrite of every frame."""
    by_ts = {ts: i for i, (ts, _) in enumerate(rx)}
    where = {}
    for port in (2, 3, 4):
        for ts, data in res.out[port]:
            i = by_ts[ts]
            assert i not in where, "frame %d left twice" % i
            assert_frames([(ts, data)], [(ts, to_backend(rx[i][1], port))],
                          "port %d" % port)
            where[i] = port
    return where


def test_new_flows_spread_and_stick(sw):
    """New flows to the VIP are spread over all backends by the table; every
    packet of a flow goes to the same backend, rewritten exactly."""
    n = 60
    frames = [client(i) for i in range(n)] + [client(i, payload=b"more")
                                              for i in range(n)]
    frames.append(client(0, proto="udp"))  # UDP to the VIP too.
    res, rx = run_lb(sw, frames)
    where = placement(res, rx)
    assert len(where) == len(frames)
    for i in range(n):
        assert where[i] == where[n + i], "flow %d moved" % i
    assert set(where.values()) == {2, 3, 4}
    assert res.out[5] == []


def test_non_vip_passes(sw):
    """Packets not to the VIP (other address, other port, not TCP/UDP,
    not IPv4) continue the pipeline unchanged."""
    frames = [client(1, dst="192.0.2.101"), client(2, dport=443),
              bytes(eth() / IP(src="10.9.0.1", dst=VIP) / ICMP()),
              bytes(eth() / ARP(pdst=VIP)), client(3)]
    res, rx = run_lb(sw, frames)
    assert_frames(res.out[5], rx[:4], "pass-through")
    where = placement(res, rx)
    assert list(where) == [4]


def test_backend_down_moves_only_its_flows(sw, tmp_path):
    """`nf lb down` rebuilds the table without the backend: it gets
    nothing, and flows on the other backends mostly stay where they
    were (Maglev's minimal disruption)."""
    n = 150
    frames = [client(i) for i in range(n)]
    res, rx = run_lb(sw, frames)
    before = placement(res, rx)
    assert len(before) == n

    from sluicetest import Switch
    sw2 = Switch(tmp_path / "down")
    os.makedirs(sw2.dir, exist_ok=True)
    res2, rx2 = run_lb(sw2, frames, extra=["nf lb down lb web-b"])
    after = placement(res2, rx2)
    assert len(after) == n
    assert res2.out[3] == []
    moved = [i for i in range(n) if before[i] != after[i]]
    assert moved, "web-b had flows"
    # Every flow of web-b moves.  A fresh switch has no connection table
    # to hold the others, so they follow the new lookup table, in which
    # Maglev moves only a few slots of the surviving backends (NSDI'16,
    # section 3.4); the connection table keeps even those in place on a
    # running switch (tests/unit/test_maglev.c).
    assert all(after[i] != 3 for i in range(n))
    others = [i for i in moved if before[i] != 3]
    assert len(others) <= n // 10, others
    # Up again: the original table is back.
    sw3 = Switch(tmp_path / "up")
    os.makedirs(sw3.dir, exist_ok=True)
    res3, rx3 = run_lb(sw3, frames, extra=["nf lb down lb web-b",
                                           "nf lb up lb web-b"])
    assert placement(res3, rx3) == before


def test_full_connection_table_still_forwards(sw):
    """With room for 2 connections, 40 flows are all forwarded, each
    consistently (the lookup table alone places them)."""
    n = 40
    frames = [client(i) for i in range(n)] * 2
    res, rx = run_lb(sw, frames, args="table=251 capacity=2")
    where = placement(res, rx)
    assert len(where) == 2 * n
    for i in range(n):
        assert where[i] == where[n + i]


def test_connection_timeout_then_table(sw):
    """Connections expire after the idle timeout (here 1 s) and are placed
    by the table again: with an unchanged table, on the same backend."""
    frames = [client(i) for i in range(10)] * 3
    res, rx = run_lb(sw, frames, args="table=251 timeout=1", step=0.2)
    where = placement(res, rx)
    assert len(where) == 30
    for i in range(10):
        assert where[i] == where[10 + i] == where[20 + i]


@pytest.mark.parametrize("line,needle", [
    ("web-a 10.1.0.1 02:00:00:00:0a:01", "backends.txt:2: expected NAME"),
    ("web-a 10.1.0.1 02:00:00:00:0a:01 2 0", "backends.txt:2: weight"),
    ("web-a 10.1.0.999 02:00:00:00:0a:01 2", "backends.txt:2: bad IPv4"),
])
def test_bad_backends_file(sw, line, needle):
    with open(sw.path("backends.txt"), "w") as f:
        f.write("# one bad line\n" + line + "\n")
    sw.port(1, rx=[(T0_NS, client(1))])
    sw.line("prog load lb " + lb_obj(),
            "nf lb backends lb backends.txt vip=%s:80" % VIP)
    res = sw.run(check=False)
    assert res.proc.returncode != 0
    assert needle in res.proc.stderr, res.proc.stderr


@pytest.mark.parametrize("args,needle", [
    ("vip=192.0.2.1", "expected IP:PORT"),
    ("vip=192.0.2.1:80 table=100", "not a prime"),
    ("vip=192.0.2.1:80 table=65539", "not a prime <= 65537"),
    ("table=251", "missing vip"),
])
def test_bad_lb_arguments(sw, args, needle):
    with open(sw.path("backends.txt"), "w") as f:
        f.write("a 10.1.0.1 02:00:00:00:0a:01 2\n")
    sw.port(1, rx=[(T0_NS, client(1))])
    sw.line("prog load lb " + lb_obj(),
            "nf lb backends lb backends.txt " + args)
    res = sw.run(check=False)
    assert res.proc.returncode != 0
    assert needle in res.proc.stderr, res.proc.stderr


def test_down_before_backends(sw):
    sw.port(1, rx=[(T0_NS, client(1))])
    sw.line("prog load lb " + lb_obj(), "nf lb down lb web-a")
    res = sw.run(check=False)
    assert res.proc.returncode != 0
    assert "no backends yet" in res.proc.stderr, res.proc.stderr


def test_down_unknown_backend(sw):
    res, _ = run_lb(sw, [client(1)], extra=["nf lb down lb web-z"],
                    check=False)
    assert res.proc.returncode != 0
    assert "no backend named 'web-z'" in res.proc.stderr, res.proc.stderr


def test_example_lb(tmp_path):
    """examples/lb/lb.conf: every connection on one backend, all three
    used, web-3 (weight 2) with the largest share of connections, and the
    three frames not for the VIP passed to port 5."""
    from sluicetest import pcap_read
    from test_nf_nat import run_example
    dst, _ = run_example(tmp_path, "lb", "lb.conf")
    conns = {}
    for port, ip in ((1, "10.1.0.11"), (2, "10.1.0.12"), (3, "10.1.0.13")):
        for _, d in pcap_read(os.path.join(dst, "out-web%d.pcap" % port)):
            p = Ether(d)
            assert p[IP].dst == ip
            l4 = p[TCP] if TCP in p else p[UDP]
            key = (p[IP].src, l4.sport, p[IP].proto)
            assert conns.setdefault(key, port) == port, "connection moved"
    per_backend = [sum(1 for v in conns.values() if v == b) for b in (1, 2, 3)]
    assert sum(per_backend) == 45 and min(per_backend) > 0
    assert per_backend[2] == max(per_backend)
    assert len(pcap_read(os.path.join(dst, "out-other.pcap"))) == 3


def test_live_tcp_through_the_balancer(request, tmp_path):
    """Real TCP from a client namespace to the VIP through `sluice switch`
    running the balancer (afpacket ports, default offloads), served by the
    backend namespace: requests reach the backend's own address, replies
    come back from the VIP.  The program passes ARP (and the flow then
    drops it), so the hosts get static neighbour entries."""
    import subprocess
    from test_switch import NETTOOL, PY, Net, in_ns, sh
    p1_mac, p2_mac = "02:00:00:00:00:01", "02:00:00:00:00:02"
    h1_mac, h2_mac = "02:00:00:00:10:01", "02:00:00:00:10:02"
    vip, port = "10.201.0.100", 5701
    backends = tmp_path / "backends.txt"
    backends.write_text("b1 10.201.0.2 %s 2\n" % h2_mac)
    net = Net("afpacket", request, tmp_path, [
        "prog load lb " + lb_obj(),
        "nf lb backends lb %s vip=%s:%d table=251" % (backends, vip, port),
        "nf port lb 1 %s %s" % (p1_mac, h1_mac),
        "nf port lb 2 %s %s" % (p2_mac, h2_mac),
        "flow add actions=prog:lb"])
    for h, mac in ((net.h1, h1_mac), (net.h2, h2_mac)):
        sh("ip", "-n", h, "link", "set", net.host_if[h], "address", mac)
    in_ns(net.h1, "ip", "neigh", "replace", vip, "lladdr", p1_mac, "dev",
          net.host_if[net.h1], "nud", "permanent")
    in_ns(net.h2, "ip", "neigh", "replace", "10.201.0.1", "lladdr", p2_mac,
          "dev", net.host_if[net.h2], "nud", "permanent")
    for nbytes in (2000000, 50000):
        server = subprocess.Popen(
            ["ip", "netns", "exec", net.h2, PY, NETTOOL, "serve", str(port)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert server.stdout.readline().strip() == "listening"
            proc = in_ns(net.h1, PY, NETTOOL, "send", vip, port, nbytes,
                         check=False, timeout=20)
            assert proc.returncode == 0 and \
                proc.stdout.startswith("ok %d" % nbytes), proc.stderr
        finally:
            if server.poll() is None:
                server.kill()
            server.wait()
    # Counters (progs/lb.h, enum lb_stat): two connections placed, their
    # packets kept on the backend, the replies sent back from the VIP.
    # lb_stats is per-CPU: one u64 copy per thread, summed here.
    stats = {}
    for e in json.loads(net.cli("map", "dump", "lb", "lb_stats",
                                "-j").stdout):
        raw = bytes.fromhex(e["value"])
        stats[int.from_bytes(bytes.fromhex(e["key"]), "little")] = sum(
            int.from_bytes(raw[i:i + 8], "little")
            for i in range(0, len(raw), 8))
    assert stats[0] == 2          # LB_STAT_NEW
    assert stats[1] > 10          # LB_STAT_KNOWN
    assert stats[6] > 10          # LB_STAT_REPLY
    net.stop()
