"""Scheduler throughput: pods/s scheduled and bound with N simulated nodes.

As Kubernetes' scheduler_perf: the real scheduler loop and store run in this process against a
real etcd (started here, single member, on loopback); the nodes are Node objects (Ready, with
capacity) whose Leases a thread renews every LEASE_RENEW seconds, as agents would, so the store
carries that write load too; no containers run. Timing: from the first pod created to the last
pod bound, as seen by the store.

    python scripts/bench/scheduler_throughput.py --nodes 100 1000 --pods 1000 [--constrained]

With --constrained the same number of pods that carry preferred pod anti-affinity and a
topology spread constraint follow on fresh nodes of the same cluster (the plain pods stay, so
the affinity terms have every pod to look at, as in Kubernetes), and the ratio is printed.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from orchestrator.api import allocation  # noqa: E402
from orchestrator.api.objects import Objects  # noqa: E402
from kube.registry import by_kind  # noqa: E402
from orchestrator.scheduler.loop import Scheduler  # noqa: E402
from orchestrator.store import Etcd, Store, StoreError  # noqa: E402

NODE, POD, NS, LEASE = (by_kind("v1", "Node"), by_kind("v1", "Pod"), by_kind("v1", "Namespace"),
                        by_kind("coordination.k8s.io/v1", "Lease"))
LEASE_RENEW = 2.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_etcd(data: Path) -> tuple[subprocess.Popen, str]:
    client, peer = free_port(), free_port()
    url = f"http://127.0.0.1:{client}"
    proc = subprocess.Popen([
        "etcd", "--name=bench", f"--data-dir={data}", f"--listen-client-urls={url}",
        f"--advertise-client-urls={url}", f"--listen-peer-urls=http://127.0.0.1:{peer}",
        f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
        f"--initial-cluster=bench=http://127.0.0.1:{peer}", "--log-level=error",
        "--quota-backend-bytes=4294967296"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", client), timeout=0.2).close()
            return proc, url
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit("etcd did not start") from None
            time.sleep(0.05)


def make_nodes(objects: Objects, n: int, tag: str) -> list[str]:
    names = [f"sim-{tag}-{i}" for i in range(n)]

    def one(name: str) -> None:
        objects.create(NODE, None, {"metadata": {"name": name, "labels": {"bench": tag}}})
        node = objects.get(NODE, None, name)
        node["status"] = {
            "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
            "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True", "reason": "Simulated"}]}
        objects.update(NODE, None, name, node, subresource="status")
        objects.create(LEASE, "kube-node-lease", {"metadata": {"name": name},
                                                  "spec": {"holderIdentity": name}})

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(one, names))
    return names


def renew_leases(objects: Objects, names: list[str], stop: threading.Event) -> None:
    while not stop.is_set():
        started = time.monotonic()
        for name in names:
            if stop.is_set():
                return
            objects.patch(LEASE, "kube-node-lease", name,
                          {"spec": {"renewTime": time.strftime("%Y-%m-%dT%H:%M:%SZ")}})
        stop.wait(max(0.0, LEASE_RENEW - (time.monotonic() - started)))


# What a chart's replicas commonly carry: spread over the nodes, softly (ingress-nginx's and many
# Helm charts' preferred anti-affinity, and a ScheduleAnyway topology spread constraint).
CONSTRAINTS = {
    "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 100, "podAffinityTerm": {"labelSelector": {"matchLabels": {"app": "bench"}},
                                            "topologyKey": "kubernetes.io/hostname"}}]}},
    "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                                   "whenUnsatisfiable": "ScheduleAnyway",
                                   "labelSelector": {"matchLabels": {"app": "bench"}}}],
}


def run(objects: Objects, nodes: int, pods: int, constrained: bool = False,
        tag: str = "") -> tuple[float, float]:
    tag = tag or f"n{nodes}"
    names = make_nodes(objects, nodes, tag)
    ns = f"bench-{tag}"
    objects.create(NS, None, {"metadata": {"name": ns}})
    stop = threading.Event()
    renewer = threading.Thread(target=renew_leases, args=(objects, names, stop), daemon=True)
    renewer.start()
    cache = objects.store.cache("pods")
    scheduler = Scheduler(objects)
    scheduler.start()
    time.sleep(0.5)
    body: dict = {"metadata": {"generateName": "p-", "labels": {"app": "bench"}},
                  "spec": {"nodeSelector": {"bench": tag}, "containers": [{
                      "name": "c", "image": "orch/web:1",
                      "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]}}
    if constrained:
        body["spec"].update(CONSTRAINTS)
    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: objects.create(POD, ns, body), range(pods)))
    created = time.monotonic()
    while True:
        items, _ = cache.list(f"/registry/pods/{ns}/")
        bound = sum(1 for p in items if p["spec"].get("nodeName"))
        if bound == pods:
            break
        time.sleep(0.01)
    done = time.monotonic()
    scheduler.stop()
    stop.set()
    per_node: dict[str, int] = {}
    for p in items:
        per_node[p["spec"]["nodeName"]] = per_node.get(p["spec"]["nodeName"], 0) + 1
    spread = (min(per_node.values()), max(per_node.values())) if per_node else (0, 0)
    kind = "constrained" if constrained else "plain"
    print(f"{nodes:>6} nodes  {pods:>5} {kind:<11} pods  created in {created - started:5.1f} s  "
          f"all bound in {done - started:5.1f} s  -> {pods / (done - started):6.1f} pods/s  "
          f"(pods per node min/max {spread[0]}/{spread[1]})", flush=True)
    return pods / (done - started), done - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--pods", type=int, default=1000)
    parser.add_argument("--constrained", action="store_true",
                        help="after the plain pods, as many with preferred pod anti-affinity "
                             "and a topology spread constraint, on as many fresh nodes; prints "
                             "the ratio")
    args = parser.parse_args()
    if shutil.which("etcd") is None:
        raise SystemExit("etcd is not installed: run scripts/install-deps")
    # 1,000 nodes do not fit 10.244.0.0/16 in /24s (256 would): give each simulated node a
    # /26, as Kubernetes' --node-cidr-mask-size would. Only this process sees the change.
    allocation.POD_CIDR_PREFIX = 26
    print(f"scheduler throughput (in-process scheduler, real etcd, simulated nodes with leases "
          f"renewed every {LEASE_RENEW:.0f} s; a fresh etcd per cluster size)", flush=True)
    for n in args.nodes:
        with tempfile.TemporaryDirectory(prefix="bench-scheduler-") as tmp:
            proc, url = start_etcd(Path(tmp) / "etcd")
            try:
                store = Store(Etcd([url]))
                objects = Objects(store)
                deadline = time.monotonic() + 30
                while True:  # the port opens before etcd serves
                    try:
                        objects.ensure_system_namespaces()
                        break
                    except StoreError:
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(0.2)
                plain, _ = run(objects, n, args.pods)
                if args.constrained:
                    constrained, _ = run(objects, n, args.pods, True, f"c{n}")
                    print(f"{n:>6} nodes  constrained/plain: {constrained / plain:.2f}",
                          flush=True)
                store.close()
            finally:
                proc.kill()
                proc.wait()

if __name__ == "__main__":
    main()
