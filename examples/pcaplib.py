"""What the examples' make-pcaps.py generators share: the fixed start time,
the output folder and a plain pcap writer (no scapy, so the bytes do not
change with scapy's version)."""

import os
import struct
import sys

T0_US = 1_704_067_200 * 10**6          # 2024-01-01T00:00:00Z.


def out_dir(script):
    """The folder to write into: argv[1], else the generator's own."""
    if len(sys.argv) > 1:
        return sys.argv[1]
    return os.path.dirname(os.path.abspath(script))


def write_pcap(path, frames):
    """frames: list of (timestamp in us, bytes), written in that order;
    usec pcap, Ethernet."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for ts, data in frames:
            sec, usec = divmod(ts, 10**6)
            f.write(struct.pack("<IIII", sec, usec, len(data), len(data)))
            f.write(data)
