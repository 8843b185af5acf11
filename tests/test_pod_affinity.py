"""Inter-pod affinity and anti-affinity, and preferred node affinity, as the scheduler decides
them (pure, over snapshots): Kubernetes' InterPodAffinity and NodeAffinity semantics."""

from __future__ import annotations

import random

import pytest

from kube.kinds.namespace import Namespace
from kube.kinds.node import Node
from kube.kinds.pod import Pod
from kube.registry import by_kind
from kube.validation import FORBIDDEN, Invalid, validate_create
from orchestrator.scheduler.framework import schedule
from orchestrator.scheduler.plugins import inter_pod_affinity, node_affinity
from orchestrator.scheduler.snapshot import Snapshot

HOST = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"


def node(name: str, **labels: str) -> Node:
    return Node.model_validate({"metadata": {"name": name, "labels": {HOST: name, **labels}},
                                "status": {"allocatable": {"cpu": "4", "memory": "8Gi",
                                                           "pods": "110"},
                                           "conditions": [{"type": "Ready", "status": "True"}]}})


def pod(name: str, labels: dict[str, str] | None = None, on: str | None = None,
        namespace: str = "default", affinity: dict | None = None) -> Pod:
    spec: dict = {"containers": [{"name": "c", "image": "i"}], "nodeName": on}
    if affinity:
        spec["affinity"] = affinity
    return Pod.model_validate({"metadata": {"name": name, "namespace": namespace,
                                            "labels": labels or {}},
                               "spec": spec, "status": {"phase": "Running"}})


def term(key: str = HOST, **extra) -> dict:
    return {"labelSelector": {"matchLabels": extra.pop("match", {"app": "web"})},
            "topologyKey": key, **extra}


def required(kind: str, *terms: dict) -> dict:
    return {kind: {"requiredDuringSchedulingIgnoredDuringExecution": list(terms)}}


def preferred(kind: str, *weighted: tuple[int, dict]) -> dict:
    return {kind: {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": w, "podAffinityTerm": t} for w, t in weighted]}}


def decide(nodes, pods, candidate, namespaces=(), seed=1):
    ns = [Namespace.model_validate({"metadata": {"name": n, "labels": labels}})
          for n, labels in namespaces]
    return schedule(candidate, Snapshot.build(nodes, pods, namespaces=ns), random.Random(seed))


def feasible(nodes, pods, candidate, namespaces=()) -> set[str]:
    """The nodes the InterPodAffinity filter lets the candidate on."""
    ns = [Namespace.model_validate({"metadata": {"name": n, "labels": labels}})
          for n, labels in namespaces]
    snapshot = Snapshot.build(nodes, pods, namespaces=ns)
    state = inter_pod_affinity.prefilter(candidate, snapshot)
    return {i.name for i in snapshot.nodes
            if state is None or not inter_pod_affinity.fits(state, i)}


def winners(nodes, pods, candidate, namespaces=()) -> set[str | None]:
    return {decide(nodes, pods, candidate, namespaces, seed=s).node for s in range(16)}


WEB = {"app": "web"}
SPREAD = required("podAntiAffinity", term())


def test_required_anti_affinity_keeps_a_replica_off_nodes_holding_another():
    nodes = [node("a"), node("b"), node("c")]
    placed = [pod("w1", WEB, "a", affinity=SPREAD)]
    assert feasible(nodes, placed, pod("w2", WEB, affinity=SPREAD)) == {"b", "c"}


def test_a_full_spread_says_why_in_kubernetes_words():
    nodes = [node("a"), node("b")]
    # the placed replicas state no anti-affinity: it is the incoming pod's own term that fails
    placed = [pod("w1", WEB, "a"), pod("w2", WEB, "b")]
    decision = decide(nodes, placed, pod("w3", WEB, affinity=SPREAD))
    assert decision.node is None
    assert decision.message == ("0/2 nodes are available: 2 node(s) didn't match pod "
                                "anti-affinity rules.")


def test_an_existing_pods_anti_affinity_repels_the_pods_it_selects():
    nodes = [node("a"), node("b")]
    placed = [pod("loner", {"app": "db"}, "a", affinity=SPREAD)]
    decision = decide(nodes, placed, pod("w", WEB))  # states nothing itself
    assert decision.node == "b"
    only_a = decide([nodes[0]], placed, pod("w", WEB))
    assert only_a.message == ("0/1 nodes are available: 1 node(s) didn't satisfy existing pods "
                              "anti-affinity rules.")


def test_required_affinity_follows_the_pod_it_names_within_the_topology_domain():
    nodes = [node("a", **{ZONE: "z1"}), node("b", **{ZONE: "z1"}), node("c", **{ZONE: "z2"})]
    placed = [pod("cache", {"app": "cache"}, "a")]
    near = required("podAffinity", term(ZONE, match={"app": "cache"}))
    assert feasible(nodes, placed, pod("web", WEB, affinity=near)) == {"a", "b"}
    same_node = required("podAffinity", term(HOST, match={"app": "cache"}))
    assert feasible(nodes, placed, pod("web", WEB, affinity=same_node)) == {"a"}


def test_affinity_to_pods_that_do_not_exist_is_unschedulable_unless_it_is_the_first_of_its_group():
    nodes = [node("a", **{ZONE: "z1"}), node("b")]  # b has no zone label
    to_cache = required("podAffinity", term(ZONE, match={"app": "cache"}))
    decision = decide(nodes, [], pod("web", WEB, affinity=to_cache))
    assert decision.message == ("0/2 nodes are available: 2 node(s) didn't match pod affinity "
                                "rules.")
    # a pod matching its own term may start the group, on nodes that carry the key
    together = required("podAffinity", term(ZONE, match=WEB))
    assert feasible(nodes, [], pod("w1", WEB, affinity=together)) == {"a"}


def test_affinity_needs_one_pod_matching_every_term():
    nodes = [node("a"), node("b")]
    placed = [pod("x", {"app": "cache"}, "a"), pod("y", {"tier": "hot"}, "b"),
              pod("z", {"app": "cache", "tier": "hot"}, "b")]
    both = required("podAffinity", term(match={"app": "cache"}), term(match={"tier": "hot"}))
    assert feasible(nodes, placed, pod("web", WEB, affinity=both)) == {"b"}
    assert feasible(nodes, placed[:2], pod("web", WEB, affinity=both)) == set()


def test_a_term_looks_in_its_pods_namespace_unless_it_names_namespaces_or_selects_them():
    nodes = [node("a"), node("b")]
    placed = [pod("w1", WEB, "a", namespace="other")]
    namespaces = [("default", {}), ("other", {"team": "blue"})]
    own = pod("w2", WEB, affinity=SPREAD)
    assert feasible(nodes, placed, own, namespaces) == {"a", "b"}  # another namespace's pod
    listed = required("podAntiAffinity", term(namespaces=["other"]))
    assert feasible(nodes, placed, pod("w2", WEB, affinity=listed), namespaces) == {"b"}
    blue = required("podAntiAffinity", term(namespaceSelector={"matchLabels": {"team": "blue"}}))
    assert feasible(nodes, placed, pod("w2", WEB, affinity=blue), namespaces) == {"b"}
    everywhere = required("podAntiAffinity", term(namespaceSelector={}))
    assert feasible(nodes, placed, pod("w2", WEB, affinity=everywhere), namespaces) == {"b"}
    red = required("podAntiAffinity", term(namespaceSelector={"matchLabels": {"team": "red"}}))
    assert feasible(nodes, placed, pod("w2", WEB, affinity=red), namespaces) == {"a", "b"}


def test_a_term_without_a_label_selector_selects_no_pod():
    nodes = [node("a")]
    placed = [pod("w1", WEB, "a")]
    blind = required("podAntiAffinity", {"topologyKey": HOST})
    assert decide(nodes, placed, pod("w2", WEB, affinity=blind)).node == "a"


def test_preferred_anti_affinity_spreads_without_forbidding():
    nodes = [node("a"), node("b")]
    soft = preferred("podAntiAffinity", (100, term()))
    assert winners(nodes, [pod("w1", WEB, "a")], pod("w2", WEB, affinity=soft)) == {"b"}
    full = [pod("w1", WEB, "a"), pod("w2", WEB, "b"), pod("w3", WEB, "b")]
    assert winners(nodes, full, pod("w4", WEB, affinity=soft)) == {"a"}  # fewer there


def test_existing_pods_preferences_and_required_affinity_attract_the_pods_they_name():
    nodes = [node("a"), node("b")]
    wants_web = preferred("podAffinity", (50, term()))
    assert winners(nodes, [pod("cache", {}, "b", affinity=wants_web)], pod("w", WEB)) == {"b"}
    needs_web = required("podAffinity", term())
    assert winners(nodes, [pod("cache", {}, "a", affinity=needs_web)], pod("w", WEB)) == {"a"}


def test_the_affinity_score_is_normalised_between_the_lowest_and_highest_node():
    nodes = [node("a"), node("b"), node("c")]
    placed = [pod("w1", WEB, "a"), pod("w2", WEB, "a"), pod("w3", WEB, "b")]
    snapshot = Snapshot.build(nodes, placed)
    soft = pod("w4", WEB, affinity=preferred("podAffinity", (10, term())))
    assert inter_pod_affinity.score_nodes(soft, snapshot.nodes, snapshot) == [100.0, 50.0, 0.0]
    assert inter_pod_affinity.score_nodes(pod("x", WEB), snapshot.nodes, snapshot) == [0.0] * 3


def test_preferred_node_affinity_scores_the_weights_of_the_terms_a_node_matches():
    nodes = [node("a", disk="ssd", zone="z1"), node("b", disk="ssd"), node("c")]
    snapshot = Snapshot.build(nodes, [])

    def prefer(key, value, weight):
        return {"weight": weight, "preference": {"matchExpressions": [
            {"key": key, "operator": "In", "values": [value]}]}}
    candidate = pod("p", affinity={"nodeAffinity": {
        "preferredDuringSchedulingIgnoredDuringExecution": [prefer("disk", "ssd", 60),
                                                            prefer("zone", "z1", 20)]}})
    assert node_affinity.score_nodes(candidate, snapshot.nodes, snapshot) == [100.0, 75.0, 0.0]
    assert winners(nodes, [], candidate) == {"a"}


MANIFEST = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "image": "i"}]}}


@pytest.mark.parametrize("affinity,path", [
    (required("podAntiAffinity", {"labelSelector": {}, "topologyKey": ""}),
     "spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0]"
     ".topologyKey"),
    (preferred("podAffinity", (0, term())),
     "spec.affinity.podAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight"),
    ({"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 101, "preference": {}}]}},
     "spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight"),
], ids=["empty-topology-key", "weight-0", "weight-101"])
def test_bad_affinity_is_refused_naming_the_field(affinity, path):
    manifest = {**MANIFEST, "spec": {**MANIFEST["spec"], "affinity": affinity}}
    with pytest.raises(Invalid) as caught:
        validate_create(by_kind("v1", "Pod"), manifest, "default")
    assert path in {e.field for e in caught.value.errors}


def test_match_label_keys_are_refused_as_not_implemented():
    affinity = required("podAntiAffinity", term(matchLabelKeys=["pod-template-hash"]))
    manifest = {**MANIFEST, "spec": {**MANIFEST["spec"], "affinity": affinity}}
    with pytest.raises(Invalid) as caught:
        validate_create(by_kind("v1", "Pod"), manifest, "default")
    errors = {e.field: e for e in caught.value.errors}
    path = ("spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0]"
            ".matchLabelKeys")
    assert errors[path].reason == FORBIDDEN and "does not implement" in errors[path].message
