"""Random rule sets against a reference model, end to end.

Each case generates, from a fixed seed, a few hundred rules with
overlapping CIDR prefixes, masked ports, protocols and VLANs at distinct
priorities, and a few hundred packets drawn from small address and port
pools so that many rules overlap on each packet.  The expected output of
every port is computed by a plain linear scan over the rules in Python;
sluice must agree packet for packet."""

import ipaddress
import random

import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import Dot1Q

from packets import PAYLOAD, arp, eth
from sluicetest import assert_frames, frozen, nonzero, stamp

OUT_PORTS = (2, 3, 4)


class Rule:
    def __init__(self, rng, priority, port):
        self.priority = priority              # Set by the caller.
        self.port = port
        self.proto = rng.choice(["any", "ip", "tcp", "udp"])
        # No catch-all: a rule without a protocol matches a VLAN.
        self.vlan = rng.choice([None, None, 10, 20] if self.proto != "any"
                               else [10, 20])
        self.src = self.dst = self.tp_dst = None
        if self.proto != "any":
            if rng.random() < 0.6:
                self.src = rng.choice(["10.0.0.0/8", "10.1.0.0/16",
                                       "10.1.2.0/24", "10.1.2.3/32",
                                       "10.2.0.0/15"])
            if rng.random() < 0.4:
                self.dst = rng.choice(["192.168.0.0/16", "192.168.1.0/24",
                                       "192.168.1.1/32"])
        if self.proto in ("tcp", "udp") and rng.random() < 0.6:
            self.tp_dst = rng.choice([(80, 0xffff), (443, 0xffff),
                                      (0x1200, 0xff00), (0x1230, 0xfff0)])

    def specificity(self):
        return sum(x is not None for x in (self.vlan, self.src, self.dst,
                                           self.tp_dst)) + \
            (self.proto in ("tcp", "udp"))

    def text(self):
        items = ["priority=%d" % self.priority]
        if self.proto != "any":
            items.append(self.proto)
        if self.vlan is not None:
            items.append("dl_vlan=%d" % self.vlan)
        if self.src:
            items.append("nw_src=" + self.src)
        if self.dst:
            items.append("nw_dst=" + self.dst)
        if self.tp_dst:
            v, m = self.tp_dst
            items.append("tp_dst=%d" % v if m == 0xffff
                         else "tp_dst=0x%x/0x%x" % (v, m))
        return ",".join(items) + ",actions=output:%d" % self.port

    def matches(self, p):
        if self.vlan is not None and (Dot1Q not in p or
                                      p[Dot1Q].vlan != self.vlan):
            return False
        if self.proto != "any" and IP not in p:
            return False
        l4 = {"tcp": TCP, "udp": UDP}.get(self.proto)
        if l4 is not None and l4 not in p:
            return False
        for addr, net in ((self.src, "src"), (self.dst, "dst")):
            if addr and ipaddress.ip_address(getattr(p[IP], net)) not in \
                    ipaddress.ip_network(addr):
                return False
        if self.tp_dst:
            v, m = self.tp_dst
            if (p[l4].dport & m) != (v & m):
                return False
        return True


def random_packet(rng):
    if rng.random() < 0.05:
        # Untagged ARP: only a rule with no protocol and no VLAN could take
        # it, and there is none, so these are the table misses.
        return arp()
    src = "10.%d.%d.%d" % (rng.choice([0, 1, 2, 3]), rng.choice([0, 2, 5]),
                           rng.choice([1, 3]))
    dst = "192.168.%d.%d" % (rng.choice([0, 1]), rng.choice([1, 2]))
    vlan = rng.choice([None, 10, 20])
    l2 = eth(vlan=vlan) if vlan is not None else eth()
    dport = rng.choice([80, 443, 0x1234, 0x12ff, 0x1239, 53])
    kind = rng.choice(["tcp", "udp", "icmp"])
    l4 = {"tcp": TCP(sport=999, dport=dport), "udp": UDP(sport=999,
                                                         dport=dport),
          "icmp": ICMP()}[kind]
    return frozen(l2 / IP(src=src, dst=dst) / l4 / PAYLOAD)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_rules_agree_with_linear_scan(sw, seed):
    rng = random.Random(seed)
    # As in real tables, narrower rules tend to have higher priorities; the
    # random part makes overlapping rules of equal width compete.
    rules = [Rule(rng, 0, OUT_PORTS[i % 3]) for i in range(300)]
    prios = rng.sample(range(1, 9000), len(rules))
    for rule, p in zip(rules, prios):
        rule.priority = rule.specificity() * 9000 + p
    pkts = stamp([random_packet(rng) for _ in range(400)])
    sw.port(1, rx=pkts)
    for n in OUT_PORTS:
        sw.port(n)
    sw.flow(*[r.text() for r in rules])
    r = sw.run()

    want = {n: [] for n in OUT_PORTS}
    hits = {x.priority: 0 for x in rules}
    misses = 0
    by_prio = sorted(rules, key=lambda x: -x.priority)
    for ts, data in pkts:
        p = eth().__class__(data)
        best = next((x for x in by_prio if x.matches(p)), None)
        if best is None:
            misses += 1
        else:
            want[best.port].append((ts, data))
            hits[best.priority] += 1
    # The case must be interesting: many different rules win.
    assert sum(1 for n in hits.values() if n) > 20 and misses > 0

    for n in OUT_PORTS:
        assert_frames(r.out[n], want[n], "port %d" % n)
    assert nonzero(r.stats["drops"]) == ({"table_miss": misses}
                                         if misses else {})
    assert {f["priority"]: f["n_packets"] for f in r.stats["flows"]} == hits
