"""What every orchctl command shares: the global flags, and the API client made from them and
the configuration file on first use."""

from __future__ import annotations

import os
from typing import Any

import click

from kube.client import Client
from orchestrator.cli import config as cfg


class Env:
    """What every command shares: the global flags, and the client made from them on first use."""

    def __init__(self, config_path: str | None, context: str | None, namespace: str | None,
                 server: str | None, token: str | None, timeout: float) -> None:
        self.sources = cfg.sources(config_path)
        self.config_path = self.sources[0]  # where changes are written
        self.context_override = context
        self.namespace_override = namespace
        self.server_override = server
        self.token_override = token
        self.timeout = timeout
        self._resolved: cfg.Resolved | None = None
        self._client: Client | None = None

    def config(self, missing_ok: bool = False) -> dict[str, Any]:
        return cfg.load_merged(self.sources, missing_ok=missing_ok)

    @property
    def resolved(self) -> cfg.Resolved:
        if self._resolved is None:
            config = self.config(missing_ok=self.server_override is not None)
            self._resolved = cfg.resolve(config, os.pathsep.join(map(str, self.sources)),
                                         self.context_override,
                                         self.server_override, self.namespace_override,
                                         self.token_override)
        return self._resolved

    @property
    def client(self) -> Client:
        if self._client is None:
            r = self.resolved
            self._client = Client(r.server, r.ca_file, r.token, timeout=self.timeout,
                                  ca_data=r.ca_data, insecure=r.insecure)
            self._client.field_validation = "Strict"  # a typo in a manifest is an error
        return self._client

    @property
    def namespace(self) -> str:
        return self.namespace_override or self.resolved.namespace


pass_env = click.make_pass_decorator(Env)
