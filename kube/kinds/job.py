"""Job (batch/v1): pods run to completion — `completions` successes (one per index with
completionMode Indexed), at most `parallelism` at a time, failed pods replaced until
`backoffLimit` failures, within `activeDeadlineSeconds`; deleted `ttlSecondsAfterFinished`
after it finished. orchestrator/controllers/job.py runs it.

As Kubernetes, a Job's selector is generated (unless `manualSelector`): its pods are labelled
with the Job's uid and name (`batch.kubernetes.io/controller-uid`, `…/job-name`, and the
legacy `controller-uid`, `job-name`) and selected by the uid, so two Jobs never share pods.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from kube import names
from kube.field_errors import INVALID, FieldError
from kube.kinds.base import AGE, Column, Kind, map_list, nested
from kube.kinds.pod import POD_SPEC_LISTS, PodTemplateSpec
from kube.kinds.replicaset import WORKLOAD_WIDE
from kube.meta import (Condition, LabelSelector, Model, ObjectMeta, Timestamp, refused,
                       selector_matches)
from kube.objects import Object
from kube.printing import human_duration
from kube.timestamps import parse_time

CONTROLLER_UID = "batch.kubernetes.io/controller-uid"
JOB_NAME = "batch.kubernetes.io/job-name"
LEGACY_CONTROLLER_UID, LEGACY_JOB_NAME = "controller-uid", "job-name"
COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"  # annotation and label
TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"  # on its pods until counted

BACKOFF_LIMIT_DEFAULT = 6


class PodFailurePolicyOnExitCodesRequirement(Model):
    container_name: str | None = None
    operator: Literal["In", "NotIn"]
    values: list[int] = Field(min_length=1, max_length=255)

    @model_validator(mode="after")
    def _values(self) -> Self:
        if len(set(self.values)) != len(self.values) or self.values != sorted(self.values):
            raise ValueError("values: must be ordered and without duplicates")
        if self.operator == "In" and 0 in self.values:
            raise ValueError("values: 0 is not allowed for the In operator")
        return self


class PodFailurePolicyOnPodConditionsPattern(Model):
    type: str
    status: Literal["True", "False", "Unknown"] = "True"


class PodFailurePolicyRule(Model):
    # FailIndex needs backoffLimitPerIndex, which is not implemented
    action: Annotated[Literal["FailJob", "Ignore", "Count", "FailIndex"],
                      refused('action "FailIndex"', ("FailIndex",))]
    on_exit_codes: PodFailurePolicyOnExitCodesRequirement | None = None
    on_pod_conditions: list[PodFailurePolicyOnPodConditionsPattern] | None = None

    @model_validator(mode="after")
    def _one_matcher(self) -> Self:
        if (self.on_exit_codes is None) == (not self.on_pod_conditions):
            raise ValueError("exactly one of onExitCodes and onPodConditions is required")
        return self


class PodFailurePolicy(Model):
    rules: list[PodFailurePolicyRule] = Field(max_length=20)


class JobSpec(Model):
    parallelism: int | None = Field(None, ge=0)
    completions: int | None = Field(None, ge=0)
    active_deadline_seconds: int | None = Field(None, ge=1)
    backoff_limit: int = Field(BACKOFF_LIMIT_DEFAULT, ge=0)
    selector: LabelSelector | None = None
    manual_selector: bool | None = None
    template: PodTemplateSpec
    ttl_seconds_after_finished: int | None = Field(None, ge=0)
    completion_mode: Literal["NonIndexed", "Indexed"] = "NonIndexed"
    suspend: bool = False
    pod_failure_policy: PodFailurePolicy | None = None
    # TerminatingOrFailed: a pod being deleted is replaced at once; Failed: once it is gone
    pod_replacement_policy: Literal["TerminatingOrFailed", "Failed"] | None = None

    @model_validator(mode="after")
    def _rules(self) -> Self:
        # Kubernetes' defaulting: neither set is one pod; parallelism alone is a work queue
        if self.completions is None and self.parallelism is None:
            self._fill(completions=1)
        if self.parallelism is None:
            self._fill(parallelism=1)
        if self.pod_replacement_policy is None:
            self._fill(pod_replacement_policy="Failed" if self.pod_failure_policy
                       else "TerminatingOrFailed")
        policy = self.template.spec.restart_policy
        if policy not in ("OnFailure", "Never"):
            raise ValueError(f"template.spec.restartPolicy: Unsupported value: {policy!r}: "
                             "supported values: \"OnFailure\", \"Never\"")
        if self.completion_mode == "Indexed" and self.completions is None:
            raise ValueError("completions: Required value: when completion mode is Indexed")
        if self.pod_failure_policy is not None and policy != "Never":
            raise ValueError("template.spec.restartPolicy: Invalid value: only \"Never\" is "
                             "supported when podFailurePolicy is specified")
        if self.pod_failure_policy is not None and self.pod_replacement_policy != "Failed":
            raise ValueError("podReplacementPolicy: Not supported: "
                             f"{self.pod_replacement_policy!r}: only \"Failed\" is supported "
                             "when podFailurePolicy is specified")
        if self.selector is not None:
            if not (self.selector.match_labels or self.selector.match_expressions):
                raise ValueError("selector: empty selector is invalid for a controller")
            labels = (self.template.metadata.labels if self.template.metadata else None) or {}
            if not selector_matches(self.selector, labels):
                raise ValueError("template.metadata.labels: Invalid value: selector does not "
                                 "match template labels")
        elif self.manual_selector:
            raise ValueError("selector: Required value: with manualSelector")
        return self


class UncountedTerminatedPods(Model):
    """Finished pods the controller has seen but not yet counted (their tracking finalizer
    is being removed): what keeps a count exact across a controller restart."""

    succeeded: list[str] | None = None
    failed: list[str] | None = None


class JobStatus(Model):
    conditions: list[Condition] | None = None
    start_time: Timestamp | None = None
    completion_time: Timestamp | None = None
    active: int | None = None
    succeeded: int | None = None
    failed: int | None = None
    terminating: int | None = None
    ready: int | None = None
    completed_indexes: str | None = None
    uncounted_terminated_pods: UncountedTerminatedPods | None = None


class Job(Model):
    api_version: Literal["batch/v1"] = "batch/v1"
    kind: Literal["Job"] = "Job"
    metadata: ObjectMeta
    spec: JobSpec
    status: JobStatus = Field(default_factory=JobStatus)


def _prepare_create(obj: Object) -> list[FieldError]:
    """PrepareForCreate, the Job's uid known: the generated selector and the template's labels
    (Kubernetes' generateSelector); a selector given without manualSelector is refused."""
    spec = obj["spec"]
    if spec.get("manualSelector"):
        return []
    uid, name = obj["metadata"]["uid"], obj["metadata"]["name"]
    if spec.get("selector") is not None:
        given = spec["selector"].get("matchLabels") or {}
        if given.get(CONTROLLER_UID) != uid:
            return [FieldError("spec.selector", "Invalid value: `selector` not auto-generated "
                               "(set manualSelector: true to choose one)", INVALID)]
    template = spec["template"]
    labels = template.setdefault("metadata", {}).setdefault("labels", {})
    labels.update({CONTROLLER_UID: uid, JOB_NAME: name, LEGACY_CONTROLLER_UID: uid,
                   LEGACY_JOB_NAME: name})
    spec["selector"] = {"matchLabels": {CONTROLLER_UID: uid}}
    return []


def _update_rules(old: Object, new: Object) -> list[FieldError]:
    """Kubernetes' Job update validation: the pod template, completions and the completion
    mode are fixed once created (parallelism, the deadline, backoffLimit, suspend and the TTL
    may change)."""
    errors = []
    for field in ("template", "completions", "completionMode", "podFailurePolicy",
                  "manualSelector"):
        if copy.deepcopy(old["spec"].get(field)) != new["spec"].get(field):
            errors.append(FieldError(f"spec.{field}", "Invalid value: field is immutable",
                                     INVALID))
    return errors


def completions_text(job: Object) -> str:
    """kubectl's COMPLETIONS: succeeded/completions, or of parallelism for a work queue."""
    spec, succeeded = job.get("spec") or {}, (job.get("status") or {}).get("succeeded") or 0
    if spec.get("completions") is not None:
        return f"{succeeded}/{spec['completions']}"
    parallelism = spec.get("parallelism")
    return f"{succeeded}/1 of {parallelism}" if parallelism and parallelism > 1 \
        else f"{succeeded}/1"


def job_duration(job: Object, now: datetime) -> str:
    status = job.get("status") or {}
    start = parse_time(status.get("startTime"))
    if start is None:
        return ""
    end = parse_time(status.get("completionTime")) or now
    return human_duration((end - start).total_seconds())


def job_status_word(job: Object) -> str:
    """kubectl's STATUS column of a Job."""
    true = {c.get("type") for c in (job.get("status") or {}).get("conditions") or ()
            if c.get("status") == "True"}
    if "Complete" in true:
        return "Complete"
    if "Failed" in true:
        return "Failed"
    if job["metadata"].get("deletionTimestamp"):
        return "Terminating"
    if "Suspended" in true:
        return "Suspended"
    return "Running"


KIND = Kind(
    "Job", "jobs", "batch", "v1", True, Job, names.dns1123_subdomain,
    categories=("all",), subresources=("status",), status_on_create="reset",
    immutable=("spec.selector",), update_rules=_update_rules, prepare_create=_prepare_create,
    columns=(
        Column("STATUS", lambda j, _: job_status_word(j),
               description="Complete, Failed, Suspended, Terminating or Running"),
        Column("COMPLETIONS", lambda j, _: completions_text(j),
               description="The pods that succeeded, of those wanted"),
        Column("DURATION", job_duration, description="How long the Job ran"),
        AGE, *WORKLOAD_WIDE),
    list_merge={**nested("spec.template.spec", POD_SPEC_LISTS),
                "status.conditions": map_list("type")},
)
