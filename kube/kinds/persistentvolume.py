"""PersistentVolume (core/v1, cluster-scoped): a piece of storage — a directory on a node
(`local`, or `hostPath`) — that one claim at a time may bind (`claimRef`). Made by an
administrator (a static volume) or by a provisioner for a claim (the local-path one:
orchestrator/controllers/localpath.py). The persistent volume controller
(orchestrator/controllers/persistentvolume.py) binds claims to volumes and keeps the phase:

    Available  no claim holds it      Bound     a claim does
    Released   its claim was deleted  Failed    its reclaim policy could not be carried out

When its claim goes, `persistentVolumeReclaimPolicy` says what happens: Retain keeps the volume
(and its data) Released until an administrator deals with it; Delete removes the volume and,
for a provisioned one, its data. `nodeAffinity` restricts the pods that use it to the nodes it
names; the scheduler honours it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import Field, model_validator

from kube import names
from kube.kinds.base import AGE, ATOMIC, Column, Kind
from kube.kinds.pod import HostPathVolumeSource, NodeSelector
from kube.meta import Model, ObjectMeta, ObjectReference, Timestamp, refused
from kube.objects import Object
from kube.quantity import QuantityError, parse_quantity

AccessMode = Literal["ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod"]
SHORT_ACCESS_MODES = {"ReadWriteOnce": "RWO", "ReadOnlyMany": "ROX", "ReadWriteMany": "RWX",
                      "ReadWriteOncePod": "RWOP"}
# A volume the persistent volume controller bound (not one a user pre-bound by claimRef).
BOUND_BY_CONTROLLER = "pv.kubernetes.io/bound-by-controller"
PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
PROTECTION_FINALIZER = "kubernetes.io/pv-protection"
# Block devices are not implemented: every volume is a mounted directory.
VolumeMode = Annotated[Literal["Filesystem", "Block"], refused('volumeMode "Block"',
                                                              ("Block",))]


def storage_quantity(resources: dict[str, Any] | None, what: str) -> dict[str, Any] | None:
    """A `{storage: quantity}` map (a volume's capacity, a claim's requests): only storage,
    a valid, positive quantity."""
    for resource, value in (resources or {}).items():
        if resource != "storage":
            raise ValueError(f"{what}.{resource}: Unsupported value: supported values: "
                             '"storage"')
        try:
            quantity = parse_quantity(value)
        except QuantityError as e:
            raise ValueError(f"{what}.storage: {e}") from None
        if quantity <= 0:
            raise ValueError(f"{what}.storage: must be greater than zero")
    return resources


def access_modes_text(modes: list[str] | None) -> str:
    return ",".join(SHORT_ACCESS_MODES.get(m, m) for m in modes or ())


class LocalVolumeSource(Model):
    path: str = Field(min_length=1)
    fs_type: Annotated[str | None, refused("local.fsType (formatting a block device)")] = None


class VolumeNodeAffinity(Model):
    required: NodeSelector | None = None


class PersistentVolumeSpec(Model):
    capacity: dict[str, str | int] = Field(min_length=1)
    access_modes: list[AccessMode] = Field(min_length=1)
    persistent_volume_reclaim_policy: Annotated[
        Literal["Retain", "Delete", "Recycle"],
        refused('persistentVolumeReclaimPolicy "Recycle"', ("Recycle",))] = "Retain"
    storage_class_name: str | None = None
    claim_ref: ObjectReference | None = None
    node_affinity: VolumeNodeAffinity | None = None
    volume_mode: VolumeMode = "Filesystem"
    mount_options: Annotated[list[str] | None, refused("mountOptions")] = None
    volume_attributes_class_name: Annotated[str | None,
                                            refused("volumeAttributesClassName")] = None
    # the volume sources implemented: a directory on the node
    host_path: HostPathVolumeSource | None = None
    local: LocalVolumeSource | None = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        storage_quantity(self.capacity, "capacity")
        if "storage" not in self.capacity:
            raise ValueError("capacity.storage: Required value")
        if (self.host_path is None) == (self.local is None):
            raise ValueError("exactly one of hostPath, local is required (the volume sources "
                             "this orchestrator implements)")
        if self.local is not None and (self.node_affinity is None or
                                       self.node_affinity.required is None):
            raise ValueError("nodeAffinity.required: Required value: Local volume requires "
                             "node affinity")
        if "ReadWriteOncePod" in self.access_modes and len(self.access_modes) > 1:
            raise ValueError("accessModes: Forbidden: may not use ReadWriteOncePod with other "
                             "access modes")
        return self


class PersistentVolumeStatus(Model):
    phase: Literal["Pending", "Available", "Bound", "Released", "Failed"] | None = None
    message: str | None = None
    reason: str | None = None
    last_phase_transition_time: Timestamp | None = None


class PersistentVolume(Model):
    api_version: Literal["v1"] = "v1"
    kind: Literal["PersistentVolume"] = "PersistentVolume"
    metadata: ObjectMeta
    spec: PersistentVolumeSpec
    status: PersistentVolumeStatus = Field(default_factory=PersistentVolumeStatus)


def _claim_text(pv: Object, _: Any) -> str:
    ref = (pv.get("spec") or {}).get("claimRef") or {}
    return f"{ref.get('namespace', '')}/{ref.get('name', '')}" if ref.get("name") else ""


KIND = Kind(
    "PersistentVolume", "persistentvolumes", "", "v1", False, PersistentVolume,
    names.dns1123_subdomain, short_names=("pv",), subresources=("status",),
    status_on_create="reset", initial_status={"phase": "Pending"},
    # Kubernetes: the volume source and the mode are fixed; the node affinity once set
    immutable=("spec.hostPath", "spec.local", "spec.volumeMode", "spec.nodeAffinity"),
    field_selectors=("status.phase",),
    columns=(Column("CAPACITY", lambda p, _: str(p["spec"]["capacity"].get("storage", ""))),
             Column("ACCESS MODES", lambda p, _: access_modes_text(p["spec"].get(
                 "accessModes"))),
             Column("RECLAIM POLICY", lambda p, _: p["spec"].get(
                 "persistentVolumeReclaimPolicy", "Retain")),
             Column("STATUS", lambda p, _: "Terminating" if p["metadata"].get(
                 "deletionTimestamp") else (p.get("status") or {}).get("phase", "")),
             Column("CLAIM", _claim_text),
             Column("STORAGECLASS", lambda p, _: p["spec"].get("storageClassName", "")),
             Column("VOLUMEATTRIBUTESCLASS", lambda p, _: "<unset>"),
             Column("REASON", lambda p, _: (p.get("status") or {}).get("reason", "")),
             AGE,
             Column("VOLUMEMODE", lambda p, _: p["spec"].get("volumeMode", "Filesystem"),
                    priority=1)),
    list_merge={"spec.accessModes": ATOMIC},
)
