"""Job controller: runs a Job's pods to completion, as Kubernetes' job controller does.

Counting is exact across restarts of this controller: every pod of a Job carries the
`batch.kubernetes.io/job-tracking` finalizer until it is counted. A finished pod is first
recorded in `status.uncountedTerminatedPods` (with its completion index), then its finalizer
is removed, then it moves into `succeeded` or `failed`; a pod that is deleted before it
finished counts as failed. So a pod is counted once, even if it is deleted as soon as it
ends, or the master dies between two of those writes.

Pure part (module functions): a pod's outcome, the podFailurePolicy's verdict, completion
indexes and their text form, how many pods to run and which indexes, and the terminal
conditions. `JobController.sync` reads the Job and a fresh list of the namespace's pods and
converges. ttlSecondsAfterFinished is honoured here too (Kubernetes has a separate TTL
controller; it only ever deletes finished Jobs).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from kube.conditions import ready
from kube.events import EventRecorder
from kube.kinds.job import (COMPLETION_INDEX, TRACKING_FINALIZER, Job, PodFailurePolicyRule)
from kube.kinds.pod import Pod
from kube.objects import Object
from kube.ownership import controller_reference, controller_uid_of
from kube.registry import by_kind
from kube.timestamps import now_rfc3339, parse_time
from kube.typed import typed, typed_all
from orchestrator.api.objects import Objects
from orchestrator.api.status import ApiError
from orchestrator.controllers.claims import claim_pods
from orchestrator.controllers.base import (Controller, Keys, controller_keys, object_key,
                                           slow_start)
from orchestrator.controllers.replicaset import deletion_rank

JOB, POD = by_kind("batch/v1", "Job"), by_kind("v1", "Pod")
BACKOFF_MAX = 600.0  # Kubernetes' MaxJobPodFailureBackOff


# --- pure -------------------------------------------------------------------------------------

def outcome(pod: Pod, job: Job) -> str | None:
    """"succeeded", "failed" or None (still running). A pod deleted before it finished is a
    failure (it never gets the chance to report one), unless the Job waits for such pods to be
    gone (podReplacementPolicy Failed)."""
    phase = pod.status.phase
    if phase == "Succeeded":
        return "succeeded"
    if phase == "Failed":
        return "failed"
    if pod.metadata.deletion_timestamp and job.spec.pod_replacement_policy != "Failed":
        return "failed"
    return None


def index_of(pod: Pod) -> int | None:
    value = (pod.metadata.annotations or {}).get(COMPLETION_INDEX)
    return int(value) if value is not None and value.isdigit() else None


def parse_indexes(text: str | None) -> set[int]:
    """"0-2,5" → {0, 1, 2, 5} (status.completedIndexes)."""
    out: set[int] = set()
    for part in (text or "").split(","):
        if not part:
            continue
        low, _, high = part.partition("-")
        out.update(range(int(low), int(high or low) + 1))
    return out


def format_indexes(indexes: Iterable[int]) -> str:
    """{0, 1, 2, 5} → "0-2,5": ascending intervals, as Kubernetes writes completedIndexes."""
    runs: list[list[int]] = []
    for i in sorted(set(indexes)):
        if runs and runs[-1][1] == i - 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return ",".join(f"{a}" if a == b else f"{a}-{b}" for a, b in runs)


def _rule_matches(rule: PodFailurePolicyRule, pod: Pod) -> str | None:
    """The container (or condition) the rule matched, or None."""
    if rule.on_exit_codes is not None:
        req = rule.on_exit_codes
        for status in pod.status.container_statuses or ():
            if req.container_name and status.name != req.container_name:
                continue
            terminated = status.state.terminated if status.state else None
            if terminated is None or terminated.exit_code == 0:
                continue
            inside = terminated.exit_code in req.values
            if inside == (req.operator == "In"):
                return f"Container {status.name} for pod {pod.metadata.namespace}/" \
                       f"{pod.metadata.name} failed with exit code {terminated.exit_code}"
        return None
    for pattern in rule.on_pod_conditions or ():
        for cond in pod.status.conditions or ():
            if cond.type == pattern.type and cond.status == pattern.status:
                return f"Pod {pod.metadata.namespace}/{pod.metadata.name} has condition " \
                       f"{cond.type}"
    return None


def failure_verdict(job: Job, pod: Pod) -> tuple[str, str]:
    """What the podFailurePolicy says of a failed pod: ("Count" | "Ignore" | "FailJob",
    why); Count when there is no policy or no rule matches."""
    policy = job.spec.pod_failure_policy
    for i, rule in enumerate(policy.rules if policy else ()):
        matched = _rule_matches(rule, pod)
        if matched:
            return rule.action, f"{matched} matching {rule.action} rule at index {i}"
    return "Count", ""


def backoff_delay(failures_since_success: int, base: float) -> float:
    """Seconds before a failed Job makes its next pod: base·2^(n-1), at most BACKOFF_MAX."""
    if failures_since_success <= 0:
        return 0.0
    return float(min(base * 2 ** (failures_since_success - 1), BACKOFF_MAX))


def wanted_active(job: Job, succeeded: int, completed: set[int]) -> int:
    """How many pods should run now: parallelism, within what is left to do."""
    spec = job.spec
    parallelism = spec.parallelism or 0
    if spec.completion_mode == "Indexed":
        return min(parallelism, (spec.completions or 0) - len(completed))
    if spec.completions is None:  # a work queue: once one pod succeeded, no new pods
        return parallelism if succeeded == 0 else 0
    return max(0, min(parallelism, spec.completions - succeeded))


def complete(job: Job, succeeded: int, completed: set[int], active: int) -> bool:
    spec = job.spec
    if spec.completion_mode == "Indexed":
        return len(completed) >= (spec.completions or 0)
    if spec.completions is None:
        return succeeded > 0 and active == 0
    return succeeded >= spec.completions


def finished_condition(job: Job) -> Object | None:
    for c in job.status.conditions or ():
        if c.type in ("Complete", "Failed") and c.status == "True":
            return c.to_dict()
    return None


COMPLETION_INDEX_ENV = "JOB_COMPLETION_INDEX"


def pod_for_index(job: Job, index: int | None) -> Object:
    """A new pod of the Job (JSON, to create), with its index where the Job is Indexed (an
    annotation and a label, a hostname `<job>-<index>`, and in every container the variable
    JOB_COMPLETION_INDEX from that annotation, as Kubernetes gives them)."""
    template = job.spec.template.to_dict()
    metadata = template.get("metadata") or {}
    name = job.metadata.name
    metadata.pop("name", None)
    metadata.update(generateName=f"{name}-" if index is None else f"{name}-{index}-",
                    ownerReferences=[controller_reference(job)],
                    finalizers=[*metadata.get("finalizers", ()), TRACKING_FINALIZER])
    spec = template["spec"]
    if index is not None:
        metadata.setdefault("annotations", {})[COMPLETION_INDEX] = str(index)
        metadata.setdefault("labels", {})[COMPLETION_INDEX] = str(index)
        spec.setdefault("hostname", f"{name}-{index}")
        for container in (*spec.get("initContainers", ()), *spec.get("containers", ())):
            env = container.setdefault("env", [])
            if not any(e.get("name") == COMPLETION_INDEX_ENV for e in env):
                env.append({"name": COMPLETION_INDEX_ENV, "valueFrom": {"fieldRef": {
                    "fieldPath": f"metadata.annotations['{COMPLETION_INDEX}']"}}})
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


def _condition(kind: str, reason: str, message: str, now: str) -> Object:
    return {"type": kind, "status": "True", "reason": reason, "message": message,
            "lastProbeTime": now, "lastTransitionTime": now}


# --- the controller ---------------------------------------------------------------------------

@dataclass
class _Backoff:
    failures_since_success: int = 0
    last_failure: float = 0.0


class JobController(Controller):
    name = "job"

    def __init__(self, objects: Objects, backoff_base: float = 10.0) -> None:
        super().__init__(objects)
        self.events = EventRecorder(objects, "job-controller")
        self.backoff_base = backoff_base
        self._backoff: dict[str, _Backoff] = {}  # by Job uid
        self._lock = threading.Lock()

    def triggers(self) -> dict[str, Keys]:
        return {"jobs": lambda e: [object_key(e.object)],
                "pods": controller_keys(self.store, "jobs")}

    def all_keys(self) -> list[str]:
        return [object_key(j) for j in self.store.cached("jobs")[0]]

    def sync(self, key: str) -> None:
        namespace, name = key.split("/", 1)
        stored = self.get_or_none(JOB, namespace, name)
        if stored is None:
            return
        job = typed(Job, stored)
        uid = job.metadata.uid or ""
        listed = typed_all(Pod, self.store.list("pods", namespace)[0])
        pods = [p for p in listed if controller_uid_of(p.metadata) == uid]
        if job.metadata.deletion_timestamp or finished_condition(job) is not None:
            # nothing more to count: let go of every pod (the collector deletes them after
            # the Job); a finished Job goes when its TTL has passed
            self._release(p for p in pods if TRACKING_FINALIZER in (p.metadata.finalizers or ()))
            if not job.metadata.deletion_timestamp:
                self._expire(job)
            with self._lock:
                self._backoff.pop(uid, None)
            return
        if job.spec.selector is not None:
            # orphans the selector matches (a manual selector's, or those of a Job deleted
            # with --cascade=orphan and made again) are adopted with the tracking finalizer,
            # so their outcome is counted here, as in Kubernetes
            pods = claim_pods(self.objects, job, job.spec.selector,
                              finalizers=(TRACKING_FINALIZER,), pods=listed)
        now = datetime.now(timezone.utc)
        stored, job, fail = self._count(stored, job, pods, now)
        self._converge(stored, job, pods, now, fail)

    # --- counting finished pods -----------------------------------------------------------

    def _count(self, stored: Object, job: Job, pods: list[Pod], now: datetime
               ) -> tuple[Object, Job, tuple[str, str] | None]:
        """Move finished pods into the counters (the three steps of the module's docstring);
        the Job as stored after it, and the podFailurePolicy's FailJob verdict, if any."""
        uncounted = job.status.uncounted_terminated_pods
        seen_ok = set((uncounted.succeeded if uncounted else None) or ())
        seen_failed = set((uncounted.failed if uncounted else None) or ())
        completed = parse_indexes(job.status.completed_indexes)
        fail: tuple[str, str] | None = None
        finished, new_ok, new_failed, ignored = [], [], [], []
        for pod in pods:
            if TRACKING_FINALIZER not in (pod.metadata.finalizers or ()):
                continue
            result = outcome(pod, job)
            if result is None:
                continue
            finished.append(pod)
            pod_uid = pod.metadata.uid or ""
            if pod_uid in seen_ok or pod_uid in seen_failed:
                continue
            if result == "succeeded":
                new_ok.append(pod_uid)
                index = index_of(pod)
                if index is not None and index < (job.spec.completions or 0):
                    completed.add(index)
                continue
            verdict, why = failure_verdict(job, pod)
            if verdict == "Ignore":
                ignored.append(pod)
                continue
            new_failed.append(pod_uid)
            if verdict == "FailJob" and fail is None:
                fail = ("PodFailurePolicy", why)
        self._note_backoff(job, len(new_ok), [p for p in pods if p.metadata.uid in new_failed])
        status = dict(stored.get("status") or {})
        if new_ok or new_failed:  # step 1: recorded as seen, not yet counted
            status["uncountedTerminatedPods"] = {
                k: v for k, v in (("succeeded", sorted(seen_ok | set(new_ok))),
                                  ("failed", sorted(seen_failed | set(new_failed)))) if v}
            if completed:
                status["completedIndexes"] = format_indexes(completed)
            stored = self._write_status(stored, status)
        if finished:  # step 2: let go of them
            self._release(finished)
        all_ok, all_failed = seen_ok | set(new_ok), seen_failed | set(new_failed)
        if all_ok or all_failed:  # step 3: counted
            status = dict(stored.get("status") or {})
            status["succeeded"] = (status.get("succeeded") or 0) + len(all_ok)
            status["failed"] = (status.get("failed") or 0) + len(all_failed)
            status.pop("uncountedTerminatedPods", None)
            stored = self._write_status(stored, status)
        return stored, typed(Job, stored), fail

    def _note_backoff(self, job: Job, succeeded: int, failed: list[Pod]) -> None:
        with self._lock:
            record = self._backoff.setdefault(job.metadata.uid or "", _Backoff())
            if succeeded:
                record.failures_since_success = 0
            if failed:
                record.failures_since_success += len(failed)
                record.last_failure = datetime.now(timezone.utc).timestamp()

    def _release(self, pods: Iterable[Pod]) -> None:
        """Remove the tracking finalizer (a pod that is gone meanwhile is released too)."""
        for pod in pods:
            kept = [f for f in pod.metadata.finalizers or () if f != TRACKING_FINALIZER]
            try:
                self.objects.patch(POD, pod.metadata.namespace or "", pod.metadata.name or "",
                                   {"metadata": {"finalizers": kept or None,
                                                 "resourceVersion":
                                                     pod.metadata.resource_version}})
            except ApiError as e:
                if e.code != 404:  # a 409 (changed meanwhile): the next sync tries again
                    raise

    # --- running pods ---------------------------------------------------------------------

    def _converge(self, stored: Object, job: Job, pods: list[Pod], now: datetime,
                  fail: tuple[str, str] | None) -> None:
        spec, status = job.spec, job.status
        stamp = now_rfc3339(lambda: now)
        active = [p for p in pods if outcome(p, job) is None and not p.metadata.deletion_timestamp]
        terminating = [p for p in pods if p.metadata.deletion_timestamp and
                       p.status.phase not in ("Succeeded", "Failed")]
        succeeded, failed = status.succeeded or 0, status.failed or 0
        completed = parse_indexes(status.completed_indexes)
        start = parse_time(status.start_time)
        conditions = [c.to_dict() for c in status.conditions or ()]
        new_status = dict(stored.get("status") or {})

        # under OnFailure the kubelet restarts failed containers in place: those restarts
        # count towards the backoffLimit, as Kubernetes counts them
        restarts = sum(c.restart_count for p in active for c in [
            *(p.status.init_container_statuses or ()), *(p.status.container_statuses or ())]
        ) if spec.template.spec.restart_policy == "OnFailure" else 0
        if fail is None and failed + restarts > spec.backoff_limit:
            fail = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
        if fail is None and spec.active_deadline_seconds and start and not spec.suspend and \
                now >= start + timedelta(seconds=spec.active_deadline_seconds):
            fail = ("DeadlineExceeded", "Job was active longer than specified deadline")
        done = fail is None and complete(job, succeeded, completed, len(active))
        if fail is not None or done:
            self._delete(job, active)
            if fail is not None:
                conditions = [c for c in conditions if c["type"] != "Failed"] + [
                    _condition("Failed", fail[0], fail[1], stamp)]
                self.events.warning(job, fail[0], fail[1])
            else:
                conditions = [c for c in conditions if c["type"] != "Complete"] + [
                    _condition("Complete", "CompletionsReached",
                               "Reached expected number of succeeded pods", stamp)]
                new_status["completionTime"] = stamp
                self.events.normal(job, "Completed", "Job completed")
            new_status.update(conditions=conditions, active=0,
                              ready=0, terminating=len(terminating) + len(active))
            self._write_status(stored, new_status)
            self._expire(typed(Job, {**stored, "status": new_status}))
            return

        suspended = next((c for c in conditions if c["type"] == "Suspended"), None)
        if spec.suspend:
            self._delete(job, active)
            if suspended is None or suspended["status"] != "True":
                conditions = [c for c in conditions if c["type"] != "Suspended"] + [
                    _condition("Suspended", "JobSuspended", "Job suspended", stamp)]
                self.events.normal(job, "Suspended", "Job suspended")
            new_status.update(conditions=conditions, active=0, ready=0,
                              terminating=len(terminating) + len(active))
            self._write_status(stored, new_status)
            return
        if suspended is not None and suspended["status"] == "True":
            conditions = [c for c in conditions if c["type"] != "Suspended"] + [
                {**_condition("Suspended", "JobResumed", "Job resumed", stamp),
                 "status": "False"}]
            self.events.normal(job, "Resumed", "Job resumed")
            start = None  # the deadline counts from the resumption
        if start is None:
            start = now
            new_status["startTime"] = stamp

        running = active + (terminating if spec.pod_replacement_policy == "Failed" else [])
        want = wanted_active(job, succeeded, completed)
        if len(running) > want:  # parallelism lowered: the highest indexes, or the least
            # advanced pods, go first
            extra = sorted(active, key=lambda p: (-(index_of(p) or 0), deletion_rank(p))
                           )[:len(running) - want]
            self._delete(job, extra)
            active = [p for p in active if p not in extra]
        elif len(running) < want:
            with self._lock:
                record = self._backoff.get(job.metadata.uid or "", _Backoff())
            delay = backoff_delay(record.failures_since_success, self.backoff_base)
            wait = record.last_failure + delay - now.timestamp()
            if wait > 0:
                self.queue.add_after(object_key(stored), wait + 0.05)
            else:
                indexes: list[int | None]
                if spec.completion_mode == "Indexed":
                    busy = {index_of(p) for p in running}
                    free: list[int | None] = [i for i in range(spec.completions or 0)
                                              if i not in completed and i not in busy]
                    indexes = free[:want - len(running)]
                else:
                    indexes = [None] * (want - len(running))
                self._create(job, indexes)
        new_status.update(conditions=conditions or None, active=len(active),
                          ready=sum(1 for p in active if ready(p.status.conditions)),
                          terminating=len(terminating))
        new_status = {k: v for k, v in new_status.items() if v is not None}
        self._write_status(stored, new_status)
        if spec.active_deadline_seconds:
            left = (start + timedelta(seconds=spec.active_deadline_seconds) - now).total_seconds()
            self.queue.add_after(object_key(stored), max(0.0, left) + 0.05)

    def _create(self, job: Job, indexes: list[int | None]) -> None:
        namespace = job.metadata.namespace or ""
        slow_start([pod_for_index(job, i) for i in indexes],
                   lambda body: self.objects.create(POD, namespace, body),
                   lambda pod: self.events.normal(job, "SuccessfulCreate",
                                                  f"Created pod: {pod['metadata']['name']}"),
                   lambda e: self.events.warning(job, "FailedCreate",
                                                 f"Error creating: {e.message}"))

    def _delete(self, job: Job, pods: list[Pod]) -> None:
        for pod in pods:
            try:
                self.objects.delete(POD, pod.metadata.namespace or "", pod.metadata.name or "")
            except ApiError as e:
                if e.code != 404:
                    raise
                continue
            self.events.normal(job, "SuccessfulDelete", f"Deleted pod: {pod.metadata.name}")

    def _expire(self, job: Job) -> None:
        """ttlSecondsAfterFinished: delete the finished Job (and, through the collector, its
        pods) once that long has passed since it finished; look again then."""
        ttl = job.spec.ttl_seconds_after_finished
        condition = finished_condition(job)
        if ttl is None or condition is None:
            return
        since = parse_time(condition.get("lastTransitionTime"))
        left = 0.0 if since is None else (
            since + timedelta(seconds=ttl) - datetime.now(timezone.utc)).total_seconds()
        if left > 0:
            self.queue.add_after(object_key(job.to_dict()), left + 0.05)
            return
        try:
            self.objects.delete(JOB, job.metadata.namespace or "", job.metadata.name or "",
                                propagation_policy="Background",
                                uid=job.metadata.uid)
        except ApiError as e:
            if e.code not in (404, 409):
                raise

    def _write_status(self, stored: Object, status: Object) -> Object:
        if (stored.get("status") or {}) == status:
            return stored
        return self.objects.update(JOB, stored["metadata"]["namespace"],
                                   stored["metadata"]["name"], {**stored, "status": status},
                                   subresource="status")
