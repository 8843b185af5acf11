"""Events from the node agent (Pulled, Started, Killing, Unhealthy, BackOff, Failed), written
through the API with the node's token, by the same recorder the controllers use (aggregated,
in the background, never failing the caller)."""

from __future__ import annotations

from kube.client import Client
from kube.events import ClientSink, EventRecorder


def agent_recorder(client: Client, node_name: str) -> EventRecorder:
    return EventRecorder(ClientSink(client), f"node-agent/{node_name}")
