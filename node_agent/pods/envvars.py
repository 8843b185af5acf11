"""Pure: the service environment variables of a container (kubelet's service links).

For every service of the pod's namespace that exists when the container starts and has a
cluster IP, docker-link style:

    WEB_SERVICE_HOST=10.96.0.20         WEB_SERVICE_PORT=80       WEB_SERVICE_PORT_HTTP=80
    WEB_PORT=tcp://10.96.0.20:80        WEB_PORT_80_TCP=tcp://10.96.0.20:80
    WEB_PORT_80_TCP_PROTO=tcp           WEB_PORT_80_TCP_PORT=80   WEB_PORT_80_TCP_ADDR=10.96.0.20

The first port is the one of WEB_SERVICE_PORT and WEB_PORT. The container's own `env` wins over
these (they are the base the spec's variables are laid over).
"""

from __future__ import annotations

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
