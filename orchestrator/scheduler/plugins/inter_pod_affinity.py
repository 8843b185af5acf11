"""Filter and score: inter-pod affinity and anti-affinity (Kubernetes' InterPodAffinity plugin).
Pure.

A term selects pods by label in some namespaces and names a topology key: a node label whose
value is the domain (`kubernetes.io/hostname`: the node itself; a zone label: the zone). As
Kubernetes decides it:

- Filter, from counts made once per pod before any node is looked at (PreFilter):
  1. no existing pod's required anti-affinity term may select the incoming pod within the
     node's domain for that term's key;
  2. each of the pod's required affinity terms needs the node to carry its key and, in that
     domain, a pod matching *all* of the terms; except that when no pod anywhere matches them
     and the pod matches all its own terms, it may go to any node with the keys (the first of
     a group that wants to be together);
  3. none of the pod's required anti-affinity terms may match a pod in the node's domain.
- Score: per domain, + the weight of each of the pod's preferred affinity terms an existing
  pod matches there, − for preferred anti-affinity; and the same for existing pods' preferred
  terms that match the incoming pod, their required affinity terms counting 1 (the
  hardPodAffinityWeight). A node scores its domains' sums, normalised to 0..100 between the
  lowest and highest among the feasible nodes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from kube.kinds.pod import Pod, PodAffinityTerm
from kube.meta import selector_matches
from orchestrator.scheduler.snapshot import NodeInfo, Snapshot, has_pod_affinity

NAME = "InterPodAffinity"
WEIGHT = 2.0
EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules"
AFFINITY = "node(s) didn't match pod affinity rules"
ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules"
HARD_POD_AFFINITY_WEIGHT = 1

Domain = tuple[str, str]  # (topology key, the node's value for it)


def term_matches(term: PodAffinityTerm, owner: Pod, target: Pod,
                 namespace_labels: Mapping[str, Mapping[str, str]]) -> bool:
    """Whether `target` is one of the pods the term of `owner` (the pod whose spec holds it)
    selects. No labelSelector selects nothing; no namespaces and no namespaceSelector mean
    the owner's namespace; an empty namespaceSelector means every namespace."""
    if term.label_selector is None:
        return False
    namespace = target.metadata.namespace or ""
    if term.namespaces or term.namespace_selector is not None:
        in_list = namespace in (term.namespaces or ())
        by_selector = term.namespace_selector is not None and selector_matches(
            term.namespace_selector, dict(namespace_labels.get(namespace) or {}))
        if not (in_list or by_selector):
            return False
    elif namespace != (owner.metadata.namespace or ""):
        return False
    return selector_matches(term.label_selector, target.metadata.labels)


def _terms(pod: Pod, anti: bool, preferred: bool) -> list[tuple[PodAffinityTerm, int]]:
    affinity = pod.spec.affinity
    side = (affinity.pod_anti_affinity if anti else affinity.pod_affinity) if affinity else None
    if side is None:
        return []
    if preferred:
        return [(w.pod_affinity_term, w.weight)
                for w in side.preferred_during_scheduling_ignored_during_execution or ()]
    return [(t, 1) for t in side.required_during_scheduling_ignored_during_execution or ()]


def _domain(info: NodeInfo, key: str) -> Domain | None:
    labels = info.node.metadata.labels or {}
    return (key, labels[key]) if key in labels else None


@dataclass(frozen=True)
class PodAffinityState:
    """PreFilter's counts for one incoming pod."""
    existing_anti: Counter[Domain]  # domains where an existing pod's anti-affinity forbids it
    affinity: Counter[Domain]  # domains holding a pod that matches all its affinity terms
    anti: Counter[Domain]  # domains holding a pod one of its anti-affinity terms matches
    affinity_terms: tuple[PodAffinityTerm, ...] = ()
    anti_terms: tuple[PodAffinityTerm, ...] = ()
    matches_own_terms: bool = False


def prefilter(pod: Pod, snapshot: Snapshot) -> PodAffinityState | None:
    """None: neither the pod nor any placed pod states pod affinity (nothing to check)."""
    affinity_terms = [t for t, _ in _terms(pod, anti=False, preferred=False)]
    anti_terms = [t for t, _ in _terms(pod, anti=True, preferred=False)]
    with_affinity = snapshot.pods_with_affinity
    if not affinity_terms and not anti_terms and not with_affinity:
        return None
    labels = snapshot.namespace_labels
    existing_anti: Counter[Domain] = Counter()
    for other, info in with_affinity:
        for term, _ in _terms(other, anti=True, preferred=False):
            if (domain := _domain(info, term.topology_key)) and \
                    term_matches(term, other, pod, labels):
                existing_anti[domain] += 1
    affinity: Counter[Domain] = Counter()
    anti: Counter[Domain] = Counter()
    if affinity_terms or anti_terms:
        for info in snapshot.nodes:
            for other in info.pods:
                if affinity_terms and all(term_matches(t, pod, other, labels)
                                          for t in affinity_terms):
                    for t in affinity_terms:
                        if domain := _domain(info, t.topology_key):
                            affinity[domain] += 1
                for t in anti_terms:
                    if (domain := _domain(info, t.topology_key)) and \
                            term_matches(t, pod, other, labels):
                        anti[domain] += 1
    own = bool(affinity_terms) and all(term_matches(t, pod, pod, labels) for t in affinity_terms)
    return PodAffinityState(existing_anti, affinity, anti, tuple(affinity_terms),
                            tuple(anti_terms), own)


def fits(state: PodAffinityState, info: NodeInfo) -> list[str]:
    labels = info.node.metadata.labels or {}
    if state.existing_anti and any(state.existing_anti[pair] for pair in labels.items()):
        return [EXISTING_ANTI_AFFINITY]
    if state.affinity_terms:
        domains = [_domain(info, t.topology_key) for t in state.affinity_terms]
        if any(d is None for d in domains):
            return [AFFINITY]  # every topology key must be on the node
        if not all(state.affinity[d] for d in domains if d is not None) and \
                not (not state.affinity and state.matches_own_terms):
            return [AFFINITY]
    for t in state.anti_terms:
        if (domain := _domain(info, t.topology_key)) and state.anti[domain]:
            return [ANTI_AFFINITY]
    return []


def score_nodes(pod: Pod, infos: Sequence[NodeInfo], snapshot: Snapshot) -> list[float]:
    preferred = _terms(pod, anti=False, preferred=True)
    preferred_anti = _terms(pod, anti=True, preferred=True)
    existing = snapshot.pods_with_affinity
    if not preferred and not preferred_anti and not existing:
        return [0.0] * len(infos)
    labels = snapshot.namespace_labels
    totals: Counter[Domain] = Counter()

    def add(terms: list[tuple[PodAffinityTerm, int]], owner: Pod, target: Pod,
            info: NodeInfo, sign: int) -> None:
        for term, weight in terms:
            if (domain := _domain(info, term.topology_key)) and \
                    term_matches(term, owner, target, labels):
                totals[domain] += sign * weight

    # every existing pod when the incoming pod has preferences; else only those with terms
    others = ([(p, i) for i in snapshot.nodes for p in i.pods] if preferred or preferred_anti
              else list(existing))
    for other, info in others:
        add(preferred, pod, other, info, 1)
        add(preferred_anti, pod, other, info, -1)
        if has_pod_affinity(other):
            add([(t, HARD_POD_AFFINITY_WEIGHT) for t, _ in _terms(other, False, False)],
                other, pod, info, 1)
            add(_terms(other, anti=False, preferred=True), other, pod, info, 1)
            add(_terms(other, anti=True, preferred=True), other, pod, info, -1)
    raw = [float(sum(totals[pair] for pair in (i.node.metadata.labels or {}).items()))
           for i in infos]
    low, high = min(raw, default=0.0), max(raw, default=0.0)
    if high == low:
        return [0.0] * len(infos)
    return [100 * (r - low) / (high - low) for r in raw]
