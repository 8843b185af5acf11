"""The StatefulSet controller's pure decisions (orchestrator/controllers/statefulset.py)."""

from __future__ import annotations

from datetime import datetime, timezone

from kube.kinds.pod import Pod
from kube.kinds.statefulset import StatefulSet
from orchestrator.controllers.history import HASH_LABEL
from orchestrator.controllers.statefulset import calculate_status, plan, pod_for

NOW = datetime(2026, 12, 1, tzinfo=timezone.utc)


def sts(replicas=3, **spec) -> StatefulSet:
    return StatefulSet.model_validate({
        "metadata": {"name": "db", "namespace": "ns", "uid": "s-1", "generation": 1},
        "spec": {"replicas": replicas, "serviceName": "db",
                 "selector": {"matchLabels": {"app": "db"}},
                 "template": {"metadata": {"labels": {"app": "db"}},
                              "spec": {"containers": [{"name": "c", "image": "i"}]}}, **spec}})


def pod(n, revision="new", ready=True, phase="Running", deleting=False) -> Pod:
    meta = {"name": f"db-{n}", "namespace": "ns", "uid": f"u{n}",
            "labels": {"app": "db", HASH_LABEL: revision}}
    if deleting:
        meta["deletionTimestamp"] = "2026-12-01T00:00:00Z"
    return Pod.model_validate({"metadata": meta, "spec": {"containers": [
        {"name": "c", "image": "i"}]}, "status": {"phase": phase, "conditions": [
            {"type": "Ready", "status": "True" if ready else "False"}]}})


def test_ordered_ready_makes_one_pod_at_a_time_in_order():
    assert plan(sts(), [], "new", NOW).create == [0]
    assert plan(sts(), [pod(0, ready=False)], "new", NOW).create == []
    assert plan(sts(), [pod(0)], "new", NOW).create == [1]
    assert plan(sts(podManagementPolicy="Parallel"), [], "new", NOW).create == [0, 1, 2]


def test_scale_down_removes_the_highest_first_one_at_a_time():
    out = plan(sts(1), [pod(0), pod(1), pod(2)], "new", NOW)
    assert [p.metadata.name for p in out.delete] == ["db-2"]
    waiting = plan(sts(1), [pod(0), pod(1), pod(2, deleting=True)], "new", NOW)
    assert waiting.delete == [] and "db-2" in waiting.waiting
    # an unhealthy pod below stops the removal too
    assert plan(sts(1), [pod(0, ready=False), pod(1)], "new", NOW).delete == []


def test_a_rolling_update_goes_from_the_top_down_to_the_partition():
    old = [pod(0, "old"), pod(1, "old"), pod(2, "old")]
    assert [p.metadata.name for p in plan(sts(), old, "new", NOW).delete] == ["db-2"]
    half = [pod(0, "old"), pod(1, "old"), pod(2, "new", ready=False)]
    assert plan(sts(), half, "new", NOW).delete == []  # waits for db-2 to be ready
    partitioned = sts(updateStrategy={"rollingUpdate": {"partition": 2}})
    done = [pod(0, "old"), pod(1, "old"), pod(2, "new")]
    assert plan(partitioned, done, "new", NOW).delete == []
    assert plan(sts(updateStrategy={"type": "OnDelete"}), old, "new", NOW).delete == []


def test_a_failed_pod_is_replaced():
    out = plan(sts(), [pod(0, phase="Failed")], "new", NOW)
    assert [p.metadata.name for p in out.delete] == ["db-0"]


def test_a_pod_of_an_ordinal_has_its_identity():
    made = pod_for(sts(), 2, sts().spec.template.to_dict(), "abc")
    assert made["metadata"]["name"] == "db-2"
    assert made["spec"]["hostname"] == "db-2" and made["spec"]["subdomain"] == "db"
    labels = made["metadata"]["labels"]
    assert labels["statefulset.kubernetes.io/pod-name"] == "db-2"
    assert labels["apps.kubernetes.io/pod-index"] == "2" and labels[HASH_LABEL] == "abc"


def test_ordinals_start_where_asked():
    assert plan(sts(2, ordinals={"start": 5}), [], "new", NOW).create == [5]


def test_status_moves_the_current_revision_once_the_update_is_complete():
    midway = calculate_status(sts(), [pod(0, "old"), pod(1, "new"), pod(2, "new")], "old",
                              "new", NOW)
    assert midway["currentRevision"] == "db-old" and midway["updatedReplicas"] == 2
    done = calculate_status(sts(), [pod(0), pod(1), pod(2)], "old", "new", NOW)
    assert done["currentRevision"] == done["updateRevision"] == "db-new"
    assert done["readyReplicas"] == done["currentReplicas"] == 3
