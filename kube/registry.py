"""The table of kinds (kube/kinds, one module each): lookups by apiVersion and kind, by URL path,
and by the names users type. The API server routes and the store keys objects by it."""

from __future__ import annotations

from kube.kinds import KINDS, Kind

# A kind is a resource type of the API; the name the routing code has always used.
ResourceType = Kind
RESOURCES: tuple[Kind, ...] = KINDS

_BY_KIND = {(r.api_version, r.kind): r for r in RESOURCES}
_BY_PATH = {(r.group, r.version, r.resource): r for r in RESOURCES}
_BY_NAME = {n: r for r in RESOURCES for n in (r.resource, r.singular, r.kind.lower(), *r.short_names)}


class UnknownKind(LookupError):
    pass


def by_kind(api_version: str, kind: str) -> ResourceType:
    try:
        return _BY_KIND[(api_version, kind)]
    except KeyError:
        known = ", ".join(f"{r.api_version}/{r.kind}" for r in RESOURCES)
        raise UnknownKind(f"no kind {kind!r} in version {api_version!r} (served: {known})") from None


def by_path(group: str, version: str, resource: str) -> ResourceType:
    try:
        return _BY_PATH[(group, version, resource)]
    except KeyError:
        raise UnknownKind(f"the server could not find the requested resource "
                          f"{'/'.join(p for p in (group, version, resource) if p)}") from None


def by_category(category: str) -> list[ResourceType]:
    """The kinds in a category ("all": what `get all` lists), in registry order."""
    return [r for r in RESOURCES if category in r.categories]


def by_name(name: str) -> ResourceType:
    """As a user types it: "pods", "pod", "po", "Deployment", "deploy"…"""
    try:
        return _BY_NAME[name.lower()]
    except KeyError:
        raise UnknownKind(f'the server doesn\'t have a resource type "{name}"') from None
