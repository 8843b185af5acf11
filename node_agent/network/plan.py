"""Pure: the routes and the NAT rules this node should have."""

from __future__ import annotations

from typing import Any

CLUSTER_POD_CIDR = "10.244.0.0/16"
MASQ_CHAIN = "ORCH-POD-MASQ"
MASQ_COMMENT = "orch: masquerade pods leaving the cluster"


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
