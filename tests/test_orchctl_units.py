"""orchctl's pure parts: apply's three-way patch, manifest reading and its errors, resource
arguments, table cells and layout, rollout words, the configuration file, drain's refusals."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from orchestrator.api.patch import merge_patch
from kube.kinds.deployment import Deployment
from kube.kinds.pod import Pod
from kube.registry import by_name
from orchestrator.cli import apply, config, describe, manifests, printers, resources, rollouts
from orchestrator.cli.cmd_nodes import drain_blockers

NOW = datetime(2026, 11, 23, 12, 0, 0, tzinfo=timezone.utc)


def ago(seconds: float) -> str:
    return (NOW - timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- apply ---

def deployment(replicas=3, image="orch/web:1", extra_labels=None):
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default",
                         "labels": {"app": "web", **(extra_labels or {})}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "web", "image": image,
                                                           "ports": [{"containerPort": 80}]}]}}}}


def live_from(config_obj, **server_changes):
    """What the server holds after creating `config_obj` with apply: defaults inside list items,
    server metadata, status."""
    live = merge_patch(apply.with_last_applied(config_obj), {
        "metadata": {"uid": "u1", "resourceVersion": "7", "creationTimestamp": ago(60)},
        "status": {"replicas": 3}})
    for c in live["spec"]["template"]["spec"]["containers"]:
        c.setdefault("imagePullPolicy", "IfNotPresent")
        for p in c.get("ports", []):
            p.setdefault("protocol", "TCP")
    return merge_patch(live, server_changes) if server_changes else live


def test_applying_the_same_configuration_again_changes_nothing():
    config_obj = apply.configuration(deployment(), "default")
    assert apply.apply_patch(config_obj, live_from(config_obj)) == {}


def test_a_changed_field_is_sent_with_the_new_last_applied_annotation():
    old = apply.configuration(deployment(), "default")
    new = apply.configuration(deployment(replicas=5), "default")
    patch = apply.apply_patch(new, live_from(old))
    assert patch["spec"] == {"replicas": 5}
    assert apply.last_applied({"metadata": patch["metadata"]}) == new


def test_a_list_the_user_changed_is_sent_whole_and_server_defaults_elsewhere_stay():
    old = apply.configuration(deployment(), "default")
    new = apply.configuration(deployment(image="orch/web:2"), "default")
    live = live_from(old)
    patched = merge_patch(live, apply.apply_patch(new, live))
    [container] = patched["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "orch/web:2"
    assert patched["status"] == {"replicas": 3} and patched["metadata"]["uid"] == "u1"


def test_fields_removed_from_the_file_are_removed_but_fields_others_set_stay():
    old = apply.configuration(deployment(extra_labels={"tier": "front"}), "default")
    live = live_from(old, metadata={"labels": {"owner": "ops"},
                                    "annotations": {"note": "set by hand"}})
    new = apply.configuration(deployment(), "default")
    patched = merge_patch(live, apply.apply_patch(new, live))
    assert patched["metadata"]["labels"] == {"app": "web", "owner": "ops"}
    assert patched["metadata"]["annotations"]["note"] == "set by hand"
    assert apply.last_applied(patched) == new


def test_drift_of_an_applied_field_is_corrected_and_an_unapplied_one_is_kept():
    config_obj = apply.configuration(deployment(replicas=3), "default")
    scaled = live_from(config_obj, spec={"replicas": 7})
    assert apply.apply_patch(config_obj, scaled) == {"spec": {"replicas": 3}}
    no_replicas = apply.configuration(deployment(), "default")
    del no_replicas["spec"]["replicas"]
    live = live_from(no_replicas, spec={"replicas": 7})
    assert apply.apply_patch(no_replicas, live) == {}


def test_removing_every_annotation_keeps_the_last_applied_one():
    old = apply.configuration(merge_patch(deployment(), {"metadata": {"annotations": {"a": "1"}}}),
                              "default")
    live = live_from(old)
    new = apply.configuration(deployment(), "default")
    patched = merge_patch(live, apply.apply_patch(new, live))
    assert patched["metadata"]["annotations"] == {
        apply.LAST_APPLIED: apply.serialized(new)}


def test_the_recorded_configuration_drops_server_fields_and_status():
    exported = live_from(apply.configuration(deployment(), "default"))
    config_obj = apply.configuration(exported, "default")
    assert "status" not in config_obj
    assert set(config_obj["metadata"]) == {"name", "namespace", "labels"}


@pytest.mark.parametrize("have, want, covered", [
    ([{"port": 80, "protocol": "TCP"}], [{"port": 80}], True),
    ([{"port": 80}], [{"port": 80, "protocol": "UDP"}], False),
    ([{"port": 80}, {"port": 81}], [{"port": 80}], False),
    (["a", "b"], ["a", "b"], True),
    ({"a": [1]}, {"a": [1, 2]}, False),
])
def test_covers(have, want, covered):
    assert apply.covers(have, want) is covered


# --- manifests ---

def test_multi_document_yaml_json_and_lists(tmp_path: Path):
    (tmp_path / "a.yaml").write_text(
        "# comment\napiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {}\n---\n---\n"
        "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, "
        "metadata: {name: c}}\n")
    (tmp_path / "b.json").write_text('{"apiVersion": "apps/v1", "kind": "Deployment", '
                                     '"metadata": {"name": "d"}}')
    (tmp_path / "notes.txt").write_text("ignored")
    found = manifests.read((str(tmp_path),))
    assert [(m.rt.kind, m.name, m.document) for m in found] == [
        ("Service", "s", 1), ("ConfigMap", "c", 3), ("Deployment", "d", 1)]


@pytest.mark.parametrize("text, message", [
    ("apiVersion: v1\nkind: Pod\nmetadata: {name: [x\n", "bad.yaml: not valid YAML"),
    ("kind: Pod\nmetadata: {name: x}\n", "bad.yaml (document 1): apiVersion is missing"),
    ("apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n---\napiVersion: v1\nkind: Pod\n",
     "bad.yaml (document 2): metadata is missing"),
    ("apiVersion: v1\nkind: Pod\nmetadata: {labels: {}}\n",
     "bad.yaml (document 1): metadata.name is missing"),
    ("apiVersion: v1\nkind: Gadget\nmetadata: {name: x}\n",
     "bad.yaml (document 1): no kind 'Gadget' in version 'v1'"),
    ("apiVersion: apps/v1\nkind: Pod\nmetadata: {name: x}\n",
     "no kind 'Pod' in version 'apps/v1'"),
    ("- 1\n- 2\n", "an object must be a mapping, not int"),
    ('{"apiVersion": "v1", ', "bad.yaml: not valid JSON"),
])
def test_a_bad_manifest_names_the_file_the_document_and_the_field(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(manifests.ManifestError) as e:
        manifests.read((str(path),))
    assert message in str(e.value)
    assert str(path) in str(e.value)


def test_missing_paths_and_empty_directories_are_named(tmp_path):
    with pytest.raises(manifests.ManifestError, match="nope.yaml: no such file"):
        manifests.read((str(tmp_path / "nope.yaml"),))
    with pytest.raises(manifests.ManifestError, match="no .yaml, .yml or .json file"):
        manifests.read((str(tmp_path),))


# --- resource arguments ---

def test_resource_arguments_as_kubectl_takes_them():
    parse = resources.parse
    assert [(s.rt.resource, s.names) for s in parse(("po",))] == [("pods", ())]
    assert [(s.rt.resource, s.names) for s in parse(("deploy", "a", "b"))] == [
        ("deployments", ("a", "b"))]
    assert [(s.rt.resource, s.names) for s in parse(("pod/a", "svc/b"))] == [
        ("pods", ("a",)), ("services", ("b",))]
    assert [s.rt.resource for s in parse(("deploy,svc",))] == ["deployments", "services"]
    assert [s.rt.resource for s in parse(("all",))] == [
        "pods", "replicationcontrollers", "services", "daemonsets", "deployments", "replicasets",
        "statefulsets", "cronjobs", "jobs"]
    for bad, message in ((("gadgets",), 'resource type "gadgets"'),
                         (("pod/a", "b"), "resource/name form"),
                         (("po,svc", "a"), "one resource type"),
                         ((), "you must specify the type")):
        with pytest.raises(resources.UsageError, match=message):
            parse(bad)
    assert resources.one(("deploy/web",))[1] == "web"
    assert resources.one(("web",), default_kind="pods")[0].resource == "pods"


# --- printing ---

@pytest.mark.parametrize("seconds, text", [
    (0, "0s"), (119, "119s"), (120, "2m"), (185, "3m5s"), (600, "10m"), (179 * 60, "179m"),
    (3 * 3600 + 60, "3h1m"), (8 * 3600, "8h"), (47 * 3600, "47h"), (50 * 3600, "2d2h"),
    (30 * 86400, "30d"), (800 * 86400, "2y70d"), (9 * 365 * 86400, "9y")])
def test_ages_read_like_kubectls(seconds, text):
    assert printers.human_duration(seconds) == text


def pod(phase="Running", statuses=(), deleting=False, reason=None):
    p = {"metadata": {"name": "p", "namespace": "default", "creationTimestamp": ago(30)},
         "spec": {"containers": [{"name": s.get("name", "c")} for s in statuses] or
                  [{"name": "c"}], "nodeName": "host1"},
         "status": {"phase": phase, "podIP": "10.244.1.5", "containerStatuses": list(statuses)}}
    if reason:
        p["status"]["reason"] = reason
    if deleting:
        p["metadata"]["deletionTimestamp"] = ago(1)
    return p


RUNNING = {"name": "c", "ready": True, "restartCount": 0, "state": {"running": {}}}


@pytest.mark.parametrize("p, status", [
    (pod(statuses=[RUNNING]), "Running"),
    (pod("Pending", [{"name": "c", "state": {"waiting": {"reason": "ContainerCreating"}}}]),
     "ContainerCreating"),
    (pod(statuses=[{"name": "c", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]),
     "CrashLoopBackOff"),
    (pod("Succeeded", [{"name": "c", "state": {"terminated": {"reason": "Completed"}}}]),
     "Completed"),
    (pod("Failed", [{"name": "c", "state": {"terminated": {"exitCode": 2}}}]), "ExitCode:2"),
    (pod("Pending"), "Pending"),
    (pod(statuses=[RUNNING], deleting=True), "Terminating"),
    (pod(statuses=[RUNNING], deleting=True, reason="NodeLost"), "Unknown"),
])
def test_pod_status_words(p, status):
    assert printers.pod_status(p) == status


def _initializing(*init_states, initialized="False"):
    p = pod("Pending", [{"name": "c", "state": {"waiting": {"reason": "PodInitializing"}}}])
    p["spec"]["initContainers"] = [{"name": f"i{n}"} for n in range(len(init_states))]
    p["status"]["initContainerStatuses"] = [{"name": f"i{n}", "state": state}
                                            for n, state in enumerate(init_states)]
    p["status"]["conditions"] = [{"type": "Initialized", "status": initialized}]
    return p


DONE = {"terminated": {"exitCode": 0, "reason": "Completed"}}


@pytest.mark.parametrize("p, status", [
    (_initializing({"waiting": {"reason": "PodInitializing"}}, {}), "Init:0/2"),
    (_initializing(DONE, {"running": {}}), "Init:1/2"),
    (_initializing({"terminated": {"exitCode": 3, "reason": "Error"}}, {}), "Init:Error"),
    (_initializing({"terminated": {"exitCode": 3}}), "Init:ExitCode:3"),
    (_initializing({"waiting": {"reason": "CrashLoopBackOff"}}), "Init:CrashLoopBackOff"),
    (_initializing(DONE, DONE, initialized="True"), "PodInitializing"),
], ids=["first", "second", "error", "exit-code", "crash-loop", "done"])
def test_pod_status_words_while_initializing(p, status):
    """kubectl's Init:N/M words (printPod): the first init container not done speaks."""
    assert printers.pod_status(p) == status


def test_pod_table_with_restarts_and_wide_columns():
    restarted = dict(RUNNING, restartCount=2, lastState={"terminated": {"finishedAt": ago(45)}})
    rows = printers.table_rows(by_name("pods"), [pod(statuses=[restarted])], NOW, wide=True,
                               all_namespaces=True)
    assert rows == [["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE"],
                    ["default", "p", "1/1", "Running", "2 (45s ago)", "30s", "10.244.1.5",
                     "host1"]]
    assert printers.format_rows(rows).splitlines()[1] == \
        "default     p      1/1     Running   2 (45s ago)   30s   10.244.1.5   host1"


def test_service_node_and_endpoint_cells():
    svc = {"metadata": {"name": "web", "creationTimestamp": ago(5)},
           "spec": {"type": "NodePort", "clusterIP": "10.96.0.10", "selector": {"app": "web"},
                    "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"},
                              {"port": 53, "protocol": "UDP"}]}}
    assert printers.table_rows(by_name("svc"), [svc], NOW, wide=True)[1] == [
        "web", "NodePort", "10.96.0.10", "<none>", "80:30080/TCP,53/UDP", "5s", "app=web"]
    node = {"metadata": {"name": "host1", "labels": {"node-role.kubernetes.io/control-plane": ""}},
            "spec": {"unschedulable": True},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    assert printers.node_status(node) == "Ready,SchedulingDisabled"
    assert printers.node_roles(node) == "control-plane"
    ep = {"subsets": [{"addresses": [{"ip": f"10.0.0.{i}"} for i in range(5)],
                       "ports": [{"port": 80}]}]}
    assert printers.endpoints_text(ep) == "10.0.0.0:80,10.0.0.1:80,10.0.0.2:80 + 2 more..."


def test_describe_shows_the_sections_and_the_events():
    p = pod(statuses=[dict(RUNNING, containerID="docker://abc", image="orch/web:1")])
    p["spec"]["containers"][0].update(image="orch/web:1", env=[{"name": "A", "value": "1"}])
    events = [{"type": "Normal", "reason": "Scheduled", "message": "Successfully assigned",
               "source": {"component": "default-scheduler"}, "count": 3,
               "firstTimestamp": ago(90), "lastTimestamp": ago(10), "metadata": {"name": "e1"},
               "involvedObject": {"kind": "Pod", "name": "p"}}]
    text = describe.describe(by_name("pods"), p, events, NOW)
    for expected in ("Name:                 p", "Node:                 host1/",
                     "Image:            orch/web:1", "A:              1",
                     "Normal   Scheduled   10s (x3 over 90s)   default-scheduler"):
        assert expected in text, text


# --- rollouts ---

def rolled(generation=2, observed=2, replicas=3, updated=3, total=3, available=3,
           conditions=None, **extra):
    return Deployment.model_validate({
        "metadata": {"name": "web", "generation": generation},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "c", "image": "i"}]}}, **extra},
        "status": {"observedGeneration": observed, "updatedReplicas": updated,
                   "replicas": total, "availableReplicas": available,
                   **({"conditions": conditions} if conditions else {})}})


@pytest.mark.parametrize("d, done, words", [
    (rolled(observed=1), False, "spec update to be observed"),
    (rolled(updated=1, total=4), False, "1 out of 3 new replicas have been updated"),
    (rolled(total=4), False, "1 old replicas are pending termination"),
    (rolled(available=2), False, "2 of 3 updated replicas are available"),
    (rolled(), True, 'deployment "web" successfully rolled out'),
    (rolled(updated=1, paused=True), False, "paused"),
])
def test_rollout_status_words(d, done, words):
    is_done, message = rollouts.deployment_status(d)
    assert is_done is done and words in message


def test_a_rollout_past_its_deadline_fails():
    d = rolled(updated=1, conditions=[{"type": "Progressing", "status": "False",
                                       "reason": "ProgressDeadlineExceeded"}])
    with pytest.raises(rollouts.RolloutFailed, match="exceeded its progress deadline"):
        rollouts.deployment_status(d)


# --- configuration ---

def test_contexts_are_added_resolved_and_removed(tmp_path: Path):
    path = tmp_path / "config"
    (tmp_path / "token").write_text("secret\n")
    conf = config.load(path, missing_ok=True)
    config.set_context(conf, "lab", "https://127.0.0.1:1", "/ca.crt", str(tmp_path / "token"))
    config.set_context(conf, "other", "https://10.0.0.1:6443", None, None, "team",
                       make_current=False)
    config.save(path, conf)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    conf = config.load(path)
    r = config.resolve(conf, str(path))
    assert (r.context, r.server, r.ca_file, r.token, r.namespace) == (
        "lab", "https://127.0.0.1:1", "/ca.crt", "secret", "default")
    assert config.resolve(conf, str(path), context="other", namespace="x").namespace == "x"
    assert config.remove_context(conf, "lab") and conf["current-context"] == ""
    assert [c["name"] for c in conf["clusters"]] == ["other"]
    with pytest.raises(config.ConfigError, match="no current context"):
        config.resolve(conf, str(path))
    with pytest.raises(config.ConfigError, match="no context 'gone'.*other"):
        config.resolve(conf, str(path), context="gone")


def test_kubeconfig_lists_merge_as_kubectl_merges_them(tmp_path: Path, monkeypatch):
    first, second = tmp_path / "a", tmp_path / "b"
    a = config.empty()
    config.set_context(a, "lab", "https://127.0.0.1:1", None, None)
    b = config.empty()
    config.set_context(b, "lab", "https://10.9.9.9:1", None, None)  # shadowed by a's
    config.set_context(b, "prod", "https://10.0.0.2:6443", None, None)  # current: a's wins
    config.save(first, a)
    config.save(second, b)
    monkeypatch.setenv("KUBECONFIG", f"{first}:{tmp_path / 'missing'}:{second}")
    assert config.sources() == [first, tmp_path / "missing", second]
    merged = config.load_merged(config.sources())
    assert merged["current-context"] == "lab"
    assert [c["name"] for c in merged["contexts"]] == ["lab", "prod"]
    assert config.resolve(merged, "x").server == "https://127.0.0.1:1"
    assert config.resolve(merged, "x", context="prod").server == "https://10.0.0.2:6443"
    assert config.sources(str(second)) == [second]  # --kubeconfig wins


def test_kubeconfig_users_and_clusters_as_kubectl_writes_them(tmp_path: Path):
    import base64
    (tmp_path / "token").write_text("t0k3n")
    conf = config.empty()
    conf["clusters"] = [{"name": "c", "cluster": {
        "server": "https://x:1", "certificate-authority-data": base64.b64encode(b"PEM").decode(),
        "insecure-skip-tls-verify": True}}]
    conf["users"] = [{"name": "u", "user": {"tokenFile": str(tmp_path / "token")}},
                     {"name": "cert", "user": {"client-certificate-data": "..."}}]
    conf["contexts"] = [{"name": "k", "context": {"cluster": "c", "user": "u"}},
                        {"name": "m", "context": {"cluster": "c", "user": "cert"}}]
    r = config.resolve(conf, "f", context="k")
    assert (r.token, r.ca_data, r.insecure) == ("t0k3n", b"PEM", True)
    assert not list(Path("/tmp").glob("orchctl-*/ca-*"))  # nothing written out
    with pytest.raises(config.ConfigError, match="client-certificate-data.*bearer tokens"):
        config.resolve(conf, "f", context="m")


def test_the_client_trusts_ca_data_from_memory(api):
    from kube.client import Client
    pem = api.paths["ca.crt"].read_bytes()
    client = Client(api.url, None, api.tokens["admin"], ca_data=pem)
    assert client.list("namespaces").items
    stranger = Client(api.url, None, api.tokens["admin"])  # the system's CAs only
    with pytest.raises(Exception, match="(?i)certificate"):
        stranger.list("namespaces")


def test_config_view_hides_tokens():
    conf = config.empty()
    conf["users"] = [{"name": "u", "user": {"token": "secret"}}]
    assert config.redacted(conf)["users"][0]["user"]["token"] == "REDACTED"


def test_a_missing_or_broken_configuration_is_explained(tmp_path):
    with pytest.raises(config.ConfigError, match="no configuration at .*scripts/lab up"):
        config.load(tmp_path / "none")
    (tmp_path / "bad").write_text("clusters: 3\n")
    with pytest.raises(config.ConfigError, match="clusters must be a list"):
        config.load(tmp_path / "bad")


# --- drain ---

def test_drain_refuses_bare_pods_and_local_data_unless_told():
    def pod(name, owned=True, volumes=()):
        ref = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "r1",
               "controller": True}
        return Pod.model_validate({
            "metadata": {"name": name, "namespace": "d", **({"ownerReferences": [ref]} if owned else {})},
            "spec": {"containers": [{"name": "c", "image": "i"}], "volumes": list(volumes)}})
    owned, bare = pod("a"), pod("b", owned=False)
    scratch = pod("c", volumes=[{"name": "v", "emptyDir": {}}])
    assert drain_blockers([owned], False, False) == []
    problems = drain_blockers([owned, bare, scratch], False, False)
    assert "not managed by a controller" in problems[0] and "d/b" in problems[0]
    assert "local storage" in problems[1] and "d/c" in problems[1]
    assert drain_blockers([owned, bare, scratch], True, True) == []


def test_global_flags_are_taken_anywhere_before_a_double_dash():
    from orchestrator.cli.main import hoist_global_flags
    assert hoist_global_flags(["get", "nodes", "--context", "lab", "-o", "wide"]) == [
        "--context", "lab", "get", "nodes", "-o", "wide"]
    assert hoist_global_flags(["--config=/c", "get", "po", "--server=https://x"]) == [
        "--server=https://x", "--config=/c", "get", "po"]
    assert hoist_global_flags(["exec", "p", "--", "cmd", "--token", "t"]) == [
        "exec", "p", "--", "cmd", "--token", "t"]


@pytest.mark.parametrize("word,kind", [
    ("deploy", "Deployment"), ("deployment.apps", "Deployment"),
    ("deployments.v1.apps", "Deployment"), ("pods", "Pod"), ("pods.v1", "Pod"),
    ("rs.apps", "ReplicaSet"), ("leases.coordination.k8s.io", "Lease")])
def test_resource_types_in_kubectls_qualified_forms(word, kind):
    from orchestrator.cli.resources import resource_type
    assert resource_type(word).kind == kind


@pytest.mark.parametrize("word", ["deployment.batch", "pods.apps", "deploy.v2.apps"])
def test_a_qualified_resource_type_of_the_wrong_group_is_refused(word):
    from orchestrator.cli.resources import UsageError, resource_type
    with pytest.raises(UsageError):
        resource_type(word)


def test_get_dash_o_name_output_is_accepted_by_scale(tmp_path):
    from orchestrator.cli.resources import one
    rt, name = one(("deployment.apps/web",))
    assert (rt.kind, name) == ("Deployment", "web")


@pytest.mark.parametrize("chunks,lines", [
    ([b'{"a":1}\n{"b":2}\n'], [b'{"a":1}', b'{"b":2}']),
    ([b'{"a"', b':1}\n{', b'"b":2}\n'], [b'{"a":1}', b'{"b":2}']),
    ([b"x\n\n", b"y"], [b"x", b"", b"y"]),
    ([], []),
], ids=["whole", "split", "empty-line-and-tail", "nothing"])
def test_stream_lines_are_split_whatever_the_chunks(chunks, lines):
    from kube.client import split_lines
    assert list(split_lines(iter(chunks))) == lines


def test_a_large_event_in_tiny_chunks_comes_out_whole():
    """A 1 MB event in 1-byte chunks (the old iter_lines(chunk_size=1) needed minutes for it;
    this runs in about a second, its cost linear in the stream)."""
    from kube.client import split_lines
    event = b"x" * 1_000_000 + b"\n"
    assert list(split_lines(event[i:i + 1] for i in range(len(event)))) == [event[:-1]]


@pytest.mark.parametrize("text, seconds", [("300", 300), ("2.5", 2.5), ("5m", 300),
                                           ("1h30m", 5400), ("250ms", 0.25), ("1m30.5s", 90.5)])
def test_durations_read_as_kubectl_reads_them(text, seconds):
    from kube.durations import parse_duration
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5 m", "m5", "5x", "1h-2m"])
def test_bad_durations_are_named(text):
    from kube.durations import parse_duration
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)
