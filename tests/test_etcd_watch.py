"""The etcd wrapper's watches against a scripted gRPC Watch stream (pure logic: no etcd).

The stream behaves as etcd's does for the cases a real cluster produces only under load: a
watch creation answered after the client gave up on it (WatchTimedOut), and the answer then
arriving while another creation is pending. Each watch must get only its own prefix's events.
The last tests, of the wrapper's retries, use the test etcd.
"""

from __future__ import annotations

import threading

import pyetcd.exceptions
import pyetcd.watch
import pytest

import orchestrator.store.etcd as etcd_module
from pyetcd.etcdrpc import kv_pb2, rpc_pb2

from orchestrator.store.errors import StoreError, Unavailable
from orchestrator.store.etcd import Etcd

SLOW = "/registry/namespaces/"  # etcd answers its creation late
FAST = "/registry/leases/"


def _created(watch_id: int) -> rpc_pb2.WatchResponse:
    return rpc_pb2.WatchResponse(created=True, watch_id=watch_id,
                                 header=rpc_pb2.ResponseHeader(revision=10))


def _put(watch_id: int, key: str, revision: int) -> rpc_pb2.WatchResponse:
    kv = kv_pb2.KeyValue(key=key.encode(), value=b"{}", mod_revision=revision,
                         create_revision=revision)
    return rpc_pb2.WatchResponse(watch_id=watch_id, events=[kv_pb2.Event(type=0, kv=kv)],
                                 header=rpc_pb2.ResponseHeader(revision=revision))


class ScriptedWatchStub:
    """etcd's Watch RPC, one stream per call. Watch ids count from 0 on each stream. A creation
    for SLOW is held back until the next request on the same stream, then answered (with one
    event under SLOW) before that request is; every other creation is answered at once, with
    one event under its own prefix. `stray` makes every event's key fall outside the prefix;
    `progress` follows the event with one progress notification (only on the watch of that
    prefix when it is one), after which the stream falls silent (as one from a powered-off
    member does)."""

    def __init__(self, stray: bool = False, progress: bool | str = False) -> None:
        self.stray, self.progress = stray, progress
        self.streams = 0

    def Watch(self, requests, credentials=None, metadata=None):  # noqa: N802 (gRPC's name)
        self.streams += 1
        return self._stream(requests)

    def _stream(self, requests):
        next_id, held = 0, None
        for rq in requests:
            if not rq.HasField("create_request"):
                continue
            if held is not None:
                yield _created(held)
                yield _put(held, SLOW + "late", 11)
                held = None
            key = rq.create_request.key.decode()
            if key == SLOW:
                held, next_id = next_id, next_id + 1
                continue
            watch_id, next_id = next_id, next_id + 1
            yield _created(watch_id)
            yield _put(watch_id, ("/registry/secrets/x" if self.stray else key + "x"), 12)
            if self.progress is True or self.progress == key:
                yield rpc_pb2.WatchResponse(watch_id=watch_id,
                                            header=rpc_pb2.ResponseHeader(revision=12))


def etcd_with(stub: ScriptedWatchStub) -> Etcd:
    etcd = Etcd(["http://127.0.0.1:1"], timeout=0.3)
    etcd._new_watcher = lambda: pyetcd.watch.Watcher(stub, timeout=0.3)
    return etcd


def watch(etcd: Etcd, prefix: str):
    got, errors, arrived = [], [], threading.Event()

    def on_events(events, _revision):
        if events:  # not a progress notification
            got.extend(e.kv.key for e in events)
            arrived.set()

    def on_error(error: StoreError):
        errors.append(error)
        arrived.set()

    cancel = etcd.watch_prefix(prefix, 1, on_events, on_error)
    return got, errors, arrived, cancel


def test_a_watch_created_after_one_that_timed_out_gets_only_its_own_events():
    stub = ScriptedWatchStub()
    etcd = etcd_with(stub)
    with pytest.raises(Unavailable):
        watch(etcd, SLOW)
    got, errors, arrived, cancel = watch(etcd, FAST)
    assert arrived.wait(5)
    assert got == [FAST + "x"] and errors == []
    assert stub.streams == 2  # a stream per watch: the late answer had nowhere to go
    cancel()


def test_events_outside_the_prefix_end_the_watch_instead_of_reaching_the_cache():
    etcd = etcd_with(ScriptedWatchStub(stray=True))
    got, errors, arrived, cancel = watch(etcd, FAST)
    assert arrived.wait(5)
    assert got == []
    assert len(errors) == 1 and "/registry/secrets/x" in str(errors[0])
    cancel()


@pytest.mark.parametrize("progress", [True, False])
def test_a_watch_that_falls_silent_after_progress_notifications_is_restarted(
        monkeypatch, progress):
    """Silence counts only on a watch that has had progress notifications: an etcd without
    --experimental-watch-progress-notify-interval must not have its idle watches restarted."""
    monkeypatch.setattr(etcd_module, "WATCH_SILENCE_LIMIT", 0.4)
    etcd = etcd_with(ScriptedWatchStub(progress=progress))
    got, errors, arrived, cancel = watch(etcd, FAST)
    assert arrived.wait(5) and got == [FAST + "x"]
    arrived.clear()
    if progress:
        assert arrived.wait(5)
        assert len(errors) == 1 and "no word" in str(errors[0])
    else:
        assert not arrived.wait(1.5) and errors == []
    cancel()


def test_a_busy_watch_that_falls_silent_is_restarted_once_etcd_is_known_to_send_progress(
        monkeypatch):
    """etcd sends progress notifications only to watches that had no events in the interval,
    so a busy watch (leases, renewed every 2 s) never gets one; its member powered off, its
    stream hangs all the same. Another watch's notifications show that this etcd sends them,
    so the busy watch's silence counts too (found on the VMs: the leases cache stuck on a
    powered-off member, every node declared lost)."""
    monkeypatch.setattr(etcd_module, "WATCH_SILENCE_LIMIT", 0.4)
    idle = "/registry/namespaces/x/"
    etcd = etcd_with(ScriptedWatchStub(progress=idle))
    busy_got, busy_errors, busy_arrived, cancel_busy = watch(etcd, FAST)
    assert busy_arrived.wait(5) and busy_got == [FAST + "x"]
    busy_arrived.clear()
    _, _, _, cancel_idle = watch(etcd, idle)
    assert busy_arrived.wait(5)
    assert len(busy_errors) == 1 and "no word" in str(busy_errors[0])
    cancel_busy()
    cancel_idle()


def test_calls_go_on_when_every_member_was_just_marked_failed(etcd_server):
    """A disk stall times out every member at once; pyetcd then refuses every call until a
    member's failure mark expires. The wrapper tries the members again instead."""
    etcd = Etcd([etcd_server.url])
    try:
        key = f"/t/all-failed-{threading.get_ident()}"
        etcd.create(key, b"v")
        for member in etcd._client.endpoints.values():
            member.fail()
        assert etcd.get(key).value == b"v"  # a read
        for member in etcd._client.endpoints.values():
            member.fail()
        etcd.delete(key)  # and a write: nothing had been sent
        assert etcd.get(key) is None
    finally:
        etcd.close()


def test_a_read_whose_member_failed_is_retried_once_and_a_write_is_not(
        etcd_server, monkeypatch):
    etcd = Etcd([etcd_server.url])
    try:
        calls = []
        real_get = etcd._client.get_response

        def flaky_get(*args, **kwargs):
            calls.append("get")
            if len(calls) == 1:
                raise pyetcd.exceptions.ConnectionTimeoutError()
            return real_get(*args, **kwargs)

        monkeypatch.setattr(etcd._client, "get_response", flaky_get)
        assert etcd.get("/t/absent") is None and calls == ["get", "get"]

        def timed_out_transaction(*args, **kwargs):
            calls.append("txn")
            raise pyetcd.exceptions.ConnectionTimeoutError()

        monkeypatch.setattr(etcd._client, "transaction", timed_out_transaction)
        with pytest.raises(Unavailable):
            etcd.create("/t/maybe", b"v")  # it may have been applied: the caller decides
        assert calls.count("txn") == 1
    finally:
        etcd.close()
