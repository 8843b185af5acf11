"""Rollout step tables: given the ReplicaSets (spec replicas, available) and the bounds, what the
Deployment controller's next step is."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from kube.kinds.deployment import Deployment, DeploymentStatus
from kube.kinds.replicaset import ReplicaSet
from kube.revisions import rollback_template
from orchestrator.controllers import rollout
from orchestrator.controllers.rollout import Set


def deployment(replicas=3, surge="25%", unavailable="25%", strategy="RollingUpdate", **spec):
    return Deployment.model_validate(deployment_json(replicas, surge, unavailable, strategy,
                                                     **spec))


def deployment_json(replicas=3, surge="25%", unavailable="25%", strategy="RollingUpdate", **spec):
    body = {"metadata": {"name": "web", "namespace": "default", "generation": 1},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "c", "image": "orch/web:1"}]}},
                     "strategy": {"type": strategy}, **spec}}
    if strategy == "RollingUpdate":
        body["spec"]["strategy"]["rollingUpdate"] = {"maxSurge": surge,
                                                     "maxUnavailable": unavailable}
    return body


@pytest.mark.parametrize("replicas,surge,unavailable,expected", [
    (4, "25%", "25%", (1, 1)),
    (3, "25%", "25%", (1, 0)),  # surge rounds up, unavailability down
    (10, "30%", "30%", (3, 3)),
    (3, 1, 0, (1, 0)),
    (1, "0%", "25%", (0, 1)),  # both zero after rounding: one may be unavailable
    (5, 2, 10, (2, 5)),  # never more unavailable than replicas
])
def test_fenceposts(replicas, surge, unavailable, expected) -> None:
    assert rollout.resolve_fenceposts(deployment(replicas, surge, unavailable)) == expected


def test_recreate_has_no_surge_nor_unavailability_budget() -> None:
    assert rollout.resolve_fenceposts(deployment(strategy="Recreate")) == (0, 0)


NEW, OLD, OLDER = "new", "old", "older"


@pytest.mark.parametrize("why,replicas,surge,unavailable,new,old,expected", [
    ("first step surges the new set", 3, 1, 0, Set(NEW, 0), [Set(OLD, 3, 3)], {NEW: 1}),
    ("surge used up and no spare availability: wait", 3, 1, 0, Set(NEW, 1, 0),
     [Set(OLD, 3, 3)], {}),
    ("new pod available: one old goes", 3, 1, 0, Set(NEW, 1, 1), [Set(OLD, 3, 3)], {OLD: 2}),
    ("then the new set grows again", 3, 1, 0, Set(NEW, 1, 1), [Set(OLD, 2, 2)], {NEW: 2}),
    ("unavailable budget lets old go first", 4, 0, 1, Set(NEW, 0), [Set(OLD, 4, 4)], {OLD: 3}),
    ("after that the new set takes the room", 4, 0, 1, Set(NEW, 0), [Set(OLD, 3, 3)], {NEW: 1}),
    ("unhealthy old pods go first without availability", 3, 0, 1, Set(NEW, 0),
     [Set(OLD, 3, 1)], {OLD: 2}),
    ("no budget at all: wait", 3, 0, 0, Set(NEW, 0), [Set(OLD, 3, 1)], {}),
    ("oldest set scaled down first", 4, 0, 1, Set(NEW, 2, 2),
     [Set(OLD, 1, 1, "2026-02"), Set(OLDER, 1, 1, "2026-01")], {OLDER: 0}),
    ("both old sets may go when budget allows", 4, 0, 2, Set(NEW, 2, 2),
     [Set(OLD, 2, 2, "2026-02"), Set(OLDER, 2, 2, "2026-01")], {OLDER: 0, OLD: 0}),
    ("new set too big after a scale-down", 2, 1, 0, Set(NEW, 3, 3), [], {NEW: 2}),
    ("complete: nothing to do", 3, 1, 0, Set(NEW, 3, 3), [Set(OLD, 0, 0)], {}),
    ("new pods unavailable block old scale-down", 3, 1, 1, Set(NEW, 2, 0), [Set(OLD, 2, 2)],
     {}),
])
def test_rolling_step(why, replicas, surge, unavailable, new, old, expected) -> None:
    assert rollout.rolling_step(replicas, surge, unavailable, new, old) == expected, why


def test_a_rolling_update_run_to_completion_never_breaks_its_bounds() -> None:
    """Simulate: every step applied, pods become available at once after each step; the total
    never exceeds replicas+surge and availability never drops under replicas-unavailable."""
    for replicas, surge, unavailable in [(3, 1, 0), (6, 2, 1), (10, 0, 3), (5, 3, 3), (1, 1, 0)]:
        sets = {NEW: 0, OLD: replicas}
        available = dict(sets)
        for _ in range(100):
            step = rollout.rolling_step(replicas, surge, unavailable,
                                        Set(NEW, sets[NEW], available[NEW]),
                                        [Set(OLD, sets[OLD], available[OLD])])
            if not step:
                step_was_wait = True
                available = dict(sets)  # pods become ready
                if sets == {NEW: replicas, OLD: 0}:
                    break
                continue
            step_was_wait = False
            for name, n in step.items():
                sets[name] = n
                available[name] = min(available[name], n)
            assert sum(sets.values()) <= replicas + surge
            assert sum(available.values()) >= replicas - unavailable
        assert sets == {NEW: replicas, OLD: 0} and step_was_wait


@pytest.mark.parametrize("why,new,old,left,expected", [
    ("old sets first go to zero", None, [Set(OLD, 3, 3), Set(OLDER, 0)], 3, {OLD: 0}),
    ("wait while old pods terminate", None, [Set(OLD, 0)], 2, {}),
    ("then the new set is created", None, [Set(OLD, 0)], 0, None),
    ("and scaled to replicas", Set(NEW, 0), [Set(OLD, 0)], 0, {NEW: 3}),
    ("done", Set(NEW, 3), [Set(OLD, 0)], 0, {}),
])
def test_recreate_step(why, new, old, left, expected) -> None:
    assert rollout.recreate_step(3, new, old, left) == expected, why


@pytest.mark.parametrize("why,replicas,surge,new,old,expected", [
    ("one active set takes everything", 5, 1, Set(NEW, 3), [Set(OLD, 0)], {NEW: 5}),
    ("scale down a settled deployment", 1, 1, Set(NEW, 3), [], {NEW: 1}),
    ("paused before any new set: latest old one", 4, 1, None,
     [Set(OLD, 2, created="2"), Set(OLDER, 0, created="1")], {OLD: 4}),
    ("mid-rollout scale up is proportional", 10, 2, Set(NEW, 3, created="2"),
     [Set(OLD, 3, created="1")], {NEW: 6, OLD: 6}),
    ("mid-rollout scale down is proportional", 2, 1, Set(NEW, 4, created="2"),
     [Set(OLD, 2, created="1")], {NEW: 2, OLD: 1}),
    ("nothing to do", 3, 0, Set(NEW, 3), [], {}),
])
def test_proportional_scale(why, replicas, surge, new, old, expected) -> None:
    changes = rollout.proportional_scale(replicas, surge, new, old)
    assert changes == expected, why
    sizes = {s.name: s.replicas for s in ([new] if new else []) + old}
    sizes.update(changes)
    if sum(1 for n in sizes.values() if n) > 1:
        assert sum(sizes.values()) == replicas + surge


def test_scaling_event_reads_the_desired_replicas_annotation() -> None:
    def rs(replicas, desired):
        return ReplicaSet.model_validate(
            _rs_json(1, replicas, annotations={rollout.DESIRED_REPLICAS: str(desired)}))
    assert rollout.is_scaling_event(5, [rs(3, 3)])
    assert not rollout.is_scaling_event(3, [rs(3, 3), rs(0, 1)])  # idle sets do not count


def test_a_scaling_event_that_moves_no_replica_still_refreshes_the_annotations() -> None:
    """Scaled from 1 to 2 mid-rollout with a surge of 1: old 2 + new 1 already make the
    allowed 3, so nothing is resized; the sets' annotations must still move to 2, or every
    later sync is the same scaling event and the rollout never goes on."""
    def rs(revision, replicas, desired):
        return ReplicaSet.model_validate(_rs_json(revision, replicas, annotations={
            rollout.DESIRED_REPLICAS: str(desired), rollout.MAX_REPLICAS: str(desired + 1)}))
    sets = [rs(1, 2, 1), rs(2, 1, 1)]
    changes = rollout.proportional_scale(2, 1, Set("rs-2", 1, 1), [Set("rs-1", 2, 2)])
    assert changes == {}
    names = [s.metadata.name for s in sets]
    assert rollout.with_stale_annotations(2, 1, sets, changes) == {names[0]: 2, names[1]: 1}
    fresh = [rs(1, 2, 2), rs(2, 1, 2), rs(3, 0, 1)]  # an idle set's annotations do not matter
    assert rollout.with_stale_annotations(2, 1, fresh, {}) == {}


def test_the_template_hash_ignores_its_own_label_and_changes_with_collisions() -> None:
    t = deployment_json()["spec"]["template"]
    labelled = {**t, "metadata": {"labels": {"app": "web", rollout.HASH_LABEL: "x"}}}
    assert rollout.template_hash(t) == rollout.template_hash(labelled)
    assert rollout.template_hash(t) != rollout.template_hash(t, 1)
    changed = {**t, "spec": {"containers": [{"name": "c", "image": "orch/web:2"}]}}
    assert rollout.template_hash(t) != rollout.template_hash(changed)


def test_the_new_replicaset_selects_only_its_own_template() -> None:
    rs = rollout.new_replicaset(deployment(), 0, 4, 2)
    h = rollout.template_hash(deployment().spec.template.to_dict())  # as stored: defaulted
    assert rs["metadata"]["name"] == f"web-{h}"
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "web", rollout.HASH_LABEL: h}
    assert rs["spec"]["template"]["metadata"]["labels"][rollout.HASH_LABEL] == h
    assert rs["metadata"]["annotations"][rollout.REVISION] == "4"
    assert rs["spec"]["replicas"] == 2


def _rs_json(revision, replicas=0, current=0, image="orch/web:1", annotations=None, name=None,
             ready=0):
    return {"metadata": {"name": name or f"web-{revision}",
                         "creationTimestamp": f"2026-0{revision}",
                         "annotations": annotations or {rollout.REVISION: str(revision)}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web", rollout.HASH_LABEL: "h"}},
                                  "spec": {"containers": [{"name": "c", "image": image}]}}},
            "status": {"replicas": current, "readyReplicas": ready, "availableReplicas": ready}}


def _rs(revision, replicas=0, current=0, image="orch/web:1"):
    return ReplicaSet.model_validate(_rs_json(revision, replicas, current, image))


def test_history_keeps_revision_history_limit_idle_sets() -> None:
    d = deployment(revisionHistoryLimit=2)
    old = [_rs(1), _rs(2), _rs(3), _rs(4, replicas=1, current=1), _rs(5, current=1)]
    assert [rs.metadata.name for rs in rollout.history_to_delete(d, old)] == ["web-1"]
    d0 = deployment(revisionHistoryLimit=0)
    assert len(rollout.history_to_delete(d0, old)) == 3


def test_rollback_finds_the_previous_or_the_named_revision() -> None:
    sets = [_rs_json(1, image="v1"), _rs_json(2, image="v2"), _rs_json(3, replicas=3, image="v3")]
    previous = rollback_template(sets)
    assert previous["spec"]["containers"][0]["image"] == "v2"
    assert rollout.HASH_LABEL not in previous["metadata"]["labels"]
    assert rollback_template(sets, 1)["spec"]["containers"][0]["image"] == "v1"
    with pytest.raises(LookupError, match="revision 9"):
        rollback_template(sets, 9)
    with pytest.raises(LookupError, match="no rollout history"):
        rollback_template([_rs_json(1)])


NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)


def _set_with(replicas, ready, name="web-h"):
    return ReplicaSet.model_validate(_rs_json(1, replicas, replicas, name=name, ready=ready))


def condition(status, kind):
    return next(c for c in status["conditions"] if c["type"] == kind)


def test_status_of_a_complete_rollout() -> None:
    new = _set_with(3, 3)
    status = rollout.calculate_status(deployment(), new, [new], NOW)
    assert (status["replicas"], status["updatedReplicas"], status["availableReplicas"],
            status["unavailableReplicas"]) == (3, 3, 3, 0)
    assert condition(status, "Available")["status"] == "True"
    assert condition(status, "Progressing")["reason"] == "NewReplicaSetAvailable"


def test_progress_deadline_exceeded_when_nothing_moves() -> None:
    d = deployment(progressDeadlineSeconds=60)
    new, old = _set_with(1, 0), _set_with(3, 3, "web-old")
    first = rollout.calculate_status(d, new, [new, old], NOW, new_created=True)
    assert condition(first, "Progressing")["reason"] == "NewReplicaSetCreated"
    d = d.model_copy(update={"status": DeploymentStatus.model_validate(first)})
    same = rollout.calculate_status(d, new, [new, old], NOW + timedelta(seconds=30))
    assert same == first  # no progress, no deadline yet: nothing to write
    late = rollout.calculate_status(d, new, [new, old], NOW + timedelta(seconds=61))
    progressing = condition(late, "Progressing")
    assert (progressing["status"], progressing["reason"]) == ("False", "ProgressDeadlineExceeded")


def test_paused_deployments_say_so() -> None:
    new = _set_with(3, 3)
    status = rollout.calculate_status(deployment(paused=True), new, [new], NOW)
    assert condition(status, "Progressing")["reason"] == "DeploymentPaused"


def test_unavailable_deployment() -> None:
    new = _set_with(4, 2)
    status = rollout.calculate_status(deployment(4), new, [new], NOW)
    assert condition(status, "Available")["status"] == "False"
    assert status["unavailableReplicas"] == 2
