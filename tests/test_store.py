"""The store against a real single-member etcd: CAS, list revisions, watch order, 410 Gone."""

from __future__ import annotations

import queue
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from orchestrator.store import (ADDED, DELETED, MODIFIED, AlreadyExists, Conflict, Etcd, Gone,
                                NotFound, Store, Unavailable)
from orchestrator.store.watchcache import WatchCache


@pytest.fixture
def store(etcd_server):
    s = Store(Etcd([etcd_server.url]))
    yield s
    s.close()
    s.etcd.close()


@pytest.fixture
def resource():
    """A resource name of the test's own, so tests sharing one etcd never see each other."""
    return f"things{secrets.token_hex(4)}"


def thing(name, namespace="default", **spec):
    return {"apiVersion": "v1", "kind": "Thing",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def collect(store, resource, namespace, rv):
    q: queue.Queue = queue.Queue()
    stop = store.watch(resource, namespace, rv, q.put)
    return q, stop


def drain(q, n, timeout=10):
    return [q.get(timeout=timeout) for _ in range(n)]


def test_create_sets_a_resource_version_that_get_returns(store, resource):
    created = store.create(resource, thing("a", color="red"))
    got = store.get(resource, "default", "a")
    assert got == created
    assert int(got["metadata"]["resourceVersion"]) > 0
    assert got["spec"] == {"color": "red"}


def test_creating_an_existing_object_is_already_exists_and_changes_nothing(store, resource):
    first = store.create(resource, thing("a", color="red"))
    with pytest.raises(AlreadyExists):
        store.create(resource, thing("a", color="blue"))
    assert store.get(resource, "default", "a") == first


def test_an_update_at_the_current_version_succeeds_and_moves_the_version(store, resource):
    created = store.create(resource, thing("a", color="red"))
    created["spec"]["color"] = "blue"
    updated = store.update(resource, created)
    assert int(updated["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])
    assert store.get(resource, "default", "a")["spec"]["color"] == "blue"


def test_an_update_at_a_stale_version_is_a_conflict_and_changes_nothing(store, resource):
    stale = store.create(resource, thing("a", color="red"))
    fresh = store.update(resource, {**stale, "spec": {"color": "blue"}})
    with pytest.raises(Conflict):
        store.update(resource, {**stale, "spec": {"color": "green"}})
    assert store.get(resource, "default", "a") == fresh


def test_updating_a_missing_object_is_not_found(store, resource):
    obj = thing("ghost")
    obj["metadata"]["resourceVersion"] = "5"
    with pytest.raises(NotFound):
        store.update(resource, obj)


def test_an_update_without_a_resource_version_is_refused(store, resource):
    store.create(resource, thing("a"))
    with pytest.raises(ValueError, match="resourceVersion is required"):
        store.update(resource, thing("a", color="x"))


def test_delete_honours_the_precondition_and_returns_the_last_state(store, resource):
    stale = store.create(resource, thing("a", color="red"))
    store.update(resource, {**stale, "spec": {"color": "blue"}})
    with pytest.raises(Conflict):
        store.delete(resource, "default", "a", stale["metadata"]["resourceVersion"])
    deleted = store.delete(resource, "default", "a")
    assert deleted["spec"] == {"color": "blue"}
    with pytest.raises(NotFound):
        store.get(resource, "default", "a")
    with pytest.raises(NotFound):
        store.delete(resource, "default", "a")


def test_concurrent_guaranteed_updates_lose_no_increment(store, resource):
    store.create(resource, thing("counter", n=0))

    def increment(_):
        store.guaranteed_update(resource, "default", "counter",
                                lambda o: {**o, "spec": {"n": o["spec"]["n"] + 1}}, attempts=100)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(increment, range(40)))
    assert store.get(resource, "default", "counter")["spec"]["n"] == 40


def test_list_returns_one_revision_and_only_the_namespace_asked(store, resource):
    store.create(resource, thing("a", "ns1"))
    store.create(resource, thing("b", "ns1"))
    last = store.create(resource, thing("c", "ns2"))
    items, revision = store.list(resource, "ns1")
    assert [o["metadata"]["name"] for o in items] == ["a", "b"]
    assert revision >= int(last["metadata"]["resourceVersion"])
    everything, _ = store.list(resource)
    assert len(everything) == 3
    assert store.list(resource, "ns")[0] == []  # "ns" is not a prefix of "ns1"


def test_a_watch_from_a_list_revision_sees_later_changes_in_order(store, resource):
    store.create(resource, thing("before"))
    _, revision = store.list(resource)
    q, stop = collect(store, resource, None, revision)
    try:
        a = store.create(resource, thing("a", color="red"))
        a = store.update(resource, {**a, "spec": {"color": "blue"}})
        store.delete(resource, "default", "a")
        events = drain(q, 3)
    finally:
        stop()
    assert [e.type for e in events] == [ADDED, MODIFIED, DELETED]
    assert all(e.object["metadata"]["name"] == "a" for e in events)
    revisions = [e.revision for e in events]
    assert revisions == sorted(revisions) and revisions[0] > revision
    assert events[1].object["spec"] == {"color": "blue"}
    assert events[2].object["spec"] == {"color": "blue"}  # a deletion carries the last state
    assert q.empty()


def test_a_watch_from_an_older_revision_replays_what_happened_since(store, resource):
    _, listed = store.list(resource)
    first = store.create(resource, thing("a"))
    store.create(resource, thing("b"))
    store.create(resource, thing("c"))
    q, stop = collect(store, resource, None, first["metadata"]["resourceVersion"])
    assert [e.object["metadata"]["name"] for e in drain(q, 2)] == ["b", "c"]
    stop()
    q, stop = collect(store, resource, None, listed)
    assert [e.object["metadata"]["name"] for e in drain(q, 3)] == ["a", "b", "c"]
    stop()


def test_a_watch_from_before_the_cache_began_is_gone(store, resource):
    before = store.create(resource, thing("a"))
    store.create(resource, thing("b"))
    store.cache(resource)
    with pytest.raises(Gone, match="too old resource version"):
        store.watch(resource, None, before["metadata"]["resourceVersion"], lambda e: None)


def test_a_watch_in_a_namespace_sees_only_that_namespace(store, resource):
    q, stop = collect(store, resource, "ns1", 0)
    try:
        store.create(resource, thing("other", "ns2"))
        store.create(resource, thing("mine", "ns1"))
        [event] = drain(q, 1)
    finally:
        stop()
    assert event.object["metadata"]["name"] == "mine"


def test_many_watchers_share_one_etcd_watch_and_all_see_every_event(store, resource):
    queues = [collect(store, resource, None, 0) for _ in range(50)]
    try:
        for i in range(5):
            store.create(resource, thing(f"o{i}"))
        for q, _ in queues:
            assert [e.object["metadata"]["name"] for e in drain(q, 5)] == [f"o{i}" for i in range(5)]
    finally:
        for _, stop in queues:
            stop()
    assert len(store._caches) == 1


def test_reading_a_compacted_revision_is_gone(private_etcd_server):
    etcd = Etcd([private_etcd_server.url])
    store = Store(etcd)
    try:
        old = store.create("things", thing("a"))
        store.update("things", {**old, "spec": {"v": 2}})
        _, now = store.list("things")
        etcd.compact(now)
        with pytest.raises(Gone):
            etcd.range_prefix("/registry/things/", revision=int(old["metadata"]["resourceVersion"]))
        errors: queue.Queue = queue.Queue()
        cancel = etcd.watch_prefix("/registry/things/", int(old["metadata"]["resourceVersion"]),
                                   lambda *a: None, errors.put)
        try:
            assert isinstance(errors.get(timeout=10), Gone)
        finally:
            cancel()
    finally:
        store.close()
        etcd.close()


def test_a_watch_cache_forgets_beyond_its_window_and_answers_gone(store, resource):
    cache = WatchCache(store.etcd, f"/registry/{resource}/", capacity=3)
    cache.start()
    try:
        revisions = [int(store.create(resource, thing(f"o{i}"))["metadata"]["resourceVersion"])
                     for i in range(5)]
        done = threading.Event()
        while cache.revision < revisions[-1]:
            done.wait(0.01)
        with pytest.raises(Gone):
            cache.subscribe(revisions[0], lambda e: None)
        got: list = []
        cache.subscribe(revisions[1], got.append)()
        assert [e.revision for e in got] == revisions[2:]
        items, revision = cache.list()
        assert len(items) == 5 and revision == revisions[-1]
    finally:
        cache.close()


def test_an_unreachable_etcd_is_unavailable_not_a_crash():
    etcd = Etcd(["http://127.0.0.1:1"], timeout=1)
    try:
        with pytest.raises(Unavailable):
            etcd.get("/registry/x")
    finally:
        etcd.close()


def test_claims_are_taken_with_their_owner_and_released_with_it(private_etcd_server):
    from orchestrator.store import Claim, ClaimsTaken
    store = Store(Etcd([private_etcd_server.url]))
    ip, port = Claim("clusterips", "10.96.0.9"), Claim("nodeports", "30009")
    try:
        a = store.create_claiming("services", {"metadata": {"name": "a", "namespace": "d"}},
                                  [ip, port])
        with pytest.raises(ClaimsTaken) as taken:
            store.create_claiming("services", {"metadata": {"name": "b", "namespace": "d"}},
                                  [ip, Claim("nodeports", "30010")])
        assert taken.value.taken == (ip,)
        with pytest.raises(NotFound):
            store.get("services", "d", "b")  # nothing of b was written
        assert store.claimed("clusterips") == {"10.96.0.9"}
        a2 = store.update_claiming("services", a, a, claim=[Claim("nodeports", "30011")],
                                   release=[port])
        assert store.claimed("nodeports") == {"30011"}
        with pytest.raises(Conflict):
            store.update_claiming("services", a, a)  # a's resourceVersion is stale now
        store.delete_releasing("services", a2, [ip, Claim("nodeports", "30011")])
        assert store.claimed("clusterips") == set() and store.claimed("nodeports") == set()
        cidr = Claim("podcidrs", "10.244.7.0/24")
        store.create_claiming("nodes", {"metadata": {"name": "n"}}, [cidr])
        assert store.claimed("podcidrs") == {"10.244.7.0/24"}
    finally:
        store.close()
        store.etcd.close()


def test_the_watch_caches_objects_are_shared_read_only(etcd_server):
    import copy
    store = Store(Etcd([etcd_server.url]))
    ns = f"ro{secrets.token_hex(3)}"
    try:
        store.create("configmaps", {"metadata": {"name": "c", "namespace": ns},
                                    "data": {"k": "v"}})
        deadline = time.monotonic() + 10
        while not store.cached("configmaps", ns)[0] and time.monotonic() < deadline:
            time.sleep(0.05)
        [cached] = store.cached("configmaps", ns)[0]
        with pytest.raises(TypeError):
            cached["data"]["k"] = "changed"
        with pytest.raises(TypeError):
            cached["metadata"].setdefault("labels", {})
        mine = copy.deepcopy(cached)
        mine["data"]["k"] = "mine"
        assert store.cached("configmaps", ns)[0][0]["data"] == {"k": "v"}
        fresh = store.get("configmaps", ns, "c")  # a read is the caller's own
        fresh["data"]["k"] = "also mine"
    finally:
        store.close()
        store.etcd.close()
