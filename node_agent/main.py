"""`node-agent`: runs the pods bound to this node on this host's dockerd.

    node-agent run --api https://192.168.56.11:6443 --ca-file ca.crt --token-file node.token \\
        --node-name host1 --node-ip 192.168.56.11 --pod-cidr 10.244.1.0/24 \\
        --docker-host unix:///run/docker.sock --root-dir /var/lib/orch-agent

It talks only to the API server (with its node token) and to its own dockerd.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import click

from kube.tls import AGENT_PORT
from node_agent import __version__

if TYPE_CHECKING:
    from node_agent.runtime import ContainerRuntime


@click.group()
@click.version_option(__version__)
def main() -> None:
    """The node agent: pods on this host's dockerd."""


@main.command()
@click.option("--api", "api_url", required=True,
              help="the API server's URL; several masters comma-separated (failover)")
@click.option("--ca-file", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--token-file", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--node-name", required=True)
@click.option("--node-ip", required=True, help="this host's address on the cluster network")
@click.option("--pod-cidr", default=None,
              help="the pod CIDR this host was provisioned with (docker's bridge serves it); "
                   "without it, the master assigns one")
@click.option("--docker-host", default="unix:///run/docker.sock", show_default=True)
@click.option("--root-dir", default="/var/lib/orch-agent", show_default=True,
              type=click.Path(file_okay=False))
@click.option("--allowed-unsafe-sysctls", default="",
              help="comma-separated sysctls (or prefixes ending in *) pods may set beside the "
                   "safe set, as kubelet's flag; namespaced ones only")
@click.option("--pod-log-dir", default="/var/log", show_default=True,
              type=click.Path(file_okay=False),
              help="where the pods/ and containers/ log links go, for log collectors; '': none")
@click.option("--crash-backoff", default=10.0, show_default=True,
              help="seconds before the first restart of a crashed container (doubles, max 300)")
@click.option("--tls-cert-file", type=click.Path(exists=True, dir_okay=False),
              help="serving certificate for logs and exec (without it they are not served)")
@click.option("--tls-private-key-file", type=click.Path(exists=True, dir_okay=False))
@click.option("--port", default=AGENT_PORT, show_default=True, type=int)
@click.option("--proxy-mode", type=click.Choice(["iptables", "ipvs", "none"]),
              default="iptables", show_default=True,
              help="how service virtual IPs and node ports are programmed (none: not at all)")
@click.option("--cluster-cidr", default="10.244.0.0/16", show_default=True,
              help="the pod network of the whole cluster (traffic from outside it to a "
                   "service is masqueraded)")
@click.option("--cluster-dns", default=None,
              help="the address the DNS server listens on and pods use; default: the pod "
                   "bridge's gateway (the first address of the pod CIDR); 'none' disables it")
@click.option("--cluster-domain", default="cluster.local", show_default=True)
@click.option("--dns-upstream", default=None,
              help="resolvers for names outside the cluster domain, comma-separated; "
                   "default: the host's /etc/resolv.conf; '': none (they do not exist)")
@click.option("--network-policy/--no-network-policy", default=True, show_default=True,
              help="enforce NetworkPolicies for this node's pods in the kernel")
@click.option("--load-balancer-interface", default="auto", show_default=True,
              help="where this node answers ARP for the LoadBalancer addresses it announces "
                   "(auto: the interface holding --node-ip; none: it never announces)")
@click.option("-v", "--verbose", is_flag=True)
def run(api_url: str, ca_file: str, token_file: str, node_name: str, node_ip: str,
        pod_cidr: str | None, docker_host: str, root_dir: str, allowed_unsafe_sysctls: str,
        pod_log_dir: str,
        crash_backoff: float,
        tls_cert_file: str | None, tls_private_key_file: str | None, port: int,
        proxy_mode: str, cluster_cidr: str, cluster_dns: str | None, cluster_domain: str,
        dns_upstream: str | None, network_policy: bool, load_balancer_interface: str,
        verbose: bool) -> None:
    """Register this node, keep its heartbeat, and run the pods bound to it."""
    import tenacity

    from node_agent.dns.server import host_nameservers
    from node_agent.network.manager import NetworkManager
    from node_agent.node import NodeAgent
    from node_agent.proxy.manager import ProxyManager
    from node_agent.services import ServiceCache
    from node_agent.pods.logfiles import PodLogFiles
    from node_agent.pods.manager import PodManager
    from node_agent.pods.volumes import PodVolumes
    from node_agent.runtime.docker import DockerRuntime
    from kube.client import ApiError, Client
    from kube.kinds.pod import sysctl_namespace

    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log = logging.getLogger("node_agent")
    client = Client.from_files(api_url, ca_file, token_file, user_agent="node-agent")
    runtime = DockerRuntime(docker_host)  # the one docker client of this agent
    node = NodeAgent(client, runtime, node_name, node_ip, pod_cidr)
    for attempt in tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(ApiError), reraise=True,
            wait=tenacity.wait_exponential(multiplier=0.2, max=5),
            before_sleep=lambda s: log.warning("registering with %s: %s", api_url,
                                               s.outcome.exception())):
        with attempt:
            node.register()
    root = Path(root_dir)
    root.mkdir(parents=True, exist_ok=True)
    unsafe = tuple(n.strip() for n in allowed_unsafe_sysctls.split(",") if n.strip())
    if bad := [n for n in unsafe if sysctl_namespace(n.rstrip("*")) is None]:
        raise click.BadParameter(f"not namespaced sysctls, which no pod may set: {bad}",
                                 param_hint="--allowed-unsafe-sysctls")
    services = ServiceCache(client)
    dns_address = _dns_address(cluster_dns, node.pod_cidr)
    pods = PodManager(client, runtime, PodVolumes(root), node_name, node_ip,
                      backoff_base=crash_backoff, services=services, cluster_dns=dns_address,
                      cluster_domain=cluster_domain,
                      log_files=PodLogFiles(Path(pod_log_dir)) if pod_log_dir else None,
                      allowed_unsafe_sysctls=unsafe)
    network = NetworkManager(client, node_name, node.pod_cidr)
    node.start()
    network.start()
    services.start()
    if proxy_mode != "none":
        ProxyManager(services, _proxier(proxy_mode, cluster_cidr, node_ip),
                     node_name=node_name).start()
    if network_policy:
        from node_agent.netpol.manager import NetworkPolicyManager
        NetworkPolicyManager(client, node_name).start()
    if load_balancer_interface != "none":
        _start_speaker(client, services, node_name, node_ip, load_balancer_interface)
    if dns_address:
        upstreams = host_nameservers() if dns_upstream is None else \
            [u for u in dns_upstream.split(",") if u.strip()]
        threading.Thread(target=_serve_dns, args=(services, dns_address, upstreams,
                                                  cluster_domain, node.stopping),
                         name="dns-bind", daemon=True).start()
    pods.start()
    log.warning("node %s registered (pod CIDR %s); running its pods", node_name, node.pod_cidr)
    asyncio.run(_serve_until_signalled(runtime, node_name, node_ip, port, tls_cert_file,
                                       tls_private_key_file, ca_file))
    # Stopping the agent leaves the pods running: a restarted agent adopts them.
    node.stopping.set()
    network.stop()
    services.stop()
    pods.stop()


def _dns_address(flag: str | None, pod_cidr: str | None) -> str | None:
    if flag == "none":
        return None
    if flag:
        return str(ipaddress.IPv4Address(flag))
    return str(next(ipaddress.ip_network(pod_cidr).hosts())) if pod_cidr else None


def _proxier(mode: str, cluster_cidr: str, node_ip: str):
    from node_agent.proxy.proxier import Iptables, IptablesProxier
    if mode == "ipvs":
        from node_agent.proxy.ipvs import IpvsProxier, ipvs_unavailable
        why = ipvs_unavailable()
        if why:
            raise click.ClickException(f"--proxy-mode=ipvs: {why}; use --proxy-mode=iptables")
        return IpvsProxier(Iptables(), cluster_cidr, [node_ip])
    return IptablesProxier(Iptables(), cluster_cidr)


def _start_speaker(client, services, node_name: str, node_ip: str, interface: str) -> None:
    """Announce the LoadBalancer addresses this node wins (node_agent/loadbalancer)."""
    from node_agent.events import agent_recorder
    from node_agent.loadbalancer.arp import ArpResponder
    from node_agent.loadbalancer.speaker import Speaker
    from node_agent.network.links import interface_with_address
    name = interface_with_address(node_ip) if interface == "auto" else interface
    if name is None:
        raise click.BadParameter(f"no interface holds {node_ip}",
                                 param_hint="--load-balancer-interface")
    try:
        responder = ArpResponder(name)
    except OSError as e:
        raise click.BadParameter(f"{name}: {e}", param_hint="--load-balancer-interface") from e
    responder.start()
    Speaker(client, services, node_name, responder, agent_recorder(client, node_name)).start()


def _serve_dns(services, address: str, upstreams: list[str], domain: str,
               stopping: threading.Event) -> None:
    """Binds the DNS server once `address` exists on this host (the pod bridge may come up
    after the agent), then serves until the process ends."""
    from node_agent.dns.server import DnsServer
    log = logging.getLogger("node_agent.dns")
    while not stopping.is_set():
        try:
            DnsServer(services, address, 53, upstreams, domain).start()
            log.warning("cluster DNS on %s:53 (upstreams: %s)", address,
                        ", ".join(upstreams) or "none")
            return
        except OSError as e:
            log.warning("cluster DNS cannot listen on %s:53 yet: %s", address, e)
            stopping.wait(2)


@main.command()
@click.option("-v", "--verbose", is_flag=True)
def cleanup(verbose: bool) -> None:
    """Remove every iptables chain and jump the agent made (service rules and the pods'
    masquerade: everything named ORCH-*) and its IPVS state, as kube-proxy --cleanup does.
    Pods and routes are left alone; a running agent would put the rules back."""
    from node_agent.proxy.ipvs import IpvsProxier, ipvs_unavailable
    from node_agent.proxy.proxier import Iptables, IptablesProxier, ProxyError
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING)
    try:
        removed = IptablesProxier(Iptables(), "0.0.0.0/0").cleanup()
        if ipvs_unavailable() is None:
            removed = IpvsProxier(Iptables(), "0.0.0.0/0", []).cleanup() or removed
    except ProxyError as e:
        raise click.ClickException(str(e)) from e
    click.echo("removed the agent's service rules" if removed else "nothing to remove")


async def _serve_until_signalled(runtime: ContainerRuntime, node_name: str, address: str, port: int,
                                 cert: str | None, key: str | None, client_ca: str) -> None:
    from node_agent.server import AgentServer, serve, server_ssl_context

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if cert and key:
        await serve(AgentServer(runtime, node_name), address, port,
                    server_ssl_context(cert, key, client_ca), stop)
    else:
        await stop.wait()
