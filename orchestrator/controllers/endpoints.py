"""Endpoints controller: for each Service with a selector, an Endpoints object of the same name
listing the matching pods' IPs, ready ones in `addresses` and the others in
`notReadyAddresses`, with the Service's ports resolved per pod (a named targetPort is looked up
in the pod's container ports; a pod without it is left out of that port's subset). A Service
without a selector keeps the Endpoints its user writes."""

from __future__ import annotations

from typing import Any

from kube.conditions import pod_is_ready
from kube.objects import Object
from kube.registry import by_kind
from kube.selectors import map_selector_matches
from orchestrator.api.status import ApiError
from orchestrator.controllers.base import Controller, Keys, object_key
from orchestrator.store.watchcache import WatchEvent

SVC, EP = by_kind("v1", "Service"), by_kind("v1", "Endpoints")


def resolve_target_port(port: Object, pod: Object) -> int | None:
    target = port.get("targetPort", port["port"])
    if isinstance(target, int):
        return target
    if str(target).isdigit():
        return int(str(target))
    for container in pod["spec"]["containers"]:
        for p in container.get("ports") or []:
            if p.get("name") == target and p.get("protocol", "TCP") == port.get("protocol", "TCP"):
                return int(p["containerPort"])
    return None


def subsets_for(service: Object, pods: list[Object]) -> list[Object]:
    """Pure: the Endpoints subsets of `service` given the namespace's pods, in a stable order."""
    selector = service["spec"].get("selector") or {}
    groups: dict[tuple[tuple[Any, int, Any], ...], dict[str, list[Object]]] = {}
    for pod in sorted(pods, key=lambda p: p["metadata"]["name"]):
        labels = pod["metadata"].get("labels") or {}
        ip = (pod.get("status") or {}).get("podIP")
        if not ip or pod["metadata"].get("deletionTimestamp") or \
                not map_selector_matches(selector, labels) or \
                (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        ports: list[tuple[Any, int, Any]] = []
        for port in service["spec"]["ports"]:
            number = resolve_target_port(port, pod)
            if number is not None:
                ports.append((port.get("name"), number, port.get("protocol", "TCP")))
        if not ports:
            continue
        group = groups.setdefault(tuple(ports), {"addresses": [], "notReadyAddresses": []})
        address = {"ip": ip, "nodeName": pod["spec"].get("nodeName"),
                   "targetRef": {"kind": "Pod", "namespace": pod["metadata"]["namespace"],
                                 "name": pod["metadata"]["name"], "uid": pod["metadata"]["uid"]}}
        group["addresses" if pod_is_ready(pod) else "notReadyAddresses"].append(address)
    subsets = []
    for port_key, group in sorted(groups.items()):
        subset: Object = {"ports": [{**({"name": n} if n else {}), "port": p, "protocol": proto}
                                    for n, p, proto in port_key]}
        for field in ("addresses", "notReadyAddresses"):
            if group[field]:
                subset[field] = group[field]
        subsets.append(subset)
    return subsets


class EndpointsController(Controller):
    name = "endpoints"

    def triggers(self) -> dict[str, Keys]:
        def from_pod(event: WatchEvent) -> list[str]:
            ns = event.object["metadata"]["namespace"]
            services, _ = self.store.cached("services", ns)
            return [object_key(s) for s in services if s["spec"].get("selector")]
        return {"services": lambda e: [object_key(e.object)], "pods": from_pod}

    def all_keys(self) -> list[str]:
        return [object_key(s) for s in self.store.cached("services")[0]]

    def sync(self, key: str) -> None:
        namespace, name = key.split("/", 1)
        try:
            service = self.objects.get(SVC, namespace, name)
        except ApiError as e:
            if e.code != 404:
                raise
            self._delete_endpoints(namespace, name)
            return
        if not service["spec"].get("selector"):
            return
        pods, _ = self.store.list("pods", namespace)
        subsets = subsets_for(service, pods)
        try:
            current = self.objects.get(EP, namespace, name)
        except ApiError as e:
            if e.code != 404:
                raise
            self.objects.create(EP, namespace, {
                "apiVersion": "v1", "kind": "Endpoints",
                "metadata": {"name": name, "labels": service["metadata"].get("labels") or {}},
                "subsets": subsets})
            return
        if (current.get("subsets") or []) != subsets:
            self.objects.update(EP, namespace, name, {**current, "subsets": subsets})

    def _delete_endpoints(self, namespace: str, name: str) -> None:
        try:
            self.objects.delete(EP, namespace, name)
        except ApiError as e:
            if e.code != 404:
                raise
