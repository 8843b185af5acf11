"""Resource usage of a node's pods, from docker's container stats, in the kubelet's summary shape
(`/stats/summary`), which `orchctl top` reads through the API server (nodes/{name}/stats).

    {"node": {"nodeName": "host1", "cpu": {"usageNanoCores": N}, "memory": {"workingSetBytes": N}},
     "pods": [{"podRef": {"name", "namespace", "uid"},
               "containers": [{"name", "cpu": {"usageNanoCores"}, "memory": {"workingSetBytes"}}],
               "cpu": {…}, "memory": {…}}]}

CPU is a rate: docker's non-streamed stats carry two samples about a second apart (cpu_stats and
precpu_stats), so one call per container gives cores used over that second. Memory is the working
set as `docker stats` and the kubelet count it: usage minus inactive page cache. The node's figures
are the sum over the pods' containers (sandboxes included): in the netns lab the hosts share one
kernel, so the machine's own counters would say nothing about one host. Parsing is pure; `collect`
does the I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from kube.objects import Object
from node_agent.pods.model import LABEL_CONTAINER, LABEL_POD_NAME, LABEL_POD_NAMESPACE, \
    LABEL_POD_UID, PAUSE
from node_agent.runtime import ContainerRuntime, ContainerState, RuntimeFailure


def _timestamp_ns(text: str) -> int | None:
    """Docker's RFC 3339 time with nanoseconds ("2026-11-23T10:00:00.123456789Z") in ns."""
    if not text or text.startswith("0001-"):
        return None
    head, _, rest = text.partition(".")
    digits = "".join(ch for ch in rest if ch.isdigit())
    zone = rest[len(digits):] or "Z"
    try:
        seconds = datetime.fromisoformat(head + (zone if zone != "Z" else "+00:00")).timestamp()
    except ValueError:
        return None
    return int(seconds) * 1_000_000_000 + int((digits + "000000000")[:9] or 0)


def cpu_nano_cores(stats: Object) -> int | None:
    """Cores used between docker's two samples, in billionths; None without two samples."""
    now, before = stats.get("cpu_stats") or {}, stats.get("precpu_stats") or {}
    used = ((now.get("cpu_usage") or {}).get("total_usage"),
            (before.get("cpu_usage") or {}).get("total_usage"))
    if None in used or not before.get("system_cpu_usage"):
        return None
    read, preread = _timestamp_ns(stats.get("read", "")), _timestamp_ns(stats.get("preread", ""))
    if read is not None and preread is not None and read > preread:
        elapsed = read - preread
    else:  # system_cpu_usage sums every CPU's time
        cpus = now.get("online_cpus") or len((now.get("cpu_usage") or {}).get("percpu_usage")
                                             or ()) or 1
        elapsed = (now.get("system_cpu_usage", 0) - before["system_cpu_usage"]) / cpus
    if elapsed <= 0:
        return None
    return max(0, int((used[0] - used[1]) * 1_000_000_000 / elapsed))


def working_set_bytes(stats: Object) -> int | None:
    memory = stats.get("memory_stats") or {}
    usage = memory.get("usage")
    if usage is None:
        return None
    detail = memory.get("stats") or {}
    inactive = detail.get("inactive_file", detail.get("total_inactive_file", 0))
    return max(0, usage - inactive) if inactive < usage else 0


def summarize(node_name: str, samples: Iterable[tuple[dict[str, str], Object]]) -> Object:
    """The summary from (container labels, docker stats) pairs. Pure."""
    pods: dict[tuple[str, str], Object] = {}
    for labels, stats in samples:
        key = (labels.get(LABEL_POD_NAMESPACE, ""), labels.get(LABEL_POD_NAME, ""))
        pod = pods.setdefault(key, {"podRef": {"namespace": key[0], "name": key[1],
                                               "uid": labels.get(LABEL_POD_UID, "")},
                                    "containers": [], "cpu": {"usageNanoCores": 0},
                                    "memory": {"workingSetBytes": 0}})
        cpu, memory = cpu_nano_cores(stats), working_set_bytes(stats)
        for total, field, value in ((pod["cpu"], "usageNanoCores", cpu),
                                    (pod["memory"], "workingSetBytes", memory)):
            total[field] = total[field] + value if value is not None and \
                total[field] is not None else None
        name = labels.get(LABEL_CONTAINER, "")
        if name != PAUSE:
            pod["containers"].append({"name": name, "cpu": {"usageNanoCores": cpu},
                                      "memory": {"workingSetBytes": memory}})
    listed = sorted(pods.values(), key=lambda p: (p["podRef"]["namespace"], p["podRef"]["name"]))
    node_cpu = [p["cpu"]["usageNanoCores"] for p in listed]
    node_memory = [p["memory"]["workingSetBytes"] for p in listed]
    return {"node": {"nodeName": node_name,
                     "cpu": {"usageNanoCores": None if None in node_cpu else sum(node_cpu)},
                     "memory": {"workingSetBytes": None if None in node_memory
                                else sum(node_memory)}},
            "pods": listed}


def collect(runtime: ContainerRuntime, node_name: str, workers: int = 16) -> Object:
    """Stats of every running pod container, fetched in parallel (with docker each call takes
    about a second: docker waits for its second sample). Raises RuntimeFailure when the
    runtime does not answer the listing."""
    containers = runtime.list_containers({LABEL_POD_UID: ""}, running_only=True)

    def one(container: ContainerState) -> tuple[dict[str, str], Object] | None:
        try:
            return container.labels, runtime.stats(container.id)
        except RuntimeFailure:  # gone meanwhile: it is simply not counted
            return None

    if not containers:
        return summarize(node_name, [])
    with ThreadPoolExecutor(min(workers, len(containers)), thread_name_prefix="stats") as pool:
        samples = [s for s in pool.map(one, containers) if s is not None]
    return summarize(node_name, samples)
