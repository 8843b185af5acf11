"""An informer, as client-go has one (a reflector, a store and its indexes, handlers), small.

    pods = Informer(client, "pods", field_selector="spec.nodeName=host1")
    pods.add_handler(on_add=..., on_update=..., on_delete=...)
    pods.start()                      # a thread: list, then watch from the list's version
    pods.wait_for_sync(10)            # True once the first list is in the store
    pods.get("default", "web-1"); pods.by_namespace("default"); pods.by_label("app", "web")

Contract:
- **List, then watch** from the list's resourceVersion; when the watch ends (its timeout) it is
  opened again from the last version seen (bookmarks included). On 410 Expired, a broken stream
  or an unreachable server, it **lists again**, after a back-off that grows while failures
  repeat. A relist is compared with the store: what appeared is an add, what changed an update,
  what vanished a delete, so handlers see every change the watch missed, exactly once.
- **Handlers** run on the informer's thread, in the order changes happened, with no lock held;
  they must return quickly (enqueue a key, set a flag) and may read the informer. An exception
  in a handler is logged, never fatal. `on_update(old, new)` runs only when the resourceVersion
  changed.
- **Objects** handed out (to handlers and by the readers) are the store's own, shared and
  read-only (kube.objects.freeze: a change raises TypeError); copy.deepcopy gives a mutable
  copy.
- `has_synced()` is true once the first list is in the store: before that an empty store means
  "not known yet", not "nothing there" (an agent must not delete rules because of it).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from kube.client import ApiError, ApiUnavailable, Client, ObjectList
from kube.objects import freeze
from kube.objects import Object

log = logging.getLogger(__name__)

Objects = list[Object]  # (inside Informer, `list` is the method)
Key = tuple[str, str]  # (namespace or "", name)
WATCH_SECONDS = 300
BACKOFF_FIRST, BACKOFF_MAX = 0.2, 5.0


def key_of(obj: Object) -> Key:
    meta = obj["metadata"]
    return meta.get("namespace") or "", meta["name"]


@dataclass(frozen=True)
class Handler:
    on_add: Callable[[Object], None] | None = None
    on_update: Callable[[Object, Object], None] | None = None
    on_delete: Callable[[Object], None] | None = None


class Informer:
    def __init__(self, client: Client, resource: str, namespace: str | None = None,
                 label_selector: str | None = None, field_selector: str | None = None,
                 watch_seconds: int = WATCH_SECONDS) -> None:
        self.client, self.resource, self.namespace = client, resource, namespace
        self.label_selector, self.field_selector = label_selector, field_selector
        self.watch_seconds = watch_seconds
        self.stopping = threading.Event()
        self._synced = threading.Event()
        self._lock = threading.Lock()  # guards the store and its indexes
        self._objects: dict[Key, Object] = {}
        self._by_namespace: dict[str, set[Key]] = {}
        self._by_label: dict[tuple[str, str], set[Key]] = {}
        self._handlers: list[Handler] = []
        self.resource_version = ""

    # --- set-up ---

    def add_handler(self, on_add: Callable[[Object], None] | None = None,
                    on_update: Callable[[Object, Object], None] | None = None,
                    on_delete: Callable[[Object], None] | None = None) -> None:
        """Add before start(): a handler added later misses the adds of the first list."""
        self._handlers.append(Handler(on_add, on_update, on_delete))

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name=f"informer-{self.resource}", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self.stopping.set()

    # --- readers ---

    def has_synced(self) -> bool:
        return self._synced.is_set()

    def wait_for_sync(self, timeout: float | None = None) -> bool:
        return self._synced.wait(timeout)

    def get(self, namespace: str | None, name: str) -> Object | None:
        with self._lock:
            return self._objects.get((namespace or "", name))

    def list(self) -> list[Object]:
        with self._lock:
            return list(self._objects.values())

    def by_namespace(self, namespace: str) -> Objects:
        with self._lock:
            return [self._objects[k] for k in sorted(self._by_namespace.get(namespace, ()))]

    def by_label(self, key: str, value: str) -> Objects:
        with self._lock:
            return [self._objects[k] for k in sorted(self._by_label.get((key, value), ()))]

    # --- the reflector ---

    def run(self, initial: ObjectList | None = None, fail_fast: bool = False) -> None:
        """List and watch until stop() (blocking; start() runs it on a thread). `initial`, a
        list the caller already made (orchctl's `get -w` printed it), stands for the first
        list: its objects are in the store without add events, and the watch starts from its
        version. With `fail_fast` (a command line), an API error that retrying cannot cure
        (401, 403, 404, 400…: anything but 410 and unavailability) is raised instead of being
        retried (what a daemon does: its permissions or the kind may come)."""
        if initial is not None:
            self._replace(initial.items, notify=False)
            self.resource_version = initial.resource_version
            self._synced.set()
        backoff = BACKOFF_FIRST
        listed = initial is not None
        while not self.stopping.is_set():
            try:
                if not listed:
                    page = self.client.list(self.resource, self.namespace, self.label_selector,
                                            self.field_selector)
                    self._replace(page.items, notify=True)
                    self.resource_version = page.resource_version
                    self._synced.set()
                    listed = True
                self._watch()
                backoff = BACKOFF_FIRST  # the stream ended normally: watch again from there
            except (ApiError, OSError, ValueError) as e:
                if self.stopping.is_set():
                    return
                if fail_fast and isinstance(e, ApiError) and not isinstance(e, ApiUnavailable) \
                        and e.code != 410:
                    raise
                # 410 Expired, a broken stream, the server away: list again.
                level = logging.INFO if isinstance(e, ApiError) and e.code == 410 \
                    else logging.WARNING
                log.log(level, "%s informer: %s; listing again in %.1f s", self.resource, e,
                        backoff)
                listed = False
                self.stopping.wait(backoff if not isinstance(e, ApiUnavailable)
                                   else max(backoff, 1.0))
                backoff = min(backoff * 2, BACKOFF_MAX)

    def _watch(self) -> None:
        for event in self.client.watch(self.resource, self.namespace, self.resource_version,
                                       self.label_selector, self.field_selector,
                                       timeout_seconds=self.watch_seconds):
            if self.stopping.is_set():
                return
            obj = event.object
            self.resource_version = (obj.get("metadata") or {}).get("resourceVersion") \
                or self.resource_version
            if event.type == "BOOKMARK":
                continue
            if event.type == "DELETED":
                old = self._remove(key_of(obj))
                self._notify_delete(old or freeze(obj))
            else:
                old, new = self._put(obj)
                self._notify_put(old, new)

    # --- the store ---

    def _put(self, obj: Object) -> tuple[Object | None, Object]:
        """Store `obj` (frozen); (the object it replaced, the one stored)."""
        obj = freeze(obj)
        key = key_of(obj)
        with self._lock:
            old = self._objects.get(key)
            if old is not None:
                self._unindex(key, old)
            self._objects[key] = obj
            self._index(key, obj)
        return old, obj

    def _remove(self, key: Key) -> Object | None:
        with self._lock:
            old = self._objects.pop(key, None)
            if old is not None:
                self._unindex(key, old)
        return old

    def _replace(self, items: Objects, notify: bool) -> None:
        """A fresh list: the store becomes exactly `items`; with `notify`, the differences are
        delivered as adds, updates and deletes."""
        fresh = {key_of(o): freeze(o) for o in items}
        with self._lock:
            before = self._objects
            self._objects, self._by_namespace, self._by_label = {}, {}, {}
            for key, obj in fresh.items():
                self._objects[key] = obj
                self._index(key, obj)
        if not notify:
            return
        for key, obj in fresh.items():
            self._notify_put(before.get(key), obj)
        for key, old in before.items():
            if key not in fresh:
                self._notify_delete(old)

    def _index(self, key: Key, obj: Object) -> None:
        self._by_namespace.setdefault(key[0], set()).add(key)
        for label in (obj["metadata"].get("labels") or {}).items():
            self._by_label.setdefault(label, set()).add(key)

    def _unindex(self, key: Key, obj: Object) -> None:
        self._by_namespace.get(key[0], set()).discard(key)
        for label in (obj["metadata"].get("labels") or {}).items():
            self._by_label.get(label, set()).discard(key)

    # --- handlers ---

    def _notify_put(self, old: Object | None, new: Object) -> None:
        for h in self._handlers:
            if old is None:
                if h.on_add:
                    self._call(h.on_add, new)
            elif _version(old) != _version(new) and h.on_update:
                self._call(h.on_update, old, new)

    def _notify_delete(self, old: Object) -> None:
        for h in self._handlers:
            if h.on_delete:
                self._call(h.on_delete, old)

    def _call(self, fn: Callable[..., None], *args: Object) -> None:
        try:
            fn(*args)
        except Exception:  # a handler's bug must not stop the informer
            log.exception("%s informer: a handler failed", self.resource)


def _version(obj: Object) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")
