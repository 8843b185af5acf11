"""The agent's view of Services and Endpoints (I/O): listed, then kept current by watches.

One cache feeds the proxy (rules), the DNS server (records) and the pod workers (service env
vars). `synced` is set once both kinds have been listed: before that, nobody may act on the
cache (an empty cache would make the proxy delete every rule after an agent restart).
Listeners are called (with no lock held) after every change; they must only take note and
return, never read the API.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from kube.client import ApiError, Client

log = logging.getLogger(__name__)

Object = dict[str, Any]
WATCH_SECONDS = 60


def _key(obj: Object) -> tuple[str, str]:
    return obj["metadata"]["namespace"], obj["metadata"]["name"]


class ServiceCache:
    RESOURCES = ("services", "endpoints")

    def __init__(self, client: Client) -> None:
        self.client = client
        self._objects: dict[str, dict[tuple[str, str], Object]] = {r: {} for r in self.RESOURCES}
        self._listed = {r: threading.Event() for r in self.RESOURCES}
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []
        self.synced = threading.Event()
        self.stopping = threading.Event()

    def add_listener(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def start(self) -> None:
        for resource in self.RESOURCES:
            threading.Thread(target=self._reflect, args=(resource,), name=f"cache-{resource}",
                             daemon=True).start()

    # --- reading (snapshots; callers may keep them) ---

    def services(self) -> list[Object]:
        with self._lock:
            return list(self._objects["services"].values())

    def endpoints(self) -> list[Object]:
        with self._lock:
            return list(self._objects["endpoints"].values())

    def service(self, namespace: str, name: str) -> Object | None:
        with self._lock:
            return self._objects["services"].get((namespace, name))

    def endpoints_of(self, namespace: str, name: str) -> Object | None:
        with self._lock:
            return self._objects["endpoints"].get((namespace, name))

    def services_in(self, namespace: str) -> list[Object]:
        with self._lock:
            return [s for (ns, _), s in self._objects["services"].items() if ns == namespace]

    # --- keeping it current ---

    def _changed(self) -> None:
        for listener in self._listeners:
            listener()

    def _reflect(self, resource: str) -> None:
        while not self.stopping.is_set():
            try:
                listed = self.client.list(resource)
                with self._lock:
                    self._objects[resource] = {_key(o): o for o in listed.items}
                self._listed[resource].set()
                if all(e.is_set() for e in self._listed.values()):
                    self.synced.set()
                self._changed()
                version = listed.resource_version
                while not self.stopping.is_set():
                    for event in self.client.watch(resource, resource_version=version,
                                                   timeout_seconds=WATCH_SECONDS):
                        version = event.object["metadata"].get("resourceVersion", version)
                        if event.type == "BOOKMARK":
                            continue
                        with self._lock:
                            if event.type == "DELETED":
                                self._objects[resource].pop(_key(event.object), None)
                            else:
                                self._objects[resource][_key(event.object)] = event.object
                        self._changed()
            except (ApiError, OSError) as e:
                # 410 Expired or a broken connection: list again (that also catches deletions
                # the watch missed).
                log.info("%s watch: %s; listing again", resource, e)
                self.stopping.wait(0.5)
            except Exception:  # a bug must not silently stop the cache
                log.exception("%s cache", resource)
                self.stopping.wait(1)
