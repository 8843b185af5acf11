"""Score: fewer pods of the same controller (owner) on the node is better, so a ReplicaSet's
pods spread over the nodes. Pure."""

from __future__ import annotations

from kube.kinds.pod import Pod
from kube.ownership import controller_uid_of
from orchestrator.scheduler.snapshot import NodeInfo, Snapshot

NAME = "SelectorSpread"
WEIGHT = 2.0


def score(pod: Pod, info: NodeInfo, snapshot: Snapshot) -> float:
    owner = controller_uid_of(pod.metadata)
    if owner is None:
        return 100.0
    most = snapshot.most_of_owner(owner)
    return 100.0 if most == 0 else (most - info.owner_counts[owner]) / most * 100
