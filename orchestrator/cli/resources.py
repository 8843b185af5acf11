"""How users name resources on the command line, as with kubectl. Pure.

    get pods                  every pod             get pods web-1 web-2   those two
    get pod/web-1 svc/web     mixed kinds by name   get deploy,svc         several kinds
    get all                   pods, services, deployments, replicasets
"""

from __future__ import annotations

from dataclasses import dataclass

from kube.registry import ResourceType, UnknownKind, by_category, by_name


class UsageError(ValueError):
    pass


@dataclass(frozen=True)
class Selection:
    rt: ResourceType
    names: tuple[str, ...]  # empty: every object (of the namespace, the selector)


def resource_type(word: str) -> ResourceType:
    """`deploy`, `deployments`, and kubectl's qualified forms `deployment.apps` and
    `deployments.v1.apps` (what `get -o name` prints), the group checked."""
    name, _, qualifier = word.partition(".")
    try:
        rt = by_name(name)
    except UnknownKind as e:
        raise UsageError(str(e)) from None
    allowed = (rt.group, f"{rt.version}.{rt.group}") if rt.group else (rt.version,)
    if qualifier and qualifier not in allowed:
        raise UsageError(f'the server doesn\'t have a resource type "{word}"')
    return rt


def parse(args: tuple[str, ...] | list[str], allow_all: bool = True) -> list[Selection]:
    if not args:
        raise UsageError("you must specify the type of resource to get (e.g. pods, "
                         "deployments, services, nodes), or TYPE/NAME")
    if "/" in args[0]:
        out: list[Selection] = []
        for arg in args:
            kind, sep, name = arg.partition("/")
            if not sep or not kind or not name:
                raise UsageError(f"arguments in resource/name form must all be resource/name: "
                                 f"{arg!r}")
            out.append(Selection(resource_type(kind), (name,)))
        return out
    kinds: list[ResourceType] = []
    for word in args[0].split(","):
        if word == "all" and allow_all:
            kinds += by_category("all")
        elif word:
            kinds.append(resource_type(word))
    names = tuple(args[1:])
    if names and len(kinds) > 1:
        raise UsageError("names may be given for one resource type only: TYPE NAME…, or "
                         "TYPE/NAME…")
    for name in names:
        if "/" in name:
            raise UsageError(f"there is no need to specify a resource type as a separate "
                             f"argument when passing arguments in resource/name form ({name})")
    return [Selection(k, names) for k in dict.fromkeys(kinds)]


def one(args: tuple[str, ...], default_kind: str | None = None) -> tuple[ResourceType, str]:
    """`deploy/web`, `deploy web` (or `web` when the command implies the kind)."""
    if len(args) == 1 and "/" in args[0]:
        kind, _, name = args[0].partition("/")
        if kind and name:
            return resource_type(kind), name
    if len(args) == 2 and "/" not in args[0]:
        return resource_type(args[0]), args[1]
    if len(args) == 1 and default_kind:
        return resource_type(default_kind), args[0]
    raise UsageError("expected TYPE/NAME or TYPE NAME (e.g. deployment/web)")
