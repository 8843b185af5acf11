"""DaemonSet controller: one daemon pod on every node that should run it, as Kubernetes' daemon
controller keeps them.

Which nodes: those whose labels and name the template's nodeSelector and required node
affinity admit, and whose NoSchedule/NoExecute taints it tolerates (with the tolerations every
daemon pod gets: not-ready and unreachable nodes keep their daemons, cordoned and pressured
nodes get them). A node that gains an untolerated NoExecute taint, or stops matching, loses its
pod; a node added gets one. The pods are placed by the scheduler, as in Kubernetes: each is
made with a node affinity on its node's name (matchFields metadata.name), so the scheduler's
own filters (resources, host ports) still hold.

Updates: the `controller-revision-hash` label says which template a pod was made from; each
template has a ControllerRevision (history.py), which `kubectl rollout history|undo` reads.
RollingUpdate replaces old pods node by node within maxUnavailable (deleting, then letting
the next sync create) or maxSurge (creating beside, then deleting the old one once the new one
is available); OnDelete replaces only pods that are deleted.

Pure part: the module functions (which nodes, the pod to create, the plan, the status).
`DaemonSetController.sync` reads the DaemonSet, the nodes and a fresh list of the namespace's
pods, and converges.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from kube.conditions import ready
from kube.events import EventRecorder
from kube.kinds.daemonset import DaemonSet
from kube.kinds.node import Node
from kube.kinds.pod import Pod, PodSpec
from kube.objects import Object
from kube.ownership import controller_reference
from kube.registry import by_kind
from kube.scheduling import selects_node, untolerated
from kube.typed import typed, typed_all
from orchestrator.api.objects import Objects
from orchestrator.api.status import ApiError
from orchestrator.controllers.base import Controller, Keys, controller_keys, object_key
from orchestrator.controllers.claims import claim_pods
from orchestrator.controllers.history import (HASH_LABEL, HashCollision, count_collision,
                                              sync_history)
from orchestrator.controllers.replicaset import available_in
from orchestrator.controllers.rollout import scaled_value, template_hash

DS, POD = by_kind("apps/v1", "DaemonSet"), by_kind("v1", "Pod")

# Every daemon pod tolerates these (Kubernetes' AddOrUpdateDaemonPodTolerations): a daemon
# stays on a node that is not ready or unreachable, and runs on cordoned or pressured ones.
DAEMON_TOLERATIONS: tuple[Object, ...] = (
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
)
HOST_NETWORK_TOLERATION: Object = {"key": "node.kubernetes.io/network-unavailable",
                                   "operator": "Exists", "effect": "NoSchedule"}


# --- pure -------------------------------------------------------------------------------------

def current_hash(ds: DaemonSet) -> str:
    return template_hash(ds.spec.template.to_dict(), ds.status.collision_count or 0)


def daemon_pod_spec(ds: DaemonSet) -> Object:
    """The template's pod spec with the daemon tolerations added (JSON)."""
    spec: Object = ds.spec.template.to_dict()["spec"]
    tolerations = list(spec.get("tolerations") or ())
    extra = [*DAEMON_TOLERATIONS, *((HOST_NETWORK_TOLERATION,) if spec.get("hostNetwork") else ())]
    for t in extra:
        if t not in tolerations:
            tolerations.append(t)
    spec["tolerations"] = tolerations
    return spec


def node_verdict(ds: DaemonSet, node: Node, spec: PodSpec | None = None) -> tuple[bool, bool]:
    """(should a daemon pod be started on `node`, may one already there keep running):
    Kubernetes' NodeShouldRunDaemonPod. `spec`: the daemon pod spec, when made already."""
    spec = spec or PodSpec.model_validate(daemon_pod_spec(ds))
    if not selects_node(spec, node):
        return False, False
    taints = node.spec.taints
    if untolerated(spec.tolerations, taints, ("NoExecute",)) is not None:
        return False, False
    return untolerated(spec.tolerations, taints, ("NoSchedule",)) is None, True


def pod_for_node(ds: DaemonSet, node_name: str, revision: str) -> Object:
    """A new daemon pod (JSON, to create) for `node_name`: the template, labelled with its
    revision, owned, tolerating what daemons tolerate, and tied to the node by a required
    node affinity on its name (every term of the template's own affinity gains it)."""
    template = ds.spec.template.to_dict()
    metadata = template.get("metadata") or {}
    metadata.pop("name", None)
    metadata.setdefault("labels", {})[HASH_LABEL] = revision
    metadata.update(generateName=f"{ds.metadata.name}-",
                    ownerReferences=[controller_reference(ds)])
    spec = daemon_pod_spec(ds)
    on_node = {"key": "metadata.name", "operator": "In", "values": [node_name]}
    affinity = spec.setdefault("affinity", {}).setdefault("nodeAffinity", {})
    required = affinity.setdefault("requiredDuringSchedulingIgnoredDuringExecution",
                                   {"nodeSelectorTerms": [{}]})
    for term in required["nodeSelectorTerms"]:
        term["matchFields"] = [f for f in term.get("matchFields") or ()
                               if f.get("key") != "metadata.name"] + [on_node]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


def node_of(pod: Pod) -> str | None:
    """The node a daemon pod is for: where it is bound, else the one its affinity names."""
    if pod.spec.node_name:
        return pod.spec.node_name
    affinity = pod.spec.affinity.node_affinity if pod.spec.affinity else None
    required = affinity.required_during_scheduling_ignored_during_execution if affinity else None
    for term in required.node_selector_terms if required else ():
        for f in term.match_fields or ():
            if f.key == "metadata.name" and f.operator == "In" and f.values:
                return f.values[0]
    return None


@dataclass
class Plan:
    create: list[str] = field(default_factory=list)  # node names
    delete: list[Pod] = field(default_factory=list)
    failed: list[Pod] = field(default_factory=list)  # deleted, and said so


def _available(pod: Pod, ds: DaemonSet, now: datetime) -> bool:
    return available_in(pod, ds.spec.min_ready_seconds, now) == 0


def plan(ds: DaemonSet, nodes: list[Node], pods: list[Pod], now: datetime) -> Plan:
    """What to create and delete, node by node, then the rolling update's replacements."""
    out = Plan()
    revision = current_hash(ds)
    by_node: dict[str, list[Pod]] = {}
    for pod in pods:
        if pod.metadata.deletion_timestamp:
            continue
        if pod.status.phase == "Failed":
            out.failed.append(pod)
            continue
        if pod.status.phase == "Succeeded":
            out.delete.append(pod)
            continue
        by_node.setdefault(node_of(pod) or "", []).append(pod)
    known = {n.metadata.name for n in nodes}
    for name, orphaned in by_node.items():
        if name not in known:  # the node is gone
            out.delete += orphaned
    surge = ds.spec.update_strategy.rolling_update.max_surge \
        if ds.spec.update_strategy.rolling_update else 0
    eligible: list[str] = []
    spec = PodSpec.model_validate(daemon_pod_spec(ds))  # once, not once a node
    for node in nodes:
        name = node.metadata.name or ""
        should_run, may_stay = node_verdict(ds, node, spec)
        mine = sorted(by_node.get(name, []), key=lambda p: p.metadata.creation_timestamp or "")
        if not may_stay:
            out.delete += mine
            continue
        if not should_run and not mine:
            continue
        eligible.append(name)
        if not mine:
            if should_run:
                out.create.append(name)
            continue
        new = [p for p in mine if (p.metadata.labels or {}).get(HASH_LABEL) == revision]
        old = [p for p in mine if p not in new]
        # one pod a node; while surging, an old one beside a new one until that is available
        keep = (new[:1] + (old[:1] if new and surge not in (0, "0%") and
                           not _available(new[0], ds, now) else [])) if new else old[:1]
        out.delete += [p for p in mine if p not in keep]
    if ds.spec.update_strategy.type == "RollingUpdate":
        _roll(ds, eligible, by_node, out, revision, now)
    return out


def _roll(ds: DaemonSet, nodes: list[str], by_node: dict[str, list[Pod]], out: Plan,
          revision: str, now: datetime) -> None:
    """Kubernetes' rollingUpdate: replace old pods within maxUnavailable (delete first) or
    maxSurge (create first)."""
    rolling = ds.spec.update_strategy.rolling_update
    assert rolling is not None  # defaulted for RollingUpdate
    desired = len(nodes)
    max_surge = scaled_value(rolling.max_surge, desired, True)
    max_unavailable = scaled_value(rolling.max_unavailable, desired, True)
    going = {p.metadata.uid for p in out.delete}
    unavailable, candidates, surging = 0, [], 0
    for name in nodes:
        mine = [p for p in by_node.get(name, []) if p.metadata.uid not in going]
        new = [p for p in mine if (p.metadata.labels or {}).get(HASH_LABEL) == revision]
        old = [p for p in mine if p not in new]
        if not mine:
            unavailable += 1
            continue
        if new:  # updated (an old one beside it is plan()'s to delete once this is available)
            if not _available(new[0], ds, now):
                unavailable += 1
                surging += bool(old)
            continue
        if not _available(old[0], ds, now):  # an unavailable old pod is replaced at once
            if max_surge:
                out.create.append(name)
            else:
                out.delete.append(old[0])
            continue
        candidates.append((name, old[0]))
    if max_surge:
        for name, _pod in candidates[:max(0, max_surge - surging)]:
            out.create.append(name)
    else:
        for _name, pod in candidates[:max(0, max_unavailable - unavailable)]:
            out.delete.append(pod)


def calculate_status(ds: DaemonSet, nodes: list[Node], pods: list[Pod],
                     now: datetime) -> Object:
    revision = current_hash(ds)
    active: dict[str, list[Pod]] = {}
    for pod in pods:
        if not pod.metadata.deletion_timestamp and pod.status.phase not in ("Failed",
                                                                             "Succeeded"):
            active.setdefault(node_of(pod) or "", []).append(pod)
    desired = current = misscheduled = ready_count = updated = available = 0
    spec = PodSpec.model_validate(daemon_pod_spec(ds))
    for node in nodes:
        should_run, _ = node_verdict(ds, node, spec)
        mine = active.get(node.metadata.name or "", [])
        if not should_run:
            misscheduled += bool(mine)
            continue
        desired += 1
        if not mine:
            continue
        current += 1
        ready_count += any(ready(p.status.conditions) for p in mine)
        updated += any((p.metadata.labels or {}).get(HASH_LABEL) == revision for p in mine)
        available += any(_available(p, ds, now) for p in mine)
    return {"currentNumberScheduled": current, "numberMisscheduled": misscheduled,
            "desiredNumberScheduled": desired, "numberReady": ready_count,
            "observedGeneration": ds.metadata.generation or 1,
            "updatedNumberScheduled": updated, "numberAvailable": available,
            **({"numberUnavailable": desired - available} if desired - available else {})}


# --- the controller ---------------------------------------------------------------------------

class DaemonSetController(Controller):
    name = "daemonset"

    def __init__(self, objects: Objects) -> None:
        super().__init__(objects)
        self.events = EventRecorder(objects, "daemonset-controller")

    def triggers(self) -> dict[str, Keys]:
        return {"daemonsets": lambda e: [object_key(e.object)],
                "pods": controller_keys(self.store, "daemonsets"),
                "nodes": lambda e: self.all_keys()}

    def all_keys(self) -> list[str]:
        return [object_key(d) for d in self.store.cached("daemonsets")[0]]

    def sync(self, key: str) -> None:
        namespace, name = key.split("/", 1)
        stored = self.get_or_none(DS, namespace, name)
        if stored is None:
            return
        ds = typed(DaemonSet, stored)
        if ds.metadata.deletion_timestamp:
            return
        nodes = typed_all(Node, self.store.list("nodes", None)[0])
        pods = self._pods(ds)
        try:
            sync_history(self.objects, ds, ds.spec.template.to_dict(), current_hash(ds),
                         ds.spec.revision_history_limit,
                         {(p.metadata.labels or {}).get(HASH_LABEL, "") for p in pods})
        except HashCollision as e:
            count_collision(self.objects, DS, ds)
            raise RuntimeError(f"{e}; retrying with a new hash") from None
        now = datetime.now(timezone.utc)
        decided = plan(ds, nodes, pods, now)
        for pod in decided.failed:
            self.events.warning(ds, "FailedDaemonPod",
                                f"Found failed daemon pod {pod.metadata.namespace}/"
                                f"{pod.metadata.name} on node {pod.spec.node_name}, will try "
                                "to kill it")
        self._delete(ds, [*decided.failed, *decided.delete])
        revision = current_hash(ds)
        for node_name in dict.fromkeys(decided.create):
            try:
                made = self.objects.create(POD, namespace, pod_for_node(ds, node_name, revision))
            except ApiError as e:
                self.events.warning(ds, "FailedCreate", f"Error creating: {e.message}")
                raise
            self.events.normal(ds, "SuccessfulCreate", f"Created pod: {made['metadata']['name']}")
        if decided.create or decided.delete or decided.failed:
            pods = self._pods(ds)
        status = calculate_status(ds, nodes, pods, now)
        if (stored.get("status") or {}) != status:
            self.objects.update(DS, namespace, name, {**stored, "status": status},
                                subresource="status")
        waits = [w for p in pods if (w := available_in(p, ds.spec.min_ready_seconds, now))]
        if waits:  # ready pods that become available later (minReadySeconds)
            self.queue.add_after(key, min(waits) + 0.1)

    def _pods(self, ds: DaemonSet) -> list[Pod]:
        return claim_pods(self.objects, ds, ds.spec.selector)

    def _delete(self, ds: DaemonSet, pods: Iterable[Pod]) -> None:
        for pod in {p.metadata.uid: p for p in pods}.values():
            try:
                self.objects.delete(POD, pod.metadata.namespace or "", pod.metadata.name or "")
            except ApiError as e:
                if e.code != 404:
                    raise
                continue
            self.events.normal(ds, "SuccessfulDelete", f"Deleted pod: {pod.metadata.name}")
