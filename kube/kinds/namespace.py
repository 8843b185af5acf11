"""Namespace (core/v1): a scope for names. Deleting one empties it, then removes it."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

from kube import names
from kube.kinds.base import AGE, ATOMIC, Column, Kind
from kube.meta import NOT_IMPLEMENTED, Model, ObjectMeta


def _only_kubernetes_finalizer(finalizers: list[str] | None) -> list[str] | None:
    """Deleting a namespace empties it and then removes it, which is what the "kubernetes"
    finalizer stands for; other namespace finalizers would need their own controllers."""
    for finalizer in finalizers or []:
        if finalizer != "kubernetes":
            raise PydanticCustomError(NOT_IMPLEMENTED, "Forbidden: namespace finalizer {f!r} is "
                                      "not implemented by this orchestrator (only "
                                      "\"kubernetes\")", {"f": finalizer})
    return finalizers


class NamespaceSpec(Model):
    finalizers: Annotated[list[str] | None, AfterValidator(_only_kubernetes_finalizer)] = None


class NamespaceStatus(Model):
    phase: Literal["Active", "Terminating"] | None = None


class Namespace(Model):
    api_version: Literal["v1"] = "v1"
    kind: Literal["Namespace"] = "Namespace"
    metadata: ObjectMeta
    spec: NamespaceSpec | None = None
    status: NamespaceStatus | None = None


KIND = Kind(
    "Namespace", "namespaces", "", "v1", False, Namespace, names.dns1123_label,
    short_names=("ns",), subresources=("status",), status_on_create="reset",
    initial_status={"phase": "Active"}, field_selectors=("status.phase",),
    columns=(Column("STATUS", lambda n, _: (n.get("status") or {}).get("phase", "Active")), AGE),
    list_merge={"spec.finalizers": ATOMIC},
)
