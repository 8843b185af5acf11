"""The IPVS backend: virtual servers in the kernel's IP Virtual Server table, through pyroute2.

Pure part: the virtual servers a state wants (`desired_ipvs`), the plan that turns the kernel's
table into it (`plan_ipvs`, a diff), and the few iptables rules IPVS mode still needs
(`ipvs_ruleset`: masquerade for traffic from outside the pod network, node ports and hairpin;
REJECT for services without endpoints). I/O part: `IpvsProxier`, which reads the table, applies
the plan, and keeps the cluster IPs on a dummy interface (IPVS only sees packets addressed to a
local address). It needs a kernel with IP_VS; `ipvs_unavailable()` says why not.

Node ports listen on every local IPv4 address but loopback's and the dummy interface's
(kube-proxy's default; the iptables backend matches `--dst-type LOCAL` alike), looked up at
every sync.

What is ours in the kernel's table: virtual servers on an address of our dummy interface, and
those on the node's addresses (given, or seen by this proxier) with a port in the NodePort
range. Nothing else is touched.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from node_agent.proxy.iptables import (EXTERNAL_SERVICES, FILTER_CHAINS, FORWARD_RULES, JUMPS,
                                       MARK_MASQ, MASQUERADE_RULES, NODEPORTS, POSTROUTING,
                                       SERVICES, cleanup_ruleset, comment, port_match)
from node_agent.proxy.model import ProxyState
from node_agent.proxy.proxier import Iptables, SyncResult

log = logging.getLogger(__name__)

DUMMY_INTERFACE = "orch-ipvs0"
SCHEDULER = "rr"
NODE_PORT_RANGE = range(30000, 32768)
PROTOCOLS = {"TCP": socket.IPPROTO_TCP, "UDP": socket.IPPROTO_UDP, "SCTP": 132}
PROTOCOL_NAMES = {v: k for k, v in PROTOCOLS.items()}
PERSISTENT = 0x1  # IP_VS_SVC_F_PERSISTENT
FWD_MASQ = 0  # IP_VS_CONN_F_MASQ: NAT to the real server
HAIRPIN = "ORCH-IPVS-HAIRPIN"


@dataclass(frozen=True, order=True)
class VirtualServer:
    address: str
    port: int
    protocol: str  # TCP, UDP, SCTP
    scheduler: str = SCHEDULER
    persistence: int = 0  # seconds of ClientIP affinity, 0 for none

    @property
    def key(self) -> tuple[str, int, str]:
        return self.address, self.port, self.protocol


@dataclass(frozen=True, order=True)
class RealServer:
    address: str
    port: int


Table = dict[VirtualServer, frozenset[RealServer]]


def desired_ipvs(state: ProxyState, node_ips: Iterable[str]) -> Table:
    """A virtual server for every cluster IP:port, and one per node address for each node
    port; each with the service port's ready endpoints (possibly none)."""
    table: Table = {}
    for name, sp in state.services.items():
        reals = frozenset(RealServer(e.ip, e.port) for e in state.endpoints.get(name, ()))
        # externalTrafficPolicy Local: node ports and load balancer IPs reach this node's own
        # endpoints only
        external = frozenset(RealServer(e.ip, e.port) for e in state.local_endpoints(name)) \
            if sp.local_only else reals
        table[VirtualServer(sp.cluster_ip, sp.port, name.protocol, SCHEDULER,
                            sp.affinity_seconds)] = reals
        if sp.node_port:
            for ip in node_ips:
                table[VirtualServer(ip, sp.node_port, name.protocol, SCHEDULER,
                                    sp.affinity_seconds)] = external
        for ip in sp.load_balancer_ips:
            table[VirtualServer(ip, sp.port, name.protocol, SCHEDULER,
                                sp.affinity_seconds)] = external
    return table


def bound_ips(state: ProxyState) -> set[str]:
    """The addresses our dummy interface holds: IPVS sees only packets to local addresses."""
    return {sp.cluster_ip for sp in state.services.values()} | {
        ip for sp in state.services.values() for ip in sp.load_balancer_ips}


@dataclass
class IpvsPlan:
    add_services: list[VirtualServer] = field(default_factory=list)
    update_services: list[VirtualServer] = field(default_factory=list)  # scheduler/persistence
    delete_services: list[VirtualServer] = field(default_factory=list)
    add_dests: list[tuple[VirtualServer, RealServer]] = field(default_factory=list)
    delete_dests: list[tuple[VirtualServer, RealServer]] = field(default_factory=list)
    add_addresses: list[str] = field(default_factory=list)  # on the dummy interface
    delete_addresses: list[str] = field(default_factory=list)

    def empty(self) -> bool:
        return not any(vars(self).values())


def plan_ipvs(desired: Table, current: Table, cluster_ips: set[str],
              bound: set[str]) -> IpvsPlan:
    """What turns `current` (our part of the kernel's table) into `desired`, and the dummy
    interface's addresses (`bound`) into `cluster_ips`. Deleting a virtual server deletes its
    real servers with it, so those are not listed."""
    plan = IpvsPlan()
    have = {vs.key: vs for vs in current}
    want = {vs.key: vs for vs in desired}
    for key in sorted(want):
        vs = want[key]
        old = have.get(key)
        reals_now = current.get(old, frozenset()) if old else frozenset()
        if old is None:
            plan.add_services.append(vs)
        elif (old.scheduler, old.persistence) != (vs.scheduler, vs.persistence):
            plan.update_services.append(vs)
        plan.add_dests += [(vs, r) for r in sorted(desired[vs] - reals_now)]
        plan.delete_dests += [(vs, r) for r in sorted(reals_now - desired[vs])]
    plan.delete_services = [have[k] for k in sorted(have.keys() - want.keys())]
    plan.add_addresses = sorted(cluster_ips - bound)
    plan.delete_addresses = sorted(bound - cluster_ips)
    return plan


def ipvs_ruleset(state: ProxyState, cluster_cidr: str) -> str:
    """iptables-restore --noflush input (whole, it is small) for IPVS mode: packets to a cluster
    IP from outside the pod network, and to a node port, are marked for masquerade; an endpoint
    calling its own service (it sees its own address as the source) is masqueraded; the cluster
    IPs and node ports of services without endpoints REJECT (the address is local in IPVS mode,
    so the check sits on INPUT)."""
    # Hairpin packets carry no mark: their check comes before the marked-only RETURN.
    nat = [f"-A {POSTROUTING} -j {HAIRPIN}", *MASQUERADE_RULES]
    hairpin, reject = [], []
    for name in sorted(state.services):
        sp = state.services[name]
        match = port_match(name.protocol, sp.port)
        endpoints = state.endpoints.get(name, ())
        nat.append(f"-A {SERVICES} {comment(f'{name} cluster IP')} ! -s {cluster_cidr} "
                   f"-d {sp.cluster_ip}/32 {match} -j {MARK_MASQ}")
        # Local keeps an outside client's address; the node's own traffic is masqueraded
        keep = " -m addrtype --src-type LOCAL" if sp.local_only else ""
        if sp.node_port:
            nat.append(f"-A {NODEPORTS} {comment(str(name))}{keep} "
                       f"{port_match(name.protocol, sp.node_port)} -j {MARK_MASQ}")
        nat += [f"-A {SERVICES} {comment(f'{name} loadbalancer IP')} ! -s {cluster_cidr}{keep} "
                f"-d {ip}/32 {match} -j {MARK_MASQ}" for ip in sp.load_balancer_ips]
        for e in endpoints:
            hairpin.append(f"-A {HAIRPIN} {comment(f'{name} hairpin')} -s {e.ip}/32 "
                           f"-d {e.ip}/32 {port_match(name.protocol, e.port)} -j MASQUERADE")
        if not endpoints:
            reject.append(f"-A {EXTERNAL_SERVICES} {comment(f'{name} has no endpoints')} "
                          f"-d {sp.cluster_ip}/32 {match} "
                          "-j REJECT --reject-with icmp-port-unreachable")
            if sp.node_port:
                reject.append(f"-A {EXTERNAL_SERVICES} {comment(f'{name} has no endpoints')} "
                              f"-m addrtype --dst-type LOCAL "
                              f"{port_match(name.protocol, sp.node_port)} "
                              "-j REJECT --reject-with icmp-port-unreachable")
            reject += [f"-A {EXTERNAL_SERVICES} {comment(f'{name} has no endpoints')} "
                       f"-d {ip}/32 {match} -j REJECT --reject-with icmp-port-unreachable"
                       for ip in sp.load_balancer_ips]
    nat.append(f"-A {SERVICES} {comment('node ports; must be the last rule')} "
               f"-m addrtype --dst-type LOCAL -j {NODEPORTS}")
    return "\n".join([
        "*filter", *(f":{c} - [0:0]" for c in FILTER_CHAINS), *reject, *FORWARD_RULES, "COMMIT",
        "*nat", *(f":{c} - [0:0]" for c in (SERVICES, NODEPORTS, POSTROUTING, MARK_MASQ,
                                            HAIRPIN)),
        *nat, *hairpin, "COMMIT", ""])


def ipvs_unavailable() -> str | None:
    """Why IPVS cannot be used on this kernel, or None when it can."""
    try:
        from pyroute2 import IPVS
        with IPVS() as ipvs:
            ipvs.service("dump")
    except Exception as e:  # NetlinkError(2) where the kernel has no IP_VS
        return f"the kernel has no IP_VS ({e})"
    return None


def _attrs(message: Any, nla: str) -> dict[str, Any]:
    return dict(message.get(nla)["attrs"])


class IpvsProxier:
    """`ipvs`: a pyroute2 IPVS socket (or an object of the same shape); `ipr`: an IPRoute.
    Without them, each thread that uses the proxier opens its own pair: pyroute2's synchronous
    sockets keep their event loop per thread, and one opened in a thread fails in another
    ("Connection reset by peer" on the first request; the agent builds the proxier in its main
    thread and syncs in the proxy thread)."""

    name = "ipvs"

    def __init__(self, iptables: Iptables, cluster_cidr: str, node_ips: list[str],
                 ipvs: Any = None, ipr: Any = None) -> None:
        self.iptables, self.cluster_cidr, self.node_ips = iptables, cluster_cidr, node_ips
        self._given_ipvs, self._given_ipr = ipvs, ipr
        self._sockets = threading.local()
        self._node_port_addresses: set[str] = set(node_ips)  # every one ever used: ours
        self.jumps_ready = False

    @property
    def ipvs(self) -> Any:
        return self._socket("ipvs", self._given_ipvs)

    @property
    def ipr(self) -> Any:
        return self._socket("ipr", self._given_ipr)

    def _socket(self, name: str, given: Any) -> Any:
        """The injected socket, or this thread's own (opened on first use)."""
        if given is not None:
            return given
        if getattr(self._sockets, name, None) is None:
            import pyroute2
            setattr(self._sockets, name, pyroute2.IPVS() if name == "ipvs" else pyroute2.IPRoute())
        return getattr(self._sockets, name)

    # --- the kernel's state ---

    def _dummy_index(self, create: bool) -> int | None:
        found = self.ipr.link_lookup(ifname=DUMMY_INTERFACE)
        if found:
            return int(found[0])
        if not create:
            return None
        self.ipr.link("add", ifname=DUMMY_INTERFACE, kind="dummy")
        return int(self.ipr.link_lookup(ifname=DUMMY_INTERFACE)[0])

    def bound_addresses(self, index: int | None) -> set[str]:
        if index is None:
            return set()
        return {a.get_attr("IFA_ADDRESS") for a in self.ipr.get_addr(index=index, family=2)}

    def local_addresses(self, dummy_index: int | None) -> set[str]:
        """The node's IPv4 addresses for node ports: the given ones and every local one but
        loopback's and the dummy interface's."""
        found = {a.get_attr("IFA_ADDRESS") for a in self.ipr.get_addr(family=2)
                 if a["index"] != dummy_index}
        return set(self.node_ips) | {ip for ip in found if ip and not ip.startswith("127.")}

    def current(self, ours_addresses: set[str]) -> Table:
        from pyroute2 import IPVSService
        table: Table = {}
        for message in self.ipvs.service("dump"):
            attrs = _attrs(message, "IPVS_CMD_ATTR_SERVICE")
            address, port = attrs.get("IPVS_SVC_ATTR_ADDR"), attrs.get("IPVS_SVC_ATTR_PORT")
            protocol = PROTOCOL_NAMES.get(attrs.get("IPVS_SVC_ATTR_PROTOCOL", -1))
            if protocol is None or port is None or not (address in ours_addresses or (
                    address in self._node_port_addresses and port in NODE_PORT_RANGE)):
                continue
            flags = attrs.get("IPVS_SVC_ATTR_FLAGS") or {}
            persistent = (flags.get("flags", 0) if isinstance(flags, dict) else 0) & PERSISTENT
            vs = VirtualServer(address, port, protocol,
                               attrs.get("IPVS_SVC_ATTR_SCHED_NAME", SCHEDULER),
                               attrs.get("IPVS_SVC_ATTR_TIMEOUT", 0) if persistent else 0)
            service = IPVSService(addr=address, port=port, protocol=PROTOCOLS[protocol])
            table[vs] = frozenset(
                RealServer(d["IPVS_DEST_ATTR_ADDR"], d["IPVS_DEST_ATTR_PORT"])
                for d in (_attrs(m, "IPVS_CMD_ATTR_DEST")
                          for m in self.ipvs.dest("dump", service=service)))
        return table

    # --- applying ---

    @staticmethod
    def _service(vs: VirtualServer) -> Any:
        from pyroute2 import IPVSService
        return IPVSService(addr=vs.address, port=vs.port, protocol=PROTOCOLS[vs.protocol],
                           sched_name=vs.scheduler, timeout=vs.persistence,
                           flags={"flags": PERSISTENT if vs.persistence else 0,
                                  "mask": 0xFFFF})

    def apply(self, plan: IpvsPlan, index: int) -> None:
        from pyroute2 import IPVSDest
        for address in plan.add_addresses:
            self.ipr.addr("add", index=index, address=address, prefixlen=32)
        for vs in plan.add_services:
            self.ipvs.service("add", service=self._service(vs))
        for vs in plan.update_services:
            self.ipvs.service("set", service=self._service(vs))
        for vs, real in plan.add_dests:
            self.ipvs.dest("add", service=self._service(vs),
                           dest=IPVSDest(addr=real.address, port=real.port,
                                         fwd_method=FWD_MASQ, weight=1))
        for vs, real in plan.delete_dests:
            self.ipvs.dest("del", service=self._service(vs),
                           dest=IPVSDest(addr=real.address, port=real.port))
        for vs in plan.delete_services:
            self.ipvs.service("del", service=self._service(vs))
        for address in plan.delete_addresses:
            self.ipr.addr("del", index=index, address=address, prefixlen=32)

    def sync(self, state: ProxyState, full: bool = False) -> SyncResult:
        started = time.monotonic()
        _set_sysctl("net/ipv4/vs/conntrack", "1")  # iptables SNAT of IPVS-NATed packets
        # The dummy interface holds load balancer IPs: the kernel must not answer ARP for them
        # (only the announcing node does, node_agent/loadbalancer), nor use them as a source
        # (kube-proxy's strictARP).
        _set_sysctl("net/ipv4/conf/all/arp_ignore", "1")
        _set_sysctl("net/ipv4/conf/all/arp_announce", "2")
        index = self._dummy_index(create=True)
        assert index is not None  # create=True made it
        bound = self.bound_addresses(index)
        node_addresses = self.local_addresses(index)
        self._node_port_addresses |= node_addresses
        desired = desired_ipvs(state, sorted(node_addresses))
        plan = plan_ipvs(desired, self.current(bound), bound_ips(state), bound)
        self.apply(plan, index)
        self.iptables.restore(ipvs_ruleset(state, self.cluster_cidr))
        if full or not self.jumps_ready:
            for table, chain, rule in JUMPS:
                self.iptables.ensure_rule(table, chain, rule)
            self.jumps_ready = True
        return SyncResult(full, len(plan.add_services) + len(plan.update_services)
                          + len(plan.add_dests) + len(plan.delete_dests),
                          len(plan.delete_services), time.monotonic() - started)

    def cleanup(self) -> bool:
        index = self._dummy_index(create=False)
        ours = self.current(self.bound_addresses(index))
        for vs in ours:
            self.ipvs.service("del", service=self._service(vs))
        if index is not None:
            self.ipr.link("del", index=index)
        text = cleanup_ruleset(self.iptables.save())
        if text:
            self.iptables.restore(text)
        return bool(ours) or index is not None or bool(text)


def _set_sysctl(name: str, value: str) -> None:
    path = Path("/proc/sys") / name
    try:
        if path.exists() and path.read_text().strip() != value:
            path.write_text(value)
    except OSError as e:
        log.warning("cannot set %s: %s", name, e)
