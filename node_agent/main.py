"""`node-agent`: runs pods on this host's dockerd. Lands with the node-agent issue."""

from __future__ import annotations

import sys

import click

from node_agent import __version__

NOT_IMPLEMENTED_EXIT = 2


@click.group(invoke_without_command=True)
@click.version_option(__version__)
@click.pass_context
def main(ctx: click.Context) -> None:
    """The node agent: pods, pod network, service proxy and DNS on one host."""
    if ctx.invoked_subcommand is None:
        click.echo("node-agent: not implemented yet (see the node-agent issue)", err=True)
        sys.exit(NOT_IMPLEMENTED_EXIT)
