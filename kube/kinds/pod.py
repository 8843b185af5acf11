"""Pod (core/v1): containers that share a network, IPC and hostname on one node.

Defaults are filled as Kubernetes fills them (and stored, as Kubernetes stores them); cross-field
rules (unique names, mounts naming volumes, one probe handler, requests <= limits) are model
validators. Fields Kubernetes has and this orchestrator does not implement yet are refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal
from contextvars import ContextVar
from typing import Annotated, Any, Literal, Self, TypeVar

from pydantic import Field, field_validator, model_validator

from kube import names
from kube.field_errors import FORBIDDEN, FieldError
from kube.kinds.base import AGE, ATOMIC, Column, Kind, ListMerge, map_list, nested
from kube.meta import (Condition, Dns1123Label, Dns1123Subdomain, EnvVarName, IntOrString,
                       IPAddress, LabelSelector, Model, ObjectMeta, Port, PortName, Protocol,
                       QualifiedName, Timestamp, refused, unique)
from kube.objects import Object
from kube.printing import pod_ready, pod_restarts, pod_status
from kube.quantity import QuantityError, parse_quantity


class ContainerPort(Model):
    name: PortName | None = None
    container_port: Port
    protocol: Protocol = "TCP"
    # published on the node (its address, or host_ip): the scheduler's NodePorts filter keeps
    # two pods binding the same one off a node
    host_port: Port | None = None
    host_ip: IPAddress | None = Field(None, alias="hostIP")


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
    def _exactly_one(self) -> Self:
        if sum(x is not None for x in (self.config_map_key_ref, self.secret_key_ref,
                                        self.field_ref)) != 1:
            raise ValueError("exactly one of configMapKeyRef, secretKeyRef, fieldRef is required")
        return self


class EnvVar(Model):
    name: EnvVarName
    value: str | None = None
    value_from: EnvVarSource | None = None

    @model_validator(mode="after")
    def _not_both(self) -> Self:
        if self.value is not None and self.value_from is not None:
            raise ValueError("value and valueFrom may not both be specified")
        return self


class ConfigMapEnvSource(Model):
    """envFrom's configMapRef: every key of the ConfigMap becomes a variable."""

    name: str
    optional: bool | None = None


class SecretEnvSource(Model):
    """envFrom's secretRef: every key of the Secret becomes a variable."""

    name: str
    optional: bool | None = None


class EnvFromSource(Model):
    prefix: str | None = None
    config_map_ref: ConfigMapEnvSource | None = None
    secret_ref: SecretEnvSource | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.config_map_ref is None) == (self.secret_ref is None):
            raise ValueError("exactly one of configMapRef, secretRef is required")
        return self


ResourceList = dict[Literal["cpu", "memory"], str | int | float]


class ResourceRequirements(Model):
    requests: ResourceList | None = None
    limits: ResourceList | None = None

    @model_validator(mode="after")
    def _quantities(self) -> Self:
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
            self._fill(requests={**self.limits, **(self.requests or {})})
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
    def _one_handler(self) -> Self:
        if sum(x is not None for x in (self.http_get, self.tcp_socket, self.exec)) != 1:
            raise ValueError("exactly one of httpGet, tcpSocket, exec is required")
        return self


# Linux user and group ids as Kubernetes admits them (validation.go: 0 to math.MaxInt32)
Id = Annotated[int, Field(ge=0, le=2**31 - 1)]


class Capabilities(Model):
    """Capabilities added to and dropped from the runtime's default set, named as in
    capabilities(7) with or without "CAP_" ("ALL" too)."""

    add: list[str] | None = None
    drop: list[str] | None = None


class SeccompProfile(Model):
    # A profile file on the node (Localhost) is not implemented: RuntimeDefault (docker's
    # default profile) and Unconfined are.
    type: Annotated[Literal["RuntimeDefault", "Unconfined", "Localhost"],
                    refused('seccompProfile type "Localhost"', ("Localhost",))]
    localhost_profile: Annotated[str | None, refused("localhostProfile")] = None


class SecurityContext(Model):
    """A container's; where it and the pod's (PodSecurityContext) both set a field, the
    container's wins."""

    capabilities: Capabilities | None = None
    privileged: bool | None = None
    run_as_user: Id | None = None
    run_as_group: Id | None = None
    run_as_non_root: bool | None = None
    read_only_root_filesystem: bool | None = None
    allow_privilege_escalation: bool | None = None
    proc_mount: Annotated[Literal["Default", "Unmasked"] | None,
                          refused('procMount "Unmasked"', ("Unmasked",))] = None
    seccomp_profile: SeccompProfile | None = None

    @model_validator(mode="after")
    def _escalation(self) -> Self:
        if self.allow_privilege_escalation is False:
            if self.privileged:
                raise ValueError("allowPrivilegeEscalation: cannot set allowPrivilegeEscalation "
                                 "to false and privileged to true")
            if "CAP_SYS_ADMIN" in ((self.capabilities.add if self.capabilities else None) or ()):
                raise ValueError("allowPrivilegeEscalation: cannot set allowPrivilegeEscalation "
                                 "to false and capabilities.Add CAP_SYS_ADMIN")
        return self


SYSCTL_NAME = r"^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$"


def sysctl_namespace(name: str) -> str | None:
    """Which of a pod's namespaces holds a sysctl, by Kubernetes' namespaced groups: "ipc"
    (kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*), "net" (net.*), or None (the node's
    alone: no pod may set it)."""
    if name == "kernel.sem" or name.startswith(("kernel.shm", "kernel.msg", "fs.mqueue.")):
        return "ipc"
    if name.startswith("net."):
        return "net"
    return None


class Sysctl(Model):
    """A kernel parameter set in the pod's namespaces (the node decides which it allows)."""
    name: str = Field(pattern=SYSCTL_NAME, max_length=253)
    value: str


class PodSecurityContext(Model):
    run_as_user: Id | None = None
    run_as_group: Id | None = None
    run_as_non_root: bool | None = None
    supplemental_groups: list[Id] | None = None
    # the group that owns the pod's volumes (setgid directories, group-writable files) and is
    # added to every container's groups
    fs_group: Id | None = None
    fs_group_change_policy: Literal["OnRootMismatch", "Always"] | None = None
    seccomp_profile: SeccompProfile | None = None
    sysctls: list[Sysctl] | None = None

    @model_validator(mode="after")
    def _sysctls(self) -> Self:
        unique(self.sysctls, "name", "sysctl")
        return self


class HostAlias(Model):
    """Lines added to the pod's /etc/hosts."""

    ip: IPAddress
    hostnames: list[str] | None = None


class SleepAction(Model):
    seconds: int = Field(ge=0)


class LifecycleHandler(Model):
    exec: ExecAction | None = None
    http_get: HTTPGetAction | None = None
    sleep: SleepAction | None = None
    # kept by Kubernetes for compatibility and never run: refused here
    tcp_socket: Annotated[TCPSocketAction | None, refused("lifecycle tcpSocket")] = None

    @model_validator(mode="after")
    def _one_handler(self) -> Self:
        if sum(x is not None for x in (self.exec, self.http_get, self.sleep,
                                       self.tcp_socket)) != 1:
            raise ValueError("exactly one of exec, httpGet, sleep is required")
        return self


class Lifecycle(Model):
    """postStart runs right after the container starts (it is not Running until the hook
    returns; a failure kills it); preStop runs before it is stopped, within the grace
    period, before SIGTERM."""

    post_start: LifecycleHandler | None = None
    pre_stop: LifecycleHandler | None = None


class VolumeMount(Model):
    """`subPath`: a path inside the volume to mount instead of its root (a file or a
    directory; made as a directory when absent), relative and without `..`, as Kubernetes'
    validation requires (validateLocalDescendingPath)."""

    name: str
    mount_path: str = Field(min_length=1)
    read_only: bool | None = None
    sub_path: str | None = None

    @field_validator("sub_path")
    @classmethod
    def _descending(cls, value: str | None) -> str | None:
        if value:
            if value.startswith("/"):
                raise ValueError("must be a relative path")
            if ".." in value.split("/"):
                raise ValueError("must not contain '..'")
        return value


class Container(Model):
    name: Dns1123Label
    image: str = Field(min_length=1)
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] | None = None
    command: list[str] | None = None
    args: list[str] | None = None
    working_dir: str | None = None
    ports: list[ContainerPort] | None = None
    env: list[EnvVar] | None = None
    env_from: list[EnvFromSource] | None = None
    resources: ResourceRequirements | None = None
    volume_mounts: list[VolumeMount] | None = None
    liveness_probe: Probe | None = None
    readiness_probe: Probe | None = None
    # until it succeeds the other probes wait and the container is not started; failing it
    # failureThreshold times restarts the container, as a failed liveness probe does
    startup_probe: Probe | None = None
    lifecycle: Lifecycle | None = None
    # the container's own stdin (open for `attach -i`; closed after the first attach ends
    # with stdinOnce) and terminal: what `kubectl run -it` asks for
    stdin: bool | None = None
    stdin_once: bool | None = None
    tty: bool | None = None
    security_context: SecurityContext | None = None
    # what the container writes there (at most 4 KiB) is its terminated state's message;
    # FallbackToLogsOnError: the end of its log when it failed without writing one
    termination_message_path: str = Field("/dev/termination-log", max_length=4096,
                                          pattern=r"^/")
    termination_message_policy: Literal["File", "FallbackToLogsOnError"] = "File"
    # init containers only: Always makes it a sidecar (a restartable init container, as
    # Kubernetes has them since 1.29): started in order with the init containers, running
    # beside the app, restarted whenever it exits, stopped after the app's containers
    restart_policy: Literal["Always"] | None = None

    @property
    def is_sidecar(self) -> bool:
        return self.restart_policy == "Always"

    @model_validator(mode="after")
    def _defaults(self) -> Self:
        if self.image_pull_policy is None:
            # Kubernetes: Always for ":latest" or no tag, else IfNotPresent.
            last = self.image.rsplit("/", 1)[-1]
            tag = last.split("@")[0].partition(":")[2]
            self._fill(image_pull_policy="Always" if "@" not in last and tag in ("", "latest")
                       else "IfNotPresent")
        unique(self.ports, "name", "port name")
        for name, probe in (("livenessProbe", self.liveness_probe),
                            ("startupProbe", self.startup_probe)):
            if probe is not None and probe.success_threshold != 1:
                raise ValueError(f"{name}.successThreshold: Invalid value: "
                                 f"{probe.success_threshold}: must be 1")
        return self


class KeyToPath(Model):
    key: str
    path: str
    mode: int | None = None


class EmptyDirVolumeSource(Model):
    """A directory on the node's disk, or with medium Memory a tmpfs of the pod's own (its size
    sizeLimit, else the pod's memory limit where every container has one; what is written
    there counts against the writer's memory limit)."""
    medium: Literal["", "Memory"] | None = None
    # with Memory the tmpfs's size; on disk the node evicts the pod once the directory holds
    # more (the agent measures it every few seconds, as kubelet's eviction manager does)
    size_limit: str | int | None = None

    @model_validator(mode="after")
    def _size(self) -> Self:
        if self.size_limit is not None:
            try:
                if parse_quantity(self.size_limit) <= 0:
                    raise ValueError("sizeLimit: must be greater than zero")
            except QuantityError as e:
                raise ValueError(f"sizeLimit: {e}") from None
        return self


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


class ObjectFieldSelector(Model):
    field_path: str
    api_version: Literal["v1"] | None = None

    @field_validator("field_path")
    @classmethod
    def _supported(cls, path: str) -> str:
        if path in VOLUME_FIELD_PATHS:
            return path
        match = SUBSCRIPTED_FIELD_PATH.match(path)
        if match and not names.qualified_name(match.group(2)):
            return path
        raise ValueError(f"Unsupported value: {path!r}: supported values: "
                         f"{', '.join(map(repr, VOLUME_FIELD_PATHS))}")


# The pod fields a downwardAPI volume's file may hold (Kubernetes' list for volumes)
VOLUME_FIELD_PATHS = ("metadata.name", "metadata.namespace", "metadata.uid",
                      "metadata.labels", "metadata.annotations")


class DownwardAPIVolumeFile(Model):
    path: str = Field(min_length=1)
    field_ref: ObjectFieldSelector | None = None
    # the container's resources as a file: not implemented
    resource_field_ref: Annotated[dict[str, Any] | None, refused("resourceFieldRef")] = None
    mode: int | None = Field(None, ge=0, le=0o777)

    @model_validator(mode="after")
    def _one(self) -> Self:
        if self.field_ref is None and self.resource_field_ref is None:
            raise ValueError("fieldRef: Required value")
        return self


class DownwardAPIVolumeSource(Model):
    items: list[DownwardAPIVolumeFile] | None = None
    default_mode: int | None = Field(0o644, ge=0, le=0o777)


class DownwardAPIProjection(Model):
    items: list[DownwardAPIVolumeFile] | None = None


class ConfigMapProjection(Model):
    name: str
    items: list[KeyToPath] | None = None
    optional: bool | None = None


class SecretProjection(Model):
    name: str
    items: list[KeyToPath] | None = None
    optional: bool | None = None


class ServiceAccountTokenProjection(Model):
    audience: str | None = None
    expiration_seconds: int = Field(3600, ge=600)
    path: str = Field(min_length=1)


class VolumeProjection(Model):
    secret: SecretProjection | None = None
    config_map: ConfigMapProjection | None = None
    downward_api: DownwardAPIProjection | None = Field(None, alias="downwardAPI")
    service_account_token: ServiceAccountTokenProjection | None = None
    cluster_trust_bundle: Annotated[dict[str, Any] | None, refused("clusterTrustBundle")] = None

    @model_validator(mode="after")
    def _one(self) -> Self:
        given = (self.secret, self.config_map, self.downward_api, self.service_account_token,
                 self.cluster_trust_bundle)
        if sum(x is not None for x in given) != 1:
            raise ValueError("exactly one of secret, configMap, downwardAPI, "
                             "serviceAccountToken is required")
        return self


class ProjectedVolumeSource(Model):
    sources: list[VolumeProjection] | None = None
    default_mode: int | None = Field(0o644, ge=0, le=0o777)


class PersistentVolumeClaimVolumeSource(Model):
    claim_name: str = Field(min_length=1)
    read_only: bool | None = None


class Volume(Model):
    name: Dns1123Label
    empty_dir: EmptyDirVolumeSource | None = None
    host_path: HostPathVolumeSource | None = None
    config_map: ConfigMapVolumeSource | None = None
    secret: SecretVolumeSource | None = None
    downward_api: DownwardAPIVolumeSource | None = Field(None, alias="downwardAPI")
    projected: ProjectedVolumeSource | None = None
    persistent_volume_claim: PersistentVolumeClaimVolumeSource | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        sources = (self.empty_dir, self.host_path, self.config_map, self.secret,
                   self.downward_api, self.projected, self.persistent_volume_claim)
        if sum(x is not None for x in sources) != 1:
            raise ValueError("exactly one of emptyDir, hostPath, configMap, secret, "
                             "downwardAPI, projected, persistentVolumeClaim is required")
        return self


class NodeSelectorRequirement(Model):
    key: str
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]
    values: list[str] | None = None


class NodeSelectorTerm(Model):
    match_expressions: list[NodeSelectorRequirement] | None = None
    match_fields: list[NodeSelectorRequirement] | None = None  # the node's metadata.name

    @field_validator("match_fields")
    @classmethod
    def _fields(cls, fields: list[NodeSelectorRequirement] | None
                ) -> list[NodeSelectorRequirement] | None:
        for f in fields or ():
            if f.key != "metadata.name":
                raise ValueError(f"matchFields key {f.key!r}: Unsupported value: supported "
                                 "values: \"metadata.name\"")
            if f.operator not in ("In", "NotIn") or len(f.values or ()) != 1:
                raise ValueError("matchFields: must be In or NotIn with exactly one value")
        return fields


class NodeSelector(Model):
    node_selector_terms: list[NodeSelectorTerm] = Field(min_length=1)


class PreferredSchedulingTerm(Model):
    """A soft node-affinity term: nodes it matches score its weight (the NodeAffinity score)."""
    weight: int = Field(ge=1, le=100)
    preference: NodeSelectorTerm


class NodeAffinity(Model):
    required_during_scheduling_ignored_during_execution: NodeSelector | None = None
    preferred_during_scheduling_ignored_during_execution: list[PreferredSchedulingTerm] | None \
        = None


class PodAffinityTerm(Model):
    """The pods `label_selector` selects (none when it is absent, as Kubernetes has it) in the
    `namespaces` listed and those `namespace_selector` selects (the pod's own namespace when
    neither is given; `{}` selects every namespace), counted per value of the node label
    `topology_key` (the domain: a node, a zone...)."""
    label_selector: LabelSelector | None = None
    namespaces: list[str] | None = None
    topology_key: QualifiedName
    namespace_selector: LabelSelector | None = None


class WeightedPodAffinityTerm(Model):
    weight: int = Field(ge=1, le=100)
    pod_affinity_term: PodAffinityTerm


class PodAffinity(Model):
    """Inter-pod affinity (co-location) or anti-affinity (spreading), as the scheduler's
    InterPodAffinity plugin decides it: required terms filter nodes, preferred ones score."""
    required_during_scheduling_ignored_during_execution: list[PodAffinityTerm] | None = None
    preferred_during_scheduling_ignored_during_execution: list[WeightedPodAffinityTerm] | None \
        = None


class PodAntiAffinity(PodAffinity):
    pass


class Affinity(Model):
    node_affinity: NodeAffinity | None = None
    pod_affinity: PodAffinity | None = None
    pod_anti_affinity: PodAntiAffinity | None = None


class TopologySpreadConstraint(Model):
    """How unevenly the pods `label_selector` selects (in the pod's namespace) may spread over
    the values of the node label `topology_key` (Kubernetes' PodTopologySpread)."""
    max_skew: int = Field(ge=1)
    topology_key: QualifiedName
    when_unsatisfiable: Literal["DoNotSchedule", "ScheduleAnyway"]
    label_selector: LabelSelector | None = None
    min_domains: int | None = Field(None, ge=1)
    node_affinity_policy: Literal["Honor", "Ignore"] | None = None  # None: Honor
    node_taints_policy: Literal["Honor", "Ignore"] | None = None  # None: Ignore
    # the pod's values for these label keys join the selector (pods of one revision spread)
    match_label_keys: list[QualifiedName] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.min_domains is not None and self.when_unsatisfiable != "DoNotSchedule":
            raise ValueError("minDomains: Invalid value: can only use minDomains if "
                             "whenUnsatisfiable=DoNotSchedule")
        selector = self.label_selector
        in_selector = set((selector.match_labels or {}) if selector else ()) | {
            e.key for e in (selector.match_expressions or () if selector else ())}
        for key in self.match_label_keys or ():
            if key in in_selector:
                raise ValueError(f"matchLabelKeys: Invalid value: {key!r}: exists in both "
                                 "matchLabelKeys and labelSelector")
        return self


class Toleration(Model):
    key: str | None = None
    operator: Literal["Exists", "Equal"] = "Equal"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = None


class ImagePullSecret(Model):
    """A LocalObjectReference: the name of a Secret in the pod's namespace."""
    name: str = Field(min_length=1)


# While a StatefulSet is validated: the names of its volumeClaimTemplates, which its pod
# template's containers may mount (each pod gets a claim volume of that name).
CLAIM_TEMPLATE_VOLUMES: ContextVar[frozenset[str]] = ContextVar("claim_template_volumes",
                                                                default=frozenset())


class PodSpec(Model):
    # run one at a time, in order, each to success, before the app containers start
    init_containers: list[Container] | None = None
    containers: list[Container] = Field(min_length=1)
    volumes: list[Volume] | None = None
    restart_policy: Literal["Always", "OnFailure", "Never"] = "Always"
    termination_grace_period_seconds: int = Field(30, ge=0)
    node_selector: dict[str, str] | None = None
    node_name: str | None = None
    hostname: Dns1123Label | None = None
    # with hostname: the pod's FQDN is <hostname>.<subdomain>.<ns>.svc.<domain>, resolvable
    # through the headless Service named <subdomain>
    subdomain: Dns1123Label | None = None
    affinity: Affinity | None = None
    tolerations: list[Toleration] | None = None
    topology_spread_constraints: list[TopologySpreadConstraint] | None = None
    # ClusterFirst: the cluster's DNS, except for a hostNetwork pod (which gets the node's
    # resolvers, as Default does) unless ClusterFirstWithHostNet
    dns_policy: Literal["ClusterFirst", "ClusterFirstWithHostNet", "Default"] = "ClusterFirst"
    enable_service_links: bool = True
    scheduler_name: str = "default-scheduler"
    security_context: PodSecurityContext = Field(default_factory=PodSecurityContext)
    share_process_namespace: bool | None = None  # one PID namespace: the sandbox's
    # the identity its processes get (a token mounted, unless automount is false)
    service_account_name: Dns1123Subdomain | None = None
    service_account: Dns1123Subdomain | None = None  # deprecated: serviceAccountName's alias
    automount_service_account_token: bool | None = None
    host_network: bool | None = None
    host_pid: bool | None = Field(None, alias="hostPID")
    host_ipc: bool | None = Field(None, alias="hostIPC")
    host_aliases: list[HostAlias] | None = None
    # dockerconfigjson (or dockercfg) Secrets whose credentials the agent pulls images with
    image_pull_secrets: list[ImagePullSecret] | None = None

    @model_validator(mode="after")
    def _references(self) -> Self:
        every = [*(self.init_containers or ()), *self.containers]
        unique(every, "name", "container name")
        unique(self.volumes, "name", "volume name")
        pairs = [(c.topology_key, c.when_unsatisfiable)
                 for c in self.topology_spread_constraints or ()]
        if len(set(pairs)) != len(pairs):
            raise ValueError("topologySpreadConstraints: Duplicate value: a {topologyKey, "
                             "whenUnsatisfiable} pair given twice")
        volumes = {v.name for v in self.volumes or []} | CLAIM_TEMPLATE_VOLUMES.get()
        for c in every:
            for m in c.volume_mounts or []:
                if m.name not in volumes:
                    raise ValueError(f"container {c.name!r} mounts volume {m.name!r}, "
                                     "which is not in spec.volumes")
        for c in self.init_containers or ():
            if c.is_sidecar:  # a sidecar may be probed and hooked as an app container
                continue
            for field, value in (("livenessProbe", c.liveness_probe),
                                 ("readinessProbe", c.readiness_probe),
                                 ("startupProbe", c.startup_probe), ("lifecycle", c.lifecycle)):
                if value is not None:
                    raise ValueError(f"initContainers {c.name!r}: {field} may not be set for "
                                     "init containers without restartPolicy Always")
        for c in self.containers:
            if c.restart_policy is not None:
                raise ValueError(f"container {c.name!r}: restartPolicy may not be set for "
                                 "non-init containers")
        for sysctl in (self.security_context.sysctls if self.security_context else None) or ():
            held = sysctl_namespace(sysctl.name)
            for shared, flag, on in (("net", "hostNetwork", self.host_network),
                                     ("ipc", "hostIPC", self.host_ipc)):
                if held == shared and on:
                    raise ValueError(f"securityContext.sysctls: sysctl {sysctl.name!r} may "
                                     f"not be specified when '{flag}' is true")
        if self.host_network:
            # Kubernetes' defaulting: a host-network pod's ports are the node's, hostPort =
            # containerPort
            for c in every:
                for p in c.ports or ():
                    if p.host_port is None:
                        p._fill(host_port=p.container_port)
                    elif p.host_port != p.container_port:
                        raise ValueError(f"container {c.name!r}: hostPort {p.host_port} must "
                                         f"match containerPort {p.container_port} when "
                                         "hostNetwork is true")
        if self.share_process_namespace and self.host_pid:
            raise ValueError("shareProcessNamespace: ShareProcessNamespace and HostPID cannot "
                             "both be enabled")
        host_ports = [(p.host_port, p.protocol, p.host_ip or "") for c in self.containers
                      for p in c.ports or [] if p.host_port]
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
    init_container_statuses: list[ContainerStatus] | None = None
    container_statuses: list[ContainerStatus] | None = None
    qos_class: Literal["Guaranteed", "Burstable", "BestEffort"] | None = None


class PodTemplateSpec(Model):
    metadata: ObjectMeta | None = None
    spec: PodSpec


N = TypeVar("N", int, Decimal)


def effective_request(apps: Iterable[N], inits: Iterable[tuple[N, bool]], zero: N) -> N:
    """One resource of a pod as Kubernetes counts it (component-helpers' PodRequests): the app
    containers' sum plus every sidecar's (they run beside the app), or, where more, the most
    needed while the init containers run one at a time, each beside the sidecars started
    before it. `inits` are (request, is a sidecar) in the pod's order."""
    total = sum(apps, zero)
    sidecars = zero
    during_init = zero
    for request, is_sidecar in inits:
        if is_sidecar:
            sidecars += request
            during_init = max(during_init, sidecars)
        else:
            during_init = max(during_init, request + sidecars)
    return max(total + sidecars, during_init)


class Pod(Model):
    api_version: Literal["v1"] = "v1"
    kind: Literal["Pod"] = "Pod"
    metadata: ObjectMeta
    spec: PodSpec
    status: PodStatus = Field(default_factory=PodStatus)


def _pod_spec_without_mutable(spec: Object) -> Object:
    """A pod's spec minus what Kubernetes lets an update change (container images, added
    tolerations) and what the server sets (nodeName, via binding)."""
    out = {k: v for k, v in spec.items() if k not in ("tolerations", "nodeName")}
    for which in ("initContainers", "containers"):
        if which in spec:
            out[which] = [{k: v for k, v in c.items() if k != "image"} for c in spec[which]]
    return out


def _update_rules(old: Object, new: Object) -> list[FieldError]:
    if _pod_spec_without_mutable(old["spec"]) != _pod_spec_without_mutable(new["spec"]):
        return [FieldError("spec", "Forbidden: pod updates may not change fields other than "
                           "spec.containers[*].image, spec.initContainers[*].image and "
                           "spec.tolerations", FORBIDDEN)]
    return []


# The lists of a PodSpec and how they merge (Kubernetes' patchMergeKey/patchStrategy and
# list-map keys); pod templates (ReplicaSet, Deployment) nest them under spec.template.spec.
_CONTAINER_LISTS: dict[str, ListMerge] = {
    "": map_list("name"),
    "[].ports": map_list("containerPort", "protocol"),
    "[].env": map_list("name"),
    "[].volumeMounts": map_list("mountPath"),
    "[].command": ATOMIC,
    "[].args": ATOMIC,
}
POD_SPEC_LISTS: dict[str, ListMerge] = {
    **{f"containers{path}": merge for path, merge in _CONTAINER_LISTS.items()},
    **{f"initContainers{path}": merge for path, merge in _CONTAINER_LISTS.items()},
    "volumes": map_list("name"),
    "tolerations": ATOMIC,
    "hostAliases": map_list("ip"),
    "topologySpreadConstraints": map_list("topologyKey", "whenUnsatisfiable"),
}

KIND = Kind(
    "Pod", "pods", "", "v1", True, Pod, names.dns1123_subdomain, short_names=("po",),
    categories=("all",), subresources=("status", "binding", "eviction", "log", "exec", "attach",
                                       "portforward"),
    status_on_create="reset", initial_status={"phase": "Pending"},
    update_rules=_update_rules,
    field_selectors=("spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
                     "status.phase", "status.podIP"),
    columns=(
        Column("READY", lambda p, _: pod_ready(p),
               description="The containers that are ready, of all"),
        Column("STATUS", lambda p, _: pod_status(p), description="kubectl's status word"),
        Column("RESTARTS", pod_restarts, type="integer"),
        AGE,
        Column("IP", lambda p, _: (p.get("status") or {}).get("podIP") or "<none>", priority=1),
        Column("NODE", lambda p, _: p["spec"].get("nodeName") or "<none>", priority=1),
    ),
    list_merge={**nested("spec", POD_SPEC_LISTS), "status.conditions": map_list("type"),
                "status.containerStatuses": ATOMIC, "status.initContainerStatuses": ATOMIC},
    graceful_deletion=True,
)
