"""Helpers for the system tests: they drive the real `sluice` binary.

A test builds a Switch in a temporary directory: ports whose input pcaps hold
packets crafted with scapy, and configuration lines.  Switch.run() writes the
configuration, runs `sluice run CONFIG -j` and reads back every output pcap,
so a test can compare what came out of each port, packet by packet (bytes
and timestamps), with packets it computed itself.

The pcap files are read and written here with a few lines of struct code
rather than with scapy, so that timestamps are exact integers of
nanoseconds (scapy keeps them as floats) and both microsecond and
nanosecond files are handled the same way.
"""

import json
import os
import shutil
import struct
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))

PCAP_MAGIC_USEC = 0xA1B2C3D4
PCAP_MAGIC_NSEC = 0xA1B23C4D
LINKTYPE_ETHERNET = 1

# Packet time used by default: a fixed epoch, packets 1 ms apart.
T0_NS = 1_700_000_000 * 10**9
STEP_NS = 1_000_000


def build_root():
    """The build directory under test: $SLUICE_BUILD_ROOT (scripts/test sets
    it) or build/ in the source tree.  Build products such as progs/*.o are
    found under it."""
    return os.environ.get("SLUICE_BUILD_ROOT", os.path.join(ROOT, "build"))


def sluice_bin():
    """Path of the binary under test: $SLUICE_BIN or the one in
    build_root()."""
    return os.environ.get("SLUICE_BIN",
                          os.path.join(build_root(), "src", "cli", "sluice"))


def need_root(reason="needs root for network namespaces"):
    """Skips the calling test, visibly, unless it runs as root with the
    tools for namespaces at hand.  For live-port tests."""
    if os.geteuid() != 0:
        pytest.skip(reason + " (not running as root)")
    if shutil.which("ip") is None:
        pytest.skip(reason + " (iproute2 'ip' not installed)")


def run_sluice(args, cwd=None, timeout=60):
    """Runs sluice with 'args' and returns the CompletedProcess (text)."""
    exe = sluice_bin()
    if not os.access(exe, os.X_OK):
        pytest.fail("sluice binary not found at %s (build it, or set "
                    "SLUICE_BIN)" % exe)
    return subprocess.run([exe] + [str(a) for a in args], cwd=cwd,
                          stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=timeout)


# --- pcap files --------------------------------------------------------

def pcap_write(path, frames, nsec=False, snaplen=65535):
    """Writes 'frames', a list of (ts_ns, bytes), as a little-endian pcap
    with microsecond or nanosecond timestamps.  ts_ns must be exactly
    representable at the chosen precision."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII",
                            PCAP_MAGIC_NSEC if nsec else PCAP_MAGIC_USEC,
                            2, 4, 0, 0, snaplen, LINKTYPE_ETHERNET))
        for ts_ns, data in frames:
            data = bytes(data)
            sec, frac = divmod(ts_ns, 10**9)
            if not nsec:
                assert frac % 1000 == 0, "usec pcap cannot hold %d" % ts_ns
                frac //= 1000
            f.write(struct.pack("<IIII", sec, frac, len(data), len(data)))
            f.write(data)


def pcap_read(path):
    """Reads a pcap (either byte order, usec or nsec) into a list of
    (ts_ns, bytes).  Fails the test on a malformed file."""
    with open(path, "rb") as f:
        raw = f.read()
    assert len(raw) >= 24, "%s: shorter than a pcap header" % path
    for endian in "<>":
        magic, = struct.unpack(endian + "I", raw[:4])
        if magic in (PCAP_MAGIC_USEC, PCAP_MAGIC_NSEC):
            break
    else:
        pytest.fail("%s: not a pcap file (magic %r)" % (path, raw[:4]))
    scale = 1 if magic == PCAP_MAGIC_NSEC else 1000
    linktype, = struct.unpack(endian + "I", raw[20:24])
    assert linktype == LINKTYPE_ETHERNET, "%s: linktype %d" % (path,
                                                               linktype)
    frames = []
    ofs = 24
    while ofs < len(raw):
        assert ofs + 16 <= len(raw), "%s: truncated record header" % path
        sec, frac, caplen, _wirelen = struct.unpack(endian + "IIII",
                                                    raw[ofs:ofs + 16])
        ofs += 16
        assert ofs + caplen <= len(raw), "%s: truncated record" % path
        frames.append((sec * 10**9 + frac * scale, raw[ofs:ofs + caplen]))
        ofs += caplen
    return frames


def pcap_packets_if_any(path):
    """Frames of 'path', or [] if it does not exist or is still empty (an
    output file created but never written)."""
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        return []
    return pcap_read(path)


def pcap_is_nsec(path):
    with open(path, "rb") as f:
        head = f.read(4)
    return head in (struct.pack("<I", PCAP_MAGIC_NSEC),
                    struct.pack(">I", PCAP_MAGIC_NSEC))


def stamp(pkts, start_ns=T0_NS, step_ns=STEP_NS):
    """Gives scapy packets (or bytes) consecutive timestamps: a list of
    (ts_ns, bytes)."""
    return [(start_ns + i * step_ns, bytes(p)) for i, p in enumerate(pkts)]


def describe(data):
    """One readable line per layer of a frame, for assertion messages."""
    from scapy.layers.l2 import Ether
    try:
        return Ether(data).show2(dump=True)
    except Exception as e:  # Malformed frames are worth showing as hex.
        return "undecodable (%s): %s" % (e, data.hex())


def assert_frames(actual, expected, what="output"):
    """Compares two lists of (ts_ns, bytes) exactly, explaining the first
    difference with both packets decoded."""
    for i, (a, e) in enumerate(zip(actual, expected)):
        if a[1] != e[1]:
            pytest.fail("%s packet %d differs:\n--- got %s\n%s\n--- expected"
                        " %s\n%s" % (what, i, a[1].hex(), describe(a[1]),
                                     e[1].hex(), describe(e[1])))
        if a[0] != e[0]:
            pytest.fail("%s packet %d: timestamp %d ns, expected %d ns" %
                        (what, i, a[0], e[0]))
    if len(actual) != len(expected):
        extra = actual[len(expected):] or expected[len(actual):]
        pytest.fail("%s: %d packets, expected %d; first unmatched:\n%s" %
                    (what, len(actual), len(expected),
                     describe(extra[0][1])))


def nonzero(counters):
    """The non-zero entries of a {REASON: N} object from `run -j` (zero
    counters may be listed or left out)."""
    return {k: v for k, v in (counters or {}).items() if v}


def frozen(pkt):
    """Builds 'pkt' and parses it back, so that lengths and checksums are
    fixed fields: copies of it can then be edited field by field."""
    return pkt.__class__(bytes(pkt))


# --- the switch under test --------------------------------------------

class Result:
    """What one run produced: the process, its JSON statistics (if -j),
    and the frames written by each transmitting port."""

    def __init__(self, proc, stats, outputs):
        self.proc = proc
        self.stats = stats
        self.out = outputs

    def port_stats(self, number):
        for p in self.stats["ports"]:
            if p["port"] == number:
                return p
        pytest.fail("no statistics for port %d in %r" % (number,
                                                        self.stats))


class Switch:
    """A configuration under construction in 'tmp_path'."""

    def __init__(self, tmp_path):
        self.dir = str(tmp_path)
        self.lines = []
        self.tx_ports = {}
        self.config = os.path.join(self.dir, "sluice.conf")

    def path(self, name):
        return os.path.join(self.dir, name)

    def port(self, number, rx=None, tx=True, nsec=False):
        """Adds port 'number'; 'rx' is a list of (ts_ns, bytes) or of scapy
        packets (stamped 1 ms apart) written to its input pcap."""
        parts = []
        if rx is not None:
            if rx and not isinstance(rx[0], tuple):
                rx = stamp(rx)
            rx_file = self.path("in%d.pcap" % number)
            pcap_write(rx_file, rx, nsec=nsec)
            parts.append("rx=" + rx_file)
        if tx:
            tx_file = self.path("out%d.pcap" % number)
            self.tx_ports[number] = tx_file
            parts.append("tx=" + tx_file)
        self.lines.append("port add %d pcap:%s" % (number, ",".join(parts)))
        return self

    def flow(self, *flows):
        for f in flows:
            self.lines.append("flow add " + f)
        return self

    def line(self, *lines):
        self.lines.extend(lines)
        return self

    def write(self):
        with open(self.config, "w") as f:
            f.write("# Written by the sluice system tests.\n")
            f.write("\n".join(self.lines) + "\n")
        return self.config

    def run(self, check=True):
        """Runs `sluice run CONFIG -j`.  With 'check', a non-zero exit
        fails the test (with sluice's stderr)."""
        self.write()
        proc = run_sluice(["run", self.config, "-j"], cwd=self.dir)
        if not check:
            return Result(proc, None, {})
        if proc.returncode != 0:
            pytest.fail("sluice run exited %d\nconfig:\n%s\nstderr:\n%s" %
                        (proc.returncode, "\n".join(self.lines),
                         proc.stderr))
        try:
            stats = json.loads(proc.stdout)
        except ValueError as e:
            pytest.fail("sluice run -j printed invalid JSON (%s):\n%s" %
                        (e, proc.stdout))
        outputs = {n: pcap_read(f) for n, f in self.tx_ports.items()}
        return Result(proc, stats, outputs)


# --- live topologies (network namespaces) -------------------------------

class Topology:
    """Hosts in network namespaces, each joined to the test's own namespace
    by a veth pair, in the style of xdp-tools' lib/testing: a test attaches
    sluice's live ports to the outer ends and runs traffic between hosts.

    Names carry the process id so that parallel runs do not collide;
    close() (the fixture calls it) removes everything, even after a
    failure.  Give hosts addresses from 198.18.0.0/15 (RFC 2544's benchmark
    range): documentation ranges such as 192.0.2.0/24 can be the test
    machine's own network."""

    def __init__(self):
        self.tag = "sl%d" % (os.getpid() % 100000)
        self.namespaces = []
        self.links = []

    @staticmethod
    def ip(*args, check=True):
        return subprocess.run(["ip"] + list(args), capture_output=True,
                              text=True, check=check,
                              stdin=subprocess.DEVNULL)

    def host(self, name, addr, mac=None):
        """Creates namespace TAG-NAME holding one end of a veth pair named
        'eth0' with address 'addr' (CIDR), up; returns (namespace, outer
        interface name), the outer end up and without an address."""
        ns = "%s-%s" % (self.tag, name)
        # Interface names must fit in 15 bytes: TAG, "v", a counter.
        outer = "%sv%d" % (self.tag, len(self.links))
        inner = outer + "p"
        self.ip("netns", "add", ns)
        self.namespaces.append(ns)
        self.ip("link", "add", outer, "type", "veth", "peer", "name", inner)
        self.links.append(outer)
        self.ip("link", "set", inner, "netns", ns)
        self.ip("-n", ns, "link", "set", inner, "name", "eth0")
        if mac:
            self.ip("-n", ns, "link", "set", "eth0", "address", mac)
        self.ip("-n", ns, "addr", "add", addr, "dev", "eth0")
        self.ip("-n", ns, "link", "set", "eth0", "up")
        self.ip("-n", ns, "link", "set", "lo", "up")
        self.ip("link", "set", outer, "up")
        return ns, outer

    def run(self, ns, *cmd, timeout=30, check=True):
        """Runs 'cmd' inside namespace 'ns'."""
        return subprocess.run(["ip", "netns", "exec", ns] + list(cmd),
                              capture_output=True, text=True, check=check,
                              timeout=timeout, stdin=subprocess.DEVNULL)

    def close(self):
        for link in self.links:
            self.ip("link", "del", link, check=False)
        for ns in self.namespaces:
            self.ip("netns", "del", ns, check=False)
        self.links = []
        self.namespaces = []
