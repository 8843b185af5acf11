"""An immutable view of the cluster the scheduler decides on (pure), over typed, read-only
nodes and pods (kube.typed)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

from kube.kinds.namespace import Namespace
from kube.kinds.node import Node
from kube.kinds.persistentvolume import PersistentVolume
from kube.kinds.persistentvolumeclaim import PersistentVolumeClaim
from kube.kinds.pod import Container, Pod, effective_request
from kube.kinds.storageclass import StorageClass
from kube.ownership import controller_uid_of
from kube.quantity import cpu_millis, memory_bytes

# Kubernetes scores pods without requests as if they asked for this much (non-zero requests).
DEFAULT_CPU_MILLIS = 100
DEFAULT_MEMORY = 200 * 1024 * 1024
DEFAULT_MAX_PODS = 110  # a node that reports no allocatable pods: the kubelet's default


def pod_requests(pod: Pod, non_zero: bool = False) -> tuple[int, int]:
    """(cpu millicores, memory bytes) the pod requests, as Kubernetes' resource helpers count
    them (kube.kinds.pod.effective_request: the app containers and sidecars together, or the
    most the init containers need, one at a time, where that is more)."""

    def of(c: Container) -> tuple[int, int]:
        requests = (c.resources.requests if c.resources else None) or {}
        return (cpu_millis(requests["cpu"]) if "cpu" in requests
                else (DEFAULT_CPU_MILLIS if non_zero else 0),
                memory_bytes(requests["memory"]) if "memory" in requests
                else (DEFAULT_MEMORY if non_zero else 0))

    apps = [of(c) for c in pod.spec.containers]
    inits = [(of(c), c.is_sidecar) for c in pod.spec.init_containers or ()]
    return tuple(effective_request((a[i] for a in apps), ((r[i], s) for r, s in inits), 0)
                 for i in (0, 1))  # type: ignore[return-value]


def host_ports(pod: Pod) -> set[tuple[int, str]]:
    """The (port, protocol) pairs the pod's containers bind on their node."""
    return {(port.host_port, port.protocol) for c in pod.spec.containers
            for port in c.ports or () if port.host_port}


def has_pod_affinity(pod: Pod) -> bool:
    """The pod states inter-pod affinity or anti-affinity (its terms concern other pods)."""
    affinity = pod.spec.affinity
    return affinity is not None and (affinity.pod_affinity is not None
                                     or affinity.pod_anti_affinity is not None)


@dataclass(frozen=True)
class NodeInfo:
    node: Node
    pods: tuple[Pod, ...] = ()

    @property
    def name(self) -> str:
        return self.node.metadata.name or ""

    @cached_property
    def _allocatable(self) -> tuple[int, int, int]:
        alloc = self.node.status.allocatable or {}
        return (cpu_millis(alloc.get("cpu", 0)), memory_bytes(alloc.get("memory", 0)),
                int(alloc.get("pods", DEFAULT_MAX_PODS)))

    def allocatable(self) -> tuple[int, int, int]:
        """(cpu millicores, memory bytes, pods) the node offers."""
        return self._allocatable

    # NodeInfo is immutable, so what is derived from its pods is computed once (a pass scores
    # every node for every pending pod: recounting each time made scheduling quadratic).
    def requested(self, non_zero: bool = False) -> tuple[int, int]:
        return self._requested_non_zero if non_zero else self._requested

    @cached_property
    def _requested(self) -> tuple[int, int]:
        return self._sum_requests(False)

    @cached_property
    def _requested_non_zero(self) -> tuple[int, int]:
        return self._sum_requests(True)

    def _sum_requests(self, non_zero: bool) -> tuple[int, int]:
        cpu = mem = 0
        for p in self.pods:
            c, m = pod_requests(p, non_zero)
            cpu, mem = cpu + c, mem + m
        return cpu, mem

    def host_ports(self) -> set[tuple[int, str]]:
        return self._host_ports

    @cached_property
    def _host_ports(self) -> set[tuple[int, str]]:
        return {bound for p in self.pods for bound in host_ports(p)}

    @cached_property
    def owner_counts(self) -> Counter[str | None]:
        return Counter(controller_uid_of(p.metadata) for p in self.pods)

    def with_pod(self, pod: Pod) -> NodeInfo:
        return NodeInfo(self.node, (*self.pods, pod))


@dataclass(frozen=True)
class Storage:
    """The storage objects of the cluster, as the scheduler's snapshot holds them."""
    claims: Mapping[tuple[str, str], PersistentVolumeClaim] = field(default_factory=dict)
    volumes: Mapping[str, PersistentVolume] = field(default_factory=dict)
    classes: Mapping[str, StorageClass] = field(default_factory=dict)

    @classmethod
    def build(cls, claims: list[PersistentVolumeClaim], volumes: list[PersistentVolume],
              classes: list[StorageClass]) -> Storage:
        return cls({(c.metadata.namespace or "", c.metadata.name or ""): c for c in claims},
                   {v.metadata.name or "": v for v in volumes},
                   {c.metadata.name or "": c for c in classes})


@dataclass(frozen=True)
class Snapshot:
    nodes: tuple[NodeInfo, ...] = field(default_factory=tuple)
    storage: Storage = field(default_factory=Storage)
    # namespace name → its labels (what pod-affinity terms' namespaceSelectors select)
    namespace_labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    @classmethod
    def build(cls, nodes: list[Node], pods: list[Pod],
              storage: Storage | None = None,
              namespaces: list[Namespace] | None = None) -> Snapshot:
        """Pods count against their node while they hold resources (not Succeeded/Failed)."""
        by_node: dict[str, list[Pod]] = {n.metadata.name or "": [] for n in nodes}
        for p in pods:
            node = p.spec.node_name
            if node in by_node and p.status.phase not in ("Succeeded", "Failed"):
                by_node[node].append(p)
        return cls(tuple(NodeInfo(n, tuple(by_node[n.metadata.name or ""])) for n in
                         sorted(nodes, key=lambda n: n.metadata.name or "")),
                   storage or Storage(),
                   {n.metadata.name or "": n.metadata.labels or {} for n in namespaces or ()})

    @cached_property
    def pods_with_affinity(self) -> tuple[tuple[Pod, NodeInfo], ...]:
        """The placed pods that state pod affinity or anti-affinity, with their nodes."""
        return tuple((p, info) for info in self.nodes for p in info.pods if has_pod_affinity(p))

    def most_of_owner(self, owner: str) -> int:
        """The largest number of `owner`'s pods on any one node (memoised per snapshot)."""
        memo: dict[str, int] = self.__dict__.setdefault("_most_of_owner", {})
        if owner not in memo:
            memo[owner] = max((n.owner_counts[owner] for n in self.nodes), default=0)
        return memo[owner]

    def assume(self, pod: Pod, node_name: str) -> Snapshot:
        """The snapshot after `pod` is bound to `node_name` (for the next decision)."""
        bound = pod.model_copy(update={"spec": pod.spec.model_copy(update={"node_name": node_name})})
        after = Snapshot(tuple(n.with_pod(bound) if n.name == node_name else n
                               for n in self.nodes), self.storage, self.namespace_labels)
        if "pods_with_affinity" in self.__dict__:  # carried forward: no walk over every pod
            with_affinity = self.pods_with_affinity
            if has_pod_affinity(bound):
                info = next(n for n in after.nodes if n.name == node_name)
                with_affinity = (*with_affinity, (bound, info))
            after.__dict__["pods_with_affinity"] = with_affinity
        return after
