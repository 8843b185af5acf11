"""Strategic merge patch (kube/strategicpatch.py) with a Deployment's merge metadata: the cases
kubectl's apply and patch send, and the directives, as Kubernetes applies them."""

from __future__ import annotations

import copy

import pytest

from kube.registry import by_kind
from kube.strategicpatch import PatchError, apply

LISTS = by_kind("apps/v1", "Deployment").merge


def deployment() -> dict:
    return {"metadata": {"name": "web", "labels": {"app": "web", "tier": "front"},
                         "finalizers": ["a", "b"]},
            "spec": {"replicas": 2, "strategy": {"type": "RollingUpdate",
                                                 "rollingUpdate": {"maxSurge": 1}},
                     "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
                         {"name": "web", "image": "web:1", "command": ["httpd", "-f"],
                          "ports": [{"containerPort": 80, "protocol": "TCP"}],
                          "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
                         {"name": "sidecar", "image": "log:1"}]}}}}


def containers(obj: dict) -> list[dict]:
    return obj["spec"]["template"]["spec"]["containers"]


def patch_of_containers(*items: dict, **extra) -> dict:
    return {"spec": {"template": {"spec": {"containers": list(items), **extra}}}}


def test_containers_merge_by_name_keeping_what_the_patch_does_not_name():
    out = apply(deployment(), patch_of_containers(
        {"name": "web", "image": "web:2", "env": [{"name": "B", "value": "3"},
                                                  {"name": "C", "value": "4"}]}), LISTS)
    web, sidecar = containers(out)
    assert web["image"] == "web:2" and web["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert web["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "3"},
                          {"name": "C", "value": "4"}]
    assert sidecar == {"name": "sidecar", "image": "log:1"}


def test_a_new_item_is_appended_and_a_deleted_one_goes():
    out = apply(deployment(), patch_of_containers({"name": "sidecar", "$patch": "delete"},
                                                  {"name": "cache", "image": "redis:7"}), LISTS)
    assert [c["name"] for c in containers(out)] == ["web", "cache"]


def test_a_list_without_a_strategy_is_replaced_and_null_deletes():
    out = apply(deployment(), {"metadata": {"labels": {"tier": None}}, **patch_of_containers(
        {"name": "web", "command": ["sleep"]})}, LISTS)
    assert out["metadata"]["labels"] == {"app": "web"}
    assert containers(out)[0]["command"] == ["sleep"]


def test_replace_retain_keys_and_primitive_list_directives():
    out = apply(deployment(), {
        "metadata": {"labels": {"$patch": "replace", "only": "this"},
                     "finalizers": ["c", "a"], "$deleteFromPrimitiveList/finalizers": ["b"]},
        "spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}, LISTS)
    assert out["metadata"]["labels"] == {"only": "this"}
    assert out["metadata"]["finalizers"] == ["a", "c"]  # b removed, c added once
    assert out["spec"]["strategy"] == {"type": "Recreate"}


def test_a_replace_item_replaces_the_whole_list_and_set_element_order_orders_it():
    replaced = apply(deployment(), patch_of_containers({"$patch": "replace"},
                                                       {"name": "only", "image": "x:1"}), LISTS)
    assert containers(replaced) == [{"name": "only", "image": "x:1"}]
    ordered = apply(deployment(), patch_of_containers(
        **{"$setElementOrder/containers": [{"name": "sidecar"}, {"name": "web"}]}), LISTS)
    assert [c["name"] for c in containers(ordered)] == ["sidecar", "web"]


def test_neither_the_original_nor_the_patch_is_changed():
    original, patch = deployment(), patch_of_containers({"name": "web", "image": "web:2"})
    before = (copy.deepcopy(original), copy.deepcopy(patch))
    apply(original, patch, LISTS)
    assert (original, patch) == before


@pytest.mark.parametrize("patch,message", [
    ([{"op": "add"}], "must be a JSON object"),
    (patch_of_containers({"image": "x"}), "spec.template.spec.containers: every item needs its "
                                          "merge key 'name'"),
    ({"spec": {"$patch": "explode"}}, "spec: unknown $patch directive 'explode'"),
    ({"spec": {"$retainKeys": "type"}}, "spec.$retainKeys: must be a list"),
    ({"metadata": {"finalizers": [{"a": 1}]}}, "metadata.finalizers: a list of values"),
], ids=["not-an-object", "no-merge-key", "unknown-directive", "bad-retain-keys",
        "object-in-a-set"])
def test_a_malformed_patch_names_where(patch, message):
    with pytest.raises(PatchError, match=message.replace("$", r"\$").replace("[", r"\[")):
        apply(deployment(), patch, LISTS)
