"""The one place each for conditions, ownership and timestamps (kube/)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from kube.conditions import condition, find, node_is_ready, pod_is_ready
from kube.ownership import controller_ref, controller_uid, owner_reference
from kube.timestamps import format_time, parse_time


def with_conditions(*conditions):
    return {"metadata": {"name": "x"}, "status": {"conditions": list(conditions)}}


@pytest.mark.parametrize("obj,ready", [
    (with_conditions({"type": "Ready", "status": "True"}), True),
    (with_conditions({"type": "Ready", "status": "False"}), False),
    (with_conditions({"type": "Initialized", "status": "True"}), False),
    ({"metadata": {"name": "x"}}, False),
], ids=["true", "false", "other-type", "no-status"])
def test_readiness_is_the_ready_condition(obj, ready):
    assert pod_is_ready(obj) is ready and node_is_ready(obj) is ready


def test_finding_a_condition():
    obj = with_conditions({"type": "A", "status": "True"}, {"type": "B", "status": "False"})
    assert condition(obj, "B") == {"type": "B", "status": "False"}
    assert find(obj["status"]["conditions"], "C") is None and find(None, "A") is None


def test_the_controller_is_the_reference_marked_so():
    owner = {"metadata": {"name": "web-1", "uid": "u-1"}}
    ref = owner_reference(owner, "apps/v1", "ReplicaSet")
    pod = {"metadata": {"ownerReferences": [{"uid": "other", "kind": "X"}, ref]}}
    assert controller_ref(pod) == ref and controller_uid(pod) == "u-1"
    assert ref["blockOwnerDeletion"] and controller_uid({"metadata": {}}) is None


def test_times_round_trip_and_bad_ones_are_none():
    moment = datetime(2026, 12, 1, 9, 30, tzinfo=timezone.utc)
    assert parse_time(format_time(moment)) == moment
    assert parse_time("2026-12-01T09:30:00.123456Z").microsecond == 123456
    assert parse_time("yesterday") is None and parse_time(None) is None
