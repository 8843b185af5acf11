"""The scheduling loop, in the master (I/O around the pure framework).

Reads pods and nodes from the store's watch caches (no extra etcd traffic), and wakes on any
change to either, or every RESYNC seconds. For each pending pod (no nodeName, not being deleted),
oldest first: decide on a snapshot; bind through Objects.bind, a compare-and-swap that refuses a
pod already bound (so two schedulers can never bind one pod twice); then decide the next pod on
the snapshot with this one assumed. A pod that fits nowhere gets PodScheduled=False with the
reason per node and an Event, written only when the reason changes; it is retried when pods,
nodes or storage change.

A pod with unbound WaitForFirstConsumer claims is not bound at once: the chosen node is
written on those claims (`volume.kubernetes.io/selected-node`), the persistent volume
controller and the provisioner bind them there, and the pod is bound in a later pass, once its
claims are (their volumes' node affinity then keeps it on that node).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable

from kube.events import EventRecorder
from kube.kinds.namespace import Namespace
from kube.kinds.node import Node
from kube.kinds.persistentvolume import PersistentVolume
from kube.kinds.persistentvolumeclaim import SELECTED_NODE, PersistentVolumeClaim
from kube.kinds.pod import Pod
from kube.kinds.storageclass import StorageClass
from kube.registry import by_kind
from kube.timestamps import now_rfc3339
from kube.typed import typed_all
from orchestrator.api.objects import Objects
from orchestrator.api.status import ApiError
from orchestrator.scheduler.framework import schedule
from orchestrator.scheduler.snapshot import Snapshot, Storage
from orchestrator.store import StoreError

log = logging.getLogger(__name__)

SCHEDULER_NAME = "default-scheduler"
RESYNC = 5.0
POD, NODE = by_kind("v1", "Pod"), by_kind("v1", "Node")
PVC = by_kind("v1", "PersistentVolumeClaim")
WATCHED = ("pods", "nodes", "persistentvolumeclaims", "persistentvolumes", "storageclasses")


class Scheduler:
    def __init__(self, objects: Objects, rng: random.Random | None = None,
                 weights: dict[str, float] | None = None) -> None:
        self.objects = objects
        self.weights = weights or {}  # score plugin name → weight (defaults in plugins.SCORES)
        self.rng = rng or random.Random()
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self._unschedulable: dict[str, str] = {}  # pod uid → the message last written
        self.events = EventRecorder(objects, SCHEDULER_NAME)
        self._bound_at = 0  # etcd revision of this scheduler's last binding
        self._next_start = 0  # where the next search over the nodes begins
        self._unsubscribe: list[Callable[[], None]] = []

    def start(self) -> None:
        threading.Thread(target=self._run, name="scheduler", daemon=True).start()

    def stop(self) -> None:
        self.stopping.set()
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self.wake.set()

    def _run(self) -> None:
        while not self.stopping.is_set():
            try:
                store = self.objects.store
                for resource in WATCHED:
                    self._unsubscribe.append(
                        store.watch(resource, None, None, lambda _event: self.wake.set()))
                self.wake.set()  # a first pass at once: pods may be waiting already
                break
            except StoreError as e:
                log.warning("scheduler waiting for the store: %s", e)
                self.stopping.wait(1)
        while not self.stopping.is_set():
            self.wake.wait(RESYNC)
            self.wake.clear()
            if self.stopping.is_set():
                return
            try:
                self.schedule_pending()
            except Exception:  # noqa: BLE001 - keep scheduling; the next wake retries
                log.exception("scheduling pass failed")

    def schedule_pending(self) -> int:
        """One pass over the pending pods; returns how many were bound."""
        self._catch_up()
        # Typed, read-only views of the caches' objects, each parsed once per version.
        pods = typed_all(Pod, self.objects.store.cached("pods")[0])
        pending = sorted((p for p in pods if not p.spec.node_name
                          and not p.metadata.deletion_timestamp
                          and (p.spec.scheduler_name or SCHEDULER_NAME) == SCHEDULER_NAME),
                         key=lambda p: (p.metadata.creation_timestamp or "",
                                        p.metadata.name or ""))
        if not pending:
            return 0
        cached = self.objects.store.cached
        nodes = typed_all(Node, cached("nodes")[0])
        storage = Storage.build(typed_all(PersistentVolumeClaim,
                                          cached("persistentvolumeclaims")[0]),
                                typed_all(PersistentVolume, cached("persistentvolumes")[0]),
                                typed_all(StorageClass, cached("storageclasses")[0]))
        snapshot = Snapshot.build(nodes, pods, storage,
                                  typed_all(Namespace, cached("namespaces")[0]))
        bound = 0
        for pod in pending:
            decision = schedule(pod, snapshot, self.rng, self.weights, start=self._next_start)
            if snapshot.nodes:
                self._next_start = (self._next_start + decision.examined) % len(snapshot.nodes)
            namespace, name = pod.metadata.namespace or "", pod.metadata.name or ""
            if decision.node is None:
                self._mark_unschedulable(pod, decision.message)
                continue
            if decision.claims:
                self._select_node(decision.claims, decision.node)
                continue  # bound in a later pass, once its claims are
            try:
                bound_pod = self.objects.bind(namespace, name,
                                              {"target": {"kind": "Node", "name": decision.node}})
                self._bound_at = max(self._bound_at,
                                     int(bound_pod["metadata"]["resourceVersion"]))
            except ApiError as e:
                log.info("binding %s/%s: %s", namespace, name, e.message)
                continue
            bound += 1
            self._unschedulable.pop(pod.metadata.uid or "", None)
            snapshot = snapshot.assume(pod, decision.node)
            self.events.normal(pod, "Scheduled",
                               f"Successfully assigned {namespace}/{name} to {decision.node}")
        return bound

    def _select_node(self, claims: tuple[PersistentVolumeClaim, ...], node: str) -> None:
        """Name `node` on each claim that names none, so its volume is found or made there."""
        for claim in claims:
            meta = claim.metadata
            if (meta.annotations or {}).get(SELECTED_NODE):
                continue
            try:
                self.objects.patch(PVC, meta.namespace, meta.name or "", {"metadata": {
                    "annotations": {SELECTED_NODE: node},
                    "resourceVersion": meta.resource_version}})
            except ApiError as e:  # changed meanwhile: the next pass decides again
                log.info("selecting node %s for claim %s/%s: %s", node, meta.namespace,
                         meta.name, e.message)

    def _catch_up(self, timeout: float = 2.0) -> None:
        """Wait until the pods cache has seen this scheduler's last binding, so a pass never
        works from a snapshot that lacks pods it placed itself (it would count them as pending
        and spread badly). Within a pass, `Snapshot.assume` plays that role."""
        deadline = time.monotonic() + timeout
        while self.objects.store.cached_revision("pods") < self._bound_at and \
                time.monotonic() < deadline:
            time.sleep(0.005)

    def _mark_unschedulable(self, pod: Pod, message: str) -> None:
        meta = pod.metadata
        uid, namespace, name = meta.uid or "", meta.namespace or "", meta.name or ""
        if self._unschedulable.get(uid) == message:
            return
        condition = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                     "message": message, "lastTransitionTime": now_rfc3339()}
        try:
            self.objects.patch(POD, namespace, name,
                               {"status": {"phase": "Pending", "conditions": [condition]}},
                               subresource="status")
        except ApiError as e:
            log.info("marking %s/%s unschedulable: %s", namespace, name, e.message)
            return
        self._unschedulable[uid] = message
        self.events.warning(pod, "FailedScheduling", message)
