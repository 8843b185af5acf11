"""Score: the node whose cpu and memory would be used in the most even proportion. Pure."""

from __future__ import annotations

from kube.kinds.pod import Pod
from orchestrator.scheduler.plugins.least_allocated import requested_fractions
from orchestrator.scheduler.snapshot import NodeInfo, Snapshot

NAME = "NodeResourcesBalancedAllocation"
WEIGHT = 1.0


def score(pod: Pod, info: NodeInfo, snapshot: Snapshot) -> float:
    cpu, mem = requested_fractions(pod, info)
    return (1 - abs(cpu - mem)) * 100
