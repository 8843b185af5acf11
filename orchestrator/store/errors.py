"""Errors of the object store, translated once from etcd and gRPC at the store's boundary.

    StoreError
    ├── NotFound        no object under that key                         → 404 NotFound
    ├── AlreadyExists   create of a key that exists                      → 409 AlreadyExists
    ├── Conflict        update/delete with a stale resourceVersion       → 409 Conflict
    ├── Gone            revision compacted, or older than the watch window → 410 Gone (Expired)
    ├── ClaimsTaken     a write claimed values another object holds           → the caller retries
    │                   with other values, or refuses the ones that were requested (422)
    └── Unavailable     etcd unreachable, no leader, or timed out        → 503 (retryable)

Unavailable is the only retryable one; it says after how long a retry makes sense. A write that
failed with Unavailable may or may not have been applied: callers retry idempotently (a create
then meets AlreadyExists, an update Conflict).
"""

from __future__ import annotations


class StoreError(Exception):
    """Base of the store's errors; `key` names the object (or prefix) concerned."""

    def __init__(self, message: str, key: str = "") -> None:
        super().__init__(message)
        self.key = key


class NotFound(StoreError):
    pass


class AlreadyExists(StoreError):
    pass


class Conflict(StoreError):
    pass


class Gone(StoreError):
    pass


class LeaseNotFound(StoreError):
    """A write named an etcd lease that etcd no longer holds (it ran out). Nothing was written."""


class ClaimsTaken(StoreError):
    """A write that claimed values (addresses) found some of them held by another object;
    `taken` holds those claims (store.Claim). Nothing was written."""

    def __init__(self, message: str, taken: tuple[object, ...]) -> None:
        super().__init__(message)
        self.taken = taken


class Unavailable(StoreError):
    def __init__(self, message: str, key: str = "", retry_after: float = 1.0) -> None:
        super().__init__(message, key)
        self.retry_after = retry_after
