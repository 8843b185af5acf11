"""scale, rollout status|history|undo|restart|pause|resume, set image."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import click

from kube.client import ApiError
from kube.kinds.deployment import Deployment
from kube.kinds.pod import PodTemplateSpec
from kube.kinds.replicaset import ReplicaSet
from kube.objects import Object
from kube.registry import ResourceType
from kube.revisions import rollback_template, revision_of, template_without_hash
from kube.timestamps import now_rfc3339
from kube.typed import typed, typed_all
from orchestrator.cli.durations import DURATION
from orchestrator.cli import describe as describing
from orchestrator.cli import printers, resources, rollouts
from orchestrator.cli.common import complete_resource, namespace_option, owned_by
from orchestrator.cli.env import Env, pass_env

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


def _target(env: Env, args: tuple[str, ...], kinds: tuple[str, ...]) -> tuple[ResourceType, str]:
    rt, name = resources.one(args)
    if rt.resource not in kinds:
        raise resources.UsageError(f"{rt.resource} are not supported here (only "
                                   f"{', '.join(kinds)})")
    return rt, name


def _read_modify_write(env: Env, rt: ResourceType, name: str,
                       change: Callable[[Object], bool]) -> bool:
    """Get, change, PUT with the read resourceVersion; retried when someone wrote meanwhile.
    `change` returns False when there is nothing to do."""
    for _ in range(10):
        obj = env.client.get(rt.resource, name, env.namespace)
        if not change(obj):
            return False
        try:
            env.client.update(rt.resource, obj)
            return True
        except ApiError as e:
            if e.code != 409:
                raise
    raise click.ClickException(f"{printers.qualified(rt)}/{name} kept changing; try again")


# --- scale ---

@click.command()
@click.argument("args", nargs=-1, required=True, shell_complete=complete_resource)
@click.option("--replicas", type=click.IntRange(min=0), required=True, help="The new count.")
@click.option("--current-replicas", type=int, metavar="N",
              help="Only if the current count is N (a precondition).")
@namespace_option
@pass_env
def scale(env: Env, args: tuple[str, ...], replicas: int, current_replicas: int | None) -> None:
    """Set the replica count of a Deployment or ReplicaSet: scale deploy/web --replicas=5."""
    rt, name = _target(env, args, ("deployments", "replicasets"))
    current = env.client.get(rt.resource, name, env.namespace, subresource="scale")
    have = (current.get("spec") or {}).get("replicas", 0)
    if current_replicas is not None and have != current_replicas:
        raise click.ClickException(f"expected replicas to be {current_replicas}, was {have}")
    env.client.patch(rt.resource, name, {"spec": {"replicas": replicas}}, env.namespace,
                     subresource="scale")
    click.echo(f"{printers.qualified(rt)}/{name} scaled")


# --- rollout ---

@click.group()
def rollout() -> None:
    """Follow and steer the rollouts of Deployments."""


def wait_rolled_out(env: Env, deployments: list[tuple[str, str]], timeout: float,
                    watch: bool = True) -> None:
    """Until each Deployment is rolled out, showing its progress: one line rewritten in place on
    a terminal, each new message on its own line otherwise (as kubectl)."""
    live = sys.stdout.isatty()
    deadline = time.monotonic() + timeout
    for namespace, name in deployments:
        last = ""
        while True:
            d = env.client.get("deployments", name, namespace)
            done, message = rollouts.deployment_status(typed(Deployment, d))
            if message != last:
                if live and not done:
                    click.echo(f"\r\033[K{message}", nl=False)
                else:
                    click.echo(("\r\033[K" if live else "") + message)
                last = message
            if done or not watch:
                break
            if time.monotonic() > deadline:
                if live:
                    click.echo()
                raise click.ClickException(f"timed out waiting for the condition "
                                           f"(deployment {name!r}: {message})")
            time.sleep(0.5)


@rollout.command("status")
@click.argument("args", nargs=-1, required=True, shell_complete=complete_resource)
@click.option("-w", "--watch", type=bool, default=True, show_default=True,
              help="Wait until the rollout is done (false: print the status once).")
@click.option("--timeout", default=600.0, show_default=True, type=DURATION, metavar="DURATION")
@namespace_option
@pass_env
def rollout_status(env: Env, args: tuple[str, ...], watch: bool, timeout: float) -> None:
    """Show a Deployment's rollout until it is done (exit 1 if it fails or times out)."""
    _, name = _target(env, args, ("deployments",))
    wait_rolled_out(env, [(env.namespace, name)], timeout, watch)


@rollout.command("history")
@click.argument("args", nargs=-1, required=True, shell_complete=complete_resource)
@click.option("--revision", type=int, default=0, help="Show this revision's pod template.")
@namespace_option
@pass_env
def rollout_history(env: Env, args: tuple[str, ...], revision: int) -> None:
    """The revisions of a Deployment and their change causes (kubernetes.io/change-cause)."""
    rt, name = _target(env, args, ("deployments",))
    d = env.client.get(rt.resource, name, env.namespace)
    sets = owned_by(d, env.client.list("replicasets", env.namespace).items)
    if revision:
        rs = next((r for r in sets if revision_of(r) == revision), None)
        if rs is None:
            raise click.ClickException(f"unable to find the specified revision {revision}")
        w = describing.Writer()
        describing.template(w, PodTemplateSpec.model_validate(
            template_without_hash(rs["spec"]["template"])), printers.now_utc())
        click.echo(f"{printers.qualified(rt)}/{name} with revision #{revision}")
        click.echo(w.text(), nl=False)
        return
    click.echo(f"{printers.qualified(rt)}/{name}")
    history = rollouts.history(typed_all(ReplicaSet, sets))
    rows = [["REVISION", "CHANGE-CAUSE"]] + [[str(r), c] for r, c in history]
    click.echo(printers.format_rows(rows))


@rollout.command("undo")
@click.argument("args", nargs=-1, required=True, shell_complete=complete_resource)
@click.option("--to-revision", type=int, default=0, show_default=True,
              help="The revision to go back to (0: the one before the current).")
@namespace_option
@pass_env
def rollout_undo(env: Env, args: tuple[str, ...], to_revision: int) -> None:
    """Roll a Deployment back to an earlier revision's pod template."""
    rt, name = _target(env, args, ("deployments",))
    skipped: list[str] = []

    def change(d: Object) -> bool:
        sets = owned_by(d, env.client.list("replicasets", env.namespace).items)
        try:
            template = rollback_template(sets, to_revision, revision_of(d) or None)
        except LookupError as e:
            raise click.ClickException(str(e)) from None
        if template == template_without_hash(d["spec"]["template"]):
            skipped.append("the current template already matches that revision")
            return False
        d["spec"]["template"] = template
        return True

    if _read_modify_write(env, rt, name, change):
        click.echo(f"{printers.qualified(rt)}/{name} rolled back")
    else:
        click.echo(f"{printers.qualified(rt)}/{name} skipped rollback ({skipped[0]})")


@rollout.command("restart")
@click.argument("args", nargs=-1, required=True, shell_complete=complete_resource)
@namespace_option
@pass_env
def rollout_restart(env: Env, args: tuple[str, ...]) -> None:
    """Replace every pod of a Deployment, by a rolling update of the same template."""
    rt, name = _target(env, args, ("deployments",))
    patch = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: now_rfc3339()}}}}}
    env.client.patch(rt.resource, name, patch, env.namespace)
    click.echo(f"{printers.qualified(rt)}/{name} restarted")


def _pause_command(verb: str, paused: bool):
    @rollout.command(verb, help="Stop rolling out template changes (scaling still happens)."
                     if paused else "Roll out the changes made while paused.")
    @click.argument("args", nargs=-1, required=True, shell_complete=complete_resource)
    @namespace_option
    @pass_env
    def command(env: Env, args: tuple[str, ...]) -> None:
        rt, name = _target(env, args, ("deployments",))
        d = env.client.get(rt.resource, name, env.namespace)
        if bool(d["spec"].get("paused")) == paused:
            state = "is already paused" if paused else "is not paused"
            raise click.ClickException(f'{printers.qualified(rt)} "{name}" {state}')
        env.client.patch(rt.resource, name, {"spec": {"paused": paused}}, env.namespace)
        click.echo(f"{printers.qualified(rt)}/{name} {verb}d")

    return command


_pause_command("pause", True)
_pause_command("resume", False)


# --- set image ---

@click.group("set")
def set_() -> None:
    """Change a field of workloads."""


@set_.command("image")
@click.argument("args", nargs=-1, required=True, shell_complete=complete_resource)
@namespace_option
@pass_env
def set_image(env: Env, args: tuple[str, ...]) -> None:
    """Change container images: set image deploy/web web=orch/web:2 [sidecar=…] ('*=IMAGE':
    every container). A Deployment then rolls out the change."""
    targets = tuple(a for a in args if "=" not in a)
    images = dict(a.split("=", 1) for a in args if "=" in a)
    if not images:
        raise resources.UsageError("give at least one CONTAINER=IMAGE")
    rt, name = _target(env, targets, ("deployments", "replicasets", "pods"))

    def change(obj: Object) -> bool:
        spec = obj["spec"]["template"]["spec"] if rt.resource != "pods" else obj["spec"]
        names = [c["name"] for c in spec["containers"]]
        for container in images:
            if container != "*" and container not in names:
                raise click.ClickException(f'unable to find container named "{container}" '
                                           f"(containers: {', '.join(names)})")
        changed = False
        for c in spec["containers"]:
            image = images.get(c["name"], images.get("*"))
            if image and c.get("image") != image:
                c["image"] = image
                changed = True
        return changed

    updated = _read_modify_write(env, rt, name, change)
    click.echo(f"{printers.qualified(rt)}/{name} {'image updated' if updated else 'unchanged'}")


COMMANDS = [scale, rollout, set_]
