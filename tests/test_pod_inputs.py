"""What the agent derives from a pod's spec before it starts a container (pure or on a scratch
directory): env vars from the downward API, and hostPath volumes by type."""

from __future__ import annotations

import pytest

from node_agent.pods.volumes import prepare_host_path
from kube.kinds.pod import Pod
from node_agent.pods.envvars import field_ref_value

POD = Pod.model_validate({
    "metadata": {"name": "web-1", "namespace": "shop", "uid": "u-1",
                 "labels": {"app": "web"}, "annotations": {"team.example/owner": "ana"}},
    "spec": {"containers": [{"name": "c", "image": "i"}]}})


@pytest.mark.parametrize("path,value", [
    ("metadata.name", "web-1"), ("metadata.namespace", "shop"), ("metadata.uid", "u-1"),
    ("spec.nodeName", "host2"), ("status.podIP", "10.244.2.7"), ("status.podIPs", "10.244.2.7"),
    ("status.hostIP", "192.168.56.12"), ("metadata.labels['app']", "web"),
    ("metadata.labels['missing']", ""), ("metadata.annotations['team.example/owner']", "ana"),
])
def test_field_refs_resolve_as_kubelet_resolves_them(path, value):
    assert field_ref_value(POD, path, "host2", "10.244.2.7", "192.168.56.12") == value


def test_file_or_create_makes_an_empty_file_in_an_existing_directory(tmp_path):
    target = tmp_path / "state"
    assert prepare_host_path(target, "FileOrCreate") is None
    assert target.is_file() and target.read_bytes() == b""
    assert "does not exist" in prepare_host_path(tmp_path / "no" / "file", "FileOrCreate")


@pytest.mark.parametrize("kind,make,problem", [
    ("Directory", "dir", None), ("Directory", "file", "not a directory"),
    ("Directory", None, "not a directory"), ("File", "file", None),
    ("File", "dir", "not a file"), ("DirectoryOrCreate", None, None),
    ("DirectoryOrCreate", "file", "not a directory"), ("", None, None),
])
def test_host_path_types_are_checked(tmp_path, kind, make, problem):
    target = tmp_path / "x"
    if make == "dir":
        target.mkdir()
    elif make == "file":
        target.write_text("")
    found = prepare_host_path(target, kind)
    assert (found is None) if problem is None else (problem in found)


@pytest.mark.parametrize("text, expected", [
    ("$(A)-x", "1-x"),
    ("$(MISSING) stays", "$(MISSING) stays"),
    ("$$(A) is escaped", "$(A) is escaped"),
    ("cost: $5 and $", "cost: $5 and $"),
    ("$(A)$(B)", "12"),
    ("unterminated $(A", "unterminated $(A"),
    ("$$$(A)", "$1"),
])
def test_variable_references_expand_as_kubernetes_expands_them(text, expected):
    from node_agent.pods.envvars import expand
    assert expand(text, {"A": "1", "B": "2"}) == expected


def test_env_from_prefixes_keys_and_skips_invalid_names():
    from node_agent.pods.envvars import from_source
    made, invalid = from_source({"color": "blue", "1bad": "x", "a.b": "y"}, "APP_")
    assert made == {"APP_color": "blue", "APP_1bad": "x", "APP_a.b": "y"} and invalid == []
    made, invalid = from_source({"color": "blue", "1bad": "x"}, "")
    assert made == {"color": "blue"} and invalid == ["1bad"]
