"""The network policy loop (I/O): keeps this node's policy chains (node_agent/netpol/rules.py)
in step with the cluster's NetworkPolicies, pods and namespaces.

Three informers (every pod, namespace and policy: a policy here may name pods anywhere); any
change marks the state dirty, and one thread renders and applies it (bursts coalesced, at most
one apply per `min_interval`), writing only when the rendered rules differ from the ones last
applied. Every `full_every` seconds, and after a failure, it rewrites them anyway and puts its
jumps back on top of FORWARD and INPUT (the proxy or docker may have inserted theirs above).
Nothing is enforced before the first lists have arrived, so a restarted agent never applies a
view with missing pods (its old rules stay meanwhile).
"""

from __future__ import annotations

import logging
import threading
import time

from kube.client import Client
from kube.informer import Informer
from kube.kinds.networkpolicy import NetworkPolicy
from kube.objects import Object
from kube.typed import typed_all
from node_agent.netpol.rules import JUMPS, PodInfo, render
from node_agent.proxy.iptables import chains_in
from node_agent.proxy.proxier import Iptables
from node_agent.services import AllSynced

log = logging.getLogger(__name__)


def pod_info(pod: Object) -> PodInfo | None:
    """What the rules need of a pod; None for one they ignore (no address yet, finished, or
    on the host's network)."""
    spec, status, meta = pod.get("spec") or {}, pod.get("status") or {}, pod["metadata"]
    ip = status.get("podIP")
    if not ip or spec.get("hostNetwork") or status.get("phase") in ("Succeeded", "Failed"):
        return None
    ports = {(p["name"], p.get("protocol") or "TCP"): p["containerPort"]
             for c in (spec.get("containers") or []) + (spec.get("initContainers") or [])
             for p in c.get("ports") or [] if p.get("name") and p.get("containerPort")}
    return PodInfo(meta.get("namespace") or "", meta["name"], ip, spec.get("nodeName") or "",
                   dict(meta.get("labels") or {}), ports)


class NetworkPolicyManager:
    def __init__(self, client: Client, node_name: str, iptables: Iptables | None = None,
                 min_interval: float = 0.05, full_every: float = 30.0) -> None:
        self.node_name = node_name
        self.iptables = iptables or Iptables()
        self.min_interval, self.full_every = min_interval, full_every
        self.informers = {r: Informer(client, r) for r in ("pods", "namespaces",
                                                           "networkpolicies")}
        self.synced = AllSynced(list(self.informers.values()))
        self.dirty = threading.Event()
        self.stopping = threading.Event()
        self.applied: str | None = None  # the rules last applied
        self.applied_chains: frozenset[str] = frozenset()
        for informer in self.informers.values():
            informer.add_handler(on_add=lambda _o: self.dirty.set(),
                                 on_update=lambda _o, _n: self.dirty.set(),
                                 on_delete=lambda _o: self.dirty.set())

    def start(self) -> None:
        for informer in self.informers.values():
            informer.start()
        threading.Thread(target=self._loop, name="netpol", daemon=True).start()

    def stop(self) -> None:
        self.stopping.set()
        self.dirty.set()
        for informer in self.informers.values():
            informer.stop()

    def _loop(self) -> None:
        while not self.synced.wait(1):
            if self.stopping.is_set():
                return
        last_full, needs_full = 0.0, True
        while not self.stopping.is_set():
            if not needs_full:
                self.dirty.wait(max(0.0, last_full + self.full_every - time.monotonic()))
            full = needs_full or time.monotonic() - last_full >= self.full_every
            self.dirty.clear()
            try:
                self.sync(full)
                needs_full = False
                if full:
                    last_full = time.monotonic()
            except Exception as e:  # keep enforcing; the next sync is a full one
                needs_full = True
                log.warning("network policy sync failed: %s", e)
                self.stopping.wait(1)
            self.stopping.wait(self.min_interval)

    def sync(self, full: bool) -> None:
        pods = [info for p in self.informers["pods"].list() if (info := pod_info(p))]
        namespaces = {n["metadata"]["name"]: dict(n["metadata"].get("labels") or {})
                      for n in self.informers["namespaces"].list()}
        policies = typed_all(NetworkPolicy, self.informers["networkpolicies"].list())
        # a full sync also finds chains an earlier process left
        existing = chains_in(self.iptables.save("filter"), "filter") if full or \
            self.applied is None else self.applied_chains
        ruleset = render(policies, pods, namespaces, self.node_name, existing)
        if full or ruleset.text != self.applied:
            self.iptables.restore(ruleset.text)
            self.applied, self.applied_chains = ruleset.text, ruleset.chains
            log.info("network policies: %d pods of %s isolated", ruleset.isolated,
                     self.node_name)
        for table, chain, rule in JUMPS:
            if full:
                self.iptables.ensure_first(table, chain, rule)
            else:
                self.iptables.ensure_rule(table, chain, rule)
