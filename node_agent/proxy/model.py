"""Pure: what the proxy programs, derived from Service and Endpoints objects.

A Service with several ports is several *service ports* (kube-proxy's ServicePortName); each one
is load-balanced on its own, over the ready endpoints of the Endpoints subset port that has the
same name and protocol. Both backends (iptables, IPVS) render from these two maps only.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from kube.objects import Object


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


def service_ports(service: Object) -> list[ServicePort]:
    """The service ports of one Service; none for a headless one (clusterIP None) or one the
    master has not given an address yet. Values are checked again here: whatever reaches the
    kernel has been validated by this process, not only by the API server."""
    meta, spec = service["metadata"], service.get("spec") or {}
    ip: str = spec.get("clusterIP") or ""
    if not _valid_ip(ip):
        return []
    affinity = 0
    if spec.get("sessionAffinity") == "ClientIP":
        config = ((spec.get("sessionAffinityConfig") or {}).get("clientIP") or {})
        affinity = int(config.get("timeoutSeconds") or 10800)
    out = []
    for port in spec.get("ports") or []:
        protocol = port.get("protocol", "TCP")
        if protocol not in ("TCP", "UDP", "SCTP") or not 1 <= int(port.get("port", 0)) <= 65535:
            continue
        node_port = port.get("nodePort") if spec.get("type") == "NodePort" else None
        out.append(ServicePort(
            ServicePortName(meta["namespace"], meta["name"], port.get("name") or "", protocol),
            ip, int(port["port"]), int(node_port) if node_port else None, affinity))
    return out


def ready_endpoints(endpoints: Object) -> dict[ServicePortName, tuple[Endpoint, ...]]:
    """Ready addresses of an Endpoints object, per service port (sorted, duplicates merged).
    Not-ready addresses never receive traffic."""
    meta = endpoints["metadata"]
    out: dict[ServicePortName, set[Endpoint]] = {}
    for subset in endpoints.get("subsets") or []:
        for port in subset.get("ports") or []:
            name = ServicePortName(meta["namespace"], meta["name"], port.get("name") or "",
                                   port.get("protocol", "TCP"))
            for address in subset.get("addresses") or []:
                if _valid_ip(address.get("ip")) and 1 <= int(port.get("port", 0)) <= 65535:
                    out.setdefault(name, set()).add(
                        Endpoint(address["ip"], int(port["port"]), address.get("nodeName")))
    return {name: tuple(sorted(eps)) for name, eps in out.items()}


@dataclass
class ProxyState:
    """Every service port and its ready endpoints: the whole input of a sync."""
    services: dict[ServicePortName, ServicePort]
    endpoints: dict[ServicePortName, tuple[Endpoint, ...]]

    @classmethod
    def build(cls, services: list[Object], endpoints: list[Object]) -> ProxyState:
        ports = {p.name: p for s in services for p in service_ports(s)}
        eps: dict[ServicePortName, tuple[Endpoint, ...]] = {}
        for e in endpoints:
            eps.update(ready_endpoints(e))
        return cls(ports, {k: v for k, v in eps.items() if k in ports})
