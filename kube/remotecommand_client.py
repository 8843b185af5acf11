"""A remote command's client end (orchctl exec): the WebSocket of kube/remotecommand.py, in
v5, on an event loop of its own. stdin is read by a daemon thread (so a terminal waiting for a
key never holds up the exit); with a TTY the local terminal is put in raw mode for the
session and its size is sent at the start and on every SIGWINCH."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import ssl
import sys
import threading
from collections.abc import Coroutine, Iterator
from typing import Any, BinaryIO

import aiohttp

from kube import remotecommand as rc
from kube.client import Client
from kube.errors import ApiError, ApiUnavailable

READ_SIZE = 32 * 1024


def run(client: Client, path: str, options: rc.StreamOptions, stdin: BinaryIO | None,
        stdout: BinaryIO, stderr: BinaryIO) -> int:
    """Run the exec (or attach) at `path` with `options` and return its exit code (0, the
    command's own, or 1 for a failure, which goes to `stderr`). A refusal before the stream
    starts raises ApiError, with the server's Status."""
    query = [("container", options.container)] if options.container else []
    query += [("command", c) for c in options.command]
    query += [("stdout", _bool(options.stdout)), ("stderr", _bool(options.stderr))]
    query += [(name, "true") for name, on in (("stdin", options.stdin), ("tty", options.tty)) if on]
    try:
        return asyncio.run(_session(client, path, query, options, stdin, stdout, stderr))
    except aiohttp.WSServerHandshakeError:
        # The handshake's error carries no body: ask again as a plain request, which the API
        # server checks the same way (options, pod, container) and answers with its Status.
        client.request("GET", path, params=query)
        raise ApiError(400, "BadRequest", "the server refused the WebSocket upgrade") from None
    except (aiohttp.ClientError, OSError) as e:
        raise ApiUnavailable(0, "Unavailable", f"cannot stream from {client.server}: "
                             f"{e}") from None


def ssl_context_of(client: Client) -> ssl.SSLContext:
    """The client's trust, for aiohttp: its CA data or file, or none (insecure)."""
    if client.insecure:
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        return context
    if client.ca_data:
        return ssl.create_default_context(cadata=client.ca_data.decode())
    return ssl.create_default_context(cafile=client.ca_file)


def _bool(on: bool) -> str:
    return "true" if on else "false"


async def _session(client: Client, path: str, query: list[tuple[str, str]],
                   options: rc.StreamOptions, stdin: BinaryIO | None, stdout: BinaryIO,
                   stderr: BinaryIO) -> int:
    context = ssl_context_of(client) if client.server.startswith("https:") else None
    headers = {"Authorization": f"Bearer {client.token}"} if client.token else {}
    async with aiohttp.ClientSession() as http, http.ws_connect(
            client.server + path, params=query, protocols=(rc.V5,), headers=headers,
            ssl=context if context is not None else False, heartbeat=30,
            max_msg_size=0) as ws:
        tasks = []
        if options.stdin and stdin is not None:
            tasks.append(asyncio.ensure_future(_send_stdin(ws, stdin)))
        with _terminal(ws, stdin, options.tty) as sent_size:
            tasks.append(asyncio.ensure_future(sent_size))
            try:
                return await _receive(ws, stdout, stderr)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)


async def _receive(ws: aiohttp.ClientWebSocketResponse, stdout: BinaryIO,
                   stderr: BinaryIO) -> int:
    status: dict[str, Any] | None = None
    async for msg in ws:
        if msg.type != aiohttp.WSMsgType.BINARY or not msg.data:
            continue
        channel, data = msg.data[0], msg.data[1:]
        if channel in (rc.STDOUT, rc.STDERR) and data:
            sink = stdout if channel == rc.STDOUT else stderr
            sink.write(data)
            sink.flush()
        elif channel == rc.ERROR and data:
            try:
                status = json.loads(data)
            except ValueError:
                status = rc.failure("InternalError", data.decode(errors="replace"))
    if status is None:
        stderr.write(b"error: the stream closed before the command's outcome arrived\n")
        return 1
    code = rc.exit_code_of(status)
    if code and status.get("reason") != "NonZeroExitCode":
        stderr.write(f"error: {status.get('message') or status.get('reason')}\n".encode())
    return code


async def _send_stdin(ws: aiohttp.ClientWebSocketResponse, stdin: BinaryIO) -> None:
    loop = asyncio.get_running_loop()
    chunks: asyncio.Queue[bytes] = asyncio.Queue(maxsize=4)

    def read() -> None:  # a daemon thread: a blocked read never holds the exit up
        fd = stdin.fileno()
        while True:
            try:
                data = os.read(fd, READ_SIZE)
            except OSError:
                data = b""
            asyncio.run_coroutine_threadsafe(chunks.put(data), loop).result()
            if not data:
                return

    threading.Thread(target=read, daemon=True).start()
    while data := await chunks.get():
        await ws.send_bytes(rc.message(rc.STDIN, data))
    await ws.send_bytes(bytes((rc.CLOSE, rc.STDIN)))


@contextlib.contextmanager
def _terminal(ws: aiohttp.ClientWebSocketResponse, stdin: BinaryIO | None,
              tty: bool) -> Iterator[Coroutine[Any, Any, None]]:
    """With a TTY: the local terminal raw for the session, its size sent now and on SIGWINCH.
    Yields a coroutine that sends the first size (a no-op without a TTY)."""
    async def send_size() -> None:
        if tty:
            size = shutil.get_terminal_size()
            await ws.send_bytes(rc.message(rc.RESIZE, json.dumps(
                {"Width": size.columns, "Height": size.lines}).encode()))

    if not tty or stdin is None or not os.isatty(stdin.fileno()):
        yield send_size()
        return
    import termios
    import tty as tty_mode

    fd = stdin.fileno()
    saved = termios.tcgetattr(fd)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGWINCH, lambda: asyncio.ensure_future(send_size()))
    tty_mode.setraw(fd)
    try:
        yield send_size()
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        loop.remove_signal_handler(signal.SIGWINCH)
        sys.stdout.flush()
