"""Forwarding actions and rule priorities: pcap in, pcap out."""

import pytest

from packets import arp, icmp4, tcp4, udp4
from sluicetest import assert_frames, stamp


def test_output_to_port(sw):
    pkts = stamp([tcp4(), udp4(), icmp4()])
    sw.port(1, rx=pkts).port(2).port(3)
    sw.flow("in_port=1,actions=output:2")
    r = sw.run()
    assert_frames(r.out[2], pkts)
    assert r.out[3] == []


def test_table_miss_drops_and_counts(sw):
    pkts = stamp([tcp4(), udp4(dport=99)])
    sw.port(1, rx=pkts).port(2)
    sw.flow("udp,tp_dst=53,actions=output:2")
    r = sw.run()
    assert r.out[2] == []
    assert r.stats["drops"].get("table_miss") == 2


@pytest.mark.parametrize("actions", ["drop", ""])
def test_drop_action_and_empty_list(sw, actions):
    pkts = stamp([tcp4(), tcp4(sport=1)])
    sw.port(1, rx=pkts).port(2)
    sw.flow("priority=10,actions=output:2",
            "priority=20,tcp,tp_src=1234,actions=" + actions)
    r = sw.run()
    assert_frames(r.out[2], pkts[1:])
    assert r.stats["drops"].get("action_drop") == 1


def test_in_port_sends_back_out_of_ingress(sw):
    pkts = stamp([arp(), tcp4()])
    sw.port(1, rx=pkts).port(2)
    sw.flow("arp,actions=in_port", "tcp,actions=output:2")
    r = sw.run()
    assert_frames(r.out[1], pkts[:1], "port 1")
    assert_frames(r.out[2], pkts[1:], "port 2")


@pytest.mark.parametrize("action", ["flood", "all"])
def test_flood_and_all_skip_the_ingress_port(sw, action):
    pkts = stamp([arp(), udp4()])
    sw.port(1, rx=pkts).port(2).port(3).port(4)
    sw.flow("actions=" + action)
    r = sw.run()
    assert r.out[1] == []
    for n in (2, 3, 4):
        assert_frames(r.out[n], pkts, "port %d" % n)


def test_flood_from_second_input_port(sw):
    a = stamp([arp()])
    b = stamp([udp4()], start_ns=a[0][0] + 5_000_000)
    sw.port(1, rx=a).port(2, rx=b).port(3)
    sw.flow("actions=flood")
    r = sw.run()
    assert_frames(r.out[1], b, "port 1")
    assert_frames(r.out[2], a, "port 2")
    assert_frames(sorted(r.out[3]), sorted(a + b), "port 3")


def test_several_outputs_see_the_packet_as_it_was_then(sw):
    p = tcp4()
    pkts = stamp([p])
    sw.port(1, rx=pkts).port(2).port(3)
    sw.flow("tcp,actions=output:2,mod_dl_src:00:00:00:00:00:99,output:3")
    r = sw.run()
    q = p.copy()
    q.src = "00:00:00:00:00:99"
    assert_frames(r.out[2], pkts, "port 2")
    assert_frames(r.out[3], stamp([q]), "port 3")


def test_note_action_changes_nothing(sw):
    pkts = stamp([udp4()])
    sw.port(1, rx=pkts).port(2)
    sw.flow("actions=note:01.02.03.04.05.06,output:2")
    assert_frames(sw.run().out[2], pkts)


def test_output_to_missing_port_is_counted(sw):
    pkts = stamp([udp4()])
    sw.port(1, rx=pkts).port(2)
    sw.flow("actions=output:9")
    r = sw.run()
    assert r.out[2] == []
    assert r.stats["drops"].get("bad_port") == 1


@pytest.mark.parametrize("order", ["high_first", "low_first"])
def test_highest_priority_wins(sw, order):
    web = tcp4(dport=80)
    ssh = tcp4(dport=22)
    other = udp4()
    sw.port(1, rx=[web, ssh, other]).port(2).port(3).port(4).port(5)
    rules = ["priority=300,tcp,tp_dst=80,actions=output:2",
             "priority=200,tcp,actions=output:3",
             "priority=100,ip,actions=output:4",
             "priority=0,actions=output:5"]
    if order == "low_first":
        rules.reverse()
    sw.flow(*rules)
    r = sw.run()
    pkts = stamp([web, ssh, other])
    assert_frames(r.out[2], pkts[0:1], "port 2")
    assert_frames(r.out[3], pkts[1:2], "port 3")
    assert_frames(r.out[4], pkts[2:3], "port 4")
    assert r.out[5] == []


def test_default_priority_is_32768(sw):
    pkts = stamp([tcp4()])
    sw.port(1, rx=pkts).port(2).port(3)
    sw.flow("priority=32767,actions=output:3", "tcp,actions=output:2")
    r = sw.run()
    assert_frames(r.out[2], pkts)
    assert r.out[3] == []


def test_same_match_and_priority_replaces_actions(sw):
    pkts = stamp([tcp4()])
    sw.port(1, rx=pkts).port(2).port(3)
    sw.flow("priority=5,tcp,actions=output:2",
            "priority=5,tcp,actions=output:3")
    r = sw.run()
    assert r.out[2] == []
    assert_frames(r.out[3], pkts)
    assert len(r.stats["flows"]) == 1

