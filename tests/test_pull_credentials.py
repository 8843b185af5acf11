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
