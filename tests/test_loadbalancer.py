"""LoadBalancer Services, pure parts: the address pool and its allocation (the master's
controller), which nodes may announce an address, and the ARP frames the announcer answers and
sends (checked against the wire format, RFC 826)."""

from __future__ import annotations

import socket

import pytest

from kube.kinds.service import Service
from node_agent.loadbalancer.arp import (REPLY, REQUEST, gratuitous, parse_arp, reply_to)
from node_agent.loadbalancer.speaker import eligible
from orchestrator.controllers.loadbalancer import Assignment, assign, parse_pool

POOL = parse_pool("192.168.56.200-192.168.56.202")


def lb(name, created="2026-01-01T00:00:00Z", held=None, asked=None, cls=None, kind="LoadBalancer",
       policy=None, uid=None):
    spec = {"type": kind, "clusterIP": "10.96.0.9", "ports": [{"port": 80}]}
    if kind == "LoadBalancer":
        spec |= {k: v for k, v in (("loadBalancerIP", asked), ("loadBalancerClass", cls))
                 if v}
    if policy:
        spec["externalTrafficPolicy"] = policy
    status = {"loadBalancer": {"ingress": [{"ip": held}]}} if held else {}
    return {"metadata": {"namespace": "ns", "name": name, "creationTimestamp": created,
                         "uid": uid or f"uid-{name}"}, "spec": spec, "status": status}


def typed(*objs):
    return [Service.model_validate(o) for o in objs]


def test_pools_parse_ranges_and_cidrs_and_name_a_bad_entry():
    assert list(parse_pool("10.0.0.1-10.0.0.3, 10.0.1.0/30").addresses()) == [
        "10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.1.1", "10.0.1.2"]
    assert list(parse_pool("").addresses()) == []
    for bad, words in (("10.0.0.9-10.0.0.1", "ends before it starts"), ("10.0.0.300", "300"),
                       ("10.0.0.1/24", "host bits")):
        with pytest.raises(ValueError, match=words):
            parse_pool(f"10.0.0.1, {bad}")


def test_addresses_are_given_lowest_first_kept_and_released():
    got = assign(typed(lb("a"), lb("b", "2026-01-02T00:00:00Z")), POOL)
    assert got == {"ns/a": Assignment("192.168.56.200"), "ns/b": Assignment("192.168.56.201")}
    # a kept address stays, even when a lower one is free again (a's Service was deleted)
    assert assign(typed(lb("b", held="192.168.56.201"), lb("c")), POOL) == {
        "ns/b": Assignment("192.168.56.201"), "ns/c": Assignment("192.168.56.200")}


def test_an_asked_address_is_given_or_refused_saying_why():
    got = assign(typed(lb("a", held="192.168.56.200"),
                       lb("b", asked="192.168.56.200"), lb("c", asked="192.168.56.202"),
                       lb("d", asked="10.1.1.1")), POOL)
    assert got["ns/a"] == Assignment("192.168.56.200")
    assert got["ns/b"].ip is None and "already in use by service ns/a" in got["ns/b"].problem
    assert got["ns/c"] == Assignment("192.168.56.202")
    assert got["ns/d"].ip is None and "not in the address pool" in got["ns/d"].problem


def test_an_exhausted_pool_leaves_the_youngest_pending():
    services = typed(*(lb(f"s{i}", f"2026-01-0{i + 1}T00:00:00Z") for i in range(4)))
    got = assign(services, POOL)
    assert [got[f"ns/s{i}"].ip for i in range(3)] == [
        "192.168.56.200", "192.168.56.201", "192.168.56.202"]
    assert got["ns/s3"].ip is None and "no available IPs" in got["ns/s3"].problem


def test_other_classes_and_other_types_are_not_ours():
    got = assign(typed(lb("mine"), lb("theirs", cls="example.com/lb"),
                       lb("plain", kind="NodePort")), POOL)
    assert set(got) == {"ns/mine"}


def endpoints(name, *where):
    return {"metadata": {"namespace": "ns", "name": name}, "subsets": [{
        "ports": [{"port": 8080}],
        "addresses": [{"ip": f"10.244.{i}.5", "nodeName": node} for i, node in enumerate(where)]}]}


def test_a_node_may_announce_cluster_services_and_local_ones_only_with_an_endpoint_here():
    services = [lb("c", held="192.168.56.200"), lb("l", held="192.168.56.201", policy="Local"),
                lb("pending"), lb("theirs", held="192.168.56.202", cls="example.com/lb")]
    eps = [endpoints("c", "host2"), endpoints("l", "host2")]
    assert set(eligible(services, eps, "host1")) == {"ns/c"}
    here = eligible(services, eps, "host2")
    assert set(here) == {"ns/c", "ns/l"}
    assert here["ns/l"].addresses == {"192.168.56.201"} and here["ns/l"].lease_name == "orch-lb-l"


MAC, ASKER = bytes.fromhex("020000000011"), bytes.fromhex("0200000000aa")


def request(target):
    eth = b"\xff" * 6 + ASKER + b"\x08\x06"
    arp = (b"\x00\x01\x08\x00\x06\x04\x00\x01" + ASKER + socket.inet_aton("192.168.56.1")
           + b"\x00" * 6 + socket.inet_aton(target))
    return eth + arp + b"\x00" * 18  # padded to Ethernet's minimum, as on the wire


def test_an_arp_request_is_parsed_and_answered_to_the_asker():
    asked = parse_arp(request("192.168.56.200"))
    assert (asked.op, asked.sender_ip, asked.target_ip) == (REQUEST, "192.168.56.1",
                                                            "192.168.56.200")
    reply = reply_to(asked, MAC)
    assert reply[:6] == ASKER and reply[6:12] == MAC and reply[12:14] == b"\x08\x06"
    answer = parse_arp(reply)
    assert (answer.op, answer.sender_mac, answer.sender_ip, answer.target_mac,
            answer.target_ip) == (REPLY, MAC, "192.168.56.200", ASKER, "192.168.56.1")
    assert parse_arp(b"\x00" * 10) is None
    assert parse_arp(request("192.168.56.200")[:12] + b"\x08\x00" + b"\x00" * 28) is None


def test_gratuitous_arp_is_a_broadcast_request_and_reply_for_the_address_itself():
    frames = [parse_arp(f) for f in gratuitous("192.168.56.200", MAC)]
    assert [f.op for f in frames] == [REQUEST, REPLY]
    assert all(f.sender_ip == f.target_ip == "192.168.56.200" and f.sender_mac == MAC
               for f in frames)
    assert all(f[:6] == b"\xff" * 6 for f in gratuitous("192.168.56.200", MAC))
