"""patch, diff, wait: kubectl's commands of the same names, through the API."""

from __future__ import annotations

import difflib
import json
import sys
import time
from collections.abc import Callable

import click
import yaml

from kube.client import ApiError
from kube.conditions import condition
from kube.objects import Object
from orchestrator.cli import apply as applying
from orchestrator.cli import jsonpath, manifests, printers, resources
from orchestrator.cli.cmd_objects import _each, dry_run_mode, dry_run_option
from orchestrator.cli.common import complete_resource, get_or_none, namespace_option
from orchestrator.cli.durations import DURATION
from orchestrator.cli.env import Env, pass_env

PATCH_TYPES = {"strategic": "application/strategic-merge-patch+json",
               "merge": "application/merge-patch+json", "json": "application/json-patch+json"}


# --- patch ---

@click.command()
@click.argument("args", nargs=-1, required=True, shell_complete=complete_resource)
@click.option("-p", "--patch", "patch_text", required=True, metavar="PATCH",
              help="The patch, as JSON or YAML.")
@click.option("--type", "patch_type", type=click.Choice(list(PATCH_TYPES)),
              default="strategic", show_default=True,
              help="strategic merge (lists merged by their keys), JSON merge, or JSON patch.")
@click.option("--subresource", type=click.Choice(["status", "scale"]),
              help="Patch this subresource instead.")
@dry_run_option
@namespace_option
@pass_env
def patch(env: Env, args: tuple[str, ...], patch_text: str, patch_type: str,
          subresource: str | None, dry_run: str) -> None:
    """Change fields of objects: patch TYPE NAME -p PATCH [--type strategic|merge|json]."""
    try:
        body = yaml.safe_load(patch_text)
    except yaml.YAMLError as e:
        raise resources.UsageError(f"the patch is not JSON or YAML: {e}") from None
    if patch_type == "json" and not isinstance(body, list):
        raise resources.UsageError("a JSON patch is a list of operations")
    if patch_type != "json" and not isinstance(body, dict):
        raise resources.UsageError(f"a {patch_type} patch is an object")
    suffix = dry_run_mode(env, dry_run)
    for sel in resources.parse(args, allow_all=False):
        if not sel.names:
            raise resources.UsageError(f"patch needs a name for {sel.rt.resource}")
        namespace = env.namespace if sel.rt.namespaced else None
        for name in sel.names:
            before = env.client.get(sel.rt.resource, name, namespace, subresource)
            after = before if dry_run == "client" else env.client.patch(
                sel.rt.resource, name, body, namespace, subresource, PATCH_TYPES[patch_type])
            outcome = "patched" if after != before or dry_run == "client" else \
                "patched (no change)"
            click.echo(f"{printers.qualified(sel.rt)}/{name} {outcome}{suffix}")


# --- diff ---

@click.command()
@click.option("-f", "--filename", multiple=True, required=True, metavar="FILE|DIR|-")
@click.option("-R", "--recursive", is_flag=True)
@namespace_option
@pass_env
def diff(env: Env, filename: tuple[str, ...], recursive: bool) -> None:
    """Show what `apply -f` would change, as a unified diff of the live objects against what
    the server would store (a server-side dry run: defaults, validation and admission
    included). Exit 0 when nothing would change, 1 when something would, >1 on an error."""
    env.client.dry_run = True
    changed = False

    def act(m: manifests.Manifest, namespace: str | None) -> None:
        nonlocal changed
        config = applying.configuration(m.obj, namespace)
        live = get_or_none(env, m.rt, m.name, namespace)
        if live is None:
            merged = env.client.create(m.rt.resource, applying.with_last_applied(config),
                                       namespace)
        else:
            patch_body = applying.apply_patch(config, live)
            merged = env.client.patch(m.rt.resource, m.name, patch_body, namespace) \
                if patch_body else live
        text = _diff(m, live, merged)
        if text:
            changed = True
            click.echo(text, nl=False)

    failures = _each(env, manifests.read(filename, recursive), act)
    for failure in failures:
        click.echo(failure, err=True)
    sys.exit(2 if failures else 1 if changed else 0)


MASKED = ("managedFields", "resourceVersion", "generation")


def _shown(obj: Object | None) -> list[str]:
    """An object as diff shows it: YAML, without what changes on every write."""
    if obj is None:
        return []
    shown = json.loads(json.dumps(obj))
    for key in MASKED:
        (shown.get("metadata") or {}).pop(key, None)
    return printers.to_yaml(shown).splitlines(keepends=True)


def _diff(m: manifests.Manifest, live: Object | None, merged: Object) -> str:
    name = f"{m.rt.api_version.replace('/', '.')}.{m.rt.kind}.{m.name}"
    return "".join(difflib.unified_diff(_shown(live), _shown(merged), f"LIVE/{name}",
                                        f"MERGED/{name}"))


# --- wait ---

@click.command()
@click.argument("args", nargs=-1, required=True, shell_complete=complete_resource)
@click.option("--for", "for_", required=True, metavar="CONDITION",
              help="condition=NAME[=VALUE] (VALUE default True), delete, or "
                   "jsonpath={EXPRESSION}=VALUE.")
@click.option("--timeout", default=30.0, show_default=True, type=DURATION, metavar="DURATION")
@namespace_option
@pass_env
def wait(env: Env, args: tuple[str, ...], for_: str, timeout: float) -> None:
    """Wait until objects meet a condition: wait TYPE/NAME… --for=condition=Available."""
    test = _waiting_for(for_)
    deadline = time.monotonic() + timeout
    for sel in resources.parse(args, allow_all=False):
        namespace = env.namespace if sel.rt.namespaced else None
        names = list(sel.names) or [o["metadata"]["name"] for o in
                                    env.client.list(sel.rt.resource, namespace).items]
        for name in names:
            label = f"{printers.qualified(sel.rt)}/{name}"
            while True:
                obj = get_or_none(env, sel.rt, name, namespace)
                if test(obj):
                    click.echo(f"{label} {'deleted' if for_ == 'delete' else 'condition met'}")
                    break
                if obj is None and for_ != "delete":
                    raise ApiError(404, "NotFound", f'{sel.rt.resource} "{name}" not found')
                if time.monotonic() > deadline:
                    click.echo(f"error: timed out waiting for the condition on {label}",
                               err=True)
                    sys.exit(1)
                time.sleep(0.5)


def _waiting_for(spec: str) -> Callable[[Object | None], bool]:
    """The test `--for` names: the object (None once it is gone) → met."""
    if spec == "delete":
        return lambda obj: obj is None
    kind, _, rest = spec.partition("=")
    if kind == "condition" and rest:
        name, _, value = rest.partition("=")
        wanted = value or "True"
        return lambda obj: obj is not None and (condition(obj, name) or {}).get(
            "status", "").lower() == wanted.lower()
    if kind == "jsonpath" and rest:
        expr, sep, value = rest.rpartition("=")
        if not sep or not expr:
            raise resources.UsageError("--for=jsonpath={EXPRESSION}=VALUE")
        expr = expr.strip()
        if expr.startswith("{") and expr.endswith("}"):
            expr = expr[1:-1]
        try:
            jsonpath.evaluate(expr, {})
        except jsonpath.JSONPathError as e:
            raise resources.UsageError(f"--for: {e}") from None
        return lambda obj: obj is not None and [jsonpath.text(v) for v in
                                                jsonpath.evaluate(expr, obj)] == [value]
    raise resources.UsageError(f"--for={spec!r}: use condition=NAME[=VALUE], delete or "
                               "jsonpath={EXPRESSION}=VALUE")


COMMANDS = [patch, diff, wait]
