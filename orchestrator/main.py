"""`orchestrator`: the master daemon (API server, scheduler, controllers).

Its subcommands land with the control-plane issue; until then the command says so and exits 2,
so scripts that probe for it fail loudly instead of silently doing nothing.
"""

from __future__ import annotations

import sys

import click

from orchestrator import __version__

NOT_IMPLEMENTED_EXIT = 2


@click.group(invoke_without_command=True)
@click.version_option(__version__)
@click.pass_context
def main(ctx: click.Context) -> None:
    """The master daemon: API server, scheduler and controllers."""
    if ctx.invoked_subcommand is None:
        click.echo("orchestrator: not implemented yet (see the control-plane issue)", err=True)
        sys.exit(NOT_IMPLEMENTED_EXIT)
