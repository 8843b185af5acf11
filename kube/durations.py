"""Durations as Kubernetes' clients write them: Go's `5m`, `1h30m`, `2.5s`, `300ms`, or a plain
number of seconds (orchctl's `--timeout 300`). The API's `timeout` parameter and orchctl's
flags read them. Pure."""

from __future__ import annotations

import re

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")


def parse_duration(text: str) -> float:
    """Seconds; ValueError names what is wrong."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    total, at = 0.0, 0
    for match in _PART.finditer(text):
        if match.start() != at:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        at = match.end()
    if not text or at != len(text):
        raise ValueError(f"invalid duration {text!r}: use a number of seconds or Go's form "
                         "(30s, 5m, 1h30m)")
    return total

