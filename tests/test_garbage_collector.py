"""The garbage collector's propagation policies, with its sync called directly against a real
etcd (no threads)."""

from __future__ import annotations

from kube.registry import by_kind
from orchestrator.api.status import ApiError
from orchestrator.controllers.garbagecollector import GarbageCollector

NS, POD, RS = by_kind("v1", "Namespace"), by_kind("v1", "Pod"), by_kind("apps/v1", "ReplicaSet")


def owner_with_pods(objects, ns, n=2):
    rs = objects.create(RS, ns, {"metadata": {"name": "owner"}, "spec": {
        "replicas": 0, "selector": {"matchLabels": {"app": "x"}},
        "template": {"metadata": {"labels": {"app": "x"}},
                     "spec": {"containers": [{"name": "c", "image": "orch/web:1"}]}}}})
    ref = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "owner",
           "uid": rs["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}
    for i in range(n):
        objects.create(POD, ns, {"metadata": {"name": f"p{i}", "ownerReferences": [ref]},
                                 "spec": {"containers": [{"name": "c", "image": "orch/web:1"}]}})
    return rs


def exists(objects, rt, ns, name) -> bool:
    try:
        objects.get(rt, ns, name)
        return True
    except ApiError as e:
        assert e.code == 404
        return False


def test_background_deletes_dependents_after_the_owner(objects, ns):
    owner_with_pods(objects, ns)
    objects.delete(RS, ns, "owner")
    gc = GarbageCollector(objects)
    for i in range(2):
        gc.sync(f"pods|{ns}|p{i}")
    assert not exists(objects, POD, ns, "p0") and not exists(objects, POD, ns, "p1")


def test_foreground_keeps_the_owner_until_its_dependents_are_gone(objects, ns):
    owner_with_pods(objects, ns)
    objects.delete(RS, ns, "owner", propagation_policy="Foreground")
    gc = GarbageCollector(objects)
    gc.sync(f"owner|replicasets|{ns}|owner")  # deletes the (unbound) pods
    assert exists(objects, RS, ns, "owner")
    assert not exists(objects, POD, ns, "p0") and not exists(objects, POD, ns, "p1")
    gc.sync(f"owner|replicasets|{ns}|owner")  # none left: the finalizer goes, and the owner
    assert not exists(objects, RS, ns, "owner")


def test_orphan_releases_the_dependents_and_then_deletes_the_owner(objects, ns):
    owner_with_pods(objects, ns)
    objects.delete(RS, ns, "owner", propagation_policy="Orphan")
    gc = GarbageCollector(objects)
    gc.sync(f"owner|replicasets|{ns}|owner")
    assert not exists(objects, RS, ns, "owner")
    for i in range(2):
        pod = objects.get(POD, ns, f"p{i}")
        assert not pod["metadata"].get("ownerReferences")
        gc.sync(f"pods|{ns}|p{i}")  # an orphan is not collected
        assert exists(objects, POD, ns, f"p{i}")
