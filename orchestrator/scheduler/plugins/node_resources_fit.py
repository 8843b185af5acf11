"""Filter: the pod's cpu and memory requests, and one more pod, fit the node's allocatable
beside what its pods request. Pure."""

from __future__ import annotations

from kube.kinds.pod import Pod
from orchestrator.scheduler.snapshot import NodeInfo, pod_requests

NAME = "NodeResourcesFit"
TOO_MANY_PODS = "Too many pods"
INSUFFICIENT_CPU = "Insufficient cpu"
INSUFFICIENT_MEMORY = "Insufficient memory"


def fits(pod: Pod, info: NodeInfo) -> list[str]:
    cpu, mem = pod_requests(pod)
    alloc_cpu, alloc_mem, alloc_pods = info.allocatable()
    used_cpu, used_mem = info.requested()
    reasons = []
    if len(info.pods) + 1 > alloc_pods:
        reasons.append(TOO_MANY_PODS)
    if cpu and used_cpu + cpu > alloc_cpu:
        reasons.append(INSUFFICIENT_CPU)
    if mem and used_mem + mem > alloc_mem:
        reasons.append(INSUFFICIENT_MEMORY)
    return reasons
