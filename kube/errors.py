"""The one API error, on both sides of the wire: the API server raises it and answers with its
Status object; the client raises it from the Status it received. Kubernetes' reasons and codes:

    400 BadRequest   401 Unauthorized   403 Forbidden   404 NotFound   405 MethodNotAllowed
    409 AlreadyExists / Conflict   410 Expired (Gone)   415 UnsupportedMediaType
    422 Invalid (details.causes name each field)   500 InternalError   503 ServiceUnavailable
    504 Timeout

    ApiError
    └── ApiUnavailable   the server could not be reached, or answered 503: retrying makes sense
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str,
                 details: dict[str, Any] | None = None) -> None:
        super().__init__(f"{code} {reason}: {message}" if code else message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def status(self) -> dict[str, Any]:
        """The Status object that carries this error."""
        return status_object(self.code, self.reason, self.message, self.details)

    @classmethod
    def from_status(cls, code: int, status: dict[str, Any], fallback: str = "") -> ApiError:
        """The error a Status object (as a client received it) describes."""
        return cls(code, status.get("reason") or "", status.get("message") or fallback,
                   status.get("details"))


class ApiUnavailable(ApiError):
    """The server could not be reached (or answered 503); retrying later makes sense."""


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def status_object(code: int, reason: str, message: str,
                  details: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {},
                           "status": "Failure" if code >= 400 else "Success",
                           "message": message, "reason": reason, "code": code}
    if details:
        out["details"] = details
    return out
