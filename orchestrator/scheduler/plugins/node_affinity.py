"""Filter: the node's labels satisfy the pod's `nodeSelector` and its required node affinity
(terms ORed, the expressions of a term ANDed; In, NotIn, Exists, DoesNotExist, Gt, Lt). Pure."""

from __future__ import annotations

from typing import Any

from kube.selectors import requirement_matches
from orchestrator.scheduler.snapshot import NodeInfo

NAME = "NodeAffinity"
REASON = "node(s) didn't match Pod's node affinity/selector"


def fits(pod: dict[str, Any], info: NodeInfo) -> list[str]:
    labels = info.node["metadata"].get("labels") or {}
    spec = pod["spec"]
    selector_ok = all(labels.get(k) == v for k, v in (spec.get("nodeSelector") or {}).items())
    required = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution"))
    affinity_ok = True
    if required:
        affinity_ok = any(all(requirement_matches(e["key"], e["operator"], e.get("values") or (),
                                                  labels)
                              for e in term.get("matchExpressions") or [])
                          for term in required["nodeSelectorTerms"])
    return [] if selector_ok and affinity_ok else [REASON]
