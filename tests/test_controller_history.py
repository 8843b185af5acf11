"""ControllerRevisions (controllers/history.py) on a real etcd: a name held by another
template's revision is a hash collision that raises the owner's collisionCount, after which
the revision is made under the new hash."""

from __future__ import annotations

import pytest

from kube.kinds.daemonset import DaemonSet
from kube.ownership import controller_uid_of
from kube.registry import by_kind
from kube.typed import typed
from orchestrator.controllers.daemonset import current_hash
from orchestrator.controllers.history import (REVISION, HashCollision, count_collision,
                                              sync_history)

DS = by_kind("apps/v1", "DaemonSet")


def daemonset(objects, ns):
    return typed(DaemonSet, objects.create(DS, ns, {
        "metadata": {"name": "agent"},
        "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": {
            "metadata": {"labels": {"app": "agent"}},
            "spec": {"containers": [{"name": "c", "image": "orch/web:1"}]}}}}))


def test_a_revision_name_held_by_another_template_raises_the_collision_count(objects, ns):
    ds = daemonset(objects, ns)
    name = f"agent-{current_hash(ds)}"
    objects.create(REVISION, ns, {"metadata": {"name": name}, "data": {"other": True},
                                  "revision": 1})  # not the DaemonSet's: a collision
    with pytest.raises(HashCollision, match=name):
        sync_history(objects, ds, ds.spec.template.to_dict(), current_hash(ds), 10, set())
    count_collision(objects, DS, ds)
    ds = typed(DaemonSet, objects.get(DS, ns, "agent"))
    assert ds.status.collision_count == 1 and f"agent-{current_hash(ds)}" != name
    made = sync_history(objects, ds, ds.spec.template.to_dict(), current_hash(ds), 10, set())
    assert made.metadata.name == f"agent-{current_hash(ds)}"
    assert controller_uid_of(made.metadata) == ds.metadata.uid


def test_a_second_sync_finds_its_own_revision_and_makes_no_other(objects, ns):
    ds = daemonset(objects, ns)
    first = sync_history(objects, ds, ds.spec.template.to_dict(), current_hash(ds), 10, set())
    again = sync_history(objects, ds, ds.spec.template.to_dict(), current_hash(ds), 10, set())
    assert again.metadata.uid == first.metadata.uid and again.revision == first.revision
