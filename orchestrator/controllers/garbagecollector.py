"""Garbage collector, after Kubernetes' three deletion propagation policies.

- Background (the default): an object whose owners (ownerReferences) no longer exist is
  deleted; the owner went first. An owner "exists" when an object of its kind and name exists
  with the same uid, so a re-created owner does not adopt the old one's dependents.
- Foreground: the owner is kept, marked, with the `foregroundDeletion` finalizer; the collector
  deletes its dependents (foreground too, so grandchildren go first) and, once none is left,
  removes the finalizer, which deletes the owner.
- Orphan: the owner is kept with the `orphan` finalizer; the collector removes the owner from
  its dependents' ownerReferences and then removes the finalizer.

Keys: "resource|namespace|name" of a dependent to check, "owner|resource|namespace|name" of an
owner being deleted with a finalizer of ours.

Generic over kinds, it reads objects as their typed metadata only (kube.typed.metadata_of, what
Kubernetes' collector reads as PartialObjectMetadata)."""

from __future__ import annotations

from collections.abc import Callable

from kube.meta import ObjectMeta, OwnerReference
from kube.objects import Object
from kube.registry import RESOURCES, ResourceType, UnknownKind, by_kind
from kube.typed import metadata_of
from orchestrator.api.objects import FOREGROUND_FINALIZER, ORPHAN_FINALIZER
from orchestrator.api.status import ApiError
from orchestrator.controllers.base import Controller, Keys
from orchestrator.store.watchcache import WatchEvent

OURS = (ORPHAN_FINALIZER, FOREGROUND_FINALIZER)
WAIT_FOR_DEPENDENTS = 0.5

DEPENDENT_RESOURCES = ("pods", "replicasets", "controllerrevisions", "jobs", "endpoints",
                       "events", "persistentvolumeclaims")
OWNER_RESOURCES = ("deployments", "replicasets", "replicationcontrollers", "daemonsets",
                   "statefulsets", "cronjobs", "jobs", "services",
                   "pods")


def dependent_key(resource: str, meta: ObjectMeta) -> str:
    return f"{resource}|{meta.namespace or ''}|{meta.name}"


def owned_by(meta: ObjectMeta, uid: str | None) -> bool:
    return any(r.uid == uid for r in meta.owner_references or ())


def finalizing(meta: ObjectMeta) -> bool:
    """Being deleted, and held by one of the collector's finalizers."""
    return bool(meta.deletion_timestamp) and bool(set(meta.finalizers or ()) & set(OURS))


def _references_except(meta: ObjectMeta, uid: str | None) -> list[Object] | None:
    """The object's ownerReferences (JSON) without `uid`'s; None when none is left."""
    kept = [r.to_dict() for r in meta.owner_references or () if r.uid != uid]
    return kept or None


class GarbageCollector(Controller):
    name = "garbagecollector"

    def triggers(self) -> dict[str, Keys]:
        def from_owner_deletion(event: WatchEvent, resource: str) -> list[str]:
            meta = metadata_of(event.object)
            if event.type != "DELETED":
                return [f"owner|{dependent_key(resource, meta)}"] if finalizing(meta) else []
            keys = []
            for dependents in DEPENDENT_RESOURCES:
                for obj in self.store.cached(dependents, meta.namespace)[0]:
                    dep = metadata_of(obj)
                    if owned_by(dep, meta.uid):
                        keys.append(dependent_key(dependents, dep))
            return keys
        def for_resource(resource: str) -> Keys:
            return lambda event: from_owner_deletion(event, resource)

        return {resource: for_resource(resource) for resource in OWNER_RESOURCES}

    def all_keys(self) -> list[str]:
        keys = [dependent_key(resource, meta) for resource in DEPENDENT_RESOURCES
                for meta in map(metadata_of, self.store.cached(resource)[0])
                if meta.owner_references]
        keys += [f"owner|{dependent_key(resource, meta)}" for resource in OWNER_RESOURCES
                 for meta in map(metadata_of, self.store.cached(resource)[0])
                 if finalizing(meta)]
        return keys

    def sync(self, key: str) -> None:
        if key.startswith("owner|"):
            return self._finalize_owner(key)
        resource, namespace, name = key.split("|", 2)
        rt = next(r for r in RESOURCES if r.resource == resource)
        obj = self.get_or_none(rt, namespace or None, name)
        if obj is None:
            return
        meta = metadata_of(obj)
        refs = meta.owner_references or []
        if not refs or any(self._owner_exists(ref, namespace) for ref in refs):
            return
        try:
            self.objects.delete(rt, namespace or None, name, resource_version=meta.resource_version)
        except ApiError as e:
            if e.code not in (404, 409):
                raise

    def _owner_exists(self, ref: OwnerReference, namespace: str) -> bool:
        try:
            owner_rt = by_kind(ref.api_version, ref.kind)
        except UnknownKind:
            return False
        owner = self.get_or_none(owner_rt, namespace if owner_rt.namespaced else None, ref.name)
        return owner is not None and metadata_of(owner).uid == ref.uid

    # --- owners deleted with Foreground or Orphan propagation ---

    def _finalize_owner(self, key: str) -> None:
        _, resource, namespace, name = key.split("|", 3)
        rt = next(r for r in RESOURCES if r.resource == resource)
        owner = self.get_or_none(rt, namespace or None, name)
        if owner is None:
            return
        meta = metadata_of(owner)
        if not finalizing(meta):
            return
        finalizers = list(meta.finalizers or ())
        dependents = self._dependents(meta.uid, namespace)
        if ORPHAN_FINALIZER in finalizers:
            for dep_rt, dep in dependents:
                self._ignore_gone(lambda: self.objects.patch(
                    dep_rt, namespace or None, dep.name or "",
                    {"metadata": {"ownerReferences": _references_except(dep, meta.uid),
                                  "resourceVersion": dep.resource_version}}))
            finalizers.remove(ORPHAN_FINALIZER)
        elif FOREGROUND_FINALIZER in finalizers:
            if dependents:
                for dep_rt, dep in dependents:
                    if not dep.deletion_timestamp:
                        self._ignore_gone(lambda: self.objects.delete(
                            dep_rt, namespace or None, dep.name or "",
                            propagation_policy="Foreground"))
                self.queue.add_after(key, WAIT_FOR_DEPENDENTS)  # until they are all gone
                return
            finalizers.remove(FOREGROUND_FINALIZER)
        self.objects.update(rt, namespace or None, name, {
            **owner, "metadata": {**owner["metadata"], "finalizers": finalizers or None}})

    def _dependents(self, uid: str | None, namespace: str) -> list[tuple[ResourceType, ObjectMeta]]:
        found = []
        for resource in DEPENDENT_RESOURCES:
            rt = next(r for r in RESOURCES if r.resource == resource)
            for obj in self.store.list(resource, namespace or None)[0]:
                meta = metadata_of(obj)
                if owned_by(meta, uid):
                    found.append((rt, meta))
        return found

    @staticmethod
    def _ignore_gone(action: Callable[[], object]) -> None:
        try:
            action()
        except ApiError as e:
            if e.code not in (404, 409):
                raise
