"""The agent's own HTTPS endpoint (port 10250), for the API server only: container logs, exec and
resource usage.

    GET  /containerLogs/{namespace}/{pod}/{container}?follow=&tailLines=&previous=&timestamps=
         → text/plain, streamed while following
    POST /exec/{namespace}/{pod}/{container}?command=sh&command=-c&command=…   (body = stdin)
         → application/x-ndjson frames {"stream": "stdout"|"stderr", "data": base64} then
           {"exitCode": N}
    GET  /stats/summary → the pods' cpu and memory (node_agent/stats.py), about a second

Mutual TLS: the server certificate is the node's, signed by the cluster CA; a client must
present a CA-signed certificate whose CN is the API server's agent-client name. Users reach these
endpoints only through the API server (pods/{name}/log, pods/{name}/exec), which authorizes them.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import ssl
import struct
import time
from datetime import datetime

import docker
import docker.errors
from aiohttp import web

from node_agent import stats
from node_agent.pods.model import LABEL_ATTEMPT, LABEL_CONTAINER, LABEL_POD_NAME, LABEL_POD_NAMESPACE
from kube.tls import APISERVER_CLIENT_CN, shrink_tls_read_buffers

NDJSON = "application/x-ndjson"


def _status(code: int, reason: str, message: str) -> web.Response:
    return web.json_response({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                              "message": message, "reason": reason, "code": code}, status=code)


class AgentServer:
    def __init__(self, docker_url: str, node_name: str) -> None:
        self.node_name = node_name
        self.docker = docker.DockerClient(base_url=docker_url, version="1.41", timeout=None)

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._only_the_api_server])
        app.router.add_get("/healthz", lambda r: web.Response(text="ok"))
        app.router.add_get("/containerLogs/{namespace}/{pod}/{container}", self._logs)
        app.router.add_post("/exec/{namespace}/{pod}/{container}", self._exec)
        app.router.add_get("/stats/summary", self._stats)
        return app

    @web.middleware
    async def _only_the_api_server(self, request: web.Request, handler):
        cert = request.transport.get_extra_info("peercert") if request.transport else None
        subject = dict(x[0] for x in (cert or {}).get("subject", ()))
        if request.path != "/healthz" and subject.get("commonName") != APISERVER_CLIENT_CN:
            return _status(403, "Forbidden", "only the API server may use this endpoint")
        return await handler(request)

    def _find(self, namespace: str, pod: str, container: str, previous: bool) -> str:
        """The docker id of the pod's container (its newest attempt, or the one before)."""
        found = self.docker.containers.list(all=True, filters={"label": [
            f"{LABEL_POD_NAMESPACE}={namespace}", f"{LABEL_POD_NAME}={pod}",
            f"{LABEL_CONTAINER}={container}"]})
        attempts = sorted(found, key=lambda c: int(c.labels.get(LABEL_ATTEMPT, "0")))
        if previous:
            attempts = attempts[:-1]
        if not attempts:
            which = "previous terminated container" if previous else "container"
            raise web.HTTPNotFound(text=json.dumps({
                "kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404,
                "reason": "NotFound",
                "message": f'{which} "{container}" in pod "{pod}" not found'}),
                content_type="application/json")
        return attempts[-1].id

    async def _logs(self, request: web.Request) -> web.StreamResponse:
        m, q = request.match_info, request.query
        follow = q.get("follow") in ("1", "true")
        previous = q.get("previous") in ("1", "true")
        tail = int(q["tailLines"]) if q.get("tailLines", "").isdigit() else "all"
        # The API server has checked these parameters (at most one of the two "since").
        since: float | None = None  # a UNIX time, as docker's API takes it
        if q.get("sinceSeconds", "").isdigit():
            since = time.time() - int(q["sinceSeconds"])
        elif q.get("sinceTime"):
            since = datetime.fromisoformat(q["sinceTime"].replace("Z", "+00:00")).timestamp()
        budget = int(q["limitBytes"]) if q.get("limitBytes", "").isdigit() else None
        loop = asyncio.get_running_loop()
        container_id = await loop.run_in_executor(None, self._find, m["namespace"], m["pod"],
                                                  m["container"], previous)
        response = web.StreamResponse(headers={"Content-Type": "text/plain; charset=utf-8"})
        await response.prepare(request)
        stream = await loop.run_in_executor(None, lambda: self.docker.api.logs(
            container_id, stream=True, follow=follow, tail=tail, since=since,
            timestamps=q.get("timestamps") in ("1", "true")))
        try:
            while budget is None or budget > 0:
                chunk = await loop.run_in_executor(None, next, stream, None)
                if chunk is None:
                    break
                if budget is not None:  # limitBytes: stop at that many bytes, mid-line if need be
                    chunk, budget = chunk[:budget], budget - len(chunk[:budget])
                await response.write(chunk)
        finally:
            stream.close()
        return response

    async def _stats(self, request: web.Request) -> web.Response:
        loop = asyncio.get_running_loop()
        try:
            summary = await loop.run_in_executor(None, stats.collect, self.docker, self.node_name)
        except docker.errors.DockerException as e:
            return _status(503, "ServiceUnavailable", f"dockerd did not answer: {e}")
        return web.json_response(summary)

    async def _exec(self, request: web.Request) -> web.StreamResponse:
        m = request.match_info
        command = request.query.getall("command", [])
        if not command:
            return _status(400, "BadRequest", "at least one command= parameter is required")
        stdin = await request.read()
        loop = asyncio.get_running_loop()
        container_id = await loop.run_in_executor(None, self._find, m["namespace"], m["pod"],
                                                  m["container"], False)
        try:
            exec_id = await loop.run_in_executor(None, lambda: self.docker.api.exec_create(
                container_id, command, stdin=True, stdout=True, stderr=True)["Id"])
        except docker.errors.APIError as e:
            return _status(409 if e.status_code == 409 else 500, "InternalError",
                           e.explanation or str(e))
        response = web.StreamResponse(headers={"Content-Type": NDJSON})
        await response.prepare(request)
        sock = await loop.run_in_executor(None, lambda: self.docker.api.exec_start(
            exec_id, socket=True))
        raw: socket.socket = sock._sock  # the SDK's SocketIO wraps the engine's socket
        try:
            await loop.run_in_executor(None, _send_stdin, raw, stdin)
            while True:
                frame = await loop.run_in_executor(None, _read_frame, raw)
                if frame is None:
                    break
                stream, data = frame
                await response.write(json.dumps({"stream": stream, "data": base64.b64encode(
                    data).decode()}).encode() + b"\n")
        finally:
            sock.close()
        code = (await loop.run_in_executor(None, self.docker.api.exec_inspect, exec_id))["ExitCode"]
        await response.write(json.dumps({"exitCode": code}).encode() + b"\n")
        return response


def _send_stdin(raw: socket.socket, data: bytes) -> None:
    if data:
        raw.sendall(data)
    raw.shutdown(socket.SHUT_WR)


def _read_exact(raw: socket.socket, n: int) -> bytes | None:
    buf = b""
    while len(buf) < n:
        chunk = raw.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def _read_frame(raw: socket.socket) -> tuple[str, bytes] | None:
    """One frame of docker's multiplexed stream: [stream, 0, 0, 0, size (big-endian u32)]."""
    header = _read_exact(raw, 8)
    if header is None:
        return None
    kind, size = header[0], struct.unpack(">I", header[4:])[0]
    data = _read_exact(raw, size) or b""
    return ("stderr" if kind == 2 else "stdout"), data


def server_ssl_context(cert: str, key: str, client_ca: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=client_ca)
    context.load_cert_chain(cert, key)
    context.verify_mode = ssl.CERT_REQUIRED
    return context


async def serve(server: AgentServer, address: str, port: int, context: ssl.SSLContext,
                stop: asyncio.Event) -> None:
    shrink_tls_read_buffers()
    runner = web.AppRunner(server.app(), access_log=None, handler_cancellation=True)
    await runner.setup()
    await web.TCPSite(runner, address, port, ssl_context=context).start()
    await stop.wait()
    await runner.cleanup()

