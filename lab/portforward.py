"""A TCP port-forward from this (root) namespace's loopback into a lab host's namespace, the way
kind publishes its API server on localhost, without putting lab addresses in the root namespace.

    python -m lab.portforward --listen 127.0.0.1:PORT --netns NAME-host1 [--netns NAME-host2 …] \
        --target 127.0.0.1:6443

Each accepted connection gets an upstream socket created inside the first target namespace that
accepts (a helper thread enters it with setns; see lab.system.connect_in_netns), so with several
masters the published API survives losing any of them; bytes are piped both ways.
Bytes are not interpreted: TLS is end to end between the client and the API server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal

from lab.system import connect_in_netns

log = logging.getLogger("lab.portforward")


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def _handle(client_reader, client_writer, netns: list[str],
                  target: tuple[str, int]) -> None:
    loop = asyncio.get_running_loop()
    upstream = None
    for ns in netns:
        try:
            upstream = await loop.run_in_executor(None, connect_in_netns, ns, target, 2.0)
            break
        except OSError as e:
            log.warning("cannot reach %s:%d in %s: %s", *target, ns, e)
    if upstream is None:
        client_writer.close()
        return
    upstream.setblocking(False)
    up_reader, up_writer = await asyncio.open_connection(sock=upstream)
    await asyncio.gather(_pipe(client_reader, up_writer), _pipe(up_reader, client_writer))


async def serve(listen: tuple[str, int], netns: list[str], target: tuple[str, int]) -> None:
    server = await asyncio.start_server(lambda r, w: _handle(r, w, netns, target), *listen,
                                        reuse_address=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", required=True, type=_address)
    parser.add_argument("--netns", required=True, action="append",
                        help="namespace to connect in (repeatable: tried in order)")
    parser.add_argument("--target", required=True, type=_address)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    asyncio.run(serve(args.listen, args.netns, args.target))


if __name__ == "__main__":
    main()
