"""metrics.k8s.io: NodeMetrics and PodMetrics from the agents' summaries (kube/metrics.py), and
the API server's demand-driven collector (orchestrator/api/metrics.py) with fake sources."""

from __future__ import annotations

import asyncio

from kube import metrics
from orchestrator.api.metrics import MetricsCollector

NODE = {"metadata": {"name": "host1", "labels": {"zone": "a"}},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]}}
DOWN = {"metadata": {"name": "host2"},
        "status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}}
POD = {"metadata": {"name": "web-1", "namespace": "d", "uid": "u1", "labels": {"app": "web"}}}
SUMMARY = {"node": {"nodeName": "host1", "cpu": {"usageNanoCores": 250_000_000},
                    "memory": {"workingSetBytes": 10 * 1024 * 1024}},
           "pods": [{"podRef": {"name": "web-1", "namespace": "d", "uid": "u1"},
                     "containers": [{"name": "web", "cpu": {"usageNanoCores": 1_000_000},
                                     "memory": {"workingSetBytes": 2048}}]},
                    {"podRef": {"name": "gone", "namespace": "d", "uid": "old"},
                     "containers": [{"name": "c", "cpu": {"usageNanoCores": 1},
                                     "memory": {"workingSetBytes": 1}}]}]}


def test_the_shapes_and_units_are_metrics_servers():
    node = metrics.node_metrics(SUMMARY, NODE, "2026-12-01T00:00:00Z")
    assert node == {"kind": "NodeMetrics", "apiVersion": "metrics.k8s.io/v1beta1",
                    "metadata": {"name": "host1", "creationTimestamp": "2026-12-01T00:00:00Z",
                                 "labels": {"zone": "a"}},
                    "timestamp": "2026-12-01T00:00:00Z", "window": "1s",
                    "usage": {"cpu": "250000000n", "memory": "10240Ki"}}
    [pod] = metrics.pod_metrics(SUMMARY, [POD], "t")  # a pod the API no longer has: left out
    assert pod["metadata"]["labels"] == {"app": "web"}
    assert pod["containers"] == [{"name": "web", "usage": {"cpu": "1000000n", "memory": "2Ki"}}]
    no_sample = {"node": {"cpu": {"usageNanoCores": None}, "memory": {"workingSetBytes": 1}}}
    assert metrics.node_metrics(no_sample, NODE, "t") is None


def test_the_collector_starts_on_the_first_read_skips_unready_nodes_and_stops_when_idle():
    asked: list[str] = []

    async def nodes():
        return [NODE, DOWN]

    async def pods():
        return [POD]

    async def summary(name):
        asked.append(name)
        return SUMMARY

    async def scenario():
        collector = MetricsCollector(nodes, pods, summary, period=0.05, idle=0.3,
                                     round_timeout=0.1)
        assert asked == []  # nothing before anyone reads
        snapshot = await collector.read()
        assert [n["metadata"]["name"] for n in snapshot.nodes] == ["host1"]
        assert [p["metadata"]["name"] for p in snapshot.pods] == ["web-1"]
        await asyncio.sleep(0.2)
        rounds = len(asked)
        assert rounds >= 2  # kept fresh while read
        await asyncio.sleep(0.6)
        idle_rounds = len(asked)
        await asyncio.sleep(0.3)
        assert len(asked) == idle_rounds  # no one reads: no rounds
        await collector.read()
        assert len(asked) > idle_rounds  # a read starts it again
        await collector.stop()

    asyncio.run(asyncio.wait_for(scenario(), 20))
    assert set(asked) == {"host1"}


def test_a_node_that_does_not_answer_is_left_out_of_the_round():
    async def nodes():
        return [NODE]

    async def pods():
        return []

    async def summary(name):
        raise ConnectionError("refused")

    async def scenario():
        collector = MetricsCollector(nodes, pods, summary, period=10)
        snapshot = await collector.read()
        await collector.stop()
        return snapshot

    snapshot = asyncio.run(asyncio.wait_for(scenario(), 20))
    assert snapshot.nodes == [] and snapshot.taken
