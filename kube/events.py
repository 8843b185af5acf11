"""Events that tell users what the control plane did and why ("Scaled up replica set web-5d8
to 3", "0/3 nodes are available: …"). A repeat of the same reason and message for the same
object within AGGREGATE_SECONDS bumps the existing Event's count and lastTimestamp instead of
writing a new object, as Kubernetes' recorder does. Recording never fails nor slows the caller:
Events are written by a background thread (in order), and one that cannot be written is logged
and dropped. `flush()` waits until those recorded so far are written."""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from typing import Any, Protocol

from kube.client import Client
from kube.errors import ApiError
from kube.objects import Object
from kube.registry import ResourceType, by_kind
from kube.timestamps import now_rfc3339
from kube.typed import TypedObject

log = logging.getLogger(__name__)

EVENT = by_kind("v1", "Event")
AGGREGATE_SECONDS = 600.0
MAX_REMEMBERED = 4096


class EventSink(Protocol):
    """Where the recorder writes: the API server's own verbs (the controllers, in the master's
    process) or the HTTP client (ClientSink: the agents). Both raise ApiError."""

    def create(self, rt: ResourceType, namespace: str, body: dict[str, Any]) -> dict[str, Any]: ...

    def patch(self, rt: ResourceType, namespace: str, name: str,
              patch: dict[str, Any]) -> dict[str, Any]: ...


class ClientSink:
    """Events written through the HTTP API (with the caller's credentials)."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def create(self, rt: ResourceType, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.client.create(rt.resource, body, namespace=namespace)

    def patch(self, rt: ResourceType, namespace: str, name: str,
              patch: dict[str, Any]) -> dict[str, Any]:
        return self.client.patch(rt.resource, name, patch, namespace=namespace)


About = Object | TypedObject  # what an Event is about: a JSON object or a typed one


def _reference(obj: About) -> dict[str, Any]:
    """The object as far as an Event needs it: apiVersion, kind and identifying metadata."""
    if isinstance(obj, dict):
        return obj
    meta = obj.metadata
    return {"apiVersion": obj.api_version, "kind": obj.kind,
            "metadata": {"name": meta.name, "namespace": meta.namespace, "uid": meta.uid}}


def involved(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj["metadata"]
    ref = {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"), "name": meta["name"],
           "uid": meta.get("uid")}
    if meta.get("namespace"):
        ref["namespace"] = meta["namespace"]
    return ref


class EventRecorder:
    def __init__(self, objects: EventSink, component: str) -> None:
        self.objects = objects
        self.component = component
        self._lock = threading.Lock()
        # (uid, type, reason, message) → (event name, count, first recorded at)
        self._seen: dict[tuple[str | None, str, str, str], tuple[str, int, float]] = {}
        self._pending: queue.Queue[tuple[dict[str, Any], str, str, str]] = queue.Queue(
            maxsize=10_000)
        threading.Thread(target=self._write_loop, name=f"events-{component}",
                         daemon=True).start()

    def normal(self, obj: About, reason: str, message: str) -> None:
        self.record(obj, "Normal", reason, message)

    def warning(self, obj: About, reason: str, message: str) -> None:
        self.record(obj, "Warning", reason, message)

    def record(self, obj: About, kind: str, reason: str, message: str) -> None:
        try:
            self._pending.put_nowait((_reference(obj), kind, reason, message))
        except queue.Full:
            log.warning("event %s dropped: too many waiting to be written", reason)

    def flush(self) -> None:
        self._pending.join()

    def _write_loop(self) -> None:
        while True:
            item = self._pending.get()
            try:
                self._write(*item)
            except Exception:  # noqa: BLE001 - an Event is never worth a crash
                log.exception("writing an event failed")
            finally:
                self._pending.task_done()

    def _write(self, obj: dict[str, Any], kind: str, reason: str, message: str) -> None:
        meta = obj["metadata"]
        namespace = meta.get("namespace") or "default"
        key = (meta.get("uid"), kind, reason, message)
        now = now_rfc3339()
        with self._lock:
            seen = self._seen.get(key)
            if seen and time.monotonic() - seen[2] > AGGREGATE_SECONDS:
                seen = None
        try:
            if seen:
                name, count, since = seen
                self.objects.patch(EVENT, namespace, name,
                                   {"count": count + 1, "lastTimestamp": now})
                remembered = (name, count + 1, since)
            else:
                name = f"{meta['name']}.{uuid.uuid4().hex[:12]}"
                self.objects.create(EVENT, namespace, {
                    "apiVersion": "v1", "kind": "Event", "metadata": {"name": name},
                    "involvedObject": involved(obj), "reason": reason, "message": message,
                    "type": kind, "count": 1, "firstTimestamp": now, "lastTimestamp": now,
                    "source": {"component": self.component},
                    "reportingComponent": self.component})
                remembered = (name, 1, time.monotonic())
        except ApiError as e:
            if seen and e.code == 404:  # the aggregated Event was deleted: start a new one
                with self._lock:
                    self._seen.pop(key, None)
                return self._write(obj, kind, reason, message)
            log.info("event %s for %s/%s not recorded: %s", reason, namespace, meta["name"],
                     e.message)
            return
        with self._lock:
            if len(self._seen) >= MAX_REMEMBERED:
                self._seen.clear()
            self._seen[key] = remembered
