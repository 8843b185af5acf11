"""StatefulSet (apps/v1): pods with a stable identity — `<name>-<ordinal>`, each the hostname
`<name>-<ordinal>` under the headless Service `serviceName` (so `web-0.web.<ns>.svc` resolves
to it) — made in order and each only once the one before is Running and Ready
(OrderedReady) or all at once (Parallel), removed from the highest ordinal down, and updated
from the highest ordinal down to `partition` (RollingUpdate) or only when deleted (OnDelete).
orchestrator/controllers/statefulset.py runs it. volumeClaimTemplates need
PersistentVolumeClaims, which are not served yet: they are refused."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import Field, model_validator

from kube import names
from kube.kinds.base import AGE, Column, Kind, map_list, nested
from kube.kinds.pod import POD_SPEC_LISTS, PodTemplateSpec
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
    # without volumeClaimTemplates there are no claims to delete: Retain is all there is
    when_deleted: Annotated[Literal["Retain", "Delete"], refused('whenDeleted "Delete"',
                                                                 ("Delete",))] = "Retain"
    when_scaled: Annotated[Literal["Retain", "Delete"], refused('whenScaled "Delete"',
                                                                ("Delete",))] = "Retain"


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
    volume_claim_templates: Annotated[list[Any] | None, refused(
        "volumeClaimTemplates (PersistentVolumeClaims)")] = None

    @model_validator(mode="after")
    def _selector(self) -> Self:
        _check_selector_matches_template(self.selector, self.template)
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
    immutable=("spec.selector", "spec.serviceName", "spec.podManagementPolicy"),
    columns=(Column("READY", _ready_text, description="Ready pods, of those wanted"), AGE,
             *WORKLOAD_WIDE[:2]),
    list_merge={**nested("spec.template.spec", POD_SPEC_LISTS),
                "status.conditions": map_list("type")},
)
