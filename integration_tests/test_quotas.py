"""ResourceQuota and LimitRange on the live lab: creates past a quota refused with 403 naming
it, usage recounted as objects come and go, a LimitRange's defaults given to containers that
say nothing and its bounds enforced. Oracles: the API's answers and status, the pods a
ReplicaSet managed to make, and real kubectl's table."""

from __future__ import annotations

from integration_tests.hosts import Cluster, wait_until
from integration_tests.test_kubectl import kubectl  # noqa: F401 - the fixture


def _pod(name: str, **resources) -> dict:
    container = {"name": "c", "image": "orch/web:1"}
    if resources:
        container["resources"] = resources
    return {"metadata": {"name": name},
            "spec": {"terminationGracePeriodSeconds": 1, "containers": [container]}}


def _quota(cluster: Cluster, ns: str, name: str, hard: dict) -> None:
    api = cluster.api()
    api.post(f"/api/v1/namespaces/{ns}/resourcequotas",
             json={"metadata": {"name": name}, "spec": {"hard": hard}}).raise_for_status()
    wait_until(lambda: api.get(f"/api/v1/namespaces/{ns}/resourcequotas/{name}").json().get(
        "status", {}).get("hard") == hard, 30, f"quota {name}'s status")


def _used(cluster: Cluster, ns: str, name: str) -> dict:
    return cluster.api().get(f"/api/v1/namespaces/{ns}/resourcequotas/{name}").json()[
        "status"].get("used") or {}


def test_a_pod_past_the_quota_is_refused_and_the_quota_counts_what_is_there(
        cluster: Cluster, ns: str, kubectl) -> None:  # noqa: F811
    api = cluster.api()
    _quota(cluster, ns, "two", {"pods": "2"})
    for name in ("a", "b"):
        api.post(f"/api/v1/namespaces/{ns}/pods", json=_pod(name)).raise_for_status()
    refused = api.post(f"/api/v1/namespaces/{ns}/pods", json=_pod("c"))
    assert refused.status_code == 403, refused.text
    assert refused.json()["reason"] == "Forbidden"
    assert refused.json()["message"] == (
        'pods "c" is forbidden: exceeded quota: two, requested: pods=1, used: pods=2, '
        "limited: pods=2")
    assert api.get(f"/api/v1/namespaces/{ns}/pods/c").status_code == 404
    assert _used(cluster, ns, "two") == {"pods": "2"}
    assert "pods: 2/2" in kubectl("get", "quota", "two").stdout
    # a pod goes: its share comes back, and the next create is admitted
    api.delete(f"/api/v1/namespaces/{ns}/pods/a", params={"gracePeriodSeconds": "0"})
    wait_until(lambda: _used(cluster, ns, "two") == {"pods": "1"}, 60, "the quota to recount")
    api.post(f"/api/v1/namespaces/{ns}/pods", json=_pod("c")).raise_for_status()

    # a ReplicaSet makes what the quota allows, and says why not the rest
    api.post(f"/apis/apps/v1/namespaces/{ns}/replicasets", json={
        "metadata": {"name": "rs"}, "spec": {"replicas": 2, "selector": {"matchLabels": {
            "app": "rs"}}, "template": {"metadata": {"labels": {"app": "rs"}},
                                        "spec": _pod("x")["spec"]}}}).raise_for_status()

    def failed_create() -> bool:
        events = api.get(f"/api/v1/namespaces/{ns}/events",
                         params={"fieldSelector": "involvedObject.name=rs"}).json()["items"]
        return any(e["reason"] == "FailedCreate" and "exceeded quota: two" in e["message"]
                   for e in events)
    wait_until(failed_create, 60, "the ReplicaSet's FailedCreate event")
    owned = api.get(f"/api/v1/namespaces/{ns}/pods", params={"labelSelector": "app=rs"}).json()
    assert owned["items"] == []  # b and c hold the two


def test_compute_quotas_need_requests_that_a_limit_range_may_supply(cluster: Cluster,
                                                                   ns: str) -> None:
    api = cluster.api()
    _quota(cluster, ns, "compute", {"requests.cpu": "1", "limits.memory": "256Mi"})
    bare = api.post(f"/api/v1/namespaces/{ns}/pods", json=_pod("bare"))
    assert bare.status_code == 403
    assert "failed quota: compute: must specify limits.memory for: c; requests.cpu for: c" in \
        bare.json()["message"]
    api.post(f"/api/v1/namespaces/{ns}/limitranges", json={
        "metadata": {"name": "defaults"}, "spec": {"limits": [{
            "type": "Container", "default": {"cpu": "500m", "memory": "128Mi"},
            "defaultRequest": {"cpu": "400m"}, "max": {"cpu": "1", "memory": "256Mi"}}]}}
    ).raise_for_status()
    made = wait_until(lambda: (r := api.post(f"/api/v1/namespaces/{ns}/pods",
                                             json=_pod("given"))).status_code == 201 and r, 30,
                      "the limit range to apply")
    resources = made.json()["spec"]["containers"][0]["resources"]
    assert resources == {"limits": {"cpu": "500m", "memory": "128Mi"},
                         "requests": {"cpu": "400m", "memory": "128Mi"}}
    wait_until(lambda: api.get(f"/api/v1/namespaces/{ns}/pods/given").json()["status"].get(
        "phase") == "Running", 60, "the pod to run")
    wait_until(lambda: _used(cluster, ns, "compute") == {"requests.cpu": "400m",
                                                         "limits.memory": "128Mi"}, 30,
               "the usage")
    too_big = api.post(f"/api/v1/namespaces/{ns}/pods", json=_pod(
        "big", limits={"cpu": "2", "memory": "64Mi"}, requests={"cpu": "100m"}))
    assert too_big.status_code == 403
    assert "maximum cpu usage per Container is 1, but limit is 2" in too_big.json()["message"]
    # within the range, beyond the quota: 400m + 800m > 1
    over = api.post(f"/api/v1/namespaces/{ns}/pods", json=_pod(
        "over", limits={"cpu": "1", "memory": "64Mi"}, requests={"cpu": "800m"}))
    assert over.status_code == 403
    assert "exceeded quota: compute, requested: requests.cpu=800m, used: requests.cpu=400m, " \
        "limited: requests.cpu=1" in over.json()["message"]


def test_claims_count_against_storage_quotas_and_limit_ranges(cluster: Cluster,
                                                              ns: str) -> None:
    api = cluster.api()
    _quota(cluster, ns, "disk", {"requests.storage": "3Gi", "persistentvolumeclaims": "5"})
    api.post(f"/api/v1/namespaces/{ns}/limitranges", json={
        "metadata": {"name": "claims"}, "spec": {"limits": [{
            "type": "PersistentVolumeClaim", "min": {"storage": "1Gi"},
            "max": {"storage": "2Gi"}}]}}).raise_for_status()

    def claim(name: str, size: str):
        return api.post(f"/api/v1/namespaces/{ns}/persistentvolumeclaims", json={
            "metadata": {"name": name}, "spec": {"accessModes": ["ReadWriteOnce"],
                                                 "resources": {"requests": {"storage": size}}}})
    [small] = wait_until(lambda: (r := claim("tiny", "100Mi")).status_code == 403 and [r], 30,
                         "the limit range to apply")  # (a 403 Response is falsy)
    assert "minimum storage usage per PersistentVolumeClaim is 1Gi, but request is 100Mi" in \
        small.json()["message"]
    assert claim("one", "2Gi").status_code == 201
    refused = claim("two", "2Gi")
    assert refused.status_code == 403 and "exceeded quota: disk, requested: " \
        "requests.storage=2Gi, used: requests.storage=2Gi, limited: requests.storage=3Gi" in \
        refused.json()["message"]
    assert claim("three", "1Gi").status_code == 201
    wait_until(lambda: _used(cluster, ns, "disk") == {"requests.storage": "3Gi",
                                                      "persistentvolumeclaims": "2"}, 30,
               "the usage")


def test_a_bad_quota_or_limit_range_is_refused_naming_the_field(cluster: Cluster,
                                                               ns: str) -> None:
    api = cluster.api()
    for body, field in (
            ({"metadata": {"name": "q"}, "spec": {"hard": {"gpus": "1"}}}, "hard[gpus]"),
            ({"metadata": {"name": "q"}, "spec": {"hard": {"pods": "1.5"}}}, "must be an integer"),
            ({"metadata": {"name": "q"}, "spec": {"hard": {"pods": "-1"}}}, "hard[pods]"),
            ({"metadata": {"name": "q"}, "spec": {"scopes": ["BestEffort"]}}, "spec.scopes")):
        answer = api.post(f"/api/v1/namespaces/{ns}/resourcequotas", json=body)
        assert answer.status_code == 422 and field in answer.json()["message"], answer.text
    for item, field in (({"type": "Container", "min": {"cpu": "2"}, "max": {"cpu": "1"}},
                         "min value must be less than or equal to max value"),
                        ({"type": "Pod", "default": {"cpu": "1"}}, "type Container"),
                        ({"type": "PersistentVolumeClaim", "max": {"cpu": "1"}}, "max[cpu]")):
        answer = api.post(f"/api/v1/namespaces/{ns}/limitranges",
                          json={"metadata": {"name": "l"}, "spec": {"limits": [item]}})
        assert answer.status_code == 422 and field in answer.json()["message"], answer.text
