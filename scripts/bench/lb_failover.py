"""How long a LoadBalancer address is away when the node announcing it loses its power.

A Service of type LoadBalancer over one backend pod per host; host1 (which publishes the API
to this machine) is labelled node.kubernetes.io/exclude-from-external-load-balancers, so the
announcer is host2 or host3. A probe on the lab's client machine (a LAN machine that is no
node) sends GET / every 50 ms with a 300 ms deadline; the announcer, read from the client's ARP
table, is powered off (`scripts/lab kill`); the figure is the time from the power-off's end
(every process of the host dead, its cable out) to the first answer after it. Then the host is
powered on again and the run repeats (--runs). There is no peer in this run: neither MetalLB
nor kube-vip can be installed here (no container registry to pull them from).

    scripts/bench/lb-failover [--runs N]          (NAME=lab to use a lab that is up)
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[2]
LAB = REPO / "scripts" / "lab"
EXCLUDE = "node.kubernetes.io/exclude-from-external-load-balancers"
PROBE = r"""
import socket, sys, time
address = sys.argv[1]
while True:
    started = time.time()
    try:
        with socket.create_connection((address, 80), timeout=0.3) as s:
            s.settimeout(0.3)
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            ok = s.recv(64).startswith(b"HTTP/")
    except OSError:
        ok = False
    print(("ok " if ok else "fail ") + repr(started), flush=True)
    time.sleep(max(0.0, 0.05 - (time.time() - started)))
"""


class Lab:
    def __init__(self, name: str) -> None:
        self.name = name
        inv = json.loads(Path(f"/run/orch-lab/{name}/inventory.json").read_text())
        self.inventory = inv
        self.http = requests.Session()
        self.http.trust_env = False
        self.http.verify = inv["ca_file"]
        self.http.headers["Authorization"] = \
            f"Bearer {Path(inv['admin_token_file']).read_text().strip()}"
        self.base = inv["api"]
        self.client_netns = inv["client"]["netns"]

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        return self.http.request(method, self.base + path, timeout=30, **kwargs)

    def lab(self, *args: str) -> None:
        subprocess.run([str(LAB), "--name", self.name, *args], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def on_client(self, *argv: str) -> str:
        return subprocess.run(["ip", "netns", "exec", self.client_netns, *argv],
                              capture_output=True, text=True).stdout

    def announcer(self, address: str) -> str | None:
        """Who answers the client's ARP for `address` now (its old entry flushed first)."""
        self.on_client("ip", "neigh", "flush", "to", address)
        self.on_client("curl", "-s", "--max-time", "2", "-o", "/dev/null", f"http://{address}/")
        found = re.search(r"lladdr ([0-9a-f:]{17})", self.on_client("ip", "neigh", "show",
                                                                      address))
        for host in self.inventory["hosts"]:
            link = subprocess.run(["ip", "netns", "exec", host["netns"], "ip", "-o", "link",
                                   "show", "eth0"], capture_output=True, text=True).stdout
            if found and found.group(1) in link:
                return host["name"]
        return None


def wait(condition, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.2)
    sys.exit(f"timed out waiting for {what}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lab", required=True)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    lab = Lab(args.lab)
    ns = f"bench-lb-{int(time.time())}"
    first = lab.inventory["hosts"][0]["name"]
    lab.api("POST", "/api/v1/namespaces", json={"metadata": {"name": ns}}).raise_for_status()
    lab.api("PATCH", f"/api/v1/nodes/{first}", json={"metadata": {"labels": {EXCLUDE: ""}}},
            headers={"Content-Type": "application/merge-patch+json"}).raise_for_status()
    figures = []
    try:
        for host in lab.inventory["hosts"]:
            lab.api("POST", f"/api/v1/namespaces/{ns}/pods", json={
                "metadata": {"name": f"web-{host['name']}", "labels": {"app": "web"}},
                "spec": {"nodeName": host["name"], "terminationGracePeriodSeconds": 1,
                         "containers": [{"name": "web", "image": "orch/web:1",
                                         "ports": [{"name": "http", "containerPort": 80}]}]}}
            ).raise_for_status()
        lab.api("POST", f"/api/v1/namespaces/{ns}/services", json={
            "metadata": {"name": "front"}, "spec": {
                "type": "LoadBalancer", "selector": {"app": "web"},
                "ports": [{"port": 80, "targetPort": "http"}]}}).raise_for_status()
        address = wait(lambda: ((lab.api("GET", f"/api/v1/namespaces/{ns}/services/front")
                                 .json().get("status") or {}).get("loadBalancer", {})
                                .get("ingress") or [{}])[0].get("ip"), 60, "an address")
        for run in range(args.runs):
            wait(lambda: "HTTP/" in lab.on_client("curl", "-si", "--max-time", "1",
                                                   f"http://{address}/"), 120, "answers")
            victim = wait(lambda: lab.announcer(address), 10, "the announcer")
            probe = subprocess.Popen(["ip", "netns", "exec", lab.client_netns, sys.executable,
                                      "-c", PROBE, address], stdout=subprocess.PIPE, text=True)
            time.sleep(1)
            lab.lab("kill", victim)
            killed = time.time()  # its processes are dead and its cable out from here on
            back = None
            assert probe.stdout is not None
            for line in probe.stdout:
                verdict, at = line.split()
                if float(at) > killed and verdict == "ok":
                    back = float(at)
                    break
                if time.time() - killed > 60:
                    break
            probe.kill()
            moved_to = lab.announcer(address)
            lab.lab("start", victim)
            if back is None:
                print(f"run {run + 1}: {address} did not answer within 60 s of {victim}'s "
                      "power-off")
                continue
            figures.append(back - killed)
            print(f"run {run + 1}: {victim} powered off; {address} answered from {moved_to} "
                  f"after {back - killed:.2f} s")
            wait(lambda: all(c["status"] == "True" for c in lab.api(
                "GET", f"/api/v1/nodes/{victim}").json()["status"]["conditions"]
                if c["type"] == "Ready"), 120, f"{victim} ready")
    finally:
        lab.api("DELETE", f"/api/v1/namespaces/{ns}")
        lab.api("PATCH", f"/api/v1/nodes/{first}", json={"metadata": {"labels": {EXCLUDE: None}}},
                headers={"Content-Type": "application/merge-patch+json"})
    if figures:
        print(f"load balancer failover: median {statistics.median(figures):.2f} s, "
              f"max {max(figures):.2f} s over {len(figures)} runs (goal: 5 s)")


if __name__ == "__main__":
    main()
