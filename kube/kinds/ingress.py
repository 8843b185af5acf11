"""Ingress (networking.k8s.io/v1): HTTP(S) routes from host names and paths to Services, served
by the ingress controller of its class (ingress_controller/ for this cluster's nginx one).
The controller writes the address it is reachable at into status.loadBalancer."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import Field, model_validator

from kube import names
from kube.kinds.base import AGE, Column, Kind
from kube.kinds.service import LoadBalancerStatus
from kube.meta import Dns1035Label, Model, ObjectMeta, Port, refused

PATH_TYPES = ("Exact", "Prefix", "ImplementationSpecific")


class ServiceBackendPort(Model):
    name: Dns1035Label | None = None
    number: Port | None = None

    @model_validator(mode="after")
    def _one(self) -> Self:
        if (self.name is None) == (self.number is None):
            raise ValueError("exactly one of name and number must be given")
        return self


class IngressServiceBackend(Model):
    name: Dns1035Label
    port: ServiceBackendPort


class IngressBackend(Model):
    service: IngressServiceBackend | None = None
    resource: Annotated[dict[str, Any] | None, refused("a resource backend")] = None

    @model_validator(mode="after")
    def _service(self) -> Self:
        if self.service is None and self.resource is None:
            raise ValueError("service: Required value")
        return self


class HTTPIngressPath(Model):
    path: str | None = None
    path_type: Literal["Exact", "Prefix", "ImplementationSpecific"]
    backend: IngressBackend

    @model_validator(mode="after")
    def _path(self) -> Self:
        if self.path_type in ("Exact", "Prefix"):
            if not self.path or not self.path.startswith("/"):
                raise ValueError(f"path: Invalid value: {self.path!r}: must be an absolute "
                                 "path")
            for bad in ("//", "/./", "/../", "%2f", "%2F"):
                if bad in self.path:
                    raise ValueError(f"path: Invalid value: {self.path!r}: must not contain "
                                     f"'{bad}'")
        elif self.path and not self.path.startswith("/"):
            raise ValueError(f"path: Invalid value: {self.path!r}: must be an absolute path")
        if self.path is None:
            self._fill(path="/")
        return self


class HTTPIngressRuleValue(Model):
    paths: list[HTTPIngressPath] = Field(min_length=1)


class IngressRule(Model):
    host: str | None = None
    http: HTTPIngressRuleValue | None = None

    @model_validator(mode="after")
    def _host(self) -> Self:
        if self.host:
            bare = self.host[2:] if self.host.startswith("*.") else self.host
            problems = names.dns1123_subdomain(bare)
            if problems or "*" in bare:
                raise ValueError(f"host: Invalid value: {self.host!r}: a wildcard DNS-1123 "
                                 "subdomain must start with '*.', followed by a valid DNS "
                                 "subdomain")
        return self


class IngressTLS(Model):
    hosts: list[str] | None = None
    secret_name: str | None = None


class IngressSpec(Model):
    ingress_class_name: str | None = None
    default_backend: IngressBackend | None = None
    tls: list[IngressTLS] | None = None
    rules: list[IngressRule] | None = None

    @model_validator(mode="after")
    def _something(self) -> Self:
        if self.default_backend is None and not self.rules:
            raise ValueError("either `defaultBackend` or `rules` must be specified")
        return self


class IngressStatus(Model):
    load_balancer: LoadBalancerStatus | None = None


class Ingress(Model):
    api_version: Literal["networking.k8s.io/v1"] = "networking.k8s.io/v1"
    kind: Literal["Ingress"] = "Ingress"
    metadata: ObjectMeta
    spec: IngressSpec
    status: IngressStatus | None = None


def _hosts(ingress: dict[str, Any], _: object) -> str:
    hosts = [r.get("host") or "*" for r in (ingress.get("spec") or {}).get("rules") or []]
    return ",".join(hosts) or "*"


def _address(ingress: dict[str, Any], _: object) -> str:
    lb = ((ingress.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    return ",".join(i.get("ip") or i.get("hostname") or "" for i in lb)


def _ports(ingress: dict[str, Any], _: object) -> str:
    return "80, 443" if (ingress.get("spec") or {}).get("tls") else "80"


KIND = Kind(
    "Ingress", "ingresses", "networking.k8s.io", "v1", True, Ingress, names.dns1123_subdomain,
    short_names=("ing",), subresources=("status",), status_on_create="reset",
    columns=(Column("CLASS", lambda i, _: (i.get("spec") or {}).get("ingressClassName")
                    or "<none>"),
             Column("HOSTS", _hosts), Column("ADDRESS", _address), Column("PORTS", _ports), AGE),
)
