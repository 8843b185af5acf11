"""The watch cache: one etcd watch per resource feeds an in-memory copy of every object and a
window of recent events, from which any number of client watches are served without costing
etcd anything (Kubernetes' "cacher").

    EventWindow  pure: the recent events in revision order and the revision below which history
                 is forgotten (asking for it is 410 Gone).
    WatchCache   I/O: lists the resource at revision R, watches etcd from R+1, applies each event
                 to its copy, appends it to the window and hands it to the subscribers.

Contract for subscribers: `subscribe(rv, deliver)` first delivers every cached event after rv,
then every new event, in revision order, each exactly once, with no gap between the two (both
happen under the cache's lock). `deliver` runs on the etcd watch thread, under that lock: it
must not block and must not call back into the store (reading this cache again would deadlock);
it hands the event to a queue and returns. The objects of the cache and of its events are
shared by every reader: they are read-only (kube.objects.freeze); copy before changing. If the
cache must restart its etcd watch from a fresh list (the revision it needed was compacted),
subscribers are closed with Gone and clients re-list, as Kubernetes clients do.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from kube.objects import Object, freeze
from orchestrator.store.errors import Gone, StoreError
from orchestrator.store.etcd import Etcd, KVEvent

log = logging.getLogger(__name__)

ADDED, MODIFIED, DELETED = "ADDED", "MODIFIED", "DELETED"
DEFAULT_WINDOW = 10_000


@dataclass(frozen=True)
class WatchEvent:
    type: str  # ADDED | MODIFIED | DELETED
    key: str
    object: Object  # for DELETED: the object as it was, at the deletion's revision
    revision: int


def with_resource_version(obj: Object, revision: int) -> Object:
    """A copy of `obj` whose metadata.resourceVersion is `revision` (as Kubernetes, a string)."""
    metadata = {**obj.get("metadata", {}), "resourceVersion": str(revision)}
    return {**obj, "metadata": metadata}


def decode(value: bytes, revision: int) -> Object:
    return with_resource_version(json.loads(value), revision)


def to_watch_event(e: KVEvent) -> WatchEvent:
    """Pure: an etcd change as a Kubernetes watch event."""
    if e.kind == "delete":
        if e.prev is None:
            raise ValueError(f"delete of {e.kv.key} without its previous value")
        return WatchEvent(DELETED, e.kv.key, freeze(decode(e.prev.value, e.kv.mod_revision)),
                          e.kv.mod_revision)
    kind = ADDED if e.kv.create_revision == e.kv.mod_revision else MODIFIED
    return WatchEvent(kind, e.kv.key, freeze(decode(e.kv.value, e.kv.mod_revision)),
                      e.kv.mod_revision)


class EventWindow:
    """The last `capacity` events, in revision order. Pure; not thread-safe by itself.

    `floor` is the newest revision whose events are *not* all in the window: a client at
    resourceVersion rv can be served iff rv >= floor.
    """

    def __init__(self, start_revision: int, capacity: int = DEFAULT_WINDOW) -> None:
        self.floor = start_revision
        self.capacity = capacity
        self._events: deque[WatchEvent] = deque()

    @property
    def revision(self) -> int:
        """The newest revision the window knows of."""
        return self._events[-1].revision if self._events else self.floor

    def append(self, event: WatchEvent) -> None:
        if event.revision <= self.revision:
            raise ValueError(f"event at revision {event.revision} after {self.revision}")
        self._events.append(event)
        while len(self._events) > self.capacity:
            self.floor = self._events.popleft().revision

    def since(self, revision: int) -> list[WatchEvent]:
        """Events after `revision`, oldest first; Gone when some of them were forgotten."""
        if revision < self.floor:
            raise Gone(f"too old resource version: {revision} (oldest available {self.floor})")
        return [e for e in self._events if e.revision > revision]


Deliver = Callable[[WatchEvent | StoreError], None]


class WatchCache:
    def __init__(self, etcd: Etcd, prefix: str, capacity: int = DEFAULT_WINDOW) -> None:
        self.etcd = etcd
        self.prefix = prefix
        self.capacity = capacity
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._objects: dict[str, Object] = {}
        self._window = EventWindow(0, capacity)
        self._subscribers: dict[int, tuple[int, Deliver]] = {}  # id → (after revision, deliver)
        self._next_id = 0
        self._cancel: Callable[[], None] | None = None
        self._closed = False

    # --- life cycle ---

    def start(self) -> None:
        """List, then watch from the list's revision. Raises StoreError if etcd is unavailable."""
        kvs, revision = self.etcd.range_prefix(self.prefix)
        with self._lock:
            self._objects = {kv.key: freeze(decode(kv.value, kv.mod_revision)) for kv in kvs}
            self._window = EventWindow(revision, self.capacity)
        self._cancel = self.etcd.watch_prefix(self.prefix, revision + 1, self._on_events,
                                              self._on_error)
        self._ready.set()

    def close(self) -> None:
        self._closed = True
        if self._cancel:
            self._cancel()
        with self._lock:
            subscribers, self._subscribers = self._subscribers, {}
        for _after, deliver in subscribers.values():
            deliver(Gone("the watch cache was closed", self.prefix))

    def wait_ready(self, timeout: float) -> bool:
        return self._ready.wait(timeout)

    # --- etcd side (runs on the watch thread) ---

    def _on_events(self, events: list[KVEvent], _header_revision: int) -> None:
        with self._lock:
            for raw in events:
                event = to_watch_event(raw)
                if event.type == DELETED:
                    self._objects.pop(event.key, None)
                else:
                    self._objects[event.key] = event.object
                self._window.append(event)
                for after, deliver in list(self._subscribers.values()):
                    if event.revision > after:
                        deliver(event)

    def _on_error(self, error: StoreError) -> None:
        """The etcd watch broke (a member died, or it was compacted). Resume from the last
        revision seen (the client fails over to another member); if that is compacted,
        re-list and close every subscriber with Gone."""
        if self._closed:
            return
        log.warning("watch on %s broke (%s); resuming", self.prefix, error)
        threading.Thread(target=self._resume, name=f"resume-{self.prefix}", daemon=True).start()

    def _resume(self) -> None:
        delay = 0.1
        while not self._closed:
            try:
                # A KV call first: only KV errors make the client mark a dead member as failed
                # and move to another one; a watch error alone would retry the dead member.
                self.etcd.current_revision()
                with self._lock:
                    after = self._window.revision
                self._cancel = self.etcd.watch_prefix(self.prefix, after + 1, self._on_events,
                                                      self._on_error)
                return
            except Gone:
                with self._lock:
                    subscribers, self._subscribers = self._subscribers, {}
                for _after, deliver in subscribers.values():
                    deliver(Gone("the watch cache lost its history; list again", self.prefix))
                try:
                    self.start()
                    return
                except StoreError as e:
                    log.warning("re-list of %s failed: %s", self.prefix, e)
            except StoreError as e:
                log.warning("resuming the watch on %s failed: %s", self.prefix, e)
            time.sleep(delay)
            delay = min(delay * 2, 2.0)

    # --- client side ---

    def list(self, namespace_prefix: str | None = None) -> tuple[list[Object], int]:
        """Every cached object (under `namespace_prefix`, a key prefix, if given), sorted by
        key, and the revision the copy is at."""
        with self._lock:
            items = [obj for key, obj in sorted(self._objects.items())
                     if namespace_prefix is None or key.startswith(namespace_prefix)]
            return items, self._window.revision

    def subscribe(self, revision: int, deliver: Deliver) -> Callable[[], None]:
        """Deliver every event after `revision`, then every new one; returns unsubscribe.
        Raises Gone when `revision` is older than the window.

        `revision` may be newer than the cache (a client listed from etcd, at a revision this
        cache's etcd watch has not reached yet): the events up to it, which that list already
        holds, are not delivered when they arrive. Each event reaches a client once, and never
        one older than what it has."""
        with self._lock:
            backlog = self._window.since(revision)
            for event in backlog:
                deliver(event)
            subscriber_id = self._next_id
            self._next_id += 1
            self._subscribers[subscriber_id] = (revision, deliver)

        def unsubscribe() -> None:
            with self._lock:
                self._subscribers.pop(subscriber_id, None)

        return unsubscribe

    @property
    def revision(self) -> int:
        with self._lock:
            return self._window.revision
