"""kubectl's JSONPath templates and custom columns (orchestrator/cli/jsonpath.py)."""

from __future__ import annotations

import pytest

from orchestrator.cli import jsonpath as jp

PODS = {"kind": "List", "items": [
    {"metadata": {"name": "a", "labels": {"app": "web"}},
     "spec": {"nodeName": "host1", "containers": [{"name": "c", "image": "x:1"},
                                                   {"name": "d", "image": "y:2"}]},
     "status": {"conditions": [{"type": "Ready", "status": "True"}], "podIP": "10.0.0.1"}},
    {"metadata": {"name": "b"}, "spec": {"containers": [{"name": "c", "image": "x:1"}]},
     "status": {"conditions": [{"type": "Ready", "status": "False"}]}}]}


@pytest.mark.parametrize("template, expected", [
    ("{.items[0].metadata.name}", "a"),
    ("{.items[*].metadata.name}", "a b"),
    ("{.items[-1].metadata.name}", "b"),
    ("{.items[0:1].metadata.name}", "a"),
    ("{$.items[0].spec.containers[*].image}", "x:1 y:2"),
    ("{.items[0].metadata.labels}", '{"app":"web"}'),
    ("{.items[0].metadata.labels['app']}", "web"),
    ('{range .items[*]}{.metadata.name}{"\\t"}{.spec.nodeName}{"\\n"}{end}', "a\thost1\nb\t\n"),
    ('{.items[?(@.status.podIP)].metadata.name}', "a"),
    ('{.items[*].status.conditions[?(@.type=="Ready")].status}', "True False"),
    ('{range .items[*]}{range .spec.containers[*]}{.name},{end};{end}', "c,d,;c,;"),
    ("{..image}", "x:1 y:2 x:1"),
    ("name: {.items[1].metadata.name}!", "name: b!"),
    ("{.items[5].metadata.name}", ""),
])
def test_templates_render_as_kubectls(template, expected):
    assert jp.render(template, PODS) == expected


@pytest.mark.parametrize("template", ["{.items[", "{range .items[*]}{.x}", "{end}",
                                      "{.items[?(@.a ~ 1)]}"])
def test_bad_templates_are_named(template):
    with pytest.raises(jp.JSONPathError):
        jp.render(template, PODS)


def test_custom_columns():
    columns = jp.custom_columns("NAME:.metadata.name,NODE:.spec.nodeName,IMAGES:{.spec.containers[*].image}")
    rows = [[jp.column_value(e, p) for _, e in columns] for p in PODS["items"]]
    assert [h for h, _ in columns] == ["NAME", "NODE", "IMAGES"]
    assert rows == [["a", "host1", "x:1,y:2"], ["b", "<none>", "x:1"]]
    with pytest.raises(jp.JSONPathError, match="HEADER:EXPRESSION"):
        jp.custom_columns("NAME")
