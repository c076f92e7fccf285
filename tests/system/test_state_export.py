"""System tests for `sluice state export` / `sluice state import` (issue 9).

A live `sluice switch` with pcap ports needs no root: each port reads its
rx file once when it is added, so a test plays a conversation step by step
by deleting and re-adding a port with the next file, waiting each time for
the switch to have received it.  State is exported from one switch,
which is then stopped, and imported into a fresh one.  Packets carry pcap
timestamps 1 ms apart, which is the time programs see.
"""

import json
import os
import signal
import subprocess
import time

import pytest
from scapy.all import IP, TCP, Ether

from sluicetest import T0_NS, build_root, pcap_packets_if_any, pcap_write, \
    sluice_bin

MS = 10**6
SEC = 10**9


def frame(src, dst, sport, dport, flags):
    return bytes(Ether(src="02:00:00:00:00:0a", dst="02:00:00:00:00:01") /
                 IP(src=src, dst=dst) /
                 TCP(sport=sport, dport=dport, flags=flags))


class Switch:
    """A running `sluice switch` with config 'lines' and no ports yet
    ('args': more switch options)."""

    def __init__(self, request, tmp_path, name, lines, args=()):
        self.dir = tmp_path
        self.ctl = str(tmp_path / ("%s.sock" % name))
        self.name = name
        self.files = 0
        conf = tmp_path / ("%s.conf" % name)
        conf.write_text("".join(l + "\n" for l in lines))
        self.proc = subprocess.Popen(
            [sluice_bin(), "switch", "--config", str(conf), "--ctl",
             self.ctl] + list(args), stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL, text=True, cwd=str(tmp_path))
        request.addfinalizer(self.kill)
        for _ in range(200):
            if os.path.exists(self.ctl) or self.proc.poll() is not None:
                break
            time.sleep(0.05)
        if self.proc.poll() is not None:
            raise AssertionError("switch did not start: %s" %
                                 self.proc.stderr.read())

    def cli(self, *args, check=True):
        proc = subprocess.run([sluice_bin()] + [str(a) for a in args] +
                              ["--ctl", self.ctl], capture_output=True,
                              text=True, timeout=60,
                              stdin=subprocess.DEVNULL)
        if check and proc.returncode:
            raise AssertionError("sluice %s: %s%s" % (
                " ".join(str(a) for a in args), proc.stdout, proc.stderr))
        return proc

    def ports(self):
        out = json.loads(self.cli("port", "show", "-j").stdout)
        return {p["port"]: p for p in out}

    def port(self, n, frames=()):
        """(Re)adds port n reading 'frames' (list of (ts, bytes)) and
        writing its own tx file; returns the tx path.  Waits until every
        frame was received."""
        if n in self.ports():
            self.cli("port", "del", n)
        self.files += 1
        spec = []
        if frames:
            rx = self.dir / ("%s-rx%d.pcap" % (self.name, self.files))
            pcap_write(str(rx), list(frames))
            spec.append("rx=%s" % rx)
        txp = self.dir / ("%s-tx%d.pcap" % (self.name, self.files))
        spec.append("tx=%s" % txp)
        self.cli("port", "add", n, "pcap:" + ",".join(spec))
        for _ in range(200):
            if rx_packets(self.ports()[n]) >= len(frames):
                return txp
            time.sleep(0.02)
        raise AssertionError("port %d did not receive its packets" % n)

    def sent(self, n):
        return tx_packets(self.ports()[n])

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        _, err = self.proc.communicate(timeout=20)
        assert self.proc.returncode == 0, err

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def rx_packets(port):
    return port["rx_packets"]


def tx_packets(port):
    return port["tx_packets"]


def obj(name):
    path = os.path.join(build_root(), "progs", name + ".o")
    if not os.path.exists(path):
        pytest.fail("%s missing (build the tree first)" % path)
    return path


# --- the firewall ----------------------------------------------------------

INSIDE, OUTSIDE = "10.0.0.1", "192.0.2.9"


def firewall_lines():
    return ["prog load fw %s rodata.inside_port=1" % obj("firewall"),
            "flow add in_port=1,ip,prog=fw,actions=output:2",
            "flow add in_port=2,ip,prog=fw,actions=output:1"]


def open_connection(sw):
    """SYN and ACK from the inside, SYN-ACK from the outside."""
    sw.port(2)
    sw.port(1, [(T0_NS, frame(INSIDE, OUTSIDE, 1000, 80, "S"))])
    sw.port(2, [(T0_NS + MS, frame(OUTSIDE, INSIDE, 80, 1000, "SA"))])
    sw.port(1, [(T0_NS + 2 * MS, frame(INSIDE, OUTSIDE, 1000, 80, "A"))])


def outside_traffic(sw):
    """The reply of the connection, then a connection the outside opens:
    returns how many of each reached the inside (a re-added port counts
    from zero)."""
    sw.port(1)
    sw.port(2, [(T0_NS + 3 * MS, frame(OUTSIDE, INSIDE, 80, 1000, "A"))])
    after_reply = sw.sent(1)
    sw.port(1)
    sw.port(2, [(T0_NS + 4 * MS, frame(OUTSIDE, INSIDE, 81, 2000, "S"))])
    return after_reply, sw.sent(1)


def test_firewall_connection_survives_export_import(request, tmp_path):
    a = Switch(request, tmp_path, "a", firewall_lines())
    open_connection(a)
    exported = a.cli("state", "export", "fw").stdout
    lines = exported.splitlines()
    header = json.loads(lines[0])
    assert header["format"] == "sluice-state" and header["version"] == 1
    assert [m["name"] for m in header["maps"]] == ["fw_stats", "fw_conns"]
    conns = [json.loads(l) for l in lines[1:] if '"fw_conns"' in l]
    assert len(conns) == 1
    # --match selects through the key layout: the outside host is either
    # member of the key's address pair.
    sel = a.cli("state", "export", "fw", "--match",
                "ip,nw_src=%s" % OUTSIDE).stdout
    assert sel.count('"map":"fw_conns"') == 1
    sel = a.cli("state", "export", "fw", "--match",
                "ip,nw_src=198.51.100.77").stdout
    assert sel.count('"map":"fw_conns"') == 0
    a.stop()
    state = tmp_path / "fw.state"
    state.write_text(exported)

    # A fresh switch without the state drops the reply ...
    c = Switch(request, tmp_path, "c", firewall_lines())
    assert outside_traffic(c) == (0, 0)
    c.stop()

    # ... and with it lets the reply in, but still not a new connection
    # opened from the outside.
    b = Switch(request, tmp_path, "b", firewall_lines())
    out = b.cli("state", "import", "fw", str(state)).stdout
    assert "imported" in out
    assert outside_traffic(b) == (1, 0)
    b.stop()


def test_import_refuses_another_program(request, tmp_path):
    a = Switch(request, tmp_path, "a", firewall_lines())
    open_connection(a)
    state = tmp_path / "fw.state"
    state.write_text(a.cli("state", "export", "fw").stdout)
    a.stop()
    b = Switch(request, tmp_path, "b",
               ["prog load fw %s" % obj("ratelimit")])
    proc = b.cli("state", "import", "fw", state, check=False)
    assert proc.returncode != 0
    assert "object_hash" in proc.stderr
    b.stop()


# --- the NAT ---------------------------------------------------------------

EXT, REMOTE = "198.51.100.1", "203.0.113.7"


def nat_lines():
    return ["prog load nat %s" % obj("nat"),
            "nf nat nat wan=2 ip=%s first_port=40000 capacity=8 "
            "timeout=30" % EXT,
            "nf port nat 1 02:00:00:00:00:01 02:00:00:00:01:fe",
            "nf port nat 2 02:00:00:00:00:02 02:00:00:00:00:fe",
            "flow add actions=prog:nat"]


def wan_frames(path):
    return [Ether(data) for _, data in pcap_packets_if_any(str(path))]


def test_nat_mappings_survive_export_import(request, tmp_path):
    a = Switch(request, tmp_path, "a", nat_lines())
    a.port(1)
    tx = a.port(2)
    # Two flows from the LAN take external ports 40000 and 40001; the
    # second one is used again 20 s later, so at export the first mapping
    # has been idle for 20 s of the 30 s timeout and the second for 0.
    a.port(1, [(T0_NS, frame("10.0.0.5", REMOTE, 1234, 80, "S")),
               (T0_NS + MS, frame("10.0.0.6", REMOTE, 2345, 80, "S")),
               (T0_NS + 20 * SEC, frame("10.0.0.6", REMOTE, 2345, 80, "A"))])
    a.cli("port", "del", 2)
    out = wan_frames(tx)
    assert [p[TCP].sport for p in out] == [40000, 40001, 40001]
    assert all(p[IP].src == EXT for p in out)
    exported = a.cli("state", "export", "nat").stdout
    assert exported.count('"map":"nat_flows"') == 2
    a.stop()
    state = tmp_path / "nat.state"
    state.write_text(exported)

    # A fresh switch whose packets come from another time line: the
    # imported ages are anchored at its first packet (docs/state.md).
    b = Switch(request, tmp_path, "b", nat_lines())
    b.cli("state", "import", "nat", str(state))
    t1 = T0_NS + 100 * SEC
    lan = b.port(1)
    # The reply to the second flow comes back through its old port.
    b.port(2, [(t1, frame(REMOTE, EXT, 80, 40001, "SA"))])
    b.cli("port", "del", 1)
    back = wan_frames(lan)
    assert len(back) == 1
    assert back[0][IP].dst == "10.0.0.6" and back[0][TCP].dport == 2345
    # A packet to a port no flow holds is still dropped, and a new LAN
    # flow takes the next free port, not one of the restored ones.
    b.port(1)
    b.port(2, [(t1 + MS, frame(REMOTE, EXT, 80, 40005, "S"))])
    assert b.sent(1) == 0
    wan = b.port(2)
    b.port(1, [(t1 + 2 * MS, frame("10.0.0.7", REMOTE, 3456, 80, "S"))])
    b.cli("port", "del", 2)
    assert [p[TCP].sport for p in wan_frames(wan)] == [40002]
    # 15 s later the first mapping has been idle 35 s (> 30 s): expired,
    # as it would have been in the exporting switch; the second (15 s) and
    # the new one still hold.
    lan = b.port(1)
    b.port(2, [(t1 + 15 * SEC, frame(REMOTE, EXT, 80, 40000, "A")),
               (t1 + 15 * SEC + MS, frame(REMOTE, EXT, 80, 40001, "A"))])
    b.cli("port", "del", 1)
    assert [p[TCP].dport for p in wan_frames(lan)] == [2345]
    b.stop()


def test_nat_steering_two_threads(request, tmp_path):
    """With two datapath threads the NAT is steered by its LAN side's
    tuple, not onto one thread (docs/state.md, "Owned slots"): flows are
    created by the LAN direction only, nat_slots is written under the slot
    each flow was just given, the WAN direction only reads.  Both
    directions still translate, and the per-CPU counters add up."""
    sw = Switch(request, tmp_path, "mt", nat_lines(), ["--threads", "2"])
    steering = json.loads(sw.cli("stats", "-j").stdout)["steering"]
    assert not steering["single"], steering
    assert not steering["symmetric"], steering
    assert steering["fields"] == "nw_src,nw_dst,tp_src,tp_dst", steering
    assert "nat_slots" in steering["reason"], steering
    text = sw.cli("stats").stdout
    assert text.startswith("steering: nw_src,nw_dst,tp_src,tp_dst ("), text

    sw.port(1)
    wan = sw.port(2)
    hosts = [("10.0.0.%d" % (10 + i), 1000 + i) for i in range(8)]
    sw.port(1, [(T0_NS + i * MS, frame(h, REMOTE, p, 80, "S"))
                for i, (h, p) in enumerate(hosts)])
    sw.cli("port", "del", 2)
    out = wan_frames(wan)
    assert sorted(p[TCP].sport for p in out) == list(range(40000, 40008))
    by_port = {p[TCP].sport: p for p in out}
    lan = sw.port(1)
    sw.port(2, [(T0_NS + SEC + i * MS, frame(REMOTE, EXT, 80, port, "SA"))
                for i, port in enumerate(sorted(by_port))])
    sw.cli("port", "del", 1)
    back = wan_frames(lan)
    assert len(back) == 8
    got = sorted((p[IP].dst, p[TCP].dport) for p in back)
    assert got == sorted(hosts)

    # nat_stats is per-CPU: one u64 copy per thread (hex, each 8 bytes,
    # little-endian), summed by the reader.
    dump = json.loads(sw.cli("map", "dump", "nat", "nat_stats",
                             "-j").stdout)
    totals = {}
    for entry in dump:
        raw = bytes.fromhex(entry["value"])
        assert len(raw) == 16, entry    # Two threads, two copies.
        copies = [int.from_bytes(raw[i:i + 8], "little")
                  for i in range(0, len(raw), 8)]
        totals[int.from_bytes(bytes.fromhex(entry["key"]), "little")] = \
            sum(copies)
    # NAT_STAT_OUT, NAT_STAT_IN and NAT_STAT_NEW (progs/nat.h).
    assert (totals[0], totals[1], totals[2]) == (8, 8, 8), dump
    sw.stop()
