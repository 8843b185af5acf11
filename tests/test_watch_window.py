"""The watch cache: its pure parts (the event window, etcd events as watch events), and its
delivery to subscribers, on a fake etcd."""

from __future__ import annotations

import json

import pytest

from orchestrator.store.errors import Gone
from orchestrator.store.etcd import KV, KVEvent
from orchestrator.store.watchcache import (ADDED, DELETED, MODIFIED, EventWindow, WatchCache,
                                           WatchEvent, to_watch_event)


def ev(revision):
    return WatchEvent(ADDED, f"/k{revision}", {}, revision)


@pytest.mark.parametrize("capacity,appended,asked,expected", [
    (10, [11, 12, 13], 10, [11, 12, 13]),
    (10, [11, 12, 13], 12, [13]),
    (10, [11, 12, 13], 13, []),
    (10, [11, 12, 13], 99, []),
    (2, [11, 12, 13], 11, [12, 13]),
], ids=["from-start", "from-middle", "up-to-date", "from-the-future", "at-the-floor"])
def test_a_window_returns_the_events_after_a_revision(capacity, appended, asked, expected):
    window = EventWindow(start_revision=10, capacity=capacity)
    for r in appended:
        window.append(ev(r))
    assert [e.revision for e in window.since(asked)] == expected


@pytest.mark.parametrize("capacity,appended,asked", [
    (10, [11], 9),
    (2, [11, 12, 13], 10),
], ids=["before-the-start", "forgotten"])
def test_a_window_answers_gone_for_history_it_does_not_have(capacity, appended, asked):
    window = EventWindow(start_revision=10, capacity=capacity)
    for r in appended:
        window.append(ev(r))
    with pytest.raises(Gone, match=f"too old resource version: {asked}"):
        window.since(asked)


def test_a_window_refuses_events_out_of_order():
    window = EventWindow(start_revision=10)
    window.append(ev(12))
    with pytest.raises(ValueError):
        window.append(ev(12))


def kv(rev, created, value):
    return KV("/registry/pods/default/a", json.dumps(value).encode(), rev, created)


@pytest.mark.parametrize("event,kind,revision,spec", [
    (KVEvent("put", kv(5, 5, {"spec": 1}), None), ADDED, 5, 1),
    (KVEvent("put", kv(7, 5, {"spec": 2}), kv(5, 5, {"spec": 1})), MODIFIED, 7, 2),
    (KVEvent("delete", kv(9, 0, {}), kv(7, 5, {"spec": 2})), DELETED, 9, 2),
], ids=["create", "update", "delete-carries-last-state"])
def test_etcd_changes_become_kubernetes_watch_events(event, kind, revision, spec):
    out = to_watch_event(event)
    assert (out.type, out.revision, out.object["spec"]) == (kind, revision, spec)
    assert out.object["metadata"]["resourceVersion"] == str(revision)


class FakeEtcd:
    """What WatchCache asks of etcd: a list at revision 10, then a watch it feeds by hand."""

    def __init__(self):
        self.on_events = None

    def range_prefix(self, prefix):
        return [], 10

    def watch_prefix(self, prefix, start, on_events, on_error):
        assert start == 11
        self.on_events = on_events
        return lambda: None


def put(revision, created=None):
    return KVEvent("put", KV(f"/registry/pods/default/p{revision}", b"{}", revision,
                             created or revision), None)


def test_a_watch_from_a_revision_the_cache_has_not_reached_skips_what_the_list_held():
    """A client that listed from etcd at revision 13 while this cache had seen only 10 watches
    from 13: the cache's late events up to 13 are in its list already and never reach it."""
    etcd = FakeEtcd()
    cache = WatchCache(etcd, "/registry/pods/")  # type: ignore[arg-type]
    cache.start()
    early, late = [], []
    cache.subscribe(10, early.append)
    cache.subscribe(13, late.append)
    etcd.on_events([put(11), put(12), put(13)], 13)
    etcd.on_events([put(14)], 14)
    assert [e.revision for e in early] == [11, 12, 13, 14]
    assert [e.revision for e in late] == [14]
