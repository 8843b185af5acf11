"""LimitRange (core/v1): per-container, per-pod and per-claim bounds in one namespace, and the
defaults a container gets for what it does not say. Applied when a pod or claim is created
(orchestrator/api/limits.py, Kubernetes' LimitRanger): defaults filled in, then min, max and
maxLimitRequestRatio checked — a pod or claim outside them is refused with 403 saying which
bound it breaks."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import AfterValidator, Field, model_validator

from kube import names
from kube.kinds.base import Column, Kind
from kube.meta import Model, ObjectMeta
from kube.quantity import QuantityError, parse_quantity

RESOURCES = {"Container": ("cpu", "memory"), "Pod": ("cpu", "memory"),
             "PersistentVolumeClaim": ("storage",)}


def _quantities(values: dict[str, str | int] | None) -> dict[str, str | int] | None:
    for resource, value in (values or {}).items():
        try:
            if parse_quantity(value) < 0:
                raise ValueError(f"{resource}: must be greater than or equal to 0")
        except QuantityError as e:
            raise ValueError(f"{resource}: {e}") from None
    return values


Quantities = Annotated[dict[str, str | int], AfterValidator(_quantities)]


class LimitRangeItem(Model):
    type: Literal["Container", "Pod", "PersistentVolumeClaim"]
    max: Quantities | None = None
    min: Quantities | None = None
    default: Quantities | None = None
    default_request: Quantities | None = None
    max_limit_request_ratio: Quantities | None = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        allowed = RESOURCES[self.type]
        for field in ("max", "min", "default", "default_request", "max_limit_request_ratio"):
            for resource in getattr(self, field) or {}:
                if resource not in allowed:
                    raise ValueError(f"{field}[{resource}]: Unsupported value: a {self.type} "
                                     f"limit is on {', '.join(allowed)}")
        if self.type != "Container" and (self.default or self.default_request):
            raise ValueError("default: Forbidden: may only be set for type Container")
        for resource in allowed:
            low = parse_quantity((self.min or {}).get(resource, 0))
            high = (self.max or {}).get(resource)
            if high is not None and low > parse_quantity(high):
                raise ValueError(f"min[{resource}]: Invalid value: min value must be less "
                                 "than or equal to max value")
            for field in ("default", "default_request"):
                value = (getattr(self, field) or {}).get(resource)
                if value is None:
                    continue
                if parse_quantity(value) < low or (high is not None and
                                                  parse_quantity(value) > parse_quantity(high)):
                    raise ValueError(f"{field}[{resource}]: Invalid value: must be between "
                                     "min and max")
        return self


class LimitRangeSpec(Model):
    limits: list[LimitRangeItem] = Field(min_length=1)


class LimitRange(Model):
    api_version: Literal["v1"] = "v1"
    kind: Literal["LimitRange"] = "LimitRange"
    metadata: ObjectMeta
    spec: LimitRangeSpec


KIND = Kind(
    "LimitRange", "limitranges", "", "v1", True, LimitRange, names.dns1123_subdomain,
    short_names=("limits",),
    columns=(Column("CREATED AT", lambda o, _: o["metadata"].get("creationTimestamp", ""),
                    type="date", description="Time the LimitRange was made"),),
)
