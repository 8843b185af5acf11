"""A pod's volumes on the node's disk (I/O): emptyDir and the configMap/secret volumes under
the agent's root directory (`<root>/pods/<uid>/volumes/<kind>/<name>`), hostPath on the host,
a claim's persistent volume (a hostPath or local directory), and the mounts a container gets
from them."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
import time
from pathlib import Path

from kube.kinds.persistentvolume import PersistentVolume
from kube.kinds.pod import Container, Pod
from kube.quantity import memory_bytes, parse_quantity
from node_agent.pods.model import empty_dir_eviction_message
from node_agent.runtime.errors import StartFailed
from node_agent.runtime.protocol import Mount

CONFIG_ERROR = "CreateContainerConfigError"


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


def own_by_fs_group(root: Path, pod: Pod, read_only: bool) -> None:
    """Kubelet's SetVolumeOwnership for the pod's fsGroup: everything under `root` (itself
    too) belongs to the group and is readable (writable, unless the volume is read-only) by
    it; directories are setgid, so what the pod writes there is the group's too. Nothing
    without an fsGroup; with fsGroupChangePolicy OnRootMismatch, nothing when `root` is the
    group's with those permissions already."""
    context = pod.spec.security_context
    fs_group = context.fs_group
    if fs_group is None:
        return
    mask = 0o440 if read_only else 0o660
    if context.fs_group_change_policy == "OnRootMismatch":
        info = root.stat()
        wanted = mask | stat.S_ISGID | 0o110
        if info.st_gid == fs_group and info.st_mode & wanted == wanted:
            return
    for path in [root, *root.rglob("*")]:
        os.lchown(path, -1, fs_group)
        if path.is_symlink():
            continue
        mode = path.stat().st_mode & 0o7777
        os.chmod(path, mode | mask | (stat.S_ISGID | 0o110 if path.is_dir() else 0))


def sub_path_source(volume: Path, sub_path: str) -> Path:
    """What a mount with `subPath` binds: that file or directory of the volume, made as a
    directory when absent (as kubelet). Raises StartFailed when it resolves outside the volume
    (a symlink in the volume pointing away: the API already refuses `..` and absolute paths)."""
    target = volume / sub_path
    if not target.exists() and not target.is_symlink():
        target.mkdir(parents=True)
    root, resolved = volume.resolve(), target.resolve()
    if resolved != root and root not in resolved.parents:
        raise StartFailed(CONFIG_ERROR, f"subPath {sub_path!r} leaves its volume (it resolves "
                          f"to {resolved})")
    if not resolved.exists():
        raise StartFailed(CONFIG_ERROR, f"subPath {sub_path!r}: {resolved} does not exist")
    return resolved


DATA_LINK = "..data"


def _remove(path: Path) -> None:
    """A file, a link or a whole directory tree."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _holds_exactly(directory: Path, files: dict[str, tuple[bytes, int]], extra_bits: int) -> bool:
    """Whether `directory` holds exactly `files`, each with its content and permission bits
    (plus `extra_bits`, what own_by_fs_group adds)."""
    try:
        present = {str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file()}
        if present != set(files):
            return False
        for relative, (content, mode) in files.items():
            path = directory / relative
            if stat.S_IMODE(path.stat().st_mode) != mode | extra_bits or \
                    path.read_bytes() != content:
                return False
    except OSError:
        return False
    return True


def directory_usage(path: Path) -> int:
    """Bytes the tree under `path` takes on disk (allocated blocks, as `du` counts them: each
    inode once, symlinks not followed, other filesystems not entered); 0 when absent."""
    try:
        device = os.lstat(path).st_dev
    except OSError:
        return 0
    seen: set[int] = set()
    total = 0
    for directory, dirs, files in os.walk(path):
        same_fs = []
        for name in (*dirs, *files):
            try:
                st = os.lstat(os.path.join(directory, name))
            except OSError:
                continue  # removed while walking
            if st.st_dev != device:
                continue
            if stat.S_ISDIR(st.st_mode):
                same_fs.append(name)
            if st.st_ino not in seen:
                seen.add(st.st_ino)
                total += st.st_blocks * 512
        dirs[:] = [d for d in dirs if d in same_fs]
    return total


def memory_volume_size(pod: Pod, size_limit: str | int | None) -> int | None:
    """A memory-backed emptyDir's tmpfs size in bytes (Kubernetes' SizeMemoryBackedVolumes):
    sizeLimit, capped by the pod's memory limit where every container has one; None (the
    kernel's default, half the node's memory) without either."""
    limits = [c.resources.limits.get("memory") if c.resources and c.resources.limits else None
              for c in pod.spec.containers]
    pod_limit = sum(memory_bytes(v) for v in limits if v is not None) \
        if all(v is not None for v in limits) else None
    sizes = [s for s in (memory_bytes(size_limit) if size_limit is not None else None, pod_limit)
             if s is not None]
    return min(sizes) if sizes else None


def mount_tmpfs(path: Path, size: int | None) -> None:
    options = "mode=0777" + (f",size={size}" if size is not None else "")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise StartFailed(CONFIG_ERROR, f"mounting a tmpfs (emptyDir medium Memory) at {path}: "
                          f"{done.stderr.strip()}")


def mounts_under(root: Path) -> list[str]:
    """The mount points at or below `root` (deepest first), from /proc/self/mountinfo."""
    prefix = str(root)
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return []
    points = [line.split()[4] for line in lines if len(line.split()) > 4]
    return sorted((p for p in points if p == prefix or p.startswith(prefix + "/")),
                  key=len, reverse=True)


class PodVolumes:
    def __init__(self, root_dir: Path) -> None:
        self.root_dir = root_dir

    def pod_dir(self, pod: Pod) -> Path:
        return self.root_dir / "pods" / (pod.metadata.uid or "")

    def termination_log(self, pod: Pod, container: str, attempt: int) -> Path:
        """The host file an attempt's terminationMessagePath is (kubelet's
        pods/<uid>/containers/<name>/<attempt>)."""
        return self.pod_dir(pod) / "containers" / container / str(attempt)

    def termination_mount(self, pod: Pod, spec: Container, attempt: int) -> Mount:
        """An empty file, writable whoever the container runs as, at its
        terminationMessagePath."""
        path = self.termination_log(pod, spec.name, attempt)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
        path.chmod(0o666)
        return Mount(str(path), spec.termination_message_path)

    def mounts(self, pod: Pod, spec: Container, prepared: dict[str, Path]) -> tuple[Mount, ...]:
        """The mounts of container `spec`; `prepared`: the host directories of its configMap
        and secret volumes (write_volume made them). Raises StartFailed for a hostPath whose
        type does not hold, or a volume that was not prepared."""
        volumes = {v.name: v for v in pod.spec.volumes or ()}
        out = []
        for mount in spec.volume_mounts or ():
            volume = volumes[mount.name]
            if volume.empty_dir is not None:
                source = self.pod_dir(pod) / "volumes" / "empty-dir" / mount.name
                made = not source.is_dir()
                if made:
                    source.mkdir(parents=True)
                    source.chmod(0o777)  # as kubelet makes it: writable whoever runs in the pod
                if volume.empty_dir.medium == "Memory" and not os.path.ismount(source):
                    mount_tmpfs(source, memory_volume_size(pod, volume.empty_dir.size_limit))
                    made = True
                if made:
                    own_by_fs_group(source, pod, False)
            elif volume.host_path is not None:
                source = Path(volume.host_path.path)
                problem = prepare_host_path(source, volume.host_path.type or "")
                if problem:
                    raise StartFailed(CONFIG_ERROR, problem)
            elif mount.name in prepared:
                source = prepared[mount.name]
            else:
                raise StartFailed(CONFIG_ERROR, f"volume {mount.name!r} was not prepared")
            if mount.sub_path:
                source = sub_path_source(source, mount.sub_path)
            claim = volume.persistent_volume_claim
            read_only = bool(mount.read_only) or bool(claim is not None and claim.read_only)
            out.append(Mount(str(source), mount.mount_path, read_only))
        return tuple(out)

    def persistent_volume_directory(self, pod: Pod, volume: PersistentVolume) -> Path:
        """The directory a bound persistent volume is on this node: a hostPath (made as its
        type says) or a local volume's path (which must exist), given to the pod's fsGroup
        where the volume is local (as kubelet, which leaves a hostPath's ownership alone)."""
        if volume.spec.host_path is not None:
            path = Path(volume.spec.host_path.path)
            problem = prepare_host_path(path, volume.spec.host_path.type or "")
            if problem:
                raise StartFailed("ContainerCreating", f"persistentvolume "
                                  f"{volume.metadata.name!r}: {problem}")
            return path
        assert volume.spec.local is not None  # the model admits these two sources only
        path = Path(volume.spec.local.path)
        if not path.is_dir():
            raise StartFailed("ContainerCreating", f"persistentvolume {volume.metadata.name!r}: "
                              f"local path {path} is not a directory on this node")
        own_by_fs_group(path, pod, False)
        return path

    def write_volume(self, pod: Pod, kind: str, volume: str,
                     files: dict[str, tuple[bytes, int]]) -> Path:
        """Make the host directory of a configMap/secret/downwardAPI/projected volume hold
        exactly `files` (relative path → (content, mode)), all of them changed at once, as
        kubelet's AtomicWriter does it: the files are written into a new hidden directory
        (`..<time>`), the symlink `..data` is renamed onto it (one atomic step: a reader sees
        the old set or the new one, never a mix), and each top-level name is a symlink through
        `..data`; the previous directory is then removed (a container that holds one of its
        files open, or mounted one by subPath, keeps it). Nothing is touched when nothing
        changed. Raises StartFailed for a path that is absolute, holds `..` or starts with it."""
        for relative in files:
            if relative.startswith(("/", "..")) or ".." in relative.split("/"):
                raise StartFailed(CONFIG_ERROR, f"path {relative!r} leaves the volume")
        root = self.pod_dir(pod) / "volumes" / kind / volume
        root.mkdir(parents=True, exist_ok=True)
        root.chmod(0o755)
        data = root / DATA_LINK
        # own_by_fs_group makes each file readable by the pod's group as well
        group_bits = 0o440 if pod.spec.security_context.fs_group is not None else 0
        previous = root / os.readlink(data) if data.is_symlink() else None
        if previous is not None and _holds_exactly(previous, files, group_bits):
            return root
        fresh = Path(tempfile.mkdtemp(prefix=time.strftime("..%Y_%m_%d_%H_%M_%S."), dir=root))
        fresh.chmod(0o755)
        for relative, (content, mode) in files.items():
            target = fresh / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
            target.chmod(mode)
        for directory in [d for d in fresh.rglob("*") if d.is_dir()]:
            directory.chmod(0o755)
        own_by_fs_group(fresh, pod, True)  # before the switch: no reader sees it otherwise
        link = root / f"{DATA_LINK}_tmp"
        link.unlink(missing_ok=True)
        link.symlink_to(fresh.name)
        link.rename(data)  # the switch
        visible = {relative.split("/", 1)[0] for relative in files}
        # a visible name is a link through ..data; any other entry (no longer listed, or a
        # file written before volumes were swapped whole) goes
        for entry in root.iterdir():
            if entry.name.startswith(".."):
                continue
            if entry.name not in visible or not entry.is_symlink() or \
                    os.readlink(entry) != f"{DATA_LINK}/{entry.name}":
                _remove(entry)
        for name in visible:
            if not (root / name).is_symlink():
                (root / name).symlink_to(f"{DATA_LINK}/{name}")
        if previous is not None:
            shutil.rmtree(previous, ignore_errors=True)
        own_by_fs_group(root, pod, True)
        return root

    def empty_dir_over_limit(self, pod: Pod) -> str | None:
        """Kubelet's eviction message for the first disk-backed emptyDir of the pod whose
        usage is over its sizeLimit; None while every one is within it."""
        for volume in pod.spec.volumes or ():
            source = volume.empty_dir
            if source is None or source.medium == "Memory" or source.size_limit is None:
                continue
            path = self.pod_dir(pod) / "volumes" / "empty-dir" / volume.name
            if directory_usage(path) > parse_quantity(source.size_limit):
                return empty_dir_eviction_message(volume.name, source.size_limit)
        return None

    def remove_pod_dir(self, pod_uid: str) -> None:
        """Everything of the pod on disk: its tmpfs volumes unmounted first."""
        root = self.root_dir / "pods" / pod_uid
        for mountpoint in mounts_under(root):
            subprocess.run(["umount", "--lazy", mountpoint], capture_output=True, check=False)
        shutil.rmtree(root, ignore_errors=True)
