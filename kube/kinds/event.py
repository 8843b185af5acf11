"""Event (core/v1): what happened to an object and why, recorded by controllers and agents
(kube/events.py aggregates repeats)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from kube import names
from kube.kinds.base import Column, Kind
from kube.meta import Model, ObjectMeta, ObjectReference, Timestamp
from kube.objects import Object
from kube.printing import age


class EventSource(Model):
    component: str | None = None
    host: str | None = None


class Event(Model):
    api_version: Literal["v1"] = "v1"
    kind: Literal["Event"] = "Event"
    metadata: ObjectMeta
    involved_object: ObjectReference
    reason: str | None = None
    message: str | None = None
    source: EventSource | None = None
    first_timestamp: Timestamp | None = None
    last_timestamp: Timestamp | None = None
    event_time: Timestamp | None = None
    count: int | None = None
    type: Literal["Normal", "Warning"] | None = "Normal"
    reporting_component: str | None = None
    reporting_instance: str | None = None
    action: str | None = None


def _object(e: Object) -> str:
    io = e.get("involvedObject") or {}
    return f"{(io.get('kind') or '').lower()}/{io.get('name', '')}"


def _last_seen(e: Object, now: datetime) -> str:
    return age(e.get("lastTimestamp") or e.get("eventTime")
               or e["metadata"].get("creationTimestamp"), now)


KIND = Kind(
    "Event", "events", "", "v1", True, Event, names.dns1123_subdomain, short_names=("ev",),
    field_selectors=("involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
                     "involvedObject.uid", "involvedObject.apiVersion",
                     "involvedObject.resourceVersion", "involvedObject.fieldPath", "reason",
                     "type"),
    columns=(Column("LAST SEEN", _last_seen, type="date"),
             Column("TYPE", lambda e, _: e.get("type") or "Normal"),
             Column("REASON", lambda e, _: e.get("reason") or ""),
             Column("OBJECT", lambda e, _: _object(e)),
             Column("MESSAGE", lambda e, _: " ".join((e.get("message") or "").split()))),
)
