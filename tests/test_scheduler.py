"""Scheduler decisions as pure functions over snapshots: filters, scores, weights, ties."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from kube.kinds.node import Node
from kube.kinds.pod import Pod
from orchestrator.scheduler.framework import schedule
from orchestrator.scheduler.snapshot import Snapshot, pod_requests


def node(name, cpu="2", memory="4Gi", ready=True, labels=None, unschedulable=False, taints=None):
    return Node.model_validate({"metadata": {"name": name, "labels": labels or {}},
            "spec": {"unschedulable": unschedulable, "taints": taints or []},
            "status": {"allocatable": {"cpu": cpu, "memory": memory, "pods": "110"},
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}})


def pod(name="p", cpu=None, memory=None, node_name=None, owner=None, phase="Running", **spec):
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v}
    container = {"name": "c", "image": "i", "resources": {"requests": requests}}
    host_port = spec.pop("host_port", None)
    if host_port is not None:
        container["ports"] = [{"containerPort": 80, "hostPort": host_port}]
    meta = {"name": name}
    if owner:
        meta["ownerReferences"] = [{"uid": owner, "controller": True, "kind": "ReplicaSet",
                                    "name": "rs", "apiVersion": "apps/v1"}]
    return Pod.model_validate({"metadata": meta, "status": {"phase": phase},
                               "spec": {"containers": [container], "nodeName": node_name, **spec}})


def test_a_pod_requests_its_containers_sum_or_its_largest_init_container():
    p = pod(cpu="300m", memory="100Mi", initContainers=[
        {"name": "big", "image": "i", "resources": {"requests": {"cpu": "1", "memory": "10Mi"}}},
        {"name": "small", "image": "i"}])
    assert pod_requests(p) == (1000, 100 * 1024 * 1024)


def decide(nodes, pods, candidate, seed=1):
    return schedule(candidate, Snapshot.build(nodes, pods), random.Random(seed))


@pytest.mark.parametrize("nodes,candidate,message", [
    ([node("a", cpu="1"), node("b", cpu="1")], pod(cpu="2"),
     "0/2 nodes are available: 2 Insufficient cpu."),
    ([node("a", ready=False), node("b", unschedulable=True)], pod(),
     "0/2 nodes are available: 1 node(s) were not ready, 1 node(s) were unschedulable."),
    ([node("a", labels={"disk": "hdd"})], pod(nodeSelector={"disk": "ssd"}),
     "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector."),
    ([node("a", taints=[{"key": "dedicated", "value": "db", "effect": "NoSchedule"}])], pod(),
     "0/1 nodes are available: 1 node(s) had untolerated taint {dedicated: db}."),
    ([node("a", memory="1Gi")], pod(memory="2Gi"),
     "0/1 nodes are available: 1 Insufficient memory."),
], ids=["cpu", "not-ready-and-cordoned", "selector", "taint", "memory"])
def test_a_pod_that_fits_nowhere_says_why_per_node(nodes, candidate, message):
    decision = decide(nodes, [], candidate)
    assert decision.node is None and decision.message == message


def test_requests_already_bound_count_against_the_node():
    nodes = [node("a", cpu="2"), node("b", cpu="2")]
    busy = [pod("x", cpu="1500m", node_name="a")]
    assert decide(nodes, busy, pod(cpu="1")).node == "b"


def test_finished_pods_hold_no_resources():
    nodes = [node("a", cpu="1")]
    done = pod("x", cpu="1", node_name="a", phase="Succeeded")
    assert decide(nodes, [done], pod(cpu="1")).node == "a"


def test_a_used_host_port_rules_a_node_out():
    nodes = [node("a"), node("b")]
    assert decide(nodes, [pod("x", node_name="a", host_port=8080)], pod(host_port=8080)).node == "b"


def test_node_affinity_terms_are_ored_and_expressions_anded():
    nodes = [node("a", labels={"zone": "z1", "gpu": "yes"}), node("b", labels={"zone": "z2"})]
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In",
                                                     "values": ["z1"]},
                                                    {"key": "gpu", "operator": "Exists"}]}]}}}
    assert decide(nodes, [], pod(affinity=affinity)).node == "a"


def test_a_toleration_lets_a_pod_onto_a_tainted_node():
    nodes = [node("a", taints=[{"key": "dedicated", "value": "db", "effect": "NoSchedule"}])]
    tolerant = pod(tolerations=[{"key": "dedicated", "operator": "Equal", "value": "db",
                                 "effect": "NoSchedule"}])
    assert decide(nodes, [], tolerant).node == "a"


def test_least_allocated_prefers_the_emptier_node():
    nodes = [node("a"), node("b")]
    assert decide(nodes, [pod("x", cpu="1", memory="1Gi", node_name="a")], pod(cpu="100m")).node == "b"


def test_pods_of_one_owner_spread_over_the_nodes():
    nodes = [node("a"), node("b"), node("c")]
    snapshot = Snapshot.build(nodes, [])
    placed = Counter()
    rng = random.Random(7)
    for i in range(6):
        candidate = pod(f"r{i}", owner="rs-1")
        decision = schedule(candidate, snapshot, rng)
        placed[decision.node] += 1
        snapshot = snapshot.assume(candidate, decision.node)
    assert sorted(placed.values()) == [2, 2, 2]


def test_ties_are_broken_at_random():
    nodes = [node("a"), node("b"), node("c")]
    chosen = {decide(nodes, [], pod(), seed=s).node for s in range(30)}
    assert chosen == {"a", "b", "c"}


def test_weights_change_the_choice():
    nodes = [node("a", cpu="4", memory="4Gi"), node("b", cpu="4", memory="4Gi")]
    bound = [pod("x", cpu="3", memory="100Mi", node_name="a"),  # a: unbalanced, b: empty
             pod("y", cpu="1", memory="1Gi", node_name="b")]
    candidate = pod(cpu="100m", memory="100Mi")
    by_balance = schedule(candidate, Snapshot.build(nodes, bound), random.Random(1),
                          {"NodeResourcesLeastAllocated": 0, "SelectorSpread": 0})
    assert by_balance.node == "b"


def test_large_clusters_are_searched_until_enough_nodes_are_feasible() -> None:
    from orchestrator.scheduler.framework import feasible_to_find
    assert feasible_to_find(3) == 3 and feasible_to_find(100) == 100
    assert feasible_to_find(1000) == 420  # 42 % of 1,000
    assert feasible_to_find(200) == 100  # never fewer than 100
    assert feasible_to_find(10_000) == 500  # 5 % at most clusters' sizes and beyond


def test_score_weight_options_are_checked() -> None:
    import click

    from orchestrator.main import parse_score_weights
    assert parse_score_weights(("SelectorSpread=5", "NodeResourcesLeastAllocated=0.5")) == {
        "SelectorSpread": 5.0, "NodeResourcesLeastAllocated": 0.5}
    for bad in ("Nope=1", "SelectorSpread=x", "SelectorSpread=-1"):
        with pytest.raises(click.BadParameter):
            parse_score_weights((bad,))


SOFT = {"key": "dedicated", "value": "batch", "effect": "PreferNoSchedule"}


@pytest.mark.parametrize("taints,tolerations,chosen", [
    ({"a": [SOFT], "b": []}, None, "b"),
    ({"a": [SOFT], "b": [SOFT, {**SOFT, "key": "other"}]}, None, "a"),
    ({"a": [], "b": [SOFT]}, [{"key": "dedicated", "operator": "Exists"}], None),  # a tie
], ids=["untainted-wins", "fewer-taints-win", "tolerated-is-equal"])
def test_prefer_no_schedule_taints_steer_without_forbidding(taints, tolerations, chosen):
    nodes = [node(name, taints=t) for name, t in taints.items()]
    extra = {"tolerations": tolerations} if tolerations else {}
    winners = {decide(nodes, [], pod(**extra), seed=s).node for s in range(20)}
    assert winners == ({chosen} if chosen else {"a", "b"})


def test_a_node_with_only_soft_taints_is_still_feasible():
    assert decide([node("a", taints=[SOFT])], [], pod()).node == "a"


def test_a_pod_tolerating_the_unschedulable_taint_goes_to_a_cordoned_node():
    tolerant = pod(tolerations=[{"key": "node.kubernetes.io/unschedulable",
                                 "operator": "Exists", "effect": "NoSchedule"}])
    assert decide([node("a", unschedulable=True)], [], tolerant).node == "a"


def test_match_fields_pin_a_pod_to_a_node_by_name():
    pinned = pod(affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In",
                                                "values": ["b"]}]}]}}})
    assert decide([node("a"), node("b"), node("c")], [], pinned).node == "b"


def test_a_node_reports_only_the_first_filter_it_fails_in_kubernetes_order():
    # cordoned and too small: Kubernetes' framework stops at NodeUnschedulable for that node
    nodes = [node("a", cpu="1", unschedulable=True), node("b", cpu="1")]
    decision = decide(nodes, [], pod(cpu="2"))
    assert decision.message == ("0/2 nodes are available: 1 Insufficient cpu, 1 node(s) were "
                                "unschedulable.")
    tainted = node("c", cpu="1", taints=[{"key": "k", "value": "v", "effect": "NoSchedule"}])
    assert decide([tainted], [], pod(cpu="2")).message == (
        "0/1 nodes are available: 1 node(s) had untolerated taint {k: v}.")
