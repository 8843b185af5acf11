"""How objects read in a table (pure): the cells kubectl prints for each kind (status words,
ready counts, ports, ages), shared by the kinds' column definitions (kube/kinds) and orchctl's
describe and printers. Objects and a clock in, text out."""

from __future__ import annotations

from datetime import datetime

from kube.conditions import condition
from kube.objects import Object
from kube.timestamps import parse_time


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


# --- status words ---

def pod_status(pod: Object) -> str:
    """The STATUS column, computed as kubectl does."""
    status = pod.get("status") or {}
    reason = status.get("reason") or status.get("phase") or "Pending"
    running = False
    inits = status.get("initContainerStatuses") or []
    initializing = False
    for i, cs in enumerate(inits):
        state = cs.get("state") or {}
        waiting, terminated = state.get("waiting"), state.get("terminated")
        if terminated and terminated.get("exitCode") == 0:
            continue
        initializing = True
        if terminated:  # failed
            signal = terminated.get("signal")
            reason = ("Init:" + terminated["reason"] if terminated.get("reason")
                      else f"Init:Signal:{signal}" if signal
                      else f"Init:ExitCode:{terminated.get('exitCode', 0)}")
        elif waiting and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{i}/{len(pod['spec'].get('initContainers') or inits)}"
        break
    initialized = condition(pod, "Initialized")
    for cs in reversed(status.get("containerStatuses") or []
                       if not initializing or (initialized or {}).get("status") == "True"
                       else []):
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
    status = pod.get("status") or {}
    statuses = [*(status.get("initContainerStatuses") or []),
                *(status.get("containerStatuses") or [])]
    count = sum(cs.get("restartCount", 0) for cs in statuses)
    finished = [parse_time(((cs.get("lastState") or {}).get("terminated") or {})
                           .get("finishedAt")) for cs in statuses]
    last = [t for t in finished if t is not None]
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
