"""Container logs on the node at the paths log collectors read, as kubelet lays them out.

    <root>/pods/<namespace>_<pod>_<pod uid>/<container>/<restart count>.log
    <root>/containers/<pod>_<namespace>_<container>-<container id>.log   → the file above

With docker as the runtime (kubelet's dockershim, and cri-dockerd today) both are symlinks and
the log itself is docker's json-file log (one JSON object per line: "log", "stream", "time"),
which is what the usual DaemonSet collectors (fluent-bit, fluentd, vector) parse for
`/var/log/containers/*.log`; they mount the runtime's container directory too, to follow the
links. The root is /var/log unless the agent is told otherwise. A pod's links go when the
pod's containers are removed; a link whose container is gone is pruned.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

log = logging.getLogger(__name__)


def pod_log_dir_name(namespace: str, name: str, uid: str) -> str:
    return f"{namespace}_{name}_{uid}"


def container_link_name(namespace: str, pod: str, container: str, container_id: str) -> str:
    return f"{pod}_{namespace}_{container}-{container_id}.log"


class PodLogFiles:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.pods_dir, self.containers_dir = root / "pods", root / "containers"

    def link(self, namespace: str, pod: str, uid: str, container: str, restart_count: int,
             container_id: str, log_path: str) -> None:
        """Point the pod's and the node's log paths at a started container's log file. A
        failure is logged, never raised: the container runs either way."""
        if not log_path:
            return
        try:
            directory = self.pods_dir / pod_log_dir_name(namespace, pod, uid) / container
            directory.mkdir(parents=True, exist_ok=True)
            per_pod = directory / f"{restart_count}.log"
            _replace_link(per_pod, log_path)
            self.containers_dir.mkdir(parents=True, exist_ok=True)
            _replace_link(self.containers_dir / container_link_name(
                namespace, pod, container, container_id), str(per_pod))
            self.prune()
        except OSError as e:
            log.warning("pod %s/%s container %s: linking its log: %s", namespace, pod,
                        container, e)

    def remove_pod(self, uid: str) -> None:
        """Everything of the pod with `uid` (its containers are gone)."""
        try:
            for directory in self.pods_dir.glob(f"*_{uid}"):
                shutil.rmtree(directory, ignore_errors=True)
            self.prune()
        except OSError as e:
            log.warning("pod %s: removing its log links: %s", uid, e)

    def prune(self) -> None:
        """Remove the node's links that lead nowhere (their container, or pod, is gone)."""
        if not self.containers_dir.is_dir():
            return
        for entry in os.scandir(self.containers_dir):
            if entry.is_symlink() and not os.path.exists(entry.path):
                Path(entry.path).unlink(missing_ok=True)


def _replace_link(path: Path, target: str) -> None:
    """`path` → `target`, replacing any link there atomically (a reader never sees none)."""
    if path.is_symlink() and os.readlink(path) == target:
        return
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(target)
    tmp.replace(path)
