"""Refuse, never ignore: every field of every kind is either honoured somewhere or refused with
422 naming it, and every query parameter Kubernetes defines is honoured or refused with 400.

The field walk visits every (model, field) pair reachable from the kinds the API serves. A new
field fails this test until it is classified: honoured (the table says which module acts on it,
and that module must mention it), a record (status and other fields that are written by their
owner and read back, never acted upon by the server), or refused (a sample value gets 422).
"""

from __future__ import annotations

import copy
import typing
from pathlib import Path

import pytest
import requests
from pydantic import BaseModel

from orchestrator.api import parameters
from kube.registry import RESOURCES, by_kind
from kube.validation import FORBIDDEN, Invalid, validate_create

REPO = Path(__file__).resolve().parent.parent

# Where each behavioural field is acted upon. The module must mention the field, by its JSON name
# (a dict key) or its Python name (a typed model's attribute).
HONOURED: dict[str, str] = {
    "node_agent/pods/containers.py": """
        PodSecurityContext.sysctls Sysctl.name Sysctl.value
        PodSpec.hostname PodSpec.dnsPolicy Container.image Container.command Container.args
        Container.workingDir Container.resources ResourceRequirements.limits Container.stdin
        Container.stdinOnce Container.tty PodSpec.shareProcessNamespace PodSpec.hostNetwork
        PodSpec.hostPID PodSpec.hostIPC PodSpec.hostAliases HostAlias.ip HostAlias.hostnames
        ContainerPort.hostPort ContainerPort.hostIP Container.securityContext
        PodSpec.securityContext SecurityContext.capabilities SecurityContext.privileged
        SecurityContext.runAsUser SecurityContext.runAsGroup SecurityContext.runAsNonRoot
        SecurityContext.readOnlyRootFilesystem SecurityContext.allowPrivilegeEscalation
        SecurityContext.seccompProfile Capabilities.add Capabilities.drop SeccompProfile.type
        PodSecurityContext.runAsUser PodSecurityContext.runAsGroup
        PodSecurityContext.runAsNonRoot PodSecurityContext.supplementalGroups
        PodSecurityContext.seccompProfile PodSpec.subdomain""",
    "node_agent/pods/volumes.py": """
        PodSpec.volumes Container.volumeMounts VolumeMount.name VolumeMount.mountPath
        VolumeMount.readOnly VolumeMount.subPath Volume.name Volume.emptyDir Volume.hostPath
        HostPathVolumeSource.path HostPathVolumeSource.type Container.terminationMessagePath
        PodSecurityContext.fsGroup
        PodSecurityContext.fsGroupChangePolicy PersistentVolumeClaimVolumeSource.readOnly
        EmptyDirVolumeSource.medium EmptyDirVolumeSource.sizeLimit
        PersistentVolumeSpec.hostPath PersistentVolumeSpec.local LocalVolumeSource.path""",
    "kube/storage.py": """
        PersistentVolumeClaimSpec.accessModes PersistentVolumeClaimSpec.selector
        PersistentVolumeClaimSpec.resources VolumeResourceRequirements.requests
        PersistentVolumeClaimSpec.storageClassName PersistentVolumeClaimSpec.volumeMode
        PersistentVolumeSpec.capacity PersistentVolumeSpec.accessModes
        PersistentVolumeSpec.storageClassName PersistentVolumeSpec.nodeAffinity
        PersistentVolumeSpec.volumeMode VolumeNodeAffinity.required
        PersistentVolumeSpec.claimRef""",
    "orchestrator/controllers/persistentvolume.py": """
        PersistentVolumeClaimSpec.volumeName
        PersistentVolumeSpec.persistentVolumeReclaimPolicy""",
    "orchestrator/controllers/localpath.py": """
        StorageClass.provisioner StorageClass.reclaimPolicy StorageClass.parameters""",
    "orchestrator/api/quota.py": """
        ResourceQuotaSpec.hard""",
    "orchestrator/api/limits.py": """
        LimitRangeSpec.limits LimitRangeItem.type LimitRangeItem.max LimitRangeItem.min
        LimitRangeItem.default LimitRangeItem.defaultRequest
        LimitRangeItem.maxLimitRequestRatio""",
    "orchestrator/scheduler/plugins/volume_binding.py": """
        StorageClass.volumeBindingMode""",
    "node_agent/pods/manager.py": """
        PodSpec.containers PodSpec.terminationGracePeriodSeconds PodSpec.enableServiceLinks
        Container.name Container.env EnvVar.name EnvVar.value EnvVar.valueFrom
        EnvVarSource.configMapKeyRef EnvVarSource.secretKeyRef EnvVarSource.fieldRef
        KeySelector.name KeySelector.key KeySelector.optional FieldSelector.fieldPath
        Volume.configMap Volume.secret ConfigMapVolumeSource.name ConfigMapVolumeSource.items
        ConfigMapVolumeSource.defaultMode ConfigMapVolumeSource.optional KeyToPath.key
        SecretVolumeSource.secretName SecretVolumeSource.items SecretVolumeSource.defaultMode
        SecretVolumeSource.optional ConfigMap.data ConfigMap.binaryData Secret.data
        KeyToPath.path KeyToPath.mode Container.imagePullPolicy Container.envFrom
        EnvFromSource.prefix EnvFromSource.configMapRef EnvFromSource.secretRef
        ConfigMapEnvSource.name ConfigMapEnvSource.optional SecretEnvSource.name
        SecretEnvSource.optional Volume.downwardAPI Volume.projected
        DownwardAPIVolumeSource.items DownwardAPIVolumeSource.defaultMode
        DownwardAPIVolumeFile.path DownwardAPIVolumeFile.fieldRef DownwardAPIVolumeFile.mode
        ObjectFieldSelector.fieldPath ProjectedVolumeSource.sources
        ProjectedVolumeSource.defaultMode VolumeProjection.secret VolumeProjection.configMap
        VolumeProjection.downwardAPI VolumeProjection.serviceAccountToken SecretProjection.name
        SecretProjection.items SecretProjection.optional ConfigMapProjection.name
        ConfigMapProjection.items ConfigMapProjection.optional DownwardAPIProjection.items
        ServiceAccountTokenProjection.audience ServiceAccountTokenProjection.expirationSeconds
        ServiceAccountTokenProjection.path Container.terminationMessagePolicy
        Container.lifecycle Lifecycle.postStart Lifecycle.preStop
        Volume.persistentVolumeClaim PersistentVolumeClaimVolumeSource.claimName
        PodSpec.imagePullSecrets ImagePullSecret.name""",
    "orchestrator/api/admission.py": """
        PodSpec.serviceAccountName PodSpec.serviceAccount PodSpec.automountServiceAccountToken
        ServiceAccount.automountServiceAccountToken ServiceAccount.imagePullSecrets""",
    "node_agent/pods/envvars.py": """
        ServicePort.port ServicePort.name ServicePort.protocol""",
    "node_agent/pods/model.py": "PodSpec.restartPolicy PodSpec.initContainers Container.restartPolicy",
    "node_agent/pods/probes.py": """
        Container.livenessProbe Container.readinessProbe Container.startupProbe Probe.httpGet Probe.tcpSocket
        Probe.exec Probe.initialDelaySeconds Probe.periodSeconds Probe.timeoutSeconds
        Probe.successThreshold Probe.failureThreshold HTTPGetAction.path HTTPGetAction.port
        HTTPGetAction.host HTTPGetAction.httpHeaders HTTPHeader.name HTTPHeader.value
        TCPSocketAction.port TCPSocketAction.host ExecAction.command LifecycleHandler.exec
        LifecycleHandler.httpGet LifecycleHandler.sleep SleepAction.seconds""",
    "node_agent/proxy/model.py": """
        ServiceSpec.ports ServiceSpec.clusterIP ServiceSpec.sessionAffinity
        ServiceSpec.sessionAffinityConfig ServicePort.nodePort SessionAffinityConfig.clientIP
        ClientIPConfig.timeoutSeconds ServiceSpec.type EndpointSubset.addresses
        EndpointSubset.ports EndpointAddress.ip EndpointAddress.nodeName EndpointPort.port
        EndpointPort.name EndpointPort.protocol ServiceSpec.externalTrafficPolicy
        LoadBalancerIngress.ip""",
    "node_agent/node.py": "NodeSpec.podCIDR NodeSpec.podCIDRs",
    "orchestrator/api/allocation.py": """
        ServiceSpec.clusterIPs ServiceSpec.allocateLoadBalancerNodePorts""",
    "node_agent/netpol/rules.py": """
        NetworkPolicySpec.podSelector NetworkPolicySpec.ingress NetworkPolicySpec.egress
        NetworkPolicySpec.policyTypes NetworkPolicyIngressRule.from NetworkPolicyIngressRule.ports
        NetworkPolicyEgressRule.to NetworkPolicyEgressRule.ports NetworkPolicyPeer.podSelector
        NetworkPolicyPeer.namespaceSelector NetworkPolicyPeer.ipBlock IPBlock.cidr IPBlock.except
        NetworkPolicyPort.protocol NetworkPolicyPort.port NetworkPolicyPort.endPort""",
    "ingress_controller/model.py": """
        IngressSpec.defaultBackend IngressSpec.tls IngressSpec.rules IngressBackend.service
        IngressServiceBackend.name IngressServiceBackend.port ServiceBackendPort.name
        ServiceBackendPort.number IngressTLS.hosts IngressTLS.secretName IngressRule.host
        IngressRule.http HTTPIngressRuleValue.paths HTTPIngressPath.path
        HTTPIngressPath.pathType HTTPIngressPath.backend""",
    "ingress_controller/controller.py": """
        IngressClassSpec.controller IngressSpec.ingressClassName""",
    "orchestrator/controllers/loadbalancer.py": """
        ServiceSpec.loadBalancerIP ServiceSpec.loadBalancerClass""",
    "kube/kinds/configmap.py": "ConfigMap.immutable Secret.immutable",
    "kube/kinds/secret.py": "Secret.stringData Secret.type",
    "kube/selectors.py": """
        LabelSelector.matchLabels LabelSelector.matchExpressions LabelSelectorRequirement.key
        LabelSelectorRequirement.operator LabelSelectorRequirement.values""",
    "orchestrator/api/objects.py": "NamespaceSpec.finalizers",
    "orchestrator/controllers/endpoints.py": """
        ServiceSpec.selector ServicePort.targetPort EndpointSubset.notReadyAddresses
        EndpointAddress.targetRef ContainerPort.containerPort
        ServiceSpec.publishNotReadyAddresses""",
    "orchestrator/controllers/job.py": """
        JobSpec.parallelism JobSpec.completions JobSpec.activeDeadlineSeconds
        JobSpec.backoffLimit JobSpec.ttlSecondsAfterFinished JobSpec.completionMode
        JobSpec.suspend JobSpec.podFailurePolicy JobSpec.podReplacementPolicy
        PodFailurePolicy.rules PodFailurePolicyRule.action PodFailurePolicyRule.onExitCodes
        PodFailurePolicyRule.onPodConditions PodFailurePolicyOnExitCodesRequirement.containerName
        PodFailurePolicyOnExitCodesRequirement.operator
        PodFailurePolicyOnExitCodesRequirement.values PodFailurePolicyOnPodConditionsPattern.type
        PodFailurePolicyOnPodConditionsPattern.status JobStatus.uncountedTerminatedPods
        UncountedTerminatedPods.succeeded UncountedTerminatedPods.failed
        JobStatus.completedIndexes""",
    "kube/kinds/job.py": "JobSpec.selector JobSpec.manualSelector",
    "orchestrator/controllers/disruption.py": """
        PodDisruptionBudgetSpec.minAvailable PodDisruptionBudgetSpec.maxUnavailable
        PodDisruptionBudgetSpec.selector""",
    "orchestrator/api/eviction.py": "PodDisruptionBudgetSpec.unhealthyPodEvictionPolicy",
    "orchestrator/controllers/statefulset.py": """
        StatefulSetSpec.replicas StatefulSetSpec.selector StatefulSetSpec.template
        StatefulSetSpec.serviceName StatefulSetSpec.podManagementPolicy
        StatefulSetSpec.updateStrategy StatefulSetSpec.revisionHistoryLimit
        StatefulSetSpec.minReadySeconds StatefulSetSpec.ordinals StatefulSetOrdinals.start
        StatefulSetUpdateStrategy.type StatefulSetUpdateStrategy.rollingUpdate
        RollingUpdateStatefulSetStrategy.partition
        StatefulSetSpec.volumeClaimTemplates PersistentVolumeClaimTemplate.metadata
        PersistentVolumeClaimTemplate.spec RetentionPolicy.whenDeleted RetentionPolicy.whenScaled""",
    "node_agent/dns/records.py": "EndpointAddress.hostname ServiceSpec.externalName",
    "kube/kinds/replicationcontroller.py": """
        ReplicationControllerSpec.replicas ReplicationControllerSpec.minReadySeconds
        ReplicationControllerSpec.selector ReplicationControllerSpec.template""",
    "orchestrator/controllers/daemonset.py": """
        DaemonSetSpec.selector DaemonSetSpec.template DaemonSetSpec.updateStrategy
        DaemonSetSpec.minReadySeconds DaemonSetUpdateStrategy.type
        DaemonSetUpdateStrategy.rollingUpdate RollingUpdateDaemonSet.maxUnavailable
        RollingUpdateDaemonSet.maxSurge DaemonSetSpec.revisionHistoryLimit""",
    "orchestrator/controllers/history.py": "ControllerRevision.data ControllerRevision.revision",
    "orchestrator/controllers/cronjob.py": """
        CronJobSpec.schedule CronJobSpec.timeZone CronJobSpec.startingDeadlineSeconds
        CronJobSpec.concurrencyPolicy CronJobSpec.suspend CronJobSpec.jobTemplate
        CronJobSpec.successfulJobsHistoryLimit CronJobSpec.failedJobsHistoryLimit
        JobTemplateSpec.metadata JobTemplateSpec.spec CronJobStatus.lastScheduleTime""",
    "orchestrator/controllers/replicaset.py": """
        ReplicaSetSpec.replicas ReplicaSetSpec.selector ReplicaSetSpec.template
        ReplicaSetSpec.minReadySeconds""",
    "orchestrator/controllers/rollout.py": """
        DeploymentSpec.replicas DeploymentSpec.selector DeploymentSpec.template
        DeploymentSpec.minReadySeconds
        DeploymentSpec.revisionHistoryLimit DeploymentSpec.progressDeadlineSeconds
        DeploymentSpec.paused DeploymentSpec.strategy DeploymentStrategy.type
        DeploymentStrategy.rollingUpdate RollingUpdateDeployment.maxUnavailable
        RollingUpdateDeployment.maxSurge""",
    "orchestrator/controllers/nodelifecycle.py": """
        NodeSpec.taints Taint.timeAdded Toleration.tolerationSeconds""",
    "orchestrator/scheduler/loop.py": "PodSpec.schedulerName",
    "orchestrator/scheduler/plugins/node_unschedulable.py": "NodeSpec.unschedulable",
    "kube/scheduling.py": """
        PodSpec.nodeSelector PodSpec.affinity Affinity.nodeAffinity
        NodeAffinity.requiredDuringSchedulingIgnoredDuringExecution
        NodeSelector.nodeSelectorTerms NodeSelectorTerm.matchExpressions
        NodeSelectorTerm.matchFields NodeSelectorRequirement.key
        NodeSelectorRequirement.operator NodeSelectorRequirement.values
        Toleration.key Toleration.operator Toleration.value Toleration.effect Taint.key
        Taint.value Taint.effect""",
    "orchestrator/scheduler/plugins/taint_toleration.py": "PodSpec.tolerations",
    "orchestrator/scheduler/plugins/node_affinity.py": """
        NodeAffinity.preferredDuringSchedulingIgnoredDuringExecution
        PreferredSchedulingTerm.weight PreferredSchedulingTerm.preference""",
    "orchestrator/scheduler/plugins/inter_pod_affinity.py": """
        Affinity.podAffinity Affinity.podAntiAffinity
        PodAffinity.requiredDuringSchedulingIgnoredDuringExecution
        PodAffinity.preferredDuringSchedulingIgnoredDuringExecution
        PodAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution
        PodAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution
        WeightedPodAffinityTerm.weight WeightedPodAffinityTerm.podAffinityTerm
        PodAffinityTerm.labelSelector PodAffinityTerm.namespaces PodAffinityTerm.topologyKey
        PodAffinityTerm.namespaceSelector""",
    "orchestrator/scheduler/plugins/pod_topology_spread.py": """
        PodSpec.topologySpreadConstraints TopologySpreadConstraint.maxSkew
        TopologySpreadConstraint.topologyKey TopologySpreadConstraint.whenUnsatisfiable
        TopologySpreadConstraint.labelSelector TopologySpreadConstraint.minDomains
        TopologySpreadConstraint.nodeAffinityPolicy TopologySpreadConstraint.nodeTaintsPolicy
        TopologySpreadConstraint.matchLabelKeys""",
    "orchestrator/scheduler/snapshot.py": "ResourceRequirements.requests ContainerPort.protocol",
    "orchestrator/api/server.py": "PodSpec.nodeName",
}

# Fields honoured by their type alone: the only values the model admits are the behaviour.
CONSTRAINED = {
    "HTTPGetAction.scheme": "only HTTP is admitted, and probes speak HTTP",
    "ContainerPort.name": "a name services' targetPort may refer to (endpoints controller)",
    "Container.ports": "informational in Kubernetes too, but for hostPort (containers.py)",
    "ServiceAccount.secrets": "a record: the legacy token Secrets, which nothing acts on",
    "LocalObjectReference.name": "a Secret's name: ServiceAccount.imagePullSecrets (admission)",
    "SecurityContext.procMount": "Default is what every container gets; Unmasked is refused",
    "StatefulSetSpec.persistentVolumeClaimRetentionPolicy":
        "its two fields are the behaviour (statefulset.py reads them)",
    "PersistentVolumeClaimTemplate.apiVersion": "a claim template's; the claim is v1",
    "PersistentVolumeClaimTemplate.kind": "a claim template's; the claim is a claim",
    "PersistentVolumeClaimTemplate.status": "a record: the template's status is not used",
}

# Records: written by their owner (a controller, an agent, a client) and read back; the server
# stores them as they are.
RECORD_MODELS = {
    "ObjectMeta", "OwnerReference", "Condition", "ObjectReference", "Event", "EventSource",
    "Lease", "LeaseSpec", "NodeAddress", "NodeSystemInfo", "PodIP", "ContainerState",
    "ContainerStateWaiting", "ContainerStateRunning", "ContainerStateTerminated",
    "ContainerStatus", "LoadBalancerStatus", "LoadBalancerIngress", "PortStatus", "PodStatus",
    "NodeStatus", "NamespaceStatus",
    "ServiceStatus", "IngressStatus", "ReplicaSetStatus", "DeploymentStatus", "PodTemplateSpec",
    "ManagedFieldsEntry",  # kept by kube/fieldmanager.py
    "PodDisruptionBudgetStatus",  # the disruption controller's; evictions spend it
    "StatefulSetStatus",  # written by its controller; currentRevision read back
    "DaemonSetStatus",  # written by the daemonset controller; collisionCount read back
    "CronJobStatus",  # written by the cronjob controller, lastScheduleTime read back (above)
    "JobStatus",  # written by the job controller, which reads back what it counted (above)
    "PersistentVolumeClaimStatus",  # written by the persistent volume controller
    "PersistentVolumeStatus",  # written by the persistent volume controller, phase read back
    "ResourceQuotaStatus",  # written by the resource quota controller; admission charges it
}
ENVELOPE = {"apiVersion", "kind", "metadata", "spec", "status", "subsets", "template"}

POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
       "spec": {"containers": [{"name": "c", "image": "orch/web:1"}]}}


def _put(obj: dict, path: str, value) -> dict:
    obj = copy.deepcopy(obj)
    parts = path.replace("[", ".[").split(".")
    node = obj
    for part in parts[:-1]:
        node = node[int(part[1:-1])] if part.startswith("[") else node.setdefault(part, {})
    node[parts[-1]] = value
    return obj


SC = {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "s"},
      "provisioner": "p"}
PV = {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "v"},
      "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
               "hostPath": {"path": "/d"}}}
PVC = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "c"},
       "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}

LB = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
      "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}}

# Refused: (field, a manifest a user would write with it, the path the 422 must name).
REFUSED = [
    ("IngressClassSpec.parameters",
     {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass", "metadata": {"name": "c"},
      "spec": {"controller": "example.com/x", "parameters": {"kind": "X", "name": "y"}}},
     "spec.parameters"),
    ("IngressBackend.resource",
     {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "i"},
      "spec": {"defaultBackend": {"resource": {"kind": "Bucket", "name": "b"}}}},
     "spec.defaultBackend.resource"),
    ("ServiceSpec.loadBalancerSourceRanges",
     _put(LB, "spec.loadBalancerSourceRanges", ["10.0.0.0/8"]), "spec.loadBalancerSourceRanges"),
    ("ServiceSpec.healthCheckNodePort", _put(LB, "spec.healthCheckNodePort", 30500),
     "spec.healthCheckNodePort"),
    ("ServiceSpec.externalIPs", _put(LB, "spec.externalIPs", ["192.168.56.99"]),
     "spec.externalIPs"),
    ("ServiceSpec.internalTrafficPolicy", _put(LB, "spec.internalTrafficPolicy", "Local"),
     "spec.internalTrafficPolicy"),
    ("SecurityContext.procMount",
     _put(POD, "spec.containers[0].securityContext", {"procMount": "Unmasked"}),
     "spec.containers[0].securityContext.procMount"),
    ("RollingUpdateStatefulSetStrategy.maxUnavailable",
     {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "s"},
      "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {
          "metadata": {"labels": {"a": "b"}}, "spec": POD["spec"]},
          "updateStrategy": {"rollingUpdate": {"maxUnavailable": 2}}}},
     "spec.updateStrategy.rollingUpdate.maxUnavailable"),
    ("DownwardAPIVolumeFile.resourceFieldRef",
     _put(POD, "spec.volumes", [{"name": "v", "downwardAPI": {"items": [
         {"path": "cpu", "resourceFieldRef": {"resource": "limits.cpu"}}]}}]),
     "spec.volumes[0].downwardAPI.items[0].resourceFieldRef"),
    ("VolumeProjection.clusterTrustBundle",
     _put(POD, "spec.volumes", [{"name": "v", "projected": {"sources": [
         {"clusterTrustBundle": {"path": "b"}}]}}]),
     "spec.volumes[0].projected.sources[0].clusterTrustBundle"),
    ("LifecycleHandler.tcpSocket",
     _put(POD, "spec.containers[0].lifecycle", {"preStop": {"tcpSocket": {"port": 80}}}),
     "spec.containers[0].lifecycle.preStop.tcpSocket"),
    ("SeccompProfile.localhostProfile",
     _put(POD, "spec.securityContext", {"seccompProfile": {"type": "Localhost",
                                                           "localhostProfile": "p.json"}}),
     "spec.securityContext.seccompProfile.type"),
    ("StorageClass.reclaimPolicy", {**SC, "reclaimPolicy": "Recycle"}, "reclaimPolicy"),
    ("StorageClass.allowVolumeExpansion", {**SC, "allowVolumeExpansion": True},
     "allowVolumeExpansion"),
    ("StorageClass.mountOptions", {**SC, "mountOptions": ["ro"]}, "mountOptions"),
    ("StorageClass.allowedTopologies", {**SC, "allowedTopologies": [{}]}, "allowedTopologies"),
    ("PersistentVolumeSpec.persistentVolumeReclaimPolicy",
     _put(PV, "spec.persistentVolumeReclaimPolicy", "Recycle"),
     "spec.persistentVolumeReclaimPolicy"),
    ("PersistentVolumeSpec.volumeMode", _put(PV, "spec.volumeMode", "Block"), "spec.volumeMode"),
    ("PersistentVolumeSpec.mountOptions", _put(PV, "spec.mountOptions", ["ro"]),
     "spec.mountOptions"),
    ("PersistentVolumeSpec.volumeAttributesClassName",
     _put(PV, "spec.volumeAttributesClassName", "gold"), "spec.volumeAttributesClassName"),
    ("LocalVolumeSource.fsType", _put(_put(PV, "spec.hostPath", None), "spec.local",
                                      {"path": "/d", "fsType": "ext4"}), "spec.local.fsType"),
    ("PersistentVolumeClaimSpec.dataSource",
     _put(PVC, "spec.dataSource", {"kind": "PersistentVolumeClaim", "name": "x"}),
     "spec.dataSource"),
    ("PersistentVolumeClaimSpec.dataSourceRef",
     _put(PVC, "spec.dataSourceRef", {"kind": "PersistentVolumeClaim", "name": "x"}),
     "spec.dataSourceRef"),
    ("ResourceQuotaSpec.scopes", {"apiVersion": "v1", "kind": "ResourceQuota",
                                  "metadata": {"name": "q"}, "spec": {"scopes": ["BestEffort"]}},
     "spec.scopes"),
    ("ResourceQuotaSpec.scopeSelector", {"apiVersion": "v1", "kind": "ResourceQuota",
                                         "metadata": {"name": "q"},
                                         "spec": {"scopeSelector": {"matchExpressions": []}}},
     "spec.scopeSelector"),
    ("VolumeResourceRequirements.limits",
     _put(PVC, "spec.resources.limits", {"storage": "2Gi"}), "spec.resources.limits"),
    ("PersistentVolumeClaimSpec.volumeAttributesClassName",
     _put(PVC, "spec.volumeAttributesClassName", "gold"), "spec.volumeAttributesClassName"),
]


def _models(annotation) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models(arg)]


def _all_models() -> list[type[BaseModel]]:
    """Every model reachable from a served kind, each once."""
    seen: list[type[BaseModel]] = []

    def visit(model: type[BaseModel]) -> None:
        if model in seen:
            return
        seen.append(model)
        for field in model.model_fields.values():
            for sub in _models(field.annotation):
                visit(sub)

    for rt in RESOURCES:
        visit(rt.model)
    return seen


def every_field() -> list[str]:
    """"Model.jsonName" for every field reachable from a served kind."""
    return [f"{m.__name__}.{f.alias or name}" for m in _all_models()
            for name, f in m.model_fields.items()]


def _table() -> dict[str, str]:
    return {field: module for module, fields in HONOURED.items() for field in fields.split()}


def test_every_field_is_honoured_recorded_or_refused():
    honoured, refused = _table(), {r[0] for r in REFUSED}
    unclassified = []
    for field in every_field():
        model, _, name = field.partition(".")
        if field in honoured or field in refused or field in CONSTRAINED:
            continue
        if model in RECORD_MODELS or name in ENVELOPE:
            continue
        unclassified.append(field)
    assert unclassified == [], "classify these fields (HONOURED, REFUSED or a record)"


@pytest.mark.parametrize("field,module", sorted(_table().items()), ids=lambda v: v)
def test_the_module_that_honours_a_field_acts_on_it(field, module):
    assert field in every_field(), f"{field} is no longer a field: remove it from the table"
    model, _, name = field.partition(".")
    attribute = next(a for m in _all_models() if m.__name__ == model
                     for a, f in m.model_fields.items() if (f.alias or a) == name)
    text = (REPO / module).read_text()
    assert f'"{name}"' in text or f".{attribute}" in text, f"{module} never mentions {name}"


@pytest.mark.parametrize("field,manifest,path", REFUSED, ids=[r[0] for r in REFUSED])
def test_a_refused_field_is_answered_422_naming_it(field, manifest, path):
    with pytest.raises(Invalid) as caught:
        validate_create(by_kind(manifest["apiVersion"], manifest["kind"]), manifest, "default")
    errors = {e.field: e for e in caught.value.errors}
    assert path in errors and errors[path].reason == FORBIDDEN
    assert "not implemented" in errors[path].message


@pytest.mark.parametrize("path,ok", [
    ("metadata.labels['app']", True), ("metadata.annotations['a.b/c']", True),
    ("status.podIPs", True), ("metadata.labels", False), ("spec.serviceAccountName", False),
    ("metadata.labels['bad key']", False)], ids=lambda v: str(v))
def test_env_field_refs_are_kubernetes_paths(path, ok):
    pod = _put(POD, "spec.containers[0].env",
               [{"name": "X", "valueFrom": {"fieldRef": {"fieldPath": path}}}])
    if ok:
        validate_create(by_kind("v1", "Pod"), pod, "default")
    else:
        with pytest.raises(Invalid):
            validate_create(by_kind("v1", "Pod"), pod, "default")


def test_a_namespace_finalizer_other_than_kubernetes_is_refused():
    ns = {"metadata": {"name": "n"}, "spec": {"finalizers": ["example.com/wait"]}}
    with pytest.raises(Invalid) as caught:
        validate_create(by_kind("v1", "Namespace"), ns)
    assert caught.value.errors[0].field == "spec.finalizers"
    validate_create(by_kind("v1", "Namespace"), {**ns, "spec": {"finalizers": ["kubernetes"]}})


# --- query parameters ---

# Every query parameter of Kubernetes' API (v1.31 reference), by verb.
KUBERNETES_PARAMETERS = {
    "get": {"pretty", "resourceVersion"},
    "list": {"allowWatchBookmarks", "continue", "fieldSelector", "labelSelector", "limit",
             "pretty", "resourceVersion", "resourceVersionMatch", "sendInitialEvents",
             "timeoutSeconds", "watch"},
    "create": {"dryRun", "fieldManager", "fieldValidation", "pretty"},
    "update": {"dryRun", "fieldManager", "fieldValidation", "pretty"},
    "patch": {"dryRun", "fieldManager", "fieldValidation", "force", "pretty"},
    "delete": {"dryRun", "gracePeriodSeconds", "ignoreStoreReadErrorWithClusterBreakingPotential",
               "orphanDependents", "pretty", "propagationPolicy"},
    "deletecollection": {"continue", "dryRun", "fieldSelector", "gracePeriodSeconds",
                         "ignoreStoreReadErrorWithClusterBreakingPotential", "labelSelector",
                         "limit", "orphanDependents", "pretty", "propagationPolicy",
                         "resourceVersion", "resourceVersionMatch", "sendInitialEvents",
                         "timeoutSeconds"},
    "log": {"container", "follow", "insecureSkipTLSVerifyBackend", "limitBytes", "pretty",
            "previous", "sinceSeconds", "sinceTime", "stream", "tailLines", "timestamps"},
    "exec": {"command", "container", "stderr", "stdin", "stdout", "tty"},
    "attach": {"container", "stderr", "stdin", "stdout", "tty"},
}


def test_every_kubernetes_parameter_is_honoured_or_refused_by_the_table():
    for verb, known in KUBERNETES_PARAMETERS.items():
        honoured = parameters.PARAMETERS[verb]
        # watch on a list's URL is the legacy form; includeObject is a Table's (server-side
        # printing: Kubernetes documents it with content negotiation, not per verb); timeout
        # is the apiserver's own request deadline, every request's (client-go sends it)
        assert honoured - known - {"watch", "includeObject", "timeout"} == set(), \
            f"{verb}: not Kubernetes parameters"
        for name in known - honoured:
            with pytest.raises(Exception) as caught:
                parameters.check(verb, None if verb not in ("log", "exec") else verb,
                                 {name: "true"})
            assert caught.value.code == 400 and name in caught.value.message


@pytest.mark.parametrize("value,ok", [("Strict", True), ("Warn", True), ("Ignore", True),
                                      ("strict", False), ("Bogus", False)])
def test_field_validation_takes_kubernetes_three_values(value, ok):
    if ok:
        parameters.check("create", None, {"fieldValidation": value})
    else:
        with pytest.raises(Exception) as caught:
            parameters.check("create", None, {"fieldValidation": value})
        assert caught.value.code == 400


# Over HTTPS against the real server and etcd: the parameters that would change what is
# stored are refused before anything is written.

def write_beside_a_configmap(api, ns, method, url, params):
    """A ConfigMap `cm` (as it is before), then `method` on `url`: a write of `cm` (or of a new
    one, for a POST) with data a=2. Returns (session, the configmaps' URL, before, response)."""
    admin = api.session("admin")
    base = f"{api.url}/api/v1/namespaces/{ns}/configmaps"
    admin.post(base, json={"metadata": {"name": "cm"}, "data": {"a": "1"}}).raise_for_status()
    before = admin.get(f"{base}/cm").json()
    body = {"metadata": {"name": "cm" if method != "POST" else "new"}, "data": {"a": "2"}}
    headers = {"Content-Type": "application/merge-patch+json"} if method == "PATCH" else {}
    r = admin.request(method, url, params=params,
                      json=body if method in ("POST", "PUT", "PATCH") else None, headers=headers)
    return admin, base, before, r


@pytest.mark.parametrize("method,path,params", [
    ("POST", "/api/v1/namespaces/{ns}/configmaps", {"dryRun": "Yes"}),
    ("PUT", "/api/v1/namespaces/{ns}/configmaps/cm", {"dryRun": "true"}),
    ("PATCH", "/api/v1/namespaces/{ns}/configmaps/cm", {"dryRun": "all"}),
    ("DELETE", "/api/v1/namespaces/{ns}/configmaps/cm", {"dryRun": ""}),
    ("GET", "/api/v1/namespaces/{ns}/configmaps", {"watch": "true", "sendInitialEvents": "true"}),
    ("GET", "/api/v1/namespaces/{ns}/configmaps", {"bogus": "1"}),
    ("PATCH", "/api/v1/namespaces/{ns}/configmaps/cm", {"force": "true"}),
    ("DELETE", "/api/v1/namespaces/{ns}/configmaps", {"resourceVersion": "1"}),
], ids=["create-bad-dry-run", "update-bad-dry-run", "patch-bad-dry-run", "delete-bad-dry-run",
        "sendInitialEvents", "unknown", "force", "deletecollection-at-a-version"])
def test_a_request_with_a_refused_parameter_changes_nothing(api, ns, method, path, params):
    admin, base, before, r = write_beside_a_configmap(api, ns, method,
                                                      api.url + path.format(ns=ns), params)
    assert r.status_code == 400, r.text
    name = next(iter(p for p in params if p != "watch"))
    assert name in r.json()["message"]
    assert admin.get(f"{base}/cm").json() == before
    assert admin.get(f"{base}/new").status_code == 404


@pytest.mark.parametrize("method,suffix,code", [
    ("POST", "", 201), ("PUT", "/cm", 200), ("PATCH", "/cm", 200), ("DELETE", "/cm", 200),
    ("DELETE", "", 200)], ids=["create", "update", "patch", "delete", "deletecollection"])
def test_a_dry_run_answers_what_would_be_stored_and_writes_nothing(api, ns, method, suffix, code):
    url = f"{api.url}/api/v1/namespaces/{ns}/configmaps{suffix}"
    admin, base, before, r = write_beside_a_configmap(api, ns, method, url, {"dryRun": "All"})
    assert r.status_code == code, r.text
    if method in ("POST", "PUT", "PATCH"):
        assert r.json()["data"] == {"a": "2"}  # the object as it would be stored
    if method == "POST":
        assert r.json()["metadata"]["uid"] and "resourceVersion" not in r.json()["metadata"]
    assert admin.get(f"{base}/cm").json() == before
    assert admin.get(f"{base}/new").status_code == 404


def test_a_dry_run_checks_like_a_write_and_keeps_no_allocation(api, ns):
    admin = api.session("admin")
    base = f"{api.url}/api/v1/namespaces/{ns}"
    exists = admin.post(f"{base}/configmaps", json={"metadata": {"name": "cm"}})
    assert exists.status_code == 201
    again = admin.post(f"{base}/configmaps", params={"dryRun": "All"},
                       json={"metadata": {"name": "cm"}})
    assert again.status_code == 409 and again.json()["reason"] == "AlreadyExists"
    invalid = admin.post(f"{base}/configmaps", params={"dryRun": "All"},
                         json={"metadata": {"name": "Bad_Name"}})
    assert invalid.status_code == 422
    service = {"metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}}
    dry = admin.post(f"{base}/services", params={"dryRun": "All"}, json=service)
    assert dry.status_code == 201, dry.text
    ip = dry.json()["spec"]["clusterIP"]
    # the address was chosen, not kept: a real Service may ask for it
    real = admin.post(f"{base}/services", json={**service, "spec": {**service["spec"],
                                                                    "clusterIP": ip}})
    assert real.status_code == 201, real.text


def test_log_parameters_are_checked_before_the_agent_is_asked(api, ns):
    admin: requests.Session = api.session("admin")
    url = f"{api.url}/api/v1/namespaces/{ns}/pods/nope/log"
    assert admin.get(url, params={"sinceSeconds": "5", "sinceTime": "2026-01-01T00:00:00Z"}
                     ).status_code == 400
    assert admin.get(url, params={"sinceTime": "yesterday"}).status_code == 400
    assert admin.get(url, params={"limitBytes": "-1"}).status_code == 400
    assert admin.get(url, params={"limitBytes": "10"}).status_code == 404  # no such pod


@pytest.mark.parametrize("secret_type,data,ok", [
    ("Opaque", {}, True),
    ("kubernetes.io/tls", {"tls.crt": "YQ==", "tls.key": "YQ=="}, True),
    ("kubernetes.io/tls", {"tls.crt": "YQ=="}, False),
    ("kubernetes.io/basic-auth", {"password": "YQ=="}, True),
    ("kubernetes.io/basic-auth", {"other": "YQ=="}, False),
    ("kubernetes.io/dockerconfigjson", {}, False),
    ("example.com/custom", {}, True),
], ids=lambda v: str(v))
def test_a_secret_of_a_built_in_type_needs_its_keys(secret_type, data, ok):
    secret = {"metadata": {"name": "s"}, "type": secret_type, "data": data}
    if ok:
        validate_create(by_kind("v1", "Secret"), secret, "default")
    else:
        with pytest.raises(Invalid):
            validate_create(by_kind("v1", "Secret"), secret, "default")


@pytest.mark.parametrize("options,code", [
    ({"dryRun": ["All"]}, 200),
    ({"dryRun": ["Everything"]}, 400),
    ({"bogus": True}, 400),
    ({"preconditions": {"uid": "not-its-uid"}}, 409),
    ({"preconditions": {"name": "x"}}, 400),
], ids=["dry-run-in-the-body", "bad-dry-run-in-the-body", "unknown-field", "uid-precondition",
        "unknown-precondition"])
def test_delete_options_are_honoured_or_refused_before_anything_goes(api, ns, options, code):
    admin = api.session("admin")
    url = f"{api.url}/api/v1/namespaces/{ns}/configmaps"
    admin.post(url, json={"metadata": {"name": "cm"}}).raise_for_status()
    r = admin.delete(f"{url}/cm", json=options)
    assert r.status_code == code, r.text
    assert admin.get(f"{url}/cm").status_code == 200


def test_a_delete_whose_uid_precondition_holds_deletes(api, ns):
    admin = api.session("admin")
    url = f"{api.url}/api/v1/namespaces/{ns}/configmaps"
    uid = admin.post(url, json={"metadata": {"name": "cm"}}).json()["metadata"]["uid"]
    assert admin.delete(f"{url}/cm", json={"kind": "DeleteOptions", "apiVersion": "v1",
                                           "preconditions": {"uid": uid}}).status_code == 200
    assert admin.get(f"{url}/cm").status_code == 404
