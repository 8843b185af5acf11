"""Deployment controller: keeps one ReplicaSet per pod template and moves replicas to the
current one by the Deployment's strategy (RollingUpdate or Recreate); keeps the revision
history, honours pause, and reports status and conditions. The decisions are in rollout.py;
this module reads, applies one step per sync, and is woken again by the ReplicaSets' status.

Rollback is not a server verb (as in Kubernetes since apps/v1): a client puts the template of an
older revision back into the Deployment (`rollout.rollback_template`), and the controller sees
that template's ReplicaSet become the new one again, with the next revision number.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timezone

from kube.events import EventRecorder
from kube.kinds.deployment import Deployment
from kube.kinds.pod import Pod
from kube.kinds.replicaset import ReplicaSet
from kube.meta import selector_matches
from kube.objects import Object
from kube.ownership import controller_of, controller_reference, controller_uid_of
from kube.registry import by_kind
from kube.timestamps import format_time
from kube.typed import typed, typed_all
from orchestrator.api.objects import Objects
from orchestrator.api.status import ApiError
from orchestrator.controllers import rollout
from orchestrator.controllers.base import Controller, Keys, object_key
from orchestrator.controllers.history import count_collision
from orchestrator.controllers.rollout import Set
from orchestrator.store.watchcache import WatchEvent

log = logging.getLogger(__name__)

DEPLOY, RS, POD = (by_kind("apps/v1", "Deployment"), by_kind("apps/v1", "ReplicaSet"),
                   by_kind("v1", "Pod"))


def selects(d: Deployment, rs: ReplicaSet) -> bool:
    return selector_matches(d.spec.selector, rs.metadata.labels)


class DeploymentController(Controller):
    name = "deployment"

    def __init__(self, objects: Objects,
                 clock: Callable[[], datetime] | None = None) -> None:
        super().__init__(objects)
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.events = EventRecorder(objects, "deployment-controller")

    # --- what wakes it ---

    def triggers(self) -> dict[str, Keys]:
        def from_replicaset(event: WatchEvent) -> list[str]:
            rs = typed(ReplicaSet, event.object)
            ns = rs.metadata.namespace
            ref = controller_of(rs.metadata)
            if ref is not None:
                return [f"{ns}/{ref.name}"] if ref.kind == "Deployment" else []
            deployments, _ = self.store.cached("deployments", ns)
            return [object_key(d) for d in deployments if selects(typed(Deployment, d), rs)]

        def from_pod_deletion(event: WatchEvent) -> list[str]:
            # Recreate waits for the old pods to be gone, not merely scaled away.
            if event.type != "DELETED":
                return []
            pod = typed(Pod, event.object)
            ns = pod.metadata.namespace
            ref = controller_of(pod.metadata)
            if ref is None or ref.kind != "ReplicaSet":
                return []
            sets, _ = self.store.cached("replicasets", ns, ref.name)
            return [f"{ns}/{owner.name}" for rs in typed_all(ReplicaSet, sets)
                    if rs.metadata.name == ref.name
                    and (owner := controller_of(rs.metadata)) is not None
                    and owner.kind == "Deployment"]

        return {"deployments": lambda e: [object_key(e.object)], "replicasets": from_replicaset,
                "pods": from_pod_deletion}

    def all_keys(self) -> list[str]:
        return [object_key(d) for d in self.store.cached("deployments")[0]]

    # --- the sync ---

    def sync(self, key: str) -> None:
        namespace, name = key.split("/", 1)
        try:
            d = typed(Deployment, self.objects.get(DEPLOY, namespace, name))
        except ApiError as e:
            if e.code == 404:
                return
            raise
        if d.metadata.deletion_timestamp:
            return
        sets = self._claim(d, typed_all(ReplicaSet, self.store.list("replicasets", namespace)[0]))
        new = rollout.find_new(d, sets)
        old = [rs for rs in sets if rs is not new]
        replicas = d.spec.replicas
        surge, unavailable = rollout.resolve_fenceposts(d)
        created = False

        if d.spec.paused or rollout.is_scaling_event(replicas, sets):
            changes = rollout.proportional_scale(replicas, surge, Set.of(new) if new else None,
                                                 [Set.of(rs) for rs in old])
            sets = self._scale(d, sets, rollout.with_stale_annotations(replicas, surge, sets,
                                                                       changes), "scaled")
        elif d.spec.strategy.type == "Recreate":
            old_pods = self._pods_of(namespace, old)
            step = rollout.recreate_step(replicas, Set.of(new) if new else None,
                                         [Set.of(rs) for rs in old], old_pods)
            if step is None:
                new, sets, created = self._create_new(d, sets, old, replicas)
            else:
                sets = self._scale(d, sets, step, "recreate")
        else:
            if new is None:
                first = rollout.rolling_step(replicas, surge, unavailable,
                                             Set("", 0), [Set.of(rs) for rs in old])
                new, sets, created = self._create_new(d, sets, old, first.get("", 0))
            else:
                step = rollout.rolling_step(replicas, surge, unavailable, Set.of(new),
                                            [Set.of(rs) for rs in old])
                sets = self._scale(d, sets, step, "rolling")
        if new is not None:
            new_name = new.metadata.name
            new = next((rs for rs in sets if rs.metadata.name == new_name), new)
            new = self._sync_revision(d, new, [rs for rs in sets if rs is not new])
            sets = [new if rs.metadata.name == new_name else rs for rs in sets]
        self._write_status(d, new, sets, created)

    # --- steps ---

    def _claim(self, d: Deployment, sets: list[ReplicaSet]) -> list[ReplicaSet]:
        """The ReplicaSets this Deployment controls: adopt matching orphans, release those that
        no longer match (their labels were changed by hand)."""
        uid = d.metadata.uid
        owned = []
        for rs in sets:
            owner = controller_uid_of(rs.metadata)
            if rs.metadata.deletion_timestamp:
                if owner == uid:
                    owned.append(rs)
                continue
            if owner == uid and selects(d, rs):
                owned.append(rs)
            elif owner == uid:
                kept = [r.to_dict() for r in rs.metadata.owner_references or () if r.uid != uid]
                self._patch_rs(rs, {"metadata": {"ownerReferences": kept or None}})
            elif owner is None and selects(d, rs):
                refs = [r.to_dict() for r in rs.metadata.owner_references or ()]
                adopted = self._patch_rs(rs, {"metadata": {
                    "ownerReferences": [*refs, controller_reference(d)]}})
                if adopted:
                    owned.append(adopted)
        return owned

    def _create_new(self, d: Deployment, sets: list[ReplicaSet], old: list[ReplicaSet],
                    replicas: int) -> tuple[ReplicaSet | None, list[ReplicaSet], bool]:
        collisions = d.status.collision_count or 0
        revision = max((rollout.revision(rs) for rs in old), default=0) + 1
        body = rollout.new_replicaset(d, collisions, revision, replicas)
        surge, _ = rollout.resolve_fenceposts(d)
        body["metadata"]["annotations"].update({
            rollout.DESIRED_REPLICAS: str(d.spec.replicas),
            rollout.MAX_REPLICAS: str(d.spec.replicas + surge)})
        body["metadata"]["ownerReferences"] = [controller_reference(d)]
        namespace = d.metadata.namespace or ""
        try:
            created = typed(ReplicaSet, self.objects.create(RS, namespace, body))
        except ApiError as e:
            if e.code != 409:
                raise
            existing = typed(ReplicaSet, self.objects.get(RS, namespace, body["metadata"]["name"]))
            if controller_uid_of(existing.metadata) == d.metadata.uid and \
                    rollout.same_template(existing.spec.template.to_dict(),
                                          d.spec.template.to_dict()):
                return existing, [*sets, existing], False
            # Another template holds this name: change the hash and try again on the requeue.
            count_collision(self.objects, DEPLOY, d)
            raise RuntimeError(f"ReplicaSet name {body['metadata']['name']} is taken by another "
                               "template; retrying with a new hash") from None
        self.events.normal(d, "ScalingReplicaSet",
                           f"Scaled up replica set {created.metadata.name} to {replicas}")
        return created, [*sets, created], True

    def _scale(self, d: Deployment, sets: list[ReplicaSet], changes: rollout.Changes,
               why: str) -> list[ReplicaSet]:
        if not changes:
            return sets
        replicas = d.spec.replicas
        surge, _ = rollout.resolve_fenceposts(d)
        out = []
        for rs in sets:
            target = changes.get(rs.metadata.name or "")
            if target is None:
                out.append(rs)
                continue
            body = rs.to_dict()
            body["spec"]["replicas"] = target
            annotations = body["metadata"].setdefault("annotations", {})
            annotations[rollout.DESIRED_REPLICAS] = str(replicas)
            annotations[rollout.MAX_REPLICAS] = str(replicas + surge)
            updated = self.objects.update(RS, rs.metadata.namespace, rs.metadata.name or "", body)
            before = rs.spec.replicas
            out.append(typed(ReplicaSet, updated))
            if target == before:
                continue  # only its size annotations were stale
            direction = "up" if target > before else "down"
            self.events.normal(d, "ScalingReplicaSet",
                               f"Scaled {direction} replica set {rs.metadata.name} "
                               f"from {before} to {target}")
            log.info("deployment %s/%s (%s): %s %d -> %d", d.metadata.namespace,
                     d.metadata.name, why, rs.metadata.name, before, target)
        return out

    def _sync_revision(self, d: Deployment, new: ReplicaSet, old: list[ReplicaSet]) -> ReplicaSet:
        """The new ReplicaSet carries the highest revision (a rollback to an old template makes
        its set the newest revision again), and the Deployment mirrors it."""
        highest_old = max((rollout.revision(rs) for rs in old), default=0)
        revision = rollout.revision(new)
        if revision <= highest_old:
            revision = highest_old + 1
            body = new.to_dict()
            annotations = body["metadata"].setdefault("annotations", {})
            annotations[rollout.REVISION] = str(revision)
            cause = (d.metadata.annotations or {}).get(rollout.CHANGE_CAUSE)
            if cause:
                annotations[rollout.CHANGE_CAUSE] = cause
            new = typed(ReplicaSet, self.objects.update(RS, new.metadata.namespace,
                                                        new.metadata.name or "", body))
        if rollout.revision(d) != revision:
            body = d.to_dict()
            body["metadata"].setdefault("annotations", {})[rollout.REVISION] = str(revision)
            body.pop("status", None)
            self.objects.update(DEPLOY, d.metadata.namespace, d.metadata.name or "", body)
        return new

    def _write_status(self, d: Deployment, new: ReplicaSet | None, sets: list[ReplicaSet],
                      created: bool) -> None:
        namespace, name = d.metadata.namespace or "", d.metadata.name or ""
        now = self.clock()
        status = rollout.calculate_status(d, new, sets, now, created)
        if status != d.status.to_dict():
            current = self.objects.get(DEPLOY, namespace, name)
            self.objects.update(DEPLOY, namespace, name, {**current, "status": status},
                                subresource="status")
            progressing = next(c for c in status["conditions"] if c["type"] == "Progressing")
            if progressing["reason"] == "ProgressDeadlineExceeded" and \
                    progressing["lastTransitionTime"] == format_time(now):
                self.events.warning(d, "ProgressDeadlineExceeded", progressing["message"])
        if rollout.rollout_complete(d, status):
            for rs in rollout.history_to_delete(d, [s for s in sets if s is not new]):
                try:
                    self.objects.delete(RS, namespace, rs.metadata.name or "")
                except ApiError as e:
                    if e.code != 404:
                        raise
        elif not d.spec.paused:
            # Wake up when the progress deadline would pass without any news.
            self.queue.add_after(f"{namespace}/{name}", d.spec.progress_deadline_seconds + 1)

    # --- helpers ---

    def _pods_of(self, namespace: str, sets: list[ReplicaSet]) -> int:
        uids = {rs.metadata.uid for rs in sets}
        pods = typed_all(Pod, self.store.list("pods", namespace)[0])
        return sum(1 for p in pods if controller_uid_of(p.metadata) in uids)

    def _patch_rs(self, rs: ReplicaSet, patch: Object) -> ReplicaSet | None:
        patch["metadata"]["resourceVersion"] = rs.metadata.resource_version
        try:
            patched = self.objects.patch(RS, rs.metadata.namespace or "", rs.metadata.name or "",
                                         patch)
        except ApiError as e:
            if e.code not in (404, 409):
                raise
            return None
        return typed(ReplicaSet, patched)
