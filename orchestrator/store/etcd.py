"""A thin wrapper over etcd's KV and Watch APIs, the only module that sees gRPC.

One call per etcd operation, errors translated into the store's hierarchy (errors.py). It
connects to every member given and fails over: after an unreachable or timed-out member, the
next call goes to another one. A call is retried once where etcd's own client retries (see
Etcd._call); else errors.Unavailable reaches the caller, who may retry.

Client choice: `etcd-sdk-python` (module `pyetcd`), the maintained fork of python-etcd3 0.12:
the same API, but it imports with current protobuf, has multi-endpoint failover, and reads
ranges 3-4x faster (measured here). Nothing outside this module imports it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import grpc
import pyetcd
from pyetcd import etcdrpc
import pyetcd.events
import pyetcd.exceptions
import pyetcd.utils
import pyetcd.watch

from orchestrator.store.errors import (AlreadyExists, Conflict, Gone, LeaseNotFound, NotFound,
                                       StoreError, Unavailable)

log = logging.getLogger(__name__)

# A member that failed is skipped for this long before it is tried again. pyetcd's default is
# 300 s, far too long for a lab where a killed member is back within seconds.
RETRY_FAILED_MEMBER_AFTER = 2.0
# Once etcd is known to send progress notifications (etcd's
# --experimental-watch-progress-notify-interval, 5 s in the labs: some watch of this client got
# one), a watch that hears nothing for this long is treated as broken: its member was powered
# off (no RST: the stream would hang for TCP's minutes) or is stuck. etcd notifies only watches
# that had no events in the interval, so a busy watch never gets one of its own: the evidence is
# per client, not per watch. Watches on an etcd that sends no progress notifications are never
# timed.
WATCH_SILENCE_LIMIT = 30.0
# gRPC metadata asking etcd to end a watch stream when its member has lost the cluster's leader
# (etcd's clientv3.WithRequireLeader, what Kubernetes' API server uses): else a member cut off
# from the others keeps the stream open and silent.
REQUIRE_LEADER = (("hasleader", "true"),)


@dataclass(frozen=True)
class KV:
    key: str
    value: bytes
    mod_revision: int
    create_revision: int
    lease: int = 0  # the etcd lease the key goes with (0: none)


@dataclass(frozen=True)
class KVEvent:
    """One change from a watch: `kv` is the new state (value empty for a delete), `prev` the
    state before (None for a create)."""

    kind: str  # "put" | "delete"
    kv: KV
    prev: KV | None


class TxnFailed(StoreError):
    """A commit's condition did not hold: keys expected absent that exist (`present`), keys
    expected unchanged that changed (`changed`) or were deleted (`missing`)."""

    def __init__(self, present: tuple[str, ...], changed: tuple[str, ...],
                 missing: tuple[str, ...]) -> None:
        super().__init__(f"transaction condition failed: present={present} changed={changed} "
                         f"missing={missing}", (present or changed or missing or ("",))[0])
        self.present, self.changed, self.missing = present, changed, missing


def _kv(raw: Any) -> KV:
    return KV(key=raw.key.decode(), value=raw.value, mod_revision=raw.mod_revision,
              create_revision=raw.create_revision, lease=raw.lease)


def _event(e: pyetcd.events.Event) -> KVEvent:
    # pyetcd forwards kv fields as attributes, and prev_kv fields with a "prev_" prefix.
    kv = KV(e.key.decode(), e.value, e.mod_revision, e.create_revision)
    prev = (KV(e.key.decode(), e.prev_value, e.prev_mod_revision, e.prev_create_revision)
            if e.prev_create_revision else None)
    return KVEvent("put" if isinstance(e, pyetcd.events.PutEvent) else "delete", kv, prev)


def _translate(e: grpc.RpcError | pyetcd.exceptions.Etcd3Exception, key: str) -> StoreError:
    if isinstance(e, grpc.RpcError):
        if e.code() == grpc.StatusCode.OUT_OF_RANGE:  # "required revision has been compacted"
            return Gone(f"etcd: {e.details()}", key)
        if e.code() == grpc.StatusCode.NOT_FOUND and "lease" in (e.details() or ""):
            return LeaseNotFound(f"etcd: {e.details()}", key)  # "requested lease not found"
        return Unavailable(f"etcd: {e.code().name}: {e.details()}", key)
    return Unavailable(f"etcd is unavailable ({type(e).__name__}: {e})", key)


@dataclass(frozen=True)
class EtcdTLS:
    """etcd over mutual TLS: the CA that signed the members' certificates, and this client's
    certificate and key (etcd's --client-cert-auth admits only clients its CA signed)."""
    ca_file: str
    cert_file: str
    key_file: str

    def credentials(self) -> grpc.ChannelCredentials:
        """Raises OSError naming the file that cannot be read."""
        return grpc.ssl_channel_credentials(
            root_certificates=Path(self.ca_file).read_bytes(),
            private_key=Path(self.key_file).read_bytes(),
            certificate_chain=Path(self.cert_file).read_bytes())


def parse_endpoints(urls: list[str], tls: bool = False) -> list[tuple[str, int]]:
    """(host, port) of each client URL: all https:// when `tls`, all http:// otherwise (a
    bare HOST:PORT takes the scheme that fits)."""
    scheme = "https" if tls else "http"
    out = []
    for url in urls:
        parts = urlsplit(url if "://" in url else f"{scheme}://{url}")
        if parts.scheme not in ("http", "https") or not parts.hostname or not parts.port:
            raise ValueError(f"etcd endpoint {url!r}: expected {scheme}://HOST:PORT")
        if parts.scheme != scheme:
            raise ValueError(f"etcd endpoint {url!r}: " + (
                "https:// needs etcd's CA and a client certificate and key" if not tls else
                "http:// although etcd TLS files were given (expected https://)"))
        out.append((parts.hostname, parts.port))
    return out


class _WatchState:
    """One watch's liveness: when it last heard from etcd, and whether it has ended.
    `sends_progress` is shared by the client's watches: set once any of them gets a progress
    notification (only then is silence a sign of trouble)."""

    def __init__(self, prefix: str, sends_progress: threading.Event) -> None:
        self.prefix = prefix
        self.last_heard = time.monotonic()
        self.sends_progress = sends_progress
        self.ended = False
        self.on_silence: Callable[[float], None] = lambda _seconds: None
        self._lock = threading.Lock()

    def heard(self, progress: bool) -> None:
        self.last_heard = time.monotonic()
        if progress and not self.sends_progress.is_set():
            self.sends_progress.set()

    def silence(self) -> float | None:
        """Seconds since etcd last spoke on this watch, or None when silence means nothing."""
        if self.ended or not self.sends_progress.is_set():
            return None
        return time.monotonic() - self.last_heard

    def end(self) -> bool:
        """Mark the watch ended; True for the first caller only."""
        with self._lock:
            first, self.ended = not self.ended, True
            return first


class Etcd:
    """Thread-safe: pyetcd's client is, and the only state of this wrapper's own is the set of
    live watches its watchdog looks at (under a lock)."""

    def __init__(self, endpoints: list[str], timeout: float = 5.0,
                 tls: EtcdTLS | None = None) -> None:
        """ValueError for a malformed endpoint or one whose scheme does not match `tls`;
        OSError when a TLS file cannot be read."""
        self.endpoints = list(endpoints)
        addresses = parse_endpoints(endpoints, tls is not None)
        creds = tls.credentials() if tls else None
        self._client = pyetcd.MultiEndpointEtcd3Client(
            endpoints=[pyetcd.Endpoint(host, port, secure=tls is not None, creds=creds,
                                       time_retry=RETRY_FAILED_MEMBER_AFTER)
                       for host, port in addresses],
            timeout=timeout, failover=True)
        self._watches: dict[int, _WatchState] = {}
        self._watches_lock = threading.Lock()
        self._sends_progress = threading.Event()  # see WATCH_SILENCE_LIMIT
        self._watchdog: threading.Thread | None = None
        self._closed = False

    def close(self) -> None:
        self._closed = True  # ends the watchdog
        self._client.close()

    def _call(self, key: str, fn: Callable[[], Any], repeatable: bool = False) -> Any:
        """`fn` on the current member. Retried once on another member when it cannot have been
        applied (every member was marked failed: nothing was sent) or, for a `repeatable` one
        (a read), when its member failed or timed out: etcd's own client retries the same
        two cases. A write that timed out is not retried: it may have been applied."""
        try:
            return fn()
        except pyetcd.exceptions.NoServerAvailableError:
            # each member failed within RETRY_FAILED_MEMBER_AFTER (a disk stall slows all of
            # them at once): try them again now rather than refuse every call for that long
            for endpoint in self._client.endpoints.values():
                endpoint.last_failed = 0
        except (grpc.RpcError, pyetcd.exceptions.Etcd3Exception) as e:
            if not repeatable or isinstance(_translate(e, key), Gone):
                raise _translate(e, key) from e
            log.info("etcd read of %s failed (%s); retrying on another member", key, e)
        try:
            return fn()
        except (grpc.RpcError, pyetcd.exceptions.Etcd3Exception) as e:
            raise _translate(e, key) from e

    # --- reads ---

    def get(self, key: str) -> KV | None:
        response = self._call(key, lambda: self._client.get_response(key), repeatable=True)
        return _kv(response.kvs[0]) if response.count else None

    def range_prefix(self, prefix: str, revision: int | None = None) -> tuple[list[KV], int]:
        """Every key under `prefix` at one revision (the current one by default), and that
        revision. A compacted revision raises Gone."""
        response = self._call(prefix, lambda: self._client.get_prefix_response(
            prefix, revision=revision, sort_order="ascend", sort_target="key"), repeatable=True)
        return [_kv(raw) for raw in response.kvs], response.header.revision

    def range_page(self, prefix: str, start: str, revision: int | None,
                   limit: int) -> tuple[list[KV], int, bool, int]:
        """At most `limit` keys under `prefix` from `start` on (in key order), at one revision
        (the current one by default): the keys, that revision, whether more keys follow, and
        how many keys there are from `start` on. A compacted revision raises Gone."""
        end = pyetcd.utils.prefix_range_end(pyetcd.utils.to_bytes(prefix))
        response = self._call(start, lambda: self._client.get_range_response(
            start, end, sort_order="ascend", sort_target="key", revision=revision,
            limit=limit), repeatable=True)
        return ([_kv(raw) for raw in response.kvs], response.header.revision, response.more,
                response.count)

    def current_revision(self) -> int:
        response = self._call("", lambda: self._client.get_response("\0", count_only=True),
                              repeatable=True)
        return int(response.header.revision)

    # --- writes (each one etcd transaction) ---

    def grant_lease(self, ttl: int) -> int:
        """A new lease of `ttl` seconds; the keys written with it go when it runs out."""
        return int(self._call("", lambda: self._client.lease(ttl), repeatable=True).id)

    def revoke_lease(self, lease: int) -> None:
        """End `lease` now: etcd deletes the keys attached to it."""
        self._call("", lambda: self._client.revoke_lease(lease))

    def create(self, key: str, value: bytes, lease: int | None = None) -> int:
        """Put `key` only if absent (attached to `lease`, if given); returns the new revision."""
        t = self._client.transactions
        ok, responses = self._call(key, lambda: self._client.transaction(
            compare=[t.create(key) == 0], success=[t.put(key, value, lease=lease)],
            failure=[]))
        if not ok:
            raise AlreadyExists(f"{key} already exists", key)
        return int(responses[0].response_put.header.revision)

    def update(self, key: str, value: bytes, mod_revision: int, lease: int | None = None) -> int:
        """Put `key` only if it was last modified at `mod_revision` (compare-and-swap); with
        `lease`, the key is attached to it from now on."""
        t = self._client.transactions
        ok, responses = self._call(key, lambda: self._client.transaction(
            compare=[t.mod(key) == mod_revision], success=[t.put(key, value, lease=lease)],
            failure=[t.get(key)]))
        if ok:
            return int(responses[0].response_put.header.revision)
        if not responses or not responses[0]:
            raise NotFound(f"{key} not found", key)
        current = responses[0][0][1].mod_revision
        raise Conflict(f"{key} was modified (at revision {current}, not {mod_revision})", key)

    def delete(self, key: str, mod_revision: int | None = None) -> tuple[int, KV]:
        """Delete `key` (only if last modified at `mod_revision`, when given); returns the
        deletion's revision and the deleted key-value."""
        t = self._client.transactions
        compare = [t.mod(key) == mod_revision] if mod_revision else [t.create(key) != 0]
        ok, responses = self._call(key, lambda: self._client.transaction(
            compare=compare, success=[t.get(key), t.delete(key)], failure=[t.get(key)]))
        if ok:
            (value, meta), = responses[0]
            deleted = KV(key, value, meta.mod_revision, meta.create_revision)
            return responses[1].response_delete_range.header.revision, deleted
        if not responses or not responses[0]:
            raise NotFound(f"{key} not found", key)
        current = responses[0][0][1].mod_revision
        raise Conflict(f"{key} was modified (at revision {current}, not {mod_revision})", key)

    def commit(self, *, absent: tuple[str, ...] = (), unchanged: dict[str, int] | None = None,
               puts: dict[str, bytes] | None = None, deletes: tuple[str, ...] = (),
               check_only: bool = False, leases: dict[str, int] | None = None) -> int:
        """One transaction over several keys: if every key in `absent` is absent and every key
        in `unchanged` is still at its mod_revision, apply `puts` and `deletes` and return the
        new revision. Otherwise raise TxnFailed naming the keys that broke the condition.
        With `check_only` (a dry run) the conditions are checked the same way, atomically, and
        nothing is written: the revision returned is the current one. `leases`: the lease a
        put key is attached to."""
        t = self._client.transactions
        unchanged = unchanged or {}
        compare = [t.create(k) == 0 for k in absent]
        compare += [t.mod(k) == rev for k, rev in unchanged.items()]
        leases = leases or {}
        success = [t.put(k, v, lease=leases.get(k)) for k, v in (puts or {}).items()]
        success += [t.delete(k) for k in deletes]
        if check_only:
            success = []
        watched = [*absent, *unchanged]
        ok, responses = self._call(watched[0] if watched else "", lambda: self._client.transaction(
            compare=compare, success=success, failure=[t.get(k) for k in watched]))
        if ok:
            revisions = [getattr(r, r.WhichOneof("response")).header.revision for r in responses]
            return max(revisions) if revisions else self.current_revision()
        existing = {k: rows[0][1].mod_revision for k, rows in zip(watched, responses) if rows}
        raise TxnFailed(
            present=tuple(k for k in absent if k in existing),
            changed=tuple(k for k, rev in unchanged.items() if existing.get(k) != rev),
            missing=tuple(k for k in unchanged if k not in existing))

    def compact(self, revision: int) -> None:
        self._call("", lambda: self._client.compact(revision, physical=True))

    # --- watch ---

    def watch_prefix(self, prefix: str, start_revision: int,
                     on_events: Callable[[list[KVEvent], int], None],
                     on_error: Callable[[StoreError], None]) -> Callable[[], None]:
        """Stream every change under `prefix` from `start_revision` on. `on_events(events,
        header_revision)` is called on pyetcd's watch thread, in revision order; `on_error` once
        if the stream breaks (Gone when start_revision is compacted, else Unavailable), after
        which nothing more is delivered. Returns a function that cancels the watch.

        Each watch gets a gRPC stream of its own (a pyetcd Watcher per call, on the member in
        use), not the client's shared one: on a shared stream, a creation that timed out
        (WatchTimedOut, under load) is answered late and pyetcd hands that answer to the *next*
        creation, so one prefix's callback receives another prefix's events (measured on the
        Vagrant VMs: the leases cache fed with namespace events, every node declared lost). A
        late answer on a stream of its own finds nothing pending and is cancelled."""
        state = _WatchState(prefix, self._sends_progress)
        end = pyetcd.utils.prefix_range_end(pyetcd.utils.to_bytes(prefix))

        def fail(error: StoreError) -> None:
            if state.end():
                on_error(error)

        def callback(response: Any) -> None:
            if state.ended:
                return
            if isinstance(response, pyetcd.exceptions.RevisionCompactedError):
                fail(Gone(f"revision {start_revision} is compacted "
                          f"(oldest available {response.compacted_revision})", prefix))
            elif isinstance(response, Exception) or response is None:
                fail(Unavailable(f"etcd watch on {prefix} broke ({response})", prefix))
            else:
                state.heard(progress=not response.events)
                events = [_event(e) for e in response.events]
                stray = [e.kv.key for e in events if not e.kv.key.startswith(prefix)]
                if stray:  # never on a stream of its own; a cache must not take them
                    fail(Unavailable(f"etcd watch on {prefix} got events for {stray[:3]}",
                                     prefix))
                    cancel()
                    return
                on_events(events, response.header.revision)

        try:
            watcher = self._new_watcher()
        except (grpc.RpcError, pyetcd.exceptions.Etcd3Exception) as e:
            raise _translate(e, prefix) from e
        try:
            watch_id = watcher.add_callback(prefix, callback, range_end=end,
                                            start_revision=start_revision, prev_kv=True,
                                            progress_notify=True)
        except pyetcd.exceptions.RevisionCompactedError as e:
            watcher.close()
            raise Gone(f"revision {start_revision} is compacted "
                       f"(oldest available {e.compacted_revision})", prefix) from e
        except (grpc.RpcError, pyetcd.exceptions.Etcd3Exception) as e:
            watcher.close()
            raise _translate(e, prefix) from e

        def cancel() -> None:
            state.end()
            with self._watches_lock:
                self._watches.pop(id(state), None)
            try:
                watcher.cancel(watch_id)
            except (grpc.RpcError, pyetcd.exceptions.Etcd3Exception, ValueError):
                pass  # the stream is gone already
            watcher.close()  # ends the stream

        def silent(seconds: float) -> None:
            fail(Unavailable(f"etcd watch on {prefix}: no word for {seconds:.0f} s, not even "
                             "a progress notification (member gone or cut off)", prefix))
            cancel()

        state.on_silence = silent
        self._watch_the_watches(state)
        return cancel

    def _new_watcher(self) -> pyetcd.watch.Watcher:
        """A Watcher (one gRPC stream) on the member in use, requiring that member to have a
        leader."""
        client = self._client
        return pyetcd.watch.Watcher(etcdrpc.WatchStub(client.channel), timeout=client.timeout,
                                    call_credentials=client.call_credentials,
                                    metadata=REQUIRE_LEADER + tuple(client.metadata or ()))

    def _watch_the_watches(self, state: _WatchState) -> None:
        with self._watches_lock:
            self._watches[id(state)] = state
            if self._watchdog is None:
                self._watchdog = threading.Thread(target=self._watchdog_loop,
                                                  name="etcd-watchdog", daemon=True)
                self._watchdog.start()

    def _watchdog_loop(self) -> None:
        while not self._closed:
            time.sleep(WATCH_SILENCE_LIMIT / 10)
            with self._watches_lock:
                states = list(self._watches.values())
            for state in states:
                quiet = state.silence()
                if quiet is not None and quiet > WATCH_SILENCE_LIMIT:
                    log.warning("etcd watch on %s silent for %.0f s: restarting it",
                                state.prefix, quiet)
                    state.on_silence(quiet)

