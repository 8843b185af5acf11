"""Query selectors, as Kubernetes parses them: `labelSelector=app=web,tier!=db,env in (a,b),
!canary,release` and `fieldSelector=spec.nodeName=host1,metadata.name!=x`. Pure."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

Predicate = Callable[[dict[str, Any]], bool]

_SET = re.compile(r"^\s*(!?)\s*([A-Za-z0-9_./-]+)\s*(?:(notin|in)\s*\(([^)]*)\))?\s*$")
_EQ = re.compile(r"^\s*([A-Za-z0-9_./-]+)\s*(==|=|!=)\s*([A-Za-z0-9_.-]*)\s*$")
# Without a kind's own list (its strategy's selectable fields), only these may be selected on.
FIELDS = ("metadata.name", "metadata.namespace")


class SelectorError(ValueError):
    pass


# --- the one matcher: label selectors as objects (matchLabels, matchExpressions) ----------------

def requirement_matches(key: str, operator: str, values: Sequence[str] | frozenset[str],
                        labels: Mapping[str, str]) -> bool:
    """One requirement of a label or node selector, as Kubernetes' labels.Requirement.Matches:
    In / NotIn (an absent label is in no set), Exists / DoesNotExist, and the node-affinity
    operators Gt / Lt (the label and the single value compared as integers; an absent or
    non-integer label matches neither)."""
    if operator == "In":
        return key in labels and labels[key] in values
    if operator == "NotIn":
        return key not in labels or labels[key] not in values
    if operator == "Exists":
        return key in labels
    if operator == "DoesNotExist":
        return key not in labels
    if operator in ("Gt", "Lt"):
        try:
            number, bound = int(labels[key]), int(next(iter(values)))
        except (KeyError, ValueError, StopIteration):
            return False
        return number > bound if operator == "Gt" else number < bound
    raise SelectorError(f"unknown selector operator {operator!r}")


def label_selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str] | None
                           ) -> bool:
    """Whether `labels` satisfy a LabelSelector in its JSON form (`matchLabels`,
    `matchExpressions`; every term must hold). An empty selector matches everything; so does
    None here (callers that must treat a missing selector as "nothing" check it first)."""
    labels = labels or {}
    if not selector:
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    return all(requirement_matches(e["key"], e["operator"], e.get("values") or (), labels)
               for e in selector.get("matchExpressions") or [])


def map_selector_matches(selector: Mapping[str, str] | None, labels: Mapping[str, str] | None
                         ) -> bool:
    """A Service's or ReplicationController's selector, a plain map: every pair must match."""
    return label_selector_matches({"matchLabels": selector} if selector else None, labels)


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
    """One term of a selector string, as the requirement it stands for."""
    operator = {"in": "In", "notin": "NotIn", "present": "Exists", "absent": "DoesNotExist"}[op]
    return lambda labels: requirement_matches(key, operator, values, labels)


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
    if isinstance(value, bool):  # as Go formats it: spec.unschedulable=true
        return "true" if value else "false"
    return "" if value is None else str(value)


def parse_field_selector(text: str | None, fields: tuple[str, ...] = FIELDS) -> Predicate:
    """A predicate over an object; only `fields` (the kind's selectable fields) may be
    selected on."""
    checks: list[Predicate] = []
    for term in _split_terms(text or ""):
        m = _EQ.match(term)
        if not m:
            raise SelectorError(f"invalid field selector term {term.strip()!r}")
        path, op, value = m.groups()
        if path not in fields:
            raise SelectorError(f"field label not supported: {path} (supported: "
                                f"{', '.join(fields)})")
        checks.append(_field_check(path, value, op == "!="))
    return lambda obj: all(check(obj) for check in checks)


def selects(label_selector: str | None, field_selector: str | None,
            fields: tuple[str, ...] = FIELDS) -> Predicate:
    """Objects matching both selectors; `fields`: those the kind lets a field selector use."""
    by_labels = parse_label_selector(label_selector)
    by_fields = parse_field_selector(field_selector, fields)
    return lambda obj: by_labels((obj.get("metadata") or {}).get("labels") or {}) and by_fields(obj)
