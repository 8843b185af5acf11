"""The API server's collector for metrics.k8s.io (kube/metrics.py): the nodes' usage, fetched
from their agents (`/stats/summary`) and kept, so a read is answered from memory and never
waits on docker.

Collection is driven by demand: the first read starts it and waits for one round; rounds then
follow every PERIOD seconds while reads keep coming (kubectl top, an autoscaler's loop) and stop
after IDLE seconds without one, so an idle cluster pays nothing. Every API server keeps its
own. A node whose agent does not answer within ROUND_TIMEOUT is left out of that round, as
metrics-server leaves out a node it could not scrape.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from kube import metrics
from kube.conditions import condition
from kube.objects import Object
from kube.timestamps import now_rfc3339

log = logging.getLogger(__name__)
PERIOD = 10.0
IDLE = 300.0
ROUND_TIMEOUT = 10.0


@dataclass
class Snapshot:
    nodes: list[Object] = field(default_factory=list)
    pods: list[Object] = field(default_factory=list)
    taken: float = 0.0  # monotonic; 0: never


class MetricsCollector:
    def __init__(self, list_nodes: Callable[[], Awaitable[list[Object]]],
                 list_pods: Callable[[], Awaitable[list[Object]]],
                 summary: Callable[[str], Awaitable[Object]],
                 period: float = PERIOD, idle: float = IDLE,
                 round_timeout: float = ROUND_TIMEOUT) -> None:
        self._list_nodes, self._list_pods, self._summary = list_nodes, list_pods, summary
        self.period, self.idle, self.round_timeout = period, idle, round_timeout
        self.snapshot = Snapshot()
        self._last_read = 0.0
        self._task: asyncio.Task[None] | None = None
        self._round_done = asyncio.Event()

    async def read(self) -> Snapshot:
        """The latest round; when there is none recent (the first read, or the first after
        the collector stopped for want of readers) it waits for the next, up to a round's
        timeout."""
        now = time.monotonic()
        self._last_read = now
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._run())
        if not self.snapshot.taken or \
                now - self.snapshot.taken > 2 * self.period + self.round_timeout:
            self._round_done.clear()
            try:
                await asyncio.wait_for(self._round_done.wait(), self.round_timeout + 5)
            except asyncio.TimeoutError:
                pass
        return self.snapshot

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while time.monotonic() - self._last_read < self.idle:
            try:
                self.snapshot = await self._round()
            except Exception:  # a round that failed leaves the last one standing
                log.exception("metrics: a collection round failed")
            self._round_done.set()
            await asyncio.sleep(self.period)

    async def _round(self) -> Snapshot:
        nodes = [n for n in await self._list_nodes()
                 if (condition(n, "Ready") or {}).get("status") == "True"]
        pods = await self._list_pods()

        async def one(node: Object) -> Object | None:
            try:
                return await asyncio.wait_for(self._summary(node["metadata"]["name"]),
                                              self.round_timeout)
            except Exception as e:  # that node is left out of this round
                log.info("metrics: no summary from %s: %s", node["metadata"]["name"], e)
                return None

        summaries = await asyncio.gather(*(one(n) for n in nodes))
        timestamp = now_rfc3339()
        snapshot = Snapshot(taken=time.monotonic())
        for node, summary in zip(nodes, summaries, strict=True):
            if summary is None:
                continue
            node_metrics = metrics.node_metrics(summary, node, timestamp)
            if node_metrics is not None:
                snapshot.nodes.append(node_metrics)
            snapshot.pods += metrics.pod_metrics(summary, pods, timestamp)
        return snapshot
