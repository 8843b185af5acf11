"""Address allocation: Service ClusterIPs (10.96.0.0/12), NodePorts (30000-32767) and Node pod
CIDRs (10.244.N.0/24). Pure: which values an object holds (as store Claims), checks of
requested values, and choices for missing ones. The API layer writes an object together with its
claims in one store transaction that requires them to be free, so two objects can never hold one
address, even when different master processes create them at the same moment.
"""

from __future__ import annotations

import ipaddress
import random

from kube.objects import Object
from kube.validation import FieldError
from orchestrator.store.claims import Claim

SERVICE_CIDR = ipaddress.IPv4Network("10.96.0.0/12")
POD_SUPERNET = ipaddress.IPv4Network("10.244.0.0/16")
POD_CIDR_PREFIX = 24
NODE_PORT_RANGE = range(30000, 32768)
CLUSTER_IPS, NODE_PORTS, POD_CIDRS = "clusterips", "nodeports", "podcidrs"
RESERVED_POD_RANGE = ipaddress.IPv4Network("10.244.0.0/24")  # never handed to a node


def cluster_ip_claim(ip: str) -> Claim:
    return Claim(CLUSTER_IPS, ip)


def node_port_claim(port: int) -> Claim:
    return Claim(NODE_PORTS, str(port))


def pod_cidr_claim(cidr: str) -> Claim:
    return Claim(POD_CIDRS, cidr)


def held_claims(kind: str, obj: Object) -> dict[Claim, str]:
    """Claim → the field that holds it, for every address `obj` holds."""
    spec = obj.get("spec") or {}
    claims: dict[Claim, str] = {}
    if kind == "Service":
        ip = spec.get("clusterIP")
        if ip and ip != "None":
            claims[cluster_ip_claim(ip)] = "spec.clusterIP"
        for i, port in enumerate(spec.get("ports") or []):
            if port.get("nodePort"):
                claims[node_port_claim(port["nodePort"])] = f"spec.ports[{i}].nodePort"
    elif kind == "Node" and spec.get("podCIDR"):
        claims[pod_cidr_claim(spec["podCIDR"])] = "spec.podCIDR"
    return claims


def check_requested(kind: str, obj: Object) -> list[FieldError]:
    """Requested values that are out of range or malformed (taken ones are found at commit)."""
    spec = obj.get("spec") or {}
    errors = []
    if kind == "Service":
        ip = spec.get("clusterIP")
        if ip and ip != "None":
            try:
                address = ipaddress.IPv4Address(ip)
            except ValueError:
                errors.append(FieldError("spec.clusterIP", f"Invalid value: {ip!r}: must be a "
                                         "valid IPv4 address or 'None'"))
            else:
                if address not in SERVICE_CIDR or address in (SERVICE_CIDR.network_address,
                                                              SERVICE_CIDR.broadcast_address):
                    errors.append(FieldError("spec.clusterIP", f"Invalid value: {ip!r}: provided "
                                             f"IP is not in the valid range {SERVICE_CIDR}"))
        for i, port in enumerate(spec.get("ports") or []):
            node_port = port.get("nodePort")
            if node_port and node_port not in NODE_PORT_RANGE:
                errors.append(FieldError(f"spec.ports[{i}].nodePort", f"Invalid value: "
                                         f"{node_port}: provided port is not in the valid range "
                                         f"{NODE_PORT_RANGE.start}-{NODE_PORT_RANGE.stop - 1}"))
        if spec.get("clusterIP") == "None" and spec.get("type") == "NodePort":
            errors.append(FieldError("spec.clusterIP", "Invalid value: 'None': may not be set "
                                     "to 'None' for NodePort services"))
    elif kind == "Node" and spec.get("podCIDR"):
        try:
            cidr = ipaddress.IPv4Network(spec["podCIDR"])
        except ValueError:
            cidr = None
        if cidr is None or cidr.prefixlen != POD_CIDR_PREFIX or not cidr.subnet_of(POD_SUPERNET):
            errors.append(FieldError("spec.podCIDR", f"Invalid value: {spec['podCIDR']!r}: must "
                                     f"be a /{POD_CIDR_PREFIX} inside {POD_SUPERNET}"))
    return errors


def allocates_node_ports(spec: dict) -> bool:
    """A NodePort Service, or a LoadBalancer one that did not opt out
    (allocateLoadBalancerNodePorts: false), gets a node port per port."""
    return spec.get("type") == "NodePort" or (
        spec.get("type") == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts") is not False)


def carry_over(kind: str, old: Object, new: Object) -> Object:
    """On update, keep what the old object holds where the new one leaves it unset (as
    `kubectl apply` of a manifest without clusterIP or nodePort does). Returns a new object."""
    if kind not in ("Service", "Node"):
        return new
    out = {**new, "spec": dict(new.get("spec") or {})}
    old_spec, spec = old.get("spec") or {}, out["spec"]
    if kind == "Node":
        if not spec.get("podCIDR") and old_spec.get("podCIDR"):
            spec["podCIDR"] = old_spec["podCIDR"]
            spec["podCIDRs"] = old_spec.get("podCIDRs") or [old_spec["podCIDR"]]
        return out
    if not spec.get("clusterIP") and old_spec.get("clusterIP"):
        spec["clusterIP"] = old_spec["clusterIP"]
        spec["clusterIPs"] = old_spec.get("clusterIPs") or [old_spec["clusterIP"]]
    if allocates_node_ports(spec):
        old_ports = {(p.get("port"), p.get("protocol", "TCP")): p.get("nodePort")
                     for p in old_spec.get("ports") or []}
        spec["ports"] = [
            {**p, "nodePort": old_ports.get((p.get("port"), p.get("protocol", "TCP")))}
            if not p.get("nodePort") and old_ports.get((p.get("port"), p.get("protocol", "TCP")))
            else p
            for p in spec.get("ports") or []]
    return out


def assign(kind: str, obj: Object, rng: random.Random,
           avoid: set[Claim]) -> tuple[Object, set[Claim]]:
    """Fill what `obj` should hold but does not (a random free-looking choice, never one of the
    claims in `avoid`); returns the new object and the claims chosen here (not requested)."""
    chosen: set[Claim] = set()
    if kind == "Service":
        spec = dict(obj.get("spec") or {})
        if spec.get("type") == "ExternalName":  # a name only: no address to allocate
            return obj, chosen
        if not spec.get("clusterIP"):
            ip = _random_ip(rng, avoid)
            spec["clusterIP"], spec["clusterIPs"] = ip, [ip]
            chosen.add(cluster_ip_claim(ip))
        elif spec["clusterIP"] != "None":
            spec["clusterIPs"] = [spec["clusterIP"]]
        if allocates_node_ports(spec):
            ports = []
            used = {p["nodePort"] for p in spec.get("ports") or [] if p.get("nodePort")}
            for p in spec.get("ports") or []:
                if not p.get("nodePort"):
                    node_port = _random_port(rng, avoid, used)
                    used.add(node_port)
                    chosen.add(node_port_claim(node_port))
                    p = {**p, "nodePort": node_port}
                ports.append(p)
            spec["ports"] = ports
        return {**obj, "spec": spec}, chosen
    if kind == "Node":
        spec = dict(obj.get("spec") or {})
        if not spec.get("podCIDR"):
            # One of the first few free subnets, at random: nodes registering together rarely
            # race for the same one, and the range still fills from the bottom.
            free = []
            for subnet in POD_SUPERNET.subnets(new_prefix=POD_CIDR_PREFIX):
                if not subnet.overlaps(RESERVED_POD_RANGE) and \
                        pod_cidr_claim(str(subnet)) not in avoid:
                    free.append(str(subnet))
                    if len(free) == 32:
                        break
            if free:
                cidr = rng.choice(free)
                spec["podCIDR"], spec["podCIDRs"] = cidr, [cidr]
                chosen.add(pod_cidr_claim(cidr))
        elif not spec.get("podCIDRs"):
            spec["podCIDRs"] = [spec["podCIDR"]]
        return {**obj, "spec": spec}, chosen
    return obj, chosen


def _random_ip(rng: random.Random, avoid: set[Claim]) -> str:
    first = int(SERVICE_CIDR.network_address) + 2  # .1 is kept for the API's own Service
    last = int(SERVICE_CIDR.broadcast_address) - 1
    while True:
        ip = str(ipaddress.IPv4Address(rng.randint(first, last)))
        if cluster_ip_claim(ip) not in avoid:
            return ip


def _random_port(rng: random.Random, avoid: set[Claim], used: set[int]) -> int:
    while True:
        port = rng.randrange(NODE_PORT_RANGE.start, NODE_PORT_RANGE.stop)
        if port not in used and node_port_claim(port) not in avoid:
            return port
