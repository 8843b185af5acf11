"""Kubernetes `Status` objects: every error the API returns, with Kubernetes' reason and code.

    400 BadRequest   401 Unauthorized   403 Forbidden   404 NotFound   405 MethodNotAllowed
    409 AlreadyExists / Conflict   410 Expired (Gone)   415 UnsupportedMediaType
    422 Invalid (details.causes name each field)   500 InternalError   503 ServiceUnavailable
"""

from __future__ import annotations

from typing import Any

from orchestrator.api.validation import Invalid
from orchestrator.store import AlreadyExists, Conflict, Gone, NotFound, StoreError, Unavailable


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str,
                 details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def status(self) -> dict[str, Any]:
        return status_object(self.code, self.reason, self.message, self.details)


def status_object(code: int, reason: str, message: str,
                  details: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {},
                           "status": "Failure" if code >= 400 else "Success",
                           "message": message, "reason": reason, "code": code}
    if details:
        out["details"] = details
    return out


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def not_found(resource: str, name: str, group: str = "") -> ApiError:
    what = f"{resource}.{group}" if group else resource
    return ApiError(404, "NotFound", f'{what} "{name}" not found',
                    {"name": name, "kind": resource, **({"group": group} if group else {})})


def forbidden(user: str, verb: str, resource: str, why: str) -> ApiError:
    return ApiError(403, "Forbidden",
                    f'{resource} is forbidden: User "{user}" cannot {verb} {resource}: {why}')


def from_exception(e: Exception, resource: str = "", name: str = "") -> ApiError:
    """The one translation of internal errors into API errors."""
    if isinstance(e, ApiError):
        return e
    if isinstance(e, Invalid):
        causes = [{"reason": fe.reason, "message": fe.message, "field": fe.field}
                  for fe in e.errors]
        return ApiError(422, "Invalid", str(e), {"name": e.name, "kind": e.kind, "causes": causes})
    if isinstance(e, NotFound):
        return not_found(resource, name)
    if isinstance(e, AlreadyExists):
        return ApiError(409, "AlreadyExists", f'{resource} "{name}" already exists',
                        {"name": name, "kind": resource})
    if isinstance(e, Conflict):
        return ApiError(409, "Conflict", f'Operation cannot be fulfilled on {resource} "{name}": '
                        "the object has been modified; please apply your changes to the latest "
                        "version and try again", {"name": name, "kind": resource})
    if isinstance(e, Gone):
        return ApiError(410, "Expired", str(e))
    if isinstance(e, Unavailable):
        return ApiError(503, "ServiceUnavailable", str(e),
                        {"retryAfterSeconds": max(1, int(e.retry_after))})
    if isinstance(e, StoreError):
        return ApiError(500, "InternalError", str(e))
    return ApiError(500, "InternalError", f"internal error: {type(e).__name__}: {e}")
