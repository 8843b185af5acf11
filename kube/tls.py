"""TLS details shared by the master and the node agents."""

from __future__ import annotations

# The CN of the API server's client certificate towards node agents (see pki.py): agents serve
# logs and exec only to a client presenting it.
APISERVER_CLIENT_CN = "orchestrator-apiserver-agent-client"
AGENT_PORT = 10250

# asyncio's TLS transport gives every connection a read buffer of SSLProtocol.max_size (256 KiB
# in CPython 3.11-3.13): with a thousand watch streams that is most of a server's memory. A TLS
# record is at most 16 KiB, so 32 KiB loses no throughput worth having.
TLS_READ_BUFFER = 32 * 1024


def shrink_tls_read_buffers() -> None:
    import asyncio.sslproto

    if getattr(asyncio.sslproto.SSLProtocol, "max_size", 0) > TLS_READ_BUFFER:
        asyncio.sslproto.SSLProtocol.max_size = TLS_READ_BUFFER
