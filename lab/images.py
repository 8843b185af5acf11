"""The project's container images, built locally (no registry is ever pulled from): `orch/pause`
and `orch/web` from `images/` at the repository root and the host's busybox-static, and the
Debian base images of `lab.base_images`.

Each image is labelled with a digest of its sources. An image is built once, on one dockerd,
saved to a tar under /var/cache/orch-lab/images keyed by that digest, and loaded into every
other dockerd; when the sources change, the digest changes and the image is rebuilt.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors

from lab import base_images
from lab.system import LabError

SOURCES_LABEL = "org.orch-lab.sources"
CACHE_DIR = Path("/var/cache/orch-lab/images")
APT_CACHE_DIR = Path("/var/cache/orch-lab/apt")
BUSYBOX = Path("/bin/busybox")


@dataclass(frozen=True)
class ImageSpec:
    tag: str
    source_dir: str  # under images/


PAUSE = ImageSpec("orch/pause:1", "pause")
WEB = ImageSpec("orch/web:1", "web")
IMAGES = (PAUSE, WEB)


def images_root() -> Path:
    return Path(os.environ.get("ORCH_IMAGES_DIR", Path(__file__).resolve().parents[1] / "images"))


def is_static_elf(path: Path) -> bool:
    """True for an ELF executable with no program interpreter (PT_INTERP), i.e. statically
    linked: the images are FROM scratch, so a dynamic busybox would not run in them."""
    with open(path, "rb") as f:
        header = f.read(64)
        if header[:4] != b"\x7fELF" or header[4] != 2:  # 64-bit ELF only
            return False
        phoff, = struct.unpack_from("<Q", header, 0x20)
        phentsize, phnum = struct.unpack_from("<HH", header, 0x36)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    PT_INTERP = 3
    return all(struct.unpack_from("<I", table, i * phentsize)[0] != PT_INTERP
               for i in range(phnum))


def check_busybox(path: Path = BUSYBOX) -> Path:
    if not path.exists():
        raise LabError(f"{path} is missing: install busybox-static (scripts/install-deps)")
    if not is_static_elf(path):
        raise LabError(f"{path} is not statically linked: install busybox-static, "
                       "not busybox (scripts/install-deps)")
    return path


def sources_digest(spec: ImageSpec, root: Path, busybox: Path) -> str:
    """sha256 over the image's source files (relative path, mode, content) and busybox."""
    h = hashlib.sha256()
    src = root / spec.source_dir
    for path in sorted(p for p in src.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(src)).encode() + b"\0")
        h.update(oct(path.stat().st_mode & 0o777).encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    h.update(busybox.read_bytes())
    return h.hexdigest()


def has_image(client: docker.DockerClient, tag: str, digest: str) -> bool:
    try:
        image = client.images.get(tag)
    except docker.errors.ImageNotFound:
        return False
    return (image.labels or {}).get(SOURCES_LABEL) == digest


def build(client: docker.DockerClient, spec: ImageSpec, digest: str, root: Path,
          busybox: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="orch-image-") as ctx:
        shutil.copytree(root / spec.source_dir, ctx, dirs_exist_ok=True)
        shutil.copy2(busybox, Path(ctx) / "busybox")
        try:
            client.images.build(path=ctx, tag=spec.tag, labels={SOURCES_LABEL: digest},
                                pull=False, rm=True, forcerm=True)
        except docker.errors.BuildError as e:
            log = "".join(str(chunk.get("stream", chunk.get("error", ""))) for chunk in e.build_log)
            raise LabError(f"building {spec.tag} failed: {e.msg}\n{log}") from e


def save(client: docker.DockerClient, tag: str, tar: Path) -> None:
    tar.parent.mkdir(parents=True, exist_ok=True)
    # A temporary name of this process's own: labs brought up at once (the integration suite
    # starts two) may build the same image together; each renames its own complete tar, and
    # the last rename wins with the same content.
    tmp = tar.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
    with open(tmp, "wb") as f:
        for chunk in client.images.get(tag).save(named=True):
            f.write(chunk)
    tmp.rename(tar)  # atomic: a crash never leaves a truncated tar under the final name


def load(client: docker.DockerClient, tar: Path) -> None:
    with open(tar, "rb") as f:
        client.images.load(f)


def ensure_images(clients: dict[str, docker.DockerClient],
                  report: Callable[[str], None] = lambda _: None, base: bool = True) -> None:
    """Make every image, at its current sources, present on every dockerd in `clients`
    (host name → client). Builds at most once per source change; loads in parallel. `base`:
    the Debian base images too (their build needs the Debian mirror)."""
    root, busybox = images_root(), check_busybox()
    for spec in IMAGES:
        digest = sources_digest(spec, root, busybox)
        missing = [name for name, c in clients.items() if not has_image(c, spec.tag, digest)]
        if not missing:
            continue
        tar = CACHE_DIR / f"{spec.source_dir}-{digest[:16]}.tar"
        if not tar.exists():
            builder = missing.pop(0)
            report(f"building {spec.tag} on {builder}")
            build(clients[builder], spec, digest, root, busybox)
            save(clients[builder], spec.tag, tar)
        load_into(clients, missing, spec.tag, tar, report)
    if base:
        ensure_base_images(clients, root, report)


def load_into(clients: dict[str, docker.DockerClient], names: list[str], tag: str, tar: Path,
              report: Callable[[str], None]) -> None:
    if names:
        report(f"loading {tag} into {', '.join(names)}")
        with ThreadPoolExecutor(len(names)) as pool:
            list(pool.map(lambda name: load(clients[name], tar), names))


def ensure_base_images(clients: dict[str, docker.DockerClient], root: Path,
                       report: Callable[[str], None]) -> None:
    """The Debian base images on every dockerd: built (two at a time: unpacking packages is
    CPU-bound) where their archive is not cached, then loaded where missing."""

    def ensure(image: base_images.BaseImage) -> None:
        digest = base_images.recipe_digest(image, root)
        missing = [name for name, c in clients.items() if not has_image(c, image.tag, digest)]
        if not missing:
            return
        started = time.monotonic()
        tar = base_images.build_archive(image, root, CACHE_DIR, APT_CACHE_DIR)
        if time.monotonic() - started > 1:
            report(f"built {image.tag} from Debian's packages in "
                   f"{time.monotonic() - started:.0f} s")
        load_into(clients, missing, image.tag, tar, report)

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(ensure, base_images.BASE_IMAGES))
