"""The pod workers' pure decisions: what to start, restart or wait for, and the status."""

from __future__ import annotations

import os

import pytest

from kube.kinds.pod import Container, Pod
from node_agent.pods.model import (PAUSE, Kill, Observed, Remove, Start, backoff_seconds,
                                   compute_status, container_spec_hash, plan_pod)

WEB = {"name": "web", "image": "orch/web:1"}


def pod(policy="Always", containers=(WEB,)):
    return Pod.model_validate({"metadata": {"name": "p", "namespace": "default", "uid": "u1"},
                               "spec": {"restartPolicy": policy, "containers": list(containers)}})


def pause(running=True):
    return Observed("pause0", PAUSE, 0, running, ip="10.244.1.5")


def web(attempt=0, running=True, exit_code=None, started=0.0, finished=None, spec=WEB):
    return Observed(f"web{attempt}", "web", attempt, running, exit_code, started, finished,
                    container_spec_hash(Container.model_validate(spec)))


def test_a_new_pod_starts_the_sandbox_then_its_containers():
    assert plan_pod(pod(), [], now=0, backoff_base=10).actions == [Start(PAUSE, 0), Start("web", 0)]


def test_a_running_pod_is_left_alone():
    plan = plan_pod(pod(), [pause(), web()], now=100, backoff_base=10)
    assert plan.actions == [] and plan.waiting == {}


def test_a_dead_sandbox_takes_every_container_with_it():
    plan = plan_pod(pod(), [pause(running=False), web()], now=100, backoff_base=10)
    assert Kill("web0", "the pod sandbox is gone") in plan.actions
    assert plan.actions[-2:] == [Start(PAUSE, 1), Start("web", 1)]


@pytest.mark.parametrize("policy,exit_code,restarts", [
    ("Always", 0, True), ("Always", 1, True), ("OnFailure", 0, False), ("OnFailure", 2, True),
    ("Never", 1, False), ("Never", 0, False),
], ids=lambda v: str(v))
def test_exited_containers_restart_per_policy(policy, exit_code, restarts):
    plan = plan_pod(pod(policy), [pause(), web(0, False, exit_code, 0.0, 1.0)], now=1000,
                    backoff_base=10)
    assert (Start("web", 1) in plan.actions) is restarts


def test_a_crashing_container_waits_out_a_growing_back_off():
    first = plan_pod(pod(), [pause(), web(0, False, 1, 0.0, 1.0)], now=5, backoff_base=10)
    assert first.waiting["web"][0] == "CrashLoopBackOff" and first.resync_at == 11.0
    later = plan_pod(pod(), [pause(), web(3, False, 1, 100.0, 101.0)], now=110, backoff_base=10)
    assert later.resync_at == 101.0 + 80  # 10 · 2^3
    assert [backoff_seconds(n, 10) for n in range(0, 8)] == [0, 10, 20, 40, 80, 160, 300, 300]


def test_a_container_whose_image_changed_is_replaced():
    old = {**WEB, "image": "orch/web:0"}
    plan = plan_pod(pod(), [pause(), web(spec=old)], now=0, backoff_base=10)
    assert plan.actions == [Kill("web0", "the container's spec changed"), Start("web", 1)]


def test_old_attempts_are_removed_keeping_the_previous_one():
    observed = [pause(), web(0, False, 1, 0, 1), web(1, False, 1, 2, 3), web(2, True)]
    plan = plan_pod(pod(), observed, now=10, backoff_base=10)
    assert plan.actions == [Remove("web0")]


@pytest.mark.parametrize("policy,states,phase", [
    ("Always", [web()], "Running"),
    ("Never", [web(0, False, 0, 0, 1)], "Succeeded"),
    ("Never", [web(0, False, 3, 0, 1)], "Failed"),
    ("OnFailure", [web(0, False, 0, 0, 1)], "Succeeded"),
    ("Always", [], "Pending"),
], ids=["running", "succeeded", "failed", "onfailure-done", "creating"])
def test_phase_follows_the_containers_and_the_policy(policy, states, phase):
    status = compute_status(pod(policy), [pause(), *states], {}, "192.168.56.11", None)
    assert status["phase"] == phase


def test_status_reports_ip_readiness_restarts_and_the_last_termination():
    observed = [pause(), web(0, False, 137, 0, 5), web(1, True, started=6)]
    status = compute_status(pod(), observed, {}, "192.168.56.11", "2026-01-01T00:00:00Z")
    assert status["podIP"] == "10.244.1.5" and status["hostIP"] == "192.168.56.11"
    [c] = status["containerStatuses"]
    assert c["ready"] and c["restartCount"] == 1 and "running" in c["state"]
    assert c["lastState"]["terminated"]["exitCode"] == 137
    assert {x["type"]: x["status"] for x in status["conditions"]}["Ready"] == "True"


def test_a_waiting_container_makes_the_pod_unready_with_the_reason():
    status = compute_status(pod(), [pause()], {"web": ("ErrImagePull", "no such image")},
                            "h", None)
    [c] = status["containerStatuses"]
    assert c["state"] == {"waiting": {"reason": "ErrImagePull", "message": "no such image"}}
    assert status["phase"] == "Pending"
    assert {x["type"]: x["status"] for x in status["conditions"]}["Ready"] == "False"


def test_a_container_failing_its_liveness_probe_is_killed():
    plan = plan_pod(pod(), [pause(), web()], now=0, backoff_base=10, unhealthy={"web"})
    assert plan.actions == [Kill("web0", "liveness probe failed")]


def test_a_container_not_passing_its_readiness_probe_is_running_but_unready():
    status = compute_status(pod(), [pause(), web()], {}, "h", None, unready={"web"})
    [c] = status["containerStatuses"]
    assert "running" in c["state"] and c["ready"] is False
    assert status["phase"] == "Running"
    assert {x["type"]: x["status"] for x in status["conditions"]}["Ready"] == "False"


def test_two_running_sandboxes_are_replaced_by_one_fresh_sandbox():
    second = Observed("pause1", PAUSE, 1, True, ip="10.244.1.6")
    plan = plan_pod(pod(), [pause(), second, web()], now=100, backoff_base=10)
    assert {Kill("pause0", "the pod sandbox is gone"), Kill("pause1", "the pod sandbox is gone"),
            Kill("web0", "the pod sandbox is gone")} <= set(plan.actions)
    assert plan.actions[-2:] == [Start(PAUSE, 2), Start("web", 1)]


def test_the_spec_hash_is_that_of_the_container_as_stored():
    """Containers started by an earlier agent carry the hash of the stored JSON: a typed
    container must hash the same, or an agent upgrade would restart every container."""
    import hashlib
    import json

    from kube.registry import by_kind
    from kube.validation import validate_create
    stored = validate_create(by_kind("v1", "Pod"), {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "web", "image": "orch/web:1", "ports": [{"containerPort": 80}],
                                 "resources": {"limits": {"cpu": "1"}}}]}}, "default")
    as_stored = stored["spec"]["containers"][0]
    expected = hashlib.sha256(json.dumps(as_stored, sort_keys=True).encode()).hexdigest()[:16]
    assert container_spec_hash(Pod.model_validate(stored).spec.containers[0]) == expected


# --- init containers ---

INIT_A = {"name": "a", "image": "orch/web:1", "command": ["true"]}
INIT_B = {"name": "b", "image": "orch/web:1", "command": ["true"]}


def with_inits(policy="Always", inits=(INIT_A, INIT_B)):
    return Pod.model_validate({"metadata": {"name": "p", "namespace": "default", "uid": "u1"},
                               "spec": {"restartPolicy": policy, "initContainers": list(inits),
                                        "containers": [WEB]}})


def init(name, attempt=0, running=False, exit_code=0, finished=1.0, spec=None):
    spec = spec or (INIT_A if name == "a" else INIT_B)
    return Observed(f"{name}{attempt}", name, attempt, running,
                    None if running else exit_code, 0.0, None if running else finished,
                    container_spec_hash(Container.model_validate(spec)))


def test_init_containers_run_one_at_a_time_in_order_before_the_app():
    p = with_inits()
    assert plan_pod(p, [], now=0, backoff_base=10).actions == [Start(PAUSE, 0), Start("a", 0)]
    assert plan_pod(p, [pause(), init("a", running=True)], 5, 10).actions == []
    assert plan_pod(p, [pause(), init("a")], 5, 10).actions == [Start("b", 0)]
    assert plan_pod(p, [pause(), init("a"), init("b")], 5, 10).actions == [Start("web", 0)]
    # once an app container has run, init containers are done for this sandbox
    assert plan_pod(p, [pause(), web()], 5, 10).actions == []


@pytest.mark.parametrize("policy,restarted,phase", [
    ("Always", True, "Pending"), ("OnFailure", True, "Pending"), ("Never", False, "Failed")])
def test_a_failed_init_container_restarts_unless_never(policy, restarted, phase):
    p, observed = with_inits(policy), [pause(), init("a", exit_code=1)]
    plan = plan_pod(p, observed, now=1000, backoff_base=10)
    assert (Start("a", 1) in plan.actions) is restarted
    assert Start("b", 0) not in plan.actions and Start("web", 0) not in plan.actions
    status = compute_status(p, observed, plan.waiting, "h", None)
    assert status["phase"] == phase
    initialized = next(c for c in status["conditions"] if c["type"] == "Initialized")
    assert initialized == {"type": "Initialized", "status": "False",
                           "reason": "ContainersNotInitialized",
                           "message": "containers with incomplete status: [a b]"}


def test_a_crashing_init_container_waits_out_its_back_off():
    plan = plan_pod(with_inits(), [pause(), init("a", exit_code=1, finished=100.0)], now=105,
                    backoff_base=10)
    assert plan.actions == [] and plan.waiting["a"][0] == "CrashLoopBackOff"


def test_a_changed_init_container_restarts_the_pod_in_a_new_sandbox():
    changed = {**INIT_A, "image": "orch/web:2"}
    p = with_inits(inits=(changed, INIT_B))
    plan = plan_pod(p, [pause(), init("a"), init("b"), web()], now=5, backoff_base=10)
    assert Kill("web0", "an init container's spec changed") in plan.actions
    assert plan.actions[-2:] == [Start(PAUSE, 1), Start("a", 1)]


def test_init_statuses_and_the_app_waiting_for_them():
    p = with_inits()
    status = compute_status(p, [pause(), init("a"), init("b", running=True)], {}, "h", None)
    a, b = status["initContainerStatuses"]
    assert a["ready"] and a["state"]["terminated"]["exitCode"] == 0
    assert not b["ready"] and "running" in b["state"]
    [app] = status["containerStatuses"]
    assert app["state"] == {"waiting": {"reason": "PodInitializing"}}
    assert status["phase"] == "Pending"
    done = compute_status(p, [pause(), init("a"), init("b"), web()], {}, "h", None)
    assert {c["type"]: c["status"] for c in done["conditions"]} == {
        "Initialized": "True", "Ready": "True", "ContainersReady": "True",
        "PodScheduled": "True"}
    assert done["phase"] == "Running"


def test_qos_counts_init_containers():
    guaranteed = {"limits": {"cpu": "1", "memory": "64Mi"}}
    p = Pod.model_validate({"metadata": {"name": "p", "uid": "u"}, "spec": {
        "initContainers": [{**INIT_A}],
        "containers": [{**WEB, "resources": guaranteed}]}})
    assert compute_status(p, [pause()], {}, "h", None)["qosClass"] == "Burstable"


def test_a_host_network_pod_has_the_node_address():
    p = Pod.model_validate({"metadata": {"name": "p", "uid": "u"}, "spec": {
        "hostNetwork": True, "containers": [WEB]}})
    status = compute_status(p, [Observed("s", PAUSE, 0, True, ip=None), web()], {},
                            "192.168.56.11", None)
    assert status["podIP"] == "192.168.56.11"


def test_conditions_keep_their_transition_time_until_they_change():
    from node_agent.pods.model import stamp_transitions
    first = stamp_transitions({"conditions": [{"type": "Ready", "status": "False"}]}, None, "t1")
    assert first["conditions"] == [{"type": "Ready", "status": "False",
                                    "lastTransitionTime": "t1"}]
    same = stamp_transitions({"conditions": [{"type": "Ready", "status": "False"}]}, first, "t2")
    assert same["conditions"][0]["lastTransitionTime"] == "t1"
    changed = stamp_transitions({"conditions": [{"type": "Ready", "status": "True"}]}, same, "t3")
    assert changed["conditions"][0]["lastTransitionTime"] == "t3"


# --- sidecars: init containers with restartPolicy Always ---

SIDE = {"name": "side", "image": "orch/web:1", "restartPolicy": "Always"}
SIDE2 = {"name": "side2", "image": "orch/web:1", "restartPolicy": "Always"}


def side(name="side", attempt=0, running=True, exit_code=None, finished=None, spec=SIDE):
    return Observed(f"{name}{attempt}", name, attempt, running, exit_code, 0.0, finished,
                    container_spec_hash(Container.model_validate(spec)))


def test_a_sidecar_starts_in_its_place_and_the_next_waits_until_it_has_started():
    p = with_inits(inits=(SIDE, INIT_A))
    assert plan_pod(p, [pause()], 0, 10).actions == [Start("side", 0)]
    # running, but its startup probe has not passed: the next init container waits
    assert plan_pod(p, [pause(), side()], 0, 10, unstarted={"side"}).actions == []
    assert plan_pod(p, [pause(), side()], 0, 10).actions == [Start("a", 0)]
    assert plan_pod(p, [pause(), side(), init("a")], 5, 10).actions == [Start("web", 0)]
    # beside the app it is left running
    assert plan_pod(p, [pause(), side(), init("a"), web()], 5, 10).actions == []


@pytest.mark.parametrize("policy", ["Always", "OnFailure", "Never"])
def test_a_sidecar_restarts_whatever_the_pods_policy(policy):
    p = with_inits(policy, inits=(SIDE,))
    observed = [pause(), side(running=False, exit_code=0, finished=1.0), web()]
    assert Start("side", 1) in plan_pod(p, observed, 1000, 10).actions
    crashing = [pause(), side(running=False, exit_code=1, finished=100.0), web()]
    plan = plan_pod(p, crashing, 105, 10)
    assert plan.actions == [] and plan.waiting["side"][0] == "CrashLoopBackOff"


def test_sidecars_stop_last_declared_first_once_the_app_has_finished():
    p = with_inits("Never", inits=(SIDE, SIDE2))
    done = [pause(), side(), side("side2", spec=SIDE2), web(running=False, exit_code=0,
                                                            finished=5.0)]
    plan = plan_pod(p, done, 10, 10)
    assert plan.actions == [Kill("side20", "the pod's app containers have finished"),
                            Kill("side0", "the pod's app containers have finished")]
    # killed, they are not started again, and the pod completes by its app alone
    stopped = [pause(), side(running=False, exit_code=137, finished=11.0),
               side("side2", running=False, exit_code=137, finished=11.0, spec=SIDE2),
               web(running=False, exit_code=0, finished=5.0)]
    assert plan_pod(p, stopped, 20, 10).actions == []
    assert compute_status(p, stopped, {}, "h", None)["phase"] == "Succeeded"
    # under Always the app restarts, so the sidecars stay
    assert plan_pod(with_inits("Always", inits=(SIDE,)),
                    [pause(), side(), web(running=False, exit_code=0, finished=5.0)],
                    1000, 10).actions == [Start("web", 1)]


def test_a_sidecar_is_probed_and_counts_for_the_pods_readiness():
    p = with_inits(inits=(SIDE,))
    observed = [pause(), side(), web()]
    assert plan_pod(p, observed, 5, 10, unhealthy={"side"}).actions == [
        Kill("side0", "liveness probe failed")]
    status = compute_status(p, observed, {}, "h", None, unready={"side"})
    [sidecar] = status["initContainerStatuses"]
    assert "running" in sidecar["state"] and not sidecar["ready"] and sidecar["started"]
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False" and ready["message"] == \
        "containers with unready status: [side]"
    assert status["phase"] == "Running"
    ok = compute_status(p, observed, {}, "h", None)
    assert ok["initContainerStatuses"][0]["ready"] and \
        {c["type"]: c["status"] for c in ok["conditions"]}["Ready"] == "True"


def test_a_pod_waits_pending_until_its_sidecar_has_started():
    p = with_inits(inits=(SIDE,))
    status = compute_status(p, [pause(), side()], {}, "h", None, unstarted={"side"})
    assert status["phase"] == "Pending"
    initialized = next(c for c in status["conditions"] if c["type"] == "Initialized")
    assert initialized["status"] == "False" and "[side]" in initialized["message"]


# --- eviction: a disk-backed emptyDir over its sizeLimit ---

def test_an_evicted_pods_status_reads_as_kubelets():
    from node_agent.pods.model import empty_dir_eviction_message, ended_by_node_status
    message = empty_dir_eviction_message("cache", "1Mi")
    assert message == 'Usage of EmptyDir volume "cache" exceeds the limit "1Mi". '
    status = ended_by_node_status(compute_status(pod(), [pause(), web()], {}, "h", None),
                                  "Evicted", message)
    assert (status["phase"], status["reason"], status["message"]) == ("Failed", "Evicted",
                                                                     message)
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["Ready"]["status"] == "False"
    assert conditions["DisruptionTarget"] == {"type": "DisruptionTarget", "status": "True",
                                              "reason": "TerminationByKubelet",
                                              "message": message}


def test_a_directorys_usage_is_its_allocated_blocks(tmp_path):
    from node_agent.pods.volumes import directory_usage
    assert directory_usage(tmp_path / "absent") == 0
    (tmp_path / "a").write_bytes(b"x" * 300_000)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b").write_bytes(b"y" * 100_000)
    os.link(tmp_path / "a", tmp_path / "sub" / "hard")  # one inode, counted once
    (tmp_path / "link").symlink_to("/usr")  # not followed
    used = directory_usage(tmp_path)
    assert 400_000 <= used < 500_000


def test_a_pod_is_over_its_empty_dirs_limit_only_on_disk(tmp_path):
    from node_agent.pods.volumes import PodVolumes
    sized = Pod.model_validate({
        "metadata": {"name": "p", "namespace": "default", "uid": "u1"},
        "spec": {"containers": [WEB], "volumes": [
            {"name": "mem", "emptyDir": {"medium": "Memory", "sizeLimit": "1Ki"}},
            {"name": "cache", "emptyDir": {"sizeLimit": "100Ki"}}]}})
    volumes = PodVolumes(tmp_path)
    cache = volumes.pod_dir(sized) / "volumes" / "empty-dir" / "cache"
    cache.mkdir(parents=True)
    (cache / "small").write_bytes(b"z" * 50_000)
    assert volumes.empty_dir_over_limit(sized) is None
    (cache / "big").write_bytes(b"z" * 100_000)
    assert volumes.empty_dir_over_limit(sized) == \
        'Usage of EmptyDir volume "cache" exceeds the limit "100Ki". '


@pytest.mark.parametrize("sub_path,words", [
    ("/etc/passwd", "must be a relative path"),
    ("../../etc", "must not contain '..'"),
    ("a/../../b", "must not contain '..'"),
])
def test_a_sub_path_must_stay_inside_its_volume(sub_path, words):
    with pytest.raises(ValueError, match=words):
        Pod.model_validate({"metadata": {"name": "p"}, "spec": {
            "containers": [{"name": "c", "image": "i", "volumeMounts": [
                {"name": "v", "mountPath": "/m", "subPath": sub_path}]}],
            "volumes": [{"name": "v", "emptyDir": {}}]}})


def test_a_sub_path_names_a_file_or_a_directory_made_when_absent(tmp_path):
    from node_agent.pods.volumes import sub_path_source
    from node_agent.runtime.errors import StartFailed
    volume = tmp_path / "vol"
    (volume / "conf").mkdir(parents=True)
    (volume / "conf" / "app.conf").write_text("x")
    assert sub_path_source(volume, "conf/app.conf") == (volume / "conf" / "app.conf").resolve()
    made = sub_path_source(volume, "new/dir")
    assert made.is_dir() and made == (volume / "new" / "dir").resolve()
    (volume / "away").symlink_to("/etc")
    with pytest.raises(StartFailed, match="leaves its volume"):
        sub_path_source(volume, "away/passwd")
