"""The daemonset controller's pure decisions (orchestrator/controllers/daemonset.py): which
nodes run a daemon pod, the pod made for a node, what a sync creates and deletes, the rolling
update's steps and the status."""

from __future__ import annotations

from datetime import datetime, timezone

from kube.kinds.daemonset import DaemonSet
from kube.kinds.node import Node
from kube.kinds.pod import Pod
from kube.scheduling import selects_node
from orchestrator.controllers.daemonset import (HASH_LABEL, calculate_status, current_hash,
                                                node_of, node_verdict, plan, pod_for_node)

NOW = datetime(2026, 12, 1, tzinfo=timezone.utc)


def ds(strategy=None, **pod_spec) -> DaemonSet:
    spec = {"selector": {"matchLabels": {"app": "d"}},
            "template": {"metadata": {"labels": {"app": "d"}},
                         "spec": {"containers": [{"name": "c", "image": "i"}], **pod_spec}}}
    if strategy:
        spec["updateStrategy"] = strategy
    return DaemonSet.model_validate({"metadata": {"name": "d", "namespace": "ns", "uid": "d-1",
                                                  "generation": 2}, "spec": spec})


def node(name, labels=None, taints=None, unschedulable=False) -> Node:
    return Node.model_validate({"metadata": {"name": name, "labels": labels or {}},
                                "spec": {"taints": taints or [],
                                         "unschedulable": unschedulable}})


def pod(name, node_name, revision, ready=True, phase="Running") -> Pod:
    return Pod.model_validate({
        "metadata": {"name": name, "namespace": "ns", "uid": f"u-{name}",
                     "labels": {"app": "d", HASH_LABEL: revision},
                     "creationTimestamp": "2026-11-30T00:00:00Z"},
        "spec": {"nodeName": node_name, "containers": [{"name": "c", "image": "i"}]},
        "status": {"phase": phase, "conditions": [
            {"type": "Ready", "status": "True" if ready else "False"}]}})


def test_which_nodes_run_a_daemon():
    d = ds(nodeSelector={"disk": "ssd"})
    assert node_verdict(d, node("a", {"disk": "ssd"})) == (True, True)
    assert node_verdict(d, node("b")) == (False, False)
    plain = ds()
    # not ready, unreachable and cordoned nodes keep and get daemons
    for key, effect in (("node.kubernetes.io/not-ready", "NoExecute"),
                        ("node.kubernetes.io/unreachable", "NoExecute"),
                        ("node.kubernetes.io/unschedulable", "NoSchedule")):
        assert node_verdict(plain, node("n", taints=[{"key": key, "effect": effect}])) == (
            True, True)
    # another NoSchedule taint: no new pod, an old one stays; NoExecute: it goes
    assert node_verdict(plain, node("n", taints=[{"key": "x", "effect": "NoSchedule"}])) == (
        False, True)
    assert node_verdict(plain, node("n", taints=[{"key": "x", "effect": "NoExecute"}])) == (
        False, False)


def test_a_pod_for_a_node_is_tied_to_it_by_affinity():
    d = ds(affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In",
                                                     "values": ["a"]}]}]}}})
    made = pod_for_node(d, "host2", current_hash(d))
    term = made["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]
    assert term["matchFields"] == [{"key": "metadata.name", "operator": "In",
                                    "values": ["host2"]}]
    assert term["matchExpressions"][0]["key"] == "zone"
    typed = Pod.model_validate({**made, "metadata": {**made["metadata"], "name": "p"}})
    assert node_of(typed) == "host2"
    assert selects_node(typed.spec, node("host2", {"zone": "a"}))
    assert not selects_node(typed.spec, node("host1", {"zone": "a"}))
    keys = {t["key"] for t in made["spec"]["tolerations"]}
    assert "node.kubernetes.io/unreachable" in keys and made["metadata"]["labels"][HASH_LABEL]
    assert made["metadata"]["ownerReferences"][0]["kind"] == "DaemonSet"


def test_a_sync_creates_where_missing_and_deletes_where_not_wanted():
    d = ds(nodeSelector={"run": "yes"})
    rev = current_hash(d)
    nodes = [node("a", {"run": "yes"}), node("b", {"run": "yes"}), node("c")]
    pods = [pod("pa", "a", rev), pod("pa2", "a", rev), pod("pc", "c", rev),
            pod("gone", "zzz", rev), pod("dead", "b", rev, phase="Failed")]
    out = plan(d, nodes, pods, NOW)
    assert out.create == ["b"]
    assert {p.metadata.name for p in out.delete} == {"pa2", "pc", "gone"}
    assert [p.metadata.name for p in out.failed] == ["dead"]


def test_a_rolling_update_replaces_max_unavailable_at_a_time():
    d = ds({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}})
    nodes = [node(n) for n in "abc"]
    pods = [pod(f"p{n}", n, "old") for n in "abc"]
    out = plan(d, nodes, pods, NOW)
    assert len(out.delete) == 1 and out.create == []
    # one node is being replaced (no pod): nothing more goes until it is available again
    out = plan(d, nodes, pods[1:], NOW)
    assert out.create == ["a"] and out.delete == []
    # an unavailable old pod is replaced at once, beyond the budget
    out = plan(d, nodes, [pod("pa", "a", current_hash(d), ready=False), pods[1],
                          pod("pc", "c", "old", ready=False)], NOW)
    assert [p.metadata.name for p in out.delete] == ["pc"]


def test_a_surge_creates_beside_and_deletes_once_available():
    d = ds({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}})
    rev = current_hash(d)
    nodes = [node(n) for n in "ab"]
    out = plan(d, nodes, [pod("pa", "a", "old"), pod("pb", "b", "old")], NOW)
    assert out.create == ["a"] and out.delete == []
    waiting = plan(d, nodes, [pod("pa", "a", "old"), pod("na", "a", rev, ready=False),
                              pod("pb", "b", "old")], NOW)
    assert waiting.create == [] and waiting.delete == []
    done = plan(d, nodes, [pod("pa", "a", "old"), pod("na", "a", rev),
                           pod("pb", "b", "old")], NOW)
    assert [p.metadata.name for p in done.delete] == ["pa"] and done.create == ["b"]


def test_on_delete_replaces_nothing_by_itself():
    d = ds({"type": "OnDelete"})
    out = plan(d, [node("a")], [pod("pa", "a", "old")], NOW)
    assert out.create == [] and out.delete == []


def test_status_counts_nodes():
    d = ds(nodeSelector={"run": "yes"})
    rev = current_hash(d)
    nodes = [node("a", {"run": "yes"}), node("b", {"run": "yes"}), node("c")]
    status = calculate_status(d, nodes, [pod("pa", "a", rev), pod("pb", "b", "old", ready=False),
                                         pod("pc", "c", rev)], NOW)
    assert status == {"currentNumberScheduled": 2, "numberMisscheduled": 1,
                      "desiredNumberScheduled": 2, "numberReady": 1, "observedGeneration": 2,
                      "updatedNumberScheduled": 1, "numberAvailable": 1,
                      "numberUnavailable": 1}
