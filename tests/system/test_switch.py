"""System tests for `sluice switch`: the live switch between namespaces.

Topology per test: two hosts h1 and h2 and a switch namespace sw (names
unique to the test run), h1 <-> s1 and h2 <-> s2 veth pairs for afpacket
and afxdp ports; for tap ports the switch creates t1/t2 and the test moves
them into the hosts.  `sluice switch` runs inside sw, so the root namespace
is untouched; its control socket lives in the test's tmp directory.
Namespaces are deleted by finalizers whatever happens.  Tests skip, with the
reason printed, when not root or when a port type is not built.
"""

import json
import os
import signal
import subprocess
import time

import pytest

from sluicetest import ROOT, build_root, need_root, sluice_bin

NETTOOL = os.path.join(ROOT, "tests", "system", "netns", "nettool.py")
PY = "/usr/bin/python3"
KINDS = ["afpacket", "afxdp", "tap"]


def sh(*args, check=True, timeout=30):
    proc = subprocess.run([str(a) for a in args], capture_output=True,
                          text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    if check and proc.returncode:
        raise AssertionError("%s failed (%d): %s%s" % (
            " ".join(str(a) for a in args), proc.returncode, proc.stdout,
            proc.stderr))
    return proc


def in_ns(ns, *args, **kw):
    return sh("ip", "netns", "exec", ns, *args, **kw)


class Net:
    """Hosts h1, h2 and a running `sluice switch` in sw."""

    def __init__(self, kind, request, tmp_path, config_lines, extra=()):
        need_root()
        self.extra = list(extra)
        self.kind = kind
        tag = "sls%d%s" % (os.getpid() % 100000, kind[:2])
        self.h1, self.h2, self.sw = tag + "h1", tag + "h2", tag + "sw"
        self.proc = None
        self.ctl = str(tmp_path / "ctl.sock")
        self.config = tmp_path / "switch.conf"
        request.addfinalizer(self.destroy)
        for ns in (self.h1, self.h2, self.sw):
            sh("ip", "netns", "del", ns, check=False)
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        if kind == "tap":
            specs = ("tap:t1", "tap:t2")
            self.host_if = {self.h1: "t1", self.h2: "t2"}
        else:
            for h, s, peer in ((self.h1, "s1", "h1"), (self.h2, "s2", "h2")):
                sh("ip", "-n", self.sw, "link", "add", "name", s, "type",
                   "veth", "peer", "name", peer, "netns", h)
                sh("ip", "-n", self.sw, "link", "set", s, "up")
            specs = ("%s:s1" % kind, "%s:s2" % kind)
            self.host_if = {self.h1: "h1", self.h2: "h2"}
        self.config.write_text(
            "port add 1 %s\nport add 2 %s\n" % specs +
            "".join(l + "\n" for l in config_lines))
        self.start()
        if kind == "tap":
            sh("ip", "-n", self.sw, "link", "set", "t1", "netns", self.h1)
            sh("ip", "-n", self.sw, "link", "set", "t2", "netns", self.h2)
        for i, h in ((1, self.h1), (2, self.h2)):
            dev = self.host_if[h]
            sh("ip", "-n", h, "addr", "add", "10.201.0.%d/24" % i, "dev", dev)
            sh("ip", "-n", h, "link", "set", dev, "up")

    def start(self):
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", self.sw, sluice_bin(), "switch",
             "--config", str(self.config), "--ctl", self.ctl] + self.extra,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL, text=True)
        for _ in range(100):
            if os.path.exists(self.ctl) or self.proc.poll() is not None:
                break
            time.sleep(0.05)
        if self.proc.poll() is not None:
            err = self.proc.stderr.read()
            self.proc = None
            if "unknown port type" in err:
                pytest.skip("%s ports not built here: %s" % (self.kind, err))
            raise AssertionError("sluice switch did not start: %s" % err)

    def cli(self, *args, check=True):
        words = []
        rest = list(args)
        while rest and not ("=" in rest[0] or rest[0][0].isdigit() or
                            rest[0].startswith("-") or "/" in rest[0]):
            words.append(rest.pop(0))
            if len(words) == 2:
                break
        return sh(sluice_bin(), *words, "--ctl", self.ctl, *rest,
                  check=check)

    def stop(self):
        proc, self.proc = self.proc, None
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err
        return err

    def destroy(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None
        for ns in (self.h1, self.h2, self.sw):
            sh("ip", "netns", "del", ns, check=False)

    def addr(self, host):
        return "10.201.0.%d" % (1 if host == self.h1 else 2)

    def ping(self, src, dst, count=2):
        return in_ns(src, PY, NETTOOL, "ping", self.addr(dst), count,
                     check=False)

    def transfer(self, src, dst, nbytes, port=5201):
        """True if a TCP transfer of nbytes from src to dst completed."""
        server = subprocess.Popen(
            ["ip", "netns", "exec", dst, PY, NETTOOL, "serve", str(port)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert server.stdout.readline().strip() == "listening"
            try:
                proc = in_ns(src, PY, NETTOOL, "send", self.addr(dst), port,
                             nbytes, check=False, timeout=20)
            except subprocess.TimeoutExpired:
                return False
            return (proc.returncode == 0 and
                    proc.stdout.startswith("ok %d" % nbytes))
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()

    def flows_json(self):
        return json.loads(self.cli("flow", "dump", "-j").stdout)


FORWARD = ["flow add in_port=1,actions=output:2",
           "flow add in_port=2,actions=output:1"]


@pytest.mark.parametrize("kind", KINDS)
def test_ping_tcp_then_drop(kind, request, tmp_path):
    net = Net(kind, request, tmp_path, FORWARD)
    assert net.ping(net.h1, net.h2).returncode == 0
    assert net.transfer(net.h1, net.h2, 2000000)
    ports = {p["port"]: p for p in
             json.loads(net.cli("port", "show", "-j").stdout)}
    assert ports[1]["rx_packets"] > 0 and ports[2]["tx_packets"] > 0
    # Counters are live and kept per flow.
    flows = net.flows_json()
    assert all(f["n_packets"] > 0 for f in flows)
    # A drop flow at higher priority stops both.
    net.cli("flow", "add",
            "priority=40000,cookie=0x77,in_port=1,actions=drop")
    assert net.ping(net.h1, net.h2).returncode != 0
    assert not net.transfer(net.h1, net.h2, 100000, port=5202)
    # Removing it (non-strict delete: by cookie, not priority) restores
    # forwarding, without a restart.
    net.cli("flow", "del", "cookie=0x77/0xffffffffffffffff")
    assert net.ping(net.h1, net.h2).returncode == 0
    net.stop()


def test_flow_changes_while_traffic_runs(request, tmp_path):
    net = Net("afpacket", request, tmp_path, FORWARD)
    server = subprocess.Popen(
        ["ip", "netns", "exec", net.h2, PY, NETTOOL, "serve", "5301"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert server.stdout.readline().strip() == "listening"
        sender = subprocess.Popen(
            ["ip", "netns", "exec", net.h1, PY, NETTOOL, "send",
             net.addr(net.h2), "5301", "30000000"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # Churn the table while the transfer runs: unrelated flows come
        # and go, and the forwarding flows are modified in place.
        for i in range(20):
            net.cli("flow", "add", "priority=%d,udp,tp_dst=%d,actions=drop"
                    % (100 + i, 1000 + i))
            net.cli("flow", "mod", "in_port=1,actions=output:2")
            net.cli("flow", "del", "udp,tp_dst=%d" % (1000 + i))
        out, err = sender.communicate(timeout=60)
        assert sender.returncode == 0, err
        assert out.startswith("ok 30000000")
    finally:
        for p in (server,):
            if p.poll() is None:
                p.kill()
                p.wait()
    flows = net.flows_json()
    assert len(flows) == 2
    # flow mod kept the counters of the modified flow.
    assert min(f["n_packets"] for f in flows) > 100
    net.stop()


def firewall_lines():
    obj = os.path.join(build_root(), "progs", "firewall.o")
    if not os.path.exists(obj):
        pytest.fail("%s missing (build the tree first)" % obj)
    return ["prog load fw %s rodata.inside_port=1" % obj,
            "flow add priority=200,arp,actions=flood",
            "flow add in_port=1,ip,prog=fw,actions=output:2",
            "flow add in_port=2,ip,prog=fw,actions=output:1"]


def test_firewall_allows_inside_out_only(request, tmp_path):
    net = Net("afpacket", request, tmp_path, firewall_lines())
    assert net.transfer(net.h1, net.h2, 500000, port=5401)
    assert not net.transfer(net.h2, net.h1, 100000, port=5402)
    assert net.transfer(net.h1, net.h2, 500000, port=5403)
    prog = net.cli("prog", "show").stdout
    assert "fw" in prog
    net.stop()


def test_bad_commands_change_nothing(request, tmp_path):
    net = Net("afpacket", request, tmp_path, FORWARD)
    before = net.cli("flow", "dump", "--no-stats").stdout
    cases = [
        (("flow", "add", "in_port=1,actions=output:2,frob"), "frob"),
        (("flow", "add", "in_port=1,prog=nope,actions=drop"), "nope"),
        (("port", "add", "1", "afpacket:s1"), "already exists"),
        (("port", "add", "3", "bogus:x"), "unknown port type"),
        (("port", "del", "9"), "no port 9"),
        (("prog", "unload", "nope"), "nope"),
        (("flow", "mod", "in_port=1,actions=output:2,frob"), "frob"),
    ]
    for args, want in cases:
        proc = net.cli(*args, check=False)
        assert proc.returncode == 1, args
        assert want in proc.stderr, (args, proc.stderr)
    assert net.cli("flow", "dump", "--no-stats").stdout == before
    assert net.ping(net.h1, net.h2).returncode == 0
    net.stop()


def test_sighup_keeps_unchanged_flows(request, tmp_path):
    net = Net("afpacket", request, tmp_path, FORWARD)
    assert net.ping(net.h1, net.h2, count=3).returncode == 0
    before = {f["flow"]: f for f in net.flows_json()}
    text = net.config.read_text().replace(
        "flow add in_port=2,actions=output:1",
        "flow add in_port=2,actions=output:1\n"
        "flow add priority=5,udp,actions=drop")
    net.config.write_text(text)
    net.proc.send_signal(signal.SIGHUP)
    for _ in range(50):
        after = {f["flow"]: f for f in net.flows_json()}
        if len(after) == 3:
            break
        time.sleep(0.1)
    assert len(after) == 3
    for flow, f in before.items():
        assert after[flow]["n_packets"] >= f["n_packets"] > 0
    assert net.ping(net.h1, net.h2).returncode == 0
    net.stop()


def test_sigterm_releases_everything(request, tmp_path):
    net = Net("afpacket", request, tmp_path, FORWARD)
    net.stop()
    assert not os.path.exists(net.ctl)
    # The ports are free again: a new switch can open them at once.
    net.start()
    assert net.ping(net.h1, net.h2).returncode == 0
    net.stop()


def test_offline_flow_dump_still_works(tmp_path):
    conf = tmp_path / "c.conf"
    conf.write_text("flow add in_port=1,actions=output:2\n")
    proc = sh(sluice_bin(), "flow", "dump", "--no-stats", str(conf))
    assert proc.stdout.strip().endswith("in_port=1 actions=output:2")
    proc = sh(sluice_bin(), "flow", "dump", "--ctl",
              str(tmp_path / "none.sock"), check=False)
    assert proc.returncode == 1 and "cannot connect" in proc.stderr


def test_two_threads(request, tmp_path):
    net = Net("afpacket", request, tmp_path, FORWARD, ["--threads", "2"])
    assert net.ping(net.h1, net.h2).returncode == 0
    assert net.transfer(net.h1, net.h2, 2000000)
    stats = json.loads(net.cli("stats", "-j").stdout)
    threads = stats["threads"]
    # The two ports are spread over the two threads, and both receive;
    # a flow is processed by one thread whichever port it arrives on.
    assert [t["ports"] for t in threads] == [1, 1]
    assert all(t["rx_packets"] > 0 for t in threads)
    assert sum(t["packets"] + t["ring_drops"] for t in threads) == \
        sum(t["rx_packets"] for t in threads)
    net.stop()


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_idle_switch_sleeps(request, tmp_path):
    net = Net("afpacket", request, tmp_path, FORWARD)
    time.sleep(0.5)
    c0 = cpu_seconds(net.proc.pid)
    time.sleep(2)
    used = cpu_seconds(net.proc.pid) - c0
    # A spinning thread would use ~2 s; sleeping in poll() almost nothing.
    assert used < 0.3, used
    stats = json.loads(net.cli("stats", "-j").stdout)
    assert stats["threads"][0]["sleeps"] > 0
    # And it still wakes up for traffic.
    assert net.ping(net.h1, net.h2).returncode == 0
    net.stop()


def test_idle_timeout_uses_wall_clock(request, tmp_path):
    net = Net("afpacket", request, tmp_path, FORWARD)
    net.cli("flow", "add", "priority=9,udp,idle_timeout=2,actions=drop")
    net.cli("flow", "add", "priority=9,tcp,hard_timeout=3,actions=drop")
    assert len(net.flows_json()) == 4
    time.sleep(1.5)
    dump = net.cli("flow", "dump").stdout
    assert "idle_timeout=2" in dump and "hard_timeout=3" in dump
    time.sleep(2.5)
    flows = net.flows_json()
    assert not [f for f in flows if "timeout" in f["flow"]]
    assert len(flows) == 2
    net.stop()


def alive(pid):
    """Whether 'pid' runs (a zombie waiting for its reaper does not)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_detach_and_pidfile(request, tmp_path):
    need_root()
    ctl = str(tmp_path / "d.sock")
    pidfile = tmp_path / "d.pid"
    proc = sh(sluice_bin(), "switch", "--detach", "--pidfile", str(pidfile),
              "--ctl", ctl)
    assert proc.returncode == 0
    pid = int(pidfile.read_text())
    request.addfinalizer(lambda: alive(pid) and os.kill(pid, signal.SIGKILL))
    # The socket answers as soon as the command returned.
    out = sh(sluice_bin(), "port", "show", "-j", "--ctl", ctl).stdout
    assert json.loads(out) == []
    os.kill(pid, signal.SIGTERM)
    for _ in range(100):
        if not alive(pid):
            break
        time.sleep(0.05)
    assert not alive(pid)
    assert not os.path.exists(ctl)
    assert not pidfile.exists()


def test_prog_map_and_nf_commands(request, tmp_path, monkeypatch):
    fp = "/etc/p0f/p0f.fp"
    if not os.path.exists(fp):
        pytest.skip("%s not installed (Debian package p0f)" % fp)
    net = Net("afpacket", request, tmp_path, FORWARD)
    # Relative file names are resolved by the client, not the switch.
    monkeypatch.chdir(os.path.join(build_root(), "progs"))
    net.cli("prog", "load", "p0", "p0f.o")
    monkeypatch.chdir(os.path.dirname(fp))
    net.cli("nf", "p0f", "load", "p0", "p0f.fp")
    sigs = json.loads(net.cli("map", "dump", "p0", "p0f_sigs", "-j").stdout)
    assert len(sigs) > 10
    progs = json.loads(net.cli("prog", "show", "-j").stdout)
    assert [p["name"] for p in progs] == ["p0"]
    proc = net.cli("map", "lookup", "p0", "p0f_sigs", "00", check=False)
    assert proc.returncode == 1 and "bytes" in proc.stderr
    net.cli("prog", "unload", "p0")
    assert json.loads(net.cli("prog", "show", "-j").stdout) == []
    net.stop()
