"""The eviction subresource (`POST …/pods/NAME/eviction`, policy/v1 Eviction): a pod deleted
only if the PodDisruptionBudget that covers it allows a disruption, as Kubernetes' eviction
REST does — what `kubectl drain` and `orchctl drain` call.

A pod that is terminal, pending or already being deleted is deleted without asking a budget;
a pod with no budget too. With one budget: an unready pod is deleted when the policy is
AlwaysAllow, or IfHealthyBudget (the default) while the budget is met anyway; otherwise
disruptionsAllowed must be above 0, and it is spent (the pod recorded in disruptedPods) in the
same compare-and-swap of the budget's status that the deletion follows. None left is 429
TooManyRequests in Kubernetes' words; more than one budget is 500.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

from kube.conditions import ready
from kube.kinds.pod import Pod
from kube.kinds.poddisruptionbudget import PodDisruptionBudget
from kube.meta import selector_matches
from kube.objects import Object
from kube.registry import by_kind
from kube.timestamps import now_rfc3339
from kube.typed import typed
from orchestrator.api.objects import Objects
from orchestrator.api.status import ApiError

POD, PDB = by_kind("v1", "Pod"), by_kind("policy/v1", "PodDisruptionBudget")
ATTEMPTS = 5
SUCCESS: Object = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}


def evict(objects: Objects, namespace: str, name: str,
          delete: Callable[[Objects], object]) -> Object:
    """`delete(objects)` deletes the pod with the eviction's DeleteOptions."""
    for _ in range(ATTEMPTS):
        pod = typed(Pod, objects.get(POD, namespace, name))
        if pod.metadata.deletion_timestamp or pod.status.phase in ("Succeeded", "Failed",
                                                                   "Pending"):
            delete(objects)
            return SUCCESS
        budgets = [b for b in objects.store.list("poddisruptionbudgets", namespace)[0]
                   if _covers(typed(PodDisruptionBudget, b), pod)]
        if len(budgets) > 1:
            raise ApiError(500, "InternalError", "This pod has more than one "
                           "PodDisruptionBudget, which the eviction subresource does not "
                           "support.")
        if not budgets:
            delete(objects)
            return SUCCESS
        stored = budgets[0]
        pdb = typed(PodDisruptionBudget, stored)
        status = pdb.status
        if (status.observed_generation or 0) < (pdb.metadata.generation or 1):
            raise _too_many(pdb, "The disruption budget is still being processed by the "
                            "server.")
        if not ready(pod.status.conditions):
            policy = pdb.spec.unhealthy_pod_eviction_policy or "IfHealthyBudget"
            if policy == "AlwaysAllow" or status.current_healthy >= status.desired_healthy > 0:
                delete(objects)
                return SUCCESS
        if status.disruptions_allowed <= 0:
            raise _too_many(pdb, f"The disruption budget {pdb.metadata.name} needs "
                            f"{status.desired_healthy} healthy pods and has "
                            f"{status.current_healthy} currently")
        spent = copy.deepcopy(stored)
        spent["status"]["disruptionsAllowed"] = status.disruptions_allowed - 1
        spent["status"].setdefault("disruptedPods", {})[name] = now_rfc3339()
        try:
            objects.update(PDB, namespace, pdb.metadata.name or "", spent,
                           subresource="status")
        except ApiError as e:
            if e.code == 409:  # another eviction spent it first: look again
                continue
            raise
        delete(objects)
        return SUCCESS
    raise ApiError(429, "TooManyRequests", "the disruption budget is contended; try again",
                   {"retryAfterSeconds": 1})


def _covers(pdb: PodDisruptionBudget, pod: Pod) -> bool:
    return pdb.spec.selector is not None and selector_matches(pdb.spec.selector,
                                                              pod.metadata.labels)


def _too_many(pdb: PodDisruptionBudget, message: str) -> ApiError:
    return ApiError(429, "TooManyRequests", "Cannot evict pod as it would violate the pod's "
                    "disruption budget.",
                    {"causes": [{"reason": "DisruptionBudget", "message": message}]})
