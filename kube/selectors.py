"""Query selectors, as Kubernetes parses them: `labelSelector=app=web,tier!=db,env in (a,b),
!canary,release` and `fieldSelector=spec.nodeName=host1,metadata.name!=x`. Pure."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Predicate = Callable[[dict[str, Any]], bool]

_SET = re.compile(r"^\s*(!?)\s*([A-Za-z0-9_./-]+)\s*(?:(notin|in)\s*\(([^)]*)\))?\s*$")
_EQ = re.compile(r"^\s*([A-Za-z0-9_./-]+)\s*(==|=|!=)\s*([A-Za-z0-9_.-]*)\s*$")
FIELDS = ("metadata.name", "metadata.namespace", "spec.nodeName", "status.phase", "type",
          "involvedObject.name", "involvedObject.kind", "involvedObject.namespace",
          "involvedObject.uid", "reason")


class SelectorError(ValueError):
    pass


def _split_terms(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    terms, depth, current = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += ch
    if current.strip():
        terms.append(current)
    return [t for t in terms if t.strip()]


def _label_check(key: str, op: str, values: frozenset[str]) -> Callable[[dict[str, str]], bool]:
    """One term: the label's value in / not in `values` (an absent label is in none), or the
    label present / absent."""
    def check(labels: dict[str, str]) -> bool:
        if op == "present":
            return key in labels
        if op == "absent":
            return key not in labels
        return (labels.get(key) in values) == (op == "in")
    return check


def _field_check(path: str, value: str, negate: bool) -> Predicate:
    return lambda obj: (_field(obj, path) == value) != negate


def parse_label_selector(text: str | None) -> Callable[[dict[str, str]], bool]:
    """A predicate over a labels dict; "" or None selects everything."""
    checks: list[Callable[[dict[str, str]], bool]] = []
    for term in _split_terms(text or ""):
        if m := _EQ.match(term):
            key, op, value = m.groups()
            if op == "!=":
                checks.append(_label_check(key, "notin", frozenset({value})))
            else:
                checks.append(_label_check(key, "in", frozenset({value})))
        elif m := _SET.match(term):
            negate, key, op, values = m.groups()
            if op:
                if negate:
                    raise SelectorError(f"invalid label selector term {term.strip()!r}")
                allowed = {v.strip() for v in values.split(",") if v.strip()}
                if op == "in":
                    checks.append(_label_check(key, "in", frozenset(allowed)))
                else:
                    checks.append(_label_check(key, "notin", frozenset(allowed)))
            elif negate:
                checks.append(_label_check(key, "absent", frozenset()))
            else:
                checks.append(_label_check(key, "present", frozenset()))
        else:
            raise SelectorError(f"invalid label selector term {term.strip()!r}")
    return lambda labels: all(check(labels or {}) for check in checks)


def _field(obj: dict[str, Any], path: str) -> str:
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return "" if value is None else str(value)


def parse_field_selector(text: str | None) -> Predicate:
    """A predicate over an object; only the fields in FIELDS may be selected on."""
    checks: list[Predicate] = []
    for term in _split_terms(text or ""):
        m = _EQ.match(term)
        if not m:
            raise SelectorError(f"invalid field selector term {term.strip()!r}")
        path, op, value = m.groups()
        if path not in FIELDS:
            raise SelectorError(f"field label not supported: {path} (supported: "
                                f"{', '.join(FIELDS)})")
        checks.append(_field_check(path, value, op == "!="))
    return lambda obj: all(check(obj) for check in checks)


def selects(label_selector: str | None, field_selector: str | None) -> Predicate:
    by_labels = parse_label_selector(label_selector)
    by_fields = parse_field_selector(field_selector)
    return lambda obj: by_labels((obj.get("metadata") or {}).get("labels") or {}) and by_fields(obj)
