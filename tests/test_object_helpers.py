"""The one place each for conditions, ownership and timestamps (kube/)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from kube.conditions import condition, find, ready, typed_find
from kube.kinds.pod import Pod
from kube.kinds.replicaset import ReplicaSet
from kube.meta import Condition, ObjectMeta
from kube.ownership import controller_of, controller_reference, controller_uid_of
from kube.timestamps import format_time, parse_time


def with_conditions(*conditions):
    return {"metadata": {"name": "x"}, "status": {"conditions": list(conditions)}}


@pytest.mark.parametrize("conditions,is_ready", [
    ([{"type": "Ready", "status": "True"}], True),
    ([{"type": "Ready", "status": "False"}], False),
    ([{"type": "Initialized", "status": "True"}], False),
    (None, False),
], ids=["true", "false", "other-type", "no-status"])
def test_readiness_is_the_ready_condition(conditions, is_ready):
    typed = [Condition.model_validate(c) for c in conditions] if conditions is not None else None
    assert ready(typed) is is_ready


def test_finding_a_condition():
    obj = with_conditions({"type": "A", "status": "True"}, {"type": "B", "status": "False"})
    assert condition(obj, "B") == {"type": "B", "status": "False"}
    assert find(obj["status"]["conditions"], "C") is None and find(None, "A") is None
    typed = [Condition.model_validate(c) for c in obj["status"]["conditions"]]
    found = typed_find(typed, "B")
    assert found is not None and found.status == "False" and typed_find(typed, "C") is None


def test_the_controller_is_the_reference_marked_so():
    owner = ReplicaSet.model_validate({
        "metadata": {"name": "web-1", "uid": "u-1"},
        "spec": {"selector": {"matchLabels": {"a": "b"}},
                 "template": {"metadata": {"labels": {"a": "b"}},
                              "spec": {"containers": [{"name": "c", "image": "i"}]}}}})
    ref = controller_reference(owner)
    assert ref == {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-1", "uid": "u-1",
                   "controller": True, "blockOwnerDeletion": True}
    pod = Pod.model_validate({"metadata": {"ownerReferences": [
        {"uid": "other", "kind": "X", "apiVersion": "v1", "name": "x"}, ref]},
        "spec": {"containers": [{"name": "c", "image": "i"}]}})
    found = controller_of(pod.metadata)
    assert found is not None and found.name == "web-1"
    assert controller_uid_of(pod.metadata) == "u-1" and controller_uid_of(ObjectMeta()) is None


def test_times_round_trip_and_bad_ones_are_none():
    moment = datetime(2026, 12, 1, 9, 30, tzinfo=timezone.utc)
    assert parse_time(format_time(moment)) == moment
    assert parse_time("2026-12-01T09:30:00.123456Z").microsecond == 123456
    assert parse_time("yesterday") is None and parse_time(None) is None
