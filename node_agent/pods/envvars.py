"""Pure: a container's environment: the service variables (kubelet's service links), envFrom,
and `$(VAR)` expansion.

For every service of the pod's namespace that exists when the container starts and has a
cluster IP, docker-link style:

    WEB_SERVICE_HOST=10.96.0.20         WEB_SERVICE_PORT=80       WEB_SERVICE_PORT_HTTP=80
    WEB_PORT=tcp://10.96.0.20:80        WEB_PORT_80_TCP=tcp://10.96.0.20:80
    WEB_PORT_80_TCP_PROTO=tcp           WEB_PORT_80_TCP_PORT=80   WEB_PORT_80_TCP_ADDR=10.96.0.20

The first port is the one of WEB_SERVICE_PORT and WEB_PORT. The container's own `env` wins over
these (they are the base the spec's variables are laid over), and so does `envFrom`.

Also here: `$(VAR)` expansion (`expand`) in env values, command and args, and the variables
an envFrom source makes (`from_source`).
"""

from __future__ import annotations

import json

from kube import names
from kube.kinds.pod import Pod
from kube.kinds.service import Service


def env_name(name: str) -> str:
    return name.upper().replace("-", "_").replace(".", "_")


def service_env(services: list[Service]) -> dict[str, str]:
    env: dict[str, str] = {}
    for svc in sorted(services, key=lambda s: s.metadata.name or ""):
        ip, ports = svc.spec.cluster_ip, svc.spec.ports
        if not ip or ip == "None" or not ports:
            continue
        prefix = env_name(svc.metadata.name or "")
        env[f"{prefix}_SERVICE_HOST"] = ip
        env[f"{prefix}_SERVICE_PORT"] = str(ports[0].port)
        for i, port in enumerate(ports):
            proto = port.protocol.lower()
            number = port.port
            url = f"{proto}://{ip}:{number}"
            if port.name:
                env[f"{prefix}_SERVICE_PORT_{env_name(port.name)}"] = str(number)
            if i == 0:
                env[f"{prefix}_PORT"] = url
            base = f"{prefix}_PORT_{number}_{proto.upper()}"
            env.update({base: url, f"{base}_PROTO": proto, f"{base}_PORT": str(number),
                        f"{base}_ADDR": ip})
    return env


def field_ref_value(pod: Pod, path: str, node_name: str, pod_ip: str, host_ip: str) -> str:
    """The value of an env var's `fieldRef` (the downward API): a pod field by the paths the API
    admits (its validation refuses any other), a label or annotation by key
    (`metadata.labels['app']`; "" when absent, as kubelet gives)."""
    meta = pod.metadata
    if path.startswith(("metadata.labels[", "metadata.annotations[")):
        which, _, rest = path.removeprefix("metadata.").partition("[")
        found = meta.labels if which == "labels" else meta.annotations
        return (found or {}).get(rest.removesuffix("]").strip("'"), "")
    values = {"metadata.name": meta.name or "", "metadata.namespace": meta.namespace or "",
              "metadata.uid": meta.uid or "", "spec.nodeName": node_name,
              # one address family here: the lists hold the one address
              "status.podIP": pod_ip, "status.podIPs": pod_ip,
              "status.hostIP": host_ip, "status.hostIPs": host_ip}
    return values.get(path, "")


def volume_field_value(pod: Pod, path: str) -> str:
    """A downwardAPI volume file's content: a scalar field, or the whole labels or annotations
    as Kubernetes writes them (`key="value"` lines, sorted, values quoted)."""
    if path in ("metadata.labels", "metadata.annotations"):
        found = (pod.metadata.labels if path == "metadata.labels"
                 else pod.metadata.annotations) or {}
        return "\n".join(f"{k}={json.dumps(v)}" for k, v in sorted(found.items()))
    return field_ref_value(pod, path, "", "", "")


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' `$(VAR)` expansion in env values, command and args: a defined VAR is
    replaced, an undefined one is left as written, `$$` is a literal `$` (so `$$(VAR)` stays
    `$(VAR)`), and any other `$` is itself."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] != "$" or i + 1 == len(text):
            out.append(text[i])
            i += 1
            continue
        following = text[i + 1]
        if following == "$":
            out.append("$")
            i += 2
        elif following == "(":
            end = text.find(")", i + 2)
            if end < 0:
                out.append("$(")
                i += 2
            else:
                name = text[i + 2:end]
                out.append(env.get(name, f"$({name})"))
                i = end + 1
        else:
            out.append("$")
            i += 1
    return "".join(out)


def from_source(data: dict[str, str], prefix: str) -> tuple[dict[str, str], list[str]]:
    """envFrom: the variables an object's keys make (with `prefix`), and the keys that are
    not valid variable names (skipped, as the kubelet skips them)."""
    made, invalid = {}, []
    for key, value in data.items():
        name = prefix + key
        if names.env_var_name(name):
            invalid.append(key)
        else:
            made[name] = value
    return made, sorted(invalid)
