"""Which credentials pull which image (pure): a pod's imagePullSecrets — Secrets of type
kubernetes.io/dockerconfigjson (`.dockerconfigjson`, a docker config.json) or
kubernetes.io/dockercfg (`.dockercfg`, the older map) — matched to the image as kubelet's
credential keyring (pkg/credentialprovider/keyring.go) matches them:

- a key is a registry host, with a port and a path if it has them (`r.example:5000/team`;
  a scheme and a `/v1/` or `/v2/` path are dropped); its host parts may be globs, each
  matching one part of the image's host (`*.r.example` matches `eu.r.example`, not
  `r.example` nor `a.eu.r.example`); the port must be the same; its path a prefix of the
  image's repository path;
- the secrets are tried in the pod's order, and within one secret the more specific keys
  first (reverse lexical order, so `r.example/team` before `r.example`);
- Docker Hub's keys (`https://index.docker.io/v1/`, `docker.io`, …) serve images without a
  registry (`nginx` is `docker.io/library/nginx`)."""

from __future__ import annotations

import base64
import binascii
import fnmatch
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


def _location(reference: str) -> tuple[str, str]:
    """A config.json key ("https://r.example:5000/v1/", "r.example/team") or an image's
    repository as (host[:port], path): no scheme, `/v1/` and `/v2/` dropped, Docker Hub's
    names as one."""
    reference = reference.removeprefix("https://").removeprefix("http://")
    host, slash, path = reference.partition("/")
    path = slash + path
    if path.startswith(("/v1/", "/v2/")):
        path = path[3:]
    path = "" if path == "/" else path
    return (DOCKER_HUB if host in HUB_ALIASES else host), path


def _repository(image: str) -> tuple[str, str]:
    """The image's (registry, /repository path), without its tag or digest; Docker Hub's
    images as docker.io/library/NAME or docker.io/USER/NAME."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name[:len(name) - len(last)] + last.split(":", 1)[0]
    registry = registry_of(name)
    if registry == DOCKER_HUB:
        rest = name.split("/", 1)[1] if name.split("/", 1)[0] in HUB_ALIASES else name
        return DOCKER_HUB, "/" + (rest if "/" in rest else f"library/{rest}")
    return _location(name)


def _split_host(host: str) -> tuple[list[str], str]:
    name, _, port = host.partition(":")
    return name.split("."), port


def key_matches(key: str, image: str) -> bool:
    """Whether a config.json key serves `image` (kubelet's URLsMatch)."""
    glob_host, glob_path = _location(key)
    host, path = _repository(image)
    glob_parts, glob_port = _split_host(glob_host)
    parts, port = _split_host(host)
    if glob_port != port or len(glob_parts) != len(parts):
        return False
    if not all(fnmatch.fnmatchcase(part, glob) for glob, part in zip(glob_parts, parts)):
        return False
    return path.startswith(glob_path)


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
    """The credentials that may pull `image`, in the order they are to be tried: the
    secrets' order, and in each the more specific keys first."""
    out = []
    for secret in secrets:
        auths = _auths(secret)
        for key in sorted(auths, key=lambda k: "".join(_location(k)), reverse=True):
            entry = auths[key]
            if not isinstance(entry, dict) or not key_matches(key, image):
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
