"""Filter and score plugins: each a NAME, a user-facing REASON (filters) and a pure function.
Filters: `fits(pod, node_info) -> list of reasons it does not fit` (empty = fits).
Scores: `score(pod, node_info, snapshot) -> 0..100`, higher is better."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from orchestrator.scheduler.snapshot import NodeInfo, Snapshot, owner_uid, pod_requests

Object = dict[str, Any]


# --- filters ---

def node_ready(pod: Object, info: NodeInfo) -> list[str]:
    conditions = (info.node.get("status") or {}).get("conditions") or []
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    return [] if ready else ["node(s) were not ready"]


def node_schedulable(pod: Object, info: NodeInfo) -> list[str]:
    return ["node(s) were unschedulable"] if (info.node.get("spec") or {}).get("unschedulable") \
        else []


def resources_fit(pod: Object, info: NodeInfo) -> list[str]:
    cpu, mem = pod_requests(pod)
    alloc_cpu, alloc_mem, alloc_pods = info.allocatable()
    used_cpu, used_mem = info.requested()
    reasons = []
    if len(info.pods) + 1 > alloc_pods:
        reasons.append("Too many pods")
    if cpu and used_cpu + cpu > alloc_cpu:
        reasons.append("Insufficient cpu")
    if mem and used_mem + mem > alloc_mem:
        reasons.append("Insufficient memory")
    return reasons


def _expression_matches(expr: Object, labels: dict[str, str]) -> bool:
    key, op, values = expr["key"], expr["operator"], expr.get("values") or []
    value = labels.get(key)
    if op == "In":
        return value in values
    if op == "NotIn":
        return value not in values
    if op == "Exists":
        return key in labels
    if op == "DoesNotExist":
        return key not in labels
    try:
        number = int(value) if value is not None else None
        bound = int(values[0])
    except (ValueError, IndexError):
        return False
    if number is None:
        return False
    return number > bound if op == "Gt" else number < bound


def node_affinity(pod: Object, info: NodeInfo) -> list[str]:
    labels = info.node["metadata"].get("labels") or {}
    spec = pod["spec"]
    selector_ok = all(labels.get(k) == v for k, v in (spec.get("nodeSelector") or {}).items())
    required = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution"))
    affinity_ok = True
    if required:  # terms are ORed, expressions within a term ANDed
        affinity_ok = any(all(_expression_matches(e, labels) for e in t.get("matchExpressions") or [])
                          for t in required["nodeSelectorTerms"])
    return [] if selector_ok and affinity_ok else ["node(s) didn't match Pod's node affinity/selector"]


def host_ports(pod: Object, info: NodeInfo) -> list[str]:
    wanted = {(p["hostPort"], p.get("protocol", "TCP")) for c in pod["spec"]["containers"]
              for p in c.get("ports") or [] if p.get("hostPort")}
    return ["node(s) didn't have free ports for the requested pod ports"] \
        if wanted & info.host_ports() else []


def _tolerates(toleration: Object, taint: Object) -> bool:
    if toleration.get("effect") and toleration["effect"] != taint["effect"]:
        return False
    if toleration.get("operator", "Equal") == "Exists":
        return not toleration.get("key") or toleration["key"] == taint["key"]
    return toleration.get("key") == taint["key"] and \
        (toleration.get("value") or "") == (taint.get("value") or "")


def taints_tolerated(pod: Object, info: NodeInfo) -> list[str]:
    tolerations = pod["spec"].get("tolerations") or []
    for taint in (info.node.get("spec") or {}).get("taints") or []:
        if taint["effect"] == "PreferNoSchedule":
            continue
        if not any(_tolerates(t, taint) for t in tolerations):
            value = taint.get("value") or ""
            return [f"node(s) had untolerated taint {{{taint['key']}: {value}}}"]
    return []


FILTERS = (("NodeReady", node_ready), ("NodeUnschedulable", node_schedulable),
           ("NodeResourcesFit", resources_fit), ("NodeAffinity", node_affinity),
           ("NodePorts", host_ports), ("TaintToleration", taints_tolerated))


# --- scores ---

def _fractions(pod: Object, info: NodeInfo) -> tuple[float, float]:
    cpu, mem = pod_requests(pod, non_zero=True)
    used_cpu, used_mem = info.requested(non_zero=True)
    alloc_cpu, alloc_mem, _ = info.allocatable()
    return (min(1.0, (used_cpu + cpu) / alloc_cpu) if alloc_cpu else 1.0,
            min(1.0, (used_mem + mem) / alloc_mem) if alloc_mem else 1.0)


def least_allocated(pod: Object, info: NodeInfo, snapshot: Snapshot) -> float:
    cpu, mem = _fractions(pod, info)
    return (1 - (cpu + mem) / 2) * 100


def balanced_allocation(pod: Object, info: NodeInfo, snapshot: Snapshot) -> float:
    cpu, mem = _fractions(pod, info)
    return (1 - abs(cpu - mem)) * 100


def owner_spread(pod: Object, info: NodeInfo, snapshot: Snapshot) -> float:
    """Fewer pods of the same controller on the node is better."""
    owner = owner_uid(pod)
    if owner is None:
        return 100.0
    most = snapshot.most_of_owner(owner)
    return 100.0 if most == 0 else (most - info.owner_counts[owner]) / most * 100


def intolerable_preferences(pod: Object, info: NodeInfo) -> int:
    """How many of the node's PreferNoSchedule taints the pod does not tolerate."""
    tolerations = [t for t in pod["spec"].get("tolerations") or []
                   if t.get("effect") in (None, "", "PreferNoSchedule")]
    return sum(1 for taint in (info.node.get("spec") or {}).get("taints") or []
               if taint["effect"] == "PreferNoSchedule"
               and not any(_tolerates(t, taint) for t in tolerations))


def taint_preferences(pod: Object, info: NodeInfo, snapshot: Snapshot) -> float:
    """PreferNoSchedule: a node with fewer taints the pod does not tolerate is better (100 for
    none, 50 for one, 33 for two…), the order Kubernetes' TaintToleration score gives."""
    return 100.0 / (1 + intolerable_preferences(pod, info))


Score = Callable[[Object, NodeInfo, Snapshot], float]
SCORES: tuple[tuple[str, Score, float], ...] = (
          ("NodeResourcesLeastAllocated", least_allocated, 1),
          ("NodeResourcesBalancedAllocation", balanced_allocation, 1),
          ("SelectorSpread", owner_spread, 2),
          ("TaintToleration", taint_preferences, 3))
