"""Field ownership (metadata.managedFields) and server-side apply, as Kubernetes' structured
merge does them. Pure: objects in, objects out.

A *field set* is a set of paths; a path is a tuple of Kubernetes' fieldsV1 keys:
`f:<name>` a field of a struct or a key of a map, `k:<JSON of the key fields>` an item of a
list keyed by its list-map keys (containers by name), `v:<JSON value>` an item of a set. A
list item's own path is in the set beside its fields (fieldsV1 writes it as `.`). Atomic
lists, primitives and empty maps are leaves. Which list is which comes from the kind's merge
metadata (Kind.merge); a list it does not name is atomic, as in Kubernetes' schemas.

Every write records who changed what: an *Update* (create, update, patch) gives its manager the
fields whose value it changed and takes them from the others. An *Apply* (server-side apply)
makes its manager own exactly the fields of its configuration: a field whose value another
manager owns and the configuration changes is a conflict (409) unless forced, when it moves to
the applier; a field the applier owned before, no longer in its configuration and owned by
no one else is removed from the object. The main resource's writes never own `status`, a
status write owns nothing else; identity and system metadata are owned by no one.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kube.kinds.base import ListMerge

Path = tuple[str, ...]
FieldSet = frozenset[Path]

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
# ObjectMeta fields the server or the URL sets: never owned (Kubernetes' stripMeta)
SYSTEM_METADATA = frozenset({"name", "namespace", "uid", "resourceVersion", "generation",
                             "creationTimestamp", "deletionTimestamp",
                             "deletionGracePeriodSeconds", "managedFields", "selfLink"})
# A list-map key an item may leave out, and the value the schema defaults it to.
KEY_DEFAULTS: Mapping[str, Any] = {"protocol": "TCP"}
BEFORE_FIRST_APPLY = "before-first-apply"


@dataclass
class Entry:
    """One ManagedFieldsEntry: a manager's fields, by operation and subresource."""

    manager: str
    operation: str  # "Apply" | "Update"
    api_version: str
    time: str
    fields: set[Path] = field(default_factory=set)
    subresource: str = ""

    @property
    def identity(self) -> tuple[str, str, str]:
        return self.manager, self.operation, self.subresource

    def describe(self) -> str:
        """As Kubernetes names a manager in a conflict."""
        text = json.dumps(self.manager)
        if self.subresource:
            text += f" with subresource {json.dumps(self.subresource)}"
        if self.operation == "Update":
            text += f" using {self.api_version}"
        return text


@dataclass(frozen=True)
class Conflict:
    manager: str  # Entry.describe()
    path: Path


class Conflicts(Exception):
    def __init__(self, conflicts: list[Conflict]) -> None:
        super().__init__(conflict_message(conflicts))
        self.conflicts = conflicts


# --- field sets ---

def field_set(obj: Mapping[str, Any], merge: Mapping[str, ListMerge],
              subresource: str = "") -> set[Path]:
    """The paths of every field `obj` sets, within what a write to `subresource` ("" for the
    main resource, "status") may own."""
    out: set[Path] = set()
    for name, value in obj.items():
        if name in ("apiVersion", "kind"):
            continue
        if (name == "status") != (subresource == "status"):
            continue
        if name == "metadata" and isinstance(value, dict):
            value = {k: v for k, v in value.items() if k not in SYSTEM_METADATA}
            if not value:
                continue
        _walk(value, (f"f:{name}",), name, merge, out)
    return out


def _walk(value: Any, path: Path, dotted: str, merge: Mapping[str, ListMerge],
          out: set[Path]) -> None:
    if isinstance(value, dict) and value:
        for name, item in value.items():
            _walk(item, path + (f"f:{name}",), f"{dotted}.{name}", merge, out)
        return
    lm = merge.get(dotted)
    if not isinstance(value, list) or not value or lm is None or lm.list_type == "atomic":
        out.add(path)
        return
    if lm.list_type == "set":
        out.update(path + (f"v:{_json(item)}",) for item in value)
        return
    if not all(isinstance(item, dict) for item in value):
        out.add(path)  # not the keyed list the schema says: as a whole
        return
    for item in value:
        item_path = path + (item_key(item, lm.keys),)
        out.add(item_path)
        for name, child in item.items():
            _walk(child, item_path + (f"f:{name}",), f"{dotted}[].{name}", merge, out)


def item_key(item: Mapping[str, Any], keys: Iterable[str]) -> str:
    """`k:{…}`: the item's list-map keys (a key it leaves out at the schema's default)."""
    values = {k: item.get(k, KEY_DEFAULTS.get(k)) for k in sorted(keys)}
    return "k:" + _json({k: v for k, v in values.items() if v is not None})


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def to_fields_v1(paths: Iterable[Path]) -> dict[str, Any]:
    """The fieldsV1 tree of a field set: a member that has members beneath it (a list item
    and its fields) is marked with `.`."""
    members = set(paths)
    tree: dict[str, Any] = {}
    for path in members:
        node = tree
        for element in path:
            node = node.setdefault(element, {})
    for path in members:
        node = tree
        for element in path:
            node = node[element]
        if node:
            node["."] = {}
    return tree


def from_fields_v1(tree: Any, path: Path = ()) -> set[Path]:
    out: set[Path] = set()
    if not isinstance(tree, dict):
        return out
    for key, child in tree.items():
        if key == ".":
            out.add(path)
        elif not child:
            out.add(path + (key,))
        else:
            out |= from_fields_v1(child, path + (key,))
    return out


def path_text(path: Path) -> str:
    """As Kubernetes prints a path: `.spec.containers[name="web"].image`."""
    text = ""
    for element in path:
        kind, _, rest = element.partition(":")
        if kind == "f":
            text += f".{rest}"
        elif kind == "k":
            keys = json.loads(rest)
            text += "[" + ",".join(f"{k}={json.dumps(v)}" for k, v in keys.items()) + "]"
        elif kind == "v":
            text += f"[={rest}]"
        else:
            text += f"[{rest}]"
    return text


# --- reading and writing values by path ---

_MISSING = object()


def value_at(obj: Any, path: Path, merge: Mapping[str, ListMerge]) -> Any:
    """The value `path` names in `obj` (_MISSING when absent)."""
    node, dotted = obj, ""
    for element in path:
        kind, _, rest = element.partition(":")
        if kind == "f":
            if not isinstance(node, dict) or rest not in node:
                return _MISSING
            node, dotted = node[rest], f"{dotted}.{rest}" if dotted else rest
        elif kind == "k":
            lm = merge.get(dotted)
            if not isinstance(node, list) or lm is None:
                return _MISSING
            found = [i for i in node if isinstance(i, dict) and item_key(i, lm.keys) == element]
            if not found:
                return _MISSING
            node, dotted = found[0], f"{dotted}[]"
        elif kind == "v":
            wanted = json.loads(rest)
            if not isinstance(node, list) or wanted not in node:
                return _MISSING
            node = wanted
        else:
            return _MISSING
    return node


def _remove(obj: Any, path: Path, merge: Mapping[str, ListMerge]) -> None:
    parent = value_at(obj, path[:-1], merge) if len(path) > 1 else obj
    kind, _, rest = path[-1].partition(":")
    if kind == "f" and isinstance(parent, dict):
        parent.pop(rest, None)
    elif kind == "k" and isinstance(parent, list):
        dotted = _dotted(path[:-1])
        lm = merge.get(dotted)
        if lm is not None:
            parent[:] = [i for i in parent
                         if not (isinstance(i, dict) and item_key(i, lm.keys) == path[-1])]
    elif kind == "v" and isinstance(parent, list):
        wanted = json.loads(rest)
        parent[:] = [i for i in parent if i != wanted]


def _dotted(path: Path) -> str:
    parts: list[str] = []
    for element in path:
        kind, _, rest = element.partition(":")
        if kind == "f":
            parts.append(rest)
        else:
            parts[-1] += "[]"
    return ".".join(parts)


def merged(live: Any, config: Any, merge: Mapping[str, ListMerge], dotted: str = "") -> Any:
    """`config` laid over `live`, as an apply merges: maps field by field, keyed lists item by
    item (by their keys), sets as a union, anything else replaced."""
    if isinstance(live, dict) and isinstance(config, dict):
        out = dict(live)
        for name, value in config.items():
            child = f"{dotted}.{name}" if dotted else name
            out[name] = merged(live[name], value, merge, child) if name in live \
                else copy.deepcopy(value)
        return out
    lm = merge.get(dotted)
    if isinstance(live, list) and isinstance(config, list) and lm is not None:
        if lm.list_type == "set":
            return list(live) + [copy.deepcopy(i) for i in config if i not in live]
        if lm.list_type == "map" and all(isinstance(i, dict) for i in live + config):
            by_key = {item_key(i, lm.keys): i for i in config}
            out_list = []
            for item in live:
                key = item_key(item, lm.keys)
                out_list.append(merged(item, by_key.pop(key), merge, f"{dotted}[]")
                                if key in by_key else item)
            return out_list + [copy.deepcopy(i) for i in by_key.values()]
    return copy.deepcopy(config)


# --- managedFields ---

def decode(entries: Any) -> list[Entry]:
    """metadata.managedFields as Entries (an entry that cannot be read is dropped, as
    Kubernetes drops undecodable managed fields)."""
    out = []
    for e in entries if isinstance(entries, list) else []:
        if not isinstance(e, dict) or e.get("operation") not in ("Apply", "Update"):
            continue
        out.append(Entry(manager=str(e.get("manager", "")), operation=e["operation"],
                         api_version=str(e.get("apiVersion", "")), time=str(e.get("time", "")),
                         fields=from_fields_v1(e.get("fieldsV1")),
                         subresource=str(e.get("subresource", ""))))
    return out


def encode(entries: list[Entry]) -> list[dict[str, Any]]:
    out = []
    for e in entries:
        if not e.fields:
            continue
        entry: dict[str, Any] = {"manager": e.manager, "operation": e.operation,
                                 "apiVersion": e.api_version, "time": e.time,
                                 "fieldsType": "FieldsV1", "fieldsV1": to_fields_v1(e.fields)}
        if e.subresource:
            entry["subresource"] = e.subresource
        out.append(entry)
    return out


def _find(entries: list[Entry], manager: str, operation: str, subresource: str,
          api_version: str, now: str) -> Entry:
    for e in entries:
        if e.identity == (manager, operation, subresource):
            e.api_version, e.time = api_version, now
            return e
    entry = Entry(manager, operation, api_version, now, set(), subresource)
    entries.append(entry)
    return entry


def _changed(old: Mapping[str, Any] | None, new: Mapping[str, Any],
             new_set: set[Path], merge: Mapping[str, ListMerge]) -> set[Path]:
    if old is None:
        return set(new_set)
    return {p for p in new_set
            if p[-1].startswith("k:") and value_at(old, p, merge) is _MISSING
            or not p[-1].startswith("k:") and value_at(old, p, merge) != value_at(new, p, merge)}


def track_update(old: Mapping[str, Any] | None, new: Mapping[str, Any], manager: str,
                 api_version: str, merge: Mapping[str, ListMerge], now: str,
                 subresource: str = "") -> list[dict[str, Any]]:
    """The managedFields of `new` after `manager` wrote it (an Update): it owns what it
    changed, the others lose that; fields gone from the object leave every set. The entries
    entries to start from are `new`'s own when it brings readable ones (a client may set
    managedFields, as kubectl's client-side-apply migration does; [] clears them), else
    `old`'s."""
    given = (new.get("metadata") or {}).get("managedFields")
    own = isinstance(given, list) and subresource == ""  # a subresource write keeps old's
    entries = decode(given) if own else []
    if not entries and not (own and given == []):  # [] resets; nothing readable: old's stand
        entries = decode(((old or {}).get("metadata") or {}).get("managedFields"))
    old_set = field_set(old, merge, subresource) if old is not None else set()
    new_set = field_set(new, merge, subresource)
    changed = _changed(old, new, new_set, merge)
    removed = old_set - new_set
    for e in entries:
        if e.subresource == subresource or subresource == "" and e.subresource != "status":
            e.fields -= removed
        if e.identity != (manager, "Update", subresource):
            e.fields -= changed
    if changed or removed:
        mine = _find(entries, manager, "Update", subresource, api_version, now)
        mine.fields |= changed
    return encode(entries)


def apply(live: Mapping[str, Any] | None, config: Mapping[str, Any], manager: str,
          api_version: str, merge: Mapping[str, ListMerge], now: str, force: bool = False,
          subresource: str = "") -> dict[str, Any]:
    """The object after `manager` applied `config` to `live` (None: it does not exist yet),
    with its managedFields; raises Conflicts."""
    applied = field_set(config, merge, subresource)
    if live is None:
        created = copy.deepcopy(dict(config))
        created.setdefault("metadata", {})["managedFields"] = encode(
            [Entry(manager, "Apply", api_version, now, applied, subresource)])
        return created
    entries = decode((live.get("metadata") or {}).get("managedFields"))
    if not entries:  # an object no one has applied: what it has is someone's
        entries = [Entry(BEFORE_FIRST_APPLY, "Update", api_version, now,
                         field_set(live, merge, subresource), subresource)]
    new: dict[str, Any] = merged(_without_managed(live), _without_managed(config), merge)
    conflicts = [Conflict(e.describe(), p) for e in entries
                 if e.identity != (manager, "Apply", subresource)
                 for p in sorted(e.fields & applied)
                 if not p[-1].startswith("k:")
                 and value_at(live, p, merge) != value_at(new, p, merge)]
    if conflicts and not force:
        raise Conflicts(conflicts)
    taken = {c.path for c in conflicts}
    mine = _find(entries, manager, "Apply", subresource, api_version, now)
    previously = set(mine.fields)
    mine.fields = set(applied)
    for e in entries:
        if e is not mine:
            e.fields -= taken
    owned_by_others: set[Path] = set().union(*(e.fields for e in entries if e is not mine))
    kept = applied | owned_by_others
    gone = {path for path in previously - kept
            if not any(p[:len(path)] == path for p in kept)}  # nothing kept beneath it
    for path in gone:
        if not any(path[:i] in gone for i in range(1, len(path))):  # the outermost only
            _remove(new, path, merge)
    new.setdefault("metadata", {})["managedFields"] = encode(entries)
    return new


def _without_managed(obj: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(dict(obj))
    (out.get("metadata") or {}).pop("managedFields", None)
    return out


def allowed_by_last_applied(live: Mapping[str, Any], merge: Mapping[str, ListMerge]
                            ) -> set[Path]:
    """The fields of live's client-side-apply annotation whose values are still live: the
    first server-side apply by kubectl may take them without a conflict (as Kubernetes'
    lastAppliedManager lets it)."""
    text = ((live.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED)
    try:
        last = json.loads(text) if text else None
    except ValueError:
        return set()
    if not isinstance(last, dict) or last.get("apiVersion") != live.get("apiVersion"):
        return set()
    return {p for p in field_set(last, merge)
            if p[-1].startswith("k:") or value_at(last, p, merge) == value_at(live, p, merge)}


def conflict_message(conflicts: list[Conflict]) -> str:
    if len(conflicts) == 1:
        c = conflicts[0]
        return f"Apply failed with 1 conflict: conflict with {c.manager}: {path_text(c.path)}"
    lines = []
    for manager in sorted({c.manager for c in conflicts}):
        lines.append(f"conflicts with {manager}:")
        lines += [f"- {path_text(c.path)}" for c in conflicts if c.manager == manager]
    return f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)
