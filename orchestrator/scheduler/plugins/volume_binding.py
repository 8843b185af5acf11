"""Filter: the pod's PersistentVolumeClaims can be served on the node (Kubernetes'
VolumeBinding plugin). Pure; the storage objects come with the snapshot.

Before any node is looked at (PreFilter), a pod whose claim is missing or being deleted, or
still unbound though its class binds Immediately, fits nowhere. Then, per node: a bound
claim's volume must allow the node (its node affinity); an unbound WaitForFirstConsumer
claim needs an available volume that satisfies it on the node, or a class with a provisioner
(which will make one there) — and once the scheduler has named a node for it, that node.

The scheduler's loop then names the chosen node on each such claim
(`volume.kubernetes.io/selected-node`) and binds the pod only once every claim is bound.
"""

from __future__ import annotations

from dataclasses import dataclass

from kube.kinds.persistentvolume import PersistentVolume
from kube.kinds.persistentvolumeclaim import SELECTED_NODE, PersistentVolumeClaim
from kube.kinds.pod import Pod
from kube.kinds.storageclass import NO_PROVISIONER
from kube.storage import best_match, class_of_claim, on_node
from orchestrator.scheduler.snapshot import NodeInfo, Storage

NAME = "VolumeBinding"
UNBOUND_IMMEDIATE = "pod has unbound immediate PersistentVolumeClaims"
CONFLICT = "node(s) had volume node affinity conflict"
NO_VOLUME = "node(s) didn't find available persistent volumes to bind"
NOT_SELECTED = "node(s) didn't match the node selected for a PersistentVolumeClaim"


@dataclass(frozen=True)
class PodVolumes:
    """What the pod's claims ask of a node (PreFilter's result)."""
    error: str | None = None  # the pod fits no node
    bound: tuple[PersistentVolume, ...] = ()  # the volumes of its bound claims
    waiting: tuple[PersistentVolumeClaim, ...] = ()  # unbound WaitForFirstConsumer claims


NO_CLAIMS = PodVolumes()


def prefilter(pod: Pod, storage: Storage) -> PodVolumes:
    namespace = pod.metadata.namespace or ""
    names = [v.persistent_volume_claim.claim_name for v in pod.spec.volumes or ()
             if v.persistent_volume_claim is not None]
    if not names:
        return NO_CLAIMS
    bound, waiting = [], []
    for name in names:
        claim = storage.claims.get((namespace, name))
        if claim is None:
            return PodVolumes(f'persistentvolumeclaim "{name}" not found')
        if claim.metadata.deletion_timestamp:
            return PodVolumes(f'persistentvolumeclaim "{name}" is being deleted')
        volume = storage.volumes.get(claim.spec.volume_name or "")
        if volume is not None and claim.status.phase == "Bound":
            bound.append(volume)
            continue
        storage_class = storage.classes.get(class_of_claim(claim))
        if storage_class is None or storage_class.volume_binding_mode != "WaitForFirstConsumer":
            return PodVolumes(UNBOUND_IMMEDIATE)
        waiting.append(claim)
    return PodVolumes(None, tuple(bound), tuple(waiting))


def fits(volumes: PodVolumes, storage: Storage, info: NodeInfo) -> list[str]:
    reasons = []
    if any(not on_node(v, info.node) for v in volumes.bound):
        reasons.append(CONFLICT)
    available = list(storage.volumes.values())
    for claim in volumes.waiting:
        selected = (claim.metadata.annotations or {}).get(SELECTED_NODE)
        if selected and selected != info.name:
            reasons.append(NOT_SELECTED)
            continue
        storage_class = storage.classes[class_of_claim(claim)]
        provisioned = storage_class.provisioner != NO_PROVISIONER
        if not provisioned and best_match(claim, available, info.node) is None:
            reasons.append(NO_VOLUME)
    return reasons
