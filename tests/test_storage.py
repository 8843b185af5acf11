"""Storage's pure decisions: which volume serves which claim (kube/storage.py), the scheduler's
VolumeBinding filter, the local-path provisioner's volumes and helper pods, a StatefulSet's
claims, and the kinds' validation."""

from __future__ import annotations

import json
import random

import pytest

from kube.field_errors import Invalid
from kube.kinds.node import Node
from kube.kinds.persistentvolume import PersistentVolume
from kube.kinds.persistentvolumeclaim import PersistentVolumeClaim
from kube.kinds.pod import Pod
from kube.kinds.statefulset import StatefulSet
from kube.kinds.storageclass import StorageClass
from kube.registry import by_kind
from kube.storage import best_match, mismatch
from kube.validation import validate_create, validate_update
from orchestrator.controllers import localpath
from orchestrator.controllers.persistentvolume import claims_used, volume_phase
from orchestrator.controllers.statefulset import claims_for, pod_for
from orchestrator.scheduler.framework import schedule
from orchestrator.scheduler.plugins import volume_binding
from orchestrator.scheduler.snapshot import Snapshot, Storage


def claim(name="c", size="1Gi", modes=("ReadWriteOnce",), cls="manual", uid="c-1",
          **extra) -> PersistentVolumeClaim:
    meta = {"name": name, "namespace": "ns", "uid": uid, **extra.pop("meta", {})}
    status = extra.pop("status", {})
    return PersistentVolumeClaim.model_validate({"metadata": meta, "spec": {
        "accessModes": list(modes), "resources": {"requests": {"storage": size}},
        "storageClassName": cls, **extra}, "status": status})


def volume(name="v", size="1Gi", modes=("ReadWriteOnce",), cls="manual", node=None,
           labels=None, claim_ref=None, phase="Available") -> PersistentVolume:
    spec = {"capacity": {"storage": size}, "accessModes": list(modes),
            "storageClassName": cls, "hostPath": {"path": f"/d/{name}"}}
    if node:
        spec["nodeAffinity"] = {"required": {"nodeSelectorTerms": [{"matchExpressions": [
            {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}]}}
    if claim_ref:
        spec["claimRef"] = claim_ref
    return PersistentVolume.model_validate({"metadata": {"name": name, "labels": labels or {}},
                                            "spec": spec, "status": {"phase": phase}})


def node(name) -> Node:
    return Node.model_validate({"metadata": {"name": name,
                                             "labels": {"kubernetes.io/hostname": name}},
                                "status": {"allocatable": {"cpu": "2", "memory": "4Gi"},
                                           "conditions": [{"type": "Ready",
                                                           "status": "True"}]}})


def storage_class(name="local-path", mode="WaitForFirstConsumer",
                  provisioner=localpath.PROVISIONER) -> StorageClass:
    return StorageClass.model_validate({"metadata": {"name": name}, "provisioner": provisioner,
                                        "volumeBindingMode": mode})


def pod_using(*claims: str) -> Pod:
    return Pod.model_validate({"metadata": {"name": "p", "namespace": "ns", "uid": "p-1"},
                               "spec": {"containers": [{"name": "c", "image": "i"}],
                                        "volumes": [{"name": f"v{i}", "persistentVolumeClaim":
                                                     {"claimName": c}}
                                                    for i, c in enumerate(claims)]}})


# --- matching ---

def test_the_smallest_volume_that_satisfies_the_claim_is_chosen():
    volumes = [volume("big", "10Gi"), volume("fits", "2Gi"), volume("small", "1Gi"),
               volume("rwx", "2Gi", modes=("ReadWriteMany",)), volume("other", "2Gi", cls="x")]
    assert best_match(claim(size="2Gi"), volumes, None).metadata.name == "fits"
    assert mismatch(volume(size="1Gi"), claim(size="2Gi")) == "requested PV is too small"
    assert mismatch(volume(modes=("ReadWriteMany",)), claim()) == "incompatible accessMode"


def test_a_volume_pre_bound_to_the_claim_wins_and_one_bound_elsewhere_is_skipped():
    mine = volume("mine", "5Gi", claim_ref={"namespace": "ns", "name": "c", "uid": "c-1"})
    theirs = volume("theirs", "1Gi", claim_ref={"namespace": "ns", "name": "d", "uid": "d-1"})
    assert best_match(claim(), [theirs, volume("free", "1Gi"), mine], None).metadata.name == \
        "mine"
    assert best_match(claim(), [theirs], None) is None


def test_the_selector_and_the_node_narrow_the_choice():
    volumes = [volume("slow", labels={"speed": "slow"}, node="h1"),
               volume("fast", labels={"speed": "fast"}, node="h2")]
    picky = claim(selector={"matchLabels": {"speed": "fast"}})
    assert best_match(picky, volumes, None).metadata.name == "fast"
    assert best_match(claim(), volumes, node("h2")).metadata.name == "fast"
    assert best_match(picky, volumes, node("h1")) is None


def test_a_volume_whose_bound_claim_went_is_released_and_a_pre_bound_one_waits():
    bound = volume(claim_ref={"namespace": "ns", "name": "c", "uid": "c-1"}, phase="Bound")
    assert volume_phase(bound, None) == "Released"
    assert volume_phase(bound, claim(volumeName="v")) == "Bound"
    waiting = volume(claim_ref={"namespace": "ns", "name": "c"})
    assert volume_phase(waiting, None) == "Available"
    assert volume_phase(volume(), None) == "Available"


def test_only_pods_that_may_still_run_hold_their_claims():
    running, done = pod_using("a"), pod_using("b").model_copy(
        update={"status": Pod.model_validate({"metadata": {"name": "x"}, "spec": {
            "containers": [{"name": "c", "image": "i"}]}, "status": {
            "phase": "Succeeded"}}).status})
    assert claims_used([running, done]) == {("ns", "a")}


# --- the scheduler's filter ---

def snapshot(claims, volumes=(), classes=None) -> Snapshot:
    classes = [storage_class()] if classes is None else classes
    return Snapshot.build([node("h1"), node("h2")], [],
                          Storage.build(list(claims), list(volumes), list(classes)))


def decide(pod: Pod, snap: Snapshot):
    return schedule(pod, snap, random.Random(1))


def test_a_missing_claim_or_an_unbound_immediate_one_fits_no_node():
    assert decide(pod_using("gone"), snapshot([])).message == \
        '0/2 nodes are available: persistentvolumeclaim "gone" not found.'
    immediate = snapshot([claim(cls="fast")], classes=[storage_class("fast", "Immediate")])
    assert volume_binding.UNBOUND_IMMEDIATE in decide(pod_using("c"), immediate).message
    no_class = snapshot([claim(cls="")])
    assert volume_binding.UNBOUND_IMMEDIATE in decide(pod_using("c"), no_class).message


def test_a_bound_claims_volume_keeps_the_pod_on_its_node():
    bound = claim(volumeName="v", status={"phase": "Bound"})
    decision = decide(pod_using("c"), snapshot([bound], [volume(node="h2", phase="Bound")]))
    assert decision.node == "h2" and decision.claims == ()


def test_a_waiting_claim_is_served_where_a_volume_or_the_provisioner_can_serve_it():
    waiting = claim(cls="local-path")
    decision = decide(pod_using("c"), snapshot([waiting]))
    assert decision.node in ("h1", "h2") and decision.claims == (waiting,)
    # no provisioner: only the node with a matching volume
    static = storage_class("local", provisioner="kubernetes.io/no-provisioner")
    decision = decide(pod_using("c"), snapshot([claim(cls="local")],
                                               [volume(cls="local", node="h1")], [static]))
    assert decision.node == "h1"
    none = decide(pod_using("c"), snapshot([claim(cls="local")], [], [static]))
    assert none.node is None and volume_binding.NO_VOLUME in none.message
    # once a node is named on the claim, only that one
    named = claim(cls="local-path", meta={"annotations": {
        "volume.kubernetes.io/selected-node": "h2"}})
    assert decide(pod_using("c"), snapshot([named])).node == "h2"


# --- the local-path provisioner ---

def test_the_node_path_map_gives_each_node_its_directory_or_the_default():
    config = json.dumps({"nodePathMap": [
        {"node": "DEFAULT_PATH_FOR_NON_LISTED_NODES", "paths": ["/opt/lp"]},
        {"node": "h1", "paths": ["/data/a/"]}]})
    assert localpath.node_paths(config, "h1") == ["/data/a"]
    assert localpath.node_paths(config, "h9") == ["/opt/lp"]
    for bad in ("{", '{"nodePathMap": [{"node": "h1", "paths": ["relative"]}]}',
                '{"nodePathMap": [{"node": "h1", "paths": ["/"]}]}',
                '{"nodePathMap": [{"node": "h1", "paths": ["/d"]}]}'):
        with pytest.raises(localpath.ConfigError):
            localpath.node_paths(bad, "h2" if "h1" in bad and "/d" in bad else "h1")


def test_a_provisioned_volume_is_pre_bound_and_pinned_to_the_node():
    made = localpath.volume_for(claim(cls="local-path", uid="u-1"), storage_class(), "h2",
                                "/opt/lp")
    assert made["metadata"]["name"] == "pvc-u-1"
    spec = PersistentVolume.model_validate(made).spec
    assert spec.claim_ref.uid == "u-1" and spec.persistent_volume_reclaim_policy == "Delete"
    assert spec.host_path.path == "/opt/lp/pvc-u-1_ns_c"
    assert localpath.node_of(PersistentVolume.model_validate(made)) == "h2"


def test_the_helper_pods_make_and_remove_only_the_volume_directory():
    create = localpath.helper_pod("create", "pvc-1", "h1", "/opt/lp/pvc-1_ns_c", "img", "k")
    remove = localpath.helper_pod("delete", "pvc-1", "h1", "/opt/lp/pvc-1_ns_c", "img", "k")
    assert create["spec"]["nodeName"] == "h1"
    assert create["spec"]["volumes"][0]["hostPath"]["path"] == "/opt/lp"
    assert create["spec"]["containers"][0]["command"][-1] == "mkdir -m 0777 -p /data/pvc-1_ns_c"
    assert remove["spec"]["containers"][0]["command"][-1] == "rm -rf /data/pvc-1_ns_c"
    Pod.model_validate(create)  # a valid pod


# --- StatefulSets' claims ---

def stateful(**policy) -> StatefulSet:
    return StatefulSet.model_validate({
        "metadata": {"name": "db", "namespace": "ns", "uid": "s-1"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "db"}},
                 "persistentVolumeClaimRetentionPolicy": policy,
                 "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [
                     {"name": "c", "image": "i",
                      "volumeMounts": [{"name": "data", "mountPath": "/d"}]}]}},
                 "volumeClaimTemplates": [{"metadata": {"name": "data",
                                                        "labels": {"tier": "x"}},
                                           "spec": {"accessModes": ["ReadWriteOnce"],
                                                    "resources": {"requests": {
                                                        "storage": "1Gi"}}}}]}})


def test_each_ordinal_gets_its_claim_labelled_and_owned_as_the_policy_says():
    [made] = claims_for(stateful(), 1)
    assert made["metadata"]["name"] == "data-db-1"
    assert made["metadata"]["labels"] == {"tier": "x", "app": "db"}
    assert "ownerReferences" not in made["metadata"]
    [owned] = claims_for(stateful(whenDeleted="Delete"), 1)
    assert owned["metadata"]["ownerReferences"][0]["uid"] == "s-1"
    assert owned["metadata"]["ownerReferences"][0]["controller"] is False
    pod = pod_for(stateful(), 1, stateful().spec.template.to_dict(), "r")
    assert pod["spec"]["volumes"] == [{"name": "data",
                                       "persistentVolumeClaim": {"claimName": "data-db-1"}}]


def test_a_template_may_mount_only_volumes_or_claim_templates():
    body = stateful().to_dict()
    body["spec"]["template"]["spec"]["containers"][0]["volumeMounts"].append(
        {"name": "nothing", "mountPath": "/n"})
    with pytest.raises(Invalid, match="nothing"):
        validate_create(by_kind("apps/v1", "StatefulSet"), body, "ns")
    pod = pod_using("a").to_dict()
    pod["spec"]["containers"][0]["volumeMounts"] = [{"name": "data", "mountPath": "/d"}]
    with pytest.raises(Invalid, match="data"):  # claim templates mean nothing outside a set
        validate_create(by_kind("v1", "Pod"), pod, "ns")


# --- validation ---

PVC = by_kind("v1", "PersistentVolumeClaim")


def test_a_claims_spec_is_fixed_but_for_a_first_volume_name_and_class():
    old = validate_create(PVC, claim(cls=None).to_dict(), "ns")
    bound = json.loads(json.dumps(old))
    bound["spec"].update(volumeName="v", storageClassName="local-path")
    validate_update(PVC, old, bound, "ns")
    grown = json.loads(json.dumps(bound))
    grown["spec"]["resources"]["requests"]["storage"] = "2Gi"
    with pytest.raises(Invalid, match="spec.resources.requests.storage"):
        validate_update(PVC, bound, grown, "ns")
    moved = json.loads(json.dumps(bound))
    moved["spec"]["volumeName"] = "w"
    with pytest.raises(Invalid, match="spec is immutable"):
        validate_update(PVC, bound, moved, "ns")


@pytest.mark.parametrize("spec, message", [
    ({"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"]}, "exactly one of"),
    ({"capacity": {"storage": "0"}, "accessModes": ["ReadWriteOnce"],
      "hostPath": {"path": "/d"}}, "greater than zero"),
    ({"capacity": {"cpu": "1"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/d"}},
     "capacity.cpu"),
    ({"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
      "local": {"path": "/d"}}, "Local volume requires node affinity"),
    ({"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOncePod", "ReadWriteOnce"],
      "hostPath": {"path": "/d"}}, "ReadWriteOncePod"),
])
def test_bad_volumes_are_refused(spec, message):
    with pytest.raises(Invalid, match=message):
        validate_create(by_kind("v1", "PersistentVolume"),
                        {"metadata": {"name": "v"}, "spec": spec}, None)
