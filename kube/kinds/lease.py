"""Lease (coordination.k8s.io/v1): node heartbeats and leader election."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from kube import names
from kube.kinds.base import AGE, Column, Kind
from kube.meta import Model, ObjectMeta, Timestamp


class LeaseSpec(Model):
    holder_identity: str | None = None
    lease_duration_seconds: int | None = Field(None, ge=1)
    acquire_time: Timestamp | None = None
    renew_time: Timestamp | None = None
    lease_transitions: int | None = Field(None, ge=0)


class Lease(Model):
    api_version: Literal["coordination.k8s.io/v1"] = "coordination.k8s.io/v1"
    kind: Literal["Lease"] = "Lease"
    metadata: ObjectMeta
    spec: LeaseSpec = Field(default_factory=LeaseSpec)


KIND = Kind(
    "Lease", "leases", "coordination.k8s.io", "v1", True, Lease, names.dns1123_subdomain,
    columns=(Column("HOLDER", lambda le, _: (le.get("spec") or {}).get("holderIdentity") or ""),
             AGE),
)
