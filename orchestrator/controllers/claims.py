"""Claiming pods (Kubernetes' ControllerRefManager, for the controllers that adopt): orphans
their selector matches are adopted (their controller reference added), and the pods they own
are returned. The ReplicaSet controller plans its own adoption and release (replicaset.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kube.kinds.pod import Pod
from kube.meta import LabelSelector, selector_matches
from kube.ownership import controller_reference, controller_uid_of
from kube.registry import by_kind
from kube.typed import TypedObject, typed_all
from orchestrator.api.objects import Objects
from orchestrator.api.status import ApiError

POD = by_kind("v1", "Pod")


def claim_pods(objects: Objects, owner: TypedObject, selector: LabelSelector,
               accept: Callable[[Pod], bool] = lambda _: True,
               finalizers: tuple[str, ...] = (), pods: list[Pod] | None = None) -> list[Pod]:
    """The pods of `owner`'s namespace it controls, after adopting the orphans `selector`
    matches (and `accept` admits) that are not being deleted; an adopted pod also gets
    `finalizers` (a Job's tracking finalizer, as Kubernetes' Job controller adds it). `pods`:
    the namespace's pods when the caller has just listed them. A pod changed meanwhile is left
    to the next sync."""
    namespace = owner.metadata.namespace
    if pods is None:
        pods = typed_all(Pod, objects.store.list("pods", namespace)[0])
    orphans = [p for p in pods if controller_uid_of(p.metadata) is None
               and not p.metadata.deletion_timestamp
               and selector_matches(selector, p.metadata.labels) and accept(p)]
    for pod in orphans:
        refs = [r.to_dict() for r in pod.metadata.owner_references or ()]
        patch: dict[str, Any] = {"ownerReferences": [*refs, controller_reference(owner)],
                                 "resourceVersion": pod.metadata.resource_version}
        held = list(pod.metadata.finalizers or ())
        if missing := [f for f in finalizers if f not in held]:
            patch["finalizers"] = [*held, *missing]
        try:
            objects.patch(POD, namespace or "", pod.metadata.name or "", {"metadata": patch})
        except ApiError as e:
            if e.code not in (404, 409):
                raise
    if orphans:
        pods = typed_all(Pod, objects.store.list("pods", namespace)[0])
    return [p for p in pods if controller_uid_of(p.metadata) == owner.metadata.uid]
