"""kubeconfig files, as kubectl and the official client libraries read them (pure rendering,
one small writer).

A lab writes one beside its inventory (`kubeconfig` there) so that `kubectl` and
`kubernetes.config.load_kube_config()` reach it as they are: the API's address, the cluster's
CA certificate embedded (`certificate-authority-data`: the file works wherever it is copied),
and the user's token by path (`tokenFile`: the secret is not copied), written mode 0600."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import yaml


def render(name: str, server: str, ca_pem: bytes, token_file: str, user: str = "admin",
           namespace: str | None = None) -> dict[str, Any]:
    """A kubeconfig with one cluster, user and context, all called after `name` (the user
    `name-admin`), the context current."""
    context: dict[str, Any] = {"cluster": name, "user": f"{name}-{user}"}
    if namespace:
        context["namespace"] = namespace
    return {"apiVersion": "v1", "kind": "Config", "preferences": {},
            "clusters": [{"name": name, "cluster": {
                "server": server, "certificate-authority-data": base64.b64encode(ca_pem).decode()}}],
            "users": [{"name": f"{name}-{user}", "user": {"tokenFile": token_file}}],
            "contexts": [{"name": name, "context": context}],
            "current-context": name}


def write(path: Path, config: dict[str, Any]) -> None:
    """Write `config` to `path` atomically, readable by its owner only."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        yaml.safe_dump(config, f, sort_keys=False)
    tmp.rename(path)
