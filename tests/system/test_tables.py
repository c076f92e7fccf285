"""Multiple tables (goto_table, resubmit), timeouts in packet time and
`flow del`."""

from scapy.layers.inet import IP, TCP, UDP

from packets import arp, icmp4, tcp4, tcp6, udp4
from sluicetest import T0_NS, assert_frames, frozen, stamp

SEC = 10**9


def edited(pkt, layer, field, value):
    q = pkt.copy()
    setattr(q[layer], field, value)
    q[IP].chksum = None
    for l4 in (TCP, UDP):
        if l4 in q:
            q[l4].chksum = None
    return frozen(q)


def test_goto_table_matches_rewritten_fields(sw):
    p = tcp4()
    pkts = stamp([p, udp4()])
    sw.port(1, rx=pkts).port(2).port(3)
    sw.flow("table=0,ip,actions=mod_nw_dst:10.9.9.9,goto_table:5",
            "table=5,priority=10,ip,nw_dst=10.9.9.9,tcp,actions=output:2",
            "table=5,priority=1,actions=output:3")
    r = sw.run()
    assert_frames(r.out[2], stamp([edited(p, IP, "dst", "10.9.9.9")]))
    assert_frames(r.out[3],
                  [(pkts[1][0], bytes(edited(udp4(), IP, "dst",
                                             "10.9.9.9")))])


def test_goto_table_miss_in_later_table_drops(sw):
    pkts = stamp([tcp4()])
    sw.port(1, rx=pkts).port(2)
    sw.flow("table=0,actions=goto_table:1",
            "table=1,udp,actions=output:2")
    r = sw.run()
    assert r.out[2] == []
    assert r.stats["drops"].get("table_miss") == 1


def test_goto_table_in_table_63(sw):
    pkts = stamp([tcp4()])
    sw.port(1, rx=pkts).port(2)
    sw.flow("table=0,actions=goto_table:63", "table=63,actions=output:2")
    assert_frames(sw.run().out[2], pkts)


def test_resubmit_runs_other_table_then_continues(sw):
    p = tcp4()
    sw.port(1, rx=[p]).port(2).port(3)
    sw.flow("table=0,actions=output:2,resubmit(,2),output:3",
            "table=2,tcp,actions=mod_tp_dst:8080")
    r = sw.run()
    assert_frames(r.out[2], stamp([p]))
    # Rewrites done in the resubmitted table stay with the packet.
    assert_frames(r.out[3], stamp([edited(p, TCP, "dport", 8080)]))


def test_resubmit_output_from_resubmitted_table(sw):
    pkts = stamp([arp(), icmp4()])
    sw.port(1, rx=pkts).port(2).port(3)
    sw.flow("table=0,arp,actions=resubmit(,1)",
            "table=0,icmp,actions=resubmit(,2)",
            "table=1,actions=output:2",
            "table=2,actions=output:3")
    r = sw.run()
    assert_frames(r.out[2], pkts[:1])
    assert_frames(r.out[3], pkts[1:])


def test_resubmit_loop_is_cut_and_counted(sw):
    pkts = stamp([udp4()])
    sw.port(1, rx=pkts).port(2)
    sw.flow("table=0,actions=resubmit(,1)", "table=1,actions=resubmit(,0)")
    r = sw.run()
    assert r.out[2] == []
    assert r.stats["drops"].get("loop") == 1


def at(seconds, pkt):
    return (T0_NS + seconds * SEC, bytes(pkt))


def test_idle_timeout_in_packet_time(sw):
    # Used at 0, 3 and 6 s: never idle for 5 s.  Then 12 s passes idle, so
    # the rule is gone and the packet at 18 s falls to the catch-all.
    frames = [at(0, tcp4()), at(3, tcp4()), at(6, tcp4()), at(18, tcp4())]
    sw.port(1, rx=frames).port(2).port(3)
    sw.flow("priority=10,tcp,idle_timeout=5,actions=output:2",
            "priority=1,actions=output:3")
    r = sw.run()
    assert_frames(r.out[2], frames[:3], "port 2")
    assert_frames(r.out[3], frames[3:], "port 3")
    # The expired rule is gone from the statistics too.
    assert [f["priority"] for f in r.stats["flows"]] == [1]


def test_idle_timeout_expires_while_unused(sw):
    # The rule is never used: the tcp packet at 8 s finds it expired.
    frames = [at(0, udp4()), at(8, tcp4())]
    sw.port(1, rx=frames).port(2).port(3)
    sw.flow("priority=10,tcp,idle_timeout=5,actions=output:2",
            "priority=1,actions=output:3")
    r = sw.run()
    assert r.out[2] == []
    assert_frames(r.out[3], frames)


def test_hard_timeout_in_packet_time(sw):
    # Busy all the time, yet the rule lives 5 s from the first packet.
    frames = [at(s, tcp4()) for s in (0, 1, 2, 3, 4, 6, 7)]
    sw.port(1, rx=frames).port(2).port(3)
    sw.flow("priority=10,hard_timeout=5,actions=output:2",
            "priority=1,actions=output:3")
    r = sw.run()
    assert_frames(r.out[2], frames[:5], "port 2")
    assert_frames(r.out[3], frames[5:], "port 3")


def test_timeouts_with_nanosecond_pcap(sw):
    # Nanosecond timestamps are kept as such: 1.999999999 s is inside a
    # 2 s hard timeout.
    frames = [(T0_NS, bytes(tcp4())),
              (T0_NS + 2 * SEC - 1, bytes(tcp4())),
              (T0_NS + 4 * SEC + 1, bytes(tcp4()))]
    sw.port(1, rx=frames, nsec=True).port(2).port(3)
    sw.flow("priority=10,hard_timeout=2,actions=output:2",
            "priority=1,actions=output:3")
    r = sw.run()
    assert_frames(r.out[2], frames[:2], "port 2")
    assert_frames(r.out[3], frames[2:], "port 3")


def del_setup(sw, *dels):
    pkts = stamp([tcp4(), tcp4(dport=22), udp4(), tcp6(), arp()])
    sw.port(1, rx=pkts).port(2).port(3).port(4).port(5)
    sw.flow("priority=100,tcp,tp_dst=80,actions=output:2",
            "priority=90,tcp,actions=output:3",
            "priority=80,ip,actions=output:4",
            "table=1,priority=5,actions=output:5",
            "priority=1,actions=output:5")
    sw.line(*dels)
    return pkts, sw.run()


def test_flow_del_non_strict_match(sw):
    # "tcp" covers both tcp rules (even the one with tp_dst) but not "ip".
    pkts, r = del_setup(sw, "flow del tcp")
    assert r.out[2] == [] and r.out[3] == []
    assert_frames(r.out[4], pkts[0:3], "port 4")
    assert_frames(r.out[5], pkts[3:5], "port 5")
    assert len(r.stats["flows"]) == 3


def test_flow_del_narrow_match_leaves_wider_rules(sw):
    pkts, r = del_setup(sw, "flow del tcp,tp_dst=80")
    assert r.out[2] == []
    assert_frames(r.out[3], pkts[0:2], "port 3")
    assert_frames(r.out[4], pkts[2:3], "port 4")


def test_flow_del_by_table(sw):
    pkts, r = del_setup(sw, "flow del table=1")
    assert len(r.stats["flows"]) == 4
    assert_frames(r.out[2], pkts[0:1], "port 2")


def test_flow_del_by_cookie_mask(sw):
    pkts = stamp([tcp4(), udp4()])
    sw.port(1, rx=pkts).port(2).port(3)
    sw.flow("priority=10,cookie=0x1a,tcp,actions=output:2",
            "priority=10,cookie=0x2a,udp,actions=output:2",
            "priority=1,cookie=0x1b,actions=output:3")
    sw.line("flow del cookie=0x0a/0x0f")
    r = sw.run()
    assert r.out[2] == []
    assert_frames(r.out[3], pkts)
    assert len(r.stats["flows"]) == 1


def test_flow_del_all(sw):
    pkts, r = del_setup(sw, "flow del")
    for n in (2, 3, 4, 5):
        assert r.out[n] == []
    assert r.stats["flows"] == []
    assert r.stats["drops"].get("table_miss") == len(pkts)


def test_flow_added_after_del_is_used(sw):
    pkts, r = del_setup(sw, "flow del", "flow add actions=output:2")
    assert_frames(r.out[2], pkts)
