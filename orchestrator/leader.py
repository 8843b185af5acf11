"""Leader election among masters, on a Lease object (kube-system/orchestrator-controlplane), as
Kubernetes' client-go leaderelection does.

Every master serves the API; only the leader runs the scheduler and the controllers. A candidate
takes the Lease when it is absent or when its holder has not renewed it for `lease_duration`
seconds *as observed by this candidate* (its own monotonic clock from the moment it last saw the
Lease change: hosts' clocks need not agree). The leader renews every `retry_period`; if it cannot
renew for `renew_deadline` (< lease_duration) it stops leading before anyone else may take over.
Every write is a compare-and-swap on the Lease's resourceVersion, so two candidates never both
win one round. Binding a pod is itself a compare-and-swap, so even a leader that lost its lease
without knowing cannot bind a pod twice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from kube.leaderelection import Seen, decide
from kube.registry import by_kind
from kube.timestamps import now_rfc3339_micro
from orchestrator.api.status import ApiError
from orchestrator.store import StoreError

log = logging.getLogger(__name__)

LEASE = by_kind("coordination.k8s.io/v1", "Lease")
NAMESPACE, NAME = "kube-system", "orchestrator-controlplane"



class LeaderElector:
    def __init__(self, objects, identity: str, on_started: Callable[[], None],
                 on_stopped: Callable[[], None], lease_duration: float = 4.0,
                 renew_deadline: float = 3.0, retry_period: float = 0.5) -> None:
        assert retry_period < renew_deadline < lease_duration
        self.objects, self.identity = objects, identity
        self.on_started, self.on_stopped = on_started, on_stopped
        self.lease_duration, self.renew_deadline = lease_duration, renew_deadline
        self.retry_period = retry_period
        self.stopping = threading.Event()
        self.leading = False
        self._seen: Seen | None = None
        self._renewed_at = 0.0

    def start(self) -> None:
        threading.Thread(target=self._run, name="leader-election", daemon=True).start()

    def stop(self) -> None:
        """Stop, and release the Lease if held, so that another master takes over at once."""
        self.stopping.set()
        if self.leading:
            self._step_down()
            try:
                lease = self.objects.get(LEASE, NAMESPACE, NAME)
                if lease["spec"].get("holderIdentity") == self.identity:
                    lease["spec"]["holderIdentity"] = None
                    self.objects.update(LEASE, NAMESPACE, NAME, lease)
            except (ApiError, StoreError) as e:
                log.info("releasing the leader lease: %s", e)

    def _run(self) -> None:
        while not self.stopping.is_set():
            try:
                self._round()
            except (ApiError, StoreError) as e:
                log.info("leader election: %s", e)
            except Exception:  # noqa: BLE001 - keep electing
                log.exception("leader election round failed")
            if self.leading and time.monotonic() - self._renewed_at > self.renew_deadline:
                log.warning("%s could not renew the leader lease for %.1f s: stepping down",
                            self.identity, self.renew_deadline)
                self._step_down()
            self.stopping.wait(self.retry_period)

    def _round(self) -> None:
        now = time.monotonic()
        try:
            lease = self.objects.get(LEASE, NAMESPACE, NAME)
        except ApiError as e:
            if e.code != 404:
                raise
            lease = None
        if lease is not None and (self._seen is None or
                                  self._seen.version != lease["metadata"]["resourceVersion"]):
            verdict = decide(lease, self.identity, None, now, self.lease_duration)
            self._seen = Seen(lease["metadata"]["resourceVersion"], now)
        else:
            verdict = decide(lease, self.identity, self._seen, now, self.lease_duration)
        if verdict == "wait":
            if self.leading:  # someone else holds it now
                self._step_down()
            return
        stamp = now_rfc3339_micro()
        spec = {"holderIdentity": self.identity,
                "leaseDurationSeconds": int(self.lease_duration + 0.999), "renewTime": stamp}
        if verdict == "create":
            body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": NAME, "namespace": NAMESPACE},
                    "spec": {**spec, "acquireTime": stamp, "leaseTransitions": 0}}
            written = self._write(lambda: self.objects.create(LEASE, NAMESPACE, body))
        else:
            new = dict(lease)
            new["spec"] = {**(lease.get("spec") or {}), **spec}
            if verdict == "take":
                new["spec"]["acquireTime"] = stamp
                new["spec"]["leaseTransitions"] = (lease["spec"].get("leaseTransitions") or 0) + 1
            written = self._write(lambda: self.objects.update(LEASE, NAMESPACE, NAME, new))
        if written is None:
            return
        self._seen = Seen(written["metadata"]["resourceVersion"], now)
        self._renewed_at = now
        if not self.leading:
            log.warning("%s is now the leader (%s)", self.identity,
                        "took over an expired lease" if verdict == "take" else verdict)
            self.leading = True
            self.on_started()

    def _write(self, action) -> dict | None:
        try:
            return action()
        except ApiError as e:
            if e.code in (409,):  # another candidate won this round
                return None
            raise

    def _step_down(self) -> None:
        if self.leading:
            self.leading = False
            self.on_stopped()
