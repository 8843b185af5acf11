"""Validation errors that name their field, as Kubernetes' field.ErrorList (pure).

`Invalid` is the 422 the API answers; each FieldError names a field path
(`spec.containers[0].image`) and carries Kubernetes' StatusCause reason.
"""

from __future__ import annotations

from dataclasses import dataclass

# Kubernetes' StatusCause reasons.
REQUIRED, INVALID, NOT_SUPPORTED, FORBIDDEN, UNKNOWN = (
    "FieldValueRequired", "FieldValueInvalid", "FieldValueNotSupported", "FieldValueForbidden",
    "FieldValueUnknown")


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str
    reason: str = INVALID

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class Invalid(ValueError):
    """422 Invalid: the object breaks one or more rules; `errors` names each field."""

    def __init__(self, kind: str, name: str, errors: list[FieldError]) -> None:
        self.kind, self.name, self.errors = kind, name, errors
        super().__init__(f'{kind} "{name}" is invalid: ' + "; ".join(map(str, errors)))
