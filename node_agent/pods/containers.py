"""What a pod is in containers (pure): the sandbox's and each app container's configuration for
the runtime, their names and labels. Every container carries the labels of model.py, the only
way the agent finds a pod's containers again."""

from __future__ import annotations

from typing import TypeVar

from kube.kinds.pod import Container, Pod, PodSpec, SecurityContext
from kube.quantity import cpu_millis, memory_bytes
from node_agent.pods.envvars import expand
from node_agent.pods.model import (LABEL_ATTEMPT, LABEL_CONTAINER, LABEL_POD_NAME,
                                   LABEL_POD_NAMESPACE, LABEL_POD_UID, LABEL_SPEC_HASH, PAUSE,
                                   container_spec_hash)
from node_agent.runtime.protocol import (ContainerConfig, Mount, Namespaces, PortMapping,
                                         SandboxConfig, Security)

PAUSE_IMAGE = "orch/pause:1"
T = TypeVar("T")


def container_name(pod: Pod, container: str, attempt: int) -> str:
    meta = pod.metadata
    return f"orch_{container}_{meta.name}_{meta.namespace}_{(meta.uid or '')[:8]}_{attempt}"


def labels(pod: Pod, container: str, attempt: int, spec_hash: str) -> dict[str, str]:
    meta = pod.metadata
    return {LABEL_POD_UID: meta.uid or "", LABEL_POD_NAMESPACE: meta.namespace or "",
            LABEL_POD_NAME: meta.name or "", LABEL_CONTAINER: container,
            LABEL_ATTEMPT: str(attempt), LABEL_SPEC_HASH: spec_hash}


def uses_cluster_dns(spec: PodSpec) -> bool:
    """Kubernetes' dnsPolicy: ClusterFirst is the cluster's DNS except in the node's network
    (there it falls back to Default, the node's resolvers), ClusterFirstWithHostNet is it
    always."""
    return (spec.dns_policy == "ClusterFirstWithHostNet"
            or (spec.dns_policy == "ClusterFirst" and not spec.host_network))


def sandbox_config(pod: Pod, attempt: int, cluster_dns: str | None,
                   cluster_domain: str) -> SandboxConfig:
    """The sandbox, which holds what the pod's containers share: its namespaces (the node's
    network, PID or IPC with hostNetwork, hostPID, hostIPC), its hostname (the node's in the
    node's network; with a subdomain, its FQDN <hostname>.<subdomain>.<ns>.svc.<domain>), its
    /etc/hosts (with the hostAliases) and /etc/resolv.conf (the cluster DNS and kubelet's
    search path, so `web` and `web.default` resolve, or the node's resolvers; see
    uses_cluster_dns), the app containers' hostPorts, and the pod's sysctls (set in the
    sandbox's network and IPC namespaces, which the containers join)."""
    meta, spec = pod.metadata, pod.spec
    dns: dict[str, tuple[str, ...]] = {}
    if uses_cluster_dns(spec) and cluster_dns:
        d, ns = cluster_domain, meta.namespace
        dns = {"dns_servers": (cluster_dns,), "dns_searches": (f"{ns}.svc.{d}", f"svc.{d}", d),
               "dns_options": ("ndots:5",)}
    ports = () if spec.host_network else tuple(
        PortMapping(p.container_port, p.host_port, p.protocol, p.host_ip or "")
        for c in spec.containers for p in c.ports or () if p.host_port)
    return SandboxConfig(
        container_name(pod, PAUSE, attempt),
        "" if spec.host_network else spec.hostname or meta.name or "",
        labels(pod, PAUSE, attempt, ""), **dns,
        namespaces=Namespaces(network="node" if spec.host_network else "pod",
                              pid="node" if spec.host_pid else "container",
                              ipc="node" if spec.host_ipc else "pod"),
        ports=ports,
        extra_hosts=tuple((name, alias.ip) for alias in spec.host_aliases or ()
                          for name in alias.hostnames or ()),
        domainname=f"{spec.subdomain}.{meta.namespace}.svc.{cluster_domain}"
        if spec.subdomain and not spec.host_network else "",
        sysctls=tuple((s.name, s.value) for s in spec.security_context.sysctls or ()))


def container_namespaces(spec: PodSpec) -> Namespaces:
    """An app or init container's: the pod's network; its IPC (the node's with hostIPC); its
    own PID namespace unless the pod shares one (shareProcessNamespace) or takes the node's."""
    return Namespaces(network="node" if spec.host_network else "pod",
                      pid="node" if spec.host_pid
                      else "pod" if spec.share_process_namespace else "container",
                      ipc="node" if spec.host_ipc else "pod")


def needs_image_user(pod: Pod, spec: Container) -> bool:
    """Whether security() needs the image's user: to check runAsNonRoot without a runAsUser,
    or to give a runAsGroup without one."""
    user, group, non_root = _effective(pod, spec)
    return user is None and (bool(non_root) or group is not None)


def _effective(pod: Pod, spec: Container) -> tuple[int | None, int | None, bool | None]:
    """runAsUser, runAsGroup and runAsNonRoot: the container's where it sets them, else the
    pod's."""
    pods = pod.spec.security_context
    mine = spec.security_context or SecurityContext()

    def pick(container: T | None, pod_wide: T | None) -> T | None:
        return container if container is not None else pod_wide

    return (pick(mine.run_as_user, pods.run_as_user), pick(mine.run_as_group, pods.run_as_group),
            pick(mine.run_as_non_root, pods.run_as_non_root))


def non_root_problem(pod: Pod, spec: Container, image_user: str) -> str | None:
    """Kubelet's verifyRunAsNonRoot: why runAsNonRoot keeps this container from starting.
    The image's user counts where runAsUser is not set: "" and "0" are root, a name cannot be
    checked."""
    user, _group, non_root = _effective(pod, spec)
    where = f"pod: {pod.metadata.name}_{pod.metadata.namespace}({pod.metadata.uid}), " \
            f"container: {spec.name}"
    if not non_root:
        return None
    if user is not None:
        return None if user != 0 else f"container's runAsUser breaks non-root policy ({where})"
    image_uid = image_user.split(":")[0]
    if image_uid in ("", "0"):
        return f"container has runAsNonRoot and image will run as root ({where})"
    if not image_uid.isdigit():
        return (f"container has runAsNonRoot and image has non-numeric user ({image_uid}), "
                f"cannot verify user is non-root ({where})")
    return None


def security(pod: Pod, spec: Container, image_user: str = "") -> Security:
    """The container's securityContext (over the pod's) for the runtime. Seccomp: Kubernetes'
    default, Unconfined, unless a RuntimeDefault profile is asked for."""
    user, group, _ = _effective(pod, spec)
    pod_sc, mine = pod.spec.security_context, spec.security_context
    run_as: str | None = None if user is None else str(user)
    if group is not None:
        run_as = f"{run_as or image_user.split(':')[0] or '0'}:{group}"
    groups = [g for g in (pod_sc.fs_group, *(pod_sc.supplemental_groups or ())) if g is not None]
    profile = (mine.seccomp_profile if mine is not None and mine.seccomp_profile is not None
               else pod_sc.seccomp_profile)
    caps = mine.capabilities if mine is not None else None
    return Security(
        user=run_as, groups=tuple(dict.fromkeys(groups)),
        read_only_root=bool(mine and mine.read_only_root_filesystem),
        privileged=bool(mine and mine.privileged),
        cap_add=tuple((caps.add if caps else None) or ()),
        cap_drop=tuple((caps.drop if caps else None) or ()),
        no_new_privileges=bool(mine and mine.allow_privilege_escalation is False),
        seccomp="runtime-default" if profile is not None and profile.type == "RuntimeDefault"
        else "unconfined")


def container_config(pod: Pod, spec: Container, attempt: int, sandbox_id: str,
                     env: dict[str, str], mounts: tuple[Mount, ...],
                     image_user: str = "") -> ContainerConfig:
    """An app or init container: command and args as Kubernetes maps them onto the image's
    entrypoint and cmd, `$(VAR)` in them expanded from `env`; memory and cpu limits as cgroup
    limits; the cpu request as cpu shares; its namespaces and security (`image_user`: see
    needs_image_user)."""
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
        stdin=bool(spec.stdin), stdin_once=bool(spec.stdin_once), tty=bool(spec.tty),
        namespaces=container_namespaces(pod.spec), security=security(pod, spec, image_user))
