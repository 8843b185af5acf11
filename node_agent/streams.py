"""exec and attach over a WebSocket, the agent's end (the protocol: kube/remotecommand.py).

The request is upgraded first and everything after goes on the channels, as a kubelet does: a
command that cannot start (the container is not running) is a Failure Status on the error
channel, which kubectl prints. The runtime's socket is driven by the event loop, both ways at
once; nothing is buffered beyond one read, and a slow client slows the command's output (a
WebSocket send waits for the transport to drain).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable

from aiohttp import WSMsgType, web

from kube import remotecommand as rc
from node_agent.runtime import RuntimeFailure, StreamSession

log = logging.getLogger(__name__)
READ_SIZE = 64 * 1024


def not_upgradable(request: web.Request) -> str | None:
    """Why `request` cannot become a remote-command WebSocket (None: it can)."""
    ready = web.WebSocketResponse(protocols=rc.PROTOCOLS).can_prepare(request)
    if not ready.ok:
        return "Upgrade request required: exec and attach are WebSocket streams"
    if ready.protocol is None:
        offered = request.headers.get("Sec-WebSocket-Protocol", "")
        return (f"requested protocol(s) are not supported: [{offered}]; supports "
                f"[{' '.join(rc.PROTOCOLS)}]")
    return None


async def serve(request: web.Request, options: rc.StreamOptions,
                open_session: Callable[[], StreamSession]) -> web.WebSocketResponse:
    """Upgrade `request` (not_upgradable() said it can be), start the session and pump it."""
    ws = web.WebSocketResponse(protocols=rc.PROTOCOLS, max_msg_size=4 * 1024 * 1024)
    await ws.prepare(request)
    loop = asyncio.get_running_loop()
    try:
        session = await loop.run_in_executor(None, open_session)
    except RuntimeFailure as e:
        await _finish(ws, rc.failure("InternalError", f"Internal error occurred: error "
                                     f"executing command in container: {e}"))
        return ws
    try:
        first = rc.STDOUT if options.stdout else rc.STDERR if options.stderr else rc.ERROR
        await ws.send_bytes(rc.message(first))  # the command runs: the client may go on
        outcome = await _pump(ws, session, options)
        if outcome is not None:
            await _finish(ws, outcome)
    finally:
        session.close()
        if not ws.closed:
            await ws.close()
    return ws


async def _pump(ws: web.WebSocketResponse, session: StreamSession,
                options: rc.StreamOptions) -> dict | None:
    """Output to the client and the client's input to the session until the output ends (the
    outcome to report) or the client goes (None)."""
    loop = asyncio.get_running_loop()
    output = asyncio.ensure_future(_copy_output(ws, session, options))
    input_ = asyncio.ensure_future(_copy_input(ws, session, options, ws.ws_protocol == rc.V5))
    try:
        done, _ = await asyncio.wait((output, input_), return_when=asyncio.FIRST_COMPLETED)
        if output not in done:
            return None  # the client left: closing the session ends a TTY's shell
        output.result()
        code = await loop.run_in_executor(None, session.exit_code)
        if options.command:
            return rc.exit_status(code, options.command)
        return {"metadata": {}, "status": "Success"}  # an attach: the container's output ended
    except (OSError, ConnectionError) as e:
        log.info("a remote-command stream broke: %s", e)
        return None
    finally:
        for task in (output, input_):
            task.cancel()
        await asyncio.gather(output, input_, return_exceptions=True)


async def _copy_output(ws: web.WebSocketResponse, session: StreamSession,
                       options: rc.StreamOptions) -> None:
    loop = asyncio.get_running_loop()
    wanted = {rc.STDOUT: options.stdout, rc.STDERR: options.stderr or session.tty}
    while data := await loop.sock_recv(session.sock, READ_SIZE):
        for channel, chunk in session.demux(data):
            if wanted.get(channel):
                await ws.send_bytes(rc.message(channel, chunk))


async def _copy_input(ws: web.WebSocketResponse, session: StreamSession,
                      options: rc.StreamOptions, v5: bool) -> None:
    loop = asyncio.get_running_loop()
    async for msg in ws:
        if msg.type != WSMsgType.BINARY or not msg.data:
            continue  # the protocols are binary; anything else carries nothing
        channel, data = msg.data[0], msg.data[1:]
        if channel == rc.STDIN and options.stdin:
            await loop.sock_sendall(session.sock, data)
        elif channel == rc.RESIZE and session.tty:
            size = rc.parse_resize(data)
            if size is not None:
                await loop.run_in_executor(None, session.resize, *size)
        elif channel == rc.CLOSE and v5 and data[:1] == bytes((rc.STDIN,)):
            session.close_stdin()
    # the connection has closed: the client is gone


async def _finish(ws: web.WebSocketResponse, status: dict) -> None:
    await ws.send_bytes(rc.message(rc.ERROR, json.dumps(status).encode()))
    await ws.close()
