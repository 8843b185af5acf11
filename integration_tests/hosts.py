"""How the integration suite reaches live hosts, whatever kind of lab the inventory describes.

`Cluster` wraps an inventory: run a command on a host, talk to its dockerd, ask its etcd member,
and inject faults (power a host off and on, cut it off the network and heal it). The netns kind
runs host commands with nsenter; the vagrant kind over ssh (as root, through sudo) and talks to
each dockerd over TLS. Both inject faults through the lab's control command (`scripts/lab
--name NAME …`, `scripts/vagrant-lab …`), which answers the same verbs.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import docker
import docker.tls
import requests

from lab.inventory import Inventory, InventoryHost, ssh_argv

TEST_LABEL = "org.orch-lab.integration-test"
DOCKER_API_VERSION = "1.41"
T = TypeVar("T")
# Deadlines are written for the netns lab on a loaded 2-core machine; an inventory whose hosts
# are slower (VMs under software emulation) says by how much ("timeout_scale"), and the suite
# multiplies every deadline by the largest scale it was given (set once by conftest).
TIMEOUT_SCALE = 1.0


def wait_until(condition: Callable[[], T], timeout: float, what: str,
               interval: float = 0.1) -> T:
    """Poll `condition` until it returns something truthy; fail with `what` at the deadline."""
    timeout *= TIMEOUT_SCALE
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


@dataclass
class Cluster:
    inventory: Inventory

    @property
    def name(self) -> str:
        return self.inventory.name

    @property
    def hosts(self) -> tuple[InventoryHost, ...]:
        return self.inventory.hosts

    def host(self, name: str) -> InventoryHost:
        return self.inventory.host(name)

    # --- commands on a host ---

    def host_argv(self, host: InventoryHost, argv: Sequence[str],
                  mounts: bool = False) -> list[str]:
        """`argv` run on `host`; with `mounts`, in the mount namespace its agent and dockerd
        share (a netns host's own; a VM has only one)."""
        if self.inventory.kind == "netns":
            mount = [f"--mount={host.mount_ns}"] if mounts and host.mount_ns else []
            return ["nsenter", f"--net=/run/netns/{host.netns}", *mount, "--", *argv]
        if host.ssh:
            return ssh_argv(host.ssh, list(argv))
        raise NotImplementedError(f"host access for inventory kind {self.inventory.kind!r}")

    def run(self, host: InventoryHost, argv: Sequence[str], *, check: bool = True,
            timeout: float = 30, mounts: bool = False) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(self.host_argv(host, argv, mounts), capture_output=True, text=True,
                              timeout=timeout * TIMEOUT_SCALE)
        if check and proc.returncode != 0:
            raise AssertionError(f"on {host.name}: {' '.join(argv)} exited {proc.returncode}: "
                                 f"{proc.stderr.strip() or proc.stdout.strip()}")
        return proc

    def on_client(self, argv: Sequence[str], *, check: bool = True,
                  timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """`argv` on the inventory's client, a machine of the lab network that is no node:
        in its namespace (netns kind), else here (a Vagrant lab's workstation)."""
        client = self.inventory.client
        if client is None:
            raise AssertionError(f"inventory {self.name!r} has no client")
        full = ["nsenter", f"--net=/run/netns/{client.netns}", "--", *argv] if client.netns \
            else list(argv)
        proc = subprocess.run(full, capture_output=True, text=True,
                              timeout=timeout * TIMEOUT_SCALE)
        if check and proc.returncode != 0:
            raise AssertionError(f"on the client: {' '.join(argv)} exited {proc.returncode}: "
                                 f"{proc.stderr.strip() or proc.stdout.strip()}")
        return proc

    def etcdctl(self, host: InventoryHost, *args: str, check: bool = True,
                timeout: float = 15) -> subprocess.CompletedProcess[str]:
        """etcdctl against that host's own member only (no failover to others), with the
        inventory's etcdctl credentials when it has them."""
        tls = self.inventory.etcd_tls
        scheme = "https" if tls else "http"
        return self.run(host, ["env", "ETCDCTL_API=3", "etcdctl", "--command-timeout=5s",
                               f"--endpoints={scheme}://{host.address}:2379",
                               *(f"--{k}={v}" for k, v in tls.items()), *args],
                        check=check, timeout=timeout)

    def etcd_healthy(self, host: InventoryHost) -> bool:
        """The member answers and commits through a quorum (`endpoint health` exits 0)."""
        return self.etcdctl(host, "endpoint", "health", check=False).returncode == 0

    def etcd_put_eventually(self, host: InventoryHost, key: str, value: str,
                            timeout: float = 60) -> None:
        """Write through `host`'s member, retrying as a client must: a proposal in flight when
        the raft leader dies is dropped and times out ("request timed out"), and writes are
        refused until a new leader is elected."""
        wait_until(lambda: self.etcdctl(host, "put", key, value, check=False).returncode == 0,
                   timeout, f"a write through {host.name}'s etcd member to succeed")

    def ping(self, src: InventoryHost, address: str) -> bool:
        return self.run(src, ["busybox", "ping", "-c", "1", "-W", "1", address],
                        check=False).returncode == 0

    # --- docker ---

    def docker(self, host: InventoryHost, timeout: float = 60) -> docker.DockerClient:
        tls = None
        if creds := self.inventory.raw.get("docker_tls"):
            tls = docker.tls.TLSConfig(client_cert=(creds["client_cert"], creds["client_key"]),
                                       ca_cert=creds["ca_cert"], verify=True)
        client = docker.DockerClient(base_url=host.docker, version=DOCKER_API_VERSION,
                                     timeout=timeout * TIMEOUT_SCALE, tls=tls)
        client.api.trust_env = False  # $REQUESTS_CA_BUNDLE would override the lab's CA
        return client

    def docker_answers(self, host: InventoryHost) -> bool:
        client = self.docker(host, timeout=2)
        try:
            return bool(client.ping())
        except Exception:
            return False
        finally:
            client.close()

    def docker_answers_on_host(self, host: InventoryHost) -> bool:
        """Whether the host's dockerd answers when asked on the host itself: the same as
        `docker_answers` where its socket is a local file (netns), over ssh where it is a TCP
        port on the host's network (a VM cut off that network still runs its daemons)."""
        if not host.ssh:
            return self.docker_answers(host)
        return self.run(host, ["docker", "version", "--format", "{{.Server.Version}}"],
                        check=False).returncode == 0

    # --- the API ---

    def api(self, who: str = "admin") -> requests.Session:
        """A session for the lab's API as `who`: "admin", "readonly", a host name (that node's
        token), or None (no token). Relative paths resolve against the API's URL."""
        inv = self.inventory
        if not inv.api:
            raise NotImplementedError(f"inventory {self.name!r} has no API")
        token_file = {"admin": inv.admin_token_file, "readonly": inv.readonly_token_file}.get(
            who) if who else None
        if who and token_file is None:
            token_file = self.host(who).token_file
        session = ApiSession(inv.api)
        session.trust_env = False  # $REQUESTS_CA_BUNDLE would override verify; no proxies
        session.verify = inv.ca_file
        if token_file:
            with open(token_file) as f:
                session.headers["Authorization"] = f"Bearer {f.read().strip()}"
        return session

    # --- faults ---

    def control(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        if not self.inventory.control:
            raise NotImplementedError(f"inventory {self.name!r} has no control command")
        proc = subprocess.run([*self.inventory.control, *args], capture_output=True, text=True,
                              timeout=timeout * TIMEOUT_SCALE)
        if proc.returncode != 0:
            raise AssertionError(f"{' '.join(args)} on lab {self.name}: {proc.stderr.strip()}")
        return proc

    def power_off(self, host: InventoryHost) -> None:
        self.control("kill", host.name)

    def power_on(self, host: InventoryHost) -> None:
        self.control("start", host.name)

    def partition(self, host: InventoryHost) -> None:
        self.control("partition", host.name)

    def heal(self, host: InventoryHost) -> None:
        self.control("heal", host.name)

    def status(self) -> list[dict[str, str]]:
        proc = subprocess.run([*self.inventory.control, "status"], capture_output=True,
                              text=True, timeout=60 * TIMEOUT_SCALE)
        lines = proc.stdout.splitlines()
        keys = [k.lower() for k in lines[0].split()]
        return [dict(zip(keys, line.split(maxsplit=len(keys) - 1))) for line in lines[1:]]


def run_container(client: docker.DockerClient, image: str, argv: Sequence[str], *,
                  name: str | None = None, timeout: float = 60,
                  entrypoint: Sequence[str] | None = ("sh", "-c")) -> tuple[int, str]:
    """Create (never pull: the image must be present), start, wait, and return (exit code,
    output). The container is labelled for cleanup and removed here."""
    container = client.containers.create(image, command=list(argv), name=name,
                                         entrypoint=list(entrypoint) if entrypoint else None,
                                         labels={TEST_LABEL: "1"})
    try:
        container.start()
        result = container.wait(timeout=timeout)
        return result["StatusCode"], container.logs().decode(errors="replace")
    finally:
        container.remove(force=True)


def start_web(client: docker.DockerClient, *, name: str | None = None,
              hostname: str | None = None, env: dict[str, str] | None = None):
    """An orch/web container, running, with its IP known."""
    container = client.containers.run("orch/web:1", detach=True, name=name, hostname=hostname,
                                      environment=env or {}, labels={TEST_LABEL: "1"})
    container.reload()
    return container


def container_ip(container) -> str:
    return container.attrs["NetworkSettings"]["IPAddress"]


def remove_test_containers(client: docker.DockerClient) -> None:
    for c in client.containers.list(all=True, filters={"label": TEST_LABEL}, ignore_removed=True):
        c.remove(force=True)


def etcd_members(cluster: Cluster, host: InventoryHost) -> list[dict]:
    out = cluster.etcdctl(host, "member", "list", "-w", "json").stdout
    return json.loads(out)["members"]


# --- process oracles (read /proc directly, independent of the lab's own code) ---


def process_alive(pid: int | str) -> bool:
    """Alive = exists and is not a zombie (PID 1 reaps orphans only every ~2 s here)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            return "\nState:\tZ" not in f.read()
    except OSError:
        return False


def netns_pids(netns: str, comm: str | None = None) -> list[int]:
    """Live processes whose network namespace is /run/netns/NETNS (optionally named `comm`)."""
    inode = os.stat(f"/run/netns/{netns}").st_ino
    found = []
    for pid in (p for p in os.listdir("/proc") if p.isdigit()):
        try:
            if os.stat(f"/proc/{pid}/ns/net").st_ino != inode:
                continue
            if comm is not None:
                with open(f"/proc/{pid}/comm") as f:
                    if f.read().strip() != comm:
                        continue
        except OSError:
            continue
        if process_alive(pid):
            found.append(int(pid))
    return found


class ApiSession(requests.Session):
    """requests.Session whose relative URLs ("/api/v1/pods") go to one API server."""

    def __init__(self, base: str) -> None:
        super().__init__()
        self.base = base.rstrip("/")

    def request(self, method, url, *args, **kwargs):  # type: ignore[override]
        """A GET answered 503 (the store briefly without a leader: the API says retry) is
        retried as clients do, for up to 30 s (scaled); other verbs are not, since a write that
        timed out may have been applied."""
        if url.startswith("/"):
            url = self.base + url
        kwargs.setdefault("timeout", 30 * TIMEOUT_SCALE)
        deadline = time.monotonic() + 30 * TIMEOUT_SCALE
        while True:
            response = super().request(method, url, *args, **kwargs)
            if method.upper() != "GET" or response.status_code != 503 \
                    or time.monotonic() > deadline:
                return response
            time.sleep(1)


class HttpProber:
    """HTTP GETs sent from inside a lab host (where pod IPs are routable), through one
    long-lived helper process on that host, so a request costs no process start. Used by the
    tests that keep requests flowing while pods are replaced."""

    SCRIPT = (
        "import sys, urllib.request\n"
        "for line in sys.stdin:\n"
        "    url = line.strip()\n"
        "    try:\n"
        "        body = urllib.request.urlopen(url, timeout=2).read().decode().strip()\n"
        "        print('ok', body.replace(chr(10), ' '), flush=True)\n"
        "    except Exception as e:\n"
        "        print('fail', type(e).__name__, str(e).replace(chr(10), ' '), flush=True)\n")

    def __init__(self, cluster: Cluster, host: InventoryHost) -> None:
        self._proc = subprocess.Popen(cluster.host_argv(host, ["python3", "-u", "-c", self.SCRIPT]),
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def get(self, url: str) -> tuple[bool, str]:
        assert self._proc.stdin and self._proc.stdout
        self._proc.stdin.write(url + "\n")
        self._proc.stdin.flush()
        status, _, rest = self._proc.stdout.readline().strip().partition(" ")
        return status == "ok", rest

    def close(self) -> None:
        if self._proc.stdin:
            self._proc.stdin.close()
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
