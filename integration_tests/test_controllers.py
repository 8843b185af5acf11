"""Controllers on the live lab: ReplicaSet, Endpoints, garbage collection."""

from __future__ import annotations

import json
from collections import Counter

from integration_tests.hosts import Cluster, wait_until

MERGE = {"Content-Type": "application/merge-patch+json"}


def replicaset(name: str, replicas: int) -> dict:
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {
                         "containers": [{"name": "web", "image": "orch/web:1",
                                         "ports": [{"name": "http", "containerPort": 80}],
                                         "readinessProbe": {"httpGet": {"path": "/healthz",
                                                                        "port": "http"},
                                                            "periodSeconds": 1}}]}}}}


def pods_of(cluster: Cluster, ns: str, app: str) -> list[dict]:
    return cluster.api().get(f"/api/v1/namespaces/{ns}/pods",
                             params={"labelSelector": f"app={app}"}).json()["items"]


def running_ready(cluster: Cluster, ns: str, app: str) -> list[dict]:
    return [p for p in pods_of(cluster, ns, app)
            if not p["metadata"].get("deletionTimestamp")
            and p.get("status", {}).get("phase") == "Running"
            and any(c["type"] == "Ready" and c["status"] == "True"
                    for c in p["status"].get("conditions", []))]


def test_a_replicaset_spreads_its_pods_and_converges_when_scaled(cluster: Cluster, ns: str) -> None:
    api = cluster.api()
    n = len(cluster.hosts)
    api.post(f"/apis/apps/v1/namespaces/{ns}/replicasets",
             json=replicaset("web", 2 * n)).raise_for_status()
    pods = wait_until(lambda: len(r := running_ready(cluster, ns, "web")) == 2 * n and r, 120,
                      f"{2 * n} ready pods")
    assert sorted(Counter(p["spec"]["nodeName"] for p in pods).values()) == [2] * n
    for replicas in (3 * n, 1):
        api.patch(f"/apis/apps/v1/namespaces/{ns}/replicasets/web/scale",
                  data=json.dumps({"spec": {"replicas": replicas}}), headers=MERGE).raise_for_status()
        wait_until(lambda: len(running_ready(cluster, ns, "web")) == replicas
                   and len([p for p in pods_of(cluster, ns, "web")
                            if not p["metadata"].get("deletionTimestamp")]) == replicas,
                   120, f"{replicas} pods")
    status = wait_until(lambda: (s := api.get(f"/apis/apps/v1/namespaces/{ns}/replicasets/web")
                                 .json().get("status", {})).get("readyReplicas") == 1 and s,
                        30, "the status")
    assert status["replicas"] == 1


def test_endpoints_list_the_ready_pods_of_a_service(cluster: Cluster, ns: str) -> None:
    api = cluster.api()
    api.post(f"/apis/apps/v1/namespaces/{ns}/replicasets",
             json=replicaset("api", 3)).raise_for_status()
    api.post(f"/api/v1/namespaces/{ns}/services", json={
        "metadata": {"name": "api"},
        "spec": {"selector": {"app": "api"}, "ports": [{"port": 80, "targetPort": "http"}]}}
    ).raise_for_status()

    def endpoint_ips() -> set[str]:
        r = api.get(f"/api/v1/namespaces/{ns}/endpoints/api")
        if r.status_code != 200:
            return set()
        return {a["ip"] for s in r.json().get("subsets") or [] for a in s.get("addresses") or []}

    wait_until(lambda: len(running_ready(cluster, ns, "api")) == 3, 120, "3 ready pods")
    wait_until(lambda: endpoint_ips() == {p["status"]["podIP"]
                                          for p in running_ready(cluster, ns, "api")},
               30, "the endpoints to list every ready pod")
    ep = api.get(f"/api/v1/namespaces/{ns}/endpoints/api").json()
    assert ep["subsets"][0]["ports"] == [{"port": 80, "protocol": "TCP"}]
    api.patch(f"/apis/apps/v1/namespaces/{ns}/replicasets/api/scale",
              data=json.dumps({"spec": {"replicas": 1}}), headers=MERGE).raise_for_status()
    wait_until(lambda: len(endpoint_ips()) == 1, 60, "the endpoints to shrink with the pods")


def test_deleting_a_replicaset_deletes_its_pods(cluster: Cluster, ns: str) -> None:
    api = cluster.api()
    api.post(f"/apis/apps/v1/namespaces/{ns}/replicasets",
             json=replicaset("tmp", 2)).raise_for_status()
    wait_until(lambda: len(running_ready(cluster, ns, "tmp")) == 2, 120, "2 ready pods")
    assert api.delete(f"/apis/apps/v1/namespaces/{ns}/replicasets/tmp").status_code == 200
    wait_until(lambda: pods_of(cluster, ns, "tmp") == [], 60, "the pods to be collected")


def test_a_replication_controller_keeps_its_replicas_owned_and_scales(cluster: Cluster,
                                                                      ns: str) -> None:
    api = cluster.api()
    api.post(f"/api/v1/namespaces/{ns}/replicationcontrollers", json={
        "apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "legacy"},
        "spec": {"replicas": 3, "template": {"metadata": {"labels": {"app": "legacy"}},
                                             "spec": {"containers": [
                                                 {"name": "web", "image": "orch/web:1"}]}}}}
    ).raise_for_status()
    pods = wait_until(lambda: len(p := running_ready(cluster, ns, "legacy")) == 3 and p, 90,
                      "3 ready pods")
    for pod in pods:
        [owner] = pod["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["name"], owner["controller"]) == (
            "ReplicationController", "legacy", True)
    rc = api.get(f"/api/v1/namespaces/{ns}/replicationcontrollers/legacy").json()
    assert rc["spec"]["selector"] == {"app": "legacy"}  # defaulted from the template
    api.patch(f"/api/v1/namespaces/{ns}/replicationcontrollers/legacy/scale",
              json={"spec": {"replicas": 1}},
              headers={"Content-Type": "application/merge-patch+json"}).raise_for_status()
    wait_until(lambda: len([p for p in pods_of(cluster, ns, "legacy")
                            if not p["metadata"].get("deletionTimestamp")]) == 1, 60,
               "one pod left")
    wait_until(lambda: api.get(f"/api/v1/namespaces/{ns}/replicationcontrollers/legacy")
               .json()["status"].get("readyReplicas") == 1, 60, "its status")
