"""Service account controller and root CA publisher, as Kubernetes' two controllers: every
namespace that is not terminating has a `default` ServiceAccount and the ConfigMap
`kube-root-ca.crt` holding the cluster's CA (`ca.crt`), which pods' projected token volumes
read to trust the API server."""

from __future__ import annotations

from kube.registry import by_kind
from orchestrator.api.admission import ROOT_CA_CONFIGMAP, root_ca_configmap
from orchestrator.api.objects import Objects
from orchestrator.api.status import ApiError
from orchestrator.controllers.base import Controller, Keys
from orchestrator.store.watchcache import WatchEvent

NAMESPACE, CM = by_kind("v1", "Namespace"), by_kind("v1", "ConfigMap")


class ServiceAccountsController(Controller):
    name = "serviceaccount"

    def __init__(self, objects: Objects, root_ca: str | None) -> None:
        """`root_ca`: the cluster CA's PEM (None: no ConfigMap is published)."""
        super().__init__(objects)
        self.root_ca = root_ca

    def triggers(self) -> dict[str, Keys]:
        def namespace_of(name: str) -> Keys:
            def keys(event: WatchEvent) -> list[str]:
                meta = event.object["metadata"]
                return [meta.get("namespace") or ""] if meta.get("name") == name else []
            return keys
        return {"namespaces": lambda e: [e.object["metadata"]["name"]],
                "serviceaccounts": namespace_of("default"),
                "configmaps": namespace_of(ROOT_CA_CONFIGMAP)}

    def all_keys(self) -> list[str]:
        return [n["metadata"]["name"] for n in self.store.cached("namespaces")[0]]

    def sync(self, key: str) -> None:
        namespace = self.get_or_none(NAMESPACE, None, key)
        if namespace is None:
            return
        if (namespace.get("status") or {}).get("phase") == "Terminating":
            return
        # the watch caches say what is there already: most syncs (every ConfigMap's change
        # wakes its namespace's) write nothing
        accounts, _ = self.store.cached("serviceaccounts", key)
        if not any(a["metadata"]["name"] == "default" for a in accounts):
            self.objects.ensure_default_service_account(key)
        if self.root_ca is not None:
            self._publish(key)

    def _publish(self, namespace: str) -> None:
        assert self.root_ca is not None
        maps, _ = self.store.cached("configmaps", namespace)
        current = next((m for m in maps if m["metadata"]["name"] == ROOT_CA_CONFIGMAP), None)
        if current is None:
            try:
                self.objects.create(CM, namespace, root_ca_configmap(namespace, self.root_ca))
            except ApiError as e:
                if e.code not in (403, 409):
                    raise
            return
        if current.get("data") != {"ca.crt": self.root_ca}:
            self.objects.update(CM, namespace, ROOT_CA_CONFIGMAP,
                                {**current, "data": {"ca.crt": self.root_ca}})
