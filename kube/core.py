"""core/v1 kinds: Namespace, Pod, Service, Endpoints, Node, ConfigMap, Secret, Event.

Defaults are filled as Kubernetes fills them (and are stored, as Kubernetes stores them).
Cross-field rules (unique names, mounts naming volumes, one probe handler, requests <= limits)
are model validators; rules that need other objects (ports free, IPs in range) live in the
allocators.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Literal

from typing import Annotated

from pydantic import AfterValidator, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from kube import names
from kube.meta import (NOT_IMPLEMENTED, Condition, Dns1123Label, EnvVarName,
                                   IntOrString, Model, ObjectMeta, ObjectReference, Port, PortName,
                                   Timestamp, refused)
from kube.quantity import QuantityError, parse_quantity

Protocol = Literal["TCP", "UDP"]


def _unique(items, attr: str, what: str):
    seen = set()
    for item in items or []:
        value = getattr(item, attr)
        if value is None:
            continue
        if value in seen:
            raise ValueError(f"duplicate {what} {value!r}")
        seen.add(value)
    return items


# --- Pod ------------------------------------------------------------------------------------


class ContainerPort(Model):
    name: PortName | None = None
    container_port: Port
    protocol: Protocol = "TCP"
    # Binding a host port on the node is [apps] work; the scheduler's NodePorts filter is
    # ready for it.
    host_port: Annotated[Port | None, refused("hostPort")] = None


class KeySelector(Model):
    name: str
    key: str
    optional: bool | None = None


# The pod fields an env var may take (Kubernetes' list for env; the whole labels and
# annotations maps are for downwardAPI volumes only), and one label or annotation by key.
ENV_FIELD_PATHS = ("metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName",
                   "status.podIP", "status.podIPs", "status.hostIP", "status.hostIPs")
SUBSCRIPTED_FIELD_PATH = re.compile(r"^metadata\.(labels|annotations)\['([^'\]]+)'\]$")


class FieldSelector(Model):
    field_path: str
    api_version: Literal["v1"] | None = None

    @field_validator("field_path")
    @classmethod
    def _supported(cls, path: str) -> str:
        if path in ENV_FIELD_PATHS:
            return path
        match = SUBSCRIPTED_FIELD_PATH.match(path)
        if match and not names.qualified_name(match.group(2)):
            return path
        raise ValueError(f"Unsupported value: {path!r}: supported values: "
                         f"{', '.join(map(repr, ENV_FIELD_PATHS))}, "
                         "\"metadata.labels['<KEY>']\", \"metadata.annotations['<KEY>']\"")


class EnvVarSource(Model):
    config_map_key_ref: KeySelector | None = None
    secret_key_ref: KeySelector | None = None
    field_ref: FieldSelector | None = None

    @model_validator(mode="after")
    def _exactly_one(self):
        if sum(x is not None for x in (self.config_map_key_ref, self.secret_key_ref,
                                        self.field_ref)) != 1:
            raise ValueError("exactly one of configMapKeyRef, secretKeyRef, fieldRef is required")
        return self


class EnvVar(Model):
    name: EnvVarName
    value: str | None = None
    value_from: EnvVarSource | None = None

    @model_validator(mode="after")
    def _not_both(self):
        if self.value is not None and self.value_from is not None:
            raise ValueError("value and valueFrom may not both be specified")
        return self


ResourceList = dict[Literal["cpu", "memory"], str | int | float]


class ResourceRequirements(Model):
    requests: ResourceList | None = None
    limits: ResourceList | None = None

    @model_validator(mode="after")
    def _quantities(self):
        parsed = {}
        for which in ("requests", "limits"):
            for resource, value in (getattr(self, which) or {}).items():
                try:
                    quantity = parse_quantity(value)
                except QuantityError as e:
                    raise ValueError(f"{which}.{resource}: {e}") from None
                if quantity < 0:
                    raise ValueError(f"{which}.{resource}: must be non-negative")
                parsed[(which, resource)] = quantity
        for resource in ("cpu", "memory"):
            request, limit = parsed.get(("requests", resource)), parsed.get(("limits", resource))
            if request is not None and limit is not None and request > limit:
                raise ValueError(f"requests.{resource} must be less than or equal to "
                                 f"limits.{resource}")
        # Kubernetes: a limit without a request makes the request equal to the limit.
        if self.limits:
            self.requests = {**{k: v for k, v in self.limits.items()}, **(self.requests or {})}
        return self


class HTTPHeader(Model):
    name: str
    value: str


class HTTPGetAction(Model):
    path: str = "/"
    port: IntOrString
    host: str | None = None
    scheme: Literal["HTTP"] = "HTTP"
    http_headers: list[HTTPHeader] | None = None


class TCPSocketAction(Model):
    port: IntOrString
    host: str | None = None


class ExecAction(Model):
    command: list[str] = Field(min_length=1)


class Probe(Model):
    http_get: HTTPGetAction | None = None
    tcp_socket: TCPSocketAction | None = None
    exec: ExecAction | None = None
    initial_delay_seconds: int = Field(0, ge=0)
    period_seconds: int = Field(10, ge=1)
    timeout_seconds: int = Field(1, ge=1)
    success_threshold: int = Field(1, ge=1)
    failure_threshold: int = Field(3, ge=1)

    @model_validator(mode="after")
    def _one_handler(self):
        if sum(x is not None for x in (self.http_get, self.tcp_socket, self.exec)) != 1:
            raise ValueError("exactly one of httpGet, tcpSocket, exec is required")
        return self


class VolumeMount(Model):
    name: str
    mount_path: str = Field(min_length=1)
    read_only: bool | None = None
    sub_path: str | None = None


class Container(Model):
    name: Dns1123Label
    image: str = Field(min_length=1)
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] | None = None
    command: list[str] | None = None
    args: list[str] | None = None
    working_dir: str | None = None
    ports: list[ContainerPort] | None = None
    env: list[EnvVar] | None = None
    resources: ResourceRequirements | None = None
    volume_mounts: list[VolumeMount] | None = None
    liveness_probe: Probe | None = None
    readiness_probe: Probe | None = None
    termination_message_path: Annotated[str | None, refused("terminationMessagePath")] = None
    termination_message_policy: Annotated[
        Literal["File", "FallbackToLogsOnError"] | None,
        refused("terminationMessagePolicy")] = None

    @model_validator(mode="after")
    def _defaults(self):
        if self.image_pull_policy is None:
            # Kubernetes: Always for ":latest" or no tag, else IfNotPresent.
            last = self.image.rsplit("/", 1)[-1]
            tag = last.split("@")[0].partition(":")[2]
            self.image_pull_policy = "Always" if "@" not in last and tag in ("", "latest") \
                else "IfNotPresent"
        _unique(self.ports, "name", "port name")
        return self


class KeyToPath(Model):
    key: str
    path: str
    mode: int | None = None


class EmptyDirVolumeSource(Model):
    # A directory on the node's disk; tmpfs (Memory) and a size limit with eviction are [apps]
    # work.
    medium: Annotated[Literal["", "Memory"] | None, refused('medium "Memory"', ("Memory",))] = None
    size_limit: Annotated[str | None, refused("sizeLimit")] = None


class HostPathVolumeSource(Model):
    path: str = Field(min_length=1)
    type: Literal["", "DirectoryOrCreate", "Directory", "FileOrCreate", "File"] | None = None


class ConfigMapVolumeSource(Model):
    name: str
    items: list[KeyToPath] | None = None
    default_mode: int | None = 0o644
    optional: bool | None = None


class SecretVolumeSource(Model):
    secret_name: str
    items: list[KeyToPath] | None = None
    default_mode: int | None = 0o644
    optional: bool | None = None


class Volume(Model):
    name: Dns1123Label
    empty_dir: EmptyDirVolumeSource | None = None
    host_path: HostPathVolumeSource | None = None
    config_map: ConfigMapVolumeSource | None = None
    secret: SecretVolumeSource | None = None

    @model_validator(mode="after")
    def _one_source(self):
        sources = (self.empty_dir, self.host_path, self.config_map, self.secret)
        if sum(x is not None for x in sources) != 1:
            raise ValueError("exactly one of emptyDir, hostPath, configMap, secret is required")
        return self


class NodeSelectorRequirement(Model):
    key: str
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]
    values: list[str] | None = None


class NodeSelectorTerm(Model):
    match_expressions: list[NodeSelectorRequirement] | None = None


class NodeSelector(Model):
    node_selector_terms: list[NodeSelectorTerm] = Field(min_length=1)


class NodeAffinity(Model):
    required_during_scheduling_ignored_during_execution: NodeSelector | None = None


class Affinity(Model):
    node_affinity: NodeAffinity | None = None


class Toleration(Model):
    key: str | None = None
    operator: Literal["Exists", "Equal"] = "Equal"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = None


class PodSpec(Model):
    containers: list[Container] = Field(min_length=1)
    volumes: list[Volume] | None = None
    restart_policy: Literal["Always", "OnFailure", "Never"] = "Always"
    termination_grace_period_seconds: int = Field(30, ge=0)
    node_selector: dict[str, str] | None = None
    node_name: str | None = None
    hostname: Dns1123Label | None = None
    affinity: Affinity | None = None
    tolerations: list[Toleration] | None = None
    dns_policy: Literal["ClusterFirst", "Default"] = "ClusterFirst"
    enable_service_links: bool = True
    scheduler_name: str = "default-scheduler"

    @model_validator(mode="after")
    def _references(self):
        _unique(self.containers, "name", "container name")
        _unique(self.volumes, "name", "volume name")
        volumes = {v.name for v in self.volumes or []}
        for c in self.containers:
            for m in c.volume_mounts or []:
                if m.name not in volumes:
                    raise ValueError(f"container {c.name!r} mounts volume {m.name!r}, "
                                     "which is not in spec.volumes")
        host_ports = [(p.host_port, p.protocol) for c in self.containers for p in c.ports or []
                      if p.host_port]
        if len(host_ports) != len(set(host_ports)):
            raise ValueError("duplicate hostPort")
        return self


class ContainerStateWaiting(Model):
    reason: str | None = None
    message: str | None = None


class ContainerStateRunning(Model):
    started_at: Timestamp | None = None


class ContainerStateTerminated(Model):
    exit_code: int
    signal: int | None = None
    reason: str | None = None
    message: str | None = None
    started_at: Timestamp | None = None
    finished_at: Timestamp | None = None
    container_id: str | None = Field(None, alias="containerID")


class ContainerState(Model):
    waiting: ContainerStateWaiting | None = None
    running: ContainerStateRunning | None = None
    terminated: ContainerStateTerminated | None = None


class ContainerStatus(Model):
    name: str
    state: ContainerState | None = None
    last_state: ContainerState | None = None
    ready: bool = False
    started: bool | None = None
    restart_count: int = 0
    image: str
    image_id: str = Field("", alias="imageID")
    container_id: str | None = Field(None, alias="containerID")


class PodIP(Model):
    ip: str


class PodStatus(Model):
    phase: Literal["Pending", "Running", "Succeeded", "Failed", "Unknown"] | None = None
    conditions: list[Condition] | None = None
    message: str | None = None
    reason: str | None = None
    host_ip: str | None = Field(None, alias="hostIP")
    pod_ip: str | None = Field(None, alias="podIP")
    pod_ips: list[PodIP] | None = Field(None, alias="podIPs")
    start_time: Timestamp | None = None
    container_statuses: list[ContainerStatus] | None = None
    qos_class: Literal["Guaranteed", "Burstable", "BestEffort"] | None = None


class PodTemplateSpec(Model):
    metadata: ObjectMeta | None = None
    spec: PodSpec


class Pod(Model):
    api_version: Literal["v1"] = "v1"
    kind: Literal["Pod"] = "Pod"
    metadata: ObjectMeta
    spec: PodSpec
    status: PodStatus | None = None


# --- Service, Endpoints -------------------------------------------------------------------


class ServicePort(Model):
    name: PortName | None = None
    protocol: Protocol = "TCP"
    port: Port
    target_port: IntOrString | None = None
    node_port: int | None = None

    @model_validator(mode="after")
    def _defaults(self):
        if self.target_port is None:
            self.target_port = self.port
        if isinstance(self.target_port, int) and not 1 <= self.target_port <= 65535:
            raise ValueError("targetPort must be between 1 and 65535")
        return self


class ClientIPConfig(Model):
    timeout_seconds: int = Field(10800, ge=1, le=86400)


class SessionAffinityConfig(Model):
    client_ip: ClientIPConfig | None = Field(None, alias="clientIP")


class ServiceSpec(Model):
    type: Literal["ClusterIP", "NodePort"] = "ClusterIP"
    selector: dict[str, str] | None = None
    ports: list[ServicePort] = Field(min_length=1)
    cluster_ip: str | None = Field(None, alias="clusterIP")
    cluster_ips: list[str] | None = Field(None, alias="clusterIPs")
    session_affinity: Literal["None", "ClientIP"] = "None"
    session_affinity_config: SessionAffinityConfig | None = None

    @model_validator(mode="after")
    def _ports(self):
        if len(self.ports) > 1 and any(not p.name for p in self.ports):
            raise ValueError("ports: each port must have a name when there is more than one")
        _unique(self.ports, "name", "port name")
        seen = set()
        for p in self.ports:
            if (p.port, p.protocol) in seen:
                raise ValueError(f"duplicate port {p.port}/{p.protocol}")
            seen.add((p.port, p.protocol))
            if self.type == "ClusterIP" and p.node_port:
                raise ValueError("nodePort may only be set when type is NodePort")
        if self.session_affinity == "ClientIP" and self.session_affinity_config is None:
            self.session_affinity_config = SessionAffinityConfig(client_ip=ClientIPConfig())
        return self


class LoadBalancerStatus(Model):
    ingress: list[dict[str, str]] | None = None


class ServiceStatus(Model):
    load_balancer: LoadBalancerStatus | None = None


class Service(Model):
    api_version: Literal["v1"] = "v1"
    kind: Literal["Service"] = "Service"
    metadata: ObjectMeta
    spec: ServiceSpec
    status: ServiceStatus | None = None


class EndpointAddress(Model):
    ip: str
    # DNS records for an endpoint's hostname (headless services, StatefulSets) are [apps] work.
    hostname: Annotated[str | None, refused("hostname (DNS records per endpoint)")] = None
    node_name: str | None = None
    target_ref: ObjectReference | None = None


class EndpointPort(Model):
    name: str | None = None
    port: Port
    protocol: Protocol = "TCP"


class EndpointSubset(Model):
    addresses: list[EndpointAddress] | None = None
    not_ready_addresses: list[EndpointAddress] | None = None
    ports: list[EndpointPort] | None = None


class Endpoints(Model):
    api_version: Literal["v1"] = "v1"
    kind: Literal["Endpoints"] = "Endpoints"
    metadata: ObjectMeta
    subsets: list[EndpointSubset] | None = None


# --- Node, Namespace ------------------------------------------------------------------------


class Taint(Model):
    key: str
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]
    time_added: Timestamp | None = None


class NodeSpec(Model):
    pod_cidr: str | None = Field(None, alias="podCIDR")
    pod_cidrs: list[str] | None = Field(None, alias="podCIDRs")
    unschedulable: bool | None = None
    taints: list[Taint] | None = None


class NodeAddress(Model):
    type: Literal["InternalIP", "ExternalIP", "Hostname"]
    address: str


class NodeSystemInfo(Model):
    machine_id: str = Field("", alias="machineID")
    system_uuid: str = Field("", alias="systemUUID")
    boot_id: str = Field("", alias="bootID")
    kernel_version: str = ""
    os_image: str = ""
    container_runtime_version: str = ""
    kubelet_version: str = ""
    kube_proxy_version: str = ""
    operating_system: str = ""
    architecture: str = ""


class NodeStatus(Model):
    capacity: dict[str, str] | None = None
    allocatable: dict[str, str] | None = None
    addresses: list[NodeAddress] | None = None
    conditions: list[Condition] | None = None
    node_info: NodeSystemInfo | None = None

    @field_validator("capacity", "allocatable")
    @classmethod
    def _quantities(cls, value):
        for resource, quantity in (value or {}).items():
            try:
                parse_quantity(quantity)
            except QuantityError as e:
                raise ValueError(f"{resource}: {e}") from None
        return value


class Node(Model):
    api_version: Literal["v1"] = "v1"
    kind: Literal["Node"] = "Node"
    metadata: ObjectMeta
    spec: NodeSpec = Field(default_factory=NodeSpec)
    status: NodeStatus | None = None


def _only_kubernetes_finalizer(finalizers: list[str] | None) -> list[str] | None:
    """Deleting a namespace empties it and then removes it, which is what the "kubernetes"
    finalizer stands for; other namespace finalizers would need their own controllers."""
    for finalizer in finalizers or []:
        if finalizer != "kubernetes":
            raise PydanticCustomError(NOT_IMPLEMENTED, "Forbidden: namespace finalizer {f!r} is "
                                      "not implemented by this orchestrator (only "
                                      "\"kubernetes\")", {"f": finalizer})
    return finalizers


class NamespaceSpec(Model):
    finalizers: Annotated[list[str] | None, AfterValidator(_only_kubernetes_finalizer)] = None


class NamespaceStatus(Model):
    phase: Literal["Active", "Terminating"] | None = None


class Namespace(Model):
    api_version: Literal["v1"] = "v1"
    kind: Literal["Namespace"] = "Namespace"
    metadata: ObjectMeta
    spec: NamespaceSpec | None = None
    status: NamespaceStatus | None = None


# --- ConfigMap, Secret, Event ---------------------------------------------------------------


def _check_data_keys(data):
    for key in data or {}:
        if not key or len(key) > 253 or not all(c.isalnum() or c in "-_." for c in key):
            raise ValueError(f"key {key!r}: must consist of alphanumeric characters, '-', '_' "
                             "or '.'")
    return data


class ConfigMap(Model):
    api_version: Literal["v1"] = "v1"
    kind: Literal["ConfigMap"] = "ConfigMap"
    metadata: ObjectMeta
    data: dict[str, str] | None = None
    binary_data: dict[str, str] | None = None
    immutable: bool | None = None

    @field_validator("data", "binary_data")
    @classmethod
    def _keys(cls, data):
        return _check_data_keys(data)


# The keys Kubernetes requires in a Secret of each built-in type: (all of these, one of these).
SECRET_TYPE_KEYS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "kubernetes.io/tls": (frozenset({"tls.crt", "tls.key"}), frozenset()),
    "kubernetes.io/dockerconfigjson": (frozenset({".dockerconfigjson"}), frozenset()),
    "kubernetes.io/dockercfg": (frozenset({".dockercfg"}), frozenset()),
    "kubernetes.io/ssh-auth": (frozenset({"ssh-privatekey"}), frozenset()),
    "kubernetes.io/basic-auth": (frozenset(), frozenset({"username", "password"})),
}


class Secret(Model):
    api_version: Literal["v1"] = "v1"
    kind: Literal["Secret"] = "Secret"
    metadata: ObjectMeta
    type: str = "Opaque"
    data: dict[str, str] | None = None
    string_data: dict[str, str] | None = None
    immutable: bool | None = None

    @field_validator("data")
    @classmethod
    def _base64(cls, data):
        _check_data_keys(data)
        for key, value in (data or {}).items():
            try:
                base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                raise ValueError(f"{key}: not valid base64") from None
        return data

    @model_validator(mode="after")
    def _merge_string_data(self):
        """Kubernetes: stringData is write-only; it is merged into data (base64) on write.
        Then the keys the Secret's type requires must be there."""
        if self.string_data:
            _check_data_keys(self.string_data)
            encoded = {k: base64.b64encode(v.encode()).decode() for k, v in self.string_data.items()}
            self.data = {**(self.data or {}), **encoded}
            self.string_data = None
        keys = set(self.data or {})
        required = SECRET_TYPE_KEYS.get(self.type)
        if required is not None and not (keys >= required[0] and (not required[1]
                                                                   or keys & required[1])):
            wanted = sorted(required[0]) or [" or ".join(sorted(required[1]))]
            raise ValueError(f"data: Required value: a Secret of type {self.type} needs "
                             f"{', '.join(wanted)}")
        if self.type == "kubernetes.io/service-account-token" and not (
                self.metadata.annotations or {}).get("kubernetes.io/service-account.name"):
            raise ValueError("metadata.annotations[kubernetes.io/service-account.name]: "
                             "Required value")
        return self


class EventSource(Model):
    component: str | None = None
    host: str | None = None


class Event(Model):
    api_version: Literal["v1"] = "v1"
    kind: Literal["Event"] = "Event"
    metadata: ObjectMeta
    involved_object: ObjectReference
    reason: str | None = None
    message: str | None = None
    source: EventSource | None = None
    first_timestamp: Timestamp | None = None
    last_timestamp: Timestamp | None = None
    event_time: Timestamp | None = None
    count: int | None = None
    type: Literal["Normal", "Warning"] | None = "Normal"
    reporting_component: str | None = None
    reporting_instance: str | None = None
    action: str | None = None

