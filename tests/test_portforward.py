"""Port-forward's SPDY (kube/spdy.py) and the API server's session (orchestrator/api/
portforward.py), over a real WebSocket on loopback to a real TCP echo server standing in for
the pod."""

from __future__ import annotations

import asyncio
import json
import socket

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from kube import spdy
from orchestrator.api.portforward import TUNNELED_SPDY, SpdySession


def test_frames_round_trip_fed_in_pieces_and_headers_share_one_zlib_stream():
    writer, reader = spdy.Writer(), spdy.Reader()
    wire = (writer.syn_stream(1, {"streamType": "error", "port": "80", "requestID": "0"})
            + writer.syn_stream(3, {"streamType": "data", "port": "80", "requestID": "0"})
            + writer.data(3, b"hello", fin=True) + writer.ping(b"\x00\x00\x00\x07")
            + writer.rst_stream(3, spdy.RST_CANCEL))
    frames = [f for i in range(0, len(wire), 5) for f in reader.feed(wire[i:i + 5])]
    assert [(f.kind, f.stream_id) for f in frames] == [
        (spdy.SYN_STREAM, 1), (spdy.SYN_STREAM, 3), (0, 3), (spdy.PING, 0),
        (spdy.RST_STREAM, 3)]
    assert frames[1].headers == {"streamtype": "data", "port": "80", "requestid": "0"}
    assert frames[2].data == b"hello" and frames[2].fin
    with pytest.raises(spdy.SpdyError, match="version 2"):
        spdy.Reader().feed(b"\x80\x02\x00\x06\x00\x00\x00\x04abcd")


async def echo_server() -> tuple[asyncio.AbstractServer, int]:
    async def echo(reader, writer):
        while data := await reader.read(1024):
            writer.write(data.upper())
            await writer.drain()
        writer.close()
    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def session_app() -> web.Application:
    """The API server's port-forward session at /pf, for a pod at 127.0.0.1."""
    async def handler(request):
        ws = web.WebSocketResponse(protocols=(TUNNELED_SPDY,))
        await ws.prepare(request)
        await SpdySession(ws, "127.0.0.1", "web-1", "uid-1").run()
        return ws

    app = web.Application()
    app.router.add_get("/pf", handler)
    return app


async def forward(port: int, payload: bytes) -> dict[int, list[spdy.Frame]]:
    """One forwarded connection: (error, data) streams for `port`, `payload` then FIN; the
    frames the server sent, by stream, until it ended both."""
    app = session_app()
    writer, reader = spdy.Writer(), spdy.Reader()
    frames: dict[int, list[spdy.Frame]] = {}
    async with TestServer(app) as server, aiohttp.ClientSession() as http:
        async with http.ws_connect(server.make_url("/pf"), protocols=(TUNNELED_SPDY,)) as ws:
            assert ws.protocol == TUNNELED_SPDY
            headers = {"streamType": "error", "port": str(port), "requestID": "0"}
            await ws.send_bytes(writer.syn_stream(1, headers))
            await ws.send_bytes(writer.data(1, fin=True))  # kubectl never writes to it
            await ws.send_bytes(writer.syn_stream(3, {**headers, "streamType": "data"}))
            await ws.send_bytes(writer.ping(b"\x00\x00\x00\x01"))
            await ws.send_bytes(writer.data(3, payload, fin=True))
            ended: set[int] = set()
            while ended != {1, 3}:
                msg = await ws.receive()
                assert msg.type == aiohttp.WSMsgType.BINARY
                for frame in reader.feed(msg.data):
                    frames.setdefault(frame.stream_id, []).append(frame)
                    if frame.kind == 0 and frame.fin:
                        ended.add(frame.stream_id)
    return frames


def test_a_forwarded_connection_relays_both_ways_and_ends_its_streams():
    async def scenario():
        server, port = await echo_server()
        async with server:
            return await forward(port, b"hello pod")

    frames = asyncio.run(asyncio.wait_for(scenario(), 20))
    assert [f.kind for f in frames[1]][:1] == [spdy.SYN_REPLY]
    assert b"".join(f.data for f in frames[3] if f.kind == 0) == b"HELLO POD"
    assert b"".join(f.data for f in frames[1] if f.kind == 0) == b""  # no error
    assert any(f.kind == spdy.PING for f in frames[0])  # the ping answered


def test_a_port_nothing_listens_on_is_an_error_that_closes_the_connection():
    with socket.socket() as closed:  # bound, not listening: refuses (see below)
        closed.bind(("127.0.0.1", 0))
        frames = asyncio.run(asyncio.wait_for(forward(closed.getsockname()[1], b"x"), 20))
    [error] = [json.loads(f.data) for f in frames[1] if f.kind == 0 and f.data]
    assert error["closeConnection"] is True
    assert "error forwarding port" in error["message"] and "web-1" in error["message"]


def test_the_client_end_carries_local_connections_through_the_server_end():
    """kube/portforward_client.py against the API server's session, over a real WebSocket,
    to a real TCP server: two local connections, then a refused port ends the forwarding."""
    from kube.client import Client
    from kube.portforward_client import ForwardingLost, forward

    async def scenario():
        pod, port = await echo_server()

        async with pod, TestServer(session_app()) as server:
            client = Client(str(server.make_url("")).rstrip("/"), None, None)
            bound: list = []
            reports: list[str] = []
            # a port bound and not listening refuses, and the kernel never picks it as a
            # connection's source port (a merely free one could be, and then a dial to it
            # connects to itself)
            closed = socket.socket()
            closed.bind(("127.0.0.1", 0))
            task = asyncio.ensure_future(forward(client, "/pf", [(0, port),
                                                                 (0, closed.getsockname()[1])],
                                                 "127.0.0.1", bound.extend, reports.append))
            while not bound:
                await asyncio.sleep(0.01)
            answers = []
            for _ in range(2):
                reader, writer = await asyncio.open_connection("127.0.0.1", bound[0][0])
                writer.write(b"ping")
                writer.write_eof()
                answers.append(await reader.read())
                writer.close()
            reader, writer = await asyncio.open_connection("127.0.0.1", bound[1][0])
            writer.write_eof()
            await reader.read()
            with pytest.raises(ForwardingLost, match="error forwarding port"):
                await asyncio.wait_for(task, 10)
            closed.close()
            return answers, reports

    answers, reports = asyncio.run(asyncio.wait_for(scenario(), 30))
    assert answers == [b"PING", b"PING"]
    assert len(reports) == 1 and "refused" in reports[0]
