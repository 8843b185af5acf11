"""Service (core/v1): a stable virtual IP (and node ports) in front of the pods a selector
picks; the agents' proxies program it, the endpoints controller follows the pods."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any, Literal, Self

from pydantic import Field, model_validator

from kube import names
from kube.kinds.base import AGE, ATOMIC, Column, Kind, map_list
from kube.meta import (Dns1123Subdomain, IntOrString, Model, ObjectMeta, Port, Protocol,
                       QualifiedName, ServicePortName, refused, unique)
from kube.printing import labels_text, service_ports


class ServicePort(Model):
    name: ServicePortName | None = None
    protocol: Protocol = "TCP"
    port: Port
    target_port: IntOrString | None = None
    node_port: int | None = None

    @model_validator(mode="after")
    def _defaults(self) -> Self:
        if self.target_port is None:
            self._fill(target_port=self.port)
        if isinstance(self.target_port, int) and not 1 <= self.target_port <= 65535:
            raise ValueError("targetPort must be between 1 and 65535")
        return self


class ClientIPConfig(Model):
    timeout_seconds: int = Field(10800, ge=1, le=86400)


class SessionAffinityConfig(Model):
    client_ip: ClientIPConfig | None = Field(None, alias="clientIP")


LOAD_BALANCER_IP_MODES = ("VIP", "Proxy")


class ServiceSpec(Model):
    type: Literal["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"] = "ClusterIP"
    # ExternalName: the service's DNS name is a CNAME to this one (no address, no proxying)
    external_name: Dns1123Subdomain | None = None
    selector: dict[str, str] | None = None
    ports: list[ServicePort] = Field(default_factory=list)  # required unless headless
    cluster_ip: str | None = Field(None, alias="clusterIP")
    cluster_ips: list[str] | None = Field(None, alias="clusterIPs")
    session_affinity: Literal["None", "ClientIP"] = "None"
    session_affinity_config: SessionAffinityConfig | None = None
    # every matching pod's address is published, ready or not (a StatefulSet's peers find
    # each other before they are ready)
    publish_not_ready_addresses: bool | None = None
    # NodePort and LoadBalancer: Cluster (any node forwards to any endpoint, the client's
    # address masqueraded) or Local (a node forwards only to its own endpoints and keeps the
    # client's address; a LoadBalancer address is announced only by nodes that have one)
    external_traffic_policy: Literal["Cluster", "Local"] | None = None
    # LoadBalancer: the address asked for (deprecated in Kubernetes, still honoured), the
    # implementation that should serve it (none: this cluster's own; another: left to it), and
    # whether node ports are allocated for it (default true)
    load_balancer_ip: str | None = Field(None, alias="loadBalancerIP")
    load_balancer_class: QualifiedName | None = None
    allocate_load_balancer_node_ports: bool | None = None
    # Kubernetes has these; this orchestrator does not implement them yet (422 when set)
    load_balancer_source_ranges: Annotated[list[str] | None,
                                           refused("loadBalancerSourceRanges")] = None
    health_check_node_port: Annotated[int | None, refused("healthCheckNodePort")] = None
    external_ips: Annotated[list[str] | None, refused("externalIPs")] = \
        Field(None, alias="externalIPs")
    internal_traffic_policy: Annotated[Literal["Cluster", "Local"] | None,
                                       refused('internalTrafficPolicy "Local"', ("Local",))] = None

    @model_validator(mode="after")
    def _ports(self) -> Self:
        if self.type == "ExternalName":
            if not self.external_name:
                raise ValueError("externalName: Required value")
            if self.cluster_ip:
                raise ValueError("clusterIP: Forbidden: may not be set for ExternalName "
                                 "services")
            return self
        if self.external_name:
            raise ValueError("externalName: Forbidden: may only be set when type is "
                             "ExternalName")
        self._load_balancer_fields()
        if not self.ports and self.cluster_ip != "None":
            raise ValueError("ports: Required value (a service that is not headless needs one)")
        if len(self.ports) > 1 and any(not p.name for p in self.ports):
            raise ValueError("ports: each port must have a name when there is more than one")
        unique(self.ports, "name", "port name")
        seen = set()
        for p in self.ports:
            if (p.port, p.protocol) in seen:
                raise ValueError(f"duplicate port {p.port}/{p.protocol}")
            seen.add((p.port, p.protocol))
            if self.type == "ClusterIP" and p.node_port:
                raise ValueError("nodePort may only be set when type is NodePort or "
                                 "LoadBalancer")
        if self.session_affinity == "ClientIP" and self.session_affinity_config is None:
            self._fill(session_affinity_config=SessionAffinityConfig(client_ip=ClientIPConfig()))
        return self


    def _load_balancer_fields(self) -> None:
        """Kubernetes' rules and defaults for the fields of externally reachable services."""
        external = self.type in ("NodePort", "LoadBalancer")
        if external and self.external_traffic_policy is None:
            self._fill(external_traffic_policy="Cluster")
        elif not external and self.external_traffic_policy is not None:
            raise ValueError("externalTrafficPolicy: Invalid value: may only be set for "
                             "externally-accessible services (NodePort, LoadBalancer)")
        if self.type == "LoadBalancer":
            if self.cluster_ip == "None":
                raise ValueError("clusterIP: Invalid value: 'None': may not be set to 'None' "
                                 "for LoadBalancer services")
            if self.allocate_load_balancer_node_ports is None:
                self._fill(allocate_load_balancer_node_ports=True)
            if self.load_balancer_ip is not None:
                try:
                    ipaddress.IPv4Address(self.load_balancer_ip)
                except ValueError:
                    raise ValueError(f"loadBalancerIP: Invalid value: {self.load_balancer_ip!r}:"
                                     " must be a valid IPv4 address") from None
            return
        for field, value in (("loadBalancerIP", self.load_balancer_ip),
                             ("loadBalancerClass", self.load_balancer_class),
                             ("allocateLoadBalancerNodePorts",
                              self.allocate_load_balancer_node_ports)):
            if value is not None:
                raise ValueError(f"{field}: Forbidden: may only be used when `type` is "
                                 "'LoadBalancer'")

    @property
    def allocates_node_ports(self) -> bool:
        return self.type == "NodePort" or (self.type == "LoadBalancer"
                                           and self.allocate_load_balancer_node_ports is not False)


class PortStatus(Model):
    port: Port
    protocol: Protocol
    error: str | None = None


class LoadBalancerIngress(Model):
    ip: str | None = None
    hostname: str | None = None
    # VIP: traffic reaches the nodes with the address as its destination (this cluster's
    # announcer); Proxy: a proxy in front delivers it to the node's own address
    ip_mode: Literal["VIP", "Proxy"] | None = None
    ports: list[PortStatus] | None = None


class LoadBalancerStatus(Model):
    ingress: list[LoadBalancerIngress] | None = None


class ServiceStatus(Model):
    load_balancer: LoadBalancerStatus | None = None


class Service(Model):
    api_version: Literal["v1"] = "v1"
    kind: Literal["Service"] = "Service"
    metadata: ObjectMeta
    spec: ServiceSpec
    status: ServiceStatus | None = None


KIND = Kind(
    "Service", "services", "", "v1", True, Service, names.dns1035_label, short_names=("svc",),
    categories=("all",), subresources=("status",), status_on_create="reset",
    immutable=("spec.clusterIP", "spec.loadBalancerClass"),
    field_selectors=("spec.clusterIP", "spec.type"),
    columns=(
        Column("TYPE", lambda s, _: s["spec"].get("type", "ClusterIP")),
        Column("CLUSTER-IP", lambda s, _: s["spec"].get("clusterIP") or "<none>"),
        Column("EXTERNAL-IP", lambda s, _: external_ips(s)),
        Column("PORT(S)", lambda s, _: service_ports(s)),
        AGE,
        Column("SELECTOR", lambda s, _: labels_text(s["spec"].get("selector")), priority=1),
    ),
    list_merge={"spec.ports": map_list("port", "protocol"), "spec.clusterIPs": ATOMIC},
)


def external_ips(service: dict[str, Any]) -> str:
    """kubectl's EXTERNAL-IP cell: the load balancer's addresses, <pending> while a
    LoadBalancer Service has none, else <none>."""
    ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    addresses = [i.get("ip") or i.get("hostname") or "" for i in ingress]
    if any(addresses):
        return ",".join(a for a in addresses if a)
    return "<pending>" if service["spec"].get("type") == "LoadBalancer" else "<none>"
