"""ReplicaSet (apps/v1): keeps `replicas` pods of its template running."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from kube import names
from kube.kinds.base import AGE, Column, Kind, map_list, nested
from kube.kinds.pod import POD_SPEC_LISTS, PodTemplateSpec
from kube.meta import Condition, LabelSelector, Model, ObjectMeta, selector_matches
from kube.objects import Object
from kube.printing import containers_and_images, selector_text


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
    def _selector(self) -> Self:
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
    status: ReplicaSetStatus = Field(default_factory=ReplicaSetStatus)


def _template_spec(o: Object) -> Object:
    return ((o.get("spec") or {}).get("template") or {}).get("spec") or {}


WORKLOAD_WIDE = (  # Deployments and ReplicaSets, with -o wide
    Column("CONTAINERS", lambda o, _: containers_and_images(_template_spec(o))[0], priority=1),
    Column("IMAGES", lambda o, _: containers_and_images(_template_spec(o))[1], priority=1),
    Column("SELECTOR", lambda o, _: selector_text(o["spec"].get("selector")), priority=1),
)


# DESIRED, CURRENT, READY: a ReplicaSet's and a ReplicationController's
REPLICA_COLUMNS = (
    Column("DESIRED", lambda r, _: str(r["spec"].get("replicas", 1)), type="integer"),
    Column("CURRENT", lambda r, _: str((r.get("status") or {}).get("replicas", 0)),
           type="integer"),
    Column("READY", lambda r, _: str((r.get("status") or {}).get("readyReplicas", 0)),
           type="integer"),
)

KIND = Kind(
    "ReplicaSet", "replicasets", "apps", "v1", True, ReplicaSet, names.dns1123_subdomain,
    short_names=("rs",), categories=("all",), subresources=("status", "scale"),
    status_on_create="reset", immutable=("spec.selector",), field_selectors=("status.replicas",),
    columns=(*REPLICA_COLUMNS, AGE, *WORKLOAD_WIDE),
    list_merge={**nested("spec.template.spec", POD_SPEC_LISTS),
                "status.conditions": map_list("type")},
)
