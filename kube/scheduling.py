"""Whether a pod may run on a node, as far as the node's labels, name and taints decide (pure):
its nodeSelector, its required node affinity (matchExpressions on labels, matchFields on the
node's name) and its tolerations. The scheduler's filters and the DaemonSet controller (which
decides where a daemon pod should run before the scheduler places it) share these rules, as
Kubernetes' do."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from kube.kinds.node import Node, Taint
from kube.kinds.pod import NodeSelectorTerm, PodSpec, Toleration
from kube.selectors import requirement_matches


def tolerates(toleration: Toleration, taint: Taint) -> bool:
    """Kubernetes' Toleration.ToleratesTaint: same effect (or none given), and Exists with the
    same key (or no key: every taint), or Equal with the same key and value."""
    if toleration.effect and toleration.effect != taint.effect:
        return False
    if (toleration.operator or "Equal") == "Exists":
        return not toleration.key or toleration.key == taint.key
    return toleration.key == taint.key and (toleration.value or "") == (taint.value or "")


def untolerated(tolerations: Sequence[Toleration] | None, taints: Iterable[Taint] | None,
                effects: tuple[str, ...] = ("NoSchedule", "NoExecute")) -> Taint | None:
    """The first of `taints` with one of `effects` that no toleration tolerates."""
    for taint in taints or ():
        if taint.effect in effects and not any(tolerates(t, taint) for t in tolerations or ()):
            return taint
    return None


def term_matches(term: NodeSelectorTerm, node: Node) -> bool:
    """A node selector term: all its expressions (on the labels) and fields (the name)."""
    labels = node.metadata.labels or {}
    fields = {"metadata.name": node.metadata.name or ""}
    return all(requirement_matches(e.key, e.operator, e.values or (), labels)
               for e in term.match_expressions or ()) and \
        all(requirement_matches(f.key, f.operator, f.values or (), fields)
            for f in term.match_fields or ())


def selects_node(spec: PodSpec, node: Node) -> bool:
    """The nodeSelector and the required node affinity (its terms ORed) hold for `node`."""
    labels = node.metadata.labels or {}
    if not all(labels.get(k) == v for k, v in (spec.node_selector or {}).items()):
        return False
    node_affinity = spec.affinity.node_affinity if spec.affinity else None
    required = node_affinity.required_during_scheduling_ignored_during_execution \
        if node_affinity else None
    return required is None or any(term_matches(t, node) for t in required.node_selector_terms)
