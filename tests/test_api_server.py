"""The API over real HTTPS against the real etcd: paths, verbs, Status errors, auth, watch."""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path

import pytest



@pytest.fixture
def admin(api):
    return api.session("admin")


@pytest.fixture
def ns(admin, api):
    name = f"t{secrets.token_hex(4)}"
    assert admin.post(f"{api.url}/api/v1/namespaces", json={
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}).status_code == 201
    return name

DATA = Path(__file__).parent / "data"


def pod(name, labels=None):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels or {}},
            "spec": {"containers": [{"name": "c", "image": "orch/web:1"}]}}


def test_unauthenticated_paths_and_discovery(api, admin):
    anonymous = api.session(None)
    assert anonymous.get(f"{api.url}/healthz").text == "ok"
    assert anonymous.get(f"{api.url}/readyz").status_code == 200
    assert anonymous.get(f"{api.url}/version").json()["major"] == "1"
    assert admin.get(f"{api.url}/api").json()["versions"] == ["v1"]
    groups = {g["name"] for g in admin.get(f"{api.url}/apis").json()["groups"]}
    assert groups == {"apps", "batch", "policy", "storage.k8s.io", "coordination.k8s.io",
                      "networking.k8s.io", "metrics.k8s.io"}
    resource_metrics = admin.get(f"{api.url}/apis/metrics.k8s.io/v1beta1").json()["resources"]
    assert {r["name"] for r in resource_metrics} == {"nodes", "pods"}
    # this server has no agents to ask: empty lists, a 404 for one, refusals named
    assert admin.get(f"{api.url}/apis/metrics.k8s.io/v1beta1/nodes").json()["items"] == []
    assert admin.get(f"{api.url}/apis/metrics.k8s.io/v1beta1/nodes/x").status_code == 404
    assert admin.get(f"{api.url}/apis/metrics.k8s.io/v1beta1/pods",
                     params={"watch": "true"}).status_code == 400
    assert api.session(None).get(f"{api.url}/apis/metrics.k8s.io/v1beta1/pods").status_code == 401
    core = {r["name"] for r in admin.get(f"{api.url}/api/v1").json()["resources"]}
    assert {"pods", "pods/status", "pods/binding", "services", "nodes", "namespaces"} <= core
    apps = admin.get(f"{api.url}/apis/apps/v1").json()["resources"]
    assert any(r["name"] == "deployments/scale" for r in apps)
    deployments = next(r for r in apps if r["name"] == "deployments")
    assert deployments["shortNames"] == ["deploy"] and deployments["categories"] == ["all"]


@pytest.mark.parametrize("who,method,path,code,reason", [
    (None, "get", "/api/v1/pods", 401, "Unauthorized"),
    ("not-a-token", "get", "/api/v1/pods", 401, "Unauthorized"),
    ("readonly", "post", "/api/v1/namespaces/default/configmaps", 403, "Forbidden"),
    ("node-host1", "post", "/api/v1/namespaces/default/configmaps", 403, "Forbidden"),
    ("node-host1", "post", "/api/v1/nodes", 403, "Forbidden"),
], ids=["no-token", "wrong-token", "readonly-write", "node-writes-configmap", "node-creates-other-node"])
def test_auth_refusals_are_status_objects(api, who, method, path, code, reason):
    body = {"apiVersion": "v1", "kind": "ConfigMap" if "configmaps" in path else "Node",
            "metadata": {"name": "host2" if "nodes" in path else "x"}}
    r = getattr(api.session(who), method)(f"{api.url}{path}", json=body)
    assert r.status_code == code
    status = r.json()
    assert (status["kind"], status["reason"], status["code"]) == ("Status", reason, code)


def test_readonly_reads_and_nodes_write_only_their_own(api, admin, ns):
    assert api.session("readonly").get(f"{api.url}/api/v1/namespaces/{ns}/pods").status_code == 200
    node1 = api.session("node-host1")
    r = node1.post(f"{api.url}/api/v1/nodes", json={"apiVersion": "v1", "kind": "Node",
                                                    "metadata": {"name": "host1"}})
    assert r.status_code in (201, 409), r.text
    for name, node in (("mine", "host1"), ("theirs", "host2")):
        admin.post(f"{api.url}/api/v1/namespaces/{ns}/pods", json=pod(name)).raise_for_status()
        admin.post(f"{api.url}/api/v1/namespaces/{ns}/pods/{name}/binding",
                   json={"target": {"kind": "Node", "name": node}}).raise_for_status()
    patch = {"status": {"phase": "Running", "podIP": "10.244.1.9"}}
    headers = {"Content-Type": "application/merge-patch+json"}
    ok = node1.patch(f"{api.url}/api/v1/namespaces/{ns}/pods/mine/status", data=json.dumps(patch),
                     headers=headers)
    assert ok.status_code == 200 and ok.json()["status"]["podIP"] == "10.244.1.9"
    denied = node1.patch(f"{api.url}/api/v1/namespaces/{ns}/pods/theirs/status",
                         data=json.dumps(patch), headers=headers)
    assert denied.status_code == 403 and "not bound to node host1" in denied.json()["message"]
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
             "metadata": {"name": "host1"}, "spec": {"holderIdentity": "host1"}}
    assert node1.post(f"{api.url}/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
                      json=lease).status_code in (201, 409)
    lease["metadata"]["name"] = "host2"
    assert node1.post(f"{api.url}/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
                      json=lease).status_code == 403


def test_crud_over_http(api, admin, ns):
    base = f"{api.url}/apis/apps/v1/namespaces/{ns}/deployments"
    d = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
         "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                  "template": {"metadata": {"labels": {"app": "web"}},
                               "spec": {"containers": [{"name": "c", "image": "orch/web:1"}]}}}}
    created = admin.post(base, json=d)
    assert created.status_code == 201, created.text
    assert admin.post(base, json=d).json()["reason"] == "AlreadyExists"
    got = admin.get(f"{base}/web").json()
    assert got["metadata"]["uid"] == created.json()["metadata"]["uid"]
    got["spec"]["replicas"] = 2
    assert admin.put(f"{base}/web", json=got).json()["spec"]["replicas"] == 2
    stale = admin.put(f"{base}/web", json=got)
    assert stale.status_code == 409 and stale.json()["reason"] == "Conflict"
    patched = admin.patch(f"{base}/web", data='{"spec":{"replicas":3}}',
                          headers={"Content-Type": "application/merge-patch+json"})
    assert patched.json()["spec"]["replicas"] == 3
    strategic = admin.patch(f"{base}/web", json={"spec": {"template": {"spec": {"containers": [
        {"name": "c", "image": "orch/web:2"}]}}}},
        headers={"Content-Type": "application/strategic-merge-patch+json"})
    assert strategic.status_code == 200, strategic.text
    [container] = strategic.json()["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "orch/web:2"
    json_patch = admin.patch(f"{base}/web", json=[{"op": "replace", "path": "/spec/replicas",
                                                   "value": 4}],
                             headers={"Content-Type": "application/json-patch+json"})
    assert json_patch.status_code == 200 and json_patch.json()["spec"]["replicas"] == 4
    failed = admin.patch(f"{base}/web", json=[{"op": "test", "path": "/spec/replicas", "value": 9}],
                         headers={"Content-Type": "application/json-patch+json"})
    assert failed.status_code == 422 and "test failed" in failed.json()["message"]
    malformed = admin.patch(f"{base}/web", json=[{"op": "frobnicate", "path": "/spec"}],
                            headers={"Content-Type": "application/json-patch+json"})
    assert malformed.status_code == 400 and "JSON patch" in malformed.json()["message"]
    no_key = admin.patch(f"{base}/web", json={"spec": {"template": {"spec": {"containers": [
        {"image": "x"}]}}}}, headers={"Content-Type": "application/strategic-merge-patch+json"})
    assert no_key.status_code == 400 and "merge key 'name'" in no_key.json()["message"]
    unsupported = admin.patch(f"{base}/web", data="{}",
                              headers={"Content-Type": "application/x-patch"})
    assert unsupported.status_code == 415
    no_manager = admin.patch(f"{base}/web", data="{}",
                             headers={"Content-Type": "application/apply-patch+yaml"})
    assert no_manager.status_code == 400 and "fieldManager" in no_manager.json()["message"]
    assert admin.patch(f"{base}/web/scale", json={"spec": {"replicas": 3}}, headers={
        "Content-Type": "application/strategic-merge-patch+json"}).json()["spec"]["replicas"] == 3
    scale = admin.get(f"{base}/web/scale").json()
    assert scale["kind"] == "Scale" and scale["spec"]["replicas"] == 3
    assert admin.put(f"{base}/web/scale", json={"spec": {"replicas": 5}}).json()["spec"]["replicas"] == 5
    dry = admin.put(f"{base}/web/scale", params={"dryRun": "All"}, json={"spec": {"replicas": 7}})
    assert dry.json()["spec"]["replicas"] == 7  # what it would be...
    assert admin.get(f"{base}/web/scale").json()["spec"]["replicas"] == 5  # ...and is not
    listed = admin.get(base).json()
    assert listed["kind"] == "DeploymentList" and [i["metadata"]["name"] for i in listed["items"]] == ["web"]
    assert admin.delete(f"{base}/web").status_code == 200
    missing = admin.get(f"{base}/web")
    assert missing.status_code == 404 and missing.json()["reason"] == "NotFound"


def test_an_invalid_manifest_is_422_naming_each_field_and_nothing_is_stored(api, admin, ns):
    bad = pod("bad")
    bad["spec"]["containers"][0]["imagePullPolcy"] = "Always"  # a typo: Warn drops it
    bad["spec"]["restartPolicy"] = "Sometimes"
    bad["spec"]["runtimeClassName"] = "gvisor"  # Kubernetes has it, this server does not: refused
    r = admin.post(f"{api.url}/api/v1/namespaces/{ns}/pods", json=bad)
    assert r.status_code == 422 and r.json()["reason"] == "Invalid"
    fields = {c["field"] for c in r.json()["details"]["causes"]}
    assert fields == {"spec.restartPolicy", "spec.runtimeClassName"}
    assert r.headers["Warning"] == '299 - "unknown field \\"spec.containers[0].imagePullPolcy\\""'
    strict = admin.post(f"{api.url}/api/v1/namespaces/{ns}/pods", json=bad,
                        params={"fieldValidation": "Strict"})
    assert strict.status_code == 400 and strict.json()["message"] == (
        'strict decoding error: unknown field "spec.containers[0].imagePullPolcy"')
    assert admin.get(f"{api.url}/api/v1/namespaces/{ns}/pods/bad").status_code == 404
    assert admin.post(f"{api.url}/api/v1/namespaces/{ns}/pods", data="{nope").status_code == 400


def test_selectors_on_lists(api, admin, ns):
    for name, app in (("a", "web"), ("b", "db")):
        admin.post(f"{api.url}/api/v1/namespaces/{ns}/pods", json=pod(name, {"app": app}))
    r = admin.get(f"{api.url}/api/v1/namespaces/{ns}/pods", params={"labelSelector": "app=db"})
    assert [p["metadata"]["name"] for p in r.json()["items"]] == ["b"]
    r = admin.get(f"{api.url}/api/v1/pods", params={"fieldSelector": f"metadata.namespace={ns},"
                                                                      "metadata.name=a"})
    assert [p["metadata"]["name"] for p in r.json()["items"]] == ["a"]
    assert admin.get(f"{api.url}/api/v1/pods", params={"fieldSelector": "spec.bogus=1"}).status_code == 400


def test_a_watch_streams_changes_in_order_from_a_list_revision(api, admin, ns):
    base = f"{api.url}/api/v1/namespaces/{ns}/configmaps"
    rv = admin.get(base).json()["metadata"]["resourceVersion"]
    stream = admin.get(base, params={"watch": "true", "resourceVersion": rv,
                                     "timeoutSeconds": "10"}, stream=True)
    lines = stream.iter_lines(chunk_size=1)
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "1"}}
    admin.post(base, json=cm).raise_for_status()
    admin.patch(f"{base}/c", data='{"data":{"k":"2"}}',
                headers={"Content-Type": "application/merge-patch+json"}).raise_for_status()
    admin.delete(f"{base}/c").raise_for_status()
    events = [json.loads(next(lines)) for _ in range(3)]
    stream.close()
    assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "DELETED"]
    assert events[1]["object"]["data"] == {"k": "2"}
    revisions = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert revisions == sorted(revisions) and revisions[0] > int(rv)


def test_a_watch_without_a_version_starts_with_the_current_objects(api, admin, ns):
    """As Kubernetes: with no resourceVersion (or "0") the objects that exist come first as
    ADDED (a client's wait or informer needs no list of its own); then the changes."""
    base = f"{api.url}/api/v1/namespaces/{ns}/configmaps"
    for name in ("a", "b"):
        admin.post(base, json={"metadata": {"name": name}}).raise_for_status()
    for rv in (None, "0"):
        params = {"watch": "true", "timeoutSeconds": "10", **({"resourceVersion": rv} if rv else {})}
        stream = admin.get(base, params=params, stream=True)
        lines = stream.iter_lines(chunk_size=1)
        first = [json.loads(next(lines)) for _ in range(2)]
        seen = [(e["type"], e["object"]["metadata"]["name"]) for e in first]
        if rv is None:  # a consistent read: both, in key order
            assert seen == [("ADDED", "a"), ("ADDED", "b")]
        else:  # "0" is "any": a cache a write behind sends the recreated `a` just after
            assert sorted(seen) == [("ADDED", "a"), ("ADDED", "b")]
        admin.delete(f"{base}/a").raise_for_status()
        event = json.loads(next(lines))
        assert (event["type"], event["object"]["metadata"]["name"]) == ("DELETED", "a")
        stream.close()
        admin.post(base, json={"metadata": {"name": "a"}}).raise_for_status()


def test_send_initial_events_ends_the_initial_objects_with_a_bookmark(api, admin, ns):
    base = f"{api.url}/api/v1/namespaces/{ns}/configmaps"
    admin.post(base, json={"metadata": {"name": "a"}}).raise_for_status()
    rv = admin.get(base).json()["metadata"]["resourceVersion"]
    stream = admin.get(base, params={"watch": "true", "sendInitialEvents": "true",
                                     "resourceVersionMatch": "NotOlderThan",
                                     "allowWatchBookmarks": "true", "resourceVersion": rv,
                                     "timeoutSeconds": "10"}, stream=True)
    lines = stream.iter_lines(chunk_size=1)
    added, bookmark = json.loads(next(lines)), json.loads(next(lines))
    stream.close()
    assert (added["type"], added["object"]["metadata"]["name"]) == ("ADDED", "a")
    assert bookmark["type"] == "BOOKMARK"
    assert bookmark["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    assert int(bookmark["object"]["metadata"]["resourceVersion"]) >= int(rv)
    for params, message in (
            ({"sendInitialEvents": "true"}, "requires resourceVersionMatch=NotOlderThan"),
            ({"sendInitialEvents": "true", "resourceVersionMatch": "NotOlderThan"},
             "requires allowWatchBookmarks=true"),
            ({"resourceVersionMatch": "Exact"}, "forbidden for a watch")):
        r = admin.get(base, params={"watch": "true", **params})
        assert r.status_code == 400 and message in r.json()["message"], r.text


def test_a_watch_from_a_forgotten_revision_gets_a_410_error_event(api, admin, ns):
    r = admin.get(f"{api.url}/api/v1/namespaces/{ns}/secrets",
                  params={"watch": "1", "resourceVersion": "1", "timeoutSeconds": "5"}, stream=True)
    event = json.loads(next(r.iter_lines(chunk_size=1)))
    r.close()
    assert event["type"] == "ERROR" and event["object"]["code"] == 410


def test_metrics_count_requests(api, admin):
    admin.get(f"{api.url}/api/v1/namespaces")
    text = admin.get(f"{api.url}/metrics").text
    assert 'apiserver_request_total{code="200",resource="namespaces",verb="list"}' in text
    assert api.session("readonly").get(f"{api.url}/metrics").status_code == 200
    assert api.session(None).get(f"{api.url}/metrics").status_code == 401


def test_bodies_in_yaml_and_protobuf_are_taken_and_bad_ones_named(api, admin, ns):
    base = f"{api.url}/api/v1/namespaces/{ns}/configmaps"
    created = admin.post(base, data="metadata: {name: y}\ndata: {k: v}\n",
                         headers={"Content-Type": "application/yaml"})
    assert created.status_code == 201 and created.json()["data"] == {"k": "v"}, created.text
    proto = {"Content-Type": "application/vnd.kubernetes.protobuf"}
    # what kubectl 1.37 sent for `create configmap cfg --from-literal=a=b --from-literal=empty=`
    # (in namespace t1: the URL's namespace must be the body's)
    body = (DATA / "protobuf" / "configmap.bin").read_bytes()
    wrong_ns = admin.post(base, data=body, headers=proto)
    assert wrong_ns.status_code == 422 and "t1" in wrong_ns.json()["message"], wrong_ns.text
    admin.post(f"{api.url}/api/v1/namespaces", json={"metadata": {"name": "t1"}})
    created = admin.post(f"{api.url}/api/v1/namespaces/t1/configmaps", data=body, headers=proto)
    assert created.status_code == 201, created.text
    assert created.json()["data"] == {"a": "b", "empty": ""}
    for garbage, why in ((b"k8s\x00\x0a\x0f", "cut short"), (b"\x0a\x00", "magic"),
                         (b"k8s\x00\x0a\x0c\x0a\x02v1\x12\x06Widget", "v1/Widget")):
        refused = admin.post(base, data=garbage, headers=proto)
        assert refused.status_code == 400 and why in refused.json()["message"], refused.text
    patched = admin.patch(f"{base}/y", data=body, headers=proto)
    assert patched.status_code == 415
    bad = admin.post(base, data="{", headers={"Content-Type": "application/json"})
    assert bad.status_code == 400 and "not valid JSON" in bad.json()["message"]


def test_a_watch_asked_for_tables_sends_rows_with_the_columns_once(api, admin, ns):
    base = f"{api.url}/api/v1/namespaces/{ns}/configmaps"
    admin.post(base, json={"metadata": {"name": "a"}}).raise_for_status()
    stream = admin.get(base, params={"watch": "true", "timeoutSeconds": "10"}, stream=True,
                       headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})
    lines = stream.iter_lines(chunk_size=1)
    first = json.loads(next(lines))
    admin.delete(f"{base}/a").raise_for_status()
    second = json.loads(next(lines))
    stream.close()
    assert first["type"] == "ADDED" and first["object"]["kind"] == "Table"
    assert [c["name"] for c in first["object"]["columnDefinitions"]][:2] == ["Name", "DATA"]
    assert first["object"]["rows"][0]["cells"][0] == "a"
    assert second["type"] == "DELETED" and second["object"]["columnDefinitions"] == []
    assert second["object"]["rows"][0]["object"]["kind"] == "PartialObjectMetadata"


APPLY = {"Content-Type": "application/apply-patch+yaml"}


def test_server_side_apply_owns_fields_conflicts_and_forces(api, admin, ns):
    base = f"{api.url}/apis/apps/v1/namespaces/{ns}/deployments"
    config = {"apiVersion": "apps/v1", "kind": "Deployment",
              "metadata": {"name": "web", "labels": {"app": "web", "tier": "front"}},
              "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                       "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                           "containers": [{"name": "web", "image": "orch/web:1"}]}}}}
    dry = admin.patch(f"{base}/web", params={"fieldManager": "ci", "dryRun": "All"},
                      data=json.dumps(config), headers=APPLY)
    assert dry.status_code == 201 and admin.get(f"{base}/web").status_code == 404
    created = admin.patch(f"{base}/web", params={"fieldManager": "ci"}, data=json.dumps(config),
                          headers=APPLY)
    assert created.status_code == 201, created.text
    [entry] = created.json()["metadata"]["managedFields"]
    assert (entry["manager"], entry["operation"], entry["fieldsType"]) == ("ci", "Apply",
                                                                           "FieldsV1")
    assert "f:replicas" in entry["fieldsV1"]["f:spec"]
    # another manager changes replicas: it owns them now, and ci's apply of 3 conflicts
    admin.patch(f"{base}/web", params={"fieldManager": "scaler"},
                json={"spec": {"replicas": 5}},
                headers={"Content-Type": "application/merge-patch+json"}).raise_for_status()
    changed = {**config, "spec": {**config["spec"], "replicas": 3}}
    conflict = admin.patch(f"{base}/web", params={"fieldManager": "ci"},
                           data=json.dumps(changed), headers=APPLY)
    assert conflict.status_code == 409, conflict.text
    status = conflict.json()
    assert status["reason"] == "Conflict" and ".spec.replicas" in status["message"]
    assert status["details"]["causes"] == [{"reason": "FieldManagerConflict", "field":
                                            ".spec.replicas", "message":
                                            'conflict with "scaler" using apps/v1'}]
    assert admin.get(f"{base}/web").json()["spec"]["replicas"] == 5  # nothing written
    forced = admin.patch(f"{base}/web", params={"fieldManager": "ci", "force": "true"},
                         data=json.dumps(changed), headers=APPLY)
    assert forced.status_code == 200 and forced.json()["spec"]["replicas"] == 3
    # ci stops applying the tier label: it goes (no one else owns it)
    fewer = {**changed, "metadata": {"name": "web", "labels": {"app": "web"}}}
    applied = admin.patch(f"{base}/web", params={"fieldManager": "ci"}, data=json.dumps(fewer),
                          headers=APPLY).json()
    assert applied["metadata"]["labels"] == {"app": "web"}
    # refused: a configuration naming another object or kind, or carrying managedFields
    for bad, why in (({**fewer, "kind": "ReplicaSet"}, "kind"),
                     ({**fewer, "metadata": {"name": "other"}}, "does not match"),
                     ({**fewer, "metadata": {"name": "web", "managedFields": []}},
                      "managedFields")):
        refused = admin.patch(f"{base}/web", params={"fieldManager": "ci"},
                              data=json.dumps(bad), headers=APPLY)
        assert refused.status_code == 400 and why in refused.json()["message"], refused.text
    no_force = admin.patch(f"{base}/web", params={"force": "true"}, json={},
                           headers={"Content-Type": "application/merge-patch+json"})
    assert no_force.status_code == 400 and "force" in no_force.json()["message"]


def test_field_validation_warns_ignores_or_refuses_unknown_and_duplicate_fields(api, admin, ns):
    base = f"{api.url}/api/v1/namespaces/{ns}/configmaps"
    doubled = b'{"metadata": {"name": "d"}, "data": {"k": "1", "k": "2"}, "colour": "x"}'
    strict = admin.post(base, data=doubled, params={"fieldValidation": "Strict"},
                        headers={"Content-Type": "application/json"})
    assert strict.status_code == 400, strict.text
    assert strict.json()["message"] == 'strict decoding error: duplicate field "data.k"'
    assert admin.get(f"{base}/d").status_code == 404
    warned = admin.post(base, data=doubled, headers={"Content-Type": "application/json"})
    assert warned.status_code == 201 and warned.json()["data"] == {"k": "2"}  # the last wins
    assert warned.headers["Warning"] == ('299 - "duplicate field \\"data.k\\"", '
                                         '299 - "unknown field \\"colour\\""')
    ignored = admin.patch(f"{base}/d", params={"fieldValidation": "Ignore"},
                          json={"data": {"k": "3"}, "colour": "y"},
                          headers={"Content-Type": "application/merge-patch+json"})
    assert ignored.status_code == 200 and "Warning" not in ignored.headers
    assert ignored.json()["data"] == {"k": "3"} and "colour" not in ignored.json()
    assert admin.post(base, json={"metadata": {"name": "e"}},
                      params={"fieldValidation": "Loose"}).status_code == 400


MALFORMED_PATCHES = [
    # (content type, body, the status code, what the message names)
    ("application/merge-patch+json", "[1, 2]", 400, "merge patch"),
    ("application/merge-patch+json", '"text"', 400, "merge patch"),
    ("application/merge-patch+json", '{"spec": {"replicas": "many"}}', 422, "spec.replicas"),
    ("application/merge-patch+json", "{nope", 400, "not valid JSON"),
    ("application/strategic-merge-patch+json", "[]", 400, "strategic merge patch"),
    ("application/strategic-merge-patch+json",
     '{"spec": {"template": {"spec": {"containers": [{"$patch": "bogus", "name": "web"}]}}}}',
     400, "$patch"),
    ("application/strategic-merge-patch+json",
     '{"spec": {"template": {"spec": {"$setElementOrder/containers": "web"}}}}', 400,
     "$setElementOrder"),
    ("application/strategic-merge-patch+json",
     '{"spec": {"template": {"spec": {"containers": [{"name": "web", "image": 7}]}}}}', 422,
     "image"),
    ("application/json-patch+json", '{"op": "add"}', 400, "JSON patch"),
    ("application/json-patch+json", '[{"op": "explode", "path": "/spec"}]', 400, "JSON patch"),
    ("application/json-patch+json", '[{"op": "add", "value": 1}]', 400, "JSON patch"),
    ("application/json-patch+json", '[{"op": "remove", "path": "/spec/nothing"}]', 422,
     "JSON patch"),
    ("application/json-patch+json", '[{"op": "replace", "path": "/spec/replicas", '
     '"value": -4}]', 422, "spec.replicas"),
    ("application/apply-patch+yaml", "kind: [", 400, "YAML"),
    ("application/apply-patch+yaml", "- a list", 400, "apply configuration"),
    ("application/apply-patch+yaml", "apiVersion: v1\nkind: Deployment\nmetadata: {name: web}",
     400, "apiVersion"),
    ("application/apply-patch+yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata: "
     "{name: web}\nspec: {replicas: many}", 422, "spec.replicas"),
    ("application/vnd.kubernetes.protobuf", "k8s\x00junk", 415, "protobuf"),
    ("text/plain", "replicas=3", 415, "patch type"),
]


@pytest.mark.parametrize("content_type, body, code, named", MALFORMED_PATCHES,
                         ids=[f"{c.split('/')[-1]}-{i}" for i, (c, *_) in
                              enumerate(MALFORMED_PATCHES)])
def test_a_malformed_patch_is_a_4xx_status_naming_the_cause_and_stores_nothing(
        api, admin, ns, content_type, body, code, named):
    base = f"{api.url}/apis/apps/v1/namespaces/{ns}/deployments"
    admin.post(base, json={"metadata": {"name": "web"}, "spec": {
        "replicas": 1, "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
            "containers": [{"name": "web", "image": "orch/web:1"}]}}}}).raise_for_status()
    before = admin.get(f"{base}/web").json()["metadata"]["resourceVersion"]
    r = admin.patch(f"{base}/web", data=body.encode(), params={"fieldManager": "t"},
                    headers={"Content-Type": content_type})
    status = r.json()
    assert r.status_code == code, r.text
    assert status["kind"] == "Status" and status["code"] == code
    assert named in status["message"] or any(
        named in (c.get("field", "") + c.get("message", ""))
        for c in (status.get("details") or {}).get("causes", [])), status
    assert admin.get(f"{base}/web").json()["metadata"]["resourceVersion"] == before


def test_the_timeout_parameter_is_a_deadline_and_bounds_a_watch(api, admin, ns):
    base = f"{api.url}/api/v1/namespaces/{ns}/configmaps"
    assert admin.get(base, params={"timeout": "30s"}).status_code == 200  # client-go sends it
    assert admin.get(base, params={"timeout": "soon"}).status_code == 400
    started = time.monotonic()
    with admin.get(base, params={"watch": "true", "timeout": "1s"}, stream=True) as w:
        list(w.iter_lines())  # the server ends the watch after a second
    assert time.monotonic() - started < 30
