"""Durations on orchctl's command line (kube/durations.py): `--timeout 5m` or `--timeout 300`."""

from __future__ import annotations

from typing import Any

import click

from kube.durations import parse_duration


class Duration(click.ParamType):
    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> float:
        if isinstance(value, (int, float)):
            return float(value)
        try:
            return parse_duration(str(value))
        except ValueError as e:
            self.fail(str(e), param, ctx)


DURATION = Duration()
