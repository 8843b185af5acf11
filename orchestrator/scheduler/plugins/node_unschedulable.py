"""Filter: the node is not cordoned (`spec.unschedulable`). Pure."""

from __future__ import annotations

from kube.kinds.pod import Pod
from orchestrator.scheduler.snapshot import NodeInfo

NAME = "NodeUnschedulable"
REASON = "node(s) were unschedulable"


def fits(pod: Pod, info: NodeInfo) -> list[str]:
    return [REASON] if info.node.spec.unschedulable else []
