"""Endpoints (core/v1): the ready (and not ready) addresses behind a Service, written by the
endpoints controller for Services with a selector, by users for those without."""

from __future__ import annotations

from typing import Literal

from kube import names
from kube.kinds.base import AGE, ATOMIC, Column, Kind
from kube.meta import Dns1123Label, Model, ObjectMeta, ObjectReference, Port, Protocol
from kube.printing import endpoints_text


class EndpointAddress(Model):
    ip: str
    # <hostname>.<service>.<ns>.svc resolves to this address (a headless Service's pods,
    # a StatefulSet's)
    hostname: Dns1123Label | None = None
    node_name: str | None = None
    target_ref: ObjectReference | None = None


class EndpointPort(Model):
    name: str | None = None
    port: Port
    protocol: Protocol = "TCP"


class EndpointSubset(Model):
    addresses: list[EndpointAddress] | None = None
    not_ready_addresses: list[EndpointAddress] | None = None
    ports: list[EndpointPort] | None = None


class Endpoints(Model):
    api_version: Literal["v1"] = "v1"
    kind: Literal["Endpoints"] = "Endpoints"
    metadata: ObjectMeta
    subsets: list[EndpointSubset] | None = None


KIND = Kind(
    "Endpoints", "endpoints", "", "v1", True, Endpoints, names.dns1035_label,
    short_names=("ep",),
    columns=(Column("ENDPOINTS", lambda e, _: endpoints_text(e)), AGE),
    list_merge={"subsets": ATOMIC},
)
