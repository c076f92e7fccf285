"""The per-destination inbound policer (progs/policer.c) in `sluice run`:
NF-SPECS "Policer", rules 1-4.  Port 1 is the LAN, port 2 the WAN; rate
R = 400 bytes/s and burst B = 1200 bytes unless a test says otherwise, so
token arithmetic is exact: B / R = 3 s."""

import os
import random
import shutil
import subprocess

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import ARP, Ether

from sluicetest import (ROOT, T0_NS, assert_frames, build_root, pcap_read,
                        run_sluice)

SEC = 10**9
LAN, WAN = 1, 2
PORTS = (1, 2, 3)
RATE = 400
BURST = 1200


def prog_obj(name):
    path = os.path.join(build_root(), "progs", name + ".o")
    if not os.path.exists(path):
        pytest.fail("%s not built (build sluice first)" % path)
    return path


def sized(src, dst, length):
    """A UDP frame of exactly 'length' bytes (Ethernet header included)."""
    head = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(
        src=src, dst=dst) / UDP(sport=7, dport=7)
    pad = length - len(head)
    assert pad >= 0
    return bytes(head / (b"p" * pad))


def inbound(dst, length):
    return sized("198.18.9.9", dst, length)


class Run:
    def __init__(self, events):
        self.frames = []
        self.rx = {p: [] for p in PORTS}
        for t, port, data in events:
            ts = T0_NS + int(round(t * SEC))
            self.frames.append((ts, data))
            self.rx[port].append((ts, data))

    def expect(self, placement):
        out = {p: [] for p in PORTS}
        for i, o in placement.items():
            out[o].append(self.frames[i])
        for p in PORTS:
            out[p].sort()
        return out


def policer(sw, run, rate=RATE, burst=BURST, capacity=None):
    for p in PORTS:
        sw.port(p, rx=run.rx[p], nsec=True)
    args = ["rodata.lan_port=%d" % LAN, "rodata.wan_port=%d" % WAN,
            "rodata.rate_Bps=%d" % rate, "rodata.burst_B=%d" % burst]
    if capacity is not None:
        args.append("rodata.capacity=%d" % capacity)
    sw.line("prog load pol %s %s" % (prog_obj("policer"), " ".join(args)))
    sw.flow("actions=prog:pol")
    return sw.run()


def check(res, expected):
    for p in PORTS:
        assert_frames(res.out[p], expected[p], "port %d" % p)


def test_rule1_malformed_dropped_lan_to_wan_unpoliced(sw):
    good = inbound("10.0.0.1", 100)
    bad_ihl = bytearray(good)
    bad_ihl[14] = 0x44                       # IHL 4 (16 bytes): malformed.
    long_len = bytearray(good)
    long_len[16:18] = (200).to_bytes(2, "big")   # Total length > frame.
    short_len = bytearray(good)
    short_len[16:18] = (19).to_bytes(2, "big")   # Shorter than the header.
    events = [
        (0.0, WAN, bytes(Ether() / ARP())),                 # 0 non-IPv4
        (0.1, WAN, bytes(bad_ihl)),                         # 1
        (0.2, WAN, bytes(long_len)),                        # 2
        (0.3, WAN, bytes(short_len)),                       # 3
        (0.4, LAN, bytes(bad_ihl)),                         # 4 LAN side too
        (0.5, LAN, bytes(Ether() / ARP())),                 # 5
    ]
    # LAN -> WAN is never policed: 10 x 1500 bytes within 1 ms.
    for i in range(10):
        events.append((1.0 + i / 10000, LAN, sized("10.0.0.1", "198.18.9.9",
                                                   1500)))
    events.append((2.0, 3, inbound("10.0.0.1", 100)))        # 16 other port
    run = Run(events)
    res = policer(sw, run)
    check(res, run.expect({i: WAN for i in range(6, 16)}))


def test_rules_2_3_token_bucket_per_destination(sw):
    d1, d2 = "10.0.0.1", "10.0.0.2"
    events = [
        (0.0, WAN, inbound(d1, 1000)),    # 0 new: tokens 1200-1000 = 200
        (0.5, WAN, inbound(d1, 1000)),    # 1 200 + 200 = 400 < 1000: drop
        (0.5, WAN, inbound(d2, 1200)),    # 2 new, exactly B: tokens 0
        (0.6, WAN, inbound(d2, 1201)),    # 3 d2 known: 40 tokens: drop
        (1.0, WAN, inbound("10.0.0.3", 1201)),  # 4 new, longer than B
        (2.5, WAN, inbound(d1, 1000)),    # 5 400 + 800 = 1200: pass, 200
        (4.5, WAN, inbound(d1, 1000)),    # 6 200 + 800 = 1000 = length:
                                          #   pass, 0 left
        (4.5, WAN, inbound(d1, 60)),      # 7 0 tokens: drop
        (4.65, WAN, inbound(d1, 60)),     # 8 0.15 s -> 60 tokens: pass
        (100.0, WAN, inbound(d1, 1200)),  # 9 refill capped at B: pass
        (100.0, WAN, inbound(d1, 60)),    # 10 0 left: drop
    ]
    run = Run(events)
    res = policer(sw, run)
    check(res, run.expect({0: LAN, 2: LAN, 5: LAN, 6: LAN, 8: LAN,
                           9: LAN}))


def test_rules_3_4_full_table_and_expiry(sw):
    events = [
        (0.0, WAN, inbound("10.0.0.1", 600)),   # 0 d1 (1 of 2), 600 left
        (1.0, WAN, inbound("10.0.0.2", 600)),   # 1 d2 (2 of 2)
        (2.0, WAN, inbound("10.0.0.3", 100)),   # 2 d3 new, full: drop
        (3.0, WAN, inbound("10.0.0.1", 600)),   # 3 d1 idle exactly B/R
                                                #   = 3 s: live, refilled
                                                #   to 1200: pass, 600
        (4.5, WAN, inbound("10.0.0.3", 100)),   # 4 d2 (1.0) idle 3.5 s:
                                                #   expired, d3 takes it
        (5.0, WAN, inbound("10.0.0.2", 100)),   # 5 d2 new again: full
                                                #   (d1 3.0 and d3 4.5)
        (6.0, LAN, sized("10.0.0.9", "198.18.9.9", 1500)),  # 6 outbound
                                                #   is never refused
        (9.0, WAN, inbound("10.0.0.1", 1200)),  # 7 d1 idle 6 s: expired,
                                                #   starts at B: pass
    ]
    run = Run(events)
    res = policer(sw, run, capacity=2)
    check(res, run.expect({0: LAN, 1: LAN, 3: LAN, 4: LAN, 6: WAN, 7: LAN}))


def test_zero_rate_never_refills(sw):
    events = [
        (0.0, WAN, inbound("10.0.0.1", 700)),   # 0 500 left
        (1000.0, WAN, inbound("10.0.0.1", 500)),  # 1 exactly 500: pass
        (2000.0, WAN, inbound("10.0.0.1", 60)),  # 2 nothing left, and a
                                                 #   bucket never expires
    ]
    run = Run(events)
    res = policer(sw, run, rate=0)
    check(res, run.expect({0: LAN, 1: LAN}))


def policer_model(events, rate, burst, capacity):
    """An independent model of rules 1-4 for WAN -> LAN frames in time
    order: returns the indices forwarded.  Tokens are exact integers of
    1e-9 byte; expired buckets count as absent; the table is full when
    'capacity' buckets are live."""
    cap = burst * SEC
    expire = burst * SEC // rate
    buckets = {}                 # dst -> [tokens, last refill, last use]
    passed = []
    for i, (ts, data) in enumerate(events):
        dst, length = IP(data[14:]).dst, len(data)
        b = buckets.get(dst)
        if b is not None and ts - b[2] <= expire:
            b[0] = min(cap, b[0] + (ts - b[1]) * rate)
            b[1] = b[2] = ts
            if b[0] >= length * SEC:
                b[0] -= length * SEC
                passed.append(i)
            continue
        live = sum(1 for v in buckets.values() if ts - v[2] <= expire)
        if length <= burst and live < capacity:
            buckets[dst] = [cap - length * SEC, ts, ts]
            passed.append(i)
    return passed


def test_random_against_model(sw):
    """2,000 WAN frames to 6 destinations, a table of 3 buckets, sizes
    and gaps chosen so that buckets run dry, refill, expire (B / R = 3 s,
    times on a 0.25 s grid, so often exactly at the limit) and the table
    fills: the program must agree with the model frame by frame."""
    rng = random.Random(11)
    dsts = ["10.0.0.%d" % i for i in range(1, 7)]
    t = 0.0
    events = []
    for _ in range(2000):
        t += rng.choice([0.25, 0.25, 0.5, 1.0, 3.0, 3.25])
        events.append((t, WAN, inbound(rng.choice(dsts),
                                       rng.choice([60, 300, 700, 1200,
                                                   1300]))))
    run = Run(events)
    res = policer(sw, run, capacity=3)
    passed = policer_model(run.frames, RATE, BURST, 3)
    assert 200 < len(passed) < 1800
    check(res, run.expect({i: LAN for i in passed}))


def test_chained_behind_the_vigor_firewall(sw):
    """examples/fw-policer's chain: `actions=prog:fw,prog:pol`, the
    firewall passing what it accepts (rodata.pass_accepted=1) to the
    policer, which places it."""
    h, r = "10.0.0.1", "198.18.9.9"
    events = [
        (0.0, WAN, sized(r, h, 500)),          # 0 unsolicited: fw drops
        (1.0, LAN, sized(h, r, 500)),          # 1 opens the flow: to WAN
        (1.1, WAN, sized(r, h, 1000)),         # 2 reply: new bucket, pass
        (1.2, WAN, sized(r, h, 1000)),         # 3 240 tokens: policed
        (1.3, WAN, sized(r, "10.0.0.2", 100)),  # 4 no flow: fw drops
        (4.0, WAN, sized(r, h, 1000)),         # 5 refilled: pass
    ]
    run = Run(events)
    for p in PORTS:
        sw.port(p, rx=run.rx[p], nsec=True)
    sw.line("prog load fw %s rodata.wan_port=%d rodata.pass_accepted=1" %
            (prog_obj("vfw"), WAN))
    sw.line("prog load pol %s rodata.lan_port=%d rodata.wan_port=%d "
            "rodata.rate_Bps=%d rodata.burst_B=%d" %
            (prog_obj("policer"), LAN, WAN, RATE, BURST))
    sw.flow("actions=prog:fw,prog:pol")
    res = sw.run()
    check(res, run.expect({1: WAN, 2: LAN, 5: LAN}))


# --- examples/fw-policer --------------------------------------------------

EXAMPLE = os.path.join(ROOT, "examples", "fw-policer")


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
    for name in ("lan.pcap", "wan.pcap"):
        with open(os.path.join(EXAMPLE, name), "rb") as f:
            assert (tmp_path / name).read_bytes() == f.read(), name


def chain_model(inputs, fw_timeout, rate, burst):
    """An independent model of the example's chain (tables never full):
    the Vigor firewall's rules 1-3, then the policer's rules 1-4, with
    tokens in exact integers of 1e-9 byte."""
    flows = {}                       # LAN 5-tuple -> (LAN port, last ns)
    buckets = {}                     # dst -> [tokens, last refill, last use]
    cap = burst * SEC
    expire = burst * SEC // rate
    out = {1: [], 2: []}
    merged = sorted((ts, port, data) for port, frames in inputs.items()
                    for ts, data in frames)
    for ts, port, data in merged:
        pkt = Ether(data)
        if IP not in pkt or (TCP not in pkt and UDP not in pkt):
            continue
        l4 = pkt[TCP] if TCP in pkt else pkt[UDP]
        proto = pkt[IP].proto
        if port == LAN:
            key = (pkt[IP].src, pkt[IP].dst, l4.sport, l4.dport, proto)
            f = flows.get(key)
            if f and ts - f[1] <= fw_timeout:
                flows[key] = (f[0], ts)
            else:
                flows[key] = (port, ts)
            out[WAN].append((ts, data))      # Policer: LAN -> WAN free.
            continue
        key = (pkt[IP].dst, pkt[IP].src, l4.dport, l4.sport, proto)
        f = flows.get(key)
        if not f or ts - f[1] > fw_timeout:
            continue
        flows[key] = (f[0], ts)
        length = len(data)
        b = buckets.get(pkt[IP].dst)
        if b is None or ts - b[2] > expire:
            if length <= burst:
                buckets[pkt[IP].dst] = [cap - length * SEC, ts, ts]
                out[LAN].append((ts, data))
            continue
        b[0] = min(cap, b[0] + (ts - b[1]) * rate)
        b[1] = b[2] = ts
        if b[0] >= length * SEC:
            b[0] -= length * SEC
            out[LAN].append((ts, data))
    return out


def test_example_fw_policer(tmp_path):
    pcaps = run_example(tmp_path, EXAMPLE, "fw-policer.conf")
    inputs = {LAN: pcaps["lan.pcap"], WAN: pcaps["wan.pcap"]}
    expected = chain_model(inputs, 60 * SEC, 12500, 3000)
    n_in = len([1 for _, d in inputs[WAN]])
    # The example shows every case: some WAN frames pass, many do not.
    assert 5 < len(expected[LAN]) < n_in - 20
    assert_frames(pcaps["out-lan.pcap"], expected[LAN], "LAN")
    assert_frames(pcaps["out-wan.pcap"], expected[WAN], "WAN")
