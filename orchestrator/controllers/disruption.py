"""Disruption controller: keeps each PodDisruptionBudget's status — how many of its pods are
expected, how many must be healthy, how many are, and so how many may be disrupted now — as
Kubernetes' disruption controller does. The eviction subresource spends `disruptionsAllowed`
and records the pod in `disruptedPods` until its deletion is seen (or DISRUPTED_TIMEOUT).

Expected pods: with an integer minAvailable, the pods the selector picks; otherwise (a
percentage, or maxUnavailable) the replicas their controllers want (a ReplicaSet's
Deployment, a ReplicationController, a StatefulSet). A pod without such a controller leaves
the budget allowing nothing, with an event that says why.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

from kube.conditions import ready
from kube.events import EventRecorder
from kube.kinds.pod import Pod
from kube.kinds.poddisruptionbudget import PodDisruptionBudget
from kube.meta import selector_matches
from kube.objects import Object
from kube.ownership import controller_of
from kube.registry import by_kind
from kube.timestamps import parse_time
from kube.typed import typed, typed_all
from orchestrator.api.objects import Objects
from orchestrator.controllers.base import Controller, Keys, object_key
from orchestrator.store.watchcache import WatchEvent

PDB = by_kind("policy/v1", "PodDisruptionBudget")
DISRUPTED_TIMEOUT = timedelta(minutes=2)  # Kubernetes' DeletionTimeout
SCALED = {("apps/v1", "ReplicaSet"), ("apps/v1", "StatefulSet"), ("apps/v1", "Deployment"),
          ("v1", "ReplicationController")}


# --- pure -------------------------------------------------------------------------------------

def selected(pdb: PodDisruptionBudget, pods: list[Pod]) -> list[Pod]:
    """policy/v1: an empty selector picks every pod of the namespace, none picks none."""
    if pdb.spec.selector is None:
        return []
    return [p for p in pods if selector_matches(pdb.spec.selector, p.metadata.labels)]


def scaled(value: int | str, total: int) -> int:
    """An int or a percentage of `total`, rounded up (Kubernetes' GetScaledValueFromIntOrPercent
    with roundUp)."""
    if isinstance(value, int):
        return value
    return math.ceil(int(value.rstrip("%")) * total / 100)


def budget(pdb: PodDisruptionBudget, expected: int) -> int:
    """desiredHealthy for `expected` pods."""
    spec = pdb.spec
    if spec.max_unavailable is not None:
        return max(0, expected - scaled(spec.max_unavailable, expected))
    if spec.min_available is not None:
        return scaled(spec.min_available, expected)
    return 0


def still_disrupted(pdb: PodDisruptionBudget, pods: list[Pod], now: datetime
                    ) -> dict[str, str]:
    """The disruptedPods entries that stand: the pod exists, is not yet being deleted, and was
    evicted less than DISRUPTED_TIMEOUT ago."""
    live = {p.metadata.name: p for p in pods}
    out = {}
    for name, when in (pdb.status.disrupted_pods or {}).items():
        pod, at = live.get(name), parse_time(when)
        if pod is not None and not pod.metadata.deletion_timestamp and at is not None and \
                now - at < DISRUPTED_TIMEOUT:
            out[name] = when
    return out


def calculate_status(pdb: PodDisruptionBudget, pods: list[Pod], expected: int | None,
                     now: datetime) -> Object:
    """The status (JSON) given the selected pods and the expected count (None: it could not
    be known, and nothing may be disrupted)."""
    disrupted = still_disrupted(pdb, pods, now)
    healthy = sum(1 for p in pods if ready(p.status.conditions) and
                  not p.metadata.deletion_timestamp and p.metadata.name not in disrupted)
    desired = budget(pdb, expected) if expected is not None else 0
    allowed = max(0, healthy - desired) if expected is not None else 0
    condition: Object = {"type": "DisruptionAllowed", "observedGeneration":
                         pdb.metadata.generation or 1,
                         **({"status": "True", "reason": "SufficientPods", "message": ""}
                            if allowed else
                            {"status": "False", "reason": "InsufficientPods" if expected
                             is not None else "SyncFailed", "message": ""})}
    previous = next((c.to_dict() for c in pdb.status.conditions or ()
                     if c.type == "DisruptionAllowed"), None)
    condition["lastTransitionTime"] = previous["lastTransitionTime"] \
        if previous and previous.get("status") == condition["status"] and \
        previous.get("lastTransitionTime") else now.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"observedGeneration": pdb.metadata.generation or 1,
            **({"disruptedPods": disrupted} if disrupted else {}),
            "disruptionsAllowed": allowed, "currentHealthy": healthy,
            "desiredHealthy": desired, "expectedPods": expected if expected is not None else 0,
            "conditions": [condition]}


# --- the controller ---------------------------------------------------------------------------

class DisruptionController(Controller):
    name = "disruption"

    def __init__(self, objects: Objects) -> None:
        super().__init__(objects)
        self.events = EventRecorder(objects, "controllermanager")

    def triggers(self) -> dict[str, Keys]:
        def from_pod(event: WatchEvent) -> list[str]:
            pod = typed(Pod, event.object)
            budgets, _ = self.store.cached("poddisruptionbudgets", pod.metadata.namespace)
            return [object_key(b) for b in budgets
                    if selected(typed(PodDisruptionBudget, b), [pod])]
        return {"poddisruptionbudgets": lambda e: [object_key(e.object)], "pods": from_pod}

    def all_keys(self) -> list[str]:
        return [object_key(b) for b in self.store.cached("poddisruptionbudgets")[0]]

    def sync(self, key: str) -> None:
        namespace, name = key.split("/", 1)
        stored = self.get_or_none(PDB, namespace, name)
        if stored is None:
            return
        pdb = typed(PodDisruptionBudget, stored)
        pods = selected(pdb, typed_all(Pod, self.store.list("pods", namespace)[0]))
        expected = self._expected(pdb, pods)
        now = datetime.now(timezone.utc)
        status = calculate_status(pdb, pods, expected, now)
        if (stored.get("status") or {}) != status:
            self.objects.update(PDB, namespace, name, {**stored, "status": status},
                                subresource="status")
        if status.get("disruptedPods"):  # look again when those entries expire
            self.queue.add_after(key, DISRUPTED_TIMEOUT.total_seconds() + 0.5)

    def _expected(self, pdb: PodDisruptionBudget, pods: list[Pod]) -> int | None:
        spec = pdb.spec
        if isinstance(spec.min_available, int) and spec.max_unavailable is None:
            return len(pods)
        scales: dict[str, int] = {}
        for pod in pods:
            ref = controller_of(pod.metadata)
            if ref is None or (ref.api_version, ref.kind) not in SCALED:
                self.events.warning(pdb, "CalculateExpectedPodCountFailed",
                                    f"Failed to calculate the number of expected pods: found "
                                    f"no controller with a scale for pod {pod.metadata.name}")
                return None
            owner = self._scale_owner(pod.metadata.namespace or "", ref.api_version, ref.kind,
                                      ref.name)
            if owner is None:
                return None
            scales[owner["metadata"]["uid"]] = (owner.get("spec") or {}).get("replicas", 1)
        return sum(scales.values())

    def _scale_owner(self, namespace: str, api_version: str, kind: str,
                     name: str) -> Object | None:
        """The object whose replicas count: a ReplicaSet's Deployment where it has one."""
        owner = self.get_or_none(by_kind(api_version, kind), namespace, name)
        if owner is None:
            return None
        if kind == "ReplicaSet":
            parent = next((r for r in owner["metadata"].get("ownerReferences") or ()
                           if r.get("controller") and r.get("kind") == "Deployment"), None)
            if parent is not None:
                return self._scale_owner(namespace, "apps/v1", "Deployment", parent["name"])
        return owner
