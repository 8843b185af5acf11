"""Claims on unique values (pure)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Claim:
    """A value that one object at most may hold (a ClusterIP, a NodePort, a pod CIDR), kept by
    the store as a key of its own, written in the same transaction as its owner and only if
    absent: never two owners, even across master processes; released in the transaction in
    which the owner lets go of it."""

    pool: str  # "clusterips" | "nodeports" | "podcidrs"
    value: str
