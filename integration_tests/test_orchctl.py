"""The user's journey through `orchctl` only, against the live lab: apply the examples and wait,
get and describe, logs, exec, scale, a bad image rolled out then undone, top, label, cordon and
drain, delete. Every output is checked against the API (or against the hosts), not against
itself. orchctl runs as a user runs it: the console script, a configuration file made from the
inventory, nothing but the API between it and the cluster."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import yaml

from integration_tests.conftest import own_lab_orchctl_config
from integration_tests.hosts import Cluster, wait_until
from orchestrator.cli import config

REPO = Path(__file__).resolve().parents[1]
ORCHCTL = str(Path(sys.executable).parent / "orchctl")
EXAMPLES = REPO / "examples"


class Orchctl:
    def __init__(self, cluster: Cluster, ns: str, path: Path) -> None:
        inv = cluster.inventory
        conf = config.empty()
        config.set_context(conf, inv.name, inv.api, inv.ca_file, inv.admin_token_file,
                           namespace=ns)
        config.save(path, conf)
        self.env = {"ORCHCTL_CONFIG": str(path), "PATH": "/usr/bin:/bin"}

    def run(self, *args: str, expect: int | None = 0, timeout: float = 330,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([ORCHCTL, *args], capture_output=True, text=True, env=self.env,
                              timeout=timeout, input=input)
        if expect is not None:
            assert proc.returncode == expect, (f"orchctl {' '.join(args)} exited "
                                               f"{proc.returncode}:\n{proc.stdout}{proc.stderr}")
        return proc

    def __call__(self, *args: str, **kwargs) -> str:
        return self.run(*args, **kwargs).stdout

    def json(self, *args: str) -> dict:
        return json.loads(self("get", *args, "-o", "json"))


@pytest.fixture
def orchctl(cluster: Cluster, ns: str, tmp_path: Path) -> Orchctl:
    return Orchctl(cluster, ns, tmp_path / "config")


def table(text: str) -> list[dict[str, str]]:
    """A kubectl-style table as dicts (cells hold no runs of 3 spaces)."""
    lines = [line for line in text.splitlines() if line.strip()]
    header = lines[0].split()
    rows = []
    for line in lines[1:]:
        cells = [c.strip() for c in line.split("   ") if c.strip()]
        rows.append(dict(zip(header, cells)))
    return rows


def pods_of(cluster: Cluster, ns: str, selector: str) -> list[dict]:
    return cluster.api().get(f"/api/v1/namespaces/{ns}/pods",
                             params={"labelSelector": selector}).json()["items"]


def answer(cluster: Cluster, url: str) -> str:
    host = cluster.hosts[0]
    return cluster.run(host, ["timeout", "10", "wget", "-qO-", url], timeout=20).stdout


@pytest.mark.slow
def test_the_web_example_through_orchctl_only(cluster: Cluster, ns: str, orchctl: Orchctl):
    api = cluster.api()
    applied = orchctl("apply", "-f", str(EXAMPLES / "web.yaml"), "--wait")
    assert applied.splitlines()[:2] == ["deployment.apps/web created", "service/web created"]
    assert applied.splitlines()[-1] == 'deployment "web" successfully rolled out'
    assert orchctl("apply", "-f", str(EXAMPLES / "web.yaml")).splitlines() == [
        "deployment.apps/web unchanged", "service/web unchanged"]

    # get: the table says what the API says
    rows = table(orchctl("get", "pods", "-o", "wide"))
    live = {p["metadata"]["name"]: p for p in pods_of(cluster, ns, "app=web")}
    assert {r["NAME"] for r in rows} == set(live) and len(rows) == 3
    for r in rows:
        p = live[r["NAME"]]
        assert (r["READY"], r["STATUS"]) == ("1/1", "Running")
        assert (r["IP"], r["NODE"]) == (p["status"]["podIP"], p["spec"]["nodeName"])
    [deploy] = table(orchctl("get", "deploy"))
    assert (deploy["NAME"], deploy["READY"], deploy["AVAILABLE"]) == ("web", "3/3", "3")
    svc = api.get(f"/api/v1/namespaces/{ns}/services/web").json()
    [svc_row] = table(orchctl("get", "svc", "web"))
    assert svc_row["CLUSTER-IP"] == svc["spec"]["clusterIP"]
    assert svc_row["PORT(S)"] == f"80:{svc['spec']['ports'][0]['nodePort']}/TCP"
    assert yaml.safe_load(orchctl("get", "deploy/web", "-o", "yaml"))["metadata"]["uid"] == \
        api.get(f"/apis/apps/v1/namespaces/{ns}/deployments/web").json()["metadata"]["uid"]

    # the service answers on a node port, from a host
    node = cluster.hosts[-1]
    got = answer(cluster, f"http://{node.address}:{svc['spec']['ports'][0]['nodePort']}/")
    assert got.startswith("host=web-")

    # describe: the deployment and a pod, with their events
    text = orchctl("describe", "deploy", "web")
    assert "3 desired | 3 updated | 3 total | 3 available" in text
    assert "ScalingReplicaSet" in text
    pod = sorted(live)[0]
    text = orchctl("describe", "pod", pod)
    assert f"Node:                 {live[pod]['spec']['nodeName']}/" in text
    assert "Scheduled" in text and "Started" in text

    # logs: what the container printed, as the API's pods/log gives it
    answer(cluster, f"http://{live[pod]['status']['podIP']}/")
    wait_until(lambda: "response:200" in orchctl("logs", pod), 30, "the request in the log")
    assert orchctl("logs", pod, "--tail", "2").count("\n") == 2

    # exec: output and exit code of a command in the container
    assert orchctl("exec", pod, "--", "hostname").strip() == pod
    failed = orchctl.run("exec", pod, "--", "sh", "-c", "echo out; echo err >&2; exit 7",
                         expect=7)
    assert (failed.stdout, failed.stderr) == ("out\n", "err\n")
    assert orchctl("exec", "-i", pod, "--", "cat", input="through stdin") == "through stdin"

    # port-forward: a local port answering for the pod (SPDY through the API's WebSocket)
    forwarding = subprocess.Popen([ORCHCTL, "port-forward", f"pod/{pod}", ":80"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env=orchctl.env)
    try:
        line = forwarding.stdout.readline()  # "Forwarding from 127.0.0.1:PORT -> 80"
        assert line.startswith("Forwarding from 127.0.0.1:"), (line, forwarding.poll())
        local = line.split(":")[1].split()[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{local}/", timeout=30) as forwarded:
            assert forwarded.read().startswith(f"host={pod}".encode())
    finally:
        forwarding.terminate()
        forwarding.wait(timeout=30)

    # scale
    assert orchctl("scale", "deploy/web", "--replicas=5") == "deployment.apps/web scaled\n"
    orchctl("rollout", "status", "deploy/web", "--timeout", "300")
    wait_until(lambda: len(pods_of(cluster, ns, "app=web")) == 5, 60, "5 pods")

    # a bad image: the rollout does not finish; undo brings the old template back
    assert orchctl("set", "image", "deploy/web", "web=orch/web:missing") == \
        "deployment.apps/web image updated\n"
    stuck = orchctl.run("rollout", "status", "deploy/web", "--timeout", "15", expect=1)
    assert "timed out" in stuck.stderr
    history = table(orchctl("rollout", "history", "deploy/web").split("\n", 1)[1])
    assert [h["REVISION"] for h in history] == ["1", "2"]
    assert orchctl("rollout", "undo", "deploy/web") == "deployment.apps/web rolled back\n"
    assert "successfully rolled out" in orchctl("rollout", "status", "deploy/web",
                                                "--timeout", "300")
    d = api.get(f"/apis/apps/v1/namespaces/{ns}/deployments/web").json()
    assert d["spec"]["template"]["spec"]["containers"][0]["image"] == "orch/web:1"
    wait_until(lambda: {c["image"] for p in pods_of(cluster, ns, "app=web")
                        for c in p["spec"]["containers"]} == {"orch/web:1"}, 120,
               "only pods of the old image")

    # label and annotate land on the object
    orchctl("label", "deploy/web", "team=blue")
    orchctl("annotate", "deploy/web", "kubernetes.io/change-cause=back to v1")
    meta = api.get(f"/apis/apps/v1/namespaces/{ns}/deployments/web").json()["metadata"]
    assert meta["labels"]["team"] == "blue"
    assert meta["annotations"]["kubernetes.io/change-cause"] == "back to v1"

    # delete: gone from the API, and from the hosts' dockerds
    assert orchctl("delete", "-f", str(EXAMPLES / "web.yaml")).splitlines() == [
        'deployment.apps "web" deleted', 'service "web" deleted']
    wait_until(lambda: not pods_of(cluster, ns, "app=web"), 120, "the pods to be gone")
    missing = orchctl.run("get", "deploy", "web", expect=1)
    assert 'deployments.apps "web" not found' in missing.stderr


@pytest.mark.slow
def test_the_two_tier_and_sidecar_examples_top_and_drain(cluster: Cluster, ns: str,
                                                         orchctl: Orchctl):
    api = cluster.api()
    out = orchctl("apply", "-f", str(EXAMPLES / "two-tier.yaml"), "-f",
                  str(EXAMPLES / "sidecar.yaml"), "--wait")
    assert "deployment.apps/frontend created" in out and "pod/page created" in out

    # the frontend calls the backend by its DNS name
    node_port = api.get(f"/api/v1/namespaces/{ns}/services/frontend").json()["spec"][
        "ports"][0]["nodePort"]
    got = answer(cluster, f"http://{cluster.hosts[1].address}:{node_port}/")
    assert got.startswith("host=frontend-") and "upstream=[host=backend-" in got
    assert "message=hello from the backend" in got

    # the sidecar writes into the volume the web container serves
    wait_until(lambda: orchctl.json("pod/page").get("status", {}).get("phase") == "Running",
               120, "the sidecar pod to run")
    wait_until(lambda: "by the sidecar" in orchctl.run(
        "exec", "page", "-c", "web", "--", "wget", "-qO-", "http://127.0.0.1/",
        expect=None).stdout, 30, "the page written by the sidecar")
    assert "wrote /html/index.html" in orchctl("logs", "page", "-c", "content")
    assert "a container name must be specified" in orchctl.run("logs", "page", expect=1).stderr

    # top: one row per running pod, one per node
    pods = {p["metadata"]["name"] for p in api.get(f"/api/v1/namespaces/{ns}/pods").json()[
        "items"]}
    rows = table(orchctl("top", "pods"))
    assert {r["NAME"] for r in rows} == pods
    assert all(r["MEMORY(bytes)"].endswith("Mi") and r["CPU(cores)"].endswith("m") for r in rows)
    assert {r["NAME"] for r in table(orchctl("top", "nodes"))} == {h.name for h in cluster.hosts}

    # cordon and drain the node of a frontend pod: its pods are replaced elsewhere
    victim = next(p for p in api.get(f"/api/v1/namespaces/{ns}/pods").json()["items"]
                  if p["metadata"]["name"].startswith("frontend-"))["spec"]["nodeName"]
    try:
        refused = orchctl.run("drain", victim, expect=None)
        on_victim = [p for p in api.get(f"/api/v1/namespaces/{ns}/pods").json()["items"]
                     if p["spec"].get("nodeName") == victim]
        if any(p["metadata"]["name"] == "page" for p in on_victim):
            assert refused.returncode == 1 and "not managed by a controller" in refused.stderr
        out = orchctl("drain", victim, "--force", "--delete-emptydir-data", "--timeout", "120")
        assert out.splitlines()[-1] == f"node/{victim} drained"
        [node_row] = [r for r in table(orchctl("get", "nodes")) if r["NAME"] == victim]
        assert node_row["STATUS"] == "Ready,SchedulingDisabled"
        orchctl("rollout", "status", "deploy/frontend", "--timeout", "300")
        placed = {p["spec"].get("nodeName") for p in
                  api.get(f"/api/v1/namespaces/{ns}/pods").json()["items"]}
        assert victim not in placed
    finally:
        orchctl("uncordon", victim)
    assert api.get(f"/api/v1/nodes/{victim}").json()["spec"].get("unschedulable") in (None,
                                                                                      False)
    orchctl("delete", "-f", str(EXAMPLES / "two-tier.yaml"), "-f", str(EXAMPLES / "sidecar.yaml"),
            "--ignore-not-found")
    # delete waits for the objects it named; their ReplicaSets' pods go in the background
    # (the garbage collector), as with kubectl
    wait_until(lambda: api.get(f"/api/v1/namespaces/{ns}/pods").json()["items"] == [], 60,
               "the examples' pods to be gone")


def test_the_lab_writes_a_current_orchctl_context(cluster: Cluster, tmp_path: Path):
    path = own_lab_orchctl_config(cluster.name)
    if cluster.inventory.kind != "netns" or not path.exists():
        pytest.skip("only for the labs this run brought up (their orchctl configuration)")
    conf = config.load(path)
    resolved = config.resolve(conf, str(path), context=cluster.name)
    assert resolved.server == cluster.inventory.api
    proc = subprocess.run([ORCHCTL, "--context", cluster.name, "get", "nodes", "-o", "name"],
                          capture_output=True, text=True, timeout=60,
                          env={"ORCHCTL_CONFIG": str(path)})
    assert proc.returncode == 0, proc.stderr
    assert sorted(proc.stdout.split()) == sorted(f"node/{h.name}" for h in cluster.hosts)
