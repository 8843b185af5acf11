"""API objects: defaults filled as Kubernetes fills them, and every bad manifest refused with
the offending field named."""

from __future__ import annotations

import copy

import pytest

from kube.meta import LabelSelector, selector_matches
from kube.quantity import QuantityError, cpu_millis, memory_bytes, parse_quantity
from kube.registry import RESOURCES, UnknownKind, by_kind, by_name, by_path
from kube.validation import StrictDecodingError, Invalid, validate_create, validate_update

DEPLOYMENT = {
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
    "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
             "template": {"metadata": {"labels": {"app": "web"}},
                          "spec": {"containers": [{"name": "web", "image": "orch/web:1",
                                                   "ports": [{"containerPort": 80}]}]}}},
}
POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
       "spec": {"containers": [{"name": "c", "image": "orch/web:1"}]}}
SERVICE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
           "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}

MINIMAL = {
    "Namespace": {"metadata": {"name": "team-a"}},
    "Node": {"metadata": {"name": "host1"}},
    "Pod": POD,
    "Service": SERVICE,
    "Endpoints": {"metadata": {"name": "web"}, "subsets": [{"addresses": [{"ip": "10.244.1.2"}],
                                                            "ports": [{"port": 80}]}]},
    "ConfigMap": {"metadata": {"name": "cfg"}, "data": {"a.txt": "x"}},
    "Secret": {"metadata": {"name": "s"}, "stringData": {"password": "hunter2"}},
    "Event": {"metadata": {"name": "e1"}, "involvedObject": {"kind": "Pod", "name": "p"}},
    "ReplicaSet": {**DEPLOYMENT, "apiVersion": "apps/v1", "kind": "ReplicaSet"},
    "Deployment": DEPLOYMENT,
    "Lease": {"metadata": {"name": "host1"}, "spec": {"holderIdentity": "host1"}},
}


def with_change(obj, path, value):
    """A deep copy of `obj` with `path` ("spec.ports[0].port") set to `value` (or removed when
    value is DELETE)."""
    out = copy.deepcopy(obj)
    parts = path.replace("]", "").replace("[", ".").split(".")
    target = out
    for part in parts[:-1]:
        target = target[int(part)] if part.isdigit() else target.setdefault(part, {})
    last = parts[-1]
    if value is DELETE:
        del target[int(last) if last.isdigit() else last]
    else:
        target[int(last) if last.isdigit() else last] = value
    return out


DELETE = object()


@pytest.mark.parametrize("kind", sorted(MINIMAL), ids=str)
def test_a_minimal_object_of_every_kind_is_accepted(kind):
    rt = next(r for r in RESOURCES if r.kind == kind)
    out = validate_create(rt, {"apiVersion": rt.api_version, "kind": kind, **MINIMAL[kind]},
                          "default")
    assert out["kind"] == kind and out["apiVersion"] == rt.api_version
    assert ("namespace" in out["metadata"]) == rt.namespaced


def test_defaults_are_filled_as_kubernetes_fills_them():
    d = validate_create(by_kind("apps/v1", "Deployment"), DEPLOYMENT, "default")
    assert d["metadata"]["namespace"] == "default"
    assert d["spec"]["strategy"] == {"type": "RollingUpdate",
                                     "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}
    assert d["spec"]["revisionHistoryLimit"] == 10
    assert d["spec"]["progressDeadlineSeconds"] == 600
    pod = d["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Always"
    assert pod["terminationGracePeriodSeconds"] == 30
    assert pod["dnsPolicy"] == "ClusterFirst"
    assert pod["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    assert pod["containers"][0]["ports"][0]["protocol"] == "TCP"
    svc = validate_create(by_kind("v1", "Service"), SERVICE, "default")
    assert svc["spec"]["type"] == "ClusterIP" and svc["spec"]["sessionAffinity"] == "None"
    assert svc["spec"]["ports"][0] == {"protocol": "TCP", "port": 80, "targetPort": 80}


@pytest.mark.parametrize("image,policy", [
    ("orch/web", "Always"), ("orch/web:latest", "Always"), ("orch/web:1", "IfNotPresent"),
    ("registry:5000/web", "Always"), ("registry:5000/web:2", "IfNotPresent"),
    ("web@sha256:" + "a" * 64, "IfNotPresent"),
], ids=["no-tag", "latest", "tag", "registry-port-no-tag", "registry-port-tag", "digest"])
def test_image_pull_policy_defaults_from_the_tag(image, policy):
    pod = validate_create(by_kind("v1", "Pod"),
                          with_change(POD, "spec.containers[0].image", image), "default")
    assert pod["spec"]["containers"][0]["imagePullPolicy"] == policy


def test_a_limit_without_a_request_sets_the_request():
    pod = validate_create(by_kind("v1", "Pod"), with_change(
        POD, "spec.containers[0].resources", {"limits": {"cpu": "500m", "memory": "128Mi"}}), "d")
    assert pod["spec"]["containers"][0]["resources"]["requests"] == {"cpu": "500m", "memory": "128Mi"}


def test_secret_string_data_is_stored_as_base64_data():
    s = validate_create(by_kind("v1", "Secret"),
                        {"metadata": {"name": "s"}, "stringData": {"password": "hunter2"}}, "d")
    assert s["data"] == {"password": "aHVudGVyMg=="} and "stringData" not in s


BAD = [
    ("deployment", DEPLOYMENT, "spec.template.spec.containers[0].image", DELETE,
     "spec.template.spec.containers[0].image: Required value"),
    ("deployment", DEPLOYMENT, "spec.template.spec.readinessGates", [],
     "spec.template.spec.readinessGates: Forbidden: a Kubernetes field this orchestrator does "
     "not implement"),
    ("deployment", DEPLOYMENT, "spec.strategy", {"type": "BlueGreen"},
     "spec.strategy.type: Unsupported value: 'BlueGreen'"),
    ("deployment", DEPLOYMENT, "spec.selector.matchLabels", {"app": "other"},
     "spec: selector does not match template labels"),
    ("deployment", DEPLOYMENT, "spec.replicas", -1, "spec.replicas: Input should be greater"),
    ("deployment", DEPLOYMENT, "spec.strategy", {"rollingUpdate": {"maxSurge": "lots"}},
     "maxSurge: 'lots' must be an integer or a percentage"),
    ("deployment", DEPLOYMENT, "metadata.name", "Web_1", "metadata.name: Invalid value: 'Web_1'"),
    ("deployment", DEPLOYMENT, "metadata.labels", {"bad key!": "x"}, "metadata.labels: label key 'bad key!'"),
    ("deployment", DEPLOYMENT, "metadata.labels", {"app": "-bad-"},
     "label value '-bad-' of 'app'"),
    ("pod", POD, "spec.containers[0].ports", [{"containerPort": 70000}],
     "spec.containers[0].ports[0].containerPort: Input should be less than or equal to 65535"),
    ("pod", POD, "spec.containers[0].resources", {"requests": {"cpu": "lots"}},
     "'lots' is not a quantity"),
    ("pod", POD, "spec.containers[0].resources", {"requests": {"memory": "2Gi"},
                                                  "limits": {"memory": "1Gi"}},
     "requests.memory must be less than or equal to limits.memory"),
    ("pod", POD, "spec.containers[0].resources", {"requests": {"gpu": "1"}},
     "Unsupported value: 'gpu'"),
    ("pod", POD, "spec.restartPolicy", "Sometimes", "spec.restartPolicy: Unsupported value"),
    ("pod", POD, "spec.containers[0].volumeMounts", [{"name": "data", "mountPath": "/d"}],
     "mounts volume 'data', which is not in spec.volumes"),
    ("pod", POD, "spec.containers[0].livenessProbe", {"periodSeconds": 5},
     "exactly one of httpGet, tcpSocket, exec is required"),
    ("pod", POD, "spec.containers[0].env", [{"name": "1BAD", "value": "x"}],
     "a valid environment variable name"),
    ("pod", POD, "spec.containers", [], "spec.containers: List should have at least 1 item"),
    ("pod", POD, "spec.runtimeClassName", "gvisor",
     "spec.runtimeClassName: Forbidden: a Kubernetes field"),
    ("pod", POD, "metadata.namespace", "other", "does not match the namespace of the request"),
    ("pod", POD, "kind", "Deployment", "kind: Invalid value: 'Deployment'"),
    ("service", SERVICE, "spec.type", "ExternalName", "externalName: Required value"),
    ("service", SERVICE, "spec.externalName", "docs.example.com",
     "externalName: Forbidden: may only be set when type is ExternalName"),
    ("service", SERVICE, "spec.ports", [{"port": 80}, {"port": 81}],
     "each port must have a name when there is more than one"),
    ("service", SERVICE, "spec.type", "Balanced", "spec.type: Unsupported value"),
    ("service", SERVICE, "spec.externalTrafficPolicy", "Local", "may only be set for externally"),
    ("service", SERVICE, "spec.loadBalancerIP", "10.0.0.1", "may only be used when `type` is"),
    ("service", SERVICE, "spec.ports[0].nodePort", 30080,
     "nodePort may only be set when type is NodePort"),
    ("service", SERVICE, "metadata.name", "1web", "metadata.name: Invalid value: '1web'"),
    ("service", SERVICE, "spec.ports", [], "ports: Required value"),
    ("service", SERVICE, "spec.ports[0].name", "Web_80", "spec.ports[0].name: 'Web_80': must "
     "consist of lower case"),
]


@pytest.mark.parametrize("kind,base,path,value,message", BAD,
                         ids=[f"{b[0]}-{b[2]}-{i}" for i, b in enumerate(BAD)])
def test_a_bad_manifest_is_refused_naming_the_field(kind, base, path, value, message):
    rt = {"deployment": by_kind("apps/v1", "Deployment"), "pod": by_kind("v1", "Pod"),
          "service": by_kind("v1", "Service")}[kind]
    with pytest.raises(Invalid) as caught:
        validate_create(rt, with_change(base, path, value), "default")
    assert message in str(caught.value)


def test_a_field_kubernetes_does_not_know_follows_field_validation():
    """A typo (a field Kubernetes' own schema lacks) is a strict decoding error, or dropped
    with a warning, or dropped; a field Kubernetes has and this orchestrator does not is
    refused whatever the mode."""
    rt = by_kind("apps/v1", "Deployment")
    typo = with_change(DEPLOYMENT, "spec.template.spec.containers[0].imagePullPolcy", "Always")
    with pytest.raises(StrictDecodingError, match='unknown field "spec.template.spec.'
                                                  'containers\\[0\\].imagePullPolcy"'):
        validate_create(rt, typo, "default")
    warnings: list[str] = []
    stored = validate_create(rt, typo, "default", "Warn", warnings)
    assert "imagePullPolcy" not in stored["spec"]["template"]["spec"]["containers"][0]
    assert warnings == ['unknown field "spec.template.spec.containers[0].imagePullPolcy"']
    quiet: list[str] = []
    validate_create(rt, typo, "default", "Ignore", quiet)
    assert quiet == []
    unimplemented = with_change(DEPLOYMENT, "spec.template.spec.runtimeClassName", "gvisor")
    for mode in ("Warn", "Ignore"):
        with pytest.raises(Invalid, match="runtimeClassName: Forbidden"):
            validate_create(rt, unimplemented, "default", mode, [])


def test_an_empty_port_name_is_no_name_and_a_headless_service_needs_no_ports():
    """As Kubernetes validates them: a port name is checked only when it is not empty, and only
    a service that is not headless needs a port."""
    rt = by_kind("v1", "Service")
    named = validate_create(rt, {**SERVICE, "spec": {"ports": [{"name": "", "port": 80}]}}, "d")
    assert named["spec"]["ports"][0]["port"] == 80
    headless = validate_create(rt, {**SERVICE, "spec": {"clusterIP": "None",
                                                        "selector": {"app": "db"}}}, "d")
    assert headless["spec"]["ports"] == []
    # a Service's port name is a DNS label (kubectl create service names them "80-8080"); a
    # container's is an IANA service name, which needs a letter
    digits = validate_create(rt, {**SERVICE, "spec": {"ports": [{"name": "80-8080", "port": 80}]}},
                             "d")
    assert digits["spec"]["ports"][0]["name"] == "80-8080"


def test_a_cluster_scoped_kind_refuses_a_namespace():
    with pytest.raises(Invalid, match="metadata.namespace: Forbidden: Node is not namespaced"):
        validate_create(by_kind("v1", "Node"), {"metadata": {"name": "n", "namespace": "x"}})


@pytest.mark.parametrize("kind,base,path,value,message", [
    ("Deployment", DEPLOYMENT, "spec.selector.matchLabels", {"app": "web", "v": "2"},
     "spec.selector: Invalid value: field is immutable"),
    ("Pod", POD, "spec.restartPolicy", "Never", "pod updates may not change fields"),
], ids=["deployment-selector", "pod-spec"])
def test_an_update_may_not_change_an_immutable_field(kind, base, path, value, message):
    rt = next(r for r in RESOURCES if r.kind == kind)
    old = validate_create(rt, base, "default")
    new = with_change(old, path, value)
    if kind == "Deployment":
        new = with_change(new, "spec.template.metadata.labels", {"app": "web", "v": "2"})
    with pytest.raises(Invalid, match=message):
        validate_update(rt, old, new, "default")


def test_an_update_may_change_a_pods_image():
    rt = by_kind("v1", "Pod")
    old = validate_create(rt, POD, "default")
    new = validate_update(rt, old, with_change(old, "spec.containers[0].image", "orch/web:2"))
    assert new["spec"]["containers"][0]["image"] == "orch/web:2"


@pytest.mark.parametrize("text,value", [
    ("500m", "0.5"), ("2", "2"), ("0.5", "0.5"), ("128Mi", str(128 * 2**20)),
    ("1Gi", str(2**30)), ("1k", "1000"), ("1e3", "1000"), ("1.5G", "1500000000"),
], ids=str)
def test_quantities_parse_exactly(text, value):
    from decimal import Decimal
    assert parse_quantity(text) == Decimal(value)


@pytest.mark.parametrize("text", ["", "lots", "1.2.3", "5 Mi", "Mi", "1mi"], ids=repr)
def test_malformed_quantities_are_refused(text):
    with pytest.raises(QuantityError):
        parse_quantity(text)


def test_cpu_and_memory_units():
    assert cpu_millis("500m") == 500 and cpu_millis("2") == 2000 and cpu_millis("0.0001") == 1
    assert memory_bytes("128Mi") == 134217728


@pytest.mark.parametrize("selector,labels,matches", [
    ({}, {"a": "1"}, True),
    ({"matchLabels": {"a": "1"}}, {"a": "1", "b": "2"}, True),
    ({"matchLabels": {"a": "1"}}, {"a": "2"}, False),
    ({"matchExpressions": [{"key": "a", "operator": "In", "values": ["1", "2"]}]}, {"a": "2"}, True),
    ({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, {}, True),
    ({"matchExpressions": [{"key": "a", "operator": "Exists"}]}, {}, False),
    ({"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]}, {"a": "1"}, False),
], ids=["empty", "labels-subset", "labels-differ", "in", "notin-absent", "exists", "doesnotexist"])
def test_label_selectors(selector, labels, matches):
    assert selector_matches(LabelSelector.model_validate(selector), labels) is matches


def test_kinds_are_found_by_kind_path_and_short_name():
    assert by_kind("apps/v1", "Deployment").resource == "deployments"
    assert by_path("", "v1", "pods").kind == "Pod"
    assert by_path("coordination.k8s.io", "v1", "leases").kind == "Lease"
    assert by_name("deploy").kind == "Deployment" and by_name("svc").kind == "Service"
    with pytest.raises(UnknownKind):
        by_kind("v1", "Deployment")
