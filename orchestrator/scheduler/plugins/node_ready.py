"""Filter: the node's Ready condition is True (Kubernetes keeps this in its node lifecycle
taints; here the scheduler checks the condition itself). Pure."""

from __future__ import annotations

from typing import Any

from orchestrator.scheduler.snapshot import NodeInfo

NAME = "NodeReady"
REASON = "node(s) were not ready"


def fits(pod: dict[str, Any], info: NodeInfo) -> list[str]:
    conditions = (info.node.get("status") or {}).get("conditions") or []
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    return [] if ready else [REASON]
