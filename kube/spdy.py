"""SPDY/3.1 framing, the part Kubernetes' port-forward uses (kubectl tunnels it through a
WebSocket: "SPDY/3.1+portforward.k8s.io"). Pure: bytes in, frames out, and frames to bytes.

    control frame: 1 | version (15 bits) | type (16) | flags (8) | length (24) | payload
    data frame:    0 | stream id (31 bits)           | flags (8) | length (24) | data

Header blocks (SYN_STREAM, SYN_REPLY, HEADERS) are name/value pairs with 32-bit lengths,
compressed by zlib with SPDY's dictionary, one zlib stream per direction for the whole
connection. Flow control (WINDOW_UPDATE) is read and ignored, as Kubernetes' SPDY library does.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = \
    1, 2, 3, 4, 6, 7, 8, 9
FLAG_FIN = 0x01
RST_PROTOCOL_ERROR, RST_REFUSED_STREAM, RST_CANCEL = 1, 3, 5
MAX_DATA = 0xFFFFFF


class SpdyError(ValueError):
    pass


_WORDS = [word.replace("_", " ") for word in (  # "200_OK" is the one word "200 OK"
    "options head post put delete trace accept accept-charset accept-encoding accept-language "
    "accept-ranges age allow authorization cache-control connection content-base "
    "content-encoding content-language content-length content-location content-md5 "
    "content-range content-type date etag expect expires from host if-match "
    "if-modified-since if-none-match if-range if-unmodified-since last-modified location "
    "max-forwards pragma proxy-authenticate proxy-authorization range referer retry-after "
    "server te trailer transfer-encoding upgrade user-agent vary via warning "
    "www-authenticate method get status 200_OK version HTTP/1.1 url public set-cookie "
    "keep-alive origin").split()]
_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502"
    "504505203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad "
    "Request401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not "
    "Implemented503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec "
    "00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,"
    "image/gif,application/xml,application/xhtml+xml,text/plain,text/javascript,public"
    "privatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.")
# The SPDY/3 header compression dictionary (draft-mbelshe-httpbis-spdy-00, 2.6.10.1).
DICTIONARY = b"".join(struct.pack(">I", len(w)) + w.encode() for w in _WORDS) + _TAIL.encode()


@dataclass
class Frame:
    kind: int  # a control type, or 0 for data
    flags: int = 0
    stream_id: int = 0
    headers: dict[str, str] = field(default_factory=dict)  # SYN_STREAM, SYN_REPLY, HEADERS
    data: bytes = b""  # a data frame's bytes; PING's id; RST_STREAM's and GOAWAY's payload

    @property
    def fin(self) -> bool:
        return bool(self.flags & FLAG_FIN)


class Reader:
    """Frames from a byte stream fed in pieces (a frame may span several)."""

    def __init__(self) -> None:
        self._buffer = b""
        self._inflate = zlib.decompressobj(zdict=DICTIONARY)

    def feed(self, data: bytes) -> list[Frame]:
        self._buffer += data
        frames = []
        while len(self._buffer) >= 8:
            length = int.from_bytes(self._buffer[5:8], "big")
            if len(self._buffer) < 8 + length:
                break
            head, payload = self._buffer[:8], self._buffer[8:8 + length]
            self._buffer = self._buffer[8 + length:]
            frames.append(self._frame(head, payload))
        return frames

    def _frame(self, head: bytes, payload: bytes) -> Frame:
        flags = head[4]
        if not head[0] & 0x80:
            return Frame(0, flags, int.from_bytes(head[:4], "big") & 0x7FFFFFFF, data=payload)
        version = int.from_bytes(head[:2], "big") & 0x7FFF
        kind = int.from_bytes(head[2:4], "big")
        if version != VERSION:
            raise SpdyError(f"SPDY version {version} is not supported (3 is)")
        if kind in (SYN_STREAM, SYN_REPLY, HEADERS, RST_STREAM, WINDOW_UPDATE) and \
                len(payload) < 4:
            raise SpdyError(f"a control frame of type {kind} is cut short")
        stream_id = int.from_bytes(payload[:4], "big") & 0x7FFFFFFF if len(payload) >= 4 else 0
        if kind == SYN_STREAM:
            if len(payload) < 10:
                raise SpdyError("a SYN_STREAM frame is cut short")
            return Frame(kind, flags, stream_id, self._headers(payload[10:]))
        if kind in (SYN_REPLY, HEADERS):
            return Frame(kind, flags, stream_id, self._headers(payload[4:]))
        if kind in (RST_STREAM, WINDOW_UPDATE):
            return Frame(kind, flags, stream_id, data=payload[4:])
        return Frame(kind, flags, 0, data=payload)  # SETTINGS, PING, GOAWAY, unknown

    def _headers(self, block: bytes) -> dict[str, str]:
        try:
            raw = self._inflate.decompress(block)
        except zlib.error as e:
            raise SpdyError(f"a header block does not decompress: {e}") from None
        headers: dict[str, str] = {}
        try:
            (count,), at = struct.unpack(">I", raw[:4]), 4
            for _ in range(count):
                (size,) = struct.unpack(">I", raw[at:at + 4])
                name = raw[at + 4:at + 4 + size].decode()
                at += 4 + size
                (size,) = struct.unpack(">I", raw[at:at + 4])
                value = raw[at + 4:at + 4 + size].decode()
                at += 4 + size
                headers[name.lower()] = value
        except (struct.error, UnicodeDecodeError) as e:
            raise SpdyError(f"a header block is malformed: {e}") from None
        return headers


class Writer:
    """Frames to bytes (its header blocks share one zlib stream, as SPDY requires)."""

    def __init__(self) -> None:
        self._deflate = zlib.compressobj(9, zdict=DICTIONARY)

    def _control(self, kind: int, flags: int, payload: bytes) -> bytes:
        return struct.pack(">HHI", 0x8000 | VERSION, kind, (flags << 24) | len(payload)) + payload

    def _block(self, headers: dict[str, str]) -> bytes:
        raw = struct.pack(">I", len(headers)) + b"".join(
            struct.pack(">I", len(k)) + k.lower().encode() + struct.pack(">I", len(v.encode()))
            + v.encode() for k, v in headers.items())
        return self._deflate.compress(raw) + self._deflate.flush(zlib.Z_SYNC_FLUSH)

    def syn_stream(self, stream_id: int, headers: dict[str, str], fin: bool = False) -> bytes:
        return self._control(SYN_STREAM, FLAG_FIN if fin else 0, struct.pack(
            ">IIBB", stream_id, 0, 0, 0) + self._block(headers))

    def syn_reply(self, stream_id: int, headers: dict[str, str] | None = None,
                  fin: bool = False) -> bytes:
        return self._control(SYN_REPLY, FLAG_FIN if fin else 0,
                             struct.pack(">I", stream_id) + self._block(headers or {}))

    def rst_stream(self, stream_id: int, status: int) -> bytes:
        return self._control(RST_STREAM, 0, struct.pack(">II", stream_id, status))

    def ping(self, ping_id: bytes) -> bytes:
        return self._control(PING, 0, ping_id)

    def goaway(self, last_stream_id: int) -> bytes:
        return self._control(GOAWAY, 0, struct.pack(">II", last_stream_id, 0))

    def data(self, stream_id: int, data: bytes = b"", fin: bool = False) -> bytes:
        if len(data) > MAX_DATA:
            raise SpdyError("a data frame holds at most 16 MiB")
        return struct.pack(">II", stream_id & 0x7FFFFFFF,
                           ((FLAG_FIN if fin else 0) << 24) | len(data)) + data
