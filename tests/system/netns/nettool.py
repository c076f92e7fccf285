#!/usr/bin/python3
"""Small network tools for the live-port system tests, run inside network
namespaces with `ip netns exec` (the machine has no ping, nc or iperf).

  nettool.py ping ADDR [COUNT]      ICMP/ICMPv6 echo; exit 0 if every
                                    request got its reply within 1 s
  nettool.py serve PORT             TCP server for one connection: reads
                                    until EOF, replies with the byte count
                                    and the SHA-256 of what it read
  nettool.py send ADDR PORT BYTES   TCP client: sends BYTES pseudo-random
                                    bytes, checks the server's count and
                                    digest, prints "ok BYTES SECONDS"
  nettool.py vlan-send DEV VID N    sends N broadcast frames tagged with
                                    VLAN VID (ethertype 0x88b5 inside)
  nettool.py vlan-recv DEV SECS     prints "tagged VID" or "untagged" for
                                    each 0x88b5 frame seen on DEV within
                                    SECS (from the frame or, when the
                                    kernel moved the tag out, PACKET_AUXDATA)
"""
import hashlib
import os
import socket
import struct
import sys
import time


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def ping(addr, count):
    v6 = ":" in addr
    if v6:
        sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW,
                             socket.IPPROTO_ICMPV6)
        req_type, rep_type = 128, 129
    else:
        sock = socket.socket(socket.AF_INET, socket.SOCK_RAW,
                             socket.IPPROTO_ICMP)
        req_type, rep_type = 8, 0
    ident = os.getpid() & 0xffff
    ok = 0
    for seq in range(count):
        payload = b"sluice-live-port-test-%d" % seq
        hdr = struct.pack("!BBHHH", req_type, 0, 0, ident, seq)
        # The kernel fills in the ICMPv6 checksum (it needs the pseudo
        # header); ICMPv4's is ours.
        csum = 0 if v6 else checksum(hdr + payload)
        pkt = struct.pack("!BBHHH", req_type, 0, csum, ident, seq) + payload
        start = time.monotonic()
        sock.sendto(pkt, (addr, 0))
        got = False
        while not got and time.monotonic() - start < 1.0:
            sock.settimeout(max(0.01, 1.0 - (time.monotonic() - start)))
            try:
                data, _ = sock.recvfrom(4096)
            except socket.timeout:
                break
            icmp = data if v6 else data[(data[0] & 0xf) * 4:]
            if len(icmp) < 8:
                continue
            t, _, _, i, s = struct.unpack("!BBHHH", icmp[:8])
            if t == rep_type and i == ident and s == seq \
                    and icmp[8:] == payload:
                got = True
        if got:
            ok += 1
            print("reply from %s seq=%d time=%.2f ms"
                  % (addr, seq, (time.monotonic() - start) * 1000))
        else:
            print("no reply from %s seq=%d" % (addr, seq))
        time.sleep(0.05)
    print("%d/%d replies" % (ok, count))
    return 0 if ok == count else 1


def serve(port):
    family = socket.AF_INET6
    srv = socket.socket(family, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("::", port))
    srv.listen(1)
    print("listening", flush=True)
    conn, _ = srv.accept()
    h = hashlib.sha256()
    n = 0
    while True:
        data = conn.recv(1 << 16)
        if not data:
            break
        h.update(data)
        n += len(data)
    conn.sendall(b"%d %s\n" % (n, h.hexdigest().encode()))
    conn.close()
    return 0


def send(addr, port, nbytes):
    rnd = hashlib.sha256(b"seed")
    h = hashlib.sha256()
    sock = socket.create_connection((addr, port), timeout=20)
    start = time.monotonic()
    left = nbytes
    block = b""
    while left:
        if not block:
            block = b"".join(rnd.digest() for _ in range(2048))
            rnd.update(block[-32:])
        chunk = block[:min(left, len(block))]
        block = block[len(chunk):]
        sock.sendall(chunk)
        h.update(chunk)
        left -= len(chunk)
    sock.shutdown(socket.SHUT_WR)
    reply = b""
    while not reply.endswith(b"\n"):
        data = sock.recv(256)
        if not data:
            break
        reply += data
    secs = time.monotonic() - start
    want = b"%d %s\n" % (nbytes, h.hexdigest().encode())
    if reply != want:
        print("mismatch: got %r want %r" % (reply, want))
        return 1
    print("ok %d %.3f" % (nbytes, secs))
    return 0


ETH_P_ALL = 0x0003
ETH_P_TEST = 0x88B5
SOL_PACKET = 263
PACKET_AUXDATA = 8
TP_STATUS_VLAN_VALID = 1 << 4


def vlan_send(dev, vid, count):
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    sock.bind((dev, 0))
    for i in range(count):
        frame = (b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x01"
                 + struct.pack("!HHH", 0x8100, vid, ETH_P_TEST)
                 + b"sluice-vlan-test-%d" % i).ljust(60, b"\0")
        sock.send(frame)
        time.sleep(0.05)
    return 0


def vlan_recv(dev, secs):
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW,
                         socket.htons(ETH_P_ALL))
    sock.bind((dev, 0))
    sock.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
    print("listening", flush=True)
    end = time.monotonic() + secs
    while time.monotonic() < end:
        sock.settimeout(max(0.01, end - time.monotonic()))
        try:
            data, anc, _, addr = sock.recvmsg(65535, 1024)
        except socket.timeout:
            break
        if addr[2] == socket.PACKET_OUTGOING:
            continue
        aux_vid = None
        for level, kind, cdata in anc:
            if level == SOL_PACKET and kind == PACKET_AUXDATA:
                status = struct.unpack_from("I", cdata, 0)[0]
                tci = struct.unpack_from("H", cdata, 16)[0]
                if status & TP_STATUS_VLAN_VALID:
                    aux_vid = tci & 0xfff
        etype = struct.unpack_from("!H", data, 12)[0]
        if etype == 0x8100 and \
                struct.unpack_from("!H", data, 16)[0] == ETH_P_TEST:
            print("tagged %d" % (struct.unpack_from("!H", data, 14)[0]
                                 & 0xfff), flush=True)
        elif etype == ETH_P_TEST:
            print("tagged %d" % aux_vid if aux_vid is not None
                  else "untagged", flush=True)
    return 0


def main(argv):
    if len(argv) >= 2 and argv[0] == "ping":
        return ping(argv[1], int(argv[2]) if len(argv) > 2 else 3)
    if len(argv) == 2 and argv[0] == "serve":
        return serve(int(argv[1]))
    if len(argv) == 4 and argv[0] == "send":
        return send(argv[1], int(argv[2]), int(argv[3]))
    if len(argv) == 4 and argv[0] == "vlan-send":
        return vlan_send(argv[1], int(argv[2]), int(argv[3]))
    if len(argv) == 3 and argv[0] == "vlan-recv":
        return vlan_recv(argv[1], float(argv[2]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
