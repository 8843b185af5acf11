"""Validation of objects before they are stored: the typed model (pydantic), the name rule of
the kind, scope, and the rules of an update (the kind's strategy: immutable fields and its
update rules, kube/kinds).

`validate_create` / `validate_update` return the object as it will be stored (defaults filled,
Kubernetes JSON) or raise Invalid listing every problem with its field path, e.g.
`spec.containers[0].image: Required value`. Nothing here does I/O.

A field the kind's model does not have is one of two things. If Kubernetes' own schema has it
(kube/protobuf.py: `hostNetwork`, `initContainers`), this orchestrator does not implement it:
422, whatever the request asks, for a field must never be silently ignored. If Kubernetes
does not know it either (a typo), `fieldValidation` decides, as in Kubernetes: Strict → 400
"strict decoding error: unknown field …", Warn → dropped with a warning, Ignore → dropped.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import ValidationError

from kube.field_errors import (FORBIDDEN, INVALID, NOT_SUPPORTED, REQUIRED, UNKNOWN, FieldError,
                               Invalid)
from kube import protobuf
from kube.meta import NOT_IMPLEMENTED
from kube.objects import Object
from kube.registry import ResourceType


__all__ = ["FORBIDDEN", "INVALID", "NOT_SUPPORTED", "REQUIRED", "UNKNOWN", "FieldError",
           "Invalid", "StrictDecodingError", "validate_create", "validate_update"]

FIELD_VALIDATIONS = ("Strict", "Warn", "Ignore")


class StrictDecodingError(ValueError):
    """400 BadRequest: fields Kubernetes does not know (or duplicates) under Strict."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("strict decoding error: " + ", ".join(problems))


def _loc(loc: tuple[Any, ...]) -> tuple[str | int, ...]:
    """A pydantic location without its validator steps: the object's own path."""
    return tuple(p for p in loc if isinstance(p, int) or not (
        p in ("function-after", "function-before") or str(p).startswith(("function-", "union["))))


def _without(obj: Any, paths: list[tuple[str | int, ...]]) -> Any:
    """A copy of `obj` without the fields at `paths`."""
    out = copy.deepcopy(obj)
    for path in paths:
        node = out
        for part in path[:-1]:
            try:
                node = node[part]
            except (KeyError, IndexError, TypeError):
                node = None
                break
        if isinstance(node, dict):
            node.pop(path[-1], None)
    return out


def field_path(loc: tuple[Any, ...]) -> str:
    """("spec", "containers", 0, "image") → "spec.containers[0].image"."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("function-after", "function-before") or str(part).startswith(("function-", "union[")):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out


def _from_pydantic(e: ValidationError) -> list[FieldError]:
    errors = []
    for err in e.errors():
        path = field_path(err["loc"])
        kind = err["type"]
        if kind == "missing":
            errors.append(FieldError(path, "Required value", REQUIRED))
        elif kind == "extra_forbidden":
            errors.append(FieldError(path, "Forbidden: a Kubernetes field this orchestrator "
                                           "does not implement, so it is refused rather than "
                                           "ignored", FORBIDDEN))
        elif kind == NOT_IMPLEMENTED:
            errors.append(FieldError(path, err["msg"], FORBIDDEN))
        elif kind == "literal_error":
            expected = err.get("ctx", {}).get("expected", "")
            errors.append(FieldError(path, f"Unsupported value: {err['input']!r}: supported "
                                           f"values: {expected}", NOT_SUPPORTED))
        else:
            message = err["msg"].removeprefix("Value error, ")
            errors.append(FieldError(path, message, INVALID))
    # A union (int | str) reports one error per member; keep one per path and message.
    unique: dict[tuple[str, str], FieldError] = {}
    for fe in errors:
        unique.setdefault((fe.field, fe.reason), fe)
    return list(unique.values())


def _scope_and_name(rt: ResourceType, obj: Object, namespace: str | None) -> list[FieldError]:
    errors = []
    metadata = obj.get("metadata") or {}
    name = metadata.get("name")
    if not name and not metadata.get("generateName"):
        errors.append(FieldError("metadata.name", "Required value: name or generateName is "
                                                  "required", REQUIRED))
    elif name:
        errors += [FieldError("metadata.name", f"Invalid value: {name!r}: {p}")
                   for p in rt.name_rule(name)]
    obj_ns = metadata.get("namespace")
    if rt.namespaced:
        if obj_ns and namespace and obj_ns != namespace:
            errors.append(FieldError("metadata.namespace", f"Invalid value: {obj_ns!r}: does not "
                                     f"match the namespace of the request ({namespace!r})"))
    elif obj_ns:
        errors.append(FieldError("metadata.namespace", f"Forbidden: {rt.kind} is not "
                                 "namespaced", FORBIDDEN))
    return errors


def validate_create(rt: ResourceType, obj: Any, namespace: str | None = None,
                    field_validation: str = "Strict", warnings: list[str] | None = None
                    ) -> Object:
    """The object to store for a create in `namespace` (the request's), or Invalid (or
    StrictDecodingError). Under Warn, a warning per dropped field goes to `warnings`."""
    if not isinstance(obj, dict):
        raise Invalid(rt.kind, "", [FieldError("", "the body must be a JSON object")])
    name = (obj.get("metadata") or {}).get("name") or ""
    errors = []
    if obj.get("apiVersion") not in (None, rt.api_version):
        errors.append(FieldError("apiVersion", f"Invalid value: {obj.get('apiVersion')!r}: "
                                 f"must be {rt.api_version!r}"))
    if obj.get("kind") not in (None, rt.kind):
        errors.append(FieldError("kind", f"Invalid value: {obj.get('kind')!r}: must be "
                                 f"{rt.kind!r}"))
    errors += _scope_and_name(rt, obj, namespace)
    try:
        typed = rt.model.model_validate(obj)
    except ValidationError as e:
        unknown = [_loc(err["loc"]) for err in e.errors() if err["type"] == "extra_forbidden"]
        typos = [p for p in unknown if not protobuf.known_field(rt.api_version, rt.kind, p)]
        if typos:
            problems = [f'unknown field "{field_path(p)}"' for p in typos]
            if field_validation == "Strict":
                raise StrictDecodingError(problems) from None
            if field_validation == "Warn" and warnings is not None:
                warnings += problems
            return validate_create(rt, _without(obj, typos), namespace, field_validation,
                                   warnings)
        errors += _from_pydantic(e)
        typed = None
    if errors or typed is None:
        raise Invalid(rt.kind, name, errors)
    out = typed.to_dict()
    if rt.namespaced:
        out["metadata"]["namespace"] = out["metadata"].get("namespace") or namespace or "default"
    return out


def _get(obj: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def validate_update(rt: ResourceType, old: Object, new: Any, namespace: str | None = None,
                    field_validation: str = "Strict", warnings: list[str] | None = None
                    ) -> Object:
    """The object to store for an update of `old` to `new`, or Invalid."""
    out = validate_create(rt, new, namespace, field_validation, warnings)
    errors = []
    for path in rt.immutable:  # the kind's strategy: fields fixed once set
        before, after = _get(old, path), _get(out, path)
        if before is not None and after != before:
            errors.append(FieldError(path, "Invalid value: field is immutable"))
    if rt.update_rules is not None:
        errors += rt.update_rules(old, out)
    if errors:
        raise Invalid(rt.kind, (out.get("metadata") or {}).get("name", ""), errors)
    return out
