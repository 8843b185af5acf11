"""Objects that expire (Events, kube-apiserver's --event-ttl): the lease reuse decision, on a
fake clock, and keys on a real etcd going when their lease does."""

from __future__ import annotations

import queue
import secrets

import pytest

from orchestrator.store import DELETED, Etcd, NotFound, Store
from orchestrator.store.keys import object_key
from orchestrator.store.leases import MAX_KEYS_PER_LEASE, LeaseManager, reuse_window


class Grants:
    def __init__(self) -> None:
        self.ttls: list[int] = []

    def __call__(self, ttl: int) -> int:
        self.ttls.append(ttl)
        return len(self.ttls)  # lease ids 1, 2, ...


def test_a_lease_is_granted_with_the_reuse_window_and_reused_within_it():
    now = [0.0]
    grants = Grants()
    leases = LeaseManager(grants, clock=lambda: now[0])
    assert reuse_window(3600) == 60 and reuse_window(100) == 5 and reuse_window(10) == 0
    assert leases.lease_for(3600) == 1 and grants.ttls == [3660]
    for at in (30.0, 59.9):  # each of these keys still lives its full hour on lease 1
        now[0] = at
        assert leases.lease_for(3600) == 1
    now[0] = 60.0  # lease 1 would end before this key's hour: a new one
    assert leases.lease_for(3600) == 2 and grants.ttls == [3660, 3660]
    assert leases.lease_for(100) == 3 and grants.ttls[-1] == 105  # one lease per TTL
    assert leases.lease_for(3600) == 2


def test_a_full_lease_or_one_etcd_forgot_is_not_reused():
    grants = Grants()
    leases = LeaseManager(grants, clock=lambda: 0.0)
    first = [leases.lease_for(3600) for _ in range(MAX_KEYS_PER_LEASE)]
    assert set(first) == {1}
    assert leases.lease_for(3600) == 2
    leases.forget(2)
    assert leases.lease_for(3600) == 3
    assert leases.lease_for(10) != leases.lease_for(10)  # no reuse window under 20 s


@pytest.fixture
def store(etcd_server):
    s = Store(Etcd([etcd_server.url]), ttls={"events": 3})
    yield s
    s.close()
    s.etcd.close()


def event(name):
    return {"apiVersion": "v1", "kind": "Event", "metadata": {"name": name, "namespace": "ttl"},
            "reason": "Tested"}


def test_an_expiring_object_is_deleted_by_etcd_and_watchers_see_it(store):
    name = f"e{secrets.token_hex(4)}"
    _, revision = store.list("events", "ttl")
    q: queue.Queue = queue.Queue()
    stop = store.watch("events", "ttl", revision, q.put)
    try:
        store.create("events", event(name))
        store.create("configmaps", {"metadata": {"name": name, "namespace": "ttl"}})
        kv = store.etcd.get(object_key("events", "ttl", name))
        assert kv is not None and kv.lease != 0
        assert store.etcd.get(object_key("configmaps", "ttl", name)).lease == 0  # no TTL
        assert q.get(timeout=10).type == "ADDED"
        gone = q.get(timeout=60)  # etcd ends the 3 s lease (its clock, not the test's)
        assert gone.type == DELETED and gone.object["metadata"]["name"] == name
    finally:
        stop()
    with pytest.raises(NotFound):
        store.get("events", "ttl", name)
    assert store.get("configmaps", "ttl", name)["metadata"]["name"] == name


def test_a_write_moves_the_object_to_a_fresh_lease_and_a_dry_run_takes_none(store):
    name = f"e{secrets.token_hex(4)}"
    created = store.create("events", event(name))
    key = object_key("events", "ttl", name)
    first = store.etcd.get(key).lease
    store.update("events", {**created, "count": 2})
    second = store.etcd.get(key).lease
    assert second not in (0, first)  # its TTL counts from this write
    store.etcd.revoke_lease(first)
    assert store.get("events", "ttl", name)["count"] == 2  # the old lease took nothing with it
    store.etcd.revoke_lease(second)
    with pytest.raises(NotFound):
        store.get("events", "ttl", name)
    dry = store.dry_run_view()
    dry.create("events", event(f"{name}-dry"))
    with pytest.raises(NotFound):
        store.get("events", "ttl", f"{name}-dry")


def test_a_lease_etcd_let_go_is_replaced_and_the_write_goes_through(store):
    name = f"e{secrets.token_hex(4)}"
    store.create("events", event(name))
    lost = store.etcd.get(object_key("events", "ttl", name)).lease
    store.etcd.revoke_lease(lost)  # as if it ran out between the grant and the next write
    store._leases._last[3].expires = float("inf")  # and the manager still thought it good
    store._leases._last[3].id = lost
    again = store.create("events", event(f"{name}-2"))
    assert again["metadata"]["name"] == f"{name}-2"
    assert store.etcd.get(object_key("events", "ttl", f"{name}-2")).lease not in (0, lost)
