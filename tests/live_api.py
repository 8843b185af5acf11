"""An API server over real HTTPS on loopback, on the test etcd, in a thread of the test process
(no controllers, no scheduler, no agents): for tests of the API itself and of orchctl."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading

import requests

from orchestrator.api.auth import TokenAuthenticator
from orchestrator.api.objects import Objects
from orchestrator.api.server import ApiServer
from orchestrator.api.tokens import TokenSigner, TokenVerifier
from orchestrator.pki import init_pki
from orchestrator.store import Etcd, Store


class LiveServer:
    def __init__(self, etcd_url, pki_dir):
        self.paths = init_pki(pki_dir, [], ["host1", "host2"])
        self.tokens = {name: self.paths[f"{name}.token"].read_text().strip()
                       for name in ("admin", "readonly", "node-host1", "node-host2")}
        self.store = Store(Etcd([etcd_url]))
        objects = Objects(self.store)
        objects.ensure_system_namespaces()
        self.server = ApiServer(
            objects, TokenAuthenticator.from_file(self.paths["tokens.json"]),
            token_signer=TokenSigner(self.paths["service-account.key"]),
            token_verifier=TokenVerifier(self.paths["service-account.pub"]))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"https://127.0.0.1:{self.port}"
        self.loop = asyncio.new_event_loop()
        started = threading.Event()
        threading.Thread(target=self._run, args=(started,), daemon=True).start()
        assert started.wait(10)

    def _run(self, started):
        from aiohttp import web
        asyncio.set_event_loop(self.loop)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.paths["apiserver.crt"], self.paths["apiserver.key"])
        self.runner = web.AppRunner(self.server.app(), handler_cancellation=True)
        self.loop.run_until_complete(self.runner.setup())
        self.loop.run_until_complete(web.TCPSite(self.runner, "127.0.0.1", self.port,
                                                 ssl_context=context).start())
        started.set()
        self.loop.run_forever()

    def session(self, who="admin"):
        s = requests.Session()
        s.trust_env = False  # else $REQUESTS_CA_BUNDLE overrides verify, and proxies apply
        s.verify = str(self.paths["ca.crt"])
        if who:
            s.headers["Authorization"] = f"Bearer {self.tokens.get(who, who)}"
        return s

    def stop(self):
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.store.close()
        self.store.etcd.close()
