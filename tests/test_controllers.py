"""Controllers' pure decisions: ReplicaSet plans and status, Endpoints subsets."""

from __future__ import annotations

from kube.kinds.pod import Pod
from kube.kinds.replicaset import ReplicaSet
from kube.kinds.service import Service
from orchestrator.controllers.endpoints import subsets_for
from orchestrator.controllers.replicaset import calculate_status, plan, pod_from_template

RS_JSON = {"kind": "ReplicaSet", "metadata": {"name": "web", "namespace": "d", "uid": "rs-1",
                                         "generation": 3},
      "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
               "template": {"metadata": {"labels": {"app": "web"}},
                            "spec": {"containers": [{"name": "c", "image": "i"}]}}}}
RS = ReplicaSet.model_validate(RS_JSON)


def pod(name, owner="rs-1", labels=None, node=None, phase="Running", ready=True, created="2026-01-01T00:00:00Z",
        restarts=0, deleting=False, ip=None, ports=None):
    meta = {"name": name, "namespace": "d", "uid": f"u-{name}", "labels": labels or {"app": "web"},
            "creationTimestamp": created}
    if owner:
        meta["ownerReferences"] = [{"uid": owner, "controller": True, "kind": "ReplicaSet",
                                    "apiVersion": "apps/v1", "name": "web"}]
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return Pod.model_validate({
        "metadata": meta,
        "spec": {"nodeName": node, "containers": [{"name": "c", "image": "i",
                                                    "ports": ports or []}]},
        "status": {"phase": phase, "podIP": ip,
                   "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
                   "containerStatuses": [{"name": "c", "image": "i", "restartCount": restarts}]}})


def test_missing_replicas_are_created():
    adopt, release, create, delete = plan(RS, [pod("a", node="n1")])
    assert (adopt, release, create, delete) == ([], [], 2, [])


def test_orphans_that_match_are_adopted_and_count():
    _, _, create, _ = plan(RS, [pod("a", node="n"), pod("b", owner=None, node="n")])
    adopt, *_ = plan(RS, [pod("a", node="n"), pod("b", owner=None, node="n")])
    assert [p.metadata.name for p in adopt] == ["b"] and create == 1


def test_owned_pods_that_stop_matching_are_released():
    _, release, create, _ = plan(RS, [pod("a", labels={"app": "other"}, node="n")])
    assert [p.metadata.name for p in release] == ["a"] and create == 3


def test_terminating_and_finished_pods_do_not_count():
    pods = [pod("a", node="n", deleting=True), pod("b", node="n", phase="Failed"), pod("c", node="n")]
    assert plan(RS, pods)[2] == 2


def test_scale_down_deletes_unscheduled_then_pending_then_unready_then_newest():
    pods = [pod("old-ready", node="n", created="2026-01-01T00:00:00Z"),
            pod("new-ready", node="n", created="2026-01-02T00:00:00Z"),
            pod("unready", node="n", ready=False),
            pod("pending", node="n", phase="Pending", ready=False),
            pod("unscheduled", phase="Pending", ready=False)]
    *_, delete = plan(RS.model_copy(update={"spec": RS.spec.model_copy(update={"replicas": 1})}),
                      pods)
    assert [p.metadata.name for p in delete] == ["unscheduled", "pending", "unready",
                                                      "new-ready"]


def test_status_counts_active_and_ready_pods():
    pods = [pod("a", node="n"), pod("b", node="n", ready=False), pod("c", node="n", deleting=True)]
    assert calculate_status(RS, pods) == {"replicas": 2, "fullyLabeledReplicas": 2,
                                          "readyReplicas": 1, "availableReplicas": 1,
                                          "observedGeneration": 3}


def test_pods_are_made_from_the_template_and_owned():
    p = pod_from_template(RS)
    assert p["metadata"]["generateName"] == "web-"
    assert p["metadata"]["ownerReferences"][0]["uid"] == "rs-1"
    assert p["metadata"]["labels"] == {"app": "web"}


SVC = Service.model_validate({
    "metadata": {"name": "web", "namespace": "d"},
    "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80,
                                                     "targetPort": "http", "protocol": "TCP"}]}})


def test_endpoints_list_ready_pods_apart_from_unready_ones_with_named_ports_resolved():
    http = [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    pods = [pod("a", ip="10.244.1.2", node="n1", ports=http),
            pod("b", ip="10.244.2.2", node="n2", ports=http, ready=False),
            pod("c", ip=None, ports=http),  # no IP yet
            pod("d", ip="10.244.3.2", ports=[]),  # no port named http
            pod("e", ip="10.244.3.3", ports=http, labels={"app": "other"}),
            pod("f", ip="10.244.3.4", ports=http, deleting=True)]
    [subset] = subsets_for(SVC, pods)
    assert subset["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    assert [a["ip"] for a in subset["addresses"]] == ["10.244.1.2"]
    assert [a["ip"] for a in subset["notReadyAddresses"]] == ["10.244.2.2"]
    assert subset["addresses"][0]["targetRef"]["name"] == "a"


def test_pods_resolving_ports_differently_land_in_different_subsets():
    pods = [pod("a", ip="10.244.1.2", ports=[{"name": "http", "containerPort": 8080}]),
            pod("b", ip="10.244.1.3", ports=[{"name": "http", "containerPort": 9090}])]
    assert sorted(s["ports"][0]["port"] for s in subsets_for(SVC, pods)) == [8080, 9090]


def test_a_replication_controller_is_read_as_a_replicaset_that_keeps_its_kind():
    from kube.kinds.replicationcontroller import ReplicationController, as_replicaset
    from orchestrator.controllers.replicaset import pod_from_template

    stored = ReplicationController.model_validate({
        "metadata": {"name": "web", "namespace": "ns", "uid": "rc-1"},
        "spec": {"replicas": 2, "template": {"metadata": {"labels": {"app": "web"}},
                                             "spec": {"containers": [
                                                 {"name": "c", "image": "i"}]}}}}).to_dict()
    assert stored["spec"]["selector"] == {"app": "web"}  # defaulted from the template
    assert stored["metadata"]["labels"] == {"app": "web"}
    rs = as_replicaset(stored)
    assert rs.spec.replicas == 2 and rs.spec.selector.match_labels == {"app": "web"}
    [owner] = pod_from_template(rs)["metadata"]["ownerReferences"]
    assert (owner["apiVersion"], owner["kind"], owner["uid"]) == (
        "v1", "ReplicationController", "rc-1")
