"""Which of a pod's sysctls the node sets, as kubelet decides (pkg/kubelet/sysctl). Pure.

The safe set is Kubernetes': namespaced sysctls that cannot affect other pods or the node.
Any other needs the node's `--allowed-unsafe-sysctls` (names, or prefixes ending in `*`), and
must be namespaced (the pod's IPC or network namespace holds it), or the node could not
confine it to the pod. A pod naming one the node does not allow is rejected (SysctlForbidden),
never run with it left out. The sysctls are set on the pod's sandbox, whose IPC and network
namespaces every container of the pod joins."""

from __future__ import annotations

from collections.abc import Iterable

from kube.kinds.pod import sysctl_namespace

SAFE = frozenset({
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range", "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.ip_local_reserved_ports", "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes",
    "net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem",
})
FORBIDDEN_REASON = "SysctlForbidden"


def allowed(name: str, unsafe: Iterable[str]) -> bool:
    if name in SAFE:
        return True
    if sysctl_namespace(name) is None:
        return False
    return any(name == p or (p.endswith("*") and name.startswith(p[:-1])) for p in unsafe)


def forbidden(names: Iterable[str], unsafe: Iterable[str]) -> str | None:
    """Kubelet's admission message for the first sysctl the node may not set; None if all
    may be set."""
    unsafe = tuple(unsafe)
    for name in names:
        if not allowed(name, unsafe):
            return f'forbidden sysctl: "{name}" not allowlisted'
    return None
