"""Kubernetes resource quantities: "500m", "2", "0.5", "128Mi", "1Gi", "1e3", "100k".

Parsed exactly (Decimal), as Kubernetes does; `cpu_millis` and `memory_bytes` give the units the
scheduler and the agent work in.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_SUFFIXES: dict[str, Decimal] = {
    "": Decimal(1),
    "m": Decimal("0.001"),
    "k": Decimal(10) ** 3, "M": Decimal(10) ** 6, "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12, "P": Decimal(10) ** 15, "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10, "Mi": Decimal(2) ** 20, "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40, "Pi": Decimal(2) ** 50, "Ei": Decimal(2) ** 60,
}
_QUANTITY = re.compile(r"^([+-]?[0-9]+(?:\.[0-9]*)?|[+-]?\.[0-9]+)"
                       r"(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$")


class QuantityError(ValueError):
    pass


def parse_quantity(value: str | int | float) -> Decimal:
    if isinstance(value, bool):
        raise QuantityError(f"{value!r} is not a quantity")
    if isinstance(value, (int, float)):
        return Decimal(str(value))
    match = _QUANTITY.match(value.strip()) if isinstance(value, str) else None
    if not match:
        raise QuantityError(f"{value!r} is not a quantity (examples: 500m, 2, 128Mi, 1Gi)")
    number, suffix = match.group(1), match.group(2) or ""
    try:
        base = Decimal(number)
    except InvalidOperation as e:
        raise QuantityError(f"{value!r} is not a quantity") from e
    if suffix[:1] in ("e", "E"):
        return base * (Decimal(10) ** int(suffix[1:]))
    return base * _SUFFIXES[suffix]


def cpu_millis(value: str | int | float) -> int:
    """CPU in millicores, rounded up as Kubernetes rounds ("0.0001" → 1m)."""
    millis = parse_quantity(value) * 1000
    return int(millis.to_integral_value(rounding="ROUND_CEILING"))


def memory_bytes(value: str | int | float) -> int:
    return int(parse_quantity(value).to_integral_value(rounding="ROUND_CEILING"))


_BINARY = (("Ei", 60), ("Pi", 50), ("Ti", 40), ("Gi", 30), ("Mi", 20), ("Ki", 10))
_DECIMAL = (("E", 18), ("P", 15), ("T", 12), ("G", 9), ("M", 6), ("k", 3))


def format_quantity(value: Decimal, like: str | int | float = "") -> str:
    """`value` as Kubernetes writes a quantity: in the largest unit that holds it exactly,
    binary (Ki, Mi, Gi) where `like` is written so, else decimal (k, M, G); millis ("500m")
    for a fraction."""
    if value != value.to_integral_value():
        millis = (value * 1000).to_integral_value(rounding="ROUND_CEILING")
        return f"{millis}m"
    number = int(value)
    binary = isinstance(like, str) and like.endswith("i")
    for suffix, exponent in (_BINARY if binary else _DECIMAL):
        unit = 2 ** exponent if binary else 10 ** exponent
        if number and number % unit == 0:
            return f"{number // unit}{suffix}"
    return str(number)
