"""Pieces the orchctl commands share: the per-command -n/-A flags, shell completion of resource
types and names, listing, waiting, and printing tables."""

from __future__ import annotations

import time
from collections.abc import Callable

import click

from kube.client import ApiError
from kube.objects import Object
from kube.ownership import controller_uid_of
from kube.registry import RESOURCES, ResourceType
from kube.typed import metadata_of
from orchestrator.cli import printers
from orchestrator.cli.env import Env


def namespace_option(fn: Callable) -> Callable:
    """-n after the command, as users type it (`orchctl get pods -n kube-system`)."""

    def remember(ctx: click.Context, _: click.Parameter, value: str | None) -> str | None:
        if value:
            ctx.ensure_object(Env).namespace_override = value
        return value

    return click.option("-n", "--namespace", "namespace_", metavar="NS", expose_value=False,
                        callback=remember, help="The namespace (default: the context's).")(fn)


def all_namespaces_option(fn: Callable) -> Callable:
    return click.option("-A", "--all-namespaces", is_flag=True,
                        help="Every namespace (a NAMESPACE column is added).")(fn)


# --- shell completion ---

def complete_resource(ctx: click.Context, _: click.Parameter, incomplete: str) -> list:
    """A resource type first, then names of that type (read from the API, best effort)."""
    from click.shell_completion import CompletionItem
    words = ctx.params.get("args") or ()
    if not words:
        names = sorted({n for r in RESOURCES for n in (r.resource, *r.short_names)})
        return [CompletionItem(n) for n in names if n.startswith(incomplete)]
    try:
        from orchestrator.cli.resources import resource_type
        rt = resource_type(words[0])
        env = ctx.find_root().obj or Env(None, None, None, None, None, 5)
        items = env.client.list(rt.resource, env.namespace if rt.namespaced else None).items
    except Exception:  # noqa: BLE001 - completion must never fail loudly
        return []
    return [CompletionItem(o["metadata"]["name"]) for o in items
            if o["metadata"]["name"].startswith(incomplete)]


# --- reading ---

def get_or_none(env: Env, rt: ResourceType, name: str, namespace: str | None) -> Object | None:
    try:
        return env.client.get(rt.resource, name, namespace if rt.namespaced else None)
    except ApiError as e:
        if e.code == 404:
            return None
        raise


def not_found(rt: ResourceType, name: str) -> str:
    return f'Error from server (NotFound): {rt.resource}{"." + rt.group if rt.group else ""} ' \
           f'"{name}" not found'


def owned_by(owner: Object, objects: list[Object]) -> list[Object]:
    """The objects `owner` controls (a Deployment's ReplicaSets, a ReplicaSet's pods)."""
    uid = metadata_of(owner).uid
    return [o for o in objects if controller_uid_of(metadata_of(o)) == uid]


def events_for(env: Env, obj: Object, rt: ResourceType) -> list[Object]:
    meta = metadata_of(obj)
    selector = f"involvedObject.name={meta.name},involvedObject.kind={rt.kind}"
    events = env.client.list("events", meta.namespace or "default", field_selector=selector).items
    return [e for e in events if (e.get("involvedObject") or {}).get("uid") in (None, "", meta.uid)]


# --- waiting ---

def wait_until(condition: Callable[[], bool], timeout: float, what: str,
               interval: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise click.ClickException(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


def wait_deleted(env: Env, rt: ResourceType, obj: Object, timeout: float) -> None:
    meta = metadata_of(obj)

    def gone() -> bool:
        live = get_or_none(env, rt, meta.name or "", meta.namespace)
        return live is None or metadata_of(live).uid != meta.uid

    wait_until(gone, timeout, f'{printers.qualified(rt)} "{meta.name}" to be deleted')


# --- output ---

def echo_table(rows: list[list[str]]) -> None:
    if rows:
        click.echo(printers.format_rows(rows))


def no_resources(env: Env, all_namespaces: bool, rt: ResourceType | None = None) -> None:
    if all_namespaces or (rt is not None and not rt.namespaced):
        click.echo("No resources found", err=True)
    else:
        click.echo(f"No resources found in {env.namespace} namespace.", err=True)
