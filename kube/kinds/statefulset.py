"""StatefulSet (apps/v1): pods with a stable identity — `<name>-<ordinal>`, each the hostname
`<name>-<ordinal>` under the headless Service `serviceName` (so `web-0.web.<ns>.svc` resolves
to it) — made in order and each only once the one before is Running and Ready
(OrderedReady) or all at once (Parallel), removed from the highest ordinal down, and updated
from the highest ordinal down to `partition` (RollingUpdate) or only when deleted (OnDelete).
Each volumeClaimTemplates entry gives every pod a claim of its own, `<template>-<set>-<n>`,
made before the pod and kept when the pod goes (so `<set>-<n>` finds its data again), and
deleted with the set or on scale down only as `persistentVolumeClaimRetentionPolicy` says.
orchestrator/controllers/statefulset.py runs it."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import Field, ModelWrapValidatorHandler, model_validator

from kube import names
from kube.kinds.base import AGE, Column, Kind, map_list, nested
from kube.kinds.persistentvolumeclaim import PersistentVolumeClaimTemplate
from kube.kinds.pod import CLAIM_TEMPLATE_VOLUMES, POD_SPEC_LISTS, PodTemplateSpec
from kube.kinds.replicaset import WORKLOAD_WIDE, _check_selector_matches_template
from kube.meta import Condition, Dns1123Label, LabelSelector, Model, ObjectMeta, refused
from kube.objects import Object

POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"


class RollingUpdateStatefulSetStrategy(Model):
    partition: int = Field(0, ge=0)
    # Kubernetes' alpha MaxUnavailableStatefulSet: one pod at a time here
    max_unavailable: Annotated[Any, refused("maxUnavailable")] = None


class StatefulSetUpdateStrategy(Model):
    type: Literal["RollingUpdate", "OnDelete"] = "RollingUpdate"
    rolling_update: RollingUpdateStatefulSetStrategy | None = None

    @model_validator(mode="after")
    def _defaults(self) -> Self:
        if self.type == "RollingUpdate" and self.rolling_update is None:
            self._fill(rolling_update=RollingUpdateStatefulSetStrategy())
        if self.type == "OnDelete" and self.rolling_update is not None:
            raise ValueError("rollingUpdate: may not be specified when strategy type is "
                             "'OnDelete'")
        return self


class RetentionPolicy(Model):
    # Delete: the claims go with the set (whenDeleted), or with a pod removed by a scale down
    # (whenScaled), through owner references the garbage collector follows
    when_deleted: Literal["Retain", "Delete"] = "Retain"
    when_scaled: Literal["Retain", "Delete"] = "Retain"


class StatefulSetOrdinals(Model):
    start: int = Field(0, ge=0)


class StatefulSetSpec(Model):
    replicas: int = Field(1, ge=0)
    selector: LabelSelector
    template: PodTemplateSpec
    service_name: Dns1123Label | None = None
    pod_management_policy: Literal["OrderedReady", "Parallel"] = "OrderedReady"
    update_strategy: StatefulSetUpdateStrategy = Field(default_factory=StatefulSetUpdateStrategy)
    revision_history_limit: int = Field(10, ge=0)
    min_ready_seconds: int = Field(0, ge=0)
    persistent_volume_claim_retention_policy: RetentionPolicy = Field(
        default_factory=RetentionPolicy, alias="persistentVolumeClaimRetentionPolicy")
    ordinals: StatefulSetOrdinals | None = None
    volume_claim_templates: list[PersistentVolumeClaimTemplate] | None = None

    @model_validator(mode="wrap")
    @classmethod
    def _claim_volumes(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        """The pod template may mount the claim templates by name."""
        templates = data.get("volumeClaimTemplates") if isinstance(data, dict) else None
        names = frozenset(t["metadata"]["name"] for t in templates or ()
                          if isinstance(t, dict) and isinstance(t.get("metadata"), dict) and
                          isinstance(t["metadata"].get("name"), str))
        token = CLAIM_TEMPLATE_VOLUMES.set(names)
        try:
            return handler(data)
        finally:
            CLAIM_TEMPLATE_VOLUMES.reset(token)

    @model_validator(mode="after")
    def _selector(self) -> Self:
        _check_selector_matches_template(self.selector, self.template)
        names = [t.metadata.name for t in self.volume_claim_templates or ()]
        if any(not n for n in names):
            raise ValueError("volumeClaimTemplates: metadata.name: Required value")
        if len(set(names)) != len(names):
            raise ValueError("volumeClaimTemplates: Duplicate value: names must be unique")
        return self


class StatefulSetStatus(Model):
    observed_generation: int | None = None
    replicas: int = 0
    ready_replicas: int | None = None
    current_replicas: int | None = None
    updated_replicas: int | None = None
    current_revision: str | None = None
    update_revision: str | None = None
    collision_count: int | None = None
    available_replicas: int | None = None
    conditions: list[Condition] | None = None


class StatefulSet(Model):
    api_version: Literal["apps/v1"] = "apps/v1"
    kind: Literal["StatefulSet"] = "StatefulSet"
    metadata: ObjectMeta
    spec: StatefulSetSpec
    status: StatefulSetStatus = Field(default_factory=StatefulSetStatus)


def _ready_text(s: Object, _: Any) -> str:
    return f"{(s.get('status') or {}).get('readyReplicas') or 0}/{s['spec'].get('replicas', 1)}"


KIND = Kind(
    "StatefulSet", "statefulsets", "apps", "v1", True, StatefulSet, names.dns1123_subdomain,
    short_names=("sts",), categories=("all",), subresources=("status", "scale"),
    status_on_create="reset",
    immutable=("spec.selector", "spec.serviceName", "spec.podManagementPolicy",
               "spec.volumeClaimTemplates"),
    columns=(Column("READY", _ready_text, description="Ready pods, of those wanted"), AGE,
             *WORKLOAD_WIDE[:2]),
    list_merge={**nested("spec.template.spec", POD_SPEC_LISTS),
                "status.conditions": map_list("type")},
)
