"""TaintToleration, a filter and a score, as Kubernetes has it. Pure.

- Filter: the pod tolerates every NoSchedule and NoExecute taint of the node.
- Score: PreferNoSchedule taints steer without forbidding: a node with fewer taints the pod
  does not tolerate is better (100 for none, 50 for one, 33 for two…, the order Kubernetes'
  normalized score gives).
"""

from __future__ import annotations


from kube.objects import Object
from orchestrator.scheduler.snapshot import NodeInfo, Snapshot

NAME = "TaintToleration"
WEIGHT = 3.0
REASON = "node(s) had untolerated taint {{{key}: {value}}}"


def tolerates(toleration: Object, taint: Object) -> bool:
    """Kubernetes' Toleration.ToleratesTaint: same effect (or none given), and Exists with the
    same key (or no key: every taint), or Equal with the same key and value."""
    if toleration.get("effect") and toleration["effect"] != taint["effect"]:
        return False
    if toleration.get("operator", "Equal") == "Exists":
        return not toleration.get("key") or toleration["key"] == taint["key"]
    return toleration.get("key") == taint["key"] and \
        (toleration.get("value") or "") == (taint.get("value") or "")


def _taints(info: NodeInfo) -> list[Object]:
    taints: list[Object] = (info.node.get("spec") or {}).get("taints") or []
    return taints


def fits(pod: Object, info: NodeInfo) -> list[str]:
    tolerations = pod["spec"].get("tolerations") or []
    for taint in _taints(info):
        if taint["effect"] == "PreferNoSchedule":
            continue
        if not any(tolerates(t, taint) for t in tolerations):
            return [REASON.format(key=taint["key"], value=taint.get("value") or "")]
    return []


def intolerable_preferences(pod: Object, info: NodeInfo) -> int:
    """How many of the node's PreferNoSchedule taints the pod does not tolerate."""
    tolerations = [t for t in pod["spec"].get("tolerations") or []
                   if t.get("effect") in (None, "", "PreferNoSchedule")]
    return sum(1 for taint in _taints(info) if taint["effect"] == "PreferNoSchedule"
               and not any(tolerates(t, taint) for t in tolerations))


def score(pod: Object, info: NodeInfo, snapshot: Snapshot) -> float:
    return 100.0 / (1 + intolerable_preferences(pod, info))
