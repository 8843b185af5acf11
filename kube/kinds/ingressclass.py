"""IngressClass (networking.k8s.io/v1): which controller serves the Ingresses that name it. The
one annotated `ingressclass.kubernetes.io/is-default-class: "true"` is given to Ingresses that
name none, at their creation (Kubernetes' DefaultIngressClass admission)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from kube import names
from kube.kinds.base import AGE, Column, Kind
from kube.meta import Model, ObjectMeta, QualifiedName, refused

DEFAULT_CLASS_ANNOTATION = "ingressclass.kubernetes.io/is-default-class"


class IngressClassSpec(Model):
    controller: QualifiedName | None = None  # e.g. "orch.io/ingress-nginx"
    parameters: Annotated[dict[str, Any] | None, refused("parameters")] = None


class IngressClass(Model):
    api_version: Literal["networking.k8s.io/v1"] = "networking.k8s.io/v1"
    kind: Literal["IngressClass"] = "IngressClass"
    metadata: ObjectMeta
    spec: IngressClassSpec = Field(default_factory=IngressClassSpec)


def is_default(ingress_class: dict[str, Any]) -> bool:
    annotations = (ingress_class.get("metadata") or {}).get("annotations") or {}
    return annotations.get(DEFAULT_CLASS_ANNOTATION) == "true"


KIND = Kind(
    "IngressClass", "ingressclasses", "networking.k8s.io", "v1", False, IngressClass,
    names.dns1123_subdomain, immutable=("spec.controller",),
    columns=(Column("CONTROLLER", lambda c, _: (c.get("spec") or {}).get("controller") or ""),
             Column("PARAMETERS", lambda c, _: "<none>"), AGE),
)
