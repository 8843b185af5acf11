"""Resource quota controller: each ResourceQuota's status — `hard` as its spec says, `used` as
counted from what its namespace holds now — as Kubernetes' resource quota controller keeps it.
Admission (orchestrator/api/quota.py) charges a quota as objects are made; this recount is
the truth that follows: an object that went (deleted, or a pod that finished) gives its share
back within moments, and the periodic resync corrects whatever else drifted (a charge for a
create that then failed).

What wakes a recount is what Kubernetes' replenishment uses, and no more: a creation was
charged by admission already, and recounting on it (or on a pod's binding or status) could
undo the charge of a create still in flight (charged, not yet stored) and let the next create
past the quota."""

from __future__ import annotations

from decimal import Decimal

from kube.objects import Object
from kube.quantity import format_quantity, parse_quantity
from kube.registry import RESOURCES, ResourceType, by_kind
from orchestrator.api.quota import counts, usage
from orchestrator.controllers.base import Controller, Keys, object_key
from orchestrator.store.watchcache import WatchEvent

QUOTA = by_kind("v1", "ResourceQuota")
# the kinds whose changes may change a quota's use (count/<resource> ones are recounted at
# every resync)
WATCHED = ("pods", "services", "persistentvolumeclaims", "configmaps", "secrets",
           "replicationcontrollers", "resourcequotas")


def counted_kinds(hard: dict[str, object]) -> list[ResourceType]:
    """The kinds a quota's `hard` needs counted."""
    return [rt for rt in RESOURCES if rt.namespaced and any(counts(rt, k) for k in hard)]


def recount(hard: dict[str, object], objects: dict[ResourceType, list[Object]]) -> Object:
    """status.used: for each resource in hard, the sum of the objects' usage."""
    used: dict[str, Decimal] = {k: Decimal(0) for k in hard}
    for rt, items in objects.items():
        for obj in items:
            for key, amount in usage(rt, obj).items():
                if key in used:
                    used[key] += amount
    return {k: format_quantity(v, str(hard[k])) for k, v in used.items()}


def replenishes(event: WatchEvent) -> bool:
    """Whether a change to a counted object may have lowered its namespace's use: a deletion,
    a pod that reached a terminal phase, any other kind's update (a Service that stopped being
    a NodePort). Pure."""
    if event.type == "DELETED":
        return True
    if event.type != "MODIFIED":
        return False
    if event.object.get("kind") == "Pod" or "containers" in (event.object.get("spec") or {}):
        return (event.object.get("status") or {}).get("phase") in ("Succeeded", "Failed")
    return True


def quota_needs_recount(event: WatchEvent) -> bool:
    """Whether a change to a quota itself calls for a recount: a new quota, or one whose
    spec.hard differs from its status.hard (the spec was changed). A status write (admission's
    charge, or this controller's own) does not, as in Kubernetes, which only follows spec
    changes: a recount woken by a charge would run in the moment between the charge and the
    store of the object charged for, miss that object, and give its charge back. Pure."""
    if event.type != "MODIFIED":
        return event.type == "ADDED"
    hard = (event.object.get("spec") or {}).get("hard") or {}
    return (event.object.get("status") or {}).get("hard") != hard


class ResourceQuotaController(Controller):
    name = "resourcequota"

    def triggers(self) -> dict[str, Keys]:
        def quotas_of(event: WatchEvent) -> list[str]:
            namespace = event.object["metadata"].get("namespace")
            quotas, _ = self.store.cached("resourcequotas", namespace)
            return [object_key(q) for q in quotas]

        def replenishing(event: WatchEvent) -> list[str]:
            return quotas_of(event) if replenishes(event) else []

        def changed_quota(event: WatchEvent) -> list[str]:
            if event.type == "DELETED":  # the others' count of quotas went down
                return quotas_of(event)
            return [object_key(event.object)] if quota_needs_recount(event) else []
        return {resource: changed_quota if resource == "resourcequotas" else replenishing
                for resource in WATCHED}

    def all_keys(self) -> list[str]:
        return [object_key(q) for q in self.store.cached("resourcequotas")[0]]

    def sync(self, key: str) -> None:
        namespace, name = key.split("/", 1)
        stored = self.get_or_none(QUOTA, namespace, name)
        if stored is None:
            return
        hard = (stored.get("spec") or {}).get("hard") or {}
        listed = {rt: self.store.list(rt.resource, namespace)[0] for rt in counted_kinds(hard)}
        status = {"hard": dict(hard), "used": recount(hard, listed)}
        current = stored.get("status") or {}
        if current.get("hard") == status["hard"] and all(
                parse_quantity(current.get("used", {}).get(k, -1)) == parse_quantity(v)
                for k, v in status["used"].items()) and \
                set(current.get("used") or {}) == set(status["used"]):
            return
        self.objects.update(QUOTA, namespace, name, {**stored, "status": status},
                            subresource="status")

