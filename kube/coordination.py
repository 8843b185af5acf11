"""coordination.k8s.io/v1: Lease (node heartbeats, leader election)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

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
