"""Opens N watch streams on the API, makes one write, and measures how long until every watcher
has received it, and the master's resident memory before and after. Run by
scripts/bench/watchers inside a lab host's network namespace."""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import ssl
import time

import aiohttp


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--api", required=True)
    parser.add_argument("--ca", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--master-pid", type=int, required=True)
    parser.add_argument("-n", type=int, default=1000)
    args = parser.parse_args()
    context = ssl.create_default_context(cafile=args.ca)
    headers = {"Authorization": f"Bearer {args.token}"}
    ns = f"watch{secrets.token_hex(3)}"
    connector = aiohttp.TCPConnector(ssl=context, limit=0)
    async with aiohttp.ClientSession(headers=headers, connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=None)) as http:
        (await http.post(f"{args.api}/api/v1/namespaces",
                         json={"metadata": {"name": ns}})).raise_for_status()
        base = f"{args.api}/api/v1/namespaces/{ns}/configmaps"
        rv = (await (await http.get(base)).json())["metadata"]["resourceVersion"]
        before = rss_mib(args.master_pid)
        opened = time.perf_counter()
        streams = await asyncio.gather(*(http.get(base, params={
            "watch": "true", "resourceVersion": rv, "timeoutSeconds": "120"}) for _ in range(args.n)))
        open_seconds = time.perf_counter() - opened
        during = rss_mib(args.master_pid)

        async def first_event(response) -> float:
            line = await response.content.readline()
            assert json.loads(line)["type"] == "ADDED"
            return time.perf_counter()

        waiters = [asyncio.create_task(first_event(s)) for s in streams]
        await asyncio.sleep(0.5)
        written = time.perf_counter()
        (await http.post(base, json={"metadata": {"name": "ping"}})).raise_for_status()
        arrivals = sorted(await asyncio.gather(*waiters))
        for s in streams:
            s.close()
        await http.delete(f"{args.api}/api/v1/namespaces/{ns}")
    delays = [(t - written) * 1000 for t in arrivals]
    print(f"{args.n} watch streams open on one master (opened in {open_seconds:.1f} s)")
    print(f"one write reached: 50% of watchers in {delays[len(delays) // 2]:.0f} ms, "
          f"all in {delays[-1]:.0f} ms")
    print(f"master RSS: {before:.0f} MiB before, {during:.0f} MiB with the watchers "
          f"({(during - before) * 1024 / args.n:.0f} KiB per watcher); etcd watches: one per "
          "resource, whatever N is")


if __name__ == "__main__":
    asyncio.run(main())
