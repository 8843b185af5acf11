"""get, describe, apply, create, delete, label, annotate."""

from __future__ import annotations

import sys
from collections.abc import Callable

from typing import Any

import click

from kube.client import ApiError, ApiUnavailable, ObjectList
from kube.informer import Informer
from kube.objects import Object
from kube.registry import ResourceType
from orchestrator.cli.durations import DURATION
from orchestrator.cli import apply as applying
from orchestrator.cli import describe as describing
from orchestrator.cli import jsonpath, manifests, printers, resources
from orchestrator.cli.common import (all_namespaces_option, complete_resource, echo_table,
                                     events_for, get_or_none, namespace_option, no_resources,
                                     not_found, owned_by, wait_deleted)
from orchestrator.cli.env import Env, pass_env

class OutputFormat(click.ParamType):
    """-o: wide, yaml, json, name, jsonpath=TEMPLATE, custom-columns=SPEC (checked here)."""

    name = "output"
    FIXED = ("wide", "yaml", "json", "name")

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> str:
        value = str(value)
        kind, _, body = value.partition("=")
        try:
            if kind == "jsonpath" and body:
                jsonpath.render(body, {})  # a syntax error is a usage error, before any call
                return value
            if kind == "custom-columns" and body:
                jsonpath.custom_columns(body)
                return value
        except jsonpath.JSONPathError as e:
            self.fail(f"{kind}: {e}", param, ctx)
        if value in self.FIXED:
            return value
        self.fail(f"unknown output format {value!r}: use one of {', '.join(self.FIXED)}, "
                  "jsonpath=TEMPLATE or custom-columns=SPEC", param, ctx)


OUTPUTS = OutputFormat()


dry_run_option = click.option(
    "--dry-run", "dry_run", type=click.Choice(["none", "server", "client"]), default="none",
    show_default=True, help="server: the API checks everything and stores nothing; client: "
    "print what would be sent, send nothing.")


def dry_run_mode(env: Env, dry_run: str) -> str:
    """Set the client up for `--dry-run`; the suffix kubectl prints after each outcome."""
    env.client.dry_run = dry_run == "server"
    return {"none": "", "server": " (server dry run)", "client": " (dry run)"}[dry_run]


def _namespace_for(env: Env, m: manifests.Manifest) -> str | None:
    """The namespace an object from a file goes to; a clash with an explicit -n is an error."""
    if not m.rt.namespaced:
        return None
    declared = m.obj["metadata"].get("namespace")
    if declared and env.namespace_override and declared != env.namespace_override:
        raise manifests.ManifestError(
            f"{m.where}: the namespace from the provided object ({declared}) does not match the "
            f"namespace given with -n ({env.namespace_override}): remove one of them")
    return declared or env.namespace


def _label(m: manifests.Manifest) -> str:
    return f"{printers.qualified(m.rt)}/{m.name}"


def _api_failure(m: manifests.Manifest, e: ApiError) -> str:
    if isinstance(e, ApiUnavailable):
        raise e  # the server is gone: stop, nothing else will work
    return f"error: {m.where}, {_label(m)}: Error from server ({e.reason}): {e.message}"


# --- get ---

@click.command()
@click.argument("args", nargs=-1, shell_complete=complete_resource)
@click.option("-o", "--output", type=OUTPUTS, help="wide: more columns; yaml, json; name; "
              "jsonpath=TEMPLATE ({.metadata.name}); custom-columns=NAME:.metadata.name,…")
@click.option("-l", "--selector", metavar="SELECTOR", help="Label selector (app=web,tier!=db).")
@click.option("--field-selector", metavar="SELECTOR", help="Field selector "
              "(spec.nodeName=host1, status.phase=Running).")
@click.option("-w", "--watch", is_flag=True, help="After listing, print changes as they happen.")
@click.option("--show-labels", is_flag=True, help="A LABELS column.")
@click.option("--no-headers", is_flag=True, help="Rows only.")
@click.option("-f", "--filename", multiple=True, metavar="FILE",
              help="The objects named in these manifests.")
@click.option("--show-managed-fields", is_flag=True,
              help="Keep metadata.managedFields in yaml and json (hidden, as by kubectl).")
@all_namespaces_option
@namespace_option
@pass_env
def get(env: Env, args: tuple[str, ...], output: str | None, selector: str | None,
        field_selector: str | None, watch: bool, show_labels: bool, no_headers: bool,
        filename: tuple[str, ...], show_managed_fields: bool, all_namespaces: bool) -> None:
    """Show objects: TYPE [NAME…], TYPE/NAME…, TYPE1,TYPE2, `all`, or -f FILE.

    \b
    orchctl get pods -o wide
    orchctl get deploy,svc -l app=web
    orchctl get pod/web-5d8c-x2x9k -o yaml
    orchctl get nodes -w"""
    if filename:
        selections = [resources.Selection(m.rt, (m.name,)) for m in manifests.read(filename)]
    else:
        selections = resources.parse(args)
    if watch and len({s.rt for s in selections}) != 1:
        raise resources.UsageError("--watch takes one resource type")
    failures: list[str] = []
    found: list[tuple[ResourceType, Object]] = []
    list_version = ""
    for sel in selections:
        namespace = None if all_namespaces or not sel.rt.namespaced else env.namespace
        if sel.names:
            for name in sel.names:
                obj = get_or_none(env, sel.rt, name, namespace)
                if obj is None:
                    failures.append(not_found(sel.rt, name))
                else:
                    found.append((sel.rt, obj))
        else:
            listed = env.client.list(sel.rt.resource, namespace, selector, field_selector)
            list_version = listed.resource_version
            found += [(sel.rt, o) for o in listed.items]
    if not show_managed_fields:
        found = [(rt, printers.without_managed_fields(o)) for rt, o in found]
    _print_objects(env, selections, found, output, all_namespaces, show_labels, no_headers,
                   single=len(selections) == 1 and len(selections[0].names) == 1)
    for failure in failures:
        click.echo(failure, err=True)
    if watch:
        sel = selections[0]
        names = sel.names
        _watch(env, sel.rt, None if all_namespaces or not sel.rt.namespaced else env.namespace,
               selector, f"metadata.name={names[0]}" if len(names) == 1 else field_selector,
               ObjectList([o for rt, o in found if rt == sel.rt], list_version), output,
               all_namespaces, show_labels)
    if failures:
        sys.exit(1)


def _print_objects(env: Env, selections: list[resources.Selection],
                   found: list[tuple[ResourceType, Object]], output: str | None,
                   all_namespaces: bool, show_labels: bool, no_headers: bool,
                   single: bool) -> None:
    if output and output.startswith(("jsonpath=", "custom-columns=")):
        _print_templated(output, [o for _, o in found], single, no_headers)
        return
    if output in ("yaml", "json"):
        objects = [o for _, o in found]
        if not objects and not single:
            no_resources(env, all_namespaces, selections[0].rt)
            return
        doc = objects[0] if single and objects else printers.as_list(objects)
        if single and not objects:
            return
        click.echo(printers.to_yaml(doc) if output == "yaml" else printers.to_json(doc),
                   nl=output == "json")
        return
    if output == "name":
        for rt, obj in found:
            click.echo(printers.name_of(rt, obj))
        return
    if not found:
        if not any(s.names for s in selections):
            no_resources(env, all_namespaces, selections[0].rt)
        return
    kinds = list(dict.fromkeys(rt for rt, _ in found))
    now = printers.now_utc()
    for i, rt in enumerate(kinds):
        objects = [o for r, o in found if r == rt]
        rows = printers.table_rows(rt, objects, now, wide=output == "wide",
                                   all_namespaces=all_namespaces, show_labels=show_labels,
                                   header=not no_headers)
        if len(kinds) > 1:  # several kinds: names say which (pod/web-1), a blank line between
            first = 1 if not no_headers else 0
            for row in rows[first:]:
                name_col = 1 if all_namespaces else 0
                row[name_col] = f"{printers.qualified(rt)}/{row[name_col]}"
            if i:
                click.echo()
        echo_table(rows)


def _print_templated(output: str, objects: list[Object], single: bool,
                     no_headers: bool) -> None:
    """-o jsonpath= (over the object, or a List of them) and -o custom-columns=, as kubectl."""
    kind, _, body = output.partition("=")
    try:
        if kind == "jsonpath":
            doc = objects[0] if single and objects else printers.as_list(objects)
            if single and not objects:
                return
            click.echo(jsonpath.render(body, doc), nl=False)
            return
        columns = jsonpath.custom_columns(body)
        rows = [[jsonpath.column_value(expr, o) for _, expr in columns] for o in objects]
    except jsonpath.JSONPathError as e:
        raise resources.UsageError(f"{kind}: {e}") from None
    echo_table(([[header for header, _ in columns]] if not no_headers else []) + rows)


def _watch(env: Env, rt: ResourceType, namespace: str | None, selector: str | None,
           field_selector: str | None, printed: ObjectList, output: str | None,
           all_namespaces: bool, show_labels: bool) -> None:
    """Print each change after what `printed` holds as a row (or a document), until interrupted.
    An informer does the watching: it reconnects when the server ends the stream, and after a
    410 lists again and prints only what changed meanwhile."""
    def show(obj: Object) -> None:
        obj = printers.without_managed_fields(obj)
        if output and output.startswith(("jsonpath=", "custom-columns=")):
            _print_templated(output, [obj], True, True)
            return
        if output in ("yaml", "json"):
            click.echo(("---\n" + printers.to_yaml(obj)) if output == "yaml"
                       else printers.to_json(obj))
        elif output == "name":
            click.echo(printers.name_of(rt, obj))
        else:
            row = printers.table_rows(rt, [obj], printers.now_utc(), wide=output == "wide",
                                      all_namespaces=all_namespaces, show_labels=show_labels,
                                      header=False)[0]
            click.echo(printers.format_rows([row]))

    informer = Informer(env.client, rt.resource, namespace, selector, field_selector)
    informer.add_handler(on_add=show, on_update=lambda _old, new: show(new), on_delete=show)
    try:
        informer.run(initial=printed, fail_fast=True)
    except KeyboardInterrupt:
        return


# --- describe ---

@click.command()
@click.argument("args", nargs=-1, required=True, shell_complete=complete_resource)
@click.option("-l", "--selector", metavar="SELECTOR", help="Every object matching it.")
@all_namespaces_option
@namespace_option
@pass_env
def describe(env: Env, args: tuple[str, ...], selector: str | None,
             all_namespaces: bool) -> None:
    """Show an object in detail, with its events: TYPE [NAME_PREFIX] or TYPE/NAME."""
    selections = resources.parse(args, allow_all=False)
    texts: list[str] = []
    for sel in selections:
        namespace = None if all_namespaces or not sel.rt.namespaced else env.namespace
        objects: list[Object] = []
        if sel.names:
            for name in sel.names:
                obj = get_or_none(env, sel.rt, name, namespace)
                if obj is not None:
                    objects.append(obj)
                    continue
                matches = [o for o in env.client.list(sel.rt.resource, namespace).items
                           if o["metadata"]["name"].startswith(name)]  # kubectl's prefix match
                if not matches:
                    raise click.ClickException(not_found(sel.rt, name))
                objects += matches
        else:
            objects = env.client.list(sel.rt.resource, namespace, selector).items
        for obj in objects:
            texts.append(describing.describe(sel.rt, obj, events_for(env, obj, sel.rt),
                                             printers.now_utc(), _related(env, sel.rt, obj)))
    if not texts:
        no_resources(env, all_namespaces, selections[0].rt)
    click.echo("\n\n".join(t.rstrip("\n") for t in texts))


def _related(env: Env, rt: ResourceType, obj: Object) -> dict[str, list[Object]]:
    meta = obj["metadata"]
    ns = meta.get("namespace")
    if rt.resource == "deployments":
        return {"replicasets": owned_by(obj, env.client.list("replicasets", ns).items)}
    if rt.resource == "replicasets":
        return {"pods": owned_by(obj, env.client.list("pods", ns).items)}
    if rt.resource == "services":
        endpoints = get_or_none(env, resources.resource_type("endpoints"), meta["name"], ns)
        return {"endpoints": [endpoints] if endpoints else []}
    if rt.resource == "nodes":
        return {"pods": env.client.list("pods", field_selector=f"spec.nodeName={meta['name']}"
                                        ).items}
    return {}


# --- apply / create ---

def _each(env: Env, found: list[manifests.Manifest],
          act: Callable[[manifests.Manifest, str | None], None]) -> list[str]:
    """`act(manifest, namespace)` for every object, namespaces first (what follows may live in
    them), otherwise in the files' order. A failing object does not stop the others; the
    failures come back as lines naming the file, the document, the object and the cause."""
    failures: list[str] = []
    for m in sorted(found, key=lambda m: m.rt.resource != "namespaces"):
        try:
            act(m, _namespace_for(env, m))
        except manifests.ManifestError as e:
            failures.append(f"error: {e}")
        except ApiError as e:
            failures.append(_api_failure(m, e))
    return failures


@click.command()
@click.option("-f", "--filename", multiple=True, required=True, metavar="FILE|DIR|-",
              help="Manifests: a file, a directory of .yaml/.yml/.json, or - for stdin.")
@click.option("-R", "--recursive", is_flag=True, help="Also the directories' subdirectories.")
@click.option("--wait", "wait_", is_flag=True,
              help="Then wait until every Deployment applied is rolled out, showing progress.")
@dry_run_option
@click.option("--timeout", default=300.0, show_default=True, type=DURATION, metavar="DURATION",
              help="How long --wait waits.")
@namespace_option
@pass_env
def apply(env: Env, filename: tuple[str, ...], recursive: bool, wait_: bool,
          timeout: float, dry_run: str) -> None:
    """Create or update objects from manifests so that they match the files (idempotent).

    Reports `created`, `configured` or `unchanged` for each object. Fields removed from a file
    since the last apply are removed from the object; fields others set (replicas changed by
    `orchctl scale`, defaults) stay unless the file sets them."""
    deployments: list[tuple[str, str]] = []
    suffix = dry_run_mode(env, dry_run)

    def act(m: manifests.Manifest, namespace: str | None) -> None:
        config = applying.configuration(m.obj, namespace)
        live = get_or_none(env, m.rt, m.name, namespace)
        if live is None:
            if dry_run != "client":
                env.client.create(m.rt.resource, applying.with_last_applied(config), namespace)
            outcome = "created"
        else:
            patch = applying.apply_patch(config, live)
            if patch and dry_run != "client":
                env.client.patch(m.rt.resource, m.name, patch, namespace)
            outcome = "configured" if patch else "unchanged"
        click.echo(f"{_label(m)} {outcome}{suffix}")
        if m.rt.resource == "deployments":
            deployments.append((namespace or "default", m.name))

    failures = _each(env, manifests.read(filename, recursive), act)
    for failure in failures:
        click.echo(failure, err=True)
    if wait_ and deployments and dry_run == "none":
        from orchestrator.cli.cmd_workloads import wait_rolled_out
        wait_rolled_out(env, deployments, timeout)
    if failures:
        sys.exit(1)


@click.command()
@click.option("-f", "--filename", multiple=True, required=True, metavar="FILE|DIR|-")
@click.option("-R", "--recursive", is_flag=True)
@click.option("--save-config", is_flag=True,
              help="Record the configuration, so that a later apply can compute removals.")
@dry_run_option
@namespace_option
@pass_env
def create(env: Env, filename: tuple[str, ...], recursive: bool, save_config: bool,
           dry_run: str) -> None:
    """Create objects from manifests (an object that exists is an error)."""
    suffix = dry_run_mode(env, dry_run)

    def act(m: manifests.Manifest, namespace: str | None) -> None:
        body = applying.configuration(m.obj, namespace)
        if dry_run == "client":
            click.echo(f"{printers.qualified(m.rt)}/{m.name} created{suffix}")
            return
        created = env.client.create(m.rt.resource, applying.with_last_applied(body)
                                    if save_config else body, namespace)
        click.echo(f"{printers.qualified(m.rt)}/{created['metadata']['name']} created{suffix}")

    failures = _each(env, manifests.read(filename, recursive), act)
    for failure in failures:
        click.echo(failure, err=True)
    if failures:
        sys.exit(1)


# --- delete ---

@click.command()
@click.argument("args", nargs=-1, shell_complete=complete_resource)
@click.option("-f", "--filename", multiple=True, metavar="FILE|DIR|-",
              help="Delete the objects these manifests describe.")
@click.option("-R", "--recursive", is_flag=True)
@click.option("-l", "--selector", metavar="SELECTOR", help="Every object of TYPE matching it.")
@click.option("--all", "all_", is_flag=True, help="Every object of TYPE in the namespace.")
@click.option("--grace-period", type=int, metavar="SECONDS",
              help="Seconds the containers get to stop (default: the pod's own).")
@click.option("--now", is_flag=True, help="Stop at once (grace period 1).")
@click.option("--cascade", type=click.Choice(["background", "foreground", "orphan"]),
              default="background", show_default=True,
              help="What happens to dependents (a Deployment's ReplicaSets and pods).")
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="Wait until the objects are gone.")
@click.option("--timeout", default=120.0, show_default=True, type=DURATION, metavar="DURATION")
@click.option("--ignore-not-found", is_flag=True, help="A missing object is not an error.")
@dry_run_option
@namespace_option
@pass_env
def delete(env: Env, args: tuple[str, ...], filename: tuple[str, ...], recursive: bool,
           selector: str | None, all_: bool, grace_period: int | None, now: bool, cascade: str,
           wait: bool, timeout: float, ignore_not_found: bool, dry_run: str) -> None:
    """Delete objects: -f FILE, TYPE NAME…, TYPE/NAME…, TYPE -l SELECTOR, TYPE --all."""
    targets: list[tuple[ResourceType, str, str | None]] = []
    if filename:
        if args:
            raise resources.UsageError("give either -f or TYPE NAME, not both")
        for m in manifests.read(filename, recursive):
            targets.append((m.rt, m.name, _namespace_for(env, m)))
    else:
        for sel in resources.parse(args, allow_all=False):
            namespace = env.namespace if sel.rt.namespaced else None
            if sel.names:
                targets += [(sel.rt, n, namespace) for n in sel.names]
            elif selector or all_:
                targets += [(sel.rt, o["metadata"]["name"], namespace) for o in
                            env.client.list(sel.rt.resource, namespace, selector).items]
            else:
                raise resources.UsageError(
                    f"resource(s) were provided, but no name was specified: give names, "
                    f"-l SELECTOR or --all ({sel.rt.resource})")
        if not targets:
            no_resources(env, False)
    grace = 1 if now else grace_period
    policy = cascade.capitalize()
    failures: list[str] = []
    deleted: list[tuple[ResourceType, Object]] = []
    suffix = dry_run_mode(env, dry_run)
    for rt, name, namespace in targets:
        try:
            live = env.client.get(rt.resource, name, namespace)
            if dry_run != "client":
                env.client.delete(rt.resource, name, namespace, grace, policy)
        except ApiError as e:
            if e.code == 404:
                if not ignore_not_found:
                    failures.append(not_found(rt, name))
                continue
            raise
        click.echo(f'{printers.qualified(rt)} "{name}" deleted{suffix}')
        deleted.append((rt, live))
    if wait and dry_run == "none":
        for rt, live in deleted:
            wait_deleted(env, rt, live, timeout)
    for failure in failures:
        click.echo(failure, err=True)
    if failures:
        sys.exit(1)


# --- label / annotate ---

def _parse_changes(words: tuple[str, ...], what: str) -> tuple[tuple[str, ...], dict]:
    """Split `TYPE NAME k=v k2-` into the resource words and the changes (None removes)."""
    changes: dict[str, str | None] = {}
    resource_words: list[str] = []
    for word in words:
        if "=" in word:
            key, _, value = word.partition("=")
            if not key:
                raise resources.UsageError(f"invalid {what} {word!r}: the key is empty")
            changes[key] = value
        elif word.endswith("-") and len(word) > 1 and resource_words:
            changes[word[:-1]] = None
        else:
            if changes:
                raise resources.UsageError(f"{word!r}: resources come before the {what}s")
            resource_words.append(word)
    if not changes:
        raise resources.UsageError(f"at least one {what} update is required (KEY=VALUE or KEY-)")
    return tuple(resource_words), changes


def _metadata_command(name: str, field: str, verb: str):
    singular = field[:-1]

    @click.command(name=name, help=f"Add, change (--overwrite) or remove (KEY-) {field} of "
                                       f"objects: TYPE NAME… KEY=VALUE… KEY-…")
    @click.argument("args", nargs=-1, required=True, shell_complete=complete_resource)
    @click.option("--overwrite", is_flag=True, help="Allow changing an existing value.")
    @click.option("-l", "--selector", metavar="SELECTOR", help="Every object of TYPE matching.")
    @click.option("--all", "all_", is_flag=True, help="Every object of TYPE in the namespace.")
    @namespace_option
    @pass_env
    def command(env: Env, args: tuple[str, ...], overwrite: bool, selector: str | None,
                all_: bool) -> None:
        words, changes = _parse_changes(args, singular)
        targets: list[tuple[ResourceType, Object]] = []
        for sel in resources.parse(words, allow_all=False):
            namespace = env.namespace if sel.rt.namespaced else None
            if sel.names:
                for name in sel.names:
                    obj = get_or_none(env, sel.rt, name, namespace)
                    if obj is None:
                        raise click.ClickException(not_found(sel.rt, name))
                    targets.append((sel.rt, obj))
            elif selector or all_:
                targets += [(sel.rt, o) for o in
                            env.client.list(sel.rt.resource, namespace, selector).items]
            else:
                raise resources.UsageError("give names, -l SELECTOR or --all")
        for rt, obj in targets:
            current = obj["metadata"].get(field) or {}
            for key, value in changes.items():
                if value is not None and key in current and current[key] != value \
                        and not overwrite:
                    raise click.ClickException(
                        f"{printers.name_of(rt, obj)}: '{key}' already has a value "
                        f"({current[key]}), and --overwrite is false")
            patch = {k: v for k, v in changes.items()
                     if (v is None and k in current) or (v is not None and current.get(k) != v)}
            if patch:
                env.client.patch(rt.resource, obj["metadata"]["name"],
                                 {"metadata": {field: patch}}, obj["metadata"].get("namespace"))
            click.echo(f"{printers.name_of(rt, obj)} {verb if patch else 'not ' + verb}")

    return command


label = _metadata_command("label", "labels", "labeled")
annotate = _metadata_command("annotate", "annotations", "annotated")

COMMANDS = [get, describe, apply, create, delete, label, annotate]
