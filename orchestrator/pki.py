"""The cluster's credentials: a CA, the API server's certificate, and bearer tokens.

`orchestrator init-pki` writes them (the lab calls it; on real hosts an operator does, like
`kubeadm init phase certs`). Existing files are kept, so re-running it changes nothing.

    ca.crt ca.key                 the cluster CA (ECDSA P-256, 10 years)
    apiserver.crt apiserver.key   the API server's certificate, signed by the CA, with the SANs
    tokens.json                   every token with its user and groups (the server reads this)
    admin.token readonly.token node-<name>.token   one token per file (clients read these)
    apiserver-agent-client.crt/.key  the API server's client certificate towards node agents
    node-<name>-serving.crt/.key     each node agent's serving certificate (logs, exec)

The agents accept only clients whose certificate the CA signed with CN APISERVER_CLIENT_CN:
logs and exec reach a node only through the API server, which authorizes them.

`init_etcd_pki` writes etcd's credentials, under a CA of its own (as kubeadm's etcd/ca): etcd
admits any client whose certificate its CA signed, so no other certificate of the cluster (an
agent's, dockerd's, the workstation's) may open it.

    service-account.key/.pub         the RSA pair service account tokens are signed with

    etcd-ca.crt etcd-ca.key          etcd's CA
    etcd-member-<name>.crt/.key      a member's certificate: serves clients and peers, and is
                                     its client certificate towards its peers (both usages)
    apiserver-etcd-client.crt/.key   the API server's client certificate towards etcd
    etcdctl-client.crt/.key          etcdctl's on the member hosts (operators, the test suite)
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import secrets
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kube.tls import APISERVER_CLIENT_CN

DEFAULT_SANS = ("localhost", "127.0.0.1", "kubernetes", "kubernetes.default",
                "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "10.96.0.1")


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


# What a leaf certificate may be used for (its extended key usage).
USAGES = {"server": (ExtendedKeyUsageOID.SERVER_AUTH,),
          "client": (ExtendedKeyUsageOID.CLIENT_AUTH,),
          "peer": (ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH)}


def _cert(subject: str, key, issuer_name: x509.Name, issuer_key, *, ca: bool,
          sans: list[str] = (), days: int, usage: str = "server") -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
               .issuer_name(issuer_name)
               .public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
            key_encipherment=False, data_encipherment=False, key_agreement=False,
            encipher_only=False, decipher_only=False), critical=True)
    else:
        names: list[x509.GeneralName] = []
        for san in sans:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(san)))
            except ValueError:
                names.append(x509.DNSName(san))
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(USAGES[usage])),
                                        critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def load_ca(directory: Path, stem: str = "ca"):
    """The certificate and key of a CA `init_pki` (stem "ca") or `init_etcd_pki` ("etcd-ca")
    wrote in `directory`."""
    ca = x509.load_pem_x509_certificate((directory / f"{stem}.crt").read_bytes())
    return ca, serialization.load_pem_private_key((directory / f"{stem}.key").read_bytes(), None)


def ensure_ca(directory: Path, stem: str, subject: str) -> dict[str, Path]:
    """STEM.crt and STEM.key, a self-signed CA for 10 years; kept when it exists already."""
    crt, key_path = directory / f"{stem}.crt", directory / f"{stem}.key"
    if not crt.exists():
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
        _write_private(key_path, _key_pem(key))
        crt.write_bytes(_cert(subject, key, name, key, ca=True, days=3650)
                        .public_bytes(serialization.Encoding.PEM))
    return {f"{stem}.crt": crt, f"{stem}.key": key_path}


def issue_certificate(directory: Path, stem: str, subject: str, sans: list[str], *,
                      usage: str = "server", ca: str = "ca") -> dict[str, Path]:
    """STEM.crt and STEM.key in `directory`, signed by its CA `ca`, for a server (`sans`), a
    client or a peer (both; see USAGES); kept when they exist already."""
    crt, key_path = directory / f"{stem}.crt", directory / f"{stem}.key"
    if not crt.exists():
        ca_cert, ca_key = load_ca(directory, ca)
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _cert(subject, key, ca_cert.subject, ca_key, ca=False, sans=sans, days=825,
                     usage=usage)
        _write_private(key_path, _key_pem(key))
        crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return {f"{stem}.crt": crt, f"{stem}.key": key_path}


def init_pki(directory: Path, sans: list[str], nodes: list[str],
             node_addresses: dict[str, str] | None = None) -> dict[str, Path]:
    """`node_addresses` (name → IP) gets each node a serving certificate for its agent."""
    node_addresses = node_addresses or {n: "" for n in nodes}
    directory.mkdir(parents=True, exist_ok=True)
    paths = {name: directory / name for name in (
        "ca.crt", "ca.key", "tokens.json", "admin.token", "readonly.token")}
    paths.update(ensure_ca(directory, "ca", "orchestrator-ca"))

    def issue(stem: str, subject: str, cert_sans: list[str], usage: str = "server") -> None:
        paths.update(issue_certificate(directory, stem, subject, cert_sans, usage=usage))

    issue("apiserver", "orchestrator-apiserver", list(dict.fromkeys([*DEFAULT_SANS, *sans])))
    issue("apiserver-agent-client", APISERVER_CLIENT_CN, [], usage="client")
    for node, address in node_addresses.items():
        issue(f"node-{node}-serving", f"system:node:{node}",
              [node, *([address] if address else [])])

    tokens = json.loads(paths["tokens.json"].read_text()) if paths["tokens.json"].exists() \
        else {"tokens": []}
    by_user = {t["user"]: t for t in tokens["tokens"]}
    wanted = [("admin", ["system:masters"], "admin.token"),
              ("viewer", ["system:readonly"], "readonly.token"),
              *((f"system:node:{n}", ["system:nodes"], f"node-{n}.token") for n in nodes)]
    for user, groups, filename in wanted:
        entry = by_user.setdefault(user, {"token": secrets.token_urlsafe(32), "user": user,
                                          "groups": groups})
        paths[filename] = directory / filename
        # no newline: the official Python client sends a tokenFile's bytes as they are
        _write_private(paths[filename], entry["token"].encode())
    _write_private(paths["tokens.json"], json.dumps({"tokens": list(by_user.values())},
                                                    indent=2).encode())
    paths.update(ensure_service_account_keys(directory))
    return paths


def ensure_service_account_keys(directory: Path) -> dict[str, Path]:
    """service-account.key and .pub: the RSA 2048 pair the API servers sign and verify service
    account tokens with (every master has the same); kept when they exist."""
    private, public = directory / "service-account.key", directory / "service-account.pub"
    if not (private.exists() and public.exists()):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        _write_private(private, key.private_bytes(serialization.Encoding.PEM,
                                                  serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()))
        public.write_bytes(key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return {"service-account.key": private, "service-account.pub": public}


def init_etcd_pki(directory: Path, members: dict[str, str]) -> dict[str, Path]:
    """etcd's CA and certificates (see the module docstring) for `members` (name → address);
    existing files are kept."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = ensure_ca(directory, "etcd-ca", "orchestrator-etcd-ca")
    for name, address in members.items():
        paths.update(issue_certificate(
            directory, f"etcd-member-{name}", f"etcd-member-{name}",
            list(dict.fromkeys([name, address, "localhost", "127.0.0.1"])), usage="peer",
            ca="etcd-ca"))
    paths.update(issue_certificate(directory, "apiserver-etcd-client", "orchestrator-apiserver",
                                   [], usage="client", ca="etcd-ca"))
    paths.update(issue_certificate(directory, "etcdctl-client", "etcdctl", [], usage="client",
                                   ca="etcd-ca"))
    return paths
