"""PodDisruptionBudgets: the disruption controller's status (orchestrator/controllers/
disruption.py) and the eviction subresource's decisions (orchestrator/api/eviction.py) against
a live API on a real etcd."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from kube.kinds.pod import Pod
from kube.kinds.poddisruptionbudget import PodDisruptionBudget
from orchestrator.controllers.disruption import budget, calculate_status, selected
from tests.test_api_server import admin, ns  # noqa: F401 - the fixtures

NOW = datetime(2026, 12, 1, tzinfo=timezone.utc)


def pdb(status=None, **spec) -> PodDisruptionBudget:
    return PodDisruptionBudget.model_validate({
        "metadata": {"name": "b", "namespace": "ns", "generation": 1},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, **spec},
        "status": status or {}})


def pod(name, ready=True, app="web", deleting=False) -> Pod:
    meta = {"name": name, "namespace": "ns", "labels": {"app": app}}
    if deleting:
        meta["deletionTimestamp"] = "2026-12-01T00:00:00Z"
    return Pod.model_validate({"metadata": meta, "spec": {"containers": [
        {"name": "c", "image": "i"}]}, "status": {"phase": "Running", "conditions": [
            {"type": "Ready", "status": "True" if ready else "False"}]}})


@pytest.mark.parametrize("spec,expected,desired", [
    ({"minAvailable": 2}, 3, 2), ({"minAvailable": "50%"}, 3, 2), ({"maxUnavailable": 1}, 3, 2),
    ({"maxUnavailable": "34%"}, 3, 1), ({"minAvailable": "100%"}, 4, 4),
])
def test_desired_healthy(spec, expected, desired):
    assert budget(pdb(**spec), expected) == desired


def test_status_counts_healthy_pods_and_allows_the_rest():
    b = pdb(minAvailable=2)
    pods = [pod("a"), pod("b"), pod("c"), pod("d", ready=False)]
    status = calculate_status(b, pods, 4, NOW)
    assert (status["currentHealthy"], status["desiredHealthy"], status["disruptionsAllowed"],
            status["expectedPods"]) == (3, 2, 1, 4)
    [condition] = status["conditions"]
    assert (condition["type"], condition["status"], condition["reason"]) == (
        "DisruptionAllowed", "True", "SufficientPods")


def test_a_recent_eviction_still_counts_until_its_deletion_is_seen():
    recent = (NOW - timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    old = (NOW - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    b = pdb(minAvailable=2, status={"disruptedPods": {"a": recent, "b": old}})
    status = calculate_status(b, [pod("a"), pod("b"), pod("c")], 3, NOW)
    assert status["disruptedPods"] == {"a": recent} and status["currentHealthy"] == 2
    assert status["disruptionsAllowed"] == 0


def test_an_unknown_expected_count_allows_nothing():
    status = calculate_status(pdb(maxUnavailable=1), [pod("a")], None, NOW)
    assert status["disruptionsAllowed"] == 0
    assert status["conditions"][0]["reason"] == "SyncFailed"


def test_the_selector_picks_the_pods():
    assert [p.metadata.name for p in selected(pdb(), [pod("a"), pod("x", app="db")])] == ["a"]
    none = PodDisruptionBudget.model_validate({"metadata": {"name": "b"}, "spec": {}})
    assert selected(none, [pod("a")]) == []


def test_bad_budgets_are_refused():
    from kube.registry import by_kind
    from kube.validation import Invalid, validate_create
    for spec, message in (({"minAvailable": 1, "maxUnavailable": 1}, "cannot be both set"),
                          ({"minAvailable": "150%"}, "greater than 100%"),
                          ({"maxUnavailable": -1}, "greater than or equal to 0")):
        with pytest.raises(Invalid, match=message):
            validate_create(by_kind("policy/v1", "PodDisruptionBudget"), {
                "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                "metadata": {"name": "b"}, "spec": spec}, "ns")


def test_an_eviction_spends_the_budget_and_then_is_refused(api, admin, ns):  # noqa: F811
    base = f"{api.url}/api/v1/namespaces/{ns}/pods"
    for name in ("a", "b"):
        r = admin.post(base, json={"metadata": {"name": name, "labels": {"app": "web"}},
                                   "spec": {"containers": [{"name": "c", "image": "i"}]}})
        assert r.status_code == 201, r.text
        running = r.json()
        running["status"] = {"phase": "Running",
                             "conditions": [{"type": "Ready", "status": "True"}]}
        admin.put(f"{base}/{name}/status", json=running).raise_for_status()
    budgets = f"{api.url}/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets"
    made = admin.post(budgets, json={"metadata": {"name": "keep-one"}, "spec": {
        "minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}}}).json()
    made["status"] = {"observedGeneration": 1, "disruptionsAllowed": 1, "currentHealthy": 2,
                      "desiredHealthy": 1, "expectedPods": 2}  # as the controller would
    admin.put(f"{budgets}/keep-one/status", json=made).raise_for_status()
    eviction = {"apiVersion": "policy/v1", "kind": "Eviction"}
    first = admin.post(f"{base}/a/eviction", json={**eviction, "metadata": {"name": "a"}})
    assert first.status_code == 201 and first.json()["status"] == "Success"
    assert admin.get(f"{base}/a").status_code == 404  # unbound: deleted at once
    spent = admin.get(f"{budgets}/keep-one").json()["status"]
    assert spent["disruptionsAllowed"] == 0 and "a" in spent["disruptedPods"]
    second = admin.post(f"{base}/b/eviction", json={**eviction, "metadata": {"name": "b"}})
    assert second.status_code == 429 and second.json()["reason"] == "TooManyRequests"
    assert second.json()["details"]["causes"][0]["reason"] == "DisruptionBudget"
    assert admin.get(f"{base}/b").status_code == 200
