"""System tests for `sluice switch --threads 2`: flow steering between
datapath threads, with and without the stateful firewall.

Topology and helpers are test_switch.py's (hosts h1, h2 and the switch in
its own namespace, afpacket ports; port 1 on thread 0, port 2 on thread 1).
Many TCP connections run at once, so that flows spread over both threads
and packets received by one thread are handed to the other.  Tests skip,
with the reason printed, when not root.
"""

import json
import os
import subprocess

from sluicetest import build_root
from test_switch import NETTOOL, PY, Net

ARP = ["flow add priority=40000,arp,in_port=1,actions=output:2",
       "flow add priority=40000,arp,in_port=2,actions=output:1"]
FORWARD = ["flow add in_port=1,actions=output:2",
           "flow add in_port=2,actions=output:1"]


def firewall_lines():
    path = os.path.join(build_root(), "progs", "firewall.o")
    assert os.path.exists(path), "%s not built" % path
    return ["prog load fw %s rodata.inside_port=1" % path,
            "flow add in_port=1,prog=fw,actions=output:2",
            "flow add in_port=2,prog=fw,actions=output:1"] + ARP


def transfers(net, src, dst, n, nbytes, base_port):
    """Runs n TCP transfers from src to dst at once; returns how many
    completed with the right bytes."""
    servers, senders = [], []
    try:
        for i in range(n):
            s = subprocess.Popen(
                ["ip", "netns", "exec", dst, PY, NETTOOL, "serve",
                 str(base_port + i)],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            servers.append(s)
            assert s.stdout.readline().strip() == "listening"
        for i in range(n):
            senders.append(subprocess.Popen(
                ["ip", "netns", "exec", src, PY, NETTOOL, "send",
                 net.addr(dst), str(base_port + i), str(nbytes)],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        ok = 0
        for p in senders:
            try:
                out, _ = p.communicate(timeout=40)
            except subprocess.TimeoutExpired:
                p.kill()
                p.communicate()
                continue
            ok += p.returncode == 0 and out.startswith("ok %d" % nbytes)
        return ok
    finally:
        for p in servers + senders:
            if p.poll() is None:
                p.kill()
                p.wait()


def stats(net):
    return json.loads(net.cli("stats", "-j").stdout)


def check_counters(s):
    threads = s["threads"]
    assert len(threads) == 2
    # Each thread polls one port and receives on it.
    assert [t["ports"] for t in threads] == [1, 1]
    assert all(t["rx_packets"] > 0 for t in threads), threads
    # Every packet received was processed once, by exactly one thread, or
    # counted as a ring drop.
    rx = sum(t["rx_packets"] for t in threads)
    done = sum(t["packets"] for t in threads)
    drops = sum(t["ring_drops"] for t in threads)
    assert done + drops == rx, threads
    assert s["drops"]["steer_ring_full"] == drops
    handed = sum(t["handed_off"] for t in threads)
    assert handed == sum(t["from_others"] for t in threads) + drops
    for t in threads:
        assert t["busy_cycles"] > 0 and t["cycles_per_packet"] > 0
        if t["batches"]:
            assert 0 < t["avg_batch"] <= 32


def test_default_steering_spreads_flows(request, tmp_path):
    net = Net("afpacket", request, tmp_path, FORWARD, ["--threads", "2"])
    assert transfers(net, net.h1, net.h2, 12, 300000, 5410) == 12
    s = stats(net)
    steering = s["steering"]
    # No program: the symmetric 5-tuple.
    assert not steering["single"] and steering["symmetric"]
    assert {"nw_src", "nw_dst", "tp_src", "tp_dst"} <= \
        set(steering["hashed"].split(","))
    assert steering["reason"]
    check_counters(s)
    threads = s["threads"]
    # Twelve connections cannot all hash to one thread (odds 2^-11): both
    # process packets, and packets cross between them.
    assert all(t["packets"] > 0 for t in threads), threads
    assert sum(t["handed_off"] for t in threads) > 0
    # The text form says the same.
    text = net.cli("stats").stdout
    assert text.startswith("steering: ") and "thread 1:" in text
    assert "handed off:" in text and "cycles/packet:" in text
    net.stop()


def test_firewall_two_threads(request, tmp_path):
    net = Net("afpacket", request, tmp_path, firewall_lines(),
              ["--threads", "2"])
    # Connections opened from the inside work, data and ACKs flowing both
    # ways, while many run at once.
    assert transfers(net, net.h1, net.h2, 10, 300000, 5430) == 10
    # From the outside nothing gets in.
    assert transfers(net, net.h2, net.h1, 1, 10000, 5450) == 0
    s = stats(net)
    steering = s["steering"]
    assert steering["reason"]
    check_counters(s)
    threads = s["threads"]
    if steering["single"]:
        # The analysis found state no field set partitions: thread 0 does
        # all the processing, thread 1 only receives and hands over.
        assert threads[1]["packets"] == 0
        assert threads[1]["handed_off"] > 0
        assert "single thread" in net.cli("stats").stdout
    else:
        assert steering["symmetric"] and steering["hashed"]
        assert all(t["packets"] > 0 for t in threads), threads
    # The firewall tracked the connections (those closed by a RST are
    # gone again): its table is not empty.
    dump = json.loads(net.cli("map", "dump", "fw", "fw_conns", "-j").stdout)
    assert dump
    net.stop()
