"""Rollout status and history of Deployments, as `kubectl rollout` words them. Pure, over typed
objects (kube.typed)."""

from __future__ import annotations

from kube.conditions import typed_find
from kube.kinds.deployment import Deployment
from kube.kinds.replicaset import ReplicaSet
from kube.revisions import CHANGE_CAUSE, revision_in


class RolloutFailed(Exception):
    """The rollout will not finish by itself (its progress deadline passed)."""


def deployment_status(d: Deployment) -> tuple[bool, str]:
    """(done, message). Raises RolloutFailed past the progress deadline."""
    name, spec, status = d.metadata.name, d.spec, d.status
    if (d.metadata.generation or 0) > (status.observed_generation or 0):
        return False, "Waiting for deployment spec update to be observed..."
    progressing = typed_find(status.conditions, "Progressing")
    if progressing is not None and progressing.reason == "ProgressDeadlineExceeded":
        raise RolloutFailed(f'deployment "{name}" exceeded its progress deadline')
    if spec.paused:
        return False, (f'Waiting for deployment "{name}" rollout to finish: the deployment is '
                       f"paused (orchctl rollout resume deployment/{name})")
    replicas = spec.replicas
    updated = status.updated_replicas or 0
    total = status.replicas or 0
    available = status.available_replicas or 0
    if updated < replicas:
        return False, (f'Waiting for deployment "{name}" rollout to finish: {updated} out of '
                       f"{replicas} new replicas have been updated...")
    if total > updated:
        return False, (f'Waiting for deployment "{name}" rollout to finish: {total - updated} old '
                       f"replicas are pending termination...")
    if available < updated:
        return False, (f'Waiting for deployment "{name}" rollout to finish: {available} of '
                       f"{updated} updated replicas are available...")
    return True, f'deployment "{name}" successfully rolled out'


def history(sets: list[ReplicaSet]) -> list[tuple[int, str]]:
    """(revision, change-cause) of a Deployment's ReplicaSets, oldest first."""
    rows = {revision_in(rs.metadata.annotations):
            (rs.metadata.annotations or {}).get(CHANGE_CAUSE) or "<none>"
            for rs in sets if revision_in(rs.metadata.annotations) > 0}
    return sorted(rows.items())
