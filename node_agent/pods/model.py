"""Pure decisions of the pod workers: what a pod's containers should be, given what docker shows,
and what the pod's status is. No I/O here; `PodManager.sync_pod` (manager.py) applies the plan.
Pods come in typed (kube.typed); the status goes out as JSON, as written.

Containers the agent makes carry labels (LABEL_*) from which it re-reads everything it needs
after a restart: pod uid/namespace/name, container name ("POD" for the pause container) and the
attempt number (= restart count). Names: orch_{container}_{pod}_{namespace}_{uid8}_{attempt}.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence, Set
from dataclasses import dataclass, field

from kube.kinds.pod import Container, Pod, PodSpec
from kube.objects import Object
from node_agent.runtime.protocol import ContainerState

LABEL_POD_UID = "org.orch.pod.uid"
LABEL_POD_NAMESPACE = "org.orch.pod.namespace"
LABEL_POD_NAME = "org.orch.pod.name"
LABEL_CONTAINER = "org.orch.container.name"
LABEL_ATTEMPT = "org.orch.container.attempt"
LABEL_SPEC_HASH = "org.orch.container.spec-hash"
PAUSE = "POD"

BACKOFF_MAX = 300.0  # seconds, as kubelet
BACKOFF_RESET_AFTER = 600.0  # a container that ran this long starts its back-off afresh


@dataclass(frozen=True)
class Observed:
    """One container of a pod, as the runtime last showed it."""

    id: str
    container: str  # spec container name, or PAUSE
    attempt: int
    running: bool
    exit_code: int | None = None
    started_at: float | None = None  # epoch seconds
    finished_at: float | None = None
    spec_hash: str = ""
    ip: str | None = None  # the pause container's pod IP
    image: str = ""
    image_id: str = ""
    error: str = ""  # docker's State.Error (e.g. the command was not found)
    oom_killed: bool = False
    message: str = ""  # what it left at its terminationMessagePath (or its log's end)


def observed_from(state: ContainerState) -> Observed:
    """A runtime's container, seen through our labels."""
    labels = state.labels
    return Observed(
        id=state.id, container=labels.get(LABEL_CONTAINER, ""),
        attempt=int(labels.get(LABEL_ATTEMPT, "0") or 0), running=state.running,
        exit_code=state.exit_code, started_at=state.started_at, finished_at=state.finished_at,
        spec_hash=labels.get(LABEL_SPEC_HASH, ""), ip=state.ip, image=state.image,
        image_id=state.image_id, error=state.error, oom_killed=state.oom_killed)


@dataclass(frozen=True)
class Start:
    container: str  # spec container name, or PAUSE
    attempt: int


@dataclass(frozen=True)
class Kill:
    id: str
    reason: str


@dataclass(frozen=True)
class Remove:
    id: str


@dataclass
class Plan:
    actions: list[Start | Kill | Remove] = field(default_factory=list)
    waiting: dict[str, tuple[str, str]] = field(default_factory=dict)  # name → (reason, message)
    resync_at: float | None = None  # when a back-off ends


def container_spec_hash(container: Container) -> str:
    """Changes when the container's spec changes (only its image can, once a pod exists). The
    hash of its JSON as stored, so containers started by an earlier agent keep theirs."""
    canonical = json.dumps(container.to_dict(), sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def backoff_seconds(restarts: int, base: float) -> float:
    """Kubelet's crash back-off: base, 2·base, 4·base, … capped at BACKOFF_MAX."""
    if restarts <= 0:
        return 0.0
    return float(min(base * 2.0 ** (restarts - 1), BACKOFF_MAX))


def latest(observed: list[Observed], name: str) -> Observed | None:
    mine = [o for o in observed if o.container == name]
    return max(mine, key=lambda o: o.attempt) if mine else None


def should_restart(policy: str, exit_code: int | None) -> bool:
    if policy == "Always":
        return True
    if policy == "OnFailure":
        return exit_code != 0
    return False


def initialized(spec: PodSpec, observed: list[Observed],
                unstarted: frozenset[str] | set[str] = frozenset()) -> bool:
    """Kubelet's rule: the pod is initialized once every init container has run to success
    and every sidecar (an init container with restartPolicy Always) is running and started
    (its startup probe passed), or once an app container has been started (init containers
    then run again only in a new sandbox)."""
    if any(latest(observed, c.name) is not None for c in spec.containers):
        return True
    for c in spec.init_containers or ():
        o = latest(observed, c.name)
        if o is None:
            return False
        if c.is_sidecar:
            if not o.running or c.name in unstarted:
                return False
        elif o.running or o.exit_code != 0:
            return False
    return True


def mains_finished(spec: PodSpec, observed: list[Observed]) -> bool:
    """Every app container has exited for good (its restartPolicy will not start it again):
    the pod's sidecars are then stopped, as kubelet does, and the pod can complete."""
    for c in spec.containers:
        o = latest(observed, c.name)
        if o is None or o.running or should_restart(spec.restart_policy, o.exit_code):
            return False
    return True


def plan_pod(pod: Pod, observed: list[Observed], now: float, backoff_base: float,
             unhealthy: frozenset[str] | set[str] = frozenset(),
             unstarted: frozenset[str] | set[str] = frozenset()) -> Plan:
    """What to do for a live pod (not being deleted): start the pause container first, then
    the init containers one at a time, each to success (a failed one restarts unless the
    restartPolicy is Never, after its back-off), then each app container; restart exited ones
    per restartPolicy after their back-off; replace one whose spec changed (an init
    container's image: the pod starts over in a new sandbox, as Kubernetes restarts it);
    remove superseded containers, keeping the last dead one of each (for logs of the previous
    attempt). A running container in `unhealthy` (its liveness probe failed) is killed; the
    next sync restarts it per the policy, with back-off.

    Sidecars (init containers with restartPolicy Always) start in their place among the init
    containers; the next one starts once the sidecar is running and started (`unstarted`: its
    startup probe has not passed). They are restarted, after their back-off, whenever they
    exit, whatever the pod's restartPolicy, until every app container has finished for good;
    then they are stopped, the last declared first."""
    plan = Plan()
    spec = pod.spec
    inits = spec.init_containers or []
    pause = latest(observed, PAUSE)
    sandboxes = sum(1 for o in observed if o.container == PAUSE and o.running)
    init_changed = any((o := latest(observed, c.name)) is not None and o.spec_hash
                       and o.spec_hash != container_spec_hash(c) for c in inits)
    if pause is None or not pause.running or sandboxes > 1 or init_changed:
        # No sandbox (or it died), or more than one (containers may have joined either): every
        # container goes, the sandbox is made anew.
        for o in observed:
            if o.running:
                plan.actions.append(Kill(o.id, "the pod sandbox is gone" if not init_changed
                                         else "an init container's spec changed"))
            plan.actions.append(Remove(o.id))
        plan.actions.append(Start(PAUSE, (pause.attempt + 1) if pause else 0))
        for c in inits[:1] or spec.containers:
            prior = latest(observed, c.name)
            plan.actions.append(Start(c.name, (prior.attempt + 1) if prior else 0))
        return plan

    if not initialized(spec, observed, unstarted):
        for c in inits:
            current = latest(observed, c.name)
            if current is None:
                plan.actions.append(Start(c.name, 0))
            elif c.is_sidecar:
                if current.running:
                    if c.name in unhealthy:
                        plan.actions.append(Kill(current.id, "liveness probe failed"))
                    elif c.name not in unstarted:
                        continue  # started: the next init container may start
                else:  # a sidecar is restarted whatever the pod's restartPolicy
                    _restart(plan, pod, c.name, current, now, backoff_base)
            elif current.running or current.exit_code == 0:
                if current.running:
                    break
                continue
            elif spec.restart_policy != "Never":  # failed: again, after its back-off
                _restart(plan, pod, c.name, current, now, backoff_base)
            break
        _remove_superseded(plan, observed)
        return plan

    finished = mains_finished(spec, observed)
    for c in reversed([c for c in inits if c.is_sidecar]):
        current = latest(observed, c.name)
        if finished:
            if current is not None and current.running:
                plan.actions.append(Kill(current.id, "the pod's app containers have finished"))
        elif current is None:
            plan.actions.append(Start(c.name, 0))
        elif current.running:
            if c.name in unhealthy:
                plan.actions.append(Kill(current.id, "liveness probe failed"))
        else:
            _restart(plan, pod, c.name, current, now, backoff_base)

    for c in spec.containers:
        name, current = c.name, latest(observed, c.name)
        wanted_hash = container_spec_hash(c)
        if current is None:
            plan.actions.append(Start(name, 0))
            continue
        if current.running:
            if current.spec_hash and current.spec_hash != wanted_hash:
                plan.actions.append(Kill(current.id, "the container's spec changed"))
                plan.actions.append(Start(name, current.attempt + 1))
            elif name in unhealthy:
                plan.actions.append(Kill(current.id, "liveness probe failed"))
            continue
        if current.spec_hash and current.spec_hash != wanted_hash:
            plan.actions.append(Start(name, current.attempt + 1))
            continue
        if should_restart(spec.restart_policy, current.exit_code):
            _restart(plan, pod, name, current, now, backoff_base)
    _remove_superseded(plan, observed)
    return plan


def _restart(plan: Plan, pod: Pod, name: str, current: Observed, now: float,
             backoff_base: float) -> None:
    """Start an exited container's next attempt once its back-off has passed, else say it
    waits (CrashLoopBackOff) and when the plan should be made again."""
    ran = (current.finished_at or now) - (current.started_at or now)
    restarts = 0 if ran >= BACKOFF_RESET_AFTER else current.attempt + 1
    ready_at = (current.finished_at or now) + backoff_seconds(restarts, backoff_base)
    if now >= ready_at:
        plan.actions.append(Start(name, current.attempt + 1))
    else:
        plan.waiting[name] = ("CrashLoopBackOff",
                              f"back-off {backoff_seconds(restarts, backoff_base):.0f}s "
                              f"restarting failed container={name} pod={pod.metadata.name}")
        plan.resync_at = min(plan.resync_at or ready_at, ready_at)


def _remove_superseded(plan: Plan, observed: list[Observed]) -> None:
    """Superseded attempts: keep the newest and the one before it (logs --previous), remove
    older dead ones."""
    for name in {o.container for o in observed}:
        newest = latest(observed, name).attempt  # type: ignore[union-attr]
        plan.actions += [Remove(o.id) for o in observed
                         if o.container == name and not o.running and o.attempt < newest - 1]


def _rfc3339(ts: float | None) -> str | None:
    if ts is None:
        return None
    import datetime
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def compute_status(pod: Pod, observed: list[Observed], waiting: dict[str, tuple[str, str]],
                   host_ip: str, start_time: str | None,
                   unready: frozenset[str] | set[str] = frozenset(),
                   unstarted: frozenset[str] | set[str] = frozenset()) -> Object:
    """The pod's status from what docker shows (kubelet's generateAPIPodStatus, simplified):
    phase, podIP (the node's in the node's network), hostIP, startTime, conditions, and one
    status per init and per app container. A running container in `unready` (its readiness
    probe has not succeeded) is not ready, one in `unstarted` (its startup probe has not) is
    neither started nor ready; app containers wait (PodInitializing) until the pod is
    initialized."""
    spec = pod.spec
    pause = latest(observed, PAUSE)
    init_done = initialized(spec, observed, unstarted)
    not_ready = set(unready) | set(unstarted)
    # a sidecar's status reads as an app container's: ready by its readiness probe
    inits = [_container_status(c, observed, waiting, not_ready, init=not c.is_sidecar,
                               unstarted=unstarted) for c in spec.init_containers or ()]
    statuses = [_container_status(c, observed, waiting, not_ready,
                                  init=False, initializing=not init_done,
                                  unstarted=unstarted) for c in spec.containers]
    sidecars = {c.name for c in spec.init_containers or () if c.is_sidecar}
    ready_all = all(s["ready"] for s in statuses) and \
        all(s["ready"] for s in inits if s["name"] in sidecars)

    phase = pod_phase(spec.restart_policy, statuses, inits, sidecars)
    ready = ready_all and pause is not None and pause.running
    incomplete = [s["name"] for s in inits
                  if not (s["started"] if s["name"] in sidecars else s["ready"])]
    conditions: list[Object] = [
        {"type": "Initialized", "status": "True"} if init_done or not incomplete else
        {"type": "Initialized", "status": "False", "reason": "ContainersNotInitialized",
         "message": f"containers with incomplete status: [{' '.join(incomplete)}]"},
        {"type": "Ready", "status": "True" if ready else "False"},
        {"type": "ContainersReady", "status": "True" if ready else "False"},
        {"type": "PodScheduled", "status": "True"},
    ]
    if not ready:
        unready_names = [s["name"] for s in (*(i for i in inits if i["name"] in sidecars),
                                             *statuses) if not s["ready"]]
        for cond in conditions[1:3]:
            cond.update(reason="ContainersNotReady",
                        message=f"containers with unready status: [{' '.join(unready_names)}]")
    out: Object = {"phase": phase, "conditions": conditions, "hostIP": host_ip,
                   "containerStatuses": statuses, "qosClass": _qos(spec)}
    if inits:
        out["initContainerStatuses"] = inits
    ip = pod_ip(spec, pause, host_ip)
    if ip:
        out["podIP"], out["podIPs"] = ip, [{"ip": ip}]
    if start_time:
        out["startTime"] = start_time
    return out


EVICTED = "Evicted"


def empty_dir_eviction_message(volume: str, limit: str | int) -> str:
    """Kubelet's words (eviction manager, local storage) for an emptyDir over its sizeLimit."""
    return f'Usage of EmptyDir volume "{volume}" exceeds the limit "{limit}". '


def ended_by_node_status(status: Object, reason: str, message: str) -> Object:
    """`status` of a pod the node ended, as kubelet writes it: phase Failed with the reason
    (Evicted; SysctlForbidden… for a pod it rejected) and message, not Ready; an evicted pod
    also gets a DisruptionTarget condition saying the kubelet ended it."""
    conditions = [c for c in status.get("conditions") or () if c["type"] != "DisruptionTarget"]
    for c in conditions:
        if c["type"] in ("Ready", "ContainersReady"):
            c.update(status="False", reason="PodFailed")
            c.pop("message", None)
    if reason == EVICTED:
        conditions.append({"type": "DisruptionTarget", "status": "True",
                           "reason": "TerminationByKubelet", "message": message})
    return {**status, "phase": "Failed", "reason": reason, "message": message,
            "conditions": conditions}


def stamp_transitions(status: Object, previous: Object | None, now: str) -> Object:
    """`status` with each condition's lastTransitionTime as kubelet keeps it: the previous
    status's time while the condition's status is unchanged, `now` when it changes.
    Controllers read them (a pod is available minReadySeconds after it became Ready)."""
    before = {c.get("type"): c for c in (previous or {}).get("conditions") or ()}
    stamped = []
    for cond in status.get("conditions") or ():
        prior = before.get(cond["type"])
        since = prior.get("lastTransitionTime") if prior and \
            prior.get("status") == cond["status"] else None
        stamped.append({**cond, "lastTransitionTime": since or now})
    return {**status, "conditions": stamped}


def pod_ip(spec: PodSpec, pause: Observed | None, host_ip: str) -> str | None:
    """The pod's address: its sandbox's, or the node's for a pod in the node's network; None
    while the sandbox is not running."""
    if pause is None or not pause.running:
        return None
    return host_ip if spec.host_network else pause.ip


def _container_status(c: Container, observed: list[Observed],
                      waiting: dict[str, tuple[str, str]], unready: frozenset[str] | set[str],
                      init: bool, initializing: bool = False,
                      unstarted: frozenset[str] | set[str] = frozenset()) -> Object:
    """One containerStatus. An init container is ready once it has succeeded; an app
    container waits as PodInitializing while the init containers run."""
    name, current = c.name, latest(observed, c.name)
    previous = None
    if current is not None:
        older = [o for o in observed if o.container == name and o.attempt < current.attempt]
        previous = max(older, key=lambda o: o.attempt) if older else None
    status: Object = {"name": name, "image": c.image, "imageID": "",
                      "restartCount": current.attempt if current else 0,
                      "ready": False, "started": False}
    if name in waiting:
        reason, message = waiting[name]
        status["state"] = {"waiting": {"reason": reason, "message": message}}
        if current is not None and not current.running:
            status["lastState"] = {"terminated": _terminated(current)}
    elif current is None:
        status["state"] = {"waiting": {"reason": "PodInitializing" if initializing or init
                                       else "ContainerCreating"}}
    elif current.running:
        status["state"] = {"running": {"startedAt": _rfc3339(current.started_at)}}
        status.update(ready=not init and name not in unready,
                      started=name not in unstarted,
                      containerID=f"docker://{current.id}", imageID=current.image_id)
    else:
        status["state"] = {"terminated": _terminated(current)}
        status.update(containerID=f"docker://{current.id}", imageID=current.image_id,
                      ready=init and current.exit_code == 0)
    if previous is not None and "lastState" not in status and not previous.running:
        status["lastState"] = {"terminated": _terminated(previous)}
    return status


def pod_phase(restart_policy: str, statuses: list[Object],
              init_statuses: Sequence[Object] = (), sidecars: Set[str] = frozenset()) -> str:
    """Kubelet's getPhase: from the containers' states and the restart policy. An init
    container that failed fails the pod under restartPolicy Never; one still to run keeps it
    Pending unless an app container has started. A sidecar (named in `sidecars`) keeps it
    Pending until it is started, and never fails it or decides how it completes."""
    pending_init = failed_init = 0
    for s in init_statuses:
        state = s.get("state", {})
        if s.get("name") in sidecars:
            pending_init += not s.get("started")
            continue
        terminated = state.get("terminated") or (s.get("lastState") or {}).get("terminated")
        if "running" in state or not terminated:
            pending_init += 1
        elif terminated.get("exitCode") != 0:
            failed_init += 1
    if failed_init and restart_policy == "Never":
        return "Failed"
    started = any("running" in s.get("state", {}) or "terminated" in s.get("state", {})
                  or "lastState" in s for s in statuses)
    if pending_init and not started:
        return "Pending"
    waiting = running = stopped = succeeded = 0
    for s in statuses:
        state = s.get("state", {})
        if "running" in state:
            running += 1
        elif "terminated" in state:
            stopped += 1
            succeeded += state["terminated"].get("exitCode") == 0
        elif "lastState" in s:  # waiting to restart after a termination (back-off)
            stopped += 1
        else:
            waiting += 1
    if waiting:
        return "Pending"
    if running:
        return "Running"
    if stopped:
        if restart_policy == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        return "Failed" if restart_policy == "Never" else "Running"
    return "Pending"


def _terminated(o: Observed) -> Object:
    reason = "OOMKilled" if o.oom_killed else ("Completed" if o.exit_code == 0 else "Error")
    out = {"exitCode": o.exit_code if o.exit_code is not None else -1, "reason": reason,
           "startedAt": _rfc3339(o.started_at), "finishedAt": _rfc3339(o.finished_at),
           "containerID": f"docker://{o.id}"}
    if o.message or o.error:
        out["message"] = o.message or o.error
    return {k: v for k, v in out.items() if v is not None}


def _qos(spec: PodSpec) -> str:
    """Kubernetes' QoS class over every container, init containers included."""
    resources = [((c.resources.requests or {}) if c.resources else {},
                  (c.resources.limits or {}) if c.resources else {})
                 for c in [*(spec.init_containers or ()), *spec.containers]]
    if all(not requests and not limits for requests, limits in resources):
        return "BestEffort"
    if all(set(limits) >= {"cpu", "memory"} and requests == limits
           for requests, limits in resources):
        return "Guaranteed"
    return "Burstable"
