"""The pod network's pure plan: routes to other nodes, and the masquerade rules."""

from __future__ import annotations

from node_agent.network.plan import (desired_routes, forward_jump, forward_ruleset,
                                     masquerade_jump, masquerade_ruleset)


def node(name, cidr=None, address=None):
    return {"metadata": {"name": name}, "spec": {"podCIDR": cidr} if cidr else {},
            "status": {"addresses": [{"type": "InternalIP", "address": address}]} if address else {}}


def test_routes_go_to_every_other_node_that_has_a_cidr_and_an_address():
    nodes = [node("host1", "10.244.1.0/24", "192.168.56.11"),
             node("host2", "10.244.2.0/24", "192.168.56.12"),
             node("host3", "10.244.3.0/24"),  # no address yet
             node("host4", None, "192.168.56.14")]  # no CIDR yet
    assert desired_routes(nodes, "host1") == {"10.244.2.0/24": "192.168.56.12"}


def test_pod_to_pod_traffic_is_not_masqueraded_the_rest_is():
    rules = masquerade_ruleset().splitlines()
    assert rules.index("-A ORCH-POD-MASQ -d 10.244.0.0/16 -j RETURN") < \
        rules.index("-A ORCH-POD-MASQ -j MASQUERADE")
    assert masquerade_jump("10.244.1.0/24")[:3] == ["POSTROUTING", "-s", "10.244.1.0/24"]


def test_forwarding_to_and_from_the_pod_network_is_accepted_whatever_dockers_policy():
    rules = forward_ruleset().splitlines()
    assert rules[0] == "*filter" and rules[-1] == "COMMIT"
    assert "-A ORCH-POD-FORWARD -d 10.244.0.0/16 -j ACCEPT" in rules
    assert "-A ORCH-POD-FORWARD -s 10.244.0.0/16 -j ACCEPT" in rules
    assert forward_jump()[0] == "FORWARD" and forward_jump()[-2:] == ["-j", "ORCH-POD-FORWARD"]
