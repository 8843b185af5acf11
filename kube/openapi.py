"""The API's OpenAPI documents, generated from the kinds (pure): what `kubectl explain` reads,
and where kubectl and the client libraries find each list's merge key and strategy.

    /openapi/v3                      {"paths": {"api/v1": {"serverRelativeURL": …}, …}}
    /openapi/v3/api/v1               OpenAPI 3.0: the group-version's paths and schemas
    /openapi/v3/apis/apps/v1         …
    /openapi/v2                      Swagger 2.0: every group-version in one document

Schemas are named as Kubernetes names them (`io.k8s.api.core.v1.PodSpec`,
`io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta`), from the kinds' pydantic models: a model
of `kube/kinds/<kind>.py` belongs to that kind's group and version, one of `kube/meta.py` to
meta/v1. What pydantic writes is put in Kubernetes' form: no titles, `const` as a one-value
enum, an optional field as its type (absent from `required`), int-or-string as
`x-kubernetes-int-or-string`, and each list's merge metadata from the kind's `list_merge`
(`x-kubernetes-patch-merge-key`, `-patch-strategy`, `-list-type`, `-list-map-keys`). The top
level schema of a kind carries `x-kubernetes-group-version-kind`, and so does every operation.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

from kube.kinds import KINDS
from kube.kinds.base import Kind, ListMerge
from kube.meta import Model

META = "io.k8s.apimachinery.pkg.apis.meta.v1"
REF_PREFIX = "#/components/schemas/"
Schema = dict[str, Any]

# The verbs' query parameters a client may send, as Kubernetes documents them.
FIELD_VALIDATION = {
    "name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": True},
    "description": "How the server treats fields Kubernetes does not know, and duplicate "
                   "fields: Strict refuses them (400), Warn (the default) drops them with a "
                   "warning, Ignore drops them. A Kubernetes field this server does not "
                   "implement is refused (422) whatever the value."}
FIELD_MANAGER = {"name": "fieldManager", "in": "query", "schema": {"type": "string"},
                 "description": "The name of the actor making the change."}
PRETTY = {"name": "pretty", "in": "query", "schema": {"type": "string"},
          "description": "Accepted; the output is the same."}


def group_version(kind: Kind) -> str:
    """`v1` for the core group, `apps/v1` for a named one."""
    return f"{kind.group}/{kind.version}" if kind.group else kind.version


def document_path(kind: Kind) -> str:
    """The kind's group-version as its URLs have it: `api/v1`, `apis/apps/v1` (its operations
    are under it, and its document is /openapi/v3/ and this)."""
    return f"api/{kind.version}" if not kind.group else f"apis/{kind.group}/{kind.version}"


def _prefix(kind: Kind) -> str:
    return f"io.k8s.api.{kind.group.split('.')[0] or 'core'}.{kind.version}"


@cache
def _owners() -> dict[str, str]:
    """Model module → its schema-name prefix."""
    out = {"kube.meta": META}
    for kind in KINDS:
        out[kind.model.__module__] = _prefix(kind)
    return out


def schema_name(model: type[Model]) -> str:
    """A model's name in the documents, as Kubernetes names it."""
    if model.__name__ == "ObjectReference":  # core/v1's in Kubernetes, though shared here
        return "io.k8s.api.core.v1.ObjectReference"
    prefix = _owners().get(model.__module__)
    if prefix is None:
        raise LookupError(f"{model.__module__}.{model.__name__} belongs to no kind")
    return f"{prefix}.{model.__name__}"


def _models(model: type[Model], seen: dict[str, type[Model]]) -> None:
    """Every model reachable from `model`, by class name (which must be unique)."""
    name = model.__name__
    if name in seen:
        if seen[name] is not model:
            raise ValueError(f"two models are called {name}: {seen[name]} and {model}")
        return
    seen[name] = model
    for info in model.model_fields.values():
        for arg in _types_in(info.annotation):
            if isinstance(arg, type) and issubclass(arg, Model):
                _models(arg, seen)


def _types_in(annotation: Any) -> Iterable[Any]:
    """The types an annotation names (its arguments, an Annotated's origin; not its
    validators)."""
    yield annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        yield from _types_in(arg)
    origin = getattr(annotation, "__origin__", None)
    if origin is not None and origin is not annotation:
        yield from _types_in(origin)


def _kubernetes_form(node: Any, names: dict[str, str]) -> Any:
    """Pydantic's JSON schema as Kubernetes writes its schemas (see the module's docstring)."""
    if isinstance(node, list):
        return [_kubernetes_form(n, names) for n in node]
    if not isinstance(node, dict):
        return node
    # Not Kubernetes' (titles, closed objects) or not OpenAPI 3.0's (propertyNames).
    node = {k: v for k, v in node.items() if k not in ("title", "additionalProperties",
                                                       "propertyNames")
            or (k == "additionalProperties" and isinstance(v, dict))}
    if "$ref" in node:
        return {"$ref": REF_PREFIX + names[node["$ref"].rsplit("/", 1)[-1]]}
    if "const" in node:
        node["enum"] = [node.pop("const")]
    if node.get("default", 0) is None:
        node.pop("default")
    options = node.pop("anyOf", None)
    if options is not None:
        kept = [o for o in options if o.get("type") != "null"]
        types = {o.get("type") for o in kept}
        if types == {"integer", "string"}:
            node.update({"x-kubernetes-int-or-string": True, "format": "int-or-string"})
            node.pop("type", None)
        elif len(kept) == 1:  # an optional field: its type (a reference is taken as it is)
            node.update({k: v for k, v in kept[0].items() if k not in node or k == "type"})
            return _kubernetes_form(node, names)
        elif types <= {"integer", "number", "string"}:
            node["type"] = "string"  # a quantity: 1, 0.5, "500m" (Kubernetes' Quantity)
        else:
            node["anyOf"] = kept
    return {k: _kubernetes_form(v, names) for k, v in node.items()}


def _merge_annotations(merge: ListMerge) -> Schema:
    out: Schema = {"x-kubernetes-list-type": merge.list_type}
    if merge.list_type == "map":
        out["x-kubernetes-list-map-keys"] = list(merge.keys)
        out["x-kubernetes-patch-merge-key"] = merge.keys[0]
    if merge.strategy:
        out["x-kubernetes-patch-strategy"] = merge.strategy
    return out


def _annotate_lists(kind: Kind, schemas: dict[str, Schema]) -> None:
    """Each list path of the kind (`Kind.merge`: its own and ObjectMeta's), resolved through the
    schemas' references."""
    for path, merge in kind.merge.items():
        node = schemas[schema_name(kind.model)]
        parts = path.split(".")
        for i, part in enumerate(parts):
            field, items = part.removesuffix("[]"), part.endswith("[]")
            node = _resolve(node, schemas)
            prop = node["properties"][field]
            if i == len(parts) - 1:
                wanted = _merge_annotations(merge)
                clash = {k: v for k, v in wanted.items() if prop.get(k, v) != v}
                if clash:
                    raise ValueError(f"{kind.kind} {path}: {clash} differs from another path's")
                prop.update(wanted)
                break
            node = _resolve(prop, schemas)
            if items:
                node = _resolve(node["items"], schemas)


def _resolve(node: Schema, schemas: dict[str, Schema]) -> Schema:
    while "$ref" in node:
        node = schemas[node["$ref"].removeprefix(REF_PREFIX)]
    return node


@cache
def _all_schemas() -> dict[str, Schema]:
    """Every schema of every kind (and its List), by its Kubernetes name."""
    models: dict[str, type[Model]] = {}
    for kind in KINDS:
        _models(kind.model, models)
    names = {name: schema_name(model) for name, model in models.items()}
    schemas: dict[str, Schema] = {}
    for kind in KINDS:
        raw = kind.model.model_json_schema(by_alias=True, mode="validation")
        for name, definition in raw.pop("$defs", {}).items():
            schemas[names[name]] = _kubernetes_form(definition, names)
        top = _kubernetes_form(raw, names)
        gvk = [{"group": kind.group, "version": kind.version, "kind": kind.kind}]
        top["x-kubernetes-group-version-kind"] = gvk
        schemas[schema_name(kind.model)] = top
        schemas[f"{_prefix(kind)}.{kind.kind}List"] = {
            "type": "object", "required": ["items"],
            "properties": {"apiVersion": {"type": "string"}, "kind": {"type": "string"},
                           "metadata": {"$ref": REF_PREFIX + f"{META}.ListMeta"},
                           "items": {"type": "array",
                                     "items": {"$ref": REF_PREFIX + schema_name(kind.model)}}},
            "x-kubernetes-group-version-kind": [{**gvk[0], "kind": f"{kind.kind}List"}]}
    schemas[f"{META}.ListMeta"] = {"type": "object", "properties": {
        "resourceVersion": {"type": "string"}, "continue": {"type": "string"},
        "remainingItemCount": {"type": "integer", "format": "int64"}}}
    schemas[f"{META}.Status"] = {"type": "object", "properties": {
        "apiVersion": {"type": "string"}, "kind": {"type": "string"},
        "status": {"type": "string"}, "message": {"type": "string"},
        "reason": {"type": "string"}, "code": {"type": "integer", "format": "int32"},
        "details": {"type": "object"}},
        "x-kubernetes-group-version-kind": [{"group": "", "version": "v1", "kind": "Status"}]}
    for kind in KINDS:
        _annotate_lists(kind, schemas)
    _describe(schemas)
    return schemas


@cache
def _descriptions() -> dict[str, dict[str, str]]:
    """Kubernetes' own descriptions of the served types and fields (openapi_descriptions.json,
    made by scripts/gen-openapi-descriptions from Kubernetes' sources): `kubectl explain`."""
    docs: dict[str, dict[str, str]] = json.loads(
        Path(__file__).with_name("openapi_descriptions.json").read_text())
    return docs


def _describe(schemas: dict[str, Schema]) -> None:
    """Descriptions on the types and their properties; a property that is a reference is
    wrapped in allOf, as Kubernetes writes it (a $ref may have no siblings)."""
    for name, schema in schemas.items():
        docs = _descriptions().get(name)
        if not docs:
            continue
        if docs.get(""):
            schema.setdefault("description", docs[""])
        for field, prop in (schema.get("properties") or {}).items():
            text = docs.get(field)
            if not text or "description" in prop:
                continue
            if "$ref" in prop:
                ref = prop.pop("$ref")
                prop["allOf"] = [{"$ref": ref}]
            prop["description"] = text


def _reachable(roots: Iterable[str], schemas: dict[str, Schema]) -> dict[str, Schema]:
    out: dict[str, Schema] = {}
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in out:
            continue
        out[name] = schemas[name]
        todo += [ref.removeprefix(REF_PREFIX) for ref in _refs(schemas[name])]
    return dict(sorted(out.items()))


def _refs(node: Any) -> Iterable[str]:
    if isinstance(node, dict):
        if "$ref" in node:
            yield node["$ref"]
        for v in node.values():
            yield from _refs(v)
    elif isinstance(node, list):
        for v in node:
            yield from _refs(v)


def _json_response(ref: str, description: str = "OK") -> Schema:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": REF_PREFIX + ref}}}}


def _paths(kind: Kind) -> dict[str, Schema]:
    """The kind's operations, as kube-apiserver lists them (list, create, deletecollection on
    the collection; read, replace, patch, delete on an object)."""
    base = f"/{document_path(kind)}"
    collection = f"{base}/namespaces/{{namespace}}/{kind.resource}" if kind.namespaced \
        else f"{base}/{kind.resource}"
    item = f"{collection}/{{name}}"
    gvk = {"group": kind.group, "version": kind.version, "kind": kind.kind}
    name, lst, status = schema_name(kind.model), f"{_prefix(kind)}.{kind.kind}List", f"{META}.Status"
    body = {"required": True, "content": {"*/*": {"schema": {"$ref": REF_PREFIX + name}}}}
    patch_body = {"required": True, "content": {t: {"schema": {"type": "object"}} for t in (
        "application/merge-patch+json",)}}
    scope = [{"name": "namespace", "in": "path", "required": True, "schema": {"type": "string"}}] \
        if kind.namespaced else []
    named = [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}]
    where = "Namespaced" if kind.namespaced else ""

    def op(action: str, verb: str, response: str, **extra: Any) -> Schema:
        return {"operationId": f"{verb}{where}{kind.kind}", "tags": [group_version(kind)],
                "x-kubernetes-action": action, "x-kubernetes-group-version-kind": gvk,
                "responses": {"200": _json_response(response)}, **extra}

    writes = [FIELD_VALIDATION, FIELD_MANAGER]
    return {
        collection: {
            "parameters": [*scope, PRETTY],
            "get": op("list", "list", lst),
            "post": op("post", "create", name, requestBody=body, parameters=writes),
            "delete": op("deletecollection", "deleteCollection", status),
        },
        item: {
            "parameters": [*named, *scope, PRETTY],
            "get": op("get", "read", name),
            "put": op("put", "replace", name, requestBody=body, parameters=writes),
            "patch": op("patch", "patch", name, requestBody=patch_body, parameters=writes),
            "delete": op("delete", "delete", status),
        },
    }


def group_versions() -> list[str]:
    """`api/v1`, `apis/apps/v1`, …: the documents /openapi/v3 lists."""
    return list(dict.fromkeys(document_path(kind) for kind in KINDS))


@cache
def v3_document(path: str) -> Schema:
    """The OpenAPI 3.0 document of one group-version (`api/v1`, `apis/apps/v1`). Raises
    LookupError for a path the API does not serve."""
    kinds = [k for k in KINDS if document_path(k) == path]
    if not kinds:
        raise LookupError(path)
    schemas = _all_schemas()
    paths: dict[str, Schema] = {}
    for kind in kinds:
        paths.update(_paths(kind))
    roots = [ref.removeprefix(REF_PREFIX) for ref in _refs(paths)]
    return {"openapi": "3.0.0",
            "info": {"title": "Kubernetes", "version": "unversioned"},
            "paths": paths,
            "components": {"schemas": _reachable(roots, schemas)}}


def v3_index() -> Schema:
    """The /openapi/v3 index: each document's URL with a hash of its content (clients cache
    by it, as Kubernetes has them)."""
    return {"paths": {path: {"serverRelativeURL": f"/openapi/v3/{path}?hash={document_hash(path)}"}
                      for path in group_versions()}}


@cache
def document_hash(path: str) -> str:
    canonical = json.dumps(v3_document(path), sort_keys=True).encode()
    return hashlib.sha512(canonical).hexdigest()[:128].upper()


def _to_v2(node: Any) -> Any:
    """An OpenAPI 3 schema node as Swagger 2.0 has it (references under #/definitions; no
    anyOf: kept to its first alternative)."""
    if isinstance(node, list):
        return [_to_v2(n) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return {"$ref": "#/definitions/" + node["$ref"].removeprefix(REF_PREFIX)}
    node = dict(node)
    if "anyOf" in node:
        first = node.pop("anyOf")[0]
        node.update(first)
    if node.get("x-kubernetes-int-or-string"):
        node["type"] = "string"
        if "default" in node:  # swagger 2 has no int-or-string: the default in its form
            node["default"] = str(node["default"])
    return {k: _to_v2(v) for k, v in node.items()}


def _v2_operation(op: Schema) -> Schema:
    out = {k: v for k, v in op.items() if k not in ("requestBody", "responses", "parameters")}
    params = [_v2_parameter(p) for p in op.get("parameters", [])]
    body = op.get("requestBody")
    if body is not None:
        schema = next(iter(body["content"].values()))["schema"]
        params.append({"name": "body", "in": "body", "required": True, "schema": _to_v2(schema)})
    if params:
        out["parameters"] = params
    out["responses"] = {code: {"description": r["description"],
                               "schema": _to_v2(r["content"]["application/json"]["schema"])}
                        for code, r in op["responses"].items()}
    out["consumes"] = list(body["content"]) if body else ["*/*"]
    out["produces"] = ["application/json"]
    return out


def _v2_parameter(p: Schema) -> Schema:
    out = {k: v for k, v in p.items() if k != "schema"}
    out.update({k: v for k, v in p["schema"].items() if k in ("type",)})
    return out


@cache
def v2_document() -> Schema:
    """The Swagger 2.0 document of every group-version (/openapi/v2)."""
    paths: dict[str, Schema] = {}
    definitions: dict[str, Schema] = {}
    for path in group_versions():
        doc = v3_document(path)
        definitions.update(doc["components"]["schemas"])
        for url, item in doc["paths"].items():
            paths[url] = {verb: (_v2_operation(op) if verb != "parameters"
                                 else [_v2_parameter(p) for p in op])
                          for verb, op in item.items()}
    return {"swagger": "2.0", "info": {"title": "Kubernetes", "version": "unversioned"},
            "paths": paths,
            "definitions": {name: _to_v2(copy.deepcopy(s)) for name, s in sorted(definitions.items())}}
