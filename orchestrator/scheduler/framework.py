"""One scheduling decision: filter, score, pick (pure; the caller binds)."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

from kube.kinds.persistentvolumeclaim import PersistentVolumeClaim
from kube.kinds.pod import Pod
from orchestrator.scheduler.plugins import (FILTERS, SCORES, inter_pod_affinity,
                                            pod_topology_spread, volume_binding)
from orchestrator.scheduler.snapshot import NodeInfo, Snapshot


@dataclass(frozen=True)
class Decision:
    node: str | None  # None: unschedulable
    message: str = ""  # why not, as Kubernetes phrases it
    scores: tuple[tuple[str, float], ...] = ()
    examined: int = 0  # nodes filtered (the caller starts the next search after them)
    # the pod's unbound WaitForFirstConsumer claims: the node is named on those that name
    # none yet, and the pod is bound only once there are none
    claims: tuple[PersistentVolumeClaim, ...] = ()


MIN_FEASIBLE_TO_FIND = 100


def feasible_to_find(nodes: int) -> int:
    """How many feasible nodes are enough to pick from: all of them in clusters of up to 100
    nodes; in larger ones a share that shrinks from 50 % to 5 % (Kubernetes'
    percentageOfNodesToScore, adaptive), but never fewer than 100. Finding a good node among
    enough candidates beats finding the very best one slowly."""
    if nodes <= MIN_FEASIBLE_TO_FIND:
        return nodes
    percent = max(5.0, 50 - nodes / 125)
    return max(MIN_FEASIBLE_TO_FIND, int(nodes * percent / 100))


def schedule(pod: Pod, snapshot: Snapshot, rng: random.Random,
             weights: dict[str, float] | None = None, start: int = 0) -> Decision:
    """Filter nodes from index `start` (rotating, so that successive pods look at different
    nodes first) until enough are feasible, score those, and pick the best (ties at random)."""
    feasible: list[NodeInfo] = []
    reasons: Counter[str] = Counter()
    nodes = snapshot.nodes
    volumes = volume_binding.prefilter(pod, snapshot.storage)
    if volumes.error:
        return Decision(None, f"0/{len(nodes)} nodes are available: {volumes.error}.")
    affinity = inter_pod_affinity.prefilter(pod, snapshot)
    spread = pod_topology_spread.prefilter(pod, snapshot)
    enough = feasible_to_find(len(nodes))
    examined = 0
    for i in range(len(nodes)):
        info = nodes[(start + i) % len(nodes)]
        examined += 1
        # the first filter that fails decides the node's reasons, as in Kubernetes' framework
        problems: list[str] = []
        for _, check in FILTERS:
            if problems := check(pod, info):
                break
        if not problems and volumes is not volume_binding.NO_CLAIMS:
            problems = volume_binding.fits(volumes, snapshot.storage, info)
        if not problems and spread is not None:
            problems = pod_topology_spread.fits(spread, pod, info)
        if not problems and affinity is not None:
            problems = inter_pod_affinity.fits(affinity, info)
        if problems:
            reasons.update(set(problems))
        else:
            feasible.append(info)
            if len(feasible) >= enough:
                break
    if not feasible:
        total = len(snapshot.nodes)
        detail = ", ".join(f"{n} {r}" for r, n in sorted(reasons.items(), key=lambda x: (-x[1], x[0])))
        return Decision(None, f"0/{total} nodes are available" + (f": {detail}." if detail else "."))
    weights = weights or {}
    totals = [0.0] * len(feasible)
    for name, score_nodes, weight in SCORES:
        factor = weights.get(name, weight)
        if factor:
            for i, value in enumerate(score_nodes(pod, feasible, snapshot)):
                totals[i] += factor * value
    scored = [(round(total, 6), info.name) for total, info in zip(totals, feasible)]
    best = max(score for score, _ in scored)
    winners = sorted(name for score, name in scored if score == best)
    return Decision(rng.choice(winners), scores=tuple((n, s) for s, n in scored),
                    examined=examined, claims=volumes.waiting)
