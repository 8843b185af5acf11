"""The scheduler's plugins, one module each, as Kubernetes' scheduler framework has them: a
`NAME` (Kubernetes' plugin name), the user-facing reason strings as module constants, and the
check itself as an exported pure function.

- A filter: `fits(pod, node_info) -> list[str]`, the reasons the pod does not fit (empty: fits).
- A score: `score(pod, node_info, snapshot) -> float` in 0..100, higher is better, and the
  module's default `WEIGHT` (`orchestrator serve --score-weight NAME=W` overrides it).

Adding one: a module here, a line in FILTERS or SCORES, a table in tests/test_scheduler.py.
"""

from __future__ import annotations

from collections.abc import Callable

from kube.kinds.pod import Pod
from orchestrator.scheduler.plugins import (balanced_allocation, least_allocated, node_affinity,
                                            node_ports, node_ready, node_resources_fit,
                                            node_unschedulable, selector_spread,
                                            taint_toleration)
from orchestrator.scheduler.snapshot import NodeInfo, Snapshot

Filter = Callable[[Pod, NodeInfo], list[str]]
Score = Callable[[Pod, NodeInfo, Snapshot], float]

# In the order they run (cheap and decisive first, as Kubernetes orders its defaults).
FILTERS: tuple[tuple[str, Filter], ...] = tuple((m.NAME, m.fits) for m in (
    node_ready, node_unschedulable, node_resources_fit, node_affinity, node_ports,
    taint_toleration))

SCORES: tuple[tuple[str, Score, float], ...] = tuple((m.NAME, m.score, m.WEIGHT) for m in (
    least_allocated, balanced_allocation, selector_spread, taint_toleration))
