"""Pod start-up latency: from the create request to phase Running (and Ready) as seen by a
watch, over N pods on one node, beside a bare `docker run -d` of the same image on the same
dockerd, measured in the same run. Run by scripts/bench/pod-startup."""

from __future__ import annotations

import argparse
import queue
import secrets
import statistics
import threading
import time

import docker

from kube.client import Client


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--api", required=True)
    parser.add_argument("--ca", required=True)
    parser.add_argument("--token-file", required=True)
    parser.add_argument("--node", required=True)
    parser.add_argument("--docker", required=True)
    parser.add_argument("-n", type=int, default=30)
    args = parser.parse_args()
    client = Client.from_files(args.api, args.ca, args.token_file)
    ns = f"startup{secrets.token_hex(3)}"
    client.create("namespaces", {"metadata": {"name": ns}})
    running: queue.Queue = queue.Queue()
    rv = client.list("pods", ns).resource_version

    def watch() -> None:
        seen = set()
        for event in client.watch("pods", ns, resource_version=rv, timeout_seconds=600):
            pod = event.object
            status = pod.get("status") or {}
            ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                        for c in status.get("conditions") or [])
            name = pod["metadata"]["name"]
            if status.get("phase") == "Running" and ready and name not in seen:
                seen.add(name)
                running.put((name, time.perf_counter()))
            if len(seen) == args.n:
                return

    threading.Thread(target=watch, daemon=True).start()
    time.sleep(0.5)
    pod_times = []
    for i in range(args.n):
        started = time.perf_counter()
        client.create("pods", {"metadata": {"name": f"p{i}"}, "spec": {
            "nodeName": args.node, "containers": [{"name": "web", "image": "orch/web:1"}]}}, ns)
        name, at = running.get(timeout=60)
        assert name == f"p{i}"
        pod_times.append(at - started)
    client.delete("namespaces", ns)

    engine = docker.DockerClient(base_url=args.docker, version="1.41")
    docker_times = []
    for _ in range(args.n):
        started = time.perf_counter()
        container = engine.containers.run("orch/web:1", detach=True, labels={"bench": "1"})
        docker_times.append(time.perf_counter() - started)
        container.remove(force=True)

    print(f"{args.n} pods, one at a time, on {args.node} (one container each, orch/web:1)")
    print(f"{'':34} {'p50 ms':>8} {'p99 ms':>8}")
    print(f"{'pod: create -> Running+Ready (watch)':34} {statistics.median(pod_times) * 1000:8.0f} "
          f"{pct(pod_times, 99) * 1000:8.0f}")
    print(f"{'docker run -d (same image, host)':34} {statistics.median(docker_times) * 1000:8.0f} "
          f"{pct(docker_times, 99) * 1000:8.0f}")
    print(f"ratio p50: {statistics.median(pod_times) / statistics.median(docker_times):.1f}x "
          "(a pod is two containers: the pause sandbox and the app)")


if __name__ == "__main__":
    main()
