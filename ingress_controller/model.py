"""Pure: what the proxy should serve, from the Ingresses of our class and the Services,
Endpoints and Secrets they name.

Kubernetes' rules, as ingress-nginx applies them:
- Rules of every Ingress are merged per host; a host and path given twice (same path type) is
  served by the oldest Ingress, and the younger one is told so (a problem).
- Paths: `Exact` matches the path alone; `Prefix` matches it element by element (`/foo`
  matches `/foo`, `/foo/` and `/foo/bar`, not `/foobar`); `ImplementationSpecific` is a prefix
  here, or a regular expression with the use-regex annotation. The longest match wins, an
  exact one first.
- Traffic goes straight to the Service's ready endpoints (the Endpoints object's addresses for
  the port the backend names), not through its cluster IP. A backend whose Service or port is
  missing, or that has no ready endpoint, answers 503.
- A request for a host no rule names goes to the default backend (the oldest Ingress's
  `spec.defaultBackend`), else gets 404.
- TLS: each `spec.tls` entry's Secret (type kubernetes.io/tls, in the Ingress's namespace)
  serves its hosts on 443 by SNI; plain HTTP for such a host is redirected to HTTPS (308)
  unless `nginx.ingress.kubernetes.io/ssl-redirect: "false"`.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field

from kube.kinds.endpoints import Endpoints
from kube.kinds.ingress import Ingress, IngressBackend
from kube.kinds.secret import Secret
from kube.kinds.service import Service

ANNOTATION_PREFIX = "nginx.ingress.kubernetes.io/"
# the annotations of the ingress-nginx family this controller honours (seconds for timeouts)
SUPPORTED_ANNOTATIONS = frozenset(ANNOTATION_PREFIX + name for name in (
    "rewrite-target", "use-regex", "ssl-redirect", "proxy-connect-timeout",
    "proxy-read-timeout", "proxy-send-timeout", "proxy-body-size"))
TIMEOUT_RE = re.compile(r"^[0-9]{1,5}$")
# Paths that reach nginx's configuration: a plain path (what ingress-nginx's strict path
# validation allows), or, with use-regex, an expression without quotes, braces, `;` or spaces
PATH_RE = re.compile(r"^/[A-Za-z0-9/._~%+@:,=!*'()-]*$")
REGEX_UNSAFE = re.compile(r"[\s\"'{};]")
BODY_SIZE_RE = re.compile(r"^[0-9]{1,9}[kKmMgG]?$")


@dataclass(frozen=True)
class Upstream:
    name: str
    endpoints: tuple[str, ...]  # ip:port, sorted; empty: the backend answers 503


@dataclass(frozen=True)
class Location:
    path: str
    kind: str  # "exact" | "prefix" | "regex"
    upstream: str | None  # None: 503 (no such service or port, or no ready endpoint)
    ingress: str  # namespace/name of the Ingress that defines it
    rewrite_target: str | None = None
    connect_timeout: int = 5
    read_timeout: int = 60
    send_timeout: int = 60
    body_size: str = "1m"


@dataclass(frozen=True)
class Server:
    host: str  # "" is the default server (unknown hosts)
    locations: tuple[Location, ...]
    certificate: str | None = None  # the certificate's name (Config.certificates) for 443
    ssl_redirect: bool = False


@dataclass
class Config:
    servers: list[Server] = field(default_factory=list)
    upstreams: dict[str, Upstream] = field(default_factory=dict)
    certificates: dict[str, bytes] = field(default_factory=dict)  # name → PEM cert + key
    problems: dict[str, list[str]] = field(default_factory=dict)  # Ingress key → messages

    def problem(self, ingress: str, message: str) -> None:
        self.problems.setdefault(ingress, []).append(message)

    def hosts(self) -> set[str]:
        """The host names served (not the default server)."""
        return {server.host for server in self.servers if server.host}


def key(ingress: Ingress) -> str:
    return f"{ingress.metadata.namespace}/{ingress.metadata.name}"


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)


def _annotations(ingress: Ingress) -> dict[str, str]:
    return dict(ingress.metadata.annotations or {})


def _upstream(backend: IngressBackend, namespace: str, services: dict[str, Service],
              endpoints: dict[str, Endpoints], config: Config, ingress: str) -> str | None:
    """The upstream for a backend (made on first use); None when its Service or port does not
    exist, which is a problem of the Ingress."""
    assert backend.service is not None  # a resource backend is refused by the API
    ref = backend.service
    service = services.get(f"{namespace}/{ref.name}")
    if service is None:
        config.problem(ingress, f"service {namespace}/{ref.name} not found")
        return None
    port = next((p for p in service.spec.ports
                 if (ref.port.number is not None and p.port == ref.port.number)
                 or (ref.port.name is not None and p.name == ref.port.name)), None)
    if port is None:
        wanted = ref.port.number if ref.port.number is not None else ref.port.name
        config.problem(ingress, f"service {namespace}/{ref.name} has no port {wanted}")
        return None
    name = _safe(f"{namespace}-{ref.name}-{port.port}")
    if name not in config.upstreams:
        addresses: set[str] = set()
        ep = endpoints.get(f"{namespace}/{ref.name}")
        for subset in (ep.subsets if ep else None) or ():
            for ep_port in subset.ports or ():
                if (ep_port.name or None) == (port.name or None) and \
                        ep_port.protocol == port.protocol:
                    addresses |= {f"{a.ip}:{ep_port.port}" for a in subset.addresses or ()}
        config.upstreams[name] = Upstream(name, tuple(sorted(addresses)))
    return name if config.upstreams[name].endpoints else None  # no ready endpoint: 503


def _location(path: str, path_type: str, regex: bool, upstream: str | None, ingress: str,
              annotations: dict[str, str]) -> Location:
    kind = "regex" if regex else ("exact" if path_type == "Exact" else "prefix")
    options: dict[str, object] = {}
    for annotation, field_name in (("proxy-connect-timeout", "connect_timeout"),
                                   ("proxy-read-timeout", "read_timeout"),
                                   ("proxy-send-timeout", "send_timeout")):
        value = annotations.get(ANNOTATION_PREFIX + annotation)
        if value is not None and TIMEOUT_RE.match(value):
            options[field_name] = int(value)
    body = annotations.get(ANNOTATION_PREFIX + "proxy-body-size")
    if body is not None and BODY_SIZE_RE.match(body):
        options["body_size"] = body
    target = annotations.get(ANNOTATION_PREFIX + "rewrite-target")
    if target is not None and REGEX_UNSAFE.search(target):
        target = None  # annotation_problems says so
    return Location(path, kind, upstream, ingress, target, **options)  # type: ignore[arg-type]


def annotation_problems(ingress: Ingress) -> list[str]:
    """What the Ingress's annotations of our family ask that is not honoured or not valid."""
    problems = []
    for name, value in sorted(_annotations(ingress).items()):
        if not name.startswith(ANNOTATION_PREFIX):
            continue
        if name not in SUPPORTED_ANNOTATIONS:
            problems.append(f"annotation {name} is not supported by this controller: ignored")
        elif name.endswith("-timeout") and not TIMEOUT_RE.match(value):
            problems.append(f"annotation {name}: {value!r} is not a number of seconds: ignored")
        elif name.endswith("proxy-body-size") and not BODY_SIZE_RE.match(value):
            problems.append(f"annotation {name}: {value!r} is not a size: ignored")
        elif name.endswith("rewrite-target") and REGEX_UNSAFE.search(value):
            problems.append(f"annotation {name}: {value!r} has quotes, braces, ';' or spaces: "
                            "ignored")
        elif name.endswith(("use-regex", "ssl-redirect")) and value not in ("true", "false"):
            problems.append(f"annotation {name}: {value!r} is not true or false: ignored")
        elif name.endswith("use-regex") and value == "true":
            for rule in ingress.spec.rules or ():
                for p in (rule.http.paths if rule.http else ()):
                    try:
                        re.compile(p.path or "/")
                    except re.error as e:
                        problems.append(f"path {p.path!r} is not a regular expression ({e})")
    return problems


def build(ingresses: list[Ingress], services: list[Service], endpoints: list[Endpoints],
          secrets: list[Secret], unusable: dict[str, str] | None = None) -> Config:
    """The whole configuration. Ingresses are taken oldest first (then by name), so that a
    conflict always goes the same way. `unusable`: TLS Secrets (namespace/name) whose
    certificate and key do not load, and why (the controller tries each)."""
    unusable = unusable or {}
    config = Config()
    by_key = {f"{s.metadata.namespace}/{s.metadata.name}": s for s in services}
    eps = {f"{e.metadata.namespace}/{e.metadata.name}": e for e in endpoints}
    tls_secrets = {f"{s.metadata.namespace}/{s.metadata.name}": s for s in secrets}
    ordered = sorted(ingresses, key=lambda i: (i.metadata.creation_timestamp or "", key(i)))
    hosts: dict[str, dict[tuple[str, str], Location]] = {}
    host_tls: dict[str, str] = {}
    redirect: dict[str, bool] = {}
    default: Location | None = None
    for ingress in ordered:
        name, namespace = key(ingress), ingress.metadata.namespace or ""
        annotations = _annotations(ingress)
        for message in annotation_problems(ingress):
            config.problem(name, message)
        regex = annotations.get(ANNOTATION_PREFIX + "use-regex") == "true"
        ssl_redirect = annotations.get(ANNOTATION_PREFIX + "ssl-redirect") != "false"
        if ingress.spec.default_backend is not None:
            upstream = _upstream(ingress.spec.default_backend, namespace, by_key, eps, config,
                                 name)
            if default is None:
                default = _location("/", "Prefix", False, upstream, name, annotations)
            else:
                config.problem(name, f"the default backend of {default.ingress} is used "
                               "(the oldest Ingress's): this one's is not")
        for tls in ingress.spec.tls or ():
            secret = tls_secrets.get(f"{namespace}/{tls.secret_name}")
            if not tls.secret_name or secret is None:
                config.problem(name, f"TLS secret {namespace}/{tls.secret_name} not found: "
                               f"{', '.join(tls.hosts or [])} served without TLS")
                continue
            data = secret.data or {}
            if secret.type != "kubernetes.io/tls" or not data.get("tls.crt") or \
                    not data.get("tls.key"):
                config.problem(name, f"secret {namespace}/{tls.secret_name} is not of type "
                               "kubernetes.io/tls with tls.crt and tls.key: "
                               f"{', '.join(tls.hosts or [])} served without TLS")
                continue
            why = unusable.get(f"{namespace}/{tls.secret_name}")
            if why is not None:
                config.problem(name, f"secret {namespace}/{tls.secret_name}: its certificate "
                               f"and key do not load ({why}): "
                               f"{', '.join(tls.hosts or [])} served without TLS")
                continue
            cert = _safe(f"{namespace}-{tls.secret_name}")
            config.certificates[cert] = pem_of(secret)
            for host in tls.hosts or ():
                host_tls.setdefault(host, cert)
                redirect[host] = redirect.get(host, True) and ssl_redirect
        for rule in ingress.spec.rules or ():
            host = rule.host or ""
            paths = hosts.setdefault(host, {})
            for p in (rule.http.paths if rule.http else ()):
                path = p.path or "/"
                kind_key = "regex" if regex else ("exact" if p.path_type == "Exact"
                                                  else "prefix")
                if kind_key == "prefix" and len(path) > 1:
                    path = path.rstrip("/")  # /foo/ is /foo, element-wise
                if (not regex and not PATH_RE.match(path)) or \
                        (regex and REGEX_UNSAFE.search(path)):
                    config.problem(name, f"path {path!r} of host {host or '*'} has characters "
                                   "this controller does not pass to nginx: not used")
                    continue
                existing = paths.get((path, kind_key))
                if existing is not None:
                    config.problem(name, f"path {path} of host {host or '*'} is already "
                                   f"defined by ingress {existing.ingress}: not used")
                    continue
                upstream = _upstream(p.backend, namespace, by_key, eps, config, name)
                paths[(path, kind_key)] = _location(path, p.path_type, regex, upstream, name,
                                                    annotations)
    for host in sorted(set(hosts) | set(host_tls)):
        if host == "":
            continue
        locations = tuple(sorted(hosts.get(host, {}).values(),
                                 key=lambda loc: (-len(loc.path), loc.kind, loc.path)))
        config.servers.append(Server(host, locations, host_tls.get(host),
                                     redirect.get(host, False) and host in host_tls))
    catch_all = tuple(sorted(hosts.get("", {}).values(),
                             key=lambda loc: (-len(loc.path), loc.kind, loc.path)))
    if default is not None and not any(loc.path == "/" and loc.kind == "prefix"
                                       for loc in catch_all):
        catch_all += (default,)
    config.servers.append(Server("", catch_all))
    return config


def pem_of(secret: Secret) -> bytes:
    """A TLS Secret's certificate and key, one PEM file as nginx reads it."""
    data = secret.data or {}
    return _pem(data.get("tls.crt", "")) + b"\n" + _pem(data.get("tls.key", ""))


def _pem(value: str) -> bytes:
    """A Secret's data value (base64, as the API holds it)."""
    return base64.b64decode(value)
