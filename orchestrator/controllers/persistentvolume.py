"""Persistent volume controller: binds claims to volumes and keeps both phases, carries out a
released volume's reclaim policy, and removes the protection finalizers once storage is no
longer in use — Kubernetes' persistentvolume-binder and pvc/pv-protection controllers.

Binding (a claim without `volumeName`):
- its class binds WaitForFirstConsumer and no pod using it is scheduled yet (the scheduler
  writes `volume.kubernetes.io/selected-node`): wait, with a WaitForFirstConsumer event;
- else the smallest Available volume that satisfies it (class, access modes, capacity,
  selector, volume mode, and the selected node, if any, within the volume's node affinity),
  one already pre-bound to the claim first; the volume's claimRef is written first, then the
  claim's volumeName, then both statuses, so an interrupted bind is finished by the next sync;
- else its class's provisioner is asked, by the `volume.kubernetes.io/storage-provisioner`
  annotation (the local-path provisioner, orchestrator/controllers/localpath.py, answers with
  a volume pre-bound to the claim), or, without one, a FailedBinding event says why.

Kubernetes' binder leaves the choice of a static volume for a WaitForFirstConsumer claim to the
scheduler; here the scheduler only names the node (it has checked that a volume or the
provisioner can serve it there) and this controller picks the volume, so one place binds.

A claim whose volume vanished is Lost. A volume whose claim was deleted is Released: Retain
keeps it so; Delete leaves a provisioned volume to its provisioner, and fails any other (there
is no plugin here that could delete a directory it did not make).
"""

from __future__ import annotations

import copy

from kube.events import EventRecorder
from kube.kinds.node import Node
from kube.kinds.persistentvolume import (BOUND_BY_CONTROLLER, PROTECTION_FINALIZER as PV_FINALIZER,
                                         PROVISIONED_BY, PersistentVolume)
from kube.kinds.persistentvolumeclaim import (BETA_STORAGE_PROVISIONER, BIND_COMPLETED,
                                              PROTECTION_FINALIZER as PVC_FINALIZER,
                                              SELECTED_NODE, STORAGE_PROVISIONER,
                                              PersistentVolumeClaim)
from kube.kinds.pod import Pod
from kube.kinds.storageclass import NO_PROVISIONER, StorageClass
from kube.objects import Object
from kube.registry import by_kind
from kube.storage import best_match, class_of_claim, mismatch, pre_bound_to
from kube.typed import typed, typed_all
from orchestrator.api.objects import Objects
from orchestrator.controllers.base import Controller, Keys, object_key
from orchestrator.store import Store
from orchestrator.store.watchcache import WatchEvent

PV, PVC = by_kind("v1", "PersistentVolume"), by_kind("v1", "PersistentVolumeClaim")
# The storage controllers' keys: a claim's "claim:NS/NAME", a volume's "volume:NAME".
CLAIM, VOLUME = "claim:", "volume:"


def storage_keys(store: Store) -> list[str]:
    """Every claim's and volume's key, from the watch caches (a resync)."""
    return [*(CLAIM + object_key(c) for c in store.cached("persistentvolumeclaims")[0]),
            *(VOLUME + v["metadata"]["name"] for v in store.cached("persistentvolumes")[0])]


# --- pure -------------------------------------------------------------------------------------

def claims_used(pods: list[Pod]) -> set[tuple[str, str]]:
    """(namespace, claim) of every claim a pod that may still run uses (pvc-protection)."""
    return {(p.metadata.namespace or "", v.persistent_volume_claim.claim_name)
            for p in pods if p.status.phase not in ("Succeeded", "Failed")
            for v in p.spec.volumes or () if v.persistent_volume_claim is not None}


def volume_phase(volume: PersistentVolume, claim: PersistentVolumeClaim | None) -> str:
    """The phase a volume is in given its claim (None: the claimRef names none that exists)."""
    ref = volume.spec.claim_ref
    if ref is None:
        return "Available"
    if claim is None:
        # a user's pre-binding to a claim still to come waits; a bound claim that went is gone
        return "Available" if not ref.uid else "Released"
    if claim.spec.volume_name == volume.metadata.name:
        return "Bound"
    return volume.status.phase or "Available"


def without_finalizer(obj: Object, finalizer: str) -> Object:
    out = copy.deepcopy(obj)
    out["metadata"]["finalizers"] = [f for f in out["metadata"].get("finalizers") or ()
                                     if f != finalizer]
    return out


# --- the controller ---------------------------------------------------------------------------

class PersistentVolumeController(Controller):
    name = "persistentvolume"

    def __init__(self, objects: Objects) -> None:
        super().__init__(objects)
        self.events = EventRecorder(objects, "persistentvolume-controller")

    def triggers(self) -> dict[str, Keys]:
        def from_volume(event: WatchEvent) -> list[str]:
            ref = (event.object.get("spec") or {}).get("claimRef") or {}
            claim = [f"{CLAIM}{ref['namespace']}/{ref['name']}"] if ref.get("name") else []
            return [VOLUME + event.object["metadata"]["name"], *claim]

        def from_claim(event: WatchEvent) -> list[str]:
            volume = (event.object.get("spec") or {}).get("volumeName")
            return [CLAIM + object_key(event.object), *([VOLUME + volume] if volume else [])]

        def from_pod(event: WatchEvent) -> list[str]:
            # a pod that ends or goes may free a claim being deleted
            namespace = event.object["metadata"]["namespace"]
            return [f"{CLAIM}{namespace}/{v['persistentVolumeClaim']['claimName']}"
                    for v in (event.object.get("spec") or {}).get("volumes") or ()
                    if v.get("persistentVolumeClaim")]

        return {"persistentvolumes": from_volume, "persistentvolumeclaims": from_claim,
                "pods": from_pod}

    def all_keys(self) -> list[str]:
        return storage_keys(self.store)

    def sync(self, key: str) -> None:
        if key.startswith(CLAIM):
            namespace, name = key[len(CLAIM):].split("/", 1)
            self.sync_claim(namespace, name)
        else:
            self.sync_volume(key[len(VOLUME):])

    # --- claims ---

    def sync_claim(self, namespace: str, name: str) -> None:
        stored = self.get_or_none(PVC, namespace, name)
        if stored is None:
            return
        claim = typed(PersistentVolumeClaim, stored)
        if claim.metadata.deletion_timestamp:
            self._release_claim_if_unused(stored, claim)
            return
        if claim.spec.volume_name:
            self._sync_bound_claim(stored, claim)
            return
        class_name = class_of_claim(claim)
        storage_class = self._storage_class(class_name)  # may not exist: static volumes only
        annotations = claim.metadata.annotations or {}
        node_name = annotations.get(SELECTED_NODE)
        if storage_class is not None and \
                storage_class.volume_binding_mode == "WaitForFirstConsumer" and not node_name:
            self.events.normal(claim, "WaitForFirstConsumer",
                               "waiting for first consumer to be created before binding")
            return
        node = self._node(node_name) if node_name else None
        volumes = typed_all(PersistentVolume, self.store.list("persistentvolumes", None)[0])
        volume = best_match(claim, volumes, node)
        if volume is not None:
            self._bind(volume, stored, claim)
            return
        if class_name and storage_class is None:
            self.events.warning(claim, "ProvisioningFailed",
                                f'storageclass.storage.k8s.io "{class_name}" not found')
            return
        provisioner = storage_class.provisioner if storage_class is not None else ""
        if provisioner and provisioner != NO_PROVISIONER:
            if annotations.get(STORAGE_PROVISIONER) != provisioner:
                patched = copy.deepcopy(stored)
                patched["metadata"].setdefault("annotations", {}).update(
                    {STORAGE_PROVISIONER: provisioner, BETA_STORAGE_PROVISIONER: provisioner})
                self.objects.update(PVC, namespace, name, patched)
            self.events.normal(claim, "ExternalProvisioning",
                               f"Waiting for a volume to be created either by the external "
                               f"provisioner '{provisioner}' or manually by the system "
                               "administrator. If volume creation is delayed, please verify "
                               "that the provisioner is running and correctly registered.")
            return
        self.events.normal(claim, "FailedBinding",
                           "no persistent volumes available for this claim and no storage "
                           "class is set" if not class_name else
                           f'no persistent volumes available for this claim and storage class '
                           f'"{class_name}" has no provisioner')

    def _sync_bound_claim(self, stored: Object, claim: PersistentVolumeClaim) -> None:
        volume_name = claim.spec.volume_name or ""
        raw = self.get_or_none(PV, None, volume_name)
        if raw is None:
            if claim.status.phase == "Bound":
                self._claim_status(stored, {"phase": "Lost"})
                self.events.warning(claim, "ClaimLost", "Bound claim has lost its "
                                    "PersistentVolume. Data on the volume is lost!")
            return
        volume = typed(PersistentVolume, raw)
        if volume.spec.claim_ref is None:
            problem = mismatch(volume, claim)
            if problem:
                self.events.warning(claim, "VolumeMismatch", f"Cannot bind to requested "
                                    f"volume {volume_name!r}: {problem}")
                return
            self._bind(volume, stored, claim)
        elif pre_bound_to(volume, claim):
            self._bind(volume, stored, claim)
        else:
            self.events.warning(claim, "FailedBinding",
                                f'volume "{volume_name}" already bound to a different claim.')

    def _bind(self, volume: PersistentVolume, stored: Object,
              claim: PersistentVolumeClaim) -> None:
        """The volume's claimRef, the claim's volumeName, then both statuses (each write only
        where it is missing, so a repeated or interrupted bind converges)."""
        meta = claim.metadata
        ref = {"kind": "PersistentVolumeClaim", "namespace": meta.namespace, "name": meta.name,
               "uid": meta.uid, "apiVersion": "v1", "resourceVersion": meta.resource_version}
        raw_volume = self.objects.get(PV, None, volume.metadata.name or "")
        current = (raw_volume["spec"].get("claimRef") or {})
        if current.get("uid") != meta.uid:
            bound = copy.deepcopy(raw_volume)
            bound["spec"]["claimRef"] = ref
            if not current:
                bound["metadata"].setdefault("annotations", {})[BOUND_BY_CONTROLLER] = "yes"
            raw_volume = self.objects.update(PV, None, volume.metadata.name or "", bound)
        if (raw_volume.get("status") or {}).get("phase") != "Bound":
            self.objects.update(PV, None, volume.metadata.name or "",
                                {**raw_volume, "status": {"phase": "Bound"}},
                                subresource="status")
        if stored["spec"].get("volumeName") != volume.metadata.name or \
                (stored["metadata"].get("annotations") or {}).get(BIND_COMPLETED) != "yes":
            named = copy.deepcopy(stored)
            named["spec"]["volumeName"] = volume.metadata.name
            annotations = named["metadata"].setdefault("annotations", {})
            annotations[BIND_COMPLETED] = "yes"
            if not claim.spec.volume_name:
                annotations[BOUND_BY_CONTROLLER] = "yes"
            stored = self.objects.update(PVC, meta.namespace, meta.name or "", named)
        status = {"phase": "Bound", "accessModes": list(volume.spec.access_modes),
                  "capacity": dict(volume.spec.capacity)}
        if (stored.get("status") or {}) != status:
            self._claim_status(stored, status)

    def _claim_status(self, stored: Object, status: Object) -> None:
        meta = stored["metadata"]
        self.objects.update(PVC, meta["namespace"], meta["name"], {**stored, "status": status},
                            subresource="status")

    def _release_claim_if_unused(self, stored: Object, claim: PersistentVolumeClaim) -> None:
        if PVC_FINALIZER not in (claim.metadata.finalizers or ()):
            return
        pods = typed_all(Pod, self.store.list("pods", claim.metadata.namespace)[0])
        if (claim.metadata.namespace or "", claim.metadata.name or "") in claims_used(pods):
            return  # the pods' ends requeue this claim
        self.objects.update(PVC, claim.metadata.namespace, claim.metadata.name or "",
                            without_finalizer(stored, PVC_FINALIZER))

    def _storage_class(self, name: str) -> StorageClass | None:
        if not name:
            return None
        raw = self.get_or_none(by_kind("storage.k8s.io/v1", "StorageClass"), None, name)
        return typed(StorageClass, raw) if raw is not None else None

    def _node(self, name: str) -> Node | None:
        raw = self.get_or_none(by_kind("v1", "Node"), None, name)
        return typed(Node, raw) if raw is not None else None

    # --- volumes ---

    def sync_volume(self, name: str) -> None:
        stored = self.get_or_none(PV, None, name)
        if stored is None:
            return
        volume = typed(PersistentVolume, stored)
        ref = volume.spec.claim_ref
        claim = None
        if ref is not None and ref.name:
            raw = self.get_or_none(PVC, ref.namespace or "default", ref.name)
            if raw is not None and (not ref.uid or raw["metadata"]["uid"] == ref.uid):
                claim = typed(PersistentVolumeClaim, raw)
        if volume.metadata.deletion_timestamp:
            if PV_FINALIZER in (volume.metadata.finalizers or ()) and \
                    (claim is None or claim.spec.volume_name != name):
                self.objects.update(PV, None, name, without_finalizer(stored, PV_FINALIZER))
            return
        if claim is not None and claim.spec.volume_name and claim.spec.volume_name != name and \
                (volume.metadata.annotations or {}).get(BOUND_BY_CONTROLLER) == "yes":
            # the controller's half-finished bind to a claim that went to another volume
            unbound = copy.deepcopy(stored)
            unbound["spec"].pop("claimRef", None)
            unbound["metadata"]["annotations"].pop(BOUND_BY_CONTROLLER, None)
            stored = self.objects.update(PV, None, name, unbound)
            volume, claim = typed(PersistentVolume, stored), None
        phase = volume_phase(volume, claim)
        if volume.status.phase == "Failed":
            return  # an administrator's to deal with
        if phase != volume.status.phase:
            stored = self.objects.update(PV, None, name, {**stored, "status": {"phase": phase}},
                                         subresource="status")
        if phase == "Released" and volume.spec.persistent_volume_reclaim_policy == "Delete" and \
                not (volume.metadata.annotations or {}).get(PROVISIONED_BY):
            message = (f'error getting deleter volume plugin for volume "{name}": no deletable '
                       "volume plugin matched")
            self.objects.update(PV, None, name, {**stored, "status": {
                "phase": "Failed", "message": message}}, subresource="status")
            self.events.warning(volume, "VolumeFailedDelete", message)
