"""What a kind is: its typed model and its *strategy*, as Kubernetes' generic registry has one
(pure declarations). Everything generic (routing, discovery, validation, the store's keys, table
printing, and later OpenAPI, strategic merge and server-side apply) reads these.

    Kind(kind, resource, group, version, namespaced, model, name_rule,   # identity and schema
         short_names, categories, subresources,                          # how users name it
         status_on_create, initial_status,                               # PrepareForCreate
         immutable, update_rules,                                        # ValidateUpdate
         field_selectors,                                                # GetAttrs
         columns, name_cell,                                             # TableConvertor
         list_merge,                                                     # patch/apply metadata
         graceful_deletion)                                              # CheckGracefulDelete

Status and generation, for every kind with a `status` subresource: a write of the main resource
keeps the stored status and a write of /status keeps the stored spec; `metadata.generation`
grows by one whenever the spec changes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from kube.field_errors import FieldError
from kube.meta import Model
from kube.objects import Object
from kube.printing import age

Cell = Callable[[Object, datetime], str]


@dataclass(frozen=True)
class Column:
    """A table column as Kubernetes' TableColumnDefinition: priority 0 shows by default,
    1 only with `-o wide`."""

    name: str
    cell: Cell
    priority: int = 0
    type: str = "string"
    format: str = ""
    description: str = ""


AGE = Column("AGE", lambda o, now: age(o["metadata"].get("creationTimestamp"), now),
             type="date", description="Time since the object was created")


@dataclass(frozen=True)
class ListMerge:
    """How a list field merges (Kubernetes' patchMergeKey / patchStrategy and
    x-kubernetes-list-type / list-map-keys): a map keyed by `keys`, a set, or atomic."""

    list_type: Literal["map", "set", "atomic"]
    keys: tuple[str, ...] = ()  # the list-map keys; the first is the patchMergeKey
    strategy: Literal["merge", "replace", ""] = ""  # patchStrategy: merge for maps and sets

    @property
    def merge_key(self) -> str | None:
        return self.keys[0] if self.keys else None


def map_list(*keys: str) -> ListMerge:
    return ListMerge("map", keys, "merge")


SET = ListMerge("set", (), "merge")
ATOMIC = ListMerge("atomic")

# Lists of ObjectMeta, for every kind.
METADATA_LISTS: Mapping[str, ListMerge] = {
    "metadata.ownerReferences": map_list("uid"),
    "metadata.finalizers": SET,
}


def nested(prefix: str, lists: Mapping[str, ListMerge]) -> dict[str, ListMerge]:
    """`lists` of an embedded object (a pod template's spec) under `prefix`."""
    return {f"{prefix}.{path}": merge for path, merge in lists.items()}


@dataclass(frozen=True, eq=False)  # one object per kind: compared and hashed by identity
class Kind:
    kind: str
    resource: str  # plural, as in the URL path and the store's key
    group: str  # "" for the core group
    version: str
    namespaced: bool
    model: type[Model]
    name_rule: Callable[[str], list[str]]
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()  # "all": what `get all` lists
    subresources: tuple[str, ...] = ()
    # PrepareForCreate: a client may not set the status of these kinds (their controllers and
    # agents own it); `initial_status` is what a new object starts with.
    status_on_create: Literal["keep", "reset"] = "keep"
    initial_status: Mapping[str, Any] | None = None
    # ValidateUpdate: fields that may not change once set, and any further rules.
    immutable: tuple[str, ...] = ()
    update_rules: Callable[[Object, Object], list[FieldError]] | None = None
    # PrepareForCreate once the object has its uid: fields derived from it (a Job's generated
    # selector), set on the object in place; the errors refuse the create.
    prepare_create: Callable[[Object], list[FieldError]] | None = None
    # GetAttrs: the fields `fieldSelector` may use beyond metadata.name and metadata.namespace.
    field_selectors: tuple[str, ...] = ()
    columns: tuple[Column, ...] = (AGE,)
    # NAME's cell, where it says more than the name (the default StorageClass is marked)
    name_cell: Callable[[Object], str] | None = None
    list_merge: Mapping[str, ListMerge] = field(default_factory=dict)
    # A pod bound to a node is only marked when deleted; its node's agent removes it.
    graceful_deletion: bool = False

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def selectable_fields(self) -> tuple[str, ...]:
        return ("metadata.name", "metadata.namespace", *self.field_selectors)

    @property
    def merge(self) -> dict[str, ListMerge]:
        """Every list field's merge metadata, ObjectMeta's included."""
        return {**METADATA_LISTS, **self.list_merge}
