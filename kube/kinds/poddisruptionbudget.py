"""PodDisruptionBudget (policy/v1): how many of the pods a selector picks must stay healthy
(minAvailable) or may be down (maxUnavailable) through voluntary disruptions — evictions
(pods/NAME/eviction: `kubectl drain`, `orchctl drain`). The disruption controller
(orchestrator/controllers/disruption.py) keeps its status; the eviction subresource
(orchestrator/api/eviction.py) spends it."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Self

from pydantic import Field, model_validator

from kube import names
from kube.kinds.base import AGE, Cell, Column, Kind, map_list
from kube.kinds.deployment import _check_int_or_percent
from kube.meta import Condition, IntOrString, LabelSelector, Model, ObjectMeta, Timestamp
from kube.objects import Object


class PodDisruptionBudgetSpec(Model):
    min_available: IntOrString | None = None
    max_unavailable: IntOrString | None = None
    selector: LabelSelector | None = None
    # IfHealthyBudget: an unready pod may be evicted only while the budget holds anyway;
    # AlwaysAllow: an unready pod may always be evicted
    unhealthy_pod_eviction_policy: Literal["IfHealthyBudget", "AlwaysAllow"] | None = None

    @model_validator(mode="after")
    def _one(self) -> Self:
        if self.min_available is not None and self.max_unavailable is not None:
            raise ValueError("minAvailable and maxUnavailable cannot be both set")
        for field, value in (("minAvailable", self.min_available),
                             ("maxUnavailable", self.max_unavailable)):
            if value is not None:
                _check_int_or_percent(value, field)
                if isinstance(value, str) and int(value.rstrip("%")) > 100:
                    raise ValueError(f"{field}: must not be greater than 100%")
        return self


class PodDisruptionBudgetStatus(Model):
    observed_generation: int | None = None
    disrupted_pods: dict[str, Timestamp] | None = None
    disruptions_allowed: int = 0
    current_healthy: int = 0
    desired_healthy: int = 0
    expected_pods: int = 0
    conditions: list[Condition] | None = None


class PodDisruptionBudget(Model):
    api_version: Literal["policy/v1"] = "policy/v1"
    kind: Literal["PodDisruptionBudget"] = "PodDisruptionBudget"
    metadata: ObjectMeta
    spec: PodDisruptionBudgetSpec = Field(default_factory=PodDisruptionBudgetSpec)
    status: PodDisruptionBudgetStatus = Field(default_factory=PodDisruptionBudgetStatus)


def _value(field: str) -> Cell:
    def cell(p: Object, _: datetime) -> str:
        value = (p.get("spec") or {}).get(field)
        return "N/A" if value is None else str(value)
    return cell


KIND = Kind(
    "PodDisruptionBudget", "poddisruptionbudgets", "policy", "v1", True, PodDisruptionBudget,
    names.dns1123_subdomain, short_names=("pdb",), subresources=("status",),
    status_on_create="reset",
    columns=(Column("MIN AVAILABLE", _value("minAvailable")),
             Column("MAX UNAVAILABLE", _value("maxUnavailable")),
             Column("ALLOWED DISRUPTIONS", lambda p, _: str((p.get("status") or {}).get(
                 "disruptionsAllowed", 0)), type="integer"),
             AGE),
    list_merge={"status.conditions": map_list("type")},
)
