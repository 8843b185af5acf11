"""ControllerRevisions of a DaemonSet (a StatefulSet's too, later), as Kubernetes' history
package keeps them: one a template, named `<owner>-<hash>`, labelled with the owner's pod
template labels and the hash, holding a strategic merge patch that puts the template back
(`{"spec": {"template": {…, "$patch": "replace"}}}`: what `kubectl rollout undo` applies).
The current template's revision has the highest number (a template rolled back to gets a new
number); those beyond revisionHistoryLimit that no live pod uses are deleted. A name held by
another template's revision is a hash collision: the owner's collisionCount goes up."""

from __future__ import annotations

from kube.kinds.controllerrevision import ControllerRevision
from kube.objects import Object
from kube.ownership import controller_reference, controller_uid_of
from kube.registry import ResourceType, by_kind
from kube.typed import TypedObject, typed_all
from orchestrator.api.objects import Objects
from orchestrator.api.status import ApiError

REVISION = by_kind("apps/v1", "ControllerRevision")
HASH_LABEL = "controller-revision-hash"


class HashCollision(Exception):
    """The revision's name is held by another template's (or another owner's) revision: the
    owner's status.collisionCount must go up, which changes the hash (Kubernetes' history
    package does the same)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"ControllerRevision {name} is held by another template")
        self.name = name


def count_collision(objects: Objects, resource: ResourceType, owner: TypedObject) -> None:
    """Raise the owner's status.collisionCount by one (the next sync hashes anew): a
    Deployment's when its ReplicaSet's name is taken, a DaemonSet's or StatefulSet's when its
    revision's is."""
    namespace, name = owner.metadata.namespace or "", owner.metadata.name or ""
    stored = objects.get(resource, namespace, name)
    status = dict(stored.get("status") or {})
    status["collisionCount"] = int(status.get("collisionCount") or 0) + 1
    objects.update(resource, namespace, name, {**stored, "status": status}, subresource="status")


def patch_of(template: Object) -> Object:
    return {"spec": {"template": {**template, "$patch": "replace"}}}


def sync_history(objects: Objects, owner: TypedObject, template: Object, revision_hash: str,
                 history_limit: int, in_use: set[str]) -> ControllerRevision:
    """Make the current template's revision exist and be the newest; trim the others. `in_use`:
    the hashes live pods carry (their revisions are kept)."""
    namespace = owner.metadata.namespace or ""
    mine = [r for r in typed_all(ControllerRevision,
                                 objects.store.list("controllerrevisions", namespace)[0])
            if controller_uid_of(r.metadata) == owner.metadata.uid]
    newest = max((r.revision for r in mine), default=0)
    wanted = patch_of(template)
    current = next((r for r in mine if r.data == wanted), None)
    if current is None:
        labels = dict((template.get("metadata") or {}).get("labels") or {})
        labels[HASH_LABEL] = revision_hash
        name = f"{owner.metadata.name}-{revision_hash}"
        body: Object = {"apiVersion": "apps/v1", "kind": "ControllerRevision",
                "metadata": {"name": name,
                             "namespace": namespace, "labels": labels,
                             "ownerReferences": [controller_reference(owner)]},
                "data": wanted, "revision": newest + 1}
        try:
            made = objects.create(REVISION, namespace, body)
        except ApiError as e:
            if e.code != 409:
                raise
            made = objects.get(REVISION, namespace, name)
            held = ControllerRevision.model_validate(made)
            if controller_uid_of(held.metadata) != owner.metadata.uid or held.data != wanted:
                raise HashCollision(name) from None
        current = ControllerRevision.model_validate(made)
        mine.append(current)
    elif current.revision < newest:  # rolled back to an older template: it is the newest now
        stored = objects.get(REVISION, namespace, current.metadata.name or "")
        updated = objects.update(REVISION, namespace, current.metadata.name or "",
                                 {**stored, "revision": newest + 1})
        current = ControllerRevision.model_validate(updated)
    old = sorted((r for r in mine if r.metadata.uid != current.metadata.uid
                  and (r.metadata.labels or {}).get(HASH_LABEL) not in in_use),
                 key=lambda r: r.revision)
    for r in old[:max(0, len(old) - history_limit)]:
        try:
            objects.delete(REVISION, namespace, r.metadata.name or "")
        except ApiError as e:
            if e.code != 404:
                raise
    return current
