"""NetworkPolicy on the live lab: a table of Kubernetes' cases, each checked with real
connections between pods on different hosts (an allowed one answers, a denied one times out:
the packets are dropped, not refused), and the rules gone once the policy is deleted (the
host's own iptables-save). Pods no policy selects are never affected."""

from __future__ import annotations

import secrets

import pytest

from integration_tests.hosts import Cluster, wait_until
from integration_tests.test_pods import _exec, create_pod, wait_running, web

SERVER_LABELS = {"app": "server"}


def connects(cluster: Cluster, ns: str, pod: str, address: str, port: int,
             container: str | None = None) -> bool | str:
    """From `pod` (exec through the API): True when address:port answers, False when the
    attempt times out, "refused" when it is refused (a denied connection must time out)."""
    code, out, status = _exec(cluster, ns, pod, [
        "sh", "-c", f"timeout 3 wget -qO- http://{address}:{port}/ 2>&1; echo rc=$?"],
        container=container)
    assert code == 101 and out is not None, (code, status)
    text = (out["stdout"] + out["stderr"]).decode()
    if "rc=0" in text:
        return True
    return "refused" if "refused" in text.lower() else False


@pytest.fixture
def peers(cluster: Cluster, ns: str):
    """The server (ports http 80 and metrics 8080) on the last host, a friend and another pod
    of the namespace on the first, and a friend in a second namespace (team=blue)."""
    if len(cluster.hosts) < 2:
        pytest.skip("needs 2 hosts")
    other_ns = f"{ns}-b"
    api = cluster.api()
    api.post("/api/v1/namespaces", json={"metadata": {"name": other_ns,
                                                      "labels": {"team": "blue"}}}
             ).raise_for_status()
    first, last = cluster.hosts[0].name, cluster.hosts[-1].name
    try:
        create_pod(cluster, ns, "server", last, [
            web("web", ports=[{"name": "http", "containerPort": 80}]),
            web("metrics", env=[{"name": "PORT", "value": "8080"}],
                ports=[{"name": "metrics", "containerPort": 8080}])],
            terminationGracePeriodSeconds=1)
        api.patch(f"/api/v1/namespaces/{ns}/pods/server",
                  json={"metadata": {"labels": SERVER_LABELS}},
                  headers={"Content-Type": "application/merge-patch+json"}).raise_for_status()
        for name, namespace, role, host in (("friend", ns, "friend", first),
                                            ("other", ns, "other", cluster.hosts[1].name),
                                            ("stranger", other_ns, "friend", first)):
            create_pod(cluster, namespace, name, host, [web()], terminationGracePeriodSeconds=1)
            api.patch(f"/api/v1/namespaces/{namespace}/pods/{name}",
                      json={"metadata": {"labels": {"role": role}}},
                      headers={"Content-Type": "application/merge-patch+json"}
                      ).raise_for_status()
        ip = wait_running(cluster, ns, "server")["podIP"]
        for name, namespace in (("friend", ns), ("other", ns), ("stranger", other_ns)):
            wait_running(cluster, namespace, name)
        friend_ip = wait_running(cluster, ns, "friend")["podIP"]
        yield {"server": ip, "ns": ns, "other_ns": other_ns, "friend_ip": friend_ip,
               "server_host": cluster.host(last)}
    finally:
        api.delete(f"/api/v1/namespaces/{other_ns}")


def _cases(friend_ip: str):
    host1_pods = friend_ip.rsplit(".", 1)[0] + ".0/24"
    return {
        # name: (policy spec, [(client pod, its namespace key, port, allowed?)])
        "default deny": ({"podSelector": {}}, [("friend", "ns", 80, False)]),
        "allow from a label": (
            {"podSelector": {"matchLabels": SERVER_LABELS},
             "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "friend"}}}]}]},
            [("friend", "ns", 80, True), ("other", "ns", 80, False)]),
        "allow from a namespace": (
            {"podSelector": {"matchLabels": SERVER_LABELS},
             "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"team": "blue"}}}]}]},
            [("stranger", "other_ns", 80, True), ("friend", "ns", 80, False)]),
        "ipBlock with except": (
            {"podSelector": {"matchLabels": SERVER_LABELS},
             "ingress": [{"from": [{"ipBlock": {"cidr": "10.244.0.0/16",
                                                "except": [host1_pods]}}]}]},
            [("other", "ns", 80, True), ("friend", "ns", 80, False)]),
        "egress deny": (
            {"podSelector": {"matchLabels": {"role": "friend"}}, "policyTypes": ["Egress"]},
            [("friend", "ns", 80, False), ("other", "ns", 80, True)]),
        "a named port": (
            {"podSelector": {"matchLabels": SERVER_LABELS},
             "ingress": [{"ports": [{"port": "metrics"}]}]},
            [("friend", "ns", 8080, True), ("friend", "ns", 80, False)]),
    }


def test_network_policies_allow_what_they_say_and_nothing_else(cluster: Cluster, peers) -> None:
    api, ns = cluster.api(), peers["ns"]
    for name, (spec, checks) in _cases(peers["friend_ip"]).items():
        policy = f"p-{secrets.token_hex(3)}"
        api.post(f"/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies",
                 json={"metadata": {"name": policy}, "spec": spec}).raise_for_status()

        def as_expected() -> bool:
            return all(connects(cluster, peers[where], pod, peers["server"], port) is allowed
                       for pod, where, port, allowed in checks)
        wait_until(as_expected, 60, f"{name}: {checks}", interval=0.5)
        api.delete(f"/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies/{policy}"
                   ).raise_for_status()
        wait_until(lambda: all(connects(cluster, peers[where], pod, peers["server"], port)
                               is True for pod, where, port, _ in checks), 60,
                   f"{name}: every connection allowed again once the policy is gone",
                   interval=0.5)
    saved = cluster.run(peers["server_host"], ["iptables-save", "-t", "filter"]).stdout
    assert "ORCH-NP-" not in saved  # every pod's chain went with the policies
    assert "-A FORWARD -m comment --comment \"orch network policies\" -j ORCH-NETPOL" in saved


def test_a_denied_connection_times_out_and_replies_of_allowed_ones_pass(
        cluster: Cluster, peers) -> None:
    api, ns = cluster.api(), peers["ns"]
    api.post(f"/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies", json={
        "metadata": {"name": "only-friends"},
        "spec": {"podSelector": {"matchLabels": SERVER_LABELS},
                 "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "friend"}}}]}]}}
    ).raise_for_status()
    wait_until(lambda: connects(cluster, ns, "other", peers["server"], 80) is False, 60,
               "other's connection to time out")
    # the server's own egress is not isolated: it reaches anyone, and their replies come back
    assert connects(cluster, ns, "server", peers["friend_ip"], 80, container="web") is True
    assert connects(cluster, ns, "friend", peers["server"], 80) is True
