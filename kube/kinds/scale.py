"""Scale (autoscaling/v1): the body of the `scale` subresource of Deployments and ReplicaSets
(not a kind of its own in the registry)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from kube.meta import Model, ObjectMeta




class ScaleSpec(Model):
    replicas: int = Field(0, ge=0)


class ScaleStatus(Model):
    replicas: int = 0
    selector: str | None = None


class Scale(Model):
    """The `scale` subresource of Deployments and ReplicaSets (autoscaling/v1)."""

    api_version: Literal["autoscaling/v1"] = "autoscaling/v1"
    kind: Literal["Scale"] = "Scale"
    metadata: ObjectMeta
    spec: ScaleSpec = Field(default_factory=ScaleSpec)
    status: ScaleStatus | None = None
