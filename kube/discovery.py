"""Aggregated discovery (apidiscovery.k8s.io/v2), generated from the kinds (pure): every group,
version and resource in one answer to GET /api or /apis, which kubectl asks for first
(`Accept: application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList`) before it
falls back to one request per group-version."""

from __future__ import annotations

from typing import Any

from kube import metrics
from kube.kinds import KINDS
from kube.kinds.base import Kind
from kube.media import accepted_as



def media_type(version: str) -> str:
    return f"application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList"

VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
# subresource → ((group, version, kind) of what it answers, None: the kind's own; its verbs)
SUBRESOURCES: dict[str, tuple[tuple[str, str, str] | None, list[str]]] = {
    "status": (None, ["get", "patch", "update"]),
    "scale": (("autoscaling", "v1", "Scale"), ["get", "patch", "update"]),
    "binding": (("", "v1", "Binding"), ["create"]),
    "eviction": (("policy", "v1", "Eviction"), ["create"]),
    "token": (("authentication.k8s.io", "v1", "TokenRequest"), ["create"]),
    "log": (("", "v1", "Pod"), ["get"]),
    "exec": (("", "v1", "PodExecOptions"), ["create", "get"]),
    "attach": (("", "v1", "PodAttachOptions"), ["create", "get"]),
    "portforward": (("", "v1", "PodPortForwardOptions"), ["create", "get"]),
}


def negotiate(accept: str) -> str | None:
    """The aggregated discovery version an Accept header asks for first (v2 or v2beta1), or
    None: the legacy form (APIVersions, APIGroupList)."""
    return accepted_as(accept, "apidiscovery.k8s.io", "APIGroupDiscoveryList", ("v2", "v2beta1"))


def _resource(kind: Kind) -> dict[str, Any]:
    out: dict[str, Any] = {
        "resource": kind.resource, "singularResource": kind.singular,
        "responseKind": {"group": kind.group, "version": kind.version, "kind": kind.kind},
        "scope": "Namespaced" if kind.namespaced else "Cluster", "verbs": VERBS}
    if kind.short_names:
        out["shortNames"] = list(kind.short_names)
    if kind.categories:
        out["categories"] = list(kind.categories)
    subs = []
    for sub in kind.subresources:
        response, verbs = SUBRESOURCES.get(sub, (None, ["get"]))
        group, version, sub_kind = response or (kind.group, kind.version, kind.kind)
        subs.append({"subresource": sub, "verbs": verbs,
                     "responseKind": {"group": group, "version": version, "kind": sub_kind}})
    if subs:
        out["subresources"] = subs
    return out


def _resource_name(resource: dict[str, Any]) -> str:
    return str(resource["resource"])


def aggregated(core: bool, version: str = "v2") -> dict[str, Any]:
    """The APIGroupDiscoveryList of /api (core: the legacy group "") or of /apis (the named
    groups), in apidiscovery.k8s.io/`version`."""
    groups: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for kind in KINDS:
        if (kind.group == "") != core:
            continue
        groups.setdefault(kind.group, {}).setdefault(kind.version, []).append(_resource(kind))
    items: list[dict[str, Any]] = []
    for group, by_version in sorted(groups.items()):
        listed: list[dict[str, Any]] = []
        for served, resources in by_version.items():
            listed.append({"version": served, "resources": sorted(resources, key=_resource_name),
                           "freshness": "Current"})
        items.append({"metadata": {"name": group}, "versions": listed})
    if not core:
        items.append(metrics.aggregated_group())
    return {"kind": "APIGroupDiscoveryList", "apiVersion": f"apidiscovery.k8s.io/{version}",
            "metadata": {}, "items": items}
