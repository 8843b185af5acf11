"""LimitRange admission, as Kubernetes' LimitRanger: on a pod or claim being created, every
LimitRange of its namespace fills the defaults in and checks the bounds (pure, on JSON).

Container items: a container that does not say a limit gets `default` (which is `max` where
unset), one that does not say a request gets `defaultRequest` (which is `default` where unset);
then each container's request must be at least `min`, its limit at most `max`, and limit /
request at most `maxLimitRequestRatio`. Pod items bound the sums over the containers;
PersistentVolumeClaim items bound the storage a claim requests. A breach is 403 Forbidden,
in Kubernetes' words (`maximum cpu usage per Container is 1, but limit is 2`).
"""

from __future__ import annotations

from decimal import Decimal

from kube.objects import Object
from kube.quantity import parse_quantity

Problems = list[str]


def _q(values: dict | None, resource: str) -> Decimal | None:
    value = (values or {}).get(resource)
    return parse_quantity(value) if value is not None else None


def container_defaults(item: Object) -> tuple[dict, dict]:
    """(limits, requests) a Container item gives what a container leaves out: default, or max;
    defaultRequest, or that default (LimitRange's own defaulting)."""
    limits = {**(item.get("max") or {}), **(item.get("default") or {})}
    requests = {**limits, **(item.get("defaultRequest") or {})}
    return limits, requests


def apply_defaults(items: list[Object], pod: Object) -> None:
    """Fill each container's missing limits and requests from the Container items (in place).
    A request a container's own limit implies (Kubernetes: request = limit) comes first."""
    for item in items:
        if item.get("type") != "Container":
            continue
        limits, requests = container_defaults(item)
        spec = pod["spec"]
        for c in [*spec.get("initContainers", ()), *spec["containers"]]:
            resources = c.setdefault("resources", {})
            own_limits = resources.get("limits") or {}
            for resource, value in limits.items():
                resources.setdefault("limits", {}).setdefault(resource, value)
            for resource, value in requests.items():
                implied = own_limits.get(resource)  # the user's limit beats a default request
                resources.setdefault("requests", {}).setdefault(
                    resource, implied if implied is not None else value)


def _bounds(item: Object, what: str, resource: str, request: Decimal | None,
            limit: Decimal | None) -> Problems:
    out = []
    low, high = _q(item.get("min"), resource), _q(item.get("max"), resource)
    ratio = _q(item.get("maxLimitRequestRatio"), resource)
    if low is not None:
        if request is None:
            out.append(f"minimum {resource} usage per {what} is {item['min'][resource]}.  No "
                       "request is specified")
        elif request < low:
            out.append(f"minimum {resource} usage per {what} is {item['min'][resource]}, but "
                       f"request is {request.normalize():f}")
    if high is not None:
        if limit is None:
            out.append(f"maximum {resource} usage per {what} is {item['max'][resource]}.  No "
                       "limit is specified")
        elif limit > high:
            out.append(f"maximum {resource} usage per {what} is {item['max'][resource]}, but "
                       f"limit is {limit.normalize():f}")
    if ratio is not None and limit is not None and request:
        if limit / request > ratio:
            out.append(f"{resource} max limit to request ratio per {what} is "
                       f"{item['maxLimitRequestRatio'][resource]}, but provided ratio is "
                       f"{(limit / request).quantize(Decimal('0.000001')).normalize():f}")
    return out


def pod_problems(items: list[Object], pod: Object) -> Problems:
    """How the pod (defaults applied) breaks the Container and Pod items."""
    spec = pod["spec"]
    containers = [*spec.get("initContainers", ()), *spec["containers"]]
    out: Problems = []
    for item in items:
        kind = item.get("type")
        for resource in ("cpu", "memory"):
            if kind == "Container":
                for c in containers:
                    r = c.get("resources") or {}
                    out += _bounds(item, "Container", resource, _q(r.get("requests"), resource),
                                   _q(r.get("limits"), resource))
            elif kind == "Pod":
                requests = [_q((c.get("resources") or {}).get("requests"), resource)
                            for c in spec["containers"]]
                limits = [_q((c.get("resources") or {}).get("limits"), resource)
                          for c in spec["containers"]]
                total_request = sum((r for r in requests if r is not None), Decimal(0)) \
                    if any(r is not None for r in requests) else None
                total_limit = sum(limits, Decimal(0)) if all(  # type: ignore[arg-type]
                    lim is not None for lim in limits) else None
                out += _bounds(item, "Pod", resource, total_request, total_limit)
    return out


def claim_problems(items: list[Object], claim: Object) -> Problems:
    requested = _q(((claim.get("spec") or {}).get("resources") or {}).get("requests"),
                   "storage")
    out: Problems = []
    for item in items:
        if item.get("type") == "PersistentVolumeClaim":
            low, high = _q(item.get("min"), "storage"), _q(item.get("max"), "storage")
            if low is not None and requested is not None and requested < low:
                out.append(f"minimum storage usage per PersistentVolumeClaim is "
                           f"{item['min']['storage']}, but request is "
                           f"{claim['spec']['resources']['requests']['storage']}")
            if high is not None and requested is not None and requested > high:
                out.append(f"maximum storage usage per PersistentVolumeClaim is "
                           f"{item['max']['storage']}, but request is "
                           f"{claim['spec']['resources']['requests']['storage']}")
    return out
