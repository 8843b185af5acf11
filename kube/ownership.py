"""Owner references (pure): who controls an object, and the reference to a controller."""

from __future__ import annotations

from kube.objects import Object


def controller_ref(obj: Object) -> Object | None:
    """The ownerReference with `controller: true`, if any (at most one, as Kubernetes keeps it)."""
    return next((ref for ref in obj["metadata"].get("ownerReferences") or []
                 if ref.get("controller")), None)


def controller_uid(obj: Object) -> str | None:
    ref = controller_ref(obj)
    return str(ref["uid"]) if ref is not None and ref.get("uid") else None


def owner_reference(owner: Object, api_version: str, kind: str) -> Object:
    """A controller reference to `owner` (blocking its foreground deletion)."""
    return {"apiVersion": api_version, "kind": kind, "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}
