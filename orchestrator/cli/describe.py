"""What `orchctl describe` prints: kubectl's layout (a header, the kind's own sections, then the
object's events). Pure: the command fetches the object and what it refers to, this renders.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kube.objects import Object
from kube.registry import ResourceType
from kube.revisions import template_without_hash
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
    a Service), as the command found them."""
    related = related or {}
    w = Writer()
    meta = obj["metadata"]
    w.field("Name", meta["name"])
    if rt.namespaced:
        w.field("Namespace", meta.get("namespace"))
    w.mapping("Labels", meta.get("labels"))
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k != LAST_APPLIED}
    w.mapping("Annotations", annotations)
    w.field("CreationTimestamp", meta.get("creationTimestamp"))
    if meta.get("deletionTimestamp"):
        w.field("Terminating since", meta["deletionTimestamp"])
    owner = next((o for o in meta.get("ownerReferences") or [] if o.get("controller")), None)
    if owner:
        w.field("Controlled By", f"{owner['kind']}/{owner['name']}")
    section = _SECTIONS.get(rt.resource, _generic)
    section(w, obj, now, related)
    _events(w, events, now)
    return w.text()


# --- per kind ---

def _container(w: Writer, c: Object, status: Object | None, now: datetime) -> None:
    w.line(f"{c['name']}:", 1)
    if status and status.get("containerID"):
        w.field("Container ID", status["containerID"], 2)
    w.field("Image", c.get("image"), 2)
    if c.get("command"):
        w.field("Command", " ".join(c["command"]), 2)
    if c.get("args"):
        w.field("Args", " ".join(c["args"]), 2)
    ports = ", ".join(f"{p['containerPort']}/{p.get('protocol', 'TCP')}"
                      for p in c.get("ports") or [])
    w.field("Port", ports or "<none>", 2)
    if status:
        for label, state in (("State", status.get("state")),
                             ("Last State", status.get("lastState"))):
            if not state:
                if label == "State":
                    w.field(label, "Waiting", 2)
                continue
            (name, detail), = list(state.items())[:1] or [("", {})]
            w.field(label, name.capitalize(), 2)
            for key in ("reason", "message", "exitCode", "startedAt", "finishedAt"):
                if (detail or {}).get(key) not in (None, ""):
                    w.field(key[0].upper() + key[1:], detail[key], 3)
        w.field("Ready", str(bool(status.get("ready"))), 2)
        w.field("Restart Count", status.get("restartCount", 0), 2)
    resources = c.get("resources") or {}
    for label in ("limits", "requests"):
        if resources.get(label):
            w.line(f"{label.capitalize()}:", 2)
            for k, v in sorted(resources[label].items()):
                w.field(k, v, 3)
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        if c.get(probe):
            w.field(probe.replace("Probe", "").capitalize(), _probe(c[probe]), 2)
    env = c.get("env") or []
    if env:
        w.line("Environment:", 2)
        for e in env:
            value = e.get("value") if "value" in e else f"<set from {list(e.get('valueFrom') or {'?': 0})[0]}>"
            w.field(e["name"], value, 3)
    else:
        w.field("Environment", "<none>", 2)
    mounts = c.get("volumeMounts") or []
    w.field("Mounts", "<none>" if not mounts else "", 2)
    for m in mounts:
        w.line(f"{m['mountPath']} from {m['name']}{' (ro)' if m.get('readOnly') else ' (rw)'}", 3)


def _probe(p: Object) -> str:
    if p.get("httpGet"):
        h = p["httpGet"]
        what = f"http-get http://:{h.get('port')}{h.get('path', '/')}"
    elif p.get("tcpSocket"):
        what = f"tcp-socket :{p['tcpSocket'].get('port')}"
    elif p.get("exec"):
        what = "exec [" + " ".join(p["exec"].get("command") or []) + "]"
    else:
        what = "<unknown>"
    return (f"{what} delay={p.get('initialDelaySeconds', 0)}s timeout="
            f"{p.get('timeoutSeconds', 1)}s period={p.get('periodSeconds', 10)}s "
            f"#success={p.get('successThreshold', 1)} #failure={p.get('failureThreshold', 3)}")


def _conditions(w: Writer, obj: Object, extra: tuple[str, ...] = ()) -> None:
    conditions = (obj.get("status") or {}).get("conditions") or []
    if not conditions:
        return
    w.line("Conditions:")
    rows = [["Type", "Status", *extra]]
    for c in conditions:
        rows.append([c.get("type", ""), c.get("status", "")] +
                    [str(c.get(k[0].lower() + k[1:], "")) for k in extra])
    w.table(rows)


def _pod(w: Writer, pod: Object, now: datetime, related: dict) -> None:
    spec, status = pod["spec"], pod.get("status") or {}
    node = spec.get("nodeName")
    w.field("Node", f"{node}/{status.get('hostIP', '')}" if node else "<none>")
    w.field("Start Time", status.get("startTime") or "<unset>")
    w.field("Status", printers.pod_status(pod))
    if status.get("reason"):
        w.field("Reason", status["reason"])
    if status.get("message"):
        w.field("Message", status["message"])
    w.field("IP", status.get("podIP") or "")
    by_name = {cs.get("name"): cs for cs in status.get("containerStatuses") or []}
    w.line("Containers:")
    for c in spec.get("containers") or []:
        _container(w, c, by_name.get(c["name"], {}), now)
    _conditions(w, pod)
    volumes = spec.get("volumes") or []
    w.field("Volumes", "<none>" if not volumes else "")
    for v in volumes:
        kind = next((k for k in v if k != "name"), "?")
        w.line(f"{v['name']}:", 1)
        w.field("Type", kind, 2)
    w.field("Node-Selectors", printers.labels_text(spec.get("nodeSelector")))
    tolerations = [f"{t.get('key', '')}{':' + t['effect'] if t.get('effect') else ''} "
                   f"op={t.get('operator', 'Equal')}"
                   + (f" for {t['tolerationSeconds']}s" if t.get("tolerationSeconds") else "")
                   for t in spec.get("tolerations") or []]
    for i, t in enumerate(tolerations or ["<none>"]):
        w.field("Tolerations" if i == 0 else "", t)


def template(w: Writer, template: Object, now: datetime) -> None:
    w.line("Pod Template:")
    w.mapping("Labels", (template.get("metadata") or {}).get("labels"), 1)
    w.line("Containers:", 1)
    for c in (template.get("spec") or {}).get("containers") or []:
        sub = Writer()
        _container(sub, c, None, now)
        for line in sub.lines:
            w.line(line, 1)


def _deployment(w: Writer, d: Object, now: datetime, related: dict) -> None:
    spec, status = d["spec"], d.get("status") or {}
    w.field("Selector", printers.selector_text(spec.get("selector")))
    replicas = spec.get("replicas", 1)
    w.field("Replicas", f"{replicas} desired | {status.get('updatedReplicas', 0)} updated | "
                        f"{status.get('replicas', 0)} total | "
                        f"{status.get('availableReplicas', 0)} available | "
                        f"{status.get('unavailableReplicas', 0)} unavailable")
    strategy = spec.get("strategy") or {}
    w.field("StrategyType", strategy.get("type", "RollingUpdate"))
    w.field("MinReadySeconds", spec.get("minReadySeconds", 0))
    if strategy.get("type", "RollingUpdate") == "RollingUpdate":
        rolling = strategy.get("rollingUpdate") or {}
        w.field("RollingUpdateStrategy", f"{rolling.get('maxUnavailable', '25%')} max "
                                         f"unavailable, {rolling.get('maxSurge', '25%')} max surge")
    if spec.get("paused"):
        w.field("Paused", "true")
    template(w, spec.get("template") or {}, now)
    _conditions(w, d, ("Reason",))
    sets = related.get("replicasets") or []
    template_hash = None
    for rs in sets:
        if _same_template(rs, d):
            template_hash = rs["metadata"]["name"]
    old = [rs for rs in sets if rs["metadata"]["name"] != template_hash
           and (rs.get("status") or {}).get("replicas", 0)]
    w.field("OldReplicaSets", ", ".join(f"{rs['metadata']['name']} "
                                        f"({rs['status']['replicas']}/{rs['spec'].get('replicas', 0)}"
                                        f" replicas created)" for rs in old) or "<none>")
    new = next((rs for rs in sets if rs["metadata"]["name"] == template_hash), None)
    w.field("NewReplicaSet", f"{new['metadata']['name']} ({(new.get('status') or {}).get('replicas', 0)}"
                             f"/{new['spec'].get('replicas', 0)} replicas created)"
            if new else "<none>")


def _same_template(rs: Object, d: Object) -> bool:
    return template_without_hash(rs["spec"]["template"]) == \
        template_without_hash(d["spec"]["template"])


def _replicaset(w: Writer, rs: Object, now: datetime, related: dict) -> None:
    spec, status = rs["spec"], rs.get("status") or {}
    w.field("Selector", printers.selector_text(spec.get("selector")))
    w.field("Replicas", f"{status.get('replicas', 0)} current / {spec.get('replicas', 1)} desired")
    pods = related.get("pods") or []
    phases = {p: sum(1 for x in pods if (x.get("status") or {}).get("phase") == p)
              for p in ("Running", "Pending", "Succeeded", "Failed")}
    w.field("Pods Status", " / ".join(f"{n} {p}" for p, n in phases.items()))
    template(w, spec.get("template") or {}, now)
    _conditions(w, rs, ("Reason",))


def _service(w: Writer, svc: Object, now: datetime, related: dict) -> None:
    spec = svc["spec"]
    w.field("Selector", printers.labels_text(spec.get("selector")))
    w.field("Type", spec.get("type", "ClusterIP"))
    w.field("IP", spec.get("clusterIP") or "None")
    endpoints = (related.get("endpoints") or [None])[0]
    for p in spec.get("ports") or []:
        name = p.get("name") or "<unset>"
        w.field("Port", f"{name}  {p['port']}/{p.get('protocol', 'TCP')}")
        w.field("TargetPort", f"{p.get('targetPort', p['port'])}/{p.get('protocol', 'TCP')}")
        if p.get("nodePort"):
            w.field("NodePort", f"{name}  {p['nodePort']}/{p.get('protocol', 'TCP')}")
        addresses = []
        for subset in (endpoints or {}).get("subsets") or []:
            port = next((ep["port"] for ep in subset.get("ports") or []
                         if ep.get("name", "") == p.get("name", "")), None)
            addresses += [f"{a['ip']}:{port}" for a in subset.get("addresses") or []]
        w.field("Endpoints", ",".join(addresses) or "<none>")
    w.field("Session Affinity", spec.get("sessionAffinity", "None"))


def _node(w: Writer, node: Object, now: datetime, related: dict) -> None:
    spec, status = node.get("spec") or {}, node.get("status") or {}
    w.field("Roles", printers.node_roles(node))
    taints = [f"{t['key']}{'=' + t['value'] if t.get('value') else ''}:{t['effect']}"
              for t in spec.get("taints") or []]
    for i, t in enumerate(taints or ["<none>"]):
        w.field("Taints" if i == 0 else "", t)
    w.field("Unschedulable", str(bool(spec.get("unschedulable"))).lower())
    _conditions(w, node, ("LastHeartbeatTime", "Reason", "Message"))
    w.line("Addresses:")
    for a in status.get("addresses") or []:
        w.field(a["type"], a["address"], 1)
    for label in ("capacity", "allocatable"):
        w.line(f"{label.capitalize()}:")
        for k, v in sorted((status.get(label) or {}).items()):
            w.field(k, v, 1)
    w.line("System Info:")
    info = status.get("nodeInfo") or {}
    for key in ("kernelVersion", "osImage", "operatingSystem", "architecture",
                "containerRuntimeVersion", "kubeletVersion"):
        w.field(key[0].upper() + key[1:], info.get(key, ""), 1)
    w.field("PodCIDR", spec.get("podCIDR") or "<none>")
    pods = [p for p in related.get("pods") or []
            if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
    w.line(f"Non-terminated Pods:          ({len(pods)} in total)")
    if pods:
        rows = [["Namespace", "Name", "CPU Requests", "Memory Requests", "Age"]]
        for p in pods:
            requests = [((c.get("resources") or {}).get("requests") or {})
                        for c in p["spec"].get("containers") or []]
            rows.append([p["metadata"].get("namespace", ""), p["metadata"]["name"],
                         ",".join(r["cpu"] for r in requests if "cpu" in r) or "0",
                         ",".join(r["memory"] for r in requests if "memory" in r) or "0",
                         printers.age(p["metadata"].get("creationTimestamp"), now)])
        w.table(rows)


def _generic(w: Writer, obj: Object, now: datetime, related: dict) -> None:
    body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
    for line in printers.to_yaml(body).splitlines() if body else []:
        w.line(line)


_SECTIONS = {"pods": _pod, "deployments": _deployment, "replicasets": _replicaset,
             "services": _service, "nodes": _node}


def _events(w: Writer, events: list[Object], now: datetime) -> None:
    if not events:
        w.field("Events", "<none>")
        return
    w.line("Events:")
    rows = [["Type", "Reason", "Age", "From", "Message"]]
    for e in sorted(events, key=lambda e: e.get("lastTimestamp") or ""):
        last = printers.age(e.get("lastTimestamp") or e["metadata"].get("creationTimestamp"), now)
        count = e.get("count", 1) or 1
        if count > 1:
            last += f" (x{count} over {printers.age(e.get('firstTimestamp'), now)})"
        rows.append([e.get("type") or "Normal", e.get("reason") or "", last,
                     (e.get("source") or {}).get("component") or e.get("reportingComponent")
                     or "", " ".join((e.get("message") or "").split())])
    w.table(rows)
