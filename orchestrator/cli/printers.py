"""What `orchctl get` prints: kubectl's tables (same columns, same status words), and the
-o yaml|json|name forms. Pure: objects and a clock in, text out.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import yaml

from kube.conditions import condition
from kube.objects import Object
from kube.printing import (age, containers_and_images, cpu_text, endpoints_text, human_duration,
                           labels_text, memory_text, node_roles, node_status, pod_ready,
                           pod_restarts, pod_status, selector_text, service_ports)
from kube import table
from kube.registry import ResourceType
from kube.timestamps import parse_time

# The cells are kube.printing's (the kinds' columns use them too), conditions and times kube's
# own; re-exported for orchctl.
__all__ = ["age", "condition", "containers_and_images", "cpu_text", "endpoints_text",
           "human_duration", "labels_text", "memory_text", "node_roles", "node_status",
           "parse_time", "pod_ready", "pod_restarts", "pod_status", "selector_text",
           "service_ports"]

Row = list[str]


def qualified(rt: ResourceType) -> str:
    """"deployment.apps", "pod": how kubectl names a kind in `-o name` and in messages."""
    return f"{rt.singular}.{rt.group}" if rt.group else rt.singular


# --- tables ---

def table_rows(rt: ResourceType, objects: list[Object], now: datetime, wide: bool = False,
               all_namespaces: bool = False, show_labels: bool = False,
               header: bool = True) -> list[Row]:
    """kubectl's table of `objects`: NAME, then the kind's columns (kube/kinds: priority 0, and
    1 with `-o wide`)."""
    shown = [wide or c.priority == 0 for c in rt.columns]
    rows: list[Row] = []
    if header:
        rows.append((["NAMESPACE"] if all_namespaces else []) + ["NAME"] +
                    [c.name for c, s in zip(rt.columns, shown) if s] +
                    (["LABELS"] if show_labels else []))
    for obj in objects:
        meta = obj["metadata"]
        name, *cells = table.cells(rt, obj, now)  # the API's Tables print the same cells
        rows.append(([meta.get("namespace", "")] if all_namespaces else []) + [name] +
                    [cell for cell, s in zip(cells, shown) if s] +
                    ([labels_text(meta.get("labels"))] if show_labels else []))
    return rows


def format_rows(rows: list[Row], widths: list[int] | None = None) -> str:
    """Columns padded to the widest cell plus three spaces, as kubectl's tabwriter."""
    if not rows:
        return ""
    widths = widths or column_widths(rows)
    lines = []
    for row in rows:
        cells = [cell.ljust(widths[i]) if i < len(row) - 1 else cell for i, cell in enumerate(row)]
        lines.append("   ".join(cells).rstrip())
    return "\n".join(lines)


def column_widths(rows: list[Row]) -> list[int]:
    return [max(len(r[i]) for r in rows if i < len(r)) for i in range(max(map(len, rows)))]


# --- -o yaml|json|name ---

def without_managed_fields(obj: Object) -> Object:
    """The object without metadata.managedFields, which kubectl hides unless asked."""
    if "managedFields" not in (obj.get("metadata") or {}):
        return obj
    return {**obj, "metadata": {k: v for k, v in obj["metadata"].items()
                                if k != "managedFields"}}


def as_list(objects: list[Object]) -> Object:
    return {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""},
            "items": objects}


def to_yaml(obj: Any) -> str:
    return yaml.safe_dump(obj, sort_keys=False, default_flow_style=False)


def to_json(obj: Any) -> str:
    return json.dumps(obj, indent=4)


def name_of(rt: ResourceType, obj: Object) -> str:
    return f"{qualified(rt)}/{obj['metadata']['name']}"


def now_utc() -> datetime:
    return datetime.now(timezone.utc)
