"""Port-forward's client end (orchctl port-forward): local listeners whose connections are
carried to a pod's ports over one WebSocket tunnelling SPDY/3.1 (kube/spdy.py), as kubectl
carries them. Each local connection opens an error stream (closed at once: the client never
writes to it) and a data stream, with the headers `streamType`, `port` and `requestID`.
A message on an error stream is the server's failure for that connection; one that says
`closeConnection` (the pod's port refuses) ends the whole forwarding, as kubectl ends it.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp

from kube import spdy
from kube.client import Client
from kube.remotecommand_client import ssl_context_of

PROTOCOL = "SPDY/3.1+portforward.k8s.io"
READ_SIZE = 32 * 1024


class ForwardingLost(Exception):
    """The server ended the forwarding (its message says why)."""


@dataclass
class _Stream:
    inbound: asyncio.Queue[bytes | None] = field(default_factory=lambda: asyncio.Queue(16))
    error: bytearray = field(default_factory=bytearray)


async def forward(client: Client, path: str, ports: list[tuple[int, int]], address: str,
                  ready: Callable[[list[tuple[int, int]]], None],
                  report: Callable[[str], None]) -> None:
    """Forward (local, remote) `ports` (local 0: any free one) on `address` until the server
    ends it (ForwardingLost) or the caller cancels; `ready` gets the ports once listening,
    `report` each connection's failure."""
    headers = {"Authorization": f"Bearer {client.token}"} if client.token else {}
    context = ssl_context_of(client) if client.server.startswith("https:") else False
    async with aiohttp.ClientSession() as http, http.ws_connect(
            client.server + path, protocols=(PROTOCOL,), headers=headers, ssl=context,
            heartbeat=30, max_msg_size=0) as ws:
        session = _Session(ws, report)
        servers = []
        bound = []
        for local, remote in ports:
            server = await asyncio.start_server(functools.partial(_carry, session, remote),
                                                address, local)
            servers.append(server)
            bound.append((server.sockets[0].getsockname()[1], remote))
        ready(bound)
        try:
            await session.read()
        finally:
            for server in servers:
                server.close()


async def _carry(session: _Session, port: int, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
    await session.connection(reader, writer, port)


class _Session:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse,
                 report: Callable[[str], None]) -> None:
        self.ws, self.report = ws, report
        self.reader, self.writer = spdy.Reader(), spdy.Writer()
        self.streams: dict[int, _Stream] = {}
        self.ids = itertools.count(1, 2)  # a client's streams are odd
        self.requests = itertools.count()
        self.lock = asyncio.Lock()
        self.lost: str | None = None

    async def send(self, frame: bytes | Callable[[], bytes]) -> None:
        async with self.lock:  # header blocks share one zlib stream: compress in send order
            await self.ws.send_bytes(frame() if callable(frame) else frame)

    async def read(self) -> None:
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.BINARY:
                continue
            for frame in self.reader.feed(msg.data):
                stream = self.streams.get(frame.stream_id)
                if frame.kind == spdy.GOAWAY:
                    raise ForwardingLost("the server ended the connection")
                if stream is None:
                    continue
                if frame.kind == 0:
                    if frame.data:
                        await stream.inbound.put(frame.data)
                    if frame.fin:
                        await stream.inbound.put(None)
                elif frame.kind == spdy.RST_STREAM:
                    await stream.inbound.put(None)
            if self.lost:
                raise ForwardingLost(self.lost)
        raise ForwardingLost(self.lost or "lost connection to pod")

    async def connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                         port: int) -> None:
        request = str(next(self.requests))
        error_id, data_id = next(self.ids), next(self.ids)
        error, data = _Stream(), _Stream()
        self.streams[error_id], self.streams[data_id] = error, data
        headers = {"streamType": "error", "port": str(port), "requestID": request}
        await self.send(lambda: self.writer.syn_stream(error_id, headers, fin=True))
        await self.send(lambda: self.writer.syn_stream(data_id, {**headers,
                                                                 "streamType": "data"}))

        async def upstream() -> None:
            while chunk := await reader.read(READ_SIZE):
                await self.send(self.writer.data(data_id, chunk))
            await self.send(self.writer.data(data_id, fin=True))

        async def errors() -> None:
            while (chunk := await error.inbound.get()) is not None:
                error.error += chunk

        up = asyncio.ensure_future(upstream())
        failure = asyncio.ensure_future(errors())
        try:
            while (chunk := await data.inbound.get()) is not None:
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            up.cancel()
            writer.close()
            try:
                await asyncio.wait_for(failure, 5)
            except asyncio.TimeoutError:
                failure.cancel()
            self.streams.pop(error_id, None)
            self.streams.pop(data_id, None)
        if error.error:
            message = error.error.decode(errors="replace").strip()
            try:
                parsed = json.loads(message)
                close, message = bool(parsed.get("closeConnection")), parsed.get("message", "")
            except ValueError:
                close = True
            self.report(f"an error occurred forwarding {port}: {message}")
            if close:
                self.lost = message
                await self.ws.close()
