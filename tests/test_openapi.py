"""The OpenAPI documents (kube/openapi.py): valid by the specification, Kubernetes' names and
extensions, generated from every kind; and served by the API over real HTTPS."""

from __future__ import annotations

import pytest
from openapi_spec_validator import validate

from kube import openapi
from kube.kinds import KINDS

SCHEMAS = "#/components/schemas/"


def schema(doc: dict, name: str) -> dict:
    return doc["components"]["schemas"][name]


@pytest.mark.parametrize("path", openapi.group_versions())
def test_every_group_version_document_is_valid_openapi_3(path):
    validate(openapi.v3_document(path))


def test_the_v2_document_is_valid_swagger_2():
    document = openapi.v2_document()
    validate(document)
    assert "io.k8s.api.apps.v1.Deployment" in document["definitions"]


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_every_kind_has_its_schema_and_operations_with_its_group_version_kind(kind):
    doc = openapi.v3_document(openapi.document_path(kind))
    gvk = {"group": kind.group, "version": kind.version, "kind": kind.kind}
    top = schema(doc, openapi.schema_name(kind.model))
    assert top["x-kubernetes-group-version-kind"] == [gvk]
    assert {"apiVersion", "kind", "metadata"} <= set(top["properties"])
    operations = [op for item in doc["paths"].values() for verb, op in item.items()
                  if verb != "parameters" and op["x-kubernetes-group-version-kind"] == gvk]
    assert {op["x-kubernetes-action"] for op in operations} == {
        "list", "post", "deletecollection", "get", "put", "patch", "delete"}
    for op in operations:
        if op["x-kubernetes-action"] in ("post", "put", "patch"):
            assert "fieldValidation" in {p["name"] for p in op["parameters"]}


def test_schemas_have_kubernetes_names_and_form():
    core = openapi.v3_document("api/v1")
    pod = schema(core, "io.k8s.api.core.v1.Pod")
    # a reference with Kubernetes' own description, wrapped in allOf as Kubernetes writes it
    metadata = pod["properties"]["metadata"]
    assert metadata["allOf"] == [{"$ref": SCHEMAS + "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}]
    assert metadata["description"].startswith("Standard object's metadata.")
    assert pod["description"].startswith("Pod is a collection of containers")
    assert pod["properties"]["kind"]["enum"] == ["Pod"]
    spec = schema(core, "io.k8s.api.core.v1.PodSpec")
    assert "title" not in spec and spec["required"] == ["containers"]
    assert spec["properties"]["nodeName"]["type"] == "string"  # optional: no null type
    assert "anyOf" not in spec["properties"]["nodeName"]
    target = schema(core, "io.k8s.api.core.v1.ServicePort")["properties"]["targetPort"]
    assert target["x-kubernetes-int-or-string"] is True and "type" not in target


def test_lists_carry_their_merge_key_and_strategy_from_the_kinds():
    core = openapi.v3_document("api/v1")
    containers = schema(core, "io.k8s.api.core.v1.PodSpec")["properties"]["containers"]
    assert (containers["x-kubernetes-patch-merge-key"], containers["x-kubernetes-patch-strategy"],
            containers["x-kubernetes-list-type"], containers["x-kubernetes-list-map-keys"]) == (
        "name", "merge", "map", ["name"])
    env = schema(core, "io.k8s.api.core.v1.Container")["properties"]["env"]
    assert env["x-kubernetes-patch-merge-key"] == "name"
    command = schema(core, "io.k8s.api.core.v1.Container")["properties"]["command"]
    assert command["x-kubernetes-list-type"] == "atomic"
    # A Deployment's pod template is the same PodSpec schema, with the same metadata.
    apps = openapi.v3_document("apis/apps/v1")
    template = schema(apps, "io.k8s.api.apps.v1.DeploymentSpec")["properties"]["template"]
    assert template["allOf"] == [{"$ref": SCHEMAS + "io.k8s.api.core.v1.PodTemplateSpec"}]
    assert schema(apps, "io.k8s.api.core.v1.PodSpec")["properties"]["containers"] == containers


def test_the_index_names_each_document_with_a_stable_hash():
    index = openapi.v3_index()["paths"]
    assert set(index) == {"api/v1", "apis/apps/v1", "apis/batch/v1", "apis/policy/v1",
                          "apis/storage.k8s.io/v1", "apis/coordination.k8s.io/v1",
                          "apis/networking.k8s.io/v1"}
    url = index["apis/apps/v1"]["serverRelativeURL"]
    assert url == f"/openapi/v3/apis/apps/v1?hash={openapi.document_hash('apis/apps/v1')}"


# --- served by the API ---

@pytest.fixture
def admin(api):
    return api.session("admin")


def test_the_api_serves_the_documents(api, admin):
    index = admin.get(f"{api.url}/openapi/v3")
    assert index.status_code == 200, index.text
    url = index.json()["paths"]["api/v1"]["serverRelativeURL"]
    doc = admin.get(f"{api.url}{url}")
    assert doc.status_code == 200 and doc.headers["Cache-Control"] == "public, immutable"
    assert doc.json() == openapi.v3_document("api/v1")
    assert admin.get(f"{api.url}/openapi/v3/apis/apps/v1").headers["Cache-Control"] == \
        "no-cache, private"
    v2 = admin.get(f"{api.url}/openapi/v2", headers={"Accept": "application/json"})
    assert v2.status_code == 200 and v2.json()["swagger"] == "2.0"


def test_bad_openapi_requests_are_refused_with_a_status(api, admin):
    missing = admin.get(f"{api.url}/openapi/v3/apis/autoscaling/v2")
    assert missing.status_code == 404 and "apis/autoscaling/v2" in \
        missing.json()["message"]
    unknown = admin.get(f"{api.url}/openapi/v3", params={"limit": "1"})
    assert unknown.status_code == 400 and "'limit'" in unknown.json()["message"]
    proto = admin.get(f"{api.url}/openapi/v2", headers={
        "Accept": "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"})
    assert proto.status_code == 406
    assert api.session(None).get(f"{api.url}/openapi/v3").status_code == 401


# --- aggregated discovery (kube/discovery.py) ---

def test_aggregated_discovery_lists_every_kind_once(api, admin):
    from kube import discovery
    kubectl_accept = ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
                      "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,"
                      "application/json")
    assert discovery.negotiate(kubectl_accept) == "v2"
    assert discovery.negotiate("application/json") is None
    core = admin.get(f"{api.url}/api", headers={"Accept": kubectl_accept})
    assert core.headers["Content-Type"] == discovery.media_type("v2")
    [legacy] = core.json()["items"]
    assert legacy["metadata"]["name"] == "" and legacy["versions"][0]["version"] == "v1"
    pods = next(r for r in legacy["versions"][0]["resources"] if r["resource"] == "pods")
    assert pods["responseKind"] == {"group": "", "version": "v1", "kind": "Pod"}
    assert pods["scope"] == "Namespaced" and pods["shortNames"] == ["po"]
    assert {s["subresource"] for s in pods["subresources"]} >= {"status", "binding", "log"}
    groups = admin.get(f"{api.url}/apis", headers={"Accept": kubectl_accept}).json()["items"]
    assert [g["metadata"]["name"] for g in groups] == ["apps", "batch", "coordination.k8s.io",
                                                       "networking.k8s.io", "policy",
                                                       "storage.k8s.io", "metrics.k8s.io"]
    deployments = next(r for r in groups[0]["versions"][0]["resources"]
                       if r["resource"] == "deployments")
    scale = next(s for s in deployments["subresources"] if s["subresource"] == "scale")
    assert scale["responseKind"] == {"group": "autoscaling", "version": "v1", "kind": "Scale"}
    served = {r.resource for r in KINDS}
    listed = {r["resource"] for g in [legacy, *groups[:-1]] for v in g["versions"]
              for r in v["resources"]}
    assert listed == served
    metrics_resources = {r["resource"]: r["responseKind"]["kind"]
                         for r in groups[-1]["versions"][0]["resources"]}
    assert metrics_resources == {"nodes": "NodeMetrics", "pods": "PodMetrics"}
    # the legacy forms are unchanged
    assert admin.get(f"{api.url}/api").json()["kind"] == "APIVersions"
