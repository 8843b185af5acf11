"""`orchctl`: the command line users live in. Lands with the orchctl issue."""

from __future__ import annotations

import sys

import click

from orchestrator import __version__
NOT_IMPLEMENTED_EXIT = 2


@click.group(invoke_without_command=True)
@click.version_option(__version__)
@click.pass_context
def main(ctx: click.Context) -> None:
    """Deploy and inspect workloads through the orchestrator's API."""
    if ctx.invoked_subcommand is None:
        click.echo("orchctl: not implemented yet (see the orchctl issue)", err=True)
        sys.exit(NOT_IMPLEMENTED_EXIT)
