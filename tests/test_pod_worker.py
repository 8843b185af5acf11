"""A pod's worker against the in-repo fake runtime (node_agent/runtime/fake.py): what the agent
asks of a runtime for a pod, and what it does when containers exit, fail to start or the pod
goes. The real runtime is exercised by the integration suite on real dockerd."""

from __future__ import annotations

import base64

import pytest

from kube.kinds.pod import Pod
from node_agent.pods.manager import PodManager, PodWorker
from node_agent.pods.model import LABEL_CONTAINER, LABEL_POD_UID, PAUSE
from node_agent.pods.volumes import PodVolumes
from kube.errors import ApiError
from node_agent.runtime import StartFailed
from node_agent.runtime.fake import FakeRuntime


class FakeClient:
    """What the worker writes: pod status, events (in the background), a pod's release."""

    def __init__(self, objects: dict | None = None) -> None:
        self.statuses: list[dict] = []
        self.deleted: list[str] = []
        self.objects = objects or {}
        self.revision = 10

    def update(self, resource, obj, subresource=None):
        assert (resource, subresource) == ("pods", "status")
        self.statuses.append(obj["status"])
        self.revision += 1
        return {**obj, "metadata": {**obj["metadata"], "resourceVersion": str(self.revision)}}

    def create(self, resource, obj, namespace=None):
        return obj

    def patch(self, resource, name, patch, namespace=None, subresource=None):
        return patch

    def get(self, resource, name, namespace=None):
        # as the API returns it: with its metadata; a 404 for what is not there
        if (resource, name) not in self.objects:
            raise ApiError(404, "NotFound", f'{resource} "{name}" not found')
        return {"metadata": {"name": name, "namespace": namespace}, **self.objects[(resource, name)]}

    def delete(self, resource, name, namespace=None, grace_period_seconds=None,
               propagation_policy=None):
        self.deleted.append(name)
        return {}


def pod(restart="Always", **container) -> dict:
    return {"metadata": {"name": "web", "namespace": "shop", "uid": "u-1234567890",
                         "resourceVersion": "5", "labels": {"app": "web"}},
            "spec": {"nodeName": "n1", "restartPolicy": restart, "terminationGracePeriodSeconds": 3,
                     "containers": [{"name": "app", "image": "orch/web:1",
                                     "imagePullPolicy": "IfNotPresent", **container}]},
            "status": {"phase": "Pending"}}


@pytest.fixture
def agent(tmp_path):
    runtime = FakeRuntime(images=("orch/pause:1", "orch/web:1"))
    client = FakeClient({("configmaps", "conf"): {"data": {"a.txt": "hello"}}})
    manager = PodManager(client, runtime, PodVolumes(tmp_path), "n1", "192.168.56.11",
                         cluster_dns="10.244.1.1")
    return manager, runtime, client


def converge(manager: PodManager, uid: str, times: int = 4) -> None:
    """Sync as the worker would on successive wakes (no threads: the test drives it)."""
    worker = PodWorker.__new__(PodWorker)
    worker.uid, worker.resync_at = uid, None
    for _ in range(times):
        manager.relist()
        manager.sync_pod(worker)


def containers(runtime: FakeRuntime, name: str) -> list:
    return [c for c in runtime.containers.values() if c.labels.get(LABEL_CONTAINER) == name]


def test_a_pod_is_a_sandbox_and_its_containers_with_their_configuration(agent):
    manager, runtime, client = agent
    p = pod(env=[{"name": "GREETING", "value": "hi"},
                 {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}}],
            volumeMounts=[{"name": "scratch", "mountPath": "/scratch"},
                          {"name": "conf", "mountPath": "/etc/conf", "readOnly": True}],
            resources={"limits": {"memory": "64Mi", "cpu": "500m"}})
    p["spec"]["volumes"] = [{"name": "scratch", "emptyDir": {}},
                            {"name": "conf", "configMap": {"name": "conf"}}]
    manager.desired[p["metadata"]["uid"]] = p
    converge(manager, "u-1234567890")
    [sandbox], [app] = containers(runtime, PAUSE), containers(runtime, "app")
    assert sandbox.running and app.running
    box = runtime.configs[sandbox.id]
    assert box.hostname == "web" and box.dns_servers == ("10.244.1.1",)
    config = runtime.configs[app.id]
    assert config.sandbox_id == sandbox.id and config.labels[LABEL_POD_UID] == "u-1234567890"
    assert config.env["GREETING"] == "hi" and config.env["APP"] == "web"
    assert config.memory_limit == 64 * 1024 * 1024 and config.nano_cpus == 500_000_000
    mounts = {m.target: m for m in config.mounts}
    assert mounts["/etc/conf"].read_only and not mounts["/scratch"].read_only
    assert (manager.volumes.pod_dir(Pod.model_validate(p)) / "volumes" / "configmaps" / "conf" / "a.txt"
            ).read_text() == "hello"
    assert client.statuses[-1]["phase"] == "Running"
    assert client.statuses[-1]["podIP"] == sandbox.ip


def test_a_container_that_completes_under_never_leaves_the_pod_succeeded(agent):
    manager, runtime, client = agent
    manager.desired["u-1234567890"] = pod(restart="Never")
    converge(manager, "u-1234567890")
    [app] = containers(runtime, "app")
    runtime.exit(app.id, 0)
    converge(manager, "u-1234567890")
    assert len(containers(runtime, "app")) == 1  # not restarted
    assert client.statuses[-1]["phase"] == "Succeeded"


def test_a_start_failure_is_reported_with_its_reason_and_retried(agent):
    manager, runtime, client = agent
    manager.desired["u-1234567890"] = pod()
    runtime.fail_next_start = StartFailed("RunContainerError", "exec: nope: not found")
    converge(manager, "u-1234567890", times=1)
    waiting = client.statuses[-1]["containerStatuses"][0]["state"]["waiting"]
    assert waiting["reason"] == "RunContainerError"
    converge(manager, "u-1234567890")
    assert [c.running for c in containers(runtime, "app")] == [True]


def test_an_image_absent_under_never_is_err_image_never_pull(agent):
    manager, runtime, client = agent
    manager.desired["u-1234567890"] = pod(image="orch/absent:1", imagePullPolicy="Never")
    converge(manager, "u-1234567890")
    waiting = client.statuses[-1]["containerStatuses"][0]["state"]["waiting"]
    assert waiting["reason"] == "ErrImageNeverPull" and not containers(runtime, "app")


def test_a_missing_config_map_key_is_create_container_config_error(agent):
    manager, runtime, client = agent
    manager.desired["u-1234567890"] = pod(env=[{"name": "X", "valueFrom": {
        "configMapKeyRef": {"name": "conf", "key": "missing"}}}])
    converge(manager, "u-1234567890")
    waiting = client.statuses[-1]["containerStatuses"][0]["state"]["waiting"]
    assert waiting["reason"] == "CreateContainerConfigError"


def test_env_from_and_variable_references_reach_the_container(agent):
    """envFrom (prefixed, invalid names skipped with an event), env over envFrom, `$(VAR)` in
    env values, command and args; an absent optional source is nothing, a required one is
    CreateContainerConfigError."""
    manager, runtime, client = agent
    client.objects[("configmaps", "settings")] = {"data": {"color": "blue", "1bad": "x"}}
    client.objects[("secrets", "creds")] = {"data": {"password": "aHVudGVyMg=="}}
    manager.desired["u-1234567890"] = pod(
        envFrom=[{"configMapRef": {"name": "settings"}},
                 {"prefix": "DB_", "secretRef": {"name": "creds"}},
                 {"configMapRef": {"name": "absent", "optional": True}}],
        env=[{"name": "color", "value": "red"}, {"name": "GREETING", "value": "$(color) $$(x)"}],
        command=["sh", "-c"], args=["echo $(DB_password) $(NOPE)"])
    converge(manager, "u-1234567890")
    [app] = containers(runtime, "app")
    config = runtime.configs[app.id]
    assert config.env["color"] == "red" and config.env["DB_password"] == "hunter2"
    assert config.env["GREETING"] == "red $(x)" and "1bad" not in config.env
    assert config.args == ("echo hunter2 $(NOPE)",)
    missing = pod(envFrom=[{"configMapRef": {"name": "absent"}}])
    missing["metadata"]["uid"] = "u-2"
    manager.desired["u-2"] = missing
    converge(manager, "u-2")
    waiting = client.statuses[-1]["containerStatuses"][0]["state"]["waiting"]
    assert waiting["reason"] == "CreateContainerConfigError" and "absent" in waiting["message"]


def test_a_pod_no_longer_desired_leaves_no_container(agent):
    manager, runtime, _ = agent
    manager.desired["u-1234567890"] = pod()
    converge(manager, "u-1234567890")
    assert runtime.containers
    del manager.desired["u-1234567890"]
    converge(manager, "u-1234567890", times=1)
    assert runtime.containers == {}


def test_a_deleted_pod_is_stopped_gracefully_then_released(agent):
    manager, runtime, client = agent
    p = pod()
    manager.desired["u-1234567890"] = p
    converge(manager, "u-1234567890")
    [app] = containers(runtime, "app")
    manager.desired["u-1234567890"] = {**p, "metadata": {**p["metadata"],
                                                          "deletionTimestamp": "2026-12-01T00:00:00Z",
                                                          "deletionGracePeriodSeconds": 3}}
    converge(manager, "u-1234567890", times=1)
    assert app.id in runtime.stopped and runtime.containers == {}
    assert client.deleted == ["web"]


def test_secret_volumes_are_written_decoded(agent, tmp_path):
    manager, runtime, client = agent
    client.objects[("secrets", "creds")] = {"data": {"password": base64.b64encode(b"s3").decode()}}
    p = pod(volumeMounts=[{"name": "creds", "mountPath": "/creds"}])
    p["spec"]["volumes"] = [{"name": "creds", "secret": {"secretName": "creds"}}]
    manager.desired["u-1234567890"] = p
    converge(manager, "u-1234567890")
    assert (manager.volumes.pod_dir(Pod.model_validate(p)) / "volumes" / "secrets" / "creds" / "password"
            ).read_bytes() == b"s3"


def test_after_a_restart_nothing_is_touched_until_the_containers_are_listed(agent, tmp_path):
    """An agent restarted beside running containers: a worker the informer woke before the
    first relist must not take the pod for one without containers (it would start a second
    sandbox); once the containers are listed, they are adopted as they are."""
    manager, runtime, client = agent
    p = pod()
    manager.desired["u-1234567890"] = p
    converge(manager, "u-1234567890")
    running = {cid for cid, c in runtime.containers.items() if c.running}
    assert len(running) == 2

    restarted = PodManager(client, runtime, PodVolumes(tmp_path), "n1", "192.168.56.11",
                           cluster_dns="10.244.1.1")
    restarted.desired["u-1234567890"] = p
    worker = PodWorker.__new__(PodWorker)
    worker.uid, worker.resync_at = "u-1234567890", None
    restarted.sync_pod(worker)  # woken by the informer, before the relist
    assert set(runtime.containers) == running
    converge(restarted, "u-1234567890")
    assert {cid for cid, c in runtime.containers.items() if c.running} == running


def test_a_refused_sandbox_is_retried_after_a_back_off_and_nothing_else_starts(agent):
    from node_agent.runtime import RuntimeFailure
    manager, runtime, client = agent
    manager.desired["u-1234567890"] = pod()
    runtime.fail_next_sandbox = RuntimeFailure("Bind for 0.0.0.0:8080 failed: port is "
                                               "already allocated")
    converge(manager, "u-1234567890", times=3)  # within the back-off: not tried again
    assert not containers(runtime, "app") and not any(c.running for c in
                                                      containers(runtime, PAUSE))
    waiting = client.statuses[-1]["containerStatuses"][0]["state"]["waiting"]
    assert waiting["reason"] == "ContainerCreating"
    manager._sandbox_backoff["u-1234567890"] = (1, 0.0)  # the back-off has passed
    converge(manager, "u-1234567890")
    assert [c.running for c in containers(runtime, "app")] == [True]


def test_init_containers_run_in_order_with_their_statuses(agent):
    manager, runtime, client = agent
    p = pod()
    p["spec"]["initContainers"] = [{"name": "setup", "image": "orch/web:1",
                                    "command": ["true"]}]
    manager.desired["u-1234567890"] = p
    converge(manager, "u-1234567890", times=2)
    [setup] = containers(runtime, "setup")
    assert not containers(runtime, "app")
    assert client.statuses[-1]["initContainerStatuses"][0]["state"].get("running") is not None
    runtime.exit(setup.id, 0)
    converge(manager, "u-1234567890")
    assert [c.running for c in containers(runtime, "app")] == [True]
    assert client.statuses[-1]["initContainerStatuses"][0]["ready"] is True
    assert client.statuses[-1]["phase"] == "Running"


def test_a_termination_message_reaches_the_status(agent):
    manager, runtime, client = agent
    p = pod(restart="Never")
    manager.desired["u-1234567890"] = p
    converge(manager, "u-1234567890")
    [app] = containers(runtime, "app")
    config = runtime.configs[app.id]
    [mount] = [m for m in config.mounts if m.target == "/dev/termination-log"]
    with open(mount.source, "w") as f:
        f.write("disk full")
    runtime.exit(app.id, 1)
    converge(manager, "u-1234567890")
    terminated = client.statuses[-1]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["message"] == "disk full" and terminated["exitCode"] == 1


def test_fallback_to_logs_on_error_reads_the_logs_end(agent):
    manager, runtime, client = agent
    manager.desired["u-1234567890"] = pod(restart="Never",
                                          terminationMessagePolicy="FallbackToLogsOnError")
    converge(manager, "u-1234567890")
    [app] = containers(runtime, "app")
    runtime.logs_of[app.id] = b"".join(f"line {i}\n".encode() for i in range(100))
    runtime.exit(app.id, 2)
    converge(manager, "u-1234567890")
    message = client.statuses[-1]["containerStatuses"][0]["state"]["terminated"]["message"]
    assert message.startswith("line 20\n") and message.endswith("line 99\n")


def test_a_pod_whose_empty_dir_outgrows_its_size_limit_is_evicted_for_good(agent):
    manager, runtime, client = agent
    p = pod(volumeMounts=[{"name": "cache", "mountPath": "/cache"}])
    p["spec"]["volumes"] = [{"name": "cache", "emptyDir": {"sizeLimit": "64Ki"}}]
    manager.desired["u-1234567890"] = p
    converge(manager, "u-1234567890")
    [app] = containers(runtime, "app")
    assert app.running and client.statuses[-1]["phase"] == "Running"
    cache = manager.volumes.pod_dir(Pod.model_validate(p)) / "volumes" / "empty-dir" / "cache"
    (cache / "blob").write_bytes(b"x" * 200_000)  # what the container wrote
    converge(manager, "u-1234567890")
    status = client.statuses[-1]
    assert (status["phase"], status["reason"]) == ("Failed", "Evicted")
    assert status["message"] == 'Usage of EmptyDir volume "cache" exceeds the limit "64Ki". '
    assert not any(c.running for c in runtime.containers.values())
    # never started again, even by an agent that forgot it (the API's status says so)
    manager._ended.clear()
    manager.desired["u-1234567890"] = {**p, "status": status}
    converge(manager, "u-1234567890")
    assert len(containers(runtime, "app")) == 1
    assert not any(c.running for c in runtime.containers.values())


def test_a_pod_naming_a_sysctl_the_node_does_not_allow_is_rejected_and_never_runs(agent):
    manager, runtime, client = agent
    p = pod()
    p["spec"]["securityContext"] = {"sysctls": [{"name": "net.core.somaxconn", "value": "1024"}]}
    manager.desired["u-1234567890"] = p
    converge(manager, "u-1234567890")
    assert not runtime.containers  # not even its sandbox
    status = client.statuses[-1]
    assert (status["phase"], status["reason"]) == ("Failed", "SysctlForbidden")
    assert status["message"] == \
        'Pod was rejected: forbidden sysctl: "net.core.somaxconn" not allowlisted'
    # allowed by the node (kubelet's --allowed-unsafe-sysctls), it is set on the sandbox
    manager._ended.clear()
    manager.allowed_unsafe_sysctls = ("net.core.*",)
    p["metadata"]["uid"] = "u-2"
    manager.desired["u-2"] = p
    converge(manager, "u-2")
    [sandbox] = containers(runtime, PAUSE)
    assert runtime.configs[sandbox.id].sysctls == (("net.core.somaxconn", "1024"),)


def test_a_running_pods_configmap_volume_follows_the_configmap(agent):
    """kubelet's live projection: a change to the ConfigMap reaches the mounted directory at
    a later sync (the worker is asked back for it), an unchanged file is left alone, and a
    ConfigMap that goes away leaves the volume as it was."""
    manager, runtime, client = agent
    p = pod(volumeMounts=[{"name": "conf", "mountPath": "/etc/conf"}])
    p["spec"]["volumes"] = [{"name": "conf", "configMap": {"name": "conf"}}]
    manager.desired[p["metadata"]["uid"]] = p
    converge(manager, "u-1234567890")
    directory = manager.volumes.pod_dir(Pod.model_validate(p)) / "volumes" / "configmaps" / "conf"
    assert (directory / "a.txt").read_text() == "hello"
    kept = (directory / "a.txt").stat().st_ino
    worker = PodWorker.__new__(PodWorker)
    worker.uid, worker.resync_at = "u-1234567890", None
    manager.relist()
    manager.sync_pod(worker)
    assert worker.resync_at is not None  # asked back to read the ConfigMap again
    assert (directory / "a.txt").stat().st_ino == kept  # nothing changed: not rewritten
    client.objects[("configmaps", "conf")] = {"data": {"a.txt": "changed", "b.txt": "new"}}
    manager.sync_pod(worker)
    assert (directory / "a.txt").read_text() == "changed"
    assert (directory / "b.txt").read_text() == "new"
    [app] = containers(runtime, "app")
    assert app.running  # the container was not restarted for it
    del client.objects[("configmaps", "conf")]
    manager.sync_pod(worker)
    assert (directory / "a.txt").read_text() == "changed"


def test_a_volume_changes_all_its_files_at_once_through_its_data_link(agent):
    """kubelet's AtomicWriter layout: the files live in a hidden directory that `..data`
    points to, each visible name is a link through `..data`, and a change is one rename of
    that link (the old directory removed after)."""
    import os

    manager, _runtime, client = agent
    client.objects[("configmaps", "conf")] = {"data": {"a.txt": "1", "b.txt": "1"}}
    p = pod(volumeMounts=[{"name": "conf", "mountPath": "/etc/conf"}])
    p["spec"]["volumes"] = [{"name": "conf", "configMap": {"name": "conf", "items": [
        {"key": "a.txt", "path": "a.txt"}, {"key": "b.txt", "path": "sub/b.txt"}]}}]
    manager.desired[p["metadata"]["uid"]] = p
    converge(manager, "u-1234567890")
    root = manager.volumes.pod_dir(Pod.model_validate(p)) / "volumes" / "configmaps" / "conf"
    assert os.readlink(root / "a.txt") == "..data/a.txt"
    assert os.readlink(root / "sub") == "..data/sub"
    first = os.readlink(root / "..data")
    assert first.startswith("..") and (root / "sub" / "b.txt").read_text() == "1"
    client.objects[("configmaps", "conf")] = {"data": {"a.txt": "2", "b.txt": "2"}}
    worker = PodWorker.__new__(PodWorker)
    worker.uid, worker.resync_at = "u-1234567890", None
    manager.sync_pod(worker)
    second = os.readlink(root / "..data")
    assert second != first and not (root / first).exists()
    assert (root / "a.txt").read_text() == (root / "sub" / "b.txt").read_text() == "2"
    assert sorted(e.name for e in root.iterdir() if not e.name.startswith("..")) == [
        "a.txt", "sub"]
