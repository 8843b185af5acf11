"""Lab operations: up, down, kill/start a host, partition/heal a host, status.

Contract: every operation takes the lab's lock (one operation per lab at a time; different
labs never wait on each other) and is idempotent. `up` converges a lab of any shape (new,
half-made, a killed host, a dead daemon) to "every host powered on, every daemon answering",
keeping partitions the user asked for. `down` removes everything the plan names, whether or not
the state file survived.

The only state kept besides what the kernel shows is `state.json`: the host count and which
hosts the user powered off or partitioned (the kernel cannot tell "killed on purpose" from
"crashed").
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from kube import kubeconfig
from lab import daemons, images, network, registry, system
from lab.inventory import render_inventory
from lab.plan import DATA_ROOT, RUN_ROOT, HostPlan, LabPlan, PlanError, api_sans, make_plan
from lab.system import LabError
from orchestrator.cli import config as orchctl_config
from orchestrator.pki import init_etcd_pki, init_pki

DEFAULT_NAME = "lab"
DEFAULT_HOSTS = 3
START_TIMEOUT = 60.0  # seconds for every daemon to answer; generous for a loaded 2-core machine

Report = Callable[[str], None]


@dataclass
class LabState:
    name: str
    hosts: int
    powered_off: list[str] = field(default_factory=list)
    partitioned: list[str] = field(default_factory=list)
    api_port: int | None = None  # the loopback port the API is published on (stable per lab)
    masters: int = 1
    # the Debian base images loaded into every host (`up --no-base-images` leaves them out
    # until `image base`); kept, so a repairing `up` or a host's `start` does the same
    base_images: bool = True

    @classmethod
    def load(cls, path: Path) -> LabState | None:
        try:
            return cls(**json.loads(path.read_text()))
        except FileNotFoundError:
            return None
        except (ValueError, TypeError) as e:
            raise LabError(f"{path} is damaged ({e}); run `scripts/lab down` and `up` again") from e

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2) + "\n")
        tmp.rename(path)


@contextmanager
def locked(name: str) -> Iterator[None]:
    """Serialise operations on one lab. The name is validated before it becomes a path."""
    make_plan(name, 1)
    RUN_ROOT.mkdir(parents=True, exist_ok=True)
    with open(RUN_ROOT / f"{name}.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def discovered_hosts(name: str) -> int:
    """How many hosts a lab has, read from the namespaces and directories it left behind."""
    indexes = [0]
    pattern = re.compile(rf"^{re.escape(name)}-host(\d+)$")
    for ns in system.netns_list():
        if m := pattern.match(ns):
            indexes.append(int(m.group(1)))
    for root in (RUN_ROOT / name, DATA_ROOT / name):
        if root.is_dir():
            indexes += [int(p.name[4:]) for p in root.glob("host*") if p.name[4:].isdigit()]
    return max(indexes)


def existing_plan(name: str) -> tuple[LabPlan, LabState]:
    probe = make_plan(name, 1)
    state = LabState.load(probe.state_file)
    if state is None:
        raise LabError(f"lab {name!r} is not up (no {probe.state_file}); "
                       f"start it with `scripts/lab up --name {name}`")
    return make_plan(name, state.hosts, masters=state.masters), state


def control_command(name: str) -> list[str]:
    script = Path(__file__).resolve().parents[1] / "scripts" / "lab"
    return [str(script), "--name", name]


# --- up / start -----------------------------------------------------------------------------


def up(name: str, n_hosts: int | None, report: Report, masters: int | None = None,
       base_images: bool | None = None) -> LabPlan:
    make_plan(name, n_hosts or DEFAULT_HOSTS, masters=masters or 1)  # refuse bad input first
    with locked(name):
        probe = make_plan(name, 1)
        state = LabState.load(probe.state_file)
        if state and n_hosts is not None and n_hosts != state.hosts:
            raise PlanError(f"lab {name!r} is up with {state.hosts} hosts, not {n_hosts}: "
                            f"`scripts/lab down --name {name}` first")
        if state and masters is not None and masters != state.masters:
            raise PlanError(f"lab {name!r} is up with {state.masters} master(s), not {masters}: "
                            f"`scripts/lab down --name {name}` first")
        if state is None:
            state = LabState(name=name, hosts=n_hosts or DEFAULT_HOSTS, masters=masters or 1)
        if base_images is not None:
            state.base_images = base_images
        if state.api_port is None:
            state.api_port = system.free_loopback_port()
        plan = make_plan(name, state.hosts, masters=state.masters)
        state.save(plan.state_file)  # first, so `down` finds a lab that failed half-way
        state.powered_off = []
        _power_on(plan, plan.hosts, state, report)
        state.save(plan.state_file)
        configure_local_paths(plan, state)
        publish_images(plan, state, report)
        write_inventory(plan, state)
        write_orchctl_context(plan, state, report)
        return plan


def start_host(name: str, host_name: str, report: Report) -> None:
    existing_plan(name)[0].host(host_name)  # refuse bad input before taking the lock
    with locked(name):
        plan, state = existing_plan(name)
        host = plan.host(host_name)
        state.powered_off = [h for h in state.powered_off if h != host.name]
        _power_on(plan, (host,), state, report)
        state.save(plan.state_file)


def _power_on(plan: LabPlan, hosts: tuple[HostPlan, ...], state: LabState,
              report: Report) -> None:
    """Wire, start and wait for `hosts`; everything already right is left alone."""
    for d in (plan.run_dir, plan.data_dir):
        d.mkdir(parents=True, exist_ok=True)
    network.ensure_switch(plan)
    network.ensure_client(plan)
    for host in hosts:
        network.ensure_host(plan, host, attached=host.name not in state.partitioned)
    make_credentials(plan)

    for host in hosts:
        if daemons.etcd_pid(host) is None:
            report(f"{host.name}: starting etcd member {host.etcd_name}")
            daemons.start_etcd(plan, host)
        if daemons.dockerd_pid(host) is None:
            report(f"{host.name}: starting dockerd")
            daemons.start_dockerd(host)

    deadline = time.monotonic() + START_TIMEOUT
    with ThreadPoolExecutor(len(hosts)) as pool:
        list(pool.map(lambda h: daemons.wait_dockerd(h, deadline), hosts))
    clients = {h.name: daemons.docker_client(h, timeout=120) for h in hosts}
    try:
        images.ensure_images(clients, report, base=state.base_images)
    finally:
        for c in clients.values():
            c.close()
    # The daemons' deadline starts after the images: a first build takes minutes.
    deadline = time.monotonic() + START_TIMEOUT
    # A partitioned member cannot reach quorum; it is not waited for.
    reachable = [h for h in hosts if h.name not in state.partitioned]
    if reachable:
        with ThreadPoolExecutor(len(reachable)) as pool:
            list(pool.map(lambda h: daemons.wait_etcd(plan, h, deadline), reachable))
    _start_master(plan, hosts, state, report, deadline)
    _start_agents(plan, hosts, state, report, deadline)


def publish_images(plan: LabPlan, state: LabState, report: Report) -> None:
    """The registry up, the lab's images pushed to it (from the first host's dockerd), and
    its pull credentials as the `lab-registry` Secret in default."""
    registry.ensure_registry(plan, report)
    client = daemons.docker_client(plan.hosts[0], timeout=120)
    try:
        for spec in images.IMAGES:
            registry.push(client, plan, spec.tag)
    finally:
        client.close()
    assert state.api_port is not None
    daemons.put_object(plan, state.api_port, "/api/v1/namespaces/default/secrets",
                       registry.pull_secret(plan))


def load_base_images(name: str, report: Report) -> None:
    """The Debian base images built (where not cached) and loaded into every host that runs,
    and kept from now on (a lab brought up with --no-base-images)."""
    with locked(name):
        plan, state = existing_plan(name)
        state.base_images = True
        state.save(plan.state_file)
        with daemons.docker_clients(plan.hosts) as clients:
            images.ensure_base_images(clients, images.images_root(), report)


def configure_local_paths(plan: LabPlan, state: LabState) -> None:
    """The local-path provisioner's directories: one per host under its own data directory
    (the lab's hosts share one filesystem; a volume must live on its node only)."""
    assert state.api_port is not None
    config = {"nodePathMap": [{"node": h.name, "paths": [str(h.local_path_dir)]}
                              for h in plan.hosts]}
    daemons.put_object(plan, state.api_port, "/api/v1/namespaces/kube-system/configmaps", {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "local-path-config", "namespace": "kube-system"},
        "data": {"config.json": json.dumps(config, indent=2)}})


def make_credentials(plan: LabPlan) -> None:
    """The cluster's CA, tokens and certificates, and etcd's (kept when present)."""
    members = {h.name: h.address for h in plan.hosts}
    init_pki(plan.pki_dir, api_sans(plan), list(members), members)
    init_etcd_pki(plan.pki_dir, members)


def _start_master(plan: LabPlan, hosts: tuple[HostPlan, ...], state: LabState, report: Report,
                  deadline: float) -> None:
    """The masters (the first host, or the first --masters hosts), and the API published on
    loopback (forwarded to the first master that accepts)."""
    for master in plan.master_hosts:
        if master in hosts and daemons.master_pid(master) is None:
            report(f"{master.name}: starting the master")
            daemons.start_master(plan, master)
    if daemons.forwarder_pid(plan) is None:
        report(f"publishing the API on https://127.0.0.1:{state.api_port}")
        daemons.start_forwarder(plan, state.api_port)
    if any(m.name not in state.partitioned and m.name not in state.powered_off
           for m in plan.master_hosts):
        daemons.wait_api(plan, state.api_port, deadline)


def _start_agents(plan: LabPlan, hosts: tuple[HostPlan, ...], state: LabState, report: Report,
                  deadline: float) -> None:
    """A node agent on each of `hosts`, and (when the master is reachable) their Nodes Ready."""
    for host in hosts:
        if daemons.agent_pid(host) is None:
            report(f"{host.name}: starting the node agent")
            daemons.start_agent(plan, host)
    if any(m.name not in state.partitioned and m.name not in state.powered_off
           for m in plan.master_hosts):
        reachable = [h for h in hosts if h.name not in state.partitioned]
        daemons.wait_nodes_ready(plan, reachable, state.api_port, deadline)


def write_orchctl_context(plan: LabPlan, state: LabState, report: Report) -> None:
    """Add the lab's context to orchctl's configuration and make it current, so that
    `orchctl get nodes` works from the machine's root namespace right away."""
    path = orchctl_config.default_path()
    config = orchctl_config.load(path, missing_ok=True)
    orchctl_config.set_context(config, plan.name, f"https://127.0.0.1:{state.api_port}",
                               str(plan.pki_dir / "ca.crt"), str(plan.pki_dir / "admin.token"))
    orchctl_config.save(path, config)
    report(f"orchctl: context {plan.name!r} in {path} (current)")


def forget_orchctl_context(name: str) -> None:
    path = orchctl_config.default_path()
    try:
        config = orchctl_config.load(path, missing_ok=True)
    except orchctl_config.ConfigError:
        return  # not ours to repair
    if orchctl_config.remove_context(config, name):
        orchctl_config.save(path, config)


def write_inventory(plan: LabPlan, state: LabState) -> None:
    """The inventory, and the kubeconfig it names (kubectl works against the lab as it is)."""
    data = render_inventory(plan, control_command(plan.name), state.api_port)
    if "kubeconfig" in data:
        kubeconfig.write(Path(data["kubeconfig"]), kubeconfig.render(
            plan.name, data["api"], Path(data["ca_file"]).read_bytes(), data["admin_token_file"]))
    tmp = plan.inventory_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.rename(plan.inventory_file)


# --- kill / down ----------------------------------------------------------------------------


def _host_pids(host: HostPlan) -> list[int]:
    """Every process of a lab host: those in its network namespace (dockerd, containerd, shims,
    etcd, agents, users' shells) and the containers' processes (own namespaces, found through
    the host's cgroup parent)."""
    pids = set(system.pids_in_cgroup(host.cgroup_parent))
    inode = system.netns_inode(host.netns)
    if inode is not None:
        pids.update(system.pids_in_netns(inode))
    pids.discard(os.getpid())
    return sorted(pids)


def _power_off(hosts: tuple[HostPlan, ...]) -> None:
    """SIGKILL every process of `hosts`, as if their power were pulled. Repeats until nothing
    is left, since a dying containerd may still be starting a shim."""
    for _ in range(5):
        pids = [p for h in hosts for p in _host_pids(h) if system.is_alive(p)]
        if not pids:
            return
        system.kill_now(pids)
    raise LabError("processes survived SIGKILL: "
                   + ", ".join(str(p) for h in hosts for p in _host_pids(h)))


def kill_host(name: str, host_name: str, report: Report) -> None:
    existing_plan(name)[0].host(host_name)  # refuse bad input before taking the lock
    with locked(name):
        plan, state = existing_plan(name)
        host = plan.host(host_name)
        _power_off((host,))
        system.drop_mount_namespace(host.mount_ns_file)
        for d in host.volatile_dirs:
            shutil.rmtree(d, ignore_errors=True)
        if system.link_exists(plan.switch_netns, host.switch_port):
            network.set_attached(plan, host, False)  # a powered-off host answers nothing
        if host.name not in state.powered_off:
            state.powered_off.append(host.name)
        state.save(plan.state_file)
        report(f"{host.name}: powered off")


def down(name: str, report: Report) -> None:
    with locked(name):
        plan = make_plan(name, max(discovered_hosts(name), 1))
        forwarder = daemons.forwarder_pid(plan)
        if forwarder:
            system.kill_now([forwarder])
        registry.stop(plan)
        _power_off(plan.hosts)
        for ns in plan.netns_names:
            system.delete_netns(ns)
        leftovers: list[str] = []
        for host in plan.hosts:
            leftovers += [str(p) for p in system.remove_cgroup(host.cgroup_parent)]
        for point in system.mounts_under([plan.run_dir, plan.data_dir]):
            system.run(["umount", "-l", point], check=False)
        for d in (plan.run_dir, plan.data_dir):
            shutil.rmtree(d, ignore_errors=True)
            if d.exists():
                leftovers.append(str(d))
        if leftovers:
            raise LabError("could not remove: " + ", ".join(leftovers))
        forget_orchctl_context(name)
        report(f"lab {name!r} is down")
    (RUN_ROOT / f"{name}.lock").unlink(missing_ok=True)


# --- partition ------------------------------------------------------------------------------


def partition(name: str, host_name: str, cut: bool, report: Report) -> None:
    existing_plan(name)[0].host(host_name)  # refuse bad input before taking the lock
    with locked(name):
        plan, state = existing_plan(name)
        host = plan.host(host_name)
        state.partitioned = [h for h in state.partitioned if h != host.name]
        if cut:
            state.partitioned.append(host.name)
        powered = host.name not in state.powered_off
        network.set_attached(plan, host, powered and not cut)
        state.save(plan.state_file)
        report(f"{host.name}: {'cut off the lab network' if cut else 'back on the lab network'}")


# --- status ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class HostStatus:
    name: str
    address: str
    power: str  # "on" | "off"
    network: str  # "attached" | "partitioned" | "missing"
    dockerd: str  # "answers" | "down"
    etcd: str  # "healthy" | "no quorum" | "down"
    master: str  # "answers" | "down" | "-" (no master on this host)
    agent: str  # "ready" (its Node is Ready) | "running" | "down"

    @property
    def healthy(self) -> bool:
        return (self.power, self.network, self.dockerd, self.etcd) == (
            "on", "attached", "answers", "healthy") and self.master in ("answers", "-") \
            and self.agent == "ready"


def status(name: str) -> list[HostStatus]:
    plan, state = existing_plan(name)
    ready = daemons.ready_nodes(plan, state.api_port) if state.api_port else set()

    def one(host: HostPlan) -> HostStatus:
        is_master = host in plan.master_hosts
        if not system.netns_exists(host.netns):
            return HostStatus(host.name, host.address, "off", "missing", "down", "down",
                              "down" if is_master else "-", "down")
        master = "-"
        if is_master:
            master = "answers" if daemons.api_answers_in(plan, host) else "down"
        return HostStatus(
            name=host.name,
            address=host.address,
            power="off" if host.name in state.powered_off else "on",
            network="attached" if network.is_attached(plan, host) else "partitioned",
            dockerd="answers" if daemons.docker_answers(host) else "down",
            etcd=daemons.etcd_health(plan, host),
            master=master,
            agent="down" if daemons.agent_pid(host) is None
            else "ready" if host.name in ready else "running",
        )

    with ThreadPoolExecutor(len(plan.hosts)) as pool:
        return list(pool.map(one, plan.hosts))


def list_labs() -> list[str]:
    if not RUN_ROOT.is_dir():
        return []
    return sorted(p.parent.name for p in RUN_ROOT.glob("*/state.json"))
