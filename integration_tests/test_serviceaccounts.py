"""Service accounts on the live lab: every namespace's `default` account, the token, CA and
namespace mounted in pods, the `kubernetes` Service whose endpoints are the masters, and the
official Python client's in-cluster configuration working from a pod's network with the pod's
own files. Oracles: the files in the container, the API's answers to the token, the client."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from integration_tests.hosts import Cluster, wait_until
from integration_tests.test_kubectl import kubectl  # noqa: F401 - the fixture
from integration_tests.test_pods import create_pod, pod_containers, shell, wait_running

MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
IN_CLUSTER = """
import sys
from kubernetes import client
from kubernetes.config.incluster_config import InClusterConfigLoader
InClusterConfigLoader(token_filename=sys.argv[1], cert_filename=sys.argv[2]).load_and_set()
api = client.CoreV1Api()
print(" ".join(sorted(p.metadata.name for p in api.list_namespaced_pod(sys.argv[3]).items)))
try:
    api.list_namespaced_secret(sys.argv[3])
    print("secrets: listed")
except client.ApiException as e:
    print(f"secrets: {e.status}")
"""


def test_the_kubernetes_service_reaches_the_masters(cluster: Cluster) -> None:
    api = cluster.api()
    svc = api.get("/api/v1/namespaces/default/services/kubernetes").json()
    assert svc["spec"]["clusterIP"] == "10.96.0.1" and svc["spec"]["ports"][0]["port"] == 443
    masters = {cluster.host(m).address for m in cluster.inventory.masters}
    wait_until(lambda: {a["ip"] for s in api.get(
        "/api/v1/namespaces/default/endpoints/kubernetes").json().get("subsets") or ()
        for a in s.get("addresses") or ()} == masters, 60, "the masters as its endpoints")


def test_a_pods_token_works_in_cluster_and_dies_with_the_pod(cluster: Cluster, ns: str,
                                                             tmp_path: Path) -> None:
    if cluster.inventory.kind != "netns":
        pytest.skip("enters the pod's network namespace on this machine (netns lab)")
    api = cluster.api()
    sa = wait_until(lambda: api.get(f"/api/v1/namespaces/{ns}/serviceaccounts/default"
                                    ).status_code == 200, 30, "the default service account")
    assert sa
    host = cluster.hosts[1]
    pod = create_pod(cluster, ns, "client", host.name, [shell("c", "sleep 3600")])
    wait_running(cluster, ns, "client")
    spec = api.get(f"/api/v1/namespaces/{ns}/pods/client").json()["spec"]
    assert spec["serviceAccountName"] == "default"
    containers = {c.labels["org.orch.container.name"]: c
                  for c in pod_containers(cluster, host, pod["metadata"]["uid"])}
    app = containers["c"]
    files = {}
    for name in ("token", "ca.crt", "namespace"):
        code, out = app.exec_run(["cat", f"{MOUNT}/{name}"])
        assert code == 0, out
        files[name] = out
        (tmp_path / name).write_bytes(out)
    assert files["namespace"].decode() == ns
    assert files["ca.crt"] == Path(cluster.inventory.ca_file).read_bytes()
    code, env = app.exec_run(["env"])
    assert b"KUBERNETES_SERVICE_HOST=10.96.0.1" in env and b"KUBERNETES_SERVICE_PORT=443" in env

    # the official client's in-cluster configuration, in the pod's network, with its files
    pid = containers["POD"].attrs["State"]["Pid"]
    script = tmp_path / "in_cluster.py"
    script.write_text(IN_CLUSTER)
    run = subprocess.run(
        ["nsenter", f"--net=/proc/{pid}/ns/net", sys.executable, str(script),
         str(tmp_path / "token"), str(tmp_path / "ca.crt"), ns], capture_output=True,
        text=True, timeout=60,
        env={**os.environ, "KUBERNETES_SERVICE_HOST": "10.96.0.1",
             "KUBERNETES_SERVICE_PORT": "443"})
    assert run.returncode == 0, run.stderr
    listed, secrets = run.stdout.splitlines()
    assert listed.split() == ["client"] and secrets == "secrets: 403"

    token = files["token"].decode()
    as_pod = cluster.api()
    as_pod.headers["Authorization"] = f"Bearer {token}"
    assert as_pod.get(f"/api/v1/namespaces/{ns}/pods").status_code == 200
    assert as_pod.get("/api/v1/namespaces/default/pods").status_code == 403
    api.delete(f"/api/v1/namespaces/{ns}/pods/client",
               params={"gracePeriodSeconds": "0"}).raise_for_status()
    wait_until(lambda: as_pod.get(f"/api/v1/namespaces/{ns}/pods").status_code == 401, 30,
               "the token to die with its pod")


def test_automount_off_a_missing_account_and_kubectl_create_token(
        cluster: Cluster, ns: str, kubectl) -> None:  # noqa: F811
    api = cluster.api()
    wait_until(lambda: api.get(f"/api/v1/namespaces/{ns}/serviceaccounts/default"
                               ).status_code == 200, 30, "the default service account")
    quiet = create_pod(cluster, ns, "quiet", cluster.hosts[0].name, [shell("c", "sleep 3600")],
                       automountServiceAccountToken=False)
    assert not quiet["spec"].get("volumes")
    r = api.post(f"/api/v1/namespaces/{ns}/pods", json={
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "ghost"},
        "spec": {"serviceAccountName": "nobody",
                 "containers": [{"name": "c", "image": "orch/web:1"}]}})
    assert r.status_code == 403 and 'serviceaccount "nobody" not found' in r.json()["message"]
    kubectl("create", "serviceaccount", "robot")
    token = kubectl("create", "token", "robot", "--duration=10m").stdout.strip()
    as_robot = cluster.api()
    as_robot.headers["Authorization"] = f"Bearer {token}"
    assert as_robot.get(f"/api/v1/namespaces/{ns}/configmaps").status_code == 200
    assert as_robot.post(f"/api/v1/namespaces/{ns}/configmaps", json={
        "metadata": {"name": "x"}}).status_code == 403
    assert as_robot.get("/api/v1/nodes").status_code == 403
