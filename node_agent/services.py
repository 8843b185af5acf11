"""The agent's view of Services and Endpoints: two informers (kube.informer).

One cache feeds the proxy (rules), the DNS server (records) and the pod workers (service env
vars). `synced` is set once both kinds have been listed: before that, nobody may act on the
cache (an empty cache would make the proxy delete every rule after an agent restart).
Listeners are called (with no lock held, on an informer's thread) after every change; they must
only take note and return, never read the API.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from kube.client import Client
from kube.informer import Informer
from kube.objects import Object

WATCH_SECONDS = 60


class AllSynced:
    """Set once every informer has listed (the shape of a threading.Event's reading side)."""

    def __init__(self, informers: list[Informer]) -> None:
        self.informers = informers

    def is_set(self) -> bool:
        return all(i.has_synced() for i in self.informers)

    def wait(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        for informer in self.informers:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not informer.wait_for_sync(left):
                return False
        return True


class ServiceCache:
    RESOURCES = ("services", "endpoints")

    def __init__(self, client: Client) -> None:
        self.client = client
        self.informers = {r: Informer(client, r, watch_seconds=WATCH_SECONDS)
                          for r in self.RESOURCES}
        self._listeners: list[Callable[[], None]] = []
        for informer in self.informers.values():
            informer.add_handler(on_add=lambda _obj: self._changed(),
                                 on_update=lambda _old, _new: self._changed(),
                                 on_delete=lambda _obj: self._changed())
        self.synced = AllSynced(list(self.informers.values()))

    def add_listener(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def start(self) -> None:
        for informer in self.informers.values():
            informer.start()

    def stop(self) -> None:
        for informer in self.informers.values():
            informer.stop()

    # --- reading (the informers' objects: never change them) ---

    def services(self) -> list[Object]:
        return self.informers["services"].list()

    def endpoints(self) -> list[Object]:
        return self.informers["endpoints"].list()

    def service(self, namespace: str, name: str) -> Object | None:
        return self.informers["services"].get(namespace, name)

    def endpoints_of(self, namespace: str, name: str) -> Object | None:
        return self.informers["endpoints"].get(namespace, name)

    def services_in(self, namespace: str) -> list[Object]:
        return self.informers["services"].by_namespace(namespace)

    def _changed(self) -> None:
        for listener in self._listeners:
            listener()
