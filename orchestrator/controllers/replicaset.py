"""ReplicaSet controller: keeps `spec.replicas` active pods matching the selector.

Pure part: which pods it owns, which orphans it adopts and which pods it releases, how many
pods to create, which to delete first (Kubernetes' ActivePods order: unscheduled, pending,
not ready, most restarted, newest), and the status. `sync` reads the ReplicaSet and a fresh list
of the namespace's pods (never a lagging cache, so a pod it just made is always counted) and
converges.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from kube.conditions import ready, typed_find
from kube.events import EventRecorder
from kube.kinds.pod import Pod
from kube.kinds.replicaset import ReplicaSet
from kube.meta import OwnerReference, selector_matches
from kube.objects import Object
from kube.ownership import controller_reference, controller_uid_of
from kube.registry import by_kind
from kube.timestamps import parse_time
from kube.typed import typed, typed_all
from orchestrator.api.objects import Objects
from orchestrator.api.status import ApiError
from orchestrator.controllers.base import Controller, Keys, object_key, slow_start
from orchestrator.store.watchcache import WatchEvent

RS, POD = by_kind("apps/v1", "ReplicaSet"), by_kind("v1", "Pod")


def is_active(pod: Pod) -> bool:
    return not pod.metadata.deletion_timestamp and pod.status.phase not in ("Succeeded", "Failed")


def matches(rs: ReplicaSet, pod: Pod) -> bool:
    return selector_matches(rs.spec.selector, pod.metadata.labels)


def deletion_rank(pod: Pod) -> tuple[Any, ...]:
    """Sorts pods best-to-delete first (Kubernetes' controller.ActivePods order)."""
    phase_rank = {"Pending": 0, "Unknown": 1, "Running": 2}.get(pod.status.phase or "Pending", 0)
    restarts = sum(c.restart_count for c in pod.status.container_statuses or ())
    return (1 if pod.spec.node_name else 0, phase_rank, 1 if ready(pod.status.conditions) else 0,
            -restarts, _invert(pod.metadata.creation_timestamp or ""), pod.metadata.name or "")


def _invert(timestamp: str) -> str:
    """Newer first: invert the characters of an RFC 3339 timestamp so that sorting ascends."""
    return "".join(chr(255 - ord(c)) for c in timestamp)


def plan(rs: ReplicaSet, pods: list[Pod]) -> tuple[list[Pod], list[Pod], int, list[Pod]]:
    """(to adopt, to release, how many to create, which to delete) for `pods` of the namespace."""
    uid = rs.metadata.uid
    adopt = [p for p in pods
             if controller_uid_of(p.metadata) is None and is_active(p) and matches(rs, p)]
    release = [p for p in pods if controller_uid_of(p.metadata) == uid and not matches(rs, p)]
    owned = [p for p in pods
             if (controller_uid_of(p.metadata) == uid and matches(rs, p)) or p in adopt]
    active = [p for p in owned if is_active(p)]
    diff = len(active) - rs.spec.replicas
    if diff < 0:
        return adopt, release, -diff, []
    return adopt, release, 0, sorted(active, key=deletion_rank)[:diff]


def ready_since(pod: Pod) -> datetime | None:
    condition = typed_find(pod.status.conditions, "Ready")
    if condition is None or condition.status != "True":
        return None
    return parse_time(condition.last_transition_time)


def available_in(pod: Pod, min_ready_seconds: int, now: datetime) -> float | None:
    """Seconds until a ready pod counts as available (0: it is), None if it is not ready.
    A pod is available once it has been ready for minReadySeconds (Kubernetes' definition)."""
    if not ready(pod.status.conditions):
        return None
    if min_ready_seconds <= 0:
        return 0.0
    since = ready_since(pod)
    if since is None:
        return 0.0
    return max(0.0, (since + timedelta(seconds=min_ready_seconds) - now).total_seconds())


def calculate_status(rs: ReplicaSet, owned: list[Pod], now: datetime | None = None) -> Object:
    """The ReplicaSet's status (as written: JSON) for the pods it owns."""
    now = now or datetime.now(timezone.utc)
    active = [p for p in owned if is_active(p)]
    template_labels = (rs.spec.template.metadata.labels if rs.spec.template.metadata else None) or {}
    ready_pods = [p for p in active if ready(p.status.conditions)]
    available = [p for p in ready_pods if available_in(p, rs.spec.min_ready_seconds, now) == 0]
    return {"replicas": len(active),
            "fullyLabeledReplicas": sum(1 for p in active if all(
                (p.metadata.labels or {}).get(k) == v for k, v in template_labels.items())),
            "readyReplicas": len(ready_pods), "availableReplicas": len(available),
            "observedGeneration": rs.metadata.generation or 1}


def pod_from_template(rs: ReplicaSet) -> Object:
    """A new pod of `rs` (JSON, to create): its template, named after it and owned by it."""
    template = rs.spec.template.to_dict()
    metadata = template.get("metadata") or {}
    metadata.update(generateName=f"{rs.metadata.name}-", ownerReferences=[controller_reference(rs)])
    metadata.pop("name", None)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": template["spec"]}


def _references(refs: list[OwnerReference] | None) -> list[Object]:
    return [r.to_dict() for r in refs or ()]


class ReplicaSetController(Controller):
    """`kind` and `view` let another kind with a ReplicaSet's meaning reuse this controller, as
    Kubernetes' replication manager does: ReplicationControllers are read as ReplicaSets (their
    kind and version kept, so their pods' owner references name them) and their status is
    written back as it is (the same fields)."""

    name = "replicaset"
    kind = RS
    component = "replicaset-controller"

    def __init__(self, objects: Objects) -> None:
        super().__init__(objects)
        self.events = EventRecorder(objects, self.component)

    def view(self, stored: Object) -> ReplicaSet:
        return typed(ReplicaSet, stored)

    def triggers(self) -> dict[str, Keys]:
        resource = self.kind.resource

        def from_pod(event: WatchEvent) -> list[str]:
            pod = typed(Pod, event.object)
            uid = controller_uid_of(pod.metadata)
            sets, _ = self.store.cached(resource, pod.metadata.namespace)
            return [object_key(rs) for rs in sets
                    if rs["metadata"]["uid"] == uid
                    or (uid is None and matches(self.view(rs), pod))]
        return {resource: lambda e: [object_key(e.object)], "pods": from_pod}

    def all_keys(self) -> list[str]:
        return [object_key(rs) for rs in self.store.cached(self.kind.resource)[0]]

    def sync(self, key: str) -> None:
        namespace, name = key.split("/", 1)
        try:
            stored = self.objects.get(self.kind, namespace, name)
        except ApiError as e:
            if e.code == 404:
                return  # its pods go with it (garbage collector)
            raise
        rs = self.view(stored)
        if rs.metadata.deletion_timestamp:
            return
        pods = typed_all(Pod, self.store.list("pods", namespace)[0])
        adopt, release, create, delete = plan(rs, pods)
        for pod in adopt:
            refs = [*_references(pod.metadata.owner_references), controller_reference(rs)]
            self._patch_pod(pod, {"metadata": {"ownerReferences": refs,
                                               "resourceVersion": pod.metadata.resource_version}})
        for pod in release:
            kept = [r for r in pod.metadata.owner_references or () if r.uid != rs.metadata.uid]
            self._patch_pod(pod, {"metadata": {"ownerReferences": _references(kept) or None,
                                               "resourceVersion": pod.metadata.resource_version}})
        self._create_pods(rs, namespace, create)
        for pod in delete:
            try:
                self.objects.delete(POD, namespace, pod.metadata.name or "")
            except ApiError as e:
                if e.code != 404:
                    raise
            self.events.normal(rs, "SuccessfulDelete", f"Deleted pod: {pod.metadata.name}")
        if adopt or release or create or delete:
            pods = typed_all(Pod, self.store.list("pods", namespace)[0])
        owned = [p for p in pods if controller_uid_of(p.metadata) == rs.metadata.uid]
        now = datetime.now(timezone.utc)
        status = calculate_status(rs, owned, now)
        if (stored.get("status") or {}) != status:
            self.objects.update(self.kind, namespace, name, {**stored, "status": status},
                                subresource="status")
        # Ready pods that are not yet available (minReadySeconds): look again when they are.
        waits = [w for p in owned if is_active(p)
                 and (w := available_in(p, rs.spec.min_ready_seconds, now))]
        if waits:
            self.queue.add_after(key, min(waits) + 0.1)

    def _create_pods(self, rs: ReplicaSet, namespace: str, count: int) -> None:
        slow_start([pod_from_template(rs) for _ in range(count)],
                   lambda body: self.objects.create(POD, namespace, body),
                   lambda pod: self.events.normal(rs, "SuccessfulCreate",
                                                  f"Created pod: {pod['metadata']['name']}"),
                   lambda e: self.events.warning(rs, "FailedCreate",
                                                 f"Error creating: {e.message}"))

    def _patch_pod(self, pod: Pod, patch: Object) -> None:
        try:
            self.objects.patch(POD, pod.metadata.namespace or "", pod.metadata.name or "", patch)
        except ApiError as e:
            if e.code not in (404, 409):
                raise
