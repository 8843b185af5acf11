"""Fixtures for the fast tests: a real single-member etcd on loopback, started per need, and
the API's verbs (`objects`) on it with a namespace of the test's own (`ns`)."""

from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.api.objects import Objects
from kube.registry import by_kind
from orchestrator.store import Etcd, Store

NS = by_kind("v1", "Namespace")


# The fast tests' own etcd members carry this name, so that a check of the machine (the lab
# suite's "nothing left in the root namespace") can tell them from a lab's.
FIXTURE_ETCD_NAME = "orch-fast-test-fixture"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EtcdServer:
    """`tls_dir`, when given, holds `init_etcd_pki`'s files for a member named "test": the
    member then serves clients over mutual TLS only (https://, --client-cert-auth)."""

    def __init__(self, data_dir: Path, tls_dir: Path | None = None) -> None:
        self.client_port, self.peer_port = _free_port(), _free_port()
        scheme = "https" if tls_dir else "http"
        self.url = f"{scheme}://127.0.0.1:{self.client_port}"
        tls_flags = [f"--trusted-ca-file={tls_dir / 'etcd-ca.crt'}", "--client-cert-auth",
                     f"--cert-file={tls_dir / 'etcd-member-test.crt'}",
                     f"--key-file={tls_dir / 'etcd-member-test.key'}"] if tls_dir else []
        self.log = open(data_dir / "etcd.log", "wb")
        self.proc = subprocess.Popen([
            "etcd", f"--name={FIXTURE_ETCD_NAME}", f"--data-dir={data_dir / 'data'}",
            f"--listen-client-urls={self.url}", f"--advertise-client-urls={self.url}",
            f"--listen-peer-urls=http://127.0.0.1:{self.peer_port}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{self.peer_port}",
            f"--initial-cluster={FIXTURE_ETCD_NAME}=http://127.0.0.1:{self.peer_port}",
            "--logger=zap", "--log-level=error", *tls_flags,
        ], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.client_port), timeout=0.2):
                    break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"etcd did not start; see {data_dir / 'etcd.log'}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()
        self.log.close()


def _start(tmp_path_factory: pytest.TempPathFactory, tls_dir: Path | None = None) -> EtcdServer:
    if shutil.which("etcd") is None:
        pytest.skip("etcd is not installed (scripts/install-deps installs it)")
    return EtcdServer(tmp_path_factory.mktemp("etcd"), tls_dir)


@pytest.fixture(scope="session")
def etcd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdServer]:
    """One etcd for the session: tests isolate themselves by resource name."""
    server = _start(tmp_path_factory)
    yield server
    server.stop()


@pytest.fixture
def private_etcd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdServer]:
    """An etcd of the test's own, for tests that compact history."""
    server = _start(tmp_path_factory)
    yield server
    server.stop()


@pytest.fixture
def objects(etcd_server):
    store = Store(Etcd([etcd_server.url]))
    objs = Objects(store)
    objs.ensure_system_namespaces()
    yield objs
    store.close()
    store.etcd.close()


@pytest.fixture
def ns(objects):
    name = f"t{secrets.token_hex(4)}"
    objects.create(NS, None, {"metadata": {"name": name}})
    return name


@pytest.fixture(scope="module")
def api(etcd_server, tmp_path_factory):
    """A live API server over HTTPS on loopback (tests/live_api.py), one per test module."""
    from tests.live_api import LiveServer
    server = LiveServer(etcd_server.url, tmp_path_factory.mktemp("pki"))
    yield server
    server.stop()
