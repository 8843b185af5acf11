"""The `kubernetes` Service in `default`: how pods reach the API (the official clients'
in-cluster configuration reads KUBERNETES_SERVICE_HOST and _PORT, which its ClusterIP and port
become). Every master keeps it, as kube-apiserver's lease endpoint reconciler does: each renews
a Lease of its own in kube-system (label apiserver.kubernetes.io/identity=kube-apiserver,
holderIdentity its advertised address), and writes the Service's Endpoints as the addresses
of the Leases that are live, so a master that stops drops out within LEASE_SECONDS."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from kube.objects import Object
from kube.registry import by_kind
from kube.timestamps import now_rfc3339, parse_time
from orchestrator.api.objects import Objects
from orchestrator.api.status import ApiError
from orchestrator.store import StoreError

log = logging.getLogger(__name__)

SVC, EP, LEASE = by_kind("v1", "Service"), by_kind("v1", "Endpoints"), \
    by_kind("coordination.k8s.io/v1", "Lease")
SERVICE_IP = "10.96.0.1"  # the first address of the service range, kept for this Service
IDENTITY_LABEL = "apiserver.kubernetes.io/identity"
LEASE_SECONDS = 15
RENEW_SECONDS = 5.0


class MasterServiceReconciler:
    def __init__(self, objects: Objects, address: str, port: int) -> None:
        self.objects, self.address, self.port = objects, address, port
        self.stopping = threading.Event()

    def start(self) -> None:
        threading.Thread(target=self._loop, name="master-service", daemon=True).start()

    def stop(self) -> None:
        self.stopping.set()

    def _loop(self) -> None:
        while not self.stopping.is_set():
            try:
                self.reconcile()
            except (ApiError, StoreError) as e:
                log.warning("the kubernetes Service: %s", e)
            self.stopping.wait(RENEW_SECONDS)

    def reconcile(self) -> None:
        self._renew()
        self._ensure_service()
        live = sorted(self._live_addresses())
        subsets: list[Object] = [{"addresses": [{"ip": ip} for ip in live],
                                  "ports": [{"name": "https", "port": self.port,
                                             "protocol": "TCP"}]}] if live else []
        try:
            current = self.objects.get(EP, "default", "kubernetes")
        except ApiError as e:
            if e.code != 404:
                raise
            self.objects.create(EP, "default", {
                "apiVersion": "v1", "kind": "Endpoints",
                "metadata": {"name": "kubernetes", "namespace": "default"},
                "subsets": subsets})
            return
        if (current.get("subsets") or []) != subsets:
            self.objects.update(EP, "default", "kubernetes", {**current, "subsets": subsets})

    def _lease_name(self) -> str:
        return "kube-apiserver-" + self.address.replace(".", "-").replace(":", "-")

    def _renew(self) -> None:
        spec = {"holderIdentity": self.address, "leaseDurationSeconds": LEASE_SECONDS,
                "renewTime": now_rfc3339()}
        name = self._lease_name()
        try:
            self.objects.patch(LEASE, "kube-system", name, {"spec": spec})
        except ApiError as e:
            if e.code != 404:
                raise
            self.objects.create(LEASE, "kube-system", {
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": name, "namespace": "kube-system",
                             "labels": {IDENTITY_LABEL: "kube-apiserver"}},
                "spec": spec})

    def _live_addresses(self) -> set[str]:
        items, _ = self.objects.store.list("leases", "kube-system")
        now = parse_time(now_rfc3339())
        out = set()
        for lease in items:
            if (lease["metadata"].get("labels") or {}).get(IDENTITY_LABEL) != "kube-apiserver":
                continue
            spec = lease.get("spec") or {}
            renewed = parse_time(spec.get("renewTime"))
            if renewed and now and renewed + timedelta(
                    seconds=spec.get("leaseDurationSeconds") or LEASE_SECONDS) >= now:
                out.add(spec.get("holderIdentity") or "")
        return out - {""}

    def _ensure_service(self) -> None:
        try:
            self.objects.get(SVC, "default", "kubernetes")
            return
        except ApiError as e:
            if e.code != 404:
                raise
        try:
            self.objects.create(SVC, "default", {
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "kubernetes", "namespace": "default",
                             "labels": {"component": "apiserver", "provider": "kubernetes"}},
                "spec": {"type": "ClusterIP", "clusterIP": SERVICE_IP,
                         "ports": [{"name": "https", "port": 443, "targetPort": self.port,
                                    "protocol": "TCP"}]}})
        except ApiError as e:
            if e.code != 409:
                raise
