"""Secret (core/v1): data for pods, base64 in the API (stringData is write-only and merged into
data); a built-in type requires its keys."""

from __future__ import annotations

import base64
import binascii
from typing import Any, Literal, Self

from pydantic import field_validator, model_validator

from kube import names
from kube.kinds.base import AGE, Column, Kind
from kube.kinds.configmap import immutable_data_rules
from kube.meta import Model, ObjectMeta, check_data_keys


# The keys Kubernetes requires in a Secret of each built-in type: (all of these, one of these).
SECRET_TYPE_KEYS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "kubernetes.io/tls": (frozenset({"tls.crt", "tls.key"}), frozenset()),
    "kubernetes.io/dockerconfigjson": (frozenset({".dockerconfigjson"}), frozenset()),
    "kubernetes.io/dockercfg": (frozenset({".dockercfg"}), frozenset()),
    "kubernetes.io/ssh-auth": (frozenset({"ssh-privatekey"}), frozenset()),
    "kubernetes.io/basic-auth": (frozenset(), frozenset({"username", "password"})),
}


class Secret(Model):
    api_version: Literal["v1"] = "v1"
    kind: Literal["Secret"] = "Secret"
    metadata: ObjectMeta
    type: str = "Opaque"
    data: dict[str, str] | None = None
    string_data: dict[str, str] | None = None
    immutable: bool | None = None

    @field_validator("data")
    @classmethod
    def _base64(cls, data: Any) -> Any:
        check_data_keys(data)
        for key, value in (data or {}).items():
            try:
                base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                raise ValueError(f"{key}: not valid base64") from None
        return data

    @model_validator(mode="after")
    def _merge_string_data(self) -> Self:
        """Kubernetes: stringData is write-only; it is merged into data (base64) on write.
        Then the keys the Secret's type requires must be there."""
        if self.string_data:
            check_data_keys(self.string_data)
            encoded = {k: base64.b64encode(v.encode()).decode() for k, v in self.string_data.items()}
            self._fill(data={**(self.data or {}), **encoded}, string_data=None)
        keys = set(self.data or {})
        required = SECRET_TYPE_KEYS.get(self.type)
        if required is not None and not (keys >= required[0] and (not required[1]
                                                                   or keys & required[1])):
            wanted = sorted(required[0]) or [" or ".join(sorted(required[1]))]
            raise ValueError(f"data: Required value: a Secret of type {self.type} needs "
                             f"{', '.join(wanted)}")
        if self.type == "kubernetes.io/service-account-token" and not (
                self.metadata.annotations or {}).get("kubernetes.io/service-account.name"):
            raise ValueError("metadata.annotations[kubernetes.io/service-account.name]: "
                             "Required value")
        return self


KIND = Kind(
    "Secret", "secrets", "", "v1", True, Secret, names.dns1123_subdomain,
    immutable=("type",), update_rules=immutable_data_rules, field_selectors=("type",),
    columns=(Column("TYPE", lambda s, _: s.get("type", "Opaque")),
             Column("DATA", lambda s, _: str(len(s.get("data") or {})), type="integer"), AGE),
)
