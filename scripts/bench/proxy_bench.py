"""Service proxy benchmark (iptables backend). Run by scripts/bench/proxy.

    sync:    in a scratch network namespace, for N services × 3 endpoints: the first full sync
             (empty kernel), a periodic full resync (everything in place), and the partial sync
             after one endpoint of one service changed; with the time spent rendering in Python
             apart from iptables-restore's.
    latency: on a live lab, network programming latency: an Endpoints object is changed through
             the API, and each host is polled until its rules hold the new endpoint's chain;
             p50/p99 over the changes, per host and overall.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import subprocess
import threading
import time
from pathlib import Path

from node_agent.proxy.iptables import render, sep_chain
from node_agent.proxy.model import Endpoint, ProxyState, ServicePortName
from node_agent.proxy.proxier import Iptables, IptablesProxier

CIDR = "10.244.0.0/16"


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def objects(n: int, changed: int | None = None) -> tuple[list[dict], list[dict]]:
    services, endpoints = [], []
    for i in range(n):
        name = f"svc{i}"
        services.append({"metadata": {"namespace": "bench", "name": name},
                         "spec": {"type": "NodePort" if i % 10 == 0 else "ClusterIP",
                                  "clusterIP": f"10.{96 + i // 65536}.{i // 256 % 256}.{i % 256}",
                                  "ports": [{"name": "http", "port": 80, "protocol": "TCP",
                                             **({"nodePort": 30000 + i} if i % 10 == 0
                                                else {})}]}})
        ips = [f"10.244.{1 + (i * 3 + k) // 250 % 250}.{2 + (i * 3 + k) % 250}"
               for k in range(3)]
        if i == changed:
            ips[0] = "10.244.250.250"
        endpoints.append({"metadata": {"namespace": "bench", "name": name},
                          "subsets": [{"ports": [{"name": "http", "port": 8080}],
                                       "addresses": [{"ip": ip} for ip in ips]}]})
    return services, endpoints


def bench_sync(sizes: list[int]) -> None:
    netns = f"orchbench-proxy-{secrets.token_hex(3)}"
    subprocess.run(["ip", "netns", "add", netns], check=True)
    try:
        print(f"{'services':>8} {'render s':>9} {'first full s':>13} {'resync s':>9} "
              f"{'1 endpoint s':>13} {'chains':>7}")
        for n in sizes:
            iptables = Iptables(netns)
            proxier = IptablesProxier(iptables, CIDR)
            proxier.cleanup()
            state = ProxyState.build(*objects(n))
            started = time.perf_counter()
            render(state, CIDR)
            rendered = time.perf_counter() - started
            first = proxier.sync(state, full=True)
            resync = proxier.sync(state, full=True)
            changed = proxier.sync(ProxyState.build(*objects(n, changed=n // 2)))
            assert changed.written == 1, changed
            chains = iptables.save("nat").count("\n:ORCH-")
            print(f"{n:>8} {rendered:>9.3f} {first.seconds:>13.2f} {resync.seconds:>9.2f} "
                  f"{changed.seconds:>13.3f} {chains:>7}", flush=True)
            proxier.cleanup()
    finally:
        subprocess.run(["ip", "netns", "del", netns], check=False)


def bench_latency(inventory: Path, services: int, changes: int) -> None:
    from kube.client import Client
    inv = json.loads(inventory.read_text())
    client = Client.from_files(inv["api"], inv["ca_file"], inv["admin_token_file"])
    ns = f"proxybench{secrets.token_hex(3)}"
    client.create("namespaces", {"metadata": {"name": ns}})
    hosts = inv["hosts"]

    def endpoints(name: str, ip: str) -> dict:
        return {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": name},
                "subsets": [{"ports": [{"name": "http", "port": 8080}],
                             "addresses": [{"ip": ip}]}]}

    try:
        for i in range(services):  # selector-less: the benchmark writes their Endpoints
            client.create("services", {"metadata": {"name": f"s{i}"}, "spec": {
                "ports": [{"name": "http", "port": 80}]}}, ns)
            client.create("endpoints", endpoints(f"s{i}", f"10.244.{1 + i % 3}.{10 + i}"), ns)
        time.sleep(3)  # every agent has programmed them
        lags: dict[str, list[float]] = {h["name"]: [] for h in hosts}
        for k in range(changes):
            name = f"s{k % services}"
            ip = f"10.244.{200 + k // 250}.{1 + k % 250}"
            chain = sep_chain(ServicePortName(ns, name, "http", "TCP"), Endpoint(ip, 8080))
            current = client.get("endpoints", name, ns)
            current["subsets"] = endpoints(name, ip)["subsets"]
            changed_at = [0.0]

            def poll(host: dict) -> None:
                argv = ["nsenter", f"--net=/run/netns/{host['netns']}", "--",
                        "iptables", "-w", "5", "-t", "nat", "-S", chain]
                deadline = time.perf_counter() + 30
                while time.perf_counter() < deadline:
                    if subprocess.run(argv, capture_output=True).returncode == 0:
                        lags[host["name"]].append(time.perf_counter() - changed_at[0])
                        return
                    time.sleep(0.005)
                lags[host["name"]].append(float("inf"))

            threads = [threading.Thread(target=poll, args=(h,)) for h in hosts]
            changed_at[0] = time.perf_counter()
            client.update("endpoints", current)
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            time.sleep(0.2)
        every = [v for values in lags.values() for v in values]
        worst = [max(lags[h["name"]][k] for h in hosts) for k in range(changes)]
        print(f"network programming latency, {changes} Endpoints changes with {services} "
              f"services present (API write → rules on the host; polled every 5 ms):")
        for host, values in lags.items():
            print(f"  {host}: p50 {pct(values, 50) * 1000:.0f} ms, "
                  f"p99 {pct(values, 99) * 1000:.0f} ms")
        print(f"  any host: p50 {pct(every, 50) * 1000:.0f} ms, p99 {pct(every, 99) * 1000:.0f} "
              f"ms; all hosts: p50 {pct(worst, 50) * 1000:.0f} ms, "
              f"p99 {pct(worst, 99) * 1000:.0f} ms, mean {statistics.mean(worst) * 1000:.0f} ms")
    finally:
        client.delete("namespaces", ns)


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="what", required=True)
    s = sub.add_parser("sync")
    s.add_argument("--sizes", default="100,1000,5000")
    lat = sub.add_parser("latency")
    lat.add_argument("--inventory", required=True, type=Path)
    lat.add_argument("--services", type=int, default=100)
    lat.add_argument("--changes", type=int, default=40)
    args = parser.parse_args()
    if args.what == "sync":
        bench_sync([int(x) for x in args.sizes.split(",")])
    else:
        bench_latency(args.inventory, args.services, args.changes)


if __name__ == "__main__":
    main()
