"""ReplicationController manager: the ReplicaSet controller run over ReplicationControllers
read as ReplicaSets (kube.kinds.replicationcontroller.as_replicaset), as Kubernetes'
replication manager wraps its ReplicaSet controller."""

from __future__ import annotations

from kube.kinds.replicaset import ReplicaSet
from kube.kinds.replicationcontroller import as_replicaset
from kube.objects import Object
from kube.registry import by_kind
from orchestrator.controllers.replicaset import ReplicaSetController


class ReplicationManager(ReplicaSetController):
    name = "replicationmanager"
    kind = by_kind("v1", "ReplicationController")
    component = "replication-controller"

    def view(self, stored: Object) -> ReplicaSet:
        return as_replicaset(stored)
