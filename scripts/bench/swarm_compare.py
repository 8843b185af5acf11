"""This orchestrator beside Docker Swarm on the same lab hosts, in the same run.

    deploy     time for R replicas (default 30) of orch/web:1 to be running: a Deployment here,
               a replicated service there (`--endpoint-mode dnsrr`: this kernel has no IPVS for
               Swarm's routing mesh; the image is local on every host and never resolved
               against a registry)
    node-loss  with 6 replicas spread over the 3 hosts, the time from powering host3 off (every
               process of it killed: `scripts/lab kill host3`) to 6 replicas running on the
               other hosts

The lab's dockerds are joined into a swarm (host1 the manager) for the Swarm runs and leave it
afterwards. "Running": here, pods in phase Running; in Swarm, tasks in state running. Run by
scripts/bench/deploy and scripts/bench/node-loss.
"""

from __future__ import annotations

import argparse
import json
import secrets
import subprocess
import sys
import time
from pathlib import Path

import docker
import docker.types
import requests

REPO = Path(__file__).resolve().parents[2]
LAB = REPO / "scripts" / "lab"


class Lab:
    def __init__(self, name: str) -> None:
        self.name = name
        inventory = json.loads(Path(f"/run/orch-lab/{name}/inventory.json").read_text())
        self.hosts = inventory["hosts"]
        self.api = requests.Session()
        self.api.trust_env = False
        self.api.verify = inventory["ca_file"]
        self.api.headers["Authorization"] = \
            f"Bearer {Path(inventory['admin_token_file']).read_text().strip()}"
        self.base = inventory["api"]

    def lab(self, *args: str) -> None:
        subprocess.run([str(LAB), "--name", self.name, *args], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def docker(self, i: int) -> docker.DockerClient:
        return docker.DockerClient(base_url=self.hosts[i]["docker"], version="1.41", timeout=60)

    def get(self, path: str, **params) -> dict:
        for _ in range(20):
            try:
                r = self.api.get(self.base + path, params=params, timeout=10)
                if r.status_code < 500:
                    r.raise_for_status()
                    return r.json()
            except requests.ConnectionError:
                pass
            time.sleep(0.25)
        raise SystemExit(f"the API does not answer {path}")


def wait(condition, timeout: float, what: str, interval: float = 0.05) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)
    return time.monotonic() - started


# --- this orchestrator ---

def deployment(name: str, replicas: int) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {
                         "terminationGracePeriodSeconds": 1,
                         "containers": [{"name": "web", "image": "orch/web:1",
                                         "imagePullPolicy": "Never"}]}}}}


def our_running(lab: Lab, ns: str, app: str, avoid: str | None = None) -> int:
    pods = lab.get(f"/api/v1/namespaces/{ns}/pods", labelSelector=f"app={app}")["items"]
    return sum(1 for p in pods if not p["metadata"].get("deletionTimestamp")
               and (p.get("status") or {}).get("phase") == "Running"
               and p["spec"].get("nodeName") != avoid
               and all(c.get("state", {}).get("running")
                       for c in p["status"].get("containerStatuses") or [{}]))


def ours(lab: Lab, replicas: int, lose_host: bool) -> float:
    ns = f"bench{secrets.token_hex(3)}"
    lab.api.post(lab.base + "/api/v1/namespaces",
                 json={"metadata": {"name": ns}}).raise_for_status()
    try:
        started = time.monotonic()
        lab.api.post(f"{lab.base}/apis/apps/v1/namespaces/{ns}/deployments",
                     json=deployment("web", replicas)).raise_for_status()
        try:
            wait(lambda: our_running(lab, ns, "web") == replicas, 300, "our replicas")
        except SystemExit:
            pods = lab.get(f"/api/v1/namespaces/{ns}/pods")["items"]
            for p in pods:
                if (p.get("status") or {}).get("phase") != "Running":
                    print("  not running:", p["metadata"]["name"], p["spec"].get("nodeName"),
                          json.dumps(p.get("status"))[:400], file=sys.stderr)
            raise
        took = time.monotonic() - started
        if not lose_host:
            return took
        victim = lab.hosts[-1]["name"]
        killed = time.monotonic()
        lab.lab("kill", victim)
        wait(lambda: our_running(lab, ns, "web", avoid=victim) == replicas, 300,
             "our replicas elsewhere")
        return time.monotonic() - killed
    finally:
        if lose_host:
            lab.lab("start", lab.hosts[-1]["name"])
        lab.api.delete(f"{lab.base}/api/v1/namespaces/{ns}")
        wait(lambda: lab.api.get(f"{lab.base}/api/v1/namespaces/{ns}").status_code == 404, 180,
             "the namespace to go", 0.5)


# --- Docker Swarm ---

def swarm_up(lab: Lab) -> None:
    manager = lab.docker(0)
    manager.swarm.init(advertise_addr=lab.hosts[0]["address"], listen_addr="0.0.0.0:2377")
    token = manager.swarm.attrs["JoinTokens"]["Worker"]
    for i in range(1, len(lab.hosts)):
        lab.docker(i).swarm.join(remote_addrs=[f"{lab.hosts[0]['address']}:2377"],
                                 join_token=token, advertise_addr=lab.hosts[i]["address"],
                                 listen_addr="0.0.0.0:2377")
    wait(lambda: sum(1 for n in manager.nodes.list() if n.attrs["Status"]["State"] == "ready")
         == len(lab.hosts), 60, "every swarm node ready")


def swarm_down(lab: Lab) -> None:
    for i in reversed(range(len(lab.hosts))):
        try:
            lab.docker(i).swarm.leave(force=True)
        except docker.errors.APIError:
            pass


def swarm_running(manager: docker.DockerClient, service, avoid_node: str | None = None) -> int:
    tasks = manager.api.tasks(filters={"service": service.id, "desired-state": "running"})
    return sum(1 for t in tasks if t["Status"]["State"] == "running"
               and t.get("NodeID") != avoid_node)


def swarm(lab: Lab, replicas: int, lose_host: bool) -> float:
    manager = lab.docker(0)
    swarm_up(lab)
    try:
        started = time.monotonic()
        service = manager.services.create(
            "orch/web:1", name=f"web{secrets.token_hex(3)}",
            mode=docker.types.ServiceMode("replicated", replicas=replicas),
            endpoint_spec=docker.types.EndpointSpec(mode="dnsrr"),
            stop_grace_period=1_000_000_000)
        wait(lambda: swarm_running(manager, service) == replicas, 300, "swarm's replicas")
        took = time.monotonic() - started
        if not lose_host:
            service.remove()
            return took
        victim = next(n.id for n in manager.nodes.list()
                      if n.attrs["Status"].get("Addr") == lab.hosts[-1]["address"])
        killed = time.monotonic()
        lab.lab("kill", lab.hosts[-1]["name"])
        wait(lambda: swarm_running(manager, service, avoid_node=victim) == replicas, 300,
             "swarm's replicas elsewhere")
        took = time.monotonic() - killed
        service.remove()
        return took
    finally:
        if lose_host:
            lab.lab("start", lab.hosts[-1]["name"])
        swarm_down(lab)
        for i in range(len(lab.hosts)):  # the service's containers go with the swarm
            client = lab.docker(i)
            for c in client.containers.list(all=True, filters={"label": "com.docker.swarm.task"}):
                c.remove(force=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["deploy", "node-loss"])
    parser.add_argument("--lab", required=True)
    parser.add_argument("--replicas", type=int, default=None)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    lab = Lab(args.lab)
    lose = args.mode == "node-loss"
    replicas = args.replicas or (2 * len(lab.hosts) if lose else 30)
    what = (f"host {lab.hosts[-1]['name']} lost -> {replicas} replicas running elsewhere"
            if lose else f"{replicas} replicas of orch/web:1 running")
    print(f"{args.mode}: {what} ({len(lab.hosts)} hosts, {args.runs} run(s) each)", flush=True)
    for run in range(args.runs):
        ours_s = ours(lab, replicas, lose)
        swarm_s = swarm(lab, replicas, lose)
        print(f"  run {run + 1}: orchestrator {ours_s:6.1f} s   docker swarm {swarm_s:6.1f} s   "
              f"ratio (ours/swarm) {ours_s / swarm_s:5.2f}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
