"""Pure: what the proxy programs, derived from Service and Endpoints objects.

A Service with several ports is several *service ports* (kube-proxy's ServicePortName); each one
is load-balanced on its own, over the ready endpoints of the Endpoints subset port that has the
same name and protocol. Both backends (iptables, IPVS) render from these two maps only.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from kube.kinds.endpoints import Endpoints
from kube.kinds.service import Service
from kube.objects import Object
from kube.typed import typed_all


@dataclass(frozen=True, order=True)
class ServicePortName:
    namespace: str
    name: str
    port: str  # the port's name ("" for the single unnamed port)
    protocol: str = "TCP"

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}" + (f":{self.port}" if self.port else "")


@dataclass(frozen=True)
class ServicePort:
    name: ServicePortName
    cluster_ip: str
    port: int
    node_port: int | None = None
    affinity_seconds: int = 0  # sessionAffinity ClientIP timeout; 0 = no affinity
    # a LoadBalancer Service's addresses (status.loadBalancer.ingress), programmed on every
    # node: the one that announces an address gets its traffic, the others hold it for
    # in-cluster clients and a takeover
    load_balancer_ips: tuple[str, ...] = ()
    # externalTrafficPolicy Local: traffic from outside the cluster (node port, load balancer
    # address) goes to this node's own endpoints only, with the client's address kept
    local_only: bool = False

    @property
    def external(self) -> bool:
        return bool(self.node_port or self.load_balancer_ips)


@dataclass(frozen=True, order=True)
class Endpoint:
    ip: str
    port: int
    node_name: str | None = None

    def __str__(self) -> str:
        return f"{self.ip}:{self.port}"


def _valid_ip(text: Any) -> bool:
    try:
        ipaddress.IPv4Address(text)
        return True
    except (ipaddress.AddressValueError, ValueError, TypeError):
        return False


def service_ports(service: Service) -> list[ServicePort]:
    """The service ports of one typed Service; none for a headless one (clusterIP None) or one
    the master has not given an address yet. Values are checked again here: whatever reaches
    the kernel has been validated by this process (parsing the model), not only by the API
    server; the address, which the model keeps as text, is checked as an IPv4 address."""
    meta, spec = service.metadata, service.spec
    ip = spec.cluster_ip or ""
    if not _valid_ip(ip):
        return []
    affinity = 0
    if spec.session_affinity == "ClientIP":
        config = spec.session_affinity_config.client_ip if spec.session_affinity_config else None
        affinity = config.timeout_seconds if config else 10800
    lb = service.status.load_balancer if service.status else None
    lb_ips = tuple(sorted({i.ip for i in (lb.ingress if lb else None) or ()
                           if i.ip and _valid_ip(i.ip)})) if spec.type == "LoadBalancer" else ()
    local = spec.external_traffic_policy == "Local"
    out = []
    for port in spec.ports:
        node_port = port.node_port if spec.type in ("NodePort", "LoadBalancer") else None
        out.append(ServicePort(
            ServicePortName(meta.namespace or "", meta.name or "", port.name or "", port.protocol),
            ip, port.port, node_port or None, affinity, lb_ips, local))
    return out


def ready_endpoints(endpoints: Endpoints) -> dict[ServicePortName, tuple[Endpoint, ...]]:
    """Ready addresses of a typed Endpoints object, per service port (sorted, duplicates
    merged). Not-ready addresses never receive traffic."""
    meta = endpoints.metadata
    out: dict[ServicePortName, set[Endpoint]] = {}
    for subset in endpoints.subsets or ():
        for port in subset.ports or ():
            name = ServicePortName(meta.namespace or "", meta.name or "", port.name or "",
                                   port.protocol)
            for address in subset.addresses or ():
                if _valid_ip(address.ip):
                    out.setdefault(name, set()).add(
                        Endpoint(address.ip, port.port, address.node_name))
    return {name: tuple(sorted(eps)) for name, eps in out.items()}


@dataclass
class ProxyState:
    """Every service port and its ready endpoints: the whole input of a sync."""
    services: dict[ServicePortName, ServicePort]
    endpoints: dict[ServicePortName, tuple[Endpoint, ...]]
    node_name: str = ""  # this node: its endpoints are the local ones

    def local_endpoints(self, name: ServicePortName) -> tuple[Endpoint, ...]:
        return tuple(e for e in self.endpoints.get(name, ()) if e.node_name == self.node_name)

    @classmethod
    def build(cls, services: list[Object], endpoints: list[Object],
              node_name: str = "") -> ProxyState:
        """The state from the informers' Services and Endpoints (parsed once per version; an
        object that does not parse is left out, and logged)."""
        ports = {p.name: p for s in typed_all(Service, services) for p in service_ports(s)}
        eps: dict[ServicePortName, tuple[Endpoint, ...]] = {}
        for e in typed_all(Endpoints, endpoints):
            eps.update(ready_endpoints(e))
        return cls(ports, {k: v for k, v in eps.items() if k in ports}, node_name)
