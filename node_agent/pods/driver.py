"""The container driver: pods' containers on this host's dockerd (docker SDK).

A pod is a pause container holding the network (an IP on docker's bridge, which is the node's
pod bridge: dockerd runs with --bip = the first address of the node's pod CIDR), IPC and
hostname, plus one container per spec container joined to it with network_mode and ipc_mode
`container:<pause>`. Every container carries the labels of model.py.

Errors: DriverError (with a kubelet-style reason such as ErrImagePull or
CreateContainerConfigError) for what a pod's status should report; docker's own errors
otherwise propagate to the worker, which retries.
"""

from __future__ import annotations

import datetime
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker
import docker.errors

from node_agent.pods.model import (LABEL_ATTEMPT, LABEL_CONTAINER, LABEL_POD_NAME,
                                   LABEL_POD_NAMESPACE, LABEL_POD_UID, LABEL_SPEC_HASH, PAUSE,
                                   Observed, container_spec_hash)
from kube.quantity import cpu_millis, memory_bytes

PAUSE_IMAGE = "orch/pause:1"
DOCKER_API_VERSION = "1.41"


class DriverError(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason, self.message = reason, message


def _epoch(text: str | None) -> float | None:
    if not text or text.startswith("0001-"):
        return None
    text = text.rstrip("Z")
    main, _, frac = text.partition(".")
    moment = datetime.datetime.fromisoformat(main).replace(tzinfo=datetime.timezone.utc)
    return moment.timestamp() + (float(f"0.{frac}") if frac else 0.0)


def container_name(pod: dict[str, Any], container: str, attempt: int) -> str:
    meta = pod["metadata"]
    return (f"orch_{container}_{meta['name']}_{meta['namespace']}_{meta['uid'][:8]}_{attempt}")


def prepare_host_path(path: Path, kind: str) -> str | None:
    """Kubelet's hostPath types: make what an ...OrCreate type asks for (a directory 0755 with
    its parents; an empty file 0644, whose directory must exist), check what the others
    require; "" checks nothing. Returns the problem that keeps the pod from starting, if any."""
    if kind == "DirectoryOrCreate" and not path.exists():
        path.mkdir(mode=0o755, parents=True, exist_ok=True)
    elif kind == "FileOrCreate" and not path.exists():
        if not path.parent.is_dir():
            return f"hostPath {path}: directory {path.parent} does not exist (type FileOrCreate)"
        path.touch(mode=0o644)
    if kind in ("Directory", "DirectoryOrCreate") and not path.is_dir():
        return f"hostPath {path} is not a directory (type {kind})"
    if kind in ("File", "FileOrCreate") and not path.is_file():
        return f"hostPath {path} is not a file (type {kind})"
    return None


class DockerDriver:
    def __init__(self, docker_url: str, root_dir: Path, cluster_dns: str | None = None,
                 cluster_domain: str = "cluster.local") -> None:
        self.client = docker.DockerClient(base_url=docker_url, version=DOCKER_API_VERSION,
                                          timeout=120)
        self.root_dir = root_dir
        self.cluster_dns, self.cluster_domain = cluster_dns, cluster_domain

    # --- reading ---

    def list_pod_containers(self) -> dict[str, list[Observed]]:
        """Every container this agent made, by pod uid (one docker call + one inspect each)."""
        out: dict[str, list[Observed]] = {}
        for c in self.client.containers.list(all=True, filters={"label": LABEL_POD_UID},
                                             ignore_removed=True):
            out.setdefault(c.labels[LABEL_POD_UID], []).append(self._observed(c.attrs))
        return out

    def list_containers_of(self, uid: str) -> list[Observed]:
        """The containers of one pod, straight from docker."""
        return [self._observed(c.attrs) for c in self.client.containers.list(
            all=True, filters={"label": f"{LABEL_POD_UID}={uid}"}, ignore_removed=True)]

    def _observed(self, attrs: dict[str, Any]) -> Observed:
        labels = attrs["Config"]["Labels"] or {}
        state = attrs["State"]
        networks = (attrs.get("NetworkSettings") or {}).get("Networks") or {}
        ip = next((n.get("IPAddress") for n in networks.values() if n.get("IPAddress")), None)
        return Observed(
            id=attrs["Id"], container=labels.get(LABEL_CONTAINER, ""),
            attempt=int(labels.get(LABEL_ATTEMPT, "0")), running=bool(state.get("Running")),
            exit_code=None if state.get("Running") else state.get("ExitCode"),
            started_at=_epoch(state.get("StartedAt")), finished_at=_epoch(state.get("FinishedAt")),
            spec_hash=labels.get(LABEL_SPEC_HASH, ""), ip=ip,
            image=attrs["Config"].get("Image", ""), image_id=attrs.get("Image", ""),
            error=state.get("Error", ""), oom_killed=bool(state.get("OOMKilled")))

    # --- pause ---

    def start_pause(self, pod: dict[str, Any], attempt: int) -> Observed:
        self._ensure_image(PAUSE_IMAGE, "IfNotPresent")
        meta = pod["metadata"]
        container = self.client.containers.create(
            PAUSE_IMAGE, name=container_name(pod, PAUSE, attempt),
            hostname=pod["spec"].get("hostname") or meta["name"],
            ipc_mode="shareable", labels=self._labels(pod, PAUSE, attempt, ""),
            restart_policy={"Name": "no"}, **self._dns(pod))
        container.start()
        container.reload()
        return self._observed(container.attrs)

    # --- app containers ---

    def start_container(self, pod: dict[str, Any], spec: dict[str, Any], attempt: int,
                        pause_id: str, env: dict[str, str],
                        prepared: dict[str, Path] | None = None,
                        on_pulled: Callable[[str], None] | None = None) -> str:
        """`prepared`: host directories of the pod's configMap and secret volumes, by volume
        name (the worker writes them from the API's objects). `on_pulled(image)` is called
        when the image had to be pulled."""
        if self._ensure_image(spec["image"], spec.get("imagePullPolicy", "IfNotPresent")) \
                and on_pulled:
            on_pulled(spec["image"])
        options: dict[str, Any] = {
            "name": container_name(pod, spec["name"], attempt),
            "labels": self._labels(pod, spec["name"], attempt, container_spec_hash(spec)),
            "network_mode": f"container:{pause_id}",
            "ipc_mode": f"container:{pause_id}",
            "environment": env,
            "volumes": self._binds(pod, spec, prepared or {}),
            "restart_policy": {"Name": "no"},
        }
        if spec.get("command"):
            options["entrypoint"] = spec["command"]
        if spec.get("args") is not None:
            options["command"] = spec["args"]
        elif spec.get("command"):
            options["command"] = []
        if spec.get("workingDir"):
            options["working_dir"] = spec["workingDir"]
        limits = (spec.get("resources") or {}).get("limits") or {}
        if "memory" in limits:
            options["mem_limit"] = memory_bytes(limits["memory"])
        if "cpu" in limits:
            options["nano_cpus"] = cpu_millis(limits["cpu"]) * 1_000_000
        requests = (spec.get("resources") or {}).get("requests") or {}
        if "cpu" in requests:
            options["cpu_shares"] = max(2, cpu_millis(requests["cpu"]) * 1024 // 1000)
        try:
            container = self.client.containers.create(spec["image"], **options)
        except docker.errors.APIError as e:
            raise DriverError("CreateContainerError", e.explanation or str(e)) from e
        try:
            container.start()
        except docker.errors.APIError as e:
            # e.g. the command does not exist: the container exists, exited, with the error.
            raise DriverError("RunContainerError", e.explanation or str(e)) from e
        return container.id

    def _ensure_image(self, image: str, policy: str) -> bool:
        """Use the image if present; pull it per imagePullPolicy (True when pulled). Never
        create a container with an absent image: the SDK would try a pull silently."""
        present = True
        try:
            self.client.images.get(image)
        except docker.errors.ImageNotFound:
            present = False
        if present and policy != "Always":
            return False
        if not present and policy == "Never":
            raise DriverError("ErrImageNeverPull", f'image "{image}" is not present and '
                              "imagePullPolicy is Never")
        try:
            self.client.images.pull(image)
        except docker.errors.APIError as e:
            if present:  # Always, but the registry is unreachable: run what we have
                return False
            raise DriverError("ErrImagePull", f'failed to pull image "{image}": '
                              f"{e.explanation or e}") from e
        return True

    def _labels(self, pod: dict[str, Any], container: str, attempt: int,
                spec_hash: str) -> dict[str, str]:
        meta = pod["metadata"]
        return {LABEL_POD_UID: meta["uid"], LABEL_POD_NAMESPACE: meta["namespace"],
                LABEL_POD_NAME: meta["name"], LABEL_CONTAINER: container,
                LABEL_ATTEMPT: str(attempt), LABEL_SPEC_HASH: spec_hash}

    def _dns(self, pod: dict[str, Any]) -> dict[str, list[str]]:
        """The pod's /etc/resolv.conf (docker writes it into the sandbox, the containers share
        it): with dnsPolicy ClusterFirst, the agent's DNS server and kubelet's search path, so
        `web` and `web.default` resolve; with Default, the host's resolvers."""
        if pod["spec"].get("dnsPolicy", "ClusterFirst") != "ClusterFirst" or not self.cluster_dns:
            return {}
        d, ns = self.cluster_domain, pod["metadata"]["namespace"]
        return {"dns": [self.cluster_dns], "dns_search": [f"{ns}.svc.{d}", f"svc.{d}", d],
                "dns_opt": ["ndots:5"]}

    # --- volumes ---

    def pod_dir(self, pod: dict[str, Any]) -> Path:
        return self.root_dir / "pods" / pod["metadata"]["uid"]

    def _binds(self, pod: dict[str, Any], spec: dict[str, Any],
               prepared: dict[str, Path]) -> dict[str, dict[str, str]]:
        volumes = {v["name"]: v for v in pod["spec"].get("volumes") or []}
        binds: dict[str, dict[str, str]] = {}
        for mount in spec.get("volumeMounts") or []:
            volume = volumes[mount["name"]]
            if "emptyDir" in volume:
                source = self.pod_dir(pod) / "volumes" / "empty-dir" / mount["name"]
                source.mkdir(parents=True, exist_ok=True)
            elif "hostPath" in volume:
                source = Path(volume["hostPath"]["path"])
                kind = volume["hostPath"].get("type") or ""
                problem = prepare_host_path(source, kind)
                if problem:
                    raise DriverError("CreateContainerConfigError", problem)
            elif mount["name"] in prepared:
                source = prepared[mount["name"]]
            else:
                raise DriverError("CreateContainerConfigError",
                                  f"volume {mount['name']!r} was not prepared")
            target = mount["mountPath"]
            if mount.get("subPath"):
                source = source / mount["subPath"]
                source.mkdir(parents=True, exist_ok=True)
            binds[str(source)] = {"bind": target, "mode": "ro" if mount.get("readOnly") else "rw"}
        return binds

    # --- exec ---

    def exec_status(self, container_id: str, command: list[str], timeout: float) -> int:
        """Run `command` in the container; its exit code, or -1 when it did not finish within
        `timeout` seconds (it is left to finish; docker exec has no timeout of its own)."""
        result: dict[str, int] = {}

        def run() -> None:
            try:
                result["code"] = self.client.containers.get(container_id).exec_run(command)[0]
            except docker.errors.DockerException:
                result["code"] = -1

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        thread.join(timeout)
        return result.get("code", -1)

    # --- stopping ---

    def stop(self, container_id: str, timeout: int) -> None:
        """SIGTERM (the image's stop signal), then SIGKILL after `timeout` seconds."""
        try:
            self.client.api.stop(container_id, timeout=max(0, timeout))
        except docker.errors.NotFound:
            pass

    def remove(self, container_id: str) -> None:
        try:
            self.client.api.remove_container(container_id, force=True)
        except docker.errors.NotFound:
            pass

    def write_volume(self, pod: dict[str, Any], kind: str, volume: str,
                     files: dict[str, tuple[bytes, int]]) -> Path:
        """Make the host directory of a configMap/secret volume hold exactly `files`
        (relative path → (content, mode)); each file is replaced atomically."""
        root = self.pod_dir(pod) / "volumes" / kind / volume
        root.mkdir(parents=True, exist_ok=True)
        for relative, (content, mode) in files.items():
            target = (root / relative).resolve()
            if root.resolve() not in target.parents:
                raise DriverError("CreateContainerConfigError", f"path {relative!r} leaves the "
                                  "volume")
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.tmp")
            tmp.write_bytes(content)
            tmp.chmod(mode)
            tmp.rename(target)
        for existing in [p for p in root.rglob("*") if p.is_file()]:
            if str(existing.relative_to(root)) not in files:
                existing.unlink()
        return root

    def remove_pod_dir(self, pod_uid: str) -> None:
        import shutil
        shutil.rmtree(self.root_dir / "pods" / pod_uid, ignore_errors=True)


def host_memory_bytes() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0


def host_cpus() -> int:
    return len(os.sched_getaffinity(0))
