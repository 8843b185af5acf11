"""What the agent needs of a container runtime (pure declarations).

A *sandbox* holds a pod's network, IPC and hostname; app containers join it. Containers carry
labels, the only way the agent finds them again (after its own restart, too). Calls are
synchronous and thread-safe; each raises only the errors of errors.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    import socket


@dataclass(frozen=True)
class RegistryCredential:
    """A user and password for one registry (from an imagePullSecret)."""
    username: str
    password: str


@dataclass(frozen=True)
class Mount:
    source: str  # a host path
    target: str  # the path in the container
    read_only: bool = False


@dataclass(frozen=True)
class Namespaces:
    """Whose namespaces a container is in (CRI's NamespaceOption): "pod", the sandbox's (which
    are the node's when the sandbox's are); "node", the host's; "container", its own (PID
    only: a container is PID 1 of its own namespace unless the pod shares one)."""

    network: Literal["pod", "node"] = "pod"
    pid: Literal["container", "pod", "node"] = "container"
    ipc: Literal["pod", "node"] = "pod"


@dataclass(frozen=True)
class PortMapping:
    """A container port published on the node (a pod's hostPort)."""

    container_port: int
    host_port: int
    protocol: str = "TCP"
    host_ip: str = ""  # "": every address of the node


@dataclass(frozen=True)
class Security:
    """How a container's processes run (a securityContext, resolved against the image)."""

    user: str | None = None  # "uid" or "uid:gid" (gid alone: "name:gid"); None: the image's
    groups: tuple[int, ...] = ()  # supplementary groups
    read_only_root: bool = False
    privileged: bool = False
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    no_new_privileges: bool = False
    seccomp: Literal["runtime-default", "unconfined"] = "unconfined"


@dataclass(frozen=True)
class SandboxConfig:
    name: str
    hostname: str  # "": the node's (a sandbox in the node's network)
    labels: dict[str, str]
    dns_servers: tuple[str, ...] = ()  # empty: the host's resolvers
    dns_searches: tuple[str, ...] = ()
    dns_options: tuple[str, ...] = ()
    namespaces: Namespaces = Namespaces()
    ports: tuple[PortMapping, ...] = ()
    extra_hosts: tuple[tuple[str, str], ...] = ()  # (hostname, IP) lines for /etc/hosts
    domainname: str = ""  # with the hostname, the FQDN (`hostname -f`, /etc/hosts)
    sysctls: tuple[tuple[str, str], ...] = ()  # set in the sandbox's namespaces


@dataclass(frozen=True)
class ContainerConfig:
    name: str
    image: str
    labels: dict[str, str]
    sandbox_id: str  # joins this sandbox's network and IPC
    env: dict[str, str] = field(default_factory=dict)
    entrypoint: tuple[str, ...] | None = None  # None: the image's
    args: tuple[str, ...] | None = None  # None: the image's (with an entrypoint given: none)
    working_dir: str | None = None
    mounts: tuple[Mount, ...] = ()
    memory_limit: int | None = None  # bytes
    nano_cpus: int | None = None  # CFS quota, in billionths of a CPU
    cpu_shares: int | None = None
    stdin: bool = False  # kept open for attach
    stdin_once: bool = False  # closed when the first attach ends
    tty: bool = False
    namespaces: Namespaces = Namespaces()
    security: Security = Security()


@dataclass(frozen=True)
class ContainerState:
    """A container as the runtime reports it."""

    id: str
    name: str
    labels: dict[str, str]
    running: bool
    exit_code: int | None = None  # None while running
    started_at: float | None = None  # epoch seconds
    finished_at: float | None = None
    ip: str | None = None  # a sandbox's address on the pod network
    image: str = ""
    image_id: str = ""
    error: str = ""  # why it could not run (the command was not found…)
    oom_killed: bool = False
    log_path: str = ""  # the runtime's file of the container's output, on the node ("": none)


@dataclass(frozen=True)
class RuntimeInfo:
    version: str  # "docker://20.10.24"
    pod_subnets: tuple[str, ...]  # the subnets the runtime's pod network serves


class StreamSession(Protocol):
    """An exec or an attach wired to a container's standard streams through one connected
    socket, for the caller's event loop to drive: stdin is written to `sock`, output is read
    from it and split by `demux`. The other calls block briefly (a call to the runtime)."""

    sock: socket.socket  # non-blocking
    tty: bool  # a terminal: one output stream, resizable

    def demux(self, data: bytes) -> list[tuple[int, bytes]]:
        """The output in `data` (read from `sock`; it may end mid-frame) as (1 stdout | 2
        stderr, bytes) chunks."""

    def close_stdin(self) -> None: ...

    def resize(self, width: int, height: int) -> None: ...

    def exit_code(self) -> int | None:
        """An exec's exit code once its output has ended (None: unknown); always None for an
        attach (the container goes on)."""

    def close(self) -> None: ...


class ContainerRuntime(Protocol):
    # --- the runtime ---

    def info(self) -> RuntimeInfo: ...

    # --- listing and inspecting ---

    def list_containers(self, labels: dict[str, str] | None = None,
                        running_only: bool = False) -> list[ContainerState]:
        """Every container having all of `labels` (a label given "" only needs to exist)."""

    def inspect(self, container_id: str) -> ContainerState: ...

    # --- images ---

    def ensure_image(self, image: str, pull_policy: str,
                     credentials: list[RegistryCredential] | None = None) -> bool:
        """Make `image` present per Kubernetes' imagePullPolicy (Always, IfNotPresent,
        Never), pulling with the first of `credentials` the registry accepts (none: without);
        True when it was pulled. Raises ImageMissing."""

    def image_user(self, image: str) -> str:
        """The user a present image runs as ("" is root), as its configuration names it:
        "1000", "1000:1000", "nginx"…"""

    # --- life cycle ---

    def start_sandbox(self, config: SandboxConfig, image: str) -> ContainerState: ...

    def start_container(self, config: ContainerConfig) -> str:
        """Create and start; the container's id. Raises StartFailed (the container may then
        exist, exited: a listing shows it with its error)."""

    def stop(self, container_id: str, timeout: int) -> None:
        """SIGTERM (the image's stop signal), SIGKILL after `timeout` seconds. A container that
        is gone already is not an error."""

    def remove(self, container_id: str) -> None:
        """Remove, running or not. A container that is gone already is not an error."""

    # --- into containers ---

    def exec_status(self, container_id: str, command: list[str], timeout: float) -> int:
        """Run `command`; its exit code, or -1 when it failed to run or did not finish within
        `timeout` seconds."""

    def open_exec(self, container_id: str, command: list[str], stdin: bool, stdout: bool,
                  stderr: bool, tty: bool) -> StreamSession:
        """Start `command` in the container with the streams asked for (RuntimeFailure when
        the container is not running or the command cannot start)."""

    def attach(self, container_id: str, stdin: bool, stdout: bool,
               stderr: bool) -> StreamSession:
        """Wire to the running container's own streams (its terminal if it has one)."""

    def logs(self, container_id: str, follow: bool, tail: int | None, since: float | None,
             timestamps: bool) -> Iterator[bytes]:
        """The container's output (stdout and stderr interleaved), from `since` (epoch
        seconds) or the last `tail` lines; with `follow`, until it exits. Close the iterator
        (it is a generator) to stop early."""

    def stats(self, container_id: str) -> dict[str, Any]:
        """One sample of usage, in docker's stats shape (cpu_stats, precpu_stats,
        memory_stats)."""
