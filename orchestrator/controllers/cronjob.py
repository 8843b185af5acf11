"""CronJob controller: makes a CronJob's Jobs on schedule, as Kubernetes' cronjob controller
(v2) does.

At each sync: the Jobs it owns are sorted into active and finished (status.active,
lastSuccessfulTime, the history limits); then the most recent scheduled time that has passed
since the last one (or the CronJob's creation) is due, unless it is older than
startingDeadlineSeconds; the concurrencyPolicy decides whether it runs beside, instead of or
not at all while an earlier Job is active. A Job is named after the scheduled minute, so a
time is never run twice (a second create answers AlreadyExists). The key is looked at again
at the next scheduled time.

Pure part (module functions): the schedule in its zone, the due time, the Job to create.
"""

from __future__ import annotations

import zoneinfo
from datetime import datetime, timedelta, timezone, tzinfo

from kube import cron
from kube.events import EventRecorder
from kube.kinds.cronjob import SCHEDULED_TIMESTAMP, CronJob
from kube.kinds.job import Job
from kube.objects import Object
from kube.ownership import controller_reference, controller_uid_of
from kube.registry import by_kind
from kube.timestamps import parse_time
from kube.typed import typed, typed_all
from orchestrator.api.objects import Objects
from orchestrator.api.status import ApiError
from orchestrator.controllers.base import Controller, Keys, controller_keys, object_key
from orchestrator.controllers.job import finished_condition

CRONJOB, JOB = by_kind("batch/v1", "CronJob"), by_kind("batch/v1", "Job")
TOO_MANY_MISSED = 100  # Kubernetes warns beyond this many missed times and runs the last


# --- pure -------------------------------------------------------------------------------------

def zone_of(cj: CronJob) -> tzinfo:
    return zoneinfo.ZoneInfo(cj.spec.time_zone) if cj.spec.time_zone else timezone.utc


def due_time(cj: CronJob, now: datetime) -> tuple[datetime | None, int, datetime]:
    """(the most recent scheduled time that has passed and not run yet — None when none has —,
    how many such times there were, the next scheduled time after now)."""
    schedule = cron.parse(cj.spec.schedule)
    zone = zone_of(cj)
    since = parse_time(cj.status.last_schedule_time) or \
        parse_time(cj.metadata.creation_timestamp) or now
    if cj.spec.starting_deadline_seconds is not None:  # older times could not start anyway
        since = max(since, now - timedelta(seconds=cj.spec.starting_deadline_seconds))
    t, last, missed = since.astimezone(zone), None, 0
    while True:
        t = schedule.next_after(t)
        if t > now:
            return last, missed, t
        last, missed = t, missed + 1
        if missed > 10 * TOO_MANY_MISSED:  # a long outage of a per-minute schedule
            return last, missed, schedule.next_after(now.astimezone(zone))


def job_name(cj: CronJob, scheduled: datetime) -> str:
    """Kubernetes' getJobName: the CronJob's name and the scheduled time in minutes."""
    return f"{cj.metadata.name}-{int(scheduled.timestamp()) // 60}"


def job_for(cj: CronJob, scheduled: datetime) -> Object:
    """The Job of one scheduled time (JSON, to create): the jobTemplate, named for the time,
    owned by the CronJob, annotated with the time it was scheduled for."""
    template = cj.spec.job_template.to_dict()
    metadata = template.get("metadata") or {}
    metadata.update(name=job_name(cj, scheduled), namespace=cj.metadata.namespace,
                    ownerReferences=[controller_reference(cj)])
    metadata.setdefault("annotations", {})[SCHEDULED_TIMESTAMP] = \
        scheduled.isoformat().replace("+00:00", "Z")  # RFC 3339, in the CronJob's zone
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata,
            "spec": template["spec"]}


def _reference(job: Job) -> Object:
    return {"apiVersion": "batch/v1", "kind": "Job", "name": job.metadata.name,
            "namespace": job.metadata.namespace, "uid": job.metadata.uid,
            "resourceVersion": job.metadata.resource_version}


def _finished_at(job: Job) -> datetime:
    condition = finished_condition(job) or {}
    return parse_time(condition.get("lastTransitionTime")) or \
        parse_time(job.metadata.creation_timestamp) or datetime.min.replace(tzinfo=timezone.utc)


# --- the controller ---------------------------------------------------------------------------

class CronJobController(Controller):
    name = "cronjob"

    def __init__(self, objects: Objects) -> None:
        super().__init__(objects)
        self.events = EventRecorder(objects, "cronjob-controller")

    def triggers(self) -> dict[str, Keys]:
        return {"cronjobs": lambda e: [object_key(e.object)],
                "jobs": controller_keys(self.store, "cronjobs")}

    def all_keys(self) -> list[str]:
        return [object_key(c) for c in self.store.cached("cronjobs")[0]]

    def sync(self, key: str) -> None:
        namespace, name = key.split("/", 1)
        stored = self.get_or_none(CRONJOB, namespace, name)
        if stored is None:
            return
        cj = typed(CronJob, stored)
        if cj.metadata.deletion_timestamp:
            return
        jobs = [j for j in typed_all(Job, self.store.list("jobs", namespace)[0])
                if controller_uid_of(j.metadata) == cj.metadata.uid]
        status = dict(stored.get("status") or {})
        active = [j for j in jobs if finished_condition(j) is None
                  and not j.metadata.deletion_timestamp]
        succeeded = [j for j in jobs if (finished_condition(j) or {}).get("type") == "Complete"]
        failed = [j for j in jobs if (finished_condition(j) or {}).get("type") == "Failed"]
        known = {r.get("uid") for r in status.get("active") or ()}
        for job in succeeded + failed:
            if job.metadata.uid in known:
                kind = (finished_condition(job) or {}).get("type")
                self.events.normal(cj, "SawCompletedJob",
                                   f"Saw completed job: {job.metadata.name}, status: {kind}")
        if succeeded:
            latest = max(_finished_at(j) for j in succeeded)
            previous = parse_time(status.get("lastSuccessfulTime"))
            if previous is None or latest > previous:
                status["lastSuccessfulTime"] = latest.strftime("%Y-%m-%dT%H:%M:%SZ")
        self._trim(cj, succeeded, cj.spec.successful_jobs_history_limit)
        self._trim(cj, failed, cj.spec.failed_jobs_history_limit)

        now = datetime.now(timezone.utc)
        try:
            scheduled, missed, upcoming = due_time(cj, now)
        except cron.CronError as e:  # validated on write; an older object may still fail
            self.events.warning(cj, "UnparseableSchedule", f"unparseable schedule: {e}")
            return
        if scheduled is not None and not cj.spec.suspend:
            if missed > TOO_MANY_MISSED:
                self.events.warning(cj, "TooManyMissedTimes",
                                    f"too many missed start times: {missed}. Set or decrease "
                                    ".spec.startingDeadlineSeconds or check clock skew")
            active, ran = self._run(cj, scheduled, active)
            if ran:  # else (Forbid) the time stays due, and runs when the active Job ends
                status["lastScheduleTime"] = scheduled.astimezone(timezone.utc).strftime(
                    "%Y-%m-%dT%H:%M:%SZ")
        status["active"] = [_reference(j) for j in active] or None
        status = {k: v for k, v in status.items() if v is not None}
        if (stored.get("status") or {}) != status:
            self.objects.update(CRONJOB, namespace, name, {**stored, "status": status},
                                subresource="status")
        if not cj.spec.suspend:
            self.queue.add_after(key, max(0.0, (upcoming - now).total_seconds()) + 0.1)

    def _run(self, cj: CronJob, scheduled: datetime, active: list[Job]
             ) -> tuple[list[Job], bool]:
        """Start the Job of `scheduled` as the concurrencyPolicy allows: the active Jobs after
        it, and whether the time has run (now or before)."""
        policy = cj.spec.concurrency_policy
        if active and policy == "Forbid":
            self.events.normal(cj, "JobAlreadyActive", "Not starting job because prior "
                               "execution is running and concurrency policy is Forbid")
            return active, False
        if active and policy == "Replace":
            for job in active:
                self._delete_job(cj, job)
            active = []
        try:
            made = self.objects.create(JOB, cj.metadata.namespace, job_for(cj, scheduled))
            self.events.normal(cj, "SuccessfulCreate", f"Created job {made['metadata']['name']}")
            return [*active, typed(Job, made)], True
        except ApiError as e:
            if e.code != 409:  # AlreadyExists: this time has run already
                self.events.warning(cj, "FailedCreate", f"Error creating job: {e.message}")
                raise
            return active, True

    def _trim(self, cj: CronJob, finished: list[Job], limit: int) -> None:
        """Keep the `limit` most recently finished Jobs of a kind; delete the older ones."""
        for job in sorted(finished, key=_finished_at)[:max(0, len(finished) - limit)]:
            self._delete_job(cj, job)

    def _delete_job(self, cj: CronJob, job: Job) -> None:
        try:
            self.objects.delete(JOB, job.metadata.namespace, job.metadata.name or "",
                                propagation_policy="Background")
        except ApiError as e:
            if e.code != 404:
                raise
            return
        self.events.normal(cj, "SuccessfulDelete", f"Deleted job {job.metadata.name}")
