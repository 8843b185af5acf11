"""Which persistent volume may serve which claim, on which node (pure): Kubernetes'
checkVolumeSatisfyClaim and findMatchingVolume, shared by the persistent volume controller
(which binds) and the scheduler's VolumeBinding filter (which checks a node can be served)."""

from __future__ import annotations

from decimal import Decimal

from kube.kinds.node import Node
from kube.kinds.persistentvolume import PersistentVolume
from kube.kinds.persistentvolumeclaim import PersistentVolumeClaim
from kube.meta import selector_matches
from kube.quantity import parse_quantity
from kube.scheduling import term_matches


def requested(claim: PersistentVolumeClaim) -> Decimal:
    return parse_quantity((claim.spec.resources.requests or {})["storage"])


def capacity(volume: PersistentVolume) -> Decimal:
    return parse_quantity(volume.spec.capacity["storage"])


def class_of_claim(claim: PersistentVolumeClaim) -> str:
    return claim.spec.storage_class_name or ""


def on_node(volume: PersistentVolume, node: Node | None) -> bool:
    """The volume may be used on `node` (any node when None or when it has no affinity)."""
    affinity = volume.spec.node_affinity
    if node is None or affinity is None or affinity.required is None:
        return True
    return any(term_matches(t, node) for t in affinity.required.node_selector_terms)


def pre_bound_to(volume: PersistentVolume, claim: PersistentVolumeClaim) -> bool:
    ref = volume.spec.claim_ref
    return ref is not None and ref.name == claim.metadata.name and \
        ref.namespace == claim.metadata.namespace and ref.uid in (None, "", claim.metadata.uid)


def mismatch(volume: PersistentVolume, claim: PersistentVolumeClaim) -> str | None:
    """Why `volume` cannot satisfy `claim` (Kubernetes' checkVolumeSatisfyClaim), or None."""
    if (volume.spec.storage_class_name or "") != class_of_claim(claim):
        return "storageClassName does not match"
    if not set(claim.spec.access_modes) <= set(volume.spec.access_modes):
        return "incompatible accessMode"
    if capacity(volume) < requested(claim):
        return "requested PV is too small"
    if volume.spec.volume_mode != claim.spec.volume_mode:
        return "incompatible volumeMode"
    return None


def best_match(claim: PersistentVolumeClaim, volumes: list[PersistentVolume],
               node: Node | None) -> PersistentVolume | None:
    """The volume to bind `claim` to: one pre-bound to it, else the smallest available one
    that satisfies it, on `node` where one is named (by name among equals)."""
    fitting = [v for v in volumes if mismatch(v, claim) is None and on_node(v, node) and
               not v.metadata.deletion_timestamp and v.status.phase != "Failed"]
    for v in fitting:
        if pre_bound_to(v, claim):
            return v
    free = [v for v in fitting if v.spec.claim_ref is None and
            selector_matches(claim.spec.selector, v.metadata.labels)]
    return min(free, key=lambda v: (capacity(v), v.metadata.name or ""), default=None)
