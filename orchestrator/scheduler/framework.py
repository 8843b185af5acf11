"""One scheduling decision: filter, score, pick (pure; the caller binds)."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from typing import Any

from orchestrator.scheduler.plugins import FILTERS, SCORES
from orchestrator.scheduler.snapshot import Snapshot

Object = dict[str, Any]


@dataclass(frozen=True)
class Decision:
    node: str | None  # None: unschedulable
    message: str = ""  # why not, as Kubernetes phrases it
    scores: tuple[tuple[str, float], ...] = ()


def schedule(pod: Object, snapshot: Snapshot, rng: random.Random,
             weights: dict[str, float] | None = None) -> Decision:
    feasible, reasons = [], Counter()
    for info in snapshot.nodes:
        problems = [r for _, check in FILTERS for r in check(pod, info)]
        if problems:
            reasons.update(set(problems))
        else:
            feasible.append(info)
    if not feasible:
        total = len(snapshot.nodes)
        detail = ", ".join(f"{n} {r}" for r, n in sorted(reasons.items(), key=lambda x: (-x[1], x[0])))
        return Decision(None, f"0/{total} nodes are available" + (f": {detail}." if detail else "."))
    weights = weights or {}
    scored = []
    for info in feasible:
        total = sum(weights.get(name, weight) * fn(pod, info, snapshot)
                    for name, fn, weight in SCORES)
        scored.append((round(total, 6), info.name))
    best = max(score for score, _ in scored)
    winners = sorted(name for score, name in scored if score == best)
    return Decision(rng.choice(winners), scores=tuple((n, s) for s, n in scored))
