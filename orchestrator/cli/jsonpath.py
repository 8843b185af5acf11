"""kubectl's JSONPath templates (`-o jsonpath=…`, `-o custom-columns=…`). Pure.

A template is text with expressions in braces: `{.metadata.name}`, `{.items[*].metadata.name}`,
`{range .items[*]}{.metadata.name}{"\\n"}{end}`. An expression is a path from the current
object (or `$`, the root): `.field`, `['field']`, `[n]` (negative from the end), `[a:b]`,
`[*]`, `..field` (at any depth), and filters `[?(@.type=="Ready")]` (==, !=, <, >, <=, >=,
or a bare `@.field` for "has it"). Several results print separated by spaces; maps and lists
print as JSON, as kubectl prints them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


class JSONPathError(ValueError):
    pass


@dataclass(frozen=True)
class _Step:
    kind: str  # field | index | slice | all | deep | filter
    arg: Any = None


_TOKEN = re.compile(r"""
    \.\.(?P<deep>[\w\-/]+|\*) |
    \.(?P<field>[\w\-/]+|\*) |
    \[\s*'(?P<quoted>[^']*)'\s*\] |
    \[\s*"(?P<dquoted>[^"]*)"\s*\] |
    \[\s*\?\((?P<filter>.*?)\)\s*\] |
    \[\s*(?P<slice>-?\d*\s*:\s*-?\d*)\s*\] |
    \[\s*(?P<index>-?\d+)\s*\] |
    \[\s*\*\s*\]
""", re.X)
_FILTER = re.compile(r"^@((?:\.[\w\-/]+)+)\s*(?:(==|!=|<=|>=|<|>)\s*(.+))?$")


def _steps(expr: str) -> list[_Step]:
    expr = expr.strip()
    if expr.startswith("$"):
        expr = expr[1:]
    if expr and not expr.startswith((".", "[")):
        expr = "." + expr  # custom-columns' ".metadata.name" may lose its dot: "metadata.name"
    steps, at = [], 0
    while at < len(expr):
        m = _TOKEN.match(expr, at)
        if m is None:
            raise JSONPathError(f"unrecognized identifier in {expr!r} at {expr[at:]!r}")
        if m.group("deep") is not None:
            steps.append(_Step("deep", m.group("deep")))
        elif m.group("field") is not None:
            steps.append(_Step("all") if m.group("field") == "*" else _Step("field", m.group("field")))
        elif m.group("quoted") is not None or m.group("dquoted") is not None:
            steps.append(_Step("field", m.group("quoted") if m.group("quoted") is not None
                               else m.group("dquoted")))
        elif m.group("filter") is not None:
            f = _FILTER.match(m.group("filter").strip())
            if f is None:
                raise JSONPathError(f"unsupported filter {m.group('filter')!r}")
            path = [p for p in f.group(1).split(".") if p]
            literal = f.group(3)
            value = None
            if literal is not None:
                try:
                    value = json.loads(literal.replace("'", '"'))
                except ValueError:
                    raise JSONPathError(f"unsupported filter value {literal!r}") from None
            steps.append(_Step("filter", (path, f.group(2), value)))
        elif m.group("slice") is not None:
            start, _, end = m.group("slice").partition(":")
            steps.append(_Step("slice", (int(start) if start.strip() else None,
                                         int(end) if end.strip() else None)))
        elif m.group("index") is not None:
            steps.append(_Step("index", int(m.group("index"))))
        else:
            steps.append(_Step("all"))
        at = m.end()
    return steps


def _apply(step: _Step, node: Any) -> Iterator[Any]:
    if step.kind == "field":
        if isinstance(node, dict) and step.arg in node:
            yield node[step.arg]
    elif step.kind == "all":
        if isinstance(node, dict):
            yield from node.values()
        elif isinstance(node, list):
            yield from node
    elif step.kind == "index":
        if isinstance(node, list) and -len(node) <= step.arg < len(node):
            yield node[step.arg]
    elif step.kind == "slice":
        if isinstance(node, list):
            yield from node[step.arg[0]:step.arg[1]]
    elif step.kind == "deep":
        yield from _deep(node, step.arg)
    elif step.kind == "filter":
        path, op, value = step.arg
        for item in node if isinstance(node, list) else [node]:
            got: Any = item
            for part in path:
                got = got.get(part, _ABSENT) if isinstance(got, dict) else _ABSENT
            if _matches(got, op, value):
                yield item


_ABSENT = object()


def _matches(got: Any, op: str | None, value: Any) -> bool:
    if op is None:
        return got is not _ABSENT
    if got is _ABSENT:
        return op == "!="
    try:
        return {"==": got == value, "!=": got != value}[op] if op in ("==", "!=") else \
            {"<": got < value, ">": got > value, "<=": got <= value, ">=": got >= value}[op]
    except TypeError:
        return False


def _deep(node: Any, name: str) -> Iterator[Any]:
    if isinstance(node, dict):
        if name == "*":
            yield from node.values()
        elif name in node:
            yield node[name]
        for value in node.values():
            yield from _deep(value, name)
    elif isinstance(node, list):
        for value in node:
            yield from _deep(value, name)


def evaluate(expr: str, data: Any) -> list[Any]:
    """Every value `expr` selects in `data`."""
    nodes = [data]
    for step in _steps(expr):
        nodes = [out for node in nodes for out in _apply(step, node)]
    return nodes


def text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _parts(template: str) -> list[tuple[str, str]]:
    """("text", …) and ("expr", …) in order; an unclosed brace is an error."""
    out, at = [], 0
    while at < len(template):
        start = template.find("{", at)
        if start < 0:
            out.append(("text", template[at:]))
            break
        if start > at:
            out.append(("text", template[at:start]))
        end, depth, quote = start + 1, 1, None
        while end < len(template) and depth:
            ch = template[end]
            if quote:
                if ch == "\\":
                    end += 1
                elif ch == quote:
                    quote = None
            elif ch in "\"'":
                quote = ch
            elif ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            end += 1
        if depth:
            raise JSONPathError(f"unclosed action in {template!r}")
        out.append(("expr", template[start + 1:end - 1].strip()))
        at = end
    return out


def render(template: str, data: Any) -> str:
    """The template filled from `data`, as `kubectl get -o jsonpath=TEMPLATE` prints it."""
    parts = _parts(template)
    output: list[str] = []
    _render(parts, 0, len(parts), data, data, output)
    return "".join(output)


def _render(parts: list[tuple[str, str]], start: int, stop: int, current: Any, root: Any,
            out: list[str]) -> None:
    i = start
    while i < stop:
        kind, body = parts[i]
        if kind == "text":
            out.append(body)
        elif body.startswith("range "):
            end = _matching_end(parts, i, stop)
            for item in _select(body[len("range "):], current, root):
                _render(parts, i + 1, end, item, root, out)
            i = end
        elif body == "end":
            raise JSONPathError("{end} without {range}")
        elif body[:1] in "\"'":
            try:
                out.append(json.loads(body if body[0] == '"' else '"' + body[1:-1] + '"'))
            except ValueError:
                raise JSONPathError(f"bad string literal {body!r}") from None
        else:
            out.append(" ".join(text(v) for v in _select(body, current, root)))
        i += 1


def _select(expr: str, current: Any, root: Any) -> list[Any]:
    return evaluate(expr, root if expr.strip().startswith("$") else current)


def _matching_end(parts: list[tuple[str, str]], at: int, stop: int) -> int:
    depth = 0
    for i in range(at + 1, stop):
        kind, body = parts[i]
        if kind == "expr" and body.startswith("range "):
            depth += 1
        elif kind == "expr" and body == "end":
            if depth == 0:
                return i
            depth -= 1
    raise JSONPathError("{range} without {end}")


def custom_columns(spec: str) -> list[tuple[str, str]]:
    """`NAME:.metadata.name,NODE:.spec.nodeName` → [(header, expression)]."""
    columns = []
    for column in spec.split(","):
        header, sep, expr = column.partition(":")
        if not sep or not header or not expr:
            raise JSONPathError(f"custom-columns: {column!r} is not HEADER:EXPRESSION")
        expr = expr.strip()
        if expr.startswith("{") and expr.endswith("}"):
            expr = expr[1:-1]
        _steps(expr)  # checked now, not at the first row
        columns.append((header, expr))
    return columns


def column_value(expr: str, obj: Any) -> str:
    values = evaluate(expr, obj)
    return ",".join(text(v) for v in values) if values else "<none>"
