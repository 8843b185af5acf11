"""ReplicationController (core/v1): the ReplicaSet's predecessor, which Kubernetes keeps —
`replicas` pods of its template, chosen by an equality-only `selector` (a map, defaulting to
the template's labels). orchestrator/controllers/replication.py runs it with the ReplicaSet
controller's code, as Kubernetes' replication manager does."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from kube import names
from kube.kinds.base import AGE, Kind, map_list, nested
from kube.kinds.pod import POD_SPEC_LISTS, PodTemplateSpec
from kube.kinds.replicaset import REPLICA_COLUMNS, WORKLOAD_WIDE, ReplicaSet, ReplicaSetStatus
from kube.meta import Labels, Model, ObjectMeta
from kube.objects import Object


class ReplicationControllerSpec(Model):
    replicas: int = Field(1, ge=0)
    min_ready_seconds: int = Field(0, ge=0)
    selector: Labels | None = None
    template: PodTemplateSpec

    @model_validator(mode="after")
    def _selector(self) -> Self:
        labels = (self.template.metadata.labels if self.template.metadata else None) or {}
        if not self.selector:  # Kubernetes' defaulting: the template's labels
            self._fill(selector=dict(labels))
        if not self.selector:
            raise ValueError("selector: Required value")
        if any(labels.get(k) != v for k, v in self.selector.items()):
            raise ValueError("template.metadata.labels: Invalid value: selector does not match "
                             "template labels")
        if self.template.spec.restart_policy != "Always":
            raise ValueError(f"template.spec.restartPolicy: Unsupported value: "
                             f"{self.template.spec.restart_policy!r}: supported values: "
                             "\"Always\"")
        return self


class ReplicationController(Model):
    api_version: Literal["v1"] = "v1"
    kind: Literal["ReplicationController"] = "ReplicationController"
    metadata: ObjectMeta
    spec: ReplicationControllerSpec
    status: ReplicaSetStatus = Field(default_factory=ReplicaSetStatus)

    @model_validator(mode="after")
    def _labels(self) -> Self:
        if not self.metadata.labels and self.spec.template.metadata:
            # Kubernetes' defaulting: an unlabelled RC takes its template's labels
            self.metadata._fill(labels=dict(self.spec.template.metadata.labels or {}) or None)
        return self


def as_replicaset(stored: Object) -> ReplicaSet:
    """The RC read as a ReplicaSet (its selector as matchLabels), keeping its own kind and
    version, so that what the ReplicaSet controller writes (owner references, events) names
    the RC."""
    spec = stored["spec"]
    rs = ReplicaSet.model_validate({
        "metadata": stored["metadata"], "status": stored.get("status") or {},
        "spec": {"replicas": spec.get("replicas", 1),
                 "minReadySeconds": spec.get("minReadySeconds", 0),
                 "selector": {"matchLabels": spec.get("selector") or {}},
                 "template": spec["template"]}})
    return rs.model_copy(update={"api_version": "v1", "kind": "ReplicationController"})


KIND = Kind(
    "ReplicationController", "replicationcontrollers", "", "v1", True, ReplicationController,
    names.dns1123_subdomain, short_names=("rc",), categories=("all",),
    subresources=("status", "scale"), status_on_create="reset",
    columns=(*REPLICA_COLUMNS, AGE, *WORKLOAD_WIDE),
    list_merge={**nested("spec.template.spec", POD_SPEC_LISTS),
                "status.conditions": map_list("type")},
)
