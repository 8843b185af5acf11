"""ConfigMap (core/v1): configuration data for pods (env vars, volumes)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import field_validator

from kube import names
from kube.field_errors import FORBIDDEN, FieldError
from kube.kinds.base import AGE, Column, Kind
from kube.meta import Model, ObjectMeta, check_data_keys
from kube.objects import Object


class ConfigMap(Model):
    api_version: Literal["v1"] = "v1"
    kind: Literal["ConfigMap"] = "ConfigMap"
    metadata: ObjectMeta
    data: dict[str, str] | None = None
    binary_data: dict[str, str] | None = None
    immutable: bool | None = None

    @field_validator("data", "binary_data")
    @classmethod
    def _keys(cls, data: Any) -> Any:
        return check_data_keys(data)


def immutable_data_rules(old: Object, new: Object) -> list[FieldError]:
    """ConfigMaps and Secrets marked `immutable`: neither their data nor the mark may change."""
    if not old.get("immutable"):
        return []
    return [FieldError(path, "Forbidden: field is immutable when `immutable` is set", FORBIDDEN)
            for path in ("data", "binaryData", "immutable") if old.get(path) != new.get(path)]


KIND = Kind(
    "ConfigMap", "configmaps", "", "v1", True, ConfigMap, names.dns1123_subdomain,
    short_names=("cm",), update_rules=immutable_data_rules,
    columns=(Column("DATA", lambda c, _: str(len(c.get("data") or {})
                                           + len(c.get("binaryData") or {})), type="integer"),
             AGE),
)
