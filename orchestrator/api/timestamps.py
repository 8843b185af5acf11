"""Timestamps as the API writes them: RFC 3339 in UTC, seconds (Time) or microseconds
(MicroTime, as Leases use)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def now_rfc3339(clock: Callable[[], datetime] = _utcnow) -> str:
    return clock().astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_rfc3339_micro() -> str:
    return _utcnow().strftime("%Y-%m-%dT%H:%M:%S.%fZ")
