"""config, version, cluster-info, api-resources, completion."""

from __future__ import annotations

import click

from kube.registry import RESOURCES
from orchestrator import __version__
from orchestrator.cli import config as cfg
from orchestrator.cli import printers
from orchestrator.cli.env import Env, pass_env

# --- config ---

@click.group("config")
def config_group() -> None:
    """Show and change the configuration file (contexts: server, CA, token, namespace)."""

@config_group.command("view")
@click.option("--raw", is_flag=True, help="Show tokens and embedded certificates too.")
@click.option("--minify", is_flag=True, help="Only what the current context uses.")
@pass_env
def config_view(env: Env, raw: bool, minify: bool) -> None:
    """Print the configuration (tokens redacted)."""
    config = env.config(missing_ok=True)
    if minify:
        current = env.context_override or config.get("current-context")
        context = next((c for c in config["contexts"] if c["name"] == current), None)
        if context is None:
            raise cfg.ConfigError(f"{env.config_path}: no current context to minify")
        body = context.get("context") or {}
        config = {**config, "current-context": current, "contexts": [context],
                  "clusters": [c for c in config["clusters"] if c["name"] == body.get("cluster")],
                  "users": [u for u in config["users"] if u["name"] == body.get("user")]}
    click.echo(printers.to_yaml(config if raw else cfg.redacted(config)), nl=False)

@config_group.command("get-contexts")
@pass_env
def config_get_contexts(env: Env) -> None:
    """List the contexts; * marks the current one."""
    config = env.config(missing_ok=True)
    rows = [["CURRENT", "NAME", "CLUSTER", "AUTHINFO", "NAMESPACE"]]
    for c in config["contexts"]:
        body = c.get("context") or {}
        rows.append(["*" if c["name"] == config.get("current-context") else "", c["name"],
                     body.get("cluster", ""), body.get("user", ""), body.get("namespace", "")])
    click.echo(printers.format_rows(rows))

@config_group.command("current-context")
@pass_env
def config_current_context(env: Env) -> None:
    current = env.config().get("current-context")
    if not current:
        raise cfg.ConfigError(f"{env.config_path}: current-context is not set")
    click.echo(current)

@config_group.command("use-context")
@click.argument("name")
@pass_env
def config_use_context(env: Env, name: str) -> None:
    """Make NAME the current context."""
    config = env.config()
    if not any(c["name"] == name for c in config["contexts"]):
        raise cfg.ConfigError(f"{env.config_path}: no context {name!r} (contexts: "
                              f"{', '.join(c['name'] for c in config['contexts']) or 'none'})")
    config["current-context"] = name
    cfg.save(env.config_path, config)
    click.echo(f'Switched to context "{name}".')

@config_group.command("set-context")
@click.argument("name", required=False)
@click.option("--current", is_flag=True, help="Change the current context.")
@click.option("--namespace", "namespace_", metavar="NS", help="Its default namespace.")
@pass_env
def config_set_context(env: Env, name: str | None, current: bool,
                       namespace_: str | None) -> None:
    """Change a context's default namespace: set-context --current --namespace=NS."""
    config = env.config()
    name = config.get("current-context") if current else name
    context = next((c for c in config["contexts"] if c["name"] == name), None)
    if context is None:
        raise cfg.ConfigError(f"{env.config_path}: no context {name!r}")
    if namespace_:
        context.setdefault("context", {})["namespace"] = namespace_
    cfg.save(env.config_path, config)
    click.echo(f'Context "{name}" modified.')

# --- version, cluster-info, api-resources ---

@click.command()
@click.option("--client", "client_only", is_flag=True, help="Only orchctl's own version.")
@pass_env
def version(env: Env, client_only: bool) -> None:
    """orchctl's version and the API server's."""
    click.echo(f"Client Version: {__version__}")
    if client_only:
        return
    server = env.client.request("GET", "/version").json()
    click.echo(f"Server Version: {server.get('orchestrator', '?')} "
               f"(API {server.get('gitVersion', '?')})")

@click.command("cluster-info")
@pass_env
def cluster_info(env: Env) -> None:
    """Where the control plane and the cluster's services are."""
    env.client.request("GET", "/readyz")
    click.echo(f"Control plane is running at {env.client.server}")
    nodes = env.client.list("nodes").items
    ready = [n for n in nodes if printers.node_status(n).startswith("Ready")]
    click.echo(f"Nodes: {len(ready)} of {len(nodes)} Ready")
    click.echo("Cluster DNS is served by the node agent of every node, on its pod network "
               "gateway (x.x.x.1:53), for *.svc.cluster.local")
    kubernetes = env.client.list("services", "default",
                                 field_selector="metadata.name=kubernetes").items
    if kubernetes:
        click.echo(f"Service default/kubernetes at {kubernetes[0]['spec'].get('clusterIP')}")

@click.command("api-resources")
def api_resources() -> None:
    """The resource types this API serves, with their short names."""
    rows = [["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]]
    for rt in RESOURCES:
        rows.append([rt.resource, ",".join(rt.short_names), rt.api_version,
                     str(rt.namespaced).lower(), rt.kind])
    click.echo(printers.format_rows(rows))

# --- completion ---

@click.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell completion script: `source <(orchctl completion bash)`.

    Completes commands, options, resource types and, from the API, object names."""
    from click.shell_completion import get_completion_class

    from orchestrator.cli.main import cli
    completion_class = get_completion_class(shell)
    assert completion_class is not None
    script = completion_class(cli, {}, "orchctl", "_ORCHCTL_COMPLETE").source()
    click.echo(script)

COMMANDS = [config_group, version, cluster_info, api_resources, completion]
