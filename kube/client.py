"""The HTTP API client shared by orchctl and the node agent (it never touches etcd).

    client = Client.from_files("https://192.168.56.11:6443", ca_file, token_file)
    pods = client.list("pods", namespace="default", field_selector="spec.nodeName=host1")
    for event in client.watch("pods", resource_version=pods.resource_version, ...): ...

Errors come back as ApiError with the Status's code and reason (404 NotFound, 409 Conflict,
…); connection problems as ApiUnavailable naming the server. Paths come from the API's kind
table, so resource names are the ones users type ("pods", "deployments", "leases").
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import requests.adapters

from kube.errors import ApiError, ApiUnavailable
from kube.objects import Object
from kube.registry import ResourceType, by_name

__all__ = ["ApiError", "ApiUnavailable", "Client", "ObjectList", "WatchEvent", "split_lines"]

MERGE_PATCH = "application/merge-patch+json"
# As client-go: an answer of 429 or 5xx with a Retry-After header is retried after that many
# seconds, at most this many times (client-go's default maxRetries), any verb (the server says
# nothing was done: etcd was unavailable, a request was throttled).
MAX_RETRIES = 10
RETRY_AFTER_LIMIT = 10.0  # seconds; a longer Retry-After is waited this long
SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
TOKEN_REREAD_SECONDS = 60.0


@dataclass(frozen=True)
class ObjectList:
    items: list[Object]
    resource_version: str


@dataclass(frozen=True)
class WatchEvent:
    type: str  # ADDED MODIFIED DELETED BOOKMARK ERROR
    object: Object


def _retry_after(response: requests.Response) -> float | None:
    """Seconds to wait before retrying, when the answer (429 or 5xx) says so by Retry-After
    (client-go's checkWait), capped at RETRY_AFTER_LIMIT; else None."""
    if response.status_code != 429 and response.status_code < 500:
        return None
    value = response.headers.get("Retry-After", "")
    try:
        seconds = int(value)
    except ValueError:
        return None
    return min(max(seconds, 0), RETRY_AFTER_LIMIT)


def _never_connected(error: requests.RequestException) -> bool:
    """The request was never sent: the connection was refused or timed out while opening."""
    if isinstance(error, requests.ConnectTimeout):
        return True
    text = repr(error)
    return isinstance(error, requests.ConnectionError) and (
        "NewConnectionError" in text or "Connection refused" in text
        or "No route to host" in text)


def _object(response: requests.Response) -> Object:
    """A response's JSON body, which the API always makes an object."""
    body = response.json()
    if not isinstance(body, dict):
        raise ApiError(response.status_code, "InternalError",
                       f"the server answered {type(body).__name__}, not an object")
    return body


def split_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Newline-delimited records from a stream, each as soon as its newline arrives, in time
    linear in the stream's size. (requests' iter_lines(chunk_size=1) is immediate too, but
    quadratic: a 100 KB watch event took seconds.) Chunks are whatever the connection delivered:
    with chunked transfer encoding, the server's writes."""
    buffer = bytearray()
    for chunk in chunks:
        scanned = len(buffer)  # no newline before this point
        buffer += chunk
        start = 0
        while (end := buffer.find(b"\n", max(start, scanned))) >= 0:
            yield bytes(buffer[start:end])
            start = end + 1
        del buffer[:start]
    if buffer:
        yield bytes(buffer)


class _TrustingAdapter(requests.adapters.HTTPAdapter):
    """HTTPS that trusts exactly the CA in `pem`, held in memory (requests' documented way to
    use an SSL context of one's own)."""

    def __init__(self, pem: bytes) -> None:
        self._context = ssl.create_default_context(cadata=pem.decode())
        super().__init__()

    def build_connection_pool_key_attributes(self, request: Any, verify: Any,
                                             cert: Any = None) -> Any:
        host, pool = super().build_connection_pool_key_attributes(request, verify, cert)
        settings: dict[str, Any] = dict(pool)
        settings["ssl_context"] = self._context
        settings.pop("ca_certs", None)
        settings.pop("ca_cert_dir", None)
        return host, settings


class Client:
    """Thread-safe: one requests.Session per thread.

    `server` may list several masters, comma-separated: a request that cannot connect to the
    current one is sent to the next (a connection that never opened cannot have done anything,
    so this is safe for every verb), and the client stays with the one that answered."""

    def __init__(self, server: str, ca_file: str | None, token: str | None,
                 timeout: float = 30, user_agent: str = "orchctl", ca_data: bytes | None = None,
                 insecure: bool = False) -> None:
        """`user_agent` names the client's writes (their field manager, up to a "/");
        `ca_data` (PEM, a kubeconfig's certificate-authority-data) is trusted from memory,
        never written to a file; `insecure` skips verifying the server (a kubeconfig's
        insecure-skip-tls-verify)."""
        self.ca_data, self.insecure = ca_data, insecure
        self.servers = [s.strip().rstrip("/") for s in server.split(",") if s.strip()]
        self._current = 0
        self.ca_file = ca_file
        self.token = token
        self.timeout = timeout
        self.user_agent = user_agent
        # fieldValidation for writes: None leaves the server's default (Warn: an unknown field
        # is dropped with a warning); orchctl asks for Strict, as kubectl does
        self.field_validation: str | None = None
        self.dry_run = False  # writes with dryRun=All: checked and answered, never stored
        self.max_retries = MAX_RETRIES  # answers with Retry-After retried this many times
        self.token_file: str | None = None  # set: the token is read from it (in_cluster)
        self._token_read = 0.0
        self._local = threading.local()

    @classmethod
    def in_cluster(cls, user_agent: str, timeout: float = 30) -> Client:
        """The client of a pod, as client-go's InClusterConfig: the API at
        $KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT, trusted with the service account's
        ca.crt, with its token, read again every minute (a bound token is refreshed in place
        before it expires). ApiUnavailable when not in a pod."""
        import os
        host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), \
            os.environ.get("KUBERNETES_SERVICE_PORT")
        token = SERVICE_ACCOUNT_DIR / "token"
        if not host or not port or not token.exists():
            raise ApiUnavailable(0, "Unavailable", "not in a pod: KUBERNETES_SERVICE_HOST, "
                                 f"KUBERNETES_SERVICE_PORT or {token} is missing")
        client = cls(f"https://{host}:{port}", str(SERVICE_ACCOUNT_DIR / "ca.crt"), None,
                     timeout, user_agent)
        client.token_file = str(token)
        return client

    def _bearer(self) -> dict[str, str]:
        """The Authorization header for a client whose token is a file (in_cluster)."""
        if self.token_file is None:
            return {}
        now = time.monotonic()
        if self.token is None or now - self._token_read > TOKEN_REREAD_SECONDS:
            self.token, self._token_read = Path(self.token_file).read_text().strip(), now
        return {"Authorization": f"Bearer {self.token}"}

    @classmethod
    def from_files(cls, server: str, ca_file: str | None, token_file: str | None,
                   timeout: float = 30, user_agent: str = "orchctl") -> Client:
        token = Path(token_file).read_text().strip() if token_file else None
        return cls(server, ca_file, token, timeout, user_agent)

    # --- plumbing ---

    @property
    def server(self) -> str:
        return self.servers[self._current % len(self.servers)]

    @property
    def session(self) -> requests.Session:
        s = getattr(self._local, "session", None)
        if s is None:
            s = requests.Session()
            s.trust_env = False  # $REQUESTS_CA_BUNDLE would override verify; no proxies
            if self.ca_data:
                s.mount("https://", _TrustingAdapter(self.ca_data))
            s.verify = False if self.insecure else (self.ca_file or True)
            if self.token:
                s.headers["Authorization"] = f"Bearer {self.token}"
            s.headers["User-Agent"] = self.user_agent
            self._local.session = s
        return s

    def path(self, resource: str | ResourceType, namespace: str | None = None,
             name: str | None = None, subresource: str | None = None) -> str:
        rt = resource if isinstance(resource, ResourceType) else by_name(resource)
        prefix = f"/apis/{rt.group}/{rt.version}" if rt.group else f"/api/{rt.version}"
        if rt.namespaced and namespace:
            prefix += f"/namespaces/{namespace}"
        path = f"{prefix}/{rt.resource}"
        if name:
            path += f"/{name}"
        if subresource:
            path += f"/{subresource}"
        return path

    def request(self, method: str, path: str, *, body: Any = None, params: Any = None,
                content_type: str = "application/json", stream: bool = False,
                timeout: float | tuple[float, float | None] | None = None) -> requests.Response:
        """`body` is sent as JSON; `timeout` may be requests' (connect, read) pair, read None
        meaning no limit (following logs). An answer with Retry-After is retried (MAX_RETRIES);
        an error answer raises ApiError (ApiUnavailable for 503 or no connection)."""
        data = json.dumps(body) if body is not None else None
        headers = {"Content-Type": content_type} if data is not None else {}
        for retry in range(self.max_retries + 1):
            response = self._send(method, path, data, params, headers, stream, timeout)
            wait = _retry_after(response)
            if wait is None or retry == self.max_retries:
                break
            response.close()
            time.sleep(wait)
        if response.status_code >= 400:
            try:
                status = response.json()
            except ValueError:
                status = {}
            error = ApiUnavailable if response.status_code == 503 else ApiError
            if not isinstance(status, dict):
                status = {}
            raise error.from_status(response.status_code,
                                    {"reason": response.reason, **status}, response.text[:200])
        return response

    def _send(self, method: str, path: str, data: str | None, params: Any,
              headers: dict[str, str], stream: bool,
              timeout: float | tuple[float, float | None] | None) -> requests.Response:
        """One request, to the current master or, when it cannot be connected to, the next."""
        for attempt in range(len(self.servers)):
            server = self.server
            try:
                return self.session.request(method, server + path, data=data, params=params,
                                            headers={**headers, **self._bearer()}, stream=stream,
                                            timeout=timeout or self.timeout)
            except requests.RequestException as e:
                if len(self.servers) > 1 and self.server == server:
                    self._current += 1  # the next request goes to the next master
                if _never_connected(e) and attempt + 1 < len(self.servers):
                    continue
                raise ApiUnavailable(0, "Unavailable", f"cannot reach {server}: {e}") from e
        raise AssertionError("unreachable: the last attempt returns or raises")

    # --- verbs ---

    def get(self, resource: str, name: str, namespace: str | None = None,
            subresource: str | None = None) -> Object:
        return _object(self.request("GET", self.path(resource, namespace, name, subresource)))

    def list(self, resource: str, namespace: str | None = None, label_selector: str | None = None,
             field_selector: str | None = None) -> ObjectList:
        params = {k: v for k, v in (("labelSelector", label_selector),
                                    ("fieldSelector", field_selector)) if v}
        data = _object(self.request("GET", self.path(resource, namespace), params=params))
        return ObjectList(data.get("items", []), data["metadata"]["resourceVersion"])

    def _write_params(self) -> dict[str, str]:
        params = {"fieldValidation": self.field_validation} if self.field_validation else {}
        if self.dry_run:
            params["dryRun"] = "All"
        return params

    def create(self, resource: str, obj: Object, namespace: str | None = None) -> Object:
        namespace = namespace or (obj.get("metadata") or {}).get("namespace")
        return _object(self.request("POST", self.path(resource, namespace), body=obj,
                                    params=self._write_params()))

    def create_subresource(self, resource: str, name: str, subresource: str, obj: Object,
                           namespace: str | None = None) -> Object:
        """POST to an object's subresource (serviceaccounts/NAME/token, pods/NAME/binding)."""
        return _object(self.request("POST", self.path(resource, namespace, name, subresource),
                                    body=obj))

    def update(self, resource: str, obj: Object, subresource: str | None = None) -> Object:
        meta = obj["metadata"]
        return _object(self.request("PUT", self.path(resource, meta.get("namespace"), meta["name"],
                                                     subresource), body=obj,
                                    params=self._write_params()))

    def patch(self, resource: str, name: str, patch: Any, namespace: str | None = None,
              subresource: str | None = None, content_type: str = MERGE_PATCH) -> Object:
        """A merge patch, or another type (strategic merge, JSON patch) by `content_type`."""
        return _object(self.request("PATCH", self.path(resource, namespace, name, subresource),
                                    body=patch, content_type=content_type,
                                    params=self._write_params()))

    def delete(self, resource: str, name: str, namespace: str | None = None,
               grace_period_seconds: int | None = None,
               propagation_policy: str | None = None) -> Object:
        """`propagation_policy`: Background (the default), Foreground or Orphan."""
        options: dict[str, Any] = {k: v for k, v in (("gracePeriodSeconds", grace_period_seconds),
                                     ("propagationPolicy", propagation_policy)) if v is not None}
        if self.dry_run:
            options["dryRun"] = ["All"]
        return _object(self.request("DELETE", self.path(resource, namespace, name),
                                    body=options or None))

    def watch(self, resource: str, namespace: str | None = None,
              resource_version: str | None = None, label_selector: str | None = None,
              field_selector: str | None = None, timeout_seconds: int = 300,
              ) -> Iterator[WatchEvent]:
        """Events after `resource_version` until the server ends the stream. An ERROR event
        (410 Expired: list again) is raised as ApiError."""
        params = {"watch": "true", "timeoutSeconds": str(timeout_seconds),
                  "allowWatchBookmarks": "true"}
        for key, value in (("resourceVersion", resource_version), ("labelSelector", label_selector),
                           ("fieldSelector", field_selector)):
            if value:
                params[key] = value
        response = self.request("GET", self.path(resource, namespace), params=params, stream=True,
                                timeout=timeout_seconds + 30)
        try:
            for line in split_lines(response.iter_content(chunk_size=None)):
                if not line:
                    continue
                event = json.loads(line)
                if event["type"] == "ERROR":
                    status = event["object"]
                    raise ApiError.from_status(status.get("code", 500), status)
                yield WatchEvent(event["type"], event["object"])
        except requests.RequestException as e:
            raise ApiUnavailable(0, "Unavailable", f"watch on {self.server} broke: {e}") from e
        finally:
            response.close()
