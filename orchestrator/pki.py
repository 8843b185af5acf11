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
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from orchestrator.tls import APISERVER_CLIENT_CN

DEFAULT_SANS = ("localhost", "127.0.0.1", "kubernetes", "kubernetes.default",
                "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "10.96.0.1")


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _cert(subject: str, key, issuer_name: x509.Name, issuer_key, *, ca: bool,
          sans: list[str] = (), days: int, client: bool = False) -> x509.Certificate:
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
        usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def load_ca(directory: Path):
    """The CA certificate and key `init_pki` wrote in `directory`."""
    ca = x509.load_pem_x509_certificate((directory / "ca.crt").read_bytes())
    return ca, serialization.load_pem_private_key((directory / "ca.key").read_bytes(), None)


def issue_certificate(directory: Path, stem: str, subject: str, sans: list[str], *,
                      client: bool = False) -> dict[str, Path]:
    """STEM.crt and STEM.key in `directory`, signed by its CA, for a server (`sans`) or a
    client; kept when they exist already."""
    crt, key_path = directory / f"{stem}.crt", directory / f"{stem}.key"
    if not crt.exists():
        ca, ca_key = load_ca(directory)
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _cert(subject, key, ca.subject, ca_key, ca=False, sans=sans, days=825,
                     client=client)
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
    if not paths["ca.crt"].exists():
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "orchestrator-ca")])
        ca = _cert("orchestrator-ca", ca_key, ca_name, ca_key, ca=True, days=3650)
        _write_private(paths["ca.key"], _key_pem(ca_key))
        paths["ca.crt"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))

    def issue(stem: str, subject: str, cert_sans: list[str], client: bool = False) -> None:
        paths.update(issue_certificate(directory, stem, subject, cert_sans, client=client))

    issue("apiserver", "orchestrator-apiserver", list(dict.fromkeys([*DEFAULT_SANS, *sans])))
    issue("apiserver-agent-client", APISERVER_CLIENT_CN, [], client=True)
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
        _write_private(paths[filename], (entry["token"] + "\n").encode())
    _write_private(paths["tokens.json"], json.dumps({"tokens": list(by_user.values())},
                                                    indent=2).encode())
    return paths
