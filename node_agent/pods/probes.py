"""Startup, liveness and readiness probes (httpGet, tcpSocket, exec), kubelet-style.

One prober thread per (container id, kind): it waits initialDelaySeconds after the container
started, then probes every periodSeconds with timeoutSeconds; the verdict flips after
failureThreshold consecutive failures or successThreshold consecutive successes (ProbeState,
pure). When a verdict changes, the pod's worker is woken: readiness drives the container's
`ready` (and the pod's Ready condition); a failed liveness probe gets the container killed, and
restarted per the pod's restartPolicy. A startup probe runs first: until it succeeds the
container is not `started` and its liveness and readiness probes wait; failing it
failureThreshold times is a liveness failure; once it succeeds it stops.

Probes run from the node (the host's network namespace), where pod IPs are routable.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from kube.kinds.pod import Container, LifecycleHandler, Pod, PodSpec, Probe

LIVENESS, READINESS, STARTUP = "liveness", "readiness", "startup"


@dataclass
class ProbeState:
    """Consecutive results and the verdict. Readiness starts False (not ready until a probe
    succeeds); liveness starts True (alive until proven otherwise)."""

    success_threshold: int
    failure_threshold: int
    verdict: bool
    successes: int = 0
    failures: int = 0

    def record(self, ok: bool) -> bool:
        """Record one result; True when the verdict changed."""
        if ok:
            self.successes, self.failures = self.successes + 1, 0
            if not self.verdict and self.successes >= self.success_threshold:
                self.verdict = True
                return True
        else:
            self.failures, self.successes = self.failures + 1, 0
            if self.verdict and self.failures >= self.failure_threshold:
                self.verdict = False
                return True
        return False


def resolve_port(port: int | str, container: Container) -> int:
    if isinstance(port, int):
        return port
    if port.isdigit():
        return int(port)
    for p in container.ports or ():
        if p.name == port:
            return p.container_port
    raise ValueError(f"no container port named {port!r}")


def run_probe(probe: Probe, container: Container, pod_ip: str,
              exec_in_container: Callable[[list[str], float], int]) -> bool:
    timeout = float(probe.timeout_seconds)
    try:
        if probe.http_get is not None:
            get = probe.http_get
            conn = http.client.HTTPConnection(get.host or pod_ip,
                                              resolve_port(get.port, container), timeout=timeout)
            try:
                headers = {h.name: h.value for h in get.http_headers or ()}
                conn.request("GET", get.path, headers=headers)
                return 200 <= conn.getresponse().status < 400
            finally:
                conn.close()
        if probe.tcp_socket is not None:
            tcp = probe.tcp_socket
            with socket.create_connection((tcp.host or pod_ip, resolve_port(tcp.port, container)),
                                          timeout=timeout):
                return True
        if probe.exec is not None:
            return exec_in_container(list(probe.exec.command), timeout) == 0
    except (OSError, http.client.HTTPException, ValueError):
        return False
    return False


def run_hook(handler: LifecycleHandler, container: Container, pod_ip: str,
             exec_in_container: Callable[[list[str], float], int], timeout: float) -> str:
    """Run a lifecycle handler; "" when it succeeded, else why not (kubelet's message)."""
    if handler.sleep is not None:
        time.sleep(min(handler.sleep.seconds, timeout))
        return ""
    if handler.exec is not None:
        code = exec_in_container(list(handler.exec.command), timeout)
        return "" if code == 0 else f"command {handler.exec.command!r} exited with {code}"
    get = handler.http_get
    assert get is not None  # the model holds exactly one handler
    try:
        conn = http.client.HTTPConnection(get.host or pod_ip, resolve_port(get.port, container),
                                          timeout=timeout)
        try:
            conn.request("GET", get.path, headers={h.name: h.value
                                                   for h in get.http_headers or ()})
            status = conn.getresponse().status
        finally:
            conn.close()
    except (OSError, http.client.HTTPException, ValueError) as e:
        return f"Get \"http://{get.host or pod_ip}{get.path}\": {e}"
    return "" if 200 <= status < 400 else f"HTTP lifecycle hook {get.path} returned {status}"


def probed_containers(spec: PodSpec) -> list[Container]:
    """The containers that are probed: the sidecars (init containers with restartPolicy
    Always), then the app's."""
    return [*(c for c in spec.init_containers or () if c.is_sidecar), *spec.containers]


class Prober:
    """The probe threads of one agent, keyed by (container id, kind)."""

    def __init__(self, on_change: Callable[[str], None],
                 exec_in_container: Callable[[str, list[str], float], int]) -> None:
        self.on_change = on_change  # called with the pod uid
        self.exec_in_container = exec_in_container
        self._lock = threading.Lock()
        self._states: dict[tuple[str, str], ProbeState] = {}
        self._stops: dict[tuple[str, str], threading.Event] = {}
        self._owner: dict[tuple[str, str], str] = {}  # key → pod uid
        self._started: set[str] = set()  # containers whose startup probe has succeeded
        self._started_by: dict[str, str] = {}  # container id → pod uid

    def verdict(self, container_id: str, kind: str) -> bool | None:
        """None when the container has no such probe."""
        with self._lock:
            state = self._states.get((container_id, kind))
            return None if state is None else state.verdict

    def started(self, container_id: str) -> bool:
        """Its startup probe has succeeded (a container without one: at once)."""
        with self._lock:
            return container_id in self._started

    def ensure(self, uid: str, pod: Pod, running: dict[str, tuple[str, float]],
               pod_ip: str | None) -> None:
        """Probe exactly the running containers: `running` maps container name → (docker id,
        started_at epoch). Threads of containers that are gone are stopped."""
        wanted: dict[tuple[str, str], tuple[Container, Probe, float]] = {}
        for spec in probed_containers(pod.spec):
            if spec.name not in running or not pod_ip:
                continue
            cid, started = running[spec.name]
            with self._lock:
                starting = spec.startup_probe is not None and cid not in self._started
            probes = ((STARTUP, spec.startup_probe),) if starting else \
                ((LIVENESS, spec.liveness_probe), (READINESS, spec.readiness_probe))
            for kind, probe in probes:
                if probe is not None:
                    wanted[(cid, kind)] = (spec, probe, started)
        live = {cid for cid, _ in running.values()}
        with self._lock:
            for key in [k for k in self._stops if k not in wanted and self._owner.get(k) == uid]:
                self._stops.pop(key).set()
                self._states.pop(key, None)
                self._owner.pop(key, None)
            for cid in [c for c, owner in self._started_by.items()
                        if owner == uid and c not in live]:
                self._started.discard(cid)
                del self._started_by[cid]
            for key, (spec, probe, started) in wanted.items():
                if key in self._stops:
                    continue
                self._states[key] = ProbeState(probe.success_threshold, probe.failure_threshold,
                                               verdict=key[1] in (LIVENESS, STARTUP))
                stop = self._stops[key] = threading.Event()
                self._owner[key] = uid
                threading.Thread(target=self._loop, daemon=True, name=f"probe-{key[1][:4]}-{key[0][:8]}",
                                 args=(uid, key, spec, probe, started, pod_ip, stop)).start()

    def forget_pod(self, uid: str) -> None:
        with self._lock:
            for key in [k for k, owner in self._owner.items() if owner == uid]:
                self._stops.pop(key).set()
                self._states.pop(key, None)
                self._owner.pop(key, None)
            for cid in [c for c, owner in self._started_by.items() if owner == uid]:
                self._started.discard(cid)
                del self._started_by[cid]

    def _loop(self, uid: str, key: tuple[str, str], spec: Container, probe: Probe,
              started: float, pod_ip: str, stop: threading.Event) -> None:
        cid, _ = key
        delay = started + probe.initial_delay_seconds - time.time()
        if delay > 0 and stop.wait(delay):
            return
        period = probe.period_seconds
        while not stop.is_set():
            ok = run_probe(probe, spec, pod_ip,
                           lambda cmd, timeout: self.exec_in_container(cid, cmd, timeout))
            with self._lock:
                state = self._states.get(key)
                changed = state.record(ok) if state is not None else False
                if key[1] == STARTUP and ok:  # started: the other probes take over
                    self._started.add(cid)
                    self._started_by[cid] = uid
                    self._states.pop(key, None)
                    self._stops.pop(key, None)
                    self._owner.pop(key, None)
                    changed = True
            if changed:
                self.on_change(uid)
            if key[1] == STARTUP and ok:
                return
            stop.wait(period)
