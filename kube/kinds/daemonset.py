"""DaemonSet (apps/v1): one pod of its template on every node that the template's
nodeSelector, node affinity and tolerations admit, replaced node by node (RollingUpdate
within maxUnavailable and maxSurge) or only when deleted (OnDelete) after the template
changes. orchestrator/controllers/daemonset.py runs it."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from kube import names
from kube.kinds.base import AGE, Column, Kind, map_list, nested
from kube.kinds.deployment import _check_int_or_percent
from kube.kinds.pod import POD_SPEC_LISTS, PodTemplateSpec
from kube.kinds.replicaset import WORKLOAD_WIDE, _check_selector_matches_template
from kube.meta import Condition, IntOrString, LabelSelector, Model, ObjectMeta
from kube.printing import labels_text


class RollingUpdateDaemonSet(Model):
    max_unavailable: IntOrString = 1
    max_surge: IntOrString = 0

    @model_validator(mode="after")
    def _values(self) -> Self:
        _check_int_or_percent(self.max_unavailable, "maxUnavailable")
        _check_int_or_percent(self.max_surge, "maxSurge")
        if self.max_unavailable in (0, "0%") and self.max_surge in (0, "0%"):
            raise ValueError("maxUnavailable: may not be 0 when maxSurge is 0")
        return self


class DaemonSetUpdateStrategy(Model):
    type: Literal["RollingUpdate", "OnDelete"] = "RollingUpdate"
    rolling_update: RollingUpdateDaemonSet | None = None

    @model_validator(mode="after")
    def _defaults(self) -> Self:
        if self.type == "RollingUpdate" and self.rolling_update is None:
            self._fill(rolling_update=RollingUpdateDaemonSet())
        if self.type == "OnDelete" and self.rolling_update is not None:
            raise ValueError("rollingUpdate: may not be specified when strategy type is "
                             "'OnDelete'")
        return self


class DaemonSetSpec(Model):
    selector: LabelSelector
    template: PodTemplateSpec
    update_strategy: DaemonSetUpdateStrategy = Field(default_factory=DaemonSetUpdateStrategy)
    min_ready_seconds: int = Field(0, ge=0)
    revision_history_limit: int = Field(10, ge=0)

    @model_validator(mode="after")
    def _selector(self) -> Self:
        _check_selector_matches_template(self.selector, self.template)
        return self


class DaemonSetStatus(Model):
    current_number_scheduled: int = 0
    number_misscheduled: int = 0
    desired_number_scheduled: int = 0
    number_ready: int = 0
    observed_generation: int | None = None
    updated_number_scheduled: int | None = None
    number_available: int | None = None
    number_unavailable: int | None = None
    collision_count: int | None = None
    conditions: list[Condition] | None = None


class DaemonSet(Model):
    api_version: Literal["apps/v1"] = "apps/v1"
    kind: Literal["DaemonSet"] = "DaemonSet"
    metadata: ObjectMeta
    spec: DaemonSetSpec
    status: DaemonSetStatus = Field(default_factory=DaemonSetStatus)


KIND = Kind(
    "DaemonSet", "daemonsets", "apps", "v1", True, DaemonSet, names.dns1123_subdomain,
    short_names=("ds",), categories=("all",), subresources=("status",),
    status_on_create="reset", immutable=("spec.selector",),
    columns=(
        Column("DESIRED", lambda d, _: str((d.get("status") or {}).get(
            "desiredNumberScheduled") or 0), type="integer"),
        Column("CURRENT", lambda d, _: str((d.get("status") or {}).get(
            "currentNumberScheduled") or 0), type="integer"),
        Column("READY", lambda d, _: str((d.get("status") or {}).get("numberReady") or 0),
               type="integer"),
        Column("UP-TO-DATE", lambda d, _: str((d.get("status") or {}).get(
            "updatedNumberScheduled") or 0), type="integer"),
        Column("AVAILABLE", lambda d, _: str((d.get("status") or {}).get(
            "numberAvailable") or 0), type="integer"),
        Column("NODE SELECTOR", lambda d, _: labels_text(
            ((d["spec"].get("template") or {}).get("spec") or {}).get("nodeSelector"))),
        AGE, *WORKLOAD_WIDE),
    list_merge={**nested("spec.template.spec", POD_SPEC_LISTS),
                "status.conditions": map_list("type")},
)
