"""Filter: the node's labels satisfy the pod's `nodeSelector` and its required node affinity
(terms ORed, the expressions of a term ANDed; In, NotIn, Exists, DoesNotExist, Gt, Lt; and
matchFields on the node's name, which DaemonSet pods use). Pure; the rules are
kube.scheduling's."""

from __future__ import annotations

from kube.kinds.pod import Pod
from kube.scheduling import selects_node
from orchestrator.scheduler.snapshot import NodeInfo

NAME = "NodeAffinity"
REASON = "node(s) didn't match Pod's node affinity/selector"


def fits(pod: Pod, info: NodeInfo) -> list[str]:
    return [] if selects_node(pod.spec, info.node) else [REASON]
