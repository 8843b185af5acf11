"""Starting and probing the daemons of one lab host: its dockerd and its etcd member.

`start_*` only spawns (it returns at once); `wait_*` blocks until the daemon answers, so `up`
can start every daemon of every host first and then wait for all of them together.
"""

from __future__ import annotations

import http.client
import json
import ssl
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import docker
import docker.errors
import requests.exceptions

from lab import system
from lab.plan import (API_PORT, ETCD_CLIENT_PORT, HostPlan, LabPlan, agent_argv, dockerd_shell,
                      etcd_argv, etcdctl_files, master_argv, mount_ns_setup_shell)
from lab.system import LabError

DOCKER_API_VERSION = "1.41"  # dockerd 20.10 (Debian 12); newer engines still serve it


# --- dockerd --------------------------------------------------------------------------------


def dockerd_pid(host: HostPlan) -> int | None:
    return system.running_pid(host.docker_pidfile, "dockerd")


def ensure_mount_namespace(host: HostPlan) -> None:
    """The host's persistent mount namespace, created on first use (see HostPlan.mount_ns_file)."""
    if system.is_mount_point(host.mount_ns_file):
        return
    system.ensure_private_mount(host.mount_ns_file.parent)
    system.persist_mount_namespace(host.mount_ns_file, mount_ns_setup_shell(host))


def start_dockerd(host: HostPlan) -> int:
    """Spawn the host's dockerd in the host's network and mount namespaces and a UTS namespace
    named after the host (docs/lab.md: `ip netns exec` cannot run dockerd)."""
    for d in (host.run_dir, host.docker_data_root, host.docker_config_dir):
        d.mkdir(parents=True, exist_ok=True)
    ensure_mount_namespace(host)
    host.docker_pidfile.unlink(missing_ok=True)  # stale: dockerd refuses a pidfile naming a live pid
    _clear_dead_containerd_pidfile(host)
    argv = ["nsenter", f"--net={host.netns_path}", f"--mount={host.mount_ns_file}", "--",
            "unshare", "--uts", "--", "sh", "-c", dockerd_shell(host)]
    return system.spawn_daemon(argv, host.log_file("dockerd"))


def _clear_dead_containerd_pidfile(host: HostPlan) -> None:
    """dockerd re-uses the containerd named in exec-root/containerd/containerd.pid when
    `kill(pid, 0)` succeeds, which it does for a zombie. The containerd of a dockerd that died
    dies with it (parent-death signal) but stays a zombie until PID 1 reaps it (about 2 s here),
    and the new dockerd would wait for it forever. A containerd that is really alive is kept."""
    pidfile = host.docker_exec_root / "containerd" / "containerd.pid"
    try:
        pid = int(pidfile.read_text().strip())
    except (FileNotFoundError, ValueError):
        return
    if system.wait_gone([pid], timeout=5.0) == []:
        pidfile.unlink(missing_ok=True)


def docker_client(host: HostPlan, timeout: float = 30) -> docker.DockerClient:
    return docker.DockerClient(base_url=host.docker_url, version=DOCKER_API_VERSION,
                               timeout=timeout)


@contextmanager
def docker_clients(hosts: Iterable[HostPlan],
                   timeout: float = 300) -> Iterator[dict[str, docker.DockerClient]]:
    """A client per host of `hosts` whose dockerd answers (host name → client), closed
    afterwards; a host whose dockerd is down (powered off) is left out."""
    clients = {h.name: docker_client(h, timeout=timeout) for h in hosts if docker_answers(h)}
    try:
        yield clients
    finally:
        for c in clients.values():
            c.close()


def docker_answers(host: HostPlan) -> bool:
    if not host.docker_socket.exists():
        return False
    client = docker_client(host, timeout=2)
    try:
        return bool(client.ping())
    except (docker.errors.DockerException, requests.exceptions.RequestException, OSError):
        return False
    finally:
        client.close()


def wait_dockerd(host: HostPlan, deadline: float) -> None:
    while not docker_answers(host):
        if time.monotonic() > deadline:
            raise LabError(f"{host.name}: dockerd did not answer on {host.docker_socket}; "
                           f"last lines of {host.log_file('dockerd')}:\n"
                           f"{system.tail(host.log_file('dockerd'))}")
        time.sleep(0.05)


# --- etcd -----------------------------------------------------------------------------------


def etcd_pid(host: HostPlan) -> int | None:
    return system.running_pid(host.etcd_pidfile, "etcd")


def start_etcd(plan: LabPlan, host: HostPlan) -> int:
    host.run_dir.mkdir(parents=True, exist_ok=True)
    host.etcd_data_dir.parent.mkdir(parents=True, exist_ok=True)
    argv = system.in_netns_argv(host.netns_path, etcd_argv(plan, host))
    pid = system.spawn_daemon(argv, host.log_file("etcd"))
    host.etcd_pidfile.write_text(f"{pid}\n")
    return pid


def etcd_health(plan: LabPlan, host: HostPlan) -> str:
    """"healthy" (the member answers and the cluster has quorum), "no quorum", or "down".

    etcd's /health does a quorum read, so a member that answers but has lost its peers reports
    unhealthy; /version tells whether it answers at all.
    """
    try:
        context = system.tls_client_context(etcdctl_files(plan.pki_dir))
        status, body = system.http_get_in_netns(host.netns, "127.0.0.1", ETCD_CLIENT_PORT,
                                                "/health", timeout=2, context=context)
        if status == 200 and json.loads(body).get("health") == "true":
            return "healthy"
        status, _ = system.http_get_in_netns(host.netns, "127.0.0.1", ETCD_CLIENT_PORT,
                                             "/version", timeout=1, context=context)
        return "no quorum" if status == 200 else "down"
    except (OSError, ValueError, http.client.HTTPException):
        return "down"


def wait_etcd(plan: LabPlan, host: HostPlan, deadline: float) -> None:
    while etcd_health(plan, host) != "healthy":
        if time.monotonic() > deadline:
            raise LabError(f"{host.name}: etcd member {host.etcd_name} is not healthy; "
                           f"last lines of {host.log_file('etcd')}:\n"
                           f"{system.tail(host.log_file('etcd'))}")
        time.sleep(0.1)


# --- master and its published port ----------------------------------------------------------

FORWARD_MODULE = "lab.portforward"


def console_script(name: str) -> str:
    """A console script (`orchestrator`, `node-agent`) of the environment the lab runs from."""
    path = Path(sys.executable).parent / name
    if not path.exists():
        raise LabError(f"{path} is missing: run scripts/install-deps")
    return str(path)


def master_pid(host: HostPlan) -> int | None:
    return system.running_pid(host.master_pidfile, "orchestrator")


def start_master(plan: LabPlan, host: HostPlan) -> int:
    argv = system.in_netns_argv(host.netns_path, master_argv(plan, host, console_script("orchestrator")))
    pid = system.spawn_daemon(argv, host.log_file("master"))
    host.master_pidfile.write_text(f"{pid}\n")
    return pid


def forwarder_pid(plan: LabPlan) -> int | None:
    return system.running_pid_with(plan.forward_pidfile, FORWARD_MODULE)


def start_forwarder(plan: LabPlan, port: int) -> int:
    argv = [sys.executable, "-m", FORWARD_MODULE, f"--listen=127.0.0.1:{port}",
            *(f"--netns={h.netns}" for h in plan.master_hosts), f"--target=127.0.0.1:{API_PORT}"]
    pid = system.spawn_daemon(argv, plan.run_dir / "api-forward.log")
    plan.forward_pidfile.write_text(f"{pid}\n")
    return pid


def api_answers(plan: LabPlan, port: int) -> bool:
    """/readyz over TLS through the published port, verifying the lab's CA: the master answers
    and reaches etcd."""
    context = ssl.create_default_context(cafile=str(plan.pki_dir / "ca.crt"))
    return _ready(http.client.HTTPSConnection("127.0.0.1", port, timeout=3, context=context))


def api_answers_in(plan: LabPlan, host: HostPlan) -> bool:
    """/readyz over TLS from inside `host`'s namespace, to that host's own master."""
    context = ssl.create_default_context(cafile=str(plan.pki_dir / "ca.crt"))
    try:
        sock = system.connect_in_netns(host.netns, (host.address, API_PORT), 2.0)
    except OSError:
        return False
    conn = http.client.HTTPSConnection(host.address, API_PORT, timeout=3, context=context)
    try:
        conn.sock = context.wrap_socket(sock, server_hostname=host.address)
    except (OSError, ssl.SSLError):
        sock.close()
        return False
    return _ready(conn)


def _ready(conn: http.client.HTTPSConnection) -> bool:
    """GET /readyz answers 200 (the connection is closed afterwards)."""
    try:
        conn.request("GET", "/readyz")
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException, ssl.SSLError):
        return False
    finally:
        conn.close()


def wait_api(plan: LabPlan, port: int, deadline: float) -> None:
    while not api_answers(plan, port):
        if time.monotonic() > deadline:
            host = plan.master_host
            raise LabError(f"the API did not answer on https://127.0.0.1:{port}; last lines of "
                           f"{host.log_file('master')}:\n{system.tail(host.log_file('master'))}")
        time.sleep(0.1)


# --- node agents ----------------------------------------------------------------------------


def agent_pid(host: HostPlan) -> int | None:
    return system.running_pid(host.agent_pidfile, "node-agent")


def start_agent(plan: LabPlan, host: HostPlan) -> int:
    """The agent runs in the host's network and mount namespaces, beside its dockerd, as
    kubelet on a real host: what it mounts (a memory-backed emptyDir's tmpfs) is what dockerd
    gives the containers."""
    host.agent_root.mkdir(parents=True, exist_ok=True)
    ensure_mount_namespace(host)
    argv = ["nsenter", f"--net={host.netns_path}", f"--mount={host.mount_ns_file}", "--",
            *agent_argv(plan, host, console_script("node-agent"))]
    pid = system.spawn_daemon(argv, host.log_file("agent"))
    host.agent_pidfile.write_text(f"{pid}\n")
    return pid


def api_call(plan: LabPlan, port: int, method: str, path: str,
             body: dict | None = None) -> tuple[int, dict]:
    """One request to the lab's API with the admin token: (status, the JSON answer).
    OSError and http.client.HTTPException where it cannot be reached."""
    context = ssl.create_default_context(cafile=str(plan.pki_dir / "ca.crt"))
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=context)
    token = (plan.pki_dir / "admin.token").read_text().strip()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    try:
        conn.request(method, path, body=json.dumps(body) if body is not None else None,
                     headers=headers)
        response = conn.getresponse()
        raw = response.read()
        try:
            answer = json.loads(raw) if raw else {}
        except ValueError:
            answer = {"message": raw.decode(errors="replace")}
        return response.status, answer
    finally:
        conn.close()


def ready_nodes(plan: LabPlan, port: int) -> set[str]:
    """Names of the Nodes whose Ready condition is True, read through the API (admin token)."""
    try:
        code, answer = api_call(plan, port, "GET", "/api/v1/nodes")
    except (OSError, http.client.HTTPException, ssl.SSLError):
        return set()
    if code != 200:
        return set()
    return {n["metadata"]["name"] for n in answer.get("items") or ()
            if any(c.get("type") == "Ready" and c.get("status") == "True"
                   for c in (n.get("status") or {}).get("conditions") or [])}


def put_object(plan: LabPlan, port: int, collection: str, body: dict) -> None:
    """Create `body` in `collection` (an API path), or replace the one of its name."""
    name = body["metadata"]["name"]
    code, current = api_call(plan, port, "GET", f"{collection}/{name}")
    if code == 404:
        code, answer = api_call(plan, port, "POST", collection, body)
    elif code == 200:
        body = {**body, "metadata": {**body["metadata"], "resourceVersion":
                                     current["metadata"]["resourceVersion"]}}
        code, answer = api_call(plan, port, "PUT", f"{collection}/{name}", body)
    else:
        answer = current
    if code not in (200, 201):
        raise LabError(f"writing {collection}/{name}: {code} {answer.get('message', '')}")


def wait_nodes_ready(plan: LabPlan, hosts: list[HostPlan], port: int, deadline: float) -> None:
    wanted = {h.name for h in hosts}
    while not wanted <= ready_nodes(plan, port):
        if time.monotonic() > deadline:
            missing = sorted(wanted - ready_nodes(plan, port))
            logs = "\n".join(f"{h.name}: {system.tail(h.log_file('agent'), 5)}" for h in hosts
                             if h.name in missing)
            raise LabError(f"nodes not Ready: {', '.join(missing)}; agent logs:\n{logs}")
        time.sleep(0.1)
