"""cordon, uncordon, drain."""

from __future__ import annotations

import time

import click

from orchestrator.cli.durations import DURATION

from kube.client import ApiError
from kube.kinds.node import Node
from kube.kinds.pod import Pod
from kube.ownership import controller_of
from kube.typed import metadata_of, typed, typed_all
from orchestrator.cli.common import get_or_none
from orchestrator.cli.env import Env, pass_env
from orchestrator.cli.resources import resource_type


def _set_unschedulable(env: Env, name: str, value: bool) -> str:
    node = typed(Node, env.client.get("nodes", name))
    if bool(node.spec.unschedulable) == value:
        return "already " + ("cordoned" if value else "uncordoned")
    env.client.patch("nodes", name, {"spec": {"unschedulable": value or None}})
    return "cordoned" if value else "uncordoned"


@click.command()
@click.argument("nodes", nargs=-1, required=True)
@pass_env
def cordon(env: Env, nodes: tuple[str, ...]) -> None:
    """Mark nodes unschedulable: new pods go elsewhere, running ones stay."""
    for name in nodes:
        click.echo(f"node/{name} {_set_unschedulable(env, name, True)}")


@click.command()
@click.argument("nodes", nargs=-1, required=True)
@pass_env
def uncordon(env: Env, nodes: tuple[str, ...]) -> None:
    """Mark nodes schedulable again."""
    for name in nodes:
        click.echo(f"node/{name} {_set_unschedulable(env, name, False)}")


def daemon_pods(pods: list[Pod]) -> list[Pod]:
    """The pods a DaemonSet controls (drain leaves them: their DaemonSet tolerates the
    cordon and would make them again)."""
    def kind(pod: Pod) -> str | None:
        ref = controller_of(pod.metadata)
        return ref.kind if ref is not None else None
    return [p for p in pods if kind(p) == "DaemonSet"]


def drain_blockers(pods: list[Pod], force: bool, delete_emptydir_data: bool,
                   ignore_daemonsets: bool = False) -> list[str]:
    """Why the pods cannot all be evicted, as kubectl says it. Pure."""
    problems = []
    daemons = daemon_pods(pods)
    if daemons and not ignore_daemonsets:
        problems.append("cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to "
                        "ignore): " + ", ".join(_ref(p) for p in daemons))
    bare = [p for p in pods if controller_of(p.metadata) is None]
    if bare and not force:
        problems.append("cannot delete pods not managed by a controller (use --force to "
                        "override): " + ", ".join(_ref(p) for p in bare))
    local = [p for p in pods if any(v.empty_dir is not None for v in p.spec.volumes or ())]
    if local and not delete_emptydir_data:
        problems.append("cannot delete pods with local storage (use --delete-emptydir-data to "
                        "override): " + ", ".join(_ref(p) for p in local))
    return problems


def _ref(pod: Pod) -> str:
    return f"{pod.metadata.namespace}/{pod.metadata.name}"


@click.command()
@click.argument("node")
@click.option("--force", is_flag=True, help="Also delete pods no controller will replace.")
@click.option("--delete-emptydir-data", is_flag=True,
              help="Also delete pods with emptyDir volumes (their data is lost).")
@click.option("--ignore-daemonsets", is_flag=True,
              help="Leave DaemonSet-managed pods (their DaemonSet would remake them there).")
@click.option("--grace-period", type=int, metavar="SECONDS",
              help="Seconds each pod gets to stop (default: its own).")
@click.option("--timeout", default=300.0, show_default=True, type=DURATION, metavar="DURATION",
              help="Give up waiting for the pods to be gone after this long.")
@click.option("--pod-selector", metavar="SELECTOR", help="Only the pods matching it.")
@pass_env
def drain(env: Env, node: str, force: bool, delete_emptydir_data: bool, ignore_daemonsets: bool,
          grace_period: int | None, timeout: float, pod_selector: str | None) -> None:
    """Cordon a node, then evict its pods (pods/NAME/eviction, which PodDisruptionBudgets may
    refuse for now: retried every 5 s) so that their controllers replace them elsewhere, and
    wait until they are gone."""
    click.echo(f"node/{node} {_set_unschedulable(env, node, True)}")
    pods = typed_all(Pod, env.client.list("pods", None, pod_selector,
                                          f"spec.nodeName={node}").items)
    problems = drain_blockers(pods, force, delete_emptydir_data, ignore_daemonsets)
    if problems:
        raise click.ClickException("; ".join(problems))
    daemons = daemon_pods(pods)
    if daemons:
        click.echo("Warning: ignoring DaemonSet-managed Pods: "
                   + ", ".join(_ref(p) for p in daemons), err=True)
    pods = [p for p in pods if p not in daemons]
    rt = resource_type("pods")
    deadline = time.monotonic() + timeout
    pending = list(pods)
    while pending:
        refused = []
        for pod in pending:
            click.echo(f"evicting pod {_ref(pod)}")
            options = {} if grace_period is None else {"gracePeriodSeconds": grace_period}
            try:
                env.client.create_subresource(
                    "pods", pod.metadata.name or "", "eviction",
                    {"apiVersion": "policy/v1", "kind": "Eviction",
                     "metadata": {"name": pod.metadata.name,
                                  "namespace": pod.metadata.namespace},
                     **({"deleteOptions": options} if options else {})},
                    pod.metadata.namespace)
            except ApiError as e:
                if e.code == 429:  # a disruption budget says not now
                    click.echo(f'error when evicting pods/"{pod.metadata.name}" -n '
                               f'"{pod.metadata.namespace}" (will retry after 5s): '
                               f"{e.message}", err=True)
                    refused.append(pod)
                elif e.code != 404:
                    raise
        pending = refused
        if pending:
            if time.monotonic() > deadline:
                raise click.ClickException(
                    f"drain did not complete within {timeout:g}s; a disruption budget keeps: "
                    + ", ".join(_ref(p) for p in pending))
            time.sleep(5)
    remaining = list(pods)
    while remaining:
        still = []
        for pod in remaining:
            meta = pod.metadata
            live = get_or_none(env, rt, meta.name or "", meta.namespace)
            if live is None or metadata_of(live).uid != meta.uid:
                click.echo(f"pod/{meta.name} evicted")
            else:
                still.append(pod)
        remaining = still
        if remaining:
            if time.monotonic() > deadline:
                raise click.ClickException(
                    f"drain did not complete within {timeout:g}s; still there: "
                    + ", ".join(_ref(p) for p in remaining))
            time.sleep(0.5)
    click.echo(f"node/{node} drained")


COMMANDS = [cordon, uncordon, drain]
