"""The agents' pod network: routes follow the Nodes, traffic leaving the pod network is
masqueraded, pod-to-pod traffic is not (see test_pods.py for that). Oracles: `ip route`,
`iptables-save`, and the source address a listener on another lab host sees."""

from __future__ import annotations

import subprocess
import sys

import pytest

from integration_tests.hosts import Cluster, wait_until
from integration_tests.test_pods import create_pod, pod_status, shell


def test_routes_to_a_nodes_pod_cidr_come_and_go_with_the_node(cluster: Cluster) -> None:
    api = cluster.api()
    name = f"ghost{cluster.name[-4:]}"
    ghost = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
             "spec": {"podCIDR": "10.244.250.0/24"},
             "status": {"addresses": [{"type": "InternalIP", "address": "192.168.56.250"}]}}
    assert api.post("/api/v1/nodes", json=ghost).status_code == 201

    def routed(host) -> bool:
        out = cluster.run(host, ["ip", "route", "show", "10.244.250.0/24"]).stdout
        return "via 192.168.56.250" in out

    try:
        for host in cluster.hosts:
            wait_until(lambda: routed(host), 30, f"the route on {host.name}")
    finally:
        api.delete(f"/api/v1/nodes/{name}")
    for host in cluster.hosts:
        wait_until(lambda: not routed(host), 30, f"the route to go from {host.name}")


def test_every_node_masquerades_traffic_leaving_the_pod_network(cluster: Cluster) -> None:
    for host in cluster.hosts:
        rules = cluster.run(host, ["iptables-save", "-t", "nat"]).stdout
        assert f"-A POSTROUTING -s {host.pod_cidr} " in rules
        assert "-A ORCH-POD-MASQ -d 10.244.0.0/16 -j RETURN" in rules


def test_a_pod_reaching_a_host_address_is_seen_with_its_nodes_address(
        cluster: Cluster, ns: str) -> None:
    if len(cluster.hosts) < 2 or cluster.inventory.kind != "netns":
        pytest.skip("needs two netns hosts")
    client_host, server_host = cluster.hosts[0], cluster.hosts[1]
    listener = subprocess.Popen(
        ["nsenter", f"--net=/run/netns/{server_host.netns}", "--", sys.executable, "-c",
         "import socket; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1);"
         f"s.bind(('{server_host.address}', 7777)); s.listen(); s.settimeout(60);"
         "c, a = s.accept(); print(a[0], flush=True)"],
        stdout=subprocess.PIPE, text=True)
    try:
        create_pod(cluster, ns, "out", client_host.name, [shell(
            "c", f"for i in $(seq 20); do echo hi | nc {server_host.address} 7777 && exit 0; "
                 "sleep 0.5; done; exit 1")], restartPolicy="Never")
        seen = listener.communicate(timeout=90)[0].strip()
    finally:
        listener.kill()
    wait_until(lambda: pod_status(cluster, ns, "out").get("phase") == "Succeeded", 60, "done")
    assert seen == client_host.address, f"the listener saw {seen}, not the node's address"
