"""A real host's part of a cluster: systemd units and daemon configuration from a cluster spec.

`scripts/provision-host` (on any Debian 12 machine: a Vagrant VM, a bare host) installs the
packages and the project, then runs `python -m lab.provision apply`, which writes what this
host runs and (re)starts it:

    orch-etcd.service     this host's etcd member (one cluster of every host), mutual TLS
                          with clients and peers (etcd's own CA), data in /var/lib/etcd/orch
    docker.service        Debian's unit, with the pod bridge (--bip = the host's pod CIDR's
                          first address), no masquerading of pod traffic, and a second listener
                          on :2376 that only clients with a certificate from the cluster CA reach
    orch-master.service   on the spec's masters: the API server, scheduler and controllers
    orch-agent.service    the node agent; its proxy mode in /etc/orch/agent.env (PROXY_MODE)
    /etc/profile.d/orch-etcdctl.sh   etcdctl pointed at this host's member (root's login shells)

The spec (cluster.json, written by `scripts/vagrant-lab prepare` or by hand):

    {"name": "vagrant", "masters": ["node1"], "proxy_mode": "iptables", "master_args": [], "etcd_args": [],
     "hosts": [{"name": "node1", "address": "192.168.56.11", "pod_cidr": "10.244.1.0/24"}, …]}

Rendering is pure (`render_host`); `apply` and `status` are the I/O.
"""

from __future__ import annotations

import argparse
import http.client
import ipaddress
import json
import os
import shutil
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab.plan import (API_PORT, ETCD_CLIENT_PORT, ETCD_COMMON_FLAGS, ETCD_LOCAL_CLIENT_URL,
                      SERVICE_CIDR, ClusterEndpoints, agent_command, etcd_tls_flags, etcdctl_files,
                      master_command)
from lab.system import tls_client_context

PROXY_MODES = ("iptables", "ipvs")
DOCKER_TLS_PORT = 2376
ETC = Path("/etc/orch")
PKI = ETC / "pki"
VENV = Path("/opt/orch/venv")
SRC = Path("/opt/orch/src")
ETCD_DATA = Path("/var/lib/etcd/orch")
AGENT_ROOT = Path("/var/lib/orch-agent")


class SpecError(ValueError):
    """The cluster spec is malformed; the message names the field."""


@dataclass(frozen=True)
class SpecHost(ClusterEndpoints):
    name: str
    address: str
    pod_cidr: str

    @property
    def pod_gateway_cidr(self) -> str:
        net = ipaddress.ip_network(self.pod_cidr)
        return f"{net.network_address + 1}/{net.prefixlen}"


@dataclass(frozen=True)
class ClusterSpec:
    name: str
    hosts: tuple[SpecHost, ...]
    masters: tuple[str, ...]
    proxy_mode: str = "iptables"
    master_args: tuple[str, ...] = ()  # extra flags for every master (timings, …)
    etcd_args: tuple[str, ...] = ()  # extra flags for every etcd member (timings, …)

    def host(self, name: str) -> SpecHost:
        for h in self.hosts:
            if h.name == name:
                return h
        raise SpecError(f"the cluster spec has no host {name!r} "
                        f"(hosts: {', '.join(h.name for h in self.hosts)})")

    @property
    def master_hosts(self) -> list[SpecHost]:
        return [self.host(m) for m in self.masters]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "masters": list(self.masters), "proxy_mode": self.proxy_mode,
                "master_args": list(self.master_args), "etcd_args": list(self.etcd_args),
                "hosts": [{"name": h.name, "address": h.address, "pod_cidr": h.pod_cidr}
                          for h in self.hosts]}


def parse_spec(data: Any) -> ClusterSpec:
    def need(obj: dict, key: str, where: str, kind: type) -> Any:
        if not isinstance(obj, dict) or key not in obj:
            raise SpecError(f"{where}.{key} is missing")
        if not isinstance(obj[key], kind):
            raise SpecError(f"{where}.{key} must be a {kind.__name__}")
        return obj[key]

    hosts = []
    for i, h in enumerate(need(data, "hosts", "spec", list)):
        where = f"spec.hosts[{i}]"
        host = SpecHost(need(h, "name", where, str), need(h, "address", where, str),
                        need(h, "pod_cidr", where, str))
        try:
            ipaddress.ip_address(host.address)
            ipaddress.ip_network(host.pod_cidr)
        except ValueError as e:
            raise SpecError(f"{where}: {e}") from e
        hosts.append(host)
    if not hosts:
        raise SpecError("spec.hosts is empty")
    spec = ClusterSpec(name=need(data, "name", "spec", str), hosts=tuple(hosts),
                       masters=tuple(need(data, "masters", "spec", list)),
                       proxy_mode=data.get("proxy_mode", "iptables"),
                       master_args=tuple(data.get("master_args") or ()),
                       etcd_args=tuple(data.get("etcd_args") or ()))
    for field in ("master_args", "etcd_args"):
        if not all(isinstance(a, str) and a.startswith("--") for a in getattr(spec, field)):
            raise SpecError(f"spec.{field} must be a list of --flag=value strings")
    if not spec.masters:
        raise SpecError("spec.masters is empty")
    for m in spec.masters:
        spec.host(m)
    if spec.proxy_mode not in PROXY_MODES:
        raise SpecError(f"spec.proxy_mode {spec.proxy_mode!r} is not one of "
                        f"{', '.join(PROXY_MODES)}")
    return spec


# --- rendering (pure) -----------------------------------------------------------------------


def unit(description: str, exec_start: list[str], *, after: str = "network-online.target",
         wants: str = "network-online.target", user: str | None = None,
         environment_file: str | None = None, exec_start_pre: list[str] = ()) -> str:
    service = [*(f"ExecStartPre={c}" for c in exec_start_pre),
               f"ExecStart={' '.join(exec_start)}", "Restart=always", "RestartSec=2",
               "LimitNOFILE=65536"]
    if user:
        service.insert(0, f"User={user}")
    if environment_file:
        service.insert(0, f"EnvironmentFile={environment_file}")
    return "\n".join([
        "# Written by lab.provision (scripts/provision-host); changes are overwritten.",
        "[Unit]", f"Description={description}", f"After={after}", f"Wants={wants}", "",
        "[Service]", *service, "",
        "[Install]", "WantedBy=multi-user.target", ""])


def etcd_argv(spec: ClusterSpec, host: SpecHost) -> list[str]:
    """The initial-cluster flags matter only on the member's first start."""
    return [
        "/usr/bin/etcd", f"--name={host.name}", f"--data-dir={ETCD_DATA}",
        f"--listen-client-urls={host.etcd_client_url},{ETCD_LOCAL_CLIENT_URL}",
        f"--advertise-client-urls={host.etcd_client_url}",
        f"--listen-peer-urls={host.etcd_peer_url}",
        f"--initial-advertise-peer-urls={host.etcd_peer_url}",
        "--initial-cluster=" + ",".join(f"{h.name}={h.etcd_peer_url}" for h in spec.hosts),
        f"--initial-cluster-token=orch-{spec.name}", "--initial-cluster-state=new",
        *ETCD_COMMON_FLAGS, *etcd_tls_flags(PKI, host.name), *spec.etcd_args,
    ]


def docker_daemon_json(host: SpecHost) -> dict[str, Any]:
    """--ip-masq=false keeps the client's pod IP across hosts; no userland proxy (hairpin)."""
    return {
        "bip": host.pod_gateway_cidr, "ip-masq": False, "userland-proxy": False,
        "iptables": True, "storage-driver": "overlay2", "log-level": "warn",
        "tlsverify": True, "tlscacert": str(PKI / "ca.crt"),
        "tlscert": str(PKI / f"docker-{host.name}.crt"),
        "tlskey": str(PKI / f"docker-{host.name}.key"),
    }


DOCKER_DROP_IN = (
    "# Written by lab.provision: docker's socket plus a TLS listener (client certificates from\n"
    "# the cluster CA only) for the workstation and the integration suite.\n"
    "[Service]\nExecStart=\n"
    f"ExecStart=/usr/sbin/dockerd -H fd:// -H tcp://0.0.0.0:{DOCKER_TLS_PORT} "
    "--containerd=/run/containerd/containerd.sock\n")


def pki_files(spec: ClusterSpec, host: SpecHost) -> list[str]:
    """The credentials this host needs, and nothing more (no CA key, no admin token)."""
    files = ["ca.crt", f"node-{host.name}.token", f"node-{host.name}-serving.crt",
             f"node-{host.name}-serving.key", f"docker-{host.name}.crt",
             f"docker-{host.name}.key", "etcd-ca.crt", f"etcd-member-{host.name}.crt",
             f"etcd-member-{host.name}.key", "etcdctl-client.crt", "etcdctl-client.key"]
    if host.name in spec.masters:
        files += ["apiserver.crt", "apiserver.key", "tokens.json",
                  "apiserver-agent-client.crt", "apiserver-agent-client.key",
                  "apiserver-etcd-client.crt", "apiserver-etcd-client.key"]
    return files


def render_host(spec: ClusterSpec, host: SpecHost, cluster_iface: str = "") -> dict[Path, str]:
    """Every file this host's roles need (path → content), the PKI aside. `cluster_iface` (the
    interface holding the host's address) gets a route to the service CIDR: the host's own
    connections to a cluster IP need a route before iptables can rewrite them, and a lab VM on
    isolated networks has no default route."""
    own = host.etcd_client_url
    etcd_servers = [own, *(h.etcd_client_url for h in spec.hosts if h is not host)]
    files = {
        Path("/etc/systemd/system/orch-etcd.service"): unit(
            f"etcd member {host.name} of the orchestrator's cluster {spec.name}",
            etcd_argv(spec, host), user="etcd"),
        Path("/etc/docker/daemon.json"): json.dumps(docker_daemon_json(host), indent=2) + "\n",
        Path("/etc/systemd/system/docker.service.d/orch.conf"): DOCKER_DROP_IN,
        ETC / "agent.env": f"PROXY_MODE={spec.proxy_mode}\n",
        Path("/etc/systemd/system/orch-agent.service"): unit(
            f"orchestrator node agent of {host.name}",
            agent_command(str(VENV / "bin" / "node-agent"),
                          api_urls=",".join(h.api_url for h in spec.master_hosts),
                          pki_dir=PKI, node=host.name, address=host.address,
                          pod_cidr=host.pod_cidr, docker_url="unix:///run/docker.sock",
                          root_dir=AGENT_ROOT) + ["--proxy-mode=${PROXY_MODE}"],
            after="docker.service orch-etcd.service", wants="docker.service",
            environment_file=str(ETC / "agent.env"),
            exec_start_pre=[f"-/sbin/ip route replace {SERVICE_CIDR} dev {cluster_iface}"]
            if cluster_iface else []),
        Path("/etc/profile.d/orch-etcdctl.sh"): "".join(
            f"export ETCDCTL_{k.upper()}={v}\n" for k, v in
            {"api": "3", "endpoints": ETCD_LOCAL_CLIENT_URL, **etcdctl_files(PKI)}.items()),
        ETC / "cluster.json": json.dumps(spec.to_json(), indent=2) + "\n",
        ETC / "host": host.name + "\n",
    }
    if host.name in spec.masters:
        files[Path("/etc/systemd/system/orch-master.service")] = unit(
            f"orchestrator master (API server, scheduler, controllers) on {host.name}",
            [*master_command(str(VENV / "bin" / "orchestrator"), etcd_servers, PKI),
             f"--advertise-address={host.address}", *spec.master_args],
            after="orch-etcd.service network-online.target")
    return files


# --- applying (I/O) -------------------------------------------------------------------------


def write_if_changed(path: Path, content: str, mode: int = 0o644) -> bool:
    if path.exists() and path.read_text() == content:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(content)
    tmp.chmod(mode)
    tmp.rename(path)
    return True


def systemctl(*args: str) -> None:
    subprocess.run(["systemctl", *args], check=True)


def log(message: str) -> None:
    print(f"provision: {message}", flush=True)


def apply(spec: ClusterSpec, host_name: str, pki_source: Path) -> None:
    host = spec.host(host_name)
    PKI.mkdir(parents=True, exist_ok=True)
    for name in pki_files(spec, host):
        source = pki_source / name
        if not source.exists():
            raise SpecError(f"{source} is missing from the bundle's credentials")
        write_if_changed(PKI / name, source.read_text(), 0o600 if not name.endswith(".crt")
                         else 0o644)
    # etcd runs as its own user: it reads its member key through its group.
    member_key = PKI / f"etcd-member-{host.name}.key"
    shutil.chown(member_key, "root", "etcd")
    member_key.chmod(0o640)
    changed = {path: write_if_changed(path, content) for path, content in
               render_host(spec, host, interface_of(host.address)).items()}
    stale_master = Path("/etc/systemd/system/orch-master.service")
    if host.name not in spec.masters and stale_master.exists():
        subprocess.run(["systemctl", "disable", "--now", "orch-master"], check=False)
        stale_master.unlink()
    systemctl("daemon-reload")

    # Debian's etcd.service (a single default member on localhost) would hold :2379.
    subprocess.run(["systemctl", "disable", "--now", "etcd.service"], check=False,
                   capture_output=True)
    ETCD_DATA.parent.mkdir(parents=True, exist_ok=True)
    shutil.chown(ETCD_DATA.parent, "etcd", "etcd")
    docker_changed = any(changed[p] for p in (Path("/etc/docker/daemon.json"),
                                              Path("/etc/systemd/system/docker.service.d/orch.conf")))
    if docker_changed:
        log("restarting docker with the pod bridge and the TLS listener")
        systemctl("restart", "docker")
    build_images()
    units = ["orch-etcd", *(["orch-master"] if host.name in spec.masters else []), "orch-agent"]
    systemctl("enable", "--quiet", *units)
    for u in units:
        # The master and the agent restart every time: the project may have changed (an agent
        # restart leaves the pods alone). etcd restarts only when its unit changed.
        # --no-block: the first members wait for the others; each keeps retrying on its own.
        path = Path(f"/etc/systemd/system/{u}.service")
        verb = "restart" if changed.get(path) or u != "orch-etcd" else "start"
        systemctl(verb, "--no-block", u)
    log(f"{host.name}: {', '.join(units)} started")


def build_images() -> None:
    """The project's images, built on this host's dockerd from its busybox-static (never
    pulled)."""
    import docker

    from lab import images
    os.environ.setdefault("ORCH_IMAGES_DIR", str(SRC / "images"))
    deadline = time.monotonic() + 120
    client = docker.DockerClient(base_url="unix:///run/docker.sock", version="1.41", timeout=300)
    while True:
        try:
            client.ping()
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)
    # base=False: a VM reaches no Debian mirror (its networks lead nowhere but the lab).
    images.ensure_images({"local": client}, log, base=False)
    client.close()


PARTITION_CHAIN = "ORCH-LAB-PARTITION"


def partition(address: str) -> None:
    """Drop every packet to and from the cluster network on the interface holding `address`,
    but ssh (the workstation's way in, which heals the partition)."""
    iface = interface_of(address)
    heal()
    for table_args in (["-N", PARTITION_CHAIN],
                       ["-A", PARTITION_CHAIN, "-p", "tcp", "--dport", "22", "-j", "RETURN"],
                       ["-A", PARTITION_CHAIN, "-p", "tcp", "--sport", "22", "-j", "RETURN"],
                       ["-A", PARTITION_CHAIN, "-j", "DROP"],
                       ["-I", "INPUT", "-i", iface, "-j", PARTITION_CHAIN],
                       ["-I", "OUTPUT", "-o", iface, "-j", PARTITION_CHAIN],
                       ["-I", "FORWARD", "-o", iface, "-j", PARTITION_CHAIN]):
        subprocess.run(["iptables", "-w", *table_args], check=True)


def heal() -> None:
    saved = subprocess.run(["iptables-save", "-t", "filter"], capture_output=True, text=True,
                           check=True).stdout
    for line in saved.splitlines():
        if line.startswith("-A ") and f"-j {PARTITION_CHAIN}" in line:
            subprocess.run(["iptables", "-w", "-D", *line.split()[1:]], check=True)
    if f":{PARTITION_CHAIN}" in saved:
        subprocess.run(["iptables", "-w", "-F", PARTITION_CHAIN], check=True)
        subprocess.run(["iptables", "-w", "-X", PARTITION_CHAIN], check=True)


def partitioned() -> bool:
    return subprocess.run(["iptables", "-w", "-S", PARTITION_CHAIN], capture_output=True
                          ).returncode == 0


def interface_of(address: str) -> str:
    out = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True,
                         check=True).stdout
    for line in out.split("\n"):
        fields = line.split()
        if len(fields) > 3 and fields[3].split("/")[0] == address:
            return fields[1]
    raise SpecError(f"no interface holds {address}")


def set_proxy_mode(mode: str) -> None:
    """Restart the agent in `mode`, removing the other backend's rules first (the agent's
    `cleanup` removes every rule and virtual server it made)."""
    if mode not in PROXY_MODES:
        raise SpecError(f"proxy mode {mode!r} is not one of {', '.join(PROXY_MODES)}")
    systemctl("stop", "orch-agent")
    subprocess.run([str(VENV / "bin" / "node-agent"), "cleanup"], check=True,
                   capture_output=True)
    write_if_changed(ETC / "agent.env", f"PROXY_MODE={mode}\n")
    systemctl("start", "orch-agent")


# --- status (I/O) ---------------------------------------------------------------------------


def _get(url_host: str, port: int, path: str, context: ssl.SSLContext | None = None
         ) -> tuple[int, bytes]:
    conn = (http.client.HTTPSConnection(url_host, port, timeout=3, context=context) if context
            else http.client.HTTPConnection(url_host, port, timeout=3))
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def host_status(spec: ClusterSpec, host: SpecHost) -> dict[str, str]:
    """This host's daemons, as the netns lab's `status` words them."""
    def active(u: str) -> bool:
        return subprocess.run(["systemctl", "is-active", "--quiet", u]).returncode == 0

    try:
        status, body = _get("127.0.0.1", ETCD_CLIENT_PORT, "/health",
                            tls_client_context(etcdctl_files(PKI)))
        etcd = "healthy" if status == 200 and json.loads(body).get("health") == "true" \
            else "no quorum"
    except (OSError, ValueError, http.client.HTTPException):
        etcd = "down"
    master = "-"
    if host.name in spec.masters:
        try:
            context = ssl.create_default_context(cafile=str(PKI / "ca.crt"))
            master = "answers" if _get(host.address, API_PORT, "/readyz", context)[0] == 200 \
                else "down"
        except (OSError, ssl.SSLError, http.client.HTTPException):
            master = "down"
    return {"network": "partitioned" if partitioned() else "attached",
            "etcd": etcd, "dockerd": "answers" if active("docker") else "down",
            "master": master, "agent": "running" if active("orch-agent") else "down"}


def load_spec(path: Path) -> ClusterSpec:
    try:
        return parse_spec(json.loads(Path(path).read_text()))
    except (OSError, ValueError) as e:
        raise SpecError(f"{path}: {e}") from e


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.provision", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p_apply = sub.add_parser("apply", help="write this host's units and configuration, start them")
    p_apply.add_argument("--spec", type=Path, required=True)
    p_apply.add_argument("--host", required=True)
    p_apply.add_argument("--pki", type=Path, required=True, help="the cluster's credentials")
    sub.add_parser("status", help="this host's daemons, as JSON")
    p_part = sub.add_parser("partition", help="cut this host off the cluster network")
    p_part.add_argument("address", help="this host's address on the cluster network")
    sub.add_parser("heal", help="undo `partition`")
    p_mode = sub.add_parser("proxy-mode", help="restart the agent in another proxy mode")
    p_mode.add_argument("mode", choices=PROXY_MODES)
    args = parser.parse_args(argv)
    try:
        if args.command == "apply":
            apply(load_spec(args.spec), args.host, args.pki)
        elif args.command == "status":
            spec = load_spec(ETC / "cluster.json")
            print(json.dumps(host_status(spec, spec.host((ETC / "host").read_text().strip()))))
        elif args.command == "partition":
            partition(args.address)
        elif args.command == "heal":
            heal()
        else:
            set_proxy_mode(args.mode)
    except (SpecError, subprocess.CalledProcessError) as e:
        print(f"provision: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
