"""The Vagrant lab, workstation side: `scripts/vagrant-lab COMMAND` (the Vagrantfile calls
`prepare` and `inventory` itself).

    prepare     .vagrant/orch/: cluster.json, the credentials (pki/), the project and its
                dependencies as Linux wheels (wheels/), bundle.tar (what each VM is provisioned
                from), and the orchctl context "vagrant" (current)
    inventory   .vagrant/orch/inventory.json, kind "vagrant": hosts reached over ssh, dockerd
                over TLS on :2376, the API on node1
    wait        until every VM's Node is Ready
    status      one row per VM, as `scripts/lab status` prints them
    kill HOST / start HOST      power a VM off (no shutdown) / on again
    partition HOST / heal HOST  cut a VM off the private network (iptables in the VM) / undo
    up          power on every VM and start every unit (repairs after faults)
    provision   prepare, then provision every running VM at once (after a code change;
                `vagrant provision` does the same one VM after the other)
    proxy-mode iptables|ipvs    restart every agent in that proxy mode
    ssh HOST -- CMD…            run a command as root on a VM
    forget      drop the inventory and the orchctl context (after `vagrant destroy`)

Everything is in the repository's .vagrant/ (Vagrant's own directory), so two checkouts are
two labs. The VMs are node1..nodeN at 192.168.56.(10+i), pod CIDR 10.244.i.0/24, as the netns
lab's hosts are.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.metadata
import json
import os
import shlex
import subprocess
import sys
import tarfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import click

from kube import kubeconfig
from lab.inventory import Inventory, load_inventory, ssh_argv
from lab.plan import (CLIENT_ADDRESS, HOST_ADDRESS_OFFSET, LAB_SUBNET, LOAD_BALANCER_POOL,
                      POD_SUPERNET, SERVICE_CIDR,
                      etcdctl_files)
from lab.provision import DOCKER_TLS_PORT, PKI, PROXY_MODES, VENV, ClusterSpec, SpecHost
from orchestrator.cli import config as orchctl_config
from orchestrator.pki import init_etcd_pki, init_pki, issue_certificate

REPO = Path(__file__).resolve().parents[1]
NAME = "vagrant"  # the orchctl context and the inventory's name
N_HOSTS = 3
# Only these leave the workstation: each VM picks its own from the bundle (lab.provision).
NOT_IN_BUNDLE = {"ca.key", "etcd-ca.key", "admin.token", "readonly.token",
                 "docker-client.crt", "docker-client.key"}
GUEST_PYTHON = "3.11"  # Debian 12's python3: the wheels are for it, whatever runs here
GUEST_PLATFORMS = ("manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux_2_28_x86_64")
# The masters' defaults suit the netns lab (a lost host is noticed in 5 s). VMs pause: under
# software emulation a busy VM renews its Lease late, and a workstation's VMs stall when the
# host is loaded, so a node is judged after 20 s without a heartbeat (Kubernetes: 40 s) and a
# leader after 15 s.
MASTER_ARGS = ("--node-monitor-grace-period=20", "--pod-eviction-timeout=5",
               "--leader-elect-lease-duration=15", f"--load-balancer-pool={LOAD_BALANCER_POOL}")
# etcd's defaults (heartbeat 100 ms, election 1 s) are for real machines on a LAN; an emulated
# VM busy starting containers misses heartbeats and the members keep electing new leaders
# (every write in flight fails). etcd's tuning guide: election timeout >= 10 heartbeats.
ETCD_ARGS = ("--heartbeat-interval=500", "--election-timeout=5000")
GUEST_VENV_PYTHON = str(VENV / "bin" / "python")  # the project, as provisioning installs it


class VagrantLabError(RuntimeError):
    """A step failed; the message says which and why."""


def state_dir() -> Path:
    return Path(os.environ.get("ORCH_VAGRANT_STATE", REPO / ".vagrant" / "orch"))


def hosts() -> list[SpecHost]:
    return [SpecHost(f"node{i}", str(LAB_SUBNET.network_address + HOST_ADDRESS_OFFSET + i),
                     f"10.244.{i}.0/24") for i in range(1, N_HOSTS + 1)]


def make_spec(masters: int, proxy_mode: str) -> ClusterSpec:
    if masters not in (1, N_HOSTS):
        raise VagrantLabError(f"ORCH_MASTERS={masters}: 1 or {N_HOSTS}")
    if proxy_mode not in PROXY_MODES:
        raise VagrantLabError(f"ORCH_PROXY_MODE={proxy_mode!r}: one of {', '.join(PROXY_MODES)}")
    all_hosts = hosts()
    return ClusterSpec(NAME, tuple(all_hosts), tuple(h.name for h in all_hosts[:masters]),
                       proxy_mode, MASTER_ARGS, ETCD_ARGS)


@contextmanager
def locked() -> Iterator[Path]:
    """Vagrant may run the triggers of several VMs at once (libvirt brings VMs up in parallel)."""
    d = state_dir()
    d.mkdir(parents=True, exist_ok=True)
    with open(d / ".lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield d


def settings() -> dict[str, Any]:
    path = state_dir() / "settings.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise VagrantLabError(f"{path} is missing: `vagrant up` (or `scripts/vagrant-lab "
                              "prepare`) first") from None


def save_json(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.rename(path)


# --- prepare --------------------------------------------------------------------------------


def prepare(report=click.echo) -> None:
    with locked() as d:
        old = settings() if (d / "settings.json").exists() else {}
        masters = int(os.environ.get("ORCH_MASTERS", old.get("masters", 1)))
        proxy_mode = os.environ.get("ORCH_PROXY_MODE", old.get("proxy_mode", "iptables"))
        local = os.environ.get("ORCH_VAGRANT_LOCAL", "1" if old.get("local") else "0") == "1"
        spec = make_spec(masters, proxy_mode)
        save_json(d / "cluster.json", spec.to_json())
        save_json(d / "settings.json", {"masters": masters, "proxy_mode": proxy_mode,
                                        "local": local})
        pki = d / "pki"
        make_credentials(spec, pki)
        wheels = d / "wheels"
        ensure_wheels(wheels, report)
        write_bundle(d / "bundle.tar", spec, pki, wheels)
        config_path = orchctl_config.default_path()
        config = orchctl_config.load(config_path, missing_ok=True)
        orchctl_config.set_context(config, NAME, spec.master_hosts[0].api_url,
                                   str(pki / "ca.crt"), str(pki / "admin.token"))
        orchctl_config.save(config_path, config)
        report(f"vagrant-lab: {d} ready; orchctl context {NAME!r} in {config_path} (current)")


def make_credentials(spec: ClusterSpec, pki: Path) -> None:
    """The cluster's CA, tokens and certificates (kept when present), etcd's, plus dockerd's: a
    server certificate per VM and one client certificate for the workstation."""
    names = [h.name for h in spec.hosts]
    addresses = [h.address for h in spec.hosts]
    members = {h.name: h.address for h in spec.hosts}
    init_pki(pki, ["127.0.0.1", "localhost", *addresses, *names], names, members)
    init_etcd_pki(pki, members)
    for h in spec.hosts:
        issue_certificate(pki, f"docker-{h.name}", h.name, [h.name, h.address, "127.0.0.1"])
    issue_certificate(pki, "docker-client", "orch-workstation", [], usage="client")


def requirements() -> list[str]:
    """The project's own dependencies, from its installed metadata (extras left out)."""
    reqs = importlib.metadata.requires("docker-orchestrator") or []
    return [r for r in reqs if "extra ==" not in r]


def ensure_wheels(wheels: Path, report) -> None:
    """Wheels for the guest (CPython 3.11 on x86_64 Linux) of every dependency and of the
    project: the VMs install from these with `pip --no-index`, so they need no network. Made
    again only when the project's metadata or code changed."""
    digest = hashlib.sha256()
    for path in sorted((REPO / p) for p in ("setup.cfg", "pyproject.toml")):
        digest.update(path.read_bytes())
    stamp = wheels / ".stamp"
    if not (stamp.exists() and stamp.read_text() == digest.hexdigest()):
        report(f"vagrant-lab: downloading the dependencies' wheels for Python {GUEST_PYTHON}")
        wheels.mkdir(parents=True, exist_ok=True)
        platforms = [a for p in GUEST_PLATFORMS for a in ("--platform", p)]
        run([sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:",
             *platforms, "--python-version", GUEST_PYTHON, "--implementation", "cp",
             "-d", str(wheels), *requirements()], "downloading wheels")
        stamp.write_text(digest.hexdigest())
    # The project's own wheel, every time (its code changes without its metadata changing).
    for old in wheels.glob("docker_orchestrator-*.whl"):
        old.unlink()
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(REPO)],
        "building the project's wheel")


def run(argv: list[str], what: str, **kwargs) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(argv, capture_output=True, text=True, **kwargs)
    if proc.returncode != 0:
        raise VagrantLabError(f"{what} failed ({' '.join(argv[:4])}…):\n"
                              f"{(proc.stderr or proc.stdout).strip()[-2000:]}")
    return proc


def source_files() -> list[str]:
    """The checkout's files as git sees them (tracked and new, not ignored)."""
    proc = run(["git", "-C", str(REPO), "ls-files", "-co", "--exclude-standard"],
               "listing the project's files")
    return [f for f in proc.stdout.splitlines() if (REPO / f).is_file()]


def write_bundle(tar_path: Path, spec: ClusterSpec, pki: Path, wheels: Path) -> None:
    tmp = tar_path.with_name(tar_path.name + ".tmp")
    with tarfile.open(tmp, "w") as tar:
        for f in source_files():
            tar.add(REPO / f, arcname=f"src/{f}")
        for whl in sorted(wheels.glob("*.whl")):
            tar.add(whl, arcname=f"wheels/{whl.name}")
        for cred in sorted(pki.iterdir()):
            if cred.name not in NOT_IN_BUNDLE:
                tar.add(cred, arcname=f"pki/{cred.name}")
        tar.add(tar_path.parent / "cluster.json", arcname="cluster.json")
    tmp.rename(tar_path)


# --- inventory ------------------------------------------------------------------------------


def identity_file(host: str) -> str:
    """The key Vagrant put in the VM (`config.ssh.insert_key`), for whichever provider."""
    for key in sorted((REPO / ".vagrant" / "machines" / host).glob("*/private_key")):
        return str(key)
    raise VagrantLabError(f"no ssh key for {host} under .vagrant/machines/{host}: is it up?")


def render_inventory(spec: ClusterSpec, d: Path, proxy_mode: str, local: bool,
                     keys: dict[str, str]) -> dict[str, Any]:
    pki = d / "pki"
    return {
        "name": NAME, "kind": "vagrant",
        "hosts": [{"name": h.name, "address": h.address, "pod_cidr": h.pod_cidr,
                   "docker": f"tcp://{h.address}:{DOCKER_TLS_PORT}",
                   "ssh": {"host": h.address, "port": 22, "user": "vagrant",
                           "identity_file": keys[h.name]},
                   "token_file": str(pki / f"node-{h.name}.token"),
                   "python": GUEST_VENV_PYTHON} for h in spec.hosts],
        "etcd": {"endpoints": [h.etcd_client_url for h in spec.hosts],
                 **etcdctl_files(PKI)},  # etcdctl's files on the VMs
        "network": {"hosts_cidr": str(LAB_SUBNET), "pod_cidr": str(POD_SUPERNET),
                    "service_cidr": str(SERVICE_CIDR), "load_balancer_pool": LOAD_BALANCER_POOL},
        # the workstation is on the VMs' host-only network: it is the client
        "client": {"name": "workstation", "address": CLIENT_ADDRESS},
        "control": [str(REPO / "scripts" / "vagrant-lab")],
        "api": spec.master_hosts[0].api_url, "api_in_lab": spec.master_hosts[0].api_url,
        "masters": list(spec.masters),
        "ca_file": str(pki / "ca.crt"), "admin_token_file": str(pki / "admin.token"),
        "readonly_token_file": str(pki / "readonly.token"),
        "kubeconfig": str(d / "kubeconfig"),  # written with the inventory
        "docker_tls": {"ca_cert": str(pki / "ca.crt"), "client_cert": str(pki / "docker-client.crt"),
                       "client_key": str(pki / "docker-client.key")},
        "proxy_mode": proxy_mode,
        # Software emulation is several times slower than the netns lab: the suite's deadlines
        # are multiplied by this.
        "timeout_scale": 6 if local else 2,
    }


def write_inventory() -> Path:
    with locked() as d:
        s = settings()
        spec = make_spec(s["masters"], s["proxy_mode"])
        keys = {}
        for h in spec.hosts:
            try:
                keys[h.name] = identity_file(h.name)
            except VagrantLabError:
                keys[h.name] = ""  # not created yet: the next VM's trigger fills it in
        path = d / "inventory.json"
        data = render_inventory(spec, d, s["proxy_mode"], s["local"], keys)
        kubeconfig.write(Path(data["kubeconfig"]), kubeconfig.render(
            NAME, data["api"], Path(data["ca_file"]).read_bytes(), data["admin_token_file"]))
        save_json(path, data)
        return path


def inventory() -> Inventory:
    path = state_dir() / "inventory.json"
    if not path.exists():
        raise VagrantLabError(f"{path} is missing: `vagrant up` first")
    return load_inventory(path)


# --- operations on the VMs ------------------------------------------------------------------


def vagrant(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VAGRANT_CHECKPOINT_DISABLE": "1"}
    return run(["vagrant", *args], f"vagrant {' '.join(args)}", cwd=REPO, env=env,
               timeout=timeout)


def on_host(inv: Inventory, name: str, argv: list[str], timeout: float = 120,
            check: bool = True) -> subprocess.CompletedProcess[str]:
    host = inv.host(name)
    proc = subprocess.run(ssh_argv(host.ssh or {}, argv), capture_output=True, text=True,
                          timeout=timeout)
    if check and proc.returncode != 0:
        raise VagrantLabError(f"on {name}: {shlex.join(argv)} exited {proc.returncode}: "
                              f"{(proc.stderr or proc.stdout).strip()[-1000:]}")
    return proc


def machine(host: str) -> tuple[str, str] | None:
    """(provider, provider's id) of a VM Vagrant created, from .vagrant/machines/HOST/*/id."""
    for path in sorted((REPO / ".vagrant" / "machines" / host).glob("*/id")):
        if ident := path.read_text().strip():
            return path.parent.name, ident
    return None


LIBVIRT = ["virsh", "-c", "qemu:///system"]


def power_state(host: str) -> str:
    """"on" / "off", asked of the hypervisor directly (`vagrant status` costs seconds)."""
    found = machine(host)
    if found is None:
        return "off"
    provider, ident = found
    if provider == "libvirt":
        out = subprocess.run([*LIBVIRT, "domstate", ident], capture_output=True, text=True)
        return "on" if out.stdout.strip() == "running" else "off"
    if provider == "virtualbox":
        out = subprocess.run(["VBoxManage", "showvminfo", ident, "--machinereadable"],
                             capture_output=True, text=True).stdout
        return "on" if 'VMState="running"' in out else "off"
    out = vagrant("status", "--machine-readable", host, timeout=120).stdout
    return "on" if ",state,running" in out else "off"


def power_off(host: str) -> None:
    """Pull the plug (no shutdown), as the netns lab's `kill` does. Straight to the hypervisor:
    vagrant-libvirt 0.11 cannot restart a domain whose CPU mode is "custom" (it rewrites the
    definition and libvirt refuses it), so `vagrant halt`/`up` are avoided for faults."""
    provider, ident = machine(host) or ("", "")
    if provider == "libvirt":
        run([*LIBVIRT, "destroy", ident], f"powering {host} off")
    elif provider == "virtualbox":
        run(["VBoxManage", "controlvm", ident, "poweroff"], f"powering {host} off")
    else:
        vagrant("halt", "--force", host, timeout=300)


def power_on(inv: Inventory, host: str, timeout: float = 600) -> None:
    """Boot the VM again and wait until ssh answers (its units start at boot)."""
    provider, ident = machine(host) or ("", "")
    if provider == "libvirt":
        run([*LIBVIRT, "start", ident], f"powering {host} on")
    elif provider == "virtualbox":
        run(["VBoxManage", "startvm", ident, "--type", "headless"], f"powering {host} on")
    else:
        vagrant("up", "--no-provision", host)
    deadline = time.monotonic() + timeout
    while on_host(inv, host, ["true"], timeout=30, check=False).returncode != 0:
        if time.monotonic() > deadline:
            raise VagrantLabError(f"{host} did not answer ssh {timeout:.0f} s after power-on")
        time.sleep(3)
    start_units(inv, host)


PROVISION = [GUEST_VENV_PYTHON, "-m", "lab.provision"]


def status_rows() -> list[list[str]]:
    inv = inventory()

    def one(h) -> list[str]:
        if power_state(h.name) != "on":
            return [h.name, h.address, "off", "missing", "down", "down",
                    "down" if h.name in inv.masters else "-", "down"]
        proc = on_host(inv, h.name, [*PROVISION, "status"], timeout=60, check=False)
        try:
            s = json.loads(proc.stdout)
        except ValueError:
            s = {}
        return [h.name, h.address, "on", s.get("network", "unknown"), s.get("dockerd", "down"),
                s.get("etcd", "down"),
                s.get("master", "down" if h.name in inv.masters else "-"), s.get("agent", "down")]

    with ThreadPoolExecutor(len(inv.hosts)) as pool:
        rows = list(pool.map(one, inv.hosts))
    ready = ready_nodes(inv)
    for row in rows:
        if row[7] == "running" and row[0] in ready:
            row[7] = "ready"
    return rows


def ready_nodes(inv: Inventory) -> set[str]:
    import requests

    try:
        with open(inv.admin_token_file or "") as f:
            token = f.read().strip()
        r = requests.get(f"{inv.api}/api/v1/nodes", headers={"Authorization": f"Bearer {token}"},
                         verify=inv.ca_file, timeout=10)
        nodes = r.json()["items"] if r.status_code == 200 else []
    except (OSError, ValueError, requests.RequestException):
        return set()
    return {n["metadata"]["name"] for n in nodes
            if any(c.get("type") == "Ready" and c.get("status") == "True"
                   for c in (n.get("status") or {}).get("conditions") or [])}


def wait_ready(timeout: float) -> None:
    inv = inventory()
    wanted = {h.name for h in inv.hosts}
    deadline = time.monotonic() + timeout
    while not wanted <= (ready := ready_nodes(inv)):
        if time.monotonic() > deadline:
            raise VagrantLabError(f"nodes not Ready after {timeout:.0f} s: "
                                  f"{', '.join(sorted(wanted - ready))}")
        time.sleep(2)


def start_units(inv: Inventory, name: str) -> None:
    on_host(inv, name, ["systemctl", "start", "--no-block", "orch-etcd", "docker",
                        *(["orch-master"] if name in inv.masters else []), "orch-agent"])


PROVISION_SCRIPT = ("rm -rf /tmp/orch-bundle && mkdir /tmp/orch-bundle && "
                    "tar -C /tmp/orch-bundle -xf - && "
                    "/tmp/orch-bundle/src/scripts/provision-host --bundle /tmp/orch-bundle --host {}")


def provision_all(report=click.echo) -> None:
    """The Vagrantfile's provisioners (the bundle, then provision-host), on every VM at once."""
    prepare(report)
    inv = inventory()
    bundle = state_dir() / "bundle.tar"

    def one(h) -> None:
        with open(bundle, "rb") as f:
            proc = subprocess.run(ssh_argv(h.ssh or {}, ["sh", "-c", PROVISION_SCRIPT.format(
                shlex.quote(h.name))]), stdin=f, capture_output=True, text=True, timeout=1800)
        if proc.returncode != 0:
            raise VagrantLabError(f"provisioning {h.name} failed:\n{proc.stderr.strip()[-2000:]}")
        report(f"vagrant-lab: {h.name} provisioned")

    with ThreadPoolExecutor(len(inv.hosts)) as pool:
        list(pool.map(one, inv.hosts))


def set_proxy_mode(mode: str) -> None:
    inv = inventory()
    with ThreadPoolExecutor(len(inv.hosts)) as pool:
        list(pool.map(lambda h: on_host(inv, h.name, [*PROVISION, "proxy-mode", mode]),
                      inv.hosts))
    with locked() as d:
        s = settings()
        s["proxy_mode"] = mode
        save_json(d / "settings.json", s)
    write_inventory()


# --- the command line -----------------------------------------------------------------------


class LabGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (VagrantLabError, subprocess.TimeoutExpired, OSError) as e:
            click.echo(f"vagrant-lab: error: {e}", err=True)
            ctx.exit(1)


@click.group(cls=LabGroup, help=__doc__)
def cli() -> None:
    pass


@cli.command("prepare")
def cmd_prepare() -> None:
    prepare()


@cli.command("inventory")
def cmd_inventory() -> None:
    click.echo(f"vagrant-lab: inventory in {write_inventory()}")


@cli.command("wait")
@click.option("--timeout", default=900.0, show_default=True)
def cmd_wait(timeout: float) -> None:
    wait_ready(timeout)
    click.echo("vagrant-lab: every node is Ready")


@cli.command("status")
def cmd_status() -> None:
    header = ["HOST", "ADDRESS", "POWER", "NETWORK", "DOCKERD", "ETCD", "MASTER", "AGENT"]
    rows = [header, *status_rows()]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    for row in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())


@cli.command("kill")
@click.argument("host")
def cmd_kill(host: str) -> None:
    inventory().host(host)
    power_off(host)


@cli.command("start")
@click.argument("host")
def cmd_start(host: str) -> None:
    inv = inventory()
    inv.host(host)
    power_on(inv, host)


@cli.command("up")
def cmd_up() -> None:
    inv = inventory()
    for h in inv.hosts:
        if power_state(h.name) != "on":
            power_on(inv, h.name)
        else:
            start_units(inv, h.name)


@cli.command("provision")
def cmd_provision() -> None:
    provision_all()


@cli.command("partition")
@click.argument("host")
def cmd_partition(host: str) -> None:
    inv = inventory()
    on_host(inv, host, [*PROVISION, "partition", inv.host(host).address])


@cli.command("heal")
@click.argument("host")
def cmd_heal(host: str) -> None:
    inv = inventory()
    on_host(inv, host, [*PROVISION, "heal"])


@cli.command("proxy-mode")
@click.argument("mode", type=click.Choice(PROXY_MODES))
def cmd_proxy_mode(mode: str) -> None:
    set_proxy_mode(mode)
    click.echo(f"vagrant-lab: every agent runs the {mode} proxy")


@cli.command("forget")
def cmd_forget() -> None:
    """The VMs are gone: their inventory and orchctl context go too (the credentials and wheels
    stay in .vagrant/orch for the next `vagrant up`)."""
    from lab.lifecycle import forget_orchctl_context

    (state_dir() / "inventory.json").unlink(missing_ok=True)
    forget_orchctl_context(NAME)


@cli.command("ssh", context_settings={"ignore_unknown_options": True})
@click.argument("host")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def cmd_ssh(host: str, command: tuple[str, ...]) -> None:
    inv = inventory()
    proc = subprocess.run(ssh_argv(inv.host(host).ssh or {}, list(command)))
    sys.exit(proc.returncode)


def main() -> None:
    cli(prog_name="vagrant-lab")


if __name__ == "__main__":
    main()
