"""Input classes in words (issue 8): `sluice contract` describes each class
of a program in a tenant's words (src/contract/describe.c) next to the raw
branch conditions it keeps.

Checked on the firewall, the NAT and the router:
  - every class has both a "words" and a "description" (raw conditions)
    key in -j output, and the text output prints the words on the class
    line and the raw conditions on an indented "conditions:" line;
  - the words agree with the raw conditions of the same class (a class
    whose conditions say nw_proto=6 says TCP, in_port=nat_cfg+0 says
    "from WAN port" once BTF names the field, ...);
  - some classes say what the program does: the NAT translates TCP and
    UDP from its WAN port to its external address and opens flows from
    the LAN side until its flow table is full; the firewall opens flows
    from its inside port; the router drops expiring TTLs and forwards on
    a route it finds."""

import json
import os
import re

import pytest

from sluicetest import build_root, run_sluice


def prog(name):
    path = os.path.join(build_root(), "progs", name + ".o")
    if not os.path.exists(path):
        pytest.fail("%s not built (build sluice first)" % path)
    return path


_cache = {}


def classes(name):
    """The classes of progs/NAME.o from `sluice contract -j`."""
    if name not in _cache:
        res = run_sluice(["contract", prog(name), "-j"], timeout=900)
        assert res.returncode == 0, res.stderr
        progs = json.loads(res.stdout)
        assert len(progs) == 1
        _cache[name] = progs[0]["classes"]
    return _cache[name]


def conds(c):
    return c["description"].split(", ")


# Raw condition -> what the words must then say.
AGREE = [
    ("dl_type=0x800", "IPv4"),
    ("nw_proto=6", "TCP"),
    ("nw_proto=17", "UDP"),
    ("vlan_tpid=0x8100", "VLAN"),
    ("ip_frag&0x1fff!=0", "fragment"),
    ("nw_ttl<=1", "TTL expiring"),
    ("tcp_flags&0x12=2", "TCP SYN"),
    ("tcp_flags&0x12=18", "SYN+ACK"),
    ("tcp_flags&0x4!=0", "RST"),
    ("in_port=1", "from port 1"),
    ("in_port!=1", "not from port 1"),
    ("in_port=nat_cfg+0", "from WAN port"),
    ("in_port!=nat_cfg+0", "not from WAN port"),
    ("nw_dst=nat_cfg+4", "to external IP"),
]


@pytest.mark.parametrize("name", ["firewall", "nat", "router"])
def test_words_agree_with_conditions(name):
    cls = classes(name)
    assert cls
    checked = 0
    for c in cls:
        words = c["words"]
        assert words and words == words.strip(), c
        # The raw conditions are kept as before.
        assert "words" not in c["description"]
        for cond, say in AGREE:
            if cond in conds(c):
                assert say in words, (name, c["class"], cond, words)
                checked += 1
        m = re.match(r"len<=(\d+)$", conds(c)[0])
        if m:
            assert "shorter than %d bytes" % (int(m.group(1)) + 1) in words
        # Call outcomes in words, with the map's own name where no better
        # word fits.
        for call in c["calls"]:
            if call.startswith("map_update_elem(nat_flows)") and \
                    call.endswith("[full]"):
                assert "nat_flows full" in words, (c["class"], words)
            if call == "map_lookup_elem(rt_routes) miss":
                assert "no route" in words, (c["class"], words)
            if call == "map_lookup_elem(fw_conns) miss":
                assert "flow unknown" in words, (c["class"], words)
    assert checked > len(cls) // 2


def test_nat_words():
    words = [c["words"] for c in classes("nat")]
    # WAN side: TCP and UDP to the external address.
    for proto in ("TCP", "UDP"):
        assert any(w.startswith("IPv4 %s," % proto) and "from WAN port" in w
                   and "to external IP" in w and "flow known" in w
                   for w in words), proto
    # LAN side: a new flow, or none because the table is full.
    lan = [w for w in words if "not from WAN port" in w]
    assert any("flow unknown" in w and "new flow" in w for w in lan)
    assert any("flow unknown" in w and "nat_flows full" in w for w in lan)
    # Dropped before any lookup: unconfigured, fragments, short packets.
    assert "nat_cfg.capacity=0" in words
    assert any(w.startswith("IPv4 fragment") for w in words)
    assert any(w.startswith("IPv4, shorter than 34 bytes") for w in words)


def test_firewall_words():
    words = [c["words"] for c in classes("firewall")]
    assert any("TCP SYN" in w and "from port 1" in w and "new flow" in w
               for w in words)
    assert any("UDP" in w and "not from port 1" in w and "flow unknown" in w
               for w in words)
    assert any("fw_conns full" in w for w in words)
    # The time test of the idle timeout, with the BTF field name.
    assert any("now > fw_conns.last_seen_ns" in w for w in words)


def test_router_words():
    words = [c["words"] for c in classes("router")]
    assert "IPv4, TTL expiring" in words
    assert any(w.startswith("IPv4") and "route found" in w for w in words)
    assert any(w.startswith("IPv4") and "no route" in w for w in words)
    assert any(w.startswith("VLAN IPv4") for w in words)


def test_text_output():
    res = run_sluice(["contract", prog("router")], timeout=900)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    heads = [i for i, l in enumerate(lines) if l.startswith("class ")]
    assert heads
    for i in heads:
        assert lines[i + 1].startswith("  conditions: "), lines[i:i + 2]
    by_class = {int(lines[i].split(":")[0].split()[1]):
                (lines[i].split(": ", 1)[1],
                 lines[i + 1].split(": ", 1)[1]) for i in heads}
    for c in classes("router"):
        assert by_class[c["class"]] == (c["words"], c["description"])
