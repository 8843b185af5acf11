"""Validation of objects before they are stored: the typed model (pydantic), the name rule of
the kind, scope, and the rules of an update (immutable fields).

`validate_create` / `validate_update` return the object as it will be stored (defaults filled,
Kubernetes JSON) or raise Invalid listing every problem with its field path, e.g.
`spec.containers[0].image: Required value`. Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from kube.meta import NOT_IMPLEMENTED
from kube.registry import ResourceType

Object = dict[str, Any]

# Kubernetes' StatusCause reasons.
REQUIRED, INVALID, NOT_SUPPORTED, FORBIDDEN, UNKNOWN = (
    "FieldValueRequired", "FieldValueInvalid", "FieldValueNotSupported", "FieldValueForbidden",
    "FieldValueUnknown")


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str
    reason: str = INVALID

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class Invalid(ValueError):
    """422 Invalid: the object breaks one or more rules; `errors` names each field."""

    def __init__(self, kind: str, name: str, errors: list[FieldError]) -> None:
        self.kind, self.name, self.errors = kind, name, errors
        super().__init__(f'{kind} "{name}" is invalid: ' + "; ".join(map(str, errors)))


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
            errors.append(FieldError(path, "unknown field: this orchestrator does not support "
                                           "it, so it is refused rather than ignored", UNKNOWN))
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


def validate_create(rt: ResourceType, obj: Any, namespace: str | None = None) -> Object:
    """The object to store for a create in `namespace` (the request's), or Invalid."""
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
        errors += _from_pydantic(e)
        typed = None
    if errors or typed is None:
        raise Invalid(rt.kind, name, errors)
    out = typed.to_dict()
    if rt.namespaced:
        out["metadata"]["namespace"] = out["metadata"].get("namespace") or namespace or "default"
    return out


# Fields an update may not change, per kind ("metadata.name" etc. are kept by the server).
IMMUTABLE: dict[str, tuple[str, ...]] = {
    "Deployment": ("spec.selector",),
    "ReplicaSet": ("spec.selector",),
    "Service": ("spec.clusterIP",),
    "Secret": ("type",),
}


def _get(obj: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def _pod_spec_without_mutable(spec: Object) -> Object:
    """A pod's spec minus what Kubernetes lets an update change (container images, added
    tolerations) and what the server sets (nodeName, via binding)."""
    out = {k: v for k, v in spec.items() if k not in ("tolerations", "nodeName")}
    out["containers"] = [{k: v for k, v in c.items() if k != "image"}
                         for c in spec.get("containers", [])]
    return out


def validate_update(rt: ResourceType, old: Object, new: Any, namespace: str | None = None) -> Object:
    """The object to store for an update of `old` to `new`, or Invalid."""
    out = validate_create(rt, new, namespace)
    errors = []
    for path in IMMUTABLE.get(rt.kind, ()):
        before, after = _get(old, path), _get(out, path)
        if before is not None and after != before:
            errors.append(FieldError(path, "Invalid value: field is immutable"))
    if rt.kind == "Pod":
        if _pod_spec_without_mutable(old["spec"]) != _pod_spec_without_mutable(out["spec"]):
            errors.append(FieldError("spec", "Forbidden: pod updates may not change fields other "
                                     "than spec.containers[*].image and spec.tolerations",
                                     FORBIDDEN))
    if rt.kind in ("ConfigMap", "Secret") and old.get("immutable"):
        for path in ("data", "binaryData", "immutable"):
            if old.get(path) != out.get(path):
                errors.append(FieldError(path, "Forbidden: field is immutable when "
                                         "`immutable` is set", FORBIDDEN))
    if rt.kind == "Node":
        before = _get(old, "spec.podCIDR")
        if before and _get(out, "spec.podCIDR") != before:
            errors.append(FieldError("spec.podCIDR", "Forbidden: podCIDR may not be changed once "
                                     "set", FORBIDDEN))
    if errors:
        raise Invalid(rt.kind, (out.get("metadata") or {}).get("name", ""), errors)
    return out
