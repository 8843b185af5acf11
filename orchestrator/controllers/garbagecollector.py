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
owner being deleted with a finalizer of ours."""

from __future__ import annotations

from collections.abc import Callable

from kube.objects import Object
from kube.registry import RESOURCES, ResourceType, UnknownKind, by_kind
from orchestrator.api.objects import FOREGROUND_FINALIZER, ORPHAN_FINALIZER
from orchestrator.api.status import ApiError
from orchestrator.controllers.base import Controller, Keys
from orchestrator.store.watchcache import WatchEvent

OURS = (ORPHAN_FINALIZER, FOREGROUND_FINALIZER)
WAIT_FOR_DEPENDENTS = 0.5

DEPENDENT_RESOURCES = ("pods", "replicasets", "endpoints", "events")
OWNER_RESOURCES = ("deployments", "replicasets", "services", "pods")


def dependent_key(resource: str, obj: Object) -> str:
    return f"{resource}|{obj['metadata'].get('namespace', '')}|{obj['metadata']['name']}"


class GarbageCollector(Controller):
    name = "garbagecollector"

    def triggers(self) -> dict[str, Keys]:
        def from_owner_deletion(event: WatchEvent, resource: str) -> list[str]:
            meta = event.object["metadata"]
            if event.type != "DELETED":
                if meta.get("deletionTimestamp") and set(meta.get("finalizers") or []) & set(OURS):
                    return [f"owner|{dependent_key(resource, event.object)}"]
                return []
            uid, ns = event.object["metadata"]["uid"], event.object["metadata"].get("namespace")
            keys = []
            for resource in DEPENDENT_RESOURCES:
                for obj in self.store.cached(resource, ns)[0]:
                    if any(r.get("uid") == uid for r in obj["metadata"].get("ownerReferences") or []):
                        keys.append(dependent_key(resource, obj))
            return keys
        def for_resource(resource: str) -> Keys:
            return lambda event: from_owner_deletion(event, resource)

        return {resource: for_resource(resource) for resource in OWNER_RESOURCES}

    def all_keys(self) -> list[str]:
        keys = [dependent_key(resource, obj) for resource in DEPENDENT_RESOURCES
                for obj in self.store.cached(resource)[0]
                if obj["metadata"].get("ownerReferences")]
        keys += [f"owner|{dependent_key(resource, obj)}" for resource in OWNER_RESOURCES
                 for obj in self.store.cached(resource)[0]
                 if obj["metadata"].get("deletionTimestamp")
                 and set(obj["metadata"].get("finalizers") or []) & set(OURS)]
        return keys

    def sync(self, key: str) -> None:
        if key.startswith("owner|"):
            return self._finalize_owner(key)
        resource, namespace, name = key.split("|", 2)
        rt = next(r for r in RESOURCES if r.resource == resource)
        obj = self._get(rt, namespace or None, name)
        if obj is None:
            return
        refs = obj["metadata"].get("ownerReferences") or []
        if not refs or any(self._owner_exists(ref, namespace) for ref in refs):
            return
        try:
            self.objects.delete(rt, namespace or None, name,
                                resource_version=obj["metadata"]["resourceVersion"])
        except ApiError as e:
            if e.code not in (404, 409):
                raise

    def _owner_exists(self, ref: Object, namespace: str) -> bool:
        try:
            owner_rt = by_kind(ref["apiVersion"], ref["kind"])
        except UnknownKind:
            return False
        owner = self._get(owner_rt, namespace if owner_rt.namespaced else None, ref["name"])
        return owner is not None and owner["metadata"]["uid"] == ref["uid"]

    def _get(self, rt: ResourceType, namespace: str | None, name: str) -> Object | None:
        """The object, or None when it does not exist."""
        try:
            return self.objects.get(rt, namespace, name)
        except ApiError as e:
            if e.code == 404:
                return None
            raise

    # --- owners deleted with Foreground or Orphan propagation ---

    def _finalize_owner(self, key: str) -> None:
        _, resource, namespace, name = key.split("|", 3)
        rt = next(r for r in RESOURCES if r.resource == resource)
        owner = self._get(rt, namespace or None, name)
        if owner is None:
            return
        meta = owner["metadata"]
        finalizers = list(meta.get("finalizers") or [])
        if not meta.get("deletionTimestamp") or not set(finalizers) & set(OURS):
            return
        dependents = self._dependents(meta["uid"], namespace)
        if ORPHAN_FINALIZER in finalizers:
            for dep_rt, dep in dependents:
                refs = [r for r in dep["metadata"].get("ownerReferences") or []
                        if r.get("uid") != meta["uid"]]
                self._ignore_gone(lambda: self.objects.patch(
                    dep_rt, namespace or None, dep["metadata"]["name"],
                    {"metadata": {"ownerReferences": refs or None,
                                  "resourceVersion": dep["metadata"]["resourceVersion"]}}))
            finalizers.remove(ORPHAN_FINALIZER)
        elif FOREGROUND_FINALIZER in finalizers:
            if dependents:
                for dep_rt, dep in dependents:
                    if not dep["metadata"].get("deletionTimestamp"):
                        self._ignore_gone(lambda: self.objects.delete(
                            dep_rt, namespace or None, dep["metadata"]["name"],
                            propagation_policy="Foreground"))
                self.queue.add_after(key, WAIT_FOR_DEPENDENTS)  # until they are all gone
                return
            finalizers.remove(FOREGROUND_FINALIZER)
        self.objects.update(rt, namespace or None, name,
                            {**owner, "metadata": {**meta, "finalizers": finalizers or None}})

    def _dependents(self, uid: str, namespace: str) -> list[tuple[ResourceType, Object]]:
        found = []
        for resource in DEPENDENT_RESOURCES:
            rt = next(r for r in RESOURCES if r.resource == resource)
            for obj in self.store.list(resource, namespace or None)[0]:
                if any(r.get("uid") == uid for r in obj["metadata"].get("ownerReferences") or []):
                    found.append((rt, obj))
        return found

    @staticmethod
    def _ignore_gone(action: Callable[[], object]) -> None:
        try:
            action()
        except ApiError as e:
            if e.code not in (404, 409):
                raise
