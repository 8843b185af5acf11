"""The examples a user runs first (examples/, explained in the README), applied with the real
kubectl on the live lab and checked from outside them: the guestbook through its node port
from another host and in redis itself, the log collector's output against the node's own
/var/log/containers, the Job's counts against a known constant, the CronJob's Jobs as the API
lists them. (examples/notes.yaml is tested in test_storage.py.)"""

from __future__ import annotations

import json
import re
from pathlib import Path

from integration_tests.hosts import Cluster, wait_until
from integration_tests.test_kubectl import kubectl  # noqa: F401 - the fixture
from integration_tests.test_pods import create_pod, wait_running

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _http(cluster: Cluster, host_index: int, url: str, post: str | None = None) -> str:
    """wget on a lab host (a client on the lab network); '' when it fails."""
    args = ["wget", "-qO-", "-T", "5", *(["--post-data", post] if post is not None else []), url]
    done = cluster.run(cluster.hosts[host_index], args, check=False)
    return done.stdout if done.returncode == 0 else ""


def test_the_guestbook_writes_to_its_leader_reads_from_followers_and_keeps_its_data(
        cluster: Cluster, ns: str, kubectl, base_images) -> None:  # noqa: F811
    kubectl("apply", "-f", str(EXAMPLES / "guestbook.yaml"))
    for workload in ("sts/redis-leader", "deploy/redis-follower", "deploy/frontend"):
        kubectl("rollout", "status", workload, "--timeout=180s")
    service = json.loads(kubectl("get", "svc", "frontend", "-o", "json").stdout)
    port = service["spec"]["ports"][0]["nodePort"]
    first, other = cluster.hosts[0].address, cluster.hosts[2].address

    written = wait_until(lambda: _http(cluster, 1, f"http://{first}:{port}/entries",
                                       post="entry=hello from the lab"), 60,
                         "the frontend to take an entry")
    assert json.loads(written) == {"entries": 1}
    # read back through another node's port; the followers replicate within moments
    wait_until(lambda: _http(cluster, 1, f"http://{other}:{port}/entries").strip()
               == '["hello from the lab"]', 60, "the entry read back from a follower")
    page = _http(cluster, 0, f"http://{other}:{port}/")
    assert "<li>hello from the lab</li>" in page and "served by frontend-" in page

    # oracles beside the frontend: each follower's own copy, and its replication link
    followers = kubectl("get", "pods", "-l", "role=follower", "-o", "name").stdout.split()
    assert len(followers) == 2
    for follower in followers:
        assert kubectl("exec", follower, "--", "redis-cli", "lrange", "guestbook", "0",
                       "-1").stdout.strip() == "hello from the lab"
        info = kubectl("exec", follower, "--", "redis-cli", "info", "replication").stdout
        assert "role:slave" in info and "master_link_status:up" in info
    claim = json.loads(kubectl("get", "pvc", "data-redis-leader-0", "-o", "json").stdout)
    assert claim["status"]["phase"] == "Bound"

    # the leader's pod replaced: its append-only file on the claim brings the entry back
    kubectl("delete", "pod", "redis-leader-0", "--wait=true")
    kubectl("rollout", "status", "sts/redis-leader", "--timeout=180s")
    wait_until(lambda: kubectl("exec", "redis-leader-0", "--", "redis-cli", "lrange",
                               "guestbook", "0", "-1", check=False).stdout.strip()
               == "hello from the lab", 60, "the leader's data after its pod was replaced")


def test_the_log_collector_reads_each_nodes_container_logs(
        cluster: Cluster, ns: str, kubectl, base_images) -> None:  # noqa: F811
    kubectl("apply", "-f", str(EXAMPLES / "log-collector.yaml"))
    kubectl("rollout", "status", "ds/log-collector", "--timeout=180s")
    collectors = json.loads(kubectl("get", "pods", "-l", "app=log-collector", "-o",
                                    "json").stdout)["items"]
    by_node = {p["spec"]["nodeName"]: p["metadata"]["name"] for p in collectors}
    assert sorted(by_node) == sorted(h.name for h in cluster.hosts)

    talker_node = cluster.hosts[1]
    marker = f"marker-{ns}"
    create_pod(cluster, ns, "talker", talker_node.name, [{
        "name": "say", "image": "orch/web:1",
        "command": ["sh", "-c", f"echo {marker}; sleep 3600"]}])
    wait_running(cluster, ns, "talker")

    # the node's own layout, as kubelet's: /var/log/containers/<pod>_<ns>_<container>-<id>.log
    listing = cluster.run(talker_node, ["ls", "/var/log/containers"], mounts=True).stdout
    assert re.search(rf"^talker_{ns}_say-[0-9a-f]{{64}}\.log$", listing, re.M), listing

    expected = f"node={talker_node.name} pod={ns}/talker container=say stdout: {marker}"
    wait_until(lambda: expected in kubectl("logs", by_node[talker_node.name]).stdout, 60,
               "the talker's line in its node's collector")
    for node, collector in by_node.items():
        if node != talker_node.name:
            assert marker not in kubectl("logs", collector).stdout, node
    # no collector reads its own output (that would feed on itself)
    assert "container=collector" not in kubectl("logs", by_node[talker_node.name]).stdout


def test_the_indexed_job_completes_every_chunk(
        cluster: Cluster, ns: str, kubectl, base_images) -> None:  # noqa: F811
    kubectl("apply", "-f", str(EXAMPLES / "job.yaml"))
    kubectl("wait", "--for=condition=Complete", "job/primes", "--timeout=240s")
    job = json.loads(kubectl("get", "job", "primes", "-o", "json").stdout)
    assert job["status"]["succeeded"] == 4 and job["status"]["completedIndexes"] == "0-3"
    out = kubectl("logs", "-l", "job-name=primes", "--tail=-1").stdout
    counts = {int(m[1]): int(m[2]) for m in re.finditer(r"chunk (\d+): .* holds (\d+) primes",
                                                         out)}
    assert sorted(counts) == [0, 1, 2, 3]
    assert sum(counts.values()) == 9592  # the primes below 100 000


def test_the_cronjob_starts_a_job_on_schedule(
        cluster: Cluster, ns: str, kubectl, base_images) -> None:  # noqa: F811
    kubectl("apply", "-f", str(EXAMPLES / "cronjob.yaml"))

    def a_finished_job() -> list[dict]:
        jobs = json.loads(kubectl("get", "jobs", "-l", "app=hello", "-o", "json").stdout)
        return [j for j in jobs["items"] if j.get("status", {}).get("succeeded")]
    # "* * * * *": the next minute's start, then the pod's run
    [job, *_] = wait_until(a_finished_job, 150, "a Job of the CronJob to succeed")
    assert job["metadata"]["ownerReferences"][0]["kind"] == "CronJob"
    assert re.fullmatch(r"hello-\d+", job["metadata"]["name"])
    out = kubectl("logs", f"job/{job['metadata']['name']}").stdout
    assert "Hello from the cluster" in out
    cronjob = json.loads(kubectl("get", "cronjob", "hello", "-o", "json").stdout)
    assert cronjob["status"]["lastScheduleTime"] and cronjob["status"]["lastSuccessfulTime"]
    kubectl("patch", "cronjob", "hello", "-p", '{"spec":{"suspend":true}}')
