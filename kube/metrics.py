"""The resource metrics API (metrics.k8s.io/v1beta1: NodeMetrics, PodMetrics), as
metrics-server serves it, made from the agents' usage summaries (node_agent/stats.py). Pure:
the API server's collector (orchestrator/api/metrics.py) does the fetching.

CPU is given in nanocores ("250000000n") and memory in kibibytes ("10240Ki"), the units
metrics-server writes; `window` is the span the CPU rate was measured over (docker's two
samples, about a second apart).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kube.objects import Object

GROUP, VERSION = "metrics.k8s.io", "v1beta1"
API_VERSION = f"{GROUP}/{VERSION}"
WINDOW = "1s"
# (resource, kind, namespaced), for discovery
RESOURCES = (("nodes", "NodeMetrics", False), ("pods", "PodMetrics", True))
VERBS = ["get", "list"]


def cpu(nano_cores: int | None) -> str:
    return f"{max(0, nano_cores or 0)}n"


def memory(bytes_: int | None) -> str:
    return f"{max(0, bytes_ or 0) // 1024}Ki"


def _usage(entry: Object) -> dict[str, str]:
    return {"cpu": cpu((entry.get("cpu") or {}).get("usageNanoCores")),
            "memory": memory((entry.get("memory") or {}).get("workingSetBytes"))}


def _complete(entry: Object) -> bool:
    """metrics-server leaves out what it has no sample of, rather than report zero."""
    return (entry.get("cpu") or {}).get("usageNanoCores") is not None and \
        (entry.get("memory") or {}).get("workingSetBytes") is not None


def node_metrics(summary: Object, node: Object, timestamp: str) -> Object | None:
    """A node's NodeMetrics from its agent's summary (None without a complete sample)."""
    entry = summary.get("node") or {}
    if not _complete(entry):
        return None
    metadata = node.get("metadata") or {}
    return {"kind": "NodeMetrics", "apiVersion": API_VERSION,
            "metadata": {"name": metadata.get("name"), "creationTimestamp": timestamp,
                         **({"labels": metadata["labels"]} if metadata.get("labels") else {})},
            "timestamp": timestamp, "window": WINDOW, "usage": _usage(entry)}


def pod_metrics(summary: Object, pods: Iterable[Object], timestamp: str) -> list[Object]:
    """PodMetrics of the summary's pods that are still the API's pods (same uid), each with
    its containers' usage."""
    by_uid = {(p.get("metadata") or {}).get("uid"): p for p in pods}
    out = []
    for entry in summary.get("pods") or []:
        ref = entry.get("podRef") or {}
        pod = by_uid.get(ref.get("uid"))
        containers = entry.get("containers") or []
        if pod is None or not containers or not all(_complete(c) for c in containers):
            continue
        metadata = pod["metadata"]
        out.append({"kind": "PodMetrics", "apiVersion": API_VERSION,
                    "metadata": {"name": metadata["name"], "namespace": metadata["namespace"],
                                 "creationTimestamp": timestamp,
                                 **({"labels": metadata["labels"]}
                                    if metadata.get("labels") else {})},
                    "timestamp": timestamp, "window": WINDOW,
                    "containers": [{"name": c.get("name"), "usage": _usage(c)}
                                   for c in containers]})
    return out


def as_list(kind: str, items: list[Object]) -> Object:
    return {"kind": f"{kind}List", "apiVersion": API_VERSION, "metadata": {}, "items": items}


def discovery_resources() -> list[dict[str, Any]]:
    """The APIResourceList entries of metrics.k8s.io/v1beta1."""
    return [{"name": resource, "singularName": "", "namespaced": namespaced, "kind": kind,
             "verbs": VERBS} for resource, kind, namespaced in RESOURCES]


def aggregated_group() -> dict[str, Any]:
    """The group in aggregated discovery (apidiscovery.k8s.io)."""
    return {"metadata": {"name": GROUP}, "versions": [{
        "version": VERSION, "freshness": "Current", "resources": [
            {"resource": resource, "singularResource": "",
             "responseKind": {"group": GROUP, "version": VERSION, "kind": kind},
             "scope": "Namespaced" if namespaced else "Cluster", "verbs": VERBS}
            for resource, kind, namespaced in RESOURCES]}]}
