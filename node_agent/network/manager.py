"""Keeps this node's routes and NAT rules in line with the Nodes the API knows (I/O).

Routes to other nodes' pod CIDRs carry our own route protocol number (ROUTE_PROTO), so routes
made by someone else (the host's provisioning, an operator) are never deleted; ours are replaced
when a node moves and removed when it goes. Runs in the host's network namespace.
"""

from __future__ import annotations

import ipaddress
import logging
import subprocess
import threading
import time

from pyroute2 import IPRoute

from kube.client import Client
from kube.informer import Informer
from node_agent.network.plan import (desired_routes, forward_jump, forward_ruleset,
                                     masquerade_jump, masquerade_ruleset)

log = logging.getLogger(__name__)

ROUTE_PROTO = 186  # "orch": an unassigned number in /etc/iproute2/rt_protos
RESYNC = 30.0


class NetworkManager:
    """Routes sync on every change of a Node (the nodes informer wakes it; one netlink dump);
    the NAT and forward rules, which no Node changes, at start and every RESYNC seconds, as do
    the routes (the safety net: a route or rule someone removed comes back)."""

    def __init__(self, client: Client, node_name: str, pod_cidr: str | None) -> None:
        self.client, self.node_name, self.pod_cidr = client, node_name, pod_cidr
        self.stopping = threading.Event()
        self.nodes = Informer(client, "nodes")
        self._wake = threading.Event()
        self.nodes.add_handler(on_add=lambda _n: self._wake.set(),
                               on_update=lambda _o, _n: self._wake.set(),
                               on_delete=lambda _n: self._wake.set())

    def start(self) -> None:
        self.nodes.start()
        threading.Thread(target=self._loop, name="pod-network", daemon=True).start()

    def stop(self) -> None:
        self.stopping.set()
        self.nodes.stop()
        self._wake.set()

    def _loop(self) -> None:
        rules_due = 0.0  # monotonic time of the next iptables sync
        while not self.stopping.is_set():
            self._wake.clear()
            try:
                if time.monotonic() >= rules_due:
                    self.sync_iptables()
                    rules_due = time.monotonic() + RESYNC
                if self.nodes.has_synced():  # before the first list, "no nodes" is not known
                    self.sync_routes(self.nodes.list())
            except (OSError, subprocess.SubprocessError) as e:
                log.warning("pod network sync: %s", e)
                self.stopping.wait(1)
                continue
            self._wake.wait(RESYNC)

    def sync_routes(self, nodes: list[dict]) -> None:
        wanted = desired_routes(nodes, self.node_name)
        with IPRoute() as ipr:
            have = {}
            for r in ipr.get_routes(family=2, proto=ROUTE_PROTO):
                dst = f"{r.get_attr('RTA_DST')}/{r['dst_len']}"
                have[dst] = r.get_attr("RTA_GATEWAY")
            for dst, gateway in wanted.items():
                if have.get(dst) != gateway:
                    ipr.route("replace", dst=dst, gateway=gateway, proto=ROUTE_PROTO)
                    log.info("route %s via %s", dst, gateway)
            for dst in have.keys() - wanted.keys():
                ipr.route("del", dst=dst, proto=ROUTE_PROTO)
                log.info("route %s removed", dst)

    def sync_iptables(self) -> None:
        """Our chains (a declared chain is rewritten whole) and their jumps (added once)."""
        if not self.pod_cidr:
            return
        ipaddress.ip_network(self.pod_cidr)  # refuse to put garbage into iptables
        for ruleset, table, jump in ((masquerade_ruleset(), "nat", masquerade_jump(self.pod_cidr)),
                                     (forward_ruleset(), "filter", forward_jump())):
            subprocess.run(["iptables-restore", "--noflush"], input=ruleset,
                           text=True, check=True, capture_output=True, timeout=30)
            if subprocess.run(["iptables", "-t", table, "-C", *jump], capture_output=True,
                              timeout=30).returncode != 0:
                subprocess.run(["iptables", "-t", table, "-I", *jump], check=True,
                               capture_output=True, timeout=30)
