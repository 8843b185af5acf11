"""A work queue of keys, as client-go's: a key is never handed to two workers at once; a key
added while it is being processed is processed again afterwards; adds of a waiting key are
coalesced; failed keys come back after an exponential back-off (reset by `forget`)."""

from __future__ import annotations

import heapq
import threading
import time


class WorkQueue:
    def __init__(self, base_delay: float = 0.05, max_delay: float = 30.0) -> None:
        self._cond = threading.Condition()
        self._queue: list[str] = []
        self._waiting: set[str] = set()  # in _queue
        self._processing: set[str] = set()
        self._dirty: set[str] = set()  # added again while processing
        self._delayed: list[tuple[float, str]] = []
        self._due: dict[str, float] = {}  # key → when its live entry in _delayed is due
        self._failures: dict[str, int] = {}
        self.base_delay, self.max_delay = base_delay, max_delay
        self._shutdown = False

    def add(self, key: str) -> None:
        with self._cond:
            if key in self._processing:
                self._dirty.add(key)
            elif key not in self._waiting:
                self._waiting.add(key)
                self._queue.append(key)
                self._cond.notify()

    def add_after(self, key: str, delay: float) -> None:
        """Add `key` after `delay` seconds; a key already due sooner is left as it is (one
        pending entry per key, so a periodic re-arm does not grow the heap)."""
        ready = time.monotonic() + delay
        with self._cond:
            if self._due.get(key, float("inf")) <= ready:
                return
            self._due[key] = ready
            heapq.heappush(self._delayed, (ready, key))
            self._cond.notify()

    def next_delay(self, key: str) -> float:
        """The back-off the next failure of `key` gets: base·2^failures so far, capped."""
        with self._cond:
            return float(min(self.base_delay * (2 ** self._failures.get(key, 0)),
                             self.max_delay))

    def add_rate_limited(self, key: str) -> None:
        """Requeue after a failure, after next_delay(key)."""
        delay = self.next_delay(key)
        with self._cond:
            self._failures[key] = self._failures.get(key, 0) + 1
        self.add_after(key, delay)

    def forget(self, key: str) -> None:
        with self._cond:
            self._failures.pop(key, None)

    def get(self, timeout: float | None = None) -> str | None:
        """The next key (now owned by the caller until `done`), or None at shutdown/timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                self._promote_delayed()
                if self._queue:
                    key = self._queue.pop(0)
                    self._waiting.discard(key)
                    self._processing.add(key)
                    return key
                if self._shutdown:
                    return None
                wait = None if deadline is None else deadline - time.monotonic()
                if self._delayed:
                    until_next = self._delayed[0][0] - time.monotonic()
                    wait = until_next if wait is None else min(wait, until_next)
                if wait is not None and wait <= 0:
                    if deadline is not None and time.monotonic() >= deadline:
                        return None
                    continue
                self._cond.wait(wait)

    def done(self, key: str) -> None:
        with self._cond:
            self._processing.discard(key)
            if key in self._dirty:
                self._dirty.discard(key)
                self._waiting.add(key)
                self._queue.append(key)
                self._cond.notify()

    def shutdown(self) -> None:
        with self._cond:
            self._shutdown = True
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return len(self._queue)

    def _promote_delayed(self) -> None:
        now = time.monotonic()
        while self._delayed and self._delayed[0][0] <= now:
            ready, key = heapq.heappop(self._delayed)
            if self._due.get(key) != ready:
                continue  # superseded by an earlier entry that already fired
            del self._due[key]
            if key in self._processing:
                self._dirty.add(key)
            elif key not in self._waiting:
                self._waiting.add(key)
                self._queue.append(key)
