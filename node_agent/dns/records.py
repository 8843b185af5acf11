"""Pure: the answer to one DNS question about the cluster domain.

    <svc>.<ns>.svc.<domain>                 A     the cluster IP (a headless service: the
                                                  ready endpoints' addresses)
    _<port>._<proto>.<svc>.<ns>.svc.<domain> SRV  0 100 <port> <svc>.<ns>.svc.<domain>.
                                                  (named ports only), its A in additional
    <svc>.<ns>.svc.<domain> (ExternalName)  CNAME the external name
    <host>.<svc>.<ns>.svc.<domain>          A     the address of the endpoint whose hostname is
                                                  <host> (a StatefulSet's pod, or a pod whose
                                                  subdomain is the service)
    <a-b-c-d>.<ns>.pod.<domain>             A     a.b.c.d
    any other name in the domain                  NXDOMAIN
    a known name, another type                    NOERROR without answers (NODATA)

Names outside the domain are not answered here (`None`): the server forwards them. The short
forms (`web`, `web.default`) reach this as full names through the pods' search path.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Protocol

from kube.kinds.endpoints import EndpointAddress, Endpoints
from kube.kinds.service import Service
from kube.objects import Object
from kube.typed import Unreadable, typed

CLUSTER_DOMAIN = "cluster.local"
TTL = 5  # seconds: short, so a changed service is seen soon


class Lookup(Protocol):
    def service(self, namespace: str, name: str) -> Object | None: ...

    def endpoints_of(self, namespace: str, name: str) -> Object | None: ...


@dataclass(frozen=True)
class Record:
    name: str  # absolute, with the trailing dot
    type: str  # A, SRV
    data: str  # presentation format: "10.96.0.10", "0 100 80 web.default.svc.cluster.local."
    ttl: int = TTL


@dataclass
class Answer:
    rcode: str = "NOERROR"  # NOERROR, NXDOMAIN
    answers: list[Record] = field(default_factory=list)
    additional: list[Record] = field(default_factory=list)


def in_domain(name: str, domain: str = CLUSTER_DOMAIN) -> bool:
    name = name.rstrip(".").lower()
    return name == domain or name.endswith("." + domain)


def _ready_addresses(svc: Service, lookup: Lookup) -> list[EndpointAddress]:
    """The ready addresses of the service's endpoints ([] when there are none, or unreadable)."""
    found = lookup.endpoints_of(svc.metadata.namespace or "", svc.metadata.name or "")
    try:
        endpoints = typed(Endpoints, found) if found is not None else None
    except Unreadable:
        return []
    return [a for s in (endpoints.subsets if endpoints else None) or ()
            for a in s.addresses or ()]


def _service_ips(svc: Service, lookup: Lookup) -> list[str]:
    ip = svc.spec.cluster_ip
    if ip and ip != "None":
        return [ip]
    return sorted({a.ip for a in _ready_addresses(svc, lookup)})


def _hostname_ips(svc: Service, hostname: str, lookup: Lookup) -> list[str]:
    """The ready addresses of `svc`'s endpoints that carry `hostname`."""
    return sorted({a.ip for a in _ready_addresses(svc, lookup)
                   if (a.hostname or "").lower() == hostname})


def resolve(qname: str, qtype: str, lookup: Lookup, domain: str = CLUSTER_DOMAIN
            ) -> Answer | None:
    """The answer for (qname, qtype), or None when qname is outside `domain`."""
    if not in_domain(qname, domain):
        return None
    absolute = qname.rstrip(".").lower() + "."
    labels = absolute.rstrip(".")[: -len(domain)].rstrip(".").split(".") \
        if absolute.rstrip(".") != domain else []
    nx = Answer("NXDOMAIN")
    # <a-b-c-d>.<ns>.pod
    if len(labels) == 3 and labels[2] == "pod":
        try:
            ip = str(ipaddress.IPv4Address(labels[0].replace("-", ".")))
        except ValueError:
            return nx
        return Answer(answers=[Record(absolute, "A", ip)] if qtype in ("A", "ANY") else [])
    # [_port._proto. | <host>.]<svc>.<ns>.svc
    if len(labels) not in (3, 4, 5) or labels[-1] != "svc":
        return nx
    svc_name, namespace = labels[-3], labels[-2]
    found = lookup.service(namespace, svc_name)
    try:
        svc = typed(Service, found) if found is not None else None
    except Unreadable:
        svc = None
    if svc is None:
        return nx
    target = f"{svc_name}.{namespace}.svc.{domain}."
    if svc.spec.type == "ExternalName":
        if len(labels) != 3:
            return nx
        return Answer(answers=[Record(absolute, "CNAME",
                                      (svc.spec.external_name or "").rstrip(".") + ".")])
    if len(labels) == 4:
        ips = _hostname_ips(svc, labels[0], lookup)
        if not ips:
            return nx
        return Answer(answers=[Record(absolute, "A", ip) for ip in ips]
                      if qtype in ("A", "ANY") else [])
    ips = _service_ips(svc, lookup)
    if len(labels) == 3:
        if qtype in ("A", "ANY"):
            return Answer(answers=[Record(absolute, "A", ip) for ip in ips])
        return Answer()
    port_label, proto_label = labels[0], labels[1]
    if not (port_label.startswith("_") and proto_label.startswith("_")):
        return nx
    port = next((p for p in svc.spec.ports
                 if (p.name or "").lower() == port_label[1:]
                 and p.protocol.lower() == proto_label[1:]), None)
    if port is None:
        return nx
    if qtype not in ("SRV", "ANY"):
        return Answer()
    return Answer(answers=[Record(absolute, "SRV", f"0 100 {port.port} {target}")],
                  additional=[Record(target, "A", ip) for ip in ips])
