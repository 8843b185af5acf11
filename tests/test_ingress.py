"""The ingress controller's pure parts: Ingresses, Services, Endpoints and Secrets to what nginx
serves (merging per host, path types, conflicts, missing backends, TLS, annotations) and the
nginx configuration it is rendered as; the API's Ingress validation and default class."""

from __future__ import annotations

import base64

import pytest

from ingress_controller.model import build
from ingress_controller.nginx import render
from kube.kinds.endpoints import Endpoints
from kube.kinds.ingress import Ingress
from kube.kinds.secret import Secret
from kube.kinds.service import Service


def ingress(name, rules=None, created="2026-01-01T00:00:00Z", tls=None, default=None,
            annotations=None, ns="a"):
    spec = {}
    if rules is not None:
        spec["rules"] = rules
    if tls:
        spec["tls"] = tls
    if default:
        spec["defaultBackend"] = {"service": {"name": default, "port": {"number": 80}}}
    return Ingress.model_validate({"metadata": {"name": name, "namespace": ns,
                                                "creationTimestamp": created,
                                                "annotations": annotations or {}},
                                   "spec": spec})


def rule(host, *paths):
    return {**({"host": host} if host else {}), "http": {"paths": [
        {"path": p, "pathType": t, "backend": {"service": {"name": s, "port": {"number": 80}}}}
        for p, t, s in paths]}}


def service(name, ns="a"):
    return Service.model_validate({"metadata": {"name": name, "namespace": ns},
                                   "spec": {"clusterIP": "10.96.0.9", "ports": [
                                       {"name": "http", "port": 80, "targetPort": 8080}]}})


def endpoints(name, *ips, ns="a"):
    return Endpoints.model_validate({"metadata": {"name": name, "namespace": ns}, "subsets": [
        {"ports": [{"name": "http", "port": 8080}], "addresses": [{"ip": i} for i in ips]}]
        if ips else []})


SERVICES = [service("a"), service("b"), service("empty")]
ENDPOINTS = [endpoints("a", "10.244.1.5", "10.244.2.5"), endpoints("b", "10.244.3.5"),
             endpoints("empty")]


def test_hosts_and_paths_become_servers_straight_to_the_endpoints():
    config = build([ingress("i", [rule("a.example", ("/", "Prefix", "a")),
                                  rule("b.example", ("/api", "Prefix", "b"),
                                       ("/exact", "Exact", "a"))])], SERVICES, ENDPOINTS, [])
    assert [s.host for s in config.servers] == ["a.example", "b.example", ""]
    assert config.upstreams["a-a-80"].endpoints == ("10.244.1.5:8080", "10.244.2.5:8080")
    b = config.servers[1]
    assert [(loc.path, loc.kind, loc.upstream) for loc in b.locations] == [
        ("/exact", "exact", "a-a-80"), ("/api", "prefix", "a-b-80")]
    text = render(config, "/certs")
    assert 'location = "/api" {' in text and 'location "/api/" {' in text  # element-wise
    assert 'location = "/exact" {' in text
    assert "server 10.244.1.5:8080 max_fails=0;" in text
    assert "listen 80 default_server;" in text and "return 404;" in text  # unknown hosts
    assert text.count("{") == text.count("}")


def test_conflicts_go_to_the_oldest_and_missing_backends_answer_503():
    old = ingress("old", [rule("a.example", ("/", "Prefix", "a"))])
    new = ingress("new", [rule("a.example", ("/", "Prefix", "b"), ("/x", "Prefix", "nope"),
                               ("/y", "Prefix", "empty"))], created="2026-02-01T00:00:00Z")
    config = build([new, old], SERVICES, ENDPOINTS, [])
    server = config.servers[0]
    root = next(loc for loc in server.locations if loc.path == "/")
    assert root.ingress == "a/old"
    assert any("already defined by ingress a/old" in m for m in config.problems["a/new"])
    assert any("service a/nope not found" in m for m in config.problems["a/new"])
    text = render(config, "/certs")
    x_block = text.split('location "/x/" {')[1].split("}")[0]
    y_block = text.split('location "/y/" {')[1].split("}")[0]
    assert "return 503;" in x_block and "return 503;" in y_block  # no endpoints: 503 too
    assert "upstream a-empty-80" not in text


def test_tls_serves_by_sni_redirects_plain_http_and_refuses_a_wrong_secret():
    pem = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nx\n").decode()
    good = Secret.model_validate({"metadata": {"name": "tls", "namespace": "a"},
                                  "type": "kubernetes.io/tls",
                                  "data": {"tls.crt": pem, "tls.key": pem}})
    opaque = Secret.model_validate({"metadata": {"name": "plain", "namespace": "a"},
                                    "data": {"tls.crt": pem}})
    config = build([ingress("i", [rule("a.example", ("/", "Prefix", "a")),
                                  rule("b.example", ("/", "Prefix", "b"))],
                            tls=[{"hosts": ["a.example"], "secretName": "tls"},
                                 {"hosts": ["b.example"], "secretName": "plain"}])],
                   SERVICES, ENDPOINTS, [good, opaque])
    a, b = config.servers[0], config.servers[1]
    assert a.certificate == "a-tls" and a.ssl_redirect
    assert b.certificate is None and not b.ssl_redirect
    assert any("not of type kubernetes.io/tls" in m for m in config.problems["a/i"])
    assert config.certificates["a-tls"].startswith(b"-----BEGIN CERTIFICATE-----")
    text = render(config, "/certs")
    assert "return 308 https://$host$request_uri;" in text
    assert 'ssl_certificate "/certs/a-tls.pem";' in text
    assert "ssl_reject_handshake on;" in text  # no certificate for unknown names
    off = build([ingress("i", [rule("a.example", ("/", "Prefix", "a"))],
                         tls=[{"hosts": ["a.example"], "secretName": "tls"}],
                         annotations={"nginx.ingress.kubernetes.io/ssl-redirect": "false"})],
                SERVICES, ENDPOINTS, [good])
    assert not off.servers[0].ssl_redirect


def test_annotations_rewrite_timeouts_and_the_unsupported_ones_are_named():
    config = build([ingress("i", [rule("a.example", ("/app(/|$)(.*)", "ImplementationSpecific",
                                                      "a"))], annotations={
        "nginx.ingress.kubernetes.io/use-regex": "true",
        "nginx.ingress.kubernetes.io/rewrite-target": "/$2",
        "nginx.ingress.kubernetes.io/proxy-read-timeout": "5",
        "nginx.ingress.kubernetes.io/configuration-snippet": "more_set_headers x;",
        "nginx.ingress.kubernetes.io/proxy-send-timeout": "soon"})], SERVICES, ENDPOINTS, [])
    [loc] = config.servers[0].locations
    assert (loc.kind, loc.rewrite_target, loc.read_timeout, loc.send_timeout) == \
        ("regex", "/$2", 5, 60)
    problems = config.problems["a/i"]
    assert any("configuration-snippet is not supported" in m for m in problems)
    assert any("proxy-send-timeout: 'soon' is not a number" in m for m in problems)
    text = render(config, "/certs")
    assert 'location ~ "^/app(/|$)(.*)" {' in text and 'rewrite "^/app(/|$)(.*)" "/$2" break;' in text
    assert "proxy_read_timeout 5s;" in text


def test_the_default_backend_takes_unknown_hosts_and_paths_nginx_cannot_take_are_refused():
    config = build([ingress("d", default="b"),
                    ingress("i", [rule("a.example", ("/ok", "Prefix", "a"),
                                       ("/bad;path", "Prefix", "a"))],
                            created="2026-02-01T00:00:00Z")], SERVICES, ENDPOINTS, [])
    default = config.servers[-1]
    assert default.host == "" and [loc.upstream for loc in default.locations] == ["a-b-80"]
    assert any("characters this controller does not pass" in m for m in config.problems["a/i"])
    assert '"/bad;path' not in render(config, "/certs")


@pytest.mark.parametrize("spec, words", [
    ({"rules": [{"host": "a.example", "http": {"paths": [
        {"path": "x", "pathType": "Prefix", "backend": {"service": {
            "name": "a", "port": {"number": 80}}}}]}}]}, "must be an absolute path"),
    ({"rules": [{"host": "a.example", "http": {"paths": [
        {"path": "/", "backend": {"service": {"name": "a", "port": {"number": 80}}}}]}}]},
     "pathType"),
    ({"rules": [{"host": "*.*.example", "http": {"paths": [
        {"path": "/", "pathType": "Prefix", "backend": {"service": {
            "name": "a", "port": {"number": 80}}}}]}}]}, "wildcard"),
    ({}, "either `defaultBackend` or `rules`"),
    ({"defaultBackend": {"service": {"name": "a", "port": {"number": 80, "name": "x"}}}},
     "exactly one of name and number"),
])
def test_invalid_ingresses_are_refused(spec, words):
    with pytest.raises(ValueError, match=words):
        Ingress.model_validate({"metadata": {"name": "x"}, "spec": spec})


class _Master:
    """Stands in for the nginx master process: records the signals it is sent."""

    def __init__(self) -> None:
        self.signals: list[int] = []

    def send_signal(self, signal_number: int) -> None:
        self.signals.append(signal_number)


def test_a_configuration_nginx_rejects_is_never_loaded(tmp_path):
    import signal

    from ingress_controller.controller import Nginx
    fake = tmp_path / "nginx"  # `nginx -t -q -c FILE`: refuses a file that says BROKEN
    fake.write_text('#!/bin/sh\n[ "$1" = -t ] || exit 2\n'
                    'if grep -q BROKEN "$4"; then echo "nginx: [emerg] broken" >&2; exit 1; fi\n')
    fake.chmod(0o755)
    nginx = Nginx(str(fake), tmp_path / "conf")
    nginx.cert_dir.mkdir(parents=True)
    nginx.conf.write_text("good\n")
    nginx.process = _Master()  # type: ignore[assignment]
    assert nginx.apply("BROKEN\n", {}) == "nginx: [emerg] broken"
    assert nginx.conf.read_text() == "good\n" and nginx.process.signals == []
    assert nginx.apply("better\n", {"a-tls": b"pem"}) is None
    assert nginx.conf.read_text() == "better\n"
    assert nginx.process.signals == [signal.SIGHUP]  # a graceful reload
    assert (nginx.cert_dir / "a-tls.pem").read_bytes() == b"pem"
    assert nginx.apply("better again\n", {}) is None
    assert not (nginx.cert_dir / "a-tls.pem").exists()  # no longer used: removed


def test_a_tls_secret_whose_key_is_not_its_certificates_is_not_used(tmp_path):
    import subprocess

    from ingress_controller.controller import IngressController, Nginx
    made = {}
    for name in ("one", "two"):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", f"/CN={name}.example", "-keyout", str(tmp_path / f"{name}.key"),
                        "-out", str(tmp_path / f"{name}.crt")], check=True, capture_output=True)
        made[name] = {k: base64.b64encode((tmp_path / f"{name}.{k}").read_bytes()).decode()
                      for k in ("crt", "key")}

    def secret(name, crt, key):
        return Secret.model_validate({"metadata": {"name": name, "namespace": "a",
                                                   "resourceVersion": "1"},
                                      "type": "kubernetes.io/tls",
                                      "data": {"tls.crt": crt, "tls.key": key}})
    controller = IngressController.__new__(IngressController)
    controller.nginx, controller._checked = Nginx("nginx", tmp_path / "conf"), {}
    assert controller.certificate_problem(
        secret("good", made["one"]["crt"], made["one"]["key"])) is None
    mismatch = controller.certificate_problem(
        secret("bad", made["one"]["crt"], made["two"]["key"]))
    assert mismatch and "KEY_VALUES_MISMATCH" in mismatch.upper().replace(" ", "_")
    config = build([ingress("i", [rule("a.example", ("/", "Prefix", "a"))],
                            tls=[{"hosts": ["a.example"], "secretName": "bad"}])],
                   SERVICES, ENDPOINTS, [secret("bad", made["one"]["crt"], made["two"]["key"])],
                   {"a/bad": mismatch})
    assert config.servers[0].certificate is None
    assert any("do not load" in m for m in config.problems["a/i"])


def test_the_class_is_the_field_else_the_deprecated_annotation():
    from ingress_controller.controller import class_of
    assert class_of(ingress("i", [rule("a.example", ("/", "Prefix", "a"))],
                            annotations={"kubernetes.io/ingress.class": "nginx"})) == "nginx"
    named = Ingress.model_validate({"metadata": {"name": "j"}, "spec": {
        "ingressClassName": "other", "defaultBackend": {"service": {
            "name": "a", "port": {"number": 80}}}}})
    assert class_of(named) == "other"
    assert class_of(ingress("k", [rule("a.example", ("/", "Prefix", "a"))])) is None


def test_nginx_is_reloaded_only_once_it_has_written_its_pid_file(tmp_path):
    """nginx sets up its signal handlers before it writes its pid file: a SIGHUP sent earlier
    would end it. start() returns once the file names the process, and says so when nginx
    exits instead."""
    import signal
    import time

    from ingress_controller.controller import Nginx
    fake = tmp_path / "nginx"  # `nginx -c DIR/nginx.conf -g ...`: slow to start, as on a busy node
    fake.write_text('#!/bin/sh\nsleep 0.3\ndir=$(dirname "$2")\n'
                    'trap \'echo reloaded >> "$dir/signals"\' HUP\n'
                    'echo $$ > "$dir/nginx.pid"\nwhile :; do sleep 0.05; done\n')
    fake.chmod(0o755)
    nginx = Nginx(str(fake), tmp_path / "conf")
    nginx.conf_dir.mkdir()
    (nginx.conf_dir / "nginx.pid").write_text("1\n")  # a predecessor's, left behind
    nginx.start("first\n")
    try:
        assert nginx.alive()
        nginx.process.send_signal(signal.SIGHUP)  # type: ignore[union-attr]
        deadline = time.monotonic() + 10
        while not (nginx.conf_dir / "signals").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert nginx.alive() and (nginx.conf_dir / "signals").read_text() == "reloaded\n"
    finally:
        nginx.process.kill()  # type: ignore[union-attr]
    fake.write_text("#!/bin/sh\nexit 1\n")
    with pytest.raises(SystemExit, match="nginx exited at start"):
        nginx.start("first\n")
