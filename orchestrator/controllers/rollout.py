"""Pure decisions of the Deployment controller, after Kubernetes' pkg/controller/deployment.

Vocabulary: a Deployment owns ReplicaSets, one per pod template it has had, told apart by the
`pod-template-hash` label. The *new* ReplicaSet is the one whose template equals the
Deployment's; the others are *old*. A rollout moves replicas from the old sets to the new one
within two bounds (`resolve_fenceposts`): at most `replicas + maxSurge` pods in total and at least
`replicas - maxUnavailable` available. Every function here is pure: given the sets (their spec
replicas and available counts) it says what the next step is, and the controller applies it.

Deployments and ReplicaSets come in typed (kube.typed); what is to be written (a new
ReplicaSet, a status) goes out as JSON. Templates are compared and hashed as JSON, the form
they are stored in, so that a ReplicaSet's name stays the same across versions of this code.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from kube.conditions import find
from kube.kinds.deployment import Deployment
from kube.kinds.replicaset import ReplicaSet
from kube.objects import Object
from kube.revisions import (CHANGE_CAUSE, DESIRED_REPLICAS, HASH_LABEL, MAX_REPLICAS, NOT_COPIED,
                            REVISION, revision_in, same_template, template_without_hash)
from kube.timestamps import format_time, parse_time

__all__ = ["CHANGE_CAUSE", "DESIRED_REPLICAS", "HASH_LABEL", "MAX_REPLICAS", "NOT_COPIED",
           "REVISION", "revision", "same_template", "template_without_hash"]


# --- templates, hashes, revisions ---

def template_hash(template: Object, collision_count: int = 0) -> str:
    """A short, stable hash of the pod template (the label value that names the ReplicaSet);
    `collisionCount` changes it when a different ReplicaSet already holds the name."""
    canonical = json.dumps(template_without_hash(template), sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(f"{canonical}|{collision_count}".encode()).hexdigest()
    return digest[:10]


def revision(obj: Deployment | ReplicaSet) -> int:
    """The revision the typed Deployment or ReplicaSet carries (0: none)."""
    return revision_in(obj.metadata.annotations)


def find_new(deployment: Deployment, sets: list[ReplicaSet]) -> ReplicaSet | None:
    """The ReplicaSet whose template is the Deployment's (the oldest if several are)."""
    template = deployment.spec.template.to_dict()
    matching = [rs for rs in sets if same_template(rs.spec.template.to_dict(), template)]
    return min(matching, key=_created) if matching else None


def _created(rs: ReplicaSet) -> tuple[str, str]:
    return rs.metadata.creation_timestamp or "", rs.metadata.name or ""


def new_replicaset(deployment: Deployment, collision_count: int, revision: int,
                   replicas: int) -> Object:
    """The ReplicaSet (JSON, to create) for the Deployment's current template (its
    ownerReference is added by the caller)."""
    meta = deployment.metadata
    template = deployment.spec.template.to_dict()
    h = template_hash(template, collision_count)
    tmeta = template.setdefault("metadata", {})
    tmeta["labels"] = {**(tmeta.get("labels") or {}), HASH_LABEL: h}
    selector = deployment.spec.selector.to_dict()
    selector["matchLabels"] = {**(selector.get("matchLabels") or {}), HASH_LABEL: h}
    annotations = {k: v for k, v in (meta.annotations or {}).items() if k not in NOT_COPIED}
    annotations[REVISION] = str(revision)
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": f"{meta.name}-{h}", "namespace": meta.namespace,
                         "labels": dict(tmeta["labels"]), "annotations": annotations},
            "spec": {"replicas": replicas, "minReadySeconds": deployment.spec.min_ready_seconds,
                     "selector": selector, "template": template}}


def history_to_delete(deployment: Deployment, old: list[ReplicaSet]) -> list[ReplicaSet]:
    """Old ReplicaSets beyond `revisionHistoryLimit` that are fully scaled down, oldest
    revision first."""
    idle = [rs for rs in old if rs.spec.replicas == 0 and rs.status.replicas == 0
            and not rs.metadata.deletion_timestamp]
    idle.sort(key=lambda rs: (revision(rs), _created(rs)))
    return idle[:max(0, len(idle) - deployment.spec.revision_history_limit)]


# --- numbers ---

def scaled_value(value: int | str, total: int, round_up: bool) -> int:
    if isinstance(value, int):
        return value
    fraction = int(value.rstrip("%")) * total / 100
    return math.ceil(fraction) if round_up else math.floor(fraction)


def resolve_fenceposts(deployment: Deployment) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) as pod counts: surge rounds up, unavailability down, and both
    zero becomes unavailability 1 so that a rollout can always proceed (as Kubernetes)."""
    replicas = deployment.spec.replicas
    strategy = deployment.spec.strategy
    if strategy.type != "RollingUpdate" or strategy.rolling_update is None:
        return 0, 0
    surge = scaled_value(strategy.rolling_update.max_surge, replicas, True)
    unavailable = scaled_value(strategy.rolling_update.max_unavailable, replicas, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, min(unavailable, replicas)


@dataclass(frozen=True)
class Set:
    """What a rollout step needs of a ReplicaSet."""

    name: str
    replicas: int  # spec.replicas
    available: int = 0  # status.availableReplicas
    created: str = ""  # creationTimestamp: older sets are scaled down first

    @classmethod
    def of(cls, rs: ReplicaSet) -> Set:
        return cls(rs.metadata.name or "", rs.spec.replicas, rs.status.available_replicas or 0,
                   rs.metadata.creation_timestamp or "")


Changes = dict[str, int]  # ReplicaSet name → its new spec.replicas


def rolling_step(replicas: int, surge: int, unavailable: int, new: Set,
                 old: list[Set]) -> Changes:
    """The next step of a rolling update: scale the new set up if the surge allows, otherwise
    scale old sets down as far as availability allows (unavailable old pods first, as they cost
    no availability). Empty when the rollout must wait for pods to become available."""
    total = new.replicas + sum(s.replicas for s in old)
    if new.replicas > replicas:
        return {new.name: replicas}
    if new.replicas < replicas and total < replicas + surge:
        return {new.name: new.replicas + min(replicas + surge - total, replicas - new.replicas)}

    min_available = replicas - unavailable
    new_unavailable = max(0, new.replicas - new.available)
    budget = total - min_available - new_unavailable
    if budget <= 0 or not any(s.replicas for s in old):
        return {}
    current = {s.name: s.replicas for s in old}
    oldest_first = sorted(old, key=lambda s: (s.created, s.name))
    for s in oldest_first:  # unhealthy replicas first: removing them costs no availability
        if budget <= 0:
            break
        unhealthy = current[s.name] - min(s.available, current[s.name])
        cut = min(budget, unhealthy)
        if cut > 0:
            current[s.name] -= cut
            budget -= cut
    available = new.available + sum(min(s.available, current[s.name]) for s in old)
    to_cut = available - min_available
    for s in oldest_first:
        if to_cut <= 0:
            break
        cut = min(current[s.name], to_cut)
        current[s.name] -= cut
        to_cut -= cut
    return {name: n for name, n in current.items() if n != next(s.replicas for s in old
                                                                 if s.name == name)}


def recreate_step(replicas: int, new: Set | None, old: list[Set],
                  old_pods_left: int) -> Changes | None:
    """Recreate: every old set to 0; once no old pod is left (not even terminating), the new
    set to `replicas`. None means the new set must be created first (with `replicas`)."""
    scale_down = {s.name: 0 for s in old if s.replicas}
    if scale_down:
        return scale_down
    if old_pods_left:
        return {}
    if new is None:
        return None
    return {new.name: replicas} if new.replicas != replicas else {}


def is_scaling_event(replicas: int, sets: list[ReplicaSet]) -> bool:
    """The Deployment's replicas changed since its active sets were last sized (their
    desired-replicas annotation says for which count they were sized)."""
    for rs in sets:
        if rs.spec.replicas == 0:
            continue
        desired = (rs.metadata.annotations or {}).get(DESIRED_REPLICAS)
        if desired is not None and desired != str(replicas):
            return True
    return False


def with_stale_annotations(replicas: int, surge: int, sets: list[ReplicaSet],
                           changes: Changes) -> Changes:
    """`changes`, plus every active set whose size annotations no longer say `replicas` (and
    the surge's maximum) at its present size: a scaling event rewrites them on all active sets,
    as Kubernetes' scale() does, even when no size changes; else the event would never end."""
    out = dict(changes)
    for rs in sets:
        annotations = rs.metadata.annotations or {}
        if rs.spec.replicas and (annotations.get(DESIRED_REPLICAS) != str(replicas)
                                 or annotations.get(MAX_REPLICAS) != str(replicas + surge)):
            out.setdefault(rs.metadata.name or "", rs.spec.replicas)
    return out


def proportional_scale(replicas: int, surge: int, new: Set | None, old: list[Set]) -> Changes:
    """Resize for a changed replica count. With one active set (or none), it takes all of
    `replicas`; in the middle of a rollout the difference is spread over the active sets in
    proportion to their size (the largest takes the rounding leftover), as Kubernetes does, so a
    scale during a rollout neither restarts it nor breaks its bounds."""
    sets = ([new] if new else []) + old
    active = [s for s in sets if s.replicas > 0]
    if len(active) <= 1:
        target = active[0] if active else (new or (max(old, key=lambda s: (s.created, s.name))
                                                   if old else None))
        if target is None or target.replicas == replicas:
            return {}
        return {target.name: replicas}
    total = sum(s.replicas for s in active)
    allowed = replicas + surge
    delta = allowed - total
    if delta == 0:
        return {}
    changes: Changes = {}
    handed = 0
    order = sorted(active, key=lambda s: (-s.replicas, s.created), reverse=False)
    for s in order:
        share = int(delta * s.replicas / total)  # truncates toward zero either way
        share = max(share, -s.replicas)
        changes[s.name] = s.replicas + share
        handed += share
    leftover = delta - handed
    first = order[0]
    changes[first.name] = max(0, changes[first.name] + leftover)
    return {name: n for name, n in changes.items()
            if n != next(s.replicas for s in active if s.name == name)}


# --- status ---

def _set_condition(conditions: list[Object], new: Object, now: str,
                   bump_update: bool) -> list[Object]:
    old = next((c for c in conditions if c["type"] == new["type"]), None)
    out = [c for c in conditions if c["type"] != new["type"]]
    if old and old["status"] == new["status"] and old.get("reason") == new.get("reason"):
        new["lastTransitionTime"] = old.get("lastTransitionTime", now)
        new["lastUpdateTime"] = now if bump_update else old.get("lastUpdateTime", now)
    elif old and old["status"] == new["status"]:
        new["lastTransitionTime"] = old.get("lastTransitionTime", now)
        new["lastUpdateTime"] = now
    else:
        new["lastTransitionTime"] = new["lastUpdateTime"] = now
    return sorted([*out, new], key=lambda c: c["type"])


def calculate_status(deployment: Deployment, new: ReplicaSet | None, sets: list[ReplicaSet],
                     now: datetime, new_created: bool = False) -> Object:
    """The Deployment's status (JSON, as written) from its ReplicaSets: counts, and the Available
    and Progressing conditions (Progressing turns False with ProgressDeadlineExceeded when a
    rollout has made no progress for `progressDeadlineSeconds`)."""
    spec, old_status = deployment.spec, deployment.status.to_dict()
    replicas = spec.replicas
    status: Object = {
        "observedGeneration": deployment.metadata.generation or 1,
        "replicas": sum(rs.status.replicas for rs in sets),
        "updatedReplicas": new.status.replicas if new else 0,
        "readyReplicas": sum(rs.status.ready_replicas or 0 for rs in sets),
        "availableReplicas": sum(rs.status.available_replicas or 0 for rs in sets),
    }
    total_spec = sum(rs.spec.replicas for rs in sets)
    status["unavailableReplicas"] = max(0, total_spec - status["availableReplicas"])
    if old_status.get("collisionCount"):
        status["collisionCount"] = old_status["collisionCount"]

    stamp = format_time(now)
    conditions = list(old_status.get("conditions") or [])
    _, max_unavailable = resolve_fenceposts(deployment)
    if status["availableReplicas"] >= replicas - max_unavailable:
        available = {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
                     "message": "Deployment has minimum availability."}
    else:
        available = {"type": "Available", "status": "False",
                     "reason": "MinimumReplicasUnavailable",
                     "message": "Deployment does not have minimum availability."}
    conditions = _set_condition(conditions, available, stamp, False)

    name = (new.metadata.name or "") if new else ""
    complete = (new is not None and status["updatedReplicas"] == replicas
                and status["replicas"] == replicas and status["availableReplicas"] == replicas)
    previous = find(old_status.get("conditions"), "Progressing")
    if spec.paused:
        progressing = {"type": "Progressing", "status": "Unknown", "reason": "DeploymentPaused",
                       "message": "Deployment is paused"}
        bump = False
    elif complete:
        progressing = {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
                       "message": f'ReplicaSet "{name}" has successfully progressed.'}
        bump = previous is None or previous.get("reason") != "NewReplicaSetAvailable"
    elif new_created:
        progressing = {"type": "Progressing", "status": "True", "reason": "NewReplicaSetCreated",
                       "message": f'Created new replica set "{name}"'}
        bump = True
    elif previous and previous.get("reason") == "DeploymentPaused":
        progressing = {"type": "Progressing", "status": "Unknown", "reason": "DeploymentResumed",
                       "message": "Deployment is resumed"}
        bump = True
    elif _progressed(old_status, status) or previous is None or \
            previous.get("reason") == "NewReplicaSetAvailable":
        progressing = {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated",
                       "message": f'ReplicaSet "{name}" is progressing.'}
        bump = True
    else:
        progressing = dict(previous)
        bump = False
        last = parse_time(previous.get("lastUpdateTime"))
        if last and now - last > timedelta(seconds=spec.progress_deadline_seconds):
            progressing = {"type": "Progressing", "status": "False",
                           "reason": "ProgressDeadlineExceeded",
                           "message": f'ReplicaSet "{name}" has timed out progressing.'}
    conditions = _set_condition(conditions, progressing, stamp, bump)
    status["conditions"] = conditions
    return status


def _progressed(old: Object, new: Object) -> bool:
    def stale(s: Object) -> int:
        return int(s.get("replicas", 0)) - int(s.get("updatedReplicas", 0))
    return (new.get("updatedReplicas", 0) > old.get("updatedReplicas", 0)
            or stale(new) < stale(old)
            or new.get("readyReplicas", 0) > old.get("readyReplicas", 0)
            or new.get("availableReplicas", 0) > old.get("availableReplicas", 0))


def rollout_complete(deployment: Deployment, status: Object) -> bool:
    """Whether `status` (JSON: the Deployment's, or the one about to be written) says the
    rollout of the Deployment's current generation is complete."""
    replicas = deployment.spec.replicas
    return bool(status.get("observedGeneration", 0) >= (deployment.metadata.generation or 1)
                and status.get("updatedReplicas") == replicas
                and status.get("replicas") == replicas
                and status.get("availableReplicas") == replicas)
