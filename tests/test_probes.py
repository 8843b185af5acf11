"""Probe verdicts: consecutive successes and failures against thresholds."""

from __future__ import annotations

import pytest

from kube.kinds.pod import Container
from node_agent.pods.probes import ProbeState, resolve_port


@pytest.mark.parametrize("start,thresholds,results,verdicts", [
    (False, (1, 3), [True], [True]),
    (False, (2, 3), [True, False, True, True], [False, False, False, True]),
    (True, (1, 3), [False, False, False], [True, True, False]),
    (True, (1, 3), [False, False, True, False, False], [True, True, True, True, True]),
    (True, (1, 1), [False, True], [False, True]),
], ids=["ready-after-one", "successes-must-be-consecutive", "dead-after-three",
        "failures-must-be-consecutive", "threshold-one-flips-both-ways"])
def test_a_verdict_flips_only_after_consecutive_results(start, thresholds, results, verdicts):
    state = ProbeState(*thresholds, verdict=start)
    seen = []
    for ok in results:
        state.record(ok)
        seen.append(state.verdict)
    assert seen == verdicts


def test_named_ports_resolve_from_the_containers_ports():
    container = Container.model_validate({"name": "c", "image": "i",
                                          "ports": [{"name": "http", "containerPort": 8080}]})
    assert resolve_port("http", container) == 8080 and resolve_port(80, container) == 80
    with pytest.raises(ValueError):
        resolve_port("grpc", container)


def test_a_startup_probe_holds_the_other_probes_until_it_succeeds():
    import threading
    import time

    from kube.kinds.pod import Pod
    from node_agent.pods.probes import LIVENESS, STARTUP, Prober

    calls: list[tuple[str, ...]] = []
    ready_after = time.time() + 1.5
    woke = threading.Event()

    def exec_in(cid, command, timeout):
        calls.append(tuple(command))
        return 0 if command[0] == "live" or time.time() > ready_after else 1

    pod = Pod.model_validate({"metadata": {"name": "p", "uid": "u"}, "spec": {"containers": [{
        "name": "c", "image": "i",
        "startupProbe": {"exec": {"command": ["start"]}, "periodSeconds": 1,
                         "failureThreshold": 10},
        "livenessProbe": {"exec": {"command": ["live"]}, "periodSeconds": 1}}]}})
    prober = Prober(on_change=lambda uid: woke.set(), exec_in_container=exec_in)
    running = {"c": ("cid", time.time())}
    prober.ensure("u", pod, running, "10.0.0.1")
    assert not prober.started("cid") and prober.verdict("cid", LIVENESS) is None
    assert woke.wait(10) and prober.started("cid")
    assert prober.verdict("cid", STARTUP) is None  # done: it no longer runs
    prober.ensure("u", pod, running, "10.0.0.1")  # the worker's next sync: liveness begins
    deadline = time.time() + 5
    while ("live",) not in calls and time.time() < deadline:
        time.sleep(0.1)
    assert ("live",) in calls and calls.index(("live",)) > calls.index(("start",))
    prober.forget_pod("u")
    assert not prober.started("cid")


def test_a_startup_probes_success_threshold_is_one():
    from kube.kinds.pod import Container as C
    with pytest.raises(ValueError, match="startupProbe.successThreshold"):
        C.model_validate({"name": "c", "image": "i", "startupProbe": {
            "exec": {"command": ["x"]}, "successThreshold": 2}})
