"""`scripts/lab image list|load|push`: images moved between the lab hosts' dockerds and the
lab's registry.

- `load IMAGE…` copies an image from the host that has it (or `--from HOST`) into every other
  host's dockerd, as `kind load docker-image` does; `load --archive FILE` loads a `docker save`
  archive into every host. Pods then run it with `imagePullPolicy: IfNotPresent` (or Never).
- `push IMAGE…` pushes it from a host's dockerd to the registry as `<registry>/IMAGE`, the name
  a pod gives with `imagePullPolicy: Always` and the `lab-registry` pull secret.
- `list` shows every image: its ID, size, which hosts hold it, and whether the registry has it.

An image is built on a host as on any Docker host (`scripts/lab exec host1 -- docker build -t
app:1 DIR`), or elsewhere and saved to an archive.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors

from lab import daemons, images, lifecycle, registry
from lab.plan import LabPlan
from lab.system import LabError

Report = Callable[[str], None]


@dataclass(frozen=True)
class ImageRow:
    tag: str
    image_id: str
    size: int
    hosts: tuple[str, ...]
    in_registry: bool


@contextmanager
def running_clients(plan: LabPlan) -> Iterator[dict[str, docker.DockerClient]]:
    """A client per host whose dockerd answers; none answering is an error."""
    with daemons.docker_clients(plan.hosts) as clients:
        if not clients:
            raise LabError(f"no dockerd of lab {plan.name!r} answers: `scripts/lab up` first")
        yield clients


def image_id(client: docker.DockerClient, tag: str) -> str | None:
    try:
        return str(client.images.get(tag).id)
    except docker.errors.ImageNotFound:
        return None


def source_host(clients: dict[str, docker.DockerClient], tag: str, prefer: str | None) -> str:
    if prefer is not None:
        if prefer not in clients:
            raise LabError(f"{prefer}: no such host, or its dockerd is down")
        if image_id(clients[prefer], tag) is None:
            raise LabError(f"{tag}: not on {prefer}")
        return prefer
    for name, client in clients.items():
        if image_id(client, tag) is not None:
            return name
    raise LabError(f"{tag}: on no host of the lab (build it with `scripts/lab exec host1 -- "
                   f"docker build -t {tag} DIR`, or give --archive FILE)")


def load(name: str, tags: tuple[str, ...], archive: Path | None, from_host: str | None,
         report: Report) -> None:
    plan, _ = lifecycle.existing_plan(name)
    with running_clients(plan) as clients:
        if archive is not None:
            if not archive.is_file():
                raise LabError(f"{archive}: no such file")
            images.load_into(clients, list(clients), str(archive), archive, report)
            return
        for tag in tags:
            source = source_host(clients, tag, from_host)
            wanted = image_id(clients[source], tag)
            missing = [n for n, c in clients.items() if image_id(c, tag) != wanted]
            if not missing:
                report(f"{tag}: already on every host")
                continue
            with tempfile.TemporaryDirectory(prefix="orch-image-load-") as tmp:
                tar = Path(tmp) / "image.tar"
                images.save(clients[source], tag, tar)
                images.load_into(clients, missing, tag, tar, report)


def push(name: str, tags: tuple[str, ...], archive: Path | None, from_host: str | None,
         report: Report) -> list[str]:
    plan, _ = lifecycle.existing_plan(name)
    registry.ensure_registry(plan, report)
    pushed = []
    with running_clients(plan) as clients:
        if archive is not None:
            first = from_host or next(iter(clients))
            with open(archive, "rb") as f:
                loaded = clients[first].images.load(f)
            tags = tags or tuple(t for image in loaded for t in image.tags)
            from_host = first
        for tag in tags:
            source = source_host(clients, tag, from_host)
            report(f"pushing {tag} from {source}")
            pushed.append(registry.push(clients[source], plan, tag))
    return pushed


def listing(name: str) -> list[ImageRow]:
    plan, _ = lifecycle.existing_plan(name)
    held: dict[tuple[str, str], tuple[int, list[str]]] = {}
    with running_clients(plan) as clients:
        for host, client in clients.items():
            for image in client.images.list():
                for tag in image.tags:
                    size = int(image.attrs.get("Size") or 0)
                    held.setdefault((tag, image.short_id.split(":")[-1]), (size, []))[1].append(host)
    stored = {f"{registry.REGISTRY}/{repo}:{t}" for repo, tags in registry.catalog(plan).items()
              for t in tags}
    rows = [ImageRow(tag, iid, size, tuple(hosts), tag in stored or
                     f"{registry.REGISTRY}/{tag}" in stored)
            for (tag, iid), (size, hosts) in sorted(held.items())]
    on_hosts = {r.tag for r in rows}
    rows += [ImageRow(t, "", 0, (), True) for t in sorted(stored - on_hosts)]
    return rows
