"""Filter: the node is not cordoned (`spec.unschedulable`). Pure."""

from __future__ import annotations

from typing import Any

from orchestrator.scheduler.snapshot import NodeInfo

NAME = "NodeUnschedulable"
REASON = "node(s) were unschedulable"


def fits(pod: dict[str, Any], info: NodeInfo) -> list[str]:
    return [REASON] if (info.node.get("spec") or {}).get("unschedulable") else []
