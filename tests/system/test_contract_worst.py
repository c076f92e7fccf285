"""`sluice contract worst` (issue 8): worst-case traffic for a function.

For the functions that key a flow table on packet fields, the command must
build distinct flows whose keys all fall into one bucket (hash seed 0),
each packet valid for the program (it inserts); for an expiring flow table
(nat, lb, configured with --setup as `contract check` takes it) it must
also let the table's timeout pass when the table is full, so that single
calls expire several entries at once; for a router it must send the
packets to the deepest prefix of the loaded table; for p0f, whose cost is
in its loops, its SYNs must carry the TCP options that run them longest.
Each pcap replayed through `contract check` with the same setup must stay
within the contract (the worst case is still bounded), and its mean x86
cost per packet, counted by single-stepping (deterministic), must be well
above that of the uniform workload of the same class."""

import os
import re

import pytest
from scapy.layers.inet import IP, TCP
from scapy.utils import rdpcap

from sluicetest import ROOT, build_root, run_sluice


def prog(name):
    path = os.path.join(build_root(), "progs", name + ".o")
    if not os.path.exists(path):
        pytest.fail("%s not built (build sluice first)" % path)
    return path


def setup_args(lines):
    return sum([["--setup", s] for s in lines], [])


NAT_SETUP = ["nf nat wan=2 ip=198.51.100.1 first_port=1000 capacity=64 "
             "timeout=1",
             "nf port 1 02:00:00:00:01:01 02:00:00:00:01:fe",
             "nf port 2 02:00:00:00:02:01 02:00:00:00:02:fe"]
LB_SETUP = ["nf lb backends %s vip=192.0.2.100:80 table=251 capacity=64 "
            "timeout=1" % os.path.join(ROOT, "examples", "lb",
                                       "backends.txt"),
            "nf port 2 02:00:00:00:00:02 02:00:00:00:0b:01",
            "nf port 3 02:00:00:00:00:03 02:00:00:00:0b:02",
            "nf port 4 02:00:00:00:00:04 02:00:00:00:0b:03"]
ROUTER_SETUP = ["nf port %d 02:00:00:00:00:0%d 02:00:00:00:0%d:01"
                % (p, p, p) for p in range(1, 5)] + \
               ["nf route load %s" % os.path.join(ROOT, "examples", "router",
                                                  "routes.txt")]


def worst(tmp_path, fn, packets, setup=()):
    """Runs `contract worst`; returns (stdout, pcap path, input port)."""
    out = tmp_path / ("%s-worst.pcap" % fn)
    r = run_sluice(["contract", "worst", prog(fn), "-o", out,
                    "--packets", packets] + setup_args(setup), timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    port = int(re.search(r"input port (\d+)", r.stdout).group(1))
    return r.stdout, out, port


def pcvs(stdout):
    """The largest PCV values of one call on the trace's map."""
    m = re.search(r"PCVs on '\w+' over \d+ calls \(largest in one call, "
                  r"total\):(.*)", stdout)
    assert m, stdout
    return {k: int(v) for k, v, _ in re.findall(r"(\w+) (\d+)/(\d+)",
                                                m.group(1))}


def means(stdout):
    """(worst, uniform) mean x86 instructions per packet."""
    w = float(re.search(r"mean ([\d.]+)\n", stdout).group(1))
    u = float(re.search(r"uniform workload .*: mean ([\d.]+) x86",
                        stdout).group(1))
    return w, u


def check(fn, pcap, port, setup=()):
    r = run_sluice(["contract", "check", prog(fn)] + setup_args(setup) +
                   ["--pcap", "%s@%d" % (pcap, port)], timeout=900)
    assert r.returncode == 0, r.stdout + r.stderr
    assert " 0 failures" in r.stdout, r.stdout
    return r.stdout


@pytest.mark.parametrize("fn,map_name", [("firewall", "fw_conns"),
                                         ("bridge", "br_index")])
def test_worst_builds_colliding_flows(tmp_path, fn, map_name):
    stdout, out, _ = worst(tmp_path, fn, 32)
    assert "method collide\n" in stdout
    m = re.search(r"map '(\w+)': (\d+) keys built into bucket (\d+)", stdout)
    assert m, stdout
    assert m.group(1) == map_name
    keys = int(m.group(2))
    assert keys == 32
    x = re.search(r"first packet (\d+), last packet (\d+)", stdout)
    assert int(x.group(2)) > int(x.group(1)), stdout
    # The last insert walks the 31 keys before it.
    assert pcvs(stdout)["chain"] >= 31, stdout
    pkts = rdpcap(str(out))
    assert len(pkts) == 32
    # Distinct frames: each one a new flow.
    assert len({bytes(p) for p in pkts}) == keys


@pytest.mark.parametrize("fn", ["firewall", "bridge", "vfw"])
def test_worst_costs_more_than_uniform(tmp_path, fn):
    stdout, _, _ = worst(tmp_path, fn, 64)
    w, u = means(stdout)
    # Chains of up to 64 against chains of about 1.
    assert w > 1.5 * u, stdout


def test_worst_traffic_stays_within_contract(tmp_path):
    stdout, out, port = worst(tmp_path, "firewall", 24)
    pkts = rdpcap(str(out))
    assert all(IP in p and TCP in p for p in pkts)
    res = check("firewall", out, port)
    # All packets in one class: the insert of a new flow.
    assert "24 packets, 1 classes seen" in res


@pytest.mark.parametrize("fn,setup,map_name", [
    ("nat", NAT_SETUP, "nat_flows"),
    ("lb", LB_SETUP, "lb_conns")])
def test_worst_expiry_bursts(tmp_path, fn, setup, map_name):
    """nat and lb drop or pass everything until configured; with their
    setup, the trace fills the 64-flow table with colliding flows, waits
    out the 1 s timeout, and each packet after that expires the most
    entries one flow-table call can (the budget, 4, plus its own key) in
    each of its calls, unlinking them from the long chain."""
    stdout, out, port = worst(tmp_path, fn, 160, setup)
    assert "method collide+expire\n" in stdout, stdout
    m = re.search(r"map '(\w+)': (\d+) keys built", stdout)
    assert m and m.group(1) == map_name, stdout
    waits = int(re.search(r"expiry: (\d+) waits of the (\d+) ns",
                          stdout).group(1))
    assert waits >= 2, stdout
    assert "1000000000 ns idle timeout" in stdout
    p = pcvs(stdout)
    assert p["expired"] >= 4, stdout
    # Expired entries sit deep in the one long chain.
    assert p["unlink"] >= 4 * 40, stdout
    assert p["chain"] >= 60, stdout
    w, u = means(stdout)
    # Chains of 64 walked two or three times per packet, four long
    # unlinks per call after each wait, against chains of about 1.
    assert w > 1.5 * u, stdout
    pkts = rdpcap(str(out))
    assert len(pkts) == 160
    # The waits are in the pcap: gaps of more than the timeout.
    times = [float(q.time) for q in pkts]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert sum(1 for g in gaps if g > 1.0) == waits
    res = check(fn, out, port, setup)
    # One class throughout: a new flow, inserted; the PCVs differ, the
    # path does not.
    assert "160 packets, 1 classes seen" in res, res


def test_worst_router_longest_prefix(tmp_path):
    """examples/router/routes.txt nests 0/0, 10/8, 10.20/16, 10.20.30/24
    and 10.20.30.40/32: the trace's packets all go to one address of
    10.20.30.0/24, whose lookups walk the deepest path of the trie, down
    to the /32 node (5 nodes); a uniform destination mostly stops at the
    root's children."""
    stdout, out, port = worst(tmp_path, "router", 32, ROUTER_SETUP)
    assert "method lpm\n" in stdout, stdout
    m = re.search(r"LPM map 'rt_routes': deepest key ([\d.]+) \(4 key "
                  r"bytes come from the packet\)", stdout)
    assert m and m.group(1).startswith("10.20.30."), stdout
    pkts = rdpcap(str(out))
    assert {p[IP].dst for p in pkts} == {m.group(1)}
    assert pcvs(stdout)["chain"] == 5, stdout
    w, u = means(stdout)
    assert w > 1.2 * u, stdout
    res = check("router", out, port, ROUTER_SETUP)
    assert "32 packets, 1 classes seen" in res, res


P0F_SETUP = ["nf p0f load /etc/p0f/p0f.fp"]


def test_worst_p0f_loops(tmp_path):
    """p0f inserts nothing and looks up no trie: its cost is in its loops.
    The trace's SYNs carry the 40 option bytes that make the TCP-option
    walk and the EOL-padding scan run longest (the walk stops at
    P0F_MAX_OPTS), several times the cost of the same SYN without
    options; replayed with the same setup, they stay within the contract,
    in one class."""
    if not os.path.exists(P0F_SETUP[0].split()[-1]):
        pytest.skip("needs /etc/p0f/p0f.fp (Debian package p0f)")
    stdout, out, port = worst(tmp_path, "p0f", 32, P0F_SETUP)
    assert "method loops\n" in stdout, stdout
    m = re.search(r"TCP options of (\d+) bytes that run the loops "
                  r"longest:((?: [0-9a-f]{2})+)\n", stdout)
    assert m, stdout
    opts = bytes.fromhex(m.group(2).replace(" ", ""))
    assert len(opts) == int(m.group(1)) == 40
    w, u = means(stdout)
    # Deterministic counts: about 1400 against about 380.
    assert w > 3 * u, stdout
    pkts = rdpcap(str(out))
    assert len(pkts) == 32
    for p in pkts:
        assert p[TCP].flags == "S"
        assert p[TCP].dataofs == 15
        assert bytes(p[TCP])[20:60] == opts
    res = check("p0f", out, port, P0F_SETUP)
    assert "32 packets, 1 classes seen" in res, res


def test_worst_usage_errors(tmp_path):
    r = run_sluice(["contract", "worst", prog("firewall")])
    assert r.returncode == 2
    assert "-o OUT.pcap is required" in r.stderr
    r = run_sluice(["contract", "worst", prog("firewall"), "-o",
                    tmp_path / "x.pcap", "--packets", "1"])
    assert r.returncode == 2
    assert "--packets" in r.stderr
    r = run_sluice(["contract", "worst", tmp_path / "missing.o", "-o",
                    tmp_path / "x.pcap"])
    assert r.returncode == 1
    r = run_sluice(["contract", "worst", prog("nat"), "-o",
                    tmp_path / "x.pcap", "--setup", "nf frobnicate"])
    assert r.returncode == 1
    assert "unknown setup command" in r.stderr
    assert not os.path.exists(tmp_path / "x.pcap")
