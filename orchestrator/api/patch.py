"""The patch types this API applies, by Content-Type (pure): JSON merge patch (RFC 7386),
strategic merge patch (kube.strategicpatch, with the kind's list metadata) and JSON patch
(RFC 6902, the `jsonpatch` library). Server-side apply (application/apply-patch+yaml) is not a
patch of the stored object: the API server hands it to Objects.server_side_apply."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jsonpatch
import jsonpointer

from kube.errors import ApiError, bad_request
from kube.kinds.base import ListMerge
from kube.strategicpatch import STRATEGIC_MERGE_PATCH, PatchError
from kube.strategicpatch import apply as strategic_merge

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH)

Patcher = Callable[[dict[str, Any]], Any]  # the stored object → the object to validate


def patcher(content_type: str, patch: Any, lists: Mapping[str, ListMerge]) -> Patcher:
    """How to apply `patch` of `content_type` to an object; the shape of the patch is checked
    here (400), applying it may fail later for one object (422 Invalid, naming the cause)."""
    if content_type in (MERGE_PATCH, "application/json"):
        if not isinstance(patch, dict):
            raise bad_request("a merge patch must be a JSON object")
        return lambda old: merge_patch(old, patch)
    if content_type == STRATEGIC_MERGE_PATCH:
        if not isinstance(patch, dict):
            raise bad_request("a strategic merge patch must be a JSON object")

        def strategic(old: dict[str, Any]) -> Any:
            try:
                return strategic_merge(old, patch, lists)
            except PatchError as e:
                raise bad_request(f"strategic merge patch: {e}") from None
        return strategic
    if content_type == JSON_PATCH:
        if not isinstance(patch, list):
            raise bad_request("a JSON patch must be a JSON array of operations")
        try:
            ops = jsonpatch.JsonPatch(patch)
            ops._ops  # noqa: B018 - builds (and so checks) every operation now
        except (jsonpatch.InvalidJsonPatch, jsonpointer.JsonPointerException, TypeError,
                AttributeError) as e:
            raise bad_request(f"JSON patch: {e}") from None

        def json_patch(old: dict[str, Any]) -> Any:
            try:
                return ops.apply(old)
            except jsonpatch.JsonPatchTestFailed as e:
                raise ApiError(422, "Invalid", f"JSON patch: a test failed: {e}") from None
            except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as e:
                raise ApiError(422, "Invalid", f"JSON patch: {e}") from None
        return json_patch
    raise ApiError(415, "UnsupportedMediaType", f"the patch type {content_type!r} is not "
                   f"supported: use {', '.join(PATCH_TYPES)}")


def merge_patch(target: Any, patch: Any) -> Any:
    """Apply `patch` to `target` and return the result; neither is modified. A null in the
    patch removes the key; objects merge recursively; anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result
