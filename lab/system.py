"""Thin wrappers over the kernel and the commands the lab drives: processes, network namespaces,
cgroups and sockets opened inside a namespace. No lab policy lives here.

Processes are considered gone once they are zombies: the lab's daemons outlive the `lab` command
that started them, so they are reparented to PID 1, which on these machines reaps only about
every 2 s (docs/lab.md). Waiting on `kill -0` would wait for the reaper, not for the process.
"""

from __future__ import annotations

import ctypes
import http.client
import os
import signal
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

CLONE_NEWNET = 0x40000000
CGROUP_ROOT = Path("/sys/fs/cgroup")


class LabError(RuntimeError):
    """A lab operation failed; the message says what and, where known, why."""


# --- commands -------------------------------------------------------------------------------


def run(argv: Sequence[str], *, check: bool = True, input: str | None = None,
        timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run a command to completion; on failure raise LabError with the command and its stderr."""
    try:
        proc = subprocess.run(list(argv), input=input, capture_output=True, text=True,
                              timeout=timeout)
    except FileNotFoundError as e:
        raise LabError(f"{argv[0]}: command not found (run scripts/install-deps)") from e
    except subprocess.TimeoutExpired as e:
        raise LabError(f"{' '.join(argv)}: no answer within {timeout:.0f} s") from e
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip()
        raise LabError(f"{' '.join(argv)} failed (exit {proc.returncode}): {detail}")
    return proc


def ip(netns: str | None, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """`ip [-n NETNS] ARGS…`."""
    prefix = ["ip", "-n", netns] if netns else ["ip"]
    return run([*prefix, *args], check=check)


def ip_batch(netns: str, commands: Iterable[str]) -> None:
    """Several `ip` commands in one process (`ip -n NETNS -batch -`); stops at the first error."""
    run(["ip", "-n", netns, "-batch", "-"], input="\n".join(commands) + "\n")


def in_netns_argv(netns_path: Path, argv: Sequence[str]) -> list[str]:
    """argv that runs `argv` in a network namespace. nsenter, not `ip netns exec`: the latter
    remounts /sys, which dockerd cannot live with (docs/lab.md)."""
    return ["nsenter", f"--net={netns_path}", "--", *argv]


def sysctl_in_netns(netns_path: Path, settings: dict[str, str]) -> None:
    """Set per-namespace sysctls; keys missing in this kernel (module not loaded) are skipped."""
    script = "; ".join(
        f"[ -e /proc/sys/{k.replace('.', '/')} ] && echo {v} > /proc/sys/{k.replace('.', '/')}"
        for k, v in settings.items()
    )
    run(in_netns_argv(netns_path, ["sh", "-c", script + "; true"]))


# --- network namespaces ---------------------------------------------------------------------


def netns_path(name: str) -> Path:
    return Path("/run/netns") / name


def netns_exists(name: str) -> bool:
    return netns_path(name).exists()


def netns_list() -> list[str]:
    try:
        return sorted(p.name for p in Path("/run/netns").iterdir())
    except FileNotFoundError:
        return []


def ensure_netns(name: str) -> bool:
    """Create the namespace if it is missing; True when it was created."""
    if netns_exists(name):
        return False
    ip(None, "netns", "add", name)
    return True


def delete_netns(name: str) -> None:
    if netns_exists(name):
        ip(None, "netns", "del", name)


def netns_inode(name: str) -> int | None:
    try:
        return os.stat(netns_path(name)).st_ino
    except FileNotFoundError:
        return None


def link_exists(netns: str, ifname: str) -> bool:
    return ip(netns, "link", "show", "dev", ifname, check=False).returncode == 0


def _setns(fd: int) -> None:
    if hasattr(os, "setns"):  # Python >= 3.12
        os.setns(fd, CLONE_NEWNET)
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def connect_in_netns(netns: str, address: tuple[str, int], timeout: float) -> socket.socket:
    """A TCP socket connected from inside `netns`, usable from any thread of this process.

    A helper thread enters the namespace (setns affects only the calling thread), creates and
    connects the socket, and ends; the socket stays bound to that namespace.
    """
    result: dict[str, object] = {}

    def connect() -> None:
        try:
            with open(netns_path(netns)) as f:
                _setns(f.fileno())
            result["sock"] = socket.create_connection(address, timeout=timeout)
        except OSError as e:
            result["error"] = e

    t = threading.Thread(target=connect, name=f"connect-in-{netns}", daemon=True)
    t.start()
    t.join(timeout + 1)
    if "sock" in result:
        return result["sock"]  # type: ignore[return-value]
    raise result.get("error") or TimeoutError(f"connect to {address} in {netns}")  # type: ignore[misc]


def tls_client_context(files: dict[str, str]) -> ssl.SSLContext:
    """A client's TLS context from etcdctl-style files ("cacert", "cert", "key": see
    lab.plan.etcdctl_files). Raises OSError (ssl.SSLError included) when one cannot be read."""
    context = ssl.create_default_context(cafile=files["cacert"])
    context.load_cert_chain(files["cert"], files["key"])
    return context


def http_get_in_netns(netns: str, host: str, port: int, path: str, timeout: float = 2.0,
                      context: ssl.SSLContext | None = None) -> tuple[int, bytes]:
    """GET http://host:port/path from inside `netns` (https:// with `context`); returns
    (status, body)."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    conn.sock = connect_in_netns(netns, (host, port), timeout)
    try:
        if context:
            conn.sock = context.wrap_socket(conn.sock, server_hostname=host)
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


# --- processes ------------------------------------------------------------------------------


def process_state(pid: int) -> str | None:
    """The one-letter state from /proc/PID/status, or None when there is no such process."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("State:"):
                    return line.split()[1]
    except (FileNotFoundError, ProcessLookupError):
        pass
    return None


def process_comm(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except (FileNotFoundError, ProcessLookupError):
        return None


def is_alive(pid: int) -> bool:
    return process_state(pid) not in (None, "Z", "X")


def running_pid(pidfile: Path, comm: str) -> int | None:
    """The pid recorded in `pidfile` if that process is alive and is `comm` (guards pid reuse)."""
    try:
        pid = int(pidfile.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if is_alive(pid) and process_comm(pid) == comm else None


def running_pid_with(pidfile: Path, marker: str) -> int | None:
    """Like running_pid, for processes whose comm is not distinctive (a Python module): the
    pid's command line must contain `marker`."""
    try:
        pid = int(pidfile.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None
    return pid if is_alive(pid) and marker.encode() in cmdline else None


def free_loopback_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def all_pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def pids_in_netns(inode: int) -> list[int]:
    pids = []
    for pid in all_pids():
        try:
            if os.stat(f"/proc/{pid}/ns/net").st_ino == inode:
                pids.append(pid)
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return pids


def cgroup_dirs(name: str) -> list[Path]:
    """The directories named `name` at the top of every cgroup hierarchy (v1 and v2)."""
    dirs = []
    for hierarchy in CGROUP_ROOT.iterdir() if CGROUP_ROOT.exists() else ():
        candidate = hierarchy / name
        if candidate.is_dir():
            dirs.append(candidate)
    direct = CGROUP_ROOT / name  # pure cgroup v2 layout
    if direct.is_dir() and (direct / "cgroup.procs").exists() and direct not in dirs:
        dirs.append(direct)
    return dirs


def pids_in_cgroup(name: str) -> list[int]:
    pids: set[int] = set()
    for top in cgroup_dirs(name):
        # os.walk, not rglob: a container's cgroup may vanish mid-walk (it exited), and
        # os.walk skips what it can no longer list where rglob raises
        for directory, _, files in os.walk(top):
            if "cgroup.procs" not in files:
                continue
            try:
                pids.update(int(p) for p in (Path(directory) / "cgroup.procs").read_text().split())
            except (FileNotFoundError, OSError):
                continue
    return sorted(pids)


def remove_cgroup(name: str) -> list[Path]:
    """rmdir the cgroup tree `name` in every hierarchy, deepest first; returns what is left."""
    left = []
    for top in cgroup_dirs(name):
        for d in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
            try:
                d.rmdir()
            except OSError:
                left.append(d)
        try:
            top.rmdir()
        except OSError:
            left.append(top)
    return left


def signal_pids(pids: Iterable[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def wait_gone(pids: Iterable[int], timeout: float) -> list[int]:
    """Wait until every pid is dead or a zombie; returns those still alive at the deadline."""
    pending = list(pids)
    deadline = time.monotonic() + timeout
    while pending:
        pending = [p for p in pending if is_alive(p)]
        if not pending or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    return pending


def kill_now(pids: Iterable[int], timeout: float = 10.0) -> list[int]:
    """SIGKILL and wait; returns pids that survived (should be none)."""
    pids = list(pids)
    signal_pids(pids, signal.SIGKILL)
    return wait_gone(pids, timeout)


def spawn_daemon(argv: Sequence[str], log: Path, env: dict[str, str] | None = None) -> int:
    """Start a long-lived process detached from this one (own session, output to `log`).

    The process outlives the `lab` command; its pid is the daemon's own pid when `argv` only
    exec's (nsenter without --pid, unshare without --fork, `sh -c '…; exec …'`).
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, **(env or {})})
    proc.returncode = 0  # never waited on here: silence Popen's "still running" warning
    return proc.pid


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def is_mount_point(path: Path) -> bool:
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == str(path) for line in f)


def ensure_private_mount(directory: Path) -> None:
    """Make `directory` a mount point with private propagation: namespace files can only be
    bind-mounted there (a shared mount would propagate the bind into the namespace itself)."""
    directory.mkdir(parents=True, exist_ok=True)
    if not is_mount_point(directory):
        run(["mount", "--bind", str(directory), str(directory)])
    run(["mount", "--make-private", str(directory)])


def persist_mount_namespace(ns_file: Path, setup_script: str) -> None:
    """Create a mount namespace (a slave of this one), run `setup_script` in it, and keep it
    alive by bind-mounting it on `ns_file`, which must sit in a private mount."""
    ns_file.touch()
    run(["unshare", f"--mount={ns_file}", "--propagation", "slave", "--",
         "sh", "-c", setup_script])


def drop_mount_namespace(ns_file: Path) -> None:
    """Unmount a persisted namespace file; the namespace dies with its last process."""
    if is_mount_point(ns_file):
        run(["umount", str(ns_file)])
    ns_file.unlink(missing_ok=True)


def mounts_under(prefixes: Sequence[Path]) -> list[str]:
    """Mount points in this mount namespace at or below any of `prefixes`, deepest first."""
    points = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4].encode().decode("unicode_escape")
            if any(point == str(p) or point.startswith(f"{p}/") for p in prefixes):
                points.append(point)
    return sorted(points, key=len, reverse=True)
