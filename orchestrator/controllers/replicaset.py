"""ReplicaSet controller: keeps `spec.replicas` active pods matching the selector.

Pure part: which pods it owns, which orphans it adopts and which pods it releases, how many
pods to create, which to delete first (Kubernetes' ActivePods order: unscheduled, pending,
not ready, most restarted, newest), and the status. `sync` reads the ReplicaSet and a fresh list
of the namespace's pods (never a lagging cache, so a pod it just made is always counted) and
converges.
"""

from __future__ import annotations

import copy
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any

from kube import ownership
from kube.conditions import condition, pod_is_ready
from kube.events import EventRecorder
from kube.objects import Object
from kube.ownership import controller_uid
from kube.registry import by_kind
from kube.selectors import label_selector_matches
from kube.timestamps import parse_time
from orchestrator.api.objects import Objects
from orchestrator.api.status import ApiError
from orchestrator.controllers.base import Controller, Keys, object_key
from orchestrator.store.watchcache import WatchEvent

RS, POD = by_kind("apps/v1", "ReplicaSet"), by_kind("v1", "Pod")
MAX_PARALLEL_CREATES = 16


def is_active(pod: Object) -> bool:
    return not pod["metadata"].get("deletionTimestamp") and \
        (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")


def matches(rs: Object, pod: Object) -> bool:
    return label_selector_matches(rs["spec"]["selector"], pod["metadata"].get("labels") or {})


def owner_reference(rs: Object) -> Object:
    return ownership.owner_reference(rs, "apps/v1", rs.get("kind", "ReplicaSet"))


def deletion_rank(pod: Object) -> tuple[Any, ...]:
    """Sorts pods best-to-delete first (Kubernetes' controller.ActivePods order)."""
    status = pod.get("status") or {}
    phase_rank = {"Pending": 0, "Unknown": 1, "Running": 2}.get(status.get("phase", "Pending"), 0)
    restarts = sum(c.get("restartCount", 0) for c in status.get("containerStatuses") or [])
    created = pod["metadata"].get("creationTimestamp", "")
    return (1 if pod["spec"].get("nodeName") else 0, phase_rank, 1 if pod_is_ready(pod) else 0,
            -restarts, _invert(created), pod["metadata"]["name"])


def _invert(timestamp: str) -> str:
    """Newer first: invert the characters of an RFC 3339 timestamp so that sorting ascends."""
    return "".join(chr(255 - ord(c)) for c in timestamp)


def plan(rs: Object, pods: list[Object]) -> tuple[list[Object], list[Object], int, list[Object]]:
    """(to adopt, to release, how many to create, which to delete) for `pods` of the namespace."""
    uid = rs["metadata"]["uid"]
    adopt = [p for p in pods if controller_uid(p) is None and is_active(p) and matches(rs, p)]
    release = [p for p in pods if controller_uid(p) == uid and not matches(rs, p)]
    owned = [p for p in pods if (controller_uid(p) == uid and matches(rs, p)) or p in adopt]
    active = [p for p in owned if is_active(p)]
    diff = len(active) - rs["spec"].get("replicas", 1)
    if diff < 0:
        return adopt, release, -diff, []
    return adopt, release, 0, sorted(active, key=deletion_rank)[:diff]


def ready_since(pod: Object) -> datetime | None:
    ready = condition(pod, "Ready")
    if ready is None or ready.get("status") != "True":
        return None
    return parse_time(ready.get("lastTransitionTime"))


def available_in(pod: Object, min_ready_seconds: int, now: datetime) -> float | None:
    """Seconds until a ready pod counts as available (0: it is), None if it is not ready.
    A pod is available once it has been ready for minReadySeconds (Kubernetes' definition)."""
    if not pod_is_ready(pod):
        return None
    if min_ready_seconds <= 0:
        return 0.0
    since = ready_since(pod)
    if since is None:
        return 0.0
    return max(0.0, (since + timedelta(seconds=min_ready_seconds) - now).total_seconds())


def calculate_status(rs: Object, owned: list[Object], now: datetime | None = None) -> Object:
    now = now or datetime.now(timezone.utc)
    active = [p for p in owned if is_active(p)]
    template_labels = ((rs["spec"]["template"].get("metadata") or {}).get("labels") or {})
    ready = [p for p in active if pod_is_ready(p)]
    min_ready = rs["spec"].get("minReadySeconds", 0)
    available = [p for p in ready if available_in(p, min_ready, now) == 0]
    return {"replicas": len(active),
            "fullyLabeledReplicas": sum(1 for p in active if all(
                (p["metadata"].get("labels") or {}).get(k) == v for k, v in template_labels.items())),
            "readyReplicas": len(ready), "availableReplicas": len(available),
            "observedGeneration": rs["metadata"].get("generation", 1)}


def pod_from_template(rs: Object) -> Object:
    template = copy.deepcopy(rs["spec"]["template"])
    metadata = template.get("metadata") or {}
    metadata.update(generateName=f"{rs['metadata']['name']}-",
                    ownerReferences=[owner_reference(rs)])
    metadata.pop("name", None)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": template["spec"]}


class ReplicaSetController(Controller):
    name = "replicaset"

    def __init__(self, objects: Objects) -> None:
        super().__init__(objects)
        self.events = EventRecorder(objects, "replicaset-controller")

    def triggers(self) -> dict[str, Keys]:
        def from_pod(event: WatchEvent) -> list[str]:
            pod = event.object
            uid = controller_uid(pod)
            ns = pod["metadata"]["namespace"]
            sets, _ = self.store.cached("replicasets", ns)
            return [object_key(rs) for rs in sets
                    if rs["metadata"]["uid"] == uid or (uid is None and matches(rs, pod))]
        return {"replicasets": lambda e: [object_key(e.object)], "pods": from_pod}

    def all_keys(self) -> list[str]:
        return [object_key(rs) for rs in self.store.cached("replicasets")[0]]

    def sync(self, key: str) -> None:
        namespace, name = key.split("/", 1)
        try:
            rs = self.objects.get(RS, namespace, name)
        except ApiError as e:
            if e.code == 404:
                return  # its pods go with it (garbage collector)
            raise
        if rs["metadata"].get("deletionTimestamp"):
            return
        pods, _ = self.store.list("pods", namespace)
        adopt, release, create, delete = plan(rs, pods)
        for pod in adopt:
            refs = [*(pod["metadata"].get("ownerReferences") or []), owner_reference(rs)]
            self._patch_pod(pod, {"metadata": {"ownerReferences": refs,
                                               "resourceVersion": pod["metadata"]["resourceVersion"]}})
        for pod in release:
            refs = [r for r in pod["metadata"].get("ownerReferences") or []
                    if r.get("uid") != rs["metadata"]["uid"]]
            self._patch_pod(pod, {"metadata": {"ownerReferences": refs or None,
                                               "resourceVersion": pod["metadata"]["resourceVersion"]}})
        self._create_pods(rs, namespace, create)
        for pod in delete:
            try:
                self.objects.delete(POD, namespace, pod["metadata"]["name"])
            except ApiError as e:
                if e.code != 404:
                    raise
            self.events.normal(rs, "SuccessfulDelete", f"Deleted pod: {pod['metadata']['name']}")
        if adopt or release or create or delete:
            pods, _ = self.store.list("pods", namespace)
        owned = [p for p in pods if controller_uid(p) == rs["metadata"]["uid"]]
        now = datetime.now(timezone.utc)
        status = calculate_status(rs, owned, now)
        if (rs.get("status") or {}) != status:
            self.objects.update(RS, namespace, name, {**rs, "status": status},
                                subresource="status")
        # Ready pods that are not yet available (minReadySeconds): look again when they are.
        waits = [w for p in owned if is_active(p)
                 and (w := available_in(p, rs["spec"].get("minReadySeconds", 0), now))]
        if waits:
            self.queue.add_after(key, min(waits) + 0.1)

    def _create_pods(self, rs: Object, namespace: str, count: int) -> None:
        """Kubernetes' slow start: batches of 1, 2, 4, … created in parallel, stopping at the
        first failure, so a template that cannot be created fails once, not `count` times."""
        done, batch = 0, 1
        with ThreadPoolExecutor(max_workers=MAX_PARALLEL_CREATES) as pool:
            while done < count:
                size = min(batch, count - done)
                futures = [pool.submit(self.objects.create, POD, namespace, pod_from_template(rs))
                           for _ in range(size)]
                errors = []
                for future in futures:
                    try:
                        pod = future.result()
                        self.events.normal(rs, "SuccessfulCreate",
                                           f"Created pod: {pod['metadata']['name']}")
                    except ApiError as e:
                        errors.append(e)
                if errors:
                    self.events.warning(rs, "FailedCreate", f"Error creating: {errors[0].message}")
                    raise errors[0]
                done += size
                batch *= 2

    def _patch_pod(self, pod: Object, patch: Object) -> None:
        try:
            self.objects.patch(POD, pod["metadata"]["namespace"], pod["metadata"]["name"], patch)
        except ApiError as e:
            if e.code not in (404, 409):
                raise
