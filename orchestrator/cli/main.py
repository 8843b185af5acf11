"""`orchctl`: the command line users live in, with kubectl's verbs, flags and output shapes.

It talks only to the API server, over TLS, with the server, CA, token and namespace of a context
in its configuration file (orchestrator/cli/config.py). The commands live by theme:

    cmd_objects.py    get, describe, apply, create, delete, label, annotate
    cmd_workloads.py  scale, rollout, set image
    cmd_pods.py       logs, exec, top
    cmd_nodes.py      cordon, uncordon, drain
    cmd_cluster.py    config, version, cluster-info, api-resources, completion

Every failure prints one `error: …` line (the server's own words for API errors, the file and
document for manifests, the server and the cause for connection problems) and exits 1.
"""

from __future__ import annotations

import sys
from typing import Any

import click
import requests

from kube.client import ApiError, ApiUnavailable
from orchestrator import __version__
from orchestrator.cli.durations import DURATION
from orchestrator.cli import config as cfg
from orchestrator.cli.env import Env
from orchestrator.cli.manifests import ManifestError
from orchestrator.cli.resources import UsageError
from orchestrator.cli.rollouts import RolloutFailed


def connection_reason(error: BaseException) -> str:
    """A short cause for a connection failure, from the requests exception underneath."""
    cause = error.__cause__ or error
    text = str(cause)
    if isinstance(cause, requests.exceptions.SSLError):
        if "CERTIFICATE_VERIFY_FAILED" in text:
            return "the server's TLS certificate is not signed by the configured CA"
        return f"TLS handshake failed ({text[:160]})"
    if isinstance(cause, requests.ConnectTimeout) or isinstance(cause, requests.Timeout):
        return "timed out"
    for needle, reason in (("Connection refused", "connection refused"),
                           ("No route to host", "no route to host"),
                           ("Name or service not known", "unknown host name"),
                           ("Connection reset", "connection reset by the server"),
                           ("RemoteDisconnected", "the server closed the connection")):
        if needle in text:
            return reason
    return text[:200]


def describe_error(error: Exception, env: Env | None) -> str:
    if isinstance(error, ApiUnavailable) and error.code == 0:
        where = ""
        if env is not None and env._resolved is not None:
            where = f' (context "{env._resolved.context}" in {env._resolved.source})'
        server = env.client.server if env is not None and env._client else "the API server"
        return f"cannot reach the API server at {server}: {connection_reason(error)}{where}"
    if isinstance(error, ApiError):
        return f"Error from server ({error.reason}): {error.message}"
    return f"error: {error}"


class OrchctlGroup(click.Group):
    """Turns every expected failure into one line on stderr and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.ClickException as e:
            if isinstance(e, click.UsageError):
                raise  # click shows the usage with it
            click.echo(f"error: {e.format_message()}", err=True)
            ctx.exit(1)
        except (ApiError, cfg.ConfigError, ManifestError, UsageError, RolloutFailed,
                OSError) as e:
            env = ctx.find_object(Env)
            message = describe_error(e, env)
            click.echo(message if message.startswith(("error:", "Error from server")) else
                       f"error: {message}", err=True)
            ctx.exit(1)


@click.group(cls=OrchctlGroup, context_settings={"help_option_names": ["-h", "--help"],
                                                 "max_content_width": 100})
@click.version_option(__version__, "--client-version", message="orchctl %(version)s")
@click.option("--kubeconfig", "--config", "config_path", metavar="FILE",
              help=f"Configuration file (else $KUBECONFIG, ${cfg.ENV_VAR}, ~/.orch/config, "
                   "~/.kube/config).")
@click.option("--context", metavar="NAME", help="Use this context instead of the current one.")
@click.option("-n", "--namespace", metavar="NS", help="Namespace for this command.")
@click.option("-s", "--server", metavar="URL",
              help="API server URL (several masters: comma-separated); overrides the context.")
@click.option("--token", metavar="TOKEN", help="Bearer token; overrides the context's user.")
@click.option("--request-timeout", default=30.0, show_default=True, type=DURATION,
              metavar="DURATION",
              help="Give up on one API request after this long.")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, context: str | None, namespace: str | None,
        server: str | None, token: str | None, request_timeout: float) -> None:
    """orchctl controls the orchestrator: deploy apps from Kubernetes-style YAML, inspect and
    debug them. It talks to the API server only, as the current context says
    (`orchctl config view`)."""
    ctx.obj = Env(config_path, context, namespace, server, token, request_timeout)


def _register() -> None:
    from orchestrator.cli import (cmd_cluster, cmd_edit, cmd_nodes, cmd_objects, cmd_pods,
                                  cmd_workloads)
    for module in (cmd_objects, cmd_edit, cmd_workloads, cmd_pods, cmd_nodes, cmd_cluster):
        for command in module.COMMANDS:
            cli.add_command(command)


_register()


GLOBAL_FLAGS = ("--kubeconfig", "--config", "--context", "--server", "-s", "--token",
                "--request-timeout")


def hoist_global_flags(argv: list[str]) -> list[str]:
    """kubectl takes its global flags anywhere (`orchctl get nodes --context lab`); click wants
    them before the command. Move them there; everything after `--` stays as it is. Pure."""
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(argv):
        word = argv[i]
        if word == "--":
            rest += argv[i:]
            break
        name = word.split("=", 1)[0]
        if name in GLOBAL_FLAGS and rest:
            if "=" in word:
                front.append(word)
            else:
                front += argv[i:i + 2]
                i += 1
        else:
            rest.append(word)
        i += 1
    return front + rest


def main() -> None:
    try:
        cli(args=hoist_global_flags(sys.argv[1:]), prog_name="orchctl")
    except KeyboardInterrupt:
        sys.exit(130)
