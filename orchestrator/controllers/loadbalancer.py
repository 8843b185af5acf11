"""LoadBalancer address allocation, as MetalLB's controller (or k3s' ServiceLB) does it on bare
metal: each Service of type LoadBalancer that names no other implementation
(`spec.loadBalancerClass` unset) gets one address from the pool (the master's
--load-balancer-pool), written into `status.loadBalancer.ingress`; the node agents then announce
it on the LAN (node_agent/loadbalancer) and program it in their proxies.

The decision is pure (`assign`) and made for all such Services at once, from the watch cache:
a Service keeps the address it holds; `spec.loadBalancerIP` asks for one in particular; the
others get the lowest free one, older Services first. An address returns to the pool when its
Service is deleted or stops being a LoadBalancer. A Service that cannot get one keeps an empty
status (kubectl shows <pending>) and a Warning Event saying why; a Service of another class is
never touched.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterator
from dataclasses import dataclass

from kube.events import EventRecorder
from kube.kinds.service import Service
from kube.objects import Object
from kube.registry import by_kind
from kube.typed import typed_all
from orchestrator.api.objects import Objects
from orchestrator.api.status import ApiError
from orchestrator.controllers.base import Controller, Keys

log = logging.getLogger(__name__)

SVC = by_kind("v1", "Service")
ALL = "all"  # the one work key: every decision depends on every Service


@dataclass(frozen=True)
class AddressPool:
    """Inclusive ranges of IPv4 addresses, in the order given."""
    ranges: tuple[tuple[ipaddress.IPv4Address, ipaddress.IPv4Address], ...]
    text: str

    def __contains__(self, address: str) -> bool:
        try:
            ip = ipaddress.IPv4Address(address)
        except ValueError:
            return False
        return any(first <= ip <= last for first, last in self.ranges)

    def addresses(self) -> Iterator[str]:
        for first, last in self.ranges:
            for n in range(int(first), int(last) + 1):
                yield str(ipaddress.IPv4Address(n))

    def __str__(self) -> str:
        return self.text


def parse_pool(text: str) -> AddressPool:
    """"FIRST-LAST" ranges and CIDRs, comma-separated (a CIDR's network and broadcast addresses
    are left out); "" is an empty pool. ValueError names the entry that is wrong."""
    ranges = []
    for entry in (e.strip() for e in text.split(",")):
        if not entry:
            continue
        try:
            if "/" in entry:
                net = ipaddress.IPv4Network(entry, strict=True)
                hosts = list(net.hosts()) if net.num_addresses > 2 else list(net)
                ranges.append((hosts[0], hosts[-1]))
                continue
            first_text, sep, last_text = entry.partition("-")
            first = ipaddress.IPv4Address(first_text.strip())
            last = ipaddress.IPv4Address(last_text.strip()) if sep else first
        except ValueError as e:
            raise ValueError(f"load balancer pool entry {entry!r}: {e}") from None
        if last < first:
            raise ValueError(f"load balancer pool entry {entry!r}: the range ends before it "
                             "starts")
        ranges.append((first, last))
    return AddressPool(tuple(ranges), text)


@dataclass(frozen=True)
class Assignment:
    ip: str | None  # the address the Service should hold, None: none
    problem: str | None = None  # why it has none (the Warning Event's message)


def ours(service: Service) -> bool:
    return service.spec.type == "LoadBalancer" and service.spec.load_balancer_class is None \
        and service.metadata.deletion_timestamp is None


def held_address(service: Service) -> str | None:
    lb = service.status.load_balancer if service.status else None
    for ingress in (lb.ingress if lb else None) or ():
        if ingress.ip:
            return ingress.ip
    return None


def _key(service: Service) -> str:
    return f"{service.metadata.namespace}/{service.metadata.name}"


def assign(services: list[Service], pool: AddressPool) -> dict[str, Assignment]:
    """Pure: the address each of our LoadBalancer Services should hold (keyed namespace/name).
    Services first in `services` order after sorting by age win contested addresses."""
    wanting = sorted((s for s in services if ours(s)),
                     key=lambda s: (s.metadata.creation_timestamp or "", _key(s)))
    out: dict[str, Assignment] = {}
    taken: dict[str, str] = {}  # address → key of the Service holding it
    for s in wanting:  # keep what is held, if still allowed
        held, asked = held_address(s), s.spec.load_balancer_ip
        if held and held in pool and held not in taken and asked in (None, held):
            out[_key(s)], taken[held] = Assignment(held), _key(s)
    for s in wanting:  # then the addresses asked for
        asked = s.spec.load_balancer_ip
        if _key(s) in out or asked is None:
            continue
        if asked not in pool:
            out[_key(s)] = Assignment(None, f"loadBalancerIP {asked} is not in the address "
                                      f"pool ({pool or 'none configured'})")
        elif asked in taken:
            out[_key(s)] = Assignment(None, f"loadBalancerIP {asked} is already in use by "
                                      f"service {taken[asked]}")
        else:
            out[_key(s)], taken[asked] = Assignment(asked), _key(s)
    free = (a for a in pool.addresses() if a not in taken)
    for s in wanting:  # then the lowest free address for the rest
        if _key(s) in out:
            continue
        address = next(free, None)  # (the generator sees `taken` as it grows)
        if address is None:
            out[_key(s)] = Assignment(None, f"no available IPs in the address pool "
                                      f"({pool or 'none configured'})")
        else:
            out[_key(s)], taken[address] = Assignment(address), _key(s)
    return out


def wanted_status(service: Service, assignment: Assignment | None) -> Object:
    """The Service's status.loadBalancer as it should be."""
    if assignment is None or assignment.ip is None:
        return {}
    return {"ingress": [{"ip": assignment.ip, "ipMode": "VIP"}]}


class LoadBalancerController(Controller):
    name = "service-lb"
    workers = 1  # one decision for every Service at a time

    def __init__(self, objects: Objects, pool: AddressPool) -> None:
        super().__init__(objects)
        self.pool = pool
        self.events = EventRecorder(objects, "service-lb-controller")

    def triggers(self) -> dict[str, Keys]:
        return {"services": lambda e: [ALL]}

    def all_keys(self) -> list[str]:
        return [ALL]

    def sync(self, key: str) -> None:
        raw = self.store.cached("services")[0]
        services = typed_all(Service, raw)
        assignments = assign(services, self.pool)
        for service, obj in zip(services, raw):
            assignment = assignments.get(_key(service))
            if assignment is None and not (service.spec.type != "LoadBalancer"
                                           and held_address(service)):
                continue  # not ours (another class), or nothing to take back
            current = (obj.get("status") or {}).get("loadBalancer") or {}
            wanted = wanted_status(service, assignment)
            if current != wanted:
                self._write(obj, wanted, assignment)
            elif assignment is not None and assignment.problem:
                self.events.warning(obj, "AllocationFailed", assignment.problem)

    def _write(self, obj: Object, wanted: Object, assignment: Assignment | None) -> None:
        meta = obj["metadata"]
        status = {**(obj.get("status") or {}), "loadBalancer": wanted}
        try:
            self.objects.update(SVC, meta["namespace"], meta["name"], {**obj, "status": status},
                                subresource="status")
        except ApiError as e:
            if e.code == 404:
                return  # gone meanwhile: its address is free already
            raise  # a conflict: the next sync sees the new version
        if assignment is not None and assignment.ip:
            self.events.normal(obj, "IPAllocated", f'Assigned IP ["{assignment.ip}"]')
        elif assignment is not None and assignment.problem:
            self.events.warning(obj, "AllocationFailed", assignment.problem)
        else:
            self.events.normal(obj, "IPReleased", "the service is no longer a LoadBalancer: "
                               "its address is back in the pool")
