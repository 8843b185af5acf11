"""The lab's master over HTTPS: every kind's CRUD and watch, auth, and faults (the etcd leader
killed during writes, the master restarted)."""

from __future__ import annotations

import json
import os
import secrets
import signal
import threading
import time

import pytest
import requests

from integration_tests.hosts import Cluster, netns_pids, process_alive, wait_until

MERGE = {"Content-Type": "application/merge-patch+json"}


def manifests(ns: str, suffix: str) -> dict[str, tuple[str, dict]]:
    """kind → (collection path, a minimal manifest) for every kind the API serves."""
    core, apps = f"/api/v1/namespaces/{ns}", f"/apis/apps/v1/namespaces/{ns}"
    tmpl = {"metadata": {"labels": {"app": "w"}},
            "spec": {"containers": [{"name": "c", "image": "orch/web:1"}]}}
    sel = {"matchLabels": {"app": "w"}}
    return {
        "Namespace": ("/api/v1/namespaces", {"metadata": {"name": f"ns{suffix}"}}),
        "Node": ("/api/v1/nodes", {"metadata": {"name": f"node{suffix}"}}),
        # No scheduler serves "none": the pod stays unbound, so only this test writes it.
        "Pod": (f"{core}/pods", {"metadata": {"name": f"p{suffix}"},
                                 "spec": {**tmpl["spec"], "schedulerName": "none"}}),
        "Service": (f"{core}/services", {"metadata": {"name": f"s{suffix}"},
                                         "spec": {"selector": {"app": "w"}, "ports": [{"port": 80}]}}),
        "Endpoints": (f"{core}/endpoints", {"metadata": {"name": f"s{suffix}"}, "subsets": []}),
        "ConfigMap": (f"{core}/configmaps", {"metadata": {"name": f"c{suffix}"}, "data": {"k": "v"}}),
        "Secret": (f"{core}/secrets", {"metadata": {"name": f"x{suffix}"}, "stringData": {"k": "v"}}),
        "Event": (f"{core}/events", {"metadata": {"name": f"e{suffix}"},
                                     "involvedObject": {"kind": "Pod", "name": "p"}, "reason": "Test"}),
        "ReplicaSet": (f"{apps}/replicasets", {"metadata": {"name": f"rs{suffix}"},
                                               "spec": {"selector": sel, "template": tmpl}}),
        "Deployment": (f"{apps}/deployments", {"metadata": {"name": f"d{suffix}"},
                                               "spec": {"selector": sel, "template": tmpl}}),
        "Lease": (f"/apis/coordination.k8s.io/v1/namespaces/{ns}/leases",
                  {"metadata": {"name": f"l{suffix}"}, "spec": {"holderIdentity": "x"}}),
    }


KINDS = sorted(manifests("x", ""))
CONTROLLED = {"ReplicaSet", "Deployment"}


@pytest.mark.parametrize("kind", KINDS, ids=str)
def test_create_get_patch_delete_and_watch_every_kind(cluster: Cluster, ns: str, kind: str) -> None:
    api = cluster.api()
    path, manifest = manifests(ns, secrets.token_hex(3))[kind]
    name = manifest["metadata"]["name"]
    rv = api.get(path).json()["metadata"]["resourceVersion"]
    stream = api.get(path, params={"watch": "true", "resourceVersion": rv,
                                   "timeoutSeconds": "30"}, stream=True)
    lines = stream.iter_lines(chunk_size=1)

    created = api.post(path, json=manifest)
    assert created.status_code == 201, created.text
    got = api.get(f"{path}/{name}").json()
    assert got["metadata"]["uid"] == created.json()["metadata"]["uid"]
    assert got["kind"] == kind
    patched = api.patch(f"{path}/{name}", data=json.dumps(
        {"metadata": {"labels": {"touched": "yes"}}}), headers=MERGE)
    assert patched.status_code == 200, patched.text
    assert api.delete(f"{path}/{name}").status_code == 200

    seen: list[str] = []
    touched = False
    deadline = time.monotonic() + 30
    while "DELETED" not in seen and time.monotonic() < deadline:
        event = json.loads(next(lines))
        if event["object"]["metadata"]["name"] == name:
            seen.append(event["type"])
            touched |= event["object"]["metadata"].get("labels", {}).get("touched") == "yes"
    stream.close()
    assert touched
    if kind in CONTROLLED:
        # Controllers write these objects' status too: more MODIFIED events, same shape.
        assert seen[0] == "ADDED" and seen[-1] == "DELETED", seen
        assert set(seen[1:-1]) == {"MODIFIED"}, seen
    else:
        # A namespace passes through Terminating (one more MODIFIED) before it is deleted.
        expected = ["ADDED", "MODIFIED", "MODIFIED", "DELETED"] if kind == "Namespace" \
            else ["ADDED", "MODIFIED", "DELETED"]
        assert seen == expected
    assert api.get(f"{path}/{name}").status_code == 404


@pytest.mark.parametrize("who,method,path,code", [
    (None, "get", "/api/v1/pods", 401),
    ("readonly", "get", "/api/v1/pods", 200),
    ("readonly", "post", "/api/v1/namespaces/default/configmaps", 403),
    ("host2", "post", "/api/v1/namespaces/default/configmaps", 403),
], ids=["no-token", "readonly-read", "readonly-write", "node-write-configmap"])
def test_auth_table(cluster: Cluster, who, method, path, code) -> None:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "auth-test"}}
    r = getattr(cluster.api(who), method)(path, json=body)
    assert r.status_code == code, r.text
    if code >= 400:
        assert r.json()["kind"] == "Status" and r.json()["code"] == code


def test_a_wrong_token_is_401(cluster: Cluster) -> None:
    api = cluster.api(None)
    api.headers["Authorization"] = "Bearer not-a-real-token"
    assert api.get("/api/v1/pods").status_code == 401


def test_a_node_token_may_write_only_the_status_of_its_own_pods(cluster: Cluster, ns: str) -> None:
    admin = cluster.api()
    first, second = cluster.hosts[0].name, cluster.hosts[-1].name
    for name, node in (("mine", first), ("theirs", second)):
        admin.post(f"/api/v1/namespaces/{ns}/pods", json={
            "metadata": {"name": name},
            "spec": {"schedulerName": "none",  # bound by hand below, not by the scheduler
                     "containers": [{"name": "c", "image": "orch/web:1"}]}}).raise_for_status()
        admin.post(f"/api/v1/namespaces/{ns}/pods/{name}/binding",
                   json={"target": {"name": node}}).raise_for_status()
    node = cluster.api(first)
    status = json.dumps({"status": {"phase": "Running"}})
    assert node.patch(f"/api/v1/namespaces/{ns}/pods/mine/status", data=status,
                      headers=MERGE).status_code == 200
    other = node.patch(f"/api/v1/namespaces/{ns}/pods/theirs/status", data=status, headers=MERGE)
    assert other.status_code == 403, other.text
    assert admin.get(f"/api/v1/namespaces/{ns}/pods/theirs").json()["status"]["phase"] == "Pending"


def _etcd_leader(cluster: Cluster):
    out = cluster.etcdctl(cluster.hosts[0], "endpoint", "status", "--cluster", "-w", "json").stdout
    statuses = json.loads(out)
    leader_id = statuses[0]["Status"]["leader"]
    for s in statuses:
        if s["Status"]["header"]["member_id"] == leader_id:
            address = s["Endpoint"].split("//")[1].split(":")[0]
            return next(h for h in cluster.hosts if h.address == address)
    raise AssertionError(f"no leader in {statuses}")


@pytest.mark.fault
def test_killing_the_etcd_leader_during_writes_loses_no_acknowledged_write(
        cluster: Cluster, ns: str) -> None:
    if len(cluster.hosts) < 3 or cluster.inventory.kind != "netns":
        pytest.skip("needs a 3-member netns lab")
    api = cluster.api()
    acknowledged: list[str] = []
    failures: list[str] = []
    stop = threading.Event()

    def write() -> None:
        i = 0
        while not stop.is_set():
            name = f"w{i}"
            try:
                r = api.post(f"/api/v1/namespaces/{ns}/configmaps", timeout=15,
                             json={"metadata": {"name": name}, "data": {"i": str(i)}})
                if r.status_code == 201:
                    acknowledged.append(name)
                    i += 1
                elif r.status_code == 409:  # an earlier try was applied but not acknowledged
                    i += 1
                else:
                    failures.append(f"{r.status_code} {r.json().get('reason')}")
            except requests.RequestException as e:
                failures.append(type(e).__name__)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        wait_until(lambda: len(acknowledged) >= 20, 60, "writes before the fault")
        leader = _etcd_leader(cluster)
        [pid] = netns_pids(leader.netns, "etcd")
        os.kill(pid, signal.SIGKILL)
        before = len(acknowledged)
        wait_until(lambda: len(acknowledged) >= before + 20, 90,
                   "writes to go on with the leader dead (the API recovers by itself)")
        cluster.power_on(leader)  # restarts the killed member
        after_restart = len(acknowledged)
        wait_until(lambda: len(acknowledged) >= after_restart + 10, 60, "writes after the rejoin")
    finally:
        stop.set()
        writer.join(30)
    items = api.get(f"/api/v1/namespaces/{ns}/configmaps").json()["items"]
    stored = {i["metadata"]["name"] for i in items}
    lost = [n for n in acknowledged if n not in stored]
    assert lost == [], f"acknowledged writes lost: {lost}"


def expect_api_only_from_other_masters(cluster: Cluster) -> None:
    """With the first master down, the published API answers only if other masters run."""
    if len(cluster.inventory.masters) > 1:
        def answers() -> bool:
            try:
                return cluster.api().get("/readyz", timeout=5).status_code == 200
            except requests.RequestException:
                return False  # a connection that was on its way to the dead master
        wait_until(answers, 30, "another master to answer through the published port")
    else:
        with pytest.raises(requests.RequestException):
            cluster.api().get("/readyz", timeout=5).raise_for_status()


@pytest.mark.fault
def test_restarting_the_master_loses_nothing(cluster: Cluster, ns: str) -> None:
    if cluster.inventory.kind != "netns":
        pytest.skip("kills the master's process directly (netns lab)")
    api = cluster.api()
    created = [api.post(f"/api/v1/namespaces/{ns}/configmaps",
                        json={"metadata": {"name": f"c{i}"}, "data": {"i": str(i)}}).json()
               for i in range(5)]
    master_host = cluster.hosts[0]
    [pid] = netns_pids(master_host.netns, "orchestrator")
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not process_alive(pid), 10, "the master to die")
    expect_api_only_from_other_masters(cluster)
    cluster.power_on(master_host)  # `lab start` restarts the master and waits for /readyz
    items = [i for i in cluster.api().get(f"/api/v1/namespaces/{ns}/configmaps").json()["items"]
             if i["metadata"]["name"] != "kube-root-ca.crt"]  # every namespace's
    assert sorted((i["metadata"]["name"], i["metadata"]["uid"], i["metadata"]["resourceVersion"])
                  for i in items) == sorted((c["metadata"]["name"], c["metadata"]["uid"],
                                             c["metadata"]["resourceVersion"]) for c in created)


@pytest.mark.fault
def test_the_master_host_powered_off_and_on_serves_everything_again(cluster: Cluster, ns: str) -> None:
    if len(cluster.hosts) < 3 or not cluster.inventory.control:
        pytest.skip("needs three hosts and power control")
    api = cluster.api()
    created = api.post(f"/api/v1/namespaces/{ns}/configmaps",
                       json={"metadata": {"name": "survivor"}, "data": {"k": "v"}}).json()
    master_host = cluster.hosts[0]
    cluster.power_off(master_host)  # the master, its etcd member and dockerd die together
    expect_api_only_from_other_masters(cluster)
    cluster.power_on(master_host)  # the master waits for etcd, then serves; `start` waits for it
    got = cluster.api().get(f"/api/v1/namespaces/{ns}/configmaps/survivor").json()
    assert got["metadata"]["uid"] == created["metadata"]["uid"]
