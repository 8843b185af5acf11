"""Filter: no pod on the node holds a host port (and protocol) the pod asks for. Pure. (The API
refuses `hostPort` until the agent binds it; the filter is the scheduler's half, ready.)"""

from __future__ import annotations

from typing import Any

from orchestrator.scheduler.snapshot import NodeInfo

NAME = "NodePorts"
REASON = "node(s) didn't have free ports for the requested pod ports"


def fits(pod: dict[str, Any], info: NodeInfo) -> list[str]:
    wanted = {(p["hostPort"], p.get("protocol", "TCP")) for c in pod["spec"]["containers"]
              for p in c.get("ports") or [] if p.get("hostPort")}
    return [REASON] if wanted & info.host_ports() else []
