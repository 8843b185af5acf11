"""Typed objects (kube.typed): the kinds' frozen models, parsed once per object version."""

from __future__ import annotations

from pathlib import Path

import pydantic
import pytest
import yaml

from kube.kinds.pod import Pod
from kube.objects import freeze
from kube.registry import by_kind
from kube.typed import Unreadable, metadata_of, typed, typed_all
from kube.validation import validate_create

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
POD = {"apiVersion": "v1", "kind": "Pod",
       "metadata": {"name": "web", "namespace": "d", "uid": "u1", "resourceVersion": "7",
                    "labels": {"app": "web"}},
       "spec": {"containers": [{"name": "c", "image": "busybox", "ports": [{"containerPort": 80}],
                                "resources": {"limits": {"cpu": "1"}}}]}}


def _examples() -> list[dict]:
    return [doc for path in sorted(EXAMPLES.glob("*.yaml"))
            for doc in yaml.safe_load_all(path.read_text()) if doc]


@pytest.mark.parametrize("manifest", _examples(), ids=lambda m: f"{m['kind']}/{m['metadata']['name']}")
def test_a_stored_object_parses_back_to_itself(manifest):
    """What the API stores is its model's output, so every reader's parse of it gives the
    same JSON back (Deployment template hashes rely on it)."""
    rt = by_kind(manifest["apiVersion"], manifest["kind"])
    stored = validate_create(rt, manifest, "default")
    assert typed(rt.model, freeze(stored)).to_dict() == stored


def test_a_cached_object_is_parsed_once_and_shared():
    obj = freeze(POD)
    first = typed(Pod, obj)
    assert typed(Pod, obj) is first
    assert metadata_of(obj) is first.metadata
    assert typed(Pod, dict(POD)) is not first  # a caller's own dict: parsed each time


def test_typed_objects_are_read_only_and_defaulted():
    pod = typed(Pod, freeze(POD))
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        pod.spec.node_name = "host1"  # type: ignore[misc]
    [c] = pod.spec.containers
    assert c.resources is not None and c.resources.requests == {"cpu": "1"}  # from the limit
    assert pod.status.phase is None  # status is never None, as in Kubernetes


def test_an_unreadable_object_is_named_and_skipped():
    bad = freeze({**POD, "spec": {"containers": [{"name": "c"}]}})  # no image
    with pytest.raises(Unreadable, match="Pod d/web does not parse"):
        typed(Pod, bad)
    assert typed_all(Pod, [bad, freeze(POD)]) == [typed(Pod, freeze(POD))]


def test_metadata_alone_for_readers_generic_over_kinds():
    meta = metadata_of(freeze({"metadata": {"name": "x", "ownerReferences": [
        {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "r1",
         "controller": True}]}}))
    assert meta.owner_references is not None and meta.owner_references[0].uid == "r1"


def test_an_unreadable_cached_object_is_parsed_and_reported_once(caplog):
    bad = freeze({**POD, "spec": {"containers": [{"name": "c"}]}})
    with caplog.at_level("WARNING"):
        assert typed_all(Pod, [bad]) == [] and typed_all(Pod, [bad]) == []
    assert sum("does not parse" in r.message for r in caplog.records) == 1
    assert metadata_of(bad).name == "web"  # its metadata still reads
