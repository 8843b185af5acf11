"""Node lifecycle decisions: when a node is unreachable, which of its pods go and when."""

from __future__ import annotations

import pytest

from orchestrator.controllers import nodelifecycle as nl


def lease(rv: str) -> dict:
    return {"metadata": {"name": "host1", "resourceVersion": rv}}


def test_unreachable_is_measured_from_when_the_lease_last_changed_here() -> None:
    seen = nl.observe(None, lease("5"), now=100.0)
    assert not nl.is_unreachable(seen, 104.0, grace_period=5)
    seen = nl.observe(seen, lease("5"), now=104.0)  # same version: the clock keeps running
    assert nl.is_unreachable(seen, 105.5, grace_period=5)
    seen = nl.observe(seen, lease("9"), now=106.0)  # renewed
    assert not nl.is_unreachable(seen, 106.5, grace_period=5)


def test_a_node_without_a_lease_gets_a_full_grace_period_from_first_sight() -> None:
    seen = nl.observe(None, None, now=50.0)
    assert not nl.is_unreachable(seen, 54.0, 5) and nl.is_unreachable(seen, 55.1, 5)


def pod(name: str, tolerations=None, deleting=False) -> dict:
    meta = {"name": name, "namespace": "default"}
    if deleting:
        meta["deletionTimestamp"] = "2026-11-23T00:00:00Z"
    return {"metadata": meta, "spec": {"tolerations": tolerations or []},
            "status": {"conditions": [{"type": "Ready", "status": "True"},
                                      {"type": "PodScheduled", "status": "True"}]}}


@pytest.mark.parametrize("tolerations,expected", [
    ([], 0.0),
    ([{"key": nl.UNREACHABLE, "operator": "Exists", "effect": "NoExecute",
       "tolerationSeconds": 30}], 30.0),
    ([{"key": nl.UNREACHABLE, "operator": "Exists", "effect": "NoExecute"}], None),
    ([{"operator": "Exists"}], None),  # tolerates everything
    ([{"key": nl.UNREACHABLE, "operator": "Exists", "effect": "NoSchedule"}], 0.0),
    ([{"key": "other", "operator": "Exists"}], 0.0),
])
def test_toleration_seconds(tolerations, expected) -> None:
    assert nl.toleration_seconds(pod("p", tolerations)) == expected


def test_eviction_plan_waits_for_the_delay_and_each_toleration() -> None:
    pods = [pod("plain"), pod("gone", deleting=True),
            pod("patient", [{"key": nl.UNREACHABLE, "operator": "Exists",
                             "effect": "NoExecute", "tolerationSeconds": 10}]),
            pod("forever", [{"operator": "Exists"}])]
    evict, next_due = nl.eviction_plan(pods, unreachable_for=1.0, eviction_delay=2.0)
    assert evict == [] and next_due == 1.0
    evict, next_due = nl.eviction_plan(pods, unreachable_for=2.5, eviction_delay=2.0)
    assert [p["metadata"]["name"] for p in evict] == ["plain"] and next_due == 9.5
    evict, _ = nl.eviction_plan(pods, unreachable_for=13, eviction_delay=2.0)
    assert [p["metadata"]["name"] for p in evict] == ["plain", "patient"]


def test_pods_are_marked_not_ready_once() -> None:
    status = nl.not_ready_status(pod("p"))
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "NodeNotReady")
    assert nl.not_ready_status({**pod("p"), "status": status}) is None


def test_unreachable_taints_are_added_once_and_removed_alone() -> None:
    node = {"metadata": {"name": "n"}, "spec": {"taints": [{"key": "gpu", "effect": "NoSchedule"}]}}
    taints = nl.unreachable_taints(node)
    assert {(t["key"], t["effect"]) for t in taints} == {
        ("gpu", "NoSchedule"), (nl.UNREACHABLE, "NoSchedule"), (nl.UNREACHABLE, "NoExecute")}
    node["spec"]["taints"] = taints
    assert nl.unreachable_taints(node) == taints
    assert nl.without_unreachable_taints(node) == [{"key": "gpu", "effect": "NoSchedule"}]
