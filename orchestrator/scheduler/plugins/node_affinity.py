"""Filter: the node's labels satisfy the pod's `nodeSelector` and its required node affinity
(terms ORed, the expressions of a term ANDed; In, NotIn, Exists, DoesNotExist, Gt, Lt). Pure."""

from __future__ import annotations

from kube.kinds.pod import Pod
from kube.selectors import requirement_matches
from orchestrator.scheduler.snapshot import NodeInfo

NAME = "NodeAffinity"
REASON = "node(s) didn't match Pod's node affinity/selector"


def fits(pod: Pod, info: NodeInfo) -> list[str]:
    labels = info.node.metadata.labels or {}
    spec = pod.spec
    selector_ok = all(labels.get(k) == v for k, v in (spec.node_selector or {}).items())
    node_affinity = spec.affinity.node_affinity if spec.affinity else None
    required = node_affinity.required_during_scheduling_ignored_during_execution \
        if node_affinity else None
    affinity_ok = True
    if required:
        affinity_ok = any(all(requirement_matches(e.key, e.operator, e.values or (), labels)
                              for e in term.match_expressions or ())
                          for term in required.node_selector_terms)
    return [] if selector_ok and affinity_ok else [REASON]
