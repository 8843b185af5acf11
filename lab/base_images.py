"""Real base images built from Debian's packages, with no registry: `orch/debian:12`,
`orch/nginx:1.22`, `orch/redis:7.0` and `orch/python:3.11`.

Each is a recipe (`BaseImage`): the Debian packages to install and the image's configuration
(command, entrypoint, user, working directory, ports, environment), plus files of its own under
`images/debian/<name>/`. `mmdebstrap` installs the packages into a root filesystem tar; that tar
becomes the image's one layer, and the image is written straight in `docker save` form (a
manifest, a config and the layer), so no dockerd is needed to build it and every host that
loads it has the same image ID.

Two caches make re-runs fast, both under /var/cache/orch-lab:
- `images/<name>-<digest>.tar`: the finished image, keyed by a digest of its recipe and files;
  a lab whose hosts already hold that digest loads nothing;
- `apt/<name>/`: the Debian packages downloaded, kept between builds (mmdebstrap's
  sync-in/sync-out hooks), so a changed recipe rebuilds without downloading them again.

To add an image: a `BaseImage` in BASE_IMAGES (and its files under images/debian/<name>/, if
any). `scripts/bench/base_images.py` reports how long they take from nothing and from cache.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from lab.system import LabError

SOURCES_LABEL = "org.orch-lab.sources"
SUITE = "bookworm"
# Full `deb` lines: a bare mirror URL would be tried for the security suite too, where it fails.
MIRRORS = (
    "deb http://deb.debian.org/debian bookworm main",
    "deb http://deb.debian.org/debian bookworm-updates main",
    "deb http://deb.debian.org/debian-security bookworm-security main",
)
# Documentation, manual pages and translations are removed: no container reads them. (Removed
# after the install rather than excluded with dpkg's path-exclude, which mmdebstrap applies by
# running a filter process per package: that tripled the build time.)
REMOVED_PATHS = ("/usr/share/doc/*", "/usr/share/man/*", "/usr/share/info/*",
                 "/usr/share/locale/*", "/usr/share/lintian/*")
# Bumped when the build itself changes in a way that changes every image.
RECIPE_VERSION = "1"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class BaseImage:
    """One image's recipe. `customize` are shell commands run inside the new root filesystem
    (chroot) after the packages are installed; `files` are copied in first, from
    images/debian/<name>/<source> to <destination>."""

    name: str
    tag: str
    holds: str  # one line for the docs and `scripts/lab image list`
    packages: tuple[str, ...] = ()
    files: tuple[tuple[str, str], ...] = ()
    customize: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    user: str = ""
    workdir: str = ""
    ports: tuple[int, ...] = ()
    stop_signal: str = ""
    volumes: tuple[str, ...] = field(default=())
    # Python packages (import names) copied from this machine's environment, the one the
    # project runs in (its own packages and the wheels the lock file pinned), into the image's
    # dist-packages: for images that run the project's code on Debian's python3 (3.11, as here)
    python_packages: tuple[str, ...] = ()


DEBIAN = BaseImage(
    name="debian", tag="orch/debian:12",
    holds="Debian 12 (bookworm) minbase: bash, coreutils, apt's tools; the base of the others",
    cmd=("bash",))
NGINX = BaseImage(
    name="nginx", tag="orch/nginx:1.22",
    holds="nginx 1.22 from Debian, serving /usr/share/nginx/html on port 80; configuration in "
          "/etc/nginx/conf.d/; logs to the container's stdout and stderr",
    packages=("nginx",),
    files=(("default.conf", "/etc/nginx/conf.d/default.conf"),),
    customize=("rm -f /etc/nginx/sites-enabled/default",
               "ln -sf /dev/stdout /var/log/nginx/access.log",
               "ln -sf /dev/stderr /var/log/nginx/error.log"),
    cmd=("nginx", "-g", "daemon off;"), ports=(80,), stop_signal="SIGQUIT")
REDIS = BaseImage(
    name="redis", tag="orch/redis:7.0",
    holds="redis 7.0 from Debian (redis-server, redis-cli), data in /data, run as the redis "
          "user; arguments starting with '-' go to redis-server",
    packages=("redis-server",),
    files=(("docker-entrypoint.sh", "/usr/local/bin/docker-entrypoint.sh"),),
    customize=("mkdir -p /data", "chown redis:redis /data"),
    entrypoint=("/usr/local/bin/docker-entrypoint.sh",), cmd=("redis-server",),
    user="redis", workdir="/data", ports=(6379,), volumes=("/data",))
INGRESS_NGINX = BaseImage(
    name="ingress-nginx", tag="orch/ingress-nginx:1",
    holds="the cluster's ingress controller (ingress_controller/) driving nginx 1.22 from "
          "Debian, on Debian's python3 with the project's kube package and its pinned wheels",
    packages=("nginx", "python3"),
    customize=("rm -f /etc/nginx/sites-enabled/default", "mkdir -p /etc/nginx/ingress/certs",
               "ln -sf /dev/stdout /var/log/nginx/access.log",
               "ln -sf /dev/stderr /var/log/nginx/error.log"),
    python_packages=("ingress_controller", "kube", "pydantic", "pydantic_core",
                     "annotated_types", "typing_inspection", "typing_extensions", "requests",
                     "urllib3", "idna", "certifi", "charset_normalizer", "yaml", "click"),
    env=(("PYTHONUNBUFFERED", "1"),),
    entrypoint=("python3", "-m", "ingress_controller"), ports=(80, 443))
PYTHON = BaseImage(
    name="python", tag="orch/python:3.11",
    holds="Python 3.11 from Debian (python3 and python, the standard library, venv)",
    packages=("python3", "python3-venv", "python-is-python3"),
    env=(("PYTHONUNBUFFERED", "1"),),
    cmd=("python3",))
BASE_IMAGES = (DEBIAN, NGINX, REDIS, PYTHON, INGRESS_NGINX)
IMAGE_PYTHON_PATH = "/usr/local/lib/python3.11/dist-packages"


def by_tag(tag: str) -> BaseImage:
    for image in BASE_IMAGES:
        if image.tag == tag:
            return image
    raise LabError(f"{tag}: not a base image (they are {', '.join(i.tag for i in BASE_IMAGES)})")


def files_dir(root: Path, image: BaseImage) -> Path:
    return root / "debian" / image.name


def recipe_digest(image: BaseImage, root: Path) -> str:
    """sha256 over everything that decides the image: the recipe, the suite and mirrors, the
    build's own version, and the content and mode of each of its files."""
    h = hashlib.sha256()
    recipe = {"recipe_version": RECIPE_VERSION, "suite": SUITE, "mirrors": MIRRORS,
              "removed": REMOVED_PATHS, "image": image.__dict__}
    h.update(json.dumps(recipe, sort_keys=True, default=list).encode())
    for source, _ in image.files:
        path = files_dir(root, image) / source
        h.update(source.encode() + b"\0" + oct(path.stat().st_mode & 0o777).encode() + b"\0")
        h.update(path.read_bytes())
    for name in image.python_packages:
        top = python_package_path(name).parent
        for path in python_package_files(name):
            h.update(str(path.relative_to(top)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def python_package_path(name: str) -> Path:
    """Where this environment imports `name` from: a package's directory or a module's file."""
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise LabError(f"python package {name} is not installed here (scripts/install-deps)")
    origin = Path(spec.origin)
    return origin.parent if origin.name == "__init__.py" else origin


def python_package_files(name: str) -> list[Path]:
    """The files of `name` that go into an image (compiled caches left out), sorted."""
    top = python_package_path(name)
    if top.is_file():
        return [top]
    return sorted(p for p in top.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def mmdebstrap_argv(image: BaseImage, root: Path, rootfs_tar: Path, apt_cache: Path) -> list[str]:
    argv = ["mmdebstrap", "--quiet", "--variant=minbase", "--mode=root", "--format=tar",
            "--skip=essential/unlink",
            # No fsync while unpacking: a half-built root filesystem is thrown away anyway.
            "--dpkgopt=force-unsafe-io"]
    if image.packages:
        argv.append("--include=" + ",".join(image.packages))
    argv += ["--setup-hook=mkdir -p \"$1\"/var/cache/apt/archives/",
             f"--setup-hook=sync-in {apt_cache} /var/cache/apt/archives/"]
    for source, destination in image.files:
        if os.path.basename(destination) != source:  # copy-in copies into a directory
            raise LabError(f"{image.name}: file {source} must keep its name in the image")
        argv += [f"--customize-hook=mkdir -p \"$1\"{os.path.dirname(destination)}",
                 f"--customize-hook=copy-in {files_dir(root, image) / source} "
                 f"{os.path.dirname(destination)}"]
    if image.python_packages:
        argv.append(f"--customize-hook=mkdir -p \"$1\"{IMAGE_PYTHON_PATH}")
    for name in image.python_packages:
        argv.append(f"--customize-hook=copy-in {python_package_path(name)} {IMAGE_PYTHON_PATH}")
    if image.python_packages:  # no host caches: Python compiles what it imports
        argv.append(f"--customize-hook=find \"$1\"{IMAGE_PYTHON_PATH} -name __pycache__ "
                    "-prune -exec rm -rf {} +")
    argv += [f"--customize-hook=chroot \"$1\" sh -ec {shell_quote(command)}"
             for command in image.customize]
    # mmdebstrap's own clean-up then empties the image's apt cache.
    argv.append(f"--customize-hook=sync-out /var/cache/apt/archives {apt_cache}")
    argv.append("--customize-hook=rm -rf " + " ".join(f'"$1"{p}' for p in REMOVED_PATHS))
    return argv + [SUITE, str(rootfs_tar), *MIRRORS]


def shell_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def image_config(image: BaseImage, digest: str, layer_id: str, created: str) -> dict:
    """The image configuration (the OCI/docker image config schema) for a one-layer image."""
    config: dict = {
        "Env": [f"PATH={PATH}", *(f"{k}={v}" for k, v in image.env)],
        "Cmd": list(image.cmd) or None,
        "Entrypoint": list(image.entrypoint) or None,
        "Labels": {SOURCES_LABEL: digest},
        "User": image.user,
        "WorkingDir": image.workdir,
    }
    if image.ports:
        config["ExposedPorts"] = {f"{p}/tcp": {} for p in image.ports}
    if image.volumes:
        config["Volumes"] = {v: {} for v in image.volumes}
    if image.stop_signal:
        config["StopSignal"] = image.stop_signal
    return {
        "architecture": "amd64", "os": "linux", "created": created,
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{layer_id}"]},
        "history": [{"created": created, "created_by": f"mmdebstrap --variant=minbase {SUITE} "
                     f"--include={','.join(image.packages)} (lab/base_images.py)"}],
    }


def write_image_archive(image: BaseImage, digest: str, rootfs_tar: Path, out: Path) -> None:
    """`rootfs_tar` as the one layer of a `docker load`-able archive at `out`."""
    h = hashlib.sha256()
    with open(rootfs_tar, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    layer_id = h.hexdigest()
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    config = json.dumps(image_config(image, digest, layer_id, created)).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [image.tag],
                            "Layers": [f"{layer_id}/layer.tar"]}]).encode()

    def add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
        info = tarfile.TarInfo(name)
        info.size, info.mtime = len(data), int(time.time())
        archive.addfile(info, io.BytesIO(data))

    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as archive:
        archive.add(rootfs_tar, arcname=f"{layer_id}/layer.tar")
        add_bytes(archive, config_name, config)
        add_bytes(archive, "manifest.json", manifest)


@contextmanager
def build_lock(cache_dir: Path, image: BaseImage) -> Iterator[None]:
    """One build of an image at a time on this machine: labs brought up together (the
    integration suite starts two) wait for each other's build instead of doing it twice."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    with open(cache_dir / f".{image.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def build_archive(image: BaseImage, root: Path, cache_dir: Path, apt_cache_root: Path) -> Path:
    """The image's archive in `cache_dir` (built unless it is there at its current digest).
    Its packages are kept in `apt_cache_root`/<name> (one directory per image, so that builds
    of different images can run at once)."""
    digest = recipe_digest(image, root)
    out = cache_dir / f"{image.name}-{digest[:16]}.tar"
    if out.exists():
        return out
    if shutil.which("mmdebstrap") is None:
        raise LabError("mmdebstrap is missing: scripts/install-deps installs it")
    with build_lock(cache_dir, image):
        if out.exists():  # built by another lab while this one waited
            return out
        for stale in cache_dir.glob(f"orch-{image.name}-*"):  # a build killed half-way
            shutil.rmtree(stale, ignore_errors=True)  # (the lock is ours: none runs now)
        apt_cache = apt_cache_root / image.name
        apt_cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=f"orch-{image.name}-", dir=cache_dir) as tmp:
            rootfs = Path(tmp) / "rootfs.tar"
            done = subprocess.run(mmdebstrap_argv(image, root, rootfs, apt_cache),
                                  capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise LabError(f"building {image.tag} with mmdebstrap failed:\n"
                               f"{done.stderr.strip()[-2000:]}")
            partial = Path(tmp) / "image.tar"
            write_image_archive(image, digest, rootfs, partial)
            partial.rename(out)  # atomic: never a truncated archive under the final name
    return out
