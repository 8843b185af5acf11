"""Pure: the routes and the iptables rules (NAT, forwarding) this node should have."""

from __future__ import annotations

from typing import Any

CLUSTER_POD_CIDR = "10.244.0.0/16"
MASQ_CHAIN = "ORCH-POD-MASQ"
MASQ_COMMENT = "orch: masquerade pods leaving the cluster"
FORWARD_CHAIN = "ORCH-POD-FORWARD"
FORWARD_COMMENT = "orch: forward the pod network"


def desired_routes(nodes: list[dict[str, Any]], self_name: str) -> dict[str, str]:
    """pod CIDR → gateway (that node's InternalIP) for every other node that has both."""
    routes = {}
    for node in nodes:
        if node["metadata"]["name"] == self_name:
            continue
        cidr = (node.get("spec") or {}).get("podCIDR")
        address = next((a["address"] for a in (node.get("status") or {}).get("addresses") or []
                        if a.get("type") == "InternalIP"), None)
        if cidr and address:
            routes[cidr] = address
    return routes


def masquerade_ruleset() -> str:
    """iptables-restore --noflush input: our chain, which returns for pod-to-pod traffic and
    masquerades the rest. The POSTROUTING jump (-s <node pod CIDR>) is installed apart."""
    return "\n".join([
        "*nat",
        f":{MASQ_CHAIN} - [0:0]",
        f"-A {MASQ_CHAIN} -d {CLUSTER_POD_CIDR} -j RETURN",
        f"-A {MASQ_CHAIN} -j MASQUERADE",
        "COMMIT",
        "",
    ])


def masquerade_jump(pod_cidr: str) -> list[str]:
    return ["POSTROUTING", "-s", pod_cidr, "-m", "comment", "--comment", MASQ_COMMENT,
            "-j", MASQ_CHAIN]


def forward_ruleset() -> str:
    """iptables-restore --noflush input: accept forwarded traffic to and from the pod network.

    dockerd sets the FORWARD policy to DROP when it is the one that turns IP forwarding on (as
    on a freshly booted host) and accepts only its own bridge's traffic, so a new connection
    from another node (a pod there, or a node port it DNATed here) to a pod here would be
    dropped. The pod network is flat: every pod is reachable from every node (flannel and
    Calico accept the cluster CIDR the same way)."""
    return "\n".join([
        "*filter",
        f":{FORWARD_CHAIN} - [0:0]",
        f"-A {FORWARD_CHAIN} -d {CLUSTER_POD_CIDR} -j ACCEPT",
        f"-A {FORWARD_CHAIN} -s {CLUSTER_POD_CIDR} -j ACCEPT",
        "COMMIT",
        "",
    ])


def forward_jump() -> list[str]:
    return ["FORWARD", "-m", "comment", "--comment", FORWARD_COMMENT, "-j", FORWARD_CHAIN]
