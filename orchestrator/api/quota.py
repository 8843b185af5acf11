"""ResourceQuota admission and usage, as Kubernetes' ResourceQuota plugin and evaluators.

`usage(resource, obj)` is what one object counts against a quota (pure): a pod that may still
run counts 1 pod and its containers' requests and limits; a Service 1 service, its node ports
and load balancer; a claim 1 claim and its storage request (also per storage class); any
object 1 of `count/<resource>[.<group>]`.

At create (and at a Service's update, which may add node ports), every quota of the namespace
that caps something the object uses is checked: used + the object's usage must stay within
hard, or the write is refused — 403 Forbidden, `exceeded quota: <name>, requested: …, used: …,
limited: …`. A quota on requests or limits of cpu or memory refuses a pod whose containers do
not say them (`failed quota: <name>: must specify …`). A quota that admits the object is
charged first (its status.used, compare-and-swap, so two creates cannot both take the last
unit); the resource quota controller later recounts from what is stored, so a charge for a
create that then failed is given back.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING

from kube.kinds.pod import effective_request
from kube.kinds.resourcequota import CLASS_SCOPED, COUNT_PREFIX, COUNTS, STORAGE
from kube.objects import Object
from kube.quantity import format_quantity, parse_quantity
from kube.registry import ResourceType, by_kind
from orchestrator.api.status import ApiError

if TYPE_CHECKING:
    from orchestrator.store import Store

QUOTA = by_kind("v1", "ResourceQuota")
COMPUTE_KEYS = {"requests.cpu": ("requests", "cpu"), "cpu": ("requests", "cpu"),
                "requests.memory": ("requests", "memory"), "memory": ("requests", "memory"),
                "limits.cpu": ("limits", "cpu"), "limits.memory": ("limits", "memory")}
CHARGE_ATTEMPTS = 5


def _pod_compute(pod: Object, which: str, resource: str) -> Decimal:
    """The pod's total, as Kubernetes counts it (kube.kinds.pod.effective_request)."""
    def of(c: Object) -> Decimal:
        value = ((c.get("resources") or {}).get(which) or {}).get(resource)
        return parse_quantity(value) if value is not None else Decimal(0)
    spec = pod.get("spec") or {}
    return effective_request((of(c) for c in spec.get("containers") or ()),
                             ((of(c), c.get("restartPolicy") == "Always")
                              for c in spec.get("initContainers") or ()), Decimal(0))


def usage(rt: ResourceType, obj: Object) -> dict[str, Decimal]:
    """Every quota resource `obj` counts against, with how much."""
    group = f".{rt.group}" if rt.group else ""
    out: dict[str, Decimal] = {f"count/{rt.resource}{group}": Decimal(1)}
    if rt.kind == "Pod":
        if (obj.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            return {}
        out["pods"] = Decimal(1)
        for key, (which, resource) in COMPUTE_KEYS.items():
            out[key] = _pod_compute(obj, which, resource)
    elif rt.kind == "Service":
        spec = obj.get("spec") or {}
        out["services"] = Decimal(1)
        kind = spec.get("type") or "ClusterIP"
        if kind in ("NodePort", "LoadBalancer"):
            out["services.nodeports"] = Decimal(len(spec.get("ports") or ()))
        if kind == "LoadBalancer":
            out["services.loadbalancers"] = Decimal(1)
    elif rt.kind == "PersistentVolumeClaim":
        spec = obj.get("spec") or {}
        storage = parse_quantity(((spec.get("resources") or {}).get("requests") or {}).get(
            "storage", 0))
        out.update({"persistentvolumeclaims": Decimal(1), STORAGE: storage})
        if spec.get("storageClassName"):
            prefix = f"{spec['storageClassName']}.storageclass.storage.k8s.io/"
            out.update({prefix + "persistentvolumeclaims": Decimal(1),
                        prefix + STORAGE: storage})
    elif rt.resource in COUNTS.values():
        out[rt.resource] = Decimal(1)
    return out


def counts(rt: ResourceType, resource: str) -> bool:
    """Whether objects of `rt` count towards quota resource `resource`."""
    if COUNTS.get(resource) == rt.resource:
        return True
    if resource in COMPUTE_KEYS:
        return rt.kind == "Pod"
    if resource == STORAGE or CLASS_SCOPED.match(resource):
        return rt.kind == "PersistentVolumeClaim"
    match = COUNT_PREFIX.match(resource)
    return bool(match and match.group(1) == rt.resource and (match.group(2) or "") == rt.group)


def unspecified(hard: dict[str, object], pod: Object) -> list[str]:
    """The compute a quota caps that some container does not say (`limits.cpu for: c`)."""
    out = []
    for key in sorted(hard):
        if key not in COMPUTE_KEYS:
            continue
        which, resource = COMPUTE_KEYS[key]
        spec = pod.get("spec") or {}
        missing = [c["name"] for c in [*spec.get("initContainers", ()), *spec["containers"]]
                   if resource not in ((c.get("resources") or {}).get(which) or {})]
        if missing:
            out.append(f"{key} for: {','.join(missing)}")
    return out


def over(hard: dict[str, object], used: dict[str, object],
         delta: dict[str, Decimal]) -> list[str]:
    """The capped resources `delta` would take past hard."""
    return [key for key in sorted(hard) if delta.get(key) and
            parse_quantity(used.get(key, 0)) + delta[key] > parse_quantity(hard[key])]  # type: ignore[arg-type]


def _text(values: dict[str, object]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(values.items()))


def forbidden(rt: ResourceType, name: str, message: str) -> ApiError:
    return ApiError(403, "Forbidden", f'{rt.resource} "{name}" is forbidden: {message}',
                    {"name": name, "kind": rt.resource})


def admit(store: Store, update: Callable[[str, str, Object], Object], rt: ResourceType,
          obj: Object, old: Object | None = None) -> None:
    """Check `obj` (replacing `old`, on an update) against every quota of its namespace and
    charge the quotas that count it; `update(namespace, name, quota)` writes a quota's status
    (a compare-and-swap on its resourceVersion). ApiError 403 where a quota refuses."""
    namespace = obj["metadata"].get("namespace")
    if not namespace:
        return
    cached, _ = store.cached("resourcequotas", namespace)  # most namespaces have none
    if not any(counts(rt, k) for q in cached for k in (q.get("spec") or {}).get("hard") or ()):
        return
    name = obj["metadata"].get("name") or obj["metadata"].get("generateName") or ""
    delta = usage(rt, obj)
    if old is not None:
        before = usage(rt, old)
        delta = {k: v - before.get(k, Decimal(0)) for k, v in delta.items()}
    for _ in range(CHARGE_ATTEMPTS):
        quotas, _revision = store.list("resourcequotas", namespace)
        charged = []
        for quota in quotas:
            hard = (quota.get("spec") or {}).get("hard") or {}
            relevant = {k: v for k, v in hard.items() if counts(rt, k)}
            if not relevant:
                continue
            if rt.kind == "Pod" and old is None:
                missing = unspecified(relevant, obj)
                if missing:
                    raise forbidden(rt, name, f"failed quota: {quota['metadata']['name']}: "
                                    f"must specify {'; '.join(missing)}")
            used = dict((quota.get("status") or {}).get("used") or {})
            exceeded = over(relevant, used, delta)
            if exceeded:
                raise forbidden(rt, name, (
                    f"exceeded quota: {quota['metadata']['name']}, requested: "
                    f"{_text({k: format_quantity(delta[k], str(hard[k])) for k in exceeded})}"
                    f", used: {_text({k: used.get(k, 0) for k in exceeded})}, limited: "
                    f"{_text({k: hard[k] for k in exceeded})}"))
            charges = {k: parse_quantity(used.get(k, 0)) + delta[k] for k in relevant
                       if delta.get(k)}
            if charges:
                charged.append((quota, {**used, **{k: format_quantity(v, str(hard[k]))
                                                   for k, v in charges.items()}}))
        try:
            for quota, used in charged:
                status = {**copy.deepcopy(quota.get("status") or {}), "used": used}
                update(namespace, quota["metadata"]["name"], {**quota, "status": status})
            return
        except ApiError as e:
            if e.code != 409:  # a concurrent charge: count again
                raise
    raise ApiError(409, "Conflict", f"the quotas of namespace {namespace} changed too often "
                   "while this request was being charged; retry")
