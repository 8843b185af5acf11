"""The node's log links (node_agent.pods.logfiles): kubelet's layout, replaced atomically,
pruned when their container or pod is gone."""

from __future__ import annotations

import os

from node_agent.pods.logfiles import PodLogFiles


def _log(tmp_path, name):
    path = tmp_path / "docker" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"log":"hi\\n","stream":"stdout","time":"2026-12-02T00:00:00Z"}\n')
    return path


def test_a_started_container_is_linked_where_kubelet_puts_it(tmp_path):
    logs = PodLogFiles(tmp_path / "var-log")
    docker_log = _log(tmp_path, "c1-json.log")
    logs.link("default", "web-0", "u-1", "app", 0, "c1", str(docker_log))
    per_pod = tmp_path / "var-log/pods/default_web-0_u-1/app/0.log"
    node = tmp_path / "var-log/containers/web-0_default_app-c1.log"
    assert os.readlink(per_pod) == str(docker_log)
    assert os.readlink(node) == str(per_pod)
    assert node.read_text().startswith('{"log":"hi')


def test_a_restart_adds_a_log_and_a_removed_container_is_pruned(tmp_path):
    logs = PodLogFiles(tmp_path)
    first, second = _log(tmp_path, "c1-json.log"), _log(tmp_path, "c2-json.log")
    logs.link("ns", "p", "u", "app", 0, "c1", str(first))
    first.unlink()  # the runtime removed the dead container
    logs.link("ns", "p", "u", "app", 1, "c2", str(second))
    assert sorted(os.listdir(tmp_path / "containers")) == ["p_ns_app-c2.log"]
    assert (tmp_path / "pods/ns_p_u/app/1.log").read_text() == second.read_text()


def test_removing_a_pod_removes_its_links_only(tmp_path):
    logs = PodLogFiles(tmp_path)
    a, b = _log(tmp_path, "a.log"), _log(tmp_path, "b.log")
    logs.link("ns", "a", "ua", "app", 0, "ca", str(a))
    logs.link("ns", "b", "ub", "app", 0, "cb", str(b))
    logs.remove_pod("ua")
    assert os.listdir(tmp_path / "pods") == ["ns_b_ub"]
    assert os.listdir(tmp_path / "containers") == ["b_ns_app-cb.log"]


def test_linking_again_is_harmless_and_no_log_path_links_nothing(tmp_path):
    logs = PodLogFiles(tmp_path)
    a = _log(tmp_path, "a.log")
    logs.link("ns", "a", "ua", "app", 0, "ca", str(a))
    logs.link("ns", "a", "ua", "app", 0, "ca", str(a))
    assert os.listdir(tmp_path / "containers") == ["a_ns_app-ca.log"]
    logs.link("ns", "b", "ub", "app", 0, "cb", "")
    assert os.listdir(tmp_path / "pods") == ["ns_a_ua"]


def test_a_failure_to_link_never_raises(tmp_path):
    (tmp_path / "pods").write_text("not a directory")
    PodLogFiles(tmp_path).link("ns", "a", "ua", "app", 0, "ca", "/x.log")
