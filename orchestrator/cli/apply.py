"""`orchctl apply`: declarative create-or-update, as kubectl's client-side apply. Pure.

The configuration last applied is kept on the object in the annotation
kubectl.kubernetes.io/last-applied-configuration. Applying again computes a three-way JSON merge
patch (the only patch type the API takes):

- a field in the new configuration that differs from the live object is set;
- a field that was in the last-applied configuration and is gone from the new one is removed;
- anything else on the live object (defaults, what controllers or `orchctl scale` set, fields
  nobody ever applied) is left alone.

A JSON merge patch replaces lists whole. A list is therefore sent only if the user changed it
since the last apply, or if the live list no longer holds what the configuration says (the
server's defaults inside list items, such as a port's protocol, do not count as a difference).
This is what makes a second apply of the same file `unchanged`.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from kube.objects import Object

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
# Set by the server; never part of what a user applies (an exported object can be re-applied).
SERVER_METADATA = ("resourceVersion", "uid", "creationTimestamp", "generation", "selfLink",
                   "deletionTimestamp", "deletionGracePeriodSeconds", "managedFields")


def configuration(obj: Object, namespace: str | None) -> Object:
    """The user's object as it will be recorded: server-set fields and status dropped, the
    namespace filled in (namespaced kinds), no last-applied annotation inside it."""
    config = copy.deepcopy(obj)
    config.pop("status", None)
    meta = config.setdefault("metadata", {})
    for key in SERVER_METADATA:
        meta.pop(key, None)
    if namespace is not None:
        meta["namespace"] = namespace
    annotations = meta.get("annotations")
    if isinstance(annotations, dict):
        annotations.pop(LAST_APPLIED, None)
        if not annotations:
            del meta["annotations"]
    return config


def serialized(config: Object) -> str:
    return json.dumps(config, sort_keys=True, separators=(",", ":"))


def with_last_applied(config: Object) -> Object:
    """The object to create: the configuration carrying itself in the annotation."""
    out = copy.deepcopy(config)
    out["metadata"].setdefault("annotations", {})[LAST_APPLIED] = serialized(config)
    return out


def last_applied(live: Object) -> Object | None:
    text = ((live.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED)
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def apply_patch(config: Object, live: Object) -> Object:
    """The merge patch that brings `live` to `config`; {} when nothing is to change."""
    original = last_applied(live)
    patch = three_way(original, config, live)
    if original != config:
        annotation = {"metadata": {"annotations": {LAST_APPLIED: serialized(config)}}}
        patch = _merge(patch, annotation)
    return patch


def three_way(original: Object | None, modified: Object, current: Object) -> Object:
    patch: Object = {}
    original = original if isinstance(original, dict) else {}
    for key, want in modified.items():
        if key not in current:
            patch[key] = want
            continue
        have, before = current[key], original.get(key)
        if isinstance(want, dict) and isinstance(have, dict):
            sub = three_way(before if isinstance(before, dict) else None, want, have)
            if sub:
                patch[key] = sub
        elif isinstance(want, list) and isinstance(have, list):
            if (before is not None and before != want) or not covers(have, want):
                patch[key] = want
        elif want != have:
            patch[key] = want
    for key, before in original.items():
        if key in modified or key not in current:
            continue
        if isinstance(before, dict) and isinstance(current[key], dict):
            # remove what was applied, keep what others added (and the annotation apply keeps)
            gone = three_way(before, {}, current[key])
            if gone:
                patch[key] = gone
        else:
            patch[key] = None
    return patch


def covers(have: Any, want: Any) -> bool:
    """`have` holds everything `want` says (it may hold more keys in mappings: defaults)."""
    if isinstance(want, dict):
        return isinstance(have, dict) and all(k in have and covers(have[k], v)
                                              for k, v in want.items())
    if isinstance(want, list):
        return isinstance(have, list) and len(have) == len(want) and all(
            covers(h, w) for h, w in zip(have, want))
    return have == want


def _merge(a: Object, b: Object) -> Object:
    out = dict(a)
    for key, value in b.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and \
            isinstance(out.get(key), dict) else value
    return out
