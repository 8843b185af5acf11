"""The etcd-backed object store (see store.py). Only the API server uses it."""

from orchestrator.store.errors import (AlreadyExists, ClaimsTaken, Conflict, Gone, NotFound,
                                       StoreError, Unavailable)
from orchestrator.store.etcd import Etcd, EtcdTLS
from orchestrator.store.store import Claim, Page, Store
from orchestrator.store.watchcache import ADDED, DELETED, MODIFIED, WatchEvent

__all__ = ["ADDED", "DELETED", "MODIFIED", "AlreadyExists", "Claim", "ClaimsTaken", "Conflict",
           "Etcd", "EtcdTLS", "Gone", "NotFound", "Page", "Store", "StoreError", "Unavailable",
           "WatchEvent"]
