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


def parse_time(text: str | None) -> datetime | None:
    """A timestamp the server wrote ("2026-12-01T09:00:00Z", fractions allowed); None for none
    or one that does not parse (a reader of status shows "<unknown>" rather than failing)."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def format_time(moment: datetime) -> str:
    """A datetime as the server writes it (RFC 3339, seconds, UTC)."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str) -> datetime:
    """An RFC 3339 time ("2026-12-01T09:00:00Z", fractions and offsets allowed) as an aware
    datetime; ValueError for anything else."""
    if not text or "T" not in text.upper():
        raise ValueError(f"{text!r} is not an RFC 3339 time")
    parsed = datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone")
    return parsed
