"""Storage on the live lab: claims bound to volumes the local-path provisioner makes on the
node their pod is scheduled to, static volumes bound by capacity, access mode and selector,
reclaim policies, claims protected while in use, and StatefulSets' claim templates.
Oracles: the files on the node's own disk (read on that host, not through a pod), the
objects' phases, the pods' nodes, and what a new pod reads back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from integration_tests.hosts import Cluster, wait_until
from integration_tests.test_kubectl import kubectl  # noqa: F401 - the fixture

CLAIMS, VOLUMES = "persistentvolumeclaims", "/api/v1/persistentvolumes"


def _claim(name: str, size: str = "1Gi", **spec) -> dict:
    return {"metadata": {"name": name}, "spec": {"accessModes": ["ReadWriteOnce"],
                                                   "resources": {"requests": {"storage": size}},
                                                   **spec}}


def _pod(name: str, claim: str, script: str, **spec) -> dict:
    return {"metadata": {"name": name}, "spec": {
        "terminationGracePeriodSeconds": 1, "restartPolicy": "Never",
        "containers": [{"name": "c", "image": "orch/web:1", "command": ["sh", "-c", script],
                        "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
        "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}], **spec}}


def _get(cluster: Cluster, path: str) -> dict | None:
    answer = cluster.api().get(path)
    return None if answer.status_code == 404 else answer.json()


def _phase(cluster: Cluster, ns: str, pod: str) -> str | None:
    found = _get(cluster, f"/api/v1/namespaces/{ns}/pods/{pod}")
    return found["status"].get("phase") if found else None


def _on_host(cluster: Cluster, node: str, *argv: str) -> str:
    return cluster.run(cluster.host(node), list(argv)).stdout


def _volume_path(volume: dict) -> str:
    return volume["spec"]["hostPath"]["path"]


def test_a_claim_gets_a_volume_on_its_pods_node_and_the_data_outlives_the_pod(
        cluster: Cluster, ns: str) -> None:
    api = cluster.api()
    api.post(f"/api/v1/namespaces/{ns}/{CLAIMS}", json=_claim("data")).raise_for_status()
    claim = api.get(f"/api/v1/namespaces/{ns}/{CLAIMS}/data").json()
    assert claim["spec"]["storageClassName"] == "local-path"  # the default class
    assert "kubernetes.io/pvc-protection" in claim["metadata"]["finalizers"]
    # WaitForFirstConsumer: nothing is made before a pod uses the claim
    assert claim["status"]["phase"] == "Pending" and not claim["spec"].get("volumeName")
    api.post(f"/api/v1/namespaces/{ns}/pods", json=_pod(
        "writer", "data", "echo kept > /data/file")).raise_for_status()
    wait_until(lambda: _phase(cluster, ns, "writer") == "Succeeded", 90, "the writer to finish")
    claim = api.get(f"/api/v1/namespaces/{ns}/{CLAIMS}/data").json()
    writer = api.get(f"/api/v1/namespaces/{ns}/pods/writer").json()
    node = writer["spec"]["nodeName"]
    assert claim["status"] == {"phase": "Bound", "accessModes": ["ReadWriteOnce"],
                               "capacity": {"storage": "1Gi"}}
    assert claim["metadata"]["annotations"]["volume.kubernetes.io/selected-node"] == node
    volume = api.get(f"{VOLUMES}/{claim['spec']['volumeName']}").json()
    assert volume["status"]["phase"] == "Bound"
    assert volume["spec"]["claimRef"]["uid"] == claim["metadata"]["uid"]
    assert volume["spec"]["persistentVolumeReclaimPolicy"] == "Delete"
    assert volume["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0][
        "matchExpressions"] == [{"key": "kubernetes.io/hostname", "operator": "In",
                                 "values": [node]}]
    # the node's own disk holds what the pod wrote
    assert _on_host(cluster, node, "cat", f"{_volume_path(volume)}/file") == "kept\n"

    # a new pod that uses the claim goes to the same node and reads it back
    api.delete(f"/api/v1/namespaces/{ns}/pods/writer").raise_for_status()
    api.post(f"/api/v1/namespaces/{ns}/pods", json=_pod(
        "reader", "data", "cat /data/file")).raise_for_status()
    wait_until(lambda: _phase(cluster, ns, "reader") == "Succeeded", 90, "the reader to finish")
    assert api.get(f"/api/v1/namespaces/{ns}/pods/reader").json()["spec"]["nodeName"] == node
    log = api.get(f"/api/v1/namespaces/{ns}/pods/reader/log")
    assert log.text == "kept\n"


def test_a_claim_in_use_stays_until_its_pod_goes_then_its_volume_and_data_go(
        cluster: Cluster, ns: str) -> None:
    api = cluster.api()
    api.post(f"/api/v1/namespaces/{ns}/{CLAIMS}", json=_claim("held")).raise_for_status()
    api.post(f"/api/v1/namespaces/{ns}/pods", json=_pod(
        "holder", "held", "echo x > /data/x; sleep 3600")).raise_for_status()
    wait_until(lambda: _phase(cluster, ns, "holder") == "Running", 90, "the holder to run")
    claim = api.get(f"/api/v1/namespaces/{ns}/{CLAIMS}/held").json()
    volume = claim["spec"]["volumeName"]
    node = api.get(f"/api/v1/namespaces/{ns}/pods/holder").json()["spec"]["nodeName"]
    path = _volume_path(api.get(f"{VOLUMES}/{volume}").json())
    api.delete(f"/api/v1/namespaces/{ns}/{CLAIMS}/held").raise_for_status()
    marked = api.get(f"/api/v1/namespaces/{ns}/{CLAIMS}/held").json()
    assert marked["metadata"]["deletionTimestamp"] and marked["status"]["phase"] == "Bound"
    assert _on_host(cluster, node, "cat", f"{path}/x") == "x\n"  # still in use: kept
    api.delete(f"/api/v1/namespaces/{ns}/pods/holder").raise_for_status()
    wait_until(lambda: _get(cluster, f"/api/v1/namespaces/{ns}/{CLAIMS}/held") is None, 60,
               "the claim to go once its pod has")
    wait_until(lambda: _get(cluster, f"{VOLUMES}/{volume}") is None, 60,
               "the volume to be deleted (reclaim policy Delete)")
    assert cluster.run(cluster.host(node), ["test", "-e", path], check=False).returncode == 1


def test_static_volumes_bind_by_size_mode_and_selector_and_retain_their_data(
        cluster: Cluster, ns: str) -> None:
    api = cluster.api()
    node = cluster.hosts[1].name
    base = f"/tmp/orch-static-{ns}"
    made = []

    def volume(name: str, size: str, modes: list[str], labels: dict | None = None) -> None:
        api.post(VOLUMES, json={"metadata": {"name": f"{ns}-{name}", "labels": labels or {}},
                                "spec": {"capacity": {"storage": size}, "accessModes": modes,
                                         "storageClassName": "manual",
                                         "hostPath": {"path": f"{base}/{name}",
                                                      "type": "DirectoryOrCreate"},
                                         "nodeAffinity": {"required": {"nodeSelectorTerms": [
                                             {"matchExpressions": [{
                                                 "key": "kubernetes.io/hostname",
                                                 "operator": "In", "values": [node]}]}]}}}}
                 ).raise_for_status()
        made.append(f"{ns}-{name}")

    try:
        volume("small", "1Gi", ["ReadWriteOnce"])
        volume("big", "5Gi", ["ReadWriteOnce"])
        volume("shared", "10Gi", ["ReadWriteMany"])
        volume("fast", "2Gi", ["ReadWriteOnce"], {"speed": "fast"})
        wait_until(lambda: all(_get(cluster, f"{VOLUMES}/{v}")["status"].get("phase") ==
                               "Available" for v in made), 30, "the volumes to be Available")
        # 2Gi: too big for small; big and shared (RWX) are larger; the fast one only for its
        # selector. The smallest that fits: big (fast is taken by the selector claim first).
        api.post(f"/api/v1/namespaces/{ns}/{CLAIMS}", json=_claim(
            "picky", "2Gi", storageClassName="manual",
            selector={"matchLabels": {"speed": "fast"}})).raise_for_status()
        picky = wait_until(lambda: (c := _get(cluster, f"/api/v1/namespaces/{ns}/{CLAIMS}/picky")
                                    )["status"].get("phase") == "Bound" and c, 30, "picky bound")
        assert picky["spec"]["volumeName"] == f"{ns}-fast"
        api.post(f"/api/v1/namespaces/{ns}/{CLAIMS}", json=_claim(
            "plain", "2Gi", storageClassName="manual")).raise_for_status()
        plain = wait_until(lambda: (c := _get(cluster, f"/api/v1/namespaces/{ns}/{CLAIMS}/plain")
                                    )["status"].get("phase") == "Bound" and c, 30, "plain bound")
        assert plain["spec"]["volumeName"] == f"{ns}-big"
        assert plain["status"]["capacity"] == {"storage": "5Gi"}
        api.post(f"/api/v1/namespaces/{ns}/{CLAIMS}", json=_claim(
            "many", "1Gi", storageClassName="manual", accessModes=["ReadWriteMany"])
        ).raise_for_status()
        many = wait_until(lambda: (c := _get(cluster, f"/api/v1/namespaces/{ns}/{CLAIMS}/many")
                                   )["status"].get("phase") == "Bound" and c, 30, "many bound")
        assert many["spec"]["volumeName"] == f"{ns}-shared"
        # nothing left that fits 3Gi RWO: pending, and an event says why
        api.post(f"/api/v1/namespaces/{ns}/{CLAIMS}", json=_claim(
            "unmet", "3Gi", storageClassName="manual")).raise_for_status()

        # the pod goes to the volume's node, whatever else it could use
        api.post(f"/api/v1/namespaces/{ns}/pods", json=_pod(
            "static", "plain", "echo retained > /data/f")).raise_for_status()
        wait_until(lambda: _phase(cluster, ns, "static") == "Succeeded", 90, "the pod to finish")
        assert api.get(f"/api/v1/namespaces/{ns}/pods/static").json()["spec"]["nodeName"] == node
        api.delete(f"/api/v1/namespaces/{ns}/pods/static").raise_for_status()
        api.delete(f"/api/v1/namespaces/{ns}/{CLAIMS}/plain").raise_for_status()
        # Retain: the volume is Released, its data kept, not given to another claim
        wait_until(lambda: _get(cluster, f"{VOLUMES}/{ns}-big")["status"].get("phase") ==
                   "Released", 60, "the volume to be Released")
        assert _on_host(cluster, node, "cat", f"{base}/big/f") == "retained\n"
        unmet = api.get(f"/api/v1/namespaces/{ns}/{CLAIMS}/unmet").json()
        assert unmet["status"]["phase"] == "Pending"
        events = api.get(f"/api/v1/namespaces/{ns}/events", params={
            "fieldSelector": "involvedObject.name=unmet"}).json()["items"]
        # its class is only a name (no StorageClass): nothing could make it a volume
        assert any(e["reason"] == "ProvisioningFailed" and '"manual" not found' in e["message"]
                   for e in events)
    finally:
        for name in made:
            api.delete(f"{VOLUMES}/{name}")
        cluster.run(cluster.host(node), ["rm", "-rf", base], check=False)


def test_a_pod_whose_claim_cannot_be_bound_is_unschedulable_and_says_why(
        cluster: Cluster, ns: str) -> None:
    api = cluster.api()
    api.post(f"/api/v1/namespaces/{ns}/pods", json=_pod("orphan", "missing", "true")
             ).raise_for_status()
    api.post(f"/api/v1/namespaces/{ns}/{CLAIMS}", json=_claim(
        "nothing", storageClassName="")).raise_for_status()  # no class: only static volumes
    api.post(f"/api/v1/namespaces/{ns}/pods", json=_pod("stuck", "nothing", "true")
             ).raise_for_status()

    def reason(pod: str) -> str:
        conditions = api.get(f"/api/v1/namespaces/{ns}/pods/{pod}").json()["status"].get(
            "conditions") or []
        return next((c["message"] for c in conditions if c["type"] == "PodScheduled" and
                     c["status"] == "False"), "")
    wait_until(lambda: 'persistentvolumeclaim "missing" not found' in reason("orphan"), 30,
               "the orphan to be unschedulable")
    wait_until(lambda: "pod has unbound immediate PersistentVolumeClaims" in reason("stuck"), 30,
               "the stuck pod to be unschedulable")


def test_a_statefulset_gives_each_ordinal_its_own_claim_that_survives_the_pod(
        cluster: Cluster, ns: str, kubectl) -> None:  # noqa: F811
    api = cluster.api()
    api.post(f"/apis/apps/v1/namespaces/{ns}/statefulsets", json={
        "metadata": {"name": "db"},
        "spec": {"serviceName": "db", "replicas": 2, "selector": {"matchLabels": {"app": "db"}},
                 "persistentVolumeClaimRetentionPolicy": {"whenScaled": "Delete"},
                 "template": {"metadata": {"labels": {"app": "db"}}, "spec": {
                     "terminationGracePeriodSeconds": 1,
                     "containers": [{"name": "c", "image": "orch/web:1", "command": [
                         "sh", "-c", "[ -f /data/born ] || hostname > /data/born; "
                                     "exec sleep 3600"],
                         "volumeMounts": [{"name": "data", "mountPath": "/data"}]}]}},
                 "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                     "accessModes": ["ReadWriteOnce"],
                     "resources": {"requests": {"storage": "1Gi"}}}}]}}).raise_for_status()
    kubectl("rollout", "status", "sts/db", "--timeout=180s")
    claims = {c["metadata"]["name"]: c for c in api.get(
        f"/api/v1/namespaces/{ns}/{CLAIMS}").json()["items"]}
    assert sorted(claims) == ["data-db-0", "data-db-1"]
    assert all(c["status"]["phase"] == "Bound" and c["metadata"]["labels"] == {"app": "db"}
               for c in claims.values())
    first = api.get(f"/api/v1/namespaces/{ns}/pods/db-0").json()
    assert {"name": "data", "persistentVolumeClaim": {"claimName": "data-db-0"}} in \
        first["spec"]["volumes"]

    # db-0 deleted: made again with the same claim, on the same node, its data still there
    api.delete(f"/api/v1/namespaces/{ns}/pods/db-0").raise_for_status()
    wait_until(lambda: (p := _get(cluster, f"/api/v1/namespaces/{ns}/pods/db-0")) is not None
               and p["metadata"]["uid"] != first["metadata"]["uid"] and
               p["status"].get("phase") == "Running", 120, "db-0 to be made again")
    again = api.get(f"/api/v1/namespaces/{ns}/pods/db-0").json()
    assert again["spec"]["nodeName"] == first["spec"]["nodeName"]
    assert kubectl("exec", "db-0", "--", "cat", "/data/born").stdout == "db-0\n"

    # scaled down with whenScaled Delete: db-1's claim goes with it; db-0's stays
    kubectl("scale", "sts", "db", "--replicas=1")
    wait_until(lambda: _get(cluster, f"/api/v1/namespaces/{ns}/{CLAIMS}/data-db-1") is None, 120,
               "db-1's claim to be deleted")
    assert _get(cluster, f"/api/v1/namespaces/{ns}/{CLAIMS}/data-db-0") is not None
    # the set deleted (whenDeleted Retain): db-0's claim is kept
    kubectl("delete", "sts", "db", "--wait=true", "--timeout=60s")
    wait_until(lambda: _get(cluster, f"/api/v1/namespaces/{ns}/pods/db-0") is None, 60,
               "db-0 to go")
    assert _get(cluster, f"/api/v1/namespaces/{ns}/{CLAIMS}/data-db-0") is not None


@pytest.mark.parametrize("path, body, field", [
    (f"/api/v1/namespaces/NS/{CLAIMS}", {"metadata": {"name": "x"}, "spec": {
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {}}}},
     "resources.requests.storage"),
    (f"/api/v1/namespaces/NS/{CLAIMS}", {"metadata": {"name": "x"}, "spec": {
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}},
        "volumeMode": "Block"}}, "spec.volumeMode"),
    (VOLUMES, {"metadata": {"name": "x"}, "spec": {
        "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
        "hostPath": {"path": "/tmp/a"}, "local": {"path": "/tmp/b"}}}, "hostPath, local"),
    (VOLUMES, {"metadata": {"name": "x"}, "spec": {
        "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
        "nfs": {"server": "n", "path": "/"}}}, "spec.nfs"),
    ("/apis/storage.k8s.io/v1/storageclasses", {"metadata": {"name": "x"},
                                                "provisioner": "p", "reclaimPolicy": "Recycle"},
     "reclaimPolicy"),
])
def test_bad_storage_objects_are_refused_naming_the_field(cluster: Cluster, ns: str, path: str,
                                                          body: dict, field: str) -> None:
    answer = cluster.api().post(path.replace("NS", ns), json=body)
    assert answer.status_code == 422, answer.text
    assert field in answer.json()["message"]
    assert cluster.api().get(f"{path.replace('NS', ns)}/x").status_code == 404


def test_a_claims_spec_and_a_classes_provisioner_are_fixed_once_made(cluster: Cluster,
                                                                    ns: str) -> None:
    api = cluster.api()
    api.post(f"/api/v1/namespaces/{ns}/{CLAIMS}", json=_claim("fixed")).raise_for_status()
    grown = api.patch(f"/api/v1/namespaces/{ns}/{CLAIMS}/fixed",
                      data=json.dumps({"spec": {"resources": {"requests": {"storage": "2Gi"}}}}),
                      headers={"Content-Type": "application/merge-patch+json"})
    assert grown.status_code == 422 and "spec.resources.requests.storage" in grown.text
    modes = api.patch(f"/api/v1/namespaces/{ns}/{CLAIMS}/fixed",
                      data=json.dumps({"spec": {"accessModes": ["ReadOnlyMany"]}}),
                      headers={"Content-Type": "application/merge-patch+json"})
    assert modes.status_code == 422 and "spec is immutable" in modes.text
    changed = api.patch("/apis/storage.k8s.io/v1/storageclasses/local-path",
                        data=json.dumps({"provisioner": "other"}),
                        headers={"Content-Type": "application/merge-patch+json"})
    assert changed.status_code == 422 and "provisioner" in changed.text


def test_the_notes_example_keeps_its_data_when_its_pod_is_replaced(cluster: Cluster, ns: str,
                                                                   kubectl) -> None:  # noqa: F811
    example = Path(__file__).resolve().parents[1] / "examples" / "notes.yaml"
    kubectl("apply", "-f", str(example))
    kubectl("rollout", "status", "sts/notes", "--timeout=180s")

    def page() -> list[str]:  # nothing while the pod is being replaced
        return kubectl("exec", "notes-0", "--", "wget", "-qO-", "http://127.0.0.1/",
                       check=False).stdout.splitlines()
    first = page()
    assert len(first) == 1 and first[0].startswith("started ")
    node = first[0].rsplit(" on ", 1)[1]
    kubectl("delete", "pod", "notes-0", "--wait=true")
    kubectl("rollout", "status", "sts/notes", "--timeout=180s")
    lines = wait_until(lambda: len(p := page()) == 2 and p, 60, "the second start's line")
    assert lines[0] == first[0] and lines[1].endswith(f" on {node}")
