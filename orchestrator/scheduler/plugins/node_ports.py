"""Filter: no pod on the node holds a host port (and protocol) the pod asks for. Pure. (The API
refuses `hostPort` until the agent binds it; the filter is the scheduler's half, ready.)"""

from __future__ import annotations

from kube.kinds.pod import Pod
from orchestrator.scheduler.snapshot import NodeInfo, host_ports

NAME = "NodePorts"
REASON = "node(s) didn't have free ports for the requested pod ports"


def fits(pod: Pod, info: NodeInfo) -> list[str]:
    return [REASON] if host_ports(pod) & info.host_ports() else []
