"""The proxy loop (I/O): syncs the kernel with the service cache.

Changes only mark the state dirty; one thread syncs, so a burst of changes is coalesced into
one sync (at most one per `min_interval`). Every `full_every` seconds, and after any failure,
the sync is a full one (every chain rewritten, stale chains found in the kernel deleted), which
also repairs rules someone else removed.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Protocol

from node_agent.proxy.model import ProxyState
from node_agent.proxy.proxier import SyncResult
from node_agent.services import ServiceCache

log = logging.getLogger(__name__)


class Proxier(Protocol):
    name: str

    def sync(self, state: ProxyState, full: bool = False) -> SyncResult: ...

    def cleanup(self) -> bool: ...


def enable_bridge_netfilter() -> None:
    """Replies from a pod to another pod of the same host cross the bridge without being
    routed; only with bridge-nf-call-iptables does conntrack see them and undo the DNAT (else
    the client gets an answer from the pod's address instead of the service's, and drops it)."""
    path = Path("/proc/sys/net/bridge/bridge-nf-call-iptables")
    try:
        if path.exists() and path.read_text().strip() != "1":
            path.write_text("1")
    except OSError as e:
        log.warning("cannot enable %s: %s (same-host service traffic may fail)", path, e)


class ProxyManager:
    def __init__(self, cache: ServiceCache, proxier: Proxier, min_interval: float = 0.05,
                 full_every: float = 60.0, node_name: str = "") -> None:
        """`node_name`: this node, whose endpoints are the local ones (externalTrafficPolicy
        Local)."""
        self.cache, self.proxier, self.node_name = cache, proxier, node_name
        self.min_interval, self.full_every = min_interval, full_every
        self.dirty = threading.Event()
        self.stopping = threading.Event()
        self.last: SyncResult | None = None
        cache.add_listener(self.dirty.set)

    def start(self) -> None:
        threading.Thread(target=self._loop, name="proxy", daemon=True).start()

    def _loop(self) -> None:
        enable_bridge_netfilter()
        while not self.cache.synced.wait(1):
            if self.stopping.is_set():
                return
        last_full, needs_full = 0.0, True
        while not self.stopping.is_set():
            now = time.monotonic()
            if not needs_full:
                self.dirty.wait(max(0.0, last_full + self.full_every - now))
            full = needs_full or time.monotonic() - last_full >= self.full_every
            self.dirty.clear()
            state = ProxyState.build(self.cache.services(), self.cache.endpoints(),
                                     self.node_name)
            try:
                self.last = self.proxier.sync(state, full)
                needs_full = False
                if full:
                    last_full = time.monotonic()
                log.info("%s sync (%s): %d service ports written, %d chains deleted, %.3f s",
                         self.proxier.name, "full" if full else "partial", self.last.written,
                         self.last.deleted, self.last.seconds)
            except Exception as e:  # keep serving; the next sync is a full one
                needs_full = True
                log.warning("%s sync failed: %s", self.proxier.name, e)
                self.stopping.wait(1)
            self.stopping.wait(self.min_interval)
