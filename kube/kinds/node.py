"""Node (core/v1): a host running an agent; its status is the agent's (capacity, addresses,
the Ready condition), its taints the node lifecycle controller's and the user's."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from kube import names
from kube.field_errors import FORBIDDEN, FieldError
from kube.kinds.base import AGE, ATOMIC, SET, Column, Kind, map_list
from kube.meta import Condition, Model, ObjectMeta, Timestamp
from kube.objects import Object
from kube.printing import node_roles, node_status
from kube.quantity import QuantityError, parse_quantity


class Taint(Model):
    key: str
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]
    time_added: Timestamp | None = None


class NodeSpec(Model):
    pod_cidr: str | None = Field(None, alias="podCIDR")
    pod_cidrs: list[str] | None = Field(None, alias="podCIDRs")
    unschedulable: bool | None = None
    taints: list[Taint] | None = None


class NodeAddress(Model):
    type: Literal["InternalIP", "ExternalIP", "Hostname"]
    address: str


class NodeSystemInfo(Model):
    machine_id: str = Field("", alias="machineID")
    system_uuid: str = Field("", alias="systemUUID")
    boot_id: str = Field("", alias="bootID")
    kernel_version: str = ""
    os_image: str = ""
    container_runtime_version: str = ""
    kubelet_version: str = ""
    kube_proxy_version: str = ""
    operating_system: str = ""
    architecture: str = ""


class NodeStatus(Model):
    capacity: dict[str, str] | None = None
    allocatable: dict[str, str] | None = None
    addresses: list[NodeAddress] | None = None
    conditions: list[Condition] | None = None
    node_info: NodeSystemInfo | None = None

    @field_validator("capacity", "allocatable")
    @classmethod
    def _quantities(cls, value: Any) -> Any:
        for resource, quantity in (value or {}).items():
            try:
                parse_quantity(quantity)
            except QuantityError as e:
                raise ValueError(f"{resource}: {e}") from None
        return value


class Node(Model):
    api_version: Literal["v1"] = "v1"
    kind: Literal["Node"] = "Node"
    metadata: ObjectMeta
    spec: NodeSpec = Field(default_factory=NodeSpec)
    status: NodeStatus = Field(default_factory=NodeStatus)


def _update_rules(old: Object, new: Object) -> list[FieldError]:
    before = (old.get("spec") or {}).get("podCIDR")
    if before and (new.get("spec") or {}).get("podCIDR") != before:
        return [FieldError("spec.podCIDR", "Forbidden: podCIDR may not be changed once set",
                           FORBIDDEN)]
    return []


def _address(n: Object, kind: str) -> str:
    return next((a["address"] for a in (n.get("status") or {}).get("addresses") or []
                 if a.get("type") == kind), "<none>")


def _info(n: Object, key: str) -> str:
    return ((n.get("status") or {}).get("nodeInfo") or {}).get(key) or "<unknown>"


KIND = Kind(
    "Node", "nodes", "", "v1", False, Node, names.dns1123_subdomain, short_names=("no",),
    subresources=("status", "stats"), update_rules=_update_rules,
    field_selectors=("spec.unschedulable",),
    columns=(
        Column("STATUS", lambda n, _: node_status(n)),
        Column("ROLES", lambda n, _: node_roles(n)),
        AGE,
        Column("VERSION", lambda n, _: _info(n, "kubeletVersion")),
        Column("INTERNAL-IP", lambda n, _: _address(n, "InternalIP"), priority=1),
        Column("EXTERNAL-IP", lambda n, _: _address(n, "ExternalIP"), priority=1),
        Column("OS-IMAGE", lambda n, _: _info(n, "osImage"), priority=1),
        Column("KERNEL-VERSION", lambda n, _: _info(n, "kernelVersion"), priority=1),
        Column("CONTAINER-RUNTIME", lambda n, _: _info(n, "containerRuntimeVersion"),
               priority=1),
    ),
    list_merge={"spec.podCIDRs": SET, "spec.taints": ATOMIC,
                "status.addresses": map_list("type"), "status.conditions": map_list("type")},
)
