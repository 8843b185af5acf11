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


def drain_blockers(pods: list[Pod], force: bool, delete_emptydir_data: bool) -> list[str]:
    """Why the pods cannot all be evicted, as kubectl says it. Pure."""
    problems = []
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
              help="Accepted for kubectl habits; there are no DaemonSets here.")
@click.option("--grace-period", type=int, metavar="SECONDS",
              help="Seconds each pod gets to stop (default: its own).")
@click.option("--timeout", default=300.0, show_default=True, type=DURATION, metavar="DURATION",
              help="Give up waiting for the pods to be gone after this long.")
@click.option("--pod-selector", metavar="SELECTOR", help="Only the pods matching it.")
@pass_env
def drain(env: Env, node: str, force: bool, delete_emptydir_data: bool, ignore_daemonsets: bool,
          grace_period: int | None, timeout: float, pod_selector: str | None) -> None:
    """Cordon a node, then delete its pods so that their controllers replace them elsewhere,
    and wait until they are gone."""
    click.echo(f"node/{node} {_set_unschedulable(env, node, True)}")
    pods = typed_all(Pod, env.client.list("pods", None, pod_selector,
                                          f"spec.nodeName={node}").items)
    problems = drain_blockers(pods, force, delete_emptydir_data)
    if problems:
        raise click.ClickException("; ".join(problems))
    rt = resource_type("pods")
    for pod in pods:
        click.echo(f"evicting pod {_ref(pod)}")
        try:
            env.client.delete("pods", pod.metadata.name or "", pod.metadata.namespace,
                              grace_period)
        except ApiError as e:
            if e.code != 404:
                raise
    deadline = time.monotonic() + timeout
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
