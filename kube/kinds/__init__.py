"""The kinds this API serves, one module each: its typed model and its strategy (base.Kind).

Adding a kind: a module here that defines its model and `KIND`, and one line in KINDS below;
its controller, if it has one, is a module of orchestrator/controllers. Routing, discovery,
validation, the store's keys, field selectors, orchctl's names and table columns all derive
from `KIND` (CONTRIBUTING.md walks through it).
"""

from __future__ import annotations

from kube.kinds import (configmap, controllerrevision, cronjob, daemonset, deployment, endpoints,
                        event, ingress, ingressclass, job, lease, limitrange, namespace,
                        networkpolicy, node, persistentvolume,
                        persistentvolumeclaim, pod, poddisruptionbudget, replicaset,
                        replicationcontroller, resourcequota, secret, service, serviceaccount,
                        statefulset, storageclass)
from kube.kinds.base import Column, Kind, ListMerge

KINDS: tuple[Kind, ...] = (
    namespace.KIND,
    node.KIND,
    pod.KIND,
    replicationcontroller.KIND,
    service.KIND,
    endpoints.KIND,
    configmap.KIND,
    secret.KIND,
    serviceaccount.KIND,
    persistentvolumeclaim.KIND,
    persistentvolume.KIND,
    resourcequota.KIND,
    limitrange.KIND,
    event.KIND,
    daemonset.KIND,  # the workloads in the order of kubectl's `get all`
    deployment.KIND,
    replicaset.KIND,
    statefulset.KIND,
    controllerrevision.KIND,
    cronjob.KIND,  # before jobs, as kubectl's `get all`
    job.KIND,
    poddisruptionbudget.KIND,
    storageclass.KIND,
    lease.KIND,
    networkpolicy.KIND,
    ingressclass.KIND,
    ingress.KIND,
)

__all__ = ["KINDS", "Column", "Kind", "ListMerge"]
