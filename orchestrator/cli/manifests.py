"""Reading manifests: `-f FILE|DIR|-`, multi-document YAML or JSON (a `kind: List` is unrolled).

Every object is returned with where it came from, so that any later error (a field the server
rejects, a kind it does not serve) names the file and the document. Problems found here raise
ManifestError with the same kind of message. Pure apart from reading the files.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kube.registry import ResourceType, UnknownKind, by_kind

EXTENSIONS = (".yaml", ".yml", ".json")


class ManifestError(ValueError):
    pass


@dataclass(frozen=True)
class Manifest:
    source: str  # file name, or "-" for stdin
    document: int  # 1-based, in the file
    obj: dict[str, Any]
    rt: ResourceType

    @property
    def where(self) -> str:
        return f"{self.source} (document {self.document})" if self.source != "-" \
            else f"stdin (document {self.document})"

    @property
    def name(self) -> str:
        return self.obj["metadata"].get("name") or ""


def files_of(paths: tuple[str, ...], recursive: bool = False) -> list[str]:
    """The files `-f` names: a directory contributes its .yaml/.yml/.json files, sorted."""
    out: list[str] = []
    for p in paths:
        if p == "-":
            out.append(p)
            continue
        path = Path(p)
        if path.is_dir():
            pattern = "**/*" if recursive else "*"
            found = sorted(str(f) for f in path.glob(pattern)
                           if f.is_file() and f.suffix in EXTENSIONS)
            if not found:
                raise ManifestError(f"{p}: no .yaml, .yml or .json file in this directory")
            out += found
        elif path.exists():
            out.append(p)
        else:
            raise ManifestError(f"{p}: no such file or directory")
    return out


def read(paths: tuple[str, ...], recursive: bool = False) -> list[Manifest]:
    """All objects of all files, in order; nothing is returned unless every document parses."""
    manifests: list[Manifest] = []
    for source in files_of(paths, recursive):
        text = sys.stdin.read() if source == "-" else _read_text(source)
        manifests += parse(text, source)
    if not manifests:
        raise ManifestError(f"no objects passed to apply in {', '.join(paths)}")
    return manifests


def _read_text(source: str) -> str:
    try:
        return Path(source).read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise ManifestError(f"{source}: cannot read: {e}") from None


def parse(text: str, source: str) -> list[Manifest]:
    where = "stdin" if source == "-" else source
    try:
        if text.lstrip().startswith(("{", "[")):
            documents = [json.loads(text)]
        else:
            documents = list(yaml.safe_load_all(text))
    except json.JSONDecodeError as e:
        raise ManifestError(f"{where}: not valid JSON: {e}") from None
    except yaml.YAMLError as e:
        raise ManifestError(f"{where}: not valid YAML: {' '.join(str(e).split())}") from None
    out: list[Manifest] = []
    for index, doc in enumerate(documents, 1):
        if doc is None:  # an empty document (a trailing ---)
            continue
        items = doc if isinstance(doc, list) else [doc]
        kind = str(doc.get("kind", "")) if isinstance(doc, dict) else ""
        if kind == "List" or kind.endswith("List") and "items" in doc:  # PodList etc. too
            items = doc.get("items") or []
            if not isinstance(items, list):
                raise ManifestError(f"{where} (document {index}): items must be a list")
        for obj in items:
            out.append(check(obj, where if source != "-" else "-", index))
    return out


def check(obj: Any, source: str, index: int) -> Manifest:
    where = f"{'stdin' if source == '-' else source} (document {index})"
    if not isinstance(obj, dict):
        raise ManifestError(f"{where}: an object must be a mapping, not {type(obj).__name__}")
    for field in ("apiVersion", "kind"):
        if not isinstance(obj.get(field), str) or not obj.get(field):
            raise ManifestError(f"{where}: {field} is missing (every object needs apiVersion "
                                f"and kind)")
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        raise ManifestError(f"{where}: metadata is missing or not a mapping")
    if not meta.get("name") and not meta.get("generateName"):
        raise ManifestError(f"{where}: metadata.name is missing")
    for field in ("name", "namespace"):
        if field in meta and not isinstance(meta[field], str):
            raise ManifestError(f"{where}: metadata.{field} must be a string")
    try:
        rt = by_kind(obj["apiVersion"], obj["kind"])
    except UnknownKind as e:
        raise ManifestError(f"{where}: {e}") from None
    return Manifest(source, index, obj, rt)
