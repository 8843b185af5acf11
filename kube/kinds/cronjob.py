"""CronJob (batch/v1): a Job made from `jobTemplate` at each time `schedule` names (kube/cron.py;
read in `timeZone`, else the master's zone, UTC on the lab), with a concurrencyPolicy, a
startingDeadlineSeconds, suspend and the finished Jobs it keeps. orchestrator/controllers/
cronjob.py runs it."""

from __future__ import annotations

import zoneinfo
from datetime import datetime
from typing import Literal, Self

from pydantic import Field, field_validator, model_validator

from kube import cron, names
from kube.kinds.base import AGE, Column, Kind, nested
from kube.kinds.job import JobSpec
from kube.kinds.pod import POD_SPEC_LISTS
from kube.meta import Model, ObjectMeta, ObjectReference, Timestamp
from kube.objects import Object
from kube.printing import age, containers_and_images

# A Job's name is the CronJob's and "-" and the scheduled minute (up to 11 digits): 52 keeps
# it within 63, a label value (Kubernetes' limit).
MAX_NAME_LENGTH = 52
SCHEDULED_TIMESTAMP = "batch.kubernetes.io/cronjob-scheduled-timestamp"


class JobTemplateSpec(Model):
    metadata: ObjectMeta | None = None
    spec: JobSpec


class CronJobSpec(Model):
    schedule: str
    time_zone: str | None = None
    starting_deadline_seconds: int | None = Field(None, ge=0)
    concurrency_policy: Literal["Allow", "Forbid", "Replace"] = "Allow"
    suspend: bool = False
    job_template: JobTemplateSpec
    successful_jobs_history_limit: int = Field(3, ge=0)
    failed_jobs_history_limit: int = Field(1, ge=0)

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        try:
            cron.parse(value)
        except cron.CronError as e:
            raise ValueError(f"{value!r}: {e}") from None
        return value

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r}: unknown time zone {value}") from None
        return value

    @model_validator(mode="after")
    def _template(self) -> Self:
        if self.job_template.spec.selector is not None and \
                not self.job_template.spec.manual_selector:
            raise ValueError("jobTemplate.spec.selector: Invalid value: `selector` will be "
                             "auto-generated")
        return self


class CronJobStatus(Model):
    active: list[ObjectReference] | None = None
    last_schedule_time: Timestamp | None = None
    last_successful_time: Timestamp | None = None


class CronJob(Model):
    api_version: Literal["batch/v1"] = "batch/v1"
    kind: Literal["CronJob"] = "CronJob"
    metadata: ObjectMeta
    spec: CronJobSpec
    status: CronJobStatus = Field(default_factory=CronJobStatus)


def cronjob_name(name: str) -> list[str]:
    problems = names.dns1123_subdomain(name)
    if not problems and len(name) > MAX_NAME_LENGTH:
        problems = [f"must be no more than {MAX_NAME_LENGTH} characters"]
    return problems


def _template_spec(o: Object) -> Object:
    return ((((o.get("spec") or {}).get("jobTemplate") or {}).get("spec") or {})
            .get("template") or {}).get("spec") or {}


def _last_schedule(o: Object, now: datetime) -> str:
    last = (o.get("status") or {}).get("lastScheduleTime")
    return age(last, now) if last else "<none>"


KIND = Kind(
    "CronJob", "cronjobs", "batch", "v1", True, CronJob, cronjob_name, short_names=("cj",),
    categories=("all",), subresources=("status",), status_on_create="reset",
    columns=(
        Column("SCHEDULE", lambda c, _: c["spec"].get("schedule", "")),
        Column("TIMEZONE", lambda c, _: c["spec"].get("timeZone") or "<none>"),
        Column("SUSPEND", lambda c, _: str(bool(c["spec"].get("suspend"))), type="boolean"),
        Column("ACTIVE", lambda c, _: str(len((c.get("status") or {}).get("active") or ())),
               type="integer"),
        Column("LAST SCHEDULE", _last_schedule, description="Since the last Job was made"),
        AGE,
        Column("CONTAINERS", lambda c, _: containers_and_images(_template_spec(c))[0],
               priority=1),
        Column("IMAGES", lambda c, _: containers_and_images(_template_spec(c))[1], priority=1),
        Column("SELECTOR", lambda c, _: "<none>", priority=1),  # generated per Job
    ),
    list_merge={**nested("spec.jobTemplate.spec.template.spec", POD_SPEC_LISTS)},
)
