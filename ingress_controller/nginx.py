"""Pure: a Config (model.py) as nginx's configuration.

One `server` per host on port 80 (a 308 to HTTPS instead when the host has TLS and the
redirect is on) and on 443 with its certificate, chosen by SNI; the default server answers
unknown hosts (the default backend, else 404) and refuses TLS handshakes for names it has no
certificate for. Locations: `= path` for Exact; for a prefix, `= path` and `path/` (element-wise,
as Kubernetes' Prefix); `~ ^path` when the use-regex annotation is on. nginx then picks
exact first and the longest prefix, which is Kubernetes' precedence. Requests go to an
`upstream` of the backend's ready endpoints; a failed connection or a 502/503/504 from one is
retried on the next (a pod that is going away while the configuration catches up), for
requests that may be repeated.

Certificates are written as files named after Config.certificates' keys under `cert_dir`.
Port 10254 answers /healthz for the controller's probes.
"""

from __future__ import annotations

from ingress_controller.model import Config, Location, Server

HEALTH_PORT = 10254
PROXY_HEADERS = (
    "proxy_http_version 1.1;",
    'proxy_set_header Connection $connection_upgrade;',
    "proxy_set_header Upgrade $http_upgrade;",
    "proxy_set_header Host $host;",
    "proxy_set_header X-Real-IP $remote_addr;",
    "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
    "proxy_set_header X-Forwarded-Host $host;",
    "proxy_set_header X-Forwarded-Proto $scheme;",
    "proxy_next_upstream error timeout http_502 http_503 http_504;",
    "proxy_next_upstream_tries 3;",
)


def _quote(text: str) -> str:
    """A string argument for nginx: quoted, quotes and backslashes escaped (the model lets no
    path or host through that holds `$`, braces, `;` or spaces: model.PATH_RE)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _regex(text: str) -> str:
    """A regular expression argument: quoted, `$` left to the expression (its end anchor)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _location_block(loc: Location, match: str) -> list[str]:
    body: list[str] = []
    if loc.upstream is None:
        body.append("return 503;")
    else:
        if loc.rewrite_target is not None:
            pattern = f"^{loc.path}" if loc.kind == "regex" else f"^{_literal(loc.path)}"
            body.append(f"rewrite {_regex(pattern)} {_quote_rewrite(loc.rewrite_target)} "
                        "break;")
        body += [f"proxy_connect_timeout {loc.connect_timeout}s;",
                 f"proxy_read_timeout {loc.read_timeout}s;",
                 f"proxy_send_timeout {loc.send_timeout}s;",
                 f"client_max_body_size {loc.body_size};",
                 *PROXY_HEADERS,
                 f"proxy_pass http://{loc.upstream};"]
    return [f"location {match} {{", f"    # {loc.ingress}", *(f"    {b}" for b in body), "}"]


def _literal(path: str) -> str:
    """`path` as a regular expression matching itself."""
    out = []
    for ch in path:
        out.append("\\" + ch if ch in r".^$*+?()[]{}|\\" else ch)
    return "".join(out)


def _quote_rewrite(target: str) -> str:
    """A rewrite target: captures ($1) stay, quotes and backslashes are escaped."""
    return '"' + target.replace("\\", "\\\\").replace('"', '\\"') + '"'


def locations(server: Server) -> list[str]:
    lines: list[str] = []
    exact_paths = {loc.path for loc in server.locations if loc.kind == "exact"}
    has_root = False
    for loc in server.locations:
        if loc.kind == "regex":
            lines += _location_block(loc, f"~ {_regex('^' + loc.path)}")
        elif loc.kind == "exact":
            lines += _location_block(loc, f"= {_quote(loc.path)}")
        elif loc.path == "/":
            has_root = True
            lines += _location_block(loc, "/")
        else:
            if loc.path not in exact_paths:
                lines += _location_block(loc, f"= {_quote(loc.path)}")
            lines += _location_block(loc, _quote(loc.path + "/"))
    if not has_root:
        lines += ["location / {", "    return 404;", "}"]
    return lines


def _server(server: Server, cert_dir: str) -> list[str]:
    names = _quote(server.host) if server.host else "_"
    out: list[str] = []
    if server.ssl_redirect:
        out += ["server {", "    listen 80;", f"    server_name {names};",
                "    return 308 https://$host$request_uri;", "}"]
    else:
        out += ["server {", "    listen 80;" if server.host else
                "    listen 80 default_server;", f"    server_name {names};",
                *(f"    {line}" for line in locations(server)), "}"]
    if server.certificate is not None:
        pem = f"{cert_dir}/{server.certificate}.pem"
        out += ["server {", "    listen 443 ssl;", f"    server_name {names};",
                f"    ssl_certificate {_quote(pem)};", f"    ssl_certificate_key {_quote(pem)};",
                *(f"    {line}" for line in locations(server)), "}"]
    elif not server.host:
        out += ["server {", "    listen 443 ssl default_server;", "    server_name _;",
                "    ssl_reject_handshake on;", "}"]
    return out


def render(config: Config, cert_dir: str, pid_file: str = "/run/nginx.pid") -> str:
    lines = [
        "# written by the orch ingress controller: every change is replaced at the next sync",
        "worker_processes auto;",
        f"pid {pid_file};",
        "error_log stderr notice;",
        "events { worker_connections 4096; }",
        "http {",
        # ingress-nginx's "upstreaminfo" fields that apply here: which server block answered
        # ($server_name, "_" for the default one) and which endpoint, with what status
        "    log_format upstreaminfo '$remote_addr - $remote_user [$time_local] \"$request\" '",
        "        '$status $body_bytes_sent \"$http_referer\" \"$http_user_agent\" '",
        "        '$request_length $request_time [$host] [$server_name] $upstream_addr '",
        "        '$upstream_response_length $upstream_response_time $upstream_status';",
        "    access_log /dev/stdout upstreaminfo;",
        "    server_names_hash_bucket_size 128;",
        "    server_tokens off;",
        "    map $http_upgrade $connection_upgrade { default upgrade; '' ''; }",
    ]
    for name in sorted(config.upstreams):
        upstream = config.upstreams[name]
        if not upstream.endpoints:
            continue
        lines += [f"    upstream {name} {{",
                  *(f"        server {e} max_fails=0;" for e in upstream.endpoints),
                  "        keepalive 16;", "    }"]
    for server in config.servers:
        lines += [f"    {line}" for line in _server(server, cert_dir)]
    lines += ["    server {", f"        listen {HEALTH_PORT};",
              "        location = /healthz { return 200 \"ok\\n\"; }", "    }", "}", ""]
    return "\n".join(lines)
