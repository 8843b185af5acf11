"""NetworkPolicy (networking.k8s.io/v1): which connections the pods a selector picks accept
(ingress) and open (egress). A pod no policy selects is not isolated; once a policy of a type
selects it, only what some policy of that type allows is let through, replies of allowed
connections always. The node agents enforce it in the kernel for their pods
(node_agent/netpol)."""

from __future__ import annotations

import ipaddress
from typing import Literal, Self

from pydantic import Field, model_validator

from kube import names
from kube.kinds.base import AGE, Column, Kind
from kube.meta import IntOrString, LabelSelector, Model, ObjectMeta, Protocol
from kube.printing import selector_text


class IPBlock(Model):
    cidr: str
    except_: list[str] | None = Field(None, alias="except")

    @model_validator(mode="after")
    def _cidrs(self) -> Self:
        try:
            block = ipaddress.IPv4Network(self.cidr, strict=False)
        except ValueError:
            raise ValueError(f"cidr: Invalid value: {self.cidr!r}: must be an IPv4 CIDR") \
                from None
        for i, text in enumerate(self.except_ or ()):
            try:
                inner = ipaddress.IPv4Network(text, strict=False)
            except ValueError:
                raise ValueError(f"except[{i}]: Invalid value: {text!r}: must be an IPv4 "
                                 "CIDR") from None
            if not inner.subnet_of(block):
                raise ValueError(f"except[{i}]: Invalid value: {text!r}: must be a strict "
                                 f"subset of `cidr` {self.cidr}")
        return self


class NetworkPolicyPeer(Model):
    pod_selector: LabelSelector | None = None
    namespace_selector: LabelSelector | None = None
    ip_block: IPBlock | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        if self.ip_block is not None and (self.pod_selector is not None
                                          or self.namespace_selector is not None):
            raise ValueError("ipBlock: Forbidden: may not be specified when `podSelector` or "
                             "`namespaceSelector` is specified")
        if self.ip_block is None and self.pod_selector is None and \
                self.namespace_selector is None:
            raise ValueError("must specify a peer (podSelector, namespaceSelector or ipBlock)")
        return self


class NetworkPolicyPort(Model):
    protocol: Protocol = "TCP"
    port: IntOrString | None = None  # a number or a container port's name; none: every port
    end_port: int | None = None

    @model_validator(mode="after")
    def _range(self) -> Self:
        if isinstance(self.port, int) and not 1 <= self.port <= 65535:
            raise ValueError("port: Invalid value: must be between 1 and 65535, inclusive")
        if isinstance(self.port, str) and (problems := names.port_name(self.port)):
            raise ValueError(f"port: Invalid value: {self.port!r}: {problems[0]}")
        if self.end_port is not None:
            if not isinstance(self.port, int):
                raise ValueError("endPort: Invalid value: may not be specified when `port` is "
                                 "not a number")
            if not self.port <= self.end_port <= 65535:
                raise ValueError("endPort: Invalid value: must be greater than or equal to "
                                 "`port` and at most 65535")
        return self


class NetworkPolicyIngressRule(Model):
    from_: list[NetworkPolicyPeer] | None = Field(None, alias="from")  # none: every source
    ports: list[NetworkPolicyPort] | None = None  # none: every port


class NetworkPolicyEgressRule(Model):
    to: list[NetworkPolicyPeer] | None = None  # none: every destination
    ports: list[NetworkPolicyPort] | None = None


class NetworkPolicySpec(Model):
    pod_selector: LabelSelector  # {}: every pod of the namespace
    ingress: list[NetworkPolicyIngressRule] | None = None
    egress: list[NetworkPolicyEgressRule] | None = None
    policy_types: list[Literal["Ingress", "Egress"]] | None = None

    @model_validator(mode="after")
    def _types(self) -> Self:
        # Kubernetes' default: Ingress always, Egress when there are egress rules
        if self.policy_types is None:
            self._fill(policy_types=["Ingress", *(["Egress"] if self.egress else [])])
        elif len(set(self.policy_types)) != len(self.policy_types):
            raise ValueError("policyTypes: Duplicate value")
        return self


class NetworkPolicy(Model):
    api_version: Literal["networking.k8s.io/v1"] = "networking.k8s.io/v1"
    kind: Literal["NetworkPolicy"] = "NetworkPolicy"
    metadata: ObjectMeta
    spec: NetworkPolicySpec


KIND = Kind(
    "NetworkPolicy", "networkpolicies", "networking.k8s.io", "v1", True, NetworkPolicy,
    names.dns1123_subdomain, short_names=("netpol",),
    columns=(Column("POD-SELECTOR", lambda p, _: selector_text(
        (p.get("spec") or {}).get("podSelector")) or "<none>"), AGE),
)
