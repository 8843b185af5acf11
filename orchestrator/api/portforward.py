"""pods/portforward: Kubernetes' port-forward protocol, from the API server straight to the
pod's IP (pods are routed from every host), as kubectl speaks it: SPDY/3.1 tunnelled through a
WebSocket ("SPDY/3.1+portforward.k8s.io", kube/spdy.py).

For each local connection the client opens two streams with the headers `streamType` (error |
data), `port` and `requestID`. Once both are there the server dials the pod's port and copies
bytes both ways on the data stream; the end of either side is passed on (FIN, or a half-close
of the TCP connection). When the data stream is done the server ends the error stream; a
failure (the port refuses) is written to it first, as the kubelet writes it, and kubectl then
stops forwarding. Pings are answered; flow-control frames are read and ignored, as Kubernetes'
SPDY library does.

A port the pod listens on only on its loopback is not reachable this way (the kubelet enters
the pod's network namespace; this server dials the pod's IP).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import WSMsgType, web

from kube import spdy

log = logging.getLogger(__name__)
TUNNELED_SPDY = "SPDY/3.1+portforward.k8s.io"
DIAL_TIMEOUT = 10.0
READ_SIZE = 32 * 1024


@dataclass
class _Stream:
    stream_id: int
    kind: str  # "data" | "error"
    port: int
    inbound: asyncio.Queue[bytes | None] = field(default_factory=lambda: asyncio.Queue(16))


@dataclass
class _Pair:
    data: _Stream | None = None
    error: _Stream | None = None


class SpdySession:
    """One kubectl port-forward connection: its streams, relayed to `pod_ip`."""

    def __init__(self, ws: web.WebSocketResponse, pod_ip: str, pod: str, uid: str) -> None:
        self.ws, self.pod_ip, self.pod, self.uid = ws, pod_ip, pod, uid
        self.reader, self.writer = spdy.Reader(), spdy.Writer()
        self.streams: dict[int, _Stream] = {}
        self.pairs: dict[str, _Pair] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self._send_lock = asyncio.Lock()

    async def run(self) -> None:
        try:
            async for msg in self.ws:
                if msg.type != WSMsgType.BINARY:
                    continue
                for frame in self.reader.feed(msg.data):
                    if not await self._handle(frame):
                        return
        except spdy.SpdyError as e:
            log.info("port-forward to %s: %s", self.pod, e)
        finally:
            for task in self.tasks:
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)

    async def _send(self, frame: bytes | Callable[[], bytes]) -> None:
        """Send a frame, made under the lock when it is a callable (header blocks share one
        zlib stream, so they must go out in the order they were compressed)."""
        async with self._send_lock:
            await self.ws.send_bytes(frame() if callable(frame) else frame)

    async def _handle(self, frame: spdy.Frame) -> bool:
        if frame.kind == spdy.SYN_STREAM:
            await self._open(frame)
        elif frame.kind == 0:
            stream = self.streams.get(frame.stream_id)
            if stream is not None:
                if frame.data:
                    await stream.inbound.put(frame.data)
                if frame.fin:
                    await stream.inbound.put(None)
        elif frame.kind == spdy.RST_STREAM:
            stream = self.streams.pop(frame.stream_id, None)
            if stream is not None:
                await stream.inbound.put(None)
        elif frame.kind == spdy.PING:
            await self._send(self.writer.ping(frame.data[:4]))
        elif frame.kind == spdy.GOAWAY:
            return False
        return True  # SETTINGS, WINDOW_UPDATE, HEADERS: nothing to do

    async def _open(self, frame: spdy.Frame) -> None:
        kind = frame.headers.get("streamtype", "")
        port_text = frame.headers.get("port", "")
        request_id = frame.headers.get("requestid")
        if request_id is None:  # an old client: pair the streams by their ids
            request_id = str(frame.stream_id if kind == "error" else frame.stream_id - 2)
        try:
            port = int(port_text)
        except ValueError:
            port = 0
        if kind not in ("data", "error") or not 0 < port < 65536:
            await self._send(self.writer.rst_stream(frame.stream_id, spdy.RST_REFUSED_STREAM))
            return
        stream = _Stream(frame.stream_id, kind, port)
        self.streams[frame.stream_id] = stream
        await self._send(lambda: self.writer.syn_reply(frame.stream_id))
        pair = self.pairs.setdefault(request_id, _Pair())
        if getattr(pair, kind) is not None:
            await self._send(self.writer.rst_stream(frame.stream_id, spdy.RST_PROTOCOL_ERROR))
            return
        setattr(pair, kind, stream)
        if pair.data is not None and pair.error is not None:
            del self.pairs[request_id]
            task = asyncio.ensure_future(self._forward(pair.data, pair.error))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _forward(self, data: _Stream, error: _Stream) -> None:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.pod_ip, data.port), DIAL_TIMEOUT)
        except (OSError, asyncio.TimeoutError) as e:
            cause = (os.strerror(e.errno) if isinstance(e, OSError) and e.errno else
                     str(e) or "timed out").lower()
            message = (f"error forwarding port {data.port} to pod {self.pod}, uid {self.uid}: "
                       f"dial tcp {self.pod_ip}:{data.port}: connect: {cause}")
            await self._send(self.writer.data(error.stream_id, json.dumps(
                {"closeConnection": True, "message": message}).encode() + b"\n"))
            await self._finish(data, error)
            return

        async def upstream() -> None:
            while (chunk := await data.inbound.get()) is not None:
                writer.write(chunk)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()

        async def downstream() -> None:
            while chunk := await reader.read(READ_SIZE):
                await self._send(self.writer.data(data.stream_id, chunk))

        up = asyncio.ensure_future(upstream())
        try:
            await downstream()
        except (OSError, ConnectionError):
            pass
        finally:
            up.cancel()
            await asyncio.gather(up, return_exceptions=True)
            writer.close()
            await self._finish(data, error)

    async def _finish(self, data: _Stream, error: _Stream) -> None:
        for stream in (data, error):
            if self.streams.pop(stream.stream_id, None) is not None and not self.ws.closed:
                await self._send(self.writer.data(stream.stream_id, fin=True))
