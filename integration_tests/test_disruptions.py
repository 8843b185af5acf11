"""PodDisruptionBudgets and evictions on the live lab: the real `kubectl drain` (and orchctl's)
evict through pods/eviction, and a budget that would be broken keeps the pods. Oracles: the
budget's status as the controller computes it, kubectl's own messages, and the pods left."""

from __future__ import annotations

from integration_tests.hosts import Cluster, wait_until
from integration_tests.test_kubectl import kubectl  # noqa: F401 - the fixture
from integration_tests.test_orchctl import orchctl  # noqa: F401 - the fixture


def _pods(cluster: Cluster, ns: str) -> list[dict]:
    """The guarded pods that run (their replacements wait, Pending: the node is cordoned)."""
    return [p for p in cluster.api().get(f"/api/v1/namespaces/{ns}/pods", params={
        "labelSelector": "app=guarded"}).json()["items"]
            if not p["metadata"].get("deletionTimestamp") and p["status"].get("phase") ==
            "Running"]


def test_a_budget_blocks_a_drain_that_would_break_it(
        cluster: Cluster, ns: str, kubectl, orchctl) -> None:  # noqa: F811
    api, node = cluster.api(), cluster.hosts[-1].name
    api.post(f"/apis/apps/v1/namespaces/{ns}/deployments", json={
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "guarded"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "guarded"}},
                 "template": {"metadata": {"labels": {"app": "guarded"}}, "spec": {
                     "nodeSelector": {"kubernetes.io/hostname": node},
                     "terminationGracePeriodSeconds": 1,
                     "containers": [{"name": "web", "image": "orch/web:1"}]}}}}
    ).raise_for_status()
    kubectl("rollout", "status", "deploy/guarded", "--timeout=90s")
    kubectl("create", "poddisruptionbudget", "keep-two", "--selector=app=guarded",
            "--min-available=2")  # a protobuf body
    status = wait_until(lambda: (s := api.get(
        f"/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets/keep-two").json().get("status")
        or {}).get("expectedPods") == 2 and s, 60, "the budget's status")
    assert (status["currentHealthy"], status["desiredHealthy"],
            status["disruptionsAllowed"]) == (2, 2, 0)
    try:
        refused = kubectl("drain", node, "--ignore-daemonsets", "--delete-emptydir-data",
                          "--pod-selector=app=guarded", "--timeout=12s", check=False)
        assert refused.returncode != 0
        assert "Cannot evict pod as it would violate the pod's disruption budget" in \
            refused.stderr, refused.stderr
        assert len(_pods(cluster, ns)) == 2  # both kept
        # one may go: the budget allows a disruption, the drain evicts, the rest is refused
        api.patch(f"/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets/keep-two",
                  json={"spec": {"minAvailable": 1}},
                  headers={"Content-Type": "application/merge-patch+json"}).raise_for_status()
        wait_until(lambda: api.get(f"/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets/"
                                   "keep-two").json()["status"]["disruptionsAllowed"] == 1, 60,
                   "a disruption allowed")
        partial = kubectl("drain", node, "--ignore-daemonsets", "--delete-emptydir-data",
                          "--pod-selector=app=guarded", "--timeout=12s", check=False)
        assert partial.returncode != 0 and "evicted" in partial.stdout
        assert len(_pods(cluster, ns)) == 1
        # with the budget gone, orchctl's drain evicts what is left
        api.delete(f"/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets/keep-two"
                   ).raise_for_status()
        drained = orchctl("drain", node, "--ignore-daemonsets", "--force",
                                  "--pod-selector=app=guarded", "--timeout=60s")
        assert f"node/{node} drained" in drained
        assert _pods(cluster, ns) == []
    finally:
        kubectl("uncordon", node)
