"""Cluster DNS: the pure answers (records.py), and the server on real sockets on loopback,
including forwarding to an upstream resolver (a second server of ours) and bad input."""

from __future__ import annotations

import socket
import struct

import dns.flags
import dns.message
import dns.query
import dns.rcode
import pytest

from node_agent.dns.records import Record, resolve
from node_agent.dns.server import DnsServer, host_nameservers


class Cache:
    def __init__(self, services=(), endpoints=()):
        self.s = {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in services}
        self.e = {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in endpoints}

    def service(self, namespace, name):
        return self.s.get((namespace, name))

    def endpoints_of(self, namespace, name):
        return self.e.get((namespace, name))


WEB = {"metadata": {"namespace": "default", "name": "web"},
       "spec": {"clusterIP": "10.96.0.20", "ports": [{"name": "http", "port": 80,
                                                      "protocol": "TCP"}]}}
DB = {"metadata": {"namespace": "data", "name": "db"},
      "spec": {"clusterIP": "None", "ports": [{"name": "pg", "port": 5432}]}}
DB_EP = {"metadata": {"namespace": "data", "name": "db"},
         "subsets": [{"addresses": [{"ip": "10.244.2.7", "hostname": "db-0"},
                                    {"ip": "10.244.1.7"}],
                      "notReadyAddresses": [{"ip": "10.244.3.7"}],
                      "ports": [{"name": "pg", "port": 5432}]}]}
DOCS = {"metadata": {"namespace": "default", "name": "docs"},
        "spec": {"type": "ExternalName", "externalName": "docs.example.com"}}
CACHE = Cache([WEB, DB, DOCS], [DB_EP])


@pytest.mark.parametrize("qname,qtype,rcode,answers", [
    ("web.default.svc.cluster.local.", "A", "NOERROR",
     [Record("web.default.svc.cluster.local.", "A", "10.96.0.20")]),
    ("WEB.Default.svc.cluster.local", "A", "NOERROR",
     [Record("web.default.svc.cluster.local.", "A", "10.96.0.20")]),
    ("web.default.svc.cluster.local.", "AAAA", "NOERROR", []),
    ("web.other.svc.cluster.local.", "A", "NXDOMAIN", []),
    ("nope.default.svc.cluster.local.", "A", "NXDOMAIN", []),
    ("web.svc.cluster.local.", "A", "NXDOMAIN", []),  # the search path's misses
    ("web.cluster.local.", "A", "NXDOMAIN", []),
    ("cluster.local.", "A", "NXDOMAIN", []),
    ("db.data.svc.cluster.local.", "A", "NOERROR",  # headless: the ready endpoints
     [Record("db.data.svc.cluster.local.", "A", "10.244.1.7"),
      Record("db.data.svc.cluster.local.", "A", "10.244.2.7")]),
    ("db-0.db.data.svc.cluster.local.", "A", "NOERROR",  # an endpoint's hostname
     [Record("db-0.db.data.svc.cluster.local.", "A", "10.244.2.7")]),
    ("db-1.db.data.svc.cluster.local.", "A", "NXDOMAIN", []),
    ("docs.default.svc.cluster.local.", "A", "NOERROR",  # ExternalName: a CNAME
     [Record("docs.default.svc.cluster.local.", "CNAME", "docs.example.com.")]),
    ("_http._tcp.web.default.svc.cluster.local.", "SRV", "NOERROR",
     [Record("_http._tcp.web.default.svc.cluster.local.", "SRV",
             "0 100 80 web.default.svc.cluster.local.")]),
    ("_http._udp.web.default.svc.cluster.local.", "SRV", "NXDOMAIN", []),
    ("_grpc._tcp.web.default.svc.cluster.local.", "SRV", "NXDOMAIN", []),
    ("10-244-1-5.default.pod.cluster.local.", "A", "NOERROR",
     [Record("10-244-1-5.default.pod.cluster.local.", "A", "10.244.1.5")]),
    ("10-244-1-x.default.pod.cluster.local.", "A", "NXDOMAIN", []),
])
def test_cluster_names(qname, qtype, rcode, answers):
    answer = resolve(qname, qtype, CACHE)
    assert (answer.rcode, answer.answers) == (rcode, answers)


def test_srv_carries_the_target_address():
    answer = resolve("_http._tcp.web.default.svc.cluster.local.", "SRV", CACHE)
    assert answer.additional == [Record("web.default.svc.cluster.local.", "A", "10.96.0.20")]


def test_names_outside_the_domain_are_not_answered_here():
    assert resolve("example.com.", "A", CACHE) is None
    assert resolve("notcluster.local.", "A", CACHE) is None


def test_host_nameservers(tmp_path):
    conf = tmp_path / "resolv.conf"
    conf.write_text("# c\nsearch x\nnameserver 10.0.0.2\nnameserver 10.0.0.3\nnameserver\n")
    assert host_nameservers(str(conf)) == ["10.0.0.2", "10.0.0.3"]
    assert host_nameservers(str(tmp_path / "missing")) == []


def _free_port() -> int:
    """A loopback port free for both UDP and TCP (the server binds both): a UDP port alone
    was sometimes a TCP port in use."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp, \
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            tcp.bind(("127.0.0.1", 0))
            port = tcp.getsockname()[1]
            try:
                udp.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no loopback port free for both UDP and TCP")


@pytest.fixture
def servers():
    """An "upstream" serving the domain example.test, and the agent's server in front of it."""
    up_port, port = _free_port(), _free_port()
    upstream = DnsServer(Cache([{"metadata": {"namespace": "b", "name": "a"},
                                 "spec": {"clusterIP": "10.9.9.9", "ports": [{"port": 80}]}}]),
                         "127.0.0.1", up_port, domain="example.test")
    upstream.start()
    server = DnsServer(CACHE, "127.0.0.1", port, upstreams=[f"127.0.0.1:{up_port}"])
    server.start()
    yield server, port, up_port
    server.stop()
    upstream.stop()


def test_server_answers_udp_and_tcp(servers):
    _, port, _ = servers
    q = dns.message.make_query("web.default.svc.cluster.local", "A")
    for send in (dns.query.udp, dns.query.tcp):
        r = send(q, "127.0.0.1", port=port, timeout=3)
        assert r.rcode() == dns.rcode.NOERROR
        assert [rr.to_text() for rrset in r.answer for rr in rrset] == ["10.96.0.20"]
    r = dns.query.udp(dns.message.make_query("gone.default.svc.cluster.local", "A"),
                      "127.0.0.1", port=port, timeout=3)
    assert r.rcode() == dns.rcode.NXDOMAIN


def test_server_forwards_other_names_and_relays_the_answer(servers):
    _, port, _ = servers
    for send in (dns.query.udp, dns.query.tcp):
        r = send(dns.message.make_query("a.b.svc.example.test", "A"), "127.0.0.1", port=port,
                 timeout=5)
        assert r.rcode() == dns.rcode.NOERROR
        assert [rr.to_text() for rrset in r.answer for rr in rrset] == ["10.9.9.9"]


def test_a_failing_upstream_is_servfail_no_upstream_nxdomain_and_garbage_is_harmless(
        servers):
    server, port, _ = servers
    server.upstreams = [("127.0.0.1", _free_port())]  # nothing listens there
    r = dns.query.udp(dns.message.make_query("example.com", "A"), "127.0.0.1", port=port,
                      timeout=5)
    assert r.rcode() == dns.rcode.SERVFAIL
    server.upstreams = []
    r = dns.query.udp(dns.message.make_query("example.com", "A"), "127.0.0.1", port=port,
                      timeout=3)
    assert r.rcode() == dns.rcode.NXDOMAIN
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(3)
        s.sendto(b"\x12\x34" + b"\xff" * 20, ("127.0.0.1", port))  # a header, then garbage
        reply, _ = s.recvfrom(512)
        assert struct.unpack("!H", reply[:2])[0] == 0x1234 and reply[3] & 0x0F == 1  # FORMERR
        s.sendto(b"\x01", ("127.0.0.1", port))  # too short to answer: dropped
    r = dns.query.udp(dns.message.make_query("web.default.svc.cluster.local", "A"),
                      "127.0.0.1", port=port, timeout=3)
    assert r.rcode() == dns.rcode.NOERROR


def test_an_answer_too_big_for_udp_is_truncated_and_whole_over_tcp():
    ips = [f"10.244.{i // 250}.{i % 250 + 1}" for i in range(100)]
    big = Cache([{"metadata": {"namespace": "d", "name": "many"}, "spec": {"clusterIP": "None"}}],
                [{"metadata": {"namespace": "d", "name": "many"},
                  "subsets": [{"addresses": [{"ip": ip} for ip in ips]}]}])
    server = DnsServer(big, "127.0.0.1", 0)
    query = dns.message.make_query("many.d.svc.cluster.local", "A")
    udp = dns.message.from_wire(server.handle(query.to_wire()))
    assert udp.flags & dns.flags.TC and not udp.answer
    tcp = dns.message.from_wire(server.handle(query.to_wire(), tcp=True))
    assert len(tcp.answer[0]) == 100
