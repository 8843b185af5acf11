"""`scripts/lab`: a lab of Docker hosts made of network namespaces on this machine.

    scripts/lab up [--hosts N]          bring up (or repair) the lab
    scripts/lab status                  per host: power, network, dockerd, etcd
    scripts/lab exec host2 -- CMD…      run CMD "on" host2 (its network, hostname and dockerd)
    scripts/lab exec client -- CMD…     run CMD on the client, a LAN machine that is no node
    scripts/lab kill host2              pull host2's power; `start host2` brings it back
    scripts/lab partition host2         cut host2 off the lab network; `heal host2` restores it
    scripts/lab inventory               the inventory JSON the integration suite reads
    scripts/lab image list              images on the hosts and in the lab's registry
    scripts/lab image base              load the Debian base images (after up --no-base-images)
    scripts/lab image load IMAGE…       copy an image from the host that has it to every host
    scripts/lab image push IMAGE…       push an image to the lab's registry
    scripts/lab down                    remove everything the lab made

`--name NAME` (before the subcommand) selects a lab; several labs can be up at once.
"""

from __future__ import annotations

import functools
import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from lab import image_commands, lifecycle, system
from lab.plan import CLIENT, ETCD_LOCAL_CLIENT_URL, PlanError, etcdctl_files
from lab.system import LabError, in_netns_argv


def _say(message: str) -> None:
    click.echo(f"  {message}", err=True)


class _Group(click.Group):
    """Turns the lab's own errors into one line on stderr and exit status 1."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except (LabError, PlanError, KeyError) as e:
            message = e.args[0] if isinstance(e, KeyError) and e.args else e
            click.echo(f"lab: error: {message}", err=True)
            sys.exit(1)


def lab_name_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """Lets every subcommand take `--name` too (`lab up --name x` and `lab --name x up` agree);
    the command receives the resolved lab name as its first argument."""

    @click.option("--name", "name_override", default=None, help="which lab")
    @click.pass_obj
    @functools.wraps(f)
    def wrapper(group_name: str, *args: Any, name_override: str | None, **kwargs: Any) -> Any:
        return f(name_override or group_name, *args, **kwargs)

    return wrapper


@click.group(cls=_Group, help=__doc__)
@click.option("--name", default=lambda: os.environ.get("ORCH_LAB", lifecycle.DEFAULT_NAME),
              show_default="lab, or $ORCH_LAB", help="which lab")
@click.pass_context
def main(ctx: click.Context, name: str) -> None:
    if os.geteuid() != 0:
        raise click.UsageError("the lab needs root (namespaces, mounts, daemons): run with sudo")
    ctx.obj = name


@main.command()
@click.option("--hosts", "n_hosts", type=int, default=None,
              help=f"number of hosts (default {lifecycle.DEFAULT_HOSTS}; fixed once the lab is up)")
@click.option("--masters", type=int, default=None,
              help="how many hosts run a master (default 1; they elect a leader for the "
                   "scheduler and controllers; fixed once the lab is up)")
@click.option("--base-images/--no-base-images", default=None,
              help="load the Debian base images into every host (the default; fixed until "
                   "`image base` loads them)")
@lab_name_option
def up(name: str, n_hosts: int | None, masters: int | None, base_images: bool | None) -> None:
    """Bring the lab up, or repair it: idempotent."""
    started = time.monotonic()
    plan = lifecycle.up(name, n_hosts, _say, masters, base_images)
    elapsed = time.monotonic() - started
    click.echo(f"lab {name!r} is up: {len(plan.hosts)} hosts "
               f"({', '.join(f'{h.name} {h.address}' for h in plan.hosts)}) in {elapsed:.1f} s")
    click.echo(f"inventory: {plan.inventory_file}")


@main.command()
@lab_name_option
def down(name: str) -> None:
    """Remove everything the lab made: containers, daemons, namespaces, cgroups, files."""
    lifecycle.down(name, _say)


@main.command()
@lab_name_option
def status(name: str) -> None:
    """Per host: power, network, whether dockerd, etcd and the master answer. Exit 1 unless
    all are healthy."""
    rows = lifecycle.status(name)
    header = ("HOST", "ADDRESS", "POWER", "NETWORK", "DOCKERD", "ETCD", "MASTER", "AGENT")
    table = [header] + [(r.name, r.address, r.power, r.network, r.dockerd, r.etcd, r.master,
                         r.agent) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    sys.exit(0 if all(r.healthy for r in rows) else 1)


@main.command(name="exec", context_settings={"ignore_unknown_options": True})
@click.argument("host")
@click.argument("command", nargs=-1, type=click.UNPROCESSED, required=True)
@lab_name_option
def exec_(name: str, host: str, command: tuple[str, ...]) -> None:
    """Run COMMAND on HOST: in its network namespace, with its hostname, DOCKER_HOST set to its
    dockerd and etcdctl pointed at its etcd member. `scripts/lab exec host1 -- sh` logs in.
    HOST `client` is the lab's client machine: the LAN only (its network and hostname)."""
    plan, _ = lifecycle.existing_plan(name)
    if shutil.which(command[0]) is None:
        raise LabError(f"{command[0]}: command not found")
    if host == CLIENT:
        argv = in_netns_argv(system.netns_path(plan.client_netns), [
            "unshare", "--uts", "--", "sh", "-c", 'hostname "$0" && exec "$@"', CLIENT,
            *command])
        os.execvp(argv[0], argv)
    h = plan.host(host)
    etcdctl = etcdctl_files(plan.pki_dir)
    os.environ.update(DOCKER_HOST=h.docker_url, ETCDCTL_API="3",
                      ETCDCTL_ENDPOINTS=ETCD_LOCAL_CLIENT_URL, ETCDCTL_CACERT=etcdctl["cacert"],
                      ETCDCTL_CERT=etcdctl["cert"], ETCDCTL_KEY=etcdctl["key"])
    argv = in_netns_argv(h.netns_path, [
        "unshare", "--uts", "--", "sh", "-c", 'hostname "$0" && exec "$@"', h.name, *command])
    os.execvp(argv[0], argv)


@main.command()
@click.argument("host")
@lab_name_option
def kill(name: str, host: str) -> None:
    """Pull HOST's power: SIGKILL every process of it, unplug it from the lab network."""
    lifecycle.kill_host(name, host, _say)


@main.command()
@click.argument("host")
@lab_name_option
def start(name: str, host: str) -> None:
    """Power HOST back on (or restart whichever of its daemons died) and wait until they answer."""
    lifecycle.start_host(name, host, _say)


@main.command()
@click.argument("host")
@lab_name_option
def partition(name: str, host: str) -> None:
    """Cut HOST off the lab network (its daemons keep running)."""
    lifecycle.partition(name, host, True, _say)


@main.command()
@click.argument("host")
@lab_name_option
def heal(name: str, host: str) -> None:
    """Plug HOST back into the lab network."""
    lifecycle.partition(name, host, False, _say)


@main.command()
@lab_name_option
def inventory(name: str) -> None:
    """Print the lab's inventory (JSON) for the integration suite and clients."""
    plan, _ = lifecycle.existing_plan(name)
    click.echo(plan.inventory_file.read_text().rstrip())


@main.group()
def image() -> None:
    """Images on the lab's hosts and in its registry (see `scripts/lab image COMMAND --help`)."""


@image.command(name="list")
@lab_name_option
def image_list(name: str) -> None:
    """Every image: its ID, size, the hosts that hold it, and whether the registry has it."""
    rows = image_commands.listing(name)
    table = [("IMAGE", "ID", "SIZE", "HOSTS", "REGISTRY")] + [
        (r.tag, r.image_id, f"{r.size / 2**20:.0f}MB" if r.size else "", ",".join(r.hosts),
         "yes" if r.in_registry else "") for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(5)]
    for row in table:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())


@image.command(name="base")
@lab_name_option
def image_base(name: str) -> None:
    """Build (where not cached) and load the Debian base images into every host: for a lab
    brought up with --no-base-images."""
    lifecycle.load_base_images(name, _say)


@image.command(name="load")
@click.argument("tags", nargs=-1)
@click.option("--archive", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="a `docker save` archive to load instead")
@click.option("--from", "from_host", default=None, help="the host to copy from")
@lab_name_option
def image_load(name: str, tags: tuple[str, ...], archive: Path | None,
               from_host: str | None) -> None:
    """Copy each IMAGE (or the images of --archive) into every host's dockerd, as `kind load`
    does; pods then run it without a registry (imagePullPolicy IfNotPresent or Never)."""
    if not tags and archive is None:
        raise click.UsageError("name an image, or give --archive FILE")
    image_commands.load(name, tags, archive, from_host, _say)


@image.command(name="push")
@click.argument("tags", nargs=-1)
@click.option("--archive", type=click.Path(dir_okay=False, path_type=Path, exists=True),
              default=None, help="a `docker save` archive to push the images of")
@click.option("--from", "from_host", default=None, help="the host to push from")
@lab_name_option
def image_push(name: str, tags: tuple[str, ...], archive: Path | None,
               from_host: str | None) -> None:
    """Push each IMAGE from a host's dockerd to the lab's registry; prints the names pods
    give (`<registry>/IMAGE`, pulled with the `lab-registry` secret)."""
    if not tags and archive is None:
        raise click.UsageError("name an image, or give --archive FILE")
    for pushed in image_commands.push(name, tags, archive, from_host, _say):
        click.echo(pushed)


@main.command(name="list")
def list_() -> None:
    """List the labs that are up on this machine."""
    for name in lifecycle.list_labs():
        click.echo(name)


if __name__ == "__main__":  # pragma: no cover
    main()
