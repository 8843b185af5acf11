"""What `orchctl get` prints: kubectl's tables (same columns, same status words), and the
-o yaml|json|name forms. Pure: objects and a clock in, text out.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import yaml

from kube.registry import ResourceType

Object = dict[str, Any]
Row = list[str]


# --- small formatters ---

def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def human_duration(seconds: float) -> str:
    """kubectl's short ages: 45s, 3m12s, 95m, 5h3m, 30h, 3d4h, 12d, 2y30d."""
    s = int(max(seconds, 0))
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if m < 180:
        return f"{m}m"
    h = m // 60
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    d = h // 24
    if d < 8:
        return f"{d}d{h % 24}h" if h % 24 else f"{d}d"
    if d < 365 * 2:
        return f"{d}d"
    y = d // 365
    return f"{y}y{d % 365}d" if y < 8 and d % 365 else f"{y}y"


def age(timestamp: str | None, now: datetime) -> str:
    t = parse_time(timestamp)
    return human_duration((now - t).total_seconds()) if t else "<unknown>"


def qualified(rt: ResourceType) -> str:
    """"deployment.apps", "pod": how kubectl names a kind in `-o name` and in messages."""
    return f"{rt.singular}.{rt.group}" if rt.group else rt.singular


def labels_text(labels: dict[str, str] | None) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted((labels or {}).items())) or "<none>"


def selector_text(selector: Object | None) -> str:
    if not selector:
        return "<none>"
    match = selector.get("matchLabels", selector if "matchExpressions" not in selector else {})
    parts = [f"{k}={v}" for k, v in sorted((match or {}).items()) if isinstance(v, str)]
    for e in selector.get("matchExpressions") or []:
        values = ",".join(e.get("values") or [])
        op = e.get("operator", "")
        parts.append({"In": f"{e['key']} in ({values})", "NotIn": f"{e['key']} notin ({values})",
                      "Exists": e["key"], "DoesNotExist": f"!{e['key']}"}.get(op, e["key"]))
    return ",".join(parts) or "<none>"


def condition(obj: Object, kind: str) -> Object | None:
    return next((c for c in (obj.get("status") or {}).get("conditions") or []
                 if c.get("type") == kind), None)


# --- status words ---

def pod_status(pod: Object) -> str:
    """The STATUS column, computed as kubectl does."""
    status = pod.get("status") or {}
    reason = status.get("reason") or status.get("phase") or "Pending"
    running = False
    for cs in reversed(status.get("containerStatuses") or []):
        state = cs.get("state") or {}
        waiting, terminated = state.get("waiting"), state.get("terminated")
        if waiting and waiting.get("reason"):
            reason = waiting["reason"]
        elif terminated and terminated.get("reason"):
            reason = terminated["reason"]
        elif terminated:
            signal = terminated.get("signal")
            reason = f"Signal:{signal}" if signal else f"ExitCode:{terminated.get('exitCode', 0)}"
        elif cs.get("ready") and "running" in state:
            running = True
    if reason == "Completed" and running:
        ready = condition(pod, "Ready")
        reason = "Running" if ready and ready.get("status") == "True" else "NotReady"
    if pod["metadata"].get("deletionTimestamp"):
        reason = "Unknown" if status.get("reason") == "NodeLost" else "Terminating"
    return reason


def pod_ready(pod: Object) -> str:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    total = len(pod["spec"].get("containers") or [])
    return f"{sum(1 for cs in statuses if cs.get('ready'))}/{total}"


def pod_restarts(pod: Object, now: datetime) -> str:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    count = sum(cs.get("restartCount", 0) for cs in statuses)
    last = [parse_time(((cs.get("lastState") or {}).get("terminated") or {}).get("finishedAt"))
            for cs in statuses]
    last = [t for t in last if t]
    if count and last:
        return f"{count} ({human_duration((now - max(last)).total_seconds())} ago)"
    return str(count)


def node_status(node: Object) -> str:
    ready = condition(node, "Ready")
    words = ["Unknown" if ready is None or ready.get("status") == "Unknown"
             else "Ready" if ready.get("status") == "True" else "NotReady"]
    if (node.get("spec") or {}).get("unschedulable"):
        words.append("SchedulingDisabled")
    return ",".join(words)


def node_roles(node: Object) -> str:
    prefix = "node-role.kubernetes.io/"
    roles = sorted(k[len(prefix):] for k in (node["metadata"].get("labels") or {})
                   if k.startswith(prefix))
    return ",".join(roles) or "<none>"


def service_ports(svc: Object) -> str:
    out = []
    for p in (svc.get("spec") or {}).get("ports") or []:
        text = str(p.get("port"))
        if p.get("nodePort"):
            text += f":{p['nodePort']}"
        out.append(f"{text}/{p.get('protocol', 'TCP')}")
    return ",".join(out) or "<none>"


def endpoints_text(ep: Object, limit: int = 3) -> str:
    addresses = [f"{a['ip']}:{p['port']}" for s in ep.get("subsets") or []
                 for p in s.get("ports") or [{"port": ""}]
                 for a in s.get("addresses") or []]
    addresses = [a.rstrip(":") for a in addresses]
    if not addresses:
        return "<none>"
    more = len(addresses) - limit
    return ",".join(addresses[:limit]) + (f" + {more} more..." if more > 0 else "")


def containers_and_images(template_spec: Object) -> tuple[str, str]:
    containers = template_spec.get("containers") or []
    return (",".join(c.get("name", "") for c in containers),
            ",".join(c.get("image", "") for c in containers))


def cpu_text(nano_cores: int | None) -> str:
    return "<unknown>" if nano_cores is None else f"{round(nano_cores / 1_000_000)}m"


def memory_text(size: int | None) -> str:
    return "<unknown>" if size is None else f"{size // (1024 * 1024)}Mi"


# --- tables ---

Columns = list[tuple[str, Callable[[Object, datetime], str], bool]]  # header, cell, wide-only


def _pod_ip(p: Object, _: datetime) -> str:
    return (p.get("status") or {}).get("podIP") or "<none>"


def _tmpl(o: Object) -> Object:
    return ((o.get("spec") or {}).get("template") or {}).get("spec") or {}


def _status(o: Object) -> Object:
    return o.get("status") or {}


def _node_address(n: Object, kind: str) -> str:
    return next((a["address"] for a in _status(n).get("addresses") or []
                 if a.get("type") == kind), "<none>")


def _node_info(n: Object, key: str) -> str:
    return (_status(n).get("nodeInfo") or {}).get(key) or "<unknown>"


def _event_object(e: Object) -> str:
    io = e.get("involvedObject") or {}
    return f"{(io.get('kind') or '').lower()}/{io.get('name', '')}"


def _event_last_seen(e: Object, now: datetime) -> str:
    return age(e.get("lastTimestamp") or e.get("eventTime") or
               e["metadata"].get("creationTimestamp"), now)


def _age(o: Object, now: datetime) -> str:
    return age(o["metadata"].get("creationTimestamp"), now)


_WORKLOAD_WIDE: Columns = [  # Deployments and ReplicaSets, with -o wide
    ("CONTAINERS", lambda o, _: containers_and_images(_tmpl(o))[0], True),
    ("IMAGES", lambda o, _: containers_and_images(_tmpl(o))[1], True),
    ("SELECTOR", lambda o, _: selector_text(o["spec"].get("selector")), True),
]

COLUMNS: dict[str, Columns] = {
    "pods": [
        ("READY", lambda p, _: pod_ready(p), False),
        ("STATUS", lambda p, _: pod_status(p), False),
        ("RESTARTS", pod_restarts, False),
        ("AGE", _age, False),
        ("IP", _pod_ip, True),
        ("NODE", lambda p, _: p["spec"].get("nodeName") or "<none>", True),
    ],
    "deployments": [
        ("READY", lambda d, _: f"{_status(d).get('readyReplicas', 0)}/"
                               f"{d['spec'].get('replicas', 1)}", False),
        ("UP-TO-DATE", lambda d, _: str(_status(d).get("updatedReplicas", 0)), False),
        ("AVAILABLE", lambda d, _: str(_status(d).get("availableReplicas", 0)), False),
        ("AGE", _age, False),
        *_WORKLOAD_WIDE,
    ],
    "replicasets": [
        ("DESIRED", lambda r, _: str(r["spec"].get("replicas", 1)), False),
        ("CURRENT", lambda r, _: str(_status(r).get("replicas", 0)), False),
        ("READY", lambda r, _: str(_status(r).get("readyReplicas", 0)), False),
        ("AGE", _age, False),
        *_WORKLOAD_WIDE,
    ],
    "services": [
        ("TYPE", lambda s, _: s["spec"].get("type", "ClusterIP"), False),
        ("CLUSTER-IP", lambda s, _: s["spec"].get("clusterIP") or "<none>", False),
        ("EXTERNAL-IP", lambda s, _: ",".join(s["spec"].get("externalIPs") or []) or "<none>",
         False),
        ("PORT(S)", lambda s, _: service_ports(s), False),
        ("AGE", _age, False),
        ("SELECTOR", lambda s, _: labels_text(s["spec"].get("selector")), True),
    ],
    "endpoints": [
        ("ENDPOINTS", lambda e, _: endpoints_text(e), False),
        ("AGE", _age, False),
    ],
    "nodes": [
        ("STATUS", lambda n, _: node_status(n), False),
        ("ROLES", lambda n, _: node_roles(n), False),
        ("AGE", _age, False),
        ("VERSION", lambda n, _: _node_info(n, "kubeletVersion"), False),
        ("INTERNAL-IP", lambda n, _: _node_address(n, "InternalIP"), True),
        ("EXTERNAL-IP", lambda n, _: _node_address(n, "ExternalIP"), True),
        ("OS-IMAGE", lambda n, _: _node_info(n, "osImage"), True),
        ("KERNEL-VERSION", lambda n, _: _node_info(n, "kernelVersion"), True),
        ("CONTAINER-RUNTIME", lambda n, _: _node_info(n, "containerRuntimeVersion"), True),
    ],
    "namespaces": [
        ("STATUS", lambda n, _: _status(n).get("phase", "Active"), False),
        ("AGE", _age, False),
    ],
    "configmaps": [
        ("DATA", lambda c, _: str(len(c.get("data") or {}) + len(c.get("binaryData") or {})),
         False),
        ("AGE", _age, False),
    ],
    "secrets": [
        ("TYPE", lambda s, _: s.get("type", "Opaque"), False),
        ("DATA", lambda s, _: str(len(s.get("data") or {}) + len(s.get("stringData") or {})),
         False),
        ("AGE", _age, False),
    ],
    "events": [
        ("LAST SEEN", _event_last_seen, False),
        ("TYPE", lambda e, _: e.get("type") or "Normal", False),
        ("REASON", lambda e, _: e.get("reason") or "", False),
        ("OBJECT", lambda e, _: _event_object(e), False),
        ("MESSAGE", lambda e, _: " ".join((e.get("message") or "").split()), False),
    ],
    "leases": [
        ("HOLDER", lambda le, _: (le.get("spec") or {}).get("holderIdentity") or "", False),
        ("AGE", _age, False),
    ],
}


def table_rows(rt: ResourceType, objects: list[Object], now: datetime, wide: bool = False,
               all_namespaces: bool = False, show_labels: bool = False,
               header: bool = True) -> list[Row]:
    columns = [c for c in COLUMNS.get(rt.resource, [("AGE", _age, False)]) if wide or not c[2]]
    rows: list[Row] = []
    if header:
        rows.append((["NAMESPACE"] if all_namespaces else []) + ["NAME"] +
                    [c[0] for c in columns] + (["LABELS"] if show_labels else []))
    for obj in objects:
        meta = obj["metadata"]
        rows.append(([meta.get("namespace", "")] if all_namespaces else []) + [meta["name"]] +
                    [cell(obj, now) for _, cell, _ in columns] +
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
