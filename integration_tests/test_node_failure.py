"""A host lost: its pods are replaced on the others and leave the Endpoints; when it comes
back, exactly `replicas` pods remain."""

from __future__ import annotations

import os
import signal
import time

import pytest

from integration_tests.hosts import Cluster, netns_pids, wait_until
from integration_tests.test_deployments import Api, deployment
from integration_tests.test_pods import create_pod, pod_status, shell, wait_running
from node_agent.pods.model import LABEL_POD_NAMESPACE


def ready(pod: dict) -> bool:
    return (pod.get("status") or {}).get("phase") == "Running" and any(
        c["type"] == "Ready" and c["status"] == "True"
        for c in (pod.get("status") or {}).get("conditions") or [])


def node_ready(node: dict) -> str:
    """The status of a Node's Ready condition: "True", "False" or "Unknown"."""
    return next(c["status"] for c in node["status"]["conditions"] if c["type"] == "Ready")


@pytest.mark.smoke
@pytest.mark.fault
def test_losing_a_host_replaces_its_pods_elsewhere(cluster: Cluster, ns: str) -> None:
    if len(cluster.hosts) < 3 or not cluster.inventory.control:
        pytest.skip("needs 3 hosts and a lab that can power hosts off")
    api = Api(cluster, ns)
    replicas = 2 * len(cluster.hosts)
    api.create(deployment("survivor", replicas))
    api.http.post(f"/api/v1/namespaces/{ns}/services", json={
        "metadata": {"name": "survivor"},
        "spec": {"selector": {"app": "survivor"}, "ports": [{"port": 80, "targetPort": "http"}]}}
    ).raise_for_status()
    api.wait_complete("survivor")
    victim = cluster.hosts[-1]  # not the master's host
    on_victim = [p for p in api.live_pods("survivor") if p["spec"]["nodeName"] == victim.name]
    doomed = {p["status"]["podIP"] for p in on_victim}
    assert len(doomed) == 2

    def endpoint_ips() -> set[str]:
        r = api.http.get(f"/api/v1/namespaces/{ns}/endpoints/survivor").json()
        return {a["ip"] for s in r.get("subsets") or [] for a in s.get("addresses") or []}

    def replaced() -> bool:
        live = [p for p in api.live_pods("survivor") if ready(p)]
        return (len(live) == replicas and all(p["spec"]["nodeName"] != victim.name for p in live)
                and not endpoint_ips() & doomed and len(endpoint_ips()) == replicas)

    killed = time.monotonic()
    cluster.power_off(victim)
    try:
        wait_until(replaced, 120, f"the pods of {victim.name} to run elsewhere", interval=0.2)
    except AssertionError as e:  # say what the cluster looked like, for a rare failure
        pods = [(p["metadata"]["name"], p["spec"].get("nodeName"), ready(p),
                 p["metadata"].get("deletionTimestamp")) for p in api.live_pods("survivor")]
        node = api.http.get(f"/api/v1/nodes/{victim.name}").json()
        leases = api.http.get("/apis/coordination.k8s.io/v1/namespaces/kube-system/leases").json()
        raise AssertionError(f"{e}\npods: {pods}\nendpoints: {sorted(endpoint_ips())}\n"
                             f"node: {node['status'].get('conditions')} "
                             f"taints {node['spec'].get('taints')}\nleases: "
                             f"{[le['spec'] for le in leases['items']]}") from None
    print(f"\n{victim.name} lost: its pods replaced and out of the Endpoints in "
          f"{time.monotonic() - killed:.1f} s")
    node = api.http.get(f"/api/v1/nodes/{victim.name}").json()
    assert node_ready(node) == "Unknown"
    assert any(t["key"] == "node.kubernetes.io/unreachable" for t in node["spec"]["taints"])
    events = api.http.get(f"/api/v1/namespaces/{ns}/events").json()["items"]
    # Each of the host's pods was evicted and says so. (If the leading master died with the
    # host, a new leader watches the host for a full grace period before judging it, and a pod
    # placed there meanwhile is evicted too.)
    evicted = {e["involvedObject"]["uid"] for e in events if e["reason"] == "Evicted"}
    assert {p["metadata"]["uid"] for p in on_victim} <= evicted

    cluster.power_on(victim)
    wait_until(lambda: len(api.pods("survivor")) == replicas
               and all(ready(p) for p in api.pods("survivor")), 120,
               f"exactly {replicas} pods once {victim.name} is back")
    node = wait_until(lambda: (n := api.http.get(f"/api/v1/nodes/{victim.name}").json())
                      and not (n["spec"].get("taints") or []) and n, 30, "the taints removed")
    assert node_ready(node) == "True"
    client = cluster.docker(victim)
    try:
        leftovers = client.api.containers(all=True,
                                          filters={"label": f"{LABEL_POD_NAMESPACE}={ns}"})
    finally:
        client.close()
    assert leftovers == []


@pytest.mark.fault
def test_when_every_node_stops_reporting_at_once_nothing_is_evicted(cluster: Cluster,
                                                                    ns: str) -> None:
    """Every agent killed together (their containers keep running): to the master every node is
    lost, which points at the master's side. It marks them Unknown but evicts nothing, and
    when the agents are back the very same pods run on."""
    if cluster.inventory.kind != "netns":
        pytest.skip("kills every agent's process directly (netns lab)")
    api = Api(cluster, ns)
    api.create(deployment("steady", len(cluster.hosts)))
    api.wait_complete("steady")
    before = {p["metadata"]["uid"] for p in api.live_pods("steady")}
    agents = [pid for h in cluster.hosts for pid in netns_pids(h.netns, "node-agent")]
    assert len(agents) == len(cluster.hosts), agents

    for pid in agents:
        os.kill(pid, signal.SIGKILL)
    try:
        wait_until(lambda: all(node_ready(n) == "Unknown" for n in
                               api.http.get("/api/v1/nodes").json()["items"]), 60,
                   "every node to be Unknown")
        time.sleep(10)  # several times the lab's eviction delay (2 s)
        pods = api.pods("steady")
        assert {p["metadata"]["uid"] for p in pods} == before
        assert not [p["metadata"]["name"] for p in pods if p["metadata"].get("deletionTimestamp")]
        for node in api.http.get("/api/v1/nodes").json()["items"]:
            assert ("node.kubernetes.io/unreachable", "NoExecute") not in {
                (t["key"], t["effect"]) for t in node["spec"].get("taints") or []}
    finally:
        # `lab up` restarts every daemon that died, the agents of all hosts together: like a
        # healed control-plane partition, every node comes back at once. (One `lab start` per
        # host brought them back up to 20 s apart on a loaded machine: past the lab's grace
        # period of 5 s, the last ones were rightly taken for lost, and their pods evicted.)
        cluster.control("up")
    wait_until(lambda: all(node_ready(n) == "True" for n in
                           api.http.get("/api/v1/nodes").json()["items"]), 60,
               "every node to be Ready again")
    try:
        wait_until(lambda: {p["metadata"]["uid"] for p in api.pods("steady") if ready(p)} == before,
                   60, "the same pods to be Ready again")
    except AssertionError as e:
        seen = {p["metadata"]["name"]: (p["metadata"]["uid"] in before, p["spec"].get("nodeName"),
                                        (p.get("status") or {}).get("conditions"),
                                        (p.get("status") or {}).get("containerStatuses"))
                for p in api.pods("steady")}
        raise AssertionError(f"{e}; the pods (same uid, node, conditions, containers): {seen}") from None


@pytest.mark.fault
def test_pods_of_a_node_briefly_thought_lost_become_ready_again(cluster: Cluster, ns: str) -> None:
    """The agent frozen past the grace period (SIGSTOP): the master marks the node Unknown and
    its pod not Ready (the pod tolerates the unreachable taint, so it is not evicted). Thawed,
    the agent renews its lease and puts the pod's Ready back, though nothing changed on the
    node."""
    if cluster.inventory.kind != "netns":
        pytest.skip("freezes the agent's process directly (netns lab)")
    host = cluster.hosts[-1]
    create_pod(cluster, ns, "patient", host.name, [shell("c", "sleep 3600")],
               terminationGracePeriodSeconds=0,
               tolerations=[{"key": "node.kubernetes.io/unreachable", "operator": "Exists",
                             "effect": "NoExecute"}])
    wait_running(cluster, ns, "patient")
    [agent] = netns_pids(host.netns, "node-agent")

    def pod_ready() -> str:
        return next(c["status"] for c in pod_status(cluster, ns, "patient")["conditions"]
                    if c["type"] == "Ready")

    os.kill(agent, signal.SIGSTOP)
    try:
        wait_until(lambda: pod_ready() == "False", 60, "the master to mark the pod not Ready")
    finally:
        os.kill(agent, signal.SIGCONT)
    wait_until(lambda: pod_ready() == "True", 60, "the agent to put the pod's Ready back")
