"""Leader election decisions, and two electors over one compare-and-swap Lease."""

from __future__ import annotations

import copy
import itertools

from orchestrator.api.status import ApiError
from orchestrator.leader import LeaderElector, Seen, decide


def lease(holder, rv="7"):
    return {"metadata": {"resourceVersion": rv}, "spec": {"holderIdentity": holder}}


def test_decisions() -> None:
    assert decide(None, "a", None, 0, 4) == "create"
    assert decide(lease("a"), "a", None, 0, 4) == "renew"
    assert decide(lease(None), "a", None, 0, 4) == "take"  # released
    assert decide(lease("b"), "a", None, 10, 4) == "wait"  # first sight: give it a full term
    assert decide(lease("b"), "a", Seen("7", 10), 13.9, 4) == "wait"
    assert decide(lease("b"), "a", Seen("7", 10), 14, 4) == "take"
    assert decide(lease("b", "8"), "a", Seen("7", 10), 20, 4) == "wait"  # it was renewed


class FakeLeases:
    """One Lease with etcd's compare-and-swap semantics."""

    def __init__(self) -> None:
        self.obj = None
        self.revision = itertools.count(1)
        self.down: set[str] = set()

    def get(self, rt, ns, name):
        if self.obj is None:
            raise ApiError(404, "NotFound", "no lease")
        return copy.deepcopy(self.obj)

    def create(self, rt, ns, body):
        if self.obj is not None:
            raise ApiError(409, "AlreadyExists", "exists")
        self.obj = {**copy.deepcopy(body), "metadata": {**body["metadata"],
                                                        "resourceVersion": str(next(self.revision))}}
        return copy.deepcopy(self.obj)

    def update(self, rt, ns, name, body):
        if body["metadata"]["resourceVersion"] != self.obj["metadata"]["resourceVersion"]:
            raise ApiError(409, "Conflict", "stale")
        self.obj = copy.deepcopy(body)
        self.obj["metadata"]["resourceVersion"] = str(next(self.revision))
        return copy.deepcopy(self.obj)


def elector(leases, name, log):
    return LeaderElector(leases, name, lambda: log.append(f"{name} started"),
                         lambda: log.append(f"{name} stopped"),
                         lease_duration=4, renew_deadline=3, retry_period=0.5)


def test_one_leader_then_takeover_after_the_lease_expires(monkeypatch) -> None:
    clock = [100.0]
    monkeypatch.setattr("orchestrator.leader.time.monotonic", lambda: clock[0])
    leases, log = FakeLeases(), []
    a, b = elector(leases, "a", log), elector(leases, "b", log)
    a._round()
    b._round()
    assert (a.leading, b.leading) == (True, False)
    for _ in range(10):  # a keeps renewing: b never takes over
        clock[0] += 0.5
        a._round()
        b._round()
    assert (a.leading, b.leading) == (True, False)
    # a dies: b takes over once the lease has not moved for lease_duration
    clock[0] += 3.9
    b._round()
    assert not b.leading
    clock[0] += 0.2
    b._round()
    assert b.leading and leases.obj["spec"]["holderIdentity"] == "b"
    assert leases.obj["spec"]["leaseTransitions"] == 1
    # a comes back: it sees b holding and steps down
    a._round()
    assert not a.leading
    assert log == ["a started", "b started", "a stopped"]


def test_a_clean_stop_releases_the_lease_for_an_immediate_takeover(monkeypatch) -> None:
    clock = [0.0]
    monkeypatch.setattr("orchestrator.leader.time.monotonic", lambda: clock[0])
    leases, log = FakeLeases(), []
    a, b = elector(leases, "a", log), elector(leases, "b", log)
    a._round()
    b._round()
    a.stop()
    b._round()
    assert b.leading and log == ["a started", "a stopped", "b started"]


class _Leases:
    """An API holding Leases, with compare-and-swap on resourceVersion, as the server's."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict] = {}
        self.version = 0

    def get(self, resource, name, namespace):
        from kube.errors import ApiError
        if (namespace, name) not in self.items:
            raise ApiError(404, "NotFound", f'leases "{name}" not found')
        return self.items[(namespace, name)]

    def create(self, resource, body, namespace):
        self.version += 1
        obj = {**body, "metadata": {**body["metadata"], "resourceVersion": str(self.version)}}
        self.items[(namespace, body["metadata"]["name"])] = obj
        return obj

    def update(self, resource, body):
        from kube.errors import ApiError
        key = (body["metadata"]["namespace"], body["metadata"]["name"])
        if self.items[key]["metadata"]["resourceVersion"] != body["metadata"]["resourceVersion"]:
            raise ApiError(409, "Conflict", "the object has been modified")
        return self.create(resource, body, key[0])


def test_the_client_elector_takes_renews_waits_for_expiry_and_releases(monkeypatch):
    import kube.leaderelection as le
    clock = [100.0]
    monkeypatch.setattr("time.monotonic", lambda: clock[0])
    api = _Leases()
    owner = {"apiVersion": "v1", "kind": "Service", "name": "web", "uid": "u1"}
    a = le.Elector(api, "ns", "orch-lb-web", "host2", 3.0, 2.0, owner=owner)
    b = le.Elector(api, "ns", "orch-lb-web", "host3", 3.0, 2.0, owner=owner)
    assert a.round() and not b.round()
    assert api.items[("ns", "orch-lb-web")]["metadata"]["ownerReferences"] == [owner]
    clock[0] += 1
    assert a.round() and not b.round()  # renewed: b saw it change
    clock[0] += 2.9
    assert not b.round()  # unchanged for 2.9 s on b's clock: not yet
    clock[0] += 0.2
    assert b.round() and not a.round()  # expired on b's clock: b takes it, a steps down
    lease = api.items[("ns", "orch-lb-web")]
    assert lease["spec"]["holderIdentity"] == "host3" and lease["spec"]["leaseTransitions"] == 1
    b.release()
    assert a.round()  # released: taken at once, no expiry to wait for
