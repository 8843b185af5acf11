"""StatefulSets on the live lab: ordinal pods made in order, each resolvable by name through
the headless Service, removed from the top, updated from the top down to the partition.
Oracles: the pods' timestamps and conditions, DNS answers and HTTP from another pod, and the
revisions kubectl reports."""

from __future__ import annotations

from datetime import datetime

from integration_tests.hosts import Cluster, wait_until
from integration_tests.test_kubectl import kubectl  # noqa: F401 - the fixture


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _pods(cluster: Cluster, ns: str) -> dict[str, dict]:
    items = cluster.api().get(f"/api/v1/namespaces/{ns}/pods",
                              params={"labelSelector": "app=st"}).json()["items"]
    return {p["metadata"]["name"]: p for p in items}


def _ready(pod: dict) -> dict | None:
    return next((c for c in pod["status"].get("conditions") or ()
                 if c["type"] == "Ready" and c["status"] == "True"), None)


def test_ordered_pods_with_stable_names_resolvable_through_the_headless_service(
        cluster: Cluster, ns: str, kubectl) -> None:  # noqa: F811
    api = cluster.api()
    api.post(f"/api/v1/namespaces/{ns}/services", json={
        "metadata": {"name": "st"}, "spec": {"clusterIP": "None", "selector": {"app": "st"},
                                              "ports": [{"name": "http", "port": 80}]}}
    ).raise_for_status()
    api.post(f"/apis/apps/v1/namespaces/{ns}/statefulsets", json={
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "st"},
        "spec": {"serviceName": "st", "replicas": 3, "selector": {"matchLabels": {"app": "st"}},
                 "template": {"metadata": {"labels": {"app": "st"}}, "spec": {
                     "terminationGracePeriodSeconds": 1,
                     "containers": [{"name": "c", "image": "orch/web:1",
                                     "readinessProbe": {"httpGet": {"port": 80},
                                                        "periodSeconds": 1}}]}}}}
    ).raise_for_status()
    kubectl("rollout", "status", "sts/st", "--timeout=120s")
    pods = _pods(cluster, ns)
    assert sorted(pods) == ["st-0", "st-1", "st-2"]
    for n in (1, 2):  # OrderedReady: each made only once the one before was Ready
        before = _ready(pods[f"st-{n - 1}"])
        assert before and _time(pods[f"st-{n}"]["metadata"]["creationTimestamp"]) >= \
            _time(before["lastTransitionTime"])
    for name, pod in pods.items():
        assert pod["spec"]["hostname"] == name and pod["spec"]["subdomain"] == "st"
    # from st-0: st-2's own name answers with st-2's address, and st-2 serves under it
    code_and_out = kubectl("exec", "st-0", "--", "sh", "-c",
                           f"nslookup st-2.st.{ns}.svc.cluster.local; hostname -f; "
                           "wget -qO- http://st-2.st/").stdout
    assert pods["st-2"]["status"]["podIP"] in code_and_out
    assert f"st-0.st.{ns}.svc.cluster.local" in code_and_out
    assert "host=st-2 " in code_and_out

    # a partitioned update replaces only the ordinals at or above it, from the top
    kubectl("patch", "sts", "st", "-p",
            '{"spec": {"updateStrategy": {"rollingUpdate": {"partition": 1}}}}')
    kubectl("set", "env", "sts/st", "COLOR=blue")
    kubectl("rollout", "status", "sts/st", "--timeout=120s")
    status = wait_until(lambda: (s := api.get(f"/apis/apps/v1/namespaces/{ns}/statefulsets/st")
                                 .json()["status"]).get("updatedReplicas") == 2 and
                        s.get("readyReplicas") == 3 and s, 60, "the partitioned update")
    assert status["currentRevision"] != status["updateRevision"]
    after = _pods(cluster, ns)
    revision = {n: p["metadata"]["labels"]["controller-revision-hash"] for n, p in after.items()}
    assert revision["st-0"] == pods["st-0"]["metadata"]["labels"]["controller-revision-hash"]
    assert revision["st-1"] == revision["st-2"] == status["updateRevision"].removeprefix("st-")
    assert _time(after["st-1"]["metadata"]["creationTimestamp"]) >= \
        _time(after["st-2"]["metadata"]["creationTimestamp"])  # the top one first

    # scaled down: the highest ordinals go, the survivor keeps its name
    kubectl("scale", "sts", "st", "--replicas=1")
    wait_until(lambda: sorted(_pods(cluster, ns)) == ["st-0"], 90, "st-1 and st-2 to go")
