"""Filter and score: `topologySpreadConstraints` (Kubernetes' PodTopologySpread plugin). Pure.

A constraint counts the pods its selector picks in the pod's namespace (not those being
deleted) per domain, a value of the node label `topologyKey`, over the nodes that count: those
carrying every constraint's key, matching the pod's node selector and required affinity unless
`nodeAffinityPolicy: Ignore`, and (with `nodeTaintsPolicy: Honor`) whose taints it tolerates.
`matchLabelKeys` add the pod's own values for those keys to the selector.

- Filter (`whenUnsatisfiable: DoNotSchedule`): on a node, skew = the pods in its domain, plus
  one if the pod itself matches, minus the fewest in any domain (0 while there are fewer
  domains than `minDomains`); above `maxSkew` the node fails. A node without the key fails.
- Score (`ScheduleAnyway`): per feasible node, Σ count × log(domains + 2) + (maxSkew − 1) over
  the constraints; fewer is better, normalised as Kubernetes does (the best 100); feasible
  nodes missing a key score 0.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from kube.kinds.pod import Pod, TopologySpreadConstraint
from kube.meta import LabelSelector, LabelSelectorRequirement, selector_matches
from kube.scheduling import selects_node, untolerated
from orchestrator.scheduler.snapshot import NodeInfo, Snapshot

NAME = "PodTopologySpread"
WEIGHT = 2.0
SKEW = "node(s) didn't match pod topology spread constraints"
MISSING_LABEL = "node(s) didn't match pod topology spread constraints (missing required label)"

Domain = tuple[str, str]


@dataclass(frozen=True)
class Spread:
    """A constraint ready to count with: its selector (with matchLabelKeys merged)."""
    constraint: TopologySpreadConstraint
    selector: LabelSelector | None

    @property
    def key(self) -> str:
        return self.constraint.topology_key


def _spreads(pod: Pod, when: str) -> list[Spread]:
    labels = pod.metadata.labels or {}
    spreads = []
    for c in pod.spec.topology_spread_constraints or ():
        if c.when_unsatisfiable != when:
            continue
        selector = c.label_selector
        extra = [LabelSelectorRequirement(key=k, operator="In", values=[labels[k]])
                 for k in c.match_label_keys or () if k in labels]
        if extra and selector is not None:
            selector = selector.model_copy(update={
                "match_expressions": [*(selector.match_expressions or ()), *extra]})
        spreads.append(Spread(c, selector))
    return spreads


def _selects(spread: Spread, pod: Pod) -> bool:
    # no labelSelector selects nothing (Kubernetes' LabelSelectorAsSelector(nil))
    return spread.selector is not None and selector_matches(spread.selector, pod.metadata.labels)


def _has_keys(spreads: Sequence[Spread], info: NodeInfo) -> bool:
    labels = info.node.metadata.labels or {}
    return all(s.key in labels for s in spreads)


def _counts_on(spread: Spread, pod: Pod, info: NodeInfo) -> bool:
    """The node's pods count for this constraint (Kubernetes' node inclusion policies)."""
    constraint = spread.constraint
    if (constraint.node_affinity_policy or "Honor") == "Honor" and \
            not selects_node(pod.spec, info.node):
        return False
    if (constraint.node_taints_policy or "Ignore") == "Honor" and \
            untolerated(pod.spec.tolerations, info.node.spec.taints) is not None:
        return False
    return True


def _matching(spread: Spread, pod: Pod, info: NodeInfo) -> int:
    namespace = pod.metadata.namespace or ""
    return sum(1 for p in info.pods if (p.metadata.namespace or "") == namespace
               and not p.metadata.deletion_timestamp and _selects(spread, p))


@dataclass(frozen=True)
class SpreadState:
    """PreFilter's counts: matching pods per domain, and the fewest per key."""
    spreads: tuple[Spread, ...]
    counts: Counter[Domain]
    fewest: dict[str, int]


def prefilter(pod: Pod, snapshot: Snapshot) -> SpreadState | None:
    spreads = _spreads(pod, "DoNotSchedule")
    if not spreads:
        return None
    counts: Counter[Domain] = Counter()
    domains: dict[str, set[str]] = {s.key: set() for s in spreads}
    for info in snapshot.nodes:
        if not _has_keys(spreads, info):  # a node must carry every constraint's key
            continue
        labels = info.node.metadata.labels or {}
        for s in spreads:
            if _counts_on(s, pod, info):
                value = labels[s.key]
                domains[s.key].add(value)
                counts[(s.key, value)] += _matching(s, pod, info)
    fewest = {}
    for s in spreads:
        values = domains[s.key]
        fewest[s.key] = min((counts[(s.key, v)] for v in values), default=0)
        if s.constraint.min_domains is not None and len(values) < s.constraint.min_domains:
            fewest[s.key] = 0
    return SpreadState(tuple(spreads), counts, fewest)


def fits(state: SpreadState, pod: Pod, info: NodeInfo) -> list[str]:
    labels = info.node.metadata.labels or {}
    if any(s.key not in labels for s in state.spreads):
        return [MISSING_LABEL]
    for s in state.spreads:
        skew = state.counts[(s.key, labels[s.key])] + _selects(s, pod) - state.fewest[s.key]
        if skew > s.constraint.max_skew:
            return [SKEW]
    return []


def score_nodes(pod: Pod, infos: Sequence[NodeInfo], snapshot: Snapshot) -> list[float]:
    spreads = _spreads(pod, "ScheduleAnyway")
    if not spreads:
        return [0.0] * len(infos)
    keyed = [_has_keys(spreads, i) for i in infos]
    # the domains among the feasible nodes, and their sizes (the normalising weights)
    wanted: dict[str, set[str]] = {s.key: set() for s in spreads}
    for info, ok in zip(infos, keyed):
        if ok:
            for s in spreads:
                wanted[s.key].add((info.node.metadata.labels or {})[s.key])
    weights = {key: math.log(len(values) + 2) for key, values in wanted.items()}
    counts: Counter[Domain] = Counter()
    for info in snapshot.nodes:
        if not _has_keys(spreads, info):
            continue
        labels = info.node.metadata.labels or {}
        for s in spreads:
            if labels[s.key] in wanted[s.key] and _counts_on(s, pod, info):
                counts[(s.key, labels[s.key])] += _matching(s, pod, info)
    raw: list[float | None] = []
    for info, ok in zip(infos, keyed):
        if not ok:
            raw.append(None)
            continue
        labels = info.node.metadata.labels or {}
        raw.append(sum(counts[(s.key, labels[s.key])] * weights[s.key]
                       + (s.constraint.max_skew - 1) for s in spreads))
    present = [r for r in raw if r is not None]
    if not present:
        return [0.0] * len(infos)
    low, high = min(present), max(present)
    if high == 0:
        return [0.0 if r is None else 100.0 for r in raw]
    return [0.0 if r is None else 100 * (high + low - r) / high for r in raw]
