"""What a pod is in containers (pure): the sandbox's and each app container's configuration for
the runtime, their names and labels. Every container carries the labels of model.py, the only
way the agent finds a pod's containers again."""

from __future__ import annotations

from kube.kinds.pod import Container, Pod
from kube.quantity import cpu_millis, memory_bytes
from node_agent.pods.envvars import expand
from node_agent.pods.model import (LABEL_ATTEMPT, LABEL_CONTAINER, LABEL_POD_NAME,
                                   LABEL_POD_NAMESPACE, LABEL_POD_UID, LABEL_SPEC_HASH, PAUSE,
                                   container_spec_hash)
from node_agent.runtime.protocol import ContainerConfig, Mount, SandboxConfig

PAUSE_IMAGE = "orch/pause:1"


def container_name(pod: Pod, container: str, attempt: int) -> str:
    meta = pod.metadata
    return f"orch_{container}_{meta.name}_{meta.namespace}_{(meta.uid or '')[:8]}_{attempt}"


def labels(pod: Pod, container: str, attempt: int, spec_hash: str) -> dict[str, str]:
    meta = pod.metadata
    return {LABEL_POD_UID: meta.uid or "", LABEL_POD_NAMESPACE: meta.namespace or "",
            LABEL_POD_NAME: meta.name or "", LABEL_CONTAINER: container,
            LABEL_ATTEMPT: str(attempt), LABEL_SPEC_HASH: spec_hash}


def sandbox_config(pod: Pod, attempt: int, cluster_dns: str | None,
                   cluster_domain: str) -> SandboxConfig:
    """The sandbox: the pod's hostname, and its /etc/resolv.conf (the containers share it):
    with dnsPolicy ClusterFirst, the agent's DNS server and kubelet's search path, so `web` and
    `web.default` resolve; with Default, the host's resolvers."""
    meta = pod.metadata
    dns: dict[str, tuple[str, ...]] = {}
    if pod.spec.dns_policy == "ClusterFirst" and cluster_dns:
        d, ns = cluster_domain, meta.namespace
        dns = {"dns_servers": (cluster_dns,), "dns_searches": (f"{ns}.svc.{d}", f"svc.{d}", d),
               "dns_options": ("ndots:5",)}
    return SandboxConfig(container_name(pod, PAUSE, attempt), pod.spec.hostname or meta.name or "",
                         labels(pod, PAUSE, attempt, ""), **dns)


def container_config(pod: Pod, spec: Container, attempt: int, sandbox_id: str,
                     env: dict[str, str], mounts: tuple[Mount, ...]) -> ContainerConfig:
    """An app container: command and args as Kubernetes maps them onto the image's entrypoint
    and cmd, `$(VAR)` in them expanded from `env`; memory and cpu limits as cgroup limits; the
    cpu request as cpu shares."""
    limits = (spec.resources.limits if spec.resources else None) or {}
    requests = (spec.resources.requests if spec.resources else None) or {}
    return ContainerConfig(
        name=container_name(pod, spec.name, attempt), image=spec.image,
        labels=labels(pod, spec.name, attempt, container_spec_hash(spec)),
        sandbox_id=sandbox_id, env=env,
        entrypoint=tuple(expand(c, env) for c in spec.command) if spec.command else None,
        args=tuple(expand(a, env) for a in spec.args) if spec.args is not None else None,
        working_dir=spec.working_dir or None, mounts=mounts,
        memory_limit=memory_bytes(limits["memory"]) if "memory" in limits else None,
        nano_cpus=cpu_millis(limits["cpu"]) * 1_000_000 if "cpu" in limits else None,
        cpu_shares=max(2, cpu_millis(requests["cpu"]) * 1024 // 1000)
        if "cpu" in requests else None,
        stdin=bool(spec.stdin), stdin_once=bool(spec.stdin_once), tty=bool(spec.tty))
