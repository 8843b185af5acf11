"""The inventory: what a test suite or a client needs to know about a lab's hosts.

The netns lab writes one (`scripts/lab inventory`); a Vagrant lab writes the same shape with
`kind: "vagrant"`. `load_inventory` is the one reader, used by the integration suite; it rejects
a malformed file with a message naming the field.

    {
      "name": "lab", "kind": "netns",
      "hosts": [{"name": "host1", "address": "192.168.56.11", "pod_cidr": "10.244.1.0/24",
                 "docker": "unix:///run/orch-lab/lab/host1/docker.sock", "netns": "lab-host1"}, …],
      "etcd": {"endpoints": ["https://192.168.56.11:2379", …],
               "cacert": "…/etcd-ca.crt", "cert": "…", "key": "…"},   # etcdctl's, on the hosts
      "network": {"hosts_cidr": "192.168.56.0/24", "pod_cidr": "10.244.0.0/16",
                  "service_cidr": "10.96.0.0/12"},
      "control": ["/path/to/scripts/lab", "--name", "lab"],    # netns kind: fault injection
      "api": "https://127.0.0.1:PORT", "api_in_lab": "https://192.168.56.11:6443",
      "ca_file": "…/pki/ca.crt", "admin_token_file": "…", "readonly_token_file": "…",
      "client": {"name": "client", "address": "192.168.56.1", "netns": "lab-client"}
    }          (each host also has "token_file": its node token, and "python": the interpreter
                that has the project installed on that host)

"client" is a machine of the lab network that is not a node, to reach the cluster from outside
as a user would (node ports, LoadBalancer addresses, Ingress): the netns lab's client namespace,
or, with no "netns", the machine that reads the inventory (the Vagrant lab's workstation).
"""

from __future__ import annotations

import json
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab import registry
from lab.plan import (CLIENT, CLIENT_ADDRESS, LAB_SUBNET, LOAD_BALANCER_POOL, POD_SUPERNET,
                      SERVICE_CIDR, LabPlan, etcdctl_files)

KINDS = ("netns", "vagrant")
ETCD_TLS_KEYS = ("cacert", "cert", "key")


class InventoryError(ValueError):
    """The inventory file is missing, not JSON, or lacks a field; the message names it."""


@dataclass(frozen=True)
class InventoryHost:
    name: str
    address: str
    pod_cidr: str
    docker: str
    netns: str | None = None  # netns kind
    mount_ns: str | None = None  # netns kind: the file holding the host's mount namespace
    ssh: dict[str, Any] | None = None  # vagrant kind
    token_file: str | None = None  # the node's API token
    python: str | None = None  # on the host, an interpreter with the project installed


@dataclass(frozen=True)
class InventoryClient:
    """A machine of the lab network that is no node: in `netns` (netns kind), else here."""
    name: str
    address: str
    netns: str | None = None


@dataclass(frozen=True)
class Inventory:
    name: str
    kind: str
    hosts: tuple[InventoryHost, ...]
    etcd_endpoints: tuple[str, ...]
    # etcdctl's TLS files as paths on the hosts ("cacert", "cert", "key"); empty: plain http
    etcd_tls: dict[str, str] = field(default_factory=dict)
    network: dict[str, str] = field(default_factory=dict)
    control: tuple[str, ...] = ()
    api: str | None = None  # reachable from where the inventory is read
    ca_file: str | None = None
    admin_token_file: str | None = None
    readonly_token_file: str | None = None
    masters: tuple[str, ...] = ()  # the hosts that run a master
    client: InventoryClient | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def host(self, name: str) -> InventoryHost:
        for h in self.hosts:
            if h.name == name:
                return h
        raise KeyError(f"inventory {self.name!r} has no host {name!r}")


def ssh_argv(ssh: dict[str, Any], argv: list[str] | tuple[str, ...]) -> list[str]:
    """`argv` as root on a host reached over ssh (the vagrant kind's "ssh" entry: host, port,
    user, identity_file). Connections are shared (ControlMaster), so a command costs no new
    handshake; the lab's VMs are recreated often, so their host keys are not recorded."""
    return [
        "ssh", "-q", "-p", str(ssh.get("port", 22)),
        *(["-i", ssh["identity_file"]] if ssh.get("identity_file") else []),
        "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
        "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=20",
        "-o", "ControlMaster=auto", "-o", "ControlPath=/tmp/orch-ssh-%C",
        "-o", "ControlPersist=300", "-o", "ServerAliveInterval=5",
        f"{ssh.get('user', 'vagrant')}@{ssh['host']}",
        "sudo", "--", shlex.join(argv),
    ]


def render_inventory(plan: LabPlan, control: list[str], api_port: int | None = None) -> dict[str, Any]:
    data = {
        "name": plan.name,
        "kind": "netns",
        "hosts": [
            {
                "name": h.name,
                "address": h.address,
                "pod_cidr": h.pod_cidr,
                "docker": h.docker_url,
                "netns": h.netns,
                "mount_ns": str(h.mount_ns_file),
                "token_file": str(plan.pki_dir / f"node-{h.name}.token"),
                "python": sys.executable,  # netns hosts share this machine's files
            }
            for h in plan.hosts
        ],
        "etcd": {"endpoints": plan.etcd_endpoints, **etcdctl_files(plan.pki_dir)},
        "network": {
            "hosts_cidr": str(LAB_SUBNET),
            "pod_cidr": str(POD_SUPERNET),
            "service_cidr": str(SERVICE_CIDR),
            "load_balancer_pool": LOAD_BALANCER_POOL,
        },
        "client": {"name": CLIENT, "address": CLIENT_ADDRESS, "netns": plan.client_netns},
        "control": control,
        # the lab's private registry on the lab network (lab/registry.py): images there are
        # <address>/orch/web:1; the pull credentials are the Secret `pull_secret` in default
        "registry": {"address": registry.REGISTRY, "username": registry.USER,
                     "password_file": str(registry.registry_dir(plan) / "password"),
                     "pull_secret": registry.SECRET_NAME},
    }
    if api_port:
        data.update({
            "api": f"https://127.0.0.1:{api_port}",
            "api_in_lab": plan.master_host.api_url,
            "masters": [h.name for h in plan.master_hosts],
            "ca_file": str(plan.pki_dir / "ca.crt"),
            "admin_token_file": str(plan.pki_dir / "admin.token"),
            "readonly_token_file": str(plan.pki_dir / "readonly.token"),
            # kubectl's and the client libraries' configuration for the admin (lab/lifecycle.py
            # writes it when it writes this inventory)
            "kubeconfig": str(plan.inventory_file.with_name("kubeconfig")),
        })
    return data


def _require(obj: dict[str, Any], key: str, where: str, kind: type) -> Any:
    if key not in obj:
        raise InventoryError(f"{where}.{key} is missing")
    value = obj[key]
    if not isinstance(value, kind):
        raise InventoryError(f"{where}.{key} must be a {kind.__name__}, not {type(value).__name__}")
    return value


def parse_inventory(data: Any) -> Inventory:
    if not isinstance(data, dict):
        raise InventoryError("the inventory must be a JSON object")
    kind = _require(data, "kind", "inventory", str)
    if kind not in KINDS:
        raise InventoryError(f"inventory.kind {kind!r} is not one of {', '.join(KINDS)}")
    hosts = []
    for i, h in enumerate(_require(data, "hosts", "inventory", list)):
        where = f"inventory.hosts[{i}]"
        if not isinstance(h, dict):
            raise InventoryError(f"{where} must be an object")
        hosts.append(InventoryHost(
            name=_require(h, "name", where, str),
            address=_require(h, "address", where, str),
            pod_cidr=_require(h, "pod_cidr", where, str),
            docker=_require(h, "docker", where, str),
            netns=_require(h, "netns", where, str) if kind == "netns" else h.get("netns"),
            mount_ns=h.get("mount_ns"),
            ssh=h.get("ssh"),
            token_file=h.get("token_file"),
            python=h.get("python"),
        ))
    if not hosts:
        raise InventoryError("inventory.hosts is empty")
    etcd = _require(data, "etcd", "inventory", dict)
    client = None
    if "client" in data:
        c = _require(data, "client", "inventory", dict)
        client = InventoryClient(_require(c, "name", "inventory.client", str),
                                 _require(c, "address", "inventory.client", str),
                                 c.get("netns"))
    return Inventory(
        name=_require(data, "name", "inventory", str),
        kind=kind,
        hosts=tuple(hosts),
        etcd_endpoints=tuple(_require(etcd, "endpoints", "inventory.etcd", list)),
        etcd_tls={k: _require(etcd, k, "inventory.etcd", str) for k in ETCD_TLS_KEYS}
        if any(k in etcd for k in ETCD_TLS_KEYS) else {},
        network=dict(data.get("network", {})),
        control=tuple(data.get("control", ())),
        api=data.get("api"),
        ca_file=data.get("ca_file"),
        admin_token_file=data.get("admin_token_file"),
        readonly_token_file=data.get("readonly_token_file"),
        masters=tuple(data.get("masters") or ()),
        client=client,
        raw=data,
    )


def load_inventory(path: Path) -> Inventory:
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise InventoryError(f"cannot read inventory {path}: {e.strerror}") from e
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise InventoryError(f"{path} is not JSON: {e}") from e
    return parse_inventory(data)
