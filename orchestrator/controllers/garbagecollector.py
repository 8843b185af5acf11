"""Garbage collector: an object whose owners (ownerReferences) no longer exist is deleted
(background propagation: the owner goes first, its dependents after it). An owner "exists" when
an object of its kind and name exists with the same uid, so a re-created owner does not adopt
the old one's dependents. Keys are "resource|namespace|name" of dependents."""

from __future__ import annotations

from orchestrator.api.registry import RESOURCES, UnknownKind, by_kind
from orchestrator.api.status import ApiError
from orchestrator.controllers.base import Controller

DEPENDENT_RESOURCES = ("pods", "replicasets", "endpoints", "events")
OWNER_RESOURCES = ("deployments", "replicasets", "services", "pods")


def dependent_key(resource: str, obj: dict) -> str:
    return f"{resource}|{obj['metadata'].get('namespace', '')}|{obj['metadata']['name']}"


class GarbageCollector(Controller):
    name = "garbagecollector"

    def triggers(self):
        def from_owner_deletion(event) -> list[str]:
            if event.type != "DELETED":
                return []
            uid, ns = event.object["metadata"]["uid"], event.object["metadata"].get("namespace")
            keys = []
            for resource in DEPENDENT_RESOURCES:
                prefix = f"/registry/{resource}/{ns}/" if ns else None
                for obj in self.store.cache(resource).list(prefix)[0]:
                    if any(r.get("uid") == uid for r in obj["metadata"].get("ownerReferences") or []):
                        keys.append(dependent_key(resource, obj))
            return keys
        return {resource: from_owner_deletion for resource in OWNER_RESOURCES}

    def all_keys(self) -> list[str]:
        return [dependent_key(resource, obj) for resource in DEPENDENT_RESOURCES
                for obj in self.store.cache(resource).list()[0]
                if obj["metadata"].get("ownerReferences")]

    def sync(self, key: str) -> None:
        resource, namespace, name = key.split("|", 2)
        rt = next(r for r in RESOURCES if r.resource == resource)
        try:
            obj = self.objects.get(rt, namespace or None, name)
        except ApiError as e:
            if e.code == 404:
                return
            raise
        refs = obj["metadata"].get("ownerReferences") or []
        if not refs or any(self._owner_exists(ref, namespace) for ref in refs):
            return
        try:
            self.objects.delete(rt, namespace or None, name,
                                resource_version=obj["metadata"]["resourceVersion"])
        except ApiError as e:
            if e.code not in (404, 409):
                raise

    def _owner_exists(self, ref: dict, namespace: str) -> bool:
        try:
            owner_rt = by_kind(ref["apiVersion"], ref["kind"])
        except UnknownKind:
            return False
        try:
            owner = self.objects.get(owner_rt, namespace if owner_rt.namespaced else None,
                                     ref["name"])
        except ApiError as e:
            if e.code == 404:
                return False
            raise
        return owner["metadata"]["uid"] == ref["uid"]
