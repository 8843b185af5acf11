"""Strategic merge patch, as Kubernetes applies it (apimachinery's strategicpatch). Pure.

A JSON merge patch that knows each list's merge metadata (the kinds' `Kind.merge`, the same
that the OpenAPI documents publish as x-kubernetes-patch-merge-key / -patch-strategy):

- maps merge recursively; a null deletes the key;
- a list with strategy `merge` and a merge key (containers by `name`) merges item by item:
  an item with the key of an existing one is merged into it, a new one is appended, and
  `{"name": "x", "$patch": "delete"}` removes that item; a list of primitives with strategy
  `merge` (finalizers) takes the union;
- any other list is replaced whole (atomic, as Kubernetes treats a list without a strategy);
- directives: `$patch: replace` (this map or list replaces the original's), `$patch: delete`
  (this map becomes empty), `$retainKeys` (keep only these keys of the original map),
  `$setElementOrder/<list>` (the merged list's order), `$deleteFromPrimitiveList/<list>`
  (remove these values from a list of primitives).

A malformed patch raises PatchError naming the path, for a 400 (never a 500).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from kube.kinds.base import ListMerge

DIRECTIVE = "$patch"
RETAIN_KEYS = "$retainKeys"
SET_ORDER = "$setElementOrder/"
DELETE_FROM_PRIMITIVE = "$deleteFromPrimitiveList/"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"


class PatchError(ValueError):
    """The patch cannot be applied as written; the message names where."""


def apply(original: Mapping[str, Any], patch: Any, lists: Mapping[str, ListMerge]) -> dict[str, Any]:
    """`original` with `patch` applied (neither is changed). `lists`: list path (dotted, `[]`
    for a list's items, as Kind.merge has them) → its merge metadata."""
    if not isinstance(patch, dict):
        raise PatchError("a strategic merge patch must be a JSON object")
    merged = _merge_map(copy.deepcopy(dict(original)), patch, "", lists)
    return merged


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _merge_map(original: dict[str, Any], patch: dict[str, Any], path: str,
               lists: Mapping[str, ListMerge]) -> dict[str, Any]:
    directive = patch.get(DIRECTIVE)
    if directive is not None:
        if directive == "replace":
            replaced: dict[str, Any] = _strip(patch)
            return replaced
        if directive == "delete":
            return {}
        raise PatchError(f"{path or '<root>'}: unknown $patch directive {directive!r} "
                         "(replace, delete and, in a list, merge are known)")
    retain = patch.get(RETAIN_KEYS)
    if retain is not None:
        if not isinstance(retain, list) or not all(isinstance(k, str) for k in retain):
            raise PatchError(f"{_join(path, RETAIN_KEYS)}: must be a list of field names")
        original = {k: v for k, v in original.items() if k in retain}
    orders: dict[str, list[Any]] = {}
    for key, value in patch.items():
        if key in (DIRECTIVE, RETAIN_KEYS):
            continue
        if key.startswith(SET_ORDER):
            if not isinstance(value, list):
                raise PatchError(f"{_join(path, key)}: must be a list")
            orders[key.removeprefix(SET_ORDER)] = value
            continue
        if key.startswith(DELETE_FROM_PRIMITIVE):
            field = key.removeprefix(DELETE_FROM_PRIMITIVE)
            current = original.get(field)
            if not isinstance(value, list) or not isinstance(current, (list, type(None))):
                raise PatchError(f"{_join(path, key)}: must be a list, for a list field")
            if current is not None:
                original[field] = [v for v in current if v not in value]
            continue
        where = _join(path, key)
        if value is None:
            original.pop(key, None)
        elif isinstance(value, dict):
            base = original.get(key)
            original[key] = _merge_map(base if isinstance(base, dict) else {}, value, where,
                                       lists)
        elif isinstance(value, list):
            original[key] = _merge_list(original.get(key), value, where, lists)
        else:
            original[key] = value
    for field, order in orders.items():
        if isinstance(original.get(field), list):
            original[field] = _ordered(original[field], order, lists.get(_join(path, field)))
    return original


def _merge_list(original: Any, patch: list[Any], path: str,
                lists: Mapping[str, ListMerge]) -> list[Any]:
    merge = lists.get(path)
    items_path = f"{path}[]"
    if any(_is(item, "replace") for item in patch):  # the list as the patch has it
        return [_strip(item) for item in patch if not _is(item, "replace")]
    if merge is None or merge.strategy != "merge" or not isinstance(original, list):
        return [_strip(item) for item in patch if not _is(item, "delete")]
    if merge.merge_key is None:  # a set of primitives: the union, in order
        out = list(original)
        for value in patch:
            if isinstance(value, (dict, list)):
                raise PatchError(f"{path}: a list of values takes values, not {type(value).__name__}")
            if value not in out:
                out.append(value)
        return out
    key = merge.merge_key
    out = [copy.deepcopy(item) for item in original]
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            raise PatchError(f"{path}: every item needs its merge key {key!r}")
        found = next((i for i, o in enumerate(out) if isinstance(o, dict)
                      and o.get(key) == item[key]), None)
        directive = item.get(DIRECTIVE)
        if directive == "delete":
            out = [o for o in out if not (isinstance(o, dict) and o.get(key) == item[key])]
        elif directive not in (None, "merge"):
            raise PatchError(f"{path}: unknown $patch directive {directive!r} in an item")
        elif found is None:
            out.append(_strip({k: v for k, v in item.items() if k != DIRECTIVE}))
        else:
            out[found] = _merge_map(out[found], {k: v for k, v in item.items() if k != DIRECTIVE},
                                    items_path, lists)
    return out


def _ordered(items: list[Any], order: list[Any], merge: ListMerge | None) -> list[Any]:
    """`items` in `order` (of merge-key values, or of the values themselves); items the order
    does not name keep their place after the named ones."""
    key = merge.merge_key if merge else None

    def identity(item: Any) -> Any:
        if key is None:
            return item
        return item.get(key) if isinstance(item, dict) else None

    wanted = [identity(o) if isinstance(o, dict) else o for o in order]
    named = sorted((i for i in items if identity(i) in wanted), key=lambda i: wanted.index(identity(i)))
    return named + [i for i in items if identity(i) not in wanted]


def _is(item: Any, directive: str) -> bool:
    """Whether a list item is the `$patch: directive` marker."""
    return isinstance(item, dict) and item.get(DIRECTIVE) == directive


def _strip(value: Any) -> Any:
    """A patch's value with its directives removed (what is stored when there is nothing to
    merge it into)."""
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items()
                if k not in (DIRECTIVE, RETAIN_KEYS) and not k.startswith((SET_ORDER,
                                                                          DELETE_FROM_PRIMITIVE))}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value
