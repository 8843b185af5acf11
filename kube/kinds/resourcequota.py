"""ResourceQuota (core/v1): caps on what one namespace may hold — how many objects of a kind,
and how much CPU, memory and storage its pods and claims ask for. Enforced when objects are
created (orchestrator/api/quota.py: a create that would exceed a cap is refused with 403
naming the quota); the resource quota controller (orchestrator/controllers/resourcequota.py)
keeps `status.used` true to what is there.

A quota on requests.cpu, requests.memory, limits.cpu or limits.memory also requires every new
pod's containers to say that much (a LimitRange's defaults may say it for them), as Kubernetes.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field

from kube import names
from kube.kinds.base import AGE, Column, Kind
from kube.meta import Model, ObjectMeta, refused
from kube.objects import Object
from kube.quantity import QuantityError, parse_quantity

# What a quota may cap: compute per pod (cpu and memory are requests.cpu and requests.memory)
COMPUTE = ("requests.cpu", "requests.memory", "limits.cpu", "limits.memory", "cpu", "memory")
# object counts, by resource (services.nodeports: the node ports a namespace's Services hold)
COUNTS = {"pods": "pods", "services": "services", "configmaps": "configmaps",
          "secrets": "secrets", "persistentvolumeclaims": "persistentvolumeclaims",
          "replicationcontrollers": "replicationcontrollers",
          "resourcequotas": "resourcequotas", "services.nodeports": "services",
          "services.loadbalancers": "services"}
STORAGE = "requests.storage"
# count/<resource>[.<group>]: any kind served
COUNT_PREFIX = re.compile(r"^count/([a-z0-9]+)(?:\.([a-z0-9.-]+))?$")
# <class>.storageclass.storage.k8s.io/requests.storage and .../persistentvolumeclaims
CLASS_SCOPED = re.compile(r"^([a-z0-9.-]+)\.storageclass\.storage\.k8s\.io/"
                          r"(requests\.storage|persistentvolumeclaims)$")


def _check_hard(hard: dict[str, Any] | None) -> dict[str, Any] | None:
    for resource, value in (hard or {}).items():
        if resource not in (*COMPUTE, *COUNTS, STORAGE) and not COUNT_PREFIX.match(resource) \
                and not CLASS_SCOPED.match(resource):
            raise ValueError(f"hard[{resource}]: Forbidden: resource {resource!r} is not one "
                             "this orchestrator can count (pods, services, services.nodeports, "
                             "configmaps, secrets, persistentvolumeclaims, requests.storage, "
                             "cpu, memory, requests.*, limits.*, count/<resource>[.<group>])")
        try:
            quantity = parse_quantity(value)
        except QuantityError as e:
            raise ValueError(f"hard[{resource}]: {e}") from None
        if quantity < 0:
            raise ValueError(f"hard[{resource}]: must be greater than or equal to 0")
        if resource not in COMPUTE and resource != STORAGE and \
                not resource.endswith("requests.storage") and \
                quantity != quantity.to_integral_value():
            raise ValueError(f"hard[{resource}]: must be an integer")
    return hard


ResourceList = Annotated[dict[str, str | int], AfterValidator(_check_hard)]


class ResourceQuotaSpec(Model):
    hard: ResourceList | None = None
    # quotas that count only some pods (Terminating, BestEffort, a priority class): not
    # implemented; every pod counts
    scopes: Annotated[list[str] | None, refused("scopes")] = None
    scope_selector: Annotated[Any, refused("scopeSelector")] = None


class ResourceQuotaStatus(Model):
    hard: dict[str, str | int] | None = None
    used: dict[str, str | int] | None = None


class ResourceQuota(Model):
    api_version: Literal["v1"] = "v1"
    kind: Literal["ResourceQuota"] = "ResourceQuota"
    metadata: ObjectMeta
    spec: ResourceQuotaSpec = Field(default_factory=ResourceQuotaSpec)
    status: ResourceQuotaStatus = Field(default_factory=ResourceQuotaStatus)


def _request_text(q: Object, _: Any) -> str:
    """kubectl's REQUEST: used/hard of everything but limits."""
    hard = (q.get("spec") or {}).get("hard") or {}
    used = (q.get("status") or {}).get("used") or {}
    return ", ".join(f"{k}: {used.get(k, 0)}/{v}" for k, v in sorted(hard.items())
                     if not k.startswith("limits."))


def _limit_text(q: Object, _: Any) -> str:
    hard = (q.get("spec") or {}).get("hard") or {}
    used = (q.get("status") or {}).get("used") or {}
    return ", ".join(f"{k}: {used.get(k, 0)}/{v}" for k, v in sorted(hard.items())
                     if k.startswith("limits."))


KIND = Kind(
    "ResourceQuota", "resourcequotas", "", "v1", True, ResourceQuota, names.dns1123_subdomain,
    short_names=("quota",), subresources=("status",), status_on_create="reset",
    columns=(AGE, Column("REQUEST", _request_text), Column("LIMIT", _limit_text)),
)
