"""Deployment (apps/v1): a ReplicaSet per pod template it has had, rolled from one to the next
within maxSurge and maxUnavailable (orchestrator/controllers/rollout.py decides the steps)."""

from __future__ import annotations

import re
from typing import Literal, Self

from pydantic import Field, model_validator

from kube import names
from kube.kinds.base import AGE, Column, Kind, map_list, nested
from kube.kinds.pod import POD_SPEC_LISTS, PodTemplateSpec
from kube.kinds.replicaset import WORKLOAD_WIDE, _check_selector_matches_template
from kube.meta import Condition, IntOrString, LabelSelector, Model, ObjectMeta

PERCENT = re.compile(r"^[0-9]+%$")


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
    def _values(self) -> Self:
        _check_int_or_percent(self.max_unavailable, "maxUnavailable")
        _check_int_or_percent(self.max_surge, "maxSurge")
        if self.max_unavailable in (0, "0%") and self.max_surge in (0, "0%"):
            raise ValueError("maxUnavailable and maxSurge may not both be 0")
        return self


class DeploymentStrategy(Model):
    type: Literal["RollingUpdate", "Recreate"] = "RollingUpdate"
    rolling_update: RollingUpdateDeployment | None = None

    @model_validator(mode="after")
    def _defaults(self) -> Self:
        if self.type == "RollingUpdate" and self.rolling_update is None:
            self._fill(rolling_update=RollingUpdateDeployment())
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
    def _selector(self) -> Self:
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
    status: DeploymentStatus = Field(default_factory=DeploymentStatus)


KIND = Kind(
    "Deployment", "deployments", "apps", "v1", True, Deployment, names.dns1123_subdomain,
    short_names=("deploy",), categories=("all",), subresources=("status", "scale"),
    status_on_create="reset", immutable=("spec.selector",),
    columns=(
        Column("READY", lambda d, _: f"{(d.get('status') or {}).get('readyReplicas', 0)}/"
                                     f"{d['spec'].get('replicas', 1)}"),
        Column("UP-TO-DATE", lambda d, _: str((d.get("status") or {}).get("updatedReplicas", 0)),
               type="integer"),
        Column("AVAILABLE", lambda d, _: str((d.get("status") or {}).get("availableReplicas",
                                                                           0)), type="integer"),
        AGE, *WORKLOAD_WIDE),
    list_merge={**nested("spec.template.spec", POD_SPEC_LISTS),
                "status.conditions": map_list("type")},
)
