"""Status conditions, and the readiness they express (pure): the one place that reads them.

Typed objects' conditions (kube.meta.Condition: controllers, the scheduler, the agent) are read
with `typed_find` and `ready`; JSON ones (what printers and status writers
handle) with `find` and `condition`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kube.meta import Condition
from kube.objects import Object


def find(conditions: list[Any] | None, kind: str) -> Object | None:
    """The condition of type `kind` in a conditions list, if there is one."""
    return next((c for c in conditions or [] if c.get("type") == kind), None)


def condition(obj: Object, kind: str) -> Object | None:
    """The condition of type `kind` in `obj`'s status."""
    return find((obj.get("status") or {}).get("conditions"), kind)


def typed_find(conditions: Sequence[Condition] | None, kind: str) -> Condition | None:
    """The typed condition of type `kind` in a typed conditions list, if there is one."""
    return next((c for c in conditions or () if c.type == kind), None)


def ready(conditions: Sequence[Condition] | None) -> bool:
    """Ready=True: a pod's containers are ready and it takes traffic; a node's agent reports
    its runtime and network ready."""
    found = typed_find(conditions, "Ready")
    return found is not None and found.status == "True"
