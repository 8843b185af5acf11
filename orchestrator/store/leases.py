"""Objects that expire: keys written with an etcd lease, so that etcd deletes them when the lease
runs out (kube-apiserver's `--event-ttl`: an Event lives an hour after its last write).

Granting one lease per key would cost etcd a lease each; Kubernetes' lease manager
(storage/etcd3/lease_manager.go) reuses a lease for a short window instead, granted with that
window's length added, so that every key attached to it lives at least its TTL:

    reuse window  = min(5% of the TTL, 60 s)
    reuse the last lease when it outlives now + TTL, does not outlive now + TTL + window, and
    holds fewer than 1,000 keys; else grant TTL + window.

`LeasePolicy` is that decision (pure); `LeaseManager` holds the last lease and grants through
the function it is given.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

REUSE_PERCENT = 0.05
REUSE_MAX_SECONDS = 60
MAX_KEYS_PER_LEASE = 1000


@dataclass
class HeldLease:
    id: int
    expires: float  # when etcd will let it go (monotonic seconds)
    keys: int  # keys attached to it so far


def reuse_window(ttl: int) -> int:
    return min(int(REUSE_PERCENT * ttl), REUSE_MAX_SECONDS)


def reusable(lease: HeldLease | None, now: float, ttl: int) -> bool:
    """Whether a key of `ttl` seconds written at `now` may go on `lease`: the lease outlives
    it, by no more than the reuse window, and is not full."""
    if lease is None:
        return False
    return (now + ttl < lease.expires <= now + ttl + reuse_window(ttl)
            and lease.keys < MAX_KEYS_PER_LEASE)


class LeaseManager:
    """The lease each expiring key is written with (thread-safe)."""

    def __init__(self, grant: Callable[[int], int],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._grant, self._clock = grant, clock
        self._lock = threading.Lock()
        self._last: dict[int, HeldLease] = {}  # by TTL

    def lease_for(self, ttl: int) -> int:
        with self._lock:
            now = self._clock()
            held = self._last.get(ttl)
            if reusable(held, now, ttl):
                assert held is not None
                held.keys += 1
                return held.id
            granted = ttl + reuse_window(ttl)
            lease_id = self._grant(granted)
            self._last[ttl] = HeldLease(lease_id, now + granted, 1)
            return lease_id

    def forget(self, lease_id: int) -> None:
        """etcd no longer knows `lease_id` (it expired early, or etcd lost it): grant afresh."""
        with self._lock:
            self._last = {ttl: held for ttl, held in self._last.items() if held.id != lease_id}
