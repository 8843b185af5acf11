"""Events from the node agent (Pulled, Started, Killing, Unhealthy, BackOff, Failed), written
through the API with the node's token, by the same recorder the controllers use (aggregated,
in the background, never failing the caller)."""

from __future__ import annotations

from typing import Any

from orchestrator.api.status import ApiError as ServerError
from orchestrator.client import ApiError, Client
from orchestrator.controllers.events import EventRecorder


class ClientSink:
    """What EventRecorder needs of `Objects` (create, patch), over the HTTP client."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def create(self, _rt, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            return self.client.create("events", body, namespace=namespace)
        except ApiError as e:
            raise ServerError(e.code, e.reason, e.message) from e

    def patch(self, _rt, namespace: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        try:
            return self.client.patch("events", name, patch, namespace=namespace)
        except ApiError as e:
            raise ServerError(e.code, e.reason, e.message) from e


def agent_recorder(client: Client, node_name: str) -> EventRecorder:
    return EventRecorder(ClientSink(client), f"node-agent/{node_name}")


def pod_ref(pod: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", **pod}
