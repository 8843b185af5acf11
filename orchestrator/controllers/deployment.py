"""Deployment controller: keeps one ReplicaSet per pod template and moves replicas to the
current one by the Deployment's strategy (RollingUpdate or Recreate); keeps the revision
history, honours pause, and reports status and conditions. The decisions are in rollout.py;
this module reads, applies one step per sync, and is woken again by the ReplicaSets' status.

Rollback is not a server verb (as in Kubernetes since apps/v1): a client puts the template of an
older revision back into the Deployment (`rollout.rollback_template`), and the controller sees
that template's ReplicaSet become the new one again, with the next revision number.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from datetime import datetime, timezone

from kube.events import EventRecorder
from kube.objects import Object
from kube.ownership import controller_uid
from kube.registry import by_kind
from kube.timestamps import format_time
from orchestrator.api.objects import Objects
from orchestrator.api.status import ApiError
from orchestrator.controllers import rollout
from orchestrator.controllers.base import Controller, Keys, object_key
from orchestrator.controllers.replicaset import matches, owner_reference
from orchestrator.controllers.rollout import Set
from orchestrator.store.watchcache import WatchEvent

log = logging.getLogger(__name__)

DEPLOY, RS, POD = (by_kind("apps/v1", "Deployment"), by_kind("apps/v1", "ReplicaSet"),
                   by_kind("v1", "Pod"))


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
            rs = event.object
            ns = rs["metadata"]["namespace"]
            for ref in rs["metadata"].get("ownerReferences") or []:
                if ref.get("controller"):
                    return [f"{ns}/{ref['name']}"] if ref.get("kind") == "Deployment" else []
            deployments, _ = self.store.cached("deployments", ns)
            return [object_key(d) for d in deployments if matches(d, rs)]

        def from_pod_deletion(event: WatchEvent) -> list[str]:
            # Recreate waits for the old pods to be gone, not merely scaled away.
            if event.type != "DELETED":
                return []
            pod = event.object
            ns = pod["metadata"]["namespace"]
            for ref in pod["metadata"].get("ownerReferences") or []:
                if ref.get("controller") and ref.get("kind") == "ReplicaSet":
                    sets, _ = self.store.cached("replicasets", ns, ref["name"])
                    return [f"{ns}/{r['name']}" for rs in sets
                            if rs["metadata"]["name"] == ref["name"]
                            for r in rs["metadata"].get("ownerReferences") or []
                            if r.get("controller") and r.get("kind") == "Deployment"]
            return []

        return {"deployments": lambda e: [object_key(e.object)], "replicasets": from_replicaset,
                "pods": from_pod_deletion}

    def all_keys(self) -> list[str]:
        return [object_key(d) for d in self.store.cached("deployments")[0]]

    # --- the sync ---

    def sync(self, key: str) -> None:
        namespace, name = key.split("/", 1)
        try:
            d = self.objects.get(DEPLOY, namespace, name)
        except ApiError as e:
            if e.code == 404:
                return
            raise
        if d["metadata"].get("deletionTimestamp"):
            return
        sets = self._claim(d, self.store.list("replicasets", namespace)[0])
        new = rollout.find_new(d, sets)
        old = [rs for rs in sets if rs is not new]
        replicas = d["spec"].get("replicas", 1)
        surge, unavailable = rollout.resolve_fenceposts(d)
        created = False

        if d["spec"].get("paused") or rollout.is_scaling_event(replicas, sets):
            changes = rollout.proportional_scale(replicas, surge, Set.of(new) if new else None,
                                                 [Set.of(rs) for rs in old])
            sets = self._scale(d, sets, changes, "scaled")
        elif (d["spec"].get("strategy") or {}).get("type") == "Recreate":
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
            new = next((rs for rs in sets if rs["metadata"]["name"] == new["metadata"]["name"]),
                       new)
            new = self._sync_revision(d, new, [rs for rs in sets if rs is not new])
            sets = [new if rs["metadata"]["name"] == new["metadata"]["name"] else rs
                    for rs in sets]
        self._write_status(d, new, sets, created)

    # --- steps ---

    def _claim(self, d: Object, sets: list[Object]) -> list[Object]:
        """The ReplicaSets this Deployment controls: adopt matching orphans, release those that
        no longer match (their labels were changed by hand)."""
        uid = d["metadata"]["uid"]
        owned = []
        for rs in sets:
            if rs["metadata"].get("deletionTimestamp"):
                if controller_uid(rs) == uid:
                    owned.append(rs)
                continue
            owner = controller_uid(rs)
            if owner == uid and matches(d, rs):
                owned.append(rs)
            elif owner == uid:
                refs = [r for r in rs["metadata"]["ownerReferences"] if r.get("uid") != uid]
                self._patch_rs(rs, {"metadata": {"ownerReferences": refs or None}})
            elif owner is None and matches(d, rs):
                ref = {**owner_reference(d), "kind": "Deployment"}
                adopted = self._patch_rs(rs, {"metadata": {
                    "ownerReferences": [*(rs["metadata"].get("ownerReferences") or []), ref]}})
                if adopted:
                    owned.append(adopted)
        return owned

    def _create_new(self, d: Object, sets: list[Object], old: list[Object],
                    replicas: int) -> tuple[Object | None, list[Object], bool]:
        status = d.get("status") or {}
        collisions = status.get("collisionCount") or 0
        revision = max((rollout.revision_of(rs) for rs in old), default=0) + 1
        body = rollout.new_replicaset(d, collisions, revision, replicas)
        surge, _ = rollout.resolve_fenceposts(d)
        body["metadata"]["annotations"].update({
            rollout.DESIRED_REPLICAS: str(d["spec"].get("replicas", 1)),
            rollout.MAX_REPLICAS: str(d["spec"].get("replicas", 1) + surge)})
        body["metadata"]["ownerReferences"] = [{**owner_reference(d), "kind": "Deployment"}]
        namespace = d["metadata"]["namespace"]
        try:
            created = self.objects.create(RS, namespace, body)
        except ApiError as e:
            if e.code != 409:
                raise
            existing = self.objects.get(RS, namespace, body["metadata"]["name"])
            if controller_uid(existing) == d["metadata"]["uid"] and \
                    rollout.same_template(existing["spec"]["template"], d["spec"]["template"]):
                return existing, [*sets, existing], False
            # Another template holds this name: change the hash and try again on the requeue.
            self.objects.update(DEPLOY, namespace, d["metadata"]["name"],
                                {**d, "status": {**status, "collisionCount": collisions + 1}},
                                subresource="status")
            raise RuntimeError(f"ReplicaSet name {body['metadata']['name']} is taken by another "
                               "template; retrying with a new hash") from None
        self.events.normal(d, "ScalingReplicaSet",
                           f"Scaled up replica set {created['metadata']['name']} to {replicas}")
        return created, [*sets, created], True

    def _scale(self, d: Object, sets: list[Object], changes: rollout.Changes,
               why: str) -> list[Object]:
        if not changes:
            return sets
        replicas = d["spec"].get("replicas", 1)
        surge, _ = rollout.resolve_fenceposts(d)
        out = []
        for rs in sets:
            target = changes.get(rs["metadata"]["name"])
            if target is None:
                out.append(rs)
                continue
            body = copy.deepcopy(rs)
            body["spec"]["replicas"] = target
            annotations = body["metadata"].setdefault("annotations", {})
            annotations[rollout.DESIRED_REPLICAS] = str(replicas)
            annotations[rollout.MAX_REPLICAS] = str(replicas + surge)
            updated = self.objects.update(RS, rs["metadata"]["namespace"],
                                          rs["metadata"]["name"], body)
            before = rs["spec"].get("replicas", 0)
            direction = "up" if target > before else "down"
            self.events.normal(d, "ScalingReplicaSet",
                               f"Scaled {direction} replica set {rs['metadata']['name']} "
                               f"from {before} to {target}")
            log.info("deployment %s/%s (%s): %s %d -> %d", d["metadata"]["namespace"],
                     d["metadata"]["name"], why, rs["metadata"]["name"], before, target)
            out.append(updated)
        return out

    def _sync_revision(self, d: Object, new: Object, old: list[Object]) -> Object:
        """The new ReplicaSet carries the highest revision (a rollback to an old template makes
        its set the newest revision again), and the Deployment mirrors it."""
        highest_old = max((rollout.revision_of(rs) for rs in old), default=0)
        revision = rollout.revision_of(new)
        if revision <= highest_old:
            revision = highest_old + 1
            body = copy.deepcopy(new)
            annotations = body["metadata"].setdefault("annotations", {})
            annotations[rollout.REVISION] = str(revision)
            cause = (d["metadata"].get("annotations") or {}).get(rollout.CHANGE_CAUSE)
            if cause:
                annotations[rollout.CHANGE_CAUSE] = cause
            new = self.objects.update(RS, new["metadata"]["namespace"], new["metadata"]["name"],
                                      body)
        if rollout.revision_of(d) != revision:
            body = copy.deepcopy(d)
            body["metadata"].setdefault("annotations", {})[rollout.REVISION] = str(revision)
            body.pop("status", None)
            self.objects.update(DEPLOY, d["metadata"]["namespace"], d["metadata"]["name"], body)
        return new

    def _write_status(self, d: Object, new: Object | None, sets: list[Object], created: bool) -> None:
        namespace, name = d["metadata"]["namespace"], d["metadata"]["name"]
        now = self.clock()
        status = rollout.calculate_status(d, new, sets, now, created)
        if status != (d.get("status") or {}):
            current = self.objects.get(DEPLOY, namespace, name)
            self.objects.update(DEPLOY, namespace, name, {**current, "status": status},
                                subresource="status")
            d = {**current, "status": status}
            progressing = next(c for c in status["conditions"] if c["type"] == "Progressing")
            if progressing["reason"] == "ProgressDeadlineExceeded" and \
                    progressing["lastTransitionTime"] == format_time(now):
                self.events.warning(d, "ProgressDeadlineExceeded", progressing["message"])
        if rollout.rollout_complete(d):
            for rs in rollout.history_to_delete(d, [s for s in sets if s is not new]):
                try:
                    self.objects.delete(RS, namespace, rs["metadata"]["name"])
                except ApiError as e:
                    if e.code != 404:
                        raise
        elif not d["spec"].get("paused"):
            # Wake up when the progress deadline would pass without any news.
            self.queue.add_after(f"{namespace}/{name}",
                                 d["spec"].get("progressDeadlineSeconds", 600) + 1)

    # --- helpers ---

    def _pods_of(self, namespace: str, sets: list[Object]) -> int:
        uids = {rs["metadata"]["uid"] for rs in sets}
        pods, _ = self.store.list("pods", namespace)
        return sum(1 for p in pods if controller_uid(p) in uids)

    def _patch_rs(self, rs: Object, patch: Object) -> Object | None:
        patch["metadata"]["resourceVersion"] = rs["metadata"]["resourceVersion"]
        try:
            return self.objects.patch(RS, rs["metadata"]["namespace"], rs["metadata"]["name"],
                                      patch)
        except ApiError as e:
            if e.code not in (404, 409):
                raise
            return None
