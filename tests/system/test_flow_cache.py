"""The datapath flow cache (docs/flowcache.md) seen through `sluice run`.

Offline runs drive rule changes by packet time (timeouts), so a test can
put the change between two packets of one cached flow and check that the
very next packet sees it.  The other tests run the same configuration and
packets twice, with the cache (the default) and with SLUICE_FLOW_CACHE=0,
and require identical output pcaps, flow counters and drop counters: with
the stateful firewall filter, whose verdicts change packet by packet
within a flow, and with a multi-table rule set rewriting the packets it
looks up again."""

import os
import random

import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import Dot1Q, Ether

from sluicetest import ROOT, T0_NS, Switch, assert_frames

SEC = 10**9
MS = 10**6


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


def flows_by_priority(stats):
    return {(f["table"], f["priority"]): f["n_packets"]
            for f in stats["flows"]}


def test_expiry_takes_effect_on_the_next_packet(sw):
    # One flow, a packet every 10 ms for 7 s: from the second packet on it
    # is a cache hit.  The rule's hard timeout passes at 5 s; the first
    # packet at 5 s must already take the other rule.
    p = tcp("10.0.0.1", "10.0.0.2", 1000, 80, "A")
    frames = [(T0_NS + i * 10 * MS, p) for i in range(700)]
    sw.port(1, rx=frames).port(2).port(3)
    sw.flow("priority=10,hard_timeout=5,tcp,actions=output:2",
            "priority=1,actions=output:3")
    r = sw.run()
    assert_frames(r.out[2], frames[:500], "port 2")
    assert_frames(r.out[3], frames[500:], "port 3")
    assert flows_by_priority(r.stats) == {(0, 1): 200}


def test_idle_timeout_sees_cached_hits(sw):
    # A packet every 400 ms for 6 s keeps a 1 s idle timeout alive even
    # though every packet after the first is a cache hit; after a 2 s gap
    # the rule is gone and the next packet takes the catch-all.
    p = tcp("10.0.0.1", "10.0.0.2", 1000, 80, "A")
    frames = [(T0_NS + i * 400 * MS, p) for i in range(15)]
    late = [(T0_NS + 8 * SEC + 600 * MS, p)]
    sw.port(1, rx=frames + late).port(2).port(3)
    sw.flow("priority=10,idle_timeout=1,tcp,actions=output:2",
            "priority=1,actions=output:3")
    r = sw.run()
    assert_frames(r.out[2], frames, "port 2")
    assert_frames(r.out[3], late, "port 3")


def run_both(tmp_path, build):
    """Builds the same switch twice (with and without the cache) and runs
    both; returns (cached, uncached) results."""
    results = []
    for cache in ("1", "0"):
        d = tmp_path / ("cache" + cache)
        d.mkdir()
        sw = Switch(d)
        build(sw)
        old = os.environ.get("SLUICE_FLOW_CACHE")
        os.environ["SLUICE_FLOW_CACHE"] = cache
        try:
            results.append(sw.run())
        finally:
            if old is None:
                del os.environ["SLUICE_FLOW_CACHE"]
            else:
                os.environ["SLUICE_FLOW_CACHE"] = old
    return results


def assert_same_run(cached, plain):
    assert sorted(cached.out) == sorted(plain.out)
    for port in plain.out:
        assert_frames(cached.out[port], plain.out[port], "port %d" % port)
    assert cached.stats["flows"] == plain.stats["flows"]
    assert cached.stats["drops"] == plain.stats["drops"]


def test_firewall_filter_same_with_and_without_cache(tmp_path):
    # Connections opened from inside (port 1) and probes from outside, in
    # a random order: the firewall's verdict for one flow changes as its
    # connection opens and closes, and every verdict must be the
    # program's own, hit or miss.
    rng = random.Random(7)
    events = []
    for conn in range(20):
        c = ("10.0.0.1", "192.0.2.9", 1000 + conn, 80)
        s = ("192.0.2.9", "10.0.0.1", 80, 1000 + conn)
        seq = [(1, tcp(*s, "S")), (0, tcp(*c, "S")), (1, tcp(*s, "SA")),
               (0, tcp(*c, "A")), (1, tcp(*s, "PA", b"x")),
               (1, tcp(*s, "S")), (0, tcp(*c, "FA")), (1, tcp(*s, "FA")),
               (1, tcp(*s, "R")), (1, tcp(*s, "A"))]
        events.append(seq)
    order = []
    while any(events):
        seq = rng.choice([e for e in events if e])
        order.append(seq.pop(0))
    ports = {1: [], 2: []}
    for i, (outside, data) in enumerate(order):
        ports[2 if outside else 1].append((T0_NS + i * MS, data))

    def build(sw):
        sw.port(1, rx=ports[1]).port(2, rx=ports[2])
        sw.line("prog load fw " + prog_obj("firewall"))
        sw.flow("priority=20,in_port=1,prog=fw,actions=output:2",
                "priority=20,in_port=2,prog=fw,actions=output:1",
                "priority=10,in_port=2,tcp,tp_src=80,actions=drop")

    cached, plain = run_both(tmp_path, build)
    assert_same_run(cached, plain)
    assert len(plain.out[2]) == len(ports[1])
    assert 0 < len(plain.out[1]) < len(ports[2])


def test_tables_and_rewrites_same_with_and_without_cache(tmp_path):
    # Several tables joined by goto_table and resubmit, rewriting fields
    # that later tables match on (nw_dst, TTL, VLAN tags), over random
    # packets of a few hundred flows.
    rng = random.Random(11)
    frames = []
    for i in range(3000):
        pkt = Ether(src="02:00:00:00:00:%02x" % rng.randrange(4),
                    dst="02:00:00:00:01:00")
        if rng.randrange(4) == 0:
            pkt = pkt / Dot1Q(vlan=rng.choice((10, 20)))
            if rng.randrange(2):
                # Double-tagged: after pop_vlan, table 1 sees the inner
                # tag, which the megaflow of the first lookup does not fix.
                pkt = pkt / Dot1Q(vlan=rng.choice((10, 20)))
        ip = IP(src="10.0.0.%d" % rng.randrange(1, 20),
                dst="10.1.0.%d" % rng.choice((1, 2, 9)),
                ttl=rng.choice((1, 2, 64)))
        l4 = rng.choice((TCP(sport=rng.randrange(1000, 1010),
                             dport=rng.choice((22, 80))),
                         UDP(sport=53, dport=rng.choice((53, 5353))),
                         ICMP()))
        frames.append((T0_NS + i * MS, bytes(pkt / ip / l4)))

    def build(sw):
        sw.port(1, rx=frames).port(2).port(3).port(4)
        sw.flow(
            "priority=30,vlan_tci=0x1000/0x1000,actions=pop_vlan,"
            "resubmit(,1),goto_table:2",
            "priority=20,ip,nw_dst=10.1.0.9,actions=mod_nw_dst:10.1.0.1,"
            "dec_ttl,goto_table:2",
            "priority=10,ip,actions=goto_table:1",
            "priority=0,actions=output:4",
            "table=1,priority=12,dl_vlan=20,actions=output:4",
            "table=1,priority=10,tcp,tp_dst=80,actions=output:2",
            "table=1,priority=5,ip,nw_src=10.0.0.0/29,actions=output:3",
            "table=2,priority=20,ip,nw_dst=10.1.0.1,nw_ttl=63,"
            "actions=output:2",
            "table=2,priority=15,udp,actions=resubmit(,1),output:4",
            "table=2,priority=10,ip,actions=dec_ttl,output:3")

    cached, plain = run_both(tmp_path, build)
    assert_same_run(cached, plain)
    assert sum(len(v) for v in plain.out.values()) > 1000
