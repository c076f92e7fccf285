"""The test helpers' own pcap code, checked against independent writers
(struct by hand, big-endian) and readers (scapy), so that a bug in them
cannot hide a bug in sluice."""

import struct

from scapy.utils import rdpcap

from packets import tcp4, udp4
from sluicetest import T0_NS, pcap_read, pcap_write


def test_pcap_round_trip_usec_and_nsec(tmp_path):
    frames = [(T0_NS + 123_456_000, bytes(tcp4())),
              (T0_NS + 2_000_001_000, bytes(udp4()))]
    for nsec in (False, True):
        path = str(tmp_path / ("x%d.pcap" % nsec))
        if nsec:
            frames = [(t + 789, d) for t, d in frames]
        pcap_write(path, frames, nsec=nsec)
        assert pcap_read(path) == frames
        # scapy reads the same packets (at its float precision).
        got = rdpcap(path)
        assert [bytes(p) for p in got] == [d for _, d in frames]
        assert abs(float(got[1].time) - frames[1][0] / 1e9) < 1e-6


def test_pcap_read_big_endian_nsec(tmp_path):
    data = bytes(udp4())
    raw = struct.pack(">IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, 1)
    raw += struct.pack(">IIII", 1_700_000_001, 999_999_999, len(data),
                       len(data)) + data
    path = tmp_path / "be.pcap"
    path.write_bytes(raw)
    assert pcap_read(str(path)) == [(1_700_000_001_999_999_999, data)]


def test_topology_host_reaches_its_outer_end(topo):
    ns, outer = topo.host("a", "198.18.5.2/24")
    topo.ip("addr", "add", "198.18.5.1/24", "dev", outer)
    r = topo.run(ns, "ping", "-c", "1", "-W", "2", "198.18.5.1",
                 check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    topo.close()
    assert ns not in topo.ip("netns", "list").stdout
