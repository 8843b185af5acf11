"""Deployments on the live lab: spreading and scaling, a rolling update under steady requests
with rollback, Recreate, pause/resume, and the progress deadline."""

from __future__ import annotations

import pytest

import copy
import json
import threading
import time
from collections import Counter

from integration_tests.hosts import Cluster, HttpProber, wait_until
from kube import revisions

MERGE = {"Content-Type": "application/merge-patch+json"}


def deployment(name: str, replicas: int, *, surge=1, unavailable=1, strategy="RollingUpdate",
               env: dict[str, str] | None = None, **spec) -> dict:
    strategy_block = {"type": strategy}
    if strategy == "RollingUpdate":
        strategy_block["rollingUpdate"] = {"maxSurge": surge, "maxUnavailable": unavailable}
    container = {"name": "web", "image": "orch/web:1",
                 "ports": [{"name": "http", "containerPort": 80}],
                 "env": [{"name": k, "value": v} for k, v in (env or {}).items()],
                 "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"},
                                    "periodSeconds": 1}}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "strategy": strategy_block,
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"terminationGracePeriodSeconds": 5,
                                           "containers": [container]}}, **spec}}


class Api:
    def __init__(self, cluster: Cluster, ns: str) -> None:
        self.http, self.ns = cluster.api(), ns
        self.apps = f"/apis/apps/v1/namespaces/{ns}"

    def create(self, body: dict) -> None:
        self.http.post(f"{self.apps}/deployments", json=body).raise_for_status()

    def get(self, name: str) -> dict:
        r = self.http.get(f"{self.apps}/deployments/{name}")
        r.raise_for_status()
        return r.json()

    def patch(self, name: str, patch: dict) -> None:
        self.http.patch(f"{self.apps}/deployments/{name}", data=json.dumps(patch),
                        headers=MERGE).raise_for_status()

    def items(self, path: str, app: str) -> list[dict]:
        """A list; a 5xx while a test has a host down (etcd failing over) is asked again."""
        for attempt in range(5):
            r = self.http.get(path, params={"labelSelector": f"app={app}"})
            if r.status_code < 500 or attempt == 4:
                r.raise_for_status()
                return r.json()["items"]
            time.sleep(0.5)
        raise AssertionError("unreachable")

    def replicasets(self, app: str) -> list[dict]:
        return self.items(f"{self.apps}/replicasets", app)

    def pods(self, app: str) -> list[dict]:
        return self.items(f"/api/v1/namespaces/{self.ns}/pods", app)

    def live_pods(self, app: str) -> list[dict]:
        return [p for p in self.pods(app) if not p["metadata"].get("deletionTimestamp")]

    def complete(self, name: str) -> dict | None:
        d = self.get(name)
        status, replicas = d.get("status") or {}, d["spec"]["replicas"]
        done = (status.get("observedGeneration", 0) >= d["metadata"]["generation"]
                and status.get("updatedReplicas") == status.get("replicas") == replicas
                and status.get("availableReplicas") == replicas)
        return d if done else None

    def wait_complete(self, name: str, timeout: float = 180) -> dict:
        return wait_until(lambda: self.complete(name), timeout, f"deployment {name} rolled out")


@pytest.mark.smoke
def test_a_deployment_spreads_over_the_hosts_and_scales(cluster: Cluster, ns: str) -> None:
    api = Api(cluster, ns)
    n = len(cluster.hosts)
    api.create(deployment("spread", 2 * n))
    api.wait_complete("spread")
    pods = api.live_pods("spread")
    assert sorted(Counter(p["spec"]["nodeName"] for p in pods).values()) == [2] * n

    def reasons() -> Counter:
        items = api.http.get(f"/api/v1/namespaces/{ns}/events").json()["items"]
        return Counter(e["reason"] for e in items)
    # What users see: the scheduler placed each pod, each agent started it.
    wait_until(lambda: (r := reasons())["Scheduled"] >= 2 * n and r["Started"] >= 2 * n
               and r["ScalingReplicaSet"] >= 1 and r["SuccessfulCreate"] >= 1, 30,
               "the Scheduled, Started, ScalingReplicaSet and SuccessfulCreate Events")
    for replicas in (3 * n, 1):
        api.patch("spread", {"spec": {"replicas": replicas}})
        d = api.wait_complete("spread")
        wait_until(lambda: len(api.pods("spread")) == replicas, 60, f"{replicas} pods")
        assert d["status"]["readyReplicas"] == replicas
        assert [rs["spec"]["replicas"] for rs in api.replicasets("spread")] == [replicas]
    conditions = {c["type"]: c["status"] for c in api.get("spread")["status"]["conditions"]}
    assert conditions == {"Available": "True", "Progressing": "True"}


class EndpointWatcher(threading.Thread):
    """Keeps requests flowing to the pod IPs the Service's Endpoints list as ready, and records
    the fewest ready endpoints seen. A failed request is explained if its IP has left the
    Endpoints a second later (the request raced with the pod's removal); the others are kept in
    `unexplained`."""

    GRACE = 1.0

    def __init__(self, cluster: Cluster, api: Api, service: str) -> None:
        super().__init__(daemon=True)
        self.api, self.service = api, service
        self.prober = HttpProber(cluster, cluster.hosts[0])
        self.stop = threading.Event()
        self.fewest: int | None = None
        self.requests = 0
        self.unexplained: list[tuple[str, str]] = []

    def ready_ips(self) -> set[str]:
        r = self.api.http.get(f"/api/v1/namespaces/{self.api.ns}/endpoints/{self.service}")
        return {a["ip"] for s in r.json().get("subsets") or [] for a in s.get("addresses") or []}

    def run(self) -> None:
        pending: list[tuple[float, str, str]] = []  # failed at, ip, error
        try:
            while not self.stop.is_set() or pending:
                ips = self.ready_ips()
                due = [f for f in pending if time.monotonic() - f[0] >= self.GRACE]
                pending = [f for f in pending if f not in due]
                self.unexplained += [(ip, err) for _, ip, err in due if ip in ips]
                if self.stop.is_set():
                    time.sleep(0.1)
                    continue
                self.fewest = len(ips) if self.fewest is None else min(self.fewest, len(ips))
                for ip in sorted(ips):
                    ok, detail = self.prober.get(f"http://{ip}/")
                    self.requests += 1
                    if not ok:
                        pending.append((time.monotonic(), ip, detail))
        finally:
            self.prober.close()


def test_a_rolling_update_keeps_enough_ready_endpoints_and_undo_goes_back(
        cluster: Cluster, ns: str) -> None:
    api = Api(cluster, ns)
    replicas, unavailable = 4, 1
    api.create(deployment("roll", replicas, surge=1, unavailable=unavailable,
                          env={"VERSION": "1"}))
    api.http.post(f"/api/v1/namespaces/{ns}/services", json={
        "metadata": {"name": "roll"},
        "spec": {"selector": {"app": "roll"}, "ports": [{"port": 80, "targetPort": "http"}]}}
    ).raise_for_status()
    first = api.wait_complete("roll")
    assert first["metadata"]["annotations"][revisions.REVISION] == "1"
    watcher = EndpointWatcher(cluster, api, "roll")
    wait_until(lambda: len(watcher.ready_ips()) == replicas, 60, "every pod in the endpoints")
    watcher.start()
    try:
        time.sleep(1)
        api.patch("roll", {"metadata": {"annotations": {revisions.CHANGE_CAUSE: "version 2"}},
                           "spec": {"template": {"spec": {"containers": [
                               {**deployment("roll", 1)["spec"]["template"]["spec"]
                                ["containers"][0], "env": [{"name": "VERSION",
                                                            "value": "2"}]}]}}}})
        second = api.wait_complete("roll")
        time.sleep(1)
    finally:
        watcher.stop.set()
        watcher.join(30)
    assert second["metadata"]["annotations"][revisions.REVISION] == "2"
    assert watcher.requests > replicas
    assert watcher.fewest is not None and watcher.fewest >= replicas - unavailable, \
        f"only {watcher.fewest} ready endpoints at one point"
    assert not watcher.unexplained, watcher.unexplained

    sets = {rs["metadata"]["annotations"][revisions.REVISION]: rs for rs in api.replicasets("roll")}
    assert sets["2"]["spec"]["replicas"] == replicas and sets["1"]["spec"]["replicas"] == 0
    assert sets["2"]["metadata"]["annotations"][revisions.CHANGE_CAUSE] == "version 2"
    new_hash = sets["2"]["metadata"]["labels"][revisions.HASH_LABEL]
    wait_until(lambda: {p["metadata"]["labels"][revisions.HASH_LABEL]
                        for p in api.pods("roll")} == {new_hash}, 60, "only new pods left")

    # rollout undo, as a client does it: the previous revision's template goes back in.
    d = api.get("roll")
    d["spec"]["template"] = revisions.rollback_template(list(sets.values()),
                                                      current_revision=revisions.revision_of(d))
    api.http.put(f"{api.apps}/deployments/roll", json=d).raise_for_status()
    back = api.wait_complete("roll")
    assert back["metadata"]["annotations"][revisions.REVISION] == "3"
    old_name = sets["1"]["metadata"]["name"]
    current = {rs["metadata"]["name"]: rs for rs in api.replicasets("roll")}
    assert current[old_name]["spec"]["replicas"] == replicas
    assert current[old_name]["metadata"]["annotations"][revisions.REVISION] == "3"
    env = {e["name"]: e["value"] for p in api.live_pods("roll")
           for e in p["spec"]["containers"][0]["env"]}
    assert env == {"VERSION": "1"}


def test_recreate_never_runs_old_and_new_pods_together(cluster: Cluster, ns: str) -> None:
    api = Api(cluster, ns)
    api.create(deployment("recreate", 2, strategy="Recreate", env={"V": "1"}))
    api.wait_complete("recreate")
    seen_together = []
    stop = threading.Event()

    def observe() -> None:
        while not stop.is_set():
            hashes = {p["metadata"]["labels"][revisions.HASH_LABEL] for p in api.pods("recreate")}
            if len(hashes) > 1:
                seen_together.append(hashes)
            time.sleep(0.05)

    observer = threading.Thread(target=observe, daemon=True)
    observer.start()
    try:
        d = api.get("recreate")
        d["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "V", "value": "2"}]
        api.http.put(f"{api.apps}/deployments/recreate", json=d).raise_for_status()
        wait_until(lambda: api.complete("recreate") and len(api.pods("recreate")) == 2
                   and revisions.revision_of(api.get("recreate")) == 2, 180, "the recreate")
    finally:
        stop.set()
        observer.join(10)
    assert not seen_together


def test_a_paused_deployment_rolls_out_only_when_resumed(cluster: Cluster, ns: str) -> None:
    api = Api(cluster, ns)
    api.create(deployment("paused", 2))
    api.wait_complete("paused")
    api.patch("paused", {"spec": {"paused": True}})
    d = api.get("paused")
    template = copy.deepcopy(d["spec"]["template"])
    template["spec"]["containers"][0]["env"] = [{"name": "V", "value": "2"}]
    api.patch("paused", {"spec": {"template": template, "replicas": 3}})
    wait_until(lambda: len(api.live_pods("paused")) == 3, 90, "a paused deployment to scale")
    assert len(api.replicasets("paused")) == 1  # but no rollout
    reason = next(c["reason"] for c in api.get("paused")["status"]["conditions"]
                  if c["type"] == "Progressing")
    assert reason == "DeploymentPaused"
    api.patch("paused", {"spec": {"paused": None}})
    wait_until(lambda: api.complete("paused") and len(api.replicasets("paused")) == 2
               and all(rs["spec"]["replicas"] in (0, 3) for rs in api.replicasets("paused")),
               180, "the rollout after resume")


def test_a_rollout_that_cannot_progress_reports_the_deadline(cluster: Cluster, ns: str) -> None:
    api = Api(cluster, ns)
    body = deployment("stuck", 1, progressDeadlineSeconds=3)
    body["spec"]["template"]["spec"]["containers"][0].update(
        image="orch/does-not-exist:1", imagePullPolicy="Never")
    api.create(body)

    def exceeded():
        conditions = api.get("stuck").get("status", {}).get("conditions") or []
        return any(c["type"] == "Progressing" and c["reason"] == "ProgressDeadlineExceeded"
                   for c in conditions)

    wait_until(exceeded, 60, "Progressing=False with ProgressDeadlineExceeded")
    events = api.http.get(f"/api/v1/namespaces/{ns}/events").json()["items"]
    assert any(e["reason"] == "ScalingReplicaSet" and e["involvedObject"]["name"] == "stuck"
               for e in events)


def test_delete_propagation_foreground_and_orphan(cluster: Cluster, ns: str) -> None:
    api = Api(cluster, ns)
    for name in ("fg", "orphan"):
        api.create(deployment(name, 2))
    for name in ("fg", "orphan"):
        api.wait_complete(name)

    r = api.http.delete(f"{api.apps}/deployments/orphan", json={"propagationPolicy": "Orphan"})
    assert r.status_code == 200, r.text
    wait_until(lambda: api.http.get(f"{api.apps}/deployments/orphan").status_code == 404, 30,
               "the orphaning deployment to go")
    sets = api.replicasets("orphan")
    assert len(sets) == 1 and not sets[0]["metadata"].get("ownerReferences")
    time.sleep(1)
    assert len(api.live_pods("orphan")) == 2  # the ReplicaSet keeps running its pods

    r = api.http.delete(f"{api.apps}/deployments/fg", json={"propagationPolicy": "Foreground"})
    assert r.status_code == 200, r.text
    assert "foregroundDeletion" in r.json()["metadata"]["finalizers"]
    seen_owner_with_pods = False
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        owner = api.http.get(f"{api.apps}/deployments/fg").status_code == 200
        pods = api.pods("fg")
        if not owner:
            assert pods == [], "the owner went before its pods"
            break
        seen_owner_with_pods |= bool(pods)
        time.sleep(0.1)
    else:
        raise AssertionError("the deployment was not deleted")
    assert seen_owner_with_pods and api.replicasets("fg") == []
