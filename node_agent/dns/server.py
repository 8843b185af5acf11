"""The DNS server (I/O): UDP and TCP on one address, cluster names answered from the service
cache (records.py), other names forwarded to the upstream resolvers and their answers relayed.

A malformed query is dropped (or answered FORMERR when its header can be read); a failing or
failing upstream gives SERVFAIL; with no upstream at all, names outside the cluster domain
do not exist (NXDOMAIN). Nothing a client sends can stop the server.
"""

from __future__ import annotations

import logging
import socket
import socketserver
import struct
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from node_agent.dns.records import CLUSTER_DOMAIN, Answer, Lookup, resolve

log = logging.getLogger(__name__)
UPSTREAM_TIMEOUT = 2.0


def host_nameservers(resolv_conf: str = "/etc/resolv.conf") -> list[str]:
    """The host's resolvers (`nameserver` lines), the agent's default upstreams."""
    try:
        lines = Path(resolv_conf).read_text().splitlines()
    except OSError:
        return []
    return [line.split()[1] for line in lines
            if line.startswith("nameserver") and len(line.split()) > 1]


def build_response(query: dns.message.Message, answer: Answer) -> dns.message.Message:
    response = dns.message.make_response(query)
    response.flags |= dns.flags.AA
    response.set_rcode(dns.rcode.from_text(answer.rcode))
    for section, records in ((response.answer, answer.answers),
                             (response.additional, answer.additional)):
        for r in records:
            section.append(dns.rrset.from_text(r.name, r.ttl, "IN", r.type, r.data))
    return response


class DnsServer:
    def __init__(self, lookup: Lookup, address: str, port: int = 53,
                 upstreams: list[str] | None = None, domain: str = CLUSTER_DOMAIN) -> None:
        self.lookup, self.address, self.port = lookup, address, port
        # "host" or "host:port"; never ourselves
        self.upstreams = [_host_port(u) for u in (upstreams or [])
                          if _host_port(u) != (address, port)]
        self.domain = domain
        self.pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="dns")
        self._servers: list[socketserver.BaseServer] = []

    # --- answering (shared by UDP and TCP) ---

    def handle(self, wire: bytes, tcp: bool = False) -> bytes | None:
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            if len(wire) >= 12:  # a header: answer FORMERR with its id
                (qid,) = struct.unpack("!H", wire[:2])
                return struct.pack("!HHHHHH", qid, 0x8001, 0, 0, 0, 0)
            return None
        if len(query.question) != 1:
            response = dns.message.make_response(query)
            response.set_rcode(dns.rcode.FORMERR)
            return response.to_wire()
        question = query.question[0]
        answer = None
        if question.rdclass == dns.rdataclass.IN:
            answer = resolve(question.name.to_text(), dns.rdatatype.to_text(question.rdtype),
                             self.lookup, self.domain)
        if answer is None:
            return self.forward(query, wire, tcp)
        response = build_response(query, answer)
        try:
            return response.to_wire(max_size=65535 if tcp else 512)
        except dns.exception.TooBig:  # e.g. a headless service with many endpoints over UDP:
            truncated = dns.message.make_response(query)  # the client retries over TCP
            truncated.flags |= dns.flags.AA | dns.flags.TC
            return truncated.to_wire()

    def forward(self, query: dns.message.Message, wire: bytes, tcp: bool) -> bytes:
        for host, port in self.upstreams:
            try:
                if tcp:
                    reply = dns.query.tcp(query, host, port=port, timeout=UPSTREAM_TIMEOUT)
                else:
                    reply = dns.query.udp(query, host, port=port, timeout=UPSTREAM_TIMEOUT,
                                          ignore_unexpected=True)
                return reply.to_wire(max_size=65535 if tcp else 512)
            except (OSError, dns.exception.DNSException) as e:
                log.debug("upstream %s:%d: %s", host, port, e)
        response = dns.message.make_response(query)
        # Without upstreams (an isolated cluster) no other name exists: NXDOMAIN lets the
        # clients' search path go on to the cluster domain (some resolvers stop at SERVFAIL).
        response.set_rcode(dns.rcode.SERVFAIL if self.upstreams else dns.rcode.NXDOMAIN)
        return response.to_wire()

    # --- serving ---

    def start(self) -> None:
        server = self

        class Udp(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                data, sock = self.request
                client = self.client_address

                def work() -> None:
                    try:
                        reply = server.handle(data)
                        if reply:
                            sock.sendto(reply, client)
                    except Exception:
                        log.exception("dns query from %s", client)
                server.pool.submit(work)

        class Tcp(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                conn = self.request
                conn.settimeout(5)
                try:
                    while True:
                        head = _read_exactly(conn, 2)
                        if not head:
                            return
                        (length,) = struct.unpack("!H", head)
                        reply = server.handle(_read_exactly(conn, length), tcp=True)
                        if reply:
                            conn.sendall(struct.pack("!H", len(reply)) + reply)
                except (OSError, ValueError):
                    return

        class UdpServer(socketserver.UDPServer):
            allow_reuse_address = True

        class TcpServer(socketserver.ThreadingTCPServer):
            allow_reuse_address = True
            daemon_threads = True

        udp = UdpServer((self.address, self.port), Udp)
        try:
            tcp = TcpServer((self.address, udp.server_address[1]), Tcp)
        except OSError:
            udp.server_close()  # all or nothing: a retry must find the port free
            raise
        self._servers = [udp, tcp]
        for s in self._servers:
            threading.Thread(target=s.serve_forever, name=f"dns-{type(s).__name__}",
                             daemon=True).start()

    def stop(self) -> None:
        for s in self._servers:
            s.shutdown()
            s.server_close()
        self.pool.shutdown(wait=False)


def _host_port(text: str) -> tuple[str, int]:
    host, _, port = text.strip().partition(":")
    return host, int(port) if port else 53


def _read_exactly(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            if data:
                raise ValueError("connection closed mid-message")
            return b""
        data += chunk
    return data

