"""Jobs on the live lab: pods run to completion, counted exactly, with Kubernetes' limits
(backoffLimit, activeDeadlineSeconds, suspend, ttlSecondsAfterFinished). Oracles: the pods'
own output (logs), what the agents report of their containers, and the objects left behind."""

from __future__ import annotations

from integration_tests.hosts import Cluster, wait_until
from integration_tests.test_kubectl import kubectl  # noqa: F401 - the fixture

TRACKING = "batch.kubernetes.io/job-tracking"


def make_job(cluster: Cluster, ns: str, name: str, script: str, **spec) -> dict:
    body = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
            "spec": {"template": {"spec": {
                "restartPolicy": spec.pop("restartPolicy", "Never"),
                "containers": [{"name": "c", "image": "orch/web:1",
                                "command": ["sh", "-c", script],
                                "env": [{"name": "INDEX", "valueFrom": {"fieldRef": {
                                    "fieldPath": "metadata.annotations['batch.kubernetes.io/"
                                                 "job-completion-index']"}}}]
                                if spec.get("completionMode") == "Indexed" else []}]}},
                     **spec}}
    r = cluster.api().post(f"/apis/batch/v1/namespaces/{ns}/jobs", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def job_of(cluster: Cluster, ns: str, name: str) -> dict:
    return cluster.api().get(f"/apis/batch/v1/namespaces/{ns}/jobs/{name}").json()


def condition(job: dict, kind: str) -> dict | None:
    return next((c for c in (job.get("status") or {}).get("conditions") or ()
                 if c["type"] == kind and c["status"] == "True"), None)


def wait_condition(cluster: Cluster, ns: str, name: str, kind: str, timeout: float = 90) -> dict:
    return wait_until(lambda: condition(j := job_of(cluster, ns, name), kind) and j, timeout,
                      f"job {name} to be {kind}")


def pods_of(cluster: Cluster, ns: str, name: str) -> list[dict]:
    return cluster.api().get(f"/api/v1/namespaces/{ns}/pods", params={
        "labelSelector": f"batch.kubernetes.io/job-name={name}"}).json()["items"]


def test_completions_run_at_most_parallelism_at_a_time_and_are_counted_once(
        cluster: Cluster, ns: str) -> None:
    make_job(cluster, ns, "count", "echo ran; sleep 2", completions=4, parallelism=2)
    seen_running = 0

    def done():
        nonlocal seen_running
        running = [p for p in pods_of(cluster, ns, "count")
                   if p["status"].get("phase") in ("Pending", "Running")]
        seen_running = max(seen_running, len(running))
        return condition(j := job_of(cluster, ns, "count"), "Complete") and j

    job = wait_until(done, 120, "the job to complete")
    assert 1 <= seen_running <= 2
    status = job["status"]
    assert (status["succeeded"], status.get("failed", 0), status["active"]) == (4, 0, 0)
    assert status["completionTime"] >= status["startTime"]
    pods = pods_of(cluster, ns, "count")
    assert len(pods) == 4 and all(p["status"]["phase"] == "Succeeded" for p in pods)
    assert not any(TRACKING in (p["metadata"].get("finalizers") or ()) for p in pods)
    logs = {cluster.api().get(f"/api/v1/namespaces/{ns}/pods/{p['metadata']['name']}/log").text
            for p in pods}
    assert logs == {"ran\n"}


def test_an_indexed_job_runs_each_index_once(cluster: Cluster, ns: str) -> None:
    make_job(cluster, ns, "idx", 'echo "index $INDEX on $(hostname)"', completions=3,
             parallelism=3, completionMode="Indexed")
    job = wait_condition(cluster, ns, "idx", "Complete")
    assert job["status"]["completedIndexes"] == "0-2"
    logs = sorted(cluster.api().get(
        f"/api/v1/namespaces/{ns}/pods/{p['metadata']['name']}/log").text
        for p in pods_of(cluster, ns, "idx"))
    assert logs == [f"index {i} on idx-{i}\n" for i in range(3)]


def test_backoff_limit_fails_the_job_and_a_deleted_pod_counts_as_failed(
        cluster: Cluster, ns: str) -> None:
    make_job(cluster, ns, "crash", "exit 1", backoffLimit=2)
    job = wait_condition(cluster, ns, "crash", "Failed")
    assert condition(job, "Failed")["reason"] == "BackoffLimitExceeded"
    assert job["status"]["failed"] == 3 and len(pods_of(cluster, ns, "crash")) == 3

    make_job(cluster, ns, "victim", "sleep 3600", backoffLimit=0)
    [pod] = wait_until(lambda: [p for p in pods_of(cluster, ns, "victim")
                                if p["status"].get("phase") == "Running"], 60, "its pod to run")
    cluster.api().delete(f"/api/v1/namespaces/{ns}/pods/{pod['metadata']['name']}",
                         params={"gracePeriodSeconds": "0"}).raise_for_status()
    job = wait_condition(cluster, ns, "victim", "Failed")
    assert job["status"]["failed"] == 1


def test_a_deadline_stops_a_job_and_a_suspended_job_waits(cluster: Cluster, ns: str) -> None:
    make_job(cluster, ns, "slow", "sleep 3600", activeDeadlineSeconds=3)
    job = wait_condition(cluster, ns, "slow", "Failed")
    assert condition(job, "Failed")["reason"] == "DeadlineExceeded"
    wait_until(lambda: not [p for p in pods_of(cluster, ns, "slow")
                            if p["status"].get("phase") == "Running"], 60, "its pod to stop")

    make_job(cluster, ns, "later", "echo resumed", suspend=True)
    wait_condition(cluster, ns, "later", "Suspended")
    assert pods_of(cluster, ns, "later") == []
    cluster.api().patch(f"/apis/batch/v1/namespaces/{ns}/jobs/later", json={
        "spec": {"suspend": False}}, headers={"Content-Type": "application/merge-patch+json"}
    ).raise_for_status()
    job = wait_condition(cluster, ns, "later", "Complete")
    suspended = next(c for c in job["status"]["conditions"] if c["type"] == "Suspended")
    assert (suspended["status"], suspended["reason"]) == ("False", "JobResumed")


def test_a_finished_job_goes_after_its_ttl_with_its_pods(cluster: Cluster, ns: str) -> None:
    make_job(cluster, ns, "brief", "true", ttlSecondsAfterFinished=2)
    wait_until(lambda: cluster.api().get(f"/apis/batch/v1/namespaces/{ns}/jobs/brief"
                                         ).status_code == 404, 90, "the job to be deleted")
    wait_until(lambda: pods_of(cluster, ns, "brief") == [], 60, "its pods to be collected")


def test_kubectl_creates_a_job_and_reads_its_logs(cluster: Cluster, ns: str,
                                                  kubectl) -> None:  # noqa: F811
    kubectl("create", "job", "hello", "--image=orch/web:1", "--", "echo", "hi")  # protobuf
    kubectl("wait", "--for=condition=complete", "job/hello", "--timeout=90s")
    assert kubectl("logs", "job/hello").stdout == "hi\n"
    table = kubectl("get", "jobs").stdout.splitlines()
    assert table[0].split() == ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]
    assert table[1].split()[:3] == ["hello", "Complete", "1/1"]
    kubectl("delete", "job", "hello")  # background propagation: the collector takes its pod
    wait_until(lambda: pods_of(cluster, ns, "hello") == [], 60,
               "the job's pod to be collected")


def test_a_cronjob_starts_its_job_on_schedule_in_its_time_zone(cluster: Cluster, ns: str) -> None:
    """The schedule names a wall time in Asia/Kolkata (UTC+5:30) a minute or so from now: a
    Job appears then only if the zone is honoured (read as UTC it would be hours away)."""
    from datetime import datetime, timedelta, timezone
    from zoneinfo import ZoneInfo

    kolkata = ZoneInfo("Asia/Kolkata")
    at = (datetime.now(timezone.utc) + timedelta(seconds=80)).astimezone(kolkata).replace(
        second=0, microsecond=0)
    api = cluster.api()
    r = api.post(f"/apis/batch/v1/namespaces/{ns}/cronjobs", json={
        "apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "tick"},
        "spec": {"schedule": f"{at.minute} {at.hour} * * *", "timeZone": "Asia/Kolkata",
                 "successfulJobsHistoryLimit": 1,
                 "jobTemplate": {"spec": {"template": {"spec": {
                     "restartPolicy": "OnFailure",
                     "containers": [{"name": "c", "image": "orch/web:1",
                                     "command": ["echo", "tick"]}]}}}}}})
    assert r.status_code == 201, r.text
    jobs = wait_until(lambda: api.get(f"/apis/batch/v1/namespaces/{ns}/jobs").json()["items"],
                      150, "the scheduled job")
    [job] = jobs
    assert job["metadata"]["name"] == f"tick-{int(at.timestamp()) // 60}"
    annotation = job["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"]
    assert datetime.fromisoformat(annotation) == at
    started = datetime.now(timezone.utc)
    assert started >= at - timedelta(seconds=1), "not before its time"
    wait_condition(cluster, ns, job["metadata"]["name"], "Complete")
    status = wait_until(lambda: (s := api.get(f"/apis/batch/v1/namespaces/{ns}/cronjobs/tick")
                                 .json()["status"]).get("lastSuccessfulTime") and s, 60,
                        "the cronjob to see its job succeed")
    assert datetime.fromisoformat(status["lastScheduleTime"].replace("Z", "+00:00")) == at
    assert not status.get("active")


def test_a_job_with_a_manual_selector_adopts_a_matching_orphan_and_counts_it(
        cluster: Cluster, ns: str) -> None:
    api = cluster.api()
    labels = {"batch": "adopt-me"}
    orphan = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "orphan", "labels": labels},
              "spec": {"restartPolicy": "Never", "containers": [
                  {"name": "c", "image": "orch/web:1", "command": ["sh", "-c", "sleep 3"]}]}}
    api.post(f"/api/v1/namespaces/{ns}/pods", json=orphan).raise_for_status()
    job = api.post(f"/apis/batch/v1/namespaces/{ns}/jobs", json={
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "adopter"},
        "spec": {"manualSelector": True, "selector": {"matchLabels": labels},
                 "completions": 2, "parallelism": 1,
                 "template": {"metadata": {"labels": labels}, "spec": {
                     "restartPolicy": "Never", "containers": [
                         {"name": "c", "image": "orch/web:1", "command": ["true"]}]}}}})
    assert job.status_code == 201, job.text
    uid = job.json()["metadata"]["uid"]
    done = wait_condition(cluster, ns, "adopter", "Complete")
    assert done["status"]["succeeded"] == 2
    pods = api.get(f"/api/v1/namespaces/{ns}/pods",
                   params={"labelSelector": "batch=adopt-me"}).json()["items"]
    # the orphan ran as one of the two completions: the Job made only one pod of its own
    assert len(pods) == 2, [p["metadata"]["name"] for p in pods]
    adopted = next(p for p in pods if p["metadata"]["name"] == "orphan")
    assert [r["uid"] for r in adopted["metadata"]["ownerReferences"] if r.get("controller")] == \
        [uid]
    assert TRACKING not in (adopted["metadata"].get("finalizers") or [])  # counted, let go
