"""The parts every object shares: the model base, ObjectMeta, owner references, label selectors,
conditions. Field names follow Kubernetes' JSON (camelCase); Python attributes are snake_case.

Every model forbids fields it does not know: a manifest with a field this orchestrator does not
implement is refused with the field's path, never silently half-applied.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from kube import names
from kube.selectors import requirement_matches


class Model(BaseModel):
    """A kind's model, or a part of one. Frozen: a typed object is read-only once built (the
    consumers share them; see kube.typed), so defaulting in a validator goes through `_fill`."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, alias_generator=to_camel,
                              validate_assignment=False, frozen=True, ser_json_timedelta="float")

    def _fill(self, **values: Any) -> None:
        """Set fields while the model is being validated (defaulting); never afterwards."""
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def to_dict(self) -> dict[str, Any]:
        """The object as Kubernetes JSON: camelCase, without unset optional fields."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


NOT_IMPLEMENTED = "not_implemented"


def refused(what: str, values: tuple[Any, ...] | None = None) -> AfterValidator:
    """A field (or, given `values`, some of its values) that Kubernetes has and this
    orchestrator does not implement yet: accepted in the schema so that the error names it
    precisely, and refused with 422 (FieldValueForbidden) whenever it is set. Refuse, never
    ignore: a manifest that asks for it must not run as if it had been honoured."""

    def refuse(value: Any) -> Any:
        if value is not None and (values is None or value in values):
            raise PydanticCustomError(NOT_IMPLEMENTED, "Forbidden: {what} is not implemented by "
                                      "this orchestrator yet", {"what": what})
        return value

    return AfterValidator(refuse)


def _check(check: Callable[[str], list[str]]) -> Callable[[str], str]:
    def validate(value: str) -> str:
        problems = check(value)
        if problems:
            raise ValueError(f"{value!r}: {problems[0]}")
        return value
    return validate


Dns1123Label = Annotated[str, AfterValidator(_check(names.dns1123_label))]
Dns1123Subdomain = Annotated[str, AfterValidator(_check(names.dns1123_subdomain))]
Dns1035Label = Annotated[str, AfterValidator(_check(names.dns1035_label))]
QualifiedName = Annotated[str, AfterValidator(_check(names.qualified_name))]  # "example.com/x"
def _ip_address(value: str) -> str:
    import ipaddress
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f"{value!r}: must be a valid IP address, (e.g. 10.9.8.7 or "
                         "2001:db8::ffff)") from None
    return value


IPAddress = Annotated[str, AfterValidator(_ip_address)]
# A port's name is optional, and "" is no name, as in Kubernetes (it checks only a non-empty one).
PortName = Annotated[str, AfterValidator(lambda v: v and _check(names.port_name)(v))]
# A Service's port name is a DNS label, looser than a container's (kubectl names them "80-8080")
ServicePortName = Annotated[str, AfterValidator(lambda v: v and _check(names.dns1123_label)(v))]
EnvVarName = Annotated[str, AfterValidator(_check(names.env_var_name))]
Port = Annotated[int, Field(ge=1, le=65535)]
IntOrString = int | str
Timestamp = str  # RFC 3339, as written by the server
Protocol = Literal["TCP", "UDP"]


def unique(items: Any, attr: str, what: str) -> Any:
    """`items` (a list of models or None) after checking that no two share a non-None `attr`."""
    seen = set()
    for item in items or []:
        value = getattr(item, attr)
        if value is None:
            continue
        if value in seen:
            raise ValueError(f"duplicate {what} {value!r}")
        seen.add(value)
    return items


def check_data_keys(data: Any) -> Any:
    """The keys of a ConfigMap's or Secret's data, as Kubernetes admits them."""
    for key in data or {}:
        if not key or len(key) > 253 or not all(c.isalnum() or c in "-_." for c in key):
            raise ValueError(f"key {key!r}: must consist of alphanumeric characters, '-', '_' "
                             "or '.'")
    return data


def _check_labels(labels: dict[str, str] | None) -> dict[str, str] | None:
    for key, value in (labels or {}).items():
        if problems := names.qualified_name(key):
            raise ValueError(f"label key {key!r}: {problems[0]}")
        if problems := names.label_value(value):
            raise ValueError(f"label value {value!r} of {key!r}: {problems[0]}")
    return labels


def _check_annotation_keys(annotations: dict[str, str] | None) -> dict[str, str] | None:
    for key in annotations or {}:
        if problems := names.qualified_name(key):
            raise ValueError(f"annotation key {key!r}: {problems[0]}")
    if annotations and sum(len(k) + len(v) for k, v in annotations.items()) > 256 * 1024:
        raise ValueError("annotations may not exceed 256 KiB in total")
    return annotations


Labels = Annotated[dict[str, str], AfterValidator(_check_labels)]
Annotations = Annotated[dict[str, str], AfterValidator(_check_annotation_keys)]


class OwnerReference(Model):
    api_version: str
    kind: str
    name: str
    uid: str
    controller: bool | None = None
    block_owner_deletion: bool | None = None


class ManagedFieldsEntry(Model):
    """Who owns which fields (kube/fieldmanager.py keeps them; a client may write them)."""

    manager: str | None = Field(None, max_length=128)
    operation: Literal["Apply", "Update"]
    api_version: str | None = None
    time: Timestamp | None = None
    fields_type: Literal["FieldsV1"] | None = None
    fields_v1: dict[str, Any] | None = Field(None, alias="fieldsV1")
    subresource: str | None = None


class ObjectMeta(Model):
    name: str | None = None
    generate_name: str | None = None
    namespace: str | None = None
    uid: str | None = None
    resource_version: str | None = None
    generation: int | None = None
    creation_timestamp: Timestamp | None = None
    deletion_timestamp: Timestamp | None = None
    deletion_grace_period_seconds: int | None = None
    labels: Labels | None = None
    annotations: Annotations | None = None
    owner_references: list[OwnerReference] | None = None
    finalizers: list[str] | None = None
    managed_fields: list[ManagedFieldsEntry] | None = None


class LabelSelectorRequirement(Model):
    key: str
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: list[str] | None = None

    @field_validator("values")
    @classmethod
    def _values_fit_operator(cls, values: Any, info: ValidationInfo) -> Any:
        operator = info.data.get("operator")
        if operator in ("In", "NotIn") and not values:
            raise ValueError(f"must be specified when operator is {operator}")
        if operator in ("Exists", "DoesNotExist") and values:
            raise ValueError(f"may not be specified when operator is {operator}")
        return values


class LabelSelector(Model):
    match_labels: Labels | None = None
    match_expressions: list[LabelSelectorRequirement] | None = None


class Condition(Model):
    """A status condition (Kubernetes uses one shape with small variations per kind)."""

    type: str
    status: Literal["True", "False", "Unknown"]
    reason: str | None = None
    message: str | None = None
    last_transition_time: Timestamp | None = None
    last_update_time: Timestamp | None = None
    last_heartbeat_time: Timestamp | None = None
    last_probe_time: Timestamp | None = None
    observed_generation: int | None = None


class ObjectReference(Model):
    api_version: str | None = None
    kind: str | None = None
    namespace: str | None = None
    name: str | None = None
    uid: str | None = None
    resource_version: str | None = None
    field_path: str | None = None


def selector_matches(selector: LabelSelector | None, labels: dict[str, str] | None) -> bool:
    """Pure: whether `labels` satisfy `selector` (an empty selector matches everything); the
    typed form of kube.selectors.label_selector_matches, with the same requirement matcher."""
    if selector is None:
        return True
    labels = labels or {}
    return all(labels.get(k) == v for k, v in (selector.match_labels or {}).items()) and \
        all(requirement_matches(e.key, e.operator, e.values or (), labels)
            for e in selector.match_expressions or ())
