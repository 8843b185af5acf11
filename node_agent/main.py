"""`node-agent`: runs the pods bound to this node on this host's dockerd.

    node-agent run --api https://192.168.56.11:6443 --ca-file ca.crt --token-file node.token \\
        --node-name host1 --node-ip 192.168.56.11 --pod-cidr 10.244.1.0/24 \\
        --docker-host unix:///run/docker.sock --root-dir /var/lib/orch-agent

It talks only to the API server (with its node token) and to its own dockerd.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

import click

from node_agent import __version__
from orchestrator.tls import AGENT_PORT


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
@click.option("--crash-backoff", default=10.0, show_default=True,
              help="seconds before the first restart of a crashed container (doubles, max 300)")
@click.option("--tls-cert-file", type=click.Path(exists=True, dir_okay=False),
              help="serving certificate for logs and exec (without it they are not served)")
@click.option("--tls-private-key-file", type=click.Path(exists=True, dir_okay=False))
@click.option("--port", default=AGENT_PORT, show_default=True, type=int)
@click.option("-v", "--verbose", is_flag=True)
def run(api_url: str, ca_file: str, token_file: str, node_name: str, node_ip: str,
        pod_cidr: str | None, docker_host: str, root_dir: str, crash_backoff: float,
        tls_cert_file: str | None, tls_private_key_file: str | None, port: int,
        verbose: bool) -> None:
    """Register this node, keep its heartbeat, and run the pods bound to it."""
    import tenacity

    from node_agent.network.manager import NetworkManager
    from node_agent.node import NodeAgent
    from node_agent.pods.driver import DockerDriver
    from node_agent.pods.manager import PodManager
    from orchestrator.client import ApiError, Client

    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log = logging.getLogger("node_agent")
    client = Client.from_files(api_url, ca_file, token_file)
    node = NodeAgent(client, docker_host, node_name, node_ip, pod_cidr)
    for attempt in tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(ApiError), reraise=True,
            wait=tenacity.wait_exponential(multiplier=0.2, max=5),
            before_sleep=lambda s: log.warning("registering with %s: %s", api_url,
                                               s.outcome.exception())):
        with attempt:
            node.register()
    root = Path(root_dir)
    root.mkdir(parents=True, exist_ok=True)
    pods = PodManager(client, DockerDriver(docker_host, root), node_name, node_ip,
                      backoff_base=crash_backoff)
    network = NetworkManager(client, node_name, node.pod_cidr)
    node.start()
    network.start()
    pods.start()
    log.warning("node %s registered (pod CIDR %s); running its pods", node_name, node.pod_cidr)
    asyncio.run(_serve_until_signalled(docker_host, node_ip, port, tls_cert_file,
                                       tls_private_key_file, ca_file))
    # Stopping the agent leaves the pods running: a restarted agent adopts them.
    node.stopping.set()
    network.stopping.set()
    pods.stop()


async def _serve_until_signalled(docker_host: str, address: str, port: int, cert: str | None,
                                 key: str | None, client_ca: str) -> None:
    from node_agent.server import AgentServer, serve, server_ssl_context

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if cert and key:
        await serve(AgentServer(docker_host), address, port,
                    server_ssl_context(cert, key, client_ca), stop)
    else:
        await stop.wait()
