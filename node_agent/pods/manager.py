"""Pods on this node: desired (the API's pods bound here) against observed (docker's containers
with our labels), reconciled by one worker per pod.

Threads:
    pods     an informer on the pods with spec.nodeName == this node; its handlers keep `desired`.
    relist   every RELIST_PERIOD lists docker's labelled containers, and wakes the worker of every
             pod that is desired or has containers. Assumption of this period: a container that
             dies is noticed within RELIST_PERIOD (plus one sync), which bounds restart latency.
    workers  one per pod uid; `sync_pod` is level-triggered and idempotent: it reads the pod and
             its containers afresh and converges; an exception means "retry at the next wake".

Pods are read as typed objects (kube.typed: parsed once per version of the informer's object);
statuses are written as JSON.

Contract with an agent restart: nothing is done to containers until the first list of pods has
succeeded (else every running pod would look orphaned) and the first relist of containers has
too (else a pod's worker, woken by the informer first, would see none of the pod's containers
and start a second sandbox beside the running one); then running containers whose pod is still
desired are adopted as they are, and containers of pods that are gone are removed.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterable
from dataclasses import replace
import threading
import time
from pathlib import Path

from kube.client import ApiError, Client
from kube.informer import Informer
from kube.kinds.configmap import ConfigMap
from kube.kinds.persistentvolume import PersistentVolume
from kube.kinds.persistentvolumeclaim import PersistentVolumeClaim
from kube.kinds.pod import (ConfigMapVolumeSource, Container, DownwardAPIVolumeFile, Pod,
                           ProjectedVolumeSource, SecretVolumeSource,
                           ServiceAccountTokenProjection, VolumeMount)
from kube.kinds.secret import Secret
from kube.kinds.service import Service
from kube.objects import Object
from kube.timestamps import now_rfc3339, parse_time
from kube.typed import Unreadable, metadata_of, typed, typed_all
from node_agent.events import agent_recorder
from node_agent.pods.containers import (PAUSE_IMAGE, container_config, needs_image_user,
                                        non_root_problem, sandbox_config)
from node_agent.pods.envvars import (expand, field_ref_value, from_source, service_env,
                                     volume_field_value)
from node_agent.pods.model import (EVICTED, LABEL_POD_UID, PAUSE, Kill, Observed, Remove, Start,
                                   backoff_seconds, compute_status, ended_by_node_status, latest,
                                   observed_from, plan_pod, pod_ip, stamp_transitions)
from node_agent.pods.sysctls import FORBIDDEN_REASON as SYSCTL_FORBIDDEN
from node_agent.pods.sysctls import forbidden as forbidden_sysctl
from node_agent.pods.probes import (LIVENESS, READINESS, STARTUP, Prober, probed_containers,
                                    run_hook)
from node_agent.pods.images import credentials_for
from node_agent.pods.logfiles import PodLogFiles
from node_agent.pods.volumes import PodVolumes
from node_agent.runtime import (ContainerRuntime, ImageMissing, RuntimeFailure, StartFailed,
                                Unavailable)
from node_agent.runtime.protocol import RegistryCredential
from node_agent.services import ServiceCache

log = logging.getLogger(__name__)

RELIST_PERIOD = 1.0
RESYNC_PERIOD = 10.0
REPEAT_EVENT_PERIOD = 30.0
# How often a pod's sized emptyDirs are measured (kubelet's eviction manager: every 10 s)
LOCAL_STORAGE_CHECK_SECONDS = 5.0
# how often a running pod's configMap, secret, downwardAPI and projected volumes are read again
# and their changes (a renewed token too) written into the mounted directories (kubelet: its
# sync period, a minute, plus its cache's delay)
VOLUME_REFRESH_SECONDS = 10.0
NODE_ENDS = (EVICTED, SYSCTL_FORBIDDEN)  # the reasons of a pod the node ended for good


class PodWorker:
    """Serialises all work on one pod: wakes are coalesced, syncs never overlap."""

    def __init__(self, manager: PodManager, uid: str) -> None:
        self.manager, self.uid = manager, uid
        self.wake = threading.Event()
        self.resync_at: float | None = None
        self.thread = threading.Thread(target=self._run, name=f"pod-{uid[:8]}", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.manager.stopping.is_set():
            timeout = RESYNC_PERIOD
            if self.resync_at is not None:
                timeout = max(0.0, min(timeout, self.resync_at - time.time()))
            self.wake.wait(timeout)
            self.wake.clear()
            try:
                done = self.manager.sync_pod(self)
            except Exception:  # noqa: BLE001 - a worker must survive anything and retry
                log.exception("sync of pod %s failed; retrying", self.uid)
                done = False
                self.resync_at = time.time() + 2
            if done:
                self.manager.forget_worker(self.uid)
                return


class PodManager:
    def __init__(self, client: Client, runtime: ContainerRuntime, volumes: PodVolumes,
                 node_name: str, host_ip: str, backoff_base: float = 10.0,
                 services: ServiceCache | None = None, cluster_dns: str | None = None,
                 cluster_domain: str = "cluster.local",
                 log_files: PodLogFiles | None = None,
                 allowed_unsafe_sysctls: tuple[str, ...] = ()) -> None:
        self.allowed_unsafe_sysctls = allowed_unsafe_sysctls  # beside the safe set
        self.client, self.runtime, self.volumes = client, runtime, volumes
        self.log_files = log_files  # None: no /var/log/pods and /var/log/containers links
        self.cluster_dns, self.cluster_domain = cluster_dns, cluster_domain
        self.services = services  # for the service env vars (None: no service links)
        self.node_name, self.host_ip = node_name, host_ip
        self.backoff_base = backoff_base
        # (pod uid, image) → (failed pulls, not before (monotonic), the last failure's message)
        self._pull_failures: dict[tuple[str, str], tuple[int, float, str]] = {}
        # pod uid → (reason, message) of the pods the node ended (evicted, rejected)
        self._ended: dict[str, tuple[str, str]] = {}
        self.stopping = threading.Event()
        # The pods bound to this node; `desired` follows it (by uid: a pod deleted and created
        # again under its name is another pod).
        self.pods = Informer(client, "pods", field_selector=f"spec.nodeName={node_name}")
        self.pods.add_handler(on_add=self.on_add, on_update=self.on_update,
                              on_delete=self.on_delete)
        self._lock = threading.Lock()  # guards desired, observed, workers, last_status
        self.desired: dict[str, Object] = {}  # uid → the informer's (read-only) object
        self.observed: dict[str, list[Observed]] = {}
        # When a worker last refreshed a pod's containers itself (monotonic): a relist that
        # began before that must not overwrite it with what docker had before the worker acted
        # (that made a worker start the same container, or a second sandbox, twice).
        self._refreshed_at: dict[str, float] = {}
        self.workers: dict[str, PodWorker] = {}
        self.relisted = threading.Event()  # the runtime's containers have been listed once
        # uid -> (the status last written or seen in the API, the pod's resourceVersion then)
        self.last_status: dict[str, tuple[Object, int]] = {}
        self.prober = Prober(on_change=self._wake, exec_in_container=runtime.exec_status)
        self.events = agent_recorder(client, node_name)
        self._reported: dict[tuple[str, str, str], float] = {}  # see _repeated_event
        # uid → (sandboxes the runtime refused in a row, when the next may be tried)
        self._sandbox_backoff: dict[str, tuple[int, float]] = {}
        self._messages: dict[str, str] = {}  # a dead container's termination message, by id
        # (pod uid, volume, path) → (a projected service account token, issued, expires)
        self._tokens: dict[tuple[str, str, str], tuple[str, float, float]] = {}

    # --- threads ---

    @property
    def synced(self) -> bool:
        """The first list of this node's pods is in: an absent pod is now known to be absent."""
        return self.pods.has_synced()

    def start(self) -> None:
        self.pods.start()
        threading.Thread(target=self._relist_loop, name="relist", daemon=True).start()

    def stop(self) -> None:
        self.stopping.set()
        self.pods.stop()

    # --- the pods informer's handlers (its thread; they only record and wake) ---

    def on_add(self, pod: Object) -> None:
        uid = metadata_of(pod).uid or ""
        with self._lock:
            self.desired[uid] = pod
        self._wake(uid)

    def on_update(self, old: Object, pod: Object) -> None:
        if metadata_of(old).uid != metadata_of(pod).uid:
            self.on_delete(old)
        self.on_add(pod)

    def on_delete(self, pod: Object) -> None:
        uid = metadata_of(pod).uid or ""
        with self._lock:
            self.desired.pop(uid, None)
        self._wake(uid)

    def _relist_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                self.relist()
                if self.synced:
                    self._wake_all()
            except RuntimeFailure as e:  # dockerd restarting: keep trying
                log.warning("container relist failed: %s", e)
            self.stopping.wait(RELIST_PERIOD)

    def relist(self) -> None:
        """List the runtime's containers of every pod into `observed` (what a worker refreshed
        itself since the list began is kept)."""
        began = time.monotonic()
        observed = self.list_pod_containers()
        with self._lock:
            for uid, at in list(self._refreshed_at.items()):
                if at > began:
                    if uid in self.observed:
                        observed[uid] = self.observed[uid]
                else:
                    del self._refreshed_at[uid]
            self.observed = observed
        self.relisted.set()

    def _wake_all(self) -> None:
        with self._lock:
            uids = set(self.desired) | set(self.observed)
        for uid in uids:
            self._wake(uid)

    def _wake(self, uid: str) -> None:
        with self._lock:
            worker = self.workers.get(uid)
            if worker is None:
                worker = self.workers[uid] = PodWorker(self, uid)
        worker.wake.set()

    def forget_worker(self, uid: str) -> None:
        with self._lock:
            self.workers.pop(uid, None)
            self.last_status.pop(uid, None)
            self._sandbox_backoff.pop(uid, None)
            for key in [k for k in self._tokens if k[0] == uid]:
                del self._tokens[key]

    # --- the runtime's containers, seen through our labels ---

    def list_pod_containers(self) -> dict[str, list[Observed]]:
        """Every pod container on this node, by pod uid."""
        out: dict[str, list[Observed]] = {}
        for state in self.runtime.list_containers({LABEL_POD_UID: ""}):
            out.setdefault(state.labels[LABEL_POD_UID], []).append(observed_from(state))
        return out

    def list_containers_of(self, uid: str) -> list[Observed]:
        return [observed_from(s) for s in self.runtime.list_containers({LABEL_POD_UID: uid})]

    # --- one pod ---

    def sync_pod(self, worker: PodWorker) -> bool:
        """Converge one pod; True when the pod is gone and so is everything of it."""
        uid = worker.uid
        if not self.relisted.is_set():
            return False  # the relist wakes every worker once it is in
        with self._lock:
            raw = self.desired.get(uid)
            observed = list(self.observed.get(uid, []))
        worker.resync_at = None
        if raw is None:
            self.prober.forget_pod(uid)
            for key in [k for k in self._pull_failures if k[0] == uid]:
                del self._pull_failures[key]
            self._ended.pop(uid, None)
            self._remove_all(observed, grace=0)
            self.volumes.remove_pod_dir(uid)
            if self.log_files is not None:
                self.log_files.remove_pod(uid)
            return True
        try:
            pod = typed(Pod, raw)
        except Unreadable as e:  # not ours to run nor to remove: leave it as it is, and say so
            log.warning("pod %s: %s", uid, e)
            return False
        if pod.metadata.deletion_timestamp:
            self.prober.forget_pod(uid)
            self._terminate(pod, observed)
            return True
        if self._ended_by_node(pod, observed, raw):
            return False

        unhealthy = self._probe(uid, pod, observed, LIVENESS)
        plan = plan_pod(pod, observed, time.time(), self.backoff_base, unhealthy,
                        self._unstarted(pod, observed))
        waiting = dict(plan.waiting)
        pause = latest(observed, PAUSE)
        try:
            for action in plan.actions:
                if isinstance(action, Kill):
                    name = next((o.container for o in observed if o.id == action.id), "")
                    if name in unhealthy:
                        which = "Startup" if self.prober.verdict(action.id, STARTUP) is False \
                            else "Liveness"
                        self.events.warning(pod, "Unhealthy",
                                            f"{which} probe failed: container {name} will be "
                                            "restarted")
                    self.events.normal(pod, "Killing", f"Stopping container {name}")
                    killed = next((o for o in observed if o.id == action.id), None)
                    if killed is not None:
                        self._stop(pod, killed, pod.spec.termination_grace_period_seconds)
                    else:
                        self.runtime.stop(action.id, pod.spec.termination_grace_period_seconds)
                elif isinstance(action, Remove):
                    self.runtime.remove(action.id)
                elif action.container == PAUSE:
                    pause = self._start_sandbox(pod, action.attempt, worker)
                    if pause is None:  # nothing of the pod can run yet
                        break
                else:
                    self._start(pod, action, pause, waiting)
        finally:  # what was done stands even when an action failed: see it before the retry
            if plan.actions:
                refreshed = time.monotonic()
                observed = self.list_containers_of(uid)
                with self._lock:
                    self.observed[uid] = observed
                    self._refreshed_at[uid] = refreshed
        for name, (reason, _message) in waiting.items():
            if reason == "CrashLoopBackOff":
                self._repeated_event(pod, "BackOff",
                                     f"Back-off restarting failed container {name}")
        if any(reason != "CrashLoopBackOff" for reason, _ in waiting.values()):
            worker.resync_at = time.time() + 5  # retry config/image errors
        if plan.resync_at:
            worker.resync_at = min(worker.resync_at or plan.resync_at, plan.resync_at)
        unready = self._probe(uid, pod, observed, READINESS)
        self._write_status(pod, raw, self._with_messages(pod, observed), waiting, unready,
                           self._unstarted(pod, observed))
        if any(o.running and o.container != PAUSE for o in observed) and \
                self._refresh_volumes(pod):
            refresh_at = time.time() + VOLUME_REFRESH_SECONDS
            worker.resync_at = min(worker.resync_at or refresh_at, refresh_at)
        if any(v.empty_dir is not None and v.empty_dir.size_limit is not None
               for v in pod.spec.volumes or ()):  # measured again in a while
            check_at = time.time() + LOCAL_STORAGE_CHECK_SECONDS
            worker.resync_at = min(worker.resync_at or check_at, check_at)
        return False

    def _ended_by_node(self, pod: Pod, observed: list[Observed], raw: Object) -> bool:
        """End the pod for good where the node must, as kubelet does, and True for a pod ended
        now or before (the API's status says so after an agent restart): nothing of it is
        started again, and its controller makes another.
        - rejected at admission (SysctlForbidden: a sysctl the node does not allow): it never
          runs; status "Pod was rejected: …";
        - evicted (an emptyDir over its sizeLimit, as kubelet's eviction manager): its
          containers are stopped at once."""
        uid = pod.metadata.uid or ""
        ended = self._ended.get(uid)
        if ended is None and pod.status.phase == "Failed" and pod.status.reason in NODE_ENDS:
            ended = (pod.status.reason, pod.status.message or pod.status.reason)
        if ended is None:
            names = [s.name for s in pod.spec.security_context.sysctls or ()]
            if names and not any(o.container == PAUSE for o in observed) and \
                    (problem := forbidden_sysctl(names, self.allowed_unsafe_sysctls)):
                ended = (SYSCTL_FORBIDDEN, f"Pod was rejected: {problem}")
                self.events.warning(pod, SYSCTL_FORBIDDEN, problem)
            elif message := self.volumes.empty_dir_over_limit(pod):
                ended = (EVICTED, message)
                self.events.warning(pod, EVICTED, message)
            else:
                return False
            log.warning("pod %s/%s: %s", pod.metadata.namespace, pod.metadata.name, ended[1])
        self._ended[uid] = ended
        self.prober.forget_pod(uid)
        stopped = False
        for o in observed:
            if o.running:
                if o.container != PAUSE:
                    self.events.normal(pod, "Killing", f"Stopping container {o.container}")
                self.runtime.stop(o.id, 0)
                stopped = True
        if stopped:
            observed = self.list_containers_of(uid)
            with self._lock:
                self.observed[uid] = observed
                self._refreshed_at[uid] = time.monotonic()
        self._write_status(pod, raw, self._with_messages(pod, observed), {}, set(),
                           ended=ended)
        return True

    def _start_sandbox(self, pod: Pod, attempt: int, worker: PodWorker) -> Observed | None:
        """Start the pod's sandbox; None when it could not be, or may not be tried again yet.
        A sandbox the runtime refuses (a hostPort another process holds, say) is reported as
        kubelet does (FailedCreatePodSandBox) and tried again after a growing back-off, as a
        crashing container is; the app containers wait as ContainerCreating meanwhile."""
        uid = pod.metadata.uid or ""
        failures, not_before = self._sandbox_backoff.get(uid, (0, 0.0))
        if time.time() < not_before:
            worker.resync_at = not_before
            return None
        try:
            self.runtime.ensure_image(PAUSE_IMAGE, "IfNotPresent")
            started = observed_from(self.runtime.start_sandbox(
                sandbox_config(pod, attempt, self.cluster_dns, self.cluster_domain),
                PAUSE_IMAGE))
        except Unavailable:
            raise
        except RuntimeFailure as e:
            failures += 1
            delay = backoff_seconds(failures, self.backoff_base)
            with self._lock:
                self._sandbox_backoff[uid] = (failures, time.time() + delay)
            worker.resync_at = time.time() + delay
            self._repeated_event(pod, "FailedCreatePodSandBox",
                                 f"Failed to create pod sandbox: {e}")
            return None
        with self._lock:
            self._sandbox_backoff.pop(uid, None)
        return started

    def _with_messages(self, pod: Pod, observed: list[Observed]) -> list[Observed]:
        """The exited containers with their termination messages: the file at their
        terminationMessagePath (its first 4 KiB), or, with FallbackToLogsOnError and none
        written after a failure, their log's last 80 lines (2 KiB at most), as kubelet reads
        them. A dead container's message is read once."""
        specs = {c.name: c for c in (*(pod.spec.init_containers or ()), *pod.spec.containers)}
        out = []
        for o in observed:
            spec = specs.get(o.container)
            if o.running or spec is None:
                out.append(o)
                continue
            with self._lock:
                message = self._messages.get(o.id)
            if message is None:
                try:
                    with open(self.volumes.termination_log(pod, o.container, o.attempt),
                              "rb") as f:
                        message = f.read(4096).decode(errors="replace")
                except OSError:
                    message = ""
                if not message and o.exit_code not in (0, None) and \
                        spec.termination_message_policy == "FallbackToLogsOnError":
                    try:
                        tail = b"".join(self.runtime.logs(o.id, False, 80, None, False))
                        message = tail[-2048:].decode(errors="replace")
                    except RuntimeFailure:
                        message = ""
                with self._lock:
                    if len(self._messages) > 10_000:
                        self._messages.clear()
                    self._messages[o.id] = message
            out.append(replace(o, message=message) if message else o)
        return out

    def _probe(self, uid: str, pod: Pod, observed: list[Observed],
               kind: str) -> set[str]:
        """Keep probing exactly the running containers; the names whose `kind` probe fails."""
        pause = latest(observed, PAUSE)
        running = {o.container: (o.id, o.started_at or time.time()) for o in observed
                   if o.running and o.container != PAUSE
                   and o is latest(observed, o.container)}
        self.prober.ensure(uid, pod, running, pod_ip(pod.spec, pause, self.host_ip))
        failing = {name for name, (cid, _) in running.items()
                   if self.prober.verdict(cid, kind) is False}
        if kind == LIVENESS:  # a failed startup probe restarts the container too
            failing |= {name for name, (cid, _) in running.items()
                        if self.prober.verdict(cid, STARTUP) is False}
        return failing

    def _unstarted(self, pod: Pod, observed: list[Observed]) -> set[str]:
        """Running containers whose startup probe has not succeeded yet."""
        probed = {c.name for c in probed_containers(pod.spec) if c.startup_probe is not None}
        return {o.container for o in observed if o.running and o.container in probed
                and not self.prober.started(o.id)}

    def _start(self, pod: Pod, action: Start, pause: Observed | None,
               waiting: dict[str, tuple[str, str]]) -> None:
        spec = next(c for c in (*(pod.spec.init_containers or ()), *pod.spec.containers)
                    if c.name == action.container)
        try:
            ip = pod_ip(pod.spec, pause, self.host_ip)
            if pause is None or not ip:
                raise StartFailed("ContainerCreating", "the pod sandbox has no IP yet")
            env = self._env(pod, spec, ip)
            prepared = self._prepare_volumes(pod, spec.volume_mounts or ())
            mounts = (*self.volumes.mounts(pod, spec, prepared),
                      self.volumes.termination_mount(pod, spec, action.attempt))
            if self._pull(pod, spec):
                self.events.normal(pod, "Pulled", f'Successfully pulled image "{spec.image}"')
            image_user = (self.runtime.image_user(spec.image) if needs_image_user(pod, spec)
                          else "")
            if problem := non_root_problem(pod, spec, image_user):
                raise StartFailed("CreateContainerConfigError", problem)
            started = self.runtime.start_container(container_config(
                pod, spec, action.attempt, pause.id, env, mounts, image_user))
            self.events.normal(pod, "Started", f"Started container {spec.name}")
            self._link_logs(pod, spec.name, action.attempt, started)
            post_start = spec.lifecycle.post_start if spec.lifecycle else None
            if post_start is not None:  # the container counts as started once it returns
                problem = run_hook(post_start, spec, ip,
                                   lambda cmd, t: self.runtime.exec_status(started, cmd, t),
                                   float(pod.spec.termination_grace_period_seconds or 30))
                if problem:
                    self.events.warning(pod, "FailedPostStartHook",
                                        f"PostStartHook failed: {problem}")
                    self.runtime.stop(started, pod.spec.termination_grace_period_seconds)
                    raise StartFailed("PostStartHookError", problem)
        except StartFailed as e:
            log.warning("pod %s/%s container %s: %s", pod.metadata.namespace,
                        pod.metadata.name, spec.name, e)
            waiting[spec.name] = (e.reason, e.message)
            if e.reason == "ImagePullBackOff":
                self._repeated_event(pod, "BackOff", e.message)
            else:
                self._repeated_event(pod, "Failed", f"{e.reason}: {e.message}")

    def _link_logs(self, pod: Pod, container: str, attempt: int, container_id: str) -> None:
        if self.log_files is None:
            return
        try:
            log_path = self.runtime.inspect(container_id).log_path
        except RuntimeFailure as e:
            log.warning("pod %s/%s container %s: no log path: %s", pod.metadata.namespace,
                        pod.metadata.name, container, e)
            return
        self.log_files.link(pod.metadata.namespace or "", pod.metadata.name or "",
                            pod.metadata.uid or "", container, attempt, container_id, log_path)

    def _pull(self, pod: Pod, spec: Container) -> bool:
        """The image per its pull policy, with the pod's imagePullSecrets; True when pulled.
        A failed pull (ErrImagePull) is not tried again before a doubling back-off has passed
        (kubelet's ImagePullBackOff: from the crash back-off's base, at most 300 s)."""
        key = (pod.metadata.uid or "", spec.image)
        failures, not_before, last = self._pull_failures.get(key, (0, 0.0, ""))
        if failures and time.monotonic() < not_before:
            raise StartFailed("ImagePullBackOff",
                              f'Back-off pulling image "{spec.image}": {last}')
        try:
            pulled = self.runtime.ensure_image(spec.image, spec.image_pull_policy or
                                               "IfNotPresent", self._pull_credentials(pod, spec))
        except ImageMissing as e:
            if e.reason == "ErrImagePull":
                self._pull_failures[key] = (failures + 1, time.monotonic() + backoff_seconds(
                    failures + 1, self.backoff_base), e.message)
            raise
        self._pull_failures.pop(key, None)
        return pulled

    def _pull_credentials(self, pod: Pod, spec: Container) -> list[RegistryCredential]:
        """The credentials of the pod's imagePullSecrets for the image's registry; a Secret
        that cannot be read is skipped with a warning, as kubelet does."""
        secrets = []
        for ref in pod.spec.image_pull_secrets or ():
            try:
                secrets.append(typed(Secret, self.client.get("secrets", ref.name,
                                                             pod.metadata.namespace)))
            except ApiError as e:
                self._repeated_event(pod, "FailedToRetrieveImagePullSecret",
                                     f'Unable to retrieve some image pull secrets ({ref.name}); '
                                     f"attempting to pull the image may not succeed: {e.message}")
        return credentials_for(spec.image, secrets)

    def _repeated_event(self, pod: Pod, reason: str, message: str) -> None:
        """A warning that a waiting pod would repeat at every sync: at most once per
        REPEAT_EVENT_PERIOD per pod, reason and message (the recorder then bumps its count)."""
        key = (pod.metadata.uid or "", reason, message)
        now = time.monotonic()
        if now - self._reported.get(key, -REPEAT_EVENT_PERIOD) < REPEAT_EVENT_PERIOD:
            return
        if len(self._reported) > 10_000:
            self._reported.clear()
        self._reported[key] = now
        self.events.warning(pod, reason, message)

    def _env(self, pod: Pod, spec: Container, pod_ip: str) -> dict[str, str]:
        namespace = pod.metadata.namespace or ""
        env: dict[str, str] = {}
        if self.services is not None:
            # Like kubelet, wait (briefly) for the first list, else a pod started right after
            # an agent restart would miss variables its peers have. The `kubernetes` Service's
            # variables are every pod's (the in-cluster clients read them); the others', with
            # enableServiceLinks, those of the pod's namespace.
            self.services.synced.wait(10)
            linked = list(self.services.services_in(namespace)) \
                if pod.spec.enable_service_links else []
            master = [s for s in self.services.services_in("default")
                      if s["metadata"]["name"] == "kubernetes" and s not in linked]
            env.update(service_env(typed_all(Service, [*linked, *master])))
        for source_ref in spec.env_from or ():
            whole, whole_kind = ((source_ref.config_map_ref, "configmaps")
                                 if source_ref.config_map_ref is not None
                                 else (source_ref.secret_ref, "secrets"))
            assert whole is not None  # the model holds exactly one source
            data = self._env_source(whole_kind, whole.name, namespace, bool(whole.optional))
            made, invalid = from_source(data, source_ref.prefix or "")
            env.update(made)
            if invalid:
                self._repeated_event(pod, "InvalidEnvironmentVariableNames",
                                     f"Keys [{', '.join(invalid)}] from the EnvFrom "
                                     f"{whole_kind[:-1]} {namespace}/{whole.name} were skipped "
                                     "since they are invalid environment variable names.")
        for var in spec.env or ():
            source = var.value_from
            if source is None:
                env[var.name] = expand(var.value or "", env)  # $(VAR): those defined so far
                continue
            if source.field_ref is not None:
                env[var.name] = field_ref_value(pod, source.field_ref.field_path,
                                                self.node_name, pod_ip, self.host_ip)
                continue
            ref, kind = ((source.config_map_key_ref, "configmaps")
                         if source.config_map_key_ref is not None
                         else (source.secret_key_ref, "secrets"))
            assert ref is not None  # the model holds exactly one source
            try:
                obj = self.client.get(kind, ref.name, namespace)
                if kind == "secrets":
                    env[var.name] = base64.b64decode((typed(Secret, obj).data or {})[ref.key]).decode()
                else:
                    env[var.name] = (typed(ConfigMap, obj).data or {})[ref.key]
            except (ApiError, KeyError, Unreadable) as e:
                if ref.optional:
                    continue
                what = "configmap" if kind == "configmaps" else "secret"
                raise StartFailed("CreateContainerConfigError",
                                  f'{what} "{ref.name}" key "{ref.key}": '
                                  f"{'not found' if isinstance(e, KeyError) else e}") from e
        return env

    def _env_source(self, kind: str, name: str, namespace: str,
                    optional: bool) -> dict[str, str]:
        """An envFrom source's keys and values (a Secret's decoded); {} for an absent optional
        one, CreateContainerConfigError for an absent required one."""
        try:
            obj = self.client.get(kind, name, namespace)
            if kind == "secrets":
                return {k: base64.b64decode(v).decode()
                        for k, v in (typed(Secret, obj).data or {}).items()}
            return dict(typed(ConfigMap, obj).data or {})
        except (ApiError, Unreadable, ValueError) as e:
            if optional and (not isinstance(e, ApiError) or e.code == 404):
                return {}
            what = "configmap" if kind == "configmaps" else "secret"
            raise StartFailed("CreateContainerConfigError",
                              f'{what} "{name}": {e}') from e

    def _volume_data(self, kind: str, name: str, namespace: str, volume: str,
                     optional: bool) -> dict[str, bytes] | None:
        """The files a configMap or secret volume holds (key → content); None when the object
        is absent and the volume optional."""
        try:
            obj = self.client.get(kind, name, namespace)
        except ApiError as e:
            if e.code == 404 and optional:
                return None
            raise StartFailed("CreateContainerConfigError",
                              f'{kind[:-1]} "{name}" for volume "{volume}": {e.message}') from e
        if kind == "secrets":
            return {k: base64.b64decode(v) for k, v in (typed(Secret, obj).data or {}).items()}
        config = typed(ConfigMap, obj)
        data = {k: v.encode() for k, v in (config.data or {}).items()}
        data.update({k: base64.b64decode(v) for k, v in (config.binary_data or {}).items()})
        return data

    def _prepare_volumes(self, pod: Pod, mounts: Iterable[VolumeMount],
                         refresh: bool = False) -> dict[str, Path]:
        """Write the configMap, secret, downwardAPI and projected volumes that `mounts` name
        from the API's current objects, each once (when a container starts, and again every
        VOLUME_REFRESH_SECONDS with `refresh`, which leaves the claims' directories alone); a
        projected token is renewed once 80% of its life has passed (_token)."""
        volumes = {v.name: v for v in pod.spec.volumes or ()}
        namespace = pod.metadata.namespace or ""
        prepared: dict[str, Path] = {}
        for mount in mounts:
            volume = volumes[mount.name]
            if mount.name in prepared:
                continue
            if volume.downward_api is not None:
                prepared[mount.name] = self.volumes.write_volume(
                    pod, "downward-api", mount.name,
                    downward_files(pod, volume.downward_api.items or (),
                                   volume.downward_api.default_mode or 0o644))
                continue
            if volume.projected is not None:
                prepared[mount.name] = self.volumes.write_volume(
                    pod, "projected", mount.name, self._projected_files(pod, volume.name,
                                                                        volume.projected))
                continue
            if volume.persistent_volume_claim is not None:
                if refresh:
                    continue
                prepared[mount.name] = self._claimed_directory(
                    pod, mount.name, volume.persistent_volume_claim.claim_name)
                continue
            source: ConfigMapVolumeSource | SecretVolumeSource | None
            if volume.config_map is not None:
                source, kind, name = volume.config_map, "configmaps", volume.config_map.name
            elif volume.secret is not None:
                source, kind, name = volume.secret, "secrets", volume.secret.secret_name
            else:
                continue
            if mount.name in prepared:
                continue
            optional = bool(source.optional)
            data = self._volume_data(kind, name, namespace, mount.name, optional) or {}
            mode = source.default_mode if source.default_mode is not None else 0o644
            files: dict[str, tuple[bytes, int]] = {}
            for key, path, item_mode in ([(i.key, i.path, i.mode) for i in source.items]
                                         if source.items else [(k, k, None) for k in data]):
                if key not in data:
                    if optional:
                        continue
                    raise StartFailed("CreateContainerConfigError",
                                      f'{kind[:-1]} "{name}" has no key "{key}"')
                files[path] = (data[key], item_mode or mode)
            prepared[mount.name] = self.volumes.write_volume(pod, kind, mount.name, files)
        return prepared

    def _refresh_volumes(self, pod: Pod) -> bool:
        """Write what changed in the objects behind the running pod's configMap, secret,
        downwardAPI and projected volumes into their directories, as kubelet does: a file
        mounted whole sees the change, a subPath mount keeps what it was started with (its
        bind mount holds the old file). An object that is gone or unreadable now leaves the
        volume as it is. A projected token due for renewal is renewed here. True when the
        pod has such volumes (to be read again later)."""
        if not any(v.config_map or v.secret or v.downward_api or v.projected
                   for v in pod.spec.volumes or ()):
            return False
        mounts = {m.name: m for c in pod.spec.containers for m in c.volume_mounts or ()}
        for mount in mounts.values():  # each volume once, however many containers mount it
            try:
                self._prepare_volumes(pod, [mount], refresh=True)
            except StartFailed as e:
                log.info("pod %s/%s: volume %s not refreshed: %s", pod.metadata.namespace,
                         pod.metadata.name, mount.name, e)
        return True

    def _claimed_directory(self, pod: Pod, volume: str, claim_name: str) -> Path:
        """The directory on this node that the claim's bound volume is; StartFailed (the
        container waits, ContainerCreating) while the claim is missing or not bound."""
        namespace = pod.metadata.namespace or ""

        def waiting(why: str) -> StartFailed:
            return StartFailed("ContainerCreating", f"Unable to attach or mount volumes: "
                               f"volume {volume!r}: {why}")
        try:
            claim = typed(PersistentVolumeClaim, self.client.get(
                "persistentvolumeclaims", claim_name, namespace))
        except ApiError as e:
            raise waiting(e.message) from e
        if claim.status.phase != "Bound" or not claim.spec.volume_name:
            raise waiting(f'persistentvolumeclaim "{claim_name}" is not bound')
        try:
            bound = typed(PersistentVolume, self.client.get(
                "persistentvolumes", claim.spec.volume_name, None))
        except ApiError as e:
            raise waiting(e.message) from e
        ref = bound.spec.claim_ref
        if ref is None or ref.uid != claim.metadata.uid:
            raise waiting(f'persistentvolume "{bound.metadata.name}" is not bound to '
                          f'persistentvolumeclaim "{claim_name}"')
        return self.volumes.persistent_volume_directory(pod, bound)

    def _projected_files(self, pod: Pod, volume: str,
                         projected: ProjectedVolumeSource) -> dict[str, tuple[bytes, int]]:
        """A projected volume's files: each source's, in one directory (a token bound to the
        pod, requested from the API as the pod's service account)."""
        namespace, mode = pod.metadata.namespace or "", projected.default_mode or 0o644
        files: dict[str, tuple[bytes, int]] = {}
        for source in projected.sources or ():
            if source.service_account_token is not None:
                token = self._token(pod, volume, source.service_account_token)
                files[source.service_account_token.path] = (token.encode(), mode)
            elif source.downward_api is not None:
                files.update(downward_files(pod, source.downward_api.items or (), mode))
            else:
                ref = source.config_map or source.secret
                assert ref is not None  # the model holds exactly one source
                kind = "configmaps" if source.config_map is not None else "secrets"
                data = self._volume_data(kind, ref.name, namespace, volume,
                                         bool(ref.optional)) or {}
                for key, path, item_mode in ([(i.key, i.path, i.mode) for i in ref.items]
                                             if ref.items else [(k, k, None) for k in data]):
                    if key not in data:
                        if ref.optional:
                            continue
                        raise StartFailed("CreateContainerConfigError",
                                          f'{kind[:-1]} "{ref.name}" has no key "{key}"')
                    files[path] = (data[key], item_mode or mode)
        return files

    def _token(self, pod: Pod, volume: str, projection: ServiceAccountTokenProjection) -> str:
        """A token for the pod's service account bound to the pod (TokenRequest), kept until
        80% of its life has passed, as kubelet renews them."""
        key = (pod.metadata.uid or "", volume, projection.path)
        now = time.time()
        with self._lock:
            held = self._tokens.get(key)
        if held is not None and now < held[1] + 0.8 * (held[2] - held[1]):
            return held[0]
        spec: Object = {"expirationSeconds": projection.expiration_seconds,
                        "boundObjectRef": {"kind": "Pod", "apiVersion": "v1",
                                           "name": pod.metadata.name, "uid": pod.metadata.uid}}
        if projection.audience:
            spec["audiences"] = [projection.audience]
        try:
            answer = self.client.create_subresource(
                "serviceaccounts", pod.spec.service_account_name or "default", "token",
                {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                 "spec": spec}, pod.metadata.namespace)
        except ApiError as e:
            raise StartFailed("CreateContainerConfigError",
                              f"service account token: {e.message}") from e
        status = answer.get("status") or {}
        expires = parse_time(status.get("expirationTimestamp"))
        token = status.get("token") or ""
        with self._lock:
            self._tokens[key] = (token, now, expires.timestamp() if expires else
                                 now + projection.expiration_seconds)
        return token

    def _terminate(self, pod: Pod, observed: list[Observed]) -> None:
        """Graceful deletion: SIGTERM the app containers, SIGKILL after the grace period, then
        the sandbox; then release the pod object (delete with grace 0). The containers are
        listed afresh from the runtime first: the object is released only once the runtime has
        confirmed that nothing of the pod is left (after an agent or host restart the cached
        list may not have caught up yet)."""
        uid = pod.metadata.uid or ""
        observed = self.list_containers_of(uid)
        grace = pod.metadata.deletion_grace_period_seconds
        if grace is None:
            grace = pod.spec.termination_grace_period_seconds
        # as kubelet: the app's containers together, then the sidecars, the last declared first,
        # each within what is left of the grace period
        order = [c.name for c in pod.spec.init_containers or () if c.is_sidecar][::-1]
        running = [o for o in observed if o.container != PAUSE and o.running]
        apps = [o for o in running if o.container not in order]
        sidecars = sorted((o for o in running if o.container in order),
                          key=lambda o: order.index(o.container))
        began = time.monotonic()
        for o in (*apps, *sidecars):
            self.events.normal(pod, "Killing", f"Stopping container {o.container}")
        threads = [threading.Thread(target=self._stop, args=(pod, o, grace)) for o in apps]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for o in sidecars:
            self._stop(pod, o, max(grace - int(time.monotonic() - began), 2))
        self._remove_all(observed, grace=0)
        self.volumes.remove_pod_dir(uid)
        if self.log_files is not None:
            self.log_files.remove_pod(uid)
        try:
            self.client.delete("pods", pod.metadata.name or "", pod.metadata.namespace,
                               grace_period_seconds=0)
        except ApiError as e:
            if e.code != 404:
                raise

    def _stop(self, pod: Pod, container: Observed, grace: int) -> None:
        """Stop a running container as kubelet does: its preStop hook first, within the grace
        period, then SIGTERM, and SIGKILL when what is left of the period has passed."""
        spec = next((c for c in probed_containers(pod.spec) if c.name == container.container),
                    None)
        pre_stop = spec.lifecycle.pre_stop if spec and spec.lifecycle else None
        began = time.monotonic()
        if spec is not None and pre_stop is not None and grace > 0:
            ip = pod.status.pod_ip or ""
            problem = run_hook(pre_stop, spec, ip,
                               lambda cmd, t: self.runtime.exec_status(container.id, cmd, t),
                               float(grace))
            if problem:
                self.events.warning(pod, "FailedPreStopHook", f"PreStopHook failed: {problem}")
        left = grace - int(time.monotonic() - began)
        # kubelet leaves SIGTERM at least 2 s after a preStop hook, a whole period without one
        self.runtime.stop(container.id, max(left, 2) if pre_stop is not None else grace)

    def _remove_all(self, observed: list[Observed], grace: int) -> None:
        for o in sorted(observed, key=lambda o: o.container == PAUSE):  # pause last
            if o.running:
                self.runtime.stop(o.id, grace)
            self.runtime.remove(o.id)

    def _write_status(self, pod: Pod, raw: Object, observed: list[Observed],
                      waiting: dict[str, tuple[str, str]], unready: set[str],
                      unstarted: frozenset[str] | set[str] = frozenset(),
                      ended: tuple[str, str] | None = None) -> None:
        """Write the pod's status unless the API's copy (`raw`, as JSON) already says it.
        `ended`: the node ended the pod, with that (reason, message)."""
        uid = pod.metadata.uid or ""
        start_time = pod.status.start_time or now_rfc3339()
        computed = compute_status(pod, observed, waiting, self.host_ip, start_time, unready,
                                  unstarted)
        if ended is not None:
            computed = ended_by_node_status(computed, *ended)
        status = stamp_transitions(computed, raw.get("status"), now_rfc3339())
        if (raw.get("status") or {}) == status:
            with self._lock:
                self.last_status[uid] = (status, _revision(raw))
            return
        with self._lock:
            written = self.last_status.get(uid)
        if written is not None and written[0] == status and _revision(raw) <= written[1]:
            return  # our last write is not in this copy of the pod yet
        # Otherwise the API's status differs from ours and is not older than our last write:
        # someone else changed it (the node lifecycle controller marks the pods of a node it
        # thought lost not Ready), and this node's view is put back, as the kubelet's status
        # manager reconciles against the API's copy.
        try:
            updated = self.client.update(
                "pods", {"apiVersion": "v1", "kind": "Pod",
                         "metadata": {"name": pod.metadata.name,
                                      "namespace": pod.metadata.namespace},
                         "status": status}, subresource="status")
        except ApiError as e:
            if e.code == 404:
                return
            raise
        with self._lock:
            self.last_status[uid] = (status, _revision(updated))


def downward_files(pod: Pod, items: Iterable[DownwardAPIVolumeFile],
                   mode: int) -> dict[str, tuple[bytes, int]]:
    """A downwardAPI volume's (or projection's) files, from the pod's fields."""
    return {item.path: (volume_field_value(pod, item.field_ref.field_path).encode(),
                        item.mode if item.mode is not None else mode)
            for item in items if item.field_ref is not None}


def _revision(obj: Object) -> int:
    """An object's resourceVersion as a number (an etcd revision), 0 when absent."""
    try:
        return int((obj.get("metadata") or {}).get("resourceVersion") or 0)
    except (TypeError, ValueError):
        return 0
