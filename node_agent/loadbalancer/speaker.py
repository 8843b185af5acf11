"""Which node announces each LoadBalancer address: one Lease per Service, as kube-vip's
per-service election does, so exactly one healthy node answers ARP for it and another takes it
over within seconds of that node's death.

Every agent runs a `Speaker`. For each LoadBalancer Service of this cluster's class that has an
address (orchestrator/controllers/loadbalancer.py wrote it) and that this node may serve — any
node with externalTrafficPolicy Cluster, only nodes with a ready endpoint of it with Local —
the agent contends for the Lease `orch-lb-<service>` in the Service's namespace (owned by the
Service, so the garbage collector removes it with the Service). The holder renews it every
`retry_period` and answers ARP for the Service's addresses; the others watch it, and take it
when it has not changed for `lease_duration` seconds on their own clock (kube/leaderelection).
A holder that cannot renew for `renew_deadline` stops answering before anyone may take over; a
node that may no longer serve the Service releases the Lease, so another takes it at once.

Pure: `eligible`. I/O: `Speaker`.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from kube.client import Client
from kube.events import EventRecorder
from kube.informer import Informer
from kube.kinds.endpoints import Endpoints
from kube.kinds.service import Service
from kube.leaderelection import Elector
from kube.objects import Object
from kube.typed import typed_all
from node_agent.loadbalancer.arp import ArpResponder
from node_agent.services import ServiceCache

log = logging.getLogger(__name__)

LEASE_PREFIX = "orch-lb-"
# A node with this label never announces (Kubernetes' well-known label, which cloud load
# balancers honour too).
EXCLUDE_LABEL = "node.kubernetes.io/exclude-from-external-load-balancers"
GRATUITOUS_REPEATS = 3  # a takeover is announced this many times, one round apart


@dataclass(frozen=True)
class Announcement:
    namespace: str
    name: str
    uid: str
    addresses: frozenset[str]

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def lease_name(self) -> str:
        return LEASE_PREFIX + self.name


def eligible(services: list[Object], endpoints: list[Object],
             node_name: str) -> dict[str, Announcement]:
    """Pure: the Services whose addresses this node may announce, by namespace/name."""
    local: set[tuple[str, str]] = set()
    for e in typed_all(Endpoints, endpoints):
        if any(a.node_name == node_name for s in e.subsets or () for a in s.addresses or ()):
            local.add((e.metadata.namespace or "", e.metadata.name or ""))
    out = {}
    for s in typed_all(Service, services):
        meta, spec = s.metadata, s.spec
        if spec.type != "LoadBalancer" or spec.load_balancer_class is not None:
            continue
        lb = s.status.load_balancer if s.status else None
        addresses = frozenset(i.ip for i in (lb.ingress if lb else None) or () if i.ip)
        if not addresses:
            continue
        key = (meta.namespace or "", meta.name or "")
        if spec.external_traffic_policy == "Local" and key not in local:
            continue
        a = Announcement(key[0], key[1], meta.uid or "", addresses)
        out[a.key] = a
    return out


class Speaker:
    def __init__(self, client: Client, cache: ServiceCache, node_name: str,
                 responder: ArpResponder, recorder: EventRecorder,
                 lease_duration: float = 3.0, renew_deadline: float = 2.0,
                 retry_period: float = 0.5) -> None:
        assert retry_period < renew_deadline < lease_duration
        self.client, self.cache, self.node_name = client, cache, node_name
        self.responder, self.recorder = responder, recorder
        self.lease_duration, self.renew_deadline = lease_duration, renew_deadline
        self.retry_period = retry_period
        self.stopping = threading.Event()
        self.excluded = False  # this node carries EXCLUDE_LABEL (its informer says)
        self.node = Informer(client, "nodes", field_selector=f"metadata.name={node_name}")
        self.node.add_handler(on_add=self._node_changed,
                              on_update=lambda _old, new: self._node_changed(new))
        self._electors: dict[str, Elector] = {}  # Service key → the election of its Lease
        self._repeats: dict[str, int] = {}  # address → gratuitous announcements still to send

    def start(self) -> None:
        self.node.start()
        threading.Thread(target=self._run, name="lb-speaker", daemon=True).start()

    def _node_changed(self, node: Object) -> None:
        excluded = EXCLUDE_LABEL in (node["metadata"].get("labels") or {})
        if excluded != self.excluded:
            log.warning("node %s %s load balancer addresses (%s)", self.node_name,
                        "no longer announces" if excluded else "announces", EXCLUDE_LABEL)
        self.excluded = excluded

    def stop(self) -> None:
        self.stopping.set()
        self.node.stop()
        for key in list(self._electors):
            self._release(key)
        self.responder.announce(set())

    def _run(self) -> None:
        while not (self.cache.synced.wait(1) and self.node.wait_for_sync(1)):
            if self.stopping.is_set():
                return
        while not self.stopping.is_set():
            try:
                self._round()
            except Exception:  # noqa: BLE001 - keep announcing what can be
                log.exception("load balancer announcement round failed")
            self.stopping.wait(self.retry_period)

    def _round(self) -> None:
        wanted = {} if self.excluded else eligible(self.cache.services(),
                                                   self.cache.endpoints(), self.node_name)
        holding: dict[str, Announcement] = {}
        for key, announcement in wanted.items():
            if self._elect(announcement):
                holding[key] = announcement
        for key in list(self._electors):
            if key not in wanted:
                self._release(key)
        addresses = set().union(*(a.addresses for a in holding.values())) if holding else set()
        for ip in self.responder.announce(addresses):
            self._repeats[ip] = GRATUITOUS_REPEATS - 1
            owner = next(a for a in holding.values() if ip in a.addresses)
            log.warning("announcing %s (%s) from %s", ip, owner.key, self.node_name)
            self.recorder.normal(_reference(owner), "nodeAssigned",
                                 f'announcing from node "{self.node_name}" with protocol '
                                 '"layer2"')
        for ip in list(self._repeats):
            if ip not in addresses or self._repeats[ip] <= 0:
                del self._repeats[ip]
                continue
            self._repeats[ip] -= 1
            self.responder.send_gratuitous(ip)

    def _elect(self, a: Announcement) -> bool:
        """One round of the election for `a`'s Lease: True while this node holds it."""
        elector = self._electors.get(a.key)
        if elector is None:
            elector = self._electors[a.key] = Elector(
                self.client, a.namespace, a.lease_name, self.node_name, self.lease_duration,
                self.renew_deadline, owner={"apiVersion": "v1", "kind": "Service",
                                            "name": a.name, "uid": a.uid})
        return elector.round()

    def _release(self, key: str) -> None:
        """Give the Lease up, so that another node takes it at once."""
        elector = self._electors.pop(key, None)
        if elector is not None:
            elector.release()


def _reference(a: Announcement) -> Object:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"namespace": a.namespace, "name": a.name, "uid": a.uid}}
