"""ServiceAccount (core/v1): an identity for the processes in pods. Every namespace has a
`default` one; a pod runs as `spec.serviceAccountName` (default `default`) and, unless
automountServiceAccountToken is false, gets a token for it, bound to the pod, with the
cluster's CA and its namespace at /var/run/secrets/kubernetes.io/serviceaccount (the API
server's admission, orchestrator/api/admission.py). Tokens come from the `token`
subresource (a TokenRequest: orchestrator/api/tokens.py)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from kube import names
from kube.kinds.base import AGE, Column, Kind, map_list
from kube.meta import Model, ObjectMeta, ObjectReference


class LocalObjectReference(Model):
    name: str


class ServiceAccount(Model):
    api_version: Literal["v1"] = "v1"
    kind: Literal["ServiceAccount"] = "ServiceAccount"
    metadata: ObjectMeta
    secrets: list[ObjectReference] | None = None  # legacy token Secrets: a record
    # given to its pods that name none of their own (admission)
    image_pull_secrets: list[LocalObjectReference] | None = None
    automount_service_account_token: bool | None = None


class BoundObjectReference(Model):
    kind: Literal["Pod", "Secret", "Node"]
    api_version: Literal["v1"] | None = None
    name: str
    uid: str | None = None


class TokenRequestSpec(Model):
    audiences: list[str] | None = None
    # Kubernetes: at least 10 minutes; the server caps it at 48 hours
    expiration_seconds: int = Field(3600, ge=600)
    bound_object_ref: BoundObjectReference | None = None


class TokenRequestStatus(Model):
    token: str = ""
    expiration_timestamp: str | None = None


class TokenRequest(Model):
    """authentication.k8s.io/v1 TokenRequest, the body of serviceaccounts/NAME/token."""

    api_version: Literal["authentication.k8s.io/v1"] = "authentication.k8s.io/v1"
    kind: Literal["TokenRequest"] = "TokenRequest"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: TokenRequestSpec = Field(default_factory=TokenRequestSpec)
    status: TokenRequestStatus | None = None


KIND = Kind(
    "ServiceAccount", "serviceaccounts", "", "v1", True, ServiceAccount,
    names.dns1123_subdomain, short_names=("sa",), subresources=("token",),
    columns=(Column("SECRETS", lambda s, _: str(len(s.get("secrets") or ())), type="integer"),
             AGE),
    list_merge={"secrets": map_list("name"), "imagePullSecrets": map_list("name")},
)
