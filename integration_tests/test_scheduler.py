"""The scheduler on the live lab: pods without a node get one, constraints hold, pods that fit
nowhere say why, and pods of one owner spread."""

from __future__ import annotations

from collections import Counter

from integration_tests.hosts import Cluster, wait_until


def make_pod(name: str, **spec) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "orch/web:1"}], **spec}}


def node_of(cluster: Cluster, ns: str, name: str) -> str | None:
    return cluster.api().get(f"/api/v1/namespaces/{ns}/pods/{name}").json()["spec"].get("nodeName")


def test_a_pod_without_a_node_is_scheduled_runs_and_gets_an_event(cluster: Cluster, ns: str) -> None:
    api = cluster.api()
    api.post(f"/api/v1/namespaces/{ns}/pods", json=make_pod("free")).raise_for_status()
    node = wait_until(lambda: node_of(cluster, ns, "free"), 30, "the pod to be bound")
    assert node in {h.name for h in cluster.hosts}
    wait_until(lambda: api.get(f"/api/v1/namespaces/{ns}/pods/free").json()
               .get("status", {}).get("phase") == "Running", 60, "Running")
    events = api.get(f"/api/v1/namespaces/{ns}/events",
                     params={"fieldSelector": "involvedObject.name=free"}).json()["items"]
    assert any(e["reason"] == "Scheduled" and node in e["message"] for e in events)


def test_a_node_selector_picks_the_node(cluster: Cluster, ns: str) -> None:
    target = cluster.hosts[-1].name
    cluster.api().post(f"/api/v1/namespaces/{ns}/pods", json=make_pod(
        "picky", nodeSelector={"kubernetes.io/hostname": target})).raise_for_status()
    assert wait_until(lambda: node_of(cluster, ns, "picky"), 30, "bound") == target


def test_a_pod_that_fits_nowhere_stays_pending_and_says_why(cluster: Cluster, ns: str) -> None:
    api = cluster.api()
    huge = make_pod("huge")
    huge["spec"]["containers"][0]["resources"] = {"requests": {"cpu": "500"}}
    api.post(f"/api/v1/namespaces/{ns}/pods", json=huge).raise_for_status()
    n = len(cluster.hosts)

    def condition():
        status = api.get(f"/api/v1/namespaces/{ns}/pods/huge").json().get("status", {})
        return next((c for c in status.get("conditions") or [] if c["type"] == "PodScheduled"),
                    None)

    cond = wait_until(condition, 30, "PodScheduled=False")
    assert cond["status"] == "False" and cond["reason"] == "Unschedulable"
    assert cond["message"] == f"0/{n} nodes are available: {n} Insufficient cpu."
    # The Event is written just after the condition.
    events = wait_until(lambda: api.get(f"/api/v1/namespaces/{ns}/events", params={
        "fieldSelector": "involvedObject.name=huge"}).json()["items"], 10, "the Event")
    assert [e["reason"] for e in events] == ["FailedScheduling"]
    assert node_of(cluster, ns, "huge") is None


def test_pods_of_one_owner_spread_evenly(cluster: Cluster, ns: str) -> None:
    api = cluster.api()
    # The owner must exist (the garbage collector deletes pods whose owner does not), and must
    # not manage pods itself: a Service does.
    service = api.post(f"/api/v1/namespaces/{ns}/services", json={
        "metadata": {"name": "spread"}, "spec": {"ports": [{"port": 80}]}})
    service.raise_for_status()
    owner = {"apiVersion": "v1", "kind": "Service", "name": "spread",
             "uid": service.json()["metadata"]["uid"], "controller": True}
    count = 2 * len(cluster.hosts)
    for i in range(count):
        body = make_pod(f"s{i}")
        body["metadata"]["ownerReferences"] = [owner]
        api.post(f"/api/v1/namespaces/{ns}/pods", json=body).raise_for_status()
    nodes = wait_until(lambda: (found := [node_of(cluster, ns, f"s{i}") for i in range(count)])
                       and all(found) and found, 60, "all bound")
    assert sorted(Counter(nodes).values()) == [2] * len(cluster.hosts)


def _scheduled_condition(cluster: Cluster, ns: str, name: str) -> dict | None:
    status = cluster.api().get(f"/api/v1/namespaces/{ns}/pods/{name}").json().get("status", {})
    return next((c for c in status.get("conditions") or [] if c["type"] == "PodScheduled"), None)


def test_pod_anti_affinity_puts_one_replica_a_node_and_pod_affinity_follows_a_pod(
        cluster: Cluster, ns: str) -> None:
    api = cluster.api()
    n = len(cluster.hosts)
    one_a_node = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "one-a-node"}},
         "topologyKey": "kubernetes.io/hostname"}]}}
    for i in range(n + 1):
        body = make_pod(f"one-{i}", affinity=one_a_node)
        body["metadata"]["labels"] = {"app": "one-a-node", "idx": str(i)}
        api.post(f"/api/v1/namespaces/{ns}/pods", json=body).raise_for_status()

    def placed() -> dict[str, str]:
        return {f"one-{i}": node for i in range(n + 1)
                if (node := node_of(cluster, ns, f"one-{i}"))}

    wait_until(lambda: len(placed()) == n, 60, "a replica on every node")
    on = placed()
    assert sorted(on.values()) == sorted(h.name for h in cluster.hosts)  # one a node
    waiting = next(f"one-{i}" for i in range(n + 1) if f"one-{i}" not in on)
    cond = wait_until(lambda: _scheduled_condition(cluster, ns, waiting), 30, "PodScheduled")
    assert cond["status"] == "False" and cond["reason"] == "Unschedulable"
    # the placed replicas' terms select it (checked first, as Kubernetes does)
    assert cond["message"] == (f"0/{n} nodes are available: {n} node(s) didn't satisfy "
                               "existing pods anti-affinity rules.")

    # a pod that must be with one replica goes to that replica's node
    leader = next(iter(sorted(on)))
    follower = make_pod("follower", affinity={"podAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"idx": leader.split("-")[1]}},
             "topologyKey": "kubernetes.io/hostname"}]}})
    api.post(f"/api/v1/namespaces/{ns}/pods", json=follower).raise_for_status()
    assert wait_until(lambda: node_of(cluster, ns, "follower"), 30, "bound") == on[leader]

    # when a replica goes, the waiting one takes its node
    api.delete(f"/api/v1/namespaces/{ns}/pods/{leader}",
               params={"gracePeriodSeconds": "0"}).raise_for_status()
    assert wait_until(lambda: node_of(cluster, ns, waiting), 90,
                      "the waiting replica bound") == on[leader]


def test_topology_spread_constraints_keep_the_skew_and_refuse_a_node_that_would_break_it(
        cluster: Cluster, ns: str) -> None:
    api = cluster.api()
    first, n = cluster.hosts[0].name, len(cluster.hosts)
    labels = {"app": "spread-demo"}
    for i in range(2):  # two already on the first host (placed there by name, not scheduled)
        body = make_pod(f"there-{i}", nodeName=first)
        body["metadata"]["labels"] = labels
        api.post(f"/api/v1/namespaces/{ns}/pods", json=body).raise_for_status()
    constraint = {"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                  "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": labels}}

    # one more on the first host would make it 3 against 0: refused, saying why
    pinned = make_pod("pinned", nodeSelector={"kubernetes.io/hostname": first},
                      topologySpreadConstraints=[{**constraint, "nodeAffinityPolicy": "Ignore"}])
    pinned["metadata"]["labels"] = labels
    api.post(f"/api/v1/namespaces/{ns}/pods", json=pinned).raise_for_status()
    cond = wait_until(lambda: _scheduled_condition(cluster, ns, "pinned"), 30, "PodScheduled")
    assert cond["status"] == "False" and cond["reason"] == "Unschedulable"
    assert "1 node(s) didn't match pod topology spread constraints" in cond["message"]

    # the others go where the skew allows: never the first host until each other has two
    count = 2 * (n - 1)
    for i in range(count):
        body = make_pod(f"new-{i}", topologySpreadConstraints=[constraint])
        body["metadata"]["labels"] = labels
        api.post(f"/api/v1/namespaces/{ns}/pods", json=body).raise_for_status()
    nodes = wait_until(lambda: (found := [node_of(cluster, ns, f"new-{i}") for i in range(count)])
                       and all(found) and found, 60, "all bound")
    assert first not in nodes
    assert sorted(Counter(nodes).values()) == [2] * (n - 1)
    # now every host has two: a third on the first is within the skew, and the pod goes there
    assert wait_until(lambda: node_of(cluster, ns, "pinned"), 60, "pinned bound") == first
