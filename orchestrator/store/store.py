"""The object store: Kubernetes-shaped objects as JSON in etcd.

- key: /registry/{resource}/{namespace}/{name} (keys.py);
- resourceVersion: the key's etcd mod_revision, set on every object returned, never stored;
- create is create-if-absent, update and delete compare-and-swap on resourceVersion, each one
  etcd transaction (409 AlreadyExists / Conflict);
- list reads every object at one revision and returns it; watch streams from a revision
  through the resource's watch cache (watchcache.py), 410 Gone when too old.

The store is type-agnostic: objects are plain dicts, validated before they get here (api/).
Objects handed out are fresh copies: callers may change them freely.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from kube.objects import Object
from orchestrator.store.claims import Claim

__all__ = ["Claim", "Page", "Store", "encode", "parse_resource_version"]
from orchestrator.store.errors import (AlreadyExists, ClaimsTaken, Conflict, LeaseNotFound,
                                       NotFound, StoreError)
from orchestrator.store.etcd import Etcd, TxnFailed
from orchestrator.store.leases import LeaseManager
from orchestrator.store.keys import claim_key, claim_prefix, object_key, resource_prefix
from orchestrator.store.pagination import Continue
from orchestrator.store.watchcache import (Deliver, WatchCache, WatchEvent, decode,
                                          with_resource_version)

Objects = list[Object]  # (inside Store, `list` is the method)
T = TypeVar("T")


def encode(obj: Object) -> bytes:
    """The stored form: the object without its resourceVersion (etcd keeps that)."""
    metadata = {k: v for k, v in obj.get("metadata", {}).items() if k != "resourceVersion"}
    return json.dumps({**obj, "metadata": metadata}, separators=(",", ":"),
                      sort_keys=True).encode()


def _name_and_namespace(obj: Object) -> tuple[str | None, str]:
    metadata = obj.get("metadata") or {}
    name = metadata.get("name")
    if not name:
        raise ValueError("metadata.name is required")
    return metadata.get("namespace") or None, name


def _owner(resource: str, namespace: str | None, name: str, claim: Claim) -> bytes:
    """A claim's value: who holds it (for an operator reading etcd)."""
    return json.dumps({"resource": resource, "namespace": namespace, "name": name}).encode()


def parse_resource_version(value: str | int | None) -> int:
    """A resourceVersion as an etcd revision; "" / None / "0" mean "any" (0)."""
    if value in (None, ""):
        return 0
    try:
        revision = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"resourceVersion {value!r} is not a revision") from None
    if revision < 0:
        raise ValueError(f"resourceVersion {value!r} is not a revision")
    return revision


@dataclass(frozen=True)
class Page:
    """One page of a list: its objects, the revision of the snapshot they belong to, where the
    next page starts (None: this was the last one) and, when known, how many objects follow."""

    items: list[Object]
    revision: int
    next: Continue | None
    remaining: int | None


class Store:
    """`ttls`: resources whose objects expire, in seconds after their last write (kube-apiserver
    keeps Events `--event-ttl`, an hour): written with an etcd lease (store/leases.py), so etcd
    deletes them, and their watchers see the deletion, when it runs out."""

    def __init__(self, etcd: Etcd, ttls: dict[str, int] | None = None) -> None:
        self.etcd = etcd
        self._caches: dict[str, WatchCache] = {}
        self._caches_lock = threading.Lock()
        self.dry_run = False
        self.ttls = dict(ttls or {})
        self._leases = LeaseManager(lambda ttl: self.etcd.grant_lease(ttl))

    def _leased(self, resource: str, write: Callable[[int | None], T]) -> T:
        """`write(lease)`, with the lease an object of `resource` is written with (None: it
        does not expire, or this is a dry run). A lease etcd has let go meanwhile is replaced
        once."""
        ttl = self.ttls.get(resource)
        if ttl is None or self.dry_run:
            return write(None)
        lease = self._leases.lease_for(ttl)
        try:
            return write(lease)
        except LeaseNotFound:
            self._leases.forget(lease)
            return write(self._leases.lease_for(ttl))

    def dry_run_view(self) -> Store:
        """This store for a dry run, as Kubernetes' DryRunnableStorage: reads (and the caches)
        as usual; every write checks its conditions in etcd — the object absent, or still at
        the version read; the claims it would take absent — in one transaction that writes
        nothing, raises as the write would, and returns what would have been stored (a new
        object without a resourceVersion, a changed one with its current one)."""
        view = copy.copy(self)  # the same etcd client and caches
        view.dry_run = True
        return view

    def close(self) -> None:
        with self._caches_lock:
            caches, self._caches = list(self._caches.values()), {}
        for cache in caches:
            cache.close()

    # --- reads ---

    def get(self, resource: str, namespace: str | None, name: str) -> Object:
        key = object_key(resource, namespace, name)
        kv = self.etcd.get(key)
        if kv is None:
            raise NotFound(f'{resource} "{name}" not found', key)
        return decode(kv.value, kv.mod_revision)

    def list(self, resource: str, namespace: str | None = None) -> tuple[list[Object], int]:
        """Every object of `resource` (in `namespace`) at one etcd revision, and that revision:
        a watch from it misses nothing and repeats nothing. The resource's watch cache is
        started first, so the revision returned is never older than the cache's window."""
        self.cache(resource)
        kvs, revision = self.etcd.range_prefix(resource_prefix(resource, namespace))
        return [decode(kv.value, kv.mod_revision) for kv in kvs], revision

    def current_revision(self) -> int:
        """etcd's revision now (a quorum read: it fails when etcd has no leader)."""
        return self.etcd.current_revision()

    def list_at(self, resource: str, namespace: str | None, revision: int) -> tuple[Objects, int]:
        """Every object of `resource` (in `namespace`) exactly as it was at `revision`
        (resourceVersionMatch=Exact). Raises Gone when etcd has compacted that revision."""
        kvs, _now = self.etcd.range_prefix(resource_prefix(resource, namespace), revision)
        return [decode(kv.value, kv.mod_revision) for kv in kvs], revision

    def list_page(self, resource: str, namespace: str | None, limit: int,
                  after: Continue | None = None, revision: int | None = None,
                  predicate: Callable[[Object], bool] | None = None) -> Page:
        """One page of at most `limit` objects that satisfy `predicate`, in key order. The
        first page reads at `revision` (default: the current one), the next ones, through the
        continue token, at the first page's revision: the pages together are one snapshot.
        Objects the predicate drops do not count towards `limit`, so a page may take several
        etcd reads. Raises Gone once etcd has compacted the snapshot's revision."""
        if limit <= 0:
            raise ValueError("limit must be positive")
        self.cache(resource)  # as list(): a watch from the revision returned can start
        prefix = resource_prefix(resource, namespace)
        start = prefix + after.start if after else prefix
        revision = after.revision if after else revision
        items: Objects = []
        while True:
            # etcd's header carries its current revision, not the one read at
            kvs, now, more, count = self.etcd.range_page(prefix, start, revision, limit)
            revision = read_at = revision or now
            for examined, kv in enumerate(kvs, 1):
                obj = decode(kv.value, kv.mod_revision)
                if predicate is None or predicate(obj):
                    items.append(obj)
                if len(items) == limit:
                    if examined < len(kvs) or more:
                        # Kubernetes counts what is left only when nothing is filtered out.
                        remaining = count - examined if predicate is None else None
                        token = Continue(read_at, kv.key.removeprefix(prefix) + "\0")
                        return Page(items, read_at, token, remaining)
                    return Page(items, read_at, None, None)
            if not more or not kvs:
                return Page(items, read_at, None, None)
            start = kvs[-1].key + "\0"

    def claimed(self, pool: str) -> set[str]:
        """The values of `pool` held now (one read)."""
        prefix = claim_prefix(pool)
        kvs, _ = self.etcd.range_prefix(prefix)
        # keys hold a CIDR's "/" as "-" (claim_key); no other value has a "-"
        return {kv.key.removeprefix(prefix).replace("-", "/") for kv in kvs}

    # --- writes ---

    def create(self, resource: str, obj: Object) -> Object:
        if self.dry_run:
            return self.create_claiming(resource, obj, ())
        namespace, name = _name_and_namespace(obj)
        key, value = object_key(resource, namespace, name), encode(obj)
        revision = self._leased(resource, lambda lease: self.etcd.create(key, value, lease))
        return with_resource_version(copy.deepcopy(obj), revision)

    def update(self, resource: str, obj: Object) -> Object:
        """Compare-and-swap on obj.metadata.resourceVersion, which is required."""
        namespace, name = _name_and_namespace(obj)
        expected = parse_resource_version(obj["metadata"].get("resourceVersion"))
        if expected == 0:
            raise ValueError("metadata.resourceVersion is required for an update")
        if self.dry_run:
            return self.update_claiming(resource, obj, obj)
        key, value = object_key(resource, namespace, name), encode(obj)
        revision = self._leased(resource, lambda lease: self.etcd.update(key, value, expected,
                                                                         lease))
        return with_resource_version(copy.deepcopy(obj), revision)

    def create_claiming(self, resource: str, obj: Object, claims: Iterable[Claim]) -> Object:
        """Create `obj` holding `claims`, in one transaction: only if the object and every claim
        are absent. Raises AlreadyExists (the object; checked first) or ClaimsTaken."""
        namespace, name = _name_and_namespace(obj)
        key = object_key(resource, namespace, name)
        claims = tuple(claims)
        by_key = {claim_key(c.pool, c.value): c for c in claims}
        try:
            revision = self._leased(resource, lambda lease: self.etcd.commit(
                absent=(key, *by_key), puts={key: encode(obj), **{
                    k: _owner(resource, namespace, name, c) for k, c in by_key.items()}},
                check_only=self.dry_run, leases={key: lease} if lease else None))
        except TxnFailed as e:
            if key in e.present:
                raise AlreadyExists(f"{key} already exists", key) from None
            raise ClaimsTaken(f"claims held by others: {e.present}",
                              tuple(by_key[k] for k in e.present if k in by_key)) from None
        if self.dry_run:
            out = copy.deepcopy(obj)
            out["metadata"].pop("resourceVersion", None)
            return out
        return with_resource_version(copy.deepcopy(obj), revision)

    def update_claiming(self, resource: str, old: Object, new: Object,
                        claim: Iterable[Claim] = (), release: Iterable[Claim] = ()) -> Object:
        """Replace `old` (compare-and-swap on its resourceVersion) by `new`, taking the claims
        in `claim` (only if absent) and letting go of those in `release`, in one transaction.
        Raises NotFound, Conflict, or ClaimsTaken."""
        namespace, name = _name_and_namespace(old)
        key = object_key(resource, namespace, name)
        wanted = {claim_key(c.pool, c.value): c for c in claim}
        try:
            revision = self._leased(resource, lambda lease: self.etcd.commit(
                absent=tuple(wanted),
                unchanged={key: parse_resource_version(old["metadata"]["resourceVersion"])},
                puts={key: encode(new), **{k: _owner(resource, namespace, name, c)
                                           for k, c in wanted.items()}},
                deletes=tuple(claim_key(c.pool, c.value) for c in release),
                check_only=self.dry_run, leases={key: lease} if lease else None))
        except TxnFailed as e:
            if key in e.missing:
                raise NotFound(f'{resource} "{name}" not found', key) from None
            if key in e.changed:
                raise Conflict(f"{key} was modified", key) from None
            raise ClaimsTaken(f"claims held by others: {e.present}",
                              tuple(wanted[k] for k in e.present if k in wanted)) from None
        if self.dry_run:
            return with_resource_version(copy.deepcopy(new),
                                         parse_resource_version(old["metadata"]["resourceVersion"]))
        return with_resource_version(copy.deepcopy(new), revision)

    def delete_releasing(self, resource: str, old: Object, release: Iterable[Claim]) -> Object:
        """Delete `old` (compare-and-swap on its resourceVersion) and the claims it held, in one
        transaction; returns it with the deletion's revision. Raises NotFound or Conflict."""
        namespace, name = _name_and_namespace(old)
        key = object_key(resource, namespace, name)
        try:
            revision = self.etcd.commit(
                unchanged={key: parse_resource_version(old["metadata"]["resourceVersion"])},
                deletes=(key, *(claim_key(c.pool, c.value) for c in release)),
                check_only=self.dry_run)
        except TxnFailed as e:
            if key in e.missing:
                raise NotFound(f'{resource} "{name}" not found', key) from None
            raise Conflict(f"{key} was modified", key) from None
        if self.dry_run:
            return copy.deepcopy(old)
        return with_resource_version(old, revision)

    def guaranteed_update(self, resource: str, namespace: str | None, name: str,
                          mutate: Callable[[Object], Object], attempts: int = 10) -> Object:
        """Read, apply `mutate` to a fresh copy, write with CAS; on Conflict re-read and retry
        (Kubernetes' GuaranteedUpdate). `mutate` must be a pure function of its input."""
        for _ in range(attempts - 1):
            try:
                return self.update(resource, mutate(self.get(resource, namespace, name)))
            except Conflict:
                continue
        return self.update(resource, mutate(self.get(resource, namespace, name)))

    def delete(self, resource: str, namespace: str | None, name: str,
               resource_version: str | int | None = None) -> Object:
        """Delete (only at `resource_version`, when given); returns the object as it was, with
        the deletion's revision as its resourceVersion (as a DELETED watch event carries it)."""
        if self.dry_run:
            current = self.get(resource, namespace, name)
            if resource_version and parse_resource_version(resource_version) != \
                    parse_resource_version(current["metadata"]["resourceVersion"]):
                raise Conflict(f"{resource}/{name} was modified", name)
            return current
        key = object_key(resource, namespace, name)
        revision, deleted = self.etcd.delete(key, parse_resource_version(resource_version) or None)
        return decode(deleted.value, revision)

    # --- watch ---

    def cached(self, resource: str, namespace: str | None = None,
               name_prefix: str = "") -> tuple[Objects, int]:
        """The objects of `resource` in its watch cache (in `namespace`, whose names start with
        `name_prefix`, when given; for a namespaced resource a name prefix needs the namespace),
        sorted by namespace and name, and the revision the cache is at. No etcd read. The
        objects are the cache's own: never change them (copy first)."""
        prefix = resource_prefix(resource, namespace) + name_prefix \
            if namespace or name_prefix else None
        return self.cache(resource).list(prefix)

    def cached_revision(self, resource: str) -> int:
        """The revision `resource`'s watch cache has seen up to."""
        return self.cache(resource).revision

    def cache(self, resource: str) -> WatchCache:
        """The resource's watch cache, started on first use (one etcd watch per resource)."""
        with self._caches_lock:
            cache = self._caches.get(resource)
            if cache is None:
                cache = WatchCache(self.etcd, resource_prefix(resource))
                cache.start()
                self._caches[resource] = cache
            return cache

    def watch(self, resource: str, namespace: str | None, resource_version: str | int | None,
              deliver: Deliver) -> Callable[[], None]:
        """Deliver every change after `resource_version` (in `namespace`, if given), then every
        new one; returns the function that stops the watch. A resourceVersion of "" or 0 means
        "from now". Raises Gone when the version is older than the cache's window."""
        cache = self.cache(resource)
        revision = parse_resource_version(resource_version) or cache.revision
        prefix = resource_prefix(resource, namespace) if namespace else None

        def filtered(event: WatchEvent | StoreError) -> None:
            if prefix is None or isinstance(event, StoreError) or event.key.startswith(prefix):
                deliver(event)

        return cache.subscribe(revision, filtered)
