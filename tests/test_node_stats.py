"""The agent's usage summary from docker's stats (node_agent/stats.py): CPU as a rate between
docker's two samples, memory as the working set, summed per pod and per node."""

from __future__ import annotations

from node_agent.pods.model import LABEL_CONTAINER, LABEL_POD_NAME, LABEL_POD_NAMESPACE, \
    LABEL_POD_UID, PAUSE
from node_agent.stats import cpu_nano_cores, summarize, working_set_bytes


def sample(cpu_now, cpu_before, memory=50 << 20, inactive=10 << 20,
           read="2026-11-23T10:00:01.000000000Z", preread="2026-11-23T10:00:00.000000000Z"):
    """docker's non-streamed stats (cgroup v2 shape), CPU times in ns."""
    return {"read": read, "preread": preread,
            "cpu_stats": {"cpu_usage": {"total_usage": cpu_now}, "system_cpu_usage": 2_000_000,
                          "online_cpus": 2},
            "precpu_stats": {"cpu_usage": {"total_usage": cpu_before},
                             "system_cpu_usage": 1_000_000},
            "memory_stats": {"usage": memory, "stats": {"inactive_file": inactive}}}


def labels(pod, container, ns="default"):
    return {LABEL_POD_NAMESPACE: ns, LABEL_POD_NAME: pod, LABEL_POD_UID: f"uid-{pod}",
            LABEL_CONTAINER: container}


def test_cpu_is_the_rate_between_the_two_samples():
    assert cpu_nano_cores(sample(1_250_000_000, 1_000_000_000)) == 250_000_000  # 0.25 core
    half_second = sample(600_000_000, 100_000_000, read="2026-11-23T10:00:00.500000000Z")
    assert cpu_nano_cores(half_second) == 1_000_000_000
    first = sample(10, 0)
    first["precpu_stats"] = {}  # docker had no earlier sample
    assert cpu_nano_cores(first) is None


def test_memory_is_the_working_set():
    assert working_set_bytes(sample(0, 0)) == 40 << 20
    v1 = sample(0, 0)
    v1["memory_stats"]["stats"] = {"total_inactive_file": 5 << 20}
    assert working_set_bytes(v1) == 45 << 20
    assert working_set_bytes({"memory_stats": {}}) is None


def test_summary_sums_containers_per_pod_and_pods_per_node_leaving_sandboxes_unlisted():
    summary = summarize("host1", [
        (labels("web-1", "web"), sample(1_100_000_000, 1_000_000_000)),
        (labels("web-1", "side"), sample(1_050_000_000, 1_000_000_000, memory=20 << 20)),
        (labels("web-1", PAUSE), sample(1_000_000, 0, memory=1 << 20, inactive=0)),
        (labels("db-1", "db", ns="data"), sample(1_300_000_000, 1_000_000_000)),
    ])
    data, web = summary["pods"]
    assert web["podRef"] == {"namespace": "default", "name": "web-1", "uid": "uid-web-1"}
    assert [c["name"] for c in web["containers"]] == ["web", "side"]
    assert web["cpu"]["usageNanoCores"] == 100_000_000 + 50_000_000 + 1_000_000
    assert web["memory"]["workingSetBytes"] == (40 << 20) + (10 << 20) + (1 << 20)
    assert summary["node"]["cpu"]["usageNanoCores"] == 151_000_000 + 300_000_000
    assert summary["node"]["nodeName"] == "host1"
    assert data["podRef"]["namespace"] == "data"
