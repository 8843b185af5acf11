"""`orchestrator`: the master daemon (API server; the scheduler and controllers run in the
master that holds the leader Lease) and its setup commands."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import ssl
from pathlib import Path

import click
import tenacity

from kube.durations import parse_duration
from kube.tls import shrink_tls_read_buffers
from orchestrator import __version__
from orchestrator.api.tokens import DEFAULT_ISSUER


@click.group()
@click.version_option(__version__)
def main() -> None:
    """The master daemon: API server, scheduler and controllers."""


@main.command()
@click.option("--etcd-servers", required=True,
              help="comma-separated etcd client URLs, e.g. https://192.168.56.11:2379,…")
@click.option("--etcd-cafile", type=click.Path(exists=True, dir_okay=False),
              help="CA of etcd's members (with --etcd-certfile/--etcd-keyfile: mutual TLS; "
                   "the endpoints are then https://)")
@click.option("--etcd-certfile", type=click.Path(exists=True, dir_okay=False),
              help="client certificate towards etcd")
@click.option("--etcd-keyfile", type=click.Path(exists=True, dir_okay=False))
@click.option("--bind-address", default="0.0.0.0", show_default=True)
@click.option("--secure-port", default=6443, show_default=True, type=int)
@click.option("--tls-cert-file", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--tls-private-key-file", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--token-auth-file", required=True, type=click.Path(exists=True, dir_okay=False),
              help="tokens.json (see orchestrator init-pki)")
@click.option("--agent-client-cert", type=click.Path(exists=True, dir_okay=False),
              help="client certificate towards node agents (pods/log, pods/exec)")
@click.option("--agent-client-key", type=click.Path(exists=True, dir_okay=False))
@click.option("--agent-ca-file", type=click.Path(exists=True, dir_okay=False),
              help="CA that signed the agents' serving certificates")
@click.option("--scheduler/--no-scheduler", default=True, show_default=True,
              help="run the scheduler in this process")
@click.option("--controllers/--no-controllers", default=True, show_default=True,
              help="run the controllers (Deployment, ReplicaSet, Endpoints, garbage collector, "
                   "node lifecycle) here")
@click.option("--node-monitor-grace-period", type=float, default=5.0, show_default=True,
              help="seconds without a Lease renewal before a node is marked unreachable "
                   "(agents renew every 2 s)")
@click.option("--pod-eviction-timeout", type=float, default=2.0, show_default=True,
              help="seconds a node stays unreachable before its pods are evicted and replaced")
@click.option("--node-eviction-rate", type=click.FloatRange(min=0), default=0.1,
              show_default=True,
              help="lost nodes admitted to eviction per second in each zone (the first at once)")
@click.option("--secondary-node-eviction-rate", type=click.FloatRange(min=0), default=0.01,
              show_default=True,
              help="the same in a partially disrupted zone of more than 50 nodes (smaller "
                   "ones evict nothing)")
@click.option("--leader-elect/--no-leader-elect", default=True, show_default=True,
              help="run the scheduler and controllers only while holding the leader Lease "
                   "(kube-system/orchestrator-controlplane), so several masters may run")
@click.option("--leader-elect-lease-duration", type=float, default=4.0, show_default=True,
              help="seconds a leader's Lease lasts unrenewed before another master takes it")
@click.option("--score-weight", "score_weights", multiple=True, metavar="PLUGIN=WEIGHT",
              help="weight of a scheduler score plugin (NodeResourcesLeastAllocated, "
                   "NodeResourcesBalancedAllocation, SelectorSpread; defaults 1, 1, 2); "
                   "repeatable")
@click.option("--service-account-signing-key-file",
              type=click.Path(exists=True, dir_okay=False),
              help="the RSA private key service account tokens are signed with (PEM)")
@click.option("--service-account-key-file", type=click.Path(exists=True, dir_okay=False),
              help="the public key service account tokens are verified with (PEM)")
@click.option("--service-account-issuer", default=DEFAULT_ISSUER, show_default=True,
              help="the tokens' `iss`, and the audience they are for unless a request names "
                   "others")
@click.option("--advertise-address",
              help="this master's address for pods: it joins the endpoints of the "
                   "`kubernetes` Service in default (none: it does not)")
@click.option("--root-ca-file", type=click.Path(exists=True, dir_okay=False),
              help="the cluster CA (PEM), published in every namespace as the ConfigMap "
                   "kube-root-ca.crt for pods to trust the API server with")
@click.option("--job-backoff", type=click.FloatRange(min=0.1), default=10.0, show_default=True,
              help="seconds a Job waits before replacing its first failed pod (doubling per "
                   "failure since its last success, at most 600 s)")
@click.option("--local-path-helper-image", default="orch/web:1", show_default=True,
              help="the image (with a shell, mkdir and rm) of the helper pods that make and "
                   "remove local-path volumes' directories on the nodes")
@click.option("--load-balancer-pool", default="", metavar="RANGES",
              help="the addresses LoadBalancer Services get, FIRST-LAST ranges and CIDRs, "
                   "comma-separated, on the nodes' LAN (none: such Services stay pending)")
@click.option("--event-ttl", default="1h", show_default=True, metavar="DURATION",
              help="how long an Event is kept after its last write (kube-apiserver's flag: "
                   "etcd deletes it then); 0 keeps Events until they are deleted")
@click.option("-v", "--verbose", is_flag=True)
def serve(etcd_servers: str, etcd_cafile: str | None, etcd_certfile: str | None,
          etcd_keyfile: str | None, bind_address: str, secure_port: int, tls_cert_file: str,
          tls_private_key_file: str, token_auth_file: str, agent_client_cert: str | None,
          agent_client_key: str | None, agent_ca_file: str | None, scheduler: bool,
          controllers: bool, node_monitor_grace_period: float, pod_eviction_timeout: float,
          node_eviction_rate: float, secondary_node_eviction_rate: float, leader_elect: bool,
          leader_elect_lease_duration: float,
          score_weights: tuple[str, ...], service_account_signing_key_file: str | None,
          service_account_key_file: str | None, service_account_issuer: str,
          advertise_address: str | None, root_ca_file: str | None, job_backoff: float,
          local_path_helper_image: str, load_balancer_pool: str, event_ttl: str,
          verbose: bool) -> None:
    """Serve the Kubernetes-shaped API over TLS, backed by the etcd cluster."""
    from orchestrator.api.auth import TokenAuthenticator
    from orchestrator.api.objects import Objects
    from orchestrator.api.server import ApiServer
    from orchestrator.api.tokens import TokenSigner, TokenVerifier
    from orchestrator.store import Etcd, EtcdTLS, Store, StoreError

    from orchestrator.controllers.loadbalancer import parse_pool
    try:
        pool = parse_pool(load_balancer_pool)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--load-balancer-pool") from e
    try:
        event_seconds = parse_duration(event_ttl)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--event-ttl") from e
    if event_seconds < 0 or (0 < event_seconds < 1):
        raise click.BadParameter("an Event lives 0 (for ever) or at least 1 s",
                                 param_hint="--event-ttl")
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    etcd_files = (etcd_cafile, etcd_certfile, etcd_keyfile)
    if any(etcd_files) and not all(etcd_files):
        raise click.UsageError("--etcd-cafile, --etcd-certfile and --etcd-keyfile go together")
    try:
        etcd = Etcd([u.strip() for u in etcd_servers.split(",") if u.strip()],
                    tls=EtcdTLS(*etcd_files) if all(etcd_files) else None)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--etcd-servers") from e
    except OSError as e:  # an etcd TLS file that exists but cannot be read
        raise click.ClickException(f"etcd TLS: {e}") from e
    ttls = {"events": int(event_seconds)} if event_seconds else None
    objects = Objects(Store(etcd, ttls=ttls))
    objects.root_ca = Path(root_ca_file).read_text() if root_ca_file else None
    # etcd may still be electing a leader or a member may be down: wait for it, as
    # kube-apiserver does, rather than exit (a supervisor would only restart us into the same).
    for attempt in tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(StoreError),
            wait=tenacity.wait_exponential(multiplier=0.2, max=5), reraise=True,
            before_sleep=lambda state: logging.getLogger("orchestrator").warning(
                "waiting for etcd at %s: %s", etcd_servers, state.outcome.exception())):
        with attempt:
            objects.ensure_system_namespaces()
    from orchestrator.controlplane import ControlPlane
    from orchestrator.leader import LeaderElector

    control_plane = ControlPlane(objects, scheduler, controllers, node_monitor_grace_period,
                                 pod_eviction_timeout, parse_score_weights(score_weights),
                                 (node_eviction_rate, secondary_node_eviction_rate),
                                 job_backoff=job_backoff,
                                 root_ca=objects.root_ca,
                                 local_path_helper_image=local_path_helper_image,
                                 load_balancer_pool=pool)
    elector = None
    if leader_elect and (scheduler or controllers):
        identity = f"{socket.gethostname()}_{os.getpid()}"
        elector = LeaderElector(objects, identity, control_plane.start, control_plane.stop,
                                lease_duration=leader_elect_lease_duration,
                                renew_deadline=leader_elect_lease_duration * 0.75,
                                retry_period=min(0.5, leader_elect_lease_duration / 8))
        elector.start()
    else:
        control_plane.start()
    agent_tls = None
    if agent_client_cert and agent_client_key:
        agent_tls = ssl.create_default_context(cafile=agent_ca_file)
        agent_tls.load_cert_chain(agent_client_cert, agent_client_key)
    if advertise_address:
        from orchestrator.api.master_service import MasterServiceReconciler

        MasterServiceReconciler(objects, advertise_address, secure_port).start()
    signer = TokenSigner(Path(service_account_signing_key_file), service_account_issuer) \
        if service_account_signing_key_file else None
    verifier = TokenVerifier(Path(service_account_key_file), service_account_issuer) \
        if service_account_key_file else None
    server = ApiServer(objects, TokenAuthenticator.from_file(Path(token_auth_file)),
                       agent_tls=agent_tls, token_signer=signer, token_verifier=verifier)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls_cert_file, tls_private_key_file)
    asyncio.run(_serve(server, objects, bind_address, secure_port, context, elector))


async def _serve(server, objects, host: str, port: int, context: ssl.SSLContext,
                 elector) -> None:
    from aiohttp import web

    from orchestrator.store import StoreError

    shrink_tls_read_buffers()

    runner = web.AppRunner(server.app(), access_log=None, handler_cancellation=True)
    await runner.setup()
    await web.TCPSite(runner, host, port, ssl_context=context, backlog=1024).start()
    logging.getLogger("orchestrator").warning("serving on https://%s:%d", host, port)
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    while not stopping.is_set():  # periodic housekeeping
        try:
            await asyncio.wait_for(stopping.wait(), 5)
            break
        except asyncio.TimeoutError:
            pass
        try:
            await loop.run_in_executor(server.pool, objects.finish_terminating_namespaces)
        except StoreError as e:  # etcd unavailable for a while: the next pass tries again
            logging.getLogger("orchestrator").warning("namespace cleanup: %s", e)
        except Exception:
            logging.getLogger("orchestrator").exception("namespace cleanup failed")
    # A clean stop hands the leadership over at once instead of after the lease expires. Then
    # exit at once: all state is in etcd, and waiting for long-lived watch streams and worker
    # threads to wind down would only delay the stop.
    if elector is not None:
        try:
            await asyncio.wait_for(loop.run_in_executor(None, elector.stop), 3)
        except asyncio.TimeoutError:
            pass
    logging.shutdown()
    os._exit(0)


def parse_score_weights(values: tuple[str, ...]) -> dict[str, float]:
    """`NAME=WEIGHT` options → weights; an unknown plugin or a bad number is a usage error."""
    from orchestrator.scheduler.plugins import SCORES

    known = {name for name, _, _ in SCORES}
    weights = {}
    for value in values:
        name, _, weight = value.partition("=")
        if name not in known:
            raise click.BadParameter(f"{name!r} is not a score plugin (known: "
                                     f"{', '.join(sorted(known))})", param_hint="--score-weight")
        try:
            weights[name] = float(weight)
        except ValueError:
            raise click.BadParameter(f"{value!r}: the weight must be a number",
                                     param_hint="--score-weight") from None
        if weights[name] < 0:
            raise click.BadParameter(f"{value!r}: the weight may not be negative",
                                     param_hint="--score-weight")
    return weights


@main.command("init-pki")
@click.option("--dir", "directory", required=True, type=click.Path(file_okay=False))
@click.option("--san", multiple=True, help="extra name or IP for the API certificate")
@click.option("--node", "nodes", multiple=True, help="a node that gets its own token")
@click.option("--etcd-member", "etcd_members", multiple=True, metavar="NAME=ADDRESS",
              help="an etcd member that gets its certificate; with any, etcd's CA and the "
                   "API server's and etcdctl's client certificates are written too")
def init_pki_command(directory: str, san: tuple[str, ...], nodes: tuple[str, ...],
                     etcd_members: tuple[str, ...]) -> None:
    """Write the CA, the API server certificate and the tokens, and etcd's credentials when
    asked (existing files are kept)."""
    from orchestrator.pki import init_etcd_pki, init_pki

    members = {}
    for member in etcd_members:
        name, _, address = member.partition("=")
        if not name or not address:
            raise click.BadParameter(f"{member!r}: expected NAME=ADDRESS",
                                     param_hint="--etcd-member")
        members[name] = address
    paths = init_pki(Path(directory), list(san), list(nodes))
    if members:
        paths.update(init_etcd_pki(Path(directory), members))
    for name, path in sorted(paths.items()):
        click.echo(f"{name}: {path}")
