"""An API object as the wire carries it: Kubernetes JSON (`apiVersion`, `kind`, `metadata`,
`spec`, `status`), parsed. The one name for it; the typed models (kube/kinds) validate it on its
way into the store.

Objects read from the store, a watch cache or an informer are shared: never change one in
place; copy first (copy.deepcopy, or build a new dict)."""

from __future__ import annotations

from typing import Any

Object = dict[str, Any]


class _ReadOnly:
    def _refuse(self, *args: object, **kwargs: object) -> None:
        raise TypeError("this object is shared (it came from a watch cache or an informer) and "
                        "is read-only: copy it first (copy.deepcopy gives a mutable copy)")


class FrozenDict(dict[str, Any], _ReadOnly):
    """A shared object's mapping: reads as a dict (json, pydantic, `{**obj}`), refuses every
    change. copy.deepcopy gives a plain, mutable copy.

    An object's typed model, once a reader has asked for it (kube.typed), is kept beside it in
    `typed_model` (its typed metadata alone in `typed_metadata`): one parse per object version
    for every reader in the process, freed with it."""

    __slots__ = ("typed_model", "typed_metadata")
    typed_model: Any
    typed_metadata: Any

    def __copy__(self) -> dict[str, Any]:
        return dict(self)  # the nested values stay shared (and read-only)

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, Any]:
        copied: dict[str, Any] = thaw(self)
        return copied

    def __reduce__(self) -> tuple[Any, ...]:
        return (dict, (thaw(self),))


class FrozenList(list[Any], _ReadOnly):
    """A shared object's list: reads as a list, refuses every change."""

    __slots__ = ()

    def __copy__(self) -> list[Any]:
        return list(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> list[Any]:
        copied: list[Any] = thaw(self)
        return copied

    def __reduce__(self) -> tuple[Any, ...]:
        return (list, (thaw(self),))


# Every mutator refuses.
for _name in ("__setitem__", "__delitem__", "clear", "pop", "popitem", "setdefault", "update",
              "__ior__"):
    setattr(FrozenDict, _name, _ReadOnly._refuse)
for _name in ("__setitem__", "__delitem__", "append", "extend", "insert", "remove", "pop",
              "clear", "sort", "reverse", "__iadd__", "__imul__"):
    setattr(FrozenList, _name, _ReadOnly._refuse)


def freeze(value: Any) -> Any:
    """`value` (parsed JSON) made read-only all the way down; what caches hand out."""
    if isinstance(value, dict):
        return FrozenDict((k, freeze(v)) for k, v in value.items())
    if isinstance(value, list):
        return FrozenList(freeze(v) for v in value)
    return value


def thaw(value: Any) -> Any:
    """A plain, mutable deep copy of `value` (frozen or not)."""
    if isinstance(value, dict):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, list):
        return [thaw(v) for v in value]
    return value
