"""etcd over mutual TLS: the credentials `init_etcd_pki` writes, and the store against a real
etcd that admits only clients whose certificate etcd's own CA signed."""

from __future__ import annotations

import queue
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from orchestrator.pki import init_etcd_pki, init_pki
from orchestrator.store import Etcd, EtcdTLS, StoreError
from orchestrator.store.etcd import parse_endpoints
from tests.conftest import EtcdServer, _start


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The cluster's credentials and etcd's, for one member "test" on loopback."""
    directory = tmp_path_factory.mktemp("pki")
    init_pki(directory, [], ["host1"])
    init_etcd_pki(directory, {"test": "127.0.0.1"})
    return directory


@pytest.fixture(scope="module")
def tls_etcd(tmp_path_factory: pytest.TempPathFactory, pki: Path) -> Iterator[EtcdServer]:
    server = _start(tmp_path_factory, pki)
    yield server
    server.stop()


def tls(pki: Path, stem: str, ca: str = "etcd-ca") -> EtcdTLS:
    return EtcdTLS(str(pki / f"{ca}.crt"), str(pki / f"{stem}.crt"), str(pki / f"{stem}.key"))


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_etcd_has_a_ca_of_its_own_that_signs_every_etcd_certificate(pki):
    etcd_ca, cluster_ca = load(pki / "etcd-ca.crt"), load(pki / "ca.crt")
    assert etcd_ca.subject != cluster_ca.subject
    for stem in ("etcd-member-test", "apiserver-etcd-client", "etcdctl-client"):
        cert = load(pki / f"{stem}.crt")
        assert cert.issuer == etcd_ca.subject, stem
        cert.verify_directly_issued_by(etcd_ca)
    assert (pki / "etcd-ca.key").stat().st_mode & 0o077 == 0


def test_a_member_certificate_serves_and_is_a_client_towards_peers(pki):
    cert = load(pki / "etcd-member-test.crt")
    usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(usages) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)} == {"127.0.0.1"}
    assert set(sans.get_values_for_type(x509.DNSName)) == {"test", "localhost"}
    client = load(pki / "apiserver-etcd-client.crt")
    usages = client.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usages) == [ExtendedKeyUsageOID.CLIENT_AUTH]


def test_running_it_again_keeps_every_file(pki):
    before = {p.name: p.read_bytes() for p in pki.iterdir()}
    init_etcd_pki(pki, {"test": "127.0.0.1"})
    assert {p.name: p.read_bytes() for p in pki.iterdir()} == before


def test_the_store_writes_reads_and_watches_over_mutual_tls(tls_etcd, pki):
    etcd = Etcd([tls_etcd.url], tls=tls(pki, "apiserver-etcd-client"))
    seen: queue.Queue = queue.Queue()
    cancel = etcd.watch_prefix("/tls-test/", 1, lambda events, _rev: [seen.put(e) for e in events],
                               seen.put)
    try:
        revision = etcd.create("/tls-test/a", b"1")
        assert etcd.get("/tls-test/a").value == b"1"
        assert etcd.get("/tls-test/a").mod_revision == revision
        event = seen.get(timeout=10)
        assert (event.kind, event.kv.key, event.kv.value) == ("put", "/tls-test/a", b"1")
    finally:
        cancel()
        etcd.close()


def test_a_certificate_from_the_cluster_ca_does_not_open_etcd(tls_etcd, pki):
    """The API server's client certificate towards the agents is a valid client certificate,
    but the cluster CA signed it, not etcd's."""
    etcd = Etcd([tls_etcd.url], timeout=3,
                tls=EtcdTLS(str(pki / "etcd-ca.crt"), str(pki / "apiserver-agent-client.crt"),
                            str(pki / "apiserver-agent-client.key")))
    try:
        with pytest.raises(StoreError):
            etcd.get("/tls-test/a")
    finally:
        etcd.close()


def test_plain_http_gets_nothing_from_a_tls_member(tls_etcd):
    etcd = Etcd([tls_etcd.url.replace("https://", "http://")], timeout=3)
    try:
        with pytest.raises(StoreError):
            etcd.get("/tls-test/a")
    finally:
        etcd.close()


@pytest.mark.parametrize("urls, use_tls, message", [
    (["https://10.0.0.1:2379"], False, "needs etcd's CA and a client certificate"),
    (["http://10.0.0.1:2379"], True, "although etcd TLS files were given"),
    (["ftp://10.0.0.1:2379"], False, "expected http://HOST:PORT"),
    (["https://10.0.0.1"], True, "expected https://HOST:PORT"),
])
def test_an_endpoint_whose_scheme_does_not_fit_is_refused_by_name(urls, use_tls, message):
    with pytest.raises(ValueError, match=message) as e:
        parse_endpoints(urls, use_tls)
    assert urls[0] in str(e.value)


def test_a_bare_host_port_takes_the_scheme_that_fits():
    assert parse_endpoints(["10.0.0.1:2379"], True) == [("10.0.0.1", 2379)]
    assert parse_endpoints(["10.0.0.1:2379"], False) == [("10.0.0.1", 2379)]
