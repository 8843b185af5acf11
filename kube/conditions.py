"""Status conditions, and the readiness they express (pure): the one place that reads them."""

from __future__ import annotations

from typing import Any

from kube.objects import Object


def find(conditions: list[Any] | None, kind: str) -> Object | None:
    """The condition of type `kind` in a conditions list, if there is one."""
    return next((c for c in conditions or [] if c.get("type") == kind), None)


def condition(obj: Object, kind: str) -> Object | None:
    """The condition of type `kind` in `obj`'s status."""
    return find((obj.get("status") or {}).get("conditions"), kind)


def is_true(obj: Object, kind: str) -> bool:
    found = condition(obj, kind)
    return found is not None and found.get("status") == "True"


def pod_is_ready(pod: Object) -> bool:
    """Ready=True: the pod's containers are ready, and it takes traffic."""
    return is_true(pod, "Ready")


def node_is_ready(node: Object) -> bool:
    """Ready=True: the node's agent reports its runtime and network ready."""
    return is_true(node, "Ready")
