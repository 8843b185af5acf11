"""apps/v1 kinds: ReplicaSet and Deployment."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, model_validator

from kube.core import PodTemplateSpec
from kube.meta import (Condition, IntOrString, LabelSelector, Model, ObjectMeta,
                                   selector_matches)

PERCENT = re.compile(r"^[0-9]+%$")


def _check_selector_matches_template(selector: LabelSelector, template: PodTemplateSpec) -> None:
    if not (selector.match_labels or selector.match_expressions):
        raise ValueError("selector: empty selector is invalid for a controller")
    labels = (template.metadata.labels if template.metadata else None) or {}
    if not selector_matches(selector, labels):
        raise ValueError("selector does not match template labels")
    if template.spec.restart_policy != "Always":
        raise ValueError(f"template.spec.restartPolicy: {template.spec.restart_policy!r}: only "
                         "'Always' is supported for a controller's pods")


class ReplicaSetSpec(Model):
    replicas: int = Field(1, ge=0)
    min_ready_seconds: int = Field(0, ge=0)
    selector: LabelSelector
    template: PodTemplateSpec

    @model_validator(mode="after")
    def _selector(self):
        _check_selector_matches_template(self.selector, self.template)
        return self


class ReplicaSetStatus(Model):
    replicas: int = 0
    fully_labeled_replicas: int | None = None
    ready_replicas: int | None = None
    available_replicas: int | None = None
    observed_generation: int | None = None
    conditions: list[Condition] | None = None


class ReplicaSet(Model):
    api_version: Literal["apps/v1"] = "apps/v1"
    kind: Literal["ReplicaSet"] = "ReplicaSet"
    metadata: ObjectMeta
    spec: ReplicaSetSpec
    status: ReplicaSetStatus | None = None


def _check_int_or_percent(value: IntOrString, field: str) -> None:
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"{field}: must be greater than or equal to 0")
    elif not PERCENT.match(value):
        raise ValueError(f"{field}: {value!r} must be an integer or a percentage (e.g. '25%')")


class RollingUpdateDeployment(Model):
    max_unavailable: IntOrString = "25%"
    max_surge: IntOrString = "25%"

    @model_validator(mode="after")
    def _values(self):
        _check_int_or_percent(self.max_unavailable, "maxUnavailable")
        _check_int_or_percent(self.max_surge, "maxSurge")
        if self.max_unavailable in (0, "0%") and self.max_surge in (0, "0%"):
            raise ValueError("maxUnavailable and maxSurge may not both be 0")
        return self


class DeploymentStrategy(Model):
    type: Literal["RollingUpdate", "Recreate"] = "RollingUpdate"
    rolling_update: RollingUpdateDeployment | None = None

    @model_validator(mode="after")
    def _defaults(self):
        if self.type == "RollingUpdate" and self.rolling_update is None:
            self.rolling_update = RollingUpdateDeployment()
        if self.type == "Recreate" and self.rolling_update is not None:
            raise ValueError("rollingUpdate may not be specified when strategy type is 'Recreate'")
        return self


class DeploymentSpec(Model):
    replicas: int = Field(1, ge=0)
    selector: LabelSelector
    template: PodTemplateSpec
    strategy: DeploymentStrategy = Field(default_factory=DeploymentStrategy)
    min_ready_seconds: int = Field(0, ge=0)
    revision_history_limit: int = Field(10, ge=0)
    progress_deadline_seconds: int = Field(600, ge=1)
    paused: bool | None = None

    @model_validator(mode="after")
    def _selector(self):
        _check_selector_matches_template(self.selector, self.template)
        if self.progress_deadline_seconds <= self.min_ready_seconds:
            raise ValueError("progressDeadlineSeconds must be greater than minReadySeconds")
        return self


class DeploymentStatus(Model):
    observed_generation: int | None = None
    replicas: int | None = None
    updated_replicas: int | None = None
    ready_replicas: int | None = None
    available_replicas: int | None = None
    unavailable_replicas: int | None = None
    conditions: list[Condition] | None = None
    collision_count: int | None = None


class Deployment(Model):
    api_version: Literal["apps/v1"] = "apps/v1"
    kind: Literal["Deployment"] = "Deployment"
    metadata: ObjectMeta
    spec: DeploymentSpec
    status: DeploymentStatus | None = None


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
