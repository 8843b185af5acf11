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

Disruption (Kubernetes' zone states, nodes grouped by `topology.kubernetes.io/zone`): when
many nodes of a zone look lost at once the fault is more likely on the control plane's side (its
network, its store) than on the nodes, and evicting would only make it worse:
  - a zone where no node is ready is in *full disruption*; when every zone is, the controller
    enters "master disruption mode": no evictions at all, and the NoExecute taints it had added
    come off (Ready=Unknown, the NoSchedule taint and not-Ready pods stay). On leaving it, every
    node gets a fresh grace period before anything is evicted;
  - a zone with more than 2 nodes not ready and at least 55% of them not ready is in *partial
    disruption*: zones of up to 50 nodes evict nothing (Kubernetes' reduced eviction rate is 0
    there); larger zones go on at the secondary rate (below).
Eviction rate: in each zone, lost nodes are admitted to eviction (NoExecute taint, pods evicted
when due) through a token bucket of burst 1, as Kubernetes' per-zone NoExecute tainter: at
`eviction_rate` nodes per second (default 0.1: one node every 10 s; the first at once), at
`secondary_eviction_rate` (0.01) in a partially disrupted zone of more than 50 nodes. A node
stays admitted while it stays unreachable and evictions stay allowed.
A single-node cluster whose node is lost is therefore in master disruption mode: its pods stay
(there is nowhere else to run them), as in Kubernetes. And a node's pods are evicted only once
some other node has renewed its Lease after that node was found unreachable (`renewed_since`):
nodes lost together are found unreachable up to a renewal interval apart, and the first ones
must not be evicted before the last ones tip the zone into disruption.

The decisions (`observe`, `zone_state`, `evictions_allowed`, `zone_eviction_rate`,
`TokenBucket`, `renewed_since`, `eviction_plan`) are pure, over typed nodes and pods
(kube.typed); `NodeLifecycleController` does the I/O.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from kube import conditions
from kube.conditions import typed_find
from kube.events import EventRecorder
from kube.kinds.node import Node
from kube.kinds.pod import Pod
from kube.meta import Condition, ObjectMeta
from kube.objects import Object
from kube.registry import by_kind
from kube.timestamps import now_rfc3339
from kube.typed import metadata_of, typed_all
from orchestrator.api.objects import Objects
from orchestrator.api.status import ApiError
from orchestrator.store import StoreError

log = logging.getLogger(__name__)

NODE, POD = by_kind("v1", "Node"), by_kind("v1", "Pod")
LEASE_NAMESPACE = "kube-node-lease"
UNREACHABLE = "node.kubernetes.io/unreachable"
ZONE_LABEL = "topology.kubernetes.io/zone"
MONITOR_PERIOD = 0.5
DEFAULT_GRACE_PERIOD = 5.0
DEFAULT_EVICTION_DELAY = 2.0
UNHEALTHY_ZONE_THRESHOLD = 0.55  # Kubernetes' --unhealthy-zone-threshold
LARGE_CLUSTER_THRESHOLD = 50     # Kubernetes' --large-cluster-size-threshold
DEFAULT_EVICTION_RATE = 0.1            # Kubernetes' --node-eviction-rate (nodes per second)
DEFAULT_SECONDARY_EVICTION_RATE = 0.01  # Kubernetes' --secondary-node-eviction-rate
NORMAL, PARTIAL_DISRUPTION, FULL_DISRUPTION = "Normal", "PartialDisruption", "FullDisruption"


# --- pure decisions ---

@dataclass(frozen=True)
class Observation:
    """What the controller last saw of a node's Lease, and when (monotonic seconds)."""

    lease_version: str | None
    changed_at: float


def observe(previous: Observation | None, lease: ObjectMeta | None, now: float) -> Observation:
    """What is seen of a node's Lease (its metadata) at `now`."""
    version = lease.resource_version if lease else None
    if previous is None or previous.lease_version != version:
        return Observation(version, now)
    return previous


def is_unreachable(observation: Observation, now: float, grace_period: float) -> bool:
    return now - observation.changed_at > grace_period


def ready_condition(node: Node) -> Condition | None:
    return typed_find(node.status.conditions, "Ready")


def is_ready(node: Node, unreachable: bool) -> bool:
    """Whether `node` counts as ready for its zone's state: renewing its lease and Ready=True."""
    return not unreachable and conditions.ready(node.status.conditions)


def zone_of(node: Node) -> str:
    return (node.metadata.labels or {}).get(ZONE_LABEL, "")


def zone_state(ready: int, not_ready: int) -> str:
    """Kubernetes' ComputeZoneState for a zone with these counts of nodes."""
    if ready == 0 and not_ready > 0:
        return FULL_DISRUPTION
    if not_ready > 2 and not_ready / (ready + not_ready) >= UNHEALTHY_ZONE_THRESHOLD:
        return PARTIAL_DISRUPTION
    return NORMAL


def master_disruption(states: dict[str, str]) -> bool:
    """Every zone fully disrupted: the control plane, not the nodes, is the likely fault."""
    return bool(states) and all(s == FULL_DISRUPTION for s in states.values())


def zone_states(nodes: list[Node], unreachable: set[str]) -> dict[str, str]:
    """Each zone's state, from its nodes' readiness (`unreachable`: names of nodes whose lease
    stopped)."""
    counts: dict[str, list[int]] = {}
    for node in nodes:
        ready = is_ready(node, node.metadata.name in unreachable)
        counts.setdefault(zone_of(node), [0, 0])[0 if ready else 1] += 1
    return {zone: zone_state(ready, not_ready) for zone, (ready, not_ready) in counts.items()}


def evictions_allowed(states: dict[str, str], zone: str, zone_size: int) -> bool:
    """Whether the unreachable nodes of `zone` may have their pods evicted now."""
    if master_disruption(states):
        return False
    if states.get(zone) == PARTIAL_DISRUPTION:
        return zone_size > LARGE_CLUSTER_THRESHOLD
    return True


def zone_eviction_rate(state: str, zone_size: int, rate: float, secondary_rate: float) -> float:
    """Nodes per second a zone in `state` admits to eviction (Kubernetes' HealthyQPSFunc and
    ReducedQPSFunc): the normal rate, the secondary one in a large partially disrupted zone,
    none in a small one."""
    if state == PARTIAL_DISRUPTION:
        return secondary_rate if zone_size > LARGE_CLUSTER_THRESHOLD else 0.0
    return rate


class TokenBucket:
    """At most `burst` admissions at once, refilled at `rate` per second; starts full, except
    at rate 0, which admits nothing ever (Kubernetes' never-rate-limiter: a zone, or the
    flag, at 0 evicts nothing). Time comes from the caller (monotonic seconds)."""

    def __init__(self, rate: float, now: float, burst: int = 1) -> None:
        self.rate, self.burst = rate, burst
        self.tokens, self.updated = (float(burst) if rate > 0 else 0.0), now

    def take(self, now: float) -> bool:
        self.tokens = min(float(self.burst), self.tokens + max(0.0, now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


def renewed_since(seen: dict[str, Observation], since: float, unreachable: set[str]) -> bool:
    """Whether some node that is not unreachable renewed its Lease after `since` (when a node
    was found unreachable): the evidence that this controller's view is live and that node is
    lost alone. Without it, losing every node at once would evict the first ones found
    unreachable before the last ones are (their renewals are up to a renewal interval apart,
    the eviction delay may be shorter)."""
    return any(o.changed_at > since for name, o in seen.items() if name not in unreachable)


def taints_of(node: Node) -> list[Object]:
    """The node's taints as JSON (as written back)."""
    return [t.to_dict() for t in node.spec.taints or ()]


def unreachable_taints(node: Node, no_execute: bool = True) -> list[Object]:
    """The node's taints (JSON, to write) with the unreachable ones added (kept as they are if
    present); without `no_execute`, the NoExecute one is left out (and taken off if present)."""
    taints = [t for t in taints_of(node)
              if no_execute or (t["key"], t["effect"]) != (UNREACHABLE, "NoExecute")]
    present = {(t["key"], t["effect"]) for t in taints}
    for effect in ("NoSchedule", "NoExecute") if no_execute else ("NoSchedule",):
        if (UNREACHABLE, effect) not in present:
            taints.append({"key": UNREACHABLE, "effect": effect, "timeAdded": now_rfc3339()})
    return taints


def without_unreachable_taints(node: Node) -> list[Object]:
    return [t for t in taints_of(node) if t["key"] != UNREACHABLE]


def toleration_seconds(pod: Pod) -> float | None:
    """How long `pod` may stay on an unreachable node: 0 if it does not tolerate the NoExecute
    taint, its tolerationSeconds if it does, None (forever) if it tolerates it without a limit."""
    for t in pod.spec.tolerations or ():
        key_matches = t.key in (None, "", UNREACHABLE) if t.operator == "Exists" \
            else t.key == UNREACHABLE
        if key_matches and t.effect in (None, "NoExecute"):
            seconds = t.toleration_seconds
            return None if seconds is None else max(0.0, float(seconds))
    return 0.0


def eviction_plan(pods: list[Pod], unreachable_for: float,
                  eviction_delay: float) -> tuple[list[Pod], float | None]:
    """(the pods to evict now, seconds until the next one is due or None) for the pods of a node
    that has been unreachable for `unreachable_for` seconds."""
    evict, next_due = [], None
    for pod in pods:
        if pod.metadata.deletion_timestamp:
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


def not_ready_status(pod: Pod) -> Object | None:
    """The pod's status (JSON, to write) with Ready (and ContainersReady) False, or None if
    already so."""
    status = pod.status.to_dict()
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

    def __init__(self, objects: Objects, grace_period: float = DEFAULT_GRACE_PERIOD,
                 eviction_delay: float = DEFAULT_EVICTION_DELAY,
                 eviction_rate: float = DEFAULT_EVICTION_RATE,
                 secondary_eviction_rate: float = DEFAULT_SECONDARY_EVICTION_RATE,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.objects, self.store = objects, objects.store
        self.grace_period, self.eviction_delay = grace_period, eviction_delay
        self.eviction_rate, self.secondary_eviction_rate = eviction_rate, secondary_eviction_rate
        self.clock = clock
        self._limiters: dict[str, TokenBucket] = {}  # per zone, at the zone's current rate
        self._admitted: set[str] = set()  # unreachable nodes admitted to eviction
        self.stopping = threading.Event()
        self.events = EventRecorder(objects, "node-controller")
        self._seen: dict[str, Observation] = {}
        self._unreachable_since: dict[str, float] = {}
        self._zone_states: dict[str, str] = {}
        self._master_disruption = False

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
        nodes = typed_all(Node, self.store.cached("nodes")[0])
        leases = {lease.name: lease for lease in
                  map(metadata_of, self.store.cached("leases", LEASE_NAMESPACE)[0])}
        by_node: dict[str, list[Pod]] = {}
        for pod in typed_all(Pod, self.store.cached("pods")[0]):
            if pod.spec.node_name:
                by_node.setdefault(pod.spec.node_name, []).append(pod)
        names = {n.metadata.name or "" for n in nodes}
        unreachable = set()
        for node in nodes:
            name = node.metadata.name or ""
            self._seen[name] = observe(self._seen.get(name), leases.get(name), now)
            if is_unreachable(self._seen[name], now, self.grace_period):
                unreachable.add(name)
        states = zone_states(nodes, unreachable)
        self._note_disruption(states, unreachable, now)
        zone_sizes = Counter(zone_of(n) for n in nodes)
        for node in nodes:
            name = node.metadata.name or ""
            if name in unreachable:
                since = self._unreachable_since.setdefault(name, now)
                zone = zone_of(node)
                allowed = evictions_allowed(states, zone, zone_sizes[zone]) and \
                    renewed_since(self._seen, since, unreachable) and \
                    self._admit(name, zone, states[zone], zone_sizes[zone], now)
                if not allowed:
                    self._admitted.discard(name)
                self._handle_unreachable(node, by_node.get(name, []), now - since, allowed)
            else:
                self._admitted.discard(name)
                if self._unreachable_since.pop(name, None) is not None:
                    self.events.normal(node, "NodeReachable",
                                       f"Node {name} is renewing its lease again")
                self._clear_taints(node)
        for name in list(self._seen):
            if name not in names:
                self._seen.pop(name)
                self._unreachable_since.pop(name, None)
                self._admitted.discard(name)
        for name, orphans in by_node.items():
            if name not in names:
                for pod in orphans:
                    self._delete_pod(pod, grace=0)

    def _admit(self, name: str, zone: str, state: str, zone_size: int, now: float) -> bool:
        """Whether node `name` is admitted to eviction: it already was, or its zone's token
        bucket has a token now. A zone whose rate changed gets a fresh bucket at the new rate
        (Kubernetes swaps the zone's limiter)."""
        if name in self._admitted:
            return True
        rate = zone_eviction_rate(state, zone_size, self.eviction_rate,
                                  self.secondary_eviction_rate)
        limiter = self._limiters.get(zone)
        if limiter is None or limiter.rate != rate:
            limiter = self._limiters[zone] = TokenBucket(rate, now)
        if not limiter.take(now):
            log.info("node %s: waiting for zone %r's eviction rate limit (%.3g nodes/s)", name,
                     zone, rate)
            return False
        self._admitted.add(name)
        return True

    def _note_disruption(self, states: dict[str, str], unreachable: set[str], now: float) -> None:
        """Logs zone state changes. On leaving master disruption mode, every node still
        unreachable gets a fresh grace period before its eviction clock starts (Kubernetes
        resets its probe timestamps there), so a control plane that comes back with a partial
        view does not evict at once."""
        for zone, state in states.items():
            if self._zone_states.get(zone, NORMAL) != state:
                log.warning("zone %r: %s -> %s", zone or "(no zone label)",
                            self._zone_states.get(zone, NORMAL), state)
        disrupted = master_disruption(states)
        if disrupted and not self._master_disruption:
            log.warning("no node is ready: entering master disruption mode (no evictions "
                        "until some node is ready again)")
        elif self._master_disruption and not disrupted:
            log.warning("leaving master disruption mode: nodes still unreachable get a fresh "
                        "grace period of %.1f s", self.grace_period)
            for name in unreachable:
                self._unreachable_since[name] = now + self.grace_period
        self._master_disruption, self._zone_states = disrupted, states

    def _handle_unreachable(self, node: Node, pods: list[Pod], unreachable_for: float,
                            may_evict: bool) -> None:
        """Ready=Unknown, the unreachable taints, its pods not Ready; and, if `may_evict`, its
        pods evicted when due. The NoExecute taint is on exactly the
        nodes whose pods may be evicted."""
        name = node.metadata.name or ""
        ready = ready_condition(node)
        if ready is None or ready.status != "Unknown":
            body = node.to_dict()
            status = body["status"]
            message = "Node agent stopped renewing its lease."
            status["conditions"] = [c for c in status.get("conditions") or []
                                    if c.get("type") != "Ready"] + [{
                "type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown",
                "message": message, "lastTransitionTime": now_rfc3339(),
                "lastHeartbeatTime": ready.last_heartbeat_time if ready else None}]
            self._write(lambda: self.objects.update(NODE, None, name, body, subresource="status"))
            self.events.warning(node, "NodeNotReady", f"Node {name} status is now: "
                                "NodeStatusUnknown (lease not renewed)")
            log.warning("node %s unreachable: lease not renewed for %.1f s", name,
                        self.grace_period)
        taints = unreachable_taints(node, no_execute=may_evict)
        if taints != taints_of(node):
            self._write(lambda: self.objects.patch(NODE, None, name, {"spec": {"taints": taints}}))
        for pod in pods:
            status = not_ready_status(pod)
            if status is not None and not pod.metadata.deletion_timestamp:
                self._write(lambda: self.objects.update(
                    POD, pod.metadata.namespace, pod.metadata.name or "",
                    {**pod.to_dict(), "status": status}, subresource="status"))
        if not may_evict:
            return
        evict, _ = eviction_plan(pods, unreachable_for, self.eviction_delay)
        for pod in evict:
            if not self._delete_pod(pod):
                continue  # it moved meanwhile: the next pass looks again
            self.events.warning(pod, "Evicted",
                                f"Node {name} is unreachable; the pod is deleted so that its "
                                "controller replaces it")

    def _clear_taints(self, node: Node) -> None:
        kept = without_unreachable_taints(node)
        if kept != taints_of(node):
            self._write(lambda: self.objects.patch(NODE, None, node.metadata.name or "",
                                                   {"spec": {"taints": kept or None}}))

    def _delete_pod(self, pod: Pod, grace: int | None = None) -> bool:
        return self._write(lambda: self.objects.delete(POD, pod.metadata.namespace,
                                                       pod.metadata.name or "",
                                                       grace_period_seconds=grace))

    @staticmethod
    def _write(action: Callable[[], object]) -> bool:
        """A write whose object moved meanwhile (404, 409) is retried by the next pass."""
        try:
            action()
            return True
        except ApiError as e:
            if e.code not in (404, 409):
                raise
            return False
