"""Node lifecycle controller: notices nodes that stopped renewing their Lease and moves their
work elsewhere.

Every MONITOR_PERIOD the controller looks at each Node and its Lease (kube-node-lease/<node>).
A node whose Lease has not changed for `grace_period` seconds *as observed by this controller*
(its own monotonic clock, so hosts' clock skew does not matter, as in Kubernetes) gets:
  1. its Ready condition set to Unknown (NodeStatusUnknown) and the taints
     node.kubernetes.io/unreachable:NoSchedule and :NoExecute;
  2. its pods marked not Ready at once (so they leave Services' Endpoints);
  3. after `eviction_delay` more seconds, its pods deleted (gracefully: they show Terminating
     until their node confirms), so their ReplicaSets create replacements on other nodes. A pod
     that tolerates the unreachable NoExecute taint stays for its tolerationSeconds (forever
     without one).
When the Lease moves again the taints go; the agent writes Ready itself, stops the containers of
the pods that were deleted meanwhile and releases them, so exactly `replicas` pods remain.
Pods bound to a Node that no longer exists are deleted at once (nothing would ever stop them).

The decisions (`assess`, `eviction_plan`) are pure; `NodeLifecycleController` does the I/O.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from dataclasses import dataclass

from orchestrator.api.registry import by_kind
from orchestrator.api.status import ApiError
from orchestrator.controllers.events import EventRecorder
from orchestrator.store import StoreError
from orchestrator.api.timestamps import now_rfc3339

log = logging.getLogger(__name__)

NODE, POD = by_kind("v1", "Node"), by_kind("v1", "Pod")
LEASE_NAMESPACE = "kube-node-lease"
UNREACHABLE = "node.kubernetes.io/unreachable"
MONITOR_PERIOD = 0.5
DEFAULT_GRACE_PERIOD = 5.0
DEFAULT_EVICTION_DELAY = 2.0



# --- pure decisions ---

@dataclass(frozen=True)
class Observation:
    """What the controller last saw of a node's Lease, and when (monotonic seconds)."""

    lease_version: str | None
    changed_at: float


def observe(previous: Observation | None, lease: dict | None, now: float) -> Observation:
    version = lease["metadata"]["resourceVersion"] if lease else None
    if previous is None or previous.lease_version != version:
        return Observation(version, now)
    return previous


def is_unreachable(observation: Observation, now: float, grace_period: float) -> bool:
    return now - observation.changed_at > grace_period


def ready_condition(node: dict) -> dict | None:
    return next((c for c in (node.get("status") or {}).get("conditions") or []
                 if c.get("type") == "Ready"), None)


def unreachable_taints(node: dict) -> list[dict]:
    """The node's taints with the unreachable ones added (kept as they are if present)."""
    taints = [t for t in (node.get("spec") or {}).get("taints") or []]
    present = {(t.get("key"), t.get("effect")) for t in taints}
    for effect in ("NoSchedule", "NoExecute"):
        if (UNREACHABLE, effect) not in present:
            taints.append({"key": UNREACHABLE, "effect": effect, "timeAdded": now_rfc3339()})
    return taints


def without_unreachable_taints(node: dict) -> list[dict]:
    return [t for t in (node.get("spec") or {}).get("taints") or [] if t.get("key") != UNREACHABLE]


def toleration_seconds(pod: dict) -> float | None:
    """How long `pod` may stay on an unreachable node: 0 if it does not tolerate the NoExecute
    taint, its tolerationSeconds if it does, None (forever) if it tolerates it without a limit."""
    for t in pod["spec"].get("tolerations") or []:
        key_matches = t.get("key") in (None, "", UNREACHABLE) if t.get("operator") == "Exists" \
            else t.get("key") == UNREACHABLE
        if key_matches and t.get("effect") in (None, "", "NoExecute"):
            seconds = t.get("tolerationSeconds")
            return None if seconds is None else max(0.0, float(seconds))
    return 0.0


def eviction_plan(pods: list[dict], unreachable_for: float,
                  eviction_delay: float) -> tuple[list[dict], float | None]:
    """(the pods to evict now, seconds until the next one is due or None) for the pods of a node
    that has been unreachable for `unreachable_for` seconds."""
    evict, next_due = [], None
    for pod in pods:
        if pod["metadata"].get("deletionTimestamp"):
            continue
        tolerated = toleration_seconds(pod)
        if tolerated is None:
            continue
        due = eviction_delay + tolerated
        if unreachable_for >= due:
            evict.append(pod)
        else:
            wait = due - unreachable_for
            next_due = wait if next_due is None else min(next_due, wait)
    return evict, next_due


def not_ready_status(pod: dict) -> dict | None:
    """The pod's status with Ready (and ContainersReady) False, or None if already so."""
    status = copy.deepcopy(pod.get("status") or {})
    conditions = status.get("conditions") or []
    changed = False
    for c in conditions:
        if c.get("type") in ("Ready", "ContainersReady") and c.get("status") != "False":
            c.update(status="False", reason="NodeNotReady",
                     message="The node hosting this pod stopped reporting", lastTransitionTime=now_rfc3339())
            changed = True
    return status if changed else None


# --- the controller ---

class NodeLifecycleController:
    name = "nodelifecycle"

    def __init__(self, objects, grace_period: float = DEFAULT_GRACE_PERIOD,
                 eviction_delay: float = DEFAULT_EVICTION_DELAY,
                 clock=time.monotonic) -> None:
        self.objects, self.store = objects, objects.store
        self.grace_period, self.eviction_delay = grace_period, eviction_delay
        self.clock = clock
        self.stopping = threading.Event()
        self.events = EventRecorder(objects, "node-controller")
        self._seen: dict[str, Observation] = {}
        self._unreachable_since: dict[str, float] = {}

    def start(self) -> None:
        threading.Thread(target=self._run, name=self.name, daemon=True).start()

    def stop(self) -> None:
        self.stopping.set()

    def _run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.monitor()
            except (StoreError, ApiError) as e:
                log.warning("node monitor: %s", e)
            except Exception:  # noqa: BLE001 - keep monitoring
                log.exception("node monitor pass failed")
            self.stopping.wait(MONITOR_PERIOD)

    def monitor(self) -> None:
        now = self.clock()
        nodes, _ = self.store.cache("nodes").list()
        leases = {l["metadata"]["name"]: l for l in
                  self.store.cache("leases").list(f"/registry/leases/{LEASE_NAMESPACE}/")[0]}
        pods, _ = self.store.cache("pods").list()
        by_node: dict[str, list[dict]] = {}
        for pod in pods:
            if pod["spec"].get("nodeName"):
                by_node.setdefault(pod["spec"]["nodeName"], []).append(pod)
        names = {n["metadata"]["name"] for n in nodes}
        for node in nodes:
            name = node["metadata"]["name"]
            self._seen[name] = observe(self._seen.get(name), leases.get(name), now)
            if is_unreachable(self._seen[name], now, self.grace_period):
                since = self._unreachable_since.setdefault(name, now)
                self._handle_unreachable(node, by_node.get(name, []), now - since)
            else:
                if self._unreachable_since.pop(name, None) is not None:
                    self.events.normal(node, "NodeReachable",
                                       f"Node {name} is renewing its lease again")
                self._clear_taints(node)
        for name in list(self._seen):
            if name not in names:
                self._seen.pop(name)
                self._unreachable_since.pop(name, None)
        for name, orphans in by_node.items():
            if name not in names:
                for pod in orphans:
                    self._delete_pod(pod, grace=0)

    def _handle_unreachable(self, node: dict, pods: list[dict], unreachable_for: float) -> None:
        name = node["metadata"]["name"]
        ready = ready_condition(node)
        if ready is None or ready.get("status") != "Unknown":
            status = copy.deepcopy(node.get("status") or {})
            message = "Node agent stopped renewing its lease."
            status["conditions"] = [c for c in status.get("conditions") or []
                                    if c.get("type") != "Ready"] + [{
                "type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown",
                "message": message, "lastTransitionTime": now_rfc3339(),
                "lastHeartbeatTime": (ready or {}).get("lastHeartbeatTime")}]
            self._write(lambda: self.objects.update(NODE, None, name, {**node, "status": status},
                                                    subresource="status"))
            self.events.warning(node, "NodeNotReady", f"Node {name} status is now: "
                                "NodeStatusUnknown (lease not renewed)")
            log.warning("node %s unreachable: lease not renewed for %.1f s", name,
                        self.grace_period)
        taints = unreachable_taints(node)
        if taints != ((node.get("spec") or {}).get("taints") or []):
            self._write(lambda: self.objects.patch(NODE, None, name, {"spec": {"taints": taints}}))
        for pod in pods:
            status = not_ready_status(pod)
            if status is not None and not pod["metadata"].get("deletionTimestamp"):
                self._write(lambda: self.objects.update(
                    POD, pod["metadata"]["namespace"], pod["metadata"]["name"],
                    {**pod, "status": status}, subresource="status"))
        evict, _ = eviction_plan(pods, unreachable_for, self.eviction_delay)
        for pod in evict:
            if not self._delete_pod(pod):
                continue  # it moved meanwhile: the next pass looks again
            self.events.warning({"apiVersion": "v1", "kind": "Pod", **pod}, "Evicted",
                                f"Node {name} is unreachable; the pod is deleted so that its "
                                "controller replaces it")

    def _clear_taints(self, node: dict) -> None:
        current = (node.get("spec") or {}).get("taints") or []
        kept = without_unreachable_taints(node)
        if kept != current:
            self._write(lambda: self.objects.patch(NODE, None, node["metadata"]["name"],
                                                   {"spec": {"taints": kept or None}}))

    def _delete_pod(self, pod: dict, grace: int | None = None) -> bool:
        return self._write(lambda: self.objects.delete(POD, pod["metadata"]["namespace"],
                                                       pod["metadata"]["name"],
                                                       grace_period_seconds=grace))

    @staticmethod
    def _write(action) -> bool:
        """A write whose object moved meanwhile (404, 409) is retried by the next pass."""
        try:
            action()
            return True
        except ApiError as e:
            if e.code not in (404, 409):
                raise
            return False
