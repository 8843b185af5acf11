"""The address and path plan of a netns lab: a pure function of the lab's name and host count.

Everything `scripts/lab` creates is named from this plan, so `up`, `down`, `kill`, … of the
same lab always agree on what exists, and two labs with different names never share a
namespace, a cgroup, a socket or a directory. Nothing here touches the system.

Host i (1-based) of lab NAME:
    network namespace   NAME-host{i}            (the switch is NAME-sw, bridge br0)
    address             192.168.56.{10+i}/24    on eth0, veth peer h{i} on the switch
    pod subnet          10.244.{i}.0/24         docker0 is the pod bridge (--bip 10.244.i.1/24)
    dockerd socket      /run/orch-lab/NAME/host{i}/docker.sock
    etcd member         h{i}, client :2379 and peer :2380 on the host address and loopback,
                        mutual TLS with clients and peers (etcd's own CA, orchestrator.pki)
    cgroup parent       /orch-lab-NAME-host{i}

Beside the hosts, on the same switch:
    the registry        192.168.56.2:5000       in the switch namespace (lab/registry.py)
    the client          192.168.56.1/24         namespace NAME-client: a machine of the LAN
                        that is not a node (no agent, no etcd, no dockerd, no route to pod or
                        service addresses), as the workstation is on a Vagrant host-only network
    LoadBalancer pool   192.168.56.200-192.168.56.250, the addresses LoadBalancer Services get
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path

RUN_ROOT = Path("/run/orch-lab")
DATA_ROOT = Path("/var/lib/orch-lab")

LAB_SUBNET = ipaddress.IPv4Network("192.168.56.0/24")
POD_SUPERNET = ipaddress.IPv4Network("10.244.0.0/16")
SERVICE_CIDR = ipaddress.IPv4Network("10.96.0.0/12")
HOST_ADDRESS_OFFSET = 10  # host i is 192.168.56.(10+i), as in the Vagrant lab
CLIENT = "client"  # the client machine's name (`scripts/lab exec client`, the inventory)
CLIENT_ADDRESS = str(LAB_SUBNET.network_address + 1)
CLIENT_IFNAME = "eth0"
CLIENT_SWITCH_PORT = "client"
# The addresses LoadBalancer Services are given (the master's --load-balancer-pool), on the lab
# network so that any machine of the LAN reaches them once a node announces them.
LOAD_BALANCER_POOL = (f"{LAB_SUBNET.network_address + 200}-{LAB_SUBNET.network_address + 250}")
ETCD_CLIENT_PORT = 2379
ETCD_PEER_PORT = 2380
API_PORT = 6443  # the master's port inside the lab; published on a loopback port of the machine

MAX_HOSTS = 9
# The name ends up in netns names, cgroup names and socket paths (unix sockets are limited to
# 108 bytes), so it is kept short and shell-safe.
NAME_RE = re.compile(r"^[a-z][a-z0-9]{0,11}$")
NAME_RULE = "1-12 characters, lowercase letters and digits, starting with a letter"


class PlanError(ValueError):
    """A lab name or host count that cannot be planned; the message names the bad value."""


class ClusterEndpoints:
    """The URLs a cluster host serves on its `address`, the same in every lab (netns or VMs)."""

    address: str

    @property
    def etcd_client_url(self) -> str:
        return f"https://{self.address}:{ETCD_CLIENT_PORT}"

    @property
    def etcd_peer_url(self) -> str:
        return f"https://{self.address}:{ETCD_PEER_PORT}"

    @property
    def api_url(self) -> str:
        """The API as seen from the cluster's hosts and pods."""
        return f"https://{self.address}:{API_PORT}"


@dataclass(frozen=True)
class HostPlan(ClusterEndpoints):
    lab: str
    index: int
    run_dir: Path
    data_dir: Path

    @property
    def name(self) -> str:
        return f"host{self.index}"

    @property
    def netns(self) -> str:
        return f"{self.lab}-{self.name}"

    @property
    def netns_path(self) -> Path:
        return Path("/run/netns") / self.netns

    @property
    def address(self) -> str:
        return str(LAB_SUBNET.network_address + HOST_ADDRESS_OFFSET + self.index)

    @property
    def address_cidr(self) -> str:
        return f"{self.address}/{LAB_SUBNET.prefixlen}"

    @property
    def switch_port(self) -> str:
        """The veth end in the switch namespace, enslaved to br0."""
        return f"h{self.index}"

    @property
    def pod_cidr(self) -> str:
        return f"10.244.{self.index}.0/24"

    @property
    def pod_gateway_cidr(self) -> str:
        return f"10.244.{self.index}.1/24"

    @property
    def cgroup_parent(self) -> str:
        return f"orch-lab-{self.lab}-{self.name}"

    # dockerd
    @property
    def docker_socket(self) -> Path:
        return self.run_dir / "docker.sock"

    @property
    def docker_url(self) -> str:
        return f"unix://{self.docker_socket}"

    @property
    def docker_pidfile(self) -> Path:
        return self.run_dir / "dockerd.pid"

    @property
    def docker_exec_root(self) -> Path:
        return self.run_dir / "docker"

    @property
    def mount_ns_file(self) -> Path:
        """The host's persistent mount namespace (its private /run/docker, /run/containerd and
        /etc/docker), bind-mounted here like `ip netns` keeps network namespaces. It outlives
        daemon restarts, so a restarted dockerd finds the shims of running containers, and is
        dropped when the host's power is pulled."""
        return self.run_dir.parent / "ns" / f"{self.name}.mnt"

    @property
    def volatile_dirs(self) -> tuple[Path, ...]:
        """What a real host keeps on tmpfs (/run) and so loses with its power: docker's and
        containerd's runtime state. Left behind, it makes the restarted containerd wait for
        shims that died with the host."""
        return (self.docker_exec_root,)

    @property
    def docker_data_root(self) -> Path:
        """Bind-mounted over /var/lib/docker in the host's mount namespace, where its dockerd
        finds it: containers' log files are then where they are on any Docker host, for the
        log collectors that follow /var/log/containers' links."""
        return self.data_dir / "docker"

    @property
    def pod_log_dir(self) -> Path:
        """Bind-mounted over /var/log/pods and /var/log/containers (its pods/ and containers/)
        in the host's mount namespace, where the agent links the containers' logs."""
        return self.data_dir / "log"

    @property
    def docker_config_dir(self) -> Path:
        """Bind-mounted over /etc/docker for this dockerd only (else all share one engine ID)."""
        return self.data_dir / "etc-docker"

    # etcd
    @property
    def etcd_name(self) -> str:
        return f"h{self.index}"

    @property
    def etcd_pidfile(self) -> Path:
        return self.run_dir / "etcd.pid"

    @property
    def etcd_data_dir(self) -> Path:
        return self.data_dir / "etcd"

    def log_file(self, daemon: str) -> Path:
        return self.run_dir / f"{daemon}.log"

    # master (runs on the lab's first host)
    @property
    def master_pidfile(self) -> Path:
        return self.run_dir / "master.pid"

    @property
    def agent_pidfile(self) -> Path:
        return self.run_dir / "agent.pid"

    @property
    def agent_root(self) -> Path:
        return self.data_dir / "agent"

    @property
    def local_path_dir(self) -> Path:
        """Where the local-path provisioner makes this host's volumes."""
        return self.data_dir / "local-path"


@dataclass(frozen=True)
class LabPlan:
    name: str
    hosts: tuple[HostPlan, ...]
    run_dir: Path
    data_dir: Path
    masters: int = 1  # the first `masters` hosts run a master (they elect a leader)

    @property
    def master_hosts(self) -> tuple[HostPlan, ...]:
        return self.hosts[:self.masters]

    @property
    def api_urls(self) -> str:
        """Every master's API as seen from inside the lab, comma-separated (clients fail over)."""
        return ",".join(h.api_url for h in self.master_hosts)

    @property
    def switch_netns(self) -> str:
        return f"{self.name}-sw"

    @property
    def client_netns(self) -> str:
        return f"{self.name}-client"

    @property
    def netns_names(self) -> tuple[str, ...]:
        return (self.switch_netns, self.client_netns, *(h.netns for h in self.hosts))

    @property
    def state_file(self) -> Path:
        return self.run_dir / "state.json"

    @property
    def inventory_file(self) -> Path:
        return self.run_dir / "inventory.json"

    @property
    def master_host(self) -> HostPlan:
        return self.hosts[0]

    @property
    def pki_dir(self) -> Path:
        return self.data_dir / "pki"

    @property
    def forward_pidfile(self) -> Path:
        return self.run_dir / "api-forward.pid"

    @property
    def etcd_initial_cluster(self) -> str:
        return ",".join(f"{h.etcd_name}={h.etcd_peer_url}" for h in self.hosts)

    @property
    def etcd_endpoints(self) -> list[str]:
        return [h.etcd_client_url for h in self.hosts]

    def host(self, name: str) -> HostPlan:
        for h in self.hosts:
            if name in (h.name, h.netns, h.address):
                return h
        known = ", ".join(h.name for h in self.hosts)
        raise PlanError(f"lab {self.name!r} has no host {name!r} (hosts: {known})")


def make_plan(
    name: str, n_hosts: int, run_root: Path = RUN_ROOT, data_root: Path = DATA_ROOT,
    masters: int = 1,
) -> LabPlan:
    if not NAME_RE.match(name):
        raise PlanError(f"lab name {name!r} is invalid: {NAME_RULE}")
    if not 1 <= n_hosts <= MAX_HOSTS:
        raise PlanError(f"--hosts {n_hosts} is out of range: a lab has 1 to {MAX_HOSTS} hosts")
    if not 1 <= masters <= n_hosts:
        raise PlanError(f"--masters {masters} is out of range: 1 to the number of hosts "
                        f"({n_hosts})")
    run_dir, data_dir = run_root / name, data_root / name
    hosts = tuple(
        HostPlan(lab=name, index=i, run_dir=run_dir / f"host{i}", data_dir=data_dir / f"host{i}")
        for i in range(1, n_hosts + 1)
    )
    return LabPlan(name=name, hosts=hosts, run_dir=run_dir, data_dir=data_dir, masters=masters)


def host_routes(plan: LabPlan, host: HostPlan) -> list[tuple[str, str]]:
    """(destination, gateway) routes a host needs: every other host's pod subnet (host-gw)."""
    return [(other.pod_cidr, other.address) for other in plan.hosts if other is not host]


def dockerd_argv(host: HostPlan) -> list[str]:
    """dockerd's command line for one lab host (docs/lab.md, "What the machines taught us").

    --ip-masq=false: pod-to-pod traffic across hosts must keep the client's pod IP.
    --userland-proxy=false: docker then sets hairpin mode, needed when a pod calls its own Service.
    """
    return [
        "dockerd",
        f"--host={host.docker_url}",
        "--data-root=/var/lib/docker",  # the host's own (mount_ns_setup_shell)
        f"--exec-root={host.docker_exec_root}",
        f"--pidfile={host.docker_pidfile}",
        f"--bip={host.pod_gateway_cidr}",
        "--ip-masq=false",
        "--userland-proxy=false",
        f"--cgroup-parent=/{host.cgroup_parent}",
        "--storage-driver=overlay2",
        "--log-level=warn",
    ]


def mount_ns_setup_shell(host: HostPlan) -> str:
    """Run once in a host's new mount namespace: containerd and its shims hard-code
    /run/containerd and docker hard-codes /run/docker, so each host gets private tmpfs copies;
    /etc/docker holds the engine ID, so each host gets its own directory there; /var/lib/docker
    and the pod log directories are the host's own, as on a real host."""
    logs = host.pod_log_dir
    return (
        "set -e; "
        "mkdir -p /run/docker /run/containerd /etc/docker /var/lib/docker /var/log/pods "
        f"/var/log/containers {logs}/pods {logs}/containers {host.docker_data_root}; "
        "mount -t tmpfs tmpfs /run/docker; "
        "mount -t tmpfs tmpfs /run/containerd; "
        f"mount --bind {host.docker_config_dir} /etc/docker; "
        f"mount --bind {host.docker_data_root} /var/lib/docker; "
        f"mount --bind {logs}/pods /var/log/pods; "
        f"mount --bind {logs}/containers /var/log/containers"
    )


def dockerd_shell(host: HostPlan) -> str:
    """Run (as `sh -c`) in the host's mount namespace and a fresh UTS namespace."""
    return f"hostname {host.name} && exec {' '.join(dockerd_argv(host))}"


# Flags every member gets, in every lab. Progress notifications every 5 s let the API server tell
# an idle watch from a silent one (orchestrator.store.etcd: a watch that hears nothing for
# WATCH_SILENCE_LIMIT is restarted, on another member if its member is gone).
ETCD_COMMON_FLAGS = ("--logger=zap", "--log-level=warn",
                     "--experimental-watch-progress-notify-interval=5s")


ETCD_LOCAL_CLIENT_URL = f"https://127.0.0.1:{ETCD_CLIENT_PORT}"


def etcd_tls_flags(pki_dir: Path, host_name: str) -> list[str]:
    """Mutual TLS for an etcd member, towards clients and peers alike: it serves with its own
    certificate (`init_etcd_pki`'s etcd-member-HOST) and admits only certificates etcd's CA
    signed (kubeadm's flags)."""
    cert, key = pki_dir / f"etcd-member-{host_name}.crt", pki_dir / f"etcd-member-{host_name}.key"
    ca = pki_dir / "etcd-ca.crt"
    return [f"--cert-file={cert}", f"--key-file={key}", f"--trusted-ca-file={ca}",
            "--client-cert-auth", f"--peer-cert-file={cert}", f"--peer-key-file={key}",
            f"--peer-trusted-ca-file={ca}", "--peer-client-cert-auth"]


def etcdctl_files(pki_dir: Path) -> dict[str, str]:
    """etcdctl's CA, client certificate and key, as etcdctl's --cacert/--cert/--key."""
    return {"cacert": str(pki_dir / "etcd-ca.crt"), "cert": str(pki_dir / "etcdctl-client.crt"),
            "key": str(pki_dir / "etcdctl-client.key")}


def etcd_argv(plan: LabPlan, host: HostPlan) -> list[str]:
    """etcd's command line for one lab host's member. The initial-cluster flags only matter on
    a member's first start; afterwards the member rejoins from its data directory."""
    return [
        "etcd",
        f"--name={host.etcd_name}",
        f"--data-dir={host.etcd_data_dir}",
        f"--listen-client-urls={host.etcd_client_url},{ETCD_LOCAL_CLIENT_URL}",
        f"--advertise-client-urls={host.etcd_client_url}",
        f"--listen-peer-urls={host.etcd_peer_url}",
        f"--initial-advertise-peer-urls={host.etcd_peer_url}",
        f"--initial-cluster={plan.etcd_initial_cluster}",
        f"--initial-cluster-token=orch-lab-{plan.name}",
        "--initial-cluster-state=new",
        *ETCD_COMMON_FLAGS, *etcd_tls_flags(plan.pki_dir, host.name),
    ]


def master_argv(plan: LabPlan, host: HostPlan, orchestrator_bin: str) -> list[str]:
    """A master on `host`, connected to every etcd member, its own host's first: the client
    stays with the first member that answers, so losing another host never stalls this master
    (a request to a member that vanished waits for the client's timeout before failing over,
    longer than a leader may go without renewing its Lease)."""
    own = host.etcd_client_url
    endpoints = [own, *(e for e in plan.etcd_endpoints if e != own)]
    return [*master_command(orchestrator_bin, endpoints, plan.pki_dir),
            f"--advertise-address={host.address}", f"--job-backoff={LAB_JOB_BACKOFF}",
            f"--load-balancer-pool={LOAD_BALANCER_POOL}"]


def master_command(orchestrator_bin: str, etcd_endpoints: list[str], pki_dir: Path) -> list[str]:
    """A master's command line, from `orchestrator init-pki`'s files (the lab's and real
    hosts' alike)."""
    return [
        orchestrator_bin, "serve",
        f"--etcd-servers={','.join(etcd_endpoints)}",
        f"--etcd-cafile={pki_dir / 'etcd-ca.crt'}",
        f"--etcd-certfile={pki_dir / 'apiserver-etcd-client.crt'}",
        f"--etcd-keyfile={pki_dir / 'apiserver-etcd-client.key'}",
        "--bind-address=0.0.0.0", f"--secure-port={API_PORT}",
        f"--tls-cert-file={pki_dir / 'apiserver.crt'}",
        f"--tls-private-key-file={pki_dir / 'apiserver.key'}",
        f"--token-auth-file={pki_dir / 'tokens.json'}",
        f"--agent-client-cert={pki_dir / 'apiserver-agent-client.crt'}",
        f"--agent-client-key={pki_dir / 'apiserver-agent-client.key'}",
        f"--agent-ca-file={pki_dir / 'ca.crt'}",
        f"--service-account-signing-key-file={pki_dir / 'service-account.key'}",
        f"--service-account-key-file={pki_dir / 'service-account.pub'}",
        f"--root-ca-file={pki_dir / 'ca.crt'}",
    ]


def api_sans(plan: LabPlan) -> list[str]:
    """Names and addresses the API certificate must cover: every host (agents may reach any
    master), and the loopback the API is published on."""
    return ["127.0.0.1", "localhost", *(h.address for h in plan.hosts), *(h.name for h in plan.hosts)]


# The lab restarts crashed containers after 2 s (doubling) instead of kubelet's 10 s, so that
# tests of back-off finish quickly; the doubling and the 300 s cap are the same.
LAB_CRASH_BACKOFF = 2.0
# Likewise a Job replaces a failed pod after 1 s (doubling) instead of Kubernetes' 10 s.
LAB_JOB_BACKOFF = 1.0


def agent_argv(plan: LabPlan, host: HostPlan, node_agent_bin: str) -> list[str]:
    """The node agent of one lab host, with the lab's quicker crash back-off."""
    return [
        *agent_command(node_agent_bin, api_urls=plan.api_urls, pki_dir=plan.pki_dir,
                       node=host.name, address=host.address, pod_cidr=host.pod_cidr,
                       docker_url=host.docker_url, root_dir=host.agent_root),
        f"--crash-backoff={LAB_CRASH_BACKOFF}",
        # Lab hosts have no way out: names outside the cluster domain get NXDOMAIN at once
        # instead of a query to the machine's resolvers.
        "--dns-upstream=",
    ]


def agent_command(node_agent_bin: str, *, api_urls: str, pki_dir: Path, node: str, address: str,
                  pod_cidr: str, docker_url: str, root_dir: Path) -> list[str]:
    """A node agent's command line: its node token and serving certificate, its dockerd, the
    pod CIDR its docker bridge was given, and every master's API."""
    return [
        node_agent_bin, "run",
        f"--api={api_urls}",
        f"--ca-file={pki_dir / 'ca.crt'}",
        f"--token-file={pki_dir / f'node-{node}.token'}",
        f"--node-name={node}", f"--node-ip={address}", f"--pod-cidr={pod_cidr}",
        f"--docker-host={docker_url}", f"--root-dir={root_dir}",
        f"--tls-cert-file={pki_dir / f'node-{node}-serving.crt'}",
        f"--tls-private-key-file={pki_dir / f'node-{node}-serving.key'}",
    ]
