"""kube.Client retries an answer that says when to (429 or 5xx with Retry-After), as client-go
does, and nothing else; against a real HTTP server on loopback that answers from a script."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator

import pytest

from kube.client import ApiError, ApiUnavailable, Client


class _Scripted(http.server.BaseHTTPRequestHandler):
    script: list[tuple[int, dict[str, str]]] = []  # (status, headers) per request, then 200
    seen: list[tuple[str, bytes]] = []

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        type(self).seen.append((self.command, self.rfile.read(length)))
        status, headers = type(self).script.pop(0) if type(self).script else (200, {})
        body = json.dumps({"kind": "Status", "code": status, "reason": "X", "message": "m"}
                          if status >= 400 else {"kind": "ConfigMap", "metadata": {"name": "c"}})
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    _Scripted.script, _Scripted.seen = [], []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Scripted)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_a_503_with_retry_after_is_retried_with_the_same_body(server):
    _Scripted.script = [(503, {"Retry-After": "0"}), (429, {"Retry-After": "0"})]
    created = Client(server, None, None).create("configmaps", {"metadata": {"name": "c"}}, "d")
    assert created["metadata"]["name"] == "c"
    assert [verb for verb, _ in _Scripted.seen] == ["POST"] * 3
    assert len({body for _, body in _Scripted.seen}) == 1


@pytest.mark.parametrize("status, headers, error", [
    (503, {}, ApiUnavailable),  # no Retry-After: the caller decides
    (500, {"Retry-After": "soon"}, ApiError),  # not a number of seconds
    (409, {"Retry-After": "0"}, ApiError),  # a 4xx other than 429 is never retried
])
def test_other_errors_are_not_retried(server, status, headers, error):
    _Scripted.script = [(status, headers)]
    with pytest.raises(error) as raised:
        Client(server, None, None).get("configmaps", "c", "d")
    assert raised.value.code == status and len(_Scripted.seen) == 1


def test_retries_stop_after_max_retries(server):
    _Scripted.script = [(503, {"Retry-After": "0"})] * 5
    client = Client(server, None, None)
    client.max_retries = 2
    with pytest.raises(ApiUnavailable):
        client.get("configmaps", "c", "d")
    assert len(_Scripted.seen) == 3  # the request and two retries
