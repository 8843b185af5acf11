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


@pytest.fixture
def built_image(cluster: Cluster, ns: str, base_images):
    """A new image built on the second host only (FROM the Debian base image), removed from
    every host afterwards."""
    if cluster.inventory.kind != "netns":
        pytest.skip(f"`image load|push` is a verb of the netns lab's control command, not of "
                    f"the {cluster.inventory.kind} lab's")
    import io
    tag = f"built-{ns}:1"
    dockerfile = (f"FROM orch/debian:12\nRUN echo made-on-{cluster.hosts[1].name} > /made\n"
                  "CMD [\"sh\", \"-c\", \"cat /made; sleep infinity\"]\n")
    client = cluster.docker(cluster.hosts[1])
    try:
        client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=tag, rm=True)
    finally:
        client.close()
    yield tag
    for host in cluster.hosts:
        c = cluster.docker(host)
        try:
            for name in (tag, f"{cluster.inventory.raw['registry']['address']}/{tag}"):
                try:
                    c.images.remove(name, force=True)
                except Exception:  # noqa: BLE001 - not on this host
                    pass
        finally:
            c.close()


def _logs(cluster: Cluster, ns: str, pod: str) -> str:
    return cluster.api().get(f"/api/v1/namespaces/{ns}/pods/{pod}/log").text


def test_lab_image_load_and_push_bring_a_locally_built_image_to_every_node(
        cluster: Cluster, ns: str, registry: str, built_image: str) -> None:
    made_on = cluster.hosts[1].name
    cluster.control("image", "load", built_image)
    for host in cluster.hosts:  # oracle: each host's own dockerd
        client = cluster.docker(host)
        try:
            assert client.images.get(built_image).tags, host.name
        finally:
            client.close()
    create_pod(cluster, ns, "loaded", cluster.hosts[2].name,
               [{"name": "app", "image": built_image, "imagePullPolicy": "Never"}])
    wait_running(cluster, ns, "loaded", timeout=60)
    wait_until(lambda: f"made-on-{made_on}" in _logs(cluster, ns, "loaded"), 30,
               "the loaded image's own file in the pod's log")

    pushed = cluster.control("image", "push", built_image).stdout.strip().splitlines()
    assert pushed == [f"{registry}/{built_image}"]
    listing = cluster.control("image", "list").stdout
    assert any(line.split()[0] == built_image and line.split()[-1] == "yes"
               for line in listing.splitlines()[1:]), listing
    create_pod(cluster, ns, "pushed", cluster.hosts[0].name,
               [{"name": "app", "image": pushed[0], "imagePullPolicy": "Always"}],
               imagePullSecrets=[{"name": "pull"}])
    wait_running(cluster, ns, "pushed", timeout=90)
    assert f"made-on-{made_on}" in wait_until(lambda: _logs(cluster, ns, "pushed"), 30, "logs")
