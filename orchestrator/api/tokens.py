"""Service account tokens: JSON Web Tokens signed RS256 by the API servers' key, as
Kubernetes' bound service account tokens are, and their verification.

Claims (Kubernetes' names):
    iss   the issuer (--service-account-issuer)       aud  the audiences asked for
    sub   system:serviceaccount:<ns>:<name>          exp, iat, nbf
    kubernetes.io: {namespace, serviceaccount: {name, uid}, pod: {name, uid} (when bound)}

Verification checks the signature with the public key, the issuer, an audience the server
accepts, and the times; the caller (the server) then checks that the service account, and the
pod a token is bound to, still exist with those uids, so a token dies with its pod.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

DEFAULT_ISSUER = "https://kubernetes.default.svc.cluster.local"
MAX_EXPIRATION = 48 * 3600  # Kubernetes caps requested lifetimes (bound tokens) at 48 h
LEEWAY = 60  # seconds of clock skew accepted on nbf/exp


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def key_id(public: rsa.RSAPublicKey) -> str:
    """The `kid` Kubernetes gives a key: the SHA-256 of its DER SubjectPublicKeyInfo."""
    der = public.public_bytes(serialization.Encoding.DER,
                              serialization.PublicFormat.SubjectPublicKeyInfo)
    return _b64(hashlib.sha256(der).digest())


@dataclass(frozen=True)
class Claims:
    namespace: str
    service_account: str
    service_account_uid: str
    pod_name: str | None
    pod_uid: str | None
    audiences: tuple[str, ...]
    expires: int  # epoch seconds

    @property
    def user_name(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.service_account}"


class TokenSigner:
    def __init__(self, private_key_file: Path, issuer: str = DEFAULT_ISSUER) -> None:
        key = serialization.load_pem_private_key(Path(private_key_file).read_bytes(), None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"{private_key_file}: not an RSA private key")
        self.key, self.issuer = key, issuer
        self.kid = key_id(key.public_key())

    def issue(self, namespace: str, service_account: str, service_account_uid: str,
              audiences: list[str], expiration_seconds: int,
              pod: tuple[str, str] | None = None, now: float | None = None) -> tuple[str, int]:
        """(the token, its expiry in epoch seconds)."""
        issued = int(now if now is not None else time.time())
        expires = issued + min(expiration_seconds, MAX_EXPIRATION)
        private: dict[str, Any] = {"namespace": namespace, "serviceaccount": {
            "name": service_account, "uid": service_account_uid}}
        if pod is not None:
            private["pod"] = {"name": pod[0], "uid": pod[1]}
        claims = {"iss": self.issuer, "aud": audiences,
                  "sub": f"system:serviceaccount:{namespace}:{service_account}",
                  "iat": issued, "nbf": issued, "exp": expires, "kubernetes.io": private}
        header = {"alg": "RS256", "kid": self.kid, "typ": "JWT"}
        signing_input = f"{_b64(json.dumps(header).encode())}." \
                        f"{_b64(json.dumps(claims, separators=(',', ':')).encode())}"
        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64(signature)}", expires


class TokenVerifier:
    def __init__(self, public_key_file: Path, issuer: str = DEFAULT_ISSUER,
                 audiences: tuple[str, ...] = ()) -> None:
        key = serialization.load_pem_public_key(Path(public_key_file).read_bytes())
        if not isinstance(key, rsa.RSAPublicKey):
            raise ValueError(f"{public_key_file}: not an RSA public key")
        self.key, self.issuer = key, issuer
        self.audiences = audiences or (issuer,)

    def verify(self, token: str, now: float | None = None) -> Claims | None:
        """The token's claims if it is ours, unexpired and for an audience of ours; else None."""
        parts = token.split(".")
        if len(parts) != 3:
            return None
        try:
            header = json.loads(_unb64(parts[0]))
            if header.get("alg") != "RS256":
                return None
            self.key.verify(_unb64(parts[2]), f"{parts[0]}.{parts[1]}".encode(),
                            padding.PKCS1v15(), hashes.SHA256())
            claims = json.loads(_unb64(parts[1]))
        except (ValueError, InvalidSignature):
            return None
        moment = now if now is not None else time.time()
        audiences = claims.get("aud")
        audiences = [audiences] if isinstance(audiences, str) else list(audiences or ())
        private = claims.get("kubernetes.io") or {}
        account = private.get("serviceaccount") or {}
        pod = private.get("pod") or {}
        if claims.get("iss") != self.issuer or not set(audiences) & set(self.audiences) or \
                not isinstance(claims.get("exp"), int) or moment > claims["exp"] + LEEWAY or \
                moment + LEEWAY < claims.get("nbf", 0) or not private.get("namespace") or \
                not account.get("name"):
            return None
        return Claims(private["namespace"], account["name"], account.get("uid", ""),
                      pod.get("name"), pod.get("uid"), tuple(audiences), claims["exp"])
