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
