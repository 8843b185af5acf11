"""The scheduler's plugins, one module each, as Kubernetes' scheduler framework has them: a
`NAME` (Kubernetes' plugin name), the user-facing reason strings as module constants, and the
check itself as an exported pure function.

- A filter: `fits(pod, node_info) -> list[str]`, the reasons the pod does not fit (empty: fits).
- A score: `score(pod, node_info, snapshot) -> float` in 0..100, higher is better, or, for a
  score normalised across the feasible nodes (Kubernetes' NormalizeScore),
  `score_nodes(pod, node_infos, snapshot) -> list[float]`; and the module's default `WEIGHT`
  (`orchestrator serve --score-weight NAME=W` overrides it).
- A filter that needs the whole cluster counts it once per pod (PreFilter): `prefilter(pod,
  snapshot) -> state` (None: nothing to check), then `fits(state, [pod,] node_info)`; the
  framework calls those (volume_binding, inter_pod_affinity, pod_topology_spread).

Adding one: a module here, a line in FILTERS or SCORES, a table in tests/test_scheduler.py.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import ModuleType

from kube.kinds.pod import Pod
from orchestrator.scheduler.plugins import (balanced_allocation, inter_pod_affinity,
                                            least_allocated, node_affinity, node_ports,
                                            node_ready, node_resources_fit, node_unschedulable,
                                            pod_topology_spread, selector_spread,
                                            taint_toleration)
from orchestrator.scheduler.snapshot import NodeInfo, Snapshot

Filter = Callable[[Pod, NodeInfo], list[str]]
# a score plugin as the framework calls it: the scores of the feasible nodes, in their order
Score = Callable[[Pod, Sequence[NodeInfo], Snapshot], list[float]]


def _scores_of(plugin: ModuleType) -> Score:
    if hasattr(plugin, "score_nodes"):
        return plugin.score_nodes  # type: ignore[no-any-return]
    per_node = plugin.score

    def score_nodes(pod: Pod, infos: Sequence[NodeInfo], snapshot: Snapshot) -> list[float]:
        return [per_node(pod, info, snapshot) for info in infos]
    return score_nodes

# In the order they run, Kubernetes' default order (a node not Ready first: Kubernetes has its
# not-ready taint say it); the first that fails gives the node's reasons. The framework then
# runs volume_binding, pod_topology_spread and inter_pod_affinity, in that order.
FILTERS: tuple[tuple[str, Filter], ...] = tuple((m.NAME, m.fits) for m in (
    node_ready, node_unschedulable, taint_toleration, node_affinity, node_ports,
    node_resources_fit))

SCORES: tuple[tuple[str, Score, float], ...] = tuple((m.NAME, _scores_of(m), m.WEIGHT) for m in (
    least_allocated, balanced_allocation, selector_spread, taint_toleration, node_affinity,
    inter_pod_affinity, pod_topology_spread))
