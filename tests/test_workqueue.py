"""The controllers' work queue: one worker per key, coalescing, re-processing, back-off."""

from __future__ import annotations

import threading
import time

from orchestrator.controllers.queue import WorkQueue


def test_adds_of_a_waiting_key_are_coalesced():
    q = WorkQueue()
    for _ in range(3):
        q.add("a")
    q.add("b")
    assert [q.get(0), q.get(0), q.get(0.01)] == ["a", "b", None]


def test_a_key_is_never_given_to_two_workers_and_an_add_during_processing_runs_again():
    q = WorkQueue()
    q.add("a")
    assert q.get(0) == "a"
    q.add("a")  # while processing
    assert q.get(0.05) is None  # not handed out again yet
    q.done("a")
    assert q.get(0) == "a"


def test_failures_come_back_after_a_doubling_capped_back_off_and_forget_resets_it():
    q = WorkQueue(base_delay=0.01, max_delay=0.05)
    delays = []
    for _ in range(5):
        delays.append(q.next_delay("a"))
        q.add_rate_limited("a")
        assert q.get(1) == "a"  # it does come back
        q.done("a")
    assert delays == [0.01, 0.02, 0.04, 0.05, 0.05]
    q.forget("a")
    assert q.next_delay("a") == 0.01


def test_concurrent_workers_process_each_key_alone():
    q = WorkQueue()
    active: set[str] = set()
    overlaps = []
    lock = threading.Lock()

    def worker():
        while (key := q.get(0.2)) is not None:
            with lock:
                if key in active:
                    overlaps.append(key)
                active.add(key)
            time.sleep(0.001)
            with lock:
                active.discard(key)
            q.done(key)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for i in range(200):
        q.add(f"k{i % 5}")
    for t in threads:
        t.join()
    assert overlaps == []
