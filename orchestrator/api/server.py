"""The HTTP API server (aiohttp): Kubernetes paths and verbs over TLS with bearer tokens.

    /api/v1/{resource}[/{name}[/{subresource}]]                      cluster-scoped, or all namespaces
    /api/v1/namespaces/{ns}/{resource}[/{name}[/{subresource}]]      namespaced
    /apis/{group}/{version}/…                                        the same for named groups
    /api /apis /api/v1 /apis/{group}/{version}                       discovery
    /openapi/v3 /openapi/v3/{api/v1|apis/G/V} /openapi/v2            OpenAPI (kube.openapi)
    /version /healthz /livez /readyz                                 no token needed
    /metrics                                                         Prometheus

Verbs: GET (get, list, ?watch=true), POST (create; pods/{name}/binding), PUT (update; status,
scale), PATCH (JSON merge patch), DELETE (one object, or a collection with a selector).
Errors are Kubernetes Status objects (status.py).

Concurrency: handlers are coroutines; store calls run in a thread pool (etcd's client is
synchronous). A watch is a coroutine reading an asyncio queue that the store's watch cache fills
from its etcd thread, so a thousand watchers cost a thousand small queues, not threads.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import ssl
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import aiohttp
import yaml
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import generate_latest

from orchestrator import __version__
from orchestrator.api.auth import (RequestAttributes, TokenAuthenticator, User, authorize,
                                   service_account_user)
from orchestrator.api.eviction import evict
from orchestrator.api.serviceaccounts import request_token, still_bound
from orchestrator.api.tokens import TokenSigner, TokenVerifier
from orchestrator.api import parameters
from orchestrator.api.metrics import MetricsCollector
from orchestrator.api.objects import Objects, list_request, too_large
from orchestrator.api.patch import PATCH_TYPES, patcher
from orchestrator.api.portforward import TUNNELED_SPDY, SpdySession
from kube import discovery, openapi, protobuf
from kube import metrics as resource_metrics
from kube import remotecommand as rc
from kube.table import INCLUDE_OBJECT, table, wants_table
from kube.registry import RESOURCES, ResourceType, UnknownKind, by_path
from kube.selectors import SelectorError, selects
from kube.timestamps import parse_rfc3339
from kube.errors import status_object
from kube.objects import Object
from orchestrator.api.status import ApiError, bad_request, forbidden, from_exception
from kube.validation import StrictDecodingError
from orchestrator.store import StoreError
from orchestrator.store.errors import Gone
from orchestrator.store.pagination import InvalidContinue, encode_continue
from orchestrator.store.watchcache import WatchEvent
from kube.tls import AGENT_PORT

log = logging.getLogger(__name__)

RESOURCE = web.RequestKey("resource", str)
NAME = web.RequestKey("name", str)
VERB = web.RequestKey("verb", str)
BODY = web.RequestKey("body", object)
DUPLICATES = web.RequestKey("duplicates", list)  # JSON paths a body names twice
WARNINGS = web.RequestKey("warnings", list)
GROUPS = sorted({(r.group, r.version) for r in RESOURCES if r.group})
WATCH_QUEUE_LIMIT = 10_000  # a watcher this far behind is closed; it re-lists and re-watches
DEFAULT_WATCH_TIMEOUT = 1800
BOOKMARK_INTERVAL = 10.0
JSON = "application/json"


@dataclass(frozen=True)
class Target:
    """A parsed resource path."""

    rt: ResourceType
    namespace: str | None
    name: str | None
    subresource: str | None


def parse_resource_path(group: str, version: str, rest: list[str]) -> Target:
    """`rest` is the path after /api/v1 or /apis/{group}/{version}. Pure."""
    namespace = None
    if len(rest) >= 3 and rest[0] == "namespaces":
        try:
            by_path(group, version, rest[2])
            namespace, rest = rest[1], rest[2:]
        except UnknownKind:
            pass  # /namespaces/{name}/status: a subresource of the namespace itself
    if not rest or len(rest) > 3:
        raise ApiError(404, "NotFound", "the server could not find the requested resource")
    try:
        rt = by_path(group, version, rest[0])
    except UnknownKind as e:
        raise ApiError(404, "NotFound", str(e)) from None
    name = rest[1] if len(rest) > 1 else None
    subresource = rest[2] if len(rest) > 2 else None
    if namespace and not rt.namespaced:
        raise ApiError(404, "NotFound", f"{rt.resource} is not namespaced")
    if subresource and subresource not in rt.subresources:
        raise ApiError(404, "NotFound", f"{rt.resource} has no subresource {subresource!r}")
    return Target(rt, namespace, name, subresource)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("apiserver_request_total", "API requests by verb, resource and "
                                "code", ["verb", "resource", "code"], registry=self.registry)
        self.latency = Histogram("apiserver_request_duration_seconds", "API request latency",
                                 ["verb", "resource"], registry=self.registry,
                                 buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10))
        self.watchers = Gauge("apiserver_registered_watchers", "Open watch streams",
                              ["resource"], registry=self.registry)


class ApiServer:
    def __init__(self, objects: Objects, authenticator: TokenAuthenticator,
                 workers: int = 32, agent_tls: ssl.SSLContext | None = None,
                 token_signer: TokenSigner | None = None,
                 token_verifier: TokenVerifier | None = None) -> None:
        """`agent_tls`: the client context towards node agents (pods/log, pods/exec); without
        it those subresources answer 501. `token_signer`/`token_verifier`: service account
        tokens (without a signer, serviceaccounts/token answers 501; without a verifier, no
        service account token is accepted)."""
        self.objects = objects
        self.authenticator = authenticator
        self.token_signer, self.token_verifier = token_signer, token_verifier
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="api")
        self.metrics = Metrics()
        self.agent_tls = agent_tls
        self._agent_http: aiohttp.ClientSession | None = None  # made on the server's loop
        self.resource_metrics = MetricsCollector(  # metrics.k8s.io
            lambda: self._run(lambda: self.objects.list(by_path("", "v1", "nodes"), None)[0]),
            lambda: self._run(lambda: self.objects.list(by_path("", "v1", "pods"), None)[0]),
            self._node_summary)

    # --- plumbing ---

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._errors], client_max_size=3 * 1024 * 1024)
        app.router.add_get("/healthz", self._ok)
        app.router.add_get("/livez", self._ok)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/version", self._version)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/api", self._api_versions)
        app.router.add_get("/apis", self._api_groups)
        app.router.add_get("/openapi/v3", self._openapi_v3_index)
        app.router.add_get("/openapi/v3/{path:.*}", self._openapi_v3)
        app.router.add_get("/openapi/v2", self._openapi_v2)
        app.router.add_route("*", "/api/{version}", self._core_or_discovery)
        app.router.add_route("*", "/api/{version}/{tail:.*}", self._core_or_discovery)
        app.router.add_route("*", f"/apis/{resource_metrics.API_VERSION}", self._metrics_api)
        app.router.add_route("*", f"/apis/{resource_metrics.API_VERSION}/{{tail:.*}}",
                             self._metrics_api)
        app.router.add_route("*", "/apis/{group}/{version}", self._group_or_discovery)
        app.router.add_route("*", "/apis/{group}/{version}/{tail:.*}", self._group_or_discovery)
        return app

    @web.middleware
    async def _errors(self, request: web.Request, handler):
        started = time.monotonic()
        verb = request.method.lower()
        try:
            response = await handler(request)
        except web.HTTPException as e:  # aiohttp's own: unknown path, method, body too large
            if e.status < 400:
                raise
            response = _json(status_object(e.status, e.reason.replace(" ", ""), e.text or e.reason),
                             e.status)
        except (ApiError, StoreError, ValueError) as e:
            error = from_exception(e, request.get(RESOURCE, ""), request.get(NAME, ""))
            response = _json(error.status(), error.code)
            # as Kubernetes' ErrorNegotiated: client-go (kubectl) and kube.client then wait
            # that long and retry instead of failing (etcd timed out, a leader election)
            retry_after = (error.details or {}).get("retryAfterSeconds")
            if isinstance(retry_after, int) and retry_after > 0:
                response.headers["Retry-After"] = str(retry_after)
        except Exception as e:  # a bug: answer 500, keep serving
            log.exception("internal error on %s %s", request.method, request.path)
            error = from_exception(e)
            response = _json(error.status(), 500)
        if not response.prepared:  # a streamed answer has sent its headers already
            for warning in dict.fromkeys(request.get(WARNINGS, [])):  # fieldValidation=Warn
                response.headers.add("Warning", '299 - "{}"'.format(
                    warning.replace("\\", "\\\\").replace('"', '\\"')))
        resource = request.get(RESOURCE, "") or "nonresource"
        verb = request.get(VERB, verb)
        self.metrics.requests.labels(verb, resource, str(response.status)).inc()
        if verb != "watch":
            self.metrics.latency.labels(verb, resource).observe(time.monotonic() - started)
        return response

    def _user(self, request: web.Request) -> User:
        header = request.headers.get("Authorization")
        user = self.authenticator.authenticate(header)
        if user is None and self.token_verifier is not None and header:
            scheme, _, token = header.partition(" ")
            claims = self.token_verifier.verify(token.strip()) \
                if scheme.lower() == "bearer" else None
            if claims is not None and still_bound(self.objects, claims):
                user = service_account_user(claims.namespace, claims.service_account)
        if user is None:
            raise ApiError(401, "Unauthorized", "Unauthorized: a valid bearer token is required")
        return user

    async def _authorize(self, user: User, attrs: RequestAttributes) -> None:
        if attrs.resource == "pods" and attrs.name and user.node_name and attrs.verb not in (
                "get", "list", "watch"):
            pod = await self._run(self.objects.get, by_path("", "v1", "pods"), attrs.namespace,
                                  attrs.name)
            attrs = RequestAttributes(**{**attrs.__dict__,
                                         "bound_node": pod["spec"].get("nodeName")})
        allowed, why = authorize(user, attrs)
        if not allowed:
            what = attrs.resource + (f"/{attrs.subresource}" if attrs.subresource else "")
            raise forbidden(user.name, attrs.verb, what, why)

    # --- non-resource endpoints ---

    async def _ok(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _readyz(self, request: web.Request) -> web.Response:
        try:
            await self._run(self.objects.store.current_revision)
        except StoreError as e:
            return web.Response(status=503, text=f"etcd: {e}")
        return web.Response(text="ok")

    async def _version(self, request: web.Request) -> web.Response:
        # The Kubernetes minor this API follows (the kubectl the suite drives is 1.37: inside
        # its supported skew); the project's own version is gitVersion's suffix.
        return _json({"major": "1", "minor": KUBERNETES_MINOR,
                      "gitVersion": f"v1.{KUBERNETES_MINOR}.0-orch.{__version__}",
                      "platform": "linux/amd64", "orchestrator": __version__})

    async def _metrics(self, request: web.Request) -> web.Response:
        await self._authorize(self._user(request), RequestAttributes("get", "metrics"))
        return web.Response(body=generate_latest(self.metrics.registry),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _openapi_v3_index(self, request: web.Request) -> web.Response:
        self._user(request)
        _only_parameters(request, OPENAPI_PARAMETERS)
        return _json(openapi.v3_index())

    async def _openapi_v3(self, request: web.Request) -> web.Response:
        """One group-version's document. `hash` (from the index) is what clients cache by; a
        hash that is not the current one still gets the current document, as Kubernetes
        answers (with no caching allowed)."""
        self._user(request)
        _only_parameters(request, ("hash", *OPENAPI_PARAMETERS))
        path = request.match_info["path"]
        try:
            body = _openapi_bytes(path)
        except LookupError:
            raise ApiError(404, "NotFound", f"no OpenAPI document for {path!r}: served are "
                           f"{', '.join(openapi.group_versions())}") from None
        current = request.query.get("hash") == openapi.document_hash(path)
        return web.Response(body=body, content_type=JSON, headers={
            "Cache-Control": "public, immutable" if current else "no-cache, private",
            "Etag": f'"{openapi.document_hash(path)}"'})

    async def _openapi_v2(self, request: web.Request) -> web.Response:
        """Swagger 2.0, as JSON only: a client that accepts nothing but the protobuf encoding
        gets 406, and falls back to OpenAPI v3 (kubectl does)."""
        self._user(request)
        _only_parameters(request, OPENAPI_PARAMETERS)
        accept = request.headers.get("Accept", "*/*")
        if "protobuf" in accept and "json" not in accept and "*/*" not in accept:
            raise ApiError(406, "NotAcceptable", "only application/json is supported here")
        return web.Response(body=_openapi_bytes(""), content_type=JSON)

    async def _api_versions(self, request: web.Request) -> web.Response:
        self._user(request)
        aggregated = discovery.negotiate(request.headers.get("Accept", ""))
        if aggregated:
            return _json(discovery.aggregated(True, aggregated),
                         media=discovery.media_type(aggregated))
        return _json({"kind": "APIVersions", "versions": ["v1"],
                      "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                                      "serverAddress": request.host}]})

    async def _api_groups(self, request: web.Request) -> web.Response:
        self._user(request)
        aggregated = discovery.negotiate(request.headers.get("Accept", ""))
        if aggregated:
            return _json(discovery.aggregated(False, aggregated),
                         media=discovery.media_type(aggregated))
        groups = []
        for group, version in [*GROUPS, (resource_metrics.GROUP, resource_metrics.VERSION)]:
            gv = {"groupVersion": f"{group}/{version}", "version": version}
            groups.append({"name": group, "versions": [gv], "preferredVersion": gv})
        return _json({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})

    def _resource_list(self, group: str, version: str) -> dict[str, Any]:
        resources = []
        for rt in RESOURCES:
            if (rt.group, rt.version) != (group, version):
                continue
            verbs = ["create", "delete", "deletecollection", "get", "list", "patch", "update",
                     "watch"]
            resources.append({"name": rt.resource, "singularName": rt.singular,
                              "namespaced": rt.namespaced, "kind": rt.kind, "verbs": verbs,
                              **({"shortNames": list(rt.short_names)} if rt.short_names else {}),
                              **({"categories": list(rt.categories)} if rt.categories else {})})
            for sub in rt.subresources:
                answer, sub_verbs = discovery.SUBRESOURCES.get(sub, (None, ["get"]))
                sub_group, sub_version, sub_kind = answer or (rt.group, rt.version, rt.kind)
                entry = {"name": f"{rt.resource}/{sub}", "singularName": "",
                         "namespaced": rt.namespaced, "kind": sub_kind, "verbs": sub_verbs}
                if (sub_group, sub_version) != (rt.group, rt.version) and sub_group:
                    # another group's kind (kubectl drain looks for pods/eviction's)
                    entry.update(group=sub_group, version=sub_version)
                resources.append(entry)
        return {"kind": "APIResourceList", "apiVersion": "v1",
                "groupVersion": f"{group}/{version}" if group else version,
                "resources": resources}

    # --- metrics.k8s.io ---

    async def _node_summary(self, node_name: str) -> Object:
        """The node agent's usage summary (node_agent/stats.py)."""
        url = await self._agent_url(node_name, "/stats/summary")
        async with self._agent_session().get(url, ssl=self.agent_tls or False) as r:
            r.raise_for_status()
            summary: Object = await r.json()
            return summary

    async def _metrics_api(self, request: web.Request) -> web.Response:
        """NodeMetrics and PodMetrics (get, list; labelSelector, fieldSelector on
        metadata.name), from the collector's last round (orchestrator/api/metrics.py)."""
        user = self._user(request)
        parts = [p for p in request.match_info.get("tail", "").split("/") if p]
        if request.method != "GET":
            raise ApiError(405, "MethodNotAllowed", "metrics.k8s.io is read-only (get, list)")
        if not parts:
            return _json({"kind": "APIResourceList", "apiVersion": "v1",
                          "groupVersion": resource_metrics.API_VERSION,
                          "resources": resource_metrics.discovery_resources()})
        namespace = None
        if parts[0] == "namespaces" and len(parts) >= 3:
            namespace, parts = parts[1], parts[2:]
        if parts[0] not in ("nodes", "pods") or len(parts) > 2 or \
                parts[0] == "nodes" and namespace is not None:
            raise ApiError(404, "NotFound", f"the server could not find the requested "
                           f"resource: {request.path}")
        resource, name = parts[0], parts[1] if len(parts) == 2 else None
        _only_parameters(request, ("labelSelector", "fieldSelector") if name is None else ())
        await self._authorize(user, RequestAttributes(
            "get" if name else "list", resource, namespace, name))
        snapshot = await self.resource_metrics.read()
        items = snapshot.nodes if resource == "nodes" else [
            p for p in snapshot.pods if namespace is None
            or p["metadata"]["namespace"] == namespace]
        kind = "NodeMetrics" if resource == "nodes" else "PodMetrics"
        if name is not None:
            found = next((i for i in items if i["metadata"]["name"] == name), None)
            if found is None:
                shown = f"{namespace}/{name}" if namespace else name
                raise ApiError(404, "NotFound", f'{kind.lower()}.{resource_metrics.GROUP} '
                               f'"{shown}" not found', {"name": name, "group":
                                                        resource_metrics.GROUP,
                                                        "kind": resource})
            return _json(found)
        try:
            predicate = selects(request.query.get("labelSelector"),
                                request.query.get("fieldSelector"))
        except SelectorError as e:
            raise bad_request(str(e)) from None
        return _json(resource_metrics.as_list(kind, [i for i in items if predicate(i)]))

    # --- resource endpoints ---

    async def _core_or_discovery(self, request: web.Request) -> web.StreamResponse:
        version = request.match_info["version"]
        tail = request.match_info.get("tail", "")
        if version != "v1":
            raise ApiError(404, "NotFound", f"the server does not serve version {version!r}")
        return await self._dispatch(request, "", version, tail)

    async def _group_or_discovery(self, request: web.Request) -> web.StreamResponse:
        group, version = request.match_info["group"], request.match_info["version"]
        if (group, version) not in GROUPS:
            raise ApiError(404, "NotFound", f"the server does not serve {group}/{version}")
        return await self._dispatch(request, group, version, request.match_info.get("tail", ""))

    async def _dispatch(self, request: web.Request, group: str, version: str,
                        tail: str) -> web.StreamResponse:
        user = self._user(request)
        parts = [p for p in tail.split("/") if p]
        if not parts:
            if request.method != "GET":
                raise ApiError(405, "MethodNotAllowed", "discovery is read-only")
            return _json(self._resource_list(group, version))
        target = parse_resource_path(group, version, parts)
        request[RESOURCE], request[NAME] = target.rt.resource, target.name or ""
        verb = self._verb(request, target)
        request[VERB] = verb
        parameters.check(verb, target.subresource, request.query)
        name = target.name
        if verb == "create" and not target.subresource:
            # The name of a new object is in its body: authorize on that (a node may create
            # only its own Node).
            body = await self._body(request)
            name = ((body.get("metadata") or {}).get("name") if isinstance(body, dict) else None)
        await self._authorize(user, RequestAttributes(
            verb, target.rt.resource, target.namespace, name, target.subresource))
        handler = getattr(self, f"_do_{verb}")
        deadline = parameters.request_timeout(request.query)
        if deadline is None or verb == "watch" or target.subresource in (*STREAMS, "log"):
            return await handler(request, target)  # long-running requests have no deadline
        try:
            return await asyncio.wait_for(handler(request, target), deadline)
        except asyncio.TimeoutError:
            raise ApiError(504, "Timeout", f"the request did not complete within the allotted "
                           f"timeout of {request.query['timeout']}") from None  # may yet be applied: no retry

    def _objects_for(self, request: web.Request, body_dry_run: bool = False) -> Objects:
        """The verbs for this request: the dry-run view with `dryRun=All` (in the query, or in
        a delete's DeleteOptions), validating fields as `fieldValidation` says (Kubernetes'
        default: Warn), its warnings the response's Warning headers."""
        objects = self.objects.dry_run_view() if parameters.dry_run(request.query) or \
            body_dry_run else self.objects
        mode = request.query.get("fieldValidation") or "Warn"
        objects = objects.validating(mode)
        duplicates = request.get(DUPLICATES) or []
        if duplicates:
            problems = [f'duplicate field "{d}"' for d in duplicates]
            if mode == "Strict":
                raise ApiError(400, "BadRequest", str(StrictDecodingError(problems)))
            if mode == "Warn":
                objects.warnings += problems
        request[WARNINGS] = objects.warnings
        return objects

    def _verb(self, request: web.Request, t: Target) -> str:
        method = request.method
        if t.subresource == "stats" and method != "GET":
            raise ApiError(405, "MethodNotAllowed", "nodes/stats takes GET")
        if t.subresource == "log" and method != "GET":
            raise ApiError(405, "MethodNotAllowed", "pods/log takes GET")
        if t.subresource in STREAMS:
            # a WebSocket upgrade is a GET; authorized as "create", as Kubernetes does since
            # a GET with a command would otherwise pass for a read
            if method not in ("GET", "POST"):
                raise ApiError(405, "MethodNotAllowed", f"pods/{t.subresource} takes GET "
                               "(a WebSocket) or POST")
            return "create"
        if method == "GET":
            if t.name:
                return "get"
            return "watch" if request.query.get("watch") in ("1", "true") else "list"
        if method == "POST":
            if t.subresource in ("binding", "token", "eviction"):
                return "create"
            if t.name:
                raise ApiError(405, "MethodNotAllowed", "POST is for collections")
            return "create"
        if method in ("PUT", "PATCH") and t.name:
            return "update" if method == "PUT" else "patch"
        if method == "DELETE":
            return "delete" if t.name else "deletecollection"
        raise ApiError(405, "MethodNotAllowed", f"{method} is not allowed here")

    async def _body(self, request: web.Request) -> Any:
        """The request's body, parsed once: JSON (every patch type is JSON too), YAML, or
        Kubernetes' protobuf (which kubectl's typed commands send: `create configmap`…),
        read into the same JSON (kube/protobuf.py)."""
        if BODY not in request:
            media = request.headers.get("Content-Type", "").split(";")[0].strip()
            raw = await request.read()
            try:
                if media == protobuf.MEDIA_TYPE:
                    if request.method == "PATCH":
                        raise ApiError(415, "UnsupportedMediaType", "a patch is JSON (or YAML "
                                       "for apply), never protobuf")
                    request[BODY] = protobuf.decode(raw)
                elif media in ("application/yaml", "application/apply-patch+yaml"):
                    request[BODY] = yaml.safe_load(raw) if raw else None
                else:
                    request[BODY], request[DUPLICATES] = _json_noting_duplicates(raw)
            except protobuf.ProtobufError as e:
                raise bad_request(f"the request body is not a readable protobuf object: "
                                  f"{e}") from None
            except (ValueError, yaml.YAMLError) as e:
                raise bad_request(f"the request body is not valid "
                                  f"{'YAML' if 'yaml' in media else 'JSON'}: {e}") from None
        return request[BODY]

    async def _do_get(self, request: web.Request, t: Target) -> web.StreamResponse:
        if t.subresource == "log":
            q = request.query
            params = {k: q[k] for k in ("follow", "tailLines", "previous", "timestamps",
                                        "sinceSeconds", "sinceTime", "limitBytes") if k in q}
            if "sinceSeconds" in q and "sinceTime" in q:
                raise bad_request("at most one of sinceTime or sinceSeconds may be specified")
            if "sinceTime" in q:
                try:
                    parse_rfc3339(q["sinceTime"])
                except ValueError:
                    raise bad_request(f"sinceTime={q['sinceTime']!r}: not an RFC 3339 "
                                      "time") from None
            return await self._proxy_to_agent(request, t, "containerLogs", params)
        if t.subresource == "scale":
            return _json(await self._run(self.objects.get_scale, t.rt, t.namespace, t.name))
        if t.subresource == "stats":  # nodes/{name}/stats: the agent's usage summary
            return await self._forward_to_node(request, t.name, "GET", "/stats/summary", {})
        obj = await self._run(self.objects.get, t.rt, t.namespace, t.name)
        wanted = parameters.non_negative_int(request.query, "resourceVersion") \
            if request.query.get("resourceVersion") else 0
        if wanted:  # "not older than": the current copy is, unless the version is in the future
            current = await self._run(self.objects.store.current_revision)
            if wanted > current:
                raise too_large(wanted, current)
        if wants_table(request.headers.get("Accept", "")):
            return _json(table(t.rt, [obj], self.objects.clock(), {
                "resourceVersion": obj["metadata"].get("resourceVersion", "")},
                _include_object(request)), media=TABLE_TYPE)
        return _json(obj)

    async def _pod_container(self, t: Target, container: str | None
                             ) -> tuple[Object, str, str]:
        """The pod `t` names, its node, and the container a pods/log, /exec or /attach
        request means (the only one when it names none)."""
        pod = await self._run(self.objects.get, t.rt, t.namespace, t.name)
        node_name = pod["spec"].get("nodeName")
        if not node_name:
            raise bad_request(f'pod "{t.name}" does not have a host assigned')
        names = [c["name"] for c in pod["spec"]["containers"]]
        inits = [c["name"] for c in pod["spec"].get("initContainers") or ()]
        container = container or (names[0] if len(names) == 1 else None)
        if container is None:
            raise bad_request(f"a container name must be specified for pod {t.name}, choose "
                              f"one of: [{' '.join(names)}]" + (
                                  f" or one of the init containers: [{' '.join(inits)}]"
                                  if inits else ""))
        if container not in names + inits:
            raise bad_request(f"container {container} is not valid for pod {t.name}")
        return pod, node_name, container

    async def _proxy_to_agent(self, request: web.Request, t: Target, endpoint: str,
                              params) -> web.StreamResponse:
        """pods/log: forward to the agent of the pod's node and stream its answer."""
        pod, node_name, container = await self._pod_container(t, request.query.get("container"))
        return await self._forward_to_node(request, node_name, "GET", f"/{endpoint}/"
                                           f"{_pod_path(pod)}/{container}", params)

    async def _stream_to_agent(self, request: web.Request, t: Target) -> web.StreamResponse:
        """pods/exec and pods/attach: the client's WebSocket relayed, message for message, to
        the agent's own (node_agent/streams.py), as kube-apiserver relays an upgraded
        connection to the kubelet; the subprotocol is the one the agent chose from the
        client's offer (kube/remotecommand.py)."""
        attach = t.subresource == "attach"
        try:
            options = rc.api_options(request.query, request.query.getall("command", []), attach)
        except rc.BadOptions as e:
            raise bad_request(str(e)) from None
        pod, node_name, container = await self._pod_container(t, options.container)
        if attach and options.stdin:
            spec = next(c for c in [*pod["spec"].get("initContainers", ()),
                                    *pod["spec"]["containers"]] if c["name"] == container)
            if not spec.get("stdin"):
                raise bad_request(f"container {container} in pod {t.name} was not created "
                                  "with stdin: true: nothing would read what attach sends")
        ready = web.WebSocketResponse(protocols=rc.PROTOCOLS).can_prepare(request)
        if not ready.ok:
            if request.headers.get("Upgrade", "").lower().startswith("spdy"):
                raise bad_request("SPDY streams are not supported: exec and attach are "
                                  f"WebSocket streams ({rc.V5}, which kubectl 1.30+ speaks, "
                                  f"or {rc.V4})")
            raise bad_request(f"Upgrade request required: pods/{t.subresource} is a WebSocket "
                              f"stream ({rc.V5} or {rc.V4})")
        if ready.protocol is None:
            offered = request.headers.get("Sec-WebSocket-Protocol", "")
            raise bad_request(f"requested protocol(s) are not supported: [{offered}]; "
                              f"supports [{' '.join(rc.PROTOCOLS)}]")
        url = await self._agent_url(node_name,
                                    f"/{t.subresource}/{_pod_path(pod)}/{container}")
        try:
            upstream = await self._agent_session().ws_connect(
                url, params=options.agent_query(), protocols=(ready.protocol,),
                ssl=self.agent_tls, max_msg_size=STREAM_MESSAGE_LIMIT)
        except aiohttp.WSServerHandshakeError as e:
            raise ApiError(500, "InternalError", f"the agent of node {node_name} refused the "
                           f"stream: {e.status} {e.message}") from None
        except (aiohttp.ClientError, OSError) as e:
            raise ApiError(503, "ServiceUnavailable", f"cannot reach the agent of node "
                           f"{node_name}: {e}") from None
        async with upstream:
            client = web.WebSocketResponse(protocols=(upstream.protocol or ready.protocol,),
                                           max_msg_size=STREAM_MESSAGE_LIMIT)
            await client.prepare(request)
            await _relay(client, upstream)
            return client

    async def _port_forward(self, request: web.Request, t: Target) -> web.StreamResponse:
        """pods/portforward: kubectl's SPDY-through-WebSocket streams, relayed to the pod's
        IP (orchestrator/api/portforward.py)."""
        pod = await self._run(self.objects.get, t.rt, t.namespace, t.name)
        status = pod.get("status") or {}
        if status.get("phase") != "Running" or not status.get("podIP"):
            raise bad_request(f"unable to forward port because pod is not running. Current "
                              f"status={status.get('phase', 'Pending')}")
        ready = web.WebSocketResponse(protocols=(TUNNELED_SPDY,)).can_prepare(request)
        if not ready.ok or ready.protocol is None:
            offered = request.headers.get("Sec-WebSocket-Protocol", "") if ready.ok else \
                request.headers.get("Upgrade", "none")
            raise bad_request(f"port-forward is SPDY/3.1 through a WebSocket (subprotocol "
                              f"{TUNNELED_SPDY}, as kubectl 1.31+ speaks it); got {offered!r}")
        ws = web.WebSocketResponse(protocols=(TUNNELED_SPDY,), max_msg_size=STREAM_MESSAGE_LIMIT)
        await ws.prepare(request)
        await SpdySession(ws, status["podIP"], t.name or "", pod["metadata"]["uid"]).run()
        return ws

    def _agent_session(self) -> aiohttp.ClientSession:
        if self._agent_http is None:
            self._agent_http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=5))
        return self._agent_http

    async def _agent_url(self, node_name: str, path: str) -> str:
        """https://<the node's InternalIP>:<the agent's port><path>"""
        if self.agent_tls is None:
            raise ApiError(501, "NotImplemented", "this API server has no client certificate "
                           "for node agents (--agent-client-cert)")
        node = await self._run(self.objects.get, by_path("", "v1", "nodes"), None, node_name)
        addresses = (node.get("status") or {}).get("addresses") or []
        address = next((a["address"] for a in addresses if a["type"] == "InternalIP"), None)
        if address is None:
            raise ApiError(503, "ServiceUnavailable", f"node {node_name} has no address yet")
        return f"https://{address}:{AGENT_PORT}{path}"

    async def _forward_to_node(self, request: web.Request, node_name: str, method: str,
                               path: str, params, body: bytes | None = None) -> web.StreamResponse:
        """Send a request to a node's agent over mutual TLS and stream its answer back."""
        url = await self._agent_url(node_name, path)
        try:
            upstream = await self._agent_session().request(method, url, params=params,
                                                           data=body, ssl=self.agent_tls)
        except (aiohttp.ClientError, OSError) as e:
            raise ApiError(503, "ServiceUnavailable", f"cannot reach the agent of node "
                           f"{node_name} at {url}: {e}") from None
        async with upstream:
            if upstream.status >= 400:
                return web.Response(body=await upstream.read(), status=upstream.status,
                                    content_type="application/json")
            response = web.StreamResponse(headers={
                "Content-Type": upstream.headers.get("Content-Type", "text/plain")})
            await response.prepare(request)
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
            return response

    async def _do_list(self, request: web.Request, t: Target) -> web.Response:
        q = request.query
        limit = float(q["timeoutSeconds"]) if q.get("timeoutSeconds") else None
        try:
            read = list_request(q)
            page = await asyncio.wait_for(
                self._run(self.objects.list_page, t.rt, t.namespace, read), limit or None)
        except asyncio.TimeoutError:
            raise ApiError(504, "Timeout", f"the list did not finish within {limit:g} s "
                           "(timeoutSeconds)") from None
        except (SelectorError, InvalidContinue) as e:
            raise bad_request(str(e)) from None
        except Gone:
            if read.after is None:
                raise ApiError(410, "Expired", f"too old resource version: "
                               f"{q.get('resourceVersion')}") from None
            raise ApiError(410, "Expired", "The provided continue parameter is too old to "
                           "display a consistent list result. You can start a new list without "
                           "the continue parameter.") from None
        metadata: dict[str, Any] = {"resourceVersion": str(page.revision)}
        if page.next is not None:
            metadata["continue"] = encode_continue(page.next)
        if page.remaining is not None:
            metadata["remainingItemCount"] = page.remaining
        if wants_table(request.headers.get("Accept", "")):
            return _json(table(t.rt, page.items, self.objects.clock(), metadata,
                               _include_object(request)), media=TABLE_TYPE)
        return _json({"kind": f"{t.rt.kind}List", "apiVersion": t.rt.api_version,
                      "metadata": metadata, "items": page.items})

    async def _do_create(self, request: web.Request, t: Target) -> web.StreamResponse:
        if t.subresource == "portforward":
            return await self._port_forward(request, t)
        if t.subresource in STREAMS:
            return await self._stream_to_agent(request, t)
        body = await self._body(request)
        objects = self._objects_for(request)
        if t.subresource == "binding":
            return _json(await self._run(objects.bind, t.namespace, t.name, body), 201)
        if t.subresource == "eviction":
            return _json(await self._run(self._evict, request, t, body), 201)
        if t.subresource == "token":
            if self.token_signer is None:
                raise ApiError(501, "NotImplemented", "this API server signs no service "
                               "account tokens (--service-account-signing-key-file)")
            return _json(await self._run(request_token, objects, self.token_signer,
                                         t.namespace, t.name, body, self._user(request)), 201)
        return _json(await self._run(objects.create, t.rt, t.namespace, body,
                                     _field_manager(request)), 201)

    def _evict(self, request: web.Request, t: Target, body: Any) -> Any:
        """pods/NAME/eviction: the Eviction's deleteOptions are the pod's deletion's."""
        if not isinstance(body, dict) or body.get("kind") not in (None, "Eviction"):
            raise bad_request("the body of pods/eviction is a policy/v1 Eviction")
        unknown = set(body) - {"apiVersion", "kind", "metadata", "deleteOptions"}
        if unknown:
            raise bad_request(f"Eviction: unknown field {sorted(unknown)[0]!r}")
        named = (body.get("metadata") or {}).get("name")
        if named and named != t.name:
            raise bad_request(f"the Eviction names pod {named!r}, the path {t.name!r}")
        o = _delete_options(body.get("deleteOptions"), request)
        objects = self._objects_for(request, o.dry_run)
        return evict(objects, t.namespace or "", t.name or "", lambda view: view.delete(
            t.rt, t.namespace, t.name or "", o.resource_version, o.grace, o.policy, o.uid))

    async def _do_update(self, request: web.Request, t: Target) -> web.Response:
        body = await self._body(request)
        objects = self._objects_for(request)
        manager = _field_manager(request)
        if t.subresource == "scale":
            return _json(await self._run(objects.update_scale, t.rt, t.namespace, t.name, body,
                                         manager))
        return _json(await self._run(objects.update, t.rt, t.namespace, t.name, body,
                                     t.subresource, manager))

    async def _do_patch(self, request: web.Request, t: Target) -> web.Response:
        content_type = request.headers.get("Content-Type", "").split(";")[0].strip()
        if content_type not in (*PATCH_TYPES, "application/json", APPLY_PATCH,
                                protobuf.MEDIA_TYPE):
            raise ApiError(415, "UnsupportedMediaType", f"the patch type {content_type!r} is "
                           f"not supported: use {', '.join((*PATCH_TYPES, APPLY_PATCH))}")
        body = await self._body(request)
        objects = self._objects_for(request)
        force = parameters.flag(request.query, "force") if "force" in request.query else None
        if content_type == APPLY_PATCH:
            if not request.query.get("fieldManager"):
                raise bad_request("fieldManager: Required value: is required for apply "
                                  "requests")
            if t.subresource == "scale":
                raise ApiError(415, "UnsupportedMediaType", "server-side apply of /scale is "
                               "not implemented: apply the object itself")
            obj, created = await self._run(objects.server_side_apply, t.rt, t.namespace,
                                           t.name, body, _field_manager(request), bool(force),
                                           t.subresource)
            return _json(obj, 201 if created else 200)
        if force is not None:
            raise bad_request("force: Forbidden: may not be specified for non-apply patch")
        apply = patcher(content_type, body, t.rt.merge)
        manager = _field_manager(request)
        if t.subresource == "scale":
            return _json(await self._run(objects.patch_scale, t.rt, t.namespace, t.name, apply,
                                         manager))
        return _json(await self._run(objects.apply_patch, t.rt, t.namespace, t.name, apply,
                                     _pinned_version(body), t.subresource, manager))

    async def _do_delete(self, request: web.Request, t: Target) -> web.Response:
        o = _delete_options(await self._body(request), request)
        objects = self._objects_for(request, o.dry_run)
        return _json(await self._run(objects.delete, t.rt, t.namespace, t.name,
                                     o.resource_version, o.grace, o.policy, o.uid))

    async def _do_deletecollection(self, request: web.Request, t: Target) -> web.Response:
        o = _delete_options(await self._body(request), request)
        if o.resource_version or o.uid:
            raise bad_request("preconditions are for one object, not a collection")
        policy, grace = o.policy, o.grace
        objects = self._objects_for(request, o.dry_run)

        def delete_all() -> list[dict[str, Any]]:
            items, _ = objects.list(t.rt, t.namespace, request.query.get("labelSelector"),
                                    request.query.get("fieldSelector"))
            deleted = []
            for obj in items:
                try:
                    deleted.append(objects.delete(t.rt, obj["metadata"].get("namespace"),
                                                       obj["metadata"]["name"],
                                                       grace_period_seconds=grace,
                                                       propagation_policy=policy))
                except ApiError as e:
                    if e.code != 404:
                        raise
            return deleted

        items = await self._run(delete_all)
        return _json({"kind": f"{t.rt.kind}List", "apiVersion": t.rt.api_version,
                      "metadata": {}, "items": items})

    async def _do_watch(self, request: web.Request, t: Target) -> web.StreamResponse:
        q = request.query
        try:
            predicate = selects(q.get("labelSelector"), q.get("fieldSelector"),
                                t.rt.selectable_fields)
            timeout = float(q.get("timeoutSeconds", DEFAULT_WATCH_TIMEOUT))
            timeout = min(timeout, parameters.request_timeout(q) or timeout)
        except (SelectorError, ValueError) as e:
            raise bad_request(str(e)) from None
        bookmarks = q.get("allowWatchBookmarks") in ("1", "true")
        initial, initial_end = parameters.watch_start(q)
        as_table = wants_table(request.headers.get("Accept", ""))
        include = _include_object(request) if as_table else "Object"
        tables_sent = 0

        async def send(kind: str, obj: dict[str, Any]) -> None:
            """One event; as a Table of one row when the client asked for Tables (the
            column definitions on the first only, as Kubernetes sends them)."""
            nonlocal tables_sent
            if as_table:
                shown = table(t.rt, [obj], self.objects.clock(), {"resourceVersion": obj["metadata"].get(
                    "resourceVersion", "")}, include)
                if tables_sent:
                    shown["columnDefinitions"] = []
                tables_sent += 1
                obj = shown
            await _write_event(response, kind, obj)

        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[WatchEvent | StoreError | None] = asyncio.Queue()

        def deliver(event: WatchEvent | StoreError) -> None:  # on the etcd watch thread
            loop.call_soon_threadsafe(_enqueue, event)

        def _enqueue(event: WatchEvent | StoreError) -> None:
            if queue.qsize() >= WATCH_QUEUE_LIMIT:
                queue.put_nowait(Gone("the watcher fell too far behind; list and watch again"))
            else:
                queue.put_nowait(event)

        stop = None
        response = web.StreamResponse(headers={"Content-Type": JSON,
                                               "Transfer-Encoding": "chunked"})
        current: list[dict[str, Any]] = []
        start: str | int | None = q.get("resourceVersion")
        try:
            if initial:  # the current objects, then every change after them: with no
                # resourceVersion a consistent read (etcd's, as Kubernetes: "most recent"),
                # with "0" or one given whatever the cache holds ("any", not older than it)
                read = self.objects.store.list if not q.get("resourceVersion") \
                    else self.objects.store.cached
                current, revision = await self._run(read, t.rt.resource, t.namespace)
                wanted = parameters.non_negative_int(q, "resourceVersion") \
                    if q.get("resourceVersion") else 0
                if wanted > revision:
                    raise too_large(wanted, revision)
                start = revision
            stop = await self._run(self.objects.store.watch, t.rt.resource, t.namespace,
                                   start, deliver)
        except Gone as e:
            await response.prepare(request)
            error = from_exception(e)
            await _write_event(response, "ERROR", error.status())
            return response
        await response.prepare(request)
        self.metrics.watchers.labels(t.rt.resource).inc()
        deadline = loop.time() + timeout
        try:
            for obj in current:
                if predicate(obj):
                    await send("ADDED", obj)
            if initial_end:
                await _write_event(response, "BOOKMARK", {
                    "kind": t.rt.kind, "apiVersion": t.rt.api_version,
                    "metadata": {"resourceVersion": str(start),
                                 "annotations": {"k8s.io/initial-events-end": "true"}}})
            while True:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    event = await asyncio.wait_for(queue.get(),
                                                   min(remaining, BOOKMARK_INTERVAL))
                except asyncio.TimeoutError:
                    if bookmarks:
                        revision = self.objects.store.cached_revision(t.rt.resource)
                        await _write_event(response, "BOOKMARK", {
                            "kind": t.rt.kind, "apiVersion": t.rt.api_version,
                            "metadata": {"resourceVersion": str(revision)}})
                    continue
                if isinstance(event, StoreError):
                    await _write_event(response, "ERROR", from_exception(event).status())
                    break
                if predicate(event.object):
                    await send(event.type, event.object)
        except ConnectionResetError:
            pass  # the client went away (a cancellation propagates after the cleanup below)
        finally:
            stop()
            self.metrics.watchers.labels(t.rt.resource).dec()
        return response


async def _write_event(response: web.StreamResponse, kind: str, obj: dict[str, Any]) -> None:
    await response.write(json.dumps({"type": kind, "object": obj},
                                    separators=(",", ":")).encode() + b"\n")


# `timeout` (kubectl's discovery client sends 32s) is the request's deadline in Kubernetes;
# these documents are answered from memory at once, so it always holds.
OPENAPI_PARAMETERS = ("timeout",)


@functools.cache
def _openapi_bytes(path: str) -> bytes:
    """An OpenAPI document, serialised once: "" for v2, a group-version's path for v3."""
    document = openapi.v2_document() if not path else openapi.v3_document(path)
    return json.dumps(document, separators=(",", ":")).encode()


KUBERNETES_MINOR = "37"
TABLE_TYPE = "application/json;as=Table;v=v1;g=meta.k8s.io"
STREAMS = ("exec", "attach", "portforward")  # pods/ subresources that are WebSocket streams
STREAM_MESSAGE_LIMIT = 4 * 1024 * 1024


async def _relay(client: web.WebSocketResponse, upstream: aiohttp.ClientWebSocketResponse) -> None:
    """Messages both ways until either side closes, then close the other: what the agent sent
    before it closed (the outcome on the error channel) reaches the client first."""
    async def pump(source: Any, sink: Any) -> None:
        async for msg in source:
            if msg.type == aiohttp.WSMsgType.BINARY:
                await sink.send_bytes(msg.data)
            elif msg.type == aiohttp.WSMsgType.TEXT:
                await sink.send_str(msg.data)

    tasks = [asyncio.ensure_future(pump(client, upstream)),
             asyncio.ensure_future(pump(upstream, client))]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    except (ConnectionError, OSError):
        pass
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await upstream.close()
        await client.close()


def _include_object(request: web.Request) -> str:
    include = request.query.get("includeObject", "Metadata")
    if include not in INCLUDE_OBJECT:
        raise bad_request(f"includeObject {include!r} is not one of {', '.join(INCLUDE_OBJECT)}")
    return include


APPLY_PATCH = "application/apply-patch+yaml"


def _json_noting_duplicates(raw: bytes) -> tuple[Any, list[str]]:
    """The JSON body, and the paths of keys it gives twice (the last one counts, as in Go's
    decoder; fieldValidation decides whether that is an error)."""
    seen: list[tuple[int, str]] = []  # (id of the object, key) given twice

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in items:
            if key in out:
                seen.append((id(out), key))
            out[key] = value
        return out

    body = json.loads(raw or b"null", object_pairs_hook=pairs)
    if not seen:
        return body, []
    twice = set(seen)
    paths: list[str] = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            paths.extend(f"{path}.{k}".lstrip(".") for k in node if (id(node), k) in twice)
            for key, value in node.items():
                walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{path}[{i}]")

    walk(body, "")
    return body, sorted(set(paths))


def _field_manager(request: web.Request) -> str:
    """Who a write's fields belong to (metadata.managedFields): `fieldManager`, else the
    client's User-Agent up to its first "/" (kubectl/v1.37 → kubectl), as Kubernetes names
    it."""
    given = request.query.get("fieldManager")
    if given is not None:
        if not given or len(given) > 128 or not given.isprintable():
            raise bad_request(f"fieldManager: Invalid value: {given!r}: must be 1 to 128 "
                              "printable characters")
        return given
    return request.headers.get("User-Agent", "").split("/")[0][:128] or "unknown"


def _pinned_version(patch: Any) -> str | None:
    """The resourceVersion a merge or strategic patch names (it must then still be current)."""
    if isinstance(patch, dict):
        version = (patch.get("metadata") or {}).get("resourceVersion")
        return str(version) if version else None
    return None


def _only_parameters(request: web.Request, allowed: tuple[str, ...]) -> None:
    """Refuse, never ignore: a query parameter these endpoints do not take gets 400."""
    unknown = sorted(set(request.query) - set(allowed))
    if unknown:
        raise bad_request(f"unknown query parameter {unknown[0]!r} for {request.path}")


def _pod_path(pod: Object) -> str:
    """The pod as an agent's path names it: namespace, name and UID (a pod made again under
    its name may still have its predecessor's containers on the node)."""
    meta = pod["metadata"]
    return f"{meta['namespace']}/{meta['name']}/{meta['uid']}"


def _json(body: Any, status: int = 200, media: str = JSON) -> web.Response:
    """`body` as compact JSON, labelled `media` (a Table's or aggregated discovery's type has
    parameters: a header, not aiohttp's content_type)."""
    return web.Response(body=json.dumps(body, separators=(",", ":")).encode(), status=status,
                        headers={"Content-Type": media})


DELETE_OPTIONS = {"kind", "apiVersion", "gracePeriodSeconds", "preconditions",
                  "propagationPolicy", "orphanDependents", "dryRun"}


@dataclass(frozen=True)
class DeleteOptions:
    resource_version: str | None
    uid: str | None
    grace: int | None
    policy: str | None
    dry_run: bool = False


def _delete_options(body: Any, request: web.Request) -> DeleteOptions:
    """DeleteOptions from the body and the query (the body's win, as Kubernetes'), every field
    honoured or refused (`dryRun: ["All"]` as the query's dryRun=All)."""
    options = body or {}
    if not isinstance(options, dict):
        raise bad_request("DeleteOptions must be a JSON object")
    for name in options:
        if name not in DELETE_OPTIONS:
            raise bad_request(f"DeleteOptions: unknown field {name!r}")
    dry_run = options.get("dryRun") or []
    if not isinstance(dry_run, list):
        raise bad_request("DeleteOptions.dryRun must be a list (of 'All')")
    for value in dry_run:
        parameters.dry_run_value(value)
    preconditions = options.get("preconditions") or {}
    if not isinstance(preconditions, dict) or set(preconditions) - {"resourceVersion", "uid"}:
        raise bad_request("DeleteOptions.preconditions takes resourceVersion and uid")
    grace = options.get("gracePeriodSeconds", request.query.get("gracePeriodSeconds"))
    try:
        grace = int(grace) if grace is not None else None
    except (TypeError, ValueError):
        raise bad_request(f"gracePeriodSeconds {grace!r} is not an integer") from None
    return DeleteOptions(preconditions.get("resourceVersion"), preconditions.get("uid"), grace,
                         _propagation(options, request), bool(dry_run))


def _propagation(options: dict[str, Any], request: web.Request) -> str | None:
    """DeleteOptions.propagationPolicy (body or query), or the legacy orphanDependents."""
    policy = options.get("propagationPolicy", request.query.get("propagationPolicy"))
    orphan = options.get("orphanDependents", request.query.get("orphanDependents"))
    if policy is None and orphan in (True, "true"):
        policy = "Orphan"
    if policy not in (None, "Orphan", "Background", "Foreground"):
        raise bad_request(f"propagationPolicy {policy!r} is not one of Orphan, Background, "
                          "Foreground")
    return policy
