"""The kinds' declarations (kube/kinds): each is consistent with its model, and what derives
from it (field selectors, `get all`, status on create, update rules) behaves as declared."""

from __future__ import annotations

import typing

import pytest
from pydantic import BaseModel

from kube.kinds import KINDS
from kube.registry import by_category, by_kind, by_name
from kube.selectors import SelectorError, selects
from kube.validation import Invalid, validate_update


def _field_type(model: type[BaseModel], json_name: str):
    for name, f in model.model_fields.items():
        if (f.alias or name) == json_name:
            return f.annotation
    raise KeyError(json_name)


def _models(annotation) -> list:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models(arg)]


def _resolve(model: type[BaseModel], path: str):
    """The annotation at a merge path ("spec.containers[].ports") of `model`."""
    annotation = model
    for part in path.split("."):
        is_item = part.endswith("[]")
        current = next(iter(_models(annotation)))
        annotation = _field_type(current, part.removesuffix("[]"))
        if is_item:
            if typing.get_origin(annotation) is not list:  # Optional[list[X]]
                annotation = next(a for a in typing.get_args(annotation)
                                  if typing.get_origin(a) is list)
            annotation = typing.get_args(annotation)[0]
    return annotation


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_every_merge_path_names_a_list_of_the_model(kind):
    for path in kind.merge:
        annotation = _resolve(kind.model, path)
        assert list in {typing.get_origin(a) for a in (annotation, *typing.get_args(annotation))}, \
            f"{kind.kind}.{path} is not a list"


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_every_kind_is_found_by_its_names_and_prints_columns(kind):
    assert by_kind(kind.api_version, kind.kind) is kind
    for name in (kind.resource, kind.singular, *kind.short_names):
        assert by_name(name) is kind
    assert kind.columns and all(c.name.isupper() for c in kind.columns)
    for path in kind.immutable:
        _resolve(kind.model, path)  # names a field


def test_get_all_is_the_all_category_in_kubectls_order():
    assert [k.resource for k in by_category("all")] == [
        "pods", "replicationcontrollers", "services", "daemonsets", "deployments", "replicasets",
        "statefulsets", "cronjobs", "jobs"]


@pytest.mark.parametrize("resource,selector,ok", [
    ("pods", "spec.nodeName=host1,status.phase=Running", True),
    ("secrets", "type=Opaque", True),
    ("nodes", "spec.unschedulable=true", True),
    ("events", "involvedObject.kind=Pod,reason=Started", True),
    ("configmaps", "metadata.name=a", True),
    ("configmaps", "spec.nodeName=host1", False),
    ("pods", "type=Opaque", False),
], ids=lambda v: str(v))
def test_field_selectors_are_the_kinds_own(resource, selector, ok):
    kind = by_name(resource)
    if ok:
        selects(None, selector, kind.selectable_fields)
    else:
        with pytest.raises(SelectorError):
            selects(None, selector, kind.selectable_fields)


def test_a_boolean_field_selects_as_go_formats_it():
    node = {"metadata": {"name": "n"}, "spec": {"unschedulable": True}}
    assert selects(None, "spec.unschedulable=true", by_name("nodes").selectable_fields)(node)


@pytest.mark.parametrize("resource,old,new,field", [
    ("secrets", {"type": "Opaque"}, {"type": "kubernetes.io/basic-auth",
                                     "data": {"username": "YQ=="}}, "type"),
    ("configmaps", {"immutable": True, "data": {"a": "1"}},
     {"immutable": True, "data": {"a": "2"}}, "data"),
    ("nodes", {"spec": {"podCIDR": "10.244.1.0/24"}}, {"spec": {"podCIDR": "10.244.2.0/24"}},
     "spec.podCIDR"),
], ids=["secret-type", "immutable-configmap", "node-pod-cidr"])
def test_update_rules_come_from_the_kind(resource, old, new, field):
    kind = by_name(resource)
    meta = {"metadata": {"name": "x", "namespace": "d"} if kind.namespaced else {"name": "x"}}
    with pytest.raises(Invalid) as caught:
        validate_update(kind, {**meta, **old}, {**meta, **new}, "d")
    assert field in [e.field for e in caught.value.errors]
