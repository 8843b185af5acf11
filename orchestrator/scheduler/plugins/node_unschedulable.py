"""Filter: the node is not cordoned (`spec.unschedulable`), unless the pod tolerates the
unschedulable taint (node.kubernetes.io/unschedulable:NoSchedule, which DaemonSet pods get), as
Kubernetes' NodeUnschedulable has it. Pure."""

from __future__ import annotations

from kube.kinds.node import Taint
from kube.kinds.pod import Pod
from kube.scheduling import untolerated
from orchestrator.scheduler.snapshot import NodeInfo

NAME = "NodeUnschedulable"
REASON = "node(s) were unschedulable"
UNSCHEDULABLE = Taint(key="node.kubernetes.io/unschedulable", effect="NoSchedule")


def fits(pod: Pod, info: NodeInfo) -> list[str]:
    if not info.node.spec.unschedulable:
        return []
    return [REASON] if untolerated(pod.spec.tolerations, [UNSCHEDULABLE]) else []
