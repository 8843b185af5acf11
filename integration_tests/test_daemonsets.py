"""DaemonSets on the live lab: a pod on every node that should run one, on a node that comes
back too, rolled node by node, rolled back from its ControllerRevisions. Oracles: the pods'
own output (the node they run on, from the downward API), the containers on each host's
dockerd, and kubectl's own rollout commands."""

from __future__ import annotations

import pytest

from integration_tests.hosts import Cluster, wait_until
from integration_tests.test_kubectl import kubectl  # noqa: F401 - the fixture


def daemonset(name: str, **spec) -> dict:
    return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": name},
            "spec": {"selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {
                         "terminationGracePeriodSeconds": 1,
                         "containers": [{"name": "c", "image": "orch/web:1",
                                         "command": ["sh", "-c",
                                                     'echo "on $NODE"; exec sleep 3600'],
                                         "env": [{"name": "NODE", "valueFrom": {"fieldRef": {
                                             "fieldPath": "spec.nodeName"}}}]}],
                         **spec.pop("pod", {})}}, **spec}}


def running_on(cluster: Cluster, ns: str, app: str) -> dict[str, str]:
    """node → the name of the running, ready pod of `app` there (one each, or it fails)."""
    pods = cluster.api().get(f"/api/v1/namespaces/{ns}/pods",
                             params={"labelSelector": f"app={app}"}).json()["items"]
    live = [p for p in pods if not p["metadata"].get("deletionTimestamp")
            and p["status"].get("phase") == "Running"]
    nodes = [p["spec"].get("nodeName") for p in live]
    assert len(nodes) == len(set(nodes)), f"two daemon pods on one node: {nodes}"
    return {p["spec"]["nodeName"]: p["metadata"]["name"] for p in live}


@pytest.mark.fault
def test_one_pod_on_every_node_a_deleted_node_loses_it_and_gets_it_back(
        cluster: Cluster, ns: str) -> None:
    api = cluster.api()
    api.post(f"/apis/apps/v1/namespaces/{ns}/daemonsets",
             json=daemonset("collector")).raise_for_status()
    names = {h.name for h in cluster.hosts}
    on = wait_until(lambda: (r := running_on(cluster, ns, "collector")) and set(r) == names
                    and r, 90, "a pod on every node")
    for node, pod in on.items():  # each runs where it says
        log = api.get(f"/api/v1/namespaces/{ns}/pods/{pod}/log").text
        assert log == f"on {node}\n"
    status = wait_until(lambda: (s := api.get(f"/apis/apps/v1/namespaces/{ns}/daemonsets/"
                                              "collector").json()["status"])
                        .get("numberAvailable") == len(names) and s, 60, "the status")
    assert status["desiredNumberScheduled"] == status["currentNumberScheduled"] == len(names)

    host = cluster.hosts[-1]
    api.delete(f"/api/v1/nodes/{host.name}").raise_for_status()
    wait_until(lambda: host.name not in running_on(cluster, ns, "collector"), 60,
               f"the pod on {host.name} to go with its node")
    cluster.power_off(host)
    cluster.power_on(host)  # its agent registers the node again
    back = wait_until(lambda: (r := running_on(cluster, ns, "collector")) and set(r) == names
                      and r, 120, f"a pod on {host.name} again")
    assert back[host.name] != on[host.name]


def test_a_node_selector_limits_the_nodes_and_kubectl_rolls_and_undoes(
        cluster: Cluster, ns: str, kubectl) -> None:  # noqa: F811
    api = cluster.api()
    edge = cluster.hosts[0].name
    api.post(f"/apis/apps/v1/namespaces/{ns}/daemonsets", json=daemonset(
        "edge", pod={"nodeSelector": {"kubernetes.io/hostname": edge}})).raise_for_status()
    wait_until(lambda: set(running_on(cluster, ns, "edge")) == {edge}, 90,
               f"the pod on {edge} only")
    api.post(f"/apis/apps/v1/namespaces/{ns}/daemonsets",
             json=daemonset("rolled")).raise_for_status()
    kubectl("rollout", "status", "ds/rolled", "--timeout=120s")
    first = running_on(cluster, ns, "rolled")
    kubectl("set", "env", "ds/rolled", "COLOR=blue")
    kubectl("rollout", "status", "ds/rolled", "--timeout=120s")
    second = running_on(cluster, ns, "rolled")
    assert set(second) == set(first) and not set(second.values()) & set(first.values())
    history = kubectl("rollout", "history", "ds/rolled").stdout
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["1", "2"]
    kubectl("rollout", "undo", "ds/rolled")
    kubectl("rollout", "status", "ds/rolled", "--timeout=120s")
    pod = next(iter(running_on(cluster, ns, "rolled").values()))
    env = kubectl("exec", pod, "--", "env").stdout
    assert "COLOR=blue" not in env and "NODE=" in env
