"""Latency of the API (create, get over HTTPS) against raw etcd (put, get) at one concurrency,
measured in the same run from the same place; then lists of the N objects: whole, in pages of
100 (limit/continue), and as the Table kubectl asks for, against etcd's range of the same keys.
Run by scripts/bench/api inside a lab host's network namespace; prints two tables."""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests

from orchestrator.store import Etcd, EtcdTLS


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def measure(op, n: int, concurrency: int) -> tuple[list[float], float]:
    latencies: list[float] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        started = time.perf_counter()
        op(i)
        elapsed = time.perf_counter() - started
        with lock:
            latencies.append(elapsed)

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(n)))
    return latencies, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--api", required=True)
    parser.add_argument("--ca", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--etcd", required=True, help="comma-separated client URLs")
    parser.add_argument("--etcd-cacert", help="etcd's CA (with --etcd-cert/--etcd-key: mutual TLS, "
                        "as the API server talks to etcd)")
    parser.add_argument("--etcd-cert")
    parser.add_argument("--etcd-key")
    parser.add_argument("-n", type=int, default=400)
    parser.add_argument("-c", "--concurrency", type=int, default=8)
    args = parser.parse_args()

    local = threading.local()

    def session() -> requests.Session:
        if not hasattr(local, "s"):
            local.s = requests.Session()
            local.s.trust_env = False
            local.s.verify = args.ca
            local.s.headers["Authorization"] = f"Bearer {args.token}"
        return local.s

    ns = f"bench{secrets.token_hex(3)}"
    base = f"{args.api}/api/v1/namespaces/{ns}/configmaps"
    session().post(f"{args.api}/api/v1/namespaces", json={"metadata": {"name": ns}}).raise_for_status()

    def api_create(i: int) -> None:
        session().post(base, json={"metadata": {"name": f"c{i}"}, "data": {"k": "v" * 100}}
                       ).raise_for_status()

    def api_get(i: int) -> None:
        session().get(f"{base}/c{i}").raise_for_status()

    tls = EtcdTLS(args.etcd_cacert, args.etcd_cert, args.etcd_key) if args.etcd_cacert else None
    etcd = Etcd(args.etcd.split(","), tls=tls)
    value = json.dumps({"metadata": {"name": "x"}, "data": {"k": "v" * 100}}).encode()

    def etcd_put(i: int) -> None:
        etcd.create(f"/bench/{ns}/c{i}", value)

    def etcd_get(i: int) -> None:
        etcd.get(f"/bench/{ns}/c{i}")

    rows = []
    for label, op in (("API create (POST)", api_create), ("etcd create (txn)", etcd_put),
                      ("API get", api_get), ("etcd get", etcd_get)):
        latencies, wall = measure(op, args.n, args.concurrency)
        rows.append((label, statistics.median(latencies) * 1000, percentile(latencies, 99) * 1000,
                     args.n / wall))

    def api_list(_: int) -> None:
        session().get(base).raise_for_status()

    def api_pages(_: int) -> None:
        token = None
        while True:
            page = session().get(base, params={"limit": "100", **({"continue": token}
                                                                   if token else {})}).json()
            token = page["metadata"].get("continue")
            if not token:
                return

    def api_table(_: int) -> None:
        session().get(base, headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}
                      ).raise_for_status()

    def etcd_range(_: int) -> None:
        etcd.range_prefix(f"/bench/{ns}/")

    lists = []
    for label, op in (("API list, JSON", api_list), ("API list, pages of 100", api_pages),
                      ("API list, as Table", api_table), ("etcd range", etcd_range)):
        latencies, _ = measure(op, 20, 1)
        lists.append((label, statistics.median(latencies) * 1000, percentile(latencies, 99) * 1000))
    session().delete(f"{args.api}/api/v1/namespaces/{ns}")
    for i in range(args.n):
        etcd.delete(f"/bench/{ns}/c{i}")
    etcd.close()

    print(f"{args.n} operations each, concurrency {args.concurrency}, from inside the lab "
          "(3-member etcd; TLS to the API, mutual TLS to etcd)")
    print(f"{'operation':<20} {'p50 ms':>8} {'p99 ms':>8} {'ops/s':>8}")
    for label, p50, p99, rate in rows:
        print(f"{label:<20} {p50:8.2f} {p99:8.2f} {rate:8.0f}")
    by = {label.split()[0] + " " + label.split()[1]: (p50, p99) for label, p50, p99, _ in rows}
    print(f"API / etcd p50: create {by['API create'][0] / by['etcd create'][0]:.1f}x, "
          f"get {by['API get'][0] / by['etcd get'][0]:.1f}x")
    print(f"\nlisting the {args.n} objects (20 times each, one at a time)")
    print(f"{'list':<24} {'p50 ms':>8} {'p99 ms':>8}")
    for label, p50, p99 in lists:
        print(f"{label:<24} {p50:8.2f} {p99:8.2f}")
    base_p50 = lists[-1][1]
    print("API / etcd range p50: " + ", ".join(f"{label.removeprefix('API list, ')} "
                                              f"{p50 / base_p50:.1f}x" for label, p50, _ in lists[:-1]))


if __name__ == "__main__":
    main()
