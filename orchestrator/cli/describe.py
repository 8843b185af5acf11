"""What `orchctl describe` prints: kubectl's layout (a header, the kind's own sections, then the
object's events). Pure: the command fetches the object and what it refers to, this renders.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from kube.kinds.deployment import Deployment
from kube.kinds.endpoints import Endpoints
from kube.kinds.event import Event
from kube.kinds.node import Node
from kube.kinds.pod import Container, ContainerStatus, Pod, PodTemplateSpec, Probe
from kube.kinds.replicaset import ReplicaSet
from kube.kinds.service import Service
from kube.meta import Condition
from kube.objects import Object
from kube.ownership import controller_of
from kube.registry import ResourceType
from kube.revisions import template_without_hash
from kube.typed import Unreadable, metadata_of, typed, typed_all
from orchestrator.cli import printers
from orchestrator.cli.apply import LAST_APPLIED


class Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def field(self, label: str, value: Any, indent: int = 0) -> None:
        pad = "  " * indent
        self.lines.append(f"{pad}{label + ':':<{max(22 - len(pad), len(label) + 2)}}"
                          f"{'' if value is None else value}".rstrip())

    def mapping(self, label: str, values: dict[str, str] | None, indent: int = 0) -> None:
        items = sorted((values or {}).items())
        if not items:
            self.field(label, "<none>", indent)
            return
        for i, (k, v) in enumerate(items):
            self.field(label if i == 0 else "", f"{k}={v}", indent)

    def line(self, text: str = "", indent: int = 0) -> None:
        self.lines.append(("  " * indent + text).rstrip())

    def table(self, rows: list[list[str]], indent: int = 1) -> None:
        header = rows[0]
        underline = ["-" * len(h) for h in header]
        for line in printers.format_rows([header, underline] + rows[1:]).splitlines():
            self.line(line, indent)

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def describe(rt: ResourceType, obj: Object, events: list[Object], now: datetime,
             related: dict[str, list[Object]] | None = None) -> str:
    """`related`: pods (for a node, a ReplicaSet), replicasets (for a Deployment), endpoints (for
    a Service), as the command found them. The kind's own section reads the object typed."""
    related = related or {}
    w = Writer()
    meta = metadata_of(obj)
    w.field("Name", meta.name)
    if rt.namespaced:
        w.field("Namespace", meta.namespace)
    w.mapping("Labels", meta.labels)
    annotations = {k: v for k, v in (meta.annotations or {}).items() if k != LAST_APPLIED}
    w.mapping("Annotations", annotations)
    w.field("CreationTimestamp", meta.creation_timestamp)
    if meta.deletion_timestamp:
        w.field("Terminating since", meta.deletion_timestamp)
    owner = controller_of(meta)
    if owner:
        w.field("Controlled By", f"{owner.kind}/{owner.name}")
    section = _SECTIONS.get(rt.resource)
    shown = Writer()
    try:
        if section is not None:
            section(shown, obj, now, related)
    except Unreadable:  # an object its model does not read (a newer server's): as it is
        section = None
    if section is None:
        _generic(w, obj)
    else:
        w.lines += shown.lines
    _events(w, events, now)
    return w.text()


# --- per kind ---

def _container(w: Writer, c: Container, status: ContainerStatus | None, now: datetime) -> None:
    w.line(f"{c.name}:", 1)
    if status and status.container_id:
        w.field("Container ID", status.container_id, 2)
    w.field("Image", c.image, 2)
    if c.command:
        w.field("Command", " ".join(c.command), 2)
    if c.args:
        w.field("Args", " ".join(c.args), 2)
    ports = ", ".join(f"{p.container_port}/{p.protocol}" for p in c.ports or ())
    w.field("Port", ports or "<none>", 2)
    if status:
        for label, state in (("State", status.state), ("Last State", status.last_state)):
            shown = state.to_dict() if state else {}
            if not shown:
                if label == "State":
                    w.field(label, "Waiting", 2)
                continue
            (name, detail), = list(shown.items())[:1]
            w.field(label, name.capitalize(), 2)
            for key in ("reason", "message", "exitCode", "startedAt", "finishedAt"):
                if (detail or {}).get(key) not in (None, ""):
                    w.field(key[0].upper() + key[1:], detail[key], 3)
        w.field("Ready", str(status.ready), 2)
        w.field("Restart Count", status.restart_count, 2)
    for label, values in (("limits", c.resources.limits if c.resources else None),
                          ("requests", c.resources.requests if c.resources else None)):
        if values:
            w.line(f"{label.capitalize()}:", 2)
            for k, v in sorted(values.items()):
                w.field(k, v, 3)
    for label, probe in (("Liveness", c.liveness_probe), ("Readiness", c.readiness_probe)):
        if probe is not None:
            w.field(label, _probe(probe), 2)
    if c.env:
        w.line("Environment:", 2)
        for e in c.env:
            source = next(iter(e.value_from.to_dict()), "?") if e.value_from else "?"
            w.field(e.name, e.value if e.value is not None else f"<set from {source}>", 3)
    else:
        w.field("Environment", "<none>", 2)
    mounts = c.volume_mounts or []
    w.field("Mounts", "<none>" if not mounts else "", 2)
    for m in mounts:
        w.line(f"{m.mount_path} from {m.name}{' (ro)' if m.read_only else ' (rw)'}", 3)


def _probe(p: Probe) -> str:
    if p.http_get is not None:
        what = f"http-get http://:{p.http_get.port}{p.http_get.path}"
    elif p.tcp_socket is not None:
        what = f"tcp-socket :{p.tcp_socket.port}"
    elif p.exec is not None:
        what = "exec [" + " ".join(p.exec.command) + "]"
    else:
        what = "<unknown>"
    return (f"{what} delay={p.initial_delay_seconds}s timeout={p.timeout_seconds}s "
            f"period={p.period_seconds}s #success={p.success_threshold} "
            f"#failure={p.failure_threshold}")


def _conditions(w: Writer, conditions: Sequence[Condition] | None,
                extra: tuple[str, ...] = ()) -> None:
    if not conditions:
        return
    w.line("Conditions:")
    rows = [["Type", "Status", *extra]]
    for c in conditions:
        shown = c.to_dict()
        rows.append([c.type, c.status] + [str(shown.get(k[0].lower() + k[1:], "")) for k in extra])
    w.table(rows)


def _pod(w: Writer, obj: Object, now: datetime, related: dict[str, list[Object]]) -> None:
    pod = typed(Pod, obj)
    spec, status = pod.spec, pod.status
    node = spec.node_name
    w.field("Node", f"{node}/{status.host_ip or ''}" if node else "<none>")
    w.field("Start Time", status.start_time or "<unset>")
    w.field("Status", printers.pod_status(obj))
    if status.reason:
        w.field("Reason", status.reason)
    if status.message:
        w.field("Message", status.message)
    w.field("IP", status.pod_ip or "")
    by_name = {cs.name: cs for cs in [*(status.init_container_statuses or ()),
                                      *(status.container_statuses or ())]}
    if spec.init_containers:
        w.line("Init Containers:")
        for c in spec.init_containers:
            _container(w, c, by_name.get(c.name), now)
    w.line("Containers:")
    for c in spec.containers:
        _container(w, c, by_name.get(c.name), now)
    _conditions(w, status.conditions)
    volumes = spec.volumes or []
    w.field("Volumes", "<none>" if not volumes else "")
    for v in volumes:
        kind = next((k for k in v.to_dict() if k != "name"), "?")
        w.line(f"{v.name}:", 1)
        w.field("Type", kind, 2)
    w.field("Node-Selectors", printers.labels_text(spec.node_selector))
    tolerations = [f"{t.key or ''}{':' + t.effect if t.effect else ''} op={t.operator}"
                   + (f" for {t.toleration_seconds}s" if t.toleration_seconds else "")
                   for t in spec.tolerations or ()]
    for i, t in enumerate(tolerations or ["<none>"]):
        w.field("Tolerations" if i == 0 else "", t)


def template(w: Writer, template: PodTemplateSpec, now: datetime) -> None:
    w.line("Pod Template:")
    w.mapping("Labels", template.metadata.labels if template.metadata else None, 1)
    w.line("Containers:", 1)
    for c in template.spec.containers:
        sub = Writer()
        _container(sub, c, None, now)
        for line in sub.lines:
            w.line(line, 1)


def _deployment(w: Writer, obj: Object, now: datetime, related: dict[str, list[Object]]) -> None:
    d = typed(Deployment, obj)
    spec, status = d.spec, d.status
    w.field("Selector", printers.selector_text(spec.selector.to_dict()))
    w.field("Replicas", f"{spec.replicas} desired | {status.updated_replicas or 0} updated | "
                        f"{status.replicas or 0} total | "
                        f"{status.available_replicas or 0} available | "
                        f"{status.unavailable_replicas or 0} unavailable")
    w.field("StrategyType", spec.strategy.type)
    w.field("MinReadySeconds", spec.min_ready_seconds)
    rolling = spec.strategy.rolling_update
    if spec.strategy.type == "RollingUpdate" and rolling is not None:
        w.field("RollingUpdateStrategy", f"{rolling.max_unavailable} max unavailable, "
                                         f"{rolling.max_surge} max surge")
    if spec.paused:
        w.field("Paused", "true")
    template(w, spec.template, now)
    _conditions(w, status.conditions, ("Reason",))
    sets = typed_all(ReplicaSet, related.get("replicasets") or [])
    wanted = template_without_hash(spec.template.to_dict())
    new = next((rs for rs in reversed(sets)
                if template_without_hash(rs.spec.template.to_dict()) == wanted), None)
    old = [rs for rs in sets if rs is not new and rs.status.replicas]
    w.field("OldReplicaSets", ", ".join(f"{rs.metadata.name} ({rs.status.replicas}/"
                                        f"{rs.spec.replicas} replicas created)" for rs in old)
            or "<none>")
    w.field("NewReplicaSet", f"{new.metadata.name} ({new.status.replicas}/{new.spec.replicas} "
                             "replicas created)" if new else "<none>")


def _replicaset(w: Writer, obj: Object, now: datetime, related: dict[str, list[Object]]) -> None:
    rs = typed(ReplicaSet, obj)
    spec, status = rs.spec, rs.status
    w.field("Selector", printers.selector_text(spec.selector.to_dict()))
    w.field("Replicas", f"{status.replicas} current / {spec.replicas} desired")
    pods = typed_all(Pod, related.get("pods") or [])
    phases = {p: sum(1 for x in pods if x.status.phase == p)
              for p in ("Running", "Pending", "Succeeded", "Failed")}
    w.field("Pods Status", " / ".join(f"{n} {p}" for p, n in phases.items()))
    template(w, spec.template, now)
    _conditions(w, status.conditions, ("Reason",))


def _service(w: Writer, obj: Object, now: datetime, related: dict[str, list[Object]]) -> None:
    spec = typed(Service, obj).spec
    w.field("Selector", printers.labels_text(spec.selector))
    w.field("Type", spec.type)
    w.field("IP", spec.cluster_ip or "None")
    found = typed_all(Endpoints, related.get("endpoints") or [])
    subsets = (found[0].subsets if found else None) or []
    for p in spec.ports:
        name = p.name or "<unset>"
        target = p.target_port if p.target_port is not None else p.port
        w.field("Port", f"{name}  {p.port}/{p.protocol}")
        w.field("TargetPort", f"{target}/{p.protocol}")
        if p.node_port:
            w.field("NodePort", f"{name}  {p.node_port}/{p.protocol}")
        addresses = []
        for subset in subsets:
            port = next((ep.port for ep in subset.ports or ()
                         if (ep.name or "") == (p.name or "")), None)
            addresses += [f"{a.ip}:{port}" for a in subset.addresses or ()]
        w.field("Endpoints", ",".join(addresses) or "<none>")
    w.field("Session Affinity", spec.session_affinity)


def _node(w: Writer, obj: Object, now: datetime, related: dict[str, list[Object]]) -> None:
    node = typed(Node, obj)
    spec, status = node.spec, node.status
    w.field("Roles", printers.node_roles(obj))
    taints = [f"{t.key}{'=' + t.value if t.value else ''}:{t.effect}" for t in spec.taints or ()]
    for i, t in enumerate(taints or ["<none>"]):
        w.field("Taints" if i == 0 else "", t)
    w.field("Unschedulable", str(bool(spec.unschedulable)).lower())
    _conditions(w, status.conditions, ("LastHeartbeatTime", "Reason", "Message"))
    w.line("Addresses:")
    for a in status.addresses or ():
        w.field(a.type, a.address, 1)
    for label, values in (("capacity", status.capacity), ("allocatable", status.allocatable)):
        w.line(f"{label.capitalize()}:")
        for k, v in sorted((values or {}).items()):
            w.field(k, v, 1)
    w.line("System Info:")
    info = status.node_info.to_dict() if status.node_info else {}
    for key in ("kernelVersion", "osImage", "operatingSystem", "architecture",
                "containerRuntimeVersion", "kubeletVersion"):
        w.field(key[0].upper() + key[1:], info.get(key, ""), 1)
    w.field("PodCIDR", spec.pod_cidr or "<none>")
    pods = [p for p in typed_all(Pod, related.get("pods") or [])
            if p.status.phase not in ("Succeeded", "Failed")]
    w.line(f"Non-terminated Pods:          ({len(pods)} in total)")
    if pods:
        rows = [["Namespace", "Name", "CPU Requests", "Memory Requests", "Age"]]
        for p in pods:
            requests = [(c.resources.requests if c.resources else None) or {}
                        for c in p.spec.containers]
            rows.append([p.metadata.namespace or "", p.metadata.name or "",
                         ",".join(str(r["cpu"]) for r in requests if "cpu" in r) or "0",
                         ",".join(str(r["memory"]) for r in requests if "memory" in r) or "0",
                         printers.age(p.metadata.creation_timestamp, now)])
        w.table(rows)


def _generic(w: Writer, obj: Object) -> None:
    """A kind without a section of its own: its fields past metadata, as YAML."""
    body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
    for line in printers.to_yaml(body).splitlines() if body else []:
        w.line(line)


Section = Callable[[Writer, Object, datetime, dict[str, list[Object]]], None]
_SECTIONS: dict[str, Section] = {"pods": _pod, "deployments": _deployment,
                                 "replicasets": _replicaset, "services": _service, "nodes": _node}


def _events(w: Writer, events: list[Object], now: datetime) -> None:
    if not events:
        w.field("Events", "<none>")
        return
    w.line("Events:")
    rows = [["Type", "Reason", "Age", "From", "Message"]]
    for e in sorted(typed_all(Event, events), key=lambda e: e.last_timestamp or ""):
        last = printers.age(e.last_timestamp or e.metadata.creation_timestamp, now)
        count = e.count or 1
        if count > 1:
            last += f" (x{count} over {printers.age(e.first_timestamp, now)})"
        rows.append([e.type or "Normal", e.reason or "", last,
                     (e.source.component if e.source else None) or e.reporting_component or "",
                     " ".join((e.message or "").split())])
    w.table(rows)
