"""The agent's own HTTPS endpoint (port 10250), for the API server only: container logs, exec and
resource usage.

    GET  /containerLogs/{namespace}/{pod}/{container}?follow=&tailLines=&previous=&timestamps=
         → text/plain, streamed while following
    GET  /exec/{namespace}/{pod}/{container}?command=sh&command=-c&command=…&input=1&output=1
         &error=1&tty=1, upgraded to a WebSocket (v5.channel.k8s.io or v4: kube/remotecommand.py)
    GET  /attach/{namespace}/{pod}/{container}?input=1&output=1&error=1, the same
    GET  /stats/summary → the pods' cpu and memory (node_agent/stats.py), about a second

Mutual TLS: the server certificate is the node's, signed by the cluster CA; a client must
present a CA-signed certificate whose CN is the API server's agent-client name. Users reach these
endpoints only through the API server (pods/{name}/log, /exec, /attach), which authorizes them.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Awaitable, Callable
from datetime import datetime

from aiohttp import web

from kube.tls import APISERVER_CLIENT_CN, shrink_tls_read_buffers
from kube import remotecommand as rc
from node_agent import stats, streams
from node_agent.pods.model import (LABEL_ATTEMPT, LABEL_CONTAINER, LABEL_POD_NAME,
                                   LABEL_POD_NAMESPACE, LABEL_POD_UID)
from node_agent.runtime import ContainerRuntime, RuntimeFailure, StreamSession, Unavailable

def _status(code: int, reason: str, message: str) -> web.Response:
    return web.json_response({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                              "message": message, "reason": reason, "code": code}, status=code)


class NoSuchContainer(Exception):
    pass


class AgentServer:
    def __init__(self, runtime: ContainerRuntime, node_name: str) -> None:
        self.node_name = node_name
        self.runtime = runtime

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._only_the_api_server, self._runtime_errors])
        app.router.add_get("/healthz", self._healthz)
        # As a kubelet's, each path may name the pod's UID before the container: a pod made
        # again under the same name (a StatefulSet's) may still have its old containers here,
        # and the API server names the UID of the pod it looked up.
        for pod in ("{namespace}/{pod}", "{namespace}/{pod}/{uid}"):
            app.router.add_get(f"/containerLogs/{pod}/{{container}}", self._logs)
            for method in ("GET", "POST"):  # as a kubelet: the upgrade is what matters
                app.router.add_route(method, f"/exec/{pod}/{{container}}", self._exec)
                app.router.add_route(method, f"/attach/{pod}/{{container}}", self._attach)
        app.router.add_get("/stats/summary", self._stats)
        return app

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    @web.middleware
    async def _only_the_api_server(self, request: web.Request,
                                   handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                                   ) -> web.StreamResponse:
        cert = request.transport.get_extra_info("peercert") if request.transport else None
        subject = {k: v for rdn in (cert or {}).get("subject", ()) for k, v in rdn}
        if request.path != "/healthz" and subject.get("commonName") != APISERVER_CLIENT_CN:
            return _status(403, "Forbidden", "only the API server may use this endpoint")
        return await handler(request)

    @web.middleware
    async def _runtime_errors(self, request: web.Request,
                              handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                              ) -> web.StreamResponse:
        """The runtime's errors as Status answers (before a stream has begun)."""
        try:
            return await handler(request)
        except NoSuchContainer as e:
            return _status(404, "NotFound", str(e))
        except Unavailable as e:
            return _status(503, "ServiceUnavailable", f"the container runtime does not "
                           f"answer: {e}")
        except RuntimeFailure as e:
            return _status(500, "InternalError", str(e))

    def _find(self, namespace: str, pod: str, uid: str | None, container: str,
              previous: bool) -> str:
        """The id of the pod's container (its newest attempt, or the one before); only the
        containers of the pod with that UID when one is named."""
        labels = {LABEL_POD_NAMESPACE: namespace, LABEL_POD_NAME: pod, LABEL_CONTAINER: container}
        if uid:
            labels[LABEL_POD_UID] = uid
        found = self.runtime.list_containers(labels)
        attempts = sorted(found, key=lambda c: int(c.labels.get(LABEL_ATTEMPT, "0")))
        if previous:
            attempts = attempts[:-1]
        if not attempts:
            which = "previous terminated container" if previous else "container"
            raise NoSuchContainer(f'{which} "{container}" in pod "{pod}" not found')
        return attempts[-1].id

    async def _logs(self, request: web.Request) -> web.StreamResponse:
        m, q = request.match_info, request.query
        follow = q.get("follow") in ("1", "true")
        previous = q.get("previous") in ("1", "true")
        tail = int(q["tailLines"]) if q.get("tailLines", "").isdigit() else None
        # The API server has checked these parameters (at most one of the two "since").
        since: float | None = None  # epoch seconds
        if q.get("sinceSeconds", "").isdigit():
            since = time.time() - int(q["sinceSeconds"])
        elif q.get("sinceTime"):
            since = datetime.fromisoformat(q["sinceTime"].replace("Z", "+00:00")).timestamp()
        budget = int(q["limitBytes"]) if q.get("limitBytes", "").isdigit() else None
        loop = asyncio.get_running_loop()
        container_id = await loop.run_in_executor(None, self._find, m["namespace"], m["pod"],
                                                  m.get("uid"), m["container"], previous)
        stream = await loop.run_in_executor(None, lambda: self.runtime.logs(
            container_id, follow, tail, since, q.get("timestamps") in ("1", "true")))
        response = web.StreamResponse(headers={"Content-Type": "text/plain; charset=utf-8"})
        await response.prepare(request)
        try:
            while budget is None or budget > 0:
                chunk = await loop.run_in_executor(None, next, stream, None)
                if chunk is None:
                    break
                if budget is not None:  # limitBytes: stop at that many bytes, mid-line if need be
                    chunk, budget = chunk[:budget], budget - len(chunk[:budget])
                await response.write(chunk)
        except RuntimeFailure:
            pass  # the stream broke (dockerd restarted): what was sent stands
        finally:
            close = getattr(stream, "close", None)
            if close:
                close()
        return response

    async def _stats(self, request: web.Request) -> web.Response:
        loop = asyncio.get_running_loop()
        summary = await loop.run_in_executor(None, stats.collect, self.runtime, self.node_name)
        return web.json_response(summary)

    async def _exec(self, request: web.Request) -> web.StreamResponse:
        return await self._stream(request, attach=False)

    async def _attach(self, request: web.Request) -> web.StreamResponse:
        return await self._stream(request, attach=True)

    async def _stream(self, request: web.Request, attach: bool) -> web.StreamResponse:
        """exec or attach over a WebSocket (node_agent/streams.py)."""
        m = request.match_info
        try:
            options = rc.agent_options(request.query, request.query.getall("command", []),
                                       attach)
        except rc.BadOptions as e:
            return _status(400, "BadRequest", str(e))
        refused = streams.not_upgradable(request)
        if refused:
            return _status(400, "BadRequest", refused)

        def open_session() -> StreamSession:
            # after the upgrade: a container not (yet) there is an outcome on the error channel
            try:
                container_id = self._find(m["namespace"], m["pod"], m.get("uid"), m["container"],
                                          False)
            except NoSuchContainer as e:
                raise RuntimeFailure(str(e)) from None
            if attach:
                return self.runtime.attach(container_id, options.stdin, options.stdout,
                                           options.stderr)
            return self.runtime.open_exec(container_id, list(options.command), options.stdin,
                                          options.stdout, options.stderr, options.tty)

        return await streams.serve(request, options, open_session)


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

