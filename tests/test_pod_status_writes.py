"""The agent's pod status writes: once per change, not again for a stale copy of the pod, and
again when someone else (the node lifecycle controller) changed the status in the API."""

from __future__ import annotations

import copy

from pathlib import Path

from kube.kinds.pod import Pod
from node_agent.pods.manager import PodManager
from node_agent.pods.volumes import PodVolumes
from node_agent.runtime.fake import FakeRuntime


class FakeClient:
    def __init__(self) -> None:
        self.writes: list[dict] = []
        self.revision = 5

    def update(self, resource, obj, subresource=None):
        assert (resource, subresource) == ("pods", "status")
        self.writes.append(obj["status"])
        self.revision += 1
        return {**obj, "metadata": {**obj["metadata"], "resourceVersion": str(self.revision)}}


def pod(revision: int, status: dict | None = None) -> dict:
    return {"metadata": {"name": "p", "namespace": "d", "uid": "u1",
                         "resourceVersion": str(revision)},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "i"}]},
            "status": status or {}}


def test_status_is_written_again_only_when_the_api_holds_someone_elses() -> None:
    client = FakeClient()
    manager = PodManager(client, FakeRuntime(), PodVolumes(Path("/nonexistent")), "n1",
                         "192.168.56.11")
    write = lambda p: manager._write_status(Pod.model_validate(p), p, [], {}, set())  # noqa: E731
    write(pod(5))
    assert len(client.writes) == 1
    ours = client.writes[0]
    write(pod(5))  # the watch has not brought our write yet: nothing new to say
    write(pod(6, copy.deepcopy(ours)))  # it has
    assert len(client.writes) == 1
    theirs = copy.deepcopy(ours)
    for c in theirs["conditions"]:
        if c["type"] == "Ready":
            c.update(reason="NodeNotReady", message="The node hosting this pod stopped reporting")
    write(pod(9, theirs))  # the master marked it while the node looked lost: put ours back
    assert client.writes[1:] == [ours]
