"""Cron schedules (kube/cron.py), the CronJob kind's validation and the cronjob controller's
pure decisions (orchestrator/controllers/cronjob.py)."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from kube import cron
from kube.kinds.cronjob import SCHEDULED_TIMESTAMP, CronJob
from kube.registry import by_kind
from kube.validation import Invalid, validate_create
from orchestrator.controllers.cronjob import due_time, job_for, job_name

UTC = timezone.utc
T = datetime(2026, 12, 1, 17, 58, 30, tzinfo=UTC)  # a Tuesday


@pytest.mark.parametrize("schedule,after,expected", [
    ("*/15 9-17 * * MON-FRI", T, datetime(2026, 12, 2, 9, 0, tzinfo=UTC)),
    ("@hourly", T, datetime(2026, 12, 1, 18, 0, tzinfo=UTC)),
    ("@daily", T, datetime(2026, 12, 2, 0, 0, tzinfo=UTC)),
    ("@weekly", T, datetime(2026, 12, 6, 0, 0, tzinfo=UTC)),
    ("@monthly", T, datetime(2027, 1, 1, 0, 0, tzinfo=UTC)),
    ("@yearly", T, datetime(2027, 1, 1, 0, 0, tzinfo=UTC)),
    ("0 0 29 2 *", T, datetime(2028, 2, 29, 0, 0, tzinfo=UTC)),
    ("5 4 * * sun", T, datetime(2026, 12, 6, 4, 5, tzinfo=UTC)),
    ("5 4 * * 7", T, datetime(2026, 12, 6, 4, 5, tzinfo=UTC)),  # 7 is Sunday too
    # day of month and day of week both restricted: either matches (the 4th is a Friday)
    ("0 0 13 * 5", T, datetime(2026, 12, 4, 0, 0, tzinfo=UTC)),
    ("0 0 */2 * *", T, datetime(2026, 12, 3, 0, 0, tzinfo=UTC)),
    ("0,30 * * dec *", T, datetime(2026, 12, 1, 18, 0, tzinfo=UTC)),
    ("@every 90s", T, datetime(2026, 12, 1, 18, 0, 0, tzinfo=UTC)),
    ("59 17 1 12 *", T, datetime(2026, 12, 1, 17, 59, tzinfo=UTC)),
])
def test_next_run(schedule, after, expected):
    assert cron.parse(schedule).next_after(after) == expected


def test_a_schedule_is_read_in_its_zone():
    berlin = ZoneInfo("Europe/Berlin")
    got = cron.parse("0 9 * * *").next_after(T.astimezone(berlin))
    assert got == datetime(2026, 12, 2, 9, 0, tzinfo=berlin)
    assert got.astimezone(UTC).hour == 8


@pytest.mark.parametrize("schedule,problem", [
    ("* * * *", "expected exactly 5 fields"), ("61 * * * *", "out of range"),
    ("* * * * MOO", "failed to parse int"), ("5-1 * * * *", "beyond end of range"),
    ("*/0 * * * *", "bad step"), ("@fortnightly", "unrecognized descriptor"),
    ("TZ=UTC * * * * *", "use timeZone field instead"), ("0 0 30 2 *", "never runs"),
])
def test_bad_schedules_say_why(schedule, problem):
    with pytest.raises(cron.CronError, match=problem):
        cron.parse(schedule).next_after(T)


TEMPLATE = {"spec": {"template": {"spec": {"restartPolicy": "OnFailure", "containers": [
    {"name": "c", "image": "orch/web:1"}]}}}}


def cronjob(status=None, **spec) -> CronJob:
    return CronJob.model_validate({
        "metadata": {"name": "tick", "namespace": "ns", "uid": "cj-1",
                     "creationTimestamp": "2026-12-01T17:00:00Z"},
        "spec": {"schedule": "*/5 * * * *", "jobTemplate": TEMPLATE, **spec},
        "status": status or {}})


@pytest.mark.parametrize("spec,message", [
    ({"schedule": "every minute"}, "spec.schedule"),
    ({"timeZone": "Mars/Olympus"}, "unknown time zone"),
    ({"concurrencyPolicy": "Sometimes"}, "concurrencyPolicy"),
    ({"startingDeadlineSeconds": -1}, "startingDeadlineSeconds"),
    ({"successfulJobsHistoryLimit": -1}, "successfulJobsHistoryLimit"),
    ({"jobTemplate": {"spec": {"template": {"spec": {"containers": [
        {"name": "c", "image": "i"}]}}}}}, "restartPolicy"),
], ids=["schedule", "zone", "policy", "deadline", "history", "restart-policy"])
def test_bad_cronjobs_are_refused_naming_the_field(spec, message):
    body = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c"},
            "spec": {"schedule": "* * * * *", "jobTemplate": TEMPLATE, **spec}}
    with pytest.raises(Invalid) as caught:
        validate_create(by_kind("batch/v1", "CronJob"), body, "ns", "Strict", [])
    assert message in str(caught.value)


def test_a_long_name_is_refused():
    body = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "x" * 53},
            "spec": {"schedule": "* * * * *", "jobTemplate": TEMPLATE}}
    with pytest.raises(Invalid, match="no more than 52 characters"):
        validate_create(by_kind("batch/v1", "CronJob"), body, "ns", "Strict", [])


def test_the_due_time_is_the_latest_passed_one_since_the_last():
    cj = cronjob(status={"lastScheduleTime": "2026-12-01T17:40:00Z"})
    due, missed, upcoming = due_time(cj, T)
    assert due == datetime(2026, 12, 1, 17, 55, tzinfo=UTC) and missed == 3
    assert upcoming == datetime(2026, 12, 1, 18, 0, tzinfo=UTC)
    fresh = cronjob(status={"lastScheduleTime": "2026-12-01T17:55:00Z"})
    assert due_time(fresh, T)[0] is None


def test_a_starting_deadline_drops_times_too_old_to_start():
    late = cronjob(startingDeadlineSeconds=60,
                   status={"lastScheduleTime": "2026-12-01T17:40:00Z"})
    assert due_time(late, T)[0] is None  # 17:55 is 3.5 minutes ago
    assert due_time(cronjob(startingDeadlineSeconds=300), T)[0] == datetime(
        2026, 12, 1, 17, 55, tzinfo=UTC)


def test_the_job_of_a_time_is_named_for_its_minute_and_owned():
    scheduled = datetime(2026, 12, 1, 17, 55, tzinfo=UTC)
    job = job_for(cronjob(), scheduled)
    assert job["metadata"]["name"] == job_name(cronjob(), scheduled) == \
        f"tick-{int(scheduled.timestamp()) // 60}"
    assert job["metadata"]["annotations"][SCHEDULED_TIMESTAMP] == "2026-12-01T17:55:00Z"
    [owner] = job["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["uid"], owner["controller"]) == ("CronJob", "cj-1", True)
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "OnFailure"
