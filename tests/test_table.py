"""Server-side printing (kube/table.py): the Table kubectl asks for, and the same cells as
orchctl's tables."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from kube import table
from kube.registry import by_kind
from orchestrator.cli import printers

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
POD = {"apiVersion": "v1", "kind": "Pod",
       "metadata": {"name": "web-1", "namespace": "shop", "creationTimestamp": "2026-12-01T11:58:00Z"},
       "spec": {"nodeName": "host1", "containers": [{"name": "c", "image": "i"}]},
       "status": {"phase": "Running", "podIP": "10.244.1.5", "containerStatuses": [
           {"name": "c", "ready": True, "restartCount": 2, "image": "i",
            "state": {"running": {}}}]}}


@pytest.mark.parametrize("accept,wanted", [
    ("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;"
     "g=meta.k8s.io,application/json", True),  # what kubectl get sends
    ("application/json; as=Table; g=meta.k8s.io; v=v1", True),
    ("application/json", False), ("application/json;as=Table;g=other.io;v=v1", False),
    ("", False)])
def test_a_table_is_asked_for_as_kubernetes_negotiates_it(accept, wanted):
    assert table.wants_table(accept) is wanted


def test_a_pods_table_has_kubectls_columns_and_its_metadata():
    pods = by_kind("v1", "Pod")
    out = table.table(pods, [POD], NOW, {"resourceVersion": "9"})
    assert out["kind"] == "Table" and out["apiVersion"] == "meta.k8s.io/v1"
    names = [(c["name"], c["priority"]) for c in out["columnDefinitions"]]
    assert names == [("Name", 0), ("READY", 0), ("STATUS", 0), ("RESTARTS", 0), ("AGE", 0),
                     ("IP", 1), ("NODE", 1)]
    [row] = out["rows"]
    assert row["cells"] == ["web-1", "1/1", "Running", "2", "2m", "10.244.1.5", "host1"]
    assert row["object"] == {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                             "metadata": POD["metadata"]}
    assert "object" not in table.table(pods, [POD], NOW, include="None")["rows"][0]
    assert table.table(pods, [POD], NOW, include="Object")["rows"][0]["object"] == POD


def test_orchctl_prints_the_same_cells():
    pods = by_kind("v1", "Pod")
    [_, wide] = printers.table_rows(pods, [POD], NOW, wide=True)
    assert wide == table.table(pods, [POD], NOW)["rows"][0]["cells"]
