"""This node's Node object and heartbeat.

- register: create the Node (labels, pod CIDR, addresses, capacity), or adopt the existing one;
  the master records the pod CIDR (or assigns one when none is given).
- heartbeat: renew the node's Lease in kube-node-lease every LEASE_RENEW seconds (cheap, what
  the master's node-lifecycle controller watches) and write the Node's status when it changed
  or every STATUS_REFRESH seconds (the Ready condition says whether dockerd answers and runs
  the pod network this node was given).
"""

from __future__ import annotations

import logging
import os
import platform
import threading
from datetime import datetime, timezone
from pathlib import Path

from kube.client import ApiError, Client
from kube.conditions import typed_find
from kube.kinds.node import Node, NodeStatus
from kube.meta import Condition
from kube.objects import Object
from kube.timestamps import now_rfc3339
from kube.typed import typed
from node_agent import __version__
from node_agent.runtime import ContainerRuntime, RuntimeFailure

log = logging.getLogger(__name__)

LEASE_NAMESPACE = "kube-node-lease"
LEASE_RENEW = 2.0
LEASE_DURATION = 10
STATUS_REFRESH = 20.0



def node_manifest(name: str, address: str, pod_cidr: str | None) -> Object:
    spec = {"podCIDR": pod_cidr, "podCIDRs": [pod_cidr]} if pod_cidr else {}
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name,
                                                  "kubernetes.io/os": "linux",
                                                  "kubernetes.io/arch": platform.machine()}},
            "spec": spec}


def ready_condition(ready: bool, reason: str, message: str,
                    previous: Condition | None) -> Object:
    """The node's Ready condition (JSON, to write), its transition time kept from `previous`
    (the stored one) while the status stays."""
    now = now_rfc3339()
    status = "True" if ready else "False"
    changed = previous is None or previous.status != status
    return {"type": "Ready", "status": status, "reason": reason, "message": message,
            "lastHeartbeatTime": now,
            "lastTransitionTime": now if changed or previous is None
            else previous.last_transition_time or now}


class NodeAgent:
    def __init__(self, client: Client, runtime: ContainerRuntime, name: str, address: str,
                 pod_cidr: str | None) -> None:
        self.client, self.name, self.address, self.pod_cidr = client, name, address, pod_cidr
        self.runtime = runtime
        self._runtime_version = ""
        self.stopping = threading.Event()
        self.node: Node | None = None

    def register(self) -> Node:
        try:
            created = self.client.create("nodes", node_manifest(self.name, self.address,
                                                                self.pod_cidr))
        except ApiError as e:
            if e.code != 409:
                raise
            created = self.client.get("nodes", self.name)
        node = typed(Node, created)
        recorded = node.spec.pod_cidr
        if self.pod_cidr and recorded and recorded != self.pod_cidr:
            raise SystemExit(f"node-agent: Node {self.name} has podCIDR {recorded}, this host "
                             f"was provisioned with {self.pod_cidr}")
        self.pod_cidr = recorded
        self.node = node
        return node

    def start(self) -> None:
        threading.Thread(target=self._lease_loop, name="lease", daemon=True).start()
        threading.Thread(target=self._status_loop, name="node-status", daemon=True).start()

    def _lease_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                self._renew_lease()
            except ApiError as e:
                log.warning("lease renewal failed: %s", e)
            self.stopping.wait(LEASE_RENEW)

    def _renew_lease(self) -> None:
        spec = {"holderIdentity": self.name, "leaseDurationSeconds": LEASE_DURATION,
                "renewTime": now_rfc3339()}
        try:
            self.client.patch("leases", self.name, {"spec": spec}, namespace=LEASE_NAMESPACE)
        except ApiError as e:
            if e.code != 404:
                raise
            self.client.create("leases", {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                                          "metadata": {"name": self.name},
                                          "spec": {**spec, "acquireTime": spec["renewTime"]}},
                               namespace=LEASE_NAMESPACE)

    def _network_ready(self) -> tuple[bool, str, str]:
        """The runtime answers, and its pod network (docker's bridge) serves this node's pod
        CIDR."""
        try:
            info = self.runtime.info()
        except RuntimeFailure as e:
            return False, "ContainerRuntimeDown", f"the container runtime does not answer: {e}"
        self._runtime_version = info.version
        if self.pod_cidr and self.pod_cidr not in info.pod_subnets:
            return False, "PodCIDRMismatch", (f"the runtime's pod network serves "
                                              f"{list(info.pod_subnets)}, the node's pod CIDR "
                                              f"is {self.pod_cidr}")
        return True, "KubeletReady", "node-agent is posting ready status"

    def _status(self, previous: NodeStatus) -> Object:
        """The node's status (JSON, to write), given the stored one."""
        ready, reason, message = self._network_ready()
        prior = typed_find(previous.conditions, "Ready")
        memory = host_memory_bytes()
        capacity = {"cpu": str(host_cpus()), "memory": f"{memory // 1024}Ki", "pods": "110"}
        return {
            "capacity": capacity,
            "allocatable": dict(capacity),
            "addresses": [{"type": "InternalIP", "address": self.address},
                          {"type": "Hostname", "address": self.name}],
            "conditions": [ready_condition(ready, reason, message, prior)],
            "nodeInfo": {"machineID": "", "systemUUID": "", "bootID": "",
                         "kernelVersion": platform.release(), "osImage": _os_image(),
                         "containerRuntimeVersion": self._runtime_version,
                         "kubeletVersion": f"orch-{__version__}", "kubeProxyVersion": "",
                         "operatingSystem": "linux", "architecture": platform.machine()},
        }

    def _status_loop(self) -> None:
        last_written: tuple | None = None
        last_time = 0.0
        while not self.stopping.is_set():
            try:
                node = typed(Node, self.client.get("nodes", self.name))
                status = self._status(node.status)
                ready = status["conditions"][0]
                key = (ready["status"], ready["reason"], status["capacity"]["memory"])
                stored = typed_find(node.status.conditions, "Ready")
                # The master marks an unreachable node Unknown: say Ready again at once.
                overwritten = (stored.status if stored else None,
                               stored.reason if stored else None) != key[:2]
                now = datetime.now(timezone.utc).timestamp()
                if key != last_written or overwritten or now - last_time >= STATUS_REFRESH:
                    self.client.update("nodes", {"apiVersion": "v1", "kind": "Node",
                                                 "metadata": {"name": self.name},
                                                 "status": status}, subresource="status")
                    last_written, last_time = key, now
            except ApiError as e:
                log.warning("node status update failed: %s", e)
            self.stopping.wait(LEASE_RENEW)


def _os_image() -> str:
    """PRETTY_NAME from /etc/os-release ("Debian GNU/Linux 12 (bookworm)"), as the kubelet."""
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return ""


def host_memory_bytes() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0


def host_cpus() -> int:
    return len(os.sched_getaffinity(0))
