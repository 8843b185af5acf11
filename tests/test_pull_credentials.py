"""Which imagePullSecret credentials pull which image (node_agent/pods/images.py)."""

from __future__ import annotations

import base64
import json

from kube.kinds.secret import Secret
from node_agent.pods.images import credentials_for, registry_of
from node_agent.runtime.protocol import RegistryCredential


def secret(kind: str, doc: dict) -> Secret:
    key = ".dockerconfigjson" if kind == "kubernetes.io/dockerconfigjson" else ".dockercfg"
    return Secret.model_validate({"metadata": {"name": "s"}, "type": kind, "data": {
        key: base64.b64encode(json.dumps(doc).encode()).decode()}})


def test_the_registry_of_an_image_follows_dockers_rule():
    assert registry_of("192.168.56.2:5000/orch/web:1") == "192.168.56.2:5000"
    assert registry_of("reg.example/app") == "reg.example"
    assert registry_of("localhost/app") == "localhost"
    assert registry_of("library/nginx") == registry_of("nginx") == "docker.io"


def test_credentials_match_the_registry_in_either_secret_format():
    auth = base64.b64encode(b"u:p:w").decode()
    config = secret("kubernetes.io/dockerconfigjson", {"auths": {
        "https://192.168.56.2:5000/v1/": {"auth": auth},
        "other.example": {"username": "x", "password": "y"}}})
    legacy = secret("kubernetes.io/dockercfg", {"index.docker.io": {"username": "h",
                                                                     "password": "q"}})
    assert credentials_for("192.168.56.2:5000/orch/web:1", [config, legacy]) == [
        RegistryCredential("u", "p:w")]
    assert credentials_for("nginx", [config, legacy]) == [RegistryCredential("h", "q")]
    assert credentials_for("third.example/x", [config]) == []
    opaque = Secret.model_validate({"metadata": {"name": "o"}, "data": {"a": "Yg=="}})
    assert credentials_for("nginx", [opaque]) == []


def test_keys_match_as_kubelets_keyring_does():
    from node_agent.pods.images import key_matches
    image = "eu.r.example:5000/team/app:1.2"
    assert key_matches("eu.r.example:5000", image)
    assert key_matches("https://eu.r.example:5000/v2/", image)
    assert key_matches("*.r.example:5000", image)  # one host part per glob part
    assert key_matches("eu.r.example:5000/team", image)  # a path prefix of the repository
    assert not key_matches("eu.r.example:5000/other", image)
    assert not key_matches("*.example:5000", image)  # parts counted: a glob is one part
    assert not key_matches("eu.r.example", image)  # the port must be the same
    assert not key_matches("r.example:5000", image)
    assert key_matches("eu.r.example:5000/team", "eu.r.example:5000/team/app@sha256:" + "0" * 64)
    assert key_matches("docker.io/myorg", "myorg/app:1") and key_matches("docker.io", "nginx")
    assert key_matches("https://index.docker.io/v1/", "docker.io/library/nginx:1")
    assert not key_matches("docker.io/myorg", "nginx")


def test_the_more_specific_key_of_a_secret_is_tried_first():
    config = secret("kubernetes.io/dockerconfigjson", {"auths": {
        "r.example": {"username": "any", "password": "1"},
        "r.example/team": {"username": "team", "password": "2"},
        "*.example": {"username": "glob", "password": "3"}}})
    other = secret("kubernetes.io/dockerconfigjson", {"auths": {
        "r.example/team/app": {"username": "later", "password": "4"}}})
    assert [c.username for c in credentials_for("r.example/team/app", [config, other])] == [
        "team", "any", "glob", "later"]
