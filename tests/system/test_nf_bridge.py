"""The MAC learning bridge (progs/bridge.c) in `sluice run`: NF-SPECS
"MAC learning bridge", rules 1-4, with packet times crossing the idle
timeout.

Flows are `actions=prog:br,flood`: the program unicasts with
bpf_redirect() or drops, and returns XDP_PASS for frames it cannot place
(unknown, broadcast, multicast destinations), which the flow's next action,
flood, sends to every port but the input."""

import os
import random
import shutil
import subprocess

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from sluicetest import (ROOT, T0_NS, assert_frames, build_root, pcap_read,
                        run_sluice)

SEC = 10**9
PORTS = (1, 2, 3)
A = "02:00:00:00:00:0a"
B = "02:00:00:00:00:0b"
C = "02:00:00:00:00:0c"
D = "02:00:00:00:00:0d"
E = "02:00:00:00:00:0e"
S = "02:00:00:00:00:55"
BCAST = "ff:ff:ff:ff:ff:ff"
MCAST = "01:00:5e:00:00:01"


def prog_obj(name):
    path = os.path.join(build_root(), "progs", name + ".o")
    if not os.path.exists(path):
        pytest.fail("%s not built (build sluice first)" % path)
    return path


def frame(src, dst, tag):
    return bytes(Ether(src=src, dst=dst) / IP(src="198.18.0.1",
                                              dst="198.18.0.2") /
                 UDP(sport=1, dport=2) / tag.encode())


class Run:
    """Events (t_seconds, in_port, src, dst) -> input pcaps, and the
    expected outputs built from the event indices each port should get."""

    def __init__(self, events):
        self.frames = []
        self.rx = {p: [] for p in PORTS}
        for i, (t, port, src, dst) in enumerate(events):
            ts = T0_NS + int(round(t * SEC))
            data = frame(src, dst, "frame %d" % i)
            self.frames.append((port, (ts, data)))
            self.rx[port].append((ts, data))

    def expect(self, placement):
        """placement: {event index: list of output ports}; events not
        listed are dropped.  Returns {port: [(ts, bytes)]}."""
        out = {p: [] for p in PORTS}
        for i, (port, f) in enumerate(self.frames):
            for o in placement.get(i, []):
                out[o].append(f)
        return out

    def flood(self, i):
        return [p for p in PORTS if p != self.frames[i][0]]


def bridge(sw, run, timeout_s=10, capacity=None, extra=()):
    for p in PORTS:
        sw.port(p, rx=run.rx[p], nsec=True)
    args = ["rodata.timeout_ns=%d" % (timeout_s * SEC)]
    if capacity is not None:
        args.append("rodata.capacity=%d" % capacity)
    sw.line("prog load br %s %s" % (prog_obj("bridge"), " ".join(args)))
    sw.line(*extra)
    sw.flow("actions=prog:br,flood")
    return sw.run()


def check(res, expected):
    for p in PORTS:
        assert_frames(res.out[p], expected[p], "port %d" % p)


def test_learning_filtering_flooding_and_moved_station(sw):
    events = [
        (0.0, 1, A, B),        # 0 learn A@1; B unknown: flood
        (1.0, 2, B, A),        # 1 learn B@2; A known: unicast 1
        (2.0, 1, A, B),        # 2 unicast 2
        (3.0, 1, C, A),        # 3 learn C@1; A on the input port: filter
        (4.0, 3, D, BCAST),    # 4 broadcast: flood
        (4.5, 2, B, MCAST),    # 5 multicast: flood
        (5.0, 3, A, B),        # 6 A moved to 3: refresh only, stays @1
        (6.0, 2, B, A),        # 7 still unicast to the old port 1
        (15.0, 2, B, A),       # 8 A last seen 5.0, 10 s ago: live, port 1
        (15.5, 3, A, B),       # 9 A idle 10.5 s: expired, re-learned @3
        (16.0, 2, B, A),       # 10 now unicast 3
        (25.0, 3, D, C),       # 11 C (3.0) expired long ago: flood
        (26.0, 1, E, B),       # 12 B last seen 16.0, exactly 10 s: live
        (26.000000001, 1, E, B),  # 13 B idle 10 s + 1 ns: expired: flood
    ]
    run = Run(events)
    res = bridge(sw, run)
    check(res, run.expect({
        0: run.flood(0), 1: [1], 2: [2], 4: run.flood(4), 5: run.flood(5),
        6: [2], 7: [1], 8: [1], 9: [2], 10: [3], 11: run.flood(11),
        12: [2], 13: run.flood(13)}))


def test_full_table_learns_nothing_until_expiry(sw):
    events = [
        (0.0, 1, A, BCAST),    # 0 learn A@1 (1 of 2); flood
        (1.0, 2, B, BCAST),    # 1 learn B@2 (2 of 2); flood
        (2.0, 3, C, BCAST),    # 2 full: C not learned; flood
        (3.0, 1, A, C),        # 3 A refreshed; C unknown: flood
        (4.0, 3, C, A),        # 4 still full; A known: unicast 1
        (11.5, 3, C, B),       # 5 B (1.0) expired: C takes its slot; flood
        (12.0, 1, A, C),       # 6 A (3.0) live; C known @3: unicast
        (12.5, 2, B, A),       # 7 B new again but full (A, C live): not
                               #   learned; A: unicast 1
        (13.0, 1, A, B),       # 8 B unknown: flood
    ]
    run = Run(events)
    res = bridge(sw, run, capacity=2)
    check(res, run.expect({
        0: run.flood(0), 1: run.flood(1), 2: run.flood(2), 3: run.flood(3),
        4: [1], 5: run.flood(5), 6: [3], 7: [1], 8: run.flood(8)}))


def test_static_entries(sw):
    events = [
        (0.0, 1, A, S),        # 0 static (S, in 1) -> drop
        (1.0, 2, B, S),        # 1 static (S, in 2) -> port 3
        (2.0, 3, C, S),        # 2 static (S, in 3) -> 3 = input: drop
        (3.0, 1, S, BCAST),    # 3 S learned @1; static (bcast, 1) -> 2
        (4.0, 2, B, S),        # 4 the static entry beats the learned one
        (5.0, 3, C, A),        # 5 no static entry for A: learned @1
        (6.0, 1, A, BCAST),    # 6 static (broadcast, in 1) -> port 2 only
        (7.0, 2, B, BCAST),    # 7 no static entry from 2: flood
    ]
    run = Run(events)
    res = bridge(sw, run, extra=[
        "nf bridge static br %s 1 drop" % S,
        "nf bridge static br %s 2 3" % S,
        "nf bridge static br %s 3 3" % S,
        "nf bridge static br %s 1 2" % BCAST,
    ])
    check(res, run.expect({1: [3], 3: [2], 4: [3], 5: [1],
                           6: [2], 7: run.flood(7)}))


def test_static_entry_errors(sw):
    sw.port(1, rx=[])
    sw.line("prog load br " + prog_obj("bridge"))
    sw.line("nf bridge static br 02:00:00:00:00 1 2")
    res = sw.run(check=False)
    assert res.proc.returncode != 0
    assert "bad MAC address" in res.proc.stderr
    sw.lines[-1] = "nf bridge static br %s 1 flood" % S
    res = sw.run(check=False)
    assert "expected a port number or 'drop'" in res.proc.stderr
    sw.lines[-1] = "nf bridge static rt %s 1 2" % S
    res = sw.run(check=False)
    assert "no program named 'rt'" in res.proc.stderr


def test_random_against_model(sw):
    """3,000 frames among 8 stations that wander between 3 ports, a table
    of 3 entries and a 1 s timeout, times on a 0.25 s grid (so entries
    often sit exactly at the timeout): the program must agree with the
    model frame by frame, which exercises reuse of expired slots in least
    recently used order and the full table far more than the tests above."""
    rng = random.Random(7)
    stations = ["02:00:00:00:01:%02x" % i for i in range(8)]
    where = {m: rng.choice(PORTS) for m in stations}
    t = 0.0
    events = []
    for i in range(3000):
        t += rng.choice([0.25, 0.25, 0.5, 1.0, 1.25])
        src = rng.choice(stations)
        if rng.random() < 0.05:
            where[src] = rng.choice(PORTS)
        dst = rng.choice(stations + [BCAST])
        events.append((t, where[src], src, dst))
    run = Run(events)
    res = bridge(sw, run, timeout_s=1, capacity=3)
    expected = bridge_model(run.rx, {}, SEC, PORTS, capacity=3)
    check(res, expected)


# --- examples/bridge ------------------------------------------------------

EXAMPLE = os.path.join(ROOT, "examples", "bridge")


def run_example(tmp_path, directory, conf):
    """Copies an example to 'tmp_path', points its `prog load` lines at the
    build under test, runs it and returns {pcap name: [(ts, bytes)]}."""
    for name in os.listdir(directory):
        shutil.copy(os.path.join(directory, name), str(tmp_path))
    path = str(tmp_path / conf)
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(text.replace("../../build/progs/",
                             os.path.join(build_root(), "progs") + "/"))
    proc = run_sluice(["run", path], cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    return {n: pcap_read(str(tmp_path / n)) for n in os.listdir(
        str(tmp_path)) if n.endswith(".pcap")}


def test_example_pcaps_are_reproducible(tmp_path):
    subprocess.run(["/usr/bin/python3", os.path.join(EXAMPLE,
                                                     "make-pcaps.py"),
                    str(tmp_path)], check=True, stdin=subprocess.DEVNULL)
    for p in PORTS + (4,):
        name = "p%d.pcap" % p
        with open(os.path.join(EXAMPLE, name), "rb") as f:
            assert (tmp_path / name).read_bytes() == f.read(), name


def bridge_model(inputs, static, timeout_ns, ports, capacity=65536):
    """An independent model of NF-SPECS's bridge: {port: [(ts, bytes)]} in,
    the same out.  Expired entries count as absent; the table is full when
    'capacity' entries are live."""
    table = {}                                   # MAC -> (port, last ns)
    out = {p: [] for p in ports}
    # Stable: frames of one port with equal times keep their file order.
    merged = sorted(((ts, port, data) for port, frames in inputs.items()
                     for ts, data in frames), key=lambda e: e[:2])
    for ts, in_port, data in merged:
        dst, src = data[0:6].hex(":"), data[6:12].hex(":")
        entry = table.get(src)
        if entry is not None and ts - entry[1] <= timeout_ns:
            table[src] = (entry[0], ts)
        else:
            live = sum(1 for p, t in table.values() if ts - t <= timeout_ns)
            if live < capacity:
                table[src] = (in_port, ts)
        if (dst, in_port) in static:
            o = static[(dst, in_port)]
            if o is not None and o != in_port:
                out[o].append((ts, data))
            continue
        entry = table.get(dst)
        if entry is not None and ts - entry[1] <= timeout_ns:
            if entry[0] != in_port:
                out[entry[0]].append((ts, data))
            continue
        for p in ports:
            if p != in_port:
                out[p].append((ts, data))
    return out


def test_example_bridge(tmp_path):
    ports = (1, 2, 3, 4)
    static = {}
    with open(os.path.join(EXAMPLE, "bridge.conf")) as f:
        for line in f:
            w = line.split()
            if w[:3] == ["nf", "bridge", "static"]:
                static[(w[4], int(w[5]))] = None if w[6] == "drop" else \
                    int(w[6])
    pcaps = run_example(tmp_path, EXAMPLE, "bridge.conf")
    inputs = {p: pcaps["p%d.pcap" % p] for p in ports}
    expected = bridge_model(inputs, static, 300 * SEC, ports)
    for p in ports:
        assert expected[p], "the example should reach port %d" % p
        assert_frames(pcaps["out%d.pcap" % p], expected[p], "port %d" % p)
