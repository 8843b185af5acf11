"""Endpoints controller: for each Service with a selector, an Endpoints object of the same name
listing the matching pods' IPs, ready ones in `addresses` and the others in
`notReadyAddresses` (all in `addresses` with publishNotReadyAddresses; an address carries the
pod's hostname when the pod's subdomain is the Service), with the Service's ports resolved per
pod (a named targetPort is looked up in the pod's container ports; a pod without it is left out
of that port's subset). A Service
without a selector keeps the Endpoints its user writes."""

from __future__ import annotations

from kube.conditions import ready
from kube.kinds.pod import Pod
from kube.kinds.service import Service, ServicePort
from kube.objects import Object
from kube.registry import by_kind
from kube.selectors import map_selector_matches
from kube.typed import typed, typed_all
from orchestrator.api.status import ApiError
from orchestrator.controllers.base import Controller, Keys, object_key
from orchestrator.store.watchcache import WatchEvent

SVC, EP = by_kind("v1", "Service"), by_kind("v1", "Endpoints")

PortKey = tuple[str | None, int, str]  # an endpoint port: name, number, protocol


def resolve_target_port(port: ServicePort, pod: Pod) -> int | None:
    target = port.target_port if port.target_port is not None else port.port
    if isinstance(target, int):
        return target
    if target.isdigit():
        return int(target)
    for container in pod.spec.containers:
        for p in container.ports or ():
            if p.name == target and p.protocol == port.protocol:
                return p.container_port
    return None


def subsets_for(service: Service, pods: list[Pod]) -> list[Object]:
    """Pure: the Endpoints subsets (JSON, as written) of `service` given the namespace's pods,
    in a stable order."""
    selector = service.spec.selector or {}
    groups: dict[tuple[PortKey, ...], dict[str, list[Object]]] = {}
    for pod in sorted(pods, key=lambda p: p.metadata.name or ""):
        ip = pod.status.pod_ip
        if not ip or pod.metadata.deletion_timestamp or \
                not map_selector_matches(selector, pod.metadata.labels) or \
                pod.status.phase in ("Succeeded", "Failed"):
            continue
        ports: list[PortKey] = []
        for port in service.spec.ports:
            number = resolve_target_port(port, pod)
            if number is not None:
                ports.append((port.name, number, port.protocol))
        if not ports:
            continue
        group = groups.setdefault(tuple(ports), {"addresses": [], "notReadyAddresses": []})
        address: Object = {"ip": ip, "nodeName": pod.spec.node_name,
                           "targetRef": {"kind": "Pod", "namespace": pod.metadata.namespace,
                                         "name": pod.metadata.name, "uid": pod.metadata.uid}}
        if pod.spec.hostname and pod.spec.subdomain == service.metadata.name:
            # Kubernetes' rule: the pod names this service as its subdomain, so its hostname
            # is a DNS name under it (<hostname>.<service>.<ns>.svc)
            address = {"ip": ip, "hostname": pod.spec.hostname,
                       **{k: v for k, v in address.items() if k != "ip"}}
        published = ready(pod.status.conditions) or service.spec.publish_not_ready_addresses
        group["addresses" if published else "notReadyAddresses"].append(address)
    subsets = []
    for port_key, group in sorted(groups.items(), key=lambda g: [(n or "", p, proto)
                                                                 for n, p, proto in g[0]]):
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
            service = typed(Service, self.objects.get(SVC, namespace, name))
        except ApiError as e:
            if e.code != 404:
                raise
            self._delete_endpoints(namespace, name)
            return
        if not service.spec.selector or service.spec.type == "ExternalName":
            return
        subsets = subsets_for(service, typed_all(Pod, self.store.list("pods", namespace)[0]))
        try:
            current = self.objects.get(EP, namespace, name)
        except ApiError as e:
            if e.code != 404:
                raise
            self.objects.create(EP, namespace, {
                "apiVersion": "v1", "kind": "Endpoints",
                "metadata": {"name": name, "labels": service.metadata.labels or {}},
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
