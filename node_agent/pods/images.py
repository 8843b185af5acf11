"""Which credentials pull which image (pure): a pod's imagePullSecrets — Secrets of type
kubernetes.io/dockerconfigjson (`.dockerconfigjson`, a docker config.json) or
kubernetes.io/dockercfg (`.dockercfg`, the older map) — matched to the image's registry as
docker names registries, as kubelet's credential keyring does."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable

from kube.kinds.secret import Secret
from node_agent.runtime.protocol import RegistryCredential

DOCKER_HUB = "docker.io"
HUB_ALIASES = {"docker.io", "index.docker.io", "registry-1.docker.io"}


def registry_of(image: str) -> str:
    """The registry an image reference names: its first component where that has a dot or
    a port or is localhost (docker's rule), else Docker Hub."""
    first, _, rest = image.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return first
    return DOCKER_HUB


def _host(key: str) -> str:
    """A config.json key ("https://r.example:5000/v1/", "r.example:5000") → its host:port."""
    key = key.removeprefix("https://").removeprefix("http://")
    host = key.split("/", 1)[0]
    return DOCKER_HUB if host in HUB_ALIASES else host


def _auths(secret: Secret) -> dict[str, object]:
    data = secret.data or {}
    try:
        if secret.type == "kubernetes.io/dockerconfigjson" and ".dockerconfigjson" in data:
            doc = json.loads(base64.b64decode(data[".dockerconfigjson"]))
            return dict(doc.get("auths") or {})
        if secret.type == "kubernetes.io/dockercfg" and ".dockercfg" in data:
            return dict(json.loads(base64.b64decode(data[".dockercfg"])))
    except (ValueError, binascii.Error, AttributeError):
        return {}
    return {}


def credentials_for(image: str, secrets: Iterable[Secret]) -> list[RegistryCredential]:
    """The credentials, in the secrets' order, that the image's registry may accept."""
    registry = registry_of(image)
    out = []
    for secret in secrets:
        for key, entry in _auths(secret).items():
            if _host(key) != registry or not isinstance(entry, dict):
                continue
            user, password = entry.get("username"), entry.get("password")
            if entry.get("auth"):
                try:
                    user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
                except (ValueError, binascii.Error):
                    continue
            if user is not None and password is not None:
                out.append(RegistryCredential(str(user), str(password)))
    return out
