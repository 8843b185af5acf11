"""Rollout status and history of Deployments, as `kubectl rollout` words them. Pure."""

from __future__ import annotations


from kube.objects import Object
from kube.revisions import CHANGE_CAUSE, revision_of


class RolloutFailed(Exception):
    """The rollout will not finish by itself (its progress deadline passed)."""


def deployment_status(d: Object) -> tuple[bool, str]:
    """(done, message). Raises RolloutFailed past the progress deadline."""
    name = d["metadata"]["name"]
    meta, spec, status = d["metadata"], d["spec"], d.get("status") or {}
    if meta.get("generation", 0) > status.get("observedGeneration", 0):
        return False, "Waiting for deployment spec update to be observed..."
    progressing = next((c for c in status.get("conditions") or []
                        if c.get("type") == "Progressing"), None)
    if progressing and progressing.get("reason") == "ProgressDeadlineExceeded":
        raise RolloutFailed(f'deployment "{name}" exceeded its progress deadline')
    if spec.get("paused"):
        return False, (f'Waiting for deployment "{name}" rollout to finish: the deployment is '
                       f"paused (orchctl rollout resume deployment/{name})")
    replicas = spec.get("replicas", 1)
    updated = status.get("updatedReplicas", 0)
    total = status.get("replicas", 0)
    available = status.get("availableReplicas", 0)
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


def history(sets: list[Object]) -> list[tuple[int, str]]:
    """(revision, change-cause) of a Deployment's ReplicaSets, oldest first."""
    rows = {revision_of(rs): (rs["metadata"].get("annotations") or {}).get(CHANGE_CAUSE)
            or "<none>" for rs in sets if revision_of(rs) > 0}
    return sorted(rows.items())
