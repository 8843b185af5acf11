"""PersistentVolumeClaim (core/v1): a pod's request for storage — how much, how it is
accessed, of which class — that the persistent volume controller
(orchestrator/controllers/persistentvolume.py) binds to one PersistentVolume, an existing one
that satisfies it or one its class's provisioner makes. Pods name it in a
`persistentVolumeClaim` volume; a claim in use by a pod is not removed until no pod uses it
(the `kubernetes.io/pvc-protection` finalizer).

A claim that names no class gets the default StorageClass when created; `storageClassName: ""`
asks for a volume without a class (made by hand). The spec is fixed once created, but for the
controller's `volumeName` (set once, when bound) and a class given to a claim that had none.
"""

from __future__ import annotations

import copy
from typing import Annotated, Any, Literal, Self

from pydantic import Field, model_validator

from kube import names
from kube.field_errors import FORBIDDEN, FieldError
from kube.kinds.base import AGE, ATOMIC, Column, Kind, map_list
from kube.kinds.persistentvolume import (AccessMode, VolumeMode, access_modes_text,
                                         storage_quantity)
from kube.meta import Condition, LabelSelector, Model, ObjectMeta, refused
from kube.objects import Object

PROTECTION_FINALIZER = "kubernetes.io/pvc-protection"
BIND_COMPLETED = "pv.kubernetes.io/bind-completed"
BOUND_BY_CONTROLLER = "pv.kubernetes.io/bound-by-controller"
# Set by the scheduler on a WaitForFirstConsumer claim: the node its first pod goes to (where
# the volume must be made or found).
SELECTED_NODE = "volume.kubernetes.io/selected-node"
# Set by the persistent volume controller: the provisioner that is to make the volume.
STORAGE_PROVISIONER = "volume.kubernetes.io/storage-provisioner"
BETA_STORAGE_PROVISIONER = "volume.beta.kubernetes.io/storage-provisioner"


class VolumeResourceRequirements(Model):
    requests: dict[str, str | int] | None = None
    # a cap on how far a volume may grow: nothing resizes volumes here
    limits: Annotated[dict[str, str | int] | None, refused("resources.limits")] = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        storage_quantity(self.requests, "resources.requests")
        storage_quantity(self.limits, "resources.limits")
        return self


class PersistentVolumeClaimSpec(Model):
    access_modes: list[AccessMode] = Field(min_length=1)
    selector: LabelSelector | None = None
    resources: VolumeResourceRequirements
    volume_name: str | None = None
    storage_class_name: str | None = None
    volume_mode: VolumeMode = "Filesystem"
    data_source: Annotated[Any, refused("dataSource (volume snapshots and clones)")] = None
    data_source_ref: Annotated[Any, refused("dataSourceRef (volume populators)")] = None
    volume_attributes_class_name: Annotated[str | None,
                                            refused("volumeAttributesClassName")] = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        if "storage" not in (self.resources.requests or {}):
            raise ValueError("resources.requests.storage: Required value")
        if "ReadWriteOncePod" in self.access_modes and len(self.access_modes) > 1:
            raise ValueError("accessModes: Forbidden: may not use ReadWriteOncePod with other "
                             "access modes")
        return self


class PersistentVolumeClaimStatus(Model):
    phase: Literal["Pending", "Bound", "Lost"] | None = None
    access_modes: list[AccessMode] | None = None
    capacity: dict[str, str | int] | None = None
    conditions: list[Condition] | None = None


class PersistentVolumeClaim(Model):
    api_version: Literal["v1"] = "v1"
    kind: Literal["PersistentVolumeClaim"] = "PersistentVolumeClaim"
    metadata: ObjectMeta
    spec: PersistentVolumeClaimSpec
    status: PersistentVolumeClaimStatus = Field(default_factory=PersistentVolumeClaimStatus)


class PersistentVolumeClaimTemplate(Model):
    """A StatefulSet's volumeClaimTemplates entry: a claim's metadata and spec."""
    api_version: str | None = None
    kind: str | None = None
    metadata: ObjectMeta
    spec: PersistentVolumeClaimSpec
    status: PersistentVolumeClaimStatus | None = None


def _update_rules(old: Object, new: Object) -> list[FieldError]:
    """Kubernetes' ValidatePersistentVolumeClaimUpdate: the spec is immutable, but for
    volumeName while unset (the binder sets it) and storageClassName while unset (a default
    class given later); resizing (resources.requests) needs a class that allows expansion,
    which none does here."""
    before, after = copy.deepcopy(old["spec"]), copy.deepcopy(new["spec"])
    for field in ("volumeName", "storageClassName"):
        if not before.get(field):
            before.pop(field, None)
            after.pop(field, None)
    if before.get("resources") != after.get("resources"):
        return [FieldError("spec.resources.requests.storage", "Forbidden: only dynamically "
                           "provisioned pvc can be resized and the storageclass that "
                           "provisions the pvc must support resize", FORBIDDEN)]
    if before != after:
        return [FieldError("spec", "Forbidden: spec is immutable after creation except "
                           "resources.requests and volumeAttributesClassName for bound claims",
                           FORBIDDEN)]
    return []


def _status(c: Object) -> Object:
    return c.get("status") or {}


def phase_text(obj: Object) -> str:
    """kubectl's STATUS of a claim or volume: its phase, or Terminating once deleted."""
    if obj["metadata"].get("deletionTimestamp"):
        return "Terminating"
    return str(_status(obj).get("phase", ""))


KIND = Kind(
    "PersistentVolumeClaim", "persistentvolumeclaims", "", "v1", True, PersistentVolumeClaim,
    names.dns1123_subdomain, short_names=("pvc",), subresources=("status",),
    status_on_create="reset", initial_status={"phase": "Pending"},
    update_rules=_update_rules,
    columns=(Column("STATUS", lambda c, _: phase_text(c)),
             Column("VOLUME", lambda c, _: c["spec"].get("volumeName", "")),
             Column("CAPACITY", lambda c, _: str((_status(c).get("capacity") or {}).get(
                 "storage", ""))),
             Column("ACCESS MODES", lambda c, _: access_modes_text(_status(c).get(
                 "accessModes"))),
             Column("STORAGECLASS", lambda c, _: c["spec"].get("storageClassName", "")),
             Column("VOLUMEATTRIBUTESCLASS", lambda c, _: "<unset>"),
             AGE,
             Column("VOLUMEMODE", lambda c, _: c["spec"].get("volumeMode", "Filesystem"),
                    priority=1)),
    list_merge={"spec.accessModes": ATOMIC, "status.accessModes": ATOMIC,
                "status.conditions": map_list("type")},
)
