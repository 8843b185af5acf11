"""ControllerRevision (apps/v1): an immutable snapshot of a DaemonSet's (or StatefulSet's) pod
template, one per template it has had, numbered; `kubectl rollout history` lists them and
`kubectl rollout undo` patches the owner back with one's `data`. The owning controller writes
them (orchestrator/controllers/history.py)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from kube import names
from kube.field_errors import INVALID, FieldError
from kube.kinds.base import AGE, Column, Kind
from kube.meta import Model, ObjectMeta
from kube.objects import Object


class ControllerRevision(Model):
    api_version: Literal["apps/v1"] = "apps/v1"
    kind: Literal["ControllerRevision"] = "ControllerRevision"
    metadata: ObjectMeta
    data: dict[str, Any] | None = None  # the owner's state: a strategic merge patch of it
    revision: int = Field(ge=0)


def _update_rules(old: Object, new: Object) -> list[FieldError]:
    if old.get("data") != new.get("data"):
        return [FieldError("data", "Invalid value: field is immutable", INVALID)]
    return []


def _controller(revision: Object) -> str:
    owner = next((r for r in revision["metadata"].get("ownerReferences") or ()
                  if r.get("controller")), None)
    return f"{owner['kind'].lower()}.{owner['apiVersion'].split('/')[0]}/{owner['name']}" \
        if owner else "<none>"


KIND = Kind(
    "ControllerRevision", "controllerrevisions", "apps", "v1", True, ControllerRevision,
    names.dns1123_subdomain, update_rules=_update_rules,
    columns=(Column("CONTROLLER", lambda r, _: _controller(r)),
             Column("REVISION", lambda r, _: str(r.get("revision", 0)), type="integer"),
             AGE),
)
