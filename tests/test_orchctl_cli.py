"""orchctl's commands through click's runner against a real API server over HTTPS on the test
etcd (no controllers: what is checked is what the CLI sends and prints, against the API)."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from orchestrator.cli import config
from orchestrator.cli.apply import LAST_APPLIED
from orchestrator.cli.main import cli

WEB = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: orch/web:1
        ports:
        - {name: http, containerPort: 80}
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: http}
"""


@pytest.fixture
def conf(api, tmp_path) -> Path:
    path = tmp_path / "config"
    c = config.empty()
    (tmp_path / "admin.token").write_text(api.tokens["admin"])
    config.set_context(c, "test", api.url, str(api.paths["ca.crt"]),
                       str(tmp_path / "admin.token"))
    config.save(path, c)
    return path


@pytest.fixture
def ns(api) -> str:
    name = f"t{secrets.token_hex(4)}"
    r = api.session().post(f"{api.url}/api/v1/namespaces", json={
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    assert r.status_code == 201
    return name


@pytest.fixture
def orchctl(conf):
    runner = CliRunner()

    def run(*args: str, input: str | None = None, expect: int = 0):
        result = runner.invoke(cli, ["--config", str(conf), *args], input=input)
        assert result.exit_code == expect, (args, result.output, result.exception)
        return result

    return run


def get_json(orchctl, ns, what):
    return json.loads(orchctl("get", what, "-n", ns, "-o", "json").stdout)


def test_apply_creates_then_is_idempotent_then_configures_what_changed(orchctl, ns, tmp_path):
    manifest = tmp_path / "web.yaml"
    manifest.write_text(WEB)
    assert orchctl("apply", "-f", str(manifest), "-n", ns).stdout.splitlines() == [
        "deployment.apps/web created", "service/web created"]
    assert orchctl("apply", "-f", str(manifest), "-n", ns).stdout.splitlines() == [
        "deployment.apps/web unchanged", "service/web unchanged"]
    d = get_json(orchctl, ns, "deploy/web")
    assert json.loads(d["metadata"]["annotations"][LAST_APPLIED])["spec"]["replicas"] == 2
    svc = get_json(orchctl, ns, "svc/web")
    assert svc["spec"]["clusterIP"]  # the server's own fields stay

    manifest.write_text(WEB.replace("replicas: 2", "replicas: 4")
                        .replace("labels: {app: web}\nspec:\n  replicas", "labels: {}\nspec:\n  "
                                 "replicas", 1))
    assert orchctl("apply", "-f", str(manifest), "-n", ns).stdout.splitlines() == [
        "deployment.apps/web configured", "service/web unchanged"]
    d = get_json(orchctl, ns, "deploy/web")
    assert d["spec"]["replicas"] == 4
    assert "app" not in (d["metadata"].get("labels") or {})  # removed from the file: removed
    assert get_json(orchctl, ns, "svc/web")["spec"]["clusterIP"] == svc["spec"]["clusterIP"]


def test_apply_from_stdin_json_and_a_directory(orchctl, ns, tmp_path):
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"},
          "data": {"a": "1"}}
    assert orchctl("apply", "-n", ns, "-f", "-", input=json.dumps(cm)).stdout == \
        "configmap/settings created\n"
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "cm.yaml").write_text(yaml.safe_dump(cm))
    assert orchctl("apply", "-n", ns, "-f", str(tmp_path / "d")).stdout == \
        "configmap/settings unchanged\n"


def test_a_bad_manifest_names_file_document_object_and_field_and_the_rest_still_applies(
        orchctl, ns, tmp_path):
    manifest = tmp_path / "bad.yaml"
    manifest.write_text(WEB.replace("replicas: 2", "replicas: -1"))
    result = orchctl("apply", "-f", str(manifest), "-n", ns, expect=1)
    assert result.stdout == "service/web created\n"
    assert f"{manifest} (document 1), deployment.apps/web" in result.stderr
    assert "spec.replicas" in result.stderr and "Invalid" in result.stderr
    assert orchctl("get", "deploy", "-n", ns, "-o", "name").stdout == ""


def test_the_namespace_of_a_file_and_of_dash_n_must_agree(orchctl, ns, tmp_path):
    manifest = tmp_path / "cm.yaml"
    manifest.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: other}\n")
    result = orchctl("apply", "-f", str(manifest), "-n", ns, expect=1)
    assert "does not match" in result.stderr and str(manifest) in result.stderr


def test_get_forms_and_not_found(orchctl, ns, tmp_path):
    manifest = tmp_path / "web.yaml"
    manifest.write_text(WEB)
    orchctl("apply", "-f", str(manifest), "-n", ns)
    assert orchctl("get", "deploy,svc", "-n", ns, "-o", "name").stdout.splitlines() == [
        "deployment.apps/web", "service/web"]
    table = orchctl("get", "deploy", "-n", ns).stdout.splitlines()
    assert table[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert table[1].split()[:4] == ["web", "0/2", "0", "0"]
    wide = orchctl("get", "svc", "web", "-n", ns, "-o", "wide").stdout.splitlines()
    assert wide[0].split()[-1] == "SELECTOR" and wide[1].split()[-1] == "app=web"
    doc = yaml.safe_load(orchctl("get", "svc/web", "-n", ns, "-o", "yaml").stdout)
    assert doc["kind"] == "Service" and doc["metadata"]["namespace"] == ns
    everywhere = orchctl("get", "deploy", "-A").stdout
    assert any(line.split()[:2] == [ns, "web"] for line in everywhere.splitlines())
    missing = orchctl("get", "pod", "nope", "-n", ns, expect=1)
    assert 'Error from server (NotFound): pods "nope" not found' in missing.stderr
    assert "No resources found in" in orchctl("get", "pods", "-n", ns).stderr
    by_file = orchctl("get", "-f", str(manifest), "-n", ns, "-o", "name").stdout
    assert by_file.splitlines() == ["deployment.apps/web", "service/web"]
    # kubectl's templates: over one object, over a List, and custom columns
    assert orchctl("get", "deploy", "web", "-n", ns, "-o",
                   "jsonpath={.spec.replicas}").stdout == "2"
    names = orchctl("get", "deploy,svc", "-n", ns, "-o",
                    'jsonpath={range .items[*]}{.kind}/{.metadata.name}{"\\n"}{end}').stdout
    assert names == "Deployment/web\nService/web\n"
    columns = orchctl("get", "svc", "-n", ns, "-o",
                      "custom-columns=NAME:.metadata.name,PORT:.spec.ports[*].port,X:.nope")
    assert [r.split() for r in columns.stdout.splitlines()] == [["NAME", "PORT", "X"],
                                                                ["web", "80", "<none>"]]
    bad = orchctl("get", "svc", "-n", ns, "-o", "jsonpath={.items[", expect=2)
    assert "jsonpath" in bad.stderr


def test_label_annotate_and_scale(orchctl, ns, tmp_path):
    manifest = tmp_path / "web.yaml"
    manifest.write_text(WEB)
    orchctl("apply", "-f", str(manifest), "-n", ns)
    assert orchctl("label", "deploy", "web", "tier=front", "-n", ns).stdout == \
        "deployment.apps/web labeled\n"
    refused = orchctl("label", "deploy/web", "tier=back", "-n", ns, expect=1)
    assert "already has a value (front), and --overwrite is false" in refused.stderr
    orchctl("label", "deploy/web", "tier=back", "app-", "--overwrite", "-n", ns)
    assert get_json(orchctl, ns, "deploy/web")["metadata"]["labels"] == {"tier": "back"}
    orchctl("annotate", "svc", "web", "note=hello world", "-n", ns)
    assert get_json(orchctl, ns, "svc/web")["metadata"]["annotations"]["note"] == "hello world"
    assert orchctl("scale", "deploy/web", "--replicas=5", "-n", ns).stdout == \
        "deployment.apps/web scaled\n"
    assert get_json(orchctl, ns, "deploy/web")["spec"]["replicas"] == 5
    precondition = orchctl("scale", "deploy/web", "--replicas=1", "--current-replicas=2", "-n",
                           ns, expect=1)
    assert "expected replicas to be 2, was 5" in precondition.stderr
    # a later apply that does not mention labels leaves the ones set by hand
    orchctl("apply", "-f", str(manifest), "-n", ns)
    assert get_json(orchctl, ns, "deploy/web")["metadata"]["labels"]["tier"] == "back"


def test_set_image_and_rollout_pause_resume_restart(orchctl, ns, tmp_path):
    manifest = tmp_path / "web.yaml"
    manifest.write_text(WEB)
    orchctl("apply", "-f", str(manifest), "-n", ns)
    assert orchctl("set", "image", "deploy/web", "web=orch/web:2", "-n", ns).stdout == \
        "deployment.apps/web image updated\n"
    d = get_json(orchctl, ns, "deploy/web")
    assert d["spec"]["template"]["spec"]["containers"][0]["image"] == "orch/web:2"
    bad = orchctl("set", "image", "deploy/web", "nginx=x", "-n", ns, expect=1)
    assert 'unable to find container named "nginx"' in bad.stderr
    orchctl("rollout", "pause", "deploy/web", "-n", ns)
    assert get_json(orchctl, ns, "deploy/web")["spec"]["paused"] is True
    assert "already paused" in orchctl("rollout", "pause", "deploy/web", "-n", ns,
                                       expect=1).stderr
    orchctl("rollout", "resume", "deploy/web", "-n", ns)
    orchctl("rollout", "restart", "deploy/web", "-n", ns)
    template = get_json(orchctl, ns, "deploy/web")["spec"]["template"]
    assert "kubectl.kubernetes.io/restartedAt" in template["metadata"]["annotations"]


def test_delete_by_name_by_file_and_by_selector(orchctl, ns, tmp_path):
    manifest = tmp_path / "web.yaml"
    manifest.write_text(WEB)
    orchctl("apply", "-f", str(manifest), "-n", ns)
    for name in ("a", "b"):
        orchctl("create", "-n", ns, "-f", "-", input=json.dumps({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "labels": {"group": "x"}}}))
    assert orchctl("delete", "cm", "-l", "group=x", "-n", ns).stdout.splitlines() == [
        'configmap "a" deleted', 'configmap "b" deleted']
    assert orchctl("delete", "-f", str(manifest), "-n", ns).stdout.splitlines() == [
        'deployment.apps "web" deleted', 'service "web" deleted']
    assert orchctl("get", "all", "-n", ns, "-o", "name").stdout == ""
    gone = orchctl("delete", "svc/web", "-n", ns, expect=1)
    assert 'services "web" not found' in gone.stderr
    orchctl("delete", "svc/web", "-n", ns, "--ignore-not-found")
    cm = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}})
    orchctl("create", "-n", ns, "-f", "-", input=cm)
    again = orchctl("create", "-n", ns, "-f", "-", input=cm, expect=1)
    assert "Error from server (AlreadyExists)" in again.stderr


def test_describe_prints_the_object_and_its_events(orchctl, ns, api, tmp_path):
    manifest = tmp_path / "web.yaml"
    manifest.write_text(WEB)
    orchctl("apply", "-f", str(manifest), "-n", ns)
    d = get_json(orchctl, ns, "deploy/web")
    api.session().post(f"{api.url}/api/v1/namespaces/{ns}/events", json={
        "apiVersion": "v1", "kind": "Event", "metadata": {"name": "web.1"},
        "involvedObject": {"kind": "Deployment", "name": "web", "namespace": ns,
                           "uid": d["metadata"]["uid"]},
        "reason": "ScalingReplicaSet", "message": "Scaled up replica set web-1 to 2",
        "type": "Normal", "source": {"component": "deployment-controller"}, "count": 1})
    text = orchctl("describe", "deploy", "we", "-n", ns).stdout  # a prefix, as kubectl
    assert "Replicas:             2 desired | 0 updated" in text
    assert "ScalingReplicaSet" in text and "deployment-controller" in text
    assert LAST_APPLIED not in text


def test_errors_say_which_server_and_what_failed(orchctl, api, tmp_path, conf):
    runner = CliRunner()
    refused = runner.invoke(cli, ["--config", str(conf), "--server", "https://127.0.0.1:1",
                                  "get", "pods"])
    assert refused.exit_code == 1
    assert "cannot reach the API server at https://127.0.0.1:1: connection refused" in \
        refused.stderr
    other_ca = tmp_path / "other-ca.crt"
    other_ca.write_text(Path(api.paths["apiserver.crt"]).read_text())
    c = config.load(conf)
    c["clusters"][0]["cluster"]["certificate-authority"] = str(tmp_path / "nonexistent.crt")
    config.save(conf, c)
    broken = runner.invoke(cli, ["--config", str(conf), "get", "pods"])
    assert broken.exit_code == 1 and "error:" in broken.stderr
    readonly = runner.invoke(cli, ["--config", str(tmp_path / "none"), "get", "pods"])
    assert readonly.exit_code == 1 and "no configuration at" in readonly.stderr


def test_a_readonly_user_can_read_but_not_write(api, conf, ns):
    runner = CliRunner()
    base = ["--config", str(conf), "--token", api.tokens["readonly"]]
    assert runner.invoke(cli, base + ["get", "pods", "-n", ns]).exit_code == 0
    result = runner.invoke(cli, base + ["create", "-n", ns, "-f", "-"], input=json.dumps({
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}))
    assert result.exit_code == 1 and "Forbidden" in result.stderr


def test_config_commands(conf):
    runner = CliRunner()
    view = runner.invoke(cli, ["--config", str(conf), "config", "view"])
    assert "current-context: test" in view.stdout
    contexts = runner.invoke(cli, ["--config", str(conf), "config", "get-contexts"]).stdout
    assert contexts.splitlines()[1].split()[:2] == ["*", "test"]
    missing = runner.invoke(cli, ["--config", str(conf), "config", "use-context", "nope"])
    assert missing.exit_code == 1 and "no context 'nope'" in missing.stderr
    runner.invoke(cli, ["--config", str(conf), "config", "set-context", "--current",
                        "--namespace", "team"])
    assert config.resolve(config.load(conf), str(conf)).namespace == "team"


def test_completion_scripts_and_resource_names():
    runner = CliRunner()
    assert "_ORCHCTL_COMPLETE" in runner.invoke(cli, ["completion", "bash"]).stdout
    completed = runner.invoke(cli, [], env={"_ORCHCTL_COMPLETE": "bash_complete",
                                            "COMP_WORDS": "orchctl get dep", "COMP_CWORD": "2"},
                              prog_name="orchctl")
    assert "deployments" in completed.stdout


def test_get_watch_prints_the_list_then_each_change(api, conf, ns):
    session = api.session()
    base = f"{api.url}/api/v1/namespaces/{ns}/configmaps"
    assert session.post(base, json={"apiVersion": "v1", "kind": "ConfigMap",
                                    "metadata": {"name": "first"}}).status_code == 201
    orchctl = Path(sys.executable).parent / "orchctl"
    proc = subprocess.Popen([str(orchctl), "--config", str(conf), "get", "cm", "-w", "-n", ns],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    guard = threading.Timer(30, proc.kill)  # a missing line fails the test instead of hanging
    guard.start()
    try:
        assert proc.stdout.readline().split() == ["NAME", "DATA", "AGE"]
        assert proc.stdout.readline().split()[0] == "first"
        time.sleep(0.5)  # the watch is open from the list's version: nothing is missed anyway
        session.post(base, json={"apiVersion": "v1", "kind": "ConfigMap",
                                 "metadata": {"name": "second"}, "data": {"k": "v"}})
        session.delete(f"{base}/first")
        assert proc.stdout.readline().split()[:2] == ["second", "1"]
        assert proc.stdout.readline().split()[0] == "first"  # its deletion
    finally:
        guard.cancel()
        proc.terminate()
        proc.wait(10)


def test_patch_diff_wait_and_dry_runs(orchctl, ns, tmp_path):
    manifest = tmp_path / "web.yaml"
    manifest.write_text(WEB)
    # dry runs: the server checks and stores nothing; the client sends nothing
    assert "(server dry run)" in orchctl("apply", "-f", str(manifest), "-n", ns,
                                         "--dry-run=server").stdout
    assert "(dry run)" in orchctl("create", "-f", str(manifest), "-n", ns,
                                  "--dry-run=client").stdout
    assert orchctl("get", "deploy", "-n", ns, "-o", "name").stdout == ""
    orchctl("apply", "-f", str(manifest), "-n", ns)
    assert orchctl("diff", "-f", str(manifest), "-n", ns, expect=0).stdout == ""
    manifest.write_text(WEB.replace("replicas: 2", "replicas: 4"))
    shown = orchctl("diff", "-f", str(manifest), "-n", ns, expect=1).stdout
    assert "-  replicas: 2\n" in shown and "+  replicas: 4\n" in shown
    assert orchctl("get", "deploy", "web", "-n", ns, "-o",
                   "jsonpath={.spec.replicas}").stdout == "2"  # diff wrote nothing
    # patch: strategic (containers merged by name), JSON patch, and a dry run of one
    orchctl("patch", "deploy", "web", "-n", ns, "-p",
            '{"spec": {"template": {"spec": {"containers": [{"name": "web", '
            '"env": [{"name": "A", "value": "1"}]}]}}}}')
    orchctl("patch", "deploy/web", "-n", ns, "--type", "json", "-p",
            '[{"op": "replace", "path": "/spec/replicas", "value": 3}]')
    orchctl("patch", "deploy/web", "-n", ns, "--type", "merge", "--dry-run=server",
            "-p", '{"spec": {"replicas": 9}}')
    d = json.loads(orchctl("get", "deploy", "web", "-n", ns, "-o", "json").stdout)
    [container] = d["spec"]["template"]["spec"]["containers"]
    assert d["spec"]["replicas"] == 3 and container["env"] == [{"name": "A", "value": "1"}]
    assert container["ports"] == [{"name": "http", "containerPort": 80, "protocol": "TCP"}]
    bad = orchctl("patch", "deploy/web", "-n", ns, "--type", "json", "-p", '{"op": 1}',
                  expect=1)
    assert "list of operations" in bad.stderr
    # wait: a jsonpath value, and a timeout on a condition that never comes (no controllers)
    assert "condition met" in orchctl("wait", "deploy/web", "-n", ns,
                                      "--for=jsonpath={.spec.replicas}=3").stdout
    timed_out = orchctl("wait", "deploy/web", "-n", ns, "--for=condition=Available",
                        "--timeout", "1s", expect=1)
    assert "timed out waiting for the condition" in timed_out.stderr
    orchctl("delete", "deploy/web", "-n", ns, "--dry-run=server")
    assert orchctl("get", "deploy", "-n", ns, "-o", "name").stdout.strip() == \
        "deployment.apps/web"
    orchctl("delete", "deploy/web", "-n", ns, "--no-wait")
    assert "deleted" in orchctl("wait", "deploy/web", "-n", ns, "--for=delete",
                                "--timeout", "30s").stdout
