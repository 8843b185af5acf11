"""topologySpreadConstraints as the scheduler decides them (pure, over snapshots): Kubernetes'
PodTopologySpread filter (DoNotSchedule) and score (ScheduleAnyway)."""

from __future__ import annotations

import math
import random

import pytest

from kube.kinds.node import Node
from kube.kinds.pod import Pod
from kube.registry import by_kind
from kube.validation import Invalid, validate_create
from orchestrator.scheduler.framework import schedule
from orchestrator.scheduler.plugins import pod_topology_spread
from orchestrator.scheduler.snapshot import Snapshot

HOST = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"
WEB = {"app": "web"}


def node(name: str, taints: list | None = None, **labels: str) -> Node:
    return Node.model_validate({"metadata": {"name": name, "labels": {HOST: name, **labels}},
                                "spec": {"taints": taints or []},
                                "status": {"allocatable": {"cpu": "4", "memory": "8Gi",
                                                           "pods": "110"},
                                           "conditions": [{"type": "Ready", "status": "True"}]}})


def pod(name: str, labels: dict | None = None, on: str | None = None, namespace: str = "default",
        deleting: bool = False, **spec) -> Pod:
    meta: dict = {"name": name, "namespace": namespace, "labels": labels or {}}
    if deleting:
        meta["deletionTimestamp"] = "2026-12-02T00:00:00Z"
    return Pod.model_validate({"metadata": meta, "status": {"phase": "Running"}, "spec": {
        "containers": [{"name": "c", "image": "i"}], "nodeName": on, **spec}})


def spread(key: str = HOST, skew: int = 1, when: str = "DoNotSchedule", **extra) -> dict:
    return {"maxSkew": skew, "topologyKey": key, "whenUnsatisfiable": when,
            "labelSelector": {"matchLabels": extra.pop("match", WEB)}, **extra}


def candidate(*constraints: dict, labels: dict | None = None, **spec) -> Pod:
    return pod("new", WEB if labels is None else labels,
               topologySpreadConstraints=list(constraints), **spec)


def feasible(nodes, pods, incoming) -> set[str]:
    snapshot = Snapshot.build(nodes, pods)
    state = pod_topology_spread.prefilter(incoming, snapshot)
    return {i.name for i in snapshot.nodes
            if state is None or not pod_topology_spread.fits(state, incoming, i)}


def decide(nodes, pods, incoming, seed=1):
    return schedule(incoming, Snapshot.build(nodes, pods), random.Random(seed))


def placed(**per_node: int) -> list[Pod]:
    return [pod(f"{n}-{i}", WEB, n) for n, count in per_node.items() for i in range(count)]


@pytest.mark.parametrize("skew,allowed", [(1, {"c"}), (2, {"b", "c"}), (3, {"a", "b", "c"})])
def test_a_node_is_feasible_while_the_skew_stays_within_max_skew(skew, allowed):
    nodes = [node("a"), node("b"), node("c")]
    assert feasible(nodes, placed(a=2, b=1), candidate(spread(skew=skew))) == allowed


def test_domains_are_the_values_of_the_topology_key():
    nodes = [node("a", **{ZONE: "z1"}), node("b", **{ZONE: "z1"}), node("c", **{ZONE: "z2"})]
    assert feasible(nodes, placed(a=1), candidate(spread(ZONE))) == {"c"}
    assert feasible(nodes, placed(a=1, c=1), candidate(spread(ZONE))) == {"a", "b", "c"}


def test_a_pod_the_selector_does_not_match_adds_nothing_to_the_skew():
    nodes = [node("a"), node("b")]
    other = candidate(spread(), labels={"app": "other"})
    assert feasible(nodes, placed(a=1), other) == {"a", "b"}  # 1 + 0 - 0 is within 1


def test_a_node_without_the_key_fails_and_says_so():
    decision = decide([node("a")], [], candidate(spread(ZONE)))
    assert decision.message == ("0/1 nodes are available: 1 node(s) didn't match pod topology "
                                "spread constraints (missing required label).")


def test_a_skew_too_large_everywhere_says_why():
    nodes = [node("a", **{ZONE: "z1"}), node("b", **{ZONE: "z2"})]
    # z2 counts (policy Ignore) with none, so z1 holding one already is the most it may have
    incoming = candidate(spread(ZONE, nodeAffinityPolicy="Ignore"), nodeSelector={ZONE: "z1"})
    decision = decide(nodes, placed(a=1), incoming)
    assert decision.node is None
    assert "1 node(s) didn't match pod topology spread constraints" in decision.message


def test_fewer_domains_than_min_domains_count_the_fewest_as_zero():
    nodes = [node("a", **{ZONE: "z1"}), node("b", **{ZONE: "z1"})]
    assert feasible(nodes, placed(a=1), candidate(spread(ZONE))) == {"a", "b"}
    assert feasible(nodes, placed(a=1), candidate(spread(ZONE, minDomains=2))) == set()
    assert feasible(nodes, [], candidate(spread(ZONE, minDomains=2))) == {"a", "b"}


def test_node_affinity_policy_decides_whether_nodes_the_pod_cannot_use_count():
    nodes = [node("a", disk="ssd"), node("b", disk="ssd"), node("c")]
    honour = candidate(spread(), nodeSelector={"disk": "ssd"})
    assert decide(nodes, placed(a=1, b=1), honour).node in {"a", "b"}
    ignore = candidate(spread(nodeAffinityPolicy="Ignore"), nodeSelector={"disk": "ssd"})
    assert decide(nodes, placed(a=1, b=1), ignore).node is None  # c's 0 is the fewest


def test_node_taints_policy_honour_leaves_out_nodes_whose_taints_are_not_tolerated():
    taint = [{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]
    nodes = [node("a"), node("b"), node("c", taints=taint)]
    assert decide(nodes, placed(a=1, b=1), candidate(spread())).node is None
    honour = candidate(spread(nodeTaintsPolicy="Honor"))
    assert decide(nodes, placed(a=1, b=1), honour).node in {"a", "b"}


def test_match_label_keys_count_only_the_pods_of_the_same_revision():
    nodes = [node("a"), node("b")]
    old = [pod(f"old-{i}", {**WEB, "pod-template-hash": "1"}, "a") for i in range(2)]
    revision = candidate(spread(matchLabelKeys=["pod-template-hash"]),
                         labels={**WEB, "pod-template-hash": "2"})
    assert feasible(nodes, old, revision) == {"a", "b"}
    assert feasible(nodes, old, candidate(spread())) == {"b"}


def test_pods_of_other_namespaces_and_pods_being_deleted_do_not_count():
    nodes = [node("a"), node("b")]
    elsewhere = [pod("x", WEB, "a", namespace="other"), pod("y", WEB, "a", deleting=True),
                 pod("z", WEB, "a", deleting=True)]
    assert feasible(nodes, elsewhere, candidate(spread())) == {"a", "b"}


def test_a_constraint_without_a_selector_counts_no_pod():
    nodes = [node("a"), node("b")]
    blind = {"maxSkew": 1, "topologyKey": HOST, "whenUnsatisfiable": "DoNotSchedule"}
    assert feasible(nodes, placed(a=3), candidate(blind)) == {"a", "b"}


def test_schedule_anyway_prefers_the_emptier_domain_without_forbidding():
    nodes = [node("a"), node("b"), node("c", **{ZONE: "z"})]
    snapshot = Snapshot.build(nodes, placed(a=2))
    soft = candidate(spread(when="ScheduleAnyway"))
    # counts a=2, b=0, c=0 over 3 domains: a = 2·log(5), the others 0; lower is better
    assert pod_topology_spread.score_nodes(soft, snapshot.nodes, snapshot) == [0.0, 100.0, 100.0]
    zoned = candidate(spread(ZONE, when="ScheduleAnyway"))
    assert pod_topology_spread.score_nodes(zoned, snapshot.nodes, snapshot) == [0.0, 0.0, 100.0]
    assert feasible(nodes, placed(a=5), soft) == {"a", "b", "c"}
    assert decide(nodes, placed(a=2), soft).node in {"b", "c"}
    skewed = candidate(spread(skew=3, when="ScheduleAnyway"))
    raw = [2 * math.log(5) + 2, 2, 2]
    expected = [100 * (max(raw) + min(raw) - r) / max(raw) for r in raw]
    assert pod_topology_spread.score_nodes(skewed, snapshot.nodes, snapshot) == \
        pytest.approx(expected)


MANIFEST = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "image": "i"}]}}


@pytest.mark.parametrize("constraints,path", [
    ([spread(skew=0)], "spec.topologySpreadConstraints[0].maxSkew"),
    ([spread(when="Sometimes")], "spec.topologySpreadConstraints[0].whenUnsatisfiable"),
    ([spread(when="ScheduleAnyway", minDomains=2)], "spec.topologySpreadConstraints[0]"),
    ([spread(matchLabelKeys=["app"])], "spec.topologySpreadConstraints[0]"),
    ([spread(), spread(skew=2)], "spec"),
    ([spread(key="")], "spec.topologySpreadConstraints[0].topologyKey"),
], ids=["skew-0", "bad-when", "min-domains-soft", "key-in-both", "duplicate-pair",
        "empty-key"])
def test_bad_constraints_are_refused_naming_the_field(constraints, path):
    manifest = {**MANIFEST, "spec": {**MANIFEST["spec"], "topologySpreadConstraints": constraints}}
    with pytest.raises(Invalid) as caught:
        validate_create(by_kind("v1", "Pod"), manifest, "default")
    assert path in {e.field for e in caught.value.errors}, caught.value.errors


def test_a_good_constraint_is_accepted():
    manifest = {**MANIFEST, "spec": {**MANIFEST["spec"], "topologySpreadConstraints": [
        spread(ZONE, minDomains=3, nodeTaintsPolicy="Honor",
               matchLabelKeys=["pod-template-hash"])]}}
    validate_create(by_kind("v1", "Pod"), manifest, "default")
