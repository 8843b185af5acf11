"""Paginated lists: the `continue` token (pure).

A paginated list reads every page at the revision of its first page, so the pages together are
one consistent snapshot, as Kubernetes' etcd3 storage does. The token carries that revision and
the key, relative to the list's prefix, where the next page starts; it is opaque to clients and
encoded as Kubernetes encodes it (unpadded base64url of `{"v","rv","start"}`), so a client that
inspects it (none should) sees the familiar shape. Once etcd has compacted the revision, the
token has expired: the store raises Gone (410 Expired).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

TOKEN_VERSION = "meta.k8s.io/v1"


@dataclass(frozen=True)
class Continue:
    revision: int
    start: str  # relative to the list's key prefix; the first key of the next page


class InvalidContinue(ValueError):
    pass


def encode_continue(token: Continue) -> str:
    raw = json.dumps({"v": TOKEN_VERSION, "rv": token.revision, "start": token.start},
                     separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_continue(text: str) -> Continue:
    """The token a previous page returned; InvalidContinue names what is wrong with it."""
    try:
        data = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidContinue("continue key is not valid: not a token this server "
                              "issued") from None
    if not isinstance(data, dict) or data.get("v") != TOKEN_VERSION:
        raise InvalidContinue(f"continue key is not valid: server does not recognize this "
                              f"encoding ({TOKEN_VERSION} expected)")
    revision, start = data.get("rv"), data.get("start")
    if not isinstance(revision, int) or isinstance(revision, bool) or revision <= 0:
        raise InvalidContinue("continue key is not valid: incorrect encoded start "
                              "resourceVersion (version meta.k8s.io/v1)")
    if not isinstance(start, str) or not start or start.startswith("/") or ".." in start.split("/"):
        raise InvalidContinue("continue key is not valid: the start key is not a key of "
                              "this list")
    return Continue(revision, start)
