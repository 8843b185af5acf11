"""Typed objects for the consumers: an API object as its kind's model (kube/kinds), read-only.

The wire and the store carry JSON; controllers, the scheduler and the agent read objects as the
kinds' pydantic models (`pod.spec.node_name`, `node.status.allocatable`), which name the schema
and let the type checker hold every access. The models are frozen (kube.meta.Model): a typed
object is never changed in place; a writer builds a new object (`model_copy(update=...)`, or a
JSON patch) and sends it through the API.

Why the kinds' own models and not a second set of view classes: one schema per kind, the one
validation already uses (a stored object was built by it, so it parses back). Parsing costs
about 40 µs a pod, so an object read from a watch cache or an informer (a kube.objects.FrozenDict)
is parsed once per version, on first use, and the model kept beside it: every reader in the
process shares it, and it goes when the cache drops that version. Plain dicts (a response the
caller owns) are parsed on each call.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Protocol, TypeVar

from pydantic import ValidationError

from kube.meta import Model, ObjectMeta
from kube.objects import FrozenDict, Object

log = logging.getLogger(__name__)

M = TypeVar("M", bound=Model)


class TypedObject(Protocol):
    """What every kind's top-level model has: apiVersion, kind and metadata."""

    @property
    def api_version(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def metadata(self) -> ObjectMeta: ...


class Unreadable(ValueError):
    """A stored object its kind's model does not accept (written by an older version with
    laxer rules, say): readers skip it and say so rather than stop. A cache's object keeps its
    Unreadable like a model, so it is parsed, and reported, once per version."""

    def __init__(self, message: str, model: type[Model] | None = None) -> None:
        super().__init__(message)
        self.model = model
        self.reported = False


def typed(model: type[M], obj: Object) -> M:
    """`obj` as `model` (a kind's top-level model), shared when `obj` is a cache's object."""
    if isinstance(obj, FrozenDict):
        kept = getattr(obj, "typed_model", None)
        if type(kept) is model:
            return kept  # exactly `model`, checked above
        if isinstance(kept, Unreadable) and kept.model is model:
            raise kept
    try:
        built = model.model_validate(obj)
    except ValidationError as e:
        meta = obj.get("metadata") if isinstance(obj, dict) else None
        name = "/".join(str(meta.get(k)) for k in ("namespace", "name") if meta and meta.get(k))
        failure = Unreadable(f"{model.__name__} {name or '?'} does not parse: "
                             f"{e.error_count()} error(s), first: {e.errors()[0]['msg']}", model)
        if isinstance(obj, FrozenDict):
            obj.typed_model = failure
        raise failure from None
    if isinstance(obj, FrozenDict):
        obj.typed_model = built
    return built


def metadata_of(obj: Object) -> ObjectMeta:
    """`obj`'s metadata, typed, for readers generic over kinds (the garbage collector: what
    Kubernetes calls PartialObjectMetadata); shared like `typed`'s models."""
    if isinstance(obj, FrozenDict):
        kept = getattr(obj, "typed_model", None)
        if isinstance(kept, Model):  # a kind's model (not an Unreadable): its metadata
            meta: ObjectMeta = getattr(kept, "metadata")  # noqa: B009 - every kind has one
            return meta
        kept_meta = getattr(obj, "typed_metadata", None)
        if kept_meta is not None:
            return kept_meta  # type: ignore[no-any-return]
    try:
        built = ObjectMeta.model_validate(obj.get("metadata") or {})
    except ValidationError as e:
        raise Unreadable(f"metadata does not parse: {e.errors()[0]['msg']}") from None
    if isinstance(obj, FrozenDict):
        obj.typed_metadata = built
    return built


def typed_all(model: type[M], objs: Iterable[Object]) -> list[M]:
    """Every object of `objs` that parses as `model`, in order; an unreadable one is logged and
    left out (one bad object must not stop a controller or the scheduler)."""
    out = []
    for obj in objs:
        try:
            out.append(typed(model, obj))
        except Unreadable as e:
            if not e.reported:  # once per cached version, not at every pass
                log.warning("skipping an object: %s", e)
                e.reported = True
    return out
