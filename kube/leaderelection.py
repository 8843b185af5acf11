"""Leader election on a Lease, as client-go's leaderelection decides it: pure, shared by the
masters' election (orchestrator/leader.py) and the agents' load balancer announcers
(node_agent/loadbalancer).

A candidate takes the Lease when it is absent, released, or when its holder has not renewed it
for `lease_duration` seconds *as observed by this candidate* (its own monotonic clock from the
moment it last saw the Lease change: hosts' clocks need not agree).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from kube.errors import ApiError
from kube.timestamps import now_rfc3339_micro


@dataclass(frozen=True)
class Seen:
    version: str | None  # the Lease's resourceVersion when last seen
    at: float  # when this candidate saw it change (monotonic)


def decide(lease: dict[str, Any] | None, identity: str, seen: Seen | None, now: float,
           lease_duration: float) -> str:
    """Pure: "create" (no Lease), "renew" (ours), "take" (the holder let it expire), "wait"."""
    if lease is None:
        return "create"
    holder = (lease.get("spec") or {}).get("holderIdentity")
    if holder == identity:
        return "renew"
    if not holder:
        return "take"  # released on purpose
    if seen is None or seen.version != lease["metadata"]["resourceVersion"]:
        return "wait"  # it moved (or we just arrived): the holder is alive as far as we know
    return "take" if now - seen.at >= lease_duration else "wait"


class Elector:
    """One Lease, contended through the API (client-go's leaderelection with a LeaseLock):
    call `round()` every `retry_period`; it says whether this candidate leads. A leader that
    could not renew for `renew_deadline` stops leading before anyone may take over."""

    def __init__(self, client: Any, namespace: str, name: str, identity: str,
                 lease_duration: float = 15.0, renew_deadline: float = 10.0,
                 owner: dict[str, Any] | None = None) -> None:
        """`owner`: an owner reference the Lease is created with (the garbage collector then
        removes it with its owner)."""
        self.client, self.namespace, self.name = client, namespace, name
        self.identity, self.lease_duration = identity, lease_duration
        self.renew_deadline, self.owner = renew_deadline, owner
        self.leading = False
        self._seen: Seen | None = None
        self._renewed_at = 0.0
        self._written: dict[str, Any] | None = None  # the Lease as this candidate last wrote it

    def release(self) -> None:
        """Stop leading and give the Lease up (holder emptied): another takes it at once."""
        lease, self._written, self.leading = self._written, None, False
        if lease is None or (lease.get("spec") or {}).get("holderIdentity") != self.identity:
            return
        try:
            self.client.update("leases", {**lease, "spec": {**lease["spec"],
                                                            "holderIdentity": None}})
        except ApiError:
            pass  # it expires on its own

    def round(self) -> bool:
        now = time.monotonic()
        try:
            try:
                lease = self.client.get("leases", self.name, self.namespace)
            except ApiError as e:
                if e.code != 404:
                    raise
                lease = None
            if lease is not None and (self._seen is None or
                                      self._seen.version != lease["metadata"]["resourceVersion"]):
                verdict = decide(lease, self.identity, None, now, self.lease_duration)
                self._seen = Seen(lease["metadata"]["resourceVersion"], now)
            else:
                verdict = decide(lease, self.identity, self._seen, now, self.lease_duration)
            if verdict == "wait":
                self.leading = False
                return False
            stamp = now_rfc3339_micro()
            spec = {"holderIdentity": self.identity, "renewTime": stamp,
                    "leaseDurationSeconds": int(self.lease_duration + 0.999)}
            if lease is None:
                written = self.client.create("leases", {
                    "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": self.name, "namespace": self.namespace,
                                 **({"ownerReferences": [self.owner]} if self.owner else {})},
                    "spec": {**spec, "acquireTime": stamp, "leaseTransitions": 0}},
                    self.namespace)
            else:
                new_spec = {**(lease.get("spec") or {}), **spec}
                if verdict == "take":
                    new_spec["acquireTime"] = stamp
                    new_spec["leaseTransitions"] = (new_spec.get("leaseTransitions") or 0) + 1
                written = self.client.update("leases", {**lease, "spec": new_spec})
        except ApiError:
            if self.leading and now - self._renewed_at > self.renew_deadline:
                self.leading = False
            return self.leading
        self._seen = Seen(written["metadata"]["resourceVersion"], now)
        self._renewed_at, self.leading, self._written = now, True, written
        return True
