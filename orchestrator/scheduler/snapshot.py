"""An immutable view of the cluster the scheduler decides on (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from orchestrator.api.quantity import cpu_millis, memory_bytes

# Kubernetes scores pods without requests as if they asked for this much (non-zero requests).
DEFAULT_CPU_MILLIS = 100
DEFAULT_MEMORY = 200 * 1024 * 1024

Object = dict[str, Any]


def pod_requests(pod: Object, non_zero: bool = False) -> tuple[int, int]:
    """(cpu millicores, memory bytes) the pod requests: the sum over its containers."""
    cpu = mem = 0
    for c in pod["spec"]["containers"]:
        requests = (c.get("resources") or {}).get("requests") or {}
        cpu += cpu_millis(requests["cpu"]) if "cpu" in requests else \
            (DEFAULT_CPU_MILLIS if non_zero else 0)
        mem += memory_bytes(requests["memory"]) if "memory" in requests else \
            (DEFAULT_MEMORY if non_zero else 0)
    return cpu, mem


def owner_uid(pod: Object) -> str | None:
    for ref in (pod["metadata"].get("ownerReferences") or []):
        if ref.get("controller"):
            return ref["uid"]
    return None


@dataclass(frozen=True)
class NodeInfo:
    node: Object
    pods: tuple[Object, ...] = ()

    @property
    def name(self) -> str:
        return self.node["metadata"]["name"]

    def allocatable(self) -> tuple[int, int, int]:
        alloc = (self.node.get("status") or {}).get("allocatable") or {}
        return (cpu_millis(alloc.get("cpu", 0)), memory_bytes(alloc.get("memory", 0)),
                int(alloc.get("pods", 110)))

    def requested(self, non_zero: bool = False) -> tuple[int, int]:
        cpu = mem = 0
        for p in self.pods:
            c, m = pod_requests(p, non_zero)
            cpu, mem = cpu + c, mem + m
        return cpu, mem

    def host_ports(self) -> set[tuple[int, str]]:
        return {(port["hostPort"], port.get("protocol", "TCP"))
                for p in self.pods for c in p["spec"]["containers"]
                for port in c.get("ports") or [] if port.get("hostPort")}

    def with_pod(self, pod: Object) -> NodeInfo:
        return NodeInfo(self.node, (*self.pods, pod))


@dataclass(frozen=True)
class Snapshot:
    nodes: tuple[NodeInfo, ...] = field(default_factory=tuple)

    @classmethod
    def build(cls, nodes: list[Object], pods: list[Object]) -> Snapshot:
        """Pods count against their node while they hold resources (not Succeeded/Failed)."""
        by_node: dict[str, list[Object]] = {n["metadata"]["name"]: [] for n in nodes}
        for p in pods:
            node = p["spec"].get("nodeName")
            if node in by_node and (p.get("status") or {}).get("phase") not in ("Succeeded",
                                                                                 "Failed"):
                by_node[node].append(p)
        return cls(tuple(NodeInfo(n, tuple(by_node[n["metadata"]["name"]])) for n in
                         sorted(nodes, key=lambda n: n["metadata"]["name"])))

    def assume(self, pod: Object, node_name: str) -> Snapshot:
        """The snapshot after `pod` is bound to `node_name` (for the next decision)."""
        bound = {**pod, "spec": {**pod["spec"], "nodeName": node_name}}
        return Snapshot(tuple(n.with_pod(bound) if n.name == node_name else n for n in self.nodes))
