"""The command line: configuration errors, `flow dump`, `trace`, `run -j`
statistics and timestamps."""

import json
import os
import re

import pytest

from packets import arp, icmp4, tcp4, tcp6, udp4, udp6
from sluicetest import (ROOT, T0_NS, assert_frames, nonzero, pcap_is_nsec,
                        pcap_packets_if_any, pcap_read, pcap_write,
                        run_sluice, stamp)

# --- configuration errors ------------------------------------------------

# (bad line, tokens the column may point at ("$": just past the end), words
# the reason must hold: at least one of them).
BAD_LINES = [
    ("flow add in_port=1,nw_srx=10.0.0.1,actions=drop", ["nw_srx"],
     ["nw_srx"]),
    ("flow add ip,nw_src=10.0.0.300,actions=drop",
     ["nw_src", "10.0.0.300"], ["10.0.0.300", "nw_src"]),
    ("flow add ip,nw_src=10.0.0.0/33,actions=drop",
     ["nw_src", "10.0.0.0/33"], ["33", "nw_src"]),
    ("flow add tp_dst=80,actions=drop", ["tp_dst"], ["tp_dst"]),
    ("flow add arp,nw_ttl=3,actions=drop", ["nw_ttl"], ["nw_ttl"]),
    ("flow add ipv6,nw_src=10.0.0.1,actions=drop", ["nw_src"], ["nw_src"]),
    ("flow add ip,arp_op=1,actions=drop", ["arp_op"], ["arp_op"]),
    ("flow add dl_vlan=5000,actions=drop", ["dl_vlan", "5000"],
     ["5000", "dl_vlan"]),
    ("flow add priority=70000,actions=drop", ["priority", "70000"],
     ["70000", "priority"]),
    ("flow add ip,actions=outptu:2", ["outptu"], ["outptu"]),
    ("flow add ip,actions=output:2,mod_nw_src:1.2.3", ["mod_nw_src",
                                                        "1.2.3"],
     ["1.2.3", "mod_nw_src"]),
    ("flow add tcp,actions=goto_table:300", ["goto_table", "300"],
     ["300", "goto_table"]),
    ("flow add table=3,actions=goto_table:2", ["goto_table", "2"],
     ["goto_table"]),
    ("flow add actions=goto_table:1,output:2", ["goto_table", "output"],
     ["goto_table"]),
    ("flow add in_port=1", ["in_port", "$"], ["actions"]),
    ("bogus 1 2", ["bogus"], ["bogus"]),
    ("port add 0 pcap:tx=x.pcap", ["0"], ["0", "port"]),
    ("port add 3 nosuch:rx=a.pcap", ["nosuch"], ["nosuch"]),
]


@pytest.mark.parametrize("bad,tokens,words", BAD_LINES,
                         ids=[b[0] for b in BAD_LINES])
def test_bad_line_reports_file_line_column(sw, bad, tokens, words):
    pkts = stamp([tcp4()])
    sw.port(1, rx=pkts).port(2)
    sw.flow("actions=output:2")
    sw.line("", "# a comment, then the bad line", "  " + bad)
    config = sw.write()
    lineno = 1 + len(sw.lines)       # Line 1 is the header comment.
    bad_line = "  " + bad
    proc = run_sluice(["run", config], cwd=sw.dir)
    assert proc.returncode == 1, proc.stderr
    m = re.search(r"^(.*?):(\d+):(\d+): (.*)$", proc.stderr, re.M)
    assert m, "no FILE:LINE:COLUMN: in %r" % proc.stderr
    assert os.path.samefile(os.path.join(sw.dir, m.group(1)), config)
    assert int(m.group(2)) == lineno
    cols = {len(bad_line) + 1 if t == "$" else bad_line.index(t) + 1
            for t in tokens}
    assert int(m.group(3)) in cols, \
        "column %s, expected one of %s: %s" % (m.group(3), sorted(cols),
                                               m.group(0))
    assert any(w in m.group(4) for w in words), m.group(0)
    # Nothing was processed: the output pcap holds no packet.
    out = sw.path("out2.pcap")
    assert pcap_packets_if_any(out) == []
    assert proc.stdout == ""


def test_missing_input_pcap_is_an_error(sw):
    sw.line("port add 1 pcap:rx=%s" % sw.path("nonexistent.pcap"))
    proc = run_sluice(["run", sw.write()])
    assert proc.returncode == 1
    assert "nonexistent.pcap" in proc.stderr


def test_missing_config_is_an_error(tmp_path):
    proc = run_sluice(["run", str(tmp_path / "nope.conf")])
    assert proc.returncode == 1
    assert "nope.conf" in proc.stderr


def test_relative_paths_resolve_against_config_dir(sw, tmp_path):
    pkts = stamp([udp4()])
    pcap_write(sw.path("rel-in.pcap"), pkts)
    sw.line("port add 1 pcap:rx=rel-in.pcap",
            "port add 2 pcap:tx=rel-out.pcap",
            "flow add actions=output:2")
    proc = run_sluice(["run", sw.write()], cwd="/")
    assert proc.returncode == 0, proc.stderr
    assert_frames(pcap_read(sw.path("rel-out.pcap")), pkts)


# --- flow dump ---------------------------------------------------------

DUMP_FLOWS = [
    "table=0,priority=100,in_port=1,tcp,nw_dst=10.0.0.0/24,tp_dst=80,"
    "actions=mod_nw_dst:10.0.1.5,output:2",
    "priority=50,cookie=0x1234,udp6,ipv6_src=2001:db8::/32,"
    "actions=dec_ttl,output:3",
    "table=3,arp,arp_op=1,arp_spa=10.0.0.0/8,actions=flood",
    "dl_vlan=10,dl_vlan_pcp=3,actions=strip_vlan,goto_table:2",
    "priority=7,ip,nw_tos=40,nw_ecn=1,nw_ttl=9,actions=drop",
    "idle_timeout=10,hard_timeout=20,icmp,icmp_type=8,icmp_code=0,"
    "actions=note:aa.bb,output:1",
    "tcp,tcp_flags=0x002/0x012,tp_src=0x400/0xfc00,"
    "actions=set_field:1.2.3.4->nw_src,resubmit(,4),in_port",
    "dl_src=00:00:00:00:00:01/ff:ff:ff:ff:ff:00,dl_dst=00:00:00:00:00:0b,"
    "actions=push_vlan:0x8100,mod_vlan_vid:7,mod_vlan_pcp:2,all",
    "table=2,priority=1,actions=",
    "table=4,udp,nw_frag=not_later,nw_src=10.0.0.1/255.0.0.255,"
    "actions=mod_nw_tos:16,mod_tp_src:1,output:2",
    "table=4,tcp6,ipv6_dst=2001:db8::1,ipv6_label=0x12345,tp_dst=443,"
    "actions=set_field:2001:db8::9->ipv6_src,mod_tp_dst:8443,output:3",
    "table=4,priority=9,vlan_tci=0x1000/0x1000,udp,actions=pop_vlan,"
    "mod_dl_src:00:00:00:00:00:77,mod_dl_dst:00:00:00:00:00:78,output:2",
]


def dump(path, *opts):
    proc = run_sluice(["flow", "dump", path] + list(opts))
    assert proc.returncode == 0, proc.stderr
    return [l for l in proc.stdout.splitlines() if l.strip()]


def flows_config(path, flows, ports=""):
    with open(path, "w") as f:
        f.write(ports)
        for fl in flows:
            f.write("flow add %s\n" % fl)
    return path


def test_flow_dump_round_trip(tmp_path):
    first = dump(flows_config(str(tmp_path / "a.conf"), DUMP_FLOWS),
                 "--no-stats")
    assert len(first) == len(DUMP_FLOWS)
    second = dump(flows_config(str(tmp_path / "b.conf"), first),
                  "--no-stats")
    assert second == first


def test_flow_dump_order_table_then_priority(tmp_path):
    lines = dump(flows_config(str(tmp_path / "a.conf"), DUMP_FLOWS),
                 "--no-stats")
    keys = []
    for l in lines:
        # Like ovs-ofctl --no-stats, table=0 may be left out.
        t = re.search(r"\btable=(\d+)", l)
        p = re.search(r"\bpriority=(\d+)", l)
        assert p, l
        keys.append((int(t.group(1)) if t else 0, -int(p.group(1))))
    assert keys == sorted(keys)


def test_flow_dump_with_stats(tmp_path):
    lines = dump(flows_config(str(tmp_path / "a.conf"), DUMP_FLOWS))
    assert len(lines) == len(DUMP_FLOWS)
    for l in lines:
        assert re.search(r"\bn_packets=0\b", l), l
        assert re.search(r"\bn_bytes=0\b", l), l


def test_flow_dump_shows_effect_of_flow_del(tmp_path):
    cfg = str(tmp_path / "a.conf")
    flows_config(cfg, DUMP_FLOWS)
    with open(cfg, "a") as f:
        f.write("flow del table=4\n")
    lines = dump(cfg, "--no-stats")
    assert len(lines) == len(DUMP_FLOWS) - 3
    assert not any(re.search(r"\btable=4,", l) for l in lines)


def test_dumped_flows_forward_like_the_originals(tmp_path):
    # Same packets through the original flows and through their dump: the
    # output pcaps must be identical.
    pkts = stamp([tcp4(), tcp4(dst="10.0.0.200", dport=80, flags="S"),
                  udp6(), arp(), icmp4(), udp4(),
                  tcp6(dst="2001:db8::1", dport=443, fl=0x12345)])
    pcap_write(str(tmp_path / "in.pcap"), pkts)
    ports = "".join("port add %d pcap:%stx=out%d.pcap\n" %
                    (n, "rx=in.pcap," if n == 1 else "", n)
                    for n in (1, 2, 3))
    outs = []
    flows = DUMP_FLOWS + ["table=0,priority=0,actions=goto_table:4"]
    for name in ("a", "b"):
        d = tmp_path / name
        d.mkdir()
        os.link(str(tmp_path / "in.pcap"), str(d / "in.pcap"))
        cfg = flows_config(str(d / "sluice.conf"), flows, ports)
        if name == "a":
            flows = dump(cfg, "--no-stats")
            assert len(flows) == len(DUMP_FLOWS) + 1
        proc = run_sluice(["run", cfg])
        assert proc.returncode == 0, proc.stderr
        outs.append([pcap_read(str(d / ("out%d.pcap" % n)))
                     for n in (1, 2, 3)])
    assert outs[0] == outs[1]
    assert sum(len(o) for o in outs[0]) > 0


# --- trace --------------------------------------------------------------

TRACE_FLOWS = [
    "table=0,priority=100,in_port=1,tcp,nw_dst=10.0.0.0/24,tp_dst=80,"
    "actions=mod_nw_dst:10.0.1.5,goto_table:1",
    "table=0,priority=1,actions=drop",
    "table=1,priority=10,tcp,actions=dec_ttl,output:2",
]


def trace_setup(sw, pkts=None):
    sw.port(1, rx=pkts or stamp([udp4(), tcp4(dst="10.0.0.7", ttl=1),
                                 tcp4(dst="10.0.0.7")]))
    sw.port(2)
    sw.flow(*TRACE_FLOWS)
    return sw.write()


def test_trace_flow_syntax_text(sw):
    cfg = trace_setup(sw)
    proc = run_sluice(["trace", cfg, "in_port=1,tcp,nw_src=10.0.0.1,"
                       "nw_dst=10.0.0.7,tp_dst=80,nw_ttl=64"])
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    # Table 0's rule, with its priority and match, then table 1's.
    i0 = out.index("priority 100")
    assert "nw_dst=10.0.0.0/24" in out[i0:]
    assert "mod_nw_dst:10.0.1.5" in out[i0:]
    i1 = out.index("priority 10,", i0)
    assert "dec_ttl" in out[i1:]
    final = re.search(r"^Final flow: (.*)$", out, re.M).group(1)
    assert "nw_dst=10.0.1.5" in final and "nw_ttl=63" in final
    dp = re.search(r"^Datapath actions: (.*)$", out, re.M).group(1)
    assert dp.rstrip().endswith("2") and "drop" not in dp


def test_trace_flow_syntax_json(sw):
    cfg = trace_setup(sw)
    proc = run_sluice(["trace", cfg, "in_port=1,tcp,nw_src=10.0.0.1,"
                       "nw_dst=10.0.0.7,tp_dst=80,nw_ttl=64", "-j"])
    assert proc.returncode == 0, proc.stderr
    t = json.loads(proc.stdout)
    assert [(x["table"], x["priority"]) for x in t["tables"]] == [(0, 100),
                                                                 (1, 10)]
    assert "tp_dst=80" in t["tables"][0]["rule"]
    assert any("mod_nw_dst:10.0.1.5" in a for a in t["tables"][0]["actions"])
    assert t["verdict"] == "output"
    assert t["outputs"] == [2]
    assert "nw_dst=10.0.1.5" in t["final_flow"]
    assert t["drop_reason"] is None


def test_trace_miss_and_drop_json(sw):
    cfg = trace_setup(sw)
    proc = run_sluice(["trace", cfg, "in_port=1,tcp,nw_dst=10.0.0.7,"
                       "tp_dst=80,nw_ttl=1", "-j"])
    assert proc.returncode == 0, proc.stderr
    t = json.loads(proc.stdout)
    assert t["verdict"] == "drop"
    assert t["drop_reason"] == "ttl_expired"
    proc = run_sluice(["trace", cfg, "in_port=1,udp", "-j"])
    t = json.loads(proc.stdout)
    assert t["tables"][0]["priority"] == 1
    assert t["drop_reason"] == "action_drop"


@pytest.mark.parametrize("index,verdict,reason", [
    (0, "drop", "action_drop"), (1, "drop", "ttl_expired"),
    (2, "output", None)])
def test_trace_pcap_index(sw, index, verdict, reason):
    cfg = trace_setup(sw)
    proc = run_sluice(["trace", cfg, "--pcap", sw.path("in1.pcap"),
                       "--index", str(index), "-j"])
    assert proc.returncode == 0, proc.stderr
    t = json.loads(proc.stdout)
    assert t["verdict"] == verdict
    assert t["drop_reason"] == reason
    assert "in_port=1" in t["flow"]


def test_trace_pcap_in_port_override(sw):
    cfg = trace_setup(sw)
    proc = run_sluice(["trace", cfg, "--pcap", sw.path("in1.pcap"),
                       "--index", "2", "--in-port", "3", "-j"])
    assert proc.returncode == 0, proc.stderr
    t = json.loads(proc.stdout)
    assert "in_port=3" in t["flow"]
    # The in_port=1 rule no longer matches: the catch-all drop does.
    assert t["tables"][0]["priority"] == 1
    assert t["drop_reason"] == "action_drop"


def test_trace_pcap_text_and_nothing_written(sw):
    cfg = trace_setup(sw)
    proc = run_sluice(["trace", cfg, "--pcap", sw.path("in1.pcap"),
                       "--index", "2"])
    assert proc.returncode == 0, proc.stderr
    assert "nw_dst=10.0.1.5" in re.search(r"^Final flow: (.*)$",
                                          proc.stdout, re.M).group(1)
    assert pcap_packets_if_any(sw.path("out2.pcap")) == []


@pytest.mark.parametrize("args", [
    ["in_port=1,tcp,nw_srx=1"], ["--pcap", "in1.pcap", "--index", "9"],
    ["--pcap", "missing.pcap"]])
def test_trace_bad_packet_argument(sw, args):
    cfg = trace_setup(sw)
    args = [sw.path(a) if a.endswith(".pcap") else a for a in args]
    proc = run_sluice(["trace", cfg] + args)
    assert proc.returncode != 0
    assert proc.stderr.strip()


# --- run statistics -----------------------------------------------------

def test_run_json_statistics(sw):
    a = stamp([tcp4(), tcp4(ttl=1), udp4(), arp()])
    b = stamp([icmp4()], start_ns=a[-1][0] + 1_000_000)
    sw.port(1, rx=a).port(2, rx=b).port(3)
    sw.flow("priority=30,tcp,actions=dec_ttl,output:3",
            "priority=20,arp,actions=output:9",
            "priority=10,in_port=2,actions=output:3")
    r = sw.run()
    s = r.stats
    p1, p2, p3 = r.port_stats(1), r.port_stats(2), r.port_stats(3)
    assert p1["rx_packets"] == 4
    assert p1["rx_bytes"] == sum(len(f) for _, f in a)
    assert p2["rx_packets"] == 1
    assert p3["tx_packets"] == 2
    assert p3["tx_bytes"] == len(a[0][1]) + len(b[0][1])
    assert p3["rx_packets"] == 0
    assert nonzero(s["drops"]) == {"ttl_expired": 1, "table_miss": 1,
                                 "bad_port": 1}
    assert nonzero(s["parse_errors"]) == {}
    by_prio = {f["priority"]: f for f in s["flows"]}
    assert by_prio[30]["n_packets"] == 2
    assert by_prio[30]["n_bytes"] == len(a[0][1]) + len(a[1][1])
    assert by_prio[20]["n_packets"] == 1
    assert by_prio[10]["n_packets"] == 1
    assert by_prio[10]["n_bytes"] == len(b[0][1])


def test_run_text_statistics(sw):
    pkts = stamp([tcp4(), udp4()])
    sw.port(1, rx=pkts).port(2)
    sw.flow("tcp,actions=output:2")
    sw.write()
    proc = run_sluice(["run", sw.config])
    assert proc.returncode == 0, proc.stderr
    assert "table_miss" in proc.stdout
    assert re.search(r"n_packets=1\b", proc.stdout), proc.stdout


# --- timestamps ---------------------------------------------------------

@pytest.mark.parametrize("nsec", [False, True], ids=["usec", "nsec"])
def test_timestamps_preserved(sw, nsec):
    step = 1_234_567 if nsec else 1_234_000
    ts = [T0_NS + i * step + (7 if nsec else 0) for i in range(5)]
    ts.append(ts[-1])                  # Equal timestamps stay in order.
    frames = [(t, bytes(udp4(sport=1000 + i))) for i, t in enumerate(ts)]
    sw.port(1, rx=frames, nsec=nsec).port(2)
    sw.flow("actions=output:2")
    r = sw.run()
    assert_frames(r.out[2], frames)
    # Precision follows the input: a microsecond capture stays one.
    assert pcap_is_nsec(sw.path("out2.pcap")) == nsec


def test_two_inputs_merge_in_time_order(sw):
    a = [(T0_NS + t, bytes(udp4(sport=t))) for t in (0, 2000, 4000)]
    b = [(T0_NS + t, bytes(udp4(sport=t))) for t in (1000, 3000, 5000)]
    sw.port(1, rx=a).port(2, rx=b).port(3)
    sw.flow("actions=output:3")
    assert_frames(sw.run().out[3], sorted(a + b))


# --- help and documentation ----------------------------------------------

def listed_commands():
    proc = run_sluice(["--help"])
    assert proc.returncode == 0, proc.stderr
    # "  sluice WORDS ARGS...": the words are lower case, the arguments
    # start with an upper-case name or a bracket.
    words = r"((?:[a-z][a-z0-9_]* ?)+?)"
    cmds = re.findall(r"^  sluice " + words + r"(?: [A-Z<(\[-]|$)",
                      proc.stdout, re.M)
    assert "run" in cmds and "flow dump" in cmds, proc.stdout
    return cmds


def test_every_command_has_help():
    for words in listed_commands():
        proc = run_sluice(words.split() + ["--help"])
        assert proc.returncode == 0, (words, proc.stderr)
        assert "sluice " + words in proc.stdout


def test_every_command_is_documented():
    with open(os.path.join(ROOT, "docs", "commands.md")) as f:
        doc = f.read()
    missing = [w for w in listed_commands() if "sluice " + w not in doc]
    assert not missing, "not in docs/commands.md: %s" % missing


def test_unknown_command_is_a_usage_error():
    proc = run_sluice(["frobnicate"])
    assert proc.returncode == 2
    assert "frobnicate" in proc.stderr
