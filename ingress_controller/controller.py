"""The ingress controller (I/O): informers on Ingresses, IngressClasses, Services, Endpoints and
Secrets; on any change, the configuration rebuilt (model.build, nginx.render) and, when it
differs, handed to nginx: written beside the live one, checked with `nginx -t`, and only then
moved in and reloaded (SIGHUP: nginx starts new workers on the new configuration and lets the
old ones finish the requests they hold; the listening sockets never close, so no request is
refused or dropped). A configuration nginx rejects is never loaded: the last good one keeps
serving, and the Ingresses get a Warning Event saying why. The switch is gradual, as nginx
does it: for a moment after the new workers start (100 ms, more on a busy node) the old ones
still take connections, so a host just added may answer 404 again right after its first
answer. nginx is reloaded only once it has written its pid file (its signal handlers are set
by then: an earlier SIGHUP would end it), and the certificates the first configuration names
are written before it starts.

Ingresses are ours when their class (spec.ingressClassName, or the default class the API gave
them, or the deprecated kubernetes.io/ingress.class annotation) names this controller
(IngressClass spec.controller). One replica of the controller at a
time (a Lease) writes each Ingress's status.loadBalancer: the addresses of the Service that
publishes the controller (--publish-service, a LoadBalancer Service), as ingress-nginx does.
"""

from __future__ import annotations

import logging
import os
import signal
import ssl
import subprocess
import threading
import time
from pathlib import Path

from ingress_controller import model, nginx
from kube.client import ApiError, Client
from kube.events import ClientSink, EventRecorder
from kube.informer import Informer
from kube.kinds.endpoints import Endpoints
from kube.kinds.ingress import Ingress
from kube.kinds.secret import Secret
from kube.kinds.service import Service
from kube.leaderelection import Elector
from kube.objects import Object
from kube.typed import typed_all

log = logging.getLogger(__name__)

RESOURCES = ("ingresses", "ingressclasses", "services", "endpoints", "secrets")


class Nginx:
    """The nginx master process this controller runs, and its configuration files."""

    def __init__(self, binary: str, conf_dir: Path) -> None:
        self.binary, self.conf_dir = binary, conf_dir
        self.conf = conf_dir / "nginx.conf"
        self.cert_dir = conf_dir / "certs"
        self.pid_file = conf_dir / "nginx.pid"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, text: str, timeout: float = 30.0) -> None:
        """Start nginx on `text` and return once it can be reloaded. nginx writes its pid file
        only after it has set up its signal handlers; a SIGHUP before that would kill it (the
        default action), so a reload must wait for the file to name the process."""
        self.cert_dir.mkdir(parents=True, exist_ok=True)
        self.conf.write_text(text)
        self.pid_file.unlink(missing_ok=True)
        self.process = subprocess.Popen([self.binary, "-c", str(self.conf), "-g",
                                         "daemon off;"])
        deadline = time.monotonic() + timeout
        while not self._pid_written():
            if self.process.poll() is not None:
                raise SystemExit(f"nginx exited at start (status {self.process.returncode})")
            if time.monotonic() > deadline:
                self.process.kill()
                raise SystemExit(f"nginx wrote no pid file in {timeout:.0f} s")
            time.sleep(0.02)

    def _pid_written(self) -> bool:
        assert self.process is not None
        try:
            return self.pid_file.read_text().strip() == str(self.process.pid)
        except OSError:
            return False

    def stop(self, grace: float = 25.0) -> None:
        """Graceful: nginx stops accepting, finishes the requests it holds (SIGQUIT)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGQUIT)
        try:
            self.process.wait(grace)
        except subprocess.TimeoutExpired:
            self.process.kill()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def write_certificates(self, certificates: dict[str, bytes]) -> None:
        """Each certificate as the file the configuration names (replaced atomically)."""
        self.cert_dir.mkdir(parents=True, exist_ok=True)
        for name, pem in certificates.items():
            path = self.cert_dir / f"{name}.pem"
            if not path.exists() or path.read_bytes() != pem:
                tmp = path.with_suffix(".tmp")
                tmp.write_bytes(pem)
                tmp.chmod(0o600)
                tmp.rename(path)

    def apply(self, text: str, certificates: dict[str, bytes]) -> str | None:
        """Load `text` (with these certificates) if nginx accepts it: None, or why not."""
        self.write_certificates(certificates)
        candidate = self.conf_dir / "nginx.conf.new"
        candidate.write_text(text)
        checked = subprocess.run([self.binary, "-t", "-q", "-c", str(candidate)],
                                 capture_output=True, text=True)
        if checked.returncode != 0:
            return (checked.stderr.strip() or checked.stdout.strip())[-2000:]
        candidate.rename(self.conf)
        assert self.process is not None
        self.process.send_signal(signal.SIGHUP)
        wanted = {f"{name}.pem" for name in certificates}
        for old in self.cert_dir.glob("*.pem"):
            if old.name not in wanted:
                old.unlink(missing_ok=True)  # the new workers no longer read it
        return None


class IngressController:
    def __init__(self, client: Client, controller_name: str, nginx_: Nginx,
                 publish_service: str | None, namespace: str, identity: str,
                 min_interval: float = 0.2, resync: float = 30.0) -> None:
        self.client, self.controller_name, self.nginx = client, controller_name, nginx_
        self.publish_service = publish_service
        self.informers = {r: Informer(client, r) for r in RESOURCES}
        self.dirty = threading.Event()
        self.stopping = threading.Event()
        self.min_interval, self.resync = min_interval, resync
        self.events = EventRecorder(ClientSink(client), "ingress-controller")
        self.elector = Elector(client, namespace, "ingress-controller-leader", identity)
        self.applied: str | None = None
        self.applied_hosts: set[str] = set()  # the hosts of the configuration nginx serves
        self.reported: dict[str, tuple[str, ...]] = {}  # Ingress → problems already told
        self._checked: dict[str, tuple[str, str | None]] = {}  # Secret → (version, problem)
        for informer in self.informers.values():
            informer.add_handler(on_add=lambda _o: self.dirty.set(),
                                 on_update=lambda _o, _n: self.dirty.set(),
                                 on_delete=lambda _o: self.dirty.set())

    # --- what is ours ---

    def our_classes(self) -> set[str]:
        return {c["metadata"]["name"] for c in self.informers["ingressclasses"].list()
                if (c.get("spec") or {}).get("controller") == self.controller_name}

    def ingresses(self) -> list[Ingress]:
        classes = self.our_classes()
        return [i for i in typed_all(Ingress, self.informers["ingresses"].list())
                if class_of(i) in classes and i.metadata.deletion_timestamp is None]

    def build(self) -> tuple[model.Config, list[Ingress]]:
        ours = self.ingresses()
        secrets = [s for s in typed_all(Secret, self.informers["secrets"].list())
                   if s.type == "kubernetes.io/tls"]
        unusable = {}
        for secret in secrets:
            why = self.certificate_problem(secret)
            if why is not None:
                unusable[f"{secret.metadata.namespace}/{secret.metadata.name}"] = why
        config = model.build(ours, typed_all(Service, self.informers["services"].list()),
                             typed_all(Endpoints, self.informers["endpoints"].list()), secrets,
                             unusable)
        return config, ours

    def certificate_problem(self, secret: Secret) -> str | None:
        """Why a TLS Secret's certificate and key do not load together (not PEM, a key that is
        not the certificate's), None when they do: tried as nginx will, with OpenSSL (Python's
        ssl), once per version of the Secret, so that one bad Secret never makes nginx refuse
        the whole configuration."""
        version = secret.metadata.resource_version or ""
        cache_key = f"{secret.metadata.namespace}/{secret.metadata.name}"
        cached = self._checked.get(cache_key)
        if cached is not None and cached[0] == version:
            return cached[1]
        self.nginx.conf_dir.mkdir(parents=True, exist_ok=True)
        path = self.nginx.conf_dir / ".certificate-check.pem"
        path.write_bytes(model.pem_of(secret))
        path.chmod(0o600)
        why: str | None = None
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(str(path))
        except (ssl.SSLError, OSError) as e:
            why = e.reason if isinstance(e, ssl.SSLError) and e.reason else str(e)
        finally:
            path.unlink(missing_ok=True)
        self._checked[cache_key] = (version, why)
        return why

    # --- the loop ---

    def run(self) -> None:
        for informer in self.informers.values():
            informer.start()
        for informer in self.informers.values():
            while not informer.wait_for_sync(1):
                if self.stopping.is_set():
                    return
        config, _ = self.build()
        text = nginx.render(config, str(self.nginx.cert_dir), str(self.nginx.pid_file))
        self.nginx.write_certificates(config.certificates)
        self.nginx.start(text)
        self.applied = text  # the first sync reloads only if something changed meanwhile
        self.applied_hosts = config.hosts()
        log.info("nginx started (%d servers, %d upstreams)", len(config.servers),
                 len(config.upstreams))
        last_status = 0.0
        while not self.stopping.is_set():
            self.dirty.wait(self.resync)
            self.dirty.clear()
            if not self.nginx.alive():
                raise SystemExit("nginx exited")
            try:
                self.sync()
                if time.monotonic() - last_status > 2 and self.elector.round():
                    self.write_status()
                    last_status = time.monotonic()
            except ApiError as e:
                log.warning("ingress sync: %s", e)
            self.stopping.wait(self.min_interval)
        self.nginx.stop()

    def stop(self) -> None:
        """From a signal handler: the loop ends, then nginx finishes what it holds."""
        self.stopping.set()
        self.dirty.set()

    def sync(self) -> None:
        config, ours = self.build()
        text = nginx.render(config, str(self.nginx.cert_dir), str(self.nginx.pid_file))
        if text != self.applied:
            started = time.monotonic()
            refused = self.nginx.apply(text, config.certificates)
            if refused is not None:
                log.warning("nginx refused the new configuration: %s", refused)
                for ingress in ours:
                    self.events.warning(_ref(ingress), "RELOAD", "nginx refused the "
                                        f"configuration (the last good one serves): {refused}")
            else:
                hosts = config.hosts()
                self.applied = text
                log.info("configuration reloaded in %.3f s (%d servers, %d upstreams)%s",
                         time.monotonic() - started, len(config.servers), len(config.upstreams),
                         _hosts_changed(self.applied_hosts, hosts))
                self.applied_hosts = hosts
                for ingress in ours:
                    self.events.normal(_ref(ingress), "Sync", "Scheduled for sync")
        for ingress in ours:
            problems = tuple(config.problems.get(model.key(ingress), ()))
            if problems and self.reported.get(model.key(ingress)) != problems:
                for message in problems:
                    self.events.warning(_ref(ingress), "Invalid", message)
            self.reported[model.key(ingress)] = problems

    def write_status(self) -> None:
        addresses = self.published_addresses()
        for ingress in self.ingresses():
            current = ((ingress.status.load_balancer.ingress if ingress.status and
                        ingress.status.load_balancer else None) or [])
            if [i.to_dict() for i in current] == addresses:
                continue
            obj = self.informers["ingresses"].get(ingress.metadata.namespace,
                                                  ingress.metadata.name or "")
            if obj is None:
                continue
            try:
                self.client.update("ingresses", {**obj, "status": {"loadBalancer": {
                    "ingress": addresses} if addresses else {}}}, subresource="status")
            except ApiError as e:
                log.info("status of %s: %s", model.key(ingress), e)

    def published_addresses(self) -> list[Object]:
        if not self.publish_service:
            return []
        namespace, _, name = self.publish_service.partition("/")
        service = self.informers["services"].get(namespace, name)
        ingress = (((service or {}).get("status") or {}).get("loadBalancer") or {}).get(
            "ingress") or []
        return [{k: v for k, v in i.items() if k in ("ip", "hostname")} for i in ingress]


LEGACY_CLASS_ANNOTATION = "kubernetes.io/ingress.class"


def class_of(ingress: Ingress) -> str | None:
    """The Ingress's class: spec.ingressClassName, else the deprecated annotation that
    manifests written before IngressClass still carry (ingress-nginx honours it too)."""
    return ingress.spec.ingress_class_name or \
        (ingress.metadata.annotations or {}).get(LEGACY_CLASS_ANNOTATION)


def _hosts_changed(before: set[str], after: set[str]) -> str:
    """For the reload's log line: the hosts it starts or stops serving."""
    added, removed = sorted(after - before), sorted(before - after)
    return "".join((f"; hosts added: {', '.join(added)}" if added else "",
                    f"; hosts removed: {', '.join(removed)}" if removed else ""))


def _ref(ingress: Ingress) -> Object:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {
        "namespace": ingress.metadata.namespace, "name": ingress.metadata.name,
        "uid": ingress.metadata.uid}}


def pod_identity() -> str:
    return os.environ.get("POD_NAME") or os.uname().nodename
