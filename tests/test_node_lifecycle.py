"""Node lifecycle decisions: when a node is unreachable, which of its pods go and when."""

from __future__ import annotations

import secrets

import pytest

from kube.kinds.node import Node
from kube.kinds.pod import Pod
from kube.meta import ObjectMeta
from orchestrator.controllers import nodelifecycle as nl


def lease(rv: str) -> ObjectMeta:
    return ObjectMeta.model_validate({"name": "host1", "resourceVersion": rv})


def test_unreachable_is_measured_from_when_the_lease_last_changed_here() -> None:
    seen = nl.observe(None, lease("5"), now=100.0)
    assert not nl.is_unreachable(seen, 104.0, grace_period=5)
    seen = nl.observe(seen, lease("5"), now=104.0)  # same version: the clock keeps running
    assert nl.is_unreachable(seen, 105.5, grace_period=5)
    seen = nl.observe(seen, lease("9"), now=106.0)  # renewed
    assert not nl.is_unreachable(seen, 106.5, grace_period=5)


def test_a_node_without_a_lease_gets_a_full_grace_period_from_first_sight() -> None:
    seen = nl.observe(None, None, now=50.0)
    assert not nl.is_unreachable(seen, 54.0, 5) and nl.is_unreachable(seen, 55.1, 5)


def pod_json(name: str, tolerations=None, deleting=False) -> dict:
    meta = {"name": name, "namespace": "default"}
    if deleting:
        meta["deletionTimestamp"] = "2026-11-23T00:00:00Z"
    return {"metadata": meta, "spec": {"tolerations": tolerations or [],
                                       "containers": [{"name": "c", "image": "i"}]},
            "status": {"conditions": [{"type": "Ready", "status": "True"},
                                      {"type": "PodScheduled", "status": "True"}]}}


def pod(name: str, tolerations=None, deleting=False) -> Pod:
    return Pod.model_validate(pod_json(name, tolerations, deleting))


@pytest.mark.parametrize("tolerations,expected", [
    ([], 0.0),
    ([{"key": nl.UNREACHABLE, "operator": "Exists", "effect": "NoExecute",
       "tolerationSeconds": 30}], 30.0),
    ([{"key": nl.UNREACHABLE, "operator": "Exists", "effect": "NoExecute"}], None),
    ([{"operator": "Exists"}], None),  # tolerates everything
    ([{"key": nl.UNREACHABLE, "operator": "Exists", "effect": "NoSchedule"}], 0.0),
    ([{"key": "other", "operator": "Exists"}], 0.0),
])
def test_toleration_seconds(tolerations, expected) -> None:
    assert nl.toleration_seconds(pod("p", tolerations)) == expected


def test_eviction_plan_waits_for_the_delay_and_each_toleration() -> None:
    pods = [pod("plain"), pod("gone", deleting=True),
            pod("patient", [{"key": nl.UNREACHABLE, "operator": "Exists",
                             "effect": "NoExecute", "tolerationSeconds": 10}]),
            pod("forever", [{"operator": "Exists"}])]
    evict, next_due = nl.eviction_plan(pods, unreachable_for=1.0, eviction_delay=2.0)
    assert evict == [] and next_due == 1.0
    evict, next_due = nl.eviction_plan(pods, unreachable_for=2.5, eviction_delay=2.0)
    assert [p.metadata.name for p in evict] == ["plain"] and next_due == 9.5
    evict, _ = nl.eviction_plan(pods, unreachable_for=13, eviction_delay=2.0)
    assert [p.metadata.name for p in evict] == ["plain", "patient"]


def test_pods_are_marked_not_ready_once() -> None:
    status = nl.not_ready_status(pod("p"))
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "NodeNotReady")
    assert nl.not_ready_status(Pod.model_validate({**pod_json("p"), "status": status})) is None


def test_unreachable_taints_are_added_once_and_removed_alone() -> None:
    node = Node.model_validate({"metadata": {"name": "n"},
                                "spec": {"taints": [{"key": "gpu", "effect": "NoSchedule"}]}})
    taints = nl.unreachable_taints(node)
    assert {(t["key"], t["effect"]) for t in taints} == {
        ("gpu", "NoSchedule"), (nl.UNREACHABLE, "NoSchedule"), (nl.UNREACHABLE, "NoExecute")}
    node = Node.model_validate({"metadata": {"name": "n"}, "spec": {"taints": taints}})
    assert nl.unreachable_taints(node) == taints
    assert nl.without_unreachable_taints(node) == [{"key": "gpu", "effect": "NoSchedule"}]


# --- disruption: many nodes lost at once point at the control plane, not the nodes ---

def node_json(name: str, zone: str | None = None, ready: str = "True", taints=None) -> dict:
    labels = {nl.ZONE_LABEL: zone} if zone else {}
    return {"metadata": {"name": name, "labels": labels}, "spec": {"taints": taints or []},
            "status": {"conditions": [{"type": "Ready", "status": ready}]}}


def node(name: str, zone: str | None = None, ready: str = "True", taints=None) -> Node:
    return Node.model_validate(node_json(name, zone, ready, taints))


@pytest.mark.parametrize("ready,not_ready,state", [
    (3, 0, nl.NORMAL), (2, 1, nl.NORMAL), (1, 2, nl.NORMAL),   # 2 lost of 3: still normal
    (0, 1, nl.FULL_DISRUPTION), (0, 3, nl.FULL_DISRUPTION),
    (2, 3, nl.PARTIAL_DISRUPTION), (3, 3, nl.NORMAL),           # 50% < 55%
    (0, 0, nl.NORMAL),
])
def test_zone_state_follows_kubernetes(ready, not_ready, state) -> None:
    assert nl.zone_state(ready, not_ready) == state


def test_zone_states_group_nodes_by_zone_label_and_count_lost_or_unready_nodes() -> None:
    nodes = [node("a1", "a"), node("a2", "a", ready="False"), node("b1", "b"), node("x")]
    assert nl.zone_states(nodes, unreachable={"b1"}) == {
        "a": nl.NORMAL, "b": nl.FULL_DISRUPTION, "": nl.NORMAL}


def test_evictions_stop_in_master_disruption_and_small_partially_disrupted_zones() -> None:
    full, normal, partial = nl.FULL_DISRUPTION, nl.NORMAL, nl.PARTIAL_DISRUPTION
    assert not nl.evictions_allowed({"a": full, "b": full}, "a", 3)
    assert nl.evictions_allowed({"a": full, "b": normal}, "a", 3)  # zone a itself is down
    assert not nl.evictions_allowed({"a": partial}, "a", 10)
    assert nl.evictions_allowed({"a": partial}, "a", nl.LARGE_CLUSTER_THRESHOLD + 1)
    assert nl.evictions_allowed({"": normal}, "", 3)


def test_without_evictions_the_noexecute_taint_comes_off() -> None:
    tainted = node("n", taints=nl.unreachable_taints(node("n")))
    kept = nl.unreachable_taints(tainted, no_execute=False)
    assert {(t["key"], t["effect"]) for t in kept} == {(nl.UNREACHABLE, "NoSchedule")}


class FakeObjects:
    """The controller's view of the API, in memory: caches to read, writes recorded."""

    def __init__(self, nodes: list[dict], pods: list[dict]) -> None:
        self.nodes, self.pods, self.leases = nodes, pods, []
        self.deleted: list[str] = []
        self.store = self
        for n in nodes:
            self.renew(n["metadata"]["name"])

    def renew(self, name: str) -> None:
        self.leases = [lease for lease in self.leases if lease["metadata"]["name"] != name] + [
            {"metadata": {"name": name, "resourceVersion": secrets.token_hex(4)}}]

    def cached(self, resource: str, namespace: str | None = None,
               name_prefix: str = "") -> tuple[list[dict], int]:
        return {"nodes": self.nodes, "pods": self.pods, "leases": self.leases}[resource], 1

    def update(self, kind, namespace, name, obj, subresource=None) -> None:
        if kind is nl.NODE:
            next(n for n in self.nodes if n["metadata"]["name"] == name)["status"] = obj["status"]

    def patch(self, kind, namespace, name, patch) -> None:
        if kind is nl.NODE:
            next(n for n in self.nodes if n["metadata"]["name"] == name)["spec"].update(
                {"taints": patch["spec"]["taints"] or []})

    def delete(self, kind, namespace, name, grace_period_seconds=None) -> None:
        self.deleted.append(name)
        self.pods = [p for p in self.pods if p["metadata"]["name"] != name]

    def create(self, *args, **kwargs) -> None:  # events
        pass


def placed(name: str, node_name: str) -> dict:
    p = pod_json(name)
    p["spec"]["nodeName"] = node_name
    return p


def test_losing_every_node_evicts_nothing_and_coming_back_gives_a_fresh_grace_period() -> None:
    nodes = [node_json("n1"), node_json("n2"), node_json("n3")]
    objects = FakeObjects(nodes, [placed("p1", "n1"), placed("p2", "n2"), placed("p3", "n3")])
    now = [0.0]
    controller = nl.NodeLifecycleController(objects, grace_period=5, eviction_delay=2,
                                            clock=lambda: now[0])
    controller.monitor()
    for t in range(1, 30):  # every lease stops (e.g. the master is cut off): 29 s of silence
        now[0] = float(t)
        controller.monitor()
    assert objects.deleted == [] and controller._master_disruption
    assert all((nl.UNREACHABLE, "NoExecute") not in {(t["key"], t["effect"])
                                                     for t in n["spec"]["taints"]} for n in nodes)
    assert all(nl.ready_condition(Node.model_validate(n)).status == "Unknown" for n in nodes)

    objects.renew("n1")  # n1 is back and ready; n2 and n3 are still silent
    nodes[0]["status"]["conditions"] = [{"type": "Ready", "status": "True"}]
    for t in range(30, 30 + 5 + 2):  # within a fresh grace period + the eviction delay
        now[0] = float(t)
        controller.monitor()
        objects.renew("n1")
    assert not controller._master_disruption and objects.deleted == []
    for t in range(37, 40):
        now[0] = float(t)
        controller.monitor()
        objects.renew("n1")
    assert len(objects.deleted) == 1  # one lost node at once, the next at the eviction rate
    for t in range(40, 48):
        now[0] = float(t)
        controller.monitor()
        objects.renew("n1")
    assert sorted(objects.deleted) == ["p2", "p3"]


def test_one_lost_node_of_three_is_evicted_as_usual() -> None:
    nodes = [node_json("n1"), node_json("n2"), node_json("n3")]
    objects = FakeObjects(nodes, [placed("p1", "n1"), placed("p2", "n2")])
    now = [0.0]
    controller = nl.NodeLifecycleController(objects, grace_period=5, eviction_delay=2,
                                            clock=lambda: now[0])
    for t in range(0, 10):
        now[0] = float(t)
        controller.monitor()
        objects.renew("n1"), objects.renew("n3")
    assert objects.deleted == ["p2"]
    taints = {(t["key"], t["effect"]) for t in nodes[1]["spec"]["taints"]}
    assert (nl.UNREACHABLE, "NoExecute") in taints


def test_renewed_since_needs_a_renewal_by_a_node_that_is_not_unreachable() -> None:
    seen = {"a": nl.Observation("1", 10.0), "b": nl.Observation("7", 12.0),
            "c": nl.Observation("3", 13.0)}
    assert nl.renewed_since(seen, 11.0, unreachable={"a"})
    assert not nl.renewed_since(seen, 11.0, unreachable={"a", "b", "c"})
    assert not nl.renewed_since(seen, 13.5, unreachable={"a"})


def test_nodes_lost_together_but_found_unreachable_apart_are_not_evicted() -> None:
    """The leases stop 1.9 s apart and the eviction delay is 1 s: without waiting for another
    node's renewal, the first node's pods would go before the last node tips the zone."""
    nodes = [node_json("n1"), node_json("n2"), node_json("n3")]
    objects = FakeObjects(nodes, [placed("p1", "n1"), placed("p2", "n2"), placed("p3", "n3")])
    now = [0.0]
    controller = nl.NodeLifecycleController(objects, grace_period=5, eviction_delay=1,
                                            clock=lambda: now[0])
    stopped = {"n1": 0.0, "n2": 1.0, "n3": 1.9}  # when each agent renewed for the last time
    for tick in range(0, 200):
        now[0] = tick / 10
        for name, last in stopped.items():
            if now[0] <= last:
                objects.renew(name)
        controller.monitor()
    assert objects.deleted == [] and controller._master_disruption


def test_a_token_bucket_admits_one_at_once_then_one_per_period() -> None:
    bucket = nl.TokenBucket(0.1, now=0.0)
    assert bucket.take(0.0)
    assert not bucket.take(0.0) and not bucket.take(9.9)
    assert bucket.take(10.0)
    assert bucket.take(100.0) and not bucket.take(100.0)  # burst 1: idle time does not pile up
    never = nl.TokenBucket(0.0, now=0.0)
    assert not never.take(0.0) and not never.take(1e9)


def test_zone_eviction_rate_is_reduced_in_partial_disruption() -> None:
    big = nl.LARGE_CLUSTER_THRESHOLD + 1
    assert nl.zone_eviction_rate(nl.NORMAL, 3, 0.1, 0.01) == 0.1
    assert nl.zone_eviction_rate(nl.FULL_DISRUPTION, 3, 0.1, 0.01) == 0.1
    assert nl.zone_eviction_rate(nl.PARTIAL_DISRUPTION, big, 0.1, 0.01) == 0.01
    assert nl.zone_eviction_rate(nl.PARTIAL_DISRUPTION, 10, 0.1, 0.01) == 0.0


def run_rate_limited(nodes: list[dict], pods: list[dict], seconds: float, renewing,
                     on_tick=None) -> FakeObjects:
    """The controller (grace 5 s, eviction delay 2 s, 0.1 nodes/s) every 0.1 s for `seconds`;
    `renewing(now)` names the nodes that renew their lease at that tick, `on_tick(now,
    objects)` runs after the monitor pass."""
    objects = FakeObjects(nodes, pods)
    now = [0.0]
    controller = nl.NodeLifecycleController(objects, grace_period=5, eviction_delay=2,
                                            eviction_rate=0.1, clock=lambda: now[0])
    for tick in range(int(seconds * 10)):
        now[0] = tick / 10
        for name in renewing(now[0]):
            objects.renew(name)
        controller.monitor()
        if on_tick:
            on_tick(now[0], objects)
    return objects


def test_nodes_lost_together_in_one_zone_are_evicted_one_per_rate_period() -> None:
    """Two of five nodes lost (the zone stays Normal): the first node is admitted to eviction
    at once (its pods go after the eviction delay), the second once the zone's bucket has a
    token again, 10 s later (its eviction delay has long passed: its pods go then)."""
    nodes = [node_json(f"n{i}") for i in range(1, 6)]
    evicted_at: dict[str, float] = {}

    def note_evictions(now: float, objects: FakeObjects) -> None:
        for p in objects.deleted:
            evicted_at.setdefault(p, now)
    run_rate_limited(nodes, [placed("p1", "n1"), placed("p2", "n2")], 30,
                     lambda _now: ("n3", "n4", "n5"), note_evictions)
    assert set(evicted_at) == {"p1", "p2"}
    first, second = sorted(evicted_at.values())
    assert 7.0 <= first < 7.5  # grace 5 s + delay 2 s
    assert 15.0 <= second < 15.5  # admitted 10 s after the first, at 5 s + 10 s
    tainted = [n["metadata"]["name"] for n in nodes
               if (nl.UNREACHABLE, "NoExecute") in {(t["key"], t["effect"])
                                                    for t in n["spec"]["taints"]}]
    assert sorted(tainted) == ["n1", "n2"]


def test_each_zone_has_its_own_eviction_rate_limit() -> None:
    nodes = [node_json("a1", "a"), node_json("a2", "a"), node_json("a3", "a"),
             node_json("b1", "b"), node_json("b2", "b"), node_json("b3", "b")]
    objects = run_rate_limited(nodes, [placed("pa", "a1"), placed("pb", "b1")], 8,
                               lambda _now: ("a2", "a3", "b2", "b3"))
    assert sorted(objects.deleted) == ["pa", "pb"]  # both zones' first lost node, at once


def test_a_node_back_before_its_turn_is_never_tainted_for_eviction() -> None:
    nodes = [node_json(f"n{i}") for i in range(1, 6)]

    def renewing(now: float) -> tuple[str, ...]:
        if now >= 9.0:  # n2 is back (and Ready) before the bucket's next token at 15 s
            nodes[1]["status"]["conditions"] = [{"type": "Ready", "status": "True"}]
            return ("n2", "n3", "n4", "n5")
        return ("n3", "n4", "n5")
    objects = run_rate_limited(nodes, [placed("p1", "n1"), placed("p2", "n2")], 12, renewing)
    assert objects.deleted == ["p1"]
    assert nodes[1]["spec"]["taints"] == []


def test_an_eviction_rate_of_zero_evicts_nothing() -> None:
    nodes = [node_json(f"n{i}") for i in range(1, 4)]
    objects = FakeObjects(nodes, [placed("p1", "n1")])
    now = [0.0]
    controller = nl.NodeLifecycleController(objects, grace_period=5, eviction_delay=2,
                                            eviction_rate=0.0, clock=lambda: now[0])
    for tick in range(0, 200):
        now[0] = tick / 10
        objects.renew("n2"), objects.renew("n3")
        controller.monitor()
    assert objects.deleted == []
    assert nl.ready_condition(Node.model_validate(nodes[0])).status == "Unknown"
