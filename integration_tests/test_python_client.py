"""The official Kubernetes Python client (PyPI `kubernetes`, pinned by requirements.lock)
against the lab, configured from the kubeconfig the lab writes: its typed models must read
every answer, its watch must get the initial ADDED events, its patches their merge, its
exec the WebSocket stream."""

from __future__ import annotations

import time

import pytest
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException
from kubernetes.stream import stream

from integration_tests.hosts import Cluster


@pytest.fixture
def api(cluster: Cluster):
    path = cluster.inventory.raw.get("kubeconfig")
    if not path:
        pytest.skip(f"inventory {cluster.name!r} names no kubeconfig")
    api_client = config.new_client_from_config(config_file=path)
    yield api_client
    api_client.close()


def web_deployment(replicas: int) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                         "containers": [{"name": "web", "image": "orch/web:1",
                                         "ports": [{"containerPort": 80}],
                                         "env": [{"name": "A", "value": "1"}]}]}}}}


def test_create_list_in_pages_and_watch_from_the_start(api, ns: str):
    core = client.CoreV1Api(api)
    for i in range(5):
        core.create_namespaced_config_map(ns, client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name=f"c{i}", labels={"app": "demo"}),
            data={"i": str(i)}))
    names, token, pages = [], None, 0
    while True:
        page = core.list_namespaced_config_map(ns, limit=2, _continue=token,
                                               label_selector="app=demo")
        names += [c.metadata.name for c in page.items]
        pages += 1
        token = page.metadata._continue
        if not token:
            break
    assert pages == 3 and sorted(names) == [f"c{i}" for i in range(5)]
    # a watch without a resourceVersion first sends the objects there are, as ADDED
    w, seen = watch.Watch(), []
    for event in w.stream(core.list_namespaced_config_map, ns, label_selector="app=demo",
                          timeout_seconds=30):
        seen.append((event["type"], event["object"].metadata.name))
        if len(seen) == 5:
            w.stop()
    assert sorted(seen) == [("ADDED", f"c{i}") for i in range(5)]
    core.delete_collection_namespaced_config_map(ns, label_selector="app=demo")
    assert core.list_namespaced_config_map(ns, label_selector="app=demo").items == []


def test_patches_scale_exec_and_delete(api, ns: str):
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    apps.create_namespaced_deployment(ns, web_deployment(1))
    # a dict body is a strategic merge patch: env merged by name, ports kept
    patched = apps.patch_namespaced_deployment("web", ns, {"spec": {"template": {"spec": {
        "containers": [{"name": "web", "env": [{"name": "B", "value": "2"}]}]}}}})
    [container] = patched.spec.template.spec.containers
    assert [(e.name, e.value) for e in container.env] == [("A", "1"), ("B", "2")]
    assert [p.container_port for p in container.ports] == [80]
    scale = apps.patch_namespaced_deployment_scale("web", ns, {"spec": {"replicas": 2}})
    assert scale.spec.replicas == 2
    assert apps.read_namespaced_deployment_scale("web", ns).spec.replicas == 2

    deadline = time.monotonic() + 180
    while True:
        d = apps.read_namespaced_deployment("web", ns)
        if (d.status.ready_replicas, d.status.updated_replicas, d.status.replicas) == (2, 2, 2):
            break
        assert time.monotonic() < deadline, f"not rolled out: {d.status}"
        time.sleep(1)
    [new_set] = [rs for rs in apps.list_namespaced_replica_set(ns).items if rs.spec.replicas]
    template_hash = new_set.metadata.labels["pod-template-hash"]
    pods = [p for p in core.list_namespaced_pod(
        ns, label_selector=f"app=web,pod-template-hash={template_hash}").items
        if p.status.phase == "Running" and not p.metadata.deletion_timestamp]
    out = stream(core.connect_get_namespaced_pod_exec, pods[0].metadata.name, ns,
                 command=["sh", "-c", "echo $B; hostname"], stderr=True, stdin=False,
                 stdout=True, tty=False)
    assert out.split() == ["2", pods[0].metadata.name]

    apps.delete_namespaced_deployment("web", ns)
    with pytest.raises(ApiException) as e:
        apps.read_namespaced_deployment("web", ns)
    assert e.value.status == 404
