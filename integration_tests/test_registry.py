"""The lab's private registry on the live lab: images pulled from it with the pull Secret
`lab up` wrote (imagePullPolicy Always, the pod's own imagePullSecrets or its service
account's), and a pull without credentials failing as Kubernetes reports it (ErrImagePull,
then ImagePullBackOff). Oracles: the node's dockerd (the image's repo digest from the
registry), the container's state and the Events."""

from __future__ import annotations

import pytest

from integration_tests.hosts import Cluster, wait_until
from integration_tests.test_pods import create_pod, pod_status, wait_running


@pytest.fixture
def registry(cluster: Cluster, ns: str) -> str:
    """The registry's address, with its pull Secret copied into the test's namespace."""
    config = cluster.inventory.raw.get("registry")
    if not config:
        pytest.skip(f"inventory {cluster.name!r} names no registry")
    api = cluster.api()
    secret = api.get(f"/api/v1/namespaces/default/secrets/{config['pull_secret']}").json()
    assert secret["type"] == "kubernetes.io/dockerconfigjson"
    api.post(f"/api/v1/namespaces/{ns}/secrets", json={
        "metadata": {"name": "pull"}, "type": secret["type"], "data": secret["data"]}
    ).raise_for_status()
    return config["address"]


def _web(name: str, image: str) -> dict:
    return {"name": name, "image": image, "imagePullPolicy": "Always"}


def test_an_image_is_pulled_from_the_lab_registry_with_the_pull_secret(
        cluster: Cluster, ns: str, registry: str) -> None:
    host = cluster.hosts[1]
    image = f"{registry}/orch/web:1"
    create_pod(cluster, ns, "pulled", host.name, [_web("web", image)],
               imagePullSecrets=[{"name": "pull"}])
    status = wait_running(cluster, ns, "pulled", timeout=90)
    assert status["containerStatuses"][0]["image"] == image
    client = cluster.docker(host)
    try:
        digests = client.images.get(image).attrs["RepoDigests"]
    finally:
        client.close()
    assert any(d.startswith(f"{registry}/orch/web@sha256:") for d in digests)
    events = cluster.api().get(f"/api/v1/namespaces/{ns}/events", params={
        "fieldSelector": "involvedObject.name=pulled"}).json()["items"]
    assert any(e["reason"] == "Pulled" and image in e["message"] for e in events)

    # the service account's pull secrets serve a pod that names none
    cluster.api().patch(f"/api/v1/namespaces/{ns}/serviceaccounts/default",
                        json={"imagePullSecrets": [{"name": "pull"}]},
                        headers={"Content-Type": "application/merge-patch+json"}
                        ).raise_for_status()
    made = create_pod(cluster, ns, "by-account", cluster.hosts[2].name, [_web("web", image)])
    assert made["spec"]["imagePullSecrets"] == [{"name": "pull"}]
    wait_running(cluster, ns, "by-account", timeout=90)


def test_a_pull_without_credentials_fails_then_backs_off(cluster: Cluster, ns: str,
                                                       registry: str) -> None:
    create_pod(cluster, ns, "denied", cluster.hosts[2].name,
               [_web("web", f"{registry}/orch/web:1")])

    def waiting() -> dict:
        statuses = pod_status(cluster, ns, "denied").get("containerStatuses") or [{}]
        return statuses[0].get("state", {}).get("waiting") or {}
    first = wait_until(lambda: (w := waiting()).get("reason") in ("ErrImagePull",
                                                                  "ImagePullBackOff") and w,
                       60, "the failed pull")
    assert "no basic auth credentials" in first["message"] or \
        "unauthorized" in first["message"].lower(), first
    wait_until(lambda: waiting().get("reason") == "ImagePullBackOff", 60, "the back-off")
    events = cluster.api().get(f"/api/v1/namespaces/{ns}/events", params={
        "fieldSelector": "involvedObject.name=denied"}).json()["items"]
    assert any(e["reason"] == "BackOff" and "Back-off pulling image" in e["message"]
               for e in events)
    assert pod_status(cluster, ns, "denied")["phase"] == "Pending"
