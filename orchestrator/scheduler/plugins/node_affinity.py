"""Filter: the node's labels satisfy the pod's `nodeSelector` and its required node affinity
(terms ORed, the expressions of a term ANDed; In, NotIn, Exists, DoesNotExist, Gt, Lt; and
matchFields on the node's name, which DaemonSet pods use). Score: the sum of the weights of the
preferred terms the node matches, normalised to 0..100 against the best feasible node (none
matching anywhere: 0 everywhere), as Kubernetes' NodeAffinity scores. Pure; the rules are
kube.scheduling's."""

from __future__ import annotations

from collections.abc import Sequence

from kube.kinds.pod import Pod
from kube.scheduling import selects_node, term_matches
from orchestrator.scheduler.snapshot import NodeInfo, Snapshot

NAME = "NodeAffinity"
WEIGHT = 2.0
REASON = "node(s) didn't match Pod's node affinity/selector"


def fits(pod: Pod, info: NodeInfo) -> list[str]:
    return [] if selects_node(pod.spec, info.node) else [REASON]


def score_nodes(pod: Pod, infos: Sequence[NodeInfo], snapshot: Snapshot) -> list[float]:
    node_affinity = pod.spec.affinity.node_affinity if pod.spec.affinity else None
    preferred = (node_affinity.preferred_during_scheduling_ignored_during_execution
                 if node_affinity else None) or ()
    raw = [float(sum(t.weight for t in preferred if term_matches(t.preference, i.node)))
           for i in infos]
    high = max(raw, default=0.0)
    return [100 * r / high if high else 0.0 for r in raw]
