"""orchctl's configuration file: kubeconfig's shape, so the habits carry over.

    apiVersion: v1
    kind: Config
    current-context: lab
    clusters:
    - name: lab
      cluster: {server: "https://127.0.0.1:40123", certificate-authority: /…/pki/ca.crt}
    users:
    - name: lab-admin
      user: {tokenFile: /…/pki/admin.token}             # or token: … (token-file: read too)
    contexts:
    - name: lab
      context: {cluster: lab, user: lab-admin, namespace: default}

Which files, as kubectl finds them: `--kubeconfig` (or `--config`), else `$KUBECONFIG` (a
colon-separated list, merged as kubectl merges it: the first file to name a cluster, user or
context, or to set current-context, wins; missing files are skipped), else `$ORCHCTL_CONFIG`,
else ~/.orch/config when it exists (`scripts/lab up` adds its lab's context there and makes it
current; `scripts/lab down` removes it), else ~/.kube/config. Changes (`config use-context`…)
are written to the first file. A server may list several masters, comma-separated (the client
fails over between them). certificate-authority-data is kept in memory, never written out;
insecure-skip-tls-verify is honoured; client certificates and exec plugins are refused (this
API authenticates tokens). No click here: the lab imports this module to write its context.
"""

from __future__ import annotations

import base64
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ENV_VAR = "ORCHCTL_CONFIG"


class ConfigError(ValueError):
    """The configuration is missing, unreadable or lacks what a command needs; the message says
    which file and which entry."""


def default_path() -> Path:
    """The file orchctl itself writes (the lab's contexts), unless told another."""
    return Path(os.environ.get(ENV_VAR) or Path.home() / ".orch" / "config")


def sources(explicit: str | None = None) -> list[Path]:
    """The configuration files, in kubectl's order of precedence (the module's docstring)."""
    if explicit:
        return [Path(explicit)]
    listed = [Path(p) for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    if listed:
        return listed
    if os.environ.get(ENV_VAR):
        return [Path(os.environ[ENV_VAR])]
    orch = Path.home() / ".orch" / "config"
    return [orch if orch.exists() else Path.home() / ".kube" / "config"]


def load_merged(paths: list[Path], missing_ok: bool = False) -> dict[str, Any]:
    """The files merged as kubectl merges $KUBECONFIG: the first to set a name wins."""
    present = [p for p in paths if p.exists()]
    if len(paths) == 1 or not present:
        return load(paths[0], missing_ok)
    merged = empty()
    for path in present:
        config = load(path)
        if not merged["current-context"] and config.get("current-context"):
            merged["current-context"] = config["current-context"]
        for section in ("clusters", "users", "contexts"):
            names = {e["name"] for e in merged[section]}
            merged[section] += [e for e in config[section] if e["name"] not in names]
    return merged


def empty() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Config", "current-context": "", "clusters": [],
            "users": [], "contexts": []}


def load(path: Path, missing_ok: bool = False) -> dict[str, Any]:
    if not path.exists():
        if missing_ok:
            return empty()
        raise ConfigError(f"no configuration at {path}: bring up a lab (`scripts/lab up` writes "
                          f"one) or pass --config / set ${ENV_VAR}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"cannot read the configuration {path}: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the configuration must be a mapping")
    config = empty()
    config.update(data)
    for section in ("clusters", "users", "contexts"):
        entries = config.get(section) or []
        if not isinstance(entries, list) or not all(
                isinstance(e, dict) and isinstance(e.get("name"), str) for e in entries):
            raise ConfigError(f"{path}: {section} must be a list of entries with a name")
        config[section] = entries
    return config


def save(path: Path, config: dict[str, Any]) -> None:
    """Atomically, readable by its owner only (it may hold tokens)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as f:
            yaml.safe_dump(config, f, sort_keys=False, default_flow_style=False)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _entry(config: dict[str, Any], section: str, name: str) -> dict[str, Any] | None:
    return next((e for e in config[section] if e.get("name") == name), None)


def _put(config: dict[str, Any], section: str, name: str, key: str, body: dict) -> None:
    entry = _entry(config, section, name)
    if entry is None:
        config[section].append({"name": name, key: body})
    else:
        entry[key] = body


def set_context(config: dict[str, Any], name: str, server: str, ca_file: str | None,
                token_file: str | None, namespace: str = "default",
                make_current: bool = True) -> None:
    """Add or replace context `name` with a cluster and a user of the same name."""
    cluster = {"server": server, **({"certificate-authority": ca_file} if ca_file else {})}
    _put(config, "clusters", name, "cluster", cluster)
    _put(config, "users", f"{name}-admin", "user", {"tokenFile": token_file} if token_file else {})
    _put(config, "contexts", name, "context",
         {"cluster": name, "user": f"{name}-admin", "namespace": namespace})
    if make_current:
        config["current-context"] = name


def remove_context(config: dict[str, Any], name: str) -> bool:
    """Remove the context and the cluster and user it names; True if there was one."""
    context = _entry(config, "contexts", name)
    if context is None:
        return False
    body = context.get("context") or {}
    config["contexts"].remove(context)
    for section, entry_name in (("clusters", body.get("cluster")), ("users", body.get("user"))):
        still_used = any((c.get("context") or {}).get(section[:-1]) == entry_name
                         for c in config["contexts"])
        entry = _entry(config, section, entry_name) if entry_name else None
        if entry is not None and not still_used:
            config[section].remove(entry)
    if config.get("current-context") == name:
        config["current-context"] = ""
    return True


@dataclass(frozen=True)
class Resolved:
    """What a command needs to reach the API, after flags and the file are combined."""
    context: str
    server: str
    ca_file: str | None
    token: str | None
    namespace: str
    source: str  # the file, for messages
    ca_data: bytes | None = None  # certificate-authority-data, decoded; kept in memory
    insecure: bool = False  # insecure-skip-tls-verify


def resolve(config: dict[str, Any], source: str, context: str | None = None,
            server: str | None = None, namespace: str | None = None,
            token: str | None = None) -> Resolved:
    name = context or config.get("current-context") or ""
    entry = _entry(config, "contexts", name) if name else None
    if entry is None and server is None:
        if not name:
            raise ConfigError(f"{source}: no current context (`orchctl config use-context NAME`"
                              f"; contexts: {_names(config, 'contexts')})")
        raise ConfigError(f"{source}: no context {name!r} (contexts: "
                          f"{_names(config, 'contexts')})")
    body = (entry or {}).get("context") or {}
    cluster = (_entry(config, "clusters", body.get("cluster", "")) or {}).get("cluster") or {}
    user = (_entry(config, "users", body.get("user", "")) or {}).get("user") or {}
    server = server or cluster.get("server")
    if not server:
        raise ConfigError(f"{source}: context {name!r} names no cluster with a server")
    ca_file = cluster.get("certificate-authority")
    ca_data = None
    if cluster.get("certificate-authority-data"):
        try:
            ca_data = base64.b64decode(cluster["certificate-authority-data"], validate=True)
        except ValueError:
            raise ConfigError(f"{source}: cluster {body.get('cluster')!r}: "
                              "certificate-authority-data is not base64") from None
    for unsupported in ("client-certificate", "client-certificate-data", "client-key",
                        "client-key-data", "exec", "auth-provider", "username"):
        if unsupported in user:
            raise ConfigError(f"{source}: user {body.get('user')!r} uses {unsupported}, which "
                              "orchctl does not support: this API authenticates bearer "
                              "tokens (token, tokenFile)")
    if token is None:
        token = user.get("token")
        token_file = user.get("tokenFile") or user.get("token-file")
        if token is None and token_file:
            try:
                token = Path(token_file).read_text().strip()
            except OSError as e:
                raise ConfigError(f"{source}: user {body.get('user')!r}: cannot read its "
                                  f"tokenFile: {e}") from None
    return Resolved(name, server, ca_file, token, namespace or body.get("namespace") or "default",
                    source, ca_data, bool(cluster.get("insecure-skip-tls-verify")))


def _names(config: dict[str, Any], section: str) -> str:
    return ", ".join(e["name"] for e in config[section]) or "none"


def redacted(config: dict[str, Any]) -> dict[str, Any]:
    """For `config view`: tokens and embedded data hidden, as kubectl shows them."""
    out = yaml.safe_load(yaml.safe_dump(config))
    for user in out.get("users") or []:
        body = user.get("user") or {}
        if "token" in body:
            body["token"] = "REDACTED"
    for cluster in out.get("clusters") or []:
        body = cluster.get("cluster") or {}
        if "certificate-authority-data" in body:
            body["certificate-authority-data"] = "DATA+OMITTED"
    return out
