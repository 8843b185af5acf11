"""NetworkPolicy enforcement, pure: the rules one node renders, walked packet by packet by the
iptables model (tests/iptables_sim.py) as the kernel would, for Kubernetes' cases: default
deny, allow by pod label, by namespace, by ipBlock with except, named ports and port ranges,
egress, DNS to the node's resolver, replies of allowed connections, and pods no policy
selects."""

from __future__ import annotations

import pytest

from kube.kinds.networkpolicy import NetworkPolicy
from node_agent.netpol.rules import JUMPS, PodInfo, render
from tests.iptables_sim import Kernel, Packet, route

NODE_IPS = {"192.168.56.12", "10.244.2.1", "127.0.0.1"}  # host2's own addresses
SERVER = PodInfo("a", "server", "10.244.2.5", "host2", {"app": "server"},
                 {("http", "TCP"): 80, ("metrics", "TCP"): 9090})
FRIEND = PodInfo("a", "friend", "10.244.1.5", "host1", {"role": "friend"})
NEIGHBOUR = PodInfo("a", "neighbour", "10.244.2.6", "host2", {"role": "other"})
STRANGER = PodInfo("b", "stranger", "10.244.3.5", "host3", {"role": "friend"})
PODS = [SERVER, FRIEND, NEIGHBOUR, STRANGER]
NAMESPACES = {"a": {"kubernetes.io/metadata.name": "a"},
              "b": {"kubernetes.io/metadata.name": "b", "team": "blue"}}


def policy(spec, name="p", namespace="a"):
    return NetworkPolicy.model_validate({"metadata": {"name": name, "namespace": namespace},
                                         "spec": spec})


def kernel(*policies, node="host2"):
    k = Kernel()
    k.restore(render(list(policies), PODS, NAMESPACES, node).text)
    for table, chain, rule in JUMPS:
        k.insert(table, chain, rule)
    return k


def verdict(k, src, dst, port=80, proto="tcp"):
    outcomes = route(k, Packet(src.ip if isinstance(src, PodInfo) else src,
                               dst.ip if isinstance(dst, PodInfo) else dst, port, proto),
                     NODE_IPS, from_host=False)
    assert len(outcomes) == 1
    return outcomes[0].verdict


SERVER_ONLY = {"matchLabels": {"app": "server"}}
CASES = {
    "no policy: everything passes": ([], [(FRIEND, "ACCEPT"), (STRANGER, "ACCEPT")]),
    "default deny (empty selector, no rules)": (
        [{"podSelector": {}, "policyTypes": ["Ingress"]}],
        [(FRIEND, "DROP"), (NEIGHBOUR, "DROP"), (STRANGER, "DROP")]),
    "allow from a label, in the policy's namespace only": (
        [{"podSelector": SERVER_ONLY, "ingress": [{"from": [
            {"podSelector": {"matchLabels": {"role": "friend"}}}]}]}],
        [(FRIEND, "ACCEPT"), (NEIGHBOUR, "DROP"), (STRANGER, "DROP")]),
    "allow from a namespace": (
        [{"podSelector": SERVER_ONLY, "ingress": [{"from": [
            {"namespaceSelector": {"matchLabels": {"team": "blue"}}}]}]}],
        [(STRANGER, "ACCEPT"), (FRIEND, "DROP")]),
    "namespace and pod selector together: both must hold": (
        [{"podSelector": SERVER_ONLY, "ingress": [{"from": [
            {"namespaceSelector": {}, "podSelector": {"matchLabels": {"role": "friend"}}}]}]}],
        [(STRANGER, "ACCEPT"), (FRIEND, "ACCEPT"), (NEIGHBOUR, "DROP")]),
    "ipBlock with except": (
        [{"podSelector": SERVER_ONLY, "ingress": [{"from": [
            {"ipBlock": {"cidr": "10.244.0.0/16", "except": ["10.244.1.0/24"]}}]}]}],
        [(STRANGER, "ACCEPT"), (NEIGHBOUR, "ACCEPT"), (FRIEND, "DROP"),
         ("192.168.56.1", "DROP")]),
    "egress only: ingress is not isolated": (
        [{"podSelector": SERVER_ONLY, "policyTypes": ["Egress"]}],
        [(FRIEND, "ACCEPT")]),
}


@pytest.mark.parametrize("case", CASES)
def test_ingress_cases(case):
    policies, expected = CASES[case]
    k = kernel(*(policy(spec, f"p{i}") for i, spec in enumerate(policies)))
    assert [(src.name if isinstance(src, PodInfo) else src, verdict(k, src, SERVER))
            for src, _ in expected] == \
        [(src.name if isinstance(src, PodInfo) else src, want) for src, want in expected]


def test_named_ports_and_ranges_are_the_pods_own_ports():
    k = kernel(policy({"podSelector": SERVER_ONLY, "ingress": [
        {"ports": [{"port": "http"}]}, {"ports": [{"port": 9000, "endPort": 9100}]},
        {"ports": [{"port": 53, "protocol": "UDP"}]}]}))
    assert verdict(k, FRIEND, SERVER, 80) == "ACCEPT"
    assert verdict(k, FRIEND, SERVER, 8080) == "DROP"
    assert verdict(k, FRIEND, SERVER, 9090) == "ACCEPT"
    assert verdict(k, FRIEND, SERVER, 9101) == "DROP"
    assert verdict(k, FRIEND, SERVER, 53, "udp") == "ACCEPT"
    assert verdict(k, FRIEND, SERVER, 53, "tcp") == "DROP"


def test_egress_is_checked_for_the_nodes_own_pods_including_dns_to_the_node():
    deny = policy({"podSelector": {"matchLabels": {"role": "friend"}},
                   "policyTypes": ["Egress"]}, "deny-out")
    k = kernel(deny, node="host1")
    assert verdict(k, FRIEND, SERVER) == "DROP"
    assert verdict(k, FRIEND, "10.244.1.1", 53, "udp") == "DROP"  # the resolver: INPUT
    dns = policy({"podSelector": {}, "policyTypes": ["Egress"], "egress": [
        {"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}]}, "dns")
    to_server = policy({"podSelector": {"matchLabels": {"role": "friend"}},
                        "policyTypes": ["Egress"], "egress": [{"to": [
                            {"podSelector": SERVER_ONLY}], "ports": [{"port": "http"}]}]},
                       "to-server")
    k = kernel(deny, dns, to_server, node="host1")
    assert verdict(k, FRIEND, "10.244.1.1", 53, "udp") == "ACCEPT"
    assert verdict(k, FRIEND, SERVER, 80) == "ACCEPT"  # the named port, resolved on the server
    assert verdict(k, FRIEND, SERVER, 9090) == "DROP"
    assert verdict(k, FRIEND, NEIGHBOUR, 80) == "DROP"


def test_replies_pass_and_only_the_nodes_own_pods_get_chains():
    deny = policy({"podSelector": {}, "policyTypes": ["Ingress", "Egress"]})
    ruleset = render([deny], PODS, NAMESPACES, "host2")
    assert ruleset.isolated == 2  # server and neighbour, on host2
    first = next(line for line in ruleset.text.splitlines() if line.startswith("-A "))
    # replies, and later packets of a connection allowed when it opened, are never checked
    assert first == "-A ORCH-NETPOL -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN"
    assert f"-s {FRIEND.ip}/32 -j" not in ruleset.text  # host1's pod: not this node's business
    stale = render([], PODS, NAMESPACES, "host2", existing=ruleset.chains)
    assert all(f"-X {c}" in stale.text for c in ruleset.chains if c != "ORCH-NETPOL")
    assert stale.isolated == 0


def test_a_policy_with_another_namespace_selects_nothing_here():
    k = kernel(policy({"podSelector": {}}, namespace="b"))
    assert verdict(k, FRIEND, SERVER) == "ACCEPT"
