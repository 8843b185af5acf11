"""DockerRuntime: the container runtime on the host's dockerd, through one docker SDK client.

A sandbox is a container of the pause image on docker's default bridge, which is the node's
pod bridge (dockerd runs with --bip = the first address of the node's pod CIDR), with shareable
IPC; app containers join it with `network_mode` and `ipc_mode` `container:<sandbox>`. Docker's
errors are translated here, once (errors.py); nothing of docker leaves this module.
"""

from __future__ import annotations

import datetime
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import docker
import docker.errors
import docker.models.containers
import requests

from node_agent.runtime.errors import (ImageMissing, NotFound, RuntimeFailure, StartFailed,
                                       Unavailable)
from node_agent.runtime.protocol import (ContainerConfig, ContainerState, RegistryCredential,
                                         RuntimeInfo, SandboxConfig)

DOCKER_API_VERSION = "1.41"
# A call dockerd has not answered after this long fails (streams are exempt: the SDK lifts the
# socket's timeout for logs and exec). `info()`, which the node's Ready condition rests on, is
# bounded more tightly: a dockerd that hangs must make the node NotReady within seconds.
CALL_TIMEOUT = 120
INFO_TIMEOUT = 10.0
T = TypeVar("T")


@contextmanager
def _translated(what: str) -> Iterator[None]:
    """docker's and requests' exceptions as the runtime's own."""
    try:
        yield
    except docker.errors.NotFound as e:
        raise NotFound(f"{what}: {e.explanation or e}") from e
    except (requests.ConnectionError, requests.Timeout) as e:
        raise Unavailable(f"{what}: dockerd does not answer: {e}") from e
    except docker.errors.APIError as e:
        if e.status_code is not None and e.status_code >= 500 and "connection" in str(e).lower():
            raise Unavailable(f"{what}: {e.explanation or e}") from e
        raise RuntimeFailure(f"{what}: {e.explanation or e}") from e
    except docker.errors.DockerException as e:
        raise Unavailable(f"{what}: {e}") from e


def _within(seconds: float, fn: Callable[[], T], what: str) -> T:
    """`fn()`, or Unavailable when it has not returned after `seconds` (it is left to finish on
    its thread: the SDK cannot cancel a request)."""
    result: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            result.append(fn())
        except BaseException as e:  # noqa: BLE001 - handed to the caller
            failure.append(e)

    thread = threading.Thread(target=run, name=what, daemon=True)
    thread.start()
    thread.join(seconds)
    if failure:
        raise failure[0]
    if not result:
        raise Unavailable(f"{what}: dockerd did not answer within {seconds:g} s")
    return result[0]


def _epoch(text: str | None) -> float | None:
    """Docker's RFC 3339 times (nanoseconds, "Z"), in epoch seconds; None for its zero time."""
    if not text or text.startswith("0001-"):
        return None
    text = text.rstrip("Z")
    main, _, frac = text.partition(".")
    moment = datetime.datetime.fromisoformat(main).replace(tzinfo=datetime.timezone.utc)
    return moment.timestamp() + (float(f"0.{frac}") if frac else 0.0)


def state_of(attrs: dict[str, Any]) -> ContainerState:
    """A container's inspection (or a listing's attributes) as a ContainerState. Pure."""
    state = attrs["State"]
    networks = (attrs.get("NetworkSettings") or {}).get("Networks") or {}
    ip = next((n.get("IPAddress") for n in networks.values() if n.get("IPAddress")), None)
    return ContainerState(
        id=attrs["Id"], name=attrs.get("Name", "").lstrip("/"),
        labels=dict(attrs["Config"].get("Labels") or {}), running=bool(state.get("Running")),
        exit_code=None if state.get("Running") else state.get("ExitCode"),
        started_at=_epoch(state.get("StartedAt")), finished_at=_epoch(state.get("FinishedAt")),
        ip=ip, image=attrs["Config"].get("Image", ""), image_id=attrs.get("Image", ""),
        error=state.get("Error", ""), oom_killed=bool(state.get("OOMKilled")),
        log_path=attrs.get("LogPath") or "")


class DockerRuntime:
    def __init__(self, docker_url: str) -> None:
        self.client = docker.DockerClient(base_url=docker_url, version=DOCKER_API_VERSION,
                                          timeout=CALL_TIMEOUT)

    # --- the runtime ---

    def info(self) -> RuntimeInfo:
        def ask() -> tuple[str, dict[str, Any]]:
            with _translated("docker info"):
                return self.client.version()["Version"], self.client.networks.get("bridge").attrs

        version, bridge = _within(INFO_TIMEOUT, ask, "docker info")
        subnets = tuple(c.get("Subnet") for c in (bridge.get("IPAM") or {}).get("Config") or []
                        if c.get("Subnet"))
        return RuntimeInfo(f"docker://{version}", subnets)

    # --- listing and inspecting ---

    def list_containers(self, labels: dict[str, str] | None = None,
                        running_only: bool = False) -> list[ContainerState]:
        filters: dict[str, Any] = {"label": [f"{k}={v}" if v else k
                                             for k, v in (labels or {}).items()]}
        if running_only:
            filters["status"] = "running"
        with _translated("listing containers"):
            found = self.client.containers.list(all=not running_only, filters=filters,
                                                ignore_removed=True)
        return [state_of(c.attrs) for c in found]

    def inspect(self, container_id: str) -> ContainerState:
        with _translated(f"inspecting {container_id[:12]}"):
            return state_of(self.client.api.inspect_container(container_id))

    # --- images ---

    def ensure_image(self, image: str, pull_policy: str,
                     credentials: list[RegistryCredential] | None = None) -> bool:
        """Never create a container with an absent image: the SDK would try a pull silently."""
        present = True
        with _translated(f"image {image}"):
            try:
                self.client.images.get(image)
            except docker.errors.ImageNotFound:
                present = False
        if present and pull_policy != "Always":
            return False
        if not present and pull_policy == "Never":
            raise ImageMissing("ErrImageNeverPull", f'image "{image}" is not present and '
                               "imagePullPolicy is Never")
        failure: Exception | None = None
        for credential in [*(credentials or ()), None]:  # as kubelet: each secret, then none
            auth = {"username": credential.username, "password": credential.password} \
                if credential else None
            try:
                self.client.images.pull(image, auth_config=auth)
                return True
            except (docker.errors.APIError, requests.RequestException) as e:
                failure = e
        # Always and a pull that fails: ErrImagePull even with the image here, as kubelet (a
        # pod may not run a private image it could not pull itself)
        explanation = getattr(failure, "explanation", None) or failure
        raise ImageMissing("ErrImagePull", f'failed to pull image "{image}": '
                           f"{explanation}") from failure

    def image_user(self, image: str) -> str:
        with _translated(f"image {image}"):
            return str((self.client.api.inspect_image(image).get("Config") or {})
                       .get("User") or "")

    # --- life cycle ---

    def start_sandbox(self, config: SandboxConfig, image: str) -> ContainerState:
        with _translated(f"sandbox {config.name}"):
            container = self.client.containers.create(image, **sandbox_options(config))
            container.start()
            container.reload()
            return state_of(container.attrs)

    def start_container(self, config: ContainerConfig) -> str:
        options = container_options(config)
        try:
            if config.stdin_once:  # the SDK's create() lacks StdinOnce: its own config plus it
                args = docker.models.containers._create_container_args(
                    {**options, "image": config.image, "version": self.client.api._version})
                name = args.pop("name")
                made = self.client.api.create_container_config(**args)
                made["StdinOnce"] = True
                container = self.client.containers.get(
                    self.client.api.create_container_from_config(made, name)["Id"])
            else:
                container = self.client.containers.create(config.image, **options)
        except docker.errors.APIError as e:
            raise StartFailed("CreateContainerError", e.explanation or str(e)) from e
        except (requests.ConnectionError, docker.errors.DockerException) as e:
            raise Unavailable(f"creating {config.name}: {e}") from e
        try:
            container.start()
        except docker.errors.APIError as e:
            # e.g. the command does not exist: the container exists, exited, with the error.
            raise StartFailed("RunContainerError", e.explanation or str(e)) from e
        except (requests.ConnectionError, docker.errors.DockerException) as e:
            raise Unavailable(f"starting {config.name}: {e}") from e
        return str(container.id)

    def stop(self, container_id: str, timeout: int) -> None:
        try:
            with _translated(f"stopping {container_id[:12]}"):
                self.client.api.stop(container_id, timeout=max(0, timeout))
        except NotFound:
            pass

    def remove(self, container_id: str) -> None:
        try:
            with _translated(f"removing {container_id[:12]}"):
                self.client.api.remove_container(container_id, force=True)
        except NotFound:
            pass

    # --- into containers ---

    def exec_status(self, container_id: str, command: list[str], timeout: float) -> int:
        """docker exec has no timeout of its own: a command still running after `timeout` is
        left to finish, and counts as failed (-1)."""
        result: dict[str, int] = {}

        def run() -> None:
            try:
                result["code"] = self.client.containers.get(container_id).exec_run(command)[0]
            except (docker.errors.DockerException, requests.RequestException):
                result["code"] = -1

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        thread.join(timeout)
        return result.get("code", -1)

    def open_exec(self, container_id: str, command: list[str], stdin: bool, stdout: bool,
                  stderr: bool, tty: bool) -> DockerStream:
        api = self.client.api
        with _translated(f"exec in {container_id[:12]}"):
            exec_id = api.exec_create(container_id, command, stdin=stdin, stdout=stdout,
                                      stderr=stderr, tty=tty)["Id"]
            sock = api.exec_start(exec_id, socket=True, tty=tty)

        def exit_code() -> int | None:
            # the output ends a moment before docker marks the exec finished
            for _ in range(50):
                state = self._call("exec status", lambda: api.exec_inspect(exec_id))
                if not state.get("Running"):
                    code = state.get("ExitCode")
                    return None if code is None else int(code)
                time.sleep(0.05)
            return None

        return DockerStream(sock, tty, lambda w, h: api.exec_resize(exec_id, height=h, width=w),
                            exit_code)

    def attach(self, container_id: str, stdin: bool, stdout: bool,
               stderr: bool) -> DockerStream:
        api = self.client.api
        with _translated(f"attach to {container_id[:12]}"):
            tty = bool(api.inspect_container(container_id)["Config"].get("Tty"))
            sock = api.attach_socket(container_id, params={
                "stdin": int(stdin), "stdout": int(stdout), "stderr": int(stderr), "stream": 1})
        return DockerStream(sock, tty, lambda w, h: api.resize(container_id, height=h, width=w),
                            lambda: None)

    def logs(self, container_id: str, follow: bool, tail: int | None, since: float | None,
             timestamps: bool) -> Iterator[bytes]:
        with _translated(f"logs of {container_id[:12]}"):
            stream = self.client.api.logs(container_id, stream=True, follow=follow,
                                          tail="all" if tail is None else tail,
                                          since=since, timestamps=timestamps)
        return _closing_stream(stream)

    def stats(self, container_id: str) -> dict[str, Any]:
        with _translated(f"stats of {container_id[:12]}"):
            sample: dict[str, Any] = self.client.api.stats(container_id, stream=False)
        return sample

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        with _translated(what):
            return fn()


def sandbox_options(config: SandboxConfig) -> dict[str, Any]:
    """The docker SDK's create() options for a sandbox. Pure. Its network, IPC and PID
    namespaces are the pod's (the node's where the pod asks for the node's); published ports
    and /etc/hosts lines belong to it, as the app containers use its network and files."""
    ns = config.namespaces
    options: dict[str, Any] = {
        "name": config.name, "labels": config.labels, "restart_policy": {"Name": "no"},
        "ipc_mode": "host" if ns.ipc == "node" else "shareable"}
    if ns.network == "node":
        options["network_mode"] = "host"
    if config.hostname:
        options["hostname"] = config.hostname
    if config.domainname:
        options["domainname"] = config.domainname
    if ns.pid == "node":
        options["pid_mode"] = "host"
    if config.dns_servers:
        options.update(dns=list(config.dns_servers), dns_search=list(config.dns_searches),
                       dns_opt=list(config.dns_options))
    if config.ports:
        ports: dict[str, list[Any]] = {}
        for p in config.ports:
            binding = (p.host_ip, p.host_port) if p.host_ip else p.host_port
            ports.setdefault(f"{p.container_port}/{p.protocol.lower()}", []).append(binding)
        options["ports"] = {k: v[0] if len(v) == 1 else v for k, v in ports.items()}
    if config.extra_hosts:
        options["extra_hosts"] = [f"{name}:{ip}" for name, ip in config.extra_hosts]
    if config.sysctls:
        options["sysctls"] = dict(config.sysctls)
    return options


def container_options(config: ContainerConfig) -> dict[str, Any]:
    """The docker SDK's create() options for an app container joining its sandbox. Pure."""
    ns, sec, sandbox = config.namespaces, config.security, f"container:{config.sandbox_id}"
    options: dict[str, Any] = {
        "name": config.name, "labels": config.labels, "network_mode": sandbox,
        "ipc_mode": "host" if ns.ipc == "node" else sandbox,
        "environment": config.env, "restart_policy": {"Name": "no"},
        "volumes": {m.source: {"bind": m.target, "mode": "ro" if m.read_only else "rw"}
                    for m in config.mounts},
    }
    if ns.pid != "container":
        options["pid_mode"] = "host" if ns.pid == "node" else sandbox
    if config.entrypoint is not None:
        options["entrypoint"] = list(config.entrypoint)
    if config.args is not None:
        options["command"] = list(config.args)
    elif config.entrypoint is not None:
        options["command"] = []
    for key, value in (("working_dir", config.working_dir),
                       ("mem_limit", config.memory_limit), ("nano_cpus", config.nano_cpus),
                       ("cpu_shares", config.cpu_shares), ("user", sec.user)):
        if value is not None:
            options[key] = value
    if config.stdin or config.tty:
        options.update(stdin_open=config.stdin, tty=config.tty)
    if sec.groups:
        options["group_add"] = [str(g) for g in sec.groups]
    if sec.read_only_root:
        options["read_only"] = True
    if sec.privileged:
        options["privileged"] = True
    if sec.cap_add:
        options["cap_add"] = list(sec.cap_add)
    if sec.cap_drop:
        options["cap_drop"] = list(sec.cap_drop)
    security_opt = (["no-new-privileges"] if sec.no_new_privileges else []) + (
        ["seccomp=unconfined"] if sec.seccomp == "unconfined" and not sec.privileged else [])
    if security_opt:
        options["security_opt"] = security_opt
    return options


def _closing_stream(stream: Any) -> Iterator[bytes]:
    """docker's log stream as a generator whose close() closes the connection."""
    try:
        with _translated("reading logs"):
            yield from stream
    finally:
        stream.close()


class DockerStream:
    """An exec's or an attach's hijacked connection to dockerd. Without a TTY the output comes
    in frames of [stream, 0, 0, 0, size (big-endian u32)] + data; with one, raw."""

    def __init__(self, sock: Any, tty: bool, resize: Callable[[int, int], None],
                 exit_code: Callable[[], int | None]) -> None:
        self._wrapper = sock  # the SDK's SocketIO around the engine's socket
        self.sock: socket.socket = sock._sock
        self.sock.setblocking(False)
        self.tty = tty
        self._resize, self._exit_code = resize, exit_code
        self._frames = FrameSplitter()

    def demux(self, data: bytes) -> list[tuple[int, bytes]]:
        if self.tty:
            return [(1, data)] if data else []
        return self._frames.feed(data)

    def close_stdin(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the command has ended already

    def resize(self, width: int, height: int) -> None:
        with _translated("resize"):
            self._resize(width, height)

    def exit_code(self) -> int | None:
        return self._exit_code()

    def close(self) -> None:
        self._wrapper.close()
        self.sock.close()


class FrameSplitter:
    """docker's multiplexed output split into (1 stdout | 2 stderr, data); a frame cut
    between two reads waits for the rest. Pure."""

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        buf = self._pending + data
        out: list[tuple[int, bytes]] = []
        while len(buf) >= 8:
            kind, size = buf[0], struct.unpack(">I", buf[4:8])[0]
            if len(buf) < 8 + size:
                break
            if size:
                out.append((2 if kind == 2 else 1, buf[8:8 + size]))
            buf = buf[8 + size:]
        self._pending = buf
        return out
