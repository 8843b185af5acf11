"""Field ownership and server-side apply (kube/fieldmanager.py), on the Deployment kind's own
merge metadata."""

from __future__ import annotations

import copy
import json

import pytest

from kube import fieldmanager as fm
from kube.registry import by_kind

MERGE = by_kind("apps/v1", "Deployment").merge
NOW = "2026-12-01T15:00:00Z"


def deployment(replicas: int | None = 2, labels: dict | None = None, env: list | None = None):
    container = {"name": "web", "image": "orch/web:1", "ports": [{"containerPort": 80}]}
    if env is not None:
        container["env"] = env
    spec = {"selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"containers": [container]}}}
    if replicas is not None:
        spec["replicas"] = replicas
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": labels or {"app": "web"}}, "spec": spec}


def owners(obj) -> dict[str, str]:
    """path text → the managers owning it, for assertions."""
    out: dict[str, list[str]] = {}
    for e in fm.decode(obj["metadata"]["managedFields"]):
        for p in e.fields:
            out.setdefault(fm.path_text(p), []).append(f"{e.manager}/{e.operation}")
    return {k: ",".join(sorted(v)) for k, v in out.items()}


def test_a_field_set_keys_list_items_and_leaves_out_identity_and_status():
    obj = {**deployment(), "status": {"replicas": 2}}
    obj["metadata"].update(uid="u", resourceVersion="5", creationTimestamp=NOW)
    paths = {fm.path_text(p) for p in fm.field_set(obj, MERGE)}
    containers = '.spec.template.spec.containers[name="web"]'
    assert {".spec.replicas", ".metadata.labels.app", containers, containers + ".image",
            containers + '.ports[containerPort=80,protocol="TCP"]',  # the key's default
            containers + '.ports[containerPort=80,protocol="TCP"].containerPort'} <= paths
    assert not {p for p in paths if p.startswith((".status", ".metadata.uid", ".metadata.name"))}
    assert {fm.path_text(p) for p in fm.field_set(obj, MERGE, "status")} == {".status.replicas"}


def test_fields_v1_round_trips_and_marks_items_with_a_dot():
    paths = fm.field_set(deployment(), MERGE)
    tree = fm.to_fields_v1(paths)
    item = tree["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"web"}']
    assert item["."] == {} and item["f:image"] == {}
    assert fm.from_fields_v1(json.loads(json.dumps(tree))) == paths


def test_apply_creates_then_conflicts_with_another_managers_change_until_forced():
    created = fm.apply(None, deployment(replicas=2), "kubectl", "apps/v1", MERGE, NOW)
    assert owners(created)[".spec.replicas"] == "kubectl/Apply"
    # `kubectl scale` (an Update by another manager) takes spec.replicas
    scaled = copy.deepcopy(created)
    scaled["spec"]["replicas"] = 5
    scaled["metadata"]["managedFields"] = fm.track_update(created, scaled, "kubectl-scale",
                                                          "apps/v1", MERGE, NOW)
    assert owners(scaled)[".spec.replicas"] == "kubectl-scale/Update"
    # applying the same value again is no conflict: the field is shared
    same = fm.apply(scaled, deployment(replicas=5), "kubectl", "apps/v1", MERGE, NOW)
    assert owners(same)[".spec.replicas"] == "kubectl-scale/Update,kubectl/Apply"
    with pytest.raises(fm.Conflicts) as e:
        fm.apply(scaled, deployment(replicas=3), "kubectl", "apps/v1", MERGE, NOW)
    assert str(e.value) == ('Apply failed with 1 conflict: conflict with "kubectl-scale" using '
                            "apps/v1: .spec.replicas")
    forced = fm.apply(scaled, deployment(replicas=3), "kubectl", "apps/v1", MERGE, NOW,
                      force=True)
    assert forced["spec"]["replicas"] == 3 and owners(forced)[".spec.replicas"] == "kubectl/Apply"


def test_a_field_the_applier_drops_goes_unless_another_manager_owns_it():
    first = fm.apply(None, deployment(labels={"app": "web", "tier": "front", "team": "a"},
                                      env=[{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]),
                     "kubectl", "apps/v1", MERGE, NOW)
    # another manager (an Update) sets the label team=b: it owns metadata.labels.team now
    relabelled = copy.deepcopy(first)
    relabelled["metadata"]["labels"]["team"] = "b"
    relabelled["metadata"]["managedFields"] = fm.track_update(first, relabelled, "labeller",
                                                              "apps/v1", MERGE, NOW)
    second = fm.apply(relabelled, deployment(labels={"app": "web"}, env=[{"name": "A",
                                                                          "value": "1"}]),
                      "kubectl", "apps/v1", MERGE, NOW)
    assert second["metadata"]["labels"] == {"app": "web", "team": "b"}  # tier went, team stays
    [container] = second["spec"]["template"]["spec"]["containers"]
    assert container["env"] == [{"name": "A", "value": "1"}]  # env B went, by its key
    assert container["ports"] == [{"containerPort": 80}]


def test_several_conflicts_are_listed_by_manager():
    conflicts = [fm.Conflict('"b"', ("f:spec", "f:replicas")),
                 fm.Conflict('"a" using apps/v1', ("f:metadata", "f:labels", "f:x"))]
    assert fm.conflict_message(conflicts) == (
        'Apply failed with 2 conflicts: conflicts with "a" using apps/v1:\n- .metadata.labels.x\n'
        'conflicts with "b":\n- .spec.replicas')


def test_an_update_owns_what_it_changed_and_a_client_may_reset_managed_fields():
    created = copy.deepcopy(deployment())
    created["metadata"]["managedFields"] = fm.track_update(None, created, "kubectl-create",
                                                           "apps/v1", MERGE, NOW)
    assert set(owners(created).values()) == {"kubectl-create/Update"}
    removed = copy.deepcopy(created)
    del removed["spec"]["replicas"]
    managed = fm.track_update(created, removed, "editor", "apps/v1", MERGE, NOW)
    assert all(e["manager"] == "kubectl-create" for e in managed)  # removing owns nothing
    assert ".spec.replicas" not in owners({"metadata": {"managedFields": managed}})
    reset = copy.deepcopy(created)
    reset["metadata"]["managedFields"] = []
    assert fm.track_update(created, reset, "editor", "apps/v1", MERGE, NOW) == []


def test_the_last_applied_annotation_names_the_fields_kubectl_may_take_over():
    live = deployment(replicas=2)
    live["metadata"]["annotations"] = {fm.LAST_APPLIED: json.dumps(deployment(replicas=2))}
    allowed = {fm.path_text(p) for p in fm.allowed_by_last_applied(live, MERGE)}
    assert ".spec.replicas" in allowed
    live["spec"]["replicas"] = 4  # changed since: no longer what the annotation says
    allowed = {fm.path_text(p) for p in fm.allowed_by_last_applied(live, MERGE)}
    assert ".spec.replicas" not in allowed and ".metadata.labels.app" in allowed
