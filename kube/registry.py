"""The kinds this API serves: for each, its group/version, resource (path segment), scope, short
names, model and name rule. The API server routes and the store keys objects by this table."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kube import names
from kube.apps import Deployment, ReplicaSet
from kube.coordination import Lease
from kube.core import (ConfigMap, Endpoints, Event, Namespace, Node, Pod, Secret,
                                   Service)
from kube.meta import Model


@dataclass(frozen=True)
class ResourceType:
    kind: str
    resource: str  # plural, as in the URL path and the etcd key
    group: str  # "" for the core group
    version: str
    namespaced: bool
    model: type[Model]
    name_rule: Callable[[str], list[str]]
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()


RESOURCES: tuple[ResourceType, ...] = (
    ResourceType("Namespace", "namespaces", "", "v1", False, Namespace, names.dns1123_label,
                 ("ns",), ("status",)),
    ResourceType("Node", "nodes", "", "v1", False, Node, names.dns1123_subdomain, ("no",),
                 ("status", "stats")),
    ResourceType("Pod", "pods", "", "v1", True, Pod, names.dns1123_subdomain, ("po",),
                 ("status", "binding", "log", "exec")),
    ResourceType("Service", "services", "", "v1", True, Service, names.dns1035_label, ("svc",),
                 ("status",)),
    ResourceType("Endpoints", "endpoints", "", "v1", True, Endpoints, names.dns1035_label,
                 ("ep",)),
    ResourceType("ConfigMap", "configmaps", "", "v1", True, ConfigMap, names.dns1123_subdomain,
                 ("cm",)),
    ResourceType("Secret", "secrets", "", "v1", True, Secret, names.dns1123_subdomain),
    ResourceType("Event", "events", "", "v1", True, Event, names.dns1123_subdomain, ("ev",)),
    ResourceType("ReplicaSet", "replicasets", "apps", "v1", True, ReplicaSet,
                 names.dns1123_subdomain, ("rs",), ("status", "scale")),
    ResourceType("Deployment", "deployments", "apps", "v1", True, Deployment,
                 names.dns1123_subdomain, ("deploy",), ("status", "scale")),
    ResourceType("Lease", "leases", "coordination.k8s.io", "v1", True, Lease,
                 names.dns1123_subdomain),
)

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


def by_name(name: str) -> ResourceType:
    """As a user types it: "pods", "pod", "po", "Deployment", "deploy"…"""
    try:
        return _BY_NAME[name.lower()]
    except KeyError:
        raise UnknownKind(f'the server doesn\'t have a resource type "{name}"') from None
