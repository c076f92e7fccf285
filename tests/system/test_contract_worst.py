"""`sluice contract worst` (issue 8): worst-case traffic for a function.

For the functions that key a flow table on packet fields, the command must
build distinct flows whose keys all fall into one bucket (hash seed 0),
each packet valid for the program (it inserts), and the pcap replayed
through `contract check` must stay within the contract: the worst case is
still bounded.  Its cost per packet must grow with the chain: the last
packet costs more x86 instructions than the first."""

import os
import re

import pytest
from scapy.layers.inet import IP, TCP
from scapy.utils import rdpcap

from sluicetest import build_root, run_sluice


def prog(name):
    path = os.path.join(build_root(), "progs", name + ".o")
    if not os.path.exists(path):
        pytest.fail("%s not built (build sluice first)" % path)
    return path


@pytest.mark.parametrize("fn,map_name", [("firewall", "fw_conns"),
                                         ("bridge", "br_index")])
def test_worst_builds_colliding_flows(tmp_path, fn, map_name):
    out = tmp_path / "worst.pcap"
    r = run_sluice(["contract", "worst", prog(fn), "-o", out,
                    "--packets", 32], timeout=300)
    assert r.returncode == 0, r.stderr
    m = re.search(r"map '(\w+)': (\d+) keys built into bucket (\d+)",
                  r.stdout)
    assert m, r.stdout
    assert m.group(1) == map_name
    keys = int(m.group(2))
    assert keys == 32
    x = re.search(r"first packet (\d+), last packet (\d+)", r.stdout)
    assert int(x.group(2)) > int(x.group(1)), r.stdout
    pkts = rdpcap(str(out))
    assert len(pkts) == 32
    # Distinct frames: each one a new flow.
    assert len({bytes(p) for p in pkts}) == keys


def test_worst_traffic_stays_within_contract(tmp_path):
    out = tmp_path / "worst.pcap"
    r = run_sluice(["contract", "worst", prog("firewall"), "-o", out,
                    "--packets", 24], timeout=300)
    assert r.returncode == 0, r.stderr
    port = re.search(r"input port (\d+)", r.stdout).group(1)
    pkts = rdpcap(str(out))
    assert all(IP in p and TCP in p for p in pkts)
    r = run_sluice(["contract", "check", prog("firewall"), "--pcap",
                    "%s@%s" % (out, port)], timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 failures" in r.stdout
    # All packets in one class: the insert of a new flow.
    assert "24 packets, 1 classes seen" in r.stdout


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
