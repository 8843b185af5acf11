"""The controller pattern: events only enqueue keys; workers take a key and call `sync(key)`,
which reads the current state and converges it (idempotently); an exception requeues the key
with back-off; every RESYNC seconds every object is enqueued as a safety net.

Controllers run in the master, read through the store (a fresh, consistent list when they must
count, the watch caches to be woken) and write through Objects, so every write is validated and
committed the same way as a user's.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kube.objects import Object
from kube.registry import ResourceType
from orchestrator.api.objects import Objects
from orchestrator.api.status import ApiError
from orchestrator.controllers.queue import WorkQueue
from orchestrator.store import StoreError
from orchestrator.store.watchcache import WatchEvent

log = logging.getLogger(__name__)

RESYNC = 30.0
MAX_PARALLEL_CREATES = 16


Keys = Callable[[WatchEvent], list[str]]  # a watch event → the keys of the objects it concerns


def object_key(obj: Object) -> str:
    meta = obj["metadata"]
    return f"{meta['namespace']}/{meta['name']}" if meta.get("namespace") else meta["name"]


def controller_keys(store: Any, resource: str) -> Keys:
    """A watch event of an owned object (a pod, a Job) → the key of the `resource` object that
    controls it (by its controller reference's uid), through the watch cache."""
    def keys(event: WatchEvent) -> list[str]:
        meta = event.object["metadata"]
        uid = next((r.get("uid") for r in meta.get("ownerReferences") or ()
                    if r.get("controller")), None)
        if uid is None:
            return []
        owners, _ = store.cached(resource, meta.get("namespace"))
        return [object_key(o) for o in owners if o["metadata"]["uid"] == uid]
    return keys


def slow_start(bodies: list[Object], create: Callable[[Object], Object],
               created: Callable[[Object], None], failed: Callable[[ApiError], None]) -> None:
    """Kubernetes' slow start: create `bodies` in batches of 1, 2, 4, … in parallel, stopping
    at the first failure (raised, after `failed`), so a template that cannot be created fails
    once, not once per copy."""
    done, batch = 0, 1
    with ThreadPoolExecutor(max_workers=MAX_PARALLEL_CREATES) as pool:
        while done < len(bodies):
            chunk = bodies[done:done + batch]
            errors = []
            for future in [pool.submit(create, body) for body in chunk]:
                try:
                    created(future.result())
                except ApiError as e:
                    errors.append(e)
            if errors:
                failed(errors[0])
                raise errors[0]
            done += len(chunk)
            batch *= 2


class Controller:
    name = "controller"
    workers = 2

    def __init__(self, objects: Objects) -> None:
        self.objects = objects
        self.store = objects.store
        self.queue = WorkQueue()
        self.stopping = threading.Event()
        # (keys_of, event) from the watch caches' threads (a StoreError: the watch broke, every
        # key is looked at again); None wakes the dispatcher to stop
        self._events: queue.SimpleQueue[tuple[Keys, WatchEvent | StoreError] | None] = \
            queue.SimpleQueue()
        self._unsubscribe: list[Callable[[], None]] = []

    # what to watch: resource → function from a watch event to the keys it concerns
    def triggers(self) -> dict[str, Keys]:
        raise NotImplementedError

    def all_keys(self) -> list[str]:
        raise NotImplementedError

    def sync(self, key: str) -> None:
        raise NotImplementedError

    def get_or_none(self, rt: ResourceType, namespace: str | None, name: str) -> Object | None:
        """The object as stored now, or None where there is none (a sync's usual start: the
        object may have gone since its key was queued)."""
        try:
            return self.objects.get(rt, namespace, name)
        except ApiError as e:
            if e.code == 404:
                return None
            raise

    def start(self) -> None:
        threading.Thread(target=self._watch_and_resync, name=f"{self.name}-resync",
                         daemon=True).start()
        threading.Thread(target=self._dispatch, name=f"{self.name}-events", daemon=True).start()
        for i in range(self.workers):
            threading.Thread(target=self._work, name=f"{self.name}-{i}", daemon=True).start()

    def stop(self) -> None:
        """Stop watching and working (when this master stops leading); a sync under way
        finishes. A stopped controller is not restarted: a new one is made."""
        self.stopping.set()
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self.queue.shutdown()
        self._events.put(None)

    def _watch_and_resync(self) -> None:
        while not self.stopping.is_set():
            try:
                for resource, keys_of in self.triggers().items():
                    self._unsubscribe.append(
                        self.store.watch(resource, None, None, self._enqueuer(keys_of)))
                break
            except StoreError as e:
                log.warning("%s waiting for the store: %s", self.name, e)
                self.stopping.wait(1)
        while not self.stopping.is_set():
            try:
                for key in self.all_keys():
                    self.queue.add(key)
            except StoreError as e:
                log.warning("%s resync: %s", self.name, e)
            self.stopping.wait(RESYNC)

    def _enqueuer(self, keys_of: Keys) -> Callable[[WatchEvent | StoreError], None]:
        """The watch cache calls this on its etcd thread, under its lock: it must not block nor
        read the store (a read of the same cache would deadlock). It only hands the event on;
        `_dispatch` maps it to keys."""
        def deliver(event: WatchEvent | StoreError) -> None:
            self._events.put((keys_of, event))
        return deliver

    def _dispatch(self) -> None:
        while not self.stopping.is_set():
            item = self._events.get()
            if item is None:
                return
            keys_of, event = item
            try:
                keys = keys_of(event) if isinstance(event, WatchEvent) else self.all_keys()
            except Exception as e:  # noqa: BLE001 - the resync catches what is missed here
                log.warning("%s: mapping an event to keys failed: %s", self.name, e)
                continue
            for key in keys:
                self.queue.add(key)

    def _work(self) -> None:
        while not self.stopping.is_set():
            key = self.queue.get(timeout=1)
            if key is None:
                continue
            try:
                self.sync(key)
                self.queue.forget(key)
            except Exception as e:  # noqa: BLE001 - requeue with back-off and keep going
                log.warning("%s: sync %s failed (%s); retrying", self.name, key, e)
                self.queue.add_rate_limited(key)
            finally:
                self.queue.done(key)
