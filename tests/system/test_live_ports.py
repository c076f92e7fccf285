"""System tests for the live port types: afpacket, afxdp and tap.

Each test builds its own network namespaces: two hosts, h1 and h2, and a
switch namespace sw where the test-only forwarder `portfwd` (built from
tests/system/portfwd.c) opens two live ports by spec and forwards every
frame between them, using the real port code.  For afpacket and afxdp the
hosts are linked to sw by veth pairs (h1 <-> s1, h2 <-> s2); for tap,
portfwd creates two TAP devices in sw and the test moves them into the
hosts.  The kernel's default offloads stay on (checked), so TCP arrives as
checksum-partial frames and GSO super-frames: the ports must complete and
segment them for the transfers to pass.

Namespaces get names unique to the test run and are deleted by finalizers
whatever happens.  Tests skip, with the reason printed, when not root.
"""

import os
import re
import signal
import struct
import subprocess
import time

import pytest

from sluicetest import ROOT, build_root, need_root

NETTOOL = os.path.join(ROOT, "tests", "system", "netns", "nettool.py")
PY = "/usr/bin/python3"
KINDS = ["afpacket", "afxdp", "tap"]


def portfwd_bin():
    path = os.path.join(build_root(), "src", "port", "portfwd")
    if not os.access(path, os.X_OK):
        pytest.fail("portfwd not found at %s (build the tree first)" % path)
    return path


def sh(*args, check=True, timeout=30):
    """Runs a command; returns its CompletedProcess (text)."""
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


class Topo:
    """Namespaces h1, h2, sw and a running portfwd between two ports."""

    def __init__(self, kind, request):
        self.kind = kind
        tag = "slp%d%s" % (os.getpid() % 100000, kind[:2])
        self.h1, self.h2, self.sw = tag + "h1", tag + "h2", tag + "sw"
        self.proc = None
        self.stats = {}
        request.addfinalizer(self.destroy)
        for ns in (self.h1, self.h2, self.sw):
            sh("ip", "netns", "del", ns, check=False)
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        if kind == "tap":
            self.start("tap:t1", "tap:t2")
            self.host_if = {self.h1: "t1", self.h2: "t2"}
            sh("ip", "-n", self.sw, "link", "set", "t1", "netns", self.h1)
            sh("ip", "-n", self.sw, "link", "set", "t2", "netns", self.h2)
        else:
            for h, s, peer in ((self.h1, "s1", "h1"), (self.h2, "s2", "h2")):
                sh("ip", "-n", self.sw, "link", "add", "name", s, "type",
                   "veth", "peer", "name", peer, "netns", h)
                sh("ip", "-n", self.sw, "link", "set", s, "up")
            self.host_if = {self.h1: "h1", self.h2: "h2"}
        for i, h in enumerate((self.h1, self.h2), start=1):
            dev = self.host_if[h]
            sh("ip", "-n", h, "addr", "add", "10.200.7.%d/24" % i, "dev",
               dev)
            sh("ip", "-n", h, "addr", "add", "fd00:200:7::%d/64" % i, "dev",
               dev, "nodad")
            sh("ip", "-n", h, "link", "set", dev, "up")
        if kind != "tap":
            self.start("%s:s1" % kind, "%s:s2" % kind)

    def start(self, spec1, spec2):
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", self.sw, portfwd_bin(), "--timeout",
             "120", spec1, spec2], stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            err = self.proc.stderr.read()
            self.proc.wait()
            if "unknown port type" in err:
                pytest.skip("%s ports not built here: %s" % (self.kind, err))
            raise AssertionError("portfwd did not start: %r %s" % (line,
                                                                   err))

    def stop(self):
        """Stops portfwd and returns its per-port counters."""
        if self.proc is None:
            return self.stats
        self.proc.send_signal(signal.SIGTERM)
        out, err = self.proc.communicate(timeout=20)
        code = self.proc.returncode
        self.proc = None
        for m in re.finditer(r"^port (\d+) (.*)$", out, re.M):
            self.stats[int(m.group(1))] = {
                k: int(v) for k, v in
                (kv.split("=") for kv in m.group(2).split())}
        assert code == 0, "portfwd exited with %d: %s" % (code, err)
        return self.stats

    def destroy(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None
        for ns in (self.h1, self.h2, self.sw):
            sh("ip", "netns", "del", ns, check=False)

    def addr(self, host, v6=False, net=7):
        i = 1 if host == self.h1 else 2
        return ("fd00:200:%d::%d" if v6 else "10.200.%d.%d") % (net, i)

    def ping(self, src, dst, v6=False, count=3, net=7):
        return in_ns(src, PY, NETTOOL, "ping", self.addr(dst, v6, net),
                     count)

    def transfer(self, src, dst, nbytes, v6=False, port=5201, net=7):
        server = subprocess.Popen(
            ["ip", "netns", "exec", dst, PY, NETTOOL, "serve", str(port)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert server.stdout.readline().strip() == "listening"
            proc = in_ns(src, PY, NETTOOL, "send", self.addr(dst, v6, net),
                         port, nbytes, check=False, timeout=60)
            assert proc.returncode == 0, proc.stdout + proc.stderr
            assert proc.stdout.startswith("ok %d" % nbytes)
            server.wait(timeout=10)
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()


def offloads(ns, dev):
    """(tx checksumming, TCP segmentation) of 'dev' via the legacy ethtool
    ioctls (the machine has no ethtool binary)."""
    code = r"""
import fcntl, socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
out = []
for cmd in (0x16, 0x1e):  # ETHTOOL_GTXCSUM, ETHTOOL_GTSO
    buf = bytearray(struct.pack("II", cmd, 0))
    ifr = struct.pack("16sP16x", sys.argv[1].encode(),
                      __import__("ctypes").addressof(
                          __import__("ctypes").c_char.from_buffer(buf)))
    fcntl.ioctl(s, 0x8946, ifr)
    out.append(struct.unpack("II", bytes(buf))[1])
print(*out)
"""
    proc = in_ns(ns, PY, "-c", code, dev)
    return tuple(int(x) for x in proc.stdout.split())


@pytest.fixture(params=KINDS)
def topo(request):
    need_root("live ports need root and network namespaces")
    return Topo(request.param, request)


def test_ping_both_ways(topo):
    for src, dst in ((topo.h1, topo.h2), (topo.h2, topo.h1)):
        topo.ping(src, dst)
        topo.ping(src, dst, v6=True)
    stats = topo.stop()
    for n in (1, 2):
        assert stats[n]["rx_packets"] >= 6, stats
        assert stats[n]["tx_packets"] >= 6, stats
        assert stats[n]["errors"] == 0, stats


def test_tcp_with_default_offloads(topo):
    # The hosts' sides offer checksum offload and TSO, so the switch's
    # ports receive checksum-partial frames and GSO super-frames.  The
    # kernel turns TSO off on the peer of a veth with an XDP program (see
    # port_afxdp.c), so AF_XDP gets only the former.
    for h in (topo.h1, topo.h2):
        want = (1, 0) if topo.kind == "afxdp" else (1, 1)
        assert offloads(h, topo.host_if[h]) == want
    mb = 1 << 20
    topo.transfer(topo.h1, topo.h2, 8 * mb)
    topo.transfer(topo.h2, topo.h1, 8 * mb, port=5202)
    topo.transfer(topo.h1, topo.h2, 4 * mb, v6=True, port=5203)
    stats = topo.stop()
    for n in (1, 2):
        assert stats[n]["errors"] == 0, stats
        # Whatever arrived as super-frames left as MTU-sized frames.
        assert stats[n]["tx_bytes"] <= stats[n]["tx_packets"] * 1514, stats
    assert stats[2]["tx_bytes"] > 12 * mb, stats


def test_vlan_tags_survive(topo):
    # A tagged frame entering a veth has its tag moved into metadata
    # (VLAN acceleration) before AF_PACKET sees it; the port must put it
    # back so the frame leaves tagged.  h2's receiver reads the tag from
    # the frame or from PACKET_AUXDATA, wherever its kernel put it.
    rx = subprocess.Popen(
        ["ip", "netns", "exec", topo.h2, PY, NETTOOL, "vlan-recv",
         topo.host_if[topo.h2], "3"], stdout=subprocess.PIPE, text=True)
    try:
        assert rx.stdout.readline().strip() == "listening"
        in_ns(topo.h1, PY, NETTOOL, "vlan-send", topo.host_if[topo.h1],
              100, 5)
        out, _ = rx.communicate(timeout=10)
    finally:
        if rx.poll() is None:
            rx.kill()
            rx.wait()
    assert out.split("\n")[:-1] == ["tagged 100"] * 5, out


def test_oversize_frames_are_refused_not_stalling(request):
    need_root("live ports need root and network namespaces")
    topo = Topo("afpacket", request)
    # h1's link takes 9000-byte frames, h2's only 1500: a big datagram
    # from h1 cannot leave through s2.  It must be counted as an error
    # and must not block the transmit ring for the frames after it.
    for ns, dev in ((topo.h1, "h1"), (topo.sw, "s1")):
        sh("ip", "-n", ns, "link", "set", dev, "mtu", "9000")
    code = ("import socket; s = socket.socket(socket.AF_INET, "
            "socket.SOCK_DGRAM); s.sendto(b'x' * 8000, ('10.200.7.2', 9))")
    in_ns(topo.h1, PY, "-c", code)
    topo.ping(topo.h1, topo.h2, count=2)
    stats = topo.stop()
    assert stats[2]["errors"] >= 1, stats
    assert stats[2]["tx_packets"] >= 2, stats


def test_close_releases_everything(topo):
    topo.ping(topo.h1, topo.h2, count=1)
    if topo.kind != "tap":
        show = in_ns(topo.sw, "ip", "-d", "link", "show", "s1").stdout
        assert "promiscuity 1" in show, show
        if topo.kind == "afxdp":
            assert "xdp" in show.split("\n")[0], show
    topo.stop()
    if topo.kind == "tap":
        # TAP devices the port created go away with it.
        for h in (topo.h1, topo.h2):
            proc = sh("ip", "-n", h, "link", "show", topo.host_if[h],
                      check=False)
            assert proc.returncode != 0, proc.stdout
    else:
        show = in_ns(topo.sw, "ip", "-d", "link", "show", "s1").stdout
        assert "promiscuity 0" in show, show
        assert "xdp" not in show.split("\n")[0], show
        assert "prog/xdp" not in show, show


@pytest.mark.parametrize("spec,col,msg", [
    ("afpacket:", 10, "expected an interface name"),
    ("afpacket:a/b", 11, "character '/' not allowed"),
    ("afpacket:abcdefghijklmnopq", 25, "longer than 15 bytes"),
    ("tap:t 1", 6, "not allowed in an interface name"),
    ("afxdp:s1,queue=x", 16, "expected a decimal number"),
    ("afxdp:s1,queue=70000", 16, "out of range 0..65535"),
    ("afxdp:s1,mode=zc", 10, "unknown afxdp port option 'mode'"),
    ("afxdp:s1,", 10, "trailing ','"),
])
def test_bad_specs_name_the_column(spec, col, msg):
    proc = sh(portfwd_bin(), "--timeout", "1", spec, "tap:unused",
              check=False)
    if "unknown port type" in proc.stderr:
        pytest.skip("afxdp ports not built here")
    assert proc.returncode == 1
    assert "column %d:" % col in proc.stderr, proc.stderr
    assert msg in proc.stderr, proc.stderr


def test_missing_interface_is_a_clear_error():
    need_root("opening live ports needs root")
    for kind in ("afpacket", "afxdp"):
        proc = sh(portfwd_bin(), "--timeout", "1",
                  "%s:slpnosuchif0" % kind, "%s:slpnosuchif1" % kind,
                  check=False)
        if "unknown port type" in proc.stderr:
            continue
        assert proc.returncode == 1
        assert "slpnosuchif0: no such interface" in proc.stderr, proc.stderr
    proc = sh(portfwd_bin(), "--timeout", "1", "afpacket:lo", "tap:unused",
              check=False)
    assert proc.returncode == 1
    assert "afpacket:lo: not an Ethernet interface" in proc.stderr, \
        proc.stderr
