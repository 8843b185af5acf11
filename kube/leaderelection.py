"""Leader election on a Lease, as client-go's leaderelection decides it: pure, shared by the
masters' election (orchestrator/leader.py) and the agents' load balancer announcers
(node_agent/loadbalancer).

A candidate takes the Lease when it is absent, released, or when its holder has not renewed it
for `lease_duration` seconds *as observed by this candidate* (its own monotonic clock from the
moment it last saw the Lease change: hosts' clocks need not agree).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


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
