"""Filter: the node's Ready condition is True (Kubernetes keeps this in its node lifecycle
taints; here the scheduler checks the condition itself). Pure."""

from __future__ import annotations

from kube.conditions import ready
from kube.kinds.pod import Pod
from orchestrator.scheduler.snapshot import NodeInfo

NAME = "NodeReady"
REASON = "node(s) were not ready"


def fits(pod: Pod, info: NodeInfo) -> list[str]:
    return [] if ready(info.node.status.conditions) else [REASON]
