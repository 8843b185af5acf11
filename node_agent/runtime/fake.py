"""FakeRuntime: a container runtime in memory, for tests of the layers above the runtime (the
pod workers). It keeps containers with their labels and states, and lets a test act as the
world does: `exit(id, code)` ends a container, `fail_next_start` (`fail_next_sandbox`) makes the
next start (of a sandbox) fail,
`down` makes every call raise Unavailable. It follows the protocol's contracts (stop and remove
of a gone container are no-ops, ImageMissing for an absent image under Never), nothing more."""

from __future__ import annotations

import itertools
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from node_agent.runtime.errors import (ImageMissing, NotFound, RuntimeFailure, StartFailed,
                                       Unavailable)
from node_agent.runtime.protocol import (ContainerConfig, ContainerState, RegistryCredential,
                                         RuntimeInfo, SandboxConfig)


class FakeStream:
    """An exec as `cat` runs it: what the command prints first (`output`), then stdin echoed
    back until stdin ends, then the exit `code`. One thread plays the command on the far end
    of a socket pair; resizes are recorded."""

    def __init__(self, output: bytes, code: int | None, stdin: bool, tty: bool) -> None:
        self.sock, far = socket.socketpair()
        self.sock.setblocking(False)
        self.tty, self.code = tty, code
        self.resizes: list[tuple[int, int]] = []
        self._ended = threading.Event()

        def command() -> None:
            with far:
                far.sendall(output)
                while stdin and (data := far.recv(65536)):
                    far.sendall(data)
            self._ended.set()

        threading.Thread(target=command, daemon=True).start()

    def demux(self, data: bytes) -> list[tuple[int, bytes]]:
        return [(1, data)] if data else []

    def close_stdin(self) -> None:
        self.sock.shutdown(socket.SHUT_WR)

    def resize(self, width: int, height: int) -> None:
        self.resizes.append((width, height))

    def exit_code(self) -> int | None:
        self._ended.wait(5)
        return self.code

    def close(self) -> None:
        self.sock.close()


class FakeRuntime:
    def __init__(self, images: tuple[str, ...] = (), pod_subnet: str = "10.244.1.0/24") -> None:
        self.images = set(images)
        self.pod_subnet = pod_subnet
        self.containers: dict[str, ContainerState] = {}
        self.configs: dict[str, ContainerConfig | SandboxConfig] = {}
        self.logs_of: dict[str, bytes] = {}
        self.exec_codes: dict[tuple[str, tuple[str, ...]], int] = {}
        self.exec_output: dict[tuple[str, tuple[str, ...]], bytes] = {}
        self.streams: list[FakeStream] = []
        self.pulled: list[str] = []
        self.image_users: dict[str, str] = {}  # the user an image runs as; absent: root
        self.stopped: list[str] = []
        self.fail_next_start: StartFailed | None = None
        self.fail_next_sandbox: RuntimeFailure | None = None
        self.down = False
        self._ids = itertools.count(1)
        self._ips = itertools.count(2)
        self._lock = threading.Lock()

    # --- what a test does to the world ---

    def exit(self, container_id: str, code: int, error: str = "") -> None:
        with self._lock:
            self.containers[container_id] = replace(
                self.containers[container_id], running=False, exit_code=code,
                finished_at=time.time(), error=error)

    # --- the protocol ---

    def _check(self) -> None:
        if self.down:
            raise Unavailable("the fake runtime is down")

    def info(self) -> RuntimeInfo:
        self._check()
        return RuntimeInfo("fake://1", (self.pod_subnet,))

    def list_containers(self, labels: dict[str, str] | None = None,
                        running_only: bool = False) -> list[ContainerState]:
        self._check()
        wanted = labels or {}
        with self._lock:
            return [c for c in self.containers.values()
                    if all(k in c.labels and (not v or c.labels[k] == v)
                           for k, v in wanted.items())
                    and (c.running or not running_only)]

    def inspect(self, container_id: str) -> ContainerState:
        self._check()
        with self._lock:
            if container_id not in self.containers:
                raise NotFound(container_id)
            return self.containers[container_id]

    def ensure_image(self, image: str, pull_policy: str,
                     credentials: list[RegistryCredential] | None = None) -> bool:
        self._check()
        if image in self.images and pull_policy != "Always":
            return False
        if image not in self.images and pull_policy == "Never":
            raise ImageMissing("ErrImageNeverPull", f'image "{image}" is not present and '
                               "imagePullPolicy is Never")
        self.images.add(image)
        self.pulled.append(image)
        return True

    def image_user(self, image: str) -> str:
        self._check()
        if image not in self.images:
            raise NotFound(f"image {image}")
        return self.image_users.get(image, "")

    def _new(self, name: str, labels: dict[str, str], image: str, ip: str | None) -> str:
        container_id = f"c{next(self._ids):04d}"
        with self._lock:
            self.containers[container_id] = ContainerState(
                container_id, name, dict(labels), running=True, started_at=time.time(), ip=ip,
                image=image, image_id=f"sha256:{image}")
        return container_id

    def start_sandbox(self, config: SandboxConfig, image: str) -> ContainerState:
        self._check()
        if self.fail_next_sandbox is not None:
            failure, self.fail_next_sandbox = self.fail_next_sandbox, None
            raise failure
        base = self.pod_subnet.rsplit(".", 1)[0]
        ip = None if config.namespaces.network == "node" else f"{base}.{next(self._ips)}"
        container_id = self._new(config.name, config.labels, image, ip)
        self.configs[container_id] = config
        return self.containers[container_id]

    def start_container(self, config: ContainerConfig) -> str:
        self._check()
        if self.fail_next_start is not None:
            failure, self.fail_next_start = self.fail_next_start, None
            raise failure
        if config.sandbox_id not in self.containers:
            raise StartFailed("CreateContainerError", f"no sandbox {config.sandbox_id}")
        container_id = self._new(config.name, config.labels, config.image, None)
        self.configs[container_id] = config
        return container_id

    def stop(self, container_id: str, timeout: int) -> None:
        self._check()
        self.stopped.append(container_id)
        if container_id in self.containers and self.containers[container_id].running:
            self.exit(container_id, 137 if timeout == 0 else 0)

    def remove(self, container_id: str) -> None:
        self._check()
        with self._lock:
            self.containers.pop(container_id, None)

    def exec_status(self, container_id: str, command: list[str], timeout: float) -> int:
        self._check()
        return self.exec_codes.get((container_id, tuple(command)), 0)

    def open_exec(self, container_id: str, command: list[str], stdin: bool, stdout: bool,
                  stderr: bool, tty: bool) -> FakeStream:
        self._check()
        if not self.containers[container_id].running:
            raise RuntimeFailure(f"container {container_id} is not running")
        stream = FakeStream(self.exec_output.get((container_id, tuple(command)), b""),
                            self.exec_status(container_id, command, 0), stdin, tty)
        self.streams.append(stream)
        return stream

    def attach(self, container_id: str, stdin: bool, stdout: bool,
               stderr: bool) -> FakeStream:
        self._check()
        stream = FakeStream(self.logs_of.get(container_id, b""), None, stdin, False)
        self.streams.append(stream)
        return stream

    def logs(self, container_id: str, follow: bool, tail: int | None, since: float | None,
             timestamps: bool) -> Iterator[bytes]:
        self._check()
        lines = self.logs_of.get(container_id, b"").splitlines(keepends=True)
        return iter(lines[-tail:] if tail is not None else lines)

    def stats(self, container_id: str) -> dict[str, Any]:
        self._check()
        return {"cpu_stats": {}, "precpu_stats": {}, "memory_stats": {}}
