"""Deployment revisions, as the controller writes them and kubectl (orchctl) reads them: the
`pod-template-hash` label, the revision annotations, and the template a rollback restores.
Pure; shared by orchestrator.controllers.rollout and orchestrator.cli."""

from __future__ import annotations

import copy
from collections.abc import Mapping

from kube.objects import Object


HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
CHANGE_CAUSE = "kubernetes.io/change-cause"
# Deployment annotations that are the controller's own and are not copied onto ReplicaSets.
NOT_COPIED = {REVISION, DESIRED_REPLICAS, MAX_REPLICAS,
              "kubectl.kubernetes.io/last-applied-configuration"}


def template_without_hash(template: Object) -> Object:
    template = copy.deepcopy(template)
    labels = (template.get("metadata") or {}).get("labels")
    if labels:
        labels.pop(HASH_LABEL, None)
    return template


def same_template(a: Object, b: Object) -> bool:
    return template_without_hash(a) == template_without_hash(b)


def revision_of(obj: Object) -> int:
    """The revision a Deployment or ReplicaSet (JSON) carries; 0 for none."""
    return revision_in((obj["metadata"].get("annotations") or {}))


def revision_in(annotations: Mapping[str, str] | None) -> int:
    """The revision in an object's annotations (a typed object's `metadata.annotations`)."""
    try:
        return int((annotations or {}).get(REVISION, "0"))
    except ValueError:
        return 0


def rollback_template(sets: list[Object], to_revision: int = 0,
                      current_revision: int | None = None) -> Object:
    """The pod template to put back into a Deployment for `rollout undo`: that of revision
    `to_revision`, or of the latest revision before the current one when 0. Raises LookupError
    with a message fit for a user when there is no such revision."""
    by_revision = {revision_of(rs): rs for rs in sets}
    if to_revision:
        if to_revision not in by_revision:
            raise LookupError(f"unable to find the specified revision {to_revision}")
        return template_without_hash(by_revision[to_revision]["spec"]["template"])
    current = current_revision if current_revision is not None else max(by_revision, default=0)
    earlier = [r for r in by_revision if 0 < r < current]
    if not earlier:
        raise LookupError("no rollout history found: there is no previous revision")
    return template_without_hash(by_revision[max(earlier)]["spec"]["template"])
