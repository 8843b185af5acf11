"""StatefulSet controller: pods with stable names and hostnames, made, removed and updated in
ordinal order, as Kubernetes' StatefulSet controller does.

A sync decides one step at a time under OrderedReady (Kubernetes' "monotonic" mode): make the
first missing pod and wait for it to be Running and Ready (and available, minReadySeconds);
replace a failed one; remove pods beyond `replicas` from the highest ordinal, one at a time,
only while all the others are healthy; then, under RollingUpdate, delete the highest pod (at or
above `partition`) still at an old revision, and wait for its replacement before the next.
Parallel makes and removes without waiting (updates are still one at a time). Pods below the
partition are (re)made from the current revision's template, the others from the update's;
each template has a ControllerRevision (history.py), whose hash labels the pods.

Claims: before a pod is made, each of its volumeClaimTemplates' claims
`<template>-<set>-<n>` is made where missing (the pod waits while one is being deleted), and the
pod mounts them. They outlive the pod. The retention policy is kept as owner references, as
Kubernetes does: whenDeleted Delete makes the set an owner of every claim (the garbage
collector deletes them with it); whenScaled Delete makes a pod removed by a scale down the
owner of its claims just before it is deleted.

Pure part: `plan` (the next actions and why it waits), `claims_for`, `pod_for` and
`calculate_status`; the controller reads the StatefulSet and a fresh list of its pods, and
applies the plan.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime, timezone

from kube.conditions import ready
from kube.events import EventRecorder
from kube.kinds.controllerrevision import ControllerRevision
from kube.kinds.pod import Pod
from kube.kinds.statefulset import POD_INDEX_LABEL, POD_NAME_LABEL, StatefulSet
from kube.objects import Object
from kube.ownership import controller_reference
from orchestrator.controllers.claims import claim_pods
from kube.registry import by_kind
from kube.typed import typed
from orchestrator.api.objects import Objects
from orchestrator.api.status import ApiError
from orchestrator.controllers.base import Controller, Keys, controller_keys, object_key
from orchestrator.controllers.history import (HASH_LABEL, HashCollision, count_collision,
                                              sync_history)
from orchestrator.controllers.replicaset import available_in
from orchestrator.controllers.rollout import template_hash

STS, POD = by_kind("apps/v1", "StatefulSet"), by_kind("v1", "Pod")
PVC = by_kind("v1", "PersistentVolumeClaim")


# --- pure -------------------------------------------------------------------------------------

def ordinal_of(sts: StatefulSet, pod: Pod) -> int | None:
    """The ordinal in a pod's name `<set>-<n>`; None for a pod not named so."""
    prefix = f"{sts.metadata.name}-"
    name = pod.metadata.name or ""
    rest = name[len(prefix):] if name.startswith(prefix) else ""
    return int(rest) if rest.isdigit() else None


def revision_of(pod: Pod) -> str:
    return (pod.metadata.labels or {}).get(HASH_LABEL, "")


def update_revision(sts: StatefulSet) -> str:
    return template_hash(sts.spec.template.to_dict(), sts.status.collision_count or 0)


def claim_name(sts: StatefulSet, template: str, ordinal: int) -> str:
    return f"{template}-{sts.metadata.name}-{ordinal}"


def claims_for(sts: StatefulSet, ordinal: int) -> list[Object]:
    """The claims of `ordinal` (JSON, to create): each template's, named for the ordinal,
    labelled with the set's selector's labels (Kubernetes' getPersistentVolumeClaims), owned
    by the set when whenDeleted is Delete."""
    out = []
    for template in sts.spec.volume_claim_templates or ():
        claim = template.to_dict()
        claim.pop("status", None)
        metadata = {k: v for k, v in claim["metadata"].items()
                    if k in ("labels", "annotations")}
        metadata["name"] = claim_name(sts, template.metadata.name or "", ordinal)
        metadata.setdefault("labels", {}).update(sts.spec.selector.match_labels or {})
        if sts.spec.persistent_volume_claim_retention_policy.when_deleted == "Delete":
            metadata["ownerReferences"] = [set_owner(sts)]
        out.append({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": metadata,
                    "spec": claim["spec"]})
    return out


def set_owner(sts: StatefulSet) -> Object:
    """The set as a claim's owner (not its controller: a claim has none)."""
    return {**controller_reference(sts), "controller": False}


def pod_for(sts: StatefulSet, ordinal: int, template: Object, revision: str) -> Object:
    """The pod of `ordinal` (JSON, to create): its name and hostname `<set>-<n>`, the
    governing Service as its subdomain, labelled with its name, index and revision, and each
    claim template mounted as its ordinal's claim."""
    template = copy.deepcopy(template)
    name = f"{sts.metadata.name}-{ordinal}"
    metadata = template.get("metadata") or {}
    metadata.pop("generateName", None)
    metadata.update(name=name, ownerReferences=[controller_reference(sts)])
    metadata.setdefault("labels", {}).update({HASH_LABEL: revision, POD_NAME_LABEL: name,
                                              POD_INDEX_LABEL: str(ordinal)})
    spec = template["spec"]
    spec["hostname"] = name
    if sts.spec.service_name:
        spec["subdomain"] = sts.spec.service_name
    claimed = {t.metadata.name or "" for t in sts.spec.volume_claim_templates or ()}
    if claimed:
        spec["volumes"] = [v for v in spec.get("volumes") or () if v["name"] not in claimed] + [
            {"name": t, "persistentVolumeClaim": {"claimName": claim_name(sts, t, ordinal)}}
            for t in sorted(claimed)]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


def healthy(sts: StatefulSet, pod: Pod, now: datetime) -> bool:
    """Running and Ready, for minReadySeconds, and not going."""
    return not pod.metadata.deletion_timestamp and pod.status.phase == "Running" and \
        available_in(pod, sts.spec.min_ready_seconds, now) == 0


@dataclass
class Plan:
    create: list[int] = field(default_factory=list)  # ordinals
    delete: list[Pod] = field(default_factory=list)
    waiting: str = ""  # why it stopped, for the log


def plan(sts: StatefulSet, pods: list[Pod], update: str, now: datetime) -> Plan:
    out = Plan()
    ordered = sts.spec.pod_management_policy == "OrderedReady"
    start = sts.spec.ordinals.start if sts.spec.ordinals else 0
    wanted = range(start, start + sts.spec.replicas)
    by_ordinal: dict[int, Pod] = {}
    condemned: list[Pod] = []
    for pod in pods:
        n = ordinal_of(sts, pod)
        if n is not None and n in wanted:
            by_ordinal[n] = pod
        else:
            condemned.append(pod)
    condemned.sort(key=lambda p: -(ordinal_of(sts, p) or -1))
    for n in wanted:
        found = by_ordinal.get(n)
        if found is None:
            out.create.append(n)
            if ordered:
                out.waiting = f"waiting for {sts.metadata.name}-{n} to be made"
                return out
            continue
        if found.status.phase in ("Failed", "Succeeded") and not found.metadata.deletion_timestamp:
            out.delete.append(found)  # made again at the next sync
            if ordered:
                return out
            continue
        if ordered and not healthy(sts, found, now):
            out.waiting = f"waiting for {found.metadata.name} to be Running and Ready"
            return out
    for pod in condemned:  # beyond replicas: from the highest ordinal
        if pod.metadata.deletion_timestamp:
            if ordered:
                out.waiting = f"waiting for {pod.metadata.name} to terminate"
                return out
            continue
        out.delete.append(pod)
        if ordered:
            return out
    if out.create or out.delete or sts.spec.update_strategy.type != "RollingUpdate":
        return out
    rolling = sts.spec.update_strategy.rolling_update
    partition = rolling.partition if rolling else 0
    for n in reversed(wanted):
        if n - start < partition:
            break
        pod = by_ordinal[n]
        if revision_of(pod) != update and not pod.metadata.deletion_timestamp:
            out.delete.append(pod)
            return out
        if not healthy(sts, pod, now):
            out.waiting = f"waiting for {pod.metadata.name} to be updated and Ready"
            return out
    return out


def calculate_status(sts: StatefulSet, pods: list[Pod], current: str, update: str,
                     now: datetime) -> Object:
    live = [p for p in pods if not p.metadata.deletion_timestamp]
    updated = sum(1 for p in live if revision_of(p) == update)
    if updated == sts.spec.replicas and len(live) == sts.spec.replicas and \
            all(healthy(sts, p, now) for p in live):
        current = update  # the update is complete
    return {"observedGeneration": sts.metadata.generation or 1, "replicas": len(live),
            "readyReplicas": sum(1 for p in live if ready(p.status.conditions)),
            "availableReplicas": sum(1 for p in live if healthy(sts, p, now)),
            "currentReplicas": sum(1 for p in live if revision_of(p) == current),
            "updatedReplicas": updated, "currentRevision": f"{sts.metadata.name}-{current}",
            "updateRevision": f"{sts.metadata.name}-{update}",
            "collisionCount": sts.status.collision_count or 0}


# --- the controller ---------------------------------------------------------------------------

class StatefulSetController(Controller):
    name = "statefulset"

    def __init__(self, objects: Objects) -> None:
        super().__init__(objects)
        self.events = EventRecorder(objects, "statefulset-controller")

    def triggers(self) -> dict[str, Keys]:
        return {"statefulsets": lambda e: [object_key(e.object)],
                "pods": controller_keys(self.store, "statefulsets")}

    def all_keys(self) -> list[str]:
        return [object_key(s) for s in self.store.cached("statefulsets")[0]]

    def sync(self, key: str) -> None:
        namespace, name = key.split("/", 1)
        stored = self.get_or_none(STS, namespace, name)
        if stored is None:
            return
        sts = typed(StatefulSet, stored)
        if sts.metadata.deletion_timestamp:
            return
        pods = self._pods(sts)
        update = update_revision(sts)
        try:
            sync_history(self.objects, sts, sts.spec.template.to_dict(), update,
                         sts.spec.revision_history_limit, {revision_of(p) for p in pods})
        except HashCollision as e:
            count_collision(self.objects, STS, sts)
            raise RuntimeError(f"{e}; retrying with a new hash") from None
        current = (sts.status.current_revision or "").removeprefix(f"{name}-") or update
        now = datetime.now(timezone.utc)
        decided = plan(sts, pods, update, now)
        for pod in decided.delete:
            self._before_delete(sts, pod)
            try:
                self.objects.delete(POD, namespace, pod.metadata.name or "")
            except ApiError as e:
                if e.code != 404:
                    raise
                continue
            self.events.normal(sts, "SuccessfulDelete",
                               f"delete Pod {pod.metadata.name} in StatefulSet {name} successful")
        rolling = sts.spec.update_strategy.rolling_update
        partition = rolling.partition if rolling and \
            sts.spec.update_strategy.type == "RollingUpdate" else 0
        start = sts.spec.ordinals.start if sts.spec.ordinals else 0
        for n in decided.create:
            revision, template = update, sts.spec.template.to_dict()
            if n - start < partition and current != update:  # below the partition: current
                old = self._template(sts, current)
                if old is not None:
                    revision, template = current, old
            if not self._ensure_claims(sts, n):
                continue
            try:
                self.objects.create(POD, namespace, pod_for(sts, n, template, revision))
            except ApiError as e:
                if e.code == 409:  # its predecessor of the same name is still terminating
                    continue
                self.events.warning(sts, "FailedCreate",
                                    f"create Pod {name}-{n} in StatefulSet {name} failed "
                                    f"error: {e.message}")
                raise
            self.events.normal(sts, "SuccessfulCreate",
                               f"create Pod {name}-{n} in StatefulSet {name} successful")
        if decided.create or decided.delete:
            pods = self._pods(sts)
        status = calculate_status(sts, pods, current, update, now)
        if (stored.get("status") or {}) != status:
            self.objects.update(STS, namespace, name, {**stored, "status": status},
                                subresource="status")
        waits = [w for p in pods if (w := available_in(p, sts.spec.min_ready_seconds, now))]
        if waits:
            self.queue.add_after(key, min(waits) + 0.1)

    def _ensure_claims(self, sts: StatefulSet, ordinal: int) -> bool:
        """Make the ordinal's missing claims; False while one is being deleted (the pod waits:
        it would find its old claim gone)."""
        namespace = sts.metadata.namespace or ""
        for body in claims_for(sts, ordinal):
            name = body["metadata"]["name"]
            existing = self.get_or_none(PVC, namespace, name)
            if existing is not None:
                if existing["metadata"].get("deletionTimestamp"):
                    return False
                self._keep_set_owner(sts, existing)
                continue
            try:
                self.objects.create(PVC, namespace, body)
            except ApiError as e:
                if e.code == 409:
                    continue
                self.events.warning(sts, "FailedCreate",
                                    f"create Claim {name} for Pod {sts.metadata.name}-{ordinal} "
                                    f"in StatefulSet {sts.metadata.name} failed error: "
                                    f"{e.message}")
                raise
            self.events.normal(sts, "SuccessfulCreate",
                               f"create Claim {name} Pod {sts.metadata.name}-{ordinal} in "
                               f"StatefulSet {sts.metadata.name} success")
        return True

    def _keep_set_owner(self, sts: StatefulSet, claim: Object) -> None:
        """A claim's owner references as whenDeleted says (the policy may have changed)."""
        refs = claim["metadata"].get("ownerReferences") or []
        others = [r for r in refs if r.get("uid") != sts.metadata.uid]
        wanted = others + ([set_owner(sts)] if sts.spec.persistent_volume_claim_retention_policy
                           .when_deleted == "Delete" else [])
        if wanted != refs:
            updated = copy.deepcopy(claim)
            updated["metadata"]["ownerReferences"] = wanted
            self.objects.update(PVC, sts.metadata.namespace, claim["metadata"]["name"], updated)

    def _before_delete(self, sts: StatefulSet, pod: Pod) -> None:
        """whenScaled Delete: a pod beyond `replicas` takes its claims with it."""
        ordinal = ordinal_of(sts, pod)
        start = sts.spec.ordinals.start if sts.spec.ordinals else 0
        if sts.spec.persistent_volume_claim_retention_policy.when_scaled != "Delete" or \
                ordinal is None or start <= ordinal < start + sts.spec.replicas:
            return
        owner = {"apiVersion": "v1", "kind": "Pod", "name": pod.metadata.name,
                 "uid": pod.metadata.uid}
        for template in sts.spec.volume_claim_templates or ():
            name = claim_name(sts, template.metadata.name or "", ordinal)
            claim = self.get_or_none(PVC, sts.metadata.namespace, name)
            if claim is None:
                continue
            refs = claim["metadata"].get("ownerReferences") or []
            if any(r.get("uid") == pod.metadata.uid for r in refs):
                continue
            updated = copy.deepcopy(claim)
            updated["metadata"]["ownerReferences"] = [*refs, owner]
            self.objects.update(PVC, sts.metadata.namespace, name, updated)

    def _template(self, sts: StatefulSet, revision: str) -> Object | None:
        """The pod template a revision holds (its strategic merge patch's template)."""
        try:
            stored = self.objects.get(by_kind("apps/v1", "ControllerRevision"),
                                      sts.metadata.namespace, f"{sts.metadata.name}-{revision}")
        except ApiError as e:
            if e.code == 404:
                return None
            raise
        data = typed(ControllerRevision, stored).data or {}
        template = dict(((data.get("spec") or {}).get("template")) or {})
        template.pop("$patch", None)
        return template or None

    def _pods(self, sts: StatefulSet) -> list[Pod]:
        return claim_pods(self.objects, sts, sts.spec.selector,
                          lambda p: ordinal_of(sts, p) is not None)
