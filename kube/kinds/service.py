"""Service (core/v1): a stable virtual IP (and node ports) in front of the pods a selector
picks; the agents' proxies program it, the endpoints controller follows the pods."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from kube import names
from kube.kinds.base import AGE, ATOMIC, Column, Kind, map_list
from kube.meta import (Dns1123Subdomain, IntOrString, Model, ObjectMeta, Port, Protocol,
                       ServicePortName, unique)
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


class ServiceSpec(Model):
    type: Literal["ClusterIP", "NodePort", "ExternalName"] = "ClusterIP"
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
                raise ValueError("nodePort may only be set when type is NodePort")
        if self.session_affinity == "ClientIP" and self.session_affinity_config is None:
            self._fill(session_affinity_config=SessionAffinityConfig(client_ip=ClientIPConfig()))
        return self


class LoadBalancerStatus(Model):
    ingress: list[dict[str, str]] | None = None


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
    immutable=("spec.clusterIP",), field_selectors=("spec.clusterIP", "spec.type"),
    columns=(
        Column("TYPE", lambda s, _: s["spec"].get("type", "ClusterIP")),
        Column("CLUSTER-IP", lambda s, _: s["spec"].get("clusterIP") or "<none>"),
        Column("EXTERNAL-IP", lambda s, _: ",".join(s["spec"].get("externalIPs") or [])
               or "<none>"),
        Column("PORT(S)", lambda s, _: service_ports(s)),
        AGE,
        Column("SELECTOR", lambda s, _: labels_text(s["spec"].get("selector")), priority=1),
    ),
    list_merge={"spec.ports": map_list("port", "protocol"), "spec.clusterIPs": ATOMIC},
)
