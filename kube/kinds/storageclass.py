"""StorageClass (storage.k8s.io/v1, cluster-scoped): a kind of storage a claim may ask for by
name, and who makes its volumes (`provisioner`). The class annotated
`storageclass.kubernetes.io/is-default-class: "true"` is given to claims that name none. The
master makes `local-path` (orchestrator/controllers/localpath.py provisions it: a directory on
the node the claim's first pod is scheduled to) as the default class when no class exists.

The binding mode decides when a claim is bound: Immediate, at once; WaitForFirstConsumer,
once a pod that uses it is scheduled, so the volume is made where the pod can run.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from kube import names
from kube.kinds.base import AGE, Column, Kind
from kube.meta import Model, ObjectMeta, refused
from kube.objects import Object

DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"
# Claims whose class has this provisioner are only ever bound to volumes made by hand.
NO_PROVISIONER = "kubernetes.io/no-provisioner"


def is_default(obj: Object) -> bool:
    return ((obj.get("metadata") or {}).get("annotations") or {}).get(
        DEFAULT_CLASS_ANNOTATION) == "true"


class StorageClass(Model):
    api_version: Literal["storage.k8s.io/v1"] = "storage.k8s.io/v1"
    kind: Literal["StorageClass"] = "StorageClass"
    metadata: ObjectMeta
    provisioner: Annotated[str, Field(min_length=1)]
    parameters: dict[str, str] | None = None
    # Recycle (scrub and reuse) is deprecated in Kubernetes and not implemented here
    reclaim_policy: Annotated[Literal["Delete", "Retain", "Recycle"],
                              refused('reclaimPolicy "Recycle"', ("Recycle",))] = "Delete"
    volume_binding_mode: Literal["Immediate", "WaitForFirstConsumer"] = "Immediate"
    # resizing a bound volume is not implemented: only false (or unset) is accepted
    allow_volume_expansion: Annotated[bool | None, refused(
        "allowVolumeExpansion (resizing volumes)", (True,))] = None
    mount_options: Annotated[list[str] | None, refused("mountOptions")] = None
    allowed_topologies: Annotated[list[Any] | None, refused("allowedTopologies")] = None


def name_cell(obj: Object) -> str:
    """kubectl's NAME: the default class is marked."""
    name = obj["metadata"]["name"]
    return f"{name} (default)" if is_default(obj) else name


KIND = Kind(
    "StorageClass", "storageclasses", "storage.k8s.io", "v1", False, StorageClass,
    names.dns1123_subdomain, short_names=("sc",),
    # Kubernetes: "updates to provisioner/parameters/reclaimPolicy/volumeBindingMode are
    # forbidden"
    immutable=("provisioner", "parameters", "reclaimPolicy", "volumeBindingMode"),
    name_cell=name_cell,
    columns=(Column("PROVISIONER", lambda s, _: s.get("provisioner", "")),
             Column("RECLAIMPOLICY", lambda s, _: s.get("reclaimPolicy") or "Delete"),
             Column("VOLUMEBINDINGMODE",
                    lambda s, _: s.get("volumeBindingMode") or "Immediate"),
             Column("ALLOWVOLUMEEXPANSION",
                    lambda s, _: str(bool(s.get("allowVolumeExpansion"))).lower()),
             AGE),
)
