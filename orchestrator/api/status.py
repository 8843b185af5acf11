"""The API server's errors: helpers for the common ones, and the one translation of internal
errors (the store's, validation's) into ApiError (kube.errors), whose Status the server sends."""

from __future__ import annotations

from kube.errors import ApiError, bad_request
from kube.validation import Invalid, StrictDecodingError
from orchestrator.store import AlreadyExists, Conflict, Gone, NotFound, StoreError, Unavailable

__all__ = ["ApiError", "bad_request", "forbidden", "from_exception", "not_found"]


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
    if isinstance(e, StrictDecodingError):
        return ApiError(400, "BadRequest", str(e))
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
