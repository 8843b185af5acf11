"""Requests per second through the Ingress beside straight to a pod, and how long a change
takes to be served at 100 and 1,000 Ingress rules.

On a lab with the ingress controller deployed (deploy/ingress-nginx.yaml; the script applies
it): a Deployment of orch/web:1 (2 replicas) behind a Service and an Ingress. The load loop
(Python, keep-alive connections, --connections at once for --seconds) runs on host1, which
reaches both the Ingress's address and the pod addresses, against each in the same run.
Then --rules Ingress rules (one Ingress per rule, host r<i>.example) are added, and one more is
added and timed from its API write to its first answer through the controller, and to when
20 requests in a row all reach it (nginx's old workers answer for a moment after a reload);
the controller's own log says how long the last render + `nginx -t` + reload took.

    scripts/bench/ingress [--seconds S] [--connections C] [--rules 100,1000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[2]
KUBECTL = Path(sys.executable).with_name("kubectl")
LOAD = r"""
import http.client, sys, threading, time
address, port, host = sys.argv[1], int(sys.argv[2]), sys.argv[3]
seconds, connections = float(sys.argv[4]), int(sys.argv[5])
counts, errors = [0] * connections, [0] * connections
end = time.monotonic() + seconds
def worker(i):
    c = None
    while time.monotonic() < end:
        try:
            if c is None:
                c = http.client.HTTPConnection(address, port, timeout=5)
            c.request("GET", "/", headers={"Host": host})
            r = c.getresponse(); r.read()
            if r.status == 200: counts[i] += 1
            else: errors[i] += 1
        except Exception:
            errors[i] += 1; c = None
threads = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
[t.start() for t in threads]; [t.join() for t in threads]
print(sum(counts) / seconds, sum(errors))
"""


class Lab:
    def __init__(self, name: str) -> None:
        inv = json.loads(Path(f"/run/orch-lab/{name}/inventory.json").read_text())
        self.inv = inv
        self.http = requests.Session()
        self.http.trust_env = False
        self.http.verify = inv["ca_file"]
        self.http.headers["Authorization"] = \
            f"Bearer {Path(inv['admin_token_file']).read_text().strip()}"

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        return self.http.request(method, self.inv["api"] + path, timeout=60, **kwargs)

    def kubectl(self, *args: str) -> str:
        return subprocess.run([str(KUBECTL), f"--kubeconfig={self.inv['kubeconfig']}", *args],
                              capture_output=True, text=True, check=True).stdout

    def on_host1(self, *argv: str) -> str:
        return subprocess.run(["ip", "netns", "exec", self.inv["hosts"][0]["netns"], *argv],
                              capture_output=True, text=True, check=True).stdout


def wait(condition, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.1)
    sys.exit(f"timed out waiting for {what}")


def answers(address: str, host: str) -> bool:
    try:
        r = requests.get(f"http://{address}/", headers={"Host": host}, timeout=2)
    except requests.RequestException:
        return False
    return r.status_code == 200


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lab", required=True)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--rules", default="100,1000")
    args = parser.parse_args()
    lab = Lab(args.lab)
    ns = f"bench-ing-{int(time.time())}"
    lab.kubectl("apply", "-f", str(REPO / "deploy" / "ingress-nginx.yaml"))
    lab.kubectl("-n", "ingress-nginx", "rollout", "status", "deploy/ingress-nginx-controller",
                "--timeout=180s")
    svc = "/api/v1/namespaces/ingress-nginx/services/ingress-nginx-controller"
    address = wait(lambda: ((lab.api("GET", svc).json().get("status") or {}).get(
        "loadBalancer", {}).get("ingress") or [{}])[0].get("ip"), 60, "the controller address")
    lab.kubectl("create", "namespace", ns)
    try:
        lab.kubectl("-n", ns, "create", "deployment", "web", "--image=orch/web:1",
                    "--replicas=2", "--port=80")
        lab.kubectl("-n", ns, "expose", "deployment", "web", "--port=80")
        lab.kubectl("-n", ns, "rollout", "status", "deploy/web", "--timeout=120s")
        lab.kubectl("-n", ns, "create", "ingress", "web", "--rule=web.example/*=web:80")
        pod_ip = lab.api("GET", f"/api/v1/namespaces/{ns}/pods").json()["items"][0][
            "status"]["podIP"]
        # the load runs on host1: it reaches the load balancer address and the pods
        wait(lambda: "host=" in lab.on_host1("sh", "-c", f"curl -s -H 'Host: web.example' "
                                                           f"http://{address}/ || true"),
             60, "the Ingress to answer")
        figures = {}
        for label, target, port in (("through the Ingress", address, 80),
                                    ("straight to a pod", pod_ip, 80)):
            out = lab.on_host1(sys.executable, "-c", LOAD, target, str(port), "web.example",
                               str(args.seconds), str(args.connections))
            rate, errors = out.split()
            figures[label] = float(rate)
            print(f"{label:22} {float(rate):8.0f} requests/s ({errors} errors, "
                  f"{args.connections} connections, {args.seconds:g} s)")
        print(f"ratio: the Ingress serves {figures['through the Ingress'] / figures['straight to a pod']:.2f}"
              " of the pod's rate (nginx in a pod in front of the same pods)")
        made = 0
        for total in (int(n) for n in args.rules.split(",")):
            for i in range(made, total):
                r = lab.api("POST", f"/apis/networking.k8s.io/v1/namespaces/{ns}/ingresses",
                            json={"metadata": {"name": f"r{i}"}, "spec": {"rules": [{
                                "host": f"r{i}.example", "http": {"paths": [{
                                    "path": "/", "pathType": "Prefix", "backend": {"service": {
                                        "name": "web", "port": {"number": 80}}}}]}}]}})
                r.raise_for_status()
            made = total
            probe_host = f"r{total - 1}.example"
            wait(lambda: "host=" in lab.on_host1("sh", "-c", f"curl -s -H 'Host: {probe_host}' "
                                                               f"http://{address}/ || true"),
                 600, f"{total} rules served")
            times, steady = [], []
            for attempt in range(3):
                name = f"timed-{total}-{attempt}"
                started = time.monotonic()
                lab.api("POST", f"/apis/networking.k8s.io/v1/namespaces/{ns}/ingresses", json={
                    "metadata": {"name": name}, "spec": {"rules": [{
                        "host": f"{name}.example", "http": {"paths": [{
                            "path": "/", "pathType": "Prefix", "backend": {"service": {
                                "name": "web", "port": {"number": 80}}}}]}}]}}
                        ).raise_for_status()
                wait(lambda: "host=" in lab.on_host1("sh", "-c", f"curl -s -H 'Host: {name}."
                                                                   f"example' http://{address}/"
                                                                   " || true"), 300, name)
                times.append(time.monotonic() - started)
                # nginx's old workers still take connections for a moment after its new ones
                # answer: until when 20 requests in a row are all served by the new rule
                wait(lambda: lab.on_host1("sh", "-c", "for i in $(seq 20); do curl -s -o "
                                          "/dev/null -w '%{http_code} ' -H "
                                          f"'Host: {name}.example' http://{address}/; done"
                                          ).split() == ["200"] * 20, 300, f"{name} for all")
                steady.append(time.monotonic() - started)
            logs = lab.kubectl("-n", "ingress-nginx", "logs", "deploy/ingress-nginx-controller",
                               "--tail=5000")
            reloads = [line.split("reloaded in ")[1].split()[0] for line in logs.splitlines()
                       if "reloaded in" in line]
            print(f"{total:5} rules: a new rule served {statistics.median(times):.2f} s after "
                  f"its write, by every request {statistics.median(steady):.2f} s (medians of "
                  f"3); the controller's last render + check + reload "
                  f"{reloads[-1] if reloads else '?'} s")
    finally:
        lab.kubectl("delete", "namespace", ns, "--wait=false")


if __name__ == "__main__":
    main()
