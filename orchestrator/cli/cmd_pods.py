"""logs, exec, port-forward, top: through the API server (to the agent of the pod's node, or
to the pod)."""

from __future__ import annotations

import asyncio
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import click

from kube import remotecommand, remotecommand_client
from kube.client import ApiError
from kube.objects import Object
from kube.kinds.node import Node
from kube.kinds.pod import Pod
from kube.quantity import cpu_millis, memory_bytes
from kube.typed import metadata_of, typed_all
from orchestrator.cli import printers, resources
from orchestrator.cli.common import (all_namespaces_option, complete_resource, echo_table,
                                     namespace_option, no_resources, owned_by)
from orchestrator.cli.env import Env, pass_env


def pod_of(env: Env, args: tuple[str, ...]) -> str:
    """POD, pod/POD, or deploy/NAME | rs/NAME (one of its pods, a running one first)."""
    if len(args) == 1 and "/" not in args[0]:
        return args[0]
    rt, name = resources.one(args, default_kind="pods")
    if rt.resource == "pods":
        return name
    if rt.resource not in ("deployments", "replicasets"):
        raise resources.UsageError(f"cannot pick a pod of {rt.resource}")
    owner = env.client.get(rt.resource, name, env.namespace)
    owners = [owner]
    if rt.resource == "deployments":
        owners = owned_by(owner, env.client.list("replicasets", env.namespace).items)
    listed = env.client.list("pods", env.namespace).items
    pods = [p for o in owners for p in owned_by(o, listed)]
    if not pods:
        raise click.ClickException(f"{printers.qualified(rt)}/{name} has no pods")
    pods.sort(key=lambda p: (printers.pod_status(p) != "Running", metadata_of(p).name or ""))
    return metadata_of(pods[0]).name or ""


# --- logs ---

@click.command()
@click.argument("args", nargs=-1, required=True, shell_complete=complete_resource)
@click.option("-c", "--container", help="The container (needed when the pod has several).")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines until interrupted.")
@click.option("--tail", type=int, default=-1, metavar="N", help="Only the last N lines.")
@click.option("-p", "--previous", is_flag=True,
              help="The previous run of the container (after a restart).")
@click.option("--timestamps", is_flag=True, help="Prefix each line with its time.")
@namespace_option
@pass_env
def logs(env: Env, args: tuple[str, ...], container: str | None, follow: bool, tail: int,
         previous: bool, timestamps: bool) -> None:
    """Print a container's output: logs POD [-c C] [-f] [--tail N] [--previous], or
    logs deploy/NAME (one of its pods)."""
    pod = pod_of(env, args)
    params = {k: v for k, v in (("container", container), ("follow", "true" if follow else None),
                                ("tailLines", str(tail) if tail >= 0 else None),
                                ("previous", "true" if previous else None),
                                ("timestamps", "true" if timestamps else None)) if v}
    path = env.client.path("pods", env.namespace, pod, "log")
    response = env.client.request("GET", path, params=params, stream=True,
                                  timeout=(10, None) if follow else env.timeout)
    out = sys.stdout.buffer
    try:
        for chunk in response.iter_content(chunk_size=None):
            out.write(chunk)
            out.flush()
    except KeyboardInterrupt:
        pass
    finally:
        response.close()


# --- exec ---

@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("pod_args", nargs=-1, required=True, type=click.UNPROCESSED,
                shell_complete=complete_resource)
@click.option("-c", "--container", help="The container (needed when the pod has several).")
@click.option("-i", "--stdin", "pass_stdin", is_flag=True,
              help="Send this command's standard input to the command (until it ends).")
@click.option("-t", "--tty", is_flag=True,
              help="Give the command a terminal (and make this one raw while it runs).")
@namespace_option
@pass_env
def exec_(env: Env, pod_args: tuple[str, ...], container: str | None, pass_stdin: bool,
          tty: bool) -> None:
    """Run a command in a container: exec POD [-c C] [-i] [-t] -- COMMAND [ARG…].

    The command's output is printed as it comes and orchctl exits with its exit code; -it
    runs an interactive shell (the stream is Kubernetes' v5.channel.k8s.io WebSocket, as
    kubectl's)."""
    words = list(pod_args)
    if "--" in words:  # click keeps a literal -- only when it follows an argument
        split = words.index("--")
        target, command = tuple(words[:split]), words[split + 1:]
    else:
        target, command = tuple(words[:1]), words[1:]
    if not target or not command:
        raise resources.UsageError("usage: orchctl exec POD [-c CONTAINER] -- COMMAND [ARG…]")
    if tty and not sys.stdin.isatty():
        click.echo("Unable to use a TTY - input is not a terminal or the right kind of file",
                   err=True)
        tty = False
    pod = pod_of(env, target)
    options = remotecommand.StreamOptions(container=container, command=tuple(command),
                                          stdin=pass_stdin, stdout=True, stderr=not tty, tty=tty)
    sys.exit(remotecommand_client.run(env.client, env.client.path("pods", env.namespace, pod,
                                                                  "exec"), options,
                                      sys.stdin.buffer if pass_stdin else None,
                                      sys.stdout.buffer, sys.stderr.buffer))


exec_.name = "exec"


# --- port-forward ---

def _forwarded_ports(words: tuple[str, ...]) -> list[tuple[int, int]]:
    """`8080:80`, `:80` (any free local port), `80` (the same both sides)."""
    out = []
    for word in words:
        local, sep, remote = word.partition(":")
        try:
            pair = (int(local or 0), int(remote)) if sep else (int(word), int(word))
        except ValueError:
            raise resources.UsageError(
                f"invalid port mapping {word!r}: use [LOCAL:]REMOTE") from None
        if not (0 <= pair[0] < 65536 and 0 < pair[1] < 65536):
            raise resources.UsageError(f"invalid port mapping {word!r}: ports are 1-65535")
        out.append(pair)
    return out


def _service_target(env: Env, name: str, ports: list[tuple[int, int]]
                    ) -> tuple[str, list[tuple[int, int]]]:
    """A running pod behind service `name`, and the service ports mapped to the pod's (a
    named targetPort by the pod's container ports), as kubectl resolves them."""
    service = env.client.get("services", name, env.namespace)
    selector = (service.get("spec") or {}).get("selector") or {}
    if not selector:
        raise click.ClickException(f"service {name} has no selector: no pod to forward to")
    label = ",".join(f"{k}={v}" for k, v in selector.items())
    pods = [p for p in env.client.list("pods", env.namespace, label).items
            if printers.pod_status(p) == "Running"]
    if not pods:
        raise click.ClickException(f"service {name} has no running pod")
    pod = pods[0]
    mapped = []
    for local, port in ports:
        spec = next((p for p in service["spec"].get("ports") or [] if p.get("port") == port),
                    None)
        if spec is None:
            raise click.ClickException(f"service {name} does not have a service port {port}")
        target = spec.get("targetPort", port)
        if isinstance(target, str):
            named = [c.get("containerPort") for c in pod["spec"]["containers"]
                     for c in c.get("ports") or [] if c.get("name") == target]
            if not named:
                raise click.ClickException(f"pod {pod['metadata']['name']} has no port named "
                                           f"{target}")
            target = named[0]
        mapped.append((local, int(target)))
    return pod["metadata"]["name"], mapped


@click.command(name="port-forward")
@click.argument("target", shell_complete=complete_resource)
@click.argument("ports", nargs=-1, required=True)
@click.option("--address", default="127.0.0.1", show_default=True,
              help="The local address to listen on.")
@namespace_option
@pass_env
def port_forward(env: Env, target: str, ports: tuple[str, ...], address: str) -> None:
    """Forward local ports to a pod: port-forward POD|deploy/NAME|svc/NAME [LOCAL:]REMOTE…
    (the API's pods/portforward, SPDY through a WebSocket, as kubectl)."""
    from kube.portforward_client import ForwardingLost, forward
    wanted = _forwarded_ports(ports)
    rt, name = resources.one((target,), default_kind="pods")
    if rt.resource == "services":
        pod, wanted = _service_target(env, name, wanted)
    else:
        pod = pod_of(env, (target,))

    def ready(bound: list[tuple[int, int]]) -> None:
        for local, remote in bound:
            click.echo(f"Forwarding from {address}:{local} -> {remote}")

    path = env.client.path("pods", env.namespace, pod, "portforward")
    try:
        asyncio.run(forward(env.client, path, wanted, address, ready,
                            lambda message: click.echo(f"error: {message}", err=True)))
    except KeyboardInterrupt:
        return
    except ForwardingLost as e:
        click.echo(f"error: lost connection to pod ({e})", err=True)
        sys.exit(1)


# --- top ---

def _node_stats(env: Env, names: list[str]) -> dict[str, Object | None]:
    def one(name: str) -> Object | None:
        try:
            return env.client.get("nodes", name, subresource="stats")
        except ApiError:
            return None

    with ThreadPoolExecutor(max(1, min(8, len(names)))) as pool:
        return dict(zip(names, pool.map(one, names)))


@click.group()
def top() -> None:
    """CPU and memory in use, from docker's stats on each node (through its agent)."""


def _sort_key(sort_by: str | None):
    def key(row: tuple) -> Any:
        if sort_by == "cpu":
            return -(row[1] or 0)
        if sort_by == "memory":
            return -(row[2] or 0)
        return 0
    return key


@top.command("nodes")
@click.argument("names", nargs=-1)
@click.option("--sort-by", type=click.Choice(["cpu", "memory"]))
@pass_env
def top_nodes(env: Env, names: tuple[str, ...], sort_by: str | None) -> None:
    """Per node: the cores and memory its pods' containers use, and the share of its
    allocatable resources. Takes about a second (docker samples CPU over one)."""
    nodes = typed_all(Node, [env.client.get("nodes", n) for n in names] if names else
                      env.client.list("nodes").items)
    stats = _node_stats(env, [n.metadata.name or "" for n in nodes])
    rows = []
    unreachable = []
    for node in nodes:
        name = node.metadata.name or ""
        summary = stats.get(name)
        if summary is None:
            unreachable.append(name)
            continue
        usage = summary["node"]
        allocatable = node.status.allocatable or {}
        rows.append((name, usage["cpu"]["usageNanoCores"], usage["memory"]["workingSetBytes"],
                     allocatable))
    rows.sort(key=_sort_key(sort_by))
    table = [["NAME", "CPU(cores)", "CPU%", "MEMORY(bytes)", "MEMORY%"]]
    for name, cpu, memory, allocatable in rows:
        cpu_total = cpu_millis(allocatable.get("cpu", "0")) * 1_000_000
        mem_total = memory_bytes(allocatable.get("memory", "0"))
        table.append([name, printers.cpu_text(cpu),
                      f"{round(100 * cpu / cpu_total)}%" if cpu is not None and cpu_total else "?",
                      printers.memory_text(memory),
                      f"{round(100 * memory / mem_total)}%" if memory is not None and mem_total
                      else "?"])
    for name in unreachable:
        table.append([name, "<unknown>", "<unknown>", "<unknown>", "<unknown>"])
    echo_table(table)


@top.command("pods")
@click.argument("names", nargs=-1)
@click.option("-l", "--selector", metavar="SELECTOR")
@click.option("--containers", is_flag=True, help="One row per container.")
@click.option("--sort-by", type=click.Choice(["cpu", "memory"]))
@all_namespaces_option
@namespace_option
@pass_env
def top_pods(env: Env, names: tuple[str, ...], selector: str | None, containers: bool,
             sort_by: str | None, all_namespaces: bool) -> None:
    """Per pod (or container): the cores and memory in use."""
    namespace = None if all_namespaces else env.namespace
    pods = typed_all(Pod, env.client.list("pods", namespace, selector).items)
    if names:
        pods = [p for p in pods if p.metadata.name in names]
    pods = [p for p in pods if p.spec.node_name]
    if not pods:
        no_resources(env, all_namespaces)
        return
    stats = _node_stats(env, sorted({p.spec.node_name or "" for p in pods}))
    usage: dict[tuple[str, str], Object] = {}
    for summary in stats.values():
        for entry in (summary or {}).get("pods") or []:
            ref = entry["podRef"]
            usage[(ref["namespace"], ref["name"])] = entry
    rows = []
    for p in pods:
        key = (p.metadata.namespace or "", p.metadata.name or "")
        entry = usage.get(key)
        if entry is None:
            continue  # not running (yet): metrics-server leaves such pods out too
        if containers:
            for c in entry["containers"]:
                rows.append((key, c["cpu"]["usageNanoCores"], c["memory"]["workingSetBytes"],
                             c["name"]))
        else:
            rows.append((key, entry["cpu"]["usageNanoCores"], entry["memory"]["workingSetBytes"],
                         None))
    rows.sort(key=_sort_key(sort_by))
    header = (["NAMESPACE"] if all_namespaces else []) + (
        ["POD", "NAME"] if containers else ["NAME"]) + ["CPU(cores)", "MEMORY(bytes)"]
    table = [header]
    for (ns, name), cpu, memory, container in rows:
        table.append(([ns] if all_namespaces else []) + [name] +
                     ([container] if containers else []) +
                     [printers.cpu_text(cpu), printers.memory_text(memory)])
    if len(table) == 1:
        click.echo("error: metrics not available yet (no pod is running)", err=True)
        sys.exit(1)
    echo_table(table)


COMMANDS = [logs, exec_, port_forward, top]
