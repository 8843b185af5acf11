"""Score: the node with the most room left after the pod (the mean of its cpu and memory
fractions free; pods without requests count as Kubernetes' non-zero defaults). Pure."""

from __future__ import annotations

from kube.kinds.pod import Pod
from orchestrator.scheduler.snapshot import NodeInfo, Snapshot, pod_requests

NAME = "NodeResourcesLeastAllocated"
WEIGHT = 1.0


def requested_fractions(pod: Pod, info: NodeInfo) -> tuple[float, float]:
    """(cpu, memory) of the node's allocatable its pods and `pod` would request, each ≤ 1."""
    cpu, mem = pod_requests(pod, non_zero=True)
    used_cpu, used_mem = info.requested(non_zero=True)
    alloc_cpu, alloc_mem, _ = info.allocatable()
    return (min(1.0, (used_cpu + cpu) / alloc_cpu) if alloc_cpu else 1.0,
            min(1.0, (used_mem + mem) / alloc_mem) if alloc_mem else 1.0)


def score(pod: Pod, info: NodeInfo, snapshot: Snapshot) -> float:
    cpu, mem = requested_fractions(pod, info)
    return (1 - (cpu + mem) / 2) * 100
