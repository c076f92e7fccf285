"""The shipped quick start: its pcaps are what make-pcaps.py makes, and
running examples/quickstart.conf gives what an independent model of its
policy, written here with scapy, says it should."""

import ipaddress
import json
import os
import shutil
import subprocess

from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import ARP, Dot1Q, Ether
from scapy.utils import checksum

from sluicetest import ROOT, assert_frames, nonzero, pcap_read, run_sluice

EXAMPLES = os.path.join(ROOT, "examples")
LAN_HOSTS = {"10.0.0.%d" % i: "02:00:00:00:01:%02x" % i for i in range(2, 6)}


def test_make_pcaps_reproduces_the_shipped_files(tmp_path):
    subprocess.run(["/usr/bin/python3",
                    os.path.join(EXAMPLES, "make-pcaps.py"), str(tmp_path)],
                   check=True, stdin=subprocess.DEVNULL)
    for name in ("lan.pcap", "wan.pcap"):
        with open(os.path.join(EXAMPLES, name), "rb") as f:
            shipped = f.read()
        with open(str(tmp_path / name), "rb") as f:
            assert f.read() == shipped, name + " differs from make-pcaps.py"


def route(data, src_mac, dst_mac):
    """MAC rewrite and dec_ttl on raw bytes, IPv4 header checksum
    recomputed (works on truncated packets too); None if TTL expires."""
    b = bytearray(data)
    ihl = (b[14] & 0x0f) * 4
    if b[22] <= 1:
        return None
    b[0:6] = bytes.fromhex(dst_mac.replace(":", ""))
    b[6:12] = bytes.fromhex(src_mac.replace(":", ""))
    b[22] -= 1
    b[24:26] = b"\0\0"
    b[24:26] = checksum(bytes(b[14:14 + ihl])).to_bytes(2, "big")
    return bytes(b)


def model(inputs):
    """inputs: {port: [(ts, bytes)]}.  Returns ({port: [(ts, bytes)]},
    drops) for quickstart.conf's policy."""
    ports = (1, 2, 3)
    out = {p: [] for p in ports}
    drops = {}
    merged = sorted((ts, port, data) for port, frames in inputs.items()
                    for ts, data in frames)
    for ts, in_port, data in merged:
        pkt = Ether(data)
        if ARP in pkt:
            for p in ports:
                if p != in_port:
                    out[p].append((ts, data))
            continue
        if IP not in pkt:
            drops["table_miss"] = drops.get("table_miss", 0) + 1
            continue
        tcp = pkt[TCP] if TCP in pkt and len(pkt[IP].payload) >= 20 \
            else None
        if tcp is not None and tcp.dport == 23:
            drops["action_drop"] = drops.get("action_drop", 0) + 1
            continue
        if (in_port == 2 and tcp is not None and
                pkt[IP].dst == "203.0.113.10" and tcp.dport == 80):
            ip = pkt[IP].copy()
            ip.dst = "10.0.100.10"
            ip[TCP].dport = 8080
            ip.chksum = None
            ip[TCP].chksum = None
            tagged = (Ether(src=pkt.src, dst=pkt.dst) / Dot1Q(vlan=100) /
                      IP(bytes(ip)))
            out[3].append((ts, bytes(tagged)))
            continue
        dst = pkt[IP].dst
        if dst in LAN_HOSTS:
            port, r = 1, route(data, "02:00:00:00:00:01", LAN_HOSTS[dst])
        elif ipaddress.ip_address(dst) in ipaddress.ip_network(
                "10.0.0.0/24"):
            drops["action_drop"] = drops.get("action_drop", 0) + 1
            continue
        else:
            port, r = 2, route(data, "02:00:00:00:00:02",
                               "02:00:00:00:00:fe")
        if r is None:
            drops["ttl_expired"] = drops.get("ttl_expired", 0) + 1
        elif port != in_port:
            out[port].append((ts, r))
    return out, drops


def test_quickstart_matches_model(tmp_path):
    for name in ("quickstart.conf", "lan.pcap", "wan.pcap"):
        shutil.copy(os.path.join(EXAMPLES, name), str(tmp_path))
    proc = run_sluice(["run", str(tmp_path / "quickstart.conf"), "-j"])
    assert proc.returncode == 0, proc.stderr
    stats = json.loads(proc.stdout)
    want, drops = model({1: pcap_read(str(tmp_path / "lan.pcap")),
                         2: pcap_read(str(tmp_path / "wan.pcap"))})
    for port, name in ((1, "lan"), (2, "wan"), (3, "trunk")):
        got = pcap_read(str(tmp_path / ("out-%s.pcap" % name)))
        assert_frames(got, want[port], "port %d (%s)" % (port, name))
    assert nonzero(stats["drops"]) == drops
    assert nonzero(stats["parse_errors"]) == {"tcp_short": 1}
    # The example exercises every kind of outcome it documents.
    assert all(want[p] for p in (1, 2, 3))
    assert set(drops) == {"table_miss", "action_drop", "ttl_expired"}
