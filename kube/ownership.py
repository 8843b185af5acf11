"""Owner references (pure): who controls a typed object, and the reference to a controller."""

from __future__ import annotations

from kube.meta import ObjectMeta, OwnerReference
from kube.objects import Object
from kube.typed import TypedObject


def controller_of(meta: ObjectMeta) -> OwnerReference | None:
    """The typed object's ownerReference with `controller: true`, if any."""
    return next((ref for ref in meta.owner_references or () if ref.controller), None)


def controller_uid_of(meta: ObjectMeta) -> str | None:
    """The uid of the typed object's controller, if it has one."""
    ref = controller_of(meta)
    return ref.uid if ref is not None else None


def controller_reference(owner: TypedObject) -> Object:
    """A controller reference (JSON, to write) to the typed `owner`, blocking its foreground
    deletion."""
    return {"apiVersion": owner.api_version, "kind": owner.kind, "name": owner.metadata.name,
            "uid": owner.metadata.uid, "controller": True, "blockOwnerDeletion": True}
