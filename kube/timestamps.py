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


def parse_rfc3339(text: str) -> datetime:
    """An RFC 3339 time ("2026-12-01T09:00:00Z", fractions and offsets allowed) as an aware
    datetime; ValueError for anything else."""
    if not text or "T" not in text.upper():
        raise ValueError(f"{text!r} is not an RFC 3339 time")
    parsed = datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone")
    return parsed
