"""What runs in the leading master only: the scheduler and the controllers. `ControlPlane`
starts a fresh set of them when this master becomes the leader and stops them when it stops
leading (see leader.py); with leader election off it simply runs them."""

from __future__ import annotations

import logging
import threading

from orchestrator.controllers.loadbalancer import AddressPool

log = logging.getLogger(__name__)


class ControlPlane:
    def __init__(self, objects, scheduler: bool, controllers: bool,
                 node_monitor_grace_period: float, pod_eviction_timeout: float,
                 score_weights: dict[str, float] | None = None,
                 eviction_rates: tuple[float, float] | None = None,
                 job_backoff: float = 10.0, root_ca: str | None = None,
                 local_path_helper_image: str = "orch/web:1",
                 load_balancer_pool: AddressPool | None = None) -> None:
        """`eviction_rates`: (normal, secondary) nodes per second, the node lifecycle
        controller's defaults when None."""
        self.score_weights = score_weights or {}
        self.objects = objects
        self.scheduler, self.controllers = scheduler, controllers
        self.grace, self.eviction = node_monitor_grace_period, pod_eviction_timeout
        self.eviction_rates = eviction_rates
        self.job_backoff = job_backoff
        self.root_ca = root_ca  # the cluster CA's PEM, published in every namespace
        # the image of the pods that make and remove local-path volumes' directories
        self.local_path_helper_image = local_path_helper_image
        # LoadBalancer Services' addresses (none: every one stays pending, saying why)
        self.load_balancer_pool = load_balancer_pool or AddressPool((), "")
        self._running: list = []
        self._lock = threading.Lock()

    def components(self) -> list:
        made: list = []
        if self.scheduler:
            from orchestrator.scheduler.loop import Scheduler

            made.append(Scheduler(self.objects.as_manager("scheduler"),
                                  weights=self.score_weights))
        if self.controllers:
            from orchestrator.controllers.cronjob import CronJobController
            from orchestrator.controllers.daemonset import DaemonSetController
            from orchestrator.controllers.deployment import DeploymentController
            from orchestrator.controllers.disruption import DisruptionController
            from orchestrator.controllers.endpoints import EndpointsController
            from orchestrator.controllers.garbagecollector import GarbageCollector
            from orchestrator.controllers.job import JobController
            from orchestrator.controllers.loadbalancer import LoadBalancerController  # noqa: I001
            from orchestrator.controllers.localpath import LocalPathProvisioner
            from orchestrator.controllers.nodelifecycle import NodeLifecycleController
            from orchestrator.controllers.persistentvolume import PersistentVolumeController
            from orchestrator.controllers.replicaset import ReplicaSetController
            from orchestrator.controllers.replication import ReplicationManager
            from orchestrator.controllers.resourcequota import ResourceQuotaController
            from orchestrator.controllers.serviceaccounts import ServiceAccountsController
            from orchestrator.controllers.statefulset import StatefulSetController

            objects = self.objects.as_manager("controller-manager")  # managedFields
            made += [DeploymentController(objects), ReplicaSetController(objects),
                     EndpointsController(objects), GarbageCollector(objects),
                     NodeLifecycleController(objects, self.grace, self.eviction,
                                             *(self.eviction_rates or ())),
                     JobController(objects, self.job_backoff), CronJobController(objects),
                     DaemonSetController(objects), ReplicationManager(objects),
                     StatefulSetController(objects),
                     ServiceAccountsController(objects, self.root_ca),
                     DisruptionController(objects), PersistentVolumeController(objects),
                     LocalPathProvisioner(objects, self.local_path_helper_image),
                     ResourceQuotaController(objects),
                     LoadBalancerController(objects, self.load_balancer_pool)]
        return made

    def start(self) -> None:
        with self._lock:
            if self._running:
                return
            self._running = self.components()
            for component in self._running:
                component.start()
            log.warning("running: %s", ", ".join(type(c).__name__ for c in self._running))

    def stop(self) -> None:
        with self._lock:
            for component in self._running:
                component.stop()
            if self._running:
                log.warning("stopped the scheduler and controllers")
            self._running = []
