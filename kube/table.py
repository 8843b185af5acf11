"""Server-side printing (pure): a kind's objects as a meta.k8s.io/v1 Table, the one
implementation behind both the API's `Accept: application/json;as=Table;g=meta.k8s.io;v=v1`
(what kubectl get asks for) and orchctl's tables.

Columns are the kind's (kube/kinds: `Kind.columns`), after NAME, with their type, format,
priority (1: kubectl shows it with -o wide) and description; each row's cells are the same
strings orchctl prints, and the row's object is, by `includeObject`, the object's metadata
(PartialObjectMetadata, the default), the whole object, or nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kube.kinds.base import Kind
from kube.media import accepted_as
from kube.objects import Object

NAME_COLUMN = {"name": "Name", "type": "string", "format": "name", "priority": 0,
               "description": "Name must be unique within a namespace. Cannot be updated."}
INCLUDE_OBJECT = ("None", "Metadata", "Object")


def wants_table(accept: str) -> bool:
    """Whether an Accept header asks for a meta.k8s.io/v1 (or v1beta1) Table."""
    return accepted_as(accept, "meta.k8s.io", "Table", ("v1", "v1beta1")) is not None


def column_definitions(kind: Kind) -> list[dict[str, Any]]:
    """NAME, then the kind's columns. Their names are kubectl's headers as printed (READY,
    CLUSTER-IP): kubectl upper-cases whatever it gets, so they print the same."""
    return [NAME_COLUMN] + [{"name": c.name, "type": c.type, "format": c.format,
                             "priority": c.priority, "description": c.description}
                            for c in kind.columns]


def cells(kind: Kind, obj: Object, now: datetime) -> list[str]:
    """NAME, then every column of the kind (all priorities), as printed."""
    name = kind.name_cell(obj) if kind.name_cell else obj["metadata"]["name"]
    return [name, *(c.cell(obj, now) for c in kind.columns)]


def row_object(obj: Object, include: str) -> Object | None:
    if include == "None":
        return None
    if include == "Object":
        return obj
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
            "metadata": obj["metadata"]}


def table(kind: Kind, objects: list[Object], now: datetime, list_metadata: Object | None = None,
          include: str = "Metadata") -> Object:
    """The Table of `objects` (one object for a get: a table of one row, as Kubernetes)."""
    if include not in INCLUDE_OBJECT:
        raise ValueError(f"includeObject {include!r} is not one of {', '.join(INCLUDE_OBJECT)}")
    rows = []
    for obj in objects:
        row: Object = {"cells": cells(kind, obj, now)}
        shown = row_object(obj, include)
        if shown is not None:
            row["object"] = shown
        rows.append(row)
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_metadata or {},
            "columnDefinitions": column_definitions(kind), "rows": rows}
