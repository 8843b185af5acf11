"""TaintToleration, a filter and a score, as Kubernetes has it. Pure.

- Filter: the pod tolerates every NoSchedule and NoExecute taint of the node.
- Score: PreferNoSchedule taints steer without forbidding: a node with fewer taints the pod
  does not tolerate is better (100 for none, 50 for one, 33 for two…, the order Kubernetes'
  normalized score gives).
"""

from __future__ import annotations

from kube.kinds.pod import Pod
from kube.scheduling import tolerates, untolerated
from orchestrator.scheduler.snapshot import NodeInfo, Snapshot

NAME = "TaintToleration"
WEIGHT = 3.0
REASON = "node(s) had untolerated taint {{{key}: {value}}}"


def fits(pod: Pod, info: NodeInfo) -> list[str]:
    taint = untolerated(pod.spec.tolerations, info.node.spec.taints)
    return [] if taint is None else [REASON.format(key=taint.key, value=taint.value or "")]


def intolerable_preferences(pod: Pod, info: NodeInfo) -> int:
    """How many of the node's PreferNoSchedule taints the pod does not tolerate."""
    tolerations = [t for t in pod.spec.tolerations or () if t.effect in (None, "PreferNoSchedule")]
    return sum(1 for taint in info.node.spec.taints or () if taint.effect == "PreferNoSchedule"
               and not any(tolerates(t, taint) for t in tolerations))


def score(pod: Pod, info: NodeInfo, snapshot: Snapshot) -> float:
    return 100.0 / (1 + intolerable_preferences(pod, info))
